// SPDX-License-Identifier: MIT
/* judge.c - the changes listeners judge, for remote and local updates */
#include <errno.h>
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
	free(j->old);
	free(j->joined);
	dfs_buf_release(&j->clear);
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
		free(j->old);
		j->old = NULL;
		j->c.old_value = NULL;
		j->c.old_len = 0;
	} else if (u->op == DFS_OP_FIELD_SET) {
		j->c.new_value = value_len ? value : (const uint8_t *)"";
		j->c.new_len = value_len;
	} else if (u->op == DFS_OP_FIELD_APPEND) {
		j->joined = malloc(j->c.old_len + value_len + 1);
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

int db_judge_prepare(struct dfs_db_group *g, const struct dfs_update *u, struct judgement *j)
{
	struct dfs_db *db = g->db;
	struct dfs_object_rec o;
	enum dfs_event event;
	int rc;

	memset(j, 0, sizeof(*j));
	dfs_buf_init(&j->clear);
	j->authorized = true;
	switch (u->op) {
	case DFS_OP_OBJECT_CREATE: event = DFS_EVENT_CREATE; break;
	case DFS_OP_OBJECT_REMOVE: event = DFS_EVENT_REMOVE; break;
	case DFS_OP_FIELD_SET:
	case DFS_OP_FIELD_APPEND: event = DFS_EVENT_UPDATE; break;
	case DFS_OP_FIELD_DELETE: event = DFS_EVENT_DELETE; break;
	default:
		return 0;	/* models, dicts and metadata: the owner's rules only */
	}
	j->authorized = dfs_db_is_authorized(db, &u->entity, &u->signer);
	memcpy(j->model, u->model, u->model_len);
	j->model[u->model_len] = '\0';
	if (!group_wanted(g, event, j->model))
		return 0;
	j->judged = true;
	j->c.event = event;
	j->c.model = j->model;
	j->c.signer = u->signer;
	j->c.authorized = j->authorized;
	j->c.owned = dfs_keyring_has(db->kr, &u->entity);
	j->c.remote = true;
	if (event == DFS_EVENT_CREATE) {
		memcpy(j->object, u->name, u->name_len);
		j->object[u->name_len] = '\0';
	} else {
		rc = dfs_db_get_object_by_key(db, &u->entity, &o);
		if (rc < 0)
			return rc == -ENOENT ? 0 : rc;	/* held by the rules anyway */
		memcpy(j->object, o.shown, sizeof(j->object));
	}
	memcpy(j->path, u->name, u->name_len);
	j->path[u->name_len] = '\0';
	j->c.object = j->object;
	j->c.field = event == DFS_EVENT_UPDATE || event == DFS_EVENT_DELETE ? j->path : NULL;
	return judge_values(db, u, j);
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
