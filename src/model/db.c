// SPDX-License-Identifier: MIT
/* db.c - the object database: open and free, log id, stats and settings */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/hlc.h"
#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

/* Reads the log's name, or names a log that has none (a new store). */
static int load_log_id(struct dfs_db *db)
{
	struct dfs_buf key;
	uint8_t *val;
	size_t len;
	int rc;

	dfs_buf_init(&key);
	dfs_key_log_id(&key);
	rc = dfs_buf_ok(&key);
	if (rc == 0)
		rc = dfs_store_get(db->st, key.data, key.len, &val, &len);
	if (rc == 0) {
		if (len == DFS_DB_LOG_ID_LEN)
			memcpy(db->log_id, val, len);
		else
			rc = db_corrupt(db, "log id", key.data, key.len);
		free(val);
	}
	if (rc == -ENOENT || rc == -EIO) {
		/* A new name costs peers one full resend, and is never wrong. */
		struct dfs_batch *b = dfs_batch_new();
		dfs_random(db->log_id, sizeof(db->log_id));
		rc = b ? dfs_batch_put(b, key.data, key.len, db->log_id, sizeof(db->log_id))
		       : -ENOMEM;
		if (rc == 0)
			rc = dfs_store_commit(db->st, b);
		else
			dfs_batch_free(b);
	}
	dfs_buf_release(&key);
	return rc;
}

uint64_t db_clock_limit(struct dfs_db *db)
{
	uint64_t ms = dfs_hlc_wall(&db->hlc) + db->max_skew_ms;

	return ms >= UINT64_MAX >> DFS_HLC_LOGICAL_BITS ? UINT64_MAX
							: ms << DFS_HLC_LOGICAL_BITS | 0xffff;
}

/*
 * The clock starts past the highest clock applied, kept in the store,
 * unless that is more than max_skew ahead of the wall clock: no update
 * applied under that rule got it there (a peer of an older release did),
 * and a clock started there would make every later write lose or wrap.
 * Said once, when max_skew is set (at start), not at open, where the
 * default may not be the node's.
 */
static void clock_floor(struct dfs_db *db, bool say)
{
	bool ignore = db->floor > db_clock_limit(db);

	if (ignore && say && !db->floor_ignored)
		dfs_log(DFS_LOG_WARNING, "the clock floor kept in the store is %llu s ahead of "
			"this node's clock, more than max_skew: ignored, the clock starts from "
			"the wall clock",
			(unsigned long long)((dfs_hlc_ms(db->floor) - dfs_hlc_wall(&db->hlc)) / 1000));
	db->floor_ignored = ignore && say;
	db->max_clock = ignore ? 0 : db->floor;
	dfs_hlc_reset(&db->hlc, db->max_clock);
}

int db_local_loses(const struct apply *a, uint64_t stored)
{
	const char *obj = a->note->object;
	bool meta = a->u->op == DFS_OP_OBJECT_META || a->u->op == DFS_OP_MODEL_META;

	dfs_log(DFS_LOG_WARNING, "local change of %s%s%s/%s%s refused: the stored one, stamped "
		"%llu.%u, would win over it (stamped %llu.%u)", a->model, obj[0] ? "/" : "", obj,
		meta ? "." : "", a->name, (unsigned long long)dfs_hlc_ms(stored),
		dfs_hlc_logical(stored), (unsigned long long)dfs_hlc_ms(a->u->clock),
		dfs_hlc_logical(a->u->clock));
	return -EAGAIN;
}

struct dfs_db *dfs_db_open(struct dfs_store *st, struct dfs_keyring *kr, size_t max_value)
{
	struct dfs_db *db = calloc(1, sizeof(*db));
	struct dfs_state_rec state = { 0 };
	struct dfs_buf key;
	uint8_t *val;
	size_t len;
	int err = ENOMEM;

