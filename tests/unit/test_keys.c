// SPDX-License-Identifier: MIT
/* test_keys.c - unit tests for key pairs, signatures, hashes and key files (crypto/keys.c) */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "dinemicfs/keyring.h"
#include "dinemicfs/keys.h"
#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "tmpdir.h"

#define KEYFILE_LEN (4 + 1 + 1 + DFS_SECKEY_LEN)

static char *dir;

static void setup(void)
{
	dfs_log_set_level(DFS_LOG_ERR - 1);	/* refusals are logged; keep TAP tidy */
	cr_assert_eq(dfs_crypto_init(), 0);
}

static void setup_dir(void)
{
	setup();
	dir = tmpdir_make("keys");
	cr_assert_not_null(dir);
}

static void teardown_dir(void)
{
	tmpdir_remove(dir);
	dir = NULL;
}

TestSuite(keys, .init = setup);
TestSuite(keyfile, .init = setup_dir, .fini = teardown_dir);

static const uint8_t msg[] = "an update's signed bytes";

Test(keys, generate_and_public_half)
{
	struct dfs_pubkey pk, pk2, other;
	struct dfs_seckey sk, sk2;

	cr_assert_eq(dfs_keys_generate(&pk, &sk), 0);
	dfs_seckey_public(&sk, &pk2);
	cr_assert_arr_eq(pk.b, pk2.b, DFS_PUBKEY_LEN);
	cr_assert_eq(dfs_keys_generate(&other, &sk2), 0);
	cr_assert_arr_neq(pk.b, other.b, DFS_PUBKEY_LEN, "two fresh keys differ");
	dfs_seckey_wipe(&sk);
	dfs_seckey_wipe(&sk2);
}

Test(keys, sign_and_verify)
{
	struct dfs_pubkey pk, other_pk;
	struct dfs_seckey sk, other_sk;
	uint8_t sig[DFS_SIG_LEN];

	cr_assert_eq(dfs_keys_generate(&pk, &sk), 0);
	cr_assert_eq(dfs_keys_generate(&other_pk, &other_sk), 0);
	dfs_sign(sig, msg, sizeof(msg), &sk);
	cr_assert_eq(dfs_verify(sig, msg, sizeof(msg), &pk), 0);
	cr_assert_eq(dfs_verify(sig, msg, sizeof(msg), &other_pk), -EBADMSG, "wrong key");
	cr_assert_eq(dfs_verify(sig, msg, sizeof(msg) - 1, &pk), -EBADMSG, "shorter message");
	dfs_seckey_wipe(&sk);
	dfs_seckey_wipe(&other_sk);
}

Test(keys, tampered_message_byte_fails)
{
	struct dfs_pubkey pk;
	struct dfs_seckey sk;
	uint8_t sig[DFS_SIG_LEN], m[sizeof(msg)];

	cr_assert_eq(dfs_keys_generate(&pk, &sk), 0);
	dfs_sign(sig, msg, sizeof(msg), &sk);
	for (size_t i = 0; i < sizeof(m); i++) {
		memcpy(m, msg, sizeof(m));
		m[i] ^= 0x01;
		cr_assert_eq(dfs_verify(sig, m, sizeof(m), &pk), -EBADMSG, "message byte %zu", i);
	}
	dfs_seckey_wipe(&sk);
}

Test(keys, tampered_signature_byte_fails)
{
	struct dfs_pubkey pk;
	struct dfs_seckey sk;
	uint8_t sig[DFS_SIG_LEN], bad[DFS_SIG_LEN];

	cr_assert_eq(dfs_keys_generate(&pk, &sk), 0);
	dfs_sign(sig, msg, sizeof(msg), &sk);
	for (size_t i = 0; i < DFS_SIG_LEN; i++) {
		memcpy(bad, sig, DFS_SIG_LEN);
		bad[i] ^= 0x80;
		cr_assert_eq(dfs_verify(bad, msg, sizeof(msg), &pk), -EBADMSG,
			     "signature byte %zu", i);
	}
	dfs_seckey_wipe(&sk);
}

