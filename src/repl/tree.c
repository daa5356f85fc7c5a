// SPDX-License-Identifier: MIT
/*
 * tree.c - epidemic broadcast trees (Plumtree) over the log streams.
 *
 * Every link starts eager: our log goes to the peer in full (UPDATES). A
 * live update that comes in twice means a loop: the link it came over the
 * second time is pruned (PRUNE), and both sides then send each other only
 * hashes (HAVE), batched. A node keeps its oldest eager link: it refuses a
 * PRUNE of it (a GRAFT of none), and that link is not pruned again. In a
 * mesh the eager links left form a tree, so each update crosses about one
 * link per node in full. An announced update not stored within GRAFT_MS
 * (at once when no other link is eager) is grafted from its announcer
 * (GRAFT): sent in full, and the link is eager again both ways.
 *
 * The log streams stay what they were, so a wrong tree costs time, never
 * updates: a HAVE moves the peer's place in its log on (in turn with its
 * other messages) but what is acknowledged and saved stops before the
 * first announced update not stored yet (a hole), so after a reconnect,
 * which starts eager, the rest comes in full.
 *
 * Service thread only, except the holes, which it alone changes, under
 * r->lock, and the applier reads (repl_recv_stored()).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

void repl_tree_reset(struct link *l)
{
	l->lazy = l->pruned = l->prune_due = l->keep_due = l->kept = false;
	l->have_since_ms = 0;
	atomic_store(&l->dup_seen, false);
	l->ngraft_in = l->ngraft_out = 0;
	l->nholes = 0;
}

/* Notes that the peer announced seq (hash h) and it is not stored here. Under r->lock. */
static int hole_add(struct link *l, uint64_t seq, const struct dfs_hash *h, uint64_t now)
{
	if (l->nholes == l->holes_cap) {
		if (l->holes_cap >= HOLES_MAX)
			return -ENOSPC;
		size_t cap = l->holes_cap ? 2 * l->holes_cap : 64;
		struct hole *n = realloc(l->holes, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		l->holes = n;
		l->holes_cap = cap;
	}
	/* In order of seq: a peer's announcements come in order, so this is the end. */
	size_t i = l->nholes;
	while (i > 0 && l->holes[i - 1].seq >= seq)
		i--;
	if (i < l->nholes && l->holes[i].seq == seq)
		return 0;
	memmove(&l->holes[i + 1], &l->holes[i], (l->nholes - i) * sizeof(*l->holes));
	l->holes[i] = (struct hole){ .seq = seq, .hash = *h, .since_ms = now ? now : 1 };
	l->nholes++;
	return 0;
}

int repl_tree_have(struct link *l, const struct dfs_msg *m)
{
	struct dfs_repl *r = l->r;
	uint64_t seq, now = dfs_monotonic_ms();
	struct dfs_hash h;
	size_t off = 0;
	int rc = 0;

	while (rc == 0 && dfs_msg_next_have(m, &off, &seq, &h)) {
		if (dfs_db_known(r->db, &h))
			continue;
		pthread_mutex_lock(&r->lock);
		rc = hole_add(l, seq, &h, now);
		pthread_mutex_unlock(&r->lock);
	}
	if (rc < 0) {
		/* Closed: it comes back eager, from its saved place, before the holes. */
		atomic_fetch_add(&r->holes_over, 1);
		set_error(l, "%s", "too many announced updates missing; reconnecting");
		dfs_log(DFS_LOG_WARNING, "replication: %s: %s", l->addr, l->last_error);
		return -1;
	}
	if (l->nholes)
		repl_net_tick_in(r, TREE_TICK_MS);
	return 0;
}

static bool eager_up(const struct link *l)
{
	return l->wsi && l->state == LINK_UP && !l->lazy;
}

static size_t eager_links(const struct dfs_repl *r)
{
	size_t n = 0;

	for (const struct link *l = r->links; l; l = l->next)
		n += eager_up(l);
	return n;
}

/*
 * Whether an eager link up, other than l, is older than l (an earlier
 * connection). Only such a link is pruned, by either end: a node's oldest
 * eager link stays eager, so that a peer sending the same updates to two
 * nodes over connections of its own, newer ones, cannot make the links
 * between them lazy and their updates wait for grafts, and so that the
 * oldest links, which a mesh started in turn makes a tree, stay.
 */
static bool older_eager(const struct dfs_repl *r, const struct link *l)
{
	for (const struct link *k = r->links; k; k = k->next)
		if (k != l && eager_up(k) && k->session < l->session)
			return true;
	return false;
}

int repl_tree_prune(struct link *l)
{
	/*
	 * Both ends keep their oldest eager link: this end refuses with a GRAFT
	 * of none. Else the peers, each deciding alone on what it saw, could
	 * take every eager link of a node at once, or cut the tree of oldest
	 * links.
	 */
	if (!l->lazy && !older_eager(l->r, l)) {
		l->keep_due = true;
		atomic_fetch_add(&l->r->prunes_refused, 1);
		repl_net_want_write(l->wsi);
		return 0;
	}
	l->lazy = l->pruned = true;
	l->prune_due = false;
	return 0;
}

int repl_tree_graft(struct link *l, const struct dfs_msg *m)
{
	struct dfs_repl *r = l->r;

	if (!l->sending) {
		r->on->bad_frame(l, "GRAFT before WANT");
		return 0;
	}
	if (!l->graft_in && !(l->graft_in = malloc(GRAFT_IN_MAX * sizeof(*l->graft_in))))
		return 0;
	if (m->count == 0)
		l->kept = true;
	for (size_t i = 0; i < m->count; i++) {
		uint64_t seq = dfs_msg_graft_seq(m, i);
		if (seq > l->sent_upto) {
			r->on->bad_frame(l, "GRAFT of an entry not announced");
			break;
		}
		if (l->ngraft_in >= GRAFT_IN_MAX) {
			r->on->bad_frame(l, "too many GRAFTs waiting");
			break;
		}
		l->graft_in[l->ngraft_in++] = seq;
	}
	l->lazy = l->pruned = false;
	repl_net_want_write(l->wsi);
	return 0;
}

static int send_graft(struct link *l)
{
	struct dfs_buf out;

	dfs_buf_init(&out);
	int rc = dfs_msg_graft_encode(&out, l->graft_out, l->ngraft_out);
	if (rc == 0)
		rc = repl_net_write(l, &out);
	dfs_buf_release(&out);
	if (rc == 0)
		atomic_fetch_add(&l->r->grafts, l->ngraft_out);
	l->ngraft_out = 0;
	return rc;
}

int repl_tree_writable(struct link *l)
{
	int rc;

	if (l->prune_due) {
		struct dfs_msg m = { .type = DFS_MSG_PRUNE };
		struct dfs_buf out;
		l->prune_due = false;
		dfs_buf_init(&out);
		rc = dfs_msg_encode(&m, &out);
		if (rc == 0)
			rc = repl_net_write(l, &out);
		dfs_buf_release(&out);
		if (rc == 0)
			atomic_fetch_add(&l->r->prunes, 1);
		return rc < 0 ? rc : 1;
	}
	if (l->ngraft_out || l->keep_due) {
		l->keep_due = false;
		rc = send_graft(l);
		return rc < 0 ? rc : 1;
	}
	if (l->ngraft_in) {
		rc = repl_send_grafted(l);
		return rc < 0 ? rc : 1;
	}
	return 0;
}

/* Whether another link grafted h lately; if not, notes that we do now. */
static bool grafted_lately(struct dfs_repl *r, const struct dfs_hash *h, uint64_t now)
{
	uint32_t k;

	memcpy(&k, h->b, sizeof(k));
	k %= GRAFT_RECENT;
	if (r->recent[k].ms && now - r->recent[k].ms < GRAFT_RETRY_MS &&
	    memcmp(r->recent[k].hash.b, h->b, DFS_HASH_LEN) == 0)
		return true;
	r->recent[k].hash = *h;
	r->recent[k].ms = now ? now : 1;
	return false;
}

/* Takes the holes marked filled (since_ms 0) out. */
static void holes_compact(struct dfs_repl *r, struct link *l)
{
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < l->nholes; i++)
		if (l->holes[i].since_ms)
			l->holes[n++] = l->holes[i];
	l->nholes = n;
	pthread_mutex_unlock(&r->lock);
}

