// SPDX-License-Identifier: MIT
/* query.c - reads: field values and their stat, listings, .history, authorization */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

/*
 * The field record and the value are two keys: a write may land between
 * reading one and the other. A value whose length disagrees with its record
 * is read again; it is corrupt only if the record did not change meanwhile.
 */
int db_read_raw(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		uint8_t **val, size_t *len, struct dfs_field_rec *out)
{
	struct dfs_field_rec f, again;
	struct dfs_buf key;
	int rc = 0;

	dfs_buf_init(&key);
	dfs_key_value(&key, obj, path, strlen(path));
	for (int attempt = 0; attempt < 8; attempt++) {
		rc = dfs_db_get_field(db, obj, path, &f);
		if (rc < 0)
			break;
		if (f.kind != DFS_FIELD_VALUE) {
			rc = -EISDIR;
			break;
		}
		rc = dfs_buf_ok(&key);
		if (rc == 0)
			rc = dfs_store_get(db->st, key.data, key.len, val, len);
		if (rc < 0 && rc != -ENOENT)
			break;
		if (rc == 0 && *len == f.size)
			break;
		if (rc == 0)
			free(*val);
		int again_rc = dfs_db_get_field(db, obj, path, &again);
		if (again_rc == 0 && (again.clock != f.clock || again.size != f.size)) {
			rc = -EAGAIN; /* changed under us: read again */
			continue;
		}
		if (again_rc == -ENOENT) {
			rc = -ENOENT;
			break;
		}
		rc = db_corrupt(db, "value", key.data, key.len);
		break;
	}
	dfs_buf_release(&key);
	if (rc == 0)
		*out = f;
	return rc;
}

/* An encrypted value, opened: -EACCES where this node reads none of its keys. */
static int open_value(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		      uint8_t **val, size_t *len)
{
	struct dfs_buf clear;

	dfs_buf_init(&clear);
	int rc = dfs_buf_make_secret(&clear);
	if (rc == 0)
		rc = dfs_sealed_open_items(db, obj, path, *val, *len, &clear);
	if (rc == -EIO) {
		dfs_log(DFS_LOG_ERR, "store: malformed encrypted value of %s", path);
		atomic_fetch_add(&db->corrupt, 1);
	}
	if (rc == 0)
		rc = dfs_buf_reserve(&clear, 1);
	free(*val);
	*val = NULL;
	if (rc < 0) {
		dfs_buf_release(&clear);
		return rc;
	}
	*val = dfs_buf_detach(&clear, len);
	return 0;
}

int dfs_db_read_field(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		      uint8_t **val, size_t *len)
{
	struct dfs_field_rec f;
	int rc = db_read_raw(db, obj, path, val, len, &f);

	if (rc == 0 && (f.flags & DFS_FIELD_FLAG_ITEMS))
		rc = open_value(db, obj, path, val, len);
	return rc;
}

int dfs_db_stat_field(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		      struct dfs_field_rec *out, uint64_t *size, bool *readable)
{
	uint8_t *raw;
	size_t len;
	int rc = dfs_db_get_field(db, obj, path, out);

	*size = rc == 0 ? out->size : 0;
	*readable = true;
	if (rc < 0 || !(out->flags & DFS_FIELD_FLAG_ITEMS))
		return rc;
	rc = db_read_raw(db, obj, path, &raw, &len, out);
	if (rc == 0) {
		rc = dfs_sealed_stat_items(db, obj, raw, len, size, readable);
		free(raw);
	}
	return rc;
}

struct list_ctx {
	struct dfs_db *db;
	dfs_db_name_fn fn;
	void *ctx;
	size_t skip;		/* key prefix length */
	int kind;		/* 'M', 'N' or 'F' */
	bool in_dict;
};

static int list_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct list_ctx *lc = arg;
	char name[DFS_NAME_MAX + 1];
	size_t n = klen - lc->skip;
	const char *p = (const char *)key + lc->skip;

	if (n == 0 || n > DFS_NAME_MAX || memchr(p, '\0', n) || memchr(p, '/', n)) {
		/* F keys of dict entries contain '/': not ours when listing an object. */
		if (lc->kind == 'F' && !lc->in_dict && n > 0 && memchr(p, '/', n))
			return 0;
		return db_skip_corrupt(lc->db, "index", key, klen);
	}
	memcpy(name, p, n);
	name[n] = '\0';
	if (lc->kind == 'M') {
		struct dfs_model_rec m;
		if (dfs_model_rec_decode(val, vlen, &m) < 0)
			return db_skip_corrupt(lc->db, "model", key, klen);
		if (!dfs_model_shown(&m))
			return 0;
	} else if (lc->kind == 'F') {
		struct dfs_field_rec f;
		if (dfs_field_rec_decode(val, vlen, &f) < 0)
			return db_skip_corrupt(lc->db, "field", key, klen);
		if (!f.alive)
			return 0;
	}
	return lc->fn(name, lc->ctx);
}

