/* The Kubernetes bridge (see kq_k8s_bridge.h). It tracks the uids it handed to the node actor
 * (with whether the API is deleting them) so SYNC can remove the missing ones and a finished
 * graceful deletion can be completed with the final delete.
 *
 * Start-up reconcile: a Pod this process never handed out, not finished, whose API status shows
 * that a kuack-node already sent it to a browser (a container id, a running or terminated
 * container, phase Running) was running when the node restarted. Browser sessions do not survive
 * a restart (a reconnecting agent drops runs the new process does not know), so its run is lost:
 * the Pod is failed (reason NodeRestarted, a Warning Event) and never run a second time. It stays
 * tracked as `dead` so later watch events do not revive it; its deletion is completed at once. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_clock.h"
#include "kq_error.h"
#include "kq_k8s_bridge.h"
#include "kq_k8s_params.h"
#include "kq_log.h"
#include "kq_node.h"
#include "kq_scheduler.h"
#include "pod_internal.h"

enum {
  BRIDGE_POD_EVENT = KQ_MSG_USER + 480,
  BRIDGE_NODE_EVENT,
};

#define ANN_POLICY "kuack.io/placement-policy"
#define ANN_PARAMS "kuack.io/placement-params"

typedef struct tracked {
  char *uid, *ns, *name;
  bool deleting;              /* the API object has a deletionTimestamp */
  bool dead;                  /* failed by the start-up reconcile; never handed to the node */
} tracked_t;

typedef struct bridge {
  kq_actor_t *self;
  kq_aid_t client, node, scheduler;
  char *node_name, *internal_ip;
  int32_t kubelet_port;
  bool no_browsers_taint;
  tracked_t *pods;
  size_t npods, cap;
  char *policy_seen, *params_seen;  /* last annotation values acted upon */
} bridge_t;

/* ---- tracked pods ---- */

static tracked_t *find(bridge_t *b, const char *uid) {
  for (size_t i = 0; i < b->npods; i++)
    if (!strcmp(b->pods[i].uid, uid)) return &b->pods[i];
  return NULL;
}

static void untrack(bridge_t *b, tracked_t *t) {
  free(t->uid);
  free(t->ns);
  free(t->name);
  *t = b->pods[--b->npods];
}

static void track(bridge_t *b, const kq_pod_t *p) {
  tracked_t *t = find(b, p->meta.uid);
  if (!t) {
    if (b->npods == b->cap) {
      b->cap = b->cap ? b->cap * 2 : 16;
      b->pods = kq_realloc(b->pods, b->cap * sizeof *b->pods);
    }
    t = &b->pods[b->npods++];
    t->uid = kq_strdup(p->meta.uid);
    t->ns = kq_strdup(kq_pod_namespace(p));
    t->name = kq_strdup(p->meta.name ? p->meta.name : "");
    t->dead = false;
  }
  t->deleting = p->meta.deletion_ns != 0;
}

static bool finished(const kq_pod_t *p) {
  return p->status.phase == KQ_PHASE_SUCCEEDED || p->status.phase == KQ_PHASE_FAILED;
}

/* Fails a Pod that was running when the node restarted (see the top of the file). */
static void fail_restarted(bridge_t *b, const kq_pod_t *p) {
  kq_pod_status_t st;
  kq_pod_restarted_status(p, kq_wall_ns(kq_system_clock(kq_actor_system(b->self))), &st);
  kq_k8s_patch_pod_status(b->self, b->client, kq_pod_namespace(p), p->meta.name, &st, 0, 0);
  kq_k8s_event_t ev = {.kind = "Pod", .ns = kq_pod_namespace(p), .name = p->meta.name, .uid = p->meta.uid,
                       .reason = "NodeRestarted", .message = st.message, .warning = true};
  kq_k8s_emit_event(b->self, b->client, &ev);
  KQ_WARN("k8s-bridge", "pod failed: node restarted under it", "pod=%s/%s uid=%s", kq_pod_namespace(p),
          p->meta.name, p->meta.uid);
  kq_pod_status_clear(&st);
}

/* Hands a pod (moved out of `p`) to the node actor. Pods already finished in the API and not
 * ours are never started again; pods a previous kuack-node started are failed. */
static void upsert(bridge_t *b, kq_pod_t *p) {
  if (!p->meta.uid || !p->meta.name) return;
  tracked_t *t = find(b, p->meta.uid);
  if (t && t->dead) {
    if (p->meta.deletion_ns && !t->deleting) {
      kq_k8s_delete_pod(b->self, b->client, t->ns, t->name, t->uid, 0, 0, 0);
      t->deleting = true;
    }
    return;
  }
  if (!t) {
    if (finished(p)) return;
    if (p->meta.deletion_ns) {
      /* Deleted before it ever ran here: nothing to stop, complete the deletion. */
      kq_k8s_delete_pod(b->self, b->client, kq_pod_namespace(p), p->meta.name, p->meta.uid, 0, 0, 0);
      return;
    }
    if (kq_pod_ran_before(p)) {
      fail_restarted(b, p);
      track(b, p);
      find(b, p->meta.uid)->dead = true;
      return;
    }
  }
  track(b, p);
  kq_tell(b->self, b->node, &kq_node_pod_msg_new(p->meta.uid, p)->hdr);
}

