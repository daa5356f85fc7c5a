// SPDX-License-Identifier: MIT
/*
 * heldfiles.c - held updates one by one, for .node/held/: listed, found by
 * name, shown, judged again (a retry) and dropped (rm)
 *
 * A held update is named by the first 8 bytes of its hash. The name leads
 * to the update's record ('U' hash: the 8 bytes are a prefix of its key)
 * and its mark ('R'); its place in the log, to a hint kept here (set when
 * the held updates are listed, or one is found) that is checked against
 * the history entry it names, else to its object's history.
 *
 * A retry judges the update as it was received (receive.c): the policy,
 * then the before-listeners with the same change and environment, then
 * the rules of the apply path, told by the hold's retry_seq (apply.c).
 * Applied, it leaves its held entries for applied ones in one batch; its
 * after-listeners run and the observer is told, as for any update
 * received; then the updates of its object held by a rule (those that
 * waited for it, such as the fields of an object whose create was held)
 * are judged again, in the order kept. Held again, only its history entry
 * changes: it takes the new reason.
 *
 * A drop deletes the update and everything that names it, leaving a mark
 * ('D'): sent again, it is judged again and, held again, not kept
 * (apply.c), and .history does not call a link to it broken (query.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

/* Rule-held updates of one object judged again after a retry, at most. */
#define FOLLOW_MAX 4096

/* Where a held update is, and what its history entry says. */
struct place {
	struct dfs_hash hash;
	struct dfs_pubkey entity;
	uint64_t seq;
	uint8_t code;
	char text[DFS_HELD_TEXT_MAX + 1];
};

/* The 8 bytes a name stands for: 0, or -ENOENT for a name that is none. */
static int name_bytes(const char *name, uint8_t out[8])
{
	if (strlen(name) != DFS_DB_HELD_NAME_LEN)
		return -ENOENT;
	for (const char *p = name; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return -ENOENT;
	return dfs_hex_decode(out, 8, name, DFS_DB_HELD_NAME_LEN) == 0 ? 0 : -ENOENT;
}

static uint64_t seq_of(const uint8_t *key, size_t klen)
{
	uint64_t seq = 0;

	for (size_t i = klen - 8; i < klen; i++)
		seq = seq << 8 | key[i];
	return seq;
}

/* ---- hints: where a held update was last seen -------------------------------- */

static struct held_name *hint_slot(struct dfs_db *db, const uint8_t *h)
{
	return &db->held_names[((size_t)h[0] << 8 | h[1]) & (HELD_NAMES - 1)];
}

static void hint_put(struct dfs_db *db, const struct dfs_hash *h, const struct dfs_pubkey *entity,
		     uint64_t seq)
{
	pthread_mutex_lock(&db->held_names_lock);
	struct held_name *s = hint_slot(db, h->b);
	s->hash = *h;
	s->entity = *entity;
	s->seq = seq;
	pthread_mutex_unlock(&db->held_names_lock);
}

static bool hint_get(struct dfs_db *db, const uint8_t *h8, struct held_name *out)
{
	pthread_mutex_lock(&db->held_names_lock);
	*out = *hint_slot(db, h8);
	pthread_mutex_unlock(&db->held_names_lock);
	return out->seq && memcmp(out->hash.b, h8, 8) == 0;
}

/* ---- finding a held update ---------------------------------------------------- */

static void take_entry(struct place *p, const struct dfs_pubkey *entity, uint64_t seq,
		       const struct dfs_history_rec *e)
{
	size_t n = e->text_len < DFS_HELD_TEXT_MAX ? e->text_len : DFS_HELD_TEXT_MAX;

	p->hash = e->hash;
	p->entity = *entity;
	p->seq = seq;
	p->code = e->held;
	memcpy(p->text, e->text, n);
	p->text[n] = '\0';
}

/* The history entry of entity at seq, where it holds h held: into p. 0, -ENOENT or -EIO. */
static int entry_at(struct dfs_db *db, const struct dfs_pubkey *entity, uint64_t seq,
		    const struct dfs_hash *h, struct place *p)
{
	struct dfs_history_rec e;
	struct dfs_buf key;
	uint8_t *raw;
	size_t len;

	dfs_buf_init(&key);
	dfs_key_history(&key, entity, seq);
	int rc = dfs_buf_ok(&key);
	if (rc == 0)
		rc = dfs_store_get(db->st, key.data, key.len, &raw, &len);
	dfs_buf_release(&key);
	if (rc < 0)
		return rc;
	if (dfs_history_rec_decode(raw, len, &e) < 0 || !e.held ||
	    memcmp(e.hash.b, h->b, DFS_HASH_LEN) != 0)
		rc = -ENOENT;
	else
		take_entry(p, entity, seq, &e);
	free(raw);
	return rc;
}

struct search {
	struct dfs_db *db;
	struct place *p;
	bool found;
};

/* A record whose hash begins with the name's bytes: the first marked held is the one. */
static int record_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct search *s = arg;

	(void)val;
	(void)vlen;
	if (klen != 1 + DFS_HASH_LEN)
		return 0;
	memcpy(s->p->hash.b, key + 1, DFS_HASH_LEN);
	s->found = db_marked(s->db, dfs_key_rejected, &s->p->hash); /* held ('R') */
	return s->found ? 1 : 0;
}

