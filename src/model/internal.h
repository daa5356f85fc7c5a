/* SPDX-License-Identifier: MIT */
/*
 * internal.h - the model's private parts, shared by the files of src/model/
 * and by nothing outside it.
 *
 * It holds struct dfs_db, the state an update is applied to (struct target,
 * struct apply), what the observer is told (struct applied), a received
 * group with its judgements, the tiny helpers of the apply path (inline, so
 * that the split into files costs no inlining), and the db_* functions the
 * files call in one another. The files, bottom first; each calls only the
 * ones below it:
 *
 *   rec.c                 typed store reads, corrupt-record reports, scans
 *   held.c                the quota of held updates: their index and counts
 *   migrate.c             the store's format; older stores converted at open
 *   db.c, sealed.c, oplog.c
 *                         lifecycle and settings; encrypted fields and data
 *                         keys; the log peers read and their cursors
 *   query.c               field values, listings, .history, authorization
 *   merge.c               a field merged again from its history, in bounded memory
 *   field.c, names.c      field and dict rules; concurrent object names
 *   revoke.c              authorization at an update's clock; re-judging
 *   conflict.c            values that lost to a concurrent set, in the store
 *   apply.c               the one apply path
 *   judge.c               what listeners are told
 *   receive.c, local.c    remote updates; changes made here
 *   heldfiles.c           held updates one by one: shown, retried, dropped
 *   authz.c               .authorized and .encrypted
 *
 * Locking: apply_lock serialises every apply (the db_*_locked functions and
 * everything they call run under it). key_locks, striped by object, keep a
 * keyset change from slipping in between sealing a value and applying it.
 * Fields of struct dfs_db say what protects them.
 *
 * Encrypted fields (sealed.c): each signer's "encrypted" metadata of a
 * model (kept per signer, dfs_key_meta_by()) lists field names, each
 * followed by '\n', sorted, no duplicates; the model encrypts the union.
 * An object's "datakey" metadata is its keyset (seal.h), set by its
 * owner. A value is sealed for the field's path: the associated data is
 * the object's key followed by the path, so a sealed value copied into
 * another field or object does not open.
 */
#ifndef DINEMICFS_MODEL_INTERNAL_H
#define DINEMICFS_MODEL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/db.h"
#include "dinemicfs/dblog.h"
#include "dinemicfs/hlc.h"
#include "dinemicfs/keycache.h"
#include "dinemicfs/keyring.h"
#include "dinemicfs/records.h"
#include "dinemicfs/store.h"
#include "dinemicfs/update.h"
#include "dinemicfs/util.h"

#define KEY_LOCKS 64
#define RECENT_SLOTS (1u << 16)
#define DB_UNLISTED_SLOTS 16
#define DB_LISTED_SLOTS 64		/* fields of listed models, answered (sealed.c) */
#define DB_LISTED_KEY 128		/* "MODEL/PATH" longer than this are not kept */

