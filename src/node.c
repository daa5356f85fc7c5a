// SPDX-License-Identifier: MIT
/* node.c - wires the modules together and owns the start-up and shut-down order */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdbool.h>

#include <fuse_lowlevel.h>

#include "dinemicfs/actions.h"
#include "dinemicfs/db.h"
#include "dinemicfs/fs.h"
#include "dinemicfs/keyring.h"
#include "dinemicfs/keys.h"
#include "dinemicfs/log.h"
#include "dinemicfs/node.h"
#include "dinemicfs/repl.h"
#include "dinemicfs/store.h"
#include "dinemicfs/util.h"

/* Counters for .node/stats that the wiring sees first: atomics, no lock. */
struct counters {
	atomic_ullong applied_local, applied_remote;
	atomic_ullong held;		/* remote updates kept, not applied */
	atomic_ullong rejected_local;	/* local changes a listener rejected */
};

/* Listeners judge every change the database makes; see actions.h. */
struct judge {
	struct dfs_runner *runner;
	struct counters *counts;
	char mount[PATH_MAX];
};

static bool judge_wants(void *ctx, enum dfs_event event, const char *model)
{
	return dfs_runner_wants(((struct judge *)ctx)->runner, event, model);
}

static int judge_before(void *ctx, const struct dfs_change *c)
{
	struct judge *j = ctx;
	int rc = dfs_runner_judge(j->runner, c, j->mount);

	/* A remote update turned down is counted as held once it is stored. */
	if (rc != 0 && !c->remote)
		atomic_fetch_add(&j->counts->rejected_local, 1);
	return rc;
}

static void judge_after(void *ctx, const struct dfs_change *c)
{
	struct judge *j = ctx;

	dfs_runner_notify(j->runner, c, j->mount);
}

/* Durable updates: peers are told the log grew, the mount shows remote changes. */
struct wiring {
	struct dfs_fs *fs;
	struct dfs_repl *repl;	/* set before any peer can deliver; NULL without peers */
	struct counters counts;
};

static void on_update(void *ctx, const struct dfs_db_event *ev)
{
	struct wiring *w = ctx;

	if (ev->applied)
		atomic_fetch_add(ev->remote ? &w->counts.applied_remote : &w->counts.applied_local,
				 1);
	else if (ev->remote)
		atomic_fetch_add(&w->counts.held, 1);
	dfs_repl_log_grew(w->repl);
	if (ev->remote || ev->renamed_from)
		dfs_fs_remote_change(w->fs, ev);
}

static int peers_text(void *ctx, struct dfs_buf *out)
{
	return dfs_repl_peers_text(((struct wiring *)ctx)->repl, out);
}

/* The .node/stats lines from the wiring and replication; meta.c documents them. */
static int node_stats(void *ctx, struct dfs_buf *out)
{
	struct wiring *w = ctx;
	struct dfs_repl_stats s = { 0 };
	unsigned long long held = atomic_load(&w->counts.held);

	if (w->repl)
		dfs_repl_get_stats(w->repl, &s);
	dfs_buf_printf(out, "updates_applied_local %llu\n",
		       (unsigned long long)atomic_load(&w->counts.applied_local));
	dfs_buf_printf(out, "updates_applied_remote %llu\n",
		       (unsigned long long)atomic_load(&w->counts.applied_remote));
	dfs_buf_printf(out, "updates_rejected %llu\n",
		       (unsigned long long)atomic_load(&w->counts.rejected_local) + held);
	dfs_buf_printf(out, "updates_held %llu\n", held);
	dfs_buf_printf(out, "updates_dropped %llu\n", (unsigned long long)s.dropped);
	dfs_buf_printf(out, "peers_configured %u\n", s.peers_configured);
	dfs_buf_printf(out, "peers_up %u\n", s.peers_up);
	dfs_buf_printf(out, "updates_received %llu\n", (unsigned long long)s.received);
	dfs_buf_printf(out, "updates_sent %llu\n", (unsigned long long)s.sent);
	dfs_buf_printf(out, "updates_relayed %llu\n", (unsigned long long)s.sent);
	dfs_buf_printf(out, "updates_waiting %llu\n", (unsigned long long)s.parked);
	dfs_buf_printf(out, "bytes_in %llu\n", (unsigned long long)s.bytes_in);
	dfs_buf_printf(out, "bytes_out %llu\n", (unsigned long long)s.bytes_out);
	dfs_buf_printf(out, "frames_dropped %llu\n", (unsigned long long)s.bad_frames);
	return dfs_buf_ok(out);
}

