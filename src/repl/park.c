// SPDX-License-Identifier: MIT
/*
 * park.c - updates that cannot be applied yet: waiting for a predecessor,
 * or for their time.
 *
 * A parked update waits in a table by what it waits for, and counts in its
 * peer's share. Once that is stored, or once its time comes, it is
 * released: it waits in its peer's queue of released updates, still
 * counted, until the applier's turn for them takes it (inbox.c), one peer
 * after another, so a peer that parked many updates behind one it sends
 * later gets them judged a turn at a time like the rest of its traffic.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/log.h"
#include "dinemicfs/update.h"
#include "dinemicfs/util.h"
#include "internal.h"

_Static_assert(DFS_PUBKEY_LEN == DFS_HASH_LEN, "an entity waits in the table as a hash");

void repl_park_init(struct dfs_repl *r, size_t per_peer, size_t clock_wait)
{
	r->park_per_peer = per_peer ? per_peer : PARK_PER_PEER;
	r->clock_wait_max = clock_wait ? clock_wait : CLOCK_WAIT_BYTES;
	/* One peer's share fits, however large it was set. */
	r->park_max = r->park_per_peer > PARK_BYTES_MAX ? r->park_per_peer : PARK_BYTES_MAX;
}

static size_t bucket_of(const struct dfs_hash *h)
{
	return ((size_t)h->b[0] << 8 | h->b[1]) % PARK_BUCKETS;
}

/* Where peer's share hangs, or would. */
static struct park_share **share_slot(struct dfs_repl *r, const struct dfs_pubkey *peer)
{
	struct park_share **pp = &r->shares[peer->b[0] % SHARE_BUCKETS];

	while (*pp && memcmp((*pp)->peer.b, peer->b, DFS_PUBKEY_LEN) != 0)
		pp = &(*pp)->next;
	return pp;
}

size_t repl_park_share(struct dfs_repl *r, const struct dfs_pubkey *peer)
{
	struct park_share **sp = share_slot(r, peer);

	return *sp ? (*sp)->bytes : 0;
}

bool repl_park_holds(struct dfs_repl *r, const struct dfs_pubkey *peer)
{
	if (repl_park_share(r, peer) > 0)
		return true;
	for (const struct parked *q = r->clock_wait; q; q = q->next)
		if (memcmp(q->from.b, peer->b, DFS_PUBKEY_LEN) == 0)
			return true;
	return false;
}

/* p leaves the park: its peer's share shrinks, and goes once empty. */
static void share_release(struct dfs_repl *r, const struct parked *p)
{
	struct park_share **sp = share_slot(r, &p->from);
	struct park_share *s = *sp;

	r->park_bytes -= p->len;
	r->park_count--;
	if (!s)
		return;
	s->bytes -= p->len;
	if (--s->count == 0) {
		*sp = s->next;
		free(s);
	}
}

/* p counts in its peer's share, made if need be; false without memory. */
static bool share_charge(struct dfs_repl *r, const struct parked *p)
{
	struct park_share **sp = share_slot(r, &p->from);

	if (!*sp) {
		*sp = calloc(1, sizeof(**sp));
		if (!*sp)
			return false;
		(*sp)->peer = p->from;
		(*sp)->born = ++r->shares_born;
	}
	(*sp)->bytes += p->len;
	(*sp)->count++;
	r->park_bytes += p->len;
	r->park_count++;
	return true;
}

/* s, which has released updates, takes its turn after the shares listed. */
static void release_requeue(struct dfs_repl *r, struct park_share *s)
{
	s->rel_listed = true;
	s->rel_next = NULL;
	if (r->rel_tail)
		r->rel_tail->rel_next = s;
	else
		r->rel_ring = s;
	r->rel_tail = s;
}

/* p, counted in its peer's share s, waits there for the applier's turn. */
static void release(struct dfs_repl *r, struct park_share *s, struct parked *p)
{
	p->next = NULL;
	if (s->rel_tail)
		s->rel_tail->next = p;
	else
		s->rel_head = p;
	s->rel_tail = p;
	if (!s->rel_listed)
		release_requeue(r, s);
}

