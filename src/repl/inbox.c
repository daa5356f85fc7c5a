// SPDX-License-Identifier: MIT
/*
 * inbox.c - a peer's updates into the model: a queue per link, served in
 * turn a slice at a time; checkers, the applier, cursors.
 *
 * Each link queues the UPDATES messages it receives. Links with messages
 * wait their turn on r->ready; the applier serves the first, applies a
 * slice of its current message (while another link waits: SLICE_MAX
 * updates or SLICE_MS, at least one), and puts it back at the end if it
 * has more. So a peer that floods, or whose updates a listener judges
 * slowly, delays another's by at most one slice. Updates released from
 * the park (park.c) take their turns too, as one more link, r->waiters,
 * whose turns take them one peer after another. Checker threads verify
 * the signatures of queued messages ahead of the applier, taking first
 * from the links with the fewest checked.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dinemicfs/log.h"
#include "dinemicfs/update.h"
#include "dinemicfs/util.h"
#include "internal.h"

/* ---- the queues and the round; under r->lock -------------------------------------- */

/* l waits its turn, last. */
static void ready_push(struct dfs_repl *r, struct link *l)
{
	l->turn = TURN_READY;
	l->ready_next = NULL;
	if (r->ready_tail)
		r->ready_tail->ready_next = l;
	else
		r->ready = l;
	r->ready_tail = l;
	atomic_fetch_add(&r->nready, 1);
}

/* Takes l, which follows prev (NULL: l is first), off r->ready. */
static void ready_unlink(struct dfs_repl *r, struct link *prev, struct link *l)
{
	if (prev)
		prev->ready_next = l->ready_next;
	else
		r->ready = l->ready_next;
	if (r->ready_tail == l)
		r->ready_tail = prev;
	l->ready_next = NULL;
	atomic_fetch_sub(&r->nready, 1);
}

int repl_inbox_add(struct link *l, const struct dfs_msg *m, const uint8_t *p, size_t len)
{
	struct dfs_repl *r = l->r;
	struct inmsg *q = malloc(sizeof(*q) + len);

	if (!q)
		return -ENOMEM;
	memcpy(q->data, p, len);
	q->len = len;
	q->link = l;
	q->next = NULL;
	q->from = l->peer;
	q->check = CHECK_QUEUED;
	q->count = m->count;
	q->checked = NULL;
	pthread_mutex_lock(&r->lock);
	q->session = l->session;
	l->refs++;	/* the message's */
	l->queued += len;
	l->queued_n += m->count;
	if (l->qtail)
		l->qtail->next = q;
	else
		l->qhead = q;
	l->qtail = q;
	if (!l->qcheck)
		l->qcheck = q;
	if (l->turn == TURN_IDLE) {
		l->refs++;	/* the round's */
		ready_push(r, l);
	}
	bool full = l->queued > r->queue_max;
	pthread_cond_broadcast(&r->queue_cond);
	pthread_mutex_unlock(&r->lock);
	return full ? 1 : 0;
}

/* Who l's updates come from, for the after-listeners' queue: its peer, or the park. */
static uint64_t origin_of(const struct dfs_repl *r, const struct link *l)
{
	uint64_t o;

	if (l == &r->waiters)
		return ORIGIN_RELEASED;
	memcpy(&o, l->peer.b, sizeof(o));
	return o | 1ull << 63;
}

struct link *repl_inbox_next(struct dfs_repl *r)
{
	struct link *prev = NULL;

	r->no_room = false;
	for (struct link *l = r->ready; l; prev = l, l = l->ready_next) {
		struct inmsg *m = l->qhead;
		/* (No database: the inbox's unit tests, which have no listeners.) */
		if (r->db && !dfs_db_listener_room(r->db, origin_of(r, l))) {
			r->no_room = true;
			continue;
		}
		if (!l->work.m && m) {
			/* One being checked is applied once checked: the next link goes first. */
			if (m->check == CHECK_RUNNING)
				continue;
			l->qhead = m->next;
			if (!l->qhead)
				l->qtail = NULL;
			if (l->qcheck == m)
				l->qcheck = m->next;	/* not checked: the applier verifies it */
			if (m->check == CHECK_DONE) {
				l->ahead--;
				r->ahead--;
				pthread_cond_broadcast(&r->queue_cond);	/* room to check ahead */
			}
			memset(&l->work, 0, sizeof(l->work));
			l->work.m = m;
		}
		ready_unlink(r, prev, l);
		l->turn = TURN_SERVED;
		r->served = l;
		return l;
	}
	return NULL;
}

