/* Worker pool: replies arrive as kq_pool_msg_t with the chosen id; jobs are system handles;
 * replies to stopped actors and dropped jobs free their arg/result. Uses the harness probes; the
 * harness's event_base is stepped here because completions are woken through an eventfd event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_harness.h"
#include "kq_pool.h"

enum { REPLY = KQ_MSG_USER + 7 };

static atomic_int args_freed, results_freed;

typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool open;
  int waiting;   /* jobs that reached the gate */
} gate_t;

static gate_t gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};

static void gate_set(bool open) {
  pthread_mutex_lock(&gate.mu);
  gate.open = open;
  if (!open) gate.waiting = 0;
  pthread_cond_broadcast(&gate.cv);
  pthread_mutex_unlock(&gate.mu);
}

static void gate_wait(void) {
  pthread_mutex_lock(&gate.mu);
  gate.waiting++;
  pthread_cond_broadcast(&gate.cv);
  while (!gate.open) pthread_cond_wait(&gate.cv, &gate.mu);
  pthread_mutex_unlock(&gate.mu);
}

/* Blocks until `n` jobs wait at the gate (a worker is known to be busy). */
static void gate_await_waiting(int n) {
  pthread_mutex_lock(&gate.mu);
  while (gate.waiting < n) pthread_cond_wait(&gate.cv, &gate.mu);
  pthread_mutex_unlock(&gate.mu);
}

typedef struct job_arg {
  int x;
  bool gated;
  bool open_gate_on_free;   /* freeing this arg opens the gate */
} job_arg_t;

static void free_arg(void *p) {
  job_arg_t *a = p;
  if (a->open_gate_on_free) gate_set(true);
  free(a);
  atomic_fetch_add(&args_freed, 1);
}

static void free_result(void *p) {
  free(p);
  atomic_fetch_add(&results_freed, 1);
}

static job_arg_t *arg_new(int x) {
  job_arg_t *a = KQ_NEW(job_arg_t);
  a->x = x;
  return a;
}

static int square(void *arg, void **result) {
  job_arg_t *a = arg;
  if (a->gated) gate_wait();
  if (a->x < 0) return KQ_EIO;
  int *r = kq_malloc(sizeof *r);
  *r = a->x * a->x;
  *result = r;
  return KQ_OK;
}

/* ---- loop stepping ---- */

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {}

/* Steps the harness's base until the pool has nothing pending (or 10 s pass). */
static bool run_until_idle(kq_harness_t *h, kq_pool_t *p) {
  struct event_base *base = kq_system_base(kq_h_system(h));
  struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
  struct timeval tv = {0, 5000};
  event_add(tick, &tv);
  uint64_t deadline = now_ms() + 10000;
  while (kq_pool_pending(p) > 0 && now_ms() < deadline) event_base_loop(base, EVLOOP_ONCE);
  event_free(tick);
  kq_h_run(h);
  return kq_pool_pending(p) == 0;
}

static int setup(void **state) {
  atomic_store(&args_freed, 0);
  atomic_store(&results_freed, 0);
  gate_set(false);
  *state = kq_h_new();
  return 0;
}

static int teardown(void **state) {
  kq_h_free(*state);
  return 0;
}

/* ---- tests ---- */

static void test_reply_with_id(void **state) {
  kq_harness_t *h = *state;
  kq_pool_t *p = kq_pool_new(kq_h_system(h), 2);
  assert_non_null(p);
  kq_aid_t probe = kq_h_probe(h);
  uint64_t ok_job = kq_pool_submit(p, probe, REPLY, square, arg_new(7), free_arg, free_result);
  assert_true(ok_job != 0);
  assert_int_equal(kq_pool_pending(p), 1);
  assert_int_equal(kq_system_handle_count(kq_h_system(h)), 1);
  assert_true(run_until_idle(h, p));

  kq_pool_msg_t *m = (kq_pool_msg_t *)kq_h_expect(h, probe, REPLY);
  assert_int_equal(m->job, ok_job);
  assert_int_equal(m->rc, KQ_OK);
  assert_int_equal(((job_arg_t *)m->arg)->x, 7);
  assert_int_equal(*(int *)m->result, 49);
  kq_msg_free(&m->hdr);
  assert_int_equal(atomic_load(&args_freed), 1);
  assert_int_equal(atomic_load(&results_freed), 1);

  uint64_t bad_job = kq_pool_submit(p, probe, REPLY + 1, square, arg_new(-1), free_arg, free_result);
  assert_true(bad_job != ok_job);
  assert_true(run_until_idle(h, p));
  m = (kq_pool_msg_t *)kq_h_expect(h, probe, REPLY + 1);
  assert_int_equal(m->job, bad_job);
  assert_int_equal(m->rc, KQ_EIO);
  assert_null(m->result);
  kq_msg_free(&m->hdr);
  kq_h_expect_none(h, probe);
  assert_int_equal(kq_system_handle_count(kq_h_system(h)), 0);

  assert_int_equal(kq_pool_submit(p, probe, REPLY, NULL, arg_new(1), free_arg, NULL), 0);
  assert_int_equal(atomic_load(&args_freed), 3);   /* invalid submit frees its arg */
  kq_pool_free(p);
}

