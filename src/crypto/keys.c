// SPDX-License-Identifier: MIT
/* keys.c - key pairs, signatures, hashes and key files; the only user of libsodium */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "dinemicfs/keys.h"
#include "dinemicfs/log.h"
#include "dinemicfs/util.h"

_Static_assert(crypto_sign_PUBLICKEYBYTES == DFS_PUBKEY_LEN, "public key size");
_Static_assert(crypto_sign_SECRETKEYBYTES == DFS_SECKEY_LEN, "secret key size");
_Static_assert(crypto_sign_BYTES == DFS_SIG_LEN, "signature size");

#define KEYFILE_MAGIC "DFSK"
#define KEYFILE_VERSION 1
#define KEYFILE_ALG_ED25519 1
#define KEYFILE_LEN (4 + 1 + 1 + DFS_SECKEY_LEN)

int dfs_crypto_init(void)
{
	if (sodium_init() < 0) {
		dfs_log(DFS_LOG_ERR, "libsodium cannot be initialised");
		return -EIO;
	}
	return 0;
}

int dfs_keys_generate(struct dfs_pubkey *pk, struct dfs_seckey *sk)
{
	if (crypto_sign_keypair(pk->b, sk->b) != 0)
		return -EIO;
	return 0;
}

void dfs_seckey_public(const struct dfs_seckey *sk, struct dfs_pubkey *pk)
{
	crypto_sign_ed25519_sk_to_pk(pk->b, sk->b);
}

void dfs_seckey_wipe(struct dfs_seckey *sk)
{
	sodium_memzero(sk, sizeof(*sk));
}

void dfs_wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}

void dfs_sign(uint8_t sig[DFS_SIG_LEN], const uint8_t *msg, size_t len, const struct dfs_seckey *sk)
{
	crypto_sign_detached(sig, NULL, msg, len, sk->b);
}

int dfs_verify(const uint8_t sig[DFS_SIG_LEN], const uint8_t *msg, size_t len,
	       const struct dfs_pubkey *pk)
{
	return crypto_sign_verify_detached(sig, msg, len, pk->b) == 0 ? 0 : -EBADMSG;
}

void dfs_hash2(struct dfs_hash *out, const void *a, size_t alen, const void *b, size_t blen)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, DFS_HASH_LEN);
	crypto_generichash_update(&st, a, alen);
	if (blen)
		crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, out->b, DFS_HASH_LEN);
}

void dfs_random(void *out, size_t n)
{
	randombytes_buf(out, n);
}

void dfs_secret_lock(void *p, size_t n)
{
	sodium_mlock(p, n);
}

void dfs_mac(uint8_t out[DFS_HASH_LEN], const uint8_t key[DFS_MAC_KEY_LEN], const void *msg,
	     size_t len)
{
	crypto_generichash(out, DFS_HASH_LEN, msg, len, key, DFS_MAC_KEY_LEN);
}

bool dfs_mem_equal(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

int dfs_keyfile_write(const char *path, const struct dfs_seckey *sk)
{
	uint8_t rec[KEYFILE_LEN];
	int rc = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	memcpy(rec, KEYFILE_MAGIC, 4);
	rec[4] = KEYFILE_VERSION;
	rec[5] = KEYFILE_ALG_ED25519;
	memcpy(rec + 6, sk->b, DFS_SECKEY_LEN);
	if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec) || fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	sodium_memzero(rec, sizeof(rec));
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		unlink(path);
	return rc;
}

int dfs_keyfile_read(const char *path, struct dfs_seckey *sk)
{
	uint8_t rec[KEYFILE_LEN + 1];
	struct stat st;
	int rc = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EBADMSG;
		goto out_close;
	}
	if (st.st_mode & 077) {
		dfs_log(DFS_LOG_ERR, "%s: key file is accessible by others (mode %03o); "
			"refusing it, run chmod 600", path, (unsigned)(st.st_mode & 0777));
		rc = -EPERM;
		goto out_close;
	}
	ssize_t n = read(fd, rec, sizeof(rec));
	if (n < 0) {
		rc = -errno;
		goto out_wipe;
	}
	if (n != KEYFILE_LEN || memcmp(rec, KEYFILE_MAGIC, 4) != 0 ||
	    rec[4] != KEYFILE_VERSION || rec[5] != KEYFILE_ALG_ED25519) {
		rc = -EBADMSG;
		goto out_wipe;
	}
	/* libsodium's form is seed then public key: both halves must belong together. */
	uint8_t pk[DFS_PUBKEY_LEN], again[DFS_SECKEY_LEN];
	if (crypto_sign_seed_keypair(pk, again, rec + 6) != 0 ||
	    sodium_memcmp(pk, rec + 6 + crypto_sign_SEEDBYTES, DFS_PUBKEY_LEN) != 0)
		rc = -EBADMSG;
	else
		memcpy(sk->b, rec + 6, DFS_SECKEY_LEN);
	sodium_memzero(again, sizeof(again));
out_wipe:
	sodium_memzero(rec, sizeof(rec));
out_close:
	close(fd);
	return rc;
}

/* The network key: 32 bytes, raw or as 64 hex digits, readable by us only. */
int dfs_netkey_read(const char *path, uint8_t key[DFS_MAC_KEY_LEN])
{
	char buf[160];
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb) < 0) {
		fprintf(stderr, "dinemicfs: network_key %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		dfs_wipe(key, DFS_MAC_KEY_LEN);
		return -1;
	}
	if (sb.st_mode & 077) {
		fprintf(stderr, "dinemicfs: network_key %s is readable by others; chmod 600 it\n",
			path);
		close(fd);
		dfs_wipe(key, DFS_MAC_KEY_LEN);
		return -1;
	}
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	/* Exactly 32 bytes are the raw key, whatever they are; hex may end in a newline. */
	while (n != DFS_MAC_KEY_LEN && n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n == DFS_MAC_KEY_LEN) {
		memcpy(key, buf, DFS_MAC_KEY_LEN);
	} else if (n != 2 * DFS_MAC_KEY_LEN ||
		   dfs_hex_decode(key, DFS_MAC_KEY_LEN, buf, (size_t)n) < 0) {
		fprintf(stderr, "dinemicfs: network_key %s must hold 32 bytes or 64 hex digits\n",
			path);
		dfs_wipe(buf, sizeof(buf));
		dfs_wipe(key, DFS_MAC_KEY_LEN);
		return -1;
	}
	dfs_wipe(buf, sizeof(buf));
	return 0;
}
