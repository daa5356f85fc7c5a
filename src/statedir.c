// SPDX-License-Identifier: MIT
/* statedir.c - the state directory: made once, resolved, and locked by its node */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dinemicfs/log.h"
#include "dinemicfs/statedir.h"
#include "dinemicfs/util.h"

static int join(const char *dir, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int dfs_statedir_lock_path(const char *dir, char *out, size_t size)
{
	return join(dir, "lock", out, size);
}

int dfs_statedir_db_path(const char *dir, char *out, size_t size)
{
	return join(dir, "db", out, size);
}

int dfs_statedir_actions_path(const char *dir, char *out, size_t size)
{
	return join(dir, "actions", out, size);
}

/*
 * A directory the node trusts: its own, not a symbolic link, and closed to
 * group and others as far as forbidden says. A missing one is fine when
 * may_lack (made later, 0700). Prints why not.
 */
static int check_dir(const char *path, mode_t forbidden, bool may_lack)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT && may_lack)
			return 0;
		fprintf(stderr, "dinemicfs: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "dinemicfs: %s is not a directory\n", path);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid()) {
		fprintf(stderr, "dinemicfs: %s belongs to uid %u, not to this user (uid %u): "
			"refusing it\n", path, (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	if (st.st_mode & forbidden) {
		fprintf(stderr, "dinemicfs: %s is open to group or others (mode %04o): "
			"chmod 700 %s\n", path, (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	return 0;
}

/* STATE_DIR may not be changed by others; actions/ and keys/ not even read. */
static int check_state_dir(const char *dir)
{
	char sub[PATH_MAX];
	int rc = check_dir(dir, S_IWGRP | S_IWOTH, false);

	if (rc == 0 && dfs_statedir_actions_path(dir, sub, sizeof(sub)) == 0)
		rc = check_dir(sub, 077, true);
	if (rc == 0 && join(dir, "keys", sub, sizeof(sub)) == 0)
		rc = check_dir(sub, 077, true);
	return rc;
}

int dfs_statedir_prepare(char **dir)
{
	char real[PATH_MAX];

	if (mkdir(*dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "dinemicfs: cannot create %s: %s\n", *dir,
			strerror(errno));
		return -errno;
	}
	if (!realpath(*dir, real)) {
		fprintf(stderr, "dinemicfs: %s: %s\n", *dir, strerror(errno));
		return -errno;
	}
	int rc = check_state_dir(real);
	if (rc < 0)
		return rc;
	char *copy = strdup(real);
	if (!copy)
		return -ENOMEM;
	free(*dir);
	*dir = copy;
	return 0;
}

/*
 * STATE_DIR/lock holds its holder's pid on its first line, and a second
 * line, "stopping", once the holder is unmounted and on its way out
 * (after-listeners may still run): a new mount waits for that one instead
 * of failing.
 */
#define STOP_WAIT_MS 60000
/* A node unmounted a moment ago may not have said so yet. */
#define STOP_GRACE_MS 2000

/* Reads the lock's holder; stopping only if that pid says so and still runs. */
static void read_holder(int fd, char pid[32], bool *stopping)
{
	ssize_t n = pread(fd, pid, 31, 0);
	char *end;

	pid[n > 0 ? n : 0] = '\0';
	*stopping = strstr(pid, "\nstopping\n") != NULL;
	pid[strcspn(pid, "\n")] = '\0';
	long p = strtol(pid, &end, 10);
	/* A line left by one that ended (another now holds the lock): not it. */
	if (*stopping && (end == pid || *end || p <= 0 || (kill((pid_t)p, 0) < 0 && errno == ESRCH)))
		*stopping = false;
}

/* Takes STATE_DIR/lock so that one state directory is mounted once. */
int dfs_statedir_lock(const char *dir, enum dfs_statedir_lock_mode mode,
		      struct dfs_statedir_lock *lk)
{
	bool stopping = false, told = false;
	uint64_t start = dfs_monotonic_ms();
	int fd;

	lk->fd = -1;
	lk->holder[0] = '\0';
	(void)dfs_statedir_lock_path(dir, lk->path, sizeof(lk->path));
	fd = open(lk->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;
		if (err == EWOULDBLOCK)
			read_holder(fd, lk->holder, &stopping);
		uint64_t waited = dfs_monotonic_ms() - start;
		if (mode == DFS_STATEDIR_LOCK_MOUNT && err == EWOULDBLOCK &&
		    (stopping ? waited < STOP_WAIT_MS : waited < STOP_GRACE_MS)) {
			if (stopping && !told && waited >= 1000) {
				fprintf(stderr, "dinemicfs: waiting for the dinemicfs that had %s "
					"(pid %s) to finish stopping\n", dir, lk->holder);
				told = true;
			}
			usleep(20 * 1000);
			continue;
		}
		close(fd);
		return -err;
	}
	if (mode == DFS_STATEDIR_LOCK_MOUNT) {
		char pid[32];
		int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
			dfs_log_errno(DFS_LOG_WARNING, errno, "%s", lk->path);
	}
	lk->fd = fd;
	return 0;
}

/* Unmounted: says so in the lock, so that a new mount waits for this one to end. */
void dfs_statedir_mark_stopping(const struct dfs_statedir_lock *lk)
{
	char line[48];
	int n = snprintf(line, sizeof(line), "%ld\nstopping\n", (long)getpid());

	/* The same first line, and longer: one write, no truncation. */
	if (pwrite(lk->fd, line, (size_t)n, 0) != n)
		dfs_log_errno(DFS_LOG_WARNING, errno, "cannot mark the state directory's lock");
}

void dfs_statedir_unlock(struct dfs_statedir_lock *lk)
{
	/* Stopped: no line is left for the next mount to wait on. */
	if (lk->fd >= 0 && ftruncate(lk->fd, 0) < 0)
		dfs_log_errno(DFS_LOG_WARNING, errno, "cannot clear the state directory's lock");
	close(lk->fd);
	lk->fd = -1;
}
