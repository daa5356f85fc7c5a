// SPDX-License-Identifier: MIT
/* test_buf.c - unit tests for the bounds-checked byte writer and reader (util/buf.c) */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "dinemicfs/buf.h"

Test(buf, init_is_empty)
{
	struct dfs_buf b;

	memset(&b, 0xa5, sizeof(b));
	dfs_buf_init(&b);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, 0);
	cr_assert_eq(dfs_buf_ok(&b), 0);
	dfs_buf_release(&b);
	dfs_buf_release(&b);
}

Test(buf, integers_are_big_endian)
{
	static const uint8_t want[] = {
		0x7f,
		0x12, 0x34,
		0xde, 0xad, 0xbe, 0xef,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	};
	struct dfs_buf b;

	dfs_buf_init(&b);
	dfs_buf_add_u8(&b, 0x7f);
	dfs_buf_add_u16be(&b, 0x1234);
	dfs_buf_add_u32be(&b, 0xdeadbeef);
	dfs_buf_add_u64be(&b, 0x0102030405060708ull);
	cr_assert_eq(dfs_buf_ok(&b), 0);
	cr_assert_eq(b.len, sizeof(want));
	cr_assert_arr_eq(b.data, want, sizeof(want));
	cr_assert_gt(b.cap, b.len, "one spare byte for the NUL of detach");
	dfs_buf_release(&b);
}

Test(buf, writer_reader_round_trip)
{
	struct dfs_buf b;
	struct dfs_reader r;
	uint8_t u8, bytes[5];
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	const uint8_t *view;

	dfs_buf_init(&b);
	dfs_buf_add_u8(&b, 0xff);
	dfs_buf_add_u16be(&b, 0xfffe);
	dfs_buf_add_u32be(&b, 0x80000001u);
	dfs_buf_add_u64be(&b, UINT64_MAX - 1);
	dfs_buf_add(&b, "hello", 5);
	dfs_buf_add(&b, "view", 4);
	cr_assert_eq(dfs_buf_ok(&b), 0);

	dfs_reader_init(&r, b.data, b.len);
	cr_assert_eq(dfs_reader_left(&r), b.len);
	cr_assert_eq(dfs_reader_get_u8(&r, &u8), 0);
	cr_assert_eq(u8, 0xff);
	cr_assert_eq(dfs_reader_get_u16be(&r, &u16), 0);
	cr_assert_eq(u16, 0xfffe);
	cr_assert_eq(dfs_reader_get_u32be(&r, &u32), 0);
	cr_assert_eq(u32, 0x80000001u);
	cr_assert_eq(dfs_reader_get_u64be(&r, &u64), 0);
	cr_assert_eq(u64, UINT64_MAX - 1);
	cr_assert_eq(dfs_reader_get_bytes(&r, bytes, 5), 0);
	cr_assert_arr_eq(bytes, "hello", 5);
	cr_assert_eq(dfs_reader_get_view(&r, &view, 4), 0);
	cr_assert_eq(view, b.data + b.len - 4, "a view points into the input");
	cr_assert_eq(dfs_reader_left(&r), 0);
	cr_assert_eq(dfs_reader_get_view(&r, &view, 0), 0, "zero bytes are always there");
	cr_assert_eq(dfs_reader_get_u8(&r, &u8), -EBADMSG);
	dfs_buf_release(&b);
}

Test(buf, grows_and_keeps_contents)
{
	struct dfs_buf b;

	dfs_buf_init(&b);
	for (unsigned i = 0; i < 100000; i++)
		dfs_buf_add_u8(&b, (uint8_t)(i * 7));
	cr_assert_eq(dfs_buf_ok(&b), 0);
	cr_assert_eq(b.len, 100000);
	cr_assert_gt(b.cap, b.len);
	for (unsigned i = 0; i < 100000; i++)
		cr_assert_eq(b.data[i], (uint8_t)(i * 7), "byte %u", i);
	dfs_buf_release(&b);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
}

Test(buf, add_zero_bytes)
{
	struct dfs_buf b;

	dfs_buf_init(&b);
	dfs_buf_add(&b, NULL, 0);
	cr_assert_eq(dfs_buf_ok(&b), 0);
	cr_assert_eq(b.len, 0);
	dfs_buf_release(&b);
}

Test(buf, printf_short_and_long)
{
	struct dfs_buf b;
	char big[1000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	dfs_buf_init(&b);
	dfs_buf_printf(&b, "%s=%d;", "answer", 42);
	dfs_buf_printf(&b, "[%s]", big);
	cr_assert_eq(dfs_buf_ok(&b), 0);
	cr_assert_eq(b.len, strlen("answer=42;") + 2 + strlen(big));
	cr_assert_arr_eq(b.data, "answer=42;[", 11);
	cr_assert_arr_eq(b.data + 11, big, strlen(big));
	cr_assert_eq(b.data[b.len - 1], ']');
	dfs_buf_release(&b);
}

Test(buf, reset_keeps_memory)
{
	struct dfs_buf b;

	dfs_buf_init(&b);
	dfs_buf_add(&b, "0123456789", 10);
	uint8_t *data = b.data;
	size_t cap = b.cap;
	dfs_buf_reset(&b);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.data, data);
	cr_assert_eq(b.cap, cap);
	dfs_buf_add(&b, "ab", 2);
	cr_assert_eq(b.len, 2);
	cr_assert_arr_eq(b.data, "ab", 2);
	dfs_buf_release(&b);
}

