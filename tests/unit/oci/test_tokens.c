/* Token cache (reuse until shortly before expiry, keyed by registry/scope/identity, bounded) and
 * Retry-After parsing, with time passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "kq_clock.h"
#include "kq_error.h"
#include "kq_oci_auth.h"
#include "kq_oci_pull.h"

static void test_margin(void **st) {
  (void)st;
  assert_int_equal(kq_oci_token_margin_ns(300), KQ_SEC(30));
  assert_int_equal(kq_oci_token_margin_ns(60), KQ_SEC(30));
  assert_int_equal(kq_oci_token_margin_ns(4), KQ_SEC(2));
  assert_int_equal(kq_oci_token_margin_ns(1), KQ_MS(500));
  assert_int_equal(kq_oci_token_margin_ns(0), 0);
}

static void test_cache_reuse_and_expiry(void **st) {
  (void)st;
  kq_oci_token_cache_t *c = kq_oci_token_cache_new();
  uint64_t t0 = KQ_SEC(1000);
  assert_null(kq_oci_token_cache_get(c, "r:5000", "repository:a:pull", "", t0));
  kq_oci_token_cache_put(c, "r:5000", "repository:a:pull", "", "tok-a", 60, t0);
  assert_string_equal(kq_oci_token_cache_get(c, "r:5000", "repository:a:pull", "", t0), "tok-a");
  /* other scope, registry or identity: not shared */
  assert_null(kq_oci_token_cache_get(c, "r:5000", "repository:b:pull", "", t0));
  assert_null(kq_oci_token_cache_get(c, "q:5000", "repository:a:pull", "", t0));
  assert_null(kq_oci_token_cache_get(c, "r:5000", "repository:a:pull", "sha256:someone", t0));
  /* 60 s token: reused for 30 s, then dropped */
  assert_non_null(kq_oci_token_cache_get(c, "r:5000", "repository:a:pull", "", t0 + KQ_SEC(30) - 1));
  assert_null(kq_oci_token_cache_get(c, "r:5000", "repository:a:pull", "", t0 + KQ_SEC(30)));
  assert_int_equal(kq_oci_token_cache_size(c), 0);
  /* replace and drop */
  kq_oci_token_cache_put(c, "r:5000", "repository:a:pull", "", "old", 300, t0);
  kq_oci_token_cache_put(c, "r:5000", "repository:a:pull", "", "new", 300, t0);
  assert_int_equal(kq_oci_token_cache_size(c), 1);
  assert_string_equal(kq_oci_token_cache_get(c, "r:5000", "repository:a:pull", "", t0), "new");
  kq_oci_token_cache_drop(c, "r:5000", "repository:a:pull", "");
  assert_int_equal(kq_oci_token_cache_size(c), 0);
  /* bounded: the oldest entries make room */
  char scope[64];
  for (int i = 0; i < 300; i++) {
    snprintf(scope, sizeof scope, "repository:n%d:pull", i);
    kq_oci_token_cache_put(c, "r:5000", scope, "", "t", 300, t0);
  }
  assert_int_equal(kq_oci_token_cache_size(c), 256);
  assert_null(kq_oci_token_cache_get(c, "r:5000", "repository:n0:pull", "", t0));
  assert_non_null(kq_oci_token_cache_get(c, "r:5000", "repository:n299:pull", "", t0));
  kq_oci_token_cache_free(c);
  kq_oci_token_cache_free(NULL);
}

static void test_identity(void **st) {
  (void)st;
  kq_oci_creds_t a = {0}, b = {0};
  snprintf(a.user, sizeof a.user, "u");
  snprintf(a.pass, sizeof a.pass, "p1");
  b = a;
  snprintf(b.pass, sizeof b.pass, "p2");
  char ia[72], ib[72], none[72];
  kq_oci_creds_identity(&a, true, ia);
  kq_oci_creds_identity(&b, true, ib);
  kq_oci_creds_identity(&a, false, none);
  assert_string_equal(none, "");
  assert_string_not_equal(ia, ib);
  assert_null(strstr(ia, "p1"));
  assert_int_equal(strncmp(ia, "sha256:", 7), 0);
}

static void test_retry_after(void **st) {
  (void)st;
  uint64_t d;
  uint64_t now = 784111777ull * 1000000000ull;   /* Sun, 06 Nov 1994 08:49:37 GMT */
  assert_int_equal(kq_oci_retry_after_parse("7", now, &d), KQ_OK);
  assert_int_equal(d, KQ_SEC(7));
  assert_int_equal(kq_oci_retry_after_parse(" 120 ", now, &d), KQ_OK);
  assert_int_equal(d, KQ_SEC(120));
  assert_int_equal(kq_oci_retry_after_parse("Sun, 06 Nov 1994 08:49:47 GMT", now, &d), KQ_OK);
  assert_int_equal(d, KQ_SEC(10));
  assert_int_equal(kq_oci_retry_after_parse("Sun, 06 Nov 1994 08:49:00 GMT", now, &d), KQ_OK);
  assert_int_equal(d, 0);   /* in the past */
  assert_int_equal(kq_oci_retry_after_parse("", now, &d), KQ_EPARSE);
  assert_int_equal(kq_oci_retry_after_parse("-3", now, &d), KQ_EPARSE);
  assert_int_equal(kq_oci_retry_after_parse("7s", now, &d), KQ_EPARSE);
  assert_int_equal(kq_oci_retry_after_parse("99999999999999999999", now, &d), KQ_EPARSE);
  assert_int_equal(kq_oci_retry_after_parse("tomorrow", now, &d), KQ_EPARSE);
  assert_int_equal(kq_oci_retry_after_parse("Sun, 06 Nov 1994 08:49:47 GMT junk", now, &d), KQ_EPARSE);
  assert_int_equal(kq_oci_retry_after_parse(NULL, now, &d), KQ_EPARSE);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_margin), cmocka_unit_test(test_cache_reuse_and_expiry),
                                     cmocka_unit_test(test_identity), cmocka_unit_test(test_retry_after)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
