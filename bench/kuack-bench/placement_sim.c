/* Scenarios on the real scheduler actor: a system on a fake clock (core's public API only),
 * synthetic browsers as browser events, Pods as PLACE/RELEASE/CANCEL, replies collected by a
 * sink actor. Throughput runs measure cost; the seeded event simulation (arrivals, durations,
 * patience, joins, leaves, throttling) measures placement quality. */
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_scheduler.h"
#include "placement.h"

#define AID_BASE 0x7000000000ull /* browsers are addressed by fake aids: the scheduler never
                                  * sends to them in these runs */

typedef struct rec { /* one reply, as the sink saw it */
  uint32_t pod;
  int32_t browser; /* -1 = waiting */
  uint64_t decision_ns;
} rec_t;

typedef struct sim {
  kq_system_t *sys;
  struct event_base *base;
  kq_clock_t clock;
  kq_aid_t sched, sink;
  rec_t *recs;
  size_t nrecs, recs_cap;
} sim_t;

typedef struct sink_state { sim_t *sim; } sink_state_t;

/* Pod uids are "p<index>". Written and read without printf/strtoul: the driver's own work
 * counts in the CPU per placement, and should be small next to the scheduler's. */
static void pod_uid(char buf[16], uint32_t k) {
  char d[12];
  int n = 0;
  do d[n++] = (char)('0' + k % 10), k /= 10; while (k);
  buf[0] = 'p';
  for (int i = 0; i < n; i++) buf[1 + i] = d[n - 1 - i];
  buf[1 + n] = 0;
}

static uint32_t pod_index(const char *uid) {
  uint32_t k = 0;
  for (const char *c = uid + 1; *c >= '0' && *c <= '9'; c++) k = k * 10 + (uint32_t)(*c - '0');
  return k;
}

static int sink_init(kq_actor_t *self, void *state, void *arg) {
  (void)self;
  ((sink_state_t *)state)->sim = arg;
  return 0;
}

static void sink_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  (void)self;
  sim_t *s = ((sink_state_t *)state)->sim;
  rec_t r = {0};
  if (m->id == KQ_SCHED_MSG_PLACED) {
    kq_sched_placed_msg_t *p = (kq_sched_placed_msg_t *)m;
    r.pod = pod_index(p->pod_uid);
    r.browser = (int32_t)(p->browser - AID_BASE);
    r.decision_ns = p->decision_ns;
  } else if (m->id == KQ_SCHED_MSG_WAITING) {
    r.pod = pod_index(((kq_sched_waiting_msg_t *)m)->pod_uid);
    r.browser = -1;
  } else {
    return;
  }
  if (s->nrecs == s->recs_cap) {
    s->recs_cap = s->recs_cap ? s->recs_cap * 2 : 1024;
    s->recs = kq_realloc(s->recs, s->recs_cap * sizeof *s->recs);
  }
  s->recs[s->nrecs++] = r;
}

static const kq_actor_type_t sink_type = {
    .name = "bench-sink", .state_size = sizeof(sink_state_t), .init = sink_init,
    .dispatch = sink_dispatch};

static int sim_open(sim_t *s, const char *policy) {
  memset(s, 0, sizeof *s);
  s->base = event_base_new();
  kq_clock_fake_init(&s->clock, 0);
  kq_system_opts_t o = {.clock = &s->clock, .mailbox_high_water = 1u << 30};
  s->sys = kq_system_new(s->base, &o);
  kq_sched_config_t cfg = {.policy = policy};
  int err = 0;
  s->sched = kq_scheduler_spawn(s->sys, &cfg, &err);
  if (!s->sched) return err ? err : -1;
  s->sink = kq_spawn(s->sys, &sink_type, s, &err);
  return s->sink ? 0 : err;
}

static void sim_close(sim_t *s) {
  kq_system_shutdown(s->sys, NULL, NULL);
  while (kq_system_drain(s->sys, 1u << 20)) {}
  if (kq_system_close(s->sys)) fprintf(stderr, "kuack-bench: system did not close cleanly\n");
  event_base_free(s->base);
  free(s->recs);
}

static void run(sim_t *s) {
  while (kq_system_drain(s->sys, 1u << 20)) {}
}

