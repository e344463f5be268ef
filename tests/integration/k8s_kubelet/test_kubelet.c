/* The kubelet API server on 127.0.0.1 with the real log-store glue (actors/kubelet_provider.c),
 * queried by the core HTTP client on the same event_base, stepped with EVLOOP_ONCE until a
 * condition or a deadline: /healthz, /pods, logs with every parameter, follow (new lines, end of
 * run, pod gone, client gone, limitBytes), errors, and mutual TLS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kq_test_loop.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kq_alloc.h"
#include "kq_clock.h"
#include "kq_error.h"
#include "kq_http.h"
#include "kq_k8s_config.h"
#include "kq_kubelet.h"
#include "kq_kubelet_provider.h"
#include "kq_logstore.h"
#include "kq_test_http.h"
#include "kq_test_tls.h"

#define SINK_MSGS(X) X(SINK_DONE) X(SINK_CHUNK)
KQ_MSG_IDS(sink, SINK_MSGS)

/* ---- sink actor: keeps every message it gets ---- */

typedef struct sink {
  kq_msg_t **msgs;
  size_t n, cap;
} sink_t;

typedef struct sink_state {
  sink_t *sink;
} sink_state_t;

static int sink_init(kq_actor_t *self, void *state, void *arg) {
  ((sink_state_t *)state)->sink = arg;
  return KQ_OK;
}

static void sink_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  sink_t *s = ((sink_state_t *)state)->sink;
  kq_msg_t *copy = kq_msg_take(self, m);
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 64;
    s->msgs = kq_realloc(s->msgs, s->cap * sizeof *s->msgs);
  }
  s->msgs[s->n++] = copy;
}

static void sink_stop(kq_actor_t *self, void *state) {}

static const kq_actor_type_t sink_type = {
    .name = "sink", .state_size = sizeof(sink_state_t), .init = sink_init,
    .dispatch = sink_dispatch, .stop = sink_stop, .msg_names = sink_msg_names,
    .msg_count = sink_msg_count};

static kq_http_resp_t *sink_done(sink_t *s, kq_http_req_id_t req) {
  for (size_t i = 0; i < s->n; i++)
    if (s->msgs[i]->id == SINK_DONE && ((kq_http_resp_t *)s->msgs[i])->req == req)
      return (kq_http_resp_t *)s->msgs[i];
  return NULL;
}

/* Concatenation of the streamed chunks of `req` (owned). */
static char *sink_stream(sink_t *s, kq_http_req_id_t req) {
  size_t n = 0;
  char *out = kq_malloc(1);
  for (size_t i = 0; i < s->n; i++) {
    if (s->msgs[i]->id != SINK_CHUNK) continue;
    kq_http_chunk_t *c = (kq_http_chunk_t *)s->msgs[i];
    if (c->req != req) continue;
    out = kq_realloc(out, n + c->len + 1);
    memcpy(out + n, c->data, c->len);
    n += c->len;
  }
  out[n] = '\0';
  return out;
}

/* ---- fixture ---- */

typedef struct fx {
  struct event_base *base;
  kq_system_t *sys;
  kq_http_t *http;
  kq_logstore_t *logs;
  kq_kubelet_glue_t glue;
  kq_kubelet_provider_t pv;
  kq_kubelet_t *k;
  kq_test_tls_t *tls, *other;
  sink_t sink;
  kq_aid_t aid;
  kq_http_tls_t ctls;
} fx_t;

static bool run_until(fx_t *f, bool (*cond)(fx_t *, const void *), const void *ud, unsigned ms) {
  kq_test_deadline_t d;
  kq_test_deadline_start(&d, f->base, ms);
  bool ok;
  while (!(ok = cond(f, ud)) && kq_test_deadline_step(&d)) {
  }
  kq_test_deadline_end(&d);
  return ok;
}

