// SPDX-License-Identifier: MIT
/* make_corpus.c - writes the seed corpora under tests/fuzz/corpus/ (run by hand, output checked in) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dinemicfs/keys.h"
#include "dinemicfs/records.h"
#include "dinemicfs/seal.h"
#include "dinemicfs/update.h"
#include "dinemicfs/util.h"
#include "dinemicfs/wire.h"

/*
 * Usage: make_corpus DIR [TARGET...], normally tests/fuzz/corpus. Rewrites
 * the seeds it knows (of the named targets only, when any are named: the
 * sealed seeds of fuzz_keyset and fuzz_items change on every run) and
 * leaves any other files alone. Valid records come from the real
 * encoders, so a format change shows up as a diff in the corpus; broken ones
 * are valid ones with a few bytes changed. Signatures are filler: decoders
 * check structure only.
 */

static const char *root;
static char **only;	/* the targets to write, NULL-terminated; NULL: all */
static int failed;

static int wanted(const char *target)
{
	if (!only)
		return 1;
	for (char **t = only; *t; t++)
		if (strcmp(*t, target) == 0)
			return 1;
	return 0;
}

static void put(const char *target, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	if (!wanted(target))
		return;

	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "make_corpus: %s: %s\n", path, strerror(errno));
		failed = 1;
		return;
	}
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	f = fopen(path, "wb");
	if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
		fprintf(stderr, "make_corpus: %s: %s\n", path, strerror(errno));
		failed = 1;
	}
}

/* ---- updates ---------------------------------------------------------- */

static const char long_name[] =
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; /* 255 bytes */

static struct dfs_update base_update(uint8_t op, const char *name, const void *value, size_t vlen)
{
	struct dfs_update u;

	memset(&u, 0, sizeof(u));
	u.op = op;
	u.clock = 0x0000019300000001ull;
	memset(u.entity.b, 0xe1, sizeof(u.entity.b));
	memset(u.signer.b, 0x51, sizeof(u.signer.b));
	memset(u.prev.b, 0x9f, sizeof(u.prev.b));
	u.model = "Person";
	u.model_len = strlen(u.model);
	u.name = name ? name : "";
	u.name_len = strlen(u.name);
	u.value = value;
	u.value_len = vlen;
	memset(u.sig, 0x5a, sizeof(u.sig));
	return u;
}

/* Encodes u into b (reset first); a seed that does not encode is a bug here. */
static void encode(const struct dfs_update *u, struct dfs_buf *b)
{
	dfs_buf_reset(b);
	if (dfs_update_encode(u, b) < 0) {
		fprintf(stderr, "make_corpus: cannot encode op %u\n", u->op);
		exit(1);
	}
}

/* Offset of the 2-byte name length in an encoded update. */
static size_t name_len_off(const struct dfs_update *u)
{
	return DFS_UPDATE_HEADER_LEN + 1 + u->model_len;
}

static size_t value_len_off(const struct dfs_update *u)
{
	return name_len_off(u) + 2 + u->name_len;
}

