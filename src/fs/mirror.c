// SPDX-License-Identifier: MIT
/*
 * mirror.c - remote changes shown to the kernel as if made on this mount.
 *
 * The kernel makes inotify events only for operations that pass through
 * its VFS, so invalidating its caches shows a remote change but tells no
 * watcher. So this file's thread repeats each remote change through the
 * mount itself, which also updates the kernel's caches:
 * open+write+close for a field written, creat for a new one, unlink, mkdir,
 * rmdir. The filesystem recognises those requests by the thread id they
 * come from (fuse_req_ctx()->pid is the caller's thread id) and answers
 * them without changing anything: the change is already stored. A change
 * that is not repeated (one of a burst) is shown by invalidating the
 * kernel's caches instead, from the thread that applied it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dinemicfs/log.h"
#include "internal.h"

#define MIRROR_QUEUE_MAX 4096

struct mirror_job {
	struct mirror_job *next;
	uint8_t op;
	bool created;		/* the field did not exist before */
	char model[256];
	char object[256];
	char path[DFS_UPDATE_NAME_MAX + 1];
	char from[256], to[256];
};

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
static void invalidate_renamed(struct dfs_fs *fs, const struct mirror_job *j)
{
	fuse_ino_t model = child_ino(fs, FUSE_ROOT_ID, j->model);

	if (j->from[0]) {
		inval_entry(fs, model, j->from);
		inval_entry(fs, model, j->to);
	}
}

/*
 * Drops what the kernel caches about the names and files a change touched,
 * for a change that is not repeated. One that is repeated leaves them: the
 * repeat walks them (a delete inside an object removed since needs the
 * object still cached, attributes included, as default_permissions checks
 * them on the way), and its write, unlink, rmdir, creat or mkdir updates
 * the kernel's view itself.
 */
static void invalidate(struct dfs_fs *fs, const struct mirror_job *j)
{
	fuse_ino_t model = child_ino(fs, FUSE_ROOT_ID, j->model);
	fuse_ino_t object = child_ino(fs, model, j->object);

	invalidate_renamed(fs, j);
	switch (j->op) {
	case DFS_OP_MODEL_CREATE:
	case DFS_OP_MODEL_REMOVE:
		inval_entry(fs, FUSE_ROOT_ID, j->model);
		inval_inode(fs, FUSE_ROOT_ID);
		break;
	case DFS_OP_OBJECT_CREATE:
	case DFS_OP_OBJECT_REMOVE:
		inval_entry(fs, model, j->object);
		inval_inode(fs, model);
		break;
	case DFS_OP_FIELD_SET:
	case DFS_OP_FIELD_APPEND:
	case DFS_OP_FIELD_DELETE:
	case DFS_OP_DICT_CREATE:
	case DFS_OP_DICT_DELETE: {
		char dict[DFS_UPDATE_NAME_MAX + 1];
		const char *name = j->path;
		fuse_ino_t dir = object;
		const char *slash = strchr(j->path, '/');
		if (slash) {
			snprintf(dict, sizeof(dict), "%.*s", (int)(slash - j->path), j->path);
			dir = child_ino(fs, object, dict);
			name = slash + 1;
		}
		inval_inode(fs, child_ino(fs, dir, name));
		inval_entry(fs, dir, name);
		inval_inode(fs, dir);
		break;
	}
	default:
		break;
	}
}

