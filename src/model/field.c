// SPDX-License-Identifier: MIT
/* field.c - field and dict rules: last writer wins, appends within max_value, burying */
#include <errno.h>
#include <stdio.h>
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

/* Holds a remote update past max_value (-EFBIG), saying why in a->why. */
static int too_large(struct apply *a, const char *what, uint64_t n)
{
	snprintf(a->why, sizeof(a->why), "%s %llu bytes, over max_value (%zu here)", what,
		 (unsigned long long)n, a->db->max_value);
	return -EFBIG;
}

/*
 * Rebuilds f and the value of a->name from the history plus a->u, within
 * max_value: where the value would not fit, a->u is held.
 */
static int remerge_field(struct apply *a, struct dfs_field_rec *f, uint8_t **value, size_t *len)
{
	struct db_merge_args in = { .entity = &a->u->entity, .path = a->name,
				    .plen = a->u->name_len, .extra = a->u, .extra_hash = &a->hash };
	bool cut = false;
	int rc = db_merge(a->db, &in, f, value, len, &cut);

	if (rc == 0 && cut) {
		free(*value);
		*value = NULL;
		snprintf(a->why, sizeof(a->why), "the value merged again with it would pass "
			 "max_value (%zu here)", a->db->max_value);
		rc = -EFBIG;
	}
	return rc;
}

/*
 * A value of items (records.h) is held to max_value in clear bytes, and to
 * DB_VALUE_PARTS_MAX items; a plain one to max_value.
 */
static int value_fits(struct apply *a, const struct dfs_field_rec *f, const uint8_t *v,
		      size_t len)
{
	struct dfs_item it;
	uint64_t clear = 0, parts = 0;
	size_t off = 0;

	if (!f->alive)
		return 0;
	if (!(f->flags & DFS_FIELD_FLAG_ITEMS))
		return len > a->db->max_value ? too_large(a, "the value would be", len) : 0;
	while (dfs_item_next(v, len, &off, &it) == 1) {
		parts++;
		if (it.kind == DFS_ITEM_CLEAR)
			clear += it.len;
		else if (it.len > DFS_VALUE_OVERHEAD)
			clear += it.len - DFS_VALUE_OVERHEAD;
	}
	if (clear > a->db->max_value)
		return too_large(a, "the value would be, in clear,", clear);
	if (parts > DB_VALUE_PARTS_MAX)
		return too_large(a, "the value would hold more parts than 65536, in", len);
	return 0;
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
		rc = dfs_store_scan(a->db->st, prefix.data, prefix.len, db_bury_fields, a);
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
		rc = db_add_part(&nv, items && !(f.flags & DFS_FIELD_FLAG_ITEMS), 0, v, vlen);
	free(v);
	if (rc == 0)
		rc = db_add_part(&nv, items, u->flags, u->value, u->value_len);
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
	if (rc < 0 || !db_dict_horizon(&d, &hc, &hs) ||
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
static int field_merge(struct apply *a, struct dfs_field_rec *f, bool have, uint8_t **joined,
		       const uint8_t **value, size_t *value_len)
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
		if (!sealed && !(f->flags & DFS_FIELD_FLAG_ITEMS) &&
		    f->size + *value_len > a->db->max_value)
			return too_large(a, "the value would be", f->size + *value_len);
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
	/* This node's max_value, for everyone's values: a sealed one is that much larger. */
	size_t limit = a->db->max_value + (sealed ? DFS_VALUE_OVERHEAD : 0);
	int rc = field_current(a, &f, &have, &corrupted);

	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (value_len > limit)
		return too_large(a, "a value of", value_len);
	if (a->local && u->op == DFS_OP_FIELD_DELETE && !corrupted && (!have || !f.alive))
		return -ENOENT;
	bool was_alive = have && f.alive;

	rc = field_merge(a, &f, have, &joined, &value, &value_len);
	if (rc != 0) {
		free(joined);
		return rc < 0 ? rc : 0;
	}
	rc = key_past_horizon(a, &f, &joined, &value, &value_len);
	if (rc >= 0)
		rc = value_fits(a, &f, value, value_len);
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
	struct db_merge_args in = { .entity = &a->u->entity,
				    .path = (const char *)key + DFS_KEY_ENTITY_LEN,
				    .plen = klen - DFS_KEY_ENTITY_LEN, .has_horizon = true,
				    .h_clock = db->h_clock, .h_signer = db->h_signer };
	bool cut = false;
	int rc = db_merge(a->db, &in, &f, &v, &len, &cut);
	if (rc < 0)
		return rc;
	if (cut)
		db_merge_cut(a->db, in.entity, in.path, in.plen);
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

	if (db_dict_horizon(f, &hc, &hs) && clock_cmp(hc, &hs, db.h_clock, &db.h_signer) > 0) {
		db.h_clock = hc;
		db.h_signer = hs;
	}
	dfs_buf_init(&prefix);
	dfs_key_field(&prefix, &a->u->entity, a->name, a->u->name_len);
	dfs_buf_add_u8(&prefix, '/');
	int rc = dfs_buf_ok(&prefix);
	if (rc == 0)
		rc = dfs_store_scan(a->db->st, prefix.data, prefix.len, bury_key, &db);
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
	bool had = have && db_dict_horizon(&f, &hc, &hs);
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
