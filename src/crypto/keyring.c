// SPDX-License-Identifier: MIT
/* keyring.c - the private keys this node holds: node key and per-object keys */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "dinemicfs/keyring.h"
#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

#define BUCKETS 1024
#define MISS_LOG_MS 10000	/* a dropped miss cache is logged at most this often */
#define LOOK_EVERY_MS 1000	/* keys/ is looked at no more often than this */
#define RACY_NS 2000000000LL	/* an mtime this recent may hide a later change */
/*
 * Misses are cached for keys any peer can name: past this many, they are
 * all dropped (and looked up on disk again when asked), so a peer naming
 * new keys costs a stat each, never memory.
 */
#define MISSES_MAX 4096

struct held {
	struct held *next;
	struct dfs_pubkey pk;
	struct dfs_seckey sk;
	bool present;		/* false: looked for and not found (a cached miss) */
	bool locked;		/* sk's pages are locked (present keys only) */
	uint64_t gen;		/* a miss: kr->gen when it was looked for */
};

/*
 * Misses are cached, so a key imported while the node runs must be found
 * again: a miss holds the generation of keys/ it was looked up in, and a
 * look at keys/'s mtime (at most once a second, on a miss only) starts a
 * new generation when it changed, which sends older misses to the disk once
 * more. An mtime within RACY_NS of the clock may not show a file added in
 * the same clock tick, so it is not trusted: the next look starts another
 * generation. Hits never look at the disk again.
 */
struct dfs_keyring {
	char *dir;			/* STATE_DIR/keys */
	struct dfs_pubkey node_pk;
	pthread_rwlock_t lock;
	struct held *table[BUCKETS];	/* protected by lock */
	/* Buckets by a keyed hash: keys a peer chooses cannot all fall in one. */
	uint8_t bucket_key[crypto_shorthash_KEYBYTES];
	size_t misses;			/* entries with !present; protected by lock */
	uint64_t misses_dropped;	/* times they were all dropped; protected by lock */
	int64_t miss_logged_ms;		/* when that was last logged; protected by lock */
	_Atomic uint64_t gen;		/* generation of keys/ */
	_Atomic int64_t next_look_ms;	/* CLOCK_MONOTONIC_COARSE */
	pthread_mutex_t look_lock;	/* one thread looks at keys/ at a time */
	struct timespec seen_mtime;	/* protected by look_lock */
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
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, pk->b, DFS_PUBKEY_LEN, kr->bucket_key);
	memcpy(&v, h, sizeof(v));
	struct held **pp = &kr->table[v % BUCKETS];

	while (*pp && memcmp((*pp)->pk.b, pk->b, DFS_PUBKEY_LEN) != 0)
		pp = &(*pp)->next;
	return pp;
}

static int64_t coarse_ms(void);

/* Frees every cached miss. Called with kr->lock held exclusively. */
static void drop_misses(struct dfs_keyring *kr)
{
	for (size_t i = 0; i < BUCKETS; i++) {
		struct held **pp = &kr->table[i];
		while (*pp) {
			struct held *h = *pp;
			if (h->present) {
				pp = &h->next;
				continue;
			}
			*pp = h->next;
			free(h);
		}
	}
	kr->misses = 0;
}

/*
 * Keeps pk's key (present) or a miss for it. Called with kr->lock held
 * exclusively.
 */
static int hold(struct dfs_keyring *kr, const struct dfs_seckey *sk, bool present,
		uint64_t gen, const struct dfs_pubkey *pk)
{
	struct held **pp = slot(kr, pk);
	struct held *h = *pp;

	if (!h && !present && kr->misses >= MISSES_MAX) {
		drop_misses(kr);
		kr->misses_dropped++;
		int64_t now = coarse_ms();
		if (!kr->miss_logged_ms || now - kr->miss_logged_ms >= MISS_LOG_MS) {
			dfs_log(DFS_LOG_NOTICE, "keys: %d keys looked for and not held here were "
				"remembered; forgotten, to be looked up again (%llu times so far)",
				MISSES_MAX, (unsigned long long)kr->misses_dropped);
			kr->miss_logged_ms = now;
		}
		pp = slot(kr, pk);
	}
	if (!h) {
		h = calloc(1, sizeof(*h));
		if (!h)
			return -ENOMEM;
		h->pk = *pk;
		*pp = h;
		if (!present)
			kr->misses++;
	} else if (present && !h->present) {
		kr->misses--;
	}
	if (present && !h->locked) {
		/*
		 * Keep the secret key out of swap. Best effort: past
		 * RLIMIT_MEMLOCK the key is held anyway. The pages stay locked
		 * after free (munlock would unlock neighbours on the same page).
		 */
		sodium_mlock(&h->sk, sizeof(h->sk));
		h->locked = true;
	}
	if (present)
		h->sk = *sk;
	h->present = present;
	h->gen = gen;
	return 0;
}

