/* SPDX-License-Identifier: MIT */
/*
 * keycmd.h - `dinemicfs key`: export, import and list the private keys a
 * state directory holds, so ownership of an object can move between nodes
 * and a dead node's identity can be given to its replacement.
 *
 *   dinemicfs key export STATE_DIR WHAT FILE
 *   dinemicfs key import [--node] STATE_DIR FILE
 *   dinemicfs key list STATE_DIR
 *
 * WHAT is `node`, an object's public key in hex, or an object's directory
 * (or its .id file) in a mounted dinemicfs. Key bytes are moved by the
 * keyring (keyring.h); this module handles names, locks and messages only.
 */
#ifndef DINEMICFS_KEYCMD_H
#define DINEMICFS_KEYCMD_H

/**
 * Runs `dinemicfs key ...`; argv[0] is "key". Prints results to stdout and
 * one-line messages ("dinemicfs: ...") to stderr; `key --help` prints the
 * usage to stdout, `key` alone to stderr. Returns the exit status: 0 done
 * (also when an imported key was already held), 1 failed, 2 usage error.
 * Silences the log sink below errors: its messages are said here instead.
 */
int dfs_keycmd_main(int argc, char **argv);

#endif