static void update_seeds(void)
{
	static const char *const t = "fuzz_update";
	struct dfs_buf b;
	struct dfs_update u;
	uint8_t key[32];
	char path[512];

	dfs_buf_init(&b);
	memset(key, 0x4b, sizeof(key));

	u = base_update(DFS_OP_MODEL_CREATE, NULL, NULL, 0);
	encode(&u, &b);
	put(t, "model-create", b.data, b.len);
	u.op = DFS_OP_MODEL_REMOVE;
	encode(&u, &b);
	put(t, "model-remove", b.data, b.len);
	u = base_update(DFS_OP_MODEL_META, "encrypted", "1", 1);
	encode(&u, &b);
	put(t, "model-meta", b.data, b.len);

	u = base_update(DFS_OP_OBJECT_CREATE, "alice", NULL, 0);
	u.signer = u.entity;
	memset(u.prev.b, 0, sizeof(u.prev.b));
	encode(&u, &b);
	put(t, "object-create", b.data, b.len);
	b.data[44] ^= 1; /* signer != entity */
	put(t, "bad-object-create-signer", b.data, b.len);
	u = base_update(DFS_OP_OBJECT_REMOVE, NULL, NULL, 0);
	encode(&u, &b);
	put(t, "object-remove", b.data, b.len);
	u = base_update(DFS_OP_OBJECT_META, "authorized", key, sizeof(key));
	encode(&u, &b);
	put(t, "object-meta", b.data, b.len);

	u = base_update(DFS_OP_FIELD_SET, "age", "42", 2);
	encode(&u, &b);
	put(t, "field-set", b.data, b.len);
	/* Truncations: inside the header, before the model, before the signature, one short. */
	put(t, "truncated-header", b.data, 40);
	put(t, "truncated-model", b.data, DFS_UPDATE_HEADER_LEN + 3);
	put(t, "truncated-sig", b.data, b.len - DFS_SIG_LEN);
	put(t, "truncated-one", b.data, b.len - 1);
	dfs_buf_add_u8(&b, 0);
	put(t, "trailing-byte", b.data, b.len);
	b.len--;
	b.data[0] = 2;
	put(t, "bad-version", b.data, b.len);
	b.data[0] = DFS_UPDATE_VERSION;
	b.data[1] = 2;
	put(t, "bad-alg", b.data, b.len);
	b.data[1] = DFS_UPDATE_ALG_ED25519;
	b.data[2] = DFS_OP_FIELD_RESOLVE + 1;
	put(t, "bad-op", b.data, b.len);
	b.data[2] = DFS_OP_FIELD_SET;
	b.data[3] = 0x04;
	put(t, "bad-flags", b.data, b.len);
	b.data[3] = DFS_UPDATE_FLAG_BASE; /* says a base follows, where none does */
	put(t, "bad-missing-base", b.data, b.len);
	b.data[3] = 0;
	b.data[value_len_off(&u)] = 0xff; /* value length far past the end */
	put(t, "bad-value-len", b.data, b.len);

	u = base_update(DFS_OP_FIELD_SET, "tags/red", "\x00\xff\x01", 3);
	u.flags = DFS_UPDATE_FLAG_SEALED;
	encode(&u, &b);
	put(t, "field-set-dict-sealed", b.data, b.len);
	b.data[name_len_off(&u) + 2] = '.'; /* ".ags/red" */
	put(t, "bad-dot-name", b.data, b.len);
	b.data[name_len_off(&u) + 2] = '/'; /* "/ags/red" */
	put(t, "bad-empty-part", b.data, b.len);
	b.data[name_len_off(&u) + 2] = 't';
	b.data[name_len_off(&u) + 5] = '\n'; /* "tag\n/red": stored by an earlier release */
	put(t, "control-in-name", b.data, b.len);
	b.data[name_len_off(&u) + 5] = 's';
	b.data[name_len_off(&u) + 7] = 0x1b; /* "tags/\x1bed" */
	put(t, "escape-in-key", b.data, b.len);

	u = base_update(DFS_OP_FIELD_APPEND, "log", "line\n", 5);
	encode(&u, &b);
	put(t, "field-append", b.data, b.len);
	u = base_update(DFS_OP_FIELD_DELETE, "age", NULL, 0);
	encode(&u, &b);
	put(t, "field-delete", b.data, b.len);
	u.flags = DFS_UPDATE_FLAG_BASE;
	memset(u.base.b, 0xb5, DFS_HASH_LEN);
	encode(&u, &b);
	put(t, "field-delete-base", b.data, b.len);
	u = base_update(DFS_OP_FIELD_SET, "age", "43", 2);
	u.flags = DFS_UPDATE_FLAG_BASE;
	memset(u.base.b, 0xb6, DFS_HASH_LEN);
	encode(&u, &b);
	put(t, "field-set-base", b.data, b.len);
	u = base_update(DFS_OP_FIELD_RESOLVE, "age", "0123456789abcdef0123456789abcdef",
			DFS_HASH_LEN);
	encode(&u, &b);
	put(t, "field-resolve", b.data, b.len);
	u = base_update(DFS_OP_DICT_CREATE, "tags", NULL, 0);
	encode(&u, &b);
	put(t, "dict-create", b.data, b.len);
	u.op = DFS_OP_DICT_DELETE;
	encode(&u, &b);
	put(t, "dict-delete", b.data, b.len);

	/* Longest names: a 255-byte model and a 255/255 dict path (511 bytes). */
	snprintf(path, sizeof(path), "%s/%s", long_name, long_name);
	u = base_update(DFS_OP_FIELD_SET, path, "v", 1);
	u.model = long_name;
	u.model_len = strlen(long_name);
	encode(&u, &b);
	put(t, "longest-names", b.data, b.len);
	b.data[name_len_off(&u) + 1] = 0x00; /* name length 512 */
	b.data[name_len_off(&u)] = 0x02;
	put(t, "bad-name-len", b.data, b.len);

	put(t, "empty", "", 0);
	dfs_buf_release(&b);
}

/* ---- store records ---------------------------------------------------- */

/* Writes selector byte `which` followed by the record in b. */
static void put_rec(const char *name, uint8_t which, const struct dfs_buf *b, size_t len)
{
	uint8_t tmp[1024];

	tmp[0] = which;
	memcpy(tmp + 1, b->data, len);
	put("fuzz_records", name, tmp, len + 1);
}

