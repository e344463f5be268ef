/* Property tests over random views: a chosen browser always satisfies the hard constraints, -1
 * only when none does, binpack's choice is a best fit, and on 1-D packing sequences binpack
 * stays within the Any-Fit bounds (≤ 2·LB+1, ≤ ⌈1.7·first-fit⌉). Seeded, reproducible. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kq_policy.h"
#include "view_fixture.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}
static int64_t rr(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1)); }

static void random_view(fx_t *f, uint32_t n) {
  memset(f, 0, sizeof *f);
  fx_t *fresh = fx_new();
  memcpy(f, fresh, sizeof *f);
  free(fresh);
  f->v.free_cpu_millis = f->free_cpu; /* re-point into f after the copy */
  f->v.free_mem_bytes = f->free_mem;
  f->v.cap_cpu_millis = f->cap_cpu;
  f->v.cap_mem_bytes = f->cap_mem;
  f->v.gpu_class = f->gpu;
  f->v.rtt_us = f->rtt;
  f->v.pods = f->pods;
  f->v.max_pods = f->max_pods;
  f->v.flags = f->flags;
  f->v.labelset = f->labelset;
  for (uint32_t i = 0; i < n; i++) {
    fx_add(f, rr(1, 16) * 500, rr(1, 16) * 256);
    f->free_cpu[i] = rr(-100, f->cap_cpu[i]);
    f->free_mem[i] = rr(0, f->cap_mem[i]);
    f->gpu[i] = (uint8_t)rr(0, 2);
    f->rtt[i] = rnd() % 5 ? rr(0, 200000) : -1;
    f->flags[i] = rnd() % 6 ? 0 : (uint8_t)(1u << rr(0, 2));
    f->max_pods[i] = rnd() % 3 ? 0 : (uint32_t)rr(1, 8);
    f->pods[i] = (uint32_t)rr(0, 8);
  }
}

static kq_place_req_t random_req(void) {
  kq_place_req_t r = {.cpu_millis = rnd() % 8 ? rr(0, 4000) : 0,
                      .mem_bytes = rnd() % 8 ? rr(0, 2048) << 20 : 0};
  r.gpu = rnd() % 5 == 0;
  r.max_rtt_us = rnd() % 4 == 0 ? rr(1000, 150000) : 0;
  return r;
}

static void test_chosen_always_fits(void **st) {
  (void)st;
  fx_t *f = fx_new();
  for (int round = 0; round < 400; round++) {
    random_view(f, (uint32_t)rr(0, 200));
    uint8_t *ex = rnd() % 2 ? f->excluded : NULL;
    for (uint32_t i = 0; i < f->v.n; i++) f->excluded[i] = rnd() % 7 == 0;
    for (int k = 0; k < 20; k++) {
      kq_place_req_t r = random_req();
      for (uint32_t p = 0; p < kq_policy_count(); p++) {
        const kq_policy_vtable_t *vt = kq_policy_at(p);
        if (!strcmp(vt->name, "last")) continue;
        kq_policy_state_t s;
        assert_int_equal(kq_policy_setup(vt->name, NULL, &s, NULL, 0), 0);
        kq_policy_reason_t why;
        int32_t i = kq_policy_select(&s, &r, &f->v, ex, 0, &why);
        bool compat = !strcmp(vt->name, "kuack-compat");
        uint8_t skip = compat ? (uint8_t)(KQ_VIEW_OVERLOADED | KQ_VIEW_DRAINING |
                                          (kq_place_req_best_effort(&r) ? 0 : KQ_VIEW_THROTTLED))
                              : KQ_POLICY_SKIP;
        uint32_t nfit = 0;
        for (uint32_t j = 0; j < f->v.n; j++) nfit += kq_policy_fits(&f->v, j, &r, ex, skip, !compat);
        if (i < 0) {
          if (nfit) fail_msg("%s: -1 though %u browsers fit", vt->name, nfit);
          assert_int_equal(why, KQ_PR_NO_FIT);
          continue;
        }
        assert_true((uint32_t)i < f->v.n);
        if (!kq_policy_fits(&f->v, (uint32_t)i, &r, ex, skip, !compat))
          fail_msg("%s chose %d which does not fit", vt->name, i);
        assert_int_not_equal(why, KQ_PR_NO_FIT);
        if (!strcmp(vt->name, "binpack")) { /* best fit on the dominant resource */
          bool dc = r.cpu_millis * (double)f->v.total_cap_mem >= r.mem_bytes * (double)f->v.total_cap_cpu;
          const int64_t *fr = dc ? f->free_cpu : f->free_mem;
          /* browsers in use first, then (Pods without kuack.io/gpu) those without a real GPU;
           * least leftover within that step; an idle one opened is the largest */
#define STEP_(j) ((f->pods[j] == 0) * 2 + (!r.gpu && f->gpu[j] == KQ_VIEW_GPU_REAL))
          for (uint32_t j = 0; j < f->v.n; j++) {
            if (!kq_policy_fits(&f->v, j, &r, ex, skip, true)) continue;
            assert_true(STEP_(i) <= STEP_(j));
            if (STEP_(j) == STEP_(i)) assert_true(f->pods[i] > 0 ? fr[i] <= fr[j] : fr[i] >= fr[j]);
          }
#undef STEP_
        }
      }
    }
  }
  free(f);
}

