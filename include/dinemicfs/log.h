/* SPDX-License-Identifier: MIT */
/*
 * log.h - one logging sink for the daemon, libfuse and the tests.
 *
 * Messages carry a syslog level and a "[file:line]" prefix. A message below
 * the current level costs one integer compare. The sink defaults to stderr
 * (a node in the foreground, or under systemd, which files stderr in the
 * journal); a daemon switches it to syslog. Every message at
 * DFS_LOG_WARNING or more severe is also kept in a bounded in-memory ring
 * that `.node/log` reads, and the last error-level one is kept apart for
 * `.node/stats`. Control characters in a message are shown as spaces, so
 * that one message is one line in every sink.
 *
 * Never pass a field value (clear or sealed), a secret key or the network
 * key to these functions: public keys, hashes, names and paths only.
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

/**
 * Sends messages to syslog (ident "dinemicfs", facility LOG_DAEMON, with the
 * pid) instead of stderr. Until dfs_log_detach(), messages at stderr_level
 * or more severe are printed on stderr too, so that a daemon still starting
 * reports its problems where it was started; -1 prints none there.
 */
void dfs_log_use_syslog(int stderr_level);

/** Stops the copies on stderr (the daemon is about to close it); any thread. */
void dfs_log_detach(void);

/** Routes libfuse's own messages through this sink. */
void dfs_log_bridge_fuse(void);

/**
 * Copies the kept warning/error lines, oldest first, into a malloc'ed
 * buffer the caller frees. Returns its length, or -ENOMEM.
 */
long dfs_log_snapshot(char **out);

/**
 * Returns how many error-level messages were logged since start, and copies
 * the last one into last (n bytes, truncated to fit, NUL-terminated): the
 * line `.node/log` shows for it, time first, without a newline; "" when
 * there was none. Any thread.
 */
unsigned long long dfs_log_errors(char *last, size_t n);

#endif
