// SPDX-License-Identifier: MIT
/* addr.c - peer URLs, listen addresses and trust lists: what the user wrote (pure) */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/repl.h"
#include "dinemicfs/util.h"

/* HOST:PORT, HOST possibly [v6]; end marks where the port stops. */
static int split_host_port(const char *s, size_t n, char *host, size_t hostlen, int *port)
{
	const char *colon;
	const char *h = s;
	size_t hn;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close || close + 1 >= s + n || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hn = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = NULL;
		for (size_t i = n; i-- > 0;) {
			if (s[i] == ':') {
				colon = s + i;
				break;
			}
		}
		if (!colon)
			return -EINVAL;
		hn = (size_t)(colon - s);
		if (memchr(s, ':', hn))
			return -EINVAL;	/* a bare IPv6 address needs brackets */
	}
	if (hn >= hostlen || memchr(h, '\0', hn))
		return -EINVAL;
	memcpy(host, h, hn);
	host[hn] = '\0';

	const char *p = colon + 1;
	size_t pn = (size_t)(s + n - p);
	long v = 0;
	if (pn == 0 || pn > 5)
		return -EINVAL;
	for (size_t i = 0; i < pn; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EINVAL;
		v = v * 10 + (p[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -EINVAL;
	*port = (int)v;
	return 0;
}

int dfs_parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
	return split_host_port(s, strlen(s), host, hostlen, port);
}

/* #NODEID at the end of a peer URL: its 64 hex digits. */
static int parse_pin(const char *hash, struct dfs_peer_url *out)
{
	size_t n = strlen(hash + 1);

	if (n != 2 * DFS_PUBKEY_LEN || dfs_hex_decode(out->pin.b, DFS_PUBKEY_LEN, hash + 1, n) < 0)
		return -EINVAL;
	out->pinned = true;
	return 0;
}

int dfs_parse_peer_url(const char *url, struct dfs_peer_url *out)
{
	const char *hp;

	memset(out, 0, sizeof(*out));
	if (strncmp(url, "wss://", 6) == 0) {
		out->tls = true;
		hp = url + 6;
	} else if (strncmp(url, "ws://", 5) == 0) {
		hp = url + 5;
	} else {
		return -EINVAL;
	}
	const char *hash = strchr(hp, '#');
	size_t end = hash ? (size_t)(hash - hp) : strlen(hp);
	if (hash && parse_pin(hash, out) < 0)
		return -EINVAL;
	const char *slash = memchr(hp, '/', end);
	size_t hpn = slash ? (size_t)(slash - hp) : end;
	if (split_host_port(hp, hpn, out->host, sizeof(out->host), &out->port) < 0 ||
	    out->host[0] == '\0')
		return -EINVAL;
	const char *p = slash ? slash : "/";
	size_t pn = slash ? end - hpn : 1;
	if (pn >= sizeof(out->path))
		return -EINVAL;
	for (size_t i = 0; i < pn; i++)
		if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f)
			return -EINVAL;
	memcpy(out->path, p, pn);
	out->path[pn] = '\0';
	return 0;
}

/* One line of a trust list: 0 and *skip for a blank or comment line, 0 with out set, or -EINVAL. */
static int trust_line(const char *s, size_t n, struct dfs_pubkey *out, bool *skip)
{
	const char *hash = memchr(s, '#', n);

	if (hash)
		n = (size_t)(hash - s);	/* a comment runs to the end of the line */
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	*skip = n == 0;
	if (*skip)
		return 0;
	if (n != 2 * DFS_PUBKEY_LEN || dfs_hex_decode(out->b, DFS_PUBKEY_LEN, s, n) < 0)
		return -EINVAL;
	return 0;
}

int dfs_parse_trust(const char *text, size_t len, struct dfs_pubkey **ids, size_t *n,
		    unsigned *bad_line)
{
	struct dfs_pubkey *out = NULL;
	size_t cap = 0;
	unsigned line = 0;

	*ids = NULL;
	*n = 0;
	*bad_line = 0;
	for (size_t off = 0; off < len;) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t end = nl ? (size_t)(nl - text) : len;
		struct dfs_pubkey id;
		bool skip;
		line++;
		if (memchr(text + off, '\0', end - off) || trust_line(text + off, end - off, &id,
								       &skip) < 0) {
			free(out);
			*bad_line = line;
			return -EINVAL;
		}
		off = end + 1;
		if (skip)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			struct dfs_pubkey *more = realloc(out, cap * sizeof(*out));
			if (!more) {
				free(out);
				return -ENOMEM;
			}
			out = more;
		}
		out[(*n)++] = id;
	}
	*ids = out;
	return 0;
}
