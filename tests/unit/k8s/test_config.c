/* kubeconfig parsing (inline data and files, contexts, relative paths, errors) and in-cluster
 * configuration from an overridden service-account directory, including token rotation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kq_error.h"
#include "kq_k8s_config.h"

/* "-----BEGIN X-----\n" base64 */
#define CA_B64 "LS0tLS1CRUdJTiBYLS0tLS0K"

static const char *KC =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: admin\n"
    "clusters:\n"
    "- name: c1\n"
    "  cluster:\n"
    "    server: https://127.0.0.1:6443/\n"
    "    certificate-authority-data: " CA_B64 "\n"
    "- name: c2\n"
    "  cluster: {server: 'https://example:443', certificate-authority: pki/ca.crt,"
    " insecure-skip-tls-verify: true}\n"
    "users:\n"
    "- name: admin\n"
    "  user:\n"
    "    client-certificate: /abs/admin.crt\n"
    "    client-key: admin.key\n"
    "- name: tok\n"
    "  user: {token: abc.def}\n"
    "- name: tf\n"
    "  user: {tokenFile: tok.txt}\n"
    "- name: ex\n"
    "  user: {exec: {command: aws}}\n"
    "- name: half\n"
    "  user: {client-certificate-data: " CA_B64 "}\n"
    "- name: bad64\n"
    "  user: {client-certificate-data: '!!notbase64', client-key-data: " CA_B64 "}\n"
    "contexts:\n"
    "- name: admin\n"
    "  context: {cluster: c1, user: admin, namespace: team}\n"
    "- {name: token, context: {cluster: c2, user: tok}}\n"
    "- {name: tf, context: {cluster: c2, user: tf}}\n"
    "- {name: ex, context: {cluster: c1, user: ex}}\n"
    "- {name: half, context: {cluster: c1, user: half}}\n"
    "- {name: bad64, context: {cluster: c1, user: bad64}}\n"
    "- {name: nouser, context: {cluster: c1, user: ghost}}\n"
    "- {name: nocluster, context: {cluster: ghost, user: tok}}\n";

