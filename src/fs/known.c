// SPDX-License-Identifier: MIT
/*
 * known.c - the fields a read-only open found stored, until the next update.
 *
 * Opening a field to read asks the store whether its value is there (a
 * deleted field is gone, even where the kernel still knows its name) and,
 * for other users, whether it is a secret. Readers open the same fields
 * over and over while nothing changes, and with the page cache kept
 * (handle.c) that store read was most of an open's work. So the answer is
 * kept, by inode, with the count of applied updates at the time it was
 * asked: dfs_fs_changed() (notify.c) counts every applied update, of any
 * field, as soon as it can be read, and an answer from before the count
 * moved is asked again. The count is read before the store, so an update
 * that lands in between is counted after the answer was read, never
 * before it.
 */
#include <string.h>

#include "internal.h"

static uint64_t ent_hash(const struct dfs_ent *ent)
{
	uint64_t h = dfs_fnv1a(DFS_FNV_BASIS, ent->obj.b, sizeof(ent->obj.b));

	return dfs_fnv1a(h, ent->path, strlen(ent->path));
}

void fs_known_init(struct fs_known *k)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
}

void fs_known_destroy(struct fs_known *k)
{
	pthread_mutex_destroy(&k->lock);
}

/* Whether the slot holds ent, at inode ino, as stored now; its flags in *flags. */
static bool known_hit(struct dfs_fs *fs, struct fs_known_slot *s, fuse_ino_t ino, uint64_t id,
		      uint8_t *flags)
{
	bool hit;

	pthread_mutex_lock(&fs->known.lock);
	hit = s->ino == ino && s->id == id && s->changes == atomic_load(&fs->changes);
	if (hit)
		*flags = s->flags;
	pthread_mutex_unlock(&fs->known.lock);
	return hit;
}

int fs_known_field(struct dfs_fs *fs, fuse_ino_t ino, const struct dfs_ent *ent, uint8_t *flags)
{
	struct fs_known_slot *s = &fs->known.slot[ino % FS_KNOWN_SLOTS];
	uint64_t id = ent_hash(ent);
	struct dfs_field_rec f;

	if (known_hit(fs, s, ino, id, flags))
		return 0;
	uint64_t changes = atomic_load(&fs->changes);
	int rc = dfs_db_get_field(fs->db, &ent->obj, ent->path, &f);
	if (rc < 0)
		return rc;
	*flags = f.flags;
	pthread_mutex_lock(&fs->known.lock);
	s->ino = ino;
	s->id = id;
	s->changes = changes;
	s->flags = f.flags;
	pthread_mutex_unlock(&fs->known.lock);
	return 0;
}
