// SPDX-License-Identifier: MIT
/*
 * spawn.c - one listener process: its environment, its stdin and stderr,
 * its deadline, and the reason it gives (redacted for encrypted values).
 *
 * posix_spawn(3) starts it without copying the daemon's page tables; its
 * exit is waited for on a pidfd, in the same poll(2) as its pipes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dinemicfs/util.h"
#include "internal.h"

extern char **environ;

#define STDERR_KEEP 4096	/* bytes of a listener's stderr kept; the rest is drained */
#define ENV_VALUE_MAX DFS_CHANGE_SHOWN_MAX	/* DINEMIC_OLD/NEW only up to this size */

/*
 * The environment the daemon had when the runner was made, less any
 * DINEMIC_* variables: copied once, shared by every listener.
 */
int runner_env_init(struct dfs_runner *r)
{
	size_t n = 0;

	for (char **e = environ; e && *e; e++)
		n++;
	r->base_env = calloc(n + 1, sizeof(*r->base_env));
	if (!r->base_env)
		return -ENOMEM;
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, "DINEMIC_", 8) == 0)
			continue;
		r->base_env[r->nbase_env] = strdup(*e);
		if (!r->base_env[r->nbase_env])
			return -ENOMEM;	/* runner_env_free() frees what was copied */
		r->nbase_env++;
	}
	return 0;
}

void runner_env_free(struct dfs_runner *r)
{
	runner_free_list(r->base_env, r->nbase_env);
	r->base_env = NULL;
	r->nbase_env = 0;
}

#define EVENT_VARS 13	/* the most DINEMIC_* variables one listener gets */

/* One listener's environment: the shared part, then its own DINEMIC_* strings. */
struct env {
	char **v;
	char *own[EVENT_VARS];
	size_t n, nown;
};

static void env_add(struct env *e, bool *ok, const char *name, const char *value)
{
	char *s;

	if (!*ok || asprintf(&s, "%s=%s", name, value ? value : "") < 0) {
		*ok = false;
		return;
	}
	e->own[e->nown++] = s;
	e->v[e->n++] = s;
}

static void env_add_value(struct env *e, bool *ok, const char *name, const uint8_t *p, size_t len,
			  bool secret)
{
	/* Only short values without NUL bytes fit an environment variable. */
	if (!p || len > ENV_VALUE_MAX || memchr(p, '\0', len))
		return;
	size_t n = strlen(name) + len + 2;
	char *s = secret ? dfs_secret_alloc(n) : malloc(n);
	if (!s) {
		*ok = false;
		return;
	}
	sprintf(s, "%s=%.*s", name, (int)len, (const char *)p);
	e->own[e->nown++] = s;
	e->v[e->n++] = s;
}

static void env_free(struct env *e)
{
	for (size_t i = 0; i < e->nown; i++)
		dfs_value_free(e->own[i]);	/* DINEMIC_OLD/NEW of a secret: secret memory */
	free(e->v);
	e->v = NULL;
}

