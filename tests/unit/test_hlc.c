// SPDX-License-Identifier: MIT
/* test_hlc.c - unit tests for the hybrid logical clock (model/hlc.c) */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "dinemicfs/hlc.h"

/* A wall clock the test moves by hand. */
struct fake_wall {
	uint64_t ms;
};

static uint64_t fake_ms(void *ctx)
{
	return ((struct fake_wall *)ctx)->ms;
}

static void use_fake(struct dfs_hlc *c, struct fake_wall *w)
{
	c->wall_ms = fake_ms;
	c->wall_ctx = w;
}

static uint64_t ts_of(uint64_t ms, unsigned logical)
{
	return ms << DFS_HLC_LOGICAL_BITS | logical;
}

Test(hlc, accessors)
{
	uint64_t ts = ts_of(1700000000123ull, 42);

	cr_assert_eq(dfs_hlc_ms(ts), 1700000000123ull);
	cr_assert_eq(dfs_hlc_logical(ts), 42);
	cr_assert_eq(dfs_hlc_logical(ts_of(5, 0xffff)), 0xffff);
}

Test(hlc, real_clock_strictly_monotonic)
{
	struct dfs_hlc c;

	dfs_hlc_init(&c, 0);
	uint64_t prev = dfs_hlc_now(&c);
	cr_assert_gt(dfs_hlc_ms(prev), 1500000000000ull, "milliseconds since the epoch");
	for (int i = 0; i < 200000; i++) {
		uint64_t ts = dfs_hlc_now(&c);
		cr_assert_gt(ts, prev, "call %d", i);
		prev = ts;
	}
	dfs_hlc_release(&c);
}

Test(hlc, follows_wall_clock)
{
	struct fake_wall w = { 1000 };
	struct dfs_hlc c;

	dfs_hlc_init(&c, 0);
	use_fake(&c, &w);
	cr_assert_eq(dfs_hlc_now(&c), ts_of(1000, 0));
	cr_assert_eq(dfs_hlc_now(&c), ts_of(1000, 1), "same millisecond: the counter");
	cr_assert_eq(dfs_hlc_now(&c), ts_of(1000, 2));
	w.ms = 1001;
	cr_assert_eq(dfs_hlc_now(&c), ts_of(1001, 0), "a new millisecond resets the counter");
	dfs_hlc_release(&c);
}

Test(hlc, monotonic_when_wall_clock_steps_back)
{
	struct fake_wall w = { 1000000 };
	struct dfs_hlc c;

	dfs_hlc_init(&c, 0);
	use_fake(&c, &w);
	uint64_t prev = dfs_hlc_now(&c);
	cr_assert_eq(dfs_hlc_ms(prev), 1000000);
	w.ms = 400000;	/* NTP steps the clock back ten minutes */
	for (int i = 0; i < 1000; i++) {
		uint64_t ts = dfs_hlc_now(&c);
		cr_assert_gt(ts, prev, "call %d after the step", i);
		cr_assert_eq(dfs_hlc_ms(ts), 1000000, "the counter moves, not the time");
		prev = ts;
	}
	w.ms = 999999;
	cr_assert_gt(dfs_hlc_now(&c), prev);
	w.ms = 1000001;
	uint64_t ts = dfs_hlc_now(&c);
	cr_assert_eq(ts, ts_of(1000001, 0), "caught up: wall time again");
	dfs_hlc_release(&c);
}

Test(hlc, counter_overflow_stays_monotonic)
{
	struct fake_wall w = { 5000 };
	struct dfs_hlc c;

	dfs_hlc_init(&c, 0);
	use_fake(&c, &w);
	uint64_t prev = dfs_hlc_now(&c);
	for (int i = 0; i < 70000; i++) {
		uint64_t ts = dfs_hlc_now(&c);
		cr_assert_gt(ts, prev);
		prev = ts;
	}
	cr_assert_geq(dfs_hlc_ms(prev), 5001, "the counter carries into the milliseconds");
	dfs_hlc_release(&c);
}

Test(hlc, floor_is_respected)
{
	struct fake_wall w = { 1000 };
	struct dfs_hlc c;
	uint64_t floor = ts_of(9000, 7);

	dfs_hlc_init(&c, floor);
	use_fake(&c, &w);
	uint64_t ts = dfs_hlc_now(&c);
	cr_assert_gt(ts, floor);
	cr_assert_eq(ts, floor + 1);
	dfs_hlc_release(&c);
}

Test(hlc, observe_future_moves_past_it)
{
	struct fake_wall w = { 1000 };
	struct dfs_hlc c;
	uint64_t remote = ts_of(1000 + 3600 * 1000, 17);	/* a peer an hour ahead */

	dfs_hlc_init(&c, 0);
	use_fake(&c, &w);
	uint64_t before = dfs_hlc_now(&c);
	dfs_hlc_observe(&c, remote);
	uint64_t after = dfs_hlc_now(&c);
	cr_assert_gt(after, remote);
	cr_assert_gt(after, before);
	cr_assert_gt(dfs_hlc_now(&c), after);
	dfs_hlc_release(&c);
}

