// SPDX-License-Identifier: MIT
/* buf.c - bounds-checked byte writer and reader */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/util.h"

void dfs_buf_init(struct dfs_buf *b)
{
	memset(b, 0, sizeof(*b));
}

/* Frees data, of a secret buffer or not. */
static void data_free(struct dfs_buf *b)
{
	if (b->secret)
		dfs_secret_free(b->data);
	else
		free(b->data);
}

void dfs_buf_release(struct dfs_buf *b)
{
	data_free(b);
	dfs_buf_init(b);
}

void dfs_buf_reset(struct dfs_buf *b)
{
	if (b->secret && b->data)
		explicit_bzero(b->data, b->len);
	b->len = 0;
	b->failed = 0;
}

/* Moves b's contents into secret memory of cap bytes: 0 or -ENOMEM. */
static int secret_move(struct dfs_buf *b, size_t cap)
{
	uint8_t *p = dfs_secret_alloc(cap);

	if (!p)
		return -ENOMEM;
	if (b->len)
		memcpy(p, b->data, b->len);
	if (b->data && !b->secret)
		explicit_bzero(b->data, b->len);
	data_free(b);
	b->data = p;
	b->cap = cap;
	b->secret = true;
	return 0;
}

int dfs_buf_make_secret(struct dfs_buf *b)
{
	if (b->secret || b->failed)
		return dfs_buf_ok(b);
	if (b->data && secret_move(b, b->cap) < 0) {
		b->failed = 1;
		return -ENOMEM;
	}
	b->secret = true;
	return 0;
}

int dfs_buf_ok(const struct dfs_buf *b)
{
	return b->failed ? -ENOMEM : 0;
}

int dfs_buf_reserve(struct dfs_buf *b, size_t n)
{
	if (b->failed)
		return -ENOMEM;
	/* Keep one spare byte so dfs_buf_detach() can NUL-terminate. */
	if (n > SIZE_MAX / 2 - b->len - 1) {
		b->failed = 1;
		return -ENOMEM;
	}
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	if (b->secret) {
		if (secret_move(b, cap) < 0) {
			b->failed = 1;
			return -ENOMEM;
		}
		return 0;
	}
	uint8_t *p = realloc(b->data, cap);
	if (!p) {
		b->failed = 1;
		return -ENOMEM;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void dfs_buf_add(struct dfs_buf *b, const void *p, size_t n)
{
	if (dfs_buf_reserve(b, n) < 0)
		return;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

void dfs_buf_add_u8(struct dfs_buf *b, uint8_t v)
{
	dfs_buf_add(b, &v, 1);
}

void dfs_buf_add_u16be(struct dfs_buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	dfs_buf_add(b, x, 2);
}

void dfs_buf_add_u32be(struct dfs_buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	dfs_buf_add(b, x, 4);
}

void dfs_buf_add_u64be(struct dfs_buf *b, uint64_t v)
{
	dfs_buf_add_u32be(b, (uint32_t)(v >> 32));
	dfs_buf_add_u32be(b, (uint32_t)v);
}

void dfs_buf_printf(struct dfs_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		dfs_buf_add(b, small, (size_t)n);
		return;
	}
	if (dfs_buf_reserve(b, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

uint8_t *dfs_buf_detach(struct dfs_buf *b, size_t *len)
{
	uint8_t *p = b->failed ? NULL : b->data;

	if (b->failed)
		data_free(b);
	if (len)
		*len = b->failed ? 0 : b->len;
	if (p)
		p[b->len] = '\0';
	dfs_buf_init(b);
	return p;
}

void dfs_reader_init(struct dfs_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

size_t dfs_reader_left(const struct dfs_reader *r)
{
	return r->len - r->off;
}

int dfs_reader_get_view(struct dfs_reader *r, const uint8_t **out, size_t n)
{
	if (n > r->len - r->off)
		return -EBADMSG;
	*out = r->p + r->off;
	r->off += n;
	return 0;
}

int dfs_reader_get_bytes(struct dfs_reader *r, void *out, size_t n)
{
	const uint8_t *v;
	int rc = dfs_reader_get_view(r, &v, n);

	if (rc == 0 && n)
		memcpy(out, v, n);
	return rc;
}

int dfs_reader_get_u8(struct dfs_reader *r, uint8_t *v)
{
	return dfs_reader_get_bytes(r, v, 1);
}

int dfs_reader_get_u16be(struct dfs_reader *r, uint16_t *v)
{
	const uint8_t *x;
	int rc = dfs_reader_get_view(r, &x, 2);

	if (rc == 0)
		*v = (uint16_t)((x[0] << 8) | x[1]);
	return rc;
}

int dfs_reader_get_u32be(struct dfs_reader *r, uint32_t *v)
{
	const uint8_t *x;
	int rc = dfs_reader_get_view(r, &x, 4);

	if (rc == 0)
		*v = ((uint32_t)x[0] << 24) | ((uint32_t)x[1] << 16) | ((uint32_t)x[2] << 8) | x[3];
	return rc;
}

int dfs_reader_get_u64be(struct dfs_reader *r, uint64_t *v)
{
	uint32_t hi, lo;

	if (dfs_reader_left(r) < 8)
		return -EBADMSG;
	dfs_reader_get_u32be(r, &hi);
	dfs_reader_get_u32be(r, &lo);
	*v = ((uint64_t)hi << 32) | lo;
	return 0;
}
