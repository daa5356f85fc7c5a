// SPDX-License-Identifier: MIT
/*
 * migrate.c - the store's format, checked at open; older stores converted
 *
 * A store made by release 0.1.0 has no version record ('S' "version",
 * records.h). Its model records name a "creator" (the earliest create),
 * and each model's encrypted fields are one "encrypted" record. Today a
 * model is owned by nobody and each key keeps its own list, so at open:
 *
 *   - each model record gets, from the model's history, the latest
 *     (clock, signer) of its creates and removes and whether that one is a
 *     create (as if its updates arrived today), and the count of its live
 *     objects, from the name index;
 *   - the "encrypted" record moves to its signer's slot, unchanged.
 *
 * Everything goes in one batch with the version record (2), written last,
 * so a crash leaves the store as it was or converted, never half; and a
 * store that has its version record is not converted again.
 *
 * A store of format 2 holds updates with no index for their quota: each
 * gets its index entries and counts (held.c, db_held_index_all(), which
 * writes the same again after a crash), then the version record (3).
 *
 * A store whose version is newer than this code knows is refused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

#define MIGRATE_MODELS_MAX 65536	/* models in one store, as a bound on memory */

struct old_model {
	char name[DFS_NAME_MAX + 1];
	struct dfs_model_rec m;
};

struct old_models {
	struct dfs_db *db;
	struct old_model *v;
	size_t n, cap;
};

/* Collects each model record, in its old layout; a record in neither layout is reported. */
static int collect_model(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
			 void *arg)
{
	struct old_models *om = arg;
	struct dfs_model_rec m;

	if (klen < 2 || klen - 1 > DFS_NAME_MAX || memchr(key + 1, '\0', klen - 1))
		return db_skip_corrupt(om->db, "model", key, klen);
	if (dfs_model_rec_decode(val, vlen, &m) == 0)
		return 0;	/* converted already */
	if (dfs_model_rec_decode_v1(val, vlen, &m) < 0)
		return db_skip_corrupt(om->db, "model", key, klen);
	if (om->n == om->cap) {
		size_t cap = om->cap ? 2 * om->cap : 16;
		struct old_model *p = cap <= MIGRATE_MODELS_MAX ? realloc(om->v, cap * sizeof(*p))
								: NULL;
		if (!p)
			return -ENOMEM;
		om->v = p;
		om->cap = cap;
	}
	memcpy(om->v[om->n].name, key + 1, klen - 1);
	om->v[om->n].name[klen - 1] = '\0';
	om->v[om->n++].m = m;
	return 0;
}

struct model_history {
	struct dfs_db *db;
	struct dfs_model_rec *m;
	bool seen;	/* a create or remove was found */
};

/* The latest create or remove of the history wins, with today's tie rule (apply.c). */
static int history_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
		       void *arg)
{
	struct model_history *mh = arg;
	struct dfs_history_rec e;
	struct dfs_update u;
	uint8_t *rec;
	size_t len;

	if (dfs_history_rec_decode(val, vlen, &e) < 0)
		return db_skip_corrupt(mh->db, "history", key, klen);
	if (e.held)
		return 0;	/* 0.1.0 listed none; a held update changed nothing */
	int rc = db_get_update(mh->db, &e.hash, &rec, &len);
	if (rc < 0)
		return rc == -ENOENT ? db_skip_corrupt(mh->db, "history", key, klen) : rc;
	if (dfs_update_decode(rec, len, &u) == 0 &&
	    (u.op == DFS_OP_MODEL_CREATE || u.op == DFS_OP_MODEL_REMOVE)) {
		int c = mh->seen ? clock_cmp(u.clock, &u.signer, mh->m->clock, &mh->m->signer) : 1;
		if (c > 0 || (c == 0 && u.op == DFS_OP_MODEL_CREATE)) {
			mh->m->live = u.op == DFS_OP_MODEL_CREATE;
			mh->m->clock = u.clock;
			mh->m->signer = u.signer;
		}
		mh->seen = true;
	}
	free(rec);
	return 0;
}

static int count_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	(void)key;
	(void)klen;
	(void)val;
	if (vlen == DFS_PUBKEY_LEN)
		(*(uint64_t *)arg)++;
	return 0;
}

/* The model record as today's rules make it from its history and its live objects. */
static int convert_model(struct dfs_db *db, struct old_model *om, struct dfs_buf *key)
{
	struct dfs_pubkey id;
	uint8_t prefix[DFS_KEY_ENTITY_LEN];
	struct model_history mh = { db, &om->m, false };
	int rc;

	dfs_db_model_id(om->name, &id);
	dfs_key_history_prefix(prefix, &id);
	rc = dfs_store_scan(db->st, prefix, sizeof(prefix), history_one, &mh);
	om->m.objects = 0;
	dfs_key_name(key, om->name, "");
	if (rc == 0)
		rc = dfs_buf_ok(key);
	if (rc == 0)
		rc = dfs_store_scan(db->st, key->data, key->len, count_one, &om->m.objects);
	return rc;
}

