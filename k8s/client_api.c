/* Request helpers of the API client: they run in the caller's actor, build a request (or a node
 * state) and send it to the client actor as a message; the client does the rest. */
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_k8s_client_internal.h"

static void req_msg_dtor(kq_msg_t *m) { client_req_free(((req_msg_t *)m)->req); }

static int send_req(kq_actor_t *self, kq_aid_t client, req_t *r) {
  req_msg_t *m = KQ_MSG_NEW(req_msg_t, K8S_REQ);
  m->hdr.dtor = req_msg_dtor;
  m->req = r;
  return kq_tell(self, client, &m->hdr);
}

int kq_k8s_patch_pod_status(kq_actor_t *self, kq_aid_t client, const char *ns, const char *name,
                            const kq_pod_status_t *st, uint32_t reply_id, uint64_t cookie) {
  if (!ns || !name || !st) return KQ_EINVAL;
  req_t *r = client_req_new(P_POD_STATUS, "PATCH",
                            kq_asprintf("/api/v1/namespaces/%s/pods/%s/status", ns, name),
                            kq_k8s_pod_status_patch(st, NULL), CT_MERGE);
  r->key = kq_asprintf("%s/%s", ns, name);
  r->reply_to = kq_self(self);
  r->reply_id = reply_id;
  r->cookie = cookie;
  return send_req(self, client, r);
}

int kq_k8s_delete_pod(kq_actor_t *self, kq_aid_t client, const char *ns, const char *name,
                      const char *uid, int64_t grace_s, uint32_t reply_id, uint64_t cookie) {
  if (!ns || !name) return KQ_EINVAL;
  req_t *r =
      client_req_new(P_POD_DELETE, "DELETE", kq_asprintf("/api/v1/namespaces/%s/pods/%s", ns, name),
                     kq_k8s_delete_body(uid, grace_s), CT_JSON);
  r->reply_to = kq_self(self);
  r->reply_id = reply_id;
  r->cookie = cookie;
  return send_req(self, client, r);
}

int kq_k8s_emit_event(kq_actor_t *self, kq_aid_t client, const kq_k8s_event_t *ev) {
  if (!ev || !ev->name) return KQ_EINVAL;
  bool is_node = ev->kind && strcmp(ev->kind, "Node") == 0;
  const char *ns = ev->ns && !is_node ? ev->ns : "default";
  /* rendered by the client, which knows the node name for `source.host` */
  req_t *r = client_req_new(P_EVENT, "POST", kq_asprintf("/api/v1/namespaces/%s/events", ns), NULL, CT_JSON);
  const char *f[6] = {ev->kind, ev->ns, ev->name, ev->uid, ev->reason, ev->message};
  for (size_t i = 0; i < 6; i++) r->ev[i] = kq_strdup(f[i]);
  r->ev_warning = ev->warning;
  return send_req(self, client, r);
}

static int get_data(kq_actor_t *self, kq_aid_t client, bool secret, const char *ns,
                    const char *name, uint32_t reply_id, uint64_t cookie) {
  if (!ns || !name) return KQ_EINVAL;
  req_t *r = client_req_new(
      secret ? P_GET_SECRET : P_GET_CM, "GET",
      kq_asprintf("/api/v1/namespaces/%s/%s/%s", ns, secret ? "secrets" : "configmaps", name), NULL,
      NULL);
  r->reply_to = kq_self(self);
  r->reply_id = reply_id;
  r->cookie = cookie;
  return send_req(self, client, r);
}

int kq_k8s_get_secret(kq_actor_t *self, kq_aid_t client, const char *ns, const char *name,
                      uint32_t reply_id, uint64_t cookie) {
  return get_data(self, client, true, ns, name, reply_id, cookie);
}

int kq_k8s_get_configmap(kq_actor_t *self, kq_aid_t client, const char *ns, const char *name,
                         uint32_t reply_id, uint64_t cookie) {
  return get_data(self, client, false, ns, name, reply_id, cookie);
}

static void node_state_dtor(kq_msg_t *m) {
  node_state_msg_t *n = (node_state_msg_t *)m;
  free(n->ip);
  free(n->msg);
}

int kq_k8s_set_node_state(kq_actor_t *self, kq_aid_t client, const kq_k8s_node_state_t *st) {
  if (!st) return KQ_EINVAL;
  node_state_msg_t *m = KQ_MSG_NEW(node_state_msg_t, K8S_NODE_STATE);
  m->hdr.dtor = node_state_dtor;
  m->st = *st;
  m->ip = kq_strdup(st->internal_ip);
  m->msg = kq_strdup(st->ready_message);
  m->st.internal_ip = m->st.ready_message = NULL;
  return kq_tell(self, client, &m->hdr);
}

int kq_k8s_delete_node(kq_actor_t *self, kq_aid_t client, uint32_t reply_id, uint64_t cookie) {
  req_t *r = client_req_new(P_NODE_DELETE, "DELETE", kq_strdup("/api/v1/nodes/-"), NULL, NULL);
  r->reply_to = kq_self(self);
  r->reply_id = reply_id;
  r->cookie = cookie;
  return send_req(self, client, r);
}
