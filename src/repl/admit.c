// SPDX-License-Identifier: MIT
/* admit.c - who may become a peer: the trust list, admission, limits before it */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

#define TRUST_MAX (1u << 20)	/* bytes: some 15,000 ids */

/* The whole file, NUL-free or not (dfs_parse_trust() judges); NULL with errno. */
static char *slurp(FILE *f, size_t *len)
{
	char *text = malloc(TRUST_MAX + 1);

	if (!text)
		return NULL;
	*len = fread(text, 1, TRUST_MAX + 1, f);
	if (ferror(f) || *len > TRUST_MAX) {
		free(text);
		errno = ferror(f) ? EIO : EFBIG;
		return NULL;
	}
	return text;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* (Re)reads the trust list when it changed. Returns 0 or -errno, logging why. */
static int trust_reload(struct dfs_repl *r, int level)
{
	struct stat st;
	unsigned bad;
	size_t n;

	/* Looked at on every handshake: read only when it changed. */
	if (stat(r->trust_path, &st) == 0 && r->trust_loaded && same_file(&st, &r->trust_st))
		return 0;
	FILE *f = fopen(r->trust_path, "re");
	if (!f || fstat(fileno(f), &st) < 0) {
		int e = errno;
		dfs_log_errno(level, e, "replication: trust list %s", r->trust_path);
		if (f)
			fclose(f);
		return -e;
	}
	size_t len;
	char *text = slurp(f, &len);
	int e = errno;
	fclose(f);
	if (!text) {
		dfs_log_errno(level, e, "replication: trust list %s", r->trust_path);
		return -e;
	}
	struct dfs_pubkey *ids = NULL;
	int rc = dfs_parse_trust(text, len, &ids, &n, &bad);
	free(text);
	if (rc < 0) {
		if (bad)
			dfs_log(level, "replication: trust list %s, line %u: not a node id (64 hex digits)",
				r->trust_path, bad);
		else
			dfs_log_errno(level, -rc, "replication: trust list %s", r->trust_path);
		return rc;
	}
	free(r->trusted);
	r->trusted = ids;
	r->ntrusted = n;
	r->trust_st = st;
	r->trust_loaded = true;
	dfs_log(DFS_LOG_INFO, "replication: trust list %s: %zu node id%s", r->trust_path, n,
		n == 1 ? "" : "s");
	return 0;
}

int repl_trust_open(struct dfs_repl *r, const char *path)
{
	if (!path)
		return 0;
	r->trust_path = strdup(path);
	if (!r->trust_path)
		return -ENOMEM;
	return trust_reload(r, DFS_LOG_ERR);
}

void repl_trust_close(struct dfs_repl *r)
{
	free(r->trust_path);
	free(r->trusted);
	r->trust_path = NULL;
	r->trusted = NULL;
}

/* A list that became unreadable keeps its last good contents, and says so. */
static bool trusted(struct dfs_repl *r, const struct dfs_pubkey *id)
{
	trust_reload(r, DFS_LOG_WARNING);
	for (size_t i = 0; i < r->ntrusted; i++)
		if (memcmp(r->trusted[i].b, id->b, DFS_PUBKEY_LEN) == 0)
			return true;
	return false;
}

const char *repl_admit(struct dfs_repl *r, struct link *l, const char **how)
{
	bool pinned = l->outgoing && l->pinned;

	/* A pinned peer is trusted by its pin; the network key still applies. */
	if (r->trust_path && !pinned && !trusted(r, &l->peer))
		return "not in the trust list";
	if (r->has_netkey)
		*how = pinned ? "pin+key" : r->trust_path ? "trust+key" : "key";
	else
		*how = pinned ? "pin" : r->trust_path ? "trust" : "open";
	return NULL;
}

/*
 * The network an address belongs to: its /24 for IPv4 (also when mapped into
 * IPv6), its /64 for IPv6, so that one host's many addresses count as one.
 */
static void prefix_of(const char *ip, char *out, size_t n)
{
	uint8_t a[16];

	if (inet_pton(AF_INET, ip, a) == 1 ||
	    (strncmp(ip, "::ffff:", 7) == 0 && inet_pton(AF_INET, ip + 7, a) == 1)) {
		snprintf(out, n, "%u.%u.%u", a[0], a[1], a[2]);
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		snprintf(out, n, "%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64", a[0], a[1], a[2], a[3],
			 a[4], a[5], a[6], a[7]);
	} else {
		snprintf(out, n, "%s", ip);
	}
}

/* The oldest pending connection, of prefix when it is not NULL; -1 if none. */
static int oldest(const struct dfs_repl *r, const char *prefix, unsigned *count)
{
	int at = -1;

	*count = 0;
	for (size_t i = 0; i < r->npending; i++) {
		if (prefix && strcmp(r->pending[i].prefix, prefix) != 0)
			continue;
		(*count)++;
		if (at < 0 || r->pending[i].since_ms < r->pending[at].since_ms)
			at = (int)i;
	}
	return at;
}

static struct lws *pending_remove(struct dfs_repl *r, size_t i)
{
	struct lws *wsi = r->pending[i].wsi;

	r->pending[i] = r->pending[--r->npending];
	return wsi;
}

struct lws *repl_pending_add(struct dfs_repl *r, struct lws *wsi, const char *ip)
{
	char prefix[sizeof(r->pending[0].prefix)];
	struct lws *evict = NULL;
	unsigned n;

	prefix_of(ip, prefix, sizeof(prefix));
	int at = oldest(r, prefix, &n);
	if (n < PENDING_PER_ADDR)
		at = r->npending >= PENDING_MAX ? oldest(r, NULL, &n) : -1;
	if (at >= 0)
		evict = pending_remove(r, (size_t)at);
	struct repl_pending *p = &r->pending[r->npending++];
	p->wsi = wsi;
	p->since_ms = dfs_monotonic_ms();
	snprintf(p->prefix, sizeof(p->prefix), "%s", prefix);
	return evict;
}

bool repl_pending_drop(struct dfs_repl *r, const struct lws *wsi)
{
	for (size_t i = 0; i < r->npending; i++) {
		if (r->pending[i].wsi == wsi) {
			pending_remove(r, i);
			return true;
		}
	}
	return false;
}
