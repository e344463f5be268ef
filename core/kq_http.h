/* HTTP client on curl's multi-socket API, driven by the system's event_base. Each request names
 * the actor and message ids for its reply; curl callbacks only turn events into messages. Bodies
 * are either collected (bounded) or streamed in chunks (watches, large blobs). TLS via OpenSSL. */
#ifndef KQ_HTTP_H
#define KQ_HTTP_H
#include <stddef.h>
#include <stdint.h>

#include "kq_actor.h"

typedef struct kq_http kq_http_t;
typedef uint64_t kq_http_req_id_t;   /* 0 = none */

typedef struct kq_http_header {
  const char *name;
  const char *value;
} kq_http_header_t;

typedef struct kq_http_tls {
  const char *ca_file;        /* PEM bundle; NULL = system store */
  const char *ca_pem;         /* in-memory PEM (takes precedence over ca_file) */
  const char *cert_file;      /* client certificate (PEM) */
  const char *key_file;
  const char *cert_pem;       /* in-memory client cert/key (PEM) */
  const char *key_pem;
  bool insecure;              /* skip server verification */
} kq_http_tls_t;

typedef struct kq_http_req {
  const char *method;         /* NULL = GET */
  const char *url;
  const kq_http_header_t *headers;
  size_t nheaders;
  const void *body;           /* copied at submit */
  size_t body_len;
  kq_aid_t owner;             /* reply goes here */
  uint32_t done_id;           /* message id of the kq_http_resp_t */
  uint32_t chunk_id;          /* 0 = collect the body; else stream kq_http_chunk_t messages */
  size_t max_body;            /* collect mode: larger bodies fail with KQ_ETOOBIG; 0 = 16 MiB */
  uint32_t timeout_ms;        /* whole request; 0 = none (watches) */
  uint32_t connect_timeout_ms;/* 0 = 10 s */
  const kq_http_tls_t *tls;   /* NULL = defaults; strings are copied */
  bool no_follow;             /* do not follow redirects */
} kq_http_req_t;

/* Final message of a request (id = req.done_id). Always sent exactly once unless canceled.
 * rc: KQ_OK (any HTTP status), KQ_ETIMEDOUT, KQ_ENET (connect/reset), KQ_ETLS (handshake,
 * verification, refused client cert), KQ_ETOOBIG (max_body, or a header block over 256 KiB),
 * KQ_EPROTO (bad reply, too many redirects), KQ_EINVAL (bad URL), KQ_EIO (other). Metrics:
 * kuack_http_requests_total{result="ok|error|canceled"} in kq_system_metrics. */
typedef struct kq_http_resp {
  kq_msg_t hdr;
  kq_http_req_id_t req;
  int rc;                     /* KQ_OK when an HTTP response arrived (any status) */
  long status;
  char *headers;              /* raw response header block of the final response, owned */
  char *body;                 /* collect mode: NUL-terminated body, owned; NULL in stream mode */
  size_t body_len;
  char *error;                /* curl's message on failure, owned, may be NULL */
} kq_http_resp_t;

/* Streamed body piece (id = req.chunk_id), in order, before the final message. */
typedef struct kq_http_chunk {
  kq_msg_t hdr;
  kq_http_req_id_t req;
  long status;                /* status of the response the bytes belong to */
  size_t len;
  char *data;                 /* owned */
} kq_http_chunk_t;

/* Returns owned; the client counts as one system handle while requests are in flight. */
kq_http_t *kq_http_new(kq_system_t *sys);
/* Cancels every request (no replies) and frees the client. */
void kq_http_free(kq_http_t *h);

/* Starts a request. Copies everything in `req`. Returns its id, 0 on invalid input. */
kq_http_req_id_t kq_http_start(kq_http_t *h, const kq_http_req_t *req);
/* Cancels a request: no more messages for it are sent (chunks already queued in the owner's
 * mailbox still arrive; match on `req`). KQ_ENOENT if it already finished. Loop thread only,
 * never from inside another kq_http call. */
int kq_http_cancel(kq_http_t *h, kq_http_req_id_t id);
/* Cancels every request owned by `owner` (call from an actor's stop). Returns how many. */
size_t kq_http_cancel_owner(kq_http_t *h, kq_aid_t owner);
/* Stream mode flow control: pause/resume delivery of chunks for one request (curl stops reading
 * the socket, so the server is pushed back). KQ_ENOENT unknown id, KQ_EINVAL in collect mode.
 * The client also pauses a stream by itself while its owner is overloaded (kq_actor_overloaded)
 * and resumes it when the mailbox drains (kuack_http_flow_pauses_total counts these). */
int kq_http_pause(kq_http_t *h, kq_http_req_id_t id, bool paused);
size_t kq_http_inflight(const kq_http_t *h);

/* Finds header `name` (case-insensitive) in a raw header block; copies its value into `out`.
 * Returns KQ_OK, KQ_ENOENT or KQ_ETOOBIG. */
int kq_http_header_get(const char *headers, const char *name, char *out, size_t outlen);

#endif
