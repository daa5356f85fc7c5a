// SPDX-License-Identifier: MIT
/* test_update.c - unit tests for the signed update record codec (codec/update.c) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "dinemicfs/update.h"

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

TestSuite(update, .init = setup, .fini = teardown);

static const struct dfs_hash zero_base;

static const enum dfs_op all_ops[] = {
	DFS_OP_MODEL_CREATE, DFS_OP_MODEL_REMOVE, DFS_OP_MODEL_META,
	DFS_OP_OBJECT_CREATE, DFS_OP_OBJECT_REMOVE, DFS_OP_OBJECT_META,
	DFS_OP_FIELD_SET, DFS_OP_FIELD_APPEND, DFS_OP_FIELD_DELETE,
	DFS_OP_DICT_CREATE, DFS_OP_DICT_DELETE, DFS_OP_FIELD_RESOLVE,
};
#define N_OPS (sizeof(all_ops) / sizeof(all_ops[0]))

static void set_name(struct dfs_update *u, const char *name)
{
	u->name = name;
	u->name_len = strlen(name);
}

static void set_value(struct dfs_update *u, const char *value)
{
	u->value = (const uint8_t *)value;
	u->value_len = strlen(value);
}

/* A valid update for op, following the table in update.h. */
static void make_valid(struct dfs_update *u, enum dfs_op op)
{
	memset(u, 0, sizeof(*u));
	u->op = (uint8_t)op;
	u->clock = 0x0123456789abcdefull;
	u->model = "notes";
	u->model_len = 5;
	u->entity = obj_pk;
	u->signer = obj_pk;
	memset(u->prev.b, 0x5a, DFS_HASH_LEN);
	switch (op) {
	case DFS_OP_MODEL_CREATE:
	case DFS_OP_MODEL_REMOVE:
		memset(u->entity.b, 0x11, DFS_PUBKEY_LEN);
		u->signer = node_pk;
		break;
	case DFS_OP_MODEL_META:
		memset(u->entity.b, 0x11, DFS_PUBKEY_LEN);
		u->signer = node_pk;
		set_name(u, "encrypted");
		set_value(u, "1");
		break;
	case DFS_OP_OBJECT_CREATE:
		set_name(u, "shopping list");
		break;
	case DFS_OP_OBJECT_REMOVE:
		break;
	case DFS_OP_OBJECT_META:
		set_name(u, "authorized");
		set_value(u, "some peer keys");
		break;
	case DFS_OP_FIELD_SET:
		set_name(u, "title");
		set_value(u, "milk, eggs\n");
		break;
	case DFS_OP_FIELD_APPEND:
		set_name(u, "tags/food");
		u->value = (const uint8_t *)"\0binary\xff";
		u->value_len = 8;
		u->flags = DFS_UPDATE_FLAG_SEALED;
		break;
	case DFS_OP_FIELD_DELETE:
		set_name(u, "tags/food");
		break;
	case DFS_OP_DICT_CREATE:
	case DFS_OP_DICT_DELETE:
		set_name(u, "tags");
		break;
	case DFS_OP_FIELD_RESOLVE:
		set_name(u, "title");
		u->value = (const uint8_t *)"0123456789abcdef0123456789abcdef";
		u->value_len = DFS_HASH_LEN;
		break;
	}
}

/* Encodes u and signs the result as its signer; copies the signature into u. */
static void encode_signed(struct dfs_update *u, struct dfs_buf *out)
{
	const struct dfs_seckey *sk = memcmp(u->signer.b, obj_pk.b, DFS_PUBKEY_LEN) == 0 ?
						      &obj_sk : &node_sk;

	dfs_buf_init(out);
	cr_assert_eq(dfs_update_encode(u, out), 0, "encode op %d", u->op);
	size_t slen = dfs_update_signed_len(out->len);
	dfs_sign(out->data + slen, out->data, slen, sk);
	memcpy(u->sig, out->data + slen, DFS_SIG_LEN);
}

/* Decodes a private copy of exactly n bytes, so reading past n is a real overrun. */
static int decode_exact(const uint8_t *p, size_t n)
{
	struct dfs_update u;
	uint8_t *copy = malloc(n ? n : 1);

	cr_assert_not_null(copy);
	if (n)
		memcpy(copy, p, n);
	int rc = dfs_update_decode(copy, n, &u);
	free(copy);
	return rc;
}

