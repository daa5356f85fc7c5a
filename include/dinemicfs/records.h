/* SPDX-License-Identifier: MIT */
/*
 * records.h - the store's key layout and its small state records (pure).
 *
 * Keys, each beginning with one tag byte:
 *   'U' hash                 -> update record (update.h), every update kept
 *   'H' entity seq(8)        -> struct dfs_history_rec: an entity's updates in
 *                               the order this node kept them, applied or held
 *   'L' seq(8)               -> hash: every update in apply order
 *   'M' model                -> struct dfs_model_rec
 *   'N' model '\0' object    -> entity (32 bytes): live objects by name
 *   'E' entity               -> struct dfs_object_rec
 *   'F' entity path          -> struct dfs_field_rec (path: FIELD or DICT/KEY)
 *   'V' entity path          -> the field's current value: raw bytes, or items
 *                               (below) when its record has DFS_FIELD_FLAG_ITEMS
 *   'X' entity key           -> struct dfs_meta_rec: a metadata value ("authorized",
 *                               "datakey") and the update that set it
 *   'X' model-id "encrypted" signer
 *                            -> struct dfs_meta_rec: one signer's list of a
 *                               model's encrypted fields (dfs_key_meta_by())
 *   'C' model '\0' name '\0' created(8) entity
 *                            -> empty: live objects contending for one name;
 *                               the first in key order shows under the name
 *   'R' hash                 -> empty: a remote update held but not applied
 *                               (rejected here), kept to relay and dedupe
 *   'D' hash                 -> empty: a held update a person dropped here
 *                               (rm .node/held/NAME): its record is gone; sent
 *                               again and held again, it is not kept
 *   'Q' seq(8)               -> struct dfs_held_rec: a held update, by the log
 *                               sequence number it was kept under (oldest first)
 *   'W' signer seq(8)        -> empty: a signer's held updates, oldest first
 *   'K' signer               -> struct dfs_held_sum: a signer's held updates
 *   'S' "held"               -> struct dfs_held_sum: every held update
 *   'P' node id              -> seq(8) log id(16): how far this node got in a
 *                               peer's log, and which log that is
 *   'I' "log"                -> log id(16): this store's log, named at random
 *                               when the store was made
 *   'S' "state"              -> struct dfs_state_rec
 *   'S' "version"            -> the store's format (dfs_version_rec_encode()),
 *                               written by src/model/migrate.c; stores of
 *                               release 0.1.0 have none
 *
 * Records start with a version byte, 2; model records with 3, their layout
 * since the store format 2 (0.1.0's, version 2, is read only to convert
 * it); history entries with none, whose applied form is the bare hash
 * stores have always had. Decoders never read past the input and reject
 * any other length with -EBADMSG, so a corrupted record is reported, never
 * trusted.
 */
#ifndef DINEMICFS_RECORDS_H
#define DINEMICFS_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/keys.h"

#define DFS_REC_VERSION 2
#define DFS_MODEL_REC_VERSION 3
/*
 * The store's format: 1 is release 0.1.0's (no version record), 2 the one
 * before held updates were indexed ('Q', 'W', 'K', 'S' "held"), 3 this one.
 */
#define DFS_STORE_VERSION 3

enum dfs_field_kind {
	DFS_FIELD_VALUE = 1,
	DFS_FIELD_DICT = 2,
};

/*
 * A model is a namespace owned by nobody: any key may create or remove it.
 * Its creates and removes are one last-writer-wins register, (clock,
 * signer), and it shows while the latest of them is a create or while it
 * holds a live object (dfs_model_shown()), so that a remove never hides
 * objects, on any node, in any order.
 */
struct dfs_model_rec {
	bool live;			/* the latest create or remove is a create */
	struct dfs_hash head;
	uint64_t mtime;			/* clock of the model's last update */
	uint64_t clock;			/* (clock, signer): the latest create or remove */
	struct dfs_pubkey signer;
	uint64_t objects;		/* live objects in the model */
};

static inline bool dfs_model_shown(const struct dfs_model_rec *m)
{
	return m->live || m->objects > 0;
}

struct dfs_object_rec {
	bool alive;
	struct dfs_hash head;
	uint64_t created;		/* clock of its create update */
	uint64_t mtime;			/* clock of its last update */
	char model[256];
	char name[256];			/* as created and signed */
	char shown[256];		/* as listed: name, or name~ and 8 hex digits of the key when another
					   object created earlier holds name */
};

/*
 * The value of a field that holds encrypted parts is a sequence of items,
 * one per set or append that makes it, in order:
 *   kind (1: DFS_ITEM_CLEAR or DFS_ITEM_SEALED) || len (4, BE) || len bytes
 * A sealed item is a sealed value (seal.h); a clear one is bytes written by
 * a node that did not seal them (before the field was listed encrypted).
 */
