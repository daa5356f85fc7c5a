// SPDX-License-Identifier: MIT
/*
 * test_clock.c - unit tests for the clock rules of the database: max_skew,
 * held updates that never move the clock, the floor kept in the store, the
 * clock's end, and local writes that would lose (model/db.c, apply.c,
 * receive.c, field.c, local.c).
 *
 * A store poisoned the way an older release let a peer poison it is made by
 * applying an update under a large max_skew, then opening the store again
 * under the default one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "dinemicfs/db.h"
#include "dinemicfs/dblog.h"
#include "dinemicfs/hlc.h"
#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "tmpdir.h"
#include "nodes.h"

#define HOUR_MS (3600ull * 1000)

static struct node n;
static const struct dfs_hash no_prev;

static void setup(void)
{
	dfs_log_set_level(DFS_LOG_ERR - 1);
	cr_assert_eq(dfs_crypto_init(), 0);
	node_make(&n, "clock");
}

static void teardown(void)
{
	node_destroy(&n);
}

TestSuite(clock, .init = setup, .fini = teardown);

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A hybrid clock stamp ms milliseconds from now (back when negative). */
static uint64_t stamp_in(int64_t ms)
{
	return (uint64_t)((int64_t)wall_ms() + ms) << DFS_HLC_LOGICAL_BITS;
}

static void make_object(const char *name, struct dfs_pubkey *key)
{
	struct dfs_model_rec m;

	if (dfs_db_get_model(n.db, "notes", &m) == -ENOENT)
		cr_assert_eq(dfs_db_create_model(n.db, "notes"), 0);
	cr_assert_eq(dfs_db_create_object(n.db, "notes", name, key), 0);
}

static int set_str(const struct dfs_pubkey *obj, const char *path, const char *val)
{
	return dfs_db_set_field(n.db, obj, path, (const uint8_t *)val, strlen(val));
}

static void expect_value(const struct dfs_pubkey *obj, const char *path, const char *want)
{
	uint8_t *val = NULL;
	size_t len = 0;

	cr_assert_eq(dfs_db_read_field(n.db, obj, path, &val, &len), 0, "read %s", path);
	cr_assert(len == strlen(want) && memcmp(val, want, len) == 0, "%s is '%.*s', want '%s'",
		  path, (int)len, (char *)val, want);
	dfs_value_free(val);
}

/* A signed update as a peer would send it; n's keyring holds signer's key. */
static void craft(struct dfs_buf *out, uint8_t op, const struct dfs_pubkey *obj,
		  const struct dfs_pubkey *signer, const char *name, const void *value,
		  size_t vlen, uint64_t clock, const struct dfs_hash *prev)
{
	struct dfs_update u = {
		.op = op,
		.clock = clock,
		.entity = *obj,
		.signer = *signer,
		.prev = *prev,
		.model = "notes",
		.model_len = 5,
		.name = name,
		.name_len = strlen(name),
		.value = value,
		.value_len = vlen,
	};

	dfs_buf_init(out);
	cr_assert_eq(dfs_update_encode(&u, out), 0);
	size_t slen = dfs_update_signed_len(out->len);
	cr_assert_eq(dfs_keyring_sign(n.kr, signer, out->data, slen, out->data + slen), 0);
}

static void craft_set(struct dfs_buf *out, const struct dfs_pubkey *obj,
		      const struct dfs_pubkey *signer, const char *name, const char *value,
		      uint64_t clock)
{
	struct dfs_object_rec o;

	cr_assert_eq(dfs_db_get_object_by_key(n.db, obj, &o), 0);
	craft(out, DFS_OP_FIELD_SET, obj, signer, name, value, strlen(value), clock, &o.head);
}

/* The clock of a field's stored record. */
static uint64_t field_clock(const struct dfs_pubkey *obj, const char *path)
{
	struct dfs_field_rec f;

	cr_assert_eq(dfs_db_get_field(n.db, obj, path, &f), 0, "%s", path);
	return f.clock;
}

/* Whether the warnings and errors kept so far hold s. */
static bool logged(const char *s)
{
	char *text = NULL;
	long len = dfs_log_snapshot(&text);

	cr_assert_geq(len, 0);
	bool found = text && strstr(text, s);
	free(text);
	return found;
}

/* ---- max_skew ------------------------------------------------------------------- */

