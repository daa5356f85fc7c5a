// SPDX-License-Identifier: MIT
/* test_wire.c - unit tests for the replication protocol's messages (codec/wire.c) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "dinemicfs/wire.h"

#define HELLO_LEN (1 + 1 + 1 + DFS_PUBKEY_LEN + DFS_WIRE_NONCE_LEN)
#define LOG_LEN (1 + 8 + DFS_WIRE_LOG_ID_LEN)
#define AUTH_LEN (1 + DFS_SIG_LEN + DFS_WIRE_MAC_LEN)
#define WANT_LEN (1 + 8)
#define ACK_LEN (1 + 8 + 8)
#define UPDATES_HEAD_LEN (1 + 8 + 8)
#define ITEM_HEAD_LEN (8 + 4)

static struct dfs_pubkey obj_pk, node_pk;
static struct dfs_seckey obj_sk, node_sk;

static void setup(void)
{
	cr_assert_eq(dfs_crypto_init(), 0);
	cr_assert_eq(dfs_keys_generate(&obj_pk, &obj_sk), 0);
	cr_assert_eq(dfs_keys_generate(&node_pk, &node_sk), 0);
}

static void teardown(void)
{
	dfs_seckey_wipe(&obj_sk);
	dfs_seckey_wipe(&node_sk);
}

TestSuite(wire, .init = setup, .fini = teardown);

/* Decodes a private copy of exactly n bytes, so reading past n is a real overrun. */
static int decode_exact(const uint8_t *p, size_t n, size_t *count)
{
	struct dfs_msg m;
	uint8_t *copy = malloc(n ? n : 1);

	cr_assert_not_null(copy);
	if (n)
		memcpy(copy, p, n);
	int rc = dfs_msg_decode(copy, n, &m);
	if (count)
		*count = m.count;
	free(copy);
	return rc;
}

static void make_hello(struct dfs_msg *m, uint8_t flags)
{
	memset(m, 0, sizeof(*m));
	m->type = DFS_MSG_HELLO;
	m->version = DFS_WIRE_VERSION;
	m->flags = flags;
	m->node = node_pk;
	dfs_random(m->nonce, sizeof(m->nonce));
}

static void make_auth(struct dfs_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = DFS_MSG_AUTH;
	dfs_random(m->sig, sizeof(m->sig));
	dfs_random(m->mac, sizeof(m->mac));
}

static void make_want(struct dfs_msg *m, uint64_t from)
{
	memset(m, 0, sizeof(*m));
	m->type = DFS_MSG_WANT;
	m->seq = from;
}

/* Encodes m into a fresh buffer the caller releases. */
static void encode(const struct dfs_msg *m, struct dfs_buf *out)
{
	dfs_buf_init(out);
	cr_assert_eq(dfs_msg_encode(m, out), 0, "encode type '%c'", m->type);
}

/* A signed update record for op, like test_update.c builds. */
static void make_record(struct dfs_buf *out, enum dfs_op op, const char *name, const char *value)
{
	struct dfs_update u;

	memset(&u, 0, sizeof(u));
	u.op = (uint8_t)op;
	u.clock = 0x0000019300000001ull;
	u.model = "notes";
	u.model_len = 5;
	u.entity = obj_pk;
	u.signer = obj_pk;
	u.name = name;
	u.name_len = strlen(name);
	u.value = (const uint8_t *)value;
	u.value_len = value ? strlen(value) : 0;
	memset(u.prev.b, 0x5a, DFS_HASH_LEN);
	dfs_buf_init(out);
	cr_assert_eq(dfs_update_encode(&u, out), 0, "encode op %s", dfs_op_name(u.op));
	size_t slen = dfs_update_signed_len(out->len);
	dfs_sign(out->data + slen, out->data, slen, &obj_sk);
}

/* An UPDATES message of n small items of arbitrary bytes, with seqs 1..n. */
static void make_updates(struct dfs_buf *out, size_t n)
{
	dfs_buf_init(out);
	dfs_msg_updates_begin(out, n);
	for (size_t i = 0; i < n; i++) {
		uint8_t rec[3] = { 'r', (uint8_t)(i >> 8), (uint8_t)i };
		dfs_msg_updates_add(out, i + 1, rec, sizeof(rec));
	}
	dfs_msg_updates_end(out, n);
	cr_assert_eq(dfs_buf_ok(out), 0);
}

