// SPDX-License-Identifier: MIT
/*
 * test_held.c - what a peer can make a node hold (model/held.c, merge.c,
 * field.c): remote values within this node's max_value, a field merged
 * again within it, and the quota of held updates, per signer and in all,
 * oldest first.
 *
 * Node a makes and signs updates (its keyring holds every key); node b
 * receives them as a peer's, with small quotas. Held updates here are
 * field sets by keys the object never authorized (held under the strict
 * policy), each of a known size.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "dinemicfs/db.h"
#include "dinemicfs/dblog.h"
#include "dinemicfs/hlc.h"
#include "dinemicfs/log.h"
#include "dinemicfs/records.h"
#include "dinemicfs/util.h"
#include "tmpdir.h"
#include "nodes.h"

static struct node a, b;
static struct dfs_pubkey obj;		/* notes/o, owned by its own key (in a's keyring) */
static struct dfs_hash obj_head;	/* its create */
static uint64_t t0;			/* a clock a little before now */

static const struct dfs_hash zero_hash;

/* One update as a peer sends it: malloc'ed bytes and their hash. */
struct upd {
	uint8_t *data;
	size_t len;
	struct dfs_hash hash;
};

static void upd_free(struct upd *u)
{
	free(u->data);
	u->data = NULL;
}

/* Signs an update with signer's key (held in a's keyring). */
static struct upd make(uint8_t op, const struct dfs_pubkey *entity,
		       const struct dfs_pubkey *signer, const char *model, const char *name,
		       const uint8_t *value, size_t vlen, uint64_t clock, const struct dfs_hash *prev)
{
	struct dfs_update u = {
		.op = op,
		.clock = clock,
		.entity = *entity,
		.signer = *signer,
		.prev = prev ? *prev : zero_hash,
		.model = model,
		.model_len = strlen(model),
		.name = name,
		.name_len = strlen(name),
		.value = value,
		.value_len = vlen,
	};
	struct dfs_buf out;
	struct upd r;

	dfs_buf_init(&out);
	cr_assert_eq(dfs_update_encode(&u, &out), 0);
	size_t slen = dfs_update_signed_len(out.len);
	cr_assert_eq(dfs_keyring_sign(a.kr, signer, out.data, slen, out.data + slen), 0);
	r.data = dfs_buf_detach(&out, &r.len);
	dfs_hash2(&r.hash, r.data, r.len, NULL, 0);
	return r;
}

/* A field update of obj, of vlen bytes of fill, by signer. */
static struct upd field(uint8_t op, const struct dfs_pubkey *signer, const char *name,
			size_t vlen, int fill, uint64_t clock)
{
	uint8_t *v = malloc(vlen + 1);

	cr_assert_not_null(v);
	memset(v, fill, vlen);
	struct upd r = make(op, &obj, signer, "notes", name, v, vlen, clock, &obj_head);
	dfs_value_free(v);
	return r;
}

static uint64_t ms(uint64_t n)
{
	return n << DFS_HLC_LOGICAL_BITS;
}

static void setup(void)
{
	struct timespec ts;

	dfs_log_set_level(DFS_LOG_ERR - 1);	/* held updates and drops are logged */
	cr_assert_eq(dfs_crypto_init(), 0);
	node_make(&a, "a");
	node_make(&b, "b");
	clock_gettime(CLOCK_REALTIME, &ts);
	t0 = ms((uint64_t)ts.tv_sec * 1000 - 60000);
	struct dfs_pubkey model_id;
	dfs_db_model_id("notes", &model_id);
	struct upd m = make(DFS_OP_MODEL_CREATE, &model_id, dfs_keyring_node(a.kr), "notes", "",
			    NULL, 0, t0, NULL);
	cr_assert_eq(dfs_keyring_create(a.kr, &obj), 0);
	struct upd o = make(DFS_OP_OBJECT_CREATE, &obj, &obj, "notes", "o", NULL, 0, t0 + 1, NULL);
	obj_head = o.hash;
	cr_assert_eq(dfs_db_receive(b.db, m.data, m.len, NULL), 0);
	cr_assert_eq(dfs_db_receive(b.db, o.data, o.len, NULL), 0);
	upd_free(&m);
	upd_free(&o);
}

