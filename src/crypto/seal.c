// SPDX-License-Identifier: MIT
/* seal.c - encrypted values, data keys sealed to readers, keysets (libsodium, like keys.c) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "dinemicfs/seal.h"

_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == DFS_DATAKEY_LEN, "data key size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == DFS_VALUE_NONCE_LEN, "nonce size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == DFS_VALUE_TAG_LEN, "tag size");
_Static_assert(DFS_VALUE_OVERHEAD == DFS_VALUE_HEADER_LEN + DFS_VALUE_TAG_LEN, "value overhead");
_Static_assert(DFS_SEALED_KEY_LEN == DFS_DATAKEY_LEN + crypto_box_SEALBYTES, "sealed key size");
_Static_assert(crypto_box_PUBLICKEYBYTES == 32 && crypto_box_SECRETKEYBYTES == 32, "X25519 sizes");
_Static_assert(DFS_KEYSET_MAX_READERS <= UINT16_MAX && DFS_KEYSET_MAX_EPOCHS <= UINT16_MAX,
	       "counts fit their 16-bit fields");

/* Version and epoch: the part of a value's header that is also associated data. */
#define VALUE_TAG_LEN (1 + 4)

/*
 * Secrets on our stack are pinned so that they are not swapped out. mlock
 * works on whole pages and fails under a small RLIMIT_MEMLOCK; the secret is
 * wiped either way, so a failure is not an error. Not pinned: the caller's
 * dfs_datakey structs and output buffers (theirs to place), and libsodium's
 * own temporaries (which it wipes).
 */
static void pin(void *p, size_t n)
{
	(void)sodium_mlock(p, n);
}

static void unpin(void *p, size_t n)
{
	sodium_memzero(p, n);
	(void)sodium_munlock(p, n);
}

int dfs_datakey_new(struct dfs_datakey *k)
{
	randombytes_buf(k->b, sizeof(k->b));
	return 0;
}

void dfs_datakey_wipe(struct dfs_datakey *k)
{
	sodium_memzero(k, sizeof(*k));
}

/* ---- values ------------------------------------------------------------ */

/* Builds the associated data: version and epoch as in the header, then the caller's ad. */
static int value_ad(struct dfs_buf *ad, uint32_t epoch, const uint8_t *p, size_t n)
{
	dfs_buf_add_u8(ad, DFS_VALUE_VERSION);
	dfs_buf_add_u32be(ad, epoch);
	dfs_buf_add(ad, p, n);
	return dfs_buf_ok(ad);
}

