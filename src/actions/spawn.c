// SPDX-License-Identifier: MIT
/*
 * spawn.c - one listener process: its environment, its stdin and stderr,
 * its deadline, and the reason it gives (redacted for encrypted values).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

#define STDERR_KEEP 4096	/* bytes of a listener's stderr kept; the rest is drained */
#define ENV_VALUE_MAX DFS_CHANGE_SHOWN_MAX	/* DINEMIC_OLD/NEW only up to this size */

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

static char **build_env(const char *hook_name, const struct dfs_action_event *ev)
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
	if (add_env(&env, &n, "DINEMIC_HOOK", hook_name) < 0 ||
	    add_env(&env, &n, "DINEMIC_MODEL", ev->model) < 0 ||
	    add_env(&env, &n, "DINEMIC_OBJECT", ev->object) < 0 ||
	    add_env(&env, &n, "DINEMIC_FIELD", ev->field) < 0 ||
	    add_env(&env, &n, "DINEMIC_SIGNER", ev->signer) < 0 ||
	    add_env(&env, &n, "DINEMIC_AUTHORIZED", ev->authorized ? "1" : "0") < 0 ||
	    add_env(&env, &n, "DINEMIC_OWNED", ev->owned ? "1" : "0") < 0 ||
	    add_env(&env, &n, "DINEMIC_ORIGIN", ev->remote ? "remote" : "local") < 0 ||
	    add_env(&env, &n, "DINEMIC_MOUNT", ev->mount) < 0 ||
	    (ev->sealed && add_env(&env, &n, "DINEMIC_SEALED", "1") < 0) ||
	    (ev->dryrun && add_env(&env, &n, "DINEMIC_DRYRUN", "1") < 0))
		goto fail;
	add_value_env(&env, &n, "DINEMIC_OLD", ev->old_value, ev->old_len);
	add_value_env(&env, &n, "DINEMIC_NEW", ev->new_value, ev->new_len);
	return env;
fail:
	runner_free_list(env, n);
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

/* One listener process: its pipes, its deadline, what it said and how it ended. */
struct child {
	int in[2], err[2];
	pid_t pid;
	struct timespec deadline;
	char errbuf[STDERR_KEEP + 1];
	size_t errlen, sent;
	bool timed_out;
	int status;
};

/* Starts path with env in its own process group; 0, or -EPERM with why. */
static int spawn_listener(struct child *c, const char *path, char **env, char *why,
			  size_t whylen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char *argv[] = { (char *)path, NULL };
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, c->in[0], 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, c->err[1], 2);
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
	rc = posix_spawn(&c->pid, path, &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(c->in[0]);
	close(c->err[1]);
	c->in[0] = c->err[1] = -1;
	if (rc != 0) {
		snprintf(why, whylen, "%s",
			 rc == ENOENT ? "cannot run: the file or its interpreter is missing"
			 : rc == EACCES ? "cannot run: not executable"
					: strerror(rc));
		return -EPERM;
	}
	return 0;
}

/* Feed stdin and read stderr until stderr closes or time runs out. */
static void pump(struct child *c, const struct dfs_action_event *ev)
{
	while (c->err[0] >= 0) {
		long left = ms_until(&c->deadline);
		if (left <= 0) {
			c->timed_out = true;
			break;
		}
		struct pollfd p[2] = { { c->err[0], POLLIN, 0 }, { c->in[1], POLLOUT, 0 } };
		int np = c->in[1] >= 0 ? 2 : 1;
		if (poll(p, (nfds_t)np, (int)left) < 0 && errno != EINTR)
			break;
		if (np == 2 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(c->in[1], ev->new_value + c->sent, ev->new_len - c->sent);
			if (w > 0)
				c->sent += (size_t)w;
			if (w < 0 && errno != EAGAIN)
				c->sent = ev->new_len; /* it stopped reading: fine */
			if (c->sent == ev->new_len) {
				close(c->in[1]);
				c->in[1] = -1;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			char tmp[4096];
			ssize_t got = read(c->err[0], tmp, sizeof(tmp));
			if (got <= 0) {
				close(c->err[0]);
				c->err[0] = -1;
			} else if (c->errlen < STDERR_KEEP) {
				size_t keep = (size_t)got < STDERR_KEEP - c->errlen
						      ? (size_t)got
						      : STDERR_KEEP - c->errlen;
				memcpy(c->errbuf + c->errlen, tmp, keep);
				c->errlen += keep;
			}
		}
	}
}

/*
 * stderr is closed: wait for the exit, within the same deadline; then end
 * the listener's process group, whatever it left in the background.
 */
static void reap_by(struct child *c)
{
	while (!c->timed_out) {
		siginfo_t si = { 0 };
		/* Seen, not reaped: the zombie keeps its pid, so the group is still its own. */
		int w = waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT);
		if (w == 0 && si.si_pid == c->pid) {
			/* What the listener left running in its group ends with it. */
			kill(-c->pid, SIGKILL);
			while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR)
				;
			break;
		}
		if (w < 0 && errno != EINTR) {
			c->status = 0;
			break;
		}
		if (ms_until(&c->deadline) <= 0) {
			c->timed_out = true;
			break;
		}
		struct timespec nap = { 0, 1000000 };
		nanosleep(&nap, NULL);
	}
	if (c->timed_out) {
		kill(-c->pid, SIGKILL);
		kill(c->pid, SIGKILL);
		while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR)
			;
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
	dfs_listener_reason(why, whylen, c->errbuf, c->errlen, c->status, c->timed_out,
			    r->timeout_ms);
	if (ev->secret) {
		runner_redact(why, whylen, ev->new_value, ev->new_len);
		runner_redact(why, whylen, ev->old_value, ev->old_len);
	}
	return accepted ? 0 : -EPERM;
}

/*
 * Runs one listener with ev's value on stdin. Returns 0 when it exits 0,
 * -EPERM otherwise, with the reason in why.
 */
int runner_run_one(struct dfs_runner *r, const char *path, const char *hook_name,
		   const struct dfs_action_event *ev, char *why, size_t whylen)
{
	struct child c = { .in = { -1, -1 }, .err = { -1, -1 } };
	char **env = build_env(hook_name, ev);
	int rc;

	if (!env || pipe2(c.in, O_CLOEXEC) < 0 || pipe2(c.err, O_CLOEXEC) < 0) {
		snprintf(why, whylen, "cannot start: %s", strerror(errno));
		rc = -EPERM;
		goto out;
	}
	rc = spawn_listener(&c, path, env, why, whylen);
	if (rc < 0)
		goto out;

	fcntl(c.in[1], F_SETFL, O_NONBLOCK);
	if (!ev->new_value || ev->new_len == 0) {
		close(c.in[1]);
		c.in[1] = -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &c.deadline);
	c.deadline.tv_sec += r->timeout_ms / 1000;
	c.deadline.tv_nsec += (long)(r->timeout_ms % 1000) * 1000000;
	if (c.deadline.tv_nsec >= 1000000000) {
		c.deadline.tv_sec++;
		c.deadline.tv_nsec -= 1000000000;
	}
	pump(&c, ev);
	reap_by(&c);
	rc = verdict(r, &c, ev, why, whylen);
out:
	for (int i = 0; i < 2; i++) {
		if (c.in[i] >= 0)
			close(c.in[i]);
		if (c.err[i] >= 0)
			close(c.err[i]);
	}
	if (env) {
		size_t n = 0;
		while (env[n])
			n++;
		runner_free_list(env, n);
	}
	return rc;
}
