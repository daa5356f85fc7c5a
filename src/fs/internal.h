/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the files of src/fs share: the filesystem's state, the
 * open handles, and the functions one file calls in another.
 *
 * struct dfs_fs is the session's userdata (fs.h). Everything it points to
 * is borrowed except inodes, scratch, actions_dir, the mirror's state
 * (mirror.c) and the trimmer's (notify.c), which it owns.
 *
 * One error currency: every function here returns 0 (or a count) or a
 * negative errno, and fills structs for a reply. Only ops.c replies to the
 * kernel (fuse_reply_*), exactly once per request.
 *
 * The files call each other in one direction only, lowest first:
 * inode.c, conflicts.c, scratch.c, run.c, known.c; notify.c; actdir.c, held.c, meta.c; tree.c; attr.c;
 * handle.c; dir.c, rename.c, try.c; mirror.c; ops.c, fs.c.
 *
 * Threading: the kernel calls the ops from several threads. An open file's
 * fields are protected by its lock (struct fh), the list of open handles by
 * fs->open_lock, the mirror's queue by its own lock (mirror.c) and the
 * trimmer's flag by its own (notify.c).
 */
#ifndef DINEMICFS_FS_INTERNAL_H
#define DINEMICFS_FS_INTERNAL_H

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/fs.h"
#include "dinemicfs/inode.h"
#include "dinemicfs/scratch.h"

#define ENTRY_TIMEOUT 1.0
#define ATTR_TIMEOUT 1.0

struct fs_mirror;
struct fs_trim;

/* Fields a read-only open found stored, and when (known.c). */
#define FS_KNOWN_SLOTS 256

struct fs_known_slot {
	fuse_ino_t ino;		/* 0: empty */
	uint64_t id;		/* a hash of the field's object and path */
	uint64_t changes;	/* fs->changes before the store was read */
	uint8_t flags;		/* the record's DFS_FIELD_FLAG_* */
};

struct fs_known {
	pthread_mutex_t lock;
	struct fs_known_slot slot[FS_KNOWN_SLOTS];	/* by inode number */
};

struct dfs_fs {
	struct dfs_db *db;
	struct dfs_store *st;
	struct dfs_keyring *kr;
	struct dfs_inodes *inodes;
	struct dfs_scratch *scratch;
	struct dfs_fs_opts opts;
	const char *state_dir;		/* borrowed; for statfs */
	char *actions_dir;		/* STATE_DIR/actions: what .actions shows */
	struct fuse_session *se;
	struct fs_trim *trim;		/* the inode trimmer (notify.c) */
	uid_t uid;
	gid_t gid;
	struct timespec started;
	char node_hex[2 * DFS_PUBKEY_LEN + 1];
	struct dfs_fs_hooks hooks;	/* set before the loop starts */
	pthread_mutex_t open_lock;
	struct open_link *open;		/* open handles (handle.c) */
	struct fs_mirror *mirror;	/* remote changes repeated through the mount (mirror.c) */
	_Atomic size_t max_write;	/* the kernel's largest write request (run.c) */
	atomic_bool unmounted;		/* the kernel is gone: tell it nothing more */
	_Atomic uint64_t changes;	/* applied updates, counted by dfs_fs_changed() */
	struct fs_known known;		/* known.c */
};

/*
 * Every open handle is on fs->open: the kernel drops releases still queued
 * when it unmounts, and those handles are closed by dfs_fs_close_open().
 */
struct open_link {
	struct open_link *prev, *next;
	bool dir;		/* a struct dirh, else a struct fh */
};

/* An open field's writes not yet committed (run.c). */
struct fs_run {
	bool inplace;		/* opened to edit in place: commits at close or fsync */
	bool pending;		/* data holds written bytes not committed yet */
};

bool fs_run_continues(size_t size, size_t max_write);
bool fs_run_commits_now(const struct fs_run *r, size_t size, size_t max_write);
int fs_run_parse_stat(const char *stat, unsigned long *flags, int *exit_code);
bool fs_run_writer_killed(pid_t pid);

