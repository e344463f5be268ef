/* `kuack-bench placement`: every policy on the same seeded scenarios — policy alone (per-decision
 * latency, ns per browser per scan, next to the literal original), the real scheduler actor
 * (placements/s, decision latency, CPU per placement) and placement quality (packing, stranded
 * capacity, acceptance under overload, GPU waste, RTT regret). Table on stdout, --json, --plot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"
#include "kq_log.h"
#include "placement.h"

#define MAX_SIZES 8
#define ORIGINAL "original"

typedef struct result {
  const char *policy;
  pb_micro_t micro[MAX_SIZES];
  pb_actor_t actor[MAX_SIZES];
  pb_quality_t steady, fill, overload, overload_jobs;
} result_t;

typedef struct opts {
  uint32_t sizes[MAX_SIZES], nsizes, pods, decisions, quality_browsers, repeat;
  uint64_t seed;
  const char *policies[PB_MAX_POLICIES];
  uint32_t npolicies;
  const char *json, *plot;
  bool quick, no_quality;
} opts_t;

static void usage(FILE *f) {
  fprintf(f,
          "usage: kuack-bench placement [options]\n"
          "  --browsers N[,N...]  view sizes (default 1000,10000,100000; --quick: 1000)\n"
          "  --pods N             Pods per actor run and quality scenario (default 20000; --quick 2000)\n"
          "  --seed S             scenario seed (default 42)\n"
          "  --policies a,b,...   policies to run (default: every registered policy)\n"
          "  --repeat K           speed runs K times, interleaved; best of K kept for every\n"
          "                       policy and the original alike (default 3; --quick 1)\n"
          "  --quick              small, fast run (CI smoke)\n"
          "  --no-quality         speed only: skip the quality simulations\n"
          "  --json FILE          write results as JSON\n"
          "  --plot DIR           write DIR/placement.svg with gnuplot (fails if gnuplot is missing)\n");
}

static int parse(int argc, char **argv, opts_t *o) {
  memset(o, 0, sizeof *o);
  o->seed = 42;
  const char *sizes = NULL, *pols = NULL;
  long pods = -1, repeat = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); exit(0); }
    else if (!strcmp(a, "--quick")) { o->quick = true; continue; }
    else if (!strcmp(a, "--no-quality")) { o->no_quality = true; continue; }
    if (!v) { fprintf(stderr, "kuack-bench placement: %s needs a value\n", a); return 2; }
    i++;
    if (!strcmp(a, "--browsers")) sizes = v;
    else if (!strcmp(a, "--pods")) pods = strtol(v, NULL, 10);
    else if (!strcmp(a, "--repeat")) repeat = strtol(v, NULL, 10);
    else if (!strcmp(a, "--seed")) o->seed = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--policies")) pols = v;
    else if (!strcmp(a, "--json")) o->json = v;
    else if (!strcmp(a, "--plot")) o->plot = v;
    else { fprintf(stderr, "kuack-bench placement: unknown option %s\n", a); usage(stderr); return 2; }
  }
  if (!sizes) sizes = o->quick ? "1000" : "1000,10000,100000";
  for (const char *p = sizes; *p && o->nsizes < MAX_SIZES;) {
    long n = strtol(p, (char **)&p, 10);
    if (n < 1 || n > 1000000) { fprintf(stderr, "kuack-bench placement: bad --browsers\n"); return 2; }
    o->sizes[o->nsizes++] = (uint32_t)n;
    if (*p == ',') p++;
    else if (*p) { fprintf(stderr, "kuack-bench placement: bad --browsers\n"); return 2; }
  }
  if (pods == 0 || pods > 10000000) { fprintf(stderr, "kuack-bench placement: bad --pods\n"); return 2; }
  o->pods = pods > 0 ? (uint32_t)pods : o->quick ? 2000 : 20000;
  if (repeat == 0 || repeat > 100) { fprintf(stderr, "kuack-bench placement: bad --repeat\n"); return 2; }
  o->repeat = repeat > 0 ? (uint32_t)repeat : o->quick ? 1 : 3;
  o->decisions = o->quick ? 300 : 3000;
  /* quality runs need many Pod lifetimes: ~40 Pods per browser gives ~7 mean durations at 0.7 */
  o->quality_browsers = o->pods / 40 < 20 ? 20 : o->pods / 40 > 10000 ? 10000 : o->pods / 40;
  static char polbuf[512];
  if (pols) {
    snprintf(polbuf, sizeof polbuf, "%s", pols);
    for (char *save, *t = strtok_r(polbuf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      if (!kq_policy_find(t)) {
        char known[256];
        fprintf(stderr, "kuack-bench placement: unknown policy '%s' (known: %s)\n", t,
                kq_policy_names(known, sizeof known));
        return 2;
      }
      if (o->npolicies < PB_MAX_POLICIES) o->policies[o->npolicies++] = kq_policy_find(t)->name;
    }
  } else {
    for (uint32_t i = 0; i < kq_policy_count() && o->npolicies < PB_MAX_POLICIES; i++)
      o->policies[o->npolicies++] = kq_policy_at(i)->name;
  }
  return 0;
}

