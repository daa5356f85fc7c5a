// SPDX-License-Identifier: MIT
/* meta.c - the generated files: .id, .owner, .history, .authorized, .encrypted and .node/ */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dinemicfs/hlc.h"
#include "dinemicfs/log.h"
#include "dinemicfs/objref.h"
#include "dinemicfs/util.h"
#include "internal.h"

struct history_out {
	struct dfs_buf *out;
	bool all_ok;
};

static int history_line(const struct dfs_update *u, const struct dfs_hash *hash, bool ok,
			const char *held, void *ctx)
{
	struct history_out *h = ctx;
	char hh[2 * DFS_HASH_LEN + 1], ph[2 * DFS_HASH_LEN + 1], sh[2 * DFS_PUBKEY_LEN + 1];

	dfs_hex_encode(hh, hash->b, DFS_HASH_LEN);
	dfs_hex_encode(ph, u->prev.b, DFS_HASH_LEN);
	dfs_hex_encode(sh, u->signer.b, DFS_PUBKEY_LEN);
	/* Six columns; "-" where an op names no field; a held update says why after "held". */
	bool named = u->name_len > 0 && u->op != DFS_OP_OBJECT_CREATE;
	dfs_buf_printf(h->out, "%llu.%u %s %s %s %s ", (unsigned long long)dfs_hlc_ms(u->clock),
		       dfs_hlc_logical(u->clock), hh, ph, sh, dfs_op_name(u->op));
	/* A name from a store made before the rules may hold a newline or an ESC. */
	dfs_name_escape(h->out, named ? u->name : "-", named ? u->name_len : 1);
	/* A held reason holds no control bytes (records.h). */
	dfs_buf_printf(h->out, "%s%s%s\n", ok ? "" : " UNVERIFIED", held ? " held " : "",
		       held ? held : "");
	if (!ok)
		h->all_ok = false;
	return 0;
}

