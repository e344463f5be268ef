/* Actor system: slots addressed by generation-checked ids, intrusive FIFO mailboxes, a run queue
 * of actors with work woken through event_active, batch-limited turns for fairness, overload
 * flags with hysteresis, asynchronous stop and newest-first shutdown. Loop thread only. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor_internal.h"
#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_log.h"
#include "metrics_internal.h"

#define AID_INDEX(aid) ((uint32_t)((aid) & 0xffffffffu))
#define AID_GEN(aid) ((uint32_t)((aid) >> 32))

/* ---- messages ---- */

kq_msg_t *kq_msg_new(uint32_t id, size_t size) {
  if (size < sizeof(kq_msg_t)) size = sizeof(kq_msg_t);
  kq_msg_t *m = kq_calloc(1, size);
  m->id = id;
  m->size = (uint32_t)size;
  return m;
}

void kq_msg_free(kq_msg_t *m) {
  if (!m) return;
  if (m->dtor) m->dtor(m);
  free(m);
}

static void free_chain(kq_msg_t *m) {
  while (m) {
    kq_msg_t *n = m->next;
    kq_msg_free(m);
    m = n;
  }
}

/* ---- queues ---- */

static void q_push(kq_actor_t **head, kq_actor_t **tail, kq_actor_t *a) {
  a->rq_next = NULL;
  a->rq_prev = *tail;
  if (*tail) (*tail)->rq_next = a;
  else *head = a;
  *tail = a;
}

static void q_remove(kq_actor_t **head, kq_actor_t **tail, kq_actor_t *a) {
  if (a->rq_prev) a->rq_prev->rq_next = a->rq_next;
  else *head = a->rq_next;
  if (a->rq_next) a->rq_next->rq_prev = a->rq_prev;
  else *tail = a->rq_prev;
  a->rq_prev = a->rq_next = NULL;
}

static void unqueue(kq_actor_t *a) {
  kq_system_t *sys = a->sys;
  if (a->where == WHERE_RUNQ) q_remove(&sys->rq_head, &sys->rq_tail, a);
  else if (a->where == WHERE_STOPQ) q_remove(&sys->sq_head, &sys->sq_tail, a);
  a->where = WHERE_NONE;
}

void kq_system_wake_(kq_system_t *sys) {
  if (sys->wake_pending) return;
  sys->wake_pending = true;
  event_active(sys->run_ev, EV_READ, 0);
}

void kq_actor_enqueue_(kq_actor_t *a, kq_msg_t *m) {
  kq_system_t *sys = a->sys;
  m->next = NULL;
  if (a->mb_tail) a->mb_tail->next = m;
  else a->mb_head = m;
  a->mb_tail = m;
  if (++a->depth >= sys->high_water && !a->overloaded) {
    a->overloaded = true;
    sys->m_overloads->value++;
  }
  if (a->where == WHERE_NONE) {
    a->where = WHERE_RUNQ;
    q_push(&sys->rq_head, &sys->rq_tail, a);
    kq_system_wake_(sys);
  }
}

/* ---- system ---- */

static void on_run(evutil_socket_t fd, short what, void *arg);

kq_system_t *kq_system_new(struct event_base *base, const kq_system_opts_t *opts) {
  kq_system_opts_t o = {0};
  if (opts) o = *opts;
  kq_system_t *sys = KQ_NEW(kq_system_t);
  sys->base = base;
  sys->clock = o.clock ? o.clock : kq_clock_real();
  sys->batch_limit = o.batch_limit ? o.batch_limit : 64;
  sys->high_water = o.mailbox_high_water ? o.mailbox_high_water : 4096;
  sys->low_water = o.mailbox_low_water ? o.mailbox_low_water : sys->high_water / 2;
  if (sys->low_water >= sys->high_water) sys->low_water = sys->high_water - 1;
  sys->turn_limit = o.turn_limit ? o.turn_limit : 256;
  sys->run_ev = event_new(base, -1, 0, on_run, sys);
  if (!sys->run_ev) {
    KQ_ERROR("actor", "event_new failed", NULL);
    abort();
  }
  sys->metrics = o.metrics;
  if (!sys->metrics) {
    sys->metrics = kq_metrics_new();
    sys->own_metrics = true;
  }
  sys->m_messages = kq_metrics_counter(sys->metrics, "kuack_actor_messages_total",
                                       "Messages dispatched to actors.", NULL);
  sys->m_overloads = kq_metrics_counter(sys->metrics, "kuack_actor_mailbox_overloads_total",
                                        "Times an actor mailbox rose past its high-water mark.",
                                        NULL);
  sys->m_spawns =
      kq_metrics_counter(sys->metrics, "kuack_actor_spawns_total", "Actors spawned.", NULL);
  sys->m_actors = kq_metrics_gauge(sys->metrics, "kuack_actors", "Live actors.", NULL);
  sys->m_timers = kq_metrics_gauge(sys->metrics, "kuack_timers", "Live timers.", NULL);
  kq_timers_init_(sys);
  return sys;
}

