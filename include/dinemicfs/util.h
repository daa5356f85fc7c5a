/* SPDX-License-Identifier: MIT */
/* util.h - hex encoding, the contract's name rules, the monotonic clock, secret memory */
#ifndef DINEMICFS_UTIL_H
#define DINEMICFS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DFS_NAME_MAX 255

struct dfs_buf;

/** Writes 2*n lowercase hex digits and a NUL into out (2*n+1 bytes). */
void dfs_hex_encode(char *out, const uint8_t *p, size_t n);
/** Decodes exactly 2*n hex digits from s into out; returns 0 or -EINVAL. */
int dfs_hex_decode(uint8_t *out, size_t n, const char *s, size_t slen);

/**
 * Checks a model, object, dict or field name: 1..255 bytes, no '/', no
 * control bytes (below 0x20, and 0x7f; NUL among them), not "." or "..".
 * Returns 0, -ENAMETOOLONG or -EINVAL. Every new name passes it: local
 * ones and those in remote updates.
 */
int dfs_name_check(const char *name, size_t len);

/**
 * dfs_name_check() as earlier releases had it, letting control bytes other
 * than NUL through: for names read back from a store, which may hold some
 * from before (they are found and shown, escaped, but never made anew).
 */
int dfs_name_check_stored(const char *name, size_t len);

/**
 * Appends name (len bytes) to out as generated files show names: a control
 * byte as \xHH (two lowercase hex digits), a backslash as two, every
 * other byte as it is. So no name can start a line or move a terminal's
 * cursor, and the text shown tells names apart.
 */
void dfs_name_escape(struct dfs_buf *out, const char *name, size_t len);

/** True for names beginning with '.', reserved for the entries the contract names. */
bool dfs_name_is_dot(const char *name);

/**
 * True for node-local scratch files: names beginning with '.', ending in
 * '~', vim's probe "4913", and "sed" followed by exactly six letters or
 * digits (GNU sed -i's temporary file).
 */
bool dfs_name_is_scratch(const char *name);

/** Milliseconds of CLOCK_MONOTONIC: for intervals, never for dates. */
uint64_t dfs_monotonic_ms(void);

/** FNV-1a's offset basis: where a hash of nothing starts. */
#define DFS_FNV_BASIS 1469598103934665603ull

/** h (DFS_FNV_BASIS to start) moved on by the n bytes at p: FNV-1a, for hash tables. */
static inline uint64_t dfs_fnv1a(uint64_t h, const void *p, size_t n)
{
	for (const unsigned char *c = p; n > 0; c++, n--)
		h = (h ^ *c) * 1099511628211ull;
	return h;
}

/*
 * Memory for clear values of encrypted fields (secret.c): locked where
 * RLIMIT_MEMLOCK allows, left out of core dumps, wiped when freed.
 */
/** n bytes (16-byte aligned), or NULL. */
void *dfs_secret_alloc(size_t n);
/** Wipes and frees what dfs_secret_alloc() gave; accepts NULL. */
void dfs_secret_free(void *p);
/** Whether p points into memory dfs_secret_alloc() gave. */
bool dfs_secret_owns(const void *p);
/**
 * Frees a value the model handed out (dfs_db_read_field() and the like):
 * wiped if it was secret memory, else free(3). Accepts NULL.
 */
void dfs_value_free(void *p);

#endif
