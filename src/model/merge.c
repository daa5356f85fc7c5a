// SPDX-License-Identifier: MIT
/*
 * merge.c - a field merged again from its history, in bounded memory
 *
 * Where an update arrives after a later one of its field (or a change of
 * .authorized, or a dict's delete, changes which updates count), the
 * field's value is built again from its history: the latest set or delete
 * (the base), followed by every append made after it, in (clock, signer,
 * hash) order. Every node holding the same updates computes the same
 * bytes.
 *
 * Only what the value can hold is kept in memory. A first pass over the
 * entity's history finds the base and the latest update, reading one
 * update at a time; a second keeps the base's value and the appends after
 * it, as many as fit in this node's max_value (clear bytes) and
 * DB_VALUE_PARTS_MAX parts, the earliest first: where more would not fit,
 * the latest are left out and the merge says it cut the value. Appends are
 * kept in a heap ordered latest first, so leaving out the latest costs
 * log n, and one later than one left out is never read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/log.h"
#include "dinemicfs/seal.h"
#include "dinemicfs/util.h"
#include "internal.h"

bool db_dict_horizon(const struct dfs_field_rec *d, uint64_t *clock, struct dfs_pubkey *signer)
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

struct merge_item {
	uint64_t clock;
	struct dfs_pubkey signer;
	struct dfs_hash hash;
	uint8_t op;
	uint8_t flags;
	uint8_t *value;		/* malloc'ed; kept in the second pass only */
	size_t len;
};

struct merge {
	struct dfs_db *db;
	const struct db_merge_args *in;
	bool has_horizon;	/* a key of a dict deleted at (h_clock, h_signer) */
	uint64_t h_clock;
	struct dfs_pubkey h_signer;
	int pass;		/* 1: the base and the latest; 2: the value */
	size_t seen;		/* updates of the path */
	bool has_base, has_last;
	struct merge_item base;	/* the latest set or delete (its value in pass 2) */
	struct merge_item last;	/* the latest update of all */
	struct merge_item *heap;	/* appends after the base, latest on top */
	size_t n, cap;
	uint64_t clear;		/* clear bytes of the base's value and the heap */
	bool cut;		/* an append was left out; cut_at is the earliest */
	struct merge_item cut_at;
};

static int item_cmp(const struct merge_item *a, const struct merge_item *b)
{
	int c = clock_cmp(a->clock, &a->signer, b->clock, &b->signer);

	return c ? c : memcmp(a->hash.b, b->hash.b, DFS_HASH_LEN);
}

static int item_qsort(const void *x, const void *y)
{
	return item_cmp(x, y);
}

/* What a part counts for against max_value: its clear bytes. */
static uint64_t clear_of(const struct merge_item *it)
{
	if (!(it->flags & DFS_UPDATE_FLAG_SEALED))
		return it->len;
	return it->len > DFS_VALUE_OVERHEAD ? it->len - DFS_VALUE_OVERHEAD : 0;
}

static bool fits(const struct merge *m)
{
	size_t parts = m->n + (m->has_base && m->base.op == DFS_OP_FIELD_SET);

	return m->clear <= m->db->max_value && parts <= DB_VALUE_PARTS_MAX;
}

static void heap_swap(struct merge_item *h, size_t i, size_t j)
{
	struct merge_item t = h[i];

	h[i] = h[j];
	h[j] = t;
}

