/* Content store (atomic commits, LRU eviction, pins, re-index) and entry detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>

#include "kq_error.h"
#include "kq_oci_digest.h"
#include "kq_oci_extract.h"
#include "kq_oci_store.h"
#include "oci_fixture.h"

static void put_blob(kq_oci_store_t *s, const char *content, char digest[72]) {
  char tmp[PATH_MAX];
  int fd = kq_oci_store_tmp_file(s, tmp, sizeof tmp);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  close(fd);
  kq_oci_sha256_hex(content, strlen(content), digest);
  assert_int_equal(kq_oci_store_commit_blob(s, tmp, digest), KQ_OK);
}

static void put_artefact(kq_oci_store_t *s, const char *digest, size_t bytes) {
  char tmp[PATH_MAX], p[PATH_MAX + 32];
  assert_int_equal(kq_oci_store_tmp_dir(s, tmp, sizeof tmp), KQ_OK);
  snprintf(p, sizeof p, "%s/root", tmp);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/root/m.wasm", tmp);
  FILE *f = fopen(p, "wb");
  for (size_t i = 0; i < bytes; i++) fputc('w', f);
  fclose(f);
  kq_oci_artefact_t a = {0};
  snprintf(a.digest, sizeof a.digest, "%s", digest);
  a.kind = KQ_OCI_KIND_WASI;
  snprintf(a.module, sizeof a.module, "m.wasm");
  char *env[] = {"A=1"};
  a.env = env;
  a.nenv = 1;
  assert_int_equal(kq_oci_store_commit_artefact(s, tmp, &a), KQ_OK);
  assert_int_equal(access(tmp, F_OK), -1);
}

#define DG(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static void test_store(void **st) {
  (void)st;
  char *d = fx_tmpdir();
  int err;
  kq_oci_store_t *s = kq_oci_store_open(d, 0, &err);
  assert_non_null(s);
  char b1[72];
  put_blob(s, "hello blob", b1);
  assert_true(kq_oci_store_has_blob(s, b1));
  assert_false(kq_oci_store_has_blob(s, DG("0")));
  put_artefact(s, DG("a"), 1000);
  kq_oci_artefact_t a;
  assert_int_equal(kq_oci_store_artefact_get(s, DG("a"), &a), KQ_OK);
  assert_string_equal(a.module, "m.wasm");
  assert_int_equal(a.kind, KQ_OCI_KIND_WASI);
  assert_int_equal(a.nenv, 1);
  assert_string_equal(a.env[0], "A=1");
  assert_true(a.bytes >= 1000);
  kq_oci_artefact_free(&a);
  assert_int_equal(kq_oci_store_artefact_get(s, DG("b"), &a), KQ_ENOENT);
  assert_int_equal(kq_oci_store_ref_set(s, "docker.io/library/x:latest", DG("a")), KQ_OK);
  char dg[KQ_OCI_DIGEST_MAX];
  assert_int_equal(kq_oci_store_ref_get(s, "docker.io/library/x:latest", dg), KQ_OK);
  assert_string_equal(dg, DG("a"));
  assert_int_equal(kq_oci_store_ref_get(s, "other", dg), KQ_ENOENT);
  uint64_t before = kq_oci_store_bytes(s);
  kq_oci_store_close(s);

  /* re-index after restart; a half-written artefact (no meta.json) and tmp junk are dropped */
  char junk[PATH_MAX];
  snprintf(junk, sizeof junk, "%s/artefacts/sha256-%s", d, DG("c") + 7);
  mkdir(junk, 0755);
  snprintf(junk, sizeof junk, "%s/tmp/partial", d);
  fx_write(junk, "partial");
  s = kq_oci_store_open(d, 0, &err);
  assert_int_equal(kq_oci_store_bytes(s), before);
  assert_int_equal(kq_oci_store_count(s), 2);
  assert_int_equal(access(junk, F_OK), -1);
  assert_true(kq_oci_store_has_blob(s, b1));
  kq_oci_store_close(s);

  /* LRU eviction with a cap; pinned artefacts survive */
  s = kq_oci_store_open(d, 5000, &err);
  assert_int_equal(kq_oci_store_pin(s, DG("a")), KQ_OK);
  put_artefact(s, DG("b"), 2000);
  put_artefact(s, DG("c"), 2000);   /* total > 5000: oldest unpinned (blob, then b) go */
  assert_true(kq_oci_store_bytes(s) <= 5000);
  assert_int_equal(kq_oci_store_artefact_get(s, DG("a"), &a), KQ_OK);
  kq_oci_artefact_free(&a);
  assert_int_equal(kq_oci_store_artefact_get(s, DG("c"), &a), KQ_OK);
  kq_oci_artefact_free(&a);
  assert_false(kq_oci_store_has_blob(s, b1));
  assert_int_equal(kq_oci_store_artefact_get(s, DG("b"), &a), KQ_ENOENT);
  assert_int_equal(kq_oci_store_unpin(s, DG("a")), KQ_OK);
  assert_int_equal(kq_oci_store_unpin(s, DG("a")), KQ_ENOENT);
  kq_oci_store_close(s);
  fx_rmrf(d);
  free(d);
}

