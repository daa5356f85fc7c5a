/* SPDX-License-Identifier: MIT */
/*
 * config.h - the command line and -o options, parsed with one fuse_opt table.
 *
 * dfs_config_parse() consumes our own options and leaves the rest (FUSE's
 * mount options such as allow_other or ro) in `fuse_args` for the session.
 */
#ifndef DINEMICFS_CONFIG_H
#define DINEMICFS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <fuse_lowlevel.h>

#define DFS_DEFAULT_MAX_VALUE (1u << 20)
#define DFS_DEFAULT_MAX_SKEW_MS 60000		/* -o max_skew */
#define DFS_MAX_SKEW_MAX_MS (24ull * 3600 * 1000)	/* its largest value */

struct dfs_config {
	char *state_dir;		/* malloc'ed */
	char *mountpoint;		/* malloc'ed */
	int foreground;
	int debug;
	int read_only;
	int show_help;
	int show_version;
	size_t max_value;
	int sync_strict;		/* 1: strict (fsync), 0: relaxed */
	int log_level;
	int action_timeout_ms;		/* a listener running longer is killed */
	uint64_t max_skew_ms;		/* peers' clocks ahead of ours: later ones wait */
	size_t park_per_peer;		/* bytes of updates waiting for a predecessor, per peer */
	size_t link_queue;		/* bytes a link queues before it is no longer read */
	size_t listener_queue;		/* bytes of values after-listener jobs may hold */
	size_t clock_wait;		/* bytes of updates stamped ahead kept waiting */
	uint64_t held_per_signer;	/* bytes of held updates one signer may have kept here */
	uint64_t held_max;		/* and all of them */
	char *max_value_str;		/* raw option strings, malloc'ed by fuse_opt */
	char *sync_str;
	char *log_level_str;
	char *action_timeout_str;
	char *max_skew_str;
	char *park_per_peer_str;
	char *link_queue_str;
	char *listener_queue_str;
	char *clock_wait_str;
	char *held_per_signer_str;
	char *held_max_str;
	int policy_open;		/* 1: listeners judge unauthorized updates */
	char *listen;			/* HOST:PORT, malloc'ed */
	char **peers;			/* wss://HOST:PORT[#NODEID], each malloc'ed */
	size_t npeers;
	char *network_key_file;
	char *trust_file;		/* node ids admitted, one a line */
	int unencrypted_links;		/* 1: ws:// links, no TLS (closed test networks) */
	char *policy_str;
	char *as;			/* MODEL/OBJECT to sign as, malloc'ed */
	char *extra_arg;		/* a third positional, reported as an error */
	struct fuse_args fuse_args;	/* what is left for libfuse */
};

/** Sets the defaults. */
void dfs_config_init(struct dfs_config *c);
/** Frees everything the config owns. */
void dfs_config_release(struct dfs_config *c);

/**
 * Parses argv. Returns 0, or -EINVAL after writing one line saying what is
 * wrong into err (errlen bytes). Checks values too (dfs_config_check).
 */
int dfs_config_parse(struct dfs_config *c, int argc, char **argv, char *err, size_t errlen);

/** Checks the parsed values; same contract as dfs_config_parse(). */
int dfs_config_check(struct dfs_config *c, char *err, size_t errlen);

/** Parses a size such as 1048576, 512K, 4M or 1G; returns 0 or -EINVAL. */
int dfs_parse_size(const char *s, size_t *out);

/**
 * Parses a duration: milliseconds (250, 250ms) or a number with an s, m or
 * h suffix (2s, 1m). Returns 0 or -EINVAL.
 */
int dfs_parse_duration_ms(const char *s, uint64_t *out);

/** Prints usage and every -o option to stdout. */
void dfs_config_usage(const char *prog);

#endif
