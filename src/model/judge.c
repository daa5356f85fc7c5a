// SPDX-License-Identifier: MIT
/* judge.c - the changes listeners judge, for remote and local updates */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/util.h"
#include "internal.h"

static bool group_wanted(struct dfs_db_group *g, enum dfs_event event, const char *model)
{
	for (size_t i = 0; i < g->nwants; i++)
		if (g->wants[i].event == event && strcmp(g->wants[i].model, model) == 0)
			return g->wants[i].yes;
	bool yes = db_wanted(g->db, event, model);
	if (g->nwants < GROUP_WANTS && strlen(model) <= DFS_NAME_MAX) {
		g->wants[g->nwants].event = event;
		g->wants[g->nwants].yes = yes;
		strcpy(g->wants[g->nwants].model, model);
		g->nwants++;
	}
	return yes;
}

void db_judgement_release(struct judgement *j)
{
	dfs_value_free(j->old);
	dfs_value_free(j->joined);
	dfs_buf_release(&j->clear);
	dfs_buf_release(&j->told);
}

size_t db_judgement_bytes(const struct judgement *j)
{
	return (j->old ? j->c.old_len : 0) + (j->joined ? j->c.new_len : 0) + j->clear.cap +
	       j->told.cap;
}

/*
 * The values listeners see of a remote field change: the old one, and the
 * whole new one (opened where sealed); none where this node cannot open them.
 */
static int judge_values(struct dfs_db *db, const struct dfs_update *u, struct judgement *j)
{
	int rc;

	if (j->c.field) {
		size_t oldlen = 0;
		rc = dfs_db_read_field(db, &u->entity, j->path, &j->old, &oldlen);
		if (rc == 0) {
			j->c.old_value = j->old;
			j->c.old_len = oldlen;
		} else if (rc == -EACCES) {
			j->c.sealed = true;
		} else if (rc != -ENOENT && rc != -EISDIR) {
			return rc;
		}
	}
	const uint8_t *value = u->value;
	size_t value_len = u->value_len;
	if ((u->flags & DFS_UPDATE_FLAG_SEALED) && !j->c.sealed) {
		/* Listeners see clear values only where this node can open them. */
		rc = dfs_sealed_open(db, &u->entity, j->path, u->value, u->value_len, &j->clear);
		if (rc == -EACCES)
			j->c.sealed = true;
		else if (rc < 0)
			return rc == -EIO ? 0 : rc;	/* held by the rules anyway */
		value = j->clear.data;
		value_len = j->clear.len;
	}
	/* Where the store cannot tell, listeners are told as of a secret. */
	j->c.secret = j->c.sealed || (u->flags & DFS_UPDATE_FLAG_SEALED) ||
		      dfs_sealed_field(db, j->model, j->path) != 0;
	if (j->c.sealed) {
		dfs_value_free(j->old);
		j->old = NULL;
		j->c.old_value = NULL;
		j->c.old_len = 0;
	} else if (u->op == DFS_OP_FIELD_SET) {
		j->c.new_value = value_len ? value : (const uint8_t *)"";
		j->c.new_len = value_len;
	} else if (u->op == DFS_OP_FIELD_APPEND) {
		size_t n = j->c.old_len + value_len + 1;
		j->joined = j->c.secret ? dfs_secret_alloc(n) : malloc(n);
		if (!j->joined)
			return -ENOMEM;
		if (j->c.old_len)
			memcpy(j->joined, j->old, j->c.old_len);
		if (value_len)
			memcpy(j->joined + j->c.old_len, value, value_len);
		j->c.new_value = j->joined;
		j->c.new_len = j->c.old_len + value_len;
	}
	return 0;
}

/*
 * What a field or dict update does beyond its own op, by the rules of
 * field.c: *keys when it buries the live keys of a dict under its name (a
 * dict delete, or a field change at least as late as the dict), and *own
 * whether its own change is judged: a dict create only where it replaces a
 * live field at least as late as it, as that field's delete.
 */
static int name_effect(struct dfs_db *db, const struct dfs_update *u, bool *own, bool *keys)
{
	bool dict_op = u->op == DFS_OP_DICT_CREATE || u->op == DFS_OP_DICT_DELETE;
	struct dfs_field_rec f;
	int rc = db_get_field_any(db, &u->entity, u->name, u->name_len, &f);

	*own = !dict_op;
	*keys = false;
	if (rc == -ENOENT || rc == -EIO)
		return 0;	/* nothing there, or corrupt: the rules bury nothing */
	if (rc < 0)
		return rc;
	if (!f.alive)
		return 0;
	bool later = clock_cmp(u->clock, &u->signer, f.clock, &f.signer) >= 0;
	if (f.kind == DFS_FIELD_DICT)
		*keys = u->op == DFS_OP_DICT_DELETE || (!dict_op && later);
	else
		*own = *own || (u->op == DFS_OP_DICT_CREATE && later);
	return 0;
}