/* An update stamped an hour ahead waits: not applied, not logged, not stored. */
Test(clock, far_ahead_waits_unlogged)
{
	struct dfs_pubkey key;
	struct dfs_buf rec;
	struct dfs_hash h;

	make_object("list", &key);
	cr_assert_eq(set_str(&key, "title", "old"), 0);
	uint64_t head = dfs_db_log_head(n.db);
	craft_set(&rec, &key, &key, "title", "future", stamp_in(HOUR_MS));
	cr_assert_eq(dfs_db_receive(n.db, rec.data, rec.len, &h), -ETIME);
	uint64_t wait = dfs_db_clock_wait(n.db, rec.data, rec.len);
	cr_assert(wait > HOUR_MS - 61000 && wait <= HOUR_MS - 59000,
		  "due when an hour less max_skew has passed, not in %llu ms",
		  (unsigned long long)wait);
	cr_assert_eq(dfs_db_log_head(n.db), head, "not logged");
	expect_value(&key, "title", "old");
	cr_assert_lt(field_clock(&key, "title"), stamp_in(1000));
	cr_assert_eq(dfs_db_receive(n.db, rec.data, rec.len, NULL), -ETIME, "still too early");

	/* The next local write is stamped by the wall clock, and wins. */
	cr_assert_eq(set_str(&key, "title", "new"), 0);
	expect_value(&key, "title", "new");
	cr_assert_lt(field_clock(&key, "title"), stamp_in(1000));
	dfs_buf_release(&rec);
}

/* Within max_skew an update ahead of the wall clock is applied, and moves the clock. */
Test(clock, ahead_within_skew_applies)
{
	struct dfs_pubkey key;
	struct dfs_buf rec;

	make_object("list", &key);
	uint64_t ahead = stamp_in(30000);
	craft_set(&rec, &key, &key, "title", "ahead", ahead);
	cr_assert_eq(dfs_db_receive(n.db, rec.data, rec.len, NULL), 0);
	cr_assert_eq(dfs_db_clock_wait(n.db, rec.data, rec.len), 0);
	expect_value(&key, "title", "ahead");
	cr_assert_eq(set_str(&key, "title", "local"), 0);
	expect_value(&key, "title", "local");
	cr_assert_gt(field_clock(&key, "title"), ahead, "the clock moved past what it applied");
	dfs_buf_release(&rec);
}

/* Once its time comes, an update that waited is applied. */
Test(clock, waits_until_due_then_applies)
{
	struct dfs_pubkey key;
	struct dfs_buf rec;

	dfs_db_set_max_skew(n.db, 200);
	make_object("list", &key);
	craft_set(&rec, &key, &key, "title", "soon", stamp_in(1200));
	cr_assert_eq(dfs_db_receive(n.db, rec.data, rec.len, NULL), -ETIME);
	uint64_t wait = dfs_db_clock_wait(n.db, rec.data, rec.len);
	cr_assert(wait > 500 && wait <= 1000, "wait %llu ms", (unsigned long long)wait);
	usleep((useconds_t)(wait + 20) * 1000);
	cr_assert_eq(dfs_db_clock_wait(n.db, rec.data, rec.len), 0);
	cr_assert_eq(dfs_db_receive(n.db, rec.data, rec.len, NULL), 0, "due now");
	expect_value(&key, "title", "soon");
	cr_assert_eq(dfs_db_receive(n.db, rec.data, rec.len, NULL), -EALREADY);
	dfs_buf_release(&rec);
}

/* One that builds on a waiting update waits for it, as for any missing predecessor. */
Test(clock, builds_on_waiting_waits_for_it)
{
	struct dfs_pubkey key;
	struct dfs_buf early, next;
	struct dfs_hash missing;

	dfs_db_set_max_skew(n.db, 100);
	make_object("list", &key);
	craft_set(&early, &key, &key, "title", "early", stamp_in(700));
	struct dfs_hash h = { 0 };
	dfs_hash2(&h, early.data, early.len, NULL, 0);
	craft(&next, DFS_OP_FIELD_SET, &key, &key, "other", "next", 4, stamp_in(0), &h);
	cr_assert_eq(dfs_db_receive(n.db, early.data, early.len, NULL), -ETIME);
	cr_assert_eq(dfs_db_receive(n.db, next.data, next.len, &missing), -EAGAIN);
	cr_assert_arr_eq(missing.b, h.b, DFS_HASH_LEN, "it waits for the early one");
	usleep((useconds_t)(dfs_db_clock_wait(n.db, early.data, early.len) + 20) * 1000);
	cr_assert_eq(dfs_db_receive(n.db, early.data, early.len, NULL), 0);
	cr_assert_eq(dfs_db_receive(n.db, next.data, next.len, NULL), 0);
	expect_value(&key, "title", "early");
	expect_value(&key, "other", "next");
	dfs_buf_release(&early);
	dfs_buf_release(&next);
}

/* An update already stored says so, even where its stamp is too far ahead now. */
Test(clock, stored_before_is_ealready)
{
	struct dfs_pubkey key;
	struct dfs_buf rec;

	dfs_db_set_max_skew(n.db, HOUR_MS);
	make_object("list", &key);
	craft_set(&rec, &key, &key, "title", "ahead", stamp_in(HOUR_MS / 2));
	cr_assert_eq(dfs_db_receive(n.db, rec.data, rec.len, NULL), 0);
	dfs_db_set_max_skew(n.db, DFS_DB_MAX_SKEW_MS);
	cr_assert_eq(dfs_db_receive(n.db, rec.data, rec.len, NULL), -EALREADY);
	dfs_buf_release(&rec);
}

