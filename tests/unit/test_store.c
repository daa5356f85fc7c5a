// SPDX-License-Identifier: MIT
/* test_store.c - unit tests for the LevelDB store with group commit (store/store.c) */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "dinemicfs/log.h"
#include "dinemicfs/store.h"
#include "tmpdir.h"

static char *dir;
static struct dfs_store *st;
static const struct dfs_store_opts opts = { .sync = 0, .cache_bytes = 1 << 20 };

static void setup(void)
{
	dir = tmpdir_make("store");
	cr_assert_not_null(dir);
	st = dfs_store_open(dir, &opts);
	cr_assert_not_null(st, "open %s: %s", dir, strerror(errno));
}

static void teardown(void)
{
	dfs_store_close(st);
	st = NULL;
	tmpdir_remove(dir);
	dir = NULL;
}

TestSuite(store, .init = setup, .fini = teardown);

static void reopen(void)
{
	dfs_store_close(st);
	st = dfs_store_open(dir, &opts);
	cr_assert_not_null(st, "reopen: %s", strerror(errno));
}

static struct dfs_batch *batch_put(const char *key, const char *val)
{
	struct dfs_batch *b = dfs_batch_new();

	cr_assert_not_null(b);
	cr_assert_eq(dfs_batch_put(b, key, strlen(key), val, strlen(val)), 0);
	return b;
}

static void put(const char *key, const char *val)
{
	cr_assert_eq(dfs_store_commit(st, batch_put(key, val)), 0, "put %s", key);
}

static void del(const char *key)
{
	struct dfs_batch *b = dfs_batch_new();

	cr_assert_not_null(b);
	cr_assert_eq(dfs_batch_del(b, key, strlen(key)), 0);
	cr_assert_eq(dfs_store_commit(st, b), 0, "delete %s", key);
}

/* Asserts that key holds want, or is absent when want is NULL. */
static void expect(const char *key, const char *want)
{
	uint8_t *val = NULL;
	size_t len = 0;
	int rc = dfs_store_get(st, key, strlen(key), &val, &len);

	if (!want) {
		cr_assert_eq(rc, -ENOENT, "%s should be absent", key);
		return;
	}
	cr_assert_eq(rc, 0, "get %s: %d", key, rc);
	cr_assert_eq(len, strlen(want), "%s: length", key);
	cr_assert_eq(val[len], '\0', "values are NUL-terminated past their length");
	cr_assert_str_eq((char *)val, want, "%s", key);
	free(val);
}

Test(store, put_get)
{
	put("alpha", "one");
	put("beta", "two");
	expect("alpha", "one");
	expect("beta", "two");
	expect("gamma", NULL);
	expect("alph", NULL);
	put("alpha", "uno");
	expect("alpha", "uno");
}

Test(store, binary_keys_and_empty_values)
{
	static const uint8_t key[] = { 'F', 0, 1, 0, 0xff };
	static const uint8_t val[] = { 0, 0, 7 };
	struct dfs_batch *b = dfs_batch_new();
	uint8_t *got;
	size_t len;

	cr_assert_not_null(b);
	cr_assert_eq(dfs_batch_put(b, key, sizeof(key), val, sizeof(val)), 0);
	cr_assert_eq(dfs_batch_put(b, "empty", 5, "", 0), 0);
	cr_assert_eq(dfs_store_commit(st, b), 0);
	cr_assert_eq(dfs_store_get(st, key, sizeof(key), &got, &len), 0);
	cr_assert_eq(len, sizeof(val));
	cr_assert_arr_eq(got, val, sizeof(val));
	free(got);
	cr_assert_eq(dfs_store_get(st, key, sizeof(key) - 1, &got, &len), -ENOENT,
		     "keys are compared by length too");
	cr_assert_eq(dfs_store_get(st, "empty", 5, &got, &len), 0);
	cr_assert_eq(len, 0);
	cr_assert_not_null(got);
	cr_assert_eq(got[0], '\0');
	free(got);
}

