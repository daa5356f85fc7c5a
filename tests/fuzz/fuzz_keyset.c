// SPDX-License-Identifier: MIT
/* fuzz_keyset.c - keyset lookups and sealed-value opening on any bytes, with fixed keys */
#include <errno.h>
#include <string.h>

#include "dinemicfs/keys.h"
#include "dinemicfs/seal.h"
#include "fuzz.h"

/*
 * The fixed reader (Ed25519 seed f0..ff twice, then its public half), data
 * key and associated data. make_corpus.c seals its seeds with the same ones,
 * so valid seeds get through the parser into the crypto.
 */
static const struct dfs_seckey reader_sk = { {
	0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
	0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
	0x68, 0xb0, 0x35, 0xf8, 0xe1, 0x61, 0x91, 0x2b, 0x76, 0x05, 0x7b, 0x0a, 0x59, 0x32, 0x78, 0xba,
	0xe5, 0x64, 0xc6, 0xa3, 0x40, 0x07, 0x5a, 0xc8, 0xa1, 0xf6, 0x96, 0x46, 0x39, 0x85, 0x30, 0x2f,
} };
#define DATAKEY_BYTE 0x4b
static const uint8_t ad[] = "fuzz-object\0Person/secret";

/* True when pk is one of the n readers, which must be in strictly increasing order. */
static int listed(const struct dfs_pubkey *readers, size_t n, const struct dfs_pubkey *pk)
{
	int found = 0;

	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			FUZZ_CHECK(memcmp(readers[i - 1].b, readers[i].b, DFS_PUBKEY_LEN) < 0);
		if (memcmp(readers[i].b, pk->b, DFS_PUBKEY_LEN) == 0)
			found = 1;
	}
	return found;
}

/* Every lookup on bytes that check() refused must refuse them too. */
static void keyset_refused(const uint8_t *data, size_t size, const struct dfs_pubkey *pk)
{
	struct dfs_pubkey one;
	struct dfs_datakey k;
	uint32_t epoch;
	size_t n;

	FUZZ_CHECK(dfs_keyset_latest(data, size, &epoch) == -EBADMSG);
	FUZZ_CHECK(dfs_keyset_readers(data, size, 1, &one, 1, &n) == -EBADMSG);
	FUZZ_CHECK(dfs_keyset_open(data, size, 1, pk, &reader_sk, &k) == -EBADMSG);
}

static void keyset(const uint8_t *data, size_t size)
{
	struct dfs_pubkey readers[DFS_KEYSET_MAX_READERS], pk;
	struct dfs_datakey k;
	uint32_t latest = 0;
	size_t n = 0;
	int rc = dfs_keyset_check(data, size);

	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	dfs_seckey_public(&reader_sk, &pk);
	if (rc < 0) {
		keyset_refused(data, size, &pk);
		return;
	}
	FUZZ_CHECK(size >= DFS_KEYSET_LEN(1, 1) && size <= DFS_KEYSET_MAX_LEN);
	FUZZ_CHECK(dfs_keyset_latest(data, size, &latest) == 0);
	FUZZ_CHECK(latest >= 1);
	rc = dfs_keyset_readers(data, size, latest, readers, DFS_KEYSET_MAX_READERS, &n);
	FUZZ_CHECK(rc == 0 && n >= 1 && n <= DFS_KEYSET_MAX_READERS);
	FUZZ_CHECK(size >= DFS_KEYSET_LEN(1, n));

	rc = dfs_keyset_open(data, size, latest, &pk, &reader_sk, &k);
	FUZZ_CHECK(rc == 0 || rc == -EACCES);
	if (!listed(readers, n, &pk))
		FUZZ_CHECK(rc == -EACCES);
	dfs_datakey_wipe(&k);

	if (latest < UINT32_MAX) {
		FUZZ_CHECK(dfs_keyset_readers(data, size, latest + 1, readers, 1, &n) == -ENOENT);
		FUZZ_CHECK(dfs_keyset_open(data, size, latest + 1, &pk, &reader_sk, &k) == -ENOENT);
	}
	FUZZ_CHECK(dfs_keyset_open(data, size, 0, &pk, &reader_sk, &k) == -ENOENT);
}

static void value(const uint8_t *data, size_t size)
{
	struct dfs_datakey k;
	struct dfs_buf out, again;
	uint32_t epoch = 0;
	int erc = dfs_value_epoch(data, size, &epoch);
	int rc;

	FUZZ_CHECK(erc == 0 || erc == -EBADMSG);
	FUZZ_CHECK(erc < 0 || (epoch >= 1 && size >= DFS_VALUE_OVERHEAD));
	memset(k.b, DATAKEY_BYTE, sizeof(k.b));
	dfs_buf_init(&out);
	rc = dfs_value_open(&k, ad, sizeof(ad), data, size, &out);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	if (rc < 0) {
		FUZZ_CHECK(out.len == 0);
		dfs_buf_release(&out);
		return;
	}
	FUZZ_CHECK(erc == 0 && out.len == size - DFS_VALUE_OVERHEAD);
	/* What opens must seal again to something that opens to the same bytes. */
	dfs_buf_init(&again);
	FUZZ_CHECK(dfs_value_seal(&k, epoch, ad, sizeof(ad), out.data, out.len, &again) == 0);
	FUZZ_CHECK(again.len == size);
	FUZZ_CHECK(dfs_value_open(&k, ad, sizeof(ad), again.data, again.len, &out) == 0);
	FUZZ_CHECK(out.len == 2 * (size - DFS_VALUE_OVERHEAD));
	FUZZ_CHECK(memcmp(out.data, out.data + out.len / 2, out.len / 2) == 0);
	dfs_buf_release(&again);
	dfs_buf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FUZZ_CHECK(dfs_crypto_init() == 0);
	keyset(data, size);
	value(data, size);
	return 0;
}
