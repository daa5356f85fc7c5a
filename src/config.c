// SPDX-License-Identifier: MIT
/* config.c - command line: one fuse_opt table into struct dfs_config, plus the positionals */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/actions.h"
#include "dinemicfs/config.h"
#include "dinemicfs/db.h"
#include "dinemicfs/log.h"
#include "dinemicfs/objref.h"
#include "dinemicfs/repl.h"
#include "dinemicfs/update.h"
#include "dinemicfs/util.h"

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_RO,
	KEY_PEER,
};

#define OPT(t, m) { t, offsetof(struct dfs_config, m), 1 }

static const struct fuse_opt opts[] = {
	OPT("max_value=%s", max_value_str),
	OPT("sync=%s", sync_str),
	OPT("log_level=%s", log_level_str),
	OPT("action_timeout=%s", action_timeout_str),
	OPT("max_skew=%s", max_skew_str),
	OPT("park_per_peer=%s", park_per_peer_str),
	OPT("link_queue=%s", link_queue_str),
	OPT("listener_queue=%s", listener_queue_str),
	OPT("clock_wait=%s", clock_wait_str),
	OPT("held_per_signer=%s", held_per_signer_str),
	OPT("held_max=%s", held_max_str),
	OPT("listen=%s", listen),
	OPT("network_key=%s", network_key_file),
	OPT("trust=%s", trust_file),
	{ "unencrypted_links", offsetof(struct dfs_config, unencrypted_links), 1 },
	OPT("policy=%s", policy_str),
	OPT("as=%s", as),
	FUSE_OPT_KEY("peer=", KEY_PEER),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("ro", KEY_RO),
	/* fstab's words for mount(8) and systemd; mount.fuse3 drops most, others may not. */
	FUSE_OPT_KEY("_netdev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noauto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("auto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nofail", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("users", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nouser", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("defaults", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_END
};

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct dfs_config *c = data;

	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (!c->state_dir) {
			c->state_dir = strdup(arg);
			return c->state_dir ? 0 : -1;
		}
		if (!c->mountpoint) {
			c->mountpoint = strdup(arg);
			return c->mountpoint ? 0 : -1;
		}
		free(c->extra_arg);
		c->extra_arg = strdup(arg);
		return -1;
	case KEY_HELP:
		c->show_help = 1;
		return 0;
	case KEY_VERSION:
		c->show_version = 1;
		return 0;
	case KEY_FOREGROUND:
		c->foreground = 1;
		return 0;
	case KEY_DEBUG:
		c->debug = 1;
		c->foreground = 1;
		return 1;	/* libfuse traces requests too */
	case KEY_RO:
		c->read_only = 1;
		return 1;	/* the kernel enforces it too */
	case KEY_PEER: {
		/* Repeatable: every peer= adds one. */
		char **peers = realloc(c->peers, (c->npeers + 1) * sizeof(*peers));
		if (!peers)
			return -1;
		c->peers = peers;
		c->peers[c->npeers] = strdup(arg + strlen("peer="));
		if (!c->peers[c->npeers])
			return -1;
		c->npeers++;
		return 0;
	}
	default:
		return 1;	/* libfuse's to judge */
	}
}

void dfs_config_init(struct dfs_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_value = DFS_DEFAULT_MAX_VALUE;
	c->sync_strict = 1;
	c->log_level = DFS_LOG_NOTICE;
	c->action_timeout_ms = 5000;
	c->max_skew_ms = DFS_DEFAULT_MAX_SKEW_MS;
	c->park_per_peer = DFS_REPL_PARK_PER_PEER;
	c->link_queue = DFS_REPL_LINK_QUEUE;
	c->listener_queue = DFS_RUNNER_QUEUE_BYTES;
	c->clock_wait = DFS_REPL_CLOCK_WAIT;
	c->held_per_signer = DFS_DB_HELD_PER_SIGNER;
	c->held_max = DFS_DB_HELD_MAX;
}

