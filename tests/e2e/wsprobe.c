// SPDX-License-Identifier: MIT
/*
 * wsprobe.c - test tool: a hostile replication peer.
 *
 * A minimal WebSocket client written by hand over one TCP socket, in TLS 1.3
 * (OpenSSL, presenting a certificate made from a node key of its own, as a
 * node would) unless --plain: HTTP upgrade with subprotocol dinemicfs.2,
 * masked binary frames, so that it can send what libwebsockets never would.
 * It speaks the protocol of wire.h and runs the steps named on its command
 * line in order, printing one line per step:
 *
 *   handshake              HELLO, AUTH (checking the server's), the server's
 *                          LOG, then our LOG and WANT 0 (answered by WANT)
 *   badauth                HELLO, then an AUTH signed over the wrong nonce
 *   attempt MODEL NAME     HELLO, AUTH, LOG, WANT 0 and an OBJECT_CREATE of a
 *                          new object, sent without waiting to be admitted
 *   garbage                a message of random bytes (no valid type byte)
 *   badwant                a WANT one byte short
 *   badhello               a HELLO ten bytes long
 *   badseq                 an UPDATES whose sequence numbers go backwards
 *   badlen                 an UPDATES whose item claims more bytes than follow
 *   unknown                a message of an unknown type
 *   oversized              one message of DFS_WIRE_MSG_MAX + 1 bytes
 *   oversized-hello        a 300-byte HELLO, before any handshake
 *   forged MODEL NAME      OBJECT_CREATE of a new object, signature byte flipped
 *   badrecord MODEL NAME   OBJECT_CREATE of a new object, well framed and signed,
 *                          but with an unknown version byte
 *   valid MODEL NAME F V   OBJECT_CREATE of a new object, then F set to V
 *   replay                 the last valid updates again, byte for byte
 *   send FILE...           the update records in the files (as mkupdate
 *                          writes them; every argument up to the next step
 *                          name is a file) in one UPDATES message, in the
 *                          order given, numbered on from what we sent before
 *   fetch DIR              every update the server sent us since the
 *                          handshake (or the last fetch), and those that
 *                          come until none has for 1 s, saved in the order
 *                          they came (the server's log order) as
 *                          DIR/000001.upd, DIR/000002.upd, ... (DIR is
 *                          made if missing); prints how many. The server
 *                          leaves out what it got over this link, so fetch
 *                          before sending to record a node's whole log.
 *                          With a fetch among the steps, every UPDATES
 *                          message is acknowledged as it comes, as an
 *                          honest peer does, so the server's window opens
 *   acked                  wait (5 s) until the server's place in its log, as
 *                          it tells us, passes the last valid updates (they
 *                          are logged there), and check they never came back:
 *                          a server does not send a peer what it got from it
 *   open                   ping; wait (5 s) for the pong: the link works
 *   closed                 wait (5 s) until the server closes the link
 *   refused                wait (5 s) until the server closes the link, or
 *                          see that it failed the TLS handshake or the
 *                          upgrade; never admitted (no LOG from it)
 *   reflect PORT2          the reflection attacks, against this node (node 1)
 *                          and the one on PORT2 (node 2), without their
 *                          network key; each must be refused (below)
 *   ack SEQ                an ACK of the server's log up to SEQ, however much
 *                          of it we were sent
 *   want SEQ               a WANT for the log after SEQ (a second one, after
 *                          the handshake's)
 *   sleep MS               wait, answering pings
 *   prune kept|taken       a PRUNE of the link; kept: the server refuses it
 *                          (a GRAFT of no seq) within 5 s; taken: it does
 *                          not within 2 s
 *   announced              wait (5 s) until the server names an update by
 *                          hash (HAVE) instead of sending it
 *
 * Options, before PORT: --plain (no TLS, for nodes run with -o
 * unencrypted_links), --netkey FILE (MAC our AUTH with that network key and
 * say so in HELLO; without it the MAC is zeros and the flag clear),
 * --origin (send an Origin header in the upgrade, as a web page would),
 * --key FILE (our node key from FILE, as mkupdate newkey writes it, and a
 * log id made from it, so that another run is the same peer with the same
 * log; without it both are new each run), --head N (our log is N long
 * before the first send; updates sent are numbered from N + 1), --no-ack
 * (a fetch acknowledges nothing: it gets what the server sends a peer that
 * never does).
 *
 * The handshake step prints where in our log the server wants us to start
 * ("the server wants our log after N"): how far it got last time.
 *
 * Exit status: 0 when every step did what it says, 1 otherwise, 2 on usage.
 * Connects to 127.0.0.1 only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/keys.h"
#include "dinemicfs/tls.h"
#include "dinemicfs/update.h"
#include "dinemicfs/util.h"
#include "dinemicfs/wire.h"

#define WS_BIN 0x2
#define WS_CONT 0x0
#define WS_CLOSE 0x8
#define WS_PING 0x9
#define WS_PONG 0xA

#define WAIT_MS 5000

/* One connection to a node, and what the node said on it. */
struct conn {
	const char *name;		/* "node 1", in messages */
	int sock;
	SSL *ssl;			/* NULL on a plain link */
	struct dfs_buf inbuf;		/* bytes read, not yet parsed into frames */
	struct dfs_buf msg;		/* a message being reassembled */
	bool closed;			/* the server closed the link, or refused it */
	bool got_pong;
	uint8_t session[DFS_WIRE_SESSION_LEN];	/* the TLS exporter; zeros plain */
	struct dfs_pubkey cert_id;	/* the key of the server's certificate */
	uint8_t my_nonce[DFS_WIRE_NONCE_LEN];	/* the nonce our HELLO sent */
	struct dfs_pubkey server_id;
	uint8_t server_nonce[DFS_WIRE_NONCE_LEN];
	uint8_t server_sig[DFS_SIG_LEN], server_mac[DFS_WIRE_MAC_LEN];	/* its AUTH */
	bool got_hello, hello_ok, got_auth, auth_ok, got_log, got_want;
	uint64_t server_head, server_upto;	/* as the server last said */
	uint64_t want;				/* where the server's WANT starts */
	size_t keeps, haves;			/* GRAFTs of no seq, HAVE items */
};

/* Options. */
static bool plain, send_origin, has_netkey;
static uint8_t netkey[DFS_MAC_KEY_LEN];
static const char *key_file;	/* --key */

static SSL_CTX *ssl_ctx;
static struct conn main_conn = { .name = "node 1", .sock = -1 };
static struct conn *cur = &main_conn;	/* the connection the steps use */

static struct dfs_pubkey node_pk;
static struct dfs_seckey node_sk;
static uint64_t my_seq;		/* our pretend log */
static uint8_t my_log_id[DFS_WIRE_LOG_ID_LEN];	/* its id */
static struct dfs_hash awaited;	/* the last valid update sent */
static struct dfs_buf last_create, last_set;	/* its bytes, for replay */
static bool awaiting, echoed;
static struct dfs_hash forged[8];
static size_t nforged;
static bool forged_echoed;
static uint64_t updates_in;
static uint64_t acked_mark;			/* server_upto to pass, set by valid */
static bool keep_in;				/* keep what comes, for fetch */
static bool no_ack;				/* and do not acknowledge it */
static struct dfs_buf kept;			/* u32 length, record; ... */
static size_t kept_n, kept_saved;		/* records kept; saved by fetch */
static size_t kept_off;				/* where in kept the unsaved start */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *hex_n(const uint8_t *p, size_t n)
{
	static char out[4][65];
	static int next;
	char *o = out[next++ & 3];

	dfs_hex_encode(o, p, n > 32 ? 32 : n);
	return o;
}

