// SPDX-License-Identifier: MIT
/*
 * listing.c - hook names, and the listeners of a directory, cached: re-read
 * when inotify reports a change of its names (or, where a directory cannot
 * be watched, when its mtime changes), so that a lookup costs one read(2)
 * of the inotify descriptor that finds nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static const char *const hook_names[DFS_HOOK_COUNT] = {
	"on_create",		   "on_created",
	"on_owned_created",	   "on_update",
	"on_authorized_update",	   "on_unauthorized_update",
	"on_owned_update",	   "on_updated",
	"on_authorized_updated",   "on_unauthorized_updated",
	"on_owned_updated",	   "on_delete",
	"on_authorized_delete",	   "on_unauthorized_delete",
	"on_owned_delete",	   "on_deleted",
	"on_authorized_deleted",   "on_unauthorized_deleted",
	"on_owned_deleted",	   "on_remove",
	"on_authorized_remove",	   "on_unauthorized_remove",
	"on_owned_remove",
};

const char *dfs_hook_name(enum dfs_hook h)
{
	return (unsigned)h < DFS_HOOK_COUNT ? hook_names[h] : "unknown";
}

int dfs_hook_of_filename(const char *filename)
{
	for (int h = 0; h < DFS_HOOK_COUNT; h++) {
		size_t n = strlen(hook_names[h]);
		if (strncmp(filename, hook_names[h], n) == 0 &&
		    (filename[n] == '\0' || filename[n] == '.'))
			return h;
	}
	return -ENOENT;
}

static void listing_clear(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	l->names = NULL;
	l->n = 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Re-reads a directory's hook-named files. Called with r->lock held. */
static void rescan(struct listing *l, const struct stat *st)
{
	listing_clear(l);
	l->exists = st != NULL;
	if (!st)
		return;
	l->dev = st->st_dev;
	l->ino = st->st_ino;
	l->mtime = st->st_mtim;
	l->ctime = st->st_ctim;
	DIR *d = opendir(l->path);
	if (!d)
		return;
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (dfs_hook_of_filename(e->d_name) < 0)
			continue;
		if (l->n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char **v = realloc(l->names, ncap * sizeof(*v));
			if (!v)
				break;
			l->names = v;
			cap = ncap;
		}
		l->names[l->n] = strdup(e->d_name);
		if (l->names[l->n])
			l->n++;
	}
	closedir(d);
	if (l->n > 1)
		qsort(l->names, l->n, sizeof(*l->names), cmp_names);
}

static bool same_stamp(const struct listing *l, const struct stat *st)
{
	return l->exists && l->dev == st->st_dev && l->ino == st->st_ino &&
	       l->mtime.tv_sec == st->st_mtim.tv_sec && l->mtime.tv_nsec == st->st_mtim.tv_nsec &&
	       l->ctime.tv_sec == st->st_ctim.tv_sec && l->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* What changes a directory's list of names, or the directory itself. */
#define WATCH_MASK                                                                   \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF |    \
	 IN_MOVE_SELF | IN_ONLYDIR)

int runner_watch_init(struct dfs_runner *r)
{
	r->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	return r->inotify_fd;	/* without it, each lookup stat(2)s its directories */
}

/*
 * Takes what inotify queued: any event at all (a name, a directory moved
 * or removed, a watch gone, an overflow) makes every listing stale. Called
 * with r->lock held.
 */
static void take_events(struct dfs_runner *r)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;

	while (r->inotify_fd >= 0) {
		ssize_t n = read(r->inotify_fd, buf, sizeof(buf));
		if (n > 0) {
			any = true;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n == 0 || errno != EAGAIN) {
			/* Cannot tell what changed: back to a stat(2) per lookup. */
			close(r->inotify_fd);
			r->inotify_fd = -1;
			for (struct listing *l = r->listings; l; l = l->next)
				l->wd = -1;
			any = true;
		} else {
			break;
		}
	}
	for (struct listing *l = r->listings; any && l; l = l->next)
		l->stale = true;
}

/*
 * Brings l up to date: watched before it is read, so that a change during
 * the read is an event; re-read when inotify saw a change, or, where there
 * is no watch, when the directory's stamp changed. Called with r->lock held.
 */
