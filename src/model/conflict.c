// SPDX-License-Identifier: MIT
/*
 * conflict.c - values that lost to a concurrent write, kept in the store.
 *
 * A set or delete made here names the update its field's value started
 * from, its base (update.h). A set of a field (FIELD, not a dict key) is a
 * conflict when it is not the field's winner, no applied update of the
 * field has it as base or resolves it, and no set or delete without a base
 * (an older release's, which builds on everything before it) comes after
 * it. That is decided from the set of updates alone, whatever order they
 * arrive in, and kept up as each is applied, in the store:
 *
 *   'B' entity path          -> the field's winner (the greatest set or
 *                               delete by (clock, signer, hash)) and floor
 *                               (the greatest set or delete without a base)
 *   'Y' entity path 0 hash   -> clock(8) signer(32): a conflict
 *   'Z' entity path 0 hash   -> empty: built on or resolved, never a conflict
 *   'S' "conflicts"          -> count(8): how many 'Y' entries there are
 *
 * Nothing about conflicts is held in memory between updates.
 *
 * Not yet done: a change of .authorized that re-judges updates (revoke.c)
 * applies or undoes them without passing here, so their conflicts are not
 * re-decided.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/util.h"
#include "internal.h"

#define HEAD_REC_VERSION 1
#define HEAD_HAS_WIN 0x01
#define HEAD_WIN_SET 0x02
#define HEAD_HAS_FLOOR 0x04
#define HEAD_REC_LEN (2 + DFS_HASH_LEN + 8 + DFS_PUBKEY_LEN + 8 + DFS_PUBKEY_LEN)

static void key_head(struct dfs_buf *k, const struct dfs_pubkey *e, const char *p, size_t plen)
{
	dfs_buf_reset(k);
	dfs_buf_add_u8(k, 'B');
	dfs_buf_add(k, e->b, DFS_PUBKEY_LEN);
	dfs_buf_add(k, p, plen);
}

/* 'Y' (a conflict) or 'Z' (dismissed); with h NULL, the prefix of the path's entries. */
static void key_mark(struct dfs_buf *k, uint8_t tag, const struct dfs_pubkey *e, const char *p,
		     size_t plen, const struct dfs_hash *h)
{
	dfs_buf_reset(k);
	dfs_buf_add_u8(k, tag);
	dfs_buf_add(k, e->b, DFS_PUBKEY_LEN);
	dfs_buf_add(k, p, plen);
	dfs_buf_add_u8(k, 0);
	if (h)
		dfs_buf_add(k, h->b, DFS_HASH_LEN);
}

static void key_count(struct dfs_buf *k)
{
	dfs_buf_reset(k);
	dfs_buf_add(k, "Sconflicts", 10);
}

static uint64_t load_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int head_decode(const uint8_t *p, size_t len, struct db_head *h)
{
	struct dfs_reader r;
	uint8_t v;

	dfs_reader_init(&r, p, len);
	if (len != HEAD_REC_LEN || dfs_reader_get_u8(&r, &v) < 0 || v != HEAD_REC_VERSION ||
	    dfs_reader_get_u8(&r, &h->flags) < 0 ||
	    dfs_reader_get_bytes(&r, h->win.b, DFS_HASH_LEN) < 0 ||
	    dfs_reader_get_u64be(&r, &h->clock) < 0 ||
	    dfs_reader_get_bytes(&r, h->signer.b, DFS_PUBKEY_LEN) < 0 ||
	    dfs_reader_get_u64be(&r, &h->fclock) < 0 ||
	    dfs_reader_get_bytes(&r, h->fsigner.b, DFS_PUBKEY_LEN) < 0)
		return -EBADMSG;
	return 0;
}

static void head_encode(const struct db_head *h, struct dfs_buf *out)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, HEAD_REC_VERSION);
	dfs_buf_add_u8(out, h->flags);
	dfs_buf_add(out, h->win.b, DFS_HASH_LEN);
	dfs_buf_add_u64be(out, h->clock);
	dfs_buf_add(out, h->signer.b, DFS_PUBKEY_LEN);
	dfs_buf_add_u64be(out, h->fclock);
	dfs_buf_add(out, h->fsigner.b, DFS_PUBKEY_LEN);
}

/* Reads a field's head; none is all zero. 0, -EIO or -ENOMEM. */
static int head_get(struct dfs_db *db, const struct dfs_pubkey *e, const char *p, size_t plen,
		    struct db_head *h)
{
	struct dfs_buf k;
	uint8_t *v;
	size_t len;

