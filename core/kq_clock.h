/* Injected time. Everything that needs "now" asks a clock; tests use a fake one that only moves
 * when told. Monotonic time drives timers and deadlines; wall time stamps logs and Pod status. */
#ifndef KQ_CLOCK_H
#define KQ_CLOCK_H
#include <stdbool.h>
#include <stdint.h>

typedef struct kq_clock {
  uint64_t (*mono_ns)(const struct kq_clock *c);  /* monotonic nanoseconds */
  uint64_t (*wall_ns)(const struct kq_clock *c);  /* nanoseconds since the Unix epoch */
  bool fake;
  uint64_t fake_mono_ns;   /* fake clocks only */
  uint64_t fake_wall_ns;   /* fake clocks only: wall time when fake_mono_ns == 0 */
} kq_clock_t;

/* Returns the process-wide real clock (borrowed, static). */
const kq_clock_t *kq_clock_real(void);

/* Initialises a caller-owned fake clock at monotonic 0 and wall time `wall_start_ns`. */
void kq_clock_fake_init(kq_clock_t *c, uint64_t wall_start_ns);

/* Moves a fake clock forward by `ns` (no-op on the real clock). Timers are fired by
 * kq_system_run_timers(), not by this call. */
void kq_clock_advance(kq_clock_t *c, uint64_t ns);

static inline uint64_t kq_now_ns(const kq_clock_t *c) { return c->mono_ns(c); }
static inline uint64_t kq_now_ms(const kq_clock_t *c) { return c->mono_ns(c) / 1000000u; }
static inline uint64_t kq_wall_ns(const kq_clock_t *c) { return c->wall_ns(c); }

/* Formats wall time `wall_ns` as RFC 3339 UTC ("2026-11-23T10:00:00Z", or with ".000000000"
 * nanoseconds when `nanos`); `buf` needs 40 bytes. Returns buf. */
char *kq_rfc3339(uint64_t wall_ns, bool nanos, char buf[40]);

#define KQ_MS(x) ((uint64_t)(x) * 1000000ull)
#define KQ_SEC(x) ((uint64_t)(x) * 1000000000ull)

#endif