static uint64_t get_u64be(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* ---- round trips ------------------------------------------------------------ */

Test(wire, hello_round_trip)
{
	static const uint8_t flags[] = { 0, DFS_WIRE_FLAG_NETKEY };

	for (size_t i = 0; i < sizeof(flags); i++) {
		struct dfs_msg h, d;
		struct dfs_buf b;

		make_hello(&h, flags[i]);
		encode(&h, &b);
		cr_assert_eq(b.len, HELLO_LEN, "flags %u", flags[i]);
		cr_assert_eq(b.data[0], 'H');
		cr_assert_eq(b.data[1], DFS_WIRE_VERSION);
		cr_assert_eq(b.data[2], flags[i]);
		cr_assert_arr_eq(b.data + 3, node_pk.b, DFS_PUBKEY_LEN);
		cr_assert_arr_eq(b.data + 3 + DFS_PUBKEY_LEN, h.nonce, DFS_WIRE_NONCE_LEN);

		cr_assert_eq(dfs_msg_decode(b.data, b.len, &d), 0, "flags %u", flags[i]);
		cr_assert_eq(d.type, DFS_MSG_HELLO);
		cr_assert_eq(d.version, DFS_WIRE_VERSION);
		cr_assert_eq(d.flags, flags[i]);
		cr_assert_arr_eq(d.node.b, node_pk.b, DFS_PUBKEY_LEN);
		cr_assert_arr_eq(d.nonce, h.nonce, DFS_WIRE_NONCE_LEN);
		cr_assert_eq(d.count, 0);
		dfs_buf_release(&b);
	}
}

/* The log's length and id travel only once the peer is admitted. */
Test(wire, log_round_trip)
{
	struct dfs_msg l, d;
	struct dfs_buf b;

	memset(&l, 0, sizeof(l));
	l.type = DFS_MSG_LOG;
	l.seq = 0x0102030405060708ull;
	dfs_random(l.log_id, sizeof(l.log_id));
	encode(&l, &b);
	cr_assert_eq(b.len, LOG_LEN);
	cr_assert_eq(b.data[0], 'L');
	cr_assert_arr_eq(b.data + 1, ((uint8_t[]){ 1, 2, 3, 4, 5, 6, 7, 8 }), 8, "big-endian");
	cr_assert_arr_eq(b.data + 9, l.log_id, DFS_WIRE_LOG_ID_LEN);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.type, DFS_MSG_LOG);
	cr_assert_eq(d.seq, l.seq);
	cr_assert_arr_eq(d.log_id, l.log_id, DFS_WIRE_LOG_ID_LEN);
	for (size_t n = 0; n < b.len; n++)
		cr_assert_eq(decode_exact(b.data, n, NULL), -EBADMSG, "%zu bytes", n);
	dfs_buf_add_u8(&b, 0);
	cr_assert_eq(decode_exact(b.data, b.len, NULL), -EBADMSG, "one byte too many");
	dfs_buf_release(&b);
}

Test(wire, auth_round_trip)
{
	struct dfs_msg a, d;
	struct dfs_buf b;

	make_auth(&a);
	encode(&a, &b);
	cr_assert_eq(b.len, AUTH_LEN);
	cr_assert_eq(b.data[0], 'A');
	cr_assert_arr_eq(b.data + 1, a.sig, DFS_SIG_LEN);
	cr_assert_arr_eq(b.data + 1 + DFS_SIG_LEN, a.mac, DFS_WIRE_MAC_LEN);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.type, DFS_MSG_AUTH);
	cr_assert_arr_eq(d.sig, a.sig, DFS_SIG_LEN);
	cr_assert_arr_eq(d.mac, a.mac, DFS_WIRE_MAC_LEN);
	dfs_buf_release(&b);
}

Test(wire, want_round_trip)
{
	static const uint64_t froms[] = { 0, 1, 0x0102030405060708ull, UINT64_MAX };

	for (size_t i = 0; i < sizeof(froms) / sizeof(froms[0]); i++) {
		struct dfs_msg w, d;
		struct dfs_buf b;

		make_want(&w, froms[i]);
		encode(&w, &b);
		cr_assert_eq(b.len, WANT_LEN);
		cr_assert_eq(b.data[0], 'W');
		cr_assert_eq(get_u64be(b.data + 1), froms[i], "from, big-endian");
		cr_assert_eq(dfs_msg_decode(b.data, b.len, &d), 0);
		cr_assert_eq(d.type, DFS_MSG_WANT);
		cr_assert_eq(d.seq, froms[i]);
		dfs_buf_release(&b);
	}
}

Test(wire, ack_round_trip)
{
	static const uint64_t uptos[] = { 0, 1, 0x0102030405060708ull, UINT64_MAX };

	for (size_t i = 0; i < sizeof(uptos) / sizeof(uptos[0]); i++) {
		uint64_t taken = uptos[i] == UINT64_MAX ? uptos[i] : uptos[i] + i;
		struct dfs_msg a = { .type = DFS_MSG_ACK, .seq = uptos[i], .upto = taken }, d;
		struct dfs_buf b;

		encode(&a, &b);
		cr_assert_eq(b.len, ACK_LEN);
		cr_assert_eq(b.data[0], 'K');
		cr_assert_eq(get_u64be(b.data + 1), uptos[i], "upto, big-endian");
		cr_assert_eq(get_u64be(b.data + 9), taken, "taken, big-endian");
		cr_assert_eq(dfs_msg_decode(b.data, b.len, &d), 0);
		cr_assert_eq(d.type, DFS_MSG_ACK);
		cr_assert_eq(d.seq, uptos[i]);
		cr_assert_eq(d.upto, taken);
		cr_assert_eq(d.count, 0);
		dfs_buf_add_u8(&b, 0);
		cr_assert_eq(decode_exact(b.data, b.len, NULL), -EBADMSG, "an ACK with a byte more");
		dfs_buf_release(&b);
	}
}