/* ---- held and refused updates ------------------------------------------------------ */

/*
 * Held updates are kept and relayed but never move the clock: not an
 * unauthorized signer's, not one for an object that does not exist; nor the
 * floor kept in the store, so not after a restart either.
 */
Test(clock, held_not_observed)
{
	struct dfs_pubkey key, stranger, nobody;
	struct dfs_buf unauth, orphan, bad;
	uint64_t ahead = stamp_in(50000);

	make_object("list", &key);
	cr_assert_eq(dfs_keyring_create(n.kr, &stranger), 0);
	craft_set(&unauth, &key, &stranger, "title", "x", ahead);
	uint64_t head = dfs_db_log_head(n.db);
	cr_assert_eq(dfs_db_receive(n.db, unauth.data, unauth.len, NULL), -EPERM);
	dfs_random(nobody.b, sizeof(nobody.b));
	craft(&orphan, DFS_OP_FIELD_SET, &nobody, &stranger, "x", "y", 1, ahead + 1, &no_prev);
	int rc = dfs_db_receive(n.db, orphan.data, orphan.len, NULL);
	cr_assert(rc == -EPERM || rc == -ENOENT, "held, not %d", rc);
	cr_assert_eq(dfs_db_log_head(n.db), head + 2, "both held: logged for peers");
	/* Refused outright: badly signed. */
	craft_set(&bad, &key, &key, "title", "forged", ahead + 2);
	bad.data[bad.len - 1] ^= 1;
	cr_assert_eq(dfs_db_receive(n.db, bad.data, bad.len, NULL), -EBADMSG);

	cr_assert_eq(set_str(&key, "title", "local"), 0);
	cr_assert_lt(field_clock(&key, "title"), ahead, "the clock did not follow held updates");
	node_close(&n);
	node_open(&n);
	cr_assert_eq(set_str(&key, "title", "again"), 0);
	cr_assert_lt(field_clock(&key, "title"), ahead, "nor did the floor kept in the store");
	expect_value(&key, "title", "again");
	dfs_buf_release(&unauth);
	dfs_buf_release(&orphan);
	dfs_buf_release(&bad);
}

/* ---- the floor kept in the store --------------------------------------------------- */

/* A floor within max_skew is kept across a restart: the next write is later. */
Test(clock, floor_within_skew_kept)
{
	struct dfs_pubkey key;
	struct dfs_buf rec;
	uint64_t ahead = stamp_in(40000);

	make_object("list", &key);
	craft_set(&rec, &key, &key, "title", "ahead", ahead);
	cr_assert_eq(dfs_db_receive(n.db, rec.data, rec.len, NULL), 0);
	node_close(&n);
	dfs_log_set_level(DFS_LOG_WARNING);
	node_open(&n);
	dfs_db_set_max_skew(n.db, DFS_DB_MAX_SKEW_MS);
	cr_assert_not(logged("clock floor"));
	cr_assert_eq(set_str(&key, "other", "local"), 0);
	cr_assert_gt(field_clock(&key, "other"), ahead);
	dfs_buf_release(&rec);
}

/*
 * A floor more than max_skew ahead (as an older release left it) is
 * ignored at open, with a warning; the writes that follow are stamped by
 * the wall clock, and the floor kept is sane again after them.
 */
Test(clock, floor_past_skew_ignored)
{
	struct dfs_pubkey key;
	struct dfs_buf rec;
	uint64_t ahead = stamp_in(HOUR_MS / 2);

	dfs_db_set_max_skew(n.db, HOUR_MS);
	make_object("list", &key);
	craft_set(&rec, &key, &key, "title", "poison", ahead);
	cr_assert_eq(dfs_db_receive(n.db, rec.data, rec.len, NULL), 0);
	node_close(&n);

	dfs_log_set_level(DFS_LOG_WARNING);
	node_open(&n);
	cr_assert_not(logged("clock floor kept in the store is"), "not before max_skew is known");
	dfs_db_set_max_skew(n.db, DFS_DB_MAX_SKEW_MS);	/* as the node does at start */
	cr_assert(logged("clock floor kept in the store is"), "the floor ignored is logged");
	cr_assert_eq(set_str(&key, "other", "local"), 0);
	cr_assert_lt(field_clock(&key, "other"), stamp_in(1000), "stamped by the wall clock");

	node_close(&n);
	node_open(&n);
	cr_assert_eq(set_str(&key, "third", "local"), 0);
	cr_assert_lt(field_clock(&key, "third"), stamp_in(1000), "the floor kept is sane again");
	dfs_buf_release(&rec);
}

