// SPDX-License-Identifier: MIT
/*
 * test_sealed.c - encrypted fields across nodes (model/sealed.c and the
 * sealed paths of model/db.c), through the db API.
 *
 * Every test builds up to three nodes, each with its own store and keyring
 * (so its own keys): A creates the model and owns the object "doc"; B owns
 * another object, "chief", which A may authorize; C holds no key that opens
 * anything. Updates move between nodes as a peer would move them: read out
 * of one node's log (dfs_db_log_read) and received by the other
 * (dfs_db_receive). Forged updates are built with dfs_update_encode and
 * signed with keys held in a keyring or generated here.
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
#include "dinemicfs/seal.h"
#include "dinemicfs/util.h"
#include "tmpdir.h"
#include "nodes.h"

#define MAX_VALUE NODE_MAX_VALUE
#define MAX_RECS 128
#define MODEL "Person"

/* ---- a store that fails on demand ------------------------------------------- */

/*
 * This binary is linked with --wrap=dfs_store_scan (meson.build): a test
 * sets failing_scans, and that many scans of the store fail with -EIO.
 */
int __real_dfs_store_scan(struct dfs_store *st, const void *prefix, size_t plen,
			  int (*fn)(const uint8_t *, size_t, const uint8_t *, size_t, void *),
			  void *ctx);
int __wrap_dfs_store_scan(struct dfs_store *st, const void *prefix, size_t plen,
			  int (*fn)(const uint8_t *, size_t, const uint8_t *, size_t, void *),
			  void *ctx);

static int failing_scans;

int __wrap_dfs_store_scan(struct dfs_store *st, const void *prefix, size_t plen,
			  int (*fn)(const uint8_t *, size_t, const uint8_t *, size_t, void *),
			  void *ctx)
{
	if (failing_scans > 0) {
		failing_scans--;
		return -EIO;
	}
	return __real_dfs_store_scan(st, prefix, plen, fn, ctx);
}

/* ---- nodes ------------------------------------------------------------------ */

static struct node na, nb, nc;
static struct dfs_pubkey doc, chief;

static void setup(void)
{
	dfs_log_set_level(DFS_LOG_ERR - 1);	/* refused and held updates are logged */
	cr_assert_eq(dfs_crypto_init(), 0);
	node_make(&na, "a");
	node_make(&nb, "b");
	node_make(&nc, "c");
}

static void teardown(void)
{
	node_destroy(&na);
	node_destroy(&nb);
	node_destroy(&nc);
}

TestSuite(sealed, .init = setup, .fini = teardown);

/* ---- moving updates between nodes ------------------------------------------- */

struct blob {
	uint8_t *data;
	size_t len;
};

struct recs {
	int n;
	struct blob r[MAX_RECS];
};

static void recs_release(struct recs *rs)
{
	for (int i = 0; i < rs->n; i++)
		free(rs->r[i].data);
	rs->n = 0;
}

static void recs_add(struct recs *rs, const uint8_t *p, size_t len)
{
	cr_assert_lt(rs->n, MAX_RECS);
	struct blob *b = &rs->r[rs->n++];
	b->data = malloc(len);
	cr_assert_not_null(b->data);
	memcpy(b->data, p, len);
	b->len = len;
}

static int collect_log(uint64_t seq, const uint8_t *rec, size_t len, void *ctx)
{
	(void)seq;
	recs_add(ctx, rec, len);
	return 0;
}

/* Appends n's log entries after seq to rs; returns how many. */
static int log_after(struct node *n, uint64_t after, struct recs *rs)
{
	int before = rs->n;
	int rc = dfs_db_log_read(n->db, after, SIZE_MAX, NULL, collect_log, rs, NULL);

	cr_assert_eq(rc, rs->n - before);
	return rc;
}

/*
 * Receives every update of rs on to, as a peer would: one that waits for
 * another (-EAGAIN) is retried after the rest. Each must be applied (0) or
 * known already (-EALREADY). Returns how many were applied.
 */
static int feed(struct node *to, const struct recs *rs)
{
	int pending[MAX_RECS], np = rs->n, applied = 0;
	bool progress = true;

	for (int i = 0; i < rs->n; i++)
		pending[i] = i;
	while (np > 0 && progress) {
		int keep = 0;
		progress = false;
		for (int i = 0; i < np; i++) {
			const struct blob *b = &rs->r[pending[i]];
			int rc = dfs_db_receive(to->db, b->data, b->len, NULL);
			if (rc == -EAGAIN) {
				pending[keep++] = pending[i];
				continue;
			}
			cr_assert(rc == 0 || rc == -EALREADY, "update %d of %d: rc %d", pending[i],
				  rs->n, rc);
			applied += rc == 0;
			progress = true;
		}
		np = keep;
	}
	cr_assert_eq(np, 0, "%d updates still wait", np);
	return applied;
}

/* Sends from's whole log to to; returns how many updates to applied. */
static int ship(struct node *from, struct node *to)
{
	struct recs rs = { 0 };

	log_after(from, 0, &rs);
	int n = feed(to, &rs);
	recs_release(&rs);
	return n;
}

/* The last update in n's log, copied. */
static struct blob last_update(struct node *n)
{
	struct recs rs = { 0 };

	cr_assert_eq(log_after(n, dfs_db_log_head(n->db) - 1, &rs), 1);
	return rs.r[0];
}

static void decode(const struct blob *b, struct dfs_update *u)
{
	cr_assert_eq(dfs_update_decode(b->data, b->len, u), 0);
}

/* ---- reading ---------------------------------------------------------------- */

static void expect_value(struct node *n, const struct dfs_pubkey *obj, const char *path,
			 const char *want, const char *what)
{
	uint8_t *val;
	size_t len;
	int rc = dfs_db_read_field(n->db, obj, path, &val, &len);

	cr_assert_eq(rc, 0, "%s: read %s: rc %d", what, path, rc);
	cr_assert_eq(len, strlen(want), "%s: %s is %zu bytes, want %zu (\"%s\")", what, path, len,
		     strlen(want), want);
	cr_assert_eq(memcmp(val, want, len), 0, "%s: %s is \"%.*s\", want \"%s\"", what, path,
		     (int)len, (const char *)val, want);
	dfs_value_free(val);
}

static void expect_read_rc(struct node *n, const struct dfs_pubkey *obj, const char *path,
			   int want, const char *what)
{
	uint8_t *val = NULL;
	size_t len = 0;
	int rc = dfs_db_read_field(n->db, obj, path, &val, &len);

	if (rc == 0)
		dfs_value_free(val);
	cr_assert_eq(rc, want, "%s: read %s: rc %d, want %d", what, path, rc, want);
}

static void expect_stat(struct node *n, const struct dfs_pubkey *obj, const char *path,
			uint64_t size, bool readable, const char *what)
{
	struct dfs_field_rec f;
	uint64_t got = 12345;
	bool r = !readable;

	cr_assert_eq(dfs_db_stat_field(n->db, obj, path, &f, &got, &r), 0, "%s: stat %s", what,
		     path);
	cr_assert_eq(got, size, "%s: %s shows %llu bytes, want %llu", what, path,
		     (unsigned long long)got, (unsigned long long)size);
	cr_assert_eq(r, readable, "%s: %s readable=%d, want %d", what, path, r, readable);
}

/* The value as stored (the 'V' record), malloc'ed. */
static struct blob raw_value(struct node *n, const struct dfs_pubkey *obj, const char *path)
{
	struct dfs_buf key;
	struct blob b;

	dfs_buf_init(&key);
	dfs_key_value(&key, obj, path, strlen(path));
	cr_assert_eq(dfs_buf_ok(&key), 0);
	cr_assert_eq(dfs_store_get(n->st, key.data, key.len, &b.data, &b.len), 0, "raw %s", path);
	dfs_buf_release(&key);
	return b;
}

static struct dfs_field_rec field_rec(struct node *n, const struct dfs_pubkey *obj,
				      const char *path)
{
	struct dfs_field_rec f;

	cr_assert_eq(dfs_db_get_field(n->db, obj, path, &f), 0, "field %s", path);
	return f;
}

struct needle {
	const void *p;
	size_t n;
	int found;
};

static int find_needle(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *ctx)
{
	struct needle *nd = ctx;

	if (memmem(key, klen, nd->p, nd->n) || memmem(val, vlen, nd->p, nd->n))
		nd->found++;
	return 0;
}

/* How many records of n's store (keys or values) contain s. */
static int store_count(struct node *n, const char *s)
{
	struct needle nd = { s, strlen(s), 0 };

	cr_assert_eq(dfs_store_flush(n->st), 0);
	cr_assert_eq(dfs_store_scan(n->st, "", 0, find_needle, &nd), 0);
	return nd.found;
}

static int dump_one(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *ctx)
{
	struct dfs_buf *out = ctx;
	char h[2 * 1024 + 1];

	dfs_hex_encode(h, key, klen > 1024 ? 1024 : klen);
	dfs_buf_printf(out, "%s = ", h);
	for (size_t off = 0; off < vlen; off += 1024) {
		size_t n = vlen - off > 1024 ? 1024 : vlen - off;
		dfs_hex_encode(h, val + off, n);
		dfs_buf_printf(out, "%s", h);
	}
	dfs_buf_add_u8(out, '\n');
	return 0;
}

/* The records under each tag of tags ("" for the whole store), as text. */
static char *dump(struct node *n, const char *tags)
{
	struct dfs_buf out;
	size_t len;

	dfs_buf_init(&out);
	cr_assert_eq(dfs_store_flush(n->st), 0);
	if (!*tags)
		cr_assert_eq(dfs_store_scan(n->st, "", 0, dump_one, &out), 0);
	for (const char *t = tags; *t; t++)
		cr_assert_eq(dfs_store_scan(n->st, t, 1, dump_one, &out), 0);
	dfs_buf_add_u8(&out, '\0');
	cr_assert_eq(dfs_buf_ok(&out), 0);
	return (char *)dfs_buf_detach(&out, &len);
}

/* What a user sees and what it is built from; heads, history and log left out. */
#define STATE_TAGS "MNECFVX"

