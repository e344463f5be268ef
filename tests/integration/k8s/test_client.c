/* The API client against a real kube-apiserver (../shared/k8s/testcluster): node registration
 * as kubectl sees it, Lease renewal, the pod watch (ADDED/DELETED), status patches, Events,
 * delete, ConfigMap reads, a forced 410 Gone relist, and the deploy/ RBAC with a service-account
 * token in in-cluster mode. The real loop is stepped until a condition or a deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kq_test_loop.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kq_actor.h"
#include "kq_error.h"
#include "kq_http.h"
#include "kq_k8s_client.h"
#include "kq_k8s_config.h"
#include "kq_test_cluster.h"

enum { M_POD = KQ_MSG_USER, M_NODE, M_RESULT, M_DATA, M_RUN };

typedef struct run_msg {
  kq_msg_t hdr;
  void (*fn)(kq_actor_t *self, void *ud);
  void *ud;
} run_msg_t;

#define MAXM 256
typedef struct sink {
  kq_msg_t *msgs[MAXM];
  size_t n;
} sink_t;

static sink_t *g_sink;

static int sink_init(kq_actor_t *self, void *state, void *arg) { return KQ_OK; }
static void sink_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  if (m->id == M_RUN) {
    run_msg_t *r = (run_msg_t *)m;
    r->fn(self, r->ud);
    return;
  }
  if (g_sink->n == MAXM) return;
  /* keep it: copy the header+payload bytes and steal the owned pointers */
  kq_msg_t *copy = kq_msg_new(m->id, m->size);
  memcpy((char *)copy + sizeof(kq_msg_t), (char *)m + sizeof(kq_msg_t), m->size - sizeof(kq_msg_t));
  copy->dtor = m->dtor;
  m->dtor = NULL;
  g_sink->msgs[g_sink->n++] = copy;
}
static void sink_stop(kq_actor_t *self, void *state) {}
static const kq_actor_type_t sink_type = {"sink", 1, sink_init, sink_dispatch, sink_stop, NULL, 0};

typedef struct fx {
  struct event_base *base;
  kq_system_t *sys;
  kq_http_t *http;
  kq_k8s_config_t cfg;
  kq_aid_t sink, client;
  sink_t msgs;
  kq_k8s_client_stats_t stats;
} fx_t;

static kq_test_cluster_t *g_cluster;

static bool run_until(fx_t *f, bool (*cond)(fx_t *, const void *), const void *ud, unsigned ms) {
  kq_test_deadline_t d;
  kq_test_deadline_start(&d, f->base, ms);
  bool ok;
  while (!(ok = cond(f, ud)) && kq_test_deadline_step(&d)) {
  }
  kq_test_deadline_end(&d);
  return ok;
}

static void run(fx_t *f, void (*fn)(kq_actor_t *, void *), void *ud) {
  run_msg_t *m = KQ_MSG_NEW(run_msg_t, M_RUN);
  m->fn = fn;
  m->ud = ud;
  kq_send(f->sys, f->sink, &m->hdr);
}

/* finds the first kept message with `id` matching pred */
static kq_msg_t *find(fx_t *f, uint32_t id, bool (*pred)(kq_msg_t *, const void *), const void *ud) {
  for (size_t i = 0; i < f->msgs.n; i++)
    if (f->msgs.msgs[i]->id == id && (!pred || pred(f->msgs.msgs[i], ud))) return f->msgs.msgs[i];
  return NULL;
}

typedef struct want_pod {
  kq_k8s_watch_kind_t kind;
  const char *name;
  bool relist;
} want_pod_t;

static bool pod_pred(kq_msg_t *m, const void *ud) {
  const want_pod_t *w = ud;
  kq_k8s_pod_event_msg_t *e = (kq_k8s_pod_event_msg_t *)m;
  if (e->kind != w->kind) return false;
  if (w->kind == KQ_K8S_POD_SYNC) {
    if (w->relist != e->relist) return false;
    if (!w->name) return true;
    for (size_t i = 0; i < e->npods; i++)
      if (strcmp(e->pods[i].meta.name, w->name) == 0) return true;
    return false;
  }
  return e->pod.meta.name && strcmp(e->pod.meta.name, w->name) == 0;
}
static bool has_pod_event(fx_t *f, const void *ud) { return find(f, M_POD, pod_pred, ud) != NULL; }
static bool has_id(fx_t *f, const void *ud) { return find(f, *(const uint32_t *)ud, NULL, NULL) != NULL; }
static bool stat_ge(fx_t *f, const void *ud) {
  const uint64_t *const *p = ud;
  return *p[0] >= *p[1];
}

