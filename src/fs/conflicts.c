// SPDX-License-Identifier: MIT
/*
 * conflicts.c - values that lost to a concurrent set: .node/conflicts lists
 * every one, OBJECT/.conflicts/ holds one read-only file each, named
 * FIELD~MS-HASH8, whose rm keeps the winner and whose mv over FIELD takes it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- OBJECT/.conflicts/: one read-only file a conflict ------------------------ */

struct find {
	const char *name;
	struct dfs_db_conflict *out;
	bool found;
};

static int match_name(const struct dfs_db_conflict *c, void *arg)
{
	struct find *f = arg;
	char name[DFS_NAME_MAX + 32];

	fs_conflict_name(c, name, sizeof(name));
	if (strcmp(name, f->name) != 0)
		return 0;
	*f->out = *c;
	f->found = true;
	return 1;	/* stops the walk (which returns 0) */
}

/* The conflict of obj shown as name: 0 with *out filled, -ENOENT or -EIO. */
static int conflict_find(struct dfs_fs *fs, const struct dfs_pubkey *obj, const char *name,
			 struct dfs_db_conflict *out)
{
	struct find f = { name, out, false };
	int rc = dfs_db_conflicts(fs->db, obj, match_name, &f);

	return rc < 0 ? rc : f.found ? 0 : -ENOENT;
}

int fs_conflict_lookup(struct dfs_fs *fs, const struct dfs_ent *dir, const char *name,
		       struct dfs_ent *out)
{
	struct dfs_db_conflict c;
	int rc = conflict_find(fs, &dir->obj, name, &c);

	if (rc < 0)
		return rc;
	out->kind = DFS_K_META;
	out->meta = DFS_META_CONFLICT;
	snprintf(out->name, sizeof(out->name), "%s", name);
	snprintf(out->path, sizeof(out->path), "%s", c.path);
	return 0;
}

bool fs_is_conflict(const struct dfs_ent *e)
{
	return e->kind == DFS_K_META && e->meta == DFS_META_CONFLICT;
}

struct list_names {
	int (*add)(const char *name, void *arg);
	void *arg;
};

static int list_one(const struct dfs_db_conflict *c, void *arg)
{
	struct list_names *l = arg;
	char name[DFS_NAME_MAX + 32];

	fs_conflict_name(c, name, sizeof(name));
	return strlen(name) > DFS_NAME_MAX ? 0 : l->add(name, l->arg);
}

int fs_conflict_list(struct dfs_fs *fs, const struct dfs_pubkey *obj,
		     int (*add)(const char *name, void *arg), void *arg)
{
	struct list_names l = { add, arg };

	return dfs_db_conflicts(fs->db, obj, list_one, &l);
}

/* The losing value of e into out (-EACCES where it is sealed to a key not held here). */
static int conflict_value(struct dfs_fs *fs, const struct dfs_ent *e, struct dfs_buf *out,
			  struct dfs_db_conflict *c, bool *sealed)
{
	uint8_t *val;
	size_t len;
	int rc = conflict_find(fs, &e->obj, e->name, c);

	*sealed = false;
	if (rc == 0)
		rc = dfs_db_conflict_value(fs->db, &e->obj, c->path, &c->lost, &val, &len, sealed);
	if (rc < 0)
		return rc;
	if (dfs_secret_owns(val) && dfs_buf_make_secret(out) < 0)
		rc = -ENOMEM;
	else
		dfs_buf_add(out, val, len);
	dfs_value_free(val);
	return rc < 0 ? rc : dfs_buf_ok(out);
}

int fs_conflict_text(struct dfs_fs *fs, const struct dfs_ent *e, struct dfs_buf *out)
{
	struct dfs_db_conflict c;
	bool sealed;

	return conflict_value(fs, e, out, &c, &sealed);
}

bool fs_conflict_secret(struct dfs_fs *fs, const struct dfs_ent *e)
{
	struct dfs_db_conflict c;
	struct dfs_buf v;
	bool sealed = false;

	if (!fs_is_conflict(e))
		return false;
	dfs_buf_init(&v);
	int rc = conflict_value(fs, e, &v, &c, &sealed);
	dfs_buf_release(&v);
	return sealed || rc == -EIO;
}

/*
 * Mode, size and times of a conflict's file: 0444 as a field nobody may
 * write, no r where the value is sealed to a key not held here, and for
 * this user only (0400) where this node opens a sealed value.
 */
int fs_conflict_stat(struct dfs_fs *fs, const struct dfs_ent *e, struct stat *st,
		     struct timespec *mtime)
{
	struct dfs_db_conflict c;
	struct dfs_buf v;
	bool sealed = false;

	dfs_buf_init(&v);
	int rc = conflict_value(fs, e, &v, &c, &sealed);
	st->st_mode = S_IFREG | 0444;
	st->st_size = (off_t)v.len;
	dfs_buf_release(&v);
	if (rc == -EACCES)
		st->st_mode &= ~(mode_t)0444;
	else if (rc < 0)
		return rc;
	if (sealed)
		st->st_mode &= ~(mode_t)0077;
	uint64_t ms = dfs_hlc_ms(c.clock);
	mtime->tv_sec = (time_t)(ms / 1000);
	mtime->tv_nsec = (long)(ms % 1000) * 1000000;
	return 0;
}

int fs_conflict_resolve(struct dfs_fs *fs, const struct dfs_ent *e, bool take)
{
	struct dfs_db_conflict c;
	int rc = conflict_find(fs, &e->obj, e->name, &c);

	if (rc == 0 && !fs_owned(fs, e))
		rc = -EACCES;
	if (rc == 0)
		rc = dfs_db_resolve(fs->db, &e->obj, c.path, &c.lost, take);
	return rc;
}