static void mk(const char *root, const char *rel, const char *data) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", p);
  *strrchr(dir, '/') = '\0';
  char cmd[PATH_MAX + 32];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  assert_int_equal(system(cmd), 0);
  fx_write(p, data);
}

static void test_entry(void **st) {
  (void)st;
  char *d = fx_tmpdir();
  kq_oci_artefact_t a = {0};
  char err[600];
  /* single wasm */
  mk(d, "app/x.wasm", "w");
  assert_int_equal(kq_oci_detect_entry(d, NULL, NULL, NULL, NULL, &a, err, sizeof err), KQ_OK);
  assert_string_equal(a.module, "app/x.wasm");
  assert_int_equal(a.kind, KQ_OCI_KIND_WASI);
  /* two → ambiguous, then original names break the tie */
  mk(d, "y.wasm", "w");
  assert_int_equal(kq_oci_detect_entry(d, NULL, NULL, NULL, NULL, &a, err, sizeof err), KQ_EBUSY);
  assert_non_null(strstr(err, "app/x.wasm"));
  assert_non_null(strstr(err, "kuack.io/wasm-path"));
  assert_int_equal(kq_oci_detect_entry(d, NULL, NULL, NULL, "y", &a, err, sizeof err), KQ_OK);
  assert_string_equal(a.module, "y.wasm");
  mk(d, "out.wasm", "w");
  assert_int_equal(kq_oci_detect_entry(d, NULL, NULL, NULL, "y", &a, err, sizeof err), KQ_OK);
  assert_string_equal(a.module, "out.wasm");
  /* config entrypoint wins */
  char *ep[] = {"/app/x.wasm"};
  kq_oci_config_t cfg = {.entrypoint = ep, .nentrypoint = 1};
  assert_int_equal(kq_oci_detect_entry(d, &cfg, NULL, NULL, NULL, &a, err, sizeof err), KQ_OK);
  assert_string_equal(a.module, "app/x.wasm");
  /* annotation path override; bad override */
  assert_int_equal(kq_oci_detect_entry(d, &cfg, "wasi", "/y.wasm", NULL, &a, err, sizeof err), KQ_OK);
  assert_string_equal(a.module, "y.wasm");
  assert_int_equal(kq_oci_detect_entry(d, &cfg, NULL, "../etc/passwd", NULL, &a, err, sizeof err), KQ_EINVAL);
  assert_int_equal(kq_oci_detect_entry(d, &cfg, "docker", NULL, NULL, &a, err, sizeof err), KQ_EINVAL);
  assert_int_equal(kq_oci_detect_entry(d, &cfg, "bindgen", NULL, NULL, &a, err, sizeof err), KQ_ENOENT);
  /* pkg/ bundle wins over everything but overrides */
  mk(d, "pkg/package.json", "{\"name\":\"hello\",\"module\":\"hello.js\",\"types\":\"hello.d.ts\"}");
  mk(d, "pkg/hello.js", "export default async function init(){}");
  mk(d, "pkg/hello_bg.wasm", "w");
  assert_int_equal(kq_oci_detect_entry(d, &cfg, NULL, NULL, NULL, &a, err, sizeof err), KQ_OK);
  assert_int_equal(a.kind, KQ_OCI_KIND_BINDGEN);
  assert_string_equal(a.glue, "pkg/hello.js");
  assert_string_equal(a.module, "pkg/hello_bg.wasm");
  assert_int_equal(kq_oci_detect_entry(d, &cfg, "bindgen", "pkg/hello_bg.wasm", NULL, &a, err, sizeof err), KQ_OK);
  assert_string_equal(a.glue, "pkg/hello.js");
  assert_int_equal(kq_oci_detect_entry(d, &cfg, "wasi", NULL, NULL, &a, err, sizeof err), KQ_OK);
  assert_string_equal(a.module, "app/x.wasm");
  /* symlinked override escaping the root is refused */
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/esc.wasm", d);
  assert_int_equal(symlink("/etc/hostname", p), 0);
  assert_int_equal(kq_oci_detect_entry(d, NULL, NULL, "esc.wasm", NULL, &a, err, sizeof err), KQ_EINVAL);
  fx_rmrf(d);
  free(d);
  /* empty */
  d = fx_tmpdir();
  assert_int_equal(kq_oci_detect_entry(d, NULL, NULL, NULL, NULL, &a, err, sizeof err), KQ_ENOENT);
  fx_rmrf(d);
  free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_store), cmocka_unit_test(test_entry)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
