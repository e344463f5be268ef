/* `kubectl logs` and `kubectl logs -f` through a real kube-apiserver (../shared/k8s/testcluster):
 * a Node whose InternalIP is 127.0.0.1 and whose kubelet port is this server's, a Pod bound to it,
 * and the kubelet API in TLS mode requiring client certificates from $KUBELET_CLIENT_CA. kubectl
 * runs as a child process whose output pipe is read on the same event_base, so the loop keeps
 * serving the API server's connection while kubectl waits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kq_alloc.h"
#include "kq_clock.h"
#include "kq_error.h"
#include "kq_http.h"
#include "kq_k8s_config.h"
#include "kq_kubelet.h"
#include "kq_kubelet_provider.h"
#include "kq_logstore.h"
#include "kq_test_cluster.h"

static kq_test_cluster_t *g_cluster;

typedef struct fx {
  struct event_base *base;
  kq_system_t *sys;
  kq_logstore_t *logs;
  kq_kubelet_glue_t glue;
  kq_kubelet_provider_t pv;
  kq_kubelet_t *k;
  kq_http_t *http;          /* authz only */
  kq_k8s_config_t cfg;      /* authz only */
} fx_t;

/* A child process whose stdout+stderr is collected from the loop. */
typedef struct child {
  pid_t pid;
  int fd;
  struct event *ev;
  char *out;
  size_t len;
  bool eof;
  int status;
} child_t;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {}

static bool run_until(fx_t *f, bool (*cond)(const void *), const void *ud, unsigned ms) {
  struct event *tick = event_new(f->base, -1, EV_PERSIST, on_tick, NULL);
  struct timeval tv = {0, 5000};
  event_add(tick, &tv);
  uint64_t deadline = now_ms() + ms;
  bool ok = false;
  while (!(ok = cond(ud)) && now_ms() < deadline) event_base_loop(f->base, EVLOOP_ONCE);
  event_free(tick);
  return ok;
}

static void on_child_out(evutil_socket_t fd, short what, void *arg) {
  child_t *c = arg;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0) {
    c->out = kq_realloc(c->out, c->len + (size_t)n + 1);
    memcpy(c->out + c->len, buf, (size_t)n);
    c->len += (size_t)n;
    c->out[c->len] = '\0';
  } else if (n == 0) {
    c->eof = true;
    event_del(c->ev);
  }
}

