// SPDX-License-Identifier: MIT
/*
 * ops.c - FUSE low-level operations: the tree of DESIGN.md over dfs_db.
 *
 * Each callback resolves inode numbers to entities (tree.c), calls the
 * file that does the work, and replies exactly once. Negative errnos
 * from below become replies here and nowhere else. A callback looks up
 * the entry; if the mirror's thread is calling, it answers through
 * mirror.c (fs_echo_*); if the entry is in .actions, through actdir.c
 * (act_*); otherwise it takes the data path: tree.c, attr.c, handle.c,
 * dir.c, rename.c. Open files follow the write rules of handle.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "dinemicfs/fs.h"
#include "dinemicfs/inode.h"
#include "dinemicfs/scratch.h"
#include "dinemicfs/util.h"
#include "internal.h"

_Static_assert(sizeof(fuse_ino_t) >= sizeof(uint64_t), "64-bit inode numbers");

static struct dfs_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* ---- callbacks ---------------------------------------------------------------- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct dfs_fs *fs = userdata;

	/* Where one write(2)'s requests may be cut: see run.c. */
	atomic_store(&fs->max_write, conn->max_write);
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Every write(2) must reach us to be judged: no writeback caching. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/*
	 * Cached pages go when an update changes them, and only then
	 * (notify.c): the kernel need not guess from sizes and times.
	 */
	if (conn->capable & FUSE_CAP_EXPLICIT_INVAL_DATA) {
		conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
		conn->want |= FUSE_CAP_EXPLICIT_INVAL_DATA;
	}
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dfs_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct dfs_ent dir, ent;
	int rc = fs_ent_of(fs, parent, &dir);

	if (rc == 0 && fs_is_mirror(fs, req)) {
		rc = fs_echo_lookup(fs, parent, &dir, name, &e);
		if (rc < 0)
			fuse_reply_err(req, -rc);
		else if (rc > 0)
			fuse_reply_entry(req, &e);
		if (rc != 0)
			return;
	}
	if (rc == 0)
		rc = fs_resolve(fs, parent, &dir, name, &ent);
	if (rc == 0)
		rc = fs_make_entry(fs, parent, name, &ent, &e);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	dfs_inodes_forget(fs_of(req)->inodes, ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct dfs_fs *fs = fs_of(req);

	for (size_t i = 0; i < count; i++)
		dfs_inodes_forget(fs->inodes, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = fs_of(req);
	struct dfs_ent ent;
	struct stat st;
	int rc = fs_ent_of(fs, ino, &ent);

	if (rc == 0)
		rc = fs_stat_ent(fs, ino, &ent, &st);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

/*
 * With allow_other, users other than the daemon's (and root) reach the
 * mount: what this node decrypts is for its own user only. The mode bits
 * say so to the kernel (attr.c); this says it again, should they be stale.
 */
static int check_reader(struct dfs_fs *fs, fuse_req_t req, fuse_ino_t ino,
			const struct dfs_ent *ent)
{
	uid_t uid = fuse_req_ctx(req)->uid;
	uint8_t flags = 0;

	if (uid == fs->uid || uid == 0)
		return 0;
	if (ent->kind == DFS_K_FIELD) {
		/* Encrypted parts, or a record that cannot be read, which may hide them. */
		int rc = fs_known_field(fs, ino, ent, &flags);
		return rc == -EIO || (rc == 0 && (flags & DFS_FIELD_FLAG_ITEMS)) ? -EACCES : 0;
	}
	return fs_held_secret(fs, ent) || fs_conflict_secret(fs, ent) ? -EACCES : 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = fs_of(req);
	struct dfs_ent ent;
	int rc = fs_ent_of(fs, ino, &ent);

	if (rc == 0 && !fs_is_mirror(fs, req))
		rc = check_reader(fs, req, ino, &ent);
	if (rc == 0 && fs_is_mirror(fs, req))
		rc = fs_echo_open(fs, ino, &ent, fi);
	else if (rc == 0)
		rc = fs_fh_open(fs, ino, &ent, fi, false);
	if (rc == 0)
		fs_fh_count_reader(fs, fi);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (fuse_reply_open(req, fi) == -ENOENT)
		fs_fh_free(fs, (struct fh *)(uintptr_t)fi->fh); /* interrupted: no release will come */
}

/*
 * Replies happen after the handle's lock is released: once the kernel has a
 * reply it may send the release that frees the handle.
 */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct dfs_fs *fs = fs_of(req);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	uint8_t *out = NULL;
	size_t n = 0;

	if (h->ent.kind == DFS_K_ACTIONS) {
		ssize_t got = act_read(h, size, off, &out);
		if (got < 0)
			fuse_reply_err(req, (int)-got);
		else
			fuse_reply_buf(req, (const char *)out, (size_t)got);
		free(out);
		return;
	}
	int rc = fs_fh_read(fs, h, size, off, &out, &n);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, (const char *)out, n);
	dfs_value_free(out);	/* of an encrypted field: secret memory */
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = fs_of(req);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	int rc = 0;

	/*
	 * Only once written: a shell's `>` closes a duplicate of the file before
	 * printf writes, and an O_TRUNC alone must not commit an empty list
	 * then. Truncation with no write commits at release.
	 */
	if (!h->echo && (h->ent.kind == DFS_K_META || h->ent.kind == DFS_K_NODE_FILE)) {
		pthread_mutex_lock(&h->lock);
		if (h->wrote)
			rc = fs_commit_meta(fs, h);
		pthread_mutex_unlock(&h->lock);
	} else if (h->ent.kind == DFS_K_FIELD) {
		/* A run of writes ends at close(2), which reports its rejection. */
		pthread_mutex_lock(&h->lock);
		rc = fs_fh_commit_run(fs, h, fuse_req_ctx(req)->pid);
		pthread_mutex_unlock(&h->lock);
		if (rc < 0)
			fs_forget_kernel_attrs(fs, ino);
	}
	fuse_reply_err(req, -rc);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct dfs_fs *fs = fs_of(req);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	bool field;
	int rc;

	if (h->echo) {
		fuse_reply_write(req, size);
		return;
	}
	if (fs->opts.read_only) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (h->ent.kind == DFS_K_ACTIONS) {
		ssize_t w = act_write(h, buf, size, off);
		if (w < 0)
			fuse_reply_err(req, (int)-w);
		else
			fuse_reply_write(req, (size_t)w);
		return;
	}
	if (fs_is_try(h)) {
		rc = fs_try_write(fs, h, buf, size, off);
		if (rc < 0)
			fuse_reply_err(req, -rc);
		else
			fuse_reply_write(req, size);
		return;
	}
	rc = fs_fh_write(fs, h, buf, size, off, &field);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		if (field)
			fs_forget_kernel_attrs(fs, ino);
	} else {
		fuse_reply_write(req, size);
	}
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = fs_of(req);
	char name[DFS_NAME_MAX + 1];
	fuse_ino_t parent = 0;
	bool dropped = fs_fh_close(fs, (struct fh *)(uintptr_t)fi->fh, &parent, name, sizeof(name));

	(void)ino;
	fuse_reply_err(req, 0);
	if (dropped && fs->se)
		fuse_lowlevel_notify_inval_entry(fs->se, parent, name, strlen(name));
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fh *h = fi ? (struct fh *)(uintptr_t)fi->fh : NULL;

	if (h && h->ent.kind == DFS_K_ACTIONS) {
		fuse_reply_err(req, -act_fsync(h, datasync));
		return;
	}
	int rc = 0;
	if (h && h->ent.kind == DFS_K_FIELD) {
		pthread_mutex_lock(&h->lock);
		rc = fs_fh_commit_run(fs_of(req), h, 0);
		pthread_mutex_unlock(&h->lock);
		if (rc < 0)
			fs_forget_kernel_attrs(fs_of(req), ino);
	}
	/* Updates are durable once committed, unless sync=relaxed. */
	if (rc == 0 && !fs_of(req)->opts.sync_strict)
		rc = dfs_store_sync(fs_of(req)->st);

	fuse_reply_err(req, -rc);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct dfs_fs *fs = fs_of(req);
	struct fh *h = fi ? (struct fh *)(uintptr_t)fi->fh : NULL;
	struct dfs_ent ent;
	struct stat st;
	int rc = fs_ent_of(fs, ino, &ent);

	if (rc == 0 && ent.kind == DFS_K_ACTIONS) {
		rc = fs->opts.read_only ? -EROFS : act_setattr(fs, &ent, h ? h->fd : -1, attr, to_set);
	} else if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		if (fs->opts.read_only) {
			rc = -EROFS;
		} else {
			if (h)
				pthread_mutex_lock(&h->lock);
			rc = fs_set_size(fs, ino, &ent, h, attr->st_size);
			if (h)
				pthread_mutex_unlock(&h->lock);
		}
	}
	/* Mode, owner and times follow from the data: accepted and left as they are. */
	if (rc == 0)
		rc = fs_stat_ent(fs, ino, &ent, &st);
	if (rc == 0 && h && h->ent.kind == DFS_K_FIELD && (h->pending_commit || h->run.pending))
		st.st_size = (off_t)h->data.len;
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

