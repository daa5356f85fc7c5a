// SPDX-License-Identifier: MIT
/* test_seal.c - unit tests for encrypted values, sealed data keys and keysets (crypto/seal.c) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/keys.h"
#include "dinemicfs/log.h"
#include "dinemicfs/seal.h"

static void setup(void)
{
	dfs_log_set_level(DFS_LOG_ERR - 1);
	cr_assert_eq(dfs_crypto_init(), 0);
}

TestSuite(value, .init = setup);
TestSuite(datakey, .init = setup);
TestSuite(keyset, .init = setup);
TestSuite(keyset_decode, .init = setup);

/* What the database passes as ad: the object's key and the field path. */
static const uint8_t ad[] = "object-key-32-bytes.............\0Person/age";
static const uint8_t msg[] = "forty-two";

/* An Ed25519 key pair standing for one reader. */
struct who {
	struct dfs_pubkey pk;
	struct dfs_seckey sk;
};

static void who_new(struct who *w)
{
	cr_assert_eq(dfs_keys_generate(&w->pk, &w->sk), 0);
}

static void seal_ok(const struct dfs_datakey *k, uint32_t epoch, const void *in, size_t len,
		    struct dfs_buf *out)
{
	dfs_buf_init(out);
	cr_assert_eq(dfs_value_seal(k, epoch, ad, sizeof(ad), in, len, out), 0);
}

/* ---- values ------------------------------------------------------------ */

static void round_trip(size_t len)
{
	struct dfs_datakey k;
	struct dfs_buf sealed, clear;
	uint8_t *in = malloc(len ? len : 1);
	uint32_t epoch = 0;

	cr_assert_not_null(in);
	for (size_t i = 0; i < len; i++)
		in[i] = (uint8_t)(i * 7 + 3);
	dfs_datakey_new(&k);
	seal_ok(&k, 0x01020304, in, len, &sealed);
	cr_assert_eq(sealed.len, len + DFS_VALUE_OVERHEAD, "len %zu", len);
	cr_assert_eq(sealed.data[0], DFS_VALUE_VERSION);
	cr_assert_arr_eq(sealed.data + 1, ((uint8_t[]){ 1, 2, 3, 4 }), 4, "epoch is big-endian");
	cr_assert_eq(dfs_value_epoch(sealed.data, sealed.len, &epoch), 0);
	cr_assert_eq(epoch, 0x01020304);
	if (len >= 8) /* shorter ones may match by chance */
		cr_assert_arr_neq(sealed.data + DFS_VALUE_HEADER_LEN, in, len, "not in clear");

	dfs_buf_init(&clear);
	cr_assert_eq(dfs_value_open(&k, ad, sizeof(ad), sealed.data, sealed.len, &clear), 0);
	cr_assert_eq(clear.len, len);
	if (len)
		cr_assert_arr_eq(clear.data, in, len);
	dfs_buf_release(&clear);
	dfs_buf_release(&sealed);
	dfs_datakey_wipe(&k);
	free(in);
}

Test(value, round_trip_empty)
{
	round_trip(0);
}

Test(value, round_trip_one_byte)
{
	round_trip(1);
}

Test(value, round_trip_one_mib)
{
	round_trip(1024 * 1024);
}

Test(value, appends_and_nonces_differ)
{
	struct dfs_datakey k;
	struct dfs_buf a, b;

	dfs_datakey_new(&k);
	dfs_buf_init(&a);
	dfs_buf_add(&a, "prefix", 6);
	cr_assert_eq(dfs_value_seal(&k, 1, ad, sizeof(ad), msg, sizeof(msg), &a), 0);
	cr_assert_eq(a.len, 6 + sizeof(msg) + DFS_VALUE_OVERHEAD);
	cr_assert_arr_eq(a.data, "prefix", 6);
	seal_ok(&k, 1, msg, sizeof(msg), &b);
	cr_assert_arr_neq(a.data + 6, b.data, b.len, "a fresh nonce each time");

	/* Opening appends too, after what is already there. */
	dfs_buf_reset(&a);
	dfs_buf_add(&a, "x", 1);
	cr_assert_eq(dfs_value_open(&k, ad, sizeof(ad), b.data, b.len, &a), 0);
	cr_assert_eq(a.len, 1 + sizeof(msg));
	cr_assert_arr_eq(a.data + 1, msg, sizeof(msg));
	dfs_buf_release(&a);
	dfs_buf_release(&b);
	dfs_datakey_wipe(&k);
}

Test(value, null_ad_when_empty)
{
	struct dfs_datakey k;
	struct dfs_buf s, c;

	dfs_datakey_new(&k);
	dfs_buf_init(&s);
	dfs_buf_init(&c);
	cr_assert_eq(dfs_value_seal(&k, 1, NULL, 0, msg, sizeof(msg), &s), 0);
	cr_assert_eq(dfs_value_open(&k, NULL, 0, s.data, s.len, &c), 0);
	cr_assert_arr_eq(c.data, msg, sizeof(msg));
	dfs_buf_reset(&c);
	cr_assert_eq(dfs_value_open(&k, ad, sizeof(ad), s.data, s.len, &c), -EBADMSG);
	dfs_buf_release(&s);
	dfs_buf_release(&c);
}

Test(value, wrong_key)
{
	struct dfs_datakey k, other;
	struct dfs_buf s, c;

	dfs_datakey_new(&k);
	dfs_datakey_new(&other);
	seal_ok(&k, 1, msg, sizeof(msg), &s);
	dfs_buf_init(&c);
	cr_assert_eq(dfs_value_open(&other, ad, sizeof(ad), s.data, s.len, &c), -EBADMSG);
	cr_assert_eq(c.len, 0, "nothing appended");
	dfs_buf_release(&s);
	dfs_buf_release(&c);
}

