/* The API server client: one actor that owns everything kuack says to and hears from the API
 * server. It registers and maintains the Node (labels, taints, capacity, conditions, addresses,
 * kubelet endpoint), renews the node Lease every 10 s, lists+watches the Pods bound to the node
 * (resourceVersion tracking, bookmarks, 410 Gone → relist, reconnect with backoff), watches
 * the own Node for annotation changes, and carries out requests from pod and node actors
 * (status patches, Events, deletes, Secret/ConfigMap reads). Requests pass a client-side token
 * bucket (QPS/burst) and are retried on 429/5xx honouring Retry-After. Everything reaches the
 * consumers as messages carrying decoded C structs (kq_k8s_types.h); JSON stays in k8s/. */
#ifndef KQ_K8S_CLIENT_H
#define KQ_K8S_CLIENT_H
#include <stdbool.h>
#include <stdint.h>

#include "kq_actor.h"
#include "kq_http.h"
#include "kq_k8s_config.h"
#include "kq_k8s_types.h"

/* ---- spawning ---- */

typedef struct kq_k8s_client_opts {
  kq_k8s_config_t *config;  /* borrowed; must outlive the actor (token re-read uses it) */
  kq_http_t *http;          /* borrowed; must outlive the actor */
  const char *node_name;    /* copied; default "kuack-node" */
  kq_aid_t pod_subscriber;  /* receives kq_k8s_pod_event_msg_t (id pod_event_id); NONE = no pod watch */
  uint32_t pod_event_id;
  kq_aid_t node_subscriber; /* receives kq_k8s_node_event_msg_t (id node_event_id); NONE = none */
  uint32_t node_event_id;
  bool register_node;       /* create/update the Node and renew its Lease (false: watch only) */
  double qps;               /* 0 = 20 */
  uint32_t burst;           /* 0 = 40 */
  uint32_t lease_duration_s;/* 0 = 40 */
  uint32_t lease_renew_s;   /* 0 = 10 */
  uint32_t status_period_s; /* node status re-sent even without change; 0 = 60 */
  uint32_t watch_timeout_s; /* server-side watch timeout before a re-watch; 0 = 300 */
  const char *kubelet_version; /* copied; NULL = "<server gitVersion>-kuack-node" from /version */
  const char *resume_rv;    /* copied; resume the pod watch from this resourceVersion instead of
                             * listing first (after a restart); too old → 410 → relist + SYNC */
  struct kq_k8s_client_stats *stats; /* borrowed, may be NULL: counters updated by the client */
} kq_k8s_client_opts_t;

/* Spawns the client (borrowing `opts` during the call). Returns its address or KQ_AID_NONE. */
kq_aid_t kq_k8s_client_spawn(kq_system_t *sys, const kq_k8s_client_opts_t *opts, int *err);
extern const kq_actor_type_t kq_k8s_client_type;

/* ---- published to subscribers ---- */

typedef enum kq_k8s_watch_kind {
  KQ_K8S_POD_ADDED = 1,
  KQ_K8S_POD_MODIFIED = 2,
  KQ_K8S_POD_DELETED = 3,   /* the object is gone from the API (final state in `pod`) */
  /* After every (re)list: `pods` is the complete set bound to the node at resourceVersion `rv`.
   * Anything the consumer tracks that is not in it was deleted while nobody watched; anything
   * in it may be new or changed. The first SYNC is the start-up reconcile; later ones follow a
   * 410 Gone (`relist` true). ADDED/MODIFIED for the same pods are not sent separately. */
  KQ_K8S_POD_SYNC = 4,
} kq_k8s_watch_kind_t;

typedef struct kq_k8s_pod_event_msg {
  kq_msg_t hdr;               /* id = opts.pod_event_id; dtor frees everything below */
  kq_k8s_watch_kind_t kind;
  kq_pod_t pod;               /* ADDED / MODIFIED / DELETED: owned by the message */
  kq_pod_t *pods;             /* SYNC: owned array */
  size_t npods;
  bool relist;                /* SYNC caused by 410 Gone (or a watch that could not resume) */
  char *rv;                   /* resourceVersion after this event, owned */
} kq_k8s_pod_event_msg_t;

/* The own Node as seen by the watch (first one after the first list, then on every change of
 * labels or annotations): what the node actor needs for `kuack.io/placement-policy` etc. */
typedef struct kq_k8s_node_event_msg {
  kq_msg_t hdr;               /* id = opts.node_event_id; dtor frees meta */
  kq_k8s_meta_t meta;         /* name, labels, annotations, resourceVersion (owned) */
  bool deleted;               /* somebody deleted the Node object (it is re-created) */
} kq_k8s_node_event_msg_t;

/* ---- requests (helpers build the message and send it from actor `self`) ---- */