int dfs_value_seal(const struct dfs_datakey *k, uint32_t epoch, const uint8_t *ad, size_t adlen,
		   const uint8_t *in, size_t len, struct dfs_buf *out)
{
	struct dfs_buf fullad;
	uint8_t *dst;
	int rc;

	if (epoch == 0)
		return -EINVAL;
	/* Also keeps len under libsodium's MESSAGEBYTES_MAX (SIZE_MAX - tag). */
	if (len > SIZE_MAX - DFS_VALUE_OVERHEAD)
		return -E2BIG;
	dfs_buf_init(&fullad);
	rc = value_ad(&fullad, epoch, ad, adlen);
	if (rc < 0)
		goto out;
	rc = dfs_buf_reserve(out, DFS_VALUE_OVERHEAD + len);
	if (rc < 0)
		goto out;
	dst = out->data + out->len;
	memcpy(dst, fullad.data, VALUE_TAG_LEN);
	randombytes_buf(dst + VALUE_TAG_LEN, DFS_VALUE_NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(dst + DFS_VALUE_HEADER_LEN, NULL, in, len,
						   fullad.data, fullad.len, NULL,
						   dst + VALUE_TAG_LEN, k->b);
	out->len += DFS_VALUE_OVERHEAD + len;
out:
	dfs_buf_release(&fullad);
	return rc;
}

int dfs_value_epoch(const uint8_t *in, size_t len, uint32_t *epoch)
{
	struct dfs_reader r;
	uint8_t version;
	uint32_t e;

	/* Shorter than the overhead cannot even hold an empty value. */
	if (len < DFS_VALUE_OVERHEAD)
		return -EBADMSG;
	dfs_reader_init(&r, in, len);
	if (dfs_reader_get_u8(&r, &version) < 0 || version != DFS_VALUE_VERSION)
		return -EBADMSG;
	if (dfs_reader_get_u32be(&r, &e) < 0 || e == 0)
		return -EBADMSG;
	*epoch = e;
	return 0;
}

int dfs_value_open(const struct dfs_datakey *k, const uint8_t *ad, size_t adlen,
		   const uint8_t *in, size_t len, struct dfs_buf *out)
{
	struct dfs_buf fullad;
	uint32_t epoch;
	size_t mlen;
	int rc = dfs_value_epoch(in, len, &epoch);

	if (rc < 0)
		return rc;
	mlen = len - DFS_VALUE_OVERHEAD;
	dfs_buf_init(&fullad);
	rc = value_ad(&fullad, epoch, ad, adlen);
	if (rc < 0)
		goto out;
	rc = dfs_buf_reserve(out, mlen);
	if (rc < 0)
		goto out;
	/* libsodium checks the tag before it writes anything. */
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out->data + out->len, NULL, NULL,
						       in + DFS_VALUE_HEADER_LEN,
						       len - DFS_VALUE_HEADER_LEN,
						       fullad.data, fullad.len,
						       in + VALUE_TAG_LEN, k->b) != 0) {
		rc = -EBADMSG;
		goto out;
	}
	out->len += mlen;
out:
	dfs_buf_release(&fullad);
	return rc;
}

/* ---- sealed keys ------------------------------------------------------- */

/* Seals k to an X25519 public key. */
static int seal_to_x(const struct dfs_datakey *k, const uint8_t xpk[crypto_box_PUBLICKEYBYTES],
		     uint8_t out[DFS_SEALED_KEY_LEN])
{
	return crypto_box_seal(out, k->b, sizeof(k->b), xpk) == 0 ? 0 : -EINVAL;
}

bool dfs_pubkey_sealable(const struct dfs_pubkey *pk)
{
	uint8_t x[crypto_box_PUBLICKEYBYTES];

	return crypto_sign_ed25519_pk_to_curve25519(x, pk->b) == 0;
}

int dfs_datakey_seal_to(const struct dfs_datakey *k, const struct dfs_pubkey *reader,
			uint8_t out[DFS_SEALED_KEY_LEN])
{
	uint8_t xpk[crypto_box_PUBLICKEYBYTES];

	/* Refuses small-order and non-canonical points. */
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, reader->b) != 0)
		return -EINVAL;
	return seal_to_x(k, xpk, out);
}

int dfs_datakey_unseal(const uint8_t sealed[DFS_SEALED_KEY_LEN], const struct dfs_seckey *reader,
		       struct dfs_datakey *k)
{
	struct {
		uint8_t sk[crypto_box_SECRETKEYBYTES];
		uint8_t pk[crypto_box_PUBLICKEYBYTES];
	} x;
	int rc = 0;

	pin(&x, sizeof(x));
	/*
	 * The X25519 public key comes from the secret scalar, not from the public
	 * half stored in the Ed25519 secret key, so only the seed is trusted.
	 */
	if (crypto_sign_ed25519_sk_to_curve25519(x.sk, reader->b) != 0 ||
	    crypto_scalarmult_curve25519_base(x.pk, x.sk) != 0) {
		rc = -EINVAL;
		goto out;
	}
	if (crypto_box_seal_open(k->b, sealed, DFS_SEALED_KEY_LEN, x.pk, x.sk) != 0)
		rc = -EACCES;
out:
	if (rc < 0)
		dfs_datakey_wipe(k);
	unpin(&x, sizeof(x));
	return rc;
}

/* ---- keysets: decoding -------------------------------------------------- */

