// SPDX-License-Identifier: MIT
/* inbox.c - a peer's updates into the model: queue, checkers, applier, parking, cursors */
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

_Static_assert(DFS_PUBKEY_LEN == DFS_HASH_LEN, "an entity waits in the table as a hash");

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
	p->due = 0;
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
	struct dfs_pubkey entity;

	unpark(r, h, work);
	if (dfs_update_entity(rec, len, &entity) == 0) {
		memcpy(key.b, entity.b, DFS_HASH_LEN);
		unpark(r, &key, work);
	}
}

/* Where the update waiting for its time that is due last hangs; NULL when none waits. */
static struct parked **clock_last(struct dfs_repl *r)
{
	struct parked **pp = &r->clock_wait;

	if (!*pp)
		return NULL;
	while ((*pp)->next)
		pp = &(*pp)->next;
	return pp;
}

static void log_clock_wait(const uint8_t *rec, size_t len, const struct dfs_hash *h,
			   uint64_t wait, const char *what)
{
	struct dfs_update u;
	char hex[17];

	dfs_hex_encode(hex, h->b, 8);
	if (dfs_update_decode(rec, len, &u) < 0)
		u.model_len = 0;
	dfs_log(DFS_LOG_INFO, "replication: update %s in %.*s is stamped more than max_skew "
		"ahead of this node's clock, due in %llu s: %s", hex, (int)u.model_len, u.model,
		(unsigned long long)(wait / 1000), what);
}

/*
 * Keeps an update that came too early (-ETIME) until it is due, soonest
 * first, within CLOCK_WAIT_MAX and CLOCK_WAIT_BYTES: past them the one due
 * last gives way (asked for again after a restart, like any update not
 * stored). first: not kept before, so it is logged. Returns whether it is
 * kept.
 */
static bool clock_park(struct dfs_repl *r, const uint8_t *rec, size_t len, bool first)
{
	struct dfs_hash h;
	struct parked **pp;

	dfs_hash2(&h, rec, len, NULL, 0);
	for (struct parked *q = r->clock_wait; q; q = q->next)
		if (memcmp(q->wait.b, h.b, DFS_HASH_LEN) == 0)
			return true;	/* sent again: kept already */
	/* A millisecond more: the wall clock and the monotonic one round apart. */
	uint64_t wait = dfs_db_clock_wait(r->db, rec, len) + 1;
	uint64_t due = dfs_monotonic_ms() + wait;
	while (r->clock_wait_count >= CLOCK_WAIT_MAX ||
	       r->clock_wait_bytes + len > CLOCK_WAIT_BYTES) {
		pp = clock_last(r);
		if (!pp || (*pp)->due <= due) {
			log_clock_wait(rec, len, &h, wait, "dropped, too many wait");
			return false;
		}
		struct parked *last = *pp;
		*pp = NULL;
		r->clock_wait_bytes -= last->len;
		r->clock_wait_count--;
		log_clock_wait(last->rec, last->len, &last->wait, last->due - due + wait,
			       "dropped for one due sooner");
		free(last);
	}
	struct parked *p = malloc(sizeof(*p) + len);
	if (!p)
		return false;
	p->wait = h;
	p->due = due;
	p->len = len;
	memcpy(p->rec, rec, len);
	for (pp = &r->clock_wait; *pp && (*pp)->due <= due; pp = &(*pp)->next)
		;
	p->next = *pp;
	*pp = p;
	r->clock_wait_bytes += len;
	r->clock_wait_count++;
	atomic_store(&r->clock_waiting, r->clock_wait_count);
	if (first)
		log_clock_wait(rec, len, &h, wait, "it waits until then");
	return true;
}

/*
 * Receives the parked updates on work, and in turn whatever waited for
 * them. Returns false when one of them is not in the store yet.
 */
static bool receive_parked(struct dfs_repl *r, struct dfs_db_group *g, struct parked *work)
{
	struct dfs_hash missing;
	bool kept = true;
	int rc;

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
		else if (rc == -ETIME)
			kept = clock_park(r, p->rec, p->len, p->due == 0) && kept;
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
	uint64_t seq = 0;
	if (ck && ck->verdict == VERDICT_NONE)
		ck = NULL;
	int rc = !ck				? dfs_db_group_receive(g, rec, len, NULL, &missing, &seq)
		 : ck->verdict == VERDICT_BAD	? -EBADMSG
		 : ck->verdict == VERDICT_KNOWN ? -EALREADY
						: dfs_db_group_receive(g, rec, len, &ck->c, &missing, &seq);

	if (seq)
		repl_note_source(r, seq, session);

	if (rc == -EAGAIN) {
		park(r, &missing, rec, len);
		return false;
	}
	if (rc == -ETIME) {
		clock_park(r, rec, len, true);
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
	return receive_parked(r, g, work);
}

/*
 * Receives the updates whose time has come, and whatever waited for them.
 * Their links' cursors stayed where they were when these came in.
 */
static void retry_clock_waits(struct dfs_repl *r)
{
	uint64_t now = dfs_monotonic_ms();
	struct parked *work = NULL, **tail = &work;

	if (!r->clock_wait || r->clock_wait->due > now)
		return;
	struct dfs_db_group *g = dfs_db_group_new(r->db);
	if (!g)
		return;	/* tried again on the next round */
	while (r->clock_wait && r->clock_wait->due <= now) {
		struct parked *p = r->clock_wait;
		r->clock_wait = p->next;
		r->clock_wait_bytes -= p->len;
		r->clock_wait_count--;
		p->next = NULL;
		*tail = p;
		tail = &p->next;
	}
	receive_parked(r, g, work);
	dfs_db_group_end(g);
	atomic_store(&r->parked, r->park_count);
	atomic_store(&r->clock_waiting, r->clock_wait_count);
	repl_net_wake(r);	/* the log grew: relay it */
}

/* Takes l's place in its peer's log, if there is one to keep; under r->lock. */
bool repl_cursor_of(const struct link *l, struct cursor_save *c)
{
	if (!l->authed || l->recv_stuck || !l->recv_upto)
		return false;
	c->peer = l->peer;
	memcpy(c->log, l->peer_log, sizeof(c->log));
	c->seq = l->recv_upto;
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
_Thread_local bool repl_applier_thread;

void *repl_checker_main(void *arg)
{
	struct dfs_repl *r = arg;

	pthread_setname_np(pthread_self(), "dfs-verify");
	pthread_mutex_lock(&r->lock);
	while (!atomic_load(&r->stopping))
		next_checked(r, false);
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
			repl_net_wake(r);
		}
		/* At least once a second: next_checked() returns by then. */
		retry_clock_waits(r);
		if (dfs_monotonic_ms() - saved >= CURSOR_SAVE_MS || (!m && atomic_load(&r->stopping))) {
			save_cursors(r);
			saved = dfs_monotonic_ms();
		}
		if (!m && atomic_load(&r->stopping))
			break;
	}
	return NULL;
}
