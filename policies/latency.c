/* latency: lowest measured RTT among browsers that fit, with a load term so one fast browser
 * does not take everything; spread: least loaded, for throughput of short jobs. */
#include "kq_error.h"
#include "kq_policy.h"
#include "policy_internal.h"

static const kq_policy_param_spec_t latency_params[] = {
    {"load_weight", 1.0, 0, 100,
     "score = rtt * (1 + load_weight * load); 0 = pure lowest RTT"},
    {"unknown_rtt_ms", 250, 0, 60000, "RTT assumed for browsers not yet measured"},
};

/* Scores the browsers of RTT cell (level lv, bucket b) in `groups` into (best, bi): lower score,
 * ties to the lower index, as the scan. The score is computed before the fit test, so a browser
 * that cannot win costs no fit test. */
static void score_cell(const kq_view_index_t *ix, uint32_t lv, uint32_t cls, uint32_t b,
                       unsigned groups, const kq_place_req_t *req, const kq_view_t *v,
                       const uint8_t *excluded, double w, double unknown_us, double *best,
                       int32_t *bi) {
  for (uint32_t g = 0; g < KQ_VIX_NGROUPS; g++) {
    if (!(groups >> g & 1)) continue;
    for (uint32_t c = lv * KQ_VIX_FIT_CLASSES + cls; c < (lv + 1) * KQ_VIX_FIT_CLASSES; c++)
    for (uint32_t i = ix->rtt_head[g][c][b]; i != UINT32_MAX; i = ix->next[KQ_VIX_RTT][i]) {
      double rtt = v->rtt_us[i] < 0 ? unknown_us : (double)v->rtt_us[i];
      double score = (rtt + 1.0) * (1.0 + w * kq_policy_load(v, i));
      if (*bi >= 0 && (score > *best || (score == *best && (int32_t)i > *bi))) continue;
      if (!kq_policy_fits(v, i, req, excluded, KQ_POLICY_SKIP, true)) continue;
      *best = score;
      *bi = (int32_t)i;
    }
  }
}

/* With the index: for each load level k from the least loaded, RTT buckets from the fastest up.
 * Every browser in cell (k, b) scores at least bucket_lo(b) * (1 + w * k / L) (rtt + 1 >=
 * bucket_lo(b), load >= k / L; rounding is monotone), so a level's walk stops at the first
 * bucket whose bound exceeds the best score so far; the unmeasured browsers (bucket 0, scored
 * with unknown_rtt_ms) are visited at the end of each level unless their bound exceeds it. A
 * cell is skipped only when its bound is strictly above the best, so every browser that could
 * tie is seen and the scan's tie rule (lower index) holds. */
static int32_t latency_indexed(const kq_view_index_t *ix, const kq_place_req_t *req,
                               const kq_view_t *v, const uint8_t *excluded, double w,
                               double unknown_us) {
  unsigned groups = req->gpu ? (1u << KQ_VIX_GROUP_GPU) | (1u << (KQ_VIX_GROUP_GPU | 1u))
                             : (1u << KQ_VIX_GROUP_UNAVAILABLE) - 1u;
  double best = 0, unk_lo = unknown_us + 1.0;
  int32_t bi = -1;
  /* cells whose fit class is below the request's hold no browser that fits */
  uint32_t cls = kq_view_index_fit_class(req->cpu_millis, req->mem_bytes);
  for (uint32_t lv = 0; lv < KQ_VIX_LOAD_LEVELS; lv++) {
    double factor = 1.0 + w * ((double)lv / KQ_VIX_LOAD_LEVELS);
    if (bi >= 0 && factor > best) break; /* rtt + 1 >= 1: no later level can win */
    bool stop = false;
    uint64_t words = 0;
    for (uint32_t g = 0; g < KQ_VIX_NGROUPS; g++)
      if (groups >> g & 1)
        for (uint32_t c = lv * KQ_VIX_FIT_CLASSES + cls; c < (lv + 1) * KQ_VIX_FIT_CLASSES; c++)
          words |= ix->rtt_words[g][c];
    for (; words && !stop; words &= words - 1) {
      uint32_t wd = (uint32_t)__builtin_ctzll(words);
      uint64_t m = 0;
      for (uint32_t g = 0; g < KQ_VIX_NGROUPS; g++)
        if (groups >> g & 1)
          for (uint32_t c = lv * KQ_VIX_FIT_CLASSES + cls; c < (lv + 1) * KQ_VIX_FIT_CLASSES; c++)
            m |= ix->rtt_nonempty[g][c][wd];
      if (wd == 0) m &= ~1ull; /* bucket 0 (unmeasured) below */
      for (; m; m &= m - 1) {
        uint32_t b = wd * 64 + (uint32_t)__builtin_ctzll(m);
        double lo = (double)kq_view_index_rtt_bucket_lo(b);
        if ((bi >= 0 && lo * factor > best) ||
            (req->max_rtt_us > 0 && lo - 1.0 > (double)req->max_rtt_us)) {
          stop = true;
          break;
        }
        score_cell(ix, lv, cls, b, groups, req, v, excluded, w, unknown_us, &best, &bi);
      }
    }
    /* unmeasured browsers never satisfy max-rtt */
    if (req->max_rtt_us <= 0 && (bi < 0 || unk_lo * factor <= best))
      score_cell(ix, lv, cls, 0, groups, req, v, excluded, w, unknown_us, &best, &bi);
  }
  return bi;
}

