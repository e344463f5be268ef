/* Timers as messages on the harness's fake clock: one-shot, periodic, cancel (including a tick
 * already queued), timers dying with their owner, deadline ordering and 10k timers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kq_actor.h"
#include "kq_error.h"
#include "kq_harness.h"

/* The ticker forwards every tick to a probe; the test drives its timers through `ticker_self`. */
static kq_actor_t *ticker_self;

static int ticker_init(kq_actor_t *self, void *state, void *arg) {
  *(kq_aid_t *)state = *(kq_aid_t *)arg;
  ticker_self = self;
  return KQ_OK;
}

static void ticker_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  if (m->id == KQ_MSG_TIMER) kq_tell(self, *(kq_aid_t *)state, kq_msg_take(self, m));
}

static const kq_actor_type_t ticker_type = {
    .name = "ticker",
    .state_size = sizeof(kq_aid_t),
    .init = ticker_init,
    .dispatch = ticker_dispatch,
};

typedef struct {
  kq_harness_t *h;
  kq_system_t *sys;
  kq_aid_t probe, ticker;
} fx_t;

static int fx_setup(void **st) {
  fx_t *f = calloc(1, sizeof *f);
  f->h = kq_h_new();
  f->sys = kq_h_system(f->h);
  f->probe = kq_h_probe(f->h);
  f->ticker = kq_spawn(f->sys, &ticker_type, &f->probe, NULL);
  assert_true(f->ticker != KQ_AID_NONE);
  *st = f;
  return 0;
}

static int fx_teardown(void **st) {
  fx_t *f = *st;
  kq_h_free(f->h);
  free(f);
  return 0;
}

static uint64_t expect_tick(fx_t *f) {
  kq_timer_msg_t *t = (kq_timer_msg_t *)kq_h_expect(f->h, f->probe, KQ_MSG_TIMER);
  uint64_t tag = t->tag;
  kq_msg_free(&t->hdr);
  return tag;
}

static void test_one_shot(void **st) {
  fx_t *f = *st;
  kq_timer_id_t id = kq_timer_start(ticker_self, KQ_MS(10), 0, 77);
  assert_true(id != 0);
  assert_int_equal(kq_system_timer_count(f->sys), 1);
  assert_int_equal(kq_system_next_deadline(f->sys), KQ_MS(10));
  kq_h_advance(f->h, KQ_MS(9));
  kq_h_expect_none(f->h, f->probe);
  kq_h_advance(f->h, KQ_MS(1));
  assert_int_equal(expect_tick(f), 77);
  kq_h_advance(f->h, KQ_SEC(1));
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(kq_system_timer_count(f->sys), 0);
  assert_int_equal(kq_system_next_deadline(f->sys), UINT64_MAX);
  assert_int_equal(kq_timer_cancel(ticker_self, id), KQ_ENOENT); /* already done */
}

static void test_periodic(void **st) {
  fx_t *f = *st;
  kq_timer_id_t id = kq_timer_start(ticker_self, KQ_MS(5), KQ_MS(10), 1);
  kq_h_advance(f->h, KQ_MS(5));
  assert_int_equal(expect_tick(f), 1);
  kq_h_advance(f->h, KQ_MS(30)); /* 15, 25, 35 */
  for (int i = 0; i < 3; i++) assert_int_equal(expect_tick(f), 1);
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(kq_system_timer_count(f->sys), 1);
  assert_int_equal(kq_timer_cancel(ticker_self, id), KQ_OK);
  assert_int_equal(kq_system_timer_count(f->sys), 0);
  kq_h_advance(f->h, KQ_MS(100));
  kq_h_expect_none(f->h, f->probe);
}

static void test_periodic_coalesces(void **st) {
  fx_t *f = *st;
  kq_timer_start(ticker_self, KQ_MS(1), KQ_MS(1), 5);
  /* The owner is busy (nothing dispatched): at most one tick is ever queued. */
  kq_clock_advance(kq_h_clock(f->h), KQ_MS(10));
  assert_int_equal(kq_system_run_timers(f->sys), 1);
  kq_clock_advance(kq_h_clock(f->h), KQ_MS(10));
  assert_int_equal(kq_system_run_timers(f->sys), 0);
  assert_int_equal(kq_actor_mailbox_depth(f->sys, f->ticker), 1);
  assert_int_equal(expect_tick(f), 5);
  kq_h_expect_none(f->h, f->probe);
  /* The next deadline moved past now, skipping the missed periods. */
  assert_int_equal(kq_system_next_deadline(f->sys), KQ_MS(21));
}

