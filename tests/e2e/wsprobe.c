// SPDX-License-Identifier: MIT
/*
 * wsprobe.c - test tool: a hostile replication peer.
 *
 * A minimal WebSocket client written by hand over one TCP socket (HTTP
 * upgrade with subprotocol dinemicfs.2, masked binary frames), so that it
 * can send what libwebsockets never would. It speaks the protocol of wire.h
 * with a node key of its own, and runs the steps named on its command line
 * in order, printing one line per step:
 *
 *   handshake              HELLO, AUTH (checking the server's), WANT 0
 *   badauth                HELLO, then an AUTH signed over the wrong nonce
 *   garbage                a message of random bytes (no valid type byte)
 *   badwant                a WANT one byte short
 *   badhello               a HELLO ten bytes long
 *   badseq                 an UPDATES whose sequence numbers go backwards
 *   badlen                 an UPDATES whose item claims more bytes than follow
 *   unknown                a message of an unknown type
 *   oversized              one message of DFS_WIRE_MSG_MAX + 1 bytes
 *   forged MODEL NAME      OBJECT_CREATE of a new object, signature byte flipped
 *   badrecord MODEL NAME   OBJECT_CREATE of a new object, well framed and signed,
 *                          but with an unknown version byte
 *   valid MODEL NAME F V   OBJECT_CREATE of a new object, then F set to V
 *   replay                 the last valid updates again, byte for byte
 *   acked                  wait (5 s) until the server's place in its log, as
 *                          it tells us, passes the last valid updates (they
 *                          are logged there), and check they never came back:
 *                          a server does not send a peer what it got from it
 *   open                   ping; wait (5 s) for the pong: the link works
 *   closed                 wait (5 s) until the server closes the link
 *   sleep MS               wait, answering pings
 *
 * Exit status: 0 when every step did what it says, 1 otherwise, 2 on usage.
 * Connects to 127.0.0.1 only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/keys.h"
#include "dinemicfs/update.h"
#include "dinemicfs/util.h"
#include "dinemicfs/wire.h"

#define WS_BIN 0x2
#define WS_CONT 0x0
#define WS_CLOSE 0x8
#define WS_PING 0x9
#define WS_PONG 0xA

static int sock = -1;
static struct dfs_buf inbuf;	/* bytes read, not yet parsed into frames */
static struct dfs_buf msg;	/* a message being reassembled */
static bool closed;		/* the server closed the link */
static bool got_pong;

static struct dfs_pubkey node_pk;
static struct dfs_seckey node_sk;
static uint8_t my_nonce[DFS_WIRE_NONCE_LEN];
static struct dfs_pubkey server_id;
static uint8_t server_nonce[DFS_WIRE_NONCE_LEN];
static bool got_hello, got_auth, got_want;
static uint64_t my_seq;		/* our pretend log */
static struct dfs_hash awaited;	/* the last valid update sent */
static struct dfs_buf last_create, last_set;	/* its bytes, for replay */
static bool awaiting, echoed;
static struct dfs_hash forged[8];
static size_t nforged;
static bool forged_echoed;
static uint64_t updates_in;
static uint64_t server_head, server_upto;	/* as the server last said */
static uint64_t acked_mark;			/* server_upto to pass, set by valid */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *hex16(const struct dfs_hash *h)
{
	static char out[17];

	dfs_hex_encode(out, h->b, 8);
	return out;
}

