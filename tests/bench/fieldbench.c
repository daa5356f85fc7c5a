// SPDX-License-Identifier: MIT
/* fieldbench.c - load generator for scripts/bench: small-file writes, reads, fsyncs, fills, puts,
 * LevelDB synced puts */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <leveldb/c.h>

#define VALUE_LEN 32

extern char **environ;

enum mode { M_WRITE, M_READ, M_FSYNC, M_FILL, M_SPAWN, M_LDBPUT, M_HOT };

struct bench {
	enum mode mode;
	const char *dir;
	int threads;
	long objects, fields;		/* fill mode */
	unsigned long times;		/* hot mode: writes of each thread's field */
	leveldb_t *ldb;			/* ldbput mode */
	size_t record;			/* ldbput mode: bytes of key and value */
	pthread_barrier_t start;
	atomic_bool stop;
};

struct worker {
	struct bench *b;
	pthread_t tid;
	int id;
	unsigned long ops;
	int err;			/* errno of the first failure, 0 if none */
	char what[PATH_MAX + 32];	/* what failed */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A 32-byte value that differs on every call, so no layer can skip a write. */
static void make_value(char *v, unsigned long n)
{
	snprintf(v, VALUE_LEN + 1, "%031lu\n", n);
}

static int fail(struct worker *w, const char *op, const char *path)
{
	w->err = errno ? errno : EIO;
	snprintf(w->what, sizeof(w->what), "%s %s", op, path);
	return -1;
}

/* One field write as a shell would do it: open with O_TRUNC, write, close. */
static int write_file(struct worker *w, const char *path, const char *v, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		return fail(w, "open", path);
	errno = 0;
	if (write(fd, v, len) != (ssize_t)len) {
		fail(w, "write", path);
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return fail(w, "close", path);
	return 0;
}

static int read_file(struct worker *w, const char *path)
{
	char buf[2 * VALUE_LEN];
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return fail(w, "open", path);
	errno = 0;
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n != VALUE_LEN) {
		fail(w, "read", path);
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return fail(w, "close", path);
	return 0;
}

static int fsync_loop(struct worker *w, const char *path)
{
	char v[VALUE_LEN + 1];
	int fd = open(path, O_WRONLY | O_CREAT, 0644);

	if (fd < 0)
		fail(w, "open", path);
	pthread_barrier_wait(&w->b->start);
	if (fd < 0)
		return -1;
	while (!atomic_load_explicit(&w->b->stop, memory_order_relaxed)) {
		make_value(v, w->ops);
		errno = 0;
		if (pwrite(fd, v, VALUE_LEN, 0) != VALUE_LEN) {
			fail(w, "pwrite", path);
			break;
		}
		if (fdatasync(fd) < 0) {
			fail(w, "fdatasync", path);
			break;
		}
		w->ops++;
	}
	close(fd);
	return w->err ? -1 : 0;
}

/*
 * Spawn mode: the floor of a listener, PROGRAM started with posix_spawn(3)
 * and waited for, over and over; each must exit 0.
 */
static int spawn_loop(struct worker *w, const char *prog)
{
	char *argv[] = { (char *)prog, NULL };

	pthread_barrier_wait(&w->b->start);
	while (!atomic_load_explicit(&w->b->stop, memory_order_relaxed)) {
		pid_t pid;
		int status;
		errno = posix_spawn(&pid, prog, NULL, NULL, argv, environ);
		if (errno)
			return fail(w, "posix_spawn", prog);
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR)
				return fail(w, "waitpid", prog);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			errno = ECHILD;
			return fail(w, "exit status of", prog);
		}
		w->ops++;
	}
	return 0;
}

/*
 * LevelDB synced puts: each a put of one record (a 40-byte key, the rest
 * value) with sync set, as a sync=strict store writes an update's batch.
 */
static int ldbput_loop(struct worker *w)
{
	struct bench *b = w->b;
	leveldb_writeoptions_t *wo = leveldb_writeoptions_create();
	char key[41], *val = calloc(1, b->record);
	size_t klen = sizeof(key) - 1;

	leveldb_writeoptions_set_sync(wo, 1);
	pthread_barrier_wait(&b->start);
	if (!val) {
		errno = ENOMEM;
		fail(w, "calloc", b->dir);
	}
	while (val && !atomic_load_explicit(&b->stop, memory_order_relaxed)) {
		char *err = NULL;
		snprintf(key, sizeof(key), "%04d%036lu", w->id, w->ops);
		memcpy(val, key, klen);
		leveldb_put(b->ldb, wo, key, klen, val, b->record - klen, &err);
		if (err) {
			errno = EIO;
			fail(w, "leveldb_put", err);
			leveldb_free(err);
			break;
		}
		w->ops++;
	}
	free(val);
	leveldb_writeoptions_destroy(wo);
	return w->err ? -1 : 0;
}

