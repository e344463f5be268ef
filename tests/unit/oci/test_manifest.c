/* Manifest/index/config parsing and wasm platform selection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "kq_error.h"
#include "kq_oci_manifest.h"

#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define DA D("a")
#define DB D("b")
#define DC D("c")

static int select_in(const char *json, char *err, size_t errlen) {
  kq_oci_manifest_t m;
  int rc = kq_oci_manifest_parse(json, strlen(json), NULL, &m, err, errlen);
  if (rc != KQ_OK) return -100 + rc;
  rc = kq_oci_index_select_wasm(&m, err, errlen);
  kq_oci_manifest_free(&m);
  return rc;
}

#define ENTRY(d, os, arch, var) \
  "{\"mediaType\":\"" KQ_OCI_MT_OCI_MANIFEST "\",\"digest\":\"" d "\",\"size\":10,\"platform\":{\"os\":\"" os "\",\"architecture\":\"" arch "\"" var "}}"
#define INDEX(items) "{\"schemaVersion\":2,\"mediaType\":\"" KQ_OCI_MT_OCI_INDEX "\",\"manifests\":[" items "]}"

static void test_index_select(void **st) {
  (void)st;
  static const struct { const char *json; int want; } cases[] = {
    {INDEX(ENTRY(DA, "linux", "amd64", "") "," ENTRY(DB, "wasi", "wasm", "")), 1},
    {INDEX(ENTRY(DA, "wasip1", "wasm32", "") "," ENTRY(DB, "linux", "arm64", ",\"variant\":\"v8\"")), 0},
    {INDEX(ENTRY(DA, "wasip1", "wasm", "") "," ENTRY(DB, "wasi", "wasm", "")), 1},        /* exact wins */
    {INDEX(ENTRY(DA, "linux", "amd64", "") "," ENTRY(DB, "unknown", "wasm32", "")), 1},
    {INDEX(ENTRY(DA, "wasm32", "wasi", "")), 0},                                       /* swapped */
    {INDEX(ENTRY(DA, "", "wasm", "")), 0},
    {INDEX(ENTRY(DA, "linux", "wasm", "")), KQ_ENOENT},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char err[512] = "";
    int got = select_in(cases[i].json, err, sizeof err);
    if (got != cases[i].want) fail_msg("case %zu: got %d want %d (%s)", i, got, cases[i].want, err);
  }
  char err[512];
  assert_int_equal(select_in(INDEX(ENTRY(DA, "linux", "amd64", "") "," ENTRY(DB, "linux", "arm64", ",\"variant\":\"v8\"")), err, sizeof err), KQ_ENOENT);
  assert_non_null(strstr(err, "linux/amd64"));
  assert_non_null(strstr(err, "linux/arm64/v8"));
  assert_non_null(strstr(err, "no wasi/wasm variant"));
}

static void test_manifest_parse(void **st) {
  (void)st;
  const char *m1 = "{\"schemaVersion\":2,\"mediaType\":\"" KQ_OCI_MT_OCI_MANIFEST "\","
                   "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" DA "\",\"size\":5},"
                   "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" DB "\",\"size\":7},"
                   "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"" DC "\",\"size\":8}]}";
  kq_oci_manifest_t m;
  char err[256];
  assert_int_equal(kq_oci_manifest_parse(m1, strlen(m1), NULL, &m, err, sizeof err), KQ_OK);
  assert_int_equal(m.kind, KQ_OCI_DOC_MANIFEST);
  assert_int_equal(m.nitems, 2);
  assert_string_equal(m.config.digest, DA);
  assert_int_equal(m.items[1].size, 8);
  assert_int_equal(kq_oci_layer_kind(m.items[0].media_type), KQ_OCI_LAYER_TAR_GZIP);
  assert_int_equal(kq_oci_layer_kind(m.items[1].media_type), KQ_OCI_LAYER_TAR_ZSTD);
  assert_false(kq_oci_manifest_is_wasm_artifact(&m));
  kq_oci_manifest_free(&m);

  /* CNCF wasm artifact, mediaType only from Content-Type. */
  const char *art = "{\"schemaVersion\":2,\"artifactType\":\"" KQ_OCI_MT_WASM_CONFIG "\","
                    "\"config\":{\"mediaType\":\"" KQ_OCI_MT_WASM_CONFIG "\",\"digest\":\"" DA "\",\"size\":2},"
                    "\"layers\":[{\"mediaType\":\"application/wasm\",\"digest\":\"" DB "\",\"size\":9,"
                    "\"annotations\":{\"org.opencontainers.image.title\":\"app.wasm\"}}]}";
  assert_int_equal(kq_oci_manifest_parse(art, strlen(art), KQ_OCI_MT_OCI_MANIFEST "; charset=utf-8", &m, err, sizeof err), KQ_OK);
  assert_string_equal(m.media_type, KQ_OCI_MT_OCI_MANIFEST);
  assert_true(kq_oci_manifest_is_wasm_artifact(&m));
  assert_string_equal(m.items[0].title, "app.wasm");
  assert_int_equal(kq_oci_layer_kind(m.items[0].media_type), KQ_OCI_LAYER_WASM);
  kq_oci_manifest_free(&m);

  /* Docker manifest list. */
  const char *dl = "{\"schemaVersion\":2,\"mediaType\":\"" KQ_OCI_MT_DOCKER_LIST "\",\"manifests\":[" ENTRY(DA, "wasi", "wasm", "") "]}";
  assert_int_equal(kq_oci_manifest_parse(dl, strlen(dl), NULL, &m, err, sizeof err), KQ_OK);
  assert_int_equal(m.kind, KQ_OCI_DOC_INDEX);
  assert_string_equal(m.items[0].os, "wasi");
  kq_oci_manifest_free(&m);
}

