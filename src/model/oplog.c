// SPDX-License-Identifier: MIT
/* oplog.c - the update log that peers read, and how far this node got in theirs */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/util.h"
#include "internal.h"

uint64_t dfs_db_log_head(struct dfs_db *db)
{
	/*
	 * What is staged, without the apply lock: the replication threads ask
	 * at every wake-up, and must not wait for an update being applied.
	 */
	return atomic_load_explicit(&db->visible, memory_order_acquire);
}

struct log_ctx {
	struct dfs_db *db;
	dfs_db_log_skip_fn skip;
	dfs_db_log_fn fn;
	void *ctx;
	size_t max_bytes, bytes;
	size_t seen;
	int count;
	uint64_t upto;
};

/* Whether the log entry under key is no longer in the store (a read error says no). */
static bool entry_gone(struct dfs_db *db, const uint8_t *key, size_t klen)
{
	uint8_t *val;
	size_t len;
	int rc = dfs_store_get(db->st, key, klen, &val, &len);

	if (rc == 0)
		free(val);
	return rc == -ENOENT;
}

static int log_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct log_ctx *lc = arg;
	struct dfs_hash h;
	uint8_t *rec;
	size_t len;
	uint64_t seq = 0;

	if (klen != 9)
		return db_skip_corrupt(lc->db, "log", key, klen);
	for (int i = 1; i < 9; i++)
		seq = seq << 8 | key[i];
	/*
	 * An entry that cannot be sent is passed over like a skipped one, so
	 * that the reader's place moves past it instead of stopping there.
	 */
	if (vlen != DFS_HASH_LEN) {
		db_corrupt(lc->db, "log", key, klen);
		goto pass;
	}
	if (lc->skip && lc->skip(seq, lc->ctx))
		goto pass;
	memcpy(h.b, val, DFS_HASH_LEN);
	int rc = db_get_update_to_send(lc->db, &h, &rec, &len);
	if (rc == -ENOENT) {
		/*
		 * The scan reads the store as it was when it began: a held update
		 * dropped since (its quota, or rm in .node/held) took its log entry
		 * with it, and is no damage.
		 */
		if (!entry_gone(lc->db, key, klen))
			db_corrupt(lc->db, "log link", key, klen);
		goto pass;
	}
	if (rc < 0)
		return rc;
	rc = lc->fn(seq, rec, len, lc->ctx);
	free(rec);
	if (rc < 0)
		return rc;
	lc->upto = seq;
	lc->count++;
	lc->bytes += len;
	return rc > 0 || lc->bytes >= lc->max_bytes || ++lc->seen >= DFS_DB_LOG_SCAN_MAX ? 1 : 0;

pass:
	lc->upto = seq;
	return ++lc->seen >= DFS_DB_LOG_SCAN_MAX ? 1 : 0;
}

int dfs_db_log_read(struct dfs_db *db, uint64_t after, size_t max_bytes, dfs_db_log_skip_fn skip,
		    dfs_db_log_fn fn, void *ctx, uint64_t *upto)
{
	struct log_ctx lc = { .db = db, .skip = skip, .fn = fn, .ctx = ctx,
			      .max_bytes = max_bytes, .upto = after };
	uint8_t prefix[DFS_KEY_TAG_LEN];
	struct dfs_buf start;

	dfs_key_log_prefix(prefix);
	dfs_buf_init(&start);
	dfs_key_log(&start, after + 1);
	int rc = dfs_buf_ok(&start);
	if (rc == 0)
		rc = dfs_store_scan_written_from(db->st, prefix, sizeof(prefix), start.data,
						 start.len, log_one, &lc);
	dfs_buf_release(&start);
	if (upto)
		*upto = lc.upto;
	return rc < 0 ? rc : lc.count;
}

void dfs_db_log_id(struct dfs_db *db, uint8_t out[DFS_DB_LOG_ID_LEN])
{
	memcpy(out, db->log_id, DFS_DB_LOG_ID_LEN);
}

int dfs_db_cursor_get(struct dfs_db *db, const struct dfs_pubkey *peer,
		      const uint8_t log_id[DFS_DB_LOG_ID_LEN], uint64_t *seq)
{
	struct dfs_buf key;
	struct dfs_reader r;
	uint8_t *val;
	size_t len;

	*seq = 0;
	dfs_buf_init(&key);
	dfs_key_cursor(&key, peer);
	int rc = dfs_buf_ok(&key);
	if (rc == 0)
		rc = dfs_store_get(db->st, key.data, key.len, &val, &len);
	if (rc == 0) {
		dfs_reader_init(&r, val, len);
		/* 8 bytes: saved before logs had names; which log it was is unknown. */
		if (len == 8 + DFS_DB_LOG_ID_LEN && dfs_reader_get_u64be(&r, seq) == 0) {
			if (!dfs_mem_equal(val + 8, log_id, DFS_DB_LOG_ID_LEN))
				*seq = 0;
		} else if (len != 8) {
			rc = db_corrupt(db, "cursor", key.data, key.len);
		}
		free(val);
	}
	dfs_buf_release(&key);
	return rc == -ENOENT ? 0 : rc;
}

int dfs_db_cursor_put(struct dfs_db *db, const struct dfs_pubkey *peer,
		      const uint8_t log_id[DFS_DB_LOG_ID_LEN], uint64_t seq)
{
	struct dfs_buf key, val;
	struct dfs_batch *b = dfs_batch_new();

	if (!b)
		return -ENOMEM;
	dfs_buf_init(&key);
	dfs_buf_init(&val);
	dfs_key_cursor(&key, peer);
	dfs_buf_add_u64be(&val, seq);
	dfs_buf_add(&val, log_id, DFS_DB_LOG_ID_LEN);
	int rc = put_rec(b, &key, &val, dfs_buf_ok(&val));
	if (rc == 0)
		rc = dfs_store_commit(db->st, b);
	else
		dfs_batch_free(b);
	dfs_buf_release(&key);
	dfs_buf_release(&val);
	return rc;
}