static void fx_start(fx_t *f, const char *context, const char *sa_dir, kq_k8s_client_opts_t *o) {
  memset(f, 0, sizeof(*f));
  g_sink = &f->msgs;
  f->base = event_base_new();
  f->sys = kq_system_new(f->base, NULL);
  f->http = kq_http_new(f->sys);
  char *err = NULL;
  int rc = sa_dir ? kq_k8s_config_in_cluster(sa_dir, &f->cfg, &err)
                  : kq_k8s_config_load_kubeconfig(g_cluster->kubeconfig, context, &f->cfg, &err);
  if (rc) fail_msg("config: %s", err);
  f->sink = kq_spawn(f->sys, &sink_type, NULL, NULL);
  o->config = &f->cfg;
  o->http = f->http;
  o->stats = &f->stats;
  if (o->pod_event_id) o->pod_subscriber = f->sink;
  if (o->node_event_id) o->node_subscriber = f->sink;
  f->client = kq_k8s_client_spawn(f->sys, o, &rc);
  assert_int_not_equal(f->client, KQ_AID_NONE);
}

static bool idle(fx_t *f, const void *ud) { return kq_system_idle(f->sys); }
static bool no_actors(fx_t *f, const void *ud) { return kq_system_actor_count(f->sys) == 0; }

static void fx_stop(fx_t *f) {
  for (size_t i = 0; i < f->msgs.n; i++) kq_msg_free(f->msgs.msgs[i]);
  f->msgs.n = 0;
  kq_system_shutdown(f->sys, NULL, NULL);
  assert_true(run_until(f, no_actors, NULL, 5000));
  kq_http_free(f->http);
  assert_true(run_until(f, idle, NULL, 5000));
  assert_int_equal(kq_system_close(f->sys), KQ_OK);
  event_base_free(f->base);
  kq_k8s_config_clear(&f->cfg);
}

static char *kubectl_ok(const char *fmt, const char *arg) {
  int st;
  char *out = kq_test_kubectl(g_cluster, &st, fmt, arg);
  if (st != 0) fail_msg("kubectl failed (%d): %s", st, out);
  return out;
}

/* ---- node + lease ---- */

static kq_k8s_node_state_t g_state = {.cpu_millis = 2500, .memory_bytes = 4LL << 30, .gpu = 1,
                                      .ready = true, .no_browsers_taint = false,
                                      .internal_ip = "127.0.0.1", .kubelet_port = 10250};
static void set_state(kq_actor_t *self, void *ud) {
  fx_t *f = ud;
  assert_int_equal(kq_k8s_set_node_state(self, f->client, &g_state), KQ_OK);
}

