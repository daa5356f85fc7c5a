// SPDX-License-Identifier: MIT
/*
 * powershim.c - test tool: an LD_PRELOAD shim that records, for the files
 * under one directory, what each write would lose if the power went before
 * the file's next fsync (see powercut.h). After a kill -9 of the process,
 * powercut(1) below takes the unsynced changes back.
 *
 *   POWERCUT_DIR=/abs/state POWERCUT_JOURNAL=/abs/journal \
 *     LD_PRELOAD=powershim.so dinemicfs -f /abs/state MOUNT
 *
 * Interposed: open, openat, creat (and their 64 names), write, pwrite,
 * ftruncate, truncate, fsync, fdatasync, sync, syncfs, close, dup2, dup3,
 * unlink, unlinkat, rename, renameat. What LevelDB and the daemon call on
 * their state directory is among them (checked with nm -D and strace);
 * writes by other means (writev, stdio, mmap) reach the file unrecorded, as
 * if synced, which can only make the test easier to pass, never fail it.
 * Without POWERCUT_DIR the shim passes everything through.
 */
/* Both the plain and the 64 names are defined here: no renaming by the headers. */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "powercut.h"

#define MAX_FDS 65536

/* The next definition of name: libc's (or a sanitizer's, which then calls libc's). */
#define REAL(name) (resolve(), real_##name)

static int (*real_openat)(int, const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_truncate)(const char *, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static void (*real_sync)(void);
static int (*real_syncfs)(int);
static int (*real_close)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_renameat)(int, const char *, int, const char *);

#define NEXT(name) (real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name))

static pthread_once_t resolved = PTHREAD_ONCE_INIT;

static void resolve_all(void)
{
	NEXT(openat);
	NEXT(write);
	NEXT(pwrite);
	NEXT(ftruncate);
	NEXT(truncate);
	NEXT(fsync);
	NEXT(fdatasync);
	NEXT(sync);
	NEXT(syncfs);
	NEXT(close);
	NEXT(dup2);
	NEXT(dup3);
	NEXT(unlinkat);
	NEXT(renameat);
}

static void resolve(void)
{
	pthread_once(&resolved, resolve_all);
}

/* A tracked descriptor: a regular file under the directory, by identity. */
struct tracked {
	atomic_bool on;
	dev_t dev;
	ino_t ino;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct tracked fds[MAX_FDS];
static char root[PATH_MAX];
static size_t rootlen;
static int jfd = -1;

__attribute__((constructor)) static void init(void)
{
	const char *dir = getenv("POWERCUT_DIR"), *journal = getenv("POWERCUT_JOURNAL");

	if (!dir || !journal)
		return;
	/* The directory may not exist yet (the daemon makes it): then taken as given. */
	if (!realpath(dir, root)) {
		if (dir[0] != '/' || strlen(dir) >= sizeof(root)) {
			fprintf(stderr, "powershim: POWERCUT_DIR must be an absolute path\n");
			abort();
		}
		strcpy(root, dir);
	}
	rootlen = strlen(root);
	while (rootlen > 1 && root[rootlen - 1] == '/')
		root[--rootlen] = '\0';
	jfd = REAL(openat)(AT_FDCWD, journal, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (jfd < 0) {
		fprintf(stderr, "powershim: %s: %s\n", journal, strerror(errno));
		abort();
	}
	/* Far from the numbers the process uses, so that nothing it does hits it. */
	int hi = fcntl(jfd, F_DUPFD_CLOEXEC, 900);
	if (hi >= 0) {
		REAL(close)(jfd);
		jfd = hi;
	}
}

static bool active(void)
{
	return jfd >= 0;
}

/* The descriptor names a regular file under root. */
static bool under_root(int fd, const struct stat *st)
{
	char link[64], path[PATH_MAX];
	ssize_t n;

	if (!S_ISREG(st->st_mode))
		return false;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 0)
		return false;
	path[n] = '\0';
	return (size_t)n > rootlen && memcmp(path, root, rootlen) == 0 && path[rootlen] == '/';
}

/*
 * The path may name something under root (read as text: a path with "." or
 * ".." in it may, too). Everything else passes through without the lock:
 * the daemon opens files in its own mount, and a request it must answer
 * itself must never wait for a lock that one of its own threads holds.
 */
static bool maybe_under_root(int dirfd, const char *path)
{
	char base[PATH_MAX], full[2 * PATH_MAX], link[64];
	ssize_t n;

	if (path[0] == '/') {
		snprintf(full, sizeof(full), "%s", path);
	} else {
		if (dirfd == AT_FDCWD) {
			if (!getcwd(base, sizeof(base)))
				return true;
		} else {
			snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
			n = readlink(link, base, sizeof(base) - 1);
			if (n < 0)
				return true;
			base[n] = '\0';
		}
		snprintf(full, sizeof(full), "%s/%s", base, path);
	}
	if (strstr(full, "/./") || strstr(full, "/../"))
		return true;
	return strncmp(full, root, rootlen) == 0 && (full[rootlen] == '/' || full[rootlen] == '\0');
}

static void journal_out(const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = REAL(write)(jfd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "powershim: cannot write the journal: %s\n", strerror(errno));
			abort();
		}
		c += w;
		n -= (size_t)w;
	}
}

