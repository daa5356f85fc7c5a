// SPDX-License-Identifier: MIT
/* store.c - durable key-value store on LevelDB with group commit; the only user of leveldb/c.h */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <leveldb/c.h>

#include "dinemicfs/log.h"
#include "dinemicfs/store.h"
#include "dinemicfs/util.h"

#include "internal.h"

#define OVERLAY_BUCKETS 1024

#define BUFFER_DEFAULT (4u << 20)
#define BULK_BUFFER_DEFAULT (64u << 20)
#define BULK_MS_DEFAULT 2000
/* LevelDB's bookkeeping per entry of its write buffer, roughly. */
#define ENTRY_OVERHEAD 32

struct dfs_store {
	char *dir;
	leveldb_t *db;
	leveldb_options_t *options;
	leveldb_cache_t *cache;
	leveldb_filterpolicy_t *filter;
	leveldb_readoptions_t *ropts;
	leveldb_readoptions_t *ropts_unchecked;	/* block checksums not verified */
	leveldb_writeoptions_t *wopts;
	struct blobs blobs;		/* big values, in files (blob.c) */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Everything below is protected by lock. */
	uint64_t staged_seq;
	atomic_size_t npending;		/* ops in the overlay; read without the lock */
	bool writing;			/* a writer is inside leveldb_write() */
	struct dfs_batch *queue, **queue_tail;
	struct op *overlay[OVERLAY_BUCKETS];	/* staged ops not yet written, by key */

	/* The write buffer: see flush_main(). Under lock but bulk_until. */
	size_t buffer_bytes, bulk_buffer_bytes;
	unsigned bulk_ms;
	_Atomic uint64_t bulk_until;	/* monotonic ms */
	uint64_t buffered, flushes, writes;
	bool closing, flusher_started;
	pthread_cond_t flush_cond;
	pthread_t flusher;
};

static bool stub_named(const void *key, size_t klen, void *arg);

static size_t bucket_of(const uint8_t *key, size_t klen)
{
	return (size_t)(dfs_batch_key_hash(key, klen) % OVERLAY_BUCKETS);
}

/* LevelDB reports failures as malloc'ed strings; turn one into -EIO. */
static int leveldb_failed(char *err, const char *what)
{
	dfs_log(DFS_LOG_ERR, "store: %s: %s", what, err);
	leveldb_free(err);
	return -EIO;
}

static bool in_bulk(struct dfs_store *st)
{
	return dfs_monotonic_ms() < atomic_load(&st->bulk_until);
}

/* Makes LevelDB write its buffer out to a table now, and waits for it. */
static void flush_buffer(struct dfs_store *st)
{
	/*
	 * A manual compaction writes the buffer out first. Its range is past
	 * every key the store holds (no key begins with 0xff), so that is all
	 * it does.
	 */
	static const char past_all[8] = "\xff\xff\xff\xff\xff\xff\xff\xff";
	leveldb_compact_range(st->db, past_all, sizeof(past_all), past_all, sizeof(past_all));
}

/*
 * LevelDB writes its buffer out when it reaches one fixed size. This thread
 * keeps it at buffer_bytes, except during a bulk load, when LevelDB's own
 * limit (bulk_buffer_bytes) applies: fewer, larger tables, so much less
 * rewriting by compactions, for a bounded amount of memory.
 */
static void *flush_main(void *arg)
{
	struct dfs_store *st = arg;

	pthread_setname_np(pthread_self(), "dfs-flush");
	pthread_mutex_lock(&st->lock);
	while (!st->closing) {
		if (st->buffered < st->buffer_bytes || in_bulk(st)) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&st->flush_cond, &st->lock, &ts);
			continue;
		}
		/* What comes in meanwhile may be in the next buffer: it still counts. */
		uint64_t had = st->buffered;
		pthread_mutex_unlock(&st->lock);
		flush_buffer(st);
		/* The memory of a large buffer goes back to the system. */
		if (had >= 2 * (uint64_t)st->buffer_bytes)
			malloc_trim(0);
		pthread_mutex_lock(&st->lock);
		st->buffered -= had < st->buffered ? had : st->buffered;
		st->flushes++;
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

