// SPDX-License-Identifier: MIT
/* update.c - canonical encoding of signed update records (pure, bounds-checked) */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "dinemicfs/update.h"
#include "dinemicfs/util.h"

/*
 * The name rules a record is held to: those of new names, or, for a record
 * read back from a store, those an earlier release stored under.
 */
static int name_part_ok(const char *p, size_t len, bool stored)
{
	int rc = stored ? dfs_name_check_stored(p, len) : dfs_name_check(p, len);

	if (rc < 0 || p[0] == '.')
		return -EBADMSG;
	return 0;
}

/* FIELD or DICT/KEY */
static int path_ok(const char *p, size_t len, bool stored)
{
	const char *slash = memchr(p, '/', len);

	if (!slash)
		return name_part_ok(p, len, stored);
	size_t head = (size_t)(slash - p);
	if (name_part_ok(p, head, stored) < 0)
		return -EBADMSG;
	return name_part_ok(slash + 1, len - head - 1, stored);
}

static int meta_key_ok(const char *p, size_t len, bool stored)
{
	if (len == 0 || len > 255 || memchr(p, '\0', len) || memchr(p, '/', len))
		return -EBADMSG;
	for (size_t i = 0; !stored && i < len; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return -EBADMSG;
	return 0;
}

/* The rules of the table in update.h, shared by encoder and decoder. */
static int check_fields(const struct dfs_update *u, bool stored)
{
	if (u->flags & ~(DFS_UPDATE_FLAG_SEALED | DFS_UPDATE_FLAG_BASE))
		return -EBADMSG;
	if ((u->flags & DFS_UPDATE_FLAG_BASE) && u->op != DFS_OP_FIELD_SET &&
	    u->op != DFS_OP_FIELD_DELETE)
		return -EBADMSG;
	if (name_part_ok(u->model, u->model_len, stored) < 0)
		return -EBADMSG;
	if (u->name_len > DFS_UPDATE_NAME_MAX || u->value_len > DFS_UPDATE_VALUE_MAX)
		return -EBADMSG;

	int empty_name = u->name_len == 0, empty_value = u->value_len == 0;
	switch (u->op) {
	case DFS_OP_MODEL_CREATE:
	case DFS_OP_MODEL_REMOVE:
	case DFS_OP_OBJECT_REMOVE:
		return empty_name && empty_value ? 0 : -EBADMSG;
	case DFS_OP_MODEL_META:
	case DFS_OP_OBJECT_META:
		return meta_key_ok(u->name, u->name_len, stored);
	case DFS_OP_OBJECT_CREATE:
		if (!empty_value || name_part_ok(u->name, u->name_len, stored) < 0)
			return -EBADMSG;
		return memcmp(u->entity.b, u->signer.b, DFS_PUBKEY_LEN) == 0 ? 0 : -EBADMSG;
	case DFS_OP_FIELD_SET:
	case DFS_OP_FIELD_APPEND:
		return path_ok(u->name, u->name_len, stored);
	case DFS_OP_FIELD_DELETE:
		return empty_value ? path_ok(u->name, u->name_len, stored) : -EBADMSG;
	case DFS_OP_FIELD_RESOLVE:
		if (u->value_len != DFS_HASH_LEN || memchr(u->name, '/', u->name_len))
			return -EBADMSG;
		return name_part_ok(u->name, u->name_len, stored);
	case DFS_OP_DICT_CREATE:
	case DFS_OP_DICT_DELETE:
		if (!empty_value)
			return -EBADMSG;
		return name_part_ok(u->name, u->name_len, stored);
	default:
		return -EBADMSG;
	}
}

int dfs_update_encode(const struct dfs_update *u, struct dfs_buf *out)
{
	if (check_fields(u, false) < 0)
		return -EINVAL;
	dfs_buf_reserve(out, DFS_UPDATE_MIN_LEN + DFS_HASH_LEN + u->model_len + u->name_len + u->value_len);
	dfs_buf_add_u8(out, DFS_UPDATE_VERSION);
	dfs_buf_add_u8(out, DFS_UPDATE_ALG_ED25519);
	dfs_buf_add_u8(out, u->op);
	dfs_buf_add_u8(out, u->flags);
	dfs_buf_add_u64be(out, u->clock);
	dfs_buf_add(out, u->entity.b, DFS_PUBKEY_LEN);
	dfs_buf_add(out, u->signer.b, DFS_PUBKEY_LEN);
	dfs_buf_add(out, u->prev.b, DFS_HASH_LEN);
	dfs_buf_add_u8(out, (uint8_t)u->model_len);
	dfs_buf_add(out, u->model, u->model_len);
	dfs_buf_add_u16be(out, (uint16_t)u->name_len);
	dfs_buf_add(out, u->name, u->name_len);
	dfs_buf_add_u32be(out, (uint32_t)u->value_len);
	dfs_buf_add(out, u->value, u->value_len);
	if (u->flags & DFS_UPDATE_FLAG_BASE)
		dfs_buf_add(out, u->base.b, DFS_HASH_LEN);
	dfs_buf_add(out, u->sig, DFS_SIG_LEN);
	return dfs_buf_ok(out);
}

static int decode(const uint8_t *p, size_t len, struct dfs_update *u, bool stored)
{
	struct dfs_reader r;
	uint8_t version, alg, mlen;
	uint16_t nlen;
	uint32_t vlen;
	const uint8_t *view;

	if (len > DFS_UPDATE_MAX_LEN)
		return -E2BIG;
	memset(u, 0, sizeof(*u));
	dfs_reader_init(&r, p, len);
	if (dfs_reader_get_u8(&r, &version) < 0 || dfs_reader_get_u8(&r, &alg) < 0)
		return -EBADMSG;
	if (version != DFS_UPDATE_VERSION || alg != DFS_UPDATE_ALG_ED25519)
		return -EPROTONOSUPPORT;
	if (dfs_reader_get_u8(&r, &u->op) < 0 || dfs_reader_get_u8(&r, &u->flags) < 0 ||
	    dfs_reader_get_u64be(&r, &u->clock) < 0 ||
	    dfs_reader_get_bytes(&r, u->entity.b, DFS_PUBKEY_LEN) < 0 ||
	    dfs_reader_get_bytes(&r, u->signer.b, DFS_PUBKEY_LEN) < 0 ||
	    dfs_reader_get_bytes(&r, u->prev.b, DFS_HASH_LEN) < 0)
		return -EBADMSG;
	if (dfs_reader_get_u8(&r, &mlen) < 0 || dfs_reader_get_view(&r, &view, mlen) < 0)
		return -EBADMSG;
	u->model = (const char *)view;
	u->model_len = mlen;
	if (dfs_reader_get_u16be(&r, &nlen) < 0 || nlen > DFS_UPDATE_NAME_MAX ||
	    dfs_reader_get_view(&r, &view, nlen) < 0)
		return -EBADMSG;
	u->name = (const char *)view;
	u->name_len = nlen;
	if (dfs_reader_get_u32be(&r, &vlen) < 0 || vlen > DFS_UPDATE_VALUE_MAX ||
	    dfs_reader_get_view(&r, &u->value, vlen) < 0)
		return -EBADMSG;
	u->value_len = vlen;
	if ((u->flags & DFS_UPDATE_FLAG_BASE) &&
	    dfs_reader_get_bytes(&r, u->base.b, DFS_HASH_LEN) < 0)
		return -EBADMSG;
	if (dfs_reader_get_bytes(&r, u->sig, DFS_SIG_LEN) < 0 || dfs_reader_left(&r) != 0)
		return -EBADMSG;
	return check_fields(u, stored);
}

int dfs_update_decode(const uint8_t *p, size_t len, struct dfs_update *u)
{
	return decode(p, len, u, false);
}

int dfs_update_decode_stored(const uint8_t *p, size_t len, struct dfs_update *u)
{
	return decode(p, len, u, true);
}

int dfs_update_entity(const uint8_t *p, size_t len, struct dfs_pubkey *entity)
{
	if (len < DFS_UPDATE_ENTITY_OFF + DFS_PUBKEY_LEN)
		return -EBADMSG;
	memcpy(entity->b, p + DFS_UPDATE_ENTITY_OFF, DFS_PUBKEY_LEN);
	return 0;
}

const char *dfs_op_name(int op)
{
	static const char *const names[] = {
		[DFS_OP_MODEL_CREATE] = "model-create", [DFS_OP_MODEL_REMOVE] = "model-remove",
		[DFS_OP_MODEL_META] = "model-meta",	[DFS_OP_OBJECT_CREATE] = "create",
		[DFS_OP_OBJECT_REMOVE] = "remove",	[DFS_OP_OBJECT_META] = "meta",
		[DFS_OP_FIELD_SET] = "set",		[DFS_OP_FIELD_APPEND] = "append",
		[DFS_OP_FIELD_DELETE] = "delete",	[DFS_OP_DICT_CREATE] = "dict-create",
		[DFS_OP_DICT_DELETE] = "dict-delete",	[DFS_OP_FIELD_RESOLVE] = "resolve",
	};
	if (op <= 0 || op >= (int)(sizeof(names) / sizeof(names[0])))
		return "unknown";
	return names[op];
}
