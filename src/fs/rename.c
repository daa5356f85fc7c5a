// SPDX-License-Identifier: MIT
/*
 * rename.c - the rename rules: over a writable dot-file, into a scratch
 * file, over a field (one update within one object), a conflict over its
 * field; .actions renames within itself (actdir.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/util.h"
#include "internal.h"

/* The value of a regular file: a field's or a scratch file's. */
static int file_content(struct dfs_fs *fs, const struct dfs_ent *e, uint8_t **val, size_t *len)
{
	if (e->kind == DFS_K_SCRATCH)
		return dfs_scratch_get(fs->scratch, e->dir, e->name, val, len);
	return dfs_db_read_field(fs->db, &e->obj, e->path, val, len);
}

/* sed -i and editors on .authorized, .encrypted or .node/as: the new content commits. */
static int rename_over_meta(struct dfs_fs *fs, const struct dfs_ent *src,
			    const struct dfs_ent *dst, struct dfs_ent *moved)
{
	uint8_t *val = NULL;
	size_t len = 0;
	int rc = file_content(fs, src, &val, &len);

	if (rc == 0)
		rc = dfs_fs_meta_set(fs, dst, val, len, true);
	dfs_value_free(val);
	if (rc == 0)
		dfs_scratch_remove(fs->scratch, src->dir, src->name);
	if (rc == 0)
		*moved = *dst;
	return rc;
}

/* Into a scratch file: local only. A field moved away is deleted. */
static int rename_to_scratch(struct dfs_fs *fs, const struct dfs_ent *src,
			     const struct dfs_ent *newdir, const char *newname,
			     struct dfs_ent *moved)
{
	uint8_t *val = NULL;
	size_t len = 0;
	int rc;

	moved->kind = DFS_K_SCRATCH;
	dfs_ent_dir_key(newdir, moved->dir, sizeof(moved->dir));
	snprintf(moved->name, sizeof(moved->name), "%s", newname);
	if (src->kind == DFS_K_SCRATCH)
		return dfs_scratch_rename(fs->scratch, src->dir, src->name, moved->dir, newname);
	if (!fs_owned(fs, src))
		return -EACCES;
	rc = file_content(fs, src, &val, &len);
	if (rc == 0)
		rc = dfs_scratch_put(fs->scratch, moved->dir, newname, val, len);
	if (rc == 0) {
		rc = dfs_db_delete_field(fs->db, &src->obj, src->path);
		if (rc < 0)
			dfs_scratch_remove(fs->scratch, moved->dir, newname);
	}
	dfs_value_free(val);
	return rc;
}

/* Over a field: one update of that field, within one object. */
static int rename_over_field(struct dfs_fs *fs, const struct dfs_ent *src,
			     const struct dfs_ent *newdir, const char *newname,
			     struct dfs_ent *moved)
{
	uint8_t *val = NULL;
	size_t len = 0;
	int rc;

	if (newdir->kind != DFS_K_OBJECT && newdir->kind != DFS_K_DICT)
		return -EPERM;
	if (src->kind == DFS_K_FIELD && memcmp(src->obj.b, newdir->obj.b, DFS_PUBKEY_LEN) != 0)
		return -EXDEV;
	if (!fs_owned(fs, newdir))
		return -EACCES;
	moved->kind = DFS_K_FIELD;
	rc = fs_field_path(newdir, newname, moved->path, sizeof(moved->path));
	if (rc < 0)
		return rc;
	if (src->kind == DFS_K_FIELD && strcmp(src->path, moved->path) == 0)
		return 0;
	rc = file_content(fs, src, &val, &len);
	if (rc == 0 && len > fs->opts.max_value)
		rc = -EFBIG;
	if (rc == 0)
		rc = dfs_db_set_field(fs->db, &newdir->obj, moved->path, val, len);
	dfs_value_free(val);
	if (rc < 0)
		return rc;
	if (src->kind == DFS_K_SCRATCH)
		dfs_scratch_remove(fs->scratch, src->dir, src->name);
	else
		rc = dfs_db_delete_field(fs->db, &src->obj, src->path);
	return rc;
}

/*
 * mv OBJECT/.conflicts/FIELD~... OBJECT/FIELD: the losing value becomes the
 * field's, a signed resolve. Anywhere else: -EINVAL (not -EXDEV, whose
 * copy and rm would keep the winner instead).
 */
static int rename_conflict(struct dfs_fs *fs, const struct dfs_ent *src,
			   const struct dfs_ent *newdir, const char *newname,
			   struct dfs_ent *moved)
{
	if (newdir->kind != DFS_K_OBJECT || memcmp(newdir->obj.b, src->obj.b, DFS_PUBKEY_LEN) ||
	    strcmp(newname, src->path) != 0)
		return -EINVAL;
	int rc = fs_conflict_resolve(fs, src, true);
	if (rc < 0)
		return rc;
	memset(moved, 0, sizeof(*moved));
	moved->kind = DFS_K_FIELD;
	strcpy(moved->model, newdir->model);
	moved->obj = newdir->obj;
	snprintf(moved->path, sizeof(moved->path), "%s", newname);
	return 0;
}

int fs_rename(struct dfs_fs *fs, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	      const char *newname, unsigned int flags, struct dfs_ent *moved)
{
	struct dfs_ent dir, newdir, src, dst;
	int rc = fs_ent_of(fs, parent, &dir);

	if (rc == 0)
		rc = fs_ent_of(fs, newparent, &newdir);
	if (rc == 0)
		rc = fs_resolve(fs, parent, &dir, name, &src);
	if (rc < 0)
		return rc;
	if (fs->opts.read_only)
		return -EROFS;
	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	rc = dfs_name_check(newname, strlen(newname));
	if (rc < 0)
		return rc;
	if (src.kind == DFS_K_ACTIONS || newdir.kind == DFS_K_ACTIONS)
		return act_rename(fs, &src, &newdir, newname, flags, moved);
	int drc = fs_resolve(fs, newparent, &newdir, newname, &dst);
	if (drc == 0 && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (fs_is_conflict(&src))
		return rename_conflict(fs, &src, &newdir, newname, moved);
	if (drc == 0 && (dst.kind == DFS_K_META || dst.kind == DFS_K_NODE_FILE) &&
	    src.kind == DFS_K_SCRATCH && dfs_fs_meta_writable(fs, &dst))
		return rename_over_meta(fs, &src, &dst, moved);
	if (drc == 0 && dst.kind != DFS_K_FIELD && dst.kind != DFS_K_SCRATCH)
		return dst.kind == DFS_K_META || dst.kind == DFS_K_NODE_FILE ? -EPERM : -EISDIR;

	switch (src.kind) {
	case DFS_K_MODEL:
	case DFS_K_OBJECT:
	case DFS_K_DICT:
		return -EXDEV; /* mv copies: a new object gets a new key */
	case DFS_K_FIELD:
	case DFS_K_SCRATCH:
		break;
	default:
		return -EPERM;
	}
	if (!fs_is_data_dir(&newdir))
		return -EPERM;

	memset(moved, 0, sizeof(*moved));
	strcpy(moved->model, newdir.model);
	moved->obj = newdir.obj;
	if (dfs_name_is_scratch(newname) && !fs_scratch_is_field(fs, &newdir, newname))
		return rename_to_scratch(fs, &src, &newdir, newname, moved);
	return rename_over_field(fs, &src, &newdir, newname, moved);
}
