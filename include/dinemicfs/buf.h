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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dfs_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int failed;
	bool secret;	/* data is secret memory (util.h): wiped, never in plain heap */
};

/** Sets an empty buffer; no allocation until the first append. */
void dfs_buf_init(struct dfs_buf *b);
/**
 * Keeps b's contents, now and as it grows, in secret memory (util.h,
 * dfs_secret_alloc()), moving what it holds there; released, reset or
 * detached, they are wiped (a detached one is freed with dfs_value_free()).
 * Returns 0, or -ENOMEM (b is then failed).
 */
int dfs_buf_make_secret(struct dfs_buf *b);
/** Frees the contents and leaves an empty buffer. */
void dfs_buf_release(struct dfs_buf *b);
/** Empties the buffer but keeps its memory (a secret one wiped). */
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
 * Hands the contents to the caller (malloc'ed, or secret memory for a
 * secret buffer: free either with dfs_value_free(); NUL-terminated past
 * len, or NULL when empty) and leaves the buffer empty, not secret.
 * Returns NULL on failure too; check dfs_buf_ok() first.
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
