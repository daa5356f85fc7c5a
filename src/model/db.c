// SPDX-License-Identifier: MIT
/* db.c - the object database: what is not yet in its own file */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/hlc.h"
#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

/* Reads the log's name, or names a log that has none (a new store). */
static int load_log_id(struct dfs_db *db)
{
	struct dfs_buf key;
	uint8_t *val;
	size_t len;
	int rc;

	dfs_buf_init(&key);
	dfs_key_log_id(&key);
	rc = dfs_buf_ok(&key);
	if (rc == 0)
		rc = dfs_store_get(db->st, key.data, key.len, &val, &len);
	if (rc == 0) {
		if (len == DFS_DB_LOG_ID_LEN)
			memcpy(db->log_id, val, len);
		else
			rc = db_corrupt(db, "log id", key.data, key.len);
		free(val);
	}
	if (rc == -ENOENT || rc == -EIO) {
		/* A new name costs peers one full resend, and is never wrong. */
		struct dfs_batch *b = dfs_batch_new();
		dfs_random(db->log_id, sizeof(db->log_id));
		rc = b ? dfs_batch_put(b, key.data, key.len, db->log_id, sizeof(db->log_id))
		       : -ENOMEM;
		if (rc == 0)
			rc = dfs_store_commit(db->st, b);
		else
			dfs_batch_free(b);
	}
	dfs_buf_release(&key);
	return rc;
}

struct dfs_db *dfs_db_open(struct dfs_store *st, struct dfs_keyring *kr, size_t max_value)
{
	struct dfs_db *db = calloc(1, sizeof(*db));
	struct dfs_state_rec state = { 0 };
	struct dfs_buf key;
	uint8_t *val;
	size_t len;
	int err = ENOMEM;

	if (!db)
		return NULL;
	db->st = st;
	db->kr = kr;
	db->max_value = max_value;
	db->kc = dfs_keycache_new();
	db->recent = calloc(RECENT_SLOTS, sizeof(*db->recent));
	if (!db->kc || !db->recent)
		goto fail;
	err = EIO;
	dfs_buf_init(&key);
	dfs_key_state(&key);
	int rc = dfs_store_get(st, key.data, key.len, &val, &len);
	if (rc == 0) {
		rc = dfs_state_rec_decode(val, len, &state);
		free(val);
		if (rc < 0)
			db_corrupt(db, "state", key.data, key.len);
	}
	dfs_buf_release(&key);
	if ((rc < 0 && rc != -ENOENT) || load_log_id(db) < 0)
		goto fail;
	db->seq = state.seq;
	db->recent_base = state.seq;
	atomic_init(&db->visible, state.seq);
	db->max_clock = state.clock;
	dfs_hlc_init(&db->hlc, state.clock);
	pthread_mutex_init(&db->apply_lock, NULL);
	pthread_mutex_init(&db->as_lock, NULL);
	for (size_t i = 0; i < KEY_LOCKS; i++)
		pthread_rwlock_init(&db->key_locks[i], NULL);
	return db;
fail:
	dfs_keycache_free(db->kc);
	free(db->recent);
	free(db);
	errno = err;
	return NULL;
}

void dfs_db_free(struct dfs_db *db)
{
	if (!db)
		return;
	dfs_hlc_release(&db->hlc);
	pthread_mutex_destroy(&db->apply_lock);
	pthread_mutex_destroy(&db->as_lock);
	for (size_t i = 0; i < KEY_LOCKS; i++)
		pthread_rwlock_destroy(&db->key_locks[i]);
	dfs_keycache_free(db->kc);
	free(db->recent);
	free(db);
}

void dfs_db_set_listener(struct dfs_db *db, const struct dfs_db_listener *l)
{
	db->listener = *l;
}

bool db_wanted(struct dfs_db *db, enum dfs_event event, const char *model)
{
	return db->listener.wants && db->listener.wants(db->listener.ctx, event, model);
}

/*
 * Builds, signs and applies one update made on this node: stamped with the
 * clock, chained to the entity's head, signed as signer.
 */
