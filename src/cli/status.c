// SPDX-License-Identifier: MIT
/* status.c - `dinemicfs status MOUNTPOINT`: a node's id, counters and peers as a table */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dinemicfs/status.h"

#define FILE_MAX (4u << 20)	/* .node/ files are small; a bound all the same */
#define ID_HEX 64
#define MAX_WORDS 32

static void usage(FILE *out)
{
	fprintf(out, "usage: dinemicfs status MOUNTPOINT\n"
	       "\n"
	       "Prints a running node's id, uptime, update counters, store size and one\n"
	       "row per link to a peer, read from MOUNTPOINT/.node/id, .node/stats and\n"
	       ".node/peers (scripts should read those files: their format is stable).\n"
	       "\n"
	       "    PEER          the peer's address; \"(in)\" for a link the peer opened\n"
	       "    STATE         connecting, handshake, up or down\n"
	       "    NODE          the first 16 hex digits of the peer's node id\n"
	       "    LAST CONTACT  when the peer last sent anything\n"
	       "    LAG           entries of this node's log not yet sent to the peer (to\n"
	       "                  send) and of the peer's log not yet applied here (to\n"
	       "                  receive); \"in sync\" when both are 0\n"
	       "    LINK          TLSv1.3 (or plain, with -o unencrypted_links) and how the\n"
	       "                  peer was admitted: key, trust, pin, open, trust+key or\n"
	       "                  pin+key; - while down\n"
	       "    ERROR         why the link last failed, or -\n"
	       "\n"
	       "Exit status: 0 printed, 1 MOUNTPOINT is not a dinemicfs mount or cannot\n"
	       "be read, 2 usage error.\n");
}

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "dinemicfs: %s%s%s%s (see dinemicfs status --help)\n", what,
		arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
	return 2;
}

