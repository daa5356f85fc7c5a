// SPDX-License-Identifier: MIT
/* net.c - libwebsockets for the links: context, TLS, callback, service thread, connects */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <libwebsockets.h>

#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

/* Pings an idle connection, and hangs up on one silent too long. */
static const lws_retry_bo_t idle = {
	.secs_since_valid_ping = 3,
	.secs_since_valid_hangup = 10,
};

struct repl_net_timer {
	lws_sorted_usec_list_t sul;
	struct link *link;		/* a reconnect timer's; NULL for r->tick */
	struct dfs_repl *r;
};

struct repl_net_timer *repl_net_timer_new(struct link *l)
{
	struct repl_net_timer *t = calloc(1, sizeof(*t));

	if (t)
		t->link = l;
	return t;
}

void repl_net_timer_free(struct repl_net_timer *t)
{
	free(t);
}

/*
 * The repl of any callback's wsi, from the context's user pointer. The
 * callbacks that are not about one connection, EVENT_WAIT_CANCELLED among
 * them, come with a placeholder wsi whose context is set (lws 4.1's
 * lws_broadcast), so this holds for them too.
 */
static struct dfs_repl *repl_of(struct lws *wsi)
{
	return wsi ? lws_context_user(lws_get_context(wsi)) : NULL;
}

static void connect_now(lws_sorted_usec_list_t *sul)
{
	struct repl_net_timer *t = lws_container_of(sul, struct repl_net_timer, sul);
	struct link *l = t->link;
	struct dfs_repl *r = l->r;
	struct lws_client_connect_info ci;

	if (atomic_load(&r->stopping) || l->wsi)
		return;
	memset(&ci, 0, sizeof(ci));
	ci.context = r->ctx;
	ci.address = l->host;
	ci.port = l->port;
	ci.path = l->path;
	ci.host = l->host;
	/* No Origin: a node refuses one, as a web page's would carry it. */
	ci.protocol = DFS_WIRE_PROTOCOL;
	/* Who the server is, its certificate's key says (tls.h); not its name. */
	ci.ssl_connection = l->tls ? LCCSCF_USE_SSL | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK : 0;
	ci.opaque_user_data = l;
	ci.retry_and_idle_policy = &idle;
	pthread_mutex_lock(&r->lock);
	l->state = LINK_CONNECTING;
	pthread_mutex_unlock(&r->lock);
	l->tls_refused = false;
	if (!lws_client_connect_via_info(&ci)) {
		/* Failed at once; CLIENT_CONNECTION_ERROR may or may not have come. */
		if (l->state == LINK_CONNECTING) {
			pthread_mutex_lock(&r->lock);
			l->state = LINK_DOWN;
			set_error(l, "%s", "cannot connect");
			pthread_mutex_unlock(&r->lock);
			repl_net_schedule_connect(l);
		}
	}
}

void repl_net_schedule_connect(struct link *l)
{
	int ms = l->backoff_ms ? l->backoff_ms : BACKOFF_MIN_MS;

	l->backoff_ms = ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms * 2;
	lws_sul_schedule(l->r->ctx, 0, &l->timer->sul, connect_now, (lws_usec_t)ms * 1000);
}

/* Sends one piece of a message from r->tx (LWS_PRE bytes of headroom, then the piece). */
int repl_net_write_piece(struct link *l, const uint8_t *p, size_t len, bool first, bool last)
{
	struct dfs_repl *r = l->r;
	int flags = (first ? LWS_WRITE_BINARY : LWS_WRITE_CONTINUATION) | (last ? 0 : LWS_WRITE_NO_FIN);

	dfs_buf_reset(&r->tx);
	dfs_buf_reserve(&r->tx, LWS_PRE + len);
	if (dfs_buf_ok(&r->tx) < 0)
		return -ENOMEM;
	memset(r->tx.data, 0, LWS_PRE);
	memcpy(r->tx.data + LWS_PRE, p, len);
	int n = lws_write(l->wsi, r->tx.data + LWS_PRE, len, (enum lws_write_protocol)flags);
	if (n < (int)len)
		return -EIO;
	atomic_fetch_add(&r->bytes_out, len);
	return 0;
}

int repl_net_write(struct link *l, const struct dfs_buf *msg)
{
	return repl_net_write_piece(l, msg->data, msg->len, true, true);
}

void repl_net_want_write(struct lws *wsi)
{
	lws_callback_on_writable(wsi);
}

void repl_net_pause(struct lws *wsi)
{
	lws_rx_flow_control(wsi, 0);
}