bool kq_system_idle(kq_system_t *sys) {
  return sys->nactors == 0 && sys->ntimers == 0 && sys->nhandles == 0;
}

int kq_system_close(kq_system_t *sys) {
  if (!sys) return KQ_OK;
  if (!kq_system_idle(sys)) return KQ_EBUSY;
  kq_timers_free_(sys);
  event_free(sys->run_ev);
  free(sys->slots);
  if (sys->own_metrics) kq_metrics_free(sys->metrics);
  free(sys);
  return KQ_OK;
}

/* Runs on_idle once the shutdown has emptied the system. Must be the caller's last touch of
 * `sys`: on_idle may close it. */
static void maybe_idle(kq_system_t *sys) {
  if (!sys->shutting_down || sys->idle_fired || !kq_system_idle(sys)) return;
  if (sys->rq_head || sys->sq_head) return;
  sys->idle_fired = true;
  if (sys->on_idle) sys->on_idle(sys, sys->on_idle_ud);
}

static void request_stop(kq_actor_t *a);

void kq_system_shutdown(kq_system_t *sys, void (*on_idle)(kq_system_t *sys, void *ud), void *ud) {
  sys->on_idle = on_idle;
  sys->on_idle_ud = ud;
  sys->shutting_down = true;
  KQ_DEBUG("actor", "shutdown", "actors=%zu timers=%zu handles=%zu", sys->nactors, sys->ntimers,
           sys->nhandles);
  for (kq_actor_t *a = sys->live; a; a = a->live_next) request_stop(a);
  kq_system_wake_(sys); /* on_idle runs from the loop even when nothing was alive */
}

struct event_base *kq_system_base(kq_system_t *sys) { return sys->base; }
const kq_clock_t *kq_system_clock(kq_system_t *sys) { return sys->clock; }
kq_metrics_t *kq_system_metrics(kq_system_t *sys) { return sys->metrics; }
size_t kq_system_actor_count(kq_system_t *sys) { return sys->nactors; }
size_t kq_system_timer_count(kq_system_t *sys) { return sys->ntimers; }
size_t kq_system_handle_count(kq_system_t *sys) { return sys->nhandles; }

void kq_system_handle_ref(kq_system_t *sys) { sys->nhandles++; }

void kq_system_handle_unref(kq_system_t *sys) {
  if (sys->nhandles == 0) {
    KQ_ERROR("actor", "handle_unref without ref", NULL);
    return;
  }
  if (--sys->nhandles == 0 && sys->shutting_down) kq_system_wake_(sys);
}

void kq_system_set_trace(kq_system_t *sys, kq_trace_fn fn, void *ud) {
  sys->trace = fn;
  sys->trace_ud = ud;
}

/* ---- actors ---- */

static kq_actor_t *lookup(kq_system_t *sys, kq_aid_t aid) {
  uint32_t idx = AID_INDEX(aid);
  if (idx == 0 || idx > sys->nslots) return NULL;
  kq_actor_slot_t *s = &sys->slots[idx - 1];
  return s->gen == AID_GEN(aid) ? s->actor : NULL;
}

static uint32_t slot_alloc(kq_system_t *sys) {
  if (sys->free_slot) {
    uint32_t idx = sys->free_slot;
    sys->free_slot = sys->slots[idx - 1].next_free;
    return idx;
  }
  if (sys->nslots == sys->cap_slots) {
    sys->cap_slots = sys->cap_slots ? sys->cap_slots * 2 : 64;
    sys->slots = kq_realloc(sys->slots, sys->cap_slots * sizeof *sys->slots);
  }
  kq_actor_slot_t *s = &sys->slots[sys->nslots++];
  s->actor = NULL;
  s->gen = 1;
  s->next_free = 0;
  return sys->nslots;
}

