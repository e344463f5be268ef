/* The SubjectAccessReview answer decoder behind the kubelet API's authorization. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kq_error.h"
#include "kubelet_internal.h"

static int decode(const char *json, bool *allowed, char **reason) {
  return kq_kubelet_sar_decode(json, strlen(json), allowed, reason);
}

static void test_allowed_with_reason(void **st) {
  (void)st;
  bool allowed = false;
  char *reason = NULL;
  assert_int_equal(
      decode("{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"SubjectAccessReview\","
             "\"status\":{\"allowed\":true,\"reason\":\"RBAC: allowed\"}}",
             &allowed, &reason),
      KQ_OK);
  assert_true(allowed);
  assert_string_equal(reason, "RBAC: allowed");
  free(reason);
}

static void test_denied_wins_over_allowed(void **st) {
  (void)st;
  bool allowed = true;
  char *reason = NULL;
  assert_int_equal(decode("{\"status\":{\"allowed\":true,\"denied\":true}}", &allowed, &reason),
                   KQ_OK);
  assert_false(allowed);
  assert_null(reason);
}

static void test_not_allowed_carries_evaluation_error(void **st) {
  (void)st;
  bool allowed = true;
  char *reason = NULL;
  assert_int_equal(decode("{\"status\":{\"allowed\":false,\"evaluationError\":\"webhook down\"}}",
                          &allowed, &reason),
                   KQ_OK);
  assert_false(allowed);
  assert_string_equal(reason, "webhook down");
  free(reason);
}

static void test_unreadable_answers_never_allow(void **st) {
  (void)st;
  const char *bad[] = {"",
                       "{",
                       "[]",
                       "{\"status\":",
                       "{\"kind\":\"SubjectAccessReview\"}",
                       "{\"status\":{\"allowed\":\"yes\"}}",
                       "{\"status\":[true]}",
                       "null"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    bool allowed = true;
    char *reason = NULL;
    assert_int_equal(decode(bad[i], &allowed, &reason), KQ_EPROTO);
    assert_false(allowed);
    assert_non_null(reason);
    assert_non_null(strstr(reason, "SubjectAccessReview answer unreadable"));
    free(reason);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_allowed_with_reason),
      cmocka_unit_test(test_denied_wins_over_allowed),
      cmocka_unit_test(test_not_allowed_carries_evaluation_error),
      cmocka_unit_test(test_unreadable_answers_never_allow),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