static void refresh(struct dfs_runner *r, struct listing *l)
{
	struct stat st;
	int wd = r->inotify_fd >= 0 ? inotify_add_watch(r->inotify_fd, l->path, WATCH_MASK) : -1;
	bool present = stat(l->path, &st) == 0 && S_ISDIR(st.st_mode);

	if (l->wd >= 0 && l->wd != wd && r->inotify_fd >= 0)
		inotify_rm_watch(r->inotify_fd, l->wd);
	l->wd = wd;
	if (!present)
		rescan(l, NULL);
	else if (l->stale || !same_stamp(l, &st))
		rescan(l, &st);
	l->stale = false;
}

/* True when inotify vouches that l's directory and its names are as last read. */
static bool trusted(const struct listing *l, const struct listing *parent)
{
	if (l->stale)
		return false;
	if (l->wd >= 0)
		return true;
	/* Absent, where its creation would be an event of a watched parent. */
	return !l->exists && parent && parent->wd >= 0 && !parent->stale;
}

/*
 * Finds path's listing, brought up to date where inotify cannot vouch for
 * it. parent: the listing of path's directory, or NULL. Called with
 * r->lock held, after take_events(); NULL on ENOMEM.
 */
static struct listing *listing_of(struct dfs_runner *r, const char *path,
				  const struct listing *parent)
{
	struct listing *l = r->listings;

	while (l && strcmp(l->path, path) != 0)
		l = l->next;
	if (!l) {
		l = calloc(1, sizeof(*l));
		if (l)
			l->path = strdup(path);
		if (!l || !l->path) {
			free(l);
			return NULL;
		}
		l->wd = -1;
		l->stale = true;
		l->next = r->listings;
		r->listings = l;
	}
	if (!trusted(l, parent))
		refresh(r, l);
	return l;
}

/*
 * The common directory's listing and model's (*m NULL without a model),
 * up to date. Called with r->lock held; 0 or -errno.
 */
static int listings_of(struct dfs_runner *r, const char *model, struct listing **c,
		       struct listing **m)
{
	char mdir[PATH_MAX];

	take_events(r);
	*m = NULL;
	*c = listing_of(r, r->dir, NULL);
	if (!*c)
		return -ENOMEM;
	if (!model || !*model)
		return 0;
	if ((size_t)snprintf(mdir, sizeof(mdir), "%s/%s", r->dir, model) >= sizeof(mdir))
		return -ENAMETOOLONG;
	*m = listing_of(r, mdir, *c);
	return *m ? 0 : -ENOMEM;
}

/* Appends to *out the full paths of l's listeners for hook, in name order. */
static int collect(const struct listing *l, enum dfs_hook hook, char ***out, size_t *n)
{
	for (size_t i = 0; l && i < l->n; i++) {
		if (dfs_hook_of_filename(l->names[i]) != (int)hook)
			continue;
		char **v = realloc(*out, (*n + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		*out = v;
		if (asprintf(&v[*n], "%s/%s", l->path, l->names[i]) < 0)
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

/* True when l holds a listener for any hook in mask (bit h for hook h). */
static bool has_any(const struct listing *l, uint32_t mask)
{
	for (size_t i = 0; l && i < l->n; i++) {
		int h = dfs_hook_of_filename(l->names[i]);
		if (h >= 0 && (mask & (1u << h)))
			return true;
	}
	return false;
}

/* The common directory, then the model's. */
bool runner_has_any(struct dfs_runner *r, uint32_t mask, const char *model)
{
	struct listing *c, *m;

	pthread_mutex_lock(&r->lock);
	/* Cannot tell: let the caller run (and fail closed). */
	bool found = listings_of(r, model, &c, &m) < 0 || has_any(c, mask) || has_any(m, mask);
	pthread_mutex_unlock(&r->lock);
	return found;
}

/* Every listener of hook for model: the common directory's, then the model's. */
int runner_listeners(struct dfs_runner *r, enum dfs_hook hook, const char *model, char ***out,
		     size_t *n)
{
	struct listing *c, *m;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&r->lock);
	int rc = listings_of(r, model, &c, &m);
	if (rc == 0)
		rc = collect(c, hook, out, n);
	if (rc == 0)
		rc = collect(m, hook, out, n);
	pthread_mutex_unlock(&r->lock);
	if (rc < 0) {
		runner_free_list(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

bool dfs_runner_has(struct dfs_runner *r, enum dfs_hook hook, const char *model)
{
	return runner_has_any(r, 1u << hook, model);
}

void runner_listings_free(struct dfs_runner *r)
{
	if (r->inotify_fd >= 0)
		close(r->inotify_fd);
	r->inotify_fd = -1;
	while (r->listings) {
		struct listing *l = r->listings;
		r->listings = l->next;
		listing_clear(l);
		free(l->path);
		free(l);
	}
}