/* An open file. lock serialises the kernel's concurrent calls on one handle. */
struct fh {
	struct open_link link;	/* first: a link is its handle */
	pthread_mutex_t lock;
	fuse_ino_t ino;
	struct dfs_ent ent;
	bool append;		/* O_APPEND: each write commits an append */
	bool replace;		/* O_TRUNC or ftruncate: the next write sets the whole value */
	bool created;		/* created here */
	bool pending_commit;	/* truncated or created: committed on release unless written */
	struct fs_run run;	/* written data not committed yet */
	bool wrote;		/* a write(2) was attempted */
	bool committed;		/* an update from this handle was accepted */
	bool new_counted;	/* holds a pending_new count on the inode */
	bool loaded;		/* data holds the value */
	bool echo;		/* the mirror's: writes change nothing (mirror.c) */
	bool cached;		/* a field opened to read, through the page cache (keep_cache) */
	bool reader;		/* counted in dfs_inodes_readers() */
	struct dfs_field_rec seen;	/* cached: the record of the value data holds */
	struct dfs_buf data;	/* the value as this handle sees it */
	struct dfs_buf item;	/* O_APPEND: the item being written */
	int fd;			/* ACTIONS: the real file */
};

struct dirent_rec {
	char *name;
	fuse_ino_t ino;
	bool is_dir;
};

/* An open directory: its entries, listed once at opendir. */
struct dirh {
	struct open_link link;	/* first */
	struct dirent_rec *v;
	size_t n, cap;
};

/* ---- known.c: fields known stored ----------------------------------------- */

void fs_known_init(struct fs_known *k);
void fs_known_destroy(struct fs_known *k);
/**
 * dfs_db_get_field() of the field ent, at inode ino, for a read-only open:
 * 0 with the record's flags in *flags, or its error. A field found stored
 * is not read again until an update is applied.
 */
int fs_known_field(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *ent, uint8_t *flags);

/* ---- tree.c: names to entities --------------------------------------------- */

static inline int fs_ent_of(struct dfs_fs *fs, fuse_ino_t ino, struct dfs_ent *ent)
{
	if (ino == FUSE_ROOT_ID) {
		memset(ent, 0, sizeof(*ent));
		ent->kind = DFS_K_ROOT;
		return 0;
	}
	int rc = dfs_inodes_get(fs->inodes, ino, ent);
	/* A held update's file is known by its name (held.c), which the inode keeps. */
	if (rc == 0 && ent->kind == DFS_K_NODE_FILE && ent->meta == DFS_NODE_HELD_ENTRY) {
		fuse_ino_t parent;
		if (dfs_inodes_name_of(fs->inodes, ino, &parent, ent->name, sizeof(ent->name)) < 0)
			rc = -ENOENT;	/* dropped while open */
	}
	return rc;
}

static inline bool fs_is_data_dir(const struct dfs_ent *e)
{
	return e->kind == DFS_K_ROOT || e->kind == DFS_K_MODEL || e->kind == DFS_K_OBJECT ||
	       e->kind == DFS_K_DICT;
}

/*
 * Whether this node may change the object: it signs as an authorized key
 * (the object's, or the as= object's), or the open policy lets it sign
 * anyway and leaves the rest to listeners.
 */
static inline bool fs_owned(struct dfs_fs *fs, const struct dfs_ent *e)
{
	return dfs_db_may_write(fs->db, &e->obj);
}

/** A field's path from its container and name; -ENAMETOOLONG past the format's limit. */
int fs_field_path(const struct dfs_ent *dir, const char *name, char *out, size_t n);
/** Finds what (parent, name) stands for. */
int fs_resolve(struct dfs_fs *fs, fuse_ino_t parent, const struct dfs_ent *dir, const char *name,
	       struct dfs_ent *out);
/** What (parent, name) stands for, when this mount may change it. */
int fs_resolve_to_change(struct dfs_fs *fs, fuse_ino_t parent, const char *name,
			 struct dfs_ent *ent);
/**
 * Whether name, a scratch name, is a stored field of dir (an object or a
 * dict) instead: a peer's field named notes~ is the field here too.
 */
bool fs_scratch_is_field(struct dfs_fs *fs, const struct dfs_ent *dir, const char *name);
/** A name a new model, object or dict may take: a valid name, not a dot-name. */
int fs_check_new_name(const char *name);
/** A new regular file: a scratch file, or a field that exists once written. */
int fs_new_file(struct dfs_fs *fs, fuse_ino_t parent, const char *name, mode_t mode,
		bool commit_now, struct dfs_ent *ent);