int db_local_change(struct dfs_db *db, uint8_t op, uint8_t flags,
		    const struct dfs_pubkey *entity, const struct dfs_pubkey *signer,
		    const char *model, const char *name, const uint8_t *val, size_t vlen)
{
	struct dfs_update u = {
		.op = op,
		.flags = flags,
		.entity = *entity,
		.signer = *signer,
		.model = model,
		.model_len = strlen(model),
		.name = name ? name : "",
		.name_len = name ? strlen(name) : 0,
		.value = val,
		.value_len = vlen,
	};
	struct dfs_batch *b = NULL;
	struct dfs_buf rec;
	struct target t;
	struct applied note;

	if (vlen > db->max_value + (flags & DFS_UPDATE_FLAG_SEALED ? DFS_VALUE_OVERHEAD : 0))
		return -EFBIG;
	if (dfs_name_check(model, u.model_len) < 0 || u.name_len > DFS_UPDATE_NAME_MAX)
		return u.model_len > DFS_NAME_MAX || u.name_len > DFS_UPDATE_NAME_MAX
			       ? -ENAMETOOLONG
			       : -EINVAL;
	dfs_buf_init(&rec);
	pthread_mutex_lock(&db->apply_lock);
	int rc = db_load_target(db, &u, &t);
	if (rc == 0) {
		u.prev = t.exists ? t.head : zero_hash;
		u.clock = dfs_hlc_now(&db->hlc);
		rc = dfs_update_encode(&u, &rec);
	}
	if (rc == 0)
		rc = dfs_keyring_sign(db->kr, signer, rec.data, dfs_update_signed_len(rec.len),
				      rec.data + dfs_update_signed_len(rec.len));
	/* Under the open policy this node may sign for objects it does not own. */
	if (rc == 0)
		rc = db_apply_locked(db, rec.data, rec.len, NULL, true, 0, db->open_policy, NULL, &note,
				  &b);
	rc = db_finish(db, rc == 0 ? b : NULL, rc, &note);
	if (rc == 0)
		atomic_fetch_add(&db->applied, 1);
	dfs_buf_release(&rec);
	return rc;
}

int dfs_db_create_model(struct dfs_db *db, const char *model)
{
	struct dfs_pubkey id;

	dfs_db_model_id(model, &id);
	return db_local_change(db, DFS_OP_MODEL_CREATE, 0, &id, dfs_keyring_node(db->kr), model, NULL,
			    NULL, 0);
}

int dfs_db_remove_model(struct dfs_db *db, const char *model)
{
	struct dfs_model_rec m;
	struct dfs_pubkey id;
	int rc = dfs_db_get_model(db, model, &m);

	if (rc < 0)
		return rc;
	dfs_db_model_id(model, &id);
	/* The model's creator signs; this node may hold that key or not. */
	if (!dfs_keyring_has(db->kr, &m.creator))
		return -EPERM;
	return db_local_change(db, DFS_OP_MODEL_REMOVE, 0, &id, &m.creator, model, NULL, NULL, 0);
}

int dfs_db_create_object(struct dfs_db *db, const char *model, const char *name,
			 struct dfs_pubkey *key)
{
	struct dfs_object_rec o;
	struct dfs_model_rec m;
	struct dfs_change c;
	int rc = dfs_db_get_model(db, model, &m);

	if (rc < 0)
		return rc;
	rc = dfs_db_get_object(db, model, name, key, &o);
	if (rc == 0)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	rc = dfs_keyring_create(db->kr, key);
	if (rc < 0)
		return rc;
	bool judged = db_wanted(db, DFS_EVENT_CREATE, model);
	db_local_event(&c, DFS_EVENT_CREATE, model, name, NULL, key);
	if (judged)
		rc = db->listener.before(db->listener.ctx, &c);
	if (rc == 0)
		rc = db_local_change(db, DFS_OP_OBJECT_CREATE, 0, key, key, model, name, NULL, 0);
	if (rc < 0)
		dfs_keyring_discard(db->kr, key);
	else if (judged)
		db->listener.after(db->listener.ctx, &c);
	return rc;
}

static int rekey(struct dfs_db *db, const char *model, const struct dfs_pubkey *obj,
		 bool new_epoch, bool if_missing);

static int rekey_locked(struct dfs_db *db, const char *model, const struct dfs_pubkey *obj,
			bool new_epoch);

/*
 * The update of a local write, signed and applied: a value of an encrypted
 * field is sealed first, under the newest data key, while no keyset change
 * can slip in between (db_key_lock()). The owner makes the object's first keyset.
 */
