// SPDX-License-Identifier: MIT
/* field.c - field and dict rules: last writer wins, appends, re-merging, burying */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/util.h"
#include "internal.h"

/* Marks every field of a removed object dead, in the same batch. */
int db_bury_fields(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
		   void *arg)
{
	struct apply *a = arg;
	struct dfs_field_rec f;
	struct dfs_buf v;

	if (dfs_field_rec_decode(val, vlen, &f) < 0 || !f.alive)
		return 0;
	f.alive = false;
	f.size = 0;
	dfs_buf_init(&v);
	int rc = dfs_field_rec_encode(&f, &v);
	if (rc == 0)
		rc = dfs_batch_put(a->b, key, klen, v.data, v.len);
	dfs_buf_release(&v);
	if (rc == 0) {
		uint8_t vkey[DFS_KEY_ENTITY_LEN + DFS_UPDATE_NAME_MAX];
		if (klen > sizeof(vkey))
			return 0;
		memcpy(vkey, key, klen);
		dfs_key_field_to_value(vkey);
		rc = dfs_batch_del(a->b, vkey, klen);
	}
	return rc;
}

/*
 * Merging a field from its history, for an update that arrives after a
 * later one: the value is the latest set (or delete) followed by every
 * append made after it, in (clock, signer, hash) order. Every node holding
 * the same updates computes the same bytes.
 */
struct merge_item {
	uint64_t clock;
	struct dfs_pubkey signer;
	struct dfs_hash hash;
	uint8_t op;
	uint8_t flags;
	uint8_t *value;
	size_t len;
};

struct merge {
	struct dfs_db *db;
	const char *path;
	size_t plen;
	struct merge_item *items;
	size_t n, cap;
	db_merge_pick_fn pick;	/* which entries count; NULL: the applied ones */
	void *pick_ctx;
	bool has_horizon;	/* a key of a dict deleted at (h_clock, h_signer) */
	uint64_t h_clock;
	struct dfs_pubkey h_signer;
};

/*
 * A dict's record keeps its latest create or delete as (clock, signer),
 * live when that is a create, and its latest delete, the horizon, as
 * (base_clock, base_signer): a dict deleted at t deletes every key written
 * before t, whatever order the updates arrive in, so a key is merged as if
 * it had a delete at the horizon. Records of release 0.1.0 set the base
 * with every create too: a live one's base equal to its create is none.
 */
static bool dict_horizon(const struct dfs_field_rec *d, uint64_t *clock,
			 struct dfs_pubkey *signer)
{
	if (d->kind != DFS_FIELD_DICT || d->base_clock == 0)
		return false;
	if (d->alive && d->base_clock == d->clock &&
	    memcmp(d->base_signer.b, d->signer.b, DFS_PUBKEY_LEN) == 0)
		return false;
	*clock = d->base_clock;
	*signer = d->base_signer;
	return true;
}

/* The horizon of the dict path lies in, if it is a key: into m. */
static int merge_horizon(struct merge *m, const struct dfs_pubkey *entity)
{
	const char *slash = memchr(m->path, '/', m->plen);
	struct dfs_field_rec d;

	if (!slash)
		return 0;
	int rc = db_get_field_any(m->db, entity, m->path, (size_t)(slash - m->path), &d);
	if (rc == 0)
		m->has_horizon = dict_horizon(&d, &m->h_clock, &m->h_signer);
	return rc == -ENOENT ? 0 : rc;
}

static int merge_item_cmp(const void *x, const void *y)
{
	const struct merge_item *a = x, *b = y;
	int c = clock_cmp(a->clock, &a->signer, b->clock, &b->signer);

	return c ? c : memcmp(a->hash.b, b->hash.b, DFS_HASH_LEN);
}

static int merge_add(struct merge *m, const struct dfs_update *u, const struct dfs_hash *h)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 16;
		struct merge_item *p = realloc(m->items, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		m->items = p;
		m->cap = cap;
	}
	struct merge_item *it = &m->items[m->n];
	it->value = malloc(u->value_len + 1);
	if (!it->value)
		return -ENOMEM;
	if (u->value_len)
		memcpy(it->value, u->value, u->value_len);
	it->len = u->value_len;
	it->clock = u->clock;
	it->signer = u->signer;
	it->hash = *h;
	it->op = u->op;
	it->flags = u->flags;
	m->n++;
	return 0;
}