static void test_node_and_lease(void **state) {
  fx_t f;
  kq_k8s_client_opts_t o = {.node_name = "kuack-node", .register_node = true, .lease_renew_s = 1,
                            .node_event_id = M_NODE};
  fx_start(&f, "admin", NULL, &o);
  run(&f, set_state, &f);
  uint64_t two = 2, one = 1;
  const uint64_t *c1[2] = {&f.stats.node_status_patches, &one};
  assert_true(run_until(&f, stat_ge, c1, 20000));
  char *out = kubectl_ok("get node %s -o json", "kuack-node");
  assert_non_null(strstr(out, "\"kuack.io/node-type\": \"kuack-node\""));
  assert_non_null(strstr(out, "\"kubernetes.io/hostname\": \"kuack-node\""));
  assert_non_null(strstr(out, "\"key\": \"kuack.io/provider\""));
  assert_null(strstr(out, "kuack.io/no-browsers"));
  assert_non_null(strstr(out, "\"cpu\": \"2500m\""));
  assert_non_null(strstr(out, "\"memory\": \"4Gi\""));
  assert_non_null(strstr(out, "\"kuack.io/gpu\": \"1\""));
  assert_non_null(strstr(out, "\"operatingSystem\": \"wasm\""));
  assert_non_null(strstr(out, "\"architecture\": \"wasm32\""));
  assert_non_null(strstr(out, "\"kubeletVersion\": \"v1.26.0-kuack-node\""));
  assert_non_null(strstr(out, "\"Port\": 10250"));
  assert_non_null(strstr(out, "\"reason\": \"KubeletReady\""));
  free(out);
  /* the node watch reported the node (annotations for the policy come this way) */
  uint32_t nid = M_NODE;
  assert_true(run_until(&f, has_id, &nid, 10000));
  /* lease renews every second here */
  const uint64_t *c2[2] = {&f.stats.lease_renewals, &two};
  assert_true(run_until(&f, stat_ge, c2, 10000));
  out = kubectl_ok("get lease -n kube-node-lease %s -o jsonpath={.spec.holderIdentity}", "kuack-node");
  assert_string_equal(out, "kuack-node");
  free(out);
  /* no browsers → taint on, Ready False */
  g_state.no_browsers_taint = true;
  g_state.ready = false;
  g_state.cpu_millis = 0;
  run(&f, set_state, &f);
  uint64_t three = f.stats.node_status_patches + 1;
  const uint64_t *c3[2] = {&f.stats.node_status_patches, &three};
  assert_true(run_until(&f, stat_ge, c3, 10000));
  bool tainted = false;
  for (int i = 0; i < 50 && !tainted; i++) {
    out = kubectl_ok("get node %s -o jsonpath={.spec.taints[*].key}", "kuack-node");
    tainted = strstr(out, "kuack.io/no-browsers") != NULL;
    free(out);
    if (!tainted) run_until(&f, stat_ge, c3, 100); /* let the spec patch land */
  }
  assert_true(tainted);
  assert_int_equal(f.stats.errors, 0);
  g_state.no_browsers_taint = false;
  g_state.ready = true;
  g_state.cpu_millis = 2500;
  fx_stop(&f);
}

/* ---- pods ---- */

static const char *POD_YAML =
    "apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: default}\n"
    "spec:\n  nodeName: kuack-node\n  containers:\n  - name: main\n    image: reg/hello:v1\n"
    "    resources: {requests: {cpu: 100m, memory: 16Mi}}\n";

static void create_pod(const char *name) {
  char yaml[512];
  snprintf(yaml, sizeof(yaml), POD_YAML, name);
  int st;
  char *out = kq_test_sh(&st, "printf '%%s' '%s' | kubectl --kubeconfig %s create -f - 2>&1", yaml,
                         g_cluster->kubeconfig);
  if (st) fail_msg("create pod: %s", out);
  free(out);
}

static void patch_running(kq_actor_t *self, void *ud) {
  fx_t *f = ud;
  kq_pod_status_t st = {0};
  st.phase = KQ_PHASE_RUNNING;
  kq_pod_condition_t cond = {.type = "Ready", .status = KQ_COND_TRUE, .reason = "AgentRunning",
                             .last_transition_ns = 1767225600ull * 1000000000ull};
  st.conditions = &cond;
  st.nconditions = 1;
  kq_container_status_t cs = {.name = "main", .image = "reg/hello:v1",
                              .image_id = "reg/hello@sha256:0123", .ready = true, .started = true,
                              .has_started = true};
  cs.state.kind = KQ_CSTATE_RUNNING;
  cs.state.started_ns = 1767225600ull * 1000000000ull;
  st.container_statuses = &cs;
  st.ncontainer_statuses = 1;
  st.start_ns = 1767225600ull * 1000000000ull;
  assert_int_equal(kq_k8s_patch_pod_status(self, f->client, "default", "p1", &st, M_RESULT, 7), KQ_OK);
  kq_k8s_event_t ev = {.kind = "Pod", .ns = "default", .name = "p1", .reason = "Started",
                       .message = "placed on browser b-1 by policy binpack"};
  assert_int_equal(kq_k8s_emit_event(self, f->client, &ev), KQ_OK);
  assert_int_equal(kq_k8s_get_configmap(self, f->client, "default", "cfg", M_DATA, 9), KQ_OK);
}

static void delete_p1(kq_actor_t *self, void *ud) {
  fx_t *f = ud;
  assert_int_equal(kq_k8s_delete_pod(self, f->client, "default", "p1", NULL, 0, M_RESULT, 8), KQ_OK);
}