static int write_change(struct dfs_db *db, uint8_t op, const struct dfs_object_rec *o,
			const struct dfs_pubkey *obj, const struct dfs_pubkey *signer,
			const char *path, const uint8_t *val, size_t vlen, bool secret)
{
	struct dfs_buf sealed;
	int rc;

	if (!secret)
		return db_local_change(db, op, 0, obj, signer, o->model, path, val, vlen);
	if (vlen > db->max_value)
		return -EFBIG;
	dfs_buf_init(&sealed);
	pthread_rwlock_rdlock(db_key_lock(db, obj));
	rc = dfs_sealed_seal(db, obj, path, val, vlen, &sealed);
	if (rc == -EACCES && dfs_keyring_has(db->kr, obj)) {
		pthread_rwlock_unlock(db_key_lock(db, obj));
		rc = rekey(db, o->model, obj, false, true);
		pthread_rwlock_rdlock(db_key_lock(db, obj));
		if (rc == 0)
			rc = dfs_sealed_seal(db, obj, path, val, vlen, &sealed);
	}
	if (rc == 0)
		rc = db_local_change(db, op, DFS_UPDATE_FLAG_SEALED, obj, signer, o->model, path,
				  sealed.data, sealed.len);
	pthread_rwlock_unlock(db_key_lock(db, obj));
	dfs_buf_release(&sealed);
	return rc;
}

/*
 * Object changes are signed with the object's own key, which this node must
 * hold. Listeners judge the whole value that results: for an append, the
 * old value followed by the new bytes; where this node cannot open an
 * encrypted old value, they get no value (dfs_change.sealed).
 */

static int object_change(struct dfs_db *db, uint8_t op, const struct dfs_pubkey *obj,
			 const char *path, const uint8_t *val, size_t vlen)
{
	struct dfs_object_rec o;
	struct dfs_change c;
	uint8_t *old = NULL, *joined = NULL;
	size_t oldlen = 0;
	int rc = dfs_db_get_object_by_key(db, obj, &o);

	if (rc < 0)
		return rc;
	struct dfs_pubkey signer_key;
	bool authorized = db_local_signer(db, obj, &signer_key);
	const struct dfs_pubkey *signer = &signer_key;
	if (!authorized && !db->open_policy)
		return -EPERM;
	enum dfs_event event = op == DFS_OP_OBJECT_REMOVE   ? DFS_EVENT_REMOVE
			       : op == DFS_OP_FIELD_DELETE  ? DFS_EVENT_DELETE
							    : DFS_EVENT_UPDATE;
	bool secret = (op == DFS_OP_FIELD_SET || op == DFS_OP_FIELD_APPEND) &&
		      dfs_sealed_field(db, o.model, path);
	bool judged = (op == DFS_OP_FIELD_SET || op == DFS_OP_FIELD_APPEND ||
		       op == DFS_OP_FIELD_DELETE || op == DFS_OP_OBJECT_REMOVE) &&
		      db_wanted(db, event, o.model);
	if (op == DFS_OP_FIELD_APPEND) {
		/* A value with encrypted parts is held to max_value in clear, as a plain one is. */
		struct dfs_field_rec f;
		uint64_t size;
		bool readable;
		rc = dfs_db_stat_field(db, obj, path, &f, &size, &readable);
		if (rc < 0 && rc != -ENOENT && rc != -EIO)
			return rc;
		if (rc == 0 && (secret || (f.flags & DFS_FIELD_FLAG_ITEMS)) &&
		    size + vlen > db->max_value)
			return -EFBIG;
	}
	if (!judged)
		return write_change(db, op, &o, obj, signer, path, val, vlen, secret);

	db_local_event(&c, event, o.model, o.shown, event == DFS_EVENT_REMOVE ? NULL : path, signer);
	c.authorized = authorized;
	c.owned = dfs_keyring_has(db->kr, obj);
	if (path && event != DFS_EVENT_REMOVE) {
		rc = dfs_db_read_field(db, obj, path, &old, &oldlen);
		if (rc == 0) {
			c.old_value = old;
			c.old_len = oldlen;
		} else if (rc == -EACCES) {
			c.sealed = true;
		} else if (rc != -ENOENT) {
			return rc;
		}
	}
	c.secret = secret || c.sealed;
	if (c.sealed) {
		/* Neither the old value nor the whole new one is known here. */
	} else if (op == DFS_OP_FIELD_SET) {
		c.new_value = val ? val : (const uint8_t *)"";
		c.new_len = vlen;
	} else if (op == DFS_OP_FIELD_APPEND) {
		if (oldlen + vlen > db->max_value) {
			free(old);
			return -EFBIG;
		}
		joined = malloc(oldlen + vlen + 1);
		if (!joined) {
			free(old);
			return -ENOMEM;
		}
		if (oldlen)
			memcpy(joined, old, oldlen);
		if (vlen)
			memcpy(joined + oldlen, val, vlen);
		c.new_value = joined;
		c.new_len = oldlen + vlen;
	}
	rc = db->listener.before(db->listener.ctx, &c);
	if (rc == 0)
		rc = write_change(db, op, &o, obj, signer, path, val, vlen, secret);
	if (rc == 0)
		db->listener.after(db->listener.ctx, &c);
	free(old);
	free(joined);
	return rc;
}