static int merge_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct merge *m = arg;
	struct dfs_update u;
	struct dfs_hash h;
	uint8_t *rec;
	size_t len;

	struct dfs_history_rec e;

	if (dfs_history_rec_decode(val, vlen, &e) < 0)
		return db_skip_corrupt(m->db, "history", key, klen);
	/* Held updates are not part of the value, unless a re-judgement takes them. */
	if (m->pick ? !m->pick(&e.hash, !e.held, m->pick_ctx) : e.held)
		return 0;
	h = e.hash;
	int rc = db_get_update(m->db, &h, &rec, &len);
	if (rc < 0)
		return rc == -ENOENT ? db_skip_corrupt(m->db, "history link", key, klen) : rc;
	if (dfs_update_decode_stored(rec, len, &u) == 0 &&
	    (u.op == DFS_OP_FIELD_SET || u.op == DFS_OP_FIELD_APPEND ||
	     u.op == DFS_OP_FIELD_DELETE) &&
	    u.name_len == m->plen && memcmp(u.name, m->path, m->plen) == 0)
		rc = merge_add(m, &u, &h);
	free(rec);
	return rc;
}

/*
 * Adds one update's bytes to a value being built: as they are, or as an
 * item where the value holds items.
 */
static int add_part(struct dfs_buf *out, bool items, uint8_t flags, const uint8_t *p, size_t len)
{
	if (items)
		return dfs_item_add(out, flags & DFS_UPDATE_FLAG_SEALED ? DFS_ITEM_SEALED
									: DFS_ITEM_CLEAR,
				    p, len);
	dfs_buf_add(out, p, len);
	return dfs_buf_ok(out);
}

static void merge_release(struct merge *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->items[i].value);
	free(m->items);
}

/* Builds f and the value from m's items, at least one, sorting them. */
static int merge_build(struct merge *m, struct dfs_field_rec *f, uint8_t **value, size_t *len)
{
	int rc = 0;

	if (m->has_horizon) {
		/* The dict's delete, as a delete of this key (its hash sorts first at a tie). */
		struct dfs_update del = { .op = DFS_OP_FIELD_DELETE, .clock = m->h_clock,
					  .signer = m->h_signer };
		rc = merge_add(m, &del, &zero_hash);
		if (rc < 0)
			return rc;
		m->has_horizon = false;
	}
	qsort(m->items, m->n, sizeof(*m->items), merge_item_cmp);
	size_t base = m->n;	/* the latest set or delete, if any */
	for (size_t i = m->n; i-- > 0;) {
		if (m->items[i].op != DFS_OP_FIELD_APPEND) {
			base = i;
			break;
		}
	}
	/* Where any part is sealed, every part is an item (records.h). */
	bool items = false;
	for (size_t i = base == m->n ? 0 : base; i < m->n; i++)
		if (m->items[i].op != DFS_OP_FIELD_DELETE)
			items |= (m->items[i].flags & DFS_UPDATE_FLAG_SEALED) != 0;
	struct dfs_buf nv;
	dfs_buf_init(&nv);
	for (size_t i = base == m->n ? 0 : base; i < m->n && rc == 0; i++)
		if (m->items[i].op != DFS_OP_FIELD_DELETE)
			rc = add_part(&nv, items, m->items[i].flags, m->items[i].value,
				      m->items[i].len);
	if (rc == 0)
		rc = dfs_buf_reserve(&nv, 1);
	if (rc < 0) {
		dfs_buf_release(&nv);
		return rc;
	}
	size_t off;
	uint8_t *out = dfs_buf_detach(&nv, &off);
	const struct merge_item *last = &m->items[m->n - 1];
	f->kind = DFS_FIELD_VALUE;
	f->alive = last->op != DFS_OP_FIELD_DELETE;
	f->flags = items && f->alive ? DFS_FIELD_FLAG_ITEMS : 0;
	f->clock = last->clock;
	f->signer = last->signer;
	if (base == m->n) {
		f->base_clock = 0;
		memset(f->base_signer.b, 0, DFS_PUBKEY_LEN);
	} else {
		f->base_clock = m->items[base].clock;
		f->base_signer = m->items[base].signer;
	}
	f->size = f->alive ? off : 0;
	*value = out;
	*len = off;
	return 0;
}

