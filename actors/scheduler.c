/* The scheduler actor: browser events keep the view current, PLACE runs the node's policy over
 * it and reserves, RELEASE/CANCEL/DOWN give capacity back, and a coalesced RETRY pass places
 * queued Pods (priority, then age) as soon as capacity appears. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_log.h"
#include "kq_metrics.h"
#include "kq_scheduler.h"
#include "scheduler_internal.h"

#define COMP "scheduler"

typedef struct sched {
  kq_actor_t *self;
  kq_policy_state_t policy;
  sched_view_t view;
  /* uid → pod (chained) */
  sched_pod_t **buckets;
  uint32_t nbuckets, npods, nplaced;
  /* pending queue, sorted by (priority desc, seq asc) */
  sched_pod_t **queue;
  uint32_t nqueue, queue_cap;
  uint64_t seq, placements, decisions;
  bool retry_queued;
  /* re-explaining waiting Pods (each explanation scans every browser): at once after a browser
   * or policy change, after releases at most once per SCHED_EXPLAIN_INTERVAL_NS, the deferred
   * one from a timer so a waiting Pod's reason is still brought up to date */
  bool explain_now;
  uint64_t explain_after_ns;
  kq_timer_id_t explain_timer;
  /* metrics */
  kq_metrics_t *metrics;
  kq_histogram_t *m_latency;
  kq_gauge_t *m_pending;
  struct {
    const kq_policy_vtable_t *vt;
    kq_counter_t *c;
  } m_placed[16];
} sched_t;

/* ---- message helpers ---- */

static void place_dtor(kq_msg_t *m) {
  kq_sched_place_msg_t *p = (kq_sched_place_msg_t *)m;
  free(p->pod_uid);
  free(p->namespace_);
  free(p->pod_name);
  free(p->selector);
}
kq_sched_place_msg_t *kq_sched_place_msg_new(void) {
  kq_sched_place_msg_t *m = KQ_MSG_NEW(kq_sched_place_msg_t, KQ_SCHED_MSG_PLACE);
  m->hdr.dtor = place_dtor;
  return m;
}

static void pod_dtor(kq_msg_t *m) { free(((kq_sched_pod_msg_t *)m)->pod_uid); }
kq_sched_pod_msg_t *kq_sched_pod_msg_new(uint32_t id, const char *pod_uid) {
  kq_sched_pod_msg_t *m = KQ_MSG_NEW(kq_sched_pod_msg_t, id);
  m->hdr.dtor = pod_dtor;
  m->pod_uid = kq_strdup(pod_uid);
  return m;
}

static void setpol_dtor(kq_msg_t *m) { free(((kq_sched_set_policy_msg_t *)m)->name); }
kq_sched_set_policy_msg_t *kq_sched_set_policy_msg_new(const char *name,
                                                       const kq_policy_params_t *params) {
  kq_sched_set_policy_msg_t *m = KQ_MSG_NEW(kq_sched_set_policy_msg_t, KQ_SCHED_MSG_SET_POLICY);
  m->hdr.dtor = setpol_dtor;
  m->name = kq_strdup(name);
  if (params) m->params = *params;
  return m;
}

kq_browser_event_msg_t *kq_sched_browser_event_new(kq_browser_event_kind_t kind,
                                                   const kq_browser_info_t *info,
                                                   const char *reason) {
  kq_browser_event_msg_t *m = KQ_MSG_NEW(kq_browser_event_msg_t, KQ_SCHED_MSG_BROWSER_EVENT);
  m->hdr.dtor = kq_browser_event_msg_dtor;
  m->kind = kind;
  kq_browser_info_copy(&m->info, info);
  m->reason = kq_strdup(reason);
  return m;
}

static void placed_dtor(kq_msg_t *m) {
  kq_sched_placed_msg_t *p = (kq_sched_placed_msg_t *)m;
  free(p->pod_uid);
  free(p->browser_id);
  free(p->explanation);
}
static void waiting_dtor(kq_msg_t *m) {
  kq_sched_waiting_msg_t *w = (kq_sched_waiting_msg_t *)m;
  free(w->pod_uid);
  free(w->message);
}
kq_sched_placed_msg_t *kq_sched_placed_msg_new(uint32_t id) {
  kq_sched_placed_msg_t *m = KQ_MSG_NEW(kq_sched_placed_msg_t, id);
  m->hdr.dtor = placed_dtor;
  return m;
}