static void heap_up(struct merge_item *h, size_t i)
{
	while (i > 0 && item_cmp(&h[(i - 1) / 2], &h[i]) < 0) {
		heap_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct merge_item *h, size_t n, size_t i)
{
	for (;;) {
		size_t top = i, l = 2 * i + 1, r = l + 1;
		if (l < n && item_cmp(&h[l], &h[top]) > 0)
			top = l;
		if (r < n && item_cmp(&h[r], &h[top]) > 0)
			top = r;
		if (top == i)
			return;
		heap_swap(h, i, top);
		i = top;
	}
}

/* Leaves out the latest append kept. */
static void heap_pop(struct merge *m)
{
	struct merge_item *h = m->heap;

	m->clear -= clear_of(&h[0]);
	free(h[0].value);
	h[0].value = NULL;
	m->cut_at = h[0];
	m->cut = true;
	h[0] = h[--m->n];
	heap_down(h, m->n, 0);
}

/* Keeps an append after the base, its value copied, then leaves out the latest while too much. */
static int keep(struct merge *m, const struct merge_item *it, const uint8_t *value)
{
	if (m->cut && item_cmp(it, &m->cut_at) > 0)
		return 0;	/* later than one left out: left out too */
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 16;
		struct merge_item *p = realloc(m->heap, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		m->heap = p;
		m->cap = cap;
	}
	struct merge_item *h = &m->heap[m->n];
	*h = *it;
	h->value = malloc(it->len + 1);
	if (!h->value)
		return -ENOMEM;
	if (it->len)
		memcpy(h->value, value, it->len);
	m->clear += clear_of(it);
	heap_up(m->heap, m->n++);
	while (m->n && !fits(m))
		heap_pop(m);
	return 0;
}

/* One update of the path (value: its bytes), in either pass. */
static int take(struct merge *m, const struct merge_item *it, const uint8_t *value)
{
	if (m->pass == 1) {
		m->seen++;
		if (!m->has_last || item_cmp(it, &m->last) > 0)
			m->last = *it;
		m->has_last = true;
		if (it->op != DFS_OP_FIELD_APPEND && (!m->has_base || item_cmp(it, &m->base) > 0))
			m->base = *it;
		m->has_base |= it->op != DFS_OP_FIELD_APPEND;
		return 0;
	}
	if (it->op != DFS_OP_FIELD_APPEND) {
		if (it->op == DFS_OP_FIELD_SET && item_cmp(it, &m->base) == 0 && !m->base.value) {
			m->base.value = malloc(it->len + 1);
			if (!m->base.value)
				return -ENOMEM;
			if (it->len)
				memcpy(m->base.value, value, it->len);
			m->clear += clear_of(it);
			while (m->n && !fits(m))
				heap_pop(m);
		}
		return 0;
	}
	if (m->has_base && item_cmp(it, &m->base) < 0)
		return 0;
	return keep(m, it, value);
}

static int take_update(struct merge *m, const struct dfs_update *u, const struct dfs_hash *h)
{
	struct merge_item it = { u->clock, u->signer, *h, u->op, u->flags, NULL, u->value_len };

	return take(m, &it, u->value);
}

/* The horizon of the dict the path lies in, if it is a key: into m. */
static int merge_horizon(struct merge *m)
{
	const char *slash = memchr(m->in->path, '/', m->in->plen);
	struct dfs_field_rec d;

	if (m->in->has_horizon) {
		m->has_horizon = true;
		m->h_clock = m->in->h_clock;
		m->h_signer = m->in->h_signer;
		return 0;
	}
	if (!slash)
		return 0;
	int rc = db_get_field_any(m->db, m->in->entity, m->in->path,
				  (size_t)(slash - m->in->path), &d);
	if (rc == 0)
		m->has_horizon = db_dict_horizon(&d, &m->h_clock, &m->h_signer);
	return rc == -ENOENT ? 0 : rc;
}

static int merge_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct merge *m = arg;
	const struct db_merge_args *in = m->in;
	struct dfs_history_rec e;
	struct dfs_update u;
	uint8_t *rec;
	size_t len;

	if (dfs_history_rec_decode(val, vlen, &e) < 0)
		return m->pass == 1 ? db_skip_corrupt(m->db, "history", key, klen) : 0;
	/* Held updates are not part of the value, unless a re-judgement takes them. */
	if (in->pick ? !in->pick(&e.hash, !e.held, in->ctx) : e.held)
		return 0;
	int rc = db_get_update(m->db, &e.hash, &rec, &len);
	if (rc < 0)
		return rc != -ENOENT ? rc
		       : m->pass == 1 ? db_skip_corrupt(m->db, "history link", key, klen) : 0;
	if (dfs_update_decode_stored(rec, len, &u) == 0 &&
	    (u.op == DFS_OP_FIELD_SET || u.op == DFS_OP_FIELD_APPEND ||
	     u.op == DFS_OP_FIELD_DELETE) &&
	    u.name_len == in->plen && memcmp(u.name, in->path, in->plen) == 0)
		rc = take_update(m, &u, &e.hash);
	free(rec);
	return rc;
}

/* One pass: the history, the update not stored yet, the dict's delete. */
static int merge_pass(struct merge *m, int pass)
{
	uint8_t prefix[DFS_KEY_ENTITY_LEN];
	int rc;

	m->pass = pass;
	dfs_key_history_prefix(prefix, m->in->entity);
	rc = dfs_store_scan(m->db->st, prefix, sizeof(prefix), merge_one, m);
	if (rc == 0 && m->in->extra)
		rc = take_update(m, m->in->extra, m->in->extra_hash);
	if (rc == 0 && m->has_horizon) {
		/* The dict's delete, as a delete of this key (its hash sorts first at a tie). */
		struct merge_item del = { .op = DFS_OP_FIELD_DELETE, .clock = m->h_clock,
					  .signer = m->h_signer };
		size_t seen = m->seen;	/* not an update of the path */
		rc = take(m, &del, NULL);
		m->seen = seen;
	}
	return rc;
}