struct dfs_db {
	struct dfs_store *st;
	struct dfs_keyring *kr;
	size_t max_value;
	struct dfs_hlc hlc;
	pthread_mutex_t apply_lock;
	uint64_t seq;			/* protected by apply_lock */
	uint64_t max_clock;		/* highest clock applied; protected by apply_lock */
	uint64_t max_skew_ms;		/* remote clocks ahead of the wall clock; set before use */
	uint64_t floor;			/* the store's clock floor at open */
	bool floor_ignored;		/* it was too far ahead of the wall clock */
	atomic_uint_fast64_t applied, refused, corrupt;
	struct dfs_db_listener listener;	/* set before use; read-only after */
	bool open_policy;			/* likewise */
	dfs_db_observer_fn observer;		/* likewise */
	void *observer_ctx;
	dfs_db_observer_fn staged;		/* likewise */
	void *staged_ctx;
	pthread_mutex_t as_lock;
	bool has_as;				/* sign as this object where allowed */
	struct dfs_pubkey as;
	struct dfs_keycache *kc;		/* data keys opened here */
	uint8_t log_id[DFS_DB_LOG_ID_LEN];	/* set at open */
	/* Per object (striped): sealing writes share one; keyset changes own it. */
	pthread_rwlock_t key_locks[KEY_LOCKS];
	/*
	 * Whether an update was stored since dfs_db_check() found it new: per
	 * slot (by hash), the sequence number, counted from recent_base, of
	 * the last update logged there. Under apply_lock.
	 */
	uint32_t *recent;
	uint64_t recent_base;
	atomic_uint_fast64_t visible;	/* db->seq, once what it logged is staged */
	/* Held updates (held.c): quotas set before use; the rest under apply_lock. */
	uint64_t held_per_signer, held_max;
	struct dfs_held_sum held;	/* every held update, as stored */
	atomic_uint_fast64_t held_dropped;	/* since start */
	uint64_t held_said_ms;		/* when a drop was last logged */
	uint64_t held_unsaid;		/* drops since */
	/* Remote values past max_value held (receive.c): logged at most once a minute. */
	atomic_uint_fast64_t limit_said_ms, limit_unsaid;
	atomic_uint_fast64_t limit_held;	/* since start */
	/* Where held updates are, by hash (heldfiles.c): hints, checked before use. */
	pthread_mutex_t held_names_lock;
	struct held_name *held_names;	/* HELD_NAMES of them, by the hash's first bytes */
	/* Models with no "encrypted" list (sealed.c); moves on when a list change is stored. */
	atomic_uint_fast64_t encrypted_gen;	/* from 1: a slot's 0 matches nothing */
	pthread_mutex_t unlisted_lock;
	struct db_unlisted {
		uint64_t gen;
		char model[DFS_NAME_MAX + 1];
	} unlisted[DB_UNLISTED_SLOTS];
	/* And whether a field of a listed model is encrypted, as of gen; same lock. */
	struct db_listed {
		uint64_t gen;
		int answer;		/* dfs_sealed_field()'s: 1 or 0 */
		char key[DB_LISTED_KEY];	/* MODEL/PATH */
	} listed[DB_LISTED_SLOTS];
};

/* A held update's place in the store, as last seen (heldfiles.c). */
struct held_name {
	struct dfs_hash hash;
	struct dfs_pubkey entity;
	uint64_t seq;			/* 0: an empty slot */
};
#define HELD_NAMES 4096

#define LIMIT_SAY_MS 60000

/* What the observer is told of one update, with room for its names. */
struct applied {
	struct dfs_db_event ev;
	struct dfs_pubkey entity;
	char model[256];
	char object[256];
	char path[DFS_UPDATE_NAME_MAX + 1];
	char from[256], to[256];
};

static const struct dfs_hash zero_hash;

/* ---- rec.c: typed store reads ----------------------------------------------- */

typedef int (*db_decoder)(const uint8_t *, size_t, void *);
typedef int (*db_scan_fn)(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
			  void *arg);

/** Reports a corrupt record (counted in the stats); returns -EIO. */
int db_corrupt(struct dfs_db *db, const char *what, const void *key, size_t klen);
/** db_corrupt() for listing walks, which go on with the rest: returns 0. */
int db_skip_corrupt(struct dfs_db *db, const char *what, const void *key, size_t klen);
/** Gets key and decodes it with dec; a decode failure is reported as corrupt. */
int db_get_rec(struct dfs_db *db, struct dfs_buf *key, const char *what,
	       int (*dec)(const uint8_t *, size_t, void *), void *out);
/** A field's record, alive or not (plen bytes of path). */
int db_get_field_any(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		     size_t plen, struct dfs_field_rec *out);
/** An update's stored bytes, malloc'ed: 0, -ENOENT, -EIO or -ENOMEM. */
int db_get_update(struct dfs_db *db, const struct dfs_hash *h, uint8_t **rec, size_t *len);
/** db_get_update() of a record only passed on to peers, who check it: no block checksums. */
int db_get_update_to_send(struct dfs_db *db, const struct dfs_hash *h, uint8_t **rec,
			  size_t *len);
