/* The API client actor: its life (init, stop), the dispatch of its messages, and what each final
 * answer means (node registered, list received, reply to the requester). Requests, watches, the
 * Node and the helpers other actors call live in client_*.c (see client_internal.h). curl
 * callbacks only produce kq_http messages; everything is decided here, in dispatch. */
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_k8s_client_internal.h"
#include "kq_k8s_internal.h"
#include "kq_log.h"

static void data_dtor(kq_msg_t *m) {
  kq_k8s_data_msg_t *d = (kq_k8s_data_msg_t *)m;
  free(d->error);
  kq_k8s_kv_free(d->data, d->ndata);
}

static void on_http_done(client_t *c, kq_http_resp_t *resp) {
  req_t *r = client_take_inflight(c, resp->req);
  if (!r) return;
  long st = resp->rc == KQ_OK ? resp->status : 0;
  if (client_retry(c, r, resp)) return;
  int rc = resp->rc != KQ_OK ? resp->rc : client_rc_for_status(st);
  char *msg = rc != KQ_OK ? (resp->rc != KQ_OK ? kq_strdup(resp->error)
                                               : kq_k8s_status_message(resp->body, resp->body_len))
                          : NULL;
  if (rc != KQ_OK && r->purpose != P_LEASE_CREATE && r->purpose != P_NODE_CREATE &&
      !(r->purpose == P_EVENT && rc == KQ_EEXIST) && !(r->purpose == P_LEASE_DELETE && rc == KQ_ENOENT)) {
    c->stats->errors++;
    KQ_WARN(COMP, "request failed", "method=%s path=%s status=%ld err=\"%s\"", r->method, r->path,
            st, msg ? msg : kq_strerror(rc));
  }
  switch (r->purpose) {
    case P_VERSION: {
      char *v = rc == KQ_OK ? kq_k8s_version_decode(resp->body, resp->body_len) : NULL;
      c->kubelet_version = v ? kq_asprintf("%s-kuack-node", v) : kq_strdup("v0.0.0-kuack-node");
      free(v);
      c->version_known = true;
      client_node_kick(c);
      break;
    }
    case P_NODE_CREATE:
      if (rc == KQ_OK || rc == KQ_EEXIST) {
        c->stats->node_registrations++;
        if (rc == KQ_EEXIST) c->spec_dirty = true; /* make labels/taints ours */
        c->status_dirty = true;
        KQ_INFO(COMP, rc == KQ_OK ? "node registered" : "node exists, taking it over", "node=%s", c->node);
        client_node_kick(c);
      } else {
        c->node_created = false;
        KQ_WARN(COMP, "node registration failed", "node=%s status=%ld err=\"%s\"", c->node, st, msg ? msg : "");
        r->not_before_ns = kq_now_ns(clk(c)) + client_backoff_ns(r->attempts++, NULL);
        c->node_created = true;
        client_enqueue(c, r);
        r = NULL;
      }
      break;
    case P_NODE_STATUS:
      c->status_inflight = false;
      if (rc == KQ_OK) {
        c->stats->node_status_patches++;
        c->stats->node_registered = true;
      } else if (rc == KQ_ENOENT) {
        c->node_created = false;
        c->status_dirty = true;
      }
      client_node_kick(c);
      break;
    case P_NODE_SPEC:
      if (rc == KQ_ENOENT) {
        c->node_created = false;
        client_node_kick(c);
      }
      break;
    case P_LEASE_CREATE:
      if (rc == KQ_OK || rc == KQ_EEXIST) c->lease_created = true;
      if (rc == KQ_OK) c->stats->lease_renewals++;
      if (rc == KQ_EEXIST) client_lease_renew(c);
      break;
    case P_LEASE_RENEW:
      if (rc == KQ_OK) c->stats->lease_renewals++;
      if (rc == KQ_ENOENT) c->lease_created = false;
      break;
    case P_POD_LIST:
      client_pod_list_done(c, resp, rc);
      break;
    case P_NODE_LIST:
      client_node_list_done(c, resp, rc);
      break;
    case P_POD_STATUS:
      if (rc == KQ_OK) c->stats->status_patches++;
      client_reply(c, r, rc, st, msg);
      break;
    case P_EVENT:
      /* 409: an earlier attempt was created but its answer was lost (same generated name) */
      if (rc == KQ_OK || rc == KQ_EEXIST) c->stats->events++;
      break;
    case P_GET_SECRET:
    case P_GET_CM:
      if (r->reply_id && r->reply_to) {
        kq_k8s_data_msg_t *m = KQ_MSG_NEW(kq_k8s_data_msg_t, r->reply_id);
        m->hdr.dtor = data_dtor;
        m->cookie = r->cookie;
        m->rc = rc;
        if (rc == KQ_OK)
          m->rc = kq_k8s_data_decode(resp->body, resp->body_len, r->purpose == P_GET_SECRET,
                                     &m->data, &m->ndata, &m->error);
        else
          m->error = kq_strdup(msg);
        kq_tell(c->self, r->reply_to, &m->hdr);
      }
      break;
    case P_LEASE_DELETE:
      if (c->node_delete) {
        client_enqueue(c, c->node_delete);
        c->node_delete = NULL;
      }
      break;
    case P_NODE_DELETE:
      if (rc == KQ_OK || rc == KQ_ENOENT) c->register_node = false; /* stop re-registering */
      client_reply(c, r, rc == KQ_ENOENT ? KQ_OK : rc, st, msg);
      break;
    default:
      client_reply(c, r, rc, st, msg);
      break;
  }
  free(msg);
  client_req_free(r);
  client_pump(c); /* a request waiting for this one's key may go now */
}