static void teardown(void)
{
	node_destroy(&b);
	node_destroy(&a);
}

TestSuite(held, .init = setup, .fini = teardown);

static struct dfs_pubkey new_key(void)
{
	struct dfs_pubkey k;

	cr_assert_eq(dfs_keyring_create(a.kr, &k), 0);
	return k;
}

static struct dfs_db_stats stats(void)
{
	struct dfs_db_stats s;

	dfs_db_get_stats(b.db, &s);
	return s;
}

/* Whether b keeps the update (dfs_db_check() says known). */
static bool known(const struct upd *u)
{
	return dfs_db_check(b.db, u->data, u->len, NULL, NULL) == -EALREADY;
}

struct listed {
	struct dfs_hash want;
	bool found;
	char held[512];
};

static int find(const struct dfs_update *u, const struct dfs_hash *hash, bool verified,
		const char *held, void *ctx)
{
	struct listed *l = ctx;

	(void)u;
	(void)verified;
	if (memcmp(hash->b, l->want.b, DFS_HASH_LEN) == 0) {
		l->found = true;
		snprintf(l->held, sizeof(l->held), "%s", held ? held : "");
	}
	return 0;
}

/* What obj's .history on b says of u: NULL when it is not listed, "" when applied. */
static const char *history_of(const struct upd *u, struct listed *l)
{
	memset(l, 0, sizeof(*l));
	l->want = u->hash;
	cr_assert_eq(dfs_db_history(b.db, &obj, find, l), 0);
	return l->found ? l->held : NULL;
}

static int log_find(uint64_t seq, const uint8_t *rec, size_t len, void *ctx)
{
	struct listed *l = ctx;
	struct dfs_hash h;

	(void)seq;
	dfs_hash2(&h, rec, len, NULL, 0);
	if (memcmp(h.b, l->want.b, DFS_HASH_LEN) == 0)
		l->found = true;
	return 0;
}

/* Whether b's log (what peers read) holds u. */
static bool logged(const struct upd *u)
{
	struct listed l = { .want = u->hash };

	cr_assert_geq(dfs_db_log_read(b.db, 0, SIZE_MAX, NULL, log_find, &l, NULL), 0);
	return l.found;
}

/* Sends u to b, which must hold it (rule: unauthorized). */
static void hold(const struct upd *u)
{
	cr_assert_eq(dfs_db_receive(b.db, u->data, u->len, NULL), -EPERM);
}

static uint64_t cost(const struct upd *u)
{
	return u->len + DFS_HELD_ENTRY_BYTES;
}

/* Every trace of u on b, present or gone. */
static void expect_kept(const struct upd *u, bool kept, const char *what)
{
	struct listed l;
	const char *h = history_of(u, &l);

	cr_assert_eq(known(u), kept, "%s: %s", what, kept ? "known" : "unknown");
	cr_assert_eq(logged(u), kept, "%s: %s", what, kept ? "in the log" : "not in the log");
	if (kept)
		cr_assert(h && strncmp(h, "unauthorized: ", 14) == 0, "%s: held, says %s", what,
			  h ? h : "nothing");
	else
		cr_assert_null(h, "%s: not in .history", what);
}

/* ---- the quota -------------------------------------------------------------- */

/* Held updates are counted in bytes of their records, kept across a restart. */
Test(held, counted_in_bytes_and_kept)
{
	struct dfs_pubkey s = new_key();
	struct upd u[3];
	uint64_t total = 0;

	cr_assert_eq(stats().held_bytes, 0);
	for (int i = 0; i < 3; i++) {
		u[i] = field(DFS_OP_FIELD_SET, &s, "f", 100 * (size_t)(i + 1), 'a' + i, t0 + ms(i + 1));
		hold(&u[i]);
		total += cost(&u[i]);
		cr_assert_eq(stats().held_bytes, total, "after %d", i);
		cr_assert_eq(stats().held_updates, (uint64_t)i + 1);
	}
	cr_assert_eq(total, u[0].len + u[1].len + u[2].len + 3 * DFS_HELD_ENTRY_BYTES);
	node_close(&b);
	node_open(&b);
	cr_assert_eq(stats().held_bytes, total, "read back at open, not recounted");
	cr_assert_eq(stats().held_updates, 3);
	cr_assert_eq(stats().held_dropped, 0);
	for (int i = 0; i < 3; i++) {
		expect_kept(&u[i], true, "after a restart");
		upd_free(&u[i]);
	}
}

