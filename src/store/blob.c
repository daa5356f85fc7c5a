// SPDX-License-Identifier: MIT
/*
 * blob.c - big values beside LevelDB, each in a file of its own.
 *
 * A value of BLOB_MIN bytes or more under a key that begins with
 * DFS_STORE_BLOB_PREFIX is written to STORE/blobs/<hex of the key>, and
 * LevelDB holds a stub for it (BLOB_STUB_LEN bytes: a tag no such value
 * begins with, and the length). LevelDB would copy a big value into its log,
 * its write buffer, a table and then every compaction that passes it on;
 * a file is written once, read with one read(2), and deleted with
 * unlink(2). store.c writes the file before the LevelDB write that holds
 * its stub (synced first under sync mode) and removes it after the write
 * that deletes the key, so a crash leaves at worst a file no stub names,
 * which dfs_blobs_sweep() removes at the next open.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dinemicfs/log.h"
#include "dinemicfs/store.h"
#include "dinemicfs/util.h"
#include "internal.h"

#define TMP_SUFFIX ".tmp"

static const uint8_t stub_magic[4] = { BLOB_TAG, 'b', 'l', 'b' };

int dfs_blobs_open(struct blobs *bl, const char *dir, bool sync)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	bl->fd = -1;
	bl->sync = sync;
	if (dfd < 0)
		return -errno;
	if (mkdirat(dfd, DFS_BLOBS_DIR, 0700) < 0 && errno != EEXIST) {
		int e = errno;
		close(dfd);
		return -e;
	}
	bl->fd = openat(dfd, DFS_BLOBS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int e = errno;
	close(dfd);
	return bl->fd < 0 ? -e : 0;
}

void dfs_blobs_close(struct blobs *bl)
{
	if (bl->fd >= 0)
		close(bl->fd);
	bl->fd = -1;
}

bool dfs_blobs_covers(const void *key, size_t klen)
{
	return klen > 0 && klen <= BLOB_KEY_MAX && *(const uint8_t *)key == DFS_STORE_BLOB_PREFIX;
}

bool dfs_blobs_is_stub(const void *val, size_t vlen)
{
	return vlen == BLOB_STUB_LEN && memcmp(val, stub_magic, sizeof(stub_magic)) == 0;
}

/* The file's name: the key in hex, NUL-terminated; name has 2 * BLOB_KEY_MAX + 5 bytes. */
static void name_of(const void *key, size_t klen, char *name, bool tmp)
{
	dfs_hex_encode(name, key, klen);
	if (tmp)
		memcpy(name + 2 * klen, TMP_SUFFIX, sizeof(TMP_SUFFIX));
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int dfs_blobs_put(struct blobs *bl, const void *key, size_t klen, const void *val, size_t vlen,
	      uint8_t stub[BLOB_STUB_LEN])
{
	char tmp[2 * BLOB_KEY_MAX + 5], name[2 * BLOB_KEY_MAX + 5];

	name_of(key, klen, tmp, true);
	name_of(key, klen, name, false);
	int fd = openat(bl->fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int rc = write_all(fd, val, vlen);
	if (rc == 0 && bl->sync && fdatasync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(bl->fd, tmp, bl->fd, name) < 0)
		rc = -errno;
	if (rc < 0) {
		unlinkat(bl->fd, tmp, 0);
		dfs_log(DFS_LOG_ERR, "store: cannot write a big value to %s/%s: %s", DFS_BLOBS_DIR,
			name, strerror(-rc));
		return rc;
	}
	memcpy(stub, stub_magic, sizeof(stub_magic));
	for (int i = 0; i < 8; i++)
		stub[4 + i] = (uint8_t)((uint64_t)vlen >> (56 - 8 * i));
	return 0;
}

int dfs_blobs_sync_dir(struct blobs *bl)
{
	return fsync(bl->fd) < 0 ? -errno : 0;
}

int dfs_blobs_read(struct blobs *bl, const void *key, size_t klen, const uint8_t *stub,
	       uint8_t **val, size_t *vlen)
{
	char name[2 * BLOB_KEY_MAX + 5];
	uint64_t want = 0;
	struct stat sb;

	for (int i = 0; i < 8; i++)
		want = want << 8 | stub[4 + i];
	name_of(key, klen, name, false);
	int fd = openat(bl->fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -EIO;
	if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size != want || want > SIZE_MAX - 1) {
		close(fd);
		return -EIO;
	}
	uint8_t *p = malloc((size_t)want + 1);
	size_t got = 0;
	while (p && got < want) {
		ssize_t r = read(fd, p + got, (size_t)want - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (!p)
		return -ENOMEM;
	if (got != want) {
		free(p);
		return -EIO;
	}
	p[got] = '\0';
	*val = p;
	*vlen = got;
	return 0;
}

void dfs_blobs_remove(struct blobs *bl, const void *key, size_t klen)
{
	char name[2 * BLOB_KEY_MAX + 5];

	name_of(key, klen, name, false);
	if (unlinkat(bl->fd, name, 0) < 0 && errno != ENOENT)
		dfs_log(DFS_LOG_WARNING, "store: cannot remove %s/%s: %s", DFS_BLOBS_DIR, name,
			strerror(errno));
}

int dfs_blobs_sweep(struct blobs *bl, bool (*named)(const void *key, size_t klen, void *ctx),
		void *ctx)
{
	int dfd = dup(bl->fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *e;
	uint8_t key[BLOB_KEY_MAX];
	unsigned removed = 0;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return -errno;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.')
			continue;
		/* A file half written when the process stopped, or one no stub names. */
		bool keep = len % 2 == 0 && len / 2 <= BLOB_KEY_MAX &&
			    dfs_hex_decode(key, len / 2, e->d_name, len) == 0 &&
			    named(key, len / 2, ctx);
		if (!keep && unlinkat(bl->fd, e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	if (removed)
		dfs_log(DFS_LOG_NOTICE, "store: removed %u big value file(s) that no record names "
			"(left by a write or delete cut short)", removed);
	return 0;
}