static int env_build(struct env *e, const struct dfs_runner *r, const char *hook_name,
		     const struct dfs_action_event *ev)
{
	bool ok = true;

	*e = (struct env){ .v = malloc((r->nbase_env + EVENT_VARS + 1) * sizeof(char *)) };
	if (!e->v)
		return -ENOMEM;
	memcpy(e->v, r->base_env, r->nbase_env * sizeof(char *));
	e->n = r->nbase_env;
	env_add(e, &ok, "DINEMIC_HOOK", hook_name);
	env_add(e, &ok, "DINEMIC_MODEL", ev->model);
	env_add(e, &ok, "DINEMIC_OBJECT", ev->object);
	env_add(e, &ok, "DINEMIC_FIELD", ev->field);
	env_add(e, &ok, "DINEMIC_SIGNER", ev->signer);
	env_add(e, &ok, "DINEMIC_AUTHORIZED", ev->authorized ? "1" : "0");
	env_add(e, &ok, "DINEMIC_OWNED", ev->owned ? "1" : "0");
	env_add(e, &ok, "DINEMIC_ORIGIN", ev->remote ? "remote" : "local");
	env_add(e, &ok, "DINEMIC_MOUNT", ev->mount);
	if (ev->sealed)
		env_add(e, &ok, "DINEMIC_SEALED", "1");
	if (ev->dryrun)
		env_add(e, &ok, "DINEMIC_DRYRUN", "1");
	env_add_value(e, &ok, "DINEMIC_OLD", ev->old_value, ev->old_len, ev->secret);
	env_add_value(e, &ok, "DINEMIC_NEW", ev->new_value, ev->new_len, ev->secret);
	e->v[e->n] = NULL;
	if (!ok) {
		env_free(e);
		return -ENOMEM;
	}
	return 0;
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

/* One listener process: our ends of its pipes, its pidfd, what it said and how it ended. */
struct child {
	int in, err, pidfd;	/* -1 once closed (pidfd: -1 where the kernel has none) */
	pid_t pid;
	struct timespec deadline;
	char errbuf[STDERR_KEEP + 1];
	size_t errlen, sent;
	bool exited, timed_out;
	int status;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * Starts path with env in its own process group, its stdin and stderr the
 * other ends of pipes (closed here once it has them); 0, or -EPERM with why.
 */
static int spawn_listener(struct child *c, const char *path, char **env, int in, int err,
			  char *why, size_t whylen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char *argv[] = { (char *)path, NULL };
	sigset_t none, deflt;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, err, 2);
	posix_spawnattr_init(&attr);
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
	rc = posix_spawn(&c->pid, path, &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		snprintf(why, whylen, "%s",
			 rc == ENOENT ? "cannot run: the file or its interpreter is missing"
			 : rc == EACCES ? "cannot run: not executable"
					: strerror(rc));
		return -EPERM;
	}
	/* Not reaped before we reap it, so the pid cannot be another's meanwhile. */
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	return 0;
}

/* Writes what the pipe takes of the value; closes stdin once all of it is sent. */
static void feed(struct child *c, const struct dfs_action_event *ev)
{
	while (c->in >= 0 && c->sent < ev->new_len) {
		ssize_t w = write(c->in, ev->new_value + c->sent, ev->new_len - c->sent);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w <= 0)
			break;	/* it stopped reading: fine */
		c->sent += (size_t)w;
	}
	close_fd(&c->in);
}

/*
 * Reads what stderr holds, keeping the first STDERR_KEEP bytes; closes it
 * at its end. At most 64 KiB a call, so that a flood cannot keep the
 * caller from its deadline.
 */
static void drain(struct child *c)
{
	char tmp[4096];

	for (int i = 0; i < 16 && c->err >= 0; i++) {
		ssize_t got = read(c->err, tmp, sizeof(tmp));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && errno == EAGAIN)
			return;
		if (got <= 0) {
			close_fd(&c->err);
			return;
		}
		size_t keep = STDERR_KEEP - c->errlen;
		if ((size_t)got < keep)
			keep = (size_t)got;
		memcpy(c->errbuf + c->errlen, tmp, keep);
		c->errlen += keep;
	}
}

/*
 * Feeds stdin and reads stderr until the listener exits (its pidfd turns
 * readable) or time runs out. Without a pidfd, until stderr closes.
 */
static void pump(struct child *c, const struct dfs_action_event *ev)
{
	while (!c->exited && (c->pidfd >= 0 || c->err >= 0)) {
		long left = ms_until(&c->deadline);
		if (left <= 0) {
			c->timed_out = true;
			return;
		}
		struct pollfd p[3] = { { c->pidfd, POLLIN, 0 },
				       { c->err, POLLIN, 0 },
				       { c->in, POLLOUT, 0 } };
		if (poll(p, 3, (int)left) < 0 && errno != EINTR)
			return;
		if (p[2].revents)
			feed(c, ev);
		if (p[1].revents)
			drain(c);
		c->exited = p[0].revents != 0;
	}
	/* What it wrote before it exited is all in the pipe by now. */
	drain(c);
}

