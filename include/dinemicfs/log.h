/* SPDX-License-Identifier: MIT */
/*
 * log.h - one logging sink for the daemon, libfuse and the tests.
 *
 * Messages carry a syslog level and a "[file:line]" prefix. A message below
 * the current level costs one integer compare. The sink defaults to stderr;
 * a daemon may switch it to syslog. Every message at DFS_LOG_WARNING or more
 * severe is also kept in a bounded in-memory ring that `.node/log` reads.
 */
#ifndef DINEMICFS_LOG_H
#define DINEMICFS_LOG_H

#include <stddef.h>

enum dfs_log_level {
	DFS_LOG_ERR = 3,
	DFS_LOG_WARNING = 4,
	DFS_LOG_NOTICE = 5,
	DFS_LOG_INFO = 6,
	DFS_LOG_DEBUG = 7,
};

extern int dfs_log_level_current;

#define dfs_log(level, ...)                                                       \
	do {                                                                      \
		if ((int)(level) <= dfs_log_level_current)                        \
			dfs_log_write((level), __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

/** Logs like dfs_log() and appends ": strerror(err)"; err is a positive errno. */
#define dfs_log_errno(level, err, ...)                                                \
	do {                                                                          \
		if ((int)(level) <= dfs_log_level_current)                            \
			dfs_log_write_errno((level), (err), __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

void dfs_log_write(int level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void dfs_log_write_errno(int level, int err, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/** Sets the level below which messages are dropped. */
void dfs_log_set_level(int level);

/** Parses "err", "warning", "notice", "info" or "debug"; returns -EINVAL otherwise. */
int dfs_log_parse_level(const char *s);

/** Sends messages to syslog (ident "dinemicfs") instead of stderr. */
void dfs_log_use_syslog(void);

/** Routes libfuse's own messages through this sink. */
void dfs_log_bridge_fuse(void);

/**
 * Copies the kept warning/error lines, oldest first, into a malloc'ed
 * buffer the caller frees. Returns its length, or -ENOMEM.
 */
long dfs_log_snapshot(char **out);

#endif
