// SPDX-License-Identifier: MIT
/* records.c - the store's key layout and state records (pure, bounds-checked) */
#include <errno.h>
#include <string.h>

#include "dinemicfs/records.h"

static void add_str8(struct dfs_buf *b, const char *s)
{
	size_t n = strlen(s);

	dfs_buf_add_u8(b, (uint8_t)n);
	dfs_buf_add(b, s, n);
}

/* A u8-length string into a 256-byte array: no NUL inside, never empty. */
static int get_str8(struct dfs_reader *r, char out[256])
{
	uint8_t n;
	const uint8_t *v;

	if (dfs_reader_get_u8(r, &n) < 0 || n == 0 || dfs_reader_get_view(r, &v, n) < 0)
		return -EBADMSG;
	if (memchr(v, '\0', n))
		return -EBADMSG;
	memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

static int get_bool(struct dfs_reader *r, bool *v)
{
	uint8_t b;

	if (dfs_reader_get_u8(r, &b) < 0 || b > 1)
		return -EBADMSG;
	*v = b;
	return 0;
}

static int get_version(struct dfs_reader *r)
{
	uint8_t v;

	if (dfs_reader_get_u8(r, &v) < 0 || v != DFS_REC_VERSION)
		return -EBADMSG;
	return 0;
}

int dfs_model_rec_encode(const struct dfs_model_rec *r, struct dfs_buf *out)
{
	dfs_buf_add_u8(out, DFS_MODEL_REC_VERSION);
	dfs_buf_add_u8(out, r->live);
	dfs_buf_add(out, r->head.b, DFS_HASH_LEN);
	dfs_buf_add_u64be(out, r->mtime);
	dfs_buf_add_u64be(out, r->clock);
	dfs_buf_add(out, r->signer.b, DFS_PUBKEY_LEN);
	dfs_buf_add_u64be(out, r->objects);
	return dfs_buf_ok(out);
}

int dfs_model_rec_decode(const uint8_t *p, size_t len, struct dfs_model_rec *r)
{
	struct dfs_reader rd;
	uint8_t v;

	dfs_reader_init(&rd, p, len);
	if (dfs_reader_get_u8(&rd, &v) < 0 || v != DFS_MODEL_REC_VERSION ||
	    get_bool(&rd, &r->live) < 0 || dfs_reader_get_bytes(&rd, r->head.b, DFS_HASH_LEN) < 0 ||
	    dfs_reader_get_u64be(&rd, &r->mtime) < 0 || dfs_reader_get_u64be(&rd, &r->clock) < 0 ||
	    dfs_reader_get_bytes(&rd, r->signer.b, DFS_PUBKEY_LEN) < 0 ||
	    dfs_reader_get_u64be(&rd, &r->objects) < 0 || dfs_reader_left(&rd))
		return -EBADMSG;
	return 0;
}

int dfs_model_rec_decode_v1(const uint8_t *p, size_t len, struct dfs_model_rec *r)
{
	struct dfs_reader rd;

	dfs_reader_init(&rd, p, len);
	if (get_version(&rd) < 0 || get_bool(&rd, &r->live) < 0 ||
	    dfs_reader_get_bytes(&rd, r->head.b, DFS_HASH_LEN) < 0 ||
	    dfs_reader_get_u64be(&rd, &r->mtime) < 0 || dfs_reader_get_u64be(&rd, &r->clock) < 0 ||
	    dfs_reader_get_bytes(&rd, r->signer.b, DFS_PUBKEY_LEN) < 0 || dfs_reader_left(&rd))
		return -EBADMSG;
	r->objects = 0;
	return 0;
}

int dfs_object_rec_encode(const struct dfs_object_rec *r, struct dfs_buf *out)
{
	dfs_buf_add_u8(out, DFS_REC_VERSION);
	dfs_buf_add_u8(out, r->alive);
	dfs_buf_add(out, r->head.b, DFS_HASH_LEN);
	dfs_buf_add_u64be(out, r->created);
	dfs_buf_add_u64be(out, r->mtime);
	add_str8(out, r->model);
	add_str8(out, r->name);
	add_str8(out, r->shown);
	return dfs_buf_ok(out);
}

int dfs_object_rec_decode(const uint8_t *p, size_t len, struct dfs_object_rec *r)
{
	struct dfs_reader rd;

	dfs_reader_init(&rd, p, len);
	if (get_version(&rd) < 0 || get_bool(&rd, &r->alive) < 0 ||
	    dfs_reader_get_bytes(&rd, r->head.b, DFS_HASH_LEN) < 0 ||
	    dfs_reader_get_u64be(&rd, &r->created) < 0 ||
	    dfs_reader_get_u64be(&rd, &r->mtime) < 0 || get_str8(&rd, r->model) < 0 ||
	    get_str8(&rd, r->name) < 0 || get_str8(&rd, r->shown) < 0 || dfs_reader_left(&rd))
		return -EBADMSG;
	return 0;
}

int dfs_field_rec_encode(const struct dfs_field_rec *r, struct dfs_buf *out)
{
	dfs_buf_add_u8(out, DFS_REC_VERSION);
	dfs_buf_add_u8(out, r->kind);
	dfs_buf_add_u8(out, r->alive);
	dfs_buf_add_u8(out, r->flags);
	dfs_buf_add_u64be(out, r->clock);
	dfs_buf_add(out, r->signer.b, DFS_PUBKEY_LEN);
	dfs_buf_add_u64be(out, r->base_clock);
	dfs_buf_add(out, r->base_signer.b, DFS_PUBKEY_LEN);
	dfs_buf_add_u64be(out, r->mtime);
	dfs_buf_add_u64be(out, r->size);
	return dfs_buf_ok(out);
}

int dfs_field_rec_decode(const uint8_t *p, size_t len, struct dfs_field_rec *r)
{
	struct dfs_reader rd;

	dfs_reader_init(&rd, p, len);
	if (get_version(&rd) < 0 || dfs_reader_get_u8(&rd, &r->kind) < 0 ||
	    (r->kind != DFS_FIELD_VALUE && r->kind != DFS_FIELD_DICT) ||
	    get_bool(&rd, &r->alive) < 0 || dfs_reader_get_u8(&rd, &r->flags) < 0 ||
	    dfs_reader_get_u64be(&rd, &r->clock) < 0 ||
	    dfs_reader_get_bytes(&rd, r->signer.b, DFS_PUBKEY_LEN) < 0 ||
	    dfs_reader_get_u64be(&rd, &r->base_clock) < 0 ||
	    dfs_reader_get_bytes(&rd, r->base_signer.b, DFS_PUBKEY_LEN) < 0 ||
	    dfs_reader_get_u64be(&rd, &r->mtime) < 0 || dfs_reader_get_u64be(&rd, &r->size) < 0 ||
	    dfs_reader_left(&rd))
		return -EBADMSG;
	return 0;
}

int dfs_item_next(const uint8_t *v, size_t len, size_t *off, struct dfs_item *it)
{
	struct dfs_reader rd;
	uint32_t n;

	if (*off >= len)
		return *off == len ? 0 : -EBADMSG;
	dfs_reader_init(&rd, v + *off, len - *off);
	if (dfs_reader_get_u8(&rd, &it->kind) < 0 || it->kind > DFS_ITEM_SEALED ||
	    dfs_reader_get_u32be(&rd, &n) < 0 || dfs_reader_get_view(&rd, &it->p, n) < 0)
		return -EBADMSG;
	it->len = n;
	*off += DFS_ITEM_HEADER_LEN + n;
	return 1;
}

int dfs_item_add(struct dfs_buf *out, uint8_t kind, const uint8_t *p, size_t len)
{
	if (len > UINT32_MAX)
		return -E2BIG;
	dfs_buf_add_u8(out, kind);
	dfs_buf_add_u32be(out, (uint32_t)len);
	dfs_buf_add(out, p, len);
	return dfs_buf_ok(out);
}

int dfs_meta_rec_encode(const struct dfs_meta_rec *r, struct dfs_buf *out)
{
	dfs_buf_add_u8(out, DFS_REC_VERSION);
	dfs_buf_add_u64be(out, r->clock);
	dfs_buf_add(out, r->signer.b, DFS_PUBKEY_LEN);
	dfs_buf_add(out, r->value, r->len);
	return dfs_buf_ok(out);
}

int dfs_meta_rec_decode(const uint8_t *p, size_t len, struct dfs_meta_rec *r)
{
	struct dfs_reader rd;

	dfs_reader_init(&rd, p, len);
	if (get_version(&rd) < 0 || dfs_reader_get_u64be(&rd, &r->clock) < 0 ||
	    dfs_reader_get_bytes(&rd, r->signer.b, DFS_PUBKEY_LEN) < 0)
		return -EBADMSG;
	r->len = dfs_reader_left(&rd);
	r->value = p + (len - r->len);
	return 0;
}

static bool held_code_ok(uint8_t code)
{
	return code >= DFS_HELD_RULE && code <= DFS_HELD_LIMIT;
}

static bool printable(uint8_t c)
{
	return c >= 0x20 && c != 0x7f;
}

int dfs_history_rec_encode(const struct dfs_history_rec *r, struct dfs_buf *out)
{
	dfs_buf_add(out, r->hash.b, DFS_HASH_LEN);
	if (!r->held)
		return dfs_buf_ok(out);
	if (!held_code_ok(r->held))
		return -EINVAL;
	dfs_buf_add_u8(out, r->held);
	for (size_t i = 0; i < r->text_len && i < DFS_HELD_TEXT_MAX; i++) {
		uint8_t c = (uint8_t)r->text[i];
		dfs_buf_add_u8(out, printable(c) ? c : '?');
	}
	return dfs_buf_ok(out);
}

int dfs_history_rec_decode(const uint8_t *p, size_t len, struct dfs_history_rec *r)
{
	if (len < DFS_HASH_LEN || len > DFS_HASH_LEN + 1 + DFS_HELD_TEXT_MAX)
		return -EBADMSG;
	memcpy(r->hash.b, p, DFS_HASH_LEN);
	r->held = 0;
	r->text = "";
	r->text_len = 0;
	if (len == DFS_HASH_LEN)
		return 0;
	if (!held_code_ok(p[DFS_HASH_LEN]))
		return -EBADMSG;
	for (size_t i = DFS_HASH_LEN + 1; i < len; i++)
		if (!printable(p[i]))
			return -EBADMSG;
	r->held = p[DFS_HASH_LEN];
	r->text = (const char *)p + DFS_HASH_LEN + 1;
	r->text_len = len - DFS_HASH_LEN - 1;
	return 0;
}

int dfs_state_rec_encode(const struct dfs_state_rec *r, struct dfs_buf *out)
{
	dfs_buf_add_u8(out, DFS_REC_VERSION);
	dfs_buf_add_u64be(out, r->seq);
	dfs_buf_add_u64be(out, r->clock);
	return dfs_buf_ok(out);
}

int dfs_state_rec_decode(const uint8_t *p, size_t len, struct dfs_state_rec *r)
{
	struct dfs_reader rd;

	dfs_reader_init(&rd, p, len);
	if (get_version(&rd) < 0 || dfs_reader_get_u64be(&rd, &r->seq) < 0 ||
	    dfs_reader_get_u64be(&rd, &r->clock) < 0 || dfs_reader_left(&rd))
		return -EBADMSG;
	return 0;
}

int dfs_held_rec_encode(const struct dfs_held_rec *r, struct dfs_buf *out)
{
	dfs_buf_add_u8(out, DFS_REC_VERSION);
	dfs_buf_add(out, r->signer.b, DFS_PUBKEY_LEN);
	dfs_buf_add(out, r->entity.b, DFS_PUBKEY_LEN);
	dfs_buf_add(out, r->hash.b, DFS_HASH_LEN);
	dfs_buf_add_u64be(out, r->bytes);
	return dfs_buf_ok(out);
}

int dfs_held_rec_decode(const uint8_t *p, size_t len, struct dfs_held_rec *r)
{
	struct dfs_reader rd;

	dfs_reader_init(&rd, p, len);
	if (get_version(&rd) < 0 || dfs_reader_get_bytes(&rd, r->signer.b, DFS_PUBKEY_LEN) < 0 ||
	    dfs_reader_get_bytes(&rd, r->entity.b, DFS_PUBKEY_LEN) < 0 ||
	    dfs_reader_get_bytes(&rd, r->hash.b, DFS_HASH_LEN) < 0 ||
	    dfs_reader_get_u64be(&rd, &r->bytes) < 0 || dfs_reader_left(&rd))
		return -EBADMSG;
	return 0;
}

int dfs_held_sum_encode(const struct dfs_held_sum *r, struct dfs_buf *out)
{
	dfs_buf_add_u8(out, DFS_REC_VERSION);
	dfs_buf_add_u64be(out, r->bytes);
	dfs_buf_add_u64be(out, r->count);
	return dfs_buf_ok(out);
}

int dfs_held_sum_decode(const uint8_t *p, size_t len, struct dfs_held_sum *r)
{
	struct dfs_reader rd;

	dfs_reader_init(&rd, p, len);
	if (get_version(&rd) < 0 || dfs_reader_get_u64be(&rd, &r->bytes) < 0 ||
	    dfs_reader_get_u64be(&rd, &r->count) < 0 || dfs_reader_left(&rd))
		return -EBADMSG;
	return 0;
}

int dfs_version_rec_encode(uint32_t version, struct dfs_buf *out)
{
	dfs_buf_add_u8(out, DFS_REC_VERSION);
	dfs_buf_add_u32be(out, version);
	return dfs_buf_ok(out);
}

int dfs_version_rec_decode(const uint8_t *p, size_t len, uint32_t *version)
{
	struct dfs_reader rd;

	dfs_reader_init(&rd, p, len);
	if (get_version(&rd) < 0 || dfs_reader_get_u32be(&rd, version) < 0 || dfs_reader_left(&rd))
		return -EBADMSG;
	return 0;
}

void dfs_key_update(struct dfs_buf *out, const struct dfs_hash *h)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'U');
	dfs_buf_add(out, h->b, DFS_HASH_LEN);
}

