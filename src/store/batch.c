// SPDX-License-Identifier: MIT
/*
 * batch.c - building a batch of puts and deletes, its keys and values in a
 * few chunks; which ops of a group of batches must reach LevelDB
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/store.h"
#include "internal.h"

struct dfs_batch *dfs_batch_new(void)
{
	return calloc(1, sizeof(struct dfs_batch));
}

static int batch_add(struct dfs_batch *b, const void *key, size_t klen, const void *val,
		     size_t vlen, bool del)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 8;
		struct op *ops = realloc(b->ops, cap * sizeof(*ops));
		if (!ops)
			return -ENOMEM;
		b->ops = ops;
		b->cap = cap;
	}
	size_t need = klen + (del ? 0 : vlen);
	struct chunk *c = b->chunks;
	if (!c || c->cap - c->used < need) {
		size_t cap = need > CHUNK_MIN ? need : CHUNK_MIN;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return -ENOMEM;
		c->used = 0;
		c->cap = cap;
		c->next = b->chunks;
		b->chunks = c;
	}
	struct op *op = &b->ops[b->n];
	op->key = c->data + c->used;
	if (klen)
		memcpy(op->key, key, klen);
	op->val = del ? NULL : op->key + klen;
	if (!del && vlen)
		memcpy(op->val, val, vlen);
	c->used += need;
	b->bytes += need;
	op->klen = klen;
	op->vlen = del ? 0 : vlen;
	op->del = del;
	b->n++;
	return 0;
}

int dfs_batch_put(struct dfs_batch *b, const void *key, size_t klen, const void *val,
		  size_t vlen)
{
	return batch_add(b, key, klen, val, vlen, false);
}

int dfs_batch_del(struct dfs_batch *b, const void *key, size_t klen)
{
	return batch_add(b, key, klen, NULL, 0, true);
}

size_t dfs_batch_bytes(const struct dfs_batch *b)
{
	return b->bytes;
}

void dfs_batch_free(struct dfs_batch *b)
{
	if (!b)
		return;
	while (b->chunks) {
		struct chunk *c = b->chunks;
		b->chunks = c->next;
		free(c);
	}
	free(b->ops);
	free(b);
}

/* A word at a time: a catch-up hashes several keys of 40 bytes per update. */
uint64_t dfs_batch_key_hash(const uint8_t *key, size_t klen)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ klen, w;

	for (; klen >= 8; key += 8, klen -= 8) {
		memcpy(&w, key, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, key, klen);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	return h ^ h >> 32;
}

/*
 * Marks, in ops[0..n), each op whose key a later op writes again: only the
 * last one need reach LevelDB. Groups of many updates rewrite a few keys
 * (the store's state, an object's record) once per update. Returns false
 * when there is no memory to find out, and every op is then written.
 */
bool dfs_batch_rewritten(const struct op **ops, size_t n, bool *rewritten)
{
	size_t size = 16;

	while (size < 2 * n)
		size *= 2;
	const struct op **table = calloc(size, sizeof(*table));
	if (!table)
		return false;
	for (size_t i = n; i-- > 0;) {
		size_t at = (size_t)dfs_batch_key_hash(ops[i]->key, ops[i]->klen) & (size - 1);
		rewritten[i] = false;
		for (; table[at]; at = (at + 1) & (size - 1)) {
			if (table[at]->klen == ops[i]->klen &&
			    memcmp(table[at]->key, ops[i]->key, ops[i]->klen) == 0) {
				rewritten[i] = true;
				break;
			}
		}
		if (!rewritten[i])
			table[at] = ops[i];
	}
	free(table);
	return true;
}

/* Whether an op of the group after ops[i] of batch b puts key again. */
bool dfs_batch_put_later(const struct dfs_batch *b, size_t i, const struct op *op)
{
	for (; b; b = b->next, i = SIZE_MAX) {
		for (size_t j = i == SIZE_MAX ? 0 : i + 1; j < b->n; j++)
			if (!b->ops[j].del && b->ops[j].klen == op->klen &&
			    memcmp(b->ops[j].key, op->key, op->klen) == 0)
				return true;
	}
	return false;
}
