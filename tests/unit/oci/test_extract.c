/* Safe extraction: good layers in every encoding, whiteouts, and hostile tars refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>

#include "kq_error.h"
#include "kq_oci_extract.h"
#include "oci_fixture.h"

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  static char buf[4096];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

static void test_good_layers(void **st) {
  (void)st;
  char *d = fx_tmpdir();
  char tar[512], root[512], p[600];
  snprintf(root, sizeof root, "%s/root", d);
  mkdir(root, 0755);
  fx_entry_t l1[] = {
    {"./", AE_IFDIR, NULL, 0}, {"pkg/", AE_IFDIR, NULL, 0}, {"pkg/a.js", AE_IFREG, "glue", 0},
    {"./hello.wasm", AE_IFREG, "\0asm", 0}, {"old.txt", AE_IFREG, "old", 0},
    {"opq/x", AE_IFREG, "x", 0}, {"link", AE_IFLNK, "pkg/a.js", 0}, {"hard", 0, "pkg/a.js", 0},
    {"pkg/up", AE_IFLNK, "../hello.wasm", 0},
  };
  for (int filter = 0; filter < 3; filter++) {
    snprintf(tar, sizeof tar, "%s/l1.%d", d, filter);
    fx_tar(tar, filter, l1, sizeof l1 / sizeof l1[0]);
    uint64_t w = 0;
    char err[256] = "";
    kq_oci_layer_kind_t k = filter == 0 ? KQ_OCI_LAYER_TAR : filter == 1 ? KQ_OCI_LAYER_TAR_GZIP : KQ_OCI_LAYER_TAR_ZSTD;
    int rc = kq_oci_extract_layer(tar, k, root, NULL, NULL, &w, err, sizeof err);
    if (rc != KQ_OK) fail_msg("filter %d: %s", filter, err);
    assert_true(w >= 4 + 3 + 1);
  }
  snprintf(p, sizeof p, "%s/pkg/a.js", root);
  assert_string_equal(slurp(p), "glue");
  snprintf(p, sizeof p, "%s/hard", root);
  assert_string_equal(slurp(p), "glue");
  struct stat sb;
  assert_int_equal(stat(p, &sb), 0);
  assert_int_equal(sb.st_mode & 07000, 0);   /* setuid dropped */
  /* second layer: whiteout old.txt, opaque opq/, add new */
  fx_entry_t l2[] = {{".wh.old.txt", AE_IFREG, "", 0}, {"opq/.wh..wh..opq", AE_IFREG, "", 0},
                     {"opq/y", AE_IFREG, "y", 0}};
  snprintf(tar, sizeof tar, "%s/l2", d);
  fx_tar(tar, 1, l2, 3);
  char err[256] = "";
  assert_int_equal(kq_oci_extract_layer(tar, KQ_OCI_LAYER_TAR_GZIP, root, NULL, NULL, NULL, err, sizeof err), KQ_OK);
  snprintf(p, sizeof p, "%s/old.txt", root);
  assert_int_equal(access(p, F_OK), -1);
  snprintf(p, sizeof p, "%s/opq/x", root);
  assert_int_equal(access(p, F_OK), -1);
  snprintf(p, sizeof p, "%s/opq/y", root);
  assert_string_equal(slurp(p), "y");
  /* raw wasm layer */
  snprintf(tar, sizeof tar, "%s/raw", d);
  fx_write(tar, "\0asmRAW");
  assert_int_equal(kq_oci_extract_layer(tar, KQ_OCI_LAYER_WASM, root, "app.wasm", NULL, NULL, err, sizeof err), KQ_OK);
  snprintf(p, sizeof p, "%s/app.wasm", root);
  assert_int_equal(access(p, F_OK), 0);
  assert_int_equal(kq_oci_extract_layer(tar, KQ_OCI_LAYER_WASM, root, "../x.wasm", NULL, NULL, err, sizeof err), KQ_ESECURITY);
  assert_int_equal(kq_oci_extract_layer(tar, KQ_OCI_LAYER_UNKNOWN, root, NULL, NULL, NULL, err, sizeof err), KQ_ENOTSUP);
  fx_rmrf(d);
  free(d);
}

