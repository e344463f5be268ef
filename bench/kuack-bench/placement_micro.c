/* Synthetic browsers/Pods, latency statistics, and the policy-alone micro-benchmark: each
 * policy's select() timed per decision over a browser view about 60% full, next to a literal
 * reimplementation of the original Kuack computation (every agent's usage re-summed over its
 * Pods for every decision). */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#include "placement.h"

uint64_t pb_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t pb_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

void pb_stats_of(uint64_t *v, uint64_t n, pb_stats_t *o) {
  memset(o, 0, sizeof *o);
  if (!n) return;
  qsort(v, n, sizeof *v, cmp_u64);
  double sum = 0;
  for (uint64_t i = 0; i < n; i++) sum += (double)v[i];
  o->n = n;
  o->mean = sum / (double)n;
  o->p50 = (double)v[n / 2];
  o->p99 = (double)v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
  o->max = (double)v[n - 1];
}

/* Browsers: laptops to workstations; 10% real WebGPU, 5% software fallback; RTT 2-200 ms
 * (log-uniform), 3% not measured yet; 5% throttled (background tabs). */
void pb_gen_browser(pb_rng_t *r, pb_browser_t *b) {
  static const int64_t cpus[] = {2000, 4000, 4000, 8000, 8000, 8000, 12000, 16000};
  int k = (int)(pb_next(r) % 8);
  b->cpu = cpus[k];
  b->mem = (b->cpu / 1000) * ((int64_t)1 << 30) / (1 + (int64_t)(pb_next(r) % 2)); /* 0.5-1 GiB/core */
  uint64_t g = pb_next(r) % 100;
  b->gpu = g < 10 ? KQ_VIEW_GPU_REAL : g < 15 ? KQ_VIEW_GPU_FALLBACK : KQ_VIEW_GPU_NONE;
  b->rtt_us = pb_next(r) % 100 < 3 ? -1 : (int64_t)(2000.0 * exp(pb_unit(r) * 4.6));
  b->throttled = pb_next(r) % 100 < 5;
}

/* Pods, mix "mixed": 60% small (250m/256Mi), 25% medium (1000m/1Gi), 15% large (3-6 cores,
 * 3-6 GiB); 3% BestEffort. Mix "jobs": half small (250m/256Mi), half whole-browser jobs of 4 or
 * 8 cores with 512Mi per core (fit a browser of that size, whatever its memory per core).
 * Either mix: 5% ask for kuack.io/gpu, 10% carry max-rtt 50 ms, priorities 0-2. */
void pb_gen_pod_mix(pb_rng_t *r, pb_pod_t *p, pb_mix_t mix) {
  memset(p, 0, sizeof *p);
  uint64_t k = pb_next(r) % 100;
  const int64_t gi = (int64_t)1 << 30;
  if (mix == PB_MIX_JOBS) {
    if (k < 50) {
      p->cpu = 250;
      p->mem = gi / 4;
    } else {
      int64_t c = k < 75 ? 4 : 8;
      p->cpu = c * 1000;
      p->mem = c * gi / 2;
    }
  } else if (k < 3) {
    /* BestEffort: no requests */
  } else if (k < 63) {
    p->cpu = 250;
    p->mem = gi / 4;
  } else if (k < 88) {
    p->cpu = 1000;
    p->mem = gi;
  } else {
    int64_t c = 3 + (int64_t)(pb_next(r) % 4);
    p->cpu = c * 1000;
    p->mem = c * gi;
  }
  if (pb_next(r) % 100 < 5) {
    p->gpu = 1;
    if (!p->cpu) p->cpu = 1000, p->mem = gi;
  }
  if (pb_next(r) % 100 < 10) p->max_rtt_ms = 50;
  p->priority = (int32_t)(pb_next(r) % 3);
}

void pb_gen_pod(pb_rng_t *r, pb_pod_t *p) { pb_gen_pod_mix(r, p, PB_MIX_MIXED); }

typedef struct micro_view {
  kq_view_t v;
  int64_t *free_cpu, *free_mem, *cap_cpu, *cap_mem, *rtt;
  uint8_t *gpu, *flags;
  uint32_t *pods, *max_pods, *labelset;
  /* the original's state: per-agent Pod lists (CSR) */
  uint32_t *first;            /* n + 1 offsets */
  int64_t *pod_cpu, *pod_mem;
  uint32_t npods;
  kq_view_index_t ix; /* what the scheduler's view maintains; select() reads it */
} micro_view_t;