Test(value, wrong_ad)
{
	static const uint8_t other_object[] = "object-key-32-bytes............!\0Person/age";
	static const uint8_t other_field[] = "object-key-32-bytes.............\0Person/agf";
	struct dfs_datakey k;
	struct dfs_buf s, c;

	dfs_datakey_new(&k);
	seal_ok(&k, 1, msg, sizeof(msg), &s);
	dfs_buf_init(&c);
	cr_assert_eq(dfs_value_open(&k, other_object, sizeof(ad), s.data, s.len, &c), -EBADMSG);
	cr_assert_eq(dfs_value_open(&k, other_field, sizeof(ad), s.data, s.len, &c), -EBADMSG);
	cr_assert_eq(dfs_value_open(&k, ad, sizeof(ad) - 1, s.data, s.len, &c), -EBADMSG);
	cr_assert_eq(dfs_value_open(&k, NULL, 0, s.data, s.len, &c), -EBADMSG);
	cr_assert_eq(c.len, 0);
	dfs_buf_release(&s);
	dfs_buf_release(&c);
}

Test(value, flipped_bit_anywhere)
{
	struct dfs_datakey k;
	struct dfs_buf s, c;
	uint8_t bad[sizeof(msg) + DFS_VALUE_OVERHEAD];

	dfs_datakey_new(&k);
	seal_ok(&k, 7, msg, sizeof(msg), &s);
	cr_assert_eq(s.len, sizeof(bad));
	dfs_buf_init(&c);
	for (size_t bit = 0; bit < 8 * sizeof(bad); bit++) {
		memcpy(bad, s.data, sizeof(bad));
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		cr_assert_eq(dfs_value_open(&k, ad, sizeof(ad), bad, sizeof(bad), &c), -EBADMSG,
			     "bit %zu", bit);
	}
	cr_assert_eq(c.len, 0);
	cr_assert_eq(dfs_value_open(&k, ad, sizeof(ad), s.data, s.len, &c), 0, "the original opens");
	dfs_buf_release(&s);
	dfs_buf_release(&c);
}

Test(value, truncated_or_extended)
{
	struct dfs_datakey k;
	struct dfs_buf s, c;

	dfs_datakey_new(&k);
	seal_ok(&k, 1, msg, sizeof(msg), &s);
	dfs_buf_init(&c);
	for (size_t len = 0; len < s.len; len++)
		cr_assert_eq(dfs_value_open(&k, ad, sizeof(ad), s.data, len, &c), -EBADMSG,
			     "len %zu", len);
	dfs_buf_add_u8(&s, 0);
	cr_assert_eq(dfs_value_open(&k, ad, sizeof(ad), s.data, s.len, &c), -EBADMSG);
	cr_assert_eq(c.len, 0);
	dfs_buf_release(&s);
	dfs_buf_release(&c);
}

Test(value, epoch_header)
{
	struct dfs_datakey k;
	struct dfs_buf s;
	uint32_t epoch = 99;
	uint8_t v[DFS_VALUE_OVERHEAD];

	dfs_datakey_new(&k);
	dfs_buf_init(&s);
	cr_assert_eq(dfs_value_seal(&k, 0, ad, sizeof(ad), msg, sizeof(msg), &s), -EINVAL,
		     "epochs start at 1");
	cr_assert_eq(s.len, 0);

	memset(v, 0, sizeof(v));
	v[0] = DFS_VALUE_VERSION;
	v[4] = 1;
	cr_assert_eq(dfs_value_epoch(v, sizeof(v), &epoch), 0);
	cr_assert_eq(epoch, 1);
	cr_assert_eq(dfs_value_epoch(v, sizeof(v) - 1, &epoch), -EBADMSG, "short");
	cr_assert_eq(dfs_value_epoch(NULL, 0, &epoch), -EBADMSG, "empty");
	v[0] = 2;
	cr_assert_eq(dfs_value_epoch(v, sizeof(v), &epoch), -EBADMSG, "unknown version");
	v[0] = 0;
	cr_assert_eq(dfs_value_epoch(v, sizeof(v), &epoch), -EBADMSG, "version 0");
	v[0] = DFS_VALUE_VERSION;
	v[4] = 0;
	cr_assert_eq(dfs_value_epoch(v, sizeof(v), &epoch), -EBADMSG, "epoch 0");
	cr_assert_eq(epoch, 1, "untouched on error");
}

/* ---- data keys --------------------------------------------------------- */

Test(datakey, new_and_wipe)
{
	struct dfs_datakey a, b, zero;

	memset(&zero, 0, sizeof(zero));
	cr_assert_eq(dfs_datakey_new(&a), 0);
	cr_assert_eq(dfs_datakey_new(&b), 0);
	cr_assert_arr_neq(a.b, b.b, DFS_DATAKEY_LEN);
	dfs_datakey_wipe(&a);
	cr_assert_arr_eq(a.b, zero.b, DFS_DATAKEY_LEN);
}

Test(datakey, seal_unseal_round_trip)
{
	struct who r;
	struct dfs_datakey k, back;
	uint8_t s1[DFS_SEALED_KEY_LEN], s2[DFS_SEALED_KEY_LEN];

	who_new(&r);
	dfs_datakey_new(&k);
	cr_assert_eq(dfs_datakey_seal_to(&k, &r.pk, s1), 0);
	cr_assert_eq(dfs_datakey_seal_to(&k, &r.pk, s2), 0);
	cr_assert_arr_neq(s1, s2, sizeof(s1), "an ephemeral key each time");
	cr_assert_eq(dfs_datakey_unseal(s1, &r.sk, &back), 0);
	cr_assert_arr_eq(back.b, k.b, DFS_DATAKEY_LEN);
	cr_assert_eq(dfs_datakey_unseal(s2, &r.sk, &back), 0);
	cr_assert_arr_eq(back.b, k.b, DFS_DATAKEY_LEN);
	dfs_seckey_wipe(&r.sk);
}