/* The event listeners see of op: -1 for none (models and metadata: the owner's rules only). */
static int event_of_op(uint8_t op)
{
	switch (op) {
	case DFS_OP_OBJECT_CREATE: return DFS_EVENT_CREATE;
	case DFS_OP_OBJECT_REMOVE: return DFS_EVENT_REMOVE;
	case DFS_OP_FIELD_SET:
	case DFS_OP_FIELD_APPEND: return DFS_EVENT_UPDATE;
	case DFS_OP_FIELD_DELETE:
	case DFS_OP_DICT_CREATE:	/* judged only where it replaces a field */
	case DFS_OP_DICT_DELETE:	/* judged key by key */
		return DFS_EVENT_DELETE;
	default:
		return -1;
	}
}

/* Fills the parts of j's change every judgement shares. 1 when there is no object. */
static int judge_names(struct dfs_db *db, const struct dfs_update *u, enum dfs_event event,
		       struct judgement *j)
{
	struct dfs_object_rec o;

	j->c.event = event;
	j->c.model = j->model;
	j->c.signer = u->signer;
	j->c.authorized = j->authorized;
	j->c.owned = dfs_keyring_has(db->kr, &u->entity);
	j->c.remote = true;
	j->entity = u->entity;
	if (event == DFS_EVENT_CREATE) {
		/* As it will be listed: a name another object holds is not its. */
		int rc = db_name_to_show(db, j->model, u->name, u->name_len, u->clock, &u->entity,
					 j->object);
		if (rc < 0)
			return rc;
	} else {
		int rc = dfs_db_get_object_by_key(db, &u->entity, &o);
		if (rc < 0)
			return rc == -ENOENT ? 1 : rc;	/* held by the rules anyway */
		memcpy(j->object, o.shown, sizeof(j->object));
	}
	memcpy(j->path, u->name, u->name_len);
	j->path[u->name_len] = '\0';
	j->c.object = j->object;
	j->c.field = event == DFS_EVENT_UPDATE || event == DFS_EVENT_DELETE ? j->path : NULL;
	return 0;
}

int db_judge_prepare(struct dfs_db_group *g, const struct dfs_update *u, struct judgement *j)
{
	struct dfs_db *db = g->db;
	int event = event_of_op(u->op);
	bool own = true, keys = false;
	int rc;

	memset(j, 0, sizeof(*j));
	dfs_buf_init(&j->clear);
	dfs_buf_init(&j->told);
	j->authorized = true;
	if (event < 0)
		return 0;
	j->authorized = db_authorized_at(db, u);	/* at its clock (revoke.c) */
	memcpy(j->model, u->model, u->model_len);
	j->model[u->model_len] = '\0';
	bool want = group_wanted(g, event, j->model);
	bool want_keys = u->op >= DFS_OP_FIELD_SET && group_wanted(g, DFS_EVENT_DELETE, j->model);
	if (!want && !want_keys)
		return 0;
	if (u->op >= DFS_OP_FIELD_SET && (rc = name_effect(db, u, &own, &keys)) < 0)
		return rc;
	own = own && want;
	keys = keys && want_keys;
	if (!own && !keys)
		return 0;
	rc = judge_names(db, u, event, j);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	j->c.origin = g->origin;
	j->judged = own;
	j->keys = keys;
	return own ? judge_values(db, u, j) : 0;
}

/* ---- the keys a dict update buries, each judged as its own delete ---------------- */

/* Collects the names a listing gives, each followed by a NUL. */
static int collect_key(const char *name, void *ctx)
{
	struct dfs_buf *names = ctx;

	dfs_buf_add(names, name, strlen(name) + 1);
	return dfs_buf_ok(names);
}

/* Turns j's change into the delete of the key at path, with no values yet. */
static void key_event(struct dfs_change *c, const struct judgement *j, const char *path)
{
	*c = j->c;
	c->event = DFS_EVENT_DELETE;
	c->field = path;
	c->old_value = c->new_value = NULL;
	c->old_len = c->new_len = 0;
	c->sealed = false;
}

/*
 * Keeps an accepted key for the after-listeners: its path, its flags and
 * its old value where a listener's environment shows it, and while the
 * values kept stay within JUDGE_KEPT_MAX, so that a dict of many values is
 * not held in memory at once.
 */