/* Raw record bytes, with no rule checked: for building malformed input. */
struct raw {
	uint8_t version, alg, op, flags;
	const struct dfs_pubkey *entity, *signer;
	const char *model;
	size_t mlen;
	const char *name;
	size_t nlen;
	const void *value;
	size_t vlen;
};

static void raw_init(struct raw *r, enum dfs_op op)
{
	memset(r, 0, sizeof(*r));
	r->version = DFS_UPDATE_VERSION;
	r->alg = DFS_UPDATE_ALG_ED25519;
	r->op = (uint8_t)op;
	r->entity = &obj_pk;
	r->signer = &obj_pk;
	r->model = "notes";
	r->mlen = 5;
	r->name = "";
}

static void raw_name(struct raw *r, const char *name)
{
	r->name = name;
	r->nlen = strlen(name);
}

static void raw_encode(const struct raw *r, struct dfs_buf *out)
{
	uint8_t prev[DFS_HASH_LEN] = { 0 }, sig[DFS_SIG_LEN] = { 0 };

	dfs_buf_init(out);
	dfs_buf_add_u8(out, r->version);
	dfs_buf_add_u8(out, r->alg);
	dfs_buf_add_u8(out, r->op);
	dfs_buf_add_u8(out, r->flags);
	dfs_buf_add_u64be(out, 1);
	dfs_buf_add(out, r->entity->b, DFS_PUBKEY_LEN);
	dfs_buf_add(out, r->signer->b, DFS_PUBKEY_LEN);
	dfs_buf_add(out, prev, sizeof(prev));
	dfs_buf_add_u8(out, (uint8_t)r->mlen);
	dfs_buf_add(out, r->model, r->mlen);
	dfs_buf_add_u16be(out, (uint16_t)r->nlen);
	dfs_buf_add(out, r->name, r->nlen);
	dfs_buf_add_u32be(out, (uint32_t)r->vlen);
	dfs_buf_add(out, r->value, r->vlen);
	dfs_buf_add(out, sig, sizeof(sig));
	cr_assert_eq(dfs_buf_ok(out), 0);
}

static int raw_decode(const struct raw *r)
{
	struct dfs_buf b;

	raw_encode(r, &b);
	int rc = decode_exact(b.data, b.len);
	dfs_buf_release(&b);
	return rc;
}

/* ---- round trips ------------------------------------------------------------ */

static void assert_same(const struct dfs_update *a, const struct dfs_update *b)
{
	cr_assert_eq(a->op, b->op);
	cr_assert_eq(a->flags, b->flags);
	cr_assert_eq(a->clock, b->clock);
	cr_assert_arr_eq(a->entity.b, b->entity.b, DFS_PUBKEY_LEN);
	cr_assert_arr_eq(a->signer.b, b->signer.b, DFS_PUBKEY_LEN);
	cr_assert_arr_eq(a->prev.b, b->prev.b, DFS_HASH_LEN);
	cr_assert_eq(a->model_len, b->model_len);
	cr_assert_arr_eq(a->model, b->model, a->model_len);
	cr_assert_eq(a->name_len, b->name_len);
	if (a->name_len)
		cr_assert_arr_eq(a->name, b->name, a->name_len);
	cr_assert_eq(a->value_len, b->value_len);
	if (a->value_len)
		cr_assert_arr_eq(a->value, b->value, a->value_len);
	cr_assert_arr_eq(a->sig, b->sig, DFS_SIG_LEN);
}

Test(update, round_trip_every_op)
{
	for (size_t i = 0; i < N_OPS; i++) {
		struct dfs_update u, d;
		struct dfs_buf b, again;

		make_valid(&u, all_ops[i]);
		encode_signed(&u, &b);
		cr_assert_eq(b.len, DFS_UPDATE_HEADER_LEN + 1 + u.model_len + 2 + u.name_len + 4 +
					    u.value_len + DFS_SIG_LEN,
			     "op %s: length", dfs_op_name(u.op));
		cr_assert_eq(b.data[0], DFS_UPDATE_VERSION);
		cr_assert_eq(b.data[1], DFS_UPDATE_ALG_ED25519);
		cr_assert_eq(b.data[2], u.op);

		cr_assert_eq(dfs_update_decode(b.data, b.len, &d), 0, "op %s", dfs_op_name(u.op));
		assert_same(&u, &d);
		/* Decoded pointers borrow the input. */
		cr_assert((const uint8_t *)d.model >= b.data &&
			  (const uint8_t *)d.model + d.model_len <= b.data + b.len);
		cr_assert_eq(dfs_verify(d.sig, b.data, dfs_update_signed_len(b.len), &d.signer),
			     0, "the signature covers every byte before it");

		dfs_buf_init(&again);
		cr_assert_eq(dfs_update_encode(&d, &again), 0);
		cr_assert_eq(again.len, b.len);
		cr_assert_arr_eq(again.data, b.data, b.len, "op %s: canonical",
				 dfs_op_name(u.op));
		dfs_buf_release(&again);
		dfs_buf_release(&b);
	}
}

