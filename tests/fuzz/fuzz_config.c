// SPDX-License-Identifier: MIT
/* fuzz_config.c - the command line parser on NUL-separated argument lists */
#include <errno.h>
#include <string.h>

#include <fuse_log.h>

#include "dinemicfs/actions.h"
#include "dinemicfs/config.h"
#include "dinemicfs/repl.h"
#include "dinemicfs/db.h"
#include "dinemicfs/update.h"
#include "fuzz.h"

/* argv[0] plus at most this many arguments taken from the input. */
#define FUZZ_MAX_ARGS 32

/* libfuse reports bad options on stderr; at fuzzing speed that is only noise. */
static void quiet_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char prog[] = "dinemicfs";
	char *argv[FUZZ_MAX_ARGS + 2];
	char err[256] = "";
	struct dfs_config c;
	int argc = 0, rc;
	char *copy, *p, *end;

	fuse_set_log_func(quiet_log);
	copy = malloc(size + 1);
	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	copy[size] = '\0';

	/* "a\0b" is two arguments, "a\0" one and "\0" one empty one. */
	argv[argc++] = prog;
	for (p = copy, end = copy + size; p < end && argc <= FUZZ_MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;

	dfs_config_init(&c);
	rc = dfs_config_parse(&c, argc, argv, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (rc == -EINVAL)
		FUZZ_CHECK(err[0] != '\0');
	if (rc == 0) {
		FUZZ_CHECK(c.max_value >= 1 && c.max_value <= DFS_UPDATE_VALUE_MAX);
		FUZZ_CHECK(c.show_help || c.show_version || (c.state_dir && c.mountpoint));
		FUZZ_CHECK(c.fuse_args.argc >= 1 && c.fuse_args.argv);
		for (size_t i = 0; i < c.npeers; i++)
			FUZZ_CHECK(strncmp(c.peers[i], c.unencrypted_links ? "ws://" : "wss://",
					   c.unencrypted_links ? 5 : 6) == 0);
		FUZZ_CHECK(c.policy_open == 0 || c.policy_open == 1);
		FUZZ_CHECK(c.max_skew_ms <= DFS_MAX_SKEW_MAX_MS);
		FUZZ_CHECK(c.park_per_peer >= 1 && c.park_per_peer <= DFS_REPL_PARK_MAX);
		FUZZ_CHECK(c.link_queue >= DFS_REPL_LINK_QUEUE_MIN &&
			   c.link_queue <= DFS_REPL_LINK_QUEUE_MAX);
		FUZZ_CHECK(c.clock_wait >= DFS_REPL_CLOCK_WAIT_MIN &&
			   c.clock_wait <= DFS_REPL_CLOCK_WAIT_MAX);
		FUZZ_CHECK(c.listener_queue >= DFS_RUNNER_QUEUE_MIN &&
			   c.listener_queue <= DFS_RUNNER_QUEUE_MAX);
		/* The quotas of held updates: given, or their defaults. */
		FUZZ_CHECK(c.held_per_signer_str || c.held_per_signer == DFS_DB_HELD_PER_SIGNER);
		FUZZ_CHECK(c.held_max_str || c.held_max == DFS_DB_HELD_MAX);
		FUZZ_CHECK(!c.held_max_str || c.held_max_str[0] != '\0');
	}
	dfs_config_release(&c);
	free(copy);
	return 0;
}
