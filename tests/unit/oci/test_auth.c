/* WWW-Authenticate parsing, token replies, config.json credentials, Basic header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "kq_error.h"
#include "kq_oci_auth.h"

static void test_challenge(void **st) {
  (void)st;
  kq_oci_challenge_t c;
  assert_int_equal(kq_oci_challenge_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/nginx:pull\"", &c), KQ_OK);
  assert_int_equal(c.scheme, KQ_OCI_AUTH_BEARER);
  assert_string_equal(c.realm, "https://auth.docker.io/token");
  assert_string_equal(c.service, "registry.docker.io");
  assert_string_equal(c.scope, "repository:library/nginx:pull");
  assert_int_equal(kq_oci_challenge_parse("bearer  realm=\"http://h/t\" , error=\"invalid_token\"", &c), KQ_OK);
  assert_string_equal(c.error, "invalid_token");
  assert_int_equal(kq_oci_challenge_parse("Basic realm=\"Registry Realm\"", &c), KQ_OK);
  assert_int_equal(c.scheme, KQ_OCI_AUTH_BASIC);
  assert_string_equal(c.realm, "Registry Realm");
  assert_int_equal(kq_oci_challenge_parse("Basic realm=Reg", &c), KQ_OK);
  assert_int_equal(kq_oci_challenge_parse("Bearer realm=\"http://a\\\"b\"", &c), KQ_OK);
  assert_string_equal(c.realm, "http://a\"b");
  static const struct { const char *in; int want; } bad[] = {
    {"", KQ_EPARSE}, {"Negotiate abc", KQ_ENOTSUP}, {"Bearer", KQ_EPARSE},
    {"Bearer service=\"x\"", KQ_EPARSE}, {"Bearer realm=\"ftp://x\"", KQ_EPARSE},
    {"Bearer realm=\"https://x", KQ_EPARSE}, {"Bearer realm", KQ_EPARSE}, {"Bearer =x", KQ_EPARSE},
    {"Bearer realm=\"https://x\" junk", KQ_EPARSE}, {"Bearer realm=\"https://x y\"", KQ_EPARSE},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (kq_oci_challenge_parse(bad[i].in, &c) != bad[i].want) fail_msg("case %zu \"%s\"", i, bad[i].in);
  char big[4000];
  memset(big, 'a', sizeof big);
  memcpy(big, "Bearer realm=\"http://", 21);
  big[sizeof big - 2] = '"';
  big[sizeof big - 1] = '\0';
  assert_int_equal(kq_oci_challenge_parse(big, &c), KQ_EPARSE);
}

static void test_token(void **st) {
  (void)st;
  int64_t exp = 0;
  char *t = kq_oci_token_parse("{\"token\":\"abc\",\"expires_in\":300}", 33, &exp);
  assert_string_equal(t, "abc");
  assert_int_equal(exp, 300);
  free(t);
  const char *b = "{\"access_token\":\"xyz\"}";
  t = kq_oci_token_parse(b, strlen(b), &exp);
  assert_string_equal(t, "xyz");
  assert_int_equal(exp, 60);
  free(t);
  b = "{\"token\":\"a b\"}";
  assert_null(kq_oci_token_parse(b, strlen(b), &exp));
  assert_null(kq_oci_token_parse("{}", 2, &exp));
  assert_null(kq_oci_token_parse("nope", 4, &exp));
  kq_oci_challenge_t c;
  assert_int_equal(kq_oci_challenge_parse("Bearer realm=\"http://127.0.0.1:9/token\",service=\"my reg\",scope=\"repository:a/b:pull\"", &c), KQ_OK);
  char *u = kq_oci_token_url(&c, NULL);
  assert_string_equal(u, "http://127.0.0.1:9/token?service=my%20reg&scope=repository:a/b:pull");
  free(u);
  u = kq_oci_token_url(&c, "repository:x:pull,push");
  assert_string_equal(u, "http://127.0.0.1:9/token?service=my%20reg&scope=repository:x:pull%2Cpush");
  free(u);
}

static void test_creds(void **st) {
  (void)st;
  /* "user:pa:ss" */
  const char *cfg = "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dXNlcjpwYTpzcw==\"},"
                    "\"127.0.0.1:5000\":{\"username\":\"u2\",\"password\":\"p2\"},"
                    "\"bad.io\":{\"auth\":\"!!!\"}}}";
  kq_oci_creds_t c;
  assert_int_equal(kq_oci_creds_lookup(cfg, "docker.io", &c), KQ_OK);
  assert_string_equal(c.user, "user");
  assert_string_equal(c.pass, "pa:ss");
  assert_int_equal(kq_oci_creds_lookup(cfg, "127.0.0.1:5000", &c), KQ_OK);
  assert_string_equal(c.user, "u2");
  assert_string_equal(c.pass, "p2");
  assert_int_equal(kq_oci_creds_lookup(cfg, "ghcr.io", &c), KQ_ENOENT);
  assert_int_equal(kq_oci_creds_lookup(cfg, "bad.io", &c), KQ_EPARSE);
  assert_int_equal(kq_oci_creds_lookup("not json", "x", &c), KQ_EPARSE);
  assert_int_equal(kq_oci_creds_lookup("{\"ghcr.io\":{\"auth\":\"YTpi\"}}", "ghcr.io", &c), KQ_OK);
  assert_string_equal(c.user, "a");
  assert_string_equal(c.pass, "b");
  char *h = kq_oci_basic_header("user", "pa:ss");
  assert_string_equal(h, "Basic dXNlcjpwYTpzcw==");
  free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_challenge), cmocka_unit_test(test_token), cmocka_unit_test(test_creds)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
