// SPDX-License-Identifier: MIT
/* trycmd.c - `dinemicfs try`: a dry run of a change, asked of the node through .node/try */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/trycmd.h"
#include "dinemicfs/tryreq.h"

#define STDIN_MAX (16u << 20)	/* the largest max_value a node takes */
#define ANSWER_MAX (4u << 20)	/* a bound on what the node answers */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: dinemicfs try [-n] PATH [VALUE]           as echo VALUE > PATH\n"
		"       dinemicfs try --append [-n] PATH [VALUE]  as echo VALUE >> PATH\n"
		"       dinemicfs try --rm PATH                   as rm PATH\n"
		"       dinemicfs try --mkdir PATH                as mkdir PATH (MODEL/OBJECT)\n"
		"       dinemicfs try --rmdir PATH                as rmdir PATH (MODEL/OBJECT)\n"
		"\n"
		"Asks the running node that serves PATH whether its listeners (.actions/)\n"
		"would accept the change, without making it: the same listeners, in the\n"
		"same order, with the same stdin and environment as the real change, plus\n"
		"DINEMIC_DRYRUN=1. Nothing is stored, sent or logged.\n"
		"\n"
		"VALUE is written followed by a newline, as echo writes it (-n: without);\n"
		"without VALUE, the value is what stdin holds, byte for byte.\n"
		"\n"
		"Prints one line per listener, in the order they would run:\n"
		"    accept|reject|skip  HOOK  LISTENER[: REASON]\n"
		"(skip: not run, the real change stops at the first rejection), then\n"
		"\"accepted\", \"rejected by LISTENER: REASON\", or \"refused (ERRNO): WHY\"\n"
		"where a rule of the node refuses the change first (or after the listeners).\n"
		"\n"
		"Exit status: 0 the change would be accepted, 1 it would be rejected or\n"
		"refused, 2 usage error, or the node could not be asked.\n");
}

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "dinemicfs: %s%s%s%s (see dinemicfs try --help)\n", what,
		arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
	return 2;
}

/* ---- the answer -------------------------------------------------------------- */

/* Splits line at tabs into at most max fields, in place; returns how many. */
static int fields(char *line, char **f, int max)
{
	int n = 0;

	for (char *p = line, *t; n < max && p; p = t) {
		t = n + 1 < max ? strchr(p, '\t') : NULL;
		if (t)
			*t++ = '\0';
		f[n++] = p;
	}
	return n;
}

struct verdict {
	int listeners;
	int status;		/* -1 until the last line */
	char first[2048];	/* the first rejection: LISTENER: REASON */
	char refused[600];	/* a rule's refusal: (ERRNO): WHY */
};

static void render_line(FILE *out, char *line, struct verdict *v)
{
	char *f[5];
	int n = fields(line, f, 5);

	if (n == 5 && strcmp(f[0], "listener") == 0) {
		bool said = f[4][0] != '\0';
		bool skip = strcmp(f[3], "skip") == 0;
		fprintf(out, "%-6s  %-22s  %s%s%s%s\n", f[3], f[1], f[2], said ? ": " : "",
			f[4], skip ? " (not run: the change stops at a rejection)" : "");
		v->listeners++;
		if (strcmp(f[3], "reject") == 0 && !v->first[0])
			snprintf(v->first, sizeof(v->first), "%s%s%s", f[2], said ? ": " : "",
				 f[4]);
	} else if (n == 3 && strcmp(f[0], "refused") == 0) {
		snprintf(v->refused, sizeof(v->refused), "(%s): %s", f[1], f[2]);
	} else if (n == 1 && (strcmp(f[0], "accept") == 0 || strcmp(f[0], "reject") == 0)) {
		v->status = strcmp(f[0], "accept") == 0 ? 0 : 1;
	} else if (n > 1 || f[0][0]) {
		fprintf(out, "%s\n", line);	/* from a newer node: shown as it is */
	}
}

int dfs_trycmd_render(FILE *out, const char *answer, size_t len)
{
	struct verdict v = { .status = -1 };
	char *copy = malloc(len + 1);

	if (!copy)
		return 2;
	memcpy(copy, answer, len);
	copy[len] = '\0';
	for (char *p = copy, *nl; p && *p; p = nl) {
		nl = strchr(p, '\n');
		if (nl)
			*nl++ = '\0';
		render_line(out, p, &v);
	}
	free(copy);
	if (v.refused[0])
		fprintf(out, "refused %s\n", v.refused);
	else if (v.status == 1 && v.first[0])
		fprintf(out, "rejected by %s\n", v.first);
	else if (v.status == 0)
		fprintf(out, "accepted%s\n", v.listeners ? "" : ": no listener judges this change");
	return v.status < 0 ? 2 : v.status;
}

/* ---- the path: the mount that serves it, and the path below it ----------------- */