void dfs_config_release(struct dfs_config *c)
{
	free(c->state_dir);
	free(c->mountpoint);
	free(c->max_value_str);
	free(c->sync_str);
	free(c->log_level_str);
	free(c->action_timeout_str);
	free(c->max_skew_str);
	free(c->park_per_peer_str);
	free(c->link_queue_str);
	free(c->listener_queue_str);
	free(c->clock_wait_str);
	free(c->held_per_signer_str);
	free(c->held_max_str);
	free(c->extra_arg);
	free(c->listen);
	free(c->network_key_file);
	free(c->trust_file);
	free(c->policy_str);
	free(c->as);
	for (size_t i = 0; i < c->npeers; i++)
		free(c->peers[i]);
	free(c->peers);
	fuse_opt_free_args(&c->fuse_args);
	memset(c, 0, sizeof(*c));
}

/* A suffix of a number and what it multiplies by; "" is the bare number. */
struct unit {
	const char *suffix;
	unsigned long long mult;
};

/* A decimal number with one of units' suffixes, at most max after scaling. */
static int parse_scaled(const char *s, const struct unit *units, unsigned long long max,
			unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	for (; units->suffix; units++) {
		if (strcmp(end, units->suffix) != 0)
			continue;
		if (v > max / units->mult)
			return -EINVAL;
		*out = v * units->mult;
		return 0;
	}
	return -EINVAL;
}

int dfs_parse_size(const char *s, size_t *out)
{
	static const struct unit units[] = {
		{ "", 1 },	      { "k", 1ull << 10 }, { "K", 1ull << 10 }, { "m", 1ull << 20 },
		{ "M", 1ull << 20 }, { "g", 1ull << 30 }, { "G", 1ull << 30 }, { NULL, 0 },
	};
	unsigned long long v;
	int rc = parse_scaled(s, units, SIZE_MAX, &v);

	if (rc == 0)
		*out = (size_t)v;
	return rc;
}

int dfs_parse_duration_ms(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
		{ "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 }, { "h", 3600 * 1000 },
		{ NULL, 0 },
	};
	unsigned long long v;
	int rc = parse_scaled(s, units, UINT64_MAX, &v);

	if (rc == 0)
		*out = v;
	return rc;
}

/* -o max_skew: how far ahead of the wall clock a peer's update may be stamped. */
static int check_skew(struct dfs_config *c, char *err, size_t errlen)
{
	uint64_t ms;

	if (!c->max_skew_str)
		return 0;
	if (dfs_parse_duration_ms(c->max_skew_str, &ms) < 0 || ms > DFS_MAX_SKEW_MAX_MS) {
		snprintf(err, errlen, "max_skew must be milliseconds, or a number with s, m or "
			 "h, at most 24h, not '%s'", c->max_skew_str);
		return -EINVAL;
	}
	c->max_skew_ms = ms;
	return 0;
}

/*
 * -o park_per_peer: what one peer's updates waiting for a predecessor may
 * take; -o link_queue: what a link queues for the applier; -o
 * listener_queue: what after-listener jobs waiting to run may hold; -o
 * clock_wait: what updates stamped ahead may hold while they wait.
 */
/* A bound as the messages give it: 64M, 256K or 1. */
static void size_text(char *out, size_t n, size_t v)
{
	if (v >= (1u << 20) && v % (1u << 20) == 0)
		snprintf(out, n, "%zuM", v >> 20);
	else if (v >= 1024 && v % 1024 == 0)
		snprintf(out, n, "%zuK", v >> 10);
	else
		snprintf(out, n, "%zu", v);
}