/* ---- actor ---- */

static int client_init(kq_actor_t *self, void *state, void *arg) {
  client_t *c = state;
  const kq_k8s_client_opts_t *o = arg;
  if (!o || !o->config || !o->http || !o->config->server) return KQ_EINVAL;
  c->self = self;
  c->sys = kq_actor_system(self);
  c->cfg = o->config;
  c->http = o->http;
  c->node = kq_strdup(o->node_name && o->node_name[0] ? o->node_name : "kuack-node");
  c->pod_sub = o->pod_subscriber;
  c->pod_event_id = o->pod_event_id;
  c->node_sub = o->node_subscriber;
  c->node_event_id = o->node_event_id;
  c->register_node = o->register_node;
  c->qps = o->qps > 0 ? o->qps : 20;
  c->burst = o->burst ? o->burst : 40;
  c->tokens = c->burst;
  c->tokens_ns = kq_now_ns(clk(c));
  c->lease_duration_s = o->lease_duration_s ? o->lease_duration_s : 40;
  c->lease_renew_s = o->lease_renew_s ? o->lease_renew_s : 10;
  c->status_period_s = o->status_period_s ? o->status_period_s : 60;
  c->watch_timeout_s = o->watch_timeout_s ? o->watch_timeout_s : 300;
  c->stats = o->stats ? o->stats : &c->own_stats;
  c->start_wall_ns = c->ready_since_ns = kq_wall_ns(clk(c));
  if (o->kubelet_version) {
    c->kubelet_version = kq_strdup(o->kubelet_version);
    c->version_known = true;
  } else {
    client_enqueue(c, client_req_new(P_VERSION, "GET", kq_strdup("/version"), NULL, NULL));
  }
  if (c->pod_sub && o->resume_rv) {
    c->pw.rv = kq_strdup(o->resume_rv);
    client_watch_start(c, &c->pw, true);
  } else if (c->pod_sub) {
    client_pod_list(c);
  }
  if (c->node_sub || c->register_node) client_node_list(c);
  if (c->register_node) {
    kq_timer_start(self, KQ_SEC(c->lease_renew_s), KQ_SEC(c->lease_renew_s), T_LEASE);
    kq_timer_start(self, KQ_SEC(c->status_period_s), KQ_SEC(c->status_period_s), T_STATUS);
  }
  return KQ_OK;
}

