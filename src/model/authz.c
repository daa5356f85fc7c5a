// SPDX-License-Identifier: MIT
/* authz.c - owner-only metadata: .authorized (with its keyset) and .encrypted */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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
