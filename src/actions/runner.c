// SPDX-License-Identifier: MIT
/* runner.c - the runner: before-listeners in the caller, after-listeners queued for a worker */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

#define FULL_LOG_MS 10000		/* a full share is logged at most this often */

struct job {
	struct job *next;
	enum dfs_hook hook;
	char *model, *object, *field, *signer, *mount;
	bool authorized, owned, remote, sealed, secret;
	uint64_t origin;
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
	dfs_value_free(j->old_value);
	dfs_value_free(j->new_value);
	free(j);
}

/* A copy of a value; an encrypted field's in secret memory (util.h). */
static uint8_t *dup_bytes(const uint8_t *p, size_t n, bool secret)
{
	uint8_t *c = secret ? dfs_secret_alloc(n + 1) : malloc(n + 1);

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

/* ---- the queue's parts: local changes', and each peer's share; under qlock ---- */

static struct share *share_find(struct dfs_runner *r, uint64_t origin)
{
	for (size_t i = 0; i < r->nshares; i++)
		if (r->shares[i].origin == origin)
			return &r->shares[i];
	return NULL;
}

/* A peer's updates filled its share, or the peers' part: counted, logged now and then. */
static void share_full(struct dfs_runner *r, uint64_t origin, const struct share *s)
{
	struct timespec ts;

	r->full++;
	r->full_unlogged++;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (r->full_logged_ms && now - r->full_logged_ms < FULL_LOG_MS)
		return;
	dfs_log(DFS_LOG_WARNING, "after-listeners fall behind: the updates of peer %016llx "
		"wait to be applied (its share: %zu jobs, %zu KiB queued; all peers': %zu jobs, "
		"%zu KiB; %llu times full since the last such line)",
		(unsigned long long)origin, s->jobs, s->bytes >> 10, r->peer_jobs,
		r->peer_bytes >> 10, (unsigned long long)r->full_unlogged);
	r->full_logged_ms = now;
	r->full_unlogged = 0;
}

static bool share_over(const struct dfs_runner *r, const struct share *s)
{
	return s->jobs >= DFS_RUNNER_QUEUE_JOBS / 4 || s->bytes >= r->cap_bytes / 4;
}

static bool peers_over(const struct dfs_runner *r)
{
	return r->peer_jobs >= DFS_RUNNER_QUEUE_JOBS / 4 * 3 || r->peer_bytes >= r->cap_bytes / 4 * 3;
}

/* Counts a job of origin's, of bytes; -ENOMEM when its share cannot be kept. */
static int share_add(struct dfs_runner *r, uint64_t origin, size_t bytes)
{
	struct share *s = share_find(r, origin);

	if (!s) {
		if (r->nshares == r->shares_cap) {
			size_t cap = r->shares_cap ? 2 * r->shares_cap : 8;
			struct share *v = realloc(r->shares, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			r->shares = v;
			r->shares_cap = cap;
		}
		s = &r->shares[r->nshares++];
		*s = (struct share){ .origin = origin };
	}
	bool was_over = share_over(r, s) || peers_over(r);
	s->jobs++;
	s->bytes += bytes;
	r->peer_jobs++;
	r->peer_bytes += bytes;
	if (!was_over && (share_over(r, s) || peers_over(r)))
		share_full(r, origin, s);
	return 0;
}

static void share_take(struct dfs_runner *r, uint64_t origin, size_t bytes)
{
	struct share *s = share_find(r, origin);

	r->peer_jobs--;
	r->peer_bytes -= bytes;
	if (!s)
		return;	/* cannot be: share_add() kept it */
	s->jobs--;
	s->bytes -= bytes;
	if (!s->jobs)
		*s = r->shares[--r->nshares];
}

/*
 * A local job of bytes waits: the local part holds jobs already, and with
 * what peers may take it would pass the queue's bounds. A local job always
 * fits when none waits, and peers never take more than three quarters.
 */
static bool local_waits(const struct dfs_runner *r, size_t bytes)
{
	size_t jobs = r->queued - r->peer_jobs, held = r->queued_bytes - r->peer_bytes;
	size_t pj = DFS_RUNNER_QUEUE_JOBS / 4 * 3, pb = r->cap_bytes / 4 * 3;

	pj = r->peer_jobs < pj ? r->peer_jobs : pj;
	pb = r->peer_bytes < pb ? r->peer_bytes : pb;
	return jobs && (jobs + pj >= DFS_RUNNER_QUEUE_JOBS || held + bytes + pb > r->cap_bytes);
}

bool dfs_runner_room(struct dfs_runner *r, uint64_t origin)
{
	if (!origin)
		return true;
	pthread_mutex_lock(&r->qlock);
	const struct share *s = share_find(r, origin);
	bool room = !peers_over(r) && (!s || !share_over(r, s));
	pthread_mutex_unlock(&r->qlock);
	return room;
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
		if (j->origin)
			share_take(r, j->origin, job_bytes(j));
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
	j->origin = ev->origin;
	j->sealed = ev->sealed;
	j->secret = ev->secret;
	j->has_old = ev->old_value != NULL;
	j->has_new = ev->new_value != NULL;
	j->old_len = ev->old_len;
	j->new_len = ev->new_len;
	j->old_value = j->has_old ? dup_bytes(ev->old_value, ev->old_len, ev->secret) : NULL;
	j->new_value = j->has_new ? dup_bytes(ev->new_value, ev->new_len, ev->secret) : NULL;
	if (!j->model || !j->object || !j->signer || !j->mount || (ev->field && !j->field) ||
	    (j->has_old && !j->old_value) || (j->has_new && !j->new_value)) {
		job_free(j);
		return -ENOMEM;
	}
	pthread_mutex_lock(&r->qlock);
	/*
	 * Bounded: when listeners fall behind, local writers wait rather than
	 * memory grow, and peers' updates wait before they are applied.
	 */
	size_t bytes = job_bytes(j);
	while (!j->origin && local_waits(r, bytes) && !r->stopping)
		pthread_cond_wait(&r->qcond, &r->qlock);
	if (j->origin && share_add(r, j->origin, bytes) < 0) {
		pthread_mutex_unlock(&r->qlock);
		job_free(j);
		return -ENOMEM;
	}
	*r->tail = j;
	r->tail = &j->next;
	r->queued++;
	r->queued_bytes += bytes;
	pthread_cond_broadcast(&r->qcond);
	pthread_mutex_unlock(&r->qlock);
	return 0;
}

void dfs_runner_set_queue(struct dfs_runner *r, size_t bytes)
{
	pthread_mutex_lock(&r->qlock);
	r->cap_bytes = bytes;
	pthread_mutex_unlock(&r->qlock);
}

void dfs_runner_get_stats(struct dfs_runner *r, struct dfs_runner_stats *out)
{
	pthread_mutex_lock(&r->qlock);
	out->jobs = r->queued;
	out->bytes = r->queued_bytes;
	out->full = r->full;
	pthread_mutex_unlock(&r->qlock);
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
	r->cap_bytes = DFS_RUNNER_QUEUE_BYTES;
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
	free(r->shares);
	free(r->dir);
	free(r);
}

