// SPDX-License-Identifier: MIT
/* test_records.c - unit tests for the store's key layout and state records (codec/records.c) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "dinemicfs/records.h"

/*
 * Each record type goes through the same checks, so the tests drive them
 * through one table of encode/decode pairs.
 */
typedef int (*encode_fn)(const void *rec, struct dfs_buf *out);
typedef int (*decode_fn)(const uint8_t *p, size_t len, void *rec);

struct codec {
	const char *name;
	encode_fn enc;
	decode_fn dec;
	size_t size;
};

#define CODEC(type)                                                                \
	static int enc_##type(const void *rec, struct dfs_buf *out)                \
	{                                                                          \
		return dfs_##type##_rec_encode(rec, out);                          \
	}                                                                          \
	static int dec_##type(const uint8_t *p, size_t len, void *rec)             \
	{                                                                          \
		return dfs_##type##_rec_decode(p, len, rec);                       \
	}
CODEC(model)
CODEC(object)
CODEC(field)
CODEC(state)
CODEC(held)
#undef CODEC

static int enc_held_sum(const void *rec, struct dfs_buf *out)
{
	return dfs_held_sum_encode(rec, out);
}

static int dec_held_sum(const uint8_t *p, size_t len, void *rec)
{
	return dfs_held_sum_decode(p, len, rec);
}

static const struct codec codecs[] = {
	{ "model", enc_model, dec_model, sizeof(struct dfs_model_rec) },
	{ "object", enc_object, dec_object, sizeof(struct dfs_object_rec) },
	{ "field", enc_field, dec_field, sizeof(struct dfs_field_rec) },
	{ "state", enc_state, dec_state, sizeof(struct dfs_state_rec) },
	{ "held", enc_held, dec_held, sizeof(struct dfs_held_rec) },
	{ "held sum", enc_held_sum, dec_held_sum, sizeof(struct dfs_held_sum) },
};
#define N_CODECS (sizeof(codecs) / sizeof(codecs[0]))

static struct dfs_model_rec sample_model(void)
{
	struct dfs_model_rec m = { .live = true, .mtime = 0x1122334455667788ull, .clock = 42,
				   .objects = 0x0102030405060708ull };

	memset(m.head.b, 0xaa, DFS_HASH_LEN);
	memset(m.signer.b, 0xcc, DFS_PUBKEY_LEN);
	return m;
}

static struct dfs_object_rec sample_object(void)
{
	struct dfs_object_rec o = { .alive = true, .created = 7, .mtime = UINT64_MAX };

	memset(o.head.b, 0x0b, DFS_HASH_LEN);
	strcpy(o.model, "notes");
	strcpy(o.name, "shopping list");
	strcpy(o.shown, "shopping list~0b0b0b0b");
	return o;
}

static struct dfs_field_rec sample_field(void)
{
	struct dfs_field_rec f = {
		.kind = DFS_FIELD_VALUE,
		.alive = true,
		.flags = 1,
		.clock = 0x8000000000000001ull,
		.base_clock = 0x7000000000000001ull,
		.mtime = 99,
		.size = 1u << 20,
	};

	memset(f.signer.b, 0x5e, DFS_PUBKEY_LEN);
	memset(f.base_signer.b, 0xba, DFS_PUBKEY_LEN);
	return f;
}

static struct dfs_state_rec sample_state(void)
{
	return (struct dfs_state_rec){ .seq = 123456789, .clock = 987654321 };
}

static struct dfs_held_rec sample_held(void)
{
	struct dfs_held_rec h = { .bytes = 0x0102030405060708ull };

	memset(h.signer.b, 0x51, DFS_PUBKEY_LEN);
	memset(h.entity.b, 0xe1, DFS_PUBKEY_LEN);
	memset(h.hash.b, 0x4a, DFS_HASH_LEN);
	return h;
}

/* Encodes the sample record of codec c into out. */
static void encode_sample(const struct codec *c, struct dfs_buf *out)
{
	struct dfs_model_rec m = sample_model();
	struct dfs_object_rec o = sample_object();
	struct dfs_field_rec f = sample_field();
	struct dfs_state_rec s = sample_state();
	struct dfs_held_rec h = sample_held();
	struct dfs_held_sum hs = { .bytes = 16u << 20, .count = 3 };
	const void *recs[] = { &m, &o, &f, &s, &h, &hs };

	dfs_buf_init(out);
	cr_assert_eq(c->enc(recs[c - codecs], out), 0, "%s", c->name);
}

