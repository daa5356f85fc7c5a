// SPDX-License-Identifier: MIT
/* keycache.c - a direct-mapped cache of opened data keys, in locked memory */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "dinemicfs/keycache.h"

#define SLOTS 1024	/* 64 KiB of locked memory: objects x epochs read at once */

struct slot {
	bool used;
	uint32_t epoch;
	struct dfs_pubkey obj;
	struct dfs_datakey key;
};

struct dfs_keycache {
	pthread_mutex_t lock;
	uint64_t gen;		/* counts forget() calls */
	struct slot *slots;	/* sodium_malloc'ed: locked, guarded, wiped on free */
};

struct dfs_keycache *dfs_keycache_new(void)
{
	struct dfs_keycache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->slots = sodium_allocarray(SLOTS, sizeof(*c->slots));
	if (!c->slots) {
		free(c);
		return NULL;
	}
	sodium_memzero(c->slots, SLOTS * sizeof(*c->slots));
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void dfs_keycache_free(struct dfs_keycache *c)
{
	if (!c)
		return;
	sodium_free(c->slots);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Object keys are uniformly random: their bytes are hash enough. */
static struct slot *slot_of(struct dfs_keycache *c, const struct dfs_pubkey *obj, uint32_t epoch)
{
	uint32_t h;

	memcpy(&h, obj->b, sizeof(h));
	return &c->slots[(h ^ (epoch * 2654435761u)) % SLOTS];
}

static bool holds(const struct slot *s, const struct dfs_pubkey *obj, uint32_t epoch)
{
	return s->used && s->epoch == epoch && memcmp(s->obj.b, obj->b, DFS_PUBKEY_LEN) == 0;
}

bool dfs_keycache_get(struct dfs_keycache *c, const struct dfs_pubkey *obj, uint32_t epoch,
		      struct dfs_datakey *out, uint64_t *gen)
{
	pthread_mutex_lock(&c->lock);
	struct slot *s = slot_of(c, obj, epoch);
	bool hit = holds(s, obj, epoch);
	if (hit)
		*out = s->key;
	if (gen)
		*gen = c->gen;
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void dfs_keycache_put(struct dfs_keycache *c, const struct dfs_pubkey *obj, uint32_t epoch,
		      const struct dfs_datakey *k, uint64_t gen)
{
	pthread_mutex_lock(&c->lock);
	if (gen == c->gen) {
		struct slot *s = slot_of(c, obj, epoch);
		s->used = true;
		s->epoch = epoch;
		s->obj = *obj;
		s->key = *k;
	}
	pthread_mutex_unlock(&c->lock);
}

void dfs_keycache_forget(struct dfs_keycache *c, const struct dfs_pubkey *obj)
{
	pthread_mutex_lock(&c->lock);
	c->gen++;
	for (size_t i = 0; i < SLOTS; i++)
		if (c->slots[i].used && memcmp(c->slots[i].obj.b, obj->b, DFS_PUBKEY_LEN) == 0)
			sodium_memzero(&c->slots[i], sizeof(c->slots[i]));
	pthread_mutex_unlock(&c->lock);
}

void dfs_keycache_drop(struct dfs_keycache *c, const struct dfs_pubkey *obj, uint32_t epoch)
{
	pthread_mutex_lock(&c->lock);
	struct slot *s = slot_of(c, obj, epoch);
	if (holds(s, obj, epoch))
		sodium_memzero(s, sizeof(*s));
	pthread_mutex_unlock(&c->lock);
}
