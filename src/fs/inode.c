// SPDX-License-Identifier: MIT
/* inode.c - stable inode numbers: ino -> entity and (parent, name) -> ino */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/inode.h"
#include "dinemicfs/util.h"

#define BUCKETS 65536
#define FIRST_INO 16

/*
 * Kept small: the kernel holds a lookup on every file it has seen, so a
 * node that created a million fields holds a million of these. An inode
 * stores its kind, parent and name; the rest of its entity is derived from
 * its ancestors, which the kernel keeps while it keeps a child. An object's
 * key is the only identity stored.
 */
struct inode {
	struct inode *by_ino_next;
	struct inode *by_name_next;
	fuse_ino_t ino;
	fuse_ino_t parent;
	uint64_t nlookup;
	int32_t pending_new;
	uint32_t readers;	/* open handles with read access (dfs_inodes_readers()) */
	bool paged;		/* one was open since the kernel last dropped the pages */
	uint8_t kind;
	uint8_t meta;
	bool named;		/* linked into by_name */
	char name[];		/* NUL-terminated; an OBJECT's key follows the NUL */
};

struct dfs_inodes {
	pthread_rwlock_t lock;
	fuse_ino_t next_ino;			/* protected by lock */
	long pending_new_total;			/* sum of pending_new; protected by lock */
	size_t count;				/* inodes; protected by lock */
	size_t cursor;				/* next bucket for dfs_inodes_idle() */
	struct inode *by_ino[BUCKETS];		/* protected by lock */
	struct inode *by_name[BUCKETS];		/* protected by lock */
};

static size_t name_hash(fuse_ino_t parent, const char *name)
{
	return (size_t)(dfs_fnv1a(DFS_FNV_BASIS ^ parent, name, strlen(name)) % BUCKETS);
}

struct dfs_inodes *dfs_inodes_new(void)
{
	struct dfs_inodes *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	pthread_rwlock_init(&t->lock, NULL);
	t->next_ino = FIRST_INO;
	return t;
}

void dfs_inodes_free(struct dfs_inodes *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < BUCKETS; i++) {
		struct inode *n = t->by_ino[i];
		while (n) {
			struct inode *next = n->by_ino_next;
			free(n);
			n = next;
		}
	}
	pthread_rwlock_destroy(&t->lock);
	free(t);
}

static struct inode *by_ino(struct dfs_inodes *t, fuse_ino_t ino)
{
	struct inode *n = t->by_ino[ino % BUCKETS];

	while (n && n->ino != ino)
		n = n->by_ino_next;
	return n;
}

static struct inode **by_name_slot(struct dfs_inodes *t, fuse_ino_t parent, const char *name)
{
	struct inode **pp = &t->by_name[name_hash(parent, name)];

	while (*pp && (!(*pp)->named || (*pp)->parent != parent || strcmp((*pp)->name, name) != 0))
		pp = &(*pp)->by_name_next;
	return pp;
}

static void unname(struct dfs_inodes *t, struct inode *n)
{
	if (!n->named)
		return;
	struct inode **pp = &t->by_name[name_hash(n->parent, n->name)];
	while (*pp && *pp != n)
		pp = &(*pp)->by_name_next;
	if (*pp)
		*pp = n->by_name_next;
	n->named = false;
	n->by_name_next = NULL;
}

static void link_name(struct dfs_inodes *t, struct inode *n, fuse_ino_t parent)
{
	struct inode **pp = by_name_slot(t, parent, n->name);

	if (*pp)
		unname(t, *pp);
	n->parent = parent;
	pp = &t->by_name[name_hash(parent, n->name)];
	n->by_name_next = *pp;
	*pp = n;
	n->named = true;
}

static struct inode **by_ino_slot(struct dfs_inodes *t, struct inode *n)
{
	struct inode **pp = &t->by_ino[n->ino % BUCKETS];

	while (*pp != n)
		pp = &(*pp)->by_ino_next;
	return pp;
}

static void drop(struct dfs_inodes *t, struct inode *n)
{
	t->pending_new_total -= n->pending_new;
	unname(t, n);
	*by_ino_slot(t, n) = n->by_ino_next;
	t->count--;
	free(n);
}

static uint8_t *obj_of(struct inode *n)
{
	return (uint8_t *)n->name + strlen(n->name) + 1;
}

static struct inode *node_new(const char *name, const struct dfs_ent *ent)
{
	size_t len = strlen(name);
	size_t extra = ent->kind == DFS_K_OBJECT ? DFS_PUBKEY_LEN : 0;
	struct inode *n = calloc(1, sizeof(*n) + len + 1 + extra);