static const result_t *find(const result_t *r, uint32_t n, const char *name) {
  for (uint32_t i = 0; i < n; i++) if (!strcmp(r[i].policy, name)) return &r[i];
  return NULL;
}

static void print_table(const opts_t *o, const result_t *res, uint32_t nres) {
  const result_t *orig = find(res, nres, ORIGINAL), *compat = find(res, nres, "kuack-compat");
  for (uint32_t s = 0; s < o->nsizes; s++) {
    printf("\n== %u browsers: policy alone (select() over the view) and the real scheduler actor ==\n",
           o->sizes[s]);
    printf("%-13s %10s %9s %9s %9s %8s | %10s %9s %9s %9s %10s %9s\n", "policy", "alone dec/s",
           "p50 µs", "p99 µs", "max µs", "ns/b", "actor pl/s", "p50 µs", "p99 µs", "max µs",
           "CPU µs/pl", "vs orig");
    for (uint32_t i = 0; i < nres; i++) {
      const pb_micro_t *m = &res[i].micro[s];
      const pb_actor_t *a = &res[i].actor[s];
      printf("%-13s %10.0f %9.2f %9.2f %9.2f %8.3f |", res[i].policy, m->decisions_per_s,
             m->lat.p50 / 1e3, m->lat.p99 / 1e3, m->lat.max / 1e3, m->ns_per_browser);
      if (!strcmp(res[i].policy, ORIGINAL)) {
        printf(" %10s %9s %9s %9s %10.1f %9s\n", "-", "-", "-", "-", m->cpu_ns_per_decision / 1e3, "1x");
        continue;
      }
      double ratio = orig && a->cpu_ns_per_placement > 0
                         ? orig->micro[s].cpu_ns_per_decision / a->cpu_ns_per_placement : 0;
      printf(" %10.0f %9.2f %9.2f %9.2f %10.2f %8.1fx\n", a->placements_per_s, a->lat.p50 / 1e3,
             a->lat.p99 / 1e3, a->lat.max / 1e3, a->cpu_ns_per_placement / 1e3, ratio);
    }
  }
  if (o->no_quality) return;
  printf("\n== quality: %u browsers, %u Pods; load on the binding resource: steady 0.7 with churn, "
         "a fill to 0.7, overload 1.5 (mixed Pods and jobs) ==\n", o->quality_browsers, o->pods);
  printf("%-13s %8s %9s %8s %10s %10s %11s %8s %9s %9s %9s %9s %9s %7s\n", "policy",
         "pack/LB", "pack/FFD", "fill/LB", "stranded%", "GPU waste%", "RTT regret%", "accept%",
         "vs compat", "jobs acc%", "vs compat", "acc CPU%", "acc big%", "lost");
  for (uint32_t i = 0; i < nres; i++) {
    if (!strcmp(res[i].policy, ORIGINAL)) continue;
    const pb_quality_t *q = &res[i].steady, *ov = &res[i].overload, *oj = &res[i].overload_jobs;
    double vs = compat && compat->overload.accept_window_pct > 0
                    ? ov->accept_window_pct / compat->overload.accept_window_pct : 0;
    double vj = compat && compat->overload_jobs.accept_window_pct > 0
                    ? oj->accept_window_pct / compat->overload_jobs.accept_window_pct : 0;
    printf("%-13s %8.3f %9.3f %8.3f %10.2f %10.2f %11.1f %8.1f %8.2fx %9.1f %8.2fx %9.1f %9.1f "
           "%7llu\n", res[i].policy, q->pack_ratio, q->pack_repack,
           res[i].fill.pack_ratio, q->stranded_pct, q->gpu_waste_pct, q->rtt_regret_pct,
           ov->accept_window_pct, vs, oj->accept_window_pct, vj,
           ov->accept_cpu_pct, ov->accept_big_pct,
           (unsigned long long)(q->lost + ov->lost + oj->lost));
  }
  printf("\nns/b = mean select() time / browsers in the view; vs orig = CPU per decision of the "
         "literal original / CPU per placement through the actor (each the best of its rounds).\n"
         "fill/LB = the same as pack/LB at the end of a fill without departures; jobs = half 250m "
         "Pods, half 4- or 8-core jobs; accept%% = placed / arrived among the Pods arriving while the "
         "fleet is saturated (after 2 mean durations, until 1 before the end); acc CPU%%/big%% = "
         "by requested CPU / among Pods of 3+ cores, all arrivals.\npack/LB = browsers hosting Pods "
         "/ the fewest largest browsers whose capacity covers the demand (a volume bound); "
         "pack/FFD = browsers hosting Pods / an offline first-fit-decreasing repack of the running "
         "Pods (what migration could reach).\n");
}

