// SPDX-License-Identifier: MIT
/* peer.c - links to peers over libwebsockets, and the applier; see repl.h */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "dinemicfs/dblog.h"
#include "dinemicfs/log.h"
#include "dinemicfs/repl.h"
#include "dinemicfs/util.h"
#include "dinemicfs/wire.h"

#define LINK_QUEUE_MAX (8u << 20)	/* received bytes a link may have queued */
#define PARK_BYTES_MAX (64u << 20)	/* updates waiting for a predecessor */
#define PARK_BUCKETS 1024
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CURSOR_SAVE_MS 1000
#define MAX_CHECKERS 3			/* threads that verify signatures */
#define CHECK_AHEAD 8			/* messages checked ahead of the applier, at most */
#define BULK_BEHIND 256			/* a batch this big, or a sender this far ahead: a catch-up */
#define BULK_QUEUED (256u << 10)	/* so is a link with this much more queued */
#define RUNS_MAX 4096			/* runs of log entries whose connection is known */

_Static_assert(DFS_WIRE_LOG_ID_LEN == DFS_DB_LOG_ID_LEN, "a log id is a log id");

enum link_state { LINK_DOWN, LINK_CONNECTING, LINK_HANDSHAKE, LINK_UP };

static const char *const state_names[] = { "down", "connecting", "handshake", "up" };

/* Control messages a link still has to send, in this order. */
enum { SEND_HELLO = 1, SEND_AUTH = 2, SEND_WANT = 4 };

struct link {
	struct dfs_repl *r;
	struct link *next;		/* r->links */
	struct lws *wsi;		/* NULL while down */
	int refs;			/* the list, the connection, queued messages */
	bool outgoing;			/* a configured peer: kept and reconnected */
	char addr[160];
	char host[128], path[128];
	int port;
	enum link_state state;
	uint32_t session;		/* this connection; under r->lock */
	int backoff_ms;
	lws_sorted_usec_list_t sul;	/* reconnect timer */
	char last_error[96];

	/* Handshake. */
	unsigned to_send;
	uint8_t nonce[DFS_WIRE_NONCE_LEN];
	uint8_t peer_nonce[DFS_WIRE_NONCE_LEN];
	bool got_hello, authed;
	struct dfs_pubkey peer;
	uint8_t peer_log[DFS_WIRE_LOG_ID_LEN];

	/* Streams; counters shown in .node/peers under r->lock. */
	bool sending;			/* the peer sent WANT */
	uint64_t sent_upto;		/* our log, sent up to here */
	uint64_t peer_head;		/* its log, as it last said */
	uint64_t recv_upto;		/* its log, processed up to here */
	bool recv_stuck;		/* something parked: do not save the cursor */
	atomic_llong last_contact;	/* time(NULL) of the last bytes received; 0: never */

	/* Receiving: one message, reassembled from fragments. */
	struct dfs_buf rx;
	bool rx_drop;			/* oversized: swallow the rest */
	size_t queued;			/* bytes waiting for the applier */
	bool rx_paused;
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
	struct link *link;
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

struct parked {
	struct parked *next;
	struct dfs_hash wait;
	size_t len;
	uint8_t rec[];
};

struct dfs_repl {
	struct dfs_db *db;
	struct dfs_keyring *kr;
	bool has_netkey;
	uint8_t netkey[DFS_MAC_KEY_LEN];
	struct lws_context *ctx;
	pthread_t service, applier;
	pthread_t checkers[MAX_CHECKERS];
	int ncheckers;
	atomic_bool stopping;
	atomic_bool log_grew;
	atomic_bool rx_wake;		/* the applier freed queue room */

	pthread_mutex_t lock;		/* links' shown state, the queue, stats */
	pthread_cond_t queue_cond;
	struct link *links;
	struct inmsg *qhead, *qtail;
	struct inmsg *qcheck;		/* the first message not yet being checked */
	unsigned ahead;			/* messages checked or being checked, not yet taken */

	struct parked *park[PARK_BUCKETS];	/* applier thread only */
	size_t park_bytes, park_count;
	uint32_t sessions;			/* under lock */

	/* The latest RUNS_MAX runs, oldest first, in a ring. */
	pthread_mutex_t runs_lock;
	struct run runs[RUNS_MAX];
	size_t runs_start, runs_n;

	/* Counters for .node/stats: atomics, so that no lock is taken to count. */
	atomic_ullong received, sent, bytes_in, bytes_out, parked, bad_frames, dropped;
	atomic_uint peers_up;
	unsigned peers_configured;	/* set before the threads start */

