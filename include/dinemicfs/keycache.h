/* SPDX-License-Identifier: MIT */
/*
 * keycache.h - data keys this node has opened, by (object, epoch).
 *
 * Opening a data key costs an X25519 operation; reading an encrypted field
 * should not. A key is cached only after it opened, so the cache never gives
 * a node an epoch it could not open itself. Slots live in locked, guarded
 * memory (sodium_malloc) and are wiped when replaced and when freed.
 * Threading: every function may be called from any thread.
 */
#ifndef DINEMICFS_KEYCACHE_H
#define DINEMICFS_KEYCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "dinemicfs/keys.h"
#include "dinemicfs/seal.h"

struct dfs_keycache;

/** NULL on ENOMEM. */
struct dfs_keycache *dfs_keycache_new(void);
/** Wipes and frees. Accepts NULL. */
void dfs_keycache_free(struct dfs_keycache *c);
/**
 * Copies the key of (obj, epoch) to out and returns true, if cached. On a
 * miss, *gen (may be NULL) gets the generation to hand to put().
 */
bool dfs_keycache_get(struct dfs_keycache *c, const struct dfs_pubkey *obj, uint32_t epoch,
		      struct dfs_datakey *out, uint64_t *gen);
/**
 * Caches k for (obj, epoch), replacing whatever held its slot, unless a
 * forget() came after the get() that returned gen: the key was opened from
 * a keyset that may be gone.
 */
void dfs_keycache_put(struct dfs_keycache *c, const struct dfs_pubkey *obj, uint32_t epoch,
		      const struct dfs_datakey *k, uint64_t gen);
/** Forgets every key of obj: its keyset changed, and with it who may read. */
void dfs_keycache_forget(struct dfs_keycache *c, const struct dfs_pubkey *obj);
/** Forgets (obj, epoch): a cached key that did not open a value. */
void dfs_keycache_drop(struct dfs_keycache *c, const struct dfs_pubkey *obj, uint32_t epoch);

#endif