Test(update, layout_offsets)
{
	struct dfs_update u;
	struct dfs_buf b;

	make_valid(&u, DFS_OP_FIELD_SET);
	encode_signed(&u, &b);
	cr_assert_eq(b.data[3], 0, "flags");
	cr_assert_arr_eq(b.data + 4, ((uint8_t[]){ 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef }),
			 8, "clock, big-endian");
	cr_assert_arr_eq(b.data + 12, u.entity.b, DFS_PUBKEY_LEN);
	cr_assert_arr_eq(b.data + 44, u.signer.b, DFS_PUBKEY_LEN);
	cr_assert_arr_eq(b.data + 76, u.prev.b, DFS_HASH_LEN);
	cr_assert_eq(b.data[DFS_UPDATE_HEADER_LEN], 5, "model length");
	cr_assert_arr_eq(b.data + 109, "notes", 5);
	cr_assert_eq(b.data[114], 0);
	cr_assert_eq(b.data[115], 5, "name length, big-endian");
	cr_assert_arr_eq(b.data + 116, "title", 5);
	cr_assert_arr_eq(b.data + 121, ((uint8_t[]){ 0, 0, 0, 11 }), 4, "value length");
	cr_assert_arr_eq(b.data + 125, "milk, eggs\n", 11);
	cr_assert_eq(b.len, 125 + 11 + DFS_SIG_LEN);
	dfs_buf_release(&b);
}

Test(update, smallest_record)
{
	struct dfs_update u;
	struct dfs_buf b;

	make_valid(&u, DFS_OP_MODEL_CREATE);
	u.model = "m";
	u.model_len = 1;
	encode_signed(&u, &b);
	cr_assert_eq(b.len, DFS_UPDATE_MIN_LEN);
	cr_assert_eq(decode_exact(b.data, b.len), 0);
	dfs_buf_release(&b);
}

Test(update, encode_appends)
{
	struct dfs_update u;
	struct dfs_buf b, alone;

	make_valid(&u, DFS_OP_DICT_CREATE);
	dfs_buf_init(&alone);
	cr_assert_eq(dfs_update_encode(&u, &alone), 0);
	dfs_buf_init(&b);
	dfs_buf_add(&b, "frame:", 6);
	cr_assert_eq(dfs_update_encode(&u, &b), 0);
	cr_assert_eq(b.len, 6 + alone.len);
	cr_assert_arr_eq(b.data + 6, alone.data, alone.len);
	dfs_buf_release(&b);
	dfs_buf_release(&alone);
}

Test(update, largest_record_round_trips)
{
	struct dfs_update u, d;
	struct dfs_buf b;
	char model[256], name[DFS_UPDATE_NAME_MAX + 1];
	uint8_t *value = malloc(DFS_UPDATE_VALUE_MAX);

	cr_assert_not_null(value);
	memset(value, 'v', DFS_UPDATE_VALUE_MAX);
	memset(model, 'm', 255);
	model[255] = '\0';
	memset(name, 'd', 255);
	name[255] = '/';
	memset(name + 256, 'k', 255);
	name[511] = '\0';
	make_valid(&u, DFS_OP_FIELD_SET);
	u.model = model;
	u.model_len = 255;
	set_name(&u, name);
	u.value = value;
	u.value_len = DFS_UPDATE_VALUE_MAX;
	u.flags = DFS_UPDATE_FLAG_BASE;
	dfs_buf_init(&b);
	cr_assert_eq(dfs_update_encode(&u, &b), 0);
	cr_assert_eq(b.len, DFS_UPDATE_MAX_LEN);
	cr_assert_eq(dfs_update_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.value_len, DFS_UPDATE_VALUE_MAX);
	cr_assert_eq(d.name_len, DFS_UPDATE_NAME_MAX);

	/* One byte more is too big, whatever it holds; the buffer is real. */
	dfs_buf_add_u8(&b, 0);
	cr_assert_eq(dfs_buf_ok(&b), 0);
	cr_assert_eq(dfs_update_decode(b.data, b.len, &d), -E2BIG);
	dfs_buf_release(&b);
	free(value);
}

