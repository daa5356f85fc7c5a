// SPDX-License-Identifier: MIT
/* fuzz_wire.c - dfs_msg_decode on any bytes; whatever decodes must re-encode byte for byte */
#include <errno.h>
#include <string.h>

#include "dinemicfs/wire.h"
#include "fuzz.h"

/* True when [p, p + n) lies inside [base, base + size). */
static int inside(const void *p, size_t n, const uint8_t *base, size_t size)
{
	const uint8_t *q = p;

	return q >= base && n <= size && (size_t)(q - base) <= size - n;
}

/* Walks the items, checks each, runs the update decoder on it and re-frames it into out. */
static void check_items(const struct dfs_msg *m, const uint8_t *data, size_t size,
			struct dfs_buf *out)
{
	size_t off = 0, n = 0;
	uint64_t seq, last = 0;
	const uint8_t *rec;
	size_t len;

	FUZZ_CHECK(m->count <= DFS_WIRE_BATCH_MAX);
	FUZZ_CHECK(m->upto > 0);
	FUZZ_CHECK(inside(m->items, m->items_len, data, size));
	FUZZ_CHECK(m->items == data + 1 + 16 && m->items_len == size - 1 - 16);
	dfs_msg_updates_begin(out, m->seq);
	while (dfs_msg_next_item(m, &off, &seq, &rec, &len)) {
		struct dfs_update u;
		int rc;

		FUZZ_CHECK(++n <= m->count);
		FUZZ_CHECK(seq > last && seq <= m->upto);
		FUZZ_CHECK(len <= DFS_UPDATE_MAX_LEN);
		FUZZ_CHECK(inside(rec, len, m->items, m->items_len));
		FUZZ_CHECK(off <= m->items_len && m->items + off == rec + len);
		last = seq;
		rc = dfs_update_decode(rec, len, &u);
		FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -EPROTONOSUPPORT || rc == -E2BIG);
		dfs_msg_updates_add(out, seq, rec, len);
	}
	FUZZ_CHECK(n == m->count);
	FUZZ_CHECK(off == m->items_len);
	dfs_msg_updates_end(out, m->upto);
}

/* HAVE: items of seq and hash, increasing, within upto; re-encoded into out. */
static void check_haves(const struct dfs_msg *m, struct dfs_buf *out)
{
	size_t off = 0, n = 0;
	uint64_t seq, last = 0;
	struct dfs_hash h;

	FUZZ_CHECK(m->count <= DFS_WIRE_BATCH_MAX);
	FUZZ_CHECK(m->upto > 0);
	dfs_msg_have_begin(out, m->seq);
	while (dfs_msg_next_have(m, &off, &seq, &h)) {
		FUZZ_CHECK(++n <= m->count);
		FUZZ_CHECK(seq > last && seq <= m->upto);
		last = seq;
		dfs_msg_have_add(out, seq, &h);
	}
	FUZZ_CHECK(n == m->count && off == m->items_len);
	dfs_msg_updates_end(out, m->upto);
}

/* GRAFT: 0..DFS_WIRE_GRAFT_MAX increasing seqs; re-encoded into out. */
static void check_graft(const struct dfs_msg *m, struct dfs_buf *out)
{
	uint64_t seqs[DFS_WIRE_GRAFT_MAX];

	FUZZ_CHECK(m->count <= DFS_WIRE_GRAFT_MAX);
	for (size_t i = 0; i < m->count; i++) {
		seqs[i] = dfs_msg_graft_seq(m, i);
		FUZZ_CHECK(seqs[i] > (i ? seqs[i - 1] : 0));
	}
	FUZZ_CHECK(dfs_msg_graft_seq(m, m->count) == 0);
	FUZZ_CHECK(dfs_msg_graft_encode(out, seqs, m->count) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dfs_msg m;
	struct dfs_buf out;
	int rc = dfs_msg_decode(data, size, &m);

	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -EPROTONOSUPPORT || rc == -E2BIG);
	if (rc < 0)
		return 0;

	FUZZ_CHECK(size >= 1 && size <= DFS_WIRE_MSG_MAX);
	FUZZ_CHECK(m.type == data[0]);
	dfs_buf_init(&out);
	switch (m.type) {
	case DFS_MSG_HELLO:
		FUZZ_CHECK(m.version == DFS_WIRE_VERSION);
		FUZZ_CHECK((m.flags & ~DFS_WIRE_FLAG_NETKEY) == 0);
		/* fall through */
	case DFS_MSG_AUTH:
	case DFS_MSG_LOG:
	case DFS_MSG_WANT:
	case DFS_MSG_ACK: {
		size_t off = 0;
		uint64_t seq;
		const uint8_t *rec;
		size_t len;

		FUZZ_CHECK(m.count == 0);
		FUZZ_CHECK(!dfs_msg_next_item(&m, &off, &seq, &rec, &len));
		FUZZ_CHECK(dfs_msg_encode(&m, &out) == 0);
		break;
	}
	case DFS_MSG_UPDATES:
		check_items(&m, data, size, &out);
		FUZZ_CHECK(dfs_buf_ok(&out) == 0);
		break;
	case DFS_MSG_HAVE:
		check_haves(&m, &out);
		FUZZ_CHECK(dfs_buf_ok(&out) == 0);
		break;
	case DFS_MSG_GRAFT:
		check_graft(&m, &out);
		break;
	case DFS_MSG_PRUNE:
		FUZZ_CHECK(m.count == 0);
		FUZZ_CHECK(dfs_msg_encode(&m, &out) == 0);
		break;
	default:
		FUZZ_CHECK(!"decoded an unknown type");
	}
	/* One message, one encoding. */
	FUZZ_CHECK(out.len == size && memcmp(out.data, data, size) == 0);
	dfs_buf_release(&out);
	return 0;
}
