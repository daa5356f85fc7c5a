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
#include "dinemicfs/dblog.h"
#include "dinemicfs/hlc.h"
#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "tmpdir.h"
#include "nodes.h"

#define MAX_VALUE NODE_MAX_VALUE
#define MAX_RECS 16
#define MAX_ORDERS 130
#define SAMPLED_ORDERS 40

/* ---- a store that fails on demand ----------------------------------------------- */

/*
 * This binary is linked with --wrap=dfs_store_get (meson.build): a test sets
 * failing_gets, and that many reads of the store fail with -EIO.
 */
int __real_dfs_store_get(struct dfs_store *st, const void *key, size_t klen, uint8_t **val,
			 size_t *vlen);
int __wrap_dfs_store_get(struct dfs_store *st, const void *key, size_t klen, uint8_t **val,
			 size_t *vlen);

static int failing_gets;
static int conflict_gets;	/* reads of 'Y' (conflict) keys */

int __wrap_dfs_store_get(struct dfs_store *st, const void *key, size_t klen, uint8_t **val,
			 size_t *vlen)
{
	if (klen > 0 && ((const uint8_t *)key)[0] == 'Y')
		conflict_gets++;
	if (failing_gets > 0) {
		failing_gets--;
		return -EIO;
	}
	return __real_dfs_store_get(st, key, klen, val, vlen);
}

/* ---- nodes ------------------------------------------------------------------ */

static struct node a;	/* where local changes are made; its keyring signs crafted ones */

/*
 * Where a remove wins over a concurrent change, the records behind the
 * tree may keep traces of what arrived before it: compare the tree only.
 */
static bool visible_only;

static void setup(void)
{
	visible_only = false;
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

static bool skip_even(uint64_t seq, void *ctx)
{
	(void)ctx;
	return seq % 2 == 0;
}

static bool skip_all(uint64_t seq, void *ctx)
{
	(void)ctx;
	(void)seq;
	return true;
}

/* Adds the log entries of n after seq to rs; returns how many. */
static int log_to_recs(struct node *n, uint64_t after, struct recs *rs)
{
	struct logged lg = { .rs = rs };
	int rc = dfs_db_log_read(n->db, after, SIZE_MAX, NULL, collect_log, &lg, NULL);

	cr_assert_eq(rc, lg.n, "log_read returns the number of entries passed");
	for (int i = 0; i < lg.n; i++)
		cr_assert_eq(lg.seq[i], after + 1 + (uint64_t)i, "log entries in order, no gaps");
	return lg.n;
}

/* ---- the observer ----------------------------------------------------------- */

struct seen_event {
	uint64_t seq;
	bool remote, applied, bulk;
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
	e->bulk = ev->bulk;
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
		dfs_buf_printf(out, "M %.*s live=%d clock=%llu signer=%s objects=%llu mtime=%llu\n",
			       (int)(klen - 1), key + 1, m.live, (unsigned long long)m.clock,
			       hex(h1, m.signer.b, DFS_PUBKEY_LEN), (unsigned long long)m.objects,
			       (unsigned long long)m.mtime);
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
	case 'B':
	case 'Y':
	case 'Z': {
		/* Conflicts (conflict.c): the key and the value, as hex past the entity. */
		char kx[2 * (DFS_UPDATE_NAME_MAX + 64) + 1], vx[2 * 128 + 1];
		cr_assert_gt(klen, 1 + DFS_PUBKEY_LEN);
		cr_assert_leq(vlen, 128);
		dfs_buf_printf(out, "%c %.16s %s = %s\n", key[0], hex(h1, key + 1, DFS_PUBKEY_LEN),
			       hex(kx, key + 1 + DFS_PUBKEY_LEN, klen - 1 - DFS_PUBKEY_LEN),
			       hex(vx, val, vlen));
		break;
	}
	case 'X':
		cr_assert_gt(klen, 1 + DFS_PUBKEY_LEN);
		dfs_buf_printf(out, "X %.16s %.*s = ", hex(h1, key + 1, DFS_PUBKEY_LEN),
			       (int)(klen - 1 - DFS_PUBKEY_LEN), key + 1 + DFS_PUBKEY_LEN);
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
	dfs_value_free(val);
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
	/*
	 * Conflict records (B, Y, Z) are compared by check_conflicts(): a late
	 * grant change re-judges updates without them (conflict.c).
	 */
	static const char tags[] = "MNECFVX";
	struct dfs_buf out;
	size_t len;

	dfs_buf_init(&out);
	dump_api(n, &out);
	for (const char *t = tags; *t && !visible_only; t++)
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
	dfs_value_free(val);
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
	dfs_value_free(val);
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

/* What every node must show for one field. */
struct expect_field {
	const struct dfs_pubkey *obj;
	const char *path;
	const char *value;		/* NULL: deleted */
	uint64_t clock;			/* of the latest update in the value */
	const struct dfs_pubkey *signer;
	uint64_t base_clock;		/* 0: not checked */
	bool all_applied;
	int nrecs;
};

static void check_field(struct node *b, const struct outcome *out, const char *desc, void *ctx)
{
	struct expect_field *e = ctx;
	struct dfs_field_rec f;
	uint8_t *val;
	size_t len;

	if (e->all_applied)
		expect_all_applied(out, e->nrecs, desc);
	if (e->value) {
		expect_value(b, e->obj, e->path, e->value, desc);
		cr_assert_eq(dfs_db_get_field(b->db, e->obj, e->path, &f), 0);
	} else {
		cr_assert_eq(dfs_db_get_field(b->db, e->obj, e->path, &f), -ENOENT,
			     "%s: %s is deleted", desc, e->path);
		cr_assert_eq(dfs_db_read_field(b->db, e->obj, e->path, &val, &len), -ENOENT,
			     "%s", desc);
		struct names ns = list_fields(b, e->obj, NULL);
		for (int i = 0; i < ns.n; i++)
			cr_assert_str_neq(ns.v[i], e->path, "%s: a deleted field is not listed",
					  desc);
		cr_assert_eq(raw_field(b, e->obj, e->path, &f), 0, "%s: the tombstone", desc);
		cr_assert_not(f.alive, "%s", desc);
		cr_assert_eq(f.size, 0, "%s", desc);
	}
	cr_assert_eq(f.clock, e->clock, "%s: %s clock %llu, want %llu", desc, e->path,
		     (unsigned long long)f.clock, (unsigned long long)e->clock);
	if (e->signer)
		cr_assert_arr_eq(f.signer.b, e->signer->b, DFS_PUBKEY_LEN, "%s: signer", desc);
	if (e->base_clock)
		cr_assert_eq(f.base_clock, e->base_clock, "%s: base clock", desc);
}

/* ---- 1. last writer wins ---------------------------------------------------- */

/* Two sets made on two forks (the same prev): the later clock wins everywhere. */
Test(converge, concurrent_sets_last_writer_wins)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	craft_field(&rs, "one", DFS_OP_FIELD_SET, &k, "title", "one", c + ms(10), cr);
	const struct rec *two =
		craft_field(&rs, "two", DFS_OP_FIELD_SET, &k, "title", "two", c + ms(20), cr);
	struct expect_field e = { &k, "title", "two", two->clock, &k, two->clock, true, rs.n };
	converge(&rs, NULL, false, check_field, &e);
	recs_release(&rs);
}

/*
 * Equal clocks: the signer breaks the tie (open policy, so the node key may
 * write the object). An older set from the owner loses to both.
 */
Test(converge, equal_clock_sets_tie_broken_by_signer)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	const struct dfs_pubkey *node = dfs_keyring_node(a.kr);
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	craft(&rs, "owner", a.kr, DFS_OP_FIELD_SET, &k, &k, "notes", "title", "owner",
	      c + ms(10), &cr->hash);
	craft(&rs, "node", a.kr, DFS_OP_FIELD_SET, &k, node, "notes", "title", "node", c + ms(10),
	      &cr->hash);
	craft(&rs, "older", a.kr, DFS_OP_FIELD_SET, &k, &k, "notes", "title", "older", c + ms(5),
	      &cr->hash);
	bool node_wins = memcmp(node->b, k.b, DFS_PUBKEY_LEN) > 0;
	struct expect_field e = { &k, "title", node_wins ? "node" : "owner", c + ms(10),
				  node_wins ? node : &k, c + ms(10), true, rs.n };
	converge(&rs, NULL, true, check_field, &e);
	recs_release(&rs);
}

/*
 * Two updates with the same (clock, signer) and different bytes can only
 * come from one key used on two nodes, but they must still converge: the
 * hash decides, as it does for appends.
 */
Test(converge, equal_clock_and_signer_sets_converge)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	craft_field(&rs, "p", DFS_OP_FIELD_SET, &k, "title", "p", c + ms(10), cr);
	craft_field(&rs, "q", DFS_OP_FIELD_SET, &k, "title", "q", c + ms(10), cr);
	converge(&rs, NULL, false, NULL, NULL);
	recs_release(&rs);
}

/* ---- 2. appends ------------------------------------------------------------- */

/*
 * Appends made on A and on a concurrent fork (crafted, received by A out of
 * order), then a later set on the fork followed by appends on both sides:
 * the value is the latest set followed by every append made after it, in
 * (clock, signer, hash) order, on A and on every node whatever the order.
 */
Test(converge, concurrent_appends_then_set)
{
	struct recs rs = { 0 }, fork = { 0 }, all = { 0 };
	struct dfs_pubkey k;
	const struct rec *b1, *b3, *s, *b, *old;

	cr_assert_eq(dfs_db_create_model(a.db, "notes"), 0);
	cr_assert_eq(dfs_db_create_object(a.db, "notes", "list", &k), 0);
	cr_assert_eq(dfs_db_set_field(a.db, &k, "items", (const uint8_t *)"S0;", 3), 0);
	sleep_ms(3);
	cr_assert_eq(dfs_db_append_field(a.db, &k, "items", (const uint8_t *)"a1;", 3), 0);
	sleep_ms(3);
	cr_assert_eq(dfs_db_append_field(a.db, &k, "items", (const uint8_t *)"a2;", 3), 0);
	cr_assert_eq(log_to_recs(&a, 0, &rs), 5);
	const struct rec *s0 = &rs.r[2], *a1 = &rs.r[3], *a2 = &rs.r[4];
	cr_assert_gt(a1->clock, s0->clock + 1);
	cr_assert_gt(a2->clock, a1->clock + 1);

	/* The fork: appends made after S0, interleaved in time with A's. */
	b1 = craft_field(&fork, "b1", DFS_OP_FIELD_APPEND, &k, "items", "b1;", s0->clock + 1, s0);
	b3 = craft_field(&fork, "b3", DFS_OP_FIELD_APPEND, &k, "items", "b3;", a1->clock + 1, b1);
	cr_assert_eq(dfs_db_receive(a.db, b1->data, b1->len, NULL), 0);
	cr_assert_eq(dfs_db_receive(a.db, b3->data, b3->len, NULL), 0);
	expect_value(&a, &k, "items", "S0;b1;a1;b3;a2;", "node A");

	cr_assert_eq(log_to_recs(&a, 0, &all), 7);
	char *want = dump(&a);
	struct expect_field e = { &k, "items", "S0;b1;a1;b3;a2;", a2->clock, &k, s0->clock,
				  true, all.n };
	converge(&all, want, false, check_field, &e);
	free(want);
	recs_release(&all);

	/* A later set on the fork, appends after it on both sides, and an old append. */
	sleep_ms(3);
	cr_assert_eq(dfs_db_append_field(a.db, &k, "items", (const uint8_t *)"a4;", 3), 0);
	uint64_t a4 = last_clock(&a);
	cr_assert_gt(a4, a2->clock + 2);
	s = craft_field(&fork, "S", DFS_OP_FIELD_SET, &k, "items", "S;", a2->clock + 1, b3);
	b = craft_field(&fork, "b", DFS_OP_FIELD_APPEND, &k, "items", "b;", a2->clock + 2, s);
	old = craft_field(&fork, "old", DFS_OP_FIELD_APPEND, &k, "items", "old;", a1->clock + 2,
			  b3);
	cr_assert_eq(dfs_db_receive(a.db, s->data, s->len, NULL), 0);
	expect_value(&a, &k, "items", "S;a4;", "node A, after the late set");
	cr_assert_eq(dfs_db_receive(a.db, b->data, b->len, NULL), 0);
	cr_assert_eq(dfs_db_receive(a.db, old->data, old->len, NULL), 0);
	expect_value(&a, &k, "items", "S;b;a4;", "node A");

	cr_assert_eq(log_to_recs(&a, 0, &all), 11);
	want = dump(&a);
	struct expect_field e2 = { &k, "items", "S;b;a4;", a4, &k, a2->clock + 1, true, all.n };
	converge(&all, want, false, check_field, &e2);
	free(want);
	recs_release(&all);
	recs_release(&fork);
	recs_release(&rs);
}

/* Appends with equal (clock, signer) are ordered by their hashes, in every order. */
Test(converge, equal_clock_and_signer_appends_sort_by_hash)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	uint64_t c = base_clock();
	char want[16];

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	const struct rec *s = craft_field(&rs, "S", DFS_OP_FIELD_SET, &k, "log", "S;", c + ms(1),
					  cr);
	const struct rec *x = craft_field(&rs, "x", DFS_OP_FIELD_APPEND, &k, "log", "x;",
					  c + ms(5), s);
	const struct rec *y = craft_field(&rs, "y", DFS_OP_FIELD_APPEND, &k, "log", "y;",
					  c + ms(5), s);
	bool x_first = memcmp(x->hash.b, y->hash.b, DFS_HASH_LEN) < 0;
	snprintf(want, sizeof(want), "S;%s", x_first ? "x;y;" : "y;x;");
	struct expect_field e = { &k, "log", want, c + ms(5), &k, s->clock, true, rs.n };
	converge(&rs, NULL, false, check_field, &e);
	recs_release(&rs);
}

