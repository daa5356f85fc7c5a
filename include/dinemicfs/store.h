/* SPDX-License-Identifier: MIT */
/*
 * store.h - durable key-value store on LevelDB, with group commit.
 *
 * Writers build a struct dfs_batch (puts and deletes, applied atomically),
 * stage it, and wait for it. Staging makes the batch visible to
 * dfs_store_get() at once, in staging order, through an in-memory overlay;
 * waiting returns once it is in LevelDB and, under sync mode, on disk. One
 * writer at a time writes every batch staged so far as one LevelDB write
 * with one sync, so concurrent writers share the cost of the sync.
 *
 * Scans see staged batches too, as gets do; only a scan of what is written
 * (dfs_store_scan_written_from) leaves them out.
 *
 * Threading: every function may be called from any thread.
 */
#ifndef DINEMICFS_STORE_H
#define DINEMICFS_STORE_H

#include <stddef.h>
#include <stdint.h>

struct dfs_store;
struct dfs_batch;

/*
 * Values of 64 KiB or more under keys that begin with this byte (the
 * db's update records, records.h) are kept in files of their own beside
 * LevelDB, which holds a stub for each: such a value must never begin
 * with the byte 0xff, which marks a stub (an update record begins with its
 * version).
 */
#define DFS_STORE_BLOB_PREFIX 'U'

struct dfs_store_opts {
	int sync;		/* 1: fsync before a wait returns; 0: once in LevelDB's log */
	size_t cache_bytes;	/* LevelDB block cache */
	/*
	 * The write buffer (LevelDB's memtable) is written out to a table once
	 * it holds buffer_bytes, or bulk_buffer_bytes during a bulk load
	 * (dfs_store_bulk()), which thus costs fewer and larger compactions.
	 * 0 picks the defaults, 4 MiB and 64 MiB; bulk_ms (default 2000) is
	 * how long a bulk load lasts after the last call that announced it.
	 */
	size_t buffer_bytes, bulk_buffer_bytes;
	unsigned bulk_ms;
};

/**
 * Opens (creating when missing) the LevelDB store in dir. Returns NULL and
 * sets errno on failure, after logging LevelDB's message.
 */
struct dfs_store *dfs_store_open(const char *dir, const struct dfs_store_opts *opts);
/** Writes whatever is staged, then closes. Accepts NULL. */
void dfs_store_close(struct dfs_store *st);

/**
 * Says a bulk load is under way (a peer's catch-up): for the next bulk_ms,
 * the write buffer may grow to bulk_buffer_bytes before it is written out.
 */
void dfs_store_bulk(struct dfs_store *st);

struct dfs_store_stats {
	uint64_t buffered;	/* bytes written since the buffer was last written out */
	uint64_t buffer_flushes;	/* times this store wrote its buffer out early */
	uint64_t writes;	/* LevelDB writes: each writes every batch staged before it */
};
void dfs_store_get_stats(struct dfs_store *st, struct dfs_store_stats *out);

/**
 * Tells, without opening it, whether the store in dir is open, in this
 * process or another: LevelDB holds a lock on dir/LOCK while it is.
 * Returns 0 when it is not (or there is no store in dir), -EBUSY when it
 * is, or another -errno. Closing the probe drops the fcntl(2) locks this
 * process holds on that file; LevelDB still refuses to open it twice here.
 */
int dfs_store_in_use(const char *dir);

/**
 * Looks up key. On success *val is a malloc'ed copy (NUL-terminated past
 * *vlen) that the caller frees. Returns 0, -ENOENT or -EIO.
 */
int dfs_store_get(struct dfs_store *st, const void *key, size_t klen, uint8_t **val,
		  size_t *vlen);

/**
 * dfs_store_get() without LevelDB's block checksums: for what this node
 * only passes on to peers (records, which they check by hash and
 * signature), so that reading a big one for every link costs a copy, not
 * a checksum over it each time.
 */
int dfs_store_get_unchecked(struct dfs_store *st, const void *key, size_t klen, uint8_t **val,
			    size_t *vlen);

/**
 * Calls fn for every key that begins with prefix, staged or written, in key
 * order, until fn returns non-zero. The pointers are valid during the call only.
 * Returns 0, fn's negative return, or -EIO.
 */
int dfs_store_scan(struct dfs_store *st, const void *prefix, size_t plen,
		   int (*fn)(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
			     void *ctx),
		   void *ctx);

/** Like dfs_store_scan(), starting at the first key >= start. */
int dfs_store_scan_from(struct dfs_store *st, const void *prefix, size_t plen, const void *start,
			size_t slen,
			int (*fn)(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
				  void *ctx),
			void *ctx);

/**
 * Like dfs_store_scan_from(), of written batches only: what a wait has
 * returned for (for the log, which is sent only once it is written).
 */
int dfs_store_scan_written_from(struct dfs_store *st, const void *prefix, size_t plen,
				const void *start, size_t slen,
				int (*fn)(const uint8_t *key, size_t klen, const uint8_t *val,
					  size_t vlen, void *ctx),
				void *ctx);

/** Bytes on disk: the sizes of the files in the store's directory, its log included. */
uint64_t dfs_store_disk_bytes(struct dfs_store *st);

/** Returns a new empty batch, or NULL with errno set. */
struct dfs_batch *dfs_batch_new(void);
/** Adds a put; copies key and value. Returns 0 or -ENOMEM. */
int dfs_batch_put(struct dfs_batch *b, const void *key, size_t klen, const void *val,
		  size_t vlen);
/** Adds a delete; copies key. Returns 0 or -ENOMEM. */
int dfs_batch_del(struct dfs_batch *b, const void *key, size_t klen);
/** The bytes of the keys and values b holds. */
size_t dfs_batch_bytes(const struct dfs_batch *b);
/** Frees a batch that was never staged. Accepts NULL. */
void dfs_batch_free(struct dfs_batch *b);

/**
 * Stages b: visible to dfs_store_get() from now on. Takes b; the caller must
 * pass it to dfs_store_wait() exactly once.
 */
void dfs_store_stage(struct dfs_store *st, struct dfs_batch *b);
/**
 * Waits until b is written (durable in sync mode), then frees it. Returns 0
 * or -EIO; on -EIO the batch is no longer visible.
 */
int dfs_store_wait(struct dfs_store *st, struct dfs_batch *b);

/** Waits until everything staged so far is written. */
int dfs_store_flush(struct dfs_store *st);

/** Makes everything written so far durable (for fsync under relaxed sync). */
int dfs_store_sync(struct dfs_store *st);

/** Stages and waits: the common case. */
int dfs_store_commit(struct dfs_store *st, struct dfs_batch *b);

#endif