static void record_seeds(void)
{
	struct dfs_buf b;
	struct dfs_model_rec m = { .live = true, .mtime = 0x0000019300000007ull, .objects = 3 };
	struct dfs_object_rec o = { .alive = true, .created = 5, .mtime = 9 };
	struct dfs_field_rec f = { .kind = DFS_FIELD_VALUE, .alive = true, .clock = 77,
				   .mtime = 78, .size = 4096 };
	struct dfs_state_rec s = { .seq = 12345, .clock = 0x0000019300000009ull };

	dfs_buf_init(&b);
	memset(m.head.b, 0x11, sizeof(m.head.b));
	memset(m.signer.b, 0x22, sizeof(m.signer.b));
	memset(o.head.b, 0x33, sizeof(o.head.b));
	memset(f.signer.b, 0x44, sizeof(f.signer.b));
	strcpy(o.model, "Person");
	strcpy(o.name, "alice");

	dfs_model_rec_encode(&m, &b);
	put_rec("model", 0, &b, b.len);
	put_rec("model-truncated", 0, &b, b.len - 1);
	b.data[1] = 2; /* alive must be 0 or 1 */
	put_rec("model-bad-bool", 0, &b, b.len);
	dfs_buf_reset(&b);
	m.live = false;
	dfs_model_rec_encode(&m, &b);
	put_rec("model-removed", 0, &b, b.len);
	/* Release 0.1.0's layout: the version byte 2, and no object count. */
	b.data[0] = DFS_REC_VERSION;
	put_rec("model-v1", 5, &b, b.len - 8);
	put_rec("model-v1-as-model", 0, &b, b.len - 8);
	put_rec("model-as-v1", 5, &b, b.len);
	dfs_buf_reset(&b);
	dfs_version_rec_encode(DFS_STORE_VERSION, &b);
	put_rec("version", 6, &b, b.len);
	put_rec("version-truncated", 6, &b, b.len - 1);

	dfs_buf_reset(&b);
	dfs_object_rec_encode(&o, &b);
	put_rec("object", 1, &b, b.len);
	put_rec("object-truncated", 1, &b, b.len - 2);
	dfs_buf_add_u8(&b, 0);
	put_rec("object-trailing", 1, &b, b.len);
	b.data[b.len - 3] = '\0'; /* NUL inside the name */
	put_rec("object-nul-name", 1, &b, b.len - 1);
	dfs_buf_reset(&b);
	strcpy(o.name, long_name);
	o.alive = false;
	dfs_object_rec_encode(&o, &b);
	put_rec("object-long-name", 1, &b, b.len);
	dfs_buf_reset(&b);
	o.name[0] = '\0'; /* zero-length name */
	dfs_object_rec_encode(&o, &b);
	put_rec("object-empty-name", 1, &b, b.len);

	struct dfs_history_rec h = { .held = DFS_HELD_LISTENER, .text = "on_update.10-deny: no",
				     .text_len = 21 };
	memset(h.hash.b, 0x55, sizeof(h.hash.b));
	dfs_buf_reset(&b);
	dfs_history_rec_encode(&h, &b);
	put_rec("history-held", 7, &b, b.len);
	put_rec("history-applied", 7, &b, DFS_HASH_LEN);
	put_rec("history-short", 7, &b, DFS_HASH_LEN - 1);
	b.data[DFS_HASH_LEN] = 9; /* unknown reason code */
	put_rec("history-bad-code", 7, &b, b.len);
	b.data[DFS_HASH_LEN] = DFS_HELD_RULE;
	b.data[b.len - 1] = '\n'; /* a control byte in the text */
	put_rec("history-control-byte", 7, &b, b.len);

	dfs_buf_reset(&b);
	dfs_field_rec_encode(&f, &b);
	put_rec("field", 2, &b, b.len);
	b.data[1] = 3; /* unknown kind */
	put_rec("field-bad-kind", 2, &b, b.len);
	dfs_buf_reset(&b);
	f.kind = DFS_FIELD_DICT;
	f.alive = false;
	f.flags = DFS_UPDATE_FLAG_SEALED;
	dfs_field_rec_encode(&f, &b);
	put_rec("field-dict-tombstone", 2, &b, b.len);
	b.data[0] = 2; /* unknown version */
	put_rec("field-bad-version", 2, &b, b.len);

	dfs_buf_reset(&b);
	dfs_state_rec_encode(&s, &b);
	put_rec("state", 3, &b, b.len);
	put_rec("state-as-model", 0, &b, b.len);
	put_rec("state-high-selector", 3 + 10, &b, b.len);
	dfs_buf_add_u8(&b, 0xff);
	put_rec("state-trailing", 3, &b, b.len);
	put_rec("selector-only", 3, &b, 0);

	struct dfs_held_rec hr = { .bytes = (1u << 20) + DFS_HELD_ENTRY_BYTES };
	struct dfs_held_sum hs = { .bytes = 16u << 20, .count = 16 };
	memset(hr.signer.b, 0x66, sizeof(hr.signer.b));
	memset(hr.entity.b, 0x77, sizeof(hr.entity.b));
	memset(hr.hash.b, 0x88, sizeof(hr.hash.b));
	dfs_buf_reset(&b);
	dfs_held_rec_encode(&hr, &b);
	put_rec("held", 8, &b, b.len);
	put_rec("held-truncated", 8, &b, b.len - 1);
	dfs_buf_reset(&b);
	dfs_held_sum_encode(&hs, &b);
	put_rec("held-sum", 9, &b, b.len);
	dfs_buf_add_u8(&b, 0);
	put_rec("held-sum-trailing", 9, &b, b.len);
	dfs_buf_release(&b);
}

