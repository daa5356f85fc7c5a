/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - the libFuzzer entry point every target defines, and its one check.
 *
 * A target must not keep state between calls, must free everything it
 * allocates, and reports a broken invariant with abort() so that libFuzzer,
 * the sanitizers and the standalone corpus replay all see a crash.
 */
#ifndef DINEMICFS_FUZZ_H
#define DINEMICFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/** Runs one input; data is borrowed for the call. Always returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/** Aborts with a message naming the failed invariant. */
#define FUZZ_CHECK(cond)                                                                  \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                   \
			abort();                                                          \
		}                                                                         \
	} while (0)

#endif