/* Reads len bytes at off of the file behind fd, also when fd is write-only. */
static char *read_old(int fd, uint64_t off, uint64_t len)
{
	char link[64], *buf = malloc(len ? len : 1);
	int rfd = -1, use = fd;
	uint64_t got = 0;

	if (!buf)
		abort();
	if ((fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		rfd = REAL(openat)(AT_FDCWD, link, O_RDONLY | O_CLOEXEC);
		use = rfd;
	}
	while (use >= 0 && got < len) {
		ssize_t r = pread(use, buf + got, len - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (uint64_t)r;
	}
	if (rfd >= 0)
		REAL(close)(rfd);
	if (got < len) {
		fprintf(stderr, "powershim: cannot read what a write replaces: %s\n", strerror(errno));
		abort();
	}
	return buf;
}

/* Appends one record; for WRITE and TRUNC, the old bytes from off, read through fd. */
static void note(uint32_t type, const struct stat *st, int fd, uint64_t off, uint64_t len)
{
	struct pj_rec r = {
		.magic = PJ_MAGIC,
		.type = type,
		.dev = st ? st->st_dev : 0,
		.ino = st ? st->st_ino : 0,
		.off = off,
		.len = len,
		.oldsize = st ? (uint64_t)st->st_size : 0,
	};
	char *old = NULL;

	if ((type == PJ_WRITE || type == PJ_TRUNC) && off < r.oldsize) {
		r.saved = r.oldsize - off;
		if (type == PJ_WRITE && len < r.saved)
			r.saved = len;
		old = read_old(fd, off, r.saved);
	}
	journal_out(&r, sizeof(r));
	if (r.saved)
		journal_out(old, r.saved);
	free(old);
}

/* The descriptor is tracked and still the same file (stat filled in); else untracks it. */
static bool tracked(int fd, struct stat *st)
{
	if (fd < 0 || fd >= MAX_FDS || !fds[fd].on)
		return false;
	if (fstat(fd, st) == 0 && st->st_dev == fds[fd].dev && st->st_ino == fds[fd].ino)
		return true;
	fds[fd].on = false;
	return false;
}

static void track(int fd, struct stat *st)
{
	if (fd < 0 || fd >= MAX_FDS)
		return;
	fds[fd].on = false;
	if (fstat(fd, st) == 0 && under_root(fd, st)) {
		fds[fd].dev = st->st_dev;
		fds[fd].ino = st->st_ino;
		fds[fd].on = true;
	}
}

static void untrack(int fd)
{
	if (fd >= 0 && fd < MAX_FDS)
		fds[fd].on = false;
}

/* Before an open that may create or truncate: does the file exist, and what does O_TRUNC lose? */
static bool before_open(int dirfd, const char *path, int flags)
{
	struct stat st;
	int pfd = REAL(openat)(dirfd, path,
			       O_RDONLY | O_NONBLOCK | O_CLOEXEC | (flags & O_NOFOLLOW));

	if (pfd < 0)
		return errno != ENOENT;
	if ((flags & O_TRUNC) && fstat(pfd, &st) == 0 && under_root(pfd, &st) && st.st_size > 0)
		note(PJ_TRUNC, &st, pfd, 0, 0);
	REAL(close)(pfd);
	return true;
}

static int do_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	struct stat st;
	bool existed = true;
	int fd, err;

	if (!active() || !maybe_under_root(dirfd, path)) {
		fd = REAL(openat)(dirfd, path, flags, mode);
		/* a number that was a tracked file's, closed by a call not wrapped here */
		if (fd >= 0)
			untrack(fd);
		return fd;
	}
	pthread_mutex_lock(&mu);
	if (flags & (O_CREAT | O_TRUNC))
		existed = before_open(dirfd, path, flags);
	fd = REAL(openat)(dirfd, path, flags, mode);
	err = errno;
	if (fd >= 0) {
		track(fd, &st);
		if (!existed && fds[fd].on)
			note(PJ_NEW, &st, fd, 0, 0);
	}
	pthread_mutex_unlock(&mu);
	errno = err;
	return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return do_openat(AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return do_openat(AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return do_openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return do_openat(dirfd, path, flags, mode);
}

int creat(const char *path, mode_t mode)
{
	return do_openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode)
{
	return do_openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

/* A write at off (-1: at the descriptor's position, or the end under O_APPEND). */
static ssize_t do_write(int fd, const void *buf, size_t n, off_t off)
{
	struct stat st;
	ssize_t w;
	int err;

	pthread_mutex_lock(&mu);
	if (active() && tracked(fd, &st)) {
		off_t at = off;
		if (at < 0)
			at = (fcntl(fd, F_GETFL) & O_APPEND) ? st.st_size : lseek(fd, 0, SEEK_CUR);
		if (at >= 0)
			note(PJ_WRITE, &st, fd, (uint64_t)at, n);
	}
	w = off < 0 ? REAL(write)(fd, buf, n) : REAL(pwrite)(fd, buf, n, off);
	err = errno;
	pthread_mutex_unlock(&mu);
	errno = err;
	return w;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	if (!active() || fd < 0 || fd >= MAX_FDS || !fds[fd].on)
		return REAL(write)(fd, buf, n);
	return do_write(fd, buf, n, -1);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (!active() || fd < 0 || fd >= MAX_FDS || !fds[fd].on || off < 0)
		return REAL(pwrite)(fd, buf, n, off);
	return do_write(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	return pwrite(fd, buf, n, (off_t)off);
}

int ftruncate(int fd, off_t len)
{
	struct stat st;
	int rc, err;

	if (!active() || fd < 0 || fd >= MAX_FDS || !fds[fd].on)
		return REAL(ftruncate)(fd, len);
	pthread_mutex_lock(&mu);
	if (len >= 0 && tracked(fd, &st))
		note(PJ_TRUNC, &st, fd, (uint64_t)len, 0);
	rc = REAL(ftruncate)(fd, len);
	err = errno;
	pthread_mutex_unlock(&mu);
	errno = err;
	return rc;
}

int ftruncate64(int fd, off64_t len)
{
	return ftruncate(fd, (off_t)len);
}

int truncate(const char *path, off_t len)
{
	struct stat st;
	int rc, err, pfd = -1;

	if (!active() || !maybe_under_root(AT_FDCWD, path))
		return REAL(truncate)(path, len);
	pthread_mutex_lock(&mu);
	if (len >= 0)
		pfd = REAL(openat)(AT_FDCWD, path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (pfd >= 0) {
		if (fstat(pfd, &st) == 0 && under_root(pfd, &st))
			note(PJ_TRUNC, &st, pfd, (uint64_t)len, 0);
		REAL(close)(pfd);
	}
	rc = REAL(truncate)(path, len);
	err = errno;
	pthread_mutex_unlock(&mu);
	errno = err;
	return rc;
}

int truncate64(const char *path, off64_t len)
{
	return truncate(path, (off_t)len);
}

/* What came before an fsync or fdatasync of the file is on the "disk". */
static void synced(int fd)
{
	struct stat st;

	if (!active() || fd < 0 || fd >= MAX_FDS || !fds[fd].on)
		return;
	pthread_mutex_lock(&mu);
	if (tracked(fd, &st))
		note(PJ_SYNC, &st, fd, 0, 0);
	pthread_mutex_unlock(&mu);
}

int fsync(int fd)
{
	synced(fd);
	return REAL(fsync)(fd);
}

int fdatasync(int fd)
{
	synced(fd);
	return REAL(fdatasync)(fd);
}

static void synced_all(void)
{
	pthread_mutex_lock(&mu);
	if (active())
		note(PJ_SYNCALL, NULL, -1, 0, 0);
	pthread_mutex_unlock(&mu);
}

void sync(void)
{
	synced_all();
	REAL(sync)();
}

int syncfs(int fd)
{
	synced_all();
	return REAL(syncfs)(fd);
}

int close(int fd)
{
	if (active() && fd == jfd) {
		errno = EBADF;
		return -1;
	}
	untrack(fd);
	return REAL(close)(fd);
}

int dup2(int old, int new)
{
	if (active() && new == jfd) {
		errno = EBUSY;
		return -1;
	}
	untrack(new);
	return REAL(dup2)(old, new);
}

int dup3(int old, int new, int flags)
{
	if (active() && new == jfd) {
		errno = EBUSY;
		return -1;
	}
	untrack(new);
	return REAL(dup3)(old, new, flags);
}

/* The file at path, when this removes its last name: forgotten (its number may come again). */
static void about_to_go(int dirfd, const char *path, struct stat *st, bool *goes)
{
	*goes = fstatat(dirfd, path, st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st->st_mode) &&
		st->st_nlink == 1;
}

int unlinkat(int dirfd, const char *path, int flags)
{
	struct stat st;
	bool goes = false;
	int rc, err;

	if (!active() || !maybe_under_root(dirfd, path))
		return REAL(unlinkat)(dirfd, path, flags);
	pthread_mutex_lock(&mu);
	if (!(flags & AT_REMOVEDIR))
		about_to_go(dirfd, path, &st, &goes);
	rc = REAL(unlinkat)(dirfd, path, flags);
	err = errno;
	if (rc == 0 && goes)
		note(PJ_GONE, &st, -1, 0, 0);
	pthread_mutex_unlock(&mu);
	errno = err;
	return rc;
}

int unlink(const char *path)
{
	return unlinkat(AT_FDCWD, path, 0);
}

int renameat(int olddir, const char *old, int newdir, const char *new)
{
	struct stat st, from;
	bool goes = false;
	int rc, err;

	if (!active() || !maybe_under_root(newdir, new))
		return REAL(renameat)(olddir, old, newdir, new);
	pthread_mutex_lock(&mu);
	about_to_go(newdir, new, &st, &goes);
	/* A rename onto another name of the same file removes nothing. */
	if (goes && fstatat(olddir, old, &from, AT_SYMLINK_NOFOLLOW) == 0 &&
	    from.st_dev == st.st_dev && from.st_ino == st.st_ino)
		goes = false;
	rc = REAL(renameat)(olddir, old, newdir, new);
	err = errno;
	if (rc == 0 && goes)
		note(PJ_GONE, &st, -1, 0, 0);
	pthread_mutex_unlock(&mu);
	errno = err;
	return rc;
}

int rename(const char *old, const char *new)
{
	return renameat(AT_FDCWD, old, AT_FDCWD, new);
}
