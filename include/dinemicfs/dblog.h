/* SPDX-License-Identifier: MIT */
/*
 * dblog.h - the object database as peers see it: updates received, checked
 * and grouped, and the update log read out to peers, with cursors into
 * theirs. For repl; the filesystem and the node use db.h only.
 *
 * Receiving: an update from a peer goes through the same apply path as a
 * local change (db.h), after dfs_db_check() verified its framing and
 * signature on any thread. An update this node rejects is held: kept and
 * logged for peers, not applied. A group stages many updates and makes them
 * durable with one wait.
 *
 * The log: every update this node keeps, applied or held, under the next
 * sequence number. A log is named at random when its store is made
 * (DFS_DB_LOG_ID_LEN bytes), so that a cursor saved for one log is never
 * used with another.
 *
 * Errors are negative errnos, as in db.h. Threading: as db.h; one thread
 * uses a group.
 */
#ifndef DINEMICFS_DBLOG_H
#define DINEMICFS_DBLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dinemicfs/db.h"

/**
 * Takes one encoded, signed update from a peer. It is verified, checked
 * against the policy and judged by the listeners like a local change, then
 * applied; an update that this node rejects (listener, policy or a rule its
 * state breaks) is held: kept and logged for peers but not applied.
 * Returns 0 (applied), -EALREADY (held or applied before), -EBADMSG
 * (malformed, badly signed, broken chain: dropped), -EAGAIN (what it builds
 * on has not arrived; *missing, when not NULL, gets the update hash or
 * model id to wait for), -ETIME (stamped more than max_skew ahead of this
 * node's wall clock: neither judged, applied nor logged; try again in
 * dfs_db_clock_wait() ms), -EPERM (held: rejected by policy or a
 * listener), another rule errno (held), or -EIO/-ENOMEM.
 */
int dfs_db_receive(struct dfs_db *db, const uint8_t *rec, size_t len, struct dfs_hash *missing);
/**
 * For an update answered -ETIME: the milliseconds until this node's wall
 * clock is within max_skew of its stamp, when it is due; 0 when it is due
 * now (or is not an update).
 */
uint64_t dfs_db_clock_wait(struct dfs_db *db, const uint8_t *rec, size_t len);
/** dfs_db_receive() without a missing hash. */
int dfs_db_apply(struct dfs_db *db, const uint8_t *rec, size_t len);

/*
 * Receiving many updates at once (a peer's batch): each is judged and
 * staged in turn, visible to the next at once, and all are made durable by
 * one wait in dfs_db_group_end(), which then tells the observer and the
 * after-listeners, in order. One thread uses a group.
 */
struct dfs_db_group;
/**
 * Where the update rec (len bytes) is, for a log line: MODEL/OBJECT/FIELD
 * (MODEL or MODEL/OBJECT for what names no field), the object as it shows
 * here, else by the first 16 hex digits of its key in parentheses; "?"
 * where rec does not decode. Never a value.
 */
void dfs_db_update_where(struct dfs_db *db, const uint8_t *rec, size_t len, char *out, size_t n);

/** A new, empty group; NULL on ENOMEM. */
struct dfs_db_group *dfs_db_group_new(struct dfs_db *db);
/**
 * Names who brought g's updates (a peer, as the caller numbers them; not
 * 0), for the listeners told of them (struct dfs_change.origin), so that
 * one peer's share of their queue can be kept apart from another's.
 */
void dfs_db_group_origin(struct dfs_db_group *g, uint64_t origin);
/**
 * The memory g's updates hold until dfs_db_group_end(): what they write,
 * and the values kept for their listeners.
 */
size_t dfs_db_group_bytes(const struct dfs_db_group *g);
/*
 * What dfs_db_check() found out about an update, so that the applier need
 * not find it out again.
 */
struct dfs_db_checked {
	struct dfs_hash hash;	/* the update's */
	bool fresh;		/* not stored when checked, as of stamp; false: unknown */
	uint64_t stamp;		/* how much of the log was in the store then */
};

