/* SPDX-License-Identifier: MIT */
/*
 * repl.h - replication: links to peers over WebSockets (libwebsockets).
 *
 * A node serves peers on -o listen=HOST:PORT and connects out to every
 * -o peer=wss://HOST:PORT[#NODEID], reconnecting with backoff. Links are
 * TLS 1.3 with each node's certificate made from its node key (tls.h);
 * plain ws:// only with -o unencrypted_links, which gives up secrecy and
 * integrity on the wire, for closed test networks. Each link speaks the
 * protocol of wire.h: a handshake that proves both node keys (and the
 * network key when one is set) inside this TLS session, then admission,
 * then each side streams its update log from where the other got to last
 * time, and goes on streaming as it grows.
 *
 * Admission: with -o network_key, a peer must prove the same key; with
 * -o trust=FILE, its node id must be in FILE (re-read when it changes); with
 * both, both; a peer pinned by #NODEID is trusted by its pin. A node with
 * neither admits any peer that completes the handshake, and says so. Before
 * admission a peer learns nothing of the store, nothing it sends is
 * stored, and it costs little: a few hundred bytes of buffer, a deadline,
 * and a limit on such connections in all and per address.
 *
 * Threads: one service thread owns every libwebsockets object; one applier
 * thread takes received updates off a bounded queue per link, serving the
 * links in turn a slice at a time (so one peer's flood, or a listener slow
 * to judge its updates, delays another's by one slice), and hands them to
 * the model (dblog.h), parking those whose predecessor has not arrived
 * (within a share per peer and a cap in all), and keeping those stamped
 * too far ahead (db.h, max_skew) until due. A link whose queue is full
 * stops being read (TCP backpressure), so a flooding peer cannot exhaust
 * memory, and a slow or absent peer never slows local writes: senders read
 * the log, they are not handed updates.
 */
#ifndef DINEMICFS_REPL_H
#define DINEMICFS_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/db.h"
#include "dinemicfs/keyring.h"

struct dfs_repl;

struct dfs_repl_opts {
	const char *listen;		/* "HOST:PORT" to serve on, or NULL */
	char *const *peers;		/* "wss://HOST:PORT[/path][#NODEID]" to connect to */
	size_t npeers;
	const uint8_t *network_key;	/* DFS_MAC_KEY_LEN bytes, or NULL */
	const char *trust_file;		/* node ids admitted, one a line, or NULL */
	bool unencrypted;		/* -o unencrypted_links: ws:// both ways */
	size_t park_per_peer;		/* -o park_per_peer: bytes; 0: DFS_REPL_PARK_PER_PEER */
	size_t link_queue;		/* -o link_queue: bytes; 0: DFS_REPL_LINK_QUEUE */
	size_t clock_wait;		/* -o clock_wait: bytes; 0: DFS_REPL_CLOCK_WAIT */
};

/* Received bytes a link queues for the applier before it is no longer read. */
#define DFS_REPL_LINK_QUEUE (8u << 20)
#define DFS_REPL_LINK_QUEUE_MIN (256u << 10)
#define DFS_REPL_LINK_QUEUE_MAX (1024u << 20)

/*
 * Of the updates waiting for a predecessor (32 MiB in all, or one share if
 * larger), what one peer's may take by default, and at most.
 */
#define DFS_REPL_PARK_PER_PEER (16u << 20)
/*
 * Updates stamped past max_skew wait for their time in memory: 1024 of them
 * and this many bytes by default (one peer's half of it), from _MIN to _MAX.
 */
#define DFS_REPL_CLOCK_WAIT (8u << 20)
#define DFS_REPL_CLOCK_WAIT_MIN (1u << 20)
#define DFS_REPL_CLOCK_WAIT_MAX (256u << 20)
#define DFS_REPL_PARK_MAX (64u << 20)

/* Counters since start; each is kept in an atomic and read without a lock. */
struct dfs_repl_stats {
	uint64_t received;		/* updates received from peers (known ones too) */
	uint64_t sent;			/* updates sent to peers, once per peer */
	uint64_t bytes_in, bytes_out;	/* WebSocket payload bytes */
	uint64_t parked;		/* updates waiting for a predecessor now */
	uint64_t parked_bytes;		/* and their bytes */
	uint64_t park_dropped;		/* updates dropped: their peer's share or the park full */
	uint64_t clock_waiting;		/* updates stamped past max_skew, waiting now */
	uint64_t clock_dropped;		/* of them, dropped: the wait full (among dropped) */
	uint64_t bad_frames;		/* malformed or refused messages and updates dropped */
	uint64_t dropped;		/* updates neither stored nor kept: malformed, badly
					 * signed, or no room to wait (park_dropped and more) */
	uint64_t paused;		/* times a link's queue was full and it was not read */
	uint64_t refused;		/* peers refused at the handshake */
	uint64_t over_limit;		/* connections closed past the limits before admission */
	uint64_t announced;		/* updates announced by hash (HAVE), once per peer */
	uint64_t duplicates;		/* full updates received that were stored already */
	uint64_t grafts;		/* announced updates asked for in full (GRAFT) */
	uint64_t grafted;		/* updates sent in full because a peer asked (among sent) */
	uint64_t prunes;		/* links pruned to HAVE after a duplicate (PRUNE sent) */
	uint64_t prunes_refused;	/* peers' PRUNEs of our oldest eager link, refused */
	uint64_t holes_over;		/* links closed: too many announced updates missing */
	uint64_t window_full;		/* links that waited for an ACK to send more of our log */
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

/* A peer's address, as -o peer= gives it. */
struct dfs_peer_url {
	bool tls;			/* wss:// (ws:// needs -o unencrypted_links) */
	char host[128];
	int port;
	char path[128];			/* "/" by default */
	bool pinned;			/* #NODEID: only the node with this key */
	struct dfs_pubkey pin;
};
/**
 * Parses "wss://HOST:PORT[/path][#NODEID]" or the same with ws://; NODEID
 * is 64 hex digits. Returns 0 or -EINVAL.
 */
int dfs_parse_peer_url(const char *url, struct dfs_peer_url *out);
/**
 * Parses a trust list: one node id (64 hex digits) a line, blanks around
 * it allowed; '#' starts a comment that runs to the end of the line, and
 * lines left empty are skipped. Sets
 * *ids (malloc'ed; NULL when there are none) and *n. Returns 0, -ENOMEM, or
 * -EINVAL with the first bad line's number (from 1) in *bad_line.
 */
int dfs_parse_trust(const char *text, size_t len, struct dfs_pubkey **ids, size_t *n,
		    unsigned *bad_line);
/** Parses "HOST:PORT" (or ":PORT", any address). Returns 0 or -EINVAL. */
int dfs_parse_listen(const char *s, char *host, size_t hostlen, int *port);

#endif