/* Taken in is at least stored: an ACK that says less is refused both ways. */
Test(wire, ack_taken_below_stored)
{
	struct dfs_msg a = { .type = DFS_MSG_ACK, .seq = 7, .upto = 6 };
	struct dfs_buf b;

	dfs_buf_init(&b);
	cr_assert_eq(dfs_msg_encode(&a, &b), -EINVAL);
	dfs_buf_release(&b);
	a.upto = 7;
	encode(&a, &b);
	b.data[16] = 6;	/* taken's last byte: 6 < 7 */
	cr_assert_eq(decode_exact(b.data, b.len, NULL), -EBADMSG);
	dfs_buf_release(&b);
}

Test(wire, encode_refuses_what_it_cannot_send)
{
	struct dfs_msg m;
	struct dfs_buf b;

	dfs_buf_init(&b);
	make_hello(&m, 0x02);
	cr_assert_lt(dfs_msg_encode(&m, &b), 0, "a HELLO with an unknown flag");
	make_want(&m, 1);
	m.type = DFS_MSG_UPDATES;
	cr_assert_lt(dfs_msg_encode(&m, &b), 0, "UPDATES has its own encoder");
	m.type = 'X';
	cr_assert_lt(dfs_msg_encode(&m, &b), 0, "an unknown type");
	dfs_buf_release(&b);
}

Test(wire, updates_of_real_records)
{
	static const uint64_t seqs[] = { 5, 6, 10 };
	struct dfs_buf recs[3], b;
	struct dfs_msg d;
	size_t off = 0, n = 0;
	uint64_t seq;
	const uint8_t *rec;
	size_t len;

	make_record(&recs[0], DFS_OP_OBJECT_CREATE, "list", NULL);
	make_record(&recs[1], DFS_OP_FIELD_SET, "title", "milk, eggs\n");
	make_record(&recs[2], DFS_OP_FIELD_APPEND, "log", "bought milk\n");
	dfs_buf_init(&b);
	dfs_msg_updates_begin(&b, 42);
	for (size_t i = 0; i < 3; i++)
		dfs_msg_updates_add(&b, seqs[i], recs[i].data, recs[i].len);
	dfs_msg_updates_end(&b, 12);
	cr_assert_eq(dfs_buf_ok(&b), 0);
	cr_assert_eq(b.len, UPDATES_HEAD_LEN + 3 * ITEM_HEAD_LEN + recs[0].len + recs[1].len +
				    recs[2].len);
	cr_assert_eq(b.data[0], 'U');
	cr_assert_eq(get_u64be(b.data + 1), 42, "head, big-endian");
	cr_assert_eq(get_u64be(b.data + 9), 12, "upto, big-endian");
	cr_assert_eq(get_u64be(b.data + 17), 5, "first seq, big-endian");
	cr_assert_arr_eq(b.data + 25,
			 ((uint8_t[]){ 0, 0, (uint8_t)(recs[0].len >> 8), (uint8_t)recs[0].len }),
			 4, "first length, big-endian");
	cr_assert_arr_eq(b.data + UPDATES_HEAD_LEN + ITEM_HEAD_LEN, recs[0].data, recs[0].len);

	cr_assert_eq(dfs_msg_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.type, DFS_MSG_UPDATES);
	cr_assert_eq(d.seq, 42);
	cr_assert_eq(d.upto, 12);
	cr_assert_eq(d.count, 3);
	cr_assert_eq(d.items, b.data + UPDATES_HEAD_LEN, "items borrow the input");
	cr_assert_eq(d.items_len, b.len - UPDATES_HEAD_LEN);
	while (dfs_msg_next_item(&d, &off, &seq, &rec, &len)) {
		struct dfs_update u;

		cr_assert_lt(n, 3);
		cr_assert_eq(seq, seqs[n]);
		cr_assert_eq(len, recs[n].len);
		cr_assert_arr_eq(rec, recs[n].data, len);
		cr_assert(rec >= b.data && rec + len <= b.data + b.len);
		cr_assert_eq(dfs_update_decode(rec, len, &u), 0, "item %zu", n);
		cr_assert_eq(dfs_verify(u.sig, rec, dfs_update_signed_len(len), &u.signer), 0);
		n++;
	}
	cr_assert_eq(n, 3);
	cr_assert_eq(off, d.items_len);
	cr_assert_not(dfs_msg_next_item(&d, &off, &seq, &rec, &len), "stays at the end");

	for (size_t i = 0; i < 3; i++)
		dfs_buf_release(&recs[i]);
	dfs_buf_release(&b);
}

