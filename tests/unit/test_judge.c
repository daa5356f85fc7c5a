// SPDX-License-Identifier: MIT
/*
 * test_judge.c - what listeners are asked and told about dict operations
 * (model/judge.c): a dict delete, or a field over a dict, is judged as the
 * delete of each live key, and one rejection rejects it whole.
 *
 * Node A owns the object and makes changes; node B receives A's updates
 * (and updates crafted with A's keys, as a peer on another fork would send
 * them) through a fake listener that records what it is asked and told.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "dinemicfs/db.h"
#include "dinemicfs/dblog.h"
#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "tmpdir.h"
#include "nodes.h"

#define MODEL "notes"

static struct node a, b;
static struct dfs_pubkey doc;

static void setup(void)
{
	dfs_log_set_level(DFS_LOG_ERR - 1);	/* held updates are logged */
	cr_assert_eq(dfs_crypto_init(), 0);
	node_make(&a, "a");
	node_make(&b, "b");
}

static void teardown(void)
{
	node_destroy(&a);
	node_destroy(&b);
}

TestSuite(judge, .init = setup, .fini = teardown);

/* ---- a listener that records, and rejects the deletes of one field ------------- */

struct seen_change {
	enum dfs_event event;
	bool remote, authorized, owned, sealed;
	char field[64];
	bool has_old, has_new;
	char old_value[64], new_value[64];
};

struct seen {
	const char *reject;	/* the field whose delete is rejected, or NULL */
	int n, after;
	struct seen_change c[32], told[32];
};

static bool wants_all(void *ctx, enum dfs_event event, const char *model)
{
	(void)ctx;
	(void)event;
	return strcmp(model, MODEL) == 0;
}

static void copy_value(char *out, size_t size, bool *has, const uint8_t *p, size_t len)
{
	*has = p != NULL;
	cr_assert(p || len == 0);
	cr_assert_lt(len, size);
	if (len)
		memcpy(out, p, len);
	out[len] = '\0';
}

static void record(struct seen_change *sc, const struct dfs_change *c)
{
	memset(sc, 0, sizeof(*sc));
	sc->event = c->event;
	sc->remote = c->remote;
	sc->authorized = c->authorized;
	sc->owned = c->owned;
	sc->sealed = c->sealed;
	snprintf(sc->field, sizeof(sc->field), "%s", c->field ? c->field : "-");
	copy_value(sc->old_value, sizeof(sc->old_value), &sc->has_old, c->old_value, c->old_len);
	copy_value(sc->new_value, sizeof(sc->new_value), &sc->has_new, c->new_value, c->new_len);
}

static int before(void *ctx, const struct dfs_change *c, char *why, size_t whylen)
{
	struct seen *s = ctx;

	(void)why;
	(void)whylen;

	cr_assert_lt(s->n, 32);
	record(&s->c[s->n++], c);
	if (s->reject && c->event == DFS_EVENT_DELETE && c->field &&
	    strcmp(c->field, s->reject) == 0)
		return -EPERM;
	return 0;
}

static void after(void *ctx, const struct dfs_change *c)
{
	struct seen *s = ctx;

	cr_assert_lt(s->after, 32);
	record(&s->told[s->after++], c);
}

static void listen_on(struct node *n, struct seen *s, struct dfs_db_listener *l)
{
	*l = (struct dfs_db_listener){ wants_all, before, after, s, NULL, NULL };
	dfs_db_set_listener(n->db, l);
}

/* old_value/new_value NULL: the change must carry none. */
static void expect_change(const struct seen_change *c, const char *what, enum dfs_event event,
			  const char *field, const char *old_value, const char *new_value)
{
	cr_assert_eq(c->event, event, "%s: event %d, want %d", what, c->event, event);
	cr_assert_str_eq(c->field, field, "%s", what);
	cr_assert_eq(c->has_old, old_value != NULL, "%s (%s): old value given=%d", what, field,
		     c->has_old);
	if (old_value)
		cr_assert_str_eq(c->old_value, old_value, "%s (%s): old value", what, field);
	cr_assert_eq(c->has_new, new_value != NULL, "%s (%s): new value given=%d", what, field,
		     c->has_new);
	if (new_value)
		cr_assert_str_eq(c->new_value, new_value, "%s (%s): new value", what, field);
}

