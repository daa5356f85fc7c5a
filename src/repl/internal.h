/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the files of src/repl share: the replicator's state,
 * one link per connection, the receive queue, and the calls between files.
 *
 * The files, bottom first; each calls only the ones before it:
 *
 *   admit.c   who may become a peer: the trust list, how a peer was
 *             admitted, and the limits on connections not admitted yet.
 *   net.c     the only includer of libwebsockets.h: the context, its
 *             callback and service thread, connect and backoff, fragment
 *             reassembly, and repl_net_* for the files above. It calls up
 *             into link.c only through r->on, the table of handlers that
 *             repl.c fills in (the Redis ae.c pattern), so the folder stays
 *             a DAG. Nothing here exposes a libwebsockets type: struct lws
 *             and struct lws_context are only named, and the reconnect
 *             timer is net.c's own struct repl_net_timer.
 *   outbox.c  our log to a peer: batches, and the runs of entries that came
 *             in over a connection, which are not echoed back over it.
 *   stream.c  the reader thread, which reads those batches ahead for each
 *             link, live ones first and catch-ups in turn a step at a time,
 *             and the writing of a batch in pieces.
 *   park.c    updates that cannot be applied yet: those waiting for a
 *             predecessor (a share per peer, and a cap in all) and those
 *             waiting for their time; what is let go is counted.
 *   inbox.c   a peer's updates into the model: a queue per link, served in
 *             turn a slice at a time, checker threads, the applier thread,
 *             cursors.
 *   tree.c    epidemic broadcast trees: which links send in full and which
 *             send hashes (HAVE), PRUNE on a duplicate, GRAFT of what was
 *             announced and is still missing, the holes that hold a link's
 *             place in its peer's log before such an update.
 *   link.c    one connection's protocol: HELLO, AUTH, LOG, WANT, UPDATES,
 *             ACK; link up and down. Its repl_link_* are the handlers of r->on.
 *   repl.c    start and stop, .node/peers and .node/stats.
 *
 * Threads: the service thread (net.c's repl_net_service_main) owns every
 * libwebsockets object, so every handler of r->on and everything in link.c
 * runs on it, as do a link's handshake and receive fields. The reader
 * thread (stream.c) reads our log for the links, off the service thread. The applier
 * thread (inbox.c) owns the parking table (park.c) and each link's message
 * being applied. Checker threads only verify signatures. Fields that more
 * than one thread reads say what protects them: r->lock guards the links'
 * shown state, the queues and the sessions; r->runs_lock the runs; counters
 * are atomics, read without a lock.
 */
#ifndef DINEMICFS_REPL_INTERNAL_H
#define DINEMICFS_REPL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/db.h"
#include "dinemicfs/dblog.h"
#include "dinemicfs/keys.h"
#include "dinemicfs/repl.h"
#include "dinemicfs/tls.h"
#include "dinemicfs/util.h"
#include "dinemicfs/wire.h"

/*
 * Received bytes a link may have queued before it is no longer read
 * (-o link_queue, r->queue_max): a message that arrives is queued whole, so
 * a link holds at most this plus one message (DFS_WIRE_MSG_MAX) queued, and
 * one more being reassembled. Reading resumes below half of it.
 */
#define LINK_QUEUE_MAX DFS_REPL_LINK_QUEUE
#define PAUSE_LOG_MS 10000		/* links paused are logged at most this often */
#define PARK_BYTES_MAX (32u << 20)	/* updates waiting for a predecessor, in all */
#define PARK_PER_PEER DFS_REPL_PARK_PER_PEER	/* and from one peer: -o park_per_peer */
#define PARK_BUCKETS 4096
#define SHARE_BUCKETS 64		/* peers with updates waiting, by their id */
#define PARK_LOG_MS 10000		/* drops past a share are logged at most this often */
#define CLOCK_WAIT_MAX 1024		/* updates stamped past max_skew, waiting for their time */
#define CLOCK_WAIT_BYTES DFS_REPL_CLOCK_WAIT	/* and their bytes: -o clock_wait */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CURSOR_SAVE_MS 1000
#define MAX_CHECKERS 3			/* threads that verify signatures */
#define CHECK_AHEAD 8			/* messages checked ahead of the applier, at most */
/*
 * The applier serves the links with messages in turn. While another link
 * waits, a turn ends after SLICE_MAX updates or SLICE_MS, whichever comes
 * first (and after one update at least): so no link waits for another's
 * burst longer than that, or than one update's judgement.
 */
#define SLICE_MAX 64
#define SLICE_MS 5
/*
 * A turn also ends once its updates hold GROUP_BYTES_MAX until they are
 * written (values, and old ones kept for listeners): so what one turn
 * queues for the after-listeners is bounded too. A link whose peer's
 * share of that queue is full waits for its turn, polled every
 * ROOM_POLL_MS, while the others go on (actions.h, dfs_runner_room()).
 */
#define GROUP_BYTES_MAX (8u << 20)
#define ROOM_POLL_MS 10
/* The origin (struct dfs_change) of released updates; a peer's has the top bit set. */
#define ORIGIN_RELEASED 1
/*
 * A message is part of a catch-up when it is a batch of BULK_BEHIND updates
 * or more, when its sender is that far ahead, or when that many more wait
 * behind it on its link: updates, not bytes, so that a few big ones (values
 * over max_value, relayed) make no catch-up. Even then a turn's changes go
 * without an event each only when it applied BULK_APPLIED or more: held,
 * known and waiting updates change nothing a watcher sees.
 */
#define BULK_BEHIND 256
#define BULK_APPLIED 32
#define RUNS_MAX 4096			/* runs of log entries whose connection is known */
/*
 * Our log to the peers (stream.c). The reader thread reads a batch ahead
 * for each link that asks: a link at most STREAM_LIVE entries behind first,
 * the others (catch-ups) in turn, STREAM_STEP bytes of records at a time,
 * so that a catch-up delays a live update by one step at most. The service
 * thread writes a batch in pieces of STREAM_PIECE bytes, one per writable
 * callback, so that a big one (a 2 MiB value) does not hold up the other
 * connections for longer than one piece each.
 */
/*
 * What a link may have sent and not had acknowledged: twice the link queue
 * (-o link_queue), in bytes, in at most STREAM_WIN_MAX messages. A
 * connection starts with STREAM_WIN_START bytes (and the message that
 * passes it), and each byte acknowledged adds one, up to that bound, as
 * TCP's slow start does: an honest peer acknowledges as it takes our log
 * in, so its window doubles every round trip; a peer that never
 * acknowledges (a new key asking for our whole log on every connection)
 * gets the first STREAM_WIN_START and no more, so it cannot make us read
 * and send our log over and over for the price of a handshake.
 */
#define STREAM_WIN_MAX 64
#define STREAM_WIN_START (256u * 1024)
#define STREAM_LIVE 64
#define STREAM_STEP (64u * 1024)
#define STREAM_PIECE (64u * 1024)
/*
 * Before a peer is admitted it costs little. An inbound connection is
 * pending from its accept (before TLS) until its link is up; past these
 * counts the oldest pending one of the same network goes, or the oldest of
 * all, so a flood displaces itself rather than the peers that come after.
 */
#define PENDING_MAX 64			/* inbound connections pending, in all */
#define PENDING_PER_ADDR 8		/* and from one network (a /24 or a /64) */
#define HANDSHAKE_SECS 10		/* from the WebSocket's opening to the link up */
#define SETUP_SECS 5			/* for each of TCP-to-TLS and TLS-to-WebSocket */
#define HANDSHAKE_LATE "no handshake within 10 s"
#define PRE_ADMIT_MSG_MAX 256		/* the largest message before admission (AUTH: 97) */
/*
 * The tree (tree.c). A lazy link's HAVEs wait up to HAVE_DELAY_MS to be
 * batched; an announced update not stored within GRAFT_MS is grafted (at
 * once when no link is eager), asked again every GRAFT_RETRY_MS, and from
 * one announcer at a time. What one peer can make us keep is bounded:
 * HOLES_MAX announced updates missing (past it the link is closed and
 * catches up in full when it comes back), GRAFT_IN_MAX of its grafts to
 * answer (past it they are dropped and counted).
 */
#define HAVE_DELAY_MS 20
#define GRAFT_MS 300
#define GRAFT_RETRY_MS 1000
#define TREE_TICK_MS 10
#define HOLES_MAX 8192
#define GRAFT_IN_MAX 4096
#define GRAFT_RECENT 1024		/* hashes grafted lately, to ask one announcer only */

_Static_assert(DFS_WIRE_LOG_ID_LEN == DFS_DB_LOG_ID_LEN, "a log id is a log id");

/*
 * A log line a peer can make repeat (a bad frame, a bad update): at most
 * RATELOG_BURST of them in RATELOG_MS, the rest counted and said by the
 * next one logged, so that a peer cannot push the rest out of .node/log.
 * One thread uses one.
 */
#define RATELOG_BURST 10
#define RATELOG_MS 10000
struct repl_ratelog {
	uint64_t start_ms;		/* this window's; 0: none yet */
	unsigned n;			/* lines logged in it */
	unsigned long long skipped;	/* lines not logged since the last one */
};

/* libwebsockets' types, named only: net.c alone sees inside them. */
struct lws;
struct lws_context;
/* A link's reconnect timer, net.c's. */
struct repl_net_timer;

enum link_state { LINK_DOWN, LINK_CONNECTING, LINK_HANDSHAKE, LINK_UP };

/*
 * Where a link is in the applier's round: nothing to apply, waiting its turn
 * on r->ready, or being served. A link on r->ready or being served holds a
 * reference to itself for it.
 */
enum link_turn { TURN_IDLE, TURN_READY, TURN_SERVED };

struct inmsg;

/* The message a link's turns are applying, and how far they got. */
struct inwork {
	struct inmsg *m;		/* NULL: none begun */
	bool begun;			/* msg decoded, bulk decided */
	bool stuck;			/* an update of it is not stored, nor waiting */
	bool parked;			/* an update of it waits in the park */
	uint64_t park_dropped;		/* r->dropped before its first park */
	bool bulk;			/* a catch-up: dfs_db_group_bulk() */
	struct dfs_msg msg;
	size_t off, n;			/* the next item: its offset, its index */
};

/* A batch of our log for a link, being read or read (outbox.c, stream.c). */
struct repl_batch {
	struct dfs_buf msg;		/* an UPDATES or HAVE message */
	uint64_t from, upto;		/* the entries after from, up to upto */
	uint32_t session;		/* the connection it is for: no echoes of it */
	bool have;			/* hashes (a lazy link), not records */
	int err;			/* < 0: the read failed */
	size_t n, bytes;		/* entries, and their records' bytes */
};

/* Where a link's read-ahead batch is (stream.c). */
enum { RD_NONE, RD_QUEUED, RD_READING, RD_READY };

/* Control messages a link still has to send, in this order. */
enum { SEND_HELLO = 1, SEND_AUTH = 2, SEND_LOG = 4, SEND_WANT = 8 };

struct repl_pending {
	struct lws *wsi;
	uint64_t since_ms;		/* dfs_monotonic_ms() at accept */
	char prefix[48];
};

/* What the connection under a link proved, from net.c when it opened. */
struct repl_session {
	bool tls;				/* false: -o unencrypted_links */
	uint8_t exporter[DFS_WIRE_SESSION_LEN];	/* zeros without TLS */
	struct dfs_pubkey id;			/* the peer certificate's key (TLS) */
	char version[12];			/* "TLSv1.3", or "plain" */
};

struct link {
	struct dfs_repl *r;
	struct link *next;		/* r->links */
	struct lws *wsi;		/* NULL while down */
	int refs;			/* the list, the connection, queued messages */
	bool outgoing;			/* a configured peer: kept and reconnected */
	char addr[160];
	char host[128], path[128];
	int port;
	bool tls;			/* outgoing: wss:// */
	bool pinned;			/* outgoing, with #ID: that node only */
	struct dfs_pubkey pin;
	char ip[64];			/* incoming: the peer's address */
	enum link_state state;
	uint32_t session;		/* this connection; under r->lock */
	int backoff_ms;
	struct repl_net_timer *timer;	/* reconnect timer; outgoing links only, else NULL */
	char last_error[96];

	/* Handshake. */
	unsigned to_send;
	uint8_t nonce[DFS_WIRE_NONCE_LEN];
	uint8_t peer_nonce[DFS_WIRE_NONCE_LEN];
	bool got_hello, authed, got_log, got_want;
	bool close_now;			/* the handshake cannot start: close */
	bool close_after_hello;		/* a plain peer of a TLS node: tell it, then close */
	bool tls_refused;		/* we refused the server's certificate; last_error says why */
	struct dfs_pubkey peer;
	uint8_t peer_log[DFS_WIRE_LOG_ID_LEN];
	struct repl_session sess;
	uint64_t deadline_ms;		/* dfs_monotonic_ms() by which to be admitted */
	const char *admitted;		/* how (admit.c), shown; under r->lock */

	/* Streams; counters shown in .node/peers under r->lock. */
	bool sending;			/* the peer sent WANT */
	uint64_t sent_upto;		/* our log, sent up to here */
	uint64_t peer_head;		/* its log, as it last said */
	uint64_t recv_upto;		/* its log, processed up to here, not past a park */
	uint64_t recv_done;		/* its log, processed up to here, parks and all */
	uint64_t acked;			/* our log, stored by the peer up to here (ACK) */
	uint64_t taken;			/* our log, taken in by the peer up to here (ACK) */
	uint64_t ack_sent;		/* its log, acknowledged up to here; service thread */
	uint64_t taken_sent;		/* its log, said taken in up to here; service thread */
	bool recv_stuck;		/* something parked: recv_upto (the cursor) stays */
	bool recv_lost;			/* ... or lost: it stays until a reconnect */
	uint64_t park_dropped;		/* r->dropped before this link's first park */
	atomic_llong last_contact;	/* time(NULL) of the last bytes received; 0: never */

	/* The tree (tree.c); service thread only unless said. */
	bool lazy;			/* our log goes to the peer as HAVE, not UPDATES */
	bool pruned;			/* we told the peer, or it told us, to send HAVE */
	bool prune_due;			/* a PRUNE to send */
	bool keep_due;			/* a refusal of the peer's PRUNE to send (a GRAFT of none) */
	bool kept;			/* the peer refused our PRUNE: not pruned again */
	uint64_t have_since_ms;		/* lazy: when entries began waiting for a HAVE; 0: none */
	atomic_bool dup_seen;		/* the applier met a live update twice from this link */
	uint64_t *graft_in;		/* entries the peer grafted, to send in full */
	size_t ngraft_in;
	uint64_t *graft_out;		/* entries to graft from the peer */
	size_t ngraft_out;
	struct hole *holes;		/* announced, not stored yet, by seq; under r->lock */
	size_t nholes, holes_cap;

	/* Receiving: one message, reassembled from fragments. */
	struct dfs_buf rx;
	bool rx_drop;			/* oversized: swallow the rest */
	bool rx_paused;

	/* Its messages not yet applied (inbox.c); under r->lock. */
	size_t queued;			/* their bytes, the one being applied too */
	size_t queued_n;		/* and their updates */
	struct inmsg *qhead, *qtail;	/* waiting for the applier, oldest first */
	struct inmsg *qcheck;		/* the first of them not yet being checked */
	unsigned ahead;			/* of them, checked or being checked */
	enum link_turn turn;
	struct link *ready_next;	/* r->ready */
	struct inwork work;		/* applier thread only */

	/*
	 * Our log read ahead (stream.c): the reader thread's while RD_QUEUED
	 * or RD_READING, else the service thread's; rd_state and rd_next
	 * under r->lock. Queued or being read, the link holds a reference.
	 */
	int rd_state;
	bool rd_live;			/* queued as live */
	struct link *rd_next;		/* r->rd_live or r->rd_bulk */
	struct repl_batch rd;
	/* The message being written in pieces; service thread only. */
	struct dfs_buf wr;
	size_t wr_off;			/* < wr.len: a message is part written */
	/* Messages sent and not acknowledged yet, oldest first; service thread only. */
	struct { uint64_t upto; size_t bytes; } win[STREAM_WIN_MAX];
	size_t win_start, win_n, win_bytes;
	size_t win_limit;		/* bytes it may have in flight now (slow start) */
	bool win_full;			/* waits for an ACK */
};

/* Signatures of a message's updates are checked ahead of the applier. */
enum { CHECK_QUEUED, CHECK_RUNNING, CHECK_DONE };
/* Zeroed results are VERDICT_NONE: not checked, so the applier verifies them. */
enum { VERDICT_NONE, VERDICT_NEW, VERDICT_KNOWN, VERDICT_BAD };

struct checked {
	uint8_t verdict;		/* VERDICT_* */
	struct dfs_db_checked c;	/* for VERDICT_NEW */
};

struct inmsg {
	struct inmsg *next;
	struct link *link;		/* holds a reference */
	uint32_t session;		/* the link's connection it came over */
	struct dfs_pubkey from;		/* the peer that sent it: its share of the park */
	int check;			/* CHECK_*, under r->lock */
	size_t count;			/* updates in it */
	struct checked *checked;	/* per update, once checked; NULL: not checked (no memory) */
	size_t len;
	uint8_t data[];
};

/*
 * Log entries that came in over one connection, a run of sequence numbers.
 * They are not sent back over it: the peer has them.
 */
struct run {
	uint64_t first, last;
	uint32_t session;
};

/* An entry of the peer's log it announced (HAVE) that is not stored here yet. */
struct hole {
	uint64_t seq;
	struct dfs_hash hash;
	uint64_t since_ms;		/* when announced */
	uint64_t graft_ms;		/* when last grafted; 0: never */
};

/*
 * A received update that cannot be applied yet: parked for a predecessor
 * (wait is its hash, or a model id), or waiting for its time (wait is the
 * update's own hash, due when its clock is within max_skew).
 */
struct parked {
	struct parked *next;
	struct dfs_hash wait;
	struct dfs_hash hash;		/* the update's own */
	struct dfs_pubkey from;		/* the peer it came from, whose share it takes */
	uint64_t due;			/* dfs_monotonic_ms() when due; 0: parked */
	size_t len;
	uint8_t rec[];
};

/* What one peer's parked and released updates take of the park. */
struct park_share {
	struct park_share *next;
	struct dfs_pubkey peer;
	size_t bytes, count;
	struct parked *rel_head, *rel_tail;	/* released, oldest first */
	struct park_share *rel_next;		/* r->rel_ring */
	bool rel_listed;			/* on r->rel_ring */
	bool gone;				/* no link left: its parked updates may go */
	bool evict;				/* chosen to go now (evict_gone()) */
	uint64_t born;				/* r->shares_born when it was made */
};

/*
 * What net.c calls up into, on the service thread; repl.c fills it in with
 * link.c's handlers. A link passed in is one net.c was handed: an outgoing
 * link's own, or one that accepted returned.
 */
struct repl_net_handlers {
	/* A peer connected to us, from ip: its new link, up; NULL closes it. */
	struct link *(*accepted)(struct dfs_repl *r, struct lws *wsi, const char *ip);
	/* Our connection to l's peer is open. */
	void (*up)(struct link *l, struct lws *wsi);
	/* Our connection to l's peer failed; why may be NULL. */
	void (*failed)(struct link *l, const char *why);
	/* l's connection closed; lws hands l back no more. */
	void (*closed)(struct link *l);
	/* l may write one message; < 0 closes the connection. */
	int (*writable)(struct link *l);
	/* A whole message from l's peer; < 0 closes the connection. */
	int (*message)(struct link *l, const uint8_t *p, size_t len);
	/* A message from l's peer was dropped (what says why). */
	void (*bad_frame)(struct link *l, const char *what);
	/* After a wake-up, and when the tick timer (repl_net_tick_in) is due. */
	void (*tick)(struct dfs_repl *r);
};

struct dfs_repl {
	struct dfs_db *db;
	struct dfs_keyring *kr;
	bool has_netkey;
	uint8_t netkey[DFS_MAC_KEY_LEN];
	bool plain;			/* -o unencrypted_links: no TLS, either way */
	struct dfs_tls_cert *cert;	/* this node's; NULL when plain */
	void *client_ctx;		/* the SSL_CTX of our connections out */
	/* The trust list (admit.c); service thread only once started. */
	char *trust_path;
	struct dfs_pubkey *trusted;
	size_t ntrusted;
	struct stat trust_st;
	bool trust_loaded;
	struct lws_context *ctx;
	const struct repl_net_handlers *on;	/* set before the context exists */
	pthread_t service, applier;
	pthread_t checkers[MAX_CHECKERS];
	int ncheckers;
	atomic_bool stopping;
	atomic_bool log_grew;
	atomic_bool rx_wake;		/* the applier freed queue room */

	pthread_mutex_t lock;		/* links' shown state, the queues, stats */
	pthread_cond_t queue_cond;
	struct link *links;
	struct link *ready, *ready_tail;	/* links waiting their turn, in turn */
	struct link *served;			/* the link being served, or NULL */
	struct link waiters;			/* released updates' place in the round */
	atomic_uint nready;			/* how many; read without the lock */
	unsigned ahead;			/* messages checked or being checked, not yet taken */
	bool no_room;			/* a ready link waits for listeners' room (inbox.c) */
	size_t queue_max;		/* a link's queue: -o link_queue */
	uint64_t pause_logged_ms;	/* service thread only: when a pause was last logged */
	struct repl_ratelog bad_frame_log;	/* service thread only */
	struct repl_ratelog bad_update_log;	/* applier thread only */

	/* The park (park.c); applier thread only. */
	struct parked *park[PARK_BUCKETS];
	size_t park_bytes, park_count;
	size_t park_max, park_per_peer;		/* in all, and per peer */
	size_t clock_wait_max;			/* bytes waiting for their time: -o clock_wait */
	struct park_share *shares[SHARE_BUCKETS];
	uint64_t shares_born;		/* shares made so far: their age */
	struct park_share *rel_ring, *rel_tail;	/* shares with released updates, in turn */
	uint64_t park_logged_ms;		/* when drops were last logged; 0: never */
	unsigned long long park_unlogged;	/* drops since */
	struct parked *clock_wait;		/* the soonest due first */
	size_t clock_wait_bytes, clock_wait_count;
	uint32_t sessions;			/* under lock */

	/* The latest RUNS_MAX runs, oldest first, in a ring. */
	pthread_mutex_t runs_lock;
	struct run runs[RUNS_MAX];
	size_t runs_start, runs_n;

	/* Counters for .node/stats: atomics, so that no lock is taken to count. */
	atomic_ullong received, sent, bytes_in, bytes_out, parked, bad_frames, dropped;
	atomic_ullong parked_bytes, park_dropped, clock_waiting, paused;
	atomic_ullong park_let_go;	/* of park_dropped: their peer had no link left */
	atomic_ullong clock_dropped;	/* updates waiting for their time that gave way */
	uint64_t clock_logged_ms;	/* when such drops were last logged; 0: never */
	uint64_t clock_unlogged;	/* and how many since; applier thread */
	atomic_ullong refused, over_limit;
	atomic_ullong announced, duplicates, grafts, grafted, prunes, prunes_refused, holes_over;

	/* The tree's timer and what was grafted lately (tree.c); service thread only. */
	struct repl_net_timer *tick;
	uint64_t tick_due_ms;		/* when the timer fires; 0: not set */
	struct { struct dfs_hash hash; uint64_t ms; } recent[GRAFT_RECENT];

	/* Inbound connections not yet up (admit.c); service thread only. */
	struct repl_pending pending[PENDING_MAX];
	size_t npending;
	atomic_uint peers_up;
	unsigned peers_configured;	/* set before the threads start */

	/* The reader thread (stream.c); its queues under lock. */
	pthread_t reader;
	bool reader_started;
	pthread_cond_t rd_cond;
	struct link *rd_live, *rd_live_tail;	/* links near our log's head, first */
	struct link *rd_bulk, *rd_bulk_tail;	/* catch-ups, in turn */
	atomic_bool rd_wake;		/* batches read: the links may write */
	atomic_ullong window_full;	/* links that waited for an ACK to send more */
	uint64_t window_logged_ms;	/* service thread only */

	struct dfs_buf tx;		/* service thread only */
};

/* A peer's place in its log, as saved; see inbox.c. */
struct cursor_save {
	struct dfs_pubkey peer;
	uint8_t log[DFS_WIRE_LOG_ID_LEN];
	uint64_t seq;
};

/* ---- net.c: libwebsockets ---------------------------------------------------------- */

/* A reconnect timer for the outgoing link l, or NULL (no memory). */
struct repl_net_timer *repl_net_timer_new(struct link *l);
/* Accepts NULL. Only once the context is gone, or the timer never ran. */
void repl_net_timer_free(struct repl_net_timer *t);
/*
 * Creates r->ctx, listening on iface:port when listen is set, and schedules
 * the first connect of every link on r->links. Returns 0 or -1.
 */
int repl_net_open(struct dfs_repl *r, bool listen, const char *iface, int port);
/* Destroys r->ctx; every connection's CLOSED callback runs here. */
void repl_net_close(struct dfs_repl *r);
/* The service thread: runs r->ctx until r->stopping. */
void *repl_net_service_main(void *arg);
/* Wakes the service thread; any thread. */
void repl_net_wake(struct dfs_repl *r);
/* Tries l's connection again after its backoff. */
void repl_net_schedule_connect(struct link *l);
/* Asks for a writable callback on wsi. */
void repl_net_want_write(struct lws *wsi);
/* Stops reading from wsi until the applier frees room. */
void repl_net_pause(struct lws *wsi);
/* Sends one message over l's connection; 0, -ENOMEM or -EIO. */
int repl_net_write(struct link *l, const struct dfs_buf *msg);
/* Sends len bytes of a message, its first piece and/or its last; 0, -ENOMEM or -EIO. */
int repl_net_write_piece(struct link *l, const uint8_t *p, size_t len, bool first, bool last);
/*
 * What wsi's connection proved (TLS session, peer id). 0, -EPROTO, or
 * -EPROTONOSUPPORT for a plain connection to a TLS node.
 */
int repl_net_session(struct dfs_repl *r, struct lws *wsi, struct repl_session *s);
/* wsi's link is up: its handshake deadline and the limits no longer apply. */
void repl_net_admitted(struct lws *wsi);
/* Runs r->on->tick within ms, unless it is due sooner already. Service thread. */
void repl_net_tick_in(struct dfs_repl *r, unsigned ms);

/* ---- outbox.c: our log to a peer --------------------------------------------------- */

/* Notes that the entry logged at seq came in over connection session. */
void repl_note_source(struct dfs_repl *r, uint64_t seq, uint32_t session);
/* Begins b: our log after from, for connection session, as hashes when have. */
void repl_batch_begin(struct dfs_repl *r, struct repl_batch *b, uint64_t from, uint32_t session,
		      bool have);
/*
 * Reads about max_bytes more of our log into b, from any thread. 1 when b is
 * done (b->upto == b->from: nothing to send), 0 when more may follow.
 */
int repl_batch_step(struct dfs_repl *r, struct repl_batch *b, size_t max_bytes);
/* Sends l, in full, the first of the entries it grafted; 1 if more wait, 0, or < 0. */
int repl_send_grafted(struct link *l);

/* ---- stream.c: our log read ahead and written in pieces ---------------------------- */

/* Whether l is part way through writing a message (nothing else may go first). */
static inline bool repl_stream_midway(const struct link *l)
{
	return l->wr_off < l->wr.len;
}
/*
 * On l's writable callback: the next piece of its message, or the batch
 * read for it, or a batch asked for. 1 if it wrote, 0, or < 0.
 */
int repl_stream_write(struct link *l);
/* The peer took our log in up to l->taken: the window moves on. Service thread. */
void repl_stream_acked(struct link *l);
/* l's connection is new: what was read or written for the last one goes. Under r->lock. */
void repl_stream_reset(struct link *l);
void *repl_stream_main(void *arg);
/* Empties the reader's queues; its thread has ended. */
void repl_stream_release(struct dfs_repl *r);

/* ---- park.c: updates waiting for a predecessor, or for their time ------------------ */

/* Sets the park's caps: per_peer bytes a peer (0: PARK_PER_PEER), PARK_BYTES_MAX in all. */
void repl_park_init(struct dfs_repl *r, size_t per_peer, size_t clock_wait);
/* Frees every parked and waiting update; no thread uses the park any more. */
void repl_park_release(struct dfs_repl *r);
/*
 * Parks the update rec (of hash h) from peer until wait (an update hash or
 * a model id) is stored. Returns 0 (parked), -ENOSPC
 * (the peer's share is full), -ENOBUFS (the park is full) or -ENOMEM.
 */
int repl_park(struct dfs_repl *r, const struct dfs_pubkey *from, const struct dfs_hash *wait,
	      const struct dfs_hash *h, const uint8_t *rec, size_t len);
/* repl_park(), and past a limit the update is dropped: counted, logged now and then. */
bool repl_park_or_drop(struct dfs_repl *r, const struct dfs_pubkey *from,
		       const struct dfs_hash *wait, const struct dfs_hash *h, const uint8_t *rec,
		       size_t len);
/* Releases the updates parked for key: each waits in its peer's queue, still counted. */
void repl_unpark(struct dfs_repl *r, const struct dfs_hash *key);
/*
 * The next released update to receive: the oldest of the next peer in turn
 * (off the park, its share shrunk; the caller frees it). NULL when none is.
 */
struct parked *repl_released_next(struct dfs_repl *r);
/* Bytes of the park that peer's updates take. */
size_t repl_park_share(struct dfs_repl *r, const struct dfs_pubkey *peer);
/* Whether an update from peer waits: in the park, released, or for its time. Applier. */
bool repl_park_holds(struct dfs_repl *r, const struct dfs_pubkey *peer);
/*
 * Keeps an update from peer that came too early (-ETIME) until it is due.
 * first: not kept before, so it is logged. Returns whether it is kept.
 */
bool repl_clock_park(struct dfs_repl *r, const struct dfs_pubkey *from, const uint8_t *rec,
		     size_t len, bool first);
/* The update rec (of hash h) is stored: what waited for it, or for its model, is released. */
void repl_take_waiters(struct dfs_repl *r, const struct dfs_hash *h, const uint8_t *rec,
		       size_t len);
/*
 * Receives p, a released update, within g, and frees it; what waited for
 * it is released in turn. Returns false when it is not in the store yet.
 */
bool repl_receive_waiter(struct dfs_repl *r, struct dfs_db_group *g, struct parked *p);
/* Releases the updates whose time has come; returns whether there were any. */
bool repl_retry_clock_waits(struct dfs_repl *r);
/* Shows the park's size in the counters. */
void repl_park_publish(struct dfs_repl *r);

/* ---- inbox.c: a peer's updates into the model -------------------------------------- */

/* Set on the applier's thread: see dfs_repl_log_grew(). */
extern _Thread_local bool repl_applier_thread;

/*
 * Queues the UPDATES message p (m decoded, len bytes) from l's peer for the
 * checkers and the applier, and gives l a turn if it had none. Returns 1
 * when l's queue is full (stop reading it), 0, or -ENOMEM.
 */
int repl_inbox_add(struct link *l, const struct dfs_msg *m, const uint8_t *p, size_t len);
/*
 * The next link to serve, in turn, with l->work.m set (its next message,
 * taken off its queue, when none was begun): the first on r->ready whose
 * next message is not being checked right now and whose peer's share of
 * the after-listeners' queue has room (r->no_room is set when one has
 * not). NULL when there is none.
 * Under r->lock; the link is off r->ready, served, until repl_inbox_turn_end().
 */
struct link *repl_inbox_next(struct dfs_repl *r);
/* l's turn is over: back on r->ready if it has more, else idle. Under r->lock. */
void repl_inbox_turn_end(struct dfs_repl *r, struct link *l);
/*
 * Sets a link's queue to queue_max bytes (0: LINK_QUEUE_MAX), and readies
 * r->waiters, the place in the round of the released updates (park.c).
 */
void repl_inbox_init(struct dfs_repl *r, size_t queue_max);
/* Released updates wait: r->waiters takes its turn (applier thread, without r->lock). */
void repl_inbox_waiters_ready(struct dfs_repl *r);
/* The next message to check ahead, claimed (CHECK_RUNNING), or NULL. Under r->lock. */
struct inmsg *repl_inbox_to_check(struct dfs_repl *r);
/* Whether a turn that applied done updates since start_ms ends now (only while others wait). */
bool repl_slice_over(struct dfs_repl *r, size_t done, uint64_t start_ms, uint64_t now_ms);
/* Frees every queued message and every message begun; only at stop. */
void repl_inbox_release(struct dfs_repl *r);
/* Takes l's place in its peer's log, if there is one to keep; under r->lock. */
bool repl_cursor_of(const struct link *l, struct cursor_save *c);
void repl_put_cursors(struct dfs_repl *r, const struct cursor_save *c, size_t n);
void *repl_checker_main(void *arg);
void *repl_applier_main(void *arg);

/* ---- tree.c: eager and lazy links --------------------------------------------------- */

/* A HAVE from l's peer: notes what is missing, and moves its place on in turn. 0 or -1. */
int repl_tree_have(struct link *l, const struct dfs_msg *m);
/* A PRUNE, a GRAFT from l's peer; -1 closes the link. */
int repl_tree_prune(struct link *l);
int repl_tree_graft(struct link *l, const struct dfs_msg *m);
/* Sends l a due PRUNE, GRAFT or grafted entries: 1 if it sent one, 0, or < 0. */
int repl_tree_writable(struct link *l);
/* l is up (a new connection sends in full) or down (its holes go). */
void repl_tree_reset(struct link *l);
/* Grafts, prunes and fills holes that are due; r->on->tick. */
void repl_tree_tick(struct dfs_repl *r);

/* ---- admit.c: who may become a peer ------------------------------------------------ */

/* Reads the trust list at path (NULL: none). 0 or -errno, after logging why. */
int repl_trust_open(struct dfs_repl *r, const char *path);
void repl_trust_close(struct dfs_repl *r);
/*
 * Whether l's peer, its AUTH checked, is admitted: NULL with *how set
 * ("key", "trust", "pin", "open", ...), or why not.
 */
const char *repl_admit(struct dfs_repl *r, struct link *l, const char **how);
/*
 * Notes a new inbound connection from ip as pending. Returns the pending
 * connection to close to make room (no longer noted), or NULL.
 */
struct lws *repl_pending_add(struct dfs_repl *r, struct lws *wsi, const char *ip);
/* Forgets wsi (up, or gone); true if it was pending. */
bool repl_pending_drop(struct dfs_repl *r, const struct lws *wsi);

/* ---- link.c: one connection's protocol, the handlers of r->on ---------------------- */

struct link *repl_link_accepted(struct dfs_repl *r, struct lws *wsi, const char *ip);
void repl_link_up(struct link *l, struct lws *wsi);
void repl_link_failed(struct link *l, const char *why);
void repl_link_closed(struct link *l);
int repl_link_writable(struct link *l);
int repl_link_message(struct link *l, const uint8_t *p, size_t len);
void repl_link_bad_frame(struct link *l, const char *what);

/* ---- shared helpers ---------------------------------------------------------------- */

/* Whether to log one more line now; *skipped: how many were not since (to say so). */
static inline bool repl_ratelog(struct repl_ratelog *rl, unsigned long long *skipped)
{
	uint64_t now = dfs_monotonic_ms();

	if (!rl->start_ms || now - rl->start_ms >= RATELOG_MS) {
		rl->start_ms = now ? now : 1;
		rl->n = 0;
	}
	*skipped = 0;
	if (rl->n >= RATELOG_BURST) {
		rl->skipped++;
		return false;
	}
	rl->n++;
	*skipped = rl->skipped;
	rl->skipped = 0;
	return true;
}

/* upto, but not past an update l's peer announced and that is still missing. */
static inline uint64_t repl_below_holes(const struct link *l, uint64_t upto)
{
	if (l->nholes && l->holes[0].seq <= upto)
		return l->holes[0].seq - 1;
	return upto;
}

/* How far l's peer's log is stored here: what is acknowledged and saved. Under r->lock. */
static inline uint64_t repl_recv_stored(const struct link *l)
{
	return repl_below_holes(l, l->recv_upto);
}

/*
 * How far l's peer's log is taken in: updates that wait for a predecessor
 * or their time included (recv_done >= recv_upto). The peer's window moves
 * on it (wire.h, ACK): an update that waits must not stop the stream that
 * brings what it waits for. Under r->lock.
 */
static inline uint64_t repl_recv_taken(const struct link *l)
{
	return repl_below_holes(l, l->recv_done);
}

/* Whether l owes its peer an ACK: more stored, or more taken in. Under r->lock. */
static inline bool repl_ack_due(const struct link *l)
{
	return repl_recv_stored(l) > l->ack_sent || repl_recv_taken(l) > l->taken_sent;
}

/*
 * The applier met a full update it had already (m's): counted, and a live
 * one (not a catch-up) over the current connection prunes the link.
 */
static inline void repl_duplicate(struct dfs_repl *r, struct link *l, uint32_t session, bool bulk)
{
	atomic_fetch_add(&r->duplicates, 1);
	if (bulk)
		return;
	pthread_mutex_lock(&r->lock);
	bool now = session == l->session;
	pthread_mutex_unlock(&r->lock);
	if (now && !atomic_exchange(&l->dup_seen, true))
		repl_net_wake(r);
}

/* Drops a reference to l; the last one frees it. Under r->lock once shared. */
static inline void link_put(struct link *l)
{
	if (--l->refs > 0)
		return;
	free(l->graft_in);
	free(l->graft_out);
	free(l->holes);
	dfs_buf_release(&l->rx);
	dfs_buf_release(&l->rd.msg);
	dfs_buf_release(&l->wr);
	repl_net_timer_free(l->timer);
	free(l);
}

static inline void set_error(struct link *l, const char *fmt, const char *arg)
{
	snprintf(l->last_error, sizeof(l->last_error), fmt, arg ? arg : "");
}

#endif