/* An entry of the object's history: the held one of the update searched for. */
static int history_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct search *s = arg;
	struct dfs_history_rec e;

	if (klen != DFS_KEY_ENTITY_LEN + 8 || dfs_history_rec_decode(val, vlen, &e) < 0)
		return db_skip_corrupt(s->db, "history", key, klen);
	if (!e.held || memcmp(e.hash.b, s->p->hash.b, DFS_HASH_LEN) != 0)
		return 0;
	take_entry(s->p, &s->p->entity, seq_of(key, klen), &e);
	s->found = true;
	return 1;
}

/* Finds the held update named h8 without a hint: its record, then its object's history. */
static int search(struct dfs_db *db, const uint8_t *h8, struct place *p)
{
	struct search s = { db, p, false };
	struct dfs_update u;
	struct dfs_buf key;
	uint8_t prefix[DFS_KEY_ENTITY_LEN], *rec;
	size_t len;

	memset(p->hash.b, 0, DFS_HASH_LEN);
	memcpy(p->hash.b, h8, 8);
	dfs_buf_init(&key);
	dfs_key_update(&key, &p->hash);
	int rc = dfs_buf_ok(&key);
	if (rc == 0)
		rc = dfs_store_scan(db->st, key.data, 1 + 8, record_one, &s);
	dfs_buf_release(&key);
	if (rc == 0 && !s.found)
		rc = -ENOENT;
	if (rc == 0)
		rc = db_get_update(db, &p->hash, &rec, &len);
	if (rc < 0)
		return rc;
	if (dfs_update_decode_stored(rec, len, &u) == 0)
		p->entity = u.entity;
	else
		rc = -EIO;
	free(rec);
	s.found = false;
	dfs_key_history_prefix(prefix, &p->entity);
	if (rc == 0)
		rc = dfs_store_scan(db->st, prefix, sizeof(prefix), history_one, &s);
	return rc < 0 ? rc : s.found ? 0 : -ENOENT;
}

/* The held update named name: 0, -ENOENT, -EIO or -ENOMEM. */
static int find(struct dfs_db *db, const char *name, struct place *p)
{
	struct held_name hint;
	uint8_t h8[8];
	int rc = name_bytes(name, h8);

	if (rc < 0)
		return rc;
	if (hint_get(db, h8, &hint) && entry_at(db, &hint.entity, hint.seq, &hint.hash, p) == 0)
		return 0;
	rc = search(db, h8, p);
	if (rc == 0)
		hint_put(db, &p->hash, &p->entity, p->seq);
	return rc;
}

/* ---- listing and showing -------------------------------------------------------- */

struct listing {
	struct dfs_db *db;
	dfs_db_name_fn fn;
	void *ctx;
};

static int list_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct listing *l = arg;
	struct dfs_held_rec r;
	char name[DFS_DB_HELD_NAME_LEN + 1];

	if (klen != DFS_KEY_TAG_LEN + 8 || dfs_held_rec_decode(val, vlen, &r) < 0)
		return db_skip_corrupt(l->db, "held index", key, klen);
	hint_put(l->db, &r.hash, &r.entity, seq_of(key, klen));
	dfs_hex_encode(name, r.hash.b, 8);
	return l->fn(name, l->ctx);
}

int dfs_db_held_list(struct dfs_db *db, dfs_db_name_fn fn, void *ctx)
{
	struct listing l = { db, fn, ctx };
	uint8_t prefix[DFS_KEY_TAG_LEN];

	dfs_key_held_prefix(prefix);
	return dfs_store_scan(db->st, prefix, sizeof(prefix), list_one, &l);
}

