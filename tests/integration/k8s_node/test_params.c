/* kuack.io/placement-params decoding (k8s/kq_k8s_params.h): a JSON object of numbers, refused
 * with a message when it is anything else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kq_error.h"
#include "kq_k8s_params.h"

static void test_numbers(void **state) {
  (void)state;
  kq_k8s_param_t *p = NULL;
  size_t n = 9;
  char *err = NULL;
  assert_int_equal(kq_k8s_parse_params("{\"weight\": 2, \"max\": 0.5}", 8, &p, &n, &err), KQ_OK);
  assert_null(err);
  assert_int_equal(n, 2);
  assert_string_equal(p[0].key, "weight");
  assert_true(p[0].value == 2.0);
  assert_string_equal(p[1].key, "max");
  assert_true(p[1].value == 0.5);
  kq_k8s_params_free(p, n);
  assert_int_equal(kq_k8s_parse_params("  ", 8, &p, &n, &err), KQ_OK);
  assert_int_equal(n, 0);
  assert_int_equal(kq_k8s_parse_params(NULL, 8, &p, &n, &err), KQ_OK);
  assert_int_equal(n, 0);
}

static void test_refused(void **state) {
  (void)state;
  static const struct { const char *in; int rc; } t[] = {
      {"{", KQ_EPARSE},
      {"nonsense", KQ_EPARSE},
      {"[1,2]", KQ_EINVAL},
      {"3", KQ_EINVAL},
      {"{\"a\": \"x\"}", KQ_EINVAL},
      {"{\"a\": 1, \"b\": null}", KQ_EINVAL},
      {"{\"a\":1,\"b\":2,\"c\":3}", KQ_EINVAL}, /* more than max (2) */
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    kq_k8s_param_t *p = (kq_k8s_param_t *)1;
    size_t n = 9;
    char *err = NULL;
    int rc = kq_k8s_parse_params(t[i].in, 2, &p, &n, &err);
    if (rc != t[i].rc) fail_msg("%s: rc %d want %d", t[i].in, rc, t[i].rc);
    assert_non_null(err);
    assert_null(p);
    assert_int_equal(n, 0);
    free(err);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_numbers), cmocka_unit_test(test_refused)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
