/* The real gateway on 127.0.0.1 (ephemeral port) with real browser actors, stepped on the real
 * loop with deadlines; a plain-socket WebSocket client (wsc.c) plays the agent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kq_alloc.h"
#include "kq_browser.h"
#include "kq_error.h"
#include "kq_gateway.h"
#include "kq_metrics.h"
#include "kq_proto.h"
#include "kq_test_tls.h"
#include "wsc.h"

#define EV_ID (KQ_MSG_USER + 1)

/* Subscriber: counts UP/DOWN and remembers the last browser aid. */
typedef struct rec {
  int up, down;
  kq_aid_t last;
} rec_t;
static rec_t g_rec;
static int rec_init(kq_actor_t *self, void *st, void *arg) { return 0; }
static void rec_dispatch(kq_actor_t *self, void *st, kq_msg_t *m) {
  if (m->id != EV_ID) return;
  kq_browser_event_msg_t *e = (kq_browser_event_msg_t *)m;
  if (e->kind == KQ_BROWSER_UP) g_rec.up++, g_rec.last = e->info.aid;
  if (e->kind == KQ_BROWSER_DOWN) g_rec.down++;
}
static const kq_actor_type_t rec_type = {.name = "rec", .state_size = 8, .init = rec_init, .dispatch = rec_dispatch};

/* Options the next setup_with() passes to the gateway (set by the setup variants). */
static const char *g_tls_cert, *g_tls_key;
static const char *const *g_origins;

typedef struct fx {
  kq_test_tls_t *tls;       /* setup_tls only */
  struct event_base *base;
  kq_system_t *sys;
  kq_browser_config_t cfg;
  kq_browser_plane_t plane;
  kq_gateway_t *gw;
  int port;
  char dir[64];
} fx_t;