kq_sched_waiting_msg_t *kq_sched_waiting_msg_new(uint32_t id) {
  kq_sched_waiting_msg_t *w = KQ_MSG_NEW(kq_sched_waiting_msg_t, id);
  w->hdr.dtor = waiting_dtor;
  return w;
}

static void policy_dtor(kq_msg_t *m) { free(((kq_sched_policy_msg_t *)m)->message); }

/* ---- pod table ---- */

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

static sched_pod_t *pod_find(sched_t *s, const char *uid) {
  if (!s->nbuckets || !uid) return NULL;
  uint64_t h = hash_str(uid);
  for (sched_pod_t *p = s->buckets[h & (s->nbuckets - 1)]; p; p = p->hnext)
    if (p->hash == h && !strcmp(p->uid, uid)) return p;
  return NULL;
}

static void pod_insert(sched_t *s, sched_pod_t *p) {
  if (s->npods + 1 > s->nbuckets) {
    uint32_t nb = s->nbuckets ? s->nbuckets * 2 : 256;
    sched_pod_t **b = kq_calloc(nb, sizeof *b);
    for (uint32_t i = 0; i < s->nbuckets; i++)
      for (sched_pod_t *q = s->buckets[i], *next; q; q = next) {
        next = q->hnext;
        q->hnext = b[q->hash & (nb - 1)];
        b[q->hash & (nb - 1)] = q;
      }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
  }
  p->hash = hash_str(p->uid);
  sched_pod_t **head = &s->buckets[p->hash & (s->nbuckets - 1)];
  p->hnext = *head;
  *head = p;
  s->npods++;
}

static void pod_free(sched_pod_t *p) {
  free(p->uid);
  free(p->ns);
  free(p->name);
  free(p->selector_text);
  free(p->last_wait);
  kq_selector_free(p->selector);
  free(p);
}

/* Unlinks p from the uid table and frees it (not from the queue or a browser: callers do). */
static void pod_drop(sched_t *s, sched_pod_t *p) {
  sched_pod_t **pp = &s->buckets[p->hash & (s->nbuckets - 1)];
  while (*pp != p) pp = &(*pp)->hnext;
  *pp = p->hnext;
  s->npods--;
  pod_free(p);
}

/* ---- pending queue ---- */

static bool queue_before(const sched_pod_t *a, const sched_pod_t *b) {
  return a->req.priority != b->req.priority ? a->req.priority > b->req.priority : a->seq < b->seq;
}

static void queue_push(sched_t *s, sched_pod_t *p) {
  if (s->nqueue == s->queue_cap) {
    s->queue_cap = s->queue_cap ? s->queue_cap * 2 : 64;
    s->queue = kq_realloc(s->queue, s->queue_cap * sizeof *s->queue);
  }
  uint32_t lo = 0, hi = s->nqueue;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (queue_before(s->queue[mid], p)) lo = mid + 1;
    else hi = mid;
  }
  memmove(&s->queue[lo + 1], &s->queue[lo], (s->nqueue - lo) * sizeof *s->queue);
  s->queue[lo] = p;
  s->nqueue++;
  s->view.pending_gpu += p->req.gpu > 0;
  p->state = SP_PENDING;
  kq_gauge_set(s->m_pending, s->nqueue);
}

static void queue_remove(sched_t *s, sched_pod_t *p) {
  uint32_t lo = 0, hi = s->nqueue; /* binary search by the same order, then exact match */
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (queue_before(s->queue[mid], p)) lo = mid + 1;
    else hi = mid;
  }
  while (lo < s->nqueue && s->queue[lo] != p) lo++;
  if (lo == s->nqueue) return;
  memmove(&s->queue[lo], &s->queue[lo + 1], (s->nqueue - lo - 1) * sizeof *s->queue);
  s->nqueue--;
  s->view.pending_gpu -= p->req.gpu > 0;
  kq_gauge_set(s->m_pending, s->nqueue);
}

/* ---- decisions ---- */

