/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the files of src/fs share: the filesystem's state.
 *
 * struct dfs_fs is the session's userdata (fs.h). Everything it points to
 * is borrowed except inodes, scratch and actions_dir, which it owns.
 */
#ifndef DINEMICFS_FS_INTERNAL_H
#define DINEMICFS_FS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/fs.h"
#include "dinemicfs/inode.h"
#include "dinemicfs/scratch.h"

struct dfs_fs {
	struct dfs_db *db;
	struct dfs_store *st;
	struct dfs_keyring *kr;
	struct dfs_inodes *inodes;
	struct dfs_scratch *scratch;
	struct dfs_fs_opts opts;
	const char *state_dir;		/* borrowed; for statfs */
	char *actions_dir;		/* STATE_DIR/actions: what .actions shows */
	struct fuse_session *se;
	pthread_t trimmer;
	bool trimming;			/* the trimmer runs; protected by trim_lock */
	pthread_mutex_t trim_lock;
	pthread_cond_t trim_cond;
	uid_t uid;
	gid_t gid;
	struct timespec started;
	char node_hex[2 * DFS_PUBKEY_LEN + 1];
};

/**
 * Writes the content of a generated read-only file (.id, .owner, .history,
 * .node/id, stats, log) into out. Returns 0 or a negative errno.
 */
int dfs_fs_generate(struct dfs_fs *fs, const struct dfs_ent *e, struct dfs_buf *out);

#endif
