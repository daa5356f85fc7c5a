// SPDX-License-Identifier: MIT
/* keycmd.c - `dinemicfs key`: export, import and list the keys of a state directory */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dinemicfs/keycmd.h"
#include "dinemicfs/keyring.h"
#include "dinemicfs/keys.h"
#include "dinemicfs/log.h"
#include "dinemicfs/statedir.h"
#include "dinemicfs/store.h"
#include "dinemicfs/util.h"

#define HEX_LEN (2 * DFS_PUBKEY_LEN)

static void usage(FILE *out)
{
	fprintf(out, "usage: dinemicfs key export STATE_DIR WHAT FILE\n"
	       "       dinemicfs key import [--node] STATE_DIR FILE\n"
	       "       dinemicfs key list STATE_DIR\n"
	       "\n"
	       "Moves private keys between state directories, so that an object's ownership\n"
	       "can move to another node and a dead node can be replaced. Key files are\n"
	       "written with mode 0600; one that group or others can read is refused.\n"
	       "\n"
	       "    export         copy a key into FILE, a new file. WHAT is `node`, an\n"
	       "                   object's public key (64 hex digits), or an object's\n"
	       "                   directory in a mounted dinemicfs (its .id names the key)\n"
	       "    import         add the object key in FILE to STATE_DIR and print its\n"
	       "                   public key; a node running there uses it within a second\n"
	       "    import --node  make the key in FILE STATE_DIR's node identity (the node\n"
	       "                   must be stopped; STATE_DIR is created when missing)\n"
	       "    list           print `node HEX`, then `object HEX` for each key held\n");
}

static int usage_error(const char *what)
{
	fprintf(stderr, "dinemicfs: %s (see dinemicfs key --help)\n", what);
	return 2;
}

/* The state directory must exist for export and list. */
static int check_state_dir(const char *state_dir)
{
	struct stat st;

	if (stat(state_dir, &st) < 0) {
		fprintf(stderr, "dinemicfs: %s: %s\n", state_dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "dinemicfs: %s: %s\n", state_dir, strerror(ENOTDIR));
		return -1;
	}
	return 0;
}

/*
 * A public key from a file of a mounted dinemicfs: .id ("MODEL/OBJECT HEX"),
 * .owner or .node/id ("HEX"). The key is the last word of the first line;
 * name gets what comes before it, if anything.
 */
static int key_from_file(const char *path, struct dfs_pubkey *pk, char *name, size_t namelen)
{
	char buf[1024];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	size_t len = strlen(buf);
	if (len < HEX_LEN || (len > HEX_LEN && buf[len - HEX_LEN - 1] != ' ') ||
	    dfs_hex_decode(pk->b, DFS_PUBKEY_LEN, buf + len - HEX_LEN, HEX_LEN) < 0)
		return -EBADMSG;
	buf[len > HEX_LEN ? len - HEX_LEN - 1 : 0] = '\0';
	snprintf(name, namelen, "%s", buf);
	return 0;
}

