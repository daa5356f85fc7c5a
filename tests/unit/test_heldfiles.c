// SPDX-License-Identifier: MIT
/*
 * test_heldfiles.c - held updates one by one (model/heldfiles.c), as
 * .node/held shows them: listed by name, shown with their reason and
 * value, judged again (retry) and dropped (rm), with the counts, the
 * history and the log following.
 *
 * Node a makes and signs updates (its keyring holds every key); node b
 * receives them as a peer's. b's listener rejects what the test says:
 * a field's updates by name, or every create.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "dinemicfs/db.h"
#include "dinemicfs/dblog.h"
#include "dinemicfs/hlc.h"
#include "dinemicfs/log.h"
#include "dinemicfs/records.h"
#include "dinemicfs/util.h"
#include "tmpdir.h"
#include "nodes.h"

static struct node a, b;
static struct dfs_pubkey obj;		/* notes/o, owned by its own key (in a's keyring) */
static struct dfs_hash obj_head;	/* its create */
static uint64_t t0;			/* a clock a little before now */

static const struct dfs_hash zero_hash;

/* b's listener: what it rejects, and what it was told. */
static struct {
	const char *field;	/* updates of this field are rejected */
	bool creates;		/* creates are rejected */
	const char *why;
	int judged, told;	/* before and after calls */
	bool all_remote;	/* every change judged was remote */
} lis;

static bool wants(void *ctx, enum dfs_event event, const char *model)
{
	(void)ctx;
	(void)event;
	return strcmp(model, "notes") == 0;
}

static int before(void *ctx, const struct dfs_change *c, char *why, size_t whylen)
{
	(void)ctx;
	lis.judged++;
	lis.all_remote = lis.all_remote && c->remote;
	bool no = (lis.field && c->field && strcmp(c->field, lis.field) == 0) ||
		  (lis.creates && c->event == DFS_EVENT_CREATE);
	if (no)
		snprintf(why, whylen, "on_update.deny: %s", lis.why);
	return no ? -EPERM : 0;
}

static void after(void *ctx, const struct dfs_change *c)
{
	(void)ctx;
	(void)c;
	lis.told++;
}

/* One update as a peer sends it: malloc'ed bytes and their hash. */
struct upd {
	uint8_t *data;
	size_t len;
	struct dfs_hash hash;
	char name[DFS_DB_HELD_NAME_LEN + 1];	/* as .node/held names it */
};

static void upd_free(struct upd *u)
{
	free(u->data);
	u->data = NULL;
}

/* Signs an update with signer's key (held in a's keyring). */
static struct upd make(uint8_t op, const struct dfs_pubkey *entity,
		       const struct dfs_pubkey *signer, const char *model, const char *name,
		       const char *value, uint64_t clock, const struct dfs_hash *prev)
{
	struct dfs_update u = {
		.op = op,
		.clock = clock,
		.entity = *entity,
		.signer = *signer,
		.prev = prev ? *prev : zero_hash,
		.model = model,
		.model_len = strlen(model),
		.name = name,
		.name_len = strlen(name),
		.value = (const uint8_t *)value,
		.value_len = value ? strlen(value) : 0,
	};
	struct dfs_buf out;
	struct upd r;

	dfs_buf_init(&out);
	cr_assert_eq(dfs_update_encode(&u, &out), 0);
	size_t slen = dfs_update_signed_len(out.len);
	cr_assert_eq(dfs_keyring_sign(a.kr, signer, out.data, slen, out.data + slen), 0);
	r.data = dfs_buf_detach(&out, &r.len);
	dfs_hash2(&r.hash, r.data, r.len, NULL, 0);
	dfs_hex_encode(r.name, r.hash.b, 8);
	return r;
}

static uint64_t ms(uint64_t n)
{
	return n << DFS_HLC_LOGICAL_BITS;
}

