// SPDX-License-Identifier: MIT
/*
 * test_converge.c - remote updates converge whatever order they arrive in
 * (model/db.c, dfs_db_receive and the apply path).
 *
 * The idea: build a set of signed updates (crafted here, or made by local
 * changes on node A and read out of its log), feed them to fresh nodes in
 * many orders (every permutation of small sets, forward, reversed and
 * shuffled orders of larger ones), parking an update that returns -EAGAIN
 * and retrying it later as a peer's parking queue would, and check that
 * every node ends with the same state: values, listings and the records
 * in the store (everything but heads, history and log, which depend on the
 * arrival order by design).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "dinemicfs/db.h"
#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "tmpdir.h"

#define MAX_VALUE 4096
#define MAX_RECS 16
#define MAX_ORDERS 130
#define SAMPLED_ORDERS 40

/* ---- nodes ------------------------------------------------------------------ */

struct node {
	char *dir;
	struct dfs_store *st;
	struct dfs_keyring *kr;
	struct dfs_db *db;
};

static struct dfs_store_opts opts = { .sync = 0 };
static struct node a;	/* where local changes are made; its keyring signs crafted ones */

static void node_open(struct node *n)
{
	char *store_dir = tmpdir_path(n->dir, "db");

	cr_assert_not_null(store_dir);
	n->st = dfs_store_open(store_dir, &opts);
	cr_assert_not_null(n->st, "store: %s", strerror(errno));
	n->kr = dfs_keyring_open(n->dir);
	cr_assert_not_null(n->kr, "keyring: %s", strerror(errno));
	n->db = dfs_db_open(n->st, n->kr, MAX_VALUE);
	cr_assert_not_null(n->db, "db: %s", strerror(errno));
	free(store_dir);
}

static void node_close(struct node *n)
{
	dfs_db_free(n->db);
	dfs_store_close(n->st);
	dfs_keyring_free(n->kr);
	n->db = NULL;
	n->st = NULL;
	n->kr = NULL;
}

static void node_make(struct node *n, const char *tag)
{
	memset(n, 0, sizeof(*n));
	n->dir = tmpdir_make(tag);
	cr_assert_not_null(n->dir);
	node_open(n);
}

static void node_destroy(struct node *n)
{
	if (n->db)
		node_close(n);
	tmpdir_remove(n->dir);
	n->dir = NULL;
}

static void setup(void)
{
	dfs_log_set_level(DFS_LOG_ERR - 1);	/* held and refused updates are logged */
	cr_assert_eq(dfs_crypto_init(), 0);
	node_make(&a, "a");
}

static void teardown(void)
{
	node_destroy(&a);
}

TestSuite(converge, .init = setup, .fini = teardown);

/* ---- updates ---------------------------------------------------------------- */

static const struct dfs_hash zero_hash;

struct rec {
	uint8_t *data;
	size_t len;
	struct dfs_hash hash;
	uint64_t clock;
	char label[24];
};

struct recs {
	int n;
	struct rec r[MAX_RECS];
};

static void recs_release(struct recs *rs)
{
	for (int i = 0; i < rs->n; i++)
		free(rs->r[i].data);
	rs->n = 0;
}

static const struct rec *recs_add(struct recs *rs, const char *label, const uint8_t *data,
				  size_t len)
{
	struct dfs_update u;

	cr_assert_lt(rs->n, MAX_RECS);
	struct rec *r = &rs->r[rs->n++];
	r->data = malloc(len);
	cr_assert_not_null(r->data);
	memcpy(r->data, data, len);
	r->len = len;
	dfs_hash2(&r->hash, data, len, NULL, 0);
	cr_assert_eq(dfs_update_decode(data, len, &u), 0);
	r->clock = u.clock;
	snprintf(r->label, sizeof(r->label), "%s", label);
	return r;
}

/*
 * Builds and signs an update as another node would send it, with a chosen
 * clock, prev (NULL: none) and signer, whose key kr holds.
 */
