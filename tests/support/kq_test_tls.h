/* Test PKI generated at runtime with OpenSSL: a self-signed CA, a server certificate for
 * 127.0.0.1/localhost and a client certificate, both signed by that CA. Everything is available
 * as PEM strings and as files in a private temp dir (removed by kq_test_tls_free). Two
 * kq_test_tls_new() calls give two unrelated CAs, which is how tests get a "wrong CA". */
#ifndef KQ_TEST_TLS_H
#define KQ_TEST_TLS_H
#include <stdbool.h>

typedef struct ssl_ctx_st SSL_CTX;

typedef struct kq_test_tls {
  char *dir;                                  /* temp dir holding the files */
  char *ca_file, *ca_pem;                     /* CA certificate */
  char *server_cert_file, *server_key_file;   /* CN=localhost, SAN IP:127.0.0.1, DNS:localhost */
  char *server_cert_pem, *server_key_pem;
  char *client_cert_file, *client_key_file;   /* CN=kuack-test-client, clientAuth */
  char *client_cert_pem, *client_key_pem;
  void *priv_;                                /* X509/EVP_PKEY objects, internal */
} kq_test_tls_t;

/* Generates a fresh CA + server + client set (EC P-256, valid from 1 h ago for 30 days).
 * Returns owned; aborts the test process on any OpenSSL failure (never returns NULL). */
kq_test_tls_t *kq_test_tls_new(void);
/* Removes the files and the dir and frees everything. NULL is a no-op. */
void kq_test_tls_free(kq_test_tls_t *t);

/* A server context with the server certificate. With `require_client_cert`, clients must present
 * a certificate signed by this CA (handshake fails otherwise). Returns owned (SSL_CTX_free). */
SSL_CTX *kq_test_tls_server_ctx(const kq_test_tls_t *t, bool require_client_cert);

#endif
