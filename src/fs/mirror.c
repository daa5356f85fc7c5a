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
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/magic.h>

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

struct fs_mirror {
	char mountpoint[PATH_MAX];
	dev_t dev;			/* the mount's device, once seen; mirror thread only */
	bool dev_known;
	pthread_t thread;
	bool running;
	bool gave_up;			/* stop could not join: join after the session */
	atomic_int tid;			/* its thread id, once running */
	pthread_mutex_t lock;		/* the queue and the current job */
	pthread_cond_t cond;
	struct mirror_job *head, *tail;
	size_t len;
	bool stop;
	char name[DFS_UPDATE_NAME_MAX + 1];	/* the name the current job acts on */
	bool ghost;			/* it is gone (delete) or new (create) */
	uint8_t op;
};

struct fs_mirror *fs_mirror_new(void)
{
	struct fs_mirror *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	return m;
}

void fs_mirror_free(struct fs_mirror *m)
{
	if (!m)
		return;
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/*
 * The mount's root, opened for one job: only while the mount point is still
 * this mount (a FUSE root on the device seen first). After a lazy unmount
 * the path names the directory beneath, where anyone who can write there
 * may have planted symlinks: nothing is repeated then.
 */
static int mount_root(struct fs_mirror *m)
{
	struct statfs sfs;
	struct stat st;
	int fd = open(m->mountpoint, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstatfs(fd, &sfs) < 0 || fstat(fd, &st) < 0 || sfs.f_type != FUSE_SUPER_MAGIC ||
	    st.st_ino != FUSE_ROOT_ID || (m->dev_known && st.st_dev != m->dev)) {
		close(fd);
		return -ESTALE;
	}
	m->dev = st.st_dev;
	m->dev_known = true;
	return fd;
}

/*
 * The directory a job acts in, under root, and the name it acts on: the
 * model for a model, the object for an object, the last part of a field's
 * path. Returns a descriptor or a negative errno.
 */
static int job_dir(int root, const struct mirror_job *j, bool with_object, bool with_path,
		   const char **name)
{
	char rel[PATH_MAX];
	const char *last = with_path ? strrchr(j->path, '/') : NULL;
	int len;

	if (!with_object) {
		*name = j->model;
		int fd = fcntl(root, F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	if (!with_path) {
		*name = j->object;
		len = snprintf(rel, sizeof(rel), "%s", j->model);
	} else {
		*name = last ? last + 1 : j->path;
		len = snprintf(rel, sizeof(rel), "%s/%s%s%.*s", j->model, j->object, last ? "/" : "",
			       last ? (int)(last - j->path) : 0, j->path);
	}
	if (len < 0 || (size_t)len >= sizeof(rel))
		return -ENAMETOOLONG;
	int fd = openat(root, rel, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* The job the filesystem checks the mirror thread's requests against. */
static void set_current(struct dfs_fs *fs, const struct mirror_job *j, const char *name,
			bool ghost)
{
	struct fs_mirror *m = fs->mirror;

	pthread_mutex_lock(&m->lock);
	snprintf(m->name, sizeof(m->name), "%s", name ? name : "");
	m->ghost = ghost;
	m->op = j ? j->op : 0;
	pthread_mutex_unlock(&m->lock);
}

/* Makes the kernel see one job's change: the call a local change would make. */
static int replay_at(struct dfs_fs *fs, const struct mirror_job *j, int dir, const char *name)
{
	int rc = 0, fd;

	switch (j->op) {
	case DFS_OP_MODEL_CREATE:
	case DFS_OP_OBJECT_CREATE:
		set_current(fs, j, name, false);
		if (mkdirat(dir, name, 0755) < 0)
			rc = -errno;
		break;
	case DFS_OP_OBJECT_REMOVE:
		set_current(fs, j, name, true);
		if (unlinkat(dir, name, AT_REMOVEDIR) < 0)
			rc = -errno;
		break;
	case DFS_OP_FIELD_DELETE:
		set_current(fs, j, name, true);
		if (unlinkat(dir, name, 0) < 0)
			rc = -errno;
		break;
	case DFS_OP_FIELD_SET:
	case DFS_OP_FIELD_APPEND:
		set_current(fs, j, name, j->created);
		fd = openat(dir, name,
			    O_WRONLY | O_NOFOLLOW | O_CLOEXEC | (j->created ? O_CREAT | O_EXCL : 0),
			    0644);
		if (fd < 0)
			return -errno;
		if (write(fd, "", 1) < 0)
			rc = -errno;
		close(fd);
		break;
	}
	return rc;
}

/* Repeats the change through the mount so that watchers see it. */
static void replay(struct dfs_fs *fs, const struct mirror_job *j)
{
	bool with_object = j->op != DFS_OP_MODEL_CREATE;
	bool with_path = j->op >= DFS_OP_FIELD_SET;
	const char *name = "";
	int rc, root, dir;

	if (!j->op || (j->op == DFS_OP_MODEL_CREATE && !j->created))
		return;	/* a rename only, or created here too: nothing appears */
	if (j->op > DFS_OP_FIELD_DELETE || j->op == DFS_OP_MODEL_REMOVE ||
	    j->op == DFS_OP_MODEL_META || j->op == DFS_OP_OBJECT_META)
		return;
	root = mount_root(fs->mirror);
	if (root < 0) {
		dfs_log_errno(DFS_LOG_DEBUG, -root, "mirror: %s is not this mount",
			      fs->mirror->mountpoint);
		return;
	}
	dir = job_dir(root, j, with_object, with_path, &name);
	rc = dir < 0 ? dir : replay_at(fs, j, dir, name);
	set_current(fs, NULL, NULL, false);
	if (dir >= 0)
		close(dir);
	close(root);
	if (rc < 0 && rc != -ENOENT && rc != -EEXIST)
		dfs_log_errno(DFS_LOG_DEBUG, -rc, "mirroring a remote change to %s/%s/%s",
			      j->model, j->object, j->path);
}

static void *mirror_main(void *arg)
{
	struct dfs_fs *fs = arg;
	struct fs_mirror *m = fs->mirror;

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
	atomic_store(&m->tid, (pid_t)syscall(SYS_gettid));
	pthread_mutex_lock(&m->lock);
	for (;;) {
		while (!m->head && !m->stop)
			pthread_cond_wait(&m->cond, &m->lock);
		struct mirror_job *j = m->head;
		if (!j)
			break;
		m->head = j->next;
		if (!m->head)
			m->tail = NULL;
		m->len--;
		pthread_mutex_unlock(&m->lock);
		if (!m->stop)
			replay(fs, j);
		free(j);
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

void dfs_fs_remote_change(struct dfs_fs *fs, const struct dfs_db_event *ev)
{
	struct fs_mirror *m = fs->mirror;

	if (!fs->se || !m->running || atomic_load(&fs->unmounted))
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
	pthread_mutex_lock(&m->lock);
	bool repeat = !ev->bulk && m->len < MIRROR_QUEUE_MAX && j->op;
	pthread_mutex_unlock(&m->lock);
	if (ev->applied && (ev->op == DFS_OP_FIELD_SET || ev->op == DFS_OP_FIELD_DELETE ||
			    ev->op == DFS_OP_FIELD_RESOLVE))
		fs_invalidate_conflicts(fs, j->model, j->object);
	if (repeat)
		fs_invalidate_renamed(fs, j->model, j->from, j->to);
	else
		fs_invalidate(fs, j->op, j->model, j->object, j->path, j->from, j->to);
	if (!repeat) {
		/* A burst, or falling behind: the change is shown, without events. */
		free(j);
		return;
	}
	pthread_mutex_lock(&m->lock);
	if (m->tail)
		m->tail->next = j;
	else
		m->head = j;
	m->tail = j;
	m->len++;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

int dfs_fs_mirror_start(struct dfs_fs *fs, const char *mountpoint)
{
	struct fs_mirror *m = fs->mirror;

	snprintf(m->mountpoint, sizeof(m->mountpoint), "%s", mountpoint);
	if (pthread_create(&m->thread, NULL, mirror_main, fs) != 0)
		return -EAGAIN;
	m->running = true;
	return 0;
}

void dfs_fs_unmounted(struct dfs_fs *fs)
{
	atomic_store(&fs->unmounted, true);
}

/*
 * Joins the mirror thread once the session's loop has ended. The thread may
 * be waiting on a request to its own mount that no worker will read any
 * more: serve the mount's requests here for a while. A request a worker
 * read and dropped as the loop ended is never answered: then give up
 * (false), and join once the session's descriptor is closed, which ends
 * every request (dfs_fs_free).
 */
static bool join_serving(struct dfs_fs *fs)
{
	struct fs_mirror *m = fs->mirror;
	struct fuse_buf buf = { .mem = NULL };
	bool joined = false;

	if (!fs->se || m->gave_up) {
		pthread_join(m->thread, NULL);
		return true;
	}
	for (int i = 0; i < 40 && !(joined = pthread_tryjoin_np(m->thread, NULL) == 0); i++) {
		struct pollfd p = { .fd = fuse_session_fd(fs->se), .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		int n = fuse_session_receive_buf(fs->se, &buf);
		if (n > 0) {
			fuse_session_process_buf(fs->se, &buf);
		} else if (n != -EINTR && n != -EAGAIN) {
			/* The connection is gone, and its requests with it. */
			pthread_join(m->thread, NULL);
			joined = true;
			break;
		}
	}
	free(buf.mem);
	m->gave_up = !joined;
	return joined;
}

void dfs_fs_mirror_stop(struct dfs_fs *fs)
{
	struct fs_mirror *m = fs->mirror;

	if (!m || !m->running)
		return;
	pthread_mutex_lock(&m->lock);
	m->stop = true;
	/* Jobs not yet run are dropped: the mount is going away. */
	while (m->head) {
		struct mirror_job *j = m->head;
		m->head = j->next;
		free(j);
	}
	m->tail = NULL;
	m->len = 0;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (!join_serving(fs)) {
		dfs_log(DFS_LOG_NOTICE, "mirror: a request to the mount is lost; waiting for the session to end");
		return;
	}
	m->running = false;
}

/* ---- the mirror thread's requests, answered without changing anything -------- */

bool fs_is_mirror(struct dfs_fs *fs, fuse_req_t req)
{
	pid_t tid = atomic_load(&fs->mirror->tid);

	return tid != 0 && fuse_req_ctx(req)->pid == tid;
}

/*
 * For the mirror thread's lookups: 1 when name must look present (a ghost
 * of what was deleted), -1 when it must look absent (so that creat/mkdir
 * reach us), 0 to resolve it as usual.
 */
static int mirror_lookup(struct dfs_fs *fs, const char *name, uint8_t *op)
{
	struct fs_mirror *m = fs->mirror;
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	if (m->name[0] && strcmp(m->name, name) == 0) {
		*op = m->op;
		bool creates = m->op == DFS_OP_MODEL_CREATE ||
			       m->op == DFS_OP_OBJECT_CREATE ||
			       ((m->op == DFS_OP_FIELD_SET ||
				 m->op == DFS_OP_FIELD_APPEND) && m->ghost);
		if (creates)
			rc = -1;
		else if (m->ghost)
			rc = 1;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/*
 * The mirror thread deletes what is already gone: it looks up a ghost, an
 * entry with no data that lives until the kernel forgets it.
 */
static int ghost_entry(struct dfs_fs *fs, fuse_ino_t parent, const struct dfs_ent *dir,
		       const char *name, uint8_t op, struct fuse_entry_param *e)
{
	struct dfs_ent ent = *dir;

	memset(e, 0, sizeof(*e));
	if (op == DFS_OP_OBJECT_REMOVE) {
		ent.kind = DFS_K_OBJECT;
		memset(ent.obj.b, 0, DFS_PUBKEY_LEN);
	} else {
		ent.kind = DFS_K_FIELD;
		if (fs_field_path(dir, name, ent.path, sizeof(ent.path)) < 0)
			return -ENAMETOOLONG;
	}
	e->ino = dfs_inodes_lookup(fs->inodes, parent, name, &ent);
	if (!e->ino)
		return -ENOMEM;
	e->attr.st_ino = e->ino;
	e->attr.st_mode = ent.kind == DFS_K_OBJECT ? S_IFDIR | 0755 : S_IFREG | 0644;
	e->attr.st_nlink = 1;
	e->attr.st_uid = fs->uid;
	e->attr.st_gid = fs->gid;
	return 0;
}

int fs_echo_lookup(struct dfs_fs *fs, fuse_ino_t parent, const struct dfs_ent *dir,
		   const char *name, struct fuse_entry_param *e)
{
	uint8_t op = 0;
	int how = mirror_lookup(fs, name, &op);

	if (how < 0)
		return -ENOENT;
	if (how == 0)
		return 0;
	int rc = ghost_entry(fs, parent, dir, name, op, e);
	return rc < 0 ? rc : 1;
}

/* The mirror's handle: it writes to make the kernel's events, nothing more. */
int fs_echo_open(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *ent,
		 struct fuse_file_info *fi)
{
	struct fh *h = fs_fh_new(fs, ino, ent);

	if (!h)
		return -ENOMEM;
	h->echo = true;
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->noflush = 1;
	fi->direct_io = 1;
	/* The change was shown when it was staged (notify.c): what is cached is current. */
	fi->keep_cache = 1;
	return 0;
}

int fs_echo_create(struct dfs_fs *fs, fuse_ino_t parent, const char *name,
		   struct fuse_file_info *fi, struct fuse_entry_param *e)
{
	struct dfs_ent dir, ent;
	int rc = fs_ent_of(fs, parent, &dir);

	if (rc == 0)
		rc = fs_resolve(fs, parent, &dir, name, &ent);
	if (rc == 0)
		rc = fs_make_entry(fs, parent, name, &ent, e);
	if (rc == 0) {
		rc = fs_echo_open(fs, e->ino, &ent, fi);
		if (rc < 0)
			dfs_inodes_forget(fs->inodes, e->ino, 1);
	}
	return rc;
}