static const struct rec *craft(struct recs *rs, const char *label, struct dfs_keyring *kr,
			       uint8_t op, const struct dfs_pubkey *entity,
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

	dfs_buf_init(&out);
	cr_assert_eq(dfs_update_encode(&u, &out), 0, "%s", label);
	size_t slen = dfs_update_signed_len(out.len);
	cr_assert_eq(dfs_keyring_sign(kr, signer, out.data, slen, out.data + slen), 0, "%s", label);
	const struct rec *r = recs_add(rs, label, out.data, out.len);
	dfs_buf_release(&out);
	return r;
}

/* MODEL_CREATE of model, signed by kr's node key. */
static const struct rec *craft_model(struct recs *rs, const char *label, struct dfs_keyring *kr,
				     const char *model, uint64_t clock)
{
	struct dfs_pubkey id;

	dfs_db_model_id(model, &id);
	return craft(rs, label, kr, DFS_OP_MODEL_CREATE, &id, dfs_keyring_node(kr), model, "",
		     NULL, clock, NULL);
}

/* OBJECT_CREATE of a fresh key pair made in a's keyring. */
static const struct rec *craft_object(struct recs *rs, const char *label, const char *model,
				      const char *name, uint64_t clock, struct dfs_pubkey *key)
{
	cr_assert_eq(dfs_keyring_create(a.kr, key), 0);
	return craft(rs, label, a.kr, DFS_OP_OBJECT_CREATE, key, key, model, name, NULL, clock,
		     NULL);
}

