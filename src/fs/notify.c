// SPDX-License-Identifier: MIT
/*
 * notify.c - telling the kernel: the inode trimming thread, and the
 * invalidations that show a change the kernel did not see pass.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* ---- inode trimming ---------------------------------------------------------- */

#define TRIM_BATCH 4096

struct fs_trim {
	pthread_t thread;
	bool running;			/* the trimmer runs; protected by lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

struct fs_trim *fs_trim_new(void)
{
	struct fs_trim *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	return t;
}

void fs_trim_free(struct fs_trim *t)
{
	if (!t)
		return;
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/*
 * The kernel keeps a lookup on every file it has seen until memory runs
 * short, and so would the inode table. Past the limit, this thread asks the
 * kernel to drop idle entries (files nobody holds open are forgotten, and
 * looked up again when needed), so the table stays near the limit.
 */
static void *trim_main(void *arg)
{
	struct dfs_fs *fs = arg;
	struct fs_trim *t = fs->trim;
	struct dfs_inode_name *victims = malloc(TRIM_BATCH * sizeof(*victims));

	pthread_setname_np(pthread_self(), "dfs-trim");

	pthread_mutex_lock(&t->lock);
	while (t->running) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200 * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&t->cond, &t->lock, &until);
		if (!t->running || !victims)
			break;
		pthread_mutex_unlock(&t->lock);
		size_t count = dfs_inodes_count(fs->inodes);
		size_t goal = fs->opts.inode_limit - fs->opts.inode_limit / 4;
		if (count > fs->opts.inode_limit) {
			size_t want = count - goal < TRIM_BATCH ? count - goal : TRIM_BATCH;
			size_t n = dfs_inodes_idle(fs->inodes, victims, want);
			for (size_t i = 0; i < n; i++)
				fuse_lowlevel_notify_inval_entry(fs->se, victims[i].parent,
								 victims[i].name,
								 strlen(victims[i].name));
		}
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	free(victims);
	return NULL;
}

int fs_trim_start(struct dfs_fs *fs)
{
	struct fs_trim *t = fs->trim;

	if (!fs->opts.inode_limit)
		return 0;
	pthread_mutex_lock(&t->lock);
	t->running = true;
	int rc = pthread_create(&t->thread, NULL, trim_main, fs);
	if (rc != 0)
		t->running = false;
	pthread_mutex_unlock(&t->lock);
	return -rc;
}

void fs_trim_stop(struct dfs_fs *fs)
{
	struct fs_trim *t = fs->trim;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	bool running = t->running;
	t->running = false;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	if (running)
		pthread_join(t->thread, NULL);
}

/* ---- invalidation ------------------------------------------------------------ */