static bool result_cookie(kq_msg_t *m, const void *ud) {
  return ((kq_k8s_result_msg_t *)m)->cookie == *(const uint64_t *)ud;
}
static bool has_result(fx_t *f, const void *ud) { return find(f, M_RESULT, result_cookie, ud) != NULL; }

static void test_pods(void **state) {
  free(kubectl_ok("create configmap cfg --from-literal=%s", "k=v"));
  create_pod("p0"); /* exists before the client starts: arrives in the first SYNC */
  fx_t f;
  kq_k8s_client_opts_t o = {.node_name = "kuack-node", .pod_event_id = M_POD, .kubelet_version = "v1"};
  fx_start(&f, "admin", NULL, &o);
  want_pod_t w0 = {KQ_K8S_POD_SYNC, "p0", false};
  assert_true(run_until(&f, has_pod_event, &w0, 10000));
  create_pod("p1");
  want_pod_t w1 = {KQ_K8S_POD_ADDED, "p1", false};
  assert_true(run_until(&f, has_pod_event, &w1, 10000));
  kq_k8s_pod_event_msg_t *e = (kq_k8s_pod_event_msg_t *)find(&f, M_POD, pod_pred, &w1);
  assert_string_equal(e->pod.spec.node_name, "kuack-node");
  assert_int_equal(e->pod.spec.containers[0].resources.requests.cpu_millis, 100);
  assert_non_null(e->pod.meta.uid);

  run(&f, patch_running, &f);
  uint64_t ck = 7;
  assert_true(run_until(&f, has_result, &ck, 10000));
  assert_int_equal(((kq_k8s_result_msg_t *)find(&f, M_RESULT, result_cookie, &ck))->rc, KQ_OK);
  char *out = kubectl_ok("get pod %s -o jsonpath={.status.phase}/{.status.containerStatuses[0].imageID}", "p1");
  assert_string_equal(out, "Running/reg/hello@sha256:0123");
  free(out);
  uint32_t did = M_DATA;
  assert_true(run_until(&f, has_id, &did, 10000));
  kq_k8s_data_msg_t *d = (kq_k8s_data_msg_t *)find(&f, M_DATA, NULL, NULL);
  assert_int_equal(d->rc, KQ_OK);
  assert_int_equal(d->ndata, 1);
  assert_string_equal(d->data[0].value, "v");
  const uint64_t one = 1;
  const uint64_t *c1[2] = {&f.stats.events, &one};
  assert_true(run_until(&f, stat_ge, c1, 10000));
  out = kubectl_ok("get events --field-selector involvedObject.name=%s -o jsonpath={.items[*].reason}/{.items[*].source.component}", "p1");
  assert_string_equal(out, "Started/kuack-node");
  free(out);

  run(&f, delete_p1, &f);
  want_pod_t w2 = {KQ_K8S_POD_DELETED, "p1", false};
  assert_true(run_until(&f, has_pod_event, &w2, 10000));
  create_pod("p3");
  want_pod_t w4 = {KQ_K8S_POD_ADDED, "p3", false};
  assert_true(run_until(&f, has_pod_event, &w4, 10000));
  /* the resourceVersion the client had when it went away */
  char *seen_rv = strdup(((kq_k8s_pod_event_msg_t *)find(&f, M_POD, pod_pred, &w4))->rv);
  assert_int_equal(f.stats.errors, 0);
  fx_stop(&f);

  /* while nobody watches: p3 is deleted, p2 created */
  free(kubectl_ok("delete pod %s --grace-period=0 --force", "p3"));
  create_pod("p2");

  /* restart with a too-old resourceVersion: etcd is compacted (the cluster runs without the
   * watch cache), so the watch gets 410 Gone; the client relists and sends a SYNC (relist) that
   * still holds p0 */
  int st;
  free(kq_test_sh(&st, "ETCDCTL_API=3 etcdctl --endpoints=%s compact $(kubectl --kubeconfig %s get "
                       "--raw '/api/v1/pods?limit=1' | jq -r .metadata.resourceVersion)",
                  g_cluster->etcd_endpoint, g_cluster->kubeconfig));
  assert_int_equal(st, 0);
  kq_k8s_client_opts_t o2 = {.node_name = "kuack-node", .pod_event_id = M_POD,
                             .kubelet_version = "v1", .resume_rv = seen_rv};
  fx_start(&f, "admin", NULL, &o2);
  want_pod_t w3 = {KQ_K8S_POD_SYNC, "p0", true};
  assert_true(run_until(&f, has_pod_event, &w3, 15000));
  assert_true(f.stats.relists >= 1);
  /* the reconciled set: p0 and p2 (new), not p3 (deleted while disconnected) nor p1 */
  kq_k8s_pod_event_msg_t *sync = (kq_k8s_pod_event_msg_t *)find(&f, M_POD, pod_pred, &w3);
  assert_int_equal(sync->npods, 2);
  bool has_p0 = false, has_p2 = false;
  for (size_t i = 0; i < sync->npods; i++) {
    has_p0 |= strcmp(sync->pods[i].meta.name, "p0") == 0;
    has_p2 |= strcmp(sync->pods[i].meta.name, "p2") == 0;
  }
  assert_true(has_p0 && has_p2);
  /* no stale ADDED/DELETED from before the compaction were replayed */
  want_pod_t stale = {KQ_K8S_POD_DELETED, "p3", false};
  assert_null(find(&f, M_POD, pod_pred, &stale));
  fx_stop(&f);
  free(seen_rv);
  free(kubectl_ok("delete pod %s --grace-period=0 --force", "p0"));
  free(kubectl_ok("delete pod %s --grace-period=0 --force", "p2"));
}

