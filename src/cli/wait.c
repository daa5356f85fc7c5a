// SPDX-License-Identifier: MIT
/*
 * wait.c - `dinemicfs wait MOUNTPOINT [--timeout SECONDS]`: returns once
 * every link that is up has acknowledged this node's log up to where it was
 * when the command started. Reads the mount only: .node/stats (log_head)
 * once, then .node/peers (the acked column) every POLL_MS.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dinemicfs/status.h"

#define DEFAULT_TIMEOUT_S 30.0
#define POLL_MS 20
#define MAX_WORDS 32

static void usage(FILE *out)
{
	fprintf(out, "usage: dinemicfs wait MOUNTPOINT [--timeout SECONDS]\n"
	       "\n"
	       "Waits until every peer whose link is up has acknowledged this node's log\n"
	       "up to its end at the moment of the call: each has stored (applied or\n"
	       "held) every update this node had then, its own and those it relays. Reads\n"
	       "log_head from MOUNTPOINT/.node/stats once, then the acked column of\n"
	       ".node/peers until every row in state up has acked >= it. A link that goes\n"
	       "down while waiting is no longer waited for; one that comes up is.\n"
	       "\n"
	       "    --timeout SECONDS  give up after this long (default 30; 0: look once)\n"
	       "\n"
	       "On a timeout prints one line per lagging link to stdout:\n"
	       "    lagging NODE acked N head H ADDRESS\n"
	       "\n"
	       "Exit status: 0 every link up has acknowledged (also when no link is up:\n"
	       "nothing to wait for, said on stderr), 1 timed out, or MOUNTPOINT is not a\n"
	       "dinemicfs mount or cannot be read, 2 usage error.\n");
}

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "dinemicfs: %s%s%s%s (see dinemicfs wait --help)\n", what,
		arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
	return 2;
}

static bool digits(const char *s, size_t n)
{
	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* log_head from .node/stats under mount; -1 (said why) when it cannot be read. */
static int read_head(const char *mount, unsigned long long *head)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/.node/stats", mount);
	char *stats = dfs_status_read_file(path);
	if (!stats) {
		if (errno == ENOENT || errno == ENOTDIR)
			fprintf(stderr, "dinemicfs: %s is not a dinemicfs mount (no .node/stats)\n",
				mount);
		else
			fprintf(stderr, "dinemicfs: %s: %s\n", path, strerror(errno));
		return -1;
	}
	const char *p = strstr(stats, "\nlog_head ");
	size_t n = p ? strspn(p + 10, "0123456789") : 0;
	bool ok = n > 0 && digits(p + 10, n) && (p[10 + n] == '\n' || !p[10 + n]);
	if (ok)
		*head = strtoull(p + 10, NULL, 10);
	else
		fprintf(stderr, "dinemicfs: %s has no log_head (a dinemicfs without wait?)\n", path);
	free(stats);
	return ok ? 0 : -1;
}

struct word {
	const char *p;
	size_t n;
};

static bool is(const struct word *w, const char *s)
{
	return w->n == strlen(s) && memcmp(w->p, s, w->n) == 0;
}

static bool is_state(const struct word *w)
{
	return is(w, "up") || is(w, "down") || is(w, "connecting") || is(w, "handshake");
}

static bool is_node(const struct word *w)
{
	if (is(w, "-"))
		return true;
	if (w->n != 16)
		return false;
	for (size_t i = 0; i < w->n; i++)
		if (!isxdigit((unsigned char)w->p[i]))
			return false;
	return true;
}

/* A row of .node/peers, the columns wait needs. */
struct row {
	char addr[160], node[24];
	bool up;
	unsigned long long acked;
};

static size_t split(const char *line, size_t len, struct word *w)
{
	const char *p = line, *end = line + len;
	size_t nw = 0;

	while (p < end && nw < MAX_WORDS) {
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (p == end)
			break;
		w[nw].p = p;
		while (p < end && !isspace((unsigned char)*p))
			p++;
		w[nw].n = (size_t)(p - w[nw].p);
		nw++;
	}
	return nw;
}

/*
 * ADDRESS STATE NODE CONTACT BEHIND AHEAD ACKED LINK ADMITTED ERROR, the
 * address perhaps with a blank, the contact "never" or "Ns ago". False
 * when the line is not such a row.
 */
