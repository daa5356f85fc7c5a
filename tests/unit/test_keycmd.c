// SPDX-License-Identifier: MIT
/* test_keycmd.c - unit tests for `dinemicfs key` (keycmd.c) and the keyring's key management */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "dinemicfs/keycmd.h"
#include "dinemicfs/keyring.h"
#include "dinemicfs/keys.h"
#include "dinemicfs/log.h"
#include "dinemicfs/store.h"
#include "dinemicfs/util.h"
#include "tmpdir.h"

#define KEYFILE_LEN (4 + 1 + 1 + DFS_SECKEY_LEN)

static char *dir;

static void setup(void)
{
	dfs_log_set_level(DFS_LOG_ERR - 1);
	cr_assert_eq(dfs_crypto_init(), 0);
	dir = tmpdir_make("keycmd");
	cr_assert_not_null(dir);
	/* The commands print public keys on stdout, which carries the TAP report. */
	cr_redirect_stdout();
}

static void teardown(void)
{
	tmpdir_remove(dir);
	dir = NULL;
}

TestSuite(keycmd, .init = setup, .fini = teardown);

/* Runs `dinemicfs key ARGS...`; returns its exit status. */
#define KEY(...) key_run((const char *[]){ "key", __VA_ARGS__, NULL })

static int key_run(const char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return dfs_keycmd_main(argc, (char **)argv);	/* argv is only read */
}

/*
 * Runs `dinemicfs key ARGS...` in a child process, as the command runs
 * beside a node: fcntl(2) locks are per process, and a probe of a lock this
 * process holds would drop it when it closes its descriptor.
 */
#define KEY_CHILD(...) key_child((const char *[]){ "key", __VA_ARGS__, NULL })

