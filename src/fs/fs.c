// SPDX-License-Identifier: MIT
/*
 * fs.c - the filesystem's lifecycle: new, attach, hooks, start, stop and
 * free, and the open handles the kernel never released, closed at unmount.
 * Nothing inside src/fs calls this file.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

/* commit: as a release would; else only free (the database may be gone). */
static size_t close_all(struct dfs_fs *fs, bool commit)
{
	char name[DFS_NAME_MAX + 1];
	fuse_ino_t parent;
	size_t files = 0;

	for (;;) {
		pthread_mutex_lock(&fs->open_lock);
		struct open_link *l = fs->open;
		pthread_mutex_unlock(&fs->open_lock);
		if (!l)
			break;
		if (l->dir) {
			fs_dirh_free(fs, (struct dirh *)l);
		} else if (commit) {
			fs_fh_close(fs, (struct fh *)l, &parent, name, sizeof(name));
			files++;
		} else {
			fs_fh_free(fs, (struct fh *)l);
		}
	}
	return files;
}

void dfs_fs_close_open(struct dfs_fs *fs)
{
	size_t files = close_all(fs, true);

	if (files)
		dfs_log(DFS_LOG_INFO, "closed %zu file%s the kernel did not release", files,
			files == 1 ? "" : "s");
}

struct dfs_fs *dfs_fs_new(const struct dfs_fs_opts *opts)
{
	struct dfs_fs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->opts = *opts;
	fs->uid = getuid();
	fs->gid = getgid();
	clock_gettime(CLOCK_REALTIME, &fs->started);
	fs->max_write = 128 * 1024; /* the kernel's default until init says */
	pthread_mutex_init(&fs->open_lock, NULL);
	fs_known_init(&fs->known);
	fs->trim = fs_trim_new();
	fs->mirror = fs_mirror_new();
	fs->inodes = dfs_inodes_new();
	fs->scratch = dfs_scratch_new();
	if (!fs->trim || !fs->mirror || !fs->inodes || !fs->scratch) {
		dfs_fs_free(fs);
		errno = ENOMEM;
		return NULL;
	}
	return fs;
}

void dfs_fs_attach(struct dfs_fs *fs, struct dfs_db *db, struct dfs_store *st,
		   struct dfs_keyring *kr, struct fuse_session *se, const char *state_dir)
{
	fs->state_dir = state_dir;
	if (asprintf(&fs->actions_dir, "%s/actions", state_dir) < 0)
		fs->actions_dir = NULL;
	fs->db = db;
	fs->st = st;
	fs->kr = kr;
	fs->se = se;
	dfs_hex_encode(fs->node_hex, dfs_keyring_node(kr)->b, DFS_PUBKEY_LEN);
}

void dfs_fs_set_hooks(struct dfs_fs *fs, const struct dfs_fs_hooks *h)
{
	fs->hooks = *h;
}

void dfs_fs_free(struct dfs_fs *fs)
{
	if (!fs)
		return;
	dfs_fs_stop(fs);
	free(fs->actions_dir);
	fs_trim_free(fs->trim);
	fs_mirror_free(fs->mirror);
	close_all(fs, false);
	pthread_mutex_destroy(&fs->open_lock);
	fs_known_destroy(&fs->known);
	dfs_inodes_free(fs->inodes);
	dfs_scratch_free(fs->scratch);
	free(fs);
}

int dfs_fs_start(struct dfs_fs *fs)
{
	return fs_trim_start(fs);
}

void dfs_fs_stop(struct dfs_fs *fs)
{
	fs_trim_stop(fs);
	dfs_fs_mirror_stop(fs);
}
