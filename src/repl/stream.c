// SPDX-License-Identifier: MIT
/*
 * stream.c - our log to the peers, read ahead off the service thread and
 * written in pieces.
 *
 * A link's writable callback asks for its next batch; the reader thread
 * reads it (LevelDB, and the hashes of a HAVE) and wakes the service
 * thread, which writes it at the link's next writable callback, a piece of
 * STREAM_PIECE bytes at a time. The reader serves links near our log's
 * head (live updates) before catch-ups, and the catch-ups in turn, a step
 * of STREAM_STEP bytes each: a peer that asks for our whole log (WANT 0)
 * gets it, but neither the reading nor the writing of it holds up another
 * link's live updates for more than one step or one piece.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/log.h"
#include "internal.h"

/* Appends l to a reader queue. Under r->lock. */
static void rd_push(struct link **head, struct link **tail, struct link *l)
{
	l->rd_next = NULL;
	if (*tail)
		(*tail)->rd_next = l;
	else
		*head = l;
	*tail = l;
}

static struct link *rd_pop(struct link **head, struct link **tail)
{
	struct link *l = *head;

	if (l) {
		*head = l->rd_next;
		if (!*head)
			*tail = NULL;
		l->rd_next = NULL;
	}
	return l;
}

/* Asks the reader for l's next batch, after sent_upto. Service thread. */
static void rd_ask(struct link *l)
{
	struct dfs_repl *r = l->r;
	uint64_t head = dfs_db_log_head(r->db);

	repl_batch_begin(r, &l->rd, l->sent_upto, l->session, l->lazy);
	pthread_mutex_lock(&r->lock);
	l->rd_state = RD_QUEUED;
	l->rd_live = head - l->sent_upto <= STREAM_LIVE;
	l->refs++;	/* the queue's */
	if (l->rd_live)
		rd_push(&r->rd_live, &r->rd_live_tail, l);
	else
		rd_push(&r->rd_bulk, &r->rd_bulk_tail, l);
	pthread_cond_signal(&r->rd_cond);
	pthread_mutex_unlock(&r->lock);
}

/* Writes the next piece of l->wr. */
static int write_piece(struct link *l)
{
	size_t left = l->wr.len - l->wr_off;
	size_t n = left > STREAM_PIECE ? STREAM_PIECE : left;
	int rc = repl_net_write_piece(l, l->wr.data + l->wr_off, n, l->wr_off == 0, n == left);

	if (rc < 0)
		return rc;
	l->wr_off += n;
	/* The rest, or the next batch, read meanwhile: its wake-up found this one midway. */
	repl_net_want_write(l->wsi);
	if (l->wr_off == l->wr.len) {
		/* Written: a big message's memory goes, a batch's size is kept. */
		if (l->wr.cap > 2 * DFS_WIRE_BATCH_BYTES)
			dfs_buf_release(&l->wr);
		l->wr.len = l->wr_off = 0;
	}
	return 1;
}

/* Notes a message taken to send, in l's window. */
static void window_add(struct link *l, uint64_t upto, size_t bytes)
{
	size_t i = (l->win_start + l->win_n) % STREAM_WIN_MAX;

	l->win[i].upto = upto;
	l->win[i].bytes = bytes;
	l->win_n++;
	l->win_bytes += bytes;
}

/*
 * Takes l's batch read, if it is still the one to send (same connection,
 * from where the stream is, in the form the link wants now): it becomes
 * l->wr, and the stream moves past it. Service thread, RD_READY. Returns
 * 1 (taken), 0 (read for another connection or form: ask again), -EAGAIN
 * (nothing to send yet), or the error of the read.
 */
static int take(struct link *l)
{
	struct dfs_repl *r = l->r;
	struct repl_batch *b = &l->rd;

	pthread_mutex_lock(&r->lock);
	l->rd_state = RD_NONE;	/* the service thread's alone from here */
	pthread_mutex_unlock(&r->lock);
	if (b->session != l->session || b->from != l->sent_upto || b->have != l->lazy)
		return 0;
	if (b->err < 0)
		return b->err;
	if (b->upto <= b->from)
		return -EAGAIN;
	struct dfs_buf t = l->wr;
	l->wr = b->msg;
	b->msg = t;
	dfs_buf_reset(&b->msg);
	if (b->msg.cap > 2 * DFS_WIRE_BATCH_BYTES)
		dfs_buf_release(&b->msg);
	l->wr_off = 0;
	pthread_mutex_lock(&r->lock);
	l->sent_upto = b->upto;
	pthread_mutex_unlock(&r->lock);
	window_add(l, b->upto, l->wr.len);
	atomic_fetch_add(b->have ? &r->announced : &r->sent, b->n);
	return 1;
}

/* The most l may have in flight: its slow start's limit, within twice link_queue. */
static size_t window_max(const struct link *l)
{
	size_t bound = 2 * l->r->queue_max;

	return l->win_limit < bound ? l->win_limit : bound;
}

