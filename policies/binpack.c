/* binpack (the default) and gpu: browsers already running Pods first, best fit on the request's
 * dominant resource among them; an idle browser is opened only when none fits (the largest
 * by default, or the smallest that fits); binpack takes browsers without a real GPU before GPU
 * ones at each step, gpu keeps real-GPU browsers for kuack.io/gpu Pods outright. */
#include "kq_error.h"
#include "kq_policy.h"
#include "policy_internal.h"

/* Scans for the choice among browsers passing kq_policy_fits: browsers already running Pods
 * first (so idle browsers stay whole), the least leftover on the dominant resource among them,
 * then the lowest index (view order, about join order: a fixed order on ties lets the browsers
 * late in it drain and go idle as Pods end). When no busy browser fits, an idle one is opened:
 * with `open_largest` the one with the most of the dominant resource (fewer browsers in use),
 * else the smallest that fits (keeps the largest browsers whole for the biggest Pods). With
 * `gpu_last`, a Pod without kuack.io/gpu takes a browser with a real GPU only after every
 * browser without one at the same step (busy, then idle): GPU Pods can use only those, and a
 * GPU browser filled with other work makes them open another (kuack-bench, steady churn:
 * packing 1.15 → 1.07 of the bound). With `gpu_split`, keeps two candidates: browsers without
 * a real GPU and browsers with one. */
static int32_t best_fit(const kq_place_req_t *req, const kq_view_t *v, const uint8_t *excluded,
                        bool open_largest, bool gpu_split, bool gpu_last, int32_t *best_gpu) {
  bool dom_cpu = kq_policy_dominant_cpu(req, v);
  int32_t best[2] = {-1, -1};
  int64_t b0[2] = {4, 4}, b1[2] = {INT64_MAX, INT64_MAX};
  const int64_t *fd = dom_cpu ? v->free_cpu_millis : v->free_mem_bytes;
  int64_t rd = dom_cpu ? req->cpu_millis : req->mem_bytes;
  for (uint32_t i = 0; i < v->n; i++) {
    /* cheapest rejection first: a browser whose key cannot beat the best is skipped; an equal
     * key never wins (the earlier index does). k0: idle, then (gpu_last) has a real GPU. */
    bool real_gpu = v->gpu_class[i] == KQ_VIEW_GPU_REAL, idle = v->pods[i] == 0;
    int64_t left = fd[i] - rd, k0 = (int64_t)idle * 2 + (gpu_last && !req->gpu && real_gpu);
    int g = gpu_split && real_gpu;
    if (left < 0 || k0 > b0[g]) continue;
    int64_t k1 = idle && open_largest ? -fd[i] : left;
    if (k0 == b0[g] && k1 >= b1[g]) continue;
    if (!kq_policy_fits(v, i, req, excluded, KQ_POLICY_SKIP, true)) continue;
    b0[g] = k0;
    b1[g] = k1;
    best[g] = (int32_t)i;
  }
  if (best_gpu) *best_gpu = best[1];
  return best[0];
}

/* With the index: the idle browser with the most of the dominant resource among `groups` that
 * fits, ties to the lowest index: buckets from the top down, stopping at the first holding one. */
static int32_t index_largest(const kq_view_index_t *ix, const kq_place_req_t *req,
                             const kq_view_t *v, const uint8_t *excluded, bool dom_cpu,
                             unsigned groups) {
  int f = dom_cpu ? KQ_VIX_CPU : KQ_VIX_MEM;
  const int64_t *fd = dom_cpu ? v->free_cpu_millis : v->free_mem_bytes;
  int64_t rd = dom_cpu ? req->cpu_millis : req->mem_bytes;
  for (int w = KQ_VIEW_INDEX_BUCKETS / 64 - 1; w >= 0; w--) {
    uint64_t m = 0;
    for (uint32_t g = 0; g < KQ_VIX_NGROUPS; g++)
      if (groups >> g & 1) m |= ix->nonempty[f][g][w];
    while (m) {
      uint32_t b = (uint32_t)w * 64 + 63 - (uint32_t)__builtin_clzll(m);
      m &= ~(1ull << (b % 64));
      if (kq_view_index_bucket_hi(b) < rd) return -1; /* every bucket left is too small */
      int32_t best = -1;
      for (uint32_t g = 0; g < KQ_VIX_NGROUPS; g++) {
        if (!(groups >> g & 1)) continue;
        for (uint32_t i = ix->head[f][g][b]; i != UINT32_MAX; i = ix->next[f][i]) {
          if (fd[i] < rd || !kq_policy_fits(v, i, req, excluded, KQ_POLICY_SKIP, true)) continue;
          if (best >= 0 && (fd[i] < fd[best] || (fd[i] == fd[best] && (int32_t)i > best))) continue;
          best = (int32_t)i;
        }
      }
      if (best >= 0) return best;
    }
  }
  return -1;
}