static void expect_asked(const struct seen *s, int i, enum dfs_event event, const char *field,
			 const char *old_value, const char *new_value)
{
	char what[32];

	cr_assert_lt(i, s->n, "change %d was not judged (%d were)", i, s->n);
	snprintf(what, sizeof(what), "judged %d", i);
	expect_change(&s->c[i], what, event, field, old_value, new_value);
}

static void expect_told(const struct seen *s, int i, enum dfs_event event, const char *field,
			const char *old_value, const char *new_value)
{
	char what[32];

	cr_assert_lt(i, s->after, "change %d was not told (%d were)", i, s->after);
	snprintf(what, sizeof(what), "told %d", i);
	expect_change(&s->told[i], what, event, field, old_value, new_value);
}

/* ---- moving updates ------------------------------------------------------------- */

struct blob {
	uint8_t *data;
	size_t len;
};

struct shipping {
	struct node *to;
	int n;
	int *rc;	/* room for 32 */
};

static int ship_one(uint64_t seq, const uint8_t *rec, size_t len, void *ctx)
{
	struct shipping *sh = ctx;
	int rc = dfs_db_receive(sh->to->db, rec, len, NULL);

	(void)seq;
	if (sh->n < 32)
		sh->rc[sh->n] = rc;
	else
		cr_assert_eq(rc, 0, "update %d: rc %d", sh->n, rc);
	sh->n++;
	return 0;
}

/*
 * Receives from's log entries after seq on to, in log order; rc[i] gets
 * the result of each of the first 32 (the rest must be applied). Returns
 * how many there were.
 */
static int ship_after(struct node *from, uint64_t seq, struct node *to, int *rc)
{
	struct shipping sh = { to, 0, rc };

	cr_assert_geq(dfs_db_log_read(from->db, seq, SIZE_MAX, NULL, ship_one, &sh, NULL), 0);
	return sh.n;
}

static uint64_t later_clock(int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t wall = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	return (wall + (uint64_t)ms) << 16;
}

/*
 * An update of doc signed with a key A holds (doc's own, or A's node key),
 * built on A's head, as A would send it from a fork B has not seen the
 * rest of.
 */
static struct blob craft_as(const struct dfs_pubkey *signer, uint8_t op, const char *name,
			   const char *value, int ms)
{
	struct dfs_object_rec o;
	struct dfs_buf out;
	struct blob bl;

	cr_assert_eq(dfs_db_get_object_by_key(a.db, &doc, &o), 0);
	struct dfs_update u = {
		.op = op,
		.clock = later_clock(ms),
		.entity = doc,
		.signer = *signer,
		.prev = o.head,
		.model = MODEL,
		.model_len = strlen(MODEL),
		.name = name,
		.name_len = strlen(name),
		.value = (const uint8_t *)value,
		.value_len = value ? strlen(value) : 0,
	};
	dfs_buf_init(&out);
	cr_assert_eq(dfs_update_encode(&u, &out), 0);
	size_t slen = dfs_update_signed_len(out.len);
	cr_assert_eq(dfs_keyring_sign(a.kr, signer, out.data, slen, out.data + slen), 0);
	cr_assert_eq(dfs_buf_ok(&out), 0);
	bl.data = dfs_buf_detach(&out, &bl.len);
	return bl;
}

static struct blob craft(uint8_t op, const char *name, const char *value, int ms)
{
	return craft_as(&doc, op, name, value, ms);
}

static int receive(struct node *n, const struct blob *bl)
{
	return dfs_db_receive(n->db, bl->data, bl->len, NULL);
}

/* ---- state -------------------------------------------------------------------- */

static int set_str(struct node *n, const char *path, const char *val)
{
	return dfs_db_set_field(n->db, &doc, path, (const uint8_t *)val, strlen(val));
}

static void expect_value(struct node *n, const char *path, const char *want, const char *what)
{
	uint8_t *val;
	size_t len;
	int rc = dfs_db_read_field(n->db, &doc, path, &val, &len);

	cr_assert_eq(rc, 0, "%s: read %s: rc %d", what, path, rc);
	cr_assert_eq(len, strlen(want), "%s: %s is %zu bytes, want %zu", what, path, len,
		     strlen(want));
	cr_assert_eq(memcmp(val, want, len), 0, "%s: %s is \"%.*s\", want \"%s\"", what, path,
		     (int)len, (const char *)val, want);
	dfs_value_free(val);
}

