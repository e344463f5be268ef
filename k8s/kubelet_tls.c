/* TLS for the kubelet API: the serving certificate comes from files or is generated at start
 * (EC P-256, self-signed, SAN for the hostname, localhost and 127.0.0.1), and client certificates
 * are requested and checked against the client CA. The handshake accepts any certificate so that
 * a request without a verified one gets a clear 401 instead of a bare TLS alert. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kubelet_internal.h"

static char *ssl_errmsg(const char *what) {
  char buf[256] = "";
  unsigned long e = ERR_get_error();
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return kq_asprintf("%s%s%s", what, e ? ": " : "", buf);
}

static bool add_ext(X509 *x, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (!ext) return false;
  bool ok = X509_add_ext(x, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

/* Generates a key and a self-signed serving certificate into ctx. */
static int self_signed(SSL_CTX *ctx, const char *host, char **errmsg) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  int rc = KQ_ETLS;
  if (!key || !x) goto out;
  X509_set_version(x, 2);
  unsigned char serial[16];
  for (size_t i = 0; i < sizeof serial; i++) serial[i] = (unsigned char)(rand() & 0xff);
  serial[0] &= 0x7f;
  BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
  if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) {
    BN_free(bn);
    goto out;
  }
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"kuack", -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_set_pubkey(x, key);
  char *san = kq_asprintf("DNS:%s,DNS:localhost,IP:127.0.0.1", host);
  bool ok = add_ext(x, NID_subject_alt_name, san) && add_ext(x, NID_basic_constraints, "critical,CA:FALSE") &&
            add_ext(x, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
            add_ext(x, NID_ext_key_usage, "serverAuth");
  free(san);
  if (!ok || !X509_sign(x, key, EVP_sha256())) goto out;
  if (SSL_CTX_use_certificate(ctx, x) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1) goto out;
  rc = KQ_OK;
out:
  if (rc != KQ_OK) *errmsg = ssl_errmsg("cannot generate a self-signed serving certificate");
  X509_free(x);
  EVP_PKEY_free(key);
  return rc;
}

/* Accept every chain in the handshake; the verdict stays in SSL_get_verify_result. */
static int accept_any(int preverify_ok, X509_STORE_CTX *x) {
  (void)preverify_ok;
  (void)x;
  return 1;
}

SSL_CTX *kq_kubelet_ssl_ctx(const kq_kubelet_opts_t *o, int *err, char **errmsg) {
  *err = KQ_ETLS;
  if (!o->cert_file != !o->key_file) {
    *err = KQ_EINVAL;
    *errmsg = kq_strdup("kubelet TLS: give both a certificate file and a key file, or neither");
    return NULL;
  }
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    *errmsg = ssl_errmsg("kubelet TLS: cannot create a context");
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (o->cert_file) {
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
      char *m = ssl_errmsg("cannot load the certificate");
      *errmsg = kq_asprintf("kubelet TLS: %s: %s", o->cert_file, m);
      free(m);
      goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
      char *m = ssl_errmsg("cannot load the key (or it does not match the certificate)");
      *errmsg = kq_asprintf("kubelet TLS: %s: %s", o->key_file, m);
      free(m);
      goto fail;
    }
  } else if (self_signed(ctx, o->hostname ? o->hostname : "kuack-node", errmsg) != KQ_OK) {
    goto fail;
  }
  if (o->client_ca_file) {
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->client_ca_file);
    if (!names || SSL_CTX_load_verify_locations(ctx, o->client_ca_file, NULL) != 1) {
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      char *m = ssl_errmsg("cannot load the client CA");
      *errmsg = kq_asprintf("kubelet TLS: %s: %s", o->client_ca_file, m);
      free(m);
      goto fail;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  }
  *err = KQ_OK;
  return ctx;
fail:
  SSL_CTX_free(ctx);
  return NULL;
}

bool kq_kubelet_peer_verified(SSL *ssl, const char **why) {
  if (!ssl) {
    *why = "no TLS session";
    return false;
  }
  X509 *peer = SSL_get1_peer_certificate(ssl);
  if (!peer) {
    *why = "a client certificate is required";
    return false;
  }
  X509_free(peer);
  if (SSL_get_verify_result(ssl) != X509_V_OK) {
    *why = "the client certificate is not signed by the client CA (or is expired)";
    return false;
  }
  return true;
}

static char *name_entry(X509_NAME *n, int idx) {
  X509_NAME_ENTRY *e = X509_NAME_get_entry(n, idx);
  ASN1_STRING *d = e ? X509_NAME_ENTRY_get_data(e) : NULL;
  unsigned char *utf8 = NULL;
  int len = d ? ASN1_STRING_to_UTF8(&utf8, d) : -1;
  if (len < 0) return NULL;
  char *s = kq_strndup((const char *)utf8, (size_t)len);
  OPENSSL_free(utf8);
  return s;
}

bool kq_kubelet_peer_identity(SSL *ssl, char **user, char ***groups, size_t *ngroups) {
  *user = NULL;
  *groups = NULL;
  *ngroups = 0;
  X509 *peer = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
  if (!peer) return false;
  X509_NAME *n = X509_get_subject_name(peer);
  int i = n ? X509_NAME_get_index_by_NID(n, NID_commonName, -1) : -1;
  if (i >= 0) *user = name_entry(n, i);
  size_t cap = 0;
  for (i = -1; n && (i = X509_NAME_get_index_by_NID(n, NID_organizationName, i)) >= 0;) {
    char *g = name_entry(n, i);
    if (!g) continue;
    if (*ngroups == cap) {
      cap = cap ? cap * 2 : 4;
      *groups = kq_realloc(*groups, cap * sizeof(char *));
    }
    (*groups)[(*ngroups)++] = g;
  }
  X509_free(peer);
  return *user != NULL && (*user)[0] != '\0';
}