/* WHAT of `key export`: node (*pk NULL), hex, or a path in a mount. Prints why not. */
static int parse_what(const char *what, struct dfs_pubkey *pk, bool *node, char *name,
		      size_t namelen)
{
	char path[PATH_MAX];
	struct stat st;

	*node = false;
	name[0] = '\0';
	if (strcmp(what, "node") == 0) {
		*node = true;
		return 0;
	}
	if (strlen(what) == HEX_LEN && dfs_hex_decode(pk->b, DFS_PUBKEY_LEN, what, HEX_LEN) == 0)
		return 0;
	if (stat(what, &st) < 0) {
		fprintf(stderr, "dinemicfs: %s: %s (WHAT is node, a public key in hex, "
			"or an object's directory in a mount)\n", what, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		if (snprintf(path, sizeof(path), "%s/.id", what) >= (int)sizeof(path)) {
			fprintf(stderr, "dinemicfs: %s: %s\n", what, strerror(ENAMETOOLONG));
			return -1;
		}
	} else {
		snprintf(path, sizeof(path), "%s", what);
	}
	int rc = key_from_file(path, pk, name, namelen);
	if (rc == -ENOENT || rc == -EBADMSG) {
		fprintf(stderr, "dinemicfs: %s is not an object of a mounted dinemicfs "
			"(no .id naming its key)\n", what);
		return -1;
	}
	if (rc < 0) {
		fprintf(stderr, "dinemicfs: %s: %s\n", path, strerror(-rc));
		return -1;
	}
	return 0;
}

static int cmd_export(int argc, char **argv)
{
	const char *state_dir, *what, *file;
	char hex[HEX_LEN + 1], name[512], held[PATH_MAX];
	struct dfs_pubkey pk;
	struct stat st;
	bool node;

	if (argc != 4)
		return usage_error("usage: dinemicfs key export STATE_DIR WHAT FILE");
	state_dir = argv[1];
	what = argv[2];
	file = argv[3];
	if (check_state_dir(state_dir) < 0)
		return 1;
	if (parse_what(what, &pk, &node, name, sizeof(name)) < 0)
		return 1;
	dfs_hex_encode(hex, pk.b, DFS_PUBKEY_LEN);
	if (dfs_keyring_path(state_dir, node ? NULL : &pk, held, sizeof(held)) < 0) {
		fprintf(stderr, "dinemicfs: %s: %s\n", state_dir, strerror(ENAMETOOLONG));
		return 1;
	}
	int rc = dfs_keyring_export(state_dir, node ? NULL : &pk, file);
	switch (rc) {
	case 0:
		return 0;
	case -ENOENT:
		if (node)
			fprintf(stderr, "dinemicfs: %s holds no node key (no node has started "
				"there)\n", state_dir);
		else
			fprintf(stderr, "dinemicfs: %s does not hold the private key of %s%s%s%s\n",
				state_dir, name[0] ? name : "", name[0] ? " (" : "", hex,
				name[0] ? ")" : "");
		return 1;
	case -EEXIST:
		fprintf(stderr, "dinemicfs: %s exists; not overwriting it\n", file);
		return 1;
	case -EPERM:
		if (stat(held, &st) == 0 && (st.st_mode & 077)) {
			fprintf(stderr, "dinemicfs: %s is open to group or others (mode %03o); "
				"refusing it: chmod 600 it\n", held, (unsigned)(st.st_mode & 0777));
			return 1;
		}
		break;
	case -EBADMSG:
		fprintf(stderr, "dinemicfs: %s is not a valid key file\n", held);
		return 1;
	default:
		break;
	}
	fprintf(stderr, "dinemicfs: cannot export to %s: %s\n", file, strerror(-rc));
	return 1;
}

struct old_node {
	bool found;
	struct dfs_pubkey pk;
};

/* Finds the current node key for `import --node`'s message. */
static int node_of(void *ctx, const char *path, bool node, const struct dfs_pubkey *pk, int err)
{
	struct old_node *o = ctx;

	if (node && pk && err == 0) {
		o->found = true;
		o->pk = *pk;
	}
	return 1;	/* the node key comes first: stop */
}

/*
 * Makes sure no node runs on state_dir while its node key is replaced, and
 * none starts meanwhile: takes the node's own lock (STATE_DIR/lock, taken by
 * a running node, see statedir.h) for as long as *fd stays open, and checks that
 * nothing holds the store (STATE_DIR/db) open.
 */
static int lock_state_dir(const char *state_dir, int *fd)
{
	char path[PATH_MAX], db[PATH_MAX];
	struct dfs_statedir_lock lk;

	if (dfs_statedir_lock_path(state_dir, path, sizeof(path)) < 0 ||
	    dfs_statedir_db_path(state_dir, db, sizeof(db)) < 0) {
		fprintf(stderr, "dinemicfs: %s: %s\n", state_dir, strerror(ENAMETOOLONG));
		return -1;
	}
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "dinemicfs: cannot create %s: %s\n", state_dir, strerror(errno));
		return -1;
	}
	int rc = dfs_statedir_lock(state_dir, DFS_STATEDIR_LOCK_TRY, &lk);
	*fd = lk.fd;
	if (rc == -EWOULDBLOCK) {
		fprintf(stderr, "dinemicfs: a node is running on %s%s%s%s; unmount it "
			"before replacing its node key\n", state_dir, *lk.holder ? " (pid " : "",
			lk.holder, *lk.holder ? ")" : "");
		return -1;
	}
	if (rc < 0) {
		fprintf(stderr, "dinemicfs: %s: %s\n", lk.path, strerror(-rc));
		return -1;
	}
	rc = dfs_store_in_use(db);
	if (rc == -EBUSY) {
		fprintf(stderr, "dinemicfs: the store %s is open (a node is running on %s); "
			"unmount it before replacing its node key\n", db, state_dir);
		goto out_close;
	}
	if (rc < 0) {
		fprintf(stderr, "dinemicfs: %s: %s\n", db, strerror(-rc));
		goto out_close;
	}
	return 0;

out_close:
	close(*fd);
	*fd = -1;
	return -1;
}

/* import's arguments: 0 when STATE_DIR and FILE are in args, else the exit status. */
static int import_args(int argc, char **argv, const char *args[2], bool *node)
{
	bool options = true;
	int nargs = 0;

	for (int i = 1; i < argc; i++) {
		if (options && strcmp(argv[i], "--") == 0) {
			options = false;
		} else if (options && strcmp(argv[i], "--node") == 0) {
			*node = true;
		} else if (options && argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "dinemicfs: unknown option '%s' (see dinemicfs key --help)\n",
				argv[i]);
			return 2;
		} else if (nargs < 2) {
			args[nargs++] = argv[i];
		} else {
			nargs++;
		}
	}
	if (nargs != 2)
		return usage_error("usage: dinemicfs key import [--node] STATE_DIR FILE");
	return 0;
}