	memset(h, 0, sizeof(*h));
	dfs_buf_init(&k);
	key_head(&k, e, p, plen);
	int rc = dfs_buf_ok(&k);
	if (rc == 0)
		rc = dfs_store_get(db->st, k.data, k.len, &v, &len);
	if (rc == 0) {
		rc = head_decode(v, len, h);
		free(v);
		if (rc < 0)
			rc = db_corrupt(db, "conflict head", k.data, k.len);
	}
	dfs_buf_release(&k);
	return rc == -ENOENT ? 0 : rc;
}

/* 1 where the key is stored (staged included), 0 where not, or -EIO. */
static int has_key(struct dfs_db *db, const struct dfs_buf *k)
{
	uint8_t *v;
	size_t len;
	int rc = dfs_buf_ok(k);

	if (rc == 0)
		rc = dfs_store_get(db->st, k->data, k->len, &v, &len);
	if (rc == 0)
		free(v);
	return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

/* (clock, signer, hash): last writer wins, a tie settled by hash. */
static int lww3(uint64_t ca, const struct dfs_pubkey *sa, const struct dfs_hash *ha, uint64_t cb,
		const struct dfs_pubkey *sb, const struct dfs_hash *hb)
{
	int c = clock_cmp(ca, sa, cb, sb);

	return c ? c : memcmp(ha->b, hb->b, DFS_HASH_LEN);
}

/* What one update changes in its field's conflicts, in a->b. */
struct cx {
	struct apply *a;
	const char *path;
	size_t plen;
	struct db_head h;
	int64_t delta;		/* conflicts added less conflicts removed */
	struct dfs_buf k;
};

/* Drops hash's conflict, if any, and marks it dismissed when mark says so. */
static int dismiss(struct cx *x, const struct dfs_hash *hash, bool mark)
{
	const struct dfs_pubkey *e = &x->a->u->entity;
	int rc = 0;

	if (mark) {
		key_mark(&x->k, 'Z', e, x->path, x->plen, hash);
		rc = put_key(x->a->b, &x->k, "", 0);
	}
	key_mark(&x->k, 'Y', e, x->path, x->plen, hash);
	int had = rc == 0 ? has_key(x->a->db, &x->k) : rc;
	if (had == 1) {
		x->delta--;
		had = del_key(x->a->b, &x->k);
	}
	return had < 0 ? had : 0;
}

/* A scanned conflict below the floor: dropped (a db_scan_fn). */
static int drop_below(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct cx *x = arg;
	struct dfs_reader r;
	uint64_t clock;
	struct dfs_pubkey signer;

	dfs_reader_init(&r, val, vlen);
	if (dfs_reader_get_u64be(&r, &clock) < 0 ||
	    dfs_reader_get_bytes(&r, signer.b, DFS_PUBKEY_LEN) < 0)
		return db_skip_corrupt(x->a->db, "conflict", key, klen);
	if (clock_cmp(clock, &signer, x->h.fclock, &x->h.fsigner) >= 0)
		return 0;
	x->delta--;
	return dfs_batch_del(x->a->b, key, klen);
}

/* Whether (clock, signer) lies at or above the floor. */
static bool above_floor(const struct db_head *h, uint64_t clock, const struct dfs_pubkey *signer)
{
	return !(h->flags & HEAD_HAS_FLOOR) || clock_cmp(clock, signer, h->fclock, &h->fsigner) >= 0;
}

/*
 * What a->u builds on: its base, or, without one, everything before it.
 * A base that is the winner a->u replaces (win: a local write's, always)
 * needs no mark: a winner has no conflict (winners only grow, and only a
 * set that lost is kept as one), and once replaced it is never weighed
 * again but here, where note_write() skips it.
 */
static int builds_on(struct cx *x, bool win)
{
	const struct dfs_update *u = x->a->u;

	if (u->flags & DFS_UPDATE_FLAG_BASE) {
		if (!memcmp(u->base.b, zero_hash.b, DFS_HASH_LEN))
			return 0;
		if (win && (x->h.flags & HEAD_HAS_WIN) &&
		    !memcmp(u->base.b, x->h.win.b, DFS_HASH_LEN))
			return 0;
		return dismiss(x, &u->base, true);
	}
	if ((x->h.flags & HEAD_HAS_FLOOR) &&
	    clock_cmp(u->clock, &u->signer, x->h.fclock, &x->h.fsigner) <= 0)
		return 0;	/* the floor is at or past it already */
	x->h.flags |= HEAD_HAS_FLOOR;
	x->h.fclock = u->clock;
	x->h.fsigner = u->signer;
	key_mark(&x->k, 'Y', &u->entity, x->path, x->plen, NULL);
	int rc = dfs_buf_ok(&x->k);
	return rc ? rc : dfs_store_scan(x->a->db->st, x->k.data, x->k.len, drop_below, x);
}

/* Adds hash, a set at (clock, signer), as a conflict unless it was dismissed. */
static int add_conflict(struct cx *x, const struct dfs_hash *hash, uint64_t clock,
			const struct dfs_pubkey *signer)
{
	const struct dfs_update *u = x->a->u;

	if (!above_floor(&x->h, clock, signer))
		return 0;
	if ((u->flags & DFS_UPDATE_FLAG_BASE) && memcmp(u->base.b, hash->b, DFS_HASH_LEN) == 0)
		return 0;	/* dismissed in this very batch */
	key_mark(&x->k, 'Z', &u->entity, x->path, x->plen, hash);
	int rc = has_key(x->a->db, &x->k);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	key_mark(&x->k, 'Y', &u->entity, x->path, x->plen, hash);
	struct dfs_buf v;
	dfs_buf_init(&v);
	dfs_buf_add_u64be(&v, clock);
	dfs_buf_add(&v, signer->b, DFS_PUBKEY_LEN);
	rc = dfs_buf_ok(&v);
	if (rc == 0)
		rc = put_key(x->a->b, &x->k, v.data, v.len);
	dfs_buf_release(&v);
	if (rc == 0)
		x->delta++;
	return rc;
}

/* Writes the head and the count of conflicts into a->b. */
static int finish(struct cx *x)
{
	struct dfs_buf v;
	uint8_t *old;
	size_t len;
	uint64_t count = 0;
	int rc;

	dfs_buf_init(&v);
	head_encode(&x->h, &v);
	key_head(&x->k, &x->a->u->entity, x->path, x->plen);
	rc = dfs_buf_ok(&v);
	if (rc == 0)
		rc = put_key(x->a->b, &x->k, v.data, v.len);
	if (rc == 0 && x->delta != 0) {
		key_count(&x->k);
		rc = dfs_store_get(x->a->db->st, x->k.data, x->k.len, &old, &len);
		if (rc == 0) {
			if (len == 8)
				count = load_u64(old);
			free(old);
		}
		count = (int64_t)count + x->delta < 0 ? 0 : (uint64_t)((int64_t)count + x->delta);
		dfs_buf_reset(&v);
		dfs_buf_add_u64be(&v, count);
		rc = rc == 0 || rc == -ENOENT ? dfs_buf_ok(&v) : rc;
		if (rc == 0)
			rc = put_key(x->a->b, &x->k, v.data, v.len);
	}
	dfs_buf_release(&v);
	return rc;
}

/* A set or delete of a field: what it builds on, and who wins. */
static int note_write(struct cx *x)
{
	const struct dfs_update *u = x->a->u;
	const struct dfs_hash *hash = &x->a->hash;
	/* Decided before builds_on(), which moves only the floor. */
	bool win = !(x->h.flags & HEAD_HAS_WIN) ||
		   lww3(u->clock, &u->signer, hash, x->h.clock, &x->h.signer, &x->h.win) > 0;
	int rc = builds_on(x, win);

	if (rc < 0)
		return rc;
	if (win) {
		if ((x->h.flags & HEAD_WIN_SET) &&
		    (rc = add_conflict(x, &x->h.win, x->h.clock, &x->h.signer)) < 0)
			return rc;
		x->h.flags = (uint8_t)((x->h.flags & HEAD_HAS_FLOOR) | HEAD_HAS_WIN |
				       (u->op == DFS_OP_FIELD_SET ? HEAD_WIN_SET : 0));
		x->h.win = *hash;
		x->h.clock = u->clock;
		x->h.signer = u->signer;
		return 0;
	}
	return u->op == DFS_OP_FIELD_SET ? add_conflict(x, hash, u->clock, &u->signer) : 0;
}

int db_conflict_apply(struct apply *a)
{
	const struct dfs_update *u = a->u;
	struct cx x = { .a = a, .path = a->name, .plen = u->name_len };
	int rc;

	if (memchr(u->name, '/', u->name_len))
		return 0;	/* dict keys have no conflicts */
	dfs_buf_init(&x.k);
	if (a->head) {
		x.h = *a->head;	/* read under this very hold of the lock */
		rc = 0;
	} else {
		rc = head_get(a->db, &u->entity, x.path, x.plen, &x.h);
	}
	if (rc == 0 && u->op == DFS_OP_FIELD_RESOLVE) {
		struct dfs_hash lost;
		memcpy(lost.b, u->value, DFS_HASH_LEN);
		key_mark(&x.k, 'Y', &u->entity, x.path, x.plen, &lost);
		rc = a->local ? has_key(a->db, &x.k) : 1;
		if (rc == 0)
			rc = -ENOENT;	/* nothing to resolve here */
		if (rc == 1)
			rc = dismiss(&x, &lost, true);
	} else if (rc == 0) {
		rc = note_write(&x);
	}
	if (rc == 0)
		rc = finish(&x);
	dfs_buf_release(&x.k);
	return rc;
}

int db_conflict_base(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
		     struct dfs_hash *base, struct db_head *h)
{
	int rc = head_get(db, obj, path, strlen(path), h);

	*base = rc == 0 && (h->flags & HEAD_HAS_WIN) ? h->win : zero_hash;
	return rc;
}

/* ---- queries ----------------------------------------------------------------- */

struct walk {
	struct dfs_db *db;
	dfs_db_conflict_fn fn;
	void *arg;
};

static int walk_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
	struct walk *w = arg;
	struct dfs_db_conflict c;
	struct dfs_reader r;
	struct db_head h;

	memset(&c, 0, sizeof(c));
	if (klen < 1 + DFS_PUBKEY_LEN + 2 + DFS_HASH_LEN ||
	    key[klen - DFS_HASH_LEN - 1] != 0 ||
	    klen - DFS_HASH_LEN - 2 - DFS_PUBKEY_LEN > DFS_NAME_MAX)
		return db_skip_corrupt(w->db, "conflict", key, klen);
	memcpy(c.object.b, key + 1, DFS_PUBKEY_LEN);
	memcpy(c.path, key + 1 + DFS_PUBKEY_LEN, klen - DFS_HASH_LEN - 2 - DFS_PUBKEY_LEN);
	memcpy(c.lost.b, key + klen - DFS_HASH_LEN, DFS_HASH_LEN);
	dfs_reader_init(&r, val, vlen);
	if (dfs_reader_get_u64be(&r, &c.clock) < 0 ||
	    dfs_reader_get_bytes(&r, c.signer.b, DFS_PUBKEY_LEN) < 0)
		return db_skip_corrupt(w->db, "conflict", key, klen);
	if (head_get(w->db, &c.object, c.path, strlen(c.path), &h) == 0 &&
	    (h.flags & HEAD_HAS_WIN)) {
		c.winner = h.win;
		c.win_clock = h.clock;
		c.win_signer = h.signer;
	}
	return w->fn(&c, w->arg);
}