/* Decodes a private copy of exactly n bytes, so reading past n is a real overrun. */
static int decode_exact(const struct codec *c, const uint8_t *p, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	void *rec = malloc(c->size);

	cr_assert_not_null(copy);
	cr_assert_not_null(rec);
	if (n)
		memcpy(copy, p, n);
	int rc = c->dec(copy, n, rec);
	free(copy);
	free(rec);
	return rc;
}

Test(records, model_round_trip)
{
	struct dfs_model_rec m = sample_model(), d;
	struct dfs_buf b;

	dfs_buf_init(&b);
	cr_assert_eq(dfs_model_rec_encode(&m, &b), 0);
	cr_assert_eq(b.len, 1 + 1 + DFS_HASH_LEN + 8 + 8 + DFS_PUBKEY_LEN + 8);
	cr_assert_eq(b.data[0], DFS_MODEL_REC_VERSION);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(dfs_model_rec_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.live, true);
	cr_assert_arr_eq(d.head.b, m.head.b, DFS_HASH_LEN);
	cr_assert_eq(d.mtime, m.mtime);
	cr_assert_eq(d.clock, m.clock);
	cr_assert_arr_eq(d.signer.b, m.signer.b, DFS_PUBKEY_LEN);
	cr_assert_eq(d.objects, m.objects);
	cr_assert(dfs_model_shown(&d));

	m.live = false;
	dfs_buf_reset(&b);
	cr_assert_eq(dfs_model_rec_encode(&m, &b), 0);
	cr_assert_eq(dfs_model_rec_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.live, false);
	cr_assert(dfs_model_shown(&d), "a model holding objects shows");
	m.objects = 0;
	dfs_buf_reset(&b);
	cr_assert_eq(dfs_model_rec_encode(&m, &b), 0);
	cr_assert_eq(dfs_model_rec_decode(b.data, b.len, &d), 0);
	cr_assert_not(dfs_model_shown(&d), "removed and empty: hidden");
	dfs_buf_release(&b);
}

/* A model record of release 0.1.0, as its encoder wrote it. */
static void old_model(struct dfs_buf *b, uint8_t alive)
{
	uint8_t h[DFS_HASH_LEN], k[DFS_PUBKEY_LEN];

	memset(h, 0xaa, sizeof(h));
	memset(k, 0xcc, sizeof(k));
	dfs_buf_add_u8(b, 2);
	dfs_buf_add_u8(b, alive);
	dfs_buf_add(b, h, sizeof(h));
	dfs_buf_add_u64be(b, 77);
	dfs_buf_add_u64be(b, 42);
	dfs_buf_add(b, k, sizeof(k));
}

Test(records, model_of_release_0_1_0)
{
	struct dfs_model_rec d;
	struct dfs_buf b;

	dfs_buf_init(&b);
	old_model(&b, 1);
	cr_assert_eq(dfs_model_rec_decode(b.data, b.len, &d), -EBADMSG, "not today's layout");
	cr_assert_eq(dfs_model_rec_decode_v1(b.data, b.len, &d), 0);
	cr_assert(d.live);
	cr_assert_eq(d.mtime, 77);
	cr_assert_eq(d.clock, 42);
	cr_assert_eq(d.signer.b[0], 0xcc);
	cr_assert_eq(d.head.b[31], 0xaa);
	cr_assert_eq(d.objects, 0);
	for (size_t n = 0; n < b.len; n++)
		cr_assert_eq(dfs_model_rec_decode_v1(b.data, n, &d), -EBADMSG, "cut to %zu", n);
	dfs_buf_add_u8(&b, 0);
	cr_assert_eq(dfs_model_rec_decode_v1(b.data, b.len, &d), -EBADMSG, "a trailing byte");
	dfs_buf_reset(&b);
	old_model(&b, 2);
	cr_assert_eq(dfs_model_rec_decode_v1(b.data, b.len, &d), -EBADMSG, "alive = 2");
	dfs_buf_reset(&b);
	cr_assert_eq(dfs_model_rec_encode(&(struct dfs_model_rec){ .live = true }, &b), 0);
	cr_assert_eq(dfs_model_rec_decode_v1(b.data, b.len, &d), -EBADMSG, "today's is not old");
	dfs_buf_release(&b);
}

