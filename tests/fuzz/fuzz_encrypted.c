// SPDX-License-Identifier: MIT
/*
 * fuzz_encrypted.c - a model's "encrypted" list (model/sealed.c): the check
 * against a second, independent reading of its rules, and lookups in it
 */
#include <errno.h>
#include <string.h>

#include "dinemicfs/buf.h"
#include "fuzz.h"
#include "internal.h"

/*
 * The rules of sealed.h, read here on their own: at most DFS_ENCRYPTED_MAX
 * bytes of names, each followed by '\n'; a name is 1..255 bytes with no '/'
 * or NUL and does not begin with '.'; names in strictly increasing byte
 * order (a name sorts after its prefixes).
 */
static int list_ok(const uint8_t *v, size_t len)
{
	size_t start = 0, prev = 0, prevlen = 0;
	int have_prev = 0;

	if (len > DFS_ENCRYPTED_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] != '\n') {
			if (v[i] == '/' || v[i] == '\0')
				return 0;
			continue;
		}
		size_t n = i - start;
		if (n == 0 || n > 255 || v[start] == '.')
			return 0;
		if (have_prev) {
			size_t m = n < prevlen ? n : prevlen;
			int c = memcmp(v + prev, v + start, m);
			if (c > 0 || (c == 0 && prevlen >= n))
				return 0;
		}
		have_prev = 1;
		prev = start;
		prevlen = n;
		start = i + 1;
	}
	return start == len;	/* the last name ends with '\n' */
}

/* A path of at most 511 bytes made from p, NUL-terminated in out. */
static void make_path(char out[512], const uint8_t *p, size_t n)
{
	if (n > 511)
		n = 511;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* Whether s (n bytes) is one of the '\n'-ended lines of v. */
static int line_in(const uint8_t *v, size_t len, const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		if (v[i] != '\n')
			continue;
		if (i - start == n && memcmp(v + start, s, n) == 0)
			return 1;
		start = i + 1;
	}
	return 0;
}

/* Each listed name is found, alone and as the dict part of a DICT/KEY path. */
static void check_lookups(const uint8_t *v, size_t len)
{
	char path[512];
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		if (v[i] != '\n')
			continue;
		size_t n = i - start;
		make_path(path, v + start, n);
		FUZZ_CHECK(dfs_sealed_listed(v, len, path));
		if (n + 2 <= 511) {
			path[n] = '/';
			path[n + 1] = 'k';
			path[n + 2] = '\0';
			FUZZ_CHECK(dfs_sealed_listed(v, len, path));
			/* A longer name sharing the prefix is another field. */
			path[n] = 'k';
			path[n + 1] = '\0';
			FUZZ_CHECK(dfs_sealed_listed(v, len, path) == line_in(v, len, path, n + 1));
		}
		start = i + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[512];
	int rc = dfs_sealed_check_list(data, size);

	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	FUZZ_CHECK((rc == 0) == list_ok(data, size));
	if (rc == 0)
		check_lookups(data, size);
	/* Lookups read nothing past the list, whatever it holds. */
	const uint8_t *nl = memchr(data, '\n', size);
	make_path(path, data, nl ? (size_t)(nl - data) : size);
	if (path[0])
		(void)dfs_sealed_listed(data, size, path);
	(void)dfs_sealed_listed(data, size, "x");
	return 0;
}
