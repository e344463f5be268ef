/* Image references ("nginx", "ghcr.io/a/b:v1", "host:5000/x@sha256:...") parsed the way Docker
 * does: docker.io and library/ defaults, tag "latest" unless a digest is given, lowercase path
 * components, tag and digest grammar. Failures become InvalidImageName on the Pod. */
#ifndef KQ_OCI_REF_H
#define KQ_OCI_REF_H
#include <stdbool.h>
#include <stddef.h>

#define KQ_OCI_DIGEST_MAX 80   /* "sha256:" + 64 hex + NUL fits; sha512 does not (refused) */

typedef struct kq_oci_ref {
  char registry[256];   /* canonical domain: "docker.io", "ghcr.io", "127.0.0.1:5000" */
  char repo[256];       /* "library/nginx" */
  char tag[129];        /* "latest" when neither tag nor digest was given; "" if digest only */
  char digest[KQ_OCI_DIGEST_MAX]; /* "sha256:<64 hex>" or "" */
} kq_oci_ref_t;

/* Parses `s` into `out`. Returns KQ_OK or KQ_EINVAL with a reason in `err` (may be NULL). Pure. */
int kq_oci_ref_parse(const char *s, kq_oci_ref_t *out, char *err, size_t errlen);

/* Host to talk HTTP to: "registry-1.docker.io" for docker.io, else the registry itself. Borrowed
 * from `r` or static. */
const char *kq_oci_ref_api_host(const kq_oci_ref_t *r);

/* The manifest reference to fetch: the digest when present, else the tag. Borrowed from `r`. */
const char *kq_oci_ref_target(const kq_oci_ref_t *r);

/* Canonical text "docker.io/library/nginx:latest" / "...@sha256:..." (tag and digest both kept
 * when both were given). Writes into buf; returns KQ_OK or KQ_ETOOBIG. */
int kq_oci_ref_format(const kq_oci_ref_t *r, char *buf, size_t len);

/* Last path component of the repository ("nginx"), borrowed from `r`. */
const char *kq_oci_ref_basename(const kq_oci_ref_t *r);

/* True for "sha256:<64 lowercase hex>". */
bool kq_oci_digest_valid(const char *d);

#endif