/*
 * Walks l's holes from the first: the stored ones go, the due ones are
 * grafted. Holes are in the order they were announced, so the walk stops
 * at the first one not due yet; a bounded number is looked up per tick.
 */
static void holes_check(struct dfs_repl *r, struct link *l, uint64_t now, bool eager)
{
	size_t looked = 0;

	if (!l->graft_out && !(l->graft_out = malloc(DFS_WIRE_GRAFT_MAX * sizeof(uint64_t))))
		return;
	for (size_t i = 0; i < l->nholes && looked < 4 * DFS_WIRE_GRAFT_MAX; i++) {
		struct hole *h = &l->holes[i];
		bool first = !h->graft_ms;
		looked++;
		if (dfs_db_known(r->db, &h->hash)) {
			h->since_ms = 0;
			continue;
		}
		bool due = first ? !eager || now - h->since_ms >= GRAFT_MS
				 : now - h->graft_ms >= GRAFT_RETRY_MS;
		if (first && !due)
			break;	/* the ones after it came later */
		if (!due || l->ngraft_out >= DFS_WIRE_GRAFT_MAX || grafted_lately(r, &h->hash, now))
			continue;
		h->graft_ms = now ? now : 1;
		l->graft_out[l->ngraft_out++] = h->seq;
	}
	holes_compact(r, l);
	if (l->ngraft_out) {
		l->lazy = l->pruned = false;
		repl_net_want_write(l->wsi);
	}
	pthread_mutex_lock(&r->lock);
	bool ack = repl_ack_due(l);
	pthread_mutex_unlock(&r->lock);
	if (ack)
		repl_net_want_write(l->wsi);
}

void repl_tree_tick(struct dfs_repl *r)
{
	uint64_t now = dfs_monotonic_ms(), head = dfs_db_log_head(r->db);
	size_t eager = eager_links(r);
	bool again = false;

	for (struct link *l = r->links; l; l = l->next) {
		if (!l->wsi || l->state != LINK_UP)
			continue;
		if (atomic_exchange(&l->dup_seen, false) && !l->pruned && !l->kept &&
		    older_eager(r, l)) {
			l->prune_due = true;
			l->lazy = l->pruned = true;
			repl_net_want_write(l->wsi);
		}
		if (l->nholes) {
			/* What l announces comes in full over another eager link, or not at all. */
			holes_check(r, l, now, eager > (l->lazy ? 0u : 1u));
			again |= l->nholes > 0;
		}
		if (l->lazy && l->sending && head > l->sent_upto)
			repl_net_want_write(l->wsi);
	}
	if (again)
		repl_net_tick_in(r, TREE_TICK_MS);
}