/* ---- replication messages -------------------------------------------- */

static void encode_msg(const struct dfs_msg *m, struct dfs_buf *b)
{
	if (dfs_msg_encode(m, b) < 0) {
		fprintf(stderr, "make_corpus: cannot encode message '%c'\n", m->type);
		exit(1);
	}
}

/* HAVE, PRUNE and GRAFT (version 5): the tree's messages. */
static void tree_seeds(struct dfs_buf *b)
{
	static const char *const t = "fuzz_wire";
	struct dfs_hash h1, h2;
	struct dfs_msg m = { .type = DFS_MSG_PRUNE };
	uint64_t seqs[3] = { 4, 9, 30 };

	memset(h1.b, 0xa1, sizeof(h1.b));
	memset(h2.b, 0xb2, sizeof(h2.b));
	dfs_msg_have_begin(b, 30);
	dfs_msg_have_add(b, 9, &h1);
	dfs_msg_have_add(b, 12, &h2);
	dfs_msg_updates_end(b, 30);
	put(t, "have", b->data, b->len);
	put(t, "have-truncated", b->data, b->len - 1);
	b->data[1 + 16 + 40 + 7] = 9; /* the second item repeats seq 9 */
	put(t, "have-seq-repeat", b->data, b->len);
	dfs_msg_have_begin(b, 30);
	dfs_msg_updates_end(b, 30);
	put(t, "have-empty", b->data, b->len);
	dfs_msg_have_add(b, 31, &h1);
	put(t, "have-past-upto", b->data, b->len);
	encode_msg(&m, b);
	put(t, "prune", b->data, b->len);
	dfs_buf_add_u8(b, 0);
	put(t, "prune-trailing", b->data, b->len);
	if (dfs_msg_graft_encode(b, seqs, 3) < 0)
		exit(1);
	put(t, "graft", b->data, b->len);
	put(t, "graft-truncated", b->data, b->len - 1);
	put(t, "graft-none", b->data, 1);
	b->data[8] = 9; /* the first seq becomes 9, as the second */
	put(t, "graft-seq-repeat", b->data, b->len);
}

