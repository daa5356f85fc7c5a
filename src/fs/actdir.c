// SPDX-License-Identifier: MIT
/* actdir.c - .actions: a real directory under the state directory, shown as is */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* The real path of an .actions entry, or of name inside it. */
int dfs_act_path(struct dfs_fs *fs, const struct dfs_ent *e, const char *name, char *out,
		    size_t n)
{
	int len;

	if (!fs->actions_dir)
		return -ENOMEM;
	if (name)
		len = e->path[0] ? snprintf(out, n, "%s/%s/%s", fs->actions_dir, e->path, name)
				 : snprintf(out, n, "%s/%s", fs->actions_dir, name);
	else
		len = e->path[0] ? snprintf(out, n, "%s/%s", fs->actions_dir, e->path)
				 : snprintf(out, n, "%s", fs->actions_dir);
	return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

/* The entry for name inside the .actions directory dir. */
int dfs_act_child(const struct dfs_ent *dir, const char *name, struct dfs_ent *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = DFS_K_ACTIONS;
	int len = dir->path[0] ? snprintf(out->path, sizeof(out->path), "%s/%s", dir->path, name)
			       : snprintf(out->path, sizeof(out->path), "%s", name);
	return len < 0 || (size_t)len >= sizeof(out->path) ? -ENAMETOOLONG : 0;
}

/* .actions holds listeners and one level of per-model directories. */
bool dfs_act_depth_ok(const struct dfs_ent *dir)
{
	return strchr(dir->path, '/') == NULL;
}

/* chmod, truncate and utimes of a file in .actions; owners are left alone. */
int dfs_act_setattr(struct dfs_fs *fs, const struct dfs_ent *e, int fd,
		       const struct stat *attr, int to_set)
{
	char real[PATH_MAX];
	int rc = dfs_act_path(fs, e, NULL, real, sizeof(real));

	if (rc == 0 && (to_set & FUSE_SET_ATTR_MODE))
		rc = dfs_act_errno(chmod(real, attr->st_mode & 07777));
	if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		rc = dfs_act_errno(fd >= 0 ? ftruncate(fd, attr->st_size)
					   : truncate(real, attr->st_size));
	if (rc == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		struct timespec tv[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		rc = dfs_act_errno(utimensat(AT_FDCWD, real, tv, AT_SYMLINK_NOFOLLOW));
	}
	return rc;
}