	struct dfs_buf tx;		/* service thread only */
};

static struct dfs_repl *the_repl;	/* for libwebsockets' callback */

static void link_put(struct link *l)
{
	if (--l->refs > 0)
		return;
	dfs_buf_release(&l->rx);
	free(l);
}

static void set_error(struct link *l, const char *fmt, const char *arg)
{
	snprintf(l->last_error, sizeof(l->last_error), fmt, arg ? arg : "");
}

static const char *peer_hex(const struct link *l, char out[17])
{
	dfs_hex_encode(out, l->peer.b, 8);
	return out;
}

/* ---- applier ------------------------------------------------------------------ */

static size_t bucket_of(const struct dfs_hash *h)
{
	return ((size_t)h->b[0] << 8 | h->b[1]) % PARK_BUCKETS;
}

static bool park(struct dfs_repl *r, const struct dfs_hash *wait, const uint8_t *rec, size_t len)
{
	if (r->park_bytes + len > PARK_BYTES_MAX)
		return false;
	struct parked *p = malloc(sizeof(*p) + len);
	if (!p)
		return false;
	p->wait = *wait;
	p->len = len;
	memcpy(p->rec, rec, len);
	size_t b = bucket_of(wait);
	p->next = r->park[b];
	r->park[b] = p;
	r->park_bytes += len;
	r->park_count++;
	return true;
}

/* Moves the parked updates waiting for key off the table onto *work. */
static void unpark(struct dfs_repl *r, const struct dfs_hash *key, struct parked **work)
{
	struct parked **pp = &r->park[bucket_of(key)];

	while (*pp) {
		struct parked *p = *pp;
		if (memcmp(p->wait.b, key->b, DFS_HASH_LEN) == 0) {
			*pp = p->next;
			r->park_bytes -= p->len;
			r->park_count--;
			p->next = *work;
			*work = p;
		} else {
			pp = &p->next;
		}
	}
}

/* An update (of hash h) is in the store: what waited for it, or for its model, may go. */
static void take_waiters(struct dfs_repl *r, const struct dfs_hash *h, const uint8_t *rec,
			 size_t len, struct parked **work)
{
	struct dfs_hash key;

	unpark(r, h, work);
	if (len >= 12 + DFS_HASH_LEN) {
		memcpy(key.b, rec + 12, DFS_HASH_LEN);	/* update.h: the entity at 12 */
		unpark(r, &key, work);
	}
}

/* Notes that the entry logged at seq came in over connection session. */
static void note_source(struct dfs_repl *r, uint64_t seq, uint32_t session)
{
	pthread_mutex_lock(&r->runs_lock);
	struct run *last = r->runs_n ? &r->runs[(r->runs_start + r->runs_n - 1) % RUNS_MAX] : NULL;
	if (last && last->session == session && last->last + 1 == seq) {
		last->last = seq;
	} else if (!last || seq > last->last) {
		if (r->runs_n == RUNS_MAX) {
			r->runs_start = (r->runs_start + 1) % RUNS_MAX;
			r->runs_n--;
		}
		struct run *n = &r->runs[(r->runs_start + r->runs_n++) % RUNS_MAX];
		n->first = n->last = seq;
		n->session = session;
	}
	pthread_mutex_unlock(&r->runs_lock);
}

/* Whether the entry at seq came in over connection session; runs are in order. */
static bool came_over(struct dfs_repl *r, uint64_t seq, uint32_t session)
{
	bool yes = false;

	pthread_mutex_lock(&r->runs_lock);
	size_t lo = 0, hi = r->runs_n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct run *x = &r->runs[(r->runs_start + mid) % RUNS_MAX];
		if (seq < x->first) {
			hi = mid;
		} else if (seq > x->last) {
			lo = mid + 1;
		} else {
			yes = x->session == session;
			break;
		}
	}
	pthread_mutex_unlock(&r->runs_lock);
	return yes;
}

/*
 * Receives one update, given what its check found (NULL: not checked), and
 * whatever was waiting for it. Returns false when it is not in the store
 * yet (parked, or a store error): the saved cursor must then not move past
 * it, so that it is asked for again after a restart.
 */
static bool receive(struct dfs_repl *r, struct dfs_db_group *g, const uint8_t *rec, size_t len,
		    const struct checked *ck, uint32_t session)
{
	struct dfs_hash missing;
	struct parked *work = NULL;
	bool kept = true;
	uint64_t seq = 0;
	if (ck && ck->verdict == VERDICT_NONE)
		ck = NULL;
	int rc = !ck				? dfs_db_group_receive(g, rec, len, NULL, &missing, &seq)
		 : ck->verdict == VERDICT_BAD	? -EBADMSG
		 : ck->verdict == VERDICT_KNOWN ? -EALREADY
						: dfs_db_group_receive(g, rec, len, &ck->c, &missing, &seq);

	if (seq)
		note_source(r, seq, session);

	if (rc == -EAGAIN) {
		park(r, &missing, rec, len);
		return false;
	}
	if (rc == -EIO || rc == -ENOMEM)
		return false;
	if (rc == -EBADMSG) {
		/* Malformed or forged: dropped, nothing to wait for. */
		char hex[17];
		struct dfs_hash hash;
		atomic_fetch_add(&r->bad_frames, 1);
		atomic_fetch_add(&r->dropped, 1);
		dfs_hash2(&hash, rec, len, NULL, 0);
		dfs_hex_encode(hex, hash.b, 8);
		dfs_log(DFS_LOG_WARNING, "replication: update %s is malformed or badly signed; "
			"dropped", hex);
		return true;
	}
	/* Applied, held or known. */
	if (r->park_count) {
		struct dfs_hash hash;
		if (ck && ck->verdict == VERDICT_NEW)
			hash = ck->c.hash;
		else
			dfs_hash2(&hash, rec, len, NULL, 0);
		take_waiters(r, &hash, rec, len, &work);
	}
	while (work) {
		struct parked *p = work;
		/* Checked before it was parked; whether it is stored is looked up. */
		struct dfs_db_checked pc = { .fresh = false };
		work = p->next;
		dfs_hash2(&pc.hash, p->rec, p->len, NULL, 0);
		/* Parked: which connection it came over is not kept. */
		rc = dfs_db_group_receive(g, p->rec, p->len, &pc, &missing, NULL);
		if (rc == -EAGAIN)
			kept = park(r, &missing, p->rec, p->len) && kept;
		else if (rc == -EIO || rc == -ENOMEM)
			kept = false;
		else if (rc == -EBADMSG)
			atomic_fetch_add(&r->dropped, 1);
		else
			take_waiters(r, &pc.hash, p->rec, p->len, &work);
		free(p);
	}
	return kept;
}