/* Appends with equal clocks by two signers are ordered by signer (open policy). */
Test(converge, equal_clock_appends_sort_by_signer)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	const struct dfs_pubkey *node = dfs_keyring_node(a.kr);
	uint64_t c = base_clock();
	char want[16];

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	const struct rec *s = craft_field(&rs, "S", DFS_OP_FIELD_SET, &k, "log", "S;", c + ms(1),
					  cr);
	craft(&rs, "owner", a.kr, DFS_OP_FIELD_APPEND, &k, &k, "notes", "log", "o;", c + ms(5),
	      &s->hash);
	craft(&rs, "node", a.kr, DFS_OP_FIELD_APPEND, &k, node, "notes", "log", "n;", c + ms(5),
	      &s->hash);
	bool owner_first = memcmp(k.b, node->b, DFS_PUBKEY_LEN) < 0;
	snprintf(want, sizeof(want), "S;%s", owner_first ? "o;n;" : "n;o;");
	struct expect_field e = { &k, "log", want, c + ms(5), owner_first ? node : &k, s->clock,
				  true, rs.n };
	converge(&rs, NULL, true, check_field, &e);
	recs_release(&rs);
}

/* ---- 3. deletes ------------------------------------------------------------- */

/* A delete, and an older set from another fork arriving later: the field stays deleted. */
Test(converge, delete_beats_older_set)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	const struct rec *v1 = craft_field(&rs, "v1", DFS_OP_FIELD_SET, &k, "title", "v1",
					   c + ms(10), cr);
	const struct rec *del = craft_field(&rs, "del", DFS_OP_FIELD_DELETE, &k, "title", NULL,
					    c + ms(30), v1);
	craft_field(&rs, "v2", DFS_OP_FIELD_SET, &k, "title", "v2", c + ms(20), cr);
	struct expect_field e = { &k, "title", NULL, del->clock, &k, del->clock, true, rs.n };
	converge(&rs, NULL, false, check_field, &e);
	recs_release(&rs);
}

/* After a tombstone, an older append stays out and a newer one starts afresh. */
Test(converge, appends_around_a_delete)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	const struct rec *v1 = craft_field(&rs, "v1", DFS_OP_FIELD_SET, &k, "log", "v1;",
					   c + ms(10), cr);
	const struct rec *del = craft_field(&rs, "del", DFS_OP_FIELD_DELETE, &k, "log", NULL,
					    c + ms(30), v1);
	craft_field(&rs, "old", DFS_OP_FIELD_APPEND, &k, "log", "old;", c + ms(20), v1);
	struct expect_field e = { &k, "log", NULL, del->clock, &k, del->clock, true, rs.n };
	converge(&rs, NULL, false, check_field, &e);

	const struct rec *nw = craft_field(&rs, "new", DFS_OP_FIELD_APPEND, &k, "log", "new;",
					   c + ms(40), del);
	struct expect_field e2 = { &k, "log", "new;", nw->clock, &k, del->clock, true, rs.n };
	converge(&rs, NULL, false, check_field, &e2);
	recs_release(&rs);
}

/* ---- 4. one name, several objects --------------------------------------------- */

struct expect_names {
	int n;
	const char *shown[4];
	const struct dfs_pubkey *key[4];
	const struct dfs_pubkey *gone;	/* removed, or NULL */
	int nrecs;
	const char *name[4];	/* the name each was created under; NULL: "doc" */
};

static void check_names(struct node *b, const struct outcome *out, const char *desc, void *ctx)
{
	struct expect_names *e = ctx;
	struct names ns = list_objects(b, "notes");
	struct dfs_object_rec o;
	struct dfs_pubkey k;

	expect_all_applied(out, e->nrecs, desc);
	cr_assert_eq(ns.n, e->n, "%s: %d objects listed, want %d", desc, ns.n, e->n);
	for (int i = 0; i < e->n; i++) {
		cr_assert_eq(dfs_db_get_object(b->db, "notes", e->shown[i], &k, &o), 0, "%s: %s",
			     desc, e->shown[i]);
		cr_assert_arr_eq(k.b, e->key[i]->b, DFS_PUBKEY_LEN, "%s: %s is the wrong object",
				 desc, e->shown[i]);
		cr_assert_str_eq(o.shown, e->shown[i], "%s", desc);
		cr_assert_str_eq(o.name, e->name[i] ? e->name[i] : "doc",
				 "%s: the name as signed stays", desc);
		bool listed = false;
		for (int j = 0; j < ns.n; j++)
			listed |= strcmp(ns.v[j], e->shown[i]) == 0;
		cr_assert(listed, "%s: %s not listed", desc, e->shown[i]);
	}
	if (e->gone)
		cr_assert_eq(dfs_db_get_object_by_key(b->db, e->gone, &o), -ENOENT, "%s", desc);
}

/* "doc~XXXXXXXX" for key k. */
static void tilde(char out[16], const struct dfs_pubkey *k)
{
	char h[9];

	hex8(h, k);
	snprintf(out, 16, "doc~%s", h);
}

Test(converge, concurrent_creates_of_one_name)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k1, k2;
	char t2[16];
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	craft_object(&rs, "k1", "notes", "doc", c + ms(10), &k1);
	craft_object(&rs, "k2", "notes", "doc", c + ms(20), &k2);
	tilde(t2, &k2);
	cr_assert_eq(strlen(t2), 12);
	struct expect_names e = { 2, { "doc", t2 }, { &k1, &k2 }, NULL, rs.n, { NULL } };
	converge(&rs, NULL, false, check_names, &e);
	recs_release(&rs);
}

/*
 * A batch of creates is one write, a create under a name in use too: the
 * scan for the name's holder sees what the group staged, and nothing is
 * written out before the group ends. The name is still settled.
 */
Test(converge, creates_of_new_names_stay_one_write)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k[6];
	struct node b;
	char name[8], t5[16];
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), i ? "doc%d" : "doc", i);
		craft_object(&rs, "create", "notes", name, c + ms(10 + i), &k[i]);
	}
	craft_object(&rs, "same name, later", "notes", "doc", c + ms(20), &k[5]);

	node_make(&b, "b");
	struct dfs_store_stats before, after;
	dfs_store_get_stats(b.st, &before);
	struct dfs_db_group *g = dfs_db_group_new(b.db);
	cr_assert_not_null(g);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(dfs_db_group_receive(g, rs.r[i].data, rs.r[i].len, NULL, NULL, NULL), 0,
			     "update %d", i);
	dfs_store_get_stats(b.st, &after);
	cr_assert_eq(after.writes, before.writes, "nothing written before the group ends");
	/* The name in use: its holder is found among what is staged. */
	cr_assert_eq(dfs_db_group_receive(g, rs.r[6].data, rs.r[6].len, NULL, NULL, NULL), 0);
	dfs_store_get_stats(b.st, &after);
	cr_assert_eq(after.writes, before.writes, "nothing written to find the holder");
	cr_assert_eq(dfs_db_group_end(g), 0);
	dfs_store_get_stats(b.st, &after);
	cr_assert_eq(after.writes, before.writes + 1, "the group is one write");

	struct dfs_pubkey got;
	struct dfs_object_rec o;
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), i ? "doc%d" : "doc", i);
		cr_assert_eq(dfs_db_get_object(b.db, "notes", name, &got, &o), 0, "%s", name);
		cr_assert_eq(memcmp(got.b, k[i].b, DFS_PUBKEY_LEN), 0, "%s", name);
	}
	tilde(t5, &k[5]);
	cr_assert_eq(dfs_db_get_object(b.db, "notes", t5, &got, &o), 0);
	cr_assert_eq(memcmp(got.b, k[5].b, DFS_PUBKEY_LEN), 0);
	node_destroy(&b);
	recs_release(&rs);
}

/*
 * An object literally named as another's demoted form: the literal name
 * wins and the demoted one shows with 16 hex digits, in every order; once
 * the literal one is removed, the short form comes back.
 */
Test(converge, a_literal_name_beats_a_demoted_one)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k1, k2, k3;
	char t2[16], h16[17], long2[32];
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	craft_object(&rs, "k1", "notes", "doc", c + ms(10), &k1);
	craft_object(&rs, "k2", "notes", "doc", c + ms(20), &k2);
	tilde(t2, &k2);
	const struct rec *c3 = craft_object(&rs, "k3", "notes", t2, c + ms(30), &k3);
	dfs_hex_encode(h16, k2.b, 8);
	snprintf(long2, sizeof(long2), "doc~%s", h16);
	struct expect_names e = { 3, { "doc", t2, long2 }, { &k1, &k3, &k2 }, NULL, rs.n,
				  { NULL, t2, NULL } };
	converge(&rs, NULL, false, check_names, &e);

	craft(&rs, "rm3", a.kr, DFS_OP_OBJECT_REMOVE, &k3, &k3, "notes", "", NULL, c + ms(40),
	      &c3->hash);
	struct expect_names back = { 2, { "doc", t2 }, { &k1, &k2 }, &k3, rs.n, { NULL } };
	converge(&rs, NULL, false, check_names, &back);
	recs_release(&rs);
}

/* mkdir of the name ls shows for a demoted object is refused, as any shown name is. */
Test(converge, a_local_create_of_a_demoted_name_is_refused)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k1, k2, k3, got;
	struct dfs_object_rec o;
	struct node b;
	char t2[16];
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	craft_object(&rs, "k1", "notes", "doc", c + ms(10), &k1);
	craft_object(&rs, "k2", "notes", "doc", c + ms(20), &k2);
	node_make(&b, "b");
	for (int i = 0; i < rs.n; i++)
		cr_assert_eq(dfs_db_receive(b.db, rs.r[i].data, rs.r[i].len, NULL), 0);
	tilde(t2, &k2);
	cr_assert_eq(dfs_db_create_object(b.db, "notes", t2, &k3), -EEXIST);
	cr_assert_eq(dfs_db_get_object(b.db, "notes", t2, &got, &o), 0);
	cr_assert_arr_eq(got.b, k2.b, DFS_PUBKEY_LEN, "%s still shows k2", t2);
	node_destroy(&b);
	recs_release(&rs);
}

Test(converge, removing_the_holder_promotes_the_next)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k1, k2;
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *c1 = craft_object(&rs, "k1", "notes", "doc", c + ms(10), &k1);
	craft_object(&rs, "k2", "notes", "doc", c + ms(20), &k2);
	craft(&rs, "rm1", a.kr, DFS_OP_OBJECT_REMOVE, &k1, &k1, "notes", "", NULL, c + ms(30),
	      &c1->hash);
	struct expect_names e = { 1, { "doc" }, { &k2 }, &k1, rs.n, { NULL } };
	converge(&rs, NULL, false, check_names, &e);
	recs_release(&rs);
}

/* Three contenders, two created at the same clock: the key breaks the tie. */
Test(converge, creates_at_one_clock_ordered_by_key)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k1, k2, k3;
	char t2[16], t3[16];
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *c1 = craft_object(&rs, "k1", "notes", "doc", c + ms(10), &k1);
	craft_object(&rs, "k2", "notes", "doc", c + ms(20), &k2);
	craft_object(&rs, "k3", "notes", "doc", c + ms(20), &k3);
	tilde(t2, &k2);
	tilde(t3, &k3);
	bool k2_first = memcmp(k2.b, k3.b, DFS_PUBKEY_LEN) < 0;
	struct expect_names e = { 3, { "doc", t2, t3 }, { &k1, &k2, &k3 }, NULL, rs.n, { NULL } };
	converge(&rs, NULL, false, check_names, &e);

	craft(&rs, "rm1", a.kr, DFS_OP_OBJECT_REMOVE, &k1, &k1, "notes", "", NULL, c + ms(30),
	      &c1->hash);
	struct expect_names e2 = { 2,
				   { "doc", k2_first ? t3 : t2 },
				   { k2_first ? &k2 : &k3, k2_first ? &k3 : &k2 },
				   &k1,
				   rs.n, { NULL } };
	converge(&rs, NULL, false, check_names, &e2);
	recs_release(&rs);
}

static void expect_event(const struct seen_event *e, uint64_t seq, uint8_t op, const char *object,
			 const char *path, const char *from, const char *to)
{
	cr_assert_eq(e->seq, seq, "event seq %llu, want %llu", (unsigned long long)e->seq,
		     (unsigned long long)seq);
	cr_assert(e->remote, "seq %llu", (unsigned long long)seq);
	cr_assert(e->applied, "seq %llu", (unsigned long long)seq);
	cr_assert_eq(e->op, op, "seq %llu", (unsigned long long)seq);
	cr_assert_str_eq(e->model, "notes");
	cr_assert_str_eq(e->object, object, "seq %llu: object", (unsigned long long)seq);
	cr_assert_str_eq(e->path, path, "seq %llu: path", (unsigned long long)seq);
	cr_assert_str_eq(e->from, from, "seq %llu: renamed_from", (unsigned long long)seq);
	cr_assert_str_eq(e->to, to, "seq %llu: renamed_to", (unsigned long long)seq);
}

/* The observer names the object that moves to a new name, both ways. */
Test(converge, observer_tells_renames)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k1, k2;
	struct outcome out;
	struct seen seen = { 0 };
	struct node b;
	char t2[16];
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *c1 = craft_object(&rs, "k1", "notes", "doc", c + ms(10), &k1);
	craft_object(&rs, "k2", "notes", "doc", c + ms(20), &k2);
	craft(&rs, "rm1", a.kr, DFS_OP_OBJECT_REMOVE, &k1, &k1, "notes", "", NULL, c + ms(30),
	      &c1->hash);
	tilde(t2, &k2);

	/* The later object arrives first: it takes the name, then yields it, then gets it back. */
	node_make(&b, "b");
	dfs_db_set_observer(b.db, observe, &seen);
	static const int later_first[] = { 0, 2, 1, 3 };
	feed(&b, &rs, later_first, &out, "later first");
	expect_all_applied(&out, rs.n, "later first");
	cr_assert_eq(seen.n, 4);
	expect_event(&seen.e[0], 1, DFS_OP_MODEL_CREATE, "-", "-", "-", "-");
	expect_event(&seen.e[1], 2, DFS_OP_OBJECT_CREATE, "doc", "-", "-", "-");
	expect_event(&seen.e[2], 3, DFS_OP_OBJECT_CREATE, "doc", "-", "doc", t2);
	expect_event(&seen.e[3], 4, DFS_OP_OBJECT_REMOVE, "doc", "-", t2, "doc");
	node_destroy(&b);

	/* In creation order: the later one shows with its suffix at once. */
	node_make(&b, "b");
	memset(&seen, 0, sizeof(seen));
	dfs_db_set_observer(b.db, observe, &seen);
	static const int in_order[] = { 0, 1, 2 };
	rs.n = 3;	/* without the remove */
	feed(&b, &rs, in_order, &out, "in order");
	rs.n = 4;
	cr_assert_eq(seen.n, 3);
	expect_event(&seen.e[1], 2, DFS_OP_OBJECT_CREATE, "doc", "-", "-", "-");
	expect_event(&seen.e[2], 3, DFS_OP_OBJECT_CREATE, t2, "-", "-", "-");
	node_destroy(&b);
	recs_release(&rs);
}