static int check_repl_sizes(struct dfs_config *c, char *err, size_t errlen)
{
	const struct {
		const char *name, *str;
		size_t *out, min, max;
	} opts[] = {
		{ "park_per_peer", c->park_per_peer_str, &c->park_per_peer, 1, DFS_REPL_PARK_MAX },
		{ "link_queue", c->link_queue_str, &c->link_queue, DFS_REPL_LINK_QUEUE_MIN,
		  DFS_REPL_LINK_QUEUE_MAX },
		{ "listener_queue", c->listener_queue_str, &c->listener_queue,
		  DFS_RUNNER_QUEUE_MIN, DFS_RUNNER_QUEUE_MAX },
		{ "clock_wait", c->clock_wait_str, &c->clock_wait, DFS_REPL_CLOCK_WAIT_MIN,
		  DFS_REPL_CLOCK_WAIT_MAX },
	};

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		char lo[24], hi[24];
		size_t v;
		if (!opts[i].str)
			continue;
		if (dfs_parse_size(opts[i].str, &v) < 0 || v < opts[i].min || v > opts[i].max) {
			size_text(lo, sizeof(lo), opts[i].min);
			size_text(hi, sizeof(hi), opts[i].max);
			snprintf(err, errlen, "%s must be a size from %s to %s, not '%s'",
				 opts[i].name, lo, hi, opts[i].str);
			return -EINVAL;
		}
		*opts[i].out = v;
	}
	return 0;
}

/* -o held_per_signer, held_max: the quota of held updates, in bytes (0: none kept). */
static int check_held(struct dfs_config *c, char *err, size_t errlen)
{
	const char *names[] = { "held_per_signer", "held_max" };
	const char *strs[] = { c->held_per_signer_str, c->held_max_str };
	uint64_t *outs[] = { &c->held_per_signer, &c->held_max };

	for (int i = 0; i < 2; i++) {
		size_t v;
		if (!strs[i])
			continue;
		if (dfs_parse_size(strs[i], &v) < 0) {
			snprintf(err, errlen, "%s must be a size (K, M, G suffixes), not '%s'",
				 names[i], strs[i]);
			return -EINVAL;
		}
		*outs[i] = v;
	}
	return 0;
}

/* The sizes, modes and levels given as strings: parsed into their fields. */
static int check_settings(struct dfs_config *c, char *err, size_t errlen)
{
	if (c->max_value_str) {
		size_t v;
		if (dfs_parse_size(c->max_value_str, &v) < 0 || v == 0 ||
		    v > DFS_UPDATE_VALUE_MAX) {
			snprintf(err, errlen, "max_value must be a size from 1 to %uM, not '%s'",
				 DFS_UPDATE_VALUE_MAX >> 20, c->max_value_str);
			return -EINVAL;
		}
		c->max_value = v;
	}
	if (c->sync_str) {
		if (strcmp(c->sync_str, "strict") == 0) {
			c->sync_strict = 1;
		} else if (strcmp(c->sync_str, "relaxed") == 0) {
			c->sync_strict = 0;
		} else {
			snprintf(err, errlen, "sync must be strict or relaxed, not '%s'", c->sync_str);
			return -EINVAL;
		}
	}
	if (c->log_level_str) {
		int lvl = dfs_log_parse_level(c->log_level_str);
		if (lvl < 0) {
			snprintf(err, errlen,
				 "log_level must be err, warning, notice, info or debug, not '%s'",
				 c->log_level_str);
			return -EINVAL;
		}
		c->log_level = lvl;
	}
	if (c->action_timeout_str) {
		char *end;
		errno = 0;
		double secs = strtod(c->action_timeout_str, &end);
		if (errno || end == c->action_timeout_str || *end || !(secs > 0) || secs > 3600) {
			snprintf(err, errlen,
				 "action_timeout must be seconds from 0.001 to 3600, not '%s'",
				 c->action_timeout_str);
			return -EINVAL;
		}
		c->action_timeout_ms = secs * 1000 < 1 ? 1 : (int)(secs * 1000);
	}
	if (c->policy_str) {
		if (strcmp(c->policy_str, "strict") == 0) {
			c->policy_open = 0;
		} else if (strcmp(c->policy_str, "open") == 0) {
			c->policy_open = 1;
		} else {
			snprintf(err, errlen, "policy must be strict or open, not '%s'", c->policy_str);
			return -EINVAL;
		}
	}
	return 0;
}

