// SPDX-License-Identifier: MIT
/* runner.c - listener scripts: find them (cached), spawn them, bound them, judge them */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dinemicfs/actions.h"
#include "dinemicfs/log.h"
#include "dinemicfs/util.h"

extern char **environ;

#define STDERR_KEEP 4096	/* bytes of a listener's stderr kept; the rest is drained */
#define ENV_VALUE_MAX 4096	/* DINEMIC_OLD/NEW only for values up to this size */
#define QUEUE_MAX 1024		/* after-listener jobs waiting; more makes writers wait */
_Static_assert(DFS_HOOK_COUNT <= 32, "hooks fit a 32-bit mask");

static const char *const hook_names[DFS_HOOK_COUNT] = {
	"on_create",		   "on_created",
	"on_owned_created",	   "on_update",
	"on_authorized_update",	   "on_unauthorized_update",
	"on_owned_update",	   "on_updated",
	"on_authorized_updated",   "on_unauthorized_updated",
	"on_owned_updated",	   "on_delete",
	"on_authorized_delete",	   "on_unauthorized_delete",
	"on_owned_delete",	   "on_deleted",
	"on_authorized_deleted",   "on_unauthorized_deleted",
	"on_owned_deleted",	   "on_remove",
	"on_authorized_remove",	   "on_unauthorized_remove",
	"on_owned_remove",
};

const char *dfs_hook_name(enum dfs_hook h)
{
	return (unsigned)h < DFS_HOOK_COUNT ? hook_names[h] : "unknown";
}

int dfs_hook_of_filename(const char *filename)
{
	for (int h = 0; h < DFS_HOOK_COUNT; h++) {
		size_t n = strlen(hook_names[h]);
		if (strncmp(filename, hook_names[h], n) == 0 &&
		    (filename[n] == '\0' || filename[n] == '.'))
			return h;
	}
	return -ENOENT;
}

/* The hook-named files of one directory, sorted, as of its last change. */
struct listing {
	struct listing *next;
	char *path;
	bool exists;
	dev_t dev;
	ino_t ino;
	struct timespec mtime, ctime;
	char **names;
	size_t n;
};

struct job {
	struct job *next;
	enum dfs_hook hook;
	char *model, *object, *field, *signer, *mount;
	bool authorized, owned, remote, sealed, secret;
	uint8_t *old_value, *new_value;
	size_t old_len, new_len;
	bool has_old, has_new;
};

struct dfs_runner {
	char *dir;
	int timeout_ms;
	pthread_mutex_t lock;
	struct listing *listings;	/* protected by lock */

	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct job *head, **tail;	/* protected by qlock */
	size_t queued;			/* jobs in the list; protected by qlock */
	bool busy;			/* the worker runs a job; protected by qlock */
	bool stopping;			/* protected by qlock */
	pthread_t worker;
};

static void listing_clear(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	l->names = NULL;
	l->n = 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Re-reads a directory's hook-named files. Called with r->lock held. */
static void rescan(struct listing *l, const struct stat *st)
{
	listing_clear(l);
	l->exists = st != NULL;
	if (!st)
		return;
	l->dev = st->st_dev;
	l->ino = st->st_ino;
	l->mtime = st->st_mtim;
	l->ctime = st->st_ctim;
	DIR *d = opendir(l->path);
	if (!d)
		return;
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (dfs_hook_of_filename(e->d_name) < 0)
			continue;
		if (l->n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char **v = realloc(l->names, ncap * sizeof(*v));
			if (!v)
				break;
			l->names = v;
			cap = ncap;
		}
		l->names[l->n] = strdup(e->d_name);
		if (l->names[l->n])
			l->n++;
	}
	closedir(d);
	if (l->n > 1)
		qsort(l->names, l->n, sizeof(*l->names), cmp_names);
}

