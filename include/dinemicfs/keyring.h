/* SPDX-License-Identifier: MIT */
/*
 * keyring.h - the private keys this node holds, under STATE_DIR.
 *
 *   STATE_DIR/node.key          the node's own identity
 *   STATE_DIR/keys/HEX.key      one per object created or imported here
 *
 * Secret keys never leave this module: callers sign through it. Keys are
 * loaded on first use and kept in memory, wiped when the keyring is freed.
 * A key not found is remembered as missing until keys/ changes: a running
 * keyring looks at keys/'s mtime at most once a second (and only when asked
 * for a key it lacks), so an object key imported while the node runs is
 * used within about a second. The node key is read once, at open.
 * Threading: every function may be called from any thread.
 */
#ifndef DINEMICFS_KEYRING_H
#define DINEMICFS_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/keys.h"
#include "dinemicfs/seal.h"

struct dfs_keyring;

/**
 * Opens the keyring in state_dir (which must exist), creating the node key
 * and keys/ on first use. Returns NULL with errno set, after logging why.
 */
struct dfs_keyring *dfs_keyring_open(const char *state_dir);
/** Wipes and frees. Accepts NULL. */
void dfs_keyring_free(struct dfs_keyring *kr);

/** The node's public key. */
const struct dfs_pubkey *dfs_keyring_node(const struct dfs_keyring *kr);

/** Creates, stores (durably) and holds a fresh key pair; returns 0 or -errno. */
int dfs_keyring_create(struct dfs_keyring *kr, struct dfs_pubkey *pk);
/** Forgets a key created by dfs_keyring_create() and removes its file. */
void dfs_keyring_discard(struct dfs_keyring *kr, const struct dfs_pubkey *pk);
/** True when this node holds pk's private key. */
bool dfs_keyring_has(struct dfs_keyring *kr, const struct dfs_pubkey *pk);
/**
 * How many keys looked for and not found are remembered: at most 4096,
 * whatever keys peers name.
 */
size_t dfs_keyring_misses(struct dfs_keyring *kr);
/** Times the remembered misses reached that bound and were all forgotten. */
uint64_t dfs_keyring_misses_dropped(struct dfs_keyring *kr);
/** Signs msg as pk. Returns 0, or -ENOKEY when this node does not hold pk. */
int dfs_keyring_sign(struct dfs_keyring *kr, const struct dfs_pubkey *pk, const uint8_t *msg,
		     size_t len, uint8_t sig[DFS_SIG_LEN]);

/*
 * Encrypted fields (seal.h): the secret keys that open data keys stay here
 * too. A data key handed out lives in the caller's struct dfs_datakey, which
 * the caller wipes.
 */

/**
 * Opens the data key of epoch in keyset with the key of any of that
 * epoch's readers this node holds. Returns 0, -EACCES (no reader held here),
 * -ENOENT (no such epoch) or -EBADMSG.
 */
int dfs_keyring_open_datakey(struct dfs_keyring *kr, const uint8_t *keyset, size_t len,
			     uint32_t epoch, struct dfs_datakey *out);
/**
 * dfs_keyset_rotate() with the owner's secret key: -ENOKEY where this node
 * does not hold owner.
 */
int dfs_keyring_rekey(struct dfs_keyring *kr, const struct dfs_pubkey *owner, const uint8_t *old,
		      size_t oldlen, const struct dfs_pubkey *readers, size_t nreaders,
		      bool new_epoch, struct dfs_buf *out);

/*
 * Key management (`dinemicfs key`): functions on a state directory's files
 * that need no open keyring. Secret bytes stay inside them; callers name
 * keys by their public half and key files by path.
 */

/**
 * Writes the path of the key file of pk (NULL: the node key) in state_dir
 * into out (outlen bytes). Returns 0 or -ENAMETOOLONG.
 */
int dfs_keyring_path(const char *state_dir, const struct dfs_pubkey *pk, char *out,
		     size_t outlen);

/**
 * Copies the private key of pk (NULL: the node key; a pk that is the node's
 * own public key also finds it) held in state_dir into a new key file at
 * path: mode 0600, never over an existing file, fsynced with its directory.
 * Returns 0, -ENOENT when state_dir does not hold the key, -EEXIST when path
 * exists, -EPERM when the held key file is open to group or others,
 * -EBADMSG when it is malformed or holds another key, or another -errno.
 */
int dfs_keyring_export(const char *state_dir, const struct dfs_pubkey *pk, const char *path);

/**
 * Imports the key file at path into state_dir (created, mode 0700, when
 * missing) and sets *pk to its public key. An object key becomes
 * keys/HEX.key; with node, the key replaces node.key. The new file is
 * written and fsynced under a temporary name, then linked (renamed, for
 * node.key) into place and the directory fsynced, so a reader never sees a
 * partial key and the old node key stays until the new one is durable.
 * Replacing node.key while a node runs on state_dir is the caller's to
 * prevent. Returns 0, -EEXIST when state_dir already holds that key (as an
 * object key, or as the node key for node), -EPERM when the file is open to
 * group or others, -EBADMSG when it is malformed, -ENOENT, or another -errno.
 */
int dfs_keyring_import(const char *state_dir, const char *path, bool node, struct dfs_pubkey *pk);

/**
 * Called by dfs_keyring_list() once per key file: path is the file, node
 * tells the node key from object keys, pk its public key (NULL when the
 * node key cannot be read), err 0 or why the file is unusable (-EPERM,
 * -EBADMSG, ...). The pointers are valid during the call only. A non-zero
 * return stops the listing, which returns it.
 */
typedef int (*dfs_keyring_list_fn)(void *ctx, const char *path, bool node,
				   const struct dfs_pubkey *pk, int err);

/**
 * Lists the keys state_dir holds: the node key (unless there is none yet),
 * then the object keys in keys/ in name order. Each file is read and
 * checked. Returns 0, fn's non-zero return, or -errno.
 */
int dfs_keyring_list(const char *state_dir, dfs_keyring_list_fn fn, void *ctx);

#endif
