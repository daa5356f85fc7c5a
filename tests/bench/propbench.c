// SPDX-License-Identifier: MIT
/*
 * propbench.c - propagation latency for scripts/bench: the time from a field
 * write (open + write + close) on one path to the IN_CLOSE_WRITE that a
 * watch on another directory reports for a file of the same name.
 *
 * With the write on node A's mount and the watch on node C's copy of the
 * object, that is replication A -> B -> C as an inotify user sees it; with
 * both on one tmpfs directory, it is the kernel's own floor.
 *
 * With -o N, the writes spread over N objects and -f M fields each: write i
 * goes to WRITE_PATH/o<k>/f<j>, k = i mod N, j = (i / N) mod M, and waits
 * for WATCH_DIR/o<k>/f<j> (one watch per object), so no field is hot.
 * With -g MS, a write starts at least MS after the one before it started.
 *
 * Writes go one at a time: each waits for its event before the next. An
 * event counts only once the watched file holds the value just written, so
 * a late or repeated event of an earlier write is not taken for this one.
 * A write whose event does not come within the timeout counts as taking
 * the timeout, so the percentiles include it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define VALUE_LEN 32
#define MAX_TIMEOUTS_IN_A_ROW 5	/* then the events are not coming: stop */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A 32-byte value that differs on every call (the pid keeps runs apart). */
static void make_value(char v[2 * VALUE_LEN], long n)
{
	snprintf(v, 2 * VALUE_LEN, "%010ld-%020ld\n", (long)getpid() % 1000000000L, n);
}

static int write_file(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	if (write(fd, v, VALUE_LEN) != VALUE_LEN) {
		int e = errno ? errno : EIO;
		close(fd);
		errno = e;
		return -1;
	}
	return close(fd);
}

/* 1 when path holds exactly v, 0 when it holds something else (or is absent). */
static int holds(const char *path, const char *v)
{
	char buf[2 * VALUE_LEN];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	return n == VALUE_LEN && memcmp(buf, v, VALUE_LEN) == 0;
}

/*
 * Reads events until deadline; returns 1 when one names `name` in the watch
 * `wd`, 0 at the deadline, -1 on an error. `seen` counts every matching event.
 */
