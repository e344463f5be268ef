/* Baselines: first-fit (lowest index that fits) and kuack-compat, the original Kuack rule
 * (most free CPU, ties to the last browser; throttled browsers only for BestEffort Pods). */
#include "kq_error.h"
#include "kq_policy.h"
#include "policy_internal.h"

static int32_t first_fit_select(const kq_policy_state_t *st, const kq_place_req_t *req,
                                 const kq_view_t *v, const uint8_t *excluded, uint64_t now_ns,
                                 kq_policy_reason_t *why) {
  (void)st;
  (void)now_ns;
  for (uint32_t i = 0; i < v->n; i++) {
    if (kq_policy_fits(v, i, req, excluded, KQ_POLICY_SKIP, true)) {
      *why = KQ_PR_FIRST_FIT;
      return (int32_t)i;
    }
  }
  *why = KQ_PR_NO_FIT;
  return -1;
}

const kq_policy_vtable_t kq_policy_first_fit = {
    .abi_version = KQ_POLICY_ABI_VERSION,
    .name = "first-fit",
    .summary = "the first browser (in join order) that fits; a baseline",
    .configure = kq_policy_configure_spec,
    .select = first_fit_select,
};

static int32_t compat_select(const kq_policy_state_t *st, const kq_place_req_t *req,
                             const kq_view_t *v, const uint8_t *excluded, uint64_t now_ns,
                             kq_policy_reason_t *why) {
  (void)st;
  (void)now_ns;
  /* The original skips throttled agents unless the Pod is BestEffort and knows no overload; we
   * still skip overloaded/draining browsers (they cannot take work) and honour hard limits
   * (max pods, a real GPU for kuack.io/gpu Pods) but not max-rtt, which it never had. */
  uint8_t skip = KQ_VIEW_OVERLOADED | KQ_VIEW_DRAINING;
  if (!kq_place_req_best_effort(req)) skip |= KQ_VIEW_THROTTLED;
  int32_t bi = -1;
  int64_t best = 0;
  const kq_view_index_t *ix = v->index;
  const struct kq_vix_heap *h = ix ? &ix->heap[req->gpu ? 1 : 0] : NULL;
  if (ix && ix->n == v->n && ix->heaps && h->n && skip == KQ_POLICY_SKIP &&
      kq_policy_fits(v, h->at[0], req, excluded, skip, false)) {
    /* the heap's top is the largest (free CPU, index) among the browsers this Pod may use (not
     * throttled, overloaded or draining; a real GPU for a GPU Pod): the scan's answer when it
     * fits */
    *why = KQ_PR_MOST_FREE_CPU;
    return (int32_t)h->at[0];
  }
  if (ix && ix->n == v->n) {
    /* free-CPU buckets from the top: the first one holding a browser that fits holds the most
     * free CPU; inside it, the scan's rule (ties to the highest index) */
    bool below = false; /* reached buckets below the request: nothing there fits */
    /* the groups that can hold a browser this Pod may use: GPU Pods only GPU browsers, and the
     * unavailable group only for BestEffort Pods (throttled browsers take them) */
    unsigned groups = req->gpu ? (1u << KQ_VIX_GROUP_GPU) | (1u << (KQ_VIX_GROUP_GPU | 1u))
                               : (1u << KQ_VIX_GROUP_UNAVAILABLE) - 1u;
    if (skip != KQ_POLICY_SKIP) groups |= 1u << KQ_VIX_GROUP_UNAVAILABLE;
    for (int w = KQ_VIEW_INDEX_BUCKETS / 64 - 1; w >= 0 && bi < 0 && !below; w--) {
      uint64_t m = 0;
      for (uint32_t g = 0; g < KQ_VIX_NGROUPS; g++)
        if (groups >> g & 1) m |= ix->nonempty[KQ_VIX_CPU][g][w];
      while (m && bi < 0) {
        uint32_t b = (uint32_t)w * 64 + 63 - (uint32_t)__builtin_clzll(m);
        m &= ~(1ull << (b % 64));
        if (kq_view_index_bucket_hi(b) < req->cpu_millis) {
          below = true;
          break;
        }
        for (uint32_t g = 0; g < KQ_VIX_NGROUPS; g++) {
          if (!(groups >> g & 1)) continue;
          for (uint32_t i = ix->head[KQ_VIX_CPU][g][b]; i != UINT32_MAX; i = ix->next[KQ_VIX_CPU][i]) {
            /* only a better (free CPU, index) pair is worth the fit test */
            if (bi >= 0 && (v->free_cpu_millis[i] < best ||
                            (v->free_cpu_millis[i] == best && (int32_t)i < bi)))
              continue;
            if (!kq_policy_fits(v, i, req, excluded, skip, false)) continue;
            best = v->free_cpu_millis[i];
            bi = (int32_t)i;
          }
        }
      }
    }
    *why = bi < 0 ? KQ_PR_NO_FIT : KQ_PR_MOST_FREE_CPU;
    return bi;
  }
  for (uint32_t i = 0; i < v->n; i++) {
    if (!kq_policy_fits(v, i, req, excluded, skip, false)) continue;
    if (bi < 0 || v->free_cpu_millis[i] >= best) {
      best = v->free_cpu_millis[i];
      bi = (int32_t)i;
    }
  }
  *why = bi < 0 ? KQ_PR_NO_FIT : KQ_PR_MOST_FREE_CPU;
  return bi;
}

const kq_policy_vtable_t kq_policy_kuack_compat = {
    .abi_version = KQ_POLICY_ABI_VERSION,
    .name = "kuack-compat",
    .summary = "the original Kuack rule: most free CPU, ties to the last browser",
    .configure = kq_policy_configure_spec,
    .select = compat_select,
    .index_needs = KQ_POLICY_NEEDS_HEAPS,
};
