/* Image actors + pull state machine against a real registry: index / single / artifact / pkg
 * images, missing tag and platform, digest mismatch, wrong credentials, registry down then up,
 * concurrent pulls sharing one fetch, pull policies, invalid names. */
#include "image_fixture.h"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>

#include "kq_oci_digest.h"
#include "kq_test_registry.h"

typedef struct fx {
  kq_test_registry_t *reg, *areg;
} fx_t;

static if_env_t E;
static fx_t *F;

static uint64_t now_ms(void) { return kq_test_now_ms(); }
static void clear_replies(void) { if_clear(&E.sink); }
static bool run_until(bool (*cond)(const void *), const void *ud, unsigned ms) {
  return if_run_until(E.base, cond, ud, ms);
}
static bool replies_at_least(const void *ud) {
  if_wait_t w = {&E.sink, *(const size_t *)ud};
  return if_replies(&w);
}

static kq_image_reply_t *ask(const char *image, kq_pull_policy_t pol, const char *secret, const char *type,
                             const char *path) {
  return if_ask_ex(E.base, E.svc, &E.sink, E.aid, image, pol, secret, type, path);
}

static char *img(kq_test_registry_t *r, const char *name) {
  static char buf[4][256];
  static int k;
  char *b = buf[k++ % 4];
  snprintf(b, 256, "%s/%s", kq_test_registry_host(r), name);
  return b;
}

static void push(kq_test_registry_t *r, const char *form, const char *name, const char *input, char *digest) {
  char dg[80];
  if (kq_test_registry_push(r, form, name, input, digest ? digest : dg) != 0) fail_msg("push %s failed", name);
}

static const char *ex(const char *rel) {
  static char p[4][512];
  static int k;
  char *b = p[k++ % 4];
  snprintf(b, 512, "%s/%s", kq_test_examples_dir(), rel);
  return b;
}

static int setup(void **state) {
  F = KQ_NEW(fx_t);
  if_env_open(&E, 0, 2);
  F->reg = kq_test_registry_start(NULL);
  kq_test_registry_opts_t ao = {.user = "kuack", .pass = "s3cret"};
  F->areg = kq_test_registry_start(&ao);
  const char *insecure[] = {kq_test_registry_host(F->reg), kq_test_registry_host(F->areg)};
  if_env_start(&E, (kq_image_service_opts_t){.insecure = insecure, .ninsecure = 2, .max_retries = 2,
                                             .retry_backoff_ns = KQ_MS(20),
                                             .fail_backoff_ns = KQ_MS(300)});
  kq_test_examples_dir();
  *state = F;
  return 0;
}

static int teardown(void **state) {
  if_env_stop(&E);
  if_env_close(&E);
  kq_test_registry_free(F->reg);
  kq_test_registry_free(F->areg);
  free(F);
  return 0;
}

static void assert_file(const kq_image_reply_t *r, const char *rel) {
  char p[PATH_MAX + 1100];
  snprintf(p, sizeof p, "%s/%s", r->root, rel);
  struct stat st;
  if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) fail_msg("missing %s", p);
}

static bool has_env(const kq_image_reply_t *r, const char *kv) {
  for (size_t i = 0; i < r->art.nenv; i++)
    if (strcmp(r->art.env[i], kv) == 0) return true;
  return false;
}

