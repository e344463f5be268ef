/* Actors on one libevent loop. An actor is a const type descriptor plus private state; it owns a
 * mailbox and is addressed by a kq_aid_t (slot + generation), so a send to a stopped actor fails
 * cleanly instead of touching freed memory. Messages start with a kq_msg_t header; ids come from
 * one X-macro list per actor type, which also names them for logs and metrics. */
#ifndef KQ_ACTOR_H
#define KQ_ACTOR_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kq_clock.h"
#include "kq_metrics.h"

struct event_base;

typedef struct kq_system kq_system_t;
typedef struct kq_actor kq_actor_t;
/* Actor address: 0 is "nobody". Stable for the actor's life, never reused (generation). */
typedef uint64_t kq_aid_t;
#define KQ_AID_NONE ((kq_aid_t)0)

/* Message header. Every message struct embeds it first:
 *   typedef struct { kq_msg_t hdr; int x; } my_msg_t;
 * `dtor`, when set, releases what the payload owns (called once, by whoever frees the message). */
typedef struct kq_msg {
  struct kq_msg *next;  /* intrusive mailbox link; owned by the runtime */
  uint32_t id;
  uint32_t size;        /* whole struct, header included */
  kq_aid_t from;
  void (*dtor)(struct kq_msg *m);
} kq_msg_t;

/* Runtime message ids below KQ_MSG_USER; actor types number theirs from KQ_MSG_USER up. */
enum {
  KQ_MSG_NONE = 0,
  KQ_MSG_TIMER = 1,   /* kq_timer_msg_t */
  KQ_MSG_USER = 16,
};

/* X-macro helper: declares an enum starting at KQ_MSG_USER and a name table.
 *   #define BROWSER_MSGS(X) X(BROWSER_FRAME) X(BROWSER_CLOSED)
 *   KQ_MSG_IDS(browser, BROWSER_MSGS)
 * gives BROWSER_FRAME = KQ_MSG_USER, ..., browser_msg_count and browser_msg_names[]. */
