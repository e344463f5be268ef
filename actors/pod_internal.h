/* Pod actor internals shared by pod.c and pod_status.c (and their unit tests). */
#ifndef KQ_POD_INTERNAL_H
#define KQ_POD_INTERNAL_H
#include <stdbool.h>
#include <stdio.h>

#include "kq_clock.h"
#include "kq_k8s_client.h"
#include "kq_pod.h"

/* The compact state a status is derived from. Strings are owned by the pod actor. */
typedef struct kq_pod_runstate {
  kq_pod_phase_t phase;
  char *pod_reason, *pod_message;
  char *container, *image, *image_id, *run_id, *host_ip, *qos_class;
  kq_container_state_t cur, last;
  uint32_t restarts;
  uint64_t created_ns, start_ns, ready_since_ns;
} kq_pod_runstate_t;

/* Start-up reconcile (used by the Kubernetes bridge). Whether the Pod's API status shows that a
 * kuack-node already sent it to a browser (phase Running, a container id, a running or terminated
 * container, restarts). */
bool kq_pod_ran_before(const kq_pod_t *p);
/* The status of such a Pod after a node restart: Failed, reason NodeRestarted, the container
 * terminated (137, NodeRestarted) at `now_ns`, with a message naming the lost run. Owned `st`
 * (kq_pod_status_clear). */
void kq_pod_restarted_status(const kq_pod_t *p, uint64_t now_ns, kq_pod_status_t *st);

void kq_pod_build_status(const kq_pod_runstate_t *rs, kq_pod_status_t *st);

/* ---- referenced Secrets and ConfigMaps (pod_refs.c) ---- */

/* One Secret or ConfigMap the Pod references (deduplicated by kind and name). */
typedef struct kq_pod_ref {
  bool secret;
  char *name;
  bool pull;                 /* named in imagePullSecrets */
  bool required;             /* some reference to it is not optional */
  bool answered;             /* in the current round */
  int rc;                    /* KQ_OK, KQ_ENOENT, KQ_EAUTH, ... once answered */
  char *error;
  kq_k8s_kv_t *data;
  size_t ndata;
} kq_pod_ref_t;

typedef struct kq_pod_refs {
  kq_pod_ref_t *v;
  size_t n, pending;         /* pending: unanswered reads of the current round */
  uint32_t gen;              /* the round; answers carry it in their cookie */
  bool read;                 /* a round was started (Kubernetes mode): lookups answer */
} kq_pod_refs_t;

/* Adds what `p` references: imagePullSecrets, envFrom, env configMapKeyRef/secretKeyRef. */
void kq_pod_refs_collect(kq_pod_refs_t *t, const kq_pod_t *p);
/* Starts a round: forgets earlier answers; every ref is pending. */
void kq_pod_refs_begin(kq_pod_refs_t *t);
/* The cookie the read of ref `i` in this round carries. */
uint64_t kq_pod_refs_cookie(const kq_pod_refs_t *t, size_t i);
/* Ref `i` could not even be asked for: answered with `rc`. */
void kq_pod_refs_fail(kq_pod_refs_t *t, size_t i, int rc);
/* Takes an answer's data (d->data is moved out); false for a stale or unknown cookie. */
bool kq_pod_refs_answer(kq_pod_refs_t *t, kq_k8s_data_msg_t *d);
/* After a complete round: the first thing that keeps the container from being configured, as an
 * owned message (NULL = all fine), *pull when it is about an image pull secret; appends the pull
 * secrets' Docker config.json texts (owned) to *texts. */
char *kq_pod_refs_problem(const kq_pod_refs_t *t, const kq_pod_t *p, bool *pull, char ***texts,
                          size_t *ntexts);
/* Borrowed lookups (NULL before the first round, or when absent). */
const kq_pod_ref_t *kq_pod_refs_find(const kq_pod_refs_t *t, bool secret, const char *name);
const char *kq_pod_ref_value(const kq_pod_ref_t *r, const char *key);
void kq_pod_refs_clear(kq_pod_refs_t *t);
void kq_pod_cstate_clear(kq_container_state_t *s);
void kq_pod_cstate_set(kq_container_state_t *s, kq_container_state_kind_t kind, const char *reason,
                       const char *message);

#endif
