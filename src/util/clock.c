// SPDX-License-Identifier: MIT
/* clock.c - milliseconds of the monotonic clock, for deadlines and intervals */
#include <time.h>

#include "dinemicfs/util.h"

uint64_t dfs_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