/**
 * dfs_db_receive() within g, except that the update is durable only once
 * dfs_db_group_end() returns. checked, when not NULL, is what
 * dfs_db_check() said of it (with its hash and fresh set by hand for an
 * update checked earlier): its signature is not verified again, and a
 * fresh one is not looked up again unless the store may have it since.
 * *seq, when not NULL, gets the log sequence number the update was logged
 * at (applied or held), else 0.
 */
int dfs_db_group_receive(struct dfs_db_group *g, const uint8_t *rec, size_t len,
			 const struct dfs_db_checked *checked, struct dfs_hash *missing,
			 uint64_t *seq);
/**
 * Marks g's updates as part of a burst (struct dfs_db_event.bulk), and the
 * store as in a bulk load (dfs_store_bulk()).
 */
void dfs_db_group_bulk(struct dfs_db_group *g);
/** Makes g's updates durable, tells about them, frees g. Returns 0 or -EIO. */
int dfs_db_group_end(struct dfs_db_group *g);
/*
 * A run of checks of updates received in order (one message). An update
 * that builds on one the run found new is new too, since nothing is stored
 * before what it builds on; it is not looked up.
 */
struct dfs_db_run {
	struct dfs_db_checked *tab;	/* the run's new updates, by hash */
	size_t size, n;
};
/** Makes room for count updates; without memory, the run only looks up. */
void dfs_db_run_init(struct dfs_db_run *run, size_t count);
void dfs_db_run_release(struct dfs_db_run *run);

/**
 * Checks an update's framing and signature, without the store's lock: any
 * thread may call it. Returns 0, -EALREADY (known already) or -EBADMSG;
 * out, when not NULL, is filled in on 0 and -EALREADY (with fresh false
 * on 0 when the store could not be read). run may be NULL.
 */
int dfs_db_check(struct dfs_db *db, const uint8_t *rec, size_t len, struct dfs_db_run *run,
		 struct dfs_db_checked *out);

/* The log: every update this node keeps, in the order it kept them. */

/** Whether the update of hash h is stored (applied or held); any thread, no lock. */
bool dfs_db_known(struct dfs_db *db, const struct dfs_hash *h);

/** The sequence number of the last update logged and staged (readable); any thread, no lock. */
uint64_t dfs_db_log_head(struct dfs_db *db);
typedef int (*dfs_db_log_fn)(uint64_t seq, const uint8_t *rec, size_t len, void *ctx);
/** Whether the log entry at seq is left out of a read. */
typedef bool (*dfs_db_log_skip_fn)(uint64_t seq, void *ctx);
/**
 * Calls fn for the written log entries after seq, in order, until about
 * max_bytes of records were passed, DFS_DB_LOG_SCAN_MAX entries were
 * looked at, or fn returns non-zero: > 0 to stop after this entry, < 0 an
 * error to return. Entries that skip (when not NULL) names are passed over
 * unread. *upto (when not NULL) gets the last entry passed or passed over,
 * or after when none. Returns the number of entries passed, or a negative
 * errno.
 */
#define DFS_DB_LOG_SCAN_MAX 8192
int dfs_db_log_read(struct dfs_db *db, uint64_t after, size_t max_bytes, dfs_db_log_skip_fn skip,
		    dfs_db_log_fn fn, void *ctx, uint64_t *upto);

/* A log's name: random, made with the store; another store, another log. */
#define DFS_DB_LOG_ID_LEN 16
void dfs_db_log_id(struct dfs_db *db, uint8_t out[DFS_DB_LOG_ID_LEN]);
/**
 * How far this node got in peer's log named log_id: 0 when never, or when
 * what was saved is for another log of that peer. Kept across restarts.
 */
int dfs_db_cursor_get(struct dfs_db *db, const struct dfs_pubkey *peer,
		      const uint8_t log_id[DFS_DB_LOG_ID_LEN], uint64_t *seq);
int dfs_db_cursor_put(struct dfs_db *db, const struct dfs_pubkey *peer,
		      const uint8_t log_id[DFS_DB_LOG_ID_LEN], uint64_t seq);


#endif
