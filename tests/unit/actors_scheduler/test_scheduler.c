/* Scheduler actor on the deterministic harness: explanations, waiting then placed when capacity
 * appears, queue order (priority, then age), release and cancel, browser loss, selectors,
 * exclusion for re-runs, policy switches (applied to the next decision; unknown names and bad
 * params keep the current policy). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kq_error.h"
#include "sched_fixture.h"

typedef struct ctx {
  kq_harness_t *h;
  kq_aid_t sched, pod, b1, b2, b3;
} ctx_t;

static int setup(void **st) {
  ctx_t *c = calloc(1, sizeof *c);
  c->h = kq_h_new();
  int err = 0;
  c->sched = kq_scheduler_spawn(kq_h_system(c->h), NULL, &err);
  assert_int_equal(err, KQ_OK);
  assert_true(c->sched != KQ_AID_NONE);
  c->pod = kq_h_probe(c->h);
  c->b1 = kq_h_probe(c->h);
  c->b2 = kq_h_probe(c->h);
  c->b3 = kq_h_probe(c->h);
  *st = c;
  return 0;
}

static int teardown(void **st) {
  ctx_t *c = *st;
  kq_h_free(c->h);
  free(c);
  return 0;
}

static kq_sched_placed_msg_t *expect_placed(ctx_t *c, const char *uid, kq_aid_t browser) {
  kq_sched_placed_msg_t *p = (kq_sched_placed_msg_t *)kq_h_expect(c->h, c->pod, KQ_SCHED_MSG_PLACED);
  assert_string_equal(p->pod_uid, uid);
  if (p->browser != browser) fail_msg("%s placed on %s", uid, p->browser_id);
  return p;
}

static void expect_waiting(ctx_t *c, const char *uid, const char *message) {
  kq_sched_waiting_msg_t *w = (kq_sched_waiting_msg_t *)kq_h_expect(c->h, c->pod, KQ_SCHED_MSG_WAITING);
  assert_string_equal(w->pod_uid, uid);
  assert_string_equal(w->reason, KQ_SCHED_REASON_WAITING);
  assert_string_equal(w->message, message);
  kq_msg_free(&w->hdr);
}

static void test_explained_placement(void **st) {
  ctx_t *c = *st;
  sf_browser(c->h, c->sched, KQ_BROWSER_UP, c->b1, "b-1", 4000, 8 * GI);
  sf_browser(c->h, c->sched, KQ_BROWSER_UP, c->b2, "b-12", 1500, 2 * GI);
  sf_place(c->h, c->sched, c->pod, "p1", 1000, 1 * GI, 0);
  kq_sched_placed_msg_t *p = expect_placed(c, "p1", c->b1);
  assert_string_equal(p->browser_id, "b-1");
  assert_string_equal(p->policy, "binpack");
  assert_string_equal(p->explanation, "placed on b-1 by binpack: free cpu 4000m→3000m, mem "
                                      "8Gi→7Gi, no busy browser fits: opened the idle one with "
                                      "the most CPU");
  assert_int_equal(p->cpu_millis, 1000);
  assert_int_equal(p->memory_bytes, GI);
  kq_msg_free(&p->hdr);
  /* the busy browser is filled first, b-12 stays idle */
  sf_place(c->h, c->sched, c->pod, "p2", 1000, 1 * GI, 0);
  p = expect_placed(c, "p2", c->b1);
  assert_string_equal(p->explanation, "placed on b-1 by binpack: free cpu 3000m→2000m, mem "
                                      "7Gi→6Gi, best fit (dominant=cpu)");
  kq_msg_free(&p->hdr);
  kq_sched_stats_msg_t *s = sf_stats(c->h, c->sched, c->pod);
  assert_int_equal(s->browsers, 2);
  assert_int_equal(s->placed, 2);
  assert_int_equal(s->free_cpu_millis, 3500);
  assert_int_equal(s->reserved_memory_bytes, 2 * GI);
  assert_true(s->accounting_ok);
  kq_msg_free(&s->hdr);
}

static void test_waiting_then_placed(void **st) {
  ctx_t *c = *st;
  sf_place(c->h, c->sched, c->pod, "big", 4000, 512 * MI, 0);
  expect_waiting(c, "big", "no browser is connected");
  sf_browser(c->h, c->sched, KQ_BROWSER_UP, c->b1, "b-3", 2000, 4 * GI);
  expect_waiting(c, "big", "no browser has 4000m CPU free (largest free: 2000m on b-3)");
  kq_h_expect_none(c->h, c->pod);
  /* the browser grows (e.g. a new heartbeat): placed without asking again */
  sf_browser(c->h, c->sched, KQ_BROWSER_CHANGED, c->b1, "b-3", 8000, 4 * GI);
  kq_msg_free(&expect_placed(c, "big", c->b1)->hdr);
  kq_h_expect_none(c->h, c->pod);
  /* memory missing is named too */
  sf_place(c->h, c->sched, c->pod, "fat", 100, 8 * GI, 0);
  expect_waiting(c, "fat", "no browser has 8Gi memory free (largest free: 3.5Gi on b-3)");
  sf_browser(c->h, c->sched, KQ_BROWSER_UP, c->b2, "b-4", 1000, 16 * GI);
  kq_msg_free(&expect_placed(c, "fat", c->b2)->hdr);
}