static void wire_seeds(void)
{
	static const char *const t = "fuzz_wire";
	struct dfs_buf b, r1, r2;
	struct dfs_update u;
	struct dfs_msg m;

	dfs_buf_init(&b);
	dfs_buf_init(&r1);
	dfs_buf_init(&r2);

	memset(&m, 0, sizeof(m));
	m.type = DFS_MSG_HELLO;
	memset(m.node.b, 0x51, sizeof(m.node.b));
	memset(m.nonce, 0x6e, sizeof(m.nonce));
	encode_msg(&m, &b);
	put(t, "hello", b.data, b.len);
	put(t, "hello-truncated", b.data, b.len - 1);
	b.data[1] = 1;
	put(t, "hello-version-1", b.data, b.len);
	/* Version 2's HELLO: version, flags, id, nonce, then head(8) and log id(16). */
	b.data[1] = 2;
	dfs_buf_add_u64be(&b, 41);
	for (int i = 0; i < DFS_WIRE_LOG_ID_LEN; i++)
		dfs_buf_add_u8(&b, 0x1d);
	put(t, "hello-version-2", b.data, b.len);
	/* Version 3's HELLO: the same body as this one; it had no ACK. */
	encode_msg(&m, &b);
	b.data[1] = 3;
	put(t, "hello-version-3", b.data, b.len);
	m.flags = DFS_WIRE_FLAG_NETKEY;
	encode_msg(&m, &b);
	put(t, "hello-netkey", b.data, b.len);
	b.data[2] = 0x02;
	put(t, "hello-bad-flags", b.data, b.len);

	memset(&m, 0, sizeof(m));
	m.type = DFS_MSG_AUTH;
	memset(m.sig, 0x5a, sizeof(m.sig));
	memset(m.mac, 0x3c, sizeof(m.mac));
	encode_msg(&m, &b);
	put(t, "auth", b.data, b.len);
	dfs_buf_add_u8(&b, 0);
	put(t, "auth-trailing", b.data, b.len);

	memset(&m, 0, sizeof(m));
	m.type = DFS_MSG_LOG;
	m.seq = 41;
	memset(m.log_id, 0x1d, sizeof(m.log_id));
	encode_msg(&m, &b);
	put(t, "log", b.data, b.len);
	put(t, "log-truncated", b.data, b.len - 1);
	put(t, "log-head-only", b.data, 1 + 8);
	dfs_buf_add_u8(&b, 0);
	put(t, "log-trailing", b.data, b.len);

	memset(&m, 0, sizeof(m));
	m.type = DFS_MSG_WANT;
	m.seq = 17;
	encode_msg(&m, &b);
	put(t, "want", b.data, b.len);
	b.data[0] = 'w';
	put(t, "bad-type", b.data, b.len);

	memset(&m, 0, sizeof(m));
	m.type = DFS_MSG_ACK;
	m.seq = 18;
	m.upto = 20;
	encode_msg(&m, &b);
	put(t, "ack", b.data, b.len);
	put(t, "ack-truncated", b.data, b.len - 1);
	dfs_buf_add_u8(&b, 0);
	put(t, "ack-trailing", b.data, b.len);

	/* Two real update records, framed as the sender's log entries 17 and 18. */
	u = base_update(DFS_OP_FIELD_SET, "age", "42", 2);
	encode(&u, &r1);
	u = base_update(DFS_OP_FIELD_APPEND, "log", "line\n", 5);
	encode(&u, &r2);
	dfs_msg_updates_begin(&b, 18);
	dfs_msg_updates_add(&b, 17, r1.data, r1.len);
	dfs_msg_updates_add(&b, 18, r2.data, r2.len);
	dfs_msg_updates_end(&b, 18);
	put(t, "updates", b.data, b.len);
	put(t, "updates-truncated", b.data, b.len - 1);
	b.data[1 + 16 + 12 + r1.len + 7] = 17; /* the second item repeats seq 17 */
	put(t, "updates-seq-repeat", b.data, b.len);
	b.data[1 + 16 + 8] = 0x7f; /* the first item's length far past the end */
	put(t, "updates-bad-len", b.data, b.len);
	dfs_msg_updates_begin(&b, 0);
	put(t, "updates-upto-0", b.data, b.len);
	dfs_msg_updates_end(&b, 30);
	put(t, "updates-empty", b.data, b.len);
	dfs_msg_updates_add(&b, 1, (const uint8_t *)"not a record", 12);
	put(t, "updates-junk-record", b.data, b.len);

	tree_seeds(&b);
	put(t, "empty", "", 0);
	dfs_buf_release(&r2);
	dfs_buf_release(&r1);
	dfs_buf_release(&b);
}

/* ---- command lines ---------------------------------------------------- */

#define ARGS(name, s) put("fuzz_config", name, s, sizeof(s) - 1)

