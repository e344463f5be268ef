/* Test control plane: starts ../shared/k8s/testcluster in a temporary directory, reads its env
 * file, runs kubectl. Paths come from KQ_SOURCE_DIR (set by kq_test). */
#include "kq_test_cluster.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static void die(const char *what) {
  fprintf(stderr, "kq_test_cluster: %s\n", what);
  abort();
}

static char *run_capture(int *status, const char *cmd) {
  FILE *p = popen(cmd, "r");
  if (!p) die("popen failed");
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  size_t got;
  while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
    n += got;
    if (cap - n < 2) buf = realloc(buf, cap *= 2);
  }
  buf[n] = '\0';
  int st = pclose(p);
  if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return buf;
}

char *kq_test_sh(int *status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *cmd = NULL;
  if (vasprintf(&cmd, fmt, ap) < 0) die("vasprintf");
  va_end(ap);
  char *out = run_capture(status, cmd);
  free(cmd);
  return out;
}

static void env_value(const char *env, const char *key, char *out, size_t outlen) {
  char pat[64];
  snprintf(pat, sizeof(pat), "\n%s=", key);
  const char *p = strstr(env, pat);
  out[0] = '\0';
  if (!p) return;
  p += strlen(pat);
  size_t n = strcspn(p, "\n");
  if (n >= outlen) n = outlen - 1;
  memcpy(out, p, n);
  out[n] = '\0';
}

kq_test_cluster_t *kq_test_cluster_up(const char *env) {
  const char *src = getenv("KQ_SOURCE_DIR");
  if (!src) die("KQ_SOURCE_DIR is not set (run the test through ctest)");
  kq_test_cluster_t *c = calloc(1, sizeof(*c));
  snprintf(c->dir, sizeof(c->dir), "/tmp/kq-cluster-XXXXXX");
  if (!mkdtemp(c->dir)) die("mkdtemp");
  int st;
  char *out = kq_test_sh(&st, "%s %s/../shared/k8s/testcluster up %s 2>&1", env ? env : "", src, c->dir);
  if (st != 0) {
    fprintf(stderr, "%s\n", out);
    die("testcluster up failed (is etcd-server installed? see ../shared/k8s/README.md)");
  }
  free(out);
  char path[320];
  snprintf(path, sizeof(path), "%s/env", c->dir);
  FILE *f = fopen(path, "r");
  if (!f) die("no env file");
  char envtext[8192] = "\n";
  size_t n = fread(envtext + 1, 1, sizeof(envtext) - 2, f);
  envtext[n + 1] = '\0';
  fclose(f);
  env_value(envtext, "KUBECONFIG", c->kubeconfig, sizeof(c->kubeconfig));
  env_value(envtext, "APISERVER", c->apiserver, sizeof(c->apiserver));
  env_value(envtext, "CLUSTER_CA", c->cluster_ca, sizeof(c->cluster_ca));
  env_value(envtext, "KUBELET_CLIENT_CA", c->kubelet_client_ca, sizeof(c->kubelet_client_ca));
  env_value(envtext, "ADMIN_TOKEN", c->admin_token, sizeof(c->admin_token));
  env_value(envtext, "ETCD_ENDPOINT", c->etcd_endpoint, sizeof(c->etcd_endpoint));
  if (!c->kubeconfig[0] || !c->apiserver[0]) die("env file lacks KUBECONFIG/APISERVER");
  return c;
}

void kq_test_cluster_down(kq_test_cluster_t *c) {
  if (!c) return;
  const char *src = getenv("KQ_SOURCE_DIR");
  int st;
  free(kq_test_sh(&st, "WIPE=1 %s/../shared/k8s/testcluster down %s 2>&1", src, c->dir));
  free(c);
}

char *kq_test_kubectl(const kq_test_cluster_t *c, int *status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *args = NULL;
  if (vasprintf(&args, fmt, ap) < 0) die("vasprintf");
  va_end(ap);
  char *out = kq_test_sh(status, "kubectl --kubeconfig %s %s", c->kubeconfig, args);
  free(args);
  return out;
}