static void expect_gone(struct node *n, const char *path, const char *what)
{
	struct dfs_field_rec f;

	cr_assert_eq(dfs_db_get_field(n->db, &doc, path, &f), -ENOENT, "%s: %s is still there",
		     what, path);
}

static void expect_dict(struct node *n, const char *path, const char *what)
{
	struct dfs_field_rec f;

	cr_assert_eq(dfs_db_get_field(n->db, &doc, path, &f), 0, "%s: %s is gone", what, path);
	cr_assert_eq(f.kind, DFS_FIELD_DICT, "%s: %s is not a dict", what, path);
}

/*
 * On A: notes/doc with a dict d of two keys and a field f; B has it all.
 * No listener runs yet.
 */
static void world(void)
{
	int rc[32];

	cr_assert_eq(dfs_db_create_model(a.db, MODEL), 0);
	cr_assert_eq(dfs_db_create_object(a.db, MODEL, "doc", &doc), 0);
	cr_assert_eq(dfs_db_create_dict(a.db, &doc, "d"), 0);
	cr_assert_eq(set_str(&a, "d/a", "1"), 0);
	cr_assert_eq(set_str(&a, "d/b", "2"), 0);
	cr_assert_eq(set_str(&a, "f", "plain"), 0);
	int n = ship_after(&a, 0, &b, rc);
	cr_assert_eq(n, 6);
	for (int i = 0; i < n; i++)
		cr_assert_eq(rc[i], 0, "update %d: rc %d", i, rc[i]);
	expect_value(&b, "d/b", "2", "B");
}

/* ---- a dict delete from a peer ------------------------------------------------------ */

/*
 * THREATS finding 13: B's on_delete rejects d/b; A runs rm -r d (two key
 * deletes, then the dict's). B holds the delete of d/b, and then the dict
 * delete, which would bury d/b: d and d/b stay on B.
 */
Test(judge, a_rejected_key_vetoes_a_dict_delete_from_a_peer)
{
	struct seen s = { .reject = "d/b" };
	struct dfs_db_listener l;
	int rc[32];

	world();
	uint64_t seq = dfs_db_log_head(a.db), held = dfs_db_log_head(b.db);
	listen_on(&b, &s, &l);
	cr_assert_eq(dfs_db_delete_field(a.db, &doc, "d/a"), 0);
	cr_assert_eq(dfs_db_delete_field(a.db, &doc, "d/b"), 0);
	cr_assert_eq(dfs_db_delete_dict(a.db, &doc, "d"), 0);
	cr_assert_eq(ship_after(&a, seq, &b, rc), 3);
	cr_assert_eq(rc[0], 0, "the delete of d/a is accepted");
	cr_assert_eq(rc[1], -EPERM, "the delete of d/b is held");
	cr_assert_eq(rc[2], -EPERM, "the dict delete is held: it would delete d/b");

	expect_gone(&a, "d", "A");
	expect_dict(&b, "d", "B");
	expect_value(&b, "d/b", "2", "B");
	expect_gone(&b, "d/a", "B");
	cr_assert_eq(dfs_db_log_head(b.db), held + 3, "both held updates are logged");

	cr_assert_eq(s.n, 3);
	expect_asked(&s, 0, DFS_EVENT_DELETE, "d/a", "1", NULL);
	expect_asked(&s, 1, DFS_EVENT_DELETE, "d/b", "2", NULL);
	expect_asked(&s, 2, DFS_EVENT_DELETE, "d/b", "2", NULL);
	cr_assert(s.c[2].remote && s.c[2].authorized && !s.c[2].owned);
	cr_assert_eq(s.after, 1, "only the delete of d/a was applied");
	expect_told(&s, 0, DFS_EVENT_DELETE, "d/a", "1", NULL);
}

