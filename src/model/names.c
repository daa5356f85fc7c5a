// SPDX-License-Identifier: MIT
/* names.c - concurrent object names: the holder, demoted names, making way, giving back */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

/* name~ and the first bytes of k in hex (4 or 8 bytes), within 255 bytes. */
static void tilde_name(char out[256], const char *name, const struct dfs_pubkey *k,
		       size_t bytes)
{
	char hex[17];
	size_t n = strlen(name);

	dfs_hex_encode(hex, k->b, bytes);
	if (n > 255 - 1 - 2 * bytes)
		n = 255 - 1 - 2 * bytes;
	snprintf(out, 256, "%.*s~%s", (int)n, name, hex);
}

struct contender {
	const struct dfs_pubkey *skip;
	bool found;
	bool shown;		/* some object shows under the name (set without skip) */
	struct dfs_pubkey shown_by;	/* which, where shown */
	struct dfs_pubkey key;
};

static int first_contender(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
			   void *arg)
{
	struct contender *c = arg;

	if (klen < DFS_PUBKEY_LEN)
		return 0;
	const uint8_t *k = key + klen - DFS_PUBKEY_LEN;
	if (c->skip && memcmp(k, c->skip->b, DFS_PUBKEY_LEN) == 0)
		return 0;
	memcpy(c->key.b, k, DFS_PUBKEY_LEN);
	c->found = true;
	return 1;
}

/* The live object, other than skip, created first under (model, name). */
static int name_holder(struct apply *a, const char *name, const struct dfs_pubkey *skip,
		       struct contender *c)
{
	uint8_t *shown;
	size_t len;
	int rc;

	memset(c, 0, sizeof(*c));
	c->skip = skip;
	if (!skip) {
		/*
		 * While any object lives under a name, one shows under it: with
		 * none shown, there is no holder, and no need for the scan,
		 * which must first write out everything staged.
		 */
		dfs_key_name(&a->key, a->model, name);
		rc = dfs_buf_ok(&a->key);
		if (rc == 0)
			rc = dfs_store_get(a->db->st, a->key.data, a->key.len, &shown, &len);
		if (rc == 0) {
			c->shown = len == DFS_PUBKEY_LEN;
			if (c->shown)
				memcpy(c->shown_by.b, shown, DFS_PUBKEY_LEN);
			free(shown);
		}
		if (rc == -ENOENT)
			return 0;
		if (rc < 0 && rc != -EIO)	/* a corrupt entry: the scan decides */
			return rc;
	}
	dfs_key_contender(&a->key, a->model, name, 0, NULL);
	rc = dfs_buf_ok(&a->key);
	if (rc == 0)
		rc = dfs_store_scan(a->db->st, a->key.data, a->key.len, first_contender, c);
	return rc;
}

/*
 * A name passing between objects is told with both keys: the other object
 * is always the one a->u creates or removes. A live object k that loses
 * its name to a create is a warning (.node/log): what users and listeners
 * reach under that name is another object now, whoever holds the grants.
 */
static void log_passing(struct apply *a, const struct dfs_pubkey *k,
			const struct dfs_object_rec *o, const char *shown)
{
	char kh[2 * DFS_PUBKEY_LEN + 1], eh[2 * DFS_PUBKEY_LEN + 1];

	dfs_hex_encode(kh, k->b, DFS_PUBKEY_LEN);
	dfs_hex_encode(eh, a->u->entity.b, DFS_PUBKEY_LEN);
	if (a->u->op == DFS_OP_OBJECT_CREATE)
		dfs_log(DFS_LOG_WARNING,
			"name %s/%s passes from object %s to object %s, created under it %s; "
			"%s shows as %s/%s now",
			o->model, o->shown, kh, eh,
			strcmp(o->name, a->name) == 0 ? "at an earlier clock" : "literally", kh,
			o->model, shown);
	else
		dfs_log(DFS_LOG_INFO, "name %s/%s passes from removed object %s to object %s (was %s/%s)",
			o->model, shown, eh, kh, o->model, o->shown);
}

