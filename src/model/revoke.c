// SPDX-License-Identifier: MIT
/*
 * revoke.c - authorization at an update's clock, and re-judging the updates
 * a change of .authorized covers when it arrives after them
 *
 * An update of an object signed by another key than the object's own is
 * authorized when its signer is listed in the .authorized in force at its
 * clock: the latest "authorized" metadata of the object (signed by the
 * owner) stamped before it, in (clock, signer) order. For an update later
 * than the stored list ('X'), the usual case, that is the stored list; an
 * update stamped before it needs the grants in the object's history.
 *
 * A grant change that arrives after updates stamped after it re-judges
 * them, under the strict policy, in the batch that applies it: applied field
 * updates whose signer it does not list are undone (their history entries
 * say held, "revoked") and held ones it lists are applied, and each field
 * they touch is merged again from the history (field.c). So which updates
 * are applied, and every value, depend on the updates a node holds, not on
 * the order they came in. Only field updates are re-judged: removing an
 * object and making or deleting its dicts are the owner's alone
 * (apply.c, check_signer). Whether anything is stamped after the grant is
 * told by the object's mtime (its latest applied update) and by the held
 * entries of its history; the history's applied updates are read only when
 * the grant arrived out of order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/hlc.h"
#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

/* A change of .authorized: its clock (its signer is the owner) and its list. */
struct grant {
	uint64_t clock;
	struct dfs_hash hash;
	uint8_t *list;		/* keys, DFS_PUBKEY_LEN bytes each; malloc'ed */
	size_t len;
};

/* A field update stamped after the grant change, by another key than the owner's. */
struct cand {
	struct dfs_hash hash;
	uint64_t seq;		/* of its history entry */
	uint64_t clock;
	struct dfs_pubkey signer;
	uint8_t op;
	uint8_t held;		/* as stored: 0 applied, else DFS_HELD_* */
	uint8_t now;		/* as judged again */
	const char *text;	/* a held one's text, where it changes */
	char *path;		/* malloc'ed, NUL-terminated */
	size_t plen;
	size_t vlen;		/* its value's bytes */
	bool sealed;
	size_t len;		/* its record's bytes */
};

struct scan {
	struct dfs_db *db;
	const struct dfs_pubkey *entity;
	uint64_t since;		/* the grant change's clock: candidates are later */
	bool applied;		/* read applied updates (some may be later than it) */
	bool cands;		/* collect candidates */
	struct grant *g;
	size_t ng, gcap;
	struct cand *c;
	size_t nc, ccap;
	uint64_t mtime;		/* latest clock of applied updates that are not candidates */
};

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? 2 * *cap : 8;
	void *np = realloc(*p, ncap * size);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

static void scan_release(struct scan *s)
{
	for (size_t i = 0; i < s->ng; i++)
		free(s->g[i].list);
	for (size_t i = 0; i < s->nc; i++)
		free(s->c[i].path);
	free(s->g);
	free(s->c);
}

static bool is_field_op(uint8_t op)
{
	return op == DFS_OP_FIELD_SET || op == DFS_OP_FIELD_APPEND || op == DFS_OP_FIELD_DELETE;
}

/* Held for who signed it: a grant change may make it applicable. */
static bool rejudged(uint8_t held)
{
	return held == DFS_HELD_UNAUTHORIZED || held == DFS_HELD_REVOKED ||
	       held == DFS_HELD_PENDING;
}

static bool listed(const uint8_t *list, size_t len, const struct dfs_pubkey *k)
{
	for (size_t off = 0; off + DFS_PUBKEY_LEN <= len; off += DFS_PUBKEY_LEN)
		if (memcmp(list + off, k->b, DFS_PUBKEY_LEN) == 0)
			return true;
	return false;
}

static int add_grant(struct scan *s, uint64_t clock, const struct dfs_hash *h,
		     const uint8_t *list, size_t len)
{
	if (grow((void **)&s->g, &s->gcap, s->ng, sizeof(*s->g)) < 0)
		return -ENOMEM;
	struct grant *g = &s->g[s->ng];
	g->list = malloc(len ? len : 1);
	if (!g->list)
		return -ENOMEM;
	if (len)
		memcpy(g->list, list, len);
	g->len = len;
	g->clock = clock;
	g->hash = *h;
	s->ng++;
	return 0;
}

