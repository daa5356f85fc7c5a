/* SPDX-License-Identifier: MIT */
/*
 * seal.h - encrypted field values, data keys sealed to readers, and keysets.
 *
 * Threat model. Every node stores and relays every update, so an encrypted
 * field is only ciphertext to a node that does not hold the secret key of a
 * reader (the object's owner or an authorized object): such a node never sees
 * a clear value or a data key. A value is XChaCha20-Poly1305 under the
 * object's data key for one epoch; the caller's associated data (the object
 * key and the field path) is bound into the tag, so a ciphertext cannot be
 * replayed into another field or object. A keyset says nothing about who made
 * it: anyone can seal a key to a public key. Its authority is the owner's
 * signature on the update that carries it, checked before it is applied.
 * Removing a reader rotates: later values use a key it never received, and
 * the new keyset lists it for no epoch; the old keysets it kept still open
 * what it could read before (revocation cannot take back what was read). Traffic analysis (sizes,
 * timing, who writes) is out of scope.
 *
 * Sealed value (DFS_VALUE_OVERHEAD bytes more than the clear value):
 *   version 1 (1) || epoch (4, BE, >= 1) || nonce (24, random) || ciphertext || tag (16)
 *   associated data = version || epoch || caller's ad
 *
 * Sealed key (DFS_SEALED_KEY_LEN): crypto_box_seal of the 32-byte data key to
 * the X25519 form of the reader's Ed25519 public key.
 *
 * Keyset (the replicated record holding an object's data keys):
 *   version 1 (1) || nepochs (2, BE)
 *   nepochs x [ epoch (4, BE) || nreaders (2, BE) || nreaders x (pubkey (32) || sealed key (80)) ]
 * Epochs are >= 1 and strictly increasing; readers in an epoch are strictly
 * increasing in byte order (no duplicates); both counts are >= 1. Limits:
 * DFS_KEYSET_MAX_EPOCHS epochs of DFS_KEYSET_MAX_READERS readers, chosen so
 * that a full keyset fits in 1 MiB (DFS_KEYSET_MAX_LEN); a keyset that would
 * pass them is refused with -E2BIG. Decoders read nothing past the input and
 * refuse trailing bytes or any inconsistency with -EBADMSG.
 *
 * Secrets: data keys live in struct dfs_datakey, which callers wipe with
 * dfs_datakey_wipe() on every path. Clear values are written into the
 * caller's struct dfs_buf: the model's callers make it secret (buf.h,
 * dfs_buf_make_secret()), so that it is locked and wiped.
 */
#ifndef DINEMICFS_SEAL_H
#define DINEMICFS_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/keys.h"

#define DFS_DATAKEY_LEN 32

#define DFS_VALUE_VERSION 1
#define DFS_VALUE_NONCE_LEN 24
#define DFS_VALUE_TAG_LEN 16
#define DFS_VALUE_HEADER_LEN (1 + 4 + DFS_VALUE_NONCE_LEN)
#define DFS_VALUE_OVERHEAD (1 + 4 + 24 + 16)

/* 32 + crypto_box_SEALBYTES; seal.c checks it against libsodium. */
#define DFS_SEALED_KEY_LEN 80

#define DFS_KEYSET_VERSION 1
#define DFS_KEYSET_MAX_EPOCHS 128
#define DFS_KEYSET_MAX_READERS 64
#define DFS_KEYSET_ENTRY_LEN (DFS_PUBKEY_LEN + DFS_SEALED_KEY_LEN)
/** Encoded length of a keyset with ne epochs of nr readers each. */
#define DFS_KEYSET_LEN(ne, nr) \
	(1 + 2 + (size_t)(ne) * (4 + 2 + (size_t)(nr) * DFS_KEYSET_ENTRY_LEN))
#define DFS_KEYSET_MAX_LEN DFS_KEYSET_LEN(DFS_KEYSET_MAX_EPOCHS, DFS_KEYSET_MAX_READERS)

_Static_assert(DFS_KEYSET_MAX_LEN <= 1024 * 1024, "a full keyset fits in 1 MiB");

/** One object's symmetric key for one epoch. */
struct dfs_datakey {
	uint8_t b[DFS_DATAKEY_LEN];
};

/** Fills k with a fresh random key; returns 0. */
int dfs_datakey_new(struct dfs_datakey *k);
/** Wipes k. */
void dfs_datakey_wipe(struct dfs_datakey *k);

/**
 * Encrypts (in, len) under k for epoch (>= 1), binding ad (may be NULL when
 * adlen is 0), and appends the sealed value to out. in must not point into
 * out. Returns 0, -EINVAL (epoch 0), -E2BIG or -ENOMEM; on error out keeps its
 * length.
 */