static void test_queue_order(void **st) {
  ctx_t *c = *st;
  sf_browser(c->h, c->sched, KQ_BROWSER_UP, c->b1, "b-1", 1000, GI);
  sf_place(c->h, c->sched, c->pod, "first", 1000, MI, 0);
  kq_msg_free(&expect_placed(c, "first", c->b1)->hdr);
  sf_place(c->h, c->sched, c->pod, "old-low", 1000, MI, 0);
  sf_place(c->h, c->sched, c->pod, "high", 1000, MI, 5);
  sf_place(c->h, c->sched, c->pod, "new-low", 1000, MI, 0);
  sf_place(c->h, c->sched, c->pod, "mid", 1000, MI, 2);
  for (int i = 0; i < 4; i++) kq_msg_free(kq_h_expect(c->h, c->pod, KQ_SCHED_MSG_WAITING));
  const char *order[] = {"high", "mid", "old-low", "new-low"};
  const char *running = "first";
  for (int i = 0; i < 4; i++) {
    sf_pod(c->h, c->sched, KQ_SCHED_MSG_RELEASE, running);
    kq_msg_free(&expect_placed(c, order[i], c->b1)->hdr);
    kq_h_expect_none(c->h, c->pod);
    running = order[i];
  }
  sf_pod(c->h, c->sched, KQ_SCHED_MSG_RELEASE, running);
  sf_pod(c->h, c->sched, KQ_SCHED_MSG_RELEASE, running); /* twice: harmless */
  kq_sched_stats_msg_t *s = sf_stats(c->h, c->sched, c->pod);
  assert_int_equal(s->placed, 0);
  assert_int_equal(s->pending, 0);
  assert_int_equal(s->free_cpu_millis, 1000);
  assert_int_equal(s->placements, 5);
  assert_true(s->accounting_ok);
  kq_msg_free(&s->hdr);
}

static void test_cancel_and_browser_down(void **st) {
  ctx_t *c = *st;
  sf_browser(c->h, c->sched, KQ_BROWSER_UP, c->b1, "b-1", 2000, GI);
  sf_place(c->h, c->sched, c->pod, "a", 2000, MI, 0);
  kq_msg_free(&expect_placed(c, "a", c->b1)->hdr);
  sf_place(c->h, c->sched, c->pod, "b", 2000, MI, 0);
  kq_msg_free(kq_h_expect(c->h, c->pod, KQ_SCHED_MSG_WAITING));
  sf_pod(c->h, c->sched, KQ_SCHED_MSG_CANCEL, "b"); /* deleted while pending */
  sf_pod(c->h, c->sched, KQ_SCHED_MSG_RELEASE, "a");
  kq_h_expect_none(c->h, c->pod); /* b is gone: nothing placed */
  sf_place(c->h, c->sched, c->pod, "c", 1500, MI, 0);
  kq_msg_free(&expect_placed(c, "c", c->b1)->hdr);
  sf_place(c->h, c->sched, c->pod, "d", 1500, MI, 0);
  kq_msg_free(kq_h_expect(c->h, c->pod, KQ_SCHED_MSG_WAITING));
  /* the browser leaves: c's reservation goes with it; d waits for a new browser */
  sf_browser(c->h, c->sched, KQ_BROWSER_DOWN, c->b1, "b-1", 2000, GI);
  kq_sched_stats_msg_t *s = sf_stats(c->h, c->sched, c->pod);
  assert_int_equal(s->browsers, 0);
  assert_int_equal(s->placed, 0);
  assert_int_equal(s->pending, 1);
  assert_true(s->accounting_ok);
  kq_msg_free(&s->hdr);
  sf_pod(c->h, c->sched, KQ_SCHED_MSG_RELEASE, "c"); /* the pod's late release is a no-op */
  sf_browser(c->h, c->sched, KQ_BROWSER_UP, c->b2, "b-2", 2000, GI);
  kq_msg_free(&expect_placed(c, "d", c->b2)->hdr);
}

