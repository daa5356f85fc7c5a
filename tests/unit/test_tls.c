// SPDX-License-Identifier: MIT
/*
 * test_tls.c - unit tests for crypto/tls.c: certificates made from node keys,
 * a real TLS 1.3 handshake between two ends over an in-memory BIO pair, the
 * ids each end sees, the exporter both share, pinning, and refusals.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "dinemicfs/keys.h"
#include "dinemicfs/tls.h"

struct end {
	struct dfs_pubkey pk;
	struct dfs_seckey sk;
	struct dfs_tls_cert *cert;
	SSL_CTX *ctx;
	SSL *ssl;
};

static void make_end(struct end *e, bool server)
{
	cr_assert_eq(dfs_keys_generate(&e->pk, &e->sk), 0);
	e->cert = dfs_tls_cert_new(&e->sk);
	cr_assert_not_null(e->cert);
	e->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	cr_assert_not_null(e->ctx);
	cr_assert_eq(dfs_tls_ctx_setup(e->ctx, e->cert), 0);
}

static void free_end(struct end *e)
{
	SSL_free(e->ssl);
	SSL_CTX_free(e->ctx);
	dfs_tls_cert_free(e->cert);
	dfs_seckey_wipe(&e->sk);
}

/* Runs both handshakes over a BIO pair; true when both finished. */
static bool handshake(struct end *c, struct end *s)
{
	BIO *bc, *bs;

	cr_assert_eq(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	c->ssl = SSL_new(c->ctx);
	s->ssl = SSL_new(s->ctx);
	cr_assert(c->ssl && s->ssl);
	SSL_set_bio(c->ssl, bc, bc);
	SSL_set_bio(s->ssl, bs, bs);
	SSL_set_connect_state(c->ssl);
	SSL_set_accept_state(s->ssl);
	bool cdone = false, sdone = false;
	for (int i = 0; i < 50 && !(cdone && sdone); i++) {
		int rc = cdone ? 1 : SSL_do_handshake(c->ssl);
		if (rc == 1)
			cdone = true;
		else if (SSL_get_error(c->ssl, rc) != SSL_ERROR_WANT_READ)
			return false;
		rc = sdone ? 1 : SSL_do_handshake(s->ssl);
		if (rc == 1)
			sdone = true;
		else if (SSL_get_error(s->ssl, rc) != SSL_ERROR_WANT_READ)
			return false;
	}
	/* TLS 1.3: the server learns of a refused certificate after the client is done. */
	char b;
	SSL_read(c->ssl, &b, 0);
	SSL_read(s->ssl, &b, 0);
	return cdone && sdone;
}

Test(tls, a_handshake_shows_each_end_the_other_s_node_key)
{
	struct end c, s;
	struct dfs_pubkey seen;

	make_end(&c, false);
	make_end(&s, true);
	cr_assert(handshake(&c, &s));
	cr_assert_str_eq(dfs_tls_version(c.ssl), "TLSv1.3");
	cr_assert_eq(dfs_tls_peer_id(c.ssl, &seen), 0);
	cr_assert_arr_eq(seen.b, s.pk.b, DFS_PUBKEY_LEN);
	cr_assert_eq(dfs_tls_peer_id(s.ssl, &seen), 0);
	cr_assert_arr_eq(seen.b, c.pk.b, DFS_PUBKEY_LEN);
	free_end(&c);
	free_end(&s);
}

Test(tls, both_ends_share_the_exporter_and_no_other_session_has_it)
{
	struct end c, s, c2, s2;
	uint8_t a[DFS_TLS_EXPORTER_LEN], b[DFS_TLS_EXPORTER_LEN], other[DFS_TLS_EXPORTER_LEN];

	make_end(&c, false);
	make_end(&s, true);
	cr_assert(handshake(&c, &s));
	cr_assert_eq(dfs_tls_exporter(c.ssl, a), 0);
	cr_assert_eq(dfs_tls_exporter(s.ssl, b), 0);
	cr_assert_arr_eq(a, b, sizeof(a));

	/* The same two keys in a second session: another exporter. */
	c2 = c;
	s2 = s;
	c2.ssl = s2.ssl = NULL;
	cr_assert(handshake(&c2, &s2));
	cr_assert_eq(dfs_tls_exporter(c2.ssl, other), 0);
	cr_assert_arr_neq(a, other, sizeof(a));
	SSL_free(c2.ssl);
	SSL_free(s2.ssl);
	free_end(&c);
	free_end(&s);
}

static struct dfs_pubkey pin;

static int verify_pinned(int ok, X509_STORE_CTX *st)
{
	(void)ok;
	return dfs_tls_verify(st, &pin, NULL) == 0;
}

Test(tls, a_pinned_peer_with_another_key_is_refused)
{
	struct end c, s;

	make_end(&c, false);
	make_end(&s, true);
	pin = s.pk;
	SSL_CTX_set_verify(c.ctx, SSL_VERIFY_PEER, verify_pinned);
	cr_assert(handshake(&c, &s), "the pinned key itself is accepted");
	SSL_free(c.ssl);
	SSL_free(s.ssl);
	c.ssl = s.ssl = NULL;

	pin.b[0] ^= 1;
	cr_assert_not(handshake(&c, &s), "another key is refused");
	free_end(&c);
	free_end(&s);
}

/* A certificate with a P-256 key: valid TLS, but no node id. */
static void use_ec_cert(SSL_CTX *ctx)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();

	cr_assert(key && x);
	X509_set_version(x, 2);
	ASN1_TIME_set_string(X509_getm_notBefore(x), "19700101000000Z");
	ASN1_TIME_set_string(X509_getm_notAfter(x), "99991231235959Z");
	X509_set_pubkey(x, key);
	cr_assert(X509_sign(x, key, EVP_sha256()) > 0);
	cr_assert_eq(SSL_CTX_use_certificate(ctx, x), 1);
	cr_assert_eq(SSL_CTX_use_PrivateKey(ctx, key), 1);
	X509_free(x);
	EVP_PKEY_free(key);
}