void repl_inbox_init(struct dfs_repl *r, size_t queue_max)
{
	r->queue_max = queue_max ? queue_max : LINK_QUEUE_MAX;
	r->waiters.r = r;
	r->waiters.refs = 1;	/* r's own: it is never freed */
	snprintf(r->waiters.addr, sizeof(r->waiters.addr), "released updates");
}

void repl_inbox_waiters_ready(struct dfs_repl *r)
{
	if (!r->rel_ring || r->waiters.turn != TURN_IDLE)
		return;
	pthread_mutex_lock(&r->lock);
	r->waiters.refs++;	/* the round's */
	ready_push(r, &r->waiters);
	pthread_cond_broadcast(&r->queue_cond);
	pthread_mutex_unlock(&r->lock);
}

void repl_inbox_turn_end(struct dfs_repl *r, struct link *l)
{
	if (r->served == l)
		r->served = NULL;
	if (l->work.m || l->qhead || (l == &r->waiters && r->rel_ring)) {
		ready_push(r, l);
		return;
	}
	l->turn = TURN_IDLE;
	link_put(l);	/* the round's */
}

/* Whether l has a message to check, and fewer checked ahead than best. */
static bool check_first(const struct link *l, const struct link *best)
{
	return l && l->qcheck && (!best || l->ahead < best->ahead);
}

struct inmsg *repl_inbox_to_check(struct dfs_repl *r)
{
	struct link *best = NULL;

	/* Not too far ahead: results take memory, and stores since a check make it stale. */
	if (r->ahead >= CHECK_AHEAD)
		return NULL;
	for (struct link *l = r->ready; l; l = l->ready_next)
		if (check_first(l, best))
			best = l;
	if (check_first(r->served, best))
		best = r->served;
	if (!best)
		return NULL;
	struct inmsg *c = best->qcheck;
	best->qcheck = c->next;
	best->ahead++;
	r->ahead++;
	c->check = CHECK_RUNNING;
	return c;
}

bool repl_slice_over(struct dfs_repl *r, size_t done, uint64_t start_ms, uint64_t now_ms)
{
	return done > 0 && atomic_load(&r->nready) > 0 &&
	       (done >= SLICE_MAX || now_ms - start_ms >= SLICE_MS);
}

static void free_msg(struct inmsg *m)
{
	link_put(m->link);
	free(m->checked);
	free(m);
}

void repl_inbox_release(struct dfs_repl *r)
{
	while (r->ready) {
		struct link *l = r->ready;
		ready_unlink(r, NULL, l);
		while (l->qhead) {
			struct inmsg *m = l->qhead;
			l->qhead = m->next;
			free_msg(m);
		}
		if (l->work.m)
			free_msg(l->work.m);
		l->work.m = NULL;
		l->turn = TURN_IDLE;
		link_put(l);	/* the round's */
	}
}

/* ---- applying ---------------------------------------------------------------------- */

/* The hash of the update rec, from its check when it has one. */
static void hash_of(const struct checked *ck, const uint8_t *rec, size_t len, struct dfs_hash *h)
{
	if (ck && ck->verdict == VERDICT_NEW)
		*h = ck->c.hash;
	else
		dfs_hash2(h, rec, len, NULL, 0);
}

static void log_bad(struct dfs_repl *r, const uint8_t *rec, size_t len)
{
	char hex[17], where[2 * DFS_UPDATE_NAME_MAX];
	struct dfs_hash hash;
	unsigned long long skipped;

	atomic_fetch_add(&r->bad_frames, 1);
	atomic_fetch_add(&r->dropped, 1);
	if (!repl_ratelog(&r->bad_update_log, &skipped))
		return;
	if (skipped)
		dfs_log(DFS_LOG_WARNING, "replication: %llu more malformed or badly signed updates "
			"dropped, not logged (updates_dropped counts them)", skipped);
	dfs_hash2(&hash, rec, len, NULL, 0);
	dfs_hex_encode(hex, hash.b, 8);
	/* Badly signed, it still says where it claims to be; malformed, nothing. */
	dfs_db_update_where(r->db, rec, len, where, sizeof(where));
	dfs_log(DFS_LOG_WARNING, "replication: update %s of %s is malformed or badly signed; "
		"dropped", hex, where);
}