static int write_all(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t k = send(sock, b, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/* One masked frame (clients must mask). */
static int send_frame(int opcode, bool fin, const uint8_t *p, size_t n)
{
	uint8_t h[14], mask[4];
	size_t hl = 0;
	uint8_t chunk[65536];

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
	if (write_all(h, hl) < 0)
		return -1;
	for (size_t off = 0; off < n;) {
		size_t k = n - off < sizeof(chunk) ? n - off : sizeof(chunk);
		for (size_t i = 0; i < k; i++)
			chunk[i] = p[off + i] ^ mask[(off + i) & 3];
		if (write_all(chunk, k) < 0)
			return -1;
		off += k;
	}
	return 0;
}

static int send_msg(const struct dfs_buf *b)
{
	if (dfs_buf_ok(b) < 0)
		return -1;
	return send_frame(WS_BIN, true, b->data, b->len);
}

/* Reads what is there within timeout_ms into inbuf; -1 on EOF or error. */
static int fill(int timeout_ms)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	uint8_t tmp[65536];

	int rc = poll(&pfd, 1, timeout_ms < 0 ? 0 : timeout_ms);
	if (rc <= 0)
		return 0;
	ssize_t n = recv(sock, tmp, sizeof(tmp), 0);
	if (n <= 0)
		return -1;
	dfs_buf_add(&inbuf, tmp, (size_t)n);
	return dfs_buf_ok(&inbuf);
}

static void on_message(const uint8_t *p, size_t len)
{
	struct dfs_msg m;
	int rc = dfs_msg_decode(p, len, &m);

	if (rc < 0) {
		printf("server sent a message we cannot decode (%d)\n", rc);
		return;
	}
	switch (m.type) {
	case DFS_MSG_HELLO:
		got_hello = true;
		server_head = m.seq;
		server_id = m.node;
		memcpy(server_nonce, m.nonce, sizeof(server_nonce));
		break;
	case DFS_MSG_AUTH: {
		uint8_t proof[DFS_WIRE_PROOF_LEN];
		dfs_wire_proof(proof, my_nonce, &server_id);
		if (!got_hello || dfs_verify(m.sig, proof, sizeof(proof), &server_id) < 0)
			printf("server's AUTH does not verify\n");
		else
			got_auth = true;
		break;
	}
	case DFS_MSG_WANT:
		got_want = true;
		break;
	case DFS_MSG_UPDATES: {
		size_t off = 0, n;
		uint64_t seq;
		const uint8_t *rec;
		struct dfs_hash h;
		if (m.seq > server_head)
			server_head = m.seq;
		if (m.upto > server_upto)
			server_upto = m.upto;
		while (dfs_msg_next_item(&m, &off, &seq, &rec, &n)) {
			updates_in++;
			dfs_hash2(&h, rec, n, NULL, 0);
			if (awaiting && memcmp(h.b, awaited.b, DFS_HASH_LEN) == 0)
				echoed = true;
			for (size_t i = 0; i < nforged; i++)
				if (memcmp(h.b, forged[i].b, DFS_HASH_LEN) == 0)
					forged_echoed = true;
		}
		break;
	}
	}
}

/* Parses the complete frames in inbuf. */
static void parse_frames(void)
{
	for (;;) {
		const uint8_t *p = inbuf.data;
		size_t have = inbuf.len, hl = 2;
		uint64_t n;

		if (have < 2)
			return;
		int opcode = p[0] & 0x0f;
		bool fin = p[0] & 0x80;
		bool masked = p[1] & 0x80;
		n = p[1] & 0x7f;
		if (n == 126) {
			if (have < 4)
				return;
			n = (uint64_t)p[2] << 8 | p[3];
			hl = 4;
		} else if (n == 127) {
			if (have < 10)
				return;
			n = 0;
			for (int i = 0; i < 8; i++)
				n = n << 8 | p[2 + i];
			hl = 10;
		}
		if (masked)
			hl += 4;	/* servers do not mask; tolerate it anyway */
		if (have < hl + n)
			return;
		uint8_t *payload = inbuf.data + hl;
		if (masked)
			for (uint64_t i = 0; i < n; i++)
				payload[i] ^= p[hl - 4 + (i & 3)];
		switch (opcode) {
		case WS_BIN:
		case WS_CONT:
			if (opcode == WS_BIN)
				dfs_buf_reset(&msg);
			dfs_buf_add(&msg, payload, (size_t)n);
			if (fin) {
				on_message(msg.data, msg.len);
				dfs_buf_reset(&msg);
			}
			break;
		case WS_PING:
			send_frame(WS_PONG, true, payload, (size_t)n);
			break;
		case WS_PONG:
			got_pong = true;
			break;
		case WS_CLOSE:
			closed = true;
			break;
		default:
			break;
		}
		memmove(inbuf.data, inbuf.data + hl + n, have - hl - n);
		inbuf.len = have - hl - n;
	}
}

/* Services the link until done() or timeout_ms; returns whether done() came. */
static bool run_until(bool (*done)(void), int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		parse_frames();
		if (done && done())
			return true;
		if (closed)
			return false;
		uint64_t now = now_ms();
		if (now >= end)
			return false;
		if (fill((int)(end - now)) < 0) {
			closed = true;
			parse_frames();
			return done ? done() : false;
		}
	}
}