int dfs_db_remove_object(struct dfs_db *db, const struct dfs_pubkey *obj)
{
	return object_change(db, DFS_OP_OBJECT_REMOVE, obj, NULL, NULL, 0);
}

int dfs_db_set_field(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		     const uint8_t *val, size_t len)
{
	return object_change(db, DFS_OP_FIELD_SET, obj, path, val, len);
}

int dfs_db_append_field(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
			const uint8_t *val, size_t len)
{
	return object_change(db, DFS_OP_FIELD_APPEND, obj, path, val, len);
}

int dfs_db_delete_field(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path)
{
	return object_change(db, DFS_OP_FIELD_DELETE, obj, path, NULL, 0);
}

int dfs_db_create_dict(struct dfs_db *db, const struct dfs_pubkey *obj, const char *dict)
{
	return object_change(db, DFS_OP_DICT_CREATE, obj, dict, NULL, 0);
}

int dfs_db_delete_dict(struct dfs_db *db, const struct dfs_pubkey *obj, const char *dict)
{
	return object_change(db, DFS_OP_DICT_DELETE, obj, dict, NULL, 0);
}

void dfs_db_get_stats(struct dfs_db *db, struct dfs_db_stats *out)
{
	out->applied = atomic_load(&db->applied);
	out->refused = atomic_load(&db->refused);
	out->corrupt = atomic_load(&db->corrupt);
	pthread_mutex_lock(&db->apply_lock);
	out->seq = db->seq;
	pthread_mutex_unlock(&db->apply_lock);
}

void dfs_db_set_policy(struct dfs_db *db, bool open)
{
	db->open_policy = open;
}

void dfs_db_set_observer(struct dfs_db *db, dfs_db_observer_fn fn, void *ctx)
{
	db->observer = fn;
	db->observer_ctx = ctx;
}

int dfs_db_set_authorized(struct dfs_db *db, const struct dfs_pubkey *obj,
			  const struct dfs_pubkey *keys, size_t n)
{
	struct dfs_object_rec o;
	uint8_t *old = NULL, *ks = NULL;
	size_t oldlen = 0, kslen;
	int rc = dfs_db_get_object_by_key(db, obj, &o);

	if (rc < 0)
		return rc;
	if (n > DFS_AUTHORIZED_MAX)
		return -E2BIG;
	/* Only the owner's key may sign it, on every node. */
	if (!dfs_keyring_has(db->kr, obj))
		return -EPERM;
	struct dfs_pubkey *sorted = malloc((n ? n : 1) * sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	if (n)
		memcpy(sorted, keys, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), db_key_cmp);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (memcmp(sorted[i].b, obj->b, DFS_PUBKEY_LEN) != 0 &&
		    (m == 0 || memcmp(sorted[m - 1].b, sorted[i].b, DFS_PUBKEY_LEN) != 0))
			sorted[m++] = sorted[i];

	/*
	 * Readers follow .authorized: with the list and the keyset changed
	 * under one lock, no value is sealed between the two. A reader
	 * removed gets no key for what is written from now on.
	 */
	struct dfs_buf next;
	dfs_buf_init(&next);
	pthread_rwlock_wrlock(db_key_lock(db, obj));
	rc = dfs_db_get_meta(db, obj, "datakey", &ks, &kslen);
	bool keyed = rc == 0;
	free(ks);
	if (rc == -ENOENT)
		rc = 0;
	if (rc == 0) {
		rc = dfs_db_get_meta(db, obj, "authorized", &old, &oldlen);
		if (rc == -ENOENT)
			rc = 0;
	}
	/*
	 * The next keyset is built first: a list it cannot seal to changes
	 * nothing. In a model with encrypted fields, the first list makes the
	 * first keyset, so that the objects it names can write encrypted
	 * values before the owner ever has.
	 */
	bool rekeyed = keyed || (m > 0 && dfs_sealed_field(db, o.model, NULL));
	if (rc == 0 && rekeyed)
		rc = db_make_keyset(db, obj, (const uint8_t *)sorted, m * DFS_PUBKEY_LEN,
				 keyed && db_any_dropped(old, oldlen, sorted, m), &next);
	if (rc == 0)
		rc = db_local_change(db, DFS_OP_OBJECT_META, 0, obj, obj, o.model, "authorized",
				  (const uint8_t *)sorted, m * DFS_PUBKEY_LEN);
	if (rc == 0 && rekeyed)
		rc = db_local_change(db, DFS_OP_OBJECT_META, 0, obj, obj, o.model, "datakey",
				  next.data, next.len);
	pthread_rwlock_unlock(db_key_lock(db, obj));
	dfs_buf_release(&next);
	free(old);
	free(sorted);
	return rc;
}