static void test_pull_forms(void **st) {
  (void)st;
  char dg[80];
  push(F->reg, "index", "t/idx:v1", ex("hello.wasm"), NULL);
  kq_image_reply_t *r = ask(img(F->reg, "t/idx:v1"), KQ_PULL_IF_NOT_PRESENT, NULL, NULL, NULL);
  if (r->rc != KQ_OK) fail_msg("index: %s", r->message);
  assert_int_equal(r->art.kind, KQ_OCI_KIND_WASI);
  assert_string_equal(r->art.module, "hello.wasm");
  assert_true(has_env(r, "GREETING=from-image"));
  assert_int_equal(r->art.nentrypoint, 1);
  assert_string_equal(r->art.entrypoint[0], "/hello.wasm");
  assert_true(kq_oci_digest_valid(r->art.digest));
  assert_file(r, r->art.module);

  push(F->reg, "single", "t/single:v1", ex("cpujob.wasm"), dg);
  r = ask(img(F->reg, "t/single:v1"), KQ_PULL_ALWAYS, NULL, NULL, NULL);
  if (r->rc != KQ_OK) fail_msg("single: %s", r->message);
  assert_string_equal(r->art.module, "cpujob.wasm");
  assert_string_equal(r->art.digest, dg);   /* single manifest: imageID is the pushed digest */

  push(F->reg, "artifact", "t/art:v1", ex("hello.wasm"), NULL);
  r = ask(img(F->reg, "t/art:v1"), KQ_PULL_IF_NOT_PRESENT, NULL, NULL, NULL);
  if (r->rc != KQ_OK) fail_msg("artifact: %s", r->message);
  assert_int_equal(r->art.kind, KQ_OCI_KIND_WASI);
  assert_string_equal(r->art.module, "hello.wasm");
  assert_file(r, "hello.wasm");

  push(F->reg, "index", "t/pkg:v1", ex("bindgen-hello/pkg"), NULL);
  r = ask(img(F->reg, "t/pkg:v1"), KQ_PULL_IF_NOT_PRESENT, NULL, NULL, NULL);
  if (r->rc != KQ_OK) fail_msg("pkg: %s", r->message);
  assert_int_equal(r->art.kind, KQ_OCI_KIND_BINDGEN);
  assert_string_equal(r->art.glue, "pkg/hello.js");
  assert_string_equal(r->art.module, "pkg/hello_bg.wasm");
  assert_file(r, "pkg/hello_bg.wasm");
  /* annotation override on a cached image: wasm-type wasi + path */
  r = ask(img(F->reg, "t/pkg:v1"), KQ_PULL_NEVER, NULL, "wasi", "pkg/hello_bg.wasm");
  assert_int_equal(r->rc, KQ_OK);
  assert_int_equal(r->art.kind, KQ_OCI_KIND_WASI);
  /* the override's module is hashed (on the pool) for the reply */
  char path[PATH_MAX + 1100], want[72];
  snprintf(path, sizeof path, "%s/pkg/hello_bg.wasm", r->root);
  assert_int_equal(kq_oci_sha256_file(path, want, NULL), KQ_OK);
  assert_string_equal(r->art.module_digest, want);
  /* an artefact stored without module_digest (older meta.json) gets it computed for the reply */
  uint64_t preps = kq_image_service_preps(E.svc);
  char meta[PATH_MAX + 16], cmd[4 * (PATH_MAX + 16) + 200];
  snprintf(meta, sizeof meta, "%s/../meta.json", r->root);
  snprintf(cmd, sizeof cmd, "jq -c 'del(.module_digest, .module_size)' '%s' > '%s.new' && mv '%s.new' '%s'", meta, meta,
           meta, meta);
  assert_int_equal(system(cmd), 0);
  r = ask(img(F->reg, "t/pkg:v1"), KQ_PULL_NEVER, NULL, NULL, NULL);
  assert_int_equal(r->rc, KQ_OK);
  assert_int_equal(kq_image_service_preps(E.svc), preps + 1);
  snprintf(path, sizeof path, "%s/%s", r->root, r->art.module);
  assert_int_equal(kq_oci_sha256_file(path, want, NULL), KQ_OK);
  assert_string_equal(r->art.module_digest, want);
  assert_true(r->art.module_size > 0);
  r = ask(img(F->reg, "t/pkg:v1"), KQ_PULL_NEVER, NULL, NULL, "nope.wasm");
  assert_int_equal(r->reason, KQ_OCI_REASON_ERR_IMAGE_PULL);
  assert_non_null(strstr(r->message, "nope.wasm"));
}

