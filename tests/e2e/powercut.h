// SPDX-License-Identifier: MIT
/*
 * powercut.h - the journal that tests/e2e/powershim.c (an LD_PRELOAD shim in
 * the daemon) writes and tests/e2e/powercut.c (run after a kill -9) reads.
 *
 * The shim lets every write reach the file, so the process sees what it
 * wrote (also through mmap), and first appends to the journal what the write
 * replaces: the file's size before it and the bytes it overwrites. An fsync
 * or fdatasync of a file appends a SYNC: what came before it is on the
 * "disk". powercut takes back, newest first, every change of a file after
 * its last SYNC, which leaves each file as it was when last synced: the
 * unsynced data that a power cut would lose is gone.
 *
 * Only file contents are modelled. Creating, renaming and removing files
 * are taken as durable at once (as a journalling filesystem that commits
 * them with the next fsync of the file would mostly have them); a file
 * never synced is left empty.
 */
#ifndef POWERCUT_H
#define POWERCUT_H

#include <stdint.h>

#define PJ_MAGIC 0x504a5231u	/* "PJR1" */

enum pj_type {
	PJ_NEW = 1,	/* created: what its inode number had before is another file's */
	PJ_GONE,	/* its last name removed: forget it (its number may come again) */
	PJ_WRITE,	/* off, len: written; oldsize: size before; saved bytes at off */
	PJ_TRUNC,	/* off: the new size; oldsize: size before; saved bytes at off */
	PJ_SYNC,	/* fsync or fdatasync of the file */
	PJ_SYNCALL,	/* sync(2) or syncfs(2): every file */
};

/* One record; `saved` bytes of the file's old content follow it. */
struct pj_rec {
	uint32_t magic;
	uint32_t type;
	uint64_t dev, ino;
	uint64_t off, len, oldsize;
	uint64_t saved;
};

#endif
