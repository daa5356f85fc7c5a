// SPDX-License-Identifier: MIT
/*
 * fuzz_tryreq.c - a dry-run request as anyone who may open .node/try could
 * write it: the header parsed at every length the bytes could arrive in,
 * a whole header written back byte for byte, and what it lets through
 * (the op, the value's length, a path that stays inside the mount)
 */
#include <errno.h>
#include <string.h>

#include "dinemicfs/tryreq.h"
#include "fuzz.h"

/* A path that names something inside the mount: 2..4 components, none empty, "." or "..". */
static void check_path(const struct dfs_tryreq *r)
{
	size_t n = strlen(r->path);
	unsigned parts = 1;

	FUZZ_CHECK(n > 0 && n <= DFS_TRYREQ_PATH_MAX);
	FUZZ_CHECK(r->path[0] != '/' && r->path[n - 1] != '/');
	FUZZ_CHECK(strstr(r->path, "//") == NULL);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)r->path[i];
		FUZZ_CHECK(c >= 0x20 && c != 0x7f);
		parts += c == '/';
	}
	FUZZ_CHECK(parts == r->depth && parts >= 2 && parts <= 4);
	for (const char *p = r->path; p; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL) {
		size_t len = strcspn(p, "/");
		FUZZ_CHECK(len >= 1 && len <= 255);
		FUZZ_CHECK(!(len == 1 && p[0] == '.') && !(len == 2 && p[0] == '.' && p[1] == '.'));
	}
	if (r->op == DFS_TRY_CREATE || r->op == DFS_TRY_REMOVE)
		FUZZ_CHECK(r->depth == 2 && r->len == 0);
	else
		FUZZ_CHECK(r->depth >= 3);
	if (r->op == DFS_TRY_DELETE)
		FUZZ_CHECK(r->len == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The first byte picks the node's max_value: 0 to 16 MiB. */
	uint64_t max = size ? (uint64_t)data[0] << 16 : 0;
	struct dfs_tryreq r, again;
	int rc = dfs_tryreq_parse(data, size, max, &r);

	FUZZ_CHECK(rc == 1 || rc == 0 || rc == -EINVAL || rc == -EFBIG);
	if (rc == 0)
		FUZZ_CHECK(size < DFS_TRYREQ_HEADER_MAX && !memchr(data, '\n', size));
	if (rc != 1)
		return 0;
	FUZZ_CHECK(r.header_len >= 1 && r.header_len <= size && r.header_len <= DFS_TRYREQ_HEADER_MAX);
	FUZZ_CHECK(data[r.header_len - 1] == '\n');
	FUZZ_CHECK(dfs_try_op_name((int)r.op) != NULL && r.len <= max);
	check_path(&r);
	/* Written back, the header is the same bytes. */
	struct dfs_buf b;
	dfs_buf_init(&b);
	FUZZ_CHECK(dfs_tryreq_format(&b, r.op, r.path, r.len) == 0);
	FUZZ_CHECK(b.len == r.header_len && memcmp(b.data, data, b.len) == 0);
	dfs_buf_release(&b);
	/* Each shorter prefix may still become this header; the value does not matter. */
	for (size_t n = 0; n < r.header_len; n++)
		FUZZ_CHECK(dfs_tryreq_parse(data, n, max, &again) == 0);
	FUZZ_CHECK(dfs_tryreq_parse(data, r.header_len, max, &again) == 1);
	FUZZ_CHECK(again.op == r.op && again.len == r.len && again.depth == r.depth &&
		   again.header_len == r.header_len && strcmp(again.path, r.path) == 0);
	return 0;
}
