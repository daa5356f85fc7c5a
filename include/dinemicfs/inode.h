/* SPDX-License-Identifier: MIT */
/*
 * inode.h - stable inode numbers for the entries of the tree.
 *
 * An inode stands for one entry: an entity (struct dfs_ent) reached by one
 * name in one directory. The table stores only kind, parent and name (and
 * an object's key) and rebuilds the entity from the inode's ancestors. Numbers are handed out from a counter and never
 * reused while mounted, so they stay valid across changes and cache
 * invalidation. An inode lives while the kernel holds lookups on it; a name
 * maps to at most one inode, and unlinking or renaming detaches the name.
 *
 * The table also counts, per inode, the open files that created a field
 * not in the database yet (`pending_new`): it reads as empty while
 * non-zero.
 *
 * Threading: every function takes the table's lock (a read-write lock:
 * lookups that change nothing share it).
 */
#ifndef DINEMICFS_INODE_H
#define DINEMICFS_INODE_H

#include <stdbool.h>
#include <stdint.h>

#include <fuse_lowlevel.h>

#include "dinemicfs/keys.h"
#include "dinemicfs/update.h"

enum dfs_kind {
	DFS_K_ROOT = 1,
	DFS_K_NODE_DIR,		/* .node, .node/held */
	DFS_K_NODE_FILE,	/* .node/id, stats, log, ..., held/NAME */
	DFS_K_MODEL,
	DFS_K_OBJECT,
	DFS_K_DICT,
	DFS_K_FIELD,
	DFS_K_META,		/* .id .owner .history .authorized; MODEL/.encrypted */
	DFS_K_SCRATCH,		/* node-local file (scratch.h) */
	DFS_K_ACTIONS,		/* .actions and below: a real directory (path) */
	DFS_K_CONFLICTS,	/* OBJECT/.conflicts (fs/conflicts.c) */
};

enum dfs_meta {
	DFS_META_ID = 1,
	DFS_META_OWNER,
	DFS_META_HISTORY,
	DFS_META_AUTHORIZED,	/* writable by the owner */
	DFS_NODE_ID,
	DFS_NODE_STATS,
	DFS_NODE_LOG,
	DFS_NODE_PEERS,
	DFS_NODE_AS,		/* writable */
	DFS_META_ENCRYPTED,	/* MODEL/.encrypted, writable by the model's creator */
	DFS_NODE_TRY,		/* .node/try: dry runs, read and written (fs/try.c) */
	DFS_NODE_HELD,		/* .node/held, a NODE_DIR */
	DFS_NODE_HELD_ENTRY,	/* .node/held/NAME, a NODE_FILE (name: NAME) */
	DFS_NODE_CONFLICTS,	/* .node/conflicts (fs/conflicts.c) */
	DFS_META_CONFLICT,	/* OBJECT/.conflicts/NAME, a META (name: NAME, path: FIELD) */
};

/* What an inode stands for. Plain data: copied freely. */
struct dfs_ent {
	int kind;			/* enum dfs_kind */
	int meta;			/* enum dfs_meta, for META and NODE_FILE */
	char model[256];		/* MODEL and below */
	struct dfs_pubkey obj;		/* OBJECT and below */
	char path[DFS_UPDATE_NAME_MAX + 1]; /* DICT: dict; FIELD: FIELD or DICT/KEY;
					       ACTIONS: path below .actions ("" for it) */
	char dir[DFS_UPDATE_NAME_MAX + 80]; /* SCRATCH: scratch.h directory key */
	char name[256];			/* SCRATCH: its name; NODE_FILE held/NAME: NAME;
					   META conflict: FIELD~MS-HASH8 */
};

struct dfs_inodes;

struct dfs_inode_name {
	fuse_ino_t parent;
	char name[256];
};

/** The scratch table's key for a data directory (root, model, object or dict). */
void dfs_ent_dir_key(const struct dfs_ent *dir, char *out, size_t n);

