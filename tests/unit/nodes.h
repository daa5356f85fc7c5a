/* SPDX-License-Identifier: MIT */
/*
 * nodes.h - whole nodes (store, keyring, database) in private temporary
 * directories, for unit tests that ship updates between several of them.
 *
 * Include after tmpdir.h. Databases are opened with max_value
 * NODE_MAX_VALUE. node_close() then node_open() keep the directory: a
 * restart.
 */
#ifndef DFS_TESTS_NODES_H
#define DFS_TESTS_NODES_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "dinemicfs/db.h"
#include "dinemicfs/keyring.h"
#include "dinemicfs/store.h"

struct node {
	char *dir;
	struct dfs_store *st;
	struct dfs_keyring *kr;
	struct dfs_db *db;
};

#define NODE_MAX_VALUE 4096

static struct dfs_store_opts node_store_opts = { .sync = 0 };

static void node_open(struct node *n)
{
	char *store_dir = tmpdir_path(n->dir, "db");

	cr_assert_not_null(store_dir);
	n->st = dfs_store_open(store_dir, &node_store_opts);
	cr_assert_not_null(n->st, "store: %s", strerror(errno));
	n->kr = dfs_keyring_open(n->dir);
	cr_assert_not_null(n->kr, "keyring: %s", strerror(errno));
	n->db = dfs_db_open(n->st, n->kr, NODE_MAX_VALUE);
	cr_assert_not_null(n->db, "db: %s", strerror(errno));
	free(store_dir);
}

static void node_close(struct node *n)
{
	dfs_db_free(n->db);
	dfs_store_close(n->st);
	dfs_keyring_free(n->kr);
	n->db = NULL;
	n->st = NULL;
	n->kr = NULL;
}

static void node_make(struct node *n, const char *tag)
{
	memset(n, 0, sizeof(*n));
	n->dir = tmpdir_make(tag);
	cr_assert_not_null(n->dir);
	node_open(n);
}

static void node_destroy(struct node *n)
{
	if (n->db)
		node_close(n);
	tmpdir_remove(n->dir);
	n->dir = NULL;
}

#endif