Test(wire, updates_items_are_only_framed)
{
	static const uint8_t junk[] = "not an update record";
	struct dfs_buf b;
	struct dfs_msg d;
	size_t off = 0;
	uint64_t seq;
	const uint8_t *rec;
	size_t len;

	dfs_buf_init(&b);
	dfs_msg_updates_begin(&b, 0);
	dfs_msg_updates_add(&b, 1, junk, sizeof(junk));
	dfs_msg_updates_add(&b, UINT64_MAX, junk, 3);
	dfs_msg_updates_end(&b, UINT64_MAX);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.seq, 0, "a head of 0 is an empty log, not an error");
	cr_assert_eq(d.count, 2);
	cr_assert(dfs_msg_next_item(&d, &off, &seq, &rec, &len));
	cr_assert_eq(seq, 1);
	cr_assert_eq(len, sizeof(junk));
	cr_assert_arr_eq(rec, junk, len);
	cr_assert(dfs_msg_next_item(&d, &off, &seq, &rec, &len));
	cr_assert_eq(seq, UINT64_MAX);
	cr_assert_eq(len, 3);
	cr_assert_not(dfs_msg_next_item(&d, &off, &seq, &rec, &len));
	dfs_buf_release(&b);
}

Test(wire, next_item_only_walks_updates)
{
	struct dfs_msg w, d;
	struct dfs_buf b;
	size_t off = 0;
	uint64_t seq;
	const uint8_t *rec;
	size_t len;

	make_want(&w, 7);
	encode(&w, &b);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &d), 0);
	cr_assert_not(dfs_msg_next_item(&d, &off, &seq, &rec, &len));
	dfs_buf_release(&b);
}

/* ---- malformed input -------------------------------------------------------- */

Test(wire, empty_input)
{
	static const uint8_t none[1];

	cr_assert_eq(decode_exact(none, 0, NULL), -EBADMSG);
}

Test(wire, unknown_type)
{
	uint8_t msg[HELLO_LEN] = { 0 };

	for (int t = 0; t < 256; t++) {
		if (t == 'H' || t == 'A' || t == 'W' || t == 'U' || t == 'K' || t == 'I' ||
		    t == 'P' || t == 'G')
			continue;
		msg[0] = (uint8_t)t;
		cr_assert_eq(decode_exact(msg, 1, NULL), -EBADMSG, "type 0x%02x alone", t);
		cr_assert_eq(decode_exact(msg, WANT_LEN, NULL), -EBADMSG, "type 0x%02x", t);
		cr_assert_eq(decode_exact(msg, sizeof(msg), NULL), -EBADMSG, "type 0x%02x", t);
	}
}

/* Every proper prefix of a one-of-a-kind message is -EBADMSG. */
static void assert_every_truncation(const struct dfs_buf *b, const char *what)
{
	for (size_t n = 0; n < b->len; n++)
		cr_assert_eq(decode_exact(b->data, n, NULL), -EBADMSG, "%s cut to %zu of %zu", what,
			     n, b->len);
	cr_assert_eq(decode_exact(b->data, b->len, NULL), 0, "%s whole", what);
}

Test(wire, every_truncation_is_badmsg)
{
	struct dfs_msg m;
	struct dfs_buf b, rec;

	make_hello(&m, 0);
	encode(&m, &b);
	assert_every_truncation(&b, "HELLO");
	dfs_buf_release(&b);
	make_hello(&m, DFS_WIRE_FLAG_NETKEY);
	encode(&m, &b);
	assert_every_truncation(&b, "HELLO with netkey");
	dfs_buf_release(&b);
	make_auth(&m);
	encode(&m, &b);
	assert_every_truncation(&b, "AUTH");
	dfs_buf_release(&b);
	make_want(&m, 3);
	encode(&m, &b);
	assert_every_truncation(&b, "WANT");
	dfs_buf_release(&b);
	m.type = DFS_MSG_ACK;
	m.upto = 5;
	encode(&m, &b);
	assert_every_truncation(&b, "ACK");
	dfs_buf_release(&b);

	make_record(&rec, DFS_OP_FIELD_SET, "title", "milk");
	dfs_buf_init(&b);
	dfs_msg_updates_begin(&b, 9);
	dfs_msg_updates_add(&b, 9, rec.data, rec.len);
	dfs_msg_updates_end(&b, 9);
	/* Cut to its head, it is a whole message: no items, only how far. */
	for (size_t n = 0; n < b.len; n++)
		cr_assert_eq(decode_exact(b.data, n, NULL), n == UPDATES_HEAD_LEN ? 0 : -EBADMSG,
			     "UPDATES of one item cut to %zu of %zu", n, b.len);
	dfs_buf_release(&b);
	dfs_buf_release(&rec);
}

Test(wire, updates_cut_between_items_is_a_shorter_batch)
{
	struct dfs_buf b;
	size_t ends[4], count;

	/* Items of 3 bytes: a cut at an item's end leaves a valid, shorter batch. */
	make_updates(&b, 4);
	for (size_t i = 0; i < 4; i++)
		ends[i] = UPDATES_HEAD_LEN + (i + 1) * (ITEM_HEAD_LEN + 3);
	cr_assert_eq(ends[3], b.len);
	for (size_t n = 0; n <= b.len; n++) {
		size_t whole = 0;
		bool head = n == UPDATES_HEAD_LEN;

		for (size_t i = 0; i < 4; i++)
			if (ends[i] == n)
				whole = i + 1;
		int rc = decode_exact(b.data, n, &count);
		if (whole || head) {
			cr_assert_eq(rc, 0, "cut to %zu", n);
			cr_assert_eq(count, whole, "cut to %zu", n);
		} else {
			cr_assert_eq(rc, -EBADMSG, "cut to %zu of %zu", n, b.len);
		}
	}
	dfs_buf_release(&b);
}