static void on_pod_event(bridge_t *b, kq_k8s_pod_event_msg_t *ev) {
  switch (ev->kind) {
    case KQ_K8S_POD_ADDED:
    case KQ_K8S_POD_MODIFIED: upsert(b, &ev->pod); return;
    case KQ_K8S_POD_DELETED: {
      tracked_t *t = ev->pod.meta.uid ? find(b, ev->pod.meta.uid) : NULL;
      if (!t) return;
      if (!t->dead) kq_tell(b->self, b->node, &kq_node_remove_msg_new(t->uid, 0)->hdr);
      untrack(b, t);
      return;
    }
    case KQ_K8S_POD_SYNC: {
      for (size_t i = 0; i < b->npods;) {
        bool listed = false;
        for (size_t j = 0; j < ev->npods && !listed; j++)
          listed = ev->pods[j].meta.uid && !strcmp(ev->pods[j].meta.uid, b->pods[i].uid);
        if (listed) {
          i++;
          continue;
        }
        if (!b->pods[i].dead) kq_tell(b->self, b->node, &kq_node_remove_msg_new(b->pods[i].uid, 0)->hdr);
        untrack(b, &b->pods[i]);
      }
      for (size_t j = 0; j < ev->npods; j++) upsert(b, &ev->pods[j]);
      KQ_INFO("k8s-bridge", "pods synced", "pods=%zu relist=%d tracked=%zu", ev->npods, (int)ev->relist,
              b->npods);
      return;
    }
    default: return;
  }
}

/* ---- node → API ---- */

static void on_capacity(bridge_t *b, const kq_node_capacity_msg_t *m) {
  kq_k8s_node_state_t st = {
      .cpu_millis = m->cap.cpu_millis,
      .memory_bytes = m->cap.memory_bytes,
      .pods = m->cap.pods,
      .gpu = m->cap.gpus,
      .ready = true,
      .no_browsers_taint = b->no_browsers_taint && m->cap.browsers == 0,
      .internal_ip = b->internal_ip,
      .kubelet_port = b->kubelet_port,
  };
  int rc = kq_k8s_set_node_state(b->self, b->client, &st);
  if (rc != KQ_OK) KQ_WARN("k8s-bridge", "cannot update the node state", "err=%s", kq_strerror(rc));
}

static void on_status(bridge_t *b, const kq_sink_status_msg_t *s) {
  if (!s->ns || !s->name) return;
  kq_k8s_patch_pod_status(b->self, b->client, s->ns, s->name, &s->status, 0, 0);
}

static void on_event(bridge_t *b, const kq_sink_event_msg_t *e) {
  kq_k8s_event_t ev = {.kind = "Pod", .ns = e->ns, .name = e->name, .uid = e->uid,
                       .reason = e->reason ? e->reason : "Unknown",
                       .message = e->message ? e->message : "", .warning = e->warning};
  kq_k8s_emit_event(b->self, b->client, &ev);
}

static void on_gone(bridge_t *b, const kq_sink_gone_msg_t *g) {
  tracked_t *t = g->uid ? find(b, g->uid) : NULL;
  if (!t) return;
  /* The browser confirmed (or the grace period ended): complete the API's graceful delete. */
  if (t->deleting) kq_k8s_delete_pod(b->self, b->client, t->ns, t->name, t->uid, 0, 0, 0);
  untrack(b, t);
}

/* ---- placement policy from the Node's annotations ---- */

static void node_event_warning(bridge_t *b, const char *reason, const char *msg) {
  kq_k8s_event_t ev = {.kind = "Node", .name = b->node_name, .reason = reason, .message = msg, .warning = true};
  kq_k8s_emit_event(b->self, b->client, &ev);
  KQ_WARN("k8s-bridge", "placement policy refused", "message=\"%s\"", msg);
}

static bool same(const char *a, const char *c) { return a == c || (a && c && !strcmp(a, c)); }