/* 0.1.0's one "encrypted" record of a model, moved to its signer's slot. */
static int move_list(struct dfs_db *db, const char *model, struct dfs_batch *b,
		     struct dfs_buf *key)
{
	struct dfs_pubkey id;
	struct dfs_meta_rec m;
	uint8_t *raw;
	size_t len;

	dfs_db_model_id(model, &id);
	dfs_key_meta(key, &id, "encrypted");
	int rc = dfs_buf_ok(key);
	if (rc == 0)
		rc = dfs_store_get(db->st, key->data, key->len, &raw, &len);
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	if (dfs_meta_rec_decode(raw, len, &m) < 0) {
		free(raw);
		return db_corrupt(db, "metadata", key->data, key->len);
	}
	rc = dfs_batch_del(b, key->data, key->len);
	dfs_key_meta_by(key, &id, "encrypted", &m.signer);
	if (rc == 0)
		rc = put_key(b, key, raw, len);
	free(raw);
	return rc;
}

/* Converts every model of om into b. */
static int convert_all(struct dfs_db *db, struct old_models *om, struct dfs_batch *b)
{
	struct dfs_buf key, val;
	int rc = 0;

	dfs_buf_init(&key);
	dfs_buf_init(&val);
	for (size_t i = 0; rc == 0 && i < om->n; i++) {
		rc = convert_model(db, &om->v[i], &key);
		dfs_buf_reset(&val);
		dfs_key_model(&key, om->v[i].name);
		if (rc == 0)
			rc = put_rec(b, &key, &val, dfs_model_rec_encode(&om->v[i].m, &val));
		if (rc == 0)
			rc = move_list(db, om->v[i].name, b, &key);
	}
	dfs_buf_release(&key);
	dfs_buf_release(&val);
	return rc;
}

/* The store's version: 1 where it has no record (release 0.1.0), or -EIO. */
static int store_version(struct dfs_db *db, struct dfs_buf *key, uint32_t *version)
{
	uint8_t *raw;
	size_t len;

	dfs_key_version(key);
	int rc = dfs_buf_ok(key);
	if (rc == 0)
		rc = dfs_store_get(db->st, key->data, key->len, &raw, &len);
	if (rc == -ENOENT) {
		*version = 1;
		return 0;
	}
	if (rc < 0)
		return rc;
	rc = dfs_version_rec_decode(raw, len, version);
	free(raw);
	return rc < 0 ? db_corrupt(db, "version", key->data, key->len) : 0;
}

/* Converts a store of release 0.1.0, then marks it as of today's format. */
static int convert(struct dfs_db *db, struct dfs_buf *key)
{
	struct old_models om = { .db = db };
	uint8_t prefix[DFS_KEY_TAG_LEN];
	struct dfs_buf val;
	struct dfs_batch *b = dfs_batch_new();
	int rc = b ? 0 : -ENOMEM;

	dfs_key_models_prefix(prefix);
	if (rc == 0)
		rc = dfs_store_scan(db->st, prefix, sizeof(prefix), collect_model, &om);
	if (rc == 0)
		rc = convert_all(db, &om, b);
	dfs_buf_init(&val);
	dfs_key_version(key);
	if (rc == 0)
		rc = put_rec(b, key, &val, dfs_version_rec_encode(2, &val));
	dfs_buf_release(&val);
	if (rc == 0) {
		rc = dfs_store_commit(db->st, b);
		b = NULL;
	}
	dfs_batch_free(b);
	if (rc == 0 && om.n > 0)
		dfs_log(DFS_LOG_NOTICE, "store: converted %zu models of release 0.1.0 (a model is "
			"owned by nobody; each key keeps its own encrypted fields list)", om.n);
	free(om.v);
	return rc;
}

/* Indexes the held updates of a store of format 2, then marks it as of today's. */
static int index_held(struct dfs_db *db, struct dfs_buf *key)
{
	struct dfs_buf val;
	struct dfs_batch *b;
	int rc = db_held_index_all(db);

	dfs_buf_init(&val);
	dfs_key_version(key);
	if (rc == 0)
		rc = (b = dfs_batch_new()) ? 0 : -ENOMEM;
	if (rc == 0) {
		rc = put_rec(b, key, &val, dfs_version_rec_encode(DFS_STORE_VERSION, &val));
		if (rc == 0)
			rc = dfs_store_commit(db->st, b);
		else
			dfs_batch_free(b);
	}
	dfs_buf_release(&val);
	return rc;
}

int db_migrate(struct dfs_db *db)
{
	struct dfs_buf key;
	uint32_t version = 0;

	dfs_buf_init(&key);
	int rc = store_version(db, &key, &version);
	if (rc == 0 && version > DFS_STORE_VERSION) {
		dfs_log(DFS_LOG_ERR, "store: format %u is newer than this dinemicfs reads (%u)",
			(unsigned)version, (unsigned)DFS_STORE_VERSION);
		rc = -EPROTONOSUPPORT;
	} else if (rc == 0 && version < DFS_STORE_VERSION) {
		if (version < 2)
			rc = convert(db, &key);
		if (rc == 0)
			rc = index_held(db, &key);
	}
	dfs_buf_release(&key);
	return rc;
}