/*
 * The deepest existing directory at or above path (a malloc'ed absolute
 * path, symlinks resolved), and what of path lies below it in *rest. NULL
 * with errno.
 */
static char *existing_dir(const char *path, const char **rest)
{
	size_t n = strlen(path);
	char *work = malloc(n + 2);
	struct stat st;

	if (!work)
		return NULL;
	while (n > 1 && path[n - 1] == '/')
		n--;
	size_t end = n;
	for (;;) {
		if (end == 0)
			strcpy(work, path[0] == '/' ? "/" : ".");
		else
			memcpy(work, path, end), work[end] = '\0';
		if (stat(work, &st) == 0 && S_ISDIR(st.st_mode))
			break;
		if (end == 0) {
			free(work);
			errno = ENOENT;
			return NULL;
		}
		while (end > 0 && path[end - 1] != '/')
			end--;
		while (end > 0 && path[end - 1] == '/')
			end--;
	}
	while (end < n && path[end] == '/')
		end++;
	*rest = path + end;
	char *real = realpath(work, NULL);
	free(work);
	return real;
}

/* How much of dir (absolute) names its mount's root: the highest directory on dir's file system. */
static int mount_root_len(const char *dir, size_t *len)
{
	struct stat st, up;
	char *work = strdup(dir);
	int rc = 0;

	if (!work)
		return -ENOMEM;
	*len = strlen(dir);
	if (stat(dir, &st) < 0)
		rc = -errno;
	while (rc == 0 && *len > 1) {
		char *slash = strrchr(work, '/');
		size_t at = (size_t)(slash - work);
		work[at ? at : 1] = '\0';
		if (stat(work, &up) < 0 || up.st_dev != st.st_dev)
			break;
		*len = at ? at : 1;
	}
	free(work);
	return rc;
}

/*
 * Finds the mount root of path (malloc'ed into *root) and path's place
 * below it (into rel, relsize bytes). Returns 0 or an exit status.
 */
static int locate(const char *path, char **root, char *rel, size_t relsize)
{
	const char *rest = "";
	char *dir = existing_dir(path, &rest);
	size_t rlen;

	if (!dir || mount_root_len(dir, &rlen) < 0) {
		free(dir);
		return usage_error("cannot resolve", path);
	}
	const char *below = dir + rlen + (dir[rlen] == '/');
	int n = snprintf(rel, relsize, "%s%s%s", below, *below && *rest ? "/" : "", rest);
	dir[rlen] = '\0';
	*root = dir;
	if (n < 0 || (size_t)n >= relsize) {
		free(dir);
		return usage_error("path too long:", path);
	}
	while (n > 0 && rel[n - 1] == '/')
		rel[--n] = '\0';
	return 0;
}

/* ---- the request --------------------------------------------------------------- */

struct args {
	enum dfs_try_op op;
	bool no_newline;	/* -n */
	const char *path;
	const char *value;	/* NULL: stdin, for set and append */
};

static int parse_args(int argc, char **argv, struct args *a)
{
	int i = 1;

	*a = (struct args){ .op = DFS_TRY_SET };
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *o = argv[i];
		if (strcmp(o, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0)
			return -1;
		if (strcmp(o, "-n") == 0)
			a->no_newline = true;
		else if (strcmp(o, "--append") == 0)
			a->op = DFS_TRY_APPEND;
		else if (strcmp(o, "--rm") == 0)
			a->op = DFS_TRY_DELETE;
		else if (strcmp(o, "--mkdir") == 0)
			a->op = DFS_TRY_CREATE;
		else if (strcmp(o, "--rmdir") == 0)
			a->op = DFS_TRY_REMOVE;
		else
			return usage_error("unknown option", o);
	}
	bool valued = a->op == DFS_TRY_SET || a->op == DFS_TRY_APPEND;
	if (i == argc)
		return usage_error("no PATH", NULL);
	a->path = argv[i++];
	if (i < argc && valued)
		a->value = argv[i++];
	if (i < argc)
		return usage_error("unexpected argument", argv[i]);
	if (a->no_newline && !valued)
		return usage_error("-n goes with a value", NULL);
	return 0;
}