static void child_start(fx_t *f, child_t *c, const char *cmd) {
  memset(c, 0, sizeof *c);
  c->out = kq_strdup("");
  int p[2];
  assert_int_equal(pipe(p), 0);
  c->pid = fork();
  assert_true(c->pid >= 0);
  if (c->pid == 0) {
    dup2(p[1], 1);
    dup2(p[1], 2);
    close(p[0]);
    close(p[1]);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  c->fd = p[0];
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
  c->ev = event_new(f->base, c->fd, EV_READ | EV_PERSIST, on_child_out, c);
  event_add(c->ev, NULL);
}

static bool child_eof(const void *ud) { return ((const child_t *)ud)->eof; }

/* Waits for the child's output to end and reaps it; returns its exit status. */
static int child_finish(fx_t *f, child_t *c, unsigned ms) {
  bool ended = run_until(f, child_eof, c, ms);
  if (!ended) kill(c->pid, SIGKILL);
  int st = 0;
  waitpid(c->pid, &st, 0);
  event_free(c->ev);
  close(c->fd);
  if (!ended) fail_msg("child did not finish in %u ms; output so far:\n%s", ms, c->out);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

typedef struct want {
  const child_t *c;
  const char *text;
} want_t;
static bool child_has(const void *ud) {
  const want_t *w = ud;
  return strstr(w->c->out, w->text) != NULL;
}

static void kubectl_ok(const char *fmt, const char *arg) {
  int st = -1;
  char *out = kq_test_kubectl(g_cluster, &st, fmt, arg);
  if (st != 0) fail_msg("kubectl failed (%d): %s", st, out);
  free(out);
}

static int setup(void **state) {
  fx_t *f = KQ_NEW(fx_t);
  f->base = event_base_new();
  f->sys = kq_system_new(f->base, NULL);
  f->logs = kq_logstore_new(1 << 20);
  kq_kubelet_provider_init(&f->pv, &f->glue, NULL, f->logs);
  kq_kubelet_opts_t o = {.address = "127.0.0.1", .tls = true, .client_ca_file = g_cluster->kubelet_client_ca,
                         .hostname = "kuack-node"};
  int err = -1;
  char *msg = NULL;
  f->k = kq_kubelet_new(f->sys, &o, &f->pv, &err, &msg);
  if (!f->k) fail_msg("kq_kubelet_new: %s", msg ? msg : kq_strerror(err));
  *state = f;
  return 0;
}

static bool system_idle(const void *ud) { return kq_system_idle(((const fx_t *)ud)->sys); }
static bool no_actors(const void *ud) { return kq_system_actor_count(((const fx_t *)ud)->sys) == 0; }
static bool never(const void *ud) { return false; }

static int teardown(void **state) {
  fx_t *f = *state;
  kq_kubelet_free(f->k);
  kq_system_shutdown(f->sys, NULL, NULL);
  if (f->http) {
    assert_true(run_until(f, no_actors, f, 5000));
    kq_http_free(f->http);
  }
  assert_true(run_until(f, system_idle, f, 5000));
  assert_int_equal(kq_system_close(f->sys), KQ_OK);
  run_until(f, never, NULL, 10);
  event_base_free(f->base);
  kq_logstore_free(f->logs);
  kq_k8s_config_clear(&f->cfg);
  free(f);
  return 0;
}

/* The same server with SubjectAccessReview authorization for node "kuack-authz". */
static int setup_authz(void **state) {
  setup(state);
  fx_t *f = *state;
  char *err = NULL;
  if (kq_k8s_config_load_kubeconfig(g_cluster->kubeconfig, "admin", &f->cfg, &err) != KQ_OK)
    fail_msg("kubeconfig: %s", err);
  f->http = kq_http_new(f->sys);
  kq_kubelet_authz_opts_t ao = {.config = &f->cfg, .http = f->http, .node_name = "kuack-authz"};
  assert_int_equal(kq_kubelet_set_authz(f->k, &ao), KQ_OK);
  assert_int_equal(kq_kubelet_set_authz(f->k, &ao), KQ_EEXIST);
  return 0;
}

static void test_kubectl_logs(void **state) {
  fx_t *f = *state;
  char *node = kq_asprintf(
      "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"kuack-node\"},"
      "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"}],"
      "\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":%u}}}}",
      (unsigned)kq_kubelet_port(f->k));
  kubectl_ok("create -f - <<'EOF'\n%s\nEOF", node);
  free(node);
  kubectl_ok("%s", "create -f - <<'EOF'\n"
                   "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"hello\",\"namespace\":\"default\"},"
                   "\"spec\":{\"nodeName\":\"kuack-node\",\"containers\":[{\"name\":\"main\",\"image\":\"example/hello\"}]}}\n"
                   "EOF");
  kq_logstream_t *ls = kq_logstore_open(f->logs, "default", "hello", "main");
  const char *lines = "hello from kuack\nsecond line\n";
  kq_logstream_append(ls, 1, kq_wall_ns(kq_system_clock(f->sys)), lines, strlen(lines));

  char *cmd = kq_asprintf("kubectl --kubeconfig %s logs -n default hello -c main", g_cluster->kubeconfig);
  child_t c;
  child_start(f, &c, cmd);
  free(cmd);
  int st = child_finish(f, &c, 30000);
  if (st != 0 || !strstr(c.out, "hello from kuack\nsecond line\n"))
    fail_msg("kubectl logs (%d):\n%s", st, c.out);
  free(c.out);

  cmd = kq_asprintf("kubectl --kubeconfig %s logs -n default hello --tail=1", g_cluster->kubeconfig);
  child_start(f, &c, cmd);
  free(cmd);
  st = child_finish(f, &c, 30000);
  if (st != 0 || strstr(c.out, "hello from kuack") || !strstr(c.out, "second line\n"))
    fail_msg("kubectl logs --tail=1 (%d):\n%s", st, c.out);
  free(c.out);

  /* -f: lines appended while kubectl waits arrive, and the end of the run ends kubectl */
  cmd = kq_asprintf("kubectl --kubeconfig %s logs -f -n default hello", g_cluster->kubeconfig);
  child_start(f, &c, cmd);
  free(cmd);
  want_t w = {&c, "second line\n"};
  if (!run_until(f, child_has, &w, 30000)) fail_msg("kubectl logs -f: no initial lines:\n%s", c.out);
  kq_logstream_append(ls, 1, kq_wall_ns(kq_system_clock(f->sys)), "third line\n", 11);
  w.text = "third line\n";
  if (!run_until(f, child_has, &w, 10000)) fail_msg("kubectl logs -f: appended line missing:\n%s", c.out);
  kq_logstream_end(ls, kq_wall_ns(kq_system_clock(f->sys)));
  st = child_finish(f, &c, 30000);
  assert_int_equal(st, 0);
  free(c.out);
  assert_int_equal(kq_kubelet_follows(f->k), 0);
}

/* A client certificate for `subject`, signed by the cluster CA (the kubelet client CA here). */
static void make_cert(const char *name, const char *subject) {
  int st;
  char *out = kq_test_sh(&st,
                         "cd %s/pki && printf 'extendedKeyUsage=clientAuth\n' > %s.ext && "
                         "openssl req -new -newkey rsa:2048 -nodes -keyout %s.key -subj '%s' -out %s.csr 2>&1 && "
                         "openssl x509 -req -in %s.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 "
                         "-extfile %s.ext -out %s.crt 2>&1",
                         g_cluster->dir, name, name, subject, name, name, name, name);
  if (st) fail_msg("openssl: %s", out);
  free(out);
}