Test(datakey, other_reader_gets_eacces)
{
	struct who r, other;
	struct dfs_datakey k, back, zero;
	uint8_t s[DFS_SEALED_KEY_LEN];

	memset(&zero, 0, sizeof(zero));
	who_new(&r);
	who_new(&other);
	dfs_datakey_new(&k);
	cr_assert_eq(dfs_datakey_seal_to(&k, &r.pk, s), 0);
	memset(&back, 0x77, sizeof(back));
	cr_assert_eq(dfs_datakey_unseal(s, &other.sk, &back), -EACCES);
	cr_assert_arr_eq(back.b, zero.b, DFS_DATAKEY_LEN, "wiped on error");
	for (size_t i = 0; i < sizeof(s); i++) {
		s[i] ^= 0x01;
		cr_assert_eq(dfs_datakey_unseal(s, &r.sk, &back), -EACCES, "byte %zu", i);
		s[i] ^= 0x01;
	}
	cr_assert_eq(dfs_datakey_unseal(s, &r.sk, &back), 0);
	dfs_seckey_wipe(&r.sk);
	dfs_seckey_wipe(&other.sk);
}

Test(datakey, unusable_public_key)
{
	struct dfs_pubkey identity;
	struct dfs_datakey k;
	uint8_t s[DFS_SEALED_KEY_LEN];

	/* The neutral element (y = 1) has small order: there is no one to seal to. */
	memset(&identity, 0, sizeof(identity));
	identity.b[0] = 1;
	dfs_datakey_new(&k);
	cr_assert_eq(dfs_datakey_seal_to(&k, &identity, s), -EINVAL);
}

/* ---- keysets ------------------------------------------------------------ */

/* Builds a keyset with fresh keys for epochs to readers. */
static void build(struct dfs_datakey *keys, const uint32_t *epochs, size_t ne,
		  const struct dfs_pubkey *readers, size_t nr, struct dfs_buf *out)
{
	for (size_t i = 0; i < ne; i++)
		dfs_datakey_new(&keys[i]);
	dfs_buf_init(out);
	cr_assert_eq(dfs_keyset_build(keys, epochs, ne, readers, nr, out), 0);
}

static void assert_opens(const struct dfs_buf *ks, uint32_t epoch, const struct who *w,
			 const struct dfs_datakey *want)
{
	struct dfs_datakey got;

	cr_assert_eq(dfs_keyset_open(ks->data, ks->len, epoch, &w->pk, &w->sk, &got), 0,
		     "epoch %u", (unsigned)epoch);
	cr_assert_arr_eq(got.b, want->b, DFS_DATAKEY_LEN, "epoch %u", (unsigned)epoch);
	dfs_datakey_wipe(&got);
}

static int open_rc(const struct dfs_buf *ks, uint32_t epoch, const struct who *w)
{
	struct dfs_datakey got;

	return dfs_keyset_open(ks->data, ks->len, epoch, &w->pk, &w->sk, &got);
}

static int cmp_pk(const void *a, const void *b)
{
	return memcmp(a, b, DFS_PUBKEY_LEN);
}

Test(keyset, build_open_every_reader_every_epoch)
{
	static const uint32_t epochs[] = { 1, 2, 5, 9 };
	struct who w[3];
	struct dfs_pubkey pks[3], got[3];
	struct dfs_datakey keys[4];
	struct dfs_buf ks;
	uint32_t latest = 0;
	size_t n = 0;

	for (size_t i = 0; i < 3; i++) {
		who_new(&w[i]);
		pks[i] = w[i].pk;
	}
	build(keys, epochs, 4, pks, 3, &ks);
	cr_assert_eq(ks.len, DFS_KEYSET_LEN(4, 3));
	cr_assert_eq(dfs_keyset_check(ks.data, ks.len), 0);
	cr_assert_eq(dfs_keyset_latest(ks.data, ks.len, &latest), 0);
	cr_assert_eq(latest, 9);
	for (size_t r = 0; r < 3; r++)
		for (size_t e = 0; e < 4; e++)
			assert_opens(&ks, epochs[e], &w[r], &keys[e]);

	qsort(pks, 3, sizeof(pks[0]), cmp_pk);
	for (size_t e = 0; e < 4; e++) {
		cr_assert_eq(dfs_keyset_readers(ks.data, ks.len, epochs[e], got, 3, &n), 0);
		cr_assert_eq(n, 3);
		cr_assert_arr_eq(got, pks, sizeof(pks), "every reader, in byte order");
	}
	for (size_t i = 0; i < 3; i++)
		dfs_seckey_wipe(&w[i].sk);
	dfs_buf_release(&ks);
}

