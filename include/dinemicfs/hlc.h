/* SPDX-License-Identifier: MIT */
/*
 * hlc.h - hybrid logical clock.
 *
 * A timestamp is a uint64_t: the upper 48 bits are milliseconds since the
 * Unix epoch, the lower 16 a logical counter. Timestamps from one clock are
 * strictly increasing even when the wall clock steps backwards, and
 * dfs_hlc_observe() moves the clock past any timestamp seen from elsewhere,
 * so an update is always later than everything its writer had seen.
 */
#ifndef DINEMICFS_HLC_H
#define DINEMICFS_HLC_H

#include <pthread.h>
#include <stdint.h>

#define DFS_HLC_LOGICAL_BITS 16

struct dfs_hlc {
	pthread_mutex_t lock;
	uint64_t last;				/* protected by lock */
	uint64_t (*wall_ms)(void *ctx);	/* NULL: CLOCK_REALTIME */
	void *wall_ctx;
};

/** Starts a clock that will never return a timestamp <= floor. */
void dfs_hlc_init(struct dfs_hlc *c, uint64_t floor);
void dfs_hlc_release(struct dfs_hlc *c);
/** Returns a fresh timestamp, greater than every earlier one of this clock. */
uint64_t dfs_hlc_now(struct dfs_hlc *c);
/** Moves the clock past a timestamp observed elsewhere. */
void dfs_hlc_observe(struct dfs_hlc *c, uint64_t ts);
/** Milliseconds since the epoch of a timestamp. */
static inline uint64_t dfs_hlc_ms(uint64_t ts)
{
	return ts >> DFS_HLC_LOGICAL_BITS;
}
/** The logical counter of a timestamp. */
static inline unsigned dfs_hlc_logical(uint64_t ts)
{
	return (unsigned)(ts & ((1u << DFS_HLC_LOGICAL_BITS) - 1));
}

#endif
