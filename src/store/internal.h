/* SPDX-License-Identifier: MIT */
/*
 * internal.h - a batch's parts, shared by batch.c (building batches) and
 * store.c (staging and writing them), and by nothing outside src/store/.
 */
#ifndef DFS_STORE_INTERNAL_H
#define DFS_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct op {
	uint8_t *key;		/* in the batch's chunks */
	size_t klen;
	uint8_t *val;		/* likewise; NULL for a delete */
	size_t vlen;
	bool del;
	/* Once staged: the overlay's chain, newest first, under the store lock. */
	struct op *pending_next;
	uint64_t seq;
};

/* Where a batch keeps its keys and values: a few allocations, not two per op. */
struct chunk {
	struct chunk *next;
	size_t used, cap;
	uint8_t data[];
};

#define CHUNK_MIN 1024

struct dfs_batch {
	struct op *ops;
	size_t n, cap;
	struct chunk *chunks;	/* the newest first */
	uint64_t seq;		/* set when staged */
	bool done;		/* protected by store lock */
	int result;		/* protected by store lock */
	struct dfs_batch *next;	/* queue link, protected by store lock */
};

#endif
