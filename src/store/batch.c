// SPDX-License-Identifier: MIT
/* batch.c - building a batch of puts and deletes, its keys and values in a few chunks */
#include <errno.h>
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
