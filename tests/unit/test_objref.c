// SPDX-License-Identifier: MIT
/* test_objref.c - unit tests for lines naming an object in .authorized and .node/as (codec/objref.c) */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "dinemicfs/objref.h"

#define KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define KEY2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static int parse(const char *line, struct dfs_objref *r)
{
	return dfs_objref_parse(line, strlen(line), r);
}

static void expect_key(const struct dfs_objref *r, const char *hex)
{
	char got[2 * DFS_PUBKEY_LEN + 1];

	cr_assert(r->has_key);
	dfs_hex_encode(got, r->key.b, DFS_PUBKEY_LEN);
	cr_assert_str_eq(got, hex);
}

Test(objref, a_name)
{
	struct dfs_objref r;

	cr_assert_eq(parse("Person/chief", &r), 0);
	cr_assert(r.has_name);
	cr_assert_not(r.has_key);
	cr_assert_str_eq(r.model, "Person");
	cr_assert_str_eq(r.object, "chief");
	cr_assert_eq(parse("  Person/chief~0a1b2c3d \t\r", &r), 0, "blanks around");
	cr_assert_str_eq(r.object, "chief~0a1b2c3d");
	cr_assert_eq(parse("Person/john smith", &r), 0, "a blank inside a name");
	cr_assert_str_eq(r.object, "john smith");
	cr_assert_not(r.has_key);
	cr_assert_eq(parse("Person/notes~", &r), 0);
	cr_assert_eq(parse("Person/ab" KEY "x", &r), 0, "hex inside a word is a name");
	cr_assert_not(r.has_key);
}

Test(objref, a_name_and_a_key)
{
	struct dfs_objref r;

	cr_assert_eq(parse("Person/chief " KEY, &r), 0);
	expect_key(&r, KEY);
	cr_assert_not(r.has_name, "the name beside a key is only a comment");
	cr_assert_eq(parse("Person/chief\t\t" KEY "  ", &r), 0);
	expect_key(&r, KEY);
	cr_assert_eq(parse("Person/john smith " KEY, &r), 0, "a blank inside the comment");
	expect_key(&r, KEY);
	cr_assert_eq(parse("Person/bad\\x0aname " KEY, &r), 0, "an escaped name as shown");
	expect_key(&r, KEY);
	cr_assert_eq(parse("Person/chief " "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF",
			   &r),
		     0, "upper case hex");
	expect_key(&r, KEY);
}

Test(objref, a_key)
{
	struct dfs_objref r;

	cr_assert_eq(parse(KEY, &r), 0);
	expect_key(&r, KEY);
	cr_assert_not(r.has_name);
	cr_assert_eq(parse(" " KEY2 "\r", &r), 0);
	expect_key(&r, KEY2);
}

Test(objref, refused)
{
	static const char *const bad[] = {
		"",
		"   ",
		"Person",
		"/chief",
		"Person/",
		"Person/a/b",
		"Person/.hidden",
		"./x",
		"Person/..",
		"Person/a\x1b" "b",
		"Per\x7fson/a",
		KEY " " KEY2,			/* two keys: no name to comment */
		"chief " KEY,			/* a comment that is not MODEL/OBJECT */
		"/ " KEY,
		"Person/ " KEY,
		"0011" KEY,			/* 68 digits */
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg",
	};
	struct dfs_objref r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&r, 0x55, sizeof(r));
		cr_assert_eq(parse(bad[i], &r), -EINVAL, "line %zu: '%s'", i, bad[i]);
		cr_assert_not(r.has_name || r.has_key, "line %zu leaves nothing", i);
	}
	cr_assert_eq(dfs_objref_parse("Person/a\0b", 10, &r), -EINVAL, "NUL in a name");
	cr_assert_eq(dfs_objref_parse("P/a\0 " KEY, 5 + 64, &r), -EINVAL, "NUL in a comment");
	char longest[300];
	memset(longest, 'o', sizeof(longest));
	memcpy(longest, "M/", 2);
	cr_assert_eq(dfs_objref_parse(longest, 2 + DFS_NAME_MAX, &r), 0);
	cr_assert_eq(strlen(r.object), DFS_NAME_MAX);
	cr_assert_eq(dfs_objref_parse(longest, 3 + DFS_NAME_MAX, &r), -EINVAL, "a name too long");
}

struct seen {
	int n;
	struct dfs_objref r[8];
	int stop_at;		/* 1-based; 0: never */
};

static int collect(const struct dfs_objref *r, void *ctx)
{
	struct seen *s = ctx;

	cr_assert_lt(s->n, 8);
	s->r[s->n++] = *r;
	return s->n == s->stop_at ? -E2BIG : 0;
}

Test(objref, text)
{
	static const char text[] = "Person/chief " KEY "\n\n  \t\nPerson/bob\r\n" KEY2;
	struct seen s = { 0 };
	unsigned line = 99;

	cr_assert_eq(dfs_objref_parse_text(text, strlen(text), collect, &s, &line), 0);
	cr_assert_eq(line, 0);
	cr_assert_eq(s.n, 3);
	expect_key(&s.r[0], KEY);
	cr_assert_str_eq(s.r[1].object, "bob");
	expect_key(&s.r[2], KEY2);

	memset(&s, 0, sizeof(s));
	cr_assert_eq(dfs_objref_parse_text("", 0, collect, &s, &line), 0, "empty: no lines");
	cr_assert_eq(s.n, 0);

	static const char bad[] = "Person/a\nPerson/b\n\nnonsense\nPerson/c\n";
	memset(&s, 0, sizeof(s));
	cr_assert_eq(dfs_objref_parse_text(bad, strlen(bad), collect, &s, &line), -EINVAL);
	cr_assert_eq(line, 4, "the line that does not parse");
	cr_assert_eq(s.n, 2, "lines before it were passed");

	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	cr_assert_eq(dfs_objref_parse_text(bad, strlen(bad), collect, &s, &line), -E2BIG,
		     "the callback's error stops the walk");
	cr_assert_eq(line, 2);
}

Test(objref, format_round_trips)
{
	struct dfs_pubkey k;
	struct dfs_buf b;

	cr_assert_eq(dfs_hex_decode(k.b, DFS_PUBKEY_LEN, KEY, 64), 0);
	dfs_buf_init(&b);
	dfs_objref_format(&b, "Person", "chief~0a1b2c3d", &k);
	dfs_objref_format(&b, NULL, NULL, &k);
	dfs_objref_format(&b, "Junk", "x\ny\x1b", &k);
	cr_assert_eq(dfs_buf_ok(&b), 0);
	const char *want = "Person/chief~0a1b2c3d " KEY "\n" KEY "\nJunk/x\\x0ay\\x1b " KEY "\n";
	cr_assert_eq(b.len, strlen(want));
	cr_assert_arr_eq(b.data, want, b.len);

	/* What is shown parses back to the same key, escaped names included. */
	struct seen s = { 0 };
	cr_assert_eq(dfs_objref_parse_text((const char *)b.data, b.len, collect, &s, NULL), 0);
	cr_assert_eq(s.n, 3);
	for (int i = 0; i < 3; i++)
		expect_key(&s.r[i], KEY);
	dfs_buf_release(&b);
}
