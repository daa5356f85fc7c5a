// SPDX-License-Identifier: MIT
/*
 * try.c - .node/try: a dry run of a change, asked and answered through one
 * open file.
 *
 * `dinemicfs try` opens .node/try read-write, writes one request
 * (tryreq.h) and reads the answer from offset 0 of the same open file. The
 * request gathers in the handle's item buffer; the write(2) that completes
 * it resolves the path as the real change would (tree.c), checks what the
 * real write, rm, mkdir or rmdir checks here, and asks the model for a dry
 * run (dfs_db_try_change(), dfs_db_try_create()). The answer replaces the
 * handle's data, which reads of the handle return (handle.c), so each open
 * file has its own. A malformed request fails its write(2) with EINVAL
 * (EFBIG for a value over max_value) and is dropped; once answered, a
 * handle takes no more writes. Nothing is stored, sent, counted or logged
 * (but at debug level).
 *
 * The answer, one line each, fields separated by tabs:
 *
 *   listener HOOK NAME accept|reject|skip REASON
 *                            one per listener the change would ask, in
 *                            order; NAME is its path under .actions
 *                            (escaped as generated files show names),
 *                            REASON the first line of its stderr, or how
 *                            it ended; skip: not run, an earlier one
 *                            rejects
 *   refused ERRNO TEXT       a rule of this node refuses the change (the
 *                            errno the real change fails with, by name)
 *   accept | reject          last: whether the change would be made
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dinemicfs/log.h"
#include "dinemicfs/tryreq.h"
#include "dinemicfs/util.h"
#include "internal.h"

static const char *errno_name(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EIO: return "EIO";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EEXIST: return "EEXIST";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case EFBIG: return "EFBIG";
	case EROFS: return "EROFS";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ENOTEMPTY: return "ENOTEMPTY";
	case EAGAIN: return "EAGAIN";
	case EOVERFLOW: return "EOVERFLOW";
	default: return "EIO";
	}
}

static int refuse(struct dfs_db_try *t, int rc, const char *why)
{
	snprintf(t->why, sizeof(t->why), "%s", why);
	return rc;
}

/* One listener's answer, as a line of the answer. */
static void add_answer(void *arg, const struct dfs_answer *a)
{
	static const char *const verdicts[] = {
		[DFS_VERDICT_ACCEPT] = "accept",
		[DFS_VERDICT_REJECT] = "reject",
		[DFS_VERDICT_SKIP] = "skip",
	};
	struct dfs_buf *out = arg;

	dfs_buf_printf(out, "listener\t%s\t", a->hook);
	dfs_name_escape(out, a->listener, strlen(a->listener));
	/* A reason holds no control bytes (dfs_listener_reason()). */
	dfs_buf_printf(out, "\t%s\t%s\n", verdicts[a->verdict], a->reason ? a->reason : "");
}

/* The next directory of a path: name under *dir must be of kind want. */
static int step(struct dfs_fs *fs, struct dfs_ent *dir, const char *name, int want,
		struct dfs_db_try *t)
{
	static const char *const what[] = {
		[DFS_K_MODEL] = "model", [DFS_K_OBJECT] = "object", [DFS_K_DICT] = "dict",
	};
	struct dfs_ent next;
	char why[64];
	int rc = fs_resolve(fs, 0, dir, name, &next);

	if (rc == 0 && next.kind != want)
		rc = -ENOTDIR;
	if (rc == -ENOENT || rc == -ENOTDIR) {
		snprintf(why, sizeof(why), "%s %s", rc == -ENOENT ? "no such" : "not a", what[want]);
		return refuse(t, rc, why);
	}
	if (rc < 0)
		return refuse(t, rc, strerror(-rc));
	*dir = next;
	return 0;
}

/* Splits path (a copy, in buf) into its components; returns how many. */
static unsigned split(const char *path, char *buf, size_t size, char *parts[4])
{
	unsigned n = 0;

	snprintf(buf, size, "%s", path);
	for (char *p = buf, *s; n < 4 && p; p = s) {
		s = strchr(p, '/');
		if (s)
			*s++ = '\0';
		parts[n++] = p;
	}
	return n;
}

static const char no_key[] =
	"this node holds no key that may write the object: neither its own nor that of an "
	"object in its .authorized (see .node/as; policy strict)";

/* mkdir MODEL/OBJECT or rmdir MODEL/OBJECT. */
static int try_object(struct dfs_fs *fs, const struct dfs_tryreq *req, char *parts[4],
		      struct dfs_db_try *t)
{
	struct dfs_ent dir = { .kind = DFS_K_ROOT }, ent;
	int rc = step(fs, &dir, parts[0], DFS_K_MODEL, t);

	if (rc < 0)
		return rc;
	if (req->op == DFS_TRY_CREATE) {
		if (fs_check_new_name(parts[1]) < 0)
			return refuse(t, -EINVAL, "not a name a new object may take");
		return dfs_db_try_create(fs->db, dir.model, parts[1], t);
	}
	ent = dir;
	rc = step(fs, &ent, parts[1], DFS_K_OBJECT, t);
	if (rc < 0)
		return rc;
	if (!fs_owned(fs, &ent))
		return refuse(t, -EACCES, no_key);
	return dfs_db_try_change(fs->db, DFS_OP_OBJECT_REMOVE, &ent.obj, NULL, NULL, 0, t);
}

/* What name in dir stands for, as a field a change may make or delete. */
static int field_target(struct dfs_fs *fs, const struct dfs_ent *dir, const char *name,
			enum dfs_try_op op, struct dfs_db_try *t)
{
	struct dfs_ent ent;

