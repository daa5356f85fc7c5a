// SPDX-License-Identifier: MIT
/* test_hex_name.c - unit tests for hex encoding and the contract's name rules (util/) */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/util.h"

Test(hex, encode_is_lowercase)
{
	static const uint8_t in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	char out[2 * sizeof(in) + 1];

	memset(out, '?', sizeof(out));
	dfs_hex_encode(out, in, sizeof(in));
	cr_assert_str_eq(out, "00017f80abff");
}

Test(hex, encode_empty)
{
	char out[1] = { '?' };

	dfs_hex_encode(out, NULL, 0);
	cr_assert_eq(out[0], '\0');
}

Test(hex, decode_either_case)
{
	uint8_t out[4];

	cr_assert_eq(dfs_hex_decode(out, 4, "DeadBEEF", 8), 0);
	cr_assert_arr_eq(out, ((uint8_t[]){ 0xde, 0xad, 0xbe, 0xef }), 4);
	cr_assert_eq(dfs_hex_decode(out, 0, "", 0), 0);
}

Test(hex, round_trip_every_byte)
{
	uint8_t in[256], back[256];
	char hex[2 * 256 + 1];

	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	dfs_hex_encode(hex, in, sizeof(in));
	cr_assert_eq(strlen(hex), 512);
	cr_assert_eq(dfs_hex_decode(back, sizeof(back), hex, strlen(hex)), 0);
	cr_assert_arr_eq(back, in, sizeof(in));
}

Test(hex, decode_rejects_bad_input)
{
	uint8_t out[2];

	cr_assert_eq(dfs_hex_decode(out, 2, "abc", 3), -EINVAL, "odd length");
	cr_assert_eq(dfs_hex_decode(out, 2, "ab", 2), -EINVAL, "too short");
	cr_assert_eq(dfs_hex_decode(out, 2, "abcdef", 6), -EINVAL, "too long");
	cr_assert_eq(dfs_hex_decode(out, 2, "abcg", 4), -EINVAL, "not a digit");
	cr_assert_eq(dfs_hex_decode(out, 2, "ab c", 4), -EINVAL, "space");
	cr_assert_eq(dfs_hex_decode(out, 2, "0x12", 4), -EINVAL, "prefix");
	cr_assert_eq(dfs_hex_decode(out, 2, "ab\0c", 4), -EINVAL, "NUL inside");
}

static int check(const char *name)
{
	return dfs_name_check(name, strlen(name));
}

Test(name, valid_names)
{
	char longest[DFS_NAME_MAX + 1];

	memset(longest, 'n', DFS_NAME_MAX);
	longest[DFS_NAME_MAX] = '\0';
	cr_assert_eq(check("a"), 0);
	cr_assert_eq(check("title"), 0);
	cr_assert_eq(check("with space"), 0);
	cr_assert_eq(check("..."), 0);
	cr_assert_eq(check(".hidden"), 0, "dot names pass; callers check dfs_name_is_dot");
	cr_assert_eq(check("a.b"), 0);
	cr_assert_eq(check("\xc3\xa9t\xc3\xa9"), 0, "UTF-8");
	cr_assert_eq(check(longest), 0);
}

Test(name, invalid_names)
{
	char toolong[DFS_NAME_MAX + 2];

	memset(toolong, 'n', DFS_NAME_MAX + 1);
	toolong[DFS_NAME_MAX + 1] = '\0';
	cr_assert_eq(check(""), -EINVAL);
	cr_assert_eq(check("."), -EINVAL);
	cr_assert_eq(check(".."), -EINVAL);
	cr_assert_eq(check("a/b"), -EINVAL);
	cr_assert_eq(check("/"), -EINVAL);
	cr_assert_eq(check("a/"), -EINVAL);
	cr_assert_eq(dfs_name_check("a\0b", 3), -EINVAL, "NUL inside");
	cr_assert_eq(check(toolong), -ENAMETOOLONG);
}