static kq_counter_t *placed_counter(sched_t *s) {
  size_t n = KQ_ARRAY_LEN(s->m_placed);
  for (size_t i = 0; i < n; i++) {
    if (s->m_placed[i].vt == s->policy.vt) return s->m_placed[i].c;
    if (!s->m_placed[i].vt) {
      char labels[96];
      snprintf(labels, sizeof labels, "policy=\"%s\"", s->policy.vt->name);
      s->m_placed[i].vt = s->policy.vt;
      s->m_placed[i].c = kq_metrics_counter(s->metrics, "kq_scheduler_placements_total",
                                            "Pods placed on a browser, by policy", labels);
      return s->m_placed[i].c;
    }
  }
  return NULL;
}

static void send_placed(sched_t *s, sched_pod_t *p, uint32_t i, int64_t fc, int64_t fm,
                        kq_policy_reason_t why, uint64_t took_ns) {
  sched_view_t *v = &s->view;
  char a[32], b[32], c[32], d[32];
  kq_sched_placed_msg_t *m = kq_sched_placed_msg_new(p->placed_id ? p->placed_id : KQ_SCHED_MSG_PLACED);
  m->pod_uid = kq_strdup(p->uid);
  m->browser = v->aid[i];
  m->browser_id = kq_strdup(v->browser_id[i]);
  m->policy = s->policy.vt->name;
  /* "placed on %s by %s: free cpu %s→%s, mem %s→%s, %s", assembled without printf (this is
   * the per-placement cost that matters once the policy itself is cheap) */
  const char *parts[] = {"placed on ", v->browser_id[i], " by ", s->policy.vt->name,
                         ": free cpu ", sched_fmt_cpu(fc, a), "→", sched_fmt_cpu(v->free_cpu[i], b),
                         ", mem ", sched_fmt_mem(fm, c), "→", sched_fmt_mem(v->free_mem[i], d),
                         ", ", kq_policy_reason_text(why)};
  size_t lens[KQ_ARRAY_LEN(parts)], total = 1;
  for (size_t k = 0; k < KQ_ARRAY_LEN(parts); k++) total += lens[k] = strlen(parts[k]);
  char *text = kq_malloc(total), *w = text;
  for (size_t k = 0; k < KQ_ARRAY_LEN(parts); k++) w = (char *)memcpy(w, parts[k], lens[k]) + lens[k];
  *w = 0;
  m->explanation = text;
  m->cpu_millis = p->req.cpu_millis;
  m->memory_bytes = p->req.mem_bytes;
  m->gpu = p->req.gpu;
  m->decision_ns = took_ns;
  KQ_DEBUG(COMP, "placed", "pod=%s browser=%s policy=%s", p->uid, v->browser_id[i],
           s->policy.vt->name);
  kq_tell(s->self, p->reply_to, &m->hdr);
}

/* Runs the policy for p. On success reserves, replies PLACED and returns true. */
static bool try_place(sched_t *s, sched_pod_t *p) {
  const kq_clock_t *rc = kq_clock_real();
  uint64_t t0 = kq_now_ns(rc);
  sched_view_t *v = &s->view;
  bool ex = sv_prepare_excluded(v, p->selector, p->exclude);
  kq_view_t view = sv_policy_view(v);
  kq_policy_reason_t why;
  int32_t i = kq_policy_select(&s->policy, &p->req, &view, ex ? v->excluded : NULL,
                               kq_now_ns(kq_system_clock(kq_actor_system(s->self))), &why);
  s->decisions++;
  if (i < 0 || (uint32_t)i >= v->n) {
    kq_histogram_observe(s->m_latency, (double)(kq_now_ns(rc) - t0) / 1e9);
    return false;
  }
  int64_t fc = v->free_cpu[i], fm = v->free_mem[i];
  sv_reserve(v, (uint32_t)i, p);
  p->state = SP_PLACED;
  s->nplaced++;
  s->placements++;
  uint64_t took = kq_now_ns(rc) - t0;
  kq_histogram_observe(s->m_latency, (double)took / 1e9);
  kq_counter_inc(placed_counter(s));
  send_placed(s, p, (uint32_t)i, fc, fm, why, took);
  return true;
}

