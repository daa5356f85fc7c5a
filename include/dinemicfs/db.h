/* SPDX-License-Identifier: MIT */
/*
 * db.h - the object database: models, objects, fields and their history.
 *
 * Every change, local or (later) remote, is one signed update that goes
 * through dfs_db_apply(): decode, verify signature and chain, check the
 * rules, then one atomic store batch. Local changes are built here: stamped
 * with the clock, chained to the entity's head, and signed with the object's
 * own key (or the node key for model-level changes).
 *
 * Updates from peers, and the log peers read, are in dblog.h; what
 * listeners are told is in change.h.
 *
 * Errors are negative errnos that the filesystem passes to programs:
 * -ENOENT, -EEXIST, -ENOTEMPTY, -EISDIR, -ENOTDIR, -EFBIG, -EPERM, -EIO;
 * -EAGAIN for a local change that would lose to a stored clock, and
 * -EOVERFLOW when this node's clock is at its end (see max_skew below).
 *
 * Threading: every function may be called from any thread. Changes are
 * serialised while they are built and staged; waiting for durability
 * happens outside that lock so concurrent writers share one sync.
 */
#ifndef DINEMICFS_DB_H
#define DINEMICFS_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dinemicfs/change.h"
#include "dinemicfs/keyring.h"
#include "dinemicfs/objref.h"
#include "dinemicfs/records.h"
#include "dinemicfs/store.h"
#include "dinemicfs/update.h"

struct dfs_db;

/*
 * Who judges changes. wants() says whether any listener cares about an
 * event in a model (so a node without listeners reads no old values);
 * before() accepts (0) or rejects (-EPERM) a change before it is applied,
 * writing which listener and its reason into why (whylen bytes; why may
 * be NULL); after() is told once it is durable. dry() asks the
 * before-listeners about a change that a dry run only builds (c->dryrun),
 * giving each one's answer to fn: 0 when all accept, -EPERM when one
 * rejects; NULL where nobody judges. room() says whether the
 * after-listeners' queue has room for more of what the peer numbered
 * origin (struct dfs_change.origin) brings; NULL: always. Called without
 * database locks held, so a listener may read the mount.
 */
struct dfs_db_listener {
	bool (*wants)(void *ctx, enum dfs_event event, const char *model);
	int (*before)(void *ctx, const struct dfs_change *c, char *why, size_t whylen);
	void (*after)(void *ctx, const struct dfs_change *c);
	void *ctx;
	int (*dry)(void *ctx, const struct dfs_change *c, dfs_answer_fn fn, void *arg);
	bool (*room)(void *ctx, uint64_t origin);
};

/* An update now durable in this node's log, told to the observer. */
struct dfs_db_event {
	uint64_t seq;			/* its place in this node's log */
	bool remote;
	bool bulk;			/* one of a burst (a catch-up): show it, skip events */
	bool applied;			/* false: held (rejected here), kept to relay */
	uint8_t op;			/* enum dfs_op */
	bool created;			/* it made its field, object or model appear */
	const char *model;
	const char *object;		/* as listed; NULL for model updates */
	const char *path;		/* FIELD or DICT/KEY for field and dict updates */
	const char *renamed_from;	/* another object of the model now listed */
	const char *renamed_to;		/* under a new name; both NULL if none */
};

/* Called after every update is durable, on the thread that made or received it. */
typedef void (*dfs_db_observer_fn)(void *ctx, const struct dfs_db_event *ev);

struct dfs_db_stats {
	uint64_t applied;	/* updates applied since start */
	uint64_t refused;	/* updates refused since start */
	uint64_t seq;		/* updates in the store */
	uint64_t corrupt;	/* corrupt records met since start */
	uint64_t held_bytes;	/* held updates stored now, in bytes (dfs_db_set_held_quota()) */
	uint64_t held_updates;	/* and how many */
	uint64_t held_dropped;	/* held updates dropped since start to keep within the quota */
	uint64_t held_over_max_value;	/* remote updates held since start: past max_value */
	uint64_t conflicts;	/* conflicts kept now (src/model/conflict.c) */
};

/**
 * Opens the database on st, signing with kr. Borrows both, which must
 * outlive it. max_value bounds a field's value. NULL with errno on failure.
 */
