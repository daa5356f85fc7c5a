// SPDX-License-Identifier: MIT
/*
 * mkupdate.c - test tool: makes update records as any key holder could.
 *
 * With wsprobe's `send`, a test plays a peer that signs whatever it likes
 * with keys of its own: a record the nodes must judge on its content alone.
 * It builds records with the project's own codec, hashing, signing and key
 * files (update.h, keys.h), so a record it makes is well formed unless its
 * bytes are changed afterwards.
 *
 *   mkupdate newkey FILE   makes a key file (as a state directory's
 *                          keys/HEX.key) and prints its public key (hex)
 *   mkupdate pub FILE      prints a key file's public key (hex)
 *   mkupdate make --key FILE --op OP --clock C --entity E --model M
 *                 [--name N] [--value V | --value-file F] [--prev HEX]
 *                 [--sealed] [--base HEX] [--lost HEX] [--count K] --out FILE
 *                          writes one update record signed by FILE's key to
 *                          --out (replacing it) and prints its hash (hex);
 *                          with --count K, K records to FILE.1 ... FILE.K
 *
 * OP:     model-create model-remove model-meta object-create object-remove
 *         object-meta set append delete dict-create dict-delete resolve
 * C:      a decimal number (the raw 64-bit stamp); now, now+MS, now-MS (the
 *         wall clock, moved by MS milliseconds, as a hybrid-clock stamp with
 *         logical counter 0); max (2^64-1) or max-K
 * E:      64 hex digits; self (the signer's public key); model (the model
 *         id of M, BLAKE2b-256("dinemicfs-model\0" || M), for model ops);
 *         random (a new random one for each record)
 * N, V:   empty when not given; --sealed sets the flag that says the value
 *         is sealed with the object's data key (V is taken as it is); control
 *         bytes in M and N, which no node takes, are written as given
 * HEX:    the hash of the entity's previous update; zeros when not given.
 *         --base HEX (a set or delete): the update the field's value started
 *         from, zeros for none; without it the record has no base, as an
 *         older release's. --lost HEX (a resolve): the value, the hash of the
 *         set whose conflict it settles
 *
 * Exit status: 0 done, 1 on a failure (key file, encoding, output), 2 on a
 * usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/db.h"
#include "dinemicfs/hlc.h"
#include "dinemicfs/keys.h"
#include "dinemicfs/update.h"
#include "dinemicfs/util.h"

#define USAGE                                                                        \
	"usage: mkupdate newkey FILE\n"                                              \
	"       mkupdate pub FILE\n"                                                 \
	"       mkupdate make --key FILE --op OP --clock C --entity E --model M\n"   \
	"                     [--name N] [--value V | --value-file F] [--prev HEX]\n" \
	"                     [--sealed] [--base HEX] [--lost HEX] [--count K]\n"     \
	"                     --out FILE\n"

static const struct {
	const char *name;
	uint8_t op;
} ops[] = {
	{ "model-create", DFS_OP_MODEL_CREATE },   { "model-remove", DFS_OP_MODEL_REMOVE },
	{ "model-meta", DFS_OP_MODEL_META },	   { "object-create", DFS_OP_OBJECT_CREATE },
	{ "object-remove", DFS_OP_OBJECT_REMOVE }, { "object-meta", DFS_OP_OBJECT_META },
	{ "set", DFS_OP_FIELD_SET },		   { "append", DFS_OP_FIELD_APPEND },
	{ "delete", DFS_OP_FIELD_DELETE },	   { "dict-create", DFS_OP_DICT_CREATE },
	{ "dict-delete", DFS_OP_DICT_DELETE },	   { "resolve", DFS_OP_FIELD_RESOLVE },
};

/* The options of `make`, as given. */
struct make_args {
	const char *key, *op, *clock, *entity, *model, *name, *value, *value_file, *prev, *out;
	const char *base, *lost, *count;
	bool sealed;
};

