// SPDX-License-Identifier: MIT
/* apply.c - the one apply path: chain, signer, rules, log, stage, observe */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/hlc.h"
#include "dinemicfs/util.h"
#include "internal.h"

/* Whether an update logged since c was checked may be c's. Under apply_lock. */
static bool maybe_stored_since(struct dfs_db *db, const struct dfs_db_checked *c)
{
	uint32_t last = db->recent[recent_slot(&c->hash)];
	uint32_t then = (uint32_t)(c->stamp - db->recent_base);

	/* A difference, so that counts may wrap; a slot untouched for 2^31 updates says "maybe". */
	return (int32_t)(last - then) > 0;
}

/* Under apply_lock. */
void db_stage_locked(struct dfs_db *db, struct dfs_batch *b, const struct applied *note)
{
	dfs_store_stage(db->st, b);
	atomic_store_explicit(&db->visible, db->seq, memory_order_release);
	/*
	 * A model's encrypted list may have changed: what sealed.c knows of
	 * lists is old from now. After staging, so that a reader that sees the
	 * new count finds the list (it reads the count before it scans); under
	 * the lock, so that one holding it never sees the old count.
	 */
	if (note && note->ev.op == DFS_OP_MODEL_META)
		atomic_fetch_add(&db->encrypted_gen, 1);
}

/*
 * prev must be the entity's head or an earlier update of the same entity:
 * concurrent updates fork the chain, and last writer wins settles the fork.
 * A prev not seen yet gives -EAGAIN and *missing: the update waits for it.
 */
static int check_chain(struct dfs_db *db, const struct dfs_update *u, const struct target *t,
		       struct dfs_hash *missing)
{
	if (memcmp(u->prev.b, zero_hash.b, DFS_HASH_LEN) == 0) {
		/*
		 * Nodes that each create a model of one name create one entity.
		 * Any other model update builds on one of its creates, so that
		 * none can come first.
		 */
		if (u->op == DFS_OP_MODEL_CREATE)
			return 0;
		return !t->exists && !dfs_op_is_model(u->op) ? 0 : -EBADMSG;
	}
	if (t->exists && memcmp(u->prev.b, t->head.b, DFS_HASH_LEN) == 0)
		return 0;

	struct dfs_update p;
	uint8_t *rec;
	size_t len;
	int rc = db_get_update(db, &u->prev, &rec, &len);
	if (rc == -ENOENT) {
		if (missing)
			*missing = u->prev;
		return -EAGAIN;
	}
	if (rc < 0)
		return rc;
	rc = dfs_update_decode_stored(rec, len, &p);
	if (rc == 0 && memcmp(p.entity.b, u->entity.b, DFS_PUBKEY_LEN) != 0)
		rc = -EBADMSG;
	free(rec);
	return rc < 0 ? -EBADMSG : 0;
}

/* 0 when the signer may make u (it is authorized), else -EPERM. */
static int check_signer(struct dfs_db *db, const struct dfs_update *u, const struct target *t)
{
	switch (u->op) {
	case DFS_OP_MODEL_CREATE:
	case DFS_OP_MODEL_REMOVE:
	case DFS_OP_MODEL_META:
		/* A model is owned by nobody; "encrypted" is kept per signer. */
		return 0;
	case DFS_OP_OBJECT_CREATE:
	case DFS_OP_OBJECT_META:
		/* An object is owned by its own key; only the owner says who else may write. */
		return memcmp(u->signer.b, u->entity.b, DFS_PUBKEY_LEN) == 0 ? 0 : -EPERM;
	default:
		/*
		 * Another key writes fields, if listed in .authorized at the
		 * update's clock (revoke.c). Under the strict policy, removing
		 * the object and making or deleting its dicts are the owner's:
		 * a later change of .authorized could not undo them.
		 */
		if (memcmp(u->signer.b, u->entity.b, DFS_PUBKEY_LEN) == 0)
			return 0;
		if (!db->open_policy &&
		    (u->op == DFS_OP_OBJECT_REMOVE || u->op == DFS_OP_DICT_CREATE ||
		     u->op == DFS_OP_DICT_DELETE))
			return -EPERM;
		return db_authorized_at(db, u) ? 0 : -EPERM;
	}
}

