// SPDX-License-Identifier: MIT
/* rec.c - typed store reads: records by key, corrupt-record reports, scans */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

int db_corrupt(struct dfs_db *db, const char *what, const void *key, size_t klen)
{
	char hex[2 * 64 + 1];

	dfs_hex_encode(hex, key, klen > 64 ? 64 : klen);
	dfs_log(DFS_LOG_ERR, "store: corrupt %s record (key %s); skipping it", what, hex);
	atomic_fetch_add(&db->corrupt, 1);
	return -EIO;
}

/* Listing walks report a corrupt record and go on with the rest. */
int db_skip_corrupt(struct dfs_db *db, const char *what, const void *key, size_t klen)
{
	db_corrupt(db, what, key, klen);
	return 0;
}

void dfs_db_model_id(const char *model, struct dfs_pubkey *id)
{
	static const char tag[] = "dinemicfs-model";	/* hashed with its NUL */
	struct dfs_hash h;

	dfs_hash2(&h, tag, sizeof(tag), model, strlen(model));
	memcpy(id->b, h.b, DFS_PUBKEY_LEN);
}

/* Gets key and decodes it with dec; a decode failure is reported as corrupt. */
int db_get_rec(struct dfs_db *db, struct dfs_buf *key, const char *what,
	       int (*dec)(const uint8_t *, size_t, void *), void *out)
{
	uint8_t *val;
	size_t len;
	int rc = dfs_buf_ok(key);

	if (rc == 0)
		rc = dfs_store_get(db->st, key->data, key->len, &val, &len);
	if (rc < 0)
		return rc;
	rc = dec(val, len, out);
	free(val);
	if (rc < 0)
		return db_corrupt(db, what, key->data, key->len);
	return 0;
}

int dfs_db_get_model(struct dfs_db *db, const char *model, struct dfs_model_rec *out)
{
	struct dfs_buf key;

	dfs_buf_init(&key);
	dfs_key_model(&key, model);
	int rc = db_get_rec(db, &key, "model", (db_decoder)dfs_model_rec_decode, out);
	dfs_buf_release(&key);
	if (rc == 0 && !dfs_model_shown(out))
		rc = -ENOENT;
	return rc;
}

int dfs_db_get_object_by_key(struct dfs_db *db, const struct dfs_pubkey *k,
			     struct dfs_object_rec *out)
{
	struct dfs_buf key;

	dfs_buf_init(&key);
	dfs_key_object(&key, k);
	int rc = db_get_rec(db, &key, "object", (db_decoder)dfs_object_rec_decode, out);
	dfs_buf_release(&key);
	if (rc == 0 && !out->alive)
		rc = -ENOENT;
	return rc;
}

int dfs_db_get_object(struct dfs_db *db, const char *model, const char *name,
		      struct dfs_pubkey *k, struct dfs_object_rec *out)
{
	struct dfs_buf key;
	uint8_t *val;
	size_t len;

	dfs_buf_init(&key);
	dfs_key_name(&key, model, name);
	int rc = dfs_buf_ok(&key);
	if (rc == 0)
		rc = dfs_store_get(db->st, key.data, key.len, &val, &len);
	if (rc == 0) {
		if (len == DFS_PUBKEY_LEN)
			memcpy(k->b, val, DFS_PUBKEY_LEN);
		else
			rc = db_corrupt(db, "name", key.data, key.len);
		free(val);
	}
	dfs_buf_release(&key);
	if (rc == 0)
		rc = dfs_db_get_object_by_key(db, k, out);
	return rc;
}

int db_get_field_any(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		     size_t plen, struct dfs_field_rec *out)
{
	struct dfs_buf key;

	dfs_buf_init(&key);
	dfs_key_field(&key, obj, path, plen);
	int rc = db_get_rec(db, &key, "field", (db_decoder)dfs_field_rec_decode, out);
	dfs_buf_release(&key);
	return rc;
}

int dfs_db_get_field(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		     struct dfs_field_rec *out)
{
	int rc = db_get_field_any(db, obj, path, strlen(path), out);

	if (rc == 0 && !out->alive)
		rc = -ENOENT;
	return rc;
}

int db_load_target(struct dfs_db *db, const struct dfs_update *u, struct target *t)
{
	struct dfs_buf key;
	char model[256];
	int rc;

	memset(t, 0, sizeof(*t));
	memcpy(model, u->model, u->model_len);
	model[u->model_len] = '\0';
	dfs_buf_init(&key);
	if (dfs_op_is_model(u->op)) {
		struct dfs_pubkey id;
		dfs_db_model_id(model, &id);
		if (memcmp(id.b, u->entity.b, DFS_PUBKEY_LEN) != 0) {
			rc = -EBADMSG;
			goto out;
		}
		dfs_key_model(&key, model);
		rc = db_get_rec(db, &key, "model", (db_decoder)dfs_model_rec_decode, &t->model);
		t->head = t->model.head;
	} else {
		dfs_key_object(&key, &u->entity);
		rc = db_get_rec(db, &key, "object", (db_decoder)dfs_object_rec_decode, &t->object);
		t->head = t->object.head;
		if (rc == 0 && (strcmp(t->object.model, model) != 0))
			rc = -EBADMSG;
	}
	if (rc == 0)
		t->exists = true;
	else if (rc == -ENOENT)
		rc = 0;
out:
	dfs_buf_release(&key);
	return rc;
}

