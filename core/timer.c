/* Timers as messages: a binary min-heap keyed by (monotonic deadline, start order) with each
 * timer's heap index kept for O(log n) cancel, ids that are slot + generation so a stale id or
 * a tick of a cancelled timer is recognised in O(1), and one libevent timer armed for the
 * earliest deadline when the clock is real (fake clocks are driven by kq_system_run_timers). */
#include <event2/event.h>
#include <stdlib.h>

#include "actor_internal.h"
#include "kq_alloc.h"
#include "kq_error.h"
#include "metrics_internal.h"

#define NOT_IN_HEAP UINT32_MAX

struct kq_timer {
  uint64_t deadline, period, seq, tag;
  kq_timer_id_t id;
  kq_actor_t *owner;
  kq_timer_t *owner_prev, *owner_next;
  uint32_t heap_idx;
  bool pending; /* a tick is queued in the owner's mailbox */
};

static void on_timer(evutil_socket_t fd, short what, void *arg);

void kq_timers_init_(kq_system_t *sys) {
  if (!sys->clock->fake) sys->timer_ev = event_new(sys->base, -1, 0, on_timer, sys);
}

void kq_timers_free_(kq_system_t *sys) {
  if (sys->timer_ev) event_free(sys->timer_ev);
  free(sys->heap);
  free(sys->tslots);
}

/* ---- heap ---- */

/* Heap entries carry the deadline inline so sifting compares without touching the timers. */
static bool before(const kq_heap_entry_t *a, const kq_heap_entry_t *b) {
  return a->deadline < b->deadline || (a->deadline == b->deadline && a->t->seq < b->t->seq);
}

static void heap_set(kq_system_t *sys, uint32_t i, kq_heap_entry_t e) {
  sys->heap[i] = e;
  e.t->heap_idx = i;
}

static void sift_up(kq_system_t *sys, uint32_t i) {
  kq_heap_entry_t e = sys->heap[i];
  while (i > 0) {
    uint32_t p = (i - 1) / 2;
    if (!before(&e, &sys->heap[p])) break;
    heap_set(sys, i, sys->heap[p]);
    i = p;
  }
  heap_set(sys, i, e);
}

static void sift_down(kq_system_t *sys, uint32_t i) {
  kq_heap_entry_t e = sys->heap[i];
  uint32_t n = sys->heap_len;
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && before(&sys->heap[c + 1], &sys->heap[c])) c++;
    if (!before(&sys->heap[c], &e)) break;
    heap_set(sys, i, sys->heap[c]);
    i = c;
  }
  heap_set(sys, i, e);
}

static void heap_push(kq_system_t *sys, kq_timer_t *t) {
  if (sys->heap_len == sys->heap_cap) {
    sys->heap_cap = sys->heap_cap ? sys->heap_cap * 2 : 64;
    sys->heap = kq_realloc(sys->heap, sys->heap_cap * sizeof *sys->heap);
  }
  uint32_t i = sys->heap_len++;
  sys->heap[i] = (kq_heap_entry_t){t->deadline, t};
  sift_up(sys, i);
}

static void heap_remove(kq_system_t *sys, kq_timer_t *t) {
  uint32_t i = t->heap_idx;
  t->heap_idx = NOT_IN_HEAP;
  kq_heap_entry_t last = sys->heap[--sys->heap_len];
  if (i == sys->heap_len) return;
  heap_set(sys, i, last);
  if (i > 0 && before(&last, &sys->heap[(i - 1) / 2])) sift_up(sys, i);
  else sift_down(sys, i);
}

/* ---- arming the loop's timer ---- */

static void rearm(kq_system_t *sys) {
  if (!sys->timer_ev) return;
  if (!sys->heap_len) {
    if (sys->timer_armed) event_del(sys->timer_ev);
    sys->timer_armed = false;
    return;
  }
  uint64_t d = sys->heap[0].deadline;
  if (sys->timer_armed && sys->armed_deadline == d) return;
  uint64_t now = kq_now_ns(sys->clock);
  uint64_t delay = d > now ? d - now : 0;
  uint64_t us = (delay + 999) / 1000; /* round up: never wake before the deadline */
  struct timeval tv = {.tv_sec = (time_t)(us / 1000000u), .tv_usec = (suseconds_t)(us % 1000000u)};
  event_add(sys->timer_ev, &tv);
  sys->timer_armed = true;
  sys->armed_deadline = d;
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  kq_system_t *sys = arg;
  sys->timer_armed = false;
  kq_system_run_timers(sys);
}

/* ---- ids ---- */

static kq_timer_t *lookup(kq_system_t *sys, kq_timer_id_t id) {
  uint32_t idx = (uint32_t)(id & 0xffffffffu);
  if (idx == 0 || idx > sys->ntslots) return NULL;
  kq_timer_slot_t *s = &sys->tslots[idx - 1];
  return s->gen == (uint32_t)(id >> 32) ? s->timer : NULL;
}