char *dfs_status_read_file(const char *path)
{
	size_t cap = 4096, len = 0;
	char *buf = NULL;
	int err = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	buf = malloc(cap);
	if (!buf) {
		err = ENOMEM;
		goto out;
	}
	for (;;) {
		if (len + 1 == cap) {
			char *p = cap < FILE_MAX ? realloc(buf, 2 * cap) : NULL;
			if (!p) {
				err = cap < FILE_MAX ? ENOMEM : EFBIG;
				goto out;
			}
			buf = p;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
out:
	close(fd);
	if (err) {
		free(buf);
		errno = err;
		return NULL;
	}
	return buf;
}

/* The value of key in "key value" lines, into val (n bytes); false when absent. */
static bool stat_get(const char *stats, const char *key, char *val, size_t n)
{
	size_t klen = strlen(key);

	for (const char *p = stats; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == ' ') {
			size_t vlen = len - klen - 1;
			if (vlen >= n)
				vlen = n - 1;
			memcpy(val, p + klen + 1, vlen);
			val[vlen] = '\0';
			return true;
		}
		p = nl ? nl + 1 : NULL;
	}
	return false;
}

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* A counter from stats; false when absent or not a number. */
static bool stat_num(const char *stats, const char *key, unsigned long long *out)
{
	char v[32];

	if (!stats || !stat_get(stats, key, v, sizeof(v)) || !all_digits(v, strlen(v)))
		return false;
	*out = strtoull(v, NULL, 10);
	return true;
}

/* A counter as text, "?" when absent. */
static const char *num(const char *stats, const char *key, char *buf, size_t n)
{
	unsigned long long v;

	if (!stat_num(stats, key, &v))
		return "?";
	snprintf(buf, n, "%llu", v);
	return buf;
}

static void format_duration(char *out, size_t n, unsigned long long s)
{
	if (s >= 86400)
		snprintf(out, n, "%llud %02lluh %02llum", s / 86400, s % 86400 / 3600,
			 s % 3600 / 60);
	else if (s >= 3600)
		snprintf(out, n, "%lluh %02llum %02llus", s / 3600, s % 3600 / 60, s % 60);
	else if (s >= 60)
		snprintf(out, n, "%llum %02llus", s / 60, s % 60);
	else
		snprintf(out, n, "%llus", s);
}

static void format_bytes(char *out, size_t n, unsigned long long b)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	int u = -1;

	if (b < 1024) {
		snprintf(out, n, "%llu B", b);
		return;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(out, n, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void format_age(char *out, size_t n, unsigned long long s)
{
	if (s < 120)
		snprintf(out, n, "%llu s ago", s);
	else if (s < 2 * 3600)
		snprintf(out, n, "%llu min ago", s / 60);
	else if (s < 2 * 86400)
		snprintf(out, n, "%llu h ago", s / 3600);
	else
		snprintf(out, n, "%llu d ago", s / 86400);
}

/* ---- .node/peers ------------------------------------------------------------------ */

struct word {
	const char *p;
	size_t n;
};

struct row {
	char addr[160], state[16], node[24], contact[32], lag[64], link[24], error[128];
};

static bool word_is(const struct word *w, const char *s)
{
	return w->n == strlen(s) && memcmp(w->p, s, w->n) == 0;
}

static bool is_state(const struct word *w)
{
	return word_is(w, "up") || word_is(w, "down") || word_is(w, "connecting") ||
	       word_is(w, "handshake");
}

static bool is_node(const struct word *w)
{
	if (word_is(w, "-"))
		return true;
	if (w->n != 16)
		return false;
	for (size_t i = 0; i < w->n; i++)
		if (!isxdigit((unsigned char)w->p[i]))
			return false;
	return true;
}

/* The link column: "TLSv1.3", "plain", or "-" while down. */
static bool is_link(const struct word *w)
{
	return word_is(w, "-") || word_is(w, "plain") || (w->n > 3 && memcmp(w->p, "TLS", 3) == 0);
}

/* The admitted column: how the peer got in (repl.h), or "-". */
static bool is_admitted(const struct word *w)
{
	static const char *const hows[] = { "-", "key", "trust", "pin", "open", "trust+key",
					    "pin+key" };

	for (size_t i = 0; i < sizeof(hows) / sizeof(hows[0]); i++)
		if (word_is(w, hows[i]))
			return true;
	return false;
}

static void copy_span(char *out, size_t n, const char *from, const char *to)
{
	size_t len = (size_t)(to - from);

	if (len >= n)
		len = n - 1;
	memcpy(out, from, len);
	out[len] = '\0';
}

static void format_lag(struct row *r, unsigned long long behind, unsigned long long ahead)
{
	if (behind == 0 && ahead == 0)
		snprintf(r->lag, sizeof(r->lag), "in sync");
	else if (ahead == 0)
		snprintf(r->lag, sizeof(r->lag), "%llu to send", behind);
	else if (behind == 0)
		snprintf(r->lag, sizeof(r->lag), "%llu to receive", ahead);
	else
		snprintf(r->lag, sizeof(r->lag), "%llu to send, %llu to receive", behind, ahead);
}

/*
 * One line of .node/peers: ADDRESS STATE NODE CONTACT BEHIND AHEAD [ACKED]
 * LINK ADMITTED ERROR, where the address may hold a blank ("127.0.0.1 (in)"),
 * the contact is "never" or "Ns ago", and the error is the rest of the
 * line. The state and node columns anchor it. False when the line is not one.
 */
static bool parse_peer(const char *line, size_t len, struct row *r)
{
	struct word w[MAX_WORDS];
	const char *p = line, *end = line + len;
	size_t nw = 0, i, k;

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
	for (i = 1; i + 1 < nw; i++)
		if (is_state(&w[i]) && is_node(&w[i + 1]))
			break;
	if (i + 1 >= nw)
		return false;
	copy_span(r->addr, sizeof(r->addr), w[0].p, w[i - 1].p + w[i - 1].n);
	copy_span(r->state, sizeof(r->state), w[i].p, w[i].p + w[i].n);
	copy_span(r->node, sizeof(r->node), w[i + 1].p, w[i + 1].p + w[i + 1].n);
	k = i + 2;
	if (k < nw && word_is(&w[k], "never")) {
		snprintf(r->contact, sizeof(r->contact), "never");
		k++;
	} else if (k + 1 < nw && w[k].n > 1 && w[k].p[w[k].n - 1] == 's' &&
		   all_digits(w[k].p, w[k].n - 1) && word_is(&w[k + 1], "ago")) {
		format_age(r->contact, sizeof(r->contact), strtoull(w[k].p, NULL, 10));
		k += 2;
	} else {
		return false;
	}
	if (k + 2 > nw || !all_digits(w[k].p, w[k].n) || !all_digits(w[k + 1].p, w[k + 1].n))
		return false;
	format_lag(r, strtoull(w[k].p, NULL, 10), strtoull(w[k + 1].p, NULL, 10));
	k += 2;
	/* The acked column (not shown here); a node before it had none. */
	if (k + 1 < nw && all_digits(w[k].p, w[k].n) && is_link(&w[k + 1]))
		k++;
	snprintf(r->link, sizeof(r->link), "-");
	if (k + 1 < nw && is_link(&w[k]) && is_admitted(&w[k + 1])) {
		if (!word_is(&w[k], "-"))
			snprintf(r->link, sizeof(r->link), "%.*s%s%.*s", (int)w[k].n, w[k].p,
				 word_is(&w[k + 1], "-") ? "" : ", ",
				 word_is(&w[k + 1], "-") ? 0 : (int)w[k + 1].n, w[k + 1].p);
		k += 2;
	}
	if (k < nw) {
		const char *e = end;
		while (e > w[k].p && isspace((unsigned char)e[-1]))
			e--;
		copy_span(r->error, sizeof(r->error), w[k].p, e);
	} else {
		snprintf(r->error, sizeof(r->error), "-");
	}
	return true;
}

static size_t max_len(size_t a, const char *s)
{
	size_t n = strlen(s);

	return n > a ? n : a;
}

/* The peer rows as a table; lines that are not rows are printed as they are. */
static void render_peers(FILE *out, const char *peers, unsigned long long configured)
{
	struct row *rows = NULL;
	size_t nrows = 0, up = 0;
	size_t wa = strlen("PEER"), ws = strlen("STATE"), wn = strlen("NODE");
	size_t wc = strlen("LAST CONTACT"), wl = strlen("LAG"), wk = strlen("LINK");
	char other[8][200];
	size_t nother = 0;

	if (strncmp(peers, "no peers", 8) == 0) {
		fprintf(out, "peers    none (mounted without listen= or peer=)\n");
		return;
	}
	for (const char *p = peers; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		struct row r;
		bool header = p == peers;	/* "peer state node ..." */
		if (!header && len > 0 && parse_peer(p, len, &r)) {
			struct row *more = realloc(rows, (nrows + 1) * sizeof(*rows));
			if (!more)
				break;
			rows = more;
			rows[nrows++] = r;
			up += strcmp(r.state, "up") == 0;
			wa = max_len(wa, r.addr);
			ws = max_len(ws, r.state);
			wn = max_len(wn, r.node);
			wc = max_len(wc, r.contact);
			wl = max_len(wl, r.lag);
			wk = max_len(wk, r.link);
		} else if (!header && len > 0 && nother < 8) {
			copy_span(other[nother++], sizeof(other[0]), p, p + len);
		}
		p = nl ? nl + 1 : p + len;
	}
	fprintf(out, "peers    %zu of %zu link%s up, %llu peer%s configured\n", up, nrows,
		nrows == 1 ? "" : "s", configured, configured == 1 ? "" : "s");
	if (nrows > 0) {
		fprintf(out, "\n%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", (int)wa, "PEER",
			(int)ws, "STATE", (int)wn, "NODE", (int)wc, "LAST CONTACT", (int)wl, "LAG",
			(int)wk, "LINK", "ERROR");
		for (size_t i = 0; i < nrows; i++)
			fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", (int)wa,
				rows[i].addr, (int)ws, rows[i].state, (int)wn, rows[i].node,
				(int)wc, rows[i].contact, (int)wl, rows[i].lag, (int)wk,
				rows[i].link, rows[i].error);
	}
	for (size_t i = 0; i < nother; i++)
		fprintf(out, "%s\n", other[i]);
	free(rows);
}

/* ---- the summary ----------------------------------------------------------------- */

int dfs_status_render(FILE *out, const char *id, const char *stats, const char *peers)
{
	char a[32], b[32], c[32], d[32], e[32], f[32], text[512];
	unsigned long long v, errors, configured = 0;
	size_t n = strcspn(id, "\n");

	if (n != ID_HEX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)id[i]))
			return -EINVAL;
	fprintf(out, "node     %.*s\n", (int)n, id);
	fprintf(out, "pid      %s\n", num(stats, "pid", a, sizeof(a)));
	if (stat_num(stats, "uptime_seconds", &v))
		format_duration(text, sizeof(text), v);
	else
		snprintf(text, sizeof(text), "?");
	fprintf(out, "uptime   %s\n", text);
	fprintf(out, "updates  %s stored, %s applied (%s local, %s remote), %s rejected, %s dropped\n",
		num(stats, "updates_stored", a, sizeof(a)), num(stats, "updates_applied", b, sizeof(b)),
		num(stats, "updates_applied_local", c, sizeof(c)),
		num(stats, "updates_applied_remote", d, sizeof(d)),
		num(stats, "updates_rejected", e, sizeof(e)),
		num(stats, "updates_dropped", f, sizeof(f)));
	if (stat_num(stats, "store_bytes", &v))
		format_bytes(text, sizeof(text), v);
	else
		snprintf(text, sizeof(text), "?");
	fprintf(out, "store    %s\n", text);
	if (stat_num(stats, "bytes_out", &v) && v > 0) {
		format_bytes(a, sizeof(a), v);
		format_bytes(b, sizeof(b), stat_num(stats, "bytes_in", &v) ? v : 0);
		fprintf(out, "traffic  %s updates sent, %s received; %s out, %s in\n",
			num(stats, "updates_sent", c, sizeof(c)),
			num(stats, "updates_received", d, sizeof(d)), a, b);
	}
	if (!stat_num(stats, "errors_logged", &errors))
		fprintf(out, "errors   ?\n");
	else if (errors == 0)
		fprintf(out, "errors   none\n");
	else if (stat_get(stats, "last_error", text, sizeof(text)))
		fprintf(out, "errors   %llu, the last: %s\n", errors, text);
	else
		fprintf(out, "errors   %llu\n", errors);
	if (peers) {
		stat_num(stats, "peers_configured", &configured);
		render_peers(out, peers, configured);
	}
	return 0;
}