static int usage(const char *why, const char *what)
{
	fprintf(stderr, "mkupdate: %s%s%s\n%s", why, what ? ": " : "", what ? what : "", USAGE);
	return 2;
}

static void print_hex(const uint8_t *p, size_t n)
{
	char hex[2 * DFS_HASH_LEN + 1];

	dfs_hex_encode(hex, p, n);
	printf("%s\n", hex);
}

/* Reads the key file at path into sk: 0, or 1 after saying why. */
static int read_key(const char *path, struct dfs_seckey *sk)
{
	int rc = dfs_keyfile_read(path, sk);

	if (rc < 0)
		fprintf(stderr, "mkupdate: key file %s: %s\n", path, strerror(-rc));
	return rc < 0 ? 1 : 0;
}

static int cmd_newkey(const char *path)
{
	struct dfs_pubkey pk;
	struct dfs_seckey sk;

	if (dfs_keys_generate(&pk, &sk) < 0)
		return 1;
	int rc = dfs_keyfile_write(path, &sk);
	dfs_seckey_wipe(&sk);
	if (rc < 0) {
		fprintf(stderr, "mkupdate: key file %s: %s\n", path, strerror(-rc));
		return 1;
	}
	print_hex(pk.b, sizeof(pk.b));
	return 0;
}

static int cmd_pub(const char *path)
{
	struct dfs_pubkey pk;
	struct dfs_seckey sk;

	if (read_key(path, &sk) != 0)
		return 1;
	dfs_seckey_public(&sk, &pk);
	dfs_seckey_wipe(&sk);
	print_hex(pk.b, sizeof(pk.b));
	return 0;
}

/* A decimal number, the whole string: 0, or -1. */
static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*v = n;
	return 0;
}

/* now, now+MS, now-MS, max, max-K or a number: 0, or -1. */
static int parse_clock(const char *s, uint64_t *clock)
{
	uint64_t k = 0;

	if (strncmp(s, "max", 3) == 0) {
		if (s[3] && (s[3] != '-' || parse_u64(s + 4, &k) < 0))
			return -1;
		*clock = UINT64_MAX - k;
		return 0;
	}
	if (strncmp(s, "now", 3) != 0)
		return parse_u64(s, clock);
	if (s[3] && ((s[3] != '+' && s[3] != '-') || parse_u64(s + 4, &k) < 0))
		return -1;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	uint64_t limit = UINT64_MAX >> DFS_HLC_LOGICAL_BITS;
	if (s[3] == '-' ? k > ms : k > limit - ms)
		return -1;
	ms = s[3] == '-' ? ms - k : ms + k;
	*clock = ms << DFS_HLC_LOGICAL_BITS;
	return 0;
}

static int parse_op(const char *s, uint8_t *op)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, s) == 0) {
			*op = ops[i].op;
			return 0;
		}
	return -1;
}

static int parse_hex32(const char *s, uint8_t out[32])
{
	return dfs_hex_decode(out, 32, s, strlen(s));
}

/* The options of `make` into a; 0, or 2 after a usage message. */
static int parse_make(int argc, char **argv, struct make_args *a)
{
	static const char *const names[] = { "--key",	 "--op",   "--clock",	   "--entity",
					     "--model",	 "--name", "--value",	   "--value-file",
					     "--prev",	 "--out",  "--base",	   "--lost",
					     "--count" };
	const char **slots[] = { &a->key,   &a->op,   &a->clock, &a->entity,	 &a->model,
				 &a->name,  &a->value, &a->value_file, &a->prev, &a->out,
				 &a->base,  &a->lost,  &a->count };
	static const bool required[] = { true,	true,  true,  true,  true,  false, false,
					 false, false, true,  false, false, false };

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--sealed") == 0) {
			a->sealed = true;
			continue;
		}
		size_t k = 0;
		while (k < sizeof(names) / sizeof(names[0]) && strcmp(argv[i], names[k]) != 0)
			k++;
		if (k == sizeof(names) / sizeof(names[0]))
			return usage("unknown option", argv[i]);
		if (i + 1 >= argc)
			return usage("missing the argument of", argv[i]);
		if (*slots[k])
			return usage("given twice", argv[i]);
		*slots[k] = argv[++i];
	}
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (required[k] && !*slots[k])
			return usage("missing", names[k]);
	if (!!a->value + !!a->value_file + !!a->lost > 1)
		return usage("give one of --value, --value-file and --lost", NULL);
	return 0;
}

