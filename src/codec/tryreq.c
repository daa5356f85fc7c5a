// SPDX-License-Identifier: MIT
/* tryreq.c - a dry-run request's header: parsed as .node/try receives it, and written */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "dinemicfs/tryreq.h"

static const char *const op_names[] = {
	[DFS_TRY_SET] = "set",
	[DFS_TRY_APPEND] = "append",
	[DFS_TRY_DELETE] = "delete",
	[DFS_TRY_CREATE] = "create",
	[DFS_TRY_REMOVE] = "remove",
};
#define OPS (sizeof(op_names) / sizeof(op_names[0]))

const char *dfs_try_op_name(int op)
{
	return op >= 0 && (size_t)op < OPS ? op_names[op] : NULL;
}

static bool is_control(uint8_t c)
{
	return c < 0x20 || c == 0x7f;
}

/* The op a word (n bytes) names, or -1; with prefix, whether it can begin one. */
static int op_of(const uint8_t *w, size_t n, bool prefix)
{
	for (size_t i = 0; i < OPS; i++) {
		size_t len = strlen(op_names[i]);
		if ((n == len || (prefix && n < len)) && memcmp(w, op_names[i], n) == 0)
			return (int)i;
	}
	return -1;
}

/* LENGTH: 1..20 decimal digits, no leading zero but "0" itself, within uint64_t. */
static int parse_len(const uint8_t *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20 || (n > 1 && p[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* PATH: components of 1..255 bytes between single slashes, none "." or ".."; their count. */
static int parse_path(const uint8_t *p, size_t n, unsigned *depth)
{
	size_t start = 0;

	*depth = 0;
	if (n == 0 || n > DFS_TRYREQ_PATH_MAX)
		return -EINVAL;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		size_t len = i - start;
		const uint8_t *c = p + start;
		if (len == 0 || len > 255 || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		if (++*depth > 4)
			return -EINVAL;
		start = i + 1;
	}
	return 0;
}

/* Whether op takes a path of depth components and a value of len bytes. */
static bool fits(enum dfs_try_op op, unsigned depth, uint64_t len)
{
	if (op == DFS_TRY_CREATE || op == DFS_TRY_REMOVE)
		return depth == 2 && len == 0;
	return (depth == 3 || depth == 4) && (op != DFS_TRY_DELETE || len == 0);
}

/* A whole header line (n bytes, its newline not counted). */
static int parse_line(const uint8_t *line, size_t n, uint64_t max_len, struct dfs_tryreq *req)
{
	const uint8_t *sp1 = memchr(line, ' ', n);
	if (!sp1)
		return -EINVAL;
	int op = op_of(line, (size_t)(sp1 - line), false);
	const uint8_t *num = sp1 + 1;
	const uint8_t *sp2 = memchr(num, ' ', n - (size_t)(num - line));
	if (op < 0 || !sp2)
		return -EINVAL;
	uint64_t len;
	if (parse_len(num, (size_t)(sp2 - num), &len) < 0)
		return -EINVAL;
	const uint8_t *path = sp2 + 1;
	size_t plen = n - (size_t)(path - line);
	unsigned depth;
	if (parse_path(path, plen, &depth) < 0 || !fits((enum dfs_try_op)op, depth, len))
		return -EINVAL;
	if (len > max_len)
		return -EFBIG;
	req->op = (enum dfs_try_op)op;
	req->len = len;
	memcpy(req->path, path, plen);
	req->path[plen] = '\0';
	req->depth = depth;
	req->header_len = n + 1;
	return 1;
}

int dfs_tryreq_parse(const uint8_t *buf, size_t n, uint64_t max_len, struct dfs_tryreq *req)
{
	if (n == 0)
		return 0;
	size_t scan = n < DFS_TRYREQ_HEADER_MAX ? n : DFS_TRYREQ_HEADER_MAX;
	const uint8_t *nl = memchr(buf, '\n', scan);
	size_t line = nl ? (size_t)(nl - buf) : scan;

	/* What came so far must be able to begin a header: no control bytes, an op. */
	for (size_t i = 0; i < line; i++)
		if (is_control(buf[i]))
			return -EINVAL;
	const uint8_t *sp = memchr(buf, ' ', line);
	if (op_of(buf, sp ? (size_t)(sp - buf) : line, !sp && !nl) < 0)
		return -EINVAL;
	if (nl)
		return parse_line(buf, line, max_len, req);
	return n < DFS_TRYREQ_HEADER_MAX ? 0 : -EINVAL;
}

int dfs_tryreq_format(struct dfs_buf *out, enum dfs_try_op op, const char *path, uint64_t len)
{
	const char *name = dfs_try_op_name((int)op);
	size_t plen = strlen(path);
	unsigned depth;

	if (!name || parse_path((const uint8_t *)path, plen, &depth) < 0 || !fits(op, depth, len))
		return -EINVAL;
	for (size_t i = 0; i < plen; i++)
		if (is_control((uint8_t)path[i]))
			return -EINVAL;
	dfs_buf_printf(out, "%s %llu %s\n", name, (unsigned long long)len, path);
	return dfs_buf_ok(out);
}
