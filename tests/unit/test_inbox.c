// SPDX-License-Identifier: MIT
/*
 * test_inbox.c - unit tests for the replicator's receiving side without a
 * network: the applier's round over links (src/repl/inbox.c), which
 * message is checked ahead, when a turn ends, and the park's shares per
 * peer (src/repl/park.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../src/repl/internal.h"

static struct dfs_repl *repl_new_bare(void)
{
	struct dfs_repl *r = calloc(1, sizeof(*r));

	cr_assert_not_null(r);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->queue_cond, NULL);
	repl_park_init(r, 0, 0);
	repl_inbox_init(r, 0);
	return r;
}

static void repl_free_bare(struct dfs_repl *r)
{
	while (r->links) {
		struct link *l = r->links;
		r->links = l->next;
		free(l);
	}
	repl_inbox_release(r);
	repl_park_release(r);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->queue_cond);
	free(r);
}

static struct link *link_new(struct dfs_repl *r, uint8_t id)
{
	struct link *l = calloc(1, sizeof(*l));

	cr_assert_not_null(l);
	l->r = r;
	l->refs = 1;	/* the list's, as a configured peer's */
	l->session = 1;
	memset(l->peer.b, id, sizeof(l->peer.b));
	return l;
}

/* A peer with a link up (on r->links): its parked updates stay. */
static void live(struct dfs_repl *r, const struct dfs_pubkey *peer)
{
	struct link *l = link_new(r, 0);

	l->peer = *peer;
	l->authed = true;
	l->state = LINK_UP;
	l->next = r->links;
	r->links = l;
}

/* Queues a message of count updates (its bytes are never read here) on l. */
static int add(struct link *l, size_t count)
{
	struct dfs_msg m = { .type = DFS_MSG_UPDATES, .count = count };
	uint8_t bytes[100] = { 0 };

	return repl_inbox_add(l, &m, bytes, sizeof(bytes));
}

/*
 * One turn as the applier takes it, applying one update of the link's
 * message (the message goes once all are): returns the link served, or
 * NULL when none could be.
 */
static struct link *turn(struct dfs_repl *r)
{
	pthread_mutex_lock(&r->lock);
	struct link *l = repl_inbox_next(r);
	if (l == &r->waiters) {
		free(repl_released_next(r));	/* a slice of one */
		repl_inbox_turn_end(r, l);
	} else if (l) {
		cr_assert_not_null(l->work.m, "a link served has a message to apply");
		cr_assert_eq(l->turn, TURN_SERVED);
		struct inmsg *m = l->work.m;
		if (++l->work.n >= m->count) {
			l->queued -= m->len;
			link_put(l);	/* the message's */
			free(m->checked);
			free(m);
			memset(&l->work, 0, sizeof(l->work));
		}
		repl_inbox_turn_end(r, l);
	}
	pthread_mutex_unlock(&r->lock);
	return l;
}

/* The names of the links served, one a turn, until none is left. */
static void turns(struct dfs_repl *r, struct link *const *links, const char *names, char *out,
		  size_t n)
{
	size_t i = 0;
	struct link *l;

	while (i + 1 < n && (l = turn(r))) {
		for (size_t k = 0; names[k]; k++)
			if (links[k] == l)
				out[i++] = names[k];
	}
	out[i] = '\0';
}

Test(inbox, links_take_turns_one_update_at_a_time)
{
	struct dfs_repl *r = repl_new_bare();
	struct link *a = link_new(r, 1), *b = link_new(r, 2), *c = link_new(r, 3);
	struct link *links[] = { a, b, c };
	char order[32];

	/* A floods: two messages of three updates; B has one update, C two. */
	cr_assert_eq(add(a, 3), 0);
	cr_assert_eq(add(a, 3), 0);
	cr_assert_eq(add(b, 1), 0);
	cr_assert_eq(add(c, 2), 0);
	cr_assert_eq(atomic_load(&r->nready), 3, "each link with messages waits once");
	turns(r, links, "ABC", order, sizeof(order));
	cr_assert_str_eq(order, "ABCACAAAA");
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(links[i]->refs, 1, "only the list holds link %d now", i);
		cr_assert_eq(links[i]->turn, TURN_IDLE);
		cr_assert_eq(links[i]->queued, 0);
	}
	cr_assert_null(r->ready);
	cr_assert_eq(atomic_load(&r->nready), 0);
	for (int i = 0; i < 3; i++)
		free(links[i]);
	repl_free_bare(r);
}