static const char *hex16(const struct dfs_hash *h) { return hex_n(h->b, 8); }
static const char *id16(const struct dfs_pubkey *k) { return hex_n(k->b, 8); }

/* ---- bytes: TCP, TLS over it ------------------------------------------ */

/* Waits up to ms for events on c's socket; > 0 when they came. */
static int wait_io(struct conn *c, short events, int ms)
{
	struct pollfd pfd = { .fd = c->sock, .events = events };

	return poll(&pfd, 1, ms < 0 ? 0 : ms);
}

/* One write or read attempt: > 0 bytes, 0 to wait for (*events), -1 on failure. */
static ssize_t io_once(struct conn *c, bool wr, void *p, size_t n, short *events)
{
	*events = wr ? POLLOUT : POLLIN;
	if (!c->ssl) {
		ssize_t k = wr ? send(c->sock, p, n, MSG_NOSIGNAL) : recv(c->sock, p, n, 0);
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
		return k > 0 ? k : -1;
	}
	ERR_clear_error();
	int k = wr ? SSL_write(c->ssl, p, (int)n) : SSL_read(c->ssl, p, (int)n);
	if (k > 0)
		return k;
	int e = SSL_get_error(c->ssl, k);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		*events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		return 0;
	}
	return -1;
}

static int write_all(struct conn *c, const void *p, size_t n)
{
	const uint8_t *b = p;
	short ev;

	while (n > 0) {
		size_t part = n > 65536 ? 65536 : n;
		ssize_t k = io_once(c, true, (void *)b, part, &ev);
		if (k < 0)
			return -1;
		if (k == 0 && wait_io(c, ev, WAIT_MS) <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Reads what is there within timeout_ms into inbuf; -1 on EOF or error. */
static int fill(struct conn *c, int timeout_ms)
{
	uint8_t tmp[65536];
	short ev = POLLIN;

	/* TLS may hold decrypted bytes the socket no longer shows. */
	if (!(c->ssl && SSL_pending(c->ssl) > 0) && wait_io(c, POLLIN, timeout_ms) <= 0)
		return 0;
	ssize_t n = io_once(c, false, tmp, sizeof(tmp), &ev);
	if (n < 0)
		return -1;
	dfs_buf_add(&c->inbuf, tmp, (size_t)n);
	return dfs_buf_ok(&c->inbuf);
}

static int tcp_connect(struct conn *c, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	c->sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->sock < 0 || connect(c->sock, (struct sockaddr *)&a, sizeof(a)) < 0) {
		printf("connect 127.0.0.1:%d: %s\n", port, strerror(errno));
		return -1;
	}
	setsockopt(c->sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Non-blocking: a TLS read must not wait past a step's time limit. */
	fcntl(c->sock, F_SETFL, fcntl(c->sock, F_GETFL) | O_NONBLOCK);
	return 0;
}

/*
 * The TLS handshake, presenting our certificate. A server that fails it (an
 * alert, or hanging up) refused us: c->closed. Then the session's exporter,
 * which our AUTH signs, and the server's key.
 */
static int tls_start(struct conn *c)
{
	uint64_t end = now_ms() + WAIT_MS;

	c->ssl = SSL_new(ssl_ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->sock) != 1)
		return -1;
	for (;;) {
		ERR_clear_error();
		int rc = SSL_connect(c->ssl);
		if (rc == 1)
			break;
		int e = SSL_get_error(c->ssl, rc);
		uint64_t now = now_ms();
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			const char *why = ERR_reason_error_string(ERR_peek_error());
			printf("%s: TLS handshake failed: %s\n", c->name, why ? why : "hung up");
			c->closed = true;
			return -1;
		}
		if (now >= end ||
		    wait_io(c, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, (int)(end - now)) <= 0) {
			printf("%s: no TLS handshake within %d ms\n", c->name, WAIT_MS);
			return -1;
		}
	}
	if (dfs_tls_exporter(c->ssl, c->session) < 0 || dfs_tls_peer_id(c->ssl, &c->cert_id) < 0) {
		printf("%s: no exporter or no Ed25519 certificate (%s)\n", c->name,
		       dfs_tls_version(c->ssl));
		return -1;
	}
	return 0;
}

/* ---- WebSocket frames ------------------------------------------------- */

/* One masked frame (clients must mask). */
static int send_frame(struct conn *c, int opcode, bool fin, const uint8_t *p, size_t n)
{
	uint8_t h[14], mask[4];
	size_t hl = 0;
	static uint8_t chunk[65536];

	h[hl++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
	if (n < 126) {
		h[hl++] = (uint8_t)(0x80 | n);
	} else if (n <= 0xffff) {
		h[hl++] = 0x80 | 126;
		h[hl++] = (uint8_t)(n >> 8);
		h[hl++] = (uint8_t)n;
	} else {
		h[hl++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			h[hl++] = (uint8_t)((uint64_t)n >> (8 * i));
	}
	dfs_random(mask, sizeof(mask));
	memcpy(h + hl, mask, 4);
	hl += 4;
	if (write_all(c, h, hl) < 0)
		return -1;
	for (size_t off = 0; off < n;) {
		size_t k = n - off < sizeof(chunk) ? n - off : sizeof(chunk);
		for (size_t i = 0; i < k; i++)
			chunk[i] = p[off + i] ^ mask[(off + i) & 3];
		if (write_all(c, chunk, k) < 0)
			return -1;
		off += k;
	}
	return 0;
}

static int send_msg(struct conn *c, const struct dfs_buf *b)
{
	if (dfs_buf_ok(b) < 0)
		return -1;
	return send_frame(c, WS_BIN, true, b->data, b->len);
}

static void on_message(struct conn *c, const uint8_t *p, size_t len);

/* The length of the frame at p (have bytes): header in *hl; false if incomplete. */
static bool frame_len(const uint8_t *p, size_t have, size_t *hl, uint64_t *n)
{
	*hl = 2;
	if (have < 2)
		return false;
	*n = p[1] & 0x7f;
	if (*n == 126) {
		if (have < 4)
			return false;
		*n = (uint64_t)p[2] << 8 | p[3];
		*hl = 4;
	} else if (*n == 127) {
		if (have < 10)
			return false;
		*n = 0;
		for (int i = 0; i < 8; i++)
			*n = *n << 8 | p[2 + i];
		*hl = 10;
	}
	if (p[1] & 0x80)
		*hl += 4;	/* servers do not mask; tolerate it anyway */
	return have >= *hl + *n;
}

static void on_frame(struct conn *c, int opcode, bool fin, const uint8_t *payload, size_t n)
{
	switch (opcode) {
	case WS_BIN:
	case WS_CONT:
		if (opcode == WS_BIN)
			dfs_buf_reset(&c->msg);
		dfs_buf_add(&c->msg, payload, n);
		if (fin) {
			on_message(c, c->msg.data, c->msg.len);
			dfs_buf_reset(&c->msg);
		}
		break;
	case WS_PING:
		send_frame(c, WS_PONG, true, payload, n);
		break;
	case WS_PONG:
		c->got_pong = true;
		break;
	case WS_CLOSE:
		c->closed = true;
		break;
	default:
		break;
	}
}

/* Parses the complete frames in inbuf. */
static void parse_frames(struct conn *c)
{
	size_t hl;
	uint64_t n;

	while (frame_len(c->inbuf.data, c->inbuf.len, &hl, &n)) {
		uint8_t *p = c->inbuf.data, *payload = p + hl;
		if (p[1] & 0x80)
			for (uint64_t i = 0; i < n; i++)
				payload[i] ^= p[hl - 4 + (i & 3)];
		on_frame(c, p[0] & 0x0f, p[0] & 0x80, payload, (size_t)n);
		size_t used = hl + (size_t)n;
		memmove(c->inbuf.data, c->inbuf.data + used, c->inbuf.len - used);
		c->inbuf.len -= used;
	}
}

/* Services c until done(c) or timeout_ms; returns whether done() came. */
static bool run_until(struct conn *c, bool (*done)(const struct conn *), int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		parse_frames(c);
		if (done && done(c))
			return true;
		if (c->closed || c->sock < 0)
			return false;
		uint64_t now = now_ms();
		if (now >= end)
			return false;
		if (fill(c, (int)(end - now)) < 0) {
			c->closed = true;
			parse_frames(c);
			return done ? done(c) : false;
		}
	}
}

static bool is_hello(const struct conn *c) { return c->got_hello; }
static bool is_auth(const struct conn *c) { return c->got_auth; }
static bool is_admitted(const struct conn *c) { return c->auth_ok && c->got_log; }
static bool is_want(const struct conn *c) { return c->got_want; }
static bool is_acked(const struct conn *c) { return c->server_upto >= acked_mark; }
static bool is_pong(const struct conn *c) { return c->got_pong; }
static bool is_closed(const struct conn *c) { return c->closed; }

/* ---- the upgrade ------------------------------------------------------ */

static void ws_key(char key64[32])
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t key[16];
	size_t o = 0;

	dfs_random(key, sizeof(key));
	for (size_t i = 0; i < 16; i += 3) {
		uint32_t v = (uint32_t)key[i] << 16 | (i + 1 < 16 ? (uint32_t)key[i + 1] << 8 : 0) |
			     (i + 2 < 16 ? key[i + 2] : 0);
		key64[o++] = b64[v >> 18 & 63];
		key64[o++] = b64[v >> 12 & 63];
		key64[o++] = i + 1 < 16 ? b64[v >> 6 & 63] : '=';
		key64[o++] = i + 2 < 16 ? b64[v & 63] : '=';
	}
	key64[o] = '\0';
}

/* Waits for the answer to the upgrade: 101, or refused (c->closed). */
static int upgrade_answer(struct conn *c)
{
	uint64_t end = now_ms() + WAIT_MS;

	for (;;) {
		struct dfs_buf *in = &c->inbuf;
		char *hdr_end = in->len ? memmem(in->data, in->len, "\r\n\r\n", 4) : NULL;
		if (hdr_end) {
			size_t hl = (size_t)((uint8_t *)hdr_end - in->data) + 4;
			if (in->len < 12 || memcmp(in->data + 9, "101", 3) != 0) {
				printf("%s: upgrade refused: %.*s\n", c->name,
				       (int)strcspn((char *)in->data, "\r\n"), (char *)in->data);
				c->closed = true;
				return -1;
			}
			memmove(in->data, in->data + hl, in->len - hl);
			in->len -= hl;
			return 0;
		}
		if (fill(c, 100) < 0) {
			printf("%s: closed instead of answering the upgrade\n", c->name);
			c->closed = true;
			return -1;
		}
		if (now_ms() >= end) {
			printf("%s: no upgrade answer\n", c->name);
			return -1;
		}
	}
}

/* Connects to the node on port: TCP, TLS, the WebSocket upgrade. */
static int ws_connect(struct conn *c, int port)
{
	char key64[32], req[512];

	dfs_random(c->my_nonce, sizeof(c->my_nonce));
	if (tcp_connect(c, port) < 0 || (!plain && tls_start(c) < 0))
		return -1;
	ws_key(key64);
	int n = snprintf(req, sizeof(req),
			 "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
			 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n%s\r\n",
			 port, key64, DFS_WIRE_PROTOCOL,
			 send_origin ? "Origin: http://127.0.0.1\r\n" : "");
	if (write_all(c, req, (size_t)n) < 0) {
		printf("%s: the upgrade could not be sent\n", c->name);
		c->closed = true;
		return -1;
	}
	return upgrade_answer(c);
}

static void conn_close(struct conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->sock >= 0)
		close(c->sock);
	c->ssl = NULL;
	c->sock = -1;
	dfs_buf_release(&c->inbuf);
	dfs_buf_release(&c->msg);
}

