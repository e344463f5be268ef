/* One pull of one image reference, as a state machine driven by its owner actor's messages:
 * manifest (tag or digest; index → wasm variant) → config → layer blobs (streamed to staging files,
 * sha256-verified, blob-level dedupe through the store) → extraction + entry detection on the
 * worker pool → artefact committed to the store. Auth: anonymous, Basic, Bearer token flow, with
 * credentials from Docker config.json strings. Retries 5xx/429/network errors with exponential
 * backoff. The owner forwards every message to kq_oci_pull_handle(); `done` is called once. */
#ifndef KQ_OCI_PULL_H
#define KQ_OCI_PULL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kq_actor.h"
#include "kq_http.h"
#include "kq_pool.h"
#include "kq_oci_extract.h"
#include "kq_oci_ref.h"
#include "kq_oci_store.h"

/* Kubernetes-visible reasons (containerStatuses[].state.waiting.reason). */
typedef enum {
  KQ_OCI_REASON_NONE = 0,
  KQ_OCI_REASON_ERR_IMAGE_PULL,       /* "ErrImagePull" */
  KQ_OCI_REASON_BACKOFF,              /* "ImagePullBackOff" */
  KQ_OCI_REASON_INVALID_NAME,         /* "InvalidImageName" */
  KQ_OCI_REASON_NEVER_PULL,           /* "ErrImageNeverPull" */
} kq_oci_reason_t;
const char *kq_oci_reason_str(kq_oci_reason_t r);

typedef struct kq_oci_pull_env {
  kq_http_t *http;              /* borrowed */
  kq_pool_t *pool;              /* borrowed */
  kq_oci_store_t *store;        /* borrowed */
  const char *const *insecure;  /* registries spoken to over plain http ("127.0.0.1:5000") */
  size_t ninsecure;
  uint32_t http_done_id;        /* owner's message ids for kq_http_resp_t / kq_http_chunk_t */
  uint32_t http_chunk_id;
  uint32_t pool_done_id;        /* kq_pool_msg_t */
  uint64_t timer_tag;           /* tag of the owner's retry timers */
  uint32_t max_retries;         /* per request; 0 = 4 */
  uint64_t backoff_ns;          /* first retry delay; 0 = 200 ms (doubles) */
  uint32_t timeout_ms;          /* per request; 0 = 120 s */
  uint64_t max_blob_bytes;      /* 0 = 2 GiB */
  kq_oci_extract_limits_t limits;
  const kq_http_tls_t *tls;     /* NULL = system CAs */
} kq_oci_pull_env_t;

typedef struct kq_oci_pull_result {
  int rc;                       /* KQ_OK or the error */
  kq_oci_reason_t reason;
  char message[768];
  kq_oci_artefact_t art;        /* on success; owned by the result (kq_oci_artefact_free) */
  uint32_t blobs_fetched;       /* for tests/metrics: blobs actually downloaded */
} kq_oci_pull_result_t;

typedef struct kq_oci_pull kq_oci_pull_t;
typedef void (*kq_oci_pull_done_fn)(kq_actor_t *self, void *ud, kq_oci_pull_result_t *res);

/* Starts pulling `ref` for actor `self`. `secrets` are Docker config.json texts (copied). `done`
 * borrows the result for the duration of the call (move `art` out with kq_oci_artefact_copy or by
 * taking its vectors and zeroing them). Returns owned; free after done (or to cancel). */
kq_oci_pull_t *kq_oci_pull_start(kq_actor_t *self, const kq_oci_pull_env_t *env, const kq_oci_ref_t *ref,
                                 const char *const *secrets, size_t nsecrets, kq_oci_pull_done_fn done,
                                 void *ud);
/* Feeds a message; returns true when it belonged to this pull. */
bool kq_oci_pull_handle(kq_oci_pull_t *p, kq_actor_t *self, kq_msg_t *m);
/* Cancels outstanding requests (a queued pool job's reply is ignored) and frees. */
void kq_oci_pull_free(kq_oci_pull_t *p);

#endif