/** 1 when the update is stored, 0 when it is not, or -EIO or -ENOMEM. */
int db_stored(struct dfs_db *db, const struct dfs_hash *h);
/** Whether the update is stored; a read error says no, and the apply lock decides. */
bool db_known(struct dfs_db *db, const struct dfs_hash *h);
/** Whether the store has the record key_of(h) names (a mark on h); a read error says no. */
bool db_marked(struct dfs_db *db, void (*key_of)(struct dfs_buf *, const struct dfs_hash *),
	       const struct dfs_hash *h);
/** Whether a person dropped the held update h here ('D'); a read error says no. */
bool db_dropped(struct dfs_db *db, const struct dfs_hash *h);
/**
 * Whether a live record has keys under prefix: 1, 0 or a negative errno.
 * kind 'F' counts live field records only. Under apply_lock.
 */
int db_has_live_children(struct dfs_db *db, const uint8_t *prefix, size_t plen, int kind);

/* ---- held.c: the quota of held updates ------------------------------------------ */

/* Held updates one batch drops at most, as a bound on its size. */
#define HELD_DROP_MAX 4096

/* A signer's count of held updates, as a batch leaves it. */
struct held_count {
	struct dfs_pubkey signer;
	struct dfs_held_sum sum;
};

/*
 * What one batch changes in the index of held updates: the counts it
 * leaves (read from the store when first touched), and the sequence
 * numbers of those it drops. Becomes the db's with db_held_done().
 */
struct held_tx {
	bool touched;
	struct dfs_held_sum total;
	struct held_count *by;		/* malloc'ed */
	size_t nby, bycap;
	uint64_t *gone;			/* malloc'ed */
	size_t ngone, gonecap;
	uint64_t refused;		/* updates not kept: past a quota alone */
};

/** Reads the count of every held update, at open. 0 or -EIO. */
int db_held_open(struct dfs_db *db);
void db_held_tx_init(struct held_tx *tx);
void db_held_tx_release(struct held_tx *tx);
/**
 * Indexes a held update u (hash, its record len bytes), logged at seq,
 * into b, dropping first the oldest held updates of its signer, then
 * anyone's, while it would pass held_per_signer or held_max (at most
 * HELD_DROP_MAX in one batch). -EDQUOT where it passes a quota alone: it
 * is not to be kept (counted in tx). Under apply_lock.
 */
int db_held_admit(struct dfs_db *db, struct held_tx *tx, struct dfs_batch *b,
		  const struct dfs_update *u, const struct dfs_hash *hash, size_t len,
		  uint64_t seq);
/** Indexes a held update without making room (an applied one undone). */
int db_held_index(struct dfs_db *db, struct held_tx *tx, struct dfs_batch *b,
		  const struct dfs_pubkey *signer, const struct dfs_pubkey *entity,
		  const struct dfs_hash *hash, size_t len, uint64_t seq);
/** Takes the held update logged at seq out of the index (it is applied now). */
int db_held_unindex(struct dfs_db *db, struct held_tx *tx, struct dfs_batch *b, uint64_t seq);
/**
 * Takes the update hash, held at seq, out of everything that names it as
 * held (its mark, history entry, log entry and index entries, counted out
 * in tx), into b; with record, its record too: it is then unknown here.
 * Not counted as dropped for the quota. -ENOENT where the index holds no
 * such update at seq. Under apply_lock.
 */
int db_held_unhold(struct dfs_db *db, struct held_tx *tx, struct dfs_batch *b, uint64_t seq,
		   const struct dfs_hash *hash, bool record);
/** Writes the counts tx changed into b. */
int db_held_commit(struct dfs_db *db, struct held_tx *tx, struct dfs_batch *b);
/** Once b is staged: its counts are the db's; drops are counted and logged (rate-limited). */
void db_held_done(struct dfs_db *db, struct held_tx *tx);
/**
 * Indexes and counts every held update of a store of format 2, which has
 * no index (migrate.c). Idempotent: run again after a crash, it writes the
 * same. 0, -EIO or -ENOMEM.
 */
