// SPDX-License-Identifier: MIT
/*
 * test_run.c - unit tests for the commit rules of an open field
 * (src/fs/run.c): which write request ends a value, and how a closing
 * writer that a signal killed is told from one that exited.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../../src/fs/internal.h"

#define KiB 1024u

Test(run, odd_sizes_end_a_write)
{
	cr_assert_not(fs_run_continues(1, 128 * KiB));
	cr_assert_not(fs_run_continues(4095, 128 * KiB));
	cr_assert_not(fs_run_continues(4097, 128 * KiB));
	cr_assert_not(fs_run_continues(72 * KiB + 3, 128 * KiB));
	cr_assert_not(fs_run_continues(0, 128 * KiB));
}

Test(run, whole_pages_may_continue)
{
	/* cp's and cat's blocks, tee's BUFSIZ, a full max_write request */
	cr_assert(fs_run_continues(4096, 128 * KiB));
	cr_assert(fs_run_continues(8192, 128 * KiB));
	cr_assert(fs_run_continues(128 * KiB, 128 * KiB));
	cr_assert(fs_run_continues(1024 * KiB, 1024 * KiB));
}

Test(run, page_limited_requests_may_continue)
{
	/*
	 * An unaligned buffer: 32 pages hold 128 KiB less the offset into the
	 * first page, and the kernel sends only that much.
	 */
	cr_assert(fs_run_continues(128 * KiB - 1, 128 * KiB));
	cr_assert(fs_run_continues(128 * KiB - 4095, 128 * KiB));
	cr_assert_not(fs_run_continues(124 * KiB - 1, 128 * KiB));
	cr_assert(fs_run_continues(1024 * KiB - 100, 1024 * KiB));
	cr_assert_not(fs_run_continues(1020 * KiB - 1, 1024 * KiB));
}

Test(run, a_lone_short_write_commits_now)
{
	struct fs_run r = {0};

	cr_assert(fs_run_commits_now(&r, 6, 128 * KiB)); /* echo 12345 > f */
	cr_assert_not(fs_run_commits_now(&r, 8192, 128 * KiB));
}

Test(run, a_pending_run_waits_for_close)
{
	struct fs_run r = {.pending = true};

	/* the tail of cp's copy, or print()'s last line after a 10 MiB write */
	cr_assert_not(fs_run_commits_now(&r, 6, 128 * KiB));
	cr_assert_not(fs_run_commits_now(&r, 72 * KiB + 3, 128 * KiB));
}

Test(run, in_place_edits_wait_for_close)
{
	struct fs_run r = {.inplace = true};

	cr_assert_not(fs_run_commits_now(&r, 6, 128 * KiB));
}

Test(run, parses_proc_stat)
{
	unsigned long flags = 0;
	int code = -1;
	char stat[1024];
	int n = snprintf(stat, sizeof(stat), "42 (a) b) c) S");

	/* comm may hold ") ": fields count from the last ')' */
	for (int f = 4; f <= 52; f++)
		n += snprintf(stat + n, sizeof(stat) - (size_t)n, " %d",
			      f == 9 ? 0x404 : f == 52 ? 9 : 1);
	cr_assert_eq(fs_run_parse_stat(stat, &flags, &code), 0);
	cr_assert_eq(flags, 0x404);
	cr_assert_eq(code, 9);
	cr_assert_eq(fs_run_parse_stat("42 (a) S 1 2", &flags, &code), -EINVAL);
	cr_assert_eq(fs_run_parse_stat("no paren", &flags, &code), -EINVAL);
	cr_assert_eq(fs_run_parse_stat("1 (x) S 1 2 3 4 5 z", &flags, &code), -EINVAL);
}

Test(run, a_live_or_gone_process_is_not_killed)
{
	cr_assert_not(fs_run_writer_killed(getpid()));
	cr_assert_not(fs_run_writer_killed(0));

	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0)
		pause();
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	/* reaped: no /proc entry, which reads as "not killed" */
	cr_assert_not(fs_run_writer_killed(child));
}
