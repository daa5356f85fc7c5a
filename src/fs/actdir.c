// SPDX-License-Identifier: MIT
/*
 * actdir.c - .actions: a real directory under the state directory, shown as
 * is. Every operation on an entry under .actions comes here (ops.c, tree.c,
 * attr.c, handle.c, dir.c and rename.c dispatch on DFS_K_ACTIONS).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dinemicfs/util.h"
#include "internal.h"

/* 0 for a syscall's success, -errno for its failure. */
static inline int act_errno(int rc)
{
	return rc < 0 ? -errno : 0;
}

/* The real path of an .actions entry, or of name inside it (name may be NULL). */
static int act_path(struct dfs_fs *fs, const struct dfs_ent *e, const char *name, char *out,
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
static int act_child(const struct dfs_ent *dir, const char *name, struct dfs_ent *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = DFS_K_ACTIONS;
	int len = dir->path[0] ? snprintf(out->path, sizeof(out->path), "%s/%s", dir->path, name)
			       : snprintf(out->path, sizeof(out->path), "%s", name);
	return len < 0 || (size_t)len >= sizeof(out->path) ? -ENAMETOOLONG : 0;
}

/* .actions holds listeners and one level of per-model directories. */
static bool act_depth_ok(const struct dfs_ent *dir)
{
	return strchr(dir->path, '/') == NULL;
}

/* chmod, truncate and utimes of a file in .actions; owners are left alone. */
int act_setattr(struct dfs_fs *fs, const struct dfs_ent *e, int fd, const struct stat *attr,
		int to_set)
{
	char real[PATH_MAX];
	int rc = act_path(fs, e, NULL, real, sizeof(real));

	if (rc == 0 && (to_set & FUSE_SET_ATTR_MODE))
		rc = act_errno(chmod(real, attr->st_mode & 07777));
	if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		rc = act_errno(fd >= 0 ? ftruncate(fd, attr->st_size)
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
		rc = act_errno(utimensat(AT_FDCWD, real, tv, AT_SYMLINK_NOFOLLOW));
	}
	return rc;
}

/* ---- the operations ---------------------------------------------------------- */

int act_lookup(struct dfs_fs *fs, const struct dfs_ent *dir, const char *name,
	       struct dfs_ent *out)
{
	char real[PATH_MAX];
	struct stat st;
	int rc = act_path(fs, dir, name, real, sizeof(real));
	if (rc == 0)
		rc = act_errno(lstat(real, &st));
	if (rc == 0)
		rc = act_child(dir, name, out);
	return rc;
}

int act_stat(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *e, struct stat *st)
{
	char real[PATH_MAX];
	int rc = act_path(fs, e, NULL, real, sizeof(real));
	if (rc == 0)
		rc = act_errno(lstat(real, st));
	if (rc < 0)
		return rc;
	st->st_ino = ino;
	if (fs->opts.read_only)
		st->st_mode &= ~(mode_t)0222;
	return 0;
}

int act_open_check(struct dfs_fs *fs, const struct dfs_ent *ent, bool writing, char *real,
		   size_t reallen)
{
	struct stat st;
	int rc = act_path(fs, ent, NULL, real, reallen);
	if (rc == 0 && writing && fs->opts.read_only)
		rc = -EROFS;
	if (rc == 0)
		rc = act_errno(lstat(real, &st));
	if (rc == 0 && S_ISDIR(st.st_mode))
		rc = -EISDIR;
	return rc;
}

int act_open(const char *real, struct fuse_file_info *fi, struct fh *h)
{
	h->fd = open(real, (fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY)) | O_CLOEXEC | O_NOFOLLOW);
	if (h->fd < 0)
		return -errno;
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->noflush = 1;
	return 0;
}

ssize_t act_read(const struct fh *h, size_t size, off_t off, uint8_t **out)
{
	*out = malloc(size ? size : 1);
	if (!*out)
		return -ENOMEM;
	ssize_t got = pread(h->fd, *out, size, off);
	return got < 0 ? -errno : got;
}

ssize_t act_write(const struct fh *h, const char *buf, size_t size, off_t off)
{
	ssize_t w = pwrite(h->fd, buf, size, off);
	return w < 0 ? -errno : w;
}

int act_fsync(const struct fh *h, int datasync)
{
	return (datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0 ? -errno : 0;
}

int act_mkdir(struct dfs_fs *fs, const struct dfs_ent *dir, const char *name, mode_t mode,
	      struct dfs_ent *ent)
{
	char real[PATH_MAX];
	int rc = fs->opts.read_only ? -EROFS : act_depth_ok(dir) ? 0 : -EPERM;
	if (rc == 0)
		rc = dfs_name_check(name, strlen(name));
	if (rc == 0)
		rc = act_path(fs, dir, name, real, sizeof(real));
	if (rc == 0)
		rc = act_errno(mkdir(real, mode & 07777));
	if (rc == 0)
		rc = act_child(dir, name, ent);
	return rc;
}

int act_create(struct dfs_fs *fs, const struct dfs_ent *dir, const char *name, mode_t mode,
	       struct dfs_ent *ent)
{
	char real[PATH_MAX];
	int rc = act_child(dir, name, ent);
	if (rc == 0)
		rc = act_path(fs, dir, name, real, sizeof(real));
	int fd = rc == 0 ? open(real, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
				mode & 07777)
			 : -1;
	if (rc == 0 && fd < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	return rc;
}

int act_unlink(struct dfs_fs *fs, const struct dfs_ent *ent)
{
	char real[PATH_MAX];
	int rc = act_path(fs, ent, NULL, real, sizeof(real));
	if (rc == 0)
		rc = act_errno(unlink(real));
	return rc;
}

int act_rmdir(struct dfs_fs *fs, const struct dfs_ent *ent)
{
	char real[PATH_MAX];
	int rc = ent->path[0] ? act_path(fs, ent, NULL, real, sizeof(real)) : -EPERM;
	if (rc == 0)
		rc = act_errno(rmdir(real));
	return rc;
}

int act_rename(struct dfs_fs *fs, const struct dfs_ent *src, const struct dfs_ent *newdir,
	       const char *newname, unsigned int flags, struct dfs_ent *moved)
{
	char from[PATH_MAX], to[PATH_MAX];
	if (src->kind != DFS_K_ACTIONS || newdir->kind != DFS_K_ACTIONS || !src->path[0])
		return -EXDEV;
	int rc = act_path(fs, src, NULL, from, sizeof(from));
	if (rc == 0)
		rc = act_path(fs, newdir, newname, to, sizeof(to));
	if (rc == 0)
		rc = act_errno(renameat2(AT_FDCWD, from, AT_FDCWD, to, flags));
	if (rc == 0)
		rc = act_child(newdir, newname, moved);
	return rc;
}

/* The entries of a real directory under .actions. */
int act_list(struct dfs_fs *fs, const struct dfs_ent *e,
	     int (*add)(const char *name, bool is_dir, void *arg), void *arg)
{
	char real[PATH_MAX];
	int rc = act_path(fs, e, NULL, real, sizeof(real));
	DIR *dir = rc == 0 ? opendir(real) : NULL;
	struct dirent *de;

	if (rc < 0)
		return rc;
	if (!dir)
		return -errno;
	while (rc == 0 && (de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = add(de->d_name, de->d_type == DT_DIR, arg);
	}
	closedir(dir);
	return rc;
}