void dfs_store_bulk(struct dfs_store *st)
{
	atomic_store(&st->bulk_until, dfs_monotonic_ms() + st->bulk_ms);
}

void dfs_store_get_stats(struct dfs_store *st, struct dfs_store_stats *out)
{
	pthread_mutex_lock(&st->lock);
	out->buffered = st->buffered;
	out->buffer_flushes = st->flushes;
	out->writes = st->writes;
	pthread_mutex_unlock(&st->lock);
}

/* LevelDB's options, and the write buffer's limits. */
static void set_options(struct dfs_store *st, const struct dfs_store_opts *opts)
{
	st->options = leveldb_options_create();
	st->cache = leveldb_cache_create_lru(opts->cache_bytes ? opts->cache_bytes : 8 << 20);
	st->filter = leveldb_filterpolicy_create_bloom(10);
	leveldb_options_set_create_if_missing(st->options, 1);
	leveldb_options_set_cache(st->options, st->cache);
	leveldb_options_set_filter_policy(st->options, st->filter);
	/* Each open table file is memory-mapped: few open files keep the resident size down. */
	leveldb_options_set_max_open_files(st->options, 80);
	st->buffer_bytes = opts->buffer_bytes ? opts->buffer_bytes : BUFFER_DEFAULT;
	st->bulk_buffer_bytes = opts->bulk_buffer_bytes ? opts->bulk_buffer_bytes
							: BULK_BUFFER_DEFAULT;
	if (st->bulk_buffer_bytes < st->buffer_bytes)
		st->bulk_buffer_bytes = st->buffer_bytes;
	st->bulk_ms = opts->bulk_ms ? opts->bulk_ms : BULK_MS_DEFAULT;
	/* LevelDB's own limit is the bulk one; below it, the flusher decides. */
	leveldb_options_set_write_buffer_size(st->options, st->bulk_buffer_bytes);
	st->ropts = leveldb_readoptions_create();
	leveldb_readoptions_set_verify_checksums(st->ropts, 1);
	st->ropts_unchecked = leveldb_readoptions_create();
	leveldb_readoptions_set_verify_checksums(st->ropts_unchecked, 0);
	st->wopts = leveldb_writeoptions_create();
	leveldb_writeoptions_set_sync(st->wopts, opts->sync ? 1 : 0);
}

/* The big values' files: their directory, and those no stub names removed. */
static int open_blobs(struct dfs_store *st, const char *dir, bool sync)
{
	int rc = dfs_blobs_open(&st->blobs, dir, sync);

	if (rc == 0)
		rc = dfs_blobs_sweep(&st->blobs, stub_named, st);
	if (rc < 0)
		dfs_log(DFS_LOG_ERR, "store: %s/blobs: %s", dir, strerror(-rc));
	return rc;
}

struct dfs_store *dfs_store_open(const char *dir, const struct dfs_store_opts *opts)
{
	struct dfs_store *st = calloc(1, sizeof(*st));
	char *err = NULL;

	if (!st)
		return NULL;
	set_options(st, opts);
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	pthread_cond_init(&st->flush_cond, NULL);
	st->queue_tail = &st->queue;
	st->blobs.fd = -1;

	st->dir = strdup(dir);
	st->db = st->dir ? leveldb_open(st->options, dir, &err) : NULL;
	if (!st->dir) {
		dfs_store_close(st);
		errno = ENOMEM;
		return NULL;
	}
	if (err) {
		const char *lockmsg = strstr(err, "lock");
		leveldb_failed(err, "open");
		dfs_store_close(st);
		errno = lockmsg ? EBUSY : EIO;
		return NULL;
	}
	int rc = open_blobs(st, dir, opts->sync != 0);
	if (rc < 0) {
		dfs_store_close(st);
		errno = -rc;
		return NULL;
	}
	if (pthread_create(&st->flusher, NULL, flush_main, st) != 0) {
		dfs_store_close(st);
		errno = EAGAIN;
		return NULL;
	}
	st->flusher_started = true;
	return st;
}