/* ---- the handshake ---------------------------------------------------- */

/* The bytes an AUTH on c signs: ours (we connected) or the server's. */
static void proof_on(const struct conn *c, bool ours, uint8_t proof[DFS_WIRE_PROOF_LEN])
{
	struct dfs_wire_bind b;

	memcpy(b.session, c->session, sizeof(b.session));
	b.prover_connected = ours;
	memcpy(b.nonce, ours ? c->server_nonce : c->my_nonce, sizeof(b.nonce));
	b.prover = ours ? node_pk : c->server_id;
	b.verifier = ours ? c->server_id : node_pk;
	dfs_wire_proof(proof, &b);
}

static void on_hello(struct conn *c, const struct dfs_msg *m)
{
	c->got_hello = true;
	c->server_id = m->node;
	memcpy(c->server_nonce, m->nonce, sizeof(c->server_nonce));
	c->hello_ok = plain || memcmp(m->node.b, c->cert_id.b, DFS_PUBKEY_LEN) == 0;
	if (!c->hello_ok)
		printf("%s: its HELLO names %s, its certificate %s\n", c->name,
		       id16(&m->node), id16(&c->cert_id));
}

static void on_auth(struct conn *c, const struct dfs_msg *m)
{
	uint8_t proof[DFS_WIRE_PROOF_LEN], mac[DFS_WIRE_MAC_LEN];

	c->got_auth = true;
	memcpy(c->server_sig, m->sig, sizeof(c->server_sig));
	memcpy(c->server_mac, m->mac, sizeof(c->server_mac));
	proof_on(c, false, proof);
	if (!c->got_hello || dfs_verify(m->sig, proof, sizeof(proof), &c->server_id) < 0) {
		printf("%s: its AUTH does not verify\n", c->name);
		return;
	}
	if (has_netkey) {
		dfs_mac(mac, netkey, proof, sizeof(proof));
		if (!dfs_mem_equal(mac, m->mac, sizeof(mac))) {
			printf("%s: its AUTH's MAC is not under our network key\n", c->name);
			return;
		}
	}
	c->auth_ok = true;
}

static int send_control(struct conn *c, const struct dfs_msg *m);

static void on_updates(struct conn *c, const struct dfs_msg *m)
{
	size_t off = 0, n;
	uint64_t seq;
	const uint8_t *rec;
	struct dfs_hash h;

	if (m->seq > c->server_head)
		c->server_head = m->seq;
	if (m->upto > c->server_upto)
		c->server_upto = m->upto;
	while (dfs_msg_next_item(m, &off, &seq, &rec, &n)) {
		updates_in++;
		if (keep_in && c == &main_conn) {
			dfs_buf_add_u32be(&kept, (uint32_t)n);
			dfs_buf_add(&kept, rec, n);
			kept_n++;
		}
		dfs_hash2(&h, rec, n, NULL, 0);
		if (awaiting && memcmp(h.b, awaited.b, DFS_HASH_LEN) == 0)
			echoed = true;
		for (size_t i = 0; i < nforged; i++)
			if (memcmp(h.b, forged[i].b, DFS_HASH_LEN) == 0)
				forged_echoed = true;
	}
	/* A fetch takes the log in as an honest peer does: its window opens as it acknowledges. */
	if (keep_in && !no_ack && c == &main_conn && m->upto) {
		struct dfs_msg ack = { .type = DFS_MSG_ACK, .seq = c->server_upto,
				       .upto = c->server_upto };
		if (send_control(c, &ack) < 0)
			printf("%s: cannot acknowledge its log\n", c->name);
	}
}