/* A dict delete that buries live keys: each one judged, then each one told, in key order. */
Test(judge, a_dict_delete_from_a_peer_is_judged_and_told_key_by_key)
{
	struct seen s = { 0 };
	struct dfs_db_listener l;

	world();
	struct blob del = craft(DFS_OP_DICT_DELETE, "d", NULL, 10);
	listen_on(&b, &s, &l);
	cr_assert_eq(receive(&b, &del), 0);
	expect_gone(&b, "d", "B");
	expect_gone(&b, "d/a", "B");
	expect_gone(&b, "d/b", "B");
	expect_value(&b, "f", "plain", "B");

	cr_assert_eq(s.n, 2, "one judgement per key, none for the dict itself");
	expect_asked(&s, 0, DFS_EVENT_DELETE, "d/a", "1", NULL);
	expect_asked(&s, 1, DFS_EVENT_DELETE, "d/b", "2", NULL);
	cr_assert_eq(s.after, 2);
	expect_told(&s, 0, DFS_EVENT_DELETE, "d/a", "1", NULL);
	expect_told(&s, 1, DFS_EVENT_DELETE, "d/b", "2", NULL);
	for (int i = 0; i < 2; i++)
		cr_assert(s.told[i].remote && s.told[i].authorized && !s.told[i].owned);
	free(del.data);
}

/* A rejection of the second key rejects the whole delete, the first key's included. */
Test(judge, the_second_key_rejected_keeps_the_first)
{
	struct seen s = { .reject = "d/b" };
	struct dfs_db_listener l;

	world();
	struct blob del = craft(DFS_OP_DICT_DELETE, "d", NULL, 10);
	listen_on(&b, &s, &l);
	cr_assert_eq(receive(&b, &del), -EPERM);
	expect_dict(&b, "d", "B");
	expect_value(&b, "d/a", "1", "B");
	expect_value(&b, "d/b", "2", "B");
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.after, 0, "nothing applied, nothing told");
	cr_assert_eq(receive(&b, &del), -EALREADY, "held, not asked again");
	cr_assert_eq(s.n, 2);
	free(del.data);
}

/* An empty dict's delete buries nothing, and nobody is asked. */
Test(judge, an_empty_dict_delete_asks_nobody)
{
	struct seen s = { .reject = "d/b" };
	struct dfs_db_listener l;

	world();
	cr_assert_eq(dfs_db_create_dict(a.db, &doc, "e"), 0);
	struct blob del = craft(DFS_OP_DICT_DELETE, "e", NULL, 10);
	int rc[32];
	cr_assert_eq(ship_after(&a, dfs_db_log_head(a.db) - 1, &b, rc), 1);
	cr_assert_eq(rc[0], 0);
	listen_on(&b, &s, &l);
	cr_assert_eq(receive(&b, &del), 0);
	expect_gone(&b, "e", "B");
	cr_assert_eq(s.n, 0);
	cr_assert_eq(s.after, 0);
	free(del.data);
}

/*
 * A dict delete by a signer doc does not authorize: the strict policy holds
 * it before any listener runs; the open one lets the listeners judge each
 * key, as on_unauthorized_delete.
 */
Test(judge, an_unauthorized_dict_delete_is_judged_only_under_the_open_policy)
{
	struct seen s = { .reject = "d/b" };
	struct dfs_db_listener l;

	world();
	struct blob del1 = craft_as(dfs_keyring_node(a.kr), DFS_OP_DICT_DELETE, "d", NULL, 10);
	struct blob del2 = craft_as(dfs_keyring_node(a.kr), DFS_OP_DICT_DELETE, "d", NULL, 20);
	listen_on(&b, &s, &l);
	cr_assert_eq(receive(&b, &del1), -EPERM);
	cr_assert_eq(s.n, 0, "strict: held before any listener");
	expect_value(&b, "d/a", "1", "B, strict");

	dfs_db_set_policy(b.db, true);
	cr_assert_eq(receive(&b, &del2), -EPERM);
	cr_assert_eq(s.n, 2, "open: each key judged");
	cr_assert(!s.c[0].authorized && !s.c[1].authorized);
	expect_value(&b, "d/b", "2", "B, open, rejected");

	s.reject = NULL;
	s.n = s.after = 0;
	struct blob del3 = craft_as(dfs_keyring_node(a.kr), DFS_OP_DICT_DELETE, "d", NULL, 30);
	cr_assert_eq(receive(&b, &del3), 0);
	expect_gone(&b, "d", "B, open, accepted");
	cr_assert_eq(s.after, 2);
	cr_assert(!s.told[0].authorized && !s.told[1].authorized);
	free(del1.data);
	free(del2.data);
	free(del3.data);
}

/* ---- a field over a dict, a dict over a field ---------------------------------------- */

