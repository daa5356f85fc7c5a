// SPDX-License-Identifier: MIT
/*
 * secret.c - memory for the clear values of encrypted fields: locked (kept
 * out of swap), left out of core dumps, and wiped when freed.
 *
 * Small blocks (up to SMALL_MAX with their header) come from chunks of
 * CHUNK bytes, by power-of-two size class, each class with its free list;
 * chunks are kept for reuse, never unmapped, so that no page another block
 * still uses is unlocked. A bigger block is a mapping of its own, unlocked
 * and unmapped when freed. Locking is best effort: past RLIMIT_MEMLOCK the
 * memory is used unlocked (and still wiped and left out of dumps).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dinemicfs/util.h"

#define CHUNK (1u << 20)
#define MIN_SHIFT 6			/* 64 bytes, header included */
#define MAX_SHIFT 16			/* 64 KiB */
#define SMALL_MAX (1u << MAX_SHIFT)
#define MAGIC 0x5ec2e7u

/* In front of every block: what it is, for the free. */
struct hdr {
	uint32_t magic;
	uint32_t shift;			/* its class; 0 for a mapping of its own */
	size_t size;			/* a mapping's bytes, header included */
};
_Static_assert(sizeof(struct hdr) == 16, "blocks stay 16-byte aligned");

/* A region this file mapped: a chunk of small blocks, or one big block. */
struct region {
	struct region *next;
	uint8_t *base;
	size_t size;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct region *chunks, *bigs;	/* protected by lock */
static size_t chunk_used;		/* of chunks (the newest); protected by lock */
static void *free_list[MAX_SHIFT + 1];	/* by class; protected by lock */
/* Set once anything was mapped: until then no pointer is ours, and asking costs no lock. */
static atomic_bool mapped;

static void *map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, size, MADV_DONTDUMP);
	(void)mlock(p, size);
	return p;
}

static struct region *region_new(struct region **list, size_t size)
{
	struct region *r = malloc(sizeof(*r));

	if (!r)
		return NULL;
	r->base = map(size);
	if (!r->base) {
		free(r);
		return NULL;
	}
	r->size = size;
	r->next = *list;
	*list = r;
	atomic_store(&mapped, true);
	return r;
}

/* A block of class shift from its free list or the newest chunk; under lock. */
static struct hdr *small_block(unsigned shift)
{
	size_t size = (size_t)1 << shift;
	struct hdr *h = free_list[shift];

	if (h) {
		memcpy(&free_list[shift], h + 1, sizeof(void *));
		return h;
	}
	if (!chunks || CHUNK - chunk_used < size) {
		if (!region_new(&chunks, CHUNK))
			return NULL;
		chunk_used = 0;
	}
	h = (struct hdr *)(chunks->base + chunk_used);
	chunk_used += size;
	return h;
}

void *dfs_secret_alloc(size_t n)
{
	struct hdr *h;

	if (n > SIZE_MAX / 2)
		return NULL;
	size_t need = n + sizeof(struct hdr);
	pthread_mutex_lock(&lock);
	if (need <= SMALL_MAX) {
		unsigned shift = MIN_SHIFT;
		while (((size_t)1 << shift) < need)
			shift++;
		h = small_block(shift);
		if (h)
			*h = (struct hdr){ MAGIC, shift, (size_t)1 << shift };
	} else {
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		size_t size = (need + page - 1) / page * page;
		struct region *r = region_new(&bigs, size);
		h = r ? (struct hdr *)r->base : NULL;
		if (h)
			*h = (struct hdr){ MAGIC, 0, size };
	}
	pthread_mutex_unlock(&lock);
	return h ? h + 1 : NULL;
}

/* The region of list that holds p, and the link to it; NULL when none. */
static struct region **find(struct region **list, const void *p)
{
	for (struct region **rp = list; *rp; rp = &(*rp)->next) {
		const uint8_t *b = (*rp)->base;
		if ((const uint8_t *)p >= b && (const uint8_t *)p < b + (*rp)->size)
			return rp;
	}
	return NULL;
}

bool dfs_secret_owns(const void *p)
{
	if (!p || !atomic_load(&mapped))
		return false;
	pthread_mutex_lock(&lock);
	bool yes = find(&chunks, p) || find(&bigs, p);
	pthread_mutex_unlock(&lock);
	return yes;
}

void dfs_secret_free(void *p)
{
	if (!p)
		return;
	struct hdr *h = (struct hdr *)p - 1, was = *h;
	if (was.magic != MAGIC)
		abort();	/* not ours: a bug, and memory that may be clear */
	explicit_bzero(h, was.size);
	pthread_mutex_lock(&lock);
	if (was.shift) {
		memcpy(h + 1, &free_list[was.shift], sizeof(void *));
		free_list[was.shift] = h;
	} else {
		struct region **rp = find(&bigs, h), *r = rp ? *rp : NULL;
		if (r) {
			*rp = r->next;
			(void)munlock(r->base, r->size);
			munmap(r->base, r->size);
			free(r);
		}
	}
	pthread_mutex_unlock(&lock);
}

void dfs_value_free(void *p)
{
	if (dfs_secret_owns(p))
		dfs_secret_free(p);
	else
		free(p);
}
