// SPDX-License-Identifier: MIT
/* test_db.c - unit tests for the object database and its apply path (model/db.c) */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <criterion/criterion.h>

#include "dinemicfs/db.h"
#include "dinemicfs/dblog.h"
#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "tmpdir.h"

#define MAX_VALUE 4096

static char *dir;
static struct dfs_store *st;
static struct dfs_keyring *kr;
static struct dfs_db *db;
static struct dfs_store_opts opts = { .sync = 0 };

static void open_all(void)
{
	char *store_dir = tmpdir_path(dir, "db");

	cr_assert_not_null(store_dir);
	st = dfs_store_open(store_dir, &opts);
	cr_assert_not_null(st, "store: %s", strerror(errno));
	kr = dfs_keyring_open(dir);
	cr_assert_not_null(kr, "keyring: %s", strerror(errno));
	db = dfs_db_open(st, kr, MAX_VALUE);
	cr_assert_not_null(db, "db: %s", strerror(errno));
	free(store_dir);
}

static void close_all(void)
{
	dfs_db_free(db);
	dfs_store_close(st);
	dfs_keyring_free(kr);
	db = NULL;
	st = NULL;
	kr = NULL;
}

static void setup(void)
{
	dfs_log_set_level(DFS_LOG_ERR - 1);	/* corrupt and refused records are logged */
	cr_assert_eq(dfs_crypto_init(), 0);
	dir = tmpdir_make("db");
	cr_assert_not_null(dir);
	open_all();
}

static void teardown(void)
{
	close_all();
	tmpdir_remove(dir);
	dir = NULL;
}

TestSuite(db, .init = setup, .fini = teardown);

/* ---- helpers ---------------------------------------------------------------- */

static void make_object(const char *model, const char *name, struct dfs_pubkey *key)
{
	struct dfs_model_rec m;

	if (dfs_db_get_model(db, model, &m) == -ENOENT)
		cr_assert_eq(dfs_db_create_model(db, model), 0, "create model %s", model);
	cr_assert_eq(dfs_db_create_object(db, model, name, key), 0, "create %s/%s", model, name);
}

static int set_str(const struct dfs_pubkey *obj, const char *path, const char *val)
{
	return dfs_db_set_field(db, obj, path, (const uint8_t *)val, strlen(val));
}

static int append_str(const struct dfs_pubkey *obj, const char *path, const char *val)
{
	return dfs_db_append_field(db, obj, path, (const uint8_t *)val, strlen(val));
}

static void expect_value(const struct dfs_pubkey *obj, const char *path, const char *want)
{
	struct dfs_field_rec f;
	uint8_t *val = NULL;
	size_t len = 0;

	cr_assert_eq(dfs_db_read_field(db, obj, path, &val, &len), 0, "read %s", path);
	cr_assert_eq(len, strlen(want), "%s: length %zu, want %zu", path, len, strlen(want));
	cr_assert_arr_eq(val, want, len, "%s", path);
	dfs_value_free(val);
	cr_assert_eq(dfs_db_get_field(db, obj, path, &f), 0);
	cr_assert_eq(f.kind, DFS_FIELD_VALUE);
	cr_assert(f.alive);
	cr_assert_eq(f.size, strlen(want));
}

struct names {
	int n;
	char v[16][DFS_NAME_MAX + 1];
};

static int collect_name(const char *name, void *ctx)
{
	struct names *ns = ctx;

	cr_assert_lt(ns->n, 16);
	strcpy(ns->v[ns->n++], name);
	return 0;
}

static struct names list_fields(const struct dfs_pubkey *obj, const char *dict)
{
	struct names ns = { 0 };

	cr_assert_eq(dfs_db_list_fields(db, obj, dict, collect_name, &ns), 0);
	return ns;
}

struct entry {
	uint8_t op;
	bool verified;
	bool held;		/* listed as held, with a reason */
	uint64_t clock;
	struct dfs_hash hash, prev;
	struct dfs_pubkey entity, signer;
	uint8_t *rec;		/* the record, encoded again */
	size_t len;
};

struct history {
	int n;
	struct entry e[32];
};

static int collect_update(const struct dfs_update *u, const struct dfs_hash *hash, bool verified,
			  const char *held, void *ctx)
{
	struct history *h = ctx;
	struct dfs_buf b;

	cr_assert_lt(h->n, 32);
	struct entry *e = &h->e[h->n++];
	e->op = u->op;
	e->verified = verified;
	e->held = held != NULL;
	e->clock = u->clock;
	e->hash = *hash;
	e->prev = u->prev;
	e->entity = u->entity;
	e->signer = u->signer;
	dfs_buf_init(&b);
	cr_assert_eq(dfs_update_encode(u, &b), 0);
	e->rec = dfs_buf_detach(&b, &e->len);
	return 0;
}

static void history_of(const struct dfs_pubkey *entity, struct history *h)
{
	h->n = 0;
	cr_assert_eq(dfs_db_history(db, entity, collect_update, h), 0);
}