/* ---- 5. waiting for what an update builds on ---------------------------------- */

Test(converge, unknown_prev_waits)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k, id;
	struct dfs_hash missing;
	struct dfs_db_stats stats;
	struct node b;
	uint64_t c = base_clock();

	const struct rec *m = craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	const struct rec *s1 = craft_field(&rs, "s1", DFS_OP_FIELD_SET, &k, "title", "one",
					   c + ms(10), cr);
	const struct rec *s2 = craft_field(&rs, "s2", DFS_OP_FIELD_SET, &k, "title", "two",
					   c + ms(20), s1);
	dfs_db_model_id("notes", &id);

	node_make(&b, "b");
	cr_assert_eq(dfs_db_receive(b.db, s2->data, s2->len, &missing), -EAGAIN);
	cr_assert_arr_eq(missing.b, s1->hash.b, DFS_HASH_LEN, "s2 waits for s1");
	cr_assert_eq(dfs_db_apply(b.db, s2->data, s2->len), -EAGAIN, "no missing pointer");
	cr_assert_eq(dfs_db_receive(b.db, s1->data, s1->len, &missing), -EAGAIN);
	cr_assert_arr_eq(missing.b, cr->hash.b, DFS_HASH_LEN, "s1 waits for the create");
	cr_assert_eq(dfs_db_receive(b.db, cr->data, cr->len, &missing), -EAGAIN);
	cr_assert_arr_eq(missing.b, id.b, DFS_HASH_LEN, "the create waits for the model id");
	cr_assert_eq(dfs_db_log_head(b.db), 0, "nothing waiting is logged");
	dfs_db_get_stats(b.db, &stats);
	cr_assert_eq(stats.refused, 0, "waiting is not refusing");
	cr_assert_eq(stats.seq, 0);

	cr_assert_eq(dfs_db_receive(b.db, m->data, m->len, &missing), 0);
	cr_assert_eq(dfs_db_receive(b.db, cr->data, cr->len, &missing), 0);
	cr_assert_eq(dfs_db_receive(b.db, s2->data, s2->len, &missing), -EAGAIN, "still waits");
	cr_assert_arr_eq(missing.b, s1->hash.b, DFS_HASH_LEN);
	cr_assert_eq(dfs_db_receive(b.db, s1->data, s1->len, &missing), 0);
	cr_assert_eq(dfs_db_receive(b.db, s2->data, s2->len, &missing), 0);
	expect_value(&b, &k, "title", "two", "node B");
	cr_assert_eq(dfs_db_receive(b.db, s2->data, s2->len, &missing), -EALREADY);
	cr_assert_eq(dfs_db_log_head(b.db), 4);
	node_destroy(&b);
	recs_release(&rs);
}

/* ---- 6. one model created on two nodes ----------------------------------------- */

struct expect_model {
	uint64_t clock, mtime;
	const struct dfs_pubkey *signer;
};

static void check_model(struct node *b, const struct outcome *out, const char *desc, void *ctx)
{
	struct expect_model *e = ctx;
	struct dfs_model_rec m;

	expect_all_applied(out, 2, desc);
	cr_assert_eq(dfs_db_get_model(b->db, "notes", &m), 0, "%s", desc);
	cr_assert(m.live, "%s", desc);
	cr_assert_eq(m.clock, e->clock, "%s: the latest create", desc);
	cr_assert_arr_eq(m.signer.b, e->signer->b, DFS_PUBKEY_LEN, "%s: the latest create's signer",
			 desc);
	cr_assert_eq(m.mtime, e->mtime, "%s: model mtime %llu, want the latest clock %llu", desc,
		     (unsigned long long)m.mtime, (unsigned long long)e->mtime);
	struct names ns = { 0 };
	cr_assert_eq(dfs_db_list_models(b->db, collect_name, &ns), 0);
	cr_assert_eq(ns.n, 1, "%s", desc);
	cr_assert_str_eq(ns.v[0], "notes");
}

Test(converge, model_created_on_both_nodes)
{
	struct recs rs = { 0 };
	struct node n2;
	uint64_t c = base_clock();

	node_make(&n2, "n2");
	craft_model(&rs, "on-a", a.kr, "notes", c + ms(10));
	craft_model(&rs, "on-b", n2.kr, "notes", c + ms(5));
	struct expect_model e = { c + ms(10), c + ms(10), dfs_keyring_node(a.kr) };
	converge(&rs, NULL, false, check_model, &e);
	recs_release(&rs);
	node_destroy(&n2);
}

Test(converge, model_created_on_both_nodes_at_one_clock)
{
	struct recs rs = { 0 };
	struct node n2;
	uint64_t c = base_clock();

	node_make(&n2, "n2");
	craft_model(&rs, "on-a", a.kr, "notes", c);
	craft_model(&rs, "on-b", n2.kr, "notes", c);
	const struct dfs_pubkey *ka = dfs_keyring_node(a.kr), *kb = dfs_keyring_node(n2.kr);
	struct expect_model e = { c, c, memcmp(ka->b, kb->b, DFS_PUBKEY_LEN) > 0 ? ka : kb };
	converge(&rs, NULL, false, check_model, &e);
	recs_release(&rs);
	node_destroy(&n2);
}

/* ---- 6b. a model owned by nobody: creates and removes by two keys -------------- */

/* What every node must show of the model "notes" once it has every update. */
struct expect_shown {
	bool shown, live;
	uint64_t objects;
	uint64_t clock;			/* of the latest create or remove */
	const struct dfs_pubkey *signer;
	int nrecs;			/* > 0: each applied */
	const struct dfs_pubkey *object;	/* listed under "o" where given */
};

static void check_shown(struct node *b, const struct outcome *out, const char *desc, void *ctx)
{
	struct expect_shown *e = ctx;
	struct dfs_model_rec m;
	struct names ns = { 0 };

	if (e->nrecs)
		expect_all_applied(out, e->nrecs, desc);
	cr_assert_eq(dfs_db_get_model(b->db, "notes", &m), e->shown ? 0 : -ENOENT, "%s", desc);
	cr_assert_eq(dfs_db_list_models(b->db, collect_name, &ns), 0);
	cr_assert_eq(ns.n, e->shown ? 1 : 0, "%s: models listed", desc);
	if (e->shown) {
		cr_assert_eq(m.live, e->live, "%s: live", desc);
		cr_assert_eq(m.objects, e->objects, "%s: objects", desc);
		cr_assert_eq(m.clock, e->clock, "%s: the latest create or remove", desc);
		cr_assert_arr_eq(m.signer.b, e->signer->b, DFS_PUBKEY_LEN, "%s: its signer", desc);
	}
	if (e->object) {
		struct dfs_object_rec o;
		struct dfs_pubkey k;
		cr_assert_eq(dfs_db_get_object(b->db, "notes", "o", &k, &o), 0, "%s: notes/o", desc);
		cr_assert_arr_eq(k.b, e->object->b, DFS_PUBKEY_LEN, "%s", desc);
	}
}

static const struct rec *craft_model_remove(struct recs *rs, const char *label,
					    struct dfs_keyring *kr, uint64_t clock,
					    const struct rec *prev)
{
	struct dfs_pubkey id;

	dfs_db_model_id("notes", &id);
	return craft(rs, label, kr, DFS_OP_MODEL_REMOVE, &id, dfs_keyring_node(kr), "notes", "",
		     NULL, clock, &prev->hash);
}

/*
 * THREATS finding 9: kA creates and removes the model, kB creates it again
 * later without having seen either. The latest of the three is kB's
 * create: alive on every node, whatever the order.
 */
Test(converge, model_recreated_after_a_remove_it_did_not_see)
{
	struct recs rs = { 0 };
	struct node n2;
	uint64_t c = base_clock();

	node_make(&n2, "n2");
	const struct rec *ca = craft_model(&rs, "cA", a.kr, "notes", c);
	craft_model_remove(&rs, "rm", a.kr, c + ms(20), ca);
	craft_model(&rs, "cB", n2.kr, "notes", c + ms(30));
	struct expect_shown e = { .shown = true, .live = true, .clock = c + ms(30),
				  .signer = dfs_keyring_node(n2.kr), .nrecs = 3 };
	converge(&rs, NULL, false, check_shown, &e);
	recs_release(&rs);
	node_destroy(&n2);
}

/* The same three with kB's create earlier than the remove: removed on every node. */
Test(converge, model_removed_after_a_create_it_did_not_see)
{
	struct recs rs = { 0 };
	struct node n2;
	uint64_t c = base_clock();

	node_make(&n2, "n2");
	const struct rec *ca = craft_model(&rs, "cA", a.kr, "notes", c);
	craft_model_remove(&rs, "rm", a.kr, c + ms(20), ca);
	craft_model(&rs, "cB", n2.kr, "notes", c + ms(10));
	struct expect_shown e = { .shown = false, .nrecs = 3 };
	converge(&rs, NULL, false, check_shown, &e);
	recs_release(&rs);
	node_destroy(&n2);
}

/*
 * N1 mkdir N; rmdir N while N2, cut off, mkdir N N/o: the remove is the
 * latest of the creates and removes, but N holds o, so N shows with o on
 * every node, whatever the order; once o goes, N goes with it.
 */
Test(converge, a_remove_never_hides_an_object)
{
	struct recs rs = { 0 };
	struct node n2;
	struct dfs_pubkey k;
	uint64_t c = base_clock();

	node_make(&n2, "n2");
	const struct rec *ca = craft_model(&rs, "cA", a.kr, "notes", c);
	craft_model_remove(&rs, "rm", a.kr, c + ms(20), ca);
	craft_model(&rs, "cB", n2.kr, "notes", c + ms(5));
	craft_object(&rs, "o", "notes", "o", c + ms(10), &k);
	struct expect_shown e = { .shown = true, .live = false, .objects = 1, .clock = c + ms(20),
				  .signer = dfs_keyring_node(a.kr), .nrecs = 4, .object = &k };
	converge(&rs, NULL, false, check_shown, &e);

	/* And with the object created after the remove. */
	recs_release(&rs);
	ca = craft_model(&rs, "cA", a.kr, "notes", c);
	craft_model_remove(&rs, "rm", a.kr, c + ms(20), ca);
	craft_model(&rs, "cB", n2.kr, "notes", c + ms(5));
	const struct rec *o = craft_object(&rs, "o", "notes", "o", c + ms(30), &k);
	e.object = &k;
	converge(&rs, NULL, false, check_shown, &e);

	/* And once o is removed, nothing keeps the model (kB's create left out: 24 orders). */
	recs_release(&rs);
	ca = craft_model(&rs, "cA", a.kr, "notes", c);
	craft_model_remove(&rs, "rm", a.kr, c + ms(20), ca);
	o = craft_object(&rs, "o", "notes", "o", c + ms(30), &k);
	craft(&rs, "rm-o", a.kr, DFS_OP_OBJECT_REMOVE, &k, &k, "notes", "", NULL, c + ms(40),
	      &o->hash);
	struct expect_shown gone = { .shown = false, .nrecs = 4 };
	converge(&rs, NULL, false, check_shown, &gone);
	recs_release(&rs);
	node_destroy(&n2);
}

/* Removes by two keys at one clock, and a create and a remove at one (clock, key). */
Test(converge, model_creates_and_removes_at_one_clock)
{
	struct recs rs = { 0 };
	struct node n2;
	uint64_t c = base_clock();

	node_make(&n2, "n2");
	const struct rec *ca = craft_model(&rs, "cA", a.kr, "notes", c);
	const struct rec *cb = craft_model(&rs, "cB", n2.kr, "notes", c);
	craft_model_remove(&rs, "rmA", a.kr, c + ms(10), ca);
	craft_model_remove(&rs, "rmB", n2.kr, c + ms(10), cb);
	const struct dfs_pubkey *ka = dfs_keyring_node(a.kr);
	struct expect_shown e = { .shown = false, .nrecs = 4 };
	converge(&rs, NULL, false, check_shown, &e);

	/* A key creates again at the very (clock, key) of its remove: the create wins. */
	recs_release(&rs);
	ca = craft_model(&rs, "cA", a.kr, "notes", c);
	craft_model_remove(&rs, "rmA", a.kr, c + ms(10), ca);
	craft_model(&rs, "c-same", a.kr, "notes", c + ms(10));
	struct expect_shown back = { .shown = true, .live = true, .clock = c + ms(10),
				     .signer = ka, .nrecs = 3 };
	converge(&rs, NULL, false, check_shown, &back);
	recs_release(&rs);
	node_destroy(&n2);
}

struct expect_list {
	const char *want;
};

static void check_list(struct node *b, const struct outcome *out, const char *desc, void *ctx)
{
	struct expect_list *e = ctx;
	struct dfs_buf got;

	expect_all_applied(out, 5, desc);
	dfs_buf_init(&got);
	cr_assert_eq(dfs_db_get_encrypted(b->db, "notes", &got), 0, "%s", desc);
	cr_assert(got.len == strlen(e->want) && memcmp(got.data, e->want, got.len) == 0,
		  "%s: .encrypted is \"%.*s\", want \"%s\"", desc, (int)got.len,
		  (const char *)got.data, e->want);
	dfs_buf_release(&got);
}