static void tell_later(struct judgement *j, const struct dfs_change *c)
{
	bool keep = c->old_value && c->old_len <= DFS_CHANGE_SHOWN_MAX &&
		    j->kept + c->old_len <= JUDGE_KEPT_MAX;
	size_t plen = strlen(c->field);

	if (keep)
		j->kept += c->old_len;
	if (keep && c->secret)
		(void)dfs_buf_make_secret(&j->told);	/* failed: checked with the rest */

	dfs_buf_add_u16be(&j->told, (uint16_t)plen);
	dfs_buf_add(&j->told, c->field, plen);
	dfs_buf_add_u8(&j->told, (keep ? 1 : 0) | (c->sealed ? 2 : 0) | (c->secret ? 4 : 0));
	if (keep) {
		dfs_buf_add_u32be(&j->told, (uint32_t)c->old_len);
		dfs_buf_add(&j->told, c->old_value, c->old_len);
	}
}

/* Judges the delete of the key DICT/key, with its old value read now (one at a time). */
static int judge_key(struct dfs_db *db, struct judgement *j, const char *key, bool secret,
		     char *why, size_t whylen)
{
	char path[DFS_UPDATE_NAME_MAX + 1];
	struct dfs_change c;
	uint8_t *old = NULL;
	size_t len = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", j->path, key) >= sizeof(path))
		return 0;	/* no update can name it: not a key */
	key_event(&c, j, path);
	int rc = dfs_db_read_field(db, &j->entity, path, &old, &len);
	if (rc == 0) {
		c.old_value = old;
		c.old_len = len;
	} else if (rc == -EACCES) {
		c.sealed = true;
	} else {
		return rc == -ENOENT ? 0 : rc;	/* gone meanwhile: nothing to judge */
	}
	c.secret = secret || c.sealed;
	rc = db->listener.before(db->listener.ctx, &c, why, whylen);
	if (rc == 0)
		tell_later(j, &c);
	dfs_value_free(old);
	return rc;
}

/* Judges the delete of every live key of the dict j->path, stopping at the first rejection. */
static int judge_keys(struct dfs_db *db, struct judgement *j, char *why, size_t whylen)
{
	/* A dict's keys are encrypted when its name is listed (sealed.c). */
	bool secret = dfs_sealed_field(db, j->model, j->path);
	struct dfs_buf names;

	dfs_buf_init(&names);
	/* Listings see staged keys too: a key staged just before is judged too. */
	int rc = dfs_db_list_fields(db, &j->entity, j->path, collect_key, &names);
	for (size_t off = 0; rc == 0 && off < names.len;) {
		const char *key = (const char *)names.data + off;
		rc = judge_key(db, j, key, secret, why, whylen);
		off += strlen(key) + 1;
	}
	if (rc == 0)
		rc = dfs_buf_ok(&j->told);
	dfs_buf_release(&names);
	return rc;
}

int db_judge_before(struct dfs_db *db, struct judgement *j, char *why, size_t whylen)
{
	int rc = j->keys ? judge_keys(db, j, why, whylen) : 0;

	if (rc == 0 && j->judged)
		rc = db->listener.before(db->listener.ctx, &j->c, why, whylen);
	return rc;
}

void db_judge_after(struct dfs_db *db, struct judgement *j)
{
	char path[DFS_UPDATE_NAME_MAX + 1];
	struct dfs_reader r;

	dfs_reader_init(&r, j->told.data, j->told.len);
	while (dfs_reader_left(&r) > 0) {
		const uint8_t *p, *old = NULL;
		uint16_t plen;
		uint32_t olen = 0;
		uint8_t flags;
		struct dfs_change c;
		if (dfs_reader_get_u16be(&r, &plen) < 0 || plen >= sizeof(path) ||
		    dfs_reader_get_view(&r, &p, plen) < 0 || dfs_reader_get_u8(&r, &flags) < 0 ||
		    ((flags & 1) && (dfs_reader_get_u32be(&r, &olen) < 0 ||
				     dfs_reader_get_view(&r, &old, olen) < 0)))
			break;	/* cannot be: written by tell_later() */
		memcpy(path, p, plen);
		path[plen] = '\0';
		key_event(&c, j, path);
		if (flags & 1) {
			c.old_value = olen ? old : (const uint8_t *)"";
			c.old_len = olen;
		}
		c.sealed = flags & 2;
		c.secret = flags & 4;
		db->listener.after(db->listener.ctx, &c);
	}
	if (j->judged)
		db->listener.after(db->listener.ctx, &j->c);
}

/* A local change as listeners see it; the caller fills the values. */
void db_local_event(struct dfs_change *c, enum dfs_event event, const char *model,
		    const char *object, const char *field, const struct dfs_pubkey *signer)
{
	memset(c, 0, sizeof(*c));
	c->event = event;
	c->model = model;
	c->object = object;
	c->field = field;
	c->signer = *signer;
	c->authorized = true;	/* local changes are signed by the owner's key */
	c->owned = true;
}