/*
 * Metadata: "encrypted" on a model (field names, one a line), one list per
 * signer; "authorized" on an object (public keys, 32 bytes each), "datakey"
 * on an object (its keyset, seal.h). The latest (clock, signer) set wins,
 * whatever order the sets arrive in.
 */
static bool meta_is(const struct dfs_update *u, const char *key)
{
	return u->name_len == strlen(key) && memcmp(u->name, key, u->name_len) == 0;
}

static int meta_check(const struct dfs_update *u)
{
	if (u->op == DFS_OP_MODEL_META)
		return meta_is(u, "encrypted") ? dfs_sealed_check_list(u->value, u->value_len)
					       : -EBADMSG;
	if (meta_is(u, "authorized"))
		return u->value_len % DFS_PUBKEY_LEN == 0 &&
				       u->value_len <= DFS_AUTHORIZED_MAX * DFS_PUBKEY_LEN
			       ? 0
			       : -EBADMSG;
	if (meta_is(u, "datakey"))
		return u->value_len <= DFS_KEYSET_MAX_LEN &&
				       dfs_keyset_check(u->value, u->value_len) == 0
			       ? 0
			       : -EBADMSG;
	return -EBADMSG;
}

/* Last writer wins; one signer's two sets at one clock: the greater value, on every node. */
static int meta_cmp(const struct dfs_update *u, const struct dfs_meta_rec *old)
{
	int c = clock_cmp(u->clock, &u->signer, old->clock, &old->signer);
	size_t n = u->value_len < old->len ? u->value_len : old->len;

	if (c == 0 && n)
		c = memcmp(u->value, old->value, n);
	if (c == 0)
		c = (u->value_len > old->len) - (u->value_len < old->len);
	return c;
}

static int apply_meta(struct apply *a)
{
	const struct dfs_update *u = a->u;
	struct dfs_meta_rec m = { u->clock, u->signer, u->value, u->value_len };
	struct dfs_meta_rec old;
	uint8_t *raw;
	size_t rawlen;
	int rc = meta_check(u);

	if (rc < 0)
		return rc;
	if (u->op == DFS_OP_MODEL_META)
		dfs_key_meta_by(&a->key, &u->entity, a->name, &u->signer);
	else
		dfs_key_meta(&a->key, &u->entity, a->name);
	rc = dfs_store_get(a->db->st, a->key.data, a->key.len, &raw, &rawlen);
	if (rc == 0) {
		bool older = dfs_meta_rec_decode(raw, rawlen, &old) == 0 &&
			     meta_cmp(u, &old) < 0;
		free(raw);
		if (older && a->local)
			return db_local_loses(a, old.clock);
		if (older)
			return 0;	/* kept in the history, shown by nothing */
	} else if (rc != -ENOENT) {
		return rc;
	}
	dfs_buf_reset(&a->val);
	return put_rec(a->b, &a->key, &a->val, dfs_meta_rec_encode(&m, &a->val));
}

/*
 * What a model change made here may do: create a model that does not show,
 * remove or list fields of one that does (and remove it only while it
 * holds no object), and never lose last-writer-wins to a stored clock.
 */
static int local_model_rule(const struct apply *a, const struct dfs_model_rec *m, bool shown)
{
	const struct dfs_update *u = a->u;

	if (u->op == DFS_OP_MODEL_CREATE && shown)
		return -EEXIST;
	if (u->op != DFS_OP_MODEL_CREATE && !shown)
		return -ENOENT;
	if (u->op == DFS_OP_MODEL_REMOVE && m->objects > 0)
		return -ENOTEMPTY;
	if (u->op != DFS_OP_MODEL_META && a->t->exists &&
	    clock_cmp(u->clock, &u->signer, m->clock, &m->signer) < 0)
		return -EAGAIN;
	return 0;
}

/*
 * A model's creates and removes are one last-writer-wins register by
 * (clock, signer); it shows while the latest is a create or while it holds
 * a live object (records.h). Every remote model update is applied, whatever
 * the model shows, so that the set of updates decides, in any order.
 */