Test(inbox, a_link_that_gets_a_message_while_another_is_served_goes_next)
{
	struct dfs_repl *r = repl_new_bare();
	struct link *a = link_new(r, 1), *b = link_new(r, 2);

	cr_assert_eq(add(a, 1000), 0);
	pthread_mutex_lock(&r->lock);
	cr_assert_eq(repl_inbox_next(r), a);
	pthread_mutex_unlock(&r->lock);
	/* While A's turn runs (a listener judging one of its updates), B's message comes. */
	cr_assert_eq(add(b, 1), 0);
	cr_assert_eq(atomic_load(&r->nready), 1, "B waits: A's turn ends at the slice");
	cr_assert(repl_slice_over(r, 1, 0, SLICE_MS), "one slow update ends A's turn");
	a->work.n++;
	pthread_mutex_lock(&r->lock);
	repl_inbox_turn_end(r, a);
	pthread_mutex_unlock(&r->lock);
	cr_assert_eq(turn(r), b, "B's update goes before A's next one");
	cr_assert_eq(turn(r), a);
	cr_assert_eq(b->refs, 1);
	/* A alone: its whole message, a turn at a time. */
	while (turn(r))
		;
	cr_assert_eq(a->refs, 1);
	free(a);
	free(b);
	repl_free_bare(r);
}

Test(inbox, a_message_being_checked_lets_the_next_link_go_first)
{
	struct dfs_repl *r = repl_new_bare();
	struct link *a = link_new(r, 1), *b = link_new(r, 2);

	cr_assert_eq(add(a, 1), 0);
	cr_assert_eq(add(b, 1), 0);
	pthread_mutex_lock(&r->lock);
	struct inmsg *c = repl_inbox_to_check(r);
	cr_assert_eq(c, a->qhead, "A's message is checked first: A goes first");
	cr_assert_eq(c->check, CHECK_RUNNING);
	pthread_mutex_unlock(&r->lock);
	cr_assert_eq(turn(r), b, "not waiting for A's check");
	cr_assert_null(turn(r), "A's only message is still being checked");
	pthread_mutex_lock(&r->lock);
	c->check = CHECK_DONE;
	pthread_mutex_unlock(&r->lock);
	cr_assert_eq(r->ahead, 1);
	cr_assert_eq(turn(r), a);
	cr_assert_eq(r->ahead, 0, "taken: no longer ahead");
	cr_assert_eq(a->ahead, 0);
	free(a);
	free(b);
	repl_free_bare(r);
}

Test(inbox, checks_ahead_go_to_the_link_with_the_fewest)
{
	struct dfs_repl *r = repl_new_bare();
	struct link *a = link_new(r, 1), *b = link_new(r, 2);

	for (int i = 0; i < 10; i++)
		cr_assert_eq(add(a, 5), 0);
	cr_assert_eq(add(b, 5), 0);
	cr_assert_eq(add(b, 5), 0);
	pthread_mutex_lock(&r->lock);
	struct link *got[CHECK_AHEAD];
	for (int i = 0; i < CHECK_AHEAD; i++) {
		struct inmsg *c = repl_inbox_to_check(r);
		cr_assert_not_null(c, "check %d", i);
		got[i] = c->link;
	}
	cr_assert_null(repl_inbox_to_check(r), "at most CHECK_AHEAD ahead");
	pthread_mutex_unlock(&r->lock);
	cr_assert_eq(got[0], a);
	cr_assert_eq(got[1], b, "B's first before A's second");
	cr_assert_eq(got[2], a);
	cr_assert_eq(got[3], b);
	for (int i = 4; i < CHECK_AHEAD; i++)
		cr_assert_eq(got[i], a, "B has no more: the rest are A's");
	cr_assert_eq(a->ahead, CHECK_AHEAD - 2);
	cr_assert_eq(b->ahead, 2);
	/* Checked in order within a link: A's next to check is its seventh. */
	struct inmsg *m = a->qhead;
	for (int i = 0; i < CHECK_AHEAD - 2; i++, m = m->next)
		cr_assert_eq(m->check, CHECK_RUNNING);
	cr_assert_eq(a->qcheck, m);
	cr_assert_eq(m->check, CHECK_QUEUED);
	pthread_mutex_lock(&r->lock);
	for (m = a->qhead; m; m = m->next)
		m->check = m->check == CHECK_RUNNING ? CHECK_DONE : m->check;
	for (m = b->qhead; m; m = m->next)
		m->check = CHECK_DONE;
	pthread_mutex_unlock(&r->lock);
	while (turn(r))
		;
	cr_assert_eq(r->ahead, 0);
	cr_assert_eq(a->refs, 1);
	cr_assert_eq(b->refs, 1);
	free(a);
	free(b);
	repl_free_bare(r);
}