Test(keyset, non_reader_and_missing_epoch)
{
	static const uint32_t epochs[] = { 1, 3 };
	struct who a, b, outsider;
	struct dfs_pubkey pks[2];
	struct dfs_datakey keys[2], got, zero;
	struct dfs_buf ks;

	memset(&zero, 0, sizeof(zero));
	who_new(&a);
	who_new(&b);
	who_new(&outsider);
	pks[0] = a.pk;
	pks[1] = b.pk;
	build(keys, epochs, 2, pks, 2, &ks);
	cr_assert_eq(open_rc(&ks, 1, &outsider), -EACCES);
	cr_assert_eq(open_rc(&ks, 3, &outsider), -EACCES);
	cr_assert_eq(open_rc(&ks, 0, &a), -ENOENT);
	cr_assert_eq(open_rc(&ks, 2, &a), -ENOENT);
	cr_assert_eq(open_rc(&ks, 4, &a), -ENOENT);

	/* A's public key with B's secret key: listed, but the sealed key does not open. */
	memset(&got, 0x55, sizeof(got));
	cr_assert_eq(dfs_keyset_open(ks.data, ks.len, 1, &a.pk, &b.sk, &got), -EACCES);
	cr_assert_arr_eq(got.b, zero.b, DFS_DATAKEY_LEN, "wiped on error");
	dfs_seckey_wipe(&a.sk);
	dfs_seckey_wipe(&b.sk);
	dfs_seckey_wipe(&outsider.sk);
	dfs_buf_release(&ks);
}

Test(keyset, readers_range)
{
	static const uint32_t epochs[] = { 4 };
	struct who w[3];
	struct dfs_pubkey pks[3], got[3];
	struct dfs_datakey keys[1];
	struct dfs_buf ks;
	size_t n = 0;

	for (size_t i = 0; i < 3; i++) {
		who_new(&w[i]);
		pks[i] = w[i].pk;
	}
	build(keys, epochs, 1, pks, 3, &ks);
	qsort(pks, 3, sizeof(pks[0]), cmp_pk);
	cr_assert_eq(dfs_keyset_readers(ks.data, ks.len, 4, NULL, 0, &n), -ERANGE);
	cr_assert_eq(n, 3, "the count alone");
	cr_assert_eq(dfs_keyset_readers(ks.data, ks.len, 4, got, 1, &n), -ERANGE);
	cr_assert_arr_eq(got[0].b, pks[0].b, DFS_PUBKEY_LEN, "the first one");
	cr_assert_eq(dfs_keyset_readers(ks.data, ks.len, 5, got, 3, &n), -ENOENT);
	for (size_t i = 0; i < 3; i++)
		dfs_seckey_wipe(&w[i].sk);
	dfs_buf_release(&ks);
}

Test(keyset, build_refuses)
{
	struct dfs_pubkey pks[DFS_KEYSET_MAX_READERS + 1], identity;
	struct dfs_seckey sk;
	struct dfs_datakey keys[DFS_KEYSET_MAX_EPOCHS + 1];
	uint32_t epochs[DFS_KEYSET_MAX_EPOCHS + 1];
	struct dfs_buf out;

	for (size_t i = 0; i < DFS_KEYSET_MAX_READERS + 1; i++) {
		cr_assert_eq(dfs_keys_generate(&pks[i], &sk), 0);
		dfs_seckey_wipe(&sk);
	}
	for (size_t i = 0; i < DFS_KEYSET_MAX_EPOCHS + 1; i++) {
		dfs_datakey_new(&keys[i]);
		epochs[i] = (uint32_t)i + 1;
	}
	memset(&identity, 0, sizeof(identity));
	identity.b[0] = 1;
	dfs_buf_init(&out);
	dfs_buf_add(&out, "keep", 4);

	cr_assert_eq(dfs_keyset_build(keys, epochs, 0, pks, 2, &out), -EINVAL, "no epochs");
	cr_assert_eq(dfs_keyset_build(keys, epochs, 2, pks, 0, &out), -EINVAL, "no readers");
	cr_assert_eq(dfs_keyset_build(keys, epochs, DFS_KEYSET_MAX_EPOCHS + 1, pks, 1, &out),
		     -E2BIG);
	cr_assert_eq(dfs_keyset_build(keys, epochs, 1, pks, DFS_KEYSET_MAX_READERS + 1, &out),
		     -E2BIG);
	epochs[0] = 0;
	cr_assert_eq(dfs_keyset_build(keys, epochs, 2, pks, 2, &out), -EINVAL, "epoch 0");
	epochs[0] = 2;
	cr_assert_eq(dfs_keyset_build(keys, epochs, 2, pks, 2, &out), -EINVAL, "repeated epoch");
	epochs[0] = 3;
	cr_assert_eq(dfs_keyset_build(keys, epochs, 2, pks, 2, &out), -EINVAL, "decreasing");
	epochs[0] = 1;
	pks[1] = pks[0];
	cr_assert_eq(dfs_keyset_build(keys, epochs, 2, pks, 3, &out), -EINVAL, "duplicate");
	pks[1] = identity;
	cr_assert_eq(dfs_keyset_build(keys, epochs, 2, pks, 3, &out), -EINVAL, "small order");
	cr_assert_eq(out.len, 4, "out keeps its length");
	cr_assert_arr_eq(out.data, "keep", 4);
	dfs_buf_release(&out);
}

