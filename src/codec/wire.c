// SPDX-License-Identifier: MIT
/* wire.c - replication protocol messages (pure, bounds-checked); see wire.h */
#include <errno.h>
#include <string.h>

#include "dinemicfs/wire.h"

int dfs_msg_encode(const struct dfs_msg *m, struct dfs_buf *out)
{
	dfs_buf_reset(out);
	switch (m->type) {
	case DFS_MSG_HELLO:
		if (m->flags & ~DFS_WIRE_FLAG_NETKEY)
			return -EINVAL;
		dfs_buf_add_u8(out, DFS_MSG_HELLO);
		dfs_buf_add_u8(out, DFS_WIRE_VERSION);
		dfs_buf_add_u8(out, m->flags);
		dfs_buf_add(out, m->node.b, DFS_PUBKEY_LEN);
		dfs_buf_add(out, m->nonce, DFS_WIRE_NONCE_LEN);
		break;
	case DFS_MSG_AUTH:
		dfs_buf_add_u8(out, DFS_MSG_AUTH);
		dfs_buf_add(out, m->sig, DFS_SIG_LEN);
		dfs_buf_add(out, m->mac, DFS_WIRE_MAC_LEN);
		break;
	case DFS_MSG_LOG:
		dfs_buf_add_u8(out, DFS_MSG_LOG);
		dfs_buf_add_u64be(out, m->seq);
		dfs_buf_add(out, m->log_id, DFS_WIRE_LOG_ID_LEN);
		break;
	case DFS_MSG_WANT:
		dfs_buf_add_u8(out, m->type);
		dfs_buf_add_u64be(out, m->seq);
		break;
	case DFS_MSG_ACK:
		if (m->upto < m->seq)
			return -EINVAL;
		dfs_buf_add_u8(out, m->type);
		dfs_buf_add_u64be(out, m->seq);
		dfs_buf_add_u64be(out, m->upto);
		break;
	case DFS_MSG_PRUNE:
		dfs_buf_add_u8(out, DFS_MSG_PRUNE);
		break;
	default:
		return -EINVAL;
	}
	return dfs_buf_ok(out);
}

void dfs_msg_have_begin(struct dfs_buf *out, uint64_t head)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, DFS_MSG_HAVE);
	dfs_buf_add_u64be(out, head);
	dfs_buf_add_u64be(out, 0);	/* upto: dfs_msg_updates_end() */
}

void dfs_msg_have_add(struct dfs_buf *out, uint64_t seq, const struct dfs_hash *hash)
{
	dfs_buf_add_u64be(out, seq);
	dfs_buf_add(out, hash->b, DFS_HASH_LEN);
}

int dfs_msg_graft_encode(struct dfs_buf *out, const uint64_t *seqs, size_t n)
{
	dfs_buf_reset(out);
	if (n > DFS_WIRE_GRAFT_MAX)
		return -EINVAL;
	dfs_buf_add_u8(out, DFS_MSG_GRAFT);
	for (size_t i = 0; i < n; i++) {
		if (seqs[i] == 0 || (i > 0 && seqs[i] <= seqs[i - 1]))
			return -EINVAL;
		dfs_buf_add_u64be(out, seqs[i]);
	}
	return dfs_buf_ok(out);
}

void dfs_msg_updates_begin(struct dfs_buf *out, uint64_t head)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, DFS_MSG_UPDATES);
	dfs_buf_add_u64be(out, head);
	dfs_buf_add_u64be(out, 0);	/* upto: dfs_msg_updates_end() */
}

void dfs_msg_updates_add(struct dfs_buf *out, uint64_t seq, const uint8_t *rec, size_t len)
{
	dfs_buf_add_u64be(out, seq);
	dfs_buf_add_u32be(out, (uint32_t)len);
	dfs_buf_add(out, rec, len);
}

void dfs_msg_updates_end(struct dfs_buf *out, uint64_t upto)
{
	if (dfs_buf_ok(out) < 0 || out->len < 17)
		return;
	for (int i = 0; i < 8; i++)
		out->data[9 + i] = (uint8_t)(upto >> (56 - 8 * i));
}

