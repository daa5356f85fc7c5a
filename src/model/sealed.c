// SPDX-License-Identifier: MIT
/* sealed.c - encrypted fields: listed names, data keys and keysets, sealing and opening values */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
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

struct lists_ctx {
	struct dfs_db *db;
	db_encrypted_fn fn;
	void *arg;
	int stop;		/* fn's non-zero return: the scan returns 0 for a positive one */
	bool seen;		/* a list record was found */
};

static int list_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct lists_ctx *lc = arg;
	struct dfs_meta_rec m;

	lc->seen = true;
	/* A record that cannot be read might list anything: nobody can tell. */
	if (dfs_meta_rec_decode(val, vlen, &m) < 0 || dfs_sealed_check_list(m.value, m.len) < 0)
		return db_corrupt(lc->db, "encrypted list", key, klen);
	lc->stop = lc->fn(&m.signer, m.value, m.len, lc->arg);
	return lc->stop;
}

/*
 * Models found to have no list, so that a write need not scan the store
 * for them each time: a slot holds while encrypted_gen stays what it was
 * before the scan (db_stage_locked() moves it once a list change is staged).
 */
static struct db_unlisted *unlisted_slot(struct dfs_db *db, const char *model)
{
	size_t h = 5381;

	for (const char *p = model; *p; p++)
		h = h * 33 + (unsigned char)*p;
	return &db->unlisted[h % DB_UNLISTED_SLOTS];
}

void db_unlisted_init(struct dfs_db *db)
{
	pthread_mutex_init(&db->unlisted_lock, NULL);
	atomic_init(&db->encrypted_gen, 1);
}

static bool known_unlisted(struct dfs_db *db, const char *model)
{
	struct db_unlisted *s = unlisted_slot(db, model);
	uint64_t gen = atomic_load(&db->encrypted_gen);

	pthread_mutex_lock(&db->unlisted_lock);
	bool yes = s->gen == gen && strcmp(s->model, model) == 0;
	pthread_mutex_unlock(&db->unlisted_lock);
	return yes;
}

static void note_unlisted(struct dfs_db *db, const char *model, uint64_t gen)
{
	struct db_unlisted *s = unlisted_slot(db, model);

	if (strlen(model) >= sizeof(s->model))
		return;
	pthread_mutex_lock(&db->unlisted_lock);
	s->gen = gen;
	strcpy(s->model, model);
	pthread_mutex_unlock(&db->unlisted_lock);
}

int db_encrypted_lists(struct dfs_db *db, const char *model, db_encrypted_fn fn, void *arg)
{
	struct lists_ctx lc = { db, fn, arg, 0, false };
	struct dfs_pubkey id;
	struct dfs_buf prefix;

	if (known_unlisted(db, model))
		return 0;
	uint64_t gen = atomic_load(&db->encrypted_gen);
	dfs_db_model_id(model, &id);
	dfs_buf_init(&prefix);
	dfs_key_meta(&prefix, &id, "encrypted");
	int rc = dfs_buf_ok(&prefix);
	if (rc == 0)
		rc = dfs_store_scan(db->st, prefix.data, prefix.len, list_one, &lc);
	dfs_buf_release(&prefix);
	if (rc == 0 && !lc.seen)
		note_unlisted(db, model, gen);
	return rc < 0 ? rc : lc.stop;
}

static int listed_one(const struct dfs_pubkey *signer, const uint8_t *list, size_t len,
		      void *arg)
{
	const char *path = arg;

	(void)signer;
	return path ? dfs_sealed_listed(list, len, path) : len > 0;
}

/*
 * Whether a field is listed, remembered per MODEL/PATH while encrypted_gen
 * stays: a write to an encrypted field asks twice (the open and the
 * change), and the lists would be scanned each time.
 */
static struct db_listed *listed_slot(struct dfs_db *db, const char *key)
{
	size_t h = 5381;

	for (const char *p = key; *p; p++)
		h = h * 33 + (unsigned char)*p;
	return &db->listed[h % DB_LISTED_SLOTS];
}

int dfs_sealed_field(struct dfs_db *db, const char *model, const char *path)
{
	char key[DB_LISTED_KEY];
	int n = path ? snprintf(key, sizeof(key), "%s/%s", model, path) : -1;
	bool keep = n > 0 && (size_t)n < sizeof(key);
	struct db_listed *s = keep ? listed_slot(db, key) : NULL;
	uint64_t gen = atomic_load(&db->encrypted_gen);
	int answer = -1;

	if (s) {
		pthread_mutex_lock(&db->unlisted_lock);
		if (s->gen == gen && strcmp(s->key, key) == 0)
			answer = s->answer;
		pthread_mutex_unlock(&db->unlisted_lock);
	}
	if (answer >= 0)
		return answer;
	answer = db_encrypted_lists(db, model, listed_one, (void *)path);
	if (s && answer >= 0) {
		pthread_mutex_lock(&db->unlisted_lock);
		s->gen = gen;
		s->answer = answer > 0;
		strcpy(s->key, key);
		pthread_mutex_unlock(&db->unlisted_lock);
	}
	return answer < 0 ? answer : answer > 0;
}

int dfs_db_field_encrypted(struct dfs_db *db, const char *model, const char *path)
{
	return dfs_sealed_field(db, model, path);
}

static int gather_one(const struct dfs_pubkey *signer, const uint8_t *list, size_t len,
		      void *arg)
{
	(void)signer;
	dfs_buf_add(arg, list, len);
	return dfs_buf_ok(arg);
}

int db_names_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int db_names_sort(struct dfs_buf *lines, char ***out, size_t *n)
{
	size_t cap = 0, m = 0;
	char **v;

	for (size_t i = 0; i < lines->len; i++)
		cap += lines->data[i] == '\n';
	v = malloc((cap ? cap : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0, start = 0; i < lines->len; i++) {
		if (lines->data[i] != '\n')
			continue;
		lines->data[i] = '\0';
		v[m++] = (char *)lines->data + start;
		start = i + 1;
	}
	qsort(v, m, sizeof(*v), db_names_cmp);
	*n = 0;
	for (size_t i = 0; i < m; i++)
		if (*n == 0 || strcmp(v[*n - 1], v[i]) != 0)
			v[(*n)++] = v[i];
	*out = v;
	return 0;
}

int dfs_db_get_encrypted(struct dfs_db *db, const char *model, struct dfs_buf *out)
{
	struct dfs_model_rec m;
	struct dfs_buf all;
	char **names = NULL;
	size_t n = 0;
	int rc = dfs_db_get_model(db, model, &m);

	if (rc < 0)
		return rc;
	dfs_buf_init(&all);
	rc = db_encrypted_lists(db, model, gather_one, &all);
	if (rc == 0)
		rc = db_names_sort(&all, &names, &n);
	for (size_t i = 0; rc == 0 && i < n; i++)
		dfs_buf_printf(out, "%s\n", names[i]);
	free(names);
	dfs_buf_release(&all);
	return rc < 0 ? rc : dfs_buf_ok(out);
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
	/* Clear values live in locked memory, wiped when freed. */
	if (dfs_buf_make_secret(out) < 0)
		return -ENOMEM;
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
