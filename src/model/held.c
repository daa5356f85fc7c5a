// SPDX-License-Identifier: MIT
/*
 * held.c - the quota of held updates: per signer and in all, oldest first
 *
 * Every update this node holds (for the policy, a listener, a rule or a
 * limit, or undone by a late change of .authorized) is indexed by the log
 * sequence number it was kept under ('Q' seq: signer, entity, hash,
 * bytes) and by its signer ('W' signer seq), and counted per signer ('K'
 * signer) and in all ('S' "held"), in bytes: its record plus
 * DFS_HELD_ENTRY_BYTES (records.h). All of it is written in the batch that
 * holds the update, so a crash leaves index and counts as the store is.
 *
 * A new held update that would take its signer past held_per_signer, or
 * all of them past held_max, first makes room: its signer's oldest, then
 * anyone's oldest, are deleted with everything that names them (the
 * update, its 'R' mark, its history entry, its log entry and its index
 * entries), in that same batch, at most HELD_DROP_MAX of them in one. One
 * that passes a quota alone is not kept. An update dropped is no longer
 * known here: sent again, it is judged again, as new.
 *
 * A held update also leaves the index when a retry applies it, or a
 * person drops it (heldfiles.c, db_held_unhold()): counted out, not as a
 * drop for the quota.
 *
 * The totals are read at open from 'S' "held", a signer's from 'K' when a
 * batch first touches it: nothing is recounted. A batch's changes are
 * gathered in a struct held_tx and become the db's once it is staged.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

int db_held_open(struct dfs_db *db)
{
	struct dfs_buf key;

	db->held_per_signer = DFS_DB_HELD_PER_SIGNER;
	db->held_max = DFS_DB_HELD_MAX;
	memset(&db->held, 0, sizeof(db->held));
	dfs_buf_init(&key);
	dfs_key_held_total(&key);
	int rc = db_get_rec(db, &key, "held count", (db_decoder)dfs_held_sum_decode, &db->held);
	dfs_buf_release(&key);
	return rc == -ENOENT ? 0 : rc;
}

void db_held_tx_init(struct held_tx *tx)
{
	memset(tx, 0, sizeof(*tx));
}

void db_held_tx_release(struct held_tx *tx)
{
	free(tx->by);
	free(tx->gone);
	db_held_tx_init(tx);
}

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? 2 * *cap : 8;
	void *np = realloc(*p, ncap * size);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

/* The count of signer as tx leaves it, read from the store when first touched. */
static int count_of(struct dfs_db *db, struct held_tx *tx, const struct dfs_pubkey *signer,
		    struct held_count **out)
{
	if (!tx->touched) {
		tx->total = db->held;
		tx->touched = true;
	}
	for (size_t i = 0; i < tx->nby; i++) {
		if (memcmp(tx->by[i].signer.b, signer->b, DFS_PUBKEY_LEN) == 0) {
			*out = &tx->by[i];
			return 0;
		}
	}
	if (grow((void **)&tx->by, &tx->bycap, tx->nby, sizeof(*tx->by)) < 0)
		return -ENOMEM;
	struct held_count *c = &tx->by[tx->nby];
	struct dfs_buf key;
	memset(c, 0, sizeof(*c));
	c->signer = *signer;
	dfs_buf_init(&key);
	dfs_key_held_sum(&key, signer);
	int rc = db_get_rec(db, &key, "held count", (db_decoder)dfs_held_sum_decode, &c->sum);
	dfs_buf_release(&key);
	if (rc == -ENOENT || rc == -EIO) {
		/* A corrupt count (reported) starts again from what is indexed from now on. */
		memset(&c->sum, 0, sizeof(c->sum));
		rc = 0;
	}
	if (rc == 0) {
		tx->nby++;
		*out = c;
	}
	return rc;
}

static void sub(struct dfs_held_sum *s, uint64_t bytes)
{
	s->bytes = s->bytes > bytes ? s->bytes - bytes : 0;
	s->count = s->count ? s->count - 1 : 0;
}