/* The rotation story: remove R, rotate twice more, add L, who reads what came first. */
Test(keyset, rotation)
{
	struct who owner, a, r, late;
	struct dfs_pubkey readers[3];
	struct dfs_datakey k1, k2, k3, k4, got;
	struct dfs_buf ks1, ks2, ks3, ks4, ks5, value, clear;
	uint32_t latest = 0;
	size_t n = 0;

	who_new(&owner);
	who_new(&a);
	who_new(&r);
	who_new(&late);
	dfs_buf_init(&ks1);
	dfs_buf_init(&ks2);
	dfs_buf_init(&ks3);
	dfs_buf_init(&ks4);
	dfs_buf_init(&ks5);

	readers[0] = a.pk;
	readers[1] = owner.pk;
	readers[2] = r.pk;
	cr_assert_eq(dfs_keyset_rotate(NULL, 0, &owner.pk, &owner.sk, readers, 3, true, &ks1), 0);
	cr_assert_eq(dfs_keyset_latest(ks1.data, ks1.len, &latest), 0);
	cr_assert_eq(latest, 1, "a new keyset starts at epoch 1");
	cr_assert_eq(ks1.len, DFS_KEYSET_LEN(1, 3));
	cr_assert_eq(dfs_keyset_open(ks1.data, ks1.len, 1, &owner.pk, &owner.sk, &k1), 0);
	assert_opens(&ks1, 1, &a, &k1);
	assert_opens(&ks1, 1, &r, &k1);
	seal_ok(&k1, 1, msg, sizeof(msg), &value);

	/* Remove R. */
	cr_assert_eq(dfs_keyset_rotate(ks1.data, ks1.len, &owner.pk, &owner.sk, readers, 2, true, &ks2),
		     0);
	cr_assert_eq(dfs_keyset_latest(ks2.data, ks2.len, &latest), 0);
	cr_assert_eq(latest, 2);
	cr_assert_eq(dfs_keyset_open(ks2.data, ks2.len, 2, &owner.pk, &owner.sk, &k2), 0);
	cr_assert_arr_neq(k2.b, k1.b, DFS_DATAKEY_LEN, "a fresh key");
	cr_assert_eq(open_rc(&ks2, 2, &r), -EACCES, "R gets nothing new");
	cr_assert_eq(open_rc(&ks2, 1, &r), -EACCES, "nor is it listed for the old epoch");
	cr_assert_eq(dfs_keyset_readers(ks2.data, ks2.len, 1, NULL, 0, &n), -ERANGE);
	cr_assert_eq(n, 2);
	assert_opens(&ks2, 1, &a, &k1);
	assert_opens(&ks2, 2, &a, &k2);
	assert_opens(&ks2, 1, &owner, &k1);

	/* The owner rotates again, twice. */
	cr_assert_eq(dfs_keyset_rotate(ks2.data, ks2.len, &owner.pk, &owner.sk, readers, 2, true, &ks3),
		     0);
	cr_assert_eq(dfs_keyset_rotate(ks3.data, ks3.len, &owner.pk, &owner.sk, readers, 2, true, &ks4),
		     0);
	cr_assert_eq(dfs_keyset_latest(ks4.data, ks4.len, &latest), 0);
	cr_assert_eq(latest, 4);
	cr_assert_eq(ks4.len, DFS_KEYSET_LEN(4, 2));
	cr_assert_eq(dfs_keyset_open(ks4.data, ks4.len, 3, &owner.pk, &owner.sk, &k3), 0);
	cr_assert_eq(dfs_keyset_open(ks4.data, ks4.len, 4, &owner.pk, &owner.sk, &k4), 0);
	cr_assert_arr_neq(k3.b, k2.b, DFS_DATAKEY_LEN);
	cr_assert_arr_neq(k4.b, k3.b, DFS_DATAKEY_LEN);
	for (uint32_t e = 1; e <= 4; e++) {
		const struct dfs_datakey *want[] = { &k1, &k2, &k3, &k4 };
		assert_opens(&ks4, e, &a, want[e - 1]);
		cr_assert_eq(open_rc(&ks4, e, &r), -EACCES);
	}

	/* Add a reader: it can read the value written under epoch 1. */
	readers[2] = late.pk;
	cr_assert_eq(open_rc(&ks4, 1, &late), -EACCES);
	cr_assert_eq(dfs_keyset_rotate(ks4.data, ks4.len, &owner.pk, &owner.sk, readers, 3, true, &ks5),
		     0);
	cr_assert_eq(dfs_keyset_open(ks5.data, ks5.len, 1, &late.pk, &late.sk, &got), 0);
	dfs_buf_init(&clear);
	cr_assert_eq(dfs_value_open(&got, ad, sizeof(ad), value.data, value.len, &clear), 0);
	cr_assert_arr_eq(clear.data, msg, sizeof(msg));
	assert_opens(&ks5, 4, &late, &k4);
	cr_assert_eq(open_rc(&ks5, 5, &r), -EACCES);

	/* Adding a reader need not start an epoch: the same keys, re-sealed. */
	struct dfs_buf ks6;
	dfs_buf_init(&ks6);
	readers[2] = r.pk;
	cr_assert_eq(dfs_keyset_rotate(ks5.data, ks5.len, &owner.pk, &owner.sk, readers, 3, false,
				       &ks6), 0);
	cr_assert_eq(dfs_keyset_latest(ks6.data, ks6.len, &latest), 0);
	cr_assert_eq(latest, 5, "no new epoch");
	cr_assert_eq(ks6.len, DFS_KEYSET_LEN(5, 3));
	assert_opens(&ks6, 4, &r, &k4);
	cr_assert_eq(open_rc(&ks6, 1, &late), -EACCES, "left out of every epoch");
	dfs_buf_release(&ks6);

	dfs_datakey_wipe(&got);
	dfs_datakey_wipe(&k1);
	dfs_datakey_wipe(&k2);
	dfs_datakey_wipe(&k3);
	dfs_datakey_wipe(&k4);
	dfs_seckey_wipe(&owner.sk);
	dfs_seckey_wipe(&a.sk);
	dfs_seckey_wipe(&r.sk);
	dfs_seckey_wipe(&late.sk);
	dfs_buf_release(&clear);
	dfs_buf_release(&value);
	dfs_buf_release(&ks1);
	dfs_buf_release(&ks2);
	dfs_buf_release(&ks3);
	dfs_buf_release(&ks4);
	dfs_buf_release(&ks5);
}

