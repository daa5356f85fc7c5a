// SPDX-License-Identifier: MIT
/*
 * test_known.c - unit tests for the fields a read-only open knows stored
 * (src/fs/known.c): the answer is kept until an update is applied, any
 * update, and dfs_fs_changed() is what counts them.
 */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../src/fs/internal.h"
#include "dinemicfs/keys.h"
#include "dinemicfs/log.h"
#include "tmpdir.h"

static char *dir;
static struct dfs_store *st;
static struct dfs_keyring *kr;
static struct dfs_db *db;
static struct dfs_fs *fs;
static bool told;	/* the staged hook tells fs */

static void staged(void *ctx, const struct dfs_db_event *ev)
{
	if (told)
		dfs_fs_changed(ctx, ev);
}

static void setup(void)
{
	struct dfs_store_opts sopts = { .sync = 0 };
	struct dfs_fs_opts fopts = { .max_value = 4096 };

	dfs_log_set_level(DFS_LOG_ERR - 1);
	cr_assert_eq(dfs_crypto_init(), 0);
	dir = tmpdir_make("known");
	cr_assert_not_null(dir);
	char *store_dir = tmpdir_path(dir, "db");
	cr_assert_not_null(store_dir);
	st = dfs_store_open(store_dir, &sopts);
	free(store_dir);
	cr_assert_not_null(st);
	kr = dfs_keyring_open(dir);
	cr_assert_not_null(kr);
	db = dfs_db_open(st, kr, 4096);
	cr_assert_not_null(db);
	fs = dfs_fs_new(&fopts);
	cr_assert_not_null(fs);
	dfs_fs_attach(fs, db, st, kr, NULL, dir);
	dfs_db_set_staged(db, staged, fs);
	told = true;
}

static void teardown(void)
{
	dfs_fs_free(fs);
	dfs_db_free(db);
	dfs_store_close(st);
	dfs_keyring_free(kr);
	tmpdir_remove(dir);
}

TestSuite(known, .init = setup, .fini = teardown);

/* An object of model m with fields a and b; the entity of a, at inode 100, in *ent. */
static void make_fields(struct dfs_ent *ent)
{
	memset(ent, 0, sizeof(*ent));
	ent->kind = DFS_K_FIELD;
	snprintf(ent->model, sizeof(ent->model), "m");
	snprintf(ent->path, sizeof(ent->path), "a");
	cr_assert_eq(dfs_db_create_model(db, "m"), 0);
	cr_assert_eq(dfs_db_create_object(db, "m", "o", &ent->obj), 0);
	cr_assert_eq(dfs_db_set_field(db, &ent->obj, "a", (const uint8_t *)"1", 1), 0);
	cr_assert_eq(dfs_db_set_field(db, &ent->obj, "b", (const uint8_t *)"2", 1), 0);
}

Test(known, asks_the_store_first)
{
	struct dfs_ent ent;
	uint8_t flags = 0xff;

	make_fields(&ent);
	cr_assert_eq(fs_known_field(fs, 100, &ent, &flags), 0);
	cr_assert_eq(flags, 0);
	snprintf(ent.path, sizeof(ent.path), "nothing");
	cr_assert_eq(fs_known_field(fs, 101, &ent, &flags), -ENOENT);
}

Test(known, kept_until_an_update_is_counted)
{
	struct dfs_ent ent;
	uint8_t flags;

	make_fields(&ent);
	cr_assert_eq(fs_known_field(fs, 100, &ent, &flags), 0);
	/* Deleted where fs is not told: the answer is the one kept. */
	told = false;
	cr_assert_eq(dfs_db_delete_field(db, &ent.obj, "a"), 0);
	cr_assert_eq(fs_known_field(fs, 100, &ent, &flags), 0);
	/* Any update counted, of another field too, sends the next open to the store. */
	told = true;
	cr_assert_eq(dfs_db_set_field(db, &ent.obj, "b", (const uint8_t *)"3", 1), 0);
	cr_assert_eq(fs_known_field(fs, 100, &ent, &flags), -ENOENT);
}

Test(known, deleted_is_asked_again)
{
	struct dfs_ent ent;
	uint8_t flags;

	make_fields(&ent);
	cr_assert_eq(fs_known_field(fs, 100, &ent, &flags), 0);
	cr_assert_eq(dfs_db_delete_field(db, &ent.obj, "a"), 0);
	cr_assert_eq(fs_known_field(fs, 100, &ent, &flags), -ENOENT);
	/* Not found is never kept. */
	cr_assert_eq(dfs_db_set_field(db, &ent.obj, "a", (const uint8_t *)"4", 1), 0);
	cr_assert_eq(fs_known_field(fs, 100, &ent, &flags), 0);
}

Test(known, another_field_at_the_inode_is_asked)
{
	struct dfs_ent ent;
	uint8_t flags;

	make_fields(&ent);
	cr_assert_eq(fs_known_field(fs, 100, &ent, &flags), 0);
	told = false;
	cr_assert_eq(dfs_db_delete_field(db, &ent.obj, "b"), 0);
	/* Same inode, other path (a renamed inode): not the answer kept for a. */
	snprintf(ent.path, sizeof(ent.path), "b");
	cr_assert_eq(fs_known_field(fs, 100, &ent, &flags), -ENOENT);
}
