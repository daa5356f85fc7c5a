// SPDX-License-Identifier: MIT
/* link.c - one connection's protocol: the handshake, WANT, UPDATES, HAVE and ACK; up and down */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

static const char *peer_hex(const struct link *l, char out[17])
{
	dfs_hex_encode(out, l->peer.b, 8);
	return out;
}

static void link_reset(struct link *l)
{
	l->to_send = 0;
	l->got_hello = l->authed = l->got_log = l->got_want = l->sending = false;
	l->close_now = l->close_after_hello = false;
	l->admitted = NULL;
	l->recv_stuck = l->recv_lost = false;
	l->acked = l->ack_sent = l->taken = l->taken_sent = 0;
	l->rx_drop = false;
	l->rx_paused = false;
	dfs_buf_reset(&l->rx);
	repl_tree_reset(l);
	repl_stream_reset(l);
}

void repl_link_up(struct link *l, struct lws *wsi)
{
	struct repl_session sess;
	int rc = repl_net_session(l->r, wsi, &sess);

	pthread_mutex_lock(&l->r->lock);
	l->wsi = wsi;
	l->session = ++l->r->sessions;
	l->state = LINK_HANDSHAKE;
	link_reset(l);
	l->sess = sess;
	l->refs++;	/* the connection's */
	pthread_mutex_unlock(&l->r->lock);
	l->deadline_ms = dfs_monotonic_ms() + HANDSHAKE_SECS * 1000;
	dfs_random(l->nonce, sizeof(l->nonce));
	if (rc == -EPROTONOSUPPORT) {
		/* Our HELLO tells an old node (or a plain one) which protocol this is. */
		set_error(l, "%s", "a plain (ws://) connection: this node speaks TLS only");
		atomic_fetch_add(&l->r->refused, 1);
		dfs_log(DFS_LOG_WARNING, "replication: %s refused: %s", l->addr, l->last_error);
		l->close_after_hello = true;
		l->to_send = SEND_HELLO;
	} else if (rc < 0) {
		/* Closed at the first write: the session cannot bind a proof. */
		set_error(l, "%s", "no TLS session to bind the handshake to");
		l->close_now = true;
	} else {
		l->to_send = SEND_HELLO;
	}
	repl_net_want_write(wsi);
}

/* The connection is gone: forget it, and for a configured peer try again. */
static void link_down(struct link *l, const char *why)
{
	struct dfs_repl *r = l->r;
	bool was_up = l->state == LINK_UP;
	/* The deadline's lws timeout may fire a moment before our clock says so. */
	bool late = l->state == LINK_HANDSHAKE && dfs_monotonic_ms() + 100 >= l->deadline_ms;
	char hex[17];

	struct cursor_save save;

	pthread_mutex_lock(&r->lock);
	/* Kept now: before the next save, this link may be gone or another. */
	bool keep = was_up && repl_cursor_of(l, &save);
	bool had_wsi = l->wsi != NULL;
	l->wsi = NULL;
	l->state = LINK_DOWN;
	if (late)
		why = HANDSHAKE_LATE;
	if (why && why != l->last_error)
		set_error(l, "%s", why);
	if (was_up)
		atomic_fetch_sub(&r->peers_up, 1);
	repl_tree_reset(l);	/* its holes: the saved place stays before them */
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
		repl_put_cursors(r, &save, 1);
	if (was_up)
		dfs_log(DFS_LOG_NOTICE, "replication: link to %s (%s) down%s%s", l->addr,
			peer_hex(l, hex), why ? ": " : "", why ? why : "");
	else if (late)
		dfs_log(DFS_LOG_INFO, "replication: %s: %s; closed", l->addr, HANDSHAKE_LATE);
	if (l->outgoing && !atomic_load(&r->stopping))
		repl_net_schedule_connect(l);
	pthread_mutex_lock(&r->lock);
	if (had_wsi)
		link_put(l);	/* the connection's reference */
	pthread_mutex_unlock(&r->lock);
}