void repl_stream_acked(struct link *l)
{
	bool freed = false;

	while (l->win_n && l->win[l->win_start].upto <= l->taken) {
		size_t bytes = l->win[l->win_start].bytes;
		l->win_bytes -= bytes;
		l->win_start = (l->win_start + 1) % STREAM_WIN_MAX;
		l->win_n--;
		freed = true;
		/* Slow start: what the peer took in, it may have once more. */
		if (l->win_limit < 2 * l->r->queue_max)
			l->win_limit += bytes;
	}
	/* Only room made wakes the writer: else each writable callback would ask for the next. */
	if (l->win_full && freed) {
		l->win_full = false;
		repl_net_want_write(l->wsi);
	}
}

/* Whether l may send another message: counted and logged (now and then) when not. */
static bool window_open(struct link *l)
{
	struct dfs_repl *r = l->r;
	uint64_t now;

	if (l->win_n < STREAM_WIN_MAX && l->win_bytes < window_max(l))
		return true;
	if (l->win_full)
		return false;
	l->win_full = true;
	atomic_fetch_add(&r->window_full, 1);
	now = dfs_monotonic_ms();
	if (!r->window_logged_ms || now - r->window_logged_ms >= PAUSE_LOG_MS) {
		r->window_logged_ms = now ? now : 1;
		dfs_log(DFS_LOG_INFO, "replication: %s: %zuK of our log sent and not acknowledged "
			"(its window, at most twice link_queue); more once it acknowledges "
			"(links_window_full counts each time)", l->addr, l->win_bytes >> 10);
	}
	return false;
}

/*
 * Whether l, lazy, waits before it asks for its next HAVE, to batch more
 * of our log up to head (> l->sent_upto) in it (a tick is set for it).
 */
static bool have_hold(struct link *l, uint64_t head)
{
	uint64_t now;

	if (!l->lazy || head - l->sent_upto >= DFS_WIRE_BATCH_MAX) {
		l->have_since_ms = 0;
		return false;
	}
	now = dfs_monotonic_ms();
	if (!l->have_since_ms)
		l->have_since_ms = now ? now : 1;
	uint64_t waited = now - l->have_since_ms;
	if (waited >= HAVE_DELAY_MS) {
		l->have_since_ms = 0;
		return false;
	}
	repl_net_tick_in(l->r, (unsigned)(HAVE_DELAY_MS - waited));
	return true;
}

int repl_stream_write(struct link *l)
{
	struct dfs_repl *r = l->r;

	if (repl_stream_midway(l))
		return write_piece(l);
	if (!window_open(l))
		return 0;
	pthread_mutex_lock(&r->lock);
	int state = l->rd_state;
	pthread_mutex_unlock(&r->lock);
	if (state == RD_QUEUED || state == RD_READING)
		return 0;	/* the reader wakes us */
	int took = state == RD_READY ? take(l) : 0;
	if (took < 0 && took != -EAGAIN)
		return took;
	/*
	 * The next one is read while this one is written; after none, once the
	 * log grows. A lazy link waits before it asks, never once it is read.
	 */
	uint64_t head = dfs_db_log_head(r->db);
	if (took >= 0 && head > l->sent_upto && !have_hold(l, head))
		rd_ask(l);
	return took > 0 ? write_piece(l) : 0;
}

void repl_stream_reset(struct link *l)
{
	/* A batch queued or being read is the reader's: take() drops it (its session). */
	if (l->rd_state == RD_READY)
		l->rd_state = RD_NONE;
	if (l->wr.cap > 2 * DFS_WIRE_BATCH_BYTES)
		dfs_buf_release(&l->wr);
	l->wr.len = l->wr_off = 0;
	l->win_start = l->win_n = l->win_bytes = 0;
	l->win_limit = STREAM_WIN_START;
	l->win_full = false;
}

/*
 * The next link to read for: a live one first, else the next catch-up in
 * turn. Under r->lock.
 */
static struct link *rd_next(struct dfs_repl *r)
{
	struct link *l = rd_pop(&r->rd_live, &r->rd_live_tail);

	return l ? l : rd_pop(&r->rd_bulk, &r->rd_bulk_tail);
}

void *repl_stream_main(void *arg)
{
	struct dfs_repl *r = arg;

	pthread_setname_np(pthread_self(), "dfs-read");
	pthread_mutex_lock(&r->lock);
	while (!atomic_load(&r->stopping)) {
		struct link *l = rd_next(r);
		if (!l) {
			pthread_cond_wait(&r->rd_cond, &r->lock);
			continue;
		}
		l->rd_state = RD_READING;
		pthread_mutex_unlock(&r->lock);
		/* A live batch whole; a catch-up a step, then the others' turn. */
		int done = repl_batch_step(r, &l->rd, l->rd_live ? DFS_WIRE_BATCH_BYTES : STREAM_STEP);
		pthread_mutex_lock(&r->lock);
		if (!done) {
			l->rd_state = RD_QUEUED;
			rd_push(&r->rd_bulk, &r->rd_bulk_tail, l);
			continue;
		}
		l->rd_state = RD_READY;
		link_put(l);
		pthread_mutex_unlock(&r->lock);
		atomic_store(&r->rd_wake, true);
		repl_net_wake(r);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

void repl_stream_release(struct dfs_repl *r)
{
	struct link *l;

	pthread_mutex_lock(&r->lock);
	while ((l = rd_next(r))) {
		l->rd_state = RD_NONE;
		link_put(l);
	}
	pthread_mutex_unlock(&r->lock);
}
