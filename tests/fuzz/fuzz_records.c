// SPDX-License-Identifier: MIT
/* fuzz_records.c - the store's record decoders; byte 0 picks one, the rest is the record */
#include <errno.h>
#include <string.h>

#include "dinemicfs/records.h"
#include "fuzz.h"

enum { REC_MODEL, REC_OBJECT, REC_FIELD, REC_STATE, REC_META, REC_MODEL_V1, REC_VERSION,
       REC_HISTORY, REC_HELD, REC_HELD_SUM, REC_COUNT };

/* Release 0.1.0's model record, which nothing writes any more: its layout, again. */
static void encode_model_v1(const struct dfs_model_rec *r, struct dfs_buf *out)
{
	dfs_buf_add_u8(out, DFS_REC_VERSION);
	dfs_buf_add_u8(out, r->live);
	dfs_buf_add(out, r->head.b, DFS_HASH_LEN);
	dfs_buf_add_u64be(out, r->mtime);
	dfs_buf_add_u64be(out, r->clock);
	dfs_buf_add(out, r->signer.b, DFS_PUBKEY_LEN);
}

/* The records read only when a store is opened: 0.1.0's model record, the version. */
static int roundtrip_start(int which, const uint8_t *p, size_t len, struct dfs_buf *out)
{
	int rc;

	if (which == REC_MODEL_V1) {
		struct dfs_model_rec r;
		if ((rc = dfs_model_rec_decode_v1(p, len, &r)) < 0)
			return rc;
		FUZZ_CHECK(r.objects == 0);
		encode_model_v1(&r, out);
		return 0;
	}
	uint32_t v;
	if ((rc = dfs_version_rec_decode(p, len, &v)) < 0)
		return rc;
	FUZZ_CHECK(dfs_version_rec_encode(v, out) == 0);
	return 0;
}

/* Decodes p as the record kind `which`; on success re-encodes it into out. */
static int roundtrip(int which, const uint8_t *p, size_t len, struct dfs_buf *out)
{
	int rc;

	switch (which) {
	case REC_MODEL: {
		struct dfs_model_rec r;
		if ((rc = dfs_model_rec_decode(p, len, &r)) < 0)
			return rc;
		FUZZ_CHECK(dfs_model_rec_encode(&r, out) == 0);
		return 0;
	}
	case REC_OBJECT: {
		struct dfs_object_rec r;
		if ((rc = dfs_object_rec_decode(p, len, &r)) < 0)
			return rc;
		size_t mlen = strnlen(r.model, sizeof(r.model));
		size_t nlen = strnlen(r.name, sizeof(r.name));
		FUZZ_CHECK(mlen >= 1 && mlen < sizeof(r.model));
		FUZZ_CHECK(nlen >= 1 && nlen < sizeof(r.name));
		FUZZ_CHECK(dfs_object_rec_encode(&r, out) == 0);
		return 0;
	}
	case REC_FIELD: {
		struct dfs_field_rec r;
		if ((rc = dfs_field_rec_decode(p, len, &r)) < 0)
			return rc;
		FUZZ_CHECK(r.kind == DFS_FIELD_VALUE || r.kind == DFS_FIELD_DICT);
		FUZZ_CHECK(dfs_field_rec_encode(&r, out) == 0);
		return 0;
	}
	case REC_META: {
		struct dfs_meta_rec r;
		if ((rc = dfs_meta_rec_decode(p, len, &r)) < 0)
			return rc;
		FUZZ_CHECK(r.value >= p && r.value + r.len == p + len);
		FUZZ_CHECK(dfs_meta_rec_encode(&r, out) == 0);
		return 0;
	}
	case REC_MODEL_V1:
	case REC_VERSION:
		return roundtrip_start(which, p, len, out);
	case REC_HISTORY: {
		struct dfs_history_rec r;
		if ((rc = dfs_history_rec_decode(p, len, &r)) < 0)
			return rc;
		FUZZ_CHECK(r.held || r.text_len == 0);
		FUZZ_CHECK(r.text_len <= DFS_HELD_TEXT_MAX);
		FUZZ_CHECK(dfs_history_rec_encode(&r, out) == 0);
		return 0;
	}
	case REC_HELD: {
		struct dfs_held_rec r;
		if ((rc = dfs_held_rec_decode(p, len, &r)) < 0)
			return rc;
		FUZZ_CHECK(dfs_held_rec_encode(&r, out) == 0);
		return 0;
	}
	case REC_HELD_SUM: {
		struct dfs_held_sum r;
		if ((rc = dfs_held_sum_decode(p, len, &r)) < 0)
			return rc;
		FUZZ_CHECK(dfs_held_sum_encode(&r, out) == 0);
		return 0;
	}
	default: {
		struct dfs_state_rec r;
		if ((rc = dfs_state_rec_decode(p, len, &r)) < 0)
			return rc;
		FUZZ_CHECK(dfs_state_rec_encode(&r, out) == 0);
		return 0;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dfs_buf out;
	int rc;

	if (size < 1)
		return 0;
	dfs_buf_init(&out);
	rc = roundtrip(data[0] % REC_COUNT, data + 1, size - 1, &out);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	if (rc == 0)
		FUZZ_CHECK(out.len == size - 1 && memcmp(out.data, data + 1, size - 1) == 0);
	dfs_buf_release(&out);
	return 0;
}
