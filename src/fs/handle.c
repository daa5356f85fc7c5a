// SPDX-License-Identifier: MIT
/*
 * handle.c - open files: what a handle holds, how its writes commit, and
 * what closing it does.
 *
 * Field writes: a handle keeps the value as it knows it. Writes join a run
 * that commits as one update of the whole resulting value (O_APPEND: one
 * appended item) when a write(2) ends it, or at close(2) or fsync(2); run.c
 * says which write ends a run. Until then every other reader sees the
 * stored value. Opening with O_TRUNC, creating a file and ftruncate(2) on a
 * handle change only the handle's value: it is committed with the next
 * run, or on release when no write was attempted after it. So `: > f` and
 * `truncate -s 0 f` commit the empty value, and editors that truncate and
 * then write commit one update.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dinemicfs/log.h"
#include "internal.h"

/* Reads the value a handle starts from; a truncating handle starts loaded. */
static int fh_load(struct dfs_fs *fs, struct fh *h)
{
	uint8_t *val;
	size_t len;

	if (h->loaded)
		return 0;
	dfs_buf_reset(&h->data);
	/* Another handle created it and has not written yet. */
	if (dfs_inodes_pending_new(fs->inodes, h->ino, 0) > 0) {
		h->loaded = true;
		return 0;
	}
	int rc = dfs_db_read_field(fs->db, &h->ent.obj, h->ent.path, &val, &len);
	if (rc < 0)
		return rc;
	/* An encrypted field's clear value stays in secret memory. */
	if (dfs_secret_owns(val))
		(void)dfs_buf_make_secret(&h->data);	/* failed: checked below */
	dfs_buf_add(&h->data, val, len);
	dfs_value_free(val);
	rc = dfs_buf_ok(&h->data);
	if (rc == 0)
		h->loaded = true;
	return rc;
}

void fs_open_track(struct dfs_fs *fs, struct open_link *l, bool dir)
{
	l->dir = dir;
	l->prev = NULL;
	pthread_mutex_lock(&fs->open_lock);
	l->next = fs->open;
	if (l->next)
		l->next->prev = l;
	fs->open = l;
	pthread_mutex_unlock(&fs->open_lock);
}

void fs_open_untrack(struct dfs_fs *fs, struct open_link *l)
{
	pthread_mutex_lock(&fs->open_lock);
	if (l->prev)
		l->prev->next = l->next;
	else
		fs->open = l->next;
	if (l->next)
		l->next->prev = l->prev;
	pthread_mutex_unlock(&fs->open_lock);
}

