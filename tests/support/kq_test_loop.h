/* Stepping a real event loop against a deadline, for integration tests: no sleeps, no unbounded
 * waits. A ticker keeps EVLOOP_ONCE from blocking past the deadline.
 *   kq_test_deadline_t d;
 *   kq_test_deadline_start(&d, base, 5000);
 *   while (!done(...) && kq_test_deadline_step(&d)) {}
 *   kq_test_deadline_end(&d); */
#ifndef KQ_TEST_LOOP_H
#define KQ_TEST_LOOP_H
#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct event;

typedef struct kq_test_deadline {
  struct event_base *base;
  struct event *tick;
  uint64_t until_ms;
} kq_test_deadline_t;

/* Monotonic milliseconds. */
uint64_t kq_test_now_ms(void);
/* Arms a 5 ms ticker on `base` and a deadline `ms` from now. */
void kq_test_deadline_start(kq_test_deadline_t *d, struct event_base *base, unsigned ms);
/* Runs the loop once; returns false (without running) once the deadline has passed. */
bool kq_test_deadline_step(kq_test_deadline_t *d);
/* Removes the ticker. */
void kq_test_deadline_end(kq_test_deadline_t *d);

#endif