/* Without a pidfd: seen exited, not reaped (the zombie keeps its group), or the deadline. */
static void wait_exit(struct child *c)
{
	for (;;) {
		siginfo_t si = { 0 };
		int w = waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT);
		if ((w == 0 && si.si_pid == c->pid) || (w < 0 && errno != EINTR))
			return;
		if (ms_until(&c->deadline) <= 0) {
			c->timed_out = true;
			return;
		}
		struct timespec nap = { 0, 1000000 };
		nanosleep(&nap, NULL);
	}
}

/*
 * Ends the listener's process group, whatever it left running there (its
 * exited leader still holds the group), then reaps the listener.
 */
static void reap(struct child *c)
{
	if (!c->exited && !c->timed_out)
		wait_exit(c);
	kill(-c->pid, SIGKILL);
	if (c->timed_out)
		kill(c->pid, SIGKILL);
	while (waitpid(c->pid, &c->status, 0) < 0) {
		if (errno != EINTR) {
			c->status = 0x7f; /* a stopped status: reported as "failed" */
			break;
		}
	}
}

/* 0 when the listener exited 0; otherwise -EPERM, with its reason in why. */
static int verdict(const struct dfs_runner *r, struct child *c, const struct dfs_action_event *ev,
		   char *why, size_t whylen)
{
	c->errbuf[c->errlen] = '\0';
	bool accepted = !c->timed_out && WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0;
	/* A dry run reports what an accepting listener said too, where it said anything. */
	bool said = c->errlen > 0 && c->errbuf[0] != '\n' && c->errbuf[0] != '\0';
	if (accepted && !(ev->dryrun && said))
		return 0;
	/* Only a reason given is worked through: an accepting listener's costs nothing. */
	dfs_listener_reason(why, whylen, c->errbuf, c->errlen, c->status, c->timed_out,
			    r->timeout_ms);
	if (ev->secret) {
		runner_redact(why, whylen, ev->new_value, ev->new_len);
		runner_redact(why, whylen, ev->old_value, ev->old_len);
	}
	return accepted ? 0 : -EPERM;
}

/* The pipes of stdin and stderr, our ends non-blocking: 0 or -errno. */
static int open_pipes(int in[2], int err[2])
{
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    fcntl(in[1], F_SETFL, O_NONBLOCK) < 0 || fcntl(err[0], F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static void set_deadline(struct timespec *t, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += ms / 1000;
	t->tv_nsec += (long)(ms % 1000) * 1000000;
	if (t->tv_nsec >= 1000000000) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000;
	}
}

/*
 * Runs one listener with ev's value on stdin. Returns 0 when it exits 0,
 * -EPERM otherwise, with the reason in why.
 */
int runner_run_one(struct dfs_runner *r, const char *path, const char *hook_name,
		   const struct dfs_action_event *ev, char *why, size_t whylen)
{
	struct child c = { .in = -1, .err = -1, .pidfd = -1 };
	int in[2] = { -1, -1 }, err[2] = { -1, -1 };
	struct env env;
	int rc = env_build(&env, r, hook_name, ev);

	if (rc == 0)
		rc = open_pipes(in, err);
	if (rc < 0) {
		snprintf(why, whylen, "cannot start: %s", strerror(-rc));
		rc = -EPERM;
		goto out;
	}
	c.in = in[1];
	c.err = err[0];
	in[1] = err[0] = -1;
	set_deadline(&c.deadline, r->timeout_ms);
	rc = spawn_listener(&c, path, env.v, in[0], err[1], why, whylen);
	close_fd(&in[0]);
	close_fd(&err[1]);
	if (rc < 0)
		goto out;
	/* A value the pipe holds goes in at once: no wait for the listener to read it. */
	if (ev->new_value)
		feed(&c, ev);
	else
		close_fd(&c.in);
	pump(&c, ev);
	reap(&c);
	rc = verdict(r, &c, ev, why, whylen);
out:
	for (int i = 0; i < 2; i++) {
		close_fd(&in[i]);
		close_fd(&err[i]);
	}
	close_fd(&c.in);
	close_fd(&c.err);
	close_fd(&c.pidfd);
	if (env.v)
		env_free(&env);
	return rc;
}