static void send_browser(sim_t *s, kq_browser_event_kind_t kind, uint32_t i, const pb_browser_t *b) {
  char id[24];
  snprintf(id, sizeof id, "b-%u", i);
  kq_browser_info_t info = {.aid = AID_BASE + i, .browser_id = id, .cpu_millis = b->cpu,
                            .memory_bytes = b->mem, .gpu = (kq_gpu_class_t)b->gpu,
                            .rtt_us = b->rtt_us, .throttled = b->throttled};
  kq_send(s->sys, s->sched, &kq_sched_browser_event_new(kind, &info, NULL)->hdr);
}

static void send_place(sim_t *s, uint32_t k, const pb_pod_t *p) {
  kq_sched_place_msg_t *m = kq_sched_place_msg_new();
  m->reply_to = s->sink;
  char uid[16];
  pod_uid(uid, k);
  m->pod_uid = kq_strdup(uid);
  m->cpu_millis = p->cpu;
  m->memory_bytes = p->mem;
  m->gpu = p->gpu;
  m->max_rtt_ms = p->max_rtt_ms;
  m->priority = p->priority;
  kq_send(s->sys, s->sched, &m->hdr);
}

static void send_pod(sim_t *s, uint32_t id, uint32_t k) {
  char uid[16];
  pod_uid(uid, k);
  kq_send(s->sys, s->sched, &kq_sched_pod_msg_new(id, uid)->hdr);
}

/* ---- throughput on the actor ---- */

int pb_actor_run(const char *policy, uint32_t n, uint32_t pods, uint64_t seed, pb_actor_t *out) {
  sim_t s;
  int rc = sim_open(&s, policy);
  if (rc) return rc;
  pb_rng_t r = {seed};
  for (uint32_t i = 0; i < n; i++) {
    pb_browser_t b;
    pb_gen_browser(&r, &b);
    send_browser(&s, KQ_BROWSER_UP, i, &b);
  }
  run(&s);
  uint32_t *live = malloc(pods * sizeof *live), nlive = 0;
  uint64_t *lat = malloc(pods * sizeof *lat), nlat = 0;
  uint64_t c0 = pb_cpu_ns(), w0 = pb_now_ns();
  for (uint32_t k = 0; k < pods; k++) {
    pb_pod_t p;
    pb_gen_pod(&r, &p);
    send_place(&s, k, &p);
    run(&s);
    for (size_t j = 0; j < s.nrecs; j++)
      if (s.recs[j].browser >= 0) {
        lat[nlat++] = s.recs[j].decision_ns;
        live[nlive++] = s.recs[j].pod;
      } else {
        send_pod(&s, KQ_SCHED_MSG_CANCEL, s.recs[j].pod); /* keep the queue out of this run */
      }
    s.nrecs = 0;
    /* steady churn: release a random running Pod now and then, so the view stays ~half full */
    while (nlive && pb_next(&r) % 100 < 45) {
      uint32_t j = (uint32_t)(pb_next(&r) % nlive);
      send_pod(&s, KQ_SCHED_MSG_RELEASE, live[j]);
      live[j] = live[--nlive];
    }
  }
  run(&s);
  uint64_t wall = pb_now_ns() - w0, cpu = pb_cpu_ns() - c0;
  pb_stats_of(lat, nlat, &out->lat);
  out->placements = nlat;
  out->placements_per_s = (double)nlat / ((double)wall / 1e9);
  out->cpu_ns_per_placement = nlat ? (double)cpu / (double)nlat : 0;
  free(live);
  free(lat);
  sim_close(&s);
  return 0;
}

/* ---- quality: seeded event simulation ---- */

enum { EV_ARRIVE, EV_FINISH, EV_ABANDON, EV_CHURN, EV_SAMPLE };
typedef struct ev { uint64_t t, seq; uint32_t type, idx; } ev_t;
typedef struct heap { ev_t *a; size_t n, cap; uint64_t seq; } heap_t;

static bool ev_less(const ev_t *x, const ev_t *y) { return x->t != y->t ? x->t < y->t : x->seq < y->seq; }