/* Releases the slot (its generation moves on, so old addresses stay dead) and the memory. */
static void destroy(kq_actor_t *a) {
  kq_system_t *sys = a->sys;
  uint32_t idx = AID_INDEX(a->aid);
  kq_actor_slot_t *s = &sys->slots[idx - 1];
  s->actor = NULL;
  if (++s->gen == 0) s->gen = 1;
  s->next_free = sys->free_slot;
  sys->free_slot = idx;
  if (a->live_prev) a->live_prev->live_next = a->live_next;
  else sys->live = a->live_next;
  if (a->live_next) a->live_next->live_prev = a->live_prev;
  unqueue(a);
  kq_timers_kill_owner_(a);
  free_chain(a->mb_head);
  sys->nactors--;
  sys->m_actors->value = (double)sys->nactors;
  free(a);
}

kq_aid_t kq_spawn(kq_system_t *sys, const kq_actor_type_t *type, void *arg, int *err) {
  if (err) *err = KQ_OK;
  if (!type || !type->dispatch) {
    if (err) *err = KQ_EINVAL;
    return KQ_AID_NONE;
  }
  if (sys->shutting_down) {
    if (err) *err = KQ_ESTOPPED;
    return KQ_AID_NONE;
  }
  kq_actor_t *a = kq_calloc(1, KQ_ACTOR_STATE_OFFSET + type->state_size);
  uint32_t idx = slot_alloc(sys);
  kq_actor_slot_t *s = &sys->slots[idx - 1];
  s->actor = a;
  a->sys = sys;
  a->type = type;
  a->aid = ((kq_aid_t)s->gen << 32) | idx;
  a->live_next = sys->live;
  if (sys->live) sys->live->live_prev = a;
  sys->live = a;
  sys->nactors++;
  sys->m_actors->value = (double)sys->nactors;
  if (type->init) {
    int rc = type->init(a, kq_actor_state(a), arg);
    if (rc != KQ_OK) {
      KQ_DEBUG("actor", "init failed", "type=%s err=%s", type->name, kq_errname(rc));
      if (err) *err = rc;
      destroy(a);
      return KQ_AID_NONE;
    }
  }
  sys->m_spawns->value++;
  return a->aid;
}

/* Marks `a` stopping: its mailbox and timers go now, its stop callback runs at its next turn. */
static void request_stop(kq_actor_t *a) {
  if (a->stopping) return;
  kq_system_t *sys = a->sys;
  a->stopping = true;
  unqueue(a);
  free_chain(a->mb_head);
  a->mb_head = a->mb_tail = NULL;
  a->depth = 0;
  a->overloaded = false;
  kq_timers_kill_owner_(a);
  a->where = WHERE_STOPQ;
  q_push(&sys->sq_head, &sys->sq_tail, a);
  kq_system_wake_(sys);
}

int kq_actor_stop(kq_system_t *sys, kq_aid_t aid) {
  kq_actor_t *a = lookup(sys, aid);
  if (!a) return KQ_ENOENT;
  request_stop(a);
  return KQ_OK;
}

static void finalize(kq_actor_t *a) {
  unqueue(a);
  if (a->type->stop) a->type->stop(a, kq_actor_state(a));
  destroy(a);
}

int kq_send(kq_system_t *sys, kq_aid_t to, kq_msg_t *m) {
  kq_actor_t *a = lookup(sys, to);
  if (!a || a->stopping) {
    kq_msg_free(m);
    return KQ_ENOENT;
  }
  kq_actor_enqueue_(a, m);
  return KQ_OK;
}

int kq_tell(kq_actor_t *self, kq_aid_t to, kq_msg_t *m) {
  m->from = self->aid;
  return kq_send(self->sys, to, m);
}

int kq_send_signal(kq_system_t *sys, kq_aid_t from, kq_aid_t to, uint32_t id) {
  kq_msg_t *m = kq_msg_new(id, sizeof(kq_msg_t));
  m->from = from;
  return kq_send(sys, to, m);
}

bool kq_actor_alive(kq_system_t *sys, kq_aid_t aid) {
  kq_actor_t *a = lookup(sys, aid);
  return a && !a->stopping;
}

bool kq_actor_overloaded(kq_system_t *sys, kq_aid_t aid) {
  kq_actor_t *a = lookup(sys, aid);
  return a && a->overloaded;
}

size_t kq_actor_mailbox_depth(kq_system_t *sys, kq_aid_t aid) {
  kq_actor_t *a = lookup(sys, aid);
  return a ? a->depth : 0;
}

