// SPDX-License-Identifier: MIT
/* memfs.c - minimal in-memory FUSE filesystem: the FUSE-overhead baseline for scripts/bench */

/*
 * The fuse_loop_cfg_*() object is the 3.12 API: built with FUSE_USE_VERSION
 * 35, as the daemon once was, fuse_session_loop_mt() is
 * fuse_session_loop_mt_32(), which reads that object as the old two-field
 * struct and so ignores the thread settings. --old-loop makes that call, to
 * show what it cost (see scripts/bench); the daemon now builds with 312.
 *
 * --like-daemon serves the way the daemon does (src/node.c, src/fs/ops.c,
 * src/fs/handle.c): its loop's thread settings, -o default_permissions, a
 * flush callback, and per open direct_io for writing, noflush for the
 * others and no keep_cache. Without it memfs keeps its first settings: 16
 * threads, 8 idle, no flush callback (so the kernel stops sending FLUSH
 * after the first ENOSYS) and the page cache on every open.
 */
#undef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

/* Same caching as the daemon (src/fs/internal.h). */
#define TIMEOUT 1.0
#define ROOT_INO FUSE_ROOT_ID
#define FIRST_INO 2

/*
 * A regular file in the root directory. It lives while it has a name, a
 * kernel lookup count or an open handle; its inode number is never reused.
 */
struct mfile {
	char *name;		/* NULL once unlinked */
	char *data;
	size_t size, cap;
	struct timespec mtime;
	uint64_t nlookup;
	unsigned nopen;
};

struct memfs {
	bool like_daemon;	/* set before mounting */
	pthread_mutex_t lock;	/* protects everything below and every file */
	struct mfile **files;	/* files[ino - FIRST_INO], NULL once freed */
	size_t n, cap;
};

static struct memfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct mfile *file_of(struct memfs *m, fuse_ino_t ino)
{
	if (ino < FIRST_INO || ino - FIRST_INO >= m->n)
		return NULL;
	return m->files[ino - FIRST_INO];
}

static fuse_ino_t find(struct memfs *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->files[i] && m->files[i]->name && strcmp(m->files[i]->name, name) == 0)
			return i + FIRST_INO;
	return 0;
}

static void maybe_free(struct memfs *m, fuse_ino_t ino)
{
	struct mfile *f = file_of(m, ino);

	if (!f || f->name || f->nlookup || f->nopen)
		return;
	free(f->data);
	free(f);
	m->files[ino - FIRST_INO] = NULL;
}

static int resize(struct mfile *f, size_t size)
{
	if (size > f->cap) {
		size_t cap = f->cap ? f->cap : 64;
		while (cap < size)
			cap *= 2;
		char *d = realloc(f->data, cap);
		if (!d)
			return -ENOMEM;
		f->data = d;
		f->cap = cap;
	}
	if (size > f->size)
		memset(f->data + f->size, 0, size - f->size);
	f->size = size;
	clock_gettime(CLOCK_REALTIME, &f->mtime);
	return 0;
}

static void fill_stat(fuse_ino_t ino, const struct mfile *f, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	if (!f) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return;
	}
	st->st_mode = S_IFREG | 0644;
	st->st_nlink = f->name ? 1 : 0;
	st->st_size = (off_t)f->size;
	st->st_blocks = (blkcnt_t)((f->size + 511) / 512);
	st->st_mtim = st->st_ctim = st->st_atim = f->mtime;
}

/* Called with the lock held: counts one kernel lookup of ino. */
static void entry_of(fuse_ino_t ino, struct mfile *f, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->attr_timeout = TIMEOUT;
	e->entry_timeout = TIMEOUT;
	f->nlookup++;
	fill_stat(ino, f, &e->attr);
}

/* Under --like-daemon, the open flags handle.c sets on a field's handle. */
static void open_flags(const struct memfs *m, struct fuse_file_info *fi)
{
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);

	if (!m->like_daemon)
		return;
	fi->direct_io = writing;
	fi->noflush = !writing;
	fi->keep_cache = 0;
}

static void mem_init(void *userdata, struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static void mem_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct memfs *m = fs_of(req);
	struct fuse_entry_param e;
	fuse_ino_t ino;

	if (parent != ROOT_INO) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	pthread_mutex_lock(&m->lock);
	ino = find(m, name);
	if (ino)
		entry_of(ino, file_of(m, ino), &e);
	pthread_mutex_unlock(&m->lock);
	if (ino)
		fuse_reply_entry(req, &e);
	else
		fuse_reply_err(req, ENOENT);
}

static void forget_one(struct memfs *m, fuse_ino_t ino, uint64_t nlookup)
{
	struct mfile *f = file_of(m, ino);

	if (!f)
		return;
	f->nlookup = nlookup < f->nlookup ? f->nlookup - nlookup : 0;
	maybe_free(m, ino);
}