static void write_queued(struct dfs_store *st);

void dfs_store_close(struct dfs_store *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	st->closing = true;
	pthread_cond_signal(&st->flush_cond);
	pthread_mutex_unlock(&st->lock);
	if (st->flusher_started)
		pthread_join(st->flusher, NULL);
	pthread_mutex_lock(&st->lock);
	while (st->writing)
		pthread_cond_wait(&st->cond, &st->lock);
	if (st->queue) {
		st->writing = true;
		write_queued(st);
	}
	pthread_mutex_unlock(&st->lock);
	if (st->db)
		leveldb_close(st->db);
	dfs_blobs_close(&st->blobs);
	leveldb_writeoptions_destroy(st->wopts);
	leveldb_readoptions_destroy(st->ropts);
	if (st->ropts_unchecked)
		leveldb_readoptions_destroy(st->ropts_unchecked);
	leveldb_options_destroy(st->options);
	leveldb_filterpolicy_destroy(st->filter);
	leveldb_cache_destroy(st->cache);
	pthread_cond_destroy(&st->cond);
	pthread_cond_destroy(&st->flush_cond);
	pthread_mutex_destroy(&st->lock);
	free(st->dir);
	free(st);
}

static uint8_t *copy0(const void *p, size_t n)
{
	uint8_t *c = malloc(n + 1);

	if (!c)
		return NULL;
	if (n)
		memcpy(c, p, n);
	c[n] = '\0';
	return c;
}

/*
 * The value of key, whose stub LevelDB holds: read from its file. A file
 * gone with its key (deleted since the stub was read) is -ENOENT; gone
 * while the stub stays, or cut short, the store is damaged: -EIO, logged.
 */
static int blob_of(struct dfs_store *st, const leveldb_readoptions_t *ro, const void *key,
		   size_t klen, const uint8_t *stub, uint8_t **val, size_t *vlen)
{
	int rc = dfs_blobs_read(&st->blobs, key, klen, stub, val, vlen);

	if (rc == -ENOENT) {
		char *err = NULL;
		size_t n = 0;
		char *again = leveldb_get(st->db, ro, key, klen, &n, &err);
		bool gone = !err && !again;
		leveldb_free(again);
		leveldb_free(err);
		if (gone)
			return -ENOENT;
		rc = -EIO;
	}
	if (rc == -EIO)
		dfs_log(DFS_LOG_ERR, "store: the file of a big value is missing or cut short "
			"(key of %zu bytes beginning %02x)", klen, *(const uint8_t *)key);
	return rc;
}

/* For dfs_blobs_sweep(): whether LevelDB holds a stub under key. */
static bool stub_named(const void *key, size_t klen, void *arg)
{
	struct dfs_store *st = arg;
	char *err = NULL;
	size_t n = 0;
	char *v = leveldb_get(st->db, st->ropts, key, klen, &n, &err);
	bool named = err ? true : v && dfs_blobs_is_stub(v, n);	/* in doubt, kept */

	leveldb_free(v);
	leveldb_free(err);
	return named;
}

static int get(struct dfs_store *st, const leveldb_readoptions_t *ro, const void *key, size_t klen,
	       uint8_t **val, size_t *vlen)
{
	char *err = NULL;
	size_t n = 0;

	/* Nothing staged (the common case for readers): no lock needed. */
	if (atomic_load(&st->npending) == 0)
		goto from_db;
	pthread_mutex_lock(&st->lock);
	for (struct op *p = st->overlay[bucket_of(key, klen)]; p; p = p->pending_next) {
		if (p->klen != klen || memcmp(p->key, key, klen) != 0)
			continue;
		int rc = 0;
		if (p->del) {
			rc = -ENOENT;
		} else {
			*val = copy0(p->val, p->vlen);
			*vlen = p->vlen;
			rc = *val ? 0 : -ENOMEM;
		}
		pthread_mutex_unlock(&st->lock);
		return rc;
	}
	pthread_mutex_unlock(&st->lock);
from_db:;
	char *v = leveldb_get(st->db, ro, key, klen, &n, &err);
	if (err)
		return leveldb_failed(err, "get");
	if (!v)
		return -ENOENT;
	if (dfs_blobs_covers(key, klen) && dfs_blobs_is_stub(v, n)) {
		int rc = blob_of(st, ro, key, klen, (const uint8_t *)v, val, vlen);
		leveldb_free(v);
		return rc;
	}
	/*
	 * LevelDB's C API hands out malloc'ed copies (leveldb_free() is
	 * free()): grown by the NUL in place, a value is not copied again.
	 */
	uint8_t *c = realloc(v, n + 1);
	if (!c) {
		leveldb_free(v);
		return -ENOMEM;
	}
	c[n] = '\0';
	*val = c;
	*vlen = n;
	return 0;
}

