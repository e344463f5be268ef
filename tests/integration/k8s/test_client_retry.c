/* The API client against a scripted API server (tests/support/kq_test_http.h routes), for what a
 * real kube-apiserver will not do on demand: 429/5xx with Retry-After, the client-side token
 * bucket (QPS/burst), a 401 after token rotation (the token file is re-read and the request
 * retried), a retried Event POST whose first answer was lost (same name → 409, no duplicate),
 * and a watch that ends with an ERROR 410 event (relist; the SYNC drops pods deleted meanwhile
 * and carries new ones; the next watch resumes from the new list's resourceVersion). One thread:
 * the test steps the loop that drives both client and server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kq_actor.h"
#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_http.h"
#include "kq_k8s_client.h"
#include "kq_k8s_config.h"
#include "kq_test_http.h"
#include "kq_test_loop.h"

enum { M_POD = KQ_MSG_USER, M_RESULT, M_DATA, M_RUN };

/* ---- a sink actor that keeps what it receives and runs closures (to send requests) ---- */

typedef struct run_msg {
  kq_msg_t hdr;
  void (*fn)(kq_actor_t *self, void *ud);
  void *ud;
} run_msg_t;

#define MAXM 64
typedef struct sink {
  kq_msg_t *msgs[MAXM];
  size_t n;
} sink_t;
static sink_t g_sink;

static int sink_init(kq_actor_t *self, void *state, void *arg) {
  return KQ_OK;
}
static void sink_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  if (m->id == M_RUN) {
    run_msg_t *r = (run_msg_t *)m;
    r->fn(self, r->ud);
    return;
  }
  if (g_sink.n == MAXM) return;
  kq_msg_t *copy = kq_msg_new(m->id, m->size);
  memcpy((char *)copy + sizeof(kq_msg_t), (char *)m + sizeof(kq_msg_t), m->size - sizeof(kq_msg_t));
  copy->dtor = m->dtor;
  m->dtor = NULL;
  g_sink.msgs[g_sink.n++] = copy;
}
static void sink_stop(kq_actor_t *self, void *state) {}
static const kq_actor_type_t sink_type = {"sink", 1, sink_init, sink_dispatch, sink_stop, NULL, 0};

/* ---- the scripted API server ---- */

#define MAXHITS 32
typedef struct route {
  const char *path;
  int codes[8]; /* status per hit (the last one repeats); 0 ends the list */
  const char *retry_after;
  const char *body; /* success body */
  size_t hits;
  uint64_t at_ms[MAXHITS];
  char *auth[MAXHITS]; /* Authorization of each hit (owned) */
  char *req_body[MAXHITS];
  bool hold_first; /* keep the first request unanswered (in `held`) */
  struct evhttp_request *held;
} route_t;

static void route_fn(struct evhttp_request *req, void *ud) {
  route_t *r = ud;
  size_t i = r->hits++;
  int code = r->codes[0];
  for (size_t k = 0; k < 8 && r->codes[k]; k++)
    if (k <= i) code = r->codes[k];
  if (i < MAXHITS) {
    r->at_ms[i] = kq_test_now_ms();
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    r->auth[i] = kq_strdup(a ? a : "");
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    r->req_body[i] = kq_strndup((const char *)evbuffer_pullup(in, -1), len);
  }
  if (i == 0 && r->hold_first) {
    r->held = req;
    return;
  }
  struct evbuffer *out = evbuffer_new();
  if (code >= 200 && code < 300) {
    evbuffer_add_printf(out, "%s", r->body ? r->body : "{}");
  } else {
    evbuffer_add_printf(out,
                        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                        "\"message\":\"scripted %d\",\"code\":%d}",
                        code, code);
    if (r->retry_after)
      evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", r->retry_after);
  }
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
  evhttp_send_reply(req, code, "scripted", out);
  evbuffer_free(out);
}

static void route_clear(route_t *r) {
  for (size_t i = 0; i < r->hits && i < MAXHITS; i++) {
    free(r->auth[i]);
    free(r->req_body[i]);
  }
}

/* /api/v1/pods: list #1 → {old} at rv 10; watch #1 → one ERROR 410 line and the end; list #2 →
 * {fresh} at rv 20; watch #2 → held open (chunked, nothing sent) until the test ends. */
typedef struct pods_route {
  size_t lists, watches;
  char *last_watch_uri;
  struct evhttp_request *held;
} pods_route_t;