	if (!n)
		return NULL;
	memcpy(n->name, name, len + 1);
	n->kind = (uint8_t)ent->kind;
	n->meta = (uint8_t)ent->meta;
	if (extra)
		memcpy(obj_of(n), ent->obj.b, DFS_PUBKEY_LEN);
	return n;
}

void dfs_ent_dir_key(const struct dfs_ent *e, char *out, size_t n)
{
	char hex[2 * DFS_PUBKEY_LEN + 1];

	dfs_hex_encode(hex, e->obj.b, DFS_PUBKEY_LEN);
	switch (e->kind) {
	case DFS_K_MODEL:
		snprintf(out, n, "M/%s", e->model);
		break;
	case DFS_K_OBJECT:
		snprintf(out, n, "O/%s", hex);
		break;
	case DFS_K_DICT:
		snprintf(out, n, "D/%s/%s", hex, e->path);
		break;
	default:
		snprintf(out, n, "/");
	}
}

/* OBJECT/.conflicts/FIELD~MS-HASH8: its name, and FIELD. */
static void conflict_ent(const struct inode *n, struct dfs_ent *out)
{
	const char *tilde = strrchr(n->name, '~');

	snprintf(out->name, sizeof(out->name), "%s", n->name);
	snprintf(out->path, sizeof(out->path), "%.*s", tilde ? (int)(tilde - n->name) : 0,
		 n->name);
}

/* Puts s into out (size bytes) from at, as far as it fits; returns where s ends. */
static size_t put_str(char *out, size_t size, size_t at, const char *s)
{
	size_t len = strlen(s);

	if (at < size - 1)
		memcpy(out + at, s, len < size - 1 - at ? len : size - 1 - at);
	return at + len;
}

/*
 * DIR/NAME, or NAME where dir is NULL, into out, cut short as snprintf()
 * would: -ENAMETOOLONG when cut. Every open rebuilds a path: no printf.
 */
static int put_path(char *out, size_t size, const char *dir, const char *name)
{
	size_t at = dir ? put_str(out, size, put_str(out, size, 0, dir), "/") : 0;

	at = put_str(out, size, at, name);
	out[at < size ? at : size - 1] = '\0';
	return at < size ? 0 : -ENAMETOOLONG;
}

/* Rebuilds what ino stands for from its ancestors. Called with the lock held. */
static int build_ent(struct dfs_inodes *t, fuse_ino_t ino, struct dfs_ent *out, int depth)
{
	struct dfs_ent p;
	int rc;

	memset(out, 0, sizeof(*out));
	if (ino == FUSE_ROOT_ID) {
		out->kind = DFS_K_ROOT;
		return 0;
	}
	struct inode *n = by_ino(t, ino);
	if (!n || depth > 8)
		return -ESTALE;
	out->kind = n->kind;
	out->meta = n->meta;
	if (n->kind == DFS_K_NODE_DIR || n->kind == DFS_K_NODE_FILE)
		return 0;
	if (n->kind == DFS_K_MODEL) {
		put_path(out->model, sizeof(out->model), NULL, n->name);
		return 0;
	}
	rc = build_ent(t, n->parent, &p, depth + 1);
	if (rc < 0)
		return rc;
	if (n->kind == DFS_K_ACTIONS) {
		if (p.kind != DFS_K_ACTIONS) /* .actions itself */
			return 0;
		return put_path(out->path, sizeof(out->path), p.path[0] ? p.path : NULL, n->name);
	}
	memcpy(out->model, p.model, sizeof(out->model));
	out->obj = p.obj;
	switch (n->kind) {
	case DFS_K_OBJECT:
		memcpy(out->obj.b, obj_of(n), DFS_PUBKEY_LEN);
		break;
	case DFS_K_DICT:
		put_path(out->path, sizeof(out->path), NULL, n->name);
		break;
	case DFS_K_FIELD:
		return put_path(out->path, sizeof(out->path), p.kind == DFS_K_DICT ? p.path : NULL,
				n->name);
	case DFS_K_SCRATCH:
		dfs_ent_dir_key(&p, out->dir, sizeof(out->dir));
		snprintf(out->name, sizeof(out->name), "%s", n->name);
		break;
	case DFS_K_META:
		if (n->meta == DFS_META_CONFLICT)
			conflict_ent(n, out);
		break;
	default: /* .conflicts: the object's */
		break;
	}
	return 0;
}

/* With parent and name equal, kind and meta (and an object's key) say the rest. */
static bool same_ent(struct inode *n, const struct dfs_ent *ent)
{
	if (n->kind != ent->kind || n->meta != ent->meta)
		return false;
	return n->kind != DFS_K_OBJECT || memcmp(obj_of(n), ent->obj.b, DFS_PUBKEY_LEN) == 0;
}

