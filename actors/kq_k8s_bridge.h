/* The Kubernetes bridge: joins the API server client (k8s/kq_k8s_client.h) to the node actor.
 * It spawns the client, becomes the node actor's upstream, and translates both ways:
 *   API → node: pod ADDED/MODIFIED → KQ_NODE_MSG_POD_UPSERT (key = uid), DELETED → POD_REMOVE,
 *     SYNC → UPSERT every listed Pod not already finished in the API and REMOVE tracked uids
 *     that are missing; the Node's kuack.io/placement-policy / kuack.io/placement-params
 *     annotations → KQ_SCHED_MSG_SET_POLICY (a refused policy becomes a Warning Event on the Node);
 *   node → API: capacity → the Node's capacity, conditions and no-browsers taint; pod status →
 *     the status subresource; pod Events → core/v1 Events; a finished graceful deletion → the
 *     final delete (grace 0, uid precondition). */
#ifndef KQ_K8S_BRIDGE_H
#define KQ_K8S_BRIDGE_H
#include <stdbool.h>
#include <stdint.h>

#include "kq_actor.h"
#include "kq_http.h"
#include "kq_k8s_client.h"
#include "kq_k8s_config.h"

typedef struct kq_k8s_bridge_opts {
  kq_k8s_config_t *config;    /* borrowed; must outlive the actor system */
  kq_http_t *http;            /* borrowed; must outlive the actor system */
  const char *node_name;      /* copied; NULL = "kuack-node" */
  kq_aid_t node;              /* the node actor (gets KQ_NODE_MSG_SET_UPSTREAM at spawn) */
  kq_aid_t scheduler;         /* gets KQ_SCHED_MSG_SET_POLICY */
  const char *internal_ip;    /* copied; NULL = 127.0.0.1 */
  int32_t kubelet_port;       /* daemonEndpoints.kubeletEndpoint.Port; 0 = 10250 */
  bool no_browsers_taint;     /* taint the Node while no browser is connected */
  kq_k8s_client_stats_t *stats; /* borrowed, may be NULL */
} kq_k8s_bridge_opts_t;

extern const kq_actor_type_t kq_k8s_bridge_type;
/* Spawns the bridge and, from it, the API client. Returns its address or KQ_AID_NONE. */
kq_aid_t kq_k8s_bridge_spawn(kq_system_t *sys, const kq_k8s_bridge_opts_t *opts, int *err);

/* Graceful shutdown: deletes the Node object and its Lease, blocking. Runs its own actor system
 * and HTTP client on `base` (the application's system has already drained) until the API server
 * answered or `timeout_ns` passed. Returns KQ_OK (also when the Node was already gone),
 * KQ_ETIMEDOUT or the request's error. */
struct event_base;
int kq_k8s_bridge_delete_node(struct event_base *base, kq_k8s_config_t *config, const char *node_name,
                              uint64_t timeout_ns);

#endif
