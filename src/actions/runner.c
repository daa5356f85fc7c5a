// SPDX-License-Identifier: MIT
/* runner.c - the runner: before-listeners in the caller, after-listeners queued for a worker */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/log.h"
#include "internal.h"

#define QUEUE_MAX 1024		/* after-listener jobs waiting; more makes writers wait */
#define QUEUE_BYTES_MAX (32u << 20)	/* and the bytes of values they copy */

struct job {
	struct job *next;
	enum dfs_hook hook;
	char *model, *object, *field, *signer, *mount;
	bool authorized, owned, remote, sealed, secret;
	uint8_t *old_value, *new_value;
	size_t old_len, new_len;
	bool has_old, has_new;
};

/* The bytes of values a job copies, as the queue counts them. */
static size_t job_bytes(const struct job *j)
{
	return (j->has_old ? j->old_len : 0) + (j->has_new ? j->new_len : 0);
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
	int rc = runner_listeners(r, hook, ev->model, &v, &n);

	if (rc < 0) {
		snprintf(why, whylen, "cannot list listeners: %s", strerror(-rc));
		return -EPERM;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = runner_run_one(r, v[i], dfs_hook_name(hook), ev, reason, sizeof(reason));
		if (rc < 0) {
			snprintf(why, whylen, "%s: %s", base(v[i]), reason);
			dfs_log(DFS_LOG_WARNING, "rejected %s %s/%s%s%s by %s: %s", dfs_hook_name(hook),
				ev->model, ev->object, ev->field ? "/" : "",
				ev->field ? ev->field : "", base(v[i]), reason);
		}
	}
	runner_free_list(v, n);
	return rc;
}

/* A listener's path under the runner's directory, as a dry run names it. */
static const char *under(const struct dfs_runner *r, const char *path)
{
	size_t n = strlen(r->dir);

	if (strncmp(path, r->dir, n) == 0 && path[n] == '/')
		return path + n + 1;
	return base(path);
}

void runner_dry_hook(struct dfs_runner *r, enum dfs_hook hook, const struct dfs_action_event *ev,
		     dfs_answer_fn fn, void *arg, bool *rejected)
{
	struct dfs_answer a = { .hook = dfs_hook_name(hook) };
	char reason[512];
	char **v;
	size_t n;
	int rc = runner_listeners(r, hook, ev->model, &v, &n);

	if (rc < 0) {
		/* As dfs_runner_before(): a hook whose listeners cannot be listed rejects. */
		snprintf(reason, sizeof(reason), "cannot list listeners: %s", strerror(-rc));
		a.listener = "-";
		a.verdict = *rejected ? DFS_VERDICT_SKIP : DFS_VERDICT_REJECT;
		a.reason = *rejected ? "" : reason;
		*rejected = true;
		fn(arg, &a);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		a.listener = under(r, v[i]);
		a.verdict = DFS_VERDICT_SKIP;
		a.reason = "";
		if (!*rejected) {
			reason[0] = '\0';
			rc = runner_run_one(r, v[i], a.hook, ev, reason, sizeof(reason));
			a.verdict = rc < 0 ? DFS_VERDICT_REJECT : DFS_VERDICT_ACCEPT;
			a.reason = reason;
			*rejected = rc < 0;
		}
		fn(arg, &a);
	}
	runner_free_list(v, n);
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

	if (runner_listeners(r, j->hook, j->model, &v, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (runner_run_one(r, v[i], dfs_hook_name(j->hook), &ev, reason,
				   sizeof(reason)) < 0)
			dfs_log(DFS_LOG_WARNING, "listener %s for %s %s/%s%s%s failed: %s",
				base(v[i]), dfs_hook_name(j->hook), j->model, j->object,
				j->field ? "/" : "", j->field ? j->field : "", reason);
	runner_free_list(v, n);
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
		r->queued_bytes -= job_bytes(j);
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
	/*
	 * Bounded in jobs and bytes (one job always fits an empty queue): when
	 * listeners fall behind, writers wait rather than memory grow.
	 */
	size_t bytes = job_bytes(j);
	while ((r->queued >= QUEUE_MAX ||
		(r->queued && r->queued_bytes + bytes > QUEUE_BYTES_MAX)) && !r->stopping)
		pthread_cond_wait(&r->qcond, &r->qlock);
	*r->tail = j;
	r->tail = &j->next;
	r->queued++;
	r->queued_bytes += bytes;
	pthread_cond_broadcast(&r->qcond);
	pthread_mutex_unlock(&r->qlock);
	return 0;
}

size_t dfs_runner_queued_bytes(struct dfs_runner *r)
{
	pthread_mutex_lock(&r->qlock);
	size_t n = r->queued_bytes;
	pthread_mutex_unlock(&r->qlock);
	return n;
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
	runner_watch_init(r);
	/* A listener that stops reading its stdin must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	int err = r->dir && runner_env_init(r) == 0 ? 0 : ENOMEM;
	if (!err)
		err = pthread_create(&r->worker, NULL, worker_main, r);
	if (err) {
		runner_listings_free(r);
		runner_env_free(r);
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
	runner_listings_free(r);
	runner_env_free(r);
	pthread_cond_destroy(&r->qcond);
	pthread_mutex_destroy(&r->qlock);
	pthread_mutex_destroy(&r->lock);
	free(r->dir);
	free(r);
}