struct dfs_db *dfs_db_open(struct dfs_store *st, struct dfs_keyring *kr, size_t max_value);
void dfs_db_free(struct dfs_db *db);

/** The model id of a model name (the entity of its model-level updates). */
void dfs_db_model_id(const char *model, struct dfs_pubkey *id);

/*
 * Queries. Each returns 0, -ENOENT (absent or removed; a model that does
 * not show, records.h) or -EIO (corrupt).
 */
int dfs_db_get_model(struct dfs_db *db, const char *model, struct dfs_model_rec *out);
int dfs_db_get_object(struct dfs_db *db, const char *model, const char *name,
		      struct dfs_pubkey *key, struct dfs_object_rec *out);
int dfs_db_get_object_by_key(struct dfs_db *db, const struct dfs_pubkey *key,
			     struct dfs_object_rec *out);
/** The key of the object named "MODEL/OBJECT" (n bytes, as listed); -EINVAL if malformed. */
int dfs_db_find_object(struct dfs_db *db, const char *s, size_t n, struct dfs_pubkey *key);
/**
 * The object a grant line names (objref.h): its key where the line has one
 * (the name is then a comment, and the key need be no object's), else the
 * object listed under the name. Returns 0, -EINVAL (neither), -ENOENT (no
 * object listed so), -ENOTUNIQ where more than one live object was created
 * under the name (one listed as NAME, the others as NAME~ and 8 hex digits of their key): which
 * holds it depends on clocks anyone can choose, so such a name grants
 * nothing; name the object by its key or its listed suffix. -EIO.
 */
int dfs_db_resolve_grant(struct dfs_db *db, const struct dfs_objref *r, struct dfs_pubkey *key);
/**
 * The object to sign as, named by a line of .node/as or -o as=: its key,
 * which this node must hold; or, by name, the one whose key this node
 * holds among the object listed under the name and the live objects created
 * under it (where it holds several, the one listed under it, else
 * -ENOTUNIQ). Returns 0, -ENOKEY (none held here), -ENOENT, -EINVAL, -EIO.
 */
int dfs_db_resolve_as(struct dfs_db *db, const struct dfs_objref *r, struct dfs_pubkey *key);
/** path is FIELD or DICT/KEY. */
int dfs_db_get_field(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		     struct dfs_field_rec *out);
/**
 * Reads a field's value into a malloc'ed buffer the caller frees; an
 * encrypted value is opened, or -EACCES where this node holds no key that
 * opens it.
 */
int dfs_db_read_field(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		      uint8_t **val, size_t *len);
/**
 * dfs_db_get_field() plus what a file shows: size is the value's clear
 * size, readable whether this node can open it (true for plain values).
 */
int dfs_db_stat_field(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		      struct dfs_field_rec *out, uint64_t *size, bool *readable);

/**
 * Listing callbacks get a NUL-terminated name valid during the call; a
 * non-zero return stops the walk and is returned (when negative).
 */
typedef int (*dfs_db_name_fn)(const char *name, void *ctx);
int dfs_db_list_models(struct dfs_db *db, dfs_db_name_fn fn, void *ctx);
int dfs_db_list_objects(struct dfs_db *db, const char *model, dfs_db_name_fn fn, void *ctx);
/** Lists live fields and dicts of obj (dict NULL), or keys of one dict. */
int dfs_db_list_fields(struct dfs_db *db, const struct dfs_pubkey *obj, const char *dict,
		       dfs_db_name_fn fn, void *ctx);

/**
 * Calls fn with each update of an entity this node keeps, applied or held,
 * in the order it kept them, decoded; the update and its hash are valid
 * during the call only. verified tells whether the signature, hash and link
 * to the previous line check out. held is NULL for an applied update, else
 * why it is held, a line for people beginning with a one-word code and a
 * colon: "unauthorized:", "revoked:", "listener:", "rule:", "limit:" or
 * "pending:".
 */
typedef int (*dfs_db_history_fn)(const struct dfs_update *u, const struct dfs_hash *hash,
				 bool verified, const char *held, void *ctx);
int dfs_db_history(struct dfs_db *db, const struct dfs_pubkey *entity, dfs_db_history_fn fn,
		   void *ctx);