/*
 * Receives one update of m, given what its check found (NULL: not
 * checked), and whatever was waiting for it. Returns false when it is not
 * in the store yet (parked, waiting for its time, dropped, or a store
 * error): the saved cursor must then not move past it, so that it is asked
 * for again after a reconnect. *applied counts it if it was applied.
 */
/* What became of a received update. */
enum received { RECV_STORED, RECV_PARKED, RECV_LOST };

static enum received receive(struct dfs_repl *r, struct dfs_db_group *g, const struct inmsg *m,
			     const uint8_t *rec, size_t len, const struct checked *ck,
			     size_t *applied)
{
	struct dfs_hash missing = { { 0 } }, hash;
	uint64_t seq = 0;
	if (ck && ck->verdict == VERDICT_NONE)
		ck = NULL;
	int rc = !ck				? dfs_db_group_receive(g, rec, len, NULL, &missing, &seq)
		 : ck->verdict == VERDICT_BAD	? -EBADMSG
		 : ck->verdict == VERDICT_KNOWN ? -EALREADY
						: dfs_db_group_receive(g, rec, len, &ck->c, &missing, &seq);

	if (seq)
		repl_note_source(r, seq, m->session);
	if (rc == 0)
		(*applied)++;
	else if (rc == -EALREADY)
		repl_duplicate(r, m->link, m->session, m->link->work.bulk);
	switch (rc) {
	case -EAGAIN:
		hash_of(ck, rec, len, &hash);
		return repl_park_or_drop(r, &m->from, &missing, &hash, rec, len) ? RECV_PARKED
										   : RECV_LOST;
	case -ETIME:
		return repl_clock_park(r, &m->from, rec, len, true) ? RECV_PARKED : RECV_LOST;
	case -EIO:
	case -ENOMEM:
		atomic_fetch_add(&r->dropped, 1);
		return RECV_LOST;
	case -EBADMSG:
		/* Malformed or forged: dropped, nothing to wait for. */
		log_bad(r, rec, len);
		return RECV_STORED;
	}
	/* Applied, held or known: what waited for it goes on, in its own turns. */
	if (r->park_count) {
		hash_of(ck, rec, len, &hash);
		repl_take_waiters(r, &hash, rec, len);
	}
	return RECV_STORED;
}