/* ---- local writes that would lose ------------------------------------------------- */

/*
 * A field stamped ahead of this node's clock (a poisoned store): a local
 * write would lose last-writer-wins, so it fails with EAGAIN and a
 * warning naming the object and field, and changes nothing.
 */
Test(clock, local_field_loss_fails)
{
	struct dfs_pubkey key;
	struct dfs_buf rec;

	dfs_db_set_max_skew(n.db, HOUR_MS);
	make_object("list", &key);
	cr_assert_eq(set_str(&key, "title", "old"), 0);
	craft_set(&rec, &key, &key, "title", "ahead", stamp_in(HOUR_MS / 2));
	cr_assert_eq(dfs_db_receive(n.db, rec.data, rec.len, NULL), 0);
	node_close(&n);
	node_open(&n);

	dfs_log_set_level(DFS_LOG_WARNING);
	uint64_t head = dfs_db_log_head(n.db);
	cr_assert_eq(set_str(&key, "title", "new"), -EAGAIN);
	cr_assert_eq(dfs_db_append_field(n.db, &key, "title", (const uint8_t *)"+", 1), -EAGAIN);
	cr_assert_eq(dfs_db_delete_field(n.db, &key, "title"), -EAGAIN);
	cr_assert(logged("local change of notes/list/title refused"), "named in the log");
	cr_assert_eq(dfs_db_log_head(n.db), head, "nothing stored or sent");
	expect_value(&key, "title", "ahead");
	cr_assert_eq(set_str(&key, "other", "fine"), 0, "other fields are written as ever");
	expect_value(&key, "other", "fine");
	dfs_buf_release(&rec);
}

/* The same for .authorized: a revocation that would lose fails instead of pretending. */
Test(clock, local_meta_loss_fails)
{
	struct dfs_pubkey key, chief;
	struct dfs_buf rec;
	struct dfs_object_rec o;
	uint8_t *val = NULL;
	size_t len = 0;

	dfs_db_set_max_skew(n.db, HOUR_MS);
	make_object("list", &key);
	make_object("chief", &chief);
	cr_assert_eq(dfs_db_get_object_by_key(n.db, &key, &o), 0);
	craft(&rec, DFS_OP_OBJECT_META, &key, &key, "authorized", chief.b, DFS_PUBKEY_LEN,
	      stamp_in(HOUR_MS / 2), &o.head);
	cr_assert_eq(dfs_db_receive(n.db, rec.data, rec.len, NULL), 0);
	cr_assert(dfs_db_is_authorized(n.db, &key, &chief));
	node_close(&n);
	node_open(&n);

	dfs_log_set_level(DFS_LOG_WARNING);
	cr_assert_eq(dfs_db_set_authorized(n.db, &key, NULL, 0), -EAGAIN, "the revocation fails");
	cr_assert(logged("local change of notes/list/.authorized refused"), "named in the log");
	cr_assert(dfs_db_is_authorized(n.db, &key, &chief), "and says so: chief is still in");
	cr_assert_eq(dfs_db_get_meta(n.db, &key, "authorized", &val, &len), 0);
	cr_assert_eq(len, DFS_PUBKEY_LEN);
	dfs_value_free(val);
	dfs_buf_release(&rec);
}

/* ---- the clock's end ---------------------------------------------------------------- */

/*
 * A clock at 2^64-1 stays there: a local change fails with EOVERFLOW and a
 * loud log, rather than wrap to 0 and lose every comparison. (Under any
 * sane max_skew nothing gets it there; a skew past the end of time does.)
 */
Test(clock, saturated_clock_fails_local_changes)
{
	struct dfs_pubkey key;
	struct dfs_buf rec;

	make_object("list", &key);
	cr_assert_eq(set_str(&key, "title", "old"), 0);
	dfs_db_set_max_skew(n.db, 1ull << 50);
	craft_set(&rec, &key, &key, "title", "end", UINT64_MAX);
	cr_assert_eq(dfs_db_receive(n.db, rec.data, rec.len, NULL), 0);
	dfs_log_set_level(DFS_LOG_ERR);
	cr_assert_eq(set_str(&key, "other", "x"), -EOVERFLOW);
	cr_assert_eq(set_str(&key, "other", "x"), -EOVERFLOW, "and stays so");
	cr_assert(logged("clock is at its end"));
	cr_assert_eq(dfs_db_read_field(n.db, &key, "other", &(uint8_t *){ NULL },
				       &(size_t){ 0 }),
		     -ENOENT, "nothing written");
	expect_value(&key, "title", "end");

	/* The floor kept is past any skew at the next start: the clock starts again. */
	node_close(&n);
	node_open(&n);
	cr_assert_eq(set_str(&key, "other", "x"), 0);
	dfs_buf_release(&rec);
}