struct cursor_save {
	struct dfs_pubkey peer;
	uint8_t log[DFS_WIRE_LOG_ID_LEN];
	uint64_t seq;
};

/* Takes l's place in its peer's log, if there is one to keep; under r->lock. */
static bool cursor_of(const struct link *l, struct cursor_save *c)
{
	if (!l->authed || l->recv_stuck || !l->recv_upto)
		return false;
	c->peer = l->peer;
	memcpy(c->log, l->peer_log, sizeof(c->log));
	c->seq = l->recv_upto;
	return true;
}

static void put_cursors(struct dfs_repl *r, const struct cursor_save *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = dfs_db_cursor_put(r->db, &c[i].peer, c[i].log, c[i].seq);
		if (rc < 0)
			dfs_log_errno(DFS_LOG_WARNING, -rc, "replication: cannot save a peer cursor");
	}
}

static void save_cursors(struct dfs_repl *r)
{
	struct cursor_save saves[64];
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (struct link *l = r->links; l && n < 64; l = l->next)
		if (cursor_of(l, &saves[n]))
			n++;
	pthread_mutex_unlock(&r->lock);
	put_cursors(r, saves, n);
}

/* Verifies the signatures of m's updates; any thread, without r->lock. */
static void check_message(struct dfs_repl *r, struct inmsg *m)
{
	struct dfs_msg msg;
	uint64_t seq;
	const uint8_t *rec;
	size_t len, off = 0, n = 0;

	if (dfs_msg_decode(m->data, m->len, &msg) < 0)
		return;	/* checked on arrival */
	/* Only while checked ahead: at most CHECK_AHEAD messages hold one. */
	m->checked = m->count ? calloc(m->count, sizeof(*m->checked)) : NULL;
	if (!m->checked)
		return;	/* the applier verifies them itself */
	struct dfs_db_run run;
	dfs_db_run_init(&run, m->count);
	while (n < m->count && dfs_msg_next_item(&msg, &off, &seq, &rec, &len)) {
		struct checked *ck = &m->checked[n++];
		int rc = dfs_db_check(r->db, rec, len, &run, &ck->c);
		ck->verdict = rc == 0 ? VERDICT_NEW : rc == -EALREADY ? VERDICT_KNOWN : VERDICT_BAD;
	}
	dfs_db_run_release(&run);
}

static void apply_message(struct dfs_repl *r, struct inmsg *m)
{
	struct dfs_msg msg;
	uint64_t seq;
	const uint8_t *rec;
	size_t len, off = 0, n = 0;
	bool stuck = false;
	struct dfs_db_group *g = NULL;

	if (dfs_msg_decode(m->data, m->len, &msg) < 0)
		return;	/* checked on arrival */
	pthread_mutex_lock(&r->lock);
	uint32_t session = m->link->session;
	/*
	 * A catch-up, not a live change: a big batch, the sender far ahead, or
	 * much more queued. Watchers are not sent an event per update of a burst.
	 */
	bool bulk = msg.count >= BULK_BEHIND || msg.seq > msg.upto + BULK_BEHIND ||
		    m->link->queued - m->len > BULK_QUEUED;
	pthread_mutex_unlock(&r->lock);
	if (m->count) {
		g = dfs_db_group_new(r->db);
		if (!g) {
			stuck = true;	/* asked for again after a restart */
			n = m->count;
		}
	}
	while (g && n < m->count && dfs_msg_next_item(&msg, &off, &seq, &rec, &len)) {
		if (!receive(r, g, rec, len, m->checked ? &m->checked[n] : NULL, session))
			stuck = true;
		n++;
	}
	if (g && bulk)
		dfs_db_group_bulk(g);
	/* One wait makes the whole message durable. */
	if (g && dfs_db_group_end(g) < 0)
		stuck = true;
	atomic_fetch_add(&r->received, n);
	atomic_store(&r->parked, r->park_count);
	pthread_mutex_lock(&r->lock);
	if (stuck)
		m->link->recv_stuck = true;
	else if (msg.upto > m->link->recv_upto && !m->link->recv_stuck)
		m->link->recv_upto = msg.upto;
	pthread_mutex_unlock(&r->lock);
}

/*
 * Takes the next message whose signatures are checked, or, while there is
 * none, checks one itself: signature checks, not the store, bound catch-up,
 * so every thread helps with them. Called and returns with r->lock held.
 */
static struct inmsg *next_checked(struct dfs_repl *r, bool applier)
{
	for (;;) {
		struct inmsg *m = r->qhead;
		if (applier && m && m->check == CHECK_DONE) {
			r->qhead = m->next;
			if (!r->qhead)
				r->qtail = NULL;
			r->ahead--;
			pthread_cond_broadcast(&r->queue_cond);	/* room to check ahead */
			return m;
		}
		/*
		 * Not too far ahead: results take memory, and the more stored
		 * since a check, the likelier the applier must look again.
		 */
		if (r->qcheck && r->ahead < CHECK_AHEAD) {
			struct inmsg *c = r->qcheck;
			r->qcheck = c->next;
			r->ahead++;
			c->check = CHECK_RUNNING;
			pthread_mutex_unlock(&r->lock);
			check_message(r, c);
			pthread_mutex_lock(&r->lock);
			c->check = CHECK_DONE;
			pthread_cond_broadcast(&r->queue_cond);
			continue;
		}
		if (atomic_load(&r->stopping))
			return NULL;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (pthread_cond_timedwait(&r->queue_cond, &r->lock, &ts) == ETIMEDOUT && applier)
			return NULL;	/* time to save the cursors */
	}
}