/* Builds the "what is missing" message for a Pod that fits nowhere. Returns owned. */
static char *why_waiting(sched_t *s, const sched_pod_t *p) {
  sched_view_t *v = &s->view;
  bool ex = sv_prepare_excluded(v, p->selector, p->exclude);
  kq_view_t view = sv_policy_view(v);
  kq_policy_diag_t d;
  kq_policy_diagnose(&p->req, &view, ex ? v->excluded : NULL, &d);
  char a[32], b[32], c[32], e[32];
  if (!d.total) return kq_strdup("no browser is connected");
  if (d.max_cpu_index < 0) {
    char sel[300] = "";
    if (p->selector_text) snprintf(sel, sizeof sel, " ('%s')", p->selector_text);
    return kq_asprintf("no eligible browser among %u: %u excluded by selector%s or re-run, %u "
                       "throttled/overloaded, %u without a real WebGPU adapter, %u above "
                       "max-rtt, %u at max pods",
                       d.total, d.excluded, sel, d.unavailable, d.no_gpu, d.rtt_too_high,
                       d.pods_full);
  }
  const char *bc = v->browser_id[d.max_cpu_index], *bm = v->browser_id[d.max_mem_index];
  if (p->req.cpu_millis > d.max_free_cpu)
    return kq_asprintf("no browser has %s CPU free (largest free: %s on %s)",
                       sched_fmt_cpu(p->req.cpu_millis, a), sched_fmt_cpu(d.max_free_cpu, b), bc);
  if (p->req.mem_bytes > d.max_free_mem)
    return kq_asprintf("no browser has %s memory free (largest free: %s on %s)",
                       sched_fmt_mem(p->req.mem_bytes, a), sched_fmt_mem(d.max_free_mem, b), bm);
  if (s->policy.vt == kq_policy_find("gpu") && !p->req.gpu)
    return kq_asprintf("only GPU browsers have room and policy gpu keeps them for kuack.io/gpu "
                       "Pods (share_gpu_browsers=%g; %u GPU Pods waiting, %u running)",
                       s->policy.p[0], v->pending_gpu, v->running_gpu);
  return kq_asprintf("no browser has both %s CPU and %s memory free (largest free: %s CPU on "
                     "%s, %s memory on %s)",
                     sched_fmt_cpu(p->req.cpu_millis, a), sched_fmt_mem(p->req.mem_bytes, b),
                     sched_fmt_cpu(d.max_free_cpu, c), bc, sched_fmt_mem(d.max_free_mem, e), bm);
}

static void send_waiting(sched_t *s, sched_pod_t *p, const char *reason, char *message,
                         uint32_t queued) {
  kq_sched_waiting_msg_t *w = kq_sched_waiting_msg_new(p->waiting_id ? p->waiting_id : KQ_SCHED_MSG_WAITING);
  w->pod_uid = kq_strdup(p->uid);
  w->reason = reason;
  w->message = message;
  w->queued = queued;
  kq_tell(s->self, p->reply_to, &w->hdr);
}

/* Tells a queued Pod why it waits, unless it was already told exactly that. */
static void notify_waiting(sched_t *s, sched_pod_t *p) {
  char *msg = why_waiting(s, p);
  if (p->last_wait && !strcmp(p->last_wait, msg)) {
    free(msg);
    return;
  }
  free(p->last_wait);
  p->last_wait = kq_strdup(msg);
  send_waiting(s, p, KQ_SCHED_REASON_WAITING, msg, s->nqueue);
}

/* Minimum time between two release-driven re-explanations of the waiting queue. */
#define SCHED_EXPLAIN_INTERVAL_NS 1000000000ull
#define SCHED_EXPLAIN_TAG 0x6578706cull /* "expl" */
#define SCHED_EXPLAIN_MAX 16            /* queue head re-explained per pass */

/* Tells the first waiting Pods their current reason (each only if it changed). */
static void explain_queue(sched_t *s) {
  for (uint32_t r = 0; r < s->nqueue && r < SCHED_EXPLAIN_MAX; r++) notify_waiting(s, s->queue[r]);
  s->explain_now = false;
  s->explain_after_ns = kq_now_ns(kq_system_clock(kq_actor_system(s->self))) +
                        SCHED_EXPLAIN_INTERVAL_NS;
}

/* After a retry pass: re-explain now when a browser or the policy changed or the interval has
 * passed since the last time, else once the interval ends (one timer at a time). */
static void maybe_explain(sched_t *s) {
  if (!s->nqueue) return;
  uint64_t now = kq_now_ns(kq_system_clock(kq_actor_system(s->self)));
  if (s->explain_now || now >= s->explain_after_ns) {
    explain_queue(s);
    return;
  }
  if (!s->explain_timer)
    s->explain_timer = kq_timer_start(s->self, s->explain_after_ns - now, 0, SCHED_EXPLAIN_TAG);
}