static void history_release(struct history *h)
{
	for (int i = 0; i < h->n; i++)
		free(h->e[i].rec);
	h->n = 0;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Builds and signs an update as another node would send it. The keyring
 * holds the object's key, so the signature is genuine.
 */
static void craft(struct dfs_buf *out, uint8_t op, const struct dfs_pubkey *obj,
		  const struct dfs_pubkey *signer, const char *name, const char *value,
		  uint64_t clock, const struct dfs_hash *prev)
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
		.value = (const uint8_t *)value,
		.value_len = value ? strlen(value) : 0,
	};

	dfs_buf_init(out);
	cr_assert_eq(dfs_update_encode(&u, out), 0);
	size_t slen = dfs_update_signed_len(out->len);
	cr_assert_eq(dfs_keyring_sign(kr, signer, out->data, slen, out->data + slen), 0);
}

static struct dfs_hash hash_of(const struct dfs_buf *rec)
{
	struct dfs_hash h;

	dfs_hash2(&h, rec->data, rec->len, NULL, 0);
	return h;
}

static struct dfs_hash head_of(const struct dfs_pubkey *obj)
{
	struct dfs_object_rec o;

	cr_assert_eq(dfs_db_get_object_by_key(db, obj, &o), 0);
	return o.head;
}

/* ---- models and objects ----------------------------------------------------- */

Test(db, create_model)
{
	struct dfs_model_rec m;
	struct names ns = { 0 };

	cr_assert_eq(dfs_db_get_model(db, "notes", &m), -ENOENT);
	cr_assert_eq(dfs_db_create_model(db, "notes"), 0);
	cr_assert_eq(dfs_db_get_model(db, "notes", &m), 0);
	cr_assert(m.live);
	cr_assert_eq(m.objects, 0);
	cr_assert_arr_eq(m.signer.b, dfs_keyring_node(kr)->b, DFS_PUBKEY_LEN,
			 "the node key creates models");
	cr_assert_eq(dfs_db_create_model(db, "notes"), -EEXIST);
	cr_assert_eq(dfs_db_create_model(db, "contacts"), 0);
	cr_assert_eq(dfs_db_list_models(db, collect_name, &ns), 0);
	cr_assert_eq(ns.n, 2);
	cr_assert_str_eq(ns.v[0], "contacts");
	cr_assert_str_eq(ns.v[1], "notes");
}

/*
 * Regression (src/model/db.c, load_target): a model name longer than 255
 * bytes is copied into a 256-byte stack array before anything checks its
 * length, so dfs_db_create_model() overruns the stack instead of returning
 * an error. (FUSE names stop at 255 bytes; direct callers are not told.)
 */