Test(hlc, observe_past_changes_nothing)
{
	struct fake_wall w = { 50000 };
	struct dfs_hlc c;

	dfs_hlc_init(&c, 0);
	use_fake(&c, &w);
	uint64_t a = dfs_hlc_now(&c);
	dfs_hlc_observe(&c, ts_of(10, 0));
	dfs_hlc_observe(&c, 0);
	uint64_t b = dfs_hlc_now(&c);
	cr_assert_eq(b, a + 1, "an old timestamp neither rewinds nor jumps the clock");
	dfs_hlc_release(&c);
}

/* At 2^64-1 the clock stays: no timestamp rather than one that wraps to 0. */
Test(hlc, saturates_instead_of_wrapping)
{
	struct fake_wall w = { 1000 };
	struct dfs_hlc c;

	dfs_hlc_init(&c, UINT64_MAX - 2);
	use_fake(&c, &w);
	cr_assert_eq(dfs_hlc_now(&c), UINT64_MAX - 1);
	cr_assert_eq(dfs_hlc_now(&c), UINT64_MAX, "the last timestamp there is");
	cr_assert_eq(dfs_hlc_now(&c), 0, "then none: 0 is never a timestamp");
	cr_assert_eq(dfs_hlc_now(&c), 0, "and it stays at the end");
	w.ms = UINT64_MAX >> DFS_HLC_LOGICAL_BITS;	/* not even the wall clock moves it */
	cr_assert_eq(dfs_hlc_now(&c), 0);
	dfs_hlc_release(&c);
}

Test(hlc, observe_max_saturates)
{
	struct fake_wall w = { 1000 };
	struct dfs_hlc c;

	dfs_hlc_init(&c, 0);
	use_fake(&c, &w);
	uint64_t before = dfs_hlc_now(&c);
	cr_assert_neq(before, 0);
	dfs_hlc_observe(&c, UINT64_MAX);
	cr_assert_eq(dfs_hlc_now(&c), 0, "no timestamp after 2^64-1");
	dfs_hlc_observe(&c, 5);
	cr_assert_eq(dfs_hlc_now(&c), 0, "an older one changes nothing");
	dfs_hlc_release(&c);
}

/* A floor set again before use, and the wall clock it follows. */
Test(hlc, reset_and_wall)
{
	struct fake_wall w = { 1000 };
	struct dfs_hlc c;

	dfs_hlc_init(&c, UINT64_MAX);
	use_fake(&c, &w);
	cr_assert_eq(dfs_hlc_wall(&c), 1000);
	cr_assert_eq(dfs_hlc_now(&c), 0);
	dfs_hlc_reset(&c, 0);
	cr_assert_eq(dfs_hlc_now(&c), ts_of(1000, 0), "from the wall clock again");
	dfs_hlc_reset(&c, ts_of(2000, 3));
	cr_assert_eq(dfs_hlc_now(&c), ts_of(2000, 4));
	dfs_hlc_release(&c);
}

#define THREADS 4
#define PER_THREAD 20000

struct worker {
	struct dfs_hlc *c;
	uint64_t ts[PER_THREAD];
};

static void *stamp(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < PER_THREAD; i++)
		w->ts[i] = dfs_hlc_now(w->c);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

Test(hlc, unique_across_threads)
{
	struct dfs_hlc c;
	struct worker *w = calloc(THREADS, sizeof(*w));
	pthread_t tid[THREADS];
	uint64_t *all = calloc(THREADS * PER_THREAD, sizeof(*all));

	cr_assert_not_null(w);
	cr_assert_not_null(all);
	dfs_hlc_init(&c, 0);
	for (int t = 0; t < THREADS; t++) {
		w[t].c = &c;
		cr_assert_eq(pthread_create(&tid[t], NULL, stamp, &w[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(tid[t], NULL);
	for (int t = 0; t < THREADS; t++) {
		for (int i = 1; i < PER_THREAD; i++)
			cr_assert_gt(w[t].ts[i], w[t].ts[i - 1], "thread %d, call %d", t, i);
		memcpy(all + t * PER_THREAD, w[t].ts, sizeof(w[t].ts));
	}
	qsort(all, THREADS * PER_THREAD, sizeof(*all), cmp_u64);
	for (int i = 1; i < THREADS * PER_THREAD; i++)
		cr_assert_neq(all[i], all[i - 1], "timestamp %d handed out twice", i);
	dfs_hlc_release(&c);
	free(all);
	free(w);
}