static void nudge(sched_t *s) {
  if (s->retry_queued || !s->nqueue) return;
  s->retry_queued = true;
  kq_send_signal(kq_actor_system(s->self), kq_self(s->self), kq_self(s->self),
                 KQ_SCHED_MSG_RETRY_);
}

/* Places what fits from the queue, in order. A Pod needing more than any available browser has
 * free is skipped without running the policy (the bound only shrinks during the pass). */
static void retry_pass(sched_t *s) {
  s->retry_queued = false;
  if (!s->nqueue) return;
  sched_view_t *v = &s->view;
  /* upper bounds from the index (the top of the highest non-empty bucket): O(1) in browsers */
  int64_t max_cpu = kq_view_index_max_free(&v->index, KQ_VIX_CPU);
  int64_t max_mem = kq_view_index_max_free(&v->index, KQ_VIX_MEM);
  uint32_t w = 0;
  for (uint32_t r = 0; r < s->nqueue; r++) {
    sched_pod_t *p = s->queue[r];
    if (p->req.cpu_millis <= max_cpu && p->req.mem_bytes <= max_mem && try_place(s, p)) {
      s->view.pending_gpu -= p->req.gpu > 0;
      continue;
    }
    s->queue[w++] = p;
  }
  s->nqueue = w;
  kq_gauge_set(s->m_pending, s->nqueue);
}

/* ---- handlers ---- */

static void release_pod(sched_t *s, sched_pod_t *p) {
  if (p->state == SP_PLACED) {
    int32_t i = sv_find(&s->view, p->browser);
    if (i >= 0) sv_unreserve(&s->view, (uint32_t)i, p);
    s->nplaced--;
  } else {
    queue_remove(s, p);
  }
}

static void on_place(sched_t *s, kq_sched_place_msg_t *m) {
  if (!m->pod_uid || !*m->pod_uid) {
    KQ_WARN(COMP, "place request without pod uid refused", "from=%" PRIu64, m->hdr.from);
    return;
  }
  sched_pod_t *old = pod_find(s, m->pod_uid);
  if (old) {
    if (old->state == SP_PLACED) nudge(s); /* its capacity may serve queued Pods */
    release_pod(s, old);
    pod_drop(s, old);
  }
  sched_pod_t *p = KQ_NEW(sched_pod_t);
  p->uid = m->pod_uid;
  m->pod_uid = NULL;
  p->ns = m->namespace_;
  p->name = m->pod_name;
  m->namespace_ = m->pod_name = NULL;
  p->req = (kq_place_req_t){.cpu_millis = m->cpu_millis > 0 ? m->cpu_millis : 0,
                            .mem_bytes = m->memory_bytes > 0 ? m->memory_bytes : 0,
                            .gpu = m->gpu,
                            .max_rtt_us = (int64_t)m->max_rtt_ms * 1000,
                            .priority = m->priority};
  p->exclude = m->exclude;
  p->reply_to = m->reply_to ? m->reply_to : m->hdr.from;
  p->placed_id = m->placed_id;
  p->waiting_id = m->waiting_id;
  p->seq = ++s->seq;
  pod_insert(s, p);
  if (m->selector && *m->selector) {
    char err[256];
    if (kq_selector_parse(m->selector, &p->selector, err, sizeof err)) {
      send_waiting(s, p, KQ_SCHED_REASON_BAD_SELECTOR, kq_strdup(err), 0);
      pod_drop(s, p);
      return;
    }
    p->selector_text = m->selector;
    m->selector = NULL;
  }
  if (try_place(s, p)) return;
  queue_push(s, p);
  notify_waiting(s, p);
}

static void pod_gone_with_browser(sched_pod_t *p, void *ud) {
  sched_t *s = ud;
  /* the browser actor reports KQ_RUN_LOST to the pod; its reservation dies with the browser */
  s->nplaced--;
  pod_drop(s, p);
}