/* Places a sequence of cpu-only items on `n` identical empty browsers; returns browsers used. */
static uint32_t pack(const char *policy, const int64_t *items, size_t nitems, uint32_t n) {
  fx_t *f = fx_new();
  for (uint32_t i = 0; i < n; i++) fx_add(f, 1000, 1 << 20);
  for (size_t k = 0; k < nitems; k++) {
    kq_place_req_t r = {.cpu_millis = items[k]};
    int32_t i = fx_pick(f, policy, &r, NULL, NULL);
    assert_true(i >= 0);
    fx_use(f, (uint32_t)i, items[k], 0);
  }
  uint32_t used = 0;
  for (uint32_t i = 0; i < n; i++) used += f->pods[i] > 0;
  free(f);
  return used;
}

static void test_binpack_vs_first_fit_bound(void **st) {
  (void)st;
  int64_t items[600];
  for (int round = 0; round < 30; round++) {
    size_t n = (size_t)rr(50, 600);
    int64_t sum = 0;
    int64_t maxsz = rr(100, 1000);
    for (size_t k = 0; k < n; k++) sum += items[k] = rr(1, maxsz);
    uint32_t lb = (uint32_t)((sum + 999) / 1000);
    uint32_t bf = pack("binpack", items, n, (uint32_t)n);
    uint32_t ff = pack("first-fit", items, n, (uint32_t)n);
    uint32_t spread = pack("spread", items, n, (uint32_t)n);
    assert_true(bf >= lb && ff >= lb);
    if (bf > 2 * lb + 1) fail_msg("binpack used %u > 2*LB+1 (LB=%u)", bf, lb);
    if (bf > (uint32_t)ceil(1.7 * ff)) fail_msg("binpack used %u > 1.7*first-fit %u", bf, ff);
    /* spreading one item per browser is what binpack exists to avoid */
    assert_true(spread >= bf);
  }
}

