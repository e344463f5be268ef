/* HTTP client against the local test server, both on one real event_base stepped with
 * EVLOOP_ONCE until a condition or a deadline. A sink actor keeps every message it gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kq_test_loop.h"

#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_http.h"
#include "kq_test_http.h"
#include "kq_test_tls.h"

#define SINK_MSGS(X) X(SINK_DONE) X(SINK_CHUNK) X(SINK_BUSY)
KQ_MSG_IDS(sink, SINK_MSGS)

/* ---- sink actor: keeps every message it gets (kq_msg_take) ---- */

typedef struct sink {
  kq_msg_t **msgs;
  size_t n, cap;
  size_t chunks, dones;
  unsigned busy_per_chunk;   /* simulated work: self-messages queued per chunk received */
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
  if (m->id == SINK_BUSY) return;
  if (m->id == SINK_CHUNK)
    for (unsigned i = 0; i < s->busy_per_chunk; i++)
      kq_send_signal(kq_actor_system(self), kq_self(self), kq_self(self), SINK_BUSY);
  kq_msg_t *copy = kq_msg_take(self, m);   /* kept; freed by sink_clear */
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 64;
    s->msgs = kq_realloc(s->msgs, s->cap * sizeof *s->msgs);
  }
  s->msgs[s->n++] = copy;
  if (m->id == SINK_CHUNK) s->chunks++;
  if (m->id == SINK_DONE) s->dones++;
}

static void sink_stop(kq_actor_t *self, void *state) {}

static const kq_actor_type_t sink_type = {
    .name = "sink", .state_size = sizeof(sink_state_t), .init = sink_init,
    .dispatch = sink_dispatch, .stop = sink_stop, .msg_names = sink_msg_names,
    .msg_count = sink_msg_count};

static void sink_clear(sink_t *s) {
  for (size_t i = 0; i < s->n; i++) kq_msg_free(s->msgs[i]);
  s->n = s->chunks = s->dones = 0;
}

static kq_http_resp_t *sink_done(sink_t *s, kq_http_req_id_t req) {
  for (size_t i = 0; i < s->n; i++)
    if (s->msgs[i]->id == SINK_DONE && ((kq_http_resp_t *)s->msgs[i])->req == req)
      return (kq_http_resp_t *)s->msgs[i];
  return NULL;
}

/* ---- fixture ---- */

typedef struct fx {
  struct event_base *base;
  kq_system_t *sys;
  kq_http_t *http;
  kq_test_http_t *srv;
  kq_test_tls_t *tls;
  sink_t sink;
  kq_aid_t aid;
} fx_t;

/* Steps the loop until cond(f, ud) holds or `ms` pass. Returns cond's final value. */
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
static void run_for(fx_t *f, unsigned ms) { run_until(f, never, NULL, ms); }

static bool has_done(fx_t *f, const void *ud) { return sink_done(&f->sink, *(const kq_http_req_id_t *)ud) != NULL; }
static bool dones_at_least(fx_t *f, const void *ud) { return f->sink.dones >= *(const size_t *)ud; }
static bool chunks_at_least(fx_t *f, const void *ud) { return f->sink.chunks >= *(const size_t *)ud; }
static bool system_idle(fx_t *f, const void *ud) { return kq_system_idle(f->sys); }
static bool no_actors(fx_t *f, const void *ud) { return kq_system_actor_count(f->sys) == 0; }
static bool sink_drained(fx_t *f, const void *ud) { return kq_actor_mailbox_depth(f->sys, f->aid) == 0; }

static int setup_opts(void **state, bool with_tls, bool require_client_cert, uint32_t high_water) {
  fx_t *f = KQ_NEW(fx_t);
  f->base = event_base_new();
  /* with a small mailbox, also make the actor slow: one message per turn, then I/O again */
  kq_system_opts_t opts = {.mailbox_high_water = high_water, .batch_limit = high_water ? 1 : 0,
                           .turn_limit = high_water ? 1 : 0};
  f->sys = kq_system_new(f->base, &opts);
  f->http = kq_http_new(f->sys);
  if (with_tls) f->tls = kq_test_tls_new();
  f->srv = kq_test_http_new(f->base, f->tls, require_client_cert);
  f->aid = kq_spawn(f->sys, &sink_type, &f->sink, NULL);
  assert_true(f->aid != KQ_AID_NONE);
  *state = f;
  return 0;
}