Test(judge, a_field_over_a_dict_is_judged_as_the_delete_of_its_keys)
{
	struct seen s = { .reject = "d/a" };
	struct dfs_db_listener l;

	world();
	struct blob set1 = craft(DFS_OP_FIELD_SET, "d", "x", 10);
	struct blob set2 = craft(DFS_OP_FIELD_SET, "d", "y", 20);
	listen_on(&b, &s, &l);
	cr_assert_eq(receive(&b, &set1), -EPERM);
	expect_dict(&b, "d", "B, rejected");
	expect_value(&b, "d/a", "1", "B, rejected");
	cr_assert_eq(s.n, 1, "the first rejection ends the judgement");
	expect_asked(&s, 0, DFS_EVENT_DELETE, "d/a", "1", NULL);

	s.reject = NULL;
	s.n = s.after = 0;
	cr_assert_eq(receive(&b, &set2), 0);
	expect_value(&b, "d", "y", "B, accepted");
	expect_gone(&b, "d/a", "B, accepted");
	cr_assert_eq(s.n, 3, "each key, then the value");
	expect_asked(&s, 0, DFS_EVENT_DELETE, "d/a", "1", NULL);
	expect_asked(&s, 1, DFS_EVENT_DELETE, "d/b", "2", NULL);
	expect_asked(&s, 2, DFS_EVENT_UPDATE, "d", NULL, "y");
	cr_assert_eq(s.after, 3);
	expect_told(&s, 0, DFS_EVENT_DELETE, "d/a", "1", NULL);
	expect_told(&s, 1, DFS_EVENT_DELETE, "d/b", "2", NULL);
	expect_told(&s, 2, DFS_EVENT_UPDATE, "d", NULL, "y");
	free(set1.data);
	free(set2.data);
}

/* A field set older than the dict changes nothing of it: its keys are not asked about. */
Test(judge, an_older_field_over_a_dict_asks_about_no_key)
{
	struct seen s = { .reject = "d/a" };
	struct dfs_db_listener l;

	world();
	struct blob set = craft(DFS_OP_FIELD_SET, "d", "x", -60000);
	listen_on(&b, &s, &l);
	cr_assert_eq(receive(&b, &set), 0);
	expect_dict(&b, "d", "B");
	expect_value(&b, "d/a", "1", "B");
	for (int i = 0; i < s.n; i++)
		cr_assert_neq(s.c[i].event, DFS_EVENT_DELETE, "judged %d: %s", i, s.c[i].field);
	free(set.data);
}

Test(judge, a_dict_over_a_field_is_judged_as_the_fields_delete)
{
	struct seen s = { .reject = "f" };
	struct dfs_db_listener l;

	world();
	struct blob mk1 = craft(DFS_OP_DICT_CREATE, "f", NULL, 10);
	struct blob mk2 = craft(DFS_OP_DICT_CREATE, "f", NULL, 20);
	listen_on(&b, &s, &l);
	cr_assert_eq(receive(&b, &mk1), -EPERM);
	expect_value(&b, "f", "plain", "B, rejected");
	cr_assert_eq(s.n, 1);
	expect_asked(&s, 0, DFS_EVENT_DELETE, "f", "plain", NULL);

	s.reject = NULL;
	s.n = s.after = 0;
	cr_assert_eq(receive(&b, &mk2), 0);
	expect_dict(&b, "f", "B, accepted");
	cr_assert_eq(s.n, 1);
	expect_asked(&s, 0, DFS_EVENT_DELETE, "f", "plain", NULL);
	cr_assert_eq(s.after, 1);
	expect_told(&s, 0, DFS_EVENT_DELETE, "f", "plain", NULL);
	free(mk1.data);
	free(mk2.data);
}

/* ---- local changes -------------------------------------------------------------------- */

/*
 * rm -r of a dict here: each key's delete is judged as rm of it; a rejected
 * one fails with EPERM and stays, so the dict's rmdir fails (ENOTEMPTY)
 * without asking anyone, and only what was accepted is stored and sent.
 */
