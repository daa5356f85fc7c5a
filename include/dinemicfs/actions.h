/* SPDX-License-Identifier: MIT */
/*
 * actions.h - listener scripts: find them, run them, judge their exit.
 *
 * A listener is an executable file in ACTIONS_DIR (every model) or
 * ACTIONS_DIR/MODEL (one model) named after a hook, optionally followed by
 * '.' and any suffix ("on_update.10-quota"). For one hook the listeners of
 * ACTIONS_DIR run first, then those of ACTIONS_DIR/MODEL, each set in name
 * order. A file named like a hook that cannot be executed rejects (fail
 * closed); other files are ignored.
 *
 * A listener gets the new value on stdin and DINEMIC_* variables in its
 * environment; exit 0 accepts, anything else (a crash, a timeout) rejects,
 * and the first line of its stderr is the reason. Its stdout is discarded
 * and its stderr read up to a bound, so a flood cannot exhaust memory.
 *
 * Directory listings are cached and re-read only when inotify reports a
 * change of their names (where a directory cannot be watched: when its
 * mtime changes), so a hook without listeners costs one read(2) and no fork.
 *
 * Threading: every function may be called from any thread; listeners of
 * concurrent changes run concurrently.
 */
#ifndef DINEMICFS_ACTIONS_H
#define DINEMICFS_ACTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dinemicfs/change.h"

enum dfs_hook {
	DFS_HOOK_ON_CREATE,
	DFS_HOOK_ON_CREATED,
	DFS_HOOK_ON_OWNED_CREATED,
	DFS_HOOK_ON_UPDATE,
	DFS_HOOK_ON_AUTHORIZED_UPDATE,
	DFS_HOOK_ON_UNAUTHORIZED_UPDATE,
	DFS_HOOK_ON_OWNED_UPDATE,
	DFS_HOOK_ON_UPDATED,
	DFS_HOOK_ON_AUTHORIZED_UPDATED,
	DFS_HOOK_ON_UNAUTHORIZED_UPDATED,
	DFS_HOOK_ON_OWNED_UPDATED,
	DFS_HOOK_ON_DELETE,
	DFS_HOOK_ON_AUTHORIZED_DELETE,
	DFS_HOOK_ON_UNAUTHORIZED_DELETE,
	DFS_HOOK_ON_OWNED_DELETE,
	DFS_HOOK_ON_DELETED,
	DFS_HOOK_ON_AUTHORIZED_DELETED,
	DFS_HOOK_ON_UNAUTHORIZED_DELETED,
	DFS_HOOK_ON_OWNED_DELETED,
	DFS_HOOK_ON_REMOVE,
	DFS_HOOK_ON_AUTHORIZED_REMOVE,
	DFS_HOOK_ON_UNAUTHORIZED_REMOVE,
	DFS_HOOK_ON_OWNED_REMOVE,
	DFS_HOOK_COUNT
};

/** The hook's file name ("on_update"). */
const char *dfs_hook_name(enum dfs_hook h);

/**
 * Parses a listener's file name: a hook name alone or followed by '.' and a
 * suffix. Returns the hook, or -ENOENT for a name that is not a listener's.
 */
int dfs_hook_of_filename(const char *filename);

/* What a listener is told. Pointers are borrowed for the call. */
struct dfs_action_event {
	const char *model;
	const char *object;
	const char *field;		/* NULL for object events */
	const char *signer;		/* hex public key */
	bool authorized;
	bool owned;
	bool remote;
	uint64_t origin;		/* the peer that brought a remote change; 0 local */
	const char *mount;
	const uint8_t *old_value;	/* NULL when there is none */
	size_t old_len;
	const uint8_t *new_value;	/* NULL when there is none */
	size_t new_len;
	bool sealed;			/* encrypted and not readable here: DINEMIC_SEALED=1 */
	bool secret;			/* encrypted: reasons must not repeat the values */
	bool dryrun;			/* a dry run: DINEMIC_DRYRUN=1 */
};

struct dfs_runner;

/**
 * Makes a runner for listeners under dir (which need not exist yet),
 * killing a listener after timeout_ms. Borrows nothing. NULL with errno.
 */
struct dfs_runner *dfs_runner_new(const char *dir, int timeout_ms);
/** Waits for queued after-listeners, then frees. Accepts NULL. */
void dfs_runner_free(struct dfs_runner *r);

/**
 * Runs the before-listeners of hook for ev, in order, until one rejects.
 * Returns 0 when all accept (or there are none), or -EPERM after writing
 * "LISTENER: REASON" into why (whylen bytes) and logging it.
 */