/* -o as=MODEL/OBJECT: an object whose key this node holds. */
static int set_as(struct dfs_db *db, const char *as)
{
	struct dfs_pubkey k;
	int rc = dfs_db_find_object(db, as, strlen(as), &k);

	if (rc == 0)
		rc = dfs_db_set_as(db, &k);
	if (rc < 0)
		fprintf(stderr, "dinemicfs: as=%s: %s\n", as,
			rc == -ENOENT  ? "no such object"
			: rc == -ENOKEY ? "this node does not hold its key"
					: strerror(-rc));
	return rc;
}

/* The network key: 32 bytes, raw or as 64 hex digits, readable by us only. */
static int load_network_key(const char *path, uint8_t key[DFS_MAC_KEY_LEN])
{
	char buf[160];
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb) < 0) {
		fprintf(stderr, "dinemicfs: network_key %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (sb.st_mode & 077) {
		fprintf(stderr, "dinemicfs: network_key %s is readable by others; chmod 600 it\n",
			path);
		close(fd);
		return -1;
	}
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	/* Exactly 32 bytes are the raw key, whatever they are; hex may end in a newline. */
	while (n != DFS_MAC_KEY_LEN && n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n == DFS_MAC_KEY_LEN) {
		memcpy(key, buf, DFS_MAC_KEY_LEN);
	} else if (n != 2 * DFS_MAC_KEY_LEN ||
		   dfs_hex_decode(key, DFS_MAC_KEY_LEN, buf, (size_t)n) < 0) {
		fprintf(stderr, "dinemicfs: network_key %s must hold 32 bytes or 64 hex digits\n",
			path);
		dfs_wipe(buf, sizeof(buf));
		return -1;
	}
	dfs_wipe(buf, sizeof(buf));
	return 0;
}

/*
 * STATE_DIR/lock holds its holder's pid on its first line, and a second
 * line, "stopping", once the holder is unmounted and on its way out
 * (after-listeners may still run): a new mount waits for that one instead
 * of failing.
 */
#define STOP_WAIT_MS 60000
/* A node unmounted a moment ago may not have said so yet. */
#define STOP_GRACE_MS 2000

/* Reads the lock's holder; stopping only if that pid says so and still runs. */
static void read_holder(int fd, char pid[32], bool *stopping)
{
	ssize_t n = pread(fd, pid, 31, 0);
	char *end;

	pid[n > 0 ? n : 0] = '\0';
	*stopping = strstr(pid, "\nstopping\n") != NULL;
	pid[strcspn(pid, "\n")] = '\0';
	long p = strtol(pid, &end, 10);
	/* A line left by one that ended (another now holds the lock): not it. */
	if (*stopping && (end == pid || *end || p <= 0 || (kill((pid_t)p, 0) < 0 && errno == ESRCH)))
		*stopping = false;
}