static int add_cand(struct scan *s, const struct dfs_update *u, const struct dfs_history_rec *e,
		    uint64_t seq, size_t len)
{
	if (grow((void **)&s->c, &s->ccap, s->nc, sizeof(*s->c)) < 0)
		return -ENOMEM;
	struct cand *c = &s->c[s->nc];
	c->path = malloc(u->name_len + 1);
	if (!c->path)
		return -ENOMEM;
	memcpy(c->path, u->name, u->name_len);
	c->path[u->name_len] = '\0';
	c->plen = u->name_len;
	c->hash = e->hash;
	c->seq = seq;
	c->clock = u->clock;
	c->signer = u->signer;
	c->op = u->op;
	c->held = c->now = e->held;
	c->text = NULL;
	c->vlen = u->value_len;
	c->sealed = u->flags & DFS_UPDATE_FLAG_SEALED;
	c->len = len;
	s->nc++;
	return 0;
}

/* Sorts one decoded history entry into s. */
static int take(struct scan *s, const struct dfs_update *u, const struct dfs_history_rec *e,
		uint64_t seq, size_t len)
{
	bool owner = memcmp(u->signer.b, s->entity->b, DFS_PUBKEY_LEN) == 0;

	if (s->cands && !owner && is_field_op(u->op) &&
	    clock_cmp(u->clock, &u->signer, s->since, s->entity) > 0)
		return add_cand(s, u, e, seq, len);
	if (e->held)
		return 0;
	if (u->clock > s->mtime)
		s->mtime = u->clock;
	if (owner && u->op == DFS_OP_OBJECT_META && u->name_len == 10 &&
	    memcmp(u->name, "authorized", 10) == 0)
		return add_grant(s, u->clock, &e->hash, u->value, u->value_len);
	return 0;
}

static int scan_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct scan *s = arg;
	struct dfs_history_rec e;
	struct dfs_update u;
	uint8_t *rec;
	size_t len;
	uint64_t seq = 0;

	if (klen != DFS_KEY_ENTITY_LEN + 8 || dfs_history_rec_decode(val, vlen, &e) < 0)
		return db_skip_corrupt(s->db, "history", key, klen);
	if (e.held ? !s->cands || !rejudged(e.held) : !s->applied)
		return 0;
	for (size_t i = DFS_KEY_ENTITY_LEN; i < klen; i++)
		seq = seq << 8 | key[i];
	int rc = db_get_update(s->db, &e.hash, &rec, &len);
	if (rc < 0)
		return rc == -ENOENT ? db_skip_corrupt(s->db, "history link", key, klen) : rc;
	if (dfs_update_decode(rec, len, &u) == 0)
		rc = take(s, &u, &e, seq, len);
	else
		rc = db_skip_corrupt(s->db, "update", key, klen);
	free(rec);
	return rc;
}

static int scan_history(struct scan *s)
{
	uint8_t prefix[DFS_KEY_ENTITY_LEN];

	dfs_key_history_prefix(prefix, s->entity);
	return dfs_store_scan(s->db->st, prefix, sizeof(prefix), scan_one, s);
}

static int grant_cmp(const void *x, const void *y)
{
	const struct grant *a = x, *b = y;

	if (a->clock != b->clock)
		return a->clock < b->clock ? -1 : 1;
	return memcmp(a->hash.b, b->hash.b, DFS_HASH_LEN);
}

/* The grant in force at (clock, signer): the latest stamped before it; NULL if none. */
static const struct grant *in_force(const struct scan *s, uint64_t clock,
				    const struct dfs_pubkey *signer)
{
	for (size_t i = s->ng; i-- > 0;)
		if (clock_cmp(s->g[i].clock, s->entity, clock, signer) < 0)
			return &s->g[i];
	return NULL;
}

bool db_authorized_at(struct dfs_db *db, const struct dfs_update *u)
{
	struct dfs_meta_rec m;
	struct dfs_buf key;
	uint8_t *raw = NULL;
	size_t rawlen;
	bool yes = false;

	if (memcmp(u->signer.b, u->entity.b, DFS_PUBKEY_LEN) == 0)
		return true;
	dfs_buf_init(&key);
	dfs_key_meta(&key, &u->entity, "authorized");
	int rc = dfs_buf_ok(&key);
	if (rc == 0)
		rc = dfs_store_get(db->st, key.data, key.len, &raw, &rawlen);
	if (rc == 0 && dfs_meta_rec_decode(raw, rawlen, &m) < 0)
		rc = db_corrupt(db, "metadata", key.data, key.len);
	dfs_buf_release(&key);
	if (rc == 0 && clock_cmp(m.clock, &m.signer, u->clock, &u->signer) < 0) {
		yes = listed(m.value, m.len, &u->signer);
	} else if (rc == 0) {
		/* Stamped before the list stored: the grants from the history decide. */
		struct scan s = { .db = db, .entity = &u->entity, .applied = true };
		if (scan_history(&s) == 0) {
			qsort(s.g, s.ng, sizeof(*s.g), grant_cmp);
			const struct grant *g = in_force(&s, u->clock, &u->signer);
			yes = g && listed(g->list, g->len, &u->signer);
		}
		scan_release(&s);
	}
	free(raw);
	return yes;
}

