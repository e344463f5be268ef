/* Logging: exact line format on a fake clock, level filtering, level parsing, escaping, sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kq_clock.h"
#include "kq_error.h"
#include "kq_log.h"

typedef struct {
  char lines[8][512];
  kq_log_level_t levels[8];
  int n;
} capture_t;

static void sink(kq_log_level_t level, const char *line, void *ud) {
  capture_t *c = ud;
  if (c->n < 8) {
    c->levels[c->n] = level;
    strncpy(c->lines[c->n], line, sizeof c->lines[0] - 1);
  }
  c->n++;
}

static kq_clock_t clock_;
static capture_t cap;

static int setup(void **st) {
  (void)st;
  memset(&cap, 0, sizeof cap);
  /* 2026-11-23T10:00:00.123Z */
  kq_clock_fake_init(&clock_, 1795428000ull * 1000000000ull + 123456789ull);
  kq_log_set_clock(&clock_);
  kq_log_set_sink(sink, &cap);
  kq_log_set_level(KQ_LOG_INFO);
  return 0;
}

static int teardown(void **st) {
  (void)st;
  kq_log_set_sink(NULL, NULL);
  kq_log_set_clock(NULL);
  kq_log_set_level(KQ_LOG_INFO);
  return 0;
}

static void test_format(void **st) {
  (void)st;
  KQ_INFO("browser", "connected", "id=%d addr=%s", 7, "10.0.0.1");
  KQ_WARN("pod", "slow", NULL);
  KQ_ERROR("k8s", "watch \"failed\"", "code=%d", 410);
  assert_int_equal(cap.n, 3);
  assert_string_equal(cap.lines[0],
                      "2026-11-23T10:00:00.123Z info  comp=browser msg=\"connected\" id=7 addr=10.0.0.1");
  assert_string_equal(cap.lines[1], "2026-11-23T10:00:00.123Z warn  comp=pod msg=\"slow\"");
  assert_string_equal(cap.lines[2],
                      "2026-11-23T10:00:00.123Z error comp=k8s msg=\"watch \\\"failed\\\"\" code=410");
  assert_int_equal(cap.levels[2], KQ_LOG_ERROR);
}

static void test_levels(void **st) {
  (void)st;
  KQ_DEBUG("x", "hidden", "a=%d", 1);
  assert_int_equal(cap.n, 0);
  kq_log_set_level(KQ_LOG_DEBUG);
  KQ_DEBUG("x", "shown", "a=%d", 1);
  assert_int_equal(cap.n, 1);
  assert_string_equal(cap.lines[0], "2026-11-23T10:00:00.123Z debug comp=x msg=\"shown\" a=1");
  kq_log_set_level(KQ_LOG_ERROR);
  KQ_WARN("x", "dropped", NULL);
  KQ_ERROR("x", "kept", NULL);
  assert_int_equal(cap.n, 2);
  kq_log_set_level(KQ_LOG_OFF);
  KQ_ERROR("x", "off", NULL);
  assert_int_equal(cap.n, 2);
  assert_int_equal(kq_log_get_level(), KQ_LOG_OFF);
}

static void test_parse(void **st) {
  (void)st;
  kq_log_level_t l = KQ_LOG_INFO;
  assert_int_equal(kq_log_parse_level("debug", &l), KQ_OK);
  assert_int_equal(l, KQ_LOG_DEBUG);
  assert_int_equal(kq_log_parse_level("warn", &l), KQ_OK);
  assert_int_equal(l, KQ_LOG_WARN);
  assert_int_equal(kq_log_parse_level("off", &l), KQ_OK);
  assert_int_equal(l, KQ_LOG_OFF);
  assert_int_equal(kq_log_parse_level("verbose", &l), KQ_EINVAL);
  assert_int_equal(kq_log_parse_level(NULL, &l), KQ_EINVAL);
  assert_int_equal(l, KQ_LOG_OFF);
}

static void test_one_line_and_truncation(void **st) {
  (void)st;
  KQ_INFO("x", "two\nlines", NULL);
  assert_string_equal(cap.lines[0], "2026-11-23T10:00:00.123Z info  comp=x msg=\"two\\nlines\"");
  char *big = malloc(5000);
  memset(big, 'a', 4999);
  big[4999] = '\0';
  KQ_INFO("x", "big", "v=%s", big);
  free(big);
  assert_int_equal(cap.n, 2); /* truncated, not dropped, no overflow (ASan) */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_format, setup, teardown),
      cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
      cmocka_unit_test_setup_teardown(test_parse, setup, teardown),
      cmocka_unit_test_setup_teardown(test_one_line_and_truncation, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
