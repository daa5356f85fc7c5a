/* SPDX-License-Identifier: MIT */
/*
 * fs.h - the FUSE low-level operations: the tree of DESIGN.md over dfs_db.
 *
 * struct dfs_fs is the session's userdata. It borrows the database, store
 * and keyring, which must outlive it. This is the one place where negative
 * errnos become FUSE replies.
 */
#ifndef DINEMICFS_FS_H
#define DINEMICFS_FS_H

#include <stdbool.h>
#include <stddef.h>

#include <fuse_lowlevel.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/db.h"
#include "dinemicfs/keyring.h"
#include "dinemicfs/store.h"

struct dfs_fs;

struct dfs_fs_opts {
	bool read_only;
	size_t max_value;
	bool sync_strict;
	bool open_policy;		/* unowned objects may be written, as the node */
	size_t inode_limit;		/* past it, idle entries are dropped; 0: never */
};

/**
 * Makes the userdata for a session before the database is open (so that
 * FUSE options are checked first). NULL with errno on failure.
 */
struct dfs_fs *dfs_fs_new(const struct dfs_fs_opts *opts);
/**
 * Gives the filesystem what it serves, before the session's loop starts.
 * Borrows everything; state_dir is used for statfs.
 */
void dfs_fs_attach(struct dfs_fs *fs, struct dfs_db *db, struct dfs_store *st,
		   struct dfs_keyring *kr, struct fuse_session *se, const char *state_dir);
/** Starts the thread that keeps the inode table near inode_limit; 0 or -errno. */
/* What other modules add to .node/: each writes its text into out. */
struct dfs_fs_hooks {
	int (*peers)(void *ctx, struct dfs_buf *out);	/* .node/peers */
	int (*stats)(void *ctx, struct dfs_buf *out);	/* more .node/stats lines */
	void *ctx;
};

/** Sets the hooks; call before the session loop starts. */
void dfs_fs_set_hooks(struct dfs_fs *fs, const struct dfs_fs_hooks *h);
int dfs_fs_start(struct dfs_fs *fs);

/** Starts repeating remote changes through the mount at mountpoint (mirror.c). */
int dfs_fs_mirror_start(struct dfs_fs *fs, const char *mountpoint);
/**
 * Stops repeating: call after the session loop and before
 * dfs_fs_close_open(), since it serves the requests the mirror's thread
 * still waits on, which may name open handles.
 */
void dfs_fs_mirror_stop(struct dfs_fs *fs);
/** The mount is gone: changes are no longer shown to the kernel. */
void dfs_fs_unmounted(struct dfs_fs *fs);
/**
 * Closes the handles the kernel never released (it drops releases still
 * queued when it unmounts), committing what they hold. Call after the
 * session loop, while the database is open.
 */
void dfs_fs_close_open(struct dfs_fs *fs);
/**
 * An update, local or remote, now reads so (dfs_db_set_staged()): drops
 * what the kernel cached of the files whose content it changed, so that
 * no read returns what they held before; any thread, no database lock held.
 */
void dfs_fs_changed(struct dfs_fs *fs, const struct dfs_db_event *ev);
/** Shows a durable remote change to the kernel and its watchers; any thread. */
void dfs_fs_remote_change(struct dfs_fs *fs, const struct dfs_db_event *ev);
/** Stops that thread; call before the session ends. Idempotent. */
void dfs_fs_stop(struct dfs_fs *fs);
/** Stops, then frees. Accepts NULL. */
void dfs_fs_free(struct dfs_fs *fs);

/** The operations table; pass the dfs_fs as userdata. */
extern const struct fuse_lowlevel_ops dfs_fs_ops;

#endif
