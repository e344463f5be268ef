/* Deadline-bounded loop stepping for integration tests (see kq_test_loop.h). */
#include "kq_test_loop.h"

#include <event2/event.h>
#include <time.h>

uint64_t kq_test_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  (void)arg;
}

void kq_test_deadline_start(kq_test_deadline_t *d, struct event_base *base, unsigned ms) {
  d->base = base;
  d->tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
  struct timeval tv = {0, 5000};
  event_add(d->tick, &tv);
  d->until_ms = kq_test_now_ms() + ms;
}

bool kq_test_deadline_step(kq_test_deadline_t *d) {
  if (kq_test_now_ms() >= d->until_ms) return false;
  event_base_loop(d->base, EVLOOP_ONCE);
  return true;
}

void kq_test_deadline_end(kq_test_deadline_t *d) {
  if (d->tick) event_free(d->tick);
  d->tick = NULL;
}