static int decode_items(struct dfs_reader *r, struct dfs_msg *m)
{
	uint64_t last = 0;

	m->items = r->p + r->off;
	m->items_len = dfs_reader_left(r);
	while (dfs_reader_left(r) > 0) {
		uint64_t seq;
		uint32_t len;
		const uint8_t *rec;
		if (++m->count > DFS_WIRE_BATCH_MAX)
			return -EBADMSG;
		if (dfs_reader_get_u64be(r, &seq) < 0 || dfs_reader_get_u32be(r, &len) < 0 ||
		    len > DFS_UPDATE_MAX_LEN || dfs_reader_get_view(r, &rec, len) < 0)
			return -EBADMSG;
		if (seq == 0 || seq <= last || seq > m->upto)
			return -EBADMSG;
		last = seq;
	}
	return m->upto ? 0 : -EBADMSG;
}

/* HAVE items: seq(8), hash(32), seqs increasing, none past upto. */
static int decode_haves(struct dfs_reader *r, struct dfs_msg *m)
{
	uint64_t last = 0;

	m->items = r->p + r->off;
	m->items_len = dfs_reader_left(r);
	if (m->items_len % (8 + DFS_HASH_LEN) != 0)
		return -EBADMSG;
	m->count = m->items_len / (8 + DFS_HASH_LEN);
	if (m->count > DFS_WIRE_BATCH_MAX || m->upto == 0)
		return -EBADMSG;
	for (size_t i = 0; i < m->count; i++) {
		uint64_t seq;
		const uint8_t *h;
		if (dfs_reader_get_u64be(r, &seq) < 0 || dfs_reader_get_view(r, &h, DFS_HASH_LEN) < 0)
			return -EBADMSG;
		if (seq == 0 || seq <= last || seq > m->upto)
			return -EBADMSG;
		last = seq;
	}
	return 0;
}

/* GRAFT: 0..DFS_WIRE_GRAFT_MAX seqs, increasing, > 0. */
static int decode_graft(struct dfs_reader *r, struct dfs_msg *m)
{
	uint64_t last = 0;

	m->items = r->p + r->off;
	m->items_len = dfs_reader_left(r);
	if (m->items_len % 8 != 0)
		return -EBADMSG;
	m->count = m->items_len / 8;
	if (m->count > DFS_WIRE_GRAFT_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < m->count; i++) {
		uint64_t seq;
		if (dfs_reader_get_u64be(r, &seq) < 0 || seq <= last)
			return -EBADMSG;
		last = seq;
	}
	return 0;
}

/* Another version may have another body: the version is judged first. */
static int decode_hello(struct dfs_reader *r, struct dfs_msg *m)
{
	if (dfs_reader_get_u8(r, &m->version) < 0)
		return -EBADMSG;
	if (m->version != DFS_WIRE_VERSION)
		return -EPROTONOSUPPORT;
	int rc = dfs_reader_get_u8(r, &m->flags);
	if (rc == 0)
		rc = dfs_reader_get_bytes(r, m->node.b, DFS_PUBKEY_LEN);
	if (rc == 0)
		rc = dfs_reader_get_bytes(r, m->nonce, DFS_WIRE_NONCE_LEN);
	if (rc < 0 || (m->flags & ~DFS_WIRE_FLAG_NETKEY))
		return -EBADMSG;
	return 0;
}