static void test_hostile(void **st) {
  (void)st;
  static const struct { const char *name; fx_entry_t ents[3]; size_t n; int want; } cases[] = {
    {"absolute", {{"/etc/evil", AE_IFREG, "x", 0}}, 1, KQ_ESECURITY},
    {"dotdot", {{"a/../../evil", AE_IFREG, "x", 0}}, 1, KQ_ESECURITY},
    {"dotdot-dir", {{"../", AE_IFDIR, NULL, 0}}, 1, KQ_ESECURITY},
    {"symlink-abs", {{"l", AE_IFLNK, "/etc/passwd", 0}}, 1, KQ_ESECURITY},
    {"symlink-up", {{"a/l", AE_IFLNK, "../../x", 0}}, 1, KQ_ESECURITY},
    {"write-through-symlink", {{"l", AE_IFLNK, ".", 0}, {"l/evil", AE_IFREG, "x", 0}}, 2, KQ_ESECURITY},
    {"symlink-chain", {{"d/l", AE_IFLNK, "..", 0}, {"d/l/x", AE_IFLNK, "..", 0}}, 2, KQ_ESECURITY},
    {"hardlink-out", {{"h", 0, "../../etc/passwd", 0}}, 1, KQ_ESECURITY},
    {"hardlink-abs", {{"h", 0, "/etc/passwd", 0}}, 1, KQ_ESECURITY},
    {"hardlink-via-symlink", {{"l", AE_IFLNK, ".", 0}, {"h", 0, "l/x", 0}}, 2, KQ_ESECURITY},
    {"chardev", {{"dev", AE_IFCHR, NULL, 0}}, 1, KQ_ESECURITY},
    {"fifo", {{"fifo", AE_IFIFO, NULL, 0}}, 1, KQ_ESECURITY},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *d = fx_tmpdir();
    char tar[512], root[512], err[256] = "";
    snprintf(root, sizeof root, "%s/root", d);
    mkdir(root, 0755);
    snprintf(tar, sizeof tar, "%s/evil.tar", d);
    fx_tar(tar, 1, cases[i].ents, cases[i].n);
    int rc = kq_oci_extract_layer(tar, KQ_OCI_LAYER_TAR_GZIP, root, NULL, NULL, NULL, err, sizeof err);
    if (rc != cases[i].want) fail_msg("%s: rc %d (%s)", cases[i].name, rc, err);
    assert_true(err[0] != '\0');
    char p[600];
    snprintf(p, sizeof p, "%s/evil", d);
    assert_int_equal(access(p, F_OK), -1);   /* nothing escaped next to root */
    fx_rmrf(d);
    free(d);
  }
}

static void test_limits(void **st) {
  (void)st;
  char *d = fx_tmpdir();
  char tar[512], root[512], err[256] = "";
  snprintf(root, sizeof root, "%s/root", d);
  mkdir(root, 0755);
  static char block[4096];
  memset(block, 'z', sizeof block - 1);
  /* 64 MiB of 'z' gzipped is ~64 KiB: ratio ~1000 */
  fx_entry_t bomb[] = {{"bomb", AE_IFREG, block, 16384}};
  snprintf(tar, sizeof tar, "%s/bomb.tgz", d);
  fx_tar(tar, 1, bomb, 1);
  assert_int_equal(kq_oci_extract_layer(tar, KQ_OCI_LAYER_TAR_GZIP, root, NULL, NULL, NULL, err, sizeof err), KQ_ETOOBIG);
  assert_non_null(strstr(err, "ratio"));
  kq_oci_extract_limits_t lim = {.max_bytes = 10000, .max_ratio = 100000};
  assert_int_equal(kq_oci_extract_layer(tar, KQ_OCI_LAYER_TAR_GZIP, root, NULL, &lim, NULL, err, sizeof err), KQ_ETOOBIG);
  fx_entry_t many[] = {{"a", AE_IFREG, "1", 0}, {"b", AE_IFREG, "2", 0}, {"c", AE_IFREG, "3", 0}};
  snprintf(tar, sizeof tar, "%s/many.tar", d);
  fx_tar(tar, 0, many, 3);
  lim = (kq_oci_extract_limits_t){.max_entries = 2};
  assert_int_equal(kq_oci_extract_layer(tar, KQ_OCI_LAYER_TAR, root, NULL, &lim, NULL, err, sizeof err), KQ_ETOOBIG);
  /* garbage */
  snprintf(tar, sizeof tar, "%s/garbage", d);
  fx_write(tar, "this is not a tar file at all, not even close................");
  assert_int_equal(kq_oci_extract_layer(tar, KQ_OCI_LAYER_TAR_GZIP, root, NULL, NULL, NULL, err, sizeof err), KQ_EPARSE);
  fx_rmrf(d);
  free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_good_layers), cmocka_unit_test(test_hostile), cmocka_unit_test(test_limits)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
