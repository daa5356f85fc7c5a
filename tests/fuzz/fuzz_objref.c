// SPDX-License-Identifier: MIT
/*
 * fuzz_objref.c - .authorized or .node/as as a user or a script could write
 * them: parsed a line at a time, each line's object checked against the
 * text, and what .authorized would show of it parsed back to the same key
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/objref.h"
#include "fuzz.h"

struct text {
	const uint8_t *data;
	size_t size;
	char *lower;
	unsigned lines;
};

static int back(const struct dfs_objref *r, void *ctx)
{
	struct dfs_pubkey *k = ctx;

	FUZZ_CHECK(r->has_key && !r->has_name);
	*k = r->key;
	return 0;
}

static int one(const struct dfs_objref *r, void *ctx)
{
	struct text *t = ctx;
	char hex[2 * DFS_PUBKEY_LEN + 1];
	struct dfs_buf shown;
	struct dfs_pubkey k;

	t->lines++;
	FUZZ_CHECK(r->has_name != r->has_key);
	if (r->has_key) {
		dfs_hex_encode(hex, r->key.b, DFS_PUBKEY_LEN);
		FUZZ_CHECK(memmem(t->lower, t->size, hex, 2 * DFS_PUBKEY_LEN) != NULL);
	} else {
		/* A name to resolve: two valid new names, found as they are in the text. */
		FUZZ_CHECK(dfs_name_check(r->model, strlen(r->model)) == 0 && r->model[0] != '.');
		FUZZ_CHECK(dfs_name_check(r->object, strlen(r->object)) == 0 && r->object[0] != '.');
		FUZZ_CHECK(memmem(t->data, t->size, r->model, strlen(r->model)) != NULL);
		FUZZ_CHECK(memmem(t->data, t->size, r->object, strlen(r->object)) != NULL);
	}
	/* Shown with any name, escaped, the line gives the key back and nothing else. */
	memset(k.b, 0xa5, sizeof(k.b));
	dfs_buf_init(&shown);
	dfs_objref_format(&shown, r->has_name ? r->model : "M", r->has_name ? r->object : "o\n\x1b",
			  &k);
	FUZZ_CHECK(dfs_buf_ok(&shown) == 0);
	FUZZ_CHECK(memchr(shown.data, '\n', shown.len) == shown.data + shown.len - 1);
	for (size_t i = 0; i + 1 < shown.len; i++)
		FUZZ_CHECK(shown.data[i] >= 0x20 && shown.data[i] != 0x7f);
	struct dfs_pubkey got;
	unsigned line = 99;
	FUZZ_CHECK(dfs_objref_parse_text((const char *)shown.data, shown.len, back, &got, &line) == 0);
	FUZZ_CHECK(line == 0 && memcmp(got.b, k.b, DFS_PUBKEY_LEN) == 0);
	dfs_buf_release(&shown);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct text t = { data, size, malloc(size + 1), 0 };
	unsigned line = 99;

	FUZZ_CHECK(t.lower != NULL);
	for (size_t i = 0; i < size; i++)
		t.lower[i] = (char)tolower(data[i]);
	int rc = dfs_objref_parse_text((const char *)data, size, one, &t, &line);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (rc == 0)
		FUZZ_CHECK(line == 0);
	else
		FUZZ_CHECK(line >= 1 && t.lines <= line - 1);
	/* The shortest line is "a/b". */
	FUZZ_CHECK(3 * t.lines <= size);
	free(t.lower);
	return 0;
}