Test(records, version_record)
{
	struct dfs_buf b;
	uint32_t v = 0;

	dfs_buf_init(&b);
	cr_assert_eq(dfs_version_rec_encode(DFS_STORE_VERSION, &b), 0);
	cr_assert_eq(b.len, 5);
	cr_assert_eq(dfs_version_rec_decode(b.data, b.len, &v), 0);
	cr_assert_eq(v, DFS_STORE_VERSION);
	for (size_t n = 0; n < b.len; n++)
		cr_assert_eq(dfs_version_rec_decode(b.data, n, &v), -EBADMSG);
	b.data[0] = 3;
	cr_assert_eq(dfs_version_rec_decode(b.data, b.len, &v), -EBADMSG);
	dfs_key_version(&b);
	cr_assert_eq(b.len, 8);
	cr_assert(memcmp(b.data, "Sversion", 8) == 0);
	dfs_buf_release(&b);
}

Test(records, meta_key_per_signer)
{
	struct dfs_pubkey e, s;
	struct dfs_buf k, prefix;

	memset(e.b, 1, sizeof(e.b));
	memset(s.b, 0, sizeof(s.b));
	s.b[31] = 9;
	dfs_buf_init(&k);
	dfs_buf_init(&prefix);
	dfs_key_meta(&prefix, &e, "encrypted");
	dfs_key_meta_by(&k, &e, "encrypted", &s);
	cr_assert_eq(k.len, prefix.len + DFS_PUBKEY_LEN);
	cr_assert(memcmp(k.data, prefix.data, prefix.len) == 0, "under the list's prefix");
	cr_assert(memcmp(k.data + prefix.len, s.b, DFS_PUBKEY_LEN) == 0, "the signer, NULs too");
	dfs_buf_release(&k);
	dfs_buf_release(&prefix);
}

Test(records, object_round_trip)
{
	struct dfs_object_rec o = sample_object(), d;
	struct dfs_buf b;

	dfs_buf_init(&b);
	cr_assert_eq(dfs_object_rec_encode(&o, &b), 0);
	memset(&d, 0x77, sizeof(d));
	cr_assert_eq(dfs_object_rec_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.alive, true);
	cr_assert_arr_eq(d.head.b, o.head.b, DFS_HASH_LEN);
	cr_assert_eq(d.created, 7);
	cr_assert_eq(d.mtime, UINT64_MAX);
	cr_assert_str_eq(d.model, "notes");
	cr_assert_str_eq(d.name, "shopping list");
	cr_assert_str_eq(d.shown, "shopping list~0b0b0b0b");
	dfs_buf_release(&b);
}

Test(records, object_longest_names)
{
	struct dfs_object_rec o = sample_object(), d;
	struct dfs_buf b;

	memset(o.model, 'm', 255);
	o.model[255] = '\0';
	memset(o.name, 'n', 255);
	o.name[255] = '\0';
	memset(o.shown, 's', 255);
	o.shown[255] = '\0';
	dfs_buf_init(&b);
	cr_assert_eq(dfs_object_rec_encode(&o, &b), 0);
	cr_assert_eq(dfs_object_rec_decode(b.data, b.len, &d), 0);
	cr_assert_str_eq(d.model, o.model);
	cr_assert_str_eq(d.name, o.name);
	cr_assert_str_eq(d.shown, o.shown);
	dfs_buf_release(&b);
}

Test(records, field_round_trip)
{
	struct dfs_field_rec f = sample_field(), d;
	struct dfs_buf b;

	dfs_buf_init(&b);
	cr_assert_eq(dfs_field_rec_encode(&f, &b), 0);
	cr_assert_eq(dfs_field_rec_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.kind, DFS_FIELD_VALUE);
	cr_assert_eq(d.alive, true);
	cr_assert_eq(d.flags, 1);
	cr_assert_eq(d.clock, f.clock);
	cr_assert_arr_eq(d.signer.b, f.signer.b, DFS_PUBKEY_LEN);
	cr_assert_eq(d.base_clock, f.base_clock);
	cr_assert_arr_eq(d.base_signer.b, f.base_signer.b, DFS_PUBKEY_LEN);
	cr_assert_eq(d.mtime, 99);
	cr_assert_eq(d.size, 1u << 20);

	f.kind = DFS_FIELD_DICT;
	f.alive = false;
	dfs_buf_reset(&b);
	cr_assert_eq(dfs_field_rec_encode(&f, &b), 0);
	cr_assert_eq(dfs_field_rec_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.kind, DFS_FIELD_DICT);
	cr_assert_eq(d.alive, false, "a tombstone");
	dfs_buf_release(&b);
}