static void config_seeds(void)
{
	ARGS("max-value", "st\0mnt\0-o\0max_value=4K");
	ARGS("all-options", "-f\0-o\0max_value=16M,sync=relaxed,log_level=info\0st\0mnt");
	ARGS("debug-ro", "-d\0-o\0ro,allow_other,default_permissions\0st\0mnt");
	ARGS("joined-o", "st\0mnt\0-omax_value=1G,sync=strict");
	ARGS("help", "-h");
	ARGS("version", "--version");
	ARGS("double-dash", "st\0--\0-mnt");
	ARGS("repeated", "st\0mnt\0-o\0sync=strict\0-o\0sync=relaxed\0-o\0max_value=1\0-o\0max_value=2");
	ARGS("no-args", "");
	ARGS("empty-arg", "\0st\0mnt");
	ARGS("missing-mountpoint", "st");
	ARGS("extra-arg", "st\0mnt\0extra");
	ARGS("o-without-arg", "st\0mnt\0-o");
	ARGS("max-value-zero", "st\0mnt\0-o\0max_value=0");
	ARGS("max-value-too-big", "st\0mnt\0-o\0max_value=17M");
	ARGS("max-value-negative", "st\0mnt\0-o\0max_value=-1");
	ARGS("max-value-overflow", "st\0mnt\0-o\0max_value=99999999999999999999G");
	ARGS("max-value-suffix", "st\0mnt\0-o\0max_value=4KB");
	ARGS("max-value-empty", "st\0mnt\0-o\0max_value=");
	ARGS("bad-sync", "st\0mnt\0-o\0sync=sometimes");
	ARGS("bad-log-level", "st\0mnt\0-o\0log_level=loud");
	ARGS("unknown-option", "st\0mnt\0--frobnicate\0-x\0-o\0nosuchopt=1");
	ARGS("empty-options", "st\0mnt\0-o\0,,,\0-o\0");
	ARGS("max-skew", "st\0mnt\0-o\0max_skew=2s,max_value=4K");
	ARGS("max-skew-ms", "st\0mnt\0-o\0max_skew=250ms");
	ARGS("max-skew-bad", "st\0mnt\0-o\0max_skew=25h\0-o\0max_skew=1.5s");
	ARGS("max-skew-overflow", "st\0mnt\0-o\0max_skew=99999999999999999999h");
	ARGS("park-per-peer", "st\0mnt\0-o\0park_per_peer=4K,max_skew=2s,link_queue=1M");
	ARGS("park-per-peer-bad", "st\0mnt\0-o\0park_per_peer=65M\0-o\0link_queue=2G");
	ARGS("listener-queue", "st\0mnt\0-o\0listener_queue=1M,link_queue=256K");
	ARGS("listener-queue-bad", "st\0mnt\0-o\0listener_queue=1023K\0-o\0listener_queue=2G");
	ARGS("clock-wait", "st\0mnt\0-o\0clock_wait=1M,max_skew=5s");
	ARGS("clock-wait-bad", "st\0mnt\0-o\0clock_wait=257M\0-o\0clock_wait=0");
	ARGS("held", "st\0mnt\0-o\0held_per_signer=1M,held_max=64M");
	ARGS("held-zero", "st\0mnt\0-o\0held_per_signer=0\0-o\0held_max=0");
	ARGS("held-bad", "st\0mnt\0-o\0held_per_signer=1T\0-o\0held_max=-1");
	ARGS("held-overflow", "st\0mnt\0-o\0held_max=99999999999999999999G");
}

/* ---- keysets and sealed values ---------------------------------------- */

/*
 * The fuzz target's fixed reader, data key and ad (fuzz_keyset.c), so that
 * the valid seeds open there. Sealing is randomised (ephemeral keys, nonces),
 * so unlike the others these seeds change on every run.
 */
static const struct dfs_seckey fuzz_reader_sk = { {
	0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
	0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
	0x68, 0xb0, 0x35, 0xf8, 0xe1, 0x61, 0x91, 0x2b, 0x76, 0x05, 0x7b, 0x0a, 0x59, 0x32, 0x78, 0xba,
	0xe5, 0x64, 0xc6, 0xa3, 0x40, 0x07, 0x5a, 0xc8, 0xa1, 0xf6, 0x96, 0x46, 0x39, 0x85, 0x30, 0x2f,
} };
static const uint8_t fuzz_ad[] = "fuzz-object\0Person/secret";