int dfs_value_seal(const struct dfs_datakey *k, uint32_t epoch, const uint8_t *ad, size_t adlen,
		   const uint8_t *in, size_t len, struct dfs_buf *out);
/** Reads the epoch of a sealed value; returns 0 or -EBADMSG (short, unknown version, epoch 0). */
int dfs_value_epoch(const uint8_t *in, size_t len, uint32_t *epoch);
/**
 * Decrypts a sealed value made with k and the same ad, and appends the clear
 * value to out (in must not point into out). Returns 0, -EBADMSG (malformed,
 * tampered, wrong key or wrong ad; out keeps its length) or -ENOMEM.
 */
int dfs_value_open(const struct dfs_datakey *k, const uint8_t *ad, size_t adlen,
		   const uint8_t *in, size_t len, struct dfs_buf *out);

/** Whether pk is an Ed25519 public key that keys can be sealed to. */
bool dfs_pubkey_sealable(const struct dfs_pubkey *pk);

/**
 * Seals k to reader, who alone can open it. Returns 0 or -EINVAL when reader
 * is not a usable Ed25519 public key.
 */
int dfs_datakey_seal_to(const struct dfs_datakey *k, const struct dfs_pubkey *reader,
			uint8_t out[DFS_SEALED_KEY_LEN]);
/**
 * Opens a sealed key with the reader's secret key. Returns 0, -EACCES when it
 * was not sealed to this reader (or was damaged), or -EINVAL when reader
 * cannot be converted. k is wiped on error.
 */
int dfs_datakey_unseal(const uint8_t sealed[DFS_SEALED_KEY_LEN], const struct dfs_seckey *reader,
		       struct dfs_datakey *k);

/**
 * Appends a keyset to out: keys[i] is the key of epochs[i] (>= 1, strictly
 * increasing), each sealed to every reader (any order, no duplicates; they
 * are stored sorted). Returns 0, -EINVAL (no epochs or readers, bad order,
 * duplicate or unusable reader), -E2BIG (past the limits) or -ENOMEM; on
 * error out keeps its length. Sealing costs two X25519 operations per entry.
 */
int dfs_keyset_build(const struct dfs_datakey *keys, const uint32_t *epochs, size_t nepochs,
		     const struct dfs_pubkey *readers, size_t nreaders, struct dfs_buf *out);
/** Checks a keyset's structure only (no crypto); returns 0 or -EBADMSG. */
int dfs_keyset_check(const uint8_t *p, size_t len);
/**
 * Opens the data key of epoch for a reader (reader_sk is reader_pk's secret
 * key). Returns 0, -ENOENT (no such epoch), -EACCES (not a reader of that
 * epoch, or its sealed key does not open), -EINVAL (unusable secret key) or
 * -EBADMSG (malformed keyset). out is wiped on error.
 */
int dfs_keyset_open(const uint8_t *p, size_t len, uint32_t epoch,
		    const struct dfs_pubkey *reader_pk, const struct dfs_seckey *reader_sk,
		    struct dfs_datakey *out);
/** Sets *epoch to the newest epoch, the one new values use; returns 0 or -EBADMSG. */
int dfs_keyset_latest(const uint8_t *p, size_t len, uint32_t *epoch);
/**
 * Lists the readers of epoch in byte order: sets *n to their number and
 * copies up to max of them to out (which may be NULL when max is 0).
 * Returns 0, -ERANGE when max < *n (out then holds the first max), -ENOENT
 * (no such epoch) or -EBADMSG.
 */
int dfs_keyset_readers(const uint8_t *p, size_t len, uint32_t epoch, struct dfs_pubkey *out,
		       size_t max, size_t *n);
/**
 * Appends to out the keyset that follows old (NULL, with oldlen 0, for an
 * object that has none): every epoch of old, opened with the owner's key,
 * plus, when new_epoch is set or old is NULL, epoch latest + 1 (or 1) with a
 * fresh key, all sealed to exactly readers. A reader added now can read old
 * values; one left out gets no new key, so removing a reader needs new_epoch. Returns 0, -EINVAL (owner not among readers, or as for build),
 * -EACCES (the owner cannot open an epoch of old), -EBADMSG (old is
 * malformed), -E2BIG (epochs or readers past the limits), -EOVERFLOW (epoch
 * numbers exhausted) or -ENOMEM; on error out keeps its length. Every key
 * is wiped before returning.
 */
int dfs_keyset_rotate(const uint8_t *old, size_t oldlen, const struct dfs_pubkey *owner_pk,
		      const struct dfs_seckey *owner_sk, const struct dfs_pubkey *readers,
		      size_t nreaders, bool new_epoch, struct dfs_buf *out);

#endif