static bool same_stamp(const struct listing *l, const struct stat *st)
{
	return l->exists && l->dev == st->st_dev && l->ino == st->st_ino &&
	       l->mtime.tv_sec == st->st_mtim.tv_sec && l->mtime.tv_nsec == st->st_mtim.tv_nsec &&
	       l->ctime.tv_sec == st->st_ctim.tv_sec && l->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/*
 * Finds path's listing, re-reading it when the directory changed (one
 * stat(2) when it did not). Called with r->lock held; NULL on ENOMEM.
 */
static struct listing *listing_of(struct dfs_runner *r, const char *path)
{
	struct stat st;
	bool present = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
	struct listing *l = r->listings;

	while (l && strcmp(l->path, path) != 0)
		l = l->next;
	if (!l) {
		l = calloc(1, sizeof(*l));
		if (l)
			l->path = strdup(path);
		if (!l || !l->path) {
			free(l);
			return NULL;
		}
		l->next = r->listings;
		r->listings = l;
		rescan(l, present ? &st : NULL);
	} else if (!present) {
		if (l->exists)
			rescan(l, NULL);
	} else if (!same_stamp(l, &st)) {
		rescan(l, &st);
	}
	return l;
}

/* Appends to *out the full paths of path's listeners for hook, in name order. */
static int collect(struct dfs_runner *r, const char *path, enum dfs_hook hook, char ***out,
		   size_t *n)
{
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	struct listing *l = listing_of(r, path);
	if (!l)
		rc = -ENOMEM;
	for (size_t i = 0; l && i < l->n && rc == 0; i++) {
		if (dfs_hook_of_filename(l->names[i]) != (int)hook)
			continue;
		char **v = realloc(*out, (*n + 1) * sizeof(*v));
		if (!v) {
			rc = -ENOMEM;
			break;
		}
		*out = v;
		if (asprintf(&v[*n], "%s/%s", path, l->names[i]) < 0) {
			rc = -ENOMEM;
			break;
		}
		(*n)++;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* True when path holds a listener for any hook in mask (bit h for hook h). */
static bool dir_has_any(struct dfs_runner *r, const char *path, uint32_t mask)
{
	bool found = false;

	pthread_mutex_lock(&r->lock);
	struct listing *l = listing_of(r, path);
	if (!l)
		found = true; /* cannot tell: let the caller run (and fail closed) */
	for (size_t i = 0; l && i < l->n && !found; i++) {
		int h = dfs_hook_of_filename(l->names[i]);
		found = h >= 0 && (mask & (1u << h));
	}
	pthread_mutex_unlock(&r->lock);
	return found;
}

/* The common directory, then the model's. */
static bool has_any(struct dfs_runner *r, uint32_t mask, const char *model)
{
	char *mdir;

	if (dir_has_any(r, r->dir, mask))
		return true;
	if (!model || !*model)
		return false;
	if (asprintf(&mdir, "%s/%s", r->dir, model) < 0)
		return true;
	bool found = dir_has_any(r, mdir, mask);
	free(mdir);
	return found;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Every listener of hook for model: the common directory's, then the model's. */
static int listeners(struct dfs_runner *r, enum dfs_hook hook, const char *model, char ***out,
		     size_t *n)
{
	char *mdir = NULL;

	*out = NULL;
	*n = 0;
	int rc = collect(r, r->dir, hook, out, n);
	if (rc == 0 && model && *model) {
		if (asprintf(&mdir, "%s/%s", r->dir, model) < 0)
			return -ENOMEM;
		rc = collect(r, mdir, hook, out, n);
		free(mdir);
	}
	if (rc < 0) {
		free_list(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

bool dfs_runner_has(struct dfs_runner *r, enum dfs_hook hook, const char *model)
{
	return has_any(r, 1u << hook, model);
}

/* ---- running one listener ------------------------------------------------------ */

static int add_env(char ***env, size_t *n, const char *name, const char *value)
{
	char **v = realloc(*env, (*n + 2) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	*env = v;
	if (asprintf(&v[*n], "%s=%s", name, value ? value : "") < 0)
		return -ENOMEM;
	v[++*n] = NULL;
	return 0;
}

static void add_value_env(char ***env, size_t *n, const char *name, const uint8_t *p, size_t len)
{
	/* Only short values without NUL bytes fit an environment variable. */
	if (!p || len > ENV_VALUE_MAX || memchr(p, '\0', len))
		return;
	char *s = strndup((const char *)p, len);
	if (s)
		add_env(env, n, name, s);
	free(s);
}

static char **build_env(enum dfs_hook hook, const struct dfs_action_event *ev)
{
	char **env = NULL;
	size_t n = 0;

	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, "DINEMIC_", 8) == 0)
			continue;
		char **v = realloc(env, (n + 2) * sizeof(*v));
		if (!v)
			goto fail;
		env = v;
		env[n] = strdup(*e);
		if (!env[n])
			goto fail;
		env[++n] = NULL;
	}
	if (add_env(&env, &n, "DINEMIC_HOOK", dfs_hook_name(hook)) < 0 ||
	    add_env(&env, &n, "DINEMIC_MODEL", ev->model) < 0 ||
	    add_env(&env, &n, "DINEMIC_OBJECT", ev->object) < 0 ||
	    add_env(&env, &n, "DINEMIC_FIELD", ev->field) < 0 ||
	    add_env(&env, &n, "DINEMIC_SIGNER", ev->signer) < 0 ||
	    add_env(&env, &n, "DINEMIC_AUTHORIZED", ev->authorized ? "1" : "0") < 0 ||
	    add_env(&env, &n, "DINEMIC_OWNED", ev->owned ? "1" : "0") < 0 ||
	    add_env(&env, &n, "DINEMIC_ORIGIN", ev->remote ? "remote" : "local") < 0 ||
	    add_env(&env, &n, "DINEMIC_MOUNT", ev->mount) < 0 ||
	    (ev->sealed && add_env(&env, &n, "DINEMIC_SEALED", "1") < 0))
		goto fail;
	add_value_env(&env, &n, "DINEMIC_OLD", ev->old_value, ev->old_len);
	add_value_env(&env, &n, "DINEMIC_NEW", ev->new_value, ev->new_len);
	return env;
fail:
	free_list(env, n);
	return NULL;
}

static long ms_until(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

void dfs_listener_reason(char *why, size_t whylen, const char *err, size_t errlen, int status,
			 bool timed_out, int timeout_ms)
{
	const char *nl = memchr(err, '\n', errlen);
	size_t line = nl ? (size_t)(nl - err) : errlen;
	const char *nul = memchr(err, '\0', line);

	if (nul)
		line = (size_t)(nul - err);
	if (whylen == 0)
		return;
	if (timed_out)
		snprintf(why, whylen, "timed out after %d ms", timeout_ms);
	else if (line > 0)
		snprintf(why, whylen, "%.*s", line > 1024 ? 1024 : (int)line, err);
	else if (WIFEXITED(status))
		snprintf(why, whylen, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(why, whylen, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(why, whylen, "failed");
	/* One line for the log: no control characters from the listener. */
	for (char *c = why; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/*
 * Runs one listener with ev's value on stdin. Returns 0 when it exits 0,
 * -EPERM otherwise, with the reason in why.
 */
/*
 * A reason is logged, and logs must not hold encrypted values: every line
 * of the value (without its newline) that the reason repeats becomes "...".
 */
static void redact_one(char *why, size_t whylen, const char *v, size_t n)
{
	char out[1024];
	size_t o = 0, len = strlen(why);

	if (n == 0 || whylen > sizeof(out))
		return;
	for (size_t i = 0; i < len && o + 1 < whylen;) {
		if (i + n <= len && memcmp(why + i, v, n) == 0) {
			for (size_t k = 0; k < 3 && o + 1 < whylen; k++)
				out[o++] = '.';
			i += n;
		} else {
			out[o++] = why[i++];
		}
	}
	out[o] = '\0';
	memcpy(why, out, o + 1);
}

static void redact(char *why, size_t whylen, const uint8_t *val, size_t len)
{
	const char *p = (const char *)val, *end = p + (val ? len : 0);

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		redact_one(why, whylen, p, n);
		p += n + 1;
	}
}

static int run_one(struct dfs_runner *r, const char *path, enum dfs_hook hook,
		   const struct dfs_action_event *ev, char *why, size_t whylen)
{
	int in[2] = { -1, -1 }, err[2] = { -1, -1 };
	char errbuf[STDERR_KEEP + 1];
	size_t errlen = 0, sent = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char **env = build_env(hook, ev);
	char *argv[] = { (char *)path, NULL };
	bool timed_out = false;
	int status = 0, rc;
	pid_t pid;

	if (!env || pipe2(in, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		snprintf(why, whylen, "cannot start: %s", strerror(errno));
		rc = -EPERM;
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	posix_spawnattr_init(&attr);
	sigset_t none, deflt;
	sigemptyset(&none);
	sigemptyset(&deflt);
	sigaddset(&deflt, SIGPIPE);
	sigaddset(&deflt, SIGINT);
	sigaddset(&deflt, SIGTERM);
	sigaddset(&deflt, SIGHUP);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &deflt);
	posix_spawnattr_setpgroup(&attr, 0); /* its own group: a timeout kills all of it */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						POSIX_SPAWN_SETPGROUP);
	rc = posix_spawn(&pid, path, &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(in[0]);
	close(err[1]);
	in[0] = err[1] = -1;
	if (rc != 0) {
		snprintf(why, whylen, "%s",
			 rc == ENOENT ? "cannot run: the file or its interpreter is missing"
			 : rc == EACCES ? "cannot run: not executable"
					: strerror(rc));
		rc = -EPERM;
		goto out;
	}

	fcntl(in[1], F_SETFL, O_NONBLOCK);
	if (!ev->new_value || ev->new_len == 0) {
		close(in[1]);
		in[1] = -1;
	}
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += r->timeout_ms / 1000;
	deadline.tv_nsec += (long)(r->timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	/* Feed stdin and read stderr until stderr closes or time runs out. */
	while (err[0] >= 0) {
		long left = ms_until(&deadline);
		if (left <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd p[2] = { { err[0], POLLIN, 0 }, { in[1], POLLOUT, 0 } };
		int np = in[1] >= 0 ? 2 : 1;
		if (poll(p, (nfds_t)np, (int)left) < 0 && errno != EINTR)
			break;
		if (np == 2 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(in[1], ev->new_value + sent, ev->new_len - sent);
			if (w > 0)
				sent += (size_t)w;
			if (w < 0 && errno != EAGAIN)
				sent = ev->new_len; /* it stopped reading: fine */
			if (sent == ev->new_len) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			char tmp[4096];
			ssize_t got = read(err[0], tmp, sizeof(tmp));
			if (got <= 0) {
				close(err[0]);
				err[0] = -1;
			} else if (errlen < STDERR_KEEP) {
				size_t keep = (size_t)got < STDERR_KEEP - errlen
						      ? (size_t)got
						      : STDERR_KEEP - errlen;
				memcpy(errbuf + errlen, tmp, keep);
				errlen += keep;
			}
		}
	}
	/* stderr is closed: wait for the exit, within the same deadline. */
	while (!timed_out) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			status = 0;
			break;
		}
		if (ms_until(&deadline) <= 0) {
			timed_out = true;
			break;
		}
		struct timespec nap = { 0, 1000000 };
		nanosleep(&nap, NULL);
	}
	if (timed_out) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	errbuf[errlen] = '\0';
	if (!timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		rc = 0;
	} else {
		dfs_listener_reason(why, whylen, errbuf, errlen, status, timed_out, r->timeout_ms);
		if (ev->secret) {
			redact(why, whylen, ev->new_value, ev->new_len);
			redact(why, whylen, ev->old_value, ev->old_len);
		}
		rc = -EPERM;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	if (env) {
		size_t n = 0;
		while (env[n])
			n++;
		free_list(env, n);
	}
	return rc;
}

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

int dfs_runner_before(struct dfs_runner *r, enum dfs_hook hook, const struct dfs_action_event *ev,
		      char *why, size_t whylen)
{
	char reason[512];
	char **v;
	size_t n;
	int rc = listeners(r, hook, ev->model, &v, &n);

	if (rc < 0) {
		snprintf(why, whylen, "cannot list listeners: %s", strerror(-rc));
		return -EPERM;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = run_one(r, v[i], hook, ev, reason, sizeof(reason));
		if (rc < 0) {
			snprintf(why, whylen, "%s: %s", base(v[i]), reason);
			dfs_log(DFS_LOG_WARNING, "rejected %s %s/%s%s%s by %s: %s", dfs_hook_name(hook),
				ev->model, ev->object, ev->field ? "/" : "",
				ev->field ? ev->field : "", base(v[i]), reason);
		}
	}
	free_list(v, n);
	return rc;
}

/* ---- after-listeners --------------------------------------------------------- */

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->model);
	free(j->object);
	free(j->field);
	free(j->signer);
	free(j->mount);
	free(j->old_value);
	free(j->new_value);
	free(j);
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n + 1);

	if (c && n)
		memcpy(c, p, n);
	return c;
}

static void run_job(struct dfs_runner *r, struct job *j)
{
	struct dfs_action_event ev = {
		.model = j->model,
		.object = j->object,
		.field = j->field,
		.signer = j->signer,
		.authorized = j->authorized,
		.owned = j->owned,
		.remote = j->remote,
		.mount = j->mount,
		.old_value = j->has_old ? j->old_value : NULL,
		.old_len = j->old_len,
		.new_value = j->has_new ? j->new_value : NULL,
		.new_len = j->new_len,
		.sealed = j->sealed,
		.secret = j->secret,
	};
	char reason[512];
	char **v;
	size_t n;

	if (listeners(r, j->hook, j->model, &v, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (run_one(r, v[i], j->hook, &ev, reason, sizeof(reason)) < 0)
			dfs_log(DFS_LOG_WARNING, "listener %s for %s %s/%s%s%s failed: %s",
				base(v[i]), dfs_hook_name(j->hook), j->model, j->object,
				j->field ? "/" : "", j->field ? j->field : "", reason);
	free_list(v, n);
}

static void *worker_main(void *arg)
{
	struct dfs_runner *r = arg;

	pthread_setname_np(pthread_self(), "dfs-listen");
	pthread_mutex_lock(&r->qlock);
	for (;;) {
		while (!r->head && !r->stopping)
			pthread_cond_wait(&r->qcond, &r->qlock);
		struct job *j = r->head;
		if (!j)
			break; /* stopping, and nothing left */
		r->head = j->next;
		if (!r->head)
			r->tail = &r->head;
		r->queued--;
		r->busy = true;
		pthread_mutex_unlock(&r->qlock);
		run_job(r, j);
		job_free(j);
		pthread_mutex_lock(&r->qlock);
		r->busy = false;
		pthread_cond_broadcast(&r->qcond);
	}
	pthread_mutex_unlock(&r->qlock);
	return NULL;
}

int dfs_runner_after(struct dfs_runner *r, enum dfs_hook hook, const struct dfs_action_event *ev)
{
	if (!dfs_runner_has(r, hook, ev->model))
		return 0; /* no listener: nothing to queue */
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->hook = hook;
	j->model = strdup(ev->model ? ev->model : "");
	j->object = strdup(ev->object ? ev->object : "");
	j->field = ev->field ? strdup(ev->field) : NULL;
	j->signer = strdup(ev->signer ? ev->signer : "");
	j->mount = strdup(ev->mount ? ev->mount : "");
	j->authorized = ev->authorized;
	j->owned = ev->owned;
	j->remote = ev->remote;
	j->sealed = ev->sealed;
	j->secret = ev->secret;
	j->has_old = ev->old_value != NULL;
	j->has_new = ev->new_value != NULL;
	j->old_len = ev->old_len;
	j->new_len = ev->new_len;
	j->old_value = j->has_old ? dup_bytes(ev->old_value, ev->old_len) : NULL;
	j->new_value = j->has_new ? dup_bytes(ev->new_value, ev->new_len) : NULL;
	if (!j->model || !j->object || !j->signer || !j->mount || (ev->field && !j->field) ||
	    (j->has_old && !j->old_value) || (j->has_new && !j->new_value)) {
		job_free(j);
		return -ENOMEM;
	}
	pthread_mutex_lock(&r->qlock);
	/* Bounded: when listeners fall behind, writers wait rather than memory grow. */
	while (r->queued >= QUEUE_MAX && !r->stopping)
		pthread_cond_wait(&r->qcond, &r->qlock);
	*r->tail = j;
	r->tail = &j->next;
	r->queued++;
	pthread_cond_broadcast(&r->qcond);
	pthread_mutex_unlock(&r->qlock);
	return 0;
}

void dfs_runner_drain(struct dfs_runner *r)
{
	pthread_mutex_lock(&r->qlock);
	while (r->head || r->busy)
		pthread_cond_wait(&r->qcond, &r->qlock);
	pthread_mutex_unlock(&r->qlock);
}

struct dfs_runner *dfs_runner_new(const char *dir, int timeout_ms)
{
	struct dfs_runner *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->dir = strdup(dir);
	r->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->qlock, NULL);
	pthread_cond_init(&r->qcond, NULL);
	r->tail = &r->head;
	/* A listener that stops reading its stdin must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	int err = r->dir ? pthread_create(&r->worker, NULL, worker_main, r) : ENOMEM;
	if (err) {
		pthread_cond_destroy(&r->qcond);
		pthread_mutex_destroy(&r->qlock);
		pthread_mutex_destroy(&r->lock);
		free(r->dir);
		free(r);
		errno = err;
		return NULL;
	}
	return r;
}

void dfs_runner_free(struct dfs_runner *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->qlock);
	r->stopping = true;
	pthread_cond_broadcast(&r->qcond);
	pthread_mutex_unlock(&r->qlock);
	pthread_join(r->worker, NULL);
	while (r->listings) {
		struct listing *l = r->listings;
		r->listings = l->next;
		listing_clear(l);
		free(l->path);
		free(l);
	}
	pthread_cond_destroy(&r->qcond);
	pthread_mutex_destroy(&r->qlock);
	pthread_mutex_destroy(&r->lock);
	free(r->dir);
	free(r);
}

/* ---- changes to hooks --------------------------------------------------------- */

/* Fills hooks[] with the hooks a change runs, in order; returns how many. */
static size_t hooks_of(enum dfs_event event, bool after, bool authorized, bool owned,
		       enum dfs_hook hooks[3])
{
	static const enum dfs_hook table[4][2][4] = {
		/* plain, authorized, unauthorized, owned; -1: none */
		[DFS_EVENT_CREATE] = {
			{ DFS_HOOK_ON_CREATE, -1, -1, -1 },
			{ DFS_HOOK_ON_CREATED, -1, -1, DFS_HOOK_ON_OWNED_CREATED },
		},
		[DFS_EVENT_UPDATE] = {
			{ DFS_HOOK_ON_UPDATE, DFS_HOOK_ON_AUTHORIZED_UPDATE,
			  DFS_HOOK_ON_UNAUTHORIZED_UPDATE, DFS_HOOK_ON_OWNED_UPDATE },
			{ DFS_HOOK_ON_UPDATED, DFS_HOOK_ON_AUTHORIZED_UPDATED,
			  DFS_HOOK_ON_UNAUTHORIZED_UPDATED, DFS_HOOK_ON_OWNED_UPDATED },
		},
		[DFS_EVENT_DELETE] = {
			{ DFS_HOOK_ON_DELETE, DFS_HOOK_ON_AUTHORIZED_DELETE,
			  DFS_HOOK_ON_UNAUTHORIZED_DELETE, DFS_HOOK_ON_OWNED_DELETE },
			{ DFS_HOOK_ON_DELETED, DFS_HOOK_ON_AUTHORIZED_DELETED,
			  DFS_HOOK_ON_UNAUTHORIZED_DELETED, DFS_HOOK_ON_OWNED_DELETED },
		},
		[DFS_EVENT_REMOVE] = {
			{ DFS_HOOK_ON_REMOVE, DFS_HOOK_ON_AUTHORIZED_REMOVE,
			  DFS_HOOK_ON_UNAUTHORIZED_REMOVE, DFS_HOOK_ON_OWNED_REMOVE },
			{ -1, -1, -1, -1 },
		},
	};
	const enum dfs_hook *row = table[event][after];
	size_t n = 0;

	if ((int)row[0] >= 0)
		hooks[n++] = row[0];
	enum dfs_hook who = authorized ? row[1] : row[2];
	if ((int)who >= 0)
		hooks[n++] = who;
	if (owned && (int)row[3] >= 0)
		hooks[n++] = row[3];
	return n;
}

static void event_of(const struct dfs_change *c, const char *mount, char *signer,
		     struct dfs_action_event *ev)
{
	dfs_hex_encode(signer, c->signer.b, DFS_PUBKEY_LEN);
	*ev = (struct dfs_action_event){
		.model = c->model,
		.object = c->object,
		.field = c->field,
		.signer = signer,
		.authorized = c->authorized,
		.owned = c->owned,
		.remote = c->remote,
		.mount = mount,
		.old_value = c->old_value,
		.old_len = c->old_len,
		.new_value = c->new_value,
		.new_len = c->new_len,
		.sealed = c->sealed,
		.secret = c->secret,
	};
}

bool dfs_runner_wants(struct dfs_runner *r, enum dfs_event event, const char *model)
{
	enum dfs_hook hooks[3];
	uint32_t mask = 0;

	/* Every variant: whether a change is authorized is known later. */
	for (int after = 0; after < 2; after++) {
		for (int auth = 0; auth < 2; auth++) {
			size_t n = hooks_of(event, after, auth, true, hooks);
			for (size_t i = 0; i < n; i++)
				mask |= 1u << hooks[i];
		}
	}
	return has_any(r, mask, model);
}

int dfs_runner_judge(struct dfs_runner *r, const struct dfs_change *c, const char *mount)
{
	char signer[2 * DFS_PUBKEY_LEN + 1];
	struct dfs_action_event ev;
	enum dfs_hook hooks[3];
	char why[640];
	int rc = 0;

	event_of(c, mount, signer, &ev);
	size_t n = hooks_of(c->event, false, c->authorized, c->owned, hooks);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = dfs_runner_before(r, hooks[i], &ev, why, sizeof(why));
	return rc;
}

void dfs_runner_notify(struct dfs_runner *r, const struct dfs_change *c, const char *mount)
{
	char signer[2 * DFS_PUBKEY_LEN + 1];
	struct dfs_action_event ev;
	enum dfs_hook hooks[3];

	event_of(c, mount, signer, &ev);
	size_t n = hooks_of(c->event, true, c->authorized, c->owned, hooks);
	for (size_t i = 0; i < n; i++)
		if (dfs_runner_after(r, hooks[i], &ev) < 0)
			dfs_log(DFS_LOG_WARNING, "out of memory queueing %s", dfs_hook_name(hooks[i]));
}