/* db_make_keyset() for obj's current .authorized, then the update that sets it. */
static int rekey_locked(struct dfs_db *db, const char *model, const struct dfs_pubkey *obj,
			bool new_epoch)
{
	uint8_t *auth = NULL;
	size_t authlen = 0;
	struct dfs_buf ks;
	int rc = dfs_db_get_meta(db, obj, "authorized", &auth, &authlen);

	if (rc < 0 && rc != -ENOENT)
		return rc;
	dfs_buf_init(&ks);
	rc = db_make_keyset(db, obj, auth, authlen, new_epoch, &ks);
	if (rc == 0)
		rc = db_local_change(db, DFS_OP_OBJECT_META, 0, obj, obj, model, "datakey", ks.data,
				  ks.len);
	dfs_buf_release(&ks);
	free(auth);
	return rc;
}

static int rekey(struct dfs_db *db, const char *model, const struct dfs_pubkey *obj,
		 bool new_epoch, bool if_missing)
{
	uint8_t *ks;
	size_t len;

	pthread_rwlock_wrlock(db_key_lock(db, obj));
	int rc = if_missing ? dfs_db_get_meta(db, obj, "datakey", &ks, &len) : -ENOENT;
	if (rc == 0)
		free(ks);	/* made meanwhile */
	else if (rc == -ENOENT)
		rc = rekey_locked(db, model, obj, new_epoch);
	pthread_rwlock_unlock(db_key_lock(db, obj));
	return rc;
}

static int names_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int dfs_db_set_encrypted(struct dfs_db *db, const char *model, const char *const *names,
			 size_t n)
{
	struct dfs_model_rec m;
	struct dfs_pubkey id;
	struct dfs_buf list;
	int rc = dfs_db_get_model(db, model, &m);

	if (rc < 0)
		return rc;
	/* The model's creator decides, on every node. */
	if (!dfs_keyring_has(db->kr, &m.creator))
		return -EPERM;
	const char **sorted = calloc(n ? n : 1, sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		/* A newline would split the name: the list is one name a line. */
		if (dfs_name_check(names[i], strlen(names[i])) < 0 || names[i][0] == '.' ||
		    strchr(names[i], '\n')) {
			free(sorted);
			return -EINVAL;
		}
		sorted[i] = names[i];
	}
	qsort(sorted, n, sizeof(*sorted), names_cmp);
	dfs_buf_init(&list);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(sorted[i - 1], sorted[i]) != 0)
			dfs_buf_printf(&list, "%s\n", sorted[i]);
	free(sorted);
	rc = dfs_buf_ok(&list);
	if (rc == 0 && list.len > DFS_ENCRYPTED_MAX)
		rc = -E2BIG;
	dfs_db_model_id(model, &id);
	if (rc == 0)
		rc = db_local_change(db, DFS_OP_MODEL_META, 0, &id, &m.creator, model, "encrypted",
				  list.data, list.len);
	dfs_buf_release(&list);
	return rc;
}

int dfs_db_set_as(struct dfs_db *db, const struct dfs_pubkey *as)
{
	if (as && !dfs_keyring_has(db->kr, as))
		return -ENOKEY;
	pthread_mutex_lock(&db->as_lock);
	db->has_as = as != NULL;
	if (as)
		db->as = *as;
	pthread_mutex_unlock(&db->as_lock);
	return 0;
}

bool dfs_db_get_as(struct dfs_db *db, struct dfs_pubkey *out)
{
	pthread_mutex_lock(&db->as_lock);
	bool has = db->has_as;
	if (has)
		*out = db->as;
	pthread_mutex_unlock(&db->as_lock);
	return has;
}
