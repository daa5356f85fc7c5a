// SPDX-License-Identifier: MIT
/*
 * tree.c - names to entities: what (parent, name) stands for in the tree of
 * DESIGN.md, the rules for new names and files, and field paths.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dinemicfs/util.h"
#include "internal.h"

/* A field's path from its container and name; -ENAMETOOLONG past the format's limit. */
int fs_field_path(const struct dfs_ent *dir, const char *name, char *out, size_t n)
{
	int len = dir->kind == DFS_K_DICT ? snprintf(out, n, "%s/%s", dir->path, name)
					  : snprintf(out, n, "%s", name);
	return len < 0 || (size_t)len >= n || (size_t)len > DFS_UPDATE_NAME_MAX ? -ENAMETOOLONG : 0;
}

static const struct {
	const char *name;
	int meta;
} object_meta[] = {
	{ ".id", DFS_META_ID },
	{ ".owner", DFS_META_OWNER },
	{ ".history", DFS_META_HISTORY },
	{ ".authorized", DFS_META_AUTHORIZED },
}, node_files[] = {
	{ "id", DFS_NODE_ID },
	{ "stats", DFS_NODE_STATS },
	{ "log", DFS_NODE_LOG },
	{ "peers", DFS_NODE_PEERS },
	{ "as", DFS_NODE_AS },
	{ "try", DFS_NODE_TRY },
	{ "conflicts", DFS_NODE_CONFLICTS },
};

int fs_each_node_file(int (*fn)(const char *name, void *arg), void *arg)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < sizeof(node_files) / sizeof(node_files[0]); i++)
		rc = fn(node_files[i].name, arg);
	return rc;
}

/*
 * The names a directory holds of itself (.node, .actions, .id, ...): 0 with
 * out filled, a negative errno, or 1 when name is none of them.
 */
static int resolve_dot(struct dfs_fs *fs, const struct dfs_ent *dir, const char *name,
		       struct dfs_ent *out)
{
	switch (dir->kind) {
	case DFS_K_ROOT:
		if (strcmp(name, ".node") == 0) {
			out->kind = DFS_K_NODE_DIR;
			return 0;
		}
		if (strcmp(name, ".actions") == 0) {
			out->kind = DFS_K_ACTIONS;
			out->path[0] = '\0';
			return 0;
		}
		break;
	case DFS_K_ACTIONS:
		return act_lookup(fs, dir, name, out);
	case DFS_K_NODE_DIR:
		if (dir->meta == DFS_NODE_HELD)
			return fs_held_lookup(fs, name, out);
		if (strcmp(name, "held") == 0) {
			out->kind = DFS_K_NODE_DIR;
			out->meta = DFS_NODE_HELD;
			return 0;
		}
		for (size_t i = 0; i < sizeof(node_files) / sizeof(node_files[0]); i++) {
			if (strcmp(name, node_files[i].name) == 0) {
				out->kind = DFS_K_NODE_FILE;
				out->meta = node_files[i].meta;
				return 0;
			}
		}
		return -ENOENT;
	case DFS_K_OBJECT:
		if (strcmp(name, ".conflicts") == 0) {
			out->kind = DFS_K_CONFLICTS;
			return 0;
		}
		for (size_t i = 0; i < sizeof(object_meta) / sizeof(object_meta[0]); i++) {
			if (strcmp(name, object_meta[i].name) == 0) {
				out->kind = DFS_K_META;
				out->meta = object_meta[i].meta;
				return 0;
			}
		}
		break;
	case DFS_K_MODEL:
		if (strcmp(name, ".encrypted") == 0) {
			out->kind = DFS_K_META;
			out->meta = DFS_META_ENCRYPTED;
			return 0;
		}
		break;
	case DFS_K_DICT:
		break;
	case DFS_K_CONFLICTS:
		return fs_conflict_lookup(fs, dir, name, out);
	default:
		return -ENOTDIR;
	}
	return 1;
}

/* A scratch file of dir: 0 with out filled, -ENOENT, or 1 to look further. */
static int resolve_scratch(struct dfs_fs *fs, const struct dfs_ent *dir, const char *name,
			   struct dfs_ent *out)
{
	size_t size;
	struct timespec mtime;

	dfs_ent_dir_key(dir, out->dir, sizeof(out->dir));
	if (dfs_scratch_stat(fs->scratch, out->dir, name, &size, &mtime) == 0) {
		out->kind = DFS_K_SCRATCH;
		snprintf(out->name, sizeof(out->name), "%s", name);
		return 0;
	}
	out->dir[0] = '\0';
	if (dfs_name_is_dot(name))
		return -ENOENT;
	return 1;
}