Test(records, state_round_trip)
{
	struct dfs_state_rec s = sample_state(), d;
	struct dfs_buf b;

	dfs_buf_init(&b);
	cr_assert_eq(dfs_state_rec_encode(&s, &b), 0);
	cr_assert_eq(b.len, 17);
	cr_assert_eq(dfs_state_rec_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.seq, 123456789);
	cr_assert_eq(d.clock, 987654321);
	dfs_buf_release(&b);
}

Test(records, meta_round_trip)
{
	struct dfs_meta_rec m = { .clock = 42, .value = (const uint8_t *)"salary\n", .len = 7 }, d;
	struct dfs_buf b;

	memset(m.signer.b, 0xab, DFS_PUBKEY_LEN);
	dfs_buf_init(&b);
	cr_assert_eq(dfs_meta_rec_encode(&m, &b), 0);
	cr_assert_eq(b.len, 1 + 8 + DFS_PUBKEY_LEN + 7);
	cr_assert_eq(dfs_meta_rec_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.clock, 42);
	cr_assert_eq(memcmp(d.signer.b, m.signer.b, DFS_PUBKEY_LEN), 0);
	cr_assert_eq(d.len, 7);
	cr_assert_eq(memcmp(d.value, "salary\n", 7), 0);
	/* An empty value is a value; anything shorter than the header is not a record. */
	for (size_t n = 0; n < 1 + 8 + DFS_PUBKEY_LEN; n++)
		cr_assert_eq(dfs_meta_rec_decode(b.data, n, &d), -EBADMSG, "length %zu", n);
	cr_assert_eq(dfs_meta_rec_decode(b.data, 1 + 8 + DFS_PUBKEY_LEN, &d), 0);
	cr_assert_eq(d.len, 0);
	b.data[0] = 9;
	cr_assert_eq(dfs_meta_rec_decode(b.data, b.len, &d), -EBADMSG, "another version");
	dfs_buf_release(&b);
}

/*
 * A history entry: the bare hash where applied (as stores made by 0.1.0
 * hold), the hash, a reason code and a short text where held.
 */
Test(records, history_applied_and_held)
{
	struct dfs_history_rec a = { .held = 0 }, d;
	struct dfs_history_rec h = { .held = DFS_HELD_LISTENER, .text = "deny: no\tway",
				     .text_len = 12 };
	struct dfs_buf b;
	char long_text[300];

	memset(a.hash.b, 0x5a, DFS_HASH_LEN);
	h.hash = a.hash;
	dfs_buf_init(&b);
	cr_assert_eq(dfs_history_rec_encode(&a, &b), 0);
	cr_assert_eq(b.len, DFS_HASH_LEN, "applied: the bare hash");
	cr_assert_eq(dfs_history_rec_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.held, 0);
	cr_assert_eq(d.text_len, 0);
	cr_assert_arr_eq(d.hash.b, a.hash.b, DFS_HASH_LEN);

	dfs_buf_reset(&b);
	cr_assert_eq(dfs_history_rec_encode(&h, &b), 0);
	cr_assert_eq(b.len, DFS_HASH_LEN + 1 + 12);
	cr_assert_eq(dfs_history_rec_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.held, DFS_HELD_LISTENER);
	cr_assert_arr_eq(d.hash.b, a.hash.b, DFS_HASH_LEN);
	cr_assert_eq(d.text_len, 12);
	cr_assert_eq(memcmp(d.text, "deny: no?way", 12), 0, "control bytes become '?'");
	/* A held entry without text is one; shorter than a hash is not an entry. */
	cr_assert_eq(dfs_history_rec_decode(b.data, DFS_HASH_LEN + 1, &d), 0);
	cr_assert_eq(d.text_len, 0);
	for (size_t n = 0; n < DFS_HASH_LEN; n++)
		cr_assert_eq(dfs_history_rec_decode(b.data, n, &d), -EBADMSG, "length %zu", n);
	b.data[DFS_HASH_LEN + 3] = '\n';
	cr_assert_eq(dfs_history_rec_decode(b.data, b.len, &d), -EBADMSG, "a control byte");
	b.data[DFS_HASH_LEN] = 0;
	cr_assert_eq(dfs_history_rec_decode(b.data, b.len, &d), -EBADMSG, "code 0");
	b.data[DFS_HASH_LEN] = DFS_HELD_LIMIT + 1;
	cr_assert_eq(dfs_history_rec_decode(b.data, b.len, &d), -EBADMSG, "an unknown code");
	h.held = DFS_HELD_LIMIT + 1;
	cr_assert_eq(dfs_history_rec_encode(&h, &b), -EINVAL);

	/* Text past DFS_HELD_TEXT_MAX is cut; longer entries are not entries. */
	memset(long_text, 'x', sizeof(long_text));
	h.held = DFS_HELD_RULE;
	h.text = long_text;
	h.text_len = sizeof(long_text);
	dfs_buf_reset(&b);
	cr_assert_eq(dfs_history_rec_encode(&h, &b), 0);
	cr_assert_eq(b.len, DFS_HASH_LEN + 1 + DFS_HELD_TEXT_MAX);
	cr_assert_eq(dfs_history_rec_decode(b.data, b.len, &d), 0);
	dfs_buf_add_u8(&b, 'x');
	cr_assert_eq(dfs_history_rec_decode(b.data, b.len, &d), -EBADMSG);
	dfs_buf_release(&b);
}

