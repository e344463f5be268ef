/* Bodies and parsers the client actor needs (k8s/ only): Node, Lease, Event, DeleteOptions,
 * list and watch-event decoding, Secret/ConfigMap data, API Status messages. */
#ifndef KQ_K8S_CLIENT_INTERNAL_H
#define KQ_K8S_CLIENT_INTERNAL_H
#include "kq_k8s_client.h"

/* Node create body (labels + taints). Returns owned JSON. */
char *kq_k8s_node_body(const char *node, bool no_browsers_taint);
/* Merge patch for metadata.labels + spec.taints of an existing Node. */
char *kq_k8s_node_spec_patch(const char *node, bool no_browsers_taint);
/* Merge patch for the Node status. */
char *kq_k8s_node_status_patch(const char *node, const kq_k8s_node_state_t *st,
                               const char *kubelet_version, uint64_t start_wall_ns,
                               uint64_t ready_since_ns, uint64_t now_wall_ns);
/* Lease create body and renew patch. */
char *kq_k8s_lease_body(const char *node, uint32_t duration_s, uint64_t now_wall_ns);
char *kq_k8s_lease_patch(const char *node, uint32_t duration_s, uint64_t now_wall_ns);
/* The Event is named "<object>.<now ns hex><seq hex>" (like the kubelet's), not generateName, so
 * a POST retried after a lost answer gets 409 instead of creating a duplicate. */
char *kq_k8s_event_body(const kq_k8s_event_t *ev, const char *node, uint64_t now_wall_ns,
                        uint32_t seq);
char *kq_k8s_delete_body(const char *uid, int64_t grace_s);

/* {"kind":"PodList",...}: decodes items into an owned array and the list resourceVersion.
 * Items that fail to decode are skipped and counted in *bad. */
int kq_k8s_pod_list_decode(const char *json, size_t len, kq_pod_t **pods, size_t *n, char **rv,
                           size_t *bad, char **err);
/* One watch line {"type":..., "object":...}. */
typedef enum { KQ_WE_ADDED = 1, KQ_WE_MODIFIED, KQ_WE_DELETED, KQ_WE_BOOKMARK, KQ_WE_ERROR } kq_k8s_we_type_t;
typedef struct kq_k8s_watch_event {
  kq_k8s_we_type_t type;
  kq_pod_t pod;       /* pods: ADDED/MODIFIED/DELETED */
  kq_k8s_meta_t meta; /* any object's metadata (rv for bookmarks; nodes) */
  long code;          /* ERROR: Status.code (410 = Gone) */
  char *message;      /* ERROR: Status.message */
} kq_k8s_watch_event_t;
/* `is_pod` selects whether the object is decoded as a Pod (else only its metadata). */
int kq_k8s_watch_event_decode(const char *line, size_t len, bool is_pod, kq_k8s_watch_event_t *ev,
                              char **err);
void kq_k8s_watch_event_clear(kq_k8s_watch_event_t *ev);
/* A NodeList → the first node's metadata and the list rv. KQ_ENOENT when empty. */
int kq_k8s_node_list_decode(const char *json, size_t len, kq_k8s_meta_t *meta, char **rv);
/* Secret (base64 values) or ConfigMap data. */
int kq_k8s_data_decode(const char *json, size_t len, bool secret, kq_k8s_kv_t **kv, size_t *n,
                       char **err);
/* Status.message of an API error body, or NULL. Owned. */
char *kq_k8s_status_message(const char *json, size_t len);
/* {"gitVersion":"v1.26.0",...} → owned "v1.26.0" or NULL. */
char *kq_k8s_version_decode(const char *json, size_t len);

#endif