/* Counts a held update of bytes in (delta 1) or out (-1). */
static int count(struct dfs_db *db, struct held_tx *tx, const struct dfs_pubkey *signer,
		 uint64_t bytes, int delta)
{
	struct held_count *c;
	int rc = count_of(db, tx, signer, &c);

	if (rc < 0)
		return rc;
	if (delta > 0) {
		c->sum.bytes += bytes;
		c->sum.count++;
		tx->total.bytes += bytes;
		tx->total.count++;
	} else {
		sub(&c->sum, bytes);
		sub(&tx->total, bytes);
	}
	return 0;
}

int db_held_index(struct dfs_db *db, struct held_tx *tx, struct dfs_batch *b,
		  const struct dfs_pubkey *signer, const struct dfs_pubkey *entity,
		  const struct dfs_hash *hash, size_t len, uint64_t seq)
{
	struct dfs_held_rec r = { *signer, *entity, *hash, db_held_cost(len) };
	struct dfs_buf key, val;

	dfs_buf_init(&key);
	dfs_buf_init(&val);
	dfs_key_held(&key, seq);
	int rc = put_rec(b, &key, &val, dfs_held_rec_encode(&r, &val));
	dfs_key_held_by(&key, signer, seq);
	if (rc == 0)
		rc = put_key(b, &key, "", 0);
	if (rc == 0)
		rc = count(db, tx, signer, r.bytes, 1);
	dfs_buf_release(&key);
	dfs_buf_release(&val);
	return rc;
}

/* Deletes the index entries of r, kept at seq, and counts it out. */
static int unindex(struct dfs_db *db, struct held_tx *tx, struct dfs_batch *b,
		   const struct dfs_held_rec *r, uint64_t seq, struct dfs_buf *key)
{
	int rc;

	dfs_key_held(key, seq);
	rc = del_key(b, key);
	dfs_key_held_by(key, &r->signer, seq);
	if (rc == 0)
		rc = del_key(b, key);
	if (rc == 0)
		rc = count(db, tx, &r->signer, r->bytes, -1);
	return rc;
}

/* The index entry at seq: 0, -ENOENT (none: not held, or held before indexes), -EIO. */
static int held_at(struct dfs_db *db, uint64_t seq, struct dfs_held_rec *r, struct dfs_buf *key)
{
	dfs_key_held(key, seq);
	return db_get_rec(db, key, "held index", (db_decoder)dfs_held_rec_decode, r);
}

int db_held_unindex(struct dfs_db *db, struct held_tx *tx, struct dfs_batch *b, uint64_t seq)
{
	struct dfs_held_rec r;
	struct dfs_buf key;

	dfs_buf_init(&key);
	int rc = held_at(db, seq, &r, &key);
	if (rc == 0)
		rc = unindex(db, tx, b, &r, seq, &key);
	dfs_buf_release(&key);
	return rc == -ENOENT ? 0 : rc;
}

/*
 * Takes the held update r, kept at seq, out of everything that names it as
 * held: its mark, its history entry, its log entry (where it is the one
 * there) and its index entries; with record, its record too.
 */
static int unhold(struct dfs_db *db, struct held_tx *tx, struct dfs_batch *b,
		  const struct dfs_held_rec *r, uint64_t seq, bool record, struct dfs_buf *key)
{
	uint8_t *logged = NULL;
	size_t len = 0;
	int rc = 0;

	if (record) {
		dfs_key_update(key, &r->hash);
		rc = del_key(b, key);
	}
	dfs_key_rejected(key, &r->hash);
	if (rc == 0)
		rc = del_key(b, key);
	dfs_key_history(key, &r->entity, seq);
	if (rc == 0)
		rc = del_key(b, key);
	dfs_key_log(key, seq);
	if (rc == 0)
		rc = dfs_buf_ok(key);
	if (rc == 0)
		rc = dfs_store_get(db->st, key->data, key->len, &logged, &len);
	if (rc == 0 && len == DFS_HASH_LEN && memcmp(logged, r->hash.b, DFS_HASH_LEN) == 0)
		rc = del_key(b, key);
	free(logged);
	if (rc == -ENOENT)
		rc = 0;
	if (rc == 0)
		rc = unindex(db, tx, b, r, seq, key);
	return rc;
}

