// SPDX-License-Identifier: MIT
/* outbox.c - our log to a peer: batches, and no echo of what came over the connection */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

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
int repl_send_log(struct link *l)
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
		rc = repl_net_write(l, &msg);
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