static int setup(void **state) { return setup_opts(state, false, false, 0); }
static int setup_https(void **state) { return setup_opts(state, true, false, 0); }
static int setup_mtls(void **state) { return setup_opts(state, true, true, 0); }
static int setup_small_mailbox(void **state) { return setup_opts(state, false, false, 4); }

static uint64_t metric(fx_t *f, const char *series) {
  char *text = kq_metrics_render(kq_system_metrics(f->sys), NULL);
  char *at = strstr(text, series);
  uint64_t v = at ? strtoull(at + strlen(series), NULL, 10) : UINT64_MAX;
  free(text);
  return v;
}

static int teardown(void **state) {
  fx_t *f = *state;
  kq_http_free(f->http);   /* cancels whatever a failed test left in flight */
  kq_system_shutdown(f->sys, NULL, NULL);
  assert_true(run_until(f, system_idle, NULL, 5000));
  kq_test_http_free(f->srv);
  assert_int_equal(kq_system_close(f->sys), KQ_OK);
  run_for(f, 10);   /* let libevent finish closing server sockets */
  event_base_free(f->base);
  kq_test_tls_free(f->tls);
  sink_clear(&f->sink);
  free(f->sink.msgs);
  free(f);
  return 0;
}

/* Starts a request to `path` on the test server with the sink as owner. */
static kq_http_req_id_t start(fx_t *f, kq_http_req_t *r, const char *path) {
  char *url = kq_test_http_url(f->srv, path);
  r->url = url;
  r->owner = f->aid;
  r->done_id = SINK_DONE;
  kq_http_req_id_t id = kq_http_start(f->http, r);
  free(url);
  assert_true(id != 0);
  return id;
}

static kq_http_resp_t *wait_done(fx_t *f, kq_http_req_id_t id, unsigned ms) {
  assert_true(run_until(f, has_done, &id, ms));
  return sink_done(&f->sink, id);
}

static kq_http_resp_t *get(fx_t *f, const char *path) {
  kq_http_req_t r = {0};
  return wait_done(f, start(f, &r, path), 5000);
}

/* ---- tests ---- */

static void test_get_collect(void **state) {
  fx_t *f = *state;
  kq_http_resp_t *r = get(f, "/fixed");
  assert_int_equal(r->rc, KQ_OK);
  assert_int_equal(r->status, 200);
  assert_string_equal(r->body, KQ_TEST_HTTP_FIXED_BODY);
  assert_int_equal(r->body_len, strlen(KQ_TEST_HTTP_FIXED_BODY));
  assert_null(r->error);
  char v[64];
  assert_int_equal(kq_http_header_get(r->headers, "x-test", v, sizeof v), KQ_OK);
  assert_string_equal(v, "fixed");
  assert_int_equal(kq_http_inflight(f->http), 0);
  assert_int_equal(kq_system_handle_count(f->sys), 0);
  char *text = kq_metrics_render(kq_system_metrics(f->sys), NULL);
  assert_non_null(strstr(text, "kuack_http_requests_total{result=\"ok\"} 1"));
  free(text);
}

