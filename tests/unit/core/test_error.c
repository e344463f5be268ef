/* The error family: every code has a text and a symbolic name; unknown codes are labelled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "kq_error.h"

static void test_texts(void **st) {
  (void)st;
  assert_string_equal(kq_strerror(KQ_OK), "ok");
  assert_string_equal(kq_strerror(KQ_ENOENT), "not found");
  assert_string_equal(kq_strerror(KQ_ESECURITY), "refused for safety");
  assert_string_equal(kq_strerror(-999), "unknown error");
  assert_string_equal(kq_strerror(5), "unknown error");
}

static void test_names(void **st) {
  (void)st;
  assert_string_equal(kq_errname(KQ_EINVAL), "KQ_EINVAL");
  assert_string_equal(kq_errname(KQ_OK), "KQ_OK");
  assert_string_equal(kq_errname(-999), "KQ_E?");
}

static void test_every_code_named(void **st) {
  (void)st;
  /* Codes are dense from 0 down to the last one, each with a distinct name. */
  int n = 0;
#define COUNT_(name, value, text) n++;
  KQ_ERRORS(COUNT_)
#undef COUNT_
  for (int e = 0; e > -n; e--) {
    assert_string_not_equal(kq_strerror(e), "unknown error");
    assert_memory_equal(kq_errname(e), "KQ_", 3);
    for (int o = 0; o > e; o--) assert_string_not_equal(kq_errname(e), kq_errname(o));
  }
  assert_string_equal(kq_strerror(-n), "unknown error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_texts),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_every_code_named),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
