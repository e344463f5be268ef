/* latency: lowest measured RTT among browsers that fit, with a load term so one fast browser
 * does not take everything; spread: least loaded, for throughput of short jobs. */
#include <math.h>

#include "kq_error.h"
#include "kq_policy.h"
#include "policy_internal.h"

static const kq_policy_param_spec_t latency_params[] = {
    {"load_weight", 1.0, 0, 100,
     "score = rtt * (1 + load_weight * load); 0 = pure lowest RTT"},
    {"unknown_rtt_ms", 250, 0, 60000, "RTT assumed for browsers not yet measured"},
};

/* The RTT groups (kq_view_index_rtt_group) a request may use: GPU Pods only browsers with a
 * real GPU; never the unavailable ones. */
typedef struct rtt_groups {
  uint32_t n, g[2];
} rtt_groups_t;

/* Scores the browsers of RTT cells (level lv, classes >= cls, bucket b) into (best, bi): lower
 * score, ties to the lower index, as the scan. The score is computed before the fit test, so a
 * browser that cannot win costs no fit test; the load comes from the index (bit-identical to
 * kq_policy_load, checked by kq_view_index_check), with rtt + 1 (bucket 0: the unmeasured). */
static void score_cell(const kq_view_index_t *ix, const rtt_groups_t *gs, uint32_t lv,
                       uint32_t cls, uint32_t b, const kq_place_req_t *req, const kq_view_t *v,
                       const uint8_t *excluded, double w, double unknown_us, double *best,
                       int32_t *bi) {
  const struct kq_vix_rtt_node *rn = ix->rnode;
  double unk1 = unknown_us + 1.0;
  for (uint32_t k = 0; k < gs->n; k++)
    for (uint32_t c = lv * KQ_VIX_FIT_CLASSES + cls; c < (lv + 1) * KQ_VIX_FIT_CLASSES; c++)
      for (uint32_t i = ix->rtt_head[gs->g[k]][c][b]; i != UINT32_MAX; i = rn[i].next) {
        double score = (b ? rn[i].rtt1 : unk1) * (1.0 + w * rn[i].load);
        if (*bi >= 0 && (score > *best || (score == *best && (int32_t)i > *bi))) continue;
        if (!kq_policy_fits(v, i, req, excluded, KQ_POLICY_SKIP, true)) continue;
        *best = score;
        *bi = (int32_t)i;
      }
}

/* The lowest non-empty measured RTT bucket >= from of level lv (classes >= cls) over the
 * groups, or KQ_VIX_RTT_BUCKETS. */
static uint32_t next_bucket(const kq_view_index_t *ix, const rtt_groups_t *gs, uint32_t lv,
                            uint32_t cls, uint32_t from) {
  if (from >= KQ_VIX_RTT_BUCKETS) return KQ_VIX_RTT_BUCKETS;
  uint32_t c0 = lv * KQ_VIX_FIT_CLASSES + cls, c1 = (lv + 1) * KQ_VIX_FIT_CLASSES;
  uint64_t words = 0;
  for (uint32_t k = 0; k < gs->n; k++)
    for (uint32_t c = c0; c < c1; c++) words |= ix->rtt_words[gs->g[k]][c];
  words &= ~0ull << (from / 64);
  for (; words; words &= words - 1) {
    uint32_t wd = (uint32_t)__builtin_ctzll(words);
    uint64_t m = 0;
    for (uint32_t k = 0; k < gs->n; k++)
      for (uint32_t c = c0; c < c1; c++) m |= ix->rtt_nonempty[gs->g[k]][c][wd];
    if (wd == from / 64) m &= ~0ull << (from % 64);
    if (m) return wd * 64 + (uint32_t)__builtin_ctzll(m);
  }
  return KQ_VIX_RTT_BUCKETS;
}

/* With the index, best first: every browser in cell (level k, bucket b) scores at least
 * bound = bucket_lo(b) * (1 + w * k / L) (rtt + 1 >= bucket_lo(b), load >= k / L; rounding is
 * monotone). Each level keeps a cursor on its next non-empty measured bucket; the cell with the
 * lowest bound over all levels is scored next, and the walk ends when that bound exceeds the best
 * score, so only cells whose bound is at most the final best are read (plus the ones read before
 * a browser fits). A level's cursor also ends past max-rtt. The unmeasured browsers (bucket 0,
 * scored with unknown_rtt_ms; they never satisfy max-rtt) come last, per level, unless their
 * bound exceeds the best. A cell is skipped only when its bound is strictly above the best, so
 * every browser that could tie is seen and the scan's tie rule (lower index) holds. */
static int32_t latency_indexed(const kq_view_index_t *ix, const kq_place_req_t *req,
                               const kq_view_t *v, const uint8_t *excluded, double w,
                               double unknown_us) {
  rtt_groups_t gs = req->gpu ? (rtt_groups_t){1, {1, 0}} : (rtt_groups_t){2, {0, 1}};
  /* cells whose fit class is below the request's hold no browser that fits */
  uint32_t cls = kq_view_index_fit_class(req->cpu_millis, req->mem_bytes);
  double best = 0, factor[KQ_VIX_LOAD_LEVELS], bound[KQ_VIX_LOAD_LEVELS];
  uint32_t cur[KQ_VIX_LOAD_LEVELS];
  int32_t bi = -1;
  for (uint32_t lv = 0; lv < KQ_VIX_LOAD_LEVELS; lv++) {
    factor[lv] = 1.0 + w * ((double)lv / KQ_VIX_LOAD_LEVELS);
    cur[lv] = next_bucket(ix, &gs, lv, cls, 1);
    bound[lv] = cur[lv] < KQ_VIX_RTT_BUCKETS
                    ? (double)kq_view_index_rtt_bucket_lo(cur[lv]) * factor[lv] : INFINITY;
  }
  for (;;) {
    uint32_t lv = 0;
    for (uint32_t k = 1; k < KQ_VIX_LOAD_LEVELS; k++)
      if (bound[k] < bound[lv]) lv = k;
    if (bound[lv] == INFINITY || (bi >= 0 && bound[lv] > best)) break;
    uint32_t b = cur[lv];
    if (req->max_rtt_us > 0 &&
        (double)kq_view_index_rtt_bucket_lo(b) - 1.0 > (double)req->max_rtt_us) {
      bound[lv] = INFINITY; /* buckets only grow: the rest of this level is above max-rtt */
      continue;
    }
    score_cell(ix, &gs, lv, cls, b, req, v, excluded, w, unknown_us, &best, &bi);
    cur[lv] = next_bucket(ix, &gs, lv, cls, b + 1);
    bound[lv] = cur[lv] < KQ_VIX_RTT_BUCKETS
                    ? (double)kq_view_index_rtt_bucket_lo(cur[lv]) * factor[lv] : INFINITY;
  }
  if (req->max_rtt_us <= 0)
    for (uint32_t lv = 0; lv < KQ_VIX_LOAD_LEVELS; lv++)
      if (bi < 0 || (unknown_us + 1.0) * factor[lv] <= best)
        score_cell(ix, &gs, lv, cls, 0, req, v, excluded, w, unknown_us, &best, &bi);
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