/* ---- RBAC: deploy/ ClusterRole + a service-account token, in-cluster mode ---- */

static void test_rbac_in_cluster(void **state) {
  const char *src = getenv("KQ_SOURCE_DIR");
  int st;
  char *out = kq_test_kubectl(g_cluster, &st, "apply -f %s/deploy/rbac.yaml 2>&1", src);
  if (st) fail_msg("apply rbac: %s", out);
  free(out);
  char *token = kubectl_ok("create token kuack-node -n %s --duration=1h", "kuack");
  char dir[] = "/tmp/kq-sa-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *cmd = NULL;
  assert_true(asprintf(&cmd, "printf '%%s' '%s' > %s/token && cp %s %s/ca.crt && echo kuack > %s/namespace",
                       token, dir, g_cluster->cluster_ca, dir, dir) > 0);
  free(kq_test_sh(&st, "%s", cmd));
  assert_int_equal(st, 0);
  free(cmd);
  free(token);
  const char *hostport = strstr(g_cluster->apiserver, "://") + 3;
  char host[64];
  snprintf(host, sizeof(host), "%.*s", (int)strcspn(hostport, ":"), hostport);
  setenv("KUBERNETES_SERVICE_HOST", host, 1);
  setenv("KUBERNETES_SERVICE_PORT", strchr(hostport, ':') + 1, 1);
  free(kubectl_ok("create configmap cfg2 -n default --from-literal=%s", "a=b"));

  fx_t f;
  kq_k8s_client_opts_t o = {.node_name = "kuack-sa", .register_node = true, .lease_renew_s = 1,
                            .pod_event_id = M_POD, .node_event_id = M_NODE};
  fx_start(&f, NULL, dir, &o);
  run(&f, set_state, &f);
  const uint64_t one = 1;
  const uint64_t *c1[2] = {&f.stats.node_status_patches, &one};
  assert_true(run_until(&f, stat_ge, c1, 20000));
  const uint64_t *c2[2] = {&f.stats.lease_renewals, &one};
  assert_true(run_until(&f, stat_ge, c2, 10000));
  want_pod_t w0 = {KQ_K8S_POD_SYNC, NULL, false};
  assert_true(run_until(&f, has_pod_event, &w0, 10000));
  out = kubectl_ok("get node %s -o jsonpath={.status.nodeInfo.operatingSystem}", "kuack-sa");
  assert_string_equal(out, "wasm");
  free(out);
  if (f.stats.errors) fail_msg("%llu API errors with the deploy/ ClusterRole", (unsigned long long)f.stats.errors);
  fx_stop(&f);
  unsetenv("KUBERNETES_SERVICE_HOST");
  free(kq_test_sh(&st, "rm -rf %s", dir));
}

static int setup(void **state) {
  g_cluster = kq_test_cluster_up("EXTRA_APISERVER_ARGS=--watch-cache=false");
  return 0;
}
static int teardown(void **state) {
  kq_test_cluster_down(g_cluster);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_node_and_lease),
      cmocka_unit_test(test_pods),
      cmocka_unit_test(test_rbac_in_cluster),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