struct parked *repl_released_next(struct dfs_repl *r)
{
	struct park_share *s = r->rel_ring;

	if (!s)
		return NULL;
	struct parked *p = s->rel_head;
	s->rel_head = p->next;
	if (!s->rel_head)
		s->rel_tail = NULL;
	r->rel_ring = s->rel_next;
	if (!r->rel_ring)
		r->rel_tail = NULL;
	s->rel_listed = false;
	if (s->rel_head)
		release_requeue(r, s);
	p->next = NULL;
	share_release(r, p);	/* may free s */
	return p;
}

static void log_park_drop(struct dfs_repl *r, const struct dfs_pubkey *from, int rc, size_t n);

/* Whether peer has a link up, or messages of its still to apply. Under r->lock. */
static bool peer_live(struct dfs_repl *r, const struct dfs_pubkey *peer)
{
	for (const struct link *l = r->links; l; l = l->next)
		if (l->authed && (l->state == LINK_UP || l->qhead) &&
		    memcmp(l->peer.b, peer->b, DFS_PUBKEY_LEN) == 0)
			return true;
	for (const struct link *l = r->ready; l; l = l->ready_next)
		if (memcmp(l->peer.b, peer->b, DFS_PUBKEY_LEN) == 0)
			return true;
	return false;
}

/* The gone share that parked first, of those not chosen yet; NULL when none is left. */
static struct park_share *oldest_gone(struct dfs_repl *r)
{
	struct park_share *best = NULL;

	for (size_t b = 0; b < SHARE_BUCKETS; b++)
		for (struct park_share *s = r->shares[b]; s; s = s->next)
			if (s->gone && (!best || s->born < best->born))
				best = s;
	return best;
}

/*
 * Lets go, in one walk of the park, of what the shares marked evict parked
 * (not what they have released); returns their bytes.
 */
static size_t evict_marked(struct dfs_repl *r, size_t *n)
{
	size_t freed = 0;

	for (size_t b = 0; b < PARK_BUCKETS; b++) {
		struct parked **pp = &r->park[b];
		while (*pp) {
			struct parked *p = *pp;
			struct park_share *s = *share_slot(r, &p->from);
			if (!s || !s->evict) {
				pp = &p->next;
				continue;
			}
			*pp = p->next;
			freed += p->len;
			(*n)++;
			share_release(r, p);	/* may free the share */
			free(p);
		}
	}
	for (size_t b = 0; b < SHARE_BUCKETS; b++)
		for (struct park_share *s = r->shares[b]; s; s = s->next)
			s->evict = false;
	return freed;
}

/*
 * Makes room for need bytes by letting go of updates parked by peers that
 * have no link left and nothing of theirs still to apply, the peer that
 * parked first going first: their links' saved places stayed before them,
 * so each comes again when its peer reconnects. Not counted in r->dropped,
 * which only the live links that wait on their own parked updates need.
 * Returns how many went.
 */
static size_t evict_gone(struct dfs_repl *r, size_t need)
{
	size_t freed = 0, n = 0;
	struct park_share *s;

	pthread_mutex_lock(&r->lock);
	for (size_t b = 0; b < SHARE_BUCKETS; b++)
		for (s = r->shares[b]; s; s = s->next)
			s->gone = !peer_live(r, &s->peer);
	pthread_mutex_unlock(&r->lock);
	while (freed < need) {
		/* The first parked first, as many as their bytes would make room. */
		size_t chosen = 0;
		while (freed + chosen < need && (s = oldest_gone(r))) {
			s->gone = false;
			s->evict = true;
			chosen += s->bytes;
		}
		if (chosen == 0)
			break;
		freed += evict_marked(r, &n);
	}
	atomic_fetch_add(&r->park_dropped, n);
	atomic_fetch_add(&r->park_let_go, n);
	return n;
}