void dfs_key_history(struct dfs_buf *out, const struct dfs_pubkey *entity, uint64_t seq)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'H');
	dfs_buf_add(out, entity->b, DFS_PUBKEY_LEN);
	dfs_buf_add_u64be(out, seq);
}

void dfs_key_log(struct dfs_buf *out, uint64_t seq)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'L');
	dfs_buf_add_u64be(out, seq);
}

void dfs_key_model(struct dfs_buf *out, const char *model)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'M');
	dfs_buf_add(out, model, strlen(model));
}

void dfs_key_name(struct dfs_buf *out, const char *model, const char *object)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'N');
	dfs_buf_add(out, model, strlen(model));
	dfs_buf_add_u8(out, 0);
	dfs_buf_add(out, object, strlen(object));
}

void dfs_key_object(struct dfs_buf *out, const struct dfs_pubkey *entity)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'E');
	dfs_buf_add(out, entity->b, DFS_PUBKEY_LEN);
}

void dfs_key_field(struct dfs_buf *out, const struct dfs_pubkey *entity, const char *path,
		   size_t plen)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'F');
	dfs_buf_add(out, entity->b, DFS_PUBKEY_LEN);
	dfs_buf_add(out, path, plen);
}

void dfs_key_value(struct dfs_buf *out, const struct dfs_pubkey *entity, const char *path,
		   size_t plen)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'V');
	dfs_buf_add(out, entity->b, DFS_PUBKEY_LEN);
	dfs_buf_add(out, path, plen);
}