static void test_errors(void **st) {
  (void)st;
  kq_image_reply_t *r = ask(img(F->reg, "t/idx:missing"), KQ_PULL_IF_NOT_PRESENT, NULL, NULL, NULL);
  assert_int_equal(r->reason, KQ_OCI_REASON_ERR_IMAGE_PULL);
  assert_non_null(strstr(r->message, "not found"));
  r = ask(img(F->reg, "t/idx:missing"), KQ_PULL_IF_NOT_PRESENT, NULL, NULL, NULL);
  assert_int_equal(r->reason, KQ_OCI_REASON_BACKOFF);

  push(F->reg, "linux", "t/linux:v1", ex("hello.wasm"), NULL);
  r = ask(img(F->reg, "t/linux:v1"), KQ_PULL_IF_NOT_PRESENT, NULL, NULL, NULL);
  assert_int_equal(r->reason, KQ_OCI_REASON_ERR_IMAGE_PULL);
  assert_non_null(strstr(r->message, "linux/amd64"));

  r = ask("Bad Name", KQ_PULL_IF_NOT_PRESENT, NULL, NULL, NULL);
  assert_int_equal(r->reason, KQ_OCI_REASON_INVALID_NAME);
  assert_string_equal(kq_oci_reason_str(r->reason), "InvalidImageName");

  r = ask(img(F->reg, "t/never:v1"), KQ_PULL_NEVER, NULL, NULL, NULL);
  assert_int_equal(r->reason, KQ_OCI_REASON_NEVER_PULL);
  assert_string_equal(kq_oci_reason_str(r->reason), "ErrImageNeverPull");
}

static void test_digest_mismatch(void **st) {
  (void)st;
  /* a unique module so its layer is not already in the store */
  char mod[600], cmd[1400];
  snprintf(mod, sizeof mod, "%s/corrupt.wasm", kq_test_examples_dir());
  snprintf(cmd, sizeof cmd, "cp '%s' '%s' && printf 'x%d' >> '%s'", ex("hello.wasm"), mod, (int)getpid(), mod);
  assert_int_equal(system(cmd), 0);
  push(F->reg, "single", "t/corrupt:v1", mod, NULL);
  /* corrupt every layer blob linked to the repository, keeping the size */
  char dir[600];
  snprintf(dir, sizeof dir, "%s/docker/registry/v2/repositories/t/corrupt/_layers/sha256", kq_test_registry_storage(F->reg));
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *de;
  int n = 0;
  while ((de = readdir(d))) {
    if (strlen(de->d_name) != 64) continue;
    char dg[80];
    snprintf(dg, sizeof dg, "sha256:%s", de->d_name);
    FILE *f = fopen(kq_test_registry_blob_file(F->reg, dg), "r+b");
    assert_non_null(f);
    fseek(f, -1, SEEK_END);
    int c = fgetc(f);
    fseek(f, -1, SEEK_END);
    fputc(c ^ 0x55, f);
    fclose(f);
    n++;
  }
  closedir(d);
  assert_true(n >= 2);
  kq_image_reply_t *r = ask(img(F->reg, "t/corrupt:v1"), KQ_PULL_IF_NOT_PRESENT, NULL, NULL, NULL);
  assert_int_equal(r->reason, KQ_OCI_REASON_ERR_IMAGE_PULL);
  assert_int_equal(r->rc, KQ_EDIGEST);
  /* nothing half-written: staging folder empty */
  char tmp[128];
  snprintf(tmp, sizeof tmp, "%s/tmp", E.cache);
  d = opendir(tmp);
  int left = 0;
  while ((de = readdir(d)))
    if (de->d_name[0] != '.') left++;
  closedir(d);
  assert_int_equal(left, 0);
}

