// SPDX-License-Identifier: MIT
/*
 * held.c - .node/held/: one file per update this node holds, named by its
 * hash (model/heldfiles.c). Reading one shows the update ("key value"
 * lines); writing "retry" judges it again, and the write(2) fails with
 * EPERM where it is held again; rm drops it here.
 *
 * An entry's inode keeps its kind and its name only (inode.c): fs_ent_of()
 * puts the name back into the entity, in ent->name.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dinemicfs/hlc.h"
#include "dinemicfs/objref.h"
#include "dinemicfs/util.h"
#include "internal.h"

bool fs_is_held(const struct dfs_ent *e)
{
	return e->kind == DFS_K_NODE_FILE && e->meta == DFS_NODE_HELD_ENTRY;
}

int fs_held_lookup(struct dfs_fs *fs, const char *name, struct dfs_ent *out)
{
	struct dfs_db_held h;
	int rc = dfs_db_held_get(fs->db, name, &h);

	if (rc < 0)
		return rc;
	dfs_db_held_release(&h);
	out->kind = DFS_K_NODE_FILE;
	out->meta = DFS_NODE_HELD_ENTRY;
	snprintf(out->name, sizeof(out->name), "%s", name);
	return 0;
}

/* "MODEL/OBJECT KEYHEX" of an object this node shows, else "KEYHEX" (as .authorized). */
static void key_line(struct dfs_fs *fs, const char *what, const struct dfs_pubkey *k,
		     struct dfs_buf *out)
{
	struct dfs_object_rec o;
	bool shown = dfs_db_get_object_by_key(fs->db, k, &o) == 0;

	dfs_buf_printf(out, "%s ", what);
	dfs_objref_format(out, shown ? o.model : NULL, shown ? o.shown : NULL, k);
}

/*
 * "held_by CODE [LISTENER]" and "reason TEXT", from the reason .history
 * gives: "CODE: TEXT", a listener's TEXT being "NAME: REASON".
 */
static void reason_lines(const char *why, uint8_t code, struct dfs_buf *out)
{
	const char *colon = strchr(why, ':');
	const char *text = colon ? colon + 1 : "";
	int clen = colon ? (int)(colon - why) : (int)strlen(why);

	while (*text == ' ')
		text++;
	dfs_buf_printf(out, "held_by %.*s", clen, why);
	const char *sep = code == DFS_HELD_LISTENER ? strstr(text, ": ") : NULL;
	/* A listener's file name has no blank; "cannot list listeners: ..." names none. */
	if (sep && !memchr(text, ' ', (size_t)(sep - text))) {
		dfs_buf_printf(out, " %.*s", (int)(sep - text), text);
		text = sep + 2;
	}
	dfs_buf_printf(out, "\nreason %s\n", text);
}

/*
 * The content of .node/held/NAME, one "key value" line each, names and the
 * value escaped as .history escapes names (dfs_name_escape()):
 *
 *   hash       the update's hash (64 hex digits)
 *   model      its model
 *   object     MODEL/OBJECT KEYHEX: the object as it shows here (a create:
 *              the name it creates), or KEYHEX alone where none shows
 *   field      FIELD, DICT/KEY, DICT or .KEY (metadata); "-" for none
 *   op         create, set, append, delete, dict-create, dict-delete,
 *              remove or meta, as in .history
 *   signer     MODEL/OBJECT KEYHEX, or KEYHEX (a node's key, an object
 *              not shown here)
 *   clock      milliseconds.counter
 *   held_by    the code word of .history (unauthorized, revoked,
 *              listener, rule, limit, pending), then the listener's name
 *   reason     the rest of the reason
 *   encrypted  yes or no, for a set or an append
 *   value      the value (an append: the part it adds), where this node
 *              reads it: plain, or encrypted with a key held here
 */