/*
 * .node/stats: one "key value" line per counter, for monitoring scripts
 * (awk '$1 == "peers_up" { print $2 }'). Keys are stable: lowercase with
 * underscores, never renamed or removed; new ones may be added anywhere.
 * Values are decimal integers unless said otherwise. Counters count since
 * the node started, except updates_stored, held_bytes and held_updates; a
 * restart sets them to 0.
 *
 *   node_id                 this node's public key (hex), as in .node/id
 *   pid                     the daemon's process id (to signal or watch it)
 *   uptime_seconds          seconds since the node started
 *   sync                    strict or relaxed (-o sync=)
 *   updates_stored          updates in this node's log, applied or held, ever
 *   log_head                the last sequence number of this node's log (the
 *                           same number): what `dinemicfs wait` waits for the
 *                           peers to acknowledge (.node/peers, acked)
 *   updates_applied         updates applied, local and remote
 *   updates_refused         remote updates not applied: held or dropped
 *   corrupt_records         corrupt records met in the store
 *   held_bytes              held updates kept now, in bytes of their records
 *                           (-o held_per_signer, held_max), not a counter:
 *                           a retry that applies one, or its rm, takes it off
 *   held_updates            and how many (the files of .node/held), not a
 *                           counter either
 *   held_dropped            held updates dropped to keep within that quota
 *   held_over_max_value     remote updates held because their value, or the
 *                           value they would make, passes max_value
 *   conflicts               values kept that lost to a concurrent set
 *                           (.node/conflicts), not a counter
 *   store_bytes             the store's size on disk
 * From the node (node.c, through fs->hooks.stats):
 *   updates_applied_local   changes made on this mount, applied
 *   updates_applied_remote  updates received from peers, applied
 *   updates_rejected        changes turned down here: local ones a listener
 *                           rejected (the writer got EPERM), plus updates_held
 *   updates_held            remote updates stored and relayed but not applied
 *                           here: rejected by the policy or a listener, or
 *                           breaking a rule of this node's state
 *   updates_dropped         remote updates neither stored nor kept waiting:
 *                           malformed or badly signed, no room to wait
 *                           (updates_waiting_dropped, and those waiting for
 *                           their time that gave way), or a store error
 *   peers_configured        -o peer= addresses
 *   peers_up                links up now, outgoing and incoming
 *   updates_received        updates received from peers, known ones included
 *   updates_sent            updates sent to peers, counted once per peer
 *   updates_relayed         the same count as updates_sent, under the name
 *                           the monitoring notes use
 *   updates_waiting         received updates waiting for a predecessor now
 *   updates_waiting_bytes   their bytes (park_per_peer a peer, 32 MiB in all)
 *   updates_waiting_dropped updates dropped as their peer's share of that, or
 *                           all of it, was full, or let go as their peer has
 *                           no link left (asked for again once their link
 *                           reconnects)
 *   updates_waiting_clock   received updates stamped more than max_skew
 *                           ahead of this node's clock, waiting for it now
 *   updates_waiting_clock_dropped  of them, dropped as 1024 or 8 MiB waited
 *                           (the one due last giving way), or half of that
 *                           from their peer (among updates_dropped)
 *   links_paused            times a link's queue of received messages was
 *                           full and it was no longer read until half free
 *   bytes_in, bytes_out     WebSocket payload bytes received and sent
 *   frames_dropped          malformed, oversized or forged messages and
 *                           updates dropped (the malformed and badly signed
 *                           of updates_dropped among them)
 *   peers_refused           peers refused at the handshake: a bad proof,
 *                           the wrong network key, not trusted, not the
 *                           pinned node, a web page (an Origin header)
 *   connections_over_limit  connections closed, unanswered, past the limits
 *                           on connections not yet admitted
 *   updates_announced       updates named by hash to lazy peers (HAVE)
 *   updates_duplicate       full updates received that were stored already
 *   grafts_sent             announced updates asked for in full (GRAFT)
 *   grafts_served           updates sent in full on a peer's GRAFT
 *   prunes_sent             links made lazy after a duplicate (PRUNE)
 *   prunes_refused          peers' PRUNEs refused: the link was this node's
 *                           oldest eager one
 *   links_closed_holes      links closed: too many announced updates missing
 *   links_window_full       times a link waited for its peer's ACK: its
 *                           window (slow start, up to twice link_queue) of
 *                           our log sent and not acknowledged
 *   listener_queue_jobs     after-listener runs waiting now (any listener)
 *   listener_queue_bytes    the bytes of values they hold (listener_queue)
 *   listener_queue_full     times a peer's share of that queue (a quarter),
 *                           or all peers' part (three quarters), filled:
 *                           that peer's updates then wait to be applied
 *   keys_missing_cached     keys looked for and not held here, remembered
 *                           (at most 4096, whatever keys peers name)
 *   keys_missing_forgotten  times those reached 4096 and were all forgotten
 * From the log sink:
 *   errors_logged           error-level log messages
 *   last_error              the last of them, as .node/log shows it (time,
 *                           "error", [file:line], message): the value is the
 *                           rest of the line; "-" when there was none
 *
 * The replication keys are 0 on a node without listen= or peer=.
 */