static void heap_push(heap_t *h, uint64_t t, uint32_t type, uint32_t idx) {
  if (h->n == h->cap) h->a = kq_realloc(h->a, (h->cap = h->cap ? h->cap * 2 : 1024) * sizeof *h->a);
  size_t i = h->n++;
  h->a[i] = (ev_t){t, h->seq++, type, idx};
  while (i && ev_less(&h->a[i], &h->a[(i - 1) / 2])) {
    ev_t tmp = h->a[i];
    h->a[i] = h->a[(i - 1) / 2];
    h->a[(i - 1) / 2] = tmp;
    i = (i - 1) / 2;
  }
}

static ev_t heap_pop(heap_t *h) {
  ev_t top = h->a[0];
  h->a[0] = h->a[--h->n];
  for (size_t i = 0;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < h->n && ev_less(&h->a[l], &h->a[m])) m = l;
    if (r < h->n && ev_less(&h->a[r], &h->a[m])) m = r;
    if (m == i) break;
    ev_t tmp = h->a[i];
    h->a[i] = h->a[m];
    h->a[m] = tmp;
    i = m;
  }
  return top;
}

typedef struct mb { pb_browser_t b; int64_t fc, fm; uint32_t pods, nongpu; bool alive; } mb_t;
enum { P_NONE, P_PENDING, P_PLACED, P_DONE, P_ABANDONED, P_LOST };
typedef struct mp { pb_pod_t p; uint8_t state; int32_t b; } mp_t;

static int cmp_desc(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x > y ? -1 : x < y;
}

/* Offline reference: the running Pods re-placed from scratch by first-fit decreasing (largest
 * Pods first, onto the live browsers largest first; kuack.io/gpu Pods only on real GPUs). Not a
 * lower bound, but a packing a migrating scheduler could reach at that instant. */
typedef struct repack { uint32_t *order, *pods; int64_t *fc, *fm; } repack_t;
static const mb_t *g_rb; /* qsort context */
static const mp_t *g_rp;
static int cmp_browser_desc(const void *a, const void *b) {
  const pb_browser_t *x = &g_rb[*(const uint32_t *)a].b, *y = &g_rb[*(const uint32_t *)b].b;
  if (x->cpu != y->cpu) return x->cpu > y->cpu ? -1 : 1;
  if (x->mem != y->mem) return x->mem > y->mem ? -1 : 1;
  return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}
static int cmp_pod_desc(const void *a, const void *b) {
  const pb_pod_t *x = &g_rp[*(const uint32_t *)a].p, *y = &g_rp[*(const uint32_t *)b].p;
  if (x->cpu != y->cpu) return x->cpu > y->cpu ? -1 : 1;
  if (x->mem != y->mem) return x->mem > y->mem ? -1 : 1;
  return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}
static uint32_t repack_count(repack_t *r, const mb_t *b, uint32_t nb, const mp_t *p, uint32_t np) {
  uint32_t n = 0, k = 0, used = 0;
  for (uint32_t i = 0; i < nb; i++)
    if (b[i].alive) r->order[n++] = i;
  for (uint32_t j = 0; j < np; j++)
    if (p[j].state == P_PLACED) r->pods[k++] = j;
  g_rb = b, g_rp = p;
  qsort(r->order, n, sizeof *r->order, cmp_browser_desc);
  qsort(r->pods, k, sizeof *r->pods, cmp_pod_desc);
  for (uint32_t i = 0; i < n; i++) r->fc[i] = b[r->order[i]].b.cpu, r->fm[i] = b[r->order[i]].b.mem;
  for (uint32_t j = 0; j < k; j++) {
    const pb_pod_t *x = &p[r->pods[j]].p;
    for (uint32_t i = 0; i < n; i++) {
      if (r->fc[i] < x->cpu || r->fm[i] < x->mem) continue;
      if (x->gpu && b[r->order[i]].b.gpu != KQ_VIEW_GPU_REAL) continue;
      used += r->fc[i] == b[r->order[i]].b.cpu && r->fm[i] == b[r->order[i]].b.mem;
      r->fc[i] -= x->cpu, r->fm[i] -= x->mem;
      break;
    }
  }
  return used;
}