struct link *repl_link_accepted(struct dfs_repl *r, struct lws *wsi, const char *ip)
{
	struct link *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->r = r;
	l->refs = 1;	/* the list's */
	dfs_buf_init(&l->rx);
	snprintf(l->addr, sizeof(l->addr), "%s (in)", ip);
	snprintf(l->ip, sizeof(l->ip), "%s", ip);
	pthread_mutex_lock(&r->lock);
	l->next = r->links;
	r->links = l;
	pthread_mutex_unlock(&r->lock);
	repl_link_up(l, wsi);
	return l;
}

void repl_link_failed(struct link *l, const char *why)
{
	struct dfs_repl *r = l->r;

	if (l->state == LINK_DOWN)
		return;
	pthread_mutex_lock(&r->lock);
	if (!l->tls_refused)
		set_error(l, "%s", why ? why : "connection failed");
	l->state = LINK_DOWN;
	pthread_mutex_unlock(&r->lock);
	if (l->wsi)
		link_down(l, NULL);
	else if (!atomic_load(&r->stopping))
		repl_net_schedule_connect(l);
}

void repl_link_closed(struct link *l)
{
	link_down(l, l->last_error[0] ? l->last_error : "closed");
}

/* The proof of an AUTH: by prover, for verifier, bound to l's session. */
static void link_proof(const struct link *l, bool ours, uint8_t proof[DFS_WIRE_PROOF_LEN])
{
	const struct dfs_pubkey *me = dfs_keyring_node(l->r->kr);
	struct dfs_wire_bind b;

	memcpy(b.session, l->sess.exporter, sizeof(b.session));
	b.prover_connected = ours ? l->outgoing : !l->outgoing;
	memcpy(b.nonce, ours ? l->peer_nonce : l->nonce, sizeof(b.nonce));
	b.prover = ours ? *me : l->peer;
	b.verifier = ours ? l->peer : *me;
	dfs_wire_proof(proof, &b);
}

/* Fills in the next control message l has to send. */
static int next_control(struct link *l, struct dfs_msg *m)
{
	struct dfs_repl *r = l->r;

	if (l->to_send & SEND_HELLO) {
		l->to_send &= ~SEND_HELLO;
		m->type = DFS_MSG_HELLO;
		m->flags = r->has_netkey ? DFS_WIRE_FLAG_NETKEY : 0;
		m->node = *dfs_keyring_node(r->kr);
		memcpy(m->nonce, l->nonce, sizeof(m->nonce));
	} else if (l->to_send & SEND_AUTH) {
		uint8_t proof[DFS_WIRE_PROOF_LEN];
		l->to_send &= ~SEND_AUTH;
		m->type = DFS_MSG_AUTH;
		link_proof(l, true, proof);
		int rc = dfs_keyring_sign(r->kr, dfs_keyring_node(r->kr), proof, sizeof(proof),
					  m->sig);
		if (rc < 0)
			return rc;
		if (r->has_netkey)
			dfs_mac(m->mac, r->netkey, proof, sizeof(proof));
	} else if (l->to_send & SEND_LOG) {
		l->to_send &= ~SEND_LOG;
		m->type = DFS_MSG_LOG;
		m->seq = dfs_db_log_head(r->db);
		dfs_db_log_id(r->db, m->log_id);
	} else {
		l->to_send &= ~SEND_WANT;
		m->type = DFS_MSG_WANT;
		pthread_mutex_lock(&r->lock);
		m->seq = l->recv_upto;
		pthread_mutex_unlock(&r->lock);
		/* A WANT acknowledges what it does not ask for. */
		l->ack_sent = l->taken_sent = m->seq;
	}
	return 0;
}

static int send_control(struct link *l)
{
	struct dfs_msg m = { 0 };
	struct dfs_buf out;
	int rc = next_control(l, &m);

	if (rc < 0)
		return rc;
	dfs_buf_init(&out);
	rc = dfs_msg_encode(&m, &out);
	if (rc == 0)
		rc = repl_net_write(l, &out);
	dfs_buf_release(&out);
	return rc;
}

/*
 * Acknowledges the peer's log as far as it is stored here, if that moved
 * since the last ACK: one message however many were stored since. Returns
 * 1 when it sent one, 0 when none is due, or < 0.
 */