/* Rebuilds f and the value of a->name from the history plus a->u. */
static int remerge_field(struct apply *a, struct dfs_field_rec *f, uint8_t **value, size_t *len)
{
	struct merge m = { a->db, a->name, a->u->name_len, NULL, 0, 0, NULL, NULL, false, 0,
			   { { 0 } } };
	uint8_t prefix[DFS_KEY_ENTITY_LEN];

	dfs_key_history_prefix(prefix, &a->u->entity);
	int rc = merge_horizon(&m, &a->u->entity);
	if (rc == 0)
		rc = db_scan_written(a->db, prefix, sizeof(prefix), merge_one, &m);
	if (rc == 0)
		rc = merge_add(&m, a->u, &a->hash);
	if (rc == 0)
		rc = merge_build(&m, f, value, len);
	merge_release(&m);
	return rc;
}

int db_remerge_path(struct dfs_db *db, const struct dfs_pubkey *entity, const char *path,
		    size_t plen, db_merge_pick_fn pick, void *ctx, struct dfs_field_rec *f,
		    uint8_t **value, size_t *len)
{
	struct merge m = { db, path, plen, NULL, 0, 0, pick, ctx, false, 0, { { 0 } } };
	uint8_t prefix[DFS_KEY_ENTITY_LEN];

	dfs_key_history_prefix(prefix, entity);
	int rc = merge_horizon(&m, entity);
	if (rc == 0)
		rc = db_scan_written(db, prefix, sizeof(prefix), merge_one, &m);
	if (rc == 0)
		rc = m.n ? merge_build(&m, f, value, len) : -ENOENT;
	if (rc == 0)
		f->mtime = f->clock;	/* the latest update merged */
	merge_release(&m);
	return rc;
}

/* Marks every key of a dict dead, in the same batch. */
static int bury_dict(struct apply *a, const char *dict, size_t dlen)
{
	struct dfs_buf prefix;

	dfs_buf_init(&prefix);
	dfs_key_field(&prefix, &a->u->entity, dict, dlen);
	dfs_buf_add_u8(&prefix, '/');
	int rc = dfs_buf_ok(&prefix);
	if (rc == 0)
		rc = db_scan_written(a->db, prefix.data, prefix.len, db_bury_fields, a);
	dfs_buf_release(&prefix);
	return rc;
}

/*
 * The value after a->u: the stored one (old: NULL for none) followed by the
 * update's bytes, as items where items says so (a clear old value becomes
 * one item).
 */
static int append_value(struct apply *a, const struct dfs_field_rec *old, bool items,
			uint8_t **out, size_t *len)
{
	const struct dfs_update *u = a->u;
	struct dfs_field_rec f;
	struct dfs_buf nv;
	uint8_t *v = NULL;
	size_t vlen = 0;
	int rc = 0;

	if (old)
		rc = db_read_raw(a->db, &u->entity, a->name, &v, &vlen, &f);
	if (rc < 0)
		return rc;
	dfs_buf_init(&nv);
	if (old)
		rc = add_part(&nv, items && !(f.flags & DFS_FIELD_FLAG_ITEMS), 0, v, vlen);
	free(v);
	if (rc == 0)
		rc = add_part(&nv, items, u->flags, u->value, u->value_len);
	if (rc == 0)
		rc = dfs_buf_reserve(&nv, 1);
	if (rc < 0) {
		dfs_buf_release(&nv);
		return rc;
	}
	*out = dfs_buf_detach(&nv, len);
	return 0;
}

/*
 * Reads a->name's record into f (left as it was where there is none) and
 * checks the name may hold a field: the dict it lies in, if any, is live
 * (or, for a peer's update, was ever made: a key written after the dict's
 * delete shows if the dict is made again), and a dict under the name itself
 * gives way to a later field. Returns 1 when a->u is older than a live
 * dict there and changes nothing.
 */