int db_held_index_all(struct dfs_db *db);
/** The stored bytes a held update of a record of len bytes counts for. */
static inline uint64_t db_held_cost(size_t len)
{
	return (uint64_t)len + DFS_HELD_ENTRY_BYTES;
}

/* ---- migrate.c: the store's format ------------------------------------------------ */

/**
 * Checks the store's format at open and converts a store of release 0.1.0
 * (migrate.c tells how), in one batch. Returns 0, -EPROTONOSUPPORT (a
 * newer format), -EIO or -ENOMEM.
 */
int db_migrate(struct dfs_db *db);

/* ---- the apply path ----------------------------------------------------------- */

/* The state an update is applied to, read under the apply lock. */
struct target {
	bool exists;		/* the entity has a record */
	struct dfs_model_rec model;
	struct dfs_object_rec object;
	struct dfs_hash head;
};

/* A field's conflict head (conflict.c): its winner and floor. */
struct db_head {
	uint8_t flags;
	struct dfs_hash win;
	uint64_t clock;
	struct dfs_pubkey signer;
	uint64_t fclock;		/* the floor */
	struct dfs_pubkey fsigner;
};

/*
 * What a local change read under the apply lock before signing, so that
 * its apply, under the same hold of the lock, need not read it again.
 */
struct db_known {
	const struct target *t;
	const struct db_head *head;	/* its field's, or NULL */
};

/* Last writer wins: (clock, signer) order, the same on every node. */
static inline int clock_cmp(uint64_t ca, const struct dfs_pubkey *sa, uint64_t cb,
			    const struct dfs_pubkey *sb)
{
	if (ca != cb)
		return ca < cb ? -1 : 1;
	return memcmp(sa->b, sb->b, DFS_PUBKEY_LEN);
}

static inline int put_rec(struct dfs_batch *b, struct dfs_buf *key, struct dfs_buf *val, int rc)
{
	if (rc == 0)
		rc = dfs_buf_ok(key);
	if (rc == 0)
		rc = dfs_batch_put(b, key->data, key->len, val->data, val->len);
	return rc;
}

static inline int put_key(struct dfs_batch *b, struct dfs_buf *key, const void *val, size_t vlen)
{
	int rc = dfs_buf_ok(key);

	if (rc == 0)
		rc = dfs_batch_put(b, key->data, key->len, val, vlen);
	return rc;
}

static inline int del_key(struct dfs_batch *b, struct dfs_buf *key)
{
	int rc = dfs_buf_ok(key);

	if (rc == 0)
		rc = dfs_batch_del(b, key->data, key->len);
	return rc;
}

static inline size_t recent_slot(const struct dfs_hash *h)
{
	return ((size_t)h->b[0] | (size_t)h->b[1] << 8) & (RECENT_SLOTS - 1);
}

/** Reads the target of u (its model or object record), under apply_lock. */
int db_load_target(struct dfs_db *db, const struct dfs_update *u, struct target *t);

struct apply {
	struct dfs_db *db;
	const struct dfs_update *u;
	const uint8_t *rec;	/* the update's bytes */
	size_t len;
	struct target *t;
	struct dfs_batch *b;
	struct dfs_hash hash;	/* the update's, the entity's new head */
	bool local;		/* made on this node: local-only rules apply */
	struct dfs_hash *missing;
	struct dfs_buf key, val;
	char model[256];
	char name[DFS_UPDATE_NAME_MAX + 1];
	struct applied *note;	/* filled for the observer */
	uint8_t held;		/* why it is held (DFS_HELD_*), once it is */
	const char *held_text;	/* more about it, NUL-terminated; borrowed */
	char why[DFS_HELD_TEXT_MAX + 1];	/* a limit's text, written by the rule */
	struct held_tx held_tx;	/* what the batch changes in the held index */
	uint64_t retry_seq;	/* a held update judged again: where it is held; else 0 */
	uint8_t was_held;	/* and why it was (DFS_HELD_*) */
	const struct db_head *head;	/* the field's conflict head, when known */
};