Test(wire, trailing_bytes_are_badmsg)
{
	struct dfs_msg m[4];
	struct dfs_buf b;

	make_hello(&m[0], 0);
	make_hello(&m[1], DFS_WIRE_FLAG_NETKEY);
	make_auth(&m[2]);
	make_want(&m[3], 1);
	for (size_t i = 0; i < 4; i++) {
		encode(&m[i], &b);
		dfs_buf_add_u8(&b, 0);
		cr_assert_eq(decode_exact(b.data, b.len, NULL), -EBADMSG, "type '%c'", m[i].type);
		dfs_buf_add(&b, "more", 4);
		cr_assert_eq(decode_exact(b.data, b.len, NULL), -EBADMSG, "type '%c'", m[i].type);
		dfs_buf_release(&b);
	}

	/* After the last item, anything short of a whole item is left over. */
	make_updates(&b, 2);
	for (size_t extra = 1; extra < ITEM_HEAD_LEN; extra++) {
		dfs_buf_add_u8(&b, 0xff);
		cr_assert_eq(decode_exact(b.data, b.len, NULL), -EBADMSG, "%zu extra bytes", extra);
	}
	dfs_buf_release(&b);
}

Test(wire, hello_unknown_flags)
{
	struct dfs_msg m;
	struct dfs_buf b;

	make_hello(&m, DFS_WIRE_FLAG_NETKEY);
	encode(&m, &b);
	for (int bit = 1; bit < 8; bit++) {
		b.data[2] = (uint8_t)(1u << bit);
		cr_assert_eq(decode_exact(b.data, b.len, NULL), -EBADMSG, "flag bit %d", bit);
		b.data[2] |= DFS_WIRE_FLAG_NETKEY;
		cr_assert_eq(decode_exact(b.data, b.len, NULL), -EBADMSG, "flag bit %d with netkey",
			     bit);
	}
	b.data[2] = 0xff;
	cr_assert_eq(decode_exact(b.data, b.len, NULL), -EBADMSG);
	dfs_buf_release(&b);
}

Test(wire, hello_other_version)
{
	static const uint8_t versions[] = { 0, 1, 2, 3, 4, 5, 7, 0xff };
	struct dfs_msg m;
	struct dfs_buf b;

	make_hello(&m, 0);
	encode(&m, &b);
	for (size_t i = 0; i < sizeof(versions); i++) {
		b.data[1] = versions[i];
		cr_assert_eq(decode_exact(b.data, b.len, NULL), -EPROTONOSUPPORT, "version %u",
			     versions[i]);
	}
	/* Another version may have another body: the version is judged first. */
	b.data[1] = 1;
	dfs_buf_add(&b, "a longer hello", 14);
	cr_assert_eq(decode_exact(b.data, b.len, NULL), -EPROTONOSUPPORT);
	cr_assert_eq(decode_exact(b.data, 2, NULL), -EPROTONOSUPPORT);
	dfs_buf_release(&b);
}

Test(wire, updates_without_items)
{
	struct dfs_buf b;
	struct dfs_msg d;

	dfs_buf_init(&b);
	dfs_msg_updates_begin(&b, 12);
	cr_assert_eq(dfs_buf_ok(&b), 0);
	cr_assert_eq(b.len, UPDATES_HEAD_LEN);
	cr_assert_eq(decode_exact(b.data, b.len, NULL), -EBADMSG, "upto 0 says nothing");
	dfs_msg_updates_end(&b, 12);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &d), 0, "only moves the receiver's place on");
	cr_assert_eq(d.count, 0);
	cr_assert_eq(d.upto, 12);
	cr_assert_eq(d.seq, 12);
	dfs_buf_release(&b);
}

Test(wire, updates_items_stop_at_upto)
{
	struct dfs_buf b;

	dfs_buf_init(&b);
	dfs_msg_updates_begin(&b, 20);
	dfs_msg_updates_add(&b, 4, (const uint8_t *)"rec", 3);
	dfs_msg_updates_add(&b, 6, (const uint8_t *)"rec", 3);
	dfs_msg_updates_end(&b, 6);
	cr_assert_eq(decode_exact(b.data, b.len, NULL), 0, "upto is the last item");
	dfs_msg_updates_end(&b, 9);
	cr_assert_eq(decode_exact(b.data, b.len, NULL), 0, "or past it: items left out");
	dfs_msg_updates_end(&b, 5);
	cr_assert_eq(decode_exact(b.data, b.len, NULL), -EBADMSG, "an item past upto");
	dfs_buf_release(&b);
}