/* Starts on l's message: decodes it, and tells whether it is a catch-up. */
static int begin_message(struct dfs_repl *r, struct link *l)
{
	struct inwork *w = &l->work;

	w->begun = true;
	if (dfs_msg_decode(w->m->data, w->m->len, &w->msg) < 0)
		return -1;	/* checked on arrival */
	/*
	 * A catch-up, not a live change: a big batch, the sender far ahead, or
	 * many more updates queued (see BULK_BEHIND).
	 */
	pthread_mutex_lock(&r->lock);
	w->bulk = w->msg.count >= BULK_BEHIND || w->msg.seq > w->msg.upto + BULK_BEHIND ||
		  l->queued_n - w->m->count >= BULK_BEHIND;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/*
 * A link stuck on parked updates only goes on once none of its peer's waits
 * in the park (each was stored, applied or held) and nothing was dropped
 * from the park, of anyone, since the first of them was parked: its place
 * moves to what it processed. One that lost an update stays until the
 * reconnect asks for it again. Applier thread, under r->lock.
 */
static void unstick(struct dfs_repl *r, struct link *l)
{
	if (!l->recv_stuck || l->recv_lost || atomic_load(&r->dropped) != l->park_dropped ||
	    repl_park_holds(r, &l->peer))
		return;
	l->recv_stuck = false;
	l->recv_upto = l->recv_done;
	atomic_store(&r->rx_wake, true);	/* an ACK to send */
}

/* l's message is applied: its place in its peer's log moves past it if all is stored. */
static void end_message(struct dfs_repl *r, struct link *l)
{
	struct inwork *w = &l->work;
	struct inmsg *m = w->m;

	pthread_mutex_lock(&r->lock);
	/* A message of an earlier connection: that one's cursor was kept when it closed. */
	if (m->session == l->session) {
		if ((w->stuck || w->parked) && !l->recv_stuck)
			l->park_dropped = w->park_dropped;
		l->recv_lost |= w->stuck;
		l->recv_stuck |= w->stuck || w->parked;
		if (w->msg.upto > l->recv_upto && !l->recv_stuck)
			l->recv_upto = w->msg.upto;
		if (w->msg.upto > l->recv_done)
			l->recv_done = w->msg.upto;
		unstick(r, l);
	}
	l->queued -= m->len;
	l->queued_n -= m->count;
	free_msg(m);	/* the turn holds l */
	pthread_mutex_unlock(&r->lock);
	memset(w, 0, sizeof(*w));
	/* Room to read, and perhaps updates to relay. */
	atomic_store(&r->rx_wake, true);
}

/*
 * l's turn: applies its message from where the last turn stopped, in one
 * group (one wait makes it durable), until its end, or until the slice is
 * over while another link waits. Watchers are not sent an event per change
 * of a catch-up's turn that applied BULK_APPLIED or more: every other
 * change is repeated through the mount (fs/mirror.c).
 */
static void apply_slice(struct dfs_repl *r, struct link *l)
{
	struct inwork *w = &l->work;
	struct dfs_db_group *g = NULL;
	uint64_t seq, start = dfs_monotonic_ms();
	const uint8_t *rec;
	size_t len, done = 0, applied = 0;

	if (!w->begun && begin_message(r, l) < 0) {
		w->stuck = true;
		w->n = w->m->count;
	}
	if (w->n < w->m->count) {
		g = dfs_db_group_new(r->db);
		if (!g) {
			w->stuck = true;	/* asked for again after a reconnect */
			w->n = w->m->count;
		} else {
			dfs_db_group_origin(g, origin_of(r, l));
		}
	}
	while (g && w->n < w->m->count) {
		if (!dfs_msg_next_item(&w->msg, &w->off, &seq, &rec, &len)) {
			w->n = w->m->count;	/* fewer than it said: checked on arrival */
			break;
		}
		uint64_t dropped = atomic_load(&r->dropped);
		enum received got = receive(r, g, w->m, rec, len,
					    w->m->checked ? &w->m->checked[w->n] : NULL, &applied);
		if (got == RECV_LOST)
			w->stuck = true;
		if (got == RECV_PARKED && !w->parked) {
			w->parked = true;
			w->park_dropped = dropped;
		}
		w->n++;
		done++;
		if (repl_slice_over(r, done, start, dfs_monotonic_ms()) ||
		    dfs_db_group_bytes(g) >= GROUP_BYTES_MAX)
			break;
	}
	if (g && w->bulk && applied >= BULK_APPLIED)
		dfs_db_group_bulk(g);
	if (g && dfs_db_group_end(g) < 0)
		w->stuck = true;
	atomic_fetch_add(&r->received, done);
	repl_park_publish(r);
	if (w->n >= w->m->count)
		end_message(r, l);
}

/*
 * The turn of the released updates: a slice of them, one peer's after
 * another's. Their links' cursors stayed before them when they were parked.
 */
static void apply_waiters(struct dfs_repl *r)
{
	struct dfs_db_group *g = dfs_db_group_new(r->db);
	uint64_t start = dfs_monotonic_ms();
	struct parked *p;
	size_t done = 0;

	if (!g)
		return;	/* their next turn */
	dfs_db_group_origin(g, ORIGIN_RELEASED);
	while ((p = repl_released_next(r))) {
		repl_receive_waiter(r, g, p);
		if (repl_slice_over(r, ++done, start, dfs_monotonic_ms()) ||
		    dfs_db_group_bytes(g) >= GROUP_BYTES_MAX)
			break;
	}
	int rc = dfs_db_group_end(g);
	repl_park_publish(r);
	if (rc < 0)
		return;	/* what it held is not stored: the links stay where they are */
	pthread_mutex_lock(&r->lock);
	for (struct link *l = r->links; l; l = l->next)
		unstick(r, l);
	pthread_mutex_unlock(&r->lock);
}

/* ---- cursors ----------------------------------------------------------------------- */

bool repl_cursor_of(const struct link *l, struct cursor_save *c)
{
	/* Not past an update the peer announced and that is not stored yet. */
	uint64_t seq = repl_recv_stored(l);

	/*
	 * Only while up: a link that went down saved its place then, and its
	 * holes are gone since, so what it processes after would pass them.
	 */
	if (l->state != LINK_UP || !l->authed || l->recv_stuck || !seq)
		return false;
	c->peer = l->peer;
	memcpy(c->log, l->peer_log, sizeof(c->log));
	c->seq = seq;
	return true;
}

void repl_put_cursors(struct dfs_repl *r, const struct cursor_save *c, size_t n)
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
		if (repl_cursor_of(l, &saves[n]))
			n++;
	pthread_mutex_unlock(&r->lock);
	repl_put_cursors(r, saves, n);
}

