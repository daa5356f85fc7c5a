/* SPDX-License-Identifier: MIT */
/*
 * wire.h - the replication protocol's messages (pure, bounds-checked).
 *
 * Nodes talk over one WebSocket per link, subprotocol "dinemicfs.2", over
 * TLS 1.3 (tls.h) unless both ends run with -o unencrypted_links. Every
 * WebSocket message is binary and holds exactly one protocol message: a
 * type byte, then its body. Integers are big-endian.
 *
 *   HELLO  'H'  version(1) = 5, flags(1), node id(32), nonce(32)
 *               flags bit 0: the sender uses a network key; others must be 0.
 *               node id: on a TLS link, the key of the sender's certificate.
 *   AUTH   'A'  signature(64), mac(32)
 *               signature: Ed25519 by the sender's node key over
 *               dfs_wire_proof(): this TLS session's exporter, which side
 *               the sender is, the receiver's nonce and both ids;
 *               mac: keyed BLAKE2b-256 of the same bytes under the network
 *               key, or zeros without one. A proof names one session, one
 *               direction and one pair of nodes, so it cannot be replayed
 *               or reflected into another link.
 *   LOG    'L'  head(8), log id(16), sent once the sender admitted the
 *               receiver: nothing about the store goes to a peer before.
 *               head: the last sequence number of the sender's update log.
 *               log id: random, named when the sender's store was made; a
 *               node whose log starts again (a new store, even under the
 *               same node id) has another, so a peer's saved place in the
 *               old log is not used for the new one.
 *   WANT   'W'  from(8): send me your log's updates after sequence from.
 *   UPDATES 'U' head(8), upto(8), then 0..DFS_WIRE_BATCH_MAX items of
 *               seq(8), length(4), one update record (update.h)
 *               seq: the item's place in the sender's log, increasing.
 *               upto: the sender's log is sent up to here (>= every seq;
 *               > 0). The sender leaves out updates that came to it over
 *               this same connection, so a message may have no items:
 *               it then only moves the receiver's place on.
 *   ACK    'K'  upto(8), taken(8): the receiver of UPDATES has stored
 *               (applied, held, or dropped as malformed) every update of
 *               the sender's log up to upto, and taken in every one up to
 *               taken (>= upto): stored, or kept waiting for a predecessor
 *               or for its time. upto is what the sender may count on (its
 *               peers' places, dinemicfs wait); taken is what its window
 *               of bytes in flight moves on, so that an update that waits
 *               does not stop the stream that brings what it waits for.
 *               Sent after it handled an UPDATES message, at most one per
 *               message and fewer when several were handled at once.
 *               Never more than the sender sent over this connection: a
 *               sender clamps a larger one to that (and counts it as a
 *               bad frame). Version 3 had no ACK; version 5's had no
 *               taken.
 *   HAVE   'I'  head(8), upto(8), then 0..DFS_WIRE_BATCH_MAX items of
 *               seq(8), hash(32): UPDATES over a lazy link, each update
 *               named by its hash instead of sent (same rules for seq and
 *               upto). The receiver's place moves past an item only once
 *               it stores that update, from any link.
 *   PRUNE  'P'  (no body): the sender had an update from this link twice;
 *               both sides then send each other HAVE, not UPDATES, unless
 *               the receiver answers with a GRAFT of no seq.
 *   GRAFT  'G'  0..DFS_WIRE_GRAFT_MAX seq(8), increasing, > 0: send these
 *               entries of your log in full (an UPDATES message whose upto
 *               is where the stream already is), and from now on UPDATES,
 *               not HAVE, both ways. With no seq it refuses a PRUNE: the
 *               link is the sender's oldest eager one, and the receiver
 *               does not prune it again over this connection. Version 4
 *               had no HAVE, PRUNE, GRAFT; version 5's GRAFT had a seq.
 *
 * A link: both sides send HELLO; each answers the other's HELLO with AUTH;
 * once a side has checked the other's AUTH and admitted it (repl.h) it
 * sends LOG; a side answers LOG with WANT and how far it got in the other's
 * log last time (0 when the log id differs); each side then streams its log
 * from there and goes on streaming as the log grows, relays included, and
 * acknowledges the other's log as it stores it (ACK; a WANT's from is the
 * first acknowledgement).
 * Receivers drop updates they already hold (by hash). A new link sends
 * UPDATES; a duplicate of a live update prunes it to HAVE, and a HAVE of an
 * update still missing after a while grafts it back (epidemic broadcast
 * trees), so in a mesh each update crosses about one link per node in full.
 * Anything else is a protocol error that ends the link.
 */
#ifndef DINEMICFS_WIRE_H
#define DINEMICFS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/keys.h"
#include "dinemicfs/update.h"

#define DFS_WIRE_PROTOCOL "dinemicfs.2"
#define DFS_WIRE_VERSION 6
#define DFS_WIRE_LOG_ID_LEN 16
#define DFS_WIRE_FLAG_NETKEY 0x01
#define DFS_WIRE_NONCE_LEN 32
#define DFS_WIRE_MAC_LEN 32
#define DFS_WIRE_BATCH_MAX 1024
#define DFS_WIRE_GRAFT_MAX 256
/* A batch is cut once it passes this many bytes; one record may exceed it. */
#define DFS_WIRE_BATCH_BYTES (256u * 1024)
#define DFS_WIRE_MSG_MAX (1 + 16 + 12 + DFS_UPDATE_MAX_LEN + DFS_WIRE_BATCH_BYTES)