/* Shows another object under a new name: its index entry and its record. */
static int reshow(struct apply *a, const struct dfs_pubkey *k, const char *shown)
{
	struct dfs_object_rec o;
	int rc;

	dfs_key_object(&a->key, k);
	rc = db_get_rec(a->db, &a->key, "object", (db_decoder)dfs_object_rec_decode, &o);
	if (rc < 0)
		return rc;
	log_passing(a, k, &o, shown);
	snprintf(a->note->from, sizeof(a->note->from), "%s", o.shown);
	snprintf(a->note->to, sizeof(a->note->to), "%s", shown);
	dfs_key_name(&a->key, o.model, o.shown);
	rc = del_key(a->b, &a->key);
	dfs_key_name(&a->key, o.model, shown);
	if (rc == 0)
		rc = put_key(a->b, &a->key, k->b, DFS_PUBKEY_LEN);
	snprintf(o.shown, sizeof(o.shown), "%s", shown);
	dfs_buf_reset(&a->val);
	dfs_key_object(&a->key, k);
	if (rc == 0)
		rc = put_rec(a->b, &a->key, &a->val, dfs_object_rec_encode(&o, &a->val));
	return rc;
}

/*
 * How object k, not first under name, shows: name~ and 8 hex digits of its
 * key, or 16 where a live object is literally named that. A literal name
 * beats a demoted one whichever arrives first, so every node agrees.
 */
static int demoted_name(struct apply *a, const char *name, const struct dfs_pubkey *k,
			char out[256])
{
	struct contender literal;
	int rc;

	tilde_name(out, name, k, 4);
	rc = name_holder(a, out, NULL, &literal);
	if (rc == 0 && literal.found)
		tilde_name(out, name, k, 8);
	return rc;
}

/* A literal name arrives that a demoted object shows under: it moves aside. */
static int make_way(struct apply *a, const struct dfs_pubkey *k)
{
	struct dfs_object_rec o;
	char longer[256];
	int rc;

	dfs_key_object(&a->key, k);
	rc = db_get_rec(a->db, &a->key, "object", (db_decoder)dfs_object_rec_decode, &o);
	if (rc < 0 || !o.alive || strcmp(o.shown, o.name) == 0)
		return rc;
	tilde_name(longer, o.name, k, 8);
	return reshow(a, k, longer);
}

struct short_form {
	const char *want;	/* base~ and 8 hex digits */
	const char *base;
	bool found;
	struct dfs_pubkey key;
};

static int short_form_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
			  void *arg)
{
	struct short_form *sf = arg;
	char name[256];

	(void)val;
	(void)vlen;
	if (klen < DFS_PUBKEY_LEN)
		return 0;
	memcpy(sf->key.b, key + klen - DFS_PUBKEY_LEN, DFS_PUBKEY_LEN);
	tilde_name(name, sf->base, &sf->key, 4);
	sf->found = strcmp(name, sf->want) == 0;
	return sf->found;
}

/*
 * The last object literally named `name` is gone: a demoted object that
 * moved aside for it (make_way) takes its short form again.
 */
static int give_back(struct apply *a, const char *model, const char *name)
{
	size_t n = strlen(name);
	struct short_form sf = { name, NULL, false, { { 0 } } };
	struct dfs_object_rec o;
	char base[256], longer[256];
	int rc;

	if (n < 10 || name[n - 9] != '~')
		return 0;
	snprintf(base, sizeof(base), "%.*s", (int)(n - 9), name);
	sf.base = base;
	dfs_key_contender(&a->key, model, base, 0, NULL);
	rc = dfs_buf_ok(&a->key);
	if (rc == 0)
		rc = dfs_store_scan(a->db->st, a->key.data, a->key.len, short_form_one, &sf);
	if (rc < 0 || !sf.found)
		return rc;
	dfs_key_object(&a->key, &sf.key);
	rc = db_get_rec(a->db, &a->key, "object", (db_decoder)dfs_object_rec_decode, &o);
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	tilde_name(longer, o.name, &sf.key, 8);
	if (!o.alive || strcmp(o.shown, longer) != 0)
		return 0;
	return reshow(a, &sf.key, name);
}

/*
 * o is being created under the name holder's object holds: the one
 * created later (by clock, then key) shows under a demoted name.
 */
static int name_clash(struct apply *a, struct dfs_object_rec *o, const struct contender *holder)
{
	const struct dfs_update *u = a->u;
	struct dfs_object_rec other;
	int rc;

	dfs_key_object(&a->key, &holder->key);
	rc = db_get_rec(a->db, &a->key, "object", (db_decoder)dfs_object_rec_decode, &other);
	if (rc < 0)
		return rc;
	if (clock_cmp(u->clock, &u->entity, other.created, &holder->key) < 0) {
		char demoted[256];
		rc = demoted_name(a, other.name, &holder->key, demoted);
		if (rc == 0)
			rc = reshow(a, &holder->key, demoted);
	} else {
		rc = demoted_name(a, a->name, &u->entity, o->shown);
	}
	return rc;
}

