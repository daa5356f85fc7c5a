// SPDX-License-Identifier: MIT
/*
 * powercut.c - test tool: the power cut after a kill -9. Reads the journal
 * that powershim.so wrote (see powercut.h) and takes back, newest first,
 * every change of a file under DIR made after that file's last fsync or
 * fdatasync, so that each file is as it was when last synced.
 *
 * usage: powercut JOURNAL DIR
 * Prints one line per file it changed and a total; exit status 1 on error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "powercut.h"

struct file {
	uint64_t dev, ino;
	char *path;
	uint64_t size;		/* before the cut */
	unsigned undone;	/* changes taken back */
};

static struct file *files;
static size_t nfiles, capfiles;

static int add_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	if (nfiles == capfiles) {
		capfiles = capfiles ? 2 * capfiles : 256;
		files = realloc(files, capfiles * sizeof(*files));
		if (!files)
			return -1;
	}
	files[nfiles++] = (struct file){ .dev = st->st_dev, .ino = st->st_ino,
					 .path = strdup(path), .size = (uint64_t)st->st_size };
	return 0;
}

static struct file *find_file(uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < nfiles; i++)
		if (files[i].dev == dev && files[i].ino == ino)
			return &files[i];
	return NULL;
}

/* Reads the whole journal into *buf; returns its length, or -1. */
static long read_journal(const char *path, char **buf)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0)
		goto fail;
	*buf = malloc((size_t)n + 1);
	if (!*buf || fread(*buf, 1, (size_t)n, f) != (size_t)n)
		goto fail;
	fclose(f);
	return n;
fail:
	fprintf(stderr, "powercut: %s: %s\n", path, strerror(errno));
	if (f)
		fclose(f);
	return -1;
}

/* The offsets of the whole records in the journal (a torn last one is left out). */
static size_t index_journal(const char *j, size_t n, size_t **offs)
{
	size_t at = 0, count = 0, cap = 0;

	*offs = NULL;
	while (at + sizeof(struct pj_rec) <= n) {
		struct pj_rec r;
		memcpy(&r, j + at, sizeof(r));
		if (r.magic != PJ_MAGIC || r.saved > n - at - sizeof(r))
			break;
		if (count == cap) {
			cap = cap ? 2 * cap : 1024;
			*offs = realloc(*offs, cap * sizeof(**offs));
			if (!*offs)
				abort();
		}
		(*offs)[count++] = at;
		at += sizeof(r) + r.saved;
	}
	if (at != n)
		fprintf(stderr, "powercut: %zu bytes at the end of the journal are not a whole record\n",
			n - at);
	return count;
}

/* Takes back one WRITE or TRUNC: the file's old size, then the bytes it replaced. */
static int undo(struct file *f, const struct pj_rec *r, const char *saved)
{
	int fd = open(f->path, O_WRONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0 || ftruncate(fd, (off_t)r->oldsize) < 0 ||
	    (r->saved && pwrite(fd, saved, r->saved, (off_t)r->off) != (ssize_t)r->saved)) {
		fprintf(stderr, "powercut: %s: %s\n", f->path, strerror(errno));
		rc = -1;
	}
	if (fd >= 0)
		close(fd);
	f->undone++;
	return rc;
}

struct seen {
	uint64_t dev, ino;
};

static bool settled(const struct seen *s, size_t n, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].dev == dev && s[i].ino == ino)
			return true;
	return false;
}

/* Walks the journal from its end back to the last sync of each file, undoing. */
static int cut(const char *j, const size_t *offs, size_t count, unsigned *gone)
{
	struct seen *s = NULL;
	size_t ns = 0;
	int rc = 0;

	for (size_t k = count; k-- > 0;) {
		struct pj_rec r;
		memcpy(&r, j + offs[k], sizeof(r));
		if (r.type == PJ_SYNCALL)
			break;
		if (settled(s, ns, r.dev, r.ino))
			continue;
		if (r.type == PJ_WRITE || r.type == PJ_TRUNC) {
			struct file *f = find_file(r.dev, r.ino);
			if (!f)
				(*gone)++;
			else if (undo(f, &r, j + offs[k] + sizeof(r)) < 0)
				rc = -1;
			continue;
		}
		/* SYNC, NEW or GONE: what came before is synced, or another file's */
		s = realloc(s, (ns + 1) * sizeof(*s));
		if (!s)
			abort();
		s[ns++] = (struct seen){ r.dev, r.ino };
	}
	free(s);
	return rc;
}

int main(int argc, char **argv)
{
	char *j = NULL;
	size_t *offs, count;
	unsigned gone = 0, changed = 0, total = 0;
	long n;

	if (argc != 3) {
		fprintf(stderr, "usage: powercut JOURNAL DIR\n");
		return 2;
	}
	if (nftw(argv[2], add_file, 64, FTW_PHYS) != 0) {
		fprintf(stderr, "powercut: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	n = read_journal(argv[1], &j);
	if (n < 0)
		return 1;
	count = index_journal(j, (size_t)n, &offs);
	int rc = cut(j, offs, count, &gone);
	for (size_t i = 0; i < nfiles; i++) {
		struct stat st;
		if (!files[i].undone || stat(files[i].path, &st) < 0)
			continue;
		printf("powercut: %s: %llu -> %llu bytes (%u unsynced changes taken back)\n",
		       files[i].path, (unsigned long long)files[i].size,
		       (unsigned long long)st.st_size, files[i].undone);
		changed++;
		total += files[i].undone;
	}
	printf("powercut: %zu records; %u unsynced changes taken back in %u files "
	       "(and %u of files since removed)\n", count, total, changed, gone);
	for (size_t i = 0; i < nfiles; i++)
		free(files[i].path);
	free(files);
	free(offs);
	free(j);
	return rc < 0 ? 1 : 0;
}