/* Decodes an UPDATES of 3-byte items with the given seqs. */
static int decode_seqs(const uint64_t *seqs, size_t n)
{
	struct dfs_buf b;

	dfs_buf_init(&b);
	dfs_msg_updates_begin(&b, 100);
	for (size_t i = 0; i < n; i++)
		dfs_msg_updates_add(&b, seqs[i], (const uint8_t *)"rec", 3);
	dfs_msg_updates_end(&b, UINT64_MAX);
	int rc = decode_exact(b.data, b.len, NULL);
	dfs_buf_release(&b);
	return rc;
}

Test(wire, updates_seq_must_increase_from_one)
{
	cr_assert_eq(decode_seqs((uint64_t[]){ 1, 2, 7 }, 3), 0);
	cr_assert_eq(decode_seqs((uint64_t[]){ 0 }, 1), -EBADMSG, "seq 0");
	cr_assert_eq(decode_seqs((uint64_t[]){ 0, 1 }, 2), -EBADMSG, "seq 0 first");
	cr_assert_eq(decode_seqs((uint64_t[]){ 1, 2, 2 }, 3), -EBADMSG, "a repeated seq");
	cr_assert_eq(decode_seqs((uint64_t[]){ 3, 2 }, 2), -EBADMSG, "a decreasing seq");
	cr_assert_eq(decode_seqs((uint64_t[]){ 5, 9, 6 }, 3), -EBADMSG, "a step back");
	cr_assert_eq(decode_seqs((uint64_t[]){ UINT64_MAX, 1 }, 2), -EBADMSG, "no wrap");
}

Test(wire, updates_item_length_past_the_end)
{
	static const uint32_t lens[] = { 4, 5, 1000, DFS_UPDATE_MAX_LEN, DFS_UPDATE_MAX_LEN + 1,
					 UINT32_MAX };
	struct dfs_buf b;
	const size_t len_off = UPDATES_HEAD_LEN + 8;

	make_updates(&b, 1);
	cr_assert_eq(b.data[len_off + 3], 3);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		b.data[len_off] = (uint8_t)(lens[i] >> 24);
		b.data[len_off + 1] = (uint8_t)(lens[i] >> 16);
		b.data[len_off + 2] = (uint8_t)(lens[i] >> 8);
		b.data[len_off + 3] = (uint8_t)lens[i];
		cr_assert_eq(decode_exact(b.data, b.len, NULL), -EBADMSG, "length %u", lens[i]);
	}
	dfs_buf_release(&b);
}

Test(wire, updates_record_longer_than_an_update)
{
	struct dfs_buf b;
	uint8_t *zeros = calloc(1, DFS_UPDATE_MAX_LEN + 1);
	struct dfs_msg d;

	cr_assert_not_null(zeros);
	dfs_buf_init(&b);
	dfs_msg_updates_begin(&b, 1);
	dfs_msg_updates_add(&b, 1, zeros, DFS_UPDATE_MAX_LEN);
	dfs_msg_updates_end(&b, 1);
	cr_assert_eq(dfs_buf_ok(&b), 0);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &d), 0, "the largest record fits");
	dfs_msg_updates_begin(&b, 1);
	dfs_msg_updates_add(&b, 1, zeros, DFS_UPDATE_MAX_LEN + 1);
	dfs_msg_updates_end(&b, 1);
	cr_assert_eq(dfs_buf_ok(&b), 0);
	cr_assert_lt(b.len, DFS_WIRE_MSG_MAX);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &d), -EBADMSG, "no record is that long");
	dfs_buf_release(&b);
	free(zeros);
}

Test(wire, updates_batch_max_items)
{
	struct dfs_buf b;
	size_t count;

	make_updates(&b, DFS_WIRE_BATCH_MAX);
	cr_assert_eq(decode_exact(b.data, b.len, &count), 0);
	cr_assert_eq(count, DFS_WIRE_BATCH_MAX);
	dfs_buf_release(&b);
	make_updates(&b, DFS_WIRE_BATCH_MAX + 1);
	cr_assert_eq(decode_exact(b.data, b.len, NULL), -EBADMSG);
	dfs_buf_release(&b);
}

Test(wire, longer_than_msg_max_is_e2big)
{
	/* The largest message: one record of the largest size and a full batch before it. */
	const size_t rest = DFS_WIRE_BATCH_BYTES - ITEM_HEAD_LEN;
	uint8_t *zeros = calloc(1, DFS_UPDATE_MAX_LEN);
	struct dfs_buf b;
	struct dfs_msg d;

	cr_assert_not_null(zeros);
	dfs_buf_init(&b);
	cr_assert_eq(dfs_buf_reserve(&b, DFS_WIRE_MSG_MAX + 1), 0);
	dfs_msg_updates_begin(&b, 2);
	dfs_msg_updates_add(&b, 1, zeros, rest);
	dfs_msg_updates_add(&b, 2, zeros, DFS_UPDATE_MAX_LEN);
	dfs_msg_updates_end(&b, 2);
	cr_assert_eq(dfs_buf_ok(&b), 0);
	cr_assert_eq(b.len, DFS_WIRE_MSG_MAX);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &d), 0, "DFS_WIRE_MSG_MAX itself is fine");
	cr_assert_eq(d.count, 2);

	/* One byte more is too big, whatever it holds: judged before the type. */
	dfs_buf_add_u8(&b, 0);
	cr_assert_eq(dfs_buf_ok(&b), 0);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &d), -E2BIG);
	b.data[0] = 'X';
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &d), -E2BIG);
	dfs_buf_release(&b);
	free(zeros);
}