static int apply_model(struct apply *a)
{
	struct dfs_model_rec m = a->t->model;
	const struct dfs_update *u = a->u;
	bool shown = a->t->exists && dfs_model_shown(&m);
	int rc = a->local ? local_model_rule(a, &m, shown) : 0, c;

	if (rc < 0)
		return rc;
	if (!a->t->exists)
		memset(&m, 0, sizeof(m));
	switch (u->op) {
	case DFS_OP_MODEL_CREATE:
	case DFS_OP_MODEL_REMOVE:
		/* At one (clock, signer), a create beats a remove, whatever comes first. */
		c = a->t->exists ? clock_cmp(u->clock, &u->signer, m.clock, &m.signer) : 1;
		if (c > 0 || (c == 0 && u->op == DFS_OP_MODEL_CREATE)) {
			m.live = u->op == DFS_OP_MODEL_CREATE;
			m.clock = u->clock;
			m.signer = u->signer;
		}
		break;
	case DFS_OP_MODEL_META:
		rc = apply_meta(a);
		if (rc < 0)
			return rc;
		break;
	}
	a->note->ev.created = !shown && dfs_model_shown(&m);
	m.mtime = u->clock > m.mtime ? u->clock : m.mtime;
	m.head = a->hash;
	dfs_buf_reset(&a->val);
	dfs_key_model(&a->key, a->model);
	return put_rec(a->b, &a->key, &a->val, dfs_model_rec_encode(&m, &a->val));
}

static int apply_object(struct apply *a)
{
	const struct dfs_update *u = a->u;
	struct dfs_object_rec o = a->t->object;
	int rc = 0;

	if (u->op == DFS_OP_OBJECT_CREATE) {
		rc = db_object_create(a, &o);
		a->note->ev.created = true;
	} else {
		if (!a->t->exists || !o.alive)
			return -ENOENT;
		switch (u->op) {
		case DFS_OP_OBJECT_REMOVE:
			rc = db_object_remove(a, &o);
			break;
		case DFS_OP_OBJECT_META:
			rc = apply_meta(a);
			if (rc == 0 && meta_is(u, "authorized"))
				rc = db_rejudge(a, &o);
			break;
		case DFS_OP_FIELD_SET:
		case DFS_OP_FIELD_DELETE:
			rc = db_apply_field(a);
			if (rc == 0)
				rc = db_conflict_apply(a);
			break;
		case DFS_OP_FIELD_APPEND:
			rc = db_apply_field(a);
			break;
		case DFS_OP_FIELD_RESOLVE:
			rc = db_conflict_apply(a);
			break;
		case DFS_OP_DICT_CREATE:
		case DFS_OP_DICT_DELETE:
			rc = db_apply_dict(a);
			break;
		default:
			return -EBADMSG;
		}
	}
	if (rc < 0)
		return rc;
	snprintf(a->note->object, sizeof(a->note->object), "%s", o.shown);
	o.mtime = u->clock > o.mtime ? u->clock : o.mtime;
	o.head = a->hash;
	dfs_buf_reset(&a->val);
	dfs_key_object(&a->key, &u->entity);
	return put_rec(a->b, &a->key, &a->val, dfs_object_rec_encode(&o, &a->val));
}

/* The entity's history lists the update, applied or held with its reason. */
static int put_history(struct apply *a, uint64_t seq, bool applied)
{
	const char *text = a->held_text ? a->held_text : "";
	struct dfs_history_rec e = { a->hash, applied ? 0 : a->held, text, strlen(text) };

	if (!applied && !e.held)
		e.held = DFS_HELD_RULE;
	dfs_buf_reset(&a->val);
	dfs_key_history(&a->key, &a->u->entity, seq);
	return put_rec(a->b, &a->key, &a->val, dfs_history_rec_encode(&e, &a->val));
}

/*
 * Every update this node keeps, applied or held, is in the log (so peers
 * get it) under the next sequence number; the state record follows. Only
 * an applied update moves the clock and its floor: a held one may come
 * from anyone, who must not steer this node's clock.
 */