/* Reads .node/id, .node/stats and .node/peers under mount; on a failure says why
 * and returns -1, leaving what was read for the caller to free. */
static int read_node(const char *mount, char **id, char **stats, char **peers)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "%s/.node/id", mount) >= (int)sizeof(path)) {
		fprintf(stderr, "dinemicfs: %s: %s\n", mount, strerror(ENAMETOOLONG));
		return -1;
	}
	*id = dfs_status_read_file(path);
	if (!*id) {
		if (errno == ENOENT || errno == ENOTDIR)
			fprintf(stderr, "dinemicfs: %s is not a dinemicfs mount (no .node/id)\n",
				mount);
		else
			fprintf(stderr, "dinemicfs: %s: %s\n", path, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/.node/stats", mount);
	*stats = dfs_status_read_file(path);
	if (!*stats) {
		fprintf(stderr, "dinemicfs: %s: %s\n", path, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/.node/peers", mount);
	*peers = dfs_status_read_file(path);
	if (!*peers) {
		fprintf(stderr, "dinemicfs: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int dfs_status_main(int argc, char **argv)
{
	const char *mount = NULL;
	char *id = NULL, *stats = NULL, *peers = NULL;
	struct stat st;
	bool opts = true;
	int status = 1;

	for (int i = 1; i < argc; i++) {
		if (opts && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
			usage(stdout);
			return 0;
		}
		if (opts && strcmp(argv[i], "--") == 0) {
			opts = false;
			continue;
		}
		if (opts && argv[i][0] == '-' && argv[i][1])
			return usage_error("unknown option", argv[i]);
		if (mount)
			return usage_error("unexpected argument", argv[i]);
		mount = argv[i];
	}
	if (!mount || !mount[0])
		return usage_error("missing MOUNTPOINT", NULL);
	if (stat(mount, &st) < 0) {
		fprintf(stderr, "dinemicfs: %s: %s\n", mount, strerror(errno));
		return 1;
	}
	if (read_node(mount, &id, &stats, &peers) < 0)
		goto out;
	if (dfs_status_render(stdout, id, stats, peers) < 0) {
		fprintf(stderr, "dinemicfs: %s is not a dinemicfs mount (.node/id holds no node id)\n",
			mount);
		goto out;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "dinemicfs: writing the status: %s\n", strerror(errno));
		goto out;
	}
	status = 0;
out:
	free(peers);
	free(stats);
	free(id);
	return status;
}