/* A set of obj's field name to value, signed by obj, at t0 + dt. */
static struct upd set(const char *name, const char *value, uint64_t dt)
{
	return make(DFS_OP_FIELD_SET, &obj, &obj, "notes", name, value, t0 + ms(dt), &obj_head);
}

static void setup(void)
{
	struct timespec ts;
	struct dfs_db_listener l = { wants, before, after, NULL, NULL, NULL };

	dfs_log_set_level(DFS_LOG_ERR - 1);
	cr_assert_eq(dfs_crypto_init(), 0);
	node_make(&a, "a");
	node_make(&b, "b");
	dfs_db_set_listener(b.db, &l);
	memset(&lis, 0, sizeof(lis));
	lis.why = "not here";
	lis.all_remote = true;
	clock_gettime(CLOCK_REALTIME, &ts);
	t0 = ms((uint64_t)ts.tv_sec * 1000 - 60000);
	struct dfs_pubkey model_id;
	dfs_db_model_id("notes", &model_id);
	struct upd m = make(DFS_OP_MODEL_CREATE, &model_id, dfs_keyring_node(a.kr), "notes", "",
			    NULL, t0, NULL);
	cr_assert_eq(dfs_keyring_create(a.kr, &obj), 0);
	struct upd o = make(DFS_OP_OBJECT_CREATE, &obj, &obj, "notes", "o", NULL, t0 + 1, NULL);
	obj_head = o.hash;
	cr_assert_eq(dfs_db_receive(b.db, m.data, m.len, NULL), 0);
	cr_assert_eq(dfs_db_receive(b.db, o.data, o.len, NULL), 0);
	upd_free(&m);
	upd_free(&o);
}

static void teardown(void)
{
	node_destroy(&b);
	node_destroy(&a);
}

TestSuite(heldfiles, .init = setup, .fini = teardown);

static struct dfs_db_stats stats(void)
{
	struct dfs_db_stats s;

	dfs_db_get_stats(b.db, &s);
	return s;
}

struct names {
	char v[8][DFS_DB_HELD_NAME_LEN + 1];
	size_t n;
};

static int add_name(const char *name, void *ctx)
{
	struct names *l = ctx;

	cr_assert_lt(l->n, 8);
	snprintf(l->v[l->n++], sizeof(l->v[0]), "%s", name);
	return 0;
}

/* b's held updates, by name, oldest first, joined by spaces. */
static const char *listed(char *out, size_t n)
{
	struct names l = { .n = 0 };

	cr_assert_eq(dfs_db_held_list(b.db, add_name, &l), 0);
	out[0] = '\0';
	for (size_t i = 0; i < l.n; i++)
		snprintf(out + strlen(out), n - strlen(out), "%s%s", i ? " " : "", l.v[i]);
	return out;
}

struct hist {
	struct dfs_hash want;
	int lines;		/* lines of want */
	bool held;		/* the last one is held */
	bool all_ok;
};

static int hist_one(const struct dfs_update *u, const struct dfs_hash *hash, bool verified,
		    const char *held, void *ctx)
{
	struct hist *h = ctx;

	(void)u;
	h->all_ok = h->all_ok && verified;
	if (memcmp(hash->b, h->want.b, DFS_HASH_LEN) == 0) {
		h->lines++;
		h->held = held != NULL;
	}
	return 0;
}

static struct hist history_of(const struct upd *u)
{
	struct hist h = { .want = u->hash, .all_ok = true };

	cr_assert_eq(dfs_db_history(b.db, &obj, hist_one, &h), 0);
	return h;
}

/* The value of obj's field path on b; "(none)" where it has none. */
static const char *value_of(const char *path, char *out, size_t n)
{
	uint8_t *v;
	size_t len;
	int rc = dfs_db_read_field(b.db, &obj, path, &v, &len);

	if (rc < 0) {
		snprintf(out, n, "(none)");
		return out;
	}
	snprintf(out, n, "%.*s", (int)len, (const char *)v);
	dfs_value_free(v);
	return out;
}