/* Buckets are disjoint, increasing ranges: bucket(x) is monotone and lo(b) <= x <= hi(b). */
static void test_index_buckets(void **st) {
  (void)st;
  assert_int_equal(kq_view_index_bucket(-5), 0);
  assert_int_equal(kq_view_index_bucket(0), 0);
  uint32_t prev = 0;
  for (int64_t x = 1; x < 70000; x++) {
    uint32_t b = kq_view_index_bucket(x);
    assert_true(b >= prev && b <= prev + 1);
    assert_true(kq_view_index_bucket_lo(b) <= x && x <= kq_view_index_bucket_hi(b));
    prev = b;
  }
  for (int k = 0; k < 100000; k++) {
    int64_t x = (int64_t)(rnd() >> (rnd() % 63));
    uint32_t b = kq_view_index_bucket(x);
    assert_true(b < KQ_VIEW_INDEX_BUCKETS);
    assert_true(kq_view_index_bucket_lo(b) <= x && x <= kq_view_index_bucket_hi(b));
    if (x > 0) assert_true(kq_view_index_bucket(x - 1) <= b);
  }
  assert_true(kq_view_index_bucket(INT64_MAX) < KQ_VIEW_INDEX_BUCKETS);
  /* RTT buckets: monotone, the lower bound holds (latency prunes with it), capped */
  assert_int_equal(kq_view_index_rtt_bucket(-1), 0);
  for (int k = 0; k < 100000; k++) {
    int64_t x = k < 50000 ? k : (int64_t)(rnd() >> (rnd() % 63 + 1));
    uint32_t b = kq_view_index_rtt_bucket(x);
    assert_true(b >= 1 && b < KQ_VIX_RTT_BUCKETS);
    assert_true(kq_view_index_rtt_bucket_lo(b) <= x + 1);
    if (x > 0) assert_true(kq_view_index_rtt_bucket(x - 1) <= b);
    if (b + 1 < KQ_VIX_RTT_BUCKETS) assert_true(x + 1 < kq_view_index_rtt_bucket_lo(b + 1));
  }
}

/* Browser i leaves the fixture the way the scheduler's view removes it: the last moves to i. */
static void fx_swap_remove(fx_t *f, kq_view_index_t *ix, uint32_t i) {
  kq_view_index_remove(ix, i);
  uint32_t last = --f->v.n;
  f->v.total_cap_cpu -= f->cap_cpu[i];
  f->v.total_cap_mem -= f->cap_mem[i];
  if (i == last) return;
#define MV_(col) f->col[i] = f->col[last];
  MV_(free_cpu) MV_(free_mem) MV_(cap_cpu) MV_(cap_mem) MV_(rtt) MV_(gpu) MV_(flags)
  MV_(excluded) MV_(pods) MV_(max_pods) MV_(labelset)
#undef MV_
}

/* Every policy chooses the same browser with the index as with the full scan. */
static void assert_index_agrees(fx_t *f, const kq_view_index_t *ix, int requests) {
  uint8_t *ex = rnd() % 2 ? f->excluded : NULL;
  for (int k = 0; k < requests; k++) {
    kq_place_req_t r = random_req();
    f->v.pending_gpu = (uint32_t)(rnd() % 3 == 0);
    f->v.running_gpu = (uint32_t)(rnd() % 3 == 0);
    for (uint32_t p = 0; p < kq_policy_count(); p++) {
      const kq_policy_vtable_t *vt = kq_policy_at(p);
      for (double share = 0; share <= 2; share++) {
        kq_policy_params_t prm = {0};
        if (!strcmp(vt->name, "gpu")) kq_policy_params_add(&prm, "share_gpu_browsers", share);
        else if (!strcmp(vt->name, "binpack") && share < 2) kq_policy_params_add(&prm, "open_largest", share);
        else if (!strcmp(vt->name, "latency") && share > 0) {
          /* other load weights (the index's level bounds scale with it) and an unknown RTT
           * that ranks among the measured ones */
          static const double weights[] = {0, 0.25, 1, 3, 100};
          kq_policy_params_add(&prm, "load_weight", weights[rnd() % 5]);
          if (share > 1) kq_policy_params_add(&prm, "unknown_rtt_ms", (double)rr(0, 120));
        } else if (share > 0) break;
        if (!strcmp(vt->name, "gpu") && rnd() % 2) kq_policy_params_add(&prm, "open_largest", 0);
        kq_policy_state_t s;
        assert_int_equal(kq_policy_setup(vt->name, &prm, &s, NULL, 0), 0);
        kq_policy_reason_t w1, w2;
        f->v.index = NULL;
        int32_t scan = kq_policy_select(&s, &r, &f->v, ex, 0, &w1);
        f->v.index = ix;
        int32_t idx = kq_policy_select(&s, &r, &f->v, ex, 0, &w2);
        f->v.index = NULL;
        if (scan != idx || w1 != w2)
          fail_msg("%s (share %g): scan chose %d (%d), index chose %d (%d); n=%u req cpu=%lld "
                   "mem=%lld gpu=%u",
                   vt->name, share, scan, w1, idx, w2, f->v.n, (long long)r.cpu_millis,
                   (long long)r.mem_bytes, r.gpu);
      }
    }
  }
}

