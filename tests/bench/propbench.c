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
 * Reads events until deadline; returns 1 when one names `name`, 0 at the
 * deadline, -1 on an error. `seen` counts every matching event.
 */
static int wait_event(int ifd, const char *name, double deadline, long *seen)
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
			if ((ev->mask & IN_CLOSE_WRITE) && ev->len && strcmp(ev->name, name) == 0) {
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
		"usage: propbench WRITE_PATH WATCH_DIR COUNT [TIMEOUT_MS]\n"
		"Writes COUNT values to WRITE_PATH, one at a time, each time waiting for the\n"
		"IN_CLOSE_WRITE of WATCH_DIR/basename(WRITE_PATH) (and for that file to hold\n"
		"the value), at most TIMEOUT_MS (default 5000) each; stops after %d timeouts\n"
		"in a row. Prints: p50_ms p99_ms max_ms timeouts events_seen writes\n",
		MAX_TIMEOUTS_IN_A_ROW);
}

int main(int argc, char **argv)
{
	const char *wpath, *wdir, *name;
	char watched[PATH_MAX], v[2 * VALUE_LEN];
	long count, timeout_ms = 5000, timeouts = 0, seen = 0, ok = 0;
	int in_a_row = 0;
	double *lat;

	if (argc < 4 || argc > 5) {
		usage();
		return 2;
	}
	wpath = argv[1];
	wdir = argv[2];
	count = number(argv[3], 1, 100000000);
	if (argc > 4)
		timeout_ms = number(argv[4], 1, 3600000);
	if (count < 0 || timeout_ms < 0) {
		usage();
		return 2;
	}
	name = strrchr(wpath, '/') ? strrchr(wpath, '/') + 1 : wpath;
	if (!name[0] || snprintf(watched, sizeof(watched), "%s/%s", wdir, name) >=
				(int)sizeof(watched)) {
		usage();
		return 2;
	}
	lat = calloc((size_t)count, sizeof(*lat));
	int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (!lat || ifd < 0) {
		perror("propbench");
		return 1;
	}
	if (inotify_add_watch(ifd, wdir, IN_CLOSE_WRITE) < 0) {
		fprintf(stderr, "propbench: watch %s: %s\n", wdir, strerror(errno));
		return 1;
	}
	for (long i = 0; i < count; i++) {
		drain(ifd);
		make_value(v, i);
		double t0 = now(), deadline = t0 + (double)timeout_ms / 1000.0;
		if (write_file(wpath, v) < 0) {
			fprintf(stderr, "propbench: write %s: %s\n", wpath, strerror(errno));
			return 1;
		}
		int rc;
		for (;;) {
			rc = wait_event(ifd, name, deadline, &seen);
			if (rc <= 0)
				break;
			double t1 = now();
			if (holds(watched, v)) {
				lat[ok++] = t1 - t0;
				break;
			}
			/* An event of an earlier write, or of this one ahead of its value. */
		}
		if (rc < 0) {
			fprintf(stderr, "propbench: inotify read failed after %ld writes\n", i);
			return 1;
		}
		if (rc == 0) {
			/* Counted at the timeout, so that the percentiles show it. */
			lat[ok++] = (double)timeout_ms / 1000.0;
			timeouts++;
			if (++in_a_row == MAX_TIMEOUTS_IN_A_ROW) {
				fprintf(stderr, "propbench: %d timeouts in a row; stopping after "
						"%ld writes\n", MAX_TIMEOUTS_IN_A_ROW, i + 1);
				break;
			}
		} else {
			in_a_row = 0;
		}
	}
	close(ifd);
	qsort(lat, (size_t)ok, sizeof(*lat), cmp_double);
	printf("%.3f %.3f %.3f %ld %ld %ld\n", pct(lat, ok, 50) * 1e3, pct(lat, ok, 99) * 1e3,
	       lat[ok - 1] * 1e3, timeouts, seen, ok);
	free(lat);
	return 0;
}