/* Deletes a held update and everything that names it, counted as dropped for the quota. */
static int drop(struct dfs_db *db, struct held_tx *tx, struct dfs_batch *b,
		const struct dfs_held_rec *r, uint64_t seq)
{
	struct dfs_buf key;

	dfs_buf_init(&key);
	int rc = unhold(db, tx, b, r, seq, true, &key);
	if (rc == 0 && grow((void **)&tx->gone, &tx->gonecap, tx->ngone, sizeof(*tx->gone)) < 0)
		rc = -ENOMEM;
	if (rc == 0)
		tx->gone[tx->ngone++] = seq;
	dfs_buf_release(&key);
	return rc;
}

int db_held_unhold(struct dfs_db *db, struct held_tx *tx, struct dfs_batch *b, uint64_t seq,
		   const struct dfs_hash *hash, bool record)
{
	struct dfs_held_rec r;
	struct dfs_buf key;

	dfs_buf_init(&key);
	int rc = held_at(db, seq, &r, &key);
	if (rc == 0 && memcmp(r.hash.b, hash->b, DFS_HASH_LEN) != 0)
		rc = -ENOENT;	/* another update's entry: this one is not held there */
	if (rc == 0)
		rc = unhold(db, tx, b, &r, seq, record, &key);
	dfs_buf_release(&key);
	return rc;
}

struct room {
	struct dfs_db *db;
	struct held_tx *tx;
	struct dfs_batch *b;
	bool by_signer;		/* scanning 'W' signer (else 'Q') */
	uint64_t need, freed;
};

static bool dropped_already(const struct held_tx *tx, uint64_t seq)
{
	for (size_t i = 0; i < tx->ngone; i++)
		if (tx->gone[i] == seq)
			return true;
	return false;
}

static uint64_t seq_of(const uint8_t *key, size_t klen)
{
	uint64_t seq = 0;

	for (size_t i = klen - 8; i < klen; i++)
		seq = seq << 8 | key[i];
	return seq;
}

/* One held update, oldest first: dropped until there is room. */
static int room_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct room *rm = arg;
	struct dfs_held_rec r;
	struct dfs_buf k;
	int rc = 0;

	if (klen != (rm->by_signer ? DFS_KEY_ENTITY_LEN : DFS_KEY_TAG_LEN) + 8)
		return db_skip_corrupt(rm->db, "held index", key, klen);
	uint64_t seq = seq_of(key, klen);
	if (dropped_already(rm->tx, seq))
		return 0;
	dfs_buf_init(&k);
	if (rm->by_signer)
		rc = held_at(rm->db, seq, &r, &k);
	else if (dfs_held_rec_decode(val, vlen, &r) < 0)
		rc = db_corrupt(rm->db, "held index", key, klen);
	dfs_buf_release(&k);
	if (rc == -ENOENT || rc == -EIO)
		return 0;	/* reported, or gone meanwhile: passed over */
	if (rc == 0)
		rc = drop(rm->db, rm->tx, rm->b, &r, seq);
	if (rc < 0)
		return rc;
	rm->freed += r.bytes;
	return rm->freed >= rm->need || rm->tx->ngone >= HELD_DROP_MAX ? 1 : 0;
}

/* Drops the oldest held updates under prefix until need bytes are freed. */
static int make_room(struct dfs_db *db, struct held_tx *tx, struct dfs_batch *b,
		     const struct dfs_pubkey *signer, uint64_t need)
{
	struct room rm = { db, tx, b, signer != NULL, need, 0 };
	uint8_t prefix[DFS_KEY_ENTITY_LEN];

	if (signer)
		dfs_key_held_by_prefix(prefix, signer);
	else
		dfs_key_held_prefix(prefix);
	if (tx->ngone >= HELD_DROP_MAX)
		return 0;
	int rc = dfs_store_scan(db->st, prefix, signer ? DFS_KEY_ENTITY_LEN : DFS_KEY_TAG_LEN,
				 room_one, &rm);
	return rc < 0 ? rc : 0;
}

int db_held_admit(struct dfs_db *db, struct held_tx *tx, struct dfs_batch *b,
		  const struct dfs_update *u, const struct dfs_hash *hash, size_t len,
		  uint64_t seq)
{
	uint64_t cost = db_held_cost(len);
	struct held_count *c;

	if (cost > db->held_per_signer || cost > db->held_max) {
		tx->refused++;
		return -EDQUOT;
	}
	int rc = count_of(db, tx, &u->signer, &c);
	if (rc == 0 && c->sum.bytes + cost > db->held_per_signer)
		rc = make_room(db, tx, b, &u->signer, c->sum.bytes + cost - db->held_per_signer);
	if (rc == 0 && tx->total.bytes + cost > db->held_max)
		rc = make_room(db, tx, b, NULL, tx->total.bytes + cost - db->held_max);
	if (rc == 0)
		rc = db_held_index(db, tx, b, &u->signer, &u->entity, hash, len, seq);
	return rc;
}

