/* binpack (the default) and gpu: best fit on the request's dominant resource, so whole browsers
 * stay free for big Pods; gpu additionally keeps real-GPU browsers for kuack.io/gpu Pods. */
#include "kq_error.h"
#include "kq_policy.h"
#include "policy_internal.h"

/* Scans for the best fit among browsers passing kq_policy_fits: browsers already running Pods
 * first (so empty browsers stay whole), then the least leftover on the dominant resource, then
 * on the other; ties to the lowest index. With `gpu_split`, keeps two candidates: browsers
 * without a real GPU and browsers with one. */
static int32_t best_fit(const kq_place_req_t *req, const kq_view_t *v, const uint8_t *excluded,
                        bool gpu_split, int32_t *best_gpu) {
  bool dom_cpu = kq_policy_dominant_cpu(req, v);
  int32_t best[2] = {-1, -1};
  int64_t b0[2] = {2, 2}, b1[2] = {INT64_MAX, INT64_MAX}, b2[2] = {INT64_MAX, INT64_MAX};
  const int64_t *fd = dom_cpu ? v->free_cpu_millis : v->free_mem_bytes;
  int64_t rd = dom_cpu ? req->cpu_millis : req->mem_bytes;
  for (uint32_t i = 0; i < v->n; i++) {
    /* cheapest rejection first: a browser whose key cannot beat the best is skipped */
    int64_t k1 = fd[i] - rd, k0 = v->pods[i] == 0;
    int g = gpu_split && v->gpu_class[i] == KQ_VIEW_GPU_REAL;
    if (k1 < 0 || k0 > b0[g] || (k0 == b0[g] && k1 > b1[g])) continue;
    if (!kq_policy_fits(v, i, req, excluded, KQ_POLICY_SKIP, true)) continue;
    int64_t k2;
    kq_policy_leftover(v, i, req, dom_cpu, &k1, &k2);
    /* here (k0, k1) <= the best lexicographically; equal needs a smaller k2 to win */
    if (k0 == b0[g] && k1 == b1[g] && k2 >= b2[g]) continue;
    b0[g] = k0;
    b1[g] = k1;
    b2[g] = k2;
    best[g] = (int32_t)i;
  }
  if (best_gpu) *best_gpu = best[1];
  return best[0];
}

static int32_t binpack_select(const kq_policy_state_t *st, const kq_place_req_t *req,
                              const kq_view_t *v, const uint8_t *excluded, uint64_t now_ns,
                              kq_policy_reason_t *why) {
  (void)st;
  (void)now_ns;
  int32_t i = best_fit(req, v, excluded, false, NULL);
  *why = i < 0 ? KQ_PR_NO_FIT : kq_policy_dominant_cpu(req, v) ? KQ_PR_BEST_FIT_CPU : KQ_PR_BEST_FIT_MEM;
  return i;
}

const kq_policy_vtable_t kq_policy_binpack = {
    .abi_version = KQ_POLICY_ABI_VERSION,
    .name = "binpack",
    .summary = "best fit on the Pod's dominant resource; keeps whole browsers free for big Pods",
    .configure = kq_policy_configure_spec,
    .select = binpack_select,
};

static const kq_policy_param_spec_t gpu_params[] = {
    {"share_gpu_browsers", 1, 0, 1,
     "1: Pods without kuack.io/gpu may use GPU browsers when no other browser fits and no GPU "
     "Pod is waiting; 0: never"},
};

static int32_t gpu_select(const kq_policy_state_t *st, const kq_place_req_t *req,
                          const kq_view_t *v, const uint8_t *excluded, uint64_t now_ns,
                          kq_policy_reason_t *why) {
  (void)now_ns;
  if (req->gpu) {
    /* kq_policy_fits already demands a real adapter: plain best fit among GPU browsers */
    int32_t i = best_fit(req, v, excluded, false, NULL);
    *why = i < 0 ? KQ_PR_NO_FIT : KQ_PR_GPU_REAL;
    return i;
  }
  int32_t with_gpu, i = best_fit(req, v, excluded, true, &with_gpu);
  if (i >= 0) {
    *why = KQ_PR_GPU_AVOIDED;
    return i;
  }
  if (with_gpu >= 0 && st->p[0] != 0 && !v->pending_gpu) {
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