/* The addresses and names: only checked, nothing is stored. */
static int check_addresses(struct dfs_config *c, char *err, size_t errlen)
{
	if (c->listen) {
		char host[128];
		int port;
		if (dfs_parse_listen(c->listen, host, sizeof(host), &port) < 0) {
			snprintf(err, errlen, "listen must be HOST:PORT, not '%s'", c->listen);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < c->npeers; i++) {
		struct dfs_peer_url u;
		if (dfs_parse_peer_url(c->peers[i], &u) < 0) {
			snprintf(err, errlen, "peer must be wss://HOST:PORT[#NODEID], not '%s'",
				 c->peers[i]);
			return -EINVAL;
		}
		if (u.tls && c->unencrypted_links) {
			snprintf(err, errlen, "unencrypted_links takes ws:// peers, not '%s'",
				 c->peers[i]);
			return -EINVAL;
		}
		if (!u.tls && !c->unencrypted_links) {
			snprintf(err, errlen, "peer '%s' is unencrypted: use wss://, or add "
				 "unencrypted_links on a closed test network", c->peers[i]);
			return -EINVAL;
		}
	}
	struct dfs_objref as;
	if (c->as && dfs_objref_parse(c->as, strlen(c->as), &as) < 0) {
		snprintf(err, errlen, "as must be MODEL/OBJECT or a key in hex, not '%s'", c->as);
		return -EINVAL;
	}
	if (c->network_key_file && !c->network_key_file[0]) {
		snprintf(err, errlen, "network_key needs a file name");
		return -EINVAL;
	}
	if (c->trust_file && !c->trust_file[0]) {
		snprintf(err, errlen, "trust needs a file name");
		return -EINVAL;
	}
	return 0;
}

int dfs_config_check(struct dfs_config *c, char *err, size_t errlen)
{
	int r = check_settings(c, err, errlen);
	if (r < 0)
		return r;
	r = check_skew(c, err, errlen);
	if (r < 0)
		return r;
	r = check_repl_sizes(c, err, errlen);
	if (r < 0)
		return r;
	r = check_held(c, err, errlen);
	if (r < 0)
		return r;
	r = check_addresses(c, err, errlen);
	if (r < 0)
		return r;
	if (c->debug)
		c->log_level = DFS_LOG_DEBUG;
	if (c->show_help || c->show_version)
		return 0;
	if (!c->state_dir || !c->mountpoint) {
		snprintf(err, errlen, "missing %s (usage: dinemicfs [options] STATE_DIR MOUNTPOINT)",
			 c->state_dir ? "MOUNTPOINT" : "STATE_DIR and MOUNTPOINT");
		return -EINVAL;
	}
	return 0;
}

int dfs_config_parse(struct dfs_config *c, int argc, char **argv, char *err, size_t errlen)
{
	struct fuse_args work = FUSE_ARGS_INIT(0, NULL);

	/* Parse a copy: fuse_opt_parse() rewrites its argument vector. */
	for (int i = 0; i < argc; i++) {
		if (fuse_opt_add_arg(&work, argv[i]) < 0) {
			fuse_opt_free_args(&work);
			return -ENOMEM;
		}
	}
	if (fuse_opt_parse(&work, c, opts, opt_proc) < 0) {
		if (c->extra_arg)
			snprintf(err, errlen, "unexpected argument '%s'", c->extra_arg);
		else
			snprintf(err, errlen, "cannot parse the command line");
		fuse_opt_free_args(&work);
		return -EINVAL;
	}
	fuse_opt_free_args(&c->fuse_args);
	c->fuse_args = work;
	return dfs_config_check(c, err, errlen);
}

/* The options that bound what peers and listeners make a node hold. */
static const char limits[] =
	"    -o clock_wait=SIZE     updates waiting for their time take at most SIZE\n"
	"                           of memory, one peer's half (default 8M, from 1M\n"
	"                           to 256M)\n"
	"    -o park_per_peer=SIZE  a peer's updates waiting for a predecessor take\n"
	"                           at most SIZE of memory (default 16M, at most 64M)\n"
	"    -o link_queue=SIZE     a link with SIZE of received updates waiting to\n"
	"                           be applied is not read until half of it is\n"
	"                           (default 8M, from 256K to 1G)\n"
	"    -o listener_queue=SIZE after-listener runs waiting hold at most SIZE\n"
	"                           of values, one peer's a quarter, all peers'\n"
	"                           three quarters (default 32M, from 1M to 1G)\n"
	"    -o held_per_signer=SIZE\n"
	"                           bytes of held (rejected) remote updates kept per\n"
	"                           signer; past it, its oldest go (default 16M)\n"
	"    -o held_max=SIZE       the same for all signers together (default 256M)\n";

void dfs_config_usage(const char *prog)
{
	printf("usage: %s [options] STATE_DIR MOUNTPOINT\n"
	       "       %s key export|import|list ...   (manage keys; see %s key --help)\n"
	       "       %s status MOUNTPOINT            (a running node's peers and counters)\n"
	       "       %s try [--append|--rm|--mkdir|--rmdir] PATH [VALUE]\n"
	       "                                         (would the listeners accept this change?)\n"
	       "       %s wait MOUNTPOINT [--timeout S] (until every peer up has this node's log)\n"
	       "\n"
	       "Shows a replicated, signed object database as files. See dinemicfs(1).\n"
	       "\n"
	       "general options:\n"
	       "    -h, --help             print this help and exit\n"
	       "    -V, --version          print the version and exit\n"
	       "    -f                     stay in the foreground\n"
	       "    -d, -o debug           debug output (implies -f)\n"
	       "    -o OPT[,OPT...]        mount options, below (also after the operands)\n"
	       "\n"
	       "dinemicfs options:\n"
	       "    -o max_value=SIZE      largest field value (default 1M; K, M, G suffixes)\n"
	       "    -o sync=strict|relaxed acknowledge writes once on disk (strict, default)\n"
	       "                           or once in the store's log (relaxed)\n"
	       "    -o log_level=LEVEL     err, warning, notice (default), info or debug\n"
	       "    -o action_timeout=SECS kill a listener after SECS seconds (default 5)\n"
	       "    -o max_skew=TIME       a peer's update stamped more than TIME ahead of\n"
	       "                           this node's clock waits until then (default 60s;\n"
	       "                           milliseconds, or s, m, h suffixes)\n"
	       "%s"
	       "    -o policy=strict|open  hold unauthorized remote updates (strict, default)\n"
	       "                           or let listeners judge them (open)\n"
	       "    -o as=MODEL/OBJECT     sign changes of objects this node does not own\n"
	       "                           as this object (its key must be here, or\n"
	       "                           give the key in hex)\n"
	       "    -o listen=HOST:PORT    serve peers on this address (TLS)\n"
	       "    -o peer=wss://HOST:PORT[#NODEID]\n"
	       "                           connect to a peer (repeatable); with #NODEID,\n"
	       "                           only the node with that id (64 hex digits)\n"
	       "    -o network_key=FILE    admit only peers holding the same 32-byte key\n"
	       "    -o trust=FILE          admit only the node ids listed in FILE\n"
	       "    -o unencrypted_links   plain ws:// links without TLS: anyone on the path\n"
	       "                           reads and alters them (closed test networks)\n"
	       "    -o ro                  mount read-only\n"
	       "\n"
	       "FUSE options (others: see mount.fuse3(8); default_permissions is always on):\n"
	       "    -o allow_other         let other users use the mount\n"
	       "\n"
	       "In /etc/fstab: STATE_DIR MOUNTPOINT fuse.dinemicfs OPT[,OPT...] 0 0\n",
	       prog, prog, prog, prog, prog, prog, limits);
}
