// SPDX-License-Identifier: MIT
/* conflicts.c - .node/conflicts: every value that lost to a concurrent set */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dinemicfs/hlc.h"
#include "dinemicfs/util.h"
#include "internal.h"

struct conflicts_text {
	struct dfs_fs *fs;
	struct dfs_buf *out;
};

/* FIELD~MS-HASH8: a conflict's name, after its field and the update that lost. */
void fs_conflict_name(const struct dfs_db_conflict *c, char *out, size_t n)
{
	char h8[9];

	dfs_hex_encode(h8, c->lost.b, 4);
	snprintf(out, n, "%s~%" PRIu64 "-%s", c->path, c->clock >> DFS_HLC_LOGICAL_BITS, h8);
}

static int one_line(const struct dfs_db_conflict *c, void *arg)
{
	struct conflicts_text *t = arg;
	struct dfs_object_rec o;
	char name[DFS_NAME_MAX + 32], win[2 * DFS_HASH_LEN + 1], by[2 * DFS_PUBKEY_LEN + 1];

	if (dfs_db_get_object_by_key(t->fs->db, &c->object, &o) < 0)
		return 0;	/* removed with its object */
	fs_conflict_name(c, name, sizeof(name));
	dfs_hex_encode(win, c->winner.b, DFS_HASH_LEN);
	dfs_hex_encode(by, c->signer.b, DFS_PUBKEY_LEN);
	dfs_buf_printf(t->out, "%s/%s/%s winner %s lost %s by %s\n", o.model, o.shown, c->path,
		       win, name, by);
	return 0;
}

/* One line a conflict: MODEL/OBJECT/FIELD winner HASH lost NAME by SIGNER. */
int fs_conflicts_text(struct dfs_fs *fs, struct dfs_buf *out)
{
	struct conflicts_text t = { fs, out };

	int rc = dfs_db_conflicts(fs->db, NULL, one_line, &t);

	return rc < 0 ? rc : dfs_buf_ok(out);
}