Test(inbox, the_served_link_is_checked_ahead_too)
{
	struct dfs_repl *r = repl_new_bare();
	struct link *a = link_new(r, 1);

	cr_assert_eq(add(a, 5), 0);
	cr_assert_eq(add(a, 5), 0);
	pthread_mutex_lock(&r->lock);
	cr_assert_eq(repl_inbox_next(r), a);
	struct inmsg *c = repl_inbox_to_check(r);
	cr_assert_not_null(c, "a catch-up from one peer is checked ahead while it is applied");
	cr_assert_eq(c, a->qhead);
	c->check = CHECK_DONE;
	a->work.n = a->work.m->count;
	pthread_mutex_unlock(&r->lock);
	/* As the applier ends the message. */
	pthread_mutex_lock(&r->lock);
	struct inmsg *m = a->work.m;
	a->queued -= m->len;
	link_put(a);
	free(m);
	memset(&a->work, 0, sizeof(a->work));
	repl_inbox_turn_end(r, a);
	pthread_mutex_unlock(&r->lock);
	while (turn(r))
		;
	cr_assert_eq(a->refs, 1);
	free(a);
	repl_free_bare(r);
}

Test(inbox, a_full_queue_says_so)
{
	struct dfs_repl *r = repl_new_bare();
	struct link *a = link_new(r, 1);
	struct dfs_msg m = { .type = DFS_MSG_UPDATES, .count = 1 };
	size_t len = LINK_QUEUE_MAX / 4 + 1;
	uint8_t *bytes = calloc(1, len);
	int rc = 0, n = 0;

	while (rc == 0 && n < 10) {
		rc = repl_inbox_add(a, &m, bytes, len);
		n++;
	}
	cr_assert_eq(rc, 1, "past LINK_QUEUE_MAX the link is to be paused");
	cr_assert_eq(n, 4);
	cr_assert(a->queued <= LINK_QUEUE_MAX + len);
	while (turn(r))
		;
	cr_assert_eq(a->queued, 0);
	/* -o link_queue sets it. */
	r->queue_max = LINK_QUEUE_MAX / 2;
	rc = 0;
	for (n = 0; rc == 0 && n < 10; n++)
		rc = repl_inbox_add(a, &m, bytes, len);
	cr_assert_eq(rc, 1);
	cr_assert_eq(n, 2);
	while (turn(r))
		;
	free(bytes);
	free(a);
	repl_free_bare(r);
}

Test(inbox, a_turn_ends_only_while_another_link_waits)
{
	struct dfs_repl *r = repl_new_bare();

	cr_assert_not(repl_slice_over(r, SLICE_MAX * 10, 0, 1000000), "alone: no end");
	atomic_store(&r->nready, 1);
	cr_assert_not(repl_slice_over(r, 0, 0, 1000000), "at least one update a turn");
	cr_assert_not(repl_slice_over(r, 1, 100, 100 + SLICE_MS - 1));
	cr_assert(repl_slice_over(r, 1, 100, 100 + SLICE_MS), "one slow update is a slice");
	cr_assert(repl_slice_over(r, SLICE_MAX, 100, 100), "so are SLICE_MAX quick ones");
	cr_assert_not(repl_slice_over(r, SLICE_MAX - 1, 100, 100));
	atomic_store(&r->nready, 0);
	repl_free_bare(r);
}

