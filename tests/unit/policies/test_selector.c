/* Label selector parsing (every supported form, errors with positions) and matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kq_error.h"
#include "kq_policy.h"

static const char *const keys[] = {"browser", "region", "gpu"};
static const char *const vals[] = {"chrome", "eu-west", ""};

static bool m(const char *text) {
  kq_selector_t *s;
  char err[200];
  int rc = kq_selector_parse(text, &s, err, sizeof err);
  if (rc) fail_msg("parse '%s': %s", text, err);
  bool r = kq_selector_match(s, keys, vals, 3);
  kq_selector_free(s);
  return r;
}

static void test_matching(void **st) {
  (void)st;
  assert_true(m(""));
  assert_true(m("   "));
  assert_true(m("browser=chrome"));
  assert_true(m("browser==chrome"));
  assert_false(m("browser=firefox"));
  assert_true(m("browser!=firefox"));
  assert_false(m("browser!=chrome"));
  assert_true(m("zone!=a")); /* missing key satisfies != */
  assert_true(m("region in (us-east, eu-west)"));
  assert_false(m("region in (us-east)"));
  assert_true(m("region notin (us-east)"));
  assert_false(m("region notin (us-east,eu-west)"));
  assert_true(m("zone notin (a)"));
  assert_true(m("gpu"));
  assert_true(m("gpu="));
  assert_false(m("zone"));
  assert_true(m("!zone"));
  assert_false(m("!gpu"));
  assert_true(m(" browser = chrome , region in (eu-west) , !zone , gpu "));
  assert_false(m("browser=chrome,region in (us-east)"));
  assert_true(m("kuack.io/tier=x") == false);
  /* no labels at all */
  kq_selector_t *s;
  assert_int_equal(kq_selector_parse("!a,b!=c", &s, NULL, 0), KQ_OK);
  assert_true(kq_selector_match(s, NULL, NULL, 0));
  kq_selector_free(s);
}

static void test_errors(void **st) {
  (void)st;
  struct { const char *text, *msg; } cases[] = {
      {",", "browser selector: expected a label key at position 1"},
      {"a=b,", "browser selector: expected a term after ',' at position 4"},
      {"a=b,,c", "browser selector: expected a label key at position 5"},
      {"a in b", "browser selector: expected '(' at position 6"},
      {"a in (b", "browser selector: expected ',' or ')' at position 8"},
      {"a in ()", "browser selector: expected a value at position 7"},
      {"a b", "browser selector: expected '=', '!=', 'in', 'notin', ',' or end at position 3"},
      {"a=b c", "browser selector: expected ',' or end after value at position 5"},
      {"!", "browser selector: expected a label key at position 2"},
      {"a=$", "browser selector: expected ',' or end after value at position 3"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kq_selector_t *s = (kq_selector_t *)1;
    char err[200] = "";
    assert_int_equal(kq_selector_parse(cases[i].text, &s, err, sizeof err), KQ_EINVAL);
    assert_null(s);
    if (strcmp(err, cases[i].msg)) fail_msg("'%s': got '%s'", cases[i].text, err);
  }
  char big[1100];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  kq_selector_t *s;
  assert_int_equal(kq_selector_parse(big, &s, NULL, 0), KQ_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_matching), cmocka_unit_test(test_errors)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
