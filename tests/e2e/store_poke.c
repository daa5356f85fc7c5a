// SPDX-License-Identifier: MIT
/* store_poke.c - test tool: writes a corrupt field record into a stopped node's store */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/records.h"
#include "dinemicfs/store.h"

int main(int argc, char **argv)
{
	struct dfs_store_opts opts = { .sync = 1 };
	struct dfs_pubkey obj;
	struct dfs_buf key;
	uint8_t *val;
	size_t len;
	char dir[4096];
	static const char garbage[] = "\x07not a field record";

	if (argc != 5) {
		fprintf(stderr, "usage: store_poke STATE_DIR MODEL OBJECT FIELD\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/db", argv[1]);
	struct dfs_store *st = dfs_store_open(dir, &opts);
	if (!st) {
		fprintf(stderr, "store_poke: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	dfs_buf_init(&key);
	dfs_key_name(&key, argv[2], argv[3]);
	int rc = dfs_store_get(st, key.data, key.len, &val, &len);
	if (rc < 0 || len != DFS_PUBKEY_LEN) {
		fprintf(stderr, "store_poke: no object %s/%s\n", argv[2], argv[3]);
		return 1;
	}
	memcpy(obj.b, val, DFS_PUBKEY_LEN);
	free(val);
	dfs_key_field(&key, &obj, argv[4], strlen(argv[4]));
	struct dfs_batch *b = dfs_batch_new();
	if (!b || dfs_batch_put(b, key.data, key.len, garbage, sizeof(garbage) - 1) < 0)
		return 1;
	rc = dfs_store_commit(st, b);
	dfs_buf_release(&key);
	dfs_store_close(st);
	return rc < 0 ? 1 : 0;
}
