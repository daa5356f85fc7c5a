// SPDX-License-Identifier: MIT
/*
 * test_migrate.c - a store of release 0.1.0 converted at open (model/migrate.c)
 *
 * A node makes models and objects, lists an encrypted field and takes a
 * create and a remove of one model from another node; its store is then
 * turned back into 0.1.0's format by hand (model records in the old layout,
 * with a wrong "creator", the list under its single old key, no version
 * record). Opening it again must give back exactly the records today's code
 * made, once, in one batch: nothing when the batch fails, nothing more when
 * opened again; and a store of a newer format is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "dinemicfs/db.h"
#include "dinemicfs/dblog.h"
#include "dinemicfs/log.h"
#include "dinemicfs/records.h"
#include "dinemicfs/store.h"
#include "tmpdir.h"
#include "nodes.h"

/* ---- a store whose commits fail on demand ----------------------------------------- */

/* Linked with --wrap=dfs_store_commit (meson.build). */
int __real_dfs_store_commit(struct dfs_store *st, struct dfs_batch *b);
int __wrap_dfs_store_commit(struct dfs_store *st, struct dfs_batch *b);

static int failing_commits;

int __wrap_dfs_store_commit(struct dfs_store *st, struct dfs_batch *b)
{
	if (failing_commits > 0) {
		failing_commits--;
		dfs_batch_free(b);
		return -EIO;
	}
	return __real_dfs_store_commit(st, b);
}

/* ---- nodes ------------------------------------------------------------------ */

static struct node n, n2;
static struct dfs_pubkey bob, chief;

static void setup(void)
{
	dfs_log_set_level(DFS_LOG_ERR - 1);
	cr_assert_eq(dfs_crypto_init(), 0);
	node_make(&n, "n");
	node_make(&n2, "n2");
}

static void teardown(void)
{
	node_destroy(&n);
	node_destroy(&n2);
}

TestSuite(migrate, .init = setup, .fini = teardown);

static int collect(uint64_t seq, const uint8_t *rec, size_t len, void *ctx)
{
	(void)seq;
	int rc = dfs_db_receive(ctx, rec, len, NULL);
	cr_assert(rc == 0 || rc == -EALREADY, "rc %d", rc);
	return 0;
}

/* Every update of from's log, received by to. */
static void ship(struct node *from, struct node *to)
{
	cr_assert_geq(dfs_db_log_read(from->db, 0, SIZE_MAX, NULL, collect, to->db, NULL), 0);
}

/*
 * Person (bob, chief; salary listed and written), Empty, Gone (removed);
 * n2 creates Person later than n, then removes it: Person's latest create
 * or remove is n2's remove, and it shows for its two objects.
 */
static void make_world(void)
{
	static const char *const salary[] = { "salary" };

	cr_assert_eq(dfs_db_create_model(n.db, "Person"), 0);
	cr_assert_eq(dfs_db_create_object(n.db, "Person", "bob", &bob), 0);
	cr_assert_eq(dfs_db_create_object(n.db, "Person", "chief", &chief), 0);
	cr_assert_eq(dfs_db_set_encrypted(n.db, "Person", salary, 1), 0);
	cr_assert_eq(dfs_db_set_field(n.db, &bob, "salary", (const uint8_t *)"1000\n", 5), 0);
	cr_assert_eq(dfs_db_set_field(n.db, &bob, "name", (const uint8_t *)"Bob\n", 4), 0);
	cr_assert_eq(dfs_db_create_model(n.db, "Empty"), 0);
	cr_assert_eq(dfs_db_create_model(n.db, "Gone"), 0);
	cr_assert_eq(dfs_db_remove_model(n.db, "Gone"), 0);
	cr_assert_eq(dfs_db_create_model(n2.db, "Person"), 0);
	cr_assert_eq(dfs_db_remove_model(n2.db, "Person"), 0);
	ship(&n2, &n);
	struct dfs_model_rec m;
	cr_assert_eq(dfs_db_get_model(n.db, "Person", &m), 0);
	cr_assert_not(m.live);
	cr_assert_eq(m.objects, 2);
	cr_assert_arr_eq(m.signer.b, dfs_keyring_node(n2.kr)->b, DFS_PUBKEY_LEN);
}