/* A model's count of live objects, one up or down, in a->b (records.h). */
int db_count_object(struct apply *a, const char *model, int delta)
{
	struct dfs_model_rec m;
	int rc;

	dfs_key_model(&a->key, model);
	rc = db_get_rec(a->db, &a->key, "model", (db_decoder)dfs_model_rec_decode, &m);
	if (rc < 0)
		return rc == -ENOENT ? db_corrupt(a->db, "model", a->key.data, a->key.len) : rc;
	if (delta < 0 && m.objects == 0)
		db_corrupt(a->db, "model (object count)", a->key.data, a->key.len);
	else
		m.objects = delta < 0 ? m.objects - 1 : m.objects + 1;
	dfs_buf_reset(&a->val);
	return put_rec(a->b, &a->key, &a->val, dfs_model_rec_encode(&m, &a->val));
}

/*
 * Objects created concurrently under one name all live: the one created
 * first (by clock, then key) shows under the name, the others as
 * name~ followed by 8 hex digits of their key, identically on every node.
 */
int db_object_create(struct apply *a, struct dfs_object_rec *o)
{
	const struct dfs_update *u = a->u;
	struct dfs_model_rec m;
	struct contender holder;
	int rc;

	if (a->t->exists)
		return -EEXIST;
	dfs_key_model(&a->key, a->model);
	rc = db_get_rec(a->db, &a->key, "model", (db_decoder)dfs_model_rec_decode, &m);
	if (rc == -ENOENT && !a->local) {
		struct dfs_pubkey id;
		dfs_db_model_id(a->model, &id);
		if (a->missing)
			memcpy(a->missing->b, id.b, DFS_HASH_LEN);
		return -EAGAIN;	/* wait for the model's create */
	}
	/* A model a remove hides takes a remote object all the same (records.h). */
	if (rc == 0 && a->local && !dfs_model_shown(&m))
		rc = -ENOENT;
	if (rc < 0)
		return rc;
	memset(o, 0, sizeof(*o));
	o->alive = true;
	o->created = u->clock;
	strcpy(o->model, a->model);
	strcpy(o->name, a->name);
	strcpy(o->shown, a->name);
	rc = name_holder(a, a->name, NULL, &holder);
	if (rc < 0)
		return rc;
	/* Also a name shown by another object's demotion: mkdir of what ls shows. */
	if (a->local && (holder.found || holder.shown))
		return -EEXIST;
	if (!holder.found && holder.shown)
		rc = make_way(a, &holder.shown_by);
	if (rc < 0)
		return rc;
	if (holder.found) {
		rc = name_clash(a, o, &holder);
		if (rc < 0)
			return rc;
	}
	dfs_key_name(&a->key, a->model, o->shown);
	rc = put_key(a->b, &a->key, u->entity.b, DFS_PUBKEY_LEN);
	dfs_key_contender(&a->key, a->model, a->name, o->created, &u->entity);
	if (rc == 0)
		rc = put_key(a->b, &a->key, "", 0);
	if (rc == 0)
		rc = db_count_object(a, a->model, 1);
	return rc;
}

int db_object_remove(struct apply *a, struct dfs_object_rec *o)
{
	const struct dfs_update *u = a->u;
	uint8_t prefix[DFS_KEY_ENTITY_LEN];
	struct contender next;
	int rc;

	dfs_key_fields_prefix(prefix, &u->entity);
	if (a->local) {
		/* rmdir: only an empty object goes; rm -r empties it first. */
		rc = db_has_live_children(a->db, prefix, sizeof(prefix), 'F');
		if (rc)
			return rc < 0 ? rc : -ENOTEMPTY;
	}
	o->alive = false;
	dfs_key_name(&a->key, o->model, o->shown);
	rc = del_key(a->b, &a->key);
	dfs_key_contender(&a->key, o->model, o->name, o->created, &u->entity);
	if (rc == 0)
		rc = del_key(a->b, &a->key);
	if (rc == 0 && strcmp(o->shown, o->name) == 0) {
		/* The name passes to the next object created under it. */
		rc = name_holder(a, o->name, &u->entity, &next);
		if (rc == 0 && next.found)
			rc = reshow(a, &next.key, o->name);
		else if (rc == 0)
			rc = give_back(a, o->model, o->name);
	}
	if (rc == 0)
		rc = db_count_object(a, o->model, -1);
	if (rc == 0)
		rc = dfs_store_scan(a->db->st, prefix, sizeof(prefix), db_bury_fields, a);
	return rc;
}

