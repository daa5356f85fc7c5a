// SPDX-License-Identifier: MIT
/*
 * test_inode.c - unit tests for what the inode table knows of the kernel's
 * page cache (src/fs/inode.c): which files it may hold pages of, so that a
 * change drops them there and tells the kernel nothing elsewhere.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "dinemicfs/inode.h"

static struct dfs_inodes *t;
static fuse_ino_t f;

static void setup(void)
{
	struct dfs_ent e;

	memset(&e, 0, sizeof(e));
	e.kind = DFS_K_FIELD;
	t = dfs_inodes_new();
	cr_assert_not_null(t);
	f = dfs_inodes_lookup(t, FUSE_ROOT_ID, "phone", &e);
	cr_assert_neq(f, 0);
}

static void teardown(void)
{
	dfs_inodes_free(t);
}

TestSuite(inode, .init = setup, .fini = teardown);

Test(inode, a_file_never_read_has_no_pages)
{
	cr_assert_not(dfs_inodes_take_pages(t, f));
}

Test(inode, pages_a_reader_brought_in_are_dropped_once)
{
	dfs_inodes_readers(t, f, 1);
	dfs_inodes_readers(t, f, -1);
	cr_assert(dfs_inodes_take_pages(t, f));
	cr_assert_not(dfs_inodes_take_pages(t, f));
}

Test(inode, an_open_reader_may_bring_in_more)
{
	dfs_inodes_readers(t, f, 1);
	cr_assert(dfs_inodes_take_pages(t, f));
	cr_assert(dfs_inodes_take_pages(t, f));
	dfs_inodes_readers(t, f, -1);
	/* What it read before it closed was read after the last drop. */
	cr_assert(dfs_inodes_take_pages(t, f));
	cr_assert_not(dfs_inodes_take_pages(t, f));
}

Test(inode, an_unknown_inode_may_have_pages)
{
	cr_assert(dfs_inodes_take_pages(t, f + 1000));
}

/* A rename keeps the inode number, and with it its readers and their pages. */
Test(inode, a_rename_keeps_readers_and_pages)
{
	struct dfs_ent e;

	memset(&e, 0, sizeof(e));
	e.kind = DFS_K_FIELD;
	dfs_inodes_readers(t, f, 1);
	dfs_inodes_rename(t, FUSE_ROOT_ID, "phone", FUSE_ROOT_ID, "mobile", &e);
	cr_assert_eq(dfs_inodes_find(t, FUSE_ROOT_ID, "mobile"), f);
	cr_assert(dfs_inodes_take_pages(t, f), "the open reader's pages are still there");
	dfs_inodes_readers(t, f, -1);
	cr_assert(dfs_inodes_take_pages(t, f), "read until it closed");
	cr_assert_not(dfs_inodes_take_pages(t, f));
}