static int node_stats(struct dfs_fs *fs, struct dfs_buf *out)
{
	struct dfs_db_stats s;
	struct timespec now;
	char last[512];
	int rc = 0;

	dfs_db_get_stats(fs->db, &s);
	clock_gettime(CLOCK_REALTIME, &now);
	dfs_buf_printf(out, "node_id %s\n", fs->node_hex);
	dfs_buf_printf(out, "pid %ld\n", (long)getpid());
	dfs_buf_printf(out, "uptime_seconds %lld\n",
		       (long long)(now.tv_sec - fs->started.tv_sec));
	dfs_buf_printf(out, "sync %s\n", fs->opts.sync_strict ? "strict" : "relaxed");
	dfs_buf_printf(out, "updates_stored %llu\n", (unsigned long long)s.seq);
	dfs_buf_printf(out, "log_head %llu\n", (unsigned long long)s.seq);
	dfs_buf_printf(out, "updates_applied %llu\n", (unsigned long long)s.applied);
	dfs_buf_printf(out, "updates_refused %llu\n", (unsigned long long)s.refused);
	dfs_buf_printf(out, "corrupt_records %llu\n", (unsigned long long)s.corrupt);
	dfs_buf_printf(out, "held_bytes %llu\n", (unsigned long long)s.held_bytes);
	dfs_buf_printf(out, "held_updates %llu\n", (unsigned long long)s.held_updates);
	dfs_buf_printf(out, "held_dropped %llu\n", (unsigned long long)s.held_dropped);
	dfs_buf_printf(out, "held_over_max_value %llu\n",
		       (unsigned long long)s.held_over_max_value);
	dfs_buf_printf(out, "conflicts %llu\n", (unsigned long long)s.conflicts);
	dfs_buf_printf(out, "store_bytes %llu\n",
		       (unsigned long long)dfs_store_disk_bytes(fs->st));
	if (fs->hooks.stats)
		rc = fs->hooks.stats(fs->hooks.ctx, out);
	unsigned long long errors = dfs_log_errors(last, sizeof(last));
	dfs_buf_printf(out, "errors_logged %llu\n", errors);
	dfs_buf_printf(out, "last_error %s\n", last[0] ? last : "-");
	return rc < 0 ? rc : dfs_buf_ok(out);
}

/* "MODEL/OBJECT KEYHEX" for a key, or its hex alone where no object of this node has it. */
static int object_line(struct dfs_fs *fs, const struct dfs_pubkey *k, struct dfs_buf *out)
{
	struct dfs_object_rec o;
	int rc = dfs_db_get_object_by_key(fs->db, k, &o);

	if (rc < 0 && rc != -ENOENT)
		return rc;
	dfs_objref_format(out, rc == 0 ? o.model : NULL, o.shown, k);
	return 0;
}

static int authorized_text(struct dfs_fs *fs, const struct dfs_pubkey *obj, struct dfs_buf *out)
{
	struct dfs_pubkey k;
	uint8_t *keys;
	size_t len;
	int rc = dfs_db_get_meta(fs->db, obj, "authorized", &keys, &len);

	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	for (size_t off = 0; rc == 0 && off + DFS_PUBKEY_LEN <= len; off += DFS_PUBKEY_LEN) {
		memcpy(k.b, keys + off, DFS_PUBKEY_LEN);
		rc = object_line(fs, &k, out);
	}
	free(keys);
	return rc;
}

bool dfs_fs_meta_writable(struct dfs_fs *fs, const struct dfs_ent *e)
{
	if (fs->opts.read_only)
		return false;
	/* Any node may list a model's encrypted fields (each key its own list). */
	if (e->kind == DFS_K_META && e->meta == DFS_META_ENCRYPTED)
		return true;
	if (e->kind == DFS_K_META)
		return e->meta == DFS_META_AUTHORIZED && dfs_keyring_has(fs->kr, &e->obj);
	/* .node/as, .node/try (try.c), and a held update's file, which takes "retry" (held.c). */
	return e->kind == DFS_K_NODE_FILE &&
	       (e->meta == DFS_NODE_AS || e->meta == DFS_NODE_TRY || fs_is_held(e));
}