/* A big value read back whole and NUL-terminated, from the buffer and from a table, checked or not. */
Test(store, big_values_read_whole_checked_or_not)
{
	size_t n = 3u << 20;
	uint8_t *val = malloc(n), *got;
	size_t len;

	cr_assert_not_null(val);
	for (size_t i = 0; i < n; i++)
		val[i] = (uint8_t)(i * 2654435761u >> 13);
	struct dfs_batch *b = dfs_batch_new();
	cr_assert_not_null(b);
	cr_assert_eq(dfs_batch_put(b, "big", 3, val, n), 0);
	cr_assert_eq(dfs_store_commit(st, b), 0);
	for (int round = 0; round < 2; round++) {
		cr_assert_eq(dfs_store_get(st, "big", 3, &got, &len), 0);
		cr_assert_eq(len, n);
		cr_assert_arr_eq(got, val, n);
		cr_assert_eq(got[n], '\0');
		free(got);
		cr_assert_eq(dfs_store_get_unchecked(st, "big", 3, &got, &len), 0);
		cr_assert_eq(len, n);
		cr_assert_arr_eq(got, val, n);
		cr_assert_eq(got[n], '\0');
		free(got);
		cr_assert_eq(dfs_store_get_unchecked(st, "small", 5, &got, &len), -ENOENT);
		reopen();	/* the second round reads it from a table */
	}
	free(val);
}

Test(store, delete)
{
	put("k", "v");
	expect("k", "v");
	del("k");
	expect("k", NULL);
	del("never-there");
	expect("never-there", NULL);
	put("k", "again");
	expect("k", "again");
}

Test(store, later_op_in_a_batch_wins)
{
	struct dfs_batch *b = dfs_batch_new();

	cr_assert_not_null(b);
	cr_assert_eq(dfs_batch_put(b, "k", 1, "first", 5), 0);
	cr_assert_eq(dfs_batch_put(b, "k", 1, "second", 6), 0);
	cr_assert_eq(dfs_batch_put(b, "gone", 4, "x", 1), 0);
	cr_assert_eq(dfs_batch_del(b, "gone", 4), 0);
	dfs_store_stage(st, b);
	expect("k", "second");
	expect("gone", NULL);
	cr_assert_eq(dfs_store_wait(st, b), 0);
	expect("k", "second");
	expect("gone", NULL);
}

/* A key written by several batches of one group is written once, with its last value. */
Test(store, a_group_writes_a_rewritten_key_once)
{
	char big[1000];
	struct dfs_batch *b[3];
	struct dfs_store_stats ss;

	for (int i = 0; i < 3; i++) {
		b[i] = dfs_batch_new();
		cr_assert_not_null(b[i]);
		memset(big, 'a' + i, sizeof(big));
		cr_assert_eq(dfs_batch_put(b[i], "state", 5, big, sizeof(big)), 0);
	}
	cr_assert_eq(dfs_batch_put(b[0], "x1", 2, "1", 1), 0);
	cr_assert_eq(dfs_batch_del(b[1], "x1", 2), 0);
	cr_assert_eq(dfs_batch_put(b[2], "x2", 2, "2", 1), 0);
	cr_assert_eq(dfs_batch_del(b[0], "x3", 2), 0);
	cr_assert_eq(dfs_batch_put(b[2], "x3", 2, "3", 1), 0);
	for (int i = 0; i < 3; i++)
		dfs_store_stage(st, b[i]);
	cr_assert_eq(dfs_store_wait(st, b[2]), 0, "the last wait writes the whole group");
	cr_assert_eq(dfs_store_wait(st, b[0]), 0);
	cr_assert_eq(dfs_store_wait(st, b[1]), 0);
	dfs_store_get_stats(st, &ss);
	cr_assert_lt(ss.buffered, 2 * sizeof(big), "one of the three big values was written");
	memset(big, 'c', sizeof(big));
	for (int round = 0; round < 2; round++) {
		uint8_t *v;
		size_t n;
		cr_assert_eq(dfs_store_get(st, "state", 5, &v, &n), 0);
		cr_assert_eq(n, sizeof(big));
		cr_assert_arr_eq(v, big, sizeof(big), "the last value wins");
		free(v);
		expect("x1", NULL);
		expect("x2", "2");
		expect("x3", "3");
		reopen();
	}
}

