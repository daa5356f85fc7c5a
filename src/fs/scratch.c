// SPDX-License-Identifier: MIT
/* scratch.c - node-local scratch files kept in memory */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "dinemicfs/scratch.h"

struct file {
	struct file *next;
	char *dir;
	char *name;
	uint8_t *data;
	size_t len;
	struct timespec mtime;
};

struct dfs_scratch {
	pthread_mutex_t lock;
	struct file *files;	/* protected by lock */
};

struct dfs_scratch *dfs_scratch_new(void)
{
	struct dfs_scratch *s = calloc(1, sizeof(*s));

	if (s)
		pthread_mutex_init(&s->lock, NULL);
	return s;
}

static void file_free(struct file *f)
{
	free(f->dir);
	free(f->name);
	free(f->data);
	free(f);
}

void dfs_scratch_free(struct dfs_scratch *s)
{
	if (!s)
		return;
	while (s->files) {
		struct file *f = s->files;
		s->files = f->next;
		file_free(f);
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static struct file **find(struct dfs_scratch *s, const char *dir, const char *name)
{
	struct file **pp = &s->files;

	while (*pp && (strcmp((*pp)->dir, dir) != 0 || strcmp((*pp)->name, name) != 0))
		pp = &(*pp)->next;
	return pp;
}

static void touch(struct file *f)
{
	clock_gettime(CLOCK_REALTIME, &f->mtime);
}

static struct file *add(struct dfs_scratch *s, const char *dir, const char *name)
{
	struct file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->dir = strdup(dir);
	f->name = strdup(name);
	if (!f->dir || !f->name) {
		file_free(f);
		return NULL;
	}
	touch(f);
	f->next = s->files;
	s->files = f;
	return f;
}

int dfs_scratch_create(struct dfs_scratch *s, const char *dir, const char *name)
{
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (*find(s, dir, name))
		rc = -EEXIST;
	else if (!add(s, dir, name))
		rc = -ENOMEM;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int dfs_scratch_stat(struct dfs_scratch *s, const char *dir, const char *name, size_t *size,
		     struct timespec *mtime)
{
	pthread_mutex_lock(&s->lock);
	struct file *f = *find(s, dir, name);
	if (f) {
		*size = f->len;
		*mtime = f->mtime;
	}
	pthread_mutex_unlock(&s->lock);
	return f ? 0 : -ENOENT;
}

int dfs_scratch_get(struct dfs_scratch *s, const char *dir, const char *name, uint8_t **data,
		    size_t *len)
{
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	struct file *f = *find(s, dir, name);
	if (!f) {
		rc = -ENOENT;
	} else {
		*data = malloc(f->len + 1);
		if (!*data) {
			rc = -ENOMEM;
		} else {
			if (f->len)
				memcpy(*data, f->data, f->len);
			*len = f->len;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int resize(struct file *f, size_t size)
{
	if (size > f->len) {
		uint8_t *p = realloc(f->data, size);
		if (!p)
			return -ENOMEM;
		memset(p + f->len, 0, size - f->len);
		f->data = p;
	}
	f->len = size;
	return 0;
}

int dfs_scratch_write(struct dfs_scratch *s, const char *dir, const char *name, off_t off,
		      const void *data, size_t len, size_t max)
{
	int rc = 0;

	if (off < 0 || (size_t)off > max || len > max - (size_t)off)
		return -EFBIG;
	pthread_mutex_lock(&s->lock);
	struct file *f = *find(s, dir, name);
	if (!f) {
		rc = -ENOENT;
	} else {
		size_t end = (size_t)off + len;
		if (end > f->len)
			rc = resize(f, end);
		if (rc == 0) {
			if (len)
				memcpy(f->data + off, data, len);
			touch(f);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int dfs_scratch_truncate(struct dfs_scratch *s, const char *dir, const char *name, size_t size,
			 size_t max)
{
	int rc;

	if (size > max)
		return -EFBIG;
	pthread_mutex_lock(&s->lock);
	struct file *f = *find(s, dir, name);
	rc = f ? resize(f, size) : -ENOENT;
	if (rc == 0)
		touch(f);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int dfs_scratch_put(struct dfs_scratch *s, const char *dir, const char *name,
		    const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len + 1);
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, data, len);
	pthread_mutex_lock(&s->lock);
	struct file *f = *find(s, dir, name);
	if (!f)
		f = add(s, dir, name);
	if (!f) {
		free(copy);
		rc = -ENOMEM;
	} else {
		free(f->data);
		f->data = copy;
		f->len = len;
		touch(f);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int dfs_scratch_rename(struct dfs_scratch *s, const char *dir, const char *name,
		       const char *newdir, const char *newname)
{
	char *d = strdup(newdir), *n = strdup(newname);
	int rc = 0;

	if (!d || !n) {
		free(d);
		free(n);
		return -ENOMEM;
	}
	pthread_mutex_lock(&s->lock);
	struct file **pp = find(s, dir, name);
	struct file *f = *pp;
	if (!f) {
		rc = -ENOENT;
		free(d);
		free(n);
	} else {
		struct file **old = find(s, newdir, newname);
		if (*old && *old != f) {
			struct file *o = *old;
			*old = o->next;
			file_free(o);
		}
		free(f->dir);
		free(f->name);
		f->dir = d;
		f->name = n;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int dfs_scratch_remove(struct dfs_scratch *s, const char *dir, const char *name)
{
	pthread_mutex_lock(&s->lock);
	struct file **pp = find(s, dir, name);
	struct file *f = *pp;
	if (f) {
		*pp = f->next;
		file_free(f);
	}
	pthread_mutex_unlock(&s->lock);
	return f ? 0 : -ENOENT;
}

void dfs_scratch_drop_dir(struct dfs_scratch *s, const char *dir)
{
	pthread_mutex_lock(&s->lock);
	struct file **pp = &s->files;
	while (*pp) {
		if (strcmp((*pp)->dir, dir) == 0) {
			struct file *f = *pp;
			*pp = f->next;
			file_free(f);
		} else {
			pp = &(*pp)->next;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

void dfs_scratch_list(struct dfs_scratch *s, const char *dir,
		      void (*fn)(const char *name, void *ctx), void *ctx)
{
	pthread_mutex_lock(&s->lock);
	for (struct file *f = s->files; f; f = f->next)
		if (strcmp(f->dir, dir) == 0)
			fn(f->name, ctx);
	pthread_mutex_unlock(&s->lock);
}