/* A model, object, dict or field stored under dir (or a field only created here). */
static int resolve_data(struct dfs_fs *fs, fuse_ino_t parent, const struct dfs_ent *dir,
			const char *name, struct dfs_ent *out)
{
	struct dfs_object_rec o;
	struct dfs_model_rec m;
	struct dfs_field_rec f;
	int rc;

	switch (dir->kind) {
	case DFS_K_ROOT:
		rc = dfs_db_get_model(fs->db, name, &m);
		if (rc == 0) {
			out->kind = DFS_K_MODEL;
			snprintf(out->model, sizeof(out->model), "%s", name);
		}
		return rc;
	case DFS_K_MODEL:
		rc = dfs_db_get_object(fs->db, dir->model, name, &out->obj, &o);
		if (rc == 0)
			out->kind = DFS_K_OBJECT;
		return rc;
	default: /* OBJECT or DICT */
		rc = fs_field_path(dir, name, out->path, sizeof(out->path));
		if (rc < 0)
			return rc;
		rc = dfs_db_get_field(fs->db, &dir->obj, out->path, &f);
		if (rc == 0) {
			out->kind = f.kind == DFS_FIELD_DICT && dir->kind == DFS_K_OBJECT
					    ? DFS_K_DICT
					    : DFS_K_FIELD;
			return 0;
		}
		if (rc == -EIO) {
			/* Corrupt (and reported): reads fail, a new value or rm replaces it. */
			out->kind = DFS_K_FIELD;
			return 0;
		}
		if (rc == -ENOENT) {
			/* A file created but not yet written exists only here. */
			fuse_ino_t ino = dfs_inodes_find(fs->inodes, parent, name);
			if (ino && dfs_inodes_pending_new(fs->inodes, ino, 0) > 0) {
				out->kind = DFS_K_FIELD;
				return 0;
			}
		}
		return rc;
	}
}

/* Finds what (parent, name) stands for. */
int fs_resolve(struct dfs_fs *fs, fuse_ino_t parent, const struct dfs_ent *dir, const char *name,
	       struct dfs_ent *out)
{
	int rc;

	if (strlen(name) > DFS_NAME_MAX)
		return -ENAMETOOLONG;
	memset(out, 0, sizeof(*out));
	strcpy(out->model, dir->model);
	out->obj = dir->obj;

	rc = resolve_dot(fs, dir, name, out);
	if (rc <= 0)
		return rc;
	if (dfs_name_is_dot(name))
		return resolve_scratch(fs, dir, name, out) == 0 ? 0 : -ENOENT;
	/* Names stored before control bytes were refused are still found. */
	if (dfs_name_check_stored(name, strlen(name)) < 0)
		return -ENOENT;
	rc = resolve_data(fs, parent, dir, name, out);
	/* A peer's field named like a scratch file (notes~) is the field, shown and written. */
	if (rc < 0 && dfs_name_is_scratch(name) && resolve_scratch(fs, dir, name, out) == 0)
		return 0;
	return rc;
}

bool fs_scratch_is_field(struct dfs_fs *fs, const struct dfs_ent *dir, const char *name)
{
	char path[DFS_UPDATE_NAME_MAX + 1];
	struct dfs_field_rec f;

	if (dfs_name_is_dot(name) || (dir->kind != DFS_K_OBJECT && dir->kind != DFS_K_DICT))
		return false;
	if (fs_field_path(dir, name, path, sizeof(path)) < 0)
		return false;
	int rc = dfs_db_get_field(fs->db, &dir->obj, path, &f);
	return rc == 0 || rc == -EIO;
}

int fs_check_new_name(const char *name)
{
	int rc = dfs_name_check(name, strlen(name));

	if (rc == 0 && dfs_name_is_dot(name))
		rc = -EINVAL;
	return rc;
}

/* A new regular file: a scratch file, or a field that exists once written. */
int fs_new_file(struct dfs_fs *fs, fuse_ino_t parent, const char *name, mode_t mode,
		bool commit_now, struct dfs_ent *ent)
{
	struct dfs_ent dir;
	int rc = fs_ent_of(fs, parent, &dir);

	if (rc == 0)
		rc = dfs_name_check(name, strlen(name));
	if (rc == 0 && fs->opts.read_only)
		rc = -EROFS;
	if (rc < 0)
		return rc;
	if (dir.kind == DFS_K_ACTIONS)
		return act_create(fs, &dir, name, mode, ent);
	memset(ent, 0, sizeof(*ent));
	strcpy(ent->model, dir.model);
	ent->obj = dir.obj;
	if (!fs_is_data_dir(&dir))
		return dir.kind != DFS_K_NODE_DIR && dir.kind != DFS_K_CONFLICTS ? -ENOTDIR
		       : dir.meta == DFS_NODE_HELD ? -ENOENT	/* no such held update */
						   : -EPERM;
	if (dfs_name_is_scratch(name) && !fs_scratch_is_field(fs, &dir, name)) {
		ent->kind = DFS_K_SCRATCH;
		dfs_ent_dir_key(&dir, ent->dir, sizeof(ent->dir));
		snprintf(ent->name, sizeof(ent->name), "%s", name);
		return dfs_scratch_create(fs->scratch, ent->dir, name);
	}
	if (dir.kind != DFS_K_OBJECT && dir.kind != DFS_K_DICT)
		return -EPERM; /* only objects and dicts hold fields */
	if (!fs_owned(fs, &dir))
		return -EACCES;
	ent->kind = DFS_K_FIELD;
	rc = fs_field_path(&dir, name, ent->path, sizeof(ent->path));
	if (rc == 0 && commit_now)
		rc = dfs_db_set_field(fs->db, &dir.obj, ent->path, NULL, 0);
	return rc;
}

/* What (parent, name) stands for, when this mount may change it. */
int fs_resolve_to_change(struct dfs_fs *fs, fuse_ino_t parent, const char *name,
			 struct dfs_ent *ent)
{
	struct dfs_ent dir;
	int rc = fs_ent_of(fs, parent, &dir);

	if (rc == 0)
		rc = fs_resolve(fs, parent, &dir, name, ent);
	if (rc == 0 && fs->opts.read_only)
		rc = -EROFS;
	return rc;
}