static bool is_authed(void) { return got_auth && got_want; }
static bool is_hello(void) { return got_hello; }
static bool is_acked(void) { return server_upto >= acked_mark; }
static bool is_pong(void) { return got_pong; }
static bool is_closed(void) { return closed; }

static int ws_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	uint8_t key[16];
	char key64[32], req[512];
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&a, sizeof(a)) < 0) {
		printf("connect 127.0.0.1:%d: %s\n", port, strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	dfs_random(key, sizeof(key));
	size_t o = 0;
	for (size_t i = 0; i < 16; i += 3) {
		uint32_t v = (uint32_t)key[i] << 16 | (i + 1 < 16 ? (uint32_t)key[i + 1] << 8 : 0) |
			     (i + 2 < 16 ? key[i + 2] : 0);
		key64[o++] = b64[v >> 18 & 63];
		key64[o++] = b64[v >> 12 & 63];
		key64[o++] = i + 1 < 16 ? b64[v >> 6 & 63] : '=';
		key64[o++] = i + 2 < 16 ? b64[v & 63] : '=';
	}
	key64[o] = '\0';
	int n = snprintf(req, sizeof(req),
			 "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
			 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
			 port, key64, DFS_WIRE_PROTOCOL);
	if (write_all(req, (size_t)n) < 0)
		return -1;
	uint64_t end = now_ms() + 5000;
	for (;;) {
		char *hdr_end = inbuf.len ? memmem(inbuf.data, inbuf.len, "\r\n\r\n", 4) : NULL;
		if (hdr_end) {
			size_t hl = (size_t)((uint8_t *)hdr_end - inbuf.data) + 4;
			if (inbuf.len < 12 || memcmp(inbuf.data + 9, "101", 3) != 0) {
				printf("upgrade refused: %.*s\n", (int)(hl > 80 ? 80 : hl),
				       (char *)inbuf.data);
				return -1;
			}
			memmove(inbuf.data, inbuf.data + hl, inbuf.len - hl);
			inbuf.len -= hl;
			return 0;
		}
		if (now_ms() >= end || fill(100) < 0) {
			printf("no upgrade answer\n");
			return -1;
		}
	}
}

static int send_control(const struct dfs_msg *m)
{
	struct dfs_buf b;

	dfs_buf_init(&b);
	int rc = dfs_msg_encode(m, &b);
	if (rc == 0)
		rc = send_msg(&b);
	dfs_buf_release(&b);
	return rc;
}

static int step_handshake(bool bad_auth)
{
	struct dfs_msg m = { .type = DFS_MSG_HELLO };
	uint8_t proof[DFS_WIRE_PROOF_LEN];

	m.node = node_pk;
	memcpy(m.nonce, my_nonce, sizeof(my_nonce));
	m.seq = 0;
	if (send_control(&m) < 0 || !run_until(is_hello, 5000)) {
		printf("handshake: no HELLO from the server\n");
		return -1;
	}
	memset(&m, 0, sizeof(m));
	m.type = DFS_MSG_AUTH;
	dfs_wire_proof(proof, bad_auth ? my_nonce : server_nonce, &node_pk);
	dfs_sign(m.sig, proof, sizeof(proof), &node_sk);
	if (bad_auth) {
		printf("badauth: AUTH over the wrong nonce sent\n");
		return send_control(&m);
	}
	if (send_control(&m) < 0 || !run_until(is_authed, 5000)) {
		printf("handshake: no AUTH and WANT from the server%s\n",
		       closed ? " (closed)" : "");
		return -1;
	}
	memset(&m, 0, sizeof(m));
	m.type = DFS_MSG_WANT;
	m.seq = 0;
	if (send_control(&m) < 0)
		return -1;
	char id[17];
	dfs_hex_encode(id, node_pk.b, 8);
	printf("handshake: up as %s\n", id);
	return 0;
}

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

static int send_updates(struct dfs_buf *recs[], size_t n)
{
	struct dfs_buf m;

	dfs_buf_init(&m);
	dfs_msg_updates_begin(&m, my_seq + n);
	for (size_t i = 0; i < n; i++)
		dfs_msg_updates_add(&m, ++my_seq, recs[i]->data, recs[i]->len);
	dfs_msg_updates_end(&m, my_seq);
	int rc = send_msg(&m);
	dfs_buf_release(&m);
	return rc;
}

static int step_forged(const char *model, const char *name, bool bad_version)
{
	struct dfs_pubkey pk;
	struct dfs_seckey sk;
	struct dfs_buf rec;
	struct dfs_hash zero = { { 0 } };

	dfs_buf_init(&rec);
	if (dfs_keys_generate(&pk, &sk) < 0 ||
	    make_update(&rec, DFS_OP_OBJECT_CREATE, &pk, &sk, &zero, wall_clock(), model, name,
			NULL) < 0)
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
	int rc = send_updates(v, 1);
	printf("%s %s/%s: update %s\n", bad_version ? "badrecord" : "forged", model, name,
	       hex16(&forged[nforged - 1]));
	dfs_buf_release(&rec);
	return rc;
}

static int step_valid(const char *model, const char *name, const char *field, const char *value)
{
	struct dfs_pubkey pk;
	struct dfs_seckey sk;
	struct dfs_buf create, set;
	struct dfs_hash zero = { { 0 } }, h;
	uint64_t clock = wall_clock();

	dfs_buf_init(&create);
	dfs_buf_init(&set);
	if (dfs_keys_generate(&pk, &sk) < 0 ||
	    make_update(&create, DFS_OP_OBJECT_CREATE, &pk, &sk, &zero, clock, model, name,
			NULL) < 0)
		return -1;
	dfs_hash2(&h, create.data, create.len, NULL, 0);
	int rc = make_update(&set, DFS_OP_FIELD_SET, &pk, &sk, &h, clock + 1, model, field,
			     value);
	dfs_seckey_wipe(&sk);
	if (rc == 0) {
		struct dfs_buf *v[] = { &create, &set };
		rc = send_updates(v, 2);
	}
	dfs_hash2(&awaited, set.data, set.len, NULL, 0);
	awaiting = true;
	echoed = false;
	/* Our two updates go after whatever the server logged before. */
	acked_mark = (server_head > server_upto ? server_head : server_upto) + 2;
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
	int rc = send_updates(v, 2);
	printf("replay: update %s sent again\n", hex16(&awaited));
	return rc;
}

static int send_raw(const char *what, const uint8_t *p, size_t n)
{
	int rc = send_frame(WS_BIN, true, p, n);

	printf("%s: %zu bytes sent\n", what, n);
	return rc;
}

int main(int argc, char **argv)
{
	int fails = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: wsprobe PORT STEP...\n");
		return 2;
	}
	if (dfs_crypto_init() < 0 || dfs_keys_generate(&node_pk, &node_sk) < 0)
		return 1;
	dfs_random(my_nonce, sizeof(my_nonce));
	dfs_buf_init(&inbuf);
	dfs_buf_init(&msg);
	dfs_buf_init(&last_create);
	dfs_buf_init(&last_set);
	if (ws_connect(atoi(argv[1])) < 0)
		return 1;

	for (int i = 2; i < argc; i++) {
		const char *s = argv[i];
		int rc = 0;
		if (strcmp(s, "handshake") == 0 || strcmp(s, "badauth") == 0) {
			rc = step_handshake(strcmp(s, "badauth") == 0);
		} else if (strcmp(s, "garbage") == 0) {
			uint8_t g[200];
			dfs_random(g, sizeof(g));
			g[0] = (uint8_t)(0x80 | (g[0] & 0x3f));	/* never H, A, W or U */
			rc = send_raw("garbage", g, sizeof(g));
		} else if (strcmp(s, "badwant") == 0) {
			uint8_t w[8] = { DFS_MSG_WANT, 0, 0, 0, 0, 0, 0, 1 };
			rc = send_raw("badwant", w, sizeof(w));
		} else if (strcmp(s, "badhello") == 0) {
			uint8_t h[10] = { DFS_MSG_HELLO, DFS_WIRE_VERSION, 0, 1, 2, 3, 4, 5, 6, 7 };
			rc = send_raw("badhello", h, sizeof(h));
		} else if (strcmp(s, "unknown") == 0) {
			uint8_t u[9] = { 'Z', 1, 2, 3, 4, 5, 6, 7, 8 };
			rc = send_raw("unknown", u, sizeof(u));
		} else if (strcmp(s, "badseq") == 0 || strcmp(s, "badlen") == 0) {
			struct dfs_buf m, rec;
			struct dfs_pubkey pk;
			struct dfs_seckey sk;
			struct dfs_hash zero = { { 0 } };
			dfs_buf_init(&m);
			dfs_buf_init(&rec);
			dfs_keys_generate(&pk, &sk);
			make_update(&rec, DFS_OP_OBJECT_CREATE, &pk, &sk, &zero, wall_clock(), "Wire",
				    "badframe", NULL);
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
			rc = dfs_buf_ok(&m) < 0 ? -1 : send_raw(s, m.data, m.len);
			dfs_buf_release(&m);
			dfs_buf_release(&rec);
		} else if (strcmp(s, "oversized") == 0) {
			size_t n = DFS_WIRE_MSG_MAX + 1;
			uint8_t *big = calloc(1, n);
			if (!big)
				return 1;
			big[0] = DFS_MSG_UPDATES;
			/* Sent as fragments, as a peer streaming a big message would. */
			size_t part = 1u << 20;
			for (size_t off = 0; off < n && rc == 0; off += part) {
				size_t k = n - off < part ? n - off : part;
				rc = send_frame(off == 0 ? WS_BIN : WS_CONT, off + k == n, big + off, k);
				/* Keep the link serviced: pings, the server's log. */
				run_until(NULL, 0);
			}
			free(big);
			printf("oversized: %zu bytes sent\n", n);
		} else if ((strcmp(s, "forged") == 0 || strcmp(s, "badrecord") == 0) && i + 2 < argc) {
			rc = step_forged(argv[i + 1], argv[i + 2], strcmp(s, "badrecord") == 0);
			i += 2;
		} else if (strcmp(s, "valid") == 0 && i + 4 < argc) {
			rc = step_valid(argv[i + 1], argv[i + 2], argv[i + 3], argv[i + 4]);
			i += 4;
		} else if (strcmp(s, "replay") == 0) {
			rc = step_replay();
		} else if (strcmp(s, "acked") == 0) {
			bool acked = run_until(is_acked, 5000);
			run_until(NULL, 300);	/* an echo would come with or just after */
			if (acked && !echoed) {
				printf("acked: the server logged our update and did not send it back\n");
			} else {
				printf("acked: %s%s\n", echoed ? "our update came back" : "not logged",
				       closed ? " (link closed)" : "");
				rc = -1;
			}
		} else if (strcmp(s, "open") == 0) {
			got_pong = false;
			rc = send_frame(WS_PING, true, (const uint8_t *)"probe", 5);
			if (rc == 0 && run_until(is_pong, 5000)) {
				printf("open: pong\n");
			} else {
				printf("open: no pong%s\n", closed ? " (link closed)" : "");
				rc = -1;
			}
		} else if (strcmp(s, "closed") == 0) {
			if (run_until(is_closed, 5000) || closed) {
				printf("closed: the server closed the link\n");
			} else {
				printf("closed: still open\n");
				rc = -1;
			}
		} else if (strcmp(s, "sleep") == 0 && i + 1 < argc) {
			run_until(NULL, atoi(argv[++i]));
		} else {
			fprintf(stderr, "wsprobe: unknown step '%s'\n", s);
			return 2;
		}
		if (rc < 0) {
			printf("step %s failed\n", s);
			fails++;
			if (closed)
				break;
		}
	}
	run_until(NULL, 0);
	if (forged_echoed) {
		printf("the server streamed a forged update back\n");
		fails++;
	}
	printf("received %llu updates from the server\n", (unsigned long long)updates_in);
	dfs_seckey_wipe(&node_sk);
	close(sock);
	dfs_buf_release(&inbuf);
	dfs_buf_release(&msg);
	return fails ? 1 : 0;
}