Test(keyset, rotate_refuses)
{
	struct who owner, a, stranger;
	struct dfs_pubkey readers[2], some[2];
	struct dfs_buf ks, out;

	who_new(&owner);
	who_new(&a);
	who_new(&stranger);
	readers[0] = owner.pk;
	readers[1] = a.pk;
	dfs_buf_init(&ks);
	dfs_buf_init(&out);
	cr_assert_eq(dfs_keyset_rotate(NULL, 0, &owner.pk, &owner.sk, readers, 2, true, &ks), 0);

	cr_assert_eq(dfs_keyset_rotate(ks.data, ks.len, &owner.pk, &owner.sk, &readers[1], 1, true, &out),
		     -EINVAL, "the owner must stay a reader");
	cr_assert_eq(dfs_keyset_rotate(ks.data, ks.len, &owner.pk, &owner.sk, readers, 0, true, &out),
		     -EINVAL);
	cr_assert_eq(dfs_keyset_rotate(ks.data, ks.len - 1, &owner.pk, &owner.sk, readers, 2, true, &out),
		     -EBADMSG);
	cr_assert_eq(dfs_keyset_rotate(NULL, 3, &owner.pk, &owner.sk, readers, 2, true, &out), -EINVAL);
	some[0] = stranger.pk;
	some[1] = a.pk;
	cr_assert_eq(dfs_keyset_rotate(ks.data, ks.len, &stranger.pk, &stranger.sk, some, 2, true, &out),
		     -EACCES, "only a reader of every epoch can rotate");
	/* The owner's public key with someone else's secret key. */
	cr_assert_eq(dfs_keyset_rotate(ks.data, ks.len, &owner.pk, &a.sk, readers, 2, true, &out),
		     -EACCES);
	cr_assert_eq(out.len, 0, "nothing appended on error");
	dfs_seckey_wipe(&owner.sk);
	dfs_seckey_wipe(&a.sk);
	dfs_seckey_wipe(&stranger.sk);
	dfs_buf_release(&ks);
	dfs_buf_release(&out);
}

Test(keyset, rotate_at_the_limits)
{
	struct who owner;
	struct dfs_datakey keys[DFS_KEYSET_MAX_EPOCHS], got;
	uint32_t epochs[DFS_KEYSET_MAX_EPOCHS];
	struct dfs_buf full, last, out;

	who_new(&owner);
	for (size_t i = 0; i < DFS_KEYSET_MAX_EPOCHS; i++)
		epochs[i] = (uint32_t)i + 1;
	build(keys, epochs, DFS_KEYSET_MAX_EPOCHS, &owner.pk, 1, &full);
	dfs_buf_init(&out);
	cr_assert_eq(dfs_keyset_rotate(full.data, full.len, &owner.pk, &owner.sk, &owner.pk, 1,
				       true, &out), -E2BIG, "no room for another epoch");
	/* One epoch fewer leaves room for exactly one. */
	dfs_buf_init(&last);
	cr_assert_eq(dfs_keyset_build(keys, epochs, DFS_KEYSET_MAX_EPOCHS - 1, &owner.pk, 1, &last),
		     0);
	cr_assert_eq(dfs_keyset_rotate(last.data, last.len, &owner.pk, &owner.sk, &owner.pk, 1,
				       true, &out), 0);
	cr_assert_eq(out.len, full.len);
	assert_opens(&out, 1, &owner, &keys[0]);
	cr_assert_eq(dfs_keyset_open(out.data, out.len, DFS_KEYSET_MAX_EPOCHS, &owner.pk, &owner.sk,
				     &got), 0);

	epochs[0] = UINT32_MAX;
	dfs_buf_reset(&last);
	dfs_buf_reset(&out);
	cr_assert_eq(dfs_keyset_build(keys, epochs, 1, &owner.pk, 1, &last), 0);
	cr_assert_eq(dfs_keyset_rotate(last.data, last.len, &owner.pk, &owner.sk, &owner.pk, 1,
				       true, &out), -EOVERFLOW);
	cr_assert_eq(out.len, 0);
	dfs_seckey_wipe(&owner.sk);
	dfs_buf_release(&full);
	dfs_buf_release(&last);
	dfs_buf_release(&out);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

Test(keyset, size_and_time_20_readers_10_epochs)
{
	struct dfs_pubkey pks[20];
	struct dfs_seckey sk0, sk;
	struct dfs_datakey keys[10];
	uint32_t epochs[10];
	struct dfs_buf ks;
	struct timespec t0;
	double build_s, open_s;

	cr_assert_eq(dfs_keys_generate(&pks[0], &sk0), 0);
	for (size_t i = 1; i < 20; i++) {
		cr_assert_eq(dfs_keys_generate(&pks[i], &sk), 0);
		dfs_seckey_wipe(&sk);
	}
	for (size_t i = 0; i < 10; i++)
		epochs[i] = (uint32_t)i + 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	build(keys, epochs, 10, pks, 20, &ks);
	build_s = seconds_since(&t0);
	/* 3 + 10 x (4 + 2 + 20 x (32 + 80)) */
	cr_assert_eq(ks.len, 22463);
	cr_assert_eq(ks.len, DFS_KEYSET_LEN(10, 20));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t e = 1; e <= 10; e++) {
		struct dfs_datakey got;

		cr_assert_eq(dfs_keyset_open(ks.data, ks.len, e, &pks[0], &sk0, &got), 0);
		cr_assert_arr_eq(got.b, keys[e - 1].b, DFS_DATAKEY_LEN);
	}
	open_s = seconds_since(&t0);
	cr_log_info("keyset 20 readers x 10 epochs: %zu bytes, build %.3f s, 10 opens %.4f s",
		    ks.len, build_s, open_s);
	/* 400 seals: generous for sanitizers and slow machines, but not unbounded. */
	cr_assert_lt(build_s, 20.0, "build took %.3f s", build_s);
	dfs_seckey_wipe(&sk0);
	dfs_buf_release(&ks);
}