int dfs_db_conflicts(struct dfs_db *db, const struct dfs_pubkey *obj, dfs_db_conflict_fn fn,
		     void *arg)
{
	uint8_t prefix[1 + DFS_PUBKEY_LEN] = { 'Y' };
	struct walk w = { db, fn, arg };

	if (obj)
		memcpy(prefix + 1, obj->b, DFS_PUBKEY_LEN);
	return dfs_store_scan(db->st, prefix, obj ? sizeof(prefix) : 1, walk_one, &w);
}

uint64_t dfs_db_conflict_count(struct dfs_db *db)
{
	struct dfs_buf k;
	uint8_t *v;
	size_t len;
	uint64_t n = 0;

	dfs_buf_init(&k);
	key_count(&k);
	if (dfs_buf_ok(&k) == 0 && dfs_store_get(db->st, k.data, k.len, &v, &len) == 0) {
		if (len == 8)
			n = load_u64(v);
		free(v);
	}
	dfs_buf_release(&k);
	return n;
}

int dfs_db_conflict_value(struct dfs_db *db, const struct dfs_pubkey *obj, const char *path,
			  const struct dfs_hash *lost, uint8_t **val, size_t *len, bool *sealed)
{
	struct dfs_update u;
	struct dfs_buf out;
	uint8_t *rec;
	size_t rlen;
	int rc = db_get_update(db, lost, &rec, &rlen);

	if (rc < 0)
		return rc;
	rc = dfs_update_decode_stored(rec, rlen, &u);
	if (rc == 0 && (u.op != DFS_OP_FIELD_SET || memcmp(u.entity.b, obj->b, DFS_PUBKEY_LEN) ||
			u.name_len != strlen(path) || memcmp(u.name, path, u.name_len)))
		rc = -ENOENT;
	dfs_buf_init(&out);
	if (sealed)
		*sealed = rc == 0 && (u.flags & DFS_UPDATE_FLAG_SEALED);
	if (rc == 0 && (u.flags & DFS_UPDATE_FLAG_SEALED))
		rc = dfs_sealed_open(db, obj, path, u.value, u.value_len, &out);
	else if (rc == 0)
		dfs_buf_add(&out, u.value, u.value_len);
	if (rc == 0)
		rc = dfs_buf_reserve(&out, 1);
	free(rec);
	if (rc < 0) {
		dfs_buf_release(&out);
		return rc == -EBADMSG ? -EIO : rc;
	}
	*val = dfs_buf_detach(&out, len);
	return 0;
}
