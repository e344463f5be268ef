/* Two different images sharing a layer, pulled at the same time by two image actors, download that
 * layer once: the first pull claims it in the service's in-flight table, the second waits and then
 * finds it in the store. Counted in the real registry's access log. */
#include "image_fixture.h"

#include "kq_oci_digest.h"
#include "kq_test_registry.h"

static if_env_t E;
static kq_test_registry_t *reg;

static int setup(void **state) {
  (void)state;
  if_env_open(&E, 0, 2);
  reg = kq_test_registry_start(NULL);
  const char *insecure[] = {kq_test_registry_host(reg)};
  if_env_start(&E, (kq_image_service_opts_t){.insecure = insecure, .ninsecure = 1});
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if_env_stop(&E);
  if_env_close(&E);
  kq_test_registry_free(reg);
  return 0;
}

static size_t blob_gets(const char *repo, const char *digest) {
  char needle[512];
  snprintf(needle, sizeof needle, "GET /v2/%s/blobs/%s", repo, digest);
  return kq_test_registry_count(reg, needle);
}

static void test_shared_layer_fetched_once(void **st) {
  (void)st;
  /* a module big enough (8 MiB, incompressible) that both pulls reach it while it downloads */
  char big[600], cmd[1400];
  snprintf(big, sizeof big, "%s/shared-%d.wasm", kq_test_examples_dir(), (int)getpid());
  snprintf(cmd, sizeof cmd, "cp '%s/hello.wasm' '%s' && head -c 8388608 /dev/urandom >> '%s'", kq_test_examples_dir(),
           big, big);
  assert_int_equal(system(cmd), 0);
  char dg[80], layer[256];
  assert_int_equal(kq_test_registry_push(reg, "single", "t/share-a:v1", big, dg), 0);
  assert_int_equal(kq_test_registry_script(reg, "tests/support/registry/share-layer.sh", "t/share-a:v1 t/share-b:v1",
                                           layer), 0);
  assert_true(kq_oci_digest_valid(layer));

  char a[256], b[256];
  snprintf(a, sizeof a, "%s/t/share-a:v1", kq_test_registry_host(reg));
  snprintf(b, sizeof b, "%s/t/share-b:v1", kq_test_registry_host(reg));
  if_clear(&E.sink);
  const char *imgs[2] = {a, b};
  for (int i = 0; i < 2; i++) {
    kq_image_request_t rq = {.image = imgs[i], .policy = KQ_PULL_IF_NOT_PRESENT, .reply_to = E.aid,
                             .reply_id = GOT_IMAGE, .cookie = (uint64_t)i};
    assert_int_equal(kq_image_service_request(E.svc, &rq), KQ_OK);
  }
  if_wait_t w = {&E.sink, 2};
  assert_true(if_run_until(E.base, if_replies, &w, 60000));
  for (size_t i = 0; i < 2; i++)
    if (E.sink.r[i]->rc != KQ_OK) fail_msg("pull %zu: %s", i, E.sink.r[i]->message);
  /* two images (different manifests, configs) ... */
  assert_string_not_equal(E.sink.r[0]->art.digest, E.sink.r[1]->art.digest);
  assert_int_equal(kq_image_service_pulls(E.svc), 2);
  /* ... one download of the shared layer between them */
  assert_int_equal(blob_gets("t/share-a", layer) + blob_gets("t/share-b", layer), 1);
  /* and the same module, described by its own digest in both replies */
  char want[72];
  assert_int_equal(kq_oci_sha256_file(big, want, NULL), KQ_OK);
  assert_string_equal(E.sink.r[0]->art.module_digest, want);
  assert_string_equal(E.sink.r[1]->art.module_digest, want);
  unlink(big);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_shared_layer_fetched_once)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
