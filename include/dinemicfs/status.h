/* SPDX-License-Identifier: MIT */
/*
 * status.h - `dinemicfs status MOUNTPOINT`: a one-shot summary of a running
 * node for people, read from MOUNTPOINT/.node/id, .node/stats and
 * .node/peers (the files scripts read; see meta.c for the stats keys):
 *
 *   node     061de3e2d41f1472539a5f902ff3ce2637d65770ac231f75dbb1ab9a808715ea
 *   pid      25387
 *   uptime   2h 03m 12s
 *   updates  1204 stored, 1190 applied (900 local, 290 remote), 3 rejected, 0 dropped
 *   store    1.2 MiB
 *   traffic  1200 updates sent, 300 received; 2.0 MiB out, 300 KiB in
 *   errors   none
 *   peers    1 of 2 links up, 2 peers configured
 *
 *   PEER                  STATE  NODE              LAST CONTACT  LAG        ERROR
 *   ws://127.0.0.1:29999  down   -                 never         5 to send  Unable to connect
 *   ws://127.0.0.1:29911  up     fadf6134ca3e2fe3  4 s ago       in sync    -
 *
 * The traffic line is left out until something was sent; a node without
 * listen= or peer= shows "peers    none (...)" and no table.
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

/** A whole (small) file as a malloc'ed, NUL-terminated string; NULL with errno set. */
char *dfs_status_read_file(const char *path);

/**
 * Runs `dinemicfs wait MOUNTPOINT [--timeout SECONDS]`; argv[0] is "wait".
 * Reads the node's log head (.node/stats, log_head) once, then .node/peers
 * until every link up has acknowledged it (acked), or the timeout. Returns
 * the exit status: 0 acknowledged (or no link up: nothing to wait for), 1
 * timed out (the lagging links are printed) or MOUNTPOINT cannot be read,
 * 2 usage error.
 */
int dfs_wait_main(int argc, char **argv);

#endif
