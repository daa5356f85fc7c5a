/* SPDX-License-Identifier: MIT */
/*
 * hlc.h - hybrid logical clock.
 *
 * A timestamp is a uint64_t: the upper 48 bits are milliseconds since the
 * Unix epoch, the lower 16 a logical counter. Timestamps from one clock are
 * strictly increasing even when the wall clock steps backwards, and
 * dfs_hlc_observe() moves the clock past any timestamp seen from elsewhere,
 * so an update is always later than everything its writer had seen.
 *
 * The clock never wraps: once it has handed out UINT64_MAX (a floor or an
 * observed timestamp got it there), dfs_hlc_now() fails rather than start
 * again from 0. What may move it is the caller's to bound (the model
 * observes only updates it applied, which are never far ahead of the wall
 * clock: see max_skew in db.h).
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
/** Sets the floor again, as dfs_hlc_init() did; before the clock is used. */
void dfs_hlc_reset(struct dfs_hlc *c, uint64_t floor);
/**
 * Returns a fresh timestamp, greater than every earlier one of this clock,
 * or 0 (never a timestamp) when the clock is at UINT64_MAX: saturated, it
 * stays there.
 */
uint64_t dfs_hlc_now(struct dfs_hlc *c);
/** Moves the clock past a timestamp observed elsewhere. */
void dfs_hlc_observe(struct dfs_hlc *c, uint64_t ts);
/** The wall clock the clock follows, in milliseconds since the epoch. */
uint64_t dfs_hlc_wall(struct dfs_hlc *c);
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
