/* The API client actor's state and the functions its files share (k8s/client*.c only):
 * client.c (actor, answers), client_request.c (queue, token bucket, retries), client_watch.c
 * (list+watch), client_node.c (Node and Lease), client_api.c (helpers run by other actors).
 * Bodies and parsers live in kq_k8s_client_internal.h. */
#ifndef KQ_K8S_CLIENT_ACTOR_INTERNAL_H
#define KQ_K8S_CLIENT_ACTOR_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>

#include "kq_k8s_client.h"

#define COMP "k8s"
#define CT_MERGE "application/merge-patch+json"
#define CT_JSON "application/json"

#define CLIENT_MSGS(X)                                                                        \
  X(K8S_REQ) X(K8S_NODE_STATE) X(K8S_HTTP_DONE) X(K8S_WATCH_CHUNK) X(K8S_WATCH_DONE)          \
  X(K8S_NWATCH_CHUNK) X(K8S_NWATCH_DONE)
KQ_MSG_IDS(client, CLIENT_MSGS)

enum { T_PUMP = 1, T_LEASE, T_STATUS, T_WATCH, T_NWATCH };

typedef enum {
  P_NONE = 0, P_VERSION, P_NODE_CREATE, P_NODE_SPEC, P_NODE_STATUS, P_LEASE_CREATE, P_LEASE_RENEW,
  P_POD_LIST, P_NODE_LIST, P_POD_STATUS, P_POD_DELETE, P_EVENT, P_GET_SECRET, P_GET_CM,
  P_NODE_DELETE, P_LEASE_DELETE,
} purpose_t;

/* A request, queued or in flight. Also the payload of K8S_REQ messages from helpers. */
typedef struct req {
  struct req *next;
  purpose_t purpose;
  char *method;
  char *path;
  char *body;
  const char *ctype;
  char *key;          /* supersede key for status patches ("ns/name") */
  kq_aid_t reply_to;
  uint32_t reply_id;
  uint64_t cookie;
  uint32_t attempts;
  uint64_t not_before_ns;
  kq_http_req_id_t http_id;
  char *ev[6];        /* P_EVENT before rendering: kind, ns, name, uid, reason, message */
  bool ev_warning;
  bool auth_retried;  /* a 401 already made us re-read the token file once */
} req_t;

typedef struct req_msg {
  kq_msg_t hdr;
  req_t *req;
} req_msg_t;

typedef struct node_state_msg {
  kq_msg_t hdr;
  kq_k8s_node_state_t st;
  char *ip;
  char *msg;
} node_state_msg_t;

typedef struct watch {
  kq_http_req_id_t id;
  char *rv;
  char *buf;
  size_t len, cap;
  uint32_t failures;
  bool need_list;
  bool listing;
  bool gone;          /* an ERROR 410 event arrived on this stream */
} watch_t;

typedef struct client {
  kq_actor_t *self;
  kq_system_t *sys;
  kq_k8s_config_t *cfg;
  kq_http_t *http;
  char *node;
  kq_aid_t pod_sub, node_sub;
  uint32_t pod_event_id, node_event_id;
  bool register_node;
  double qps, tokens;
  uint32_t burst;
  uint64_t tokens_ns;
  uint32_t lease_duration_s, lease_renew_s, status_period_s, watch_timeout_s;
  char *kubelet_version;
  kq_k8s_client_stats_t *stats;
  kq_k8s_client_stats_t own_stats;
  uint32_t event_seq;   /* makes Event names unique, so a retried POST cannot duplicate one */
  req_t *node_delete;   /* waits for the Lease delete, so its reply means both are gone */
  req_t *queue, *queue_tail;
  req_t *inflight;
  kq_timer_id_t pump_timer;
  uint64_t pump_at;
  /* node */
  bool have_state, node_created, version_known, spec_dirty, status_dirty, status_inflight, lease_created;
  kq_k8s_node_state_t state;
  char *state_ip, *state_msg;
  bool taint_now;
  uint64_t start_wall_ns, ready_since_ns;
  bool last_ready;
  /* watches */
  watch_t pw, nw;
} client_t;

static inline const kq_clock_t *clk(client_t *c) { return kq_system_clock(c->sys); }

/* ---- requests (client_request.c) ---- */

/* Takes ownership of `path` and `body`; `ctype` must be a string literal. Returns owned. */
req_t *client_req_new(purpose_t p, const char *method, char *path, char *body, const char *ctype);
void client_req_free(req_t *r);
/* Takes `r`: queued (a status patch supersedes a queued one with the same key), then pumped. */
void client_enqueue(client_t *c, req_t *r);
/* Starts what the token bucket allows; arms the pump timer for the rest. */
void client_pump(client_t *c);
/* The in-flight request of HTTP answer `id`, unlinked (owned), or NULL. */
req_t *client_take_inflight(client_t *c, kq_http_req_id_t id);
/* Retry-After seconds from `headers` (may be NULL), else exponential backoff 0.5 s .. 30 s. */
uint64_t client_backoff_ns(uint32_t attempt, const char *headers);
/* Takes `r` back into the queue when its answer calls for another attempt (401 with a token
 * file, transport errors, 429, 5xx, 403) and returns true; false: the answer is final. */
bool client_retry(client_t *c, req_t *r, const kq_http_resp_t *resp);
/* KQ_OK, KQ_ENOENT, KQ_EAUTH, KQ_EEXIST or KQ_EHTTP for an HTTP status. */
int client_rc_for_status(long status);
/* kq_k8s_result_msg_t to the requester, when it asked for one. */
void client_reply(client_t *c, req_t *r, int rc, long status, const char *error);

/* ---- Node and Lease (client_node.c) ---- */

/* Registers the Node or sends what changed (spec, status), once /version and a state are known. */
void client_node_kick(client_t *c);
void client_lease_renew(client_t *c);
/* Adopts the state in `m` (its strings are moved out). */
void client_set_node_state(client_t *c, node_state_msg_t *m);

/* ---- list + watch (client_watch.c) ---- */

void client_watch_start(client_t *c, watch_t *w, bool pods);
void client_pod_list(client_t *c);
void client_node_list(client_t *c);
void client_watch_chunk(client_t *c, watch_t *w, bool pods, kq_http_chunk_t *ch);
void client_watch_done(client_t *c, watch_t *w, bool pods, kq_http_resp_t *r);
/* The answer to a pod or node list (rc: its outcome): publish and watch, or retry later. */
void client_pod_list_done(client_t *c, kq_http_resp_t *resp, int rc);
void client_node_list_done(client_t *c, kq_http_resp_t *resp, int rc);

#endif