static void on_message(struct conn *c, const uint8_t *p, size_t len)
{
	struct dfs_msg m;
	int rc = dfs_msg_decode(p, len, &m);

	if (rc < 0) {
		printf("%s sent a message we cannot decode (%d)\n", c->name, rc);
		return;
	}
	switch (m.type) {
	case DFS_MSG_HELLO:
		on_hello(c, &m);
		break;
	case DFS_MSG_AUTH:
		on_auth(c, &m);
		break;
	case DFS_MSG_LOG:
		c->got_log = true;
		c->server_head = m.seq;
		break;
	case DFS_MSG_WANT:
		c->got_want = true;
		c->want = m.seq;
		break;
	case DFS_MSG_UPDATES:
		on_updates(c, &m);
		break;
	case DFS_MSG_GRAFT:
		c->keeps += m.count == 0;
		break;
	case DFS_MSG_HAVE:
		c->haves += m.count;
		break;
	}
}

static int send_control(struct conn *c, const struct dfs_msg *m)
{
	struct dfs_buf b;

	dfs_buf_init(&b);
	int rc = dfs_msg_encode(m, &b);
	if (rc == 0)
		rc = send_msg(c, &b);
	dfs_buf_release(&b);
	return rc;
}

/* HELLO as id (ours, or one we claim), with nonce; flagged as keyed when netkey_flag. */
static int send_hello(struct conn *c, const struct dfs_pubkey *id, const uint8_t *nonce,
		      bool netkey_flag)
{
	struct dfs_msg m = { .type = DFS_MSG_HELLO };

	m.flags = netkey_flag ? DFS_WIRE_FLAG_NETKEY : 0;
	m.node = *id;
	memcpy(m.nonce, nonce, sizeof(m.nonce));
	memcpy(c->my_nonce, nonce, sizeof(c->my_nonce));
	return send_control(c, &m);
}

static int send_auth(struct conn *c, const uint8_t sig[DFS_SIG_LEN],
		     const uint8_t mac[DFS_WIRE_MAC_LEN])
{
	struct dfs_msg m = { .type = DFS_MSG_AUTH };

	memcpy(m.sig, sig, sizeof(m.sig));
	memcpy(m.mac, mac, sizeof(m.mac));
	return send_control(c, &m);
}

/* Our AUTH on c: our signature; the MAC under --netkey, or zeros. */
static void our_auth(const struct conn *c, uint8_t sig[DFS_SIG_LEN],
		     uint8_t mac[DFS_WIRE_MAC_LEN])
{
	uint8_t proof[DFS_WIRE_PROOF_LEN];

	proof_on(c, true, proof);
	dfs_sign(sig, proof, sizeof(proof), &node_sk);
	memset(mac, 0, DFS_WIRE_MAC_LEN);
	if (has_netkey)
		dfs_mac(mac, netkey, proof, sizeof(proof));
}

/* LOG (our pretend log, under its id), then WANT 0. */
static int send_log_want(struct conn *c)
{
	struct dfs_msg m = { .type = DFS_MSG_LOG };

	m.seq = my_seq;
	memcpy(m.log_id, my_log_id, sizeof(m.log_id));
	if (send_control(c, &m) < 0)
		return -1;
	memset(&m, 0, sizeof(m));
	m.type = DFS_MSG_WANT;
	m.seq = 0;
	return send_control(c, &m);
}

/* Our HELLO, and the server's. */
static int hello_exchange(struct conn *c, const char *step)
{
	uint8_t nonce[DFS_WIRE_NONCE_LEN];

	dfs_random(nonce, sizeof(nonce));
	if (send_hello(c, &node_pk, nonce, has_netkey) < 0 || !run_until(c, is_hello, WAIT_MS)) {
		printf("%s: no HELLO from the server%s\n", step, c->closed ? " (closed)" : "");
		return -1;
	}
	return 0;
}

static int step_handshake(void)
{
	struct conn *c = cur;
	uint8_t sig[DFS_SIG_LEN], mac[DFS_WIRE_MAC_LEN];

	if (hello_exchange(c, "handshake") < 0 || !c->hello_ok)
		return -1;
	our_auth(c, sig, mac);
	if (send_auth(c, sig, mac) < 0 || !run_until(c, is_admitted, WAIT_MS)) {
		printf("handshake: no valid AUTH and LOG from the server%s\n",
		       c->closed ? " (closed)" : "");
		return -1;
	}
	if (send_log_want(c) < 0 || !run_until(c, is_want, WAIT_MS)) {
		printf("handshake: no WANT from the server%s\n", c->closed ? " (closed)" : "");
		return -1;
	}
	printf("handshake: up as %s\n", id16(&node_pk));
	printf("handshake: link %s\n", c->ssl ? dfs_tls_version(c->ssl) : "plain");
	printf("handshake: the server wants our log after %llu\n", (unsigned long long)c->want);
	return 0;
}

static int step_badauth(void)
{
	struct conn *c = cur;
	uint8_t proof[DFS_WIRE_PROOF_LEN], sig[DFS_SIG_LEN], mac[DFS_WIRE_MAC_LEN] = { 0 };

	if (hello_exchange(c, "badauth") < 0)
		return -1;
	/* Signed over our own nonce, not the server's. */
	memcpy(c->server_nonce, c->my_nonce, sizeof(c->server_nonce));
	proof_on(c, true, proof);
	dfs_sign(sig, proof, sizeof(proof), &node_sk);
	if (has_netkey)
		dfs_mac(mac, netkey, proof, sizeof(proof));
	printf("badauth: AUTH over the wrong nonce sent\n");
	return send_auth(c, sig, mac);
}

/* ---- updates ---------------------------------------------------------- */

static uint64_t wall_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	return ms << 16;
}

/* Encodes and signs one update into out (reset first). */
static int make_update(struct dfs_buf *out, uint8_t op, const struct dfs_pubkey *obj,
		       const struct dfs_seckey *sk, const struct dfs_hash *prev, uint64_t clock,
		       const char *model, const char *name, const char *value)
{
	struct dfs_update u = {
		.op = op,
		.clock = clock,
		.entity = *obj,
		.signer = *obj,
		.prev = *prev,
		.model = model,
		.model_len = strlen(model),
		.name = name,
		.name_len = strlen(name),
		.value = (const uint8_t *)value,
		.value_len = value ? strlen(value) : 0,
	};

	dfs_buf_reset(out);
	if (dfs_update_encode(&u, out) < 0 || dfs_buf_ok(out) < 0)
		return -1;
	size_t slen = dfs_update_signed_len(out->len);
	dfs_sign(out->data + slen, out->data, slen, sk);
	return 0;
}

/* An OBJECT_CREATE of a new object of model, named name, into rec; its key in *sk. */
static int make_create(struct dfs_buf *rec, struct dfs_seckey *sk, uint64_t clock,
		       const char *model, const char *name)
{
	struct dfs_pubkey pk;
	struct dfs_hash zero = { { 0 } };

	if (dfs_keys_generate(&pk, sk) < 0)
		return -1;
	return make_update(rec, DFS_OP_OBJECT_CREATE, &pk, sk, &zero, clock, model, name, NULL);
}

