// SPDX-License-Identifier: MIT
/* local.c - changes made here: build, seal, sign and apply; rekeying; dry runs of them */
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

/* The clock saturated: no change can be stamped later than what is stored. */
static int clock_at_end(struct dfs_db *db, const struct dfs_update *u, const struct target *t)
{
	char where[2 * DFS_UPDATE_NAME_MAX];

	db_where(db, u, t->exists && !dfs_op_is_model(u->op) ? t->object.shown : NULL, where,
		 sizeof(where));
	dfs_log(DFS_LOG_ERR, "local change of %s refused: this node's clock is at its end "
		"(2^64-1) and never wraps", where);
	return -EOVERFLOW;
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
	struct db_head head;
	struct db_known known = { .t = &t };
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
		if ((op == DFS_OP_FIELD_SET || op == DFS_OP_FIELD_DELETE) &&
		    !strchr(u.name, '/')) {
			u.flags |= DFS_UPDATE_FLAG_BASE;
			rc = db_conflict_base(db, entity, u.name, &u.base, &head);
			known.head = &head;
		}
	}
	if (rc == 0) {
		u.clock = dfs_hlc_now(&db->hlc);
		rc = u.clock ? dfs_update_encode(&u, &rec) : clock_at_end(db, &u, &t);
	}
	if (rc == 0)
		rc = dfs_keyring_sign(db->kr, signer, rec.data, dfs_update_signed_len(rec.len),
				      rec.data + dfs_update_signed_len(rec.len));
	/* Under the open policy this node may sign for objects it does not own. */
	if (rc == 0)
		rc = db_apply_locked(db, rec.data, rec.len, NULL, true, NULL, db->open_policy, NULL,
				     &note, &b, &known);
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
	/* A model is owned by nobody: this node's key signs. */
	return db_local_change(db, DFS_OP_MODEL_REMOVE, 0, &id, dfs_keyring_node(db->kr), model,
			    NULL, NULL, 0);
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
		rc = db->listener.before(db->listener.ctx, &c, NULL, 0);
	if (rc == 0)
		rc = db_local_change(db, DFS_OP_OBJECT_CREATE, 0, key, key, model, name, NULL, 0);
	if (rc < 0)
		dfs_keyring_discard(db->kr, key);
	else if (judged)
		db->listener.after(db->listener.ctx, &c);
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
 * An append to a value with encrypted parts is held to max_value in clear,
 * as a plain one is.
 */
static int append_fits(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		       size_t vlen, bool secret)
{
	struct dfs_field_rec f;
	uint64_t size;
	bool readable;
	int rc = dfs_db_stat_field(db, obj, path, &f, &size, &readable);

	if (rc < 0 && rc != -ENOENT && rc != -EIO)
		return rc;
	if (rc == 0 && (secret || (f.flags & DFS_FIELD_FLAG_ITEMS)) &&
	    size + vlen > db->max_value)
		return -EFBIG;
	return 0;
}

/* Puts path's value in c (kept in *old), or marks c sealed where it cannot be read. */
static int change_old(struct dfs_db *db, struct dfs_change *c, const struct dfs_pubkey *obj,
		      const char *path, uint8_t **old, size_t *oldlen)
{
	int rc = dfs_db_read_field(db, obj, path, old, oldlen);

	if (rc == 0) {
		c->old_value = *old;
		c->old_len = *oldlen;
	} else if (rc == -EACCES) {
		c->sealed = true;
	} else if (rc != -ENOENT) {
		return rc;
	}
	return 0;
}

/* Puts the value after op in c: val for a set, old then val (in *joined) for an append. */
static int change_new(struct dfs_db *db, struct dfs_change *c, uint8_t op, const uint8_t *val,
		      size_t vlen, const uint8_t *old, size_t oldlen, uint8_t **joined)
{
	if (c->sealed) {
		/* Neither the old value nor the whole new one is known here. */
	} else if (op == DFS_OP_FIELD_SET) {
		c->new_value = val ? val : (const uint8_t *)"";
		c->new_len = vlen;
	} else if (op == DFS_OP_FIELD_APPEND) {
		if (oldlen + vlen > db->max_value)
			return -EFBIG;
		size_t n = oldlen + vlen + 1;
		*joined = c->secret ? dfs_secret_alloc(n) : malloc(n);
		if (!*joined)
			return -ENOMEM;
		if (oldlen)
			memcpy(*joined, old, oldlen);
		if (vlen)
			memcpy(*joined + oldlen, val, vlen);
		c->new_value = *joined;
		c->new_len = oldlen + vlen;
	}
	return 0;
}

/*
 * Object changes are signed with the object's own key where this node
 * holds it, else as db_local_signer() says. Listeners judge the whole
 * value that results: for an append, the old value followed by the new
 * bytes; where this node cannot open an encrypted old value, they get no
 * value (dfs_change.sealed). A dry run builds the same change.
 */
struct local_change {
	struct dfs_object_rec o;
	struct dfs_pubkey signer;
	bool authorized;	/* the signer is the owner or in .authorized */
	bool secret;		/* the field is listed in .encrypted */
	enum dfs_event event;
	struct dfs_change c;	/* filled by change_build() */
	uint8_t *old, *joined;	/* what c's values point to */
};

