/* SPDX-License-Identifier: MIT */
/*
 * status.h - `dinemicfs status MOUNTPOINT`: a one-shot summary of a running
 * node for people, read from MOUNTPOINT/.node/id, .node/stats and
 * .node/peers (the files scripts read; see meta.c for the stats keys):
 *
 *   node     8a7e097d5f8f42ad...  (the whole id)
 *   uptime   2h 03m 12s
 *   updates  1204 stored, 1190 applied (900 local, 290 remote), 3 rejected, 0 dropped
 *   store    1.2 MiB
 *   peers    1 of 1 configured up, 2 links up
 *   errors   none
 *
 *   PEER                 STATE  NODE              LAST CONTACT  LAG      ERROR
 *   ws://127.0.0.1:7401  up     5ff6f1d6a1b2c3d4  3 s ago       in sync  -
 *
 * It needs no state directory and no key: it reads the mount only.
 */
#ifndef DINEMICFS_STATUS_H
#define DINEMICFS_STATUS_H

#include <stdio.h>

/**
 * Runs `dinemicfs status ...`; argv[0] is "status". Prints the table to
 * stdout and one-line messages ("dinemicfs: ...") to stderr; `status
 * --help` prints the usage to stdout. Returns the exit status: 0 printed,
 * 1 MOUNTPOINT is not a dinemicfs mount or cannot be read, 2 usage error.
 */
int dfs_status_main(int argc, char **argv);

/**
 * Writes the table to out from the contents of .node/id, .node/stats and
 * .node/peers (NUL-terminated; peers may be NULL). Borrows everything.
 * Keys missing from stats show as "?", lines of peers it cannot read are
 * shown as they are. Returns 0, or -EINVAL when id is not a node id.
 */
int dfs_status_render(FILE *out, const char *id, const char *stats, const char *peers);

#endif