static int log_locked(struct dfs_db *db, struct apply *a, bool applied)
{
	uint64_t seq = db->seq + 1;
	uint64_t max_clock = applied && a->u->clock > db->max_clock ? a->u->clock : db->max_clock;
	struct dfs_state_rec state = { .seq = seq, .clock = max_clock };
	int rc;

	dfs_key_update(&a->key, &a->hash);
	rc = put_key(a->b, &a->key, a->rec, a->len);
	/* Held until now: its held entries go, a new entry says it is applied. */
	if (rc == 0 && applied && a->retry_seq)
		rc = db_held_unhold(db, &a->held_tx, a->b, a->retry_seq, &a->hash, false);
	if (rc == 0 && !applied) {
		dfs_key_rejected(&a->key, &a->hash);
		rc = put_key(a->b, &a->key, "", 0);
	}
	if (rc == 0 && !applied)
		rc = db_held_admit(db, &a->held_tx, a->b, a->u, &a->hash, a->len, seq);
	if (rc == 0)
		rc = put_history(a, seq, applied);
	if (rc == 0)
		rc = db_held_commit(db, &a->held_tx, a->b);
	dfs_key_log(&a->key, seq);
	if (rc == 0)
		rc = put_key(a->b, &a->key, a->hash.b, DFS_HASH_LEN);
	dfs_buf_reset(&a->val);
	dfs_key_state(&a->key);
	if (rc == 0)
		rc = put_rec(a->b, &a->key, &a->val, dfs_state_rec_encode(&state, &a->val));
	if (rc == 0) {
		if (applied)
			dfs_hlc_observe(&db->hlc, a->u->clock);
		db->seq = seq;
		db->recent[recent_slot(&a->hash)] = (uint32_t)(seq - db->recent_base);
		db->max_clock = max_clock;
		a->note->ev.seq = seq;
		a->note->ev.applied = applied;
		db_held_done(db, &a->held_tx);
	}
	return rc;
}

/* Rule failures of a remote update: it is held (kept and relayed), not applied. */
static bool holdable(int rc)
{
	return rc == -EPERM || rc == -ENOENT || rc == -EEXIST || rc == -ENOTEMPTY ||
	       rc == -EISDIR || rc == -ENOTDIR || rc == -EFBIG;
}

/* The update's model and name, as strings, and what the observer is told of it so far. */
static void apply_names(struct apply *a)
{
	const struct dfs_update *u = a->u;
	struct applied *note = a->note;

	memcpy(a->model, u->model, u->model_len);
	a->model[u->model_len] = '\0';
	memcpy(a->name, u->name, u->name_len);
	a->name[u->name_len] = '\0';
	memset(note, 0, sizeof(*note));
	note->ev.op = u->op;
	note->entity = u->entity;
	note->ev.remote = !a->local;
	snprintf(note->model, sizeof(note->model), "%s", a->model);
	if (u->op >= DFS_OP_FIELD_SET)
		snprintf(note->path, sizeof(note->path), "%s", a->name);
}

/* What .history says of a rule a remote update broke. */
static const char *rule_text(int rc)
{
	switch (rc) {
	case -ENOENT: return "no such model, object, field or dict";
	case -EEXIST: return "exists already";
	case -ENOTEMPTY: return "not empty";
	case -EISDIR: return "a dict has its name";
	case -ENOTDIR: return "not in a dict";
	case -EFBIG: return "value too large";
	default: return "not permitted";
	}
}

/*
 * Holds a remote update that broke rule why: *out logs it without applying
 * it. One that passes a quota of held updates alone, or that a person
 * dropped here before, is not kept (-EDQUOT).
 */
static int hold_locked(struct dfs_db *db, struct apply *a, int why, struct dfs_batch **out)
{
	/* Dropped here by a person (heldfiles.c): held again, it is not kept, as past a quota. */
	if (db_dropped(db, &a->hash))
		return -EDQUOT;
	/* Start again: the batch may hold part of the rejected change. */
	dfs_batch_free(a->b);
	db_held_tx_release(&a->held_tx);
	a->b = dfs_batch_new();
	int rc = a->b ? log_locked(db, a, false) : -ENOMEM;
	if (rc == -EDQUOT)
		db_held_done(db, &a->held_tx);
	if (rc == 0) {
		*out = a->b;
		a->b = NULL;
		rc = why;
	}
	return rc;
}

/*
 * A held update judged again and held again: its history entry takes the
 * new reason, and nothing else changes (no new log entry, no new count).
 */
static int rehold_locked(struct apply *a, int why, struct dfs_batch **out)
{
	/* Undone by a late change of .authorized, and still not authorized: still "revoked". */
	if (a->held == DFS_HELD_UNAUTHORIZED && a->was_held == DFS_HELD_REVOKED)
		a->held = DFS_HELD_REVOKED;
	dfs_batch_free(a->b);
	a->b = dfs_batch_new();
	int rc = a->b ? put_history(a, a->retry_seq, false) : -ENOMEM;
	if (rc == 0) {
		*out = a->b;
		a->b = NULL;
		rc = why;
	}
	return rc;
}