static int wait_event(int ifd, int wd, const char *name, double deadline, long *seen)
{
	char buf[64 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
		__attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		double left = deadline - now();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = ifd, .events = POLLIN };
		int rc = poll(&p, 1, (int)(left * 1000) + 1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -1;
		if (rc == 0)
			continue;
		ssize_t n = read(ifd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		int found = 0;
		for (char *p2 = buf; p2 < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p2;
			if ((ev->mask & IN_CLOSE_WRITE) && ev->wd == wd && ev->len &&
			    strcmp(ev->name, name) == 0) {
				found = 1;
				(*seen)++;
			}
			if (ev->mask & IN_Q_OVERFLOW)
				fprintf(stderr, "propbench: inotify queue overflow\n");
			if (ev->mask & IN_IGNORED) {
				fprintf(stderr, "propbench: the watch was removed\n");
				return -1;
			}
			p2 += sizeof(*ev) + ev->len;
		}
		if (found)
			return 1;
	}
}

/* Drops whatever events are already queued. */
static void drain(int ifd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	while (read(ifd, buf, sizeof(buf)) > 0)
		;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *s, long n, double p)
{
	long k = (long)((p / 100.0) * (double)n + 0.999999);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return s[k - 1];
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
	fprintf(stderr,
		"usage: propbench [-o OBJECTS [-f FIELDS]] [-g GAP_MS] WRITE_PATH WATCH_DIR COUNT\n"
		"                 [TIMEOUT_MS]\n"
		"Writes COUNT values to WRITE_PATH, one at a time, each time waiting for the\n"
		"IN_CLOSE_WRITE of WATCH_DIR/basename(WRITE_PATH) (and for that file to hold\n"
		"the value), at most TIMEOUT_MS (default 5000) each; stops after %d timeouts\n"
		"in a row. With -o, WRITE_PATH and WATCH_DIR hold the objects o0 ... and\n"
		"write i goes to o<i mod OBJECTS>/f<(i / OBJECTS) mod FIELDS> (FIELDS is 1\n"
		"unless given). With -g, writes start at least GAP_MS apart.\n"
		"Prints: p50_ms p99_ms max_ms timeouts events_seen writes\n",
		MAX_TIMEOUTS_IN_A_ROW);
}

#define MAX_OBJECTS 10000

struct run {
	const char *wpath, *wdir, *name;
	long count, timeout_ms, gap_ms, objects, fields;	/* objects 0: one path */
	int ifd;
	int wd[MAX_OBJECTS];
};

/* Parses the command line into r; 0 on success, 2 on a usage error. */
static int parse(struct run *r, int argc, char **argv)
{
	int c;

	*r = (struct run){ .timeout_ms = 5000, .fields = 1 };
	while ((c = getopt(argc, argv, "o:f:g:")) != -1) {
		long *to = c == 'o' ? &r->objects : c == 'f' ? &r->fields : &r->gap_ms;
		if (c == '?' || (*to = number(optarg, c == 'g' ? 0 : 1,
					      c == 'o' ? MAX_OBJECTS : 1000000)) < 0)
			return 2;
	}
	argc -= optind;
	argv += optind;
	if (argc < 3 || argc > 4)
		return 2;
	r->wpath = argv[0];
	r->wdir = argv[1];
	r->count = number(argv[2], 1, 100000000);
	if (argc > 3)
		r->timeout_ms = number(argv[3], 1, 3600000);
	if (r->count < 0 || r->timeout_ms < 0)
		return 2;
	r->name = strrchr(r->wpath, '/') ? strrchr(r->wpath, '/') + 1 : r->wpath;
	return !r->objects && !r->name[0] ? 2 : 0;
}

/* Watches WATCH_DIR, or each of its objects; 0 on success. */
static int watch(struct run *r)
{
	char dir[PATH_MAX];

	for (long k = 0; k < (r->objects ? r->objects : 1); k++) {
		if (!r->objects)
			snprintf(dir, sizeof(dir), "%s", r->wdir);
		else if (snprintf(dir, sizeof(dir), "%s/o%ld", r->wdir, k) >= (int)sizeof(dir))
			return -1;
		r->wd[k] = inotify_add_watch(r->ifd, dir, IN_CLOSE_WRITE);
		if (r->wd[k] < 0) {
			fprintf(stderr, "propbench: watch %s: %s\n", dir, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/*
 * Write i's paths: where it writes, where it is watched, its file name and
 * its watch; 0 on success, -1 when a path is too long.
 */
static int target(const struct run *r, long i, char wp[PATH_MAX], char seen[PATH_MAX],
		  char name[NAME_MAX + 1], int *wd)
{
	long k = r->objects ? i % r->objects : 0;

	*wd = r->wd[k];
	if (!r->objects) {
		snprintf(name, NAME_MAX + 1, "%s", r->name);
		return snprintf(wp, PATH_MAX, "%s", r->wpath) >= PATH_MAX ||
			snprintf(seen, PATH_MAX, "%s/%s", r->wdir, name) >= PATH_MAX ? -1 : 0;
	}
	snprintf(name, NAME_MAX + 1, "f%ld", (i / r->objects) % r->fields);
	return snprintf(wp, PATH_MAX, "%s/o%ld/%s", r->wpath, k, name) >= PATH_MAX ||
		snprintf(seen, PATH_MAX, "%s/o%ld/%s", r->wdir, k, name) >= PATH_MAX ? -1 : 0;
}

/* Sleeps until `at` (seconds on the monotonic clock), if it is ahead. */
static void sleep_until(double at)
{
	double left = at - now();

	if (left > 0) {
		struct timespec ts = { (time_t)left, (long)((left - (double)(time_t)left) * 1e9) };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

/*
 * One write and its wait; stores its latency in *lat. Returns 1 when the
 * event came, 0 at the timeout, -1 on an error.
 */
static int one(struct run *r, long i, double *lat, double *wlat, long *seen)
{
	char wp[PATH_MAX], watched[PATH_MAX], name[NAME_MAX + 1], v[2 * VALUE_LEN];
	int wd, rc;

	if (target(r, i, wp, watched, name, &wd) < 0) {
		fprintf(stderr, "propbench: a path is too long\n");
		return -1;
	}
	drain(r->ifd);
	make_value(v, i);
	double t0 = now(), deadline = t0 + (double)r->timeout_ms / 1000.0;
	if (write_file(wp, v) < 0) {
		fprintf(stderr, "propbench: write %s: %s\n", wp, strerror(errno));
		return -1;
	}
	*wlat = now() - t0;
	for (;;) {
		rc = wait_event(r->ifd, wd, name, deadline, seen);
		if (rc <= 0)
			break;
		double t1 = now();
		if (holds(watched, v)) {
			*lat = t1 - t0;
			return 1;
		}
		/* An event of an earlier write, or of this one ahead of its value. */
	}
	if (rc < 0)
		fprintf(stderr, "propbench: inotify read failed after %ld writes\n", i);
	else if (holds(watched, v))
		fprintf(stderr, "propbench: %s holds write %ld, but no event came\n", watched, i);
	else
		fprintf(stderr, "propbench: write %ld did not reach %s in %ld ms\n", i, watched,
			r->timeout_ms);
	/* Counted at the timeout, so that the percentiles show it. */
	*lat = (double)r->timeout_ms / 1000.0;
	return rc;
}

int main(int argc, char **argv)
{
	static struct run r;
	long timeouts = 0, seen = 0, ok = 0;
	int in_a_row = 0;
	double *lat, *wlat, next = 0;

	if (parse(&r, argc, argv)) {
		usage();
		return 2;
	}
	lat = calloc((size_t)r.count, sizeof(*lat));
	wlat = calloc((size_t)r.count, sizeof(*wlat));
	r.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (!lat || !wlat || r.ifd < 0) {
		perror("propbench");
		return 1;
	}
	if (watch(&r) < 0)
		return 1;
	for (long i = 0; i < r.count; i++) {
		sleep_until(next);
		next = now() + (double)r.gap_ms / 1000.0;
		int rc = one(&r, i, &lat[ok], &wlat[ok], &seen);
		ok++;
		if (rc < 0)
			return 1;
		if (rc > 0) {
			in_a_row = 0;
			continue;
		}
		timeouts++;
		if (++in_a_row == MAX_TIMEOUTS_IN_A_ROW) {
			fprintf(stderr, "propbench: %d timeouts in a row; stopping after "
					"%ld writes\n", MAX_TIMEOUTS_IN_A_ROW, i + 1);
			break;
		}
	}
	close(r.ifd);
	qsort(lat, (size_t)ok, sizeof(*lat), cmp_double);
	qsort(wlat, (size_t)ok, sizeof(*wlat), cmp_double);
	/* The writes alone (open + write + close on WRITE_PATH), for the log. */
	fprintf(stderr, "propbench: the writes alone: p50 %.3f p99 %.3f max %.3f ms\n",
		pct(wlat, ok, 50) * 1e3, pct(wlat, ok, 99) * 1e3, wlat[ok - 1] * 1e3);
	printf("%.3f %.3f %.3f %ld %ld %ld\n", pct(lat, ok, 50) * 1e3, pct(lat, ok, 99) * 1e3,
	       lat[ok - 1] * 1e3, timeouts, seen, ok);
	free(lat);
	free(wlat);
	return 0;
}
