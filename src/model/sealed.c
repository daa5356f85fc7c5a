// SPDX-License-Identifier: MIT
/* sealed.c - encrypted fields: listed names, data keys and keysets, sealing and opening values */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/records.h"
#include "dinemicfs/seal.h"
#include "dinemicfs/util.h"
#include "internal.h"

int dfs_sealed_check_list(const uint8_t *v, size_t len)
{
	const char *p = (const char *)v, *end = p + len, *prev = NULL;
	size_t prevlen = 0;

	if (len > DFS_ENCRYPTED_MAX)
		return -EBADMSG;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return -EBADMSG;
		size_t n = (size_t)(nl - p);
		if (dfs_name_check(p, n) < 0 || p[0] == '.')
			return -EBADMSG;
		if (prev) {
			int c = memcmp(prev, p, n < prevlen ? n : prevlen);
			if (c > 0 || (c == 0 && prevlen >= n))
				return -EBADMSG;	/* sorted, no duplicates */
		}
		prev = p;
		prevlen = n;
		p = nl + 1;
	}
	return 0;
}

bool dfs_sealed_listed(const uint8_t *list, size_t len, const char *path)
{
	const char *slash = strchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : strlen(path);
	const char *p = (const char *)list, *end = p + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		if ((size_t)(stop - p) == n && memcmp(p, path, n) == 0)
			return true;
		p = stop + 1;
	}
	return false;
}

bool dfs_sealed_field(struct dfs_db *db, const char *model, const char *path)
{
	struct dfs_pubkey id;
	uint8_t *list;
	size_t len;

	dfs_db_model_id(model, &id);
	if (dfs_db_get_meta(db, &id, "encrypted", &list, &len) < 0)
		return false;
	bool listed = path ? dfs_sealed_listed(list, len, path) : len > 0;
	free(list);
	return listed;
}

int dfs_sealed_key(struct dfs_db *db, const struct dfs_pubkey *obj, uint32_t epoch,
		   struct dfs_datakey *out)
{
	uint8_t *ks;
	size_t len;
	uint64_t gen;

	if (dfs_keycache_get(db->kc, obj, epoch, out, &gen))
		return 0;
	int rc = dfs_db_get_meta(db, obj, "datakey", &ks, &len);
	if (rc < 0)
		return rc == -ENOENT ? -EACCES : rc;
	rc = dfs_keyring_open_datakey(db->kr, ks, len, epoch, out);
	free(ks);
	if (rc == 0)
		dfs_keycache_put(db->kc, obj, epoch, out, gen);
	else if (rc == -ENOENT || rc == -EBADMSG || rc == -EINVAL)
		rc = -EACCES;	/* an epoch not here yet, or a keyset the owner got wrong */
	return rc;
}

/* The associated data of a value: the object's key, then the path. */
static int make_ad(struct dfs_buf *ad, const struct dfs_pubkey *obj, const char *path)
{
	dfs_buf_init(ad);
	dfs_buf_add(ad, obj->b, DFS_PUBKEY_LEN);
	dfs_buf_add(ad, path, strlen(path));
	return dfs_buf_ok(ad);
}

int dfs_sealed_seal(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		    const uint8_t *clear, size_t len, struct dfs_buf *out)
{
	struct dfs_datakey k;
	struct dfs_buf ad;
	uint32_t epoch;
	uint8_t *ks;
	size_t kslen;
	int rc = dfs_db_get_meta(db, obj, "datakey", &ks, &kslen);

	if (rc < 0)
		return rc == -ENOENT ? -EACCES : rc;
	rc = dfs_keyset_latest(ks, kslen, &epoch);
	free(ks);
	if (rc < 0)
		return -EACCES;
	rc = dfs_sealed_key(db, obj, epoch, &k);
	if (rc < 0)
		return rc;
	rc = make_ad(&ad, obj, path);
	if (rc == 0)
		rc = dfs_value_seal(&k, epoch, ad.data, ad.len, clear, len, out);
	dfs_datakey_wipe(&k);
	dfs_buf_release(&ad);
	return rc;
}