static bool parse_row(const char *line, size_t len, struct row *r)
{
	struct word w[MAX_WORDS];
	size_t nw = split(line, len, w), i, k;

	for (i = 1; i + 1 < nw; i++)
		if (is_state(&w[i]) && is_node(&w[i + 1]))
			break;
	if (i + 1 >= nw)
		return false;
	snprintf(r->addr, sizeof(r->addr), "%.*s", (int)(w[i - 1].p + w[i - 1].n - w[0].p),
		 w[0].p);
	snprintf(r->node, sizeof(r->node), "%.*s", (int)w[i + 1].n, w[i + 1].p);
	r->up = is(&w[i], "up");
	k = i + 2;
	k += k < nw && is(&w[k], "never") ? 1 : 2;
	if (k + 3 > nw || !digits(w[k].p, w[k].n) || !digits(w[k + 1].p, w[k + 1].n) ||
	    !digits(w[k + 2].p, w[k + 2].n))
		return false;
	r->acked = strtoull(w[k + 2].p, NULL, 10);
	return true;
}

/*
 * Reads .node/peers once: *up gets the links up, *lagging those of them
 * below head (printed when say). 1: no peers at all; 0; -1: cannot read
 * (said why).
 */
static int look(const char *mount, unsigned long long head, bool say, size_t *up,
		size_t *lagging)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/.node/peers", mount);
	char *peers = dfs_status_read_file(path);
	if (!peers) {
		fprintf(stderr, "dinemicfs: %s: %s\n", path, strerror(errno));
		return -1;
	}
	int rc = strncmp(peers, "no peers", 8) == 0 ? 1 : 0;
	*up = *lagging = 0;
	for (const char *p = strchr(peers, '\n'); rc == 0 && p && p[1]; p = strchr(p + 1, '\n')) {
		struct row r;
		const char *line = p + 1;
		size_t len = strcspn(line, "\n");
		if (!parse_row(line, len, &r) || !r.up)
			continue;
		(*up)++;
		if (r.acked >= head)
			continue;
		(*lagging)++;
		if (say)
			printf("lagging %s acked %llu head %llu %s\n", r.node, r.acked, head, r.addr);
	}
	free(peers);
	return rc;
}

/* Polls until no link up lags behind head, or timeout seconds. The exit status. */
static int wait_for_acks(const char *mount, unsigned long long head, double timeout)
{
	double deadline = now_s() + timeout;
	size_t up, lagging;

	for (;;) {
		int rc = look(mount, head, false, &up, &lagging);
		if (rc < 0)
			return 1;
		if (rc > 0) {
			fprintf(stderr, "dinemicfs: %s has no peers (mounted without listen= or "
				"peer=): nothing to wait for\n", mount);
			return 0;
		}
		if (up == 0) {
			fprintf(stderr, "dinemicfs: no link of %s is up: nothing to wait for\n",
				mount);
			return 0;
		}
		if (lagging == 0)
			return 0;
		if (now_s() >= deadline)
			break;
		struct timespec ts = { 0, POLL_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "dinemicfs: after %g s, links of %s have not acknowledged its log up to "
		"%llu:\n", timeout, mount, head);
	if (look(mount, head, true, &up, &lagging) < 0)
		return 1;
	fflush(stdout);
	return 1;
}

/* SECONDS: a number >= 0, as strtod reads it; -1 when it is not. */
static double parse_seconds(const char *s)
{
	char *end;

	errno = 0;
	double v = strtod(s, &end);
	if (!s[0] || *end || errno || !isfinite(v) || v < 0 || v > 1e9)
		return -1;
	return v;
}

int dfs_wait_main(int argc, char **argv)
{
	const char *mount = NULL;
	double timeout = DEFAULT_TIMEOUT_S;
	bool opts = true;
	struct stat st;
	unsigned long long head;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (opts && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
			usage(stdout);
			return 0;
		}
		if (opts && strcmp(a, "--") == 0) {
			opts = false;
		} else if (opts && (strcmp(a, "--timeout") == 0 || strncmp(a, "--timeout=", 10) == 0)) {
			const char *v = a[9] == '=' ? a + 10 : i + 1 < argc ? argv[++i] : NULL;
			if (!v)
				return usage_error("--timeout needs SECONDS", NULL);
			if ((timeout = parse_seconds(v)) < 0)
				return usage_error("bad --timeout", v);
		} else if (opts && a[0] == '-' && a[1]) {
			return usage_error("unknown option", a);
		} else if (mount) {
			return usage_error("unexpected argument", a);
		} else {
			mount = a;
		}
	}
	if (!mount || !mount[0])
		return usage_error("missing MOUNTPOINT", NULL);
	if (stat(mount, &st) < 0) {
		fprintf(stderr, "dinemicfs: %s: %s\n", mount, strerror(errno));
		return 1;
	}
	if (read_head(mount, &head) < 0)
		return 1;
	return wait_for_acks(mount, head, timeout);
}
