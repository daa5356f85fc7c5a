// SPDX-License-Identifier: MIT
/* main.c - parse the command line, daemonize, run the node */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "dinemicfs/config.h"
#include "dinemicfs/keycmd.h"
#include "dinemicfs/log.h"
#include "dinemicfs/node.h"
#include "dinemicfs/status.h"
#include "dinemicfs/trycmd.h"

/*
 * Forks before any thread exists. The parent waits for the child's
 * "mounted" byte and exits 0, or with the child's status if it failed, so
 * that `dinemicfs` and `mount` report start-up errors.
 */
static int daemonize(int *ready_fd)
{
	int fds[2];

	if (pipe(fds) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(fds[0]);
		*ready_fd = fds[1];
		return 0;
	}
	close(fds[1]);
	char ok;
	ssize_t n;
	do
		n = read(fds[0], &ok, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1 && ok == 0)
		_exit(0);
	int wstatus = 0;
	waitpid(pid, &wstatus, 0);
	_exit(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) ? WEXITSTATUS(wstatus) : 1);
}

/*
 * The commands that mount nothing: `key` manages keys; `status` reads a
 * running node's .node/ files; `try` asks its listeners about a change (a
 * dry run); `wait` waits for the peers to acknowledge its log.
 */
static int (*subcommand(const char *name))(int, char **)
{
	static const struct {
		const char *name;
		int (*main)(int, char **);
	} cmds[] = {
		{"key", dfs_keycmd_main},
		{"status", dfs_status_main},
		{"try", dfs_trycmd_main},
		{"wait", dfs_wait_main},
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(name, cmds[i].name) == 0)
			return cmds[i].main;
	return NULL;
}

int main(int argc, char **argv)
{
	struct dfs_config cfg;
	char err[512];
	int ready_fd = -1;
	int status;

	int (*cmd)(int, char **) = argc >= 2 ? subcommand(argv[1]) : NULL;
	if (cmd)
		return cmd(argc - 1, argv + 1);
	dfs_config_init(&cfg);
	if (dfs_config_parse(&cfg, argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "dinemicfs: %s\n", err);
		dfs_config_release(&cfg);
		return 2;
	}
	if (cfg.show_help) {
		dfs_config_usage(argv[0]);
		dfs_config_release(&cfg);
		return 0;
	}
	if (cfg.show_version) {
		printf("dinemicfs %s\n", DFS_VERSION);
		printf("libfuse %s\n", fuse_pkgversion());
		dfs_config_release(&cfg);
		return 0;
	}
	/*
	 * Update records and values of up to 16 MiB pass through every thread:
	 * past 256 KiB each is mapped and given back when freed, instead of
	 * staying in the arena of the thread that freed it (glibc would raise
	 * this threshold as large blocks come and go).
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	dfs_log_set_level(cfg.log_level);
	dfs_log_bridge_fuse();
	if (!cfg.foreground) {
		if (daemonize(&ready_fd) < 0) {
			fprintf(stderr, "dinemicfs: cannot daemonize: %s\n", strerror(errno));
			dfs_config_release(&cfg);
			return 1;
		}
		/*
		 * The daemon logs to syslog (libfuse's messages too, through the
		 * bridge); until it is mounted and detached, its warnings and
		 * errors also reach the terminal that started it.
		 */
		dfs_log_use_syslog(DFS_LOG_WARNING);
	}
	status = dfs_node_run(&cfg, ready_fd);
	dfs_config_release(&cfg);
	return status;
}