/*
 * Why a remote update is held, as decided before the apply lock: by the
 * policy (DFS_HELD_UNAUTHORIZED, judged again under the lock) or by a
 * listener (DFS_HELD_LISTENER, text "NAME: REASON").
 */
struct db_hold {
	int rc;			/* 0: not held; else what the receive returns */
	uint8_t code;
	bool judged;		/* listeners want it: never applied without them */
	char text[DFS_HELD_TEXT_MAX + 1];
	/*
	 * Not 0: the update is held here, at this place in the log, and judged
	 * again (heldfiles.c). Applied, it leaves its held entry for a new
	 * one; held again, its entry takes the new reason and nothing else
	 * changes.
	 */
	uint64_t retry_seq;
};

/* apply.c */
/**
 * Stages b, the batch of note's update (or NULL), and says so to
 * dfs_db_check() and to sealed.c. Under apply_lock.
 */
void db_stage_locked(struct dfs_db *db, struct dfs_batch *b, const struct applied *note);
/**
 * The apply path: verify, check the rules, build the batch (apply.c tells
 * the whole contract). Called with the apply lock held; known, when not
 * NULL, is what a local change read under this same hold of the lock.
 */
int db_apply_locked(struct dfs_db *db, const uint8_t *rec, size_t len,
		    const struct dfs_db_checked *checked, bool local, const struct db_hold *hold,
		    bool unauthorized_ok, struct dfs_hash *missing, struct applied *note,
		    struct dfs_batch **out, const struct db_known *known);
/**
 * Tells the staged hook about an update applied and staged (readable now):
 * call once the apply lock is released.
 */
void db_staged(struct dfs_db *db, struct applied *note);
/** Tells the observer about an update now durable, applied or held. */
void db_observe(struct dfs_db *db, struct applied *note);
/** Stages b under the lock, tells the staged hook, waits outside, then tells the observer. */
int db_finish(struct dfs_db *db, struct dfs_batch *b, int rc, struct applied *note);

/* merge.c */
/* A value holds at most this many parts (sets and appends; items where encrypted). */
#define DB_VALUE_PARTS_MAX 65536
/**
 * A dict's record keeps its latest create or delete as (clock, signer),
 * live when that is a create, and its latest delete, the horizon, as
 * (base_clock, base_signer): a dict deleted at t deletes every key written
 * before t, whatever order the updates arrive in, so a key is merged as if
 * it had a delete at the horizon. Records of release 0.1.0 set the base
 * with every create too: a live one's base equal to its create is none.
 * Returns whether d has a horizon, and it.
 */
bool db_dict_horizon(const struct dfs_field_rec *d, uint64_t *clock, struct dfs_pubkey *signer);
/** Which history entries a re-merge takes (applied: as stored). */
typedef bool (*db_merge_pick_fn)(const struct dfs_hash *h, bool applied, void *ctx);
/* What a merge reads: one path of an entity's history. */
struct db_merge_args {
	const struct dfs_pubkey *entity;
	const char *path;
	size_t plen;
	db_merge_pick_fn pick;		/* which entries count; NULL: the applied ones */
	void *ctx;
	const struct dfs_update *extra;	/* an update not stored yet, or NULL */
	const struct dfs_hash *extra_hash;
	bool has_horizon;		/* a dict delete to merge in; else the dict's, read */
	uint64_t h_clock;
	struct dfs_pubkey h_signer;
};
/**
 * Rebuilds a field's record (all but mtime, left as it was) and malloc'ed
 * value from what in names, keeping in memory only what the value holds
 * (merge.c). *cut says appends that did not fit in max_value were left
 * out. -ENOENT where no update is about the path.
 */
int db_merge(struct dfs_db *db, const struct db_merge_args *in, struct dfs_field_rec *f,
	     uint8_t **value, size_t *len, bool *cut);
