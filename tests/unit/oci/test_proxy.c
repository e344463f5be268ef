/* Registry proxy tokens: sign/verify round trip, bad/expired/foreign/malformed, resolve. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>

#include "kq_error.h"
#include "kq_proxy.h"
#include "oci_fixture.h"

#define DG(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static void test_tokens(void **st) {
  (void)st;
  kq_proxy_key_t k, other;
  kq_proxy_key_init(&k, "node-secret", 11);
  assert_int_equal(kq_proxy_key_random(&other), KQ_OK);
  char *url = kq_proxy_sign(&k, "run-1", DG("a"), "pkg/hello_bg.wasm", 1000);
  assert_non_null(url);
  assert_true(strncmp(url, "/artefacts/" DG("a") "/pkg/hello_bg.wasm?run=run-1&exp=1000&kid=", 100) == 0);
  kq_proxy_req_t r;
  assert_int_equal(kq_proxy_verify(&k, url, 999, &r), KQ_PROXY_OK);
  assert_string_equal(r.file, "pkg/hello_bg.wasm");
  assert_string_equal(r.run, "run-1");
  assert_int_equal(kq_proxy_verify(&k, url, 1000, &r), KQ_PROXY_OK);
  assert_int_equal(kq_proxy_verify(&k, url, 1001, &r), KQ_PROXY_EXPIRED);
  assert_int_equal(kq_proxy_verify(&other, url, 5, &r), KQ_PROXY_FOREIGN);
  /* same kid, tampered fields */
  char t[2048];
  snprintf(t, sizeof t, "%s", url);
  char *sig = strstr(t, "sig=") + 4;
  sig[0] = sig[0] == 'a' ? 'b' : 'a';
  assert_int_equal(kq_proxy_verify(&k, t, 5, &r), KQ_PROXY_BAD_SIG);
  snprintf(t, sizeof t, "%s", url);
  memcpy(strstr(t, "run=run-1") + 8, "2", 1);
  assert_int_equal(kq_proxy_verify(&k, t, 5, &r), KQ_PROXY_BAD_SIG);
  snprintf(t, sizeof t, "%s", url);
  memcpy(strstr(t, "exp=1000"), "exp=9000", 8);
  assert_int_equal(kq_proxy_verify(&k, t, 5, &r), KQ_PROXY_BAD_SIG);
  /* a token for digest a used on digest b */
  snprintf(t, sizeof t, "/artefacts/" DG("b") "%s", strstr(url, "/pkg/"));
  assert_int_equal(kq_proxy_verify(&k, t, 5, &r), KQ_PROXY_BAD_SIG);
  /* another file of the same artefact is covered */
  snprintf(t, sizeof t, "/artefacts/" DG("a") "/pkg/hello.js%s", strchr(url, '?'));
  assert_int_equal(kq_proxy_verify(&k, t, 5, &r), KQ_PROXY_OK);
  free(url);
  static const char *malformed[] = {
    "/", "/artefacts/", "/artefacts/sha256:zz/f?run=a&exp=1&kid=00000000&sig=" DG("0"),
    "/artefacts/" DG("a") "/../x?run=a&exp=1&kid=00000000&sig=" "0000000000000000000000000000000000000000000000000000000000000000",
    "/artefacts/" DG("a") "/%2e%2e/x?run=a&exp=1&kid=00000000&sig=0000000000000000000000000000000000000000000000000000000000000000",
    "/artefacts/" DG("a") "/x%00y?run=a&exp=1&kid=00000000&sig=0000000000000000000000000000000000000000000000000000000000000000",
    "/artefacts/" DG("a") "/x?exp=1&kid=00000000&sig=0000000000000000000000000000000000000000000000000000000000000000",
    "/artefacts/" DG("a") "/x?run=a&exp=-1&kid=00000000&sig=0000000000000000000000000000000000000000000000000000000000000000",
    "/artefacts/" DG("a") "/x?run=a&exp=1&kid=00000000&sig=zz",
    "/artefacts/" DG("a") "/x?run=a b&exp=1&kid=00000000&sig=0000000000000000000000000000000000000000000000000000000000000000",
    "/artefacts/" DG("a") "/x",
    "/artefacts/" DG("a") "/x?run=a&exp=1&kid=00000000&sig=000000000000000000000000000000000000000000000000000000000000000%",
  };
  for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
    if (kq_proxy_verify(&k, malformed[i], 0, &r) != KQ_PROXY_MALFORMED) fail_msg("accepted %zu", i);
  assert_null(kq_proxy_sign(&k, "bad run", DG("a"), "x", 1));
  assert_null(kq_proxy_sign(&k, "r", "sha256:x", "x", 1));
  assert_null(kq_proxy_sign(&k, "r", DG("a"), "../x", 1));
  assert_null(kq_proxy_sign(&k, "r", DG("a"), "/x", 1));
  url = kq_proxy_sign(&k, "r", DG("a"), "dir/with space.js", 7);
  assert_non_null(strstr(url, "with%20space.js?"));
  assert_int_equal(kq_proxy_verify(&k, url, 0, &r), KQ_PROXY_OK);
  assert_string_equal(r.file, "dir/with space.js");
  free(url);
  assert_string_equal(kq_proxy_mime("a/b.wasm"), "application/wasm");
  assert_string_equal(kq_proxy_mime("a.mjs"), "text/javascript");
  assert_string_equal(kq_proxy_mime("a.js"), "text/javascript");
  assert_string_equal(kq_proxy_mime("package.json"), "application/json");
  assert_string_equal(kq_proxy_mime("x.bin"), "application/octet-stream");
}