int dfs_msg_decode(const uint8_t *p, size_t len, struct dfs_msg *m)
{
	struct dfs_reader r;
	int rc;

	memset(m, 0, sizeof(*m));
	if (len > DFS_WIRE_MSG_MAX)
		return -E2BIG;
	dfs_reader_init(&r, p, len);
	if (dfs_reader_get_u8(&r, &m->type) < 0)
		return -EBADMSG;
	switch (m->type) {
	case DFS_MSG_HELLO:
		rc = decode_hello(&r, m);
		if (rc < 0)
			return rc;
		break;
	case DFS_MSG_LOG:
		rc = dfs_reader_get_u64be(&r, &m->seq);
		if (rc == 0)
			rc = dfs_reader_get_bytes(&r, m->log_id, DFS_WIRE_LOG_ID_LEN);
		if (rc < 0)
			return -EBADMSG;
		break;
	case DFS_MSG_AUTH:
		rc = dfs_reader_get_bytes(&r, m->sig, DFS_SIG_LEN);
		if (rc == 0)
			rc = dfs_reader_get_bytes(&r, m->mac, DFS_WIRE_MAC_LEN);
		if (rc < 0)
			return -EBADMSG;
		break;
	case DFS_MSG_WANT:
		if (dfs_reader_get_u64be(&r, &m->seq) < 0)
			return -EBADMSG;
		break;
	case DFS_MSG_ACK:
		if (dfs_reader_get_u64be(&r, &m->seq) < 0 || dfs_reader_get_u64be(&r, &m->upto) < 0 ||
		    m->upto < m->seq)
			return -EBADMSG;
		break;
	case DFS_MSG_UPDATES:
		if (dfs_reader_get_u64be(&r, &m->seq) < 0 || dfs_reader_get_u64be(&r, &m->upto) < 0)
			return -EBADMSG;
		return decode_items(&r, m);
	case DFS_MSG_HAVE:
		if (dfs_reader_get_u64be(&r, &m->seq) < 0 || dfs_reader_get_u64be(&r, &m->upto) < 0)
			return -EBADMSG;
		return decode_haves(&r, m);
	case DFS_MSG_GRAFT:
		return decode_graft(&r, m);
	case DFS_MSG_PRUNE:
		break;
	default:
		return -EBADMSG;
	}
	return dfs_reader_left(&r) == 0 ? 0 : -EBADMSG;
}

bool dfs_msg_next_item(const struct dfs_msg *m, size_t *off, uint64_t *seq, const uint8_t **rec,
		       size_t *len)
{
	struct dfs_reader r;
	uint32_t n;

	if (m->type != DFS_MSG_UPDATES || *off >= m->items_len)
		return false;
	dfs_reader_init(&r, m->items, m->items_len);
	r.off = *off;
	/* decode_items() checked every item: these cannot fail. */
	if (dfs_reader_get_u64be(&r, seq) < 0 || dfs_reader_get_u32be(&r, &n) < 0 ||
	    dfs_reader_get_view(&r, rec, n) < 0)
		return false;
	*len = n;
	*off = r.off;
	return true;
}

bool dfs_msg_next_have(const struct dfs_msg *m, size_t *off, uint64_t *seq,
		       struct dfs_hash *hash)
{
	struct dfs_reader r;

	if (m->type != DFS_MSG_HAVE || *off >= m->items_len)
		return false;
	dfs_reader_init(&r, m->items, m->items_len);
	r.off = *off;
	/* decode_haves() checked every item: these cannot fail. */
	if (dfs_reader_get_u64be(&r, seq) < 0 ||
	    dfs_reader_get_bytes(&r, hash->b, DFS_HASH_LEN) < 0)
		return false;
	*off = r.off;
	return true;
}

uint64_t dfs_msg_graft_seq(const struct dfs_msg *m, size_t i)
{
	const uint8_t *p = m->items + 8 * i;
	uint64_t v = 0;

	if (m->type != DFS_MSG_GRAFT || i >= m->count)
		return 0;
	for (int k = 0; k < 8; k++)
		v = v << 8 | p[k];
	return v;
}

void dfs_wire_proof(uint8_t out[DFS_WIRE_PROOF_LEN], const struct dfs_wire_bind *b)
{
	static const char tag[16] = "dinemicfs-link3";	/* 15 chars and a NUL */
	uint8_t *p = out;

	memcpy(p, tag, 16);
	p += 16;
	memcpy(p, b->session, DFS_WIRE_SESSION_LEN);
	p += DFS_WIRE_SESSION_LEN;
	*p++ = b->prover_connected ? 'C' : 'S';
	memcpy(p, b->nonce, DFS_WIRE_NONCE_LEN);
	p += DFS_WIRE_NONCE_LEN;
	memcpy(p, b->prover.b, DFS_PUBKEY_LEN);
	p += DFS_PUBKEY_LEN;
	memcpy(p, b->verifier.b, DFS_PUBKEY_LEN);
}
