/* Table tests per built-in policy on plain arrays: no browser fits, ties, all throttled,
 * selector matching none (excluded set), GPU fallback adapters, unknown RTT, max-rtt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kq_error.h"
#include "kq_policy.h"
#include "view_fixture.h"

static const char *const all_policies[] = {"binpack", "gpu", "latency", "spread", "first-fit",
                                           "kuack-compat"};
#define NPOL (sizeof all_policies / sizeof all_policies[0])

static void test_no_browser_fits(void **st) {
  (void)st;
  fx_t *f = fx_new();
  fx_add(f, 1000, 1024);
  fx_add(f, 2000, 512);
  kq_place_req_t big_cpu = req_of(4000, 1), big_mem = req_of(100, 2048);
  for (size_t p = 0; p < NPOL; p++) {
    kq_policy_reason_t why = KQ_PR_FIRST_FIT;
    assert_int_equal(fx_pick(f, all_policies[p], &big_cpu, NULL, &why), -1);
    assert_int_equal(why, KQ_PR_NO_FIT);
    assert_int_equal(fx_pick(f, all_policies[p], &big_mem, NULL, NULL), -1);
  }
  /* an empty view never fits */
  f->v.n = 0;
  for (size_t p = 0; p < NPOL; p++) assert_int_equal(fx_pick(f, all_policies[p], &big_cpu, NULL, NULL), -1);
  kq_policy_diag_t d;
  f->v.n = 2;
  kq_policy_diagnose(&big_cpu, &f->v, NULL, &d);
  assert_int_equal(d.total, 2);
  assert_int_equal(d.no_cpu, 2);
  assert_int_equal(d.max_free_cpu, 2000);
  assert_int_equal(d.max_cpu_index, 1);
  free(f);
}

static void test_all_throttled_or_overloaded(void **st) {
  (void)st;
  fx_t *f = fx_new();
  fx_add(f, 2000, 1024);
  fx_add(f, 2000, 1024);
  fx_add(f, 2000, 1024);
  f->flags[0] = KQ_VIEW_THROTTLED;
  f->flags[1] = KQ_VIEW_THROTTLED;
  f->flags[2] = KQ_VIEW_OVERLOADED;
  kq_place_req_t r = req_of(500, 100), be = req_of(0, 0);
  for (size_t p = 0; p < NPOL; p++) {
    assert_int_equal(fx_pick(f, all_policies[p], &r, NULL, NULL), -1);
    if (strcmp(all_policies[p], "kuack-compat"))
      assert_int_equal(fx_pick(f, all_policies[p], &be, NULL, NULL), -1);
  }
  /* the original rule: BestEffort Pods may go to throttled browsers; ties go to the last */
  assert_int_equal(fx_pick(f, "kuack-compat", &be, NULL, NULL), 1);
  f->flags[2] = KQ_VIEW_DRAINING;
  assert_int_equal(fx_pick(f, "kuack-compat", &r, NULL, NULL), -1);
  kq_policy_diag_t d;
  kq_policy_diagnose(&r, &f->v, NULL, &d);
  assert_int_equal(d.unavailable, 3);
  assert_int_equal(d.max_cpu_index, -1);
  free(f);
}

static void test_excluded_everything(void **st) {
  (void)st;
  fx_t *f = fx_new();
  fx_add(f, 2000, 1024);
  fx_add(f, 4000, 1024);
  kq_place_req_t r = req_of(100, 10);
  uint8_t ex[2] = {1, 1};
  for (size_t p = 0; p < NPOL; p++) assert_int_equal(fx_pick(f, all_policies[p], &r, ex, NULL), -1);
  ex[0] = 0;
  for (size_t p = 0; p < NPOL; p++) assert_int_equal(fx_pick(f, all_policies[p], &r, ex, NULL), 0);
  free(f);
}

