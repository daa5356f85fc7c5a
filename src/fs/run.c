// SPDX-License-Identifier: MIT
/*
 * run.c - when a write(2) ends a value.
 *
 * What one program writes through one open file in one go is one value
 * (DESIGN.md, "The tree"). The kernel hands us each write(2) in requests
 * of at most max_write bytes, and fewer when the writer's buffer is not
 * page-aligned (at most max_write / page pages per request); it says
 * nothing of where a write(2), or a program's run of them, ends. Tools that
 * copy (cp, cat, dd, tee, rsync, C stdio, Python) write whole blocks until
 * their last write. So:
 *
 * - a request of whole pages, or one that a page limit may have cut
 *   short, may be followed by more: it joins the open file's run;
 * - a request of an odd size ends the write(2) it belongs to. When no run
 *   is pending it is a write(2) of its own (a shell's `echo`): it commits
 *   now, and a rejection fails that very write(2);
 * - a run, and every write on a file opened to be edited in place
 *   (neither O_TRUNC nor O_APPEND: rsync --inplace, dd conv=notrunc),
 *   commits when the file is closed or synced, and the close(2) or
 *   fsync(2) reports a rejection.
 *
 * A writer killed by a signal while its run was pending commits nothing:
 * an interrupted cp does not leave half a file everywhere.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define RUN_PAGE 4096u

bool fs_run_continues(size_t size, size_t max_write)
{
	if (size == 0)
		return false;
	if (size % RUN_PAGE == 0)
		return true;
	/* A request limited to max_write / page pages of an unaligned buffer. */
	size_t pages = max_write > RUN_PAGE ? (max_write - 1) / RUN_PAGE + 1 : 1;
	return size > (pages - 1) * RUN_PAGE;
}

bool fs_run_commits_now(const struct fs_run *r, size_t size, size_t max_write)
{
	return !r->inplace && !r->pending && !fs_run_continues(size, max_write);
}

/* PF_EXITING of include/linux/sched.h: the task is in do_exit(). */
#define TASK_EXITING 0x4u

int fs_run_parse_stat(const char *stat, unsigned long *flags, int *exit_code)
{
	const char *p = strrchr(stat, ')');
	unsigned long v = 0;
	int field = 2; /* the comm field ends at the last ')' */

	if (!p)
		return -EINVAL;
	for (p++; *p && field < 52; ) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		field++;
		if (field == 9 || field == 52) {
			if (sscanf(p, "%lu", &v) != 1)
				return -EINVAL;
			if (field == 9)
				*flags = v;
			else
				*exit_code = (int)v;
		}
		while (*p && *p != ' ')
			p++;
	}
	return field == 52 ? 0 : -EINVAL;
}

bool fs_run_writer_killed(pid_t pid)
{
	char path[64], stat[1024];
	unsigned long flags = 0;
	int code = 0;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	if (fs_run_parse_stat(stat, &flags, &code) < 0)
		return false;
	/* Exiting with a signal's number in the low bits: killed, not exit(3). */
	return (flags & TASK_EXITING) && (code & 0x7f) != 0;
}