Test(judge, a_rejected_key_stops_rm_r_of_a_dict_here)
{
	struct seen s = { .reject = "d/b" };
	struct dfs_db_listener l;
	int rc[32];

	world();
	uint64_t seq = dfs_db_log_head(a.db);
	listen_on(&a, &s, &l);
	cr_assert_eq(dfs_db_delete_field(a.db, &doc, "d/a"), 0);
	cr_assert_eq(dfs_db_delete_field(a.db, &doc, "d/b"), -EPERM);
	cr_assert_eq(dfs_db_delete_dict(a.db, &doc, "d"), -ENOTEMPTY);
	cr_assert_eq(dfs_db_log_head(a.db), seq + 1, "only the accepted delete is stored");
	expect_dict(&a, "d", "A");
	expect_value(&a, "d/b", "2", "A");
	cr_assert_eq(s.n, 2);
	expect_asked(&s, 0, DFS_EVENT_DELETE, "d/a", "1", NULL);
	expect_asked(&s, 1, DFS_EVENT_DELETE, "d/b", "2", NULL);
	cr_assert(!s.c[1].remote && s.c[1].owned);
	cr_assert_eq(s.after, 1);

	cr_assert_eq(ship_after(&a, seq, &b, rc), 1);
	cr_assert_eq(rc[0], 0);
	expect_dict(&b, "d", "B");
	expect_value(&b, "d/b", "2", "B");
	expect_gone(&b, "d/a", "B");
}

/* mkdir of a dict changes no value: it is not judged, here or on a peer. */
Test(judge, mkdir_of_a_dict_is_not_judged)
{
	struct seen sa = { .reject = "e" }, sb = { .reject = "e" };
	struct dfs_db_listener la, lb;
	int rc[32];

	world();
	uint64_t seq = dfs_db_log_head(a.db);
	listen_on(&a, &sa, &la);
	listen_on(&b, &sb, &lb);
	cr_assert_eq(dfs_db_create_dict(a.db, &doc, "e"), 0);
	cr_assert_eq(ship_after(&a, seq, &b, rc), 1);
	cr_assert_eq(rc[0], 0);
	expect_dict(&b, "e", "B");
	cr_assert_eq(sa.n + sa.after + sb.n + sb.after, 0);
	cr_assert_eq(set_str(&a, "e/k", "v"), 0, "its keys are judged as fields");
	cr_assert_eq(sa.n, 1);
	expect_asked(&sa, 0, DFS_EVENT_UPDATE, "e/k", NULL, "v");
}

/* ---- bounds ----------------------------------------------------------------------- */

struct tally {
	int asked, asked_old, told, told_old;
};

static int tally_before(void *ctx, const struct dfs_change *c, char *why, size_t whylen)
{
	struct tally *t = ctx;

	(void)why;
	(void)whylen;

	t->asked++;
	t->asked_old += c->old_value != NULL && c->old_len == NODE_MAX_VALUE;
	return 0;
}

static void tally_after(void *ctx, const struct dfs_change *c)
{
	struct tally *t = ctx;

	t->told++;
	t->told_old += c->old_value != NULL && c->old_len == NODE_MAX_VALUE;
}

/*
 * Every key is judged with its whole old value, read one at a time; from
 * judgement to telling, old values are kept up to 1 MiB in all, past which
 * keys are told without one.
 */
Test(judge, a_dict_of_many_keys_keeps_at_most_a_mebibyte_of_old_values)
{
	struct tally t = { 0 };
	struct dfs_db_listener l = { wants_all, tally_before, tally_after, &t, NULL, NULL };
	uint8_t *big = malloc(NODE_MAX_VALUE);
	char path[32];
	int rc[32];
	const int keys = 300, kept = 1024 * 1024 / NODE_MAX_VALUE;

	cr_assert_not_null(big);
	world();
	uint64_t seq = dfs_db_log_head(a.db);
	cr_assert_eq(dfs_db_create_dict(a.db, &doc, "big"), 0);
	for (int i = 0; i < keys; i++) {
		memset(big, 'a' + i % 26, NODE_MAX_VALUE);
		snprintf(path, sizeof(path), "big/k%03d", i);
		cr_assert_eq(dfs_db_set_field(a.db, &doc, path, big, NODE_MAX_VALUE), 0);
	}
	free(big);
	cr_assert_eq(ship_after(&a, seq, &b, rc), keys + 1);
	struct blob del = craft(DFS_OP_DICT_DELETE, "big", NULL, 10);
	dfs_db_set_listener(b.db, &l);
	cr_assert_eq(receive(&b, &del), 0);
	expect_gone(&b, "big", "B");
	cr_assert_eq(t.asked, keys);
	cr_assert_eq(t.asked_old, keys, "each key judged with its old value");
	cr_assert_eq(t.told, keys, "each key told");
	cr_assert_eq(t.told_old, kept, "old values kept for the after-listeners: %d", t.told_old);
	free(del.data);
}