static int send_ack(struct link *l)
{
	struct dfs_repl *r = l->r;
	struct dfs_msg m = { .type = DFS_MSG_ACK };

	if (!l->got_log || (l->to_send & SEND_WANT))
		return 0;
	pthread_mutex_lock(&r->lock);
	m.seq = repl_recv_stored(l);
	m.upto = repl_recv_taken(l);
	pthread_mutex_unlock(&r->lock);
	if (m.seq <= l->ack_sent && m.upto <= l->taken_sent)
		return 0;
	struct dfs_buf out;
	dfs_buf_init(&out);
	int rc = dfs_msg_encode(&m, &out);
	if (rc == 0)
		rc = repl_net_write(l, &out);
	dfs_buf_release(&out);
	if (rc < 0)
		return rc;
	l->ack_sent = m.seq;
	l->taken_sent = m.upto;
	return 1;
}

int repl_link_writable(struct link *l)
{
	int rc;

	if (l->close_now)
		return -1;
	/* A message part written goes on first: nothing may come between its pieces. */
	if (repl_stream_midway(l))
		return repl_stream_write(l) < 0 ? -1 : 0;
	if (l->to_send) {
		rc = send_control(l);
		if (rc == 0 && l->close_after_hello)
			l->close_now = true;	/* at the next writable: the HELLO is out */
		if (rc == 0)
			repl_net_want_write(l->wsi);
		return rc;
	}
	rc = send_ack(l);
	if (rc == 0)
		rc = repl_tree_writable(l);
	if (rc != 0) {
		if (rc > 0)
			repl_net_want_write(l->wsi);	/* the rest, at the next one */
		return rc < 0 ? rc : 0;
	}
	if (!l->sending)
		return 0;
	rc = repl_stream_write(l);
	return rc < 0 ? rc : 0;
}

void repl_link_bad_frame(struct link *l, const char *what)
{
	char hex[17];
	unsigned long long skipped;

	atomic_fetch_add(&l->r->bad_frames, 1);
	if (!repl_ratelog(&l->r->bad_frame_log, &skipped))
		return;
	if (skipped)
		dfs_log(DFS_LOG_WARNING, "replication: %llu more bad messages dropped, not logged "
			"(frames_dropped counts them)", skipped);
	dfs_log(DFS_LOG_WARNING, "replication: from %s (%s): %s; dropped", l->addr,
		l->got_hello ? peer_hex(l, hex) : "?", what);
}

/* Refuses l's peer at the handshake: said in the log and counted. */
static int refuse(struct link *l, const char *why)
{
	char hex[17];

	set_error(l, "%s", why);
	atomic_fetch_add(&l->r->refused, 1);
	dfs_log(DFS_LOG_WARNING, "replication: %s (%s) refused at the handshake: %s", l->addr,
		l->got_hello ? peer_hex(l, hex) : "?", why);
	return -1;
}

static int on_hello(struct link *l, const struct dfs_msg *m)
{
	struct dfs_repl *r = l->r;

	if (l->got_hello) {
		repl_link_bad_frame(l, "second HELLO");
		return 0;
	}
	if (memcmp(m->node.b, dfs_keyring_node(r->kr)->b, DFS_PUBKEY_LEN) == 0) {
		set_error(l, "%s", "this is our own node");
		return -1;
	}
	if (r->has_netkey && !(m->flags & DFS_WIRE_FLAG_NETKEY))
		return refuse(l, "peer has no network key");
	l->got_hello = true;
	l->peer = m->node;
	if (l->sess.tls && memcmp(m->node.b, l->sess.id.b, DFS_PUBKEY_LEN) != 0)
		return refuse(l, "its HELLO names another key than its certificate");
	if (l->outgoing && l->pinned && memcmp(m->node.b, l->pin.b, DFS_PUBKEY_LEN) != 0)
		return refuse(l, "not the pinned node");
	memcpy(l->peer_nonce, m->nonce, sizeof(l->peer_nonce));
	l->to_send |= SEND_AUTH;
	repl_net_want_write(l->wsi);
	return 0;
}

