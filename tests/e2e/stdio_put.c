// SPDX-License-Identifier: MIT
/*
 * stdio_put.c - copies SRC to DST a line at a time through C stdio, as an
 * ordinary C program writes a file: fopen(DST, "w"), fputs per line,
 * fclose. Exits 1 with the failing call's strerror, fclose's included.
 *
 * usage: stdio_put SRC DST
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "stdio_put: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	char *line = NULL;
	size_t cap = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: stdio_put SRC DST\n");
		return 2;
	}
	FILE *in = fopen(argv[1], "r");
	if (!in)
		return fail("open", argv[1]);
	FILE *out = fopen(argv[2], "w");
	if (!out)
		return fail("open", argv[2]);
	while (getline(&line, &cap, in) > 0) {
		if (fputs(line, out) == EOF)
			return fail("write", argv[2]);
	}
	free(line);
	fclose(in);
	if (fclose(out) == EOF)
		return fail("close", argv[2]);
	return 0;
}