static void test_credentials(void **st) {
  (void)st;
  push(F->areg, "index", "t/private:v1", ex("hello.wasm"), NULL);
  char good[300], bad[300];
  snprintf(good, sizeof good, "{\"auths\":{\"%s\":{\"username\":\"kuack\",\"password\":\"s3cret\"}}}", kq_test_registry_host(F->areg));
  snprintf(bad, sizeof bad, "{\"auths\":{\"%s\":{\"username\":\"kuack\",\"password\":\"wrong\"}}}", kq_test_registry_host(F->areg));
  kq_image_reply_t *r = ask(img(F->areg, "t/private:v1"), KQ_PULL_ALWAYS, NULL, NULL, NULL);
  assert_int_equal(r->reason, KQ_OCI_REASON_ERR_IMAGE_PULL);
  assert_non_null(strstr(r->message, "requires credentials"));
  r = ask(img(F->areg, "t/private:v2"), KQ_PULL_ALWAYS, bad, NULL, NULL);
  assert_int_equal(r->reason, KQ_OCI_REASON_ERR_IMAGE_PULL);
  assert_non_null(strstr(r->message, "refused the credentials"));
  r = ask(img(F->areg, "t/private:v1@sha256:0000000000000000000000000000000000000000000000000000000000000000"),
          KQ_PULL_ALWAYS, good, NULL, NULL);
  assert_int_equal(r->reason, KQ_OCI_REASON_ERR_IMAGE_PULL);   /* unknown digest */
  push(F->areg, "index", "t/private2:v1", ex("hello.wasm"), NULL);
  r = ask(img(F->areg, "t/private2:v1"), KQ_PULL_ALWAYS, good, NULL, NULL);
  if (r->rc != KQ_OK) fail_msg("good creds: %s", r->message);
}

static void test_concurrent_and_down(void **st) {
  (void)st;
  push(F->reg, "index", "t/conc:v1", ex("cpujob.wasm"), NULL);
  size_t before = kq_test_registry_count(F->reg, "GET /v2/t/conc/manifests/v1");
  uint64_t pulls = kq_image_service_pulls(E.svc);
  clear_replies();
  for (int i = 0; i < 5; i++) {
    kq_image_request_t rq = {.image = img(F->reg, "t/conc:v1"), .policy = KQ_PULL_ALWAYS, .reply_to = E.aid,
                             .reply_id = GOT_IMAGE, .cookie = (uint64_t)i};
    kq_image_service_request(E.svc, &rq);
  }
  size_t five = 5;
  assert_true(run_until(replies_at_least, &five, 60000));
  for (int i = 0; i < 5; i++) assert_int_equal(E.sink.r[i]->rc, KQ_OK);
  assert_int_equal(kq_image_service_pulls(E.svc), pulls + 1);
  assert_int_equal(kq_test_registry_count(F->reg, "GET /v2/t/conc/manifests/v1"), before + 1);

  /* registry down: ErrImagePull after retries, then back-off; up again: pull works */
  push(F->reg, "index", "t/down:v1", ex("hello.wasm"), NULL);
  kq_test_registry_stop(F->reg);
  kq_image_reply_t *r = ask(img(F->reg, "t/down:v1"), KQ_PULL_IF_NOT_PRESENT, NULL, NULL, NULL);
  assert_int_equal(r->reason, KQ_OCI_REASON_ERR_IMAGE_PULL);
  assert_non_null(strstr(r->message, "unreachable"));
  r = ask(img(F->reg, "t/down:v1"), KQ_PULL_IF_NOT_PRESENT, NULL, NULL, NULL);
  assert_int_equal(r->reason, KQ_OCI_REASON_BACKOFF);
  kq_test_registry_restart(F->reg);
  uint64_t until = now_ms() + 400;   /* the back-off window (300 ms) must pass */
  while (now_ms() < until) event_base_loop(E.base, EVLOOP_NONBLOCK);
  r = ask(img(F->reg, "t/down:v1"), KQ_PULL_IF_NOT_PRESENT, NULL, NULL, NULL);
  if (r->rc != KQ_OK) fail_msg("after restart: %s", r->message);
  /* cached now: Never works */
  r = ask(img(F->reg, "t/down:v1"), KQ_PULL_NEVER, NULL, NULL, NULL);
  assert_int_equal(r->rc, KQ_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_pull_forms), cmocka_unit_test(test_errors), cmocka_unit_test(test_digest_mismatch),
    cmocka_unit_test(test_credentials), cmocka_unit_test(test_concurrent_and_down)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