static void expect_same_dump(const char *before, const char *after, const char *what)
{
	cr_assert(strcmp(before, after) == 0, "%s: the store changed", what);
}

static int count_history(const struct dfs_update *u, const struct dfs_hash *h, bool verified,
			 const char *held, void *ctx)
{
	(void)u;
	(void)h;
	(void)held;
	cr_assert(verified);
	(*(int *)ctx)++;
	return 0;
}

static int history_len(struct node *n, const struct dfs_pubkey *entity)
{
	int count = 0;

	cr_assert_eq(dfs_db_history(n->db, entity, count_history, &count), 0);
	return count;
}

static struct blob meta(struct node *n, const struct dfs_pubkey *entity, const char *key)
{
	struct blob b;

	cr_assert_eq(dfs_db_get_meta(n->db, entity, key, &b.data, &b.len), 0, "meta %s", key);
	return b;
}

/* MODEL/.encrypted as n shows it: the union of every key's list. */
static struct blob encrypted(struct node *n)
{
	struct dfs_buf out;
	struct blob b;

	dfs_buf_init(&out);
	cr_assert_eq(dfs_db_get_encrypted(n->db, MODEL, &out), 0);
	dfs_buf_add_u8(&out, '\0');
	b.data = dfs_buf_detach(&out, &b.len);
	b.len--;
	return b;
}

/* ---- writing ---------------------------------------------------------------- */

static int set_str(struct node *n, const struct dfs_pubkey *obj, const char *path, const char *v)
{
	return dfs_db_set_field(n->db, obj, path, (const uint8_t *)v, strlen(v));
}

static int append_str(struct node *n, const struct dfs_pubkey *obj, const char *path,
		      const char *v)
{
	return dfs_db_append_field(n->db, obj, path, (const uint8_t *)v, strlen(v));
}

static void set_list(struct node *n, const char *const *names, size_t count)
{
	cr_assert_eq(dfs_db_set_encrypted(n->db, MODEL, names, count), 0);
}

/*
 * The world most tests start from: A creates MODEL, lists "secret" and
 * "log" as encrypted and creates doc; B and C get all of it; B creates
 * chief, which A and C get.
 */
static void world(void)
{
	static const char *const names[] = { "secret", "log" };

	cr_assert_eq(dfs_db_create_model(na.db, MODEL), 0);
	set_list(&na, names, 2);
	cr_assert_eq(dfs_db_create_object(na.db, MODEL, "doc", &doc), 0);
	cr_assert_eq(ship(&na, &nb), 3);
	cr_assert_eq(ship(&na, &nc), 3);
	cr_assert_eq(dfs_db_create_object(nb.db, MODEL, "chief", &chief), 0);
	cr_assert_eq(ship(&nb, &na), 1);
	cr_assert_eq(ship(&nb, &nc), 1);
	cr_assert(dfs_keyring_has(na.kr, &doc) && !dfs_keyring_has(nb.kr, &doc));
	cr_assert(dfs_keyring_has(nb.kr, &chief) && !dfs_keyring_has(na.kr, &chief));
}

/* ---- forging ---------------------------------------------------------------- */

static const struct dfs_hash zero_hash;

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A clock later than anything the nodes made so far. */
static uint64_t next_clock(void)
{
	static uint64_t last;
	uint64_t c = (wall_ms() + 1000) << DFS_HLC_LOGICAL_BITS;

	last = c > last ? c : last + 1;
	return last;
}

/*
 * An update of MODEL as another node would send it, signed as signer: with
 * the key kr holds, or with sk when kr is NULL.
 */
static struct blob forge_at(uint64_t clock, struct dfs_keyring *kr, const struct dfs_seckey *sk,
			    uint8_t op, uint8_t flags, const struct dfs_pubkey *entity,
			    const struct dfs_pubkey *signer, const struct dfs_hash *prev,
			    const char *name, const void *value, size_t vlen)
{
	struct dfs_update u = {
		.op = op,
		.flags = flags,
		.clock = clock,
		.entity = *entity,
		.signer = *signer,
		.prev = prev ? *prev : zero_hash,
		.model = MODEL,
		.model_len = strlen(MODEL),
		.name = name,
		.name_len = strlen(name),
		.value = value,
		.value_len = vlen,
	};
	struct dfs_buf out;
	struct blob b;

	dfs_buf_init(&out);
	cr_assert_eq(dfs_update_encode(&u, &out), 0);
	size_t slen = dfs_update_signed_len(out.len);
	if (kr)
		cr_assert_eq(dfs_keyring_sign(kr, signer, out.data, slen, out.data + slen), 0);
	else
		dfs_sign(out.data + slen, out.data, slen, sk);
	b.data = dfs_buf_detach(&out, &b.len);
	return b;
}

/* forge_at() the next clock. */
static struct blob forge(struct dfs_keyring *kr, const struct dfs_seckey *sk, uint8_t op,
			 uint8_t flags, const struct dfs_pubkey *entity,
			 const struct dfs_pubkey *signer, const struct dfs_hash *prev,
			 const char *name, const void *value, size_t vlen)
{
	return forge_at(next_clock(), kr, sk, op, flags, entity, signer, prev, name, value, vlen);
}

static struct dfs_hash object_head(struct node *n, const struct dfs_pubkey *obj)
{
	struct dfs_object_rec o;

	cr_assert_eq(dfs_db_get_object_by_key(n->db, obj, &o), 0);
	return o.head;
}

static struct dfs_hash model_head(struct node *n)
{
	struct dfs_model_rec m;

	cr_assert_eq(dfs_db_get_model(n->db, MODEL, &m), 0);
	return m.head;
}

/* An object update of doc signed by doc's own key (held by A). */
static struct blob forge_doc(uint8_t op, uint8_t flags, const char *name, const void *value,
			     size_t vlen)
{
	struct dfs_hash head = object_head(&na, &doc);

	return forge(na.kr, NULL, op, flags, &doc, &doc, &head, name, value, vlen);
}

/* A MODEL_META "encrypted" signed by the model's creator (A's node key). */
static struct blob forge_list(const char *list)
{
	struct dfs_pubkey id;
	struct dfs_hash head = model_head(&na);

	dfs_db_model_id(MODEL, &id);
	return forge(na.kr, NULL, DFS_OP_MODEL_META, 0, &id, dfs_keyring_node(na.kr), &head,
		     "encrypted", list, strlen(list));
}

/*
 * Receives b on n, which must refuse it with want and keep its store as it
 * was: entirely for a dropped update (-EBADMSG), every state record for a
 * held one (which is logged, to relay, but not applied).
 */
static void expect_refused(struct node *n, const struct blob *b, int want, const char *what)
{
	const char *tags = want == -EBADMSG ? "" : STATE_TAGS;
	char *before = dump(n, tags);
	struct dfs_db_stats s0, s1;
	uint64_t head = dfs_db_log_head(n->db);

	dfs_db_get_stats(n->db, &s0);
	cr_assert_eq(dfs_db_receive(n->db, b->data, b->len, NULL), want, "%s", what);
	dfs_db_get_stats(n->db, &s1);
	cr_assert_eq(s1.refused, s0.refused + 1, "%s: counted as refused", what);
	cr_assert_eq(s1.applied, s0.applied, "%s: not applied", what);
	cr_assert_eq(dfs_db_log_head(n->db), head + (want == -EBADMSG ? 0 : 1), "%s: log", what);
	char *after = dump(n, tags);
	expect_same_dump(before, after, what);
	free(before);
	free(after);
	/* Dropped: refused again the same way. Held: known from now on. */
	cr_assert_eq(dfs_db_receive(n->db, b->data, b->len, NULL),
		     want == -EBADMSG ? -EBADMSG : -EALREADY, "%s: again", what);
}

/* ---- listeners ---------------------------------------------------------------- */

struct seen_change {
	enum dfs_event event;
	bool remote, sealed, authorized;
	char field[64];
	bool has_old, has_new;
	char old_value[128], new_value[128];
};