static void json_stats(FILE *f, const char *k, const pb_stats_t *s) {
  fprintf(f, "\"%s\":{\"p50_ns\":%.0f,\"p99_ns\":%.0f,\"max_ns\":%.0f,\"mean_ns\":%.1f,\"n\":%llu}", k,
          s->p50, s->p99, s->max, s->mean, (unsigned long long)s->n);
}

static int write_json(const opts_t *o, const result_t *res, uint32_t nres) {
  FILE *f = fopen(o->json, "w");
  if (!f) { perror(o->json); return 1; }
  fprintf(f, "{\"benchmark\":\"placement\",\"seed\":%llu,\"pods\":%u,\"quick\":%s,\"browsers\":[",
          (unsigned long long)o->seed, o->pods, o->quick ? "true" : "false");
  for (uint32_t s = 0; s < o->nsizes; s++) fprintf(f, "%s%u", s ? "," : "", o->sizes[s]);
  fprintf(f, "],\"policies\":{");
  for (uint32_t i = 0; i < nres; i++) {
    const result_t *r = &res[i];
    fprintf(f, "%s\"%s\":{\"sizes\":[", i ? "," : "", r->policy);
    for (uint32_t s = 0; s < o->nsizes; s++) {
      const pb_micro_t *m = &r->micro[s];
      fprintf(f, "%s{\"browsers\":%u,\"alone\":{\"decisions_per_s\":%.1f,\"ns_per_browser\":%.4f,"
                 "\"cpu_ns_per_decision\":%.1f,", s ? "," : "", o->sizes[s], m->decisions_per_s,
              m->ns_per_browser, m->cpu_ns_per_decision);
      json_stats(f, "latency", &m->lat);
      fprintf(f, "}");
      if (strcmp(r->policy, ORIGINAL)) {
        const pb_actor_t *a = &r->actor[s];
        fprintf(f, ",\"actor\":{\"placements\":%llu,\"placements_per_s\":%.1f,"
                   "\"cpu_ns_per_placement\":%.1f,", (unsigned long long)a->placements,
                a->placements_per_s, a->cpu_ns_per_placement);
        json_stats(f, "decision", &a->lat);
        fprintf(f, "}");
      }
      fprintf(f, "}");
    }
    fprintf(f, "]");
    if (strcmp(r->policy, ORIGINAL)) {
      const pb_quality_t *q = &r->steady, *ov = &r->overload, *oj = &r->overload_jobs;
      fprintf(f, ",\"quality\":{\"browsers\":%u,\"fill_pack_ratio\":%.4f,"
                 "\"accept_saturated_pct_overload\":%.3f,\"accept_pct_overload_jobs\":%.3f,"
                 "\"accept_saturated_pct_overload_jobs\":%.3f,", o->quality_browsers,
              r->fill.pack_ratio, ov->accept_window_pct, oj->accept_pct, oj->accept_window_pct);
      fprintf(f, "\"pack_ratio\":%.4f,\"pack_vs_repack\":%.4f,"
                 "\"stranded_pct\":%.3f,"
                 "\"gpu_waste_pct\":%.3f,\"rtt_regret_pct\":%.3f,\"accept_pct_overload\":%.3f,"
                 "\"accept_cpu_pct_overload\":%.3f,\"accept_big_pct_overload\":%.3f,"
                 "\"arrived\":%llu,\"placed\":%llu,\"abandoned_overload\":%llu,\"lost\":%llu}",
              q->pack_ratio, q->pack_repack, q->stranded_pct, q->gpu_waste_pct,
              q->rtt_regret_pct, ov->accept_pct, ov->accept_cpu_pct, ov->accept_big_pct,
              (unsigned long long)q->arrived, (unsigned long long)q->placed,
              (unsigned long long)ov->abandoned,
              (unsigned long long)(q->lost + ov->lost + oj->lost));
    }
    fprintf(f, "}");
  }
  fprintf(f, "}}\n");
  return fclose(f) ? 1 : 0;
}