/* Only values are sealed, and a sealed one must say which key opens it. */
static bool bad_seal(const struct dfs_update *u)
{
	uint32_t epoch;

	return (u->flags & DFS_UPDATE_FLAG_SEALED) &&
	       ((u->op != DFS_OP_FIELD_SET && u->op != DFS_OP_FIELD_APPEND) ||
		dfs_value_epoch(u->value, u->value_len, &epoch) < 0 ||
		u->value_len < DFS_VALUE_OVERHEAD);
}

/* -EALREADY where the update with hash h is stored, -ENOENT where it is new. */
static int stored_before(struct dfs_db *db, const struct dfs_db_checked *checked,
			 const struct dfs_hash *h)
{
	uint8_t *dup;
	size_t duplen;
	int rc;

	/* New when checked, and nothing that may be it logged since: no second look. */
	if (checked && checked->fresh && !maybe_stored_since(db, checked))
		rc = -ENOENT;
	else
		rc = db_get_update(db, h, &dup, &duplen);
	if (rc == 0) {
		free(dup);
		rc = -EALREADY;
	}
	return rc;
}

/* A held update judged again must still be held where it was: 0, else -ENOENT. */
static int still_held(struct apply *a)
{
	struct dfs_history_rec e;
	uint8_t *raw;
	size_t len;

	dfs_key_history(&a->key, &a->u->entity, a->retry_seq);
	int rc = dfs_buf_ok(&a->key);
	if (rc == 0)
		rc = dfs_store_get(a->db->st, a->key.data, a->key.len, &raw, &len);
	if (rc < 0)
		return rc;
	if (dfs_history_rec_decode(raw, len, &e) < 0 || !e.held ||
	    memcmp(e.hash.b, a->hash.b, DFS_HASH_LEN) != 0)
		rc = -ENOENT;	/* applied by a grant change, dropped, or another's */
	else
		a->was_held = e.held;
	free(raw);
	return rc;
}

/*
 * The signer, judged under the lock. A hold by the policy, decided before
 * it, is judged again: a grant change may have come in meanwhile.
 */
static int judge_signer(struct apply *a, const struct db_hold *hold, bool unauthorized_ok)
{
	int rc = hold ? hold->rc : 0;

	a->held = rc ? hold->code : 0;
	a->held_text = rc ? hold->text : NULL;
	if (rc != 0 && a->held != DFS_HELD_UNAUTHORIZED)
		return rc;
	int signer = check_signer(a->db, a->u, a->t);
	if (signer == -EPERM && unauthorized_ok)
		signer = 0;
	if (rc == 0 && signer < 0) {
		a->held = DFS_HELD_UNAUTHORIZED;
		a->held_text = NULL;
		return signer;
	}
	if (rc != 0 && signer == 0) {
		if (!hold->judged)
			return 0;
		a->held = DFS_HELD_PENDING;	/* the listeners were not asked */
	}
	return rc;
}

/*
 * Builds a's batch: the signer, the rules, the log entry; on success *out
 * gets it. A remote update that breaks a rule is held (hold_locked()).
 */
static int apply_batch(struct apply *a, const struct db_hold *hold, bool unauthorized_ok,
		       struct dfs_batch **out)
{
	struct dfs_db *db = a->db;
	int rc;

	a->b = dfs_batch_new();
	if (!a->b)
		return -ENOMEM;
	rc = judge_signer(a, hold, unauthorized_ok);
	if (rc == 0) {
		rc = dfs_op_is_model(a->u->op) ? apply_model(a) : apply_object(a);
		if (rc < 0) {
			/* Past a limit of this node: the rule says which, in a->why. */
			bool limit = rc == -EFBIG && a->why[0];
			a->held = limit ? DFS_HELD_LIMIT : DFS_HELD_RULE;
			a->held_text = limit ? a->why : rule_text(rc);
		}
	}
	if (rc == 0) {
		rc = log_locked(db, a, true);
	} else if (!a->local && holdable(rc)) {
		rc = a->retry_seq ? rehold_locked(a, rc, out) : hold_locked(db, a, rc, out);
		goto out_free_batch;
	}
	if (rc < 0)
		goto out_free_batch;
	*out = a->b;
	a->b = NULL;
out_free_batch:
	dfs_batch_free(a->b);
	return rc;
}