/* ---- keyset decoding ---------------------------------------------------- */

/*
 * Writes a keyset by hand: epochs 1..ne, each with readers whose keys are
 * their index (big-endian in the first two bytes), and filler sealed keys.
 * check() looks at structure only, so this is a valid keyset to it.
 */
static void raw_keyset(struct dfs_buf *b, size_t ne, size_t nr)
{
	uint8_t pk[DFS_PUBKEY_LEN], sealed[DFS_SEALED_KEY_LEN];

	memset(pk, 0, sizeof(pk));
	memset(sealed, 0xa5, sizeof(sealed));
	dfs_buf_init(b);
	dfs_buf_add_u8(b, DFS_KEYSET_VERSION);
	dfs_buf_add_u16be(b, (uint16_t)ne);
	for (size_t e = 0; e < ne; e++) {
		dfs_buf_add_u32be(b, (uint32_t)e + 1);
		dfs_buf_add_u16be(b, (uint16_t)nr);
		for (size_t r = 0; r < nr; r++) {
			pk[0] = (uint8_t)(r >> 8);
			pk[1] = (uint8_t)r;
			dfs_buf_add(b, pk, sizeof(pk));
			dfs_buf_add(b, sealed, sizeof(sealed));
		}
	}
	cr_assert_eq(dfs_buf_ok(b), 0);
}

/* Offset of epoch e's number in a keyset with nr readers per epoch. */
static size_t epoch_off(size_t e, size_t nr)
{
	return 3 + e * (6 + nr * DFS_KEYSET_ENTRY_LEN);
}

/* Every lookup agrees that (p, len) is malformed. */
static void assert_bad(const uint8_t *p, size_t len, const char *why)
{
	struct dfs_pubkey pk, out[4];
	struct dfs_seckey sk;
	struct dfs_datakey k;
	uint32_t epoch = 0;
	size_t n = 0;

	memset(&pk, 0, sizeof(pk));
	memset(&sk, 0, sizeof(sk));
	cr_assert_eq(dfs_keyset_check(p, len), -EBADMSG, "%s (len %zu)", why, len);
	cr_assert_eq(dfs_keyset_latest(p, len, &epoch), -EBADMSG, "%s", why);
	cr_assert_eq(dfs_keyset_readers(p, len, 1, out, 4, &n), -EBADMSG, "%s", why);
	cr_assert_eq(dfs_keyset_open(p, len, 1, &pk, &sk, &k), -EBADMSG, "%s", why);
}

Test(keyset_decode, truncated_at_every_length)
{
	static const uint32_t epochs[] = { 1, 2 };
	struct who a, b;
	struct dfs_pubkey pks[2];
	struct dfs_datakey keys[2];
	struct dfs_buf ks;

	who_new(&a);
	who_new(&b);
	pks[0] = a.pk;
	pks[1] = b.pk;
	build(keys, epochs, 2, pks, 2, &ks);
	cr_assert_eq(dfs_keyset_check(ks.data, ks.len), 0);
	for (size_t len = 0; len < ks.len; len++) {
		/* An exactly-sized copy, so a read past the end trips ASan. */
		uint8_t *copy = malloc(len ? len : 1);

		cr_assert_not_null(copy);
		memcpy(copy, ks.data, len);
		assert_bad(copy, len, "truncated");
		free(copy);
	}
	assert_bad(NULL, 0, "NULL");
	dfs_buf_add_u8(&ks, 0);
	assert_bad(ks.data, ks.len, "trailing byte");
	dfs_seckey_wipe(&a.sk);
	dfs_seckey_wipe(&b.sk);
	dfs_buf_release(&ks);
}

Test(keyset_decode, header_and_counts)
{
	struct dfs_buf b;

	raw_keyset(&b, 2, 3);
	cr_assert_eq(dfs_keyset_check(b.data, b.len), 0);
	b.data[0] = 0;
	assert_bad(b.data, b.len, "version 0");
	b.data[0] = 2;
	assert_bad(b.data, b.len, "version 2");
	b.data[0] = DFS_KEYSET_VERSION;
	b.data[2] = 3;
	assert_bad(b.data, b.len, "more epochs than present");
	b.data[2] = 1;
	assert_bad(b.data, b.len, "fewer epochs than present");
	b.data[2] = 2;
	b.data[epoch_off(0, 3) + 5] = 2;
	assert_bad(b.data, b.len, "fewer readers than present");
	b.data[epoch_off(0, 3) + 5] = 3;
	cr_assert_eq(dfs_keyset_check(b.data, b.len), 0, "restored");
	dfs_buf_release(&b);

	raw_keyset(&b, 0, 0);
	assert_bad(b.data, b.len, "no epochs");
	dfs_buf_release(&b);
	raw_keyset(&b, 1, 0);
	assert_bad(b.data, b.len, "an epoch without readers");
	dfs_buf_release(&b);
}

Test(keyset_decode, epochs_strictly_increasing)
{
	struct dfs_buf b;
	size_t second = epoch_off(1, 1);

	raw_keyset(&b, 3, 1);
	cr_assert_eq(dfs_keyset_check(b.data, b.len), 0);
	b.data[second + 3] = 1;
	assert_bad(b.data, b.len, "repeated epoch");
	b.data[second + 3] = 0;
	assert_bad(b.data, b.len, "decreasing epoch");
	b.data[second + 3] = 3;
	assert_bad(b.data, b.len, "equal to the next one");
	b.data[second + 3] = 2;
	b.data[epoch_off(0, 1) + 3] = 0;
	assert_bad(b.data, b.len, "epoch 0");
	b.data[epoch_off(0, 1) + 3] = 1;
	/* Gaps are fine: epochs 1, 2, 0x01000003. */
	b.data[epoch_off(2, 1)] = 1;
	cr_assert_eq(dfs_keyset_check(b.data, b.len), 0);
	dfs_buf_release(&b);
}