int dfs_store_get(struct dfs_store *st, const void *key, size_t klen, uint8_t **val,
		  size_t *vlen)
{
	return get(st, st->ropts, key, klen, val, vlen);
}

int dfs_store_get_unchecked(struct dfs_store *st, const void *key, size_t klen, uint8_t **val,
			    size_t *vlen)
{
	return get(st, st->ropts_unchecked, key, klen, val, vlen);
}

/* LevelDB's order: bytes unsigned, a key before the longer keys it begins. */
static int key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

static bool in_range(const void *key, size_t klen, const void *prefix, size_t plen,
		     const void *start, size_t slen)
{
	return klen >= plen && memcmp(key, prefix, plen) == 0 &&
	       key_cmp(key, klen, start, slen) >= 0;
}

/* By key, and for one key the newest stage first. */
static int op_cmp(const void *pa, const void *pb)
{
	const struct op *a = pa, *b = pb;
	int c = key_cmp(a->key, a->klen, b->key, b->klen);

	return c ? c : (a->seq < b->seq) - (a->seq > b->seq);
}

/*
 * Copies into s the overlay's ops in range, each key's newest only, in key
 * order: once the store lock is let go, the overlay's may be freed. Under
 * st->lock.
 */
static int staged_collect(struct dfs_store *st, const void *prefix, size_t plen,
			  const void *start, size_t slen, struct dfs_batch *s)
{
	for (size_t h = 0; h < OVERLAY_BUCKETS; h++) {
		for (const struct op *p = st->overlay[h]; p; p = p->pending_next) {
			if (!in_range(p->key, p->klen, prefix, plen, start, slen))
				continue;
			int rc = p->del ? dfs_batch_del(s, p->key, p->klen)
					: dfs_batch_put(s, p->key, p->klen, p->val, p->vlen);
			if (rc < 0)
				return rc;
			s->ops[s->n - 1].seq = p->seq;
		}
	}
	if (s->n < 2)
		return 0;
	qsort(s->ops, s->n, sizeof(*s->ops), op_cmp);
	size_t m = 1;
	for (size_t i = 1; i < s->n; i++)
		if (key_cmp(s->ops[i].key, s->ops[i].klen, s->ops[m - 1].key,
			    s->ops[m - 1].klen) != 0)
			s->ops[m++] = s->ops[i];
	s->n = m;
	return 0;
}

static bool iter_in(leveldb_iterator_t *it, const void *prefix, size_t plen)
{
	size_t klen;

	if (!leveldb_iter_valid(it))
		return false;
	const char *k = leveldb_iter_key(it, &klen);
	return klen >= plen && memcmp(k, prefix, plen) == 0;
}

/* LevelDB's keys and the staged ones (none if s is NULL), in key order: a staged op shadows. */
/* fn on the value of key read from its file; a file deleted since the scan began is passed over. */
static int call_with_blob(struct dfs_store *st, const char *key, size_t klen, const uint8_t *stub,
			  int (*fn)(const uint8_t *key, size_t klen, const uint8_t *val,
				    size_t vlen, void *ctx),
			  void *ctx)
{
	uint8_t *val;
	size_t vlen;
	int rc = blob_of(st, st->ropts, key, klen, stub, &val, &vlen);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	rc = fn((const uint8_t *)key, klen, val, vlen, ctx);
	free(val);
	return rc;
}

