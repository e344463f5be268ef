/* Actor runtime: spawn, init failure, send, stop, dead addresses, generation reuse, batch
 * fairness, overload hysteresis, shutdown order and close refusing while anything lives. */
#include <event2/event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kq_actor.h"
#include "kq_error.h"
#include "kq_harness.h"

#define TEST_MSGS(X) X(T_FORWARD) X(T_STOP_SELF) X(T_PING) X(T_SPAWN_CHILD)
KQ_MSG_IDS(test, TEST_MSGS)

typedef struct {
  kq_msg_t hdr;
  int value;
  int *dtor_count;
} val_msg_t;

static void val_dtor(kq_msg_t *m) { (*((val_msg_t *)m)->dtor_count)++; }

/* Records the order in which actors stop (by their tag). */
static int stop_order[16];
static int nstopped;
static int init_calls;

typedef struct {
  kq_aid_t fwd;
  int tag;
  int received;
} echo_state_t;

typedef struct {
  kq_aid_t fwd;
  int tag;
  int fail;
} echo_arg_t;

static int echo_init(kq_actor_t *self, void *state, void *arg) {
  echo_state_t *st = state;
  echo_arg_t *a = arg;
  init_calls++;
  if (a) {
    if (a->fail) return a->fail;
    st->fwd = a->fwd;
    st->tag = a->tag;
  }
  return KQ_OK;
}

static void echo_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  echo_state_t *st = state;
  st->received++;
  switch (m->id) {
    case T_FORWARD:
      kq_tell(self, st->fwd, kq_msg_take(self, m));
      break;
    case T_STOP_SELF:
      assert_int_equal(kq_actor_stop(kq_actor_system(self), kq_self(self)), KQ_OK);
      break;
    default:
      break;
  }
}

static void echo_stop(kq_actor_t *self, void *state) {
  echo_state_t *st = state;
  if (nstopped < 16) stop_order[nstopped++] = st->tag;
}

static const kq_actor_type_t echo_type = {
    .name = "echo",
    .state_size = sizeof(echo_state_t),
    .init = echo_init,
    .dispatch = echo_dispatch,
    .stop = echo_stop,
    .msg_names = test_msg_names,
    .msg_count = test_msg_count,
};

static int setup(void **st) {
  (void)st;
  nstopped = 0;
  init_calls = 0;
  memset(stop_order, 0, sizeof stop_order);
  return 0;
}

static void test_spawn_send_forward(void **st) {
  (void)st;
  kq_harness_t *h = kq_h_new();
  kq_system_t *sys = kq_h_system(h);
  kq_aid_t probe = kq_h_probe(h);
  echo_arg_t arg = {.fwd = probe, .tag = 1};
  int err = -99;
  kq_aid_t a = kq_spawn(sys, &echo_type, &arg, &err);
  assert_int_equal(err, KQ_OK);
  assert_true(a != KQ_AID_NONE);
  assert_true(kq_actor_alive(sys, a));
  assert_int_equal(kq_system_actor_count(sys), 2);

  int dtors = 0;
  val_msg_t *m = KQ_MSG_NEW(val_msg_t, T_FORWARD);
  m->value = 42;
  m->dtor_count = &dtors;
  m->hdr.dtor = val_dtor;
  assert_int_equal(kq_send(sys, a, &m->hdr), KQ_OK);
  assert_int_equal(kq_actor_mailbox_depth(sys, a), 1);
  val_msg_t *got = (val_msg_t *)kq_h_expect(h, probe, T_FORWARD);
  assert_int_equal(got->value, 42);
  assert_int_equal(got->hdr.from, a); /* kq_tell stamps the sender */
  assert_int_equal(dtors, 0);         /* taken, not freed */
  kq_msg_free(&got->hdr);
  assert_int_equal(dtors, 1);
  kq_h_expect_none(h, probe);
  assert_int_equal(kq_counter_value(kq_metrics_counter(kq_system_metrics(sys),
                                                       "kuack_actor_messages_total", NULL, NULL)),
                   2);
  kq_h_free(h);
  assert_int_equal(nstopped, 1);
}

static void test_init_failure(void **st) {
  (void)st;
  kq_harness_t *h = kq_h_new();
  kq_system_t *sys = kq_h_system(h);
  echo_arg_t arg = {.fail = KQ_EINVAL};
  int err = 0;
  assert_int_equal(kq_spawn(sys, &echo_type, &arg, &err), KQ_AID_NONE);
  assert_int_equal(err, KQ_EINVAL);
  assert_int_equal(init_calls, 1);
  assert_int_equal(nstopped, 0); /* stop is not called after a failed init */
  assert_int_equal(kq_system_actor_count(sys), 0);
  assert_int_equal(kq_spawn(sys, NULL, NULL, &err), KQ_AID_NONE);
  assert_int_equal(err, KQ_EINVAL);
  kq_h_free(h);
}

