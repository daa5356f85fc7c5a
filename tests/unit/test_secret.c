// SPDX-License-Identifier: MIT
/* test_secret.c - secret memory (util/secret.c) and secret byte buffers (util/buf.c) */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <criterion/criterion.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/util.h"

/* VmLck of this process, in KiB; -1 when it cannot be read. */
static long locked_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Whether this process may lock at least n more bytes. */
static bool may_lock(size_t n)
{
	struct rlimit rl;

	return getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
	       (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= n + (4u << 20));
}

Test(secret, blocks_are_ours_aligned_and_usable)
{
	static const size_t sizes[] = { 0, 1, 47, 48, 100, 4096, 65520, 65536, 200000, 1u << 20 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = dfs_secret_alloc(sizes[i]);
		cr_assert_not_null(p, "%zu bytes", sizes[i]);
		cr_assert_eq((uintptr_t)p % 16, 0, "aligned");
		cr_assert(dfs_secret_owns(p));
		cr_assert(sizes[i] == 0 || dfs_secret_owns(p + sizes[i] - 1), "its last byte too");
		memset(p, 0x5a, sizes[i]);
		dfs_secret_free(p);
	}
	void *plain = malloc(64);
	cr_assert_not(dfs_secret_owns(plain));
	cr_assert_not(dfs_secret_owns(NULL));
	dfs_value_free(plain);	/* plain memory: free(3) */
	dfs_value_free(NULL);
	dfs_secret_free(NULL);
}

/* A small block freed is wiped, and the next of its size reuses it. */
Test(secret, freed_blocks_are_wiped_and_reused)
{
	uint8_t *p = dfs_secret_alloc(200);

	cr_assert_not_null(p);
	memset(p, 0x77, 200);
	dfs_secret_free(p);
	uint8_t *q = dfs_secret_alloc(180);
	cr_assert_eq(q, p, "the same class's free block");
	/* Wiped, but for the free list's link in its first bytes. */
	for (size_t i = sizeof(void *); i < 180; i++)
		cr_assert_eq(q[i], 0, "byte %zu", i);
	dfs_value_free(q);
}

/* A big block is a mapping of its own: not ours once freed. */
Test(secret, big_blocks_are_unmapped)
{
	uint8_t *p = dfs_secret_alloc(300000);

	cr_assert_not_null(p);
	p[299999] = 1;
	cr_assert(dfs_secret_owns(p));
	dfs_secret_free(p);
	cr_assert_not(dfs_secret_owns(p));
}

/* Locked where the limit allows: VmLck grows by a big block's pages, and shrinks back. */
Test(secret, blocks_are_locked)
{
	long before = locked_kib();

#ifdef __SANITIZE_ADDRESS__
	cr_skip_test("AddressSanitizer makes mlock(2) do nothing");
#endif
	if (before < 0 || !may_lock(1u << 20))
		cr_skip_test("no VmLck or RLIMIT_MEMLOCK too small");
	uint8_t *p = dfs_secret_alloc(512u << 10);
	cr_assert_not_null(p);
	long during = locked_kib();
	cr_assert_geq(during - before, 512, "locked %ld KiB more", during - before);
	dfs_secret_free(p);
	cr_assert_lt(locked_kib(), during);
}

Test(secret, buffers_move_into_secret_memory_and_stay)
{
	struct dfs_buf b;
	char big[5000];

	dfs_buf_init(&b);
	dfs_buf_add(&b, "clear", 5);
	cr_assert_not(dfs_secret_owns(b.data));
	cr_assert_eq(dfs_buf_make_secret(&b), 0);
	cr_assert(b.secret);
	cr_assert(dfs_secret_owns(b.data));
	cr_assert_eq(memcmp(b.data, "clear", 5), 0, "contents kept");
	memset(big, 'x', sizeof(big));
	dfs_buf_add(&b, big, sizeof(big));	/* grows */
	cr_assert_eq(dfs_buf_ok(&b), 0);
	cr_assert(dfs_secret_owns(b.data), "still secret when grown");
	cr_assert_eq(b.len, 5 + sizeof(big));
	cr_assert_eq(memcmp(b.data, "clear", 5), 0);
	uint8_t *p = b.data;
	dfs_buf_reset(&b);
	cr_assert_eq(p[0], 0, "reset wipes");
	cr_assert_eq(b.data, p, "and keeps the memory");
	dfs_buf_add(&b, "again", 5);
	size_t len;
	uint8_t *d = dfs_buf_detach(&b, &len);
	cr_assert_eq(len, 5);
	cr_assert_str_eq((char *)d, "again");
	cr_assert(dfs_secret_owns(d));
	cr_assert_not(b.secret, "a detached buffer starts over, not secret");
	dfs_value_free(d);
	dfs_buf_release(&b);
}

Test(secret, an_empty_buffer_becomes_secret_without_memory)
{
	struct dfs_buf b;

	dfs_buf_init(&b);
	cr_assert_eq(dfs_buf_make_secret(&b), 0);
	cr_assert_null(b.data);
	dfs_buf_printf(&b, "value %d", 42);
	cr_assert(dfs_secret_owns(b.data));
	cr_assert_eq(b.len, 8);
	dfs_buf_release(&b);
	cr_assert_not(b.secret);
}