static int send_updates(struct conn *c, struct dfs_buf *recs[], size_t n)
{
	struct dfs_buf m;

	dfs_buf_init(&m);
	dfs_msg_updates_begin(&m, my_seq + n);
	for (size_t i = 0; i < n; i++)
		dfs_msg_updates_add(&m, ++my_seq, recs[i]->data, recs[i]->len);
	dfs_msg_updates_end(&m, my_seq);
	int rc = send_msg(c, &m);
	dfs_buf_release(&m);
	return rc;
}

/* Sends one OBJECT_CREATE of model/name on c. */
static int send_create(struct conn *c, const char *model, const char *name)
{
	struct dfs_seckey sk;
	struct dfs_buf rec;

	dfs_buf_init(&rec);
	int rc = make_create(&rec, &sk, wall_clock(), model, name);
	dfs_seckey_wipe(&sk);
	if (rc == 0) {
		struct dfs_buf *v[] = { &rec };
		rc = send_updates(c, v, 1);
	}
	dfs_buf_release(&rec);
	return rc;
}

static int step_forged(const char *model, const char *name, bool bad_version)
{
	struct dfs_seckey sk;
	struct dfs_buf rec;

	dfs_buf_init(&rec);
	if (make_create(&rec, &sk, wall_clock(), model, name) < 0)
		return -1;
	if (bad_version) {
		/* Framed and signed as usual, but not an update this version knows. */
		rec.data[0] = 9;
		size_t slen = dfs_update_signed_len(rec.len);
		dfs_sign(rec.data + slen, rec.data, slen, &sk);
	} else {
		rec.data[rec.len - DFS_SIG_LEN + 5] ^= 0x10;	/* a signature byte */
	}
	dfs_seckey_wipe(&sk);
	if (nforged < sizeof(forged) / sizeof(forged[0]))
		dfs_hash2(&forged[nforged++], rec.data, rec.len, NULL, 0);
	struct dfs_buf *v[] = { &rec };
	int rc = send_updates(cur, v, 1);
	printf("%s %s/%s: update %s\n", bad_version ? "badrecord" : "forged", model, name,
	       hex16(&forged[nforged - 1]));
	dfs_buf_release(&rec);
	return rc;
}

static int step_valid(const char *model, const char *name, const char *field, const char *value)
{
	struct dfs_seckey sk;
	struct dfs_pubkey pk;
	struct dfs_buf create, set;
	struct dfs_hash h;
	uint64_t clock = wall_clock();

	dfs_buf_init(&create);
	dfs_buf_init(&set);
	if (make_create(&create, &sk, clock, model, name) < 0)
		return -1;
	dfs_seckey_public(&sk, &pk);
	dfs_hash2(&h, create.data, create.len, NULL, 0);
	int rc = make_update(&set, DFS_OP_FIELD_SET, &pk, &sk, &h, clock + 1, model, field,
			     value);
	dfs_seckey_wipe(&sk);
	if (rc == 0) {
		struct dfs_buf *v[] = { &create, &set };
		rc = send_updates(cur, v, 2);
	}
	dfs_hash2(&awaited, set.data, set.len, NULL, 0);
	awaiting = true;
	echoed = false;
	/* Our two updates go after whatever the server logged before. */
	acked_mark = (cur->server_head > cur->server_upto ? cur->server_head : cur->server_upto) + 2;
	printf("valid %s/%s: update %s\n", model, name, hex16(&awaited));
	dfs_buf_release(&last_create);
	dfs_buf_release(&last_set);
	last_create = create;
	last_set = set;
	return rc;
}

static int step_replay(void)
{
	struct dfs_buf *v[] = { &last_create, &last_set };

	if (!last_set.len) {
		printf("replay: no valid update sent yet\n");
		return -1;
	}
	int rc = send_updates(cur, v, 2);
	printf("replay: update %s sent again\n", hex16(&awaited));
	return rc;
}

