// SPDX-License-Identifier: MIT
/*
 * fuzz_items.c - an items value as read from the store (records.h): the item
 * walk, then each sealed item's epoch and opening with a fixed key
 */
#include <errno.h>
#include <string.h>

#include "dinemicfs/keys.h"
#include "dinemicfs/records.h"
#include "dinemicfs/seal.h"
#include "fuzz.h"

/*
 * The data key and associated data of fuzz_keyset.c: make_corpus.c seals
 * the sealed items of its seeds with them, so those get through the walk
 * into the crypto.
 */
#define DATAKEY_BYTE 0x4b
static const uint8_t ad[] = "fuzz-object\0Person/secret";

/* Opens one sealed item, appending its clear bytes to clear; returns 1 when it opened. */
static int open_item(const struct dfs_item *it, struct dfs_buf *clear)
{
	struct dfs_datakey k;
	uint32_t epoch = 0;
	size_t before = clear->len;
	int erc = dfs_value_epoch(it->p, it->len, &epoch);
	int rc;

	FUZZ_CHECK(erc == 0 || erc == -EBADMSG);
	FUZZ_CHECK(erc < 0 || (epoch >= 1 && it->len >= DFS_VALUE_OVERHEAD));
	memset(k.b, DATAKEY_BYTE, sizeof(k.b));
	rc = dfs_value_open(&k, ad, sizeof(ad), it->p, it->len, clear);
	dfs_datakey_wipe(&k);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	if (rc < 0) {
		FUZZ_CHECK(clear->len == before);	/* nothing written on failure */
		return 0;
	}
	FUZZ_CHECK(erc == 0);
	FUZZ_CHECK(clear->len - before == it->len - DFS_VALUE_OVERHEAD);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dfs_buf again, clear;
	struct dfs_item it;
	size_t off = 0, items = 0, sealed_bad = 0, opened = 0, sealed = 0;
	uint64_t clear_size = 0;
	int rc;

	FUZZ_CHECK(dfs_crypto_init() == 0);
	dfs_buf_init(&again);
	dfs_buf_init(&clear);
	while ((rc = dfs_item_next(data, size, &off, &it)) == 1) {
		size_t start = off - DFS_ITEM_HEADER_LEN - it.len;
		/* The item lies inside the value, right after its header, and the walk moves on. */
		FUZZ_CHECK(off <= size && off >= DFS_ITEM_HEADER_LEN + it.len);
		FUZZ_CHECK(it.p == data + start + DFS_ITEM_HEADER_LEN);
		FUZZ_CHECK(it.kind == DFS_ITEM_CLEAR || it.kind == DFS_ITEM_SEALED);
		FUZZ_CHECK(dfs_item_add(&again, it.kind, it.p, it.len) == 0);
		items++;
		if (it.kind == DFS_ITEM_CLEAR) {
			dfs_buf_add(&clear, it.p, it.len);
			FUZZ_CHECK(dfs_buf_ok(&clear) == 0);
			clear_size += it.len;
			continue;
		}
		sealed++;
		/* What dfs_sealed_stat_items() counts: a malformed sealed item makes the value bad. */
		if (it.len < DFS_VALUE_OVERHEAD)
			sealed_bad++;
		else
			clear_size += it.len - DFS_VALUE_OVERHEAD;
		opened += (size_t)open_item(&it, &clear);
	}
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	FUZZ_CHECK(items <= size / DFS_ITEM_HEADER_LEN);
	if (rc == 0) {
		/* A value that walks to its end is exactly its items, encoded again. */
		FUZZ_CHECK(off == size);
		FUZZ_CHECK(again.len == size && (size == 0 || memcmp(again.data, data, size) == 0));
		/* Every item opened: the clear value has the size a stat reports. */
		if (opened == sealed && sealed_bad == 0)
			FUZZ_CHECK(clear.len == clear_size);
	} else {
		FUZZ_CHECK(off < size);
		FUZZ_CHECK(again.len == off);
	}
	/* A walk past the end, or from inside it, stops at once. */
	off = size + 1;
	FUZZ_CHECK(dfs_item_next(data, size, &off, &it) == -EBADMSG && off == size + 1);
	off = size;
	FUZZ_CHECK(dfs_item_next(data, size, &off, &it) == 0 && off == size);
	dfs_buf_release(&clear);
	dfs_buf_release(&again);
	return 0;
}
