// SPDX-License-Identifier: MIT
/*
 * dir.c - directory handles: the entries of a directory, listed once at
 * opendir from the model, the scratch table, files created here and not
 * yet written, or the real directory under .actions.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int dir_add(struct dirh *d, const char *name, fuse_ino_t ino, bool is_dir)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 32;
		struct dirent_rec *v = realloc(d->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	d->v[d->n].name = strdup(name);
	if (!d->v[d->n].name)
		return -ENOMEM;
	d->v[d->n].ino = ino;
	d->v[d->n].is_dir = is_dir;
	d->n++;
	return 0;
}

struct fill_ctx {
	struct dfs_fs *fs;
	struct dirh *d;
	fuse_ino_t parent;
	bool dirs;		/* the names are directories */
	const struct dfs_ent *dir;
	int rc;
};

/* readdir reports an inode number; 0 would make some libcs skip the entry. */
static fuse_ino_t listed_ino(struct fill_ctx *c, const char *name)
{
	fuse_ino_t ino = dfs_inodes_find(c->fs->inodes, c->parent, name);

	if (ino)
		return ino;
	uint64_t h = dfs_fnv1a(DFS_FNV_BASIS, name, strlen(name));
	return (fuse_ino_t)((h ^ c->parent) | (1ull << 62));
}

static int fill_name(const char *name, void *arg)
{
	struct fill_ctx *c = arg;
	bool is_dir = c->dirs;

	if (c->dir && c->dir->kind == DFS_K_OBJECT) {
		struct dfs_field_rec f;
		is_dir = dfs_db_get_field(c->fs->db, &c->dir->obj, name, &f) == 0 &&
			 f.kind == DFS_FIELD_DICT;
	}
	c->rc = dir_add(c->d, name, listed_ino(c, name), is_dir);
	return c->rc;
}

static void fill_scratch(const char *name, void *arg)
{
	struct fill_ctx *c = arg;

	/* A field of the same name (a peer's notes~) hides the scratch file. */
	for (size_t i = 0; i < c->d->n; i++)
		if (strcmp(c->d->v[i].name, name) == 0)
			return;
	if (c->rc == 0)
		c->rc = dir_add(c->d, name, listed_ino(c, name), false);
}

static void fill_pending(const char *name, fuse_ino_t ino, void *arg)
{
	struct fill_ctx *c = arg;

	for (size_t i = 0; i < c->d->n; i++)
		if (strcmp(c->d->v[i].name, name) == 0)
			return;
	if (c->rc == 0)
		c->rc = dir_add(c->d, name, ino, false);
}

/* An entry of a real directory under .actions. */
static int fill_act(const char *name, bool is_dir, void *arg)
{
	struct fill_ctx *c = arg;

	return dir_add(c->d, name, listed_ino(c, name), is_dir);
}

void fs_dirh_free(struct dfs_fs *fs, struct dirh *d)
{
	if (!d)
		return;
	fs_open_untrack(fs, &d->link);
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].name);
	free(d->v);
	free(d);
}

int fs_dir_fill(struct dfs_fs *fs, struct dirh *d, fuse_ino_t ino, const struct dfs_ent *ent)
{
	char key[sizeof(ent->dir)];
	struct fill_ctx c = { fs, d, ino, false, NULL, 0 };
	int rc = dir_add(d, ".", ino, true);

	if (rc == 0)
		rc = dir_add(d, "..", FUSE_ROOT_ID, true);
	if (rc < 0)
		return rc;
	switch (ent->kind) {
	case DFS_K_ROOT:
		c.dirs = true;
		rc = dfs_db_list_models(fs->db, fill_name, &c);
		break;
	case DFS_K_MODEL:
		c.dirs = true;
		rc = dfs_db_list_objects(fs->db, ent->model, fill_name, &c);
		break;
	case DFS_K_OBJECT:
		c.dir = ent;
		rc = dfs_db_list_fields(fs->db, &ent->obj, NULL, fill_name, &c);
		break;
	case DFS_K_DICT:
		rc = dfs_db_list_fields(fs->db, &ent->obj, ent->path, fill_name, &c);
		break;
	case DFS_K_NODE_DIR:
		if (ent->meta == DFS_NODE_HELD) {
			rc = dfs_db_held_list(fs->db, fill_name, &c);
			break;
		}
		rc = fs_each_node_file(fill_name, &c);
		if (rc == 0)
			rc = dir_add(d, "held", listed_ino(&c, "held"), true);
		break;
	case DFS_K_ACTIONS:
		rc = act_list(fs, ent, fill_act, &c);
		break;
	case DFS_K_CONFLICTS:
		rc = fs_conflict_list(fs, &ent->obj, fill_name, &c);
		break;
	default:
		rc = -ENOTDIR;
	}
	if (rc == 0)
		rc = c.rc;
	if (rc == 0 && fs_is_data_dir(ent)) {
		dfs_ent_dir_key(ent, key, sizeof(key));
		dfs_scratch_list(fs->scratch, key, fill_scratch, &c);
		dfs_inodes_each_pending(fs->inodes, ino, fill_pending, &c);
		rc = c.rc;
	}
	return rc;
}