/* The changes listeners judge; a dict's create and delete are judged key by key. */
static bool judged_op(uint8_t op)
{
	return op == DFS_OP_FIELD_SET || op == DFS_OP_FIELD_APPEND || op == DFS_OP_FIELD_DELETE ||
	       op == DFS_OP_OBJECT_REMOVE;
}

/*
 * What a local change of obj needs before anyone judges it: the object, a
 * signer the policy accepts, whether its field is encrypted (never written
 * in clear for want of knowing), and room for an append.
 */
static int change_check(struct dfs_db *db, uint8_t op, const struct dfs_pubkey *obj,
			const char *path, size_t vlen, struct local_change *lc)
{
	memset(lc, 0, sizeof(*lc));
	int rc = dfs_db_get_object_by_key(db, obj, &lc->o);
	if (rc < 0)
		return rc;
	lc->authorized = db_local_signer(db, obj, &lc->signer);
	if (!lc->authorized && !db->open_policy)
		return -EPERM;
	lc->event = op == DFS_OP_OBJECT_REMOVE	 ? DFS_EVENT_REMOVE
		    : op == DFS_OP_FIELD_DELETE ? DFS_EVENT_DELETE
						 : DFS_EVENT_UPDATE;
	int listed = op == DFS_OP_FIELD_SET || op == DFS_OP_FIELD_APPEND
			     ? dfs_sealed_field(db, lc->o.model, path)
			     : 0;
	if (listed < 0)
		return listed;
	lc->secret = listed > 0;
	return op == DFS_OP_FIELD_APPEND ? append_fits(db, obj, path, vlen, lc->secret) : 0;
}

/* The change as listeners see it: names, signer, and the values before and after. */
static int change_build(struct dfs_db *db, uint8_t op, const struct dfs_pubkey *obj,
			const char *path, const uint8_t *val, size_t vlen, struct local_change *lc)
{
	struct dfs_change *c = &lc->c;
	size_t oldlen = 0;

	db_local_event(c, lc->event, lc->o.model, lc->o.shown,
		       lc->event == DFS_EVENT_REMOVE ? NULL : path, &lc->signer);
	c->authorized = lc->authorized;
	c->owned = dfs_keyring_has(db->kr, obj);
	if (path && lc->event != DFS_EVENT_REMOVE) {
		int rc = change_old(db, c, obj, path, &lc->old, &oldlen);
		if (rc != 0)
			return rc;
	}
	c->secret = lc->secret || c->sealed;
	return change_new(db, c, op, val, vlen, lc->old, oldlen, &lc->joined);
}

static void change_release(struct local_change *lc)
{
	dfs_value_free(lc->old);
	dfs_value_free(lc->joined);
}

