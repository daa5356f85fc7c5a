// SPDX-License-Identifier: MIT
/* test_tryreq.c - unit tests for the dry-run request of .node/try (codec/tryreq.c) */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "dinemicfs/tryreq.h"

static int parse(const char *s, uint64_t max, struct dfs_tryreq *r)
{
	return dfs_tryreq_parse((const uint8_t *)s, strlen(s), max, r);
}

Test(tryreq, each_op)
{
	struct dfs_tryreq r;

	cr_assert_eq(parse("set 6 Person/bob/salary\n99999\n", 100, &r), 1);
	cr_assert_eq(r.op, DFS_TRY_SET);
	cr_assert_eq(r.len, 6);
	cr_assert_str_eq(r.path, "Person/bob/salary");
	cr_assert_eq(r.depth, 3);
	cr_assert_eq(r.header_len, strlen("set 6 Person/bob/salary\n"));
	cr_assert_eq(parse("append 3 Person/john smith/address/city\n", 100, &r), 1);
	cr_assert_eq(r.op, DFS_TRY_APPEND);
	cr_assert_str_eq(r.path, "Person/john smith/address/city", "blanks belong to the path");
	cr_assert_eq(r.depth, 4);
	cr_assert_eq(parse("delete 0 Person/bob/salary\n", 0, &r), 1);
	cr_assert_eq(parse("create 0 Person/alice\n", 0, &r), 1);
	cr_assert_eq(r.op, DFS_TRY_CREATE);
	cr_assert_eq(parse("remove 0 Person/alice\n", 0, &r), 1);
	cr_assert_eq(r.op, DFS_TRY_REMOVE);
}

Test(tryreq, more_to_come)
{
	struct dfs_tryreq r;
	const char *whole = "append 3 Person/bob/tags\n";

	for (size_t n = 0; n < strlen(whole); n++)
		cr_assert_eq(dfs_tryreq_parse((const uint8_t *)whole, n, 100, &r), 0, "%zu bytes", n);
}

Test(tryreq, refused)
{
	struct dfs_tryreq r;
	static const char *const bad[] = {
		"hello world\n", "format 0 Person/bob\n", "Set 1 Person/bob/x\n",
		"set 1 ../../etc/passwd\n", "set 1 /etc/passwd\n", "set 1 Person/bob/x/\n",
		"set 1 Person//x\n", "set 1 Person/./x\n", "set 1 Person/b\x1bob/x\n",
		"set 01 Person/bob/x\n", "set -1 Person/bob/x\n", "set  1 Person/bob/x\n",
		"set 1 Person/bob\n", "set 1 A/b/c/d/e\n", "create 0 Person/bob/x\n",
		"create 1 Person/bob\n", "delete 1 Person/bob/x\n", "remove 0 Person\n",
		"set 99999999999999999999 Person/bob/x\n", "set 1\n", "set\n", "\n",
		"s\x01", "\x7f",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse(bad[i], 100, &r), -EINVAL, "%s", bad[i]);
	cr_assert_eq(parse("set 101 Person/bob/x\n", 100, &r), -EFBIG);
	char longer[DFS_TRYREQ_HEADER_MAX + 1];
	memset(longer, 'a', sizeof(longer) - 1);
	memcpy(longer, "set 1 ", 6);
	longer[sizeof(longer) - 1] = '\0';
	cr_assert_eq(parse(longer, 100, &r), -EINVAL, "a header that never ends");
}

Test(tryreq, format_round_trip)
{
	struct dfs_buf b;
	struct dfs_tryreq r;

	dfs_buf_init(&b);
	cr_assert_eq(dfs_tryreq_format(&b, DFS_TRY_APPEND, "Person/bob/tags", 4), 0);
	cr_assert_eq(b.len, strlen("append 4 Person/bob/tags\n"));
	cr_assert_eq(memcmp(b.data, "append 4 Person/bob/tags\n", b.len), 0);
	cr_assert_eq(dfs_tryreq_parse(b.data, b.len, 4, &r), 1);
	dfs_buf_reset(&b);
	cr_assert_eq(dfs_tryreq_format(&b, DFS_TRY_CREATE, "Person/bob/x", 0), -EINVAL);
	cr_assert_eq(dfs_tryreq_format(&b, DFS_TRY_SET, "Person/../x", 1), -EINVAL);
	cr_assert_eq(dfs_tryreq_format(&b, DFS_TRY_SET, "Person/b\nob/x", 1), -EINVAL);
	cr_assert_eq(b.len, 0);
	dfs_buf_release(&b);
}