/* Reads a whole file into b: 0, or 1 after saying why. */
static int read_file(const char *path, struct dfs_buf *b)
{
	FILE *f = fopen(path, "rb");
	uint8_t tmp[65536];
	size_t n;

	if (!f) {
		fprintf(stderr, "mkupdate: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		dfs_buf_add(b, tmp, n);
	int bad = ferror(f) || dfs_buf_ok(b) < 0;
	fclose(f);
	if (bad)
		fprintf(stderr, "mkupdate: %s: cannot read it\n", path);
	return bad ? 1 : 0;
}

/*
 * The fields of u that come from the command line, but the signer, the
 * value and a --entity of self: 0, or 2 after a usage message.
 */
static int fill_update(const struct make_args *a, struct dfs_update *u)
{
	if (parse_op(a->op, &u->op) < 0)
		return usage("unknown --op", a->op);
	if (parse_clock(a->clock, &u->clock) < 0)
		return usage("bad --clock (a number, now, now+MS, now-MS, max, max-K)", a->clock);
	if (strcmp(a->entity, "self") == 0 || strcmp(a->entity, "random") == 0)
		;	/* the signer's, once the key is read; or each record's own */
	else if (strcmp(a->entity, "model") == 0)
		dfs_db_model_id(a->model, &u->entity);
	else if (parse_hex32(a->entity, u->entity.b) < 0)
		return usage("bad --entity (64 hex digits, self, model or random)", a->entity);
	if (a->prev && parse_hex32(a->prev, u->prev.b) < 0)
		return usage("bad --prev (64 hex digits)", a->prev);
	u->flags = a->sealed ? DFS_UPDATE_FLAG_SEALED : 0;
	if (a->base && parse_hex32(a->base, u->base.b) < 0)
		return usage("bad --base (64 hex digits)", a->base);
	if (a->base)
		u->flags |= DFS_UPDATE_FLAG_BASE;
	u->model = a->model;
	u->model_len = strlen(a->model);
	u->name = a->name ? a->name : "";
	u->name_len = strlen(u->name);
	return 0;
}

/* A copy of n bytes of p with each control byte as '_'. */
static void stand_in(char *out, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)p[i] < 0x20 || p[i] == 0x7f ? '_' : p[i];
}

/*
 * dfs_update_encode(), except that control bytes in the model and name
 * (which the codec refuses, and a hostile peer sends anyway) are encoded
 * with stand-ins and then put back where they go.
 */
static int encode_any_names(const struct dfs_update *u, struct dfs_buf *rec)
{
	char model[256], name[DFS_UPDATE_NAME_MAX + 1];
	struct dfs_update v = *u;

	if (u->model_len > 255 || u->name_len > DFS_UPDATE_NAME_MAX)
		return dfs_update_encode(u, rec);
	stand_in(model, u->model, u->model_len);
	stand_in(name, u->name, u->name_len);
	v.model = model;
	v.name = name;
	int err = dfs_update_encode(&v, rec);
	if (err == 0 && dfs_buf_ok(rec) == 0) {
		uint8_t *at = rec->data + DFS_UPDATE_HEADER_LEN + 1;
		memcpy(at, u->model, u->model_len);
		memcpy(at + u->model_len + 2, u->name, u->name_len);
	}
	return err;
}

/*
 * Encodes u, signs it with sk and writes it to path: 0, 1, or 2 when the
 * codec refuses the fields given (a name or value the op does not take).
 */
static int sign_and_write(struct dfs_update *u, const struct dfs_seckey *sk, const char *path)
{
	struct dfs_buf rec;
	struct dfs_hash h;
	int rc = 1;

	dfs_buf_init(&rec);
	int err = encode_any_names(u, &rec);
	if (err == -EINVAL) {
		rc = usage("the codec refuses these fields (see update.h: the model, and the "
			   "name, value and entity this op takes)", dfs_op_name(u->op));
		goto out;
	}
	if (err < 0 || dfs_buf_ok(&rec) < 0) {
		fprintf(stderr, "mkupdate: %s\n", strerror(err < 0 ? -err : ENOMEM));
		goto out;
	}
	size_t slen = dfs_update_signed_len(rec.len);
	dfs_sign(rec.data + slen, rec.data, slen, sk);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(rec.data, 1, rec.len, f) != rec.len || fclose(f) != 0) {
		fprintf(stderr, "mkupdate: %s: %s\n", path, strerror(errno));
		goto out;
	}
	dfs_hash2(&h, rec.data, rec.len, NULL, 0);
	print_hex(h.b, sizeof(h.b));
	rc = 0;
out:
	dfs_buf_release(&rec);
	return rc;
}