int db_held_commit(struct dfs_db *db, struct held_tx *tx, struct dfs_batch *b)
{
	struct dfs_buf key, val;
	int rc = 0;

	(void)db;
	if (!tx->touched)
		return 0;
	dfs_buf_init(&key);
	dfs_buf_init(&val);
	for (size_t i = 0; i < tx->nby && rc == 0; i++) {
		dfs_key_held_sum(&key, &tx->by[i].signer);
		dfs_buf_reset(&val);
		if (tx->by[i].sum.count == 0)
			rc = del_key(b, &key);
		else
			rc = put_rec(b, &key, &val, dfs_held_sum_encode(&tx->by[i].sum, &val));
	}
	dfs_key_held_total(&key);
	dfs_buf_reset(&val);
	if (rc == 0)
		rc = put_rec(b, &key, &val, dfs_held_sum_encode(&tx->total, &val));
	dfs_buf_release(&key);
	dfs_buf_release(&val);
	return rc;
}

/* Logs drops at most once a minute, with the count since the last line. */
static void say(struct dfs_db *db, const struct held_tx *tx)
{
	uint64_t now = dfs_monotonic_ms();

	db->held_unsaid += tx->ngone + tx->refused;
	if (db->held_said_ms && now - db->held_said_ms < LIMIT_SAY_MS)
		return;
	dfs_log(DFS_LOG_WARNING, "held updates past their quota (held_per_signer %" PRIu64
		" bytes, held_max %" PRIu64 "): %" PRIu64 " dropped, oldest first, since the "
		"last such line; %" PRIu64 " bytes held now", db->held_per_signer, db->held_max,
		db->held_unsaid, db->held.bytes);
	db->held_said_ms = now ? now : 1;
	db->held_unsaid = 0;
}

void db_held_done(struct dfs_db *db, struct held_tx *tx)
{
	if (tx->touched)
		db->held = tx->total;
	if (tx->ngone || tx->refused) {
		atomic_fetch_add(&db->held_dropped, tx->ngone + tx->refused);
		say(db, tx);
	}
	db_held_tx_release(tx);
}

/*
 * Indexing a store of format 2, whose held updates have no index: in
 * batches of INDEX_BATCH entries, each written whole. A crash before the
 * end leaves the version as it was, and the next open writes the same
 * entries again.
 */
#define INDEX_BATCH 4096

struct indexing {
	struct dfs_db *db;
	struct dfs_batch *b;
	size_t n;		/* entries in b */
	struct dfs_held_sum total;
	bool has_signer;	/* the signer being summed, from 'W' */
	struct held_count sum;
	struct dfs_buf key, val;
};

/* Writes what b holds and starts another, every INDEX_BATCH entries (or at the end). */
static int index_flush(struct indexing *ix, bool last)
{
	if (!last && ++ix->n < INDEX_BATCH)
		return 0;
	int rc = dfs_store_commit(ix->db->st, ix->b);
	ix->b = NULL;
	ix->n = 0;
	if (rc == 0 && !last)
		ix->b = dfs_batch_new();
	return rc < 0 ? rc : !last && !ix->b ? -ENOMEM : 0;
}