/* A set's or an append's value: in clear, opened where sealed and this node can. */
static int held_value(struct dfs_db *db, struct dfs_db_held *h)
{
	const struct dfs_update *u = &h->u;
	char path[DFS_UPDATE_NAME_MAX + 1];

	if (u->op != DFS_OP_FIELD_SET && u->op != DFS_OP_FIELD_APPEND)
		return 0;
	h->has_value = true;
	h->sealed = u->flags & DFS_UPDATE_FLAG_SEALED;
	if (!h->sealed) {
		dfs_buf_add(&h->value, u->value, u->value_len);
		h->readable = true;
		return dfs_buf_ok(&h->value);
	}
	memcpy(path, u->name, u->name_len);
	path[u->name_len] = '\0';
	int rc = dfs_sealed_open(db, &u->entity, path, u->value, u->value_len, &h->value);
	h->readable = rc == 0;
	if (rc < 0)
		dfs_buf_reset(&h->value);
	/* Not readable here (no key, or it does not open): shown without its value. */
	return rc == -EACCES || rc == -EIO ? 0 : rc;
}

int dfs_db_held_get(struct dfs_db *db, const char *name, struct dfs_db_held *out)
{
	struct dfs_object_rec o;
	struct place p;

	memset(out, 0, sizeof(*out));
	dfs_buf_init(&out->value);
	int rc = find(db, name, &p);
	if (rc == 0)
		rc = db_get_update(db, &p.hash, &out->rec, &out->len);
	if (rc == 0 && dfs_update_decode_stored(out->rec, out->len, &out->u) < 0)
		rc = -EIO;
	if (rc == 0) {
		struct dfs_history_rec e = { p.hash, p.code, p.text, strlen(p.text) };
		db_held_reason(&out->u, &e, out->reason, sizeof(out->reason));
		out->hash = p.hash;
		out->seq = p.seq;
		out->code = p.code;
		if (dfs_db_get_object_by_key(db, &out->u.entity, &o) == 0)
			snprintf(out->object, sizeof(out->object), "%s", o.shown);
		else if (out->u.op == DFS_OP_OBJECT_CREATE)
			snprintf(out->object, sizeof(out->object), "%.*s", (int)out->u.name_len,
				 out->u.name);
		rc = held_value(db, out);
	}
	if (rc < 0)
		dfs_db_held_release(out);
	return rc;
}

void dfs_db_held_release(struct dfs_db_held *h)
{
	free(h->rec);
	h->rec = NULL;
	dfs_buf_release(&h->value);
}

/* ---- retry ------------------------------------------------------------------ */

/* Logs how a retry ended: applied, or (say) held again, with the reason its entry now gives. */
static void tell_retry(struct dfs_db *db, const struct place *p, const struct dfs_update *u,
		       const char *object, int rc, bool say)
{
	char hex[17], where[2 * DFS_UPDATE_NAME_MAX], why[DFS_HELD_TEXT_MAX + 128] = "held";
	struct place now;

	if (rc != 0 && !say)
		return;
	dfs_hex_encode(hex, p->hash.b, 8);
	db_where(db, u, object, where, sizeof(where));
	if (rc == 0) {
		dfs_log(DFS_LOG_NOTICE, "held update %s of %s: applied on retry", hex, where);
		return;
	}
	if (entry_at(db, &p->entity, p->seq, &p->hash, &now) == 0) {
		struct dfs_history_rec e = { now.hash, now.code, now.text, strlen(now.text) };
		db_held_reason(u, &e, why, sizeof(why));
	}
	dfs_log(DFS_LOG_WARNING, "held update %s of %s: still held on retry: %s", hex, where, why);
}

/*
 * Judges the held update at p again, as received: 0 (applied), -EPERM
 * (held again: its entry says why), -ENOENT (not held there any more), or
 * an error. say: log a rejection too, not only an application.
 */
static int retry_one(struct dfs_db *db, const struct place *p, bool say)
{
	struct dfs_db_group *g = dfs_db_group_new(db);
	struct group_item *it = calloc(1, sizeof(*it));
	struct db_hold hold = { .retry_seq = p->seq };
	struct dfs_update u = { .op = 0 };
	uint8_t *rec = NULL;
	size_t len = 0;
	int rc = g && it ? db_get_update(db, &p->hash, &rec, &len) : -ENOMEM;

	if (rc == 0 && dfs_update_decode_stored(rec, len, &u) < 0)
		rc = -EIO;
	if (rc == 0)
		rc = db_judge_prepare(g, &u, &it->j);
	if (rc == 0) {
		db_receive_hold(db, it, &hold);
		pthread_mutex_lock(&db->apply_lock);
		rc = db_apply_locked(db, rec, len, NULL, false, &hold,
				     db->open_policy && !it->j.authorized, NULL, &it->note, &it->b, NULL);
		if (it->b)
			db_stage_locked(db, it->b, &it->note);
		pthread_mutex_unlock(&db->apply_lock);
		if (it->b)
			db_staged(db, &it->note);
	}
	if (it && it->b) {
		int wrc = dfs_store_wait(db->st, it->b);
		if (wrc < 0) {
			rc = wrc;
		} else if (rc == 0) {
			db_observe(db, &it->note);
			atomic_fetch_add(&db->applied, 1);
			db_judge_after(db, &it->j);
		} else {
			rc = -EPERM;	/* held again, whatever rule or listener */
		}
	}
	if (rc == 0 || rc == -EPERM)
		tell_retry(db, p, &u, it->note.object, rc, say);
	else if (rc != -ENOENT && rc != -ENOMEM)
		rc = -EIO;	/* a stored update that no longer decodes or chains */
	if (it)
		db_judgement_release(&it->j);
	free(it);
	free(rec);
	if (g)
		dfs_db_group_end(g);
	return rc;
}