fuse_ino_t dfs_inodes_lookup(struct dfs_inodes *t, fuse_ino_t parent, const char *name,
			     const struct dfs_ent *ent)
{
	fuse_ino_t ino = 0;

	pthread_rwlock_wrlock(&t->lock);
	struct inode *n = *by_name_slot(t, parent, name);
	if (n && same_ent(n, ent)) {
		n->nlookup++;
		ino = n->ino;
		goto out;
	}
	n = node_new(name, ent);
	if (!n)
		goto out;
	n->ino = t->next_ino++;
	link_name(t, n, parent);
	n->nlookup = 1;
	n->by_ino_next = t->by_ino[n->ino % BUCKETS];
	t->by_ino[n->ino % BUCKETS] = n;
	t->count++;
	ino = n->ino;
out:
	pthread_rwlock_unlock(&t->lock);
	return ino;
}

int dfs_inodes_get(struct dfs_inodes *t, fuse_ino_t ino, struct dfs_ent *out)
{
	pthread_rwlock_rdlock(&t->lock);
	int rc = build_ent(t, ino, out, 0);
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

void dfs_inodes_forget(struct dfs_inodes *t, fuse_ino_t ino, uint64_t count)
{
	pthread_rwlock_wrlock(&t->lock);
	struct inode *n = by_ino(t, ino);
	if (n) {
		n->nlookup = count >= n->nlookup ? 0 : n->nlookup - count;
		if (n->nlookup == 0)
			drop(t, n);
	}
	pthread_rwlock_unlock(&t->lock);
}

void dfs_inodes_unname(struct dfs_inodes *t, fuse_ino_t parent, const char *name)
{
	pthread_rwlock_wrlock(&t->lock);
	struct inode *n = *by_name_slot(t, parent, name);
	if (n)
		unname(t, n);
	pthread_rwlock_unlock(&t->lock);
}

fuse_ino_t dfs_inodes_find(struct dfs_inodes *t, fuse_ino_t parent, const char *name)
{
	pthread_rwlock_rdlock(&t->lock);
	struct inode *n = *by_name_slot(t, parent, name);
	fuse_ino_t ino = n ? n->ino : 0;
	pthread_rwlock_unlock(&t->lock);
	return ino;
}

void dfs_inodes_rename(struct dfs_inodes *t, fuse_ino_t parent, const char *name,
		       fuse_ino_t newparent, const char *newname, const struct dfs_ent *ent)
{
	pthread_rwlock_wrlock(&t->lock);
	struct inode *old = *by_name_slot(t, parent, name);
	struct inode *n = old ? node_new(newname, ent) : NULL;
	if (n) {
		/* Same inode number under a new name and kind: swap the node in. */
		n->ino = old->ino;
		n->nlookup = old->nlookup;
		n->pending_new = old->pending_new;
		/* Its reading handles, and the pages they may have brought in, stay. */
		n->readers = old->readers;
		n->paged = old->paged;
		unname(t, old);
		struct inode **pp = by_ino_slot(t, old);
		n->by_ino_next = old->by_ino_next;
		*pp = n;
		free(old);
		link_name(t, n, newparent);
	} else {
		if (old)
			unname(t, old);
		struct inode *gone = *by_name_slot(t, newparent, newname);
		if (gone)
			unname(t, gone);
	}
	pthread_rwlock_unlock(&t->lock);
}

int dfs_inodes_pending_new(struct dfs_inodes *t, fuse_ino_t ino, int delta)
{
	int v = 0;

	/* delta 0 only reads. */
	if (delta == 0)
		pthread_rwlock_rdlock(&t->lock);
	else
		pthread_rwlock_wrlock(&t->lock);
	struct inode *n = by_ino(t, ino);
	if (n && delta == 0) {
		v = n->pending_new;
	} else if (n) {
		int old = n->pending_new;
		v = old + delta < 0 ? 0 : old + delta;
		n->pending_new = v;
		t->pending_new_total += v - old;
	}
	pthread_rwlock_unlock(&t->lock);
	return v;
}

void dfs_inodes_readers(struct dfs_inodes *t, fuse_ino_t ino, int delta)
{
	pthread_rwlock_wrlock(&t->lock);
	struct inode *n = by_ino(t, ino);
	if (n && delta > 0) {
		n->readers++;
		n->paged = true;
	} else if (n && n->readers > 0) {
		n->readers--;
	}
	pthread_rwlock_unlock(&t->lock);
}

bool dfs_inodes_take_pages(struct dfs_inodes *t, fuse_ino_t ino)
{
	bool paged = true; /* an inode not in the table: assume the worst */

	pthread_rwlock_wrlock(&t->lock);
	struct inode *n = by_ino(t, ino);
	if (n) {
		paged = n->paged || n->readers > 0;
		/* Pages read from now on hold what is stored now. */
		n->paged = n->readers > 0;
	}
	pthread_rwlock_unlock(&t->lock);
	return paged;
}

void dfs_inodes_each_pending(struct dfs_inodes *t, fuse_ino_t parent,
			     void (*fn)(const char *name, fuse_ino_t ino, void *ctx), void *ctx)
{
	pthread_rwlock_rdlock(&t->lock);
	/* Files are pending only between create and first write: usually none. */
	for (size_t i = 0; t->pending_new_total > 0 && i < BUCKETS; i++)
		for (struct inode *n = t->by_ino[i]; n; n = n->by_ino_next)
			if (n->named && n->parent == parent && n->pending_new > 0)
				fn(n->name, n->ino, ctx);
	pthread_rwlock_unlock(&t->lock);
}

size_t dfs_inodes_count(struct dfs_inodes *t)
{
	pthread_rwlock_rdlock(&t->lock);
	size_t n = t->count;
	pthread_rwlock_unlock(&t->lock);
	return n;
}

size_t dfs_inodes_idle(struct dfs_inodes *t, struct dfs_inode_name *out, size_t max)
{
	size_t n = 0;

	pthread_rwlock_wrlock(&t->lock);
	/* Walk on from where the last call stopped, so every file gets its turn. */
	for (size_t i = 0; i < BUCKETS && n < max; i++) {
		size_t b = (t->cursor + i) % BUCKETS;
		for (struct inode *x = t->by_ino[b]; x && n < max; x = x->by_ino_next) {
			if (!x->named || x->pending_new ||
			    (x->kind != DFS_K_FIELD && x->kind != DFS_K_META))
				continue;
			out[n].parent = x->parent;
			snprintf(out[n].name, sizeof(out[n].name), "%s", x->name);
			n++;
		}
		t->cursor = (b + 1) % BUCKETS;
	}
	pthread_rwlock_unlock(&t->lock);
	return n;
}

int dfs_inodes_name_of(struct dfs_inodes *t, fuse_ino_t ino, fuse_ino_t *parent, char *name,
		       size_t n)
{
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&t->lock);
	struct inode *x = by_ino(t, ino);
	if (x && x->named) {
		*parent = x->parent;
		snprintf(name, n, "%s", x->name);
		rc = 0;
	}
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

size_t dfs_inodes_children(struct dfs_inodes *t, fuse_ino_t parent, struct dfs_inode_name *out,
			   size_t max)
{
	size_t n = 0;

	pthread_rwlock_rdlock(&t->lock);
	for (size_t i = 0; i < BUCKETS && n < max; i++)
		for (struct inode *x = t->by_ino[i]; x && n < max; x = x->by_ino_next)
			if (x->named && x->parent == parent) {
				out[n].parent = parent;
				snprintf(out[n].name, sizeof(out[n].name), "%s", x->name);
				n++;
			}
	pthread_rwlock_unlock(&t->lock);
	return n;
}

/* Whether x is below top: top is one of its ancestors. Under the lock. */
static bool is_below(struct dfs_inodes *t, const struct inode *x, fuse_ino_t top)
{
	/* root, model, object, dict, key: a few steps at most */
	for (int depth = 0; x && depth < 8; depth++) {
		if (x->parent == top)
			return true;
		x = x->parent ? by_ino(t, x->parent) : NULL;
	}
	return false;
}

size_t dfs_inodes_below(struct dfs_inodes *t, fuse_ino_t top, struct dfs_inodes_walk *w,
			fuse_ino_t *out, size_t max)
{
	size_t n = 0;

	pthread_rwlock_rdlock(&t->lock);
	for (; w->bucket < BUCKETS; w->bucket++, w->skip = 0) {
		size_t count = 0, seen = 0;
		for (struct inode *x = t->by_ino[w->bucket]; x; x = x->by_ino_next)
			count += is_below(t, x, top);
		/*
		 * A bucket is given whole, so that inodes dropped meanwhile shift
		 * nothing; only one larger than max is given in parts.
		 */
		if (n > 0 && n + count - w->skip > max)
			break;
		for (struct inode *x = t->by_ino[w->bucket]; x && n < max; x = x->by_ino_next) {
			if (!is_below(t, x, top) || seen++ < w->skip)
				continue;
			out[n++] = x->ino;
			w->skip++;
		}
		if (w->skip < count)
			break;
	}
	pthread_rwlock_unlock(&t->lock);
	return n;
}
