/* One pull of one image reference, as a state machine driven by its owner actor's messages:
 * manifest (tag or digest; index → wasm variant) → config → layer blobs (streamed to staging files,
 * sha256-verified, blob-level dedupe through the store) → extraction + entry detection on the
 * worker pool → artefact committed to the store. Auth: anonymous, Basic, Bearer token flow, with
 * credentials from Docker config.json strings; Bearer tokens are reused through a shared cache.
 * Retries 5xx/429/network errors with exponential backoff, waiting at least what a Retry-After
 * header asks for (up to a cap). Layers another pull is already fetching are waited for, not
 * fetched twice (in-flight table). The owner forwards every message to kq_oci_pull_handle();
 * `done` is called once. */
#ifndef KQ_OCI_PULL_H
#define KQ_OCI_PULL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kq_actor.h"
#include "kq_http.h"
#include "kq_pool.h"
#include "kq_oci_auth.h"
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

/* Retry-After value → delay from `now_wall_ns` (0 for a date in the past). KQ_OK or KQ_EPARSE. */
int kq_oci_retry_after_parse(const char *value, uint64_t now_wall_ns, uint64_t *delay_ns);

/* In-flight blob table (one per node, loop thread only): the first pull that needs a blob claims
 * it and downloads it; later pulls of any image needing the same digest wait and are woken with a
 * kq_oci_blob_wake_t when the claimer releases it (stored, failed or cancelled), then look in the
 * store again (and claim it themselves if it is still missing). */
typedef struct kq_oci_inflight kq_oci_inflight_t;
typedef struct kq_oci_blob_wake {
  kq_msg_t hdr;
  uint64_t cookie;                    /* the waiter's cookie */
  char digest[KQ_OCI_DIGEST_MAX];
} kq_oci_blob_wake_t;
kq_oci_inflight_t *kq_oci_inflight_new(kq_system_t *sys);   /* returns owned */
void kq_oci_inflight_free(kq_oci_inflight_t *t);            /* drops waiters silently */
/* True: the caller now owns the download of `digest`. False: it is being downloaded; `waiter`
 * gets message `wake_id` (cookie echoed) when it is released. */
bool kq_oci_inflight_claim(kq_oci_inflight_t *t, const char *digest, kq_aid_t waiter, uint32_t wake_id,
                           uint64_t cookie);
/* Ends the claim on `digest` and wakes its waiters. No-op when not claimed. */
void kq_oci_inflight_release(kq_oci_inflight_t *t, const char *digest);
size_t kq_oci_inflight_count(const kq_oci_inflight_t *t);    /* blobs being downloaded */

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
  kq_oci_token_cache_t *tokens; /* borrowed, shared Bearer token cache; NULL = no reuse */
  uint64_t max_retry_after_ns;  /* a longer Retry-After fails the pull at once; 0 = 60 s */
  kq_oci_inflight_t *inflight;  /* borrowed, shared in-flight blob table; NULL = no dedupe */
  uint32_t blob_wake_id;        /* owner's message id for kq_oci_blob_wake_t (with inflight) */
} kq_oci_pull_env_t;

typedef struct kq_oci_pull_result {
  int rc;                       /* KQ_OK or the error */
  kq_oci_reason_t reason;
  char message[768];
  kq_oci_artefact_t art;        /* on success; owned by the result (kq_oci_artefact_free) */
  uint32_t blobs_fetched;       /* for tests/metrics: blobs actually downloaded */
  uint32_t blobs_waited;        /* blobs another pull was downloading (waited for instead) */
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