int dfs_runner_before(struct dfs_runner *r, enum dfs_hook hook, const struct dfs_action_event *ev,
		      char *why, size_t whylen);

/*
 * The after-listeners' queue holds at most DFS_RUNNER_QUEUE_JOBS jobs and
 * the bytes dfs_runner_set_queue() gives (DFS_RUNNER_QUEUE_BYTES by
 * default) of the values they copy. Peers' updates (origin not 0) may
 * take three quarters of it, one peer's a quarter; past that, the peer's
 * updates wait to be applied (dfs_runner_room()), and local writers,
 * whose part no peer takes, go on.
 */
#define DFS_RUNNER_QUEUE_JOBS 1024
#define DFS_RUNNER_QUEUE_BYTES (32u << 20)
#define DFS_RUNNER_QUEUE_MIN (1u << 20)
#define DFS_RUNNER_QUEUE_MAX (1024u << 20)

/** Sets the bytes the after-listeners' queue holds; call before any job. */
void dfs_runner_set_queue(struct dfs_runner *r, size_t bytes);

/**
 * Queues the after-listeners of hook for ev; a worker thread runs them in
 * the order queued and logs failures. A local change (ev->origin 0) waits
 * while the local part of the queue is full; a peer's is always queued:
 * its applier asks dfs_runner_room() first. Copies ev. Returns 0 or
 * -ENOMEM.
 */
int dfs_runner_after(struct dfs_runner *r, enum dfs_hook hook, const struct dfs_action_event *ev);

/**
 * Whether the peer numbered origin may have more of its updates applied:
 * its share and the peers' part of the queue are not full. Always true
 * for 0 (local changes wait in dfs_runner_after()).
 */
bool dfs_runner_room(struct dfs_runner *r, uint64_t origin);

/** Waits until every queued after-listener has run. */
void dfs_runner_drain(struct dfs_runner *r);
/**
 * Bytes of values copied by after-listener jobs waiting to run: at most
 * the queue's bytes plus what one turn of a peer's updates queued.
 */
size_t dfs_runner_queued_bytes(struct dfs_runner *r);

struct dfs_runner_stats {
	uint64_t jobs, bytes;		/* after-listener jobs queued now, their values' bytes */
	uint64_t full;			/* times a peer's share or the peers' part filled */
};
void dfs_runner_get_stats(struct dfs_runner *r, struct dfs_runner_stats *out);

/**
 * The reason a listener gave: the first line of what it wrote to stderr
 * (err, errlen bytes, not NUL-terminated), at most 1 KiB, control
 * characters replaced; or how it ended (status from waitpid(2), or a
 * timeout). Writes a NUL-terminated line into why.
 */
void dfs_listener_reason(char *why, size_t whylen, const char *err, size_t errlen, int status,
			 bool timed_out, int timeout_ms);

/** True when hook has at least one listener for model (a cached lookup). */
bool dfs_runner_has(struct dfs_runner *r, enum dfs_hook hook, const char *model);

/*
 * A database change, mapped to the hook table of DESIGN.md: before a
 * change run its plain hook, then the authorized or the unauthorized one,
 * then the owned one where this node owns the object; after it, the same
 * in the past tense (a create tells on_created and on_owned_created; a
 * remove tells nobody).
 */

/** True when any hook of event has a listener for model. */
bool dfs_runner_wants(struct dfs_runner *r, enum dfs_event event, const char *model);
/**
 * Runs the before-hooks of c in order; 0, or -EPERM at the first rejection,
 * with "LISTENER: REASON" in why (whylen bytes) when why is not NULL.
 */
int dfs_runner_judge(struct dfs_runner *r, const struct dfs_change *c, const char *mount,
		     char *why, size_t whylen);
/**
 * A dry run of c (c->dryrun set): asks its before-listeners in the order a
 * real change would, with the same environment and stdin (and
 * DINEMIC_DRYRUN=1), and gives each one's answer to fn; those after the
 * first rejection are not run, only named (DFS_VERDICT_SKIP), since the
 * real change stops there. Logs and counts nothing. Returns 0 when all
 * accept (or there are none), -EPERM when one rejects.
 */
int dfs_runner_dry(struct dfs_runner *r, const struct dfs_change *c, const char *mount,
		   dfs_answer_fn fn, void *arg);
/** Queues the after-hooks of c. */
void dfs_runner_notify(struct dfs_runner *r, const struct dfs_change *c, const char *mount);

#endif