struct seen {
	int n, after;
	struct seen_change c[32];
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

static int before(void *ctx, const struct dfs_change *c, char *why, size_t whylen)
{
	struct seen *s = ctx;

	(void)why;
	(void)whylen;

	cr_assert_lt(s->n, 32);
	struct seen_change *sc = &s->c[s->n++];
	memset(sc, 0, sizeof(*sc));
	sc->event = c->event;
	sc->remote = c->remote;
	sc->sealed = c->sealed;
	sc->authorized = c->authorized;
	snprintf(sc->field, sizeof(sc->field), "%s", c->field ? c->field : "-");
	copy_value(sc->old_value, sizeof(sc->old_value), &sc->has_old, c->old_value, c->old_len);
	copy_value(sc->new_value, sizeof(sc->new_value), &sc->has_new, c->new_value, c->new_len);
	return 0;
}

static void after(void *ctx, const struct dfs_change *c)
{
	(void)c;
	((struct seen *)ctx)->after++;
}

/* new_value/old_value NULL: the change must carry none. */
static void expect_change(const struct seen *s, int i, enum dfs_event event, const char *field,
			  bool sealed, const char *old_value, const char *new_value)
{
	cr_assert_lt(i, s->n, "change %d was not judged (%d were)", i, s->n);
	const struct seen_change *c = &s->c[i];
	cr_assert_eq(c->event, event, "change %d: event %d, want %d", i, c->event, event);
	cr_assert_str_eq(c->field, field, "change %d", i);
	cr_assert_eq(c->sealed, sealed, "change %d (%s): sealed=%d", i, field, c->sealed);
	cr_assert_eq(c->has_old, old_value != NULL, "change %d (%s): old value given=%d", i, field,
		     c->has_old);
	if (old_value)
		cr_assert_str_eq(c->old_value, old_value, "change %d (%s): old value", i, field);
	cr_assert_eq(c->has_new, new_value != NULL, "change %d (%s): new value given=%d", i, field,
		     c->has_new);
	if (new_value)
		cr_assert_str_eq(c->new_value, new_value, "change %d (%s): new value", i, field);
}

/* ---- the owner and a node without keys ---------------------------------------- */

/*
 * Whether a field is encrypted is remembered, and asked anew once a list
 * changes, here or by a peer's update: a write after the change is sealed.
 */
Test(sealed, a_changed_list_is_seen_at_once)
{
	static const char *const three[] = { "secret", "log", "late" };
	struct dfs_update u;

	world();
	cr_assert_eq(dfs_db_field_encrypted(na.db, MODEL, "late"), 0);
	cr_assert_eq(dfs_db_field_encrypted(na.db, MODEL, "late"), 0, "asked again");
	cr_assert_eq(dfs_db_field_encrypted(nb.db, MODEL, "late"), 0);
	cr_assert_eq(dfs_db_field_encrypted(na.db, MODEL, "secret"), 1);
	set_list(&na, three, 3);
	cr_assert_eq(dfs_db_field_encrypted(na.db, MODEL, "late"), 1, "listed here");
	cr_assert_eq(ship(&na, &nb), 1);
	cr_assert_eq(dfs_db_field_encrypted(nb.db, MODEL, "late"), 1, "listed by a peer");
	cr_assert_eq(set_str(&na, &doc, "late", "clear-late-value"), 0);
	struct recs rs = { 0 };
	uint64_t head = dfs_db_log_head(na.db);
	cr_assert_eq(log_after(&na, head - 1, &rs), 1);
	decode(&rs.r[0], &u);
	cr_assert_eq(u.flags & DFS_UPDATE_FLAG_SEALED, DFS_UPDATE_FLAG_SEALED, "sealed");
	recs_release(&rs);
}

Test(sealed, owner_reads_and_a_keyless_node_gets_eacces)
{
	static const char clear[] = "hunter2-the-clear-value";
	struct dfs_update u;

	world();
	cr_assert_eq(set_str(&na, &doc, "secret", clear), 0);
	cr_assert_eq(set_str(&na, &doc, "name", "Alice-in-plain"), 0);
	expect_value(&na, &doc, "secret", clear, "owner");
	expect_stat(&na, &doc, "secret", strlen(clear), true, "owner");

	/* The first encrypted write made doc's keyset, then the sealed set. */
	struct recs rs = { 0 };
	cr_assert_eq(log_after(&na, 4, &rs), 3);
	decode(&rs.r[0], &u);
	cr_assert_eq(u.op, DFS_OP_OBJECT_META);
	cr_assert_eq(u.name_len, 7);
	cr_assert_eq(memcmp(u.name, "datakey", 7), 0);
	cr_assert_eq(dfs_keyset_check(u.value, u.value_len), 0);
	decode(&rs.r[1], &u);
	cr_assert_eq(u.op, DFS_OP_FIELD_SET);
	cr_assert_eq(u.flags & DFS_UPDATE_FLAG_SEALED, DFS_UPDATE_FLAG_SEALED);
	cr_assert_eq(u.value_len, strlen(clear) + DFS_VALUE_OVERHEAD);
	cr_assert_null(memmem(u.value, u.value_len, clear, strlen(clear)));
	decode(&rs.r[2], &u);
	cr_assert_eq(u.flags & DFS_UPDATE_FLAG_SEALED, 0, "an unlisted field is plain");
	recs_release(&rs);

	cr_assert_eq(ship(&na, &nc), 3);
	expect_read_rc(&nc, &doc, "secret", -EACCES, "keyless");
	expect_stat(&nc, &doc, "secret", strlen(clear), false, "keyless");
	expect_value(&nc, &doc, "name", "Alice-in-plain", "keyless");
	expect_stat(&nc, &doc, "name", strlen("Alice-in-plain"), true, "keyless");

	/* Stored as one sealed item, on every node. */
	struct dfs_field_rec f = field_rec(&nc, &doc, "secret");
	cr_assert_eq(f.flags, DFS_FIELD_FLAG_ITEMS);
	cr_assert_eq(f.size, DFS_ITEM_HEADER_LEN + DFS_VALUE_OVERHEAD + strlen(clear));
	struct blob raw = raw_value(&nc, &doc, "secret");
	struct dfs_item it;
	size_t off = 0;
	cr_assert_eq(dfs_item_next(raw.data, raw.len, &off, &it), 1);
	cr_assert_eq(it.kind, DFS_ITEM_SEALED);
	cr_assert_eq(it.len, strlen(clear) + DFS_VALUE_OVERHEAD);
	cr_assert_eq(dfs_item_next(raw.data, raw.len, &off, &it), 0);
	free(raw.data);

	/* The clear bytes exist nowhere in C's store; the plain value does (the scan works). */
	cr_assert_eq(store_count(&nc, clear), 0, "clear value stored on the keyless node");
	cr_assert_eq(store_count(&nc, "hunter2"), 0);
	cr_assert_gt(store_count(&nc, "Alice-in-plain"), 0);
	/* Nor in the owner's: it stores what it sends. */
	cr_assert_eq(store_count(&na, clear), 0, "clear value stored on the owner");
}

Test(sealed, keyless_node_cannot_write_an_encrypted_field)
{
	world();
	cr_assert_eq(set_str(&na, &doc, "secret", "s1"), 0);
	cr_assert_eq(ship(&na, &nc), 2);
	/* C neither owns doc nor is authorized: strict policy says no before any sealing. */
	cr_assert_eq(set_str(&nc, &doc, "secret", "mine"), -EPERM);
	expect_read_rc(&nc, &doc, "secret", -EACCES, "keyless");
}

Test(sealed, value_limit_counts_clear_bytes)
{
	char big[MAX_VALUE + 2];

	world();
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(dfs_db_set_field(na.db, &doc, "secret", (const uint8_t *)big, MAX_VALUE), 0);
	expect_stat(&na, &doc, "secret", MAX_VALUE, true, "a full value");
	cr_assert_eq(dfs_db_set_field(na.db, &doc, "secret", (const uint8_t *)big, MAX_VALUE + 1),
		     -EFBIG);
	cr_assert_eq(append_str(&na, &doc, "secret", "y"), -EFBIG, "appending past the limit");
	expect_stat(&na, &doc, "secret", MAX_VALUE, true, "unchanged");
	cr_assert_eq(set_str(&na, &doc, "secret", "small"), 0);
	cr_assert_eq(append_str(&na, &doc, "secret", "+more"), 0);
	expect_value(&na, &doc, "secret", "small+more", "owner");
}

/*
 * A field that left the list keeps its sealed parts as items; a plain append
 * to it is still held to max_value in clear, as any append is.
 */
Test(sealed, value_limit_holds_for_plain_appends_to_sealed_parts)
{
	static const char *const only_secret[] = { "secret" };
	char big[MAX_VALUE];

	world();
	memset(big, 'x', sizeof(big));
	cr_assert_eq(dfs_db_set_field(na.db, &doc, "log", (const uint8_t *)big, MAX_VALUE - 10),
		     0);
	set_list(&na, only_secret, 1);
	cr_assert_eq(dfs_db_append_field(na.db, &doc, "log", (const uint8_t *)big, 100), -EFBIG,
		     "a plain append past max_value");
	expect_stat(&na, &doc, "log", MAX_VALUE - 10, true, "unchanged");
	cr_assert_eq(dfs_db_append_field(na.db, &doc, "log", (const uint8_t *)big, 10), 0);
	expect_stat(&na, &doc, "log", MAX_VALUE, true, "up to the limit");
}

/* ---- authorized objects ------------------------------------------------------- */

Test(sealed, authorized_reader_writes_as_and_loses_later_values)
{
	struct dfs_update u;
	struct blob ks;
	uint32_t epoch;
	size_t n;

	world();
	cr_assert_eq(set_str(&na, &doc, "secret", "before-grant"), 0);
	cr_assert_eq(set_str(&na, &doc, "log", "kept\n"), 0);
	cr_assert_eq(ship(&na, &nb), 3);
	expect_read_rc(&nb, &doc, "secret", -EACCES, "B before the grant");
	expect_stat(&nb, &doc, "secret", strlen("before-grant"), false, "B before the grant");

	/* Adding a reader re-seals the same epoch: old values open for it. */
	cr_assert_eq(dfs_db_set_authorized(na.db, &doc, &chief, 1), 0);
	ks = meta(&na, &doc, "datakey");
	cr_assert_eq(dfs_keyset_latest(ks.data, ks.len, &epoch), 0);
	cr_assert_eq(epoch, 1, "no new epoch for an added reader");
	struct dfs_pubkey readers[4];
	cr_assert_eq(dfs_keyset_readers(ks.data, ks.len, 1, readers, 4, &n), 0);
	cr_assert_eq(n, 2);
	free(ks.data);
	cr_assert_eq(ship(&na, &nb), 2);
	expect_value(&nb, &doc, "secret", "before-grant", "B after the grant");
	expect_stat(&nb, &doc, "secret", strlen("before-grant"), true, "B after the grant");
	expect_value(&nb, &doc, "log", "kept\n", "B after the grant");
	cr_assert_eq(ship(&na, &nc), 5);
	expect_read_rc(&nc, &doc, "secret", -EACCES, "C never granted");

	/* B writes as chief; A (and B) read it, C does not. */
	cr_assert_eq(dfs_db_set_as(nb.db, &chief), 0);
	cr_assert_eq(set_str(&nb, &doc, "secret", "from-chief"), 0);
	struct blob w = last_update(&nb);
	decode(&w, &u);
	cr_assert_eq(memcmp(u.signer.b, chief.b, DFS_PUBKEY_LEN), 0, "signed as chief");
	cr_assert_eq(u.flags & DFS_UPDATE_FLAG_SEALED, DFS_UPDATE_FLAG_SEALED);
	cr_assert_null(memmem(u.value, u.value_len, "from-chief", 10));
	free(w.data);
	expect_value(&nb, &doc, "secret", "from-chief", "B, its own write");
	cr_assert_eq(ship(&nb, &na), 1);
	cr_assert_eq(ship(&nb, &nc), 1);
	expect_value(&na, &doc, "secret", "from-chief", "A, chief's write");
	expect_read_rc(&nc, &doc, "secret", -EACCES, "C, chief's write");

	/* Removing chief rotates: a new epoch that chief is no reader of. */
	cr_assert_eq(dfs_db_set_authorized(na.db, &doc, NULL, 0), 0);
	ks = meta(&na, &doc, "datakey");
	cr_assert_eq(dfs_keyset_latest(ks.data, ks.len, &epoch), 0);
	cr_assert_eq(epoch, 2, "a removed reader rotates the key");
	cr_assert_eq(dfs_keyset_readers(ks.data, ks.len, 2, readers, 4, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(memcmp(readers[0].b, doc.b, DFS_PUBKEY_LEN), 0);
	free(ks.data);
	cr_assert_eq(set_str(&na, &doc, "secret", "after-revoke"), 0);
	cr_assert_eq(append_str(&na, &doc, "log", "later\n"), 0);
	cr_assert_eq(ship(&na, &nb), 4);
	expect_value(&na, &doc, "secret", "after-revoke", "owner");
	expect_read_rc(&nb, &doc, "secret", -EACCES, "B after the revoke");
	expect_stat(&nb, &doc, "secret", strlen("after-revoke"), false, "B after the revoke");
	/* A value holding a part B cannot open is closed to B as a whole. */
	expect_read_rc(&nb, &doc, "log", -EACCES, "B, log with a later part");
	expect_stat(&nb, &doc, "log", strlen("kept\nlater\n"), false, "B, log");
	expect_value(&na, &doc, "log", "kept\nlater\n", "owner");
	/* And B may not write any more. */
	cr_assert_eq(set_str(&nb, &doc, "secret", "late"), -EPERM);
}

/*
 * A revoked reader: the node shows what the keyset it now holds grants, so
 * earlier values too become unreadable there (its old copies of the
 * keyset are history, not what the node serves), before and after a
 * restart alike.
 */
Test(sealed, revoked_reader_reads_nothing_before_or_after_restart)
{
	world();
	cr_assert_eq(dfs_db_set_authorized(na.db, &doc, &chief, 1), 0);
	cr_assert_eq(set_str(&na, &doc, "log", "old-log\n"), 0);
	cr_assert_eq(ship(&na, &nb), 3);
	expect_value(&nb, &doc, "log", "old-log\n", "B, a reader");

	/* The node shows what the keyset it holds grants, whatever it opened before. */
	cr_assert_eq(dfs_db_set_authorized(na.db, &doc, NULL, 0), 0);
	cr_assert_eq(set_str(&na, &doc, "secret", "new-secret"), 0);
	cr_assert_eq(ship(&na, &nb), 3);
	expect_read_rc(&nb, &doc, "secret", -EACCES, "B, later value");
	expect_read_rc(&nb, &doc, "log", -EACCES, "B, earlier value");
	node_close(&nb);
	node_open(&nb);
	expect_read_rc(&nb, &doc, "secret", -EACCES, "B after restart, later value");
	expect_read_rc(&nb, &doc, "log", -EACCES, "B after restart, earlier value");
}

/* ---- appends ------------------------------------------------------------------ */

/* Whichever of two appends sorts first by (clock, signer). */
static bool sorts_first(const struct blob *x, const struct blob *y)
{
	struct dfs_update ux, uy;

	decode(x, &ux);
	decode(y, &uy);
	if (ux.clock != uy.clock)
		return ux.clock < uy.clock;
	return memcmp(ux.signer.b, uy.signer.b, DFS_PUBKEY_LEN) < 0;
}

static void expect_same_raw(struct node *x, struct node *y, const char *path, const char *what)
{
	struct blob rx = raw_value(x, &doc, path), ry = raw_value(y, &doc, path);
	struct dfs_field_rec fx = field_rec(x, &doc, path), fy = field_rec(y, &doc, path);

	cr_assert_eq(rx.len, ry.len, "%s: stored values differ in length", what);
	cr_assert_eq(memcmp(rx.data, ry.data, rx.len), 0, "%s: stored values differ", what);
	cr_assert_eq(fx.flags, fy.flags, "%s", what);
	cr_assert_eq(fx.clock, fy.clock, "%s", what);
	cr_assert_eq(fx.base_clock, fy.base_clock, "%s", what);
	cr_assert_eq(fx.size, fy.size, "%s", what);
	free(rx.data);
	free(ry.data);
}

/* Appends on A and B, made before either sees the other's, on top of base (NULL: none). */
static void concurrent_appends(const char *base)
{
	char want[256];
	struct node c1, c2;

	world();
	cr_assert_eq(dfs_db_set_authorized(na.db, &doc, &chief, 1), 0);
	if (base)
		cr_assert_eq(set_str(&na, &doc, "log", base), 0);
	else
		cr_assert_eq(set_str(&na, &doc, "secret", "makes the keyset"), 0);
	cr_assert_eq(ship(&na, &nb), 3);
	cr_assert_eq(ship(&na, &nc), 3);
	cr_assert_eq(dfs_db_set_as(nb.db, &chief), 0);

	cr_assert_eq(append_str(&na, &doc, "log", "from-a\n"), 0);
	cr_assert_eq(append_str(&nb, &doc, "log", "from-b\n"), 0);
	struct blob ua = last_update(&na), ub = last_update(&nb);
	struct dfs_update u;
	decode(&ua, &u);
	cr_assert_eq(u.flags & DFS_UPDATE_FLAG_SEALED, DFS_UPDATE_FLAG_SEALED);
	decode(&ub, &u);
	cr_assert_eq(u.flags & DFS_UPDATE_FLAG_SEALED, DFS_UPDATE_FLAG_SEALED);
	bool a_first = sorts_first(&ua, &ub);
	snprintf(want, sizeof(want), "%s%s%s", base ? base : "", a_first ? "from-a\n" : "from-b\n",
		 a_first ? "from-b\n" : "from-a\n");

	/* A gets B's after its own, B gets A's after its own. */
	cr_assert_eq(dfs_db_receive(na.db, ub.data, ub.len, NULL), 0);
	cr_assert_eq(dfs_db_receive(nb.db, ua.data, ua.len, NULL), 0);
	expect_value(&na, &doc, "log", want, "A");
	expect_value(&nb, &doc, "log", want, "B");
	expect_stat(&na, &doc, "log", strlen(want), true, "A");
	expect_stat(&nb, &doc, "log", strlen(want), true, "B");
	expect_same_raw(&na, &nb, "log", "A and B");

	/* Two keyless nodes, each getting them in one order, store the same bytes. */
	node_make(&c1, "c1");
	node_make(&c2, "c2");
	struct recs common = { 0 };
	log_after(&nc, 0, &common);
	cr_assert_eq(feed(&c1, &common), common.n);
	cr_assert_eq(feed(&c2, &common), common.n);
	recs_release(&common);
	cr_assert_eq(dfs_db_receive(c1.db, ua.data, ua.len, NULL), 0);
	cr_assert_eq(dfs_db_receive(c1.db, ub.data, ub.len, NULL), 0);
	cr_assert_eq(dfs_db_receive(c2.db, ub.data, ub.len, NULL), 0);
	cr_assert_eq(dfs_db_receive(c2.db, ua.data, ua.len, NULL), 0);
	expect_same_raw(&na, &c1, "log", "A and C1 (A's first)");
	expect_same_raw(&na, &c2, "log", "A and C2 (B's first)");
	expect_read_rc(&c1, &doc, "log", -EACCES, "C1");
	expect_stat(&c2, &doc, "log", strlen(want), false, "C2");
	free(ua.data);
	free(ub.data);
	node_destroy(&c1);
	node_destroy(&c2);
}

Test(sealed, concurrent_sealed_appends_converge)
{
	concurrent_appends("base\n");
}

Test(sealed, concurrent_sealed_appends_to_no_value_converge)
{
	concurrent_appends(NULL);
}

Test(sealed, plain_value_then_sealed_append)
{
	static const char *const three[] = { "log", "notes", "secret" };

	world();
	cr_assert_eq(dfs_db_set_authorized(na.db, &doc, &chief, 1), 0);
	cr_assert_eq(set_str(&na, &doc, "notes", "plain-start\n"), 0);
	cr_assert_eq(ship(&na, &nb), 3);
	cr_assert_eq(ship(&na, &nc), 3);
	expect_value(&nc, &doc, "notes", "plain-start\n", "C, not yet listed");

	set_list(&na, three, 3);
	cr_assert_eq(append_str(&na, &doc, "notes", "sealed-part\n"), 0);
	struct blob w = last_update(&na);
	struct dfs_update u;
	decode(&w, &u);
	cr_assert_eq(u.op, DFS_OP_FIELD_APPEND);
	cr_assert_eq(u.flags & DFS_UPDATE_FLAG_SEALED, DFS_UPDATE_FLAG_SEALED);
	free(w.data);
	expect_value(&na, &doc, "notes", "plain-start\nsealed-part\n", "owner");

	/* On every node: one clear item, then one sealed item. */
	cr_assert_eq(ship(&na, &nb), 2);
	cr_assert_eq(ship(&na, &nc), 2);
	expect_value(&nb, &doc, "notes", "plain-start\nsealed-part\n", "B, a reader");
	expect_read_rc(&nc, &doc, "notes", -EACCES, "C");
	expect_stat(&nc, &doc, "notes", strlen("plain-start\nsealed-part\n"), false, "C");
	cr_assert_eq(store_count(&nc, "sealed-part"), 0);
	struct blob raw = raw_value(&nc, &doc, "notes");
	struct dfs_item it;
	size_t off = 0;
	cr_assert_eq(dfs_item_next(raw.data, raw.len, &off, &it), 1);
	cr_assert_eq(it.kind, DFS_ITEM_CLEAR);
	cr_assert_eq(it.len, strlen("plain-start\n"));
	cr_assert_eq(memcmp(it.p, "plain-start\n", it.len), 0);
	cr_assert_eq(dfs_item_next(raw.data, raw.len, &off, &it), 1);
	cr_assert_eq(it.kind, DFS_ITEM_SEALED);
	cr_assert_eq(dfs_item_next(raw.data, raw.len, &off, &it), 0);
	free(raw.data);
	expect_same_raw(&na, &nc, "notes", "A and C");
	expect_same_raw(&na, &nb, "notes", "A and B");

	/* A plain append after a sealed part stays an item too. */
	static const char *const none[] = { "secret" };
	set_list(&na, none, 1);
	cr_assert_eq(append_str(&na, &doc, "notes", "plain-end\n"), 0);
	cr_assert_eq(ship(&na, &nb), 2);
	expect_value(&na, &doc, "notes", "plain-start\nsealed-part\nplain-end\n", "owner");
	expect_value(&nb, &doc, "notes", "plain-start\nsealed-part\nplain-end\n", "B");
}

/* ---- leaving the list --------------------------------------------------------- */

Test(sealed, field_removed_from_the_list_is_written_plain)
{
	static const char *const only_log[] = { "log" };
	struct dfs_update u;

	world();
	cr_assert_eq(set_str(&na, &doc, "secret", "sealed-one"), 0);
	cr_assert_eq(append_str(&na, &doc, "log", "sealed-line\n"), 0);
	cr_assert_eq(ship(&na, &nc), 3);
	expect_read_rc(&nc, &doc, "secret", -EACCES, "C, listed");

	set_list(&na, only_log, 1);
	struct blob lst = encrypted(&na);
	cr_assert_eq(lst.len, 4);
	cr_assert_eq(memcmp(lst.data, "log\n", 4), 0);
	free(lst.data);
	cr_assert_eq(set_str(&na, &doc, "secret", "now-plain"), 0);
	struct blob w = last_update(&na);
	decode(&w, &u);
	cr_assert_eq(u.flags & DFS_UPDATE_FLAG_SEALED, 0, "an unlisted field is written plain");
	cr_assert_eq(u.value_len, 9);
	free(w.data);
	cr_assert_eq(ship(&na, &nc), 2);
	cr_assert_eq(ship(&na, &nb), 5);
	expect_value(&na, &doc, "secret", "now-plain", "A");
	expect_value(&nb, &doc, "secret", "now-plain", "B");
	expect_value(&nc, &doc, "secret", "now-plain", "C");
	expect_stat(&nc, &doc, "secret", 9, true, "C");
	cr_assert_eq(field_rec(&nc, &doc, "secret").flags, 0, "no items left");
	/* Still listed: still sealed. */
	expect_read_rc(&nc, &doc, "log", -EACCES, "C, log");
}

/*
 * A node remembers a model with no list, so that writes need not look each
 * time; a list made later, here or on another node, seals the next write.
 */
Test(sealed, a_list_made_after_plain_writes_seals_the_next_write)
{
	static const char *const secret[] = { "secret" };
	struct dfs_update u;
	struct blob w;

	cr_assert_eq(dfs_db_create_model(na.db, MODEL), 0);
	cr_assert_eq(dfs_db_create_object(na.db, MODEL, "doc", &doc), 0);
	cr_assert_eq(ship(&na, &nb), 2);
	cr_assert_eq(dfs_db_create_object(nb.db, MODEL, "chief", &chief), 0);
	cr_assert_eq(set_str(&na, &doc, "secret", "plain"), 0);
	cr_assert_eq(set_str(&nb, &chief, "secret", "plain"), 0);
	w = last_update(&nb);
	decode(&w, &u);
	cr_assert_eq(u.flags & DFS_UPDATE_FLAG_SEALED, 0, "no list yet: plain");
	free(w.data);

	set_list(&na, secret, 1);
	cr_assert_eq(set_str(&na, &doc, "secret", "sealed"), 0);
	w = last_update(&na);
	decode(&w, &u);
	cr_assert(u.flags & DFS_UPDATE_FLAG_SEALED, "a list made here seals the next write");
	free(w.data);

	cr_assert_gt(ship(&na, &nb), 0);
	cr_assert_eq(set_str(&nb, &chief, "secret", "sealed"), 0);
	w = last_update(&nb);
	decode(&w, &u);
	cr_assert(u.flags & DFS_UPDATE_FLAG_SEALED, "a list received seals the next write");
	free(w.data);
}

/* ---- replays -------------------------------------------------------------------- */

Test(sealed, replayed_updates_change_nothing)
{
	struct node *nodes[] = { &na, &nb, &nc };
	const char *names[] = { "A", "B", "C" };

	world();
	cr_assert_eq(dfs_db_set_authorized(na.db, &doc, &chief, 1), 0);
	cr_assert_eq(set_str(&na, &doc, "secret", "v1"), 0);
	cr_assert_eq(append_str(&na, &doc, "log", "l1\n"), 0);
	cr_assert_eq(set_str(&na, &doc, "secret", "v2"), 0);
	cr_assert_eq(append_str(&na, &doc, "log", "l2\n"), 0);
	cr_assert_eq(ship(&na, &nb), 6);
	cr_assert_eq(ship(&na, &nc), 6);
	struct recs all = { 0 };
	log_after(&na, 0, &all);
	cr_assert_eq(all.n, 10);

	for (int i = 0; i < 3; i++) {
		struct node *n = nodes[i];
		struct dfs_db_stats s0, s1;
		char *before = dump(n, "");
		int hist = history_len(n, &doc);
		dfs_db_get_stats(n->db, &s0);
		/* The latest sealed append twice, then the whole history again, oldest first. */
		cr_assert_eq(dfs_db_receive(n->db, all.r[9].data, all.r[9].len, NULL), -EALREADY,
			     "%s", names[i]);
		for (int k = 0; k < all.n; k++)
			cr_assert_eq(dfs_db_receive(n->db, all.r[k].data, all.r[k].len, NULL),
				     -EALREADY, "%s: update %d", names[i], k);
		char *after = dump(n, "");
		expect_same_dump(before, after, names[i]);
		free(before);
		free(after);
		cr_assert_eq(history_len(n, &doc), hist, "%s: history", names[i]);
		dfs_db_get_stats(n->db, &s1);
		cr_assert_eq(s1.applied, s0.applied, "%s", names[i]);
		cr_assert_eq(s1.seq, s0.seq, "%s", names[i]);
	}
	expect_value(&na, &doc, "secret", "v2", "A");
	expect_value(&nb, &doc, "secret", "v2", "B");
	expect_value(&nb, &doc, "log", "l1\nl2\n", "B");
	expect_read_rc(&nc, &doc, "log", -EACCES, "C");
	expect_stat(&nc, &doc, "log", 6, false, "C");
	recs_release(&all);
}

/* ---- refused input -------------------------------------------------------------- */

Test(sealed, sealed_flag_only_on_field_values)
{
	struct node *nodes[] = { &na, &nb, &nc };
	struct dfs_pubkey id;
	struct dfs_update u;

	world();
	cr_assert_eq(set_str(&na, &doc, "secret", "s"), 0);
	cr_assert_eq(dfs_db_create_dict(na.db, &doc, "tags"), 0);
	cr_assert_eq(ship(&na, &nb), 3);
	cr_assert_eq(ship(&na, &nc), 3);
	dfs_db_model_id(MODEL, &id);
	struct dfs_hash mhead = model_head(&na);

	struct blob bad[6];
	bad[0] = forge_doc(DFS_OP_OBJECT_META, DFS_UPDATE_FLAG_SEALED, "authorized", chief.b,
			   DFS_PUBKEY_LEN);
	bad[1] = forge_doc(DFS_OP_FIELD_DELETE, DFS_UPDATE_FLAG_SEALED, "secret", NULL, 0);
	bad[2] = forge_doc(DFS_OP_DICT_CREATE, DFS_UPDATE_FLAG_SEALED, "more", NULL, 0);
	bad[3] = forge_doc(DFS_OP_DICT_DELETE, DFS_UPDATE_FLAG_SEALED, "tags", NULL, 0);
	bad[4] = forge_doc(DFS_OP_OBJECT_REMOVE, DFS_UPDATE_FLAG_SEALED, "", NULL, 0);
	bad[5] = forge(na.kr, NULL, DFS_OP_MODEL_META, DFS_UPDATE_FLAG_SEALED, &id,
		       dfs_keyring_node(na.kr), &mhead, "encrypted", "log\n", 4);
	for (int i = 0; i < 6; i++)
		for (int k = 0; k < 3; k++)
			expect_refused(nodes[k], &bad[i], -EBADMSG, "sealed flag on a non-value op");
	expect_value(&na, &doc, "secret", "s", "A");
	cr_assert_eq(dfs_db_is_authorized(nb.db, &doc, &chief), false);

	/* The same update without the flag is taken: the flag alone was refused. */
	struct blob good = forge_doc(DFS_OP_OBJECT_META, 0, "authorized", chief.b, DFS_PUBKEY_LEN);
	decode(&good, &u);
	cr_assert_eq(dfs_db_receive(nb.db, good.data, good.len, NULL), 0);
	cr_assert(dfs_db_is_authorized(nb.db, &doc, &chief));
	free(good.data);
	for (int i = 0; i < 6; i++)
		free(bad[i].data);
}

Test(sealed, short_or_malformed_sealed_values_are_refused)
{
	struct node *nodes[] = { &na, &nb, &nc };
	struct dfs_datakey k;
	struct dfs_buf sv, ad;

	world();
	cr_assert_eq(set_str(&na, &doc, "secret", "keep-me"), 0);
	cr_assert_eq(ship(&na, &nb), 2);
	cr_assert_eq(ship(&na, &nc), 2);

	/* A well-formed sealed value under doc's key (the owner opens the keyset). */
	struct blob ks = meta(&na, &doc, "datakey");
	cr_assert_eq(dfs_keyring_open_datakey(na.kr, ks.data, ks.len, 1, &k), 0);
	free(ks.data);
	dfs_buf_init(&ad);
	dfs_buf_add(&ad, doc.b, DFS_PUBKEY_LEN);
	dfs_buf_add(&ad, "secret", 6);
	dfs_buf_init(&sv);
	cr_assert_eq(dfs_value_seal(&k, 1, ad.data, ad.len, (const uint8_t *)"forged-ok", 9, &sv), 0);
	dfs_datakey_wipe(&k);

	uint8_t v[DFS_VALUE_OVERHEAD + 9];
	cr_assert_eq(sv.len, sizeof(v));
	struct blob bad[7];
	bad[0] = forge_doc(DFS_OP_FIELD_SET, DFS_UPDATE_FLAG_SEALED, "secret", "\x01\x00\x00", 3);
	bad[1] = forge_doc(DFS_OP_FIELD_SET, DFS_UPDATE_FLAG_SEALED, "secret", sv.data,
			   DFS_VALUE_HEADER_LEN);
	bad[2] = forge_doc(DFS_OP_FIELD_SET, DFS_UPDATE_FLAG_SEALED, "secret", sv.data,
			   DFS_VALUE_OVERHEAD - 1);
	bad[3] = forge_doc(DFS_OP_FIELD_APPEND, DFS_UPDATE_FLAG_SEALED, "log", sv.data, 10);
	bad[4] = forge_doc(DFS_OP_FIELD_SET, DFS_UPDATE_FLAG_SEALED, "secret", "", 0);
	memcpy(v, sv.data, sizeof(v));
	v[1] = v[2] = v[3] = v[4] = 0;	/* epoch 0 */
	bad[5] = forge_doc(DFS_OP_FIELD_SET, DFS_UPDATE_FLAG_SEALED, "secret", v, sizeof(v));
	memcpy(v, sv.data, sizeof(v));
	v[0] = 2;			/* unknown version */
	bad[6] = forge_doc(DFS_OP_FIELD_SET, DFS_UPDATE_FLAG_SEALED, "secret", v, sizeof(v));
	for (int i = 0; i < 7; i++)
		for (int n = 0; n < 3; n++)
			expect_refused(nodes[n], &bad[i], -EBADMSG, "malformed sealed value");
	expect_value(&na, &doc, "secret", "keep-me", "A");

	/* The well-formed one is taken, and opens for the owner alone. */
	struct blob good = forge_doc(DFS_OP_FIELD_SET, DFS_UPDATE_FLAG_SEALED, "secret", sv.data,
				     sv.len);
	for (int n = 0; n < 3; n++)
		cr_assert_eq(dfs_db_receive(nodes[n]->db, good.data, good.len, NULL), 0);
	expect_value(&na, &doc, "secret", "forged-ok", "A");
	expect_read_rc(&nb, &doc, "secret", -EACCES, "B");
	expect_stat(&nc, &doc, "secret", 9, false, "C");
	free(good.data);
	for (int i = 0; i < 7; i++)
		free(bad[i].data);
	dfs_buf_release(&sv);
	dfs_buf_release(&ad);
}

Test(sealed, sealed_value_does_not_open_in_another_field_or_object)
{
	struct dfs_pubkey doc2;
	struct dfs_update u;

	world();
	cr_assert_eq(dfs_db_create_object(na.db, MODEL, "doc2", &doc2), 0);
	cr_assert_eq(set_str(&na, &doc, "secret", "only-here"), 0);
	cr_assert_eq(set_str(&na, &doc2, "secret", "doc2-own"), 0);
	struct blob w;
	struct recs rs = { 0 };
	log_after(&na, dfs_db_log_head(na.db) - 3, &rs);
	cr_assert_eq(rs.n, 3);
	w = rs.r[0];	/* doc's sealed set */
	decode(&w, &u);
	cr_assert_eq(u.op, DFS_OP_FIELD_SET);
	cr_assert_eq(memcmp(u.entity.b, doc.b, DFS_PUBKEY_LEN), 0);

	/* Copied into doc's "log" by doc's own key: stored, but it opens to nothing. */
	struct blob moved = forge_doc(DFS_OP_FIELD_SET, DFS_UPDATE_FLAG_SEALED, "log", u.value,
				      u.value_len);
	cr_assert_eq(dfs_db_receive(na.db, moved.data, moved.len, NULL), 0);
	expect_read_rc(&na, &doc, "log", -EACCES, "another field");
	/* Into doc2, signed by doc2. */
	struct dfs_hash h2 = object_head(&na, &doc2);
	struct blob other = forge(na.kr, NULL, DFS_OP_FIELD_SET, DFS_UPDATE_FLAG_SEALED, &doc2,
				  &doc2, &h2, "secret", u.value, u.value_len);
	cr_assert_eq(dfs_db_receive(na.db, other.data, other.len, NULL), 0);
	expect_read_rc(&na, &doc2, "secret", -EACCES, "another object");
	expect_value(&na, &doc, "secret", "only-here", "the original");
	free(moved.data);
	free(other.data);
	recs_release(&rs);
}

Test(sealed, malformed_datakey_is_refused)
{
	struct node *nodes[] = { &na, &nb, &nc };
	uint8_t tmp[DFS_KEYSET_LEN(1, 2) + 1];

	world();
	cr_assert_eq(dfs_db_set_authorized(na.db, &doc, &chief, 1), 0);
	cr_assert_eq(set_str(&na, &doc, "secret", "keep-me"), 0);
	cr_assert_eq(ship(&na, &nb), 3);
	cr_assert_eq(ship(&na, &nc), 3);
	struct blob ks = meta(&na, &doc, "datakey");
	cr_assert_eq(ks.len, DFS_KEYSET_LEN(1, 2));

	struct blob bad[6];
	bad[0] = forge_doc(DFS_OP_OBJECT_META, 0, "datakey", "garbage", 7);
	bad[1] = forge_doc(DFS_OP_OBJECT_META, 0, "datakey", "", 0);
	bad[2] = forge_doc(DFS_OP_OBJECT_META, 0, "datakey", ks.data, ks.len - 1);
	memcpy(tmp, ks.data, ks.len);
	tmp[ks.len] = 0;
	bad[3] = forge_doc(DFS_OP_OBJECT_META, 0, "datakey", tmp, ks.len + 1);
	memcpy(tmp, ks.data, ks.len);
	tmp[0] = 2;	/* unknown keyset version */
	bad[4] = forge_doc(DFS_OP_OBJECT_META, 0, "datakey", tmp, ks.len);
	bad[5] = forge_doc(DFS_OP_OBJECT_META, 0, "readers", ks.data, ks.len);
	for (int i = 0; i < 6; i++)
		for (int n = 0; n < 3; n++)
			expect_refused(nodes[n], &bad[i], -EBADMSG, "malformed keyset");
	expect_value(&na, &doc, "secret", "keep-me", "A");
	expect_value(&nb, &doc, "secret", "keep-me", "B");
	struct blob now = meta(&nb, &doc, "datakey");
	cr_assert_eq(now.len, ks.len);
	cr_assert_eq(memcmp(now.data, ks.data, ks.len), 0);
	free(now.data);
	free(ks.data);
	for (int i = 0; i < 6; i++)
		free(bad[i].data);
}

Test(sealed, malformed_encrypted_lists_are_refused)
{
	static const char *const lists[] = {
		"secret\nlog\n",	/* unsorted */
		"log\nlog\nsecret\n",	/* a duplicate */
		".hidden\nlog\n",	/* a dot name */
		"log\nsecret",		/* no final newline */
		"log\n\nsecret\n",	/* an empty name */
		"a/b\nlog\n",		/* a slash */
		"..\n",
		"log\nlogs\nlo\n",	/* a prefix after its longer name */
	};
	struct node *nodes[] = { &na, &nb, &nc };
	size_t nl = sizeof(lists) / sizeof(lists[0]);

	world();
	for (size_t i = 0; i < nl; i++) {
		struct blob b = forge_list(lists[i]);
		for (int n = 0; n < 3; n++)
			expect_refused(nodes[n], &b, -EBADMSG, lists[i]);
		free(b.data);
	}
	struct blob lst = encrypted(&nc);
	cr_assert_eq(lst.len, strlen("log\nsecret\n"));
	cr_assert_eq(memcmp(lst.data, "log\nsecret\n", lst.len), 0);
	free(lst.data);
	cr_assert_eq(set_str(&na, &doc, "secret", "still-sealed"), 0);
	cr_assert_eq(ship(&na, &nc), 2);
	expect_read_rc(&nc, &doc, "secret", -EACCES, "C");

	/* A well-formed list from A's key is taken: A's list now, which had "secret". */
	struct blob ok = forge_list("a\nb\nlog\n");
	cr_assert_eq(dfs_db_receive(nc.db, ok.data, ok.len, NULL), 0);
	lst = encrypted(&nc);
	cr_assert_eq(lst.len, 8);
	cr_assert_eq(memcmp(lst.data, "a\nb\nlog\n", 8), 0);
	free(lst.data);
	free(ok.data);
}

Test(sealed, datakey_signed_by_another_key_is_held)
{
	struct node *nodes[] = { &na, &nb, &nc };
	static const uint32_t epochs[] = { 99 };
	struct dfs_pubkey mallory, readers[2];
	struct dfs_seckey msk;
	struct dfs_datakey k;
	struct dfs_buf ks;
	struct dfs_update u;
	uint32_t epoch;

	world();
	cr_assert_eq(dfs_db_set_authorized(na.db, &doc, &chief, 1), 0);
	cr_assert_eq(set_str(&na, &doc, "secret", "s1"), 0);
	cr_assert_eq(ship(&na, &nb), 3);
	cr_assert_eq(ship(&na, &nc), 3);

	/* A keyset that would hand mallory every later value. */
	cr_assert_eq(dfs_keys_generate(&mallory, &msk), 0);
	readers[0] = mallory;
	readers[1] = doc;
	memset(k.b, 0x66, sizeof(k.b));
	dfs_buf_init(&ks);
	cr_assert_eq(dfs_keyset_build(&k, epochs, 1, readers, 2, &ks), 0);
	struct dfs_hash head = object_head(&na, &doc);
	struct blob by_mallory = forge(NULL, &msk, DFS_OP_OBJECT_META, 0, &doc, &mallory, &head,
				       "datakey", ks.data, ks.len);
	struct blob by_chief = forge(nb.kr, NULL, DFS_OP_OBJECT_META, 0, &doc, &chief, &head,
				     "datakey", ks.data, ks.len);
	for (int n = 0; n < 3; n++) {
		expect_refused(nodes[n], &by_mallory, -EPERM, "signed by a stranger");
		expect_refused(nodes[n], &by_chief, -EPERM, "signed by an authorized object");
	}
	/* Not under the open policy either: only the object speaks for its keys. */
	dfs_db_set_policy(nc.db, true);
	struct blob again = forge(NULL, &msk, DFS_OP_OBJECT_META, 0, &doc, &mallory, &head,
				  "datakey", ks.data, ks.len);
	expect_refused(&nc, &again, -EPERM, "open policy");

	/* The owner seals the next value under its own epoch 1. */
	cr_assert_eq(set_str(&na, &doc, "secret", "s2"), 0);
	struct blob w = last_update(&na);
	decode(&w, &u);
	cr_assert_eq(u.flags & DFS_UPDATE_FLAG_SEALED, DFS_UPDATE_FLAG_SEALED);
	cr_assert_eq(dfs_value_epoch(u.value, u.value_len, &epoch), 0);
	cr_assert_eq(epoch, 1);
	cr_assert_eq(ship(&na, &nb), 1);
	expect_value(&nb, &doc, "secret", "s2", "B");
	free(w.data);
	free(again.data);
	free(by_chief.data);
	free(by_mallory.data);
	dfs_buf_release(&ks);
	dfs_seckey_wipe(&msk);
}

/* ---- listeners ------------------------------------------------------------------ */

Test(sealed, listener_on_a_keyless_node_gets_no_values)
{
	struct seen s = { 0 };
	struct dfs_db_listener l = { wants_all, before, after, &s, NULL, NULL };

	dfs_db_set_listener(nc.db, &l);
	world();
	cr_assert_eq(s.n, 2, "the creates of doc and chief");
	s.n = s.after = 0;
	cr_assert_eq(set_str(&na, &doc, "secret", "one"), 0);
	cr_assert_eq(set_str(&na, &doc, "secret", "two"), 0);
	cr_assert_eq(append_str(&na, &doc, "log", "x\n"), 0);
	cr_assert_eq(set_str(&na, &doc, "name", "plain"), 0);
	cr_assert_eq(append_str(&na, &doc, "name", "+p"), 0);
	cr_assert_eq(dfs_db_delete_field(na.db, &doc, "secret"), 0);
	cr_assert_eq(ship(&na, &nc), 7);
	cr_assert_eq(s.n, 6, "every field change is judged (not the keyset)");
	expect_change(&s, 0, DFS_EVENT_UPDATE, "secret", true, NULL, NULL);
	expect_change(&s, 1, DFS_EVENT_UPDATE, "secret", true, NULL, NULL);
	expect_change(&s, 2, DFS_EVENT_UPDATE, "log", true, NULL, NULL);
	expect_change(&s, 3, DFS_EVENT_UPDATE, "name", false, NULL, "plain");
	expect_change(&s, 4, DFS_EVENT_UPDATE, "name", false, "plain", "plain+p");
	expect_change(&s, 5, DFS_EVENT_DELETE, "secret", true, NULL, NULL);
	for (int i = 0; i < s.n; i++)
		cr_assert(s.c[i].remote && s.c[i].authorized);
	cr_assert_eq(s.after, 6);
}

/*
 * The first .authorized list comes with the first keyset: an object it
 * names writes encrypted values before the owner has written any.
 */
Test(sealed, a_grant_keys_the_object_for_its_writers)
{
	struct blob ks;
	uint32_t epoch;

	world();
	cr_assert_eq(dfs_db_set_authorized(na.db, &doc, &chief, 1), 0);
	ks = meta(&na, &doc, "datakey");
	cr_assert_eq(dfs_keyset_latest(ks.data, ks.len, &epoch), 0);
	cr_assert_eq(epoch, 1);
	free(ks.data);
	cr_assert_eq(ship(&na, &nb), 2);
	cr_assert_eq(dfs_db_set_as(nb.db, &chief), 0);
	cr_assert_eq(set_str(&nb, &doc, "secret", "first-from-chief"), 0);
	cr_assert_eq(ship(&nb, &na), 1);
	expect_value(&na, &doc, "secret", "first-from-chief", "A, the owner");
	expect_value(&nb, &doc, "secret", "first-from-chief", "B, the writer");
	cr_assert_eq(ship(&nb, &nc), 3);
	expect_read_rc(&nc, &doc, "secret", -EACCES, "C, no reader");
	cr_assert_eq(store_count(&nc, "first-from-chief"), 0);
}

Test(sealed, listener_on_a_reader_node_gets_clear_values)
{
	struct seen sb = { 0 }, sa = { 0 };
	struct dfs_db_listener lb = { wants_all, before, after, &sb, NULL, NULL };
	struct dfs_db_listener la = { wants_all, before, after, &sa, NULL, NULL };

	dfs_db_set_listener(nb.db, &lb);
	dfs_db_set_listener(na.db, &la);
	world();
	cr_assert_eq(dfs_db_set_authorized(na.db, &doc, &chief, 1), 0);
	cr_assert_eq(ship(&na, &nb), 2, "the list, and the first keyset with it");
	sa.n = sa.after = sb.n = sb.after = 0;
	cr_assert_eq(set_str(&na, &doc, "secret", "one"), 0);
	cr_assert_eq(set_str(&na, &doc, "secret", "two"), 0);
	cr_assert_eq(append_str(&na, &doc, "log", "x\n"), 0);
	cr_assert_eq(append_str(&na, &doc, "log", "y\n"), 0);
	cr_assert_eq(dfs_db_delete_field(na.db, &doc, "secret"), 0);
	cr_assert_eq(ship(&na, &nb), 5);

	for (int side = 0; side < 2; side++) {
		const struct seen *s = side ? &sb : &sa;
		cr_assert_eq(s->n, 5, "node %c", side ? 'B' : 'A');
		expect_change(s, 0, DFS_EVENT_UPDATE, "secret", false, NULL, "one");
		expect_change(s, 1, DFS_EVENT_UPDATE, "secret", false, "one", "two");
		expect_change(s, 2, DFS_EVENT_UPDATE, "log", false, NULL, "x\n");
		expect_change(s, 3, DFS_EVENT_UPDATE, "log", false, "x\n", "x\ny\n");
		expect_change(s, 4, DFS_EVENT_DELETE, "secret", false, "two", NULL);
		for (int i = 0; i < s->n; i++)
			cr_assert_eq(s->c[i].remote, side == 1);
		cr_assert_eq(s->after, 5);
	}
}

/* ---- the list itself ------------------------------------------------------------- */

static void expect_list(struct node *n, const char *want)
{
	struct blob lst = encrypted(n);
	cr_assert_eq(lst.len, strlen(want), "list is \"%.*s\", want \"%s\"", (int)lst.len,
		     (const char *)lst.data, want);
	cr_assert_eq(memcmp(lst.data, want, lst.len), 0);
	free(lst.data);
}

/* n's log head stays where it was: nothing was written. */
#define expect_nothing_written(n, head, what) \
	cr_assert_eq(dfs_db_log_head((n)->db), (head), "%s: nothing written", (what))

Test(sealed, set_encrypted_names_checked)
{
	static const char *const one[] = { "x" };
	char long_name[DFS_NAME_MAX + 2];
	const char *bad[] = { "", ".hidden", "a/b", ".", "..", long_name };

	world();
	cr_assert_eq(dfs_db_set_encrypted(na.db, "Nope", one, 1), -ENOENT);
	memset(long_name, 'n', DFS_NAME_MAX + 1);
	long_name[DFS_NAME_MAX + 1] = '\0';
	uint64_t head = dfs_db_log_head(na.db);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *two[] = { "log", "secret", bad[i] };
		cr_assert_eq(dfs_db_set_encrypted(na.db, MODEL, two, 3), -EINVAL, "name \"%.20s\"",
			     bad[i]);
	}
	expect_nothing_written(&na, head, "bad names");
	expect_list(&na, "log\nsecret\n");

	/* Sorted, duplicates dropped, one per line; the others take it. */
	static const char *const names[] = { "zeta", "alpha", "zeta", "mid" };
	cr_assert_eq(dfs_db_set_encrypted(na.db, MODEL, names, 4), 0);
	expect_list(&na, "alpha\nmid\nzeta\n");
	cr_assert_eq(ship(&na, &nb), 1);
	expect_list(&nb, "alpha\nmid\nzeta\n");
	/* The same list again changes nothing, and sends nothing. */
	head = dfs_db_log_head(na.db);
	cr_assert_eq(dfs_db_set_encrypted(na.db, MODEL, names, 4), 0);
	expect_nothing_written(&na, head, "the same list");
	cr_assert_eq(dfs_db_set_encrypted(na.db, MODEL, NULL, 0), 0);
	expect_list(&na, "");
	cr_assert_eq(set_str(&na, &doc, "secret", "open"), 0);
	cr_assert_eq(ship(&na, &nc), 3);
	expect_value(&nc, &doc, "secret", "open", "C, nothing listed");
}

/*
 * Any node adds names; the list shows the union of every key's list, and
 * a name leaves it only by the key that added it: a list that drops
 * another key's name is refused whole (EPERM), on the node that writes it.
 */
Test(sealed, any_key_adds_names_and_only_its_own_leave)
{
	static const char *const b_adds[] = { "log", "secret", "ssn" };
	static const char *const c_drops[] = { "ssn" };
	static const char *const a_drops_ssn[] = { "log", "secret" };
	static const char *const a_drops_secret[] = { "log", "ssn" };
	static const char *const b_drops_ssn[] = { "log" };

	world();
	cr_assert_eq(dfs_db_set_encrypted(nb.db, MODEL, b_adds, 3), 0, "B may list a field");
	expect_list(&nb, "log\nsecret\nssn\n");
	struct blob w = last_update(&nb);
	struct dfs_update u;
	decode(&w, &u);
	cr_assert_eq(u.op, DFS_OP_MODEL_META);
	cr_assert_arr_eq(u.signer.b, dfs_keyring_node(nb.kr)->b, DFS_PUBKEY_LEN, "B's own key");
	cr_assert_eq(u.value_len, 4, "B's list holds what B added: ssn");
	cr_assert_eq(memcmp(u.value, "ssn\n", 4), 0);
	free(w.data);

	uint64_t head = dfs_db_log_head(nc.db);
	cr_assert_eq(dfs_db_set_encrypted(nc.db, MODEL, c_drops, 1), -EPERM, "drops A's names");
	expect_nothing_written(&nc, head, "C");
	expect_list(&nc, "log\nsecret\n");
	cr_assert_eq(ship(&nb, &na), 1);
	cr_assert_eq(ship(&nb, &nc), 1);
	expect_list(&na, "log\nsecret\nssn\n");
	expect_list(&nc, "log\nsecret\nssn\n");

	head = dfs_db_log_head(na.db);
	cr_assert_eq(dfs_db_set_encrypted(na.db, MODEL, a_drops_ssn, 2), -EPERM, "ssn is B's");
	expect_nothing_written(&na, head, "A");
	cr_assert_eq(set_str(&na, &doc, "ssn", "123"), 0);
	cr_assert_eq(dfs_db_set_encrypted(na.db, MODEL, a_drops_secret, 2), 0, "secret was A's");
	expect_list(&na, "log\nssn\n");
	cr_assert_eq(dfs_db_set_encrypted(nb.db, MODEL, b_drops_ssn, 1), -EPERM, "secret is A's");
	cr_assert_eq(ship(&na, &nb), 3, "the keyset, ssn, A's list");
	cr_assert_eq(dfs_db_set_encrypted(nb.db, MODEL, b_drops_ssn, 1), 0, "ssn was B's");
	cr_assert_eq(ship(&nb, &na), 1);
	cr_assert_eq(ship(&na, &nc), 4, "and B's last list, which A relays");
	cr_assert_eq(ship(&nb, &nc), 0);
	expect_list(&na, "log\n");
	expect_list(&nb, "log\n");
	expect_list(&nc, "log\n");
	expect_read_rc(&nc, &doc, "ssn", -EACCES, "C: written while listed");
}

/*
 * A key that lists a name another key lists too cannot take it off by
 * dropping it from its own list: A rewrote its list (an append through
 * the file) after B had listed secret as well, and B then empties its own.
 */
Test(sealed, a_name_two_keys_list_stays_while_one_does)
{
	static const char *const a_appends[] = { "log", "secret", "ssn" };
	struct dfs_pubkey id;

	world();
	dfs_db_model_id(MODEL, &id);
	struct dfs_hash mhead = model_head(&nb);
	struct blob b_lists = forge(nb.kr, NULL, DFS_OP_MODEL_META, 0, &id,
				    dfs_keyring_node(nb.kr), &mhead, "encrypted", "secret\n", 7);
	cr_assert_eq(dfs_db_receive(na.db, b_lists.data, b_lists.len, NULL), 0);
	cr_assert_eq(dfs_db_set_encrypted(na.db, MODEL, a_appends, 3), 0);
	mhead = model_head(&na);
	struct blob b_empties = forge(nb.kr, NULL, DFS_OP_MODEL_META, 0, &id,
				      dfs_keyring_node(nb.kr), &mhead, "encrypted", "", 0);
	cr_assert_eq(dfs_db_receive(na.db, b_empties.data, b_empties.len, NULL), 0);
	expect_list(&na, "log\nsecret\nssn\n");
	cr_assert_eq(set_str(&na, &doc, "secret", "kept-sealed"), 0);
	ship(&na, &nc);
	expect_list(&nc, "log\nsecret\nssn\n");
	expect_read_rc(&nc, &doc, "secret", -EACCES, "C");
	cr_assert_eq(store_count(&nc, "kept-sealed"), 0);
	free(b_lists.data);
	free(b_empties.data);
}

/*
 * THREATS finding 3: a key no node knows sends a back-dated MODEL_CREATE,
 * an empty "encrypted" list built on it and then a MODEL_REMOVE. Every
 * node applies them (a model is owned by nobody) and nothing changes that
 * matters: the list, the sealing of the next value, the model's objects.
 */
Test(sealed, a_back_dated_create_seizes_nothing)
{
	struct node *nodes[] = { &na, &nb, &nc };
	struct dfs_pubkey mallory, id;
	struct dfs_seckey msk;
	struct dfs_update u;

	world();
	cr_assert_eq(dfs_keys_generate(&mallory, &msk), 0);
	dfs_db_model_id(MODEL, &id);
	struct blob c = forge_at(1, NULL, &msk, DFS_OP_MODEL_CREATE, 0, &id, &mallory, NULL, "",
				 NULL, 0);
	struct dfs_hash hc, hm;
	dfs_hash2(&hc, c.data, c.len, NULL, 0);
	struct blob m = forge(NULL, &msk, DFS_OP_MODEL_META, 0, &id, &mallory, &hc, "encrypted",
			      "", 0);
	dfs_hash2(&hm, m.data, m.len, NULL, 0);
	struct blob r = forge(NULL, &msk, DFS_OP_MODEL_REMOVE, 0, &id, &mallory, &hm, "", NULL, 0);
	for (int n = 0; n < 3; n++) {
		cr_assert_eq(dfs_db_receive(nodes[n]->db, c.data, c.len, NULL), 0);
		cr_assert_eq(dfs_db_receive(nodes[n]->db, m.data, m.len, NULL), 0);
		cr_assert_eq(dfs_db_receive(nodes[n]->db, r.data, r.len, NULL), 0);
		expect_list(nodes[n], "log\nsecret\n");
		struct dfs_model_rec mr;
		cr_assert_eq(dfs_db_get_model(nodes[n]->db, MODEL, &mr), 0, "still shown");
		cr_assert_not(mr.live, "the latest create or remove is mallory's remove");
		cr_assert_eq(mr.objects, 2, "doc and chief");
		struct dfs_object_rec o;
		struct dfs_pubkey k;
		cr_assert_eq(dfs_db_get_object(nodes[n]->db, MODEL, "doc", &k, &o), 0);
		cr_assert_eq(dfs_db_get_object(nodes[n]->db, MODEL, "chief", &k, &o), 0);
	}
	cr_assert_eq(dfs_db_remove_model(na.db, MODEL), -ENOTEMPTY);
	cr_assert_eq(set_str(&na, &doc, "secret", "salary-2"), 0);
	struct blob w = last_update(&na);
	decode(&w, &u);
	cr_assert_eq(u.flags & DFS_UPDATE_FLAG_SEALED, DFS_UPDATE_FLAG_SEALED, "the next value is sealed");
	free(w.data);
	ship(&na, &nc);
	expect_read_rc(&nc, &doc, "secret", -EACCES, "C");
	cr_assert_eq(store_count(&nc, "salary-2"), 0, "never in clear on C");
	free(c.data);
	free(m.data);
	free(r.data);
	dfs_seckey_wipe(&msk);
}

/* A node that cannot tell whether a field is encrypted writes nothing. */
Test(sealed, a_store_error_refuses_the_write)
{
	world();
	uint64_t head = dfs_db_log_head(na.db);
	failing_scans = 1000;
	cr_assert_eq(set_str(&na, &doc, "secret", "clear?"), -EIO);
	cr_assert_eq(set_str(&na, &doc, "plain", "clear?"), -EIO, "nor a field it could not check");
	cr_assert_eq(append_str(&na, &doc, "log", "clear?"), -EIO);
	cr_assert_eq(dfs_db_set_authorized(na.db, &doc, &chief, 1), -EIO,
		     "the first grant cannot tell whether readers need a key");
	struct dfs_buf out;
	dfs_buf_init(&out);
	cr_assert_eq(dfs_db_get_encrypted(na.db, MODEL, &out), -EIO);
	dfs_buf_release(&out);
	static const char *const one[] = { "log", "secret", "x" };
	cr_assert_eq(dfs_db_set_encrypted(na.db, MODEL, one, 3), -EIO);
	failing_scans = 0;
	expect_nothing_written(&na, head, "A");
	cr_assert_eq(store_count(&na, "clear?"), 0);
	cr_assert_not(dfs_db_is_authorized(na.db, &doc, &chief));
	cr_assert_eq(set_str(&na, &doc, "secret", "now"), 0, "and works once the store does");
}

/*
 * The list holds one name a line, so a name with a newline in it (a valid
 * file name) cannot be listed: it must be refused, not split into other names.
 */
Test(sealed, set_encrypted_refuses_a_name_with_a_newline)
{
	static const char *const nl[] = { "a\nb" };

	world();
	int rc = dfs_db_set_encrypted(na.db, MODEL, nl, 1);
	cr_assert_eq(rc, -EINVAL, "set_encrypted(\"a\\nb\") returned %d", rc);
	expect_list(&na, "log\nsecret\n");
}

Test(sealed, dict_keys_follow_the_dict_name)
{
	static const char *const names[] = { "log", "secret", "tags" };

	world();
	set_list(&na, names, 3);
	cr_assert_eq(dfs_db_create_dict(na.db, &doc, "tags"), 0);
	cr_assert_eq(set_str(&na, &doc, "tags/red", "crimson"), 0);
	cr_assert_eq(dfs_db_create_dict(na.db, &doc, "plain"), 0);
	cr_assert_eq(set_str(&na, &doc, "plain/red", "scarlet"), 0);
	cr_assert_eq(ship(&na, &nc), 6);
	expect_value(&na, &doc, "tags/red", "crimson", "A");
	expect_read_rc(&nc, &doc, "tags/red", -EACCES, "C");
	expect_stat(&nc, &doc, "tags/red", 7, false, "C");
	cr_assert_eq(store_count(&nc, "crimson"), 0);
	expect_value(&nc, &doc, "plain/red", "scarlet", "C, an unlisted dict");
}
