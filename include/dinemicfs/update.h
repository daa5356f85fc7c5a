/* SPDX-License-Identifier: MIT */
/*
 * update.h - the signed update record: one canonical binary encoding.
 *
 * Every change to the database is one update. Its bytes are the same on every
 * node, on disk and on the wire, and its identity is their hash.
 *
 *   offset  size  field
 *   0       1     version, 1
 *   1       1     algorithm, 1: Ed25519 signature, BLAKE2b-256 hashes
 *   2       1     op (enum dfs_op)
 *   3       1     flags: bit 0 = value sealed with the object's data key;
 *                 bit 1 = a base follows the value (FIELD_SET and
 *                 FIELD_DELETE only); other bits must be 0
 *   4       8     clock, hybrid logical clock (hlc.h), big-endian
 *   12      32    entity: the object's public key; for model ops the model
 *                 id, BLAKE2b-256("dinemicfs-model\0" || model name)
 *   44      32    signer's public key
 *   76      32    prev: hash of the entity's previous update, zero for none
 *   108     1     M, model name length, 1..255
 *   109     M     model name
 *   .       2     N, name length, 0..511, big-endian
 *   .       N     name, meaning set by op (below)
 *   .       4     V, value length, 0..DFS_UPDATE_VALUE_MAX, big-endian
 *   .       V     value
 *   .       32    base, only where flags bit 1 is set: the hash of the set
 *                 or delete the field's value started from on the writer's
 *                 node when it wrote (zero: the field had none), so that
 *                 every node can tell which values it built on. A set or
 *                 delete without a base builds on every update of the
 *                 field before it (records of older releases).
 *   .       64    Ed25519 signature by signer over every byte before it
 *
 * The update's hash is BLAKE2b-256 of all its bytes, signature included.
 * Nothing may follow the signature.
 *
 *   op               name                       value
 *   MODEL_CREATE     empty                      empty
 *   MODEL_REMOVE     empty                      empty
 *   MODEL_META       metadata key ("encrypted") the metadata
 *   OBJECT_CREATE    the object's name          empty; signer == entity
 *   OBJECT_REMOVE    empty                      empty
 *   OBJECT_META      metadata key ("authorized", "datakey")  the metadata
 *   FIELD_SET        FIELD or DICT/KEY          the new value
 *   FIELD_APPEND     FIELD or DICT/KEY          the bytes appended
 *   FIELD_DELETE     FIELD or DICT/KEY          empty
 *   DICT_CREATE      DICT                       empty
 *   DICT_DELETE      DICT                       empty
 *   FIELD_RESOLVE    FIELD                      the 32-byte hash of a set of
 *                                               FIELD that lost to a concurrent
 *                                               one: its conflict is settled
 *
 * Names in a record follow the contract (1..255 bytes, no '/' inside a part,
 * no control bytes, not "." or "..") and do not begin with '.'; metadata
 * keys have no control bytes either.
 */
#ifndef DINEMICFS_UPDATE_H
#define DINEMICFS_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/keys.h"

#define DFS_UPDATE_VERSION 1
#define DFS_UPDATE_ALG_ED25519 1
#define DFS_UPDATE_FLAG_SEALED 0x01
#define DFS_UPDATE_FLAG_BASE 0x02
#define DFS_UPDATE_NAME_MAX 511
#define DFS_UPDATE_VALUE_MAX (16u * 1024 * 1024)
#define DFS_UPDATE_HEADER_LEN 108
#define DFS_UPDATE_ENTITY_OFF 12
#define DFS_UPDATE_MIN_LEN (DFS_UPDATE_HEADER_LEN + 1 + 1 + 2 + 4 + DFS_SIG_LEN)
#define DFS_UPDATE_MAX_LEN                                                                \
	(DFS_UPDATE_HEADER_LEN + 1 + 255 + 2 + DFS_UPDATE_NAME_MAX + 4 + DFS_UPDATE_VALUE_MAX + \
	 DFS_HASH_LEN + DFS_SIG_LEN)

enum dfs_op {
	DFS_OP_MODEL_CREATE = 1,
	DFS_OP_MODEL_REMOVE = 2,
	DFS_OP_MODEL_META = 3,
	DFS_OP_OBJECT_CREATE = 4,
	DFS_OP_OBJECT_REMOVE = 5,
	DFS_OP_OBJECT_META = 6,
	DFS_OP_FIELD_SET = 7,
	DFS_OP_FIELD_APPEND = 8,
	DFS_OP_FIELD_DELETE = 9,
	DFS_OP_DICT_CREATE = 10,
	DFS_OP_DICT_DELETE = 11,
	DFS_OP_FIELD_RESOLVE = 12,
};

/*
 * A decoded or to-be-encoded update. The model, name and value pointers are
 * borrowed: after dfs_update_decode() they point into the decoded bytes,
 * which must outlive the struct.
 */
struct dfs_update {
	uint8_t op;
	uint8_t flags;
	uint64_t clock;
	struct dfs_pubkey entity;
	struct dfs_pubkey signer;
	struct dfs_hash prev;
	const char *model;
	size_t model_len;
	const char *name;
	size_t name_len;
	const uint8_t *value;
	size_t value_len;
	struct dfs_hash base;		/* where flags has DFS_UPDATE_FLAG_BASE */
	uint8_t sig[DFS_SIG_LEN];
};

/**
 * Appends the record for u (signature bytes taken from u->sig) to out.
 * Returns 0, -EINVAL when u breaks a rule above, or -ENOMEM.
 */
int dfs_update_encode(const struct dfs_update *u, struct dfs_buf *out);

/**
 * Parses a record. Returns 0, or -EBADMSG (truncated, trailing bytes, bad
 * lengths or names, unknown op or flags), -EPROTONOSUPPORT (unknown version
 * or algorithm), -E2BIG (longer than DFS_UPDATE_MAX_LEN). Checks structure
 * only: signature and chain are the model's job.
 */
int dfs_update_decode(const uint8_t *p, size_t len, struct dfs_update *u);

/**
 * dfs_update_decode() for a record read back from this node's store, which
 * an earlier release may have stored with control bytes in its names (see
 * dfs_name_check_stored()): they pass here, and nowhere else.
 */
int dfs_update_decode_stored(const uint8_t *p, size_t len, struct dfs_update *u);

/**
 * Copies the entity (the 32 bytes at offset 12) of the record p out to
 * *entity, reading nothing else: it neither decodes nor checks the record.
 * Returns 0, or -EBADMSG when len is too short to hold an entity
 * (len < DFS_UPDATE_ENTITY_OFF + DFS_PUBKEY_LEN), leaving *entity untouched.
 */
int dfs_update_entity(const uint8_t *p, size_t len, struct dfs_pubkey *entity);

/** The number of leading bytes that the signature covers. */
static inline size_t dfs_update_signed_len(size_t record_len)
{
	return record_len - DFS_SIG_LEN;
}

/** Short lowercase name of an op ("set", "append", ...), or "unknown". */
const char *dfs_op_name(int op);

/** True for ops that act on a model rather than an object. */
static inline int dfs_op_is_model(int op)
{
	return op >= DFS_OP_MODEL_CREATE && op <= DFS_OP_MODEL_META;
}

#endif