static int mount_path(struct dfs_fs *fs, const struct mirror_job *j, bool with_object,
		      bool with_path, char *out, size_t n)
{
	int len = snprintf(out, n, "%s/%s%s%s%s%s", fs->mountpoint, j->model,
			   with_object ? "/" : "", with_object ? j->object : "",
			   with_path ? "/" : "", with_path ? j->path : "");
	return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

/* The job the filesystem checks the mirror thread's requests against. */
static void set_current(struct dfs_fs *fs, const struct mirror_job *j, const char *name,
			bool ghost)
{
	pthread_mutex_lock(&fs->mirror_lock);
	snprintf(fs->mirror_name, sizeof(fs->mirror_name), "%s", name ? name : "");
	fs->mirror_ghost = ghost;
	fs->mirror_op = j ? j->op : 0;
	pthread_mutex_unlock(&fs->mirror_lock);
}

static const char *last_part(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Repeats the change through the mount so that watchers see it. */
static void replay(struct dfs_fs *fs, const struct mirror_job *j)
{
	char path[PATH_MAX];
	int rc = 0, fd;

	switch (j->op) {
	case DFS_OP_MODEL_CREATE:
		if (!j->created)
			break;	/* created here too: nothing appears */
		rc = mount_path(fs, j, false, false, path, sizeof(path));
		set_current(fs, j, j->model, false);
		if (rc == 0 && mkdir(path, 0755) < 0)
			rc = -errno;
		break;
	case DFS_OP_OBJECT_CREATE:
		rc = mount_path(fs, j, true, false, path, sizeof(path));
		set_current(fs, j, j->object, false);
		if (rc == 0 && mkdir(path, 0755) < 0)
			rc = -errno;
		break;
	case DFS_OP_OBJECT_REMOVE:
		rc = mount_path(fs, j, true, false, path, sizeof(path));
		set_current(fs, j, j->object, true);
		if (rc == 0 && rmdir(path) < 0)
			rc = -errno;
		break;
	case DFS_OP_FIELD_DELETE:
		rc = mount_path(fs, j, true, true, path, sizeof(path));
		set_current(fs, j, last_part(j->path), true);
		if (rc == 0 && unlink(path) < 0)
			rc = -errno;
		break;
	case DFS_OP_FIELD_SET:
	case DFS_OP_FIELD_APPEND:
		rc = mount_path(fs, j, true, true, path, sizeof(path));
		set_current(fs, j, last_part(j->path), j->created);
		if (rc < 0)
			break;
		fd = open(path, O_WRONLY | O_CLOEXEC | (j->created ? O_CREAT | O_EXCL : 0), 0644);
		if (fd < 0) {
			rc = -errno;
			break;
		}
		if (write(fd, "", 1) < 0)
			rc = -errno;
		close(fd);
		break;
	default:
		break;
	}
	set_current(fs, NULL, NULL, false);
	if (rc < 0 && rc != -ENOENT && rc != -EEXIST)
		dfs_log_errno(DFS_LOG_DEBUG, -rc, "mirroring a remote change to %s", path);
}

static void *mirror_main(void *arg)
{
	struct dfs_fs *fs = arg;

	pthread_setname_np(pthread_self(), "dfs-mirror");

	/*
	 * This thread waits on its own mount. If it shared the /dev/fuse
	 * descriptor, a kill -9 would leave the process unable to die: the
	 * kernel ends the connection only when the last copy is closed, and
	 * this thread, waiting uninterruptibly, would hold one. Drop it.
	 */
	if (unshare(CLONE_FILES) == 0)
		close(fuse_session_fd(fs->se));
	else
		dfs_log_errno(DFS_LOG_WARNING, errno, "mirror: unshare");
	atomic_store(&fs->mirror_tid, (pid_t)syscall(SYS_gettid));
	pthread_mutex_lock(&fs->mirror_lock);
	for (;;) {
		while (!fs->mirror_head && !fs->mirror_stop)
			pthread_cond_wait(&fs->mirror_cond, &fs->mirror_lock);
		struct mirror_job *j = fs->mirror_head;
		if (!j)
			break;
		fs->mirror_head = j->next;
		if (!fs->mirror_head)
			fs->mirror_tail = NULL;
		fs->mirror_len--;
		pthread_mutex_unlock(&fs->mirror_lock);
		if (!fs->mirror_stop)
			replay(fs, j);
		free(j);
		pthread_mutex_lock(&fs->mirror_lock);
	}
	pthread_mutex_unlock(&fs->mirror_lock);
	return NULL;
}

void dfs_fs_remote_change(struct dfs_fs *fs, const struct dfs_db_event *ev)
{
	if (!fs->se || !fs->mirror_running || atomic_load(&fs->unmounted))
		return;
	if (!ev->applied && !ev->renamed_from)
		return;
	struct mirror_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->op = ev->applied ? ev->op : 0;
	j->created = ev->created;
	snprintf(j->model, sizeof(j->model), "%s", ev->model ? ev->model : "");
	snprintf(j->object, sizeof(j->object), "%s", ev->object ? ev->object : "");
	snprintf(j->path, sizeof(j->path), "%s", ev->path ? ev->path : "");
	if (ev->renamed_from) {
		snprintf(j->from, sizeof(j->from), "%s", ev->renamed_from);
		snprintf(j->to, sizeof(j->to), "%s", ev->renamed_to);
	}
	/*
	 * Here, not on the mirror thread, which has no /dev/fuse descriptor
	 * to tell the kernel with (see mirror_main).
	 */
	pthread_mutex_lock(&fs->mirror_lock);
	bool repeat = !ev->bulk && fs->mirror_len < MIRROR_QUEUE_MAX && j->op;
	pthread_mutex_unlock(&fs->mirror_lock);
	if (repeat)
		invalidate_renamed(fs, j);
	else
		invalidate(fs, j);
	if (!repeat) {
		/* A burst, or falling behind: the change is shown, without events. */
		free(j);
		return;
	}
	pthread_mutex_lock(&fs->mirror_lock);
	if (fs->mirror_tail)
		fs->mirror_tail->next = j;
	else
		fs->mirror_head = j;
	fs->mirror_tail = j;
	fs->mirror_len++;
	pthread_cond_signal(&fs->mirror_cond);
	pthread_mutex_unlock(&fs->mirror_lock);
}

int dfs_fs_mirror_start(struct dfs_fs *fs, const char *mountpoint)
{
	snprintf(fs->mountpoint, sizeof(fs->mountpoint), "%s", mountpoint);
	if (pthread_create(&fs->mirror, NULL, mirror_main, fs) != 0)
		return -EAGAIN;
	fs->mirror_running = true;
	return 0;
}

void dfs_fs_unmounted(struct dfs_fs *fs)
{
	atomic_store(&fs->unmounted, true);
}

void dfs_fs_mirror_stop(struct dfs_fs *fs)
{
	if (!fs->mirror_running)
		return;
	pthread_mutex_lock(&fs->mirror_lock);
	fs->mirror_stop = true;
	/* Jobs not yet run are dropped: the mount is going away. */
	while (fs->mirror_head) {
		struct mirror_job *j = fs->mirror_head;
		fs->mirror_head = j->next;
		free(j);
	}
	fs->mirror_tail = NULL;
	fs->mirror_len = 0;
	pthread_cond_signal(&fs->mirror_cond);
	pthread_mutex_unlock(&fs->mirror_lock);
	pthread_join(fs->mirror, NULL);
	fs->mirror_running = false;
}

bool dfs_fs_is_mirror(struct dfs_fs *fs, fuse_req_t req)
{
	pid_t tid = atomic_load(&fs->mirror_tid);

	return tid != 0 && fuse_req_ctx(req)->pid == tid;
}

/*
 * For the mirror thread's lookups: 1 when name must look present (a ghost
 * of what was deleted), -1 when it must look absent (so that creat/mkdir
 * reach us), 0 to resolve it as usual.
 */
int dfs_fs_mirror_lookup(struct dfs_fs *fs, const char *name, uint8_t *op)
{
	int rc = 0;

	pthread_mutex_lock(&fs->mirror_lock);
	if (fs->mirror_name[0] && strcmp(fs->mirror_name, name) == 0) {
		*op = fs->mirror_op;
		bool creates = fs->mirror_op == DFS_OP_MODEL_CREATE ||
			       fs->mirror_op == DFS_OP_OBJECT_CREATE ||
			       ((fs->mirror_op == DFS_OP_FIELD_SET ||
				 fs->mirror_op == DFS_OP_FIELD_APPEND) && fs->mirror_ghost);
		if (creates)
			rc = -1;
		else if (fs->mirror_ghost)
			rc = 1;
	}
	pthread_mutex_unlock(&fs->mirror_lock);
	return rc;
}
