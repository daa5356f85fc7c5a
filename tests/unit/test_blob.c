// SPDX-License-Identifier: MIT
/*
 * test_blob.c - big values in files of their own beside LevelDB
 * (store/blob.c, through the store's API): where they live, that reads,
 * scans and deletes see them whole, and what a crash can leave behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "dinemicfs/store.h"
#include "dinemicfs/util.h"
#include "tmpdir.h"

#define BIG (200u * 1024)

static char *dir;
static struct dfs_store *st;
static struct dfs_store_opts opts = { .sync = 0, .cache_bytes = 1 << 20 };

static void setup(void)
{
	dir = tmpdir_make("blob");
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

TestSuite(blob, .init = setup, .fini = teardown);

static void reopen(void)
{
	dfs_store_close(st);
	st = dfs_store_open(dir, &opts);
	cr_assert_not_null(st, "reopen: %s", strerror(errno));
}

/* A key under the blob prefix: the prefix and 32 bytes of n. */
static void key_of(uint8_t key[33], unsigned n)
{
	key[0] = DFS_STORE_BLOB_PREFIX;
	for (int i = 1; i < 33; i++)
		key[i] = (uint8_t)(n * 31 + (unsigned)i);
}

static uint8_t *value_of(unsigned n, size_t len)
{
	uint8_t *v = malloc(len);

	cr_assert_not_null(v);
	for (size_t i = 0; i < len; i++)
		v[i] = (uint8_t)(i * 2654435761u >> 11) ^ (uint8_t)n;
	return v;
}

/* The path of key's file. */
static void file_of(const uint8_t key[33], char *path, size_t size)
{
	char hex[67];

	dfs_hex_encode(hex, key, 33);
	snprintf(path, size, "%s/blobs/%s", dir, hex);
}

static bool has_file(const uint8_t key[33])
{
	char path[4096];
	struct stat sb;

	file_of(key, path, sizeof(path));
	return stat(path, &sb) == 0;
}

static void put(unsigned n, size_t len)
{
	uint8_t key[33], *v = value_of(n, len);
	struct dfs_batch *b = dfs_batch_new();

	key_of(key, n);
	cr_assert_not_null(b);
	cr_assert_eq(dfs_batch_put(b, key, sizeof(key), v, len), 0);
	cr_assert_eq(dfs_store_commit(st, b), 0);
	free(v);
}

static void expect(unsigned n, size_t len)
{
	uint8_t key[33], *got, *v = value_of(n, len);
	size_t glen;

	key_of(key, n);
	cr_assert_eq(dfs_store_get(st, key, sizeof(key), &got, &glen), 0, "get %u", n);
	cr_assert_eq(glen, len);
	cr_assert_arr_eq(got, v, len);
	cr_assert_eq(got[len], '\0');
	free(got);
	cr_assert_eq(dfs_store_get_unchecked(st, key, sizeof(key), &got, &glen), 0);
	cr_assert_eq(glen, len);
	cr_assert_arr_eq(got, v, len);
	free(got);
	free(v);
}

static void expect_none(unsigned n)
{
	uint8_t key[33], *got;
	size_t glen;

	key_of(key, n);
	cr_assert_eq(dfs_store_get(st, key, sizeof(key), &got, &glen), -ENOENT);
}

Test(blob, a_big_value_lives_in_a_file_and_reads_back_whole)
{
	uint8_t key[33];

	put(1, BIG);
	put(2, 1000);
	key_of(key, 1);
	cr_assert(has_file(key), "a big value has a file");
	key_of(key, 2);
	cr_assert_not(has_file(key), "a small one stays in LevelDB");
	expect(1, BIG);
	expect(2, 1000);
	reopen();
	expect(1, BIG);
	expect(2, 1000);
}

Test(blob, other_keys_keep_big_values_in_leveldb)
{
	uint8_t *v = value_of(7, BIG), *got;
	struct dfs_batch *b = dfs_batch_new();
	size_t glen;

	cr_assert_eq(dfs_batch_put(b, "Xbig", 4, v, BIG), 0);
	cr_assert_eq(dfs_store_commit(st, b), 0);
	char path[4096];
	snprintf(path, sizeof(path), "%s/blobs", dir);
	struct stat sb;
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_nlink, 2, "no file made for another prefix");
	cr_assert_eq(dfs_store_get(st, "Xbig", 4, &got, &glen), 0);
	cr_assert_eq(glen, BIG);
	cr_assert_arr_eq(got, v, BIG);
	free(got);
	free(v);
}

