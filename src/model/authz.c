// SPDX-License-Identifier: MIT
/* authz.c - .authorized (owner-only, with its keyset) and .encrypted (each key its own list) */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

/*
 * keys sorted, without repeats or obj itself (*m of them), on the heap;
 * NULL when out of memory.
 */
static struct dfs_pubkey *sorted_readers(const struct dfs_pubkey *obj,
					 const struct dfs_pubkey *keys, size_t n, size_t *m)
{
	struct dfs_pubkey *sorted = malloc((n ? n : 1) * sizeof(*sorted));
	if (!sorted)
		return NULL;
	if (n)
		memcpy(sorted, keys, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), db_key_cmp);
	*m = 0;
	for (size_t i = 0; i < n; i++)
		if (memcmp(sorted[i].b, obj->b, DFS_PUBKEY_LEN) != 0 &&
		    (*m == 0 || memcmp(sorted[*m - 1].b, sorted[i].b, DFS_PUBKEY_LEN) != 0))
			sorted[(*m)++] = sorted[i];
	return sorted;
}

/* Whether obj has a keyset, and its list now (*old, if any). Under obj's key lock. */
static int current_readers(struct dfs_db *db, const struct dfs_pubkey *obj, bool *keyed,
			   uint8_t **old, size_t *oldlen)
{
	uint8_t *ks = NULL;
	size_t kslen;
	int rc = dfs_db_get_meta(db, obj, "datakey", &ks, &kslen);

	*keyed = rc == 0;
	free(ks);
	if (rc == -ENOENT)
		rc = 0;
	if (rc == 0) {
		rc = dfs_db_get_meta(db, obj, "authorized", old, oldlen);
		if (rc == -ENOENT)
			rc = 0;
	}
	return rc;
}

int dfs_db_set_authorized(struct dfs_db *db, const struct dfs_pubkey *obj,
			  const struct dfs_pubkey *keys, size_t n)
{
	struct dfs_object_rec o;
	uint8_t *old = NULL;
	size_t oldlen = 0;
	int rc = dfs_db_get_object_by_key(db, obj, &o);

	if (rc < 0)
		return rc;
	if (n > DFS_AUTHORIZED_MAX)
		return -E2BIG;
	/* Only the owner's key may sign it, on every node. */
	if (!dfs_keyring_has(db->kr, obj))
		return -EPERM;
	size_t m;
	struct dfs_pubkey *sorted = sorted_readers(obj, keys, n, &m);
	if (!sorted)
		return -ENOMEM;

	/*
	 * Readers follow .authorized: with the list and the keyset changed
	 * under one lock, no value is sealed between the two. A reader
	 * removed gets no key for what is written from now on.
	 */
	struct dfs_buf next;
	dfs_buf_init(&next);
	pthread_rwlock_wrlock(db_key_lock(db, obj));
	bool keyed;
	rc = current_readers(db, obj, &keyed, &old, &oldlen);
	/*
	 * The next keyset is built first: a list it cannot seal to changes
	 * nothing. In a model with encrypted fields, the first list makes the
	 * first keyset, so that the objects it names can write encrypted
	 * values before the owner ever has.
	 */
	int listed = rc == 0 && !keyed && m > 0 ? dfs_sealed_field(db, o.model, NULL) : 0;
	if (listed < 0)
		rc = listed;	/* cannot tell whether readers need a key: change nothing */
	bool rekeyed = keyed || listed > 0;
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

/* This node's list and the names every other signer lists, as lines. */
struct encrypted_now {
	const struct dfs_pubkey *me;
	struct dfs_buf own, others;
};

static int split_one(const struct dfs_pubkey *signer, const uint8_t *list, size_t len, void *arg)
{
	struct encrypted_now *e = arg;
	struct dfs_buf *to = memcmp(signer->b, e->me->b, DFS_PUBKEY_LEN) == 0 ? &e->own
									    : &e->others;

	dfs_buf_add(to, list, len);
	return dfs_buf_ok(to);
}

static bool in_names(char *const *v, size_t n, const char *name)
{
	return n && bsearch(&name, v, n, sizeof(*v), db_names_cmp);
}

/*
 * This node's next list, from what was written (w, sorted, n of them):
 * names it listed before stay its own; a new name is its own unless
 * another key lists it already. Dropping another key's name is -EPERM.
 */
static int next_own_list(struct dfs_db *db, const char *model, char **w, size_t n,
			 struct dfs_buf *list, bool *changed)
{
	struct encrypted_now e = { .me = dfs_keyring_node(db->kr) };
	char **own = NULL, **others = NULL;
	size_t nown = 0, nothers = 0;
	int rc;

	dfs_buf_init(&e.own);
	dfs_buf_init(&e.others);
	rc = db_encrypted_lists(db, model, split_one, &e);
	if (rc == 0)
		rc = db_names_sort(&e.own, &own, &nown);
	if (rc == 0)
		rc = db_names_sort(&e.others, &others, &nothers);
	for (size_t i = 0; rc == 0 && i < nothers; i++) {
		if (!in_names(w, n, others[i])) {
			dfs_log(DFS_LOG_WARNING, "%s/.encrypted: %s was listed by another node's key, "
				"which alone can take it off", model, others[i]);
			rc = -EPERM;
		}
	}
	size_t kept = 0, total = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		bool mine = in_names(own, nown, w[i]);
		if (mine || !in_names(others, nothers, w[i])) {
			dfs_buf_printf(list, "%s\n", w[i]);
			kept += mine;
			total++;
		}
	}
	*changed = total != nown || kept != nown;
	free(own);
	free(others);
	dfs_buf_release(&e.own);
	dfs_buf_release(&e.others);
	return rc < 0 ? rc : dfs_buf_ok(list);
}

int dfs_db_set_encrypted(struct dfs_db *db, const char *model, const char *const *names,
			 size_t n)
{
	struct dfs_model_rec m;
	struct dfs_pubkey id;
	struct dfs_buf list;
	bool changed;
	int rc = dfs_db_get_model(db, model, &m);

	if (rc < 0)
		return rc;
	char **sorted = calloc(n ? n : 1, sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	size_t m_names = 0;
	for (size_t i = 0; i < n; i++) {
		/* A newline would split the name: the list is one name a line. */
		if (dfs_name_check(names[i], strlen(names[i])) < 0 || names[i][0] == '.' ||
		    strchr(names[i], '\n')) {
			free(sorted);
			return -EINVAL;
		}
		sorted[i] = (char *)names[i];
	}
	qsort(sorted, n, sizeof(*sorted), db_names_cmp);
	for (size_t i = 0; i < n; i++)
		if (m_names == 0 || strcmp(sorted[m_names - 1], sorted[i]) != 0)
			sorted[m_names++] = sorted[i];
	dfs_buf_init(&list);
	rc = next_own_list(db, model, sorted, m_names, &list, &changed);
	free(sorted);
	if (rc == 0 && list.len > DFS_ENCRYPTED_MAX)
		rc = -E2BIG;
	dfs_db_model_id(model, &id);
	/* Any key may list a model's fields; this node's own key signs its own list. */
	if (rc == 0 && changed)
		rc = db_local_change(db, DFS_OP_MODEL_META, 0, &id, dfs_keyring_node(db->kr), model,
				  "encrypted", list.data, list.len);
	dfs_buf_release(&list);
	return rc;
}
