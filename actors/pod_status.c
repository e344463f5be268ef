/* Builds the Kubernetes PodStatus a pod actor reports from its compact run state: phase,
 * the four standard conditions, and the container status with its current and last state.
 * Pure: time comes in as arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "pod_internal.h"

static void set_cond(kq_pod_status_t *st, const char *type, bool ok, const char *reason,
                     const char *message, uint64_t since_ns) {
  kq_pod_condition_t *c = &st->conditions[st->nconditions++];
  c->type = kq_strdup(type);
  c->status = ok ? KQ_COND_TRUE : KQ_COND_FALSE;
  c->reason = kq_strdup(reason);
  c->message = kq_strdup(message);
  c->last_transition_ns = since_ns;
}

static void copy_cstate(kq_container_state_t *dst, const kq_container_state_t *src) {
  *dst = *src;
  dst->reason = kq_strdup(src->reason);
  dst->message = kq_strdup(src->message);
  dst->container_id = kq_strdup(src->container_id);
}

void kq_pod_cstate_clear(kq_container_state_t *s) {
  free(s->reason);
  free(s->message);
  free(s->container_id);
  memset(s, 0, sizeof *s);
}

void kq_pod_cstate_set(kq_container_state_t *s, kq_container_state_kind_t kind, const char *reason,
                       const char *message) {
  kq_pod_cstate_clear(s);
  s->kind = kind;
  s->reason = kq_strdup(reason);
  s->message = kq_strdup(message);
}

void kq_pod_build_status(const kq_pod_runstate_t *rs, kq_pod_status_t *st) {
  memset(st, 0, sizeof *st);
  st->phase = rs->phase;
  st->start_ns = rs->start_ns;
  st->reason = kq_strdup(rs->pod_reason);
  st->message = kq_strdup(rs->pod_message);
  st->host_ip = kq_strdup(rs->host_ip);
  st->qos_class = kq_strdup(rs->qos_class);
  bool running = rs->cur.kind == KQ_CSTATE_RUNNING;
  bool done = rs->phase == KQ_PHASE_SUCCEEDED || rs->phase == KQ_PHASE_FAILED;
  st->conditions = kq_calloc(4, sizeof(kq_pod_condition_t));
  set_cond(st, "Initialized", true, NULL, NULL, rs->created_ns);
  const char *nr_reason = done ? "PodCompleted" : "ContainersNotReady";
  char msg[256];
  snprintf(msg, sizeof msg, "containers with unready status: [%s]", rs->container ? rs->container : "");
  set_cond(st, "Ready", running, running ? NULL : nr_reason, running || done ? NULL : msg, rs->ready_since_ns);
  set_cond(st, "ContainersReady", running, running ? NULL : nr_reason, running || done ? NULL : msg,
           rs->ready_since_ns);
  set_cond(st, "PodScheduled", true, NULL, NULL, rs->created_ns);

  st->container_statuses = kq_calloc(1, sizeof(kq_container_status_t));
  st->ncontainer_statuses = 1;
  kq_container_status_t *cs = &st->container_statuses[0];
  cs->name = kq_strdup(rs->container);
  cs->image = kq_strdup(rs->image);
  cs->image_id = kq_strdup(rs->image_id);
  cs->container_id = rs->run_id ? kq_asprintf("kuack://%s", rs->run_id) : NULL;
  copy_cstate(&cs->state, &rs->cur);
  copy_cstate(&cs->last_state, &rs->last);
  cs->ready = running;
  cs->started = running;
  cs->has_started = true;
  cs->restart_count = (int32_t)rs->restarts;
}

uint64_t kq_pod_backoff_ns(uint32_t restarts, uint64_t base_ns, uint64_t max_ns) {
  if (!base_ns) base_ns = KQ_SEC(10);
  if (!max_ns) max_ns = KQ_SEC(300);
  uint64_t d = base_ns;
  for (uint32_t i = 0; i < restarts && d < max_ns; i++) d *= 2;
  return d < max_ns ? d : max_ns;
}

bool kq_pod_ran_before(const kq_pod_t *p) {
  if (p->status.phase == KQ_PHASE_RUNNING) return true;
  for (size_t i = 0; i < p->status.ncontainer_statuses; i++) {
    const kq_container_status_t *cs = &p->status.container_statuses[i];
    if (cs->container_id || cs->state.kind == KQ_CSTATE_RUNNING || cs->state.kind == KQ_CSTATE_TERMINATED ||
        cs->last_state.kind == KQ_CSTATE_TERMINATED || cs->restart_count > 0)
      return true;
  }
  return false;
}

void kq_pod_restarted_status(const kq_pod_t *p, uint64_t now_ns, kq_pod_status_t *st) {
  const kq_container_status_t *old = p->status.ncontainer_statuses ? &p->status.container_statuses[0] : NULL;
  const kq_pod_container_t *c = p->spec.ncontainers ? &p->spec.containers[0] : NULL;
  const char *cid = old && old->container_id ? old->container_id : NULL;
  if (cid && !strncmp(cid, "kuack://", 8)) cid += 8;
  char run[160] = "";
  if (cid) snprintf(run, sizeof run, " (run %s)", cid);
  char msg[512];
  snprintf(msg, sizeof msg,
           "kuack-node restarted while the container was placed on a browser%s; the run is lost and is "
           "not started again (a Pod never runs twice)", run);
  kq_pod_runstate_t rs = {
      .phase = KQ_PHASE_FAILED,
      .pod_reason = "NodeRestarted",
      .pod_message = msg,
      .container = old && old->name ? old->name : (c ? c->name : NULL),
      .image = c ? c->image : (old ? old->image : NULL),
      .image_id = old ? old->image_id : NULL,
      .run_id = (char *)cid,
      .host_ip = p->status.host_ip,
      .qos_class = p->status.qos_class,
      .restarts = old && old->restart_count > 0 ? (uint32_t)old->restart_count : 0,
      .created_ns = p->meta.creation_ns,
      .start_ns = p->status.start_ns,
      .ready_since_ns = now_ns,
  };
  rs.cur.kind = KQ_CSTATE_TERMINATED;
  rs.cur.exit_code = 137;
  rs.cur.reason = "NodeRestarted";
  rs.cur.message = msg;
  rs.cur.started_ns = old && old->state.kind != KQ_CSTATE_WAITING ? old->state.started_ns : 0;
  rs.cur.finished_ns = now_ns;
  rs.cur.container_id = old ? old->container_id : NULL;
  if (old) rs.last = old->last_state;
  kq_pod_build_status(&rs, st);
}