static int merge(struct dfs_store *st, leveldb_iterator_t *it, const struct dfs_batch *s,
		 const void *prefix, size_t plen,
		 int (*fn)(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
			   void *ctx),
		 void *ctx)
{
	size_t i = 0, n = s ? s->n : 0;
	int rc = 0;
	bool in = iter_in(it, prefix, plen);

	while (rc == 0 && (in || i < n)) {
		size_t klen = 0, vlen = 0;
		const char *k = in ? leveldb_iter_key(it, &klen) : NULL;
		int c = !in ? 1 : i == n ? -1 : key_cmp(k, klen, s->ops[i].key, s->ops[i].klen);
		if (c < 0) {
			const char *v = leveldb_iter_value(it, &vlen);
			rc = dfs_blobs_covers(k, klen) && dfs_blobs_is_stub(v, vlen)
				     ? call_with_blob(st, k, klen, (const uint8_t *)v, fn, ctx)
				     : fn((const uint8_t *)k, klen, (const uint8_t *)v, vlen, ctx);
		} else {
			const struct op *o = &s->ops[i++];
			if (!o->del)
				rc = fn(o->key, o->klen, o->val, o->vlen, ctx);
		}
		if (c <= 0) {
			leveldb_iter_next(it);
			in = iter_in(it, prefix, plen);
		}
	}
	return rc;
}

/*
 * The staged ops are copied and the iterator made under the store lock, so
 * that the two show one moment: a batch being written is in both, and the
 * overlay's copy (the same, or newer) wins.
 */
static int scan(struct dfs_store *st, bool staged, const void *prefix, size_t plen,
		const void *start, size_t slen,
		int (*fn)(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
			  void *ctx),
		void *ctx)
{
	struct dfs_batch *s = NULL;
	leveldb_iterator_t *it;
	char *err = NULL;
	int rc = 0;

	if (staged && atomic_load(&st->npending) > 0) {
		s = dfs_batch_new();
		pthread_mutex_lock(&st->lock);
		rc = s ? staged_collect(st, prefix, plen, start, slen, s) : -ENOMEM;
		it = leveldb_create_iterator(st->db, st->ropts);
		pthread_mutex_unlock(&st->lock);
	} else {
		it = leveldb_create_iterator(st->db, st->ropts);
	}
	if (rc == 0) {
		leveldb_iter_seek(it, start, slen);
		rc = merge(st, it, s, prefix, plen, fn, ctx);
	}
	dfs_batch_free(s);
	leveldb_iter_get_error(it, &err);
	leveldb_iter_destroy(it);
	if (err)
		return leveldb_failed(err, "scan");
	return rc < 0 ? rc : 0;
}

int dfs_store_scan(struct dfs_store *st, const void *prefix, size_t plen,
		   int (*fn)(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
			     void *ctx),
		   void *ctx)
{
	return scan(st, true, prefix, plen, prefix, plen, fn, ctx);
}

int dfs_store_scan_from(struct dfs_store *st, const void *prefix, size_t plen, const void *start,
			size_t slen,
			int (*fn)(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
				  void *ctx),
			void *ctx)
{
	return scan(st, true, prefix, plen, start, slen, fn, ctx);
}

int dfs_store_scan_written_from(struct dfs_store *st, const void *prefix, size_t plen,
				const void *start, size_t slen,
				int (*fn)(const uint8_t *key, size_t klen, const uint8_t *val,
					  size_t vlen, void *ctx),
				void *ctx)
{
	return scan(st, false, prefix, plen, start, slen, fn, ctx);
}

/* The files of the store's directory (tables, and the log LevelDB's own estimate leaves out). */
uint64_t dfs_store_disk_bytes(struct dfs_store *st)
{
	char blobs[PATH_MAX];

	snprintf(blobs, sizeof(blobs), "%s/%s", st->dir, DFS_BLOBS_DIR);
	return dfs_store_dir_bytes(st->dir) + dfs_store_dir_bytes(blobs);
}