/*
 * Past held_per_signer, the signer's oldest go first, with their history
 * and log entries; another signer's, older still, stay.
 */
Test(held, per_signer_oldest_first)
{
	struct dfs_pubkey s = new_key(), other = new_key();
	struct upd first = field(DFS_OP_FIELD_SET, &other, "f", 500, 'o', t0 + ms(1));
	struct upd u[5];

	for (int i = 0; i < 5; i++)
		u[i] = field(DFS_OP_FIELD_SET, &s, "f", 500, 'a' + i, t0 + ms(10 + i));
	/* Room for three of s's, and a little more: not four. */
	uint64_t quota = 3 * cost(&u[0]) + cost(&u[0]) / 2;
	dfs_db_set_held_quota(b.db, quota, 1u << 30);
	hold(&first);
	for (int i = 0; i < 5; i++) {
		hold(&u[i]);
		cr_assert_leq(stats().held_bytes - cost(&first), quota, "after %d", i);
	}
	cr_assert_eq(stats().held_dropped, 2);
	cr_assert_eq(stats().held_updates, 4);
	cr_assert_eq(stats().held_bytes, cost(&first) + cost(&u[2]) + cost(&u[3]) + cost(&u[4]));
	expect_kept(&u[0], false, "s's oldest");
	expect_kept(&u[1], false, "s's second");
	for (int i = 2; i < 5; i++)
		expect_kept(&u[i], true, "s's latest three");
	expect_kept(&first, true, "the other signer's, older");
	for (int i = 0; i < 5; i++)
		upd_free(&u[i]);
	upd_free(&first);
}

/* Past held_max, anyone's oldest go first. */
Test(held, in_all_oldest_first)
{
	struct dfs_pubkey s1 = new_key(), s2 = new_key();
	struct upd x1 = field(DFS_OP_FIELD_SET, &s1, "f", 300, '1', t0 + ms(1));
	struct upd y1 = field(DFS_OP_FIELD_SET, &s2, "f", 300, '2', t0 + ms(2));
	struct upd x2 = field(DFS_OP_FIELD_SET, &s1, "f", 300, '3', t0 + ms(3));
	struct upd y2 = field(DFS_OP_FIELD_SET, &s2, "f", 300, '4', t0 + ms(4));
	struct upd y3 = field(DFS_OP_FIELD_SET, &s2, "f", 300, '5', t0 + ms(5));
	uint64_t max = 3 * cost(&x1);

	dfs_db_set_held_quota(b.db, 1u << 30, max);
	hold(&x1);
	hold(&y1);
	hold(&x2);
	cr_assert_eq(stats().held_dropped, 0);
	hold(&y2);
	expect_kept(&x1, false, "the oldest of all, another signer's");
	expect_kept(&y1, true, "the second oldest");
	hold(&y3);
	expect_kept(&y1, false, "then the next oldest");
	expect_kept(&x2, true, "s1's second");
	expect_kept(&y2, true, "y2");
	expect_kept(&y3, true, "y3");
	cr_assert_eq(stats().held_bytes, max);
	cr_assert_eq(stats().held_dropped, 2);
	upd_free(&x1);
	upd_free(&y1);
	upd_free(&x2);
	upd_free(&y2);
	upd_free(&y3);
}