static bool never(fx_t *f, const void *ud) { return false; }
static bool has_done(fx_t *f, const void *ud) { return sink_done(&f->sink, *(const kq_http_req_id_t *)ud) != NULL; }
static bool system_idle(fx_t *f, const void *ud) { return kq_system_idle(f->sys); }
static bool no_follows(fx_t *f, const void *ud) { return kq_kubelet_follows(f->k) == 0; }
static bool one_follow(fx_t *f, const void *ud) { return kq_kubelet_follows(f->k) == 1; }
static bool stream_has(fx_t *f, const void *ud) {
  const void *const *a = ud;
  char *s = sink_stream(&f->sink, *(const kq_http_req_id_t *)a[0]);
  bool ok = strstr(s, a[1]) != NULL;
  free(s);
  return ok;
}

static uint64_t wall_now(fx_t *f) { return kq_wall_ns(kq_system_clock(f->sys)); }

static void start_server(fx_t *f, const kq_kubelet_opts_t *o) {
  int err = -1;
  char *msg = NULL;
  f->k = kq_kubelet_new(f->sys, o, &f->pv, &err, &msg);
  if (!f->k) fail_msg("kq_kubelet_new: %s: %s", kq_strerror(err), msg ? msg : "");
  assert_int_equal(err, KQ_OK);
  assert_true(kq_kubelet_port(f->k) != 0);
}

static int setup_common(void **state, int mode) {
  fx_t *f = KQ_NEW(fx_t);
  f->base = event_base_new();
  f->sys = kq_system_new(f->base, NULL);
  f->http = kq_http_new(f->sys);
  f->logs = kq_logstore_new(1 << 20);
  kq_kubelet_provider_init(&f->pv, &f->glue, NULL, f->logs);
  f->aid = kq_spawn(f->sys, &sink_type, &f->sink, NULL);
  assert_true(f->aid != KQ_AID_NONE);
  kq_kubelet_opts_t o = {.address = "127.0.0.1"};
  if (mode >= 1) {
    f->tls = kq_test_tls_new();
    o.tls = true;
    o.client_ca_file = f->tls->ca_file;
    if (mode == 1) {   /* serving cert from files; client verifies it */
      o.cert_file = f->tls->server_cert_file;
      o.key_file = f->tls->server_key_file;
      f->ctls.ca_file = f->tls->ca_file;
    } else {           /* self-signed at start */
      o.hostname = "kuack-test";
      f->ctls.insecure = true;
    }
  }
  start_server(f, &o);
  *state = f;
  return 0;
}

static int setup(void **state) { return setup_common(state, 0); }
static int setup_tls_files(void **state) { return setup_common(state, 1); }
static int setup_tls_self(void **state) { return setup_common(state, 2); }

static int teardown(void **state) {
  fx_t *f = *state;
  kq_kubelet_free(f->k);   /* ends any follow a test left open */
  kq_http_free(f->http);
  kq_system_shutdown(f->sys, NULL, NULL);
  assert_true(run_until(f, system_idle, NULL, 5000));
  assert_int_equal(kq_system_close(f->sys), KQ_OK);
  run_until(f, never, NULL, 10);
  event_base_free(f->base);
  kq_logstore_free(f->logs);
  kq_test_tls_free(f->tls);
  kq_test_tls_free(f->other);
  for (size_t i = 0; i < f->sink.n; i++) kq_msg_free(f->sink.msgs[i]);
  free(f->sink.msgs);
  free(f);
  return 0;
}

/* Starts a GET of `path`; `stream` = chunks as messages. */
static kq_http_req_id_t start_get(fx_t *f, const char *path, bool stream, const kq_http_tls_t *tls) {
  char *url = kq_asprintf("%s://127.0.0.1:%u%s", f->tls ? "https" : "http", (unsigned)kq_kubelet_port(f->k), path);
  kq_http_req_t r = {.url = url, .owner = f->aid, .done_id = SINK_DONE, .chunk_id = stream ? SINK_CHUNK : 0,
                     .tls = tls ? tls : (f->tls ? &f->ctls : NULL), .timeout_ms = stream ? 0 : 10000};
  kq_http_req_id_t id = kq_http_start(f->http, &r);
  free(url);
  assert_true(id != 0);
  return id;
}