static void test_cancel_drops_queued_tick(void **st) {
  fx_t *f = *st;
  kq_timer_id_t id = kq_timer_start(ticker_self, KQ_MS(1), 0, 9);
  kq_timer_id_t other = kq_timer_start(ticker_self, KQ_MS(1), 0, 10);
  kq_clock_advance(kq_h_clock(f->h), KQ_MS(1));
  assert_int_equal(kq_system_run_timers(f->sys), 2);
  assert_int_equal(kq_actor_mailbox_depth(f->sys, f->ticker), 2);
  assert_int_equal(kq_timer_cancel(ticker_self, id), KQ_OK);
  assert_int_equal(kq_system_timer_count(f->sys), 1); /* `other` until its tick is delivered */
  assert_int_equal(expect_tick(f), 10);               /* 9 was dropped */
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(kq_timer_cancel(ticker_self, other), KQ_ENOENT);
  assert_int_equal(kq_timer_cancel(ticker_self, 0), KQ_ENOENT);
  assert_int_equal(kq_timer_cancel(ticker_self, 0x0000000700000001ull), KQ_ENOENT);
  assert_int_equal(kq_system_timer_count(f->sys), 0);
}

static void test_cancel_other_owner_refused(void **st) {
  fx_t *f = *st;
  kq_actor_t *first = ticker_self;
  kq_timer_id_t id = kq_timer_start(first, KQ_MS(1), 0, 1);
  kq_aid_t second = kq_spawn(f->sys, &ticker_type, &f->probe, NULL);
  assert_int_equal(kq_timer_cancel(ticker_self, id), KQ_ENOENT); /* ticker_self is `second` */
  kq_h_advance(f->h, KQ_MS(1));
  assert_int_equal(expect_tick(f), 1);
  kq_actor_stop(f->sys, second);
}

static void test_timers_die_with_owner(void **st) {
  fx_t *f = *st;
  kq_timer_start(ticker_self, KQ_MS(1), 0, 1);
  kq_timer_start(ticker_self, KQ_MS(2), KQ_MS(2), 2);
  kq_timer_start(ticker_self, KQ_SEC(60), 0, 3);
  kq_clock_advance(kq_h_clock(f->h), KQ_MS(1));
  kq_system_run_timers(f->sys); /* one tick queued too */
  assert_int_equal(kq_system_timer_count(f->sys), 3);
  assert_int_equal(kq_actor_stop(f->sys, f->ticker), KQ_OK);
  assert_int_equal(kq_system_timer_count(f->sys), 0);
  assert_int_equal(kq_system_next_deadline(f->sys), UINT64_MAX);
  kq_h_advance(f->h, KQ_SEC(120));
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(kq_system_actor_count(f->sys), 1); /* the probe */
}

static void test_deadline_order(void **st) {
  fx_t *f = *st;
  kq_timer_start(ticker_self, KQ_MS(30), 0, 30);
  kq_timer_start(ticker_self, KQ_MS(10), 0, 10);
  kq_timer_start(ticker_self, KQ_MS(20), 0, 20);
  kq_timer_start(ticker_self, KQ_MS(10), 0, 11); /* same deadline: start order */
  kq_timer_start(ticker_self, 0, 0, 0);          /* due now */
  kq_h_advance(f->h, KQ_MS(100));
  const uint64_t want[] = {0, 10, 11, 20, 30};
  for (size_t i = 0; i < 5; i++) assert_int_equal(expect_tick(f), want[i]);
  kq_h_expect_none(f->h, f->probe);
}

static void test_ten_thousand(void **st) {
  fx_t *f = *st;
  enum { N = 10000 };
  static kq_timer_id_t ids[N];
  uint32_t x = 12345;
  size_t cancelled = 0;
  for (size_t i = 0; i < N; i++) {
    x = x * 1103515245u + 12345u;
    uint64_t ms = 1 + (x >> 8) % 5000;
    ids[i] = kq_timer_start(ticker_self, KQ_MS(ms), 0, ms);
  }
  assert_int_equal(kq_system_timer_count(f->sys), N);
  for (size_t i = 0; i < N; i += 3, cancelled++)
    assert_int_equal(kq_timer_cancel(ticker_self, ids[i]), KQ_OK);
  kq_h_advance(f->h, KQ_SEC(6));
  assert_int_equal(kq_h_probe_depth(f->h, f->probe), N - cancelled);
  uint64_t last = 0;
  for (size_t i = 0; i < N - cancelled; i++) {
    uint64_t tag = expect_tick(f);
    assert_true(tag >= last);
    last = tag;
  }
  assert_int_equal(kq_system_timer_count(f->sys), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_one_shot, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_periodic, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_periodic_coalesces, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_cancel_drops_queued_tick, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_cancel_other_owner_refused, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_timers_die_with_owner, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_deadline_order, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_ten_thousand, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
