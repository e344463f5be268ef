/* The Bearer token flow end to end: a real docker-registry configured with auth.token trusting a
 * local token server (tests/support/kq_test_token.h), pulls through the image service. Correct
 * credentials pull; wrong ones and anonymous access give ErrImagePull with a reason; tokens are
 * cached per (registry, scope, credentials) and reused until shortly before they expire (the
 * system runs on a fake clock, so expiry is stepped, not waited for). */
#include "image_fixture.h"

#include <limits.h>

#include "kq_oci_digest.h"
#include "kq_test_registry.h"
#include "kq_test_token.h"

typedef struct fx {
  kq_test_token_t *tok;
  kq_test_registry_t *reg;
  char good[300], bad[300];
} fx_t;

static if_env_t E;
static fx_t *F;

static kq_image_reply_t *ask(const char *name, const char *secret) {
  char image[256];
  snprintf(image, sizeof image, "%s/%s", kq_test_registry_host(F->reg), name);
  return if_ask(E.base, E.svc, &E.sink, E.aid, image, KQ_PULL_ALWAYS, secret);
}

static const char *example(const char *rel) {
  static char p[512];
  snprintf(p, sizeof p, "%s/%s", kq_test_examples_dir(), rel);
  return p;
}

static int setup(void **state) {
  F = KQ_NEW(fx_t);
  if_env_open(&E, 1700000000ull * 1000000000ull, 2);
  kq_test_token_opts_t to = {.user = "kuack", .pass = "s3cret", .expires_in = 300};
  F->tok = kq_test_token_new(E.base, &to);
  kq_test_registry_opts_t ro = {.token_realm = kq_test_token_realm(F->tok),
                                .token_service = kq_test_token_service(F->tok),
                                .token_issuer = kq_test_token_issuer(F->tok),
                                .token_certs = kq_test_token_cert_file(F->tok)};
  F->reg = kq_test_registry_start(&ro);
  const char *insecure[] = {kq_test_registry_host(F->reg)};
  if_env_start(&E, (kq_image_service_opts_t){.insecure = insecure, .ninsecure = 1, .max_retries = 1,
                                             .retry_backoff_ns = KQ_MS(20),
                                             .fail_backoff_ns = KQ_MS(300)});
  snprintf(F->good, sizeof F->good, "{\"auths\":{\"%s\":{\"username\":\"kuack\",\"password\":\"s3cret\"}}}",
           kq_test_registry_host(F->reg));
  snprintf(F->bad, sizeof F->bad, "{\"auths\":{\"%s\":{\"username\":\"kuack\",\"password\":\"wrong\"}}}",
           kq_test_registry_host(F->reg));
  char dg[80];
  if (kq_test_registry_push(F->reg, "index", "t/tok:v1", example("hello.wasm"), dg) != 0) fail_msg("push t/tok");
  if (kq_test_registry_push(F->reg, "single", "t/other:v1", example("cpujob.wasm"), dg) != 0) fail_msg("push t/other");
  *state = F;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if_env_stop(&E);
  kq_test_registry_free(F->reg);
  kq_test_token_free(F->tok);
  if_env_close(&E);
  free(F);
  return 0;
}

/* Past the image actor's failure back-off (300 ms on the fake clock). */
static void past_backoff(void) { kq_clock_advance(&E.clock, KQ_SEC(1)); }

static void test_anonymous_is_unauthorized(void **st) {
  (void)st;
  size_t req0 = kq_test_token_requests(F->tok), granted0 = kq_test_token_granted(F->tok);
  kq_image_reply_t *r = ask("t/tok:v1", NULL);
  assert_int_equal(r->rc, KQ_EAUTH);
  assert_int_equal(r->reason, KQ_OCI_REASON_ERR_IMAGE_PULL);
  assert_string_equal(kq_oci_reason_str(r->reason), "ErrImagePull");
  assert_non_null(strstr(r->message, "requires credentials"));
  assert_non_null(strstr(r->message, "401"));
  /* the flow ran: an anonymous token (no access) was issued, the registry still refused */
  assert_int_equal(kq_test_token_requests(F->tok), req0 + 1);
  assert_int_equal(kq_test_token_granted(F->tok), granted0);
  past_backoff();
}

