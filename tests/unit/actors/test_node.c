/* Deterministic-harness tests for the node actor (actors/node.c): capacity summed over browser
 * events and announced once per coalescing window, pod actors' reports copied upstream, newer
 * versions of a live Pod taken into the table, and the API client handed to pod actors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kq_alloc.h"
#include "kq_browser.h"
#include "kq_error.h"
#include "kq_harness.h"
#include "kq_k8s_types.h"
#include "kq_node.h"

typedef struct fx {
  kq_harness_t *h;
  kq_system_t *sys;
  kq_aid_t up, sched, api, node;
  kq_podtable_t *table;
} fx_t;

static fx_t *fx_new(void) {
  fx_t *f = kq_calloc(1, sizeof *f);
  f->h = kq_h_new();
  f->sys = kq_h_system(f->h);
  f->up = kq_h_probe(f->h);
  f->sched = kq_h_probe(f->h);
  f->api = kq_h_probe(f->h);
  f->table = kq_podtable_new();
  kq_node_config_t cfg = {.node_name = "kuack-node", .scheduler = f->sched, .table = f->table, .upstream = f->up};
  int err = KQ_OK;
  f->node = kq_node_spawn(f->sys, &cfg, &err);
  assert_true(f->node != KQ_AID_NONE);
  kq_h_run(f->h);
  return f;
}

static void fx_free(fx_t *f) {
  kq_h_free(f->h);
  kq_podtable_free(f->table);
  free(f);
}

static void browser(fx_t *f, kq_browser_event_kind_t kind, kq_aid_t aid, int64_t cpu, int64_t mem, uint32_t max_pods,
                    kq_gpu_class_t gpu) {
  kq_browser_event_msg_t *m = KQ_MSG_NEW(kq_browser_event_msg_t, KQ_NODE_MSG_BROWSER_EVENT);
  m->hdr.dtor = kq_browser_event_msg_dtor;
  m->kind = kind;
  m->info.aid = aid;
  m->info.browser_id = kq_asprintf("b-%llu", (unsigned long long)aid);
  m->info.cpu_millis = cpu;
  m->info.memory_bytes = mem;
  m->info.max_pods = max_pods;
  m->info.gpu = gpu;
  kq_send(f->sys, f->node, &m->hdr);
  kq_h_run(f->h);
}

static kq_node_capacity_t expect_capacity(fx_t *f) {
  kq_node_capacity_msg_t *m = (kq_node_capacity_msg_t *)kq_h_expect(f->h, f->up, KQ_NODE_UP_CAPACITY);
  kq_node_capacity_t c = m->cap;
  kq_msg_free(&m->hdr);
  return c;
}

#define GI (1024LL * 1024 * 1024)

static void test_capacity_follows_browsers(void **state) {
  (void)state;
  fx_t *f = fx_new();
  kq_aid_t b1 = kq_h_probe(f->h), b2 = kq_h_probe(f->h);
  browser(f, KQ_BROWSER_UP, b1, 2000, 4 * GI, 0, KQ_GPU_REAL);
  browser(f, KQ_BROWSER_UP, b2, 1000, 2 * GI, 5, KQ_GPU_FALLBACK);
  kq_h_expect_none(f->h, f->up); /* coalesced: nothing before the window ends */
  kq_h_advance(f->h, KQ_SEC(1));
  kq_node_capacity_t c = expect_capacity(f);
  assert_int_equal(c.browsers, 2);
  assert_int_equal(c.cpu_millis, 3000);
  assert_int_equal(c.memory_bytes, 6 * GI);
  assert_int_equal(c.pods, 115); /* 0 = 110 per browser */
  assert_int_equal(c.gpus, 1);   /* only a real adapter counts */
  kq_h_expect_none(f->h, f->up); /* one announcement for the burst */

  browser(f, KQ_BROWSER_CHANGED, b1, 500, 4 * GI, 0, KQ_GPU_REAL);
  kq_h_advance(f->h, KQ_SEC(1));
  assert_int_equal(expect_capacity(f).cpu_millis, 1500);

  browser(f, KQ_BROWSER_DOWN, b1, 0, 0, 0, KQ_GPU_NONE);
  browser(f, KQ_BROWSER_DOWN, b2, 0, 0, 0, KQ_GPU_NONE);
  kq_h_advance(f->h, KQ_SEC(1));
  c = expect_capacity(f);
  assert_int_equal(c.browsers, 0);
  assert_int_equal(c.cpu_millis, 0);
  assert_int_equal(c.memory_bytes, 0);
  assert_int_equal(c.pods, 0);
  assert_int_equal(c.gpus, 0);
  /* Nothing changed: nothing announced. */
  browser(f, KQ_BROWSER_DOWN, b1, 0, 0, 0, KQ_GPU_NONE);
  kq_h_advance(f->h, KQ_SEC(1));
  kq_h_expect_none(f->h, f->up);
  /* A new upstream is answered at once. */
  kq_send(f->sys, f->node, KQ_MSG_NEW(kq_msg_t, KQ_NODE_MSG_SET_UPSTREAM));
  kq_h_run(f->h);
  fx_free(f);
}

