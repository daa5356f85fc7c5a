// SPDX-License-Identifier: MIT
/* listing.c - hook names, and the listeners of a directory, cached by its mtime */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
	l->rescans++;
	l->missing_at = 0;
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

static struct listing *find_listing(struct dfs_runner *r, const char *path)
{
	struct listing *l = r->listings;

	while (l && strcmp(l->path, path) != 0)
		l = l->next;
	return l;
}

/*
 * Finds path's listing, re-reading it when the directory changed (one
 * stat(2) when it did not). Called with r->lock held; NULL on ENOMEM.
 */
static struct listing *listing_of(struct dfs_runner *r, const char *path)
{
	struct stat st;
	bool present = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
	struct listing *l = find_listing(r, path);

	if (!l) {
		l = calloc(1, sizeof(*l));
		if (l)
			l->path = strdup(path);
		if (!l || !l->path) {
			free(l);
			return NULL;
		}
		l->next = r->listings;
		r->listings = l;
		rescan(l, present ? &st : NULL);
	} else if (!present) {
		if (l->exists)
			rescan(l, NULL);
	} else if (!same_stamp(l, &st)) {
		rescan(l, &st);
	}
	return l;
}

/* Appends to *out the full paths of path's listeners for hook, in name order. */
static int collect(struct dfs_runner *r, const char *path, enum dfs_hook hook, char ***out,
		   size_t *n)
{
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	struct listing *l = listing_of(r, path);
	if (!l)
		rc = -ENOMEM;
	for (size_t i = 0; l && i < l->n && rc == 0; i++) {
		if (dfs_hook_of_filename(l->names[i]) != (int)hook)
			continue;
		char **v = realloc(*out, (*n + 1) * sizeof(*v));
		if (!v) {
			rc = -ENOMEM;
			break;
		}
		*out = v;
		if (asprintf(&v[*n], "%s/%s", path, l->names[i]) < 0) {
			rc = -ENOMEM;
			break;
		}
		(*n)++;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* True when path holds a listener for any hook in mask (bit h for hook h). */
static bool dir_has_any(struct dfs_runner *r, const char *path, uint32_t mask)
{
	bool found = false;

	pthread_mutex_lock(&r->lock);
	struct listing *l = listing_of(r, path);
	if (!l)
		found = true; /* cannot tell: let the caller run (and fail closed) */
	for (size_t i = 0; l && i < l->n && !found; i++) {
		int h = dfs_hook_of_filename(l->names[i]);
		found = h >= 0 && (mask & (1u << h));
	}
	pthread_mutex_unlock(&r->lock);
	return found;
}

/*
 * A model's directory found missing stays missing while the common one is
 * unchanged (making it would change that directory's stamp): no stat(2) of
 * it per change of a model with no listeners. With when NULL, tells whether
 * mdir is known missing; else, once mdir was looked at, notes it missing
 * as of the common directory's rescans in *when.
 */
static bool known_missing(struct dfs_runner *r, const char *mdir, const unsigned long *when)
{
	bool yes = false;

	pthread_mutex_lock(&r->lock);
	struct listing *common = find_listing(r, r->dir), *l = find_listing(r, mdir);
	if (common && l && !l->exists) {
		if (when)
			l->missing_at = *when + 1;
		else
			yes = l->missing_at == common->rescans + 1;
	}
	pthread_mutex_unlock(&r->lock);
	return yes;
}

/* The common directory, then the model's. */
bool runner_has_any(struct dfs_runner *r, uint32_t mask, const char *model)
{
	char *mdir;

	if (dir_has_any(r, r->dir, mask))
		return true;
	if (!model || !*model)
		return false;
	if (asprintf(&mdir, "%s/%s", r->dir, model) < 0)
		return true;
	pthread_mutex_lock(&r->lock);
	struct listing *common = find_listing(r, r->dir);
	unsigned long when = common ? common->rescans : 0;
	pthread_mutex_unlock(&r->lock);
	bool found = !known_missing(r, mdir, NULL) && dir_has_any(r, mdir, mask);
	if (!found && common)
		known_missing(r, mdir, &when);
	free(mdir);
	return found;
}

/* Every listener of hook for model: the common directory's, then the model's. */
int runner_listeners(struct dfs_runner *r, enum dfs_hook hook, const char *model, char ***out,
		     size_t *n)
{
	char *mdir = NULL;

	*out = NULL;
	*n = 0;
	int rc = collect(r, r->dir, hook, out, n);
	if (rc == 0 && model && *model) {
		if (asprintf(&mdir, "%s/%s", r->dir, model) < 0)
			return -ENOMEM;
		rc = collect(r, mdir, hook, out, n);
		free(mdir);
	}
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
	while (r->listings) {
		struct listing *l = r->listings;
		r->listings = l->next;
		listing_clear(l);
		free(l->path);
		free(l);
	}
}