/* Reads the whole file at path into b: 0, or -1 after saying why. */
static int read_record(const char *path, struct dfs_buf *b)
{
	FILE *f = fopen(path, "rb");
	uint8_t tmp[65536];
	size_t n;

	if (!f) {
		printf("send: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		dfs_buf_add(b, tmp, n);
	int bad = ferror(f) || dfs_buf_ok(b) < 0;
	fclose(f);
	if (bad)
		printf("send: %s: cannot read it\n", path);
	return bad ? -1 : 0;
}

static bool is_step(const char *name);

/* The files of `send`: its arguments up to the next step name. */
static size_t send_files(char **a)
{
	size_t n = 0;

	while (a[n] && !is_step(a[n]))
		n++;
	return n;
}

/* The records in files, in one UPDATES message, in the order given. */
static int step_send(char **files)
{
	size_t n = send_files(files);
	struct dfs_buf *recs = calloc(n, sizeof(*recs)), **v = calloc(n, sizeof(*v));
	struct dfs_hash h;
	uint64_t first = my_seq + 1;
	int rc = recs && v ? 0 : -1;

	for (size_t i = 0; i < n && rc == 0; i++) {
		dfs_buf_init(&recs[i]);
		v[i] = &recs[i];
		rc = read_record(files[i], &recs[i]);
		if (rc == 0) {
			dfs_hash2(&h, recs[i].data, recs[i].len, NULL, 0);
			printf("send %s: update %s\n", files[i], hex16(&h));
		}
	}
	if (rc == 0)
		rc = send_updates(cur, v, n);
	if (rc == 0)
		printf("send: %zu updates sent, seq %llu..%llu\n", n, (unsigned long long)first,
		       (unsigned long long)my_seq);
	for (size_t i = 0; recs && v && i < n; i++)
		dfs_buf_release(&recs[i]);
	free(recs);
	free(v);
	return rc;
}

/* Writes the kept records not saved yet to dir/000001.upd, ...; returns how many, or -1. */
static long save_kept(const char *dir)
{
	char path[4096];
	long saved = 0;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		printf("fetch: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (; kept_saved < kept_n; kept_saved++) {
		const uint8_t *p = kept.data + kept_off;
		uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		snprintf(path, sizeof(path), "%s/%06ld.upd", dir, saved + 1);
		FILE *f = fopen(path, "wb");
		if (!f || fwrite(p + 4, 1, n, f) != n || fclose(f) != 0) {
			printf("fetch: %s: %s\n", path, strerror(errno));
			return -1;
		}
		kept_off += 4 + (size_t)n;
		saved++;
	}
	return saved;
}

/* Waits until no update has come for 1 s, then saves what came. */
static int step_fetch(const char *dir)
{
	size_t before;

	if (!cur->got_log) {
		printf("fetch: not admitted (no handshake before it?)\n");
		return -1;
	}
	do {
		before = kept_n;
		run_until(cur, NULL, 1000);
	} while (kept_n != before && !cur->closed);
	if (dfs_buf_ok(&kept) < 0)
		return -1;
	long n = save_kept(dir);
	if (n >= 0)
		printf("fetch: %ld updates saved in %s\n", n, dir);
	return n < 0 ? -1 : 0;
}

/*
 * What an intruder does once its AUTH is out, without waiting to hear it
 * was admitted: LOG, WANT 0 and a new object. Stored only if it was.
 */
static void intrude(struct conn *c, const char *model, const char *name)
{
	bool sent = send_log_want(c) == 0 && send_create(c, model, name) == 0;

	printf("%s: LOG, WANT 0 and %s/%s %s\n", c->name, model, name,
	       sent ? "sent" : "not all sent (closed)");
}

/* HELLO, AUTH, then the intruder's messages, all without waiting. */
static int step_attempt(const char *model, const char *name)
{
	struct conn *c = cur;
	uint8_t sig[DFS_SIG_LEN], mac[DFS_WIRE_MAC_LEN];

	if (hello_exchange(c, "attempt") < 0)
		return 0;	/* refused at once: for `refused` to see */
	our_auth(c, sig, mac);
	send_auth(c, sig, mac);
	printf("attempt: HELLO and AUTH sent as %s, %s\n", id16(&node_pk),
	       has_netkey ? "MAC under --netkey" : "no network key");
	intrude(c, model, name);
	return 0;
}

/* ---- the reflection attacks ------------------------------------------- */

/*
 * An attacker with a key and certificate of its own (M) but without the
 * network key that nodes 1 and 2 share tries to get in by handing one a
 * proof made by the other, or a node its own proof, in the ways that
 * worked against version 2's proof (a signature and MAC over a nonce and
 * an id only). Each attempt ends with the intruder's messages, and must be
 * closed without the node's LOG (which would mean admitted):
 *
 *   cross        on a link to each node, a HELLO as M carrying the OTHER
 *                node's nonce, so that each node's AUTH is a MAC over the
 *                nonce its peer asked us to answer; then to each node our
 *                signature with the other node's MAC.
 *   mirror       to each node, a HELLO as M echoing the node's own nonce;
 *                then back to it our signature with its own MAC (same
 *                session, same nonce, the roles swapped).
 *   impersonate  to each node, a HELLO claiming the other node's id, then
 *                the other node's whole AUTH, obtained on a second link to
 *                it by sending it this node's nonce.
 */

static void conn_init(struct conn *c, const char *name)
{
	memset(c, 0, sizeof(*c));
	c->name = name;
	c->sock = -1;
	dfs_buf_init(&c->inbuf);
	dfs_buf_init(&c->msg);
}

/* Opens c (conn_init'ed) to port and waits for the server's HELLO. */
static int reflect_open(struct conn *c, int port)
{
	if (ws_connect(c, port) < 0 || !run_until(c, is_hello, WAIT_MS)) {
		printf("reflect: %s gave no HELLO%s\n", c->name, c->closed ? " (closed)" : "");
		return -1;
	}
	return 0;
}

/* Sends HELLO as id with nonce, then waits for the server's AUTH. */
static int reflect_hello(struct conn *c, const struct dfs_pubkey *id, const uint8_t *nonce)
{
	if (send_hello(c, id, nonce, true) < 0 || !run_until(c, is_auth, WAIT_MS)) {
		printf("reflect: %s gave no AUTH%s\n", c->name, c->closed ? " (closed)" : "");
		return -1;
	}
	return 0;
}

/* Our signature on c, with a MAC taken from elsewhere. */
static int send_auth_with_mac(struct conn *c, const uint8_t mac[DFS_WIRE_MAC_LEN])
{
	uint8_t sig[DFS_SIG_LEN], unused[DFS_WIRE_MAC_LEN];
	static const uint8_t zero[DFS_WIRE_MAC_LEN];

	if (dfs_mem_equal(mac, zero, sizeof(zero)))
		printf("reflect: the MAC to relay is zeros: the node has no network key?\n");
	our_auth(c, sig, unused);
	return send_auth(c, sig, mac);
}

/* 0 when c was closed without being admitted. */
static int reflect_verdict(struct conn *c, const char *attack, const char *model,
			   const char *name)
{
	intrude(c, model, name);
	run_until(c, is_closed, WAIT_MS);
	bool ok = c->closed && !c->got_log;
	printf("reflect %s: %s %s\n", attack, c->name,
	       c->got_log ? "admitted us (sent its LOG)"
	       : c->closed ? "refused it (closed)" : "kept the link open");
	conn_close(c);
	return ok ? 0 : -1;
}

static int reflect_cross(int port1, int port2)
{
	struct conn c1, c2;
	int rc = -1;

	conn_init(&c1, "node 1");
	conn_init(&c2, "node 2");
	if (reflect_open(&c1, port1) < 0 || reflect_open(&c2, port2) < 0 ||
	    reflect_hello(&c1, &node_pk, c2.server_nonce) < 0 ||
	    reflect_hello(&c2, &node_pk, c1.server_nonce) < 0)
		goto out;
	printf("reflect cross: node 1 (%s) MACed node 2's nonce: %s; node 2 (%s) node 1's: %s\n",
	       id16(&c1.server_id), hex_n(c1.server_mac, 8), id16(&c2.server_id),
	       hex_n(c2.server_mac, 8));
	send_auth_with_mac(&c1, c2.server_mac);
	send_auth_with_mac(&c2, c1.server_mac);
	rc = reflect_verdict(&c1, "cross", "Wire", "reflected-cross-1");
	rc |= reflect_verdict(&c2, "cross", "Wire", "reflected-cross-2");
out:
	conn_close(&c1);
	conn_close(&c2);
	return rc;
}

static int reflect_mirror(const char *name, int port)
{
	struct conn c;
	char obj[64];
	int rc = -1;

	conn_init(&c, name);
	if (reflect_open(&c, port) == 0 && reflect_hello(&c, &node_pk, c.server_nonce) == 0) {
		printf("reflect mirror: %s (%s) MACed its own nonce: %s; sent back to it\n", name,
		       id16(&c.server_id), hex_n(c.server_mac, 8));
		send_auth_with_mac(&c, c.server_mac);
		snprintf(obj, sizeof(obj), "reflected-mirror-%c", name[strlen(name) - 1]);
		rc = reflect_verdict(&c, "mirror", "Wire", obj);
	}
	conn_close(&c);
	return rc;
}

/* To the victim, as the other node, with the other node's AUTH over the victim's nonce. */
static int reflect_impersonate(const char *victim, int vport, const char *other, int oport)
{
	struct conn v, o;
	uint8_t nonce[DFS_WIRE_NONCE_LEN];
	char obj[64];
	int rc = -1;

	dfs_random(nonce, sizeof(nonce));
	conn_init(&v, victim);
	conn_init(&o, other);
	if (reflect_open(&v, vport) < 0 || reflect_open(&o, oport) < 0 ||
	    reflect_hello(&o, &node_pk, v.server_nonce) < 0)
		goto out;
	printf("reflect impersonate: to %s (%s) as %s (%s), with its AUTH over %s's nonce\n",
	       victim, id16(&v.server_id), other, id16(&o.server_id), victim);
	send_hello(&v, &o.server_id, nonce, true);
	send_auth(&v, o.server_sig, o.server_mac);
	snprintf(obj, sizeof(obj), "reflected-as-%c", other[strlen(other) - 1]);
	rc = reflect_verdict(&v, "impersonate", "Wire", obj);
out:
	conn_close(&v);
	conn_close(&o);
	return rc;
}

static int step_reflect(int port1, int port2)
{
	int rc = 0;

	if (has_netkey)
		printf("reflect: run without --netkey: the attacker has no network key\n");
	rc |= reflect_cross(port1, port2);
	rc |= reflect_mirror("node 1", port1);
	rc |= reflect_mirror("node 2", port2);
	rc |= reflect_impersonate("node 1", port1, "node 2", port2);
	rc |= reflect_impersonate("node 2", port2, "node 1", port1);
	printf("reflect: %s\n", rc ? "NOT every attempt was refused" : "every attempt refused");
	return rc ? -1 : 0;
}

/* ---- the other steps -------------------------------------------------- */

static int send_raw(const char *what, const uint8_t *p, size_t n)
{
	int rc = send_frame(cur, WS_BIN, true, p, n);

	printf("%s: %zu bytes sent\n", what, n);
	return rc;
}

static int step_malformed(const char *s)
{
	if (strcmp(s, "garbage") == 0) {
		uint8_t g[200];
		dfs_random(g, sizeof(g));
		g[0] = (uint8_t)(0x80 | (g[0] & 0x3f));	/* never H, A, L, W or U */
		return send_raw(s, g, sizeof(g));
	}
	if (strcmp(s, "badwant") == 0) {
		uint8_t w[8] = { DFS_MSG_WANT, 0, 0, 0, 0, 0, 0, 1 };
		return send_raw(s, w, sizeof(w));
	}
	if (strcmp(s, "badhello") == 0) {
		uint8_t h[10] = { DFS_MSG_HELLO, DFS_WIRE_VERSION, 0, 1, 2, 3, 4, 5, 6, 7 };
		return send_raw(s, h, sizeof(h));
	}
	if (strcmp(s, "oversized-hello") == 0) {
		uint8_t h[300] = { DFS_MSG_HELLO, DFS_WIRE_VERSION, 0 };
		memcpy(h + 3, node_pk.b, DFS_PUBKEY_LEN);
		dfs_random(h + 3 + DFS_PUBKEY_LEN, sizeof(h) - 3 - DFS_PUBKEY_LEN);
		return send_raw(s, h, sizeof(h));
	}
	uint8_t u[9] = { 'Z', 1, 2, 3, 4, 5, 6, 7, 8 };
	return send_raw(s, u, sizeof(u));
}

static int step_badframe(const char *s)
{
	struct dfs_buf m, rec;
	struct dfs_seckey sk;

	dfs_buf_init(&m);
	dfs_buf_init(&rec);
	make_create(&rec, &sk, wall_clock(), "Wire", "badframe");
	dfs_seckey_wipe(&sk);
	dfs_msg_updates_begin(&m, 2);
	if (strcmp(s, "badseq") == 0) {
		dfs_msg_updates_add(&m, 2, rec.data, rec.len);
		dfs_msg_updates_add(&m, 1, rec.data, rec.len);
	} else {
		dfs_buf_add_u64be(&m, 1);
		dfs_buf_add_u32be(&m, (uint32_t)rec.len + 100);
		dfs_buf_add(&m, rec.data, rec.len);
	}
	dfs_msg_updates_end(&m, 2);
	int rc = dfs_buf_ok(&m) < 0 ? -1 : send_raw(s, m.data, m.len);
	dfs_buf_release(&m);
	dfs_buf_release(&rec);
	return rc;
}

static int step_oversized(void)
{
	size_t n = DFS_WIRE_MSG_MAX + 1, part = 1u << 20;
	uint8_t *big = calloc(1, n);
	int rc = 0;

	if (!big)
		return -1;
	big[0] = DFS_MSG_UPDATES;
	/* Sent as fragments, as a peer streaming a big message would. */
	for (size_t off = 0; off < n && rc == 0; off += part) {
		size_t k = n - off < part ? n - off : part;
		rc = send_frame(cur, off == 0 ? WS_BIN : WS_CONT, off + k == n, big + off, k);
		/* Keep the link serviced: pings, the server's log. */
		run_until(cur, NULL, 0);
	}
	free(big);
	printf("oversized: %zu bytes sent\n", n);
	return rc;
}

static int step_acked(void)
{
	bool acked = run_until(cur, is_acked, WAIT_MS);

	run_until(cur, NULL, 300);	/* an echo would come with or just after */
	if (acked && !echoed) {
		printf("acked: the server logged our update and did not send it back\n");
		return 0;
	}
	printf("acked: %s%s\n", echoed ? "our update came back" : "not logged",
	       cur->closed ? " (link closed)" : "");
	return -1;
}

static int step_open(void)
{
	cur->got_pong = false;
	int rc = send_frame(cur, WS_PING, true, (const uint8_t *)"probe", 5);

	if (rc == 0 && run_until(cur, is_pong, WAIT_MS)) {
		printf("open: pong\n");
		return 0;
	}
	printf("open: no pong%s\n", cur->closed ? " (link closed)" : "");
	return -1;
}

static int step_closed(const char *s)
{
	bool refused = strcmp(s, "refused") == 0;

	if (!run_until(cur, is_closed, WAIT_MS) && !cur->closed) {
		printf("%s: still open\n", s);
		return -1;
	}
	if (refused && cur->got_log) {
		printf("refused: the server admitted us (sent its LOG) before closing\n");
		return -1;
	}
	if (refused && cur->got_hello)
		printf("refused: got the server's HELLO (version %d), then closed\n",
		       DFS_WIRE_VERSION);
	printf("%s: the server closed the link\n", s);
	return 0;
}

/* ---- the command line ------------------------------------------------- */

struct step {
	const char *name;
	int nargs;
	int (*run)(const char *s, char **a);
};

static int run_handshake(const char *s, char **a) { (void)s; (void)a; return step_handshake(); }
static int run_badauth(const char *s, char **a) { (void)s; (void)a; return step_badauth(); }
static int run_attempt(const char *s, char **a) { (void)s; return step_attempt(a[0], a[1]); }
static int run_malformed(const char *s, char **a) { (void)a; return step_malformed(s); }
static int run_badframe(const char *s, char **a) { (void)a; return step_badframe(s); }
static int run_oversized(const char *s, char **a) { (void)s; (void)a; return step_oversized(); }
static int run_replay(const char *s, char **a) { (void)s; (void)a; return step_replay(); }
static int run_send(const char *s, char **a) { (void)s; return step_send(a); }
static int run_fetch(const char *s, char **a) { (void)s; return step_fetch(a[0]); }
static int run_acked(const char *s, char **a) { (void)s; (void)a; return step_acked(); }
static int run_open(const char *s, char **a) { (void)s; (void)a; return step_open(); }
static int run_closed(const char *s, char **a) { (void)a; return step_closed(s); }

static int run_forged(const char *s, char **a)
{
	return step_forged(a[0], a[1], strcmp(s, "badrecord") == 0);
}

static int run_valid(const char *s, char **a)
{
	(void)s;
	return step_valid(a[0], a[1], a[2], a[3]);
}

static int port1;

static int run_reflect(const char *s, char **a)
{
	(void)s;
	return step_reflect(port1, atoi(a[0]));
}

/* Another WANT on a link that sent one in its handshake. */
static int run_want(const char *s, char **a)
{
	struct dfs_msg m = { .type = DFS_MSG_WANT };

	(void)s;
	m.seq = strtoull(a[0], NULL, 10);
	if (send_control(cur, &m) < 0) {
		printf("want: cannot send\n");
		return -1;
	}
	printf("want: asked for the log after %llu\n", (unsigned long long)m.seq);
	return 0;
}

/* An ACK of the server's log up to SEQ (stored and taken in), whatever it sent us. */
static int run_ack(const char *s, char **a)
{
	struct dfs_msg m = { .type = DFS_MSG_ACK };

	(void)s;
	m.seq = m.upto = strtoull(a[0], NULL, 10);
	if (send_control(cur, &m) < 0) {
		printf("ack: cannot send\n");
		return -1;
	}
	printf("ack: acknowledged the log up to %llu\n", (unsigned long long)m.seq);
	return 0;
}

static bool is_kept(const struct conn *c) { return c->keeps > 0; }
static bool is_announced(const struct conn *c) { return c->haves > 0; }

/* A PRUNE; whether the server refused it as a says. */
static int run_prune(const char *s, char **a)
{
	struct dfs_msg m = { .type = DFS_MSG_PRUNE };
	bool want_kept = strcmp(a[0], "kept") == 0;

	(void)s;
	if (!want_kept && strcmp(a[0], "taken") != 0) {
		printf("prune: kept or taken, not %s\n", a[0]);
		return -1;
	}
	cur->keeps = 0;
	if (send_control(cur, &m) < 0) {
		printf("prune: cannot send\n");
		return -1;
	}
	bool kept = run_until(cur, is_kept, want_kept ? WAIT_MS : 2000);
	printf("prune: the server %s it\n", kept ? "refused" : "took");
	return kept == want_kept ? 0 : -1;
}

static int run_announced(const char *s, char **a)
{
	(void)s;
	(void)a;
	bool got = run_until(cur, is_announced, WAIT_MS);
	printf("announced: %s\n", got ? "the server sent a HAVE" : "no HAVE");
	return got ? 0 : -1;
}

static int run_sleep(const char *s, char **a)
{
	(void)s;
	run_until(cur, NULL, atoi(a[0]));
	return 0;
}

static const struct step steps[] = {
	{ "handshake", 0, run_handshake },	{ "badauth", 0, run_badauth },
	{ "want", 1, run_want },
	{ "ack", 1, run_ack },
	{ "attempt", 2, run_attempt },		{ "garbage", 0, run_malformed },
	{ "badwant", 0, run_malformed },	{ "badhello", 0, run_malformed },
	{ "unknown", 0, run_malformed },	{ "oversized-hello", 0, run_malformed },
	{ "badseq", 0, run_badframe },		{ "badlen", 0, run_badframe },
	{ "oversized", 0, run_oversized },	{ "forged", 2, run_forged },
	{ "badrecord", 2, run_forged },		{ "valid", 4, run_valid },
	{ "replay", 0, run_replay },		{ "acked", 0, run_acked },
	{ "open", 0, run_open },		{ "closed", 0, run_closed },
	{ "refused", 0, run_closed },		{ "reflect", 1, run_reflect },
	{ "sleep", 1, run_sleep },		{ "send", -1, run_send },
	{ "fetch", 1, run_fetch },		{ "prune", 1, run_prune },
	{ "announced", 0, run_announced },
};

static bool is_step(const char *name)
{
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (strcmp(steps[i].name, name) == 0)
			return true;
	return false;
}

/* How many arguments the step at argv[i] takes: -1 as nargs means "files". */
static int step_nargs(const struct step *st, char **argv, int i)
{
	return st->nargs >= 0 ? st->nargs : (int)send_files(argv + i + 1);
}

static const struct step *find_step(const char *name, int left)
{
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (strcmp(steps[i].name, name) == 0 && steps[i].nargs <= left)
			return &steps[i];
	return NULL;
}

/* Checks the steps before anything is sent: 0, or 2 on a usage error. */
static int check_steps(int argc, char **argv, int first)
{
	for (int i = first; i < argc; i++) {
		const struct step *st = find_step(argv[i], argc - i - 1);
		if (!st || (st->nargs < 0 && step_nargs(st, argv, i) == 0)) {
			fprintf(stderr, "wsprobe: unknown step '%s' (or too few arguments)\n",
				argv[i]);
			return 2;
		}
		if (st->run == run_fetch)
			keep_in = true;
		i += step_nargs(st, argv, i);
	}
	return 0;
}

/* Options before PORT; returns the index of PORT, or -1 on a usage error. */
static int parse_options(int argc, char **argv)
{
	int i = 1;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--plain") == 0) {
			plain = true;
		} else if (strcmp(argv[i], "--origin") == 0) {
			send_origin = true;
		} else if (strcmp(argv[i], "--netkey") == 0 && i + 1 < argc) {
			if (dfs_netkey_read(argv[++i], netkey) < 0)
				return -1;
			has_netkey = true;
		} else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
			key_file = argv[++i];
		} else if (strcmp(argv[i], "--head") == 0 && i + 1 < argc) {
			my_seq = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--no-ack") == 0) {
			no_ack = true;
		} else {
			return -1;
		}
	}
	return i < argc ? i : -1;
}

