// SPDX-License-Identifier: MIT
/* receive.c - remote updates: check, run, group receive and end, refusals */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/hlc.h"
#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

static const char *short_hex(char out[17], const struct dfs_hash *h)
{
	dfs_hex_encode(out, h->b, 8);
	return out;
}

struct dfs_db_group *dfs_db_group_new(struct dfs_db *db)
{
	struct dfs_db_group *g = calloc(1, sizeof(*g));

	if (g)
		g->db = db;
	return g;
}

void dfs_db_group_origin(struct dfs_db_group *g, uint64_t origin)
{
	g->origin = origin;
}

size_t dfs_db_group_bytes(const struct dfs_db_group *g)
{
	return g->bytes;
}

void dfs_db_run_init(struct dfs_db_run *run, size_t count)
{
	size_t size = 16;

	while (size < 2 * count)
		size *= 2;
	run->n = 0;
	run->tab = calloc(size, sizeof(*run->tab));
	run->size = run->tab ? size : 0;
}

void dfs_db_run_release(struct dfs_db_run *run)
{
	free(run->tab);
	run->tab = NULL;
	run->size = run->n = 0;
}

/* The run's entry for h, or the free slot where it would go; NULL if the run has no table. */
static struct dfs_db_checked *run_slot(struct dfs_db_run *run, const struct dfs_hash *h)
{
	if (!run || !run->size)
		return NULL;
	size_t at;
	memcpy(&at, h->b, sizeof(at));
	for (at &= run->size - 1;; at = (at + 1) & (run->size - 1)) {
		struct dfs_db_checked *e = &run->tab[at];
		if (!e->fresh || memcmp(e->hash.b, h->b, DFS_HASH_LEN) == 0)
			return e;
	}
}

int dfs_db_check(struct dfs_db *db, const uint8_t *rec, size_t len, struct dfs_db_run *run,
		 struct dfs_db_checked *out)
{
	struct dfs_update u;
	struct dfs_db_checked c = { .fresh = false };
	struct dfs_db_checked *before;
	int have = 0;

	if (out)
		*out = c;
	if (dfs_update_decode(rec, len, &u) < 0)
		goto bad;
	dfs_hash2(&c.hash, rec, len, NULL, 0);
	before = memcmp(u.prev.b, zero_hash.b, DFS_HASH_LEN) != 0 ? run_slot(run, &u.prev) : NULL;
	if (before && before->fresh) {
		/* Not stored when its predecessor was not: new as of then. */
		c.stamp = before->stamp;
		c.fresh = true;
	} else {
		/* First: what was logged up to the stamp is in the store for the lookup. */
		c.stamp = atomic_load_explicit(&db->visible, memory_order_acquire);
		have = db_stored(db, &c.hash);
		/* A failed lookup (< 0) says nothing: the applier looks again. */
		c.fresh = have == 0;
	}
	if (out)
		*out = c;
	if (have == 1)
		return -EALREADY;
	if (dfs_verify(u.sig, rec, dfs_update_signed_len(len), &u.signer) < 0)
		goto bad;
	struct dfs_db_checked *slot = c.fresh ? run_slot(run, &c.hash) : NULL;
	if (slot && !slot->fresh && 2 * (run->n + 1) <= run->size) {
		*slot = c;
		run->n++;
	}
	return 0;
bad:
	atomic_fetch_add(&db->refused, 1);
	return -EBADMSG;
}

/* Values past max_value are held quietly, and said at most once a minute. */
static void log_too_large(struct dfs_db *db, const char *where, const struct dfs_hash *h)
{
	uint64_t now = dfs_monotonic_ms();
	uint64_t last = atomic_load(&db->limit_said_ms);
	char hex[17];

	atomic_fetch_add(&db->limit_held, 1);
	atomic_fetch_add(&db->limit_unsaid, 1);
	if (last && now - last < LIMIT_SAY_MS)
		return;
	if (!atomic_compare_exchange_strong(&db->limit_said_ms, &last, now ? now : 1))
		return;
	dfs_log(DFS_LOG_WARNING, "remote update %s of %s held: its value passes max_value "
		"(%zu bytes here); %llu held so since the last such line", short_hex(hex, h),
		where, db->max_value, (unsigned long long)atomic_exchange(&db->limit_unsaid, 0));
}