/* The index of held updates: its records round-trip, its keys sort oldest first. */
Test(records, held_index)
{
	struct dfs_held_rec h = sample_held(), d;
	struct dfs_held_sum hs = { .bytes = 12345, .count = 7 }, ds;
	struct dfs_pubkey signer;
	struct dfs_buf b, k1, k2;

	dfs_buf_init(&b);
	cr_assert_eq(dfs_held_rec_encode(&h, &b), 0);
	cr_assert_eq(b.len, 1 + 2 * DFS_PUBKEY_LEN + DFS_HASH_LEN + 8);
	cr_assert_eq(dfs_held_rec_decode(b.data, b.len, &d), 0);
	cr_assert_eq(memcmp(&d, &h, sizeof(d)), 0);
	dfs_buf_reset(&b);
	cr_assert_eq(dfs_held_sum_encode(&hs, &b), 0);
	cr_assert_eq(dfs_held_sum_decode(b.data, b.len, &ds), 0);
	cr_assert_eq(ds.bytes, 12345);
	cr_assert_eq(ds.count, 7);

	/* By sequence number and by signer, big-endian: key order is log order. */
	dfs_buf_init(&k1);
	dfs_buf_init(&k2);
	dfs_key_held(&k1, 255);
	dfs_key_held(&k2, 256);
	cr_assert_eq(k1.len, 9);
	cr_assert_lt(memcmp(k1.data, k2.data, 9), 0);
	memset(signer.b, 0x77, DFS_PUBKEY_LEN);
	dfs_key_held_by(&k1, &signer, 255);
	dfs_key_held_by(&k2, &signer, 256);
	uint8_t prefix[DFS_KEY_ENTITY_LEN];
	dfs_key_held_by_prefix(prefix, &signer);
	cr_assert_eq(k1.len, DFS_KEY_ENTITY_LEN + 8);
	cr_assert_eq(memcmp(k1.data, prefix, sizeof(prefix)), 0);
	cr_assert_lt(memcmp(k1.data, k2.data, k1.len), 0);
	dfs_key_held_sum(&k1, &signer);
	dfs_key_held_total(&k2);
	cr_assert_eq(k1.data[0], 'K');
	cr_assert_eq(k2.len, 5);
	cr_assert_eq(memcmp(k2.data, "Sheld", 5), 0);
	dfs_buf_release(&k1);
	dfs_buf_release(&k2);
	dfs_buf_release(&b);
}

Test(records, every_truncation_is_badmsg)
{
	for (size_t i = 0; i < N_CODECS; i++) {
		const struct codec *c = &codecs[i];
		struct dfs_buf b;

		encode_sample(c, &b);
		cr_assert_eq(decode_exact(c, b.data, b.len), 0, "%s", c->name);
		for (size_t n = 0; n < b.len; n++)
			cr_assert_eq(decode_exact(c, b.data, n), -EBADMSG, "%s cut to %zu of %zu",
				     c->name, n, b.len);
		dfs_buf_release(&b);
	}
}