struct follow {
	struct dfs_db *db;
	struct place *v;
	size_t n, cap;
	struct dfs_pubkey entity;
};

/* An entry of the object's history held by a rule: to judge again. */
static int follow_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct follow *f = arg;
	struct dfs_history_rec e;

	if (klen != DFS_KEY_ENTITY_LEN + 8 || dfs_history_rec_decode(val, vlen, &e) < 0)
		return db_skip_corrupt(f->db, "history", key, klen);
	if (e.held != DFS_HELD_RULE)
		return 0;
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		struct place *v = realloc(f->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = cap;
	}
	take_entry(&f->v[f->n++], &f->entity, seq_of(key, klen), &e);
	return f->n < FOLLOW_MAX ? 0 : 1;
}

/* After a retry applied an update of entity: its updates held by a rule, judged again. */
static void follow(struct dfs_db *db, const struct dfs_pubkey *entity)
{
	struct follow f = { .db = db, .entity = *entity };
	uint8_t prefix[DFS_KEY_ENTITY_LEN];

	dfs_key_history_prefix(prefix, entity);
	if (dfs_store_scan(db->st, prefix, sizeof(prefix), follow_one, &f) == 0)
		for (size_t i = 0; i < f.n; i++)
			retry_one(db, &f.v[i], false);
	free(f.v);
}

int dfs_db_held_retry(struct dfs_db *db, const char *name)
{
	struct place p;
	int rc = find(db, name, &p);

	if (rc == 0)
		rc = retry_one(db, &p, true);
	if (rc == 0)
		follow(db, &p.entity);
	return rc;
}

/* ---- drop -------------------------------------------------------------------- */

/* Deletes the held update at p and what names it, leaving its mark 'D'. Under apply_lock. */
static int drop_locked(struct dfs_db *db, struct place *p, struct held_tx *tx,
		       struct dfs_batch *b)
{
	struct dfs_buf key;
	int rc = entry_at(db, &p->entity, p->seq, &p->hash, p);

	if (rc == 0)
		rc = db_held_unhold(db, tx, b, p->seq, &p->hash, true);
	dfs_buf_init(&key);
	dfs_key_dropped(&key, &p->hash);
	if (rc == 0)
		rc = put_key(b, &key, "", 0);
	dfs_buf_release(&key);
	if (rc == 0)
		rc = db_held_commit(db, tx, b);
	return rc;
}

int dfs_db_held_drop(struct dfs_db *db, const char *name)
{
	char hex[17], where[2 * DFS_UPDATE_NAME_MAX] = "?";
	struct dfs_batch *b = NULL;
	struct dfs_update u;
	struct held_tx tx;
	struct place p;
	uint8_t *rec = NULL;
	size_t len;
	int rc = find(db, name, &p);

	if (rc == 0)
		rc = db_get_update(db, &p.hash, &rec, &len);
	if (rc == 0 && dfs_update_decode_stored(rec, len, &u) == 0)
		db_where(db, &u, NULL, where, sizeof(where));
	free(rec);
	if (rc == 0 && !(b = dfs_batch_new()))
		rc = -ENOMEM;
	if (rc < 0)
		return rc;
	db_held_tx_init(&tx);
	pthread_mutex_lock(&db->apply_lock);
	rc = drop_locked(db, &p, &tx, b);
	if (rc == 0) {
		db_stage_locked(db, b, NULL);
		db_held_done(db, &tx);
	}
	pthread_mutex_unlock(&db->apply_lock);
	if (rc < 0) {
		db_held_tx_release(&tx);
		dfs_batch_free(b);
		return rc;
	}
	rc = dfs_store_wait(db->st, b);
	dfs_hex_encode(hex, p.hash.b, 8);
	if (rc == 0)
		dfs_log(DFS_LOG_NOTICE, "held update %s of %s: dropped here", hex, where);
	return rc;
}