static void test_post_echo(void **state) {
  fx_t *f = *state;
  static const char body[] = "payload-123\0binary";
  kq_http_header_t hdrs[] = {{"X-One", "1"}, {"X-Two", "two words"}, {"X-Empty", ""}};
  kq_http_req_t r = {.method = "POST", .headers = hdrs, .nheaders = 3, .body = body, .body_len = sizeof body - 1};
  kq_http_resp_t *resp = wait_done(f, start(f, &r, "/echo?q=1"), 5000);
  assert_int_equal(resp->rc, KQ_OK);
  assert_int_equal(resp->status, 200);
  assert_true(strncmp(resp->body, "POST /echo?q=1\n", 15) == 0);
  assert_non_null(strstr(resp->body, "X-One: 1\n"));
  assert_non_null(strstr(resp->body, "X-Two: two words\n"));
  assert_non_null(strstr(resp->body, "X-Empty: \n"));
  assert_null(strstr(resp->body, "Expect:"));
  assert_true(resp->body_len > sizeof body - 1);
  assert_memory_equal(resp->body + resp->body_len - (sizeof body - 1), body, sizeof body - 1);
  char v[16];
  assert_int_equal(kq_http_header_get(resp->headers, "X-Echo-Method", v, sizeof v), KQ_OK);
  assert_string_equal(v, "POST");

  kq_http_req_t put = {.method = "PUT", .body = "x", .body_len = 1};
  resp = wait_done(f, start(f, &put, "/echo"), 5000);
  assert_int_equal(resp->rc, KQ_OK);
  assert_true(strncmp(resp->body, "PUT /echo\n", 10) == 0);
  kq_http_req_t del = {.method = "DELETE"};
  resp = wait_done(f, start(f, &del, "/echo"), 5000);
  assert_true(strncmp(resp->body, "DELETE /echo\n", 13) == 0);
}

static void test_invalid_input(void **state) {
  fx_t *f = *state;
  kq_http_req_t r = {.url = "http://127.0.0.1/", .owner = f->aid, .done_id = SINK_DONE};
  kq_http_header_t bad[] = {{"X-Inject", "a\r\nEvil: 1"}};
  kq_http_req_t r2 = r;
  r2.headers = bad;
  r2.nheaders = 1;
  assert_int_equal(kq_http_start(f->http, &r2), 0);
  r2 = r;
  r2.owner = KQ_AID_NONE;
  assert_int_equal(kq_http_start(f->http, &r2), 0);
  r2 = r;
  r2.url = NULL;
  assert_int_equal(kq_http_start(f->http, &r2), 0);
  r2 = r;
  r2.method = "GET /x";
  assert_int_equal(kq_http_start(f->http, &r2), 0);
  assert_int_equal(kq_http_inflight(f->http), 0);
  assert_int_equal(kq_http_cancel(f->http, 12345), KQ_ENOENT);
  /* a malformed URL fails asynchronously, as a message */
  kq_http_req_t r3 = {.url = "http://[::1", .owner = f->aid, .done_id = SINK_DONE};
  kq_http_req_id_t id = kq_http_start(f->http, &r3);
  assert_true(id != 0);
  kq_http_resp_t *resp = wait_done(f, id, 5000);
  assert_int_not_equal(resp->rc, KQ_OK);
  assert_non_null(resp->error);
}

static void test_status_codes(void **state) {
  fx_t *f = *state;
  kq_http_resp_t *r = get(f, "/status/404");
  assert_int_equal(r->rc, KQ_OK);
  assert_int_equal(r->status, 404);
  assert_string_equal(r->body, "status 404\n");
  r = get(f, "/status/429");
  assert_int_equal(r->rc, KQ_OK);
  assert_int_equal(r->status, 429);
  char v[8];
  assert_int_equal(kq_http_header_get(r->headers, "Retry-After", v, sizeof v), KQ_OK);
  assert_string_equal(v, KQ_TEST_HTTP_RETRY_AFTER);
  r = get(f, "/status/500");
  assert_int_equal(r->status, 500);
  assert_int_equal(kq_http_header_get(r->headers, "retry-after", v, sizeof v), KQ_OK);
}