static int on_auth(struct link *l, const struct dfs_msg *m)
{
	struct dfs_repl *r = l->r;
	char hex[17];
	const char *how = NULL;
	uint8_t proof[DFS_WIRE_PROOF_LEN], mac[DFS_WIRE_MAC_LEN];

	if (!l->got_hello || l->authed) {
		repl_link_bad_frame(l, "unexpected AUTH");
		return -1;
	}
	link_proof(l, false, proof);
	if (dfs_verify(m->sig, proof, sizeof(proof), &l->peer) != 0)
		return refuse(l, "bad node signature");
	if (r->has_netkey) {
		dfs_mac(mac, r->netkey, proof, sizeof(proof));
		if (!dfs_mem_equal(mac, m->mac, sizeof(mac)))
			return refuse(l, "wrong network key");
	}
	const char *no = repl_admit(r, l, &how);
	if (no)
		return refuse(l, no);
	pthread_mutex_lock(&r->lock);
	l->authed = true;
	l->admitted = how;
	l->last_error[0] = '\0';
	pthread_mutex_unlock(&r->lock);
	dfs_log(DFS_LOG_INFO, "replication: %s (%s) admitted (%s, %s)", l->addr, peer_hex(l, hex),
		how, l->sess.version);
	l->to_send |= SEND_LOG;
	repl_net_want_write(l->wsi);
	return 0;
}

/* The peer's log, now that it admitted us too: take it from where we were. */
static int on_log(struct link *l, const struct dfs_msg *m)
{
	struct dfs_repl *r = l->r;
	char hex[17];
	uint64_t cursor;

	if (!l->authed || l->got_log) {
		repl_link_bad_frame(l, "unexpected LOG");
		return -1;
	}
	l->got_log = true;
	memcpy(l->peer_log, m->log_id, sizeof(l->peer_log));
	if (dfs_db_cursor_get(r->db, &l->peer, l->peer_log, &cursor) < 0)
		cursor = 0;
	if (cursor > m->seq)
		cursor = 0;	/* its log lost its end: take it all */
	pthread_mutex_lock(&r->lock);
	l->peer_head = m->seq;
	l->recv_upto = l->recv_done = cursor;
	l->state = LINK_UP;
	/* Up: both sides admitted. A peer that refuses us is retried ever slower. */
	l->backoff_ms = 0;
	pthread_mutex_unlock(&r->lock);
	repl_net_admitted(l->wsi);
	atomic_fetch_add(&r->peers_up, 1);
	dfs_log(DFS_LOG_NOTICE, "replication: link to %s (%s) up", l->addr,
		peer_hex(l, hex));
	l->to_send |= SEND_WANT;
	repl_net_want_write(l->wsi);
	return 0;
}

static int on_want(struct link *l, const struct dfs_msg *m)
{
	struct dfs_repl *r = l->r;

	if (!l->got_log) {
		repl_link_bad_frame(l, "WANT before the handshake");
		return -1;
	}
	/*
	 * A peer asks once per link, right after the handshake: more would
	 * make this node send its whole log again and again on demand.
	 */
	if (l->got_want) {
		repl_link_bad_frame(l, "second WANT");
		return 0;
	}
	l->got_want = true;
	pthread_mutex_lock(&r->lock);
	l->sending = true;
	/* Asked for more than we have: our log started again, send it all. */
	l->sent_upto = m->seq > dfs_db_log_head(r->db) ? 0 : m->seq;
	l->acked = l->taken = l->sent_upto;	/* it has what it does not ask for */
	pthread_mutex_unlock(&r->lock);
	repl_net_want_write(l->wsi);
	return 0;
}

/* Says that l is no longer read, at most every PAUSE_LOG_MS (a catch-up pauses often). */
static void log_paused(struct link *l)
{
	struct dfs_repl *r = l->r;
	uint64_t now = dfs_monotonic_ms();
	char hex[17];

	if (r->pause_logged_ms && now - r->pause_logged_ms < PAUSE_LOG_MS)
		return;
	r->pause_logged_ms = now ? now : 1;
	dfs_log(DFS_LOG_INFO, "replication: %s (%s): its queue of updates to apply is full "
		"(link_queue=%zuK); it is read again once half of that is applied (links_paused "
		"counts each time)", l->addr, peer_hex(l, hex), r->queue_max >> 10);
}