static kq_http_resp_t *wait_done(fx_t *f, kq_http_req_id_t id, unsigned ms) {
  assert_true(run_until(f, has_done, &id, ms));
  return sink_done(&f->sink, id);
}

static kq_http_resp_t *get_tls(fx_t *f, const char *path, const kq_http_tls_t *tls) {
  kq_http_resp_t *r = wait_done(f, start_get(f, path, false, tls), 10000);
  return r;
}

static kq_http_resp_t *get(fx_t *f, const char *path) {
  kq_http_resp_t *r = get_tls(f, path, NULL);
  assert_int_equal(r->rc, KQ_OK);
  return r;
}

static void expect(fx_t *f, const char *path, long status, const char *body) {
  kq_http_resp_t *r = get(f, path);
  if (r->status != status || (body && strcmp(r->body, body)))
    fail_msg("GET %s: got %ld \"%s\", want %ld \"%s\"", path, r->status, r->body, status, body ? body : "*");
}

static kq_logstream_t *app(fx_t *f, const char *pod, const char *text) {
  kq_logstream_t *ls = kq_logstore_open(f->logs, "default", pod, "main");
  kq_logstream_append(ls, 1, wall_now(f), text, strlen(text));
  return ls;
}

/* ---- tests ---- */

static void test_healthz_and_404(void **state) {
  fx_t *f = *state;
  kq_http_resp_t *r = get(f, "/healthz");
  assert_int_equal(r->status, 200);
  assert_string_equal(r->body, "ok\n");
  expect(f, "/nope", 404, NULL);
  expect(f, "/containerLogs/default/p", 404, NULL);
  expect(f, "/containerLogs/default/p/main/extra", 404, NULL);
  expect(f, "/containerLogs/default//main", 404, NULL);
  r = get(f, "/containerLogs/default/missing/main");
  assert_int_equal(r->status, 404);
  assert_non_null(strstr(r->body, "missing"));
  assert_true(kq_kubelet_requests(f->k) >= 6);
}

static char *fake_pods(void *ud, size_t *len) {
  static const char json[] = "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[{\"metadata\":{\"name\":\"p1\"}}]}";
  *len = sizeof json - 1;
  return kq_strdup(json);
}

static void test_pods(void **state) {
  fx_t *f = *state;
  /* the real glue with no table: an empty PodList */
  kq_http_resp_t *r = get(f, "/pods");
  assert_int_equal(r->status, 200);
  assert_non_null(strstr(r->body, "\"kind\":\"PodList\""));
  assert_non_null(strstr(r->body, "\"items\":[]"));
  char ct[128];
  assert_int_equal(kq_http_header_get(r->headers, "content-type", ct, sizeof ct), KQ_OK);
  assert_string_equal(ct, "application/json");
  /* the real glue over a real (empty) pod table */
  kq_podtable_t *t = kq_podtable_new();
  kq_kubelet_glue_t g;
  kq_kubelet_provider_t pv;
  kq_kubelet_provider_init(&pv, &g, t, f->logs);
  size_t len = 0;
  char *json = pv.pods_json(pv.ud, &len);
  assert_non_null(strstr(json, "\"items\":[]"));
  assert_int_equal(strlen(json), len);
  free(json);
  /* with a table, unknown pods are 404 with a kubelet-like message */
  app(f, "p1", "x\n");
  kq_kubelet_log_ref_t ref = {"default", "p1", "main"};
  kq_kubelet_log_query_t q = {.tail_lines = -1, .limit_bytes = -1};
  char *text = NULL, *err = NULL;
  uint64_t next = 0;
  bool ended = false;
  assert_int_equal(pv.logs_read(pv.ud, &ref, &q, 0, &text, &len, &next, &ended, &err), KQ_ENOENT);
  assert_non_null(strstr(err, "pod \"p1\" not found"));
  free(err);
  free(text);
  kq_podtable_free(t);
  /* a server over a provider whose /pods has one item */
  kq_kubelet_free(f->k);
  f->pv.pods_json = fake_pods;
  start_server(f, &(kq_kubelet_opts_t){.address = "127.0.0.1"});
  r = get(f, "/pods");
  assert_int_equal(r->status, 200);
  assert_non_null(strstr(r->body, "\"name\":\"p1\""));
}

