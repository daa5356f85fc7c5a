/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the files of crypto/ share and nobody else sees.
 *
 * The node's secret key leaves keyring.c for one reason only: tls.c makes
 * the node's TLS certificate and key from it (OpenSSL needs the key itself,
 * not a signing call). The copy lives in the caller's struct dfs_seckey,
 * which it wipes on every path.
 */
#ifndef DINEMICFS_CRYPTO_INTERNAL_H
#define DINEMICFS_CRYPTO_INTERNAL_H

#include "dinemicfs/keyring.h"
#include "dinemicfs/keys.h"

/** Copies the node's secret key into sk. Returns 0 or -ENOKEY. */
int dfs_keyring_node_secret(struct dfs_keyring *kr, struct dfs_seckey *sk);

#endif
