/* resource.Quantity parsing: table of valid spellings (rounding up like MilliValue/Value) and
 * hostile inputs that must be refused with a message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kq_error.h"
#include "kq_k8s_types.h"

static void test_milli_table(void **state) {
  static const struct { const char *in; int64_t milli; } t[] = {
      {"0", 0},          {"1", 1000},       {"250m", 250},   {"0.5", 500},
      {"1.5", 1500},     {"+2", 2000},      {".1", 100},     {"1.", 1000},
      {"100m", 100},     {"1k", 1000000},   {"0.0001", 1},   {"1e3", 1000000},
      {"1E-3", 1},       {"1e-4", 1},       {"2.5e1", 25000}, {"0.1m", 1},
      {"1500000000m", 1500000000}, {"0000.25", 250},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    int64_t v = -7;
    char *err = NULL;
    int rc = kq_k8s_quantity_milli(t[i].in, &v, &err);
    if (rc != KQ_OK || v != t[i].milli)
      fail_msg("milli(%s) = %lld rc %d (%s), want %lld", t[i].in, (long long)v, rc,
               err ? err : "", (long long)t[i].milli);
    free(err);
  }
}

static void test_value_table(void **state) {
  static const struct { const char *in; int64_t v; } t[] = {
      {"1Ki", 1024},        {"128Mi", 134217728},   {"2Gi", 2147483648LL}, {"1M", 1000000},
      {"1G", 1000000000},   {"1T", 1000000000000LL}, {"0.5Gi", 536870912},  {"1.5Ki", 1536},
      {"100m", 1},          {"1e9", 1000000000},    {"7", 7},              {"1E", 1000000000000000000LL},
      {"1Ei", 1152921504606846976LL}, {"1Pi", 1125899906842624LL}, {"3Ti", 3298534883328LL},
      {"0.1", 1},           {"1001m", 2},           {"2", 2},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    int64_t v = -7;
    char *err = NULL;
    int rc = kq_k8s_quantity_value(t[i].in, &v, &err);
    if (rc != KQ_OK || v != t[i].v)
      fail_msg("value(%s) = %lld rc %d (%s), want %lld", t[i].in, (long long)v, rc,
               err ? err : "", (long long)t[i].v);
    free(err);
  }
}

static void test_invalid(void **state) {
  static const struct { const char *in; const char *msg; } t[] = {
      {"-1", "negative"},   {"-250m", "negative"}, {"", "empty"},        {"abc", "no digits"},
      {"12x", "unknown suffix \"x\""}, {"1Kb", "unknown suffix"}, {"1.2.3", "unknown suffix"},
      {"1 ", "unknown suffix"}, {" 1", "no digits"}, {"1e", "bad exponent"}, {"1e+", "bad exponent"},
      {"m", "no digits"}, {".", "no digits"}, {"9Ei", "too large"}, {"1e40", "too large"},
      {"99999999999999999999999", "too large"}, {"1e999999999", "too large"},
      {"0x10", "unknown suffix"}, {"1ki", "unknown suffix"}, {"NaN", "no digits"},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    int64_t v = 42;
    char *err = NULL;
    int rc = kq_k8s_quantity_value(t[i].in, &v, &err);
    if (rc != KQ_EINVAL || !err || !strstr(err, t[i].msg))
      fail_msg("value(\"%s\") rc %d err \"%s\", want EINVAL with \"%s\"", t[i].in, rc,
               err ? err : "(null)", t[i].msg);
    assert_int_equal(v, 42); /* untouched on failure */
    free(err);
  }
  int64_t v;
  assert_int_equal(kq_k8s_quantity_milli(NULL, &v, NULL), KQ_EINVAL);
  assert_int_equal(kq_k8s_quantity_milli("9223372036854775807", &v, NULL), KQ_EINVAL);
  assert_int_equal(kq_k8s_quantity_value("9223372036854775807", &v, NULL), KQ_OK);
  assert_int_equal(v, INT64_MAX);
}

static void test_format(void **state) {
  char b[32];
  assert_string_equal(kq_k8s_quantity_format_milli(2000, b), "2");
  assert_string_equal(kq_k8s_quantity_format_milli(1500, b), "1500m");
  assert_string_equal(kq_k8s_quantity_format_milli(0, b), "0");
  assert_string_equal(kq_k8s_quantity_format_bytes(2147483648LL, b), "2Gi");
  assert_string_equal(kq_k8s_quantity_format_bytes(1536, b), "1536");
  assert_string_equal(kq_k8s_quantity_format_bytes(3072, b), "3Ki");
  assert_string_equal(kq_k8s_quantity_format_bytes(5 << 20, b), "5Mi");
  assert_string_equal(kq_k8s_quantity_format_bytes(0, b), "0");
  /* formatted values parse back to themselves */
  int64_t v;
  assert_int_equal(kq_k8s_quantity_value(kq_k8s_quantity_format_bytes(123456789, b), &v, NULL), KQ_OK);
  assert_int_equal(v, 123456789);
  assert_int_equal(kq_k8s_quantity_milli(kq_k8s_quantity_format_milli(1234, b), &v, NULL), KQ_OK);
  assert_int_equal(v, 1234);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_milli_table),
      cmocka_unit_test(test_value_table),
      cmocka_unit_test(test_invalid),
      cmocka_unit_test(test_format),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
