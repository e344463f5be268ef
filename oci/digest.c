/* sha256 over blobs (OpenSSL EVP). */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_oci_digest.h"

struct kq_oci_hasher {
  EVP_MD_CTX *ctx;
  uint64_t bytes;
  bool done;
};

kq_oci_hasher_t *kq_oci_hasher_new(void) {
  kq_oci_hasher_t *h = KQ_NEW(kq_oci_hasher_t);
  h->ctx = EVP_MD_CTX_new();
  if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) abort();
  return h;
}

void kq_oci_hasher_free(kq_oci_hasher_t *h) {
  if (!h) return;
  EVP_MD_CTX_free(h->ctx);
  free(h);
}

void kq_oci_hasher_update(kq_oci_hasher_t *h, const void *data, size_t len) {
  if (h->done || !len) return;
  EVP_DigestUpdate(h->ctx, data, len);
  h->bytes += len;
}

uint64_t kq_oci_hasher_bytes(const kq_oci_hasher_t *h) { return h->bytes; }

static void to_hex(const unsigned char *md, unsigned n, char out[72]) {
  static const char hx[] = "0123456789abcdef";
  memcpy(out, "sha256:", 7);
  for (unsigned i = 0; i < n && i < 32; i++) {
    out[7 + 2 * i] = hx[md[i] >> 4];
    out[8 + 2 * i] = hx[md[i] & 15];
  }
  out[71] = '\0';
}

void kq_oci_hasher_final(kq_oci_hasher_t *h, char out[72]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if (!h->done) EVP_DigestFinal_ex(h->ctx, md, &n);
  h->done = true;
  to_hex(md, n, out);
}

int kq_oci_hasher_check(kq_oci_hasher_t *h, const char *expected) {
  char got[72];
  kq_oci_hasher_final(h, got);
  return expected && strcmp(got, expected) == 0 ? KQ_OK : KQ_EDIGEST;
}

void kq_oci_sha256_hex(const void *data, size_t len, char out[72]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
  to_hex(md, n, out);
}

int kq_oci_sha256_file(const char *path, char out[72], uint64_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return KQ_EIO;
  kq_oci_hasher_t *h = kq_oci_hasher_new();
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) kq_oci_hasher_update(h, buf, n);
  int rc = ferror(f) ? KQ_EIO : KQ_OK;
  fclose(f);
  if (size) *size = h->bytes;
  kq_oci_hasher_final(h, out);
  kq_oci_hasher_free(h);
  return rc;
}