/* One past the quota alone is not kept; one dropped and sent again is judged again. */
Test(held, dropped_then_sent_again_is_new)
{
	struct dfs_pubkey s = new_key();
	struct upd u[3], big;

	for (int i = 0; i < 3; i++)
		u[i] = field(DFS_OP_FIELD_SET, &s, "f", 200, 'a' + i, t0 + ms(1 + i));
	big = field(DFS_OP_FIELD_SET, &s, "f", 2000, 'B', t0 + ms(9));
	dfs_db_set_held_quota(b.db, 2 * cost(&u[0]), 1u << 30);
	hold(&u[0]);
	hold(&u[1]);
	hold(&u[2]);
	expect_kept(&u[0], false, "dropped for u[2]");
	cr_assert_eq(stats().held_dropped, 1);

	/* Sent again: not known, so judged again, held again, and the oldest goes. */
	cr_assert_eq(dfs_db_check(b.db, u[0].data, u[0].len, NULL, NULL), 0, "new again");
	hold(&u[0]);
	expect_kept(&u[0], true, "held again");
	expect_kept(&u[1], false, "the oldest now");
	cr_assert_eq(stats().held_dropped, 2);
	cr_assert_eq(stats().held_updates, 2);

	cr_assert_eq(dfs_db_receive(b.db, big.data, big.len, NULL), -EDQUOT,
		     "past the quota alone: not kept");
	cr_assert_not(known(&big));
	cr_assert_not(logged(&big));
	expect_kept(&u[2], true, "nothing dropped for it");
	expect_kept(&u[0], true, "nothing dropped for it");
	cr_assert_eq(stats().held_dropped, 3);
	cr_assert_eq(stats().held_bytes, cost(&u[0]) + cost(&u[2]));
	for (int i = 0; i < 3; i++)
		upd_free(&u[i]);
	upd_free(&big);
}

/* .authorized arriving late applies a held update (out of the quota) or undoes one (in it). */
Test(held, a_late_grant_moves_updates_in_and_out)
{
	struct dfs_pubkey s = new_key();
	struct upd w = field(DFS_OP_FIELD_SET, &s, "f", 100, 'w', t0 + ms(20));
	struct upd grant = make(DFS_OP_OBJECT_META, &obj, &obj, "notes", "authorized", s.b,
				DFS_PUBKEY_LEN, t0 + ms(10), &obj_head);
	struct upd revoke = make(DFS_OP_OBJECT_META, &obj, &obj, "notes", "authorized", NULL, 0,
				 t0 + ms(15), &grant.hash);
	struct listed l;

	hold(&w);
	cr_assert_eq(stats().held_bytes, cost(&w));
	cr_assert_eq(dfs_db_receive(b.db, grant.data, grant.len, NULL), 0);
	cr_assert_str_eq(history_of(&w, &l), "", "applied by the grant");
	cr_assert_eq(stats().held_bytes, 0, "out of the quota");
	cr_assert_eq(stats().held_updates, 0);
	cr_assert_eq(dfs_db_receive(b.db, revoke.data, revoke.len, NULL), 0);
	cr_assert(strncmp(history_of(&w, &l), "revoked: ", 9) == 0, "%s", l.held);
	cr_assert_eq(stats().held_bytes, cost(&w), "in the quota again");
	cr_assert_eq(stats().held_updates, 1);
	node_close(&b);
	node_open(&b);
	cr_assert_eq(stats().held_bytes, cost(&w));
	upd_free(&w);
	upd_free(&grant);
	upd_free(&revoke);
}

/* ---- stores made before the index ------------------------------------------ */

static int drop_key(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *ctx)
{
	(void)val;
	(void)vlen;
	return dfs_batch_del(ctx, key, klen);
}

/* Makes b's store look as a store of format 2 did: held updates, no index. */
static void make_format_2(void)
{
	char *dir = tmpdir_path(b.dir, "db");
	static const char tags[] = { 'Q', 'W', 'K' };
	struct dfs_buf k, v;

	node_close(&b);
	struct dfs_store *st = dfs_store_open(dir, &node_store_opts);
	cr_assert_not_null(st);
	struct dfs_batch *bt = dfs_batch_new();
	for (size_t i = 0; i < sizeof(tags); i++)
		cr_assert_eq(dfs_store_scan(st, &tags[i], 1, drop_key, bt), 0);
	dfs_buf_init(&k);
	dfs_buf_init(&v);
	dfs_key_held_total(&k);
	cr_assert_eq(dfs_batch_del(bt, k.data, k.len), 0);
	dfs_key_version(&k);
	cr_assert_eq(dfs_version_rec_encode(2, &v), 0);
	cr_assert_eq(dfs_batch_put(bt, k.data, k.len, v.data, v.len), 0);
	cr_assert_eq(dfs_store_commit(st, bt), 0);
	dfs_buf_release(&k);
	dfs_buf_release(&v);
	dfs_store_close(st);
	free(dir);
	node_open(&b);
}