/* A held update is listed by its name and shown with its reason and value. */
Test(heldfiles, listed_and_shown)
{
	char buf[256];
	lis.field = "secret";
	struct upd s = set("secret", "s1", 10);
	struct upd t = set("title", "t1", 11);

	cr_assert_eq(dfs_db_receive(b.db, s.data, s.len, NULL), -EPERM);
	cr_assert_eq(dfs_db_receive(b.db, t.data, t.len, NULL), 0);
	cr_assert_str_eq(listed(buf, sizeof(buf)), s.name);
	cr_assert_eq(stats().held_updates, 1);

	struct dfs_db_held h;
	cr_assert_eq(dfs_db_held_get(b.db, s.name, &h), 0);
	cr_assert_eq(memcmp(h.hash.b, s.hash.b, DFS_HASH_LEN), 0);
	cr_assert_eq(h.code, DFS_HELD_LISTENER);
	cr_assert_str_eq(h.reason, "listener: on_update.deny: not here");
	cr_assert_str_eq(h.object, "o");
	cr_assert(h.has_value && h.readable && !h.sealed);
	cr_assert_eq(h.value.len, 2);
	cr_assert_eq(memcmp(h.value.data, "s1", 2), 0);
	cr_assert_eq(h.u.op, DFS_OP_FIELD_SET);
	dfs_db_held_release(&h);

	/* Only its 16 lowercase hex digits name it. */
	char upper[DFS_DB_HELD_NAME_LEN + 1];
	for (size_t i = 0; i <= DFS_DB_HELD_NAME_LEN; i++)
		upper[i] = (char)(s.name[i] >= 'a' && s.name[i] <= 'f' ? s.name[i] - 32 : s.name[i]);
	if (strcmp(upper, s.name) != 0)
		cr_assert_eq(dfs_db_held_get(b.db, upper, &h), -ENOENT);
	cr_assert_eq(dfs_db_held_get(b.db, "0123", &h), -ENOENT);
	cr_assert_eq(dfs_db_held_get(b.db, t.name, &h), -ENOENT, "applied: not held");
	cr_assert_eq(dfs_db_held_get(b.db, "zzzzzzzzzzzzzzzz", &h), -ENOENT);
	upd_free(&s);
	upd_free(&t);
}

/* A retry the listener still rejects fails with EPERM, keeps it held, and takes the new reason. */
Test(heldfiles, retry_rejected_again)
{
	char buf[256];
	lis.field = "secret";
	struct upd s = set("secret", "s1", 10);

	cr_assert_eq(dfs_db_receive(b.db, s.data, s.len, NULL), -EPERM);
	struct dfs_db_stats before_retry = stats();
	int judged = lis.judged;
	lis.why = "still not here";
	cr_assert_eq(dfs_db_held_retry(b.db, s.name), -EPERM);
	cr_assert_eq(lis.judged, judged + 1, "the listener judged it again");
	cr_assert(lis.all_remote, "judged as a remote update");
	cr_assert_str_eq(listed(buf, sizeof(buf)), s.name);
	struct dfs_db_stats now = stats();
	cr_assert_eq(now.held_updates, before_retry.held_updates);
	cr_assert_eq(now.held_bytes, before_retry.held_bytes);
	cr_assert_eq(now.seq, before_retry.seq, "nothing logged anew");
	struct dfs_db_held h;
	cr_assert_eq(dfs_db_held_get(b.db, s.name, &h), 0);
	cr_assert_str_eq(h.reason, "listener: on_update.deny: still not here");
	dfs_db_held_release(&h);
	struct hist hi = history_of(&s);
	cr_assert_eq(hi.lines, 1);
	cr_assert(hi.held);
	cr_assert_str_eq(value_of("secret", buf, sizeof(buf)), "(none)");
	upd_free(&s);
}

