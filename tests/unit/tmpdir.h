/* SPDX-License-Identifier: MIT */
/*
 * tmpdir.h - private temporary directories for the unit tests that touch disk.
 *
 * Criterion runs each test in its own child process. The runner process
 * makes one root directory before the first test (PRE_ALL hook) and names
 * it to the children in $DFS_UNIT_TMPDIR; it removes the root, with
 * whatever is left in it, after the last test (POST_ALL hook). So even a
 * test that crashes, and never reaches its .fini, leaves nothing behind.
 *
 * In a test, tmpdir_make() creates a fresh mode-0700 directory under the
 * root with mkdtemp(3) and returns a malloc'ed path; tmpdir_remove()
 * deletes it and everything under it (no symlinks followed) and frees the
 * path. Fixtures call them from .init and .fini.
 *
 * Include this header from one file per test binary: it defines the hooks.
 */
#ifndef DFS_TESTS_TMPDIR_H
#define DFS_TESTS_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>

#define TMPDIR_ENV "DFS_UNIT_TMPDIR"

/*
 * Errors are ignored so the walk goes on: the runner's sweep may meet a
 * test's own .fini removing the same tree, and a vanished entry is fine.
 */
static inline int tmpdir_unlink_one(const char *path, const struct stat *sb, int flag,
				    struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/** Removes dir recursively and frees it. Accepts NULL. */
static inline void tmpdir_remove(char *dir)
{
	if (!dir)
		return;
	nftw(dir, tmpdir_unlink_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/*
 * Where the run's root goes: tmpfs when there is one. The tests make and
 * drop hundreds of stores, and on a slow disk their syncs, unlinks and
 * rmdirs took most of a minute; what reaches the disk is the e2e power-loss
 * case's business, not theirs.
 */
static inline const char *tmpdir_base(void)
{
	return access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
}

/** Returns a fresh directory under the run's root (or tmpdir_base()), malloc'ed, or NULL. */
static inline char *tmpdir_make(const char *tag)
{
	const char *root = getenv(TMPDIR_ENV);
	char *path;

	if (asprintf(&path, "%s/dfs-unit-%s-XXXXXX", root ? root : tmpdir_base(), tag) < 0)
		return NULL;
	if (!mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

/** Returns a malloc'ed "dir/name". */
static inline char *tmpdir_path(const char *dir, const char *name)
{
	char *path;

	return asprintf(&path, "%s/%s", dir, name) < 0 ? NULL : path;
}

/* Runner process only: the children inherit the environment variable. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	char *root = tmpdir_make("run");

	(void)set;
	if (root)
		setenv(TMPDIR_ENV, root, 1);
	free(root);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	const char *root = getenv(TMPDIR_ENV);

	(void)stats;
	if (root)
		tmpdir_remove(strdup(root));
	unsetenv(TMPDIR_ENV);
}

#endif
