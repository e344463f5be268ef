/* Pod actor internals shared by pod.c and pod_status.c (and their unit tests). */
#ifndef KQ_POD_INTERNAL_H
#define KQ_POD_INTERNAL_H
#include <stdbool.h>
#include <stdio.h>

#include "kq_clock.h"
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
void kq_pod_cstate_clear(kq_container_state_t *s);
void kq_pod_cstate_set(kq_container_state_t *s, kq_container_state_kind_t kind, const char *reason,
                       const char *message);

#endif