/* Accepted now: applied, gone from the held ones, counted out, listed applied in .history. */
Test(heldfiles, retry_applies)
{
	char buf[256];
	lis.field = "secret";
	struct upd s = set("secret", "s1", 10);
	struct upd t = set("title", "t1", 11);

	cr_assert_eq(dfs_db_receive(b.db, s.data, s.len, NULL), -EPERM);
	cr_assert_eq(dfs_db_receive(b.db, t.data, t.len, NULL), 0);
	struct dfs_db_stats s0 = stats();
	lis.field = NULL;
	int told = lis.told;
	cr_assert_eq(dfs_db_held_retry(b.db, s.name), 0);
	cr_assert_eq(lis.told, told + 1, "after-listeners told");
	cr_assert_str_eq(listed(buf, sizeof(buf)), "");
	struct dfs_db_stats s1 = stats();
	cr_assert_eq(s1.held_updates, 0);
	cr_assert_eq(s1.held_bytes, 0);
	cr_assert_eq(s1.applied, s0.applied + 1);
	cr_assert_str_eq(value_of("secret", buf, sizeof(buf)), "s1");
	cr_assert_str_eq(value_of("title", buf, sizeof(buf)), "t1");
	struct hist hi = history_of(&s);
	cr_assert_eq(hi.lines, 1, "one line: the held one gave way");
	cr_assert(!hi.held);
	cr_assert(hi.all_ok, "every line verifies");
	struct dfs_db_held h;
	cr_assert_eq(dfs_db_held_get(b.db, s.name, &h), -ENOENT);
	cr_assert_eq(dfs_db_held_retry(b.db, s.name), -ENOENT, "retried twice");
	/* Sent again: known. */
	cr_assert_eq(dfs_db_receive(b.db, s.data, s.len, NULL), -EALREADY);
	upd_free(&s);
	upd_free(&t);
}

/* A late set applied on retry loses to a later one, as when it arrives late. */
Test(heldfiles, retry_of_an_older_set_keeps_the_later)
{
	char buf[256];
	lis.field = "f";
	struct upd s1 = set("f", "old", 10);

	cr_assert_eq(dfs_db_receive(b.db, s1.data, s1.len, NULL), -EPERM);
	lis.field = NULL;
	struct upd s2 = set("f", "new", 20);
	cr_assert_eq(dfs_db_receive(b.db, s2.data, s2.len, NULL), 0);
	cr_assert_eq(dfs_db_held_retry(b.db, s1.name), 0);
	cr_assert_str_eq(value_of("f", buf, sizeof(buf)), "new");
	cr_assert_eq(stats().held_updates, 0);
	upd_free(&s1);
	upd_free(&s2);
}

/* rm: gone with its counts; sent again and rejected again, not kept; accepted, applied. */
Test(heldfiles, drop_then_sent_again)
{
	char buf[256];
	lis.field = "secret";
	struct upd s = set("secret", "s1", 10);
	struct upd t = make(DFS_OP_FIELD_SET, &obj, &obj, "notes", "title", "t1", t0 + ms(11),
			    &s.hash);	/* chained on the held one */

	cr_assert_eq(dfs_db_receive(b.db, s.data, s.len, NULL), -EPERM);
	cr_assert_eq(dfs_db_receive(b.db, t.data, t.len, NULL), 0);
	uint64_t seq = stats().seq;
	cr_assert_eq(dfs_db_held_drop(b.db, s.name), 0);
	cr_assert_str_eq(listed(buf, sizeof(buf)), "");
	cr_assert_eq(stats().held_updates, 0);
	cr_assert_eq(stats().held_bytes, 0);
	cr_assert_eq(stats().held_dropped, 0, "not a drop for the quota");
	cr_assert_eq(history_of(&s).lines, 0);
	cr_assert(history_of(&t).all_ok, "a link to a dropped update is not broken");
	cr_assert_eq(dfs_db_check(b.db, s.data, s.len, NULL, NULL), 0, "unknown again");
	cr_assert_eq(dfs_db_held_drop(b.db, s.name), -ENOENT);

	/* Sent again, rejected again: not kept. */
	int judged = lis.judged;
	cr_assert_eq(dfs_db_receive(b.db, s.data, s.len, NULL), -EDQUOT);
	cr_assert_eq(lis.judged, judged + 1, "judged again");
	cr_assert_str_eq(listed(buf, sizeof(buf)), "");
	cr_assert_eq(stats().held_updates, 0);
	cr_assert_eq(stats().seq, seq, "nothing logged");
	/* Sent again, accepted: applied. */
	lis.field = NULL;
	cr_assert_eq(dfs_db_receive(b.db, s.data, s.len, NULL), 0);
	cr_assert_str_eq(value_of("secret", buf, sizeof(buf)), "s1");
	upd_free(&s);
	upd_free(&t);
}