Test(store, staged_batch_visible_before_wait)
{
	put("old", "written");
	struct dfs_batch *b = batch_put("new", "staged");
	cr_assert_eq(dfs_batch_put(b, "old", 3, "shadowed", 8), 0);
	dfs_store_stage(st, b);
	expect("new", "staged");
	expect("old", "shadowed");

	struct dfs_batch *d = dfs_batch_new();
	cr_assert_not_null(d);
	cr_assert_eq(dfs_batch_del(d, "new", 3), 0);
	dfs_store_stage(st, d);
	expect("new", NULL);
	expect("old", "shadowed");

	cr_assert_eq(dfs_store_wait(st, b), 0);
	cr_assert_eq(dfs_store_wait(st, d), 0);
	expect("new", NULL);
	expect("old", "shadowed");
	reopen();
	expect("new", NULL);
	expect("old", "shadowed");
}

Test(store, waits_in_any_order)
{
	struct dfs_batch *b[4];
	char key[8], val[8];

	for (int i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		snprintf(val, sizeof(val), "v%d", i);
		b[i] = batch_put(key, val);
		dfs_store_stage(st, b[i]);
	}
	for (int i = 3; i >= 0; i--)
		cr_assert_eq(dfs_store_wait(st, b[i]), 0);
	for (int i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		snprintf(val, sizeof(val), "v%d", i);
		expect(key, val);
	}
}

#define THREADS 8
#define BATCHES 200

struct writer {
	int id;
	int failures;
};

static void *write_many(void *arg)
{
	struct writer *w = arg;
	char key[32], val[32];

	for (int i = 0; i < BATCHES; i++) {
		struct dfs_batch *b = dfs_batch_new();
		if (!b) {
			w->failures++;
			continue;
		}
		/* Two keys per batch, so a half-written batch would show. */
		for (int half = 0; half < 2; half++) {
			int n = snprintf(key, sizeof(key), "t%d/%04d/%d", w->id, i, half);
			int m = snprintf(val, sizeof(val), "value %d.%d.%d", w->id, i, half);
			if (dfs_batch_put(b, key, (size_t)n, val, (size_t)m) < 0)
				w->failures++;
		}
		if (dfs_store_commit(st, b) < 0)
			w->failures++;
	}
	return NULL;
}