/* ---- the AUTH proof --------------------------------------------------------- */

static void some_bind(struct dfs_wire_bind *b)
{
	memset(b, 0, sizeof(*b));
	dfs_random(b->session, sizeof(b->session));
	dfs_random(b->nonce, sizeof(b->nonce));
	b->prover = node_pk;
	b->verifier = obj_pk;
	b->prover_connected = true;
}

Test(wire, proof_layout)
{
	uint8_t out[DFS_WIRE_PROOF_LEN];
	struct dfs_wire_bind b;

	cr_assert_eq(DFS_WIRE_PROOF_LEN, 16 + 32 + 1 + 32 + 32 + 32);
	some_bind(&b);
	memset(out, 0xee, sizeof(out));
	dfs_wire_proof(out, &b);
	cr_assert_arr_eq(out, "dinemicfs-link3", 16, "the tag, with its NUL");
	cr_assert_arr_eq(out + 16, b.session, 32);
	cr_assert_eq(out[48], 'C');
	cr_assert_arr_eq(out + 49, b.nonce, DFS_WIRE_NONCE_LEN);
	cr_assert_arr_eq(out + 81, node_pk.b, DFS_PUBKEY_LEN);
	cr_assert_arr_eq(out + 113, obj_pk.b, DFS_PUBKEY_LEN);
	b.prover_connected = false;
	dfs_wire_proof(out, &b);
	cr_assert_eq(out[48], 'S');
}

/* Every part of the binding changes the proof: no proof fits another link. */
Test(wire, proof_names_session_side_nonce_and_both_ids)
{
	uint8_t base[DFS_WIRE_PROOF_LEN], out[DFS_WIRE_PROOF_LEN];
	struct dfs_wire_bind b, c;

	some_bind(&b);
	dfs_wire_proof(base, &b);
	for (int i = 0; i < 5; i++) {
		c = b;
		switch (i) {
		case 0: c.session[7] ^= 1; break;
		case 1: c.prover_connected = false; break;
		case 2: c.nonce[0] ^= 1; break;
		case 3: c.prover = obj_pk; break;
		case 4: c.verifier = node_pk; break;
		}
		dfs_wire_proof(out, &c);
		cr_assert_arr_neq(base, out, sizeof(out), "part %d", i);
	}
}

Test(wire, random_fills)
{
	uint8_t a[32] = { 0 }, b[32] = { 0 };

	dfs_random(a, sizeof(a));
	dfs_random(b, sizeof(b));
	cr_assert_arr_neq(a, b, sizeof(a), "two draws differ");
}

Test(wire, mac_is_keyed)
{
	uint8_t key[DFS_MAC_KEY_LEN], other[DFS_MAC_KEY_LEN];
	uint8_t m1[DFS_HASH_LEN], m2[DFS_HASH_LEN], m3[DFS_HASH_LEN], m4[DFS_HASH_LEN];
	static const char msg[] = "proof bytes";

	memset(key, 0x4b, sizeof(key));
	memcpy(other, key, sizeof(other));
	other[31] ^= 1;
	dfs_mac(m1, key, msg, sizeof(msg));
	dfs_mac(m2, key, msg, sizeof(msg));
	cr_assert_arr_eq(m1, m2, DFS_HASH_LEN, "same key and message, same mac");
	dfs_mac(m3, other, msg, sizeof(msg));
	cr_assert_arr_neq(m1, m3, DFS_HASH_LEN, "one key bit changes the mac");
	dfs_mac(m4, key, msg, sizeof(msg) - 1);
	cr_assert_arr_neq(m1, m4, DFS_HASH_LEN, "another message, another mac");
}

Test(wire, auth_proves_node_key_and_netkey)
{
	uint8_t proof[DFS_WIRE_PROOF_LEN], netkey[DFS_MAC_KEY_LEN];
	uint8_t mac[DFS_WIRE_MAC_LEN];
	struct dfs_wire_bind bind;
	struct dfs_msg a, d;
	struct dfs_buf b;

	/* The session, the sides, the receiver's nonce, both ids; signed and maced. */
	some_bind(&bind);
	dfs_random(netkey, sizeof(netkey));
	dfs_wire_proof(proof, &bind);
	memset(&a, 0, sizeof(a));
	a.type = DFS_MSG_AUTH;
	dfs_sign(a.sig, proof, sizeof(proof), &node_sk);
	dfs_mac(a.mac, netkey, proof, sizeof(proof));
	encode(&a, &b);

	cr_assert_eq(dfs_msg_decode(b.data, b.len, &d), 0);
	cr_assert_eq(dfs_verify(d.sig, proof, sizeof(proof), &node_pk), 0);
	dfs_mac(mac, netkey, proof, sizeof(proof));
	cr_assert(dfs_mem_equal(d.mac, mac, sizeof(mac)));
	cr_assert_neq(dfs_verify(d.sig, proof, sizeof(proof), &obj_pk), 0, "another node's id");
	bind.prover = obj_pk;
	dfs_wire_proof(proof, &bind);
	cr_assert_neq(dfs_verify(d.sig, proof, sizeof(proof), &node_pk), 0,
		      "the proof names its prover");
	dfs_buf_release(&b);
}