/* A struct apply for reading names outside the apply path: db, model, key buffer. */
static void reader_init(struct apply *a, struct dfs_db *db, const char *model)
{
	memset(a, 0, sizeof(*a));
	a->db = db;
	snprintf(a->model, sizeof(a->model), "%s", model);
	dfs_buf_init(&a->key);
}

int db_name_to_show(struct dfs_db *db, const char *model, const char *name, size_t len,
		    uint64_t clock, const struct dfs_pubkey *k, char out[256])
{
	struct apply a;
	struct contender holder;
	struct dfs_object_rec other;
	int rc;

	if (len > DFS_NAME_MAX)
		return -EINVAL;
	reader_init(&a, db, model);
	memcpy(a.name, name, len);
	a.name[len] = '\0';
	memcpy(out, a.name, len + 1);
	rc = name_holder(&a, a.name, NULL, &holder);
	if (rc == 0 && holder.found && memcmp(holder.key.b, k->b, DFS_PUBKEY_LEN) != 0) {
		dfs_key_object(&a.key, &holder.key);
		rc = db_get_rec(db, &a.key, "object", (db_decoder)dfs_object_rec_decode, &other);
		if (rc == 0 && clock_cmp(clock, k, other.created, &holder.key) > 0)
			rc = demoted_name(&a, a.name, k, out);
	}
	dfs_buf_release(&a.key);
	return rc;
}

/* Live objects created under one name: how many (up to 2), or those whose key is held. */
struct claims {
	struct dfs_keyring *held;	/* NULL: count them all */
	int n;
	struct dfs_pubkey first;
};

static int claim_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct claims *c = arg;
	struct dfs_pubkey k;

	(void)val;
	(void)vlen;
	if (klen < DFS_PUBKEY_LEN)
		return 0;
	memcpy(k.b, key + klen - DFS_PUBKEY_LEN, DFS_PUBKEY_LEN);
	if (c->held && !dfs_keyring_has(c->held, &k))
		return 0;
	if (c->n++ == 0)
		c->first = k;
	return c->n > 1;
}

static int claims_of(struct dfs_db *db, const char *model, const char *name, struct claims *c)
{
	struct dfs_buf key;
	int rc;

	dfs_buf_init(&key);
	dfs_key_contender(&key, model, name, 0, NULL);
	rc = dfs_buf_ok(&key);
	if (rc == 0)
		rc = dfs_store_scan(db->st, key.data, key.len, claim_one, c);
	dfs_buf_release(&key);
	return rc < 0 ? rc : 0;
}

int dfs_db_resolve_grant(struct dfs_db *db, const struct dfs_objref *r, struct dfs_pubkey *key)
{
	struct claims c = { NULL, 0, { { 0 } } };
	struct dfs_object_rec o;
	int rc;

	if (r->has_key) {
		*key = r->key;
		return 0;
	}
	if (!r->has_name)
		return -EINVAL;
	rc = dfs_db_get_object(db, r->model, r->object, key, &o);
	/* Shown under a demoted name: the suffix names it. */
	if (rc < 0 || strcmp(o.shown, o.name) != 0)
		return rc;
	rc = claims_of(db, o.model, o.name, &c);
	return rc == 0 && c.n > 1 ? -ENOTUNIQ : rc;
}

int dfs_db_resolve_as(struct dfs_db *db, const struct dfs_objref *r, struct dfs_pubkey *key)
{
	struct claims c = { db->kr, 0, { { 0 } } };
	struct dfs_object_rec o;
	int rc;

	if (r->has_key) {
		*key = r->key;
		return dfs_keyring_has(db->kr, key) ? 0 : -ENOKEY;
	}
	if (!r->has_name)
		return -EINVAL;
	int shown = dfs_db_get_object(db, r->model, r->object, key, &o);
	if (shown < 0 && shown != -ENOENT)
		return shown;
	if (shown == 0 && dfs_keyring_has(db->kr, key))
		return 0;
	rc = claims_of(db, r->model, r->object, &c);
	if (rc < 0)
		return rc;
	if (c.n > 1)
		return -ENOTUNIQ;
	if (c.n == 1) {
		*key = c.first;
		return 0;
	}
	return shown == 0 ? -ENOKEY : -ENOENT;
}