/*
 * Local changes. Each returns once the update is durable, or an error.
 * A model is owned by nobody: the node key signs its create and remove;
 * creating one that shows is -EEXIST, removing one that holds objects
 * -ENOTEMPTY.
 */
int dfs_db_create_model(struct dfs_db *db, const char *model);
int dfs_db_remove_model(struct dfs_db *db, const char *model);
int dfs_db_create_object(struct dfs_db *db, const char *model, const char *name,
			 struct dfs_pubkey *key);
int dfs_db_remove_object(struct dfs_db *db, const struct dfs_pubkey *obj);
int dfs_db_set_field(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		     const uint8_t *val, size_t len);
int dfs_db_append_field(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
			const uint8_t *val, size_t len);
int dfs_db_delete_field(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path);
int dfs_db_create_dict(struct dfs_db *db, const struct dfs_pubkey *obj, const char *dict);
int dfs_db_delete_dict(struct dfs_db *db, const struct dfs_pubkey *obj, const char *dict);

/*
 * Dry runs (DESIGN.md, "Listeners"). The change a local set, append,
 * delete, object create or object remove would make is checked and built
 * exactly as the real change's (the same signer, names, old and new
 * values), then put to the before-listeners through dfs_db_listener.dry()
 * with dryrun set. Nothing is signed, stored, sent, counted or logged, and
 * the clock does not move; a create makes a key pair for the listeners to
 * see and forgets it.
 *
 * Each returns 0 when the change would pass the listeners and the rules
 * checked, 1 when a listener would reject it, or the negative errno the
 * real change would fail with, a line saying why in t->why: the rules
 * checked before the listeners (no such object, the policy, max_value,
 * the object exists) and, for a remove the listeners accept, those
 * checked after them (only the owner removes under the strict policy;
 * an object with fields is not removed, -ENOTEMPTY; an encrypted value
 * needs a data key this node reads, -EACCES). A rule that depends
 * on what happens meanwhile (a concurrent change) is not foreseen.
 */
struct dfs_db_try {
	dfs_answer_fn fn;	/* given each listener's answer, in order */
	void *arg;
	char why[256];		/* out: the rule that refuses the change */
};
/** op is DFS_OP_FIELD_SET, _APPEND or _DELETE (path the field) or DFS_OP_OBJECT_REMOVE. */
int dfs_db_try_change(struct dfs_db *db, uint8_t op, const struct dfs_pubkey *obj,
		      const char *path, const uint8_t *val, size_t len, struct dfs_db_try *t);
/** The create of object name in model (mkdir MODEL/OBJECT). */
int dfs_db_try_create(struct dfs_db *db, const char *model, const char *name,
		      struct dfs_db_try *t);


/*
 * Authorization. An update of an object is authorized when its signer is
 * the object (its owner) or is listed in the object's .authorized; only the
 * owner changes .authorized. Every node decides from the same replicated
 * metadata.
 */
#define DFS_AUTHORIZED_MAX 256		/* keys one object's .authorized may list */

/**
 * Reads entity's metadata key ("authorized", "datakey") into a malloc'ed,
 * NUL-terminated copy. Returns 0, -ENOENT (never set), -EIO or -ENOMEM.
 */
int dfs_db_get_meta(struct dfs_db *db, const struct dfs_pubkey *entity, const char *key,
		    uint8_t **val, size_t *len);
/** Whether signer is obj's owner or listed in its .authorized. */
bool dfs_db_is_authorized(struct dfs_db *db, const struct dfs_pubkey *obj,
			  const struct dfs_pubkey *signer);
/**
 * Replaces obj's .authorized with keys (sorted, duplicates and the owner
 * dropped), signed as obj: -EPERM where this node does not hold its key,
 * -E2BIG past DFS_AUTHORIZED_MAX (or, once obj has a data key, past
 * DFS_KEYSET_MAX_READERS - 1). Where obj has a data key, it is re-sealed to
 * the new readers, and rotated when one is dropped.
 */
int dfs_db_set_authorized(struct dfs_db *db, const struct dfs_pubkey *obj,
			  const struct dfs_pubkey *keys, size_t n);