void dfs_key_meta(struct dfs_buf *out, const struct dfs_pubkey *entity, const char *key)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'X');
	dfs_buf_add(out, entity->b, DFS_PUBKEY_LEN);
	dfs_buf_add(out, key, strlen(key));
}

void dfs_key_meta_by(struct dfs_buf *out, const struct dfs_pubkey *entity, const char *key,
		     const struct dfs_pubkey *signer)
{
	dfs_key_meta(out, entity, key);
	dfs_buf_add(out, signer->b, DFS_PUBKEY_LEN);
}

void dfs_key_contender(struct dfs_buf *out, const char *model, const char *name,
		       uint64_t created, const struct dfs_pubkey *entity)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'C');
	dfs_buf_add(out, model, strlen(model) + 1);
	dfs_buf_add(out, name, strlen(name) + 1);
	if (entity) {
		dfs_buf_add_u64be(out, created);
		dfs_buf_add(out, entity->b, DFS_PUBKEY_LEN);
	}
}

void dfs_key_rejected(struct dfs_buf *out, const struct dfs_hash *h)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'R');
	dfs_buf_add(out, h->b, DFS_HASH_LEN);
}

void dfs_key_dropped(struct dfs_buf *out, const struct dfs_hash *h)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'D');
	dfs_buf_add(out, h->b, DFS_HASH_LEN);
}