/*
 * Whether the dict a key lies in was made (live or deleted since: its
 * latest delete is merged in as a delete of the key, field.c); true for a
 * field that is no key.
 */
static bool dict_live(struct apply *a, const struct cand *c)
{
	const char *slash = memchr(c->path, '/', c->plen);
	struct dfs_field_rec d;

	return !slash || (db_get_field_any(a->db, &a->u->entity, c->path,
					   (size_t)(slash - c->path), &d) == 0 &&
			  d.kind == DFS_FIELD_DICT);
}

/*
 * What a held update now authorized becomes: applied, unless this node's
 * listeners want to judge it (they cannot run under the apply lock) or the
 * field's place is gone (its dict) or taken (a dict of its name).
 */
static uint8_t applicable(struct apply *a, struct cand *c)
{
	enum dfs_event ev = c->op == DFS_OP_FIELD_DELETE ? DFS_EVENT_DELETE : DFS_EVENT_UPDATE;
	struct dfs_field_rec f;

	if (c->held != DFS_HELD_REVOKED && db_wanted(a->db, ev, a->model))
		return DFS_HELD_PENDING;
	c->text = "a value over max_value here";
	if (c->vlen > a->db->max_value + (c->sealed ? DFS_VALUE_OVERHEAD : 0))
		return DFS_HELD_LIMIT;
	c->text = "its dict is gone";
	if (!dict_live(a, c))
		return DFS_HELD_RULE;
	c->text = "a dict has its name";
	if (db_get_field_any(a->db, &a->u->entity, c->path, c->plen, &f) == 0 &&
	    f.kind == DFS_FIELD_DICT && f.alive)
		return DFS_HELD_RULE;
	c->text = NULL;
	return 0;
}

static void judge_again(struct apply *a, struct scan *s, struct cand *c)
{
	const struct grant *g = in_force(s, c->clock, &c->signer);

	if (g && listed(g->list, g->len, &c->signer))
		c->now = c->held ? applicable(a, c) : 0;
	else if (!c->held)
		c->now = DFS_HELD_REVOKED;
	else if (c->held == DFS_HELD_PENDING)
		c->now = DFS_HELD_UNAUTHORIZED;
}

static int cand_cmp(const void *x, const void *y)
{
	return memcmp(((const struct cand *)x)->hash.b, ((const struct cand *)y)->hash.b,
		      DFS_HASH_LEN);
}

/* A re-merge takes the candidates as judged now, the rest as stored. */
static bool pick(const struct dfs_hash *h, bool applied, void *ctx)
{
	struct scan *s = ctx;
	struct cand key = { .hash = *h };
	const struct cand *c = bsearch(&key, s->c, s->nc, sizeof(*s->c), cand_cmp);

	return c ? c->now == 0 : applied;
}

static bool flips(const struct cand *c)
{
	return (c->held == 0) != (c->now == 0);
}

/* Writes path's record and value as its history now makes them. */
static int remerge(struct apply *a, struct scan *s, const struct cand *c)
{
	const struct dfs_pubkey *entity = &a->u->entity;
	struct dfs_field_rec f;
	uint8_t *v = NULL;
	size_t vlen = 0;

	/* A dict of its name stays: such a field update changed nothing. */
	int rc = db_get_field_any(a->db, entity, c->path, c->plen, &f);
	if (rc == 0 && f.kind == DFS_FIELD_DICT)
		return 0;
	if (rc < 0 && rc != -ENOENT)
		return rc;
	rc = db_remerge_path(a->db, entity, c->path, c->plen, pick, s, &f, &v, &vlen);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	bool gone = rc == -ENOENT;
	if (!gone && !dict_live(a, c)) {
		f.alive = false;	/* buried with its dict, as field.c does */
		f.size = 0;
	}
	dfs_buf_reset(&a->val);
	dfs_key_field(&a->key, entity, c->path, c->plen);
	rc = gone ? del_key(a->b, &a->key)
		  : put_rec(a->b, &a->key, &a->val, dfs_field_rec_encode(&f, &a->val));
	dfs_key_value(&a->key, entity, c->path, c->plen);
	if (rc == 0)
		rc = !gone && f.alive ? put_key(a->b, &a->key, v, vlen) : del_key(a->b, &a->key);
	free(v);
	return rc;
}

