// SPDX-License-Identifier: MIT
/* inode.c - stable inode numbers: ino -> entity and (parent, name) -> ino */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/inode.h"

#define BUCKETS 4096
#define FIRST_INO 16

struct inode {
	struct inode *by_ino_next;
	struct inode *by_name_next;
	fuse_ino_t ino;
	uint64_t nlookup;
	bool named;		/* linked into by_name */
	fuse_ino_t parent;
	char *name;
	int pending_new;
	int pending_trunc;
	struct dfs_ent ent;
};

struct dfs_inodes {
	pthread_mutex_t lock;
	fuse_ino_t next_ino;			/* protected by lock */
	long pending_new_total;			/* sum of pending_new; protected by lock */
	struct inode *by_ino[BUCKETS];		/* protected by lock */
	struct inode *by_name[BUCKETS];		/* protected by lock */
};

static size_t name_hash(fuse_ino_t parent, const char *name)
{
	uint64_t h = 1469598103934665603ull ^ parent;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (size_t)(h % BUCKETS);
}

struct dfs_inodes *dfs_inodes_new(void)
{
	struct dfs_inodes *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
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
			free(n->name);
			free(n);
			n = next;
		}
	}
	pthread_mutex_destroy(&t->lock);
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

	while (*pp && ((*pp)->parent != parent || strcmp((*pp)->name, name) != 0))
		pp = &(*pp)->by_name_next;
	return pp;
}

static void unname(struct dfs_inodes *t, struct inode *n)
{
	if (!n->named)
		return;
	struct inode **pp = by_name_slot(t, n->parent, n->name);
	if (*pp == n)
		*pp = n->by_name_next;
	n->named = false;
	n->by_name_next = NULL;
}

static void drop(struct dfs_inodes *t, struct inode *n)
{
	t->pending_new_total -= n->pending_new;
	unname(t, n);
	struct inode **pp = &t->by_ino[n->ino % BUCKETS];
	while (*pp != n)
		pp = &(*pp)->by_ino_next;
	*pp = n->by_ino_next;
	free(n->name);
	free(n);
}

static bool same_ent(const struct dfs_ent *a, const struct dfs_ent *b)
{
	return a->kind == b->kind && a->meta == b->meta && strcmp(a->model, b->model) == 0 &&
	       memcmp(a->obj.b, b->obj.b, DFS_PUBKEY_LEN) == 0 && strcmp(a->path, b->path) == 0 &&
	       strcmp(a->dir, b->dir) == 0 && strcmp(a->name, b->name) == 0;
}

static int set_name(struct dfs_inodes *t, struct inode *n, fuse_ino_t parent, const char *name)
{
	char *copy = strdup(name);

	if (!copy)
		return -ENOMEM;
	unname(t, n);
	struct inode **pp = by_name_slot(t, parent, name);
	if (*pp)
		unname(t, *pp);
	free(n->name);
	n->name = copy;
	n->parent = parent;
	pp = &t->by_name[name_hash(parent, name)];
	n->by_name_next = *pp;
	*pp = n;
	n->named = true;
	return 0;
}

fuse_ino_t dfs_inodes_lookup(struct dfs_inodes *t, fuse_ino_t parent, const char *name,
			     const struct dfs_ent *ent)
{
	fuse_ino_t ino = 0;

	pthread_mutex_lock(&t->lock);
	struct inode *n = *by_name_slot(t, parent, name);
	if (n && same_ent(&n->ent, ent)) {
		n->nlookup++;
		ino = n->ino;
		goto out;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		goto out;
	n->ino = t->next_ino++;
	n->ent = *ent;
	if (set_name(t, n, parent, name) < 0) {
		free(n);
		goto out;
	}
	n->nlookup = 1;
	n->by_ino_next = t->by_ino[n->ino % BUCKETS];
	t->by_ino[n->ino % BUCKETS] = n;
	ino = n->ino;
out:
	pthread_mutex_unlock(&t->lock);
	return ino;
}

int dfs_inodes_get(struct dfs_inodes *t, fuse_ino_t ino, struct dfs_ent *out)
{
	pthread_mutex_lock(&t->lock);
	struct inode *n = by_ino(t, ino);
	if (n)
		*out = n->ent;
	pthread_mutex_unlock(&t->lock);
	return n ? 0 : -ESTALE;
}

void dfs_inodes_forget(struct dfs_inodes *t, fuse_ino_t ino, uint64_t count)
{
	pthread_mutex_lock(&t->lock);
	struct inode *n = by_ino(t, ino);
	if (n) {
		n->nlookup = count >= n->nlookup ? 0 : n->nlookup - count;
		if (n->nlookup == 0)
			drop(t, n);
	}
	pthread_mutex_unlock(&t->lock);
}

void dfs_inodes_unname(struct dfs_inodes *t, fuse_ino_t parent, const char *name)
{
	pthread_mutex_lock(&t->lock);
	struct inode *n = *by_name_slot(t, parent, name);
	if (n)
		unname(t, n);
	pthread_mutex_unlock(&t->lock);
}

fuse_ino_t dfs_inodes_find(struct dfs_inodes *t, fuse_ino_t parent, const char *name)
{
	pthread_mutex_lock(&t->lock);
	struct inode *n = *by_name_slot(t, parent, name);
	fuse_ino_t ino = n ? n->ino : 0;
	pthread_mutex_unlock(&t->lock);
	return ino;
}

void dfs_inodes_rename(struct dfs_inodes *t, fuse_ino_t parent, const char *name,
		       fuse_ino_t newparent, const char *newname, const struct dfs_ent *ent)
{
	pthread_mutex_lock(&t->lock);
	struct inode *n = *by_name_slot(t, parent, name);
	if (n) {
		n->ent = *ent;
		if (set_name(t, n, newparent, newname) < 0)
			unname(t, n);
	} else {
		struct inode *old = *by_name_slot(t, newparent, newname);
		if (old)
			unname(t, old);
	}
	pthread_mutex_unlock(&t->lock);
}

static int adjust(struct dfs_inodes *t, fuse_ino_t ino, int delta, bool is_new)
{
	int v = 0;

	pthread_mutex_lock(&t->lock);
	struct inode *n = by_ino(t, ino);
	if (n) {
		int *c = is_new ? &n->pending_new : &n->pending_trunc;
		int old = *c;
		*c += delta;
		if (*c < 0)
			*c = 0;
		v = *c;
		if (is_new)
			t->pending_new_total += v - old;
	}
	pthread_mutex_unlock(&t->lock);
	return v;
}

int dfs_inodes_pending_new(struct dfs_inodes *t, fuse_ino_t ino, int delta)
{
	return adjust(t, ino, delta, true);
}

int dfs_inodes_pending_trunc(struct dfs_inodes *t, fuse_ino_t ino, int delta)
{
	return adjust(t, ino, delta, false);
}

void dfs_inodes_each_pending(struct dfs_inodes *t, fuse_ino_t parent,
			     void (*fn)(const char *name, fuse_ino_t ino, void *ctx), void *ctx)
{
	pthread_mutex_lock(&t->lock);
	/* Files are pending only between create and first write: usually none. */
	for (size_t i = 0; t->pending_new_total > 0 && i < BUCKETS; i++)
		for (struct inode *n = t->by_ino[i]; n; n = n->by_ino_next)
			if (n->named && n->parent == parent && n->pending_new > 0)
				fn(n->name, n->ino, ctx);
	pthread_mutex_unlock(&t->lock);
}