enum dfs_msg_type {
	DFS_MSG_HELLO = 'H',
	DFS_MSG_AUTH = 'A',
	DFS_MSG_LOG = 'L',
	DFS_MSG_WANT = 'W',
	DFS_MSG_UPDATES = 'U',
	DFS_MSG_ACK = 'K',
	DFS_MSG_HAVE = 'I',
	DFS_MSG_PRUNE = 'P',
	DFS_MSG_GRAFT = 'G',
};

/* A decoded message; for UPDATES, items points into the decoded bytes. */
struct dfs_msg {
	uint8_t type;
	uint8_t version;			/* HELLO */
	uint8_t flags;				/* HELLO */
	struct dfs_pubkey node;			/* HELLO */
	uint8_t nonce[DFS_WIRE_NONCE_LEN];	/* HELLO */
	uint8_t log_id[DFS_WIRE_LOG_ID_LEN];	/* LOG */
	uint64_t seq;				/* LOG, UPDATES, HAVE: head; WANT: from; ACK: upto */
	uint64_t upto;				/* UPDATES, HAVE; ACK: taken */
	uint8_t sig[DFS_SIG_LEN];		/* AUTH */
	uint8_t mac[DFS_WIRE_MAC_LEN];		/* AUTH */
	const uint8_t *items;			/* UPDATES, HAVE, GRAFT: the items, checked */
	size_t items_len;
	size_t count;				/* UPDATES, HAVE, GRAFT: number of items */
};

/** Encodes a HELLO, AUTH, LOG, WANT, ACK or PRUNE message into out, reset first. */
int dfs_msg_encode(const struct dfs_msg *m, struct dfs_buf *out);

/** Starts an UPDATES message with the sender's head, resetting out. */
void dfs_msg_updates_begin(struct dfs_buf *out, uint64_t head);
/** Adds one item to an UPDATES message. */
void dfs_msg_updates_add(struct dfs_buf *out, uint64_t seq, const uint8_t *rec, size_t len);
/** Sets how far an UPDATES or HAVE message covers the sender's log; call before sending. */
void dfs_msg_updates_end(struct dfs_buf *out, uint64_t upto);
/** Starts a HAVE message with the sender's head, resetting out; ends with dfs_msg_updates_end(). */
void dfs_msg_have_begin(struct dfs_buf *out, uint64_t head);
/** Adds one item to a HAVE message. */
void dfs_msg_have_add(struct dfs_buf *out, uint64_t seq, const struct dfs_hash *hash);
/** Encodes a GRAFT of n (0..DFS_WIRE_GRAFT_MAX) increasing seqs; -EINVAL otherwise. */
int dfs_msg_graft_encode(struct dfs_buf *out, const uint64_t *seqs, size_t n);

/**
 * Parses one message. Returns 0, -EBADMSG (unknown type, wrong length, bad
 * flags, an UPDATES or HAVE message with too many items, sequence numbers
 * not increasing or past upto, or upto 0; a GRAFT of too many seqs, or
 * not increasing), -EPROTONOSUPPORT (a HELLO of
 * another version) or -E2BIG.
 * Update records inside are only framed here; dfs_update_decode() and the
 * database check them.
 */
int dfs_msg_decode(const uint8_t *p, size_t len, struct dfs_msg *m);

/** Iterates the items of a decoded UPDATES message; *off starts at 0. */
bool dfs_msg_next_item(const struct dfs_msg *m, size_t *off, uint64_t *seq, const uint8_t **rec,
		       size_t *len);
/** Iterates the items of a decoded HAVE message; *off starts at 0. */
bool dfs_msg_next_have(const struct dfs_msg *m, size_t *off, uint64_t *seq,
		       struct dfs_hash *hash);
/** The i-th seq (i < count) of a decoded GRAFT message. */
uint64_t dfs_msg_graft_seq(const struct dfs_msg *m, size_t i);

/* What one AUTH proves, and where: */
#define DFS_WIRE_SESSION_LEN 32
struct dfs_wire_bind {
	uint8_t session[DFS_WIRE_SESSION_LEN];	/* the TLS exporter; zeros unencrypted */
	bool prover_connected;			/* the prover opened the connection */
	uint8_t nonce[DFS_WIRE_NONCE_LEN];	/* from the verifier's HELLO */
	struct dfs_pubkey prover;
	struct dfs_pubkey verifier;
};

#define DFS_WIRE_PROOF_LEN (16 + DFS_WIRE_SESSION_LEN + 1 + DFS_WIRE_NONCE_LEN + 2 * DFS_PUBKEY_LEN)
/**
 * The bytes an AUTH signs and MACs: a tag, the session, the prover's side
 * ('C' connected, 'S' accepted), the nonce, the prover's id, the
 * verifier's id.
 */
void dfs_wire_proof(uint8_t out[DFS_WIRE_PROOF_LEN], const struct dfs_wire_bind *b);

#endif