struct dfs_inodes *dfs_inodes_new(void);
void dfs_inodes_free(struct dfs_inodes *t);

/**
 * Returns the inode for (parent, name) standing for ent, creating it or
 * replacing a stale one, and counts one lookup on it. Returns 0 on ENOMEM.
 */
fuse_ino_t dfs_inodes_lookup(struct dfs_inodes *t, fuse_ino_t parent, const char *name,
			     const struct dfs_ent *ent);
/** Fills in what ino stands for; returns 0, or -ESTALE for an unknown ino. */
int dfs_inodes_get(struct dfs_inodes *t, fuse_ino_t ino, struct dfs_ent *out);
/** Drops n lookups; frees the inode at zero. */
void dfs_inodes_forget(struct dfs_inodes *t, fuse_ino_t ino, uint64_t n);
/** Detaches (parent, name) from its inode, if any. */
void dfs_inodes_unname(struct dfs_inodes *t, fuse_ino_t parent, const char *name);
/**
 * After rename: the inode at (parent, name) now stands for ent under
 * (newparent, newname); whatever was at the new name is detached.
 */
void dfs_inodes_rename(struct dfs_inodes *t, fuse_ino_t parent, const char *name,
		       fuse_ino_t newparent, const char *newname, const struct dfs_ent *ent);
/** The inode now named (parent, name), or 0. Counts no lookup. */
fuse_ino_t dfs_inodes_find(struct dfs_inodes *t, fuse_ino_t parent, const char *name);

/** Adjusts a pending counter (see above) by delta; returns the new value. */
int dfs_inodes_pending_new(struct dfs_inodes *t, fuse_ino_t ino, int delta);

/**
 * Open handles of ino with read access, by delta (+1 at open, -1 at
 * release): through reads or a mapping, only they bring its pages into the
 * kernel's cache (fields opened to write go around it).
 */
void dfs_inodes_readers(struct dfs_inodes *t, fuse_ino_t ino, int delta);
/**
 * Whether the kernel may hold pages of ino: a handle with read access is
 * open, or was since the last call. The caller drops them.
 */
bool dfs_inodes_take_pages(struct dfs_inodes *t, fuse_ino_t ino);

/**
 * Calls fn for each inode under parent with pending_new > 0 (created files
 * not yet written), with its name. Used by readdir.
 */
void dfs_inodes_each_pending(struct dfs_inodes *t, fuse_ino_t parent,
			     void (*fn)(const char *name, fuse_ino_t ino, void *ctx), void *ctx);

/** Fills out with up to max names of parent's named children; returns how many. */
size_t dfs_inodes_children(struct dfs_inodes *t, fuse_ino_t parent, struct dfs_inode_name *out,
			   size_t max);

/* Where dfs_inodes_below() goes on from; start zeroed. */
struct dfs_inodes_walk {
	size_t bucket, skip;
};

/**
 * Fills out with up to max inodes below top (its children, theirs, ...),
 * named or not, going on from w; returns how many, 0 once all were given.
 */
size_t dfs_inodes_below(struct dfs_inodes *t, fuse_ino_t top, struct dfs_inodes_walk *w,
			fuse_ino_t *out, size_t max);

/** The (parent, name) ino is reached by; -ENOENT when it has none. */
int dfs_inodes_name_of(struct dfs_inodes *t, fuse_ino_t ino, fuse_ino_t *parent, char *name,
		       size_t n);

/** How many inodes the table holds. */
size_t dfs_inodes_count(struct dfs_inodes *t);

/**
 * Fills out with up to max named files (fields and metadata files) that no
 * handle is creating or truncating, taking turns across calls. The caller
 * asks the kernel to drop them; the kernel then forgets the inodes.
 */
size_t dfs_inodes_idle(struct dfs_inodes *t, struct dfs_inode_name *out, size_t max);

#endif
