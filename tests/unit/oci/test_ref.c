/* Image reference parsing: Docker defaults, grammar, InvalidImageName cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "kq_error.h"
#include "kq_oci_ref.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_valid(void **st) {
  (void)st;
  static const struct { const char *in, *reg, *repo, *tag, *digest, *host; } cases[] = {
    {"nginx", "docker.io", "library/nginx", "latest", "", "registry-1.docker.io"},
    {"nginx:1.25", "docker.io", "library/nginx", "1.25", "", "registry-1.docker.io"},
    {"user/app", "docker.io", "user/app", "latest", "", "registry-1.docker.io"},
    {"docker.io/nginx", "docker.io", "library/nginx", "latest", "", "registry-1.docker.io"},
    {"index.docker.io/library/nginx:x", "docker.io", "library/nginx", "x", "", "registry-1.docker.io"},
    {"ghcr.io/kuack-io/hello:v1", "ghcr.io", "kuack-io/hello", "v1", "", "ghcr.io"},
    {"127.0.0.1:5000/test/hello:v1", "127.0.0.1:5000", "test/hello", "v1", "", "127.0.0.1:5000"},
    {"localhost/a", "localhost", "a", "latest", "", "localhost"},
    {"localhost:5000/a/b/c", "localhost:5000", "a/b/c", "latest", "", "localhost:5000"},
    {"a/b@sha256:" D64, "docker.io", "a/b", "", "sha256:" D64, "registry-1.docker.io"},
    {"r.io/a:t@sha256:" D64, "r.io", "a", "t", "sha256:" D64, "r.io"},
    {"my-reg.example.com/a__b/c.d-e:T_1.0-x", "my-reg.example.com", "a__b/c.d-e", "T_1.0-x", "", "my-reg.example.com"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kq_oci_ref_t r;
    char err[256] = "";
    int rc = kq_oci_ref_parse(cases[i].in, &r, err, sizeof err);
    if (rc != KQ_OK) fail_msg("%s: %s", cases[i].in, err);
    assert_string_equal(r.registry, cases[i].reg);
    assert_string_equal(r.repo, cases[i].repo);
    assert_string_equal(r.tag, cases[i].tag);
    assert_string_equal(r.digest, cases[i].digest);
    assert_string_equal(kq_oci_ref_api_host(&r), cases[i].host);
  }
}

static void test_invalid(void **st) {
  (void)st;
  static const char *bad[] = {
    "", "a/UPPER", "nginx:", "nginx:-bad", ":tag", "a//b", "a/b/", "/a", "a b",
    "a@sha256:123", "a@md5:" D64, "-a", "a-", "a..b", "ghcr.io:99999999/x", "host:/x",
    "a@sha256:" D64 "0", "x/" "Y",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kq_oci_ref_t r;
    char err[256] = "";
    if (kq_oci_ref_parse(bad[i], &r, err, sizeof err) != KQ_EINVAL) fail_msg("accepted \"%s\"", bad[i]);
    assert_true(err[0] != '\0');
  }
  char long_ref[600];
  memset(long_ref, 'a', sizeof long_ref - 1);
  long_ref[sizeof long_ref - 1] = '\0';
  kq_oci_ref_t r;
  assert_int_equal(kq_oci_ref_parse(long_ref, &r, NULL, 0), KQ_EINVAL);
}

static void test_format(void **st) {
  (void)st;
  kq_oci_ref_t r;
  assert_int_equal(kq_oci_ref_parse("nginx", &r, NULL, 0), KQ_OK);
  char buf[600];
  assert_int_equal(kq_oci_ref_format(&r, buf, sizeof buf), KQ_OK);
  assert_string_equal(buf, "docker.io/library/nginx:latest");
  assert_string_equal(kq_oci_ref_target(&r), "latest");
  assert_string_equal(kq_oci_ref_basename(&r), "nginx");
  assert_int_equal(kq_oci_ref_format(&r, buf, 5), KQ_ETOOBIG);
  assert_int_equal(kq_oci_ref_parse("h:1/a@sha256:" D64, &r, NULL, 0), KQ_OK);
  assert_string_equal(kq_oci_ref_target(&r), "sha256:" D64);
  assert_true(kq_oci_digest_valid("sha256:" D64));
  assert_false(kq_oci_digest_valid("sha256:" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_valid), cmocka_unit_test(test_invalid), cmocka_unit_test(test_format)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