Test(records, trailing_byte_is_badmsg)
{
	for (size_t i = 0; i < N_CODECS; i++) {
		const struct codec *c = &codecs[i];
		struct dfs_buf b;

		encode_sample(c, &b);
		dfs_buf_add_u8(&b, 0);
		cr_assert_eq(decode_exact(c, b.data, b.len), -EBADMSG, "%s", c->name);
		dfs_buf_release(&b);
	}
}

Test(records, bad_version_is_badmsg)
{
	static const uint8_t versions[] = { 0, 1, 2, 3, 0xff };

	for (size_t i = 0; i < N_CODECS; i++) {
		const struct codec *c = &codecs[i];
		struct dfs_buf b;

		encode_sample(c, &b);
		uint8_t own = b.data[0];
		for (size_t v = 0; v < sizeof(versions); v++) {
			if (versions[v] == own)
				continue;
			b.data[0] = versions[v];
			cr_assert_eq(decode_exact(c, b.data, b.len), -EBADMSG, "%s version %u",
				     c->name, versions[v]);
		}
		dfs_buf_release(&b);
	}
}

Test(records, bad_booleans_and_kinds)
{
	struct dfs_buf b;
	struct dfs_model_rec m = sample_model();
	struct dfs_object_rec o = sample_object();
	struct dfs_field_rec f = sample_field();

	dfs_buf_init(&b);
	cr_assert_eq(dfs_model_rec_encode(&m, &b), 0);
	b.data[1] = 2;
	cr_assert_eq(decode_exact(&codecs[0], b.data, b.len), -EBADMSG, "model alive = 2");

	dfs_buf_reset(&b);
	cr_assert_eq(dfs_object_rec_encode(&o, &b), 0);
	b.data[1] = 0xff;
	cr_assert_eq(decode_exact(&codecs[1], b.data, b.len), -EBADMSG, "object alive = 255");

	static const uint8_t kinds[] = { 0, 3, 0xff };
	for (size_t i = 0; i < sizeof(kinds); i++) {
		dfs_buf_reset(&b);
		cr_assert_eq(dfs_field_rec_encode(&f, &b), 0);
		b.data[1] = kinds[i];
		cr_assert_eq(decode_exact(&codecs[2], b.data, b.len), -EBADMSG, "kind %u",
			     kinds[i]);
	}
	dfs_buf_reset(&b);
	cr_assert_eq(dfs_field_rec_encode(&f, &b), 0);
	b.data[2] = 2;
	cr_assert_eq(decode_exact(&codecs[2], b.data, b.len), -EBADMSG, "field alive = 2");
	dfs_buf_release(&b);
}

Test(records, object_bad_strings)
{
	struct dfs_object_rec o = sample_object();
	struct dfs_buf b;
	size_t model_off = 1 + 1 + DFS_HASH_LEN + 8 + 8;

	dfs_buf_init(&b);
	cr_assert_eq(dfs_object_rec_encode(&o, &b), 0);
	cr_assert_eq(b.data[model_off], 5);
	b.data[model_off + 3] = '\0';
	cr_assert_eq(decode_exact(&codecs[1], b.data, b.len), -EBADMSG, "NUL in the model");

	/* An empty shown name (the last string): its length byte says 0. */
	strcpy(o.shown, "x");
	dfs_buf_reset(&b);
	cr_assert_eq(dfs_object_rec_encode(&o, &b), 0);
	b.data[b.len - 2] = 0;
	b.len--;
	cr_assert_eq(decode_exact(&codecs[1], b.data, b.len), -EBADMSG, "empty shown name");

	/* A length byte larger than what is left. */
	dfs_buf_reset(&b);
	cr_assert_eq(dfs_object_rec_encode(&o, &b), 0);
	b.data[b.len - 2] = 200;
	cr_assert_eq(decode_exact(&codecs[1], b.data, b.len), -EBADMSG, "shown name overruns");
	dfs_buf_release(&b);
}

/* ---- keys ------------------------------------------------------------------- */