Test(keys, empty_message)
{
	struct dfs_pubkey pk;
	struct dfs_seckey sk;
	uint8_t sig[DFS_SIG_LEN];

	cr_assert_eq(dfs_keys_generate(&pk, &sk), 0);
	dfs_sign(sig, msg, 0, &sk);
	cr_assert_eq(dfs_verify(sig, msg, 0, &pk), 0);
	cr_assert_eq(dfs_verify(sig, msg, 1, &pk), -EBADMSG);
	dfs_seckey_wipe(&sk);
}

Test(keys, wipe_zeroes)
{
	struct dfs_pubkey pk;
	struct dfs_seckey sk, zero;
	uint8_t bytes[17];

	memset(&zero, 0, sizeof(zero));
	cr_assert_eq(dfs_keys_generate(&pk, &sk), 0);
	dfs_seckey_wipe(&sk);
	cr_assert_arr_eq(sk.b, zero.b, DFS_SECKEY_LEN);
	memset(bytes, 0xff, sizeof(bytes));
	dfs_wipe(bytes, sizeof(bytes));
	for (size_t i = 0; i < sizeof(bytes); i++)
		cr_assert_eq(bytes[i], 0);
}

Test(keys, hash_is_blake2b_256)
{
	struct dfs_hash h;
	char hex[2 * DFS_HASH_LEN + 1];

	dfs_hash2(&h, "", 0, NULL, 0);
	dfs_hex_encode(hex, h.b, DFS_HASH_LEN);
	cr_assert_str_eq(hex, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
	dfs_hash2(&h, "abc", 3, NULL, 0);
	dfs_hex_encode(hex, h.b, DFS_HASH_LEN);
	cr_assert_str_eq(hex, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

Test(keys, hash_of_two_parts_is_hash_of_concatenation)
{
	struct dfs_hash a, b, c;

	dfs_hash2(&a, "hello world", 11, NULL, 0);
	dfs_hash2(&b, "hello", 5, " world", 6);
	dfs_hash2(&c, "hello ", 6, "world", 5);
	cr_assert_arr_eq(a.b, b.b, DFS_HASH_LEN);
	cr_assert_arr_eq(a.b, c.b, DFS_HASH_LEN);
	dfs_hash2(&c, "hello", 5, "world", 5);
	cr_assert_arr_neq(a.b, c.b, DFS_HASH_LEN);
}

Test(keys, mem_equal)
{
	cr_assert(dfs_mem_equal("abcd", "abcd", 4));
	cr_assert_not(dfs_mem_equal("abcd", "abce", 4));
	cr_assert(dfs_mem_equal("abcd", "abce", 3));
	cr_assert(dfs_mem_equal("x", "y", 0));
}

/* Writes raw bytes to a new file under the test directory, with mode. */
static char *write_raw(const char *name, const void *p, size_t n, mode_t mode)
{
	char *path = tmpdir_path(dir, name);
	cr_assert_not_null(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

/* The bytes of a well-formed key file for sk. */
static void keyfile_bytes(uint8_t out[KEYFILE_LEN], const struct dfs_seckey *sk)
{
	memcpy(out, "DFSK", 4);
	out[4] = 1;
	out[5] = 1;
	memcpy(out + 6, sk->b, DFS_SECKEY_LEN);
}

Test(keyfile, write_read_round_trip)
{
	struct dfs_pubkey pk, pk2;
	struct dfs_seckey sk, back;
	uint8_t want[KEYFILE_LEN], got[KEYFILE_LEN + 1];
	struct stat st;
	char *path = tmpdir_path(dir, "node.key");

	cr_assert_eq(dfs_keys_generate(&pk, &sk), 0);
	cr_assert_eq(dfs_keyfile_write(path, &sk), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", (unsigned)(st.st_mode & 0777));
	cr_assert_eq(st.st_size, KEYFILE_LEN);

	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(read(fd, got, sizeof(got)), KEYFILE_LEN);
	close(fd);
	keyfile_bytes(want, &sk);
	cr_assert_arr_eq(got, want, KEYFILE_LEN, "the documented 70-byte format");

	memset(&back, 0, sizeof(back));
	cr_assert_eq(dfs_keyfile_read(path, &back), 0);
	cr_assert_arr_eq(back.b, sk.b, DFS_SECKEY_LEN);
	dfs_seckey_public(&back, &pk2);
	cr_assert_arr_eq(pk.b, pk2.b, DFS_PUBKEY_LEN);
	dfs_seckey_wipe(&sk);
	dfs_seckey_wipe(&back);
	free(path);
}

Test(keyfile, write_refuses_existing)
{
	struct dfs_pubkey pk;
	struct dfs_seckey sk, sk2, back;
	char *path = tmpdir_path(dir, "k");

	cr_assert_eq(dfs_keys_generate(&pk, &sk), 0);
	cr_assert_eq(dfs_keys_generate(&pk, &sk2), 0);
	cr_assert_eq(dfs_keyfile_write(path, &sk), 0);
	cr_assert_eq(dfs_keyfile_write(path, &sk2), -EEXIST);
	cr_assert_eq(dfs_keyfile_read(path, &back), 0);
	cr_assert_arr_eq(back.b, sk.b, DFS_SECKEY_LEN, "the first key is untouched");
	dfs_seckey_wipe(&sk);
	dfs_seckey_wipe(&sk2);
	dfs_seckey_wipe(&back);
	free(path);
}

Test(keyfile, write_refuses_symlink)
{
	struct dfs_pubkey pk;
	struct dfs_seckey sk;
	char *target = tmpdir_path(dir, "target");
	char *link = tmpdir_path(dir, "link");
	struct stat st;

	cr_assert_eq(symlink(target, link), 0);
	cr_assert_eq(dfs_keys_generate(&pk, &sk), 0);
	cr_assert_eq(dfs_keyfile_write(link, &sk), -EEXIST);
	cr_assert_eq(lstat(target, &st), -1, "nothing was written through the link");
	dfs_seckey_wipe(&sk);
	free(target);
	free(link);
}

Test(keyfile, read_refuses_open_modes)
{
	static const mode_t modes[] = { 0644, 0640, 0604, 0660, 0602, 0620, 0601, 0610 };
	struct dfs_pubkey pk;
	struct dfs_seckey sk, back;
	uint8_t rec[KEYFILE_LEN];

	cr_assert_eq(dfs_keys_generate(&pk, &sk), 0);
	keyfile_bytes(rec, &sk);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char name[16];
		snprintf(name, sizeof(name), "k%03o", (unsigned)modes[i]);
		char *path = write_raw(name, rec, sizeof(rec), modes[i]);
		memset(&back, 0x33, sizeof(back));
		cr_assert_eq(dfs_keyfile_read(path, &back), -EPERM, "mode %03o",
			     (unsigned)modes[i]);
		cr_assert_arr_neq(back.b, sk.b, DFS_SECKEY_LEN, "the key was not handed out");
		free(path);
	}
	char *path = write_raw("k400", rec, sizeof(rec), 0400);
	cr_assert_eq(dfs_keyfile_read(path, &back), 0, "owner read-only is fine");
	cr_assert_arr_eq(back.b, sk.b, DFS_SECKEY_LEN);
	dfs_seckey_wipe(&sk);
	dfs_seckey_wipe(&back);
	free(path);
}

Test(keyfile, read_refuses_malformed)
{
	struct dfs_pubkey pk;
	struct dfs_seckey sk, back;
	uint8_t good[KEYFILE_LEN], bad[KEYFILE_LEN + 1];
	struct {
		const char *name;
		size_t off;	/* byte to change, or SIZE_MAX */
		uint8_t value;
		size_t len;
	} cases[] = {
		{ "empty", SIZE_MAX, 0, 0 },
		{ "short", SIZE_MAX, 0, KEYFILE_LEN - 1 },
		{ "long", SIZE_MAX, 0, KEYFILE_LEN + 1 },
		{ "magic", 0, 'X', KEYFILE_LEN },
		{ "magic3", 3, 'k', KEYFILE_LEN },
		{ "version0", 4, 0, KEYFILE_LEN },
		{ "version2", 4, 2, KEYFILE_LEN },
		{ "alg0", 5, 0, KEYFILE_LEN },
		{ "alg2", 5, 2, KEYFILE_LEN },
	};

	cr_assert_eq(dfs_keys_generate(&pk, &sk), 0);
	keyfile_bytes(good, &sk);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(bad, 0, sizeof(bad));
		memcpy(bad, good, KEYFILE_LEN);
		if (cases[i].off != SIZE_MAX)
			bad[cases[i].off] = cases[i].value;
		char *path = write_raw(cases[i].name, bad, cases[i].len, 0600);
		cr_assert_eq(dfs_keyfile_read(path, &back), -EBADMSG, "%s", cases[i].name);
		free(path);
	}
	dfs_seckey_wipe(&sk);
}

Test(keyfile, read_missing_and_odd_files)
{
	struct dfs_seckey back;
	char *missing = tmpdir_path(dir, "missing.key");
	char *sub = tmpdir_path(dir, "sub");
	char *link = tmpdir_path(dir, "link");

	cr_assert_eq(dfs_keyfile_read(missing, &back), -ENOENT);
	cr_assert_eq(mkdir(sub, 0700), 0);
	cr_assert_eq(dfs_keyfile_read(sub, &back), -EBADMSG, "a directory is not a key file");
	cr_assert_eq(symlink(sub, link), 0);
	cr_assert_lt(dfs_keyfile_read(link, &back), 0, "symlinks are not followed");
	free(missing);
	free(sub);
	free(link);
}

TestSuite(keyring, .init = setup_dir, .fini = teardown_dir);

/* Keys a peer names and this node lacks are remembered, within a bound. */
Test(keyring, misses_are_bounded)
{
	struct dfs_keyring *kr = dfs_keyring_open(dir);
	struct dfs_pubkey pk;

	cr_assert_not_null(kr);
	for (unsigned i = 0; i < 10000; i++) {
		dfs_random(pk.b, sizeof(pk.b));
		cr_assert_not(dfs_keyring_has(kr, &pk));
		cr_assert_leq(dfs_keyring_misses(kr), 4096, "after %u lookups", i + 1);
	}
	cr_assert_geq(dfs_keyring_misses(kr), 1);
	/* Forgotten at the 4097th and the 8193rd, and counted. */
	cr_assert_eq(dfs_keyring_misses_dropped(kr), 2);
	dfs_keyring_free(kr);
}

/* Dropping misses keeps the keys held, and a key found later is no miss. */
Test(keyring, held_keys_survive_dropped_misses)
{
	struct dfs_keyring *kr = dfs_keyring_open(dir);
	struct dfs_pubkey mine, other;
	uint8_t sig[DFS_SIG_LEN];

	cr_assert_not_null(kr);
	cr_assert_eq(dfs_keyring_create(kr, &mine), 0);
	for (unsigned i = 0; i < 5000; i++) {
		dfs_random(other.b, sizeof(other.b));
		dfs_keyring_has(kr, &other);
	}
	cr_assert(dfs_keyring_has(kr, &mine));
	cr_assert(dfs_keyring_has(kr, dfs_keyring_node(kr)));
	cr_assert_eq(dfs_keyring_sign(kr, &mine, (const uint8_t *)"m", 1, sig), 0);
	cr_assert_eq(dfs_verify(sig, (const uint8_t *)"m", 1, &mine), 0);
	dfs_keyring_discard(kr, &mine);
	cr_assert_not(dfs_keyring_has(kr, &mine));
	dfs_keyring_free(kr);
}