static int write_plot(const opts_t *o, const result_t *res, uint32_t nres) {
  if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
    fprintf(stderr, "kuack-bench placement: --plot needs gnuplot (Debian: apt-get install gnuplot-nox)\n");
    return 1;
  }
  mkdir(o->plot, 0755); /* an existing directory is fine; fopen reports real failures */
  char path[1024];
  snprintf(path, sizeof path, "%s/placement.dat", o->plot);
  FILE *d = fopen(path, "w");
  if (!d) { perror(path); return 1; }
  uint32_t s = o->nsizes - 1;
  fprintf(d, "# policy alone_p50_us alone_p99_us actor_p50_us actor_p99_us accept_pct rtt_regret_pct pack_ratio\n");
  for (uint32_t i = 0; i < nres; i++) {
    const result_t *r = &res[i];
    bool orig = !strcmp(r->policy, ORIGINAL);
    fprintf(d, "%s %.3f %.3f %.3f %.3f %.2f %.2f %.3f\n", r->policy, r->micro[s].lat.p50 / 1e3,
            r->micro[s].lat.p99 / 1e3, orig ? 0 : r->actor[s].lat.p50 / 1e3,
            orig ? 0 : r->actor[s].lat.p99 / 1e3, orig ? 0 : r->overload.accept_window_pct,
            orig ? 0 : r->steady.rtt_regret_pct, orig ? 0 : r->steady.pack_ratio);
  }
  fclose(d);
  snprintf(path, sizeof path, "%s/placement.gp", o->plot);
  FILE *g = fopen(path, "w");
  if (!g) { perror(path); return 1; }
  fprintf(g,
          "set terminal svg size 1100,450 dynamic font 'sans,11'\n"
          "set output '%s/placement.svg'\n"
          "set multiplot layout 1,2\n"
          "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8\n"
          "set xtics rotate by -30\nset grid ytics\nset key top left\n"
          "set title 'decision latency, %u browsers (µs, log)'\nset logscale y\n"
          "plot '%s/placement.dat' using 2:xtic(1) title 'alone p50', '' using 3 title 'alone p99', "
          "'' using 4 title 'actor p50', '' using 5 title 'actor p99'\n"
          "unset logscale y\nset title 'quality, %u browsers (%%)'\nset yrange [0:*]\n"
          "plot '%s/placement.dat' using 6:xtic(1) title 'acceptance under overload (saturated)', "
          "'' using 7 title 'RTT regret'\n"
          "unset multiplot\n",
          o->plot, o->sizes[s], o->plot, o->quality_browsers, o->plot);
  fclose(g);
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "gnuplot '%s'", path);
  if (system(cmd) != 0) {
    fprintf(stderr, "kuack-bench placement: gnuplot failed on %s\n", path);
    return 1;
  }
  fprintf(stderr, "kuack-bench placement: wrote %s/placement.svg\n", o->plot);
  return 0;
}

