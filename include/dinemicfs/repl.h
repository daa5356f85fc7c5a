/* SPDX-License-Identifier: MIT */
/*
 * repl.h - replication: links to peers over WebSockets (libwebsockets).
 *
 * A node serves peers on -o listen=HOST:PORT and connects out to every
 * -o peer=ws://HOST:PORT, reconnecting with backoff. Each link speaks the
 * protocol of wire.h: a handshake that proves both node keys (and the
 * network key when one is set), then each side streams its update log from
 * where the other got to last time, and goes on streaming as it grows.
 *
 * Threads: one service thread owns every libwebsockets object; one applier
 * thread takes received updates off a bounded queue and hands them to
 * dfs_db_receive(), parking those whose predecessor has not arrived. A link
 * whose queue is full stops being read (TCP backpressure), so a flooding
 * peer cannot exhaust memory, and a slow or absent peer never slows local
 * writes: senders read the log, they are not handed updates.
 */
#ifndef DINEMICFS_REPL_H
#define DINEMICFS_REPL_H

#include <stddef.h>
#include <stdint.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/db.h"
#include "dinemicfs/keyring.h"

struct dfs_repl;

struct dfs_repl_opts {
	const char *listen;		/* "HOST:PORT" to serve on, or NULL */
	char *const *peers;		/* "ws://HOST:PORT[/path]" to connect to */
	size_t npeers;
	const uint8_t *network_key;	/* DFS_MAC_KEY_LEN bytes, or NULL */
};

/* Counters since start; each is kept in an atomic and read without a lock. */
struct dfs_repl_stats {
	uint64_t received;		/* updates received from peers (known ones too) */
	uint64_t sent;			/* updates sent to peers, once per peer */
	uint64_t bytes_in, bytes_out;	/* WebSocket payload bytes */
	uint64_t parked;		/* updates waiting for a predecessor now */
	uint64_t bad_frames;		/* malformed or refused messages and updates dropped */
	uint64_t dropped;		/* of those, updates: malformed or badly signed */
	unsigned peers_up;		/* links up now, outgoing and incoming */
	unsigned peers_configured;	/* -o peer= addresses */
};

/**
 * Starts serving and connecting. Borrows db and kr. Returns NULL and sets
 * errno (after logging why) when the listen address cannot be used.
 */
struct dfs_repl *dfs_repl_start(struct dfs_db *db, struct dfs_keyring *kr,
				const struct dfs_repl_opts *opts);
/** Closes every link and stops the threads. Accepts NULL. */
void dfs_repl_stop(struct dfs_repl *r);

/** Tells the links that the log grew; any thread, cheap. */
void dfs_repl_log_grew(struct dfs_repl *r);

/** Writes the .node/peers table: one line per link. */
int dfs_repl_peers_text(struct dfs_repl *r, struct dfs_buf *out);
/** Reads the counters; any thread, takes no lock. */
void dfs_repl_get_stats(struct dfs_repl *r, struct dfs_repl_stats *out);

/**
 * Parses "ws://HOST:PORT[/path]" (the default path is "/"). host and path
 * get NUL-terminated copies. Returns 0 or -EINVAL.
 */
int dfs_parse_peer_url(const char *url, char *host, size_t hostlen, int *port, char *path,
		       size_t pathlen);
/** Parses "HOST:PORT" (or ":PORT", any address). Returns 0 or -EINVAL. */
int dfs_parse_listen(const char *s, char *host, size_t hostlen, int *port);

#endif