Test(update, op_names)
{
	cr_assert_str_eq(dfs_op_name(DFS_OP_FIELD_SET), "set");
	cr_assert_str_eq(dfs_op_name(DFS_OP_FIELD_APPEND), "append");
	cr_assert_str_eq(dfs_op_name(DFS_OP_FIELD_DELETE), "delete");
	cr_assert_str_eq(dfs_op_name(DFS_OP_OBJECT_CREATE), "create");
	cr_assert_str_eq(dfs_op_name(0), "unknown");
	cr_assert_str_eq(dfs_op_name(DFS_OP_FIELD_RESOLVE + 1), "unknown");
	cr_assert_str_eq(dfs_op_name(-1), "unknown");
	cr_assert_str_eq(dfs_op_name(255), "unknown");
	for (size_t i = 0; i < N_OPS; i++)
		cr_assert_str_neq(dfs_op_name(all_ops[i]), "unknown");
	cr_assert(dfs_op_is_model(DFS_OP_MODEL_CREATE));
	cr_assert(dfs_op_is_model(DFS_OP_MODEL_META));
	cr_assert_not(dfs_op_is_model(DFS_OP_OBJECT_CREATE));
	cr_assert_not(dfs_op_is_model(0));
}

/* ---- malformed input -------------------------------------------------------- */

Test(update, every_truncation_is_badmsg)
{
	for (size_t i = 0; i < N_OPS; i++) {
		struct dfs_update u;
		struct dfs_buf b;

		make_valid(&u, all_ops[i]);
		encode_signed(&u, &b);
		for (size_t n = 0; n < b.len; n++)
			cr_assert_eq(decode_exact(b.data, n), -EBADMSG, "op %s cut to %zu of %zu",
				     dfs_op_name(u.op), n, b.len);
		cr_assert_eq(decode_exact(b.data, b.len), 0);
		dfs_buf_release(&b);
	}
}

Test(update, trailing_byte_is_badmsg)
{
	for (size_t i = 0; i < N_OPS; i++) {
		struct dfs_update u;
		struct dfs_buf b;

		make_valid(&u, all_ops[i]);
		encode_signed(&u, &b);
		dfs_buf_add_u8(&b, 0);
		cr_assert_eq(decode_exact(b.data, b.len), -EBADMSG, "op %s", dfs_op_name(u.op));
		dfs_buf_release(&b);
	}
}

Test(update, unknown_version_or_algorithm)
{
	static const uint8_t versions[] = { 0, 2, 0xff };
	struct dfs_update u;
	struct dfs_buf b;

	make_valid(&u, DFS_OP_FIELD_SET);
	encode_signed(&u, &b);
	for (size_t i = 0; i < sizeof(versions); i++) {
		b.data[0] = versions[i];
		cr_assert_eq(decode_exact(b.data, b.len), -EPROTONOSUPPORT, "version %u",
			     versions[i]);
		cr_assert_eq(decode_exact(b.data, 2), -EPROTONOSUPPORT,
			     "the tags are judged before the length");
	}
	b.data[0] = DFS_UPDATE_VERSION;
	for (size_t i = 0; i < sizeof(versions); i++) {
		b.data[1] = versions[i];
		cr_assert_eq(decode_exact(b.data, b.len), -EPROTONOSUPPORT, "algorithm %u",
			     versions[i]);
	}
	dfs_buf_release(&b);
}

Test(update, too_big_is_e2big)
{
	struct dfs_update u;
	struct dfs_buf b;
	size_t len = DFS_UPDATE_MAX_LEN + 1;
	uint8_t *big = calloc(1, len);

	cr_assert_not_null(big);
	make_valid(&u, DFS_OP_FIELD_SET);
	encode_signed(&u, &b);
	memcpy(big, b.data, b.len);
	cr_assert_eq(dfs_update_decode(big, len, &u), -E2BIG);
	dfs_buf_release(&b);
	free(big);
}

Test(update, unknown_op)
{
	static const uint8_t ops[] = { 0, DFS_OP_FIELD_RESOLVE + 1, 0x7f, 0xff };
	struct raw r;

	for (size_t i = 0; i < sizeof(ops); i++) {
		raw_init(&r, DFS_OP_OBJECT_REMOVE);
		r.op = ops[i];
		cr_assert_eq(raw_decode(&r), -EBADMSG, "op %u", ops[i]);
	}
}