int kq_bench_placement(int argc, char **argv) {
  opts_t o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc;
  kq_log_set_level(KQ_LOG_WARN);
  uint32_t nres = o.npolicies + 1;
  result_t *res = calloc(nres, sizeof *res);
  for (uint32_t i = 0; i < o.npolicies; i++) res[i].policy = o.policies[i];
  res[o.npolicies].policy = ORIGINAL;
  /* The speed runs are repeated round after round, every policy and the original in each round,
   * so a disturbance on this shared machine hits all of them alike; each keeps its best round
   * (least CPU per decision alone, least CPU per placement on the actor). */
  for (uint32_t round = 0; round < o.repeat; round++)
    for (uint32_t s = 0; s < o.nsizes; s++) {
      uint32_t n = o.sizes[s];
      for (uint32_t i = 0; i < nres; i++) {
        bool orig = !strcmp(res[i].policy, ORIGINAL);
        uint32_t dec = orig ? (o.decisions / 10 ? o.decisions / 10 : 1) : o.decisions;
        fprintf(stderr, "  round %u, %u browsers: %s alone...\n", round + 1, n, res[i].policy);
        pb_micro_t m;
        pb_micro_run(res[i].policy, n, dec, o.seed + s, &m);
        if (!round || m.cpu_ns_per_decision < res[i].micro[s].cpu_ns_per_decision) res[i].micro[s] = m;
        if (orig) continue;
        fprintf(stderr, "  round %u, %u browsers: %s on the actor...\n", round + 1, n, res[i].policy);
        pb_actor_t a;
        if (pb_actor_run(res[i].policy, n, o.pods, o.seed + s, &a)) {
          fprintf(stderr, "kuack-bench placement: scheduler failed to start for %s\n", res[i].policy);
          free(res);
          return 1;
        }
        if (!round || a.cpu_ns_per_placement < res[i].actor[s].cpu_ns_per_placement) res[i].actor[s] = a;
      }
    }
  static const pb_scenario_t steady = {.load = 0.7, .mix = PB_MIX_MIXED, .departures = true},
                             fill = {.load = 0.7, .mix = PB_MIX_MIXED, .departures = false},
                             overload = {.load = 1.5, .mix = PB_MIX_MIXED, .departures = true},
                             overload_jobs = {.load = 1.5, .mix = PB_MIX_JOBS, .departures = true};
  for (uint32_t i = 0; i < o.npolicies && !o.no_quality; i++) {
    fprintf(stderr, "  quality: %s...\n", res[i].policy);
    pb_quality_run(res[i].policy, o.quality_browsers, o.pods, o.seed, &steady, &res[i].steady);
    pb_quality_run(res[i].policy, o.quality_browsers, o.pods, o.seed, &fill, &res[i].fill);
    pb_quality_run(res[i].policy, o.quality_browsers, o.pods, o.seed, &overload, &res[i].overload);
    pb_quality_run(res[i].policy, o.quality_browsers, o.pods, o.seed, &overload_jobs,
                   &res[i].overload_jobs);
  }
  print_table(&o, res, nres);
  rc = 0;
  if (o.json && write_json(&o, res, nres)) rc = 1;
  if (o.plot && write_plot(&o, res, nres)) rc = 1;
  free(res);
  return rc;
}