void fs_fh_free(struct dfs_fs *fs, struct fh *h)
{
	if (!h)
		return;
	fs_open_untrack(fs, &h->link);
	if (h->reader)
		dfs_inodes_readers(fs->inodes, h->ino, -1);
	dfs_buf_release(&h->data);
	dfs_buf_release(&h->item);
	if (h->fd >= 0)
		close(h->fd);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* Before the open's reply: a handle that may read can bring pages into the kernel's cache. */
void fs_fh_count_reader(struct dfs_fs *fs, struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;

	if ((fi->flags & O_ACCMODE) == O_WRONLY || h->reader)
		return;
	h->reader = true;
	dfs_inodes_readers(fs->inodes, h->ino, 1);
}

struct fh *fs_fh_new(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *ent)
{
	struct fh *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	pthread_mutex_init(&h->lock, NULL);
	h->ino = ino;
	h->ent = *ent;
	h->fd = -1;
	dfs_buf_init(&h->data);
	dfs_buf_init(&h->item);
	fs_open_track(fs, &h->link, false);
	return h;
}

/* An .actions file: a handle on the real file. */
static int open_actions(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *ent,
			struct fuse_file_info *fi, bool writing)
{
	char real[PATH_MAX];
	int rc = act_open_check(fs, ent, writing, real, sizeof(real));
	if (rc < 0)
		return rc;
	struct fh *h = fs_fh_new(fs, ino, ent);
	if (!h)
		return -ENOMEM;
	rc = act_open(real, fi, h);
	if (rc < 0)
		fs_fh_free(fs, h);
	return rc;
}

/*
 * Whether ent may be opened for fi->flags: a field or scratch file, or a
 * generated file that takes writes here. For a field, *created turns true
 * when the open will create it.
 */
static int open_check(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *ent,
		      struct fuse_file_info *fi, bool writing, bool *created)
{
	int acc = fi->flags & O_ACCMODE;

	switch (ent->kind) {
	case DFS_K_FIELD:
	case DFS_K_SCRATCH:
		break;
	case DFS_K_META:
	case DFS_K_NODE_FILE:
		if (writing && fs->opts.read_only)
			return -EROFS;
		if (writing && !dfs_fs_meta_writable(fs, ent))
			return ent->meta == DFS_META_AUTHORIZED || ent->meta == DFS_META_ENCRYPTED
				       ? -EACCES
				       : -EPERM;
		break;
	default:
		return -EISDIR;
	}
	if (writing && fs->opts.read_only)
		return -EROFS;
	if (writing && ent->kind == DFS_K_FIELD && !fs_owned(fs, ent))
		return -EACCES;
	if (ent->kind == DFS_K_FIELD && !*created) {
		struct dfs_field_rec f;
		uint8_t flags;
		/* A reader asks once between updates (known.c). */
		int frc = writing ? dfs_db_get_field(fs->db, &ent->obj, ent->path, &f)
				  : fs_known_field(fs, ino, ent, &flags);
		/* A corrupt value cannot be read or extended; it can be replaced. */
		if (frc == -EIO && !((fi->flags & O_TRUNC) && acc != O_RDONLY))
			return -EIO;
		/*
		 * Writing a field that is not stored (yet): another handle created
		 * it and has not written, or its creation was refused a moment
		 * ago. This handle creates it, as O_CREAT asked.
		 */
		if (frc == -ENOENT && writing)
			*created = true;
		/*
		 * Deleted, by another node too, where the kernel still knows the
		 * name: gone, unless another handle created it and has not written.
		 */
		if (frc == -ENOENT && !writing && dfs_inodes_pending_new(fs->inodes, ino, 0) <= 0)
			return -ENOENT;
		/*
		 * An encrypted value this node cannot open: its mode has no r, so
		 * the kernel refuses the open to anyone but root; root's read(2)
		 * fails with EACCES.
		 */
	}
	return 0;
}

/* Writable generated files commit their whole content per write(2), as fields do. */
static int open_generated(struct dfs_fs *fs, const struct dfs_ent *ent, struct fuse_file_info *fi,
			  struct fh *h)
{
	int acc = fi->flags & O_ACCMODE;
	bool trunc = (fi->flags & O_TRUNC) && acc != O_RDONLY;
	int rc = trunc ? 0 : dfs_fs_generate(fs, ent, &h->data);

	if (rc < 0)
		return rc;
	h->loaded = true;
	h->append = fi->flags & O_APPEND;
	h->pending_commit = trunc;
	fi->direct_io = 1;
	return 0;
}

static void open_field(struct dfs_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi,
		       struct fh *h, bool writing, bool created)
{
	int acc = fi->flags & O_ACCMODE;

	/*
	 * A write waits for the listeners, which may read this very field.
	 * Through the page cache the kernel would hold the written pages
	 * locked and those reads would wait for the write: write around it.
	 * A reader keeps what the kernel cached: every update that changes
	 * the value drops it first (notify.c), so a repeated read costs an
	 * open and no read request.
	 */
	if (writing)
		fi->direct_io = 1;
	else
		h->cached = true;
	h->append = fi->flags & O_APPEND;
	h->created = created;
	if (created) {
		dfs_inodes_pending_new(fs->inodes, ino, 1);
		h->new_counted = true;
		h->pending_commit = true;
		h->loaded = true;
	}
	if ((fi->flags & O_TRUNC) && acc != O_RDONLY) {
		h->replace = true;
		h->pending_commit = true;
		h->loaded = true;
	}
	h->run.inplace = writing && !created && !h->replace && !h->append;
	/* What is written to an encrypted field is clear until sealed: secret memory. */
	if (writing && dfs_db_field_encrypted(fs->db, h->ent.model, h->ent.path) > 0) {
		(void)dfs_buf_make_secret(&h->data);	/* empty: cannot fail */
		(void)dfs_buf_make_secret(&h->item);
	}
}

int fs_fh_open(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *ent,
	       struct fuse_file_info *fi, bool created)
{
	int acc = fi->flags & O_ACCMODE;
	bool writing = acc != O_RDONLY || (fi->flags & O_TRUNC);

	if (ent->kind == DFS_K_ACTIONS)
		return open_actions(fs, ino, ent, fi, writing);
	int rc = open_check(fs, ino, ent, fi, writing, &created);
	if (rc < 0)
		return rc;

	struct fh *h = fs_fh_new(fs, ino, ent);
	if (!h)
		return -ENOMEM;
	if (ent->kind == DFS_K_META || ent->kind == DFS_K_NODE_FILE) {
		rc = open_generated(fs, ent, fi, h);
		if (rc < 0) {
			fs_fh_free(fs, h);
			return rc;
		}
	} else if (ent->kind == DFS_K_SCRATCH) {
		if ((fi->flags & O_TRUNC) && acc != O_RDONLY)
			dfs_scratch_truncate(fs->scratch, ent->dir, ent->name, 0, fs->opts.max_value);
	} else {
		open_field(fs, ino, fi, h, writing, created);
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	/* Generated files and written fields commit at close: spare every other close a round trip. */
	fi->noflush = ent->kind != DFS_K_META && ent->kind != DFS_K_NODE_FILE &&
		      !(ent->kind == DFS_K_FIELD && writing);
	fi->keep_cache = h->cached;
	return 0;
}


/*
 * Writes (buf, size) at off into b, at its end when appending, growing it
 * with zeros up to off: up to max_value, past which -EFBIG.
 */
static int buf_put(struct dfs_fs *fs, struct dfs_buf *b, bool append, const char *buf,
		   size_t size, off_t off)
{
	if (append)
		off = (off_t)b->len;
	if (off < 0 || (size_t)off > fs->opts.max_value || size > fs->opts.max_value - (size_t)off)
		return -EFBIG;
	size_t end = (size_t)off + size;
	if (end > b->len) {
		size_t old = b->len;
		if (dfs_buf_reserve(b, end - old) < 0)
			return -ENOMEM;
		memset(b->data + old, 0, end - old);
		b->len = end;
	}
	if (size)
		memcpy(b->data + off, buf, size);
	return 0;
}

/* The handle's content after a write: a new buffer, which replaces the handle's once accepted. */
static int next_value(struct dfs_fs *fs, const struct fh *h, const char *buf, size_t size,
		      off_t off, struct dfs_buf *next)
{
	dfs_buf_init(next);
	dfs_buf_add(next, h->data.data, h->data.len);
	int rc = dfs_buf_ok(next);
	if (rc == 0)
		rc = buf_put(fs, next, h->append, buf, size, off);
	if (rc < 0)
		dfs_buf_release(next);
	return rc;
}

/* A run that cannot commit leaves the handle where it began: truncated, or at the stored value. */
static void run_drop(struct fh *h)
{
	h->run.pending = false;
	dfs_buf_reset(&h->item);
	dfs_buf_reset(&h->data);
	h->loaded = h->replace;
}

static void run_committed(struct dfs_fs *fs, struct fh *h)
{
	h->run.pending = false;
	h->pending_commit = false;
	h->committed = true;
	h->replace = false;
	if (h->new_counted) {
		dfs_inodes_pending_new(fs->inodes, h->ino, -1);
		h->new_counted = false;
	}
}

/* Commits what the handle holds: its appended item, else its value. */
static int run_commit(struct dfs_fs *fs, struct fh *h)
{
	int rc;

	if (h->append && !h->replace) {
		rc = dfs_db_append_field(fs->db, &h->ent.obj, h->ent.path, h->item.data,
					 h->item.len);
		dfs_buf_reset(&h->item);
		h->loaded = false;
	} else {
		rc = dfs_db_set_field(fs->db, &h->ent.obj, h->ent.path, h->data.data, h->data.len);
	}
	if (rc == 0)
		run_committed(fs, h);
	else
		run_drop(h);
	return rc;
}

/*
 * Adds a write to the handle's value, in place (a run that fails is
 * dropped whole), or to the item an O_APPEND handle is writing.
 */
static int run_add(struct dfs_fs *fs, struct fh *h, const char *buf, size_t size, off_t off)
{
	if (h->append && !h->replace) {
		if (size > fs->opts.max_value - h->item.len)
			return -EFBIG;
		dfs_buf_add(&h->item, buf, size);
		return dfs_buf_ok(&h->item);
	}
	int rc = fh_load(fs, h);
	return rc < 0 ? rc : buf_put(fs, &h->data, h->append, buf, size, off);
}

/* One write(2) request on a field: it joins the run, and commits it when it ends it. */
static int write_field(struct dfs_fs *fs, struct fh *h, const char *buf, size_t size, off_t off)
{
	bool now = fs_run_commits_now(&h->run, size, atomic_load(&fs->max_write));

	h->wrote = true;
	h->pending_commit = false;
	int rc = run_add(fs, h, buf, size, off);
	if (rc < 0) {
		/* Past max_value or out of memory: nothing of this run is kept. */
		run_drop(h);
		return rc;
	}
	h->run.pending = true;
	return now ? run_commit(fs, h) : 0;
}

int fs_fh_commit_run(struct dfs_fs *fs, struct fh *h, pid_t closer)
{
	if (h->ent.kind != DFS_K_FIELD || h->echo || !h->run.pending)
		return 0;
	if (fs_run_writer_killed(closer)) {
		dfs_log(DFS_LOG_INFO, "%s: %s: writer %d was killed: its unfinished value is dropped",
			h->ent.model, h->ent.path, (int)closer);
		run_drop(h);
		return 0;
	}
	return run_commit(fs, h);
}

/*
 * One write(2) on .authorized, .encrypted or .node/as: the content so far is
 * checked now, so a bad line fails this write(2); it commits as one update
 * when the file is closed (flush), however many writes made it. Committing
 * each line of `printf 'a\nb\n' >` would drop b for a moment, and dropping
 * a reader of encrypted fields starts a new data key.
 */
static int write_meta(struct dfs_fs *fs, struct fh *h, const char *buf, size_t size, off_t off)
{
	struct dfs_buf next;
	int rc = next_value(fs, h, buf, size, off, &next);
	if (rc < 0)
		return rc;
	rc = dfs_fs_meta_set(fs, &h->ent, next.data, next.len, false);
	if (rc == 0) {
		h->pending_commit = h->wrote = true;
		dfs_buf_release(&h->data);
		h->data = next;
	} else {
		dfs_buf_release(&next);
	}
	return rc;
}

/*
 * What a reader's request returns goes to the shared page cache: always
 * the stored value, never an older one this handle read before an update
 * dropped the cache. The record read before the value says which one the
 * handle holds (a newer value read after it only costs a reload).
 */
static void fh_seen(struct dfs_fs *fs, struct fh *h)
{
	if (dfs_db_get_field(fs->db, &h->ent.obj, h->ent.path, &h->seen) < 0)
		memset(&h->seen, 0, sizeof(h->seen));
}

/* Whether the value h holds is still the stored one. */
static bool fh_current(struct dfs_fs *fs, const struct fh *h)
{
	struct dfs_field_rec f;

	if (!h->loaded || !h->seen.clock || dfs_db_get_field(fs->db, &h->ent.obj, h->ent.path, &f) < 0)
		return false;
	return f.alive && f.clock == h->seen.clock && f.mtime == h->seen.mtime &&
	       f.size == h->seen.size && f.flags == h->seen.flags &&
	       memcmp(f.signer.b, h->seen.signer.b, sizeof(f.signer.b)) == 0;
}

/*
 * One read(2): a copy of the bytes at off, in *out (malloc'ed, or NULL when
 * none), their count in *n.
 */
int fs_fh_read(struct dfs_fs *fs, struct fh *h, size_t size, off_t off, uint8_t **out, size_t *n)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = 0;

	pthread_mutex_lock(&h->lock);
	if (h->ent.kind == DFS_K_SCRATCH) {
		rc = dfs_scratch_get(fs->scratch, h->ent.dir, h->ent.name, &data, &len);
	} else {
		/* A read from the start sees the latest value, unless this handle changed it. */
		if (h->ent.kind == DFS_K_FIELD && !h->wrote && !h->pending_commit &&
		    (off == 0 || (h->cached && !fh_current(fs, h))))
			h->loaded = false;
		if (h->cached && !h->loaded)
			fh_seen(fs, h);
		rc = fh_load(fs, h);
		data = h->data.data;
		len = h->data.len;
	}
	if (rc == 0 && off >= 0 && (size_t)off < len) {
		*n = len - (size_t)off < size ? len - (size_t)off : size;
		*out = h->data.secret && data == h->data.data ? dfs_secret_alloc(*n) : malloc(*n);
		if (*out)
			memcpy(*out, data + off, *n);
		else
			rc = -ENOMEM;
	}
	if (h->ent.kind == DFS_K_SCRATCH)
		free(data);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* One write(2) on a scratch file, a field or a generated file; *field: it was a field. */
int fs_fh_write(struct dfs_fs *fs, struct fh *h, const char *buf, size_t size, off_t off,
		bool *field)
{
	int rc;

	pthread_mutex_lock(&h->lock);
	if (h->ent.kind == DFS_K_SCRATCH)
		rc = dfs_scratch_write(fs->scratch, h->ent.dir, h->ent.name, off, buf, size,
				       fs->opts.max_value);
	else if (h->ent.kind == DFS_K_FIELD)
		rc = write_field(fs, h, buf, size, off);
	else
		rc = write_meta(fs, h, buf, size, off);
	*field = h->ent.kind == DFS_K_FIELD;
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* Commits a generated file's pending content; the error reaches close(2). */
int fs_commit_meta(struct dfs_fs *fs, struct fh *h)
{
	if (!h->pending_commit)
		return 0;
	h->pending_commit = false;
	int rc = dfs_fs_meta_set(fs, &h->ent, h->data.data, h->data.len, true);
	if (rc < 0)
		dfs_log_errno(DFS_LOG_WARNING, -rc, "committing %s on close",
			      h->ent.kind == DFS_K_NODE_FILE	     ? ".node/as"
			      : h->ent.meta == DFS_META_ENCRYPTED ? ".encrypted"
								   : ".authorized");
	return rc;
}


/*
 * What closing h does: commit what is pending and free it. Returns whether
 * a file created through h was dropped, naming it in parent and name.
 */
bool fs_fh_close(struct dfs_fs *fs, struct fh *h, fuse_ino_t *parent, char *name,
		     size_t size)
{
	fuse_ino_t ino = h->ino;
	bool dropped = false;

	if (h->ent.kind == DFS_K_FIELD && !h->echo) {
		/* Written with no flush: the kernel was going away. */
		if (h->run.pending) {
			int rc = run_commit(fs, h);
			if (rc < 0)
				dfs_log_errno(DFS_LOG_WARNING, -rc, "%s: %s: committing on release",
					      h->ent.model, h->ent.path);
		}
		/* `: > f`, `touch new`, `truncate -s 0 f`: no write came after. */
		if (h->pending_commit) {
			int rc = dfs_db_set_field(fs->db, &h->ent.obj, h->ent.path, h->data.data,
						  h->data.len);
			if (rc < 0)
				dfs_log_errno(DFS_LOG_WARNING, -rc, "%s: %s: committing on close",
					      h->ent.model, h->ent.path);
			else
				h->committed = true;
		}
		if (h->new_counted)
			dfs_inodes_pending_new(fs->inodes, ino, -1);
		/* The kernel truncated its size at open; the value did not change after all. */
		if ((h->replace || h->created) && !h->committed)
			fs_forget_kernel_attrs(fs, ino);
		/* A file created here whose writes were all refused never existed. */
		dropped = h->created && !h->committed &&
			  dfs_inodes_name_of(fs->inodes, ino, parent, name, size) == 0;
		if (dropped)
			dfs_inodes_unname(fs->inodes, *parent, name);
	}
	if (h->ent.kind == DFS_K_META || h->ent.kind == DFS_K_NODE_FILE)
		fs_commit_meta(fs, h);
	fs_fh_free(fs, h);
	return dropped;
}


int fs_set_size(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *ent, struct fh *h,
		    off_t size)
{
	uint8_t *val = NULL;
	size_t len = 0;
	int rc;

	if (size < 0)
		return -EINVAL;
	if ((uint64_t)size > fs->opts.max_value)
		return -EFBIG;
	if (ent->kind == DFS_K_SCRATCH)
		return dfs_scratch_truncate(fs->scratch, ent->dir, ent->name, (size_t)size,
					    fs->opts.max_value);
	if (ent->kind != DFS_K_FIELD)
		return ent->kind == DFS_K_META || ent->kind == DFS_K_NODE_FILE ? -EPERM : -EISDIR;
	if (!fs_owned(fs, ent))
		return -EACCES;
	if (h && h->ent.kind == DFS_K_FIELD) {
		/* ftruncate(2): the handle's value changes; a write or release commits it. */
		rc = fh_load(fs, h);
		if (rc < 0)
			return rc;
		size_t old = h->data.len;
		/* rsync --inplace truncates to the length it wrote: no change. */
		if ((size_t)size == old)
			return 0;
		if ((size_t)size > old) {
			rc = dfs_buf_reserve(&h->data, (size_t)size - old);
			if (rc < 0)
				return rc;
			memset(h->data.data + old, 0, (size_t)size - old);
		}
		h->data.len = (size_t)size;
		h->replace = true;
		h->pending_commit = true;
		return 0;
	}
	rc = dfs_db_read_field(fs->db, &ent->obj, ent->path, &val, &len);
	if (rc < 0)
		return rc;
	if ((size_t)size == len) {
		dfs_value_free(val);
		return 0; /* nothing changes: no update */
	}
	bool secret = dfs_secret_owns(val);
	uint8_t *v = secret ? dfs_secret_alloc((size_t)size + 1) : malloc((size_t)size + 1);
	if (!v) {
		dfs_value_free(val);
		return -ENOMEM;
	}
	memset(v, 0, (size_t)size + 1);
	memcpy(v, val, len < (size_t)size ? len : (size_t)size);
	dfs_value_free(val);
	rc = dfs_db_set_field(fs->db, &ent->obj, ent->path, v, (size_t)size);
	dfs_value_free(v);
	return rc;
}