/** FIELD~MS-HASH8, the name a conflict shows under (conflicts.c). */
void fs_conflict_name(const struct dfs_db_conflict *c, char *out, size_t n);
/** .node/conflicts: one line a conflict. */
int fs_conflicts_text(struct dfs_fs *fs, struct dfs_buf *out);
/** The file name of OBJECT/.conflicts (dir): 0 with out filled, -ENOENT or -EIO. */
int fs_conflict_lookup(struct dfs_fs *fs, const struct dfs_ent *dir, const char *name,
		       struct dfs_ent *out);
/** Whether e is a file of OBJECT/.conflicts. */
bool fs_is_conflict(const struct dfs_ent *e);
/** Calls add with the name of each of obj's conflicts, until it returns non-zero. */
int fs_conflict_list(struct dfs_fs *fs, const struct dfs_pubkey *obj,
		     int (*add)(const char *name, void *arg), void *arg);
/** A conflict's content: the losing value (-EACCES where sealed to a key not held here). */
int fs_conflict_text(struct dfs_fs *fs, const struct dfs_ent *e, struct dfs_buf *out);
/** Whether e is a conflict whose value is encrypted: for this node's user only. */
bool fs_conflict_secret(struct dfs_fs *fs, const struct dfs_ent *e);
/** A conflict's file: mode (0444, 0400 sealed, no r unreadable), size and time. */
int fs_conflict_stat(struct dfs_fs *fs, const struct dfs_ent *e, struct stat *st,
		     struct timespec *mtime);
/** rm (take false: the winner stays) or mv over its field (take): a signed resolve. */
int fs_conflict_resolve(struct dfs_fs *fs, const struct dfs_ent *e, bool take);
/** Calls fn with each name in .node, in order, until it returns non-zero; returns that. */
int fs_each_node_file(int (*fn)(const char *name, void *arg), void *arg);

/* ---- attr.c: attributes ---------------------------------------------------- */

/** The attributes of e, at inode ino. */
int fs_stat_ent(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *e, struct stat *st);
/** Looks (parent, name) up, counts the lookup, and fills e for a reply. */
int fs_make_entry(struct dfs_fs *fs, fuse_ino_t parent, const char *name,
		  const struct dfs_ent *ent, struct fuse_entry_param *e);

/* ---- handle.c: open files -------------------------------------------------- */

/** Puts l on fs->open (dir: it is a struct dirh); fs_open_untrack takes it off. */
void fs_open_track(struct dfs_fs *fs, struct open_link *l, bool dir);
void fs_open_untrack(struct dfs_fs *fs, struct open_link *l);
/** A new handle on ino, tracked; NULL on ENOMEM. fs_fh_free accepts NULL. */
struct fh *fs_fh_new(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *ent);
void fs_fh_free(struct dfs_fs *fs, struct fh *h);
/** Counts fi's handle (fi->fh) among its inode's readers when it may read. */
void fs_fh_count_reader(struct dfs_fs *fs, struct fuse_file_info *fi);
/** Opens ent for fi->flags and sets fi->fh; created: a field created by this open. */
int fs_fh_open(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *ent,
	       struct fuse_file_info *fi, bool created);
/**
 * One read(2) of h: a copy of the bytes at off in *out (malloc'ed, or left
 * NULL when there are none; the caller frees it), their count in *n.
 */
int fs_fh_read(struct dfs_fs *fs, struct fh *h, size_t size, off_t off, uint8_t **out, size_t *n);
/**
 * One write(2) on h: a scratch file's bytes, a field's update of its whole
 * value, or a generated file's content, checked now and committed at close.
 * *field: h is a field's.
 */
int fs_fh_write(struct dfs_fs *fs, struct fh *h, const char *buf, size_t size, off_t off,
		bool *field);
/** Commits a generated file's pending content; the error reaches close(2). h locked. */
int fs_commit_meta(struct dfs_fs *fs, struct fh *h);
/*
 * Commits a field handle's pending run (close(2), fsync(2)); closer is the
 * process closing it, whose run is dropped if a signal killed it (0: none).
 */
int fs_fh_commit_run(struct dfs_fs *fs, struct fh *h, pid_t closer);
/**
 * What closing h does: commit what is pending and free it. Returns whether
 * a file created through h was dropped, naming it in parent and name.
 */
