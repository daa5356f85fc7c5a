// SPDX-License-Identifier: MIT
/*
 * fuzz_trust.c - a trust list (-o trust=FILE) as a user or an attacker with
 * write access to it could leave it: parsed, and every id it yields checked
 * against the text
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/repl.h"
#include "dinemicfs/util.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dfs_pubkey *ids = NULL;
	size_t n = 99;
	unsigned bad = 99;
	char hex[2 * DFS_PUBKEY_LEN + 1];
	int rc = dfs_parse_trust((const char *)data, size, &ids, &n, &bad);

	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (rc == -EINVAL) {
		FUZZ_CHECK(bad >= 1 && ids == NULL && n == 0);
		return 0;
	}
	if (rc < 0)
		return 0;
	FUZZ_CHECK(bad == 0);
	FUZZ_CHECK((n == 0) == (ids == NULL));
	/* Each id is in the text as 64 hex digits, and there are no more ids than lines. */
	FUZZ_CHECK(n <= size / (2 * DFS_PUBKEY_LEN));
	char *lower = malloc(size + 1);
	FUZZ_CHECK(lower != NULL);
	for (size_t i = 0; i < size; i++)
		lower[i] = (char)tolower(data[i]);
	for (size_t i = 0; i < n; i++) {
		dfs_hex_encode(hex, ids[i].b, DFS_PUBKEY_LEN);
		FUZZ_CHECK(memmem(lower, size, hex, 2 * DFS_PUBKEY_LEN) != NULL);
	}
	free(lower);
	free(ids);
	return 0;
}