/* The same choice as best_fit() restricted to the index groups in `groups` (bit g = group g),
 * visiting only the buckets of the dominant resource at or above the request's: the first
 * bucket holding a browser that fits holds the least leftover, since buckets are disjoint and
 * increasing; inside it the keys (leftover on the dominant resource, index) decide exactly as
 * the scan does. */
static int32_t index_best_fit(const kq_view_index_t *ix, const kq_place_req_t *req,
                              const kq_view_t *v, const uint8_t *excluded, bool dom_cpu,
                              unsigned groups) {
  int f = dom_cpu ? KQ_VIX_CPU : KQ_VIX_MEM;
  const int64_t *fd = dom_cpu ? v->free_cpu_millis : v->free_mem_bytes;
  int64_t rd = dom_cpu ? req->cpu_millis : req->mem_bytes;
  uint32_t first = kq_view_index_bucket(rd);
  for (uint32_t w = first / 64; w < KQ_VIEW_INDEX_BUCKETS / 64; w++) {
    uint64_t m = 0;
    for (uint32_t g = 0; g < KQ_VIX_NGROUPS; g++)
      if (groups >> g & 1) m |= ix->nonempty[f][g][w];
    if (w == first / 64) m &= ~0ull << (first % 64);
    for (; m; m &= m - 1) {
      uint32_t b = w * 64 + (uint32_t)__builtin_ctzll(m);
      int32_t best = -1;
      int64_t b1 = INT64_MAX;
      for (uint32_t g = 0; g < KQ_VIX_NGROUPS; g++) {
        if (!(groups >> g & 1)) continue;
        for (uint32_t i = ix->head[f][g][b]; i != UINT32_MAX; i = ix->next[f][i]) {
          if (fd[i] < rd || !kq_policy_fits(v, i, req, excluded, KQ_POLICY_SKIP, true)) continue;
          int64_t k1 = fd[i] - rd;
          if (best >= 0 && (k1 > b1 || (k1 == b1 && (int32_t)i > best))) continue;
          best = (int32_t)i;
          b1 = k1;
        }
      }
      if (best >= 0) return best;
    }
  }
  return -1;
}

/* Groups as bit masks: busy/empty, and whether GPU browsers are included. */
#define G_(g) (1u << (g))
#define BUSY_NOGPU G_(KQ_VIX_GROUP_BUSY)
#define EMPTY_NOGPU G_(KQ_VIX_GROUP_EMPTY)
#define BUSY_GPU G_(KQ_VIX_GROUP_BUSY | KQ_VIX_GROUP_GPU)
#define EMPTY_GPU G_(KQ_VIX_GROUP_EMPTY | KQ_VIX_GROUP_GPU)

/* best_fit() through the index when the view has one (same result, fewer browsers visited). */
static int32_t best_fit_any(const kq_place_req_t *req, const kq_view_t *v, const uint8_t *excluded,
                            bool open_largest, bool gpu_split, bool gpu_last, int32_t *best_gpu) {
  const kq_view_index_t *ix = v->index;
  if (!ix || ix->n != v->n)
    return best_fit(req, v, excluded, open_largest, gpu_split, gpu_last, best_gpu);
  bool dom_cpu = kq_policy_dominant_cpu(req, v);
#define OPEN_(groups)                                                              \
  (open_largest ? index_largest(ix, req, v, excluded, dom_cpu, (groups))          \
                : index_best_fit(ix, req, v, excluded, dom_cpu, (groups)))
  if (gpu_split) {
    int32_t i = index_best_fit(ix, req, v, excluded, dom_cpu, BUSY_NOGPU);
    if (i < 0) i = OPEN_(EMPTY_NOGPU);
    int32_t j = index_best_fit(ix, req, v, excluded, dom_cpu, BUSY_GPU);
    if (j < 0) j = OPEN_(EMPTY_GPU);
    *best_gpu = j;
    return i;
  }
  if (gpu_last && !req->gpu) {
    /* busy without a GPU, busy with one, idle without, idle with: the scan's key order */
    int32_t i = index_best_fit(ix, req, v, excluded, dom_cpu, BUSY_NOGPU);
    if (i < 0) i = index_best_fit(ix, req, v, excluded, dom_cpu, BUSY_GPU);
    if (i < 0) i = OPEN_(EMPTY_NOGPU);
    return i >= 0 ? i : OPEN_(EMPTY_GPU);
  }
  /* a GPU Pod fits only GPU browsers: skip the other lists */
  unsigned busy = req->gpu ? BUSY_GPU : BUSY_NOGPU | BUSY_GPU;
  unsigned empty = req->gpu ? EMPTY_GPU : EMPTY_NOGPU | EMPTY_GPU;
  int32_t i = index_best_fit(ix, req, v, excluded, dom_cpu, busy);
  return i >= 0 ? i : OPEN_(empty);
#undef OPEN_
}

