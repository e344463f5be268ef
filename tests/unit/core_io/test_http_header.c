/* kq_http_header_get: a pure parser over raw header blocks, including hostile ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kq_error.h"
#include "kq_http.h"

static const char block[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "retry-after:   7  \r\n"
    "X-Empty:\r\n"
    "X-Dup: first\r\n"
    "X-Dup: second\r\n"
    "X-Tab:\tvalue\t\r\n"
    "\r\n";

static void test_found(void **state) {
  char v[64];
  assert_int_equal(kq_http_header_get(block, "content-type", v, sizeof v), KQ_OK);
  assert_string_equal(v, "text/plain");
  assert_int_equal(kq_http_header_get(block, "Retry-After", v, sizeof v), KQ_OK);
  assert_string_equal(v, "7");
  assert_int_equal(kq_http_header_get(block, "X-Empty", v, sizeof v), KQ_OK);
  assert_string_equal(v, "");
  assert_int_equal(kq_http_header_get(block, "x-dup", v, sizeof v), KQ_OK);
  assert_string_equal(v, "first");
  assert_int_equal(kq_http_header_get(block, "X-Tab", v, sizeof v), KQ_OK);
  assert_string_equal(v, "value");
}

static void test_not_found(void **state) {
  char v[8];
  assert_int_equal(kq_http_header_get(block, "Content", v, sizeof v), KQ_ENOENT);   /* prefix only */
  assert_int_equal(kq_http_header_get(block, "HTTP/1.1 200 OK", v, sizeof v), KQ_ENOENT);
  assert_int_equal(kq_http_header_get(block, "", v, sizeof v), KQ_ENOENT);
  assert_int_equal(kq_http_header_get(NULL, "X", v, sizeof v), KQ_ENOENT);
  assert_int_equal(kq_http_header_get("", "X", v, sizeof v), KQ_ENOENT);
  assert_int_equal(kq_http_header_get("X: status line only", "X", v, sizeof v), KQ_ENOENT);
}

static void test_too_small(void **state) {
  char v[5];
  assert_int_equal(kq_http_header_get(block, "Content-Type", v, sizeof v), KQ_ETOOBIG);
  assert_string_equal(v, "text");   /* truncated, still terminated */
  assert_int_equal(kq_http_header_get(block, "Content-Type", NULL, 0), KQ_ETOOBIG);
}

static void test_hostile(void **state) {
  char v[16];
  /* no CR, no final newline, a line without colon, a bare name */
  assert_int_equal(kq_http_header_get("HTTP/1.1 200\nnocolon\nA:b", "A", v, sizeof v), KQ_OK);
  assert_string_equal(v, "b");
  assert_int_equal(kq_http_header_get("HTTP/1.1 200\nA", "A", v, sizeof v), KQ_ENOENT);
  assert_int_equal(kq_http_header_get("HTTP/1.1 200\r\nA:\r", "A", v, sizeof v), KQ_OK);
  assert_string_equal(v, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_found),
      cmocka_unit_test(test_not_found),
      cmocka_unit_test(test_too_small),
      cmocka_unit_test(test_hostile),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