static void test_redirect(void **state) {
  fx_t *f = *state;
  kq_http_resp_t *r = get(f, "/redirect?to=/fixed");
  assert_int_equal(r->rc, KQ_OK);
  assert_int_equal(r->status, 200);
  assert_string_equal(r->body, KQ_TEST_HTTP_FIXED_BODY);
  char v[64];
  /* only the final response's header block is kept */
  assert_int_equal(kq_http_header_get(r->headers, "Location", v, sizeof v), KQ_ENOENT);
  assert_true(strncmp(r->headers, "HTTP/1.1 200", 12) == 0);

  kq_http_req_t nf = {.no_follow = true};
  r = wait_done(f, start(f, &nf, "/redirect?to=/status/204"), 5000);
  assert_int_equal(r->status, 302);
  assert_int_equal(kq_http_header_get(r->headers, "Location", v, sizeof v), KQ_OK);
  assert_string_equal(v, "/status/204");
}

static void test_max_body(void **state) {
  fx_t *f = *state;
  kq_http_req_t r = {.max_body = 1000};
  kq_http_resp_t *resp = wait_done(f, start(f, &r, "/large?mib=1"), 5000);   /* chunked */
  assert_int_equal(resp->rc, KQ_ETOOBIG);
  assert_null(resp->body);
  assert_non_null(resp->error);
  kq_http_req_t r2 = {.max_body = 1000};
  resp = wait_done(f, start(f, &r2, "/large?mib=1&cl=1"), 5000);              /* Content-Length */
  assert_int_equal(resp->rc, KQ_ETOOBIG);
  kq_http_req_t r3 = {.max_body = 64 << 10};
  resp = wait_done(f, start(f, &r3, "/endless"), 5000);                      /* never ends */
  assert_int_equal(resp->rc, KQ_ETOOBIG);
  /* exactly at the limit is fine */
  kq_http_req_t r4 = {.max_body = 1000};
  resp = wait_done(f, start(f, &r4, "/large?mib=0&bytes=1000"), 5000);
  assert_int_equal(resp->rc, KQ_OK);
  assert_int_equal(resp->body_len, 1000);
  for (size_t i = 0; i < 1000; i++) assert_int_equal(resp->body[i], KQ_TEST_HTTP_LARGE_BYTE(i));
}

static void test_big_headers(void **state) {
  fx_t *f = *state;
  kq_http_resp_t *r = get(f, "/bigheader?kib=1024");
  assert_int_equal(r->rc, KQ_ETOOBIG);
  r = get(f, "/bigheader?kib=16");   /* a generous but sane block still works */
  assert_int_equal(r->rc, KQ_OK);
  char v[2048];
  assert_int_equal(kq_http_header_get(r->headers, "X-Big-15", v, sizeof v), KQ_OK);
  assert_int_equal(strlen(v), 1023);
  char small[8];
  assert_int_equal(kq_http_header_get(r->headers, "X-Big-15", small, sizeof small), KQ_ETOOBIG);
}

/* Concatenates the sink's chunks of `id` in arrival order; checks order and status. */
static char *stream_bytes(fx_t *f, kq_http_req_id_t id, size_t *len, bool done_last) {
  size_t n = 0;
  for (size_t i = 0; i < f->sink.n; i++) {
    kq_msg_t *m = f->sink.msgs[i];
    if (m->id == SINK_CHUNK && ((kq_http_chunk_t *)m)->req == id) n += ((kq_http_chunk_t *)m)->len;
  }
  char *out = kq_malloc(n + 1), *p = out;
  bool seen_done = false;
  for (size_t i = 0; i < f->sink.n; i++) {
    kq_msg_t *m = f->sink.msgs[i];
    if (m->id == SINK_DONE && ((kq_http_resp_t *)m)->req == id) seen_done = true;
    if (m->id != SINK_CHUNK || ((kq_http_chunk_t *)m)->req != id) continue;
    kq_http_chunk_t *c = (kq_http_chunk_t *)m;
    assert_false(seen_done);   /* no chunk after the final message */
    assert_int_equal(c->status, 200);
    memcpy(p, c->data, c->len);
    p += c->len;
  }
  assert_int_equal(seen_done, done_last);
  *p = '\0';
  *len = n;
  return out;
}