#define KQ_MSG_ENUM_ENTRY_(n) n,
#define KQ_MSG_NAME_ENTRY_(n) #n,
#define KQ_MSG_IDS(prefix, LIST)                                                      \
  enum { prefix##_msg_first_ = KQ_MSG_USER - 1, LIST(KQ_MSG_ENUM_ENTRY_) prefix##_msg_end_ }; \
  enum { prefix##_msg_count = prefix##_msg_end_ - KQ_MSG_USER };                      \
  static const char *const prefix##_msg_names[] = {LIST(KQ_MSG_NAME_ENTRY_)};

/* Actor type descriptor (const, static). `init` returns KQ_OK or an error that aborts the spawn
 * (stop is then not called). `dispatch` borrows the message (the runtime frees it afterwards;
 * to keep payload data, move it out and NULL the field so the dtor skips it) and never fails: a
 * failure becomes a message to whoever must know. `stop` releases everything the state owns;
 * after it returns the actor receives nothing more. `msg_names`/`msg_count` name ids from
 * KQ_MSG_USER for logs and metrics. */
typedef struct kq_actor_type {
  const char *name;
  size_t state_size;
  int (*init)(kq_actor_t *self, void *state, void *arg);
  void (*dispatch)(kq_actor_t *self, void *state, kq_msg_t *msg);
  void (*stop)(kq_actor_t *self, void *state);
  const char *const *msg_names;
  uint32_t msg_count;
} kq_actor_type_t;

typedef struct kq_system_opts {
  const kq_clock_t *clock;      /* borrowed; NULL = real clock */
  uint32_t batch_limit;         /* messages per actor per turn; 0 = 64 */
  uint32_t mailbox_high_water;  /* overload flag raised at this depth; 0 = 4096 */
  uint32_t mailbox_low_water;   /* and cleared at this depth; 0 = high/2 */
  uint32_t turn_limit;          /* actor turns per loop callback before yielding to I/O; 0 = 256 */
  kq_metrics_t *metrics;        /* borrowed; NULL = the system creates its own */
} kq_system_opts_t;

/* Runtime metrics the system registers: kuack_actor_messages_total, kuack_actor_spawns_total,
 * kuack_actor_mailbox_overloads_total (counters), kuack_actors and kuack_timers (gauges).
 * Spawning during shutdown fails with KQ_ESTOPPED. Periodic timers never queue more than one
 * tick: while a tick waits in the mailbox further periods are skipped. */

/* Creates an actor system on `base` (borrowed; must outlive the system). Returns owned. */
kq_system_t *kq_system_new(struct event_base *base, const kq_system_opts_t *opts);

/* Closes the system. Fails with KQ_EBUSY (and frees nothing) while any actor, timer or handle
 * (socket, HTTP request, pool job: see kq_system_handle_ref) is alive; KQ_OK frees it. */
int kq_system_close(kq_system_t *sys);

/* Asks every live actor to stop (newest first). Stops happen asynchronously on the loop; when the
 * system becomes idle (no actor, timer or handle), `on_idle` runs once (may be NULL). */
void kq_system_shutdown(kq_system_t *sys, void (*on_idle)(kq_system_t *sys, void *ud), void *ud);

struct event_base *kq_system_base(kq_system_t *sys);
const kq_clock_t *kq_system_clock(kq_system_t *sys);
kq_metrics_t *kq_system_metrics(kq_system_t *sys);
/* Live counts, for shutdown checks and tests. */
size_t kq_system_actor_count(kq_system_t *sys);
size_t kq_system_timer_count(kq_system_t *sys);
size_t kq_system_handle_count(kq_system_t *sys);
bool kq_system_idle(kq_system_t *sys);

/* Handles: modules that own loop resources on behalf of the system (sockets, curl easy handles,
 * pool jobs, lws connections) count them here so close refuses while they live. */
void kq_system_handle_ref(kq_system_t *sys);
void kq_system_handle_unref(kq_system_t *sys);

/* Spawns an actor of `type` with zeroed state; `arg` is passed to init (borrowed). Returns its
 * address, or KQ_AID_NONE if init failed (error in *err when err != NULL). */
kq_aid_t kq_spawn(kq_system_t *sys, const kq_actor_type_t *type, void *arg, int *err);

/* Asks actor `aid` to stop: queued messages are freed, its timers cancelled, `stop` called at its
 * next turn. Returns KQ_ENOENT if it is already gone (KQ_OK again while its stop is pending).
 * Safe to call on oneself from dispatch. From the request on, kq_actor_alive() is false and sends
 * to it fail with KQ_ENOENT. */
int kq_actor_stop(kq_system_t *sys, kq_aid_t aid);

/* Allocates a zeroed message of `size` bytes (header included) with `id`. Returns owned. */
kq_msg_t *kq_msg_new(uint32_t id, size_t size);
#define KQ_MSG_NEW(type, id) ((type *)kq_msg_new((id), sizeof(type)))
/* Frees a message that was never sent (runs its dtor). */
void kq_msg_free(kq_msg_t *m);

/* Sends `m` to `to`; takes ownership of `m` in every case (freed if the target is gone).
 * `from` is stamped by the caller-facing helpers below. Returns KQ_OK or KQ_ENOENT. Sending
 * never blocks and never fails for a full mailbox: the receiver's overload flag rises instead. */
int kq_send(kq_system_t *sys, kq_aid_t to, kq_msg_t *m);
/* Sends from inside an actor (stamps m->from = self). */
int kq_tell(kq_actor_t *self, kq_aid_t to, kq_msg_t *m);
/* Sends a header-only message `id` (no payload). */
int kq_send_signal(kq_system_t *sys, kq_aid_t from, kq_aid_t to, uint32_t id);

/* True when `aid` is alive. True overload: mailbox depth passed the high-water mark and has not
 * yet drained to the low-water mark. Other actors use it to shed or defer work. */
bool kq_actor_alive(kq_system_t *sys, kq_aid_t aid);
bool kq_actor_overloaded(kq_system_t *sys, kq_aid_t aid);
size_t kq_actor_mailbox_depth(kq_system_t *sys, kq_aid_t aid);

/* From inside dispatch/init/stop: */
kq_aid_t kq_self(const kq_actor_t *self);
kq_system_t *kq_actor_system(const kq_actor_t *self);
void *kq_actor_state(kq_actor_t *self);
const kq_actor_type_t *kq_actor_type(const kq_actor_t *self);
/* From inside dispatch: takes ownership of `m`, the message being dispatched, so the runtime
 * does not free it afterwards (forward it with kq_tell, keep it, or kq_msg_free it later).
 * Returns `m`. */
kq_msg_t *kq_msg_take(kq_actor_t *self, kq_msg_t *m);
/* Name of message id `id` for actor type `t` ("TIMER", "BROWSER_FRAME", or "#<id>"). Static. */
const char *kq_msg_name(const kq_actor_type_t *t, uint32_t id);

/* ---- timers: delivered as messages to their owner ---- */

typedef uint64_t kq_timer_id_t;   /* 0 = none */
typedef struct kq_timer_msg {
  kq_msg_t hdr;        /* id = KQ_MSG_TIMER */
  kq_timer_id_t timer;
  uint64_t tag;        /* caller's tag, to tell timers apart */
} kq_timer_msg_t;

/* Starts a timer owned by actor `self` firing after `delay_ns`, then every `period_ns` if non-zero.
 * Returns its id. Timers die with their owner. */
kq_timer_id_t kq_timer_start(kq_actor_t *self, uint64_t delay_ns, uint64_t period_ns, uint64_t tag);
/* Cancels a timer; a tick already queued in the mailbox is dropped too. KQ_ENOENT if unknown. */
int kq_timer_cancel(kq_actor_t *self, kq_timer_id_t id);
/* Fires every timer due at the clock's current time (the loop does this itself for the real
 * clock; tests call it after kq_clock_advance). Returns how many fired. */
size_t kq_system_run_timers(kq_system_t *sys);
/* Monotonic ns of the next timer deadline, or UINT64_MAX when there is none. */
uint64_t kq_system_next_deadline(kq_system_t *sys);

/* ---- stepping (deterministic harness; the loop uses the same code) ---- */

/* Dispatches exactly one message (the head of the run queue). Returns true if one ran. */
bool kq_system_step(kq_system_t *sys);
/* Dispatches until the run queue is empty or `max` messages ran. Returns messages dispatched. */
size_t kq_system_drain(kq_system_t *sys, size_t max);

/* Observer hook for tests and tracing: called before each dispatch (borrowed msg). */
typedef void (*kq_trace_fn)(kq_aid_t to, const kq_actor_type_t *type, const kq_msg_t *m, void *ud);
void kq_system_set_trace(kq_system_t *sys, kq_trace_fn fn, void *ud);

#endif