/**
 * Sets model's encrypted fields (MODEL/.encrypted) to names: values written
 * from now on are sealed with each object's data key (seal.h), readable
 * where a key of the owner or of an authorized object is held. Each key
 * keeps its own list, and a model encrypts their union: this node's key
 * signs its list, which keeps the names it listed before and adds the new
 * ones no other key lists. Returns -EPERM, changing nothing, where names
 * leave out a name another key lists (only that key takes it off);
 * -ENOENT where the model does not show; -EINVAL for a name that is not a
 * field name, -E2BIG past 64 KiB; -EIO where the store cannot tell.
 */
int dfs_db_set_encrypted(struct dfs_db *db, const char *model, const char *const *names,
			 size_t n);
/**
 * MODEL/.encrypted: the union of every key's list, sorted, one name a line,
 * appended to out. Returns 0, -ENOENT (the model does not show), -EIO.
 */
int dfs_db_get_encrypted(struct dfs_db *db, const char *model, struct dfs_buf *out);
/** 1 when path (FIELD or DICT/KEY) of model is listed in .encrypted, 0 when not, or -EIO. */
int dfs_db_field_encrypted(struct dfs_db *db, const char *model, const char *path);

/**
 * Local changes of objects this node does not own are signed as `as`
 * (NULL: as the node). Returns -ENOKEY where this node lacks its key.
 */
int dfs_db_set_as(struct dfs_db *db, const struct dfs_pubkey *as);
bool dfs_db_get_as(struct dfs_db *db, struct dfs_pubkey *out);
/** Whether a local change of obj would be accepted by the policy. */
bool dfs_db_may_write(struct dfs_db *db, const struct dfs_pubkey *obj);

/*
 * Clocks are bounded. A remote update stamped more than max_skew ahead of
 * this node's wall clock is not applied yet (dfs_db_receive() says
 * -ETIME); only updates applied here move this node's clock. The clock
 * floor kept in the store is ignored when it is more than max_skew ahead
 * of the wall clock (at open, under the default; with a warning once
 * dfs_db_set_max_skew() confirms it). A local change that would lose
 * last-writer-wins to what is stored fails with -EAGAIN (logged).
 */
#define DFS_DB_MAX_SKEW_MS 60000	/* the default max_skew */
/**
 * Sets max_skew, in milliseconds, and judges the floor again, logging a
 * floor it ignores; call once, before any change.
 */
void dfs_db_set_max_skew(struct dfs_db *db, uint64_t ms);

/*
 * Held updates (dblog.h) are kept within a quota, in bytes of their stored
 * records (records.h): per signer and in all. Past it the oldest are
 * dropped, of that signer for the first, of anyone for the second, in the
 * batch that holds the new one; one that passes a quota alone is not kept.
 * A dropped update is unknown here again: sent again, it is judged again.
 */
#define DFS_DB_HELD_PER_SIGNER (16ull << 20)	/* the defaults */
#define DFS_DB_HELD_MAX (256ull << 20)
/** Sets the quotas; call once, before any change. */
void dfs_db_set_held_quota(struct dfs_db *db, uint64_t per_signer, uint64_t max);

/*
 * Held updates one by one (.node/held/). Each is named by the first 8
 * bytes of its hash in 16 lowercase hex digits, as log lines name updates.
 * Any other name is -ENOENT.
 */
#define DFS_DB_HELD_NAME_LEN 16

/* One held update, as dfs_db_held_get() finds it. */
struct dfs_db_held {
	struct dfs_hash hash;
	uint64_t seq;			/* its place in this node's log */
	uint8_t *rec;			/* the update's record, malloc'ed */
	size_t len;
	struct dfs_update u;		/* decoded: points into rec */
	uint8_t code;			/* enum dfs_held_code */
	char reason[DFS_HELD_TEXT_MAX + 128];	/* as .history says it: "CODE: ..." */
	char object[256];		/* the name its object shows here (a create's own
					   name where it does not show); "" where none */
	bool has_value;			/* a set or an append: it carries a value */
	bool sealed;			/* that value is encrypted */
	bool readable;			/* value holds it in clear (opened where sealed) */
	struct dfs_buf value;		/* the value (an append's part), where readable */
};

/**
 * Calls fn with the name of each held update, oldest first; a non-zero
 * return stops the walk and is returned. 0, or -EIO.
 */