	if (!db)
		return NULL;
	db->st = st;
	db->kr = kr;
	db->max_value = max_value;
	db->kc = dfs_keycache_new();
	db->recent = calloc(RECENT_SLOTS, sizeof(*db->recent));
	db->held_names = calloc(HELD_NAMES, sizeof(*db->held_names));
	if (!db->kc || !db->recent || !db->held_names)
		goto fail;
	err = EIO;
	dfs_buf_init(&key);
	dfs_key_state(&key);
	int rc = dfs_store_get(st, key.data, key.len, &val, &len);
	if (rc == 0) {
		rc = dfs_state_rec_decode(val, len, &state);
		free(val);
		if (rc < 0)
			db_corrupt(db, "state", key.data, key.len);
	}
	dfs_buf_release(&key);
	if ((rc < 0 && rc != -ENOENT) || load_log_id(db) < 0)
		goto fail;
	rc = db_migrate(db);	/* an older store is converted, once */
	if (rc == 0)
		rc = db_held_open(db);
	if (rc < 0) {
		err = -rc;
		goto fail;
	}
	db->seq = state.seq;
	db->recent_base = state.seq;
	atomic_init(&db->visible, state.seq);
	db->max_skew_ms = DFS_DB_MAX_SKEW_MS;
	db->floor = state.clock;
	dfs_hlc_init(&db->hlc, 0);
	clock_floor(db, false);
	pthread_mutex_init(&db->apply_lock, NULL);
	pthread_mutex_init(&db->as_lock, NULL);
	pthread_mutex_init(&db->held_names_lock, NULL);
	db_unlisted_init(db);
	for (size_t i = 0; i < KEY_LOCKS; i++)
		pthread_rwlock_init(&db->key_locks[i], NULL);
	return db;
fail:
	dfs_keycache_free(db->kc);
	free(db->recent);
	free(db->held_names);
	free(db);
	errno = err;
	return NULL;
}

void dfs_db_free(struct dfs_db *db)
{
	if (!db)
		return;
	dfs_hlc_release(&db->hlc);
	pthread_mutex_destroy(&db->apply_lock);
	pthread_mutex_destroy(&db->as_lock);
	pthread_mutex_destroy(&db->held_names_lock);
	pthread_mutex_destroy(&db->unlisted_lock);
	for (size_t i = 0; i < KEY_LOCKS; i++)
		pthread_rwlock_destroy(&db->key_locks[i]);
	dfs_keycache_free(db->kc);
	free(db->recent);
	free(db->held_names);
	free(db);
}

void dfs_db_set_listener(struct dfs_db *db, const struct dfs_db_listener *l)
{
	db->listener = *l;
}

bool dfs_db_listener_room(struct dfs_db *db, uint64_t origin)
{
	return !db->listener.room || db->listener.room(db->listener.ctx, origin);
}

bool db_wanted(struct dfs_db *db, enum dfs_event event, const char *model)
{
	return db->listener.wants && db->listener.wants(db->listener.ctx, event, model);
}

void dfs_db_get_stats(struct dfs_db *db, struct dfs_db_stats *out)
{
	out->applied = atomic_load(&db->applied);
	out->refused = atomic_load(&db->refused);
	out->corrupt = atomic_load(&db->corrupt);
	out->held_dropped = atomic_load(&db->held_dropped);
	out->held_over_max_value = atomic_load(&db->limit_held);
	pthread_mutex_lock(&db->apply_lock);
	out->seq = db->seq;
	out->held_bytes = db->held.bytes;
	out->held_updates = db->held.count;
	out->conflicts = dfs_db_conflict_count(db);
	pthread_mutex_unlock(&db->apply_lock);
}

void dfs_db_set_held_quota(struct dfs_db *db, uint64_t per_signer, uint64_t max)
{
	db->held_per_signer = per_signer;
	db->held_max = max;
}

void dfs_db_set_max_skew(struct dfs_db *db, uint64_t ms)
{
	db->max_skew_ms = ms;
	clock_floor(db, true);
}

void dfs_db_set_policy(struct dfs_db *db, bool open)
{
	db->open_policy = open;
}

void dfs_db_set_observer(struct dfs_db *db, dfs_db_observer_fn fn, void *ctx)
{
	db->observer = fn;
	db->observer_ctx = ctx;
}

void dfs_db_set_staged(struct dfs_db *db, dfs_db_observer_fn fn, void *ctx)
{
	db->staged = fn;
	db->staged_ctx = ctx;
}

int dfs_db_set_as(struct dfs_db *db, const struct dfs_pubkey *as)
{
	if (as && !dfs_keyring_has(db->kr, as))
		return -ENOKEY;
	pthread_mutex_lock(&db->as_lock);
	db->has_as = as != NULL;
	if (as)
		db->as = *as;
	pthread_mutex_unlock(&db->as_lock);
	return 0;
}

bool dfs_db_get_as(struct dfs_db *db, struct dfs_pubkey *out)
{
	pthread_mutex_lock(&db->as_lock);
	bool has = db->has_as;
	if (has)
		*out = db->as;
	pthread_mutex_unlock(&db->as_lock);
	return has;
}