static int key_child(const char **argv)
{
	int status;

	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(key_run(argv));
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* A malloc'ed path under the test's directory. */
static char *at(const char *name)
{
	char *p = tmpdir_path(dir, name);

	cr_assert_not_null(p);
	return p;
}

/* A state directory with a node key and one object key; *obj gets its public key. */
static char *state_with_object(const char *name, struct dfs_pubkey *obj, struct dfs_pubkey *node)
{
	char *sd = at(name);

	cr_assert_eq(mkdir(sd, 0700), 0);
	struct dfs_keyring *kr = dfs_keyring_open(sd);
	cr_assert_not_null(kr, "keyring: %s", strerror(errno));
	cr_assert_eq(dfs_keyring_create(kr, obj), 0);
	if (node)
		*node = *dfs_keyring_node(kr);
	dfs_keyring_free(kr);
	return sd;
}

static void hex_of(char out[2 * DFS_PUBKEY_LEN + 1], const struct dfs_pubkey *pk)
{
	dfs_hex_encode(out, pk->b, DFS_PUBKEY_LEN);
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
	return st.st_mode & 07777;
}

/* A key this keyring signs with verifies under pk. */
static void assert_signs_as(struct dfs_keyring *kr, const struct dfs_pubkey *pk)
{
	static const uint8_t msg[] = "an update";
	uint8_t sig[DFS_SIG_LEN];

	cr_assert_eq(dfs_keyring_sign(kr, pk, msg, sizeof(msg), sig), 0);
	cr_assert_eq(dfs_verify(sig, msg, sizeof(msg), pk), 0);
}

static size_t read_all(const char *path, uint8_t *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	ssize_t n = read(fd, buf, cap);
	close(fd);
	cr_assert_geq(n, 0);
	return (size_t)n;
}

static void write_raw(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

Test(keycmd, export_import_round_trip)
{
	struct dfs_pubkey obj;
	char hex[2 * DFS_PUBKEY_LEN + 1];
	char *a = state_with_object("a", &obj, NULL);
	char *b = at("b");	/* missing: import creates it */
	char *file = at("bob.key");
	char held[PATH_MAX];

	hex_of(hex, &obj);
	cr_assert_eq(KEY("export", a, hex, file), 0);
	cr_assert_eq(mode_of(file), 0600);
	cr_assert_eq(KEY("import", b, file), 0);
	cr_assert_eq(dfs_keyring_path(b, &obj, held, sizeof(held)), 0);
	cr_assert_eq(mode_of(held), 0600);
	cr_assert_eq(mode_of(b) & 077, 0, "a created state dir is the owner's only");

	uint8_t want[KEYFILE_LEN + 1], got[KEYFILE_LEN + 1];
	cr_assert_eq(read_all(file, want, sizeof(want)), KEYFILE_LEN);
	cr_assert_eq(read_all(held, got, sizeof(got)), KEYFILE_LEN);
	cr_assert_arr_eq(got, want, KEYFILE_LEN, "the same key, byte for byte");

	struct dfs_keyring *kr = dfs_keyring_open(b);
	cr_assert_not_null(kr);
	cr_assert(dfs_keyring_has(kr, &obj));
	assert_signs_as(kr, &obj);
	dfs_keyring_free(kr);

	/* Importing it again says so and succeeds; nothing is left behind. */
	struct dfs_pubkey pk;
	cr_assert_eq(dfs_keyring_import(b, file, false, &pk), -EEXIST);
	cr_assert_arr_eq(pk.b, obj.b, DFS_PUBKEY_LEN);
	cr_assert_eq(KEY("import", b, file), 0);
	char *keys = at("b/keys");
	DIR *d = opendir(keys);
	struct dirent *de;
	int files = 0;
	cr_assert_not_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")))
			files++;
	closedir(d);
	cr_assert_eq(files, 1, "only HEX.key, no temporary file");
	free(keys);
	free(a);
	free(b);
	free(file);
}

Test(keycmd, export_refuses_to_overwrite)
{
	struct dfs_pubkey obj;
	char hex[2 * DFS_PUBKEY_LEN + 1];
	char *a = state_with_object("a", &obj, NULL);
	char *file = at("out.key");
	uint8_t buf[16];

	hex_of(hex, &obj);
	write_raw(file, "precious", 8, 0600);
	cr_assert_eq(KEY("export", a, hex, file), 1);
	cr_assert_eq(dfs_keyring_export(a, &obj, file), -EEXIST);
	cr_assert_eq(read_all(file, buf, sizeof(buf)), 8);
	cr_assert_arr_eq(buf, "precious", 8, "the existing file is untouched");
	free(a);
	free(file);
}

Test(keycmd, export_of_a_key_not_held_fails)
{
	struct dfs_pubkey obj, other;
	struct dfs_seckey sk;
	char hex[2 * DFS_PUBKEY_LEN + 1];
	char *a = state_with_object("a", &obj, NULL);
	char *file = at("out.key");
	char *missing = at("nowhere");
	struct stat st;

	cr_assert_eq(dfs_keys_generate(&other, &sk), 0);
	dfs_seckey_wipe(&sk);
	hex_of(hex, &other);
	cr_assert_eq(KEY("export", a, hex, file), 1);
	cr_assert_eq(dfs_keyring_export(a, &other, file), -ENOENT);
	cr_assert_eq(stat(file, &st), -1, "no file is written");
	hex_of(hex, &obj);
	cr_assert_eq(KEY("export", missing, hex, file), 1, "no such state dir");
	cr_assert_eq(KEY("export", missing, "node", file), 1);
	cr_assert_eq(KEY("export", a, "not-a-key-or-path", file), 1);
	cr_assert_eq(stat(file, &st), -1);
	free(a);
	free(file);
	free(missing);
}

Test(keycmd, export_by_object_directory_and_node_id)
{
	struct dfs_pubkey obj, node, pk;
	char hex[2 * DFS_PUBKEY_LEN + 1], line[200];
	char *a = state_with_object("a", &obj, &node);
	char *objdir = at("mount-bob");	/* stands for MOUNT/Person/bob */
	char *id = at("mount-bob/.id");
	char *nodeid = at("node-id");	/* stands for MOUNT/.node/id */
	char *f1 = at("bob.key"), *f2 = at("node.key"), *f3 = at("x.key");
	char *b = at("b"), *c = at("c");

	cr_assert_eq(mkdir(objdir, 0755), 0);
	hex_of(hex, &obj);
	int n = snprintf(line, sizeof(line), "Person/bob %s\n", hex);
	write_raw(id, line, (size_t)n, 0444);
	cr_assert_eq(KEY("export", a, objdir, f1), 0);
	cr_assert_eq(dfs_keyring_import(b, f1, false, &pk), 0);
	cr_assert_arr_eq(pk.b, obj.b, DFS_PUBKEY_LEN, "the key .id names");

	hex_of(hex, &node);
	n = snprintf(line, sizeof(line), "%s\n", hex);
	write_raw(nodeid, line, (size_t)n, 0444);
	cr_assert_eq(KEY("export", a, nodeid, f2), 0, "the node key, found by its public key");
	cr_assert_eq(dfs_keyring_import(c, f2, true, &pk), 0);
	cr_assert_arr_eq(pk.b, node.b, DFS_PUBKEY_LEN);

	write_raw(id, "Person/bob\n", 11, 0444);
	cr_assert_eq(KEY("export", a, objdir, f3), 1, "an .id without a key");
	free(a);
	free(b);
	free(c);
	free(f3);
	free(objdir);
	free(id);
	free(nodeid);
	free(f1);
	free(f2);
}

Test(keycmd, import_refuses_a_key_file_others_can_read)
{
	static const mode_t modes[] = { 0644, 0640, 0604, 0660, 0606 };
	struct dfs_pubkey obj, pk;
	char hex[2 * DFS_PUBKEY_LEN + 1];
	char *a = state_with_object("a", &obj, NULL);
	char *b = at("b");
	char *file = at("bob.key");
	char held[PATH_MAX];
	struct stat st;

	hex_of(hex, &obj);
	cr_assert_eq(KEY("export", a, hex, file), 0);
	cr_assert_eq(dfs_keyring_path(b, &obj, held, sizeof(held)), 0);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		cr_assert_eq(chmod(file, modes[i]), 0);
		cr_assert_eq(KEY("import", b, file), 1, "mode %03o", (unsigned)modes[i]);
		cr_assert_eq(KEY("import", "--node", b, file), 1, "mode %03o", (unsigned)modes[i]);
		cr_assert_eq(dfs_keyring_import(b, file, false, &pk), -EPERM);
		cr_assert_eq(stat(held, &st), -1, "nothing imported at mode %03o",
			     (unsigned)modes[i]);
	}
	cr_assert_eq(chmod(file, 0400), 0);
	cr_assert_eq(KEY("import", b, file), 0, "owner read-only is fine");
	free(a);
	free(b);
	free(file);
}

Test(keycmd, import_refuses_malformed_files)
{
	struct dfs_pubkey obj, pk;
	char hex[2 * DFS_PUBKEY_LEN + 1];
	char *a = state_with_object("a", &obj, NULL);
	char *b = at("b");
	char *good = at("good.key");
	uint8_t rec[KEYFILE_LEN], bad[KEYFILE_LEN + 1];
	struct {
		const char *name;
		size_t off;	/* byte to flip, or SIZE_MAX */
		size_t len;
	} cases[] = {
		{ "empty", SIZE_MAX, 0 },
		{ "short", SIZE_MAX, KEYFILE_LEN - 1 },
		{ "long", SIZE_MAX, KEYFILE_LEN + 1 },
		{ "magic", 0, KEYFILE_LEN },
		{ "version", 4, KEYFILE_LEN },
		{ "algorithm", 5, KEYFILE_LEN },
		{ "seed", 6, KEYFILE_LEN },				/* halves disagree */
		{ "public-half", 6 + 32 + 5, KEYFILE_LEN },
	};

	hex_of(hex, &obj);
	cr_assert_eq(KEY("export", a, hex, good), 0);
	cr_assert_eq(read_all(good, rec, sizeof(rec)), KEYFILE_LEN);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = at(cases[i].name);
		memset(bad, 0, sizeof(bad));
		memcpy(bad, rec, KEYFILE_LEN);
		if (cases[i].off != SIZE_MAX)
			bad[cases[i].off] ^= 0x40;
		write_raw(path, bad, cases[i].len, 0600);
		cr_assert_eq(dfs_keyring_import(b, path, false, &pk), -EBADMSG, "%s",
			     cases[i].name);
		cr_assert_eq(KEY("import", b, path), 1, "%s", cases[i].name);
		cr_assert_eq(KEY("import", "--node", b, path), 1, "%s", cases[i].name);
		free(path);
	}
	char *nodekey = at("b/node.key");
	struct stat st;
	cr_assert_eq(stat(nodekey, &st), -1, "no node key was made from a bad file");
	char *nofile = at("no-such-file");
	cr_assert_eq(KEY("import", b, nofile), 1);
	free(nofile);
	dfs_wipe(rec, sizeof(rec));
	dfs_wipe(bad, sizeof(bad));
	free(nodekey);
	free(a);
	free(b);
	free(good);
}

