/* SPDX-License-Identifier: MIT */
/*
 * node.h - one running node: owns the state directory lock, keyring, store,
 * database, filesystem and FUSE session, and their start and stop order.
 */
#ifndef DINEMICFS_NODE_H
#define DINEMICFS_NODE_H

#include "dinemicfs/config.h"

/**
 * Runs a node until it is unmounted or signalled. When ready_fd >= 0, one
 * byte (0) is written to it once the mount is up, and it is closed; this is
 * how a daemonizing parent learns that start-up succeeded. Returns the
 * process exit status: 0, 1 (runtime failure) or 2 (bad options).
 */
int dfs_node_run(struct dfs_config *cfg, int ready_fd);

#endif