/* An update's record, read with LevelDB's block checksums or without. */
static int get_update(struct dfs_db *db, const struct dfs_hash *h, uint8_t **rec, size_t *len,
		      bool checked)
{
	struct dfs_buf key;

	dfs_buf_init(&key);
	dfs_key_update(&key, h);
	int rc = dfs_buf_ok(&key);
	if (rc == 0)
		rc = checked ? dfs_store_get(db->st, key.data, key.len, rec, len)
			     : dfs_store_get_unchecked(db->st, key.data, key.len, rec, len);
	dfs_buf_release(&key);
	return rc;
}

int db_get_update(struct dfs_db *db, const struct dfs_hash *h, uint8_t **rec, size_t *len)
{
	return get_update(db, h, rec, len, true);
}

int db_get_update_to_send(struct dfs_db *db, const struct dfs_hash *h, uint8_t **rec,
			  size_t *len)
{
	return get_update(db, h, rec, len, false);
}

/* 1 when the update is stored, 0 when it is not, or -EIO or -ENOMEM. */
int db_stored(struct dfs_db *db, const struct dfs_hash *h)
{
	uint8_t *rec;
	size_t len;
	int rc = db_get_update(db, h, &rec, &len);

	if (rc == 0)
		free(rec);
	return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

/* Whether the update is stored; a read error says no, and the apply lock decides. */
bool db_known(struct dfs_db *db, const struct dfs_hash *h)
{
	return db_stored(db, h) == 1;
}

bool db_marked(struct dfs_db *db, void (*key_of)(struct dfs_buf *, const struct dfs_hash *),
	       const struct dfs_hash *h)
{
	struct dfs_buf key;
	uint8_t *val = NULL;
	size_t len;

	dfs_buf_init(&key);
	key_of(&key, h);
	int rc = dfs_buf_ok(&key);
	if (rc == 0)
		rc = dfs_store_get(db->st, key.data, key.len, &val, &len);
	free(val);
	dfs_buf_release(&key);
	return rc == 0;
}

bool db_dropped(struct dfs_db *db, const struct dfs_hash *h)
{
	return db_marked(db, dfs_key_dropped, h);
}

struct child_ctx {
	int kind;
	int found;
};

static int child_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct child_ctx *c = arg;
	struct dfs_field_rec f;

	if (c->kind == 'F' && (dfs_field_rec_decode(val, vlen, &f) < 0 || !f.alive))
		return 0;
	c->found = 1;
	return 1;
}

/* The scan sees staged batches too: a child staged a moment ago counts. */
int db_has_live_children(struct dfs_db *db, const uint8_t *prefix, size_t plen, int kind)
{
	struct child_ctx c = { kind, 0 };
	int rc = dfs_store_scan(db->st, prefix, plen, child_one, &c);

	return rc < 0 ? rc : c.found;
}

int dfs_db_find_object(struct dfs_db *db, const char *s, size_t n, struct dfs_pubkey *key)
{
	char model[DFS_NAME_MAX + 1], name[DFS_NAME_MAX + 1];
	struct dfs_object_rec o;
	const char *slash = memchr(s, '/', n);

	if (!slash)
		return -EINVAL;
	size_t mlen = (size_t)(slash - s), olen = n - mlen - 1;
	if (dfs_name_check(s, mlen) < 0 || dfs_name_check(slash + 1, olen) < 0)
		return -EINVAL;
	memcpy(model, s, mlen);
	model[mlen] = '\0';
	memcpy(name, slash + 1, olen);
	name[olen] = '\0';
	return dfs_db_get_object(db, model, name, key, &o);
}

int dfs_db_get_meta(struct dfs_db *db, const struct dfs_pubkey *entity, const char *key,
		    uint8_t **val, size_t *len)
{
	struct dfs_meta_rec m;
	struct dfs_buf k;
	uint8_t *raw;
	size_t rawlen;

	dfs_buf_init(&k);
	dfs_key_meta(&k, entity, key);
	int rc = dfs_buf_ok(&k);
	if (rc == 0)
		rc = dfs_store_get(db->st, k.data, k.len, &raw, &rawlen);
	if (rc == 0 && dfs_meta_rec_decode(raw, rawlen, &m) < 0) {
		free(raw);
		rc = db_corrupt(db, "metadata", k.data, k.len);
	} else if (rc == 0) {
		*val = malloc(m.len + 1);
		if (*val) {
			memcpy(*val, m.value, m.len);
			(*val)[m.len] = '\0';
			*len = m.len;
		}
		free(raw);
		rc = *val ? 0 : -ENOMEM;
	}
	dfs_buf_release(&k);
	return rc;
}