int dfs_db_list_models(struct dfs_db *db, dfs_db_name_fn fn, void *ctx)
{
	uint8_t prefix[DFS_KEY_TAG_LEN];
	struct list_ctx lc = { db, fn, ctx, sizeof(prefix), 'M', false };

	dfs_key_models_prefix(prefix);
	return dfs_store_scan(db->st, prefix, sizeof(prefix), list_one, &lc);
}

int dfs_db_list_objects(struct dfs_db *db, const char *model, dfs_db_name_fn fn, void *ctx)
{
	struct dfs_buf prefix;

	dfs_buf_init(&prefix);
	dfs_key_name(&prefix, model, "");
	struct list_ctx lc = { db, fn, ctx, prefix.len, 'N', false };
	int rc = dfs_buf_ok(&prefix);
	if (rc == 0)
		rc = dfs_store_scan(db->st, prefix.data, prefix.len, list_one, &lc);
	dfs_buf_release(&prefix);
	return rc;
}

int dfs_db_list_fields(struct dfs_db *db, const struct dfs_pubkey *obj, const char *dict,
		       dfs_db_name_fn fn, void *ctx)
{
	struct dfs_buf prefix;

	dfs_buf_init(&prefix);
	dfs_key_field(&prefix, obj, "", 0);
	if (dict) {
		dfs_buf_add(&prefix, dict, strlen(dict));
		dfs_buf_add_u8(&prefix, '/');
	}
	struct list_ctx lc = { db, fn, ctx, prefix.len, 'F', dict != NULL };
	int rc = dfs_buf_ok(&prefix);
	if (rc == 0)
		rc = dfs_store_scan(db->st, prefix.data, prefix.len, list_one, &lc);
	dfs_buf_release(&prefix);
	return rc;
}

struct history_ctx {
	struct dfs_db *db;
	dfs_db_history_fn fn;
	void *ctx;
	struct dfs_hash prev;
};

/*
 * A line links to the one before it, or, where nodes wrote concurrently
 * and the chain forked, to an earlier update of the same entity.
 */
static bool prev_ok(struct history_ctx *hc, const struct dfs_update *u)
{
	struct dfs_update p;
	uint8_t *rec;
	size_t len;

	if (memcmp(u->prev.b, hc->prev.b, DFS_HASH_LEN) == 0)
		return true;
	if (memcmp(u->prev.b, zero_hash.b, DFS_HASH_LEN) == 0)
		return u->op == DFS_OP_MODEL_CREATE;
	/* A held update a person dropped here: the link cannot be followed, nor is it broken. */
	if (db_get_update(hc->db, &u->prev, &rec, &len) < 0)
		return db_dropped(hc->db, &u->prev);
	bool ok = dfs_update_decode_stored(rec, len, &p) == 0 &&
		  memcmp(p.entity.b, u->entity.b, DFS_PUBKEY_LEN) == 0 && p.clock <= u->clock;
	free(rec);
	return ok;
}

void db_held_reason(const struct dfs_update *u, const struct dfs_history_rec *e, char *out,
		    size_t size)
{
	bool owners = u->op == DFS_OP_OBJECT_CREATE || u->op == DFS_OP_OBJECT_META ||
		      u->op == DFS_OP_OBJECT_REMOVE || u->op == DFS_OP_DICT_CREATE ||
		      u->op == DFS_OP_DICT_DELETE;
	int n = (int)e->text_len;

	switch (e->held) {
	case DFS_HELD_UNAUTHORIZED:
		snprintf(out, size, "unauthorized: %s",
			 dfs_op_is_model(u->op) ? "its signer may not change the model"
			 : owners ? "only the object's owner may do this"
				  : "signer not in .authorized at its clock");
		break;
	case DFS_HELD_REVOKED:
		snprintf(out, size, "revoked: signer not in .authorized at its clock; "
			 "applied, then undone when that change of .authorized arrived");
		break;
	case DFS_HELD_LISTENER:
		snprintf(out, size, "listener: %.*s", n, e->text);
		break;
	case DFS_HELD_LIMIT:
		snprintf(out, size, "limit: %.*s", n, e->text);
		break;
	case DFS_HELD_PENDING:
		snprintf(out, size, "pending: authorized by a change of .authorized that came "
			 "after it; this node's listeners have not judged it");
		break;
	default:
		snprintf(out, size, "rule: %.*s", n, n ? e->text : "not applicable here");
		break;
	}
}