/**
 * db_merge() of the entries of entity's history that pick takes, the
 * dict's horizon included; mtime is its latest update. A cut value is
 * logged (db_merge_cut()) and kept.
 */
int db_remerge_path(struct dfs_db *db, const struct dfs_pubkey *entity, const char *path,
		    size_t plen, db_merge_pick_fn pick, void *ctx, struct dfs_field_rec *f,
		    uint8_t **value, size_t *len);
/** Logs that path's value was cut to max_value. */
void db_merge_cut(struct dfs_db *db, const struct dfs_pubkey *entity, const char *path,
		  size_t plen);
/** Adds one update's bytes to a value: as they are, or as an item where items says so. */
int db_add_part(struct dfs_buf *out, bool items, uint8_t flags, const uint8_t *p, size_t len);

/* field.c */
/** Marks every field under a scanned prefix dead, in a->b (a db_scan_fn). */
int db_bury_fields(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg);
int db_apply_field(struct apply *a);
int db_apply_dict(struct apply *a);

/* names.c */
/** An object's create: its name, or a demoted one where another holds it. */
int db_object_create(struct apply *a, struct dfs_object_rec *o);
/** An object's remove: its name passes on, its fields are buried. */
int db_object_remove(struct apply *a, struct dfs_object_rec *o);
/**
 * The name object k, created under name (len bytes) at clock, shows under
 * once its create is applied, as things stand: into out. 0 or -EIO.
 */
int db_name_to_show(struct dfs_db *db, const char *model, const char *name, size_t len,
		    uint64_t clock, const struct dfs_pubkey *k, char out[256]);
/** Counts one live object more (delta 1) or less (-1) in model's record, in a->b. */
int db_count_object(struct apply *a, const char *model, int delta);

/* revoke.c */
/** Whether u's signer is its object's owner or listed in .authorized in force at u's clock. */
bool db_authorized_at(struct dfs_db *db, const struct dfs_update *u);
/**
 * Re-judges the field updates of a->u's object stamped after a->u, an
 * applied change of its .authorized, into a->b; o->mtime follows what
 * stays applied. Under apply_lock.
 */
int db_rejudge(struct apply *a, struct dfs_object_rec *o);

/* conflict.c */
/** Keeps a->u's field's conflicts up (a set, delete or resolve applied), in a->b. */
int db_conflict_apply(struct apply *a);
/** The base a set or delete of obj's path made here names: its winner, or zero. */
int db_conflict_base(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		     struct dfs_hash *base, struct db_head *h);

/* ---- db.c, query.c ---------------------------------------------------------- */

/** Whether a listener wants event in model. */
bool db_wanted(struct dfs_db *db, enum dfs_event event, const char *model);
/** A field's value as stored (sealed items not opened), with its record. */
int db_read_raw(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		uint8_t **val, size_t *len, struct dfs_field_rec *out);
/**
 * The latest clock a remote update may carry to be applied now: max_skew
 * past this node's wall clock (db.c).
 */
uint64_t db_clock_limit(struct dfs_db *db);
/**
 * A local change of a->name would lose last-writer-wins to the stored
 * (clock, signer): logs a warning naming it and returns -EAGAIN (db.c).
 */
int db_local_loses(const struct apply *a, uint64_t stored);
/**
 * Why an update u is held, for people, from its history entry e: a code
 * word ("unauthorized", "revoked", "listener", "rule", "limit",
 * "pending"), a colon, the rest (query.c).
 */
void db_held_reason(const struct dfs_update *u, const struct dfs_history_rec *e, char *out,
		    size_t size);
/**
 * Where u is, for log lines and .node/held: MODEL (MODEL/.KEY for its
 * metadata), MODEL/OBJECT, or MODEL/OBJECT/FIELD (OBJECT/.KEY for an
 * object's metadata, DICT for a dict op); the object by shown where that
 * is not NULL or "", else by the name it shows here (its create's name
 * for a create), else by the first 16 hex digits of its key in
 * parentheses. Never a value.
 */
void db_where(struct dfs_db *db, const struct dfs_update *u, const char *shown, char *out,
	      size_t n);