Test(update, unknown_flag_bits)
{
	struct raw r;

	raw_init(&r, DFS_OP_FIELD_SET);
	raw_name(&r, "title");
	r.flags = DFS_UPDATE_FLAG_SEALED;
	cr_assert_eq(raw_decode(&r), 0, "the sealed bit is known");
	for (int bit = 2; bit < 8; bit++) {
		r.flags = (uint8_t)(1u << bit);
		cr_assert_eq(raw_decode(&r), -EBADMSG, "flag bit %d", bit);
	}
	r.flags = 0xff;
	cr_assert_eq(raw_decode(&r), -EBADMSG);
}

Test(update, bad_model_names)
{
	static const char *const bad[] = { "a/b", "/", ".", "..", ".hidden", "no\0nul" };
	static const size_t len[] = { 3, 1, 1, 2, 7, 6 };
	struct raw r;

	raw_init(&r, DFS_OP_OBJECT_REMOVE);
	r.model = "";
	r.mlen = 0;
	cr_assert_eq(raw_decode(&r), -EBADMSG, "empty model");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.model = bad[i];
		r.mlen = len[i];
		cr_assert_eq(raw_decode(&r), -EBADMSG, "model %zu", i);
	}
}

Test(update, names_starting_with_dot)
{
	static const enum dfs_op ops[] = {
		DFS_OP_OBJECT_CREATE, DFS_OP_FIELD_SET, DFS_OP_FIELD_APPEND,
		DFS_OP_FIELD_DELETE, DFS_OP_DICT_CREATE, DFS_OP_DICT_DELETE,
	};
	struct raw r;

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		raw_init(&r, ops[i]);
		raw_name(&r, "ok");
		cr_assert_eq(raw_decode(&r), 0, "op %s with a plain name", dfs_op_name(ops[i]));
		raw_name(&r, ".hidden");
		cr_assert_eq(raw_decode(&r), -EBADMSG, "op %s", dfs_op_name(ops[i]));
		raw_name(&r, ".");
		cr_assert_eq(raw_decode(&r), -EBADMSG, "op %s", dfs_op_name(ops[i]));
	}
	raw_init(&r, DFS_OP_FIELD_SET);
	raw_name(&r, "dict/.key");
	cr_assert_eq(raw_decode(&r), -EBADMSG, "a dict key starting with '.'");
	raw_name(&r, ".dict/key");
	cr_assert_eq(raw_decode(&r), -EBADMSG);
}

Test(update, bad_paths)
{
	static const char *const bad[] = { "", "/", "a/", "/a", "a/b/c", "a//b", "..", "a/.." };
	struct raw r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		raw_init(&r, DFS_OP_FIELD_SET);
		raw_name(&r, bad[i]);
		cr_assert_eq(raw_decode(&r), -EBADMSG, "path '%s'", bad[i]);
	}
	raw_init(&r, DFS_OP_FIELD_SET);
	r.name = "a\0b";
	r.nlen = 3;
	cr_assert_eq(raw_decode(&r), -EBADMSG, "NUL in a path");
	raw_init(&r, DFS_OP_DICT_CREATE);
	raw_name(&r, "a/b");
	cr_assert_eq(raw_decode(&r), -EBADMSG, "a dict name is one part");
	raw_init(&r, DFS_OP_OBJECT_CREATE);
	raw_name(&r, "a/b");
	cr_assert_eq(raw_decode(&r), -EBADMSG, "an object name is one part");
}

static int raw_decode_stored(const struct raw *r)
{
	struct dfs_update u;
	struct dfs_buf b;

	raw_encode(r, &b);
	int rc = dfs_update_decode_stored(b.data, b.len, &u);
	dfs_buf_release(&b);
	return rc;
}

/*
 * Control bytes in any name make a record malformed (a peer's is dropped),
 * except when read back from a store an earlier release wrote.
 */
