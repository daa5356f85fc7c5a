// SPDX-License-Identifier: MIT
/* node.c - wires the modules together and owns the start-up and shut-down order */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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
#include "dinemicfs/statedir.h"
#include "dinemicfs/store.h"

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

static int judge_before(void *ctx, const struct dfs_change *c, char *why, size_t whylen)
{
	struct judge *j = ctx;
	int rc = dfs_runner_judge(j->runner, c, j->mount, why, whylen);

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

static bool judge_room(void *ctx, uint64_t origin)
{
	return dfs_runner_room(((struct judge *)ctx)->runner, origin);
}

/* A dry run: the same listeners, asked; nothing counted. */
static int judge_dry(void *ctx, const struct dfs_change *c, dfs_answer_fn fn, void *arg)
{
	struct judge *j = ctx;

	return dfs_runner_dry(j->runner, c, j->mount, fn, arg);
}

/* Durable updates: peers are told the log grew, the mount shows remote changes. */
struct wiring {
	struct dfs_fs *fs;
	struct dfs_runner *runner;
	struct dfs_keyring *kr;
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

/* An update that can be read now: the kernel drops what it cached of it. */
static void on_staged(void *ctx, const struct dfs_db_event *ev)
{
	dfs_fs_changed(((struct wiring *)ctx)->fs, ev);
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
	struct dfs_runner_stats q;
	unsigned long long held = atomic_load(&w->counts.held);

	if (w->repl)
		dfs_repl_get_stats(w->repl, &s);
	dfs_runner_get_stats(w->runner, &q);
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
	dfs_buf_printf(out, "updates_waiting_bytes %llu\n", (unsigned long long)s.parked_bytes);
	dfs_buf_printf(out, "updates_waiting_dropped %llu\n", (unsigned long long)s.park_dropped);
	dfs_buf_printf(out, "updates_waiting_clock %llu\n", (unsigned long long)s.clock_waiting);
	dfs_buf_printf(out, "updates_waiting_clock_dropped %llu\n",
		       (unsigned long long)s.clock_dropped);
	dfs_buf_printf(out, "links_paused %llu\n", (unsigned long long)s.paused);
	dfs_buf_printf(out, "bytes_in %llu\n", (unsigned long long)s.bytes_in);
	dfs_buf_printf(out, "bytes_out %llu\n", (unsigned long long)s.bytes_out);
	dfs_buf_printf(out, "frames_dropped %llu\n", (unsigned long long)s.bad_frames);
	dfs_buf_printf(out, "peers_refused %llu\n", (unsigned long long)s.refused);
	dfs_buf_printf(out, "connections_over_limit %llu\n", (unsigned long long)s.over_limit);
	dfs_buf_printf(out, "updates_announced %llu\n", (unsigned long long)s.announced);
	dfs_buf_printf(out, "updates_duplicate %llu\n", (unsigned long long)s.duplicates);
	dfs_buf_printf(out, "grafts_sent %llu\n", (unsigned long long)s.grafts);
	dfs_buf_printf(out, "grafts_served %llu\n", (unsigned long long)s.grafted);
	dfs_buf_printf(out, "prunes_sent %llu\n", (unsigned long long)s.prunes);
	dfs_buf_printf(out, "prunes_refused %llu\n", (unsigned long long)s.prunes_refused);
	dfs_buf_printf(out, "links_closed_holes %llu\n", (unsigned long long)s.holes_over);
	dfs_buf_printf(out, "links_window_full %llu\n", (unsigned long long)s.window_full);
	dfs_buf_printf(out, "listener_queue_jobs %llu\n", (unsigned long long)q.jobs);
	dfs_buf_printf(out, "listener_queue_bytes %llu\n", (unsigned long long)q.bytes);
	dfs_buf_printf(out, "listener_queue_full %llu\n", (unsigned long long)q.full);
	dfs_buf_printf(out, "keys_missing_cached %llu\n",
		       (unsigned long long)dfs_keyring_misses(w->kr));
	dfs_buf_printf(out, "keys_missing_forgotten %llu\n",
		       (unsigned long long)dfs_keyring_misses_dropped(w->kr));
	return dfs_buf_ok(out);
}

/*
 * -o as=MODEL/OBJECT (or a key): an object whose key this node holds,
 * found by name among those created under it, then kept by its key.
 */
static int set_as(struct dfs_db *db, const char *as)
{
	struct dfs_objref r;
	struct dfs_pubkey k;
	char hex[2 * DFS_PUBKEY_LEN + 1];
	int rc = dfs_objref_parse(as, strlen(as), &r);

	if (rc == 0)
		rc = dfs_db_resolve_as(db, &r, &k);
	if (rc == 0)
		rc = dfs_db_set_as(db, &k);
	if (rc == 0) {
		dfs_hex_encode(hex, k.b, DFS_PUBKEY_LEN);
		dfs_log(DFS_LOG_INFO, "signing as %s (object %s)", as, hex);
	}
	if (rc < 0)
		fprintf(stderr, "dinemicfs: as=%s: %s\n", as,
			rc == -ENOENT	 ? "no such object"
			: rc == -ENOKEY	 ? "this node does not hold its key"
			: rc == -ENOTUNIQ ? "this node holds the keys of several objects "
					    "created under that name: name one by its key"
					  : strerror(-rc));
	return rc;
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

/*
 * One node's parts, made in this order by the four steps below and unmade
 * in reverse. Each step makes its parts, calls the next, and unwinds what
 * it made: read top to bottom, the labels of node_mount(), node_open() and
 * node_prepare() are the one unwind ladder, from the unmount to the
 * filesystem's free.
 */
struct node {
	struct dfs_config *cfg;
	int ready_fd;
	uint8_t netkey[DFS_MAC_KEY_LEN];
	bool has_netkey;
	struct dfs_fs *fs;
	struct fuse_session *se;
	struct dfs_statedir_lock lock;
	struct dfs_keyring *kr;
	struct dfs_store *st;
	struct dfs_db *db;
	char dbdir[PATH_MAX];
	struct judge judge;
	struct wiring wiring;
};

/* Takes STATE_DIR/lock so that one state directory is mounted once. */
static int lock_state(const char *dir, struct dfs_statedir_lock *lk)
{
	int rc = dfs_statedir_lock(dir, DFS_STATEDIR_LOCK_MOUNT, lk);

	if (rc == -EWOULDBLOCK)
		fprintf(stderr, "dinemicfs: %s is already in use by another dinemicfs%s%s%s\n",
			dir, *lk->holder ? " (pid " : "", lk->holder, *lk->holder ? ")" : "");
	else if (rc < 0)
		fprintf(stderr, "dinemicfs: %s: %s\n", lk->path, strerror(-rc));
	return rc;
}

/* The listener runner, and the database's listener and observer; the fs gets the model. */
static int node_wire(struct node *n)
{
	struct dfs_config *cfg = n->cfg;
	char actions[PATH_MAX];

	(void)dfs_statedir_actions_path(cfg->state_dir, actions, sizeof(actions));
	if (mkdir(actions, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "dinemicfs: cannot create %s: %s\n", actions, strerror(errno));
		return -1;
	}
	n->judge.counts = &n->wiring.counts;
	n->judge.runner = dfs_runner_new(actions, cfg->action_timeout_ms);
	if (!n->judge.runner) {
		fprintf(stderr, "dinemicfs: cannot start the listener runner: %s\n",
			strerror(errno));
		return -1;
	}
	dfs_runner_set_queue(n->judge.runner, cfg->listener_queue);
	if (!realpath(cfg->mountpoint, n->judge.mount))
		snprintf(n->judge.mount, sizeof(n->judge.mount), "%s", cfg->mountpoint);
	struct dfs_db_listener listener = {
		.wants = judge_wants,
		.before = judge_before,
		.after = judge_after,
		.dry = judge_dry,
		.room = judge_room,
		.ctx = &n->judge,
	};
	dfs_db_set_listener(n->db, &listener);
	dfs_db_set_policy(n->db, cfg->policy_open);
	if (cfg->as && set_as(n->db, cfg->as) < 0)
		return -1;
	n->wiring.fs = n->fs;
	n->wiring.runner = n->judge.runner;
	n->wiring.kr = n->kr;
	dfs_db_set_observer(n->db, on_update, &n->wiring);
	dfs_db_set_staged(n->db, on_staged, &n->wiring);
	dfs_fs_attach(n->fs, n->db, n->st, n->kr, n->se, cfg->state_dir);
	return 0;
}

/* Serves FUSE requests until unmounted or signalled; returns the exit status. */
static int node_serve(struct node *n)
{
	struct fuse_loop_config *loop = fuse_loop_cfg_create();

	if (!loop)
		return 1;
	fuse_loop_cfg_set_clone_fd(loop, 0);
	/* Writers wait on listeners that may read the mount: keep threads to spare. */
	fuse_loop_cfg_set_max_threads(loop, 48);
	fuse_loop_cfg_set_idle_threads(loop, 16);
	/* A stop by signal (SIGTERM from systemd, ^C) is a clean stop, as unmounting is. */
	int lrc = fuse_session_loop_mt(n->se, loop);
	int status = lrc >= 0 ? 0 : 1;
	fuse_loop_cfg_destroy(loop);
	dfs_log(DFS_LOG_NOTICE, "unmounting %s", n->cfg->mountpoint);
	return status;
}

/* Mounts, starts replication, tells the parent we are up, and serves. */
static int node_mount(struct node *n)
{
	struct dfs_config *cfg = n->cfg;
	struct dfs_fs *fs = n->fs;
	int status = 1;

	if (fuse_set_signal_handlers(n->se) < 0)
		return 1;
	/* By its absolute path: the daemon leaves for "/" once ready, and unmounts from there. */
	if (fuse_session_mount(n->se, n->judge.mount) < 0) {
		fprintf(stderr, "dinemicfs: cannot mount on %s\n", cfg->mountpoint);
		goto out_remove_handlers;
	}
	if (cfg->listen || cfg->npeers) {
		if (dfs_fs_mirror_start(fs, n->judge.mount) < 0)
			dfs_log(DFS_LOG_WARNING, "cannot start the mirror: remote changes make no "
				"inotify events");
		struct dfs_repl_opts ropts = {
			.listen = cfg->listen,
			.peers = cfg->peers,
			.npeers = cfg->npeers,
			.network_key = n->has_netkey ? n->netkey : NULL,
			.trust_file = cfg->trust_file,
			.unencrypted = cfg->unencrypted_links,
			.park_per_peer = cfg->park_per_peer,
			.link_queue = cfg->link_queue,
			.clock_wait = cfg->clock_wait,
		};
		n->wiring.repl = dfs_repl_start(n->db, n->kr, &ropts);
		if (!n->wiring.repl) {
			fprintf(stderr, "dinemicfs: cannot start replication%s%s: %s\n",
				cfg->listen ? " on " : "", cfg->listen ? cfg->listen : "",
				strerror(errno));
			goto out_unmount;
		}
	}
	struct dfs_fs_hooks hooks = { n->wiring.repl ? peers_text : NULL, node_stats, &n->wiring };
	dfs_fs_set_hooks(fs, &hooks);
	dfs_wipe(n->netkey, sizeof(n->netkey));
	dfs_log(DFS_LOG_NOTICE, "mounted %s on %s", cfg->state_dir, cfg->mountpoint);
	signal_ready(n->ready_fd);
	if (dfs_fs_start(fs) < 0)
		dfs_log(DFS_LOG_WARNING, "cannot start the inode trimmer; memory may grow");

	status = node_serve(n);
out_unmount:
	dfs_statedir_mark_stopping(&n->lock);
	dfs_fs_unmounted(fs);
	dfs_fs_mirror_stop(fs);
	dfs_fs_close_open(fs);
	dfs_repl_stop(n->wiring.repl);
	n->wiring.repl = NULL;
	dfs_fs_stop(fs);
	fuse_session_unmount(n->se);
out_remove_handlers:
	fuse_remove_signal_handlers(n->se);
	return status;
}

/* Takes the state directory's lock; opens the keys, the store and the database. */
static int node_open(struct node *n)
{
	struct dfs_config *cfg = n->cfg;
	struct dfs_store_opts sopts = { .sync = cfg->sync_strict };
	int status = 1;

	if (lock_state(cfg->state_dir, &n->lock) < 0)
		return 1;
	n->kr = dfs_keyring_open(cfg->state_dir);
	if (!n->kr) {
		fprintf(stderr, "dinemicfs: cannot open the keys in %s: %s\n", cfg->state_dir,
			strerror(errno));
		goto out_unlock;
	}
	(void)dfs_statedir_db_path(cfg->state_dir, n->dbdir, sizeof(n->dbdir));
	n->st = dfs_store_open(n->dbdir, &sopts);
	if (!n->st) {
		fprintf(stderr, "dinemicfs: cannot open the store %s: %s\n", n->dbdir,
			strerror(errno));
		goto out_free_keyring;
	}
	n->db = dfs_db_open(n->st, n->kr, cfg->max_value);
	if (!n->db) {
		fprintf(stderr, "dinemicfs: cannot read the store %s: %s\n", n->dbdir,
			strerror(errno));
		goto out_close_store;
	}
	dfs_db_set_max_skew(n->db, cfg->max_skew_ms);
	dfs_db_set_held_quota(n->db, cfg->held_per_signer, cfg->held_max);
	if (node_wire(n) < 0)
		goto out_free_db;

	status = node_mount(n);
out_free_db:
	dfs_runner_free(n->judge.runner); /* runs what after-listeners are queued */
	dfs_db_free(n->db);
out_close_store:
	dfs_store_close(n->st);
out_free_keyring:
	dfs_keyring_free(n->kr);
out_unlock:
	dfs_statedir_unlock(&n->lock);
	return status;
}

/* The filesystem, its FUSE session and the state directory; then the rest. */
/*
 * Links, the store, FUSE and listeners all need descriptors, and a peer can
 * make a node open many: take all the soft limit may grow to (up to 65536).
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= 65536 ||
	    rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		dfs_log_errno(DFS_LOG_INFO, errno, "cannot raise the open-file limit");
}

/*
 * The node holds its keys, the network key and clear values of encrypted
 * fields: no core dump may carry them, and no other process of this user
 * may read its memory (ptrace and /proc/PID/mem follow this flag).
 */
static int not_dumpable(void)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		dfs_log_errno(DFS_LOG_ERR, errno, "cannot make the process non-dumpable");
		return -1;
	}
	return 0;
}

static int node_prepare(struct node *n)
{
	struct dfs_config *cfg = n->cfg;
	struct dfs_fs_opts fopts = {
		.read_only = cfg->read_only,
		.max_value = cfg->max_value,
		.sync_strict = cfg->sync_strict,
		.open_policy = cfg->policy_open,
		.inode_limit = 100000,
	};
	int status = 1;

	raise_fd_limit();
	n->fs = dfs_fs_new(&fopts);
	if (!n->fs)
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
	n->se = fuse_session_new(&cfg->fuse_args, &dfs_fs_ops, sizeof(dfs_fs_ops), n->fs);
	if (!n->se) {
		fprintf(stderr, "dinemicfs: bad mount options (see dinemicfs --help)\n");
		status = 2;
		goto out_free_fs;
	}
	if (dfs_statedir_prepare(&cfg->state_dir) < 0)
		goto out_destroy_session;

	status = node_open(n);
out_destroy_session:
	fuse_session_destroy(n->se);
out_free_fs:
	dfs_fs_free(n->fs);
	return status;
}

int dfs_node_run(struct dfs_config *cfg, int ready_fd)
{
	struct node n = { .cfg = cfg, .ready_fd = ready_fd, .lock = { .fd = -1 } };
	int status;

	if (not_dumpable() < 0 || dfs_crypto_init() < 0)
		return 1;
	if (cfg->network_key_file) {
		dfs_secret_lock(n.netkey, sizeof(n.netkey));
		if (dfs_netkey_read(cfg->network_key_file, n.netkey) < 0)
			return 1;
		n.has_netkey = true;
	}
	status = node_prepare(&n);
	dfs_wipe(n.netkey, sizeof(n.netkey));
	return status;
}
