/* The API client's Node upkeep: registration (create, or take over an existing Node), label and
 * taint patches, status patches (one in flight, the latest state wins) and Lease renewal. */
#include <stdlib.h>

#include "client_internal.h"
#include "kq_alloc.h"
#include "kq_k8s_client_internal.h"

static void node_send_status(client_t *c);

void client_node_kick(client_t *c) {
  if (!c->register_node || !c->have_state) return;
  if (!c->version_known) return; /* the /version reply continues */
  if (!c->node_created) {
    req_t *r = client_req_new(P_NODE_CREATE, "POST", kq_strdup("/api/v1/nodes"),
                              kq_k8s_node_body(c->node, c->state.no_browsers_taint), CT_JSON);
    c->node_created = true; /* in progress; reset on failure */
    client_enqueue(c, r);
    return;
  }
  if (c->spec_dirty) {
    c->spec_dirty = false;
    client_enqueue(
        c, client_req_new(P_NODE_SPEC, "PATCH", kq_asprintf("/api/v1/nodes/%s", c->node),
                          kq_k8s_node_spec_patch(c->node, c->state.no_browsers_taint), CT_MERGE));
  }
  if (c->status_dirty) node_send_status(c);
}

static void node_send_status(client_t *c) {
  if (c->status_inflight) return;
  c->status_dirty = false;
  c->status_inflight = true;
  kq_k8s_node_state_t st = c->state;
  st.internal_ip = c->state_ip;
  st.ready_message = c->state_msg;
  char *body = kq_k8s_node_status_patch(c->node, &st, c->kubelet_version, c->start_wall_ns,
                                        c->ready_since_ns, kq_wall_ns(clk(c)));
  client_enqueue(
      c, client_req_new(P_NODE_STATUS, "PATCH", kq_asprintf("/api/v1/nodes/%s/status", c->node),
                        body, CT_MERGE));
}

void client_lease_renew(client_t *c) {
  uint64_t now = kq_wall_ns(clk(c));
  if (!c->lease_created)
    client_enqueue(
        c,
        client_req_new(P_LEASE_CREATE, "POST",
                       kq_strdup("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"),
                       kq_k8s_lease_body(c->node, c->lease_duration_s, now), CT_JSON));
  else
    client_enqueue(
        c, client_req_new(
               P_LEASE_RENEW, "PATCH",
               kq_asprintf("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s",
                           c->node),
               kq_k8s_lease_patch(c->node, c->lease_duration_s, now), CT_MERGE));
}

void client_set_node_state(client_t *c, node_state_msg_t *m) {
  bool first = !c->have_state;
  if (first || m->st.no_browsers_taint != c->state.no_browsers_taint) c->spec_dirty = !first;
  if (first || m->st.ready != c->last_ready) {
    c->ready_since_ns = kq_wall_ns(clk(c));
    c->last_ready = m->st.ready;
  }
  c->state = m->st;
  free(c->state_ip);
  free(c->state_msg);
  c->state_ip = m->ip;
  c->state_msg = m->msg;
  m->ip = m->msg = NULL;
  c->have_state = true;
  c->status_dirty = true;
  if (first && c->register_node) client_lease_renew(c);
  client_node_kick(c);
}
