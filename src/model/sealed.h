/* SPDX-License-Identifier: MIT */
/*
 * sealed.h - encrypted fields, for db.c: which fields a model encrypts,
 * opening an object's data keys, and sealing and opening values.
 *
 * A model's "encrypted" metadata lists field names, each followed by '\n',
 * sorted, no duplicates. An object's "datakey" metadata is its keyset
 * (seal.h), set by its owner. A value is sealed for the field's path: the
 * associated data is the object's key followed by the path, so a sealed
 * value copied into another field or object does not open.
 */
#ifndef DINEMICFS_MODEL_SEALED_H
#define DINEMICFS_MODEL_SEALED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/db.h"
#include "dinemicfs/keycache.h"
#include "dinemicfs/keyring.h"

#define DFS_ENCRYPTED_MAX (64 * 1024)	/* bytes of one model's field list */

/** Checks an "encrypted" list: 0 or -EBADMSG. */
int dfs_sealed_check_list(const uint8_t *v, size_t len);
/** Whether path (FIELD or DICT/KEY) is in list: a dict is listed by its name. */
bool dfs_sealed_listed(const uint8_t *list, size_t len, const char *path);
/** Whether model encrypts path; with path NULL, whether it encrypts any field. */
bool dfs_sealed_field(struct dfs_db *db, const char *model, const char *path);

/**
 * Opens obj's data key of epoch: from the cache, else from its keyset with
 * a key this node holds. Returns 0 or -EACCES (no keyset, no such epoch, or
 * no reader held here); -EIO/-ENOMEM.
 */
int dfs_sealed_key(struct dfs_db *db, struct dfs_keyring *kr, struct dfs_keycache *kc,
		   const struct dfs_pubkey *obj, uint32_t epoch, struct dfs_datakey *out);
/**
 * Seals (clear, len) for obj's path under the newest epoch of its keyset,
 * appending to out. Returns 0, -EACCES (no keyset yet, or this node reads
 * none of its keys), -ENOMEM or -EIO.
 */
int dfs_sealed_seal(struct dfs_db *db, struct dfs_keyring *kr, struct dfs_keycache *kc,
		    const struct dfs_pubkey *obj, const char *path, const uint8_t *clear,
		    size_t len, struct dfs_buf *out);
/** Opens one sealed value of obj's path, appending the clear bytes to out. */
int dfs_sealed_open(struct dfs_db *db, struct dfs_keyring *kr, struct dfs_keycache *kc,
		    const struct dfs_pubkey *obj, const char *path, const uint8_t *sealed,
		    size_t len, struct dfs_buf *out);
/**
 * Opens an items value (records.h), appending its clear bytes to out.
 * Returns 0, -EACCES (an item this node cannot open), -EIO (malformed).
 */
int dfs_sealed_open_items(struct dfs_db *db, struct dfs_keyring *kr, struct dfs_keycache *kc,
			  const struct dfs_pubkey *obj, const char *path, const uint8_t *v,
			  size_t len, struct dfs_buf *out);
/**
 * The clear size of an items value, and whether this node can open every
 * item, without decrypting. Returns 0 or -EIO (malformed).
 */
int dfs_sealed_stat_items(struct dfs_db *db, struct dfs_keyring *kr, struct dfs_keycache *kc,
			  const struct dfs_pubkey *obj, const uint8_t *v, size_t len,
			  uint64_t *size, bool *readable);

#endif
