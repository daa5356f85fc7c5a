/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the files of src/actions share: the runner's state.
 *
 * struct dfs_runner is the opaque runner of actions.h. It owns dir, its
 * listings and its queued jobs, and one worker thread that runs the
 * after-listeners; dfs_runner_free() stops the worker before freeing.
 *
 * Two locks, never held together: lock guards the listing cache
 * (listing.c), qlock the after-queue (runner.c). Listeners run with
 * neither held, so a slow listener never blocks a lookup.
 *
 * The files call downwards only. listing.c (hook names, cached
 * directories) and redact.c (values out of reasons) call no other file of
 * the folder; spawn.c (one listener process) calls redact.c; runner.c
 * calls listing.c and spawn.c; hooks.c maps a database change to hooks and
 * calls runner.c and listing.c.
 */
#ifndef DINEMICFS_ACTIONS_INTERNAL_H
#define DINEMICFS_ACTIONS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <time.h>

#include "dinemicfs/actions.h"

_Static_assert(DFS_HOOK_COUNT <= 32, "hooks fit a 32-bit mask");

/* The hook-named files of one directory, sorted, as of its last change. */
struct listing {
	struct listing *next;
	char *path;
	bool exists;
	dev_t dev;
	ino_t ino;
	struct timespec mtime, ctime;
	int wd;		/* its inotify watch, -1 for none */
	bool stale;	/* inotify saw a change since it was read */
	char **names;
	size_t n;
};

struct job;

/* The after-listener jobs one peer's updates queued (runner.c). */
struct share {
	uint64_t origin;		/* struct dfs_action_event.origin; never 0 */
	size_t jobs, bytes;
};

struct dfs_runner {
	char *dir;
	int timeout_ms;
	char **base_env;		/* the daemon's environment, less DINEMIC_* */
	size_t nbase_env;
	pthread_mutex_t lock;
	struct listing *listings;	/* protected by lock */
	int inotify_fd;			/* -1 for none; protected by lock */

	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct job *head, **tail;	/* protected by qlock */
	size_t queued;			/* jobs in the list; protected by qlock */
	size_t queued_bytes;		/* the values they copy; protected by qlock */
	size_t cap_bytes;		/* dfs_runner_set_queue(); protected by qlock */
	size_t peer_jobs, peer_bytes;	/* of them, peers' (origin not 0); protected by qlock */
	struct share *shares;		/* each peer's with jobs queued; protected by qlock */
	size_t nshares, shares_cap;	/* protected by qlock */
	uint64_t full;			/* times a share or the peers' part filled; qlock */
	uint64_t full_unlogged;		/* of them, not logged yet; protected by qlock */
	uint64_t full_logged_ms;	/* when the last was logged; protected by qlock */
	bool busy;			/* the worker runs a job; protected by qlock */
	bool stopping;			/* protected by qlock */
	pthread_t worker;
};

/* Frees n malloc'ed strings and the array that holds them. */
static inline void runner_free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* listing.c */

/*
 * Every listener of hook for model: the common directory's, then the
 * model's, as malloc'ed full paths in name order (free them with
 * runner_free_list). 0 or -ENOMEM.
 */
int runner_listeners(struct dfs_runner *r, enum dfs_hook hook, const char *model, char ***out,
		     size_t *n);
/* True when the common directory or model's holds a listener for any hook in mask. */
bool runner_has_any(struct dfs_runner *r, uint32_t mask, const char *model);
/* Starts watching for changes of listings: the descriptor, or -1 (then stat(2) tells). */
int runner_watch_init(struct dfs_runner *r);
/* Frees every cached listing and the watches. The caller alone uses r. */
void runner_listings_free(struct dfs_runner *r);

/* redact.c */

/* The longest reason runner_redact() works through; a longer one is withheld. */
#define RUNNER_REASON_MAX 1024
/*
 * Replaces whatever the reason why repeats of the value val (n bytes) with
 * "...": any 8 bytes of it in a row and what adjoins them, and any of its
 * lines shorter than that, compared as the reason shows bytes (control
 * bytes as '?'). Fails closed: without memory, the reason is withheld.
 */
void runner_redact(char *why, size_t whylen, const uint8_t *val, size_t n);

/* runner.c */

/*
 * A dry run of hook's listeners for ev (actions.h, dfs_runner_dry()): each
 * is asked in order and its answer given to fn, until one rejects
 * (*rejected turns true); from then on they are only named.
 */
void runner_dry_hook(struct dfs_runner *r, enum dfs_hook hook, const struct dfs_action_event *ev,
		     dfs_answer_fn fn, void *arg, bool *rejected);

/* spawn.c */

/* Copies the daemon's environment for listeners (once): 0 or -ENOMEM. */
int runner_env_init(struct dfs_runner *r);
/* Frees that copy; harmless when none was made. */
void runner_env_free(struct dfs_runner *r);

/*
 * Runs one listener with ev's value on stdin, told hook_name, within
 * r->timeout_ms. Returns 0 when it exits 0, -EPERM otherwise, with the
 * reason in why. In a dry run, an accepting listener's first line of
 * stderr is in why too ("" when it wrote none).
 */
int runner_run_one(struct dfs_runner *r, const char *path, const char *hook_name,
		   const struct dfs_action_event *ev, char *why, size_t whylen);

#endif