Test(inbox, lines_a_peer_repeats_are_logged_ten_in_ten_seconds)
{
	struct repl_ratelog rl = { 0 };
	unsigned long long skipped = 99;
	int logged = 0;

	for (int i = 0; i < 25; i++)
		if (repl_ratelog(&rl, &skipped)) {
			logged++;
			cr_assert_eq(skipped, 0);
		}
	cr_assert_eq(logged, RATELOG_BURST);
	cr_assert_eq(rl.skipped, 25 - RATELOG_BURST);
	rl.start_ms -= RATELOG_MS;	/* the window is over */
	cr_assert(repl_ratelog(&rl, &skipped));
	cr_assert_eq(skipped, 25 - RATELOG_BURST, "the next line says how many were not");
	cr_assert(repl_ratelog(&rl, &skipped));
	cr_assert_eq(skipped, 0);
}

/* ---- the park ---------------------------------------------------------------------- */

static void hash_n(struct dfs_hash *h, unsigned n)
{
	memset(h->b, 0, sizeof(h->b));
	memcpy(h->b, &n, sizeof(n));
	h->b[31] = 0x5a;
}

static int park_n(struct dfs_repl *r, const struct dfs_pubkey *from, unsigned wait, unsigned n,
		  size_t len)
{
	struct dfs_hash w, h;
	uint8_t rec[1024] = { 0 };

	cr_assert(len <= sizeof(rec));
	hash_n(&w, wait);
	hash_n(&h, n);
	return repl_park(r, from, &w, &h, rec, len);
}

/* Takes every released update, in turn; their peers' first bytes into order, their count and bytes. */
static void take_released(struct dfs_repl *r, char *order, size_t *n, size_t *bytes)
{
	struct parked *p;

	*n = *bytes = 0;
	while ((p = repl_released_next(r))) {
		if (order)
			order[*n] = (char)('0' + p->from.b[0]);
		(*n)++;
		*bytes += p->len;
		free(p);
	}
	if (order)
		order[*n] = '\0';
}

Test(park, a_peer_gets_its_share_and_the_park_a_cap)
{
	struct dfs_repl *r = repl_new_bare();
	struct dfs_pubkey x, y, z;

	memset(x.b, 1, sizeof(x.b));
	memset(y.b, 2, sizeof(y.b));
	memset(z.b, 3, sizeof(z.b));
	live(r, &x);
	live(r, &y);
	live(r, &z);
	r->park_per_peer = 1000;
	r->park_max = 2500;
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(park_n(r, &x, 100 + i, i, 300), 0);
	cr_assert_eq(park_n(r, &x, 103, 3, 300), -ENOSPC, "past X's share");
	cr_assert_eq(repl_park_share(r, &x), 900);
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(park_n(r, &y, 200 + i, 10 + i, 300), 0, "Y has a share of its own");
	cr_assert_eq(park_n(r, &z, 300, 20, 300), 0);
	cr_assert_eq(park_n(r, &z, 301, 21, 300), 0);
	cr_assert_eq(r->park_bytes, 2400);
	cr_assert_eq(park_n(r, &z, 302, 22, 300), -ENOBUFS, "past the park's cap");
	cr_assert_eq(park_n(r, &z, 302, 22, 100), 0, "a smaller one still fits");
	cr_assert_eq(r->park_count, 9);
	cr_assert_eq(repl_park_share(r, &z), 700);
	repl_free_bare(r);
}

/*
 * A peer with no link left (one that sent and left) keeps at most a quarter
 * of the park: past it its updates go for a live peer's, counted as
 * dropped from the park but not as lost by a live link.
 */
