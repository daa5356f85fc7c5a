/* SPDX-License-Identifier: MIT */
/*
 * keyring.h - the private keys this node holds, under STATE_DIR.
 *
 *   STATE_DIR/node.key          the node's own identity
 *   STATE_DIR/keys/HEX.key      one per object created or imported here
 *
 * Secret keys never leave this module: callers sign through it. Keys are
 * loaded on first use and kept in memory, wiped when the keyring is freed.
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

#endif