/*
 * Adds one update's bytes to a value being built: as they are, or as an
 * item where the value holds items.
 */
int db_add_part(struct dfs_buf *out, bool items, uint8_t flags, const uint8_t *p, size_t len)
{
	if (items)
		return dfs_item_add(out, flags & DFS_UPDATE_FLAG_SEALED ? DFS_ITEM_SEALED
									: DFS_ITEM_CLEAR,
				    p, len);
	dfs_buf_add(out, p, len);
	return dfs_buf_ok(out);
}

/* Builds f and the value: the base's, then the appends kept, in order. */
static int merge_build(struct merge *m, struct dfs_field_rec *f, uint8_t **value, size_t *len)
{
	bool set = m->has_base && m->base.op == DFS_OP_FIELD_SET;
	int rc = 0;

	if (m->n)	/* no appends kept: there may be no array at all */
		qsort(m->heap, m->n, sizeof(*m->heap), item_qsort);
	/* Where any part is sealed, every part is an item (records.h). */
	bool items = set && (m->base.flags & DFS_UPDATE_FLAG_SEALED);
	for (size_t i = 0; i < m->n; i++)
		items |= (m->heap[i].flags & DFS_UPDATE_FLAG_SEALED) != 0;
	struct dfs_buf nv;
	dfs_buf_init(&nv);
	if (set)
		rc = db_add_part(&nv, items, m->base.flags, m->base.value, m->base.len);
	for (size_t i = 0; i < m->n && rc == 0; i++)
		rc = db_add_part(&nv, items, m->heap[i].flags, m->heap[i].value, m->heap[i].len);
	if (rc == 0)
		rc = dfs_buf_reserve(&nv, 1);
	if (rc < 0) {
		dfs_buf_release(&nv);
		return rc;
	}
	size_t off;
	uint8_t *out = dfs_buf_detach(&nv, &off);
	f->kind = DFS_FIELD_VALUE;
	f->alive = m->last.op != DFS_OP_FIELD_DELETE;
	f->flags = items && f->alive ? DFS_FIELD_FLAG_ITEMS : 0;
	f->clock = m->last.clock;
	f->signer = m->last.signer;
	f->base_clock = m->has_base ? m->base.clock : 0;
	if (m->has_base)
		f->base_signer = m->base.signer;
	else
		memset(f->base_signer.b, 0, DFS_PUBKEY_LEN);
	f->size = f->alive ? off : 0;
	*value = out;
	*len = off;
	return 0;
}

int db_merge(struct dfs_db *db, const struct db_merge_args *in, struct dfs_field_rec *f,
	     uint8_t **value, size_t *len, bool *cut)
{
	struct merge m = { .db = db, .in = in };
	int rc = merge_horizon(&m);

	if (rc == 0)
		rc = merge_pass(&m, 1);
	if (rc == 0 && !m.seen)
		rc = -ENOENT;
	m.base.value = NULL;
	if (rc == 0)
		rc = merge_pass(&m, 2);
	if (rc == 0)
		rc = merge_build(&m, f, value, len);
	if (rc == 0)
		*cut = m.cut;
	for (size_t i = 0; i < m.n; i++)
		free(m.heap[i].value);
	free(m.heap);
	free(m.base.value);
	return rc;
}

int db_remerge_path(struct dfs_db *db, const struct dfs_pubkey *entity, const char *path,
		    size_t plen, db_merge_pick_fn pick, void *ctx, struct dfs_field_rec *f,
		    uint8_t **value, size_t *len)
{
	struct db_merge_args in = { .entity = entity, .path = path, .plen = plen, .pick = pick,
				    .ctx = ctx };
	bool cut = false;
	int rc = db_merge(db, &in, f, value, len, &cut);

	if (rc == 0)
		f->mtime = f->clock;	/* the latest update merged */
	if (rc == 0 && cut)
		db_merge_cut(db, entity, path, plen);
	return rc;
}

void db_merge_cut(struct dfs_db *db, const struct dfs_pubkey *entity, const char *path,
		  size_t plen)
{
	struct dfs_object_rec o;
	char hex[17];

	dfs_hex_encode(hex, entity->b, 8);
	bool shown = dfs_db_get_object_by_key(db, entity, &o) == 0;
	dfs_log(DFS_LOG_WARNING, "field %s/%s%s%s/%.*s merged again from its history: its "
		"latest appends do not fit in max_value (%zu bytes) and are left out of its value",
		shown ? o.model : "?", shown ? o.shown : "(", shown ? "" : hex, shown ? "" : ")",
		(int)plen, path, db->max_value);
}
