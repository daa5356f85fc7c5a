/* SPDX-License-Identifier: MIT */
/*
 * statedir.h - the state directory: its layout and its lock.
 *
 *   STATE_DIR/             mode 0700, made on a node's first start
 *   STATE_DIR/lock         held (flock) by the node mounted on it
 *   STATE_DIR/db/          the store (store.h)
 *   STATE_DIR/actions/     listener scripts (actions.h)
 *   STATE_DIR/node.key, keys/   private keys (keyring.h)
 *
 * The lock makes sure one state directory is mounted once. STATE_DIR/lock
 * holds its holder's pid on its first line, and a second line, "stopping",
 * once the holder is unmounted and on its way out (after-listeners may
 * still run): a new mount waits for that one instead of failing. A stopped
 * node empties the file, so that no line is left for the next mount to
 * wait on. `dinemicfs key import --node` takes the same lock, without
 * waiting and without writing to it, while it replaces the node key.
 *
 * Errors: a refusal of the lock is said by its caller, in its own words
 * (a node: "already in use"; key import: "a node is running"); this module
 * prints only what no caller could say: dfs_statedir_prepare()'s failures
 * and, while a mount waits for a stopping holder, that it waits. Writes to
 * the lock file that fail are logged as warnings and otherwise ignored.
 * Threading: a node's start and stop, on one thread.
 */
#ifndef DINEMICFS_STATEDIR_H
#define DINEMICFS_STATEDIR_H

#include <limits.h>
#include <stddef.h>

/*
 * The paths of STATE_DIR's parts, written into out (size bytes, truncated
 * to fit, NUL-terminated). Return 0, or -ENAMETOOLONG when truncated.
 */
int dfs_statedir_lock_path(const char *dir, char *out, size_t size);
int dfs_statedir_db_path(const char *dir, char *out, size_t size);
int dfs_statedir_actions_path(const char *dir, char *out, size_t size);

/**
 * Makes the state directory *dir (mode 0700) unless it exists, and replaces
 * *dir (malloc'ed; freed here) with its real path. The directory must be
 * this user's and not writable by group or others, and its actions/ and
 * keys/ (when they exist) this user's and closed to group and others: what
 * another user could plant there would run, or sign, as the node. Returns 0
 * or a negative errno (-EPERM for a refused directory); prints one line on
 * stderr when the directory cannot be made, resolved or trusted (not for
 * -ENOMEM), and then leaves *dir as it was.
 */
int dfs_statedir_prepare(char **dir);

enum dfs_statedir_lock_mode {
	/* Once; the file is left as it is (key import). */
	DFS_STATEDIR_LOCK_TRY,
	/*
	 * A mounting node: waits up to a minute for a holder that says it is
	 * stopping, and two seconds for one unmounted a moment ago that may not
	 * have said so yet; then writes our pid into the file.
	 */
	DFS_STATEDIR_LOCK_MOUNT,
};

struct dfs_statedir_lock {
	int fd;			/* open and flock()ed while held, else -1 */
	char path[PATH_MAX];	/* STATE_DIR/lock */
	char holder[32];	/* after -EWOULDBLOCK: the holder's pid, or "" */
};

/**
 * Takes STATE_DIR/lock (made 0600 when missing) into *lk. Returns 0, or a
 * negative errno with lk->fd -1: -EWOULDBLOCK when another process holds
 * the lock (lk->holder names it when the file says), else the errno of
 * open(2) or flock(2) on lk->path.
 */
int dfs_statedir_lock(const char *dir, enum dfs_statedir_lock_mode mode,
		      struct dfs_statedir_lock *lk);

/** Unmounted: says so in the lock, so that a new mount waits for this one to end. */
void dfs_statedir_mark_stopping(const struct dfs_statedir_lock *lk);

/** Stopped: empties the lock file and closes it (a held MOUNT lock). */
void dfs_statedir_unlock(struct dfs_statedir_lock *lk);

#endif