Test(keycmd, node_key_moves_to_a_fresh_state_dir)
{
	struct dfs_pubkey obj, node, old;
	char *a = state_with_object("a", &obj, &node);
	char *c = state_with_object("c", &obj, &old);
	char *d = at("d");	/* a replacement prepared before its first start */
	char *file = at("node-a.key");

	cr_assert_eq(KEY("export", a, "node", file), 0);
	cr_assert_eq(KEY("import", "--node", d, file), 0);
	cr_assert_eq(KEY("import", "--node", d, file), 0, "already the node key");
	struct dfs_keyring *kr = dfs_keyring_open(d);
	cr_assert_not_null(kr);
	cr_assert_arr_eq(dfs_keyring_node(kr)->b, node.b, DFS_PUBKEY_LEN);
	assert_signs_as(kr, &node);
	dfs_keyring_free(kr);

	/* Replacing an existing identity, with --node after the operands too. */
	cr_assert_eq(KEY("import", c, file, "--node"), 0);
	kr = dfs_keyring_open(c);
	cr_assert_not_null(kr);
	cr_assert_arr_eq(dfs_keyring_node(kr)->b, node.b, DFS_PUBKEY_LEN);
	cr_assert(dfs_keyring_has(kr, &obj), "object keys stay");
	dfs_keyring_free(kr);
	char nk[PATH_MAX];
	cr_assert_eq(dfs_keyring_path(c, NULL, nk, sizeof(nk)), 0);
	cr_assert_eq(mode_of(nk), 0600);
	free(a);
	free(c);
	free(d);
	free(file);
}