/* A new model, object or dict in dir, by the name name. */
static int make_dir(struct dfs_fs *fs, const struct dfs_ent *dir, const char *name,
		    struct dfs_ent *ent)
{
	int rc;

	memset(ent, 0, sizeof(*ent));
	strcpy(ent->model, dir->model);
	ent->obj = dir->obj;
	switch (dir->kind) {
	case DFS_K_ROOT:
		rc = dfs_db_create_model(fs->db, name);
		ent->kind = DFS_K_MODEL;
		snprintf(ent->model, sizeof(ent->model), "%s", name);
		break;
	case DFS_K_MODEL:
		rc = dfs_db_create_object(fs->db, dir->model, name, &ent->obj);
		ent->kind = DFS_K_OBJECT;
		break;
	case DFS_K_OBJECT:
		rc = fs_owned(fs, dir) ? dfs_db_create_dict(fs->db, &dir->obj, name) : -EACCES;
		ent->kind = DFS_K_DICT;
		snprintf(ent->path, sizeof(ent->path), "%s", name);
		break;
	case DFS_K_DICT:
	case DFS_K_NODE_DIR:
	case DFS_K_CONFLICTS:
		rc = -EPERM;
		break;
	default:
		rc = -ENOTDIR;
	}
	return rc;
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct dfs_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct dfs_ent dir, ent;
	int rc = fs_ent_of(fs, parent, &dir);