void dfs_store_stage(struct dfs_store *st, struct dfs_batch *b)
{
	pthread_mutex_lock(&st->lock);
	b->seq = ++st->staged_seq;
	b->done = false;
	b->next = NULL;
	/* A later stage of the same key shadows an earlier one: newest first. */
	for (size_t i = 0; i < b->n; i++) {
		struct op *op = &b->ops[i];
		size_t h = bucket_of(op->key, op->klen);
		op->seq = b->seq;
		op->pending_next = st->overlay[h];
		st->overlay[h] = op;
	}
	atomic_fetch_add(&st->npending, b->n);
	*st->queue_tail = b;
	st->queue_tail = &b->next;
	pthread_mutex_unlock(&st->lock);
}

/*
 * Drops from the overlay the n ops of batches up to seq, which LevelDB now
 * holds. Chains are newest first: each ends with the ops to drop.
 */
static void overlay_drop(struct dfs_store *st, uint64_t seq, size_t n)
{
	for (size_t h = 0; h < OVERLAY_BUCKETS; h++) {
		struct op **pp = &st->overlay[h];
		while (*pp && (*pp)->seq > seq)
			pp = &(*pp)->pending_next;
		*pp = NULL;
	}
	atomic_fetch_sub(&st->npending, n);
}

/* A group's LevelDB write as it is built: what it writes, and what goes once written. */
struct group_write {
	struct dfs_store *st;
	leveldb_writebatch_t *wb;
	uint64_t bytes;			/* what it adds to LevelDB's write buffer */
	bool blobbed;			/* a big value's file was written for it */
	const struct op **removes;	/* deletes whose files go once it is written */
	size_t nremoves, cap;
	int rc;
};

static void note_remove(struct group_write *g, const struct op *op)
{
	if (g->nremoves == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 16;
		const struct op **p = realloc(g->removes, cap * sizeof(*p));
		if (!p) {
			g->rc = -ENOMEM;
			return;
		}
		g->removes = p;
		g->cap = cap;
	}
	g->removes[g->nremoves++] = op;
}

/* Adds op to the write; a big value goes to its file, and LevelDB gets its stub. */
static void batch_op(struct group_write *g, const struct op *op, bool again_later)
{
	uint8_t stub[BLOB_STUB_LEN];
	const void *val = op->val;
	size_t vlen = op->vlen;

	if (g->rc < 0)
		return;
	if (op->del) {
		leveldb_writebatch_delete(g->wb, (const char *)op->key, op->klen);
		if (dfs_blobs_covers(op->key, op->klen) && !again_later)
			note_remove(g, op);
		g->bytes += op->klen + ENTRY_OVERHEAD;
		return;
	}
	if (vlen >= BLOB_MIN && dfs_blobs_covers(op->key, op->klen)) {
		g->rc = dfs_blobs_put(&g->st->blobs, op->key, op->klen, val, vlen, stub);
		if (g->rc < 0)
			return;
		g->blobbed = true;
		val = stub;
		vlen = sizeof(stub);
	}
	leveldb_writebatch_put(g->wb, (const char *)op->key, op->klen, val, vlen);
	g->bytes += op->klen + vlen + ENTRY_OVERHEAD;
}

/* One LevelDB write of the group's n ops, leaving out those a later op of the group rewrites. */
static void group_batch(struct group_write *g, struct dfs_batch *group, size_t n)
{
	const struct op **ops = n > 1 ? malloc(n * sizeof(*ops)) : NULL;
	bool *rewritten = ops ? malloc(n * sizeof(*rewritten)) : NULL;

	g->wb = leveldb_writebatch_create();
	if (rewritten) {
		size_t i = 0;
		for (struct dfs_batch *b = group; b; b = b->next)
			for (size_t j = 0; j < b->n; j++)
				ops[i++] = &b->ops[j];
	}
	if (rewritten && dfs_batch_rewritten(ops, n, rewritten)) {
		for (size_t i = 0; i < n; i++)
			if (!rewritten[i])
				batch_op(g, ops[i], false);
	} else {
		/* Every op in order: a delete's file stays when a later op puts the key again. */
		for (struct dfs_batch *b = group; b; b = b->next)
			for (size_t i = 0; i < b->n; i++)
				batch_op(g, &b->ops[i], b->ops[i].del && dfs_batch_put_later(b, i, &b->ops[i]));
	}
	free(ops);
	free(rewritten);
}

