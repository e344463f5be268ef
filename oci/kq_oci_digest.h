/* Streaming sha256 for blobs: fed chunk by chunk while a download streams, then checked against
 * the descriptor's digest. OpenSSL EVP underneath. */
#ifndef KQ_OCI_DIGEST_H
#define KQ_OCI_DIGEST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kq_oci_hasher kq_oci_hasher_t;

/* Returns owned (free with kq_oci_hasher_free). */
kq_oci_hasher_t *kq_oci_hasher_new(void);
void kq_oci_hasher_free(kq_oci_hasher_t *h);
void kq_oci_hasher_update(kq_oci_hasher_t *h, const void *data, size_t len);
uint64_t kq_oci_hasher_bytes(const kq_oci_hasher_t *h);
/* Finishes into "sha256:<hex>" (out needs 72 bytes). The hasher can not be fed afterwards. */
void kq_oci_hasher_final(kq_oci_hasher_t *h, char out[72]);
/* Finishes and compares with `expected`: KQ_OK or KQ_EDIGEST. */
int kq_oci_hasher_check(kq_oci_hasher_t *h, const char *expected);

/* One-shot digests. */
void kq_oci_sha256_hex(const void *data, size_t len, char out[72]);
/* Hashes a file; KQ_OK or KQ_EIO. */
int kq_oci_sha256_file(const char *path, char out[72], uint64_t *size);

#endif
