// SPDX-License-Identifier: MIT
/* meta.c - the generated read-only files: .id, .owner, .history and .node/ */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "dinemicfs/hlc.h"
#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

struct history_out {
	struct dfs_buf *out;
	bool all_ok;
};

static int history_line(const struct dfs_update *u, const struct dfs_hash *hash, bool ok,
			void *ctx)
{
	struct history_out *h = ctx;
	char hh[2 * DFS_HASH_LEN + 1], ph[2 * DFS_HASH_LEN + 1], sh[2 * DFS_PUBKEY_LEN + 1];

	dfs_hex_encode(hh, hash->b, DFS_HASH_LEN);
	dfs_hex_encode(ph, u->prev.b, DFS_HASH_LEN);
	dfs_hex_encode(sh, u->signer.b, DFS_PUBKEY_LEN);
	/* Six columns; "-" where an op names no field. */
	bool named = u->name_len > 0 && u->op != DFS_OP_OBJECT_CREATE;
	dfs_buf_printf(h->out, "%llu.%u %s %s %s %s %.*s%s\n",
		       (unsigned long long)dfs_hlc_ms(u->clock), dfs_hlc_logical(u->clock), hh, ph,
		       sh, dfs_op_name(u->op), named ? (int)u->name_len : 1,
		       named ? u->name : "-", ok ? "" : " UNVERIFIED");
	if (!ok)
		h->all_ok = false;
	return 0;
}

static int node_stats(struct dfs_fs *fs, struct dfs_buf *out)
{
	struct dfs_db_stats s;
	struct timespec now;

	dfs_db_get_stats(fs->db, &s);
	clock_gettime(CLOCK_REALTIME, &now);
	dfs_buf_printf(out, "node_id %s\n", fs->node_hex);
	dfs_buf_printf(out, "updates_stored %llu\n", (unsigned long long)s.seq);
	dfs_buf_printf(out, "updates_applied %llu\n", (unsigned long long)s.applied);
	dfs_buf_printf(out, "updates_refused %llu\n", (unsigned long long)s.refused);
	dfs_buf_printf(out, "corrupt_records %llu\n", (unsigned long long)s.corrupt);
	dfs_buf_printf(out, "store_bytes %llu\n",
		       (unsigned long long)dfs_store_disk_bytes(fs->st));
	dfs_buf_printf(out, "sync %s\n", fs->opts.sync_strict ? "strict" : "relaxed");
	dfs_buf_printf(out, "uptime_seconds %lld\n",
		       (long long)(now.tv_sec - fs->started.tv_sec));
	if (fs->hooks.stats)
		return fs->hooks.stats(fs->hooks.ctx, out);
	return dfs_buf_ok(out);
}

/* The content of a read-only generated file. */
int dfs_fs_generate(struct dfs_fs *fs, const struct dfs_ent *e, struct dfs_buf *out)
{
	char hex[2 * DFS_PUBKEY_LEN + 1];
	struct dfs_object_rec o;
	int rc;

	dfs_hex_encode(hex, e->obj.b, DFS_PUBKEY_LEN);
	switch (e->meta) {
	case DFS_META_ID:
		rc = dfs_db_get_object_by_key(fs->db, &e->obj, &o);
		if (rc == 0)
			dfs_buf_printf(out, "%s/%s %s\n", o.model, o.shown, hex);
		break;
	case DFS_META_OWNER:
		rc = dfs_db_get_object_by_key(fs->db, &e->obj, &o);
		if (rc == 0)
			dfs_buf_printf(out, "%s\n", hex);
		break;
	case DFS_META_HISTORY: {
		struct history_out h = { out, true };
		rc = dfs_db_history(fs->db, &e->obj, history_line, &h);
		if (rc == 0 && !h.all_ok)
			dfs_log(DFS_LOG_WARNING, "history of %s has unverified updates", hex);
		break;
	}
	case DFS_NODE_ID:
		dfs_buf_printf(out, "%s\n", fs->node_hex);
		rc = 0;
		break;
	case DFS_NODE_STATS:
		rc = node_stats(fs, out);
		break;
	case DFS_NODE_LOG: {
		char *log;
		long n = dfs_log_snapshot(&log);
		if (n < 0)
			return (int)n;
		dfs_buf_add(out, log, (size_t)n);
		free(log);
		rc = 0;
		break;
	}
	case DFS_NODE_PEERS:
		rc = 0;
		if (fs->hooks.peers)
			rc = fs->hooks.peers(fs->hooks.ctx, out);
		else
			dfs_buf_printf(out, "no peers: mounted without listen= or peer=\n");
		break;
	default:
		rc = -ENOENT;
	}
	return rc < 0 ? rc : dfs_buf_ok(out);
}