/* ---- dry runs (local.c): the same change, asked, never made ------------------------- */

struct dry_seen {
	struct seen s;			/* the real changes, as before() records them */
	int n;
	bool reject;			/* dry() rejects */
	struct seen_change c[8];	/* the dry runs, as dry() records them */
	struct dfs_pubkey signer[8];
	bool all_dryrun;
	int answers;
};

static int dry(void *ctx, const struct dfs_change *c, dfs_answer_fn fn, void *arg)
{
	struct dry_seen *d = (struct dry_seen *)((char *)ctx - offsetof(struct dry_seen, s));
	struct dfs_answer a = { "on_update", "x", d->reject ? DFS_VERDICT_REJECT : DFS_VERDICT_ACCEPT,
				"" };

	cr_assert_lt(d->n, 8);
	d->signer[d->n] = c->signer;
	record(&d->c[d->n++], c);
	d->all_dryrun = d->all_dryrun && c->dryrun;
	fn(arg, &a);
	return d->reject ? -EPERM : 0;
}

static void count_answer(void *arg, const struct dfs_answer *a)
{
	(void)a;
	((struct dry_seen *)arg)->answers++;
}

static void listen_dry(struct node *n, struct dry_seen *d, struct dfs_db_listener *l)
{
	*l = (struct dfs_db_listener){ wants_all, before, after, &d->s, dry, NULL };
	d->all_dryrun = true;
	dfs_db_set_listener(n->db, l);
}

static int try_op(struct node *n, struct dry_seen *d, uint8_t op, const char *path,
		  const char *val, char *why)
{
	struct dfs_db_try t = { .fn = count_answer, .arg = d };
	int rc = dfs_db_try_change(n->db, op, &doc, path, (const uint8_t *)val,
				   val ? strlen(val) : 0, &t);

	snprintf(why, sizeof(t.why), "%s", t.why);
	return rc;
}

/*
 * Each dry run asks about the change its real twin is then judged by: the
 * same event, field, values, flags and signer, with dryrun set; nothing is
 * stored meanwhile.
 */
Test(judge, a_dry_run_asks_what_the_real_change_is_judged_by)
{
	struct dry_seen d = { 0 };
	struct dfs_db_listener l;
	struct dfs_pubkey tmp;
	char why[256];

	world();
	cr_assert_eq(dfs_db_create_object(a.db, MODEL, "empty", &tmp), 0);
	uint64_t seq = dfs_db_log_head(a.db);
	listen_dry(&a, &d, &l);
	cr_assert_eq(try_op(&a, &d, DFS_OP_FIELD_SET, "f", "new", why), 0);
	cr_assert_eq(try_op(&a, &d, DFS_OP_FIELD_APPEND, "f", "+x", why), 0);
	cr_assert_eq(try_op(&a, &d, DFS_OP_FIELD_DELETE, "d/a", NULL, why), 0);
	cr_assert_eq(try_op(&a, &d, DFS_OP_FIELD_SET, "g", "", why), 0, "a new field");
	cr_assert_eq(d.n, 4);
	cr_assert_eq(d.answers, 4, "each listener's answer reaches the caller");
	cr_assert(d.all_dryrun);
	cr_assert_eq(dfs_db_log_head(a.db), seq, "nothing stored");
	expect_value(&a, "f", "plain", "A");
	expect_gone(&a, "g", "A");
	cr_assert_eq(d.s.n + d.s.after, 0, "nobody judged or told of a real change");

	cr_assert_eq(set_str(&a, "f", "new"), 0);
	cr_assert_eq(set_str(&a, "f", "plain"), 0);
	cr_assert_eq(dfs_db_append_field(a.db, &doc, "f", (const uint8_t *)"+x", 2), 0);
	cr_assert_eq(dfs_db_delete_field(a.db, &doc, "d/a"), 0);
	cr_assert_eq(set_str(&a, "g", ""), 0);
	cr_assert_eq(d.s.n, 5);
	const int twin[4] = { 0, 2, 3, 4 };
	for (int i = 0; i < 4; i++)
		cr_assert_eq(memcmp(&d.c[i], &d.s.c[twin[i]], sizeof(d.c[i])), 0,
			     "dry run %d differs from its real change", i);
	expect_asked(&d.s, 2, DFS_EVENT_UPDATE, "f", "plain", "plain+x");
	expect_asked(&d.s, 3, DFS_EVENT_DELETE, "d/a", "1", NULL);
}