static void micro_build(micro_view_t *m, uint32_t n, pb_rng_t *r) {
  memset(m, 0, sizeof *m);
  m->free_cpu = calloc(n, 8), m->free_mem = calloc(n, 8), m->cap_cpu = calloc(n, 8);
  m->cap_mem = calloc(n, 8), m->rtt = calloc(n, 8), m->gpu = calloc(n, 1), m->flags = calloc(n, 1);
  m->pods = calloc(n, 4), m->max_pods = calloc(n, 4), m->labelset = calloc(n, 4);
  m->first = calloc(n + 1, 4);
  uint32_t cap = n * 8 + 16;
  m->pod_cpu = malloc(cap * 8), m->pod_mem = malloc(cap * 8);
  for (uint32_t i = 0; i < n; i++) {
    pb_browser_t b;
    pb_gen_browser(r, &b);
    m->cap_cpu[i] = b.cpu, m->cap_mem[i] = b.mem, m->rtt[i] = b.rtt_us, m->gpu[i] = b.gpu;
    m->flags[i] = b.throttled ? KQ_VIEW_THROTTLED : 0;
    m->first[i] = m->npods;
    /* fill to 30-90% with Pods the browser can hold */
    double target = 0.3 + 0.6 * pb_unit(r);
    int64_t uc = 0, um = 0;
    for (int tries = 0; tries < 16 && uc < target * (double)b.cpu && m->npods < cap; tries++) {
      pb_pod_t p;
      pb_gen_pod(r, &p);
      if (uc + p.cpu > b.cpu || um + p.mem > b.mem) continue;
      m->pod_cpu[m->npods] = p.cpu, m->pod_mem[m->npods] = p.mem, m->npods++;
      uc += p.cpu, um += p.mem;
      m->pods[i]++;
    }
    m->free_cpu[i] = b.cpu - uc, m->free_mem[i] = b.mem - um;
    m->v.total_cap_cpu += b.cpu, m->v.total_cap_mem += b.mem;
  }
  m->first[n] = m->npods;
  m->v.n = n;
  m->v.free_cpu_millis = m->free_cpu, m->v.free_mem_bytes = m->free_mem;
  m->v.cap_cpu_millis = m->cap_cpu, m->v.cap_mem_bytes = m->cap_mem;
  m->v.gpu_class = m->gpu, m->v.rtt_us = m->rtt, m->v.pods = m->pods;
  m->v.max_pods = m->max_pods, m->v.flags = m->flags, m->v.labelset = m->labelset;
  kq_view_index_init(&m->ix);
  kq_view_index_build(&m->ix, &m->v);
  m->v.index = &m->ix;
}

static void micro_free(micro_view_t *m) {
  free(m->free_cpu), free(m->free_mem), free(m->cap_cpu), free(m->cap_mem), free(m->rtt);
  free(m->gpu), free(m->flags), free(m->pods), free(m->max_pods), free(m->labelset);
  free(m->first), free(m->pod_cpu), free(m->pod_mem);
  kq_view_index_free(&m->ix);
}

/* The original `selectAgent` + `HasCapacity`, literally: for every agent, its free CPU and
 * memory are recomputed from the requests of every Pod allocated to it; throttled agents are
 * skipped unless the Pod is BestEffort; the most free CPU wins, ties to the last (>=). */
static int32_t original_select(const micro_view_t *m, const kq_place_req_t *req) {
  int32_t best = -1;
  int64_t best_free = 0;
  bool be = kq_place_req_best_effort(req);
  for (uint32_t i = 0; i < m->v.n; i++) {
    if ((m->flags[i] & KQ_VIEW_THROTTLED) && !be) continue;
    int64_t uc = 0, um = 0;
    for (uint32_t k = m->first[i]; k < m->first[i + 1]; k++) uc += m->pod_cpu[k], um += m->pod_mem[k];
    int64_t fc = m->cap_cpu[i] - uc, fm = m->cap_mem[i] - um;
    if (!be && (fc < req->cpu_millis || fm < req->mem_bytes)) continue;
    if (best < 0 || fc >= best_free) best = (int32_t)i, best_free = fc;
  }
  return best;
}

void pb_micro_run(const char *policy, uint32_t n, uint32_t decisions, uint64_t seed, pb_micro_t *out) {
  pb_rng_t r = {seed};
  micro_view_t m;
  micro_build(&m, n, &r);
  bool original = !strcmp(policy, "original");
  kq_policy_state_t st;
  if (!original && kq_policy_setup(policy, NULL, &st, NULL, 0)) abort();
  uint64_t *lat = malloc(decisions * sizeof *lat);
  kq_place_req_t *reqs = malloc(decisions * sizeof *reqs);
  for (uint32_t d = 0; d < decisions; d++) {
    pb_pod_t p;
    pb_gen_pod(&r, &p);
    reqs[d] = (kq_place_req_t){p.cpu, p.mem, p.gpu, (int64_t)p.max_rtt_ms * 1000, p.priority};
  }
  volatile int64_t sink = 0;
  uint64_t c0 = pb_cpu_ns(), w0 = pb_now_ns();
  for (uint32_t d = 0; d < decisions; d++) {
    uint64_t t0 = pb_now_ns();
    kq_policy_reason_t why;
    int32_t i = original ? original_select(&m, &reqs[d])
                         : kq_policy_select(&st, &reqs[d], &m.v, NULL, 0, &why);
    lat[d] = pb_now_ns() - t0;
    sink += i;
  }
  uint64_t wall = pb_now_ns() - w0, cpu = pb_cpu_ns() - c0;
  (void)sink;
  pb_stats_of(lat, decisions, &out->lat);
  out->decisions_per_s = (double)decisions / ((double)wall / 1e9);
  out->ns_per_browser = out->lat.mean / (double)n;
  out->cpu_ns_per_decision = (double)cpu / decisions;
  free(lat);
  free(reqs);
  micro_free(&m);
}