size_t dfs_keyring_misses(struct dfs_keyring *kr)
{
	pthread_rwlock_rdlock(&kr->lock);
	size_t n = kr->misses;
	pthread_rwlock_unlock(&kr->lock);
	return n;
}

uint64_t dfs_keyring_misses_dropped(struct dfs_keyring *kr)
{
	pthread_rwlock_rdlock(&kr->lock);
	uint64_t n = kr->misses_dropped;
	pthread_rwlock_unlock(&kr->lock);
	return n;
}

static int64_t coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Stats keys/ and starts a new generation when it changed. Called with look_lock held. */
static void look_at_dir(struct dfs_keyring *kr)
{
	struct timespec now;
	struct stat st;

	if (stat(kr->dir, &st) < 0)
		return;
	if (st.st_mtim.tv_sec != kr->seen_mtime.tv_sec ||
	    st.st_mtim.tv_nsec != kr->seen_mtime.tv_nsec)
		atomic_fetch_add(&kr->gen, 1);
	kr->seen_mtime = st.st_mtim;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t age = (int64_t)(now.tv_sec - st.st_mtim.tv_sec) * 1000000000LL +
		      (now.tv_nsec - st.st_mtim.tv_nsec);
	if (age < RACY_NS)
		kr->seen_mtime.tv_nsec = -1;	/* never an mtime: the next look counts as a change */
}

/* The current generation of keys/, after a look at it when one is due. */
static uint64_t current_gen(struct dfs_keyring *kr)
{
	int64_t now = coarse_ms();

	if (now >= atomic_load(&kr->next_look_ms) && pthread_mutex_trylock(&kr->look_lock) == 0) {
		if (now >= atomic_load(&kr->next_look_ms)) {
			atomic_store(&kr->next_look_ms, now + LOOK_EVERY_MS);
			look_at_dir(kr);
		}
		pthread_mutex_unlock(&kr->look_lock);
	}
	return atomic_load(&kr->gen);
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
	rc = hold(kr, &sk, true, 0, &kr->node_pk);
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
	pthread_mutex_init(&kr->look_lock, NULL);
	crypto_shorthash_keygen(kr->bucket_key);
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
	pthread_mutex_lock(&kr->look_lock);
	look_at_dir(kr);
	pthread_mutex_unlock(&kr->look_lock);
	atomic_store(&kr->next_look_ms, coarse_ms() + LOOK_EVERY_MS);
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
	pthread_mutex_destroy(&kr->look_lock);
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
		rc = hold(kr, &sk, true, 0, pk);
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
		if (!h->present)
			kr->misses--;
		dfs_wipe(h, sizeof(*h));
		free(h);
	}
	pthread_rwlock_unlock(&kr->lock);
	if (key_path(kr, pk, path, sizeof(path)) == 0)
		unlink(path);
}

/* Finds pk in memory or on disk. Called with kr->lock held exclusively. */
static struct held *lookup(struct dfs_keyring *kr, const struct dfs_pubkey *pk)
{
	struct held *h = *slot(kr, pk);
	struct dfs_pubkey got;
	struct dfs_seckey sk;
	char path[PATH_MAX];
	/* Taken before the disk is read: a file added after it starts a newer generation. */
	uint64_t gen = atomic_load(&kr->gen);