/* ---- the store's records, as text ------------------------------------------------ */

static int dump_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *ctx)
{
	struct dfs_buf *out = ctx;

	for (size_t i = 0; i < klen; i++)
		dfs_buf_printf(out, "%02x", key[i]);
	dfs_buf_add_u8(out, '=');
	for (size_t i = 0; i < vlen; i++)
		dfs_buf_printf(out, "%02x", val[i]);
	dfs_buf_add_u8(out, '\n');
	return 0;
}

/* Every record of st, in key order. */
static char *dump(struct dfs_store *st)
{
	struct dfs_buf out;
	size_t len;

	dfs_buf_init(&out);
	cr_assert_eq(dfs_store_flush(st), 0);
	cr_assert_eq(dfs_store_scan(st, "", 0, dump_one, &out), 0);
	dfs_buf_add_u8(&out, '\0');
	return (char *)dfs_buf_detach(&out, &len);
}

static struct dfs_store *open_store(struct node *nd)
{
	char *path = tmpdir_path(nd->dir, "db");
	struct dfs_store *st = dfs_store_open(path, &node_store_opts);

	cr_assert_not_null(st);
	free(path);
	return st;
}

/* Opens nd's database on its own store and keyring: NULL with errno where it cannot. */
static struct dfs_db *try_open(struct node *nd)
{
	nd->st = open_store(nd);
	nd->kr = dfs_keyring_open(nd->dir);
	cr_assert_not_null(nd->kr);
	nd->db = dfs_db_open(nd->st, nd->kr, NODE_MAX_VALUE);
	return nd->db;
}

/* ---- back to 0.1.0 ------------------------------------------------------------------ */

static void put_v1_model(struct dfs_batch *b, const uint8_t *key, size_t klen,
			 const struct dfs_model_rec *m)
{
	struct dfs_buf v;
	uint8_t wrong[DFS_PUBKEY_LEN];

	/* 0.1.0 kept the earliest create's (clock, key): none of today's fields. */
	memset(wrong, 0x5a, sizeof(wrong));
	dfs_buf_init(&v);
	dfs_buf_add_u8(&v, 2);
	dfs_buf_add_u8(&v, dfs_model_shown(m));
	dfs_buf_add(&v, m->head.b, DFS_HASH_LEN);
	dfs_buf_add_u64be(&v, m->mtime);
	dfs_buf_add_u64be(&v, 1);
	dfs_buf_add(&v, wrong, sizeof(wrong));
	cr_assert_eq(dfs_batch_put(b, key, klen, v.data, v.len), 0);
	dfs_buf_release(&v);
}

static int downgrade_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
			 void *ctx)
{
	struct dfs_batch *b = ctx;
	struct dfs_model_rec m;

	if (key[0] == 'M') {
		cr_assert_eq(dfs_model_rec_decode(val, vlen, &m), 0);
		put_v1_model(b, key, klen, &m);
	} else if (key[0] == 'X' && klen == 1 + DFS_PUBKEY_LEN + 9 + DFS_PUBKEY_LEN &&
		   memcmp(key + 1 + DFS_PUBKEY_LEN, "encrypted", 9) == 0) {
		cr_assert_eq(dfs_batch_del(b, key, klen), 0);
		cr_assert_eq(dfs_batch_put(b, key, klen - DFS_PUBKEY_LEN, val, vlen), 0);
	} else if (key[0] == 'S' && klen == 8 && memcmp(key, "Sversion", 8) == 0) {
		cr_assert_eq(dfs_batch_del(b, key, klen), 0);
	}
	return 0;
}

/* Turns the closed node's store into 0.1.0's format; returns its dump. */
static char *downgrade(struct node *nd)
{
	struct dfs_store *st = open_store(nd);
	struct dfs_batch *b = dfs_batch_new();

	cr_assert_eq(dfs_store_scan(st, "", 0, downgrade_one, b), 0);
	cr_assert_eq(__real_dfs_store_commit(st, b), 0);
	char *d = dump(st);
	dfs_store_close(st);
	cr_assert_null(strstr(d, "5376657273696f6e="), "no version record (\"Sversion\")");
	return d;
}