Test(records, key_layout)
{
	struct dfs_buf k;
	struct dfs_pubkey e;
	struct dfs_hash h;

	memset(e.b, 0xee, DFS_PUBKEY_LEN);
	memset(h.b, 0x44, DFS_HASH_LEN);
	dfs_buf_init(&k);

	dfs_buf_add(&k, "stale", 5);
	dfs_key_update(&k, &h);
	cr_assert_eq(k.len, 1 + DFS_HASH_LEN, "builders reset the buffer first");
	cr_assert_eq(k.data[0], 'U');
	cr_assert_arr_eq(k.data + 1, h.b, DFS_HASH_LEN);

	dfs_key_history(&k, &e, 0x0102);
	cr_assert_eq(k.len, 1 + DFS_PUBKEY_LEN + 8);
	cr_assert_eq(k.data[0], 'H');
	cr_assert_arr_eq(k.data + 1, e.b, DFS_PUBKEY_LEN);
	cr_assert_arr_eq(k.data + 33, ((uint8_t[]){ 0, 0, 0, 0, 0, 0, 1, 2 }), 8);

	dfs_key_log(&k, 5);
	cr_assert_eq(k.len, 9);
	cr_assert_arr_eq(k.data, ((uint8_t[]){ 'L', 0, 0, 0, 0, 0, 0, 0, 5 }), 9);

	dfs_key_model(&k, "notes");
	cr_assert_eq(k.len, 6);
	cr_assert_arr_eq(k.data, "Mnotes", 6);

	dfs_key_name(&k, "notes", "list");
	cr_assert_eq(k.len, 11);
	cr_assert_arr_eq(k.data, "Nnotes\0list", 11);

	dfs_key_object(&k, &e);
	cr_assert_eq(k.len, 1 + DFS_PUBKEY_LEN);
	cr_assert_eq(k.data[0], 'E');

	dfs_key_field(&k, &e, "tags/food", 4);
	cr_assert_eq(k.len, 1 + DFS_PUBKEY_LEN + 4, "only plen bytes of the path");
	cr_assert_eq(k.data[0], 'F');
	cr_assert_arr_eq(k.data + 33, "tags", 4);

	dfs_key_value(&k, &e, "tags/food", 9);
	cr_assert_eq(k.data[0], 'V');
	cr_assert_arr_eq(k.data + 33, "tags/food", 9);

	dfs_key_meta(&k, &e, "authorized");
	cr_assert_eq(k.data[0], 'X');
	cr_assert_arr_eq(k.data + 33, "authorized", 10);

	dfs_key_state(&k);
	cr_assert_eq(k.len, 6);
	cr_assert_arr_eq(k.data, "Sstate", 6);
	cr_assert_eq(dfs_buf_ok(&k), 0);
	dfs_buf_release(&k);
}

/* History and log keys sort in apply order, because seq is big-endian. */
Test(records, sequence_keys_sort_in_order)
{
	static const uint64_t seqs[] = { 0, 1, 255, 256, 65535, 65536, 1ull << 32, UINT64_MAX };
	struct dfs_buf a, b;
	struct dfs_pubkey e;

	memset(e.b, 0x01, DFS_PUBKEY_LEN);
	dfs_buf_init(&a);
	dfs_buf_init(&b);
	for (size_t i = 1; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		dfs_key_history(&a, &e, seqs[i - 1]);
		dfs_key_history(&b, &e, seqs[i]);
		cr_assert_lt(memcmp(a.data, b.data, a.len), 0, "H %zu", i);
		dfs_key_log(&a, seqs[i - 1]);
		dfs_key_log(&b, seqs[i]);
		cr_assert_lt(memcmp(a.data, b.data, a.len), 0, "L %zu", i);
	}
	dfs_buf_release(&a);
	dfs_buf_release(&b);
}

/* A model's name keys share a prefix no other model's keys have. */
Test(records, name_keys_separate_models)
{
	struct dfs_buf a, prefix;

	dfs_buf_init(&a);
	dfs_buf_init(&prefix);
	dfs_key_name(&prefix, "note", "");
	dfs_key_name(&a, "notes", "x");
	cr_assert(a.len < prefix.len || memcmp(a.data, prefix.data, prefix.len) != 0,
		  "'notes' objects are not listed under 'note'");
	dfs_key_name(&a, "note", "x");
	cr_assert_arr_eq(a.data, prefix.data, prefix.len);
	dfs_buf_release(&a);
	dfs_buf_release(&prefix);
}
