/* The kubelet HTTP API on the system's event_base: /healthz, /pods and /containerLogs (tail,
 * since, limitBytes, timestamps, previous, follow). Plain HTTP for standalone mode, HTTPS with
 * client certificates verified against the API server's kubelet client CA for `kubectl logs`.
 * Data comes from a provider vtable, so this module never sees the actors that own pods and logs. */
#ifndef KQ_KUBELET_H
#define KQ_KUBELET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kq_actor.h"
#include "kq_http.h"

typedef struct kq_kubelet kq_kubelet_t;

/* Which container's log a request names (borrowed strings, valid for the call). */
typedef struct kq_kubelet_log_ref {
  const char *ns;
  const char *pod;
  const char *container;
} kq_kubelet_log_ref_t;

/* A parsed log request (what the provider applies on a read). */
typedef struct kq_kubelet_log_query {
  bool previous;          /* the previous run's log */
  bool timestamps;        /* RFC 3339 nano time and a space before each line */
  int64_t tail_lines;     /* < 0 = all; ignored when from_seq != 0 */
  uint64_t since_wall_ns; /* 0 = all */
  int64_t limit_bytes;    /* < 0 = unlimited (the server also enforces it across follow reads) */
} kq_kubelet_log_query_t;

/* Follow callbacks, called on the loop thread. `on_data`: new lines may be readable (the server
 * reads from its next sequence); `on_end`: the run ended or the stream went, called once, after
 * which the subscription is already gone (no unfollow needed). The server never unfollows from
 * inside these callbacks. */
typedef struct kq_kubelet_follow_cb {
  void (*on_data)(void *ud);
  void (*on_end)(void *ud);
  void *ud;
} kq_kubelet_follow_cb_t;

/* Where the data comes from. Every function runs on the loop thread. Errors: KQ_ENOENT (no such
 * pod or container, answered 404), anything else (answered 400); `*err` may carry an owned
 * (free()) human-readable message used as the response body. */
typedef struct kq_kubelet_provider {
  void *ud;
  /* A PodList as JSON. Returns owned (free()), length in *len; NULL = 500. */
  char *(*pods_json)(void *ud, size_t *len);
  /* Reads lines selected by `q` from the start (from_seq == 0) or from sequence from_seq on.
   * Sets owned *text (free()) and *len, the next sequence to read in *next_seq and whether the
   * run has ended (no more lines will come) in *ended. */
  int (*logs_read)(void *ud, const kq_kubelet_log_ref_t *ref, const kq_kubelet_log_query_t *q,
                   uint64_t from_seq, char **text, size_t *len, uint64_t *next_seq, bool *ended,
                   char **err);
  /* Subscribes to new lines of the current run. Returns KQ_OK and a non-zero *sub. */
  int (*logs_follow)(void *ud, const kq_kubelet_log_ref_t *ref, const kq_kubelet_follow_cb_t *cb,
                     uint64_t *sub, char **err);
  /* Cancels a subscription (unknown or already ended ids are ignored). */
  void (*logs_unfollow)(void *ud, uint64_t sub);
} kq_kubelet_provider_t;

typedef struct kq_kubelet_opts {
  const char *address;        /* listen address; NULL = "0.0.0.0" */
  uint16_t port;              /* 0 = ephemeral (see kq_kubelet_port) */
  bool tls;                   /* false = plain HTTP (standalone mode) */
  const char *cert_file;      /* TLS serving cert/key (PEM); both NULL = self-signed at start */
  const char *key_file;
  const char *client_ca_file; /* TLS: client certificates must chain to this CA */
  bool allow_anonymous;       /* TLS: serve requests without a verified client certificate */
  const char *hostname;       /* self-signed certificate CN/SAN; NULL = "kuack-node" */
  size_t max_follows;         /* concurrent follow streams; beyond → 503; 0 = 1024 */
  int timeout_s;              /* idle/read timeout of a connection (not of follow streams); 0 = 60 */
} kq_kubelet_opts_t;

/* Starts listening. `provider` is copied (its ud is borrowed and must outlive the server). In TLS
 * mode a client CA is required unless allow_anonymous. The server counts as one system handle
 * until kq_kubelet_free. Returns owned, or NULL with *err (KQ_EINVAL bad options, KQ_ETLS bad
 * certificate/key/CA, KQ_ENET cannot listen) and an owned *errmsg (free(); may be NULL). */
kq_kubelet_t *kq_kubelet_new(kq_system_t *sys, const kq_kubelet_opts_t *opts,
                             const kq_kubelet_provider_t *provider, int *err, char **errmsg);
/* Ends every follow stream (final chunk, subscription cancelled), closes all connections and the
 * listener, and releases the system handle. NULL is a no-op. */
void kq_kubelet_free(kq_kubelet_t *k);

/* Authorization of authenticated callers (TLS mode), like a kubelet with
 * --authorization-mode=Webhook: /pods and /containerLogs need `get` on nodes/proxy for this
 * node, decided by a SubjectAccessReview with the API server for the user in the client
 * certificate (CN user, O groups, plus system:authenticated) and cached. Denied → 403; no
 * decision (API unreachable) → 503, not cached. /healthz needs authentication only. */
typedef struct kq_kubelet_authz_opts {
  struct kq_k8s_config *config; /* borrowed; must outlive the server (token re-read uses it) */
  kq_http_t *http;              /* borrowed; valid until kq_kubelet_free or the system's shutdown,
                                 * whichever comes first (both cancel the reviews in flight) */
  const char *node_name;        /* copied; the `name` in the review */
  uint32_t allow_ttl_s;         /* cache lifetime of an allowed decision; 0 = 300 */
  uint32_t deny_ttl_s;          /* of a denied one; 0 = 30 */
} kq_kubelet_authz_opts_t;
/* Turns authorization on (once; KQ_EEXIST after). Needs TLS with client certificates. */
int kq_kubelet_set_authz(kq_kubelet_t *k, const kq_kubelet_authz_opts_t *o);
/* SubjectAccessReviews sent so far (cache misses). */
uint64_t kq_kubelet_authz_reviews(const kq_kubelet_t *k);

/* The port actually bound. */
uint16_t kq_kubelet_port(const kq_kubelet_t *k);
/* Follow streams currently open. */
size_t kq_kubelet_follows(const kq_kubelet_t *k);
/* Requests answered so far (any status). */
uint64_t kq_kubelet_requests(const kq_kubelet_t *k);

#endif