/*
 * .encrypted: each key's latest list, and their union. kA lists a and
 * salary, then only a; kB lists salary (and, at one clock, two lists: the
 * greater value wins everywhere). salary stays, by kB.
 */
Test(converge, encrypted_lists_of_two_keys)
{
	struct recs rs = { 0 };
	struct node n2;
	struct dfs_pubkey id;
	uint64_t c = base_clock();

	node_make(&n2, "n2");
	dfs_db_model_id("notes", &id);
	const struct dfs_pubkey *ka = dfs_keyring_node(a.kr), *kb = dfs_keyring_node(n2.kr);
	const struct rec *ca = craft_model(&rs, "cA", a.kr, "notes", c);
	const struct rec *l1 = craft(&rs, "A:a,salary", a.kr, DFS_OP_MODEL_META, &id, ka, "notes",
				     "encrypted", "a\nsalary\n", c + ms(10), &ca->hash);
	craft(&rs, "A:a", a.kr, DFS_OP_MODEL_META, &id, ka, "notes", "encrypted", "a\n",
	      c + ms(30), &l1->hash);
	craft(&rs, "B:salary", n2.kr, DFS_OP_MODEL_META, &id, kb, "notes", "encrypted",
	      "salary\n", c + ms(20), &ca->hash);
	craft(&rs, "B:b", n2.kr, DFS_OP_MODEL_META, &id, kb, "notes", "encrypted", "b\n",
	      c + ms(20), &ca->hash);
	struct expect_list e = { strcmp("salary\n", "b\n") > 0 ? "a\nsalary\n" : "a\nb\n" };
	converge(&rs, NULL, false, check_list, &e);
	recs_release(&rs);
	node_destroy(&n2);
}

/* A model update other than a create must build on one: with no prev it is dropped, everywhere. */
Test(converge, a_model_remove_or_list_without_prev_is_malformed)
{
	struct recs rs = { 0 };
	struct dfs_pubkey id;
	uint64_t c = base_clock();

	dfs_db_model_id("notes", &id);
	const struct rec *ca = craft_model(&rs, "cA", a.kr, "notes", c);
	const struct rec *rm = craft(&rs, "rm", a.kr, DFS_OP_MODEL_REMOVE, &id,
				     dfs_keyring_node(a.kr), "notes", "", NULL, c + ms(10), NULL);
	const struct rec *ls = craft(&rs, "ls", a.kr, DFS_OP_MODEL_META, &id,
				     dfs_keyring_node(a.kr), "notes", "encrypted", "x\n", c + ms(10),
				     NULL);
	for (int order = 0; order < 2; order++) {
		struct node b;
		node_make(&b, "b");
		if (order == 0)
			cr_assert_eq(dfs_db_receive(b.db, ca->data, ca->len, NULL), 0);
		cr_assert_eq(dfs_db_receive(b.db, rm->data, rm->len, NULL), -EBADMSG, "%d", order);
		cr_assert_eq(dfs_db_receive(b.db, ls->data, ls->len, NULL), -EBADMSG, "%d", order);
		if (order == 1)
			cr_assert_eq(dfs_db_receive(b.db, ca->data, ca->len, NULL), 0);
		struct dfs_model_rec m;
		cr_assert_eq(dfs_db_get_model(b.db, "notes", &m), 0);
		cr_assert(m.live);
		node_destroy(&b);
	}
	recs_release(&rs);
}

/* ---- 7. the log and held updates ---------------------------------------------- */

Test(converge, log_read_and_held_updates)
{
	struct recs rs = { 0 }, tail = { 0 }, paged = { 0 };
	struct seen seen = { 0 };
	struct dfs_pubkey k;
	struct outcome out;
	struct node b;

	dfs_db_set_observer(a.db, observe, &seen);
	cr_assert_eq(dfs_db_create_model(a.db, "notes"), 0);
	cr_assert_eq(dfs_db_create_object(a.db, "notes", "list", &k), 0);
	cr_assert_eq(dfs_db_set_field(a.db, &k, "title", (const uint8_t *)"mine", 4), 0);
	cr_assert_eq(log_to_recs(&a, 0, &rs), 3);
	cr_assert_eq(seen.n, 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(seen.e[i].seq, (uint64_t)i + 1);
		cr_assert_not(seen.e[i].remote);
		cr_assert(seen.e[i].applied);
	}
	cr_assert_str_eq(seen.e[2].object, "list");
	cr_assert_str_eq(seen.e[2].path, "title");

	/* A genuine signature by the node key, which does not own the object. */
	struct dfs_hash head = head_of(&a, &k);
	const struct rec *forged = craft(&rs, "forged", a.kr, DFS_OP_FIELD_SET, &k,
					 dfs_keyring_node(a.kr), "notes", "title", "forged",
					 base_clock() + ms(10), &head);
	cr_assert_eq(dfs_db_receive(a.db, forged->data, forged->len, NULL), -EPERM);
	expect_value(&a, &k, "title", "mine", "node A");
	struct dfs_hash still = head_of(&a, &k);
	cr_assert_arr_eq(still.b, head.b, DFS_HASH_LEN, "a held update does not move the head");
	cr_assert_eq(dfs_db_log_head(a.db), 4, "the held update is logged");
	cr_assert_eq(seen.n, 4, "the observer is told of the held update");
	cr_assert_eq(seen.e[3].seq, 4);
	cr_assert(seen.e[3].remote);
	cr_assert_not(seen.e[3].applied);
	cr_assert_eq(seen.e[3].op, DFS_OP_FIELD_SET);
	cr_assert_str_eq(seen.e[3].object, "list");
	cr_assert_str_eq(seen.e[3].path, "title");

	cr_assert_eq(log_to_recs(&a, 3, &tail), 1);
	cr_assert_eq(tail.r[0].len, forged->len);
	cr_assert_arr_eq(tail.r[0].data, forged->data, forged->len, "the held record, as received");
	cr_assert_eq(dfs_db_receive(a.db, forged->data, forged->len, NULL), -EALREADY);
	cr_assert_eq(dfs_db_log_head(a.db), 4);
	cr_assert_eq(seen.n, 4);

	/* Reading from any seq, and in pages of about max_bytes. */
	struct recs full = { 0 };
	cr_assert_eq(log_to_recs(&a, 0, &full), 4);
	for (int i = 0; i < 3; i++)
		cr_assert_arr_eq(full.r[i].hash.b, rs.r[i].hash.b, DFS_HASH_LEN);
	cr_assert_arr_eq(full.r[3].hash.b, forged->hash.b, DFS_HASH_LEN);
	struct recs from2 = { 0 };
	cr_assert_eq(log_to_recs(&a, 2, &from2), 2);
	cr_assert_arr_eq(from2.r[0].hash.b, rs.r[2].hash.b, DFS_HASH_LEN);
	struct logged none = { 0 };
	uint64_t upto = 99;
	cr_assert_eq(dfs_db_log_read(a.db, 4, SIZE_MAX, NULL, collect_log, &none, &upto), 0);
	cr_assert_eq(upto, 4, "nothing after 4: upto stays at 4");
	uint64_t after = 0;
	for (int pages = 0; pages < 10; pages++) {
		struct logged lg = { .rs = &paged };
		int n = dfs_db_log_read(a.db, after, 1, NULL, collect_log, &lg, &upto);
		cr_assert_geq(n, 0);
		if (n == 0)
			break;
		cr_assert_eq(n, 1, "max_bytes 1: one entry a page");
		cr_assert_eq(lg.seq[0], after + 1);
		cr_assert_eq(upto, lg.seq[0]);
		after = lg.seq[0];
	}
	/* Entries skip names are passed over unread, and upto covers them. */
	struct logged odd = { 0 };
	cr_assert_eq(dfs_db_log_read(a.db, 0, SIZE_MAX, skip_even, collect_log, &odd, &upto), 2);
	cr_assert_eq(odd.n, 2);
	cr_assert_eq(odd.seq[0], 1);
	cr_assert_eq(odd.seq[1], 3);
	cr_assert_eq(upto, 4, "the skipped last entry counts as read");
	struct logged skipped = { 0 };
	cr_assert_eq(dfs_db_log_read(a.db, 2, SIZE_MAX, skip_all, collect_log, &skipped, &upto),
		     0);
	cr_assert_eq(skipped.n, 0);
	cr_assert_eq(upto, 4, "all skipped: upto still moves on");
	cr_assert_eq(paged.n, 4);
	for (int i = 0; i < 4; i++)
		cr_assert_arr_eq(paged.r[i].hash.b, full.r[i].hash.b, DFS_HASH_LEN);

	/*
	 * Corrupt entries at the end of the log (a bad link, a link to nothing)
	 * are reported and passed over: a sender's place must move past them,
	 * or it would ask for them again forever.
	 */
	struct dfs_db_stats st0, st1;
	struct dfs_buf lkey;
	struct dfs_batch *lb = dfs_batch_new();
	static const uint8_t nowhere[DFS_HASH_LEN] = { 0x5a };
	dfs_db_get_stats(a.db, &st0);
	dfs_buf_init(&lkey);
	dfs_key_log(&lkey, 5);
	cr_assert_eq(dfs_batch_put(lb, lkey.data, lkey.len, "short", 5), 0);
	dfs_buf_reset(&lkey);
	dfs_key_log(&lkey, 6);
	cr_assert_eq(dfs_batch_put(lb, lkey.data, lkey.len, nowhere, sizeof(nowhere)), 0);
	cr_assert_eq(dfs_store_commit(a.st, lb), 0);
	dfs_buf_release(&lkey);
	struct logged bad = { 0 };
	cr_assert_eq(dfs_db_log_read(a.db, 3, SIZE_MAX, NULL, collect_log, &bad, &upto), 1);
	cr_assert_eq(bad.seq[0], 4, "the good entry before them is read");
	cr_assert_eq(upto, 6, "upto moves past corrupt entries");
	cr_assert_eq(dfs_db_log_read(a.db, 6, SIZE_MAX, NULL, collect_log, &bad, &upto), 0);
	cr_assert_eq(upto, 6);
	dfs_db_get_stats(a.db, &st1);
	cr_assert_eq(st1.corrupt - st0.corrupt, 2, "each corrupt entry is counted");

	/* Held stays held, even when the policy opens later. */
	dfs_db_set_policy(a.db, true);
	cr_assert_eq(dfs_db_receive(a.db, forged->data, forged->len, NULL), -EALREADY);
	expect_value(&a, &k, "title", "mine", "node A");

	/* A strict node holds it too, logs it, and ends like A. */
	static const int in_order[] = { 0, 1, 2, 3 };
	node_make(&b, "b");
	feed(&b, &full, in_order, &out, "strict");
	cr_assert_eq(out.rc[0], 0);
	cr_assert_eq(out.rc[1], 0);
	cr_assert_eq(out.rc[2], 0);
	cr_assert_eq(out.rc[3], -EPERM);
	expect_value(&b, &k, "title", "mine", "strict node");
	struct recs blog = { 0 };
	cr_assert_eq(log_to_recs(&b, 0, &blog), 4);
	cr_assert_arr_eq(blog.r[3].hash.b, forged->hash.b, DFS_HASH_LEN);
	cr_assert_eq(dfs_db_receive(b.db, forged->data, forged->len, NULL), -EALREADY);
	char *want = dump(&a), *got = dump(&b);
	expect_same(want, got, "strict node B against A");
	free(want);
	free(got);
	recs_release(&blog);
	node_destroy(&b);

	/* An open node without listeners applies it. */
	node_make(&b, "b");
	dfs_db_set_policy(b.db, true);
	feed(&b, &full, in_order, &out, "open");
	expect_all_applied(&out, 4, "open");
	expect_value(&b, &k, "title", "forged", "open node");
	node_destroy(&b);

	recs_release(&paged);
	recs_release(&from2);
	recs_release(&full);
	recs_release(&tail);
	recs_release(&rs);
}

/* ---- 8. cursors --------------------------------------------------------------- */

Test(converge, cursors_round_trip_and_survive_reopen)
{
	struct dfs_pubkey p1, p2, p3;
	uint8_t l1[DFS_DB_LOG_ID_LEN], l2[DFS_DB_LOG_ID_LEN], other[DFS_DB_LOG_ID_LEN];
	uint64_t seq = 99;

	memset(p1.b, 0x11, DFS_PUBKEY_LEN);
	memset(p2.b, 0x22, DFS_PUBKEY_LEN);
	memset(p3.b, 0x33, DFS_PUBKEY_LEN);
	memset(l1, 0x01, sizeof(l1));
	memset(l2, 0x02, sizeof(l2));
	memset(other, 0x03, sizeof(other));
	cr_assert_eq(dfs_db_cursor_get(a.db, &p1, l1, &seq), 0);
	cr_assert_eq(seq, 0, "never seen: 0");
	cr_assert_eq(dfs_db_cursor_put(a.db, &p1, l1, 42), 0);
	cr_assert_eq(dfs_db_cursor_put(a.db, &p2, l2, 7), 0);
	cr_assert_eq(dfs_db_cursor_get(a.db, &p1, l1, &seq), 0);
	cr_assert_eq(seq, 42);
	cr_assert_eq(dfs_db_cursor_put(a.db, &p1, l1, 100), 0);
	cr_assert_eq(dfs_db_cursor_put(a.db, &p3, l1, UINT64_MAX), 0);
	cr_assert_eq(dfs_db_cursor_get(a.db, &p1, l1, &seq), 0);
	cr_assert_eq(seq, 100);
	seq = 99;
	cr_assert_eq(dfs_db_cursor_get(a.db, &p1, other, &seq), 0);
	cr_assert_eq(seq, 0, "the same node with another log (a new store): from the start");

	node_close(&a);
	node_open(&a);
	cr_assert_eq(dfs_db_cursor_get(a.db, &p1, l1, &seq), 0);
	cr_assert_eq(seq, 100, "kept across a reopen");
	cr_assert_eq(dfs_db_cursor_get(a.db, &p2, l2, &seq), 0);
	cr_assert_eq(seq, 7);
	cr_assert_eq(dfs_db_cursor_get(a.db, &p3, l1, &seq), 0);
	cr_assert_eq(seq, UINT64_MAX);
	cr_assert_eq(dfs_db_log_head(a.db), 0, "cursors are not updates");

	/* A cursor saved before logs had ids (8 bytes) says nothing of which log. */
	struct dfs_buf key, val;
	struct dfs_batch *b = dfs_batch_new();
	dfs_buf_init(&key);
	dfs_buf_init(&val);
	dfs_key_cursor(&key, &p2);
	dfs_buf_add_u64be(&val, 5);
	cr_assert_eq(dfs_batch_put(b, key.data, key.len, val.data, val.len), 0);
	cr_assert_eq(dfs_store_commit(a.st, b), 0);
	seq = 99;
	cr_assert_eq(dfs_db_cursor_get(a.db, &p2, l2, &seq), 0);
	cr_assert_eq(seq, 0);
	/* A record of another length is corrupt. */
	b = dfs_batch_new();
	dfs_buf_add_u8(&val, 1);
	cr_assert_eq(dfs_batch_put(b, key.data, key.len, val.data, val.len), 0);
	cr_assert_eq(dfs_store_commit(a.st, b), 0);
	cr_assert_eq(dfs_db_cursor_get(a.db, &p2, l2, &seq), -EIO);
	dfs_buf_release(&key);
	dfs_buf_release(&val);
}