/* Logs a remote update not applied, naming its model, object and field (never its value). */
static void log_refusal(struct dfs_db *db, const struct dfs_update *u, const struct applied *note,
			const struct dfs_hash *hash, int rc, bool staged, bool by_policy, int hold)
{
	char hex[17], where[2 * DFS_UPDATE_NAME_MAX];

	atomic_fetch_add(&db->refused, 1);
	/* Listeners log their own rejections, held.c drops for a quota; the rest is logged here. */
	if (!staged && rc == -EDQUOT)
		return;
	if (staged && !by_policy && hold != 0)
		return;
	db_where(db, u, note->object, where, sizeof(where));
	short_hex(hex, hash);
	if (staged && rc == -EFBIG && hold == 0)
		log_too_large(db, where, hash);
	else if (!staged)
		dfs_log(DFS_LOG_WARNING, "remote update %s of %s dropped: %s", hex, where,
			strerror(-rc));
	else if (by_policy || (rc == -EPERM && hold == 0))
		dfs_log(DFS_LOG_WARNING, "rejected remote update %s of %s: signer not authorized",
			hex, where);
	else if (hold == 0)
		dfs_log(DFS_LOG_INFO, "remote update %s of %s not applied: %s", hex, where,
			strerror(-rc));
}

/* Makes room for one more item in g. */
static int group_grow(struct dfs_db_group *g)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 16;
		struct group_item **items = realloc(g->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		g->items = items;
		g->cap = cap;
	}
	return 0;
}

void db_receive_hold(struct dfs_db *db, struct group_item *it, struct db_hold *hold)
{
	hold->judged = it->j.judged || it->j.keys;
	if (!it->j.authorized && !db->open_policy) {
		hold->rc = -EPERM;
		hold->code = DFS_HELD_UNAUTHORIZED;
	} else {
		hold->rc = db_judge_before(db, &it->j, hold->text, sizeof(hold->text));
		hold->code = DFS_HELD_LISTENER;
	}
}

/*
 * Asks the listeners about the update of it where they judge it (unless
 * the policy holds it), applies it under the apply lock and stages its
 * batch, and logs a refusal.
 */
static int group_apply(struct dfs_db *db, struct group_item *it, const struct dfs_update *u,
		       const uint8_t *rec, size_t len, const struct dfs_db_checked *c,
		       struct dfs_hash *missing)
{
	struct db_hold hold = { .rc = 0 };
	bool by_policy = !it->j.authorized && !db->open_policy;

	db_receive_hold(db, it, &hold);
	pthread_mutex_lock(&db->apply_lock);
	/* The open policy lets listeners judge what they are asked; the owner's rules stay. */
	int rc = db_apply_locked(db, rec, len, c, false, &hold,
				 db->open_policy && !it->j.authorized, missing, &it->note, &it->b,
				 NULL);
	if (it->b)
		db_stage_locked(db, it->b, &it->note);
	pthread_mutex_unlock(&db->apply_lock);
	if (it->b)
		db_staged(db, &it->note);
	if (rc != 0 && rc != -EALREADY && rc != -EAGAIN)
		log_refusal(db, u, &it->note, &c->hash, rc, it->b != NULL, by_policy, hold.rc);
	return rc;
}

/*
 * An update stamped more than max_skew ahead of the wall clock is neither
 * judged nor applied nor logged yet: -ETIME, unless it is stored already.
 */
static int too_early(struct dfs_db *db, const uint8_t *rec, size_t len,
		     const struct dfs_db_checked *checked)
{
	struct dfs_hash h;

	if (checked)
		h = checked->hash;
	else
		dfs_hash2(&h, rec, len, NULL, 0);
	return db_known(db, &h) ? -EALREADY : -ETIME;
}

bool dfs_db_known(struct dfs_db *db, const struct dfs_hash *h)
{
	return db_known(db, h);
}