static void test_selector_and_exclude(void **st) {
  ctx_t *c = *st;
  kq_browser_info_t info = {.aid = c->b1, .browser_id = "b-eu", .cpu_millis = 2000,
                            .memory_bytes = GI, .rtt_us = -1, .nlabels = 1};
  info.labels[0] = (kq_label_t){"region", "eu"};
  kq_send(kq_h_system(c->h), c->sched, &kq_sched_browser_event_new(KQ_BROWSER_UP, &info, NULL)->hdr);
  info.aid = c->b2;
  info.browser_id = "b-us";
  info.cpu_millis = 1000;
  info.labels[0] = (kq_label_t){"region", "us"};
  kq_send(kq_h_system(c->h), c->sched, &kq_sched_browser_event_new(KQ_BROWSER_UP, &info, NULL)->hdr);
  kq_sched_place_msg_t *m = kq_sched_place_msg_new();
  m->reply_to = c->pod;
  m->pod_uid = kq_strdup("eu-pod");
  m->cpu_millis = 500;
  m->selector = kq_strdup("region in (eu)");
  kq_send(kq_h_system(c->h), c->sched, &m->hdr);
  kq_msg_free(&expect_placed(c, "eu-pod", c->b1)->hdr); /* binpack alone would pick b-us */
  m = kq_sched_place_msg_new();
  m->reply_to = c->pod;
  m->pod_uid = kq_strdup("nowhere");
  m->selector = kq_strdup("region=asia");
  kq_send(kq_h_system(c->h), c->sched, &m->hdr);
  expect_waiting(c, "nowhere", "no eligible browser among 2: 2 excluded by selector ('region=asia') "
                               "or re-run, 0 throttled/overloaded, 0 without a real WebGPU "
                               "adapter, 0 above max-rtt, 0 at max pods");
  m = kq_sched_place_msg_new();
  m->reply_to = c->pod;
  m->pod_uid = kq_strdup("bad");
  m->selector = kq_strdup("region in eu");
  kq_send(kq_h_system(c->h), c->sched, &m->hdr);
  kq_sched_waiting_msg_t *w = (kq_sched_waiting_msg_t *)kq_h_expect(c->h, c->pod, KQ_SCHED_MSG_WAITING);
  assert_string_equal(w->reason, KQ_SCHED_REASON_BAD_SELECTOR);
  assert_string_equal(w->message, "browser selector: expected '(' at position 11");
  assert_int_equal(w->queued, 0);
  kq_msg_free(&w->hdr);
  /* re-run avoiding the browser that failed: a second PLACE replaces the first */
  m = kq_sched_place_msg_new();
  m->reply_to = c->pod;
  m->pod_uid = kq_strdup("eu-pod");
  m->cpu_millis = 500;
  m->exclude = c->b2; /* binpack alone would pick the tighter b-us */
  kq_send(kq_h_system(c->h), c->sched, &m->hdr);
  kq_msg_free(&expect_placed(c, "eu-pod", c->b1)->hdr);
  kq_sched_stats_msg_t *s = sf_stats(c->h, c->sched, c->pod);
  assert_int_equal(s->placed, 1);
  assert_int_equal(s->free_cpu_millis, 2500);
  assert_true(s->accounting_ok);
  kq_msg_free(&s->hdr);
}

static void set_policy(ctx_t *c, const char *name, const kq_policy_params_t *prm, int want_err,
                       const char *want_active, const char *want_msg) {
  kq_sched_set_policy_msg_t *m = kq_sched_set_policy_msg_new(name, prm);
  m->hdr.from = c->pod;
  kq_send(kq_h_system(c->h), c->sched, &m->hdr);
  kq_sched_policy_msg_t *r = (kq_sched_policy_msg_t *)kq_h_expect(c->h, c->pod, KQ_SCHED_MSG_POLICY_RESULT);
  assert_int_equal(r->err, want_err);
  assert_string_equal(r->active, want_active);
  assert_string_equal(r->message, want_msg);
  kq_msg_free(&r->hdr);
}