Test(converge, a_log_is_named_once_per_store)
{
	uint8_t la[DFS_DB_LOG_ID_LEN], la2[DFS_DB_LOG_ID_LEN], lb[DFS_DB_LOG_ID_LEN];
	static const uint8_t zero[DFS_DB_LOG_ID_LEN];
	struct node b;

	node_make(&b, "b");
	dfs_db_log_id(a.db, la);
	dfs_db_log_id(b.db, lb);
	node_destroy(&b);
	cr_assert(memcmp(la, zero, sizeof(la)) != 0, "named at random");
	cr_assert(memcmp(la, lb, sizeof(la)) != 0, "two stores, two logs");
	node_close(&a);
	node_open(&a);
	dfs_db_log_id(a.db, la2);
	cr_assert_arr_eq(la2, la, sizeof(la), "kept across a reopen");
}

/* ---- more concurrent changes that must converge --------------------------------- */

/* A dict deleted on one fork while a key is set in it on another. */
Test(converge, dict_delete_vs_concurrent_key_set)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	const struct rec *d = craft_field(&rs, "mkdict", DFS_OP_DICT_CREATE, &k, "d", NULL,
					  c + ms(10), cr);
	craft_field(&rs, "setkey", DFS_OP_FIELD_SET, &k, "d/k", "v", c + ms(20), d);
	craft_field(&rs, "rmdict", DFS_OP_DICT_DELETE, &k, "d", NULL, c + ms(30), d);
	converge(&rs, NULL, false, NULL, NULL);
	recs_release(&rs);
}

/* What a dict case must end with: the dict shown or not, and its keys' values. */
struct expect_dict {
	const struct dfs_pubkey *obj;
	bool shown;
	const char *keys[4];	/* "k=v" of each live key, in name order */
};

static int list_key(const char *name, void *ctx)
{
	struct dfs_buf *b = ctx;

	dfs_buf_printf(b, "%s;", name);
	return 0;
}

static void check_dict(struct node *b, const struct outcome *out, const char *desc, void *ctx)
{
	const struct expect_dict *e = ctx;
	struct dfs_field_rec f;
	struct dfs_buf got, want;

	(void)out;
	int rc = dfs_db_get_field(b->db, e->obj, "d", &f);
	cr_assert_eq(rc == 0 && f.kind == DFS_FIELD_DICT, e->shown, "%s: dict shown: %d", desc, rc);
	if (!e->shown)
		return;
	dfs_buf_init(&got);
	dfs_buf_init(&want);
	cr_assert_eq(dfs_db_list_fields(b->db, e->obj, "d", list_key, &got), 0, "%s", desc);
	for (size_t i = 0; i < 4 && e->keys[i]; i++) {
		const char *eq = strchr(e->keys[i], '=');
		char path[64];
		dfs_buf_printf(&want, "%.*s;", (int)(eq - e->keys[i]), e->keys[i]);
		snprintf(path, sizeof(path), "d/%.*s", (int)(eq - e->keys[i]), e->keys[i]);
		expect_value(b, e->obj, path, eq + 1, desc);
	}
	dfs_buf_add_u8(&got, 0);
	dfs_buf_add_u8(&want, 0);
	cr_assert_str_eq((char *)got.data, (char *)want.data, "%s: keys", desc);
	dfs_buf_release(&got);
	dfs_buf_release(&want);
}

/* Created on one fork, deleted later on another that saw its create: gone everywhere. */
Test(converge, dict_created_on_one_fork_deleted_later_on_another)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	const struct rec *mk1 = craft_field(&rs, "mk1", DFS_OP_DICT_CREATE, &k, "d", NULL,
					    c + ms(10), cr);
	craft_field(&rs, "mk2", DFS_OP_DICT_CREATE, &k, "d", NULL, c + ms(20), cr);
	craft_field(&rs, "rm", DFS_OP_DICT_DELETE, &k, "d", NULL, c + ms(30), mk1);
	struct expect_dict e = { &k, false, { NULL } };
	converge(&rs, NULL, false, check_dict, &e);
	recs_release(&rs);
}

/*
 * Deleted on one fork; deleted and made again on another, with keys on each
 * side of the deletes: a delete deletes the keys written before it, the
 * latest create or delete decides whether the dict shows.
 */
Test(converge, dict_deleted_on_two_forks_and_made_again)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	const struct rec *mk = craft_field(&rs, "mk", DFS_OP_DICT_CREATE, &k, "d", NULL,
					   c + ms(10), cr);
	const struct rec *k1 = craft_field(&rs, "set a", DFS_OP_FIELD_SET, &k, "d/a", "1",
					   c + ms(12), mk);
	craft_field(&rs, "rm1", DFS_OP_DICT_DELETE, &k, "d", NULL, c + ms(20), k1);
	const struct rec *rm2 = craft_field(&rs, "rm2", DFS_OP_DICT_DELETE, &k, "d", NULL,
					    c + ms(25), k1);
	craft_field(&rs, "append a", DFS_OP_FIELD_APPEND, &k, "d/a", "+", c + ms(28), k1);
	craft_field(&rs, "set b", DFS_OP_FIELD_SET, &k, "d/b", "2", c + ms(18), mk);
	const struct rec *mk2 = craft_field(&rs, "mk2", DFS_OP_DICT_CREATE, &k, "d", NULL,
					    c + ms(35), rm2);
	craft_field(&rs, "set c", DFS_OP_FIELD_SET, &k, "d/c", "3", c + ms(40), mk2);
	struct expect_dict e = { &k, true, { "a=+", "c=3", NULL } };
	converge(&rs, NULL, false, check_dict, &e);
	recs_release(&rs);
}

/* A model removed on one node while an object is created in it on another. */
Test(converge, model_remove_vs_concurrent_object_create)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k, id;
	uint64_t c = base_clock();

	dfs_db_model_id("notes", &id);
	const struct rec *m = craft_model(&rs, "model", a.kr, "notes", c);
	craft_object(&rs, "create", "notes", "doc", c + ms(10), &k);
	craft(&rs, "rmmodel", a.kr, DFS_OP_MODEL_REMOVE, &id, dfs_keyring_node(a.kr), "notes", "",
	      NULL, c + ms(20), &m->hash);
	struct expect_shown e = { .shown = true, .objects = 1, .live = false,
				  .clock = c + ms(20), .signer = dfs_keyring_node(a.kr) };
	converge(&rs, NULL, false, check_shown, &e);
	recs_release(&rs);
}

/* A field set on one fork while a dict of the same name is created on another. */
Test(converge, field_vs_dict_of_one_name)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	craft_field(&rs, "set", DFS_OP_FIELD_SET, &k, "x", "v", c + ms(10), cr);
	craft_field(&rs, "mkdict", DFS_OP_DICT_CREATE, &k, "x", NULL, c + ms(20), cr);
	converge(&rs, NULL, false, NULL, NULL);
	recs_release(&rs);
}

/* One dict created on two forks: one record, the same everywhere. */
Test(converge, dict_created_on_two_forks)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	craft_field(&rs, "mk1", DFS_OP_DICT_CREATE, &k, "d", NULL, c + ms(10), cr);
	craft_field(&rs, "mk2", DFS_OP_DICT_CREATE, &k, "d", NULL, c + ms(20), cr);
	converge(&rs, NULL, false, NULL, NULL);
	recs_release(&rs);
}

/* ---- 8. a peer's batch received as one group ----------------------------------- */

Test(converge, group_makes_a_batch_durable_then_tells)
{
	struct recs rs = { 0 };
	struct seen seen = { 0 };
	struct dfs_pubkey k;
	struct node b;

	cr_assert_eq(dfs_db_create_model(a.db, "notes"), 0);
	cr_assert_eq(dfs_db_create_object(a.db, "notes", "list", &k), 0);
	cr_assert_eq(dfs_db_set_field(a.db, &k, "title", (const uint8_t *)"one", 3), 0);
	cr_assert_eq(dfs_db_append_field(a.db, &k, "items", (const uint8_t *)"x\n", 2), 0);
	cr_assert_eq(log_to_recs(&a, 0, &rs), 4);

	node_make(&b, "b");
	dfs_db_set_observer(b.db, observe, &seen);
	struct dfs_db_checked ck[4];
	for (int i = 0; i < rs.n; i++) {
		cr_assert_eq(dfs_db_check(b.db, rs.r[i].data, rs.r[i].len, NULL, &ck[i]), 0, "check %d", i);
		cr_assert(ck[i].fresh);
		cr_assert_eq(memcmp(ck[i].hash.b, rs.r[i].hash.b, DFS_HASH_LEN), 0);
	}
	/* A tampered copy fails the check; it counts as refused. */
	uint8_t *bad = malloc(rs.r[2].len);
	cr_assert_not_null(bad);
	memcpy(bad, rs.r[2].data, rs.r[2].len);
	bad[rs.r[2].len - 1] ^= 1;
	cr_assert_eq(dfs_db_check(b.db, bad, rs.r[2].len, NULL, NULL), -EBADMSG);
	free(bad);

	struct dfs_db_group *g = dfs_db_group_new(b.db);
	cr_assert_not_null(g);
	dfs_db_group_bulk(g);
	/* Each update builds on the one before it in the same group. */
	for (int i = 0; i < rs.n; i++) {
		uint64_t seq = 0;
		cr_assert_eq(dfs_db_group_receive(g, rs.r[i].data, rs.r[i].len, &ck[i], NULL, &seq),
			     0, "update %d", i);
		cr_assert_eq(seq, (uint64_t)i + 1, "logged at");
	}
	uint64_t seq = 99;
	/* Checked fresh, but stored since: the applier looks again. */
	cr_assert_eq(dfs_db_group_receive(g, rs.r[1].data, rs.r[1].len, &ck[1], NULL, &seq),
		     -EALREADY);
	cr_assert_eq(seq, 0, "not logged again");
	cr_assert_eq(seen.n, 0, "told before the batch is durable");
	cr_assert_eq(dfs_db_group_end(g), 0);
	cr_assert_eq(seen.n, 4);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(seen.e[i].seq, (uint64_t)i + 1);
		cr_assert(seen.e[i].remote && seen.e[i].applied && seen.e[i].bulk);
	}
	expect_value(&b, &k, "title", "one", "node B");
	expect_value(&b, &k, "items", "x\n", "node B");
	for (int i = 0; i < rs.n; i++) {
		struct dfs_db_checked again;
		cr_assert_eq(dfs_db_check(b.db, rs.r[i].data, rs.r[i].len, NULL, &again), -EALREADY);
		cr_assert_not(again.fresh);
	}
	struct dfs_db_stats st;
	dfs_db_get_stats(b.db, &st);
	cr_assert_eq(st.applied, 4);
	cr_assert_eq(st.refused, 1);

	/* One at a time, as before: not part of a burst. */
	cr_assert_eq(dfs_db_set_field(a.db, &k, "title", (const uint8_t *)"two", 3), 0);
	struct recs more = { 0 };
	cr_assert_eq(log_to_recs(&a, 4, &more), 1);
	cr_assert_eq(dfs_db_receive(b.db, more.r[0].data, more.r[0].len, NULL), 0);
	cr_assert_eq(seen.n, 5);
	cr_assert_not(seen.e[4].bulk);
	expect_value(&b, &k, "title", "two", "node B");
	node_destroy(&b);
	recs_release(&more);
	recs_release(&rs);
}

/*
 * A check says "new" of an update as of a point in the log. Whatever path
 * stores it after that point (another peer's copy, parked and let go), the
 * applier must not apply it twice.
 */