/* import's messages for the keyring's answer rc; returns the exit status. */
static int import_report(int rc, const char *hex, bool node, const struct old_node *old,
			 const char *state_dir, const char *file)
{
	char oldhex[HEX_LEN + 1];
	int status = 1;

	switch (rc) {
	case 0:
		printf("%s\n", hex);
		if (node && old->found) {
			dfs_hex_encode(oldhex, old->pk.b, DFS_PUBKEY_LEN);
			fprintf(stderr, "dinemicfs: the node key of %s was %s\n", state_dir, oldhex);
		}
		status = 0;
		break;
	case -EEXIST:
		printf("%s\n", hex);
		fprintf(stderr, "dinemicfs: %s already %s\n", state_dir,
			node ? "has this node key" : "holds this key");
		status = 0;
		break;
	case -EPERM:
		fprintf(stderr, "dinemicfs: %s is open to group or others; refusing it: "
			"chmod 600 %s\n", file, file);
		break;
	case -EBADMSG:
		fprintf(stderr, "dinemicfs: %s is not a dinemicfs key file (malformed)\n", file);
		break;
	default:
		fprintf(stderr, "dinemicfs: cannot import %s into %s: %s\n", file, state_dir,
			strerror(-rc));
		break;
	}
	return status;
}

static int cmd_import(int argc, char **argv)
{
	const char *args[2];
	char hex[HEX_LEN + 1];
	struct old_node old = { .found = false };
	struct dfs_pubkey pk;
	struct stat st;
	bool node = false;
	int lock_fd = -1, status;

	status = import_args(argc, argv, args, &node);
	if (status != 0)
		return status;
	const char *state_dir = args[0], *file = args[1];

	/* The mode is checked here too, to say so plainly; the keyring checks it again. */
	if (stat(file, &st) < 0) {
		fprintf(stderr, "dinemicfs: %s: %s\n", file, strerror(errno));
		return 1;
	}
	if (S_ISREG(st.st_mode) && (st.st_mode & 077)) {
		fprintf(stderr, "dinemicfs: %s is open to group or others (mode %03o); refusing "
			"it: chmod 600 %s\n", file, (unsigned)(st.st_mode & 0777), file);
		return 1;
	}
	if (node) {
		if (lock_state_dir(state_dir, &lock_fd) < 0)
			return 1;
		dfs_keyring_list(state_dir, node_of, &old);
	}
	int rc = dfs_keyring_import(state_dir, file, node, &pk);
	dfs_hex_encode(hex, pk.b, DFS_PUBKEY_LEN);
	status = import_report(rc, hex, node, &old, state_dir, file);
	if (lock_fd >= 0)
		close(lock_fd);
	return status;
}

struct listing {
	int bad;
};

static int print_key(void *ctx, const char *path, bool node, const struct dfs_pubkey *pk,
		     int err)
{
	struct listing *l = ctx;
	char hex[HEX_LEN + 1];

	if (err == 0) {
		dfs_hex_encode(hex, pk->b, DFS_PUBKEY_LEN);
		printf("%s %s\n", node ? "node" : "object", hex);
		return 0;
	}
	l->bad++;
	fprintf(stderr, "dinemicfs: %s: %s\n", path,
		err == -EPERM     ? "open to group or others, refused (chmod 600 it)"
		: err == -EBADMSG ? "malformed, or not the key its name says"
				  : strerror(-err));
	return 0;
}

static int cmd_list(int argc, char **argv)
{
	struct listing l = { 0 };

	if (argc != 2)
		return usage_error("usage: dinemicfs key list STATE_DIR");
	if (check_state_dir(argv[1]) < 0)
		return 1;
	int rc = dfs_keyring_list(argv[1], print_key, &l);
	if (rc < 0) {
		fprintf(stderr, "dinemicfs: %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	return l.bad ? 1 : 0;
}

int dfs_keycmd_main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	/* Lower layers log their refusals; this command says them in its own words. */
	dfs_log_set_level(DFS_LOG_ERR - 1);
	if (dfs_crypto_init() < 0) {
		fprintf(stderr, "dinemicfs: libsodium cannot be initialised\n");
		return 1;
	}
	if (strcmp(cmd, "export") == 0)
		return cmd_export(argc - 1, argv + 1);
	if (strcmp(cmd, "import") == 0)
		return cmd_import(argc - 1, argv + 1);
	if (strcmp(cmd, "list") == 0)
		return cmd_list(argc - 1, argv + 1);
	fprintf(stderr, "dinemicfs: unknown key command '%s' (export, import or list; a state "
		"directory named key is ./key)\n", cmd);
	return 2;
}