/* After a write that did not land, the kernel's idea of the size may be wrong. */
void fs_forget_kernel_attrs(struct dfs_fs *fs, fuse_ino_t ino)
{
	if (fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

static fuse_ino_t child_ino(struct dfs_fs *fs, fuse_ino_t parent, const char *name)
{
	return parent && name && name[0] ? dfs_inodes_find(fs->inodes, parent, name) : 0;
}

static void inval_entry(struct dfs_fs *fs, fuse_ino_t parent, const char *name)
{
	if (parent && name && name[0])
		fuse_lowlevel_notify_inval_entry(fs->se, parent, name, strlen(name));
}

static void inval_inode(struct dfs_fs *fs, fuse_ino_t ino)
{
	if (ino)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
}

/* Another object of the model is listed under a new name: no repeat shows that. */
void fs_invalidate_renamed(struct dfs_fs *fs, const char *model_name, const char *from,
			   const char *to)
{
	fuse_ino_t model = child_ino(fs, FUSE_ROOT_ID, model_name);

	if (from[0]) {
		inval_entry(fs, model, from);
		inval_entry(fs, model, to);
	}
}

/* A field's path, dict/key or key: the directory it is in and its name there. */
static void invalidate_field(struct dfs_fs *fs, fuse_ino_t object, const char *path)
{
	char dict[DFS_UPDATE_NAME_MAX + 1];
	const char *name = path;
	fuse_ino_t dir = object;
	const char *slash = strchr(path, '/');
	if (slash) {
		snprintf(dict, sizeof(dict), "%.*s", (int)(slash - path), path);
		dir = child_ino(fs, object, dict);
		name = slash + 1;
	}
	inval_inode(fs, child_ino(fs, dir, name));
	inval_entry(fs, dir, name);
	inval_inode(fs, dir);
}

/*
 * Drops what the kernel caches about the names and files a change touched,
 * for a change that is not repeated. One that is repeated leaves them: the
 * repeat walks them (a delete inside an object removed since needs the
 * object still cached, attributes included, as default_permissions checks
 * them on the way), and its write, unlink, rmdir, creat or mkdir updates
 * the kernel's view itself.
 */
void fs_invalidate(struct dfs_fs *fs, uint8_t op, const char *model_name, const char *object_name,
		   const char *path, const char *from, const char *to)
{
	fuse_ino_t model = child_ino(fs, FUSE_ROOT_ID, model_name);
	fuse_ino_t object = child_ino(fs, model, object_name);

	fs_invalidate_renamed(fs, model_name, from, to);
	switch (op) {
	case DFS_OP_MODEL_CREATE:
	case DFS_OP_MODEL_REMOVE:
		inval_entry(fs, FUSE_ROOT_ID, model_name);
		inval_inode(fs, FUSE_ROOT_ID);
		break;
	case DFS_OP_OBJECT_CREATE:
	case DFS_OP_OBJECT_REMOVE:
		inval_entry(fs, model, object_name);
		inval_inode(fs, model);
		break;
	case DFS_OP_FIELD_SET:
	case DFS_OP_FIELD_APPEND:
	case DFS_OP_FIELD_DELETE:
	case DFS_OP_DICT_CREATE:
	case DFS_OP_DICT_DELETE:
		invalidate_field(fs, object, path);
		break;
	default:
		break;
	}
}

#define CONFLICTS_INVAL_MAX 256

/*
 * A remote set, delete or resolve may add or settle a conflict of the
 * object: its .conflicts directory and the files the kernel knows in it
 * are looked up again. Nothing is repeated for watchers.
 */
void fs_invalidate_conflicts(struct dfs_fs *fs, const char *model_name, const char *object_name)
{
	fuse_ino_t model = child_ino(fs, FUSE_ROOT_ID, model_name);
	fuse_ino_t object = child_ino(fs, model, object_name);
	fuse_ino_t dir = child_ino(fs, object, ".conflicts");

	if (!dir)
		return;
	struct dfs_inode_name *v = malloc(CONFLICTS_INVAL_MAX * sizeof(*v));
	size_t n = v ? dfs_inodes_children(fs->inodes, dir, v, CONFLICTS_INVAL_MAX) : 0;
	for (size_t i = 0; i < n; i++) {
		inval_inode(fs, child_ino(fs, dir, v[i].name));
		inval_entry(fs, dir, v[i].name);
	}
	free(v);
	inval_inode(fs, dir);
}

/* ---- changed content ---------------------------------------------------------- */

#define BELOW_BATCH 1024

/* Pages and attributes of every file the kernel may hold below dir. */
static void inval_below(struct dfs_fs *fs, fuse_ino_t dir)
{
	struct dfs_inodes_walk w = { 0, 0 };
	fuse_ino_t v[BELOW_BATCH];
	size_t n;

	if (!dir)
		return;
	while ((n = dfs_inodes_below(fs->inodes, dir, &w, v, BELOW_BATCH)) > 0)
		for (size_t i = 0; i < n; i++)
			inval_inode(fs, v[i]);
}

/* The inode of a field's path (FIELD or DICT/KEY) in object, or 0; the dict's in *dict. */
static fuse_ino_t field_ino(struct dfs_fs *fs, fuse_ino_t object, const char *path,
			    fuse_ino_t *dict)
{
	char name[DFS_UPDATE_NAME_MAX + 1];
	const char *slash = strchr(path, '/');

	*dict = 0;
	if (!slash)
		return child_ino(fs, object, path);
	snprintf(name, sizeof(name), "%.*s", (int)(slash - path), path);
	*dict = child_ino(fs, object, name);
	return child_ino(fs, *dict, slash + 1);
}

/*
 * A set or append made here passed through the kernel, which then marks
 * the file's size and times stale itself (a write on a field, and a
 * truncation, rename or create before it). Only pages may be left: where
 * no handle that reads brought any in, telling the kernel would only make
 * the writer's next open(2) wait for the attributes again.
 */
static void field_changed(struct dfs_fs *fs, const struct dfs_db_event *ev, fuse_ino_t ino)
{
	if (!ino)
		return;
	bool pages = dfs_inodes_take_pages(fs->inodes, ino);
	if (pages || ev->remote || (ev->op != DFS_OP_FIELD_SET && ev->op != DFS_OP_FIELD_APPEND))
		inval_inode(fs, ino);
}

/*
 * Readers open fields with keep_cache: the kernel serves what it cached
 * until told. Every update that changes what a file reads drops that file's
 * pages and attributes here, as soon as the update can be read (before it
 * is durable, before a local write(2) returns): a field's own update; for a
 * dict, its keys; for an object's metadata (.authorized, keysets: who may
 * read, and re-judged values) or its removal, every file below it; for a
 * model's, every file below the model. The kernel waits for reads of those
 * pages already under way, so none brings back the value they held.
 * Entries are left alone: this may run in an unlink or rename of the parent.
 * Every applied update is counted, whatever it changed.
 */
void dfs_fs_changed(struct dfs_fs *fs, const struct dfs_db_event *ev)
{
	/* What read-only opens found stored is asked again (known.c). */
	if (ev->applied)
		atomic_fetch_add(&fs->changes, 1);
	if (!fs->se || atomic_load(&fs->unmounted) || !ev->applied || !ev->model)
		return;
	fuse_ino_t model = child_ino(fs, FUSE_ROOT_ID, ev->model);
	fuse_ino_t object = ev->object ? child_ino(fs, model, ev->object) : 0;
	fuse_ino_t dict = 0;

	switch (ev->op) {
	case DFS_OP_FIELD_SET:
	case DFS_OP_FIELD_APPEND:
	case DFS_OP_FIELD_DELETE:
	case DFS_OP_FIELD_RESOLVE:
		if (object && ev->path)
			field_changed(fs, ev, field_ino(fs, object, ev->path, &dict));
		break;
	case DFS_OP_DICT_CREATE:
	case DFS_OP_DICT_DELETE:
		dict = object && ev->path ? child_ino(fs, object, ev->path) : 0;
		inval_below(fs, dict);
		inval_inode(fs, dict);
		break;
	case DFS_OP_OBJECT_META:
	case DFS_OP_OBJECT_REMOVE:
		inval_below(fs, object);
		break;
	case DFS_OP_MODEL_META:
	case DFS_OP_MODEL_REMOVE:
		inval_below(fs, model);
		break;
	default:
		break;
	}
}