Test(store, concurrent_commits_all_present)
{
	struct writer w[THREADS];
	pthread_t tid[THREADS];
	char key[32], val[32];

	for (int t = 0; t < THREADS; t++) {
		w[t] = (struct writer){ .id = t };
		cr_assert_eq(pthread_create(&tid[t], NULL, write_many, &w[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(tid[t], NULL);
		cr_assert_eq(w[t].failures, 0, "thread %d", t);
	}
	for (int pass = 0; pass < 2; pass++) {
		for (int t = 0; t < THREADS; t++) {
			for (int i = 0; i < BATCHES; i++) {
				for (int half = 0; half < 2; half++) {
					snprintf(key, sizeof(key), "t%d/%04d/%d", t, i, half);
					snprintf(val, sizeof(val), "value %d.%d.%d", t, i, half);
					expect(key, val);
				}
			}
		}
		reopen();
	}
}

/* Concurrent writers under sync mode share syncs but each still gets its answer. */
Test(store, concurrent_commits_sync_mode)
{
	static const struct dfs_store_opts sync_opts = { .sync = 1 };
	struct writer w[THREADS];
	pthread_t tid[THREADS];

	dfs_store_close(st);
	st = dfs_store_open(dir, &sync_opts);
	cr_assert_not_null(st);
	for (int t = 0; t < THREADS; t++) {
		w[t] = (struct writer){ .id = t };
		cr_assert_eq(pthread_create(&tid[t], NULL, write_many, &w[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(tid[t], NULL);
		cr_assert_eq(w[t].failures, 0, "thread %d", t);
	}
	expect("t7/0199/1", "value 7.199.1");
	expect("t0/0000/0", "value 0.0.0");
	cr_assert_eq(dfs_store_sync(st), 0);
}

struct scan_ctx {
	char seen[16][16];
	int n;
	int stop_after;
};

static int collect(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct scan_ctx *c = arg;

	cr_assert_lt(c->n, 16);
	cr_assert_lt(klen, sizeof(c->seen[0]));
	cr_assert_eq(vlen, 1, "values come with their keys");
	cr_assert_eq(val[0], key[klen - 1], "the value of this key");
	memcpy(c->seen[c->n], key, klen);
	c->seen[c->n][klen] = '\0';
	c->n++;
	return c->n == c->stop_after ? 1 : 0;
}

static int fail_at_once(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
			void *arg)
{
	return -ECANCELED;
}

Test(store, scan_prefix_in_key_order)
{
	struct dfs_batch *b = dfs_batch_new();
	static const char *const keys[] = { "p/c", "q/a", "p/a", "o/z", "p/b", "p", "p/\xff" };
	struct scan_ctx c = { .stop_after = -1 };

	cr_assert_not_null(b);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *k = keys[i];
		cr_assert_eq(dfs_batch_put(b, k, strlen(k), k + strlen(k) - 1, 1), 0);
	}
	cr_assert_eq(dfs_store_commit(st, b), 0);

	cr_assert_eq(dfs_store_scan(st, "p/", 2, collect, &c), 0);
	cr_assert_eq(c.n, 4);
	cr_assert_str_eq(c.seen[0], "p/a");
	cr_assert_str_eq(c.seen[1], "p/b");
	cr_assert_str_eq(c.seen[2], "p/c");
	cr_assert_str_eq(c.seen[3], "p/\xff", "unsigned byte order");

	c = (struct scan_ctx){ .stop_after = 2 };
	cr_assert_eq(dfs_store_scan(st, "p/", 2, collect, &c), 0, "a positive stop is not an error");
	cr_assert_eq(c.n, 2);

	c = (struct scan_ctx){ .stop_after = -1 };
	cr_assert_eq(dfs_store_scan(st, "", 0, collect, &c), 0, "the empty prefix is everything");
	cr_assert_eq(c.n, 7);
	cr_assert_str_eq(c.seen[0], "o/z");
	cr_assert_str_eq(c.seen[6], "q/a");

	c = (struct scan_ctx){ .stop_after = -1 };
	cr_assert_eq(dfs_store_scan(st, "r", 1, collect, &c), 0);
	cr_assert_eq(c.n, 0);

	cr_assert_eq(dfs_store_scan(st, "p", 1, fail_at_once, NULL), -ECANCELED);
}

Test(store, reopen_keeps_data)
{
	put("persist", "me");
	del("persist-not");
	put("gone", "soon");
	del("gone");
	reopen();
	expect("persist", "me");
	expect("gone", NULL);
	put("after", "reopen");
	reopen();
	expect("persist", "me");
	expect("after", "reopen");
}

Test(store, atomic_batch_survives_reopen)
{
	struct dfs_batch *b = dfs_batch_new();
	char key[16], val[16];

	cr_assert_not_null(b);
	for (int i = 0; i < 500; i++) {
		int n = snprintf(key, sizeof(key), "batch/%03d", i);
		int m = snprintf(val, sizeof(val), "%d", i * i);
		cr_assert_eq(dfs_batch_put(b, key, (size_t)n, val, (size_t)m), 0);
	}
	cr_assert_eq(dfs_store_commit(st, b), 0);
	reopen();
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "batch/%03d", i);
		snprintf(val, sizeof(val), "%d", i * i);
		expect(key, val);
	}
}

Test(store, second_open_of_same_dir_is_busy)
{
	int level = dfs_log_level_current;

	dfs_log_set_level(DFS_LOG_ERR - 1);	/* the refusal is logged; it is expected here */
	errno = 0;
	struct dfs_store *again = dfs_store_open(dir, &opts);
	dfs_log_set_level(level);
	cr_assert_null(again);
	cr_assert_eq(errno, EBUSY);
}

Test(store, free_and_close_accept_null)
{
	dfs_batch_free(NULL);
	dfs_store_close(NULL);
	struct dfs_batch *b = batch_put("never", "staged");
	dfs_batch_free(b);
	expect("never", NULL);
	(void)dfs_store_disk_bytes(st);
}

static void wait_stats(struct dfs_store *s, struct dfs_store_stats *ss, uint64_t min_flushes,
		       uint64_t max_buffered)
{
	for (int i = 0; i < 1000; i++) {
		dfs_store_get_stats(s, ss);
		if (ss->buffer_flushes >= min_flushes && ss->buffered < max_buffered)
			return;
		usleep(10000);
	}
	cr_assert_fail("after 10 s: %llu flushes (want %llu), %llu bytes buffered (want < %llu)",
		       (unsigned long long)ss->buffer_flushes, (unsigned long long)min_flushes,
		       (unsigned long long)ss->buffered, (unsigned long long)max_buffered);
}

static void put_numbered(struct dfs_store *s, int from, int to, bool bulk)
{
	char key[32], val[4096];

	for (int i = from; i < to; i++) {
		snprintf(key, sizeof(key), "k%06d", i);
		memset(val, 'a' + i % 26, sizeof(val));
		struct dfs_batch *b = dfs_batch_new();
		cr_assert_not_null(b);
		cr_assert_eq(dfs_batch_put(b, key, strlen(key), val, sizeof(val)), 0);
		if (bulk)
			dfs_store_bulk(s);
		cr_assert_eq(dfs_store_commit(s, b), 0);
	}
}

/*
 * The write buffer is written out at buffer_bytes, but grows to the bulk
 * size during a bulk load, and is written out once the load is over.
 */
Test(store, write_buffer_grows_only_for_a_bulk_load)
{
	const struct dfs_store_opts small = { .buffer_bytes = 64 << 10,
					      .bulk_buffer_bytes = 1 << 20, .bulk_ms = 500 };
	struct dfs_store_stats ss;
	char *d = tmpdir_make("buffer");
	cr_assert_not_null(d);
	struct dfs_store *s = dfs_store_open(d, &small);
	cr_assert_not_null(s, "open: %s", strerror(errno));

	dfs_store_get_stats(s, &ss);
	cr_assert_eq(ss.buffer_flushes, 0);
	cr_assert_eq(ss.buffered, 0);
	/* 100 values of 4 KiB, 6 times the buffer: written out (writes go on meanwhile). */
	put_numbered(s, 0, 100, false);
	wait_stats(s, &ss, 1, 64 << 10);
	uint64_t before = ss.buffer_flushes;

	/* 150 more in a bulk load: kept in the buffer while the load lasts. */
	put_numbered(s, 100, 250, true);
	dfs_store_get_stats(s, &ss);
	cr_assert_eq(ss.buffer_flushes, before, "no early write-out during a bulk load");
	cr_assert_geq(ss.buffered, 150 * 4096, "the buffer holds the bulk load");
	wait_stats(s, &ss, before + 1, 64 << 10);
	cr_assert_eq(ss.buffer_flushes, before + 1, "written out once, after the load");

	dfs_store_close(s);
	s = dfs_store_open(d, &small);
	cr_assert_not_null(s);
	for (int i = 0; i < 250; i += 49) {
		char key[32];
		uint8_t *v;
		size_t n;
		snprintf(key, sizeof(key), "k%06d", i);
		cr_assert_eq(dfs_store_get(s, key, strlen(key), &v, &n), 0, "%s", key);
		cr_assert_eq(n, 4096);
		cr_assert_eq(v[0], 'a' + i % 26);
		free(v);
	}
	dfs_store_close(s);
	tmpdir_remove(d);
}

/*
 * A scan sees what a get sees: staged puts and deletes merged with written
 * keys in key order, the newest stage of a key winning; a scan of the
 * written keys only leaves them out until they are written.
 */
struct kv_ctx {
	char seen[16][16];
	char vals[16][16];
	int n;
	int stop_after;
};

static int collect_kv(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
		      void *arg)
{
	struct kv_ctx *c = arg;

	cr_assert_lt(c->n, 16);
	cr_assert_lt(klen, sizeof(c->seen[0]));
	cr_assert_lt(vlen, sizeof(c->vals[0]));
	memcpy(c->seen[c->n], key, klen);
	c->seen[c->n][klen] = '\0';
	memcpy(c->vals[c->n], val, vlen);
	c->vals[c->n][vlen] = '\0';
	c->n++;
	return c->n == c->stop_after ? 1 : 0;
}

Test(store, scan_sees_staged_batches)
{
	struct kv_ctx c = { .stop_after = -1 };

	put("p/b", "b0");
	put("p/d", "d0");
	put("p/f", "f0");
	struct dfs_batch *b1 = batch_put("p/a", "a1");
	cr_assert_eq(dfs_batch_put(b1, "p/d", 3, "d1", 2), 0);
	cr_assert_eq(dfs_batch_put(b1, "p/e", 3, "e1", 2), 0);
	cr_assert_eq(dfs_batch_put(b1, "q/x", 3, "x1", 2), 0);
	dfs_store_stage(st, b1);
	struct dfs_batch *b2 = batch_put("p/e", "e2");
	cr_assert_eq(dfs_batch_del(b2, "p/f", 3), 0);
	cr_assert_eq(dfs_batch_put(b2, "p/g", 3, "g2", 2), 0);
	dfs_store_stage(st, b2);

	cr_assert_eq(dfs_store_scan(st, "p/", 2, collect_kv, &c), 0);
	static const char *const want[] = { "p/a", "p/b", "p/d", "p/e", "p/g" };
	static const char *const vals[] = { "a1", "b0", "d1", "e2", "g2" };
	cr_assert_eq(c.n, 5, "staged and written keys, the deleted one left out: %d", c.n);
	for (int i = 0; i < 5; i++) {
		cr_assert_str_eq(c.seen[i], want[i]);
		cr_assert_str_eq(c.vals[i], vals[i], "%s: the newest stage wins", want[i]);
	}

	c = (struct kv_ctx){ .stop_after = -1 };
	cr_assert_eq(dfs_store_scan_from(st, "p/", 2, "p/c", 3, collect_kv, &c), 0);
	cr_assert_eq(c.n, 3, "from p/c: %d", c.n);
	cr_assert_str_eq(c.seen[0], "p/d");

	c = (struct kv_ctx){ .stop_after = 2 };
	cr_assert_eq(dfs_store_scan(st, "p/", 2, collect_kv, &c), 0);
	cr_assert_eq(c.n, 2, "a stop ends a merged scan too");

	c = (struct kv_ctx){ .stop_after = -1 };
	cr_assert_eq(dfs_store_scan_written_from(st, "p/", 2, "p/", 2, collect_kv, &c), 0);
	cr_assert_eq(c.n, 3, "written only: %d", c.n);
	cr_assert_str_eq(c.vals[1], "d0");
	cr_assert_str_eq(c.vals[2], "f0");

	cr_assert_eq(dfs_store_wait(st, b1), 0);
	cr_assert_eq(dfs_store_wait(st, b2), 0);
	c = (struct kv_ctx){ .stop_after = -1 };
	cr_assert_eq(dfs_store_scan_written_from(st, "p/", 2, "p/", 2, collect_kv, &c), 0);
	cr_assert_eq(c.n, 5, "written now: %d", c.n);
	cr_assert_str_eq(c.vals[3], "e2");
}