/* A field update of obj, signed by obj's own key (held in a's keyring). */
static const struct rec *craft_field(struct recs *rs, const char *label, uint8_t op,
				     const struct dfs_pubkey *obj, const char *path,
				     const char *value, uint64_t clock, const struct rec *prev)
{
	return craft(rs, label, a.kr, op, obj, obj, "notes", path, value, clock, &prev->hash);
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A clock a little ahead of now, so crafted clocks are plausible. */
static uint64_t base_clock(void)
{
	return (wall_ms() + 1) << DFS_HLC_LOGICAL_BITS;
}

static uint64_t ms(uint64_t n)
{
	return n << DFS_HLC_LOGICAL_BITS;
}

static void sleep_ms(long n)
{
	struct timespec ts = { 0, n * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- the log ---------------------------------------------------------------- */

struct logged {
	int n;
	uint64_t seq[64];
	struct recs *rs;	/* where records go; NULL: not kept */
};

static int collect_log(uint64_t seq, const uint8_t *rec, size_t len, void *ctx)
{
	struct logged *lg = ctx;
	char label[24];

	cr_assert_lt(lg->n, 64);
	lg->seq[lg->n++] = seq;
	if (lg->rs) {
		snprintf(label, sizeof(label), "log%llu", (unsigned long long)seq);
		recs_add(lg->rs, label, rec, len);
	}
	return 0;
}

/* Adds the log entries of n after seq to rs; returns how many. */
static int log_to_recs(struct node *n, uint64_t after, struct recs *rs)
{
	struct logged lg = { .rs = rs };
	int rc = dfs_db_log_read(n->db, after, SIZE_MAX, collect_log, &lg);

	cr_assert_eq(rc, lg.n, "log_read returns the number of entries passed");
	for (int i = 0; i < lg.n; i++)
		cr_assert_eq(lg.seq[i], after + 1 + (uint64_t)i, "log entries in order, no gaps");
	return lg.n;
}

/* ---- the observer ----------------------------------------------------------- */

struct seen_event {
	uint64_t seq;
	bool remote, applied;
	uint8_t op;
	char model[256];
	char object[256], path[512], from[256], to[256];	/* "-" for NULL */
};

struct seen {
	int n;
	struct seen_event e[32];
};

static void copy_or_dash(char *out, size_t size, const char *s)
{
	snprintf(out, size, "%s", s ? s : "-");
}

static void observe(void *ctx, const struct dfs_db_event *ev)
{
	struct seen *s = ctx;

	cr_assert_lt(s->n, 32);
	struct seen_event *e = &s->e[s->n++];
	e->seq = ev->seq;
	e->remote = ev->remote;
	e->applied = ev->applied;
	e->op = ev->op;
	cr_assert_not_null(ev->model);
	snprintf(e->model, sizeof(e->model), "%s", ev->model);
	copy_or_dash(e->object, sizeof(e->object), ev->object);
	copy_or_dash(e->path, sizeof(e->path), ev->path);
	copy_or_dash(e->from, sizeof(e->from), ev->renamed_from);
	copy_or_dash(e->to, sizeof(e->to), ev->renamed_to);
}

/* ---- the state of a node, as text ------------------------------------------- */

static const char *hex(char *out, const uint8_t *p, size_t n)
{
	dfs_hex_encode(out, p, n);
	return out;
}

/* 8 hex digits of the first 4 bytes of a key, computed here independently. */
static void hex8(char out[9], const struct dfs_pubkey *k)
{
	snprintf(out, 9, "%02x%02x%02x%02x", k->b[0], k->b[1], k->b[2], k->b[3]);
}

static void add_value(struct dfs_buf *out, const uint8_t *p, size_t n)
{
	dfs_buf_add_u8(out, '"');
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
			dfs_buf_add_u8(out, p[i]);
		else
			dfs_buf_printf(out, "\\x%02x", p[i]);
	}
	dfs_buf_add_u8(out, '"');
}

static unsigned long long get_u64be(const uint8_t *p)
{
	unsigned long long v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* One store record, decoded; heads are left out (they follow arrival order). */
static int dump_raw(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *ctx)
{
	struct dfs_buf *out = ctx;
	char h1[2 * DFS_PUBKEY_LEN + 1], h2[2 * DFS_PUBKEY_LEN + 1], h3[2 * DFS_PUBKEY_LEN + 1];

	switch (key[0]) {
	case 'M': {
		struct dfs_model_rec m;
		cr_assert_eq(dfs_model_rec_decode(val, vlen, &m), 0);
		dfs_buf_printf(out, "M %.*s alive=%d created=%llu creator=%s mtime=%llu\n",
			       (int)(klen - 1), key + 1, m.alive, (unsigned long long)m.created,
			       hex(h1, m.creator.b, DFS_PUBKEY_LEN), (unsigned long long)m.mtime);
		break;
	}
	case 'N': {
		const char *model = (const char *)key + 1;
		size_t mlen = strnlen(model, klen - 1);
		cr_assert_lt(mlen, klen - 1);
		cr_assert_eq(vlen, DFS_PUBKEY_LEN);
		dfs_buf_printf(out, "N %s/%.*s -> %s\n", model, (int)(klen - 2 - mlen),
			       model + mlen + 1, hex(h1, val, DFS_PUBKEY_LEN));
		break;
	}
	case 'E': {
		struct dfs_object_rec o;
		cr_assert_eq(dfs_object_rec_decode(val, vlen, &o), 0);
		dfs_buf_printf(out, "E %s alive=%d created=%llu mtime=%llu %s/%s shown=%s\n",
			       hex(h1, key + 1, klen - 1), o.alive, (unsigned long long)o.created,
			       (unsigned long long)o.mtime, o.model, o.name, o.shown);
		break;
	}
	case 'F': {
		struct dfs_field_rec f;
		cr_assert_gt(klen, 1 + DFS_PUBKEY_LEN);
		cr_assert_eq(dfs_field_rec_decode(val, vlen, &f), 0);
		dfs_buf_printf(out,
			       "F %.16s %.*s kind=%u alive=%d flags=%u clock=%llu signer=%.16s "
			       "base=%llu/%.16s mtime=%llu size=%llu\n",
			       hex(h1, key + 1, DFS_PUBKEY_LEN), (int)(klen - 1 - DFS_PUBKEY_LEN),
			       key + 1 + DFS_PUBKEY_LEN, f.kind, f.alive, f.flags,
			       (unsigned long long)f.clock, hex(h2, f.signer.b, DFS_PUBKEY_LEN),
			       (unsigned long long)f.base_clock,
			       hex(h3, f.base_signer.b, DFS_PUBKEY_LEN), (unsigned long long)f.mtime,
			       (unsigned long long)f.size);
		break;
	}
	case 'V':
		dfs_buf_printf(out, "V %.16s %.*s = ", hex(h1, key + 1, DFS_PUBKEY_LEN),
			       (int)(klen - 1 - DFS_PUBKEY_LEN), key + 1 + DFS_PUBKEY_LEN);
		add_value(out, val, vlen);
		dfs_buf_add_u8(out, '\n');
		break;
	case 'C': {
		const char *model = (const char *)key + 1;
		size_t mlen = strlen(model);
		const char *name = model + mlen + 1;
		size_t nlen = strlen(name);
		const uint8_t *rest = (const uint8_t *)name + nlen + 1;
		cr_assert_eq((size_t)(key + klen - rest), 8 + DFS_PUBKEY_LEN);
		dfs_buf_printf(out, "C %s/%s created=%llu %s\n", model, name, get_u64be(rest),
			       hex(h1, rest + 8, DFS_PUBKEY_LEN));
		break;
	}
	case 'X':
		dfs_buf_printf(out, "X %s = ", hex(h1, key + 1, klen - 1 > 32 ? 32 : klen - 1));
		add_value(out, val, vlen);
		dfs_buf_add_u8(out, '\n');
		break;
	}
	return 0;
}

struct names {
	int n;
	char v[32][DFS_NAME_MAX + 1];
};

static int collect_name(const char *name, void *ctx)
{
	struct names *ns = ctx;

	cr_assert_lt(ns->n, 32);
	strcpy(ns->v[ns->n++], name);
	return 0;
}

static struct names list_objects(struct node *n, const char *model)
{
	struct names ns = { 0 };

	cr_assert_eq(dfs_db_list_objects(n->db, model, collect_name, &ns), 0);
	return ns;
}

static struct names list_fields(struct node *n, const struct dfs_pubkey *obj, const char *dict)
{
	struct names ns = { 0 };

	cr_assert_eq(dfs_db_list_fields(n->db, obj, dict, collect_name, &ns), 0);
	return ns;
}

static void dump_value(struct node *n, struct dfs_buf *out, const struct dfs_pubkey *k,
		       const char *path)
{
	uint8_t *val;
	size_t len;
	int rc = dfs_db_read_field(n->db, k, path, &val, &len);

	cr_assert_eq(rc, 0, "read %s: %d", path, rc);
	add_value(out, val, len);
	free(val);
}

/* What a user sees: the tree as listed, with every value. */
static void dump_api(struct node *n, struct dfs_buf *out)
{
	struct names models = { 0 };

	cr_assert_eq(dfs_db_list_models(n->db, collect_name, &models), 0);
	for (int i = 0; i < models.n; i++) {
		struct names objs = list_objects(n, models.v[i]);
		dfs_buf_printf(out, "%s/\n", models.v[i]);
		for (int j = 0; j < objs.n; j++) {
			struct dfs_pubkey k;
			struct dfs_object_rec o;
			cr_assert_eq(dfs_db_get_object(n->db, models.v[i], objs.v[j], &k, &o), 0);
			cr_assert_str_eq(o.shown, objs.v[j], "listed as it shows");
			dfs_buf_printf(out, "%s/%s/\n", models.v[i], objs.v[j]);
			struct names fields = list_fields(n, &k, NULL);
			for (int f = 0; f < fields.n; f++) {
				struct dfs_field_rec fr;
				cr_assert_eq(dfs_db_get_field(n->db, &k, fields.v[f], &fr), 0);
				dfs_buf_printf(out, "%s/%s/%s", models.v[i], objs.v[j],
					       fields.v[f]);
				if (fr.kind == DFS_FIELD_DICT) {
					struct names keys = list_fields(n, &k, fields.v[f]);
					dfs_buf_printf(out, "/ {");
					for (int d = 0; d < keys.n; d++) {
						char path[2 * DFS_NAME_MAX + 2];
						snprintf(path, sizeof(path), "%s/%s", fields.v[f],
							 keys.v[d]);
						dfs_buf_printf(out, " %s=", keys.v[d]);
						dump_value(n, out, &k, path);
					}
					dfs_buf_printf(out, " }\n");
				} else {
					dfs_buf_printf(out, " = ");
					dump_value(n, out, &k, fields.v[f]);
					dfs_buf_add_u8(out, '\n');
				}
			}
		}
	}
}

/* The node's state as text: the visible tree, then the records behind it. */
static char *dump(struct node *n)
{
	static const char tags[] = "MNECFVX";
	struct dfs_buf out;
	size_t len;

	dfs_buf_init(&out);
	dump_api(n, &out);
	for (const char *t = tags; *t; t++)
		cr_assert_eq(dfs_store_scan(n->st, t, 1, dump_raw, &out), 0);
	dfs_buf_add_u8(&out, '\0');
	cr_assert_eq(dfs_buf_ok(&out), 0);
	return (char *)dfs_buf_detach(&out, &len);
}

/* Fails with the first line where two dumps differ. */
static void expect_same(const char *want, const char *got, const char *what)
{
	if (strcmp(want, got) == 0)
		return;
	size_t i = 0;
	while (want[i] && want[i] == got[i])
		i++;
	while (i > 0 && want[i - 1] != '\n')
		i--;
	const char *w = want + i, *g = got + i;
	int wl = (int)strcspn(w, "\n"), gl = (int)strcspn(g, "\n");
	cr_assert_fail("%s: the state differs\n  want: %.*s\n  got:  %.*s\n--- want ---\n%s"
		       "--- got ---\n%s",
		       what, wl, w, gl, g, want, got);
}

/* ---- feeding in many orders ------------------------------------------------- */

struct outcome {
	int rc[MAX_RECS];
	int eagain[MAX_RECS];
};

/* The missing hash an update may wait for: its prev, or its model's id for a create. */
static void check_missing(const struct rec *r, const struct dfs_hash *missing, const char *desc)
{
	struct dfs_update u;
	struct dfs_pubkey id;
	char model[256];

	cr_assert_eq(dfs_update_decode(r->data, r->len, &u), 0);
	if (memcmp(missing->b, u.prev.b, DFS_HASH_LEN) == 0 &&
	    memcmp(u.prev.b, zero_hash.b, DFS_HASH_LEN) != 0)
		return;
	memcpy(model, u.model, u.model_len);
	model[u.model_len] = '\0';
	dfs_db_model_id(model, &id);
	cr_assert(u.op == DFS_OP_OBJECT_CREATE && memcmp(missing->b, id.b, DFS_HASH_LEN) == 0,
		  "%s: %s: -EAGAIN names neither its prev nor its model", desc, r->label);
}

/*
 * Receives every update in order; one that returns -EAGAIN is parked and
 * retried after the others, until nothing is left or nothing moves.
 */
static void feed(struct node *n, const struct recs *rs, const int *order, struct outcome *out,
		 const char *desc)
{
	int pending[MAX_RECS], np = rs->n;
	bool progress = true;

	memset(out, 0, sizeof(*out));
	memcpy(pending, order, sizeof(int) * (size_t)rs->n);
	while (np > 0 && progress) {
		int keep = 0;
		progress = false;
		for (int i = 0; i < np; i++) {
			int k = pending[i];
			struct dfs_hash missing;
			memset(missing.b, 0xa5, DFS_HASH_LEN);
			int rc = dfs_db_receive(n->db, rs->r[k].data, rs->r[k].len, &missing);
			if (rc == -EAGAIN) {
				check_missing(&rs->r[k], &missing, desc);
				out->eagain[k]++;
				pending[keep++] = k;
				continue;
			}
			out->rc[k] = rc;
			progress = true;
		}
		np = keep;
	}
	cr_assert_eq(np, 0, "%s: %d updates still wait (first %s)", desc, np,
		     np ? rs->r[pending[0]].label : "");
}

struct orders {
	int n, count;
	int o[MAX_ORDERS][MAX_RECS];
};

static bool next_permutation(int *p, int n)
{
	int i = n - 2;

	while (i >= 0 && p[i] >= p[i + 1])
		i--;
	if (i < 0)
		return false;
	int j = n - 1;
	while (p[j] <= p[i])
		j--;
	int t = p[i];
	p[i] = p[j];
	p[j] = t;
	for (int l = i + 1, r = n - 1; l < r; l++, r--) {
		t = p[l];
		p[l] = p[r];
		p[r] = t;
	}
	return true;
}

/* Every order of up to 5 updates; else forward, reversed and shuffled ones. */
static void make_orders(struct orders *os, int n)
{
	int p[MAX_RECS];
	uint32_t seed = 0x2545f491u;

	os->n = n;
	os->count = 0;
	for (int i = 0; i < n; i++)
		p[i] = i;
	if (n <= 5) {
		do {
			memcpy(os->o[os->count++], p, sizeof(p));
		} while (next_permutation(p, n));
		return;
	}
	memcpy(os->o[os->count++], p, sizeof(p));
	for (int i = 0; i < n; i++)
		os->o[os->count][i] = n - 1 - i;
	os->count++;
	while (os->count < SAMPLED_ORDERS) {
		for (int i = n - 1; i > 0; i--) {
			seed ^= seed << 13;
			seed ^= seed >> 17;
			seed ^= seed << 5;
			int j = (int)(seed % (uint32_t)(i + 1));
			int t = p[i];
			p[i] = p[j];
			p[j] = t;
		}
		memcpy(os->o[os->count++], p, sizeof(p));
	}
}

static void describe(char *out, size_t size, const struct recs *rs, const int *order)
{
	size_t off = 0;

	out[0] = '\0';
	for (int i = 0; i < rs->n && off < size; i++)
		off += (size_t)snprintf(out + off, size - off, "%s%s", i ? "," : "order ",
					rs->r[order[i]].label);
}

typedef void (*check_fn)(struct node *b, const struct outcome *out, const char *desc, void *ctx);

/*
 * Feeds rs to a fresh node in every order and checks that all end in the
 * same state: want when given (e.g. node A's), else the first order's.
 * open selects the open policy. check, when given, looks at each node.
 */
static void converge(const struct recs *rs, const char *want, bool open, check_fn check,
		     void *ctx)
{
	static struct orders os;
	char *ref = want ? strdup(want) : NULL;
	char desc[512];

	make_orders(&os, rs->n);
	for (int i = 0; i < os.count; i++) {
		struct node b;
		struct outcome out;
		describe(desc, sizeof(desc), rs, os.o[i]);
		node_make(&b, "b");
		dfs_db_set_policy(b.db, open);
		feed(&b, rs, os.o[i], &out, desc);
		char *got = dump(&b);
		if (check)
			check(&b, &out, desc, ctx);
		node_destroy(&b);
		if (!ref) {
			ref = got;
			continue;
		}
		expect_same(ref, got, desc);
		free(got);
	}
	free(ref);
}

/* ---- small checks ----------------------------------------------------------- */

static void expect_value(struct node *n, const struct dfs_pubkey *obj, const char *path,
			 const char *want, const char *desc)
{
	uint8_t *val = NULL;
	size_t len = 0;
	int rc = dfs_db_read_field(n->db, obj, path, &val, &len);

	cr_assert_eq(rc, 0, "%s: read %s: %d", desc, path, rc);
	cr_assert(len == strlen(want) && memcmp(val, want, len) == 0,
		  "%s: %s is \"%.*s\", want \"%s\"", desc, path, (int)len, (char *)val, want);
	free(val);
}

static void expect_all_applied(const struct outcome *out, int n, const char *desc)
{
	for (int i = 0; i < n; i++)
		cr_assert_eq(out->rc[i], 0, "%s: update %d: rc %d", desc, i, out->rc[i]);
}

/* The raw field record, tombstones included. */
static int raw_field(struct node *n, const struct dfs_pubkey *obj, const char *path,
		     struct dfs_field_rec *f)
{
	struct dfs_buf key;
	uint8_t *val;
	size_t len;

	dfs_buf_init(&key);
	dfs_key_field(&key, obj, path, strlen(path));
	int rc = dfs_store_get(n->st, key.data, key.len, &val, &len);
	dfs_buf_release(&key);
	if (rc < 0)
		return rc;
	rc = dfs_field_rec_decode(val, len, f);
	free(val);
	return rc;
}

static struct dfs_hash head_of(struct node *n, const struct dfs_pubkey *obj)
{
	struct dfs_object_rec o;

	cr_assert_eq(dfs_db_get_object_by_key(n->db, obj, &o), 0);
	return o.head;
}

/* The clock of the last update in n's log. */
static uint64_t last_clock(struct node *n)
{
	struct recs rs = { 0 };

	log_to_recs(n, dfs_db_log_head(n->db) - 1, &rs);
	uint64_t c = rs.r[rs.n - 1].clock;
	recs_release(&rs);
	return c;
}