Test(park, gone_peers_keep_a_quarter)
{
	struct dfs_repl *r = repl_new_bare();
	struct dfs_pubkey x, y, g;

	memset(x.b, 1, sizeof(x.b));
	memset(y.b, 2, sizeof(y.b));
	memset(g.b, 7, sizeof(g.b));
	live(r, &x);
	live(r, &y);
	r->park_per_peer = 1000;
	r->park_max = 4000;
	cr_assert_eq(park_n(r, &g, 1, 1, 400), 0);
	cr_assert_eq(park_n(r, &g, 2, 2, 400), 0, "within a quarter, a gone peer's stay");
	cr_assert_eq(r->park_bytes, 800);
	cr_assert_eq(park_n(r, &x, 3, 3, 400), 0);
	cr_assert_eq(park_n(r, &x, 4, 4, 400), 0);
	cr_assert_eq(repl_park_share(r, &g), 0, "past a quarter, they went");
	cr_assert_eq(repl_park_share(r, &x), 800, "the live peer's stay");
	cr_assert_eq(r->park_count, 2);
	cr_assert_eq(atomic_load(&r->park_dropped), 2);
	cr_assert_eq(atomic_load(&r->dropped), 0, "no live link lost an update");
	cr_assert_eq(park_n(r, &y, 5, 5, 400), 0, "live peers go on past a quarter");
	cr_assert_eq(r->park_bytes, 1200);
	repl_free_bare(r);
}

/* Of the peers with no link left, the one that parked first goes first. */
Test(park, the_peer_gone_first_goes_first)
{
	struct dfs_repl *r = repl_new_bare();
	struct dfs_pubkey x, g1, g2;

	memset(x.b, 1, sizeof(x.b));
	memset(g1.b, 7, sizeof(g1.b));
	memset(g2.b, 8, sizeof(g2.b));
	live(r, &x);
	r->park_per_peer = 2000;
	r->park_max = 8000;
	cr_assert_eq(park_n(r, &g1, 1, 1, 1000), 0);
	cr_assert_eq(park_n(r, &g1, 2, 2, 500), 0);
	cr_assert_eq(park_n(r, &g2, 3, 3, 400), 0);
	cr_assert_eq(park_n(r, &x, 4, 4, 200), 0);
	cr_assert_eq(repl_park_share(r, &g1), 0, "the first peer's went");
	cr_assert_eq(repl_park_share(r, &g2), 400, "the later peer's stay: room enough");
	cr_assert_eq(repl_park_share(r, &x), 200);
	cr_assert_eq(atomic_load(&r->park_dropped), 2);
	repl_free_bare(r);
}

Test(park, released_updates_count_until_taken)
{
	struct dfs_repl *r = repl_new_bare();
	struct dfs_pubkey x, y;
	struct dfs_hash w;
	size_t n, bytes;

	memset(x.b, 1, sizeof(x.b));
	memset(y.b, 1, sizeof(y.b));
	y.b[5] = 9;	/* same bucket of shares as x */
	r->park_per_peer = 1000;
	cr_assert_eq(park_n(r, &x, 1, 1, 400), 0);
	cr_assert_eq(park_n(r, &x, 1, 2, 400), 0);
	cr_assert_eq(park_n(r, &x, 2, 3, 200), 0);
	cr_assert_eq(park_n(r, &y, 1, 4, 300), 0);
	cr_assert_eq(park_n(r, &x, 3, 5, 400), -ENOSPC);
	hash_n(&w, 1);
	repl_unpark(r, &w);
	cr_assert_not_null(r->rel_ring, "released: they wait for the applier's turn");
	cr_assert_eq(repl_park_share(r, &x), 1000, "and still count");
	cr_assert_eq(park_n(r, &x, 3, 5, 400), -ENOSPC, "so a peer cannot release and park anew");
	take_released(r, NULL, &n, &bytes);
	cr_assert_eq(n, 3, "every update waiting for it, of every peer");
	cr_assert_eq(bytes, 1100);
	cr_assert_eq(repl_park_share(r, &x), 200);
	cr_assert_eq(repl_park_share(r, &y), 0);
	cr_assert_eq(r->park_bytes, 200);
	cr_assert_eq(r->park_count, 1);
	cr_assert_eq(park_n(r, &x, 3, 5, 400), 0, "room again");
	hash_n(&w, 2);
	repl_unpark(r, &w);
	hash_n(&w, 3);
	repl_unpark(r, &w);
	take_released(r, NULL, &n, &bytes);
	cr_assert_eq(n, 2);
	cr_assert_eq(r->park_bytes, 0);
	cr_assert_eq(r->park_count, 0);
	cr_assert_null(r->rel_ring);
	for (size_t i = 0; i < SHARE_BUCKETS; i++)
		cr_assert_null(r->shares[i], "an empty share goes");
	repl_free_bare(r);
}