static void keyset_seeds(void)
{
	static const char *const t = "fuzz_keyset";
	static const uint32_t epochs[] = { 1, 2 };
	struct dfs_pubkey readers[2];
	struct dfs_seckey other_sk;
	struct dfs_datakey keys[2];
	struct dfs_buf b;

	dfs_buf_init(&b);
	if (dfs_crypto_init() < 0 || dfs_keys_generate(&readers[1], &other_sk) < 0)
		exit(1);
	dfs_seckey_wipe(&other_sk);
	dfs_seckey_public(&fuzz_reader_sk, &readers[0]);
	memset(keys[0].b, 0x4b, sizeof(keys[0].b));
	memset(keys[1].b, 0x4c, sizeof(keys[1].b));

	/* Epochs 1 and 2, each sealed to the fixed reader and one other. */
	if (dfs_keyset_build(keys, epochs, 2, readers, 2, &b) < 0) {
		fprintf(stderr, "make_corpus: cannot build a keyset\n");
		exit(1);
	}
	put(t, "keyset", b.data, b.len);
	put(t, "keyset-truncated", b.data, b.len - 1);
	dfs_buf_add_u8(&b, 0);
	put(t, "keyset-trailing", b.data, b.len);
	b.len--;
	b.data[3 + 6 + 2 * DFS_KEYSET_ENTRY_LEN + 3] = 1; /* the second epoch repeats 1 */
	put(t, "keyset-epoch-repeat", b.data, b.len);
	b.data[0] = 2;
	put(t, "keyset-bad-version", b.data, b.len);
	dfs_buf_reset(&b);
	if (dfs_keyset_build(keys, epochs, 1, &readers[1], 1, &b) < 0)
		exit(1);
	put(t, "keyset-other-reader", b.data, b.len);

	/* Values under the epoch-1 key, as fuzz_keyset.c opens them. */
	dfs_buf_reset(&b);
	if (dfs_value_seal(&keys[0], 1, fuzz_ad, sizeof(fuzz_ad), (const uint8_t *)"42", 2, &b) < 0)
		exit(1);
	put(t, "value", b.data, b.len);
	b.data[b.len - 1] ^= 0x01;
	put(t, "value-bad-tag", b.data, b.len);
	b.data[b.len - 1] ^= 0x01;
	b.data[4] = 0;
	put(t, "value-epoch-0", b.data, b.len);
	put(t, "value-short", b.data, DFS_VALUE_OVERHEAD - 1);
	dfs_buf_reset(&b);
	if (dfs_value_seal(&keys[0], 7, fuzz_ad, sizeof(fuzz_ad), NULL, 0, &b) < 0)
		exit(1);
	put(t, "value-empty", b.data, b.len);

	put(t, "empty", "", 0);
	dfs_datakey_wipe(&keys[0]);
	dfs_datakey_wipe(&keys[1]);
	dfs_buf_release(&b);
}

/* ---- items values ------------------------------------------------------ */

/* One sealed value of clear under fuzz_ad, with the data key of byte kb, appended as an item. */
static void add_sealed_item(struct dfs_buf *b, uint8_t kb, uint32_t epoch, const char *clear)
{
	struct dfs_datakey k;
	struct dfs_buf v;

	memset(k.b, kb, sizeof(k.b));
	dfs_buf_init(&v);
	if (dfs_value_seal(&k, epoch, fuzz_ad, sizeof(fuzz_ad), (const uint8_t *)clear,
			   strlen(clear), &v) < 0 ||
	    dfs_item_add(b, DFS_ITEM_SEALED, v.data, v.len) < 0) {
		fprintf(stderr, "make_corpus: cannot seal an item\n");
		exit(1);
	}
	dfs_datakey_wipe(&k);
	dfs_buf_release(&v);
}

static void add_clear_item(struct dfs_buf *b, const char *clear)
{
	dfs_item_add(b, DFS_ITEM_CLEAR, (const uint8_t *)clear, strlen(clear));
}

/*
 * Values of fields that hold encrypted parts, as the store keeps them;
 * sealed items under fuzz_items.c's fixed key (that of fuzz_keyset.c), so
 * they open there. Random nonces: these seeds change on every run too.
 */
static void items_seeds(void)
{
	static const char *const t = "fuzz_items";
	struct dfs_buf b;

	dfs_buf_init(&b);
	put(t, "empty", "", 0);
	add_clear_item(&b, "plain-start\n");
	put(t, "clear", b.data, b.len);
	dfs_buf_reset(&b);
	add_sealed_item(&b, 0x4b, 1, "hunter2\n");
	put(t, "sealed", b.data, b.len);
	put(t, "sealed-truncated", b.data, b.len - 1);
	b.data[0] = 2; /* unknown kind */
	put(t, "bad-kind", b.data, b.len);
	b.data[0] = DFS_ITEM_SEALED;
	b.data[DFS_ITEM_HEADER_LEN + 4] = 0; /* epoch 0 */
	put(t, "sealed-epoch-0", b.data, b.len);
	dfs_buf_reset(&b);
	add_clear_item(&b, "plain-start\n");
	add_sealed_item(&b, 0x4b, 1, "sealed-part\n");
	add_sealed_item(&b, 0x4b, 2, "");
	add_clear_item(&b, "plain-end\n");
	put(t, "clear-sealed-empty-clear", b.data, b.len);
	dfs_buf_reset(&b);
	add_sealed_item(&b, 0x4c, 2, "another key\n");
	add_sealed_item(&b, 0x4b, 1, "this key\n");
	put(t, "sealed-two-keys", b.data, b.len);
	dfs_buf_reset(&b);
	dfs_item_add(&b, DFS_ITEM_SEALED, (const uint8_t *)"\x01\x00\x00\x00\x01short", 10);
	put(t, "sealed-short", b.data, b.len);
	put(t, "header-cut", b.data, 3);
	dfs_buf_reset(&b);
	dfs_buf_add_u8(&b, DFS_ITEM_CLEAR);
	dfs_buf_add_u32be(&b, 0xffffffffu); /* far past the end */
	dfs_buf_add(&b, "abc", 3);
	put(t, "len-huge", b.data, b.len);
	dfs_buf_release(&b);
}