/* Reads all of stdin into b, up to STDIN_MAX bytes and one more. */
static int read_stdin(struct dfs_buf *b)
{
	char tmp[65536];

	for (;;) {
		ssize_t n = read(0, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return dfs_buf_ok(b);
		dfs_buf_add(b, tmp, (size_t)n);
		if (b->len > STDIN_MAX)
			return -EFBIG;
	}
}

/* The whole request for a (header, then value) into req; 0 or an exit status. */
static int build_request(const struct args *a, const char *rel, struct dfs_buf *req)
{
	struct dfs_buf val;
	int rc = 0;

	dfs_buf_init(&val);
	if (a->value) {
		dfs_buf_add(&val, a->value, strlen(a->value));
		if (!a->no_newline)
			dfs_buf_add_u8(&val, '\n');
	} else if (a->op == DFS_TRY_SET || a->op == DFS_TRY_APPEND) {
		rc = read_stdin(&val);
	}
	if (rc == -EFBIG) {
		printf("refused (EFBIG): the value is over 16 MiB, more than any node takes\n");
		rc = 1;
	} else if (rc < 0) {
		fprintf(stderr, "dinemicfs: reading the value from stdin: %s\n", strerror(-rc));
		rc = 2;
	} else if (dfs_tryreq_format(req, a->op, rel, val.len) < 0) {
		bool object = a->op == DFS_TRY_CREATE || a->op == DFS_TRY_REMOVE;
		rc = usage_error(object ? "PATH must be an object, MODEL/OBJECT, in a mount (models "
					  "and dicts are not judged by listeners):"
					: "PATH must be a field, MODEL/OBJECT/FIELD or "
					  "MODEL/OBJECT/DICT/KEY, in a mount:",
				 a->path);
	} else {
		dfs_buf_add(req, val.data, val.len);
		rc = dfs_buf_ok(req) < 0 ? 2 : 0;
	}
	dfs_buf_release(&val);
	return rc;
}

/* Writes the request whole; 0, or -errno of the write that failed. */
static int send_request(int fd, const struct dfs_buf *req)
{
	for (size_t off = 0; off < req->len;) {
		ssize_t n = write(fd, req->data + off, req->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		off += (size_t)n;
	}
	return 0;
}

/* Reads the answer from offset 0 of the same open file. */
static int read_answer(int fd, struct dfs_buf *out)
{
	char tmp[65536];

	for (;;) {
		ssize_t n = pread(fd, tmp, sizeof(tmp), (off_t)out->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return dfs_buf_ok(out);
		dfs_buf_add(out, tmp, (size_t)n);
		if (out->len > ANSWER_MAX)
			return -EFBIG;
	}
}

/* What a failed open or write of .node/try means; the exit status. */
static int ask_failed(const char *root, const char *what, int err, size_t vlen)
{
	if (err == EFBIG) {
		printf("refused (EFBIG): a value of %zu bytes is over this node's max_value\n", vlen);
		return 1;
	}
	if (err == EROFS) {
		printf("refused (EROFS): the mount is read-only\n");
		return 1;
	}
	fprintf(stderr, "dinemicfs: %s %s/.node/try: %s\n", what, root, strerror(err));
	return 2;
}

/* Opens root's .node/try; the descriptor, or -(exit status) after saying why. */
static int open_try(const char *root, const char *path)
{
	char file[PATH_MAX];

	snprintf(file, sizeof(file), "%s/.node/try", strcmp(root, "/") == 0 ? "" : root);
	int fd = open(file, O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT) {
		fprintf(stderr, "dinemicfs: '%s' is not in a dinemicfs mount (%s has no .node/try; "
			"a node of an older version has no dry runs)\n", path, root);
		return -2;
	}
	return -ask_failed(root, "opening", errno, 0);
}

/* Sends the request on fd and prints the node's answer; the exit status. */
static int ask(int fd, const char *root, const struct dfs_buf *req)
{
	struct dfs_buf answer;
	/* The value's size, for a message: the request less its header line. */
	const uint8_t *nl = memchr(req->data, '\n', req->len);
	size_t vlen = nl ? req->len - (size_t)(nl + 1 - req->data) : 0;
	int rc = send_request(fd, req);

	if (rc < 0)
		return ask_failed(root, "writing to", -rc, vlen);
	dfs_buf_init(&answer);
	rc = read_answer(fd, &answer);
	if (rc < 0) {
		dfs_buf_release(&answer);
		return ask_failed(root, "reading", -rc, vlen);
	}
	rc = dfs_trycmd_render(stdout, (const char *)answer.data, answer.len);
	if (rc == 2)
		fprintf(stderr, "dinemicfs: %s/.node/try gave no verdict\n", root);
	dfs_buf_release(&answer);
	return rc;
}

int dfs_trycmd_main(int argc, char **argv)
{
	char rel[DFS_TRYREQ_PATH_MAX + 2];
	struct dfs_buf req;
	char *root = NULL;
	struct args a;
	int rc = parse_args(argc, argv, &a);

	if (rc < 0) {
		usage(stdout);
		return 0;
	}
	if (rc > 0)
		return rc;
	rc = locate(a.path, &root, rel, sizeof(rel));
	if (rc > 0)
		return rc;
	int fd = open_try(root, a.path);
	if (fd < 0) {
		free(root);
		return -fd;
	}
	dfs_buf_init(&req);
	rc = build_request(&a, rel, &req);
	if (rc == 0)
		rc = ask(fd, root, &req);
	close(fd);
	dfs_buf_release(&req);
	free(root);
	return rc;
}
