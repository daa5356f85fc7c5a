// SPDX-License-Identifier: MIT
/* fuzz_listener.c - the reason taken from a listener's stderr and exit status */
#include <string.h>
#include <sys/wait.h>

#include "dinemicfs/actions.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256];
	int status = 0;

	/* The first four bytes pick the wait status and the timeout flag. */
	if (size >= 4) {
		memcpy(&status, data, sizeof(status));
		data += 4;
		size -= 4;
	}
	bool timed_out = status & 0x10000000;
	dfs_listener_reason(why, sizeof(why), (const char *)data, size, status, timed_out, 5000);
	size_t n = strlen(why);
	FUZZ_CHECK(n < sizeof(why));
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)why[i] >= 0x20 && why[i] != 0x7f);
	return 0;
}
