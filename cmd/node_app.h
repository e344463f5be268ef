/* kuack-node's application: the loop, the actor system and every component started on it, in
 * order (services, scheduler, node actor, browser plane, gateway, kubelet API, Pod source), and
 * their orderly, leak-free teardown. */
#ifndef KQ_NODE_APP_H
#define KQ_NODE_APP_H
#include <stdbool.h>
#include <stdint.h>

#include "kq_actor.h"
#include "kq_browser.h"
#include "kq_kubelet.h"
#include "kq_kubelet_provider.h"
#include "kq_log.h"
#include "kq_logstore.h"
#include "kq_node.h"
#include "kq_policy.h"
#include "kq_proxy.h"

struct event_base;
struct event;

#define NODE_MAX_INSECURE 16
#define NODE_MAX_ORIGINS 16

typedef struct node_config {
  kq_log_level_t log_level;
  const char *node_name;          /* default kuack-node */
  const char *listen_addr;        /* agent gateway; default 0.0.0.0 */
  int listen_port;                /* default 8080 */
  const char *kubelet_addr;       /* kubelet / status API; default 0.0.0.0 */
  int kubelet_port;               /* default 10250; -1 = off */
  const char *standalone_dir;     /* Pods from manifests (standalone mode) */
  const char *agent_root;         /* the agent/ folder (page, src, node_modules) */
  const char *token;              /* agent token; NULL = none required */
  const char *tls_cert, *tls_key; /* wss:// for the gateway */
  const char *kubelet_cert, *kubelet_key, *client_ca; /* kubelet API TLS */
  const char *cache_dir;
  uint64_t cache_max_bytes;
  const char *insecure[NODE_MAX_INSECURE + 1];
  const char *origins[NODE_MAX_ORIGINS + 1];
  const char *policy;             /* placement policy (default binpack) */
  kq_policy_params_t params;
  uint32_t heartbeat_ms, resume_window_ms;
  const char *public_url;         /* how browsers reach the gateway (artefact URLs are relative) */
  /* Kubernetes mode (kubernetes true): Pods from the API server, the Node object kept up to date */
  bool kubernetes;
  const char *kubeconfig, *kube_context; /* NULL = $KUBECONFIG / in-cluster / ~/.kube/config */
  const char *node_ip;            /* the Node's InternalIP (the API server dials the kubelet API) */
  bool keep_node;                 /* do not delete the Node object on shutdown */
  bool no_browsers_taint_off;     /* no kuack.io/no-browsers taint while no browser is connected */
  struct kq_k8s_config *k8s;      /* run time: loaded by start_sources, freed by free_sources */
} node_config_t;

typedef struct node_app {
  node_config_t cfg;
  struct event_base *base;
  kq_system_t *sys;
  struct event *sig_int, *sig_term;
  bool stopping;
  int exit_code;
  /* services */
  struct kq_http *http;
  struct kq_pool *pool;
  struct kq_oci_store *store;
  struct kq_image_service *images;
  kq_proxy_key_t proxy_key;
  kq_logstore_t *logs;
  kq_podtable_t *table;
  /* actors and servers */
  kq_aid_t scheduler, node, manifests;
  kq_browser_config_t bcfg;
  kq_browser_plane_t plane;
  bool plane_started;
  struct kq_gateway *gateway;
  kq_kubelet_t *kubelet;
  kq_kubelet_provider_t kubelet_vt;
  kq_kubelet_glue_t kubelet_glue;
} node_app_t;

/* Creates the loop and the system and starts every component. Returns KQ_OK or the first
 * error (logged; node_app_free still cleans up). */
int node_app_start(node_app_t *app, const node_config_t *cfg);
/* Runs the loop until a shutdown drains; returns the process exit code. */
int node_app_run(node_app_t *app);
/* Begins an orderly shutdown (the actor system stops newest first; servers close). Idempotent. */
void node_app_stop(node_app_t *app);
/* Frees everything (after run returned, or after a failed start). */
void node_app_free(node_app_t *app);

#endif