int dfs_db_held_list(struct dfs_db *db, dfs_db_name_fn fn, void *ctx);
/**
 * The held update named name, into out, which the caller releases with
 * dfs_db_held_release() on success. Returns 0, -ENOENT (none held so),
 * -EIO or -ENOMEM.
 */
int dfs_db_held_get(struct dfs_db *db, const char *name, struct dfs_db_held *out);
void dfs_db_held_release(struct dfs_db_held *h);
/**
 * Judges the held update named name again, as a remote update is judged:
 * the policy, then the before-listeners (DINEMIC_ORIGIN=remote, the same
 * change and values), then the rules. Returns 0 when it is now applied
 * (and then the updates of its object held by a rule are judged again
 * too, in the order kept); -EPERM when it is held again, its reason
 * updated and logged; -ENOENT (no such held update), -EIO or -ENOMEM.
 */
int dfs_db_held_retry(struct dfs_db *db, const char *name);
/**
 * Drops the held update named name here: its record and everything that
 * names it, counts included. Sent again by a peer, it is judged again,
 * and not kept where it is held again. 0, -ENOENT, -EIO or -ENOMEM.
 */
int dfs_db_held_drop(struct dfs_db *db, const char *name);

/** Policy for unauthorized remote updates: false (strict) holds them, true lets listeners judge. */
void dfs_db_set_policy(struct dfs_db *db, bool open);
/** Sets the observer of durable updates; call before any change. */
void dfs_db_set_observer(struct dfs_db *db, dfs_db_observer_fn fn, void *ctx);
/**
 * Sets the hook told of each update applied as soon as what it changed can
 * be read, before it is durable: on the thread that applies it, without
 * the apply lock, before the change returns and before the observer. The
 * filesystem drops what the kernel cached of it there. Call before any change.
 */
void dfs_db_set_staged(struct dfs_db *db, dfs_db_observer_fn fn, void *ctx);

/** Sets who judges changes; copies l. Call before any change. */
void dfs_db_set_listener(struct dfs_db *db, const struct dfs_db_listener *l);
/**
 * Whether the listeners have room for more updates from the peer numbered
 * origin (struct dfs_db_listener.room); any thread.
 */
bool dfs_db_listener_room(struct dfs_db *db, uint64_t origin);

void dfs_db_get_stats(struct dfs_db *db, struct dfs_db_stats *out);

/*
 * Conflicts (src/model/conflict.c): sets of a field that lost to a
 * concurrent one, decided from the updates alone, the same on every node.
 */
struct dfs_db_conflict {
	struct dfs_pubkey object;
	char path[DFS_NAME_MAX + 1];	/* the field */
	struct dfs_hash lost;		/* the set that lost */
	uint64_t clock;			/* and its (clock, signer) */
	struct dfs_pubkey signer;
	struct dfs_hash winner;		/* the field's winning set or delete now */
	uint64_t win_clock;
	struct dfs_pubkey win_signer;
};

/* Called for each conflict; a non-zero return stops the walk and is returned. */
typedef int (*dfs_db_conflict_fn)(const struct dfs_db_conflict *c, void *arg);
/** Walks obj's conflicts (every object's with obj NULL), by field then hash. */
int dfs_db_conflicts(struct dfs_db *db, const struct dfs_pubkey *obj, dfs_db_conflict_fn fn,
		     void *arg);
/** How many conflicts are kept. */
uint64_t dfs_db_conflict_count(struct dfs_db *db);
/**
 * The value of lost, a set of obj's path, opened where it is sealed: a
 * malloc'ed copy (NUL-terminated past *len). 0, -ENOENT, -EACCES (sealed
 * with a key this node does not read), -EIO or -ENOMEM. *sealed (sealed
 * may be NULL) tells whether the value is encrypted, also with -EACCES.
 */
int dfs_db_conflict_value(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
			  const struct dfs_hash *lost, uint8_t **val, size_t *len, bool *sealed);
/**
 * Settles the conflict of lost on obj's path, as a signed update: with take,
 * its value becomes the field's first (a set), else the winner stays.
 * Returns 0, -ENOENT (no such conflict), -EACCES (this node may not write
 * the field) or another error of a write.
 */
int dfs_db_resolve(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		   const struct dfs_hash *lost, bool take);

#endif