static int held_text(struct dfs_fs *fs, const struct dfs_db_held *h, struct dfs_buf *out)
{
	const struct dfs_update *u = &h->u;
	char hex[2 * DFS_HASH_LEN + 1];
	bool named = u->name_len > 0 && u->op != DFS_OP_OBJECT_CREATE;

	dfs_hex_encode(hex, h->hash.b, DFS_HASH_LEN);
	dfs_buf_printf(out, "hash %s\nmodel ", hex);
	dfs_name_escape(out, u->model, u->model_len);
	dfs_buf_add_u8(out, '\n');
	if (!dfs_op_is_model(u->op)) {
		char model[DFS_NAME_MAX + 1];
		snprintf(model, sizeof(model), "%.*s", (int)u->model_len, u->model);
		dfs_buf_printf(out, "object ");
		dfs_objref_format(out, h->object[0] ? model : NULL, h->object, &u->entity);
	}
	dfs_buf_printf(out, "field %s", u->op == DFS_OP_OBJECT_META ? "." : "");
	dfs_name_escape(out, named ? u->name : "-", named ? u->name_len : 1);
	dfs_buf_printf(out, "\nop %s\n", dfs_op_name(u->op));
	key_line(fs, "signer", &u->signer, out);
	dfs_buf_printf(out, "clock %llu.%u\n", (unsigned long long)dfs_hlc_ms(u->clock),
		       dfs_hlc_logical(u->clock));
	reason_lines(h->reason, h->code, out);
	if (h->has_value)
		dfs_buf_printf(out, "encrypted %s\n", h->sealed ? "yes" : "no");
	if (h->has_value && h->readable) {
		if (h->value.secret)
			(void)dfs_buf_make_secret(out);	/* failed: checked below */
		dfs_buf_printf(out, "value ");
		dfs_name_escape(out, (const char *)h->value.data, h->value.len);
		dfs_buf_add_u8(out, '\n');
	}
	return dfs_buf_ok(out);
}

int fs_held_text(struct dfs_fs *fs, const struct dfs_ent *e, struct dfs_buf *out)
{
	struct dfs_db_held h;
	int rc = dfs_db_held_get(fs->db, e->name, &h);

	if (rc < 0)
		return rc;
	rc = held_text(fs, &h, out);
	dfs_db_held_release(&h);
	return rc;
}

/* Whether the content's last line, blanks aside, is "retry". */
static bool says_retry(const uint8_t *val, size_t len)
{
	while (len && (val[len - 1] == '\n' || val[len - 1] == ' ' || val[len - 1] == '\t' ||
		       val[len - 1] == '\r'))
		len--;
	return len >= 5 && memcmp(val + len - 5, "retry", 5) == 0 &&
	       (len == 5 || val[len - 6] == '\n');
}

/*
 * A write(2) of "retry" (commit false: handle.c checks each write so) judges
 * the update again, and fails with what that returns. The commit at close
 * finds it gone once applied: nothing more to do. A rename over the entry
 * commits alone, and judges it then.
 */
int fs_held_write(struct dfs_fs *fs, const struct dfs_ent *e, const uint8_t *val, size_t len,
		  bool commit)
{
	if (commit && len == 0)
		return 0;	/* opened with O_TRUNC, nothing written */
	if (!says_retry(val, len))
		return -EINVAL;
	int rc = dfs_db_held_retry(fs->db, e->name);
	return commit && rc == -ENOENT ? 0 : rc;
}

int fs_held_unlink(struct dfs_fs *fs, const struct dfs_ent *e)
{
	return fs_is_held(e) ? dfs_db_held_drop(fs->db, e->name) : -EPERM;
}

bool fs_held_secret(struct dfs_fs *fs, const struct dfs_ent *e)
{
	struct dfs_db_held h;

	if (!fs_is_held(e) || dfs_db_held_get(fs->db, e->name, &h) < 0)
		return false;
	bool secret = h.sealed && h.readable;
	dfs_db_held_release(&h);
	return secret;
}

void fs_held_mode(struct dfs_fs *fs, const struct dfs_ent *e, struct stat *st)
{
	mode_t ro = fs->opts.read_only ? 0222 : 0;

	if (e->kind == DFS_K_NODE_DIR && e->meta == DFS_NODE_HELD)
		st->st_mode = S_IFDIR | (0755 & ~ro);
	else if (fs_is_held(e))
		st->st_mode = S_IFREG | ((fs_held_secret(fs, e) ? 0600 : 0644) & ~ro);
}