/* Our key and log id, and the TLS context that presents the key's certificate. */
static int identity_init(void)
{
	if (dfs_crypto_init() < 0)
		return -1;
	if (key_file) {
		struct dfs_hash h;
		if (dfs_keyfile_read(key_file, &node_sk) < 0) {
			fprintf(stderr, "wsprobe: cannot read the key file %s\n", key_file);
			return -1;
		}
		dfs_seckey_public(&node_sk, &node_pk);
		dfs_hash2(&h, (const uint8_t *)"wsprobe log", 11, node_pk.b, sizeof(node_pk.b));
		memcpy(my_log_id, h.b, sizeof(my_log_id));
	} else {
		if (dfs_keys_generate(&node_pk, &node_sk) < 0)
			return -1;
		dfs_random(my_log_id, sizeof(my_log_id));
	}
	if (plain)
		return 0;
	struct dfs_tls_cert *cert = dfs_tls_cert_new(&node_sk);
	ssl_ctx = cert ? dfs_tls_client_ctx_new(cert) : NULL;
	dfs_tls_cert_free(cert);	/* the context holds its own references */
	return ssl_ctx ? 0 : -1;
}

static int run_steps(int argc, char **argv, int first)
{
	int fails = 0;

	for (int i = first; i < argc; i++) {
		const struct step *st = find_step(argv[i], argc - i - 1);
		/* Only `refused` makes sense on a connection that was refused. */
		int rc = cur->sock < 0 && strcmp(st->name, "refused") != 0
				 ? -1
				 : st->run(argv[i], argv + i + 1);
		i += step_nargs(st, argv, i);
		if (rc < 0) {
			printf("step %s failed\n", st->name);
			fails++;
			if (cur->closed || cur->sock < 0)
				break;
		}
	}
	return fails;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);	/* a TLS write to a closed link: an error, not a death */
	int p = parse_options(argc, argv);
	if (p < 0 || check_steps(argc, argv, p + 1) != 0) {
		fprintf(stderr, "usage: wsprobe [--plain] [--netkey FILE] [--origin] [--key FILE] "
			"[--head N] PORT STEP...\n");
		return 2;
	}
	if (identity_init() < 0)
		return 1;
	port1 = atoi(argv[p]);
	dfs_buf_init(&last_create);
	dfs_buf_init(&last_set);
	dfs_buf_init(&kept);
	if (ws_connect(&main_conn, port1) < 0) {
		if (!main_conn.closed)
			return 1;	/* not a refusal: no listener, a timeout */
		conn_close(&main_conn);	/* refused: only `refused` can pass now */
	}
	int fails = run_steps(argc, argv, p + 1);
	run_until(cur, NULL, 0);
	if (forged_echoed) {
		printf("the server streamed a forged update back\n");
		fails++;
	}
	printf("received %llu updates from the server\n", (unsigned long long)updates_in);
	dfs_seckey_wipe(&node_sk);
	dfs_wipe(netkey, sizeof(netkey));
	conn_close(&main_conn);
	SSL_CTX_free(ssl_ctx);
	dfs_buf_release(&last_create);
	dfs_buf_release(&last_set);
	dfs_buf_release(&kept);
	return fails ? 1 : 0;
}