Test(park, released_updates_are_taken_one_peer_after_another)
{
	struct dfs_repl *r = repl_new_bare();
	struct dfs_pubkey x, y, z;
	struct dfs_hash w;
	char order[32];
	size_t n, bytes;

	memset(x.b, 1, sizeof(x.b));
	memset(y.b, 2, sizeof(y.b));
	memset(z.b, 3, sizeof(z.b));
	/* X parked five behind W, then Y two, then Z one: W releases them all. */
	for (unsigned i = 0; i < 5; i++)
		cr_assert_eq(park_n(r, &x, 7, i, 100), 0);
	cr_assert_eq(park_n(r, &y, 7, 10, 100), 0);
	cr_assert_eq(park_n(r, &y, 7, 11, 100), 0);
	cr_assert_eq(park_n(r, &z, 7, 20, 100), 0);
	hash_n(&w, 7);
	repl_unpark(r, &w);
	take_released(r, order, &n, &bytes);
	cr_assert_eq(n, 8);
	/* The chain holds the newest first: Z's goes first, then one of each in turn. */
	cr_assert_str_eq(order, "32121111");
	repl_free_bare(r);
}

Test(park, released_updates_take_turns_with_the_links)
{
	struct dfs_repl *r = repl_new_bare();
	struct link *a = link_new(r, 1);
	struct dfs_pubkey x;
	struct dfs_hash w;

	memset(x.b, 5, sizeof(x.b));
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(park_n(r, &x, 9, i, 100), 0);
	cr_assert_eq(add(a, 3), 0);
	hash_n(&w, 9);
	repl_unpark(r, &w);
	repl_inbox_waiters_ready(r);
	repl_inbox_waiters_ready(r);
	cr_assert_eq(atomic_load(&r->nready), 2, "the released updates wait once, as a link");
	/* Served as the applier does, a slice of one update a turn. */
	char order[16];
	size_t k = 0;
	struct link *l;
	while ((l = turn(r)))
		order[k++] = l == a ? 'A' : l == &r->waiters ? 'W' : '?';
	order[k] = '\0';
	cr_assert_eq(r->waiters.refs, 1);
	cr_assert_eq(r->park_count, 0);
	free(a);
	repl_free_bare(r);
	cr_assert_str_eq(order, "AWAWAW" , "got %s", order);
}

Test(park, every_drop_is_counted)
{
	struct dfs_repl *r = repl_new_bare();
	struct dfs_pubkey x, y;
	struct dfs_hash w, h;
	uint8_t rec[600] = { 0 };

	memset(x.b, 1, sizeof(x.b));
	memset(y.b, 2, sizeof(y.b));
	live(r, &x);
	live(r, &y);
	r->park_per_peer = 1000;
	r->park_max = 1500;
	hash_n(&w, 1);
	for (unsigned i = 0; i < 5; i++) {
		hash_n(&h, i);
		repl_park_or_drop(r, &x, &w, &h, rec, sizeof(rec));
	}
	cr_assert_eq(r->park_count, 1, "X's share holds one");
	cr_assert_eq(atomic_load(&r->dropped), 4);
	cr_assert_eq(atomic_load(&r->park_dropped), 4);
	hash_n(&h, 10);
	cr_assert(repl_park_or_drop(r, &y, &w, &h, rec, sizeof(rec)));
	hash_n(&h, 11);
	cr_assert_not(repl_park_or_drop(r, &y, &w, &h, rec, sizeof(rec)), "the park is full");
	cr_assert_eq(atomic_load(&r->dropped), 5);
	cr_assert_eq(atomic_load(&r->park_dropped), 5);
	cr_assert_eq(r->park_unlogged, 4, "the first logged at once, the rest counted for the next line");
	repl_park_publish(r);
	cr_assert_eq(atomic_load(&r->parked), 2);
	cr_assert_eq(atomic_load(&r->parked_bytes), 1200);
	repl_free_bare(r);
}