int repl_park(struct dfs_repl *r, const struct dfs_pubkey *from, const struct dfs_hash *wait,
	      const struct dfs_hash *h, const uint8_t *rec, size_t len)
{
	size_t b = bucket_of(wait);
	/*
	 * One sent again is parked again (in its peer's share): looking for it
	 * would cost a walk of a chain a peer can make long, at every park.
	 */
	struct park_share **sp = share_slot(r, from);
	if ((*sp ? (*sp)->bytes : 0) + len > r->park_per_peer)
		return -ENOSPC;
	/*
	 * Peers with no link left (one that sends and leaves, as a flood does)
	 * keep at most a quarter of it, the live ones the rest; they go down to
	 * an eighth, so that this is not done at every update.
	 */
	if (r->park_bytes + len > r->park_max / 4) {
		size_t gone = evict_gone(r, r->park_bytes + len - r->park_max / 8);
		if (gone)
			log_park_drop(r, from, -ENOTCONN, gone);
	}
	if (r->park_bytes + len > r->park_max)
		return -ENOBUFS;
	struct parked *p = malloc(sizeof(*p) + len);
	if (!p)
		return -ENOMEM;
	p->wait = *wait;
	p->hash = *h;
	p->from = *from;
	p->due = 0;
	p->len = len;
	memcpy(p->rec, rec, len);
	if (!share_charge(r, p)) {
		free(p);
		return -ENOMEM;
	}
	p->next = r->park[b];
	r->park[b] = p;
	return 0;
}

/* Says why updates were dropped from the park: once, then at most every PARK_LOG_MS. */
static void log_park_drop(struct dfs_repl *r, const struct dfs_pubkey *from, int rc, size_t n)
{
	uint64_t now = dfs_monotonic_ms();
	char hex[17], why[96];

	r->park_unlogged += n;
	if (r->park_logged_ms && now - r->park_logged_ms < PARK_LOG_MS)
		return;
	dfs_hex_encode(hex, from->b, 8);
	if (rc == -ENOSPC)
		snprintf(why, sizeof(why), "the share of peer %s is full (park_per_peer=%zuK)",
			 hex, r->park_per_peer >> 10);
	else if (rc == -ENOBUFS)
		snprintf(why, sizeof(why), "the buffer is full (%zu MiB in all; the last from %s)",
			 r->park_max >> 20, hex);
	else if (rc == -ENOTCONN)
		snprintf(why, sizeof(why), "their peers have no link left, and the buffer was "
			 "a quarter full (%zu MiB in all)", r->park_max >> 20);
	else
		snprintf(why, sizeof(why), "out of memory (the last from %s)", hex);
	dfs_log(DFS_LOG_WARNING, "replication: %llu update(s) waiting for a predecessor dropped: "
		"%s; each is asked for again once its link reconnects", r->park_unlogged, why);
	r->park_logged_ms = now ? now : 1;
	r->park_unlogged = 0;
}

bool repl_park_or_drop(struct dfs_repl *r, const struct dfs_pubkey *from,
		       const struct dfs_hash *wait, const struct dfs_hash *h, const uint8_t *rec,
		       size_t len)
{
	int rc = repl_park(r, from, wait, h, rec, len);

	if (rc == 0)
		return true;
	atomic_fetch_add(&r->dropped, 1);
	atomic_fetch_add(&r->park_dropped, 1);
	log_park_drop(r, from, rc, 1);
	return false;
}

void repl_unpark(struct dfs_repl *r, const struct dfs_hash *key)
{
	struct parked **pp = &r->park[bucket_of(key)];

	while (*pp) {
		struct parked *p = *pp;
		if (memcmp(p->wait.b, key->b, DFS_HASH_LEN) == 0) {
			*pp = p->next;
			release(r, *share_slot(r, &p->from), p);
		} else {
			pp = &p->next;
		}
	}
}