Test(converge, a_stale_check_never_applies_an_update_twice)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	struct node b;
	enum { N = MAX_RECS - 2 };
	struct dfs_db_checked ck[MAX_RECS];

	cr_assert_eq(dfs_db_create_model(a.db, "notes"), 0);
	cr_assert_eq(dfs_db_create_object(a.db, "notes", "list", &k), 0);
	for (int i = 0; i < N; i++)
		cr_assert_eq(dfs_db_append_field(a.db, &k, "items", (const uint8_t *)"x\n", 2), 0);
	cr_assert_eq(log_to_recs(&a, 0, &rs), N + 2);

	node_make(&b, "b");
	/* Every update is checked first, as one run: all fresh. */
	struct dfs_db_run run;
	dfs_db_run_init(&run, rs.n);
	for (int i = 0; i < rs.n; i++)
		cr_assert_eq(dfs_db_check(b.db, rs.r[i].data, rs.r[i].len, &run, &ck[i]), 0);
	dfs_db_run_release(&run);
	/* Then the first half arrives by another way, unchecked. */
	for (int i = 0; i < rs.n / 2; i++)
		cr_assert_eq(dfs_db_receive(b.db, rs.r[i].data, rs.r[i].len, NULL), 0, "%d", i);
	/* The checked copies of all: the first half are known, the rest applied once. */
	struct dfs_db_group *g = dfs_db_group_new(b.db);
	cr_assert_not_null(g);
	for (int i = 0; i < rs.n; i++)
		cr_assert_eq(dfs_db_group_receive(g, rs.r[i].data, rs.r[i].len, &ck[i], NULL, NULL),
			     i < rs.n / 2 ? -EALREADY : 0, "update %d", i);
	cr_assert_eq(dfs_db_group_end(g), 0);
	/* And once more, all stale now. */
	g = dfs_db_group_new(b.db);
	cr_assert_not_null(g);
	for (int i = 0; i < rs.n; i++)
		cr_assert_eq(dfs_db_group_receive(g, rs.r[i].data, rs.r[i].len, &ck[i], NULL, NULL),
			     -EALREADY, "update %d again", i);
	cr_assert_eq(dfs_db_group_end(g), 0);

	struct dfs_db_stats st;
	dfs_db_get_stats(b.db, &st);
	cr_assert_eq(st.seq, (uint64_t)rs.n, "each logged once");
	uint8_t *v;
	size_t n;
	cr_assert_eq(dfs_db_read_field(b.db, &k, "items", &v, &n), 0);
	cr_assert_eq(n, 2 * N, "each append applied once");
	dfs_value_free(v);
	node_destroy(&b);
	recs_release(&rs);
}

/*
 * A check whose lookup fails does not say "new": the applier looks again,
 * and an update stored already is not applied twice.
 */
Test(converge, a_check_that_cannot_read_the_store_says_nothing)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	struct node b;
	struct dfs_db_checked ck;
	struct dfs_db_run run;

	cr_assert_eq(dfs_db_create_model(a.db, "notes"), 0);
	cr_assert_eq(dfs_db_create_object(a.db, "notes", "list", &k), 0);
	cr_assert_eq(dfs_db_append_field(a.db, &k, "items", (const uint8_t *)"x\n", 2), 0);
	cr_assert_eq(dfs_db_append_field(a.db, &k, "items", (const uint8_t *)"y\n", 2), 0);
	cr_assert_eq(log_to_recs(&a, 0, &rs), 4);

	node_make(&b, "b");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(dfs_db_receive(b.db, rs.r[i].data, rs.r[i].len, NULL), 0, "%d", i);
	dfs_db_run_init(&run, 2);
	failing_gets = 1;
	cr_assert_eq(dfs_db_check(b.db, rs.r[2].data, rs.r[2].len, &run, &ck), 0);
	cr_assert_eq(failing_gets, 0, "the check read the store");
	cr_assert_not(ck.fresh, "a failed lookup is no answer");
	/* Nor does the next update inherit anything from it. */
	struct dfs_db_checked next;
	cr_assert_eq(dfs_db_check(b.db, rs.r[3].data, rs.r[3].len, &run, &next), 0);
	cr_assert(next.fresh);
	cr_assert_eq(next.stamp, 3, "looked up itself, as of the log then");
	dfs_db_run_release(&run);

	struct dfs_db_group *g = dfs_db_group_new(b.db);
	cr_assert_not_null(g);
	cr_assert_eq(dfs_db_group_receive(g, rs.r[2].data, rs.r[2].len, &ck, NULL, NULL),
		     -EALREADY);
	cr_assert_eq(dfs_db_group_receive(g, rs.r[3].data, rs.r[3].len, &next, NULL, NULL), 0);
	cr_assert_eq(dfs_db_group_end(g), 0);
	struct dfs_db_stats st;
	dfs_db_get_stats(b.db, &st);
	cr_assert_eq(st.seq, 4, "each logged once");
	uint8_t *v;
	size_t n;
	cr_assert_eq(dfs_db_read_field(b.db, &k, "items", &v, &n), 0);
	cr_assert_eq(n, 4);
	cr_assert_eq(memcmp(v, "x\ny\n", 4), 0);
	dfs_value_free(v);
	node_destroy(&b);
	recs_release(&rs);
}

/*
 * Within a run, an update whose predecessor the run found new is new as of
 * that check, without a look: even when both were stored since, which the
 * applier then finds out.
 */
Test(converge, a_run_infers_new_from_the_predecessor)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	struct node b;
	struct dfs_db_checked ck[5], late;
	struct dfs_db_run run;

	cr_assert_eq(dfs_db_create_model(a.db, "notes"), 0);
	cr_assert_eq(dfs_db_create_object(a.db, "notes", "list", &k), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(dfs_db_append_field(a.db, &k, "items", (const uint8_t *)"x\n", 2), 0);
	cr_assert_eq(log_to_recs(&a, 0, &rs), 5);

	node_make(&b, "b");
	dfs_db_run_init(&run, 5);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(dfs_db_check(b.db, rs.r[i].data, rs.r[i].len, &run, &ck[i]), 0);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(dfs_db_receive(b.db, rs.r[i].data, rs.r[i].len, NULL), 0, "%d", i);
	/* Stored now; looked up, it is known. */
	cr_assert_eq(dfs_db_check(b.db, rs.r[4].data, rs.r[4].len, NULL, &late), -EALREADY);
	/* In the run it follows one found new, so it is new as of that check. */
	cr_assert_eq(dfs_db_check(b.db, rs.r[4].data, rs.r[4].len, &run, &ck[4]), 0);
	cr_assert(ck[4].fresh);
	cr_assert_eq(ck[4].stamp, ck[3].stamp);
	dfs_db_run_release(&run);

	struct dfs_db_group *g = dfs_db_group_new(b.db);
	cr_assert_not_null(g);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(dfs_db_group_receive(g, rs.r[i].data, rs.r[i].len, &ck[i], NULL, NULL),
			     -EALREADY, "update %d", i);
	cr_assert_eq(dfs_db_group_end(g), 0);
	uint8_t *v;
	size_t n;
	cr_assert_eq(dfs_db_read_field(b.db, &k, "items", &v, &n), 0);
	cr_assert_eq(n, 6, "each append applied once");
	dfs_value_free(v);
	node_destroy(&b);
	recs_release(&rs);
}

/* ---- 9. authorization: .authorized and signing as another object --------------- */

/* A new key in a's keyring whose bytes hold no NUL: crafted values are C strings. */
static void key_as_value(struct dfs_pubkey *k, char out[DFS_PUBKEY_LEN + 1])
{
	do {
		cr_assert_eq(dfs_keyring_create(a.kr, k), 0);
		memcpy(out, k->b, DFS_PUBKEY_LEN);
		out[DFS_PUBKEY_LEN] = '\0';
	} while (strlen(out) != DFS_PUBKEY_LEN);
}

Test(converge, a_listed_signer_is_authorized)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k, x;
	struct node b;
	char xs[DFS_PUBKEY_LEN + 1];
	uint64_t c = base_clock();

	key_as_value(&x, xs);
	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	const struct rec *early = craft(&rs, "by x, early", a.kr, DFS_OP_FIELD_SET, &k, &x,
					"notes", "f", "early", c + ms(10), &cr->hash);
	const struct rec *grant = craft(&rs, "grant x", a.kr, DFS_OP_OBJECT_META, &k, &k, "notes",
					"authorized", xs, c + ms(20), &early->hash);
	craft(&rs, "by x, late", a.kr, DFS_OP_FIELD_SET, &k, &x, "notes", "f", "late",
	      c + ms(30), &grant->hash);

	node_make(&b, "b");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(dfs_db_receive(b.db, rs.r[i].data, rs.r[i].len, NULL),
			     i == 2 ? -EPERM : 0, "update %d", i);
	cr_assert_not(dfs_db_is_authorized(b.db, &k, &x));
	cr_assert_eq(dfs_db_receive(b.db, rs.r[3].data, rs.r[3].len, NULL), 0);
	cr_assert(dfs_db_is_authorized(b.db, &k, &x));
	cr_assert_eq(dfs_db_receive(b.db, rs.r[4].data, rs.r[4].len, NULL), 0);
	expect_value(&b, &k, "f", "late", "node B");
	/* A forged grant, signed by x for itself, is refused. */
	struct recs more = { 0 };
	craft(&more, "x grants x", a.kr, DFS_OP_OBJECT_META, &k, &x, "notes", "authorized", xs,
	      c + ms(40), &rs.r[4].hash);
	cr_assert_eq(dfs_db_receive(b.db, more.r[0].data, more.r[0].len, NULL), -EPERM);
	/* A list that is not whole keys is malformed. */
	craft(&more, "bad list", a.kr, DFS_OP_OBJECT_META, &k, &k, "notes", "authorized", "short",
	      c + ms(50), &rs.r[4].hash);
	cr_assert_eq(dfs_db_receive(b.db, more.r[1].data, more.r[1].len, NULL), -EBADMSG);
	node_destroy(&b);
	recs_release(&more);
	recs_release(&rs);
}

Test(converge, concurrent_grants_last_writer_wins)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k, x, y;
	char xs[DFS_PUBKEY_LEN + 1], ys[DFS_PUBKEY_LEN + 1];
	uint64_t c = base_clock();

	key_as_value(&x, xs);
	key_as_value(&y, ys);
	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	/* Two forks of the chain, as if the owner's key wrote on two nodes. */
	craft(&rs, "grant x", a.kr, DFS_OP_OBJECT_META, &k, &k, "notes", "authorized", xs,
	      c + ms(20), &cr->hash);
	craft(&rs, "grant y", a.kr, DFS_OP_OBJECT_META, &k, &k, "notes", "authorized", ys,
	      c + ms(10), &cr->hash);
	converge(&rs, NULL, false, NULL, NULL);

	struct node b;
	struct outcome out;
	static const int order[] = { 0, 1, 3, 2 };
	node_make(&b, "b");
	feed(&b, &rs, order, &out, "y last");
	expect_all_applied(&out, rs.n, "y last");
	cr_assert(dfs_db_is_authorized(b.db, &k, &x), "the later grant wins");
	cr_assert_not(dfs_db_is_authorized(b.db, &k, &y));
	node_destroy(&b);
	recs_release(&rs);
}

Test(converge, signing_as_an_authorized_object)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k, chief, other;
	struct node b;
	uint8_t *val;
	size_t len;

	cr_assert_eq(dfs_db_create_model(a.db, "notes"), 0);
	cr_assert_eq(dfs_db_create_object(a.db, "notes", "doc", &k), 0);
	node_make(&b, "b");
	cr_assert_eq(log_to_recs(&a, 0, &rs), 2);
	for (int i = 0; i < rs.n; i++)
		cr_assert_eq(dfs_db_receive(b.db, rs.r[i].data, rs.r[i].len, NULL), 0);
	cr_assert_eq(dfs_db_create_object(b.db, "notes", "chief", &chief), 0);

	/* B owns chief, not doc: under the strict policy it may not write doc. */
	cr_assert_not(dfs_db_may_write(b.db, &k));
	cr_assert_eq(dfs_db_set_field(b.db, &k, "f", (const uint8_t *)"no", 2), -EPERM);
	cr_assert_eq(dfs_db_set_as(b.db, &k), -ENOKEY, "B does not hold doc's key");
	cr_assert_eq(dfs_db_set_as(b.db, &chief), 0);
	cr_assert_not(dfs_db_may_write(b.db, &k), "chief is not listed yet");
	cr_assert_eq(dfs_db_set_authorized(b.db, &k, &chief, 1), -EPERM, "only the owner");

	/* A lists chief (twice, and doc itself, which is dropped). */
	struct dfs_pubkey list[3] = { chief, k, chief };
	cr_assert_eq(dfs_db_set_authorized(a.db, &k, list, 3), 0);
	cr_assert_eq(dfs_db_get_meta(a.db, &k, "authorized", &val, &len), 0);
	cr_assert_eq(len, (size_t)DFS_PUBKEY_LEN);
	cr_assert_eq(memcmp(val, chief.b, DFS_PUBKEY_LEN), 0);
	dfs_value_free(val);
	struct recs more = { 0 };
	cr_assert_eq(log_to_recs(&a, 2, &more), 1);
	cr_assert_eq(dfs_db_receive(b.db, more.r[0].data, more.r[0].len, NULL), 0);

	cr_assert(dfs_db_may_write(b.db, &k));
	cr_assert_eq(dfs_db_set_field(b.db, &k, "f", (const uint8_t *)"yes", 3), 0);
	struct recs back = { 0 };
	cr_assert_eq(log_to_recs(&b, dfs_db_log_head(b.db) - 1, &back), 1);
	struct dfs_update u;
	cr_assert_eq(dfs_update_decode(back.r[0].data, back.r[0].len, &u), 0);
	cr_assert_eq(memcmp(u.signer.b, chief.b, DFS_PUBKEY_LEN), 0, "signed as chief");
	cr_assert_eq(dfs_db_receive(a.db, back.r[0].data, back.r[0].len, NULL), 0,
		     "A accepts chief's write");
	expect_value(&a, &k, "f", "yes", "node A");

	/* Revoked: B's writes are refused again, and A would hold them. */
	cr_assert_eq(dfs_db_set_authorized(a.db, &k, NULL, 0), 0);
	struct recs rev = { 0 };
	cr_assert_eq(log_to_recs(&a, dfs_db_log_head(a.db) - 1, &rev), 1);
	cr_assert_eq(dfs_db_receive(b.db, rev.r[0].data, rev.r[0].len, NULL), 0);
	cr_assert_not(dfs_db_may_write(b.db, &k));
	cr_assert_eq(dfs_db_set_field(b.db, &k, "f", (const uint8_t *)"late", 4), -EPERM);
	cr_assert(dfs_db_get_as(b.db, &other));
	cr_assert_eq(memcmp(other.b, chief.b, DFS_PUBKEY_LEN), 0);
	cr_assert_eq(dfs_db_set_as(b.db, NULL), 0);
	cr_assert_not(dfs_db_get_as(b.db, &other));
	node_destroy(&b);
	recs_release(&rev);
	recs_release(&back);
	recs_release(&more);
	recs_release(&rs);
}

/* ---- 10. revocation: authorized at the update's clock ----------------------------- */