	if (rc == 0 && dir.kind == DFS_K_ACTIONS) {
		rc = act_mkdir(fs, &dir, name, mode, &ent);
		if (rc == 0)
			rc = fs_make_entry(fs, parent, name, &ent, &e);
		goto out;
	}
	if (rc == 0 && fs_is_mirror(fs, req)) {
		/* Already made: answer with what is there. */
		rc = fs_resolve(fs, parent, &dir, name, &ent);
		if (rc == 0)
			rc = fs_make_entry(fs, parent, name, &ent, &e);
		goto out;
	}
	if (rc == 0)
		rc = fs_check_new_name(name);
	if (rc == 0 && fs->opts.read_only)
		rc = -EROFS;
	if (rc == 0)
		rc = make_dir(fs, &dir, name, &ent);
	if (rc == 0)
		rc = fs_make_entry(fs, parent, name, &ent, &e);
out:
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct dfs_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct dfs_ent ent;

	if (fs_is_mirror(fs, req)) {
		int erc = fs_echo_create(fs, parent, name, fi, &e);
		if (erc == 0)
			fs_fh_count_reader(fs, fi);
		if (erc < 0)
			fuse_reply_err(req, -erc);
		else if (fuse_reply_create(req, &e, fi) == -ENOENT)
			fs_fh_free(fs, (struct fh *)(uintptr_t)fi->fh);
		return;
	}
	int rc = fs_new_file(fs, parent, name, mode, false, &ent);

	memset(&e, 0, sizeof(e));
	if (rc == 0) {
		e.ino = dfs_inodes_lookup(fs->inodes, parent, name, &ent);
		rc = e.ino ? 0 : -ENOMEM;
	}
	/* Open first: a new field exists (pending) from here on, so it has attributes. */
	if (rc == 0) {
		rc = fs_fh_open(fs, e.ino, &ent, fi, ent.kind == DFS_K_FIELD);
		if (rc == 0) {
			rc = fs_stat_ent(fs, e.ino, &ent, &e.attr);
			if (rc < 0)
				fs_fh_free(fs, (struct fh *)(uintptr_t)fi->fh);
		}
		if (rc < 0)
			dfs_inodes_forget(fs->inodes, e.ino, 1);
	}
	if (rc < 0) {
		if (rc != -EEXIST && ent.kind == DFS_K_SCRATCH)
			dfs_scratch_remove(fs->scratch, ent.dir, ent.name);
		fuse_reply_err(req, -rc);
		return;
	}
	e.attr_timeout = ATTR_TIMEOUT;
	e.entry_timeout = ENTRY_TIMEOUT;
	fs_fh_count_reader(fs, fi);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		struct fh *h = (struct fh *)(uintptr_t)fi->fh;
		if (h->new_counted)
			dfs_inodes_pending_new(fs->inodes, e.ino, -1);
		fs_fh_free(fs, h);
	}
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	struct dfs_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct dfs_ent ent;
	int rc = S_ISREG(mode) ? fs_new_file(fs, parent, name, mode, true, &ent) : -EPERM;

	if (rc == 0)
		rc = fs_make_entry(fs, parent, name, &ent, &e);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dfs_fs *fs = fs_of(req);
	struct dfs_ent ent;

	if (fs_is_mirror(fs, req)) {
		/* Already deleted: the kernel is told of a ghost. */
		dfs_inodes_unname(fs->inodes, parent, name);
		fuse_reply_err(req, 0);
		return;
	}
	int rc = fs_resolve_to_change(fs, parent, name, &ent);

	if (rc < 0)
		goto out;
	switch (ent.kind) {
	case DFS_K_ACTIONS:
		rc = act_unlink(fs, &ent);
		break;
	case DFS_K_FIELD:
		rc = fs_owned(fs, &ent) ? dfs_db_delete_field(fs->db, &ent.obj, ent.path) : -EACCES;
		break;
	case DFS_K_SCRATCH:
		rc = dfs_scratch_remove(fs->scratch, ent.dir, ent.name);
		break;
	case DFS_K_NODE_FILE:
		rc = fs_held_unlink(fs, &ent);
		break;
	case DFS_K_META:
		rc = fs_is_conflict(&ent) ? fs_conflict_resolve(fs, &ent, false) : -EPERM;
		break;
	case DFS_K_CONFLICTS:
		rc = -EISDIR;
		break;
	case DFS_K_MODEL:
	case DFS_K_OBJECT:
	case DFS_K_DICT:
	case DFS_K_NODE_DIR:
		rc = -EISDIR;
		break;
	default:
		rc = -EPERM;
	}
	if (rc == 0)
		dfs_inodes_unname(fs->inodes, parent, name);