/** Who signs a local change of obj (query.c); returns whether it is authorized. */
bool db_local_signer(struct dfs_db *db, const struct dfs_pubkey *obj, struct dfs_pubkey *signer);

/* ---- sealed.c: encrypted fields ------------------------------------------------ */

#define DFS_ENCRYPTED_MAX (64 * 1024)	/* bytes of one model's field list */

/** Checks an "encrypted" list: 0 or -EBADMSG. */
int dfs_sealed_check_list(const uint8_t *v, size_t len);
/** Whether path (FIELD or DICT/KEY) is in list: a dict is listed by its name. */
bool dfs_sealed_listed(const uint8_t *list, size_t len, const char *path);
/**
 * Whether model encrypts path (any signer's list names it); with path
 * NULL, whether it encrypts any field. Returns 1, 0, or -EIO or -ENOMEM
 * where the store cannot tell: a caller that would write then refuses,
 * never writing in clear.
 */
int dfs_sealed_field(struct dfs_db *db, const char *model, const char *path);
/*
 * Called with each signer's list of a model's encrypted fields (checked);
 * a non-zero return stops the walk and is returned.
 */
typedef int (*db_encrypted_fn)(const struct dfs_pubkey *signer, const uint8_t *list, size_t len,
			       void *arg);
/** Walks model's lists, one per signer: 0, fn's return, -EIO (a corrupt one) or -ENOMEM. */
int db_encrypted_lists(struct dfs_db *db, const char *model, db_encrypted_fn fn, void *arg);
/** Readies what db_encrypted_lists() remembers of models with no list (none yet). */
void db_unlisted_init(struct dfs_db *db);
/**
 * Sorts the names of lines (each ended by '\n', turned into '\0' in place)
 * without repeats: *out (malloc'ed, the caller frees it) points into lines.
 */
int db_names_sort(struct dfs_buf *lines, char ***out, size_t *n);
/** qsort/bsearch order of names (char *), strcmp's. */
int db_names_cmp(const void *a, const void *b);

/**
 * Opens obj's data key of epoch: from the cache, else from its keyset with
 * a key this node holds. Returns 0 or -EACCES (no keyset, no such epoch, or
 * no reader held here); -EIO/-ENOMEM.
 */
int dfs_sealed_key(struct dfs_db *db, const struct dfs_pubkey *obj, uint32_t epoch,
		   struct dfs_datakey *out);
/**
 * Seals (clear, len) for obj's path under the newest epoch of its keyset,
 * appending to out. Returns 0, -EACCES (no keyset yet, or this node reads
 * none of its keys), -ENOMEM or -EIO.
 */
int dfs_sealed_seal(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		    const uint8_t *clear, size_t len, struct dfs_buf *out);
/** Opens one sealed value of obj's path, appending the clear bytes to out. */
int dfs_sealed_open(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		    const uint8_t *sealed, size_t len, struct dfs_buf *out);
/**
 * Opens an items value (records.h), appending its clear bytes to out.
 * Returns 0, -EACCES (an item this node cannot open), -EIO (malformed).
 */
int dfs_sealed_open_items(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
			  const uint8_t *v, size_t len, struct dfs_buf *out);
/**
 * The clear size of an items value, and whether this node can open every
 * item, without decrypting. Returns 0 or -EIO (malformed).
 */
int dfs_sealed_stat_items(struct dfs_db *db, const struct dfs_pubkey *obj, const uint8_t *v,
			  size_t len, uint64_t *size, bool *readable);

/** The lock of obj's keyset (key_locks). */
pthread_rwlock_t *db_key_lock(struct dfs_db *db, const struct dfs_pubkey *obj);
/** qsort/bsearch order of public keys. */
int db_key_cmp(const void *a, const void *b);
/** Whether any key of old is missing from keys (sorted, m of them). */
bool db_any_dropped(const uint8_t *old, size_t oldlen, const struct dfs_pubkey *keys, size_t m);
/** Builds obj's next keyset (sealed.c tells how). Under db_key_lock(db, obj) for writing. */
int db_make_keyset(struct dfs_db *db, const struct dfs_pubkey *obj, const uint8_t *auth,
		   size_t authlen, bool new_epoch, struct dfs_buf *ks);