Test(update, control_bytes_in_names)
{
	static const enum dfs_op ops[] = {
		DFS_OP_OBJECT_CREATE, DFS_OP_FIELD_SET, DFS_OP_FIELD_APPEND,
		DFS_OP_FIELD_DELETE, DFS_OP_DICT_CREATE, DFS_OP_DICT_DELETE,
	};
	static const char *const bad[] = { "a\nb", "\x1b]2;owned\x07", "tab\there", "del\x7f",
					   "\x01", "x\r" };
	struct raw r;

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			raw_init(&r, ops[i]);
			raw_name(&r, bad[j]);
			cr_assert_eq(raw_decode(&r), -EBADMSG, "op %s, name %zu", dfs_op_name(ops[i]), j);
			cr_assert_eq(raw_decode_stored(&r), 0, "stored: op %s, name %zu",
				     dfs_op_name(ops[i]), j);
		}
	}
	raw_init(&r, DFS_OP_FIELD_SET);
	raw_name(&r, "dict/k\ney");
	cr_assert_eq(raw_decode(&r), -EBADMSG, "a dict key with a newline");
	raw_init(&r, DFS_OP_OBJECT_REMOVE);
	r.model = "Jun\nk";
	r.mlen = 5;
	cr_assert_eq(raw_decode(&r), -EBADMSG, "a model with a newline");
	cr_assert_eq(raw_decode_stored(&r), 0);
	raw_init(&r, DFS_OP_OBJECT_META);
	raw_name(&r, "author\tized");
	cr_assert_eq(raw_decode(&r), -EBADMSG, "a metadata key with a tab");
	raw_init(&r, DFS_OP_FIELD_SET);
	raw_name(&r, "\xc3\xa9t\xc3\xa9 ~ 4913");
	cr_assert_eq(raw_decode(&r), 0, "UTF-8, blanks and scratch-like names are names");
	/* Structure still counts in a stored record: NUL, '/', dots. */
	r.name = "a\0b";
	r.nlen = 3;
	cr_assert_eq(raw_decode_stored(&r), -EBADMSG);
	raw_name(&r, ".x");
	cr_assert_eq(raw_decode_stored(&r), -EBADMSG);
}

Test(update, encode_refuses_control_bytes)
{
	struct dfs_update u;
	struct dfs_buf b;

	make_valid(&u, DFS_OP_FIELD_SET);
	set_name(&u, "x\ny");
	dfs_buf_init(&b);
	cr_assert_eq(dfs_update_encode(&u, &b), -EINVAL);
	make_valid(&u, DFS_OP_OBJECT_CREATE);
	set_name(&u, "chief\x1b");
	cr_assert_eq(dfs_update_encode(&u, &b), -EINVAL);
	dfs_buf_release(&b);
}

Test(update, object_create_signer_must_be_entity)
{
	struct raw r;

	raw_init(&r, DFS_OP_OBJECT_CREATE);
	raw_name(&r, "list");
	cr_assert_eq(raw_decode(&r), 0);
	r.signer = &node_pk;
	cr_assert_eq(raw_decode(&r), -EBADMSG);
}

Test(update, empty_name_and_value_rules)
{
	struct raw r;

	raw_init(&r, DFS_OP_FIELD_DELETE);
	raw_name(&r, "title");
	cr_assert_eq(raw_decode(&r), 0);
	r.value = "x";
	r.vlen = 1;
	cr_assert_eq(raw_decode(&r), -EBADMSG, "FIELD_DELETE with a value");

	static const enum dfs_op empty_ops[] = {
		DFS_OP_MODEL_CREATE, DFS_OP_MODEL_REMOVE, DFS_OP_OBJECT_REMOVE,
	};
	for (size_t i = 0; i < sizeof(empty_ops) / sizeof(empty_ops[0]); i++) {
		raw_init(&r, empty_ops[i]);
		cr_assert_eq(raw_decode(&r), 0, "op %s", dfs_op_name(empty_ops[i]));
		raw_name(&r, "x");
		cr_assert_eq(raw_decode(&r), -EBADMSG, "op %s with a name",
			     dfs_op_name(empty_ops[i]));
		raw_name(&r, "");
		r.value = "x";
		r.vlen = 1;
		cr_assert_eq(raw_decode(&r), -EBADMSG, "op %s with a value",
			     dfs_op_name(empty_ops[i]));
	}

	static const enum dfs_op no_value_ops[] = {
		DFS_OP_OBJECT_CREATE, DFS_OP_DICT_CREATE, DFS_OP_DICT_DELETE,
	};
	for (size_t i = 0; i < sizeof(no_value_ops) / sizeof(no_value_ops[0]); i++) {
		raw_init(&r, no_value_ops[i]);
		raw_name(&r, "x");
		r.value = "v";
		r.vlen = 1;
		cr_assert_eq(raw_decode(&r), -EBADMSG, "op %s with a value",
			     dfs_op_name(no_value_ops[i]));
	}

	raw_init(&r, DFS_OP_FIELD_SET);
	cr_assert_eq(raw_decode(&r), -EBADMSG, "FIELD_SET without a name");
	raw_init(&r, DFS_OP_OBJECT_META);
	cr_assert_eq(raw_decode(&r), -EBADMSG, "OBJECT_META without a key");
	raw_name(&r, "a/b");
	cr_assert_eq(raw_decode(&r), -EBADMSG, "a metadata key with '/'");
}

