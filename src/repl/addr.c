// SPDX-License-Identifier: MIT
/* addr.c - peer URLs and listen addresses from the command line (pure) */
#include <errno.h>
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