out:
	fuse_reply_err(req, -rc);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dfs_fs *fs = fs_of(req);
	struct dfs_ent ent;
	char key[sizeof(ent.dir)];

	if (fs_is_mirror(fs, req)) {
		dfs_inodes_unname(fs->inodes, parent, name);
		fuse_reply_err(req, 0);
		return;
	}
	int rc = fs_resolve_to_change(fs, parent, name, &ent);

	if (rc < 0)
		goto out;
	switch (ent.kind) {
	case DFS_K_ACTIONS:
		rc = act_rmdir(fs, &ent);
		break;
	case DFS_K_MODEL:
		rc = dfs_db_remove_model(fs->db, ent.model);
		break;
	case DFS_K_OBJECT:
		rc = fs_owned(fs, &ent) ? dfs_db_remove_object(fs->db, &ent.obj) : -EACCES;
		break;
	case DFS_K_DICT:
		rc = fs_owned(fs, &ent) ? dfs_db_delete_dict(fs->db, &ent.obj, ent.path) : -EACCES;
		break;
	case DFS_K_NODE_DIR:
	case DFS_K_CONFLICTS:
		rc = -EPERM;
		break;
	default:
		rc = -ENOTDIR;
	}
	if (rc == 0) {
		dfs_ent_dir_key(&ent, key, sizeof(key));
		dfs_scratch_drop_dir(fs->scratch, key);
		dfs_inodes_unname(fs->inodes, parent, name);
	}
out:
	fuse_reply_err(req, -rc);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct dfs_fs *fs = fs_of(req);
	struct dfs_ent moved;
	int rc = fs_rename(fs, parent, name, newparent, newname, flags, &moved);

	if (rc == 0)
		dfs_inodes_rename(fs->inodes, parent, name, newparent, newname, &moved);
	fuse_reply_err(req, -rc);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = fs_of(req);
	struct dirh *d = calloc(1, sizeof(*d));
	struct dfs_ent ent;
	int rc = d ? fs_ent_of(fs, ino, &ent) : -ENOMEM;

	if (d)
		fs_open_track(fs, &d->link, true);
	if (rc == 0)
		rc = fs_dir_fill(fs, d, ino, &ent);
	if (rc < 0) {
		fs_dirh_free(fs, d);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi) == -ENOENT)
		fs_dirh_free(fs, d);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t used = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = off < 0 ? 0 : (size_t)off; i < d->n; i++) {
		struct stat st = { .st_ino = d->v[i].ino,
				   .st_mode = d->v[i].is_dir ? S_IFDIR : S_IFREG };
		size_t need = fuse_add_direntry(req, buf + used, size - used, d->v[i].name, &st,
						(off_t)(i + 1));
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_dirh_free(fs_of(req), (struct dirh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct dfs_fs *fs = fs_of(req);
	struct statvfs sv;

	/* Space is the state directory's; names follow the contract. */
	if (!fs->state_dir || statvfs(fs->state_dir, &sv) < 0) {
		memset(&sv, 0, sizeof(sv));
		sv.f_bsize = 4096;
		sv.f_frsize = 4096;
	}
	sv.f_namemax = DFS_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

static void op_destroy(void *userdata)
{
	(void)userdata;
}

const struct fuse_lowlevel_ops dfs_fs_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.mkdir = op_mkdir,
	.mknod = op_mknod,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.create = op_create,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
};
