// SPDX-License-Identifier: MIT
/* keyring.c - the private keys this node holds: node key and per-object keys */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dinemicfs/keyring.h"
#include "dinemicfs/log.h"
#include "dinemicfs/util.h"

#define BUCKETS 256

struct held {
	struct held *next;
	struct dfs_pubkey pk;
	struct dfs_seckey sk;
	bool present;		/* false: looked for and not found (a cached miss) */
};

struct dfs_keyring {
	char *dir;			/* STATE_DIR/keys */
	struct dfs_pubkey node_pk;
	pthread_rwlock_t lock;
	struct held *table[BUCKETS];	/* protected by lock */
};

static int key_path(const struct dfs_keyring *kr, const struct dfs_pubkey *pk, char *out,
		    size_t outlen)
{
	char hex[2 * DFS_PUBKEY_LEN + 1];

	dfs_hex_encode(hex, pk->b, DFS_PUBKEY_LEN);
	int n = snprintf(out, outlen, "%s/%s.key", kr->dir, hex);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static struct held **slot(struct dfs_keyring *kr, const struct dfs_pubkey *pk)
{
	struct held **pp = &kr->table[pk->b[0] ^ pk->b[31]];

	while (*pp && memcmp((*pp)->pk.b, pk->b, DFS_PUBKEY_LEN) != 0)
		pp = &(*pp)->next;
	return pp;
}

static int hold(struct dfs_keyring *kr, const struct dfs_seckey *sk, bool present,
		const struct dfs_pubkey *pk)
{
	struct held **pp = slot(kr, pk);
	struct held *h = *pp;

	if (!h) {
		h = calloc(1, sizeof(*h));
		if (!h)
			return -ENOMEM;
		h->pk = *pk;
		*pp = h;
	}
	if (present)
		h->sk = *sk;
	h->present = present;
	return 0;
}

static int load_node_key(struct dfs_keyring *kr, const char *state_dir)
{
	struct dfs_seckey sk;
	char path[PATH_MAX];
	int rc;

	if (snprintf(path, sizeof(path), "%s/node.key", state_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	rc = dfs_keyfile_read(path, &sk);
	if (rc == -ENOENT) {
		struct dfs_pubkey pk;
		rc = dfs_keys_generate(&pk, &sk);
		if (rc == 0)
			rc = dfs_keyfile_write(path, &sk);
		if (rc == 0)
			dfs_log(DFS_LOG_NOTICE, "created node identity in %s", path);
	}
	if (rc < 0) {
		dfs_log_errno(DFS_LOG_ERR, -rc, "%s", path);
		goto out;
	}
	dfs_seckey_public(&sk, &kr->node_pk);
	rc = hold(kr, &sk, true, &kr->node_pk);
out:
	dfs_seckey_wipe(&sk);
	return rc;
}

struct dfs_keyring *dfs_keyring_open(const char *state_dir)
{
	struct dfs_keyring *kr = calloc(1, sizeof(*kr));
	int rc;

	if (!kr)
		return NULL;
	pthread_rwlock_init(&kr->lock, NULL);
	if (asprintf(&kr->dir, "%s/keys", state_dir) < 0) {
		kr->dir = NULL;
		rc = -ENOMEM;
		goto out_free;
	}
	if (mkdir(kr->dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		dfs_log_errno(DFS_LOG_ERR, errno, "%s", kr->dir);
		goto out_free;
	}
	rc = load_node_key(kr, state_dir);
	if (rc < 0)
		goto out_free;
	return kr;

out_free:
	dfs_keyring_free(kr);
	errno = -rc;
	return NULL;
}

void dfs_keyring_free(struct dfs_keyring *kr)
{
	if (!kr)
		return;
	for (size_t i = 0; i < BUCKETS; i++) {
		struct held *h = kr->table[i];
		while (h) {
			struct held *next = h->next;
			dfs_wipe(h, sizeof(*h));
			free(h);
			h = next;
		}
	}
	pthread_rwlock_destroy(&kr->lock);
	free(kr->dir);
	free(kr);
}

const struct dfs_pubkey *dfs_keyring_node(const struct dfs_keyring *kr)
{
	return &kr->node_pk;
}

int dfs_keyring_create(struct dfs_keyring *kr, struct dfs_pubkey *pk)
{
	struct dfs_seckey sk;
	char path[PATH_MAX];
	int rc = dfs_keys_generate(pk, &sk);

	if (rc == 0)
		rc = key_path(kr, pk, path, sizeof(path));
	if (rc == 0)
		rc = dfs_keyfile_write(path, &sk);
	if (rc == 0) {
		pthread_rwlock_wrlock(&kr->lock);
		rc = hold(kr, &sk, true, pk);
		pthread_rwlock_unlock(&kr->lock);
	}
	dfs_seckey_wipe(&sk);
	return rc;
}

void dfs_keyring_discard(struct dfs_keyring *kr, const struct dfs_pubkey *pk)
{
	char path[PATH_MAX];

	pthread_rwlock_wrlock(&kr->lock);
	struct held **pp = slot(kr, pk);
	struct held *h = *pp;
	if (h) {
		*pp = h->next;
		dfs_wipe(h, sizeof(*h));
		free(h);
	}
	pthread_rwlock_unlock(&kr->lock);
	if (key_path(kr, pk, path, sizeof(path)) == 0)
		unlink(path);
}

/* Finds pk in memory or on disk. Called with kr->lock held. */
static struct held *lookup(struct dfs_keyring *kr, const struct dfs_pubkey *pk)
{
	struct held *h = *slot(kr, pk);
	struct dfs_seckey sk;
	char path[PATH_MAX];

	if (h)
		return h->present ? h : NULL;
	if (key_path(kr, pk, path, sizeof(path)) < 0)
		return NULL;
	int rc = dfs_keyfile_read(path, &sk);
	if (rc < 0 && rc != -ENOENT)
		dfs_log_errno(DFS_LOG_WARNING, -rc, "%s", path);
	hold(kr, &sk, rc == 0, pk);
	dfs_seckey_wipe(&sk);
	h = *slot(kr, pk);
	return h && h->present ? h : NULL;
}

/* Finds pk under the shared lock; only a first look at the disk takes it exclusively. */
static struct held *find(struct dfs_keyring *kr, const struct dfs_pubkey *pk, bool *exclusive)
{
	pthread_rwlock_rdlock(&kr->lock);
	struct held *h = *slot(kr, pk);
	*exclusive = false;
	if (h)
		return h->present ? h : NULL;
	pthread_rwlock_unlock(&kr->lock);
	pthread_rwlock_wrlock(&kr->lock);
	*exclusive = true;
	return lookup(kr, pk);
}

bool dfs_keyring_has(struct dfs_keyring *kr, const struct dfs_pubkey *pk)
{
	bool exclusive;
	bool has = find(kr, pk, &exclusive) != NULL;

	pthread_rwlock_unlock(&kr->lock);
	return has;
}

int dfs_keyring_sign(struct dfs_keyring *kr, const struct dfs_pubkey *pk, const uint8_t *msg,
		     size_t len, uint8_t sig[DFS_SIG_LEN])
{
	bool exclusive;
	struct held *h = find(kr, pk, &exclusive);

	if (h)
		dfs_sign(sig, msg, len, &h->sk);
	pthread_rwlock_unlock(&kr->lock);
	return h ? 0 : -ENOKEY;
}

int dfs_keyring_open_datakey(struct dfs_keyring *kr, const uint8_t *keyset, size_t len,
			     uint32_t epoch, struct dfs_datakey *out)
{
	struct dfs_pubkey readers[DFS_KEYSET_MAX_READERS];
	size_t n;
	int rc = dfs_keyset_readers(keyset, len, epoch, readers, DFS_KEYSET_MAX_READERS, &n);

	if (rc < 0)
		return rc == -ERANGE ? -EBADMSG : rc;
	rc = -EACCES;
	for (size_t i = 0; i < n && rc == -EACCES; i++) {
		bool exclusive;
		struct held *h = find(kr, &readers[i], &exclusive);
		if (h)
			rc = dfs_keyset_open(keyset, len, epoch, &h->pk, &h->sk, out);
		pthread_rwlock_unlock(&kr->lock);
	}
	return rc;
}

int dfs_keyring_rekey(struct dfs_keyring *kr, const struct dfs_pubkey *owner, const uint8_t *old,
		      size_t oldlen, const struct dfs_pubkey *readers, size_t nreaders,
		      bool new_epoch, struct dfs_buf *out)
{
	bool exclusive;
	struct held *h = find(kr, owner, &exclusive);
	int rc = h ? dfs_keyset_rotate(old, oldlen, &h->pk, &h->sk, readers, nreaders, new_epoch,
				       out)
		   : -ENOKEY;

	pthread_rwlock_unlock(&kr->lock);
	return rc;
}