static void test_wrong_credentials(void **st) {
  (void)st;
  size_t refused0 = kq_test_token_refused(F->tok);
  kq_image_reply_t *r = ask("t/tok:v1", F->bad);
  assert_int_equal(r->rc, KQ_EAUTH);
  assert_int_equal(r->reason, KQ_OCI_REASON_ERR_IMAGE_PULL);
  assert_non_null(strstr(r->message, "token service"));
  assert_non_null(strstr(r->message, "refused the credentials"));
  assert_non_null(strstr(r->message, kq_test_token_realm(F->tok)));
  assert_int_equal(kq_test_token_refused(F->tok), refused0 + 1);
  assert_int_equal(kq_image_service_tokens_cached(E.svc), 0);
  past_backoff();
}

static void test_good_credentials_and_token_reuse(void **st) {
  (void)st;
  size_t req0 = kq_test_token_requests(F->tok);
  size_t man0 = kq_test_registry_count(F->reg, "GET /v2/t/tok/manifests/v1");
  kq_image_reply_t *r = ask("t/tok:v1", F->good);
  if (r->rc != KQ_OK) fail_msg("good credentials: %s", r->message);
  assert_string_equal(r->art.module, "hello.wasm");
  /* the reply carries the module's own digest and size (computed off the loop) */
  char want[72];
  uint64_t size = 0;
  assert_int_equal(kq_oci_sha256_file(example("hello.wasm"), want, &size), KQ_OK);
  assert_string_equal(r->art.module_digest, want);
  assert_int_equal(r->art.module_size, size);
  assert_int_equal(kq_test_token_requests(F->tok), req0 + 1);
  assert_int_equal(kq_test_token_granted(F->tok), 1);

  /* second pull (Always: the registry is asked again) reuses the cached token */
  r = ask("t/tok:v1", F->good);
  if (r->rc != KQ_OK) fail_msg("second pull: %s", r->message);
  assert_int_equal(kq_test_token_requests(F->tok), req0 + 1);
  assert_int_equal(kq_test_registry_count(F->reg, "GET /v2/t/tok/manifests/v1"), man0 + 3);  /* index twice + 401 */

  /* another repository is another scope: a new token */
  r = ask("t/other:v1", F->good);
  if (r->rc != KQ_OK) fail_msg("other repo: %s", r->message);
  assert_int_equal(kq_test_token_requests(F->tok), req0 + 2);
  assert_int_equal(kq_image_service_tokens_cached(E.svc), 2);

  /* 300 s tokens are reused for 270 s (30 s margin): at +269 s still cached... */
  kq_clock_advance(&E.clock, KQ_SEC(269) - KQ_SEC(1));
  r = ask("t/tok:v1", F->good);
  assert_int_equal(r->rc, KQ_OK);
  assert_int_equal(kq_test_token_requests(F->tok), req0 + 2);
  /* ...and past it a fresh one is fetched */
  kq_clock_advance(&E.clock, KQ_SEC(2));
  r = ask("t/tok:v1", F->good);
  assert_int_equal(r->rc, KQ_OK);
  assert_int_equal(kq_test_token_requests(F->tok), req0 + 3);
}

static void test_refused_cached_token_is_replaced(void **st) {
  (void)st;
  /* plant a token the registry will refuse where the cache keeps t/other's token */
  kq_oci_creds_t c;
  assert_int_equal(kq_oci_creds_lookup(F->good, kq_test_registry_host(F->reg), &c), KQ_OK);
  char id[72];
  kq_oci_creds_identity(&c, true, id);
  kq_oci_token_cache_t *cache = kq_image_service_token_cache(E.svc);
  const char *scope = "repository:t/other:pull";
  kq_oci_token_cache_put(cache, kq_test_registry_host(F->reg), scope, id, "eyJhbGciOiJub25lIn0.e30.c2ln", 300,
                         kq_now_ns(&E.clock));
  size_t req0 = kq_test_token_requests(F->tok);
  kq_image_reply_t *r = ask("t/other:v1", F->good);
  if (r->rc != KQ_OK) fail_msg("after a refused cached token: %s", r->message);
  assert_int_equal(kq_test_token_requests(F->tok), req0 + 1);
  const char *now_cached = kq_oci_token_cache_get(cache, kq_test_registry_host(F->reg), scope, id, kq_now_ns(&E.clock));
  assert_non_null(now_cached);
  assert_string_not_equal(now_cached, "eyJhbGciOiJub25lIn0.e30.c2ln");
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_anonymous_is_unauthorized),
    cmocka_unit_test(test_wrong_credentials),
    cmocka_unit_test(test_good_credentials_and_token_reuse),
    cmocka_unit_test(test_refused_cached_token_is_replaced),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