	if (h && (h->present || h->gen == gen))
		return h->present ? h : NULL;
	if (key_path(kr, pk, path, sizeof(path)) < 0)
		return NULL;
	int rc = dfs_keyfile_read(path, &sk);
	if (rc == 0) {
		dfs_seckey_public(&sk, &got);
		if (memcmp(got.b, pk->b, DFS_PUBKEY_LEN) != 0) {
			dfs_log(DFS_LOG_WARNING, "%s holds another key; ignoring it", path);
			rc = -EBADMSG;
		}
	} else if (rc != -ENOENT) {
		dfs_log_errno(DFS_LOG_WARNING, -rc, "%s", path);
	}
	hold(kr, &sk, rc == 0, gen, pk);
	dfs_seckey_wipe(&sk);
	h = *slot(kr, pk);
	return h && h->present ? h : NULL;
}

/*
 * Finds pk under the shared lock; a first look at the disk, or another look
 * after keys/ changed, takes it exclusively.
 */
static struct held *find(struct dfs_keyring *kr, const struct dfs_pubkey *pk, bool *exclusive)
{
	pthread_rwlock_rdlock(&kr->lock);
	struct held *h = *slot(kr, pk);
	*exclusive = false;
	if (h && (h->present || h->gen == current_gen(kr)))
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

int dfs_keyring_node_secret(struct dfs_keyring *kr, struct dfs_seckey *sk)
{
	bool exclusive;
	struct held *h = find(kr, &kr->node_pk, &exclusive);

	if (h)
		*sk = h->sk;
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

/*
 * Key management on a state directory's files (`dinemicfs key`). These do
 * not open a keyring; the secret bytes they move stay in this file.
 */

int dfs_keyring_path(const char *state_dir, const struct dfs_pubkey *pk, char *out,
		     size_t outlen)
{
	char hex[2 * DFS_PUBKEY_LEN + 1];
	int n;

	if (!pk) {
		n = snprintf(out, outlen, "%s/node.key", state_dir);
	} else {
		dfs_hex_encode(hex, pk->b, DFS_PUBKEY_LEN);
		n = snprintf(out, outlen, "%s/keys/%s.key", state_dir, hex);
	}
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* fsyncs the directory that holds path. */
static int fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash)
		return fsync_dir(".");
	if (slash == path)
		return fsync_dir("/");
	if ((size_t)(slash - path) >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	return fsync_dir(dir);
}

/* mkdir 0700 that accepts an existing directory; fsyncs the parent of a new one. */
static int make_dir(const char *dir)
{
	if (mkdir(dir, 0700) == 0)
		return fsync_parent(dir);
	if (errno != EEXIST)
		return -errno;
	struct stat st;
	if (stat(dir, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Reads the key file at path and checks that it is pk's (when pk is not NULL). */
static int read_key(const char *path, const struct dfs_pubkey *pk, struct dfs_seckey *sk)
{
	struct dfs_pubkey got;
	int rc = dfs_keyfile_read(path, sk);

	if (rc == 0 && pk) {
		dfs_seckey_public(sk, &got);
		if (memcmp(got.b, pk->b, DFS_PUBKEY_LEN) != 0)
			rc = -EBADMSG;
	}
	if (rc < 0)
		dfs_seckey_wipe(sk);
	return rc;
}

int dfs_keyring_export(const char *state_dir, const struct dfs_pubkey *pk, const char *path)
{
	struct dfs_seckey sk;
	char src[PATH_MAX];
	int rc = dfs_keyring_path(state_dir, pk, src, sizeof(src));

	if (rc < 0)
		return rc;
	rc = read_key(src, pk, &sk);
	if (rc == -ENOENT && pk) {
		/* A public key given in hex may be the node's own (.node/id). */
		if (dfs_keyring_path(state_dir, NULL, src, sizeof(src)) == 0 &&
		    read_key(src, pk, &sk) == 0)
			rc = 0;
	}
	if (rc < 0)
		goto out;
	rc = dfs_keyfile_write(path, &sk);
	if (rc == 0)
		rc = fsync_parent(path);
out:
	dfs_seckey_wipe(&sk);
	return rc;
}

int dfs_keyring_import(const char *state_dir, const char *path, bool node, struct dfs_pubkey *pk)
{
	char hex[2 * DFS_PUBKEY_LEN + 1], rnd[9];
	char dir[PATH_MAX], dest[PATH_MAX], tmp[PATH_MAX];
	struct dfs_seckey sk, old;
	uint8_t r[4];
	int rc = dfs_keyfile_read(path, &sk);

	if (rc < 0)
		goto out;
	dfs_seckey_public(&sk, pk);
	dfs_hex_encode(hex, pk->b, DFS_PUBKEY_LEN);
	dfs_random(r, sizeof(r));
	dfs_hex_encode(rnd, r, sizeof(r));
	rc = make_dir(state_dir);
	if (rc < 0)
		goto out;
	if (snprintf(dir, sizeof(dir), "%s%s", state_dir, node ? "" : "/keys") >= (int)sizeof(dir) ||
	    dfs_keyring_path(state_dir, node ? NULL : pk, dest, sizeof(dest)) < 0 ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.%s.tmp", dir, hex, rnd) >= (int)sizeof(tmp)) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	if (!node) {
		rc = make_dir(dir);
		if (rc < 0)
			goto out;
		struct stat st;
		if (lstat(dest, &st) == 0) {
			rc = -EEXIST;
			goto out;
		}
	} else if (read_key(dest, pk, &old) == 0) {
		dfs_seckey_wipe(&old);
		rc = -EEXIST;
		goto out;
	}
	/*
	 * Written whole and fsynced under a name the keyring never looks up,
	 * then moved into place in one step: a running node never reads half a
	 * key, and the old node key stays until the new one is on disk.
	 */
	rc = dfs_keyfile_write(tmp, &sk);
	if (rc < 0)
		goto out;
	if (node ? rename(tmp, dest) < 0 : link(tmp, dest) < 0)
		rc = -errno;
	if (rc < 0 || !node)
		unlink(tmp);
	if (rc == 0)
		rc = fsync_dir(dir);
out:
	dfs_seckey_wipe(&sk);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "HEX.key" with 64 lowercase hex digits, as the keyring names them. */
static bool is_key_name(const char *name, struct dfs_pubkey *pk)
{
	size_t n = strlen(name);

	if (n != 2 * DFS_PUBKEY_LEN + 4 || strcmp(name + 2 * DFS_PUBKEY_LEN, ".key") != 0)
		return false;
	for (size_t i = 0; i < 2 * DFS_PUBKEY_LEN; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	return dfs_hex_decode(pk->b, DFS_PUBKEY_LEN, name, 2 * DFS_PUBKEY_LEN) == 0;
}

/* The key file names in d, collected into *names (*n of them, each to free);
 * 0 or -ENOMEM. */
static int key_names(DIR *d, struct dfs_pubkey *pk, char ***names, size_t *n)
{
	struct dirent *de;
	size_t cap = 0;

	while ((de = readdir(d))) {
		if (!is_key_name(de->d_name, pk))
			continue;
		if (*n == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			char **bigger = realloc(*names, ncap * sizeof(**names));
			if (!bigger)
				return -ENOMEM;
			*names = bigger;
			cap = ncap;
		}
		(*names)[*n] = strdup(de->d_name);
		if (!(*names)[*n])
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

int dfs_keyring_list(const char *state_dir, dfs_keyring_list_fn fn, void *ctx)
{
	struct dfs_pubkey pk;
	struct dfs_seckey sk;
	char path[PATH_MAX], dir[PATH_MAX];
	char **names = NULL;
	size_t n = 0;
	int rc, stop = 0;

	rc = dfs_keyring_path(state_dir, NULL, path, sizeof(path));
	if (rc < 0)
		return rc;
	rc = read_key(path, NULL, &sk);
	if (rc == 0)
		dfs_seckey_public(&sk, &pk);
	dfs_seckey_wipe(&sk);
	if (rc != -ENOENT)
		stop = fn(ctx, path, true, rc == 0 ? &pk : NULL, rc);
	if (stop)
		return stop;
	if (snprintf(dir, sizeof(dir), "%s/keys", state_dir) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	rc = key_names(d, &pk, &names, &n);
	if (rc < 0)
		goto out;
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n && !stop; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path))
			continue;
		is_key_name(names[i], &pk);
		int err = read_key(path, &pk, &sk);
		dfs_seckey_wipe(&sk);
		stop = fn(ctx, path, false, &pk, err);
	}
	if (stop)
		rc = stop;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}