static const kq_policy_param_spec_t binpack_params[] = {
    {"open_largest", 1, 0, 1,
     "when no browser running Pods fits, open the idle browser with the most of the Pod's "
     "dominant resource (1, fewest browsers in use) or the smallest that fits (0, keeps the "
     "largest browsers whole for the biggest Pods)"},
};

static int32_t binpack_select(const kq_policy_state_t *st, const kq_place_req_t *req,
                              const kq_view_t *v, const uint8_t *excluded, uint64_t now_ns,
                              kq_policy_reason_t *why) {
  (void)now_ns;
  bool open_largest = st->p[0] != 0, dom_cpu = kq_policy_dominant_cpu(req, v);
  int32_t i = best_fit_any(req, v, excluded, open_largest, false, true, NULL);
  if (i < 0) *why = KQ_PR_NO_FIT;
  else if (open_largest && v->pods[i] == 0)
    *why = dom_cpu ? KQ_PR_OPENED_LARGEST_CPU : KQ_PR_OPENED_LARGEST_MEM;
  else *why = dom_cpu ? KQ_PR_BEST_FIT_CPU : KQ_PR_BEST_FIT_MEM;
  return i;
}

const kq_policy_vtable_t kq_policy_binpack = {
    .abi_version = KQ_POLICY_ABI_VERSION,
    .name = "binpack",
    .summary = "browsers running Pods first, best fit on the Pod's dominant resource, browsers "
               "without a real GPU before GPU ones; idle browsers stay idle",
    .params = binpack_params,
    .nparams = sizeof binpack_params / sizeof binpack_params[0],
    .configure = kq_policy_configure_spec,
    .select = binpack_select,
};

static const kq_policy_param_spec_t gpu_params[] = {
    {"share_gpu_browsers", 1, 0, 2,
     "Pods without kuack.io/gpu on GPU browsers, only when no other browser fits: 0 never; 1 "
     "only while no kuack.io/gpu Pod is waiting or running (default); 2 while none is waiting"},
    {"open_largest", 1, 0, 1, "as for binpack"},
};

static int32_t gpu_select(const kq_policy_state_t *st, const kq_place_req_t *req,
                          const kq_view_t *v, const uint8_t *excluded, uint64_t now_ns,
                          kq_policy_reason_t *why) {
  (void)now_ns;
  if (req->gpu) {
    /* kq_policy_fits already demands a real adapter: plain best fit among GPU browsers */
    int32_t i = best_fit_any(req, v, excluded, st->p[1] != 0, false, false, NULL);
    *why = i < 0 ? KQ_PR_NO_FIT : KQ_PR_GPU_REAL;
    return i;
  }
  int32_t with_gpu, i = best_fit_any(req, v, excluded, st->p[1] != 0, true, false, &with_gpu);
  if (i >= 0) {
    *why = KQ_PR_GPU_AVOIDED;
    return i;
  }
  /* share_gpu_browsers: 0 never; 1 only while there is no GPU demand (no kuack.io/gpu Pod
   * waiting or running); 2 whenever no GPU Pod is waiting */
  double share = st->p[0];
  bool allowed = share >= 2 ? !v->pending_gpu : share >= 1 && !v->pending_gpu && !v->running_gpu;
  if (with_gpu >= 0 && allowed) {
    *why = KQ_PR_GPU_ONLY_LEFT;
    return with_gpu;
  }
  *why = KQ_PR_NO_FIT;
  return -1;
}

const kq_policy_vtable_t kq_policy_gpu = {
    .abi_version = KQ_POLICY_ABI_VERSION,
    .name = "gpu",
    .summary = "kuack.io/gpu Pods only on real WebGPU adapters; other Pods avoid GPU browsers; "
               "best fit otherwise",
    .params = gpu_params,
    .nparams = sizeof gpu_params / sizeof gpu_params[0],
    .configure = kq_policy_configure_spec,
    .select = gpu_select,
};