/* ---- tests -------------------------------------------------------------------------- */

Test(migrate, a_store_of_0_1_0_gets_todays_records_once)
{
	make_world();
	node_close(&n);
	struct dfs_store *st = open_store(&n);
	char *want = dump(st);
	dfs_store_close(st);
	char *old = downgrade(&n);
	cr_assert_str_neq(old, want);

	cr_assert_not_null(try_open(&n), "open: %s", strerror(errno));
	char *got = dump(n.st);
	cr_assert_str_eq(got, want, "converted: the records today's code made");
	node_close(&n);
	cr_assert_not_null(try_open(&n));
	char *again = dump(n.st);
	cr_assert_str_eq(again, want, "opened again: nothing changes");

	/* What it shows, and new writes. */
	struct dfs_buf list;
	dfs_buf_init(&list);
	cr_assert_eq(dfs_db_get_encrypted(n.db, "Person", &list), 0);
	cr_assert_eq(list.len, 7);
	cr_assert_eq(memcmp(list.data, "salary\n", 7), 0);
	dfs_buf_release(&list);
	struct dfs_model_rec m;
	cr_assert_eq(dfs_db_get_model(n.db, "Gone", &m), -ENOENT);
	cr_assert_eq(dfs_db_get_model(n.db, "Empty", &m), 0);
	cr_assert_eq(dfs_db_remove_model(n.db, "Person"), -ENOTEMPTY);
	cr_assert_eq(dfs_db_set_field(n.db, &chief, "title", (const uint8_t *)"boss", 4), 0);
	cr_assert_eq(dfs_db_remove_model(n.db, "Empty"), 0);
	cr_assert_eq(dfs_db_create_model(n.db, "Gone"), 0);
	free(want);
	free(old);
	free(got);
	free(again);
}

Test(migrate, a_failed_batch_changes_nothing)
{
	make_world();
	node_close(&n);
	char *old = downgrade(&n);

	failing_commits = 1;
	cr_assert_null(try_open(&n), "the conversion could not be written");
	cr_assert_eq(errno, EIO);
	char *after = dump(n.st);
	cr_assert_str_eq(after, old, "the store is as it was");
	dfs_store_close(n.st);
	dfs_keyring_free(n.kr);
	n.st = NULL;
	n.kr = NULL;
	cr_assert_not_null(try_open(&n), "and converts at the next open");
	struct dfs_model_rec m;
	cr_assert_eq(dfs_db_get_model(n.db, "Person", &m), 0);
	cr_assert_eq(m.objects, 2);
	free(old);
	free(after);
}

Test(migrate, a_newer_store_is_refused)
{
	node_close(&n);
	struct dfs_store *st = open_store(&n);
	struct dfs_batch *b = dfs_batch_new();
	struct dfs_buf k, v;
	dfs_buf_init(&k);
	dfs_buf_init(&v);
	dfs_key_version(&k);
	cr_assert_eq(dfs_version_rec_encode(DFS_STORE_VERSION + 1, &v), 0);
	cr_assert_eq(dfs_batch_put(b, k.data, k.len, v.data, v.len), 0);
	cr_assert_eq(__real_dfs_store_commit(st, b), 0);
	dfs_store_close(st);
	dfs_buf_release(&k);
	dfs_buf_release(&v);

	cr_assert_null(try_open(&n));
	cr_assert_eq(errno, EPROTONOSUPPORT);
	dfs_store_close(n.st);
	dfs_keyring_free(n.kr);
	n.st = NULL;
	n.kr = NULL;
}

Test(migrate, a_new_store_is_marked_at_once)
{
	struct dfs_buf k;
	uint8_t *val;
	size_t len;
	uint32_t v;

	dfs_buf_init(&k);
	dfs_key_version(&k);
	cr_assert_eq(dfs_store_get(n.st, k.data, k.len, &val, &len), 0);
	cr_assert_eq(dfs_version_rec_decode(val, len, &v), 0);
	cr_assert_eq(v, DFS_STORE_VERSION);
	free(val);
	dfs_buf_release(&k);
}