/* Opens (creating) the LevelDB store of ldbput mode in b->dir. */
static int ldb_open(struct bench *b)
{
	leveldb_options_t *o = leveldb_options_create();
	char *err = NULL;

	leveldb_options_set_create_if_missing(o, 1);
	b->ldb = leveldb_open(o, b->dir, &err);
	leveldb_options_destroy(o);
	if (err) {
		fprintf(stderr, "fieldbench: leveldb_open %s: %s\n", b->dir, err);
		leveldb_free(err);
		return -1;
	}
	return 0;
}

/* Fill mode: objects id, id + threads, ... each get `fields` fields. */
static int fill_loop(struct worker *w)
{
	struct bench *b = w->b;
	char path[PATH_MAX], v[VALUE_LEN + 1];

	for (long o = w->id; o < b->objects; o += b->threads) {
		snprintf(path, sizeof(path), "%s/o%ld", b->dir, o);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return fail(w, "mkdir", path);
		for (long f = 0; f < b->fields; f++) {
			snprintf(path, sizeof(path), "%s/o%ld/f%ld", b->dir, o, f);
			make_value(v, (unsigned long)(o * b->fields + f));
			if (write_file(w, path, v, VALUE_LEN) < 0)
				return -1;
			w->ops++;
		}
	}
	return 0;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	struct bench *b = w->b;
	char path[PATH_MAX], v[VALUE_LEN + 1];

	if (b->mode == M_FILL) {
		pthread_barrier_wait(&b->start);
		fill_loop(w);
		return NULL;
	}
	if (b->mode == M_SPAWN) {
		spawn_loop(w, b->dir);
		return NULL;
	}
	if (b->mode == M_LDBPUT) {
		ldbput_loop(w);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/f%d", b->dir, w->id);
	if (b->mode == M_FSYNC) {
		fsync_loop(w, path);
		return NULL;
	}
	/* Every file starts with a 32-byte value before the clock starts. */
	make_value(v, 0);
	int rc = write_file(w, path, v, VALUE_LEN);
	pthread_barrier_wait(&b->start);
	while (rc == 0 && !atomic_load_explicit(&b->stop, memory_order_relaxed)) {
		if (b->mode == M_HOT && w->ops >= b->times)
			break;
		if (b->mode == M_READ) {
			rc = read_file(w, path);
		} else {
			make_value(v, w->ops + 1);
			rc = write_file(w, path, v, VALUE_LEN);
		}
		if (rc == 0)
			w->ops++;
	}
	return NULL;
}

/*
 * Put mode: PATH's new content, read from stdin, goes out in one write(2)
 * after an untimed open(O_WRONLY | O_TRUNC). Prints the milliseconds that the
 * write and the close took: a generated file such as .authorized commits
 * there, once, where a shell's printf would write (and commit) line by line.
 */
static int put(const char *path)
{
	static char buf[64 * 1024];
	size_t len = 0;
	ssize_t n;
	double t0;

	while ((n = read(STDIN_FILENO, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	if (n < 0) {
		perror("fieldbench: stdin");
		return 1;
	}
	if (len == sizeof(buf)) {
		fprintf(stderr, "fieldbench: put: more than %zu bytes on stdin\n", sizeof(buf) - 1);
		return 2;
	}
	int fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0) {
		fprintf(stderr, "fieldbench: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	t0 = now();
	errno = 0;
	if (write(fd, buf, len) != (ssize_t)len) {
		fprintf(stderr, "fieldbench: write %s: %s\n", path, strerror(errno ? errno : EIO));
		close(fd);
		return 1;
	}
	if (close(fd) < 0) {
		fprintf(stderr, "fieldbench: close %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("%.3f\n", (now() - t0) * 1e3);
	return 0;
}

static long number(const char *s, long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || end == s || *end || n < min || n > max)
		return -1;
	return n;
}

static void usage(void)
{
	fprintf(stderr, "usage: fieldbench write|read|fsync DIR THREADS SECONDS\n"
			"       fieldbench spawn PROGRAM THREADS SECONDS\n"
			"       fieldbench ldbput DIR THREADS SECONDS [RECORD_BYTES]\n"
			"       fieldbench fill DIR OBJECTS FIELDS [THREADS]\n"
			"       fieldbench hot DIR THREADS TIMES (each thread rewrites its field)\n"
			"       fieldbench put FILE < CONTENT\n"
			"Prints operations per second (fill, hot: fields written per second;\n"
			"spawn: PROGRAM runs, each waited for;\n"
			"put: milliseconds of one write(2) of CONTENT and the close).\n");
}

int main(int argc, char **argv)
{
	struct bench b = { 0 };
	struct worker *ws;
	double seconds = 0, t0, t1;
	unsigned long total = 0;
	int status = 0;

	if (argc == 3 && strcmp(argv[1], "put") == 0)
		return put(argv[2]);
	if (argc < 5) {
		usage();
		return 2;
	}
	if (strcmp(argv[1], "write") == 0)
		b.mode = M_WRITE;
	else if (strcmp(argv[1], "read") == 0)
		b.mode = M_READ;
	else if (strcmp(argv[1], "fsync") == 0)
		b.mode = M_FSYNC;
	else if (strcmp(argv[1], "fill") == 0)
		b.mode = M_FILL;
	else if (strcmp(argv[1], "spawn") == 0)
		b.mode = M_SPAWN;
	else if (strcmp(argv[1], "ldbput") == 0)
		b.mode = M_LDBPUT;
	else if (strcmp(argv[1], "hot") == 0)
		b.mode = M_HOT;
	else {
		usage();
		return 2;
	}
	b.dir = argv[2];
	if (b.mode == M_FILL) {
		b.objects = number(argv[3], 1, LONG_MAX / 2);
		b.fields = number(argv[4], 1, LONG_MAX / 2);
		b.threads = argc > 5 ? (int)number(argv[5], 1, 1024) : 8;
		if (b.objects < 0 || b.fields < 0 || b.threads < 0 || argc > 6) {
			usage();
			return 2;
		}
	} else if (b.mode == M_HOT) {
		long times = number(argv[4], 1, LONG_MAX / 2);
		b.threads = (int)number(argv[3], 1, 1024);
		if (times < 0 || b.threads < 0 || argc > 5) {
			usage();
			return 2;
		}
		b.times = (unsigned long)times;
	} else {
		bool ldb = b.mode == M_LDBPUT;
		b.threads = (int)number(argv[3], 1, 1024);
		seconds = (double)number(argv[4], 1, 86400);
		b.record = ldb && argc > 5 ? (size_t)number(argv[5], 41, 1 << 20) : 1024;
		if (b.threads < 0 || seconds < 0 || b.record == (size_t)-1 || argc > 5 + ldb) {
			usage();
			return 2;
		}
		if (ldb && ldb_open(&b) < 0)
			return 1;
	}
	ws = calloc((size_t)b.threads, sizeof(*ws));
	if (!ws || pthread_barrier_init(&b.start, NULL, (unsigned)b.threads + 1) != 0) {
		perror("fieldbench");
		return 1;
	}
	for (int i = 0; i < b.threads; i++) {
		ws[i].b = &b;
		ws[i].id = i;
		errno = pthread_create(&ws[i].tid, NULL, run, &ws[i]);
		if (errno) {
			perror("fieldbench: pthread_create");
			return 1;
		}
	}
	pthread_barrier_wait(&b.start);
	t0 = now();
	if (b.mode != M_FILL && b.mode != M_HOT) {
		struct timespec ts = { .tv_sec = (time_t)seconds };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		atomic_store(&b.stop, true);
	}
	for (int i = 0; i < b.threads; i++) {
		pthread_join(ws[i].tid, NULL);
		total += ws[i].ops;
		if (ws[i].err) {
			fprintf(stderr, "fieldbench: %s: %s\n", ws[i].what, strerror(ws[i].err));
			status = 1;
		}
	}
	t1 = now();
	if (status == 0)
		printf("%.0f\n", (double)total / (t1 - t0));
	pthread_barrier_destroy(&b.start);
	if (b.ldb)
		leveldb_close(b.ldb);
	free(ws);
	return status;
}