#define POD_JSON(name, uid)                                                          \
  "{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"default\",\"uid\":\"" uid    \
  "\","                                                                              \
  "\"resourceVersion\":\"5\"},\"spec\":{\"nodeName\":\"kuack-node\",\"containers\":" \
  "[{\"name\":\"c\",\"image\":\"reg/x:v1\"}]},\"status\":{\"phase\":\"Pending\"}}"

static void pods_fn(struct evhttp_request *req, void *ud) {
  pods_route_t *p = ud;
  const char *uri = evhttp_request_get_uri(req);
  struct evbuffer *out = evbuffer_new();
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
  if (!strstr(uri, "watch=1")) {
    p->lists++;
    if (p->lists == 1)
      evbuffer_add_printf(out,
                          "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"10\"},"
                          "\"items\":[" POD_JSON("old", "u-old") "]}");
    else
      evbuffer_add_printf(out,
                          "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"20\"},"
                          "\"items\":[" POD_JSON("fresh", "u-fresh") "]}");
    evhttp_send_reply(req, 200, "OK", out);
  } else {
    p->watches++;
    free(p->last_watch_uri);
    p->last_watch_uri = kq_strdup(uri);
    if (p->watches == 1) {
      evbuffer_add_printf(out,
                          "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":"
                          "\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old "
                          "resource version: 10 (15)\",\"reason\":\"Expired\",\"code\":410}}\n");
      evhttp_send_reply(req, 200, "OK", out);
    } else {
      evhttp_send_reply_start(req, 200, "OK");
      if (p->held) evhttp_send_reply_end(p->held);
      p->held = req;
    }
  }
  evbuffer_free(out);
}

/* ---- fixture ---- */