/* Without forget_multi, libfuse splits BATCH_FORGET into calls of this. */
static void mem_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct memfs *m = fs_of(req);

	pthread_mutex_lock(&m->lock);
	forget_one(m, ino, nlookup);
	pthread_mutex_unlock(&m->lock);
	fuse_reply_none(req);
}

static void mem_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct memfs *m = fs_of(req);
	struct mfile *f;
	struct stat st;

	pthread_mutex_lock(&m->lock);
	f = file_of(m, ino);
	if (f || ino == ROOT_INO)
		fill_stat(ino, f, &st);
	pthread_mutex_unlock(&m->lock);
	if (f || ino == ROOT_INO)
		fuse_reply_attr(req, &st, TIMEOUT);
	else
		fuse_reply_err(req, ENOENT);
}

static void mem_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			struct fuse_file_info *fi)
{
	struct memfs *m = fs_of(req);
	struct mfile *f;
	struct stat st;
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	f = file_of(m, ino);
	if (!f)
		rc = ino == ROOT_INO ? -EPERM : -ENOENT;
	else if (to_set & FUSE_SET_ATTR_SIZE)
		rc = attr->st_size < 0 ? -EINVAL : resize(f, (size_t)attr->st_size);
	if (rc == 0)
		fill_stat(ino, f, &st);
	pthread_mutex_unlock(&m->lock);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, TIMEOUT);
}

static bool add_entry(fuse_req_t req, char *buf, size_t size, size_t *used, const char *name,
		      fuse_ino_t ino, mode_t mode, off_t next)
{
	struct stat st = { .st_ino = ino, .st_mode = mode };
	size_t n = fuse_add_direntry(req, buf + *used, size - *used, name, &st, next);

	if (n > size - *used)
		return false;
	*used += n;
	return true;
}

/* Offsets: 1 after ".", 2 after "..", slot + 3 after the file in that slot. */
static void mem_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	struct memfs *m = fs_of(req);
	char *buf = malloc(size);
	size_t used = 0;
	bool more = true;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off < 1)
		more = add_entry(req, buf, size, &used, ".", ROOT_INO, S_IFDIR, 1);
	if (more && off < 2)
		more = add_entry(req, buf, size, &used, "..", ROOT_INO, S_IFDIR, 2);
	pthread_mutex_lock(&m->lock);
	for (size_t i = off > 2 ? (size_t)off - 2 : 0; more && i < m->n; i++)
		if (m->files[i] && m->files[i]->name)
			more = add_entry(req, buf, size, &used, m->files[i]->name, i + FIRST_INO,
					 S_IFREG, (off_t)i + 3);
	pthread_mutex_unlock(&m->lock);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* Called with the lock held. */
static fuse_ino_t new_file(struct memfs *m, const char *name)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct mfile **v = realloc(m->files, cap * sizeof(*v));
		if (!v)
			return 0;
		m->files = v;
		m->cap = cap;
	}
	struct mfile *f = calloc(1, sizeof(*f));
	if (!f || !(f->name = strdup(name))) {
		free(f);
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &f->mtime);
	m->files[m->n++] = f;
	return m->n - 1 + FIRST_INO;
}

static void mem_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	struct memfs *m = fs_of(req);
	struct fuse_entry_param e;
	fuse_ino_t ino;
	int rc = 0;

	if (parent != ROOT_INO) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	pthread_mutex_lock(&m->lock);
	ino = find(m, name);
	if (ino && (fi->flags & O_EXCL))
		rc = -EEXIST;
	else if (ino && (fi->flags & O_TRUNC))
		rc = resize(file_of(m, ino), 0);
	else if (!ino && !(ino = new_file(m, name)))
		rc = -ENOMEM;
	if (rc == 0) {
		entry_of(ino, file_of(m, ino), &e);
		file_of(m, ino)->nopen++;
	}
	pthread_mutex_unlock(&m->lock);
	open_flags(m, fi);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_create(req, &e, fi);
}

static void mem_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct memfs *m = fs_of(req);
	struct mfile *f;
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	f = file_of(m, ino);
	if (!f)
		rc = ino == ROOT_INO ? -EISDIR : -ENOENT;
	else if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY)
		rc = resize(f, 0);
	if (rc == 0)
		f->nopen++;
	pthread_mutex_unlock(&m->lock);
	open_flags(m, fi);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_open(req, fi);
}

static void mem_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct memfs *m = fs_of(req);
	struct mfile *f;
	char *copy = NULL;
	size_t n = 0;

	pthread_mutex_lock(&m->lock);
	f = file_of(m, ino);
	if (f && (size_t)off < f->size) {
		n = f->size - (size_t)off < size ? f->size - (size_t)off : size;
		copy = malloc(n);
		if (copy)
			memcpy(copy, f->data + off, n);
	}
	pthread_mutex_unlock(&m->lock);
	if (n && !copy)
		fuse_reply_err(req, ENOMEM);
	else
		fuse_reply_buf(req, copy, copy ? n : 0);
	free(copy);
}

