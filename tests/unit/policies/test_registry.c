/* Registry by name, parameter validation (unknown keys, ranges, NaN), extra registration and the
 * ABI check. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kq_error.h"
#include "kq_policy.h"

static void test_builtins_by_name(void **st) {
  (void)st;
  const char *names[] = {"binpack", "gpu", "latency", "spread", "first-fit", "kuack-compat"};
  assert_true(kq_policy_count() >= 6);
  for (size_t i = 0; i < 6; i++) {
    const kq_policy_vtable_t *vt = kq_policy_find(names[i]);
    assert_non_null(vt);
    assert_string_equal(vt->name, names[i]);
    assert_ptr_equal(kq_policy_at((uint32_t)i), vt);
    assert_int_equal(vt->abi_version, KQ_POLICY_ABI_VERSION);
    assert_non_null(vt->summary);
    kq_policy_state_t s;
    assert_int_equal(kq_policy_setup(names[i], NULL, &s, NULL, 0), KQ_OK);
    assert_ptr_equal(s.vt, vt);
  }
  assert_string_equal(KQ_POLICY_DEFAULT, "binpack");
  assert_null(kq_policy_find("nope"));
  assert_null(kq_policy_find(NULL));
}

static void test_unknown_name_lists_known(void **st) {
  (void)st;
  kq_policy_state_t s = {0}, before;
  assert_int_equal(kq_policy_setup("binpack", NULL, &s, NULL, 0), KQ_OK);
  before = s;
  char err[256];
  assert_int_equal(kq_policy_setup("best-fit", NULL, &s, err, sizeof err), KQ_ENOENT);
  assert_string_equal(err, "unknown placement policy 'best-fit' (known: binpack, gpu, latency, "
                           "spread, first-fit, kuack-compat)");
  assert_memory_equal(&s, &before, sizeof s); /* caller keeps its policy */
}

static void test_params_validation(void **st) {
  (void)st;
  kq_policy_params_t p = {0};
  kq_policy_state_t s = {0};
  char err[256];
  assert_int_equal(kq_policy_setup("latency", NULL, &s, err, sizeof err), KQ_OK);
  assert_true(s.p[0] == 1.0 && s.p[1] == 250);
  assert_int_equal(kq_policy_params_add(&p, "load_weight", 3.5), KQ_OK);
  assert_int_equal(kq_policy_setup("latency", &p, &s, err, sizeof err), KQ_OK);
  assert_true(s.p[0] == 3.5 && s.p[1] == 250);
  kq_policy_params_add(&p, "weight", 1);
  kq_policy_state_t keep = s;
  assert_int_equal(kq_policy_setup("latency", &p, &s, err, sizeof err), KQ_EINVAL);
  assert_string_equal(err, "policy latency: unknown parameter 'weight' (accepted: load_weight, "
                           "unknown_rtt_ms)");
  assert_memory_equal(&s, &keep, sizeof s);
  p.n = 0;
  kq_policy_params_add(&p, "load_weight", 101);
  assert_int_equal(kq_policy_setup("latency", &p, &s, err, sizeof err), KQ_EINVAL);
  assert_string_equal(err, "policy latency: parameter load_weight=101 out of range [0, 100]");
  p.items[0].value = NAN;
  assert_int_equal(kq_policy_setup("latency", &p, &s, err, sizeof err), KQ_EINVAL);
  p.n = 0;
  kq_policy_params_add(&p, "x", 1);
  assert_int_equal(kq_policy_setup("binpack", &p, &s, err, sizeof err), KQ_EINVAL);
  assert_string_equal(err, "policy binpack: unknown parameter 'x' (accepted: open_largest)");
  assert_int_equal(kq_policy_setup("spread", &p, &s, err, sizeof err), KQ_EINVAL);
  assert_string_equal(err, "policy spread: unknown parameter 'x' (accepted: none)");
  /* the params array refuses overflow and bad keys */
  kq_policy_params_t q = {0};
  for (int i = 0; i < KQ_POLICY_PARAMS_MAX; i++) assert_int_equal(kq_policy_params_add(&q, "k", i), KQ_OK);
  assert_int_equal(kq_policy_params_add(&q, "k", 0), KQ_ETOOBIG);
  assert_int_equal(kq_policy_params_add(&p, "", 0), KQ_EINVAL);
  assert_int_equal(kq_policy_params_add(&p, "0123456789012345678901234567890123", 0), KQ_EINVAL);
}

static int32_t last_select(const kq_policy_state_t *st, const kq_place_req_t *req,
                           const kq_view_t *v, const uint8_t *ex, uint64_t now,
                           kq_policy_reason_t *why) {
  (void)st; (void)req; (void)ex; (void)now;
  *why = KQ_PR_FIRST_FIT;
  return v->n ? (int32_t)v->n - 1 : -1;
}

static const kq_policy_vtable_t last_policy = {
    .abi_version = KQ_POLICY_ABI_VERSION, .name = "last", .summary = "test",
    .configure = kq_policy_configure_spec, .select = last_select};
static const kq_policy_vtable_t bad_abi = {
    .abi_version = 99, .name = "bad", .configure = kq_policy_configure_spec, .select = last_select};
static const kq_policy_vtable_t dup = {
    .abi_version = KQ_POLICY_ABI_VERSION, .name = "binpack",
    .configure = kq_policy_configure_spec, .select = last_select};

static void test_register_extra(void **st) {
  (void)st;
  uint32_t n = kq_policy_count();
  assert_int_equal(kq_policy_register(&bad_abi), KQ_EINVAL);
  assert_int_equal(kq_policy_register(&dup), KQ_EEXIST);
  assert_int_equal(kq_policy_register(&last_policy), KQ_OK);
  assert_int_equal(kq_policy_count(), n + 1);
  assert_ptr_equal(kq_policy_find("last"), &last_policy);
  char buf[256];
  assert_non_null(strstr(kq_policy_names(buf, sizeof buf), "kuack-compat, last"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_builtins_by_name), cmocka_unit_test(test_unknown_name_lists_known),
      cmocka_unit_test(test_params_validation), cmocka_unit_test(test_register_extra),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