Test(keycmd, node_import_refused_while_the_store_is_open)
{
	struct dfs_pubkey obj, node, cnode;
	char *a = state_with_object("a", &obj, &node);
	char *c = state_with_object("c", &obj, &cnode);
	char *db = at("c/db");
	char *file = at("node-a.key");
	struct dfs_store_opts sopts = { .sync = 1 };
	struct dfs_keyring *kr;

	cr_assert_eq(KEY("export", a, "node", file), 0);
	struct dfs_store *st = dfs_store_open(db, &sopts);
	cr_assert_not_null(st, "store: %s", strerror(errno));
	cr_assert_eq(KEY_CHILD("import", "--node", c, file), 1);
	cr_assert_eq(KEY_CHILD("import", "--node", c, file), 1, "the lock is still seen");
	cr_assert_eq(KEY("import", "--node", c, file), 1, "also by this process, which holds it");
	kr = dfs_keyring_open(c);
	cr_assert_arr_eq(dfs_keyring_node(kr)->b, cnode.b, DFS_PUBKEY_LEN, "the old key stays");
	dfs_keyring_free(kr);
	dfs_store_close(st);
	cr_assert_eq(dfs_store_in_use(db), 0);

	/* A running node also holds STATE_DIR/lock (node.c); that alone refuses too. */
	char *lock = at("c/lock");
	int fd = open(lock, O_RDWR | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	cr_assert_eq(KEY_CHILD("import", "--node", c, file), 1);
	close(fd);

	cr_assert_eq(KEY("import", "--node", c, file), 0, "stopped: the key is replaced");
	kr = dfs_keyring_open(c);
	cr_assert_arr_eq(dfs_keyring_node(kr)->b, node.b, DFS_PUBKEY_LEN);
	dfs_keyring_free(kr);
	free(lock);
	free(a);
	free(c);
	free(db);
	free(file);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

Test(keycmd, running_keyring_picks_up_an_imported_key)
{
	struct dfs_pubkey obj, obj2, pk;
	char hex[2 * DFS_PUBKEY_LEN + 1];
	char *a = state_with_object("a", &obj, NULL);
	char *b = state_with_object("b", &obj2, NULL);
	char *file = at("bob.key");

	struct dfs_keyring *kr = dfs_keyring_open(b);
	cr_assert_not_null(kr);
	cr_assert_not(dfs_keyring_has(kr, &obj), "not held yet: a cached miss");
	cr_assert_eq(dfs_keyring_sign(kr, &obj, (const uint8_t *)"x", 1, (uint8_t[DFS_SIG_LEN]){ 0 }),
		     -ENOKEY);
	hex_of(hex, &obj);
	cr_assert_eq(KEY("export", a, hex, file), 0);
	cr_assert_eq(dfs_keyring_import(b, file, false, &pk), 0);

	double t0 = now_s();
	while (!dfs_keyring_has(kr, &obj) && now_s() - t0 < 5)
		usleep(20 * 1000);
	double took = now_s() - t0;
	cr_assert(dfs_keyring_has(kr, &obj), "the imported key is found without a restart");
	cr_assert_lt(took, 2.5, "found within about a second (took %.2f s)", took);
	assert_signs_as(kr, &obj);
	cr_assert(dfs_keyring_has(kr, &obj2));
	dfs_keyring_free(kr);
	free(a);
	free(b);
	free(file);
}

Test(keycmd, list_prints_node_and_object_keys)
{
	struct dfs_pubkey obj, node, obj2;
	char hn[2 * DFS_PUBKEY_LEN + 1], h1[2 * DFS_PUBKEY_LEN + 1], h2[2 * DFS_PUBKEY_LEN + 1];
	char *a = state_with_object("a", &obj, &node);
	char want[512];

	struct dfs_keyring *kr = dfs_keyring_open(a);
	cr_assert_eq(dfs_keyring_create(kr, &obj2), 0);
	dfs_keyring_free(kr);
	hex_of(hn, &node);
	hex_of(h1, &obj);
	hex_of(h2, &obj2);
	bool first = strcmp(h1, h2) < 0;
	snprintf(want, sizeof(want), "node %s\nobject %s\nobject %s\n", hn, first ? h1 : h2,
		 first ? h2 : h1);
	char *junk = at("a/keys/README");
	write_raw(junk, "not a key", 9, 0644);
	cr_assert_eq(KEY("list", a), 0, "other files in keys/ are not keys");
	fflush(stdout);
	cr_assert_stdout_eq_str(want);
	free(junk);
	free(a);
}

Test(keycmd, list_reports_unusable_key_files)
{
	struct dfs_pubkey obj;
	char *a = state_with_object("a", &obj, NULL);
	char held[PATH_MAX];

	cr_assert_eq(dfs_keyring_path(a, &obj, held, sizeof(held)), 0);
	cr_assert_eq(chmod(held, 0644), 0);
	cr_assert_eq(KEY("list", a), 1);
	char *nowhere = at("nowhere");
	cr_assert_eq(KEY("list", nowhere), 1);
	free(nowhere);
	free(a);
}

Test(keycmd, usage)
{
	cr_assert_eq(KEY("--help"), 0);
	cr_assert_eq(key_run((const char *[]){ "key", NULL }), 2);
	cr_assert_eq(KEY("frobnicate"), 2);
	cr_assert_eq(KEY("export", "a", "b"), 2);
	cr_assert_eq(KEY("import", "a"), 2);
	cr_assert_eq(KEY("import", "--nod", "a", "b"), 2);
	cr_assert_eq(KEY("list"), 2);
}