struct seen {
	unsigned n;
	size_t bytes;
};

static int count_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct seen *s = arg;

	(void)key;
	(void)klen;
	cr_assert(vlen < 4 || memcmp(val, "\xff" "blb", 4) != 0, "a scan never shows a stub");
	s->n++;
	s->bytes += vlen;
	return 0;
}

Test(blob, scans_see_whole_values)
{
	uint8_t prefix = DFS_STORE_BLOB_PREFIX;
	struct seen s = { 0, 0 };

	put(1, BIG);
	put(2, 100);
	put(3, BIG + 1);
	cr_assert_eq(dfs_store_scan(st, &prefix, 1, count_one, &s), 0);
	cr_assert_eq(s.n, 3);
	cr_assert_eq(s.bytes, 2 * BIG + 101);
}

Test(blob, a_delete_removes_the_file)
{
	uint8_t key[33];
	struct dfs_batch *b = dfs_batch_new();

	put(1, BIG);
	key_of(key, 1);
	cr_assert_eq(dfs_batch_del(b, key, sizeof(key)), 0);
	cr_assert_eq(dfs_store_commit(st, b), 0);
	expect_none(1);
	cr_assert_not(has_file(key));
	reopen();
	expect_none(1);
}

/* A delete and a put of one key written in one group: the last one decides. */
static void delete_and_put(bool put_last)
{
	uint8_t key[33], *v = value_of(1, BIG);
	struct dfs_batch *a = dfs_batch_new(), *b = dfs_batch_new();

	key_of(key, 1);
	if (put_last) {
		cr_assert_eq(dfs_batch_del(a, key, sizeof(key)), 0);
		cr_assert_eq(dfs_batch_put(b, key, sizeof(key), v, BIG), 0);
	} else {
		cr_assert_eq(dfs_batch_put(a, key, sizeof(key), v, BIG), 0);
		cr_assert_eq(dfs_batch_del(b, key, sizeof(key)), 0);
	}
	dfs_store_stage(st, a);
	dfs_store_stage(st, b);
	cr_assert_eq(dfs_store_wait(st, a), 0);
	cr_assert_eq(dfs_store_wait(st, b), 0);
	free(v);
}

Test(blob, in_one_group_a_later_put_keeps_the_file)
{
	uint8_t key[33];

	put(1, BIG);
	delete_and_put(true);
	key_of(key, 1);
	cr_assert(has_file(key));
	expect(1, BIG);
	reopen();
	expect(1, BIG);
}

Test(blob, in_one_group_a_later_delete_removes_it)
{
	uint8_t key[33];

	delete_and_put(false);
	key_of(key, 1);
	cr_assert_not(has_file(key));
	expect_none(1);
}

Test(blob, files_no_stub_names_are_removed_at_open)
{
	uint8_t key[33], stray[33];
	char path[4096], tmp[4200];

	put(1, BIG);
	key_of(key, 1);
	key_of(stray, 9);
	file_of(stray, path, sizeof(path));
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "left over", 9), 9);
	close(fd);
	file_of(key, tmp, sizeof(tmp));
	strcat(tmp, ".tmp");
	fd = open(tmp, O_WRONLY | O_CREAT, 0600);
	cr_assert(fd >= 0);
	close(fd);
	reopen();
	cr_assert_not(has_file(stray), "a file without a stub is removed");
	cr_assert_neq(access(tmp, F_OK), 0, "a half-written file is removed");
	cr_assert(has_file(key), "a file with its stub stays");
	expect(1, BIG);
	expect_none(9);
}

Test(blob, a_missing_file_is_an_error_not_an_absent_key)
{
	uint8_t key[33], *got;
	char path[4096];
	size_t glen;

	put(1, BIG);
	key_of(key, 1);
	file_of(key, path, sizeof(path));
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(dfs_store_get(st, key, sizeof(key), &got, &glen), -EIO);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "short", 5), 5);
	close(fd);
	cr_assert_eq(dfs_store_get(st, key, sizeof(key), &got, &glen), -EIO, "cut short");
}

Test(blob, sync_mode_writes_big_values)
{
	dfs_store_close(st);
	opts.sync = 1;
	st = dfs_store_open(dir, &opts);
	opts.sync = 0;
	cr_assert_not_null(st);
	put(1, BIG);
	put(2, 2 * BIG);
	reopen();
	expect(1, BIG);
	expect(2, 2 * BIG);
	cr_assert(dfs_store_disk_bytes(st) >= 3 * BIG, "the files count in the store's size");
}