/* One epoch of a checked keyset, as a view into its bytes. */
struct ks_epoch {
	uint32_t epoch;
	size_t nreaders;
	const uint8_t *entries; /* nreaders x (public key || sealed key) */
};

/* A checked keyset. */
struct ks_index {
	size_t nepochs;
	struct ks_epoch e[DFS_KEYSET_MAX_EPOCHS];
};

static const uint8_t *entry_pk(const struct ks_epoch *e, size_t i)
{
	return e->entries + i * DFS_KEYSET_ENTRY_LEN;
}

static int parse_epoch(struct dfs_reader *r, uint32_t prev, struct ks_epoch *e)
{
	uint16_t n;

	if (dfs_reader_get_u32be(r, &e->epoch) < 0 || e->epoch <= prev)
		return -EBADMSG;
	if (dfs_reader_get_u16be(r, &n) < 0 || n == 0 || n > DFS_KEYSET_MAX_READERS)
		return -EBADMSG;
	if (dfs_reader_get_view(r, &e->entries, (size_t)n * DFS_KEYSET_ENTRY_LEN) < 0)
		return -EBADMSG;
	e->nreaders = n;
	/* Sorted and unique: one encoding per reader set, and lookups stay unambiguous. */
	for (size_t i = 1; i < n; i++)
		if (memcmp(entry_pk(e, i - 1), entry_pk(e, i), DFS_PUBKEY_LEN) >= 0)
			return -EBADMSG;
	return 0;
}

/* Checks a whole keyset and indexes its epochs. */
static int parse(const uint8_t *p, size_t len, struct ks_index *ix)
{
	struct dfs_reader r;
	uint8_t version;
	uint16_t n;
	uint32_t prev = 0;

	if (len > DFS_KEYSET_MAX_LEN)
		return -EBADMSG;
	dfs_reader_init(&r, p, len);
	if (dfs_reader_get_u8(&r, &version) < 0 || version != DFS_KEYSET_VERSION)
		return -EBADMSG;
	if (dfs_reader_get_u16be(&r, &n) < 0 || n == 0 || n > DFS_KEYSET_MAX_EPOCHS)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		if (parse_epoch(&r, prev, &ix->e[i]) < 0)
			return -EBADMSG;
		prev = ix->e[i].epoch;
	}
	if (dfs_reader_left(&r) != 0)
		return -EBADMSG;
	ix->nepochs = n;
	return 0;
}

static const struct ks_epoch *find_epoch(const struct ks_index *ix, uint32_t epoch)
{
	for (size_t i = 0; i < ix->nepochs; i++)
		if (ix->e[i].epoch == epoch)
			return &ix->e[i];
	return NULL;
}

/* The sealed key for reader in e, or NULL when it is not a reader. */
static const uint8_t *find_sealed(const struct ks_epoch *e, const struct dfs_pubkey *reader)
{
	for (size_t i = 0; i < e->nreaders; i++)
		if (memcmp(entry_pk(e, i), reader->b, DFS_PUBKEY_LEN) == 0)
			return entry_pk(e, i) + DFS_PUBKEY_LEN;
	return NULL;
}

int dfs_keyset_check(const uint8_t *p, size_t len)
{
	struct ks_index ix;

	return parse(p, len, &ix);
}

int dfs_keyset_open(const uint8_t *p, size_t len, uint32_t epoch,
		    const struct dfs_pubkey *reader_pk, const struct dfs_seckey *reader_sk,
		    struct dfs_datakey *out)
{
	struct ks_index ix;
	const struct ks_epoch *e;
	const uint8_t *sealed;
	int rc = parse(p, len, &ix);

	if (rc < 0)
		goto out_wipe;
	e = find_epoch(&ix, epoch);
	if (!e) {
		rc = -ENOENT;
		goto out_wipe;
	}
	sealed = find_sealed(e, reader_pk);
	if (!sealed) {
		rc = -EACCES;
		goto out_wipe;
	}
	return dfs_datakey_unseal(sealed, reader_sk, out);
out_wipe:
	dfs_datakey_wipe(out);
	return rc;
}