Test(update, name_longer_than_511)
{
	char name[DFS_UPDATE_NAME_MAX + 2];
	struct raw r;

	memset(name, 'a', 255);
	name[255] = '/';
	memset(name + 256, 'b', 255);
	name[511] = '\0';
	raw_init(&r, DFS_OP_FIELD_SET);
	raw_name(&r, name);
	cr_assert_eq(raw_decode(&r), 0, "511 bytes is the limit");

	memset(name + 256, 'b', 256);
	name[512] = '\0';
	raw_name(&r, name);
	cr_assert_eq(r.nlen, 512);
	cr_assert_eq(raw_decode(&r), -EBADMSG);

	/* A long metadata key has no '/' to split it, so it fails on its own length too. */
	memset(name, 'k', 512);
	raw_init(&r, DFS_OP_OBJECT_META);
	raw_name(&r, name);
	cr_assert_eq(raw_decode(&r), -EBADMSG);
}

Test(update, declared_value_over_max)
{
	struct raw r;
	struct dfs_buf b;

	raw_init(&r, DFS_OP_FIELD_SET);
	raw_name(&r, "t");
	raw_encode(&r, &b);
	size_t off = DFS_UPDATE_HEADER_LEN + 1 + 5 + 2 + 1;
	uint32_t vlen = DFS_UPDATE_VALUE_MAX + 1;
	b.data[off] = (uint8_t)(vlen >> 24);
	b.data[off + 1] = (uint8_t)(vlen >> 16);
	b.data[off + 2] = (uint8_t)(vlen >> 8);
	b.data[off + 3] = (uint8_t)vlen;
	cr_assert_eq(decode_exact(b.data, b.len), -EBADMSG);
	b.data[off] = 0xff;
	cr_assert_eq(decode_exact(b.data, b.len), -EBADMSG);
	dfs_buf_release(&b);
}

/* ---- the encoder refuses what the decoder would ----------------------------- */

Test(update, encode_rejects_invalid)
{
	char longname[DFS_UPDATE_NAME_MAX + 2], longmodel[257];
	struct dfs_update u;
	struct dfs_buf b;

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memset(longmodel, 'm', sizeof(longmodel) - 1);
	longmodel[sizeof(longmodel) - 1] = '\0';
	dfs_buf_init(&b);

#define REJECT(op, change, why)                                                    \
	do {                                                                         \
		make_valid(&u, op);                                                  \
		change;                                                              \
		cr_assert_eq(dfs_update_encode(&u, &b), -EINVAL, why);               \
		cr_assert_eq(b.len, 0, why ": nothing appended");                    \
	} while (0)

	REJECT(DFS_OP_FIELD_SET, u.op = 0, "op 0");
	REJECT(DFS_OP_FIELD_SET, u.op = 13, "op 13");
	REJECT(DFS_OP_FIELD_SET, u.flags = 0x04, "unknown flag");
	REJECT(DFS_OP_FIELD_APPEND, u.flags = DFS_UPDATE_FLAG_BASE, "append with a base");
	REJECT(DFS_OP_FIELD_SET, (u.model = "a/b", u.model_len = 3), "model with '/'");
	REJECT(DFS_OP_FIELD_SET, (u.model = "", u.model_len = 0), "empty model");
	REJECT(DFS_OP_FIELD_SET, (u.model = ".m", u.model_len = 2), "dot model");
	REJECT(DFS_OP_FIELD_SET, (u.model = longmodel, u.model_len = 256), "model of 256");
	REJECT(DFS_OP_FIELD_SET, set_name(&u, ".title"), "dot field");
	REJECT(DFS_OP_FIELD_SET, set_name(&u, "a/b/c"), "three-part path");
	REJECT(DFS_OP_FIELD_SET, set_name(&u, longname), "name of 512");
	REJECT(DFS_OP_FIELD_SET, u.value_len = DFS_UPDATE_VALUE_MAX + 1, "value too long");
	REJECT(DFS_OP_FIELD_DELETE, set_value(&u, "v"), "delete with a value");
	REJECT(DFS_OP_OBJECT_CREATE, u.signer = node_pk, "create by another key");
	REJECT(DFS_OP_OBJECT_CREATE, set_name(&u, ".list"), "dot object name");
	REJECT(DFS_OP_MODEL_CREATE, set_name(&u, "x"), "model create with a name");
	REJECT(DFS_OP_OBJECT_REMOVE, set_value(&u, "x"), "remove with a value");
	REJECT(DFS_OP_DICT_CREATE, set_name(&u, "a/b"), "dict with '/'");
	REJECT(DFS_OP_OBJECT_META, set_name(&u, ""), "empty metadata key");
#undef REJECT
	dfs_buf_release(&b);
}