static void on_browser_event(sched_t *s, kq_browser_event_msg_t *e) {
  int32_t i = sv_find(&s->view, e->info.aid);
  if (!e->info.aid) return;
  switch (e->kind) {
    case KQ_BROWSER_UP:
    case KQ_BROWSER_CHANGED:
      sv_upsert(&s->view, &e->info);
      s->explain_now = true;
      nudge(s);
      break;
    case KQ_BROWSER_DOWN:
      if (i >= 0) {
        KQ_DEBUG(COMP, "browser down", "browser=%s pods=%u reason=\"%s\"", s->view.browser_id[i],
                 s->view.pods[i], e->reason ? e->reason : "");
        sv_remove(&s->view, (uint32_t)i, pod_gone_with_browser, s);
      }
      break;
  }
}

static void on_set_policy(sched_t *s, kq_sched_set_policy_msg_t *m) {
  char err[512];
  kq_policy_state_t st;
  int rc = kq_policy_setup(m->name, &m->params, &st, err, sizeof err);
  char *text;
  if (rc) {
    KQ_WARN(COMP, "placement policy change refused", "requested=%s keeping=%s error=\"%s\"",
            m->name ? m->name : "", s->policy.vt->name, err);
    text = kq_strdup(err);
  } else {
    if (st.vt != s->policy.vt)
      KQ_INFO(COMP, "placement policy changed", "from=%s to=%s", s->policy.vt->name, st.vt->name);
    s->policy = st;
    sv_index_needs(&s->view, st.vt->index_needs);
    text = kq_asprintf("placement policy is now %s", st.vt->name);
    s->explain_now = true;
    nudge(s);
  }
  if (!m->hdr.from) {
    free(text);
    return;
  }
  kq_sched_policy_msg_t *r = KQ_MSG_NEW(kq_sched_policy_msg_t, KQ_SCHED_MSG_POLICY_RESULT);
  r->hdr.dtor = policy_dtor;
  r->err = rc;
  r->message = text;
  r->active = s->policy.vt->name;
  kq_tell(s->self, m->hdr.from, &r->hdr);
}

static void on_stats(sched_t *s, kq_msg_t *m) {
  if (!m->from) return;
  kq_sched_stats_msg_t *r = KQ_MSG_NEW(kq_sched_stats_msg_t, KQ_SCHED_MSG_STATS_REPLY);
  const sched_view_t *v = &s->view;
  r->policy = s->policy.vt->name;
  r->browsers = v->n;
  r->pending = s->nqueue;
  r->placed = s->nplaced;
  for (uint32_t i = 0; i < v->n; i++) {
    r->cap_cpu_millis += v->cap_cpu[i];
    r->cap_memory_bytes += v->cap_mem[i];
    r->free_cpu_millis += v->free_cpu[i];
    r->free_memory_bytes += v->free_mem[i];
    r->reserved_cpu_millis += v->res_cpu[i];
    r->reserved_memory_bytes += v->res_mem[i];
  }
  r->placements = s->placements;
  r->decisions = s->decisions;
  uint32_t placed = 0;
  for (uint32_t b = 0; b < s->nbuckets; b++)
    for (sched_pod_t *p = s->buckets[b]; p; p = p->hnext) placed += p->state == SP_PLACED;
  uint32_t gpu_waiting = 0;
  for (uint32_t q = 0; q < s->nqueue; q++) gpu_waiting += s->queue[q]->req.gpu > 0;
  r->accounting_ok = sv_check(v) && placed == s->nplaced && s->npods == s->nplaced + s->nqueue &&
                     gpu_waiting == v->pending_gpu;
  kq_tell(s->self, m->from, &r->hdr);
}

static void sched_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  sched_t *s = state;
  switch (m->id) {
    case KQ_SCHED_MSG_BROWSER_EVENT:
      on_browser_event(s, (kq_browser_event_msg_t *)m);
      break;
    case KQ_SCHED_MSG_WATCH: {
      kq_browser_subscribe_msg_t *sub =
          KQ_MSG_NEW(kq_browser_subscribe_msg_t, KQ_BROWSER_MSG_SUBSCRIBE);
      sub->event_id = KQ_SCHED_MSG_BROWSER_EVENT;
      kq_tell(self, ((kq_sched_watch_msg_t *)m)->browser, &sub->hdr);
      break;
    }
    case KQ_SCHED_MSG_PLACE:
      on_place(s, (kq_sched_place_msg_t *)m);
      break;
    case KQ_SCHED_MSG_RELEASE:
    case KQ_SCHED_MSG_CANCEL: {
      sched_pod_t *p = pod_find(s, ((kq_sched_pod_msg_t *)m)->pod_uid);
      if (!p) break; /* already released, or dropped with its browser */
      bool freed = p->state == SP_PLACED;
      release_pod(s, p);
      pod_drop(s, p);
      if (freed) nudge(s);
      break;
    }
    case KQ_SCHED_MSG_SET_POLICY:
      on_set_policy(s, (kq_sched_set_policy_msg_t *)m);
      break;
    case KQ_SCHED_MSG_STATS:
      on_stats(s, m);
      break;
    case KQ_SCHED_MSG_RETRY_: {
      retry_pass(s);
      /* the ones still waiting learn the current reason if it changed */
      maybe_explain(s);
      break;
    }
    case KQ_MSG_TIMER:
      if (((kq_timer_msg_t *)m)->tag == SCHED_EXPLAIN_TAG) {
        s->explain_timer = 0;
        if (s->nqueue) explain_queue(s);
      }
      break;
    default:
      KQ_DEBUG(COMP, "unexpected message", "id=%u", m->id);
  }
}