Test(db, model_name_too_long)
{
	char name[1024];
	struct dfs_model_rec m;

	memset(name, 'm', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	int rc = dfs_db_create_model(db, name);
	cr_assert(rc == -EINVAL || rc == -ENAMETOOLONG, "rc %d", rc);
	cr_assert_eq(dfs_db_get_model(db, name, &m), -ENOENT);
}

Test(db, create_model_bad_names)
{
	cr_assert_eq(dfs_db_create_model(db, ".hidden"), -EINVAL);
	cr_assert_eq(dfs_db_create_model(db, "a/b"), -EINVAL);
	cr_assert_eq(dfs_db_create_model(db, ""), -EINVAL);
	cr_assert_eq(dfs_db_create_model(db, ".."), -EINVAL);
}

Test(db, object_needs_model)
{
	struct dfs_pubkey key;

	cr_assert_eq(dfs_db_create_object(db, "missing", "x", &key), -ENOENT);
}

Test(db, create_object)
{
	struct dfs_pubkey key, found, again;
	struct dfs_object_rec o;
	struct names ns = { 0 };
	struct stat sb;
	char hex[2 * DFS_PUBKEY_LEN + 1], name[128];

	make_object("notes", "shopping", &key);
	cr_assert_eq(dfs_db_get_object(db, "notes", "shopping", &found, &o), 0);
	cr_assert_arr_eq(found.b, key.b, DFS_PUBKEY_LEN);
	cr_assert(o.alive);
	cr_assert_str_eq(o.model, "notes");
	cr_assert_str_eq(o.name, "shopping");
	cr_assert_eq(o.created, o.mtime);
	cr_assert_eq(dfs_db_get_object_by_key(db, &key, &o), 0);
	cr_assert_str_eq(o.name, "shopping");
	cr_assert(dfs_keyring_has(kr, &key));

	dfs_hex_encode(hex, key.b, DFS_PUBKEY_LEN);
	snprintf(name, sizeof(name), "keys/%s.key", hex);
	char *path = tmpdir_path(dir, name);
	cr_assert_eq(stat(path, &sb), 0, "the object's key file");
	cr_assert_eq(sb.st_mode & 0777, 0600);
	free(path);

	cr_assert_eq(dfs_db_create_object(db, "notes", "shopping", &again), -EEXIST);
	cr_assert_eq(dfs_db_get_object(db, "notes", "other", &found, &o), -ENOENT);
	cr_assert_eq(dfs_db_create_object(db, "notes", "todo", &again), 0);
	cr_assert_arr_neq(again.b, key.b, DFS_PUBKEY_LEN, "each object has its own key");
	cr_assert_eq(dfs_db_list_objects(db, "notes", collect_name, &ns), 0);
	cr_assert_eq(ns.n, 2);
	cr_assert_str_eq(ns.v[0], "shopping");
	cr_assert_str_eq(ns.v[1], "todo");
}

Test(db, create_object_bad_name_leaves_no_key)
{
	struct dfs_pubkey key;
	struct names ns = { 0 };

	cr_assert_eq(dfs_db_create_model(db, "notes"), 0);
	cr_assert_eq(dfs_db_create_object(db, "notes", ".hidden", &key), -EINVAL);
	cr_assert_not(dfs_keyring_has(kr, &key), "the key was discarded");
	cr_assert_eq(dfs_db_create_object(db, "notes", "a/b", &key), -EINVAL);
	cr_assert_eq(dfs_db_list_objects(db, "notes", collect_name, &ns), 0);
	cr_assert_eq(ns.n, 0);
}

Test(db, remove_object)
{
	struct dfs_pubkey key, key2, found;
	struct dfs_object_rec o;
	struct names ns = { 0 };

	make_object("notes", "list", &key);
	cr_assert_eq(set_str(&key, "title", "x"), 0);
	cr_assert_eq(dfs_db_create_dict(db, &key, "tags"), 0);
	cr_assert_eq(dfs_db_remove_object(db, &key), -ENOTEMPTY);
	cr_assert_eq(dfs_db_delete_field(db, &key, "title"), 0);
	cr_assert_eq(dfs_db_remove_object(db, &key), -ENOTEMPTY, "an empty dict is a child too");
	cr_assert_eq(dfs_db_delete_dict(db, &key, "tags"), 0);
	cr_assert_eq(dfs_db_remove_object(db, &key), 0);

	cr_assert_eq(dfs_db_get_object(db, "notes", "list", &found, &o), -ENOENT);
	cr_assert_eq(dfs_db_get_object_by_key(db, &key, &o), -ENOENT);
	cr_assert_eq(dfs_db_list_objects(db, "notes", collect_name, &ns), 0);
	cr_assert_eq(ns.n, 0);
	cr_assert_eq(set_str(&key, "title", "y"), -ENOENT);
	cr_assert_eq(dfs_db_remove_object(db, &key), -ENOENT);

	cr_assert_eq(dfs_db_create_object(db, "notes", "list", &key2), 0, "the name is free");
	cr_assert_arr_neq(key2.b, key.b, DFS_PUBKEY_LEN);
}

Test(db, remove_model)
{
	struct dfs_pubkey key;
	struct dfs_model_rec m;
	struct names ns = { 0 };

	make_object("notes", "list", &key);
	cr_assert_eq(dfs_db_get_model(db, "notes", &m), 0);
	cr_assert_eq(m.objects, 1, "the model counts its live objects");
	cr_assert_eq(dfs_db_remove_model(db, "notes"), -ENOTEMPTY);
	cr_assert_eq(dfs_db_remove_object(db, &key), 0);
	cr_assert_eq(dfs_db_get_model(db, "notes", &m), 0);
	cr_assert_eq(m.objects, 0);
	cr_assert(m.live, "created, and not removed");
	cr_assert_eq(dfs_db_remove_model(db, "notes"), 0);
	cr_assert_eq(dfs_db_get_model(db, "notes", &m), -ENOENT);
	cr_assert_eq(dfs_db_list_models(db, collect_name, &ns), 0);
	cr_assert_eq(ns.n, 0);
	cr_assert_eq(dfs_db_remove_model(db, "notes"), -ENOENT);
	cr_assert_eq(dfs_db_create_object(db, "notes", "list", &key), -ENOENT);
	cr_assert_eq(dfs_db_create_model(db, "notes"), 0, "a removed model can come back");
}

/* ---- fields and dicts ------------------------------------------------------- */

Test(db, set_append_delete_field)
{
	struct dfs_pubkey key;
	struct dfs_field_rec f;
	uint8_t *val;
	size_t len;

	make_object("notes", "list", &key);
	cr_assert_eq(dfs_db_get_field(db, &key, "title", &f), -ENOENT);
	cr_assert_eq(set_str(&key, "title", "hello"), 0);
	expect_value(&key, "title", "hello");
	cr_assert_eq(set_str(&key, "title", "hi"), 0);
	expect_value(&key, "title", "hi");
	cr_assert_eq(append_str(&key, "title", " there"), 0);
	expect_value(&key, "title", "hi there");
	cr_assert_eq(append_str(&key, "log", "first"), 0, "append creates the field");
	expect_value(&key, "log", "first");
	cr_assert_eq(dfs_db_set_field(db, &key, "empty", NULL, 0), 0);
	expect_value(&key, "empty", "");

	struct names ns = list_fields(&key, NULL);
	cr_assert_eq(ns.n, 3);
	cr_assert_str_eq(ns.v[0], "empty");
	cr_assert_str_eq(ns.v[1], "log");
	cr_assert_str_eq(ns.v[2], "title");

	cr_assert_eq(dfs_db_delete_field(db, &key, "title"), 0);
	cr_assert_eq(dfs_db_get_field(db, &key, "title", &f), -ENOENT);
	cr_assert_eq(dfs_db_read_field(db, &key, "title", &val, &len), -ENOENT);
	cr_assert_eq(dfs_db_delete_field(db, &key, "title"), -ENOENT);
	ns = list_fields(&key, NULL);
	cr_assert_eq(ns.n, 2);
	cr_assert_eq(set_str(&key, "title", "back"), 0, "a deleted field can come back");
	expect_value(&key, "title", "back");
}

Test(db, field_bad_names)
{
	struct dfs_pubkey key;

	make_object("notes", "list", &key);
	cr_assert_eq(set_str(&key, ".hidden", "x"), -EINVAL);
	cr_assert_eq(set_str(&key, "a/b/c", "x"), -EINVAL);
	cr_assert_eq(set_str(&key, "", "x"), -EINVAL);
}

Test(db, dicts)
{
	struct dfs_pubkey key;
	struct dfs_field_rec f;
	uint8_t *val;
	size_t len;

	make_object("notes", "list", &key);
	cr_assert_eq(dfs_db_create_dict(db, &key, "tags"), 0);
	cr_assert_eq(dfs_db_get_field(db, &key, "tags", &f), 0);
	cr_assert_eq(f.kind, DFS_FIELD_DICT);
	cr_assert_eq(dfs_db_create_dict(db, &key, "tags"), -EEXIST);
	cr_assert_eq(set_str(&key, "tags/food", "yes"), 0);
	cr_assert_eq(set_str(&key, "tags/home", "no"), 0);
	expect_value(&key, "tags/food", "yes");
	cr_assert_eq(set_str(&key, "title", "t"), 0);

	struct names ns = list_fields(&key, "tags");
	cr_assert_eq(ns.n, 2);
	cr_assert_str_eq(ns.v[0], "food");
	cr_assert_str_eq(ns.v[1], "home");
	ns = list_fields(&key, NULL);
	cr_assert_eq(ns.n, 2, "dict keys are not fields of the object");
	cr_assert_str_eq(ns.v[0], "tags");
	cr_assert_str_eq(ns.v[1], "title");

	cr_assert_eq(dfs_db_read_field(db, &key, "tags", &val, &len), -EISDIR);
	cr_assert_eq(set_str(&key, "tags", "x"), -EISDIR);
	cr_assert_eq(set_str(&key, "title/x", "x"), -ENOTDIR);
	cr_assert_eq(set_str(&key, "nodict/x", "x"), -ENOENT);
	cr_assert_eq(dfs_db_delete_dict(db, &key, "title"), -ENOTDIR);
	cr_assert_eq(dfs_db_delete_dict(db, &key, "nodict"), -ENOENT);
	cr_assert_eq(dfs_db_create_dict(db, &key, "title"), -EEXIST);

	cr_assert_eq(dfs_db_delete_dict(db, &key, "tags"), -ENOTEMPTY);
	cr_assert_eq(dfs_db_delete_field(db, &key, "tags/food"), 0);
	cr_assert_eq(dfs_db_delete_dict(db, &key, "tags"), -ENOTEMPTY);
	cr_assert_eq(dfs_db_delete_field(db, &key, "tags/home"), 0);
	cr_assert_eq(dfs_db_delete_dict(db, &key, "tags"), 0);
	cr_assert_eq(dfs_db_get_field(db, &key, "tags", &f), -ENOENT);
	cr_assert_eq(set_str(&key, "tags/food", "x"), -ENOENT, "the dict is gone");
	cr_assert_eq(dfs_db_create_dict(db, &key, "tags"), 0, "and can come back");
	ns = list_fields(&key, "tags");
	cr_assert_eq(ns.n, 0, "empty, its old keys stay dead");
}

Test(db, efbig_past_max_value)
{
	struct dfs_pubkey key;
	uint8_t *big = malloc(MAX_VALUE + 1);

	cr_assert_not_null(big);
	memset(big, 'b', MAX_VALUE + 1);
	make_object("notes", "list", &key);
	cr_assert_eq(dfs_db_set_field(db, &key, "f", big, MAX_VALUE + 1), -EFBIG);
	cr_assert_eq(dfs_db_append_field(db, &key, "f", big, MAX_VALUE + 1), -EFBIG);
	cr_assert_eq(dfs_db_set_field(db, &key, "f", big, MAX_VALUE), 0, "max_value itself fits");
	cr_assert_eq(append_str(&key, "f", "x"), -EFBIG, "growth past max_value");
	cr_assert_eq(dfs_db_set_field(db, &key, "f", big, MAX_VALUE - 10), 0);
	cr_assert_eq(dfs_db_append_field(db, &key, "f", big, 11), -EFBIG);
	struct dfs_field_rec f;
	cr_assert_eq(dfs_db_get_field(db, &key, "f", &f), 0);
	cr_assert_eq(f.size, MAX_VALUE - 10, "a refused append changes nothing");
	cr_assert_eq(dfs_db_append_field(db, &key, "f", big, 10), 0);
	cr_assert_eq(dfs_db_get_field(db, &key, "f", &f), 0);
	cr_assert_eq(f.size, MAX_VALUE);
	free(big);
}

/* ---- history and the apply path --------------------------------------------- */

Test(db, history_oldest_first_and_chained)
{
	static const uint8_t ops[] = {
		DFS_OP_OBJECT_CREATE, DFS_OP_FIELD_SET, DFS_OP_FIELD_APPEND,
		DFS_OP_DICT_CREATE, DFS_OP_FIELD_SET, DFS_OP_FIELD_DELETE,
	};
	static const struct dfs_hash zero;
	struct dfs_pubkey key;
	struct history h;

	make_object("notes", "list", &key);
	cr_assert_eq(set_str(&key, "title", "a"), 0);
	cr_assert_eq(append_str(&key, "title", "b"), 0);
	cr_assert_eq(dfs_db_create_dict(db, &key, "tags"), 0);
	cr_assert_eq(set_str(&key, "tags/x", "1"), 0);
	cr_assert_eq(dfs_db_delete_field(db, &key, "title"), 0);

	history_of(&key, &h);
	cr_assert_eq(h.n, 6);
	for (int i = 0; i < h.n; i++) {
		struct entry *e = &h.e[i];
		struct dfs_hash rehash;
		cr_assert_eq(e->op, ops[i], "update %d is %s, not %s", i, dfs_op_name(e->op),
			     dfs_op_name(ops[i]));
		cr_assert(e->verified, "update %d verified", i);
		cr_assert_arr_eq(e->entity.b, key.b, DFS_PUBKEY_LEN);
		cr_assert_arr_eq(e->signer.b, key.b, DFS_PUBKEY_LEN, "signed by the object");
		cr_assert_arr_eq(e->prev.b, i ? h.e[i - 1].hash.b : zero.b, DFS_HASH_LEN,
				 "update %d links to the one before", i);
		if (i)
			cr_assert_gt(e->clock, h.e[i - 1].clock);
		dfs_hash2(&rehash, e->rec, e->len, NULL, 0);
		cr_assert_arr_eq(rehash.b, e->hash.b, DFS_HASH_LEN, "the hash is of the record");
	}
	struct dfs_hash head = head_of(&key);
	cr_assert_arr_eq(head.b, h.e[5].hash.b, DFS_HASH_LEN, "the head is the newest");
	history_release(&h);

	struct dfs_pubkey model_id;
	dfs_db_model_id("notes", &model_id);
	history_of(&model_id, &h);
	cr_assert_eq(h.n, 1);
	cr_assert_eq(h.e[0].op, DFS_OP_MODEL_CREATE);
	cr_assert(h.e[0].verified);
	cr_assert_arr_eq(h.e[0].signer.b, dfs_keyring_node(kr)->b, DFS_PUBKEY_LEN);
	history_release(&h);
}

Test(db, same_record_twice_is_ealready)
{
	struct dfs_pubkey key;
	struct history h;
	struct dfs_buf ukey;
	struct dfs_db_stats before, after;
	uint8_t *stored;
	size_t len;

	make_object("notes", "list", &key);
	cr_assert_eq(set_str(&key, "title", "a"), 0);
	history_of(&key, &h);
	cr_assert_eq(h.n, 2);

	/* The record as stored under its 'U' key is the record history re-encodes. */
	dfs_buf_init(&ukey);
	dfs_key_update(&ukey, &h.e[1].hash);
	cr_assert_eq(dfs_store_get(st, ukey.data, ukey.len, &stored, &len), 0);
	cr_assert_eq(len, h.e[1].len);
	cr_assert_arr_eq(stored, h.e[1].rec, len);
	dfs_buf_release(&ukey);

	dfs_db_get_stats(db, &before);
	cr_assert_eq(dfs_db_apply(db, stored, len), -EALREADY);
	cr_assert_eq(dfs_db_apply(db, h.e[0].rec, h.e[0].len), -EALREADY);
	dfs_db_get_stats(db, &after);
	cr_assert_eq(after.seq, before.seq);
	cr_assert_eq(after.applied, before.applied);
	cr_assert_eq(after.refused, before.refused, "a duplicate is not a refusal");
	expect_value(&key, "title", "a");
	free(stored);
	history_release(&h);
}

Test(db, apply_remote_update)
{
	struct dfs_pubkey key;
	struct dfs_buf rec;
	struct dfs_hash head;
	struct dfs_db_stats before, after;

	make_object("notes", "list", &key);
	head = head_of(&key);
	craft(&rec, DFS_OP_FIELD_SET, &key, &key, "title", "from afar", (wall_ms() + 1) << 16,
	      &head);
	dfs_db_get_stats(db, &before);
	cr_assert_eq(dfs_db_apply(db, rec.data, rec.len), 0);
	expect_value(&key, "title", "from afar");
	struct dfs_hash h = hash_of(&rec);
	head = head_of(&key);
	cr_assert_arr_eq(head.b, h.b, DFS_HASH_LEN);
	cr_assert_eq(dfs_db_apply(db, rec.data, rec.len), -EALREADY);
	dfs_db_get_stats(db, &after);
	cr_assert_eq(after.seq, before.seq + 1);
	cr_assert_eq(after.applied, before.applied + 1);
	dfs_buf_release(&rec);
}

Test(db, flipped_signature_byte_is_refused)
{
	struct dfs_pubkey key;
	struct dfs_buf rec;
	struct dfs_hash head;
	struct dfs_field_rec f;
	struct dfs_db_stats before, after;

	make_object("notes", "list", &key);
	head = head_of(&key);
	craft(&rec, DFS_OP_FIELD_SET, &key, &key, "title", "forged", (wall_ms() + 1) << 16, &head);

	dfs_db_get_stats(db, &before);
	rec.data[rec.len - 1] ^= 0x01;
	cr_assert_eq(dfs_db_apply(db, rec.data, rec.len), -EBADMSG, "last signature byte");
	rec.data[rec.len - 1] ^= 0x01;
	rec.data[rec.len - DFS_SIG_LEN] ^= 0x40;
	cr_assert_eq(dfs_db_apply(db, rec.data, rec.len), -EBADMSG, "first signature byte");
	rec.data[rec.len - DFS_SIG_LEN] ^= 0x40;
	rec.data[rec.len - DFS_SIG_LEN - 1] ^= 0x20;
	cr_assert_eq(dfs_db_apply(db, rec.data, rec.len), -EBADMSG, "a value byte");
	rec.data[rec.len - DFS_SIG_LEN - 1] ^= 0x20;
	cr_assert_eq(dfs_db_get_field(db, &key, "title", &f), -ENOENT, "nothing was applied");
	dfs_db_get_stats(db, &after);
	cr_assert_eq(after.refused, before.refused + 3);
	cr_assert_eq(after.seq, before.seq);

	cr_assert_eq(dfs_db_apply(db, rec.data, rec.len), 0, "the untouched record is fine");
	expect_value(&key, "title", "forged");
	dfs_buf_release(&rec);
}

Test(db, wrong_signer_is_eperm)
{
	struct dfs_pubkey key;
	struct dfs_buf rec;
	struct dfs_hash head;

	make_object("notes", "list", &key);
	head = head_of(&key);
	/* A genuine signature, but by the node key: objects are owned by their own key. */
	craft(&rec, DFS_OP_FIELD_SET, &key, dfs_keyring_node(kr), "title", "x",
	      (wall_ms() + 1) << 16, &head);
	cr_assert_eq(dfs_db_apply(db, rec.data, rec.len), -EPERM);
	dfs_buf_release(&rec);
}

Test(db, broken_chain_is_refused)
{
	struct dfs_pubkey key, stranger;
	struct dfs_buf rec;
	struct dfs_hash prev;
	struct dfs_field_rec f;

	make_object("notes", "list", &key);
	memset(prev.b, 0x42, DFS_HASH_LEN);
	craft(&rec, DFS_OP_FIELD_SET, &key, &key, "title", "x", (wall_ms() + 1) << 16, &prev);
	cr_assert_eq(dfs_db_apply(db, rec.data, rec.len), -EAGAIN, "unknown prev: waits");
	dfs_buf_release(&rec);

	memset(prev.b, 0, DFS_HASH_LEN);
	craft(&rec, DFS_OP_FIELD_SET, &key, &key, "title", "x", (wall_ms() + 1) << 16, &prev);
	cr_assert_eq(dfs_db_apply(db, rec.data, rec.len), -EBADMSG, "no prev on a live object");
	dfs_buf_release(&rec);

	/* prev naming another entity's update. */
	make_object("notes", "other", &stranger);
	prev = head_of(&stranger);
	craft(&rec, DFS_OP_FIELD_SET, &key, &key, "title", "x", (wall_ms() + 1) << 16, &prev);
	cr_assert_eq(dfs_db_apply(db, rec.data, rec.len), -EBADMSG, "prev of another object");
	dfs_buf_release(&rec);
	cr_assert_eq(dfs_db_get_field(db, &key, "title", &f), -ENOENT);
}

Test(db, malformed_record_is_badmsg)
{
	struct dfs_pubkey key;
	struct dfs_buf rec;
	struct dfs_hash head;
	static const uint8_t junk[] = "definitely not an update";

	make_object("notes", "list", &key);
	head = head_of(&key);
	craft(&rec, DFS_OP_FIELD_SET, &key, &key, "title", "x", (wall_ms() + 1) << 16, &head);
	cr_assert_eq(dfs_db_apply(db, junk, sizeof(junk)), -EBADMSG);
	cr_assert_eq(dfs_db_apply(db, rec.data, rec.len - 1), -EBADMSG);
	cr_assert_eq(dfs_db_apply(db, rec.data, 0), -EBADMSG);
	dfs_buf_release(&rec);
}

/* An older write that arrives later changes nothing: last writer wins. */
Test(db, older_remote_write_loses)
{
	struct dfs_pubkey key;
	struct dfs_buf newer, older;
	struct dfs_hash head, h;
	uint64_t now = wall_ms() << 16;

	make_object("notes", "list", &key);
	head = head_of(&key);
	craft(&newer, DFS_OP_FIELD_SET, &key, &key, "title", "newer", now + (1000 << 16), &head);
	cr_assert_eq(dfs_db_apply(db, newer.data, newer.len), 0);
	h = hash_of(&newer);
	craft(&older, DFS_OP_FIELD_SET, &key, &key, "title", "older", now + (500 << 16), &h);
	cr_assert_eq(dfs_db_apply(db, older.data, older.len), 0, "accepted into the history");
	expect_value(&key, "title", "newer");
	dfs_buf_release(&newer);
	dfs_buf_release(&older);
}

/* A remote update from a clock ahead of ours: our next write still wins. */
Test(db, local_write_after_future_remote_wins)
{
	struct dfs_pubkey key;
	struct dfs_buf rec;
	struct dfs_hash head;
	uint64_t future = (wall_ms() + 30 * 1000) << 16;	/* within max_skew */

	make_object("notes", "list", &key);
	head = head_of(&key);
	craft(&rec, DFS_OP_FIELD_SET, &key, &key, "title", "remote", future, &head);
	cr_assert_eq(dfs_db_apply(db, rec.data, rec.len), 0);
	cr_assert_eq(set_str(&key, "title", "local"), 0);
	expect_value(&key, "title", "local");
	dfs_buf_release(&rec);
}

/*
 * Regression (src/model/db.c, apply_locked): the state record stores the clock
 * of the last update applied, not the highest clock seen, though records.h
 * says "highest clock applied" and dfs_db_open() uses it as the clock's
 * floor. After an update from a clock ahead of ours and then an older one,
 * a restart forgets the future clock, and a local write that returns 0 loses
 * to the remote value under last-writer-wins.
 */
Test(db, reopen_keeps_clock_past_future_remote)
{
	struct dfs_pubkey key;
	struct dfs_buf ahead, behind;
	struct dfs_hash head, h;
	uint64_t now = wall_ms();

	make_object("notes", "list", &key);
	head = head_of(&key);
	craft(&ahead, DFS_OP_FIELD_SET, &key, &key, "title", "remote",
	      (now + 30 * 1000) << 16, &head);
	cr_assert_eq(dfs_db_apply(db, ahead.data, ahead.len), 0);
	h = hash_of(&ahead);
	craft(&behind, DFS_OP_FIELD_SET, &key, &key, "other", "late", (now - 3600 * 1000) << 16, &h);
	cr_assert_eq(dfs_db_apply(db, behind.data, behind.len), 0);
	dfs_buf_release(&ahead);
	dfs_buf_release(&behind);

	close_all();
	open_all();
	cr_assert_eq(set_str(&key, "title", "local"), 0);
	uint8_t *val;
	size_t len;
	cr_assert_eq(dfs_db_read_field(db, &key, "title", &val, &len), 0);
	cr_assert(len == 5 && memcmp(val, "local", 5) == 0,
		  "regression: an acknowledged local write lost to '%.*s' after a restart",
		  (int)len, (char *)val);
	dfs_value_free(val);
}

/* ---- durability and corruption ---------------------------------------------- */

Test(db, reopen_keeps_everything)
{
	struct dfs_pubkey key, found;
	struct dfs_object_rec o;
	struct dfs_model_rec m;
	struct dfs_db_stats before, after;
	struct history h;

	make_object("notes", "list", &key);
	cr_assert_eq(set_str(&key, "title", "kept"), 0);
	cr_assert_eq(dfs_db_create_dict(db, &key, "tags"), 0);
	cr_assert_eq(set_str(&key, "tags/a", "1"), 0);
	dfs_db_get_stats(db, &before);
	struct dfs_pubkey node = *dfs_keyring_node(kr);

	close_all();
	open_all();
	cr_assert_arr_eq(dfs_keyring_node(kr)->b, node.b, DFS_PUBKEY_LEN, "same node identity");
	dfs_db_get_stats(db, &after);
	cr_assert_eq(after.seq, before.seq);
	cr_assert_eq(dfs_db_get_model(db, "notes", &m), 0);
	cr_assert_eq(dfs_db_get_object(db, "notes", "list", &found, &o), 0);
	cr_assert_arr_eq(found.b, key.b, DFS_PUBKEY_LEN);
	expect_value(&key, "title", "kept");
	expect_value(&key, "tags/a", "1");
	cr_assert(dfs_keyring_has(kr, &key), "the object key is found again on disk");

	history_of(&key, &h);
	cr_assert_eq(h.n, 4);
	uint64_t last = h.e[3].clock;
	history_release(&h);
	cr_assert_eq(set_str(&key, "title", "changed"), 0, "still writable");
	expect_value(&key, "title", "changed");
	history_of(&key, &h);
	cr_assert_eq(h.n, 5);
	for (int i = 0; i < h.n; i++)
		cr_assert(h.e[i].verified, "update %d", i);
	cr_assert_gt(h.e[4].clock, last);
	history_release(&h);
	dfs_db_get_stats(db, &after);
	cr_assert_eq(after.seq, before.seq + 1);
}

Test(db, corrupt_field_record_is_eio)
{
	struct dfs_pubkey key;
	struct dfs_field_rec f;
	struct dfs_buf fkey;
	struct dfs_db_stats stats;
	static const char garbage[] = "\x07not a field record";
	uint8_t *val;
	size_t len;

	make_object("notes", "list", &key);
	cr_assert_eq(set_str(&key, "broken", "was fine"), 0);
	cr_assert_eq(set_str(&key, "sound", "still fine"), 0);

	dfs_buf_init(&fkey);
	dfs_key_field(&fkey, &key, "broken", 6);
	struct dfs_batch *b = dfs_batch_new();
	cr_assert_not_null(b);
	cr_assert_eq(dfs_batch_put(b, fkey.data, fkey.len, garbage, sizeof(garbage) - 1), 0);
	cr_assert_eq(dfs_store_commit(st, b), 0);
	dfs_buf_release(&fkey);

	cr_assert_eq(dfs_db_get_field(db, &key, "broken", &f), -EIO);
	cr_assert_eq(dfs_db_read_field(db, &key, "broken", &val, &len), -EIO);
	cr_assert_eq(dfs_db_get_field(db, &key, "sound", &f), 0);
	expect_value(&key, "sound", "still fine");
	struct names ns = list_fields(&key, NULL);
	cr_assert_eq(ns.n, 1, "listing skips the corrupt record");
	cr_assert_str_eq(ns.v[0], "sound");
	dfs_db_get_stats(db, &stats);
	cr_assert_geq(stats.corrupt, 3);
	cr_assert_eq(set_str(&key, "broken", "x"), 0, "a new value replaces a corrupt record");
	expect_value(&key, "broken", "x");
	cr_assert_eq(set_str(&key, "sound", "writable"), 0);
	expect_value(&key, "sound", "writable");
}

Test(db, corrupt_value_is_eio)
{
	struct dfs_pubkey key;
	struct dfs_buf vkey;
	uint8_t *val;
	size_t len;

	make_object("notes", "list", &key);
	cr_assert_eq(set_str(&key, "title", "12345"), 0);
	dfs_buf_init(&vkey);
	dfs_key_value(&vkey, &key, "title", 5);
	struct dfs_batch *b = dfs_batch_new();
	cr_assert_not_null(b);
	cr_assert_eq(dfs_batch_put(b, vkey.data, vkey.len, "123", 3), 0);
	cr_assert_eq(dfs_store_commit(st, b), 0);
	dfs_buf_release(&vkey);
	cr_assert_eq(dfs_db_read_field(db, &key, "title", &val, &len), -EIO,
		     "a value shorter than its record says is corrupt");
}

/* ---- concurrency ------------------------------------------------------------ */

struct racer {
	const struct dfs_pubkey *key;
	const char *path;
	atomic_int done;
	int rc;
};

static void *race_set(void *arg)
{
	struct racer *r = arg;

	r->rc = set_str(r->key, r->path, "v");
	atomic_store(&r->done, 1);
	return NULL;
}

/*
 * Starts a set of path on another thread and returns once that update is
 * staged: visible to reads through the store's overlay, and, with sync on,
 * most likely not yet in LevelDB.
 */
static void start_set(pthread_t *tid, struct racer *r, const struct dfs_pubkey *key,
		      const char *path)
{
	struct dfs_field_rec f;

	r->key = key;
	r->path = path;
	atomic_store(&r->done, 0);
	cr_assert_eq(pthread_create(tid, NULL, race_set, r), 0);
	while (dfs_db_get_field(db, key, path, &f) != 0 && !atomic_load(&r->done))
		;
}

static void use_sync_store(void)
{
	close_all();
	opts.sync = 1;	/* a longer write makes the staged-but-unwritten window visible */
	open_all();
}

/*
 * Regression (src/model/db.c, apply_dict via has_live_children): the
 * emptiness check scans the store, and dfs_store_scan() once saw written
 * batches only. An update that has been staged (it holds no lock while it waits for
 * its write) is missed, so a dict can be deleted while a key is being set
 * in it, leaving a live key in a dead dict. Timing-dependent: this test can
 * miss the bug where fsync is instant (tmpfs), but never fails without it.
 */
Test(db, dict_delete_misses_staged_key, .timeout = 50)
{
	struct dfs_pubkey key;
	struct dfs_field_rec f;
	struct racer r;
	pthread_t tid;

	use_sync_store();
	make_object("notes", "list", &key);
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(dfs_db_create_dict(db, &key, "d"), 0, "round %d", i);
		start_set(&tid, &r, &key, "d/k");
		int rc = dfs_db_delete_dict(db, &key, "d");
		pthread_join(tid, NULL);
		cr_assert_eq(r.rc, 0, "round %d: set", i);
		bool key_alive = dfs_db_get_field(db, &key, "d/k", &f) == 0;
		cr_assert_eq(rc, -ENOTEMPTY,
			     "regression: round %d: dict 'd' deleted (rc %d) while 'd/k' was "
			     "staged; 'd/k' is %s", i, rc, key_alive ? "still live" : "gone");
		cr_assert_eq(dfs_db_delete_field(db, &key, "d/k"), 0);
		cr_assert_eq(dfs_db_delete_dict(db, &key, "d"), 0);
	}
}