static void write_file(const char *dir, const char *name, const char *text) {
  char p[256];
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int resolve(void *ud, const char *digest, const char *file, const char *query, char *path, size_t cap) {
  fx_t *f = ud;
  if (!strstr(query, "token=good")) return KQ_EAUTH;
  if (strcmp(digest, "sha256:abc") != 0) return KQ_ENOENT;
  snprintf(path, cap, "%s/page/%s", f->dir, file);
  return KQ_OK;
}

static int setup_with(void **state, uint32_t max_frame, uint32_t queue_bytes) {
  fx_t *f = KQ_NEW(fx_t);
  memset(&g_rec, 0, sizeof(g_rec));
  strcpy(f->dir, "/tmp/kq-gw-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  char p[128];
  snprintf(p, sizeof(p), "%s/page", f->dir);
  mkdir(p, 0755);
  write_file(p, "index.html", "<!doctype html><title>kuack</title>\n");
  write_file(p, "mod.wasm", "\0asm");
  write_file(p, "w.mjs", "export {};\n");
  write_file(p, "blob.bin", "0123456789");
  f->base = event_base_new();
  f->sys = kq_system_new(f->base, NULL);
  kq_aid_t rec = kq_spawn(f->sys, &rec_type, NULL, NULL);
  f->cfg.token = "tok";
  f->cfg.heartbeat_ms = 100;
  f->cfg.heartbeat_deadline_ms = 1200; /* generous: CI machines are shared */
  f->cfg.tick_ms = 50;
  f->cfg.ping_ms = 100;
  f->cfg.nsubscribers = 1;
  f->cfg.subscribers[0] = rec;
  f->cfg.subscriber_event_ids[0] = EV_ID;
  f->cfg.max_frame = max_frame;
  assert_int_equal(kq_browser_plane_start(&f->plane, f->sys, &f->cfg), KQ_OK);
  kq_gateway_opts_t o = {.listen_addr = "127.0.0.1", .port = 0, .page_dir = p, .agent_dir = p,
                         .max_frame = max_frame, .send_queue_bytes = queue_bytes,
                         .spawn_session = kq_browser_spawn, .session_ud = &f->plane,
                         .resolve = resolve, .resolve_ud = f, .close_grace_ms = 500,
                         .tls_cert = g_tls_cert, .tls_key = g_tls_key, .allowed_origins = g_origins};
  int err = 0;
  f->gw = kq_gateway_new(f->sys, &o, &err);
  assert_non_null(f->gw);
  f->port = kq_gateway_port(f->gw);
  assert_true(f->port > 0);
  *state = f;
  return 0;
}

static int setup(void **state) { return setup_with(state, 65536, 0); }
static int setup_small_queue(void **state) { return setup_with(state, 65536, 32768); }

static int setup_tls(void **state) {
  kq_test_tls_t *tls = kq_test_tls_new();
  g_tls_cert = tls->server_cert_file;
  g_tls_key = tls->server_key_file;
  int rc = setup_with(state, 65536, 0);
  g_tls_cert = g_tls_key = NULL;
  ((fx_t *)*state)->tls = tls;
  return rc;
}

static int setup_origins(void **state) {
  static const char *const origins[] = {"https://fleet.example", "http://127.0.0.1:8080", NULL};
  g_origins = origins;
  int rc = setup_with(state, 65536, 0);
  g_origins = NULL;
  return rc;
}

static bool gw_closed(wsc_t *c, void *ud) { return kq_gateway_closed(ud); }
static bool sys_idle(wsc_t *c, void *ud) { return kq_system_idle(ud); }

static int teardown(void **state) {
  fx_t *f = *state;
  wsc_t dummy = {.fd = -1, .base = f->base};
  kq_gateway_close(f->gw, NULL, NULL);
  assert_true(wsc_pump_until(&dummy, 5000, gw_closed, f->gw));
  kq_system_shutdown(f->sys, NULL, NULL);
  assert_true(wsc_pump_until(&dummy, 5000, sys_idle, f->sys));
  assert_int_equal(kq_system_close(f->sys), KQ_OK);
  kq_gateway_free(f->gw);
  kq_browser_plane_free(&f->plane);
  event_base_free(f->base);
  kq_test_tls_free(f->tls);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
  assert_int_equal(system(cmd), 0);
  free(f);
  return 0;
}

/* ---- agent helpers ---- */

static void send_pm(wsc_t *c, const kq_proto_msg_t *pm) {
  kq_proto_buf_t b;
  kq_proto_buf_init(&b, 0);
  assert_int_equal(kq_proto_encode(pm, &b), KQ_OK);
  wsc_send(c, 2, kq_proto_buf_data(&b), b.len);
  kq_proto_buf_free(&b);
}

static void send_hello(wsc_t *c, const char *token, const char *agent) {
  kq_proto_msg_t pm = {.type = KQ_PROTO_HELLO};
  pm.hello.token = (char *)token;
  pm.hello.agent_id = (char *)agent;
  pm.hello.cpu_millis = 4000;
  pm.hello.memory_bytes = 1 << 30;
  send_pm(c, &pm);
}

/* Next frame decoded; answers pings with pongs. Returns the type, or -8 on close. */
static int next_pm(wsc_t *c, int ms, kq_proto_msg_t *out) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t end = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ms;
  for (;;) {
    uint8_t *p = NULL;
    size_t n = 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t left = end - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    if (left <= 0) return -1;
    int op = wsc_next(c, (int)left, &p, &n);
    if (op == 8) return -8;
    if (op != 2) {
      free(p);
      return -1;
    }
    kq_proto_error_t err;
    memset(out, 0, sizeof(*out));
    int rc = kq_proto_decode(p, n, NULL, out, &err);
    free(p);
    assert_int_equal(rc, KQ_OK);
    if (out->type == KQ_PROTO_PING) {
      kq_proto_msg_t pong = {.type = KQ_PROTO_PONG};
      pong.pong = out->ping;
      send_pm(c, &pong);
      continue;
    }
    return out->type;
  }
}

/* Skips frames until the close; returns its code (or -1). */
static int wait_close(wsc_t *c, int ms) {
  kq_proto_msg_t pm;
  for (;;) {
    int t = next_pm(c, ms, &pm);
    if (t == -8) return c->close_code;
    if (t < 0) return -1;
    kq_proto_msg_clear(&pm);
  }
}

static void connect_agent(fx_t *f, wsc_t *c, const char *agent) {
  assert_int_equal(wsc_open(c, f->base, f->port), 0);
  assert_int_equal(wsc_upgrade(c, "/ws", "kuack.v1", 3000), 101);
  send_hello(c, "tok", agent);
  kq_proto_msg_t pm;
  assert_int_equal(next_pm(c, 3000, &pm), KQ_PROTO_WELCOME);
  assert_non_null(pm.welcome.browser_id);
  kq_proto_msg_clear(&pm);
}

static double metric(fx_t *f, const char *line_prefix) {
  size_t len;
  char *text = kq_metrics_render(kq_system_metrics(f->sys), &len);
  double v = -1;
  char pat[256];
  snprintf(pat, sizeof(pat), "\n%s", line_prefix); /* a sample line, not the # HELP line */
  char *p = strstr(text, pat);
  if (p) v = strtod(p + strlen(pat), NULL);
  free(text);
  return v;
}

/* ---- tests ---- */

static void test_handshake_register_heartbeat(void **state) {
  fx_t *f = *state;
  wsc_t c;
  connect_agent(f, &c, "agent-1");
  kq_proto_msg_t hb = {.type = KQ_PROTO_HEARTBEAT};
  send_pm(&c, &hb);
  kq_proto_msg_t pm;
  /* pings keep coming and are answered; we stay registered past several deadlines */
  for (int i = 0; i < 20; i++) { /* 2 s: well past one deadline */
    hb.heartbeat.seq = (uint64_t)i + 1;
    send_pm(&c, &hb);
    int t = next_pm(&c, 100, &pm);
    if (t == -8) fail_msg("closed with %d", c.close_code);
    if (t == KQ_PROTO_ERROR) fail_msg("error %s %s", pm.error.code, pm.error.message);
    if (t > 0) kq_proto_msg_clear(&pm);
  }
  assert_int_equal(g_rec.up, 1);
  assert_int_equal(g_rec.down, 0);
  assert_true(metric(f, "kq_browsers_connected ") == 1.0);
  assert_true(metric(f, "kq_browser_frames_total{dir=\"in\",type=\"heartbeat\"} ") >= 21);
  wsc_free(&c);
}

/* Frames sent right behind the hello (same TCP segment, before the welcome) are held by the
 * gateway until the session has answered, then handled in order: none is lost or refused. */
static void test_frames_behind_hello_are_kept(void **state) {
  fx_t *f = *state;
  wsc_t c;
  assert_int_equal(wsc_open(&c, f->base, f->port), 0);
  assert_int_equal(wsc_upgrade(&c, "/ws", "kuack.v1", 3000), 101);
  kq_proto_msg_t hello = {.type = KQ_PROTO_HELLO};
  hello.hello.token = "tok";
  hello.hello.agent_id = "agent-eager";
  hello.hello.cpu_millis = 4000;
  hello.hello.memory_bytes = 1 << 30;
  kq_proto_msg_t hb = {.type = KQ_PROTO_HEARTBEAT};
  hb.heartbeat.throttled = true;
  /* one buffer: hello + 3 heartbeats, written at once */
  uint8_t buf[1024];
  size_t len = 0;
  const kq_proto_msg_t *seq[] = {&hello, &hb, &hb, &hb};
  for (int i = 0; i < 4; i++) {
    kq_proto_buf_t b;
    kq_proto_buf_init(&b, 0);
    assert_int_equal(kq_proto_encode(seq[i], &b), KQ_OK);
    size_t n = b.len;
    assert_true(n < 126 && len + n + 6 <= sizeof(buf));
    buf[len++] = 0x82;
    buf[len++] = (uint8_t)(0x80 | n);
    memset(buf + len, 0, 4); /* zero mask */
    len += 4;
    memcpy(buf + len, kq_proto_buf_data(&b), n);
    len += n;
    kq_proto_buf_free(&b);
  }
  double before = metric(f, "kq_browser_frames_total{dir=\"in\",type=\"heartbeat\"} ");
  wsc_write(&c, buf, len);
  kq_proto_msg_t pm;
  assert_int_equal(next_pm(&c, 3000, &pm), KQ_PROTO_WELCOME);
  kq_proto_msg_clear(&pm);
  for (int i = 0; i < 10 && metric(f, "kq_browser_frames_total{dir=\"in\",type=\"heartbeat\"} ") < before + 3; i++) {
    int t = next_pm(&c, 50, &pm);
    if (t == -8) fail_msg("closed with %d", c.close_code);
    if (t == KQ_PROTO_ERROR) fail_msg("error %s %s", pm.error.code, pm.error.message);
    if (t > 0) kq_proto_msg_clear(&pm);
  }
  assert_true(metric(f, "kq_browser_frames_total{dir=\"in\",type=\"heartbeat\"} ") == before + 3);
  assert_true(metric(f, "kq_browser_protocol_errors_total ") <= 0);
  assert_int_equal(g_rec.up, 1);
  wsc_free(&c);
}

/* A hello larger than the receive buffer, sent as three WebSocket fragments (binary + two
 * continuations, several lws pieces each): the gateway reassembles it into one message. */
static void test_fragmented_hello_reassembled(void **state) {
  fx_t *f = *state;
  wsc_t c;
  assert_int_equal(wsc_open(&c, f->base, f->port), 0);
  assert_int_equal(wsc_upgrade(&c, "/ws", "kuack.v1", 3000), 101);
  kq_proto_msg_t hello = {.type = KQ_PROTO_HELLO};
  hello.hello.token = "tok";
  hello.hello.agent_id = "agent-fragmented-hello-with-a-long-name-0123456789abcdef";
  hello.hello.cpu_millis = 4000;
  hello.hello.memory_bytes = 1 << 30;
  kq_proto_kv_t labels[2] = {{"zone", "a-long-zone-name-to-make-the-hello-bigger"}, {"rack", "r-0123456789"}};
  hello.hello.labels = labels;
  hello.hello.nlabels = 2;
  kq_proto_buf_t b;
  kq_proto_buf_init(&b, 0);
  assert_int_equal(kq_proto_encode(&hello, &b), KQ_OK);
  const uint8_t *data = kq_proto_buf_data(&b);
  size_t n = b.len;
  assert_true(n > 2 * 64 && n < 3 * 125); /* larger than the 64-byte receive buffer; each fragment < 126 */
  uint8_t buf[512];
  size_t len = 0, cut[4] = {0, n / 3, 2 * n / 3, n};
  for (int i = 0; i < 3; i++) {
    size_t k = cut[i + 1] - cut[i];
    buf[len++] = (uint8_t)((i == 2 ? 0x80 : 0) | (i == 0 ? 0x2 : 0x0)); /* FIN on the last; binary, then continuation */
    buf[len++] = (uint8_t)(0x80 | k);
    memset(buf + len, 0, 4); /* zero mask */
    len += 4;
    memcpy(buf + len, data + cut[i], k);
    len += k;
  }
  kq_proto_buf_free(&b);
  wsc_write(&c, buf, len);
  kq_proto_msg_t pm;
  assert_int_equal(next_pm(&c, 3000, &pm), KQ_PROTO_WELCOME);
  kq_proto_msg_clear(&pm);
  assert_int_equal(g_rec.up, 1);
  wsc_free(&c);
}

static void test_wrong_subprotocol_refused(void **state) {
  fx_t *f = *state;
  wsc_t c;
  assert_int_equal(wsc_open(&c, f->base, f->port), 0);
  int st = wsc_upgrade(&c, "/ws", "other.v9", 3000);
  assert_true(st != 101);
  wsc_free(&c);
  assert_int_equal(wsc_open(&c, f->base, f->port), 0);
  st = wsc_upgrade(&c, "/ws", NULL, 3000);
  assert_true(st != 101);
  wsc_free(&c);
  assert_int_equal(wsc_open(&c, f->base, f->port), 0);
  st = wsc_upgrade(&c, "/elsewhere", "kuack.v1", 3000);
  assert_true(st != 101);
  wsc_free(&c);
  assert_int_equal(kq_gateway_connections(f->gw), 0);
}

static void test_bad_token_4003(void **state) {
  fx_t *f = *state;
  wsc_t c;
  assert_int_equal(wsc_open(&c, f->base, f->port), 0);
  assert_int_equal(wsc_upgrade(&c, "/ws", "kuack.v1", 3000), 101);
  send_hello(&c, "nope", "agent-bad");
  kq_proto_msg_t pm;
  assert_int_equal(next_pm(&c, 3000, &pm), KQ_PROTO_ERROR);
  assert_string_equal(pm.error.code, "unauthorized");
  kq_proto_msg_clear(&pm);
  assert_int_equal(wait_close(&c, 3000), 4003);
  assert_int_equal(metric(f, "kq_browser_auth_failures_total "), 1);
  wsc_free(&c);
}

static void test_malformed_and_oversized_4000(void **state) {
  fx_t *f = *state;
  wsc_t ok, bad, big;
  connect_agent(f, &ok, "agent-ok");
  connect_agent(f, &bad, "agent-malformed");
  wsc_send(&bad, 2, "\xc1\xc1\xc1", 3);
  assert_int_equal(wait_close(&bad, 3000), 4000);
  connect_agent(f, &big, "agent-big");
  size_t n = 200000; /* > max_frame 64 KiB */
  uint8_t *junk = calloc(1, n);
  wsc_send(&big, 2, junk, n);
  free(junk);
  assert_int_equal(wait_close(&big, 3000), 4000);
  assert_true(metric(f, "kq_gateway_oversize_total ") >= 1);
  /* the other connection is fine: an unknown type is answered with error, not a close */
  static const uint8_t unknown[] = {0x81, 0xa1, 't', 0xa4, 'f', 'r', 'o', 'b'};
  wsc_send(&ok, 2, unknown, sizeof(unknown));
  kq_proto_msg_t pm;
  assert_int_equal(next_pm(&ok, 3000, &pm), KQ_PROTO_ERROR);
  assert_string_equal(pm.error.code, "unknown_type");
  kq_proto_msg_clear(&pm);
  wsc_free(&ok);
  wsc_free(&bad);
  wsc_free(&big);
}

static void test_duplicate_agent_4001(void **state) {
  fx_t *f = *state;
  wsc_t a, b;
  connect_agent(f, &a, "agent-dup");
  connect_agent(f, &b, "agent-dup");
  assert_int_equal(wait_close(&a, 3000), 4001);
  assert_int_equal(g_rec.up, 2);
  assert_int_equal(g_rec.down, 1);
  wsc_free(&a);
  wsc_free(&b);
}

static void test_heartbeat_timeout_4008(void **state) {
  fx_t *f = *state;
  wsc_t c;
  connect_agent(f, &c, "agent-silent");
  assert_int_equal(wait_close(&c, 8000), 4008); /* pongs only, no heartbeat within the deadline */
  assert_int_equal(metric(f, "kq_browser_heartbeat_timeouts_total "), 1);
  wsc_free(&c);
}

typedef struct pod_st {
  int reports;
} pod_st_t;
static int pod_init(kq_actor_t *self, void *st, void *arg) { return 0; }
static void pod_dispatch(kq_actor_t *self, void *st, kq_msg_t *m) { ((pod_st_t *)st)->reports++; }
static const kq_actor_type_t pod_type = {.name = "pod", .state_size = sizeof(pod_st_t), .init = pod_init,
                                         .dispatch = pod_dispatch};
static void run_dtor(kq_msg_t *m) { kq_run_spec_clear(&((kq_browser_run_msg_t *)m)->spec); }

static bool culled(wsc_t *c, void *ud) { return metric(ud, "kq_gateway_culled_total ") >= 1; }

static void test_slow_reader_culled_4008(void **state) {
  fx_t *f = *state;
  wsc_t slow;
  connect_agent(f, &slow, "agent-slow");
  assert_true(g_rec.last != KQ_AID_NONE);
  kq_aid_t pod = kq_spawn(f->sys, &pod_type, NULL, NULL);
  char *arg = malloc(16001);
  memset(arg, 'x', 16000);
  arg[16000] = 0;
  /* The agent never reads: ~40 MB of run frames overflow socket buffers and the 32 KiB queue. */
  for (int i = 0; i < 2500 && metric(f, "kq_gateway_culled_total ") < 1; i++) {
    kq_browser_run_msg_t *r = KQ_MSG_NEW(kq_browser_run_msg_t, KQ_BROWSER_MSG_RUN);
    r->hdr.dtor = run_dtor;
    r->hdr.from = pod;
    r->report_id = KQ_MSG_USER + 9;
    r->spec.run_id = kq_asprintf("r%d", i);
    r->spec.pod_uid = kq_strdup("u");
    r->spec.namespace_ = kq_strdup("n");
    r->spec.pod_name = kq_strdup("p");
    r->spec.container = kq_strdup("c");
    r->spec.kind = KQ_WORKLOAD_WASI;
    r->spec.module_url = kq_strdup("/m.wasm");
    r->spec.nargs = 1;
    r->spec.args = kq_calloc(1, sizeof(char *));
    r->spec.args[0] = kq_strdup(arg);
    kq_send(f->sys, g_rec.last, &r->hdr);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
  }
  free(arg);
  wsc_t dummy = {.fd = -1, .base = f->base};
  assert_true(wsc_pump_until(&dummy, 5000, culled, f));
  /* reading now drains what the kernel held, then the 4008 close (or the socket just ends) */
  int code = wait_close(&slow, 5000);
  assert_true(code == 4008 || code == -1);
  assert_true(slow.got_close ? slow.close_code == 4008 : slow.eof);
  assert_int_equal(metric(f, "kq_gateway_culled_total "), 1);
  wsc_free(&slow);
}

static void test_http_endpoints_and_static(void **state) {
  fx_t *f = *state;
  char *h = NULL, *b = NULL;
  size_t bl;
  assert_int_equal(wsc_http_get(f->base, f->port, "/healthz", NULL, &h, &b, &bl, 3000), 200);
  assert_string_equal(b, "ok\n");
  free(h), free(b);
  assert_int_equal(wsc_http_get(f->base, f->port, "/readyz", NULL, &h, &b, &bl, 3000), 200);
  free(h), free(b);
  double before = metric(f, "kq_gateway_http_requests_total ");
  assert_int_equal(wsc_http_get(f->base, f->port, "/metrics", NULL, &h, &b, &bl, 3000), 200);
  assert_non_null(strstr(b, "kq_gateway_connections"));
  assert_non_null(strstr(h, "text/plain; version=0.0.4"));
  free(h), free(b);
  assert_true(metric(f, "kq_gateway_http_requests_total ") > before);
  assert_int_equal(wsc_http_get(f->base, f->port, "/", NULL, &h, &b, &bl, 3000), 200);
  assert_non_null(strstr(b, "<title>kuack</title>"));
  assert_non_null(strstr(h, "cross-origin-opener-policy: same-origin"));
  assert_non_null(strstr(h, "cross-origin-embedder-policy: require-corp"));
  free(h), free(b);
  assert_int_equal(wsc_http_get(f->base, f->port, "/agent/mod.wasm", NULL, &h, &b, &bl, 3000), 200);
  assert_non_null(strstr(h, "content-type: application/wasm"));
  assert_non_null(strstr(h, "cross-origin-resource-policy: same-origin"));
  free(h), free(b);
  assert_int_equal(wsc_http_get(f->base, f->port, "/agent/w.mjs", NULL, &h, &b, &bl, 3000), 200);
  assert_non_null(strstr(h, "content-type: text/javascript"));
  free(h), free(b);
  assert_int_equal(wsc_http_get(f->base, f->port, "/agent/missing.js", NULL, &h, &b, &bl, 3000), 404);
  free(h), free(b);
}

static void test_artefacts_range_etag(void **state) {
  fx_t *f = *state;
  char *h = NULL, *b = NULL;
  size_t bl;
  assert_int_equal(wsc_http_get(f->base, f->port, "/artefacts/sha256:abc/blob.bin?token=good", NULL, &h, &b, &bl,
                                3000), 200);
  assert_int_equal(bl, 10);
  assert_non_null(strstr(h, "immutable"));
  assert_non_null(strstr(h, "etag: \"sha256:abc/blob.bin\""));
  free(h), free(b);
  assert_int_equal(wsc_http_get(f->base, f->port, "/artefacts/sha256:abc/blob.bin?token=good",
                                "Range: bytes=2-5\r\n", &h, &b, &bl, 3000), 206);
  assert_int_equal(bl, 4);
  assert_string_equal(b, "2345");
  assert_non_null(strstr(h, "content-range: bytes 2-5/10"));
  free(h), free(b);
  assert_int_equal(wsc_http_get(f->base, f->port, "/artefacts/sha256:abc/blob.bin?token=good",
                                "Range: bytes=50-\r\n", &h, &b, &bl, 3000), 416);
  free(h), free(b);
  assert_int_equal(wsc_http_get(f->base, f->port, "/artefacts/sha256:abc/blob.bin?token=good",
                                "If-None-Match: \"sha256:abc/blob.bin\"\r\n", &h, &b, &bl, 3000), 304);
  free(h), free(b);
  assert_int_equal(wsc_http_get(f->base, f->port, "/artefacts/sha256:abc/blob.bin?token=bad", NULL, &h, &b, &bl,
                                3000), 403);
  free(h), free(b);
  assert_int_equal(wsc_http_get(f->base, f->port, "/artefacts/sha256:zzz/blob.bin?token=good", NULL, &h, &b, &bl,
                                3000), 404);
  free(h), free(b);
  assert_int_equal(wsc_http_get(f->base, f->port, "/artefacts/sha256:abc/../x?token=good", NULL, &h, &b, &bl, 3000),
                   400);
  free(h), free(b);
}

static void test_shutdown_4009(void **state) {
  fx_t *f = *state;
  wsc_t a, b;
  connect_agent(f, &a, "agent-s1");
  connect_agent(f, &b, "agent-s2");
  kq_gateway_close(f->gw, NULL, NULL);
  assert_int_equal(wait_close(&a, 3000), 4009);
  assert_int_equal(wait_close(&b, 3000), 4009);
  wsc_free(&a);
  wsc_free(&b);
  /* teardown finishes the close and checks the system closes with nothing left */
}

/* wss://: a real TLS handshake (verified against the test CA as "localhost"), the WebSocket
 * upgrade and hello/welcome inside it; a plain-text client on the TLS port gets nowhere. */
static void test_tls_wss_hello_welcome(void **state) {
  fx_t *f = *state;
  wsc_t c;
  assert_int_equal(wsc_open(&c, f->base, f->port), 0);
  assert_int_equal(wsc_start_tls(&c, f->tls->ca_file, 5000), 0);
  assert_int_equal(wsc_upgrade(&c, "/ws", "kuack.v1", 5000), 101);
  send_hello(&c, "tok", "agent-tls");
  kq_proto_msg_t pm;
  assert_int_equal(next_pm(&c, 5000, &pm), KQ_PROTO_WELCOME);
  assert_non_null(pm.welcome.browser_id);
  assert_non_null(pm.welcome.session);
  kq_proto_msg_clear(&pm);
  kq_proto_msg_t hb = {.type = KQ_PROTO_HEARTBEAT};
  send_pm(&c, &hb);
  for (int i = 0; i < 5; i++) { /* pings arrive over TLS and are answered */
    int t = next_pm(&c, 100, &pm);
    if (t == -8) fail_msg("closed with %d", c.close_code);
    if (t > 0) kq_proto_msg_clear(&pm);
  }
  assert_int_equal(g_rec.up, 1);
  assert_true(metric(f, "kq_browsers_connected ") == 1.0);
  wsc_free(&c);

  /* a client that does not speak TLS is not upgraded */
  wsc_t plain;
  assert_int_equal(wsc_open(&plain, f->base, f->port), 0);
  assert_true(wsc_upgrade(&plain, "/ws", "kuack.v1", 1500) != 101);
  wsc_free(&plain);
  /* and a client that trusts another CA fails the handshake */
  kq_test_tls_t *other = kq_test_tls_new();
  wsc_t wrong;
  assert_int_equal(wsc_open(&wrong, f->base, f->port), 0);
  assert_int_equal(wsc_start_tls(&wrong, other->ca_file, 5000), -1);
  wsc_free(&wrong);
  kq_test_tls_free(other);
  assert_int_equal(g_rec.up, 1);
}

/* --allowed-origins: a browser from another Origin is refused before the upgrade; a listed one
 * registers; a client without Origin (not a browser) is still let through to the token check. */
static void test_origin_allowlist(void **state) {
  fx_t *f = *state;
  double refused = metric(f, "kq_gateway_refused_total ");
  wsc_t bad;
  assert_int_equal(wsc_open(&bad, f->base, f->port), 0);
  assert_true(wsc_upgrade_hdrs(&bad, "/ws", "kuack.v1", "Origin: https://evil.example\r\n", 3000) != 101);
  wsc_free(&bad);
  assert_true(metric(f, "kq_gateway_refused_total ") == refused + 1);
  assert_int_equal(g_rec.up, 0);

  wsc_t good;
  assert_int_equal(wsc_open(&good, f->base, f->port), 0);
  assert_int_equal(wsc_upgrade_hdrs(&good, "/ws", "kuack.v1", "Origin: https://fleet.example\r\n", 3000), 101);
  send_hello(&good, "tok", "agent-origin");
  kq_proto_msg_t pm;
  assert_int_equal(next_pm(&good, 3000, &pm), KQ_PROTO_WELCOME);
  kq_proto_msg_clear(&pm);
  assert_int_equal(g_rec.up, 1);
  wsc_free(&good);

  wsc_t none;
  connect_agent(f, &none, "agent-no-origin");
  assert_int_equal(g_rec.up, 2);
  wsc_free(&none);
  assert_true(metric(f, "kq_gateway_refused_total ") == refused + 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_handshake_register_heartbeat, setup, teardown),
      cmocka_unit_test_setup_teardown(test_frames_behind_hello_are_kept, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wrong_subprotocol_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_token_4003, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fragmented_hello_reassembled, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed_and_oversized_4000, setup, teardown),
      cmocka_unit_test_setup_teardown(test_duplicate_agent_4001, setup, teardown),
      cmocka_unit_test_setup_teardown(test_heartbeat_timeout_4008, setup, teardown),
      cmocka_unit_test_setup_teardown(test_slow_reader_culled_4008, setup_small_queue, teardown),
      cmocka_unit_test_setup_teardown(test_http_endpoints_and_static, setup, teardown),
      cmocka_unit_test_setup_teardown(test_artefacts_range_etag, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shutdown_4009, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_wss_hello_welcome, setup_tls, teardown),
      cmocka_unit_test_setup_teardown(test_origin_allowlist, setup_origins, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