static int history_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
		       void *arg)
{
	struct history_ctx *hc = arg;
	struct dfs_history_rec e;
	struct dfs_update u;
	struct dfs_hash want, got;
	struct dfs_buf ukey;
	uint8_t *rec;
	size_t len;
	char why[DFS_HELD_TEXT_MAX + 128];

	if (dfs_history_rec_decode(val, vlen, &e) < 0)
		return db_skip_corrupt(hc->db, "history", key, klen);
	want = e.hash;
	dfs_buf_init(&ukey);
	dfs_key_update(&ukey, &want);
	int rc = dfs_buf_ok(&ukey);
	if (rc == 0)
		rc = dfs_store_get(hc->db->st, ukey.data, ukey.len, &rec, &len);
	if (rc < 0) {
		if (rc == -ENOENT)
			db_corrupt(hc->db, "history link", ukey.data, ukey.len);
		dfs_buf_release(&ukey);
		return rc == -ENOENT ? 0 : rc;
	}
	if (dfs_update_decode_stored(rec, len, &u) < 0) {
		db_corrupt(hc->db, "update", ukey.data, ukey.len);
		rc = 0;
		goto out;
	}
	dfs_hash2(&got, rec, len, NULL, 0);
	bool ok = memcmp(got.b, want.b, DFS_HASH_LEN) == 0 &&
		  dfs_verify(u.sig, rec, dfs_update_signed_len(len), &u.signer) == 0 &&
		  prev_ok(hc, &u);
	hc->prev = got;
	if (e.held)
		db_held_reason(&u, &e, why, sizeof(why));
	rc = hc->fn(&u, &got, ok, e.held ? why : NULL, hc->ctx);
out:
	free(rec);
	dfs_buf_release(&ukey);
	return rc;
}

int dfs_db_history(struct dfs_db *db, const struct dfs_pubkey *entity, dfs_db_history_fn fn,
		   void *ctx)
{
	struct history_ctx hc = { db, fn, ctx, zero_hash };
	uint8_t prefix[DFS_KEY_ENTITY_LEN];

	dfs_key_history_prefix(prefix, entity);
	return dfs_store_scan(db->st, prefix, sizeof(prefix), history_one, &hc);
}

void db_where(struct dfs_db *db, const struct dfs_update *u, const char *shown, char *out,
	      size_t n)
{
	bool meta = u->op == DFS_OP_MODEL_META || u->op == DFS_OP_OBJECT_META;
	bool named = meta || u->op >= DFS_OP_FIELD_SET;
	int mlen = (int)u->model_len, nlen = named ? (int)u->name_len : 0;
	struct dfs_object_rec o;
	char object[260];

	if (dfs_op_is_model(u->op)) {
		snprintf(out, n, "%.*s%s%s%.*s", mlen, u->model, meta ? "/" : "", meta ? "." : "",
			 nlen, u->name);
		return;
	}
	if (shown && shown[0]) {
		snprintf(object, sizeof(object), "%s", shown);
	} else if (u->op == DFS_OP_OBJECT_CREATE) {
		snprintf(object, sizeof(object), "%.*s", (int)u->name_len, u->name);
	} else if (dfs_db_get_object_by_key(db, &u->entity, &o) == 0) {
		snprintf(object, sizeof(object), "%s", o.shown);
	} else {
		char hex[17];
		dfs_hex_encode(hex, u->entity.b, 8);
		snprintf(object, sizeof(object), "(%s)", hex);
	}
	snprintf(out, n, "%.*s/%s%s%s%.*s", mlen, u->model, object, named ? "/" : "",
		 meta ? "." : "", nlen, u->name);
}

void dfs_db_update_where(struct dfs_db *db, const uint8_t *rec, size_t len, char *out, size_t n)
{
	struct dfs_update u;

	if (dfs_update_decode(rec, len, &u) == 0)
		db_where(db, &u, NULL, out, n);
	else
		snprintf(out, n, "?");
}

bool dfs_db_is_authorized(struct dfs_db *db, const struct dfs_pubkey *obj,
			  const struct dfs_pubkey *signer)
{
	uint8_t *keys;
	size_t len;
	bool found = false;

	if (memcmp(obj->b, signer->b, DFS_PUBKEY_LEN) == 0)
		return true;
	if (dfs_db_get_meta(db, obj, "authorized", &keys, &len) < 0)
		return false;
	for (size_t off = 0; off + DFS_PUBKEY_LEN <= len && !found; off += DFS_PUBKEY_LEN)
		found = memcmp(keys + off, signer->b, DFS_PUBKEY_LEN) == 0;
	free(keys);
	return found;
}

/*
 * Who signs a local change of obj: the object where this node holds its
 * key, else the as= object, else the node. Returns whether that signer is
 * authorized for obj.
 */
bool db_local_signer(struct dfs_db *db, const struct dfs_pubkey *obj, struct dfs_pubkey *signer)
{
	if (dfs_keyring_has(db->kr, obj)) {
		*signer = *obj;
		return true;
	}
	if (!dfs_db_get_as(db, signer))
		*signer = *dfs_keyring_node(db->kr);
	return dfs_db_is_authorized(db, obj, signer);
}

bool dfs_db_may_write(struct dfs_db *db, const struct dfs_pubkey *obj)
{
	struct dfs_pubkey signer;

	return db->open_policy || db_local_signer(db, obj, &signer);
}