static int cmd_make(int argc, char **argv)
{
	struct make_args a = { 0 };
	struct dfs_update u = { 0 };
	struct dfs_seckey sk;
	struct dfs_buf value;
	int rc = parse_make(argc, argv, &a);

	if (rc == 0)
		rc = fill_update(&a, &u);
	if (rc != 0)
		return rc;
	if (read_key(a.key, &sk) != 0)
		return 1;
	dfs_seckey_public(&sk, &u.signer);
	if (strcmp(a.entity, "self") == 0)
		u.entity = u.signer;
	dfs_buf_init(&value);
	if (a.value_file)
		rc = read_file(a.value_file, &value);
	else if (a.value)
		dfs_buf_add(&value, a.value, strlen(a.value));
	else if (a.lost) {
		uint8_t lost[DFS_HASH_LEN];
		if (parse_hex32(a.lost, lost) < 0)
			return usage("bad --lost (64 hex digits)", a.lost);
		dfs_buf_add(&value, lost, sizeof(lost));
	}
	if (rc == 0 && dfs_buf_ok(&value) < 0)
		rc = 1;
	u.value = value.data;
	u.value_len = value.len;
	char *end = NULL;
	long count = a.count ? strtol(a.count, &end, 10) : 1;
	if (a.count && (*end || count < 1 || count > 1000000))
		rc = usage("bad --count (1 to 1000000)", a.count);
	for (long i = 1; rc == 0 && i <= count; i++) {
		char path[4096];
		if (strcmp(a.entity, "random") == 0)
			dfs_random(u.entity.b, sizeof(u.entity.b));
		snprintf(path, sizeof(path), a.count ? "%s.%ld" : "%s", a.out, i);
		rc = sign_and_write(&u, &sk, path);
	}
	dfs_seckey_wipe(&sk);
	dfs_buf_release(&value);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage("no command", NULL);
	bool one_file = strcmp(argv[1], "newkey") == 0 || strcmp(argv[1], "pub") == 0;
	if (one_file && argc != 3)
		return usage("want exactly one FILE after", argv[1]);
	if (!one_file && strcmp(argv[1], "make") != 0)
		return usage("unknown command", argv[1]);
	if (dfs_crypto_init() < 0) {
		fprintf(stderr, "mkupdate: libsodium is unusable\n");
		return 1;
	}
	if (strcmp(argv[1], "newkey") == 0)
		return cmd_newkey(argv[2]);
	if (strcmp(argv[1], "pub") == 0)
		return cmd_pub(argv[2]);
	return cmd_make(argc, argv);
}