static void test_binpack_best_fit(void **st) {
  (void)st;
  fx_t *f = fx_new();
  fx_add(f, 4000, 4096);  /* 0: big */
  fx_add(f, 1000, 4096);  /* 1: tight on cpu */
  fx_add(f, 1500, 1024);  /* 2 */
  kq_place_req_t r = req_of(900, 100);
  kq_policy_reason_t why;
  /* all idle: by default the idle browser with the most of the dominant resource opens */
  assert_int_equal(fx_pick(f, "binpack", &r, NULL, &why), 0);
  assert_int_equal(why, KQ_PR_OPENED_LARGEST_CPU);
  assert_string_equal(kq_policy_reason_text(why),
                      "no busy browser fits: opened the idle one with the most CPU");
  kq_place_req_t m = req_of(100, 1000);
  assert_int_equal(fx_pick(f, "binpack", &m, NULL, &why), 0); /* 4096 MiB; ties to the lower index */
  assert_int_equal(why, KQ_PR_OPENED_LARGEST_MEM);
  /* open_largest=0: the smallest idle browser that fits (tightest cpu, then tightest memory) */
  kq_policy_params_t prm = {0};
  assert_int_equal(kq_policy_params_add(&prm, "open_largest", 0), 0);
  kq_policy_state_t small;
  assert_int_equal(kq_policy_setup("binpack", &prm, &small, NULL, 0), 0);
  assert_int_equal(kq_policy_select(&small, &r, &f->v, NULL, 0, &why), 1);
  assert_int_equal(why, KQ_PR_BEST_FIT_CPU);
  assert_string_equal(kq_policy_reason_text(why), "best fit (dominant=cpu)");
  assert_int_equal(kq_policy_select(&small, &m, &f->v, NULL, 0, &why), 2);
  assert_int_equal(why, KQ_PR_BEST_FIT_MEM);
  /* once a browser runs Pods it is filled first, best fit among the busy ones */
  fx_use(f, 2, 100, 0);
  assert_int_equal(fx_pick(f, "binpack", &r, NULL, &why), 2);
  assert_int_equal(why, KQ_PR_BEST_FIT_CPU);
  fx_use(f, 1, 50, 0);
  assert_int_equal(fx_pick(f, "binpack", &r, NULL, NULL), 1); /* 950m left: tighter than 1400m */
  fx_use(f, 1, -50, 0), fx_use(f, 2, -100, 0);
  f->pods[1] = f->pods[2] = 0;
  /* first-fit takes index 0, compat the most free cpu (0), spread the least loaded */
  assert_int_equal(fx_pick(f, "first-fit", &r, NULL, NULL), 0);
  assert_int_equal(fx_pick(f, "kuack-compat", &r, NULL, NULL), 0);
  fx_use(f, 0, 3000, 0);
  assert_int_equal(fx_pick(f, "spread", &r, NULL, NULL), 1); /* 1 and 2 idle: fewer pods, lower index */
  free(f);
}

/* binpack takes browsers without a real GPU first at each step (busy, then idle), so the GPU
 * browsers stay free for kuack.io/gpu Pods; a fallback adapter counts as no GPU. */
static void test_binpack_gpu_last(void **st) {
  (void)st;
  fx_t *f = fx_new();
  uint32_t g = fx_add(f, 16000, 16384); /* 0: the largest, with a real GPU */
  uint32_t a = fx_add(f, 8000, 8192);   /* 1 */
  uint32_t fb = fx_add(f, 4000, 4096);  /* 2: software fallback adapter */
  f->gpu[g] = KQ_VIEW_GPU_REAL;
  f->gpu[fb] = KQ_VIEW_GPU_FALLBACK;
  kq_place_req_t r = req_of(1000, 2048); /* memory is the dominant resource */
  kq_policy_reason_t why;
  /* all idle: the largest idle browser without a GPU opens, not the bigger GPU one */
  assert_int_equal(fx_pick(f, "binpack", &r, NULL, &why), a);
  assert_int_equal(why, KQ_PR_OPENED_LARGEST_MEM);
  /* busy: a busy GPU browser with the tightest fit still loses to a busy one without */
  fx_use(f, g, 14500, (int64_t)14 << 30);
  fx_use(f, fb, 1000, (int64_t)1 << 30);
  assert_int_equal(fx_pick(f, "binpack", &r, NULL, NULL), fb);
  /* only the GPU browser fits among the busy ones: it beats opening an idle one */
  fx_use(f, fb, 2500, (int64_t)2560 << 20);
  assert_int_equal(fx_pick(f, "binpack", &r, NULL, &why), g);
  assert_int_equal(why, KQ_PR_BEST_FIT_MEM);
  /* a kuack.io/gpu Pod goes to the GPU browser whatever the order */
  kq_place_req_t gp = req_of(500, 512);
  gp.gpu = 1;
  assert_int_equal(fx_pick(f, "binpack", &gp, NULL, NULL), g);
  free(f);
}

