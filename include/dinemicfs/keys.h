/* SPDX-License-Identifier: MIT */
/*
 * keys.h - Ed25519 key pairs, signatures, hashes and key files (libsodium).
 *
 * A public key is 32 bytes; a secret key is libsodium's 64-byte form (seed
 * followed by the public key) and lives only in struct dfs_seckey, which
 * callers wipe with dfs_seckey_wipe() on every path. Hashes are BLAKE2b-256.
 *
 * Key file format (70 bytes): "DFSK", version 1, algorithm 1 (Ed25519), the
 * 64-byte secret key. Files are created with O_EXCL|O_NOFOLLOW and mode 0600;
 * a key file that others can read or write is refused.
 *
 * The network key file (dfs_netkey_read) holds the 32-byte key that proves
 * membership to peers: raw, or as 64 hex digits; it must be mode 0600 too.
 */
#ifndef DINEMICFS_KEYS_H
#define DINEMICFS_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DFS_PUBKEY_LEN 32
#define DFS_SECKEY_LEN 64
#define DFS_SIG_LEN 64
#define DFS_HASH_LEN 32

struct dfs_pubkey {
	uint8_t b[DFS_PUBKEY_LEN];
};

struct dfs_seckey {
	uint8_t b[DFS_SECKEY_LEN];
};

struct dfs_hash {
	uint8_t b[DFS_HASH_LEN];
};

/** Initialises libsodium once; returns 0 or -EIO when it is unusable. */
int dfs_crypto_init(void);

/** Makes a fresh key pair; returns 0 or -EIO. */
int dfs_keys_generate(struct dfs_pubkey *pk, struct dfs_seckey *sk);
/** Extracts the public half of sk. */
void dfs_seckey_public(const struct dfs_seckey *sk, struct dfs_pubkey *pk);
/** Wipes a secret key. */
void dfs_seckey_wipe(struct dfs_seckey *sk);
/** Wipes n bytes at p. */
void dfs_wipe(void *p, size_t n);

/** Signs msg with sk; writes DFS_SIG_LEN bytes into sig. */
void dfs_sign(uint8_t sig[DFS_SIG_LEN], const uint8_t *msg, size_t len, const struct dfs_seckey *sk);
/** Returns 0 when sig is pk's signature of msg, else -EBADMSG. */
int dfs_verify(const uint8_t sig[DFS_SIG_LEN], const uint8_t *msg, size_t len,
	       const struct dfs_pubkey *pk);

/** BLAKE2b-256 of (a, alen) followed by (b, blen); b may be NULL with blen 0. */
void dfs_hash2(struct dfs_hash *out, const void *a, size_t alen, const void *b, size_t blen);

#define DFS_MAC_KEY_LEN 32

/** Fills out with n random bytes. */
void dfs_random(void *out, size_t n);
/**
 * Keeps n bytes at p out of swap (best effort: past RLIMIT_MEMLOCK they are
 * kept anyway). For secrets that live as long as the process.
 */
void dfs_secret_lock(void *p, size_t n);
/** Keyed BLAKE2b-256 of msg: proves knowledge of a shared key. */
void dfs_mac(uint8_t out[DFS_HASH_LEN], const uint8_t key[DFS_MAC_KEY_LEN], const void *msg,
	     size_t len);

/** Constant-time equality of two byte strings of length n. */
bool dfs_mem_equal(const void *a, const void *b, size_t n);

/**
 * Writes sk to a new key file at path (O_CREAT|O_EXCL|O_NOFOLLOW, 0600) and
 * fsyncs it. Returns 0 or a negative errno (-EEXIST when it exists).
 */
int dfs_keyfile_write(const char *path, const struct dfs_seckey *sk);
/**
 * Reads a key file. Returns 0, -ENOENT, -EPERM when the file is readable or
 * writable by group or others (it is not read), or -EBADMSG when malformed
 * (also when the secret key's public half does not belong to its seed).
 */
int dfs_keyfile_read(const char *path, struct dfs_seckey *sk);

/**
 * Reads the network key (-o network_key=FILE) into key: a file of exactly
 * 32 bytes is the raw key, whatever they are; otherwise it must hold 64 hex
 * digits, optionally followed by line ends. A file that group or others can
 * access is refused. Returns 0, or -1 after printing one line on stderr
 * ("dinemicfs: network_key FILE ..."). The bytes read are wiped on every
 * path, and key too when -1 is returned; the caller wipes key after use.
 */
int dfs_netkey_read(const char *path, uint8_t key[DFS_MAC_KEY_LEN]);

#endif