bool fs_fh_close(struct dfs_fs *fs, struct fh *h, fuse_ino_t *parent, char *name, size_t size);
/** truncate(2) or ftruncate(2) (h, locked, or NULL) to size. */
int fs_set_size(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *ent, struct fh *h,
		off_t size);

/* ---- dir.c: directory handles ---------------------------------------------- */

/** Lists the directory ent, at inode ino, into d. */
int fs_dir_fill(struct dfs_fs *fs, struct dirh *d, fuse_ino_t ino, const struct dfs_ent *ent);
/** Untracks and frees d; accepts NULL. */
void fs_dirh_free(struct dfs_fs *fs, struct dirh *d);

/* ---- rename.c -------------------------------------------------------------- */

/** rename(2) of (parent, name) to (newparent, newname); moved: what it now stands for. */
int fs_rename(struct dfs_fs *fs, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	      const char *newname, unsigned int flags, struct dfs_ent *moved);

/* ---- notify.c: telling the kernel ------------------------------------------ */

/** The trimmer's state; NULL on ENOMEM. fs_trim_free accepts NULL. */
struct fs_trim *fs_trim_new(void);
void fs_trim_free(struct fs_trim *t);
/** Starts the thread that keeps the inode table near inode_limit; 0 or -errno. */
int fs_trim_start(struct dfs_fs *fs);
/** Stops it; idempotent. */
void fs_trim_stop(struct dfs_fs *fs);
/** After a write that did not land, the kernel's idea of the size may be wrong. */
void fs_forget_kernel_attrs(struct dfs_fs *fs, fuse_ino_t ino);
/** Another object of model is listed under a new name (from, to): no repeat shows that. */
void fs_invalidate_renamed(struct dfs_fs *fs, const char *model, const char *from,
			   const char *to);
/**
 * Drops what the kernel caches about the names and files a change (op on
 * model/object/path, and a rename from -> to) touched, for a change that is
 * not repeated.
 */
void fs_invalidate(struct dfs_fs *fs, uint8_t op, const char *model, const char *object,
		   const char *path, const char *from, const char *to);

/** A remote change of a field of model/object: its .conflicts/ may have changed. */
void fs_invalidate_conflicts(struct dfs_fs *fs, const char *model, const char *object);

/* ---- try.c: .node/try, dry runs -------------------------------------------- */

/** Whether h is open on .node/try, whose writes go to fs_try_write(). */
static inline bool fs_is_try(const struct fh *h)
{
	return h->ent.kind == DFS_K_NODE_FILE && h->ent.meta == DFS_NODE_TRY;
}
/**
 * One write(2) on .node/try: gathers a request (tryreq.h) in h->item; the
 * write that completes it runs the dry run and leaves the answer in
 * h->data, which reads of h return. Returns 0, -EINVAL for a malformed
 * request or a write past it, -EFBIG for a value over max_value, -ENOMEM.
 */
int fs_try_write(struct dfs_fs *fs, struct fh *h, const char *buf, size_t size, off_t off);

/* ---- mirror.c: the mirror thread's requests -------------------------------- */

/** The mirror's state; NULL on ENOMEM. fs_mirror_free accepts NULL. */
struct fs_mirror *fs_mirror_new(void);
void fs_mirror_free(struct fs_mirror *m);
/** Whether req comes from the mirror thread. */
bool fs_is_mirror(struct dfs_fs *fs, fuse_req_t req);
/**
 * The mirror thread's lookup: 0 to resolve it as usual, 1 when e holds a
 * ghost of what was deleted, or the negative errno to reply.
 */
int fs_echo_lookup(struct dfs_fs *fs, fuse_ino_t parent, const struct dfs_ent *dir,
		   const char *name, struct fuse_entry_param *e);
/** The mirror's handle: it writes to make the kernel's events, nothing more. */
int fs_echo_open(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *ent,
		 struct fuse_file_info *fi);
/** The mirror's creat: what is there already, opened as an echo. */
int fs_echo_create(struct dfs_fs *fs, fuse_ino_t parent, const char *name,
		   struct fuse_file_info *fi, struct fuse_entry_param *e);

/* ---- held.c: .node/held/, the updates this node holds ----------------------- */