int dfs_sealed_open(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		    const uint8_t *sealed, size_t len, struct dfs_buf *out)
{
	struct dfs_datakey k;
	struct dfs_buf ad;
	uint32_t epoch;
	int rc = dfs_value_epoch(sealed, len, &epoch);

	if (rc < 0)
		return -EIO;
	rc = make_ad(&ad, obj, path);
	for (int attempt = 0; rc == 0 && attempt < 2; attempt++) {
		rc = dfs_sealed_key(db, obj, epoch, &k);
		if (rc < 0)
			break;
		rc = dfs_value_open(&k, ad.data, ad.len, sealed, len, out);
		dfs_datakey_wipe(&k);
		if (rc != -EBADMSG)
			break;
		/* A cached key that does not open it: ask the keyset once more. */
		dfs_keycache_drop(db->kc, obj, epoch);
		rc = attempt == 0 ? 0 : -EACCES;
	}
	dfs_buf_release(&ad);
	return rc;
}

int dfs_sealed_open_items(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
			  const uint8_t *v, size_t len, struct dfs_buf *out)
{
	struct dfs_item it;
	size_t off = 0;
	int rc;

	while ((rc = dfs_item_next(v, len, &off, &it)) == 1) {
		if (it.kind == DFS_ITEM_CLEAR) {
			dfs_buf_add(out, it.p, it.len);
			rc = dfs_buf_ok(out);
		} else {
			rc = dfs_sealed_open(db, obj, path, it.p, it.len, out);
		}
		if (rc < 0)
			return rc;
	}
	return rc < 0 ? -EIO : 0;
}

int dfs_sealed_stat_items(struct dfs_db *db, const struct dfs_pubkey *obj, const uint8_t *v,
			  size_t len, uint64_t *size, bool *readable)
{
	struct dfs_datakey k;
	struct dfs_item it;
	uint32_t epoch, known = 0;
	size_t off = 0;
	int rc;

	*size = 0;
	*readable = true;
	while ((rc = dfs_item_next(v, len, &off, &it)) == 1) {
		if (it.kind == DFS_ITEM_CLEAR) {
			*size += it.len;
			continue;
		}
		if (dfs_value_epoch(it.p, it.len, &epoch) < 0 || it.len < DFS_VALUE_OVERHEAD)
			return -EIO;
		*size += it.len - DFS_VALUE_OVERHEAD;
		if (!*readable || epoch == known)
			continue;
		rc = dfs_sealed_key(db, obj, epoch, &k);
		dfs_datakey_wipe(&k);
		if (rc == -EACCES)
			*readable = false;
		else if (rc < 0)
			return rc;
		known = epoch;
	}
	return rc < 0 ? -EIO : 0;
}

/* The lock of obj's keyset: object keys are random, so their first byte spreads them. */
pthread_rwlock_t *db_key_lock(struct dfs_db *db, const struct dfs_pubkey *obj)
{
	return &db->key_locks[obj->b[0] % KEY_LOCKS];
}

int db_key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, DFS_PUBKEY_LEN);
}

/* Whether any key of old is missing from keys (sorted, m of them). */
bool db_any_dropped(const uint8_t *old, size_t oldlen, const struct dfs_pubkey *keys, size_t m)
{
	for (size_t off = 0; off + DFS_PUBKEY_LEN <= oldlen; off += DFS_PUBKEY_LEN)
		if (!bsearch(old + off, keys, m, sizeof(*keys), db_key_cmp))
			return true;
	return false;
}

/*
 * Builds obj's next keyset, sealed to its owner and each of auth (the
 * .authorized list, authlen bytes): the same keys, plus a fresh one when
 * new_epoch (or when it has none yet). Called with db_key_lock(db, obj) held for writing.
 */
int db_make_keyset(struct dfs_db *db, const struct dfs_pubkey *obj, const uint8_t *auth,
		   size_t authlen, bool new_epoch, struct dfs_buf *ks)
{
	struct dfs_pubkey readers[DFS_KEYSET_MAX_READERS];
	uint8_t *old = NULL;
	size_t oldlen = 0, n = 0;
	int rc = dfs_db_get_meta(db, obj, "datakey", &old, &oldlen);

	if (rc < 0 && rc != -ENOENT)
		return rc;
	readers[n++] = *obj;
	for (size_t off = 0; off + DFS_PUBKEY_LEN <= authlen; off += DFS_PUBKEY_LEN) {
		if (n == DFS_KEYSET_MAX_READERS) {
			free(old);
			return -E2BIG;
		}
		memcpy(readers[n].b, auth + off, DFS_PUBKEY_LEN);
		/* A listed key that is not a point may sign nothing, nor read. */
		if (dfs_pubkey_sealable(&readers[n]))
			n++;
	}
	rc = dfs_keyring_rekey(db->kr, obj, old, oldlen, readers, n, new_epoch, ks);
	free(old);
	return rc;
}