/* ---- judge.c: what listeners are told ----------------------------------------- */

#define GROUP_WANTS 8

struct dfs_db_group {
	struct dfs_db *db;
	struct group_item **items;	/* struct group_item is below */
	size_t n, cap;
	bool bulk;
	uint64_t origin;		/* dfs_db_group_origin() */
	size_t bytes;			/* dfs_db_group_bytes() */
	/*
	 * Whether listeners want an event of a model, asked once per group:
	 * a group is one message, received at once.
	 */
	struct {
		enum dfs_event event;
		bool yes;
		char model[DFS_NAME_MAX + 1];
	} wants[GROUP_WANTS];
	size_t nwants;
};

/*
 * The change listeners judge for a remote update, read before it is applied.
 * Where the update buries the live keys of the dict path (a dict delete, a
 * field over a dict), keys says so: each key is judged as its own delete
 * (db_judge_before()), and the keys accepted are kept in told for the
 * after-listeners, each with its old value only where a listener's
 * environment shows it (DFS_CHANGE_SHOWN_MAX), up to JUDGE_KEPT_MAX bytes
 * of old values in all.
 */
#define JUDGE_KEPT_MAX (1024 * 1024)

struct judgement {
	bool judged;		/* c itself is judged */
	bool keys;		/* and the delete of each live key of the dict path */
	bool authorized;
	struct dfs_change c;
	struct dfs_pubkey entity;
	char model[256];
	char object[256];
	char path[DFS_UPDATE_NAME_MAX + 1];
	uint8_t *old, *joined;
	struct dfs_buf clear;	/* a sealed update's bytes, opened */
	struct dfs_buf told;	/* the keys accepted, for the after-listeners */
	size_t kept;		/* bytes of old values in told (at most JUDGE_KEPT_MAX) */
};

/* One received update staged in a group, told about once it is durable. */
struct group_item {
	struct dfs_batch *b;
	int rc;				/* 0: applied; else held */
	struct applied note;
	struct judgement j;
};

void db_judgement_release(struct judgement *j);
/** The bytes of values j holds for the listeners. */
size_t db_judgement_bytes(const struct judgement *j);
/** Fills j for a remote update u, where listeners want it judged. */
int db_judge_prepare(struct dfs_db_group *g, const struct dfs_update *u, struct judgement *j);
/**
 * Asks the before-listeners about j: each key it buries first, then its
 * own change. 0 when every one accepts (or nothing is judged), -EPERM at
 * the first rejection (which listener and why in why, whylen bytes, when
 * why is not NULL), or a read error.
 */
int db_judge_before(struct dfs_db *db, struct judgement *j, char *why, size_t whylen);
/** Tells the after-listeners about j, applied: the keys it buried, then its own change. */
void db_judge_after(struct dfs_db *db, struct judgement *j);
/** A local change as listeners see it; the caller fills the values. */
void db_local_event(struct dfs_change *c, enum dfs_event event, const char *model,
		    const char *object, const char *field, const struct dfs_pubkey *signer);

/* ---- receive.c ------------------------------------------------------------------ */

/**
 * What the policy and the before-listeners say of it's update, judged as
 * a remote update: hold, for db_apply_locked() (rc 0: accepted).
 */
void db_receive_hold(struct dfs_db *db, struct group_item *it, struct db_hold *hold);

/* ---- local.c ------------------------------------------------------------------- */

/**
 * Builds, signs and applies one update made on this node: stamped with the
 * clock, chained to the entity's head, signed as signer.
 */
int db_local_change(struct dfs_db *db, uint8_t op, uint8_t flags,
		    const struct dfs_pubkey *entity, const struct dfs_pubkey *signer,
		    const char *model, const char *name, const uint8_t *val, size_t vlen);

#endif