static void mem_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct memfs *m = fs_of(req);
	struct mfile *f;
	int rc = -ENOENT;

	pthread_mutex_lock(&m->lock);
	f = file_of(m, ino);
	if (f) {
		rc = (size_t)off + size > f->size ? resize(f, (size_t)off + size) : 0;
		if (rc == 0) {
			memcpy(f->data + off, buf, size);
			clock_gettime(CLOCK_REALTIME, &f->mtime);
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

static void mem_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct memfs *m = fs_of(req);
	fuse_ino_t ino;

	pthread_mutex_lock(&m->lock);
	ino = parent == ROOT_INO ? find(m, name) : 0;
	if (ino) {
		struct mfile *f = file_of(m, ino);
		free(f->name);
		f->name = NULL;
		maybe_free(m, ino);
	}
	pthread_mutex_unlock(&m->lock);
	fuse_reply_err(req, ino ? 0 : ENOENT);
}

static void mem_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct memfs *m = fs_of(req);
	struct mfile *f;

	pthread_mutex_lock(&m->lock);
	f = file_of(m, ino);
	if (f && f->nopen) {
		f->nopen--;
		maybe_free(m, ino);
	}
	pthread_mutex_unlock(&m->lock);
	fuse_reply_err(req, 0);
}

/* Only under --like-daemon: the daemon commits a written field here. */
static void mem_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops mem_ops = {
	.init = mem_init,
	.lookup = mem_lookup,
	.forget = mem_forget,
	.getattr = mem_getattr,
	.setattr = mem_setattr,
	.readdir = mem_readdir,
	.create = mem_create,
	.open = mem_open,
	.read = mem_read,
	.write = mem_write,
	.unlink = mem_unlink,
	.release = mem_release,
};

/* The symbol a FUSE_USE_VERSION 32..311 build calls as fuse_session_loop_mt(). */
int fuse_session_loop_mt_32(struct fuse_session *se, struct fuse_loop_config *config);

/* Takes --old-loop and --like-daemon off the front of argv. */
static void parse_flags(int *argc, char ***argv, bool *old_loop, struct memfs *m)
{
	while (*argc > 1) {
		const char *a = (*argv)[1];
		if (strcmp(a, "--old-loop") == 0)
			*old_loop = true;
		else if (strcmp(a, "--like-daemon") == 0)
			m->like_daemon = true;
		else
			return;
		(*argv)[1] = (*argv)[0];
		(*argc)--;
		(*argv)++;
	}
}

int main(int argc, char **argv)
{
	bool old_loop = false;
	struct fuse_args args;
	struct fuse_cmdline_opts opts;
	struct fuse_loop_config *loop;
	struct fuse_session *se;
	struct memfs m = { .lock = PTHREAD_MUTEX_INITIALIZER };
	int status = 1;

	parse_flags(&argc, &argv, &old_loop, &m);
	args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	if (fuse_parse_cmdline(&args, &opts) != 0)
		return 2;
	if (opts.show_help || !opts.mountpoint) {
		printf("usage: %s [--old-loop] [--like-daemon] [-f] MOUNTPOINT\n", argv[0]);
		status = opts.show_help ? 0 : 2;
		goto out_free_args;
	}
	/* As src/node.c: the kernel checks the mode bits. */
	if (m.like_daemon && fuse_opt_add_arg(&args, "-odefault_permissions") < 0)
		goto out_free_args;
	struct fuse_lowlevel_ops ops = mem_ops;
	if (m.like_daemon)
		ops.flush = mem_flush;	/* without it the kernel stops sending FLUSH */
	se = fuse_session_new(&args, &ops, sizeof(ops), &m);
	if (!se)
		goto out_free_args;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, opts.mountpoint) != 0)
		goto out_remove_handlers;
	fuse_daemonize(opts.foreground);
	loop = fuse_loop_cfg_create();
	if (!loop)
		goto out_unmount;
	fuse_loop_cfg_set_clone_fd(loop, 0);
	/* The daemon's: 48 and 16 (src/node.c, node_serve). */
	fuse_loop_cfg_set_max_threads(loop, m.like_daemon ? 48 : 16);
	fuse_loop_cfg_set_idle_threads(loop, m.like_daemon ? 16 : 8);
	if (old_loop)
		status = fuse_session_loop_mt_32(se, loop) == 0 ? 0 : 1;
	else
		status = fuse_session_loop_mt(se, loop) == 0 ? 0 : 1;
	fuse_loop_cfg_destroy(loop);
out_unmount:
	fuse_session_unmount(se);
out_remove_handlers:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
out_free_args:
	for (size_t i = 0; i < m.n; i++) {
		if (m.files[i]) {
			free(m.files[i]->name);
			free(m.files[i]->data);
			free(m.files[i]);
		}
	}
	free(m.files);
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return status;
}
