/* Real and fake clocks. The fake clock only moves when kq_clock_advance() says so, which makes
 * timers and deadlines deterministic in tests. */
#include "kq_clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static uint64_t ts_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t real_mono(const kq_clock_t *c) {
  (void)c;
  return ts_ns(CLOCK_MONOTONIC);
}

static uint64_t real_wall(const kq_clock_t *c) {
  (void)c;
  return ts_ns(CLOCK_REALTIME);
}

static const kq_clock_t real_clock = {real_mono, real_wall, false, 0, 0};

const kq_clock_t *kq_clock_real(void) { return &real_clock; }

static uint64_t fake_mono(const kq_clock_t *c) { return c->fake_mono_ns; }
static uint64_t fake_wall(const kq_clock_t *c) { return c->fake_wall_ns + c->fake_mono_ns; }

void kq_clock_fake_init(kq_clock_t *c, uint64_t wall_start_ns) {
  memset(c, 0, sizeof *c);
  c->mono_ns = fake_mono;
  c->wall_ns = fake_wall;
  c->fake = true;
  c->fake_wall_ns = wall_start_ns;
}

void kq_clock_advance(kq_clock_t *c, uint64_t ns) {
  if (c->fake) c->fake_mono_ns += ns;
}

char *kq_rfc3339(uint64_t wall_ns, bool nanos, char buf[40]) {
  time_t secs = (time_t)(wall_ns / 1000000000ull);
  unsigned frac = (unsigned)(wall_ns % 1000000000ull);
  struct tm tm;
  gmtime_r(&secs, &tm);
  size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
  if (nanos)
    snprintf(buf + n, 40 - n, ".%09uZ", frac);
  else
    snprintf(buf + n, 40 - n, "Z");
  return buf;
}
