// SPDX-License-Identifier: MIT
/*
 * test_names.c - object names against a peer that claims them (model/names.c):
 * a back-dated create moves a name, visibly, but no grant or signer; names
 * with control bytes are refused, locally and from peers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "dinemicfs/db.h"
#include "dinemicfs/dblog.h"
#include "dinemicfs/hlc.h"
#include "dinemicfs/log.h"
#include "dinemicfs/objref.h"
#include "dinemicfs/records.h"
#include "dinemicfs/util.h"
#include "tmpdir.h"
#include "nodes.h"

static struct node a;	/* honest: owns Person/chief and Person/bob */
static struct node s;	/* the squatter's keys; its database is not used */
static struct dfs_pubkey chief, bob;

static void setup(void)
{
	dfs_log_set_level(DFS_LOG_WARNING);
	cr_assert_eq(dfs_crypto_init(), 0);
	node_make(&a, "a");
	node_make(&s, "s");
	cr_assert_eq(dfs_db_create_model(a.db, "Person"), 0);
	cr_assert_eq(dfs_db_create_object(a.db, "Person", "chief", &chief), 0);
	cr_assert_eq(dfs_db_create_object(a.db, "Person", "bob", &bob), 0);
}

static void teardown(void)
{
	node_destroy(&s);
	node_destroy(&a);
}

TestSuite(names, .init = setup, .fini = teardown);

static uint64_t ms(uint64_t n)
{
	return n << DFS_HLC_LOGICAL_BITS;
}

