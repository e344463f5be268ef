/* Clocks: the fake clock moves only when told; the real one is monotonic; RFC 3339 formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kq_clock.h"

static void test_fake(void **st) {
  (void)st;
  kq_clock_t c;
  kq_clock_fake_init(&c, KQ_SEC(1000));
  assert_true(c.fake);
  assert_int_equal(kq_now_ns(&c), 0);
  assert_int_equal(kq_wall_ns(&c), KQ_SEC(1000));
  kq_clock_advance(&c, KQ_MS(1500));
  assert_int_equal(kq_now_ns(&c), KQ_MS(1500));
  assert_int_equal(kq_now_ms(&c), 1500);
  assert_int_equal(kq_wall_ns(&c), KQ_SEC(1000) + KQ_MS(1500));
}

static void test_real(void **st) {
  (void)st;
  const kq_clock_t *c = kq_clock_real();
  assert_false(c->fake);
  uint64_t a = kq_now_ns(c), b = kq_now_ns(c);
  assert_true(b >= a);
  assert_true(kq_wall_ns(c) > KQ_SEC(1700000000)); /* after 2023 */
  kq_clock_advance((kq_clock_t *)c, KQ_SEC(100)); /* no-op on the real clock */
  assert_true(kq_now_ns(c) - b < KQ_SEC(50));
}

static void test_rfc3339(void **st) {
  (void)st;
  char buf[40];
  assert_string_equal(kq_rfc3339(0, false, buf), "1970-01-01T00:00:00Z");
  uint64_t t = 1795428000ull * 1000000000ull + 123456789ull; /* 2026-11-23T10:00:00.123456789Z */
  assert_string_equal(kq_rfc3339(t, false, buf), "2026-11-23T10:00:00Z");
  assert_string_equal(kq_rfc3339(t, true, buf), "2026-11-23T10:00:00.123456789Z");
  assert_string_equal(kq_rfc3339(KQ_SEC(951782400), true, buf), "2000-02-29T00:00:00.000000000Z");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fake),
      cmocka_unit_test(test_real),
      cmocka_unit_test(test_rfc3339),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