	if (dfs_name_check(name, strlen(name)) < 0)
		return refuse(t, -EINVAL, "not a field name");
	int rc = fs_resolve(fs, 0, dir, name, &ent);
	bool scratch = (rc == 0 && ent.kind == DFS_K_SCRATCH) ||
		       (rc == -ENOENT && dfs_name_is_scratch(name));
	if (scratch)
		return refuse(t, -EINVAL, "a scratch file: kept on this node only, never judged");
	if (rc == 0 && ent.kind == DFS_K_DICT)
		return refuse(t, -EISDIR, "a dict: its keys are judged, one by one");
	if (rc == 0 && ent.kind != DFS_K_FIELD)
		return refuse(t, -EINVAL, "not a field");
	if (rc == -ENOENT && op == DFS_TRY_DELETE)
		return refuse(t, rc, "no such field");
	if (rc < 0 && rc != -ENOENT)
		return refuse(t, rc, strerror(-rc));
	return 0;
}

/* A write, >> or rm of MODEL/OBJECT/FIELD or MODEL/OBJECT/DICT/KEY. */
static int try_field(struct dfs_fs *fs, const struct dfs_tryreq *req, char *parts[4],
		     const uint8_t *val, struct dfs_db_try *t)
{
	static const uint8_t ops[] = {
		[DFS_TRY_SET] = DFS_OP_FIELD_SET,
		[DFS_TRY_APPEND] = DFS_OP_FIELD_APPEND,
		[DFS_TRY_DELETE] = DFS_OP_FIELD_DELETE,
	};
	struct dfs_ent dir = { .kind = DFS_K_ROOT };
	char path[DFS_UPDATE_NAME_MAX + 1];
	const char *name = parts[req->depth - 1];
	int rc = step(fs, &dir, parts[0], DFS_K_MODEL, t);

	if (rc == 0)
		rc = step(fs, &dir, parts[1], DFS_K_OBJECT, t);
	if (rc == 0 && req->depth == 4)
		rc = step(fs, &dir, parts[2], DFS_K_DICT, t);
	if (rc == 0)
		rc = field_target(fs, &dir, name, req->op, t);
	if (rc < 0)
		return rc;
	if (!fs_owned(fs, &dir))
		return refuse(t, -EACCES, no_key);
	if (fs_field_path(&dir, name, path, sizeof(path)) < 0)
		return refuse(t, -ENAMETOOLONG, "the field's path is too long");
	return dfs_db_try_change(fs->db, ops[req->op], &dir.obj, path, val, (size_t)req->len, t);
}

/* Runs the dry run of a whole request; its answer goes to out. */
static int try_run(struct dfs_fs *fs, const struct dfs_tryreq *req, const uint8_t *val,
		   struct dfs_buf *out)
{
	struct dfs_db_try t = { .fn = add_answer, .arg = out };
	char buf[DFS_TRYREQ_PATH_MAX + 1];
	char *parts[4];
	int rc;

	split(req->path, buf, sizeof(buf), parts);
	if (req->op == DFS_TRY_CREATE || req->op == DFS_TRY_REMOVE)
		rc = try_object(fs, req, parts, &t);
	else
		rc = try_field(fs, req, parts, val, &t);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		dfs_buf_printf(out, "refused\t%s\t%s\n", errno_name(-rc),
			       t.why[0] ? t.why : strerror(-rc));
	dfs_buf_printf(out, "%s\n", rc == 0 ? "accept" : "reject");
	dfs_log(DFS_LOG_DEBUG, "dry run of %s %s: %s", dfs_try_op_name((int)req->op), req->path,
		rc == 0 ? "accepted" : "rejected");
	return dfs_buf_ok(out);
}

/* Takes one write of the request; runs it once whole. Under h->lock. */
static int take(struct dfs_fs *fs, struct fh *h, const char *buf, size_t size, off_t off)
{
	struct dfs_tryreq req;

	if (h->data.len > 0 || off < 0 || (size_t)off != h->item.len)
		return -EINVAL;	/* answered already, or not where the request goes on */
	if (size > DFS_TRYREQ_HEADER_MAX + fs->opts.max_value - h->item.len)
		return -EFBIG;
	/* The value may be an encrypted field's, in clear: secret memory. */
	(void)dfs_buf_make_secret(&h->item);	/* failed: checked below */
	dfs_buf_add(&h->item, buf, size);
	int rc = dfs_buf_ok(&h->item);
	if (rc == 0)
		rc = dfs_tryreq_parse(h->item.data, h->item.len, fs->opts.max_value, &req);
	if (rc <= 0)
		return rc;
	size_t whole = req.header_len + (size_t)req.len;
	if (h->item.len < whole)
		return 0;
	if (h->item.len > whole)
		return -EINVAL;	/* bytes after the value */
	dfs_buf_reset(&h->data);
	rc = try_run(fs, &req, h->item.data + req.header_len, &h->data);
	if (rc < 0)
		dfs_buf_reset(&h->data);
	dfs_buf_release(&h->item);
	dfs_buf_init(&h->item);
	return rc;
}

int fs_try_write(struct dfs_fs *fs, struct fh *h, const char *buf, size_t size, off_t off)
{
	pthread_mutex_lock(&h->lock);
	int rc = take(fs, h, buf, size, off);
	if (rc < 0) {
		/* A malformed request is dropped whole: a new one starts at offset 0. */
		dfs_buf_release(&h->item);
		dfs_buf_init(&h->item);
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}