Test(tls, a_peer_whose_certificate_is_not_ed25519_is_refused)
{
	struct end c, s;

	make_end(&c, false);
	make_end(&s, true);
	use_ec_cert(c.ctx);
	cr_assert_not(handshake(&c, &s), "the server refuses the client");
	free_end(&c);
	free_end(&s);

	make_end(&c, false);
	make_end(&s, true);
	use_ec_cert(s.ctx);
	cr_assert_not(handshake(&c, &s), "the client refuses the server");
	free_end(&c);
	free_end(&s);
}

/* A certificate for key named subject, issued by issuer and signed with signer. */
static X509 *cert_for(EVP_PKEY *key, const char *subject, const char *issuer, EVP_PKEY *signer)
{
	X509 *x = X509_new();

	cr_assert_not_null(x);
	X509_set_version(x, 2);
	ASN1_TIME_set_string(X509_getm_notBefore(x), "19700101000000Z");
	ASN1_TIME_set_string(X509_getm_notAfter(x), "99991231235959Z");
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)subject, -1, -1, 0);
	X509_NAME_add_entry_by_txt(X509_get_issuer_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)issuer, -1, -1, 0);
	X509_set_pubkey(x, key);
	cr_assert(X509_sign(x, signer, NULL) > 0);
	return x;
}

/* An Ed25519 leaf issued by another certificate, which comes along as its chain. */
static void use_chain(SSL_CTX *ctx)
{
	EVP_PKEY *leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	cr_assert(leaf_key && ca_key);
	X509 *ca = cert_for(ca_key, "c0", "c0", ca_key);
	X509 *leaf = cert_for(leaf_key, "leaf", "c0", ca_key);
	cr_assert_eq(SSL_CTX_use_certificate(ctx, leaf), 1);
	cr_assert_eq(SSL_CTX_use_PrivateKey(ctx, leaf_key), 1);
	cr_assert_eq(SSL_CTX_add_extra_chain_cert(ctx, ca), 1);	/* takes ca */
	X509_free(leaf);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(ca_key);
}

/* Only the certificate itself: a chain above it is refused before it costs anything. */
Test(tls, a_peer_that_sends_a_chain_is_refused)
{
	struct end c, s;

	make_end(&c, false);
	make_end(&s, true);
	use_chain(c.ctx);
	cr_assert_not(handshake(&c, &s), "the server refuses a client with a chain");
	free_end(&c);
	free_end(&s);

	make_end(&c, false);
	make_end(&s, true);
	use_chain(s.ctx);
	cr_assert_not(handshake(&c, &s), "the client refuses a server with a chain");
	free_end(&c);
	free_end(&s);
}

Test(tls, a_client_without_a_certificate_is_refused)
{
	struct end c, s;

	make_end(&c, false);
	make_end(&s, true);
	SSL_CTX_free(c.ctx);
	c.ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(c.ctx, SSL_VERIFY_NONE, NULL);
	cr_assert_not(handshake(&c, &s));
	free_end(&c);
	free_end(&s);
}

Test(tls, below_tls_1_3_is_refused)
{
	struct end c, s;

	make_end(&c, false);
	make_end(&s, true);
	SSL_CTX_set_min_proto_version(c.ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(c.ctx, TLS1_2_VERSION);
	cr_assert_not(handshake(&c, &s));
	free_end(&c);
	free_end(&s);
}

Test(tls, no_session_no_id_and_no_exporter)
{
	struct dfs_pubkey id;
	uint8_t x[DFS_TLS_EXPORTER_LEN];

	cr_assert_eq(dfs_tls_peer_id(NULL, &id), -ENOENT);
	cr_assert_eq(dfs_tls_exporter(NULL, x), -EPROTO);
	cr_assert_str_eq(dfs_tls_version(NULL), "?");
}