static void test_policy_switch(void **st) {
  ctx_t *c = *st;
  sf_browser(c->h, c->sched, KQ_BROWSER_UP, c->b1, "b-big", 8000, 8 * GI);
  sf_browser(c->h, c->sched, KQ_BROWSER_UP, c->b2, "b-small", 1000, GI);
  /* parameters travel with the switch: binpack opening the smallest idle browser that fits */
  kq_policy_params_t small = {0};
  kq_policy_params_add(&small, "open_largest", 0);
  set_policy(c, "binpack", &small, KQ_OK, "binpack", "placement policy is now binpack");
  sf_place(c->h, c->sched, c->pod, "p1", 500, MI, 0);
  kq_msg_free(&expect_placed(c, "p1", c->b2)->hdr);
  set_policy(c, "kuack-compat", NULL, KQ_OK, "kuack-compat", "placement policy is now kuack-compat");
  sf_place(c->h, c->sched, c->pod, "p2", 500, MI, 0);
  kq_sched_placed_msg_t *p = expect_placed(c, "p2", c->b1);
  assert_string_equal(p->policy, "kuack-compat");
  kq_msg_free(&p->hdr);
  set_policy(c, "best-fit", NULL, KQ_ENOENT, "kuack-compat",
             "unknown placement policy 'best-fit' (known: binpack, gpu, latency, spread, "
             "first-fit, kuack-compat)");
  kq_policy_params_t prm = {0};
  kq_policy_params_add(&prm, "load_weight", -1);
  set_policy(c, "latency", &prm, KQ_EINVAL, "kuack-compat",
             "policy latency: parameter load_weight=-1 out of range [0, 100]");
  sf_place(c->h, c->sched, c->pod, "p3", 100, MI, 0);
  p = expect_placed(c, "p3", c->b1);
  assert_string_equal(p->policy, "kuack-compat");
  kq_msg_free(&p->hdr);
  set_policy(c, "first-fit", NULL, KQ_OK, "first-fit", "placement policy is now first-fit");
  sf_place(c->h, c->sched, c->pod, "p4", 100, MI, 0);
  kq_msg_free(&expect_placed(c, "p4", c->b1)->hdr);
  /* spawning with an unknown policy fails */
  int err = 0;
  kq_sched_config_t cfg = {.policy = "nope"};
  assert_int_equal(kq_scheduler_spawn(kq_h_system(c->h), &cfg, &err), KQ_AID_NONE);
  assert_int_equal(err, KQ_ENOENT);
}

static void test_metrics(void **st) {
  ctx_t *c = *st;
  sf_browser(c->h, c->sched, KQ_BROWSER_UP, c->b1, "b-1", 1000, GI);
  sf_place(c->h, c->sched, c->pod, "a", 1000, MI, 0);
  sf_place(c->h, c->sched, c->pod, "b", 1000, MI, 0);
  kq_h_run(c->h);
  char *text = kq_metrics_render(kq_system_metrics(kq_h_system(c->h)), NULL);
  assert_non_null(strstr(text, "kq_scheduler_placements_total{policy=\"binpack\"} 1"));
  assert_non_null(strstr(text, "kq_scheduler_pending_pods 1"));
  assert_non_null(strstr(text, "kq_scheduler_decision_seconds_count 2"));
  free(text);
}

/* After releases a waiting Pod is re-explained at most once a second (each explanation scans
 * every browser); the deferred explanation still comes, from a timer. */
static void test_reexplained_after_releases(void **st) {
  ctx_t *c = *st;
  sf_browser(c->h, c->sched, KQ_BROWSER_UP, c->b1, "b-1", 4000, 16 * GI);
  const char *run[] = {"a", "b", "c"};
  const int64_t cpu[] = {1000, 1000, 1500};
  for (int i = 0; i < 3; i++) {
    sf_place(c->h, c->sched, c->pod, run[i], cpu[i], MI, 0);
    kq_msg_free(&expect_placed(c, run[i], c->b1)->hdr);
  }
  sf_place(c->h, c->sched, c->pod, "w", 3500, MI, 0);
  expect_waiting(c, "w", "no browser has 3500m CPU free (largest free: 500m on b-1)");
  sf_pod(c->h, c->sched, KQ_SCHED_MSG_RELEASE, "c"); /* first release: explained at once */
  expect_waiting(c, "w", "no browser has 3500m CPU free (largest free: 2000m on b-1)");
  sf_pod(c->h, c->sched, KQ_SCHED_MSG_RELEASE, "b"); /* within the second: deferred */
  kq_h_expect_none(c->h, c->pod);
  kq_h_advance(c->h, 999999999);
  kq_h_expect_none(c->h, c->pod);
  kq_h_advance(c->h, 1);
  expect_waiting(c, "w", "no browser has 3500m CPU free (largest free: 3000m on b-1)");
  sf_pod(c->h, c->sched, KQ_SCHED_MSG_RELEASE, "a"); /* capacity: placed, no waiting */
  kq_msg_free(&expect_placed(c, "w", c->b1)->hdr);
  kq_h_advance(c->h, 2000000000);
  kq_h_expect_none(c->h, c->pod);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_explained_placement, setup, teardown),
      cmocka_unit_test_setup_teardown(test_waiting_then_placed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queue_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_and_browser_down, setup, teardown),
      cmocka_unit_test_setup_teardown(test_selector_and_exclude, setup, teardown),
      cmocka_unit_test_setup_teardown(test_policy_switch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reexplained_after_releases, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