Test(keyset_decode, readers_strictly_increasing)
{
	struct dfs_buf b;
	size_t first = epoch_off(0, 3) + 6;

	raw_keyset(&b, 1, 3);
	cr_assert_eq(dfs_keyset_check(b.data, b.len), 0);
	b.data[first + DFS_KEYSET_ENTRY_LEN + 1] = 0;
	assert_bad(b.data, b.len, "duplicate reader");
	b.data[first + DFS_KEYSET_ENTRY_LEN + 1] = 3;
	assert_bad(b.data, b.len, "readers out of order");
	dfs_buf_release(&b);
}

Test(keyset_decode, counts_past_the_limits)
{
	struct dfs_buf b;

	raw_keyset(&b, 1, DFS_KEYSET_MAX_READERS);
	cr_assert_eq(dfs_keyset_check(b.data, b.len), 0, "the most readers");
	dfs_buf_release(&b);
	raw_keyset(&b, 1, DFS_KEYSET_MAX_READERS + 1);
	assert_bad(b.data, b.len, "one reader too many");
	dfs_buf_release(&b);

	raw_keyset(&b, DFS_KEYSET_MAX_EPOCHS, 1);
	cr_assert_eq(dfs_keyset_check(b.data, b.len), 0, "the most epochs");
	dfs_buf_release(&b);
	raw_keyset(&b, DFS_KEYSET_MAX_EPOCHS + 1, 1);
	assert_bad(b.data, b.len, "one epoch too many");
	dfs_buf_release(&b);

	raw_keyset(&b, 1, 1);
	b.data[1] = 0xff;
	b.data[2] = 0xff;
	assert_bad(b.data, b.len, "65535 epochs");
	dfs_buf_release(&b);
}

Test(keyset_decode, full_keyset_fits_one_mib)
{
	struct dfs_buf b;
	uint32_t latest = 0;
	size_t n = 0;

	raw_keyset(&b, DFS_KEYSET_MAX_EPOCHS, DFS_KEYSET_MAX_READERS);
	cr_assert_eq(b.len, DFS_KEYSET_MAX_LEN);
	cr_assert_leq(b.len, 1024 * 1024);
	cr_assert_eq(dfs_keyset_check(b.data, b.len), 0);
	cr_assert_eq(dfs_keyset_latest(b.data, b.len, &latest), 0);
	cr_assert_eq(latest, DFS_KEYSET_MAX_EPOCHS);
	cr_assert_eq(dfs_keyset_readers(b.data, b.len, latest, NULL, 0, &n), -ERANGE);
	cr_assert_eq(n, DFS_KEYSET_MAX_READERS);
	dfs_buf_add_u8(&b, 0);
	assert_bad(b.data, b.len, "one byte past the most");
	dfs_buf_release(&b);
}

/* Re-keying seals only what is new: readers already listed keep their sealed bytes. */
Test(keyset, rotation_keeps_sealed_entries)
{
	struct who owner, a, r;
	struct dfs_pubkey readers[3] = { 0 };
	struct dfs_buf ks1, ks2, ks3;

	who_new(&owner);
	who_new(&a);
	who_new(&r);
	dfs_buf_init(&ks1);
	dfs_buf_init(&ks2);
	dfs_buf_init(&ks3);
	readers[0] = owner.pk;
	readers[1] = a.pk;
	readers[2] = r.pk;
	cr_assert_eq(dfs_keyset_rotate(NULL, 0, &owner.pk, &owner.sk, readers, 3, true, &ks1), 0);
	/* Drop R: epoch 1 keeps the owner's and A's entries byte for byte. */
	cr_assert_eq(dfs_keyset_rotate(ks1.data, ks1.len, &owner.pk, &owner.sk, readers, 2, true,
				       &ks2), 0);
	for (size_t i = 0; i < 2; i++) {
		const uint8_t *pk = readers[i].b;
		const uint8_t *p1 = memmem(ks1.data, ks1.len, pk, DFS_PUBKEY_LEN);
		const uint8_t *p2 = memmem(ks2.data, ks2.len, pk, DFS_PUBKEY_LEN);
		cr_assert(p1 && p2);
		cr_assert_arr_eq(p1, p2, DFS_KEYSET_ENTRY_LEN, "reader %zu re-sealed", i);
	}
	cr_assert_null(memmem(ks2.data, ks2.len, r.pk.b, DFS_PUBKEY_LEN), "R is gone");
	/* Add R back without a new epoch: it gets fresh entries in both epochs. */
	cr_assert_eq(dfs_keyset_rotate(ks2.data, ks2.len, &owner.pk, &owner.sk, readers, 3, false,
				       &ks3), 0);
	cr_assert_eq(ks3.len, DFS_KEYSET_LEN(2, 3));
	for (uint32_t e = 1; e <= 2; e++) {
		struct dfs_datakey want;
		cr_assert_eq(dfs_keyset_open(ks3.data, ks3.len, e, &owner.pk, &owner.sk, &want), 0);
		assert_opens(&ks3, e, &r, &want);
		dfs_datakey_wipe(&want);
	}
	dfs_buf_release(&ks1);
	dfs_buf_release(&ks2);
	dfs_buf_release(&ks3);
}
