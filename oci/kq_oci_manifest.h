/* OCI / Docker manifests, indexes and image configs parsed into plain C structs (cJSON stays in
 * oci/), and the choice of the wasm variant: `os: wasi` + `architecture: wasm` and the other
 * spellings seen in the wild, a single-platform wasi image, or the CNCF wasm artifact form. */
#ifndef KQ_OCI_MANIFEST_H
#define KQ_OCI_MANIFEST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kq_oci_ref.h"

#define KQ_OCI_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define KQ_OCI_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define KQ_OCI_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define KQ_OCI_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define KQ_OCI_MT_WASM_CONFIG "application/vnd.wasm.config.v0+json"
#define KQ_OCI_MT_WASM_LAYER "application/wasm"
/* The Accept header every manifest request sends (an index behind a tag 404s without it). */
#define KQ_OCI_ACCEPT                                                                      \
  KQ_OCI_MT_OCI_INDEX ", " KQ_OCI_MT_OCI_MANIFEST ", " KQ_OCI_MT_DOCKER_LIST ", " \
  KQ_OCI_MT_DOCKER_MANIFEST

#define KQ_OCI_MAX_ITEMS 1024           /* manifests in an index / layers in a manifest */
#define KQ_OCI_MAX_MANIFEST_BYTES (4u << 20)
#define KQ_OCI_MAX_CONFIG_BYTES (8u << 20)

typedef struct kq_oci_desc {
  char media_type[256];
  char digest[KQ_OCI_DIGEST_MAX];
  int64_t size;
  char os[64], arch[64], variant[64];   /* index entries only */
  char title[256];                      /* annotation org.opencontainers.image.title, if any */
} kq_oci_desc_t;

typedef enum { KQ_OCI_DOC_INDEX = 1, KQ_OCI_DOC_MANIFEST = 2 } kq_oci_doc_kind_t;

typedef struct kq_oci_manifest {
  kq_oci_doc_kind_t kind;
  char media_type[256];     /* from the document, else the Content-Type */
  char artifact_type[256];
  kq_oci_desc_t config;     /* manifests only */
  kq_oci_desc_t *items;     /* index: manifests; manifest: layers. Owned. */
  size_t nitems;
} kq_oci_manifest_t;

typedef struct kq_oci_config {
  char os[64], arch[64], variant[64];
  char **entrypoint; size_t nentrypoint;   /* owned strings */
  char **cmd; size_t ncmd;
  char **env; size_t nenv;                 /* "K=V" */
  char *working_dir;
} kq_oci_config_t;

/* Parses a manifest or index. `content_type` (may be NULL) decides when the document has no
 * mediaType. Returns KQ_OK, KQ_EPARSE (bad JSON / missing fields / bad digest) or KQ_ENOTSUP
 * (schema 1, unknown type), message in `err`. On success free with kq_oci_manifest_free. */
int kq_oci_manifest_parse(const char *body, size_t len, const char *content_type,
                          kq_oci_manifest_t *out, char *err, size_t errlen);
void kq_oci_manifest_free(kq_oci_manifest_t *m);

/* Parses an image config (OCI/Docker, or the CNCF wasm config). Missing fields are left empty.
 * Returns KQ_OK or KQ_EPARSE; free with kq_oci_config_free. */
int kq_oci_config_parse(const char *body, size_t len, kq_oci_config_t *out, char *err, size_t errlen);
void kq_oci_config_free(kq_oci_config_t *c);
/* Deep copy of a string vector (n entries); returns owned (free with kq_oci_strv_free). */
char **kq_oci_strv_dup(char *const *v, size_t n);
void kq_oci_strv_free(char **v, size_t n);

/* True when the platform names a WebAssembly/WASI target: os wasi/wasip1/wasip2 (any arch), or
 * arch wasm/wasm32 (os empty, wasi*, "wasm", "unknown"), and the swapped spelling. Pure. */
bool kq_oci_platform_is_wasm(const char *os, const char *arch, const char *variant);

/* Picks the wasm entry of an index. Returns its index in m->items (>= 0), or KQ_ENOENT with a
 * message naming the platforms present ("no wasi/wasm variant; platforms: linux/amd64, ..."). */
int kq_oci_index_select_wasm(const kq_oci_manifest_t *m, char *err, size_t errlen);

/* True when the manifest is the CNCF wasm artifact form (wasm config media type or a single
 * application/wasm layer). */
bool kq_oci_manifest_is_wasm_artifact(const kq_oci_manifest_t *m);

/* Layer encodings the extractor understands. */
typedef enum {
  KQ_OCI_LAYER_UNKNOWN = 0,
  KQ_OCI_LAYER_TAR,
  KQ_OCI_LAYER_TAR_GZIP,
  KQ_OCI_LAYER_TAR_ZSTD,
  KQ_OCI_LAYER_WASM,     /* raw module */
} kq_oci_layer_kind_t;
kq_oci_layer_kind_t kq_oci_layer_kind(const char *media_type);

#endif