void repl_take_waiters(struct dfs_repl *r, const struct dfs_hash *h, const uint8_t *rec,
		       size_t len)
{
	struct dfs_hash key;
	struct dfs_pubkey entity;

	repl_unpark(r, h);
	if (dfs_update_entity(rec, len, &entity) == 0) {
		memcpy(key.b, entity.b, DFS_HASH_LEN);
		repl_unpark(r, &key);
	}
}

void repl_park_publish(struct dfs_repl *r)
{
	atomic_store(&r->parked, r->park_count);
	atomic_store(&r->parked_bytes, r->park_bytes);
	atomic_store(&r->clock_waiting, r->clock_wait_count);
}

void repl_park_release(struct dfs_repl *r)
{
	struct parked *p;

	while ((p = repl_released_next(r)))
		free(p);
	for (size_t i = 0; i < PARK_BUCKETS; i++) {
		while (r->park[i]) {
			struct parked *p = r->park[i];
			r->park[i] = p->next;
			share_release(r, p);
			free(p);
		}
	}
	while (r->clock_wait) {
		struct parked *p = r->clock_wait;
		r->clock_wait = p->next;
		free(p);
	}
	r->clock_wait_bytes = r->clock_wait_count = 0;
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

static void log_clock_wait(struct dfs_repl *r, const uint8_t *rec, size_t len,
			   const struct dfs_hash *h, uint64_t wait, const char *what)
{
	char hex[17], where[2 * DFS_UPDATE_NAME_MAX];

	if (DFS_LOG_INFO > dfs_log_level_current)
		return;
	dfs_hex_encode(hex, h->b, 8);
	dfs_db_update_where(r->db, rec, len, where, sizeof(where));
	dfs_log(DFS_LOG_INFO, "replication: update %s of %s is stamped more than max_skew "
		"ahead of this node's clock, due in %llu s: %s", hex, where,
		(unsigned long long)(wait / 1000), what);
}

/* Says that updates waiting for their time gave way: once, then at most every PARK_LOG_MS. */
static void log_clock_drop(struct dfs_repl *r)
{
	uint64_t now = dfs_monotonic_ms();

	atomic_fetch_add(&r->clock_dropped, 1);
	r->clock_unlogged++;
	if (r->clock_logged_ms && now - r->clock_logged_ms < PARK_LOG_MS)
		return;
	dfs_log(DFS_LOG_WARNING, "replication: %llu update(s) stamped ahead dropped: %u wait "
		"for their time, or %u MiB of them (the one due last gives way), or half "
		"of that from their peer; each is asked for again after a restart",
		(unsigned long long)r->clock_unlogged, (unsigned)CLOCK_WAIT_MAX,
		(unsigned)(r->clock_wait_max >> 20));
	r->clock_logged_ms = now ? now : 1;
	r->clock_unlogged = 0;
}

/*
 * Makes room for an update of len bytes due at due (wait ms from now): past
 * CLOCK_WAIT_MAX and clock_wait_max bytes the one due last gives way, dropped
 * and counted (asked for again after a restart, like any update not
 * stored). Returns false when the new one is the one to give way.
 */
static bool clock_room(struct dfs_repl *r, const uint8_t *rec, size_t len,
		       const struct dfs_hash *h, uint64_t due, uint64_t wait)
{
	while (r->clock_wait_count >= CLOCK_WAIT_MAX ||
	       r->clock_wait_bytes + len > r->clock_wait_max) {
		struct parked **pp = clock_last(r);
		atomic_fetch_add(&r->dropped, 1);
		log_clock_drop(r);
		if (!pp || (*pp)->due <= due) {
			log_clock_wait(r, rec, len, h, wait, "dropped, too many wait");
			return false;
		}
		struct parked *last = *pp;
		*pp = NULL;
		r->clock_wait_bytes -= last->len;
		r->clock_wait_count--;
		log_clock_wait(r, last->rec, last->len, &last->wait, last->due - due + wait,
			       "dropped for one due sooner");
		free(last);
	}
	return true;
}

/*
 * Keeps an update that came too early (-ETIME) until it is due, soonest
 * first, within CLOCK_WAIT_MAX and clock_wait_max bytes, of which one peer's
 * take at most half: past that, its new one is dropped.
 */
bool repl_clock_park(struct dfs_repl *r, const struct dfs_pubkey *from, const uint8_t *rec,
		     size_t len, bool first)
{
	struct dfs_hash h;
	struct parked **pp;
	size_t peer_n = 0, peer_bytes = 0;

	dfs_hash2(&h, rec, len, NULL, 0);
	for (struct parked *q = r->clock_wait; q; q = q->next) {
		if (memcmp(q->wait.b, h.b, DFS_HASH_LEN) == 0)
			return true;	/* sent again: kept already */
		if (memcmp(q->from.b, from->b, sizeof(from->b)) == 0) {
			peer_n++;
			peer_bytes += q->len;
		}
	}
	/* A millisecond more: the wall clock and the monotonic one round apart. */
	uint64_t wait = dfs_db_clock_wait(r->db, rec, len) + 1;
	uint64_t due = dfs_monotonic_ms() + wait;
	if (peer_n >= CLOCK_WAIT_MAX / 2 || peer_bytes + len > r->clock_wait_max / 2) {
		atomic_fetch_add(&r->dropped, 1);
		log_clock_drop(r);
		log_clock_wait(r, rec, len, &h, wait, "dropped, its peer's share is full");
		return false;
	}
	if (!clock_room(r, rec, len, &h, due, wait))
		return false;
	struct parked *p = malloc(sizeof(*p) + len);
	if (!p) {
		atomic_fetch_add(&r->dropped, 1);
		return false;
	}
	p->wait = h;
	p->hash = h;
	p->from = *from;
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
		log_clock_wait(r, rec, len, &h, wait, "it waits until then");
	return true;
}

bool repl_receive_waiter(struct dfs_repl *r, struct dfs_db_group *g, struct parked *p)
{
	struct dfs_hash missing = { { 0 } };
	/* Checked before it was parked; whether it is stored is looked up. */
	struct dfs_db_checked pc = { .hash = p->hash, .fresh = false };
	bool kept = true;

	/* Parked: which connection it came over is not kept. */
	int rc = dfs_db_group_receive(g, p->rec, p->len, &pc, &missing, NULL);
	if (rc == -EAGAIN) {
		kept = repl_park_or_drop(r, &p->from, &missing, &p->hash, p->rec, p->len);
	} else if (rc == -ETIME) {
		kept = repl_clock_park(r, &p->from, p->rec, p->len, p->due == 0);
	} else if (rc == -EIO || rc == -ENOMEM) {
		atomic_fetch_add(&r->dropped, 1);
		kept = false;
	} else if (rc == -EBADMSG) {
		atomic_fetch_add(&r->dropped, 1);
	} else {
		repl_take_waiters(r, &p->hash, p->rec, p->len);
	}
	free(p);
	return kept;
}

/*
 * Their links' cursors stayed where they were when these came in, so what
 * cannot be kept now is asked for again after a restart. Past the caps of
 * the park: they are bounded by the clock's own.
 */
bool repl_retry_clock_waits(struct dfs_repl *r)
{
	uint64_t now = dfs_monotonic_ms();
	bool any = false;

	if (!r->clock_wait || r->clock_wait->due > now)
		return false;
	while (r->clock_wait && r->clock_wait->due <= now) {
		struct parked *p = r->clock_wait;
		r->clock_wait = p->next;
		r->clock_wait_bytes -= p->len;
		r->clock_wait_count--;
		if (!share_charge(r, p)) {
			atomic_fetch_add(&r->dropped, 1);
			free(p);
			continue;
		}
		release(r, *share_slot(r, &p->from), p);
		any = true;
	}
	repl_park_publish(r);
	return any;
}