static void on_node_event(bridge_t *b, const kq_k8s_node_event_msg_t *m) {
  if (m->deleted) return;
  const char *policy = kq_k8s_meta_annotation(&m->meta, ANN_POLICY);
  const char *params = kq_k8s_meta_annotation(&m->meta, ANN_PARAMS);
  if (same(policy, b->policy_seen) && same(params, b->params_seen)) return;
  free(b->policy_seen);
  free(b->params_seen);
  b->policy_seen = policy ? kq_strdup(policy) : NULL;
  b->params_seen = params ? kq_strdup(params) : NULL;
  if (!policy || !*policy) return; /* no annotation: keep the policy in force */
  kq_k8s_param_t *kv = NULL;
  size_t n = 0;
  char *err = NULL;
  int rc = kq_k8s_parse_params(params, KQ_POLICY_PARAMS_MAX, &kv, &n, &err);
  kq_policy_params_t pp = {0};
  for (size_t i = 0; rc == KQ_OK && i < n; i++) {
    rc = kq_policy_params_add(&pp, kv[i].key, kv[i].value);
    if (rc != KQ_OK) err = kq_asprintf("invalid placement param \"%s\"", kv[i].key);
  }
  kq_k8s_params_free(kv, n);
  if (rc != KQ_OK) {
    char *msg = kq_asprintf("%s: %s", ANN_PARAMS, err ? err : kq_strerror(rc));
    node_event_warning(b, "InvalidPlacementParams", msg);
    free(msg);
    free(err);
    return;
  }
  kq_sched_set_policy_msg_t *sp = kq_sched_set_policy_msg_new(policy, &pp);
  kq_tell(b->self, b->scheduler, &sp->hdr);
}

static void on_policy_result(bridge_t *b, const kq_sched_policy_msg_t *r) {
  if (r->err == KQ_OK) {
    KQ_INFO("k8s-bridge", "placement policy", "message=\"%s\"", r->message ? r->message : "");
    kq_k8s_event_t ev = {.kind = "Node", .name = b->node_name, .reason = "PlacementPolicy",
                         .message = r->message ? r->message : r->active};
    kq_k8s_emit_event(b->self, b->client, &ev);
    return;
  }
  char *msg = kq_asprintf("%s refused: %s (still %s)", ANN_POLICY, r->message ? r->message : kq_strerror(r->err),
                          r->active ? r->active : "?");
  node_event_warning(b, "InvalidPlacementPolicy", msg);
  free(msg);
}

/* ---- actor ---- */

static int bridge_init(kq_actor_t *self, void *state, void *arg) {
  bridge_t *b = state;
  const kq_k8s_bridge_opts_t *o = arg;
  if (!o->config || !o->http || o->node == KQ_AID_NONE || o->scheduler == KQ_AID_NONE) return KQ_EINVAL;
  b->self = self;
  b->node = o->node;
  b->scheduler = o->scheduler;
  b->node_name = kq_strdup(o->node_name ? o->node_name : "kuack-node");
  b->internal_ip = kq_strdup(o->internal_ip ? o->internal_ip : "127.0.0.1");
  b->kubelet_port = o->kubelet_port;
  b->no_browsers_taint = o->no_browsers_taint;
  kq_k8s_client_opts_t co = {
      .config = o->config,
      .http = o->http,
      .node_name = b->node_name,
      .pod_subscriber = kq_self(self),
      .pod_event_id = BRIDGE_POD_EVENT,
      .node_subscriber = kq_self(self),
      .node_event_id = BRIDGE_NODE_EVENT,
      .register_node = true,
      .stats = o->stats,
  };
  int err = KQ_OK;
  b->client = kq_k8s_client_spawn(kq_actor_system(self), &co, &err);
  if (b->client == KQ_AID_NONE) {
    free(b->node_name);
    free(b->internal_ip);
    return err ? err : KQ_EINVAL;
  }
  /* Pods read their Secrets and ConfigMaps through the client. */
  kq_node_api_msg_t *api = KQ_MSG_NEW(kq_node_api_msg_t, KQ_NODE_MSG_SET_API);
  api->api = b->client;
  kq_tell(self, b->node, &api->hdr);
  /* Become the node's upstream; it answers with the current capacity, which registers the Node. */
  kq_tell(self, b->node, KQ_MSG_NEW(kq_msg_t, KQ_NODE_MSG_SET_UPSTREAM));
  return KQ_OK;
}

static void bridge_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  bridge_t *b = state;
  (void)self;
  switch (m->id) {
    case BRIDGE_POD_EVENT: on_pod_event(b, (kq_k8s_pod_event_msg_t *)m); return;
    case BRIDGE_NODE_EVENT: on_node_event(b, (const kq_k8s_node_event_msg_t *)m); return;
    case KQ_NODE_UP_CAPACITY: on_capacity(b, (const kq_node_capacity_msg_t *)m); return;
    case KQ_NODE_UP_POD_STATUS: on_status(b, (const kq_sink_status_msg_t *)m); return;
    case KQ_NODE_UP_POD_EVENT: on_event(b, (const kq_sink_event_msg_t *)m); return;
    case KQ_NODE_UP_POD_GONE: on_gone(b, (const kq_sink_gone_msg_t *)m); return;
    case KQ_SCHED_MSG_POLICY_RESULT: on_policy_result(b, (const kq_sched_policy_msg_t *)m); return;
    default: return;
  }
}

