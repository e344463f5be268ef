/* Placement benchmark internals: synthetic browsers and Pods from a seed, the policy-alone
 * micro-benchmark (with the literal original computation), and the scenarios that drive the
 * real scheduler actor on a fake clock. */
#ifndef KQ_BENCH_PLACEMENT_H
#define KQ_BENCH_PLACEMENT_H
#include <stdbool.h>
#include <stdint.h>

#include "kq_policy.h"

#define PB_MAX_POLICIES 8

typedef struct pb_rng { uint64_t s; } pb_rng_t;
static inline uint64_t pb_next(pb_rng_t *r) { /* splitmix64: fine and seedable */
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static inline double pb_unit(pb_rng_t *r) { return (double)(pb_next(r) >> 11) / 9007199254740992.0; }

typedef struct pb_browser {
  int64_t cpu, mem, rtt_us;
  uint8_t gpu;
  bool throttled;
} pb_browser_t;

typedef struct pb_pod {
  int64_t cpu, mem;
  uint32_t gpu;
  uint32_t max_rtt_ms;
  int32_t priority;
  uint64_t arrive_ns, duration_ns;
} pb_pod_t;

typedef enum pb_mix { PB_MIX_MIXED, PB_MIX_JOBS } pb_mix_t;

void pb_gen_browser(pb_rng_t *r, pb_browser_t *b);
void pb_gen_pod(pb_rng_t *r, pb_pod_t *p); /* the mixed mix */
void pb_gen_pod_mix(pb_rng_t *r, pb_pod_t *p, pb_mix_t mix);

typedef struct pb_stats { /* latency distribution in ns */
  double p50, p99, max, mean;
  uint64_t n;
} pb_stats_t;
void pb_stats_of(uint64_t *v, uint64_t n, pb_stats_t *out); /* sorts v */
uint64_t pb_now_ns(void);
uint64_t pb_cpu_ns(void);

/* Policy alone over a view of n browsers ~60% full. name "original" = the literal original. */
typedef struct pb_micro {
  pb_stats_t lat;
  double decisions_per_s, ns_per_browser, cpu_ns_per_decision;
} pb_micro_t;
void pb_micro_run(const char *policy, uint32_t n, uint32_t decisions, uint64_t seed, pb_micro_t *out);

/* The real scheduler actor: n browsers join, then `pods` Pods arrive (some released), all on a
 * fake clock. Wall throughput, decision latency (scheduler-measured), CPU per placement. */
typedef struct pb_actor {
  pb_stats_t lat;
  double placements_per_s, cpu_ns_per_placement;
  uint64_t placements;
} pb_actor_t;
int pb_actor_run(const char *policy, uint32_t n, uint32_t pods, uint64_t seed, pb_actor_t *out);

/* Seeded event simulation on the real actor. `load` is the offered load on the fleet's binding
 * resource (the larger of requested CPU / CPU capacity and requested memory / memory capacity).
 * With departures: Poisson arrivals, exponential durations (mean 60 s), browser churn and
 * throttling, a 30 s patience; sampled every 5 s. Without (a fill): the same fleet, no churn,
 * Pods that never end arrive over 60 s until their demand reaches `load` of the binding resource;
 * packing is measured once at the end. */
typedef struct pb_scenario {
  double load;
  pb_mix_t mix;
  bool departures;
} pb_scenario_t;

typedef struct pb_quality {
  double pack_ratio;        /* browsers used / lower bound, mean over samples (a fill: at the end) */
  double pack_repack;       /* browsers used / browsers an offline first-fit-decreasing repack of
                             * the running Pods onto the live browsers needs, mean over samples */
  double stranded_pct;      /* free CPU on used browsers that cannot fit the median Pod, % of cap */
  double gpu_waste_pct;     /* GPU browsers hosting non-GPU Pods while GPU Pods wait, % of GPU browsers */
  double rtt_regret_pct;    /* mean (rtt chosen - best feasible) / best feasible, placed Pods */
  double accept_pct;        /* placed / arrived */
  double accept_cpu_pct;    /* requested CPU of placed / of arrived Pods */
  double accept_big_pct;    /* placed / arrived among Pods of >= 3 cores */
  double accept_window_pct; /* placed / arrived among Pods arriving while the fleet is saturated */
  uint64_t arrived, placed, abandoned, lost;
} pb_quality_t;
int pb_quality_run(const char *policy, uint32_t n, uint32_t pods, uint64_t seed,
                   const pb_scenario_t *sc, pb_quality_t *out);

#endif