static void test_ties(void **st) {
  (void)st;
  fx_t *f = fx_new();
  for (int i = 0; i < 4; i++) fx_add(f, 2000, 2048);
  kq_place_req_t r = req_of(500, 100);
  assert_int_equal(fx_pick(f, "binpack", &r, NULL, NULL), 0);
  assert_int_equal(fx_pick(f, "first-fit", &r, NULL, NULL), 0);
  assert_int_equal(fx_pick(f, "spread", &r, NULL, NULL), 0);
  assert_int_equal(fx_pick(f, "latency", &r, NULL, NULL), 0);
  assert_int_equal(fx_pick(f, "kuack-compat", &r, NULL, NULL), 3); /* >=: ties to the last */
  /* a browser already running Pods beats idle ones on a tie */
  fx_use(f, 2, 0, 1024 << 20);
  assert_int_equal(fx_pick(f, "binpack", &r, NULL, NULL), 2);
  /* busy browsers tied on the dominant resource: the earlier one in view order, whatever the
   * other resource (a stable order lets later browsers drain as Pods end) */
  fx_use(f, 3, 0, 1536 << 20);
  assert_int_equal(fx_pick(f, "binpack", &r, NULL, NULL), 2);
  fx_use(f, 1, 0, 0);
  assert_int_equal(fx_pick(f, "binpack", &r, NULL, NULL), 1);
  /* spread ties on load broken by pod count */
  fx_t *g = fx_new();
  fx_add(g, 1000, 1024);
  fx_add(g, 1000, 1024);
  g->pods[0] = 3;
  assert_int_equal(fx_pick(g, "spread", &r, NULL, NULL), 1);
  free(g);
  free(f);
}

static void test_gpu_policy(void **st) {
  (void)st;
  fx_t *f = fx_new();
  fx_add(f, 2000, 2048);  /* 0: no gpu */
  fx_add(f, 1000, 1024);  /* 1: fallback (software) adapter */
  fx_add(f, 4000, 4096);  /* 2: real */
  f->gpu[1] = KQ_VIEW_GPU_FALLBACK;
  f->gpu[2] = KQ_VIEW_GPU_REAL;
  kq_place_req_t g = req_of(500, 100);
  g.gpu = 1;
  kq_policy_reason_t why;
  /* GPU Pods only on real adapters, under every policy */
  for (size_t p = 0; p < NPOL; p++) assert_int_equal(fx_pick(f, all_policies[p], &g, NULL, NULL), 2);
  assert_int_equal(fx_pick(f, "gpu", &g, NULL, &why), 2);
  assert_int_equal(why, KQ_PR_GPU_REAL);
  /* non-GPU Pods: best fit among non-GPU browsers (fallback counts as no GPU) */
  kq_place_req_t c = req_of(900, 100);
  assert_int_equal(fx_pick(f, "gpu", &c, NULL, &why), 0); /* opens the largest idle non-GPU one */
  assert_int_equal(why, KQ_PR_GPU_AVOIDED);
  f->pods[1] = 1; /* busy browsers first: the fallback one */
  assert_int_equal(fx_pick(f, "gpu", &c, NULL, &why), 1);
  assert_int_equal(why, KQ_PR_GPU_AVOIDED);
  f->pods[1] = 0;
  kq_place_req_t c2 = req_of(1500, 100);
  assert_int_equal(fx_pick(f, "gpu", &c2, NULL, NULL), 0);
  /* only the GPU browser fits: used unless share_gpu_browsers=0 */
  kq_place_req_t c3 = req_of(3000, 100);
  assert_int_equal(fx_pick(f, "gpu", &c3, NULL, &why), 2);
  assert_int_equal(why, KQ_PR_GPU_ONLY_LEFT);
  kq_policy_params_t prm = {0};
  assert_int_equal(kq_policy_params_add(&prm, "share_gpu_browsers", 0), 0);
  kq_policy_state_t s;
  char err[200];
  assert_int_equal(kq_policy_setup("gpu", &prm, &s, err, sizeof err), 0);
  assert_int_equal(kq_policy_select(&s, &c3, &f->v, NULL, 0, &why), -1);
  /* default (1): shared only while there is no GPU demand at all */
  f->v.running_gpu = 1;
  assert_int_equal(fx_pick(f, "gpu", &c3, NULL, &why), -1);
  assert_int_equal(why, KQ_PR_NO_FIT);
  f->v.running_gpu = 0;
  f->v.pending_gpu = 1;
  assert_int_equal(fx_pick(f, "gpu", &c3, NULL, NULL), -1);
  /* 2: shared while no GPU Pod waits, even with GPU Pods running */
  prm.items[0].value = 2;
  assert_int_equal(kq_policy_setup("gpu", &prm, &s, err, sizeof err), 0);
  assert_int_equal(kq_policy_select(&s, &c3, &f->v, NULL, 0, &why), -1);
  f->v.pending_gpu = 0;
  f->v.running_gpu = 3;
  assert_int_equal(kq_policy_select(&s, &c3, &f->v, NULL, 0, &why), 2);
  assert_int_equal(why, KQ_PR_GPU_ONLY_LEFT);
  f->v.running_gpu = 0;
  prm.items[0].value = 3;
  assert_int_equal(kq_policy_setup("gpu", &prm, &s, err, sizeof err), KQ_EINVAL);
  /* fallback-only view: GPU Pods wait */
  f->gpu[2] = KQ_VIEW_GPU_FALLBACK;
  assert_int_equal(fx_pick(f, "gpu", &g, NULL, NULL), -1);
  kq_policy_diag_t d;
  kq_policy_diagnose(&g, &f->v, NULL, &d);
  assert_int_equal(d.no_gpu, 3);
  free(f);
}