/* Rewrites a candidate's history entry, and its mark as held ('R'). */
static int rewrite_entry(struct apply *a, const struct cand *c)
{
	struct dfs_history_rec e = { c->hash, c->now, c->text ? c->text : "",
				     c->text ? strlen(c->text) : 0 };
	int rc;

	dfs_buf_reset(&a->val);
	dfs_key_history(&a->key, &a->u->entity, c->seq);
	rc = put_rec(a->b, &a->key, &a->val, dfs_history_rec_encode(&e, &a->val));
	dfs_key_rejected(&a->key, &c->hash);
	if (rc == 0 && flips(c))
		rc = c->now ? put_key(a->b, &a->key, "", 0) : del_key(a->b, &a->key);
	/* Held ones count in the quota of held updates (held.c). */
	if (rc == 0 && flips(c) && c->now)
		rc = db_held_index(a->db, &a->held_tx, a->b, &c->signer, &a->u->entity, &c->hash,
				   c->len, c->seq);
	else if (rc == 0 && flips(c))
		rc = db_held_unindex(a->db, &a->held_tx, a->b, c->seq);
	return rc;
}

/* Logs what a re-judgement changed: undoing or leaving pending is worth a warning. */
static void tell(struct apply *a, const struct scan *s)
{
	size_t undone = 0, applied = 0, pending = 0;
	char hex[17];

	for (size_t i = 0; i < s->nc; i++) {
		const struct cand *c = &s->c[i];
		undone += !c->held && c->now;
		applied += c->held && !c->now;
		pending += c->held != DFS_HELD_PENDING && c->now == DFS_HELD_PENDING;
	}
	if (!undone && !applied && !pending)
		return;
	dfs_hex_encode(hex, a->u->entity.b, 8);
	dfs_log(undone || pending ? DFS_LOG_WARNING : DFS_LOG_INFO,
		"a change of .authorized of %s/%s (%s) re-judged updates stamped after it: "
		"%zu undone, %zu applied, %zu pending for listeners",
		a->model, a->note->object[0] ? a->note->object : "?", hex, undone, applied,
		pending);
}

/* Judges every candidate again and writes what changes. */
static int settle(struct apply *a, struct scan *s, struct dfs_object_rec *o)
{
	uint64_t mtime = s->applied ? s->mtime : o->mtime;
	int rc = 0;

	qsort(s->g, s->ng, sizeof(*s->g), grant_cmp);
	qsort(s->c, s->nc, sizeof(*s->c), cand_cmp);
	for (size_t i = 0; i < s->nc; i++)
		judge_again(a, s, &s->c[i]);
	for (size_t i = 0; i < s->nc && rc == 0; i++) {
		const struct cand *c = &s->c[i];
		bool first = flips(c);
		for (size_t j = 0; j < i && first; j++)
			first = !flips(&s->c[j]) || strcmp(s->c[j].path, c->path) != 0;
		if (first)
			rc = remerge(a, s, c);
		if (rc == 0 && c->now != c->held)
			rc = rewrite_entry(a, c);
		if (c->now == 0 && c->clock > mtime)
			mtime = c->clock;
		/* Applied now: its clock counts, as an update applied on arrival's does. */
		if (c->held && c->now == 0) {
			dfs_hlc_observe(&a->db->hlc, c->clock);
			if (c->clock > a->db->max_clock)
				a->db->max_clock = c->clock;
		}
	}
	o->mtime = mtime;
	if (rc == 0)
		tell(a, s);
	return rc;
}

int db_rejudge(struct apply *a, struct dfs_object_rec *o)
{
	const struct dfs_update *u = a->u;
	/* Applied updates are read only where one may be later than the grant change. */
	struct scan s = { .db = a->db, .entity = &u->entity, .since = u->clock,
			  .applied = o->mtime >= u->clock, .cands = true };

	if (a->db->open_policy)
		return 0;	/* listeners judge: who signed holds nothing */
	int rc = scan_history(&s);
	if (rc == 0 && s.nc)
		rc = add_grant(&s, u->clock, &a->hash, u->value, u->value_len);
	if (rc == 0 && s.nc)
		rc = settle(a, &s, o);
	scan_release(&s);
	return rc;
}
