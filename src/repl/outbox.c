// SPDX-License-Identifier: MIT
/* outbox.c - our log to a peer: batches, and no echo of what came over the connection */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Notes that the entry logged at seq came in over connection session. */
void repl_note_source(struct dfs_repl *r, uint64_t seq, uint32_t session)
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

struct batch_ctx {
	struct dfs_repl *r;
	struct repl_batch *b;
	size_t max_n;			/* entries this step may add */
};

static int batch_add(uint64_t seq, const uint8_t *rec, size_t len, void *arg)
{
	struct batch_ctx *c = arg;
	struct repl_batch *b = c->b;

	if (b->have) {
		struct dfs_hash h;
		dfs_hash2(&h, rec, len, NULL, 0);
		dfs_msg_have_add(&b->msg, seq, &h);
	} else {
		dfs_msg_updates_add(&b->msg, seq, rec, len);
	}
	b->n++;
	b->bytes += len;
	return --c->max_n == 0 ? 1 : 0;
}

/* The peer sent it to us over this connection: it has it. */
static bool is_echo(uint64_t seq, void *arg)
{
	struct batch_ctx *c = arg;

	return came_over(c->r, seq, c->b->session);
}

void repl_batch_begin(struct dfs_repl *r, struct repl_batch *b, uint64_t from, uint32_t session,
		      bool have)
{
	b->from = b->upto = from;
	b->session = session;
	b->have = have;
	b->n = b->bytes = 0;
	b->err = 0;
	if (have)
		dfs_msg_have_begin(&b->msg, dfs_db_log_head(r->db));
	else
		dfs_msg_updates_begin(&b->msg, dfs_db_log_head(r->db));
}

/*
 * Reads up to about max_bytes more of our log into b (at least one entry),
 * from any thread. A batch of echoes only is sent empty, to move the peer's
 * place in our log on. Returns 1 when b is done (full, the end of the log,
 * or an error: b->upto == b->from then), 0 when more may be read into it.
 */
int repl_batch_step(struct dfs_repl *r, struct repl_batch *b, size_t max_bytes)
{
	struct batch_ctx c = { r, b, DFS_WIRE_BATCH_MAX - b->n };
	uint64_t upto;
	size_t left = DFS_WIRE_BATCH_BYTES - b->bytes;
	int rc = dfs_db_log_read(r->db, b->upto, left < max_bytes ? left : max_bytes, is_echo,
				 batch_add, &c, &upto);

	if (rc < 0 || dfs_buf_ok(&b->msg) < 0) {
		b->err = rc < 0 ? rc : -ENOMEM;
		return 1;
	}
	bool more = upto > b->upto && upto < dfs_db_log_head(r->db);
	b->upto = upto;
	if (!more || b->n >= DFS_WIRE_BATCH_MAX || b->bytes >= DFS_WIRE_BATCH_BYTES) {
		if (b->upto > b->from)
			dfs_msg_updates_end(&b->msg, b->upto);
		return 1;
	}
	return 0;
}

/* Passes the entry at seq only. */
struct one_ctx {
	uint64_t seq;
	struct dfs_buf *msg;
	size_t bytes;
	bool found;
};

static int add_one(uint64_t seq, const uint8_t *rec, size_t len, void *arg)
{
	struct one_ctx *o = arg;

	if (seq == o->seq) {
		dfs_msg_updates_add(o->msg, seq, rec, len);
		o->bytes += len;
		o->found = true;
	}
	return 1;
}

static int cmp_seq(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts l->graft_in and drops repeats. */
static void graft_in_sort(struct link *l)
{
	size_t n = 0;

	qsort(l->graft_in, l->ngraft_in, sizeof(*l->graft_in), cmp_seq);
	for (size_t i = 0; i < l->ngraft_in; i++)
		if (n == 0 || l->graft_in[i] != l->graft_in[n - 1])
			l->graft_in[n++] = l->graft_in[i];
	l->ngraft_in = n;
}

/*
 * The entries l's peer grafted, in full, as far as one batch takes: an
 * UPDATES message whose upto is where the stream is already (each was
 * announced over this connection, so none is past it).
 */
int repl_send_grafted(struct link *l)
{
	struct dfs_repl *r = l->r;
	struct dfs_buf msg;
	struct one_ctx o = { 0, &msg, 0, false };
	size_t i = 0, n = 0;
	int rc = 0;

	graft_in_sort(l);
	dfs_buf_init(&msg);
	dfs_msg_updates_begin(&msg, dfs_db_log_head(r->db));
	for (; i < l->ngraft_in && n < DFS_WIRE_BATCH_MAX && o.bytes < DFS_WIRE_BATCH_BYTES; i++) {
		o.seq = l->graft_in[i];
		o.found = false;
		rc = dfs_db_log_read(r->db, o.seq - 1, DFS_WIRE_BATCH_BYTES, NULL, add_one, &o, NULL);
		if (rc < 0)
			break;
		n += o.found;
	}
	memmove(l->graft_in, l->graft_in + i, (l->ngraft_in - i) * sizeof(*l->graft_in));
	l->ngraft_in -= i;
	if (rc >= 0 && n > 0) {
		dfs_msg_updates_end(&msg, l->sent_upto);
		rc = repl_net_write(l, &msg);
		if (rc == 0) {
			atomic_fetch_add(&r->sent, n);
			atomic_fetch_add(&r->grafted, n);
		}
	}
	dfs_buf_release(&msg);
	return rc < 0 ? rc : l->ngraft_in > 0;
}