/*
 * Feeds base in order to a fresh node, then rs in every order (every
 * permutation of up to 5), and checks that all end in the same state, and
 * each with check.
 */
static void converge_after(const struct recs *base, const struct recs *rs, check_fn check,
			   void *ctx)
{
	static struct orders os;
	static const int forward[MAX_RECS] = { 0, 1, 2, 3, 4, 5, 6, 7,
						8, 9, 10, 11, 12, 13, 14, 15 };
	char *ref = NULL;
	char desc[512];

	make_orders(&os, rs->n);
	for (int i = 0; i < os.count; i++) {
		struct node b;
		struct outcome out;
		describe(desc, sizeof(desc), rs, os.o[i]);
		node_make(&b, "b");
		feed(&b, base, forward, &out, "base");
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

/* What .history says of one update: NULL when not listed, "" when applied. */
struct held_of {
	struct dfs_hash want;
	char got[512];
	bool found;
};

static int find_held(const struct dfs_update *u, const struct dfs_hash *hash, bool verified,
		     const char *held, void *ctx)
{
	struct held_of *h = ctx;

	(void)u;
	cr_assert(verified);
	if (memcmp(hash->b, h->want.b, DFS_HASH_LEN) == 0) {
		cr_assert_not(h->found, "listed once");
		h->found = true;
		snprintf(h->got, sizeof(h->got), "%s", held ? held : "");
	}
	return 0;
}

static const char *history_says(struct node *n, const struct dfs_pubkey *obj,
				const struct dfs_hash *h, struct held_of *out)
{
	memset(out, 0, sizeof(*out));
	out->want = *h;
	cr_assert_eq(dfs_db_history(n->db, obj, find_held, out), 0);
	return out->found ? out->got : NULL;
}

static bool starts(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

struct race {
	const struct dfs_pubkey *obj;
	const char *value;		/* of f, on every node */
	const struct rec *applied[4];	/* listed as applied */
	const struct rec *refused;	/* listed as held: unauthorized or revoked */
};

static void check_race(struct node *b, const struct outcome *out, const char *desc, void *ctx)
{
	struct race *r = ctx;
	struct held_of h;

	(void)out;
	expect_value(b, r->obj, "f", r->value, desc);
	for (int i = 0; i < 4 && r->applied[i]; i++) {
		const char *s = history_says(b, r->obj, &r->applied[i]->hash, &h);
		cr_assert(s && !*s, "%s: %s is applied, history says %s", desc,
			  r->applied[i]->label, s ? s : "nothing");
	}
	const char *s = history_says(b, r->obj, &r->refused->hash, &h);
	cr_assert(starts(s, "unauthorized: ") || starts(s, "revoked: "),
		  "%s: %s is held for its signer, history says %s", desc, r->refused->label,
		  s ? s : "nothing");
}

/*
 * The owner grants x, x writes, the owner revokes, and x writes once more
 * stamped after the revocation, and once back-dated to before it. In every
 * order, every node applies what x wrote before the revocation and holds
 * what it wrote after; a node that applied that first undoes it when the
 * revocation comes.
 */
Test(converge, revocation_racing_a_write)
{
	struct recs base = { 0 }, rs = { 0 };
	struct dfs_pubkey k, x;
	char xs[DFS_PUBKEY_LEN + 1];
	uint64_t c = base_clock();

	key_as_value(&x, xs);
	craft_model(&base, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&base, "create", "notes", "doc", c + 1, &k);
	const struct rec *o = craft(&base, "owner", a.kr, DFS_OP_FIELD_SET, &k, &k, "notes", "f",
				    "0", c + ms(5), &cr->hash);
	const struct rec *grant = craft(&rs, "grant", a.kr, DFS_OP_OBJECT_META, &k, &k, "notes",
					"authorized", xs, c + ms(20), &o->hash);
	const struct rec *w = craft(&rs, "write", a.kr, DFS_OP_FIELD_SET, &k, &x, "notes", "f",
				    "w", c + ms(30), &grant->hash);
	craft(&rs, "revoke", a.kr, DFS_OP_OBJECT_META, &k, &k, "notes", "authorized", "",
	      c + ms(40), &w->hash);
	const struct rec *after = craft(&rs, "after", a.kr, DFS_OP_FIELD_SET, &k, &x, "notes", "f",
					"evil", c + ms(50), &grant->hash);
	const struct rec *before = craft(&rs, "before", a.kr, DFS_OP_FIELD_APPEND, &k, &x, "notes",
					 "f", "+b", c + ms(35), &grant->hash);
	struct race r = { &k, "w+b", { grant, w, before, NULL }, after };
	converge_after(&base, &rs, check_race, &r);
	recs_release(&rs);
	recs_release(&base);
}

/*
 * The same race where x's write after the revocation is a delete and an
 * append, and the owner writes after x: the owner's values and x's early
 * ones stay, in every order.
 */
Test(converge, revoked_appends_and_deletes_are_undone)
{
	struct recs base = { 0 }, rs = { 0 };
	struct dfs_pubkey k, x;
	char xs[DFS_PUBKEY_LEN + 1];
	uint64_t c = base_clock();

	key_as_value(&x, xs);
	craft_model(&base, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&base, "create", "notes", "doc", c + 1, &k);
	const struct rec *grant = craft(&base, "grant", a.kr, DFS_OP_OBJECT_META, &k, &k, "notes",
					"authorized", xs, c + ms(20), &cr->hash);
	const struct rec *w = craft(&rs, "list", a.kr, DFS_OP_FIELD_APPEND, &k, &x, "notes",
				    "f", "1;", c + ms(30), &grant->hash);
	const struct rec *rev = craft(&rs, "revoke", a.kr, DFS_OP_OBJECT_META, &k, &k, "notes",
				      "authorized", "", c + ms(40), &w->hash);
	craft(&rs, "owner", a.kr, DFS_OP_FIELD_APPEND, &k, &k, "notes", "f", "2;", c + ms(60),
	      &rev->hash);
	craft(&rs, "append", a.kr, DFS_OP_FIELD_APPEND, &k, &x, "notes", "f", "evil;",
	      c + ms(50), &w->hash);
	craft(&rs, "delete", a.kr, DFS_OP_FIELD_DELETE, &k, &x, "notes", "g", NULL, c + ms(45),
	      &grant->hash);
	struct race r = { &k, "1;2;", { w, rev, &rs.r[2], NULL }, &rs.r[3] };
	converge_after(&base, &rs, check_race, &r);
	/* x's delete of a field that never was: it leaves no trace in any order. */
	struct node b;
	struct outcome out;
	static const int order[] = { 4, 0, 3, 2, 1 };
	struct held_of h;
	node_make(&b, "b");
	feed(&b, &base, (const int[]){ 0, 1, 2 }, &out, "base");
	feed(&b, &rs, order, &out, "delete first");
	cr_assert_eq(dfs_db_get_field(b.db, &k, "g", &(struct dfs_field_rec){ 0 }), -ENOENT);
	cr_assert(starts(history_says(&b, &k, &rs.r[4].hash, &h), "revoked: "), "%s", h.got);
	node_destroy(&b);
	recs_release(&rs);
	recs_release(&base);
}

/*
 * x's writes stamped after the grant but arriving before it are held, then
 * applied when the grant comes: every order ends with all of them applied.
 */
Test(converge, held_then_granted)
{
	struct recs base = { 0 }, rs = { 0 };
	struct dfs_pubkey k, x;
	char xs[DFS_PUBKEY_LEN + 1];
	uint64_t c = base_clock();
	struct held_of h;

	key_as_value(&x, xs);
	craft_model(&base, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&base, "create", "notes", "doc", c + 1, &k);
	craft(&rs, "grant", a.kr, DFS_OP_OBJECT_META, &k, &k, "notes", "authorized", xs,
	      c + ms(20), &cr->hash);
	craft(&rs, "set", a.kr, DFS_OP_FIELD_SET, &k, &x, "notes", "f", "one", c + ms(30),
	      &cr->hash);
	craft(&rs, "append", a.kr, DFS_OP_FIELD_APPEND, &k, &x, "notes", "f", "+two", c + ms(31),
	      &cr->hash);
	craft(&rs, "owner", a.kr, DFS_OP_FIELD_SET, &k, &k, "notes", "g", "o", c + ms(40),
	      &cr->hash);
	/* Held first in some orders: the rc says so; the value is the same. */
	struct expect_field e = { &k, "f", "one+two", rs.r[2].clock, &x, rs.r[1].clock, false,
				  rs.n };
	converge_after(&base, &rs, check_field, &e);

	/* Before the grant, the write is held, and says why; after, it is applied. */
	struct node b;
	struct outcome out;
	node_make(&b, "b");
	feed(&b, &base, (const int[]){ 0, 1 }, &out, "base");
	cr_assert_eq(dfs_db_receive(b.db, rs.r[1].data, rs.r[1].len, NULL), -EPERM);
	cr_assert_eq(dfs_db_get_field(b.db, &k, "f", &(struct dfs_field_rec){ 0 }), -ENOENT);
	cr_assert_str_eq(history_says(&b, &k, &rs.r[1].hash, &h),
			 "unauthorized: signer not in .authorized at its clock");
	cr_assert_eq(dfs_db_receive(b.db, rs.r[0].data, rs.r[0].len, NULL), 0);
	expect_value(&b, &k, "f", "one", "granted");
	cr_assert_str_eq(history_says(&b, &k, &rs.r[1].hash, &h), "");
	node_destroy(&b);
	recs_release(&rs);
	recs_release(&base);
}

static bool wants_updates(void *ctx, enum dfs_event event, const char *model)
{
	(void)ctx;
	(void)model;
	return event == DFS_EVENT_UPDATE;
}

static int accept_all(void *ctx, const struct dfs_change *c, char *why, size_t whylen)
{
	(void)c;
	(void)why;
	(void)whylen;
	(*(int *)ctx)++;
	return 0;
}

static void told(void *ctx, const struct dfs_change *c)
{
	(void)ctx;
	(void)c;
}

/*
 * Where listeners judge updates, a held write that a late grant authorizes
 * is not applied unjudged: it stays held, pending, and says so.
 */
Test(converge, a_late_grant_leaves_listened_updates_pending)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k, x;
	char xs[DFS_PUBKEY_LEN + 1];
	uint64_t c = base_clock();
	struct held_of h;
	struct node b;
	int asked = 0;
	struct dfs_db_listener l = { wants_updates, accept_all, told, &asked, NULL, NULL };

	key_as_value(&x, xs);
	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	const struct rec *w = craft(&rs, "set", a.kr, DFS_OP_FIELD_SET, &k, &x, "notes", "f",
				    "one", c + ms(30), &cr->hash);
	const struct rec *g = craft(&rs, "grant", a.kr, DFS_OP_OBJECT_META, &k, &k, "notes",
				    "authorized", xs, c + ms(20), &cr->hash);
	node_make(&b, "b");
	dfs_db_set_listener(b.db, &l);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(dfs_db_receive(b.db, rs.r[i].data, rs.r[i].len, NULL), 0);
	cr_assert_eq(dfs_db_receive(b.db, w->data, w->len, NULL), -EPERM);
	cr_assert_eq(asked, 0, "held by the policy before any listener");
	cr_assert_eq(dfs_db_receive(b.db, g->data, g->len, NULL), 0);
	cr_assert_eq(asked, 0);
	cr_assert_eq(dfs_db_get_field(b.db, &k, "f", &(struct dfs_field_rec){ 0 }), -ENOENT);
	cr_assert(starts(history_says(&b, &k, &w->hash, &h), "pending: "), "%s", h.got);
	node_destroy(&b);
	recs_release(&rs);
}

/*
 * Under the strict policy only the owner removes the object or makes and
 * deletes its dicts: a listed key cannot, locally or from a peer.
 */
Test(converge, structure_is_the_owners)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k, chief;
	struct node b;
	struct held_of h;

	cr_assert_eq(dfs_db_create_model(a.db, "notes"), 0);
	cr_assert_eq(dfs_db_create_object(a.db, "notes", "doc", &k), 0);
	node_make(&b, "b");
	cr_assert_eq(dfs_db_create_model(b.db, "notes"), 0);
	cr_assert_eq(dfs_db_create_object(b.db, "notes", "chief", &chief), 0);
	cr_assert_eq(dfs_db_set_authorized(a.db, &k, &chief, 1), 0);
	cr_assert_eq(log_to_recs(&a, 0, &rs), 3);
	for (int i = 0; i < rs.n; i++)
		cr_assert_neq(dfs_db_receive(b.db, rs.r[i].data, rs.r[i].len, NULL), -EBADMSG);
	cr_assert_eq(dfs_db_set_as(b.db, &chief), 0);
	cr_assert_eq(dfs_db_set_field(b.db, &k, "f", (const uint8_t *)"ok", 2), 0);
	cr_assert_eq(dfs_db_create_dict(b.db, &k, "d"), -EPERM);
	cr_assert_eq(dfs_db_remove_object(b.db, &k), -EPERM);

	/* From a peer: held, with the reason. */
	struct dfs_hash head = head_of(&a, &k);
	const struct rec *rm = craft(&rs, "remove", b.kr, DFS_OP_OBJECT_REMOVE, &k, &chief,
				     "notes", "", NULL, base_clock() + ms(10), &head);
	cr_assert_eq(dfs_db_receive(a.db, rm->data, rm->len, NULL), -EPERM);
	cr_assert_eq(dfs_db_get_object_by_key(a.db, &k, &(struct dfs_object_rec){ 0 }), 0);
	cr_assert_str_eq(history_says(&a, &k, &rm->hash, &h),
			 "unauthorized: only the object's owner may do this");
	node_destroy(&b);
	recs_release(&rs);
}

struct dict_race {
	const struct dfs_pubkey *obj;
	const struct rec *refused;
};

static void check_dict_race(struct node *b, const struct outcome *out, const char *desc,
			    void *ctx)
{
	struct dict_race *r = ctx;
	struct dfs_field_rec f;
	struct held_of h;

	(void)out;
	cr_assert_eq(dfs_db_get_field(b->db, r->obj, "d", &f), -ENOENT, "%s: d is gone", desc);
	cr_assert_eq(raw_field(b, r->obj, "d/k", &f), 0, "%s", desc);
	cr_assert_not(f.alive, "%s: d/k is buried with its dict", desc);
	const char *s = history_says(b, r->obj, &r->refused->hash, &h);
	cr_assert(s && *s, "%s: x's late key is held: %s", desc, s ? s : "not listed");
}

/*
 * A key x wrote after its revocation, in a dict the owner then deletes:
 * undoing it never brings back the key the dict delete buried.
 */
Test(converge, an_undone_key_stays_buried_with_its_dict)
{
	struct recs base = { 0 }, rs = { 0 };
	struct dfs_pubkey k, x;
	char xs[DFS_PUBKEY_LEN + 1];
	uint64_t c = base_clock();

	key_as_value(&x, xs);
	craft_model(&base, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&base, "create", "notes", "doc", c + 1, &k);
	const struct rec *g = craft(&base, "grant", a.kr, DFS_OP_OBJECT_META, &k, &k, "notes",
				    "authorized", xs, c + ms(20), &cr->hash);
	const struct rec *d = craft(&base, "dict", a.kr, DFS_OP_DICT_CREATE, &k, &k, "notes", "d",
				    NULL, c + ms(25), &g->hash);
	const struct rec *o = craft(&base, "key", a.kr, DFS_OP_FIELD_SET, &k, &k, "notes", "d/k",
				    "o", c + ms(27), &d->hash);
	craft(&rs, "revoke", a.kr, DFS_OP_OBJECT_META, &k, &k, "notes", "authorized", "",
	      c + ms(40), &o->hash);
	const struct rec *late = craft(&rs, "late key", a.kr, DFS_OP_FIELD_SET, &k, &x, "notes",
				       "d/k", "x", c + ms(50), &o->hash);
	craft(&rs, "dict delete", a.kr, DFS_OP_DICT_DELETE, &k, &k, "notes", "d", NULL,
	      c + ms(60), &o->hash);
	struct dict_race r = { &k, late };
	converge_after(&base, &rs, check_dict_race, &r);
	recs_release(&rs);
	recs_release(&base);
}

/* ---- conflicts -------------------------------------------------------------- */

/*
 * A set or delete of obj's path as made on a node whose field stood at base
 * (NULL: none yet); old says it is a record of an older release, without one.
 */
static const struct rec *craft_based(struct recs *rs, const char *label, uint8_t op,
				     const struct dfs_pubkey *obj, const char *path,
				     const char *value, uint64_t clock, const struct rec *prev,
				     const struct rec *base, bool old)
{
	struct dfs_update u = {
		.op = op,
		.flags = old ? 0 : DFS_UPDATE_FLAG_BASE,
		.clock = clock,
		.entity = *obj,
		.signer = *obj,
		.prev = prev->hash,
		.model = "notes",
		.model_len = 5,
		.name = path,
		.name_len = strlen(path),
		.value = (const uint8_t *)value,
		.value_len = value ? strlen(value) : 0,
		.base = base ? base->hash : zero_hash,
	};
	struct dfs_buf out;

	dfs_buf_init(&out);
	cr_assert_eq(dfs_update_encode(&u, &out), 0, "%s", label);
	size_t slen = dfs_update_signed_len(out.len);
	cr_assert_eq(dfs_keyring_sign(a.kr, obj, out.data, slen, out.data + slen), 0);
	const struct rec *r = recs_add(rs, label, out.data, out.len);
	dfs_buf_release(&out);
	return r;
}

/* A resolve of lost, a set of obj's path. */
static const struct rec *craft_resolve(struct recs *rs, const char *label,
				       const struct dfs_pubkey *obj, const char *path,
				       const struct rec *lost, uint64_t clock,
				       const struct rec *prev)
{
	struct dfs_update u = {
		.op = DFS_OP_FIELD_RESOLVE,
		.clock = clock,
		.entity = *obj,
		.signer = *obj,
		.prev = prev->hash,
		.model = "notes",
		.model_len = 5,
		.name = path,
		.name_len = strlen(path),
		.value = lost->hash.b,
		.value_len = DFS_HASH_LEN,
	};
	struct dfs_buf out;

	dfs_buf_init(&out);
	cr_assert_eq(dfs_update_encode(&u, &out), 0, "%s", label);
	size_t slen = dfs_update_signed_len(out.len);
	cr_assert_eq(dfs_keyring_sign(a.kr, obj, out.data, slen, out.data + slen), 0);
	const struct rec *r = recs_add(rs, label, out.data, out.len);
	dfs_buf_release(&out);
	return r;
}

struct expect_conflicts {
	const struct dfs_pubkey *obj;
	const char *path;
	const char *value;			/* the field's, NULL: deleted */
	const struct rec *lost[4];		/* NULL-ended, in hash order */
	const struct rec *winner;
	int nrecs;
};

struct seen_conflicts {
	int n;
	struct dfs_db_conflict c[8];
};

static int collect_conflict(const struct dfs_db_conflict *c, void *arg)
{
	struct seen_conflicts *s = arg;

	cr_assert_lt(s->n, 8);
	s->c[s->n++] = *c;
	return 0;
}

static int hash_order(const void *x, const void *y)
{
	const struct rec *const *a1 = x, *const *b1 = y;

	return memcmp((*a1)->hash.b, (*b1)->hash.b, DFS_HASH_LEN);
}

static void check_conflicts(struct node *b, const struct outcome *out, const char *desc,
			    void *ctx)
{
	struct expect_conflicts *e = ctx;
	struct seen_conflicts s = { 0 }, all = { 0 };
	const struct rec *lost[4];
	int n = 0;
	uint8_t *val;
	size_t len;

	expect_all_applied(out, e->nrecs, desc);
	if (e->value)
		expect_value(b, e->obj, e->path, e->value, desc);
	while (e->lost[n])
		lost[n] = e->lost[n], n++;
	qsort(lost, (size_t)n, sizeof(lost[0]), hash_order);
	cr_assert_eq(dfs_db_conflicts(b->db, e->obj, collect_conflict, &s), 0);
	cr_assert_eq(dfs_db_conflicts(b->db, NULL, collect_conflict, &all), 0);
	cr_assert_eq(s.n, n, "%s: %d conflicts, want %d", desc, s.n, n);
	cr_assert_eq(all.n, n, "%s: every object's", desc);
	struct dfs_db_stats st;
	dfs_db_get_stats(b->db, &st);
	cr_assert_eq(st.conflicts, (uint64_t)n, "%s: counted", desc);
	for (int i = 0; i < n; i++) {
		cr_assert_str_eq(s.c[i].path, e->path, "%s", desc);
		cr_assert_arr_eq(s.c[i].lost.b, lost[i]->hash.b, DFS_HASH_LEN, "%s: conflict %d",
				 desc, i);
		cr_assert_eq(s.c[i].clock, lost[i]->clock, "%s", desc);
		cr_assert_arr_eq(s.c[i].winner.b, e->winner->hash.b, DFS_HASH_LEN, "%s: winner",
				 desc);
		cr_assert_eq(dfs_db_conflict_value(b->db, e->obj, e->path, &lost[i]->hash, &val,
						   &len, NULL), 0, "%s", desc);
		dfs_value_free(val);
	}
}

/* Two sets made on two nodes from one value: the earlier is a conflict everywhere. */
Test(converge, concurrent_sets_make_a_conflict)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	const struct rec *one = craft_based(&rs, "one", DFS_OP_FIELD_SET, &k, "phone", "111",
					    c + ms(10), cr, NULL, false);
	const struct rec *two = craft_based(&rs, "two", DFS_OP_FIELD_SET, &k, "phone", "222",
					    c + ms(20), cr, NULL, false);
	struct expect_conflicts e = { &k, "phone", "222", { one, NULL }, two, rs.n };
	converge(&rs, NULL, false, check_conflicts, &e);
	recs_release(&rs);
}