/* curl as `name` (its certificate) against the kubelet, run from the loop; returns the output
 * (body then the HTTP code on the last line), owned. */
static char *curl_as(fx_t *f, const char *name, const char *path) {
  char *cmd = kq_asprintf("curl -sk --cert %s/pki/%s.crt --key %s/pki/%s.key -w '\n%%{http_code}' "
                          "https://127.0.0.1:%u%s",
                          g_cluster->dir, name, g_cluster->dir, name, (unsigned)kq_kubelet_port(f->k), path);
  child_t c;
  child_start(f, &c, cmd);
  free(cmd);
  int st = child_finish(f, &c, 30000);
  if (st != 0) fail_msg("curl (%d): %s", st, c.out);
  return c.out;
}

static bool ends_with(const char *s, const char *tail) {
  size_t n = strlen(s), t = strlen(tail);
  return n >= t && !strcmp(s + n - t, tail);
}

/* The API server's kubelet client identity is allowed by a real SubjectAccessReview (kubectl
 * logs works); a user without RBAC rights gets 403 and stays denied from the cache; a user
 * granted `get nodes/proxy` by RBAC is allowed; /healthz needs authentication only. */
static void test_authz(void **state) {
  fx_t *f = *state;
  char *node = kq_asprintf(
      "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"kuack-authz\"},"
      "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"}],"
      "\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":%u}}}}",
      (unsigned)kq_kubelet_port(f->k));
  kubectl_ok("create -f - <<'EOF'\n%s\nEOF", node);
  free(node);
  kubectl_ok("%s", "create -f - <<'EOF'\n"
                   "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"authz\",\"namespace\":\"default\"},"
                   "\"spec\":{\"nodeName\":\"kuack-authz\",\"containers\":[{\"name\":\"main\",\"image\":\"example/hello\"}]}}\n"
                   "EOF");
  kq_logstream_t *ls = kq_logstore_open(f->logs, "default", "authz", "main");
  kq_logstream_append(ls, 1, kq_wall_ns(kq_system_clock(f->sys)), "authorized line\n", 16);
  assert_int_equal(kq_kubelet_authz_reviews(f->k), 0);

  char *cmd = kq_asprintf("kubectl --kubeconfig %s logs -n default authz", g_cluster->kubeconfig);
  child_t c;
  child_start(f, &c, cmd);
  free(cmd);
  int st = child_finish(f, &c, 30000);
  if (st != 0 || !strstr(c.out, "authorized line\n")) fail_msg("kubectl logs (%d):\n%s", st, c.out);
  free(c.out);
  assert_int_equal(kq_kubelet_authz_reviews(f->k), 1);

  make_cert("mallory", "/O=devs/CN=mallory");
  make_cert("alice", "/CN=alice");
  char *out = curl_as(f, "mallory", "/containerLogs/default/authz/main");
  if (!ends_with(out, "\n403") || !strstr(out, "Forbidden (user=mallory, verb=get, resource=nodes, subresource=proxy)"))
    fail_msg("mallory: %s", out);
  assert_null(strstr(out, "authorized line"));
  free(out);
  assert_int_equal(kq_kubelet_authz_reviews(f->k), 2);
  out = curl_as(f, "mallory", "/pods");
  if (!ends_with(out, "\n403")) fail_msg("mallory again: %s", out);
  free(out);
  assert_int_equal(kq_kubelet_authz_reviews(f->k), 2); /* the denial came from the cache */
  out = curl_as(f, "mallory", "/healthz");
  if (!ends_with(out, "\n200") || strncmp(out, "ok", 2) != 0) fail_msg("mallory healthz: %s", out);
  free(out);

  kubectl_ok("%s", "create clusterrole kubelet-proxy --verb=get --resource=nodes/proxy");
  kubectl_ok("%s", "create clusterrolebinding alice-kubelet-proxy --clusterrole=kubelet-proxy --user=alice");
  out = curl_as(f, "alice", "/containerLogs/default/authz/main");
  if (!ends_with(out, "\n200") || !strstr(out, "authorized line")) fail_msg("alice: %s", out);
  free(out);
  assert_int_equal(kq_kubelet_authz_reviews(f->k), 3);
  out = curl_as(f, "alice", "/pods");
  if (!ends_with(out, "\n200") || !strstr(out, "PodList")) fail_msg("alice /pods: %s", out);
  free(out);
  assert_int_equal(kq_kubelet_authz_reviews(f->k), 3); /* cached */
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  g_cluster = kq_test_cluster_up(NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_kubectl_logs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_authz, setup_authz, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  kq_test_cluster_down(g_cluster);
  return rc;
}