/* Held by the policy (a signer obj does not authorize): a retry fails while it is so. */
Test(heldfiles, retry_unauthorized)
{
	char buf[256];
	struct dfs_pubkey k;
	cr_assert_eq(dfs_keyring_create(a.kr, &k), 0);
	struct upd s = make(DFS_OP_FIELD_SET, &obj, &k, "notes", "f", "x", t0 + ms(10),
			    &obj_head);

	cr_assert_eq(dfs_db_receive(b.db, s.data, s.len, NULL), -EPERM);
	cr_assert_str_eq(listed(buf, sizeof(buf)), s.name);
	int judged = lis.judged;
	cr_assert_eq(dfs_db_held_retry(b.db, s.name), -EPERM);
	cr_assert_eq(lis.judged, judged, "the policy holds it before any listener");
	struct dfs_db_held h;
	cr_assert_eq(dfs_db_held_get(b.db, s.name, &h), 0);
	cr_assert_eq(h.code, DFS_HELD_UNAUTHORIZED);
	cr_assert_str_eq(h.reason, "unauthorized: signer not in .authorized at its clock");
	dfs_db_held_release(&h);
	upd_free(&s);
}

/* The create a listener held, retried: the fields that waited for it follow. */
Test(heldfiles, what_waited_follows)
{
	char buf[256];
	struct dfs_pubkey p;
	cr_assert_eq(dfs_keyring_create(a.kr, &p), 0);
	struct upd c = make(DFS_OP_OBJECT_CREATE, &p, &p, "notes", "p", NULL, t0 + ms(10), NULL);
	struct upd f = make(DFS_OP_FIELD_SET, &p, &p, "notes", "f", "v", t0 + ms(11), &c.hash);

	lis.creates = true;
	cr_assert_eq(dfs_db_receive(b.db, c.data, c.len, NULL), -EPERM);
	cr_assert_eq(dfs_db_receive(b.db, f.data, f.len, NULL), -ENOENT, "held: no object");
	struct dfs_db_held h;
	cr_assert_eq(dfs_db_held_get(b.db, f.name, &h), 0);
	cr_assert_eq(h.code, DFS_HELD_RULE);
	cr_assert_str_eq(h.object, "", "no object shows");
	dfs_db_held_release(&h);
	cr_assert_eq(dfs_db_held_get(b.db, c.name, &h), 0);
	cr_assert_str_eq(h.object, "p", "a create: the name it makes");
	dfs_db_held_release(&h);
	cr_assert_eq(stats().held_updates, 2);

	lis.creates = false;
	cr_assert_eq(dfs_db_held_retry(b.db, c.name), 0);
	cr_assert_str_eq(listed(buf, sizeof(buf)), "");
	cr_assert_eq(stats().held_updates, 0);
	struct dfs_object_rec o;
	cr_assert_eq(dfs_db_get_object_by_key(b.db, &p, &o), 0);
	cr_assert_str_eq(o.shown, "p");
	uint8_t *v;
	size_t len;
	cr_assert_eq(dfs_db_read_field(b.db, &p, "f", &v, &len), 0);
	cr_assert_eq(len, 1);
	cr_assert_eq(v[0], 'v');
	dfs_value_free(v);
	upd_free(&c);
	upd_free(&f);
}