#define DFS_FIELD_FLAG_ITEMS 0x01
#define DFS_ITEM_CLEAR 0
#define DFS_ITEM_SEALED 1
#define DFS_ITEM_HEADER_LEN 5

struct dfs_item {
	uint8_t kind;
	const uint8_t *p;		/* points into the value */
	size_t len;
};

struct dfs_field_rec {
	uint8_t kind;			/* enum dfs_field_kind */
	bool alive;			/* false: a tombstone that keeps its clock */
	uint8_t flags;			/* DFS_FIELD_FLAG_* */
	uint64_t clock;			/* (clock, signer) of the latest update in the value */
	struct dfs_pubkey signer;
	uint64_t base_clock;		/* (base_clock, base_signer): the set or delete that */
	struct dfs_pubkey base_signer;	/* the value starts from; appends follow it */
	uint64_t mtime;			/* clock of the last accepted update */
	uint64_t size;
};

/* Metadata keeps the latest (clock, signer) set, as fields do. */
struct dfs_meta_rec {
	uint64_t clock;
	struct dfs_pubkey signer;
	const uint8_t *value;		/* decoded: points into the record */
	size_t len;
};

/*
 * A history entry: the update's hash (32 bytes) where it is applied, as in
 * every store since 0.1.0; where it is held, the hash followed by a reason
 * code (1 byte, DFS_HELD_*) and a short text of printable bytes (at most
 * DFS_HELD_TEXT_MAX, no control bytes) saying more: the listener and its
 * reason, or the rule. An entry changes from one form to the other when a
 * change of .authorized arriving later re-judges the update.
 */
enum dfs_held_code {
	DFS_HELD_RULE = 1,		/* a rule of the apply path (text: which) */
	DFS_HELD_UNAUTHORIZED = 2,	/* its signer may not make it, at its clock */
	DFS_HELD_REVOKED = 3,		/* applied, then undone by a late grant change */
	DFS_HELD_LISTENER = 4,		/* a listener rejected it (text: NAME: REASON) */
	DFS_HELD_PENDING = 5,		/* authorized by a late grant; not judged here */
	DFS_HELD_LIMIT = 6,		/* past a limit of this node (text: which) */
};
#define DFS_HELD_TEXT_MAX 200

struct dfs_history_rec {
	struct dfs_hash hash;
	uint8_t held;			/* 0: applied; else enum dfs_held_code */
	const char *text;		/* decoded: points into the record; not NUL-terminated */
	size_t text_len;
};

/*
 * The quota of held updates (src/model/held.c). Each held update is indexed
 * by its log sequence number ('Q') and by signer ('W'), and counted, per
 * signer ('K') and in all ('S' "held"), in bytes: its record's length plus
 * DFS_HELD_ENTRY_BYTES for the entries that name it.
 */
#define DFS_HELD_ENTRY_BYTES 256

struct dfs_held_rec {
	struct dfs_pubkey signer;
	struct dfs_pubkey entity;
	struct dfs_hash hash;
	uint64_t bytes;			/* what it counts for */
};

struct dfs_held_sum {
	uint64_t bytes;
	uint64_t count;
};

struct dfs_state_rec {
	uint64_t seq;			/* last apply sequence number */
	uint64_t clock;			/* highest clock applied */
};

int dfs_model_rec_encode(const struct dfs_model_rec *r, struct dfs_buf *out);
int dfs_model_rec_decode(const uint8_t *p, size_t len, struct dfs_model_rec *r);
/**
 * Decodes a model record of release 0.1.0 (version 2: alive, head, mtime,
 * the earliest create's clock and signer): live is its "alive", (clock,
 * signer) its earliest create, objects 0. For the store's migration only.
 */
int dfs_model_rec_decode_v1(const uint8_t *p, size_t len, struct dfs_model_rec *r);
int dfs_object_rec_encode(const struct dfs_object_rec *r, struct dfs_buf *out);
int dfs_object_rec_decode(const uint8_t *p, size_t len, struct dfs_object_rec *r);
int dfs_field_rec_encode(const struct dfs_field_rec *r, struct dfs_buf *out);
int dfs_field_rec_decode(const uint8_t *p, size_t len, struct dfs_field_rec *r);
int dfs_meta_rec_encode(const struct dfs_meta_rec *r, struct dfs_buf *out);
int dfs_meta_rec_decode(const uint8_t *p, size_t len, struct dfs_meta_rec *r);
/**
 * Encodes a history entry. A held one's text is cut at DFS_HELD_TEXT_MAX
 * bytes and control bytes in it become '?'. -EINVAL for an unknown code.
 */