static int object_change(struct dfs_db *db, uint8_t op, const struct dfs_pubkey *obj,
			 const char *path, const uint8_t *val, size_t vlen)
{
	struct local_change lc;
	int rc = change_check(db, op, obj, path, vlen, &lc);

	if (rc < 0)
		return rc;
	if (!judged_op(op) || !db_wanted(db, lc.event, lc.o.model))
		return write_change(db, op, &lc.o, obj, &lc.signer, path, val, vlen, lc.secret);
	rc = change_build(db, op, obj, path, val, vlen, &lc);
	if (rc == 0)
		rc = db->listener.before(db->listener.ctx, &lc.c, NULL, 0);
	if (rc == 0)
		rc = write_change(db, op, &lc.o, obj, &lc.signer, path, val, vlen, lc.secret);
	if (rc == 0)
		db->listener.after(db->listener.ctx, &lc.c);
	change_release(&lc);
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

/* ---- dry runs: the same changes, asked about and never made ------------------ */

/* The rule that refuses a dry run's change: its errno, and a line for people. */
static int try_refuse(struct dfs_db_try *t, int rc, const char *why)
{
	snprintf(t->why, sizeof(t->why), "%s", why);
	return rc;
}

/* Why change_check() refused: the same errno as the real change, said. */
static int check_refused(struct dfs_db_try *t, int rc)
{
	switch (rc) {
	case -ENOENT: return try_refuse(t, rc, "no such object");
	case -EPERM:
		return try_refuse(t, rc, "unauthorized: this node would sign as a key that is "
				  "neither the object's nor in its .authorized (policy strict)");
	case -EFBIG: return try_refuse(t, rc, "the value would be over max_value");
	case -EIO: return try_refuse(t, rc, "the store cannot tell whether the field is encrypted");
	default: return try_refuse(t, rc, strerror(-rc));
	}
}

/* Puts c to the listeners: 0 when all accept, 1 when one rejects. */
static int try_ask(struct dfs_db *db, struct dfs_change *c, struct dfs_db_try *t)
{
	c->dryrun = true;
	if (!db->listener.dry)
		return 0;
	return db->listener.dry(db->listener.ctx, c, t->fn, t->arg) < 0 ? 1 : 0;
}

/* What the apply path would refuse of a remove that the listeners accepted. */
static int try_remove_rules(struct dfs_db *db, const struct dfs_pubkey *obj,
			    const struct local_change *lc, struct dfs_db_try *t)
{
	uint8_t prefix[DFS_KEY_ENTITY_LEN];

	if (!db->open_policy && memcmp(lc->signer.b, obj->b, DFS_PUBKEY_LEN) != 0)
		return try_refuse(t, -EPERM, "unauthorized: only the object's owner may remove "
				  "it (policy strict)");
	dfs_key_fields_prefix(prefix, obj);
	int rc = db_has_live_children(db, prefix, sizeof(prefix), 'F');
	if (rc > 0)
		return try_refuse(t, -ENOTEMPTY, "the object has fields: rmdir fails (rm -r "
				  "deletes each first, each judged as a delete)");
	return rc < 0 ? check_refused(t, rc) : 0;
}

/* What sealing would refuse of an encrypted value the listeners accepted (write_change()). */
static int try_seal_rules(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
			  const uint8_t *val, size_t len, struct dfs_db_try *t)
{
	struct dfs_buf sealed;

	dfs_buf_init(&sealed);
	pthread_rwlock_rdlock(db_key_lock(db, obj));
	int rc = dfs_sealed_seal(db, obj, path, val, len, &sealed);
	pthread_rwlock_unlock(db_key_lock(db, obj));
	dfs_buf_release(&sealed);
	/* The owner's node makes the object's first data key as it writes. */
	if (rc == -EACCES && dfs_keyring_has(db->kr, obj))
		rc = 0;
	if (rc == -EACCES)
		return try_refuse(t, rc, "this node reads none of the object's data keys (yet): "
				  "it cannot write an encrypted value");
	return rc < 0 ? check_refused(t, rc) : 0;
}

int dfs_db_try_change(struct dfs_db *db, uint8_t op, const struct dfs_pubkey *obj,
		      const char *path, const uint8_t *val, size_t len, struct dfs_db_try *t)
{
	struct local_change lc;

	t->why[0] = '\0';
	if (!judged_op(op))
		return try_refuse(t, -EINVAL, "listeners do not judge this change");
	if (op != DFS_OP_OBJECT_REMOVE && (!path || strlen(path) > DFS_UPDATE_NAME_MAX))
		return try_refuse(t, -ENAMETOOLONG, "the field's path is too long");
	if ((op == DFS_OP_FIELD_SET || op == DFS_OP_FIELD_APPEND) && len > db->max_value)
		return try_refuse(t, -EFBIG, "the value would be over max_value");
	int rc = change_check(db, op, obj, path, len, &lc);
	if (rc < 0)
		return check_refused(t, rc);
	rc = change_build(db, op, obj, path, val, len, &lc);
	if (rc < 0)
		rc = check_refused(t, rc);
	else
		rc = try_ask(db, &lc.c, t);
	if (rc == 0 && op == DFS_OP_OBJECT_REMOVE)
		rc = try_remove_rules(db, obj, &lc, t);
	if (rc == 0 && lc.secret)
		rc = try_seal_rules(db, obj, path, val, len, t);
	change_release(&lc);
	return rc;
}

int dfs_db_try_create(struct dfs_db *db, const char *model, const char *name,
		      struct dfs_db_try *t)
{
	struct dfs_object_rec o;
	struct dfs_model_rec m;
	struct dfs_pubkey key;
	struct dfs_seckey sk;
	struct dfs_change c;

	t->why[0] = '\0';
	if (dfs_name_check(name, strlen(name)) < 0 || dfs_name_is_dot(name))
		return try_refuse(t, -EINVAL, "not a name a new object may take");
	int rc = dfs_db_get_model(db, model, &m);
	if (rc < 0)
		return try_refuse(t, rc, rc == -ENOENT ? "no such model" : strerror(-rc));
	rc = dfs_db_get_object(db, model, name, &key, &o);
	if (rc == 0)
		return try_refuse(t, -EEXIST, "the object exists");
	if (rc != -ENOENT)
		return try_refuse(t, rc, strerror(-rc));
	/* A real mkdir makes a key pair first: listeners see a new signer, as they would. */
	rc = dfs_keys_generate(&key, &sk);
	dfs_seckey_wipe(&sk);
	if (rc < 0)
		return try_refuse(t, rc, strerror(-rc));
	db_local_event(&c, DFS_EVENT_CREATE, model, name, NULL, &key);
	return try_ask(db, &c, t);
}

int dfs_db_resolve(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		   const struct dfs_hash *lost, bool take)
{
	uint8_t *val = NULL;
	size_t len = 0;
	int rc = 0;

	if (strchr(path, '/'))
		return -ENOENT;
	if (take)
		rc = dfs_db_conflict_value(db, obj, path, lost, &val, &len, NULL);
	if (rc == 0 && take)
		rc = object_change(db, DFS_OP_FIELD_SET, obj, path, val, len);
	dfs_value_free(val);
	if (rc == 0)
		rc = object_change(db, DFS_OP_FIELD_RESOLVE, obj, path, lost->b, DFS_HASH_LEN);
	return rc == -EPERM ? -EACCES : rc;
}
