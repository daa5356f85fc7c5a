// SPDX-License-Identifier: MIT
/* hlc.c - hybrid logical clock: monotonic across wall-clock steps, saturating */
#include <time.h>

#include "dinemicfs/hlc.h"

static uint64_t realtime_ms(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void dfs_hlc_init(struct dfs_hlc *c, uint64_t floor)
{
	pthread_mutex_init(&c->lock, NULL);
	c->last = floor;
	c->wall_ms = NULL;
	c->wall_ctx = NULL;
}

void dfs_hlc_release(struct dfs_hlc *c)
{
	pthread_mutex_destroy(&c->lock);
}

void dfs_hlc_reset(struct dfs_hlc *c, uint64_t floor)
{
	pthread_mutex_lock(&c->lock);
	c->last = floor;
	pthread_mutex_unlock(&c->lock);
}

uint64_t dfs_hlc_wall(struct dfs_hlc *c)
{
	return (c->wall_ms ? c->wall_ms : realtime_ms)(c->wall_ctx);
}

uint64_t dfs_hlc_now(struct dfs_hlc *c)
{
	uint64_t wall = dfs_hlc_wall(c);
	uint64_t ts = wall << DFS_HLC_LOGICAL_BITS;

	pthread_mutex_lock(&c->lock);
	/* A wall clock behind the last timestamp only advances the counter. */
	if (ts <= c->last)
		ts = c->last == UINT64_MAX ? 0 : c->last + 1;
	if (ts)
		c->last = ts;
	pthread_mutex_unlock(&c->lock);
	return ts;
}

void dfs_hlc_observe(struct dfs_hlc *c, uint64_t ts)
{
	pthread_mutex_lock(&c->lock);
	if (ts > c->last)
		c->last = ts;
	pthread_mutex_unlock(&c->lock);
}
