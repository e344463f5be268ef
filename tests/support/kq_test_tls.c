/* Runtime test PKI (see kq_test_tls.h): keys from EVP_PKEY_Q_keygen, certificates built with the
 * X509 API and signed by our own CA, written as PEM to a mkdtemp() dir. */
#include "kq_test_tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kq_alloc.h"

typedef struct tls_priv {
  X509 *ca, *server, *client;
  EVP_PKEY *ca_key, *server_key, *client_key;
} tls_priv_t;

static void die(const char *what) {
  fprintf(stderr, "kq_test_tls: %s failed\n", what);
  ERR_print_errors_fp(stderr);
  abort();
}

static EVP_PKEY *keygen(void) {
  EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  if (!k) die("EVP_PKEY_Q_keygen");
  return k;
}

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value) {
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
  if (!ext || !X509_add_ext(x, ext, -1)) die("X509_add_ext");
  X509_EXTENSION_free(ext);
}

/* issuer == NULL: self-signed CA. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long serial,
                       const char *san, const char *eku) {
  X509 *x = X509_new();
  if (!x) die("X509_new");
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400);
  X509_set_pubkey(x, key);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"kuack tests", -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
  add_ext(x, &ctx, NID_basic_constraints, issuer ? "critical,CA:FALSE" : "critical,CA:TRUE");
  add_ext(x, &ctx, NID_key_usage,
          issuer ? "critical,digitalSignature,keyEncipherment" : "critical,keyCertSign,cRLSign");
  add_ext(x, &ctx, NID_subject_key_identifier, "hash");
  add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
  if (san) add_ext(x, &ctx, NID_subject_alt_name, san);
  if (eku) add_ext(x, &ctx, NID_ext_key_usage, eku);
  if (!X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256())) die("X509_sign");
  return x;
}

static char *bio_string(BIO *b) {
  char *data = NULL;
  long n = BIO_get_mem_data(b, &data);
  char *s = kq_strndup(data, (size_t)n);
  BIO_free(b);
  return s;
}

static char *cert_pem(X509 *x) {
  BIO *b = BIO_new(BIO_s_mem());
  if (!b || !PEM_write_bio_X509(b, x)) die("PEM_write_bio_X509");
  return bio_string(b);
}

static char *key_pem(EVP_PKEY *k) {
  BIO *b = BIO_new(BIO_s_mem());
  if (!b || !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) die("PEM_write_bio_PrivateKey");
  return bio_string(b);
}

static char *write_file(const char *dir, const char *name, const char *text) {
  char *path = kq_asprintf("%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) die(path);
  return path;
}

kq_test_tls_t *kq_test_tls_new(void) {
  kq_test_tls_t *t = KQ_NEW(kq_test_tls_t);
  tls_priv_t *p = KQ_NEW(tls_priv_t);
  t->priv_ = p;
  static long serial = 1;
  p->ca_key = keygen();
  p->ca = make_cert(p->ca_key, "kuack test CA", NULL, NULL, serial++, NULL, NULL);
  p->server_key = keygen();
  p->server = make_cert(p->server_key, "localhost", p->ca, p->ca_key, serial++,
                        "IP:127.0.0.1,DNS:localhost", "serverAuth");
  p->client_key = keygen();
  p->client = make_cert(p->client_key, "kuack-test-client", p->ca, p->ca_key, serial++, NULL, "clientAuth");

  const char *tmp = getenv("TMPDIR");
  t->dir = kq_asprintf("%s/kq-tls-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(t->dir)) die("mkdtemp");
  t->ca_pem = cert_pem(p->ca);
  t->server_cert_pem = cert_pem(p->server);
  t->server_key_pem = key_pem(p->server_key);
  t->client_cert_pem = cert_pem(p->client);
  t->client_key_pem = key_pem(p->client_key);
  t->ca_file = write_file(t->dir, "ca.pem", t->ca_pem);
  t->server_cert_file = write_file(t->dir, "server.pem", t->server_cert_pem);
  t->server_key_file = write_file(t->dir, "server-key.pem", t->server_key_pem);
  t->client_cert_file = write_file(t->dir, "client.pem", t->client_cert_pem);
  t->client_key_file = write_file(t->dir, "client-key.pem", t->client_key_pem);
  return t;
}

void kq_test_tls_free(kq_test_tls_t *t) {
  if (!t) return;
  char *files[] = {t->ca_file, t->server_cert_file, t->server_key_file, t->client_cert_file,
                   t->client_key_file};
  for (size_t i = 0; i < KQ_ARRAY_LEN(files); i++) {
    if (files[i]) unlink(files[i]);
    free(files[i]);
  }
  if (t->dir) rmdir(t->dir);
  free(t->dir);
  free(t->ca_pem);
  free(t->server_cert_pem);
  free(t->server_key_pem);
  free(t->client_cert_pem);
  free(t->client_key_pem);
  tls_priv_t *p = t->priv_;
  X509_free(p->ca);
  X509_free(p->server);
  X509_free(p->client);
  EVP_PKEY_free(p->ca_key);
  EVP_PKEY_free(p->server_key);
  EVP_PKEY_free(p->client_key);
  free(p);
  free(t);
}

SSL_CTX *kq_test_tls_server_ctx(const kq_test_tls_t *t, bool require_client_cert) {
  const tls_priv_t *p = t->priv_;
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) die("SSL_CTX_new");
  if (SSL_CTX_use_certificate(ctx, p->server) != 1) die("SSL_CTX_use_certificate");
  if (SSL_CTX_use_PrivateKey(ctx, p->server_key) != 1) die("SSL_CTX_use_PrivateKey");
  if (require_client_cert) {
    if (X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), p->ca) != 1) die("X509_STORE_add_cert");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  }
  return ctx;
}