static void tick_now(lws_sorted_usec_list_t *sul)
{
	struct repl_net_timer *t = lws_container_of(sul, struct repl_net_timer, sul);

	t->r->tick_due_ms = 0;
	t->r->on->tick(t->r);
}

void repl_net_tick_in(struct dfs_repl *r, unsigned ms)
{
	uint64_t due = dfs_monotonic_ms() + ms;

	if (!r->tick || !r->ctx || (r->tick_due_ms && r->tick_due_ms <= due))
		return;
	r->tick->r = r;
	r->tick_due_ms = due;
	lws_sul_schedule(r->ctx, 0, &r->tick->sul, tick_now, (lws_usec_t)ms * 1000);
}

void repl_net_wake(struct dfs_repl *r)
{
	lws_cancel_service(r->ctx);
}

int repl_net_session(struct dfs_repl *r, struct lws *wsi, struct repl_session *s)
{
	memset(s, 0, sizeof(*s));
	if (r->plain) {
		snprintf(s->version, sizeof(s->version), "plain");
		return 0;
	}
	if (!lws_is_ssl(wsi))
		return -EPROTONOSUPPORT;	/* a plain connection on our TLS port */
	void *ssl = lws_get_ssl(wsi);
	s->tls = true;
	snprintf(s->version, sizeof(s->version), "%s", dfs_tls_version(ssl));
	if (dfs_tls_exporter(ssl, s->exporter) < 0 || dfs_tls_peer_id(ssl, &s->id) < 0)
		return -EPROTO;
	return 0;
}

void repl_net_admitted(struct lws *wsi)
{
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	repl_pending_drop(repl_of(wsi), wsi);
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
	if (!l->got_log && l->rx.len + len > PRE_ADMIT_MSG_MAX) {
		/* Before admission a peer gets a few hundred bytes, not megabytes. */
		r->on->bad_frame(l, "oversized message before admission");
		return -1;
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
		r->on->bad_frame(l, "oversized message");
		l->rx_drop = false;
		return 0;
	}
	int rc = r->on->message(l, l->rx.data, l->rx.len);
	dfs_buf_reset(&l->rx);
	return rc;
}

/*
 * On the service thread, after a wake-up: push new log entries, acknowledge
 * what the applier stored, resume reading.
 */
static void service_wake(struct dfs_repl *r)
{
	bool grew = atomic_exchange(&r->log_grew, false);
	bool room = atomic_exchange(&r->rx_wake, false);
	bool read = atomic_exchange(&r->rd_wake, false);

	for (struct link *l = r->links; l; l = l->next) {
		bool ready = false, below = false, ack = false;
		if (!l->wsi)
			continue;
		if (read || room) {
			pthread_mutex_lock(&r->lock);
			/* A batch read for a link goes out at its next writable callback; only its. */
			ready = read && l->rd_state == RD_READY;
			below = l->queued < r->queue_max / 2;
			ack = room && l->got_log && repl_ack_due(l);
			pthread_mutex_unlock(&r->lock);
		}
		if ((l->sending && (grew || ready)) || ack)
			lws_callback_on_writable(l->wsi);
		if (room && l->rx_paused && below) {
			l->rx_paused = false;
			lws_rx_flow_control(l->wsi, 1);
		}
	}
	r->on->tick(r);
}

static int accepted(struct dfs_repl *r, struct lws *wsi)
{
	char ip[64] = "?";

	lws_get_peer_simple(wsi, ip, sizeof(ip));
	struct link *l = r->on->accepted(r, wsi, ip);
	if (!l)
		return -1;
	lws_set_opaque_user_data(wsi, l);
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, HANDSHAKE_SECS);
	return 0;
}

/* A WebSocket upgrade, before it is answered: a browser's (it carries an Origin) is refused. */
static int filter(struct dfs_repl *r, struct lws *wsi)
{
	char ip[64] = "?";

	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
		return 0;
	lws_get_peer_simple(wsi, ip, sizeof(ip));
	atomic_fetch_add(&r->refused, 1);
	dfs_log(DFS_LOG_WARNING, "replication: %s refused: it sent an Origin header (a web page?)",
		ip);
	return -1;
}

/*
 * A connection accepted, before TLS: it is pending until its link is up,
 * and past the limits (admit.c) the oldest pending one of its network, or
 * of all, is closed to make room.
 */
