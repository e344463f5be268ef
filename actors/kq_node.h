/* The node actor: kuack's view of its one virtual node. It turns Pods from the source (the
 * standalone manifest directory or the Kubernetes watch) into pod actors, keeps the latest
 * status of each (the pod table that /pods serves), prints a readable line per Pod transition
 * and placement, aggregates capacity from browser events (coalescing bursts) and hands status,
 * Events and capacity to the Kubernetes plane when there is one. */
#ifndef KQ_NODE_H
#define KQ_NODE_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kq_actor.h"
#include "kq_browser.h"
#include "kq_k8s_types.h"
#include "kq_logstore.h"
#include "kq_pod.h"

/* The node's pods with their latest status, written only by the node actor, read on the loop
 * thread by the HTTP side (/pods). */
typedef struct kq_podtable kq_podtable_t;
kq_podtable_t *kq_podtable_new(void);
void kq_podtable_free(kq_podtable_t *t);
size_t kq_podtable_count(const kq_podtable_t *t);
/* Borrowed pointers to every pod (valid until the node actor's next message). */
size_t kq_podtable_list(const kq_podtable_t *t, const kq_pod_t **out, size_t max);
const kq_pod_t *kq_podtable_find(const kq_podtable_t *t, const char *ns, const char *name);

/* Capacity summed over browsers (what the Node object advertises). */
typedef struct kq_node_capacity {
  uint32_t browsers;
  int64_t cpu_millis;
  int64_t memory_bytes;
  uint32_t pods;        /* sum of max_pods (0 = 110 per browser) */
  uint32_t gpus;        /* browsers with a real WebGPU adapter */
} kq_node_capacity_t;

typedef struct kq_node_config {
  const char *node_name;
  kq_aid_t scheduler;
  struct kq_image_service *images;  /* borrowed */
  kq_logstore_t *logs;        /* borrowed */
  kq_podtable_t *table;       /* borrowed */
  kq_pod_url_fn artefact_url;
  void *artefact_url_ud;
  FILE *out;                  /* human-readable transitions; NULL = none */
  kq_aid_t upstream;          /* gets KQ_NODE_UP_* messages (Kubernetes plane); NONE = none */
  kq_aid_t api;               /* Kubernetes API client for pods (see KQ_NODE_MSG_SET_API); NONE = none */
  uint64_t coalesce_ns;       /* capacity change coalescing; 0 = 1 s */
  uint64_t backoff_base_ns;   /* passed to pod actors */
  uint64_t backoff_max_ns;
} kq_node_config_t;

extern const kq_actor_type_t kq_node_actor_type;
kq_aid_t kq_node_spawn(kq_system_t *sys, const kq_node_config_t *cfg, int *err);

enum {
  KQ_NODE_MSG_POD_UPSERT = KQ_MSG_USER + 400, /* kq_node_pod_msg_t: add or change */
  KQ_NODE_MSG_POD_REMOVE,                     /* kq_node_remove_msg_t: delete gracefully */
  KQ_NODE_MSG_BROWSER_EVENT,                  /* kq_browser_event_msg_t */
  KQ_NODE_MSG_CAPACITY_GET,                   /* header only → KQ_NODE_UP_CAPACITY to from */
  /* to upstream */
  KQ_NODE_UP_CAPACITY,                        /* kq_node_capacity_msg_t */
  /* Header only: hdr.from becomes the upstream (the Kubernetes plane, spawned after the node);
   * the node answers with KQ_NODE_UP_CAPACITY at once. */
  KQ_NODE_MSG_SET_UPSTREAM,
  /* to upstream: copies of what the pod actors tell the node */
  KQ_NODE_UP_POD_STATUS,                      /* kq_sink_status_msg_t (copy) */
  KQ_NODE_UP_POD_EVENT,                       /* kq_sink_event_msg_t (copy) */
  KQ_NODE_UP_POD_GONE,                        /* kq_sink_gone_msg_t (copy): deletion finished */
  /* kq_node_api_msg_t: the Kubernetes API client; pods spawned from now on read the Secrets and
   * ConfigMaps they reference through it (kq_pod_config_t.api). */
  KQ_NODE_MSG_SET_API,
};

typedef struct kq_node_api_msg {
  kq_msg_t hdr;
  kq_aid_t api;
} kq_node_api_msg_t;

typedef struct kq_node_pod_msg {
  kq_msg_t hdr;
  char *key;                  /* owned: source identity ("file.yaml#0" or the pod uid) */
  kq_pod_t pod;               /* owned */
} kq_node_pod_msg_t;

typedef struct kq_node_remove_msg {
  kq_msg_t hdr;
  char *key;                  /* owned */
  int64_t grace_s;            /* -1 = the pod's own */
} kq_node_remove_msg_t;

typedef struct kq_node_capacity_msg {
  kq_msg_t hdr;
  kq_node_capacity_t cap;
} kq_node_capacity_msg_t;

kq_node_pod_msg_t *kq_node_pod_msg_new(const char *key, kq_pod_t *pod_taken);
kq_node_remove_msg_t *kq_node_remove_msg_new(const char *key, int64_t grace_s);

#endif
