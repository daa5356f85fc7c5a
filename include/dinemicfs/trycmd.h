/* SPDX-License-Identifier: MIT */
/*
 * trycmd.h - `dinemicfs try`: asks a running node's before-listeners about
 * a change without making it (a dry run), through MOUNT/.node/try:
 *
 *   dinemicfs try [-n] PATH [VALUE]          as echo VALUE > PATH (stdin without VALUE)
 *   dinemicfs try --append [-n] PATH [VALUE] as echo VALUE >> PATH
 *   dinemicfs try --rm PATH                  as rm PATH
 *   dinemicfs try --mkdir PATH               as mkdir MODEL/OBJECT
 *   dinemicfs try --rmdir PATH               as rmdir MODEL/OBJECT
 *
 * It prints one line per listener the change would ask, in order, then the
 * verdict:
 *
 *   accept  on_update               on_update.00-log
 *   reject  on_update               Person/on_update.10-salary: salary over budget
 *   skip    on_owned_update         on_owned_update.50-notify (not run: the change stops at a rejection)
 *   rejected by Person/on_update.10-salary: salary over budget
 *
 * It needs no state directory and no key: the node finds the mount from
 * PATH and does the rest (fs/try.c).
 */
#ifndef DINEMICFS_TRYCMD_H
#define DINEMICFS_TRYCMD_H

#include <stddef.h>
#include <stdio.h>

/**
 * Runs `dinemicfs try ...`; argv[0] is "try". Prints the answers to
 * stdout and one-line messages ("dinemicfs: ...") to stderr; `try --help`
 * prints the usage to stdout. Returns the exit status: 0 the change would
 * be accepted, 1 a listener or a rule of the node would refuse it, 2 a
 * usage error, or the node could not be asked.
 */
int dfs_trycmd_main(int argc, char **argv);

/**
 * Writes the answer of .node/try (len bytes; see fs/try.c) to out as the
 * lines above. Returns the exit status it means: 0 accepted, 1 rejected
 * or refused, 2 an answer without a verdict. Borrows everything.
 */
int dfs_trycmd_render(FILE *out, const char *answer, size_t len);

#endif