static kq_pod_t pod_from(const char *json) {
  kq_pod_t p;
  char *err = NULL;
  if (kq_k8s_pod_from_json(json, strlen(json), &p, &err) != KQ_OK) fail_msg("pod json: %s", err ? err : "?");
  return p;
}

/* Two containers: the pod actor refuses it without needing an image service. */
#define UNSUPPORTED(labels)                                                                        \
  "{\"metadata\":{\"name\":\"two\",\"namespace\":\"demo\",\"uid\":\"u-2\",\"resourceVersion\":\"1\"" labels "}," \
  "\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"x:1\"},{\"name\":\"b\",\"image\":\"x:1\"}]}}"

static void upsert(fx_t *f, const char *json) {
  kq_pod_t p = pod_from(json);
  kq_send(f->sys, f->node, &kq_node_pod_msg_new("u-2", &p)->hdr);
  kq_h_run(f->h);
}

static void test_pod_reports_updates_and_removal(void **state) {
  (void)state;
  fx_t *f = fx_new();
  upsert(f, UNSUPPORTED(",\"labels\":{\"tier\":\"a\"}"));
  kq_sink_event_msg_t *e = (kq_sink_event_msg_t *)kq_h_expect(f->h, f->up, KQ_NODE_UP_POD_EVENT);
  assert_string_equal(e->reason, "FailedCreate");
  assert_true(e->warning);
  kq_msg_free(&e->hdr);
  kq_sink_status_msg_t *s = (kq_sink_status_msg_t *)kq_h_expect(f->h, f->up, KQ_NODE_UP_POD_STATUS);
  assert_string_equal(s->uid, "u-2");
  assert_int_equal(s->status.phase, KQ_PHASE_FAILED);
  assert_string_equal(s->status.reason, "Unsupported");
  kq_msg_free(&s->hdr);
  const kq_pod_t *t = kq_podtable_find(f->table, "demo", "two");
  assert_non_null(t);
  assert_int_equal(t->status.phase, KQ_PHASE_FAILED);
  assert_string_equal(kq_k8s_meta_label(&t->meta, "tier"), "a");

  /* A newer version with other labels: the table takes it and keeps the status. */
  upsert(f, UNSUPPORTED(",\"labels\":{\"tier\":\"b\"}"));
  t = kq_podtable_find(f->table, "demo", "two");
  assert_string_equal(kq_k8s_meta_label(&t->meta, "tier"), "b");
  assert_int_equal(t->status.phase, KQ_PHASE_FAILED);
  assert_int_equal(kq_podtable_count(f->table), 1);
  kq_h_expect_none(f->h, f->up); /* the pod actor's status did not change */

  kq_send(f->sys, f->node, &kq_node_remove_msg_new("u-2", 0)->hdr);
  kq_h_run(f->h);
  kq_sink_gone_msg_t *g = (kq_sink_gone_msg_t *)kq_h_expect(f->h, f->up, KQ_NODE_UP_POD_GONE);
  assert_string_equal(g->uid, "u-2");
  kq_msg_free(&g->hdr);
  assert_int_equal(kq_podtable_count(f->table), 0);
  fx_free(f);
}

/* Pods spawned after KQ_NODE_MSG_SET_API read their ConfigMaps through that client. */
static void test_api_handed_to_pods(void **state) {
  (void)state;
  fx_t *f = fx_new();
  kq_node_api_msg_t *a = KQ_MSG_NEW(kq_node_api_msg_t, KQ_NODE_MSG_SET_API);
  a->api = f->api;
  kq_send(f->sys, f->node, &a->hdr);
  kq_h_run(f->h);
  upsert(f, "{\"metadata\":{\"name\":\"cm\",\"namespace\":\"demo\",\"uid\":\"u-2\"},\"spec\":{\"containers\":"
            "[{\"name\":\"a\",\"image\":\"x:1\",\"env\":[{\"name\":\"G\",\"valueFrom\":{\"configMapKeyRef\":"
            "{\"name\":\"greet\",\"key\":\"k\"}}}]}]}}");
  kq_msg_t *req = kq_h_take(f->h, f->api);
  assert_non_null(req); /* the ConfigMap read went to the API client */
  kq_msg_free(req);
  kq_h_expect_none(f->h, f->api);
  kq_send(f->sys, f->node, &kq_node_remove_msg_new("u-2", 0)->hdr);
  kq_h_run(f->h);
  kq_msg_t *m;
  bool gone = false;
  while ((m = kq_h_take(f->h, f->up))) {
    gone |= m->id == KQ_NODE_UP_POD_GONE;
    kq_msg_free(m);
  }
  assert_true(gone);
  fx_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_capacity_follows_browsers),
      cmocka_unit_test(test_pod_reports_updates_and_removal),
      cmocka_unit_test(test_api_handed_to_pods),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