/* A store of format 2 is indexed at open: its held updates count, and the oldest go first. */
Test(held, a_store_before_the_index_is_indexed)
{
	struct dfs_pubkey s1 = new_key(), s2 = new_key();
	struct upd x = field(DFS_OP_FIELD_SET, &s1, "f", 100, 'x', t0 + ms(1));
	struct upd y = field(DFS_OP_FIELD_SET, &s2, "f", 200, 'y', t0 + ms(2));
	struct upd z = field(DFS_OP_FIELD_SET, &s1, "f", 300, 'z', t0 + ms(3));
	struct upd n = field(DFS_OP_FIELD_SET, &s1, "f", 100, 'n', t0 + ms(4));

	hold(&x);
	hold(&y);
	hold(&z);
	make_format_2();
	cr_assert_eq(stats().held_bytes, cost(&x) + cost(&y) + cost(&z), "indexed at open");
	cr_assert_eq(stats().held_updates, 3);
	/* s1 may keep two of its size: x goes, the oldest of s1's. */
	dfs_db_set_held_quota(b.db, cost(&z) + cost(&n), 1u << 30);
	hold(&n);
	expect_kept(&x, false, "s1's oldest, from before the index");
	expect_kept(&y, true, "s2's");
	expect_kept(&z, true, "s1's second");
	cr_assert_eq(stats().held_bytes, cost(&y) + cost(&z) + cost(&n));
	node_close(&b);
	node_open(&b);
	cr_assert_eq(stats().held_bytes, cost(&y) + cost(&z) + cost(&n), "indexed once");
	upd_free(&x);
	upd_free(&y);
	upd_free(&z);
	upd_free(&n);
}

/* ---- max_value -------------------------------------------------------------- */

static void expect_value(const char *path, size_t len, const char *what)
{
	uint8_t *v;
	size_t n;

	cr_assert_eq(dfs_db_read_field(b.db, &obj, path, &v, &n), 0, "%s", what);
	cr_assert_eq(n, len, "%s: %zu bytes, want %zu", what, n, len);
	dfs_value_free(v);
}

/* A remote value, or an append's result, past this node's max_value is held, saying so. */
Test(held, remote_values_within_max_value)
{
	struct upd big = field(DFS_OP_FIELD_SET, &obj, "f", NODE_MAX_VALUE + 1, 'b', t0 + ms(1));
	struct upd ok = field(DFS_OP_FIELD_SET, &obj, "f", NODE_MAX_VALUE, 'o', t0 + ms(2));
	struct upd more = field(DFS_OP_FIELD_APPEND, &obj, "f", 1, 'm', t0 + ms(3));
	struct listed l;
	char want[128];

	cr_assert_eq(dfs_db_receive(b.db, big.data, big.len, NULL), -EFBIG);
	snprintf(want, sizeof(want), "limit: a value of %d bytes, over max_value (%d here)",
		 NODE_MAX_VALUE + 1, NODE_MAX_VALUE);
	cr_assert_str_eq(history_of(&big, &l), want);
	cr_assert_eq(dfs_db_receive(b.db, ok.data, ok.len, NULL), 0, "max_value itself fits");
	cr_assert_eq(dfs_db_receive(b.db, more.data, more.len, NULL), -EFBIG);
	snprintf(want, sizeof(want), "limit: the value would be %d bytes, over max_value (%d here)",
		 NODE_MAX_VALUE + 1, NODE_MAX_VALUE);
	cr_assert_str_eq(history_of(&more, &l), want);
	expect_value("f", NODE_MAX_VALUE, "the append held whole");
	cr_assert_eq(stats().held_updates, 2, "both count in the quota");
	cr_assert_eq(stats().held_over_max_value, 2, "and as past max_value");
	upd_free(&big);
	upd_free(&ok);
	upd_free(&more);
}

/*
 * An append arriving after later ones is merged again from the history:
 * within max_value it is applied in its place, past it held.
 */
