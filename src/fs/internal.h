/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the files of src/fs share: the filesystem's state.
 *
 * struct dfs_fs is the session's userdata (fs.h). Everything it points to
 * is borrowed except inodes, scratch and actions_dir, which it owns.
 */
#ifndef DINEMICFS_FS_INTERNAL_H
#define DINEMICFS_FS_INTERNAL_H

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/fs.h"
#include "dinemicfs/inode.h"
#include "dinemicfs/scratch.h"

struct open_link;

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
	struct dfs_fs_hooks hooks;	/* set before the loop starts */
	pthread_mutex_t open_lock;
	struct open_link *open;		/* open handles (ops.c) */

	/* mirror.c: remote changes repeated through the mount. */
	char mountpoint[PATH_MAX];
	pthread_t mirror;
	bool mirror_running;
	atomic_bool unmounted;		/* the kernel is gone: tell it nothing more */
	atomic_int mirror_tid;		/* its thread id, once running */
	pthread_mutex_t mirror_lock;	/* the queue and the current job */
	pthread_cond_t mirror_cond;
	struct mirror_job *mirror_head, *mirror_tail;
	size_t mirror_len;
	bool mirror_stop;
	char mirror_name[DFS_UPDATE_NAME_MAX + 1];	/* the name the current job acts on */
	bool mirror_ghost;		/* it is gone (delete) or new (create) */
	uint8_t mirror_op;
};

/* mirror.c */
bool dfs_fs_is_mirror(struct dfs_fs *fs, fuse_req_t req);
int dfs_fs_mirror_lookup(struct dfs_fs *fs, const char *name, uint8_t *op);

/**
 * Writes the content of a generated read-only file (.id, .owner, .history,
 * .node/id, stats, log) into out. Returns 0 or a negative errno.
 */
int dfs_fs_generate(struct dfs_fs *fs, const struct dfs_ent *e, struct dfs_buf *out);
/** Whether a generated file takes writes here (.authorized where we own it, .node/as). */
bool dfs_fs_meta_writable(struct dfs_fs *fs, const struct dfs_ent *e);
/**
 * Commits the whole new content of a writable generated file; with commit
 * false, only checks it (names resolve, keys are held) and changes nothing.
 */
int dfs_fs_meta_set(struct dfs_fs *fs, const struct dfs_ent *e, const uint8_t *val, size_t len,
		    bool commit);

/* .actions (actdir.c): entries stand for the real files of actions_dir. */

/** The real path of an .actions entry, or of name inside it (name may be NULL). */
int dfs_act_path(struct dfs_fs *fs, const struct dfs_ent *e, const char *name, char *out,
		 size_t n);
/** The entry for name inside the .actions directory dir. */
int dfs_act_child(const struct dfs_ent *dir, const char *name, struct dfs_ent *out);
/** .actions holds listeners and one level of per-model directories. */
bool dfs_act_depth_ok(const struct dfs_ent *dir);
/** chmod, truncate (through fd when >= 0) and utimes; owners are left alone. */
int dfs_act_setattr(struct dfs_fs *fs, const struct dfs_ent *e, int fd, const struct stat *attr,
		    int to_set);

/** 0 for a syscall's success, -errno for its failure. */
static inline int dfs_act_errno(int rc)
{
	return rc < 0 ? -errno : 0;
}

#endif
