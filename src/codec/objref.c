// SPDX-License-Identifier: MIT
/* objref.c - lines naming an object: MODEL/OBJECT, MODEL/OBJECT KEYHEX or KEYHEX (pure) */
#include <errno.h>
#include <string.h>

#include "dinemicfs/objref.h"

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int parse_key(const char *p, size_t n, struct dfs_pubkey *k)
{
	if (n != 2 * DFS_PUBKEY_LEN)
		return -EINVAL;
	return dfs_hex_decode(k->b, DFS_PUBKEY_LEN, p, n);
}

/* A model or object name: a valid new name, not a dot-name (those are the tree's own). */
static bool part_ok(const char *p, size_t n)
{
	return dfs_name_check(p, n) == 0 && p[0] != '.';
}

/* A name to resolve: MODEL/OBJECT. */
static int parse_name(const char *p, size_t n, struct dfs_objref *out)
{
	const char *slash = memchr(p, '/', n);

	if (!slash)
		return -EINVAL;
	size_t mlen = (size_t)(slash - p), olen = n - mlen - 1;
	if (!part_ok(p, mlen) || !part_ok(slash + 1, olen))
		return -EINVAL;
	memcpy(out->model, p, mlen);
	out->model[mlen] = '\0';
	memcpy(out->object, slash + 1, olen);
	out->object[olen] = '\0';
	out->has_name = true;
	return 0;
}

/*
 * The name beside a key, a comment: it has to look like MODEL/OBJECT as
 * shown (escaped, so of any length), so that a stray word or a second key
 * is caught rather than ignored.
 */
static int comment_ok(const char *p, size_t n)
{
	const char *slash = memchr(p, '/', n);

	if (!slash || slash == p || slash == p + n - 1 || memchr(p, '\0', n))
		return -EINVAL;
	return 0;
}

int dfs_objref_parse(const char *line, size_t n, struct dfs_objref *out)
{
	memset(out, 0, sizeof(*out));
	while (n > 0 && blank(line[0])) {
		line++;
		n--;
	}
	while (n > 0 && blank(line[n - 1]))
		n--;
	if (n == 0)
		return -EINVAL;
	if (parse_key(line, n, &out->key) == 0) {
		out->has_key = true;
		return 0;
	}
	size_t word = n;
	while (word > 0 && !blank(line[word - 1]))
		word--;
	if (word > 0 && parse_key(line + word, n - word, &out->key) == 0) {
		size_t name = word;
		while (name > 0 && blank(line[name - 1]))
			name--;
		if (comment_ok(line, name) < 0) {
			memset(out, 0, sizeof(*out));
			return -EINVAL;
		}
		out->has_key = true;
		return 0;
	}
	int rc = parse_name(line, n, out);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int dfs_objref_parse_text(const char *text, size_t len,
			  int (*fn)(const struct dfs_objref *r, void *ctx), void *ctx,
			  unsigned *lineno)
{
	const char *p = text, *end = text + len;
	struct dfs_objref r;
	unsigned line = 0;
	int rc = 0;

	while (rc == 0 && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		const char *a = p;
		line++;
		while (a < stop && blank(*a))
			a++;
		if (a < stop) {
			rc = dfs_objref_parse(a, (size_t)(stop - a), &r);
			if (rc == 0)
				rc = fn(&r, ctx);
		}
		p = nl ? nl + 1 : end;
	}
	if (lineno)
		*lineno = rc ? line : 0;
	return rc;
}

void dfs_objref_format(struct dfs_buf *out, const char *model, const char *object,
		       const struct dfs_pubkey *key)
{
	char hex[2 * DFS_PUBKEY_LEN + 1];

	dfs_hex_encode(hex, key->b, DFS_PUBKEY_LEN);
	if (model) {
		dfs_name_escape(out, model, strlen(model));
		dfs_buf_add_u8(out, '/');
		dfs_name_escape(out, object, strlen(object));
		dfs_buf_add_u8(out, ' ');
	}
	dfs_buf_printf(out, "%s\n", hex);
}