/* ---- encrypted field lists --------------------------------------------- */

#define LIST(name, s) put("fuzz_encrypted", name, s, sizeof(s) - 1)

static void encrypted_seeds(void)
{
	char name[DFS_NAME_MAX + 2];

	LIST("empty", "");
	LIST("one", "secret\n");
	LIST("sorted", "a\nab\nb\nlog\nsecret\n");
	LIST("utf8", "caf\xc3\xa9\nna\xc3\xafve\n");
	LIST("unsorted", "secret\nlog\n");
	LIST("duplicate", "log\nlog\n");
	LIST("prefix-after", "logs\nlog\n");
	LIST("dot-name", ".hidden\nlog\n");
	LIST("dotdot", "..\n");
	LIST("no-final-newline", "log\nsecret");
	LIST("empty-name", "log\n\nsecret\n");
	LIST("slash", "a/b\n");
	LIST("nul", "a\0b\n");
	memset(name, 'n', sizeof(name));
	name[DFS_NAME_MAX] = '\n';
	put("fuzz_encrypted", "longest-name", name, DFS_NAME_MAX + 1);
	name[DFS_NAME_MAX] = 'n';
	name[DFS_NAME_MAX + 1] = '\n';
	put("fuzz_encrypted", "name-too-long", name, DFS_NAME_MAX + 2);
}

/* ---- lines naming objects (.authorized, .node/as) ------------------------ */

#define REF(name, s) put("fuzz_objref", name, s, sizeof(s) - 1)
#define HEX64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void objref_seeds(void)
{
	REF("empty", "");
	REF("name", "Person/chief\n");
	REF("name-key", "Person/chief " HEX64 "\n");
	REF("key", HEX64 "\n");
	REF("mixed", "Person/chief~0a1b2c3d\n\n  Person/bob\t" HEX64 "\r\n" HEX64);
	REF("blank-in-name", "Person/john smith\nPerson/john smith " HEX64 "\n");
	REF("escaped-comment", "Junk/x\\x0ay\\x1b " HEX64 "\n");
	REF("two-keys", HEX64 " " HEX64 "\n");
	REF("no-slash", "chief\n");
	REF("dot-name", "Person/.id\n");
	REF("control", "Person/a\x1b[2Jb\n");
	REF("short-key", "00112233\n");
	REF("nul", "Person/a\0b\n");
}

/* ---- dry-run requests (.node/try) ----------------------------------------- */

/* The first byte picks max_value in fuzz_tryreq: 's' (0x73) is 7.2 MiB. */
#define TRY(name, s) put("fuzz_tryreq", name, s, sizeof(s) - 1)

static void tryreq_seeds(void)
{
	TRY("empty", "");
	TRY("set", "set 6 Person/bob/salary\n99999\n");
	TRY("set-dict-key", "set 5 Person/bob/address/city\nParis");
	TRY("append", "append 4 Person/bob/tags\ntag\n");
	TRY("delete", "delete 0 Person/bob/salary\n");
	TRY("create", "create 0 Person/alice\n");
	TRY("remove", "remove 0 Person/alice\n");
	TRY("blank-in-path", "set 1 Person/john smith/first name\nx");
	TRY("partial", "set 6 Person/bo");
	TRY("dotdot", "set 1 Person/../../etc/passwd\nx");
	TRY("absolute", "set 1 /etc/passwd\nx");
	TRY("empty-component", "set 1 Person//bob\nx");
	TRY("leading-zero", "set 01 Person/bob/x\nx");
	TRY("over-max", "set 99999999999 Person/bob/x\n");
	TRY("overflow", "set 99999999999999999999 Person/bob/x\n");
	TRY("delete-with-value", "delete 1 Person/bob/x\nx");
	TRY("create-deep", "create 0 Person/bob/x\n");
	TRY("control", "set 1 Person/b\x1bob/x\nx");
	TRY("nul", "set 1 Person/b\0ob/x\nx");
	TRY("unknown-op", "format 0 Person/bob\n");
	TRY("garbage", "\x01\x02\x00zz");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s tests/fuzz/corpus [TARGET...]\n", argv[0]);
		return 2;
	}
	root = argv[1];
	only = argc > 2 ? argv + 2 : NULL;
	if (dfs_crypto_init() < 0)
		return 1;
	update_seeds();
	record_seeds();
	config_seeds();
	wire_seeds();
	keyset_seeds();
	items_seeds();
	encrypted_seeds();
	objref_seeds();
	tryreq_seeds();
	return failed;
}
