/* SPDX-License-Identifier: MIT */
/*
 * tryreq.h - a dry-run request, as `dinemicfs try` writes it into
 * MOUNT/.node/try: parsed and written here (pure; fuzzed).
 *
 * A request is one header line, then the value:
 *
 *   OP LENGTH PATH\n
 *   VALUE
 *
 * OP is set, append, delete, create or remove; LENGTH the value's bytes in
 * decimal, without leading zeros (0 for delete, create and remove, which
 * take no value); PATH the entry the change is about, relative to the
 * mount: MODEL/OBJECT for create and remove, MODEL/OBJECT/FIELD or
 * MODEL/OBJECT/DICT/KEY for set, append and delete. Its components are
 * 1..255 bytes, separated by single slashes, neither "." nor "..", with no
 * control bytes (below 0x20, and 0x7f); it neither starts nor ends with a
 * slash. VALUE is exactly LENGTH bytes, any bytes, and nothing follows it.
 */
#ifndef DINEMICFS_TRYREQ_H
#define DINEMICFS_TRYREQ_H

#include <stddef.h>
#include <stdint.h>

#include "dinemicfs/buf.h"

enum dfs_try_op {
	DFS_TRY_SET,
	DFS_TRY_APPEND,
	DFS_TRY_DELETE,
	DFS_TRY_CREATE,
	DFS_TRY_REMOVE,
};

/* MODEL/OBJECT/ and a field path of the update format (511 bytes). */
#define DFS_TRYREQ_PATH_MAX 1023
/* "append ", 20 digits, a blank, the path and the newline. */
#define DFS_TRYREQ_HEADER_MAX (7 + 20 + 1 + DFS_TRYREQ_PATH_MAX + 1)

/* A parsed header. Plain data. */
struct dfs_tryreq {
	enum dfs_try_op op;
	uint64_t len;				/* the value's bytes */
	char path[DFS_TRYREQ_PATH_MAX + 1];	/* NUL-terminated */
	unsigned depth;				/* components of path: 2, 3 or 4 */
	size_t header_len;			/* the header line's bytes, newline included */
};

/**
 * Parses the header at the start of buf, of which n bytes have come so
 * far. Returns 1 with req filled once the header line is whole (the whole
 * request is header_len + len bytes), 0 while it is not but may still
 * become a header, -EINVAL for bytes that cannot begin a request, or
 * -EFBIG for a LENGTH over max_len. Borrows buf for the call.
 */
int dfs_tryreq_parse(const uint8_t *buf, size_t n, uint64_t max_len, struct dfs_tryreq *req);

/** The word of op in a request ("set"), or NULL for no op. */
const char *dfs_try_op_name(int op);

/**
 * Appends the header of a request to out: op on path, with a value of len
 * bytes to follow. Returns 0, or -EINVAL where the header would not parse
 * (path or len wrong for op), or -ENOMEM.
 */
int dfs_tryreq_format(struct dfs_buf *out, enum dfs_try_op op, const char *path, uint64_t len);

#endif