static void test_latency_policy(void **st) {
  (void)st;
  fx_t *f = fx_new();
  fx_add(f, 2000, 2048);
  fx_add(f, 2000, 2048);
  fx_add(f, 2000, 2048);
  f->rtt[0] = 40000;
  f->rtt[1] = -1; /* unknown: assumed 250 ms by default */
  f->rtt[2] = 5000;
  kq_place_req_t r = req_of(100, 10);
  kq_policy_reason_t why;
  assert_int_equal(fx_pick(f, "latency", &r, NULL, &why), 2);
  assert_int_equal(why, KQ_PR_LOWEST_RTT);
  /* load term: browser 2 at 95% load scores (5000)(1+0.95) > 40000? no: still 2. Make it 10x */
  fx_use(f, 2, 1900, 0);
  f->rtt[2] = 30000; /* 30 ms at 95% load = 58.5 vs 40 ms idle */
  assert_int_equal(fx_pick(f, "latency", &r, NULL, NULL), 0);
  kq_policy_params_t prm = {0};
  kq_policy_params_add(&prm, "load_weight", 0);
  kq_policy_state_t s;
  char err[200];
  assert_int_equal(kq_policy_setup("latency", &prm, &s, err, sizeof err), 0);
  assert_int_equal(kq_policy_select(&s, &r, &f->v, NULL, 0, &why), 2);
  /* unknown RTT treated as unknown_rtt_ms: 0 makes it the best */
  kq_policy_params_add(&prm, "unknown_rtt_ms", 0);
  assert_int_equal(kq_policy_setup("latency", &prm, &s, err, sizeof err), 0);
  assert_int_equal(kq_policy_select(&s, &r, &f->v, NULL, 0, &why), 1);
  /* max-rtt: only browsers measured at or below it; unknown never qualifies */
  r.max_rtt_us = 35000;
  assert_int_equal(kq_policy_select(&s, &r, &f->v, NULL, 0, &why), 2);
  for (size_t p = 0; p < NPOL - 1; p++) /* all but compat honour it */
    assert_int_equal(fx_pick(f, all_policies[p], &r, NULL, NULL), 2);
  r.max_rtt_us = 1000;
  for (size_t p = 0; p < NPOL - 1; p++) assert_int_equal(fx_pick(f, all_policies[p], &r, NULL, NULL), -1);
  assert_int_not_equal(fx_pick(f, "kuack-compat", &r, NULL, NULL), -1);
  kq_policy_diag_t d;
  kq_policy_diagnose(&r, &f->v, NULL, &d);
  assert_int_equal(d.rtt_too_high, 3);
  free(f);
}

static void test_max_pods(void **st) {
  (void)st;
  fx_t *f = fx_new();
  fx_add(f, 8000, 8192);
  fx_add(f, 1000, 1024);
  f->max_pods[0] = 2;
  f->pods[0] = 2;
  kq_place_req_t r = req_of(100, 10);
  for (size_t p = 0; p < NPOL; p++) assert_int_equal(fx_pick(f, all_policies[p], &r, NULL, NULL), 1);
  free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_browser_fits), cmocka_unit_test(test_all_throttled_or_overloaded),
      cmocka_unit_test(test_excluded_everything), cmocka_unit_test(test_binpack_best_fit),
      cmocka_unit_test(test_binpack_gpu_last),
      cmocka_unit_test(test_ties), cmocka_unit_test(test_gpu_policy),
      cmocka_unit_test(test_latency_policy), cmocka_unit_test(test_max_pods),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
