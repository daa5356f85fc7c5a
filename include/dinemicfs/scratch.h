/* SPDX-License-Identifier: MIT */
/*
 * scratch.h - node-local scratch files: editor swap files, sed's temporaries.
 *
 * Scratch files live in memory only, are never replicated and never become
 * fields by themselves; renaming one over a field commits its content. A
 * file is named by a directory key (a string naming the directory, chosen
 * by the caller) and its name. Sizes are bounded by the caller's limit.
 *
 * Threading: every function takes the table's lock.
 */
#ifndef DINEMICFS_SCRATCH_H
#define DINEMICFS_SCRATCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct dfs_scratch;

struct dfs_scratch *dfs_scratch_new(void);
void dfs_scratch_free(struct dfs_scratch *s);

/** Creates an empty file; -EEXIST when it exists. */
int dfs_scratch_create(struct dfs_scratch *s, const char *dir, const char *name);
/** Size and modification time of a file; -ENOENT when absent. */
int dfs_scratch_stat(struct dfs_scratch *s, const char *dir, const char *name, size_t *size,
		     struct timespec *mtime);
/** Copies the whole content into a malloc'ed buffer the caller frees. */
int dfs_scratch_get(struct dfs_scratch *s, const char *dir, const char *name, uint8_t **data,
		    size_t *len);
/** Writes at off, growing the file; -EFBIG past max. */
int dfs_scratch_write(struct dfs_scratch *s, const char *dir, const char *name, off_t off,
		      const void *data, size_t len, size_t max);
/** Sets the size, zero-filling; -EFBIG past max. */
int dfs_scratch_truncate(struct dfs_scratch *s, const char *dir, const char *name, size_t size,
			 size_t max);
/** Creates or replaces a file with a copy of data. */
int dfs_scratch_put(struct dfs_scratch *s, const char *dir, const char *name,
		    const uint8_t *data, size_t len);
/** Moves a file, replacing any at the new name. */
int dfs_scratch_rename(struct dfs_scratch *s, const char *dir, const char *name,
		       const char *newdir, const char *newname);
/** Removes a file; -ENOENT when absent. */
int dfs_scratch_remove(struct dfs_scratch *s, const char *dir, const char *name);
/** Removes every file of a directory. */
void dfs_scratch_drop_dir(struct dfs_scratch *s, const char *dir);
/** Calls fn with each file name of a directory. */
void dfs_scratch_list(struct dfs_scratch *s, const char *dir,
		      void (*fn)(const char *name, void *ctx), void *ctx);

#endif