static void test_stream_chunks(void **state) {
  fx_t *f = *state;
  kq_http_req_t r = {.chunk_id = SINK_CHUNK};
  kq_http_req_id_t id = start(f, &r, "/slow?chunks=5&delay_ms=5");
  kq_http_resp_t *resp = wait_done(f, id, 5000);
  assert_int_equal(resp->rc, KQ_OK);
  assert_int_equal(resp->status, 200);
  assert_null(resp->body);
  assert_true(f->sink.chunks >= 1);
  size_t len;
  char *all = stream_bytes(f, id, &len, true);
  assert_string_equal(all, "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n");
  free(all);
  assert_true(f->sink.msgs[f->sink.n - 1]->id == SINK_DONE);   /* final message comes last */
}

static void test_stream_pause_resume(void **state) {
  fx_t *f = *state;
  const size_t total = 8u << 20;
  kq_http_req_t r = {.chunk_id = SINK_CHUNK};
  kq_http_req_id_t id = start(f, &r, "/large?mib=8");
  size_t one = 1;
  assert_true(run_until(f, chunks_at_least, &one, 5000));
  assert_int_equal(kq_http_pause(f->http, id, true), KQ_OK);
  assert_true(run_until(f, sink_drained, NULL, 5000));   /* chunks queued before the pause */
  size_t frozen = f->sink.chunks;
  run_for(f, 300);
  assert_int_equal(f->sink.chunks, frozen);
  assert_int_equal(f->sink.dones, 0);
  assert_int_equal(kq_http_inflight(f->http), 1);
  assert_int_equal(kq_http_pause(f->http, id, false), KQ_OK);
  kq_http_resp_t *resp = wait_done(f, id, 20000);
  assert_int_equal(resp->rc, KQ_OK);
  assert_true(f->sink.chunks > frozen);
  size_t len;
  char *all = stream_bytes(f, id, &len, true);
  assert_int_equal(len, total);
  for (size_t i = 0; i < len; i++)
    if (all[i] != KQ_TEST_HTTP_LARGE_BYTE(i)) fail_msg("byte %zu differs", i);
  free(all);
  assert_int_equal(kq_http_pause(f->http, id, true), KQ_ENOENT);
}

/* A fast stream into a slow actor with a tiny mailbox: when the owner is overloaded at write time
 * the client pauses the transfer itself (kuack_http_flow_pauses_total) and resumes it later;
 * either way every byte arrives, in order. Whether a pause happens depends on the runtime
 * yielding to I/O while the owner's mailbox is deep, so only the metric's presence is asserted. */
static void test_stream_overload_backpressure(void **state) {
  fx_t *f = *state;
  f->sink.busy_per_chunk = 16;
  kq_http_req_t r = {.chunk_id = SINK_CHUNK};
  kq_http_req_id_t id = start(f, &r, "/large?mib=2");
  kq_http_resp_t *resp = wait_done(f, id, 30000);
  assert_int_equal(resp->rc, KQ_OK);
  size_t len;
  char *all = stream_bytes(f, id, &len, true);
  assert_int_equal(len, 2u << 20);
  for (size_t i = 0; i < len; i++)
    if (all[i] != KQ_TEST_HTTP_LARGE_BYTE(i)) fail_msg("byte %zu differs", i);
  free(all);
  assert_true(metric(f, "kuack_http_flow_pauses_total ") != UINT64_MAX);
}

static void test_stream_cancel(void **state) {
  fx_t *f = *state;
  kq_http_req_t r = {.chunk_id = SINK_CHUNK};
  kq_http_req_id_t id = start(f, &r, "/endless?delay_ms=5&size=100");
  size_t three = 3;
  assert_true(run_until(f, chunks_at_least, &three, 5000));
  assert_int_equal(kq_http_cancel(f->http, id), KQ_OK);
  assert_int_equal(kq_http_cancel(f->http, id), KQ_ENOENT);
  assert_int_equal(kq_http_inflight(f->http), 0);
  assert_int_equal(kq_system_handle_count(f->sys), 0);
  assert_true(run_until(f, sink_drained, NULL, 5000));   /* chunks queued before the cancel */
  size_t seen = f->sink.n;
  run_for(f, 200);
  assert_int_equal(f->sink.n, seen);
  assert_int_equal(f->sink.dones, 0);
  char *text = kq_metrics_render(kq_system_metrics(f->sys), NULL);
  assert_non_null(strstr(text, "kuack_http_requests_total{result=\"canceled\"} 1"));
  free(text);
}