int dfs_history_rec_encode(const struct dfs_history_rec *r, struct dfs_buf *out);
int dfs_history_rec_decode(const uint8_t *p, size_t len, struct dfs_history_rec *r);
int dfs_state_rec_encode(const struct dfs_state_rec *r, struct dfs_buf *out);
int dfs_state_rec_decode(const uint8_t *p, size_t len, struct dfs_state_rec *r);
int dfs_held_rec_encode(const struct dfs_held_rec *r, struct dfs_buf *out);
int dfs_held_rec_decode(const uint8_t *p, size_t len, struct dfs_held_rec *r);
int dfs_held_sum_encode(const struct dfs_held_sum *r, struct dfs_buf *out);
int dfs_held_sum_decode(const uint8_t *p, size_t len, struct dfs_held_sum *r);
int dfs_version_rec_encode(uint32_t version, struct dfs_buf *out);
int dfs_version_rec_decode(const uint8_t *p, size_t len, uint32_t *version);

/**
 * Reads the item at *off of an items value and moves *off past it. Returns
 * 1 (an item), 0 (the end) or -EBADMSG (unknown kind, or cut short).
 */
int dfs_item_next(const uint8_t *v, size_t len, size_t *off, struct dfs_item *it);
/** Appends one item to out. */
int dfs_item_add(struct dfs_buf *out, uint8_t kind, const uint8_t *p, size_t len);

/** Key builders: reset out and write the key. */
void dfs_key_update(struct dfs_buf *out, const struct dfs_hash *h);
void dfs_key_history(struct dfs_buf *out, const struct dfs_pubkey *entity, uint64_t seq);
void dfs_key_log(struct dfs_buf *out, uint64_t seq);
void dfs_key_model(struct dfs_buf *out, const char *model);
void dfs_key_name(struct dfs_buf *out, const char *model, const char *object);
void dfs_key_object(struct dfs_buf *out, const struct dfs_pubkey *entity);
void dfs_key_field(struct dfs_buf *out, const struct dfs_pubkey *entity, const char *path,
		   size_t plen);
void dfs_key_value(struct dfs_buf *out, const struct dfs_pubkey *entity, const char *path,
		   size_t plen);
void dfs_key_meta(struct dfs_buf *out, const struct dfs_pubkey *entity, const char *key);
/** A metadata key kept per signer: dfs_key_meta() followed by the signer's 32 bytes. */
void dfs_key_meta_by(struct dfs_buf *out, const struct dfs_pubkey *entity, const char *key,
		     const struct dfs_pubkey *signer);
/** With entity NULL: the prefix of every contender for (model, name). */
void dfs_key_contender(struct dfs_buf *out, const char *model, const char *name,
		       uint64_t created, const struct dfs_pubkey *entity);
void dfs_key_rejected(struct dfs_buf *out, const struct dfs_hash *h);
void dfs_key_dropped(struct dfs_buf *out, const struct dfs_hash *h);
void dfs_key_cursor(struct dfs_buf *out, const struct dfs_pubkey *node);
/** A held update by sequence number ('Q'). */
void dfs_key_held(struct dfs_buf *out, uint64_t seq);
/** A held update by signer ('W'). */
void dfs_key_held_by(struct dfs_buf *out, const struct dfs_pubkey *signer, uint64_t seq);
/** A signer's count of held updates ('K'). */
void dfs_key_held_sum(struct dfs_buf *out, const struct dfs_pubkey *signer);
/** The count of every held update ('S' "held"). */
void dfs_key_held_total(struct dfs_buf *out);
void dfs_key_state(struct dfs_buf *out);
void dfs_key_version(struct dfs_buf *out);
void dfs_key_log_id(struct dfs_buf *out);

/*
 * Prefixes for scans, written into the caller's array: the same leading
 * bytes as the keys the builders above make.
 */
#define DFS_KEY_TAG_LEN 1			/* the tag byte alone */
#define DFS_KEY_ENTITY_LEN (1 + DFS_PUBKEY_LEN)	/* the tag byte and an entity */
/** Every model ('M'). */
void dfs_key_models_prefix(uint8_t out[DFS_KEY_TAG_LEN]);
/** Every log entry ('L'). */
void dfs_key_log_prefix(uint8_t out[DFS_KEY_TAG_LEN]);
/** An entity's history ('H' entity). */
void dfs_key_history_prefix(uint8_t out[DFS_KEY_ENTITY_LEN], const struct dfs_pubkey *entity);
/** An entity's field records ('F' entity). */
void dfs_key_fields_prefix(uint8_t out[DFS_KEY_ENTITY_LEN], const struct dfs_pubkey *entity);
/** Every held update, oldest first ('Q'). */
void dfs_key_held_prefix(uint8_t out[DFS_KEY_TAG_LEN]);
/** A signer's held updates, oldest first ('W' signer). */
void dfs_key_held_by_prefix(uint8_t out[DFS_KEY_ENTITY_LEN], const struct dfs_pubkey *signer);
/** Turns a field record's key (dfs_key_field()) into its value's key, in place. */
void dfs_key_field_to_value(uint8_t *key);

#endif