static uint64_t now_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ms((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* Encodes and signs u with kr's key for u->signer. */
static void sign(struct dfs_keyring *kr, const struct dfs_update *u, struct dfs_buf *out)
{
	dfs_buf_init(out);
	cr_assert_eq(dfs_update_encode(u, out), 0);
	size_t slen = dfs_update_signed_len(out->len);
	cr_assert_eq(dfs_keyring_sign(kr, &u->signer, out->data, slen, out->data + slen), 0);
}

/* OBJECT_CREATE of a new key made in kr, under Person/name at clock; received by a. */
static void claim(struct dfs_keyring *kr, const char *name, uint64_t clock, struct dfs_pubkey *k)
{
	struct dfs_buf rec;

	cr_assert_eq(dfs_keyring_create(kr, k), 0);
	struct dfs_update u = {
		.op = DFS_OP_OBJECT_CREATE, .clock = clock, .entity = *k, .signer = *k,
		.model = "Person", .model_len = 6, .name = name, .name_len = strlen(name),
	};
	sign(kr, &u, &rec);
	cr_assert_eq(dfs_db_receive(a.db, rec.data, rec.len, NULL), 0, "create of %s", name);
	dfs_buf_release(&rec);
}

static void hex8(char out[9], const struct dfs_pubkey *k)
{
	dfs_hex_encode(out, k->b, 4);
}

static int grant(const char *line, struct dfs_pubkey *k)
{
	struct dfs_objref r;
	int rc = dfs_objref_parse(line, strlen(line), &r);

	return rc < 0 ? rc : dfs_db_resolve_grant(a.db, &r, k);
}

static int as(const char *line, struct dfs_pubkey *k)
{
	struct dfs_objref r;
	int rc = dfs_objref_parse(line, strlen(line), &r);

	return rc < 0 ? rc : dfs_db_resolve_as(a.db, &r, k);
}

static void expect_key(const struct dfs_pubkey *got, const struct dfs_pubkey *want,
		       const char *what)
{
	cr_assert_arr_eq(got->b, want->b, DFS_PUBKEY_LEN, "%s: the wrong object", what);
}

/* THREATS.md finding 4: OBJECT_CREATE by a made-up key, stamped long before chief's. */
Test(names, a_back_dated_create_takes_the_name_not_the_grants)
{
	struct dfs_pubkey squat, got;
	struct dfs_object_rec o;
	char line[256], h[9], hex[65], shex[65];

	claim(s.kr, "chief", ms(1), &squat);
	cr_assert_eq(dfs_db_get_object(a.db, "Person", "chief", &got, &o), 0);
	expect_key(&got, &squat, "the squatter shows as chief (first by clock)");
	hex8(h, &chief);
	snprintf(line, sizeof(line), "chief~%s", h);
	cr_assert_eq(dfs_db_get_object(a.db, "Person", line, &got, &o), 0);
	expect_key(&got, &chief, "the real chief is demoted");

	/* A grant by the name is refused: two objects claimed it. */
	cr_assert_eq(grant("Person/chief", &got), -ENOTUNIQ);
	snprintf(line, sizeof(line), "Person/chief~%s", h);
	cr_assert_eq(grant(line, &got), 0, "by its suffix");
	expect_key(&got, &chief, line);
	dfs_hex_encode(hex, chief.b, DFS_PUBKEY_LEN);
	snprintf(line, sizeof(line), "Person/chief %s", hex);
	cr_assert_eq(grant(line, &got), 0, "by key, the name a comment");
	expect_key(&got, &chief, line);
	cr_assert_eq(grant(hex, &got), 0, "by key alone");
	expect_key(&got, &chief, "key alone");
	cr_assert_eq(grant("Person/bob", &got), 0, "a name one object claimed");
	expect_key(&got, &bob, "bob");
	cr_assert_eq(grant("Person/nobody", &got), -ENOENT);

	/* as= finds the chief whose key this node holds. */
	cr_assert_eq(as("Person/chief", &got), 0);
	expect_key(&got, &chief, "as=Person/chief");
	dfs_hex_encode(shex, squat.b, DFS_PUBKEY_LEN);
	snprintf(line, sizeof(line), "Person/chief %s", shex);
	cr_assert_eq(as(line, &got), -ENOKEY, "the squatter's key is not here");
	cr_assert_eq(as("Person/nobody", &got), -ENOENT);

	/* The move is in .node/log, with both keys. */
	char *log;
	cr_assert_geq(dfs_log_snapshot(&log), 0);
	snprintf(line, sizeof(line), "name Person/chief passes from object %s to object %s", hex,
		 shex);
	cr_assert_not_null(strstr(log, line), "logged: %s", line);
	free(log);
}

/* A name that only one object claimed, however it shows, is a grant. */
Test(names, a_later_claim_leaves_the_holder_in_place)
{
	struct dfs_pubkey late, got;
	char line[64], h[9];

	claim(s.kr, "chief", now_clock() + ms(10), &late);
	cr_assert_eq(grant("Person/chief", &got), -ENOTUNIQ, "still claimed twice");
	hex8(h, &late);
	snprintf(line, sizeof(line), "Person/chief~%s", h);
	cr_assert_eq(grant(line, &got), 0);
	expect_key(&got, &late, line);
	cr_assert_eq(as("Person/chief", &got), 0);
	expect_key(&got, &chief, "as= keeps to the held key");
}

/* Where this node holds the keys of several claimants, as= takes the one listed, or none. */
Test(names, as_among_several_held_keys)
{
	struct dfs_pubkey early, other, got;

	/* a holds both: the one listed under the name wins. */
	claim(a.kr, "chief", ms(1), &early);
	cr_assert_eq(as("Person/chief", &got), 0);
	expect_key(&got, &early, "the one listed");

	/* Listed under the name: a key a does not hold; held: two of the others. */
	claim(s.kr, "chief", ms(0) + 1, &other);
	cr_assert_eq(as("Person/chief", &got), -ENOTUNIQ);
}

/* Listeners of a remote create get the name it will be listed under. */
static char seen[8][256];
static int nseen;

static bool wants(void *ctx, enum dfs_event event, const char *model)
{
	(void)ctx;
	(void)model;
	return event == DFS_EVENT_CREATE;
}

static int before(void *ctx, const struct dfs_change *c, char *why, size_t whylen)
{
	(void)ctx;
	(void)why;
	(void)whylen;
	if (nseen < 8)
		snprintf(seen[nseen++], sizeof(seen[0]), "%s/%s", c->model, c->object);
	return 0;
}

static void after(void *ctx, const struct dfs_change *c)
{
	(void)ctx;
	(void)c;
}

Test(names, listeners_see_the_listed_name)
{
	struct dfs_db_listener l = { wants, before, after, NULL, NULL, NULL };
	struct dfs_pubkey squat, late;
	char want[64], h[9];

	dfs_db_set_listener(a.db, &l);
	claim(s.kr, "chief", now_clock() + ms(10), &late);
	claim(s.kr, "chief", ms(1), &squat);
	claim(s.kr, "newcomer", ms(2), &squat);
	cr_assert_eq(nseen, 3);
	hex8(h, &late);
	snprintf(want, sizeof(want), "Person/chief~%s", h);
	cr_assert_str_eq(seen[0], want, "a later claim shows demoted");
	cr_assert_str_eq(seen[1], "Person/chief", "an earlier one takes the name");
	cr_assert_str_eq(seen[2], "Person/newcomer");
}

/* THREATS.md finding 15: control bytes in names, locally and from a peer. */
Test(names, control_bytes_refused_locally)
{
	struct dfs_pubkey k;

	cr_assert_eq(dfs_db_create_model(a.db, "Jun\nk"), -EINVAL);
	cr_assert_eq(dfs_db_create_object(a.db, "Person", "a\x1b[2J", &k), -EINVAL);
	cr_assert_eq(dfs_db_set_field(a.db, &bob, "x\ny", (const uint8_t *)"v", 1), -EINVAL);
	cr_assert_eq(dfs_db_set_field(a.db, &bob, "d/k\x7f", (const uint8_t *)"v", 1), -EINVAL);
	cr_assert_eq(dfs_db_create_dict(a.db, &bob, "t\tags"), -EINVAL);
	cr_assert_eq(dfs_db_set_field(a.db, &bob, "notes~", (const uint8_t *)"v", 1), 0,
		     "a scratch-like name is a name");
}

/*
 * bob's update setting "salary\n" to "v", chained to bob's head: encoded
 * with a stand-in byte, then the newline put in and the record signed.
 */
static void salary_newline(struct dfs_buf *rec, struct dfs_update *u)
{
	static const char name[] = "salaryX";
	struct dfs_object_rec o;

	cr_assert_eq(dfs_db_get_object_by_key(a.db, &bob, &o), 0);
	*u = (struct dfs_update){
		.op = DFS_OP_FIELD_SET, .clock = now_clock(), .entity = bob, .signer = bob,
		.prev = o.head, .model = "Person", .model_len = 6, .name = name,
		.name_len = strlen(name), .value = (const uint8_t *)"v", .value_len = 1,
	};
	dfs_buf_init(rec);
	cr_assert_eq(dfs_update_encode(u, rec), 0);
	/* The name sits just before the value's length and the value. */
	size_t at = rec->len - DFS_SIG_LEN - 1 - 4 - 1;
	cr_assert_eq(rec->data[at], 'X');
	rec->data[at] = '\n';
	size_t slen = dfs_update_signed_len(rec->len);
	cr_assert_eq(dfs_keyring_sign(a.kr, &bob, rec->data, slen, rec->data + slen), 0);
}

/* A peer's update whose field name holds a newline is malformed. */
Test(names, control_bytes_from_a_peer_are_malformed)
{
	struct dfs_object_rec o;
	struct dfs_db_checked c;
	struct dfs_update u;
	struct dfs_buf rec;

	salary_newline(&rec, &u);

	cr_assert_eq(dfs_db_check(a.db, rec.data, rec.len, NULL, &c), -EBADMSG);
	cr_assert_eq(dfs_db_receive(a.db, rec.data, rec.len, NULL), -EBADMSG);
	struct dfs_field_rec f;
	cr_assert_eq(dfs_db_get_field(a.db, &bob, "salary\n", &f), -ENOENT, "not applied");
	cr_assert_eq(dfs_db_get_object_by_key(a.db, &bob, &o), 0);
	cr_assert_eq(memcmp(o.head.b, u.prev.b, DFS_HASH_LEN), 0, "nothing stored");
	dfs_buf_release(&rec);
}

static int find_newline_name(const struct dfs_update *u, const struct dfs_hash *hash,
			     bool verified, const char *held, void *ctx)
{
	int *found = ctx;

	(void)hash;
	(void)held;
	if (u->name_len == 7 && memcmp(u->name, "salary\n", 7) == 0)
		*found = verified ? 1 : -1;
	return 0;
}

/* An update an earlier release stored with such a name still shows in the history. */
Test(names, a_stored_control_byte_name_is_read_back)
{
	struct dfs_update u;
	struct dfs_buf rec, key;
	struct dfs_hash h;
	int found = 0;

	salary_newline(&rec, &u);
	dfs_hash2(&h, rec.data, rec.len, NULL, 0);
	struct dfs_batch *b = dfs_batch_new();
	cr_assert_not_null(b);
	dfs_buf_init(&key);
	dfs_key_update(&key, &h);
	cr_assert_eq(dfs_batch_put(b, key.data, key.len, rec.data, rec.len), 0);
	dfs_key_history(&key, &bob, 1000);
	cr_assert_eq(dfs_batch_put(b, key.data, key.len, h.b, DFS_HASH_LEN), 0);
	cr_assert_eq(dfs_store_commit(a.st, b), 0);
	cr_assert_eq(dfs_db_history(a.db, &bob, find_newline_name, &found), 0);
	cr_assert_eq(found, 1, "listed, and verified");
	dfs_buf_release(&key);
	dfs_buf_release(&rec);
}