static int32_t latency_select(const kq_policy_state_t *st, const kq_place_req_t *req,
                              const kq_view_t *v, const uint8_t *excluded, uint64_t now_ns,
                              kq_policy_reason_t *why) {
  (void)now_ns;
  double w = st->p[0], unknown_us = st->p[1] * 1000.0, best = 0;
  int32_t bi = -1;
  if (v->index && v->index->n == v->n) {
    bi = latency_indexed(v->index, req, v, excluded, w, unknown_us);
    *why = bi < 0 ? KQ_PR_NO_FIT : KQ_PR_LOWEST_RTT;
    return bi;
  }
  for (uint32_t i = 0; i < v->n; i++) {
    if (!kq_policy_fits(v, i, req, excluded, KQ_POLICY_SKIP, true)) continue;
    double rtt = v->rtt_us[i] < 0 ? unknown_us : (double)v->rtt_us[i];
    /* +1 µs keeps the load term meaningful for browsers on the same host (rtt 0) */
    double score = (rtt + 1.0) * (1.0 + w * kq_policy_load(v, i));
    if (bi < 0 || score < best) {
      best = score;
      bi = (int32_t)i;
    }
  }
  *why = bi < 0 ? KQ_PR_NO_FIT : KQ_PR_LOWEST_RTT;
  return bi;
}

const kq_policy_vtable_t kq_policy_latency = {
    .abi_version = KQ_POLICY_ABI_VERSION,
    .name = "latency",
    .summary = "lowest RTT among browsers that fit, weighted by load; honours kuack.io/max-rtt-ms",
    .params = latency_params,
    .nparams = sizeof latency_params / sizeof latency_params[0],
    .configure = kq_policy_configure_spec,
    .select = latency_select,
};

/* With the index: load buckets from the least loaded up; the first bucket holding a browser that
 * fits holds the least load (buckets are disjoint, increasing ranges of load in permille); inside
 * it the scan's keys (load, Pods, index) decide. Returns -2 once it has visited a quarter of the
 * view (a mostly idle fleet: every idle browser ties at load 0): the array scan is cheaper then
 * and gives the same answer. */
#define SPREAD_GIVE_UP (-2)
static int32_t spread_indexed(const kq_view_index_t *ix, const kq_place_req_t *req,
                              const kq_view_t *v, const uint8_t *excluded) {
  uint32_t visited = 0, budget = v->n / 4 + 16;
  /* the least key possible, (load 0, no Pods): the first such browser that fits, by index */
  for (uint32_t wd = 0; wd * 64 < v->n; wd++)
    for (uint64_t m = ix->idle[wd]; m; m &= m - 1) {
      uint32_t i = wd * 64 + (uint32_t)__builtin_ctzll(m);
      if (++visited > budget) return SPREAD_GIVE_UP;
      if (kq_policy_fits(v, i, req, excluded, KQ_POLICY_SKIP, true)) return (int32_t)i;
    }
  unsigned groups = req->gpu ? (1u << KQ_VIX_GROUP_GPU) | (1u << (KQ_VIX_GROUP_GPU | 1u))
                             : (1u << KQ_VIX_GROUP_UNAVAILABLE) - 1u;
  for (uint32_t wd = 0; wd < KQ_VIEW_INDEX_BUCKETS / 64; wd++) {
    uint64_t m = 0;
    for (uint32_t g = 0; g < KQ_VIX_NGROUPS; g++)
      if (groups >> g & 1) m |= ix->nonempty[KQ_VIX_LOAD][g][wd];
    for (; m; m &= m - 1) {
      uint32_t b = wd * 64 + (uint32_t)__builtin_ctzll(m);
      double best = 0;
      int32_t bi = -1;
      for (uint32_t g = 0; g < KQ_VIX_NGROUPS; g++) {
        if (!(groups >> g & 1)) continue;
        for (uint32_t i = ix->head[KQ_VIX_LOAD][g][b]; i != UINT32_MAX; i = ix->next[KQ_VIX_LOAD][i]) {
          if (++visited > budget) return SPREAD_GIVE_UP;
          if (!kq_policy_fits(v, i, req, excluded, KQ_POLICY_SKIP, true)) continue;
          double l = kq_policy_load(v, i);
          if (bi < 0 || l < best ||
              (l == best && (v->pods[i] < v->pods[bi] || (v->pods[i] == v->pods[bi] && (int32_t)i < bi)))) {
            best = l;
            bi = (int32_t)i;
          }
        }
      }
      if (bi >= 0) return bi;
    }
  }
  return -1;
}

static int32_t spread_select(const kq_policy_state_t *st, const kq_place_req_t *req,
                             const kq_view_t *v, const uint8_t *excluded, uint64_t now_ns,
                             kq_policy_reason_t *why) {
  (void)st;
  (void)now_ns;
  double best = 0;
  uint32_t best_pods = 0;
  int32_t bi = -1;
  if (v->index && v->index->n == v->n &&
      (bi = spread_indexed(v->index, req, v, excluded)) != SPREAD_GIVE_UP) {
    *why = bi < 0 ? KQ_PR_NO_FIT : KQ_PR_LEAST_LOADED;
    return bi;
  }
  bi = -1;
  for (uint32_t i = 0; i < v->n; i++) {
    if (!kq_policy_fits(v, i, req, excluded, KQ_POLICY_SKIP, true)) continue;
    double l = kq_policy_load(v, i);
    if (bi < 0 || l < best || (l == best && v->pods[i] < best_pods)) {
      best = l;
      best_pods = v->pods[i];
      bi = (int32_t)i;
    }
  }
  *why = bi < 0 ? KQ_PR_NO_FIT : KQ_PR_LEAST_LOADED;
  return bi;
}

const kq_policy_vtable_t kq_policy_spread = {
    .abi_version = KQ_POLICY_ABI_VERSION,
    .name = "spread",
    .summary = "least loaded browser (max of cpu and memory used fraction), then fewest Pods",
    .configure = kq_policy_configure_spec,
    .select = spread_select,
};