static int field_current(struct apply *a, struct dfs_field_rec *f, bool *have, bool *corrupted)
{
	const struct dfs_update *u = a->u;
	const char *slash = memchr(a->name, '/', u->name_len);
	int rc = db_get_field_any(a->db, &u->entity, a->name, u->name_len, f);

	*have = rc == 0;
	/* A corrupt record (already reported) is replaced by a new value or a delete. */
	*corrupted = rc == -EIO && u->op != DFS_OP_FIELD_APPEND;
	if (*corrupted)
		rc = -ENOENT;
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (slash) {
		struct dfs_field_rec d;
		rc = db_get_field_any(a->db, &u->entity, a->name, (size_t)(slash - a->name), &d);
		if (rc == -ENOENT || (rc == 0 && !d.alive && (a->local || d.kind != DFS_FIELD_DICT)))
			return -ENOENT;
		if (rc < 0)
			return rc;
		if (d.kind != DFS_FIELD_DICT)
			return -ENOTDIR;
	}
	if (*have && f->kind == DFS_FIELD_DICT) {
		if (f->alive && a->local)
			return -EISDIR;
		/* A field and a dict made under one name on two nodes: the later wins. */
		if (f->alive && clock_cmp(u->clock, &u->signer, f->clock, &f->signer) < 0)
			return 1;
		if (f->alive && (rc = bury_dict(a, a->name, u->name_len)) < 0)
			return rc;
		*have = false;	/* a dead dict's name is free for a field */
		memset(f, 0, sizeof(*f));
	}
	return 0;
}

/*
 * A key whose value starts before its dict's latest delete: merged again
 * with that delete (merge_horizon()), so that the order updates arrive in
 * does not matter. Returns 1 when it was, 0 when it needs not.
 */
static int key_past_horizon(struct apply *a, struct dfs_field_rec *f, uint8_t **joined,
			    const uint8_t **value, size_t *value_len)
{
	const char *slash = memchr(a->name, '/', a->u->name_len);
	struct dfs_field_rec d;
	struct dfs_pubkey hs;
	uint64_t hc;

	if (!slash)
		return 0;
	int rc = db_get_field_any(a->db, &a->u->entity, a->name, (size_t)(slash - a->name), &d);
	if (rc < 0 || !dict_horizon(&d, &hc, &hs) ||
	    clock_cmp(f->base_clock, &f->base_signer, hc, &hs) >= 0)
		return rc < 0 ? rc : 0;
	free(*joined);
	*joined = NULL;
	rc = remerge_field(a, f, joined, value_len);
	if (rc < 0)
		return rc;
	*value = *joined;
	f->mtime = f->clock;
	return 1;
}

/*
 * Last writer wins, and appends follow the set they were made after;
 * a tie in (clock, signer) is settled by hash, from the history.
 * Sets f to the record after a->u and *value, *value_len to its bytes
 * (built in *joined where they are not a->u's own). Returns 1 when a->u
 * is superseded and changes nothing; a local change that would not be the
 * latest fails instead (-EAGAIN).
 */
static int field_merge(struct apply *a, struct dfs_field_rec *f, bool have, size_t limit,
		       uint8_t **joined, const uint8_t **value, size_t *value_len)
{
	const struct dfs_update *u = a->u;
	bool sealed = u->flags & DFS_UPDATE_FLAG_SEALED;
	int rc;

	if (have && clock_cmp(u->clock, &u->signer, f->clock, &f->signer) <= 0) {
		if (a->local)
			return db_local_loses(a, f->clock);
		if (u->op != DFS_OP_FIELD_APPEND &&
		    clock_cmp(u->clock, &u->signer, f->base_clock, &f->base_signer) < 0)
			return 1;	/* superseded: kept in the history only */
		rc = remerge_field(a, f, joined, value_len);
		if (rc < 0)
			return rc;
		*value = *joined;
		return 0;
	}
	bool items = sealed;
	if (u->op == DFS_OP_FIELD_APPEND && have && f->alive) {
		if (a->local && !sealed && !(f->flags & DFS_FIELD_FLAG_ITEMS) &&
		    f->size + *value_len > limit)
			return -EFBIG;
		items |= (f->flags & DFS_FIELD_FLAG_ITEMS) != 0;
		rc = append_value(a, f, items, joined, value_len);
		if (rc < 0)
			return rc;
		*value = *joined;
	} else if (items) {
		rc = append_value(a, NULL, true, joined, value_len);
		if (rc < 0)
			return rc;
		*value = *joined;
	}
	if (u->op != DFS_OP_FIELD_APPEND) {
		f->base_clock = u->clock;
		f->base_signer = u->signer;
	}
	f->kind = DFS_FIELD_VALUE;
	f->alive = u->op != DFS_OP_FIELD_DELETE;
	f->flags = items && f->alive ? DFS_FIELD_FLAG_ITEMS : 0;
	f->clock = u->clock;
	f->signer = u->signer;
	f->size = f->alive ? *value_len : 0;
	return 0;
}