static void test_logs_params(void **state) {
  fx_t *f = *state;
  kq_logstream_t *ls = kq_logstore_open(f->logs, "default", "p", "main");
  uint64_t now = wall_now(f);
  kq_logstream_append(ls, 1, now - KQ_SEC(100), "old\n", 4);
  kq_logstream_append(ls, 1, now, "a\nb\n", 4);
  kq_logstream_append(ls, 2, now, "c\n", 2);
  expect(f, "/containerLogs/default/p/main", 200, "old\na\nb\nc\n");
  expect(f, "/containerLogs/default/p/main?tailLines=2", 200, "b\nc\n");
  expect(f, "/containerLogs/default/p/main?tailLines=0", 200, "");
  expect(f, "/containerLogs/default/p/main?limitBytes=6", 200, "old\na\n");
  expect(f, "/containerLogs/default/p/main?limitBytes=5", 200, "old\na");
  expect(f, "/containerLogs/default/p/main?sinceSeconds=10", 200, "a\nb\nc\n");
  char ts[40], path[160];
  kq_rfc3339(now - KQ_SEC(1), false, ts);
  snprintf(path, sizeof path, "/containerLogs/default/p/main?sinceTime=%s", ts);
  expect(f, path, 200, "a\nb\nc\n");
  kq_http_resp_t *r = get(f, "/containerLogs/default/p/main?timestamps=true&tailLines=1");
  assert_int_equal(r->status, 200);
  kq_rfc3339(now, true, ts);
  char want[64];
  snprintf(want, sizeof want, "%s c\n", ts);
  assert_string_equal(r->body, want);
  /* previous: none yet, then the old run after a restart */
  r = get(f, "/containerLogs/default/p/main?previous=true");
  assert_int_equal(r->status, 404);
  assert_non_null(strstr(r->body, "previous terminated container"));
  kq_logstream_end(ls, now);
  kq_logstream_new_run(ls);
  kq_logstream_append(ls, 1, wall_now(f), "second\n", 7);
  expect(f, "/containerLogs/default/p/main?previous=true&tailLines=1", 200, "c\n");
  expect(f, "/containerLogs/default/p/main", 200, "second\n");
  /* url-encoded names */
  expect(f, "/containerLogs/default/%70/main", 200, "second\n");
}