/*
 * Regression (src/model/db.c, dfs_db_remove_object and bury_fields): the same
 * blind spot for objects, made wider because the emptiness check runs before
 * the apply lock is taken. A field staged while the object is removed is
 * missed by the check; then either bury_fields() misses it too and it
 * outlives its object, or it is buried and an acknowledged write is lost.
 */
Test(db, remove_object_misses_staged_field, .timeout = 50)
{
	struct dfs_pubkey key;
	struct dfs_field_rec f;
	struct racer r;
	pthread_t tid;
	char name[16];

	use_sync_store();
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "obj%d", i);
		make_object("notes", name, &key);
		start_set(&tid, &r, &key, "f");
		int rc = dfs_db_remove_object(db, &key);
		pthread_join(tid, NULL);
		cr_assert_eq(r.rc, 0, "round %d: set", i);
		bool field_alive = dfs_db_get_field(db, &key, "f", &f) == 0;
		cr_assert_eq(rc, -ENOTEMPTY,
			     "regression: round %d: object removed (rc %d) while field 'f' was "
			     "staged; 'f' is %s", i, rc,
			     field_alive ? "still live, outliving its object" : "buried");
		cr_assert_eq(dfs_db_delete_field(db, &key, "f"), 0);
		cr_assert_eq(dfs_db_remove_object(db, &key), 0);
	}
}