static void test_manifest_bad(void **st) {
  (void)st;
  static const struct { const char *json; int want; } cases[] = {
    {"", KQ_EPARSE},
    {"[]", KQ_EPARSE},
    {"{\"schemaVersion\":1,\"fsLayers\":[]}", KQ_ENOTSUP},
    {"{\"schemaVersion\":2}", KQ_ENOTSUP},
    {"{\"mediaType\":\"" KQ_OCI_MT_OCI_INDEX "\"}", KQ_EPARSE},
    {"{\"mediaType\":\"" KQ_OCI_MT_OCI_INDEX "\",\"manifests\":[{\"digest\":\"sha256:zz\"}]}", KQ_EPARSE},
    {"{\"mediaType\":\"" KQ_OCI_MT_OCI_INDEX "\",\"manifests\":[{\"digest\":\"" DA "\",\"size\":-1}]}", KQ_EPARSE},
    {"{\"mediaType\":\"" KQ_OCI_MT_OCI_INDEX "\",\"manifests\":[{\"digest\":\"" DA "\",\"platform\":7}]}", KQ_EPARSE},
    {"{\"mediaType\":\"" KQ_OCI_MT_OCI_MANIFEST "\",\"layers\":[]}", KQ_EPARSE},
    {"{\"mediaType\":5,\"layers\":[]}", KQ_EPARSE},
    {"{\"mediaType\":\"" KQ_OCI_MT_OCI_MANIFEST "\",\"config\":{\"digest\":\"" DA "\"},\"layers\":{}}", KQ_EPARSE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kq_oci_manifest_t m;
    char err[256] = "";
    int rc = kq_oci_manifest_parse(cases[i].json, strlen(cases[i].json), NULL, &m, err, sizeof err);
    if (rc != cases[i].want) fail_msg("case %zu: rc %d want %d", i, rc, cases[i].want);
    assert_true(err[0] != '\0');
  }
}

static void test_config(void **st) {
  (void)st;
  const char *c = "{\"architecture\":\"wasm\",\"os\":\"wasi\",\"config\":{\"Entrypoint\":[\"/hello.wasm\"],"
                  "\"Cmd\":[\"a\",\"b\"],\"Env\":[\"GREETING=hi\",\"X=1\"],\"WorkingDir\":\"/w\"}}";
  kq_oci_config_t cfg;
  char err[256];
  assert_int_equal(kq_oci_config_parse(c, strlen(c), &cfg, err, sizeof err), KQ_OK);
  assert_string_equal(cfg.os, "wasi");
  assert_true(kq_oci_platform_is_wasm(cfg.os, cfg.arch, cfg.variant));
  assert_int_equal(cfg.nentrypoint, 1);
  assert_string_equal(cfg.entrypoint[0], "/hello.wasm");
  assert_int_equal(cfg.ncmd, 2);
  assert_string_equal(cfg.env[0], "GREETING=hi");
  assert_string_equal(cfg.working_dir, "/w");
  kq_oci_config_free(&cfg);
  const char *bad = "{\"config\":{\"Env\":[1]}}";
  assert_int_equal(kq_oci_config_parse(bad, strlen(bad), &cfg, err, sizeof err), KQ_EPARSE);
  const char *wasmcfg = "{\"created\":\"x\",\"architecture\":\"wasm\",\"os\":\"wasip1\",\"layerDigests\":[]}";
  assert_int_equal(kq_oci_config_parse(wasmcfg, strlen(wasmcfg), &cfg, err, sizeof err), KQ_OK);
  assert_true(kq_oci_platform_is_wasm(cfg.os, cfg.arch, cfg.variant));
  kq_oci_config_free(&cfg);
  assert_false(kq_oci_platform_is_wasm("linux", "amd64", ""));
  assert_false(kq_oci_platform_is_wasm("linux", "wasm", ""));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_index_select), cmocka_unit_test(test_manifest_parse),
    cmocka_unit_test(test_manifest_bad), cmocka_unit_test(test_config)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
