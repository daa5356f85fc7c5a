// SPDX-License-Identifier: MIT
/* repl.c - start and stop the replicator; .node/peers and .node/stats; see repl.h */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

/* enum link_state, as .node/peers shows it. */
static const char *const state_names[] = { "down", "connecting", "handshake", "up" };

/* What net.c calls up into: the links' protocol. */
static const struct repl_net_handlers link_handlers = {
	.accepted = repl_link_accepted,
	.up = repl_link_up,
	.failed = repl_link_failed,
	.closed = repl_link_closed,
	.writable = repl_link_writable,
	.message = repl_link_message,
	.bad_frame = repl_link_bad_frame,
	.tick = repl_tree_tick,
};

static int add_peer(struct dfs_repl *r, const char *url)
{
	struct dfs_peer_url u;

	if (dfs_parse_peer_url(url, &u) < 0) {
		dfs_log(DFS_LOG_ERR,
			"replication: bad peer address '%s' (want wss://HOST:PORT[#NODEID])", url);
		return -EINVAL;
	}
	if (u.tls == r->plain) {
		dfs_log(DFS_LOG_ERR, r->plain ? "replication: peer %s: -o unencrypted_links "
						"connects to ws:// peers only"
					      : "replication: peer %s is unencrypted (ws://): use "
						"wss://, or -o unencrypted_links on a closed test network",
			url);
		return -EINVAL;
	}
	struct link *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->timer = repl_net_timer_new(l);
	if (!l->timer) {
		free(l);
		return -ENOMEM;
	}
	snprintf(l->host, sizeof(l->host), "%s", u.host);
	snprintf(l->path, sizeof(l->path), "%s", u.path);
	l->port = u.port;
	l->tls = u.tls;
	l->pinned = u.pinned;
	l->pin = u.pin;
	l->r = r;
	l->refs = 1;
	l->outgoing = true;
	dfs_buf_init(&l->rx);
	/* Shown without its pin: the admitted column says "pin". */
	snprintf(l->addr, sizeof(l->addr), "%.*s", (int)strcspn(url, "#"), url);
	l->next = r->links;
	r->links = l;
	r->peers_configured++;
	return 0;
}

/* The node's certificate and client context, the trust list; says how peers get in. */
static int repl_security(struct dfs_repl *r, const struct dfs_repl_opts *o)
{
	r->plain = o->unencrypted;
	if (!r->plain) {
		r->cert = dfs_tls_cert_node(r->kr);
		r->client_ctx = r->cert ? dfs_tls_client_ctx_new(r->cert) : NULL;
		if (!r->client_ctx) {
			dfs_log_errno(DFS_LOG_ERR, errno, "replication: cannot make the TLS certificate");
			return -EPROTO;
		}
	}
	int rc = repl_trust_open(r, o->trust_file);
	if (rc < 0)
		return rc;
	if (r->plain && (o->listen || o->npeers))
		dfs_log(DFS_LOG_WARNING, "replication: links are unencrypted (-o unencrypted_links): "
			"anyone on the path reads and alters them");
	if (!r->has_netkey && !o->trust_file && (o->listen || o->npeers))
		dfs_log(DFS_LOG_NOTICE, "replication: no network_key and no trust list: any "
			"peer that completes the handshake is admitted");
	return 0;
}

/* Frees what repl_security() made; the context that used it is gone. */
static void repl_security_free(struct dfs_repl *r)
{
	dfs_tls_ctx_free(r->client_ctx);
	dfs_tls_cert_free(r->cert);
	repl_trust_close(r);
	dfs_wipe(r->netkey, sizeof(r->netkey));
}

/* Frees what repl_new() made, once no thread or connection uses it. */
static void repl_free(struct dfs_repl *r)
{
	while (r->links) {
		struct link *l = r->links;
		r->links = l->next;
		link_put(l);
	}
	dfs_buf_release(&r->tx);
	repl_net_timer_free(r->tick);
	repl_security_free(r);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->runs_lock);
	pthread_cond_destroy(&r->queue_cond);
	pthread_cond_destroy(&r->rd_cond);
	free(r);
}

/*
 * Makes r, with a link for each configured peer, and parses the listen
 * address into host and *port. Returns NULL and sets errno (after logging
 * why).
 */