kq_aid_t kq_self(const kq_actor_t *self) { return self->aid; }
kq_system_t *kq_actor_system(const kq_actor_t *self) { return self->sys; }
void *kq_actor_state(kq_actor_t *self) { return (char *)self + KQ_ACTOR_STATE_OFFSET; }
const kq_actor_type_t *kq_actor_type(const kq_actor_t *self) { return self->type; }

kq_msg_t *kq_msg_take(kq_actor_t *self, kq_msg_t *m) {
  self->taken = true;
  m->next = NULL;
  return m;
}

const char *kq_msg_name(const kq_actor_type_t *t, uint32_t id) {
  static char unknown[16][16];
  static unsigned next;
  if (id == KQ_MSG_TIMER) return "TIMER";
  if (t && t->msg_names && id >= KQ_MSG_USER && id - KQ_MSG_USER < t->msg_count)
    return t->msg_names[id - KQ_MSG_USER];
  /* Rare path (logs of unnamed ids): a small ring of buffers keeps the result valid for a
   * while without allocating. */
  char *b = unknown[next++ % 16];
  snprintf(b, 16, "#%u", id);
  return b;
}

/* ---- running ---- */

enum { RUN_NONE = 0, RUN_DISPATCHED = 1, RUN_TURN_END = 2, RUN_WORKED = 4 };

/* Does one unit of work: finalizes one stopping actor, or runs one message of the actor at the
 * head of the run queue (ending its turn when its mailbox empties or the batch is used up). */
static int run_one(kq_system_t *sys) {
  if (sys->sq_head) {
    finalize(sys->sq_head);
    return RUN_TURN_END;
  }
  kq_actor_t *a = sys->rq_head;
  if (!a) return RUN_NONE;
  kq_msg_t *m = a->mb_head;
  a->mb_head = m->next;
  if (!a->mb_head) a->mb_tail = NULL;
  m->next = NULL;
  a->depth--;
  if (a->overloaded && a->depth <= sys->low_water) a->overloaded = false;

  int r = RUN_WORKED; /* even a dropped stale tick is work done */
  bool deliver = true;
  if (m->id == KQ_MSG_TIMER && m->from == KQ_AID_NONE)
    deliver = kq_timer_tick_accept_(a, (kq_timer_msg_t *)m);
  if (deliver) {
    if (sys->trace) sys->trace(a->aid, a->type, m, sys->trace_ud);
    a->taken = false;
    a->type->dispatch(a, kq_actor_state(a), m);
    sys->m_messages->value++;
    if (!a->taken) kq_msg_free(m);
    r |= RUN_DISPATCHED;
  } else {
    kq_msg_free(m);
  }
  if (a->where != WHERE_RUNQ) return r | RUN_TURN_END; /* stopped itself */
  if (!a->mb_head) {
    q_remove(&sys->rq_head, &sys->rq_tail, a);
    a->where = WHERE_NONE;
    a->batch_used = 0;
    return r | RUN_TURN_END;
  }
  if (++a->batch_used >= sys->batch_limit) {
    a->batch_used = 0;
    if (sys->rq_tail != a) {
      q_remove(&sys->rq_head, &sys->rq_tail, a);
      q_push(&sys->rq_head, &sys->rq_tail, a);
    }
    return r | RUN_TURN_END;
  }
  return r;
}

bool kq_system_step(kq_system_t *sys) {
  for (;;) {
    int r = run_one(sys);
    if (r & RUN_DISPATCHED) return true;
    if (r == RUN_NONE) {
      maybe_idle(sys);
      return false;
    }
  }
}

size_t kq_system_drain(kq_system_t *sys, size_t max) {
  size_t n = 0;
  while (n < max && kq_system_step(sys)) n++;
  return n;
}

static void on_run(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  kq_system_t *sys = arg;
  /* wake_pending stays set while running: work queued meanwhile is picked up below. */
  uint32_t turns = 0;
  while (turns < sys->turn_limit) {
    int r = run_one(sys);
    if (r == RUN_NONE) break;
    if (r & RUN_TURN_END) turns++;
  }
  if (sys->rq_head || sys->sq_head) {
    /* Yield: events activated from inside a callback run in the same pass, before libevent
     * polls again, so a re-activation would starve I/O. A zero timeout waits for the poll. */
    static const struct timeval now = {0, 0};
    event_add(sys->run_ev, &now);
  } else {
    sys->wake_pending = false;
    maybe_idle(sys);
  }
}