typedef struct fx {
  struct event_base *base;
  kq_system_t *sys;
  kq_http_t *http;
  kq_test_http_t *srv;
  kq_k8s_config_t cfg;
  kq_aid_t sink, client;
  kq_k8s_client_stats_t stats;
  char dir[64];
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

static void run(fx_t *f, void (*fn)(kq_actor_t *, void *), void *ud) {
  run_msg_t *m = KQ_MSG_NEW(run_msg_t, M_RUN);
  m->fn = fn;
  m->ud = ud;
  kq_send(f->sys, f->sink, &m->hdr);
}

static void write_token(fx_t *f, const char *tok) {
  char p[128];
  snprintf(p, sizeof p, "%s/token", f->dir);
  FILE *fp = fopen(p, "w");
  assert_non_null(fp);
  fputs(tok, fp);
  fclose(fp);
}

static void fx_start(fx_t *f, kq_k8s_client_opts_t *o) {
  memset(f, 0, sizeof(*f));
  memset(&g_sink, 0, sizeof g_sink);
  f->base = event_base_new();
  f->sys = kq_system_new(f->base, NULL);
  f->http = kq_http_new(f->sys);
  f->srv = kq_test_http_new(f->base, NULL, false);
  snprintf(f->dir, sizeof f->dir, "/tmp/kq-k8s-retry-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  write_token(f, "old-token\n");
  char *url = kq_test_http_url(f->srv, "/");
  url[strlen(url) - 1] = '\0'; /* no trailing slash */
  f->cfg.server = url;
  f->cfg.token_file = kq_asprintf("%s/token", f->dir);
  f->sink = kq_spawn(f->sys, &sink_type, NULL, NULL);
  o->config = &f->cfg;
  o->http = f->http;
  o->stats = &f->stats;
  o->kubelet_version = "v1";
}

static void fx_spawn(fx_t *f, kq_k8s_client_opts_t *o) {
  if (o->pod_event_id) o->pod_subscriber = f->sink;
  int rc;
  f->client = kq_k8s_client_spawn(f->sys, o, &rc);
  assert_int_not_equal(f->client, KQ_AID_NONE);
}

static bool no_actors(fx_t *f, const void *ud) {
  return kq_system_actor_count(f->sys) == 0;
}
static bool idle(fx_t *f, const void *ud) {
  return kq_system_idle(f->sys);
}

static void fx_stop(fx_t *f) {
  for (size_t i = 0; i < g_sink.n; i++) kq_msg_free(g_sink.msgs[i]);
  g_sink.n = 0;
  kq_system_shutdown(f->sys, NULL, NULL);
  assert_true(run_until(f, no_actors, NULL, 5000));
  kq_http_free(f->http);
  assert_true(run_until(f, idle, NULL, 5000));
  kq_test_http_free(f->srv);
  assert_int_equal(kq_system_close(f->sys), KQ_OK);
  event_base_free(f->base);
  kq_k8s_config_clear(&f->cfg);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
  assert_int_equal(system(cmd), 0);
}

static kq_msg_t *find_msg(uint32_t id, uint64_t cookie) {
  for (size_t i = 0; i < g_sink.n; i++) {
    kq_msg_t *m = g_sink.msgs[i];
    if (m->id != id) continue;
    if (id == M_RESULT && ((kq_k8s_result_msg_t *)m)->cookie != cookie) continue;
    if (id == M_DATA && ((kq_k8s_data_msg_t *)m)->cookie != cookie) continue;
    return m;
  }
  return NULL;
}
static bool has_result(fx_t *f, const void *ud) {
  return find_msg(M_RESULT, *(const uint64_t *)ud) != NULL;
}
static bool has_data(fx_t *f, const void *ud) {
  return find_msg(M_DATA, *(const uint64_t *)ud) != NULL;
}
static bool hits_ge(fx_t *f, const void *ud) {
  const void *const *a = ud;
  return ((const route_t *)a[0])->hits >= (size_t)(uintptr_t)a[1];
}
static bool events_ge(fx_t *f, const void *ud) {
  return f->stats.events >= *(const uint64_t *)ud;
}

/* ---- requests sent from the sink ---- */

static const char *g_event_ns = "default";
static int g_nevents = 1;
static void emit_events(kq_actor_t *self, void *ud) {
  fx_t *f = ud;
  for (int i = 0; i < g_nevents; i++) {
    kq_k8s_event_t ev = {
        .kind = "Pod", .ns = g_event_ns, .name = "p", .reason = "Started", .message = "m"};
    assert_int_equal(kq_k8s_emit_event(self, f->client, &ev), KQ_OK);
  }
}
static void patch_status(kq_actor_t *self, void *ud) {
  fx_t *f = ud;
  kq_pod_status_t st = {.phase = KQ_PHASE_RUNNING};
  assert_int_equal(kq_k8s_patch_pod_status(self, f->client, "default", "p", &st, M_RESULT, 1),
                   KQ_OK);
  assert_int_equal(kq_k8s_patch_pod_status(self, f->client, "default", "gone", &st, M_RESULT, 2),
                   KQ_OK);
}
static void get_cm(kq_actor_t *self, void *ud) {
  fx_t *f = ud;
  assert_int_equal(kq_k8s_get_configmap(self, f->client, "default", "c", M_DATA, 3), KQ_OK);
}

/* 503 + Retry-After: 1 → retried after >= 1 s and succeeds; 403 is retried, 404 is final (ENOENT);
 * 429 + Retry-After on an Event is honoured too. */
static void test_retry_after(void **state) {
  fx_t f;
  kq_k8s_client_opts_t o = {0};
  fx_start(&f, &o);
  route_t st = {
      .path = "/api/v1/namespaces/default/pods/p/status", .codes = {503, 200}, .retry_after = "1"};
  route_t gone = {.path = "/api/v1/namespaces/default/pods/gone/status", .codes = {403, 404}};
  route_t ev = {.path = "/api/v1/namespaces/ra/events", .codes = {429, 201}, .retry_after = "1"};
  assert_int_equal(kq_test_http_route(f.srv, st.path, route_fn, &st), 0);
  assert_int_equal(kq_test_http_route(f.srv, gone.path, route_fn, &gone), 0);
  assert_int_equal(kq_test_http_route(f.srv, ev.path, route_fn, &ev), 0);
  fx_spawn(&f, &o);
  run(&f, patch_status, &f);
  g_event_ns = "ra";
  g_nevents = 1;
  run(&f, emit_events, &f);
  uint64_t c1 = 1, c2 = 2, one = 1;
  assert_true(run_until(&f, has_result, &c1, 10000));
  assert_true(run_until(&f, has_result, &c2, 10000));
  assert_true(run_until(&f, events_ge, &one, 10000));
  kq_k8s_result_msg_t *r1 = (kq_k8s_result_msg_t *)find_msg(M_RESULT, 1);
  kq_k8s_result_msg_t *r2 = (kq_k8s_result_msg_t *)find_msg(M_RESULT, 2);
  assert_int_equal(r1->rc, KQ_OK);
  assert_int_equal(r1->status, 200);
  assert_int_equal(st.hits, 2);
  assert_true(st.at_ms[1] - st.at_ms[0] >= 950); /* Retry-After: 1 */
  assert_true(st.at_ms[1] - st.at_ms[0] < 5000);
  assert_int_equal(r2->rc, KQ_ENOENT);
  assert_int_equal(r2->status, 404);
  assert_non_null(r2->error);
  assert_string_equal(r2->error, "scripted 404");
  assert_int_equal(gone.hits,
                   2); /* 403 (an API server still syncing RBAC) is retried, 404 is final */
  assert_int_equal(ev.hits, 2);
  assert_true(ev.at_ms[1] - ev.at_ms[0] >= 950);
  assert_int_equal(f.stats.retries, 3);
  fx_stop(&f);
  route_clear(&st);
  route_clear(&gone);
  route_clear(&ev);
}

/* A status patch outlasts a long outage: 12 × 503 (beyond the attempts other requests get),
 * then 200. */
static void patch_one(kq_actor_t *self, void *ud) {
  fx_t *f = ud;
  kq_pod_status_t st = {.phase = KQ_PHASE_SUCCEEDED};
  assert_int_equal(kq_k8s_patch_pod_status(self, f->client, "default", "p", &st, M_RESULT, 20), KQ_OK);
}

static void test_status_outlasts_outage(void **state) {
  fx_t f;
  kq_k8s_client_opts_t o = {0};
  fx_start(&f, &o);
  route_t st = {.path = "/api/v1/namespaces/default/pods/p/status", .codes = {503}, .retry_after = "0"};
  assert_int_equal(kq_test_http_route(f.srv, st.path, route_fn, &st), 0);
  fx_spawn(&f, &o);
  run(&f, patch_one, &f);
  const void *want[2] = {&st, (void *)(uintptr_t)12};
  assert_true(run_until(&f, hits_ge, want, 10000));
  assert_null(find_msg(M_RESULT, 20)); /* not given up */
  st.codes[0] = 200;
  uint64_t c20 = 20;
  assert_true(run_until(&f, has_result, &c20, 10000));
  assert_int_equal(((kq_k8s_result_msg_t *)find_msg(M_RESULT, 20))->rc, KQ_OK);
  assert_true(st.hits > 12);
  fx_stop(&f);
  route_clear(&st);
}

/* qps 5, burst 2: 7 Events → 2 at once, then one every 200 ms (>= 1 s for all). */
static void test_rate_limit(void **state) {
  fx_t f;
  kq_k8s_client_opts_t o = {.qps = 5, .burst = 2};
  fx_start(&f, &o);
  route_t ev = {.path = "/api/v1/namespaces/default/events", .codes = {201}};
  assert_int_equal(kq_test_http_route(f.srv, ev.path, route_fn, &ev), 0);
  fx_spawn(&f, &o);
  g_event_ns = "default";
  g_nevents = 7;
  run(&f, emit_events, &f);
  uint64_t seven = 7;
  assert_true(run_until(&f, events_ge, &seven, 10000));
  assert_int_equal(ev.hits, 7);
  uint64_t span = ev.at_ms[6] - ev.at_ms[0];
  assert_true(ev.at_ms[1] - ev.at_ms[0] < 150); /* the burst */
  assert_true(span >= 950);                     /* 5 more tokens at 5/s */
  assert_true(span < 4000);
  for (size_t i = 3; i < 7; i++) assert_true(ev.at_ms[i] - ev.at_ms[i - 1] >= 150);
  assert_true(f.stats.throttled > 0);
  /* every Event has its own name (not generateName), the same object's name first */
  for (size_t i = 0; i < 7; i++) {
    assert_non_null(strstr(ev.req_body[i], "\"name\":\"p."));
    assert_null(strstr(ev.req_body[i], "generateName"));
    for (size_t j = 0; j < i; j++) assert_string_not_equal(ev.req_body[i], ev.req_body[j]);
  }
  fx_stop(&f);
  route_clear(&ev);
}

/* A retried Event POST keeps its name: 500 (answer lost) then 409 is success, no error. */
static void test_event_retry_no_duplicate(void **state) {
  fx_t f;
  kq_k8s_client_opts_t o = {0};
  fx_start(&f, &o);
  route_t ev = {.path = "/api/v1/namespaces/dup/events", .codes = {500, 409}, .retry_after = "0"};
  assert_int_equal(kq_test_http_route(f.srv, ev.path, route_fn, &ev), 0);
  fx_spawn(&f, &o);
  g_event_ns = "dup";
  g_nevents = 1;
  run(&f, emit_events, &f);
  uint64_t one = 1;
  assert_true(run_until(&f, events_ge, &one, 10000));
  assert_int_equal(ev.hits, 2);
  assert_string_equal(ev.req_body[0], ev.req_body[1]);
  assert_int_equal(f.stats.errors, 0);
  fx_stop(&f);
  route_clear(&ev);
}

/* The token file rotated: the cached token gets 401, the client re-reads the file at once and
 * the retry carries the new token. A second 401 with the new token is final (KQ_EAUTH). */
static void test_token_rotation_401(void **state) {
  fx_t f;
  kq_k8s_client_opts_t o = {0};
  fx_start(&f, &o);
  route_t cm = {.path = "/api/v1/namespaces/default/configmaps/c",
                .codes = {401, 200},
                .body = "{\"kind\":\"ConfigMap\",\"data\":{\"a\":\"b\"}}"};
  assert_int_equal(kq_test_http_route(f.srv, cm.path, route_fn, &cm), 0);
  /* the first Authorization read caches "old-token" */
  assert_string_equal(kq_k8s_config_auth(&f.cfg, kq_now_ns(kq_system_clock(f.sys))),
                      "Bearer old-token");
  write_token(&f, "new-token\n");
  fx_spawn(&f, &o);
  run(&f, get_cm, &f);
  uint64_t c3 = 3;
  assert_true(run_until(&f, has_data, &c3, 10000));
  kq_k8s_data_msg_t *d = (kq_k8s_data_msg_t *)find_msg(M_DATA, 3);
  assert_int_equal(d->rc, KQ_OK);
  assert_int_equal(d->ndata, 1);
  assert_string_equal(d->data[0].value, "b");
  assert_int_equal(cm.hits, 2);
  assert_string_equal(cm.auth[0], "Bearer old-token");
  assert_string_equal(cm.auth[1], "Bearer new-token");
  fx_stop(&f);
  route_clear(&cm);

  /* still 401 after the re-read: final */
  fx_start(&f, &o);
  route_t cm2 = {.path = "/api/v1/namespaces/default/configmaps/c", .codes = {401}};
  assert_int_equal(kq_test_http_route(f.srv, cm2.path, route_fn, &cm2), 0);
  fx_spawn(&f, &o);
  run(&f, get_cm, &f);
  assert_true(run_until(&f, has_data, &c3, 10000));
  d = (kq_k8s_data_msg_t *)find_msg(M_DATA, 3);
  assert_int_equal(d->rc, KQ_EAUTH);
  assert_int_equal(cm2.hits, 2);
  fx_stop(&f);
  route_clear(&cm2);
}

/* Status patches for one pod go out one at a time, in order, and a newer one supersedes a
 * queued older one: Pending is on the wire (held by the server), Running and Succeeded queue up,
 * only Succeeded follows once Pending is answered. */
static void patch_three(kq_actor_t *self, void *ud) {
  fx_t *f = ud;
  kq_pod_phase_t ph[3] = {KQ_PHASE_PENDING, KQ_PHASE_RUNNING, KQ_PHASE_SUCCEEDED};
  for (int i = 0; i < 3; i++) {
    kq_pod_status_t st = {.phase = ph[i]};
    assert_int_equal(
        kq_k8s_patch_pod_status(self, f->client, "default", "o", &st, M_RESULT, 10 + (uint64_t)i),
        KQ_OK);
  }
}
static bool held(fx_t *f, const void *ud) {
  return ((const route_t *)ud)->held != NULL;
}
static bool never(fx_t *f, const void *ud) {
  return false;
}

static void test_status_order(void **state) {
  fx_t f;
  kq_k8s_client_opts_t o = {0};
  fx_start(&f, &o);
  route_t st = {
      .path = "/api/v1/namespaces/default/pods/o/status", .codes = {200}, .hold_first = true};
  assert_int_equal(kq_test_http_route(f.srv, st.path, route_fn, &st), 0);
  fx_spawn(&f, &o);
  run(&f, patch_three, &f);
  assert_true(run_until(&f, held, &st, 10000));
  run_until(&f, never, NULL, 300); /* time for a (wrong) concurrent patch to arrive */
  assert_int_equal(st.hits, 1);
  assert_non_null(strstr(st.req_body[0], "\"Pending\""));
  struct evbuffer *out = evbuffer_new();
  evbuffer_add_printf(out, "{}");
  evhttp_send_reply(st.held, 200, "OK", out);
  evbuffer_free(out);
  uint64_t c12 = 12;
  assert_true(run_until(&f, has_result, &c12, 10000));
  assert_int_equal(((kq_k8s_result_msg_t *)find_msg(M_RESULT, 12))->rc, KQ_OK);
  assert_int_equal(st.hits, 2);
  assert_non_null(strstr(st.req_body[1], "\"Succeeded\""));
  assert_null(find_msg(M_RESULT, 11)); /* Running was superseded, never sent */
  fx_stop(&f);
  route_clear(&st);
}

/* ---- watch ERROR 410 → relist ---- */

static kq_k8s_pod_event_msg_t *find_sync(bool relist) {
  for (size_t i = 0; i < g_sink.n; i++) {
    kq_k8s_pod_event_msg_t *e = (kq_k8s_pod_event_msg_t *)g_sink.msgs[i];
    if (e->hdr.id == M_POD && e->kind == KQ_K8S_POD_SYNC && e->relist == relist) return e;
  }
  return NULL;
}
static bool has_sync(fx_t *f, const void *ud) {
  return find_sync(*(const bool *)ud) != NULL;
}
static bool watches_ge(fx_t *f, const void *ud) {
  const pods_route_t *p = ud;
  return p->watches >= 2;
}

static void test_watch_410_relist(void **state) {
  fx_t f;
  kq_k8s_client_opts_t o = {.pod_event_id = M_POD};
  fx_start(&f, &o);
  pods_route_t pr = {0};
  assert_int_equal(kq_test_http_route(f.srv, "/api/v1/pods", pods_fn, &pr), 0);
  fx_spawn(&f, &o);
  bool first = false, relist = true;
  assert_true(run_until(&f, has_sync, &first, 10000));
  kq_k8s_pod_event_msg_t *s1 = find_sync(false);
  assert_int_equal(s1->npods, 1);
  assert_string_equal(s1->pods[0].meta.name, "old");
  assert_string_equal(s1->rv, "10");
  assert_true(run_until(&f, has_sync, &relist, 10000));
  kq_k8s_pod_event_msg_t *s2 = find_sync(true);
  /* the complete set after the relist: "old" (deleted while the watch was gone) is not in it */
  assert_int_equal(s2->npods, 1);
  assert_string_equal(s2->pods[0].meta.name, "fresh");
  assert_string_equal(s2->rv, "20");
  assert_true(run_until(&f, watches_ge, &pr, 10000));
  assert_int_equal(pr.lists, 2);
  assert_non_null(strstr(pr.last_watch_uri, "resourceVersion=20"));
  assert_non_null(strstr(pr.last_watch_uri, "allowWatchBookmarks=true"));
  assert_non_null(strstr(pr.last_watch_uri, "fieldSelector=spec.nodeName%3Dkuack-node"));
  assert_int_equal(f.stats.relists, 1);
  assert_int_equal(f.stats.lists, 2);
  /* no ADDED/DELETED were invented: only the two SYNCs */
  size_t pods_msgs = 0;
  for (size_t i = 0; i < g_sink.n; i++) pods_msgs += g_sink.msgs[i]->id == M_POD;
  assert_int_equal(pods_msgs, 2);
  struct evhttp_request *held = pr.held;
  for (size_t i = 0; i < g_sink.n; i++) kq_msg_free(g_sink.msgs[i]);
  g_sink.n = 0;
  kq_system_shutdown(f.sys, NULL, NULL);
  assert_true(run_until(&f, no_actors, NULL, 5000));
  kq_http_free(f.http);
  assert_true(run_until(&f, idle, NULL, 5000));
  if (held) evhttp_send_reply_end(held); /* the client went away: release the held stream */
  kq_test_http_free(f.srv);
  assert_int_equal(kq_system_close(f.sys), KQ_OK);
  event_base_free(f.base);
  kq_k8s_config_clear(&f.cfg);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", f.dir);
  assert_int_equal(system(cmd), 0);
  free(pr.last_watch_uri);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_retry_after),
      cmocka_unit_test(test_rate_limit),
      cmocka_unit_test(test_event_retry_no_duplicate),
      cmocka_unit_test(test_token_rotation_401),
      cmocka_unit_test(test_status_order),
      cmocka_unit_test(test_status_outlasts_outage),
      cmocka_unit_test(test_watch_410_relist),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