static void client_dispatch(kq_actor_t *self, void *state, kq_msg_t *msg) {
  client_t *c = state;
  switch (msg->id) {
    case KQ_MSG_TIMER: {
      kq_timer_msg_t *t = (kq_timer_msg_t *)msg;
      if (t->tag == T_PUMP) {
        c->pump_timer = 0;
        client_pump(c);
      } else if (t->tag == T_LEASE) {
        if (c->register_node && c->have_state) client_lease_renew(c);
      } else if (t->tag == T_STATUS) {
        c->status_dirty = true;
        client_node_kick(c);
      } else if (t->tag == T_WATCH || t->tag == T_NWATCH) {
        bool pods = t->tag == T_WATCH;
        watch_t *w = pods ? &c->pw : &c->nw;
        if (w->id || w->listing) break;
        if (w->need_list || !w->rv) pods ? client_pod_list(c) : client_node_list(c);
        else client_watch_start(c, w, pods);
      }
      break;
    }
    case K8S_REQ: {
      req_msg_t *m = (req_msg_t *)msg;
      req_t *r = m->req;
      m->req = NULL;
      if (r->purpose == P_NODE_DELETE) {
        /* the Lease goes first, then the Node; the reply comes after both */
        free(r->path);
        r->path = kq_asprintf("/api/v1/nodes/%s", c->node);
        c->register_node = false;
        if (!c->node_delete) {
          c->node_delete = r;
          client_enqueue(
              c,
              client_req_new(
                  P_LEASE_DELETE, "DELETE",
                  kq_asprintf("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s",
                              c->node),
                  NULL, NULL));
          break;
        }
      } else if (r->purpose == P_EVENT) {
        kq_k8s_event_t ev = {r->ev[0], r->ev[1], r->ev[2], r->ev[3], r->ev[4], r->ev[5], r->ev_warning};
        r->body = kq_k8s_event_body(&ev, c->node, kq_wall_ns(clk(c)), ++c->event_seq);
      }
      client_enqueue(c, r);
      break;
    }
    case K8S_NODE_STATE:
      client_set_node_state(c, (node_state_msg_t *)msg);
      break;
    case K8S_HTTP_DONE:
      on_http_done(c, (kq_http_resp_t *)msg);
      break;
    case K8S_WATCH_CHUNK:
      client_watch_chunk(c, &c->pw, true, (kq_http_chunk_t *)msg);
      break;
    case K8S_WATCH_DONE:
      client_watch_done(c, &c->pw, true, (kq_http_resp_t *)msg);
      break;
    case K8S_NWATCH_CHUNK:
      client_watch_chunk(c, &c->nw, false, (kq_http_chunk_t *)msg);
      break;
    case K8S_NWATCH_DONE:
      client_watch_done(c, &c->nw, false, (kq_http_resp_t *)msg);
      break;
    default:
      break;
  }
}

static void client_stop(kq_actor_t *self, void *state) {
  client_t *c = state;
  kq_http_cancel_owner(c->http, kq_self(self));
  while (c->queue) {
    req_t *r = c->queue;
    c->queue = r->next;
    client_req_free(r);
  }
  while (c->inflight) {
    req_t *r = c->inflight;
    c->inflight = r->next;
    client_req_free(r);
  }
  client_req_free(c->node_delete);
  free(c->pw.rv);
  free(c->pw.buf);
  free(c->nw.rv);
  free(c->nw.buf);
  free(c->node);
  free(c->kubelet_version);
  free(c->state_ip);
  free(c->state_msg);
}

const kq_actor_type_t kq_k8s_client_type = {
    .name = "k8s_client",
    .state_size = sizeof(client_t),
    .init = client_init,
    .dispatch = client_dispatch,
    .stop = client_stop,
    .msg_names = client_msg_names,
    .msg_count = client_msg_count,
};

kq_aid_t kq_k8s_client_spawn(kq_system_t *sys, const kq_k8s_client_opts_t *opts, int *err) {
  return kq_spawn(sys, &kq_k8s_client_type, (void *)opts, err);
}