int dfs_keyset_latest(const uint8_t *p, size_t len, uint32_t *epoch)
{
	struct ks_index ix;
	int rc = parse(p, len, &ix);

	if (rc < 0)
		return rc;
	*epoch = ix.e[ix.nepochs - 1].epoch;
	return 0;
}

int dfs_keyset_readers(const uint8_t *p, size_t len, uint32_t epoch, struct dfs_pubkey *out,
		       size_t max, size_t *n)
{
	struct ks_index ix;
	const struct ks_epoch *e;
	int rc = parse(p, len, &ix);

	if (rc < 0)
		return rc;
	e = find_epoch(&ix, epoch);
	if (!e)
		return -ENOENT;
	*n = e->nreaders;
	for (size_t i = 0; i < e->nreaders && i < max; i++)
		memcpy(out[i].b, entry_pk(e, i), DFS_PUBKEY_LEN);
	return max < e->nreaders ? -ERANGE : 0;
}

/* ---- keysets: building -------------------------------------------------- */

/* A reader's Ed25519 key with its X25519 form, converted once for every epoch. */
struct ks_reader {
	struct dfs_pubkey pk;
	uint8_t xpk[crypto_box_PUBLICKEYBYTES];
};

static int cmp_readers(const void *a, const void *b)
{
	return memcmp(((const struct ks_reader *)a)->pk.b, ((const struct ks_reader *)b)->pk.b,
		      DFS_PUBKEY_LEN);
}

/* Sorts and converts the readers; returns a malloc'ed array or NULL with *rc set. */
static struct ks_reader *prepare_readers(const struct dfs_pubkey *readers, size_t n, int *rc)
{
	struct ks_reader *rs = calloc(n, sizeof(*rs));

	if (!rs) {
		*rc = -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		rs[i].pk = readers[i];
	qsort(rs, n, sizeof(*rs), cmp_readers);
	for (size_t i = 0; i < n; i++) {
		if ((i > 0 && cmp_readers(&rs[i - 1], &rs[i]) == 0) ||
		    crypto_sign_ed25519_pk_to_curve25519(rs[i].xpk, rs[i].pk.b) != 0) {
			free(rs);
			*rc = -EINVAL;
			return NULL;
		}
	}
	return rs;
}

static int check_epochs(const uint32_t *epochs, size_t n)
{
	if (n == 0)
		return -EINVAL;
	if (n > DFS_KEYSET_MAX_EPOCHS)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		if (epochs[i] <= (i ? epochs[i - 1] : 0))
			return -EINVAL;
	return 0;
}

static int has_reader(const struct dfs_pubkey *readers, size_t n, const struct dfs_pubkey *pk)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(readers[i].b, pk->b, DFS_PUBKEY_LEN) == 0)
			return 1;
	return 0;
}

/*
 * A keyset as dfs_keyset_build() describes it, keeping what old (ix)
 * already sealed: a reader listed in an epoch of ix keeps its sealed key,
 * so only readers new to an epoch, and a new epoch, cost a sealing.
 * Removing a reader seals nothing but the new epoch.
 */