int db_apply_field(struct apply *a)
{
	const struct dfs_update *u = a->u;
	struct dfs_field_rec f = { 0 };
	bool have, corrupted;
	uint8_t *joined = NULL;
	const uint8_t *value = u->value;
	size_t value_len = u->value_len;
	bool sealed = u->flags & DFS_UPDATE_FLAG_SEALED;
	/* A local write of an encrypted field was held to max_value in clear. */
	size_t limit = a->local && !sealed ? a->db->max_value : DFS_UPDATE_VALUE_MAX;
	int rc = field_current(a, &f, &have, &corrupted);

	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (value_len > limit)
		return -EFBIG;
	if (a->local && u->op == DFS_OP_FIELD_DELETE && !corrupted && (!have || !f.alive))
		return -ENOENT;
	bool was_alive = have && f.alive;

	rc = field_merge(a, &f, have, limit, &joined, &value, &value_len);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	rc = key_past_horizon(a, &f, &joined, &value, &value_len);
	if (rc < 0) {
		free(joined);
		return rc;
	}
	f.mtime = u->clock > f.mtime ? u->clock : f.mtime;
	a->note->ev.created = !was_alive && f.alive;
	dfs_buf_reset(&a->val);
	dfs_key_field(&a->key, &u->entity, a->name, u->name_len);
	rc = put_rec(a->b, &a->key, &a->val, dfs_field_rec_encode(&f, &a->val));
	dfs_key_value(&a->key, &u->entity, a->name, u->name_len);
	if (rc == 0 && f.alive)
		rc = put_key(a->b, &a->key, value, value_len);
	else if (rc == 0)
		rc = del_key(a->b, &a->key);
	free(joined);
	return rc;
}

struct dict_bury {
	struct apply *a;
	uint64_t h_clock;	/* the dict's horizon, after this delete */
	struct dfs_pubkey h_signer;
};

/* One key of a dict being deleted: merged again with the delete where it starts before it. */
static int bury_key(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct dict_bury *db = arg;
	struct apply *a = db->a;
	struct dfs_field_rec f;
	uint8_t *v = NULL;
	size_t len = 0;

	if (dfs_field_rec_decode(val, vlen, &f) < 0)
		return db_skip_corrupt(a->db, "field", key, klen);
	if (klen <= DFS_KEY_ENTITY_LEN ||
	    clock_cmp(f.base_clock, &f.base_signer, db->h_clock, &db->h_signer) >= 0)
		return 0;
	struct merge m = { a->db, (const char *)key + DFS_KEY_ENTITY_LEN, klen - DFS_KEY_ENTITY_LEN,
			   NULL, 0, 0, NULL, NULL, true, db->h_clock, db->h_signer };
	uint8_t prefix[DFS_KEY_ENTITY_LEN];
	dfs_key_history_prefix(prefix, &a->u->entity);
	int rc = db_scan_written(a->db, prefix, sizeof(prefix), merge_one, &m);
	if (rc == 0)
		rc = merge_build(&m, &f, &v, &len);
	merge_release(&m);
	if (rc < 0)
		return rc;
	f.mtime = f.clock;
	uint8_t vkey[DFS_KEY_ENTITY_LEN + DFS_UPDATE_NAME_MAX];
	dfs_buf_reset(&a->val);
	rc = dfs_field_rec_encode(&f, &a->val);
	if (rc == 0)
		rc = dfs_batch_put(a->b, key, klen, a->val.data, a->val.len);
	if (rc == 0 && klen <= sizeof(vkey)) {
		memcpy(vkey, key, klen);
		dfs_key_field_to_value(vkey);
		rc = f.alive ? dfs_batch_put(a->b, vkey, klen, v, len) : dfs_batch_del(a->b, vkey, klen);
	}
	free(v);
	return rc;
}

