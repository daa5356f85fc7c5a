// SPDX-License-Identifier: MIT
/* log.c - logging sink: levels, [file:line] prefixes, stderr or syslog, a ring for .node/log */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <fuse_log.h>

#include "dinemicfs/log.h"

int dfs_log_level_current = DFS_LOG_NOTICE;

#define RING_BYTES (64 * 1024)
#define LAST_ERROR_BYTES 512

/* The ring keeps whole lines; when full, the oldest lines are dropped. */
static struct {
	pthread_mutex_t lock;
	char buf[RING_BYTES];
	size_t len;			/* protected by lock */
	char last_error[LAST_ERROR_BYTES];	/* protected by lock */
	atomic_ullong errors;
	atomic_bool use_syslog;
	atomic_int stderr_level;	/* with syslog: also printed on stderr up to here */
} sink = { .lock = PTHREAD_MUTEX_INITIALIZER };

static const char *level_name(int level)
{
	switch (level) {
	case DFS_LOG_ERR: return "error";
	case DFS_LOG_WARNING: return "warning";
	case DFS_LOG_NOTICE: return "notice";
	case DFS_LOG_INFO: return "info";
	default: return "debug";
	}
}

static void ring_add(const char *line, size_t n)
{
	if (n >= RING_BYTES / 2)
		n = RING_BYTES / 2 - 1;
	pthread_mutex_lock(&sink.lock);
	if (sink.len + n + 1 > RING_BYTES) {
		/* Drop whole lines from the front until the new one fits. */
		size_t drop = sink.len + n + 1 - RING_BYTES;
		char *nl = memchr(sink.buf + drop, '\n', sink.len - drop);
		drop = nl ? (size_t)(nl - sink.buf) + 1 : sink.len;
		memmove(sink.buf, sink.buf + drop, sink.len - drop);
		sink.len -= drop;
	}
	memcpy(sink.buf + sink.len, line, n);
	sink.len += n;
	sink.buf[sink.len++] = '\n';
	pthread_mutex_unlock(&sink.lock);
}

/* One message is one line: newlines and other control bytes become spaces. */
static void flatten(char *msg)
{
	for (unsigned char *p = (unsigned char *)msg; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

static void keep_error(const char *line, size_t n)
{
	if (n >= LAST_ERROR_BYTES)
		n = LAST_ERROR_BYTES - 1;
	pthread_mutex_lock(&sink.lock);
	memcpy(sink.last_error, line, n);
	sink.last_error[n] = '\0';
	pthread_mutex_unlock(&sink.lock);
	atomic_fetch_add(&sink.errors, 1);
}

static void emit(int level, const char *file, int line, char *msg)
{
	char stamp[32];
	char out[1200];
	struct timespec ts;
	struct tm tm;

	flatten(msg);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	int n = snprintf(out, sizeof(out), "%s.%03ldZ %s [%s:%d] %s", stamp,
			 ts.tv_nsec / 1000000, level_name(level), file, line, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(out))
		n = sizeof(out) - 1;
	if (level <= DFS_LOG_WARNING)
		ring_add(out, (size_t)n);
	if (level <= DFS_LOG_ERR)
		keep_error(out, (size_t)n);
	bool use_syslog = atomic_load(&sink.use_syslog);
	if (use_syslog)
		syslog(level, "[%s:%d] %s", file, line, msg);
	if (!use_syslog || level <= atomic_load(&sink.stderr_level))
		fprintf(stderr, "dinemicfs: %s\n", out);
}

void dfs_log_write(int level, const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(level, file, line, msg);
}

void dfs_log_write_errno(int level, int err, const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));
	emit(level, file, line, msg);
}

void dfs_log_set_level(int level)
{
	dfs_log_level_current = level;
}

int dfs_log_parse_level(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
		{ "err", DFS_LOG_ERR },	      { "error", DFS_LOG_ERR },
		{ "warning", DFS_LOG_WARNING }, { "notice", DFS_LOG_NOTICE },
		{ "info", DFS_LOG_INFO },     { "debug", DFS_LOG_DEBUG },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].level;
	return -EINVAL;
}

void dfs_log_use_syslog(int stderr_level)
{
	openlog("dinemicfs", LOG_PID, LOG_DAEMON);
	atomic_store(&sink.stderr_level, stderr_level);
	atomic_store(&sink.use_syslog, true);
}

void dfs_log_detach(void)
{
	atomic_store(&sink.stderr_level, -1);
}

static void fuse_bridge(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char msg[1024];
	int lvl = (int)level;

	if (lvl > dfs_log_level_current)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	if (n && msg[n - 1] == '\n')
		msg[n - 1] = '\0';
	emit(lvl, "libfuse", 0, msg);
}

void dfs_log_bridge_fuse(void)
{
	fuse_set_log_func(fuse_bridge);
}

long dfs_log_snapshot(char **out)
{
	pthread_mutex_lock(&sink.lock);
	char *copy = malloc(sink.len + 1);
	if (!copy) {
		pthread_mutex_unlock(&sink.lock);
		return -ENOMEM;
	}
	memcpy(copy, sink.buf, sink.len);
	long n = (long)sink.len;
	pthread_mutex_unlock(&sink.lock);
	copy[n] = '\0';
	*out = copy;
	return n;
}

unsigned long long dfs_log_errors(char *last, size_t n)
{
	if (n > 0) {
		pthread_mutex_lock(&sink.lock);
		snprintf(last, n, "%s", sink.last_error);
		pthread_mutex_unlock(&sink.lock);
	}
	return atomic_load(&sink.errors);
}