/* Generic outcome, sent to `reply_to` (id `reply_id`) when reply_id != 0. */
typedef struct kq_k8s_result_msg {
  kq_msg_t hdr;
  uint64_t cookie;            /* the caller's, echoed */
  int rc;                     /* KQ_OK, KQ_ENOENT (404), KQ_EAUTH (401/403), KQ_EHTTP, KQ_ENET... */
  long status;                /* HTTP status (0 when no response) */
  char *error;                /* owned message (API Status.message or transport error), may be NULL */
} kq_k8s_result_msg_t;

/* Merge-patches `st` into pods/<ns>/<name>/status (rendered now: `st` is borrowed). Retried on
 * 429/5xx/403 and transport errors until it lands, however long the API is away; a 404 (pod
 * gone) is final. One patch per pod is on the wire at a time (they land in order) and newer
 * patches for the same pod supersede queued older ones. */
int kq_k8s_patch_pod_status(kq_actor_t *self, kq_aid_t client, const char *ns, const char *name,
                            const kq_pod_status_t *st, uint32_t reply_id, uint64_t cookie);

/* Deletes a pod with gracePeriodSeconds `grace_s` (0 = now) and a UID precondition when `uid`
 * is given (so a re-created namesake is never deleted). Retried like status patches. */
int kq_k8s_delete_pod(kq_actor_t *self, kq_aid_t client, const char *ns, const char *name,
                      const char *uid, int64_t grace_s, uint32_t reply_id, uint64_t cookie);

typedef struct kq_k8s_event {
  const char *kind;           /* involvedObject kind: "Pod" or "Node" */
  const char *ns;             /* NULL for Node ("default" namespace is used for the Event) */
  const char *name;
  const char *uid;            /* may be NULL */
  const char *reason;         /* "Scheduled", "Pulling", "Started", "Killing", "NodeLost", ... */
  const char *message;
  bool warning;               /* type Warning instead of Normal */
} kq_k8s_event_t;
/* Creates a core/v1 Event (source component "kuack-node", host = node name). Fire and forget:
 * Events are best effort and dropped first under rate limiting. */
int kq_k8s_emit_event(kq_actor_t *self, kq_aid_t client, const kq_k8s_event_t *ev);

/* Reads a Secret or ConfigMap; the reply is a kq_k8s_data_msg_t (Secret values base64-decoded). */
typedef struct kq_k8s_data_msg {
  kq_msg_t hdr;               /* id = reply_id; dtor frees data and error */
  uint64_t cookie;
  int rc;                     /* KQ_OK, KQ_ENOENT, KQ_EAUTH, ... */
  char *error;
  size_t ndata;
  kq_k8s_kv_t *data;          /* owned */
} kq_k8s_data_msg_t;
int kq_k8s_get_secret(kq_actor_t *self, kq_aid_t client, const char *ns, const char *name,
                      uint32_t reply_id, uint64_t cookie);
int kq_k8s_get_configmap(kq_actor_t *self, kq_aid_t client, const char *ns, const char *name,
                         uint32_t reply_id, uint64_t cookie);

/* What the Node should say. The client renders labels (`kuack.io/node-type=kuack-node`,
 * `kubernetes.io/hostname`), taints (`kuack.io/provider=kuack:NoSchedule` always,
 * `kuack.io/no-browsers=true:NoSchedule` when `no_browsers_taint`), nodeInfo (wasm/wasm32,
 * kubeletVersion), addresses, daemonEndpoints and the four conditions from it. Capacity and
 * allocatable are the same numbers (the scheduler subtracts requests itself). */
typedef struct kq_k8s_node_state {
  int64_t cpu_millis;
  int64_t memory_bytes;
  int64_t pods;               /* 0 = 110 */
  int64_t gpu;                /* kuack.io/gpu */
  bool ready;
  const char *ready_message;  /* NULL = "kuack-node is ready" / "no browser connected" */
  bool no_browsers_taint;
  const char *internal_ip;    /* NULL = 127.0.0.1 */
  int32_t kubelet_port;       /* 0 = 10250 */
} kq_k8s_node_state_t;
/* Sets the desired Node state (copied). The Node is created/updated on the first call and its
 * status patched whenever the state changes (and every status_period_s). */
int kq_k8s_set_node_state(kq_actor_t *self, kq_aid_t client, const kq_k8s_node_state_t *st);

/* Deletes the Node object and its Lease now (graceful shutdown); replies like the others. */
int kq_k8s_delete_node(kq_actor_t *self, kq_aid_t client, uint32_t reply_id, uint64_t cookie);

/* Counters (opts.stats), for tests and /metrics; written on the loop thread. */
typedef struct kq_k8s_client_stats {
  uint64_t lists, watches, relists, watch_events, bookmarks, lease_renewals, status_patches,
      node_status_patches, node_registrations, events, retries, throttled, errors;
  bool node_registered;
} kq_k8s_client_stats_t;

#endif