static void test_kubeconfig(void **state) {
  kq_k8s_config_t c;
  char *err = NULL;
  int rc = kq_k8s_config_parse_kubeconfig(KC, strlen(KC), "/base", NULL, &c, &err);
  if (rc) fail_msg("%s", err);
  assert_string_equal(c.server, "https://127.0.0.1:6443");
  assert_string_equal(c.context, "admin");
  assert_string_equal(c.namespace_, "team");
  assert_string_equal(c.tls.ca_pem, "-----BEGIN X-----\n");
  assert_null(c.tls.ca_file);
  assert_string_equal(c.tls.cert_file, "/abs/admin.crt");
  assert_string_equal(c.tls.key_file, "/base/admin.key");
  assert_false(c.tls.insecure);
  assert_null(kq_k8s_config_auth(&c, 1));
  kq_k8s_config_clear(&c);

  assert_int_equal(kq_k8s_config_parse_kubeconfig(KC, strlen(KC), "/base", "token", &c, NULL), KQ_OK);
  assert_string_equal(c.server, "https://example:443");
  assert_string_equal(c.tls.ca_file, "/base/pki/ca.crt");
  assert_true(c.tls.insecure);
  assert_string_equal(kq_k8s_config_auth(&c, 1), "Bearer abc.def");
  kq_k8s_config_clear(&c);

  static const struct { const char *ctx; int rc; const char *msg; } bad[] = {
      {"ex", KQ_ENOTSUP, "exec/auth-provider plugin"},
      {"half", KQ_EINVAL, "without a key"},
      {"bad64", KQ_EINVAL, "client-certificate-data is not valid base64"},
      {"nouser", KQ_ENOENT, "user \"ghost\" of context \"nouser\" not found"},
      {"nocluster", KQ_ENOENT, "cluster \"ghost\" of context \"nocluster\" not found"},
      {"missing", KQ_ENOENT, "context \"missing\" not found"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    err = NULL;
    rc = kq_k8s_config_parse_kubeconfig(KC, strlen(KC), "/base", bad[i].ctx, &c, &err);
    if (rc != bad[i].rc || !err || !strstr(err, bad[i].msg))
      fail_msg("%s: rc %d err %s", bad[i].ctx, rc, err ? err : "(null)");
    assert_null(c.server);
    free(err);
  }
  err = NULL;
  assert_int_equal(kq_k8s_config_parse_kubeconfig("a: [", 4, NULL, NULL, &c, &err), KQ_EPARSE);
  assert_non_null(strstr(err, "invalid YAML"));
  free(err);
  err = NULL;
  const char *nocur = "clusters: []\n";
  assert_int_equal(kq_k8s_config_parse_kubeconfig(nocur, strlen(nocur), NULL, NULL, &c, &err), KQ_ENOENT);
  assert_non_null(strstr(err, "no current-context"));
  free(err);
  const char *noscheme = "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                         "clusters: [{name: c, cluster: {server: '127.0.0.1:6443'}}]\n";
  err = NULL;
  assert_int_equal(kq_k8s_config_parse_kubeconfig(noscheme, strlen(noscheme), NULL, NULL, &c, &err), KQ_EINVAL);
  assert_non_null(strstr(err, "not an http(s) URL"));
  free(err);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_files_and_in_cluster(void **state) {
  char dir[] = "/tmp/kq-k8s-cfg-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char p[256], tok[256];
  snprintf(p, sizeof(p), "%s/kubeconfig", dir);
  snprintf(tok, sizeof(tok), "%s/tok.txt", dir);
  write_file(p, KC);
  write_file(tok, "  first-token\n");
  kq_k8s_config_t c;
  char *err = NULL;
  int rc = kq_k8s_config_load_kubeconfig(p, "tf", &c, &err);
  if (rc) fail_msg("%s", err);
  assert_string_equal(c.token_file, tok);
  assert_string_equal(kq_k8s_config_auth(&c, 5), "Bearer first-token");
  write_file(tok, "second-token");
  /* cached until the refresh interval passes, then re-read */
  assert_string_equal(kq_k8s_config_auth(&c, 6), "Bearer first-token");
  assert_string_equal(kq_k8s_config_auth(&c, 6 + KQ_K8S_TOKEN_REFRESH_NS), "Bearer second-token");
  /* a vanished token file keeps the previous token */
  unlink(tok);
  assert_string_equal(kq_k8s_config_auth(&c, 7 + 2 * KQ_K8S_TOKEN_REFRESH_NS), "Bearer second-token");
  kq_k8s_config_clear(&c);

  snprintf(p, sizeof(p), "%s/nope", dir);
  err = NULL;
  assert_int_equal(kq_k8s_config_load_kubeconfig(p, NULL, &c, &err), KQ_ENOENT);
  assert_non_null(strstr(err, "No such file"));
  free(err);

  /* in-cluster */
  snprintf(p, sizeof(p), "%s/token", dir);
  write_file(p, "sa-token\n");
  snprintf(p, sizeof(p), "%s/ca.crt", dir);
  write_file(p, "-----BEGIN CERTIFICATE-----\n");
  snprintf(p, sizeof(p), "%s/namespace", dir);
  write_file(p, "kuack\n");
  unsetenv("KUBERNETES_SERVICE_HOST");
  err = NULL;
  assert_int_equal(kq_k8s_config_in_cluster(dir, &c, &err), KQ_ENOENT);
  assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));
  free(err);
  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  assert_int_equal(kq_k8s_config_in_cluster(dir, &c, NULL), KQ_OK);
  assert_string_equal(c.server, "https://[fd00::1]:443");
  assert_string_equal(c.namespace_, "kuack");
  assert_string_equal(c.tls.ca_file, p[0] ? c.tls.ca_file : "");
  assert_non_null(strstr(c.tls.ca_file, "/ca.crt"));
  assert_string_equal(kq_k8s_config_auth(&c, 1), "Bearer sa-token");
  kq_k8s_config_clear(&c);
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");

  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

/* In-cluster the kubelet mounts the projected token the way Kubernetes' AtomicWriter does:
 * `token` → `..data/token`, `..data` → `..<timestamp>`; rotation writes a new timestamped dir and
 * renames a fresh `..data` symlink over the old one. The config follows the swap. */
static void test_in_cluster_rotation(void **state) {
  char dir[] = "/tmp/kq-k8s-sa-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char p[256], q[256];
  snprintf(p, sizeof p, "%s/..2026_11_23_a", dir);
  assert_int_equal(mkdir(p, 0700), 0);
  snprintf(p, sizeof p, "%s/..2026_11_23_a/token", dir);
  write_file(p, "token-one");
  snprintf(p, sizeof p, "%s/..2026_11_23_a/ca.crt", dir);
  write_file(p, "-----BEGIN CERTIFICATE-----\n");
  snprintf(p, sizeof p, "%s/..2026_11_23_a/namespace", dir);
  write_file(p, "kuack");
  snprintf(p, sizeof p, "%s/..data", dir);
  assert_int_equal(symlink("..2026_11_23_a", p), 0);
  const char *files[] = {"token", "ca.crt", "namespace"};
  for (size_t i = 0; i < 3; i++) {
    char t[64];
    snprintf(t, sizeof t, "..data/%s", files[i]);
    snprintf(p, sizeof p, "%s/%s", dir, files[i]);
    assert_int_equal(symlink(t, p), 0);
  }
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
  kq_k8s_config_t c;
  char *err = NULL;
  int rc = kq_k8s_config_in_cluster(dir, &c, &err);
  if (rc) fail_msg("%s", err);
  assert_string_equal(c.server, "https://10.0.0.1:6443");
  assert_string_equal(c.namespace_, "kuack");
  assert_string_equal(c.context, "in-cluster");
  uint64_t t0 = 1000;
  assert_string_equal(kq_k8s_config_auth(&c, t0), "Bearer token-one");
  /* rotate */
  snprintf(p, sizeof p, "%s/..2026_11_23_b", dir);
  assert_int_equal(mkdir(p, 0700), 0);
  snprintf(p, sizeof p, "%s/..2026_11_23_b/token", dir);
  write_file(p, "token-two\n");
  snprintf(p, sizeof p, "%s/..data_tmp", dir);
  assert_int_equal(symlink("..2026_11_23_b", p), 0);
  snprintf(q, sizeof q, "%s/..data", dir);
  assert_int_equal(rename(p, q), 0);
  snprintf(p, sizeof p, "%s/..2026_11_23_a/token", dir);
  assert_int_equal(unlink(p), 0);
  /* within the refresh interval the cached token stays; after it the new one is read */
  assert_string_equal(kq_k8s_config_auth(&c, t0 + KQ_K8S_TOKEN_REFRESH_NS - 1), "Bearer token-one");
  assert_string_equal(kq_k8s_config_auth(&c, t0 + KQ_K8S_TOKEN_REFRESH_NS), "Bearer token-two");
  /* the client forces a re-read after a 401 by zeroing token_read_ns */
  snprintf(p, sizeof p, "%s/..2026_11_23_b/token", dir);
  write_file(p, "token-three");
  c.token_read_ns = 0;
  assert_string_equal(kq_k8s_config_auth(&c, t0 + KQ_K8S_TOKEN_REFRESH_NS + 1), "Bearer token-three");
  /* an empty token file (mid-write) keeps the previous token */
  write_file(p, "");
  c.token_read_ns = 0;
  assert_string_equal(kq_k8s_config_auth(&c, t0 + KQ_K8S_TOKEN_REFRESH_NS + 2), "Bearer token-three");
  kq_k8s_config_clear(&c);
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kubeconfig),
      cmocka_unit_test(test_files_and_in_cluster),
      cmocka_unit_test(test_in_cluster_rotation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