/* A set made on the value it replaces is no conflict; appends never are. */
Test(converge, a_set_on_what_it_saw_and_appends_are_no_conflict)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	const struct rec *one = craft_based(&rs, "one", DFS_OP_FIELD_SET, &k, "phone", "111",
					    c + ms(10), cr, NULL, false);
	const struct rec *two = craft_based(&rs, "two", DFS_OP_FIELD_SET, &k, "phone", "222",
					    c + ms(20), one, one, false);
	craft_field(&rs, "append", DFS_OP_FIELD_APPEND, &k, "phone", "3", c + ms(30), one);
	struct expect_conflicts e = { &k, "phone", "2223", { NULL }, two, rs.n };
	converge(&rs, NULL, false, check_conflicts, &e);
	recs_release(&rs);
}

/* Three concurrent sets: both losers show. A later set on the winner leaves them. */
Test(converge, a_field_with_several_losing_values_shows_each)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	const struct rec *one = craft_based(&rs, "one", DFS_OP_FIELD_SET, &k, "phone", "111",
					    c + ms(10), cr, NULL, false);
	const struct rec *two = craft_based(&rs, "two", DFS_OP_FIELD_SET, &k, "phone", "222",
					    c + ms(20), cr, NULL, false);
	const struct rec *three = craft_based(&rs, "three", DFS_OP_FIELD_SET, &k, "phone",
					      "333", c + ms(30), cr, NULL, false);
	const struct rec *four = craft_based(&rs, "four", DFS_OP_FIELD_SET, &k, "phone", "444",
					     c + ms(40), three, three, false);
	struct expect_conflicts e = { &k, "phone", "444", { one, two, NULL }, four, rs.n };
	converge(&rs, NULL, false, check_conflicts, &e);
	recs_release(&rs);
}

/* rm: a resolve clears the conflict, whether it comes before the loser or after. */
Test(converge, a_resolve_clears_the_conflict_in_any_order)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	const struct rec *one = craft_based(&rs, "one", DFS_OP_FIELD_SET, &k, "phone", "111",
					    c + ms(10), cr, NULL, false);
	const struct rec *two = craft_based(&rs, "two", DFS_OP_FIELD_SET, &k, "phone", "222",
					    c + ms(20), cr, NULL, false);
	craft_resolve(&rs, "rm", &k, "phone", one, c + ms(30), two);
	struct expect_conflicts e = { &k, "phone", "222", { NULL }, two, rs.n };
	converge(&rs, NULL, false, check_conflicts, &e);
	recs_release(&rs);
}

/* mv: the loser's value set on the winner, and the loser resolved. */
Test(converge, taking_the_losing_value_clears_the_conflict)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	const struct rec *one = craft_based(&rs, "one", DFS_OP_FIELD_SET, &k, "phone", "111",
					    c + ms(10), cr, NULL, false);
	const struct rec *two = craft_based(&rs, "two", DFS_OP_FIELD_SET, &k, "phone", "222",
					    c + ms(20), cr, NULL, false);
	const struct rec *mv = craft_based(&rs, "mv", DFS_OP_FIELD_SET, &k, "phone", "111",
					   c + ms(30), two, two, false);
	craft_resolve(&rs, "rm", &k, "phone", one, c + ms(31), mv);
	struct expect_conflicts e = { &k, "phone", "111", { NULL }, mv, rs.n };
	converge(&rs, NULL, false, check_conflicts, &e);
	recs_release(&rs);
}

/*
 * A set of an older release (no base) builds on every update before it; a
 * delete that did not see a set leaves it a conflict.
 */
Test(converge, an_old_record_builds_on_everything_before_it)
{
	struct recs rs = { 0 };
	struct dfs_pubkey k;
	uint64_t c = base_clock();

	craft_model(&rs, "model", a.kr, "notes", c);
	const struct rec *cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	craft_based(&rs, "one", DFS_OP_FIELD_SET, &k, "phone", "111", c + ms(10), cr, NULL, false);
	const struct rec *two = craft_based(&rs, "two", DFS_OP_FIELD_SET, &k, "phone", "222",
					    c + ms(20), cr, NULL, false);
	const struct rec *old = craft_based(&rs, "old", DFS_OP_FIELD_SET, &k, "phone", "333",
					    c + ms(30), two, NULL, true);
	struct expect_conflicts e = { &k, "phone", "333", { NULL }, old, rs.n };
	converge(&rs, NULL, false, check_conflicts, &e);
	recs_release(&rs);

	craft_model(&rs, "model", a.kr, "notes", c);
	cr = craft_object(&rs, "create", "notes", "doc", c + 1, &k);
	const struct rec *set = craft_based(&rs, "set", DFS_OP_FIELD_SET, &k, "phone", "111",
					    c + ms(10), cr, NULL, false);
	const struct rec *del = craft_based(&rs, "del", DFS_OP_FIELD_DELETE, &k, "phone", NULL,
					    c + ms(20), cr, NULL, false);
	struct expect_conflicts d = { &k, "phone", NULL, { set, NULL }, del, rs.n };
	converge(&rs, NULL, false, check_conflicts, &d);
	recs_release(&rs);
}

static int count_key(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

/*
 * A local set replaces the winner it was made on: no mark that the winner
 * was built on is stored, and no conflict of it is looked up.
 */
Test(converge, a_local_set_on_the_winner_marks_nothing)
{
	struct dfs_pubkey k;
	int marks = 0;

	cr_assert_eq(dfs_db_create_model(a.db, "notes"), 0);
	cr_assert_eq(dfs_db_create_object(a.db, "notes", "doc", &k), 0);
	cr_assert_eq(dfs_db_set_field(a.db, &k, "phone", (const uint8_t *)"111", 3), 0);
	conflict_gets = 0;
	cr_assert_eq(dfs_db_set_field(a.db, &k, "phone", (const uint8_t *)"222", 3), 0);
	cr_assert_eq(dfs_db_delete_field(a.db, &k, "phone"), 0);
	cr_assert_eq(conflict_gets, 0);
	cr_assert_eq(dfs_store_sync(a.st), 0);
	cr_assert_eq(dfs_store_scan(a.st, "Z", 1, count_key, &marks), 0);
	cr_assert_eq(marks, 0);
	cr_assert_eq(dfs_db_conflict_count(a.db), 0);
}