/* ---- threads ----------------------------------------------------------------------- */

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

/*
 * Checks the next message ahead, if there is one to check: signature
 * checks, not the store, bound a catch-up, so every thread helps. Called
 * and returns with r->lock held. Returns whether it checked one.
 */
static bool check_one(struct dfs_repl *r)
{
	struct inmsg *c = repl_inbox_to_check(r);

	if (!c)
		return false;
	pthread_mutex_unlock(&r->lock);
	check_message(r, c);
	pthread_mutex_lock(&r->lock);
	c->check = CHECK_DONE;
	pthread_cond_broadcast(&r->queue_cond);
	return true;
}

/* Waits up to ms for work; false at the timeout. Under r->lock. */
static bool wait_work(struct dfs_repl *r, unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return pthread_cond_timedwait(&r->queue_cond, &r->lock, &ts) != ETIMEDOUT;
}

/*
 * The next link to serve; while there is none, checks messages ahead or
 * waits (looking again every ROOM_POLL_MS while a link waits for the
 * listeners). NULL after a second without one (time to save the cursors),
 * or when stopping. Called and returns with r->lock held.
 */
static struct link *next_turn(struct dfs_repl *r)
{
	uint64_t start = dfs_monotonic_ms();

	for (;;) {
		/* Not drained at a stop: what is left is asked for again at the next start. */
		if (atomic_load(&r->stopping))
			return NULL;
		struct link *l = repl_inbox_next(r);
		if (l)
			return l;
		if (check_one(r))
			continue;
		if (!r->no_room) {
			if (!wait_work(r, 1000))
				return NULL;
		} else if (!wait_work(r, ROOM_POLL_MS) && dfs_monotonic_ms() - start >= 1000) {
			return NULL;
		}
	}
}

/* Set on the applier's thread: see dfs_repl_log_grew(). */
_Thread_local bool repl_applier_thread;

void *repl_checker_main(void *arg)
{
	struct dfs_repl *r = arg;

	pthread_setname_np(pthread_self(), "dfs-verify");
	pthread_mutex_lock(&r->lock);
	while (!atomic_load(&r->stopping))
		if (!check_one(r))
			wait_work(r, 1000);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

void *repl_applier_main(void *arg)
{
	struct dfs_repl *r = arg;
	uint64_t saved = dfs_monotonic_ms();

	pthread_setname_np(pthread_self(), "dfs-apply");
	repl_applier_thread = true;

	for (;;) {
		pthread_mutex_lock(&r->lock);
		struct link *l = next_turn(r);
		pthread_mutex_unlock(&r->lock);
		if (l) {
			if (l == &r->waiters)
				apply_waiters(r);
			else if (l->work.m)
				apply_slice(r, l);
			pthread_mutex_lock(&r->lock);
			repl_inbox_turn_end(r, l);
			pthread_mutex_unlock(&r->lock);
			repl_net_wake(r);
		}
		/* At least once a second: next_turn() returns by then. */
		repl_retry_clock_waits(r);
		repl_inbox_waiters_ready(r);
		if (dfs_monotonic_ms() - saved >= CURSOR_SAVE_MS || (!l && atomic_load(&r->stopping))) {
			save_cursors(r);
			saved = dfs_monotonic_ms();
		}
		if (!l && atomic_load(&r->stopping))
			break;
	}
	return NULL;
}