static int sched_init(kq_actor_t *self, void *state, void *arg) {
  sched_t *s = state;
  const kq_sched_config_t *cfg = arg;
  char err[512];
  int rc = kq_policy_setup(cfg && cfg->policy ? cfg->policy : KQ_POLICY_DEFAULT,
                           cfg ? cfg->params : NULL, &s->policy, err, sizeof err);
  if (rc) {
    KQ_ERROR(COMP, "cannot start", "error=\"%s\"", err);
    return rc;
  }
  s->self = self;
  sv_init(&s->view);
  sv_index_needs(&s->view, s->policy.vt->index_needs);
  s->metrics = kq_system_metrics(kq_actor_system(self));
  static const double bounds[] = {1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 1e-1};
  s->m_latency = kq_metrics_histogram(s->metrics, "kq_scheduler_decision_seconds",
                                      "Time to run the placement policy for one Pod", NULL,
                                      bounds, KQ_ARRAY_LEN(bounds));
  s->m_pending = kq_metrics_gauge(s->metrics, "kq_scheduler_pending_pods",
                                  "Pods waiting for a browser", NULL);
  placed_counter(s);
  KQ_INFO(COMP, "started", "policy=%s", s->policy.vt->name);
  return KQ_OK;
}

static void sched_stop(kq_actor_t *self, void *state) {
  (void)self;
  sched_t *s = state;
  for (uint32_t b = 0; b < s->nbuckets; b++)
    for (sched_pod_t *p = s->buckets[b], *next; p; p = next) {
      next = p->hnext;
      pod_free(p);
    }
  free(s->buckets);
  free(s->queue);
  sv_free(&s->view);
}

/* Names indexed from KQ_MSG_USER (the scheduler's ids start at KQ_MSG_USER + 200). */
#define SCHED_NAME_(id, n) [id - KQ_MSG_USER] = n,
static const char *const sched_msg_names[] = {
    SCHED_NAME_(KQ_SCHED_MSG_BROWSER_EVENT, "SCHED_BROWSER_EVENT")
    SCHED_NAME_(KQ_SCHED_MSG_WATCH, "SCHED_WATCH")
    SCHED_NAME_(KQ_SCHED_MSG_PLACE, "SCHED_PLACE")
    SCHED_NAME_(KQ_SCHED_MSG_RELEASE, "SCHED_RELEASE")
    SCHED_NAME_(KQ_SCHED_MSG_CANCEL, "SCHED_CANCEL")
    SCHED_NAME_(KQ_SCHED_MSG_SET_POLICY, "SCHED_SET_POLICY")
    SCHED_NAME_(KQ_SCHED_MSG_STATS, "SCHED_STATS")
    SCHED_NAME_(KQ_SCHED_MSG_RETRY_, "SCHED_RETRY")
};

const kq_actor_type_t kq_scheduler_type = {
    .name = "scheduler",
    .state_size = sizeof(sched_t),
    .init = sched_init,
    .dispatch = sched_dispatch,
    .stop = sched_stop,
    .msg_names = sched_msg_names,
    .msg_count = KQ_ARRAY_LEN(sched_msg_names),
};

kq_aid_t kq_scheduler_spawn(kq_system_t *sys, const kq_sched_config_t *cfg, int *err) {
  return kq_spawn(sys, &kq_scheduler_type, (void *)cfg, err);
}