/** Whether e is a file of .node/held/. */
bool fs_is_held(const struct dfs_ent *e);
/** The file NAME of .node/held/, into out: 0, or -ENOENT where no update is held so. */
int fs_held_lookup(struct dfs_fs *fs, const char *name, struct dfs_ent *out);
/** Its content: the update, one "key value" line each (held.c tells which). */
int fs_held_text(struct dfs_fs *fs, const struct dfs_ent *e, struct dfs_buf *out);
/**
 * Written content: "retry" judges the update again, at the write(2)
 * (commit false); 0 when applied, -EPERM when held again, -EINVAL for
 * other content.
 */
int fs_held_write(struct dfs_fs *fs, const struct dfs_ent *e, const uint8_t *val, size_t len,
		  bool commit);
/** rm: drops the update here; -EPERM for the other files of .node. */
int fs_held_unlink(struct dfs_fs *fs, const struct dfs_ent *e);
/** Whether e shows a value this node decrypted: for its own user only. */
bool fs_held_secret(struct dfs_fs *fs, const struct dfs_ent *e);
/**
 * The mode bits of .node/held (0755: rm works in it) and of its files
 * (0644, 0600 where secret), over what attr.c gives every .node entry;
 * fs_stat_ent() applies it to every stat it makes.
 */
void fs_held_mode(struct dfs_fs *fs, const struct dfs_ent *e, struct stat *st);

/* ---- meta.c: the generated files ------------------------------------------- */

/**
 * Writes the content of a generated read-only file (.id, .owner, .history,
 * .node/id, stats, log) into out. Returns 0 or a negative errno.
 */
int dfs_fs_generate(struct dfs_fs *fs, const struct dfs_ent *e, struct dfs_buf *out);
/** Whether a generated file takes writes here (.authorized where we own it, .node/as). */
bool dfs_fs_meta_writable(struct dfs_fs *fs, const struct dfs_ent *e);
/**
 * Commits the whole new content of a writable generated file; with commit
 * false, only checks it (names resolve, keys are held) and changes nothing.
 */
int dfs_fs_meta_set(struct dfs_fs *fs, const struct dfs_ent *e, const uint8_t *val, size_t len,
		    bool commit);

/* ---- actdir.c: .actions, a real directory ---------------------------------- */

/*
 * Entries under .actions stand for the real files of actions_dir. Each
 * act_* does one operation on them and returns 0 (or a count) or a
 * negative errno; ops.c replies.
 */
int act_lookup(struct dfs_fs *fs, const struct dfs_ent *dir, const char *name,
	       struct dfs_ent *out);
int act_stat(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *e, struct stat *st);
/** Whether ent may be opened (writing or not); its real path into real. */
int act_open_check(struct dfs_fs *fs, const struct dfs_ent *ent, bool writing, char *real,
		   size_t reallen);
/** Opens the real file into h (fresh from fs_fh_new) and sets fi->fh. */
int act_open(const char *real, struct fuse_file_info *fi, struct fh *h);
/** Reads into *out (malloc'ed, the caller frees it even on failure); the count or -errno. */
ssize_t act_read(const struct fh *h, size_t size, off_t off, uint8_t **out);
ssize_t act_write(const struct fh *h, const char *buf, size_t size, off_t off);
int act_fsync(const struct fh *h, int datasync);
int act_mkdir(struct dfs_fs *fs, const struct dfs_ent *dir, const char *name, mode_t mode,
	      struct dfs_ent *ent);
int act_create(struct dfs_fs *fs, const struct dfs_ent *dir, const char *name, mode_t mode,
	       struct dfs_ent *ent);
int act_unlink(struct dfs_fs *fs, const struct dfs_ent *ent);
int act_rmdir(struct dfs_fs *fs, const struct dfs_ent *ent);
/** Within .actions only: -EXDEV across its edge. */
int act_rename(struct dfs_fs *fs, const struct dfs_ent *src, const struct dfs_ent *newdir,
	       const char *newname, unsigned int flags, struct dfs_ent *moved);
/** Calls add with each entry of the real directory e, until it returns non-zero. */
int act_list(struct dfs_fs *fs, const struct dfs_ent *e,
	     int (*add)(const char *name, bool is_dir, void *arg), void *arg);
/** chmod, truncate (through fd when >= 0) and utimes; owners are left alone. */
int act_setattr(struct dfs_fs *fs, const struct dfs_ent *e, int fd, const struct stat *attr,
		int to_set);

#endif