void dfs_key_cursor(struct dfs_buf *out, const struct dfs_pubkey *node)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'P');
	dfs_buf_add(out, node->b, DFS_PUBKEY_LEN);
}

void dfs_key_log_id(struct dfs_buf *out)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'I');
	dfs_buf_add(out, "log", 3);
}

void dfs_key_held(struct dfs_buf *out, uint64_t seq)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'Q');
	dfs_buf_add_u64be(out, seq);
}

void dfs_key_held_by(struct dfs_buf *out, const struct dfs_pubkey *signer, uint64_t seq)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'W');
	dfs_buf_add(out, signer->b, DFS_PUBKEY_LEN);
	dfs_buf_add_u64be(out, seq);
}

void dfs_key_held_sum(struct dfs_buf *out, const struct dfs_pubkey *signer)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'K');
	dfs_buf_add(out, signer->b, DFS_PUBKEY_LEN);
}

void dfs_key_held_total(struct dfs_buf *out)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'S');
	dfs_buf_add(out, "held", 4);
}

void dfs_key_state(struct dfs_buf *out)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'S');
	dfs_buf_add(out, "state", 5);
}

void dfs_key_version(struct dfs_buf *out)
{
	dfs_buf_reset(out);
	dfs_buf_add_u8(out, 'S');
	dfs_buf_add(out, "version", 7);
}

void dfs_key_models_prefix(uint8_t out[DFS_KEY_TAG_LEN])
{
	out[0] = 'M';
}

void dfs_key_log_prefix(uint8_t out[DFS_KEY_TAG_LEN])
{
	out[0] = 'L';
}

void dfs_key_history_prefix(uint8_t out[DFS_KEY_ENTITY_LEN], const struct dfs_pubkey *entity)
{
	out[0] = 'H';
	memcpy(out + 1, entity->b, DFS_PUBKEY_LEN);
}

void dfs_key_fields_prefix(uint8_t out[DFS_KEY_ENTITY_LEN], const struct dfs_pubkey *entity)
{
	out[0] = 'F';
	memcpy(out + 1, entity->b, DFS_PUBKEY_LEN);
}

void dfs_key_held_prefix(uint8_t out[DFS_KEY_TAG_LEN])
{
	out[0] = 'Q';
}

void dfs_key_held_by_prefix(uint8_t out[DFS_KEY_ENTITY_LEN], const struct dfs_pubkey *signer)
{
	out[0] = 'W';
	memcpy(out + 1, signer->b, DFS_PUBKEY_LEN);
}

void dfs_key_field_to_value(uint8_t *key)
{
	key[0] = 'V';
}