/*
 * Called with st->lock held and st->writing set by the caller. Writes every
 * queued batch as one LevelDB write, then marks them done.
 */
static void write_queued(struct dfs_store *st)
{
	struct dfs_batch *group = st->queue;
	uint64_t last = 0, bytes = 0;
	size_t n = 0;
	char *err = NULL;
	int rc = 0;

	st->queue = NULL;
	st->queue_tail = &st->queue;
	pthread_mutex_unlock(&st->lock);

	for (struct dfs_batch *b = group; b; b = b->next)
		n += b->n;
	struct group_write g = { .st = st };
	group_batch(&g, group, n);
	for (struct dfs_batch *b = group; b; b = b->next)
		last = b->seq;
	/* Big values' files are in place (and durable, under sync mode) before their stubs. */
	if (g.rc == 0 && g.blobbed && st->blobs.sync)
		g.rc = dfs_blobs_sync_dir(&st->blobs);
	if (g.rc == 0) {
		leveldb_write(st->db, st->wopts, g.wb, &err);
		if (err)
			g.rc = leveldb_failed(err, "write");
	}
	for (size_t i = 0; g.rc == 0 && i < g.nremoves; i++)
		dfs_blobs_remove(&st->blobs, g.removes[i]->key, g.removes[i]->klen);
	leveldb_writebatch_destroy(g.wb);
	free(g.removes);
	rc = g.rc;
	bytes = g.bytes;

	pthread_mutex_lock(&st->lock);
	overlay_drop(st, last, n);
	st->writes++;
	st->buffered += bytes;
	/* Past its own limit LevelDB wrote the buffer out already. */
	if (st->buffered >= st->bulk_buffer_bytes)
		st->buffered -= st->bulk_buffer_bytes;
	if (st->buffered >= st->buffer_bytes && !in_bulk(st))
		pthread_cond_signal(&st->flush_cond);
	for (struct dfs_batch *b = group; b; b = b->next) {
		b->done = true;
		b->result = rc;
	}
	st->writing = false;
	pthread_cond_broadcast(&st->cond);
}

int dfs_store_wait(struct dfs_store *st, struct dfs_batch *b)
{
	pthread_mutex_lock(&st->lock);
	while (!b->done) {
		if (!st->writing && st->queue) {
			st->writing = true;
			write_queued(st);
		} else {
			pthread_cond_wait(&st->cond, &st->lock);
		}
	}
	int rc = b->result;
	pthread_mutex_unlock(&st->lock);
	dfs_batch_free(b);
	return rc;
}

int dfs_store_commit(struct dfs_store *st, struct dfs_batch *b)
{
	dfs_store_stage(st, b);
	return dfs_store_wait(st, b);
}

int dfs_store_sync(struct dfs_store *st)
{
	leveldb_writeoptions_t *wo = leveldb_writeoptions_create();
	leveldb_writebatch_t *wb = leveldb_writebatch_create();
	char *err = NULL;
	int rc = 0;

	leveldb_writeoptions_set_sync(wo, 1);
	leveldb_write(st->db, wo, wb, &err);
	if (err)
		rc = leveldb_failed(err, "sync");
	leveldb_writebatch_destroy(wb);
	leveldb_writeoptions_destroy(wo);
	return rc;
}

int dfs_store_flush(struct dfs_store *st)
{
	struct dfs_batch *b = dfs_batch_new();

	if (!b)
		return -ENOMEM;
	/* Groups are written in staging order: an empty batch waits for all before it. */
	return dfs_store_commit(st, b);
}