/* A set or delete may carry a base: encoded after the value, signed, decoded back. */
Test(update, base_round_trip)
{
	static const enum dfs_op ops[] = { DFS_OP_FIELD_SET, DFS_OP_FIELD_DELETE };
	struct dfs_update u, d;
	struct dfs_buf b;

	for (size_t i = 0; i < 2; i++) {
		make_valid(&u, ops[i]);
		u.flags = DFS_UPDATE_FLAG_BASE;
		memset(u.base.b, 0xb5, DFS_HASH_LEN);
		encode_signed(&u, &b);
		size_t plain = b.len;
		cr_assert_eq(dfs_update_decode(b.data, b.len, &d), 0);
		cr_assert_eq(d.flags, DFS_UPDATE_FLAG_BASE);
		cr_assert_eq(memcmp(d.base.b, u.base.b, DFS_HASH_LEN), 0);
		cr_assert_eq(memcmp(b.data + b.len - DFS_SIG_LEN - DFS_HASH_LEN, u.base.b,
				    DFS_HASH_LEN), 0, "the base lies just before the signature");
		cr_assert_eq(dfs_verify(b.data + dfs_update_signed_len(b.len), b.data,
					dfs_update_signed_len(b.len), &u.signer), 0);
		/* Without its base the record is 32 bytes shorter; cut, it does not decode. */
		cr_assert_eq(decode_exact(b.data, b.len - 1), -EBADMSG);
		dfs_buf_release(&b);
		u.flags = 0;
		encode_signed(&u, &b);
		cr_assert_eq(b.len + DFS_HASH_LEN, plain);
		cr_assert_eq(dfs_update_decode(b.data, b.len, &d), 0);
		cr_assert_eq(memcmp(d.base.b, zero_base.b, DFS_HASH_LEN), 0);
		dfs_buf_release(&b);
	}
}

/* Only sets and deletes carry a base. */
Test(update, base_only_on_set_and_delete)
{
	struct dfs_update u;
	struct dfs_buf b;

	for (size_t i = 0; i < N_OPS; i++) {
		if (all_ops[i] == DFS_OP_FIELD_SET || all_ops[i] == DFS_OP_FIELD_DELETE)
			continue;
		make_valid(&u, all_ops[i]);
		u.flags = (uint8_t)(u.flags | DFS_UPDATE_FLAG_BASE);
		dfs_buf_init(&b);
		cr_assert_eq(dfs_update_encode(&u, &b), -EINVAL, "op %s", dfs_op_name(all_ops[i]));
		dfs_buf_release(&b);
	}
}

/* A resolve names a plain field and holds exactly one hash. */
Test(update, resolve_rules)
{
	struct dfs_update u;
	struct dfs_buf b;

	make_valid(&u, DFS_OP_FIELD_RESOLVE);
	encode_signed(&u, &b);
	cr_assert_eq(decode_exact(b.data, b.len), 0);
	dfs_buf_release(&b);
	cr_assert_str_eq(dfs_op_name(DFS_OP_FIELD_RESOLVE), "resolve");
	u.value_len = DFS_HASH_LEN - 1;
	dfs_buf_init(&b);
	cr_assert_eq(dfs_update_encode(&u, &b), -EINVAL, "a short hash");
	u.value_len = DFS_HASH_LEN;
	set_name(&u, "tags/food");
	cr_assert_eq(dfs_update_encode(&u, &b), -EINVAL, "a dict key");
	dfs_buf_release(&b);
}