uint64_t dfs_db_clock_wait(struct dfs_db *db, const uint8_t *rec, size_t len)
{
	struct dfs_update u;
	uint64_t limit = db_clock_limit(db);

	if (dfs_update_decode(rec, len, &u) < 0 || u.clock <= limit)
		return 0;
	return dfs_hlc_ms(u.clock) - dfs_hlc_ms(limit);
}

int dfs_db_group_receive(struct dfs_db_group *g, const uint8_t *rec, size_t len,
			 const struct dfs_db_checked *checked, struct dfs_hash *missing,
			 uint64_t *seq)
{
	struct dfs_db *db = g->db;
	struct dfs_update u;
	struct dfs_db_checked own = { .fresh = false };
	const struct dfs_db_checked *c = checked ? checked : &own;
	int rc = dfs_update_decode(rec, len, &u);

	if (seq)
		*seq = 0;
	/*
	 * Checked: it was not stored then, and the apply lock decides for
	 * certain. Not checked: one stored already (the same bytes, so a
	 * signature verified then) is known before its signature is verified
	 * again, which costs most for a big one that another peer relays.
	 */
	if (rc == 0 && !checked) {
		dfs_hash2(&own.hash, rec, len, NULL, 0);
		if (db_known(db, &own.hash))
			return -EALREADY;
		if (dfs_verify(u.sig, rec, dfs_update_signed_len(len), &u.signer) < 0)
			rc = -EBADMSG;
	}
	if (rc < 0) {
		atomic_fetch_add(&db->refused, 1);
		return -EBADMSG;
	}
	if (u.clock > db_clock_limit(db))
		return too_early(db, rec, len, checked);
	if (group_grow(g) < 0)
		return -ENOMEM;
	/* On the heap: the judgement points into itself. */
	struct group_item *it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	rc = db_judge_prepare(g, &u, &it->j);
	/* Listeners are not asked about an update that came in twice meanwhile. */
	if (rc == 0 && (it->j.judged || it->j.keys) && checked && db_known(db, &c->hash))
		rc = -EALREADY;
	if (rc < 0) {
		db_judgement_release(&it->j);
		free(it);
		return rc;
	}
	rc = group_apply(db, it, &u, rec, len, c, missing);
	if (!it->b) {
		db_judgement_release(&it->j);
		free(it);
		return rc;
	}
	it->rc = rc;
	g->bytes += dfs_batch_bytes(it->b) + db_judgement_bytes(&it->j);
	g->items[g->n++] = it;
	if (seq)
		*seq = it->note.ev.seq;
	return rc;
}

void dfs_db_group_bulk(struct dfs_db_group *g)
{
	g->bulk = true;
	dfs_store_bulk(g->db->st);
}

int dfs_db_group_end(struct dfs_db_group *g)
{
	struct dfs_db *db = g->db;
	int ret = 0;

	/* Batches are written in staging order: the first wait writes them all. */
	for (size_t i = 0; i < g->n; i++) {
		struct group_item *it = g->items[i];
		int wrc = dfs_store_wait(db->st, it->b);
		if (wrc < 0) {
			ret = wrc;
		} else {
			it->note.ev.bulk = g->bulk;
			db_observe(db, &it->note);
			if (it->rc == 0) {
				atomic_fetch_add(&db->applied, 1);
				db_judge_after(db, &it->j);
			}
		}
		db_judgement_release(&it->j);
		free(it);
	}
	free(g->items);
	free(g);
	return ret;
}

int dfs_db_receive(struct dfs_db *db, const uint8_t *rec, size_t len, struct dfs_hash *missing)
{
	struct dfs_db_group *g = dfs_db_group_new(db);

	if (!g)
		return -ENOMEM;
	int rc = dfs_db_group_receive(g, rec, len, NULL, missing, NULL);
	int wrc = dfs_db_group_end(g);
	return wrc < 0 ? wrc : rc;
}

int dfs_db_apply(struct dfs_db *db, const uint8_t *rec, size_t len)
{
	return dfs_db_receive(db, rec, len, NULL);
}