static void bridge_stop(kq_actor_t *self, void *state) {
  bridge_t *b = state;
  (void)self;
  while (b->npods) untrack(b, &b->pods[b->npods - 1]);
  free(b->pods);
  free(b->node_name);
  free(b->internal_ip);
  free(b->policy_seen);
  free(b->params_seen);
}

const kq_actor_type_t kq_k8s_bridge_type = {
    .name = "k8s-bridge",
    .state_size = sizeof(bridge_t),
    .init = bridge_init,
    .dispatch = bridge_dispatch,
    .stop = bridge_stop,
};

kq_aid_t kq_k8s_bridge_spawn(kq_system_t *sys, const kq_k8s_bridge_opts_t *opts, int *err) {
  return kq_spawn(sys, &kq_k8s_bridge_type, (void *)opts, err);
}

/* ---- Node deletion at shutdown ---- */

enum { DEL_REPLY = KQ_MSG_USER + 490 };

typedef struct del_arg {
  kq_k8s_config_t *config;
  kq_http_t *http;
  const char *node_name;
  uint64_t timeout_ns;
  int rc;
  char *error;
} del_arg_t;

typedef struct deleter {
  del_arg_t *arg;
  bool done;
} deleter_t;

static void del_idle(kq_system_t *sys, void *ud) {
  (void)ud;
  event_base_loopexit(kq_system_base(sys), NULL);
}

static void del_finish(kq_actor_t *self, deleter_t *d, int rc, const char *error) {
  if (d->done) return;
  d->done = true;
  d->arg->rc = rc;
  d->arg->error = error ? kq_strdup(error) : NULL;
  kq_system_shutdown(kq_actor_system(self), del_idle, NULL);
}

static int del_init(kq_actor_t *self, void *state, void *arg) {
  deleter_t *d = state;
  d->arg = arg;
  kq_k8s_client_opts_t co = {.config = d->arg->config, .http = d->arg->http, .node_name = d->arg->node_name};
  int err = KQ_OK;
  kq_aid_t client = kq_k8s_client_spawn(kq_actor_system(self), &co, &err);
  if (client == KQ_AID_NONE) return err ? err : KQ_EINVAL;
  kq_timer_start(self, d->arg->timeout_ns, 0, 1);
  return kq_k8s_delete_node(self, client, DEL_REPLY, 0);
}

static void del_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  deleter_t *d = state;
  if (m->id == DEL_REPLY) {
    const kq_k8s_result_msg_t *r = (const kq_k8s_result_msg_t *)m;
    del_finish(self, d, r->rc, r->error);
  } else if (m->id == KQ_MSG_TIMER) {
    del_finish(self, d, KQ_ETIMEDOUT, "no answer from the API server");
  }
}

static const kq_actor_type_t deleter_type = {
    .name = "node-deleter",
    .state_size = sizeof(deleter_t),
    .init = del_init,
    .dispatch = del_dispatch,
};

int kq_k8s_bridge_delete_node(struct event_base *base, kq_k8s_config_t *config, const char *node_name,
                              uint64_t timeout_ns) {
  kq_system_t *sys = kq_system_new(base, NULL);
  if (!sys) return KQ_ENOMEM;
  del_arg_t a = {.config = config, .node_name = node_name, .timeout_ns = timeout_ns ? timeout_ns : KQ_SEC(10),
                 .rc = KQ_ETIMEDOUT};
  a.http = kq_http_new(sys);
  int err = KQ_OK;
  if (kq_spawn(sys, &deleter_type, &a, &err) == KQ_AID_NONE) {
    a.rc = err ? err : KQ_EINVAL;
    kq_system_shutdown(sys, NULL, NULL);
  }
  if (!kq_system_idle(sys)) event_base_dispatch(base);
  kq_http_free(a.http);
  int rc = kq_system_close(sys);
  if (rc != KQ_OK) {
    KQ_ERROR("k8s-bridge", "node deletion did not drain", "actors=%zu handles=%zu",
             kq_system_actor_count(sys), kq_system_handle_count(sys));
    free(a.error);
    return rc;
  }
  if (a.rc == KQ_OK)
    KQ_INFO("k8s-bridge", "node deleted", "node=%s", node_name ? node_name : "kuack-node");
  else
    KQ_WARN("k8s-bridge", "cannot delete the node", "node=%s err=%s reason=\"%s\"",
            node_name ? node_name : "kuack-node", kq_strerror(a.rc), a.error ? a.error : "");
  free(a.error);
  return a.rc;
}