static void test_stop_and_dead_send(void **st) {
  (void)st;
  kq_harness_t *h = kq_h_new();
  kq_system_t *sys = kq_h_system(h);
  echo_arg_t arg = {.tag = 7};
  kq_aid_t a = kq_spawn(sys, &echo_type, &arg, NULL);
  int dtors = 0;
  /* Queued messages are freed (with their dtor) when the actor is asked to stop. */
  for (int i = 0; i < 3; i++) {
    val_msg_t *m = KQ_MSG_NEW(val_msg_t, T_PING);
    m->dtor_count = &dtors;
    m->hdr.dtor = val_dtor;
    assert_int_equal(kq_send(sys, a, &m->hdr), KQ_OK);
  }
  assert_int_equal(kq_actor_stop(sys, a), KQ_OK);
  assert_int_equal(dtors, 3);
  assert_false(kq_actor_alive(sys, a));
  assert_int_equal(nstopped, 0); /* asynchronous: stop runs at the actor's next turn */
  kq_h_run(h);
  assert_int_equal(nstopped, 1);
  assert_int_equal(stop_order[0], 7);
  assert_int_equal(kq_system_actor_count(sys), 0);

  /* Sending to a dead address fails cleanly and frees the message. */
  val_msg_t *m = KQ_MSG_NEW(val_msg_t, T_PING);
  m->dtor_count = &dtors;
  m->hdr.dtor = val_dtor;
  assert_int_equal(kq_send(sys, a, &m->hdr), KQ_ENOENT);
  assert_int_equal(dtors, 4);
  assert_int_equal(kq_actor_stop(sys, a), KQ_ENOENT);
  assert_int_equal(kq_send_signal(sys, KQ_AID_NONE, KQ_AID_NONE, T_PING), KQ_ENOENT);
  assert_int_equal(kq_send_signal(sys, KQ_AID_NONE, 0xffffffff00000005ull, T_PING), KQ_ENOENT);
  kq_h_free(h);
}

static void test_self_stop_in_dispatch(void **st) {
  (void)st;
  kq_harness_t *h = kq_h_new();
  kq_system_t *sys = kq_h_system(h);
  echo_arg_t arg = {.tag = 3};
  kq_aid_t a = kq_spawn(sys, &echo_type, &arg, NULL);
  kq_send_signal(sys, KQ_AID_NONE, a, T_STOP_SELF);
  kq_send_signal(sys, KQ_AID_NONE, a, T_PING); /* dropped by the stop */
  assert_true(kq_h_step(h));
  assert_false(kq_actor_alive(sys, a));
  assert_false(kq_h_step(h)); /* the PING is gone; the stop ran in passing */
  assert_int_equal(nstopped, 1);
  assert_int_equal(kq_system_actor_count(sys), 0);
  kq_h_free(h);
}

static void test_generation_reuse(void **st) {
  (void)st;
  kq_harness_t *h = kq_h_new();
  kq_system_t *sys = kq_h_system(h);
  kq_aid_t probe = kq_h_probe(h);
  echo_arg_t arg = {.fwd = probe, .tag = 1};
  kq_aid_t old = kq_spawn(sys, &echo_type, &arg, NULL);
  kq_actor_stop(sys, old);
  kq_h_run(h);
  kq_aid_t fresh = kq_spawn(sys, &echo_type, &arg, NULL);
  assert_true(fresh != old);
  /* Same slot, new generation: the low 32 bits match, the old address stays dead. */
  assert_int_equal(fresh & 0xffffffffu, old & 0xffffffffu);
  assert_false(kq_actor_alive(sys, old));
  assert_true(kq_actor_alive(sys, fresh));
  assert_int_equal(kq_send_signal(sys, KQ_AID_NONE, old, T_FORWARD), KQ_ENOENT);
  kq_h_expect_none(h, probe);
  assert_int_equal(kq_send_signal(sys, KQ_AID_NONE, fresh, T_FORWARD), KQ_OK);
  kq_msg_free(kq_h_expect(h, probe, T_FORWARD));
  kq_h_free(h);
}

/* Trace of dispatch order, by receiver. */
static kq_aid_t trace_to[64];
static size_t ntrace;

static void trace_fn(kq_aid_t to, const kq_actor_type_t *type, const kq_msg_t *m, void *ud) {
  (void)type;
  (void)m;
  (void)ud;
  if (ntrace < 64) trace_to[ntrace++] = to;
}

