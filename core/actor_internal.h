/* Internals shared by actor.c (system, mailboxes, run queue) and timer.c (timer heap). */
#ifndef KQ_ACTOR_INTERNAL_H
#define KQ_ACTOR_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>

#include "kq_actor.h"

struct event;
typedef struct kq_timer kq_timer_t;

enum { WHERE_NONE = 0, WHERE_RUNQ, WHERE_STOPQ };

struct kq_actor {
  kq_system_t *sys;
  const kq_actor_type_t *type;
  kq_aid_t aid;
  kq_msg_t *mb_head, *mb_tail; /* intrusive mailbox (FIFO through kq_msg_t.next) */
  uint32_t depth;
  uint32_t batch_used;         /* messages run in the current turn */
  uint8_t where;               /* WHERE_*: which queue rq_prev/rq_next link into */
  bool overloaded;
  bool stopping;
  bool taken;                  /* dispatch took ownership of the current message */
  kq_actor_t *rq_prev, *rq_next;
  kq_actor_t *live_prev, *live_next; /* all live actors, newest first */
  kq_timer_t *timers;          /* timers owned, linked through kq_timer.owner_next */
  /* state follows at KQ_ACTOR_STATE_OFFSET */
};

#define KQ_ACTOR_STATE_OFFSET ((sizeof(struct kq_actor) + 15u) & ~(size_t)15u)

typedef struct {
  kq_actor_t *actor; /* NULL when free */
  uint32_t gen;
  uint32_t next_free;
} kq_actor_slot_t;

typedef struct {
  kq_timer_t *timer;
  uint32_t gen;
  uint32_t next_free;
} kq_timer_slot_t;

typedef struct {
  uint64_t deadline;
  kq_timer_t *t;
} kq_heap_entry_t;

struct kq_system {
  struct event_base *base;
  const kq_clock_t *clock;
  uint32_t batch_limit, high_water, low_water, turn_limit;

  kq_actor_slot_t *slots;
  uint32_t nslots, cap_slots, free_slot; /* free_slot: index+1 of first free, 0 = none */
  kq_actor_t *live;                      /* newest first */
  size_t nactors, nhandles;

  kq_actor_t *rq_head, *rq_tail;         /* actors with messages, doubly linked */
  kq_actor_t *sq_head, *sq_tail;         /* actors waiting for their stop call */
  struct event *run_ev;
  bool wake_pending;

  /* timers (timer.c) */
  kq_heap_entry_t *heap;
  uint32_t heap_len, heap_cap;
  kq_timer_slot_t *tslots;
  uint32_t ntslots, cap_tslots, free_tslot;
  size_t ntimers;
  uint64_t timer_seq;
  struct event *timer_ev;
  bool timer_armed;
  uint64_t armed_deadline;

  bool shutting_down, idle_fired;
  void (*on_idle)(kq_system_t *sys, void *ud);
  void *on_idle_ud;

  kq_trace_fn trace;
  void *trace_ud;

  kq_metrics_t *metrics;
  bool own_metrics;
  kq_counter_t *m_messages, *m_overloads, *m_spawns;
  kq_gauge_t *m_actors, *m_timers;
};

/* actor.c */
void kq_actor_enqueue_(kq_actor_t *a, kq_msg_t *m);
void kq_system_wake_(kq_system_t *sys);

/* timer.c */
void kq_timers_init_(kq_system_t *sys);
void kq_timers_free_(kq_system_t *sys);
void kq_timers_kill_owner_(kq_actor_t *a);
/* Called before dispatching a timer tick: false when the tick is stale (its timer was cancelled
 * or died) and must be dropped; one-shot timers are released here. */
bool kq_timer_tick_accept_(kq_actor_t *a, const kq_timer_msg_t *tick);

#endif