static void test_resolve(void **st) {
  (void)st;
  char *d = fx_tmpdir();
  int err;
  kq_oci_store_t *s = kq_oci_store_open(d, 0, &err);
  char tmp[PATH_MAX], p[PATH_MAX + 64];
  assert_int_equal(kq_oci_store_tmp_dir(s, tmp, sizeof tmp), KQ_OK);
  snprintf(p, sizeof p, "%s/root", tmp);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/root/m.wasm", tmp);
  fx_write(p, "asm!");
  snprintf(p, sizeof p, "%s/root/esc", tmp);
  assert_int_equal(symlink("/etc/hostname", p), 0);
  snprintf(p, sizeof p, "%s/root/in", tmp);
  assert_int_equal(symlink("m.wasm", p), 0);
  snprintf(p, sizeof p, "%s/root/sub", tmp);
  mkdir(p, 0755);
  kq_oci_artefact_t a = {.kind = KQ_OCI_KIND_WASI};
  snprintf(a.digest, sizeof a.digest, DG("e"));
  assert_int_equal(kq_oci_store_commit_artefact(s, tmp, &a), KQ_OK);
  char out[PATH_MAX];
  uint64_t size = 0;
  const char *mime = NULL;
  assert_int_equal(kq_proxy_resolve(s, DG("e"), "m.wasm", out, sizeof out, &size, &mime), KQ_OK);
  assert_int_equal(size, 4);
  assert_string_equal(mime, "application/wasm");
  assert_int_equal(kq_proxy_resolve(s, DG("e"), "in", out, sizeof out, &size, &mime), KQ_OK);
  assert_int_equal(kq_proxy_resolve(s, DG("e"), "esc", out, sizeof out, &size, &mime), KQ_ESECURITY);
  assert_int_equal(kq_proxy_resolve(s, DG("e"), "sub", out, sizeof out, &size, &mime), KQ_ESECURITY);
  assert_int_equal(kq_proxy_resolve(s, DG("e"), "../meta.json", out, sizeof out, &size, &mime), KQ_EINVAL);
  assert_int_equal(kq_proxy_resolve(s, DG("e"), "nope", out, sizeof out, &size, &mime), KQ_ENOENT);
  assert_int_equal(kq_proxy_resolve(s, DG("f"), "m.wasm", out, sizeof out, &size, &mime), KQ_ENOENT);
  kq_oci_store_close(s);
  fx_rmrf(d);
  free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_tokens), cmocka_unit_test(test_resolve)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