static void test_batch_fairness(void **st) {
  (void)st;
  kq_system_opts_t o = {.batch_limit = 4};
  kq_harness_t *h = kq_h_new_opts(&o);
  kq_system_t *sys = kq_h_system(h);
  kq_aid_t a = kq_spawn(sys, &echo_type, NULL, NULL);
  kq_aid_t b = kq_spawn(sys, &echo_type, NULL, NULL);
  for (int i = 0; i < 10; i++) kq_send_signal(sys, KQ_AID_NONE, a, T_PING);
  for (int i = 0; i < 10; i++) kq_send_signal(sys, KQ_AID_NONE, b, T_PING);
  ntrace = 0;
  kq_system_set_trace(sys, trace_fn, NULL);
  assert_int_equal(kq_h_run(h), 20);
  kq_system_set_trace(sys, NULL, NULL);
  assert_int_equal(ntrace, 20);
  /* A×4 B×4 A×4 B×4 A×2 B×2 */
  const int expect[] = {0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1};
  for (size_t i = 0; i < 20; i++) assert_int_equal(trace_to[i], expect[i] ? b : a);
  kq_h_free(h);
}

static void test_overload_flag(void **st) {
  (void)st;
  kq_system_opts_t o = {.mailbox_high_water = 8, .mailbox_low_water = 3};
  kq_harness_t *h = kq_h_new_opts(&o);
  kq_system_t *sys = kq_h_system(h);
  kq_aid_t a = kq_spawn(sys, &echo_type, NULL, NULL);
  for (int i = 0; i < 7; i++) kq_send_signal(sys, KQ_AID_NONE, a, T_PING);
  assert_false(kq_actor_overloaded(sys, a));
  assert_int_equal(kq_send_signal(sys, KQ_AID_NONE, a, T_PING), KQ_OK); /* never refused */
  assert_true(kq_actor_overloaded(sys, a));
  for (int i = 0; i < 4; i++) kq_send_signal(sys, KQ_AID_NONE, a, T_PING);
  assert_int_equal(kq_actor_mailbox_depth(sys, a), 12);
  /* Hysteresis: stays up until the depth drains to the low-water mark. */
  while (kq_actor_mailbox_depth(sys, a) > 4) {
    assert_true(kq_h_step(h));
    assert_true(kq_actor_overloaded(sys, a));
  }
  assert_true(kq_h_step(h));
  assert_int_equal(kq_actor_mailbox_depth(sys, a), 3);
  assert_false(kq_actor_overloaded(sys, a));
  kq_counter_t *c = kq_metrics_counter(kq_system_metrics(sys),
                                       "kuack_actor_mailbox_overloads_total", NULL, NULL);
  assert_int_equal(kq_counter_value(c), 1);
  kq_h_run(h);
  assert_false(kq_actor_overloaded(sys, KQ_AID_NONE));
  kq_h_free(h);
}

static void test_shutdown_newest_first(void **st) {
  (void)st;
  kq_harness_t *h = kq_h_new();
  kq_system_t *sys = kq_h_system(h);
  for (int i = 1; i <= 4; i++) {
    echo_arg_t arg = {.tag = i};
    kq_spawn(sys, &echo_type, &arg, NULL);
  }
  /* Messages still queued at shutdown are dropped, never dispatched. */
  kq_send_signal(sys, KQ_AID_NONE, (kq_aid_t)0, T_PING);
  kq_h_free(h);
  assert_int_equal(nstopped, 4);
  for (int i = 0; i < 4; i++) assert_int_equal(stop_order[i], 4 - i);
}

static void on_idle(kq_system_t *sys, void *ud) {
  (void)sys;
  (*(int *)ud)++;
}

static void test_close_busy(void **st) {
  (void)st;
  struct event_base *base = event_base_new();
  kq_clock_t clock;
  kq_clock_fake_init(&clock, 0);
  kq_system_opts_t o = {.clock = &clock};
  kq_system_t *sys = kq_system_new(base, &o);
  assert_true(kq_system_idle(sys));
  kq_aid_t a = kq_spawn(sys, &echo_type, NULL, NULL);
  assert_int_equal(kq_system_close(sys), KQ_EBUSY);
  kq_system_handle_ref(sys);
  assert_int_equal(kq_system_handle_count(sys), 1);
  int idle = 0;
  kq_system_shutdown(sys, on_idle, &idle);
  assert_false(kq_actor_alive(sys, a));
  int err = 0;
  assert_int_equal(kq_spawn(sys, &echo_type, NULL, &err), KQ_AID_NONE);
  assert_int_equal(err, KQ_ESTOPPED);
  kq_system_drain(sys, 100);
  assert_int_equal(kq_system_actor_count(sys), 0);
  assert_int_equal(idle, 0); /* the handle still lives */
  assert_int_equal(kq_system_close(sys), KQ_EBUSY);
  kq_system_handle_unref(sys);
  /* on_idle runs from the loop: dispatch it once. */
  event_base_loop(base, EVLOOP_NONBLOCK);
  assert_int_equal(idle, 1);
  event_base_loop(base, EVLOOP_NONBLOCK);
  assert_int_equal(idle, 1); /* once */
  assert_int_equal(kq_system_close(sys), KQ_OK);
  event_base_free(base);
}