static void test_many_jobs(void **state) {
  kq_harness_t *h = *state;
  enum { N = 1000 };
  kq_pool_t *p = kq_pool_new(kq_h_system(h), 0);
  kq_aid_t probe = kq_h_probe(h);
  static bool seen[N + 1];
  memset(seen, 0, sizeof seen);
  uint64_t first = 0;
  for (int i = 0; i < N; i++) {
    uint64_t id = kq_pool_submit(p, probe, REPLY, square, arg_new(i), free_arg, free_result);
    if (i == 0) first = id;
    assert_int_equal(id, first + (uint64_t)i);
  }
  assert_true(run_until_idle(h, p));
  assert_int_equal(kq_h_probe_depth(h, probe), N);
  long long sum = 0;
  for (int i = 0; i < N; i++) {
    kq_pool_msg_t *m = (kq_pool_msg_t *)kq_h_expect(h, probe, REPLY);
    uint64_t k = m->job - first;
    assert_true(k < N);
    assert_false(seen[k]);
    seen[k] = true;
    assert_int_equal(*(int *)m->result, ((job_arg_t *)m->arg)->x * ((job_arg_t *)m->arg)->x);
    sum += *(int *)m->result;
    kq_msg_free(&m->hdr);
  }
  assert_int_equal(sum, (long long)(N - 1) * N * (2 * N - 1) / 6);
  assert_int_equal(atomic_load(&args_freed), N);
  assert_int_equal(atomic_load(&results_freed), N);
  kq_pool_free(p);
}

static void test_reply_to_stopped_actor_is_freed(void **state) {
  kq_harness_t *h = *state;
  kq_pool_t *p = kq_pool_new(kq_h_system(h), 1);
  kq_aid_t probe = kq_h_probe(h);
  job_arg_t *a = arg_new(3);
  a->gated = true;
  kq_pool_submit(p, probe, REPLY, square, a, free_arg, free_result);
  assert_int_equal(kq_actor_stop(kq_h_system(h), probe), KQ_OK);
  kq_h_run(h);
  assert_false(kq_actor_alive(kq_h_system(h), probe));
  gate_set(true);
  assert_true(run_until_idle(h, p));
  assert_int_equal(atomic_load(&args_freed), 1);
  assert_int_equal(atomic_load(&results_freed), 1);
  assert_int_equal(kq_system_handle_count(kq_h_system(h)), 0);
  kq_pool_free(p);
}

static void test_close_busy_while_pending(void **state) {
  kq_harness_t *h = *state;
  kq_system_t *sys = kq_h_system(h);
  kq_pool_t *p = kq_pool_new(sys, 1);
  job_arg_t *a = arg_new(2);
  a->gated = true;
  kq_pool_submit(p, KQ_AID_NONE, REPLY, square, a, free_arg, free_result);
  assert_int_equal(kq_system_handle_count(sys), 1);
  assert_false(kq_system_idle(sys));
  assert_int_equal(kq_system_close(sys), KQ_EBUSY);
  gate_set(true);
  assert_true(run_until_idle(h, p));
  assert_int_equal(kq_system_handle_count(sys), 0);
  assert_int_equal(atomic_load(&args_freed), 1);   /* nobody to reply to: freed */
  assert_int_equal(atomic_load(&results_freed), 1);
  kq_pool_free(p);
}

static void test_free_with_queued_jobs(void **state) {
  kq_harness_t *h = *state;
  kq_system_t *sys = kq_h_system(h);
  kq_pool_t *p = kq_pool_new(sys, 1);
  kq_aid_t probe = kq_h_probe(h);
  job_arg_t *running = arg_new(5);
  running->gated = true;   /* occupies the only worker until a dropped arg is freed */
  kq_pool_submit(p, probe, REPLY, square, running, free_arg, free_result);
  for (int i = 0; i < 10; i++) {
    job_arg_t *q = arg_new(i);
    q->open_gate_on_free = true;
    kq_pool_submit(p, probe, REPLY, square, q, free_arg, free_result);
  }
  assert_int_equal(kq_pool_pending(p), 11);
  assert_int_equal(kq_system_handle_count(sys), 11);
  gate_await_waiting(1);
  kq_pool_free(p);   /* drops 10 (opening the gate), joins, delivers the running job's reply */
  assert_int_equal(kq_system_handle_count(sys), 0);
  assert_int_equal(atomic_load(&args_freed), 10);
  kq_pool_msg_t *m = (kq_pool_msg_t *)kq_h_expect(h, probe, REPLY);
  assert_int_equal(*(int *)m->result, 25);
  kq_msg_free(&m->hdr);
  kq_h_expect_none(h, probe);
  assert_int_equal(atomic_load(&args_freed), 11);
  assert_int_equal(atomic_load(&results_freed), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_reply_with_id, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_jobs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reply_to_stopped_actor_is_freed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_busy_while_pending, setup, teardown),
      cmocka_unit_test_setup_teardown(test_free_with_queued_jobs, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
