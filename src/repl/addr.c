// SPDX-License-Identifier: MIT
/* addr.c - peer URLs and listen addresses from the command line (pure) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/repl.h"

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

int dfs_parse_peer_url(const char *url, char *host, size_t hostlen, int *port, char *path,
		       size_t pathlen)
{
	static const char scheme[] = "ws://";
	size_t n = strlen(url);

	if (n <= sizeof(scheme) - 1 || strncmp(url, scheme, sizeof(scheme) - 1) != 0)
		return -EINVAL;
	const char *hp = url + sizeof(scheme) - 1;
	const char *slash = strchr(hp, '/');
	size_t hpn = slash ? (size_t)(slash - hp) : strlen(hp);
	if (split_host_port(hp, hpn, host, hostlen, port) < 0 || host[0] == '\0')
		return -EINVAL;
	const char *p = slash ? slash : "/";
	size_t pn = strlen(p);
	if (pn >= pathlen)
		return -EINVAL;
	for (size_t i = 0; i < pn; i++)
		if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f)
			return -EINVAL;
	memcpy(path, p, pn + 1);
	return 0;
}
