// SPDX-License-Identifier: MIT
/* standalone.c - replays files through LLVMFuzzerTestOneInput when libFuzzer is not available */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/*
 * Reads a whole file into an exactly-sized buffer, so that a target reading
 * one byte too far trips a sanitizer when the replay is built with one.
 */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	long size;
	int rc = -1;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		fprintf(stderr, "%s: cannot size: %s\n", path, strerror(errno));
		goto out_close;
	}
	data = malloc(size ? (size_t)size : 1);
	if (!data) {
		fprintf(stderr, "%s: out of memory\n", path);
		goto out_close;
	}
	if (size && fread(data, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "%s: short read\n", path);
		goto out_free;
	}
	LLVMFuzzerTestOneInput(data, (size_t)size);
	rc = 0;
out_free:
	free(data);
out_close:
	fclose(f);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file directly inside dir, in name order, skipping dot-files. */
static int run_dir(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (!d) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **p = realloc(names, ncap * sizeof(*names));
			if (!p) {
				rc = -1;
				goto out_free;
			}
			names = p;
			cap = ncap;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = -1;
			goto out_free;
		}
		n++;
	}
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (run_file(path) < 0)
			rc = -1;
		else
			(*count)++;
	}
out_free:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	size_t count = 0;
	int failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			failed = 1;
		} else if (S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i], &count) < 0)
				failed = 1;
		} else if (run_file(argv[i]) < 0) {
			failed = 1;
		} else {
			count++;
		}
	}
	printf("%s: ran %zu inputs\n", argv[0], count);
	if (count == 0) {
		fprintf(stderr, "%s: no inputs found\n", argv[0]);
		failed = 1;
	}
	return failed;
}
