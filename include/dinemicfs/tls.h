/* SPDX-License-Identifier: MIT */
/*
 * tls.h - the node's TLS identity, and what a TLS session proves (OpenSSL).
 *
 * Links are TLS 1.3 (repl/net.c, through libwebsockets). A node's
 * certificate is self-signed and made from its node key: an Ed25519
 * certificate whose public key is the node id, so no certificate authority
 * is involved and the id a peer's certificate carries is one the TLS
 * handshake proved the peer holds (its CertificateVerify). Both sides of a
 * link present one. Validity dates, names and issuers mean nothing here: a
 * certificate is accepted when it carries an Ed25519 key and comes alone
 * (no chain above it), and who that key is allowed to be is the caller's
 * (pinning, trust lists) to decide. Key shares are X25519 or P-256 only,
 * and sessions are never resumed.
 *
 * The exporter (RFC 8446, 7.5) is a secret both ends of one TLS session
 * share and no other session has; the link handshake signs and MACs it, so
 * a proof made in one session is worthless in any other.
 *
 * OpenSSL's objects (SSL_CTX, SSL, X509_STORE_CTX) are passed as void * so
 * that callers need not include OpenSSL: only crypto/tls.c does.
 * Threading: a struct dfs_tls_cert is read-only once made; the other
 * functions touch only their arguments.
 */
#ifndef DINEMICFS_TLS_H
#define DINEMICFS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dinemicfs/keyring.h"
#include "dinemicfs/keys.h"

#define DFS_TLS_EXPORTER_LEN 32

/* A certificate and its private key, made from one Ed25519 key. */
struct dfs_tls_cert;

/** The node's certificate, from its key in kr. NULL with errno set. */
struct dfs_tls_cert *dfs_tls_cert_node(struct dfs_keyring *kr);
/** A certificate for sk (a test peer's made-up key). NULL with errno set. */
struct dfs_tls_cert *dfs_tls_cert_new(const struct dfs_seckey *sk);
/** Wipes and frees. Accepts NULL. */
void dfs_tls_cert_free(struct dfs_tls_cert *c);

/**
 * Sets up an SSL_CTX to be one side of a link: TLS 1.3 only, c as its
 * certificate and key, the peer's certificate required (on a server too)
 * and accepted when it carries an Ed25519 key. Returns 0 or -EPROTO.
 */
int dfs_tls_ctx_setup(void *ssl_ctx, const struct dfs_tls_cert *c);
/** A new client SSL_CTX set up as above. NULL with errno set. */
void *dfs_tls_client_ctx_new(const struct dfs_tls_cert *c);
/** Frees an SSL_CTX from dfs_tls_client_ctx_new(). Accepts NULL. */
void dfs_tls_ctx_free(void *ssl_ctx);

/**
 * During certificate verification (an OpenSSL verify callback's
 * X509_STORE_CTX): accepts the peer's own certificate (depth 0; anything
 * above it is refused) when it carries an Ed25519 key, and pin is NULL or
 * that key. Clears the store's error and
 * returns 0 when accepted; -EPERM otherwise, with the key in *seen when it
 * could be read (seen may be NULL).
 */
int dfs_tls_verify(void *x509_store_ctx, const struct dfs_pubkey *pin, struct dfs_pubkey *seen);
/**
 * The node id the peer's certificate carries, once the TLS handshake is
 * done. Returns 0, -ENOENT (no certificate) or -EBADMSG (not Ed25519).
 */
int dfs_tls_peer_id(void *ssl, struct dfs_pubkey *out);
/** The session's exporter, label "EXPORTER-dinemicfs-link". 0 or -EPROTO. */
int dfs_tls_exporter(void *ssl, uint8_t out[DFS_TLS_EXPORTER_LEN]);
/** The protocol version in use, "TLSv1.3"; "?" when unknown. */
const char *dfs_tls_version(void *ssl);

#endif