Test(name, control_bytes)
{
	char one[2] = { 0, 0 };

	for (int c = 1; c < 0x20; c++) {
		one[0] = (char)c;
		cr_assert_eq(check(one), -EINVAL, "byte 0x%02x", c);
		cr_assert_eq(dfs_name_check_stored(one, 1), 0, "stored: byte 0x%02x", c);
	}
	cr_assert_eq(check("a\x7f"), -EINVAL, "DEL");
	cr_assert_eq(check("line\nbreak"), -EINVAL);
	cr_assert_eq(check("\x1b]2;title\x07"), -EINVAL, "ESC");
	cr_assert_eq(check("tab\t"), -EINVAL);
	cr_assert_eq(check(" ~!\"#$%&'()*+,-.:;<=>?@[\\]^_`{|}"), 0, "printable ASCII passes");
	cr_assert_eq(check("\xc2\x80\xff"), 0, "bytes from 0x80 pass");
	cr_assert_eq(dfs_name_check_stored("a\0b", 3), -EINVAL, "NUL is never stored");
	cr_assert_eq(dfs_name_check_stored("a/b", 3), -EINVAL);
	cr_assert_eq(dfs_name_check_stored("..", 2), -EINVAL);
}

static void expect_escaped(const char *name, size_t len, const char *want)
{
	struct dfs_buf b;

	dfs_buf_init(&b);
	dfs_name_escape(&b, name, len);
	cr_assert_eq(dfs_buf_ok(&b), 0);
	cr_assert_eq(b.len, strlen(want), "'%s': %zu bytes, want %zu", want, b.len, strlen(want));
	if (b.len)	/* an empty buffer may have no data at all */
		cr_assert_arr_eq(b.data, want, b.len);
	dfs_buf_release(&b);
}

Test(name, escape)
{
	expect_escaped("plain name", 10, "plain name");
	expect_escaped("a\nb", 3, "a\\x0ab");
	expect_escaped("\x1b]2;x\x07", 6, "\\x1b]2;x\\x07");
	expect_escaped("back\\slash", 10, "back\\\\slash");
	expect_escaped("\x7f\x1f\x01", 3, "\\x7f\\x1f\\x01");
	expect_escaped("\0", 1, "\\x00");
	expect_escaped("\xc3\xa9", 2, "\xc3\xa9");
	expect_escaped("", 0, "");
	/* Nothing a control byte can do survives: every output byte is printable or >= 0x80. */
	char all[256];
	struct dfs_buf b;
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	dfs_buf_init(&b);
	dfs_name_escape(&b, all, sizeof(all));
	for (size_t i = 0; i < b.len; i++)
		cr_assert(b.data[i] >= 0x20 && b.data[i] != 0x7f, "byte %zu", i);
	dfs_buf_release(&b);
}

Test(name, length_is_what_counts)
{
	/* Only len bytes are looked at: "ab/cd" cut after 2 bytes is "ab". */
	cr_assert_eq(dfs_name_check("ab/cd", 2), 0);
	cr_assert_eq(dfs_name_check("..x", 2), -EINVAL);
	cr_assert_eq(dfs_name_check(".", 0), -EINVAL);
}

Test(name, dot_names)
{
	cr_assert(dfs_name_is_dot(".x"));
	cr_assert(dfs_name_is_dot(".node"));
	cr_assert(dfs_name_is_dot("."));
	cr_assert_not(dfs_name_is_dot("x"));
	cr_assert_not(dfs_name_is_dot("x."));
	cr_assert_not(dfs_name_is_dot(""));
}

Test(name, scratch_names)
{
	static const char *const yes[] = {
		".x", ".swp", ".file.swx", "x~", "notes.txt~", "~", "4913",
		"sedAB12cd", "sed000000", "sedzzzzzz",
	};
	static const char *const no[] = {
		"sedAB12c", "sed", "name", "", "sedAB12cde", "sedAB-12c", "sedAB12c.",
		"Sedabcdef", "4914", "49130", "x~y", "~x",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		cr_assert(dfs_name_is_scratch(yes[i]), "'%s' is scratch", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		cr_assert_not(dfs_name_is_scratch(no[i]), "'%s' is not scratch", no[i]);
}