static void test_cancel_owner(void **state) {
  fx_t *f = *state;
  for (int i = 0; i < 3; i++) {
    kq_http_req_t r = {0};
    start(f, &r, "/hang");
  }
  assert_int_equal(kq_http_inflight(f->http), 3);
  assert_int_equal(kq_http_cancel_owner(f->http, f->aid + 1000), 0);
  assert_int_equal(kq_http_cancel_owner(f->http, f->aid), 3);
  assert_int_equal(kq_http_inflight(f->http), 0);
  run_for(f, 50);
  assert_int_equal(f->sink.n, 0);
}

static void test_timeout(void **state) {
  fx_t *f = *state;
  kq_http_req_t r = {.timeout_ms = 200};
  uint64_t t0 = kq_test_now_ms();
  kq_http_resp_t *resp = wait_done(f, start(f, &r, "/hang"), 5000);
  assert_int_equal(resp->rc, KQ_ETIMEDOUT);
  assert_true(kq_test_now_ms() - t0 >= 150);
  char *text = kq_metrics_render(kq_system_metrics(f->sys), NULL);
  assert_non_null(strstr(text, "kuack_http_requests_total{result=\"error\"} 1"));
  free(text);
}

static void test_connection_refused(void **state) {
  fx_t *f = *state;
  /* a bound but not listening socket: connects are refused, and nobody else can take the port */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sin;
  assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
  char *url = kq_asprintf("http://127.0.0.1:%u/", (unsigned)ntohs(sin.sin_port));
  kq_http_req_t r = {.url = url, .owner = f->aid, .done_id = SINK_DONE};
  kq_http_req_id_t id = kq_http_start(f->http, &r);
  free(url);
  kq_http_resp_t *resp = wait_done(f, id, 5000);
  close(fd);
  assert_int_equal(resp->rc, KQ_ENET);
  assert_int_equal(resp->status, 0);
  assert_non_null(resp->error);
}

static void test_tls_ca(void **state) {
  fx_t *f = *state;
  kq_http_tls_t tls = {.ca_file = f->tls->ca_file};
  kq_http_req_t r = {.tls = &tls};
  kq_http_resp_t *resp = wait_done(f, start(f, &r, "/fixed"), 5000);
  assert_int_equal(resp->rc, KQ_OK);
  assert_string_equal(resp->body, KQ_TEST_HTTP_FIXED_BODY);
  kq_http_tls_t tls_pem = {.ca_pem = f->tls->ca_pem};
  kq_http_req_t r2 = {.tls = &tls_pem};
  resp = wait_done(f, start(f, &r2, "/fixed"), 5000);
  assert_int_equal(resp->rc, KQ_OK);
  kq_http_tls_t insecure = {.insecure = true};
  kq_http_req_t r3 = {.tls = &insecure};
  resp = wait_done(f, start(f, &r3, "/fixed"), 5000);
  assert_int_equal(resp->rc, KQ_OK);
}

static void test_tls_wrong_ca(void **state) {
  fx_t *f = *state;
  kq_test_tls_t *other = kq_test_tls_new();
  kq_http_tls_t tls = {.ca_pem = other->ca_pem};
  kq_http_req_t r = {.tls = &tls};
  kq_http_req_id_t id = start(f, &r, "/fixed");
  kq_test_tls_free(other);   /* strings were copied at start */
  kq_http_resp_t *resp = wait_done(f, id, 5000);
  assert_int_equal(resp->rc, KQ_ETLS);
  assert_non_null(resp->error);
}