static struct dfs_repl *repl_new(struct dfs_db *db, struct dfs_keyring *kr,
				 const struct dfs_repl_opts *o, char *host, size_t hostlen,
				 int *port)
{
	struct dfs_repl *r = calloc(1, sizeof(*r));
	int rc = 0;

	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	r->db = db;
	r->kr = kr;
	r->on = &link_handlers;
	r->tick = repl_net_timer_new(NULL);
	if (!r->tick) {
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	if (o->network_key) {
		r->has_netkey = true;
		dfs_secret_lock(r->netkey, sizeof(r->netkey));
		memcpy(r->netkey, o->network_key, DFS_MAC_KEY_LEN);
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->runs_lock, NULL);
	pthread_cond_init(&r->queue_cond, NULL);
	pthread_cond_init(&r->rd_cond, NULL);
	dfs_buf_init(&r->tx);
	repl_park_init(r, o->park_per_peer, o->clock_wait);
	repl_inbox_init(r, o->link_queue);
	if (o->listen && dfs_parse_listen(o->listen, host, hostlen, port) < 0) {
		dfs_log(DFS_LOG_ERR, "replication: bad listen address '%s' (want HOST:PORT)",
			o->listen);
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = repl_security(r, o);
	for (size_t i = 0; rc == 0 && i < o->npeers; i++)
		rc = add_peer(r, o->peers[i]);
	if (rc < 0) {
		repl_free(r);
		errno = -rc;
		return NULL;
	}
	return r;
}

/*
 * Starts the applier, the service thread and the checkers. Returns 0, or
 * -EAGAIN with no thread left running.
 */
static int repl_threads_start(struct dfs_repl *r)
{
	if (pthread_create(&r->applier, NULL, repl_applier_main, r) != 0)
		return -EAGAIN;
	r->reader_started = pthread_create(&r->reader, NULL, repl_stream_main, r) == 0;
	if (!r->reader_started ||
	    pthread_create(&r->service, NULL, repl_net_service_main, r) != 0) {
		pthread_mutex_lock(&r->lock);
		atomic_store(&r->stopping, true);
		pthread_cond_signal(&r->queue_cond);
		pthread_cond_signal(&r->rd_cond);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->applier, NULL);
		if (r->reader_started)
			pthread_join(r->reader, NULL);
		return -EAGAIN;
	}
	/* One checker per spare CPU; the applier checks too when it would wait. */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int want = cpus > MAX_CHECKERS ? MAX_CHECKERS : cpus > 2 ? (int)cpus - 1 : 1;
	while (r->ncheckers < want &&
	       pthread_create(&r->checkers[r->ncheckers], NULL, repl_checker_main, r) == 0)
		r->ncheckers++;
	return 0;
}

struct dfs_repl *dfs_repl_start(struct dfs_db *db, struct dfs_keyring *kr,
				const struct dfs_repl_opts *o)
{
	char host[128] = "";
	int port = 0;
	int rc;
	struct dfs_repl *r = repl_new(db, kr, o, host, sizeof(host), &port);

	if (!r)
		return NULL;
	if (repl_net_open(r, o->listen != NULL, host, port) < 0) {
		dfs_log(DFS_LOG_ERR, "replication: cannot listen on %s", o->listen ? o->listen : "-");
		rc = -EADDRINUSE;
		goto fail;
	}
	rc = repl_threads_start(r);
	if (rc < 0)
		goto fail_ctx;
	if (o->listen)
		dfs_log(DFS_LOG_INFO, "replication: serving peers on %s", o->listen);
	return r;

fail_ctx:
	repl_net_close(r);
fail:
	repl_free(r);
	errno = -rc;
	return NULL;
}

void dfs_repl_stop(struct dfs_repl *r)
{
	if (!r)
		return;
	atomic_store(&r->stopping, true);
	repl_net_wake(r);
	pthread_join(r->service, NULL);
	pthread_mutex_lock(&r->lock);
	pthread_cond_broadcast(&r->queue_cond);
	pthread_cond_broadcast(&r->rd_cond);
	pthread_mutex_unlock(&r->lock);
	for (int i = 0; i < r->ncheckers; i++)
		pthread_join(r->checkers[i], NULL);
	pthread_join(r->applier, NULL);
	pthread_join(r->reader, NULL);
	/* Closes every connection; their CLOSED callbacks run here. */
	repl_net_close(r);
	repl_inbox_release(r);
	repl_stream_release(r);
	repl_park_release(r);
	/* No connection and no queued message holds a link now: only the list. */
	for (struct link *l = r->links; l; l = l->next)
		l->refs = 1;
	repl_free(r);
}

void dfs_repl_log_grew(struct dfs_repl *r)
{
	if (!r)
		return;
	/*
	 * One wake-up at a time: the service thread reads the whole log anyway.
	 * The applier wakes it once per turn, after the turn.
	 */
	if (!atomic_exchange(&r->log_grew, true) && !repl_applier_thread)
		repl_net_wake(r);
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

	dfs_buf_printf(out, "%-32s %-10s %-16s %-10s %8s %8s %8s %-8s %-9s %s\n", "peer", "state",
		       "node", "contact", "behind", "ahead", "acked", "link", "admitted", "error");
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
		dfs_buf_printf(out, "%-32s %-10s %-16s %-10s %8llu %8llu %8llu %-8s %-9s %s\n",
			       l->addr, state_names[l->state], hex, age, (unsigned long long)behind,
			       (unsigned long long)ahead, (unsigned long long)l->acked,
			       l->wsi ? l->sess.version : "-",
			       l->wsi && l->admitted ? l->admitted : "-",
			       l->last_error[0] ? l->last_error : "-");
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
	out->parked_bytes = atomic_load(&r->parked_bytes);
	out->park_dropped = atomic_load(&r->park_dropped);
	out->paused = atomic_load(&r->paused);
	out->clock_waiting = atomic_load(&r->clock_waiting);
	out->clock_dropped = atomic_load(&r->clock_dropped);
	out->bad_frames = atomic_load(&r->bad_frames);
	/* Let go for want of a link: dropped too, though no live link waits on them. */
	out->dropped = atomic_load(&r->dropped) + atomic_load(&r->park_let_go);
	out->refused = atomic_load(&r->refused);
	out->over_limit = atomic_load(&r->over_limit);
	out->announced = atomic_load(&r->announced);
	out->duplicates = atomic_load(&r->duplicates);
	out->grafts = atomic_load(&r->grafts);
	out->grafted = atomic_load(&r->grafted);
	out->prunes = atomic_load(&r->prunes);
	out->prunes_refused = atomic_load(&r->prunes_refused);
	out->holes_over = atomic_load(&r->holes_over);
	out->window_full = atomic_load(&r->window_full);
	out->peers_up = atomic_load(&r->peers_up);
	out->peers_configured = r->peers_configured;
}
