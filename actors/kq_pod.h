/* The pod actor: one per Pod. It validates the spec, asks the image service for the wasm
 * artefact, asks the scheduler for a browser, sends the run, follows the run's reports, keeps
 * the container's log ring, applies restartPolicy with Kubernetes-like backoff, enforces
 * activeDeadlineSeconds, handles graceful deletion and NodeLost, and reports every status
 * change and Event to its sink (the node actor), which prints them (standalone) or writes them
 * to the API server. */
#ifndef KQ_POD_H
#define KQ_POD_H
#include <stdbool.h>
#include <stdint.h>

#include "kq_actor.h"
#include "kq_k8s_types.h"
#include "kq_logstore.h"

/* Builds the registry-proxy URL for one artefact file of one run; returns owned (free()). */
struct kq_image_request;
struct kq_image_service;

typedef char *(*kq_pod_url_fn)(void *ud, const char *run_id, const char *digest, const char *file);

typedef struct kq_pod_config {
  const kq_pod_t *pod;        /* borrowed at spawn (deep-copied) */
  kq_aid_t sink;              /* status/event/gone messages go here */
  kq_aid_t scheduler;
  struct kq_image_service *images;  /* borrowed (actors/kq_image.h); outlives the actor */
  /* How image requests are made: NULL = kq_image_service_request(images, req). Tests set a
   * function that records the request and answer with a kq_image_reply_t themselves. */
  int (*image_request)(void *ud, const struct kq_image_request *req);
  void *image_request_ud;
  char **pull_secrets;        /* borrowed during spawn (copied): Docker config.json texts */
  size_t npull_secrets;
  /* The Kubernetes API client (k8s/kq_k8s_client.h) for the Secrets and ConfigMaps the Pod
   * references: imagePullSecrets (type kubernetes.io/dockerconfigjson, key .dockerconfigjson, or
   * legacy .dockercfg), env valueFrom.configMapKeyRef / envFrom.configMapRef, and, with the
   * kuack.io/allow-secrets opt-in, secretKeyRef / secretRef. They are read before the image is
   * requested; a missing one keeps the Pod waiting (CreateContainerConfigError, a Warning Event)
   * and is read again with back-off. KQ_AID_NONE (standalone) = nothing is read. */
  kq_aid_t api;
  /* How those reads are made: NULL = kq_k8s_get_secret / kq_k8s_get_configmap to `api`. Tests set
   * a function that records the request and answer with a kq_k8s_data_msg_t (id reply_id,
   * cookie echoed) themselves. */
  int (*object_request)(void *ud, bool secret, const char *ns, const char *name, kq_aid_t reply_to,
                        uint32_t reply_id, uint64_t cookie);
  void *object_request_ud;
  kq_logstore_t *logs;        /* borrowed; outlives the actor */
  kq_pod_url_fn artefact_url;
  void *artefact_url_ud;
  const char *node_name;
  const char *cache_key;      /* opaque, echoed in sink messages (e.g. manifest file) */
  uint64_t backoff_base_ns;   /* restart backoff start (Kubernetes: 10 s); 0 = 10 s */
  uint64_t backoff_max_ns;    /* cap (Kubernetes: 300 s); 0 = 300 s */
  bool allow_secrets_default; /* secrets to browsers without the opt-in annotation (off) */
} kq_pod_config_t;

extern const kq_actor_type_t kq_pod_actor_type;

/* Messages the pod actor accepts (besides the scheduler, image and run-report replies it asked
 * for). */
enum {
  KQ_POD_MSG_DELETE = KQ_MSG_USER + 300, /* kq_pod_delete_msg_t: graceful deletion */
  KQ_POD_MSG_UPDATE,                     /* kq_pod_update_msg_t: new object from the source */
  KQ_POD_MSG_START,                      /* header only: begin (sent by kq_pod_spawn) */
};

/* Spawns a pod actor for cfg->pod and starts it. Returns its address (KQ_AID_NONE on failure). */
kq_aid_t kq_pod_spawn(kq_system_t *sys, const kq_pod_config_t *cfg);

typedef struct kq_pod_delete_msg {
  kq_msg_t hdr;
  int64_t grace_s;            /* -1 = the pod's terminationGracePeriodSeconds (default 30) */
} kq_pod_delete_msg_t;

/* A newer version of the same Pod (same uid) from the source. The actor takes the metadata
 * (labels and annotations seen by the downward API on the next run) and a changed
 * activeDeadlineSeconds (re-armed, counted from the Pod's start on the node); the rest of a
 * running Pod's spec is immutable in Kubernetes and ignored. */
typedef struct kq_pod_update_msg {
  kq_msg_t hdr;
  kq_pod_t pod;               /* owned by the message */
} kq_pod_update_msg_t;
/* A KQ_POD_MSG_UPDATE taking `pod_taken` (zeroed). */
kq_pod_update_msg_t *kq_pod_update_msg_new(kq_pod_t *pod_taken);

/* Messages the pod actor sends to its sink. */
enum {
  KQ_SINK_MSG_POD_STATUS = KQ_MSG_USER + 320, /* kq_sink_status_msg_t */
  KQ_SINK_MSG_POD_EVENT,                      /* kq_sink_event_msg_t */
  KQ_SINK_MSG_POD_GONE,                       /* kq_sink_gone_msg_t: deletion finished */
};

typedef struct kq_sink_status_msg {
  kq_msg_t hdr;
  char *ns, *name, *uid, *cache_key;   /* owned */
  kq_pod_status_t status;              /* owned snapshot */
  char *browser_id;                    /* owned, NULL when not placed */
} kq_sink_status_msg_t;

typedef struct kq_sink_event_msg {
  kq_msg_t hdr;
  char *ns, *name, *uid;               /* owned */
  bool warning;                        /* type Warning (else Normal) */
  char *reason;                        /* owned: "Scheduled", "Pulled", "Started", "NodeLost" */
  char *message;                       /* owned */
} kq_sink_event_msg_t;

typedef struct kq_sink_gone_msg {
  kq_msg_t hdr;
  char *ns, *name, *uid, *cache_key;   /* owned */
} kq_sink_gone_msg_t;

void kq_sink_status_msg_dtor(kq_msg_t *m);
void kq_sink_event_msg_dtor(kq_msg_t *m);
void kq_sink_gone_msg_dtor(kq_msg_t *m);

/* Restart backoff after `restarts` restarts: base * 2^restarts capped at max (pure). */
uint64_t kq_pod_backoff_ns(uint32_t restarts, uint64_t base_ns, uint64_t max_ns);

#endif