static void test_index_equals_scan(void **st) {
  (void)st;
  fx_t *f = fx_new();
  kq_view_index_t *ix = malloc(sizeof *ix);
  kq_view_index_init(ix);
  for (int round = 0; round < 150; round++) {
    random_view(f, (uint32_t)rr(0, 300));
    for (uint32_t i = 0; i < f->v.n; i++) f->excluded[i] = rnd() % 7 == 0;
    /* few distinct amounts so that ties inside a bucket are common */
    if (round % 3 == 0)
      for (uint32_t i = 0; i < f->v.n; i++) {
        f->free_cpu[i] = rr(0, 8) * 250;
        f->free_mem[i] = rr(0, 8) << 28;
      }
    /* few distinct RTTs: equal scores across load levels and buckets (policy latency's ties) */
    if (round % 3 != 2)
      for (uint32_t i = 0; i < f->v.n; i++) f->rtt[i] = rnd() % 6 ? rr(0, 3) * 999 : -1;
    kq_view_index_build(ix, &f->v);
    assert_true(kq_view_index_check(ix, &f->v));
    /* the free-CPU heaps: kept in some rounds, dropped in others, switched mid-round below */
    kq_view_index_set_heaps(ix, &f->v, round % 4 != 1);
    assert_true(kq_view_index_check(ix, &f->v));
    assert_index_agrees(f, ix, 10);
    /* incremental maintenance: capacity/Pod/GPU changes, removals and joins, as the view does */
    for (int step = 0; step < 60; step++) {
      uint32_t op = (uint32_t)(rnd() % 4);
      if (op == 0 && f->v.n) {
        fx_swap_remove(f, ix, (uint32_t)(rnd() % f->v.n));
      } else if (op == 1 && f->v.n < FX_MAX) {
        uint32_t i = fx_add(f, rr(1, 16) * 500, rr(1, 16) * 256);
        f->gpu[i] = (uint8_t)rr(0, 2);
        kq_view_index_sync(ix, &f->v, i);
      } else if (f->v.n) {
        uint32_t i = (uint32_t)(rnd() % f->v.n);
        f->free_cpu[i] = rr(-100, f->cap_cpu[i]);
        f->free_mem[i] = rr(0, f->cap_mem[i]);
        f->pods[i] = (uint32_t)rr(0, 3);
        if (rnd() % 4 == 0) f->gpu[i] = (uint8_t)rr(0, 2);
        if (rnd() % 4 == 0) f->flags[i] = rnd() % 2 ? 0 : (uint8_t)(1u << rr(0, 2));
        if (rnd() % 4 == 0) f->rtt[i] = rnd() % 5 ? rr(0, 200000) : -1;
        kq_view_index_sync(ix, &f->v, i);
      }
      if (step == 30 && round % 4 >= 2) kq_view_index_set_heaps(ix, &f->v, round % 4 == 2);
      assert_true(kq_view_index_check(ix, &f->v));
      if (step % 20 == 19) assert_index_agrees(f, ix, 5);
      /* max_free is an upper bound of the real maximum, within one bucket */
      int64_t mc = INT64_MIN;
      for (uint32_t i = 0; i < f->v.n; i++) mc = f->free_cpu[i] > mc ? f->free_cpu[i] : mc;
      int64_t ub = kq_view_index_max_free(ix, KQ_VIX_CPU);
      if (!f->v.n) assert_true(ub == INT64_MIN);
      else assert_true(ub >= mc && kq_view_index_bucket(ub) == kq_view_index_bucket(mc < 0 ? 0 : mc));
    }
  }
  kq_view_index_free(ix);
  free(ix);
  free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_chosen_always_fits),
                                     cmocka_unit_test(test_binpack_vs_first_fit_bound),
                                     cmocka_unit_test(test_index_buckets),
                                     cmocka_unit_test(test_index_equals_scan)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