static uint32_t bins_needed(int64_t *caps, uint32_t n, int64_t demand) {
  qsort(caps, n, sizeof *caps, cmp_desc);
  uint32_t k = 0;
  for (int64_t sum = 0; sum < demand && k < n; k++) sum += caps[k];
  return k;
}

int pb_quality_run(const char *policy, uint32_t n, uint32_t pods, uint64_t seed,
                   const pb_scenario_t *sc, pb_quality_t *q) {
  sim_t s;
  int rc = sim_open(&s, policy);
  if (rc) return rc;
  memset(q, 0, sizeof *q);
  pb_rng_t r = {seed};
  uint32_t nb_cap = n * 2 + 16, nb = 0;
  mb_t *b = calloc(nb_cap, sizeof *b);
  mp_t *p = calloc(pods, sizeof *p);
  int64_t *scratch = malloc(nb_cap * sizeof *scratch);
  repack_t rp = {malloc(nb_cap * sizeof *rp.order), malloc(pods * sizeof *rp.pods),
                 malloc(nb_cap * sizeof *rp.fc), malloc(nb_cap * sizeof *rp.fm)};
  int64_t total_cpu = 0, total_mem = 0;
  for (; nb < n; nb++) {
    pb_gen_browser(&r, &b[nb].b);
    b[nb].fc = b[nb].b.cpu, b[nb].fm = b[nb].b.mem, b[nb].alive = true;
    total_cpu += b[nb].b.cpu, total_mem += b[nb].b.mem;
    send_browser(&s, KQ_BROWSER_UP, nb, &b[nb].b);
  }
  run(&s);
  const double mean_dur_s = 60.0, patience_s = 30.0, fill_s = 60.0;
  double mean_cpu = 0, mean_mem = 0;
  for (uint32_t k = 0; k < pods; k++) {
    pb_gen_pod_mix(&r, &p[k].p, sc->mix);
    mean_cpu += (double)p[k].p.cpu, mean_mem += (double)p[k].p.mem;
  }
  mean_cpu /= pods, mean_mem /= pods;
  /* Arrival rate for the offered load on the binding resource: load = rate * mean duration *
   * mean request / capacity, for CPU and for memory; the smaller rate. A fill sends the Pods
   * whose demand first reaches `load` of either capacity, spread over fill_s. */
  double rate = sc->load * (double)total_cpu / (mean_dur_s * mean_cpu);
  double rate_mem = sc->load * (double)total_mem / (mean_dur_s * mean_mem);
  if (rate_mem < rate) rate = rate_mem;
  uint32_t npods = pods;
  if (!sc->departures) {
    double dc = 0, dm = 0;
    for (npods = 0; npods < pods; npods++) {
      if (dc >= sc->load * (double)total_cpu || dm >= sc->load * (double)total_mem) break;
      dc += (double)p[npods].p.cpu, dm += (double)p[npods].p.mem;
    }
    rate = npods / fill_s;
  }
  heap_t h = {0};
  uint64_t t = 0;
  for (uint32_t k = 0; k < npods; k++) {
    t += (uint64_t)(-log(1.0 - pb_unit(&r)) / rate * 1e9);
    p[k].p.arrive_ns = t;
    p[k].p.duration_ns = (uint64_t)(-log(1.0 - pb_unit(&r)) * mean_dur_s * 1e9);
    heap_push(&h, t, EV_ARRIVE, k);
  }
  uint64_t end = t;
  if (sc->departures) {
    for (uint64_t c = KQ_SEC(1); c < end; c += KQ_SEC(1)) heap_push(&h, c, EV_CHURN, 0);
    for (uint64_t c = KQ_SEC(5); c < end; c += KQ_SEC(5)) heap_push(&h, c, EV_SAMPLE, 0);
  } else {
    /* once every Pod of the fill is placed or has given up */
    heap_push(&h, end + (uint64_t)(patience_s * 1e9) + KQ_SEC(1), EV_SAMPLE, 0);
  }
  uint32_t pending_gpu = 0, samples = 0, gpu_samples = 0, regret_n = 0;
  uint64_t big_in = 0, big_placed = 0;
  double repack_sum = 0;
  uint32_t repack_samples = 0;
  double pack_sum = 0, stranded_sum = 0, gpu_sum = 0, regret_sum = 0, cpu_in = 0, cpu_placed = 0;
  while (h.n) {
    ev_t e = heap_pop(&h);
    kq_clock_advance(&s.clock, e.t - s.clock.fake_mono_ns);
    mp_t *pp = &p[e.idx];
    switch (e.type) {
      case EV_ARRIVE:
        pp->state = P_PENDING;
        pending_gpu += pp->p.gpu > 0;
        q->arrived++;
        cpu_in += (double)pp->p.cpu;
        big_in += pp->p.cpu >= 3000;
        send_place(&s, e.idx, &pp->p);
        heap_push(&h, e.t + (uint64_t)(patience_s * 1e9), EV_ABANDON, e.idx);
        break;
      case EV_FINISH:
        if (pp->state != P_PLACED) break;
        pp->state = P_DONE;
        b[pp->b].fc += pp->p.cpu, b[pp->b].fm += pp->p.mem, b[pp->b].pods--;
        b[pp->b].nongpu -= !pp->p.gpu;
        send_pod(&s, KQ_SCHED_MSG_RELEASE, e.idx);
        break;
      case EV_ABANDON:
        if (pp->state != P_PENDING) break;
        pp->state = P_ABANDONED;
        pending_gpu -= pp->p.gpu > 0;
        q->abandoned++;
        send_pod(&s, KQ_SCHED_MSG_CANCEL, e.idx);
        break;
      case EV_CHURN: {
        /* 0.1% of browsers per second leave and as many join */
        uint32_t moves = (uint32_t)((double)n * 0.001 + pb_unit(&r));
        for (uint32_t m = 0; m < moves; m++) {
          uint32_t i = (uint32_t)(pb_next(&r) % nb);
          if (b[i].alive) {
            b[i].alive = false;
            total_cpu -= b[i].b.cpu;
            send_browser(&s, KQ_BROWSER_DOWN, i, &b[i].b);
            for (uint32_t k = 0; k < pods; k++)
              if (p[k].state == P_PLACED && p[k].b == (int32_t)i) p[k].state = P_LOST, q->lost++;
          }
          if (nb < nb_cap) {
            pb_gen_browser(&r, &b[nb].b);
            b[nb].fc = b[nb].b.cpu, b[nb].fm = b[nb].b.mem, b[nb].alive = true;
            total_cpu += b[nb].b.cpu;
            send_browser(&s, KQ_BROWSER_UP, nb, &b[nb].b);
            nb++;
          }
        }
        /* throttling comes and goes (a tab sent to the background and back): each second an
         * available browser is throttled with probability 0.25%/0.95 and a throttled one
         * recovers with 0.25%/0.05 (episodes of 20 s on average), so 0.5% of the fleet flips
         * per second and 5% stays throttled, as at the start */
        for (uint32_t i = 0; i < nb; i++) {
          if (!b[i].alive) continue;
          double pf = b[i].b.throttled ? 0.0025 / 0.05 : 0.0025 / 0.95;
          if (pb_unit(&r) >= pf) continue;
          b[i].b.throttled = !b[i].b.throttled;
          send_browser(&s, KQ_BROWSER_CHANGED, i, &b[i].b);
        }
        break;
      }
      case EV_SAMPLE: {
        int64_t dc = 0, dm = 0, stranded = 0, cap = 0;
        uint32_t used = 0, na = 0, gpu_total = 0, gpu_wasted = 0;
        for (uint32_t i = 0; i < nb; i++) {
          if (!b[i].alive) continue;
          cap += b[i].b.cpu;
          dc += b[i].b.cpu - b[i].fc, dm += b[i].b.mem - b[i].fm;
          if (b[i].pods) {
            used++;
            if (b[i].fc < 250 || b[i].fm < ((int64_t)1 << 28)) stranded += b[i].fc;
          }
          if (b[i].b.gpu == KQ_VIEW_GPU_REAL) gpu_total++, gpu_wasted += b[i].nongpu > 0;
          scratch[na++] = b[i].b.cpu;
        }
        uint32_t lb = bins_needed(scratch, na, dc);
        na = 0;
        for (uint32_t i = 0; i < nb; i++) if (b[i].alive) scratch[na++] = b[i].b.mem;
        uint32_t lbm = bins_needed(scratch, na, dm);
        if (lbm > lb) lb = lbm;
        if (lb) pack_sum += (double)used / lb, samples++;
        uint32_t ffd = repack_count(&rp, b, nb, p, pods);
        if (ffd) repack_sum += (double)used / ffd, repack_samples++;
        if (cap) stranded_sum += 100.0 * (double)stranded / (double)cap;
        if (pending_gpu && gpu_total) gpu_sum += 100.0 * gpu_wasted / gpu_total, gpu_samples++;
        break;
      }
    }
    run(&s);
    for (size_t j = 0; j < s.nrecs; j++) {
      rec_t *rr = &s.recs[j];
      mp_t *x = &p[rr->pod];
      if (rr->browser < 0 || x->state != P_PENDING) continue;
      mb_t *cb = &b[rr->browser];
      /* RTT regret against the best browser that could have taken it at this moment */
      int64_t best = -1;
      for (uint32_t i = 0; i < nb; i++) {
        const mb_t *o = &b[i];
        if (!o->alive || o->b.throttled || o->fc < x->p.cpu || o->fm < x->p.mem) continue;
        if (x->p.gpu && o->b.gpu != KQ_VIEW_GPU_REAL) continue;
        int64_t rt = o->b.rtt_us < 0 ? 250000 : o->b.rtt_us;
        if (best < 0 || rt < best) best = rt;
      }
      int64_t chosen = cb->b.rtt_us < 0 ? 250000 : cb->b.rtt_us;
      if (best > 0) regret_sum += (double)(chosen - best) / (double)best, regret_n++;
      x->state = P_PLACED;
      x->b = rr->browser;
      pending_gpu -= x->p.gpu > 0;
      q->placed++;
      cpu_placed += (double)x->p.cpu;
      big_placed += x->p.cpu >= 3000;
      cb->fc -= x->p.cpu, cb->fm -= x->p.mem, cb->pods++, cb->nongpu += !x->p.gpu;
      if (sc->departures) heap_push(&h, s.clock.fake_mono_ns + x->p.duration_ns, EV_FINISH, rr->pod);
    }
    s.nrecs = 0;
  }
  q->pack_ratio = samples ? pack_sum / samples : 0;
  q->pack_repack = repack_samples ? repack_sum / repack_samples : 0;
  q->accept_big_pct = big_in ? 100.0 * (double)big_placed / (double)big_in : 0;
  q->stranded_pct = samples ? stranded_sum / samples : 0;
  q->gpu_waste_pct = gpu_samples ? gpu_sum / gpu_samples : 0;
  q->rtt_regret_pct = regret_n ? 100.0 * regret_sum / regret_n : 0;
  q->accept_cpu_pct = cpu_in > 0 ? 100.0 * cpu_placed / cpu_in : 0;
  q->accept_pct = q->arrived ? 100.0 * (double)q->placed / (double)q->arrived : 0;
  /* overload acceptance counts the Pods arriving while the fleet is saturated: after two mean
   * durations (it starts empty) and up to one mean duration before the last arrival (it drains
   * at the end) */
  uint64_t t1 = (uint64_t)(2 * mean_dur_s * 1e9), t2 = end - (uint64_t)(mean_dur_s * 1e9);
  if (sc->departures && end > (uint64_t)(mean_dur_s * 1e9) && t2 > t1) {
    uint32_t nw = 0, placed = 0;
    for (uint32_t k = 0; k < npods; k++)
      if (p[k].p.arrive_ns >= t1 && p[k].p.arrive_ns < t2) {
        nw++;
        placed += p[k].state == P_DONE || p[k].state == P_LOST || p[k].state == P_PLACED;
      }
    q->accept_window_pct = nw ? 100.0 * placed / nw : 0;
  }
  free(h.a);
  free(b);
  free(p);
  free(scratch);
  free(rp.order), free(rp.pods), free(rp.fc), free(rp.fm);
  sim_close(&s);
  return 0;
}