/* Takes STATE_DIR/lock so that one state directory is mounted once. */
static int lock_state(const char *dir, int *fd_out)
{
	char path[PATH_MAX];
	char pid[32] = "";
	bool stopping = false, told = false;
	uint64_t start = dfs_monotonic_ms();
	int fd;

	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fprintf(stderr, "dinemicfs: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;
		if (err == EWOULDBLOCK)
			read_holder(fd, pid, &stopping);
		uint64_t waited = dfs_monotonic_ms() - start;
		if (err == EWOULDBLOCK && (stopping ? waited < STOP_WAIT_MS : waited < STOP_GRACE_MS)) {
			if (stopping && !told && waited >= 1000) {
				fprintf(stderr, "dinemicfs: waiting for the dinemicfs that had %s "
					"(pid %s) to finish stopping\n", dir, pid);
				told = true;
			}
			usleep(20 * 1000);
			continue;
		}
		if (err == EWOULDBLOCK)
			fprintf(stderr,
				"dinemicfs: %s is already in use by another dinemicfs%s%s%s\n",
				dir, *pid ? " (pid " : "", pid, *pid ? ")" : "");
		else
			fprintf(stderr, "dinemicfs: %s: %s\n", path, strerror(err));
		close(fd);
		return -err;
	}
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		dfs_log_errno(DFS_LOG_WARNING, errno, "%s", path);
	*fd_out = fd;
	return 0;
}

/* Unmounted: says so in the lock, so that a new mount waits for this one to end. */
static void mark_stopping(int fd)
{
	char line[48];
	int n = snprintf(line, sizeof(line), "%ld\nstopping\n", (long)getpid());

	/* The same first line, and longer: one write, no truncation. */
	if (pwrite(fd, line, (size_t)n, 0) != n)
		dfs_log_errno(DFS_LOG_WARNING, errno, "cannot mark the state directory's lock");
}

static int prepare_state_dir(struct dfs_config *cfg)
{
	char real[PATH_MAX];

	if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "dinemicfs: cannot create %s: %s\n", cfg->state_dir,
			strerror(errno));
		return -errno;
	}
	if (!realpath(cfg->state_dir, real)) {
		fprintf(stderr, "dinemicfs: %s: %s\n", cfg->state_dir, strerror(errno));
		return -errno;
	}
	char *copy = strdup(real);
	if (!copy)
		return -ENOMEM;
	free(cfg->state_dir);
	cfg->state_dir = copy;
	return 0;
}

/* Detaches from the terminal once the mount is up. */
static void signal_ready(int ready_fd)
{
	if (ready_fd < 0)
		return;
	int devnull = open("/dev/null", O_RDWR);
	if (setsid() < 0)
		dfs_log_errno(DFS_LOG_WARNING, errno, "setsid");
	if (chdir("/") < 0)
		dfs_log_errno(DFS_LOG_WARNING, errno, "chdir /");
	dfs_log_detach();	/* syslog only from now on (main.c chose it) */
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		if (devnull > 2)
			close(devnull);
	}
	char ok = 0;
	if (write(ready_fd, &ok, 1) != 1)
		dfs_log_errno(DFS_LOG_WARNING, errno, "telling the parent we are up");
	close(ready_fd);
}

/*
 * The mount shows as STATE_DIR on type fuse.dinemicfs, so that mount(8) and
 * `mount -a` recognise an fstab line as mounted. Commas and backslashes in
 * the path are escaped for the option parser.
 */
static int add_names(struct dfs_config *cfg)
{
	char real[PATH_MAX], opt[2 * PATH_MAX + 16];
	size_t o = 0;

	char cwd[PATH_MAX];
	/* Not made yet on a first start: absolute from here. */
	if (!realpath(cfg->state_dir, real)) {
		int n = -1;
		if (cfg->state_dir[0] != '/' && getcwd(cwd, sizeof(cwd)))
			n = snprintf(real, sizeof(real), "%s/%s", cwd, cfg->state_dir);
		if (n < 0 || (size_t)n >= sizeof(real))
			snprintf(real, sizeof(real), "%s", cfg->state_dir);
	}
	o += (size_t)snprintf(opt, sizeof(opt), "-ofsname=");
	for (const char *p = real; *p && o + 3 < sizeof(opt); p++) {
		if (*p == ',' || *p == '\\')
			opt[o++] = '\\';
		opt[o++] = *p;
	}
	opt[o] = '\0';
	if (fuse_opt_add_arg(&cfg->fuse_args, "-osubtype=dinemicfs") < 0)
		return -1;
	return fuse_opt_add_arg(&cfg->fuse_args, opt);
}