static void test_msg_name_table(void **st) {
  (void)st;
  assert_string_equal(kq_msg_name(&echo_type, T_FORWARD), "T_FORWARD");
  assert_string_equal(kq_msg_name(&echo_type, T_SPAWN_CHILD), "T_SPAWN_CHILD");
  assert_string_equal(kq_msg_name(&echo_type, KQ_MSG_TIMER), "TIMER");
  assert_string_equal(kq_msg_name(&echo_type, 999), "#999");
  assert_string_equal(kq_msg_name(NULL, 20), "#20");
  assert_int_equal(test_msg_count, 4);
  assert_int_equal(T_FORWARD, KQ_MSG_USER);
}

static void test_system_metrics_rendered(void **st) {
  (void)st;
  kq_harness_t *h = kq_h_new();
  kq_system_t *sys = kq_h_system(h);
  kq_aid_t a = kq_spawn(sys, &echo_type, NULL, NULL);
  kq_send_signal(sys, KQ_AID_NONE, a, T_PING);
  kq_h_run(h);
  char *text = kq_metrics_render(kq_system_metrics(sys), NULL);
  assert_non_null(strstr(text, "# TYPE kuack_actor_messages_total counter\nkuack_actor_messages_total 1\n"));
  assert_non_null(strstr(text, "# TYPE kuack_actors gauge\nkuack_actors 1\n"));
  assert_non_null(strstr(text, "kuack_actor_mailbox_overloads_total 0\n"));
  free(text);
  kq_h_free(h);
}

static void test_probe_take_and_depth(void **st) {
  (void)st;
  kq_harness_t *h = kq_h_new();
  kq_system_t *sys = kq_h_system(h);
  kq_aid_t p = kq_h_probe(h);
  for (uint32_t id = T_FORWARD; id <= T_PING; id++) kq_send_signal(sys, 42, p, id);
  assert_int_equal(kq_h_run(h), 3);
  assert_int_equal(kq_h_probe_depth(h, p), 3);
  for (uint32_t id = T_FORWARD; id <= T_PING; id++) {
    kq_msg_t *m = kq_h_take(h, p);
    assert_non_null(m);
    assert_int_equal(m->id, id);
    assert_int_equal(m->from, 42);
    kq_msg_free(m);
  }
  assert_null(kq_h_take(h, p));
  /* Messages a probe still holds at the end are freed by its stop (ASan checks). */
  kq_send_signal(sys, KQ_AID_NONE, p, T_PING);
  kq_h_free(h);
}

static void test_stop_with_mail_queued(void **st) {
  (void)st;
  kq_harness_t *h = kq_h_new();
  kq_system_t *sys = kq_h_system(h);
  kq_aid_t probe = kq_h_probe(h);
  echo_arg_t arg = {.fwd = probe, .tag = 5};
  kq_aid_t victim = kq_spawn(sys, &echo_type, &arg, NULL);
  /* The victim has mail queued behind the stop request: it must never be dispatched. */
  kq_send_signal(sys, KQ_AID_NONE, victim, T_FORWARD);
  assert_int_equal(kq_actor_stop(sys, victim), KQ_OK);
  assert_int_equal(kq_actor_stop(sys, victim), KQ_OK); /* pending: still OK */
  kq_h_expect_none(h, probe);
  assert_int_equal(kq_actor_stop(sys, victim), KQ_ENOENT);
  assert_int_equal(nstopped, 1);
  kq_h_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_spawn_send_forward, setup),
      cmocka_unit_test_setup(test_init_failure, setup),
      cmocka_unit_test_setup(test_stop_and_dead_send, setup),
      cmocka_unit_test_setup(test_self_stop_in_dispatch, setup),
      cmocka_unit_test_setup(test_generation_reuse, setup),
      cmocka_unit_test_setup(test_batch_fairness, setup),
      cmocka_unit_test_setup(test_overload_flag, setup),
      cmocka_unit_test_setup(test_shutdown_newest_first, setup),
      cmocka_unit_test_setup(test_close_busy, setup),
      cmocka_unit_test_setup(test_msg_name_table, setup),
      cmocka_unit_test_setup(test_system_metrics_rendered, setup),
      cmocka_unit_test_setup(test_probe_take_and_depth, setup),
      cmocka_unit_test_setup(test_stop_with_mail_queued, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