/* Set on the applier's thread: see dfs_repl_log_grew(). */
static _Thread_local bool applier_thread;

static void *checker_main(void *arg)
{
	struct dfs_repl *r = arg;

	pthread_setname_np(pthread_self(), "dfs-verify");
	pthread_mutex_lock(&r->lock);
	while (!atomic_load(&r->stopping))
		next_checked(r, false);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static void *applier_main(void *arg)
{
	struct dfs_repl *r = arg;
	uint64_t saved = dfs_monotonic_ms();

	pthread_setname_np(pthread_self(), "dfs-apply");
	applier_thread = true;

	for (;;) {
		pthread_mutex_lock(&r->lock);
		struct inmsg *m = next_checked(r, true);
		pthread_mutex_unlock(&r->lock);
		if (m) {
			apply_message(r, m);
			pthread_mutex_lock(&r->lock);
			m->link->queued -= m->len;
			link_put(m->link);
			pthread_mutex_unlock(&r->lock);
			free(m->checked);
			free(m);
			/* Room to read, and perhaps updates to relay. */
			atomic_store(&r->rx_wake, true);
			lws_cancel_service(r->ctx);
		}
		if (dfs_monotonic_ms() - saved >= CURSOR_SAVE_MS || (!m && atomic_load(&r->stopping))) {
			save_cursors(r);
			saved = dfs_monotonic_ms();
		}
		if (!m && atomic_load(&r->stopping))
			break;
	}
	return NULL;
}

/* ---- links ---------------------------------------------------------------------- */

static void link_reset(struct link *l)
{
	l->to_send = 0;
	l->got_hello = l->authed = l->sending = false;
	l->recv_stuck = false;
	l->rx_drop = false;
	l->rx_paused = false;
	dfs_buf_reset(&l->rx);
}

static void link_up(struct link *l, struct lws *wsi)
{
	pthread_mutex_lock(&l->r->lock);
	l->wsi = wsi;
	l->session = ++l->r->sessions;
	l->state = LINK_HANDSHAKE;
	link_reset(l);
	l->refs++;	/* the connection's */
	pthread_mutex_unlock(&l->r->lock);
	dfs_random(l->nonce, sizeof(l->nonce));
	l->to_send = SEND_HELLO;
	lws_callback_on_writable(wsi);
}

static void schedule_connect(struct link *l);

/* The connection is gone: forget it, and for a configured peer try again. */
static void link_down(struct link *l, const char *why)
{
	struct dfs_repl *r = l->r;
	bool was_up = l->state == LINK_UP;
	char hex[17];

	struct cursor_save save;

	pthread_mutex_lock(&r->lock);
	/* Kept now: before the next save, this link may be gone or another. */
	bool keep = was_up && cursor_of(l, &save);
	bool had_wsi = l->wsi != NULL;
	l->wsi = NULL;
	l->state = LINK_DOWN;
	if (why && why != l->last_error)
		set_error(l, "%s", why);
	if (was_up)
		atomic_fetch_sub(&r->peers_up, 1);
	if (!l->outgoing) {
		/* Inbound links leave the list when they close. */
		for (struct link **pp = &r->links; *pp; pp = &(*pp)->next) {
			if (*pp == l) {
				*pp = l->next;
				l->refs--;
				break;
			}
		}
	}
	pthread_mutex_unlock(&r->lock);
	if (keep)
		put_cursors(r, &save, 1);
	if (was_up)
		dfs_log(DFS_LOG_NOTICE, "replication: link to %s (%s) down%s%s", l->addr,
			peer_hex(l, hex), why ? ": " : "", why ? why : "");
	if (l->outgoing && !atomic_load(&r->stopping))
		schedule_connect(l);
	pthread_mutex_lock(&r->lock);
	if (had_wsi)
		link_put(l);	/* the connection's reference */
	pthread_mutex_unlock(&r->lock);
}

static void connect_now(lws_sorted_usec_list_t *sul)
{
	struct link *l = lws_container_of(sul, struct link, sul);
	struct dfs_repl *r = l->r;
	struct lws_client_connect_info ci;
	static const lws_retry_bo_t idle = {
		.secs_since_valid_ping = 3,
		.secs_since_valid_hangup = 10,
	};

	if (atomic_load(&r->stopping) || l->wsi)
		return;
	memset(&ci, 0, sizeof(ci));
	ci.context = r->ctx;
	ci.address = l->host;
	ci.port = l->port;
	ci.path = l->path;
	ci.host = l->host;
	ci.origin = l->host;
	ci.protocol = DFS_WIRE_PROTOCOL;
	ci.opaque_user_data = l;
	ci.retry_and_idle_policy = &idle;
	pthread_mutex_lock(&r->lock);
	l->state = LINK_CONNECTING;
	pthread_mutex_unlock(&r->lock);
	if (!lws_client_connect_via_info(&ci)) {
		/* Failed at once; CLIENT_CONNECTION_ERROR may or may not have come. */
		if (l->state == LINK_CONNECTING) {
			pthread_mutex_lock(&r->lock);
			l->state = LINK_DOWN;
			set_error(l, "%s", "cannot connect");
			pthread_mutex_unlock(&r->lock);
			schedule_connect(l);
		}
	}
}

static void schedule_connect(struct link *l)
{
	int ms = l->backoff_ms ? l->backoff_ms : BACKOFF_MIN_MS;

	l->backoff_ms = ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms * 2;
	lws_sul_schedule(l->r->ctx, 0, &l->sul, connect_now, (lws_usec_t)ms * 1000);
}

/* Sends one message from r->tx (LWS_PRE bytes of headroom, then the message). */
static int send_msg(struct link *l, struct dfs_buf *msg)
{
	struct dfs_repl *r = l->r;

	dfs_buf_reset(&r->tx);
	dfs_buf_reserve(&r->tx, LWS_PRE + msg->len);
	if (dfs_buf_ok(&r->tx) < 0)
		return -ENOMEM;
	memset(r->tx.data, 0, LWS_PRE);
	memcpy(r->tx.data + LWS_PRE, msg->data, msg->len);
	int n = lws_write(l->wsi, r->tx.data + LWS_PRE, msg->len, LWS_WRITE_BINARY);
	if (n < (int)msg->len)
		return -EIO;
	atomic_fetch_add(&r->bytes_out, msg->len);
	return 0;
}

static int send_control(struct link *l)
{
	struct dfs_repl *r = l->r;
	struct dfs_msg m = { 0 };
	struct dfs_buf out;
	int rc;

	if (l->to_send & SEND_HELLO) {
		l->to_send &= ~SEND_HELLO;
		m.type = DFS_MSG_HELLO;
		m.flags = r->has_netkey ? DFS_WIRE_FLAG_NETKEY : 0;
		m.node = *dfs_keyring_node(r->kr);
		memcpy(m.nonce, l->nonce, sizeof(m.nonce));
		m.seq = dfs_db_log_head(r->db);
		dfs_db_log_id(r->db, m.log_id);
	} else if (l->to_send & SEND_AUTH) {
		uint8_t proof[DFS_WIRE_PROOF_LEN];
		l->to_send &= ~SEND_AUTH;
		m.type = DFS_MSG_AUTH;
		dfs_wire_proof(proof, l->peer_nonce, dfs_keyring_node(r->kr));
		rc = dfs_keyring_sign(r->kr, dfs_keyring_node(r->kr), proof, sizeof(proof), m.sig);
		if (rc < 0)
			return rc;
		if (r->has_netkey)
			dfs_mac(m.mac, r->netkey, proof, sizeof(proof));
	} else {
		l->to_send &= ~SEND_WANT;
		m.type = DFS_MSG_WANT;
		m.seq = l->recv_upto;
	}
	dfs_buf_init(&out);
	rc = dfs_msg_encode(&m, &out);
	if (rc == 0)
		rc = send_msg(l, &out);
	dfs_buf_release(&out);
	return rc;
}

struct batch_ctx {
	struct link *link;
	struct dfs_buf *msg;
	size_t n;
};

static int batch_add(uint64_t seq, const uint8_t *rec, size_t len, void *arg)
{
	struct batch_ctx *b = arg;

	dfs_msg_updates_add(b->msg, seq, rec, len);
	return ++b->n >= DFS_WIRE_BATCH_MAX ? 1 : 0;
}

/* The peer sent it to us over this connection: it has it. */
static bool is_echo(uint64_t seq, void *arg)
{
	struct batch_ctx *b = arg;

	return came_over(b->link->r, seq, b->link->session);
}

/*
 * Sends the next batch of our log; returns 1 if there may be more. A batch
 * of echoes only is sent empty, to move the peer's place in our log on.
 */
static int send_log(struct link *l)
{
	struct dfs_repl *r = l->r;
	struct dfs_buf msg;
	struct batch_ctx b = { l, &msg, 0 };
	uint64_t upto;

	dfs_buf_init(&msg);
	dfs_msg_updates_begin(&msg, dfs_db_log_head(r->db));
	int rc = dfs_db_log_read(r->db, l->sent_upto, DFS_WIRE_BATCH_BYTES, is_echo, batch_add, &b,
				 &upto);
	if (rc >= 0 && upto > l->sent_upto) {
		dfs_msg_updates_end(&msg, upto);
		rc = send_msg(l, &msg);
		if (rc == 0) {
			pthread_mutex_lock(&r->lock);
			l->sent_upto = upto;
			pthread_mutex_unlock(&r->lock);
			atomic_fetch_add(&r->sent, b.n);
			rc = 1;
		}
	} else if (rc > 0) {
		rc = 0;
	}
	dfs_buf_release(&msg);
	return rc;
}

static int on_writable(struct link *l)
{
	int rc;

	if (l->to_send) {
		rc = send_control(l);
		if (rc == 0)
			lws_callback_on_writable(l->wsi);
		return rc;
	}
	if (!l->sending)
		return 0;
	rc = send_log(l);
	if (rc > 0)
		lws_callback_on_writable(l->wsi);
	return rc < 0 ? rc : 0;
}

static void bad_frame(struct link *l, const char *what)
{
	char hex[17];

	atomic_fetch_add(&l->r->bad_frames, 1);
	dfs_log(DFS_LOG_WARNING, "replication: from %s (%s): %s; dropped", l->addr,
		l->got_hello ? peer_hex(l, hex) : "?", what);
}

/* Returns -1 to close the link (a failed handshake), else 0. */
static int on_message(struct link *l, const uint8_t *p, size_t len)
{
	struct dfs_repl *r = l->r;
	struct dfs_msg m;
	char hex[17];
	int rc = dfs_msg_decode(p, len, &m);

	if (rc < 0) {
		bad_frame(l, rc == -EPROTONOSUPPORT ? "unsupported protocol version"
						    : "malformed message");
		return rc == -EPROTONOSUPPORT || !l->authed ? -1 : 0;
	}
	switch (m.type) {
	case DFS_MSG_HELLO:
		if (l->got_hello) {
			bad_frame(l, "second HELLO");
			return 0;
		}
		if (memcmp(m.node.b, dfs_keyring_node(r->kr)->b, DFS_PUBKEY_LEN) == 0) {
			set_error(l, "%s", "this is our own node");
			return -1;
		}
		if (r->has_netkey && !(m.flags & DFS_WIRE_FLAG_NETKEY)) {
			set_error(l, "%s", "peer has no network key");
			dfs_log(DFS_LOG_WARNING, "replication: %s refused: it has no network key",
				l->addr);
			return -1;
		}
		l->got_hello = true;
		l->peer = m.node;
		memcpy(l->peer_nonce, m.nonce, sizeof(l->peer_nonce));
		memcpy(l->peer_log, m.log_id, sizeof(l->peer_log));
		pthread_mutex_lock(&r->lock);
		l->peer_head = m.seq;
		pthread_mutex_unlock(&r->lock);
		l->to_send |= SEND_AUTH;
		lws_callback_on_writable(l->wsi);
		return 0;
	case DFS_MSG_AUTH: {
		uint8_t proof[DFS_WIRE_PROOF_LEN], mac[DFS_WIRE_MAC_LEN];
		if (!l->got_hello || l->authed) {
			bad_frame(l, "unexpected AUTH");
			return -1;
		}
		dfs_wire_proof(proof, l->nonce, &l->peer);
		bool ok = dfs_verify(m.sig, proof, sizeof(proof), &l->peer) == 0;
		if (ok && r->has_netkey) {
			dfs_mac(mac, r->netkey, proof, sizeof(proof));
			ok = dfs_mem_equal(mac, m.mac, sizeof(mac));
		}
		if (!ok) {
			set_error(l, "%s", r->has_netkey ? "wrong network key" : "bad node signature");
			dfs_log(DFS_LOG_WARNING, "replication: %s (%s) refused at the handshake: %s",
				l->addr, peer_hex(l, hex), l->last_error);
			return -1;
		}
		uint64_t cursor;
		if (dfs_db_cursor_get(r->db, &l->peer, l->peer_log, &cursor) < 0)
			cursor = 0;
		if (cursor > l->peer_head)
			cursor = 0;	/* its log lost its end: take it all */
		pthread_mutex_lock(&r->lock);
		l->authed = true;
		l->recv_upto = cursor;
		l->state = LINK_UP;
		l->backoff_ms = 0;
		l->last_error[0] = '\0';
		pthread_mutex_unlock(&r->lock);
		atomic_fetch_add(&r->peers_up, 1);
		dfs_log(DFS_LOG_NOTICE, "replication: link to %s (%s) up", l->addr,
			peer_hex(l, hex));
		l->to_send |= SEND_WANT;
		lws_callback_on_writable(l->wsi);
		return 0;
	}
	case DFS_MSG_WANT:
		if (!l->authed) {
			bad_frame(l, "WANT before the handshake");
			return -1;
		}
		pthread_mutex_lock(&r->lock);
		l->sending = true;
		/* Asked for more than we have: our log started again, send it all. */
		l->sent_upto = m.seq > dfs_db_log_head(r->db) ? 0 : m.seq;
		pthread_mutex_unlock(&r->lock);
		lws_callback_on_writable(l->wsi);
		return 0;
	case DFS_MSG_UPDATES: {
		if (!l->authed) {
			bad_frame(l, "updates before the handshake");
			return -1;
		}
		struct inmsg *q = malloc(sizeof(*q) + len);
		if (!q) {
			bad_frame(l, "out of memory");
			return 0;
		}
		memcpy(q->data, p, len);
		q->len = len;
		q->link = l;
		q->next = NULL;
		q->check = CHECK_QUEUED;
		q->count = m.count;
		q->checked = NULL;
		pthread_mutex_lock(&r->lock);
		if (m.seq > l->peer_head)
			l->peer_head = m.seq;
		if (m.upto > l->peer_head)
			l->peer_head = m.upto;
		l->refs++;
		l->queued += len;
		if (r->qtail)
			r->qtail->next = q;
		else
			r->qhead = q;
		r->qtail = q;
		if (!r->qcheck)
			r->qcheck = q;
		bool full = l->queued > LINK_QUEUE_MAX;
		pthread_cond_broadcast(&r->queue_cond);
		pthread_mutex_unlock(&r->lock);
		if (full && !l->rx_paused) {
			l->rx_paused = true;
			lws_rx_flow_control(l->wsi, 0);
		}
		return 0;
	}
	}
	return 0;
}

static int on_receive(struct link *l, struct lws *wsi, const uint8_t *in, size_t len)
{
	struct dfs_repl *r = l->r;

	atomic_fetch_add(&r->bytes_in, len);
	atomic_store(&l->last_contact, (long long)time(NULL));
	if (lws_is_first_fragment(wsi)) {
		dfs_buf_reset(&l->rx);
		l->rx_drop = false;
	}
	if (!l->rx_drop) {
		if (l->rx.len + len > DFS_WIRE_MSG_MAX) {
			l->rx_drop = true;
			dfs_buf_reset(&l->rx);
		} else {
			dfs_buf_add(&l->rx, in, len);
			if (dfs_buf_ok(&l->rx) < 0) {
				l->rx_drop = true;
				dfs_buf_reset(&l->rx);
			}
		}
	}
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
		return 0;
	if (l->rx_drop) {
		bad_frame(l, "oversized message");
		l->rx_drop = false;
		return 0;
	}
	int rc = on_message(l, l->rx.data, l->rx.len);
	dfs_buf_reset(&l->rx);
	return rc;
}

/* On the service thread, after a wake-up: push new log entries, resume reading. */
static void service_wake(struct dfs_repl *r)
{
	bool grew = atomic_exchange(&r->log_grew, false);
	bool room = atomic_exchange(&r->rx_wake, false);

	for (struct link *l = r->links; l; l = l->next) {
		if (!l->wsi)
			continue;
		if (grew && l->sending)
			lws_callback_on_writable(l->wsi);
		if (room && l->rx_paused) {
			pthread_mutex_lock(&r->lock);
			bool below = l->queued < LINK_QUEUE_MAX / 2;
			pthread_mutex_unlock(&r->lock);
			if (below) {
				l->rx_paused = false;
				lws_rx_flow_control(l->wsi, 1);
			}
		}
	}
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct dfs_repl *r = the_repl;
	struct link *l = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED: {
		l = calloc(1, sizeof(*l));
		if (!l)
			return -1;
		l->r = r;
		l->refs = 1;	/* the list's */
		dfs_buf_init(&l->rx);
		char ip[64] = "?";
		lws_get_peer_simple(wsi, ip, sizeof(ip));
		snprintf(l->addr, sizeof(l->addr), "%s (in)", ip);
		lws_set_opaque_user_data(wsi, l);
		pthread_mutex_lock(&r->lock);
		l->next = r->links;
		r->links = l;
		pthread_mutex_unlock(&r->lock);
		link_up(l, wsi);
		return 0;
	}
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (l)
			link_up(l, wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (l && l->state != LINK_DOWN) {
			pthread_mutex_lock(&r->lock);
			set_error(l, "%s", in ? (const char *)in : "connection failed");
			l->state = LINK_DOWN;
			pthread_mutex_unlock(&r->lock);
			if (l->wsi)
				link_down(l, NULL);
			else if (!atomic_load(&r->stopping))
				schedule_connect(l);
		}
		return 0;
	case LWS_CALLBACK_CLOSED:
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (l && l->wsi == wsi) {
			/* An inbound link may be freed now: lws must not hand it back. */
			lws_set_opaque_user_data(wsi, NULL);
			link_down(l, l->last_error[0] ? l->last_error : "closed");
		}
		return 0;
	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (!l || l->wsi != wsi)
			return -1;
		return on_receive(l, wsi, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (!l || l->wsi != wsi)
			return 0;
		return on_writable(l) < 0 ? -1 : 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (r)
			service_wake(r);
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ DFS_WIRE_PROTOCOL, callback, 0, 64 * 1024, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void *service_main(void *arg)
{
	struct dfs_repl *r = arg;

	pthread_setname_np(pthread_self(), "dfs-net");
	while (!atomic_load(&r->stopping))
		lws_service(r->ctx, 0);
	return NULL;
}

static void lws_to_log(int level, const char *line)
{
	size_t n = strlen(line);

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	dfs_log(level == LLL_ERR ? DFS_LOG_ERR : DFS_LOG_INFO, "libwebsockets: %.*s", (int)n,
		line);
}

/* ---- start and stop -------------------------------------------------------------- */

static int add_peer(struct dfs_repl *r, const char *url)
{
	struct link *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	if (dfs_parse_peer_url(url, l->host, sizeof(l->host), &l->port, l->path,
			       sizeof(l->path)) < 0) {
		free(l);
		dfs_log(DFS_LOG_ERR, "replication: bad peer address '%s' (want ws://HOST:PORT)",
			url);
		return -EINVAL;
	}
	l->r = r;
	l->refs = 1;
	l->outgoing = true;
	dfs_buf_init(&l->rx);
	snprintf(l->addr, sizeof(l->addr), "%s", url);
	l->next = r->links;
	r->links = l;
	r->peers_configured++;
	return 0;
}

struct dfs_repl *dfs_repl_start(struct dfs_db *db, struct dfs_keyring *kr,
				const struct dfs_repl_opts *o)
{
	struct dfs_repl *r = calloc(1, sizeof(*r));
	struct lws_context_creation_info info;
	static const lws_retry_bo_t idle = {
		.secs_since_valid_ping = 3,
		.secs_since_valid_hangup = 10,
	};
	char host[128] = "";
	int port = CONTEXT_PORT_NO_LISTEN;
	int rc = 0;

	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	r->db = db;
	r->kr = kr;
	if (o->network_key) {
		r->has_netkey = true;
		memcpy(r->netkey, o->network_key, DFS_MAC_KEY_LEN);
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->runs_lock, NULL);
	pthread_cond_init(&r->queue_cond, NULL);
	dfs_buf_init(&r->tx);
	if (o->listen && dfs_parse_listen(o->listen, host, sizeof(host), &port) < 0) {
		dfs_log(DFS_LOG_ERR, "replication: bad listen address '%s' (want HOST:PORT)",
			o->listen);
		rc = -EINVAL;
	}
	for (size_t i = 0; rc == 0 && i < o->npeers; i++)
		rc = add_peer(r, o->peers[i]);
	if (rc < 0)
		goto fail;

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_to_log);
	memset(&info, 0, sizeof(info));
	info.port = port;
	info.iface = host[0] ? host : NULL;
	info.protocols = protocols;
	info.gid = (gid_t)-1;
	info.uid = (uid_t)-1;
	info.retry_and_idle_policy = &idle;
	/* Socket reads go through this buffer: 4 KiB by default, a wake-up per 4 KiB. */
	info.pt_serv_buf_size = 128 * 1024;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6 * 0;
	the_repl = r;
	r->ctx = lws_create_context(&info);
	if (!r->ctx) {
		dfs_log(DFS_LOG_ERR, "replication: cannot listen on %s", o->listen ? o->listen : "-");
		rc = -EADDRINUSE;
		goto fail;
	}
	for (struct link *l = r->links; l; l = l->next)
		lws_sul_schedule(r->ctx, 0, &l->sul, connect_now, 1);
	if (pthread_create(&r->applier, NULL, applier_main, r) != 0) {
		rc = -EAGAIN;
		goto fail_ctx;
	}
	if (pthread_create(&r->service, NULL, service_main, r) != 0) {
		atomic_store(&r->stopping, true);
		pthread_cond_signal(&r->queue_cond);
		pthread_join(r->applier, NULL);
		rc = -EAGAIN;
		goto fail_ctx;
	}
	/* One checker per spare CPU; the applier checks too when it would wait. */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int want = cpus > MAX_CHECKERS ? MAX_CHECKERS : cpus > 2 ? (int)cpus - 1 : 1;
	while (r->ncheckers < want &&
	       pthread_create(&r->checkers[r->ncheckers], NULL, checker_main, r) == 0)
		r->ncheckers++;
	if (o->listen)
		dfs_log(DFS_LOG_INFO, "replication: serving peers on %s", o->listen);
	return r;

fail_ctx:
	lws_context_destroy(r->ctx);
fail:
	while (r->links) {
		struct link *l = r->links;
		r->links = l->next;
		link_put(l);
	}
	the_repl = NULL;
	dfs_buf_release(&r->tx);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->runs_lock);
	pthread_cond_destroy(&r->queue_cond);
	free(r);
	errno = -rc;
	return NULL;
}

void dfs_repl_stop(struct dfs_repl *r)
{
	if (!r)
		return;
	atomic_store(&r->stopping, true);
	lws_cancel_service(r->ctx);
	pthread_join(r->service, NULL);
	pthread_mutex_lock(&r->lock);
	pthread_cond_broadcast(&r->queue_cond);
	pthread_mutex_unlock(&r->lock);
	for (int i = 0; i < r->ncheckers; i++)
		pthread_join(r->checkers[i], NULL);
	pthread_join(r->applier, NULL);
	/* Closes every connection; their CLOSED callbacks run here. */
	lws_context_destroy(r->ctx);
	while (r->qhead) {
		struct inmsg *m = r->qhead;
		r->qhead = m->next;
		link_put(m->link);
		free(m->checked);
		free(m);
	}
	while (r->links) {
		struct link *l = r->links;
		r->links = l->next;
		l->refs = 1;
		link_put(l);
	}
	for (size_t i = 0; i < PARK_BUCKETS; i++) {
		while (r->park[i]) {
			struct parked *p = r->park[i];
			r->park[i] = p->next;
			free(p);
		}
	}
	the_repl = NULL;
	dfs_buf_release(&r->tx);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->runs_lock);
	pthread_cond_destroy(&r->queue_cond);
	free(r);
}

void dfs_repl_log_grew(struct dfs_repl *r)
{
	if (!r)
		return;
	/*
	 * One wake-up at a time: the service thread reads the whole log anyway.
	 * The applier wakes it once per message, after the message.
	 */
	if (!atomic_exchange(&r->log_grew, true) && !applier_thread)
		lws_cancel_service(r->ctx);
}

static void format_age(char *out, size_t n, time_t t)
{
	if (!t) {
		snprintf(out, n, "never");
		return;
	}
	long s = (long)(time(NULL) - t);
	snprintf(out, n, "%lds ago", s < 0 ? 0 : s);
}

int dfs_repl_peers_text(struct dfs_repl *r, struct dfs_buf *out)
{
	uint64_t head = dfs_db_log_head(r->db);

	dfs_buf_printf(out, "%-32s %-10s %-16s %-10s %8s %8s %s\n", "peer", "state", "node",
		       "contact", "behind", "ahead", "error");
	pthread_mutex_lock(&r->lock);
	for (struct link *l = r->links; l; l = l->next) {
		char hex[17] = "-", age[32];
		if (l->got_hello || l->authed)
			dfs_hex_encode(hex, l->peer.b, 8);
		format_age(age, sizeof(age), (time_t)atomic_load(&l->last_contact));
		uint64_t behind = l->sending && head > l->sent_upto ? head - l->sent_upto : 0;
		uint64_t ahead = l->peer_head > l->recv_upto ? l->peer_head - l->recv_upto : 0;
		if (!l->sending && l->state != LINK_UP)
			behind = head;
		dfs_buf_printf(out, "%-32s %-10s %-16s %-10s %8llu %8llu %s\n", l->addr,
			       state_names[l->state], hex, age, (unsigned long long)behind,
			       (unsigned long long)ahead, l->last_error[0] ? l->last_error : "-");
	}
	pthread_mutex_unlock(&r->lock);
	return dfs_buf_ok(out);
}

void dfs_repl_get_stats(struct dfs_repl *r, struct dfs_repl_stats *out)
{
	out->received = atomic_load(&r->received);
	out->sent = atomic_load(&r->sent);
	out->bytes_in = atomic_load(&r->bytes_in);
	out->bytes_out = atomic_load(&r->bytes_out);
	out->parked = atomic_load(&r->parked);
	out->bad_frames = atomic_load(&r->bad_frames);
	out->dropped = atomic_load(&r->dropped);
	out->peers_up = atomic_load(&r->peers_up);
	out->peers_configured = r->peers_configured;
}
