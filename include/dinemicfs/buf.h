/* SPDX-License-Identifier: MIT */
/*
 * buf.h - bounds-checked byte writer and reader, big-endian integers.
 *
 * Invariants of struct dfs_buf: data is NULL or malloc'ed with cap bytes, and
 * len <= cap. A failed append (out of memory) sets `failed` and leaves the
 * contents as they were; later appends are ignored, so a caller checks once
 * at the end with dfs_buf_ok().
 *
 * struct dfs_reader never reads past `len`: every getter returns -EBADMSG on
 * short input and leaves the position unchanged. It does not own `p`.
 */
#ifndef DINEMICFS_BUF_H
#define DINEMICFS_BUF_H

#include <stddef.h>
#include <stdint.h>

struct dfs_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int failed;
};

/** Sets an empty buffer; no allocation until the first append. */
void dfs_buf_init(struct dfs_buf *b);
/** Frees the contents and leaves an empty buffer. */
void dfs_buf_release(struct dfs_buf *b);
/** Empties the buffer but keeps its memory. */
void dfs_buf_reset(struct dfs_buf *b);
/** Returns 0, or -ENOMEM when an append has failed since init/reset. */
int dfs_buf_ok(const struct dfs_buf *b);
/** Makes room for n more bytes; returns 0 or -ENOMEM. */
int dfs_buf_reserve(struct dfs_buf *b, size_t n);

void dfs_buf_add(struct dfs_buf *b, const void *p, size_t n);
void dfs_buf_add_u8(struct dfs_buf *b, uint8_t v);
void dfs_buf_add_u16be(struct dfs_buf *b, uint16_t v);
void dfs_buf_add_u32be(struct dfs_buf *b, uint32_t v);
void dfs_buf_add_u64be(struct dfs_buf *b, uint64_t v);
/** Appends formatted text (no NUL). */
void dfs_buf_printf(struct dfs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Hands the contents to the caller (malloc'ed, NUL-terminated past len, or
 * NULL when empty) and leaves the buffer empty. Returns NULL on failure too;
 * check dfs_buf_ok() first.
 */
uint8_t *dfs_buf_detach(struct dfs_buf *b, size_t *len);

struct dfs_reader {
	const uint8_t *p;
	size_t len;
	size_t off;
};

void dfs_reader_init(struct dfs_reader *r, const void *p, size_t len);
size_t dfs_reader_left(const struct dfs_reader *r);
int dfs_reader_get_u8(struct dfs_reader *r, uint8_t *v);
int dfs_reader_get_u16be(struct dfs_reader *r, uint16_t *v);
int dfs_reader_get_u32be(struct dfs_reader *r, uint32_t *v);
int dfs_reader_get_u64be(struct dfs_reader *r, uint64_t *v);
/** Copies n bytes into out. */
int dfs_reader_get_bytes(struct dfs_reader *r, void *out, size_t n);
/** Points *out at the next n bytes inside the reader's input (no copy). */
int dfs_reader_get_view(struct dfs_reader *r, const uint8_t **out, size_t n);

#endif
