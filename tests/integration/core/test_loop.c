/* The actor system on a real, dispatched event_base (real clock), always bounded by a deadline
 * event: messages flow through the run queue across loop callbacks, real timers fire in deadline
 * order and not early, the run queue yields to I/O, and shutdown reaches on_idle so close works. */
#include <event2/event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kq_actor.h"
#include "kq_error.h"

#define LOOP_MSGS(X) X(L_PING) X(L_GO)
KQ_MSG_IDS(loop, LOOP_MSGS)

enum { N_MESSAGES = 5000 };

typedef struct {
  struct event_base *base;
  kq_system_t *sys;
  kq_aid_t peer;
  int received;
  uint64_t started_ns;
  uint64_t tags[3];
  uint64_t fired_after_ns[3];
  int ticks;
  int idle_calls;
  bool deadline_hit;
  bool forever;  /* ping-pong without end (yield test) */
} world_t;

static world_t W;

static void on_idle(kq_system_t *sys, void *ud);

static int node_init(kq_actor_t *self, void *state, void *arg) {
  *(world_t **)state = arg;
  return KQ_OK;
}

static void node_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  world_t *w = *(world_t **)state;
  switch (m->id) {
    case L_GO: /* sender: flood the receiver */
      for (int i = 0; i < N_MESSAGES; i++) {
        kq_msg_t *p = kq_msg_new(L_PING, sizeof(kq_msg_t));
        assert_int_equal(kq_tell(self, w->peer, p), KQ_OK);
      }
      break;
    case L_PING:
      if (w->forever) {
        kq_tell(self, m->from, kq_msg_take(self, m));
        break;
      }
      if (++w->received == N_MESSAGES) {
        w->started_ns = kq_now_ns(kq_system_clock(w->sys));
        /* Cancelling the earliest timer re-arms the loop's timer for the next one. */
        kq_timer_id_t early = kq_timer_start(self, KQ_MS(5), 0, 5);
        kq_timer_start(self, KQ_MS(30), 0, 30);
        assert_int_equal(kq_timer_cancel(self, early), KQ_OK);
        kq_timer_start(self, KQ_MS(10), 0, 10);
        kq_timer_start(self, KQ_MS(20), 0, 20);
      }
      break;
    case KQ_MSG_TIMER: {
      kq_timer_msg_t *t = (kq_timer_msg_t *)m;
      if (w->ticks < 3) {
        w->tags[w->ticks] = t->tag;
        w->fired_after_ns[w->ticks] = kq_now_ns(kq_system_clock(w->sys)) - w->started_ns;
      }
      if (++w->ticks == 3) kq_system_shutdown(w->sys, on_idle, w);
      break;
    }
  }
}

static const kq_actor_type_t node_type = {
    .name = "node",
    .state_size = sizeof(world_t *),
    .init = node_init,
    .dispatch = node_dispatch,
    .msg_names = loop_msg_names,
    .msg_count = loop_msg_count,
};

static void on_idle(kq_system_t *sys, void *ud) {
  world_t *w = ud;
  assert_true(kq_system_idle(sys));
  (void)sys;
  w->idle_calls++;
  event_base_loopexit(w->base, NULL);
}

static void on_deadline(evutil_socket_t fd, short what, void *ud) {
  world_t *w = ud;
  w->deadline_hit = true;
  event_base_loopexit(w->base, NULL);
}

static struct event *deadline;

static void world_init(bool forever) {
  memset(&W, 0, sizeof W);
  W.forever = forever;
  W.base = event_base_new();
  assert_non_null(W.base);
  /* Small batch and turn limits so the run queue needs many loop callbacks. */
  kq_system_opts_t o = {.batch_limit = 8, .turn_limit = 4};
  W.sys = kq_system_new(W.base, &o);
  deadline = evtimer_new(W.base, on_deadline, &W);
  struct timeval tv = {10, 0};
  evtimer_add(deadline, &tv);
}

static void world_free(void) {
  event_free(deadline);
  assert_int_equal(kq_system_close(W.sys), KQ_OK);
  event_base_free(W.base);
}

static void test_messages_timers_shutdown(void **st) {
  (void)st;
  world_init(false);
  kq_aid_t recv = kq_spawn(W.sys, &node_type, &W, NULL);
  W.peer = recv;
  kq_aid_t send = kq_spawn(W.sys, &node_type, &W, NULL);
  assert_int_equal(kq_send_signal(W.sys, KQ_AID_NONE, send, L_GO), KQ_OK);
  assert_int_equal(event_base_dispatch(W.base), 0);
  assert_false(W.deadline_hit);
  assert_int_equal(W.received, N_MESSAGES);
  assert_int_equal(W.ticks, 3);
  const uint64_t want[] = {10, 20, 30};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(W.tags[i], want[i]);
    assert_true(W.fired_after_ns[i] >= KQ_MS(want[i])); /* never early */
  }
  assert_int_equal(W.idle_calls, 1);
  assert_int_equal(kq_system_actor_count(W.sys), 0);
  kq_metrics_t *m = kq_system_metrics(W.sys);
  assert_int_equal(kq_counter_value(kq_metrics_counter(m, "kuack_actor_messages_total", NULL, NULL)),
                   1 + N_MESSAGES + 3);
  world_free();
}

static void on_io(evutil_socket_t fd, short what, void *ud) {
  world_t *w = ud;
  kq_system_shutdown(w->sys, on_idle, w);
}

/* Two actors ping-pong forever; a plain libevent timer must still get its turn (the run queue
 * yields after turn_limit turns) and its shutdown ends the loop. */
static void test_run_queue_yields_to_io(void **st) {
  (void)st;
  world_init(true);
  kq_aid_t a = kq_spawn(W.sys, &node_type, &W, NULL);
  kq_aid_t b = kq_spawn(W.sys, &node_type, &W, NULL);
  for (int i = 0; i < 16; i++) kq_send_signal(W.sys, a, b, L_PING);
  struct event *io = evtimer_new(W.base, on_io, &W);
  struct timeval tv = {0, 20000};
  evtimer_add(io, &tv);
  assert_int_equal(event_base_dispatch(W.base), 0);
  assert_false(W.deadline_hit);
  assert_int_equal(W.idle_calls, 1);
  assert_false(kq_actor_alive(W.sys, a));
  assert_true(kq_counter_value(kq_metrics_counter(kq_system_metrics(W.sys),
                                                  "kuack_actor_messages_total", NULL, NULL)) > 16);
  event_free(io);
  world_free();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_messages_timers_shutdown),
      cmocka_unit_test(test_run_queue_yields_to_io),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