static void test_tls_client_cert(void **state) {
  fx_t *f = *state;
  kq_http_tls_t pem = {.ca_pem = f->tls->ca_pem, .cert_pem = f->tls->client_cert_pem,
                       .key_pem = f->tls->client_key_pem};
  kq_http_req_t r = {.tls = &pem};
  kq_http_resp_t *resp = wait_done(f, start(f, &r, "/fixed"), 5000);
  assert_int_equal(resp->rc, KQ_OK);
  assert_int_equal(resp->status, 200);
  kq_http_tls_t files = {.ca_file = f->tls->ca_file, .cert_file = f->tls->client_cert_file,
                         .key_file = f->tls->client_key_file};
  kq_http_req_t r2 = {.tls = &files};
  resp = wait_done(f, start(f, &r2, "/fixed"), 5000);
  assert_int_equal(resp->rc, KQ_OK);
  /* without a client certificate the server refuses */
  kq_http_tls_t none = {.ca_pem = f->tls->ca_pem};
  kq_http_req_t r3 = {.tls = &none};
  resp = wait_done(f, start(f, &r3, "/fixed"), 5000);
  assert_int_equal(resp->rc, KQ_ETLS);
}

static void test_many_concurrent(void **state) {
  fx_t *f = *state;
  enum { N = 200 };
  kq_http_req_id_t ids[N];
  for (int i = 0; i < N; i++) {
    kq_http_req_t r = {0};
    ids[i] = start(f, &r, i % 4 == 0 ? "/slow?chunks=2&delay_ms=5" : "/fixed");
  }
  assert_int_equal(kq_http_inflight(f->http), N);
  assert_int_equal(kq_system_handle_count(f->sys), 1);   /* one handle for the whole client */
  size_t n = N;
  assert_true(run_until(f, dones_at_least, &n, 30000));
  for (int i = 0; i < N; i++) {
    kq_http_resp_t *r = sink_done(&f->sink, ids[i]);
    assert_non_null(r);
    assert_int_equal(r->rc, KQ_OK);
    assert_string_equal(r->body, i % 4 == 0 ? "chunk 0\nchunk 1\n" : KQ_TEST_HTTP_FIXED_BODY);
  }
  assert_int_equal(f->sink.dones, N);
  assert_int_equal(kq_http_inflight(f->http), 0);
}

static void test_close_busy(void **state) {
  fx_t *f = *state;
  kq_http_req_t r = {0};
  kq_http_req_id_t id = start(f, &r, "/slow?chunks=3&delay_ms=30");
  /* stop every actor: only the request keeps the system busy; its reply goes nowhere */
  kq_system_shutdown(f->sys, NULL, NULL);
  assert_true(run_until(f, no_actors, NULL, 5000));
  assert_int_equal(kq_system_handle_count(f->sys), 1);
  assert_int_equal(kq_system_close(f->sys), KQ_EBUSY);
  assert_true(run_until(f, system_idle, NULL, 5000));
  assert_int_equal(kq_http_inflight(f->http), 0);
  assert_null(sink_done(&f->sink, id));   /* delivered to a dead actor: freed */
  assert_int_equal(kq_system_handle_count(f->sys), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_get_collect, setup, teardown),
      cmocka_unit_test_setup_teardown(test_post_echo, setup, teardown),
      cmocka_unit_test_setup_teardown(test_invalid_input, setup, teardown),
      cmocka_unit_test_setup_teardown(test_status_codes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_redirect, setup, teardown),
      cmocka_unit_test_setup_teardown(test_max_body, setup, teardown),
      cmocka_unit_test_setup_teardown(test_big_headers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_chunks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_pause_resume, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_overload_backpressure, setup_small_mailbox, teardown),
      cmocka_unit_test_setup_teardown(test_stream_cancel, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_owner, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_ca, setup_https, teardown),
      cmocka_unit_test_setup_teardown(test_tls_wrong_ca, setup_https, teardown),
      cmocka_unit_test_setup_teardown(test_tls_client_cert, setup_mtls, teardown),
      cmocka_unit_test_setup_teardown(test_many_concurrent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_busy, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