static kq_timer_id_t slot_alloc(kq_system_t *sys, kq_timer_t *t) {
  uint32_t idx;
  if (sys->free_tslot) {
    idx = sys->free_tslot;
    sys->free_tslot = sys->tslots[idx - 1].next_free;
  } else {
    if (sys->ntslots == sys->cap_tslots) {
      sys->cap_tslots = sys->cap_tslots ? sys->cap_tslots * 2 : 64;
      sys->tslots = kq_realloc(sys->tslots, sys->cap_tslots * sizeof *sys->tslots);
    }
    idx = ++sys->ntslots;
    sys->tslots[idx - 1].gen = 1;
  }
  kq_timer_slot_t *s = &sys->tslots[idx - 1];
  s->timer = t;
  s->next_free = 0;
  return ((kq_timer_id_t)s->gen << 32) | idx;
}

static void release(kq_system_t *sys, kq_timer_t *t) {
  if (t->heap_idx != NOT_IN_HEAP) heap_remove(sys, t);
  if (t->owner_prev) t->owner_prev->owner_next = t->owner_next;
  else t->owner->timers = t->owner_next;
  if (t->owner_next) t->owner_next->owner_prev = t->owner_prev;
  uint32_t idx = (uint32_t)(t->id & 0xffffffffu);
  kq_timer_slot_t *s = &sys->tslots[idx - 1];
  s->timer = NULL;
  if (++s->gen == 0) s->gen = 1;
  s->next_free = sys->free_tslot;
  sys->free_tslot = idx;
  sys->ntimers--;
  sys->m_timers->value = (double)sys->ntimers;
  free(t);
}

/* ---- public ---- */

kq_timer_id_t kq_timer_start(kq_actor_t *self, uint64_t delay_ns, uint64_t period_ns,
                             uint64_t tag) {
  kq_system_t *sys = self->sys;
  if (self->stopping) return 0;
  kq_timer_t *t = kq_malloc(sizeof *t);
  uint64_t now = kq_now_ns(sys->clock);
  t->deadline = delay_ns > UINT64_MAX - now ? UINT64_MAX : now + delay_ns;
  t->period = period_ns;
  t->seq = ++sys->timer_seq;
  t->tag = tag;
  t->owner = self;
  t->pending = false;
  t->owner_prev = NULL;
  t->owner_next = self->timers;
  if (self->timers) self->timers->owner_prev = t;
  self->timers = t;
  t->id = slot_alloc(sys, t);
  heap_push(sys, t);
  sys->ntimers++;
  sys->m_timers->value = (double)sys->ntimers;
  if (t->heap_idx == 0) rearm(sys);
  return t->id;
}

int kq_timer_cancel(kq_actor_t *self, kq_timer_id_t id) {
  kq_system_t *sys = self->sys;
  kq_timer_t *t = lookup(sys, id);
  if (!t || t->owner != self) return KQ_ENOENT;
  bool was_root = t->heap_idx == 0;
  release(sys, t); /* a queued tick now names a dead id and is dropped at dispatch */
  if (was_root) rearm(sys);
  return KQ_OK;
}

void kq_timers_kill_owner_(kq_actor_t *a) {
  kq_system_t *sys = a->sys;
  if (!a->timers) return;
  while (a->timers) release(sys, a->timers);
  rearm(sys);
}

bool kq_timer_tick_accept_(kq_actor_t *a, const kq_timer_msg_t *tick) {
  kq_system_t *sys = a->sys;
  kq_timer_t *t = lookup(sys, tick->timer);
  if (!t || t->owner != a) return false;
  t->pending = false;
  if (!t->period) release(sys, t); /* one-shot: done once delivered */
  return true;
}

size_t kq_system_run_timers(kq_system_t *sys) {
  uint64_t now = kq_now_ns(sys->clock);
  size_t fired = 0;
  while (sys->heap_len && sys->heap[0].deadline <= now) {
    kq_timer_t *t = sys->heap[0].t;
    if (t->period) {
      /* Skip missed periods instead of firing a burst; one tick at most is ever queued. */
      uint64_t missed = (now - t->deadline) / t->period + 1;
      t->deadline += missed * t->period;
      t->seq = ++sys->timer_seq;
      sys->heap[0].deadline = t->deadline;
      sift_down(sys, 0);
    } else {
      heap_remove(sys, t);
    }
    if (t->pending) continue;
    t->pending = true;
    kq_timer_msg_t *m = KQ_MSG_NEW(kq_timer_msg_t, KQ_MSG_TIMER);
    m->timer = t->id;
    m->tag = t->tag;
    kq_actor_enqueue_(t->owner, &m->hdr);
    fired++;
  }
  rearm(sys);
  return fired;
}

uint64_t kq_system_next_deadline(kq_system_t *sys) {
  return sys->heap_len ? sys->heap[0].deadline : UINT64_MAX;
}