/* HAVE: hashes of entries, the same rules for seq and upto as UPDATES. */
Test(wire, have)
{
	struct dfs_hash h1, h2, got;
	struct dfs_msg m;
	struct dfs_buf b;
	uint64_t seq;
	size_t off = 0;

	memset(h1.b, 0xa1, sizeof(h1.b));
	memset(h2.b, 0xb2, sizeof(h2.b));
	dfs_buf_init(&b);
	dfs_msg_have_begin(&b, 40);
	dfs_msg_have_add(&b, 9, &h1);
	dfs_msg_have_add(&b, 12, &h2);
	dfs_msg_updates_end(&b, 30);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &m), 0);
	cr_assert_eq(m.type, DFS_MSG_HAVE);
	cr_assert_eq(m.seq, 40);
	cr_assert_eq(m.upto, 30);
	cr_assert_eq(m.count, 2);
	cr_assert(dfs_msg_next_have(&m, &off, &seq, &got));
	cr_assert_eq(seq, 9);
	cr_assert_arr_eq(got.b, h1.b, DFS_HASH_LEN);
	cr_assert(dfs_msg_next_have(&m, &off, &seq, &got));
	cr_assert_eq(seq, 12);
	cr_assert_arr_eq(got.b, h2.b, DFS_HASH_LEN);
	cr_assert(!dfs_msg_next_have(&m, &off, &seq, &got));
	/* Cut anywhere but between items (17: a HAVE of none, which moves upto on). */
	for (size_t n = 0; n < b.len; n++)
		if (n != 17 && n != 17 + 40)
			cr_assert_eq(dfs_msg_decode(b.data, n, &m), -EBADMSG, "cut to %zu", n);
	dfs_msg_updates_end(&b, 11);	/* 12 is past upto */
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &m), -EBADMSG);
	dfs_msg_have_begin(&b, 40);
	dfs_msg_have_add(&b, 9, &h1);
	dfs_msg_have_add(&b, 9, &h2);
	dfs_msg_updates_end(&b, 30);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &m), -EBADMSG, "a seq repeated");
	dfs_msg_have_begin(&b, 40);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &m), -EBADMSG, "upto 0");
	dfs_buf_release(&b);
}

/* GRAFT: 0..DFS_WIRE_GRAFT_MAX increasing seqs; PRUNE: nothing. */
Test(wire, graft_prune)
{
	uint64_t seqs[DFS_WIRE_GRAFT_MAX + 1];
	struct dfs_msg m = { .type = DFS_MSG_PRUNE };
	struct dfs_buf b;

	for (size_t i = 0; i <= DFS_WIRE_GRAFT_MAX; i++)
		seqs[i] = 3 * i + 1;
	dfs_buf_init(&b);
	cr_assert_eq(dfs_msg_graft_encode(&b, seqs, 3), 0);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &m), 0);
	cr_assert_eq(m.type, DFS_MSG_GRAFT);
	cr_assert_eq(m.count, 3);
	cr_assert_eq(dfs_msg_graft_seq(&m, 0), 1);
	cr_assert_eq(dfs_msg_graft_seq(&m, 2), 7);
	cr_assert_eq(dfs_msg_graft_seq(&m, 3), 0);
	cr_assert_eq(dfs_msg_decode(b.data, 1, &m), 0, "no seq: a refused PRUNE");
	cr_assert_eq(m.type, DFS_MSG_GRAFT);
	cr_assert_eq(m.count, 0);
	cr_assert_eq(dfs_msg_graft_seq(&m, 0), 0);
	cr_assert_eq(dfs_msg_decode(b.data, b.len - 1, &m), -EBADMSG, "cut");
	cr_assert_eq(dfs_msg_graft_encode(&b, seqs, DFS_WIRE_GRAFT_MAX), 0);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &m), 0);
	dfs_buf_add_u64be(&b, 99999);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &m), -EBADMSG, "too many");
	cr_assert_eq(dfs_msg_graft_encode(&b, seqs, 0), 0);
	cr_assert_eq(b.len, 1);
	cr_assert_eq(dfs_msg_graft_encode(&b, seqs, DFS_WIRE_GRAFT_MAX + 1), -EINVAL);
	seqs[1] = seqs[0];
	cr_assert_eq(dfs_msg_graft_encode(&b, seqs, 2), -EINVAL);
	m.type = DFS_MSG_PRUNE;
	cr_assert_eq(dfs_msg_encode(&m, &b), 0);
	cr_assert_eq(b.len, 1);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &m), 0);
	cr_assert_eq(m.type, DFS_MSG_PRUNE);
	dfs_buf_add_u8(&b, 0);
	cr_assert_eq(dfs_msg_decode(b.data, b.len, &m), -EBADMSG, "trailing");
	dfs_buf_release(&b);
}
