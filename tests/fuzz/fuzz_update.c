// SPDX-License-Identifier: MIT
/*
 * fuzz_update.c - dfs_update_decode on any bytes; whatever decodes must re-encode byte for
 * byte, and the decoder for stored records differs only on control bytes in names
 */
#include <errno.h>
#include <string.h>

#include "dinemicfs/update.h"
#include "fuzz.h"

/* True when [p, p + n) lies inside [base, base + size). */
static int inside(const void *p, size_t n, const uint8_t *base, size_t size)
{
	const uint8_t *q = p;

	return q >= base && n <= size && (size_t)(q - base) <= size - n;
}

static int has_control(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dfs_update u, st;
	struct dfs_buf out;
	int rc = dfs_update_decode(data, size, &u);
	int src = dfs_update_decode_stored(data, size, &st);

	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -EPROTONOSUPPORT || rc == -E2BIG);
	/* A stored record is read under the older rules: all they add is control bytes in names. */
	FUZZ_CHECK(rc != 0 || src == 0);
	if (src == 0 && rc != 0)
		FUZZ_CHECK(rc == -EBADMSG && (has_control(st.model, st.model_len) ||
					      has_control(st.name, st.name_len)));
	if (src != 0)
		FUZZ_CHECK(src == rc);
	if (rc < 0)
		return 0;

	FUZZ_CHECK(size >= DFS_UPDATE_MIN_LEN && size <= DFS_UPDATE_MAX_LEN);
	FUZZ_CHECK(strcmp(dfs_op_name(u.op), "unknown") != 0);
	FUZZ_CHECK(inside(u.model, u.model_len, data, size));
	FUZZ_CHECK(inside(u.name, u.name_len, data, size));
	FUZZ_CHECK(inside(u.value, u.value_len, data, size));
	FUZZ_CHECK(dfs_update_signed_len(size) + DFS_SIG_LEN == size);
	FUZZ_CHECK(memcmp(u.sig, data + dfs_update_signed_len(size), DFS_SIG_LEN) == 0);
	/* A base is only on sets and deletes, just before the signature. */
	if (u.flags & DFS_UPDATE_FLAG_BASE)
		FUZZ_CHECK((u.op == DFS_OP_FIELD_SET || u.op == DFS_OP_FIELD_DELETE) &&
			   memcmp(u.base.b, data + size - DFS_SIG_LEN - DFS_HASH_LEN,
				  DFS_HASH_LEN) == 0);
	if (u.op == DFS_OP_FIELD_RESOLVE)
		FUZZ_CHECK(u.value_len == DFS_HASH_LEN);

	/* An update's identity is the hash of its bytes: one update, one encoding. */
	dfs_buf_init(&out);
	FUZZ_CHECK(dfs_update_encode(&u, &out) == 0);
	FUZZ_CHECK(out.len == size && memcmp(out.data, data, size) == 0);
	dfs_buf_release(&out);
	return 0;
}