Test(buf, detach_hands_over_nul_terminated)
{
	struct dfs_buf b;
	size_t len = 99;

	dfs_buf_init(&b);
	dfs_buf_add(&b, "text", 4);
	uint8_t *p = dfs_buf_detach(&b, &len);
	cr_assert_not_null(p);
	cr_assert_eq(len, 4);
	cr_assert_str_eq((char *)p, "text");
	cr_assert_null(b.data, "the buffer is empty after a detach");
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, 0);
	free(p);
}

Test(buf, detach_of_empty_is_null)
{
	struct dfs_buf b;
	size_t len = 99;

	dfs_buf_init(&b);
	cr_assert_null(dfs_buf_detach(&b, &len));
	cr_assert_eq(len, 0);
	cr_assert_null(dfs_buf_detach(&b, NULL));
}

Test(buf, failed_reserve_sticks_until_reset)
{
	struct dfs_buf b;
	size_t len = 99;

	dfs_buf_init(&b);
	dfs_buf_add(&b, "keep", 4);
	cr_assert_eq(dfs_buf_reserve(&b, SIZE_MAX), -ENOMEM);
	cr_assert_eq(dfs_buf_ok(&b), -ENOMEM);
	cr_assert_eq(b.len, 4, "a failed append leaves the contents");
	cr_assert_arr_eq(b.data, "keep", 4);
	dfs_buf_add(&b, "more", 4);
	cr_assert_eq(b.len, 4, "appends after a failure are ignored");
	cr_assert_eq(dfs_buf_reserve(&b, 1), -ENOMEM);

	dfs_buf_reset(&b);
	cr_assert_eq(dfs_buf_ok(&b), 0);
	dfs_buf_add(&b, "new", 3);
	cr_assert_eq(dfs_buf_ok(&b), 0);
	cr_assert_arr_eq(b.data, "new", 3);

	cr_assert_eq(dfs_buf_reserve(&b, SIZE_MAX / 2), -ENOMEM);
	cr_assert_null(dfs_buf_detach(&b, &len), "detach of a failed buffer");
	cr_assert_eq(len, 0);
	cr_assert_null(b.data);
	cr_assert_eq(dfs_buf_ok(&b), 0, "detach leaves a fresh buffer");
}

Test(buf, huge_add_fails_cleanly)
{
	struct dfs_buf b;
	static const uint8_t one = 1;

	dfs_buf_init(&b);
	dfs_buf_add_u8(&b, 9);
	/* The length is checked before any byte is read from p. */
	dfs_buf_add(&b, &one, SIZE_MAX - 8);
	cr_assert_eq(dfs_buf_ok(&b), -ENOMEM);
	cr_assert_eq(b.len, 1);
	dfs_buf_release(&b);
}

/* Every getter on input one byte too short fails and does not move. */
Test(reader, short_input_leaves_position)
{
	static const uint8_t in[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct dfs_reader r;
	uint8_t u8, out[8];
	uint16_t u16 = 0x5555;
	uint32_t u32 = 0x55555555;
	uint64_t u64 = 0x5555555555555555ull;
	const uint8_t *view = NULL;

	dfs_reader_init(&r, in, 0);
	cr_assert_eq(dfs_reader_get_u8(&r, &u8), -EBADMSG);
	cr_assert_eq(r.off, 0);

	dfs_reader_init(&r, in, 1);
	cr_assert_eq(dfs_reader_get_u16be(&r, &u16), -EBADMSG);
	cr_assert_eq(u16, 0x5555);
	cr_assert_eq(r.off, 0);

	dfs_reader_init(&r, in, 3);
	cr_assert_eq(dfs_reader_get_u32be(&r, &u32), -EBADMSG);
	cr_assert_eq(u32, 0x55555555);
	cr_assert_eq(r.off, 0);

	dfs_reader_init(&r, in, 7);
	cr_assert_eq(dfs_reader_get_u64be(&r, &u64), -EBADMSG);
	cr_assert_eq(u64, 0x5555555555555555ull);
	cr_assert_eq(r.off, 0);
	cr_assert_eq(dfs_reader_get_bytes(&r, out, 8), -EBADMSG);
	cr_assert_eq(dfs_reader_get_view(&r, &view, 8), -EBADMSG);
	cr_assert_null(view);
	cr_assert_eq(r.off, 0);
	cr_assert_eq(dfs_reader_left(&r), 7);

	/* After a partial read, the remainder is what counts. */
	cr_assert_eq(dfs_reader_get_u32be(&r, &u32), 0);
	cr_assert_eq(u32, 0x01020304);
	cr_assert_eq(dfs_reader_get_u32be(&r, &u32), -EBADMSG);
	cr_assert_eq(r.off, 4);
	cr_assert_eq(dfs_reader_get_view(&r, &view, SIZE_MAX), -EBADMSG);
	cr_assert_eq(r.off, 4);
	cr_assert_eq(dfs_reader_left(&r), 3);
}

Test(reader, exact_reads_drain_input)
{
	static const uint8_t in[] = { 0xab, 0xcd };
	struct dfs_reader r;
	uint16_t v;

	dfs_reader_init(&r, in, sizeof(in));
	cr_assert_eq(dfs_reader_get_u16be(&r, &v), 0);
	cr_assert_eq(v, 0xabcd);
	cr_assert_eq(dfs_reader_left(&r), 0);
}
