/* Image actors: one per image reference (canonical text), each resolving, pulling, extracting and
 * caching the wasm variant through oci/. Concurrent requests for one image share one pull; layers
 * shared by several images are fetched once (blob-level dedupe in the store, and an in-flight
 * table so concurrent pulls of different images wait for one download); Bearer tokens are cached
 * per (registry, scope, credentials) across pulls; a failed pull puts
 * the image in back-off (10 s doubling to 5 min) during which requests get ImagePullBackOff.
 *
 * Use through the image service (one per node):
 *   svc = kq_image_service_new(sys, &opts);
 *   kq_image_request_t rq = {.image = "ghcr.io/x/y:v1", .policy = KQ_PULL_IF_NOT_PRESENT,
 *                            .reply_to = kq_self(self), .reply_id = MY_IMAGE_READY, .cookie = 7};
 *   kq_image_service_request(svc, &rq);       // copies everything
 *   ... later the requester receives a kq_image_reply_t with id MY_IMAGE_READY.
 * Invalid references are answered at once (InvalidImageName) without spawning an actor.
 * Running Pods pin their artefact (kq_image_service_pin/unpin) so the cache never evicts it. */
#ifndef KQ_IMAGE_H
#define KQ_IMAGE_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kq_actor.h"
#include "kq_http.h"
#include "kq_oci_pull.h"
#include "kq_oci_store.h"
#include "kq_pool.h"

typedef enum {
  KQ_PULL_IF_NOT_PRESENT = 0,   /* Kubernetes default for tags other than :latest */
  KQ_PULL_ALWAYS,               /* resolve the tag every time (blobs still come from the cache) */
  KQ_PULL_NEVER,                /* cache only, else ErrImageNeverPull */
} kq_pull_policy_t;

/* Parses "Always" | "IfNotPresent" | "Never" ("" → default for the image: Always for :latest or
 * no tag, IfNotPresent otherwise, like Kubernetes). Returns KQ_OK or KQ_EINVAL. */
int kq_pull_policy_parse(const char *s, const char *image, kq_pull_policy_t *out);

typedef struct kq_image_request {
  const char *image;                 /* as written in the Pod spec */
  kq_pull_policy_t policy;
  const char *const *secrets;        /* Docker config.json texts (imagePullSecrets), may be NULL */
  size_t nsecrets;
  const char *wasm_type;             /* annotation kuack.io/wasm-type, NULL = detect */
  const char *wasm_path;             /* annotation kuack.io/wasm-path, NULL = detect */
  kq_aid_t reply_to;
  uint32_t reply_id;                 /* message id of the kq_image_reply_t */
  uint64_t cookie;                   /* echoed back */
} kq_image_request_t;

/* The answer (id = request.reply_id, from = the image actor or KQ_AID_NONE). */
typedef struct kq_image_reply {
  kq_msg_t hdr;
  uint64_t cookie;
  int rc;                            /* KQ_OK or the error */
  kq_oci_reason_t reason;            /* KQ_OCI_REASON_NONE on success; kq_oci_reason_str() names it */
  char message[768];                 /* human message for the Pod status / Event */
  kq_oci_artefact_t art;             /* digest (imageID), kind, module, glue, entrypoint/cmd/env; owned.
                                      * art.module_digest / art.module_size describe the module file
                                      * itself (sha256, bytes), computed off the loop, always set on
                                      * success: requesters need not hash the module. */
  char root[PATH_MAX];               /* artefact root on disk (module/glue are relative to it) */
} kq_image_reply_t;

typedef struct kq_image_service_opts {
  kq_http_t *http;                   /* borrowed, all three must outlive the service */
  kq_pool_t *pool;
  kq_oci_store_t *store;
  const char *const *insecure;       /* --insecure-registry hosts (copied) */
  size_t ninsecure;
  uint32_t max_retries;              /* per request (0 = 4) */
  uint64_t retry_backoff_ns;         /* first retry delay (0 = 200 ms) */
  uint64_t fail_backoff_ns;          /* ImagePullBackOff window after a failure (0 = 10 s) */
  kq_oci_extract_limits_t limits;
  const kq_http_tls_t *tls;
  uint64_t max_retry_after_ns;       /* longest Retry-After a pull waits for (0 = 60 s) */
} kq_image_service_opts_t;

typedef struct kq_image_service kq_image_service_t;

/* Returns owned. Free it only after the actor system has shut down (image actors borrow it). */
kq_image_service_t *kq_image_service_new(kq_system_t *sys, const kq_image_service_opts_t *opts);
void kq_image_service_free(kq_image_service_t *svc);
/* Routes a request to the image actor for req->image (spawning it if needed). Copies `req`.
 * Returns KQ_OK, or KQ_EINVAL after replying InvalidImageName. */
int kq_image_service_request(kq_image_service_t *svc, const kq_image_request_t *req);
/* Address of the actor for `image` (KQ_AID_NONE if none is alive). */
kq_aid_t kq_image_service_lookup(kq_image_service_t *svc, const char *image);
kq_oci_store_t *kq_image_service_store(kq_image_service_t *svc);
int kq_image_service_pin(kq_image_service_t *svc, const char *digest);
int kq_image_service_unpin(kq_image_service_t *svc, const char *digest);

/* Pulls started by all image actors so far (metrics/tests). */
uint64_t kq_image_service_pulls(const kq_image_service_t *svc);
/* Replies that needed a pool job first (annotation overrides, or a module digest to compute). */
uint64_t kq_image_service_preps(const kq_image_service_t *svc);
/* Bearer tokens currently cached (shared by all pulls; reused until shortly before expiry). */
size_t kq_image_service_tokens_cached(const kq_image_service_t *svc);
/* The shared token cache (borrowed; tests plant or inspect entries). */
kq_oci_token_cache_t *kq_image_service_token_cache(kq_image_service_t *svc);

#endif