Test(held, a_late_append_merged_within_max_value)
{
	struct upd base = field(DFS_OP_FIELD_SET, &obj, "f", 1000, 's', t0 + ms(10));
	struct upd a20 = field(DFS_OP_FIELD_APPEND, &obj, "f", 1000, 'b', t0 + ms(20));
	struct upd a30 = field(DFS_OP_FIELD_APPEND, &obj, "f", 1000, 'c', t0 + ms(30));
	struct upd late = field(DFS_OP_FIELD_APPEND, &obj, "f", 1500, 'L', t0 + ms(15));
	struct upd small = field(DFS_OP_FIELD_APPEND, &obj, "f", 500, 'a', t0 + ms(15));
	uint8_t *v;
	size_t n;
	struct listed l;

	cr_assert_eq(dfs_db_receive(b.db, base.data, base.len, NULL), 0);
	cr_assert_eq(dfs_db_receive(b.db, a20.data, a20.len, NULL), 0);
	cr_assert_eq(dfs_db_receive(b.db, a30.data, a30.len, NULL), 0);
	cr_assert_eq(dfs_db_receive(b.db, late.data, late.len, NULL), -EFBIG);
	cr_assert(strncmp(history_of(&late, &l), "limit: the value merged again", 29) == 0, "%s",
		  l.held);
	expect_value("f", 3000, "unchanged");
	cr_assert_eq(dfs_db_receive(b.db, small.data, small.len, NULL), 0);
	cr_assert_eq(dfs_db_read_field(b.db, &obj, "f", &v, &n), 0);
	cr_assert_eq(n, 3500);
	cr_assert(v[999] == 's' && v[1000] == 'a' && v[1499] == 'a' && v[1500] == 'b' &&
		  v[3499] == 'c', "in clock order");
	dfs_value_free(v);
	upd_free(&base);
	upd_free(&a20);
	upd_free(&a30);
	upd_free(&late);
	upd_free(&small);
}

/*
 * A revocation that undoes a set brings back an older value and the
 * appends made after it, only as far as max_value holds them: the latest
 * are left out, on every node alike, and the revocation applies.
 */
Test(held, a_revocation_merges_within_max_value)
{
	struct dfs_pubkey s = new_key(), t = new_key();
	uint8_t both[2 * DFS_PUBKEY_LEN];
	uint8_t *v;
	size_t n;

	memcpy(both, s.b, DFS_PUBKEY_LEN);
	memcpy(both + DFS_PUBKEY_LEN, t.b, DFS_PUBKEY_LEN);
	struct upd grant = make(DFS_OP_OBJECT_META, &obj, &obj, "notes", "authorized", both,
				sizeof(both), t0 + ms(1), &obj_head);
	struct upd s0 = field(DFS_OP_FIELD_SET, &obj, "f", 1000, '0', t0 + ms(2));
	struct upd set = field(DFS_OP_FIELD_SET, &s, "f", 100, 'S', t0 + ms(50));
	struct upd ap[4];
	for (int i = 0; i < 4; i++)
		ap[i] = field(DFS_OP_FIELD_APPEND, &t, "f", 1000, 'a' + i, t0 + ms(10 + 10 * i));
	struct upd revoke = make(DFS_OP_OBJECT_META, &obj, &obj, "notes", "authorized", t.b,
				 DFS_PUBKEY_LEN, t0 + ms(45), &grant.hash);

	cr_assert_eq(dfs_db_receive(b.db, grant.data, grant.len, NULL), 0);
	cr_assert_eq(dfs_db_receive(b.db, s0.data, s0.len, NULL), 0);
	cr_assert_eq(dfs_db_receive(b.db, set.data, set.len, NULL), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(dfs_db_receive(b.db, ap[i].data, ap[i].len, NULL), 0,
			     "before the set: applied, the set stays");
	expect_value("f", 100, "the set");
	cr_assert_eq(dfs_db_receive(b.db, revoke.data, revoke.len, NULL), 0);
	cr_assert_eq(dfs_db_read_field(b.db, &obj, "f", &v, &n), 0);
	cr_assert_eq(n, 4000, "s0 and three appends: the fourth would pass max_value");
	cr_assert(v[0] == '0' && v[1000] == 'a' && v[2000] == 'b' && v[3999] == 'c');
	dfs_value_free(v);
	upd_free(&grant);
	upd_free(&s0);
	upd_free(&set);
	upd_free(&revoke);
	for (int i = 0; i < 4; i++)
		upd_free(&ap[i]);
}