/*
 * The apply path: verify, check the rules, build the batch. Called with the
 * apply lock held; on success *out is ready to stage and db->seq advanced.
 * A remote update that breaks a rule, or that hold (when not NULL, with a
 * non-zero rc) says this node rejected, is held instead: *out logs it
 * without applying it, and the reason is returned. checked, when not NULL, is what dfs_db_check()
 * found out about the update. A hold with a retry_seq judges again an
 * update held there (heldfiles.c): -ENOENT where it is no longer held
 * there; applied, *out also takes it out of the held ones; held again,
 * *out only gives its history entry the new reason.
 */
int db_apply_locked(struct dfs_db *db, const uint8_t *rec, size_t len,
		    const struct dfs_db_checked *checked, bool local, const struct db_hold *hold,
		    bool unauthorized_ok, struct dfs_hash *missing, struct applied *note,
		    struct dfs_batch **out, const struct db_known *known)
{
	struct dfs_update u;
	struct target t;
	struct apply a = { .db = db, .u = &u, .rec = rec, .len = len, .t = &t, .local = local,
			   .missing = missing, .note = note, .head = known ? known->head : NULL };
	int rc = dfs_update_decode(rec, len, &u);

	if (rc < 0)
		return rc == -E2BIG && local ? -EFBIG : -EBADMSG;
	if (bad_seal(&u))
		return -EBADMSG;
	if (checked)
		a.hash = checked->hash;
	else
		dfs_hash2(&a.hash, rec, len, NULL, 0);
	dfs_buf_init(&a.key);
	dfs_buf_init(&a.val);
	db_held_tx_init(&a.held_tx);
	a.retry_seq = hold ? hold->retry_seq : 0;
	rc = a.retry_seq ? still_held(&a) : stored_before(db, checked, &a.hash);
	if (a.retry_seq ? rc < 0 : rc != -ENOENT)
		goto out;
	apply_names(&a);
	if (known) {
		t = *known->t;
		rc = 0;
	} else {
		rc = db_load_target(db, &u, &t);
	}
	if (rc == 0)
		rc = check_chain(db, &u, &t, missing);
	if (rc < 0)
		goto out;
	if (t.exists && !dfs_op_is_model(u.op))
		snprintf(note->object, sizeof(note->object), "%s", t.object.shown);
	rc = apply_batch(&a, hold, unauthorized_ok, out);
out:
	dfs_buf_release(&a.key);
	dfs_buf_release(&a.val);
	db_held_tx_release(&a.held_tx);
	return rc;
}

/* The event's names, from note's buffers. */
static void note_names(struct applied *note)
{
	note->ev.model = note->model;
	note->ev.object = note->object[0] ? note->object : NULL;
	note->ev.path = note->path[0] ? note->path : NULL;
	note->ev.renamed_from = note->from[0] ? note->from : NULL;
	note->ev.renamed_to = note->to[0] ? note->to : NULL;
}

/* An update applied and staged: what it changed reads so from now on. */
void db_staged(struct dfs_db *db, struct applied *note)
{
	if (!note->ev.applied || !db->staged)
		return;
	note_names(note);
	db->staged(db->staged_ctx, &note->ev);
}

/* Tells the observer about an update now durable, applied or held. */
void db_observe(struct dfs_db *db, struct applied *note)
{
	note_names(note);
	/* Who may read follows the keyset now stored, not keys opened before. */
	if (note->ev.op == DFS_OP_OBJECT_META && note->ev.applied)
		dfs_keycache_forget(db->kc, &note->entity);
	if (db->observer)
		db->observer(db->observer_ctx, &note->ev);
}

/* Stages b under the lock, tells the staged hook, waits outside, then tells the observer. */
int db_finish(struct dfs_db *db, struct dfs_batch *b, int rc, struct applied *note)
{
	if (b)
		db_stage_locked(db, b, note);
	pthread_mutex_unlock(&db->apply_lock);
	if (!b)
		return rc;
	db_staged(db, note);
	int wrc = dfs_store_wait(db->st, b);
	if (wrc < 0)
		return wrc;
	db_observe(db, note);
	return rc;
}