static void test_bad_params(void **state) {
  fx_t *f = *state;
  app(f, "p", "x\n");
  static const struct {
    const char *q, *needle;
  } cases[] = {
      {"tailLines=-1", "tailLines"},          {"tailLines=abc", "tailLines"},
      {"limitBytes=0", "limitBytes"},         {"sinceSeconds=0", "sinceSeconds"},
      {"follow=maybe", "follow"},             {"previous=2", "previous"},
      {"timestamps=yes", "timestamps"},       {"sinceTime=yesterday", "sinceTime"},
      {"sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z", "at most one"},
      {"tailLines=99999999999999999999", "tailLines"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char path[160];
    snprintf(path, sizeof path, "/containerLogs/default/p/main?%s", cases[i].q);
    kq_http_resp_t *r = get(f, path);
    if (r->status != 400 || !strstr(r->body, cases[i].needle))
      fail_msg("%s: got %ld \"%s\"", cases[i].q, r->status, r->body);
  }
  /* unknown parameters are ignored */
  expect(f, "/containerLogs/default/p/main?pretty=true", 200, "x\n");
}

static void test_follow(void **state) {
  fx_t *f = *state;
  kq_logstream_t *ls = app(f, "p", "one\ntwo\n");
  kq_http_req_id_t id = start_get(f, "/containerLogs/default/p/main?follow=true&tailLines=1", true, NULL);
  const void *a1[] = {&id, "two\n"};
  assert_true(run_until(f, stream_has, a1, 5000));
  assert_int_equal(kq_kubelet_follows(f->k), 1);
  kq_logstream_append(ls, 1, wall_now(f), "three\nfo", 8);
  const void *a2[] = {&id, "three\n"};
  assert_true(run_until(f, stream_has, a2, 5000));
  kq_logstream_append(ls, 2, wall_now(f), "err\n", 4);
  kq_logstream_append(ls, 1, wall_now(f), "ur\n", 3);
  kq_logstream_end(ls, wall_now(f));
  kq_http_resp_t *r = wait_done(f, id, 5000);
  assert_int_equal(r->rc, KQ_OK);
  assert_int_equal(r->status, 200);
  char *all = sink_stream(&f->sink, id);
  assert_string_equal(all, "two\nthree\nerr\nfour\n");
  free(all);
  assert_true(run_until(f, no_follows, NULL, 2000));
  /* following a run that already ended returns at once */
  r = get(f, "/containerLogs/default/p/main?follow=true");
  assert_int_equal(r->status, 200);
  assert_string_equal(r->body, "one\ntwo\nthree\nerr\nfour\n");
}

static void test_follow_pod_gone(void **state) {
  fx_t *f = *state;
  app(f, "p", "x\n");
  kq_http_req_id_t id = start_get(f, "/containerLogs/default/p/main?follow=1&timestamps=true", true, NULL);
  assert_true(run_until(f, one_follow, NULL, 5000));
  kq_logstore_drop(f->logs, "default", "p");
  kq_http_resp_t *r = wait_done(f, id, 5000);
  assert_int_equal(r->rc, KQ_OK);
  char *all = sink_stream(&f->sink, id);
  assert_non_null(strstr(all, " x\n"));
  free(all);
  assert_true(run_until(f, no_follows, NULL, 2000));
}

static void test_follow_client_gone(void **state) {
  fx_t *f = *state;
  kq_logstream_t *ls = app(f, "p", "x\n");
  kq_http_req_id_t id = start_get(f, "/containerLogs/default/p/main?follow=true", true, NULL);
  const void *a1[] = {&id, "x\n"};
  assert_true(run_until(f, stream_has, a1, 5000));
  assert_int_equal(kq_http_cancel(f->http, id), KQ_OK);
  assert_true(run_until(f, no_follows, NULL, 5000));
  /* the subscription is gone too: appending notifies nobody and nothing crashes */
  kq_logstream_append(ls, 1, wall_now(f), "y\n", 2);
  run_until(f, never, NULL, 20);
  assert_int_equal(kq_kubelet_follows(f->k), 0);
}

static void test_follow_limit_bytes(void **state) {
  fx_t *f = *state;
  kq_logstream_t *ls = app(f, "p", "abc\n");
  kq_http_req_id_t id = start_get(f, "/containerLogs/default/p/main?follow=true&limitBytes=10", true, NULL);
  assert_true(run_until(f, one_follow, NULL, 5000));
  kq_logstream_append(ls, 1, wall_now(f), "defg\nhijklmn\n", 13);
  kq_http_resp_t *r = wait_done(f, id, 5000);
  assert_int_equal(r->rc, KQ_OK);
  char *all = sink_stream(&f->sink, id);
  assert_string_equal(all, "abc\ndefg\nh");
  free(all);
  assert_true(run_until(f, no_follows, NULL, 2000));
}

/* A follow stays open while idle longer than the connection timeout. */
static void test_follow_outlives_timeout(void **state) {
  fx_t *f = *state;
  kq_kubelet_free(f->k);
  start_server(f, &(kq_kubelet_opts_t){.address = "127.0.0.1", .timeout_s = 1});
  kq_logstream_t *ls = app(f, "p", "x\n");
  kq_http_req_id_t id = start_get(f, "/containerLogs/default/p/main?follow=true", true, NULL);
  assert_true(run_until(f, one_follow, NULL, 5000));
  run_until(f, never, NULL, 2500);
  assert_null(sink_done(&f->sink, id));
  assert_int_equal(kq_kubelet_follows(f->k), 1);
  kq_logstream_append(ls, 1, wall_now(f), "late\n", 5);
  const void *a[] = {&id, "x\nlate\n"};
  assert_true(run_until(f, stream_has, a, 5000));
  kq_logstream_end(ls, wall_now(f));
  assert_int_equal(wait_done(f, id, 5000)->rc, KQ_OK);
}

/* Follow streams are bounded: one over max_follows is refused with 503; POST is not served. */
static void test_follow_limit_and_methods(void **state) {
  fx_t *f = *state;
  kq_kubelet_free(f->k);
  start_server(f, &(kq_kubelet_opts_t){.address = "127.0.0.1", .max_follows = 1});
  app(f, "p", "x\n");
  start_get(f, "/containerLogs/default/p/main?follow=true", true, NULL);
  assert_true(run_until(f, one_follow, NULL, 5000));
  kq_http_resp_t *r = get(f, "/containerLogs/default/p/main?follow=true");
  assert_int_equal(r->status, 503);
  expect(f, "/containerLogs/default/p/main", 200, "x\n");
  char *url = kq_asprintf("http://127.0.0.1:%u/healthz", (unsigned)kq_kubelet_port(f->k));
  kq_http_req_t req = {.method = "POST", .url = url, .body = "x", .body_len = 1, .owner = f->aid, .done_id = SINK_DONE};
  kq_http_req_id_t id = kq_http_start(f->http, &req);
  free(url);
  r = wait_done(f, id, 5000);
  assert_int_equal(r->rc, KQ_OK);
  assert_int_equal(r->status, 405);
}

static void test_close_with_open_follow(void **state) {
  fx_t *f = *state;
  app(f, "p", "x\n");
  kq_http_req_id_t id = start_get(f, "/containerLogs/default/p/main?follow=true", true, NULL);
  assert_true(run_until(f, one_follow, NULL, 5000));
  kq_kubelet_free(f->k);   /* the teardown then closes the system: it must succeed */
  f->k = NULL;
  assert_true(run_until(f, has_done, &id, 5000));
}

static void test_tls_client_certs(void **state) {
  fx_t *f = *state;
  /* no client certificate: refused with a clear 401 */
  kq_http_resp_t *r = get(f, "/healthz");
  assert_int_equal(r->status, 401);
  assert_non_null(strstr(r->body, "client certificate is required"));
  r = get(f, "/pods");
  assert_int_equal(r->status, 401);
  /* a certificate from another CA: refused */
  f->other = kq_test_tls_new();
  kq_http_tls_t wrong = f->ctls;
  wrong.cert_file = f->other->client_cert_file;
  wrong.key_file = f->other->client_key_file;
  r = get_tls(f, "/healthz", &wrong);
  assert_int_equal(r->rc, KQ_OK);
  assert_int_equal(r->status, 401);
  assert_non_null(strstr(r->body, "not signed by the client CA"));
  /* the right one: served */
  kq_http_tls_t good = f->ctls;
  good.cert_file = f->tls->client_cert_file;
  good.key_file = f->tls->client_key_file;
  r = get_tls(f, "/healthz", &good);
  assert_int_equal(r->rc, KQ_OK);
  assert_int_equal(r->status, 200);
  assert_string_equal(r->body, "ok\n");
  kq_logstream_t *ls = app(f, "p", "secret line\n");
  r = get_tls(f, "/containerLogs/default/p/main", &good);
  assert_int_equal(r->status, 200);
  assert_string_equal(r->body, "secret line\n");
  /* follow over TLS, ended by the run's end */
  char *url = kq_asprintf("https://127.0.0.1:%u/containerLogs/default/p/main?follow=true", (unsigned)kq_kubelet_port(f->k));
  kq_http_req_t req = {.url = url, .owner = f->aid, .done_id = SINK_DONE, .chunk_id = SINK_CHUNK, .tls = &good};
  kq_http_req_id_t id = kq_http_start(f->http, &req);
  free(url);
  assert_true(run_until(f, one_follow, NULL, 5000));
  kq_logstream_append(ls, 1, wall_now(f), "more\n", 5);
  kq_logstream_end(ls, wall_now(f));
  r = wait_done(f, id, 5000);
  assert_int_equal(r->rc, KQ_OK);
  char *all = sink_stream(&f->sink, id);
  assert_string_equal(all, "secret line\nmore\n");
  free(all);
}

static void test_bad_options(void **state) {
  fx_t *f = *state;
  int err = 0;
  char *msg = NULL;
  kq_kubelet_opts_t o = {.address = "127.0.0.1", .tls = true};
  assert_null(kq_kubelet_new(f->sys, &o, &f->pv, &err, &msg));
  assert_int_equal(err, KQ_EINVAL);
  assert_non_null(strstr(msg, "client CA"));
  free(msg);
  o.client_ca_file = "/nonexistent/ca.pem";
  assert_null(kq_kubelet_new(f->sys, &o, &f->pv, &err, &msg));
  assert_int_equal(err, KQ_ETLS);
  assert_non_null(strstr(msg, "/nonexistent/ca.pem"));
  free(msg);
  o = (kq_kubelet_opts_t){.address = "127.0.0.1", .port = kq_kubelet_port(f->k)};
  assert_null(kq_kubelet_new(f->sys, &o, &f->pv, &err, &msg));   /* port in use */
  assert_int_equal(err, KQ_ENET);
  free(msg);
  o.port = 0;
  o.tls = true;
  o.allow_anonymous = true;
  o.cert_file = "/nonexistent/cert.pem";
  assert_null(kq_kubelet_new(f->sys, &o, &f->pv, &err, &msg));
  assert_int_equal(err, KQ_EINVAL);
  free(msg);
  o.key_file = "/nonexistent/key.pem";
  assert_null(kq_kubelet_new(f->sys, &o, &f->pv, &err, &msg));
  assert_int_equal(err, KQ_ETLS);
  free(msg);
}

/* ---- authorization by SubjectAccessReview against a scripted API server ---- */

typedef enum { SAR_ERROR, SAR_GARBAGE, SAR_HOLD, SAR_ALLOW } sar_mode_t;
typedef struct sar {
  sar_mode_t mode;
  size_t hits;
  char *last_body;
  struct evhttp_request *held;
} sar_t;

static void sar_reply(struct evhttp_request *req, int code, const char *body) {
  struct evbuffer *out = evbuffer_new();
  evbuffer_add_printf(out, "%s", body);
  evhttp_send_reply(req, code, "x", out);
  evbuffer_free(out);
}

static void sar_route(struct evhttp_request *req, void *ud) {
  sar_t *s = ud;
  s->hits++;
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  free(s->last_body);
  s->last_body = kq_strndup((const char *)evbuffer_pullup(in, -1), evbuffer_get_length(in));
  switch (s->mode) {
    case SAR_ERROR: sar_reply(req, 500, "{\"kind\":\"Status\",\"message\":\"etcd is down\"}"); break;
    case SAR_GARBAGE: sar_reply(req, 201, "{\"status\": [not json"); break;
    case SAR_HOLD: s->held = req; break;
    case SAR_ALLOW: sar_reply(req, 201, "{\"status\":{\"allowed\":true}}"); break;
  }
}

static bool no_actors(fx_t *f, const void *ud) { return kq_system_actor_count(f->sys) == 0; }
static bool sar_held(fx_t *f, const void *ud) { return ((const sar_t *)ud)->held != NULL; }

/* An API error or an unreadable answer is 503 and not cached; a client that leaves while its
 * review is pending is forgotten safely (the late answer is still cached); an allowed caller is
 * served, then from the cache; /healthz needs no review. */
static void test_authz_reviews(void **state) {
  fx_t *f = *state;
  kq_test_http_t *api = kq_test_http_new(f->base, NULL, false);
  sar_t sar = {.mode = SAR_ERROR};
  assert_int_equal(kq_test_http_route(api, "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar_route, &sar), 0);
  kq_k8s_config_t cfg = {0};
  cfg.server = kq_test_http_url(api, "/");
  cfg.server[strlen(cfg.server) - 1] = '\0';
  kq_kubelet_authz_opts_t ao = {.config = &cfg, .http = f->http, .node_name = "node-x"};
  assert_int_equal(kq_kubelet_set_authz(f->k, &ao), KQ_OK);
  kq_http_tls_t good = f->ctls;
  good.cert_file = f->tls->client_cert_file;
  good.key_file = f->tls->client_key_file;

  kq_http_resp_t *r = get_tls(f, "/pods", &good);
  assert_int_equal(r->status, 503);
  assert_non_null(strstr(r->body, "etcd is down"));
  assert_non_null(strstr(sar.last_body, "\"user\":\"kuack-test-client\""));
  assert_non_null(strstr(sar.last_body, "\"groups\":[\"kuack tests\",\"system:authenticated\"]")); /* O + added */
  assert_non_null(strstr(sar.last_body, "\"verb\":\"get\",\"resource\":\"nodes\",\"subresource\":\"proxy\",\"name\":\"node-x\""));
  sar.mode = SAR_GARBAGE;
  r = get_tls(f, "/pods", &good);
  assert_int_equal(r->status, 503);
  assert_non_null(strstr(r->body, "unreadable"));
  assert_int_equal(kq_kubelet_authz_reviews(f->k), 2);
  r = get_tls(f, "/healthz", &good);
  assert_int_equal(r->status, 200);
  assert_int_equal(kq_kubelet_authz_reviews(f->k), 2);

  /* the client gives up while the review is pending */
  sar.mode = SAR_HOLD;
  char *url = kq_asprintf("https://127.0.0.1:%u/pods", (unsigned)kq_kubelet_port(f->k));
  kq_http_req_t req = {.url = url, .owner = f->aid, .done_id = SINK_DONE, .tls = &good, .timeout_ms = 300};
  kq_http_req_id_t id = kq_http_start(f->http, &req);
  free(url);
  assert_true(run_until(f, sar_held, &sar, 5000));
  r = wait_done(f, id, 5000);
  assert_int_equal(r->rc, KQ_ETIMEDOUT);
  run_until(f, never, NULL, 100); /* the kubelet sees the connection close */
  sar_reply(sar.held, 201, "{\"status\":{\"allowed\":true}}");
  sar.held = NULL;
  run_until(f, never, NULL, 100);
  assert_int_equal(kq_kubelet_authz_reviews(f->k), 3);

  /* the late decision was cached: served without a new review */
  sar.mode = SAR_ALLOW;
  app(f, "p", "allowed line\n");
  r = get_tls(f, "/containerLogs/default/p/main", &good);
  assert_int_equal(r->status, 200);
  assert_string_equal(r->body, "allowed line\n");
  assert_int_equal(kq_kubelet_authz_reviews(f->k), 3);
  assert_int_equal(sar.hits, 3);

  /* leaves the kubelet with nothing pending; the actor stops before the HTTP client goes */
  kq_kubelet_free(f->k);
  f->k = NULL;
  kq_system_shutdown(f->sys, NULL, NULL);
  assert_true(run_until(f, no_actors, NULL, 5000));
  kq_test_http_free(api);
  free(sar.last_body);
  kq_k8s_config_clear(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_healthz_and_404, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pods, setup, teardown),
      cmocka_unit_test_setup_teardown(test_logs_params, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_params, setup, teardown),
      cmocka_unit_test_setup_teardown(test_follow, setup, teardown),
      cmocka_unit_test_setup_teardown(test_follow_pod_gone, setup, teardown),
      cmocka_unit_test_setup_teardown(test_follow_client_gone, setup, teardown),
      cmocka_unit_test_setup_teardown(test_follow_limit_bytes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_follow_outlives_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_follow_limit_and_methods, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_with_open_follow, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_client_certs, setup_tls_files, teardown),
      cmocka_unit_test_setup_teardown(test_tls_client_certs, setup_tls_self, teardown),
      cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
      cmocka_unit_test_setup_teardown(test_authz_reviews, setup_tls_files, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
