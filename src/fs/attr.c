// SPDX-License-Identifier: MIT
/*
 * attr.c - attributes: mode, size and times of every entry, from the stored
 * records (data), the generated content (dot-files) or the real file
 * (.actions); and the entry a lookup replies with.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dinemicfs/hlc.h"
#include "internal.h"

static void ts_of_clock(uint64_t clock, struct timespec *ts)
{
	uint64_t ms = dfs_hlc_ms(clock);

	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000;
}

#define FIELD_BLKSIZE (1 << 20)

/* A field: its stored value (an open file's uncommitted writes are not), or one created here. */
static int stat_field(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *e, struct stat *st,
		      struct timespec *mtime)
{
	struct dfs_field_rec f;
	uint64_t size;
	bool readable;

	st->st_mode = S_IFREG | (fs_owned(fs, e) ? 0644 : 0444);
	int rc = dfs_db_stat_field(fs->db, &e->obj, e->path, &f, &size, &readable);
	if (rc == 0) {
		ts_of_clock(f.mtime, mtime);
		st->st_size = (off_t)size;
		/* An encrypted value this node cannot open: no r. */
		if (!readable)
			st->st_mode &= ~(mode_t)0444;
		/* One it can open: only for this user, as check_reader() in ops.c says again. */
		if (f.flags & DFS_FIELD_FLAG_ITEMS)
			st->st_mode &= ~(mode_t)0077;
	} else if ((rc == -ENOENT && dfs_inodes_pending_new(fs->inodes, ino, 0) > 0) ||
		   rc == -EIO) {
		clock_gettime(CLOCK_REALTIME, mtime);
		rc = 0;
	}
	return rc;
}

/* Models, objects, dicts and fields: mode and times from the stored records. */
static int stat_data(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *e, struct stat *st,
		     struct timespec *mtime)
{
	struct dfs_object_rec o;
	struct dfs_model_rec m;
	struct dfs_field_rec f;
	int rc;

	switch (e->kind) {
	case DFS_K_MODEL:
		rc = dfs_db_get_model(fs->db, e->model, &m);
		st->st_mode = S_IFDIR | 0755;
		if (rc == 0)
			ts_of_clock(m.mtime, mtime);
		return rc;
	case DFS_K_OBJECT:
		rc = dfs_db_get_object_by_key(fs->db, &e->obj, &o);
		st->st_mode = S_IFDIR | (fs_owned(fs, e) ? 0755 : 0555);
		if (rc == 0)
			ts_of_clock(o.mtime, mtime);
		return rc;
	case DFS_K_DICT:
		rc = dfs_db_get_field(fs->db, &e->obj, e->path, &f);
		st->st_mode = S_IFDIR | (fs_owned(fs, e) ? 0755 : 0555);
		if (rc == 0)
			ts_of_clock(f.mtime, mtime);
		return rc;
	default: /* FIELD */
		return stat_field(fs, ino, e, st, mtime);
	}
}

/* Dot-files and .node files: size from the generated content. */
static int stat_generated(struct dfs_fs *fs, const struct dfs_ent *e, struct stat *st,
			  struct timespec *mtime)
{
	struct dfs_object_rec o;
	struct dfs_model_rec m;
	struct dfs_buf content;
	int rc;

	dfs_buf_init(&content);
	rc = dfs_fs_generate(fs, e, &content);
	st->st_mode = S_IFREG | (dfs_fs_meta_writable(fs, e) ? 0644 : 0444);
	st->st_size = (off_t)content.len;
	dfs_buf_release(&content);
	if (rc == 0 && e->meta == DFS_META_ENCRYPTED &&
	    dfs_db_get_model(fs->db, e->model, &m) == 0)
		ts_of_clock(m.mtime, mtime);
	else if (rc == 0 && e->kind == DFS_K_META &&
		 dfs_db_get_object_by_key(fs->db, &e->obj, &o) == 0)
		ts_of_clock(o.mtime, mtime);
	else if (e->kind == DFS_K_NODE_FILE)
		clock_gettime(CLOCK_REALTIME, mtime);
	return rc;
}

int fs_stat_ent(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *e, struct stat *st)
{
	struct timespec mtime = fs->started;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = 4096;

	switch (e->kind) {
	case DFS_K_ROOT:
		st->st_mode = S_IFDIR | 0755;
		break;
	case DFS_K_NODE_DIR:
	case DFS_K_CONFLICTS:	/* rm works in .conflicts where the object may be written */
		st->st_mode = S_IFDIR | (e->kind == DFS_K_CONFLICTS && fs_owned(fs, e) ? 0755 : 0555);
		break;
	case DFS_K_MODEL:
	case DFS_K_OBJECT:
	case DFS_K_DICT:
	case DFS_K_FIELD:
		rc = stat_data(fs, ino, e, st, &mtime);
		/*
		 * cp, cat, C stdio and Python size their writes from this: a
		 * value up to it goes out in one write(2), a longer one in
		 * whole blocks that run.c joins.
		 */
		if (e->kind == DFS_K_FIELD)
			st->st_blksize = FIELD_BLKSIZE;
		break;
	case DFS_K_META:
	case DFS_K_NODE_FILE:
		rc = fs_is_conflict(e) ? fs_conflict_stat(fs, e, st, &mtime)
				       : stat_generated(fs, e, st, &mtime);
		break;
	case DFS_K_ACTIONS:
		return act_stat(fs, ino, e, st);
	case DFS_K_SCRATCH: {
		size_t size;
		rc = dfs_scratch_stat(fs->scratch, e->dir, e->name, &size, &mtime);
		st->st_mode = S_IFREG | 0644;
		st->st_size = (off_t)size;
		break;
	}
	default:
		rc = -ENOENT;
	}
	if (rc < 0)
		return rc;
	if (fs->opts.read_only)
		st->st_mode &= ~(mode_t)0222;
	fs_held_mode(fs, e, st);
	st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_mtim = mtime;
	st->st_ctim = mtime;
	st->st_atim = mtime;
	return 0;
}

/* Looks (parent, name) up, counts the lookup, and fills e for a reply. */
int fs_make_entry(struct dfs_fs *fs, fuse_ino_t parent, const char *name,
		  const struct dfs_ent *ent, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	fuse_ino_t ino = dfs_inodes_lookup(fs->inodes, parent, name, ent);
	if (!ino)
		return -ENOMEM;
	int rc = fs_stat_ent(fs, ino, ent, &e->attr);
	if (rc < 0) {
		dfs_inodes_forget(fs->inodes, ino, 1);
		return rc;
	}
	e->ino = ino;
	e->attr_timeout = ATTR_TIMEOUT;
	e->entry_timeout = ENTRY_TIMEOUT;
	return 0;
}
