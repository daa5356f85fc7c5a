// SPDX-License-Identifier: MIT
/* tls.c - the node's certificate and what a TLS session proves; the only OpenSSL user */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "dinemicfs/tls.h"
#include "dinemicfs/util.h"
#include "internal.h"

#define EXPORTER_LABEL "EXPORTER-dinemicfs-link"

struct dfs_tls_cert {
	EVP_PKEY *key;
	X509 *x509;
};

void dfs_tls_cert_free(struct dfs_tls_cert *c)
{
	if (!c)
		return;
	EVP_PKEY_free(c->key);	/* OpenSSL clears a private key it frees */
	X509_free(c->x509);
	free(c);
}

/*
 * Self-signed, named after the key (CN: its 64 hex digits, X.509's most),
 * valid for as long as X.509 can say.
 */
static X509 *self_signed(EVP_PKEY *key, const struct dfs_pubkey *pk)
{
	char cn[2 * DFS_PUBKEY_LEN + 1];
	X509 *x = X509_new();
	X509_NAME *name = x ? X509_get_subject_name(x) : NULL;

	dfs_hex_encode(cn, pk->b, DFS_PUBKEY_LEN);
	if (!name || !X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !ASN1_TIME_set_string(X509_getm_notBefore(x), "19700101000000Z") ||
	    !ASN1_TIME_set_string(X509_getm_notAfter(x), "99991231235959Z") ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
					-1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key) ||
	    X509_sign(x, key, NULL) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

struct dfs_tls_cert *dfs_tls_cert_new(const struct dfs_seckey *sk)
{
	struct dfs_tls_cert *c = calloc(1, sizeof(*c));
	struct dfs_pubkey pk;

	if (!c)
		return NULL;
	dfs_seckey_public(sk, &pk);
	/* libsodium's secret key is the 32-byte seed, then the public key. */
	c->key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk->b, 32);
	c->x509 = c->key ? self_signed(c->key, &pk) : NULL;
	if (!c->x509) {
		dfs_tls_cert_free(c);
		errno = EPROTO;
		return NULL;
	}
	return c;
}

struct dfs_tls_cert *dfs_tls_cert_node(struct dfs_keyring *kr)
{
	struct dfs_seckey sk;
	int rc = dfs_keyring_node_secret(kr, &sk);

	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	struct dfs_tls_cert *c = dfs_tls_cert_new(&sk);
	dfs_seckey_wipe(&sk);
	return c;
}

/* The raw Ed25519 key of a certificate. */
static int cert_id(X509 *x, struct dfs_pubkey *out)
{
	EVP_PKEY *key = x ? X509_get0_pubkey(x) : NULL;
	size_t n = DFS_PUBKEY_LEN;

	if (!x)
		return -ENOENT;
	if (!key || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(key, out->b, &n) != 1 || n != DFS_PUBKEY_LEN)
		return -EBADMSG;
	return 0;
}

int dfs_tls_verify(void *x509_store_ctx, const struct dfs_pubkey *pin, struct dfs_pubkey *seen)
{
	X509_STORE_CTX *st = x509_store_ctx;
	struct dfs_pubkey id;

	/*
	 * A peer sends its own certificate and nothing else: a chain above it
	 * is refused before OpenSSL checks a signature in it (a long chain of
	 * made-up RSA certificates would cost a node seconds of CPU).
	 */
	if (X509_STORE_CTX_get_error_depth(st) > 0)
		return -EPERM;
	if (cert_id(X509_STORE_CTX_get_current_cert(st), &id) < 0)
		return -EPERM;
	if (seen)
		*seen = id;
	if (pin && memcmp(pin->b, id.b, DFS_PUBKEY_LEN) != 0)
		return -EPERM;
	X509_STORE_CTX_set_error(st, X509_V_OK);
	return 0;
}

static int accept_ed25519(int preverify_ok, X509_STORE_CTX *st)
{
	(void)preverify_ok;
	return dfs_tls_verify(st, NULL, NULL) == 0;
}

/* A certificate of ours is some 400 bytes; a peer's may not be much more. */
#define CERT_LIST_MAX 4096

int dfs_tls_ctx_setup(void *ssl_ctx, const struct dfs_tls_cert *c)
{
	SSL_CTX *ctx = ssl_ctx;

	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    SSL_CTX_use_certificate(ctx, c->x509) != 1 || SSL_CTX_use_PrivateKey(ctx, c->key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1 ||
	    /* Cheap key shares only: no 8192-bit finite-field ones a peer could ask for. */
	    SSL_CTX_set1_groups_list(ctx, "X25519:P-256") != 1 ||
	    /* No resumption: every connection shows its certificate to the callback. */
	    SSL_CTX_set_num_tickets(ctx, 0) != 1)
		return -EPROTO;
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_max_cert_list(ctx, CERT_LIST_MAX);
	SSL_CTX_set_verify_depth(ctx, 0);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_ed25519);
	return 0;
}

void *dfs_tls_client_ctx_new(const struct dfs_tls_cert *c)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx || dfs_tls_ctx_setup(ctx, c) < 0) {
		SSL_CTX_free(ctx);
		errno = EPROTO;
		return NULL;
	}
	return ctx;
}

void dfs_tls_ctx_free(void *ssl_ctx)
{
	SSL_CTX_free(ssl_ctx);
}

int dfs_tls_peer_id(void *ssl, struct dfs_pubkey *out)
{
	return ssl ? cert_id(SSL_get0_peer_certificate(ssl), out) : -ENOENT;
}

int dfs_tls_exporter(void *ssl, uint8_t out[DFS_TLS_EXPORTER_LEN])
{
	if (!ssl || SSL_export_keying_material(ssl, out, DFS_TLS_EXPORTER_LEN, EXPORTER_LABEL,
					       sizeof(EXPORTER_LABEL) - 1, NULL, 0, 0) != 1)
		return -EPROTO;
	return 0;
}

const char *dfs_tls_version(void *ssl)
{
	return ssl ? SSL_get_version(ssl) : "?";
}