/* Queues the message p, of len bytes, for the checkers and the applier. */
static int on_updates(struct link *l, const struct dfs_msg *m, const uint8_t *p, size_t len)
{
	struct dfs_repl *r = l->r;

	if (!l->got_log) {
		repl_link_bad_frame(l, "updates before the handshake");
		return -1;
	}
	pthread_mutex_lock(&r->lock);
	if (m->seq > l->peer_head)
		l->peer_head = m->seq;
	if (m->upto > l->peer_head)
		l->peer_head = m->upto;
	pthread_mutex_unlock(&r->lock);
	int rc = repl_inbox_add(l, m, p, len);
	if (rc < 0) {
		repl_link_bad_frame(l, "out of memory");
		return 0;
	}
	/* Full: no more is read from it until the applier has taken half. */
	if (rc > 0 && !l->rx_paused) {
		l->rx_paused = true;
		atomic_fetch_add(&r->paused, 1);
		repl_net_pause(l->wsi);
		log_paused(l);
	}
	return 0;
}

/*
 * The peer stored our log up to m->seq, and took it in up to m->upto. More
 * than was sent over this connection cannot be: clamped, and counted as a
 * bad frame.
 */
static int on_ack(struct link *l, const struct dfs_msg *m)
{
	struct dfs_repl *r = l->r;
	uint64_t upto = m->seq, taken = m->upto;

	if (!l->got_log) {
		repl_link_bad_frame(l, "ACK before the handshake");
		return -1;
	}
	if (!l->sending) {
		repl_link_bad_frame(l, "ACK before WANT");
		return 0;
	}
	if (taken > l->sent_upto) {
		repl_link_bad_frame(l, "ACK past what was sent; taken as what was sent");
		taken = l->sent_upto;
		if (upto > taken)
			upto = taken;
	}
	pthread_mutex_lock(&r->lock);
	if (upto > l->acked)
		l->acked = upto;
	if (taken > l->taken)
		l->taken = taken;
	pthread_mutex_unlock(&r->lock);
	repl_stream_acked(l);
	return 0;
}

/*
 * Hashes of the peer's log (a lazy link): what is missing is noted, and the
 * peer's place moves on in turn with its other messages, as an UPDATES
 * message of no item would move it.
 */
static int on_have(struct link *l, const struct dfs_msg *m)
{
	if (!l->got_log) {
		repl_link_bad_frame(l, "HAVE before the handshake");
		return -1;
	}
	if (repl_tree_have(l, m) < 0)
		return -1;
	struct dfs_msg e = { .type = DFS_MSG_UPDATES, .seq = m->seq, .upto = m->upto };
	struct dfs_buf b;
	dfs_buf_init(&b);
	dfs_msg_updates_begin(&b, m->seq);
	dfs_msg_updates_end(&b, m->upto);
	int rc = dfs_buf_ok(&b) == 0 ? on_updates(l, &e, b.data, b.len) : 0;
	dfs_buf_release(&b);
	return rc;
}

/* PRUNE and GRAFT: after the handshake only. */
static int on_tree(struct link *l, const struct dfs_msg *m)
{
	if (!l->got_log) {
		repl_link_bad_frame(l, "PRUNE or GRAFT before the handshake");
		return -1;
	}
	return m->type == DFS_MSG_PRUNE ? repl_tree_prune(l) : repl_tree_graft(l, m);
}

/* Returns -1 to close the link (a failed handshake), else 0. */
int repl_link_message(struct link *l, const uint8_t *p, size_t len)
{
	struct dfs_msg m;
	int rc = dfs_msg_decode(p, len, &m);

	if (rc < 0) {
		repl_link_bad_frame(l, rc == -EPROTONOSUPPORT ? "unsupported protocol version"
							      : "malformed message");
		return rc == -EPROTONOSUPPORT || !l->authed ? -1 : 0;
	}
	switch (m.type) {
	case DFS_MSG_HELLO:
		return on_hello(l, &m);
	case DFS_MSG_AUTH:
		return on_auth(l, &m);
	case DFS_MSG_LOG:
		return on_log(l, &m);
	case DFS_MSG_WANT:
		return on_want(l, &m);
	case DFS_MSG_UPDATES:
		return on_updates(l, &m, p, len);
	case DFS_MSG_ACK:
		return on_ack(l, &m);
	case DFS_MSG_HAVE:
		return on_have(l, &m);
	case DFS_MSG_PRUNE:
	case DFS_MSG_GRAFT:
		return on_tree(l, &m);
	}
	return 0;
}