/* A create shows a fresh signer and is forgotten; a remove is asked as the real one. */
Test(judge, a_dry_run_of_create_and_remove)
{
	struct dry_seen d = { 0 };
	struct dfs_db_listener l;
	struct dfs_db_try t = { .fn = count_answer, .arg = &d };
	struct dfs_object_rec o;
	struct dfs_pubkey k;

	world();
	cr_assert_eq(dfs_db_create_object(a.db, MODEL, "empty", &k), 0);
	uint64_t seq = dfs_db_log_head(a.db);
	listen_dry(&a, &d, &l);
	cr_assert_eq(dfs_db_try_create(a.db, MODEL, "carol", &t), 0);
	cr_assert_eq(dfs_db_get_object(a.db, MODEL, "carol", &k, &o), -ENOENT);
	cr_assert_eq(d.c[0].event, DFS_EVENT_CREATE);
	cr_assert(!dfs_keyring_has(a.kr, &d.signer[0]), "the key shown is not kept");
	cr_assert_eq(dfs_db_get_object(a.db, MODEL, "empty", &k, &o), 0);
	cr_assert_eq(dfs_db_try_change(a.db, DFS_OP_OBJECT_REMOVE, &k, NULL, NULL, 0, &t), 0);
	cr_assert_eq(d.c[1].event, DFS_EVENT_REMOVE);
	cr_assert_eq(dfs_db_log_head(a.db), seq, "nothing stored");
	cr_assert_eq(dfs_db_remove_object(a.db, &k), 0);
	cr_assert_eq(memcmp(&d.c[1], &d.s.c[0], sizeof(d.c[1])), 0);
	cr_assert_eq(memcmp(&d.signer[1], &k, sizeof(k)), 0, "signed by the object");
}

/* 1 when a listener rejects; a rule refuses with the real change's errno, and says which. */
Test(judge, a_dry_run_rejected_or_refused)
{
	struct dry_seen d = { 0 };
	struct dfs_db_listener l;
	struct dfs_db_try t = { .fn = count_answer, .arg = &d };
	uint8_t *big = calloc(1, NODE_MAX_VALUE + 1);
	struct dfs_pubkey nobody = { { 1 } };
	char why[256];

	cr_assert_not_null(big);
	world();
	uint64_t seq = dfs_db_log_head(a.db);
	listen_dry(&a, &d, &l);
	d.reject = true;
	cr_assert_eq(try_op(&a, &d, DFS_OP_FIELD_SET, "f", "x", why), 1);
	cr_assert_eq(try_op(&a, &d, DFS_OP_OBJECT_REMOVE, NULL, NULL, why), 1,
		     "a rejection comes before the rules checked after the listeners");
	d.reject = false;
	cr_assert_eq(try_op(&a, &d, DFS_OP_OBJECT_REMOVE, NULL, NULL, why), -ENOTEMPTY);
	cr_assert_str_eq(why, "the object has fields: rmdir fails (rm -r deletes each first, "
			      "each judged as a delete)");
	int asked = d.n;
	cr_assert_eq(dfs_db_try_change(a.db, DFS_OP_FIELD_SET, &doc, "f", big, NODE_MAX_VALUE + 1,
				       &t), -EFBIG);
	cr_assert_eq(dfs_db_try_change(a.db, DFS_OP_FIELD_SET, &nobody, "f", big, 1, &t), -ENOENT);
	cr_assert_str_eq(t.why, "no such object");
	cr_assert_eq(dfs_db_try_create(a.db, MODEL, "doc", &t), -EEXIST);
	cr_assert_eq(dfs_db_try_create(a.db, "nomodel", "x", &t), -ENOENT);
	cr_assert_str_eq(t.why, "no such model");
	cr_assert_eq(dfs_db_try_create(a.db, MODEL, "a\nb", &t), -EINVAL);
	cr_assert_eq(try_op(&a, &d, DFS_OP_DICT_DELETE, "d", NULL, why), -EINVAL,
		     "dict operations are not judged");
	cr_assert_eq(d.n, asked, "refused before any listener");
	cr_assert_eq(dfs_db_log_head(a.db), seq, "nothing stored");
	free(big);
}