static int rebuild(const struct ks_index *ix, const struct dfs_datakey *keys,
		   const uint32_t *epochs, size_t nepochs, const struct dfs_pubkey *readers,
		   size_t nreaders, struct dfs_buf *out)
{
	uint8_t sealed[DFS_SEALED_KEY_LEN];
	struct ks_reader *rs;
	size_t start = out->len;
	int rc = check_epochs(epochs, nepochs);

	if (rc < 0)
		return rc;
	if (nreaders == 0)
		return -EINVAL;
	if (nreaders > DFS_KEYSET_MAX_READERS)
		return -E2BIG;
	rs = prepare_readers(readers, nreaders, &rc);
	if (!rs)
		return rc;
	rc = dfs_buf_reserve(out, DFS_KEYSET_LEN(nepochs, nreaders));
	if (rc < 0)
		goto out_free;
	dfs_buf_add_u8(out, DFS_KEYSET_VERSION);
	dfs_buf_add_u16be(out, (uint16_t)nepochs);
	for (size_t i = 0; i < nepochs && rc == 0; i++) {
		const struct ks_epoch *old = i < ix->nepochs ? &ix->e[i] : NULL;
		dfs_buf_add_u32be(out, epochs[i]);
		dfs_buf_add_u16be(out, (uint16_t)nreaders);
		for (size_t j = 0; j < nreaders && rc == 0; j++) {
			const uint8_t *kept = old ? find_sealed(old, &rs[j].pk) : NULL;
			if (!kept) {
				rc = seal_to_x(&keys[i], rs[j].xpk, sealed);
				kept = sealed;
			}
			dfs_buf_add(out, rs[j].pk.b, DFS_PUBKEY_LEN);
			dfs_buf_add(out, kept, DFS_SEALED_KEY_LEN);
		}
		if (rc == 0)
			rc = dfs_buf_ok(out);
	}
	if (rc < 0)
		out->len = start;
out_free:
	free(rs);
	return rc;
}

int dfs_keyset_build(const struct dfs_datakey *keys, const uint32_t *epochs, size_t nepochs,
		     const struct dfs_pubkey *readers, size_t nreaders, struct dfs_buf *out)
{
	static const struct ks_index none;	/* nothing sealed yet */

	return rebuild(&none, keys, epochs, nepochs, readers, nreaders, out);
}

/* Opens every epoch of ix with the owner's key into keys[], and their numbers into epochs[]. */
static int open_all(const struct ks_index *ix, const struct dfs_pubkey *owner_pk,
		    const struct dfs_seckey *owner_sk, struct dfs_datakey *keys, uint32_t *epochs)
{
	for (size_t i = 0; i < ix->nepochs; i++) {
		const uint8_t *sealed = find_sealed(&ix->e[i], owner_pk);
		int rc = sealed ? dfs_datakey_unseal(sealed, owner_sk, &keys[i]) : -EACCES;

		if (rc < 0)
			return rc;
		epochs[i] = ix->e[i].epoch;
	}
	return 0;
}

int dfs_keyset_rotate(const uint8_t *old, size_t oldlen, const struct dfs_pubkey *owner_pk,
		      const struct dfs_seckey *owner_sk, const struct dfs_pubkey *readers,
		      size_t nreaders, bool new_epoch, struct dfs_buf *out)
{
	struct ks_index ix;
	uint32_t epochs[DFS_KEYSET_MAX_EPOCHS];
	struct dfs_datakey *keys;
	int rc;

	if (!has_reader(readers, nreaders, owner_pk))
		return -EINVAL;
	ix.nepochs = 0;
	if (old) {
		rc = parse(old, oldlen, &ix);
		if (rc < 0)
			return rc;
	} else if (oldlen) {
		return -EINVAL;
	}
	if (ix.nepochs == 0)
		new_epoch = true;	/* nothing to re-seal: the first key */
	if (new_epoch && ix.nepochs == DFS_KEYSET_MAX_EPOCHS)
		return -E2BIG;
	if (new_epoch && ix.nepochs && ix.e[ix.nepochs - 1].epoch == UINT32_MAX)
		return -EOVERFLOW;
	/* Guarded, locked pages that sodium_free() wipes: they hold every key at once. */
	keys = sodium_allocarray(ix.nepochs + 1, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	rc = open_all(&ix, owner_pk, owner_sk, keys, epochs);
	if (rc < 0)
		goto out_free_keys;
	if (new_epoch) {
		dfs_datakey_new(&keys[ix.nepochs]);
		epochs[ix.nepochs] = ix.nepochs ? ix.e[ix.nepochs - 1].epoch + 1 : 1;
	}
	rc = rebuild(&ix, keys, epochs, ix.nepochs + new_epoch, readers, nreaders, out);
out_free_keys:
	sodium_free(keys);
	return rc;
}