/* Calls fn for each line of val, without its newline and surrounding blanks. */
static int each_line(const uint8_t *val, size_t len, int (*fn)(const char *, size_t, void *),
		     void *ctx)
{
	const char *p = (const char *)val, *end = p + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		const char *a = p, *b = stop;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
			b--;
		if (b > a) {
			int rc = fn(a, (size_t)(b - a), ctx);
			if (rc < 0)
				return rc;
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

struct key_list {
	struct dfs_fs *fs;
	bool as;		/* .node/as: keys this node holds */
	const char *file;
	bool logged;		/* a line's object was logged as not found */
	struct dfs_pubkey keys[DFS_AUTHORIZED_MAX];
	size_t n;
};

static const char *resolve_error(int rc)
{
	switch (rc) {
	case -ENOENT: return "no such object here";
	case -ENOKEY: return "this node does not hold that object's key";
	case -ENOTUNIQ:
		return "more than one object was created under this name (listed as it and "
		       "as it~ and 8 hex digits of its key); name the one you mean by its key "
		       "(in its .id) or by its ~ suffix";
	default: return strerror(-rc);
	}
}

/* One line of .authorized or .node/as: its object's key, by key or by name. */
static int add_key(const struct dfs_objref *r, void *ctx)
{
	struct key_list *l = ctx;

	if (l->n == DFS_AUTHORIZED_MAX)
		return -E2BIG;
	int rc = l->as ? dfs_db_resolve_as(l->fs->db, r, &l->keys[l->n])
		       : dfs_db_resolve_grant(l->fs->db, r, &l->keys[l->n]);
	if (rc == -EIO || rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		char hex[2 * DFS_PUBKEY_LEN + 1];
		dfs_hex_encode(hex, r->key.b, DFS_PUBKEY_LEN);
		dfs_log(DFS_LOG_WARNING, "%s: %s%s%s: %s", l->file, r->has_key ? hex : r->model,
			r->has_key ? "" : "/", r->has_key ? "" : r->object, resolve_error(rc));
		l->logged = true;
		return rc == -ENOKEY ? -EPERM : -EINVAL;
	}
	l->n++;
	return 0;
}

/* The keys a written .authorized or .node/as names, one a line. */
static int parse_keys(struct key_list *l, const uint8_t *val, size_t len)
{
	unsigned line;
	int rc = dfs_objref_parse_text((const char *)val, len, add_key, l, &line);

	if (rc == -EINVAL && !l->logged)
		dfs_log(DFS_LOG_WARNING, "%s: line %u: not MODEL/OBJECT, MODEL/OBJECT KEYHEX or KEYHEX",
			l->file, line);
	return rc;
}

/* Field names for .encrypted, one a line. */
struct name_list {
	char **names;
	size_t n, cap;
};

static int add_name(const char *line, size_t n, void *ctx)
{
	struct name_list *l = ctx;

	if (dfs_name_check(line, n) < 0 || line[0] == '.') {
		dfs_log(DFS_LOG_WARNING, ".encrypted: %.*s: not a field name", (int)n, line);
		return -EINVAL;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		char **p = realloc(l->names, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->names = p;
		l->cap = cap;
	}
	l->names[l->n] = strndup(line, n);
	return l->names[l->n++] ? 0 : -ENOMEM;
}

static int set_encrypted(struct dfs_fs *fs, const char *model, const uint8_t *val, size_t len,
			 bool commit)
{
	struct name_list l = { 0 };
	int rc = each_line(val, len, add_name, &l);

	if (rc == 0 && commit)
		rc = dfs_db_set_encrypted(fs->db, model, (const char *const *)l.names, l.n);
	for (size_t i = 0; i < l.n; i++)
		free(l.names[i]);
	free(l.names);
	return rc;
}

int dfs_fs_meta_set(struct dfs_fs *fs, const struct dfs_ent *e, const uint8_t *val, size_t len,
		    bool commit)
{
	if (!dfs_fs_meta_writable(fs, e))
		return -EPERM;
	/* .node/try answers each write itself (try.c): nothing to check or commit here. */
	if (e->kind == DFS_K_NODE_FILE && e->meta == DFS_NODE_TRY)
		return 0;
	if (fs_is_held(e))
		return fs_held_write(fs, e, val, len, commit);
	if (e->meta == DFS_META_ENCRYPTED)
		return set_encrypted(fs, e->model, val, len, commit);
	struct key_list *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->fs = fs;
	l->as = e->meta != DFS_META_AUTHORIZED;
	l->file = l->as ? ".node/as" : ".authorized";
	int rc = parse_keys(l, val, len);
	if (rc == 0 && e->meta == DFS_META_AUTHORIZED) {
		if (commit)
			rc = dfs_db_set_authorized(fs->db, &e->obj, l->keys, l->n);
	} else if (rc == 0 && l->n > 1) {
		dfs_log(DFS_LOG_WARNING, ".node/as: one object, or nothing to sign as the node");
		rc = -EINVAL;
	} else if (rc == 0 && commit) {
		rc = dfs_db_set_as(fs->db, l->n ? &l->keys[0] : NULL);
		if (rc == -ENOKEY) {
			dfs_log(DFS_LOG_WARNING, ".node/as: this node does not hold that object's key");
			rc = -EPERM;
		}
	}
	free(l);
	return rc;
}

/* .history: one line per update, warning when any is unverified. */
static int history_text(struct dfs_fs *fs, const struct dfs_ent *e, const char *hex,
			struct dfs_buf *out)
{
	int rc;
	struct history_out h = { out, true };
	rc = dfs_db_history(fs->db, &e->obj, history_line, &h);
	if (rc == 0 && !h.all_ok)
		dfs_log(DFS_LOG_WARNING, "history of %s has unverified updates", hex);
	return rc;
}

/* .encrypted: the union of every key's list, empty when the model lists none. */
static int encrypted_text(struct dfs_fs *fs, const struct dfs_ent *e, struct dfs_buf *out)
{
	return dfs_db_get_encrypted(fs->db, e->model, out);
}

/* .node/as: the object this node acts as, if any. */
static int as_text(struct dfs_fs *fs, struct dfs_buf *out)
{
	int rc;
	struct dfs_pubkey as;
	rc = 0;
	if (dfs_db_get_as(fs->db, &as))
		rc = object_line(fs, &as, out);
	return rc;
}

static int log_text(struct dfs_buf *out)
{
	char *log;
	long n = dfs_log_snapshot(&log);

	if (n < 0)
		return (int)n;
	dfs_buf_add(out, log, (size_t)n);
	free(log);
	return 0;
}

/* The content of a generated file. */
int dfs_fs_generate(struct dfs_fs *fs, const struct dfs_ent *e, struct dfs_buf *out)
{
	char hex[2 * DFS_PUBKEY_LEN + 1];
	struct dfs_object_rec o;
	int rc;

	if (e->meta == DFS_NODE_TRY || e->meta == DFS_NODE_CONFLICTS)	/* try: empty (try.c) */
		return e->meta == DFS_NODE_TRY ? 0 : fs_conflicts_text(fs, out);
	dfs_hex_encode(hex, e->obj.b, DFS_PUBKEY_LEN);
	switch (e->meta) {
	case DFS_META_ID:
		rc = dfs_db_get_object_by_key(fs->db, &e->obj, &o);
		if (rc == 0)
			dfs_objref_format(out, o.model, o.shown, &e->obj);
		break;
	case DFS_META_OWNER:
		rc = dfs_db_get_object_by_key(fs->db, &e->obj, &o);
		if (rc == 0)
			dfs_buf_printf(out, "%s\n", hex);
		break;
	case DFS_META_HISTORY:
		rc = history_text(fs, e, hex, out);
		break;
	case DFS_NODE_ID:
		dfs_buf_printf(out, "%s\n", fs->node_hex);
		rc = 0;
		break;
	case DFS_NODE_STATS:
		rc = node_stats(fs, out);
		break;
	case DFS_NODE_LOG:
		rc = log_text(out);
		break;
	case DFS_META_AUTHORIZED:
		rc = authorized_text(fs, &e->obj, out);
		break;
	case DFS_META_ENCRYPTED:
		rc = encrypted_text(fs, e, out);
		break;
	case DFS_NODE_AS:
		rc = as_text(fs, out);
		break;
	case DFS_NODE_PEERS:
		rc = 0;
		if (fs->hooks.peers)
			rc = fs->hooks.peers(fs->hooks.ctx, out);
		else
			dfs_buf_printf(out, "no peers: mounted without listen= or peer=\n");
		break;
	default:	/* .node/held/NAME, OBJECT/.conflicts/NAME, or nothing */
		rc = fs_is_held(e)	  ? fs_held_text(fs, e, out)
		     : fs_is_conflict(e) ? fs_conflict_text(fs, e, out)
					 : -ENOENT;
	}
	return rc < 0 ? rc : dfs_buf_ok(out);
}