/*
 * A dict's delete: the dict's latest delete (its horizon) moves up to it,
 * and every key that starts before it is merged again with it.
 */
static int delete_keys(struct apply *a, struct dfs_field_rec *f)
{
	struct dict_bury db = { a, a->u->clock, a->u->signer };
	uint64_t hc;
	struct dfs_pubkey hs;
	struct dfs_buf prefix;

	if (dict_horizon(f, &hc, &hs) && clock_cmp(hc, &hs, db.h_clock, &db.h_signer) > 0) {
		db.h_clock = hc;
		db.h_signer = hs;
	}
	dfs_buf_init(&prefix);
	dfs_key_field(&prefix, &a->u->entity, a->name, a->u->name_len);
	dfs_buf_add_u8(&prefix, '/');
	int rc = dfs_buf_ok(&prefix);
	if (rc == 0)
		rc = db_scan_written(a->db, prefix.data, prefix.len, bury_key, &db);
	dfs_buf_release(&prefix);
	f->base_clock = db.h_clock;
	f->base_signer = db.h_signer;
	return rc;
}

/*
 * A dict's create or delete. Its creates and deletes are one
 * last-writer-wins register by (clock, signer), a create winning a tie;
 * a delete also deletes the keys written before it (delete_keys()).
 */
int db_apply_dict(struct apply *a)
{
	const struct dfs_update *u = a->u;
	struct dfs_field_rec f = { 0 };
	int rc = db_get_field_any(a->db, &u->entity, a->name, u->name_len, &f);
	bool have = rc == 0;
	bool create = u->op == DFS_OP_DICT_CREATE;

	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (have && f.alive && f.kind != DFS_FIELD_DICT) {
		if (!create)
			return -ENOTDIR;
		if (a->local)
			return -EEXIST;
		/* A field and a dict made under one name on two nodes: the later wins. */
		if (clock_cmp(u->clock, &u->signer, f.clock, &f.signer) < 0)
			return 0;
		dfs_key_value(&a->key, &u->entity, a->name, u->name_len);
		if ((rc = del_key(a->b, &a->key)) < 0)
			return rc;
		memset(&f, 0, sizeof(f));
		have = false;
	}
	if (have && f.kind != DFS_FIELD_DICT)
		have = false;	/* a deleted field's name is free for a dict */
	if (a->local && create && have && f.alive)
		return -EEXIST;
	if (!create && (!have || (a->local && !f.alive)))
		return -ENOENT;
	if (!create && a->local) {
		/* Locally only an empty dict goes: rm -r deletes its keys first. */
		dfs_key_field(&a->key, &u->entity, a->name, u->name_len);
		dfs_buf_add_u8(&a->key, '/');
		rc = db_has_live_children(a->db, a->key.data, a->key.len, 'F');
		if (rc)
			return rc < 0 ? rc : -ENOTEMPTY;
	}
	uint64_t hc = 0;
	struct dfs_pubkey hs = { { 0 } };
	bool had = have && dict_horizon(&f, &hc, &hs);
	int cmp = have ? clock_cmp(u->clock, &u->signer, f.clock, &f.signer) : 1;
	if (!create && (rc = delete_keys(a, &f)) < 0)
		return rc;
	if (create && !had) {
		f.base_clock = 0;	/* no delete yet (a record of 0.1.0 said its create) */
		memset(f.base_signer.b, 0, DFS_PUBKEY_LEN);
	}
	if (cmp > 0 || (cmp == 0 && create)) {
		f.clock = u->clock;
		f.signer = u->signer;
		f.alive = create;
	}
	f.kind = DFS_FIELD_DICT;
	f.flags = 0;
	f.mtime = have && f.mtime > u->clock ? f.mtime : u->clock;
	f.size = 0;
	dfs_buf_reset(&a->val);
	dfs_key_field(&a->key, &u->entity, a->name, u->name_len);
	return put_rec(a->b, &a->key, &a->val, dfs_field_rec_encode(&f, &a->val));
}