static void instantiated(struct dfs_repl *r, struct lws *wsi)
{
	char ip[64] = "?";

	lws_get_peer_simple(wsi, ip, sizeof(ip));
	struct lws *evict = repl_pending_add(r, wsi, ip);
	if (!evict)
		return;
	atomic_fetch_add(&r->over_limit, 1);
	dfs_log(DFS_LOG_INFO, "replication: too many connections in their handshake; "
		"closing the oldest to let %s in", ip);
	lws_set_timeout(evict, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* The client side checks the server's certificate: an Ed25519 key, the pinned one if any. */
static int check_server(struct link *l, void *store)
{
	static const struct dfs_pubkey none;
	struct dfs_pubkey seen = none;
	char hex[17];

	if (dfs_tls_verify(store, l && l->pinned ? &l->pin : NULL, &seen) == 0)
		return 0;
	if (l && !l->tls_refused) {
		l->tls_refused = true;
		atomic_fetch_add(&l->r->refused, 1);
		if (memcmp(seen.b, none.b, DFS_PUBKEY_LEN) == 0) {
			set_error(l, "%s", "its certificate carries no node key");
		} else {
			dfs_hex_encode(hex, seen.b, 8);
			set_error(l, "not the pinned node (its key is %s...)", hex);
		}
		dfs_log(DFS_LOG_WARNING, "replication: %s refused: %s", l->addr, l->last_error);
	}
	return 1;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct dfs_repl *r = repl_of(wsi);
	struct link *l = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	switch (reason) {
	case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
		if (r)
			instantiated(r, wsi);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		if (r)
			repl_pending_drop(r, wsi);
		return 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return filter(r, wsi);
	case LWS_CALLBACK_ESTABLISHED:
		return accepted(r, wsi);
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (!l)
			return -1;
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, HANDSHAKE_SECS);
		r->on->up(l, wsi);
		return 0;
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		/* user: the listener's SSL_CTX; its certificate is this node's key. */
		return r && r->cert && dfs_tls_ctx_setup(user, r->cert) == 0 ? 0 : 1;
	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
		return check_server(l, user);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (l)
			r->on->failed(l, in);
		return 0;
	case LWS_CALLBACK_CLOSED:
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (l && l->wsi == wsi) {
			/* An inbound link may be freed now: lws must not hand it back. */
			lws_set_opaque_user_data(wsi, NULL);
			r->on->closed(l);
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
		return r->on->writable(l) < 0 ? -1 : 0;
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

void *repl_net_service_main(void *arg)
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

static unsigned fd_share(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 4096;
	rlim_t half = rl.rlim_cur / 2;
	return half < 64 ? 64 : half > 65536 ? 65536 : (unsigned)half;
}

int repl_net_open(struct dfs_repl *r, bool listen, const char *iface, int port)
{
	struct lws_context_creation_info info;

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_to_log);
	memset(&info, 0, sizeof(info));
	info.port = listen ? port : CONTEXT_PORT_NO_LISTEN;
	info.iface = iface[0] ? iface : NULL;
	info.protocols = protocols;
	info.gid = (gid_t)-1;
	info.uid = (uid_t)-1;
	info.retry_and_idle_policy = &idle;
	/* Socket reads go through this buffer: 4 KiB by default, a wake-up per 4 KiB. */
	info.pt_serv_buf_size = 128 * 1024;
	info.options = 0;
	if (!r->plain) {
		/* Our own SSL_CTXs: the node's certificate, TLS 1.3 only (tls.h). */
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		/*
		 * A plain connection gets through only to be told so: link.c
		 * sends it a HELLO of this version and closes, so an old node,
		 * or one with -o unencrypted_links, logs why.
		 */
		if (listen)
			info.options |= LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX |
					LWS_SERVER_OPTION_ALLOW_NON_SSL_ON_SSL_PORT |
					LWS_SERVER_OPTION_ALLOW_HTTP_ON_HTTPS_LISTENER;
		info.provided_client_ssl_ctx = r->client_ctx;
	}
	/* A TLS handshake or WebSocket upgrade left unfinished is closed after this. */
	info.timeout_secs = SETUP_SECS;
	info.timeout_secs_ah_idle = SETUP_SECS;
	/* HTTP/1.1 only: no HTTP/2 machinery for peers not yet admitted to reach. */
	info.alpn = "http/1.1";
	/* Half the descriptors at most, so that the store, FUSE and listeners keep theirs. */
	info.fd_limit_per_thread = fd_share();
	/* The callback finds r here: lws_context_user(lws_get_context(wsi)). */
	info.user = r;
	r->ctx = lws_create_context(&info);
	if (!r->ctx)
		return -1;
	for (struct link *l = r->links; l; l = l->next)
		lws_sul_schedule(r->ctx, 0, &l->timer->sul, connect_now, 1);
	return 0;
}

void repl_net_close(struct dfs_repl *r)
{
	lws_context_destroy(r->ctx);
}