int dfs_node_run(struct dfs_config *cfg, int ready_fd)
{
	struct dfs_fs_opts fopts = {
		.read_only = cfg->read_only,
		.max_value = cfg->max_value,
		.sync_strict = cfg->sync_strict,
		.open_policy = cfg->policy_open,
		.inode_limit = 100000,
	};
	struct dfs_store_opts sopts = { .sync = cfg->sync_strict };
	struct fuse_loop_config *loop = NULL;
	struct dfs_keyring *kr = NULL;
	struct dfs_store *st = NULL;
	struct dfs_db *db = NULL;
	struct judge judge = { 0 };
	struct wiring wiring = { 0 };
	uint8_t netkey[DFS_MAC_KEY_LEN];
	bool has_netkey = false;
	struct fuse_session *se;
	struct dfs_fs *fs;
	char dbdir[PATH_MAX];
	int lock_fd = -1;
	int status = 1;

	if (dfs_crypto_init() < 0)
		return 1;
	if (cfg->network_key_file) {
		if (load_network_key(cfg->network_key_file, netkey) < 0)
			return 1;
		has_netkey = true;
	}
	fs = dfs_fs_new(&fopts);
	if (!fs)
		return 1;
	/*
	 * The session checks the remaining (FUSE) options first: an unknown one
	 * is a usage error and must leave nothing behind.
	 */
	/*
	 * The kernel checks the mode bits we report: with allow_other, other
	 * users must not write fields, or install listeners that run as us.
	 */
	if (fuse_opt_add_arg(&cfg->fuse_args, "-odefault_permissions") < 0 ||
	    add_names(cfg) < 0)
		goto out_free_fs;
	se = fuse_session_new(&cfg->fuse_args, &dfs_fs_ops, sizeof(dfs_fs_ops), fs);
	if (!se) {
		fprintf(stderr, "dinemicfs: bad mount options (see dinemicfs --help)\n");
		status = 2;
		goto out_free_fs;
	}
	if (prepare_state_dir(cfg) < 0)
		goto out_destroy_session;
	if (lock_state(cfg->state_dir, &lock_fd) < 0)
		goto out_destroy_session;
	kr = dfs_keyring_open(cfg->state_dir);
	if (!kr) {
		fprintf(stderr, "dinemicfs: cannot open the keys in %s: %s\n", cfg->state_dir,
			strerror(errno));
		goto out_unlock;
	}
	snprintf(dbdir, sizeof(dbdir), "%s/db", cfg->state_dir);
	st = dfs_store_open(dbdir, &sopts);
	if (!st) {
		fprintf(stderr, "dinemicfs: cannot open the store %s: %s\n", dbdir,
			strerror(errno));
		goto out_free_keyring;
	}
	db = dfs_db_open(st, kr, cfg->max_value);
	if (!db) {
		fprintf(stderr, "dinemicfs: cannot read the store %s: %s\n", dbdir,
			strerror(errno));
		goto out_close_store;
	}
	char actions[PATH_MAX];
	snprintf(actions, sizeof(actions), "%s/actions", cfg->state_dir);
	if (mkdir(actions, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "dinemicfs: cannot create %s: %s\n", actions, strerror(errno));
		goto out_free_db;
	}
	judge.counts = &wiring.counts;
	judge.runner = dfs_runner_new(actions, cfg->action_timeout_ms);
	if (!judge.runner) {
		fprintf(stderr, "dinemicfs: cannot start the listener runner: %s\n",
			strerror(errno));
		goto out_free_db;
	}
	if (!realpath(cfg->mountpoint, judge.mount))
		snprintf(judge.mount, sizeof(judge.mount), "%s", cfg->mountpoint);
	struct dfs_db_listener listener = {
		.wants = judge_wants,
		.before = judge_before,
		.after = judge_after,
		.ctx = &judge,
	};
	dfs_db_set_listener(db, &listener);
	dfs_db_set_policy(db, cfg->policy_open);
	if (cfg->as && set_as(db, cfg->as) < 0)
		goto out_free_db;
	wiring.fs = fs;
	dfs_db_set_observer(db, on_update, &wiring);
	dfs_fs_attach(fs, db, st, kr, se, cfg->state_dir);
	if (fuse_set_signal_handlers(se) < 0)
		goto out_free_db;
	/* By its absolute path: the daemon leaves for "/" once ready, and unmounts from there. */
	if (fuse_session_mount(se, judge.mount) < 0) {
		fprintf(stderr, "dinemicfs: cannot mount on %s\n", cfg->mountpoint);
		goto out_remove_handlers;
	}
	if (cfg->listen || cfg->npeers) {
		if (dfs_fs_mirror_start(fs, judge.mount) < 0)
			dfs_log(DFS_LOG_WARNING, "cannot start the mirror: remote changes make no "
				"inotify events");
		struct dfs_repl_opts ropts = {
			.listen = cfg->listen,
			.peers = cfg->peers,
			.npeers = cfg->npeers,
			.network_key = has_netkey ? netkey : NULL,
		};
		wiring.repl = dfs_repl_start(db, kr, &ropts);
		if (!wiring.repl) {
			fprintf(stderr, "dinemicfs: cannot start replication%s%s: %s\n",
				cfg->listen ? " on " : "", cfg->listen ? cfg->listen : "",
				strerror(errno));
			goto out_unmount;
		}
	}
	struct dfs_fs_hooks hooks = { wiring.repl ? peers_text : NULL, node_stats, &wiring };
	dfs_fs_set_hooks(fs, &hooks);
	dfs_wipe(netkey, sizeof(netkey));
	dfs_log(DFS_LOG_NOTICE, "mounted %s on %s", cfg->state_dir, cfg->mountpoint);
	signal_ready(ready_fd);
	if (dfs_fs_start(fs) < 0)
		dfs_log(DFS_LOG_WARNING, "cannot start the inode trimmer; memory may grow");

	loop = fuse_loop_cfg_create();
	if (!loop)
		goto out_unmount;
	fuse_loop_cfg_set_clone_fd(loop, 0);
	/* Writers wait on listeners that may read the mount: keep threads to spare. */
	fuse_loop_cfg_set_max_threads(loop, 48);
	fuse_loop_cfg_set_idle_threads(loop, 16);
	/* A stop by signal (SIGTERM from systemd, ^C) is a clean stop, as unmounting is. */
	int lrc = fuse_session_loop_mt(se, loop);
	status = lrc >= 0 ? 0 : 1;
	fuse_loop_cfg_destroy(loop);
	dfs_log(DFS_LOG_NOTICE, "unmounting %s", cfg->mountpoint);
out_unmount:
	mark_stopping(lock_fd);
	dfs_fs_unmounted(fs);
	dfs_fs_close_open(fs);
	dfs_repl_stop(wiring.repl);
	wiring.repl = NULL;
	dfs_fs_stop(fs);
	fuse_session_unmount(se);
out_remove_handlers:
	fuse_remove_signal_handlers(se);
out_free_db:
	dfs_runner_free(judge.runner); /* runs what after-listeners are queued */
	dfs_db_free(db);
out_close_store:
	dfs_store_close(st);
out_free_keyring:
	dfs_keyring_free(kr);
out_unlock:
	/* Stopped: no line is left for the next mount to wait on. */
	if (lock_fd >= 0 && ftruncate(lock_fd, 0) < 0)
		dfs_log_errno(DFS_LOG_WARNING, errno, "cannot clear the state directory's lock");
	close(lock_fd);
out_destroy_session:
	fuse_session_destroy(se);
out_free_fs:
	dfs_fs_free(fs);
	return status;
}
