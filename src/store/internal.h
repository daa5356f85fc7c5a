/* SPDX-License-Identifier: MIT */
/*
 * internal.h - a batch's parts, shared by batch.c (building batches) and
 * store.c (staging and writing them), and by nothing outside src/store/.
 */
#ifndef DFS_STORE_INTERNAL_H
#define DFS_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct op {
	uint8_t *key;		/* in the batch's chunks */
	size_t klen;
	uint8_t *val;		/* likewise; NULL for a delete */
	size_t vlen;
	bool del;
	/* Once staged: the overlay's chain, newest first, under the store lock. */
	struct op *pending_next;
	uint64_t seq;
};

/* Where a batch keeps its keys and values: a few allocations, not two per op. */
struct chunk {
	struct chunk *next;
	size_t used, cap;
	uint8_t data[];
};

#define CHUNK_MIN 1024

struct dfs_batch {
	struct op *ops;
	size_t n, cap;
	struct chunk *chunks;	/* the newest first */
	size_t bytes;		/* of keys and values: dfs_batch_bytes() */
	uint64_t seq;		/* set when staged */
	bool done;		/* protected by store lock */
	int result;		/* protected by store lock */
	struct dfs_batch *next;	/* queue link, protected by store lock */
};

/** The bytes of the regular files in directory path (dir.c); 0 when it cannot be read. */
uint64_t dfs_store_dir_bytes(const char *path);

/** A key's hash, a word at a time: for the overlay's buckets and dfs_batch_rewritten(). */
uint64_t dfs_batch_key_hash(const uint8_t *key, size_t klen);
/**
 * Marks, in ops[0..n), each op whose key a later op writes again: only the
 * last one need reach LevelDB. False when there is no memory to find out.
 */
bool dfs_batch_rewritten(const struct op **ops, size_t n, bool *rewritten);
/** Whether an op of the group after b->ops[i] (in b, then the batches after it) puts op's key. */
bool dfs_batch_put_later(const struct dfs_batch *b, size_t i, const struct op *op);

/*
 * Big values (blob.c): under a key of DFS_STORE_BLOB_PREFIX (store.h), a
 * value of BLOB_MIN bytes or more lives in a file of its own, and LevelDB
 * holds a stub of BLOB_STUB_LEN bytes that begins with BLOB_TAG.
 */
#define DFS_BLOBS_DIR "blobs"	/* in the store's directory */
#define BLOB_MIN (64u * 1024)
#define BLOB_TAG 0xff
#define BLOB_STUB_LEN 12
#define BLOB_KEY_MAX 64		/* longer keys keep their values in LevelDB */

struct blobs {
	int fd;			/* the blobs directory */
	bool sync;		/* files synced before their stubs are written */
};

/** Makes (if missing) and opens dir/blobs. 0 or -errno. */
int dfs_blobs_open(struct blobs *bl, const char *dir, bool sync);
void dfs_blobs_close(struct blobs *bl);
/** Whether a value under key may live in a file (then it does from BLOB_MIN bytes). */
bool dfs_blobs_covers(const void *key, size_t klen);
bool dfs_blobs_is_stub(const void *val, size_t vlen);
/** Writes val to key's file (synced under sync mode) and fills stub. 0 or -errno, logged. */
int dfs_blobs_put(struct blobs *bl, const void *key, size_t klen, const void *val, size_t vlen,
	      uint8_t stub[BLOB_STUB_LEN]);
/** Makes the directory's new names durable: after dfs_blobs_put(), before the stubs' write. */
int dfs_blobs_sync_dir(struct blobs *bl);
/**
 * Reads the file stub names: a malloc'ed copy, NUL-terminated past *vlen.
 * -ENOENT when there is no file, -EIO when it is not the stub's length.
 */
int dfs_blobs_read(struct blobs *bl, const void *key, size_t klen, const uint8_t *stub,
	       uint8_t **val, size_t *vlen);
/** Removes key's file, if any: after the write that deleted the key. */
void dfs_blobs_remove(struct blobs *bl, const void *key, size_t klen);
/** Removes every file whose key named() says holds no stub, and files half written. */
int dfs_blobs_sweep(struct blobs *bl, bool (*named)(const void *key, size_t klen, void *ctx),
		void *ctx);

#endif