/* A history entry: where it is held, its index entries ('Q', 'W'). */
static int index_entry(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
		       void *arg)
{
	struct indexing *ix = arg;
	struct dfs_history_rec e;
	struct dfs_held_rec r;
	struct dfs_update u;
	uint8_t *rec;
	size_t len;

	if (klen != DFS_KEY_ENTITY_LEN + 8 || dfs_history_rec_decode(val, vlen, &e) < 0)
		return db_skip_corrupt(ix->db, "history", key, klen);
	if (!e.held)
		return 0;
	int rc = db_get_update(ix->db, &e.hash, &rec, &len);
	if (rc < 0)
		return rc == -ENOENT ? db_skip_corrupt(ix->db, "history link", key, klen) : rc;
	if (dfs_update_decode_stored(rec, len, &u) == 0) {
		uint64_t seq = seq_of(key, klen);
		r = (struct dfs_held_rec){ u.signer, u.entity, e.hash, db_held_cost(len) };
		dfs_key_held(&ix->key, seq);
		dfs_buf_reset(&ix->val);
		rc = put_rec(ix->b, &ix->key, &ix->val, dfs_held_rec_encode(&r, &ix->val));
		dfs_key_held_by(&ix->key, &u.signer, seq);
		if (rc == 0)
			rc = put_key(ix->b, &ix->key, "", 0);
		if (rc == 0)
			rc = index_flush(ix, false);
	} else {
		rc = db_skip_corrupt(ix->db, "update", key, klen);
	}
	free(rec);
	return rc;
}

/* Writes the count of the signer summed so far ('K'). */
static int index_sum_put(struct indexing *ix)
{
	if (!ix->has_signer)
		return 0;
	dfs_key_held_sum(&ix->key, &ix->sum.signer);
	dfs_buf_reset(&ix->val);
	int rc = put_rec(ix->b, &ix->key, &ix->val, dfs_held_sum_encode(&ix->sum.sum, &ix->val));
	return rc == 0 ? index_flush(ix, false) : rc;
}

/* A signer's held update ('W'), in signer order: summed per signer and in all. */
static int index_sum(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct indexing *ix = arg;
	struct dfs_held_rec r;
	struct dfs_buf k;

	(void)val;
	(void)vlen;
	if (klen != DFS_KEY_ENTITY_LEN + 8)
		return db_skip_corrupt(ix->db, "held index", key, klen);
	if (ix->has_signer && memcmp(ix->sum.signer.b, key + 1, DFS_PUBKEY_LEN) != 0) {
		int rc = index_sum_put(ix);
		if (rc < 0)
			return rc;
		ix->has_signer = false;
	}
	if (!ix->has_signer) {
		memcpy(ix->sum.signer.b, key + 1, DFS_PUBKEY_LEN);
		memset(&ix->sum.sum, 0, sizeof(ix->sum.sum));
		ix->has_signer = true;
	}
	dfs_buf_init(&k);
	int rc = held_at(ix->db, seq_of(key, klen), &r, &k);
	dfs_buf_release(&k);
	if (rc == -ENOENT || rc == -EIO)
		return 0;
	if (rc == 0) {
		ix->sum.sum.bytes += r.bytes;
		ix->sum.sum.count++;
		ix->total.bytes += r.bytes;
		ix->total.count++;
	}
	return rc;
}

int db_held_index_all(struct dfs_db *db)
{
	struct indexing ix = { .db = db, .b = dfs_batch_new() };
	uint8_t prefix[DFS_KEY_TAG_LEN];
	int rc = ix.b ? 0 : -ENOMEM;

	dfs_buf_init(&ix.key);
	dfs_buf_init(&ix.val);
	prefix[0] = 'H';	/* every history entry (records.h) */
	if (rc == 0)
		rc = dfs_store_scan(db->st, prefix, sizeof(prefix), index_entry, &ix);
	if (rc == 0)
		rc = index_flush(&ix, true);
	if (rc == 0 && !(ix.b = dfs_batch_new()))
		rc = -ENOMEM;
	prefix[0] = 'W';	/* every signer's held updates */
	if (rc == 0)
		rc = dfs_store_scan(db->st, prefix, sizeof(prefix), index_sum, &ix);
	if (rc == 0)
		rc = index_sum_put(&ix);
	dfs_key_held_total(&ix.key);
	dfs_buf_reset(&ix.val);
	if (rc == 0)
		rc = put_rec(ix.b, &ix.key, &ix.val, dfs_held_sum_encode(&ix.total, &ix.val));
	if (rc == 0)
		rc = index_flush(&ix, true);
	dfs_batch_free(ix.b);
	if (rc == 0 && ix.total.count)
		dfs_log(DFS_LOG_NOTICE, "store: indexed %" PRIu64 " held updates (%" PRIu64
			" bytes) for their quota", ix.total.count, ix.total.bytes);
	dfs_buf_release(&ix.key);
	dfs_buf_release(&ix.val);
	return rc;
}