/* Names, reasons and counts hold across a restart. */
Test(heldfiles, kept_across_a_restart)
{
	char buf[256];
	lis.field = "secret";
	struct upd s = set("secret", "s1", 10);
	struct dfs_db_listener l = { wants, before, after, NULL, NULL, NULL };

	cr_assert_eq(dfs_db_receive(b.db, s.data, s.len, NULL), -EPERM);
	node_close(&b);
	node_open(&b);
	dfs_db_set_listener(b.db, &l);
	struct dfs_db_held h;
	cr_assert_eq(dfs_db_held_get(b.db, s.name, &h), 0, "found without a hint");
	dfs_db_held_release(&h);
	cr_assert_str_eq(listed(buf, sizeof(buf)), s.name);
	lis.field = NULL;
	cr_assert_eq(dfs_db_held_retry(b.db, s.name), 0);
	cr_assert_eq(stats().held_updates, 0);
	upd_free(&s);
}

/* Undone by a late change of .authorized: a retry fails, and it stays "revoked". */
Test(heldfiles, retry_revoked)
{
	struct dfs_pubkey k;
	cr_assert_eq(dfs_keyring_create(a.kr, &k), 0);
	struct upd w = make(DFS_OP_FIELD_SET, &obj, &k, "notes", "f", "w", t0 + ms(20),
			    &obj_head);
	struct dfs_update gu;	/* the grant's value is k's 32 bytes: made by hand */
	struct dfs_buf out;
	memset(&gu, 0, sizeof(gu));
	gu.op = DFS_OP_OBJECT_META;
	gu.clock = t0 + ms(10);
	gu.entity = obj;
	gu.signer = obj;
	gu.prev = obj_head;
	gu.model = "notes";
	gu.model_len = 5;
	gu.name = "authorized";
	gu.name_len = 10;
	gu.value = k.b;
	gu.value_len = DFS_PUBKEY_LEN;
	dfs_buf_init(&out);
	cr_assert_eq(dfs_update_encode(&gu, &out), 0);
	size_t slen = dfs_update_signed_len(out.len);
	cr_assert_eq(dfs_keyring_sign(a.kr, &obj, out.data, slen, out.data + slen), 0);
	struct dfs_hash gh;
	dfs_hash2(&gh, out.data, out.len, NULL, 0);
	struct upd revoke = make(DFS_OP_OBJECT_META, &obj, &obj, "notes", "authorized", NULL,
				 t0 + ms(15), &gh);

	cr_assert_eq(dfs_db_receive(b.db, out.data, out.len, NULL), 0);
	cr_assert_eq(dfs_db_receive(b.db, w.data, w.len, NULL), 0, "authorized: applied");
	cr_assert_eq(dfs_db_receive(b.db, revoke.data, revoke.len, NULL), 0);
	struct dfs_db_held h;
	cr_assert_eq(dfs_db_held_get(b.db, w.name, &h), 0, "undone: held");
	cr_assert_eq(h.code, DFS_HELD_REVOKED);
	dfs_db_held_release(&h);
	cr_assert_eq(dfs_db_held_retry(b.db, w.name), -EPERM);
	cr_assert_eq(dfs_db_held_get(b.db, w.name, &h), 0);
	cr_assert_eq(h.code, DFS_HELD_REVOKED, "still revoked, not merely unauthorized");
	dfs_db_held_release(&h);
	cr_assert_eq(stats().held_updates, 1);
	dfs_buf_release(&out);
	upd_free(&w);
	upd_free(&revoke);
}
