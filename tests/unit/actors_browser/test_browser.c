/* Browser actor logic on the deterministic harness: a probe stands in for the gateway (it
 * receives KQ_GW_MSG_* with encoded frames), another for the subscriber and the pod. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "browser_internal.h"
#include "kq_alloc.h"
#include "kq_browser.h"
#include "kq_error.h"
#include "kq_gateway.h"
#include "kq_harness.h"
#include "kq_proto.h"

#define EV_ID (KQ_MSG_USER + 1)
#define REPORT_ID (KQ_MSG_USER + 2)

typedef struct fx {
  kq_harness_t *h;
  kq_system_t *sys;
  kq_browser_config_t cfg;
  kq_browser_plane_t plane;
  kq_aid_t gw, sub, pod;
} fx_t;

static int setup(void **state) {
  fx_t *f = KQ_NEW(fx_t);
  f->h = kq_h_new();
  f->sys = kq_h_system(f->h);
  f->gw = kq_h_probe(f->h);
  f->sub = kq_h_probe(f->h);
  f->pod = kq_h_probe(f->h);
  f->cfg.token = "s3cret";
  f->cfg.max_cpu_millis = 8000;
  f->cfg.max_memory_bytes = 4ll << 30;
  f->cfg.heartbeat_ms = 1000;
  f->cfg.heartbeat_deadline_ms = 3000;
  f->cfg.ping_ms = 2000;
  f->cfg.tick_ms = 500;
  f->cfg.hello_timeout_ms = 2000;
  f->cfg.resume_window_ms = 10000;
  f->cfg.nsubscribers = 1;
  f->cfg.subscribers[0] = f->sub;
  f->cfg.subscriber_event_ids[0] = EV_ID;
  assert_int_equal(kq_browser_plane_start(&f->plane, f->sys, &f->cfg), KQ_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;
  kq_h_free(f->h);
  kq_browser_plane_free(&f->plane);
  free(f);
  return 0;
}

/* ---- helpers ---- */

static void deliver(fx_t *f, kq_aid_t b, uint64_t conn_id, const kq_proto_msg_t *pm) {
  kq_proto_buf_t buf;
  kq_proto_buf_init(&buf, 0);
  assert_int_equal(kq_proto_encode(pm, &buf), KQ_OK);
  kq_conn_frame_msg_t *m = kq_conn_frame_new(conn_id, true, kq_proto_buf_data(&buf), buf.len);
  kq_proto_buf_free(&buf);
  kq_send(f->sys, b, &m->hdr);
  kq_h_run(f->h);
}

/* Queues a frame without running the system (to line several frames up before anyone acts). */
static void queue_frame(fx_t *f, kq_aid_t b, uint64_t conn_id, const kq_proto_msg_t *pm) {
  kq_proto_buf_t buf;
  kq_proto_buf_init(&buf, 0);
  assert_int_equal(kq_proto_encode(pm, &buf), KQ_OK);
  kq_send(f->sys, b, &kq_conn_frame_new(conn_id, true, kq_proto_buf_data(&buf), buf.len)->hdr);
  kq_proto_buf_free(&buf);
}

static void deliver_raw(fx_t *f, kq_aid_t b, uint64_t conn_id, bool binary, const void *p, size_t n) {
  kq_send(f->sys, b, &kq_conn_frame_new(conn_id, binary, p, n)->hdr);
  kq_h_run(f->h);
}

static void hello(fx_t *f, kq_aid_t b, uint64_t conn_id, const char *token, const char *agent, const char *session,
                  char **runs, uint32_t nruns) {
  kq_proto_msg_t pm = {.type = KQ_PROTO_HELLO};
  pm.hello.token = (char *)token;
  pm.hello.agent_id = (char *)agent;
  pm.hello.session_id = (char *)session;
  pm.hello.runs = runs;
  pm.hello.nruns = nruns;
  pm.hello.cpu_millis = 16000; /* clamped to 8000 */
  pm.hello.memory_bytes = 2ll << 30;
  deliver(f, b, conn_id, &pm);
}

static void heartbeat(fx_t *f, kq_aid_t b, uint64_t conn_id, bool throttled) {
  kq_proto_msg_t pm = {.type = KQ_PROTO_HEARTBEAT};
  pm.heartbeat.throttled = throttled;
  deliver(f, b, conn_id, &pm);
}

/* Takes the next message the fake gateway got; returns it decoded when it is a SEND, with
 * *close set to the code when it is a CLOSE (0 otherwise). */
static kq_proto_type_t next_out(fx_t *f, kq_proto_msg_t *out, uint16_t *close) {
  kq_msg_t *m = kq_h_take(f->h, f->gw);
  assert_non_null(m);
  *close = 0;
  kq_proto_type_t t = KQ_PROTO_NONE;
  memset(out, 0, sizeof(*out));
  if (m->id == KQ_GW_MSG_SEND) {
    kq_gw_send_msg_t *s = (kq_gw_send_msg_t *)m;
    kq_proto_error_t err;
    assert_int_equal(kq_proto_decode(s->frame->data, s->frame->len, NULL, out, &err), KQ_OK);
    t = out->type;
  } else if (m->id == KQ_GW_MSG_CLOSE) {
    *close = ((kq_gw_close_msg_t *)m)->code;
  } else if (m->id != KQ_GW_MSG_REBIND) {
    fail_msg("unexpected message %u to the gateway", m->id);
  }
  kq_msg_free(m);
  return t;
}

static void expect_frame(fx_t *f, kq_proto_type_t type, kq_proto_msg_t *keep) {
  kq_proto_msg_t pm;
  uint16_t code;
  assert_int_equal(next_out(f, &pm, &code), type);
  if (keep)
    *keep = pm;
  else
    kq_proto_msg_clear(&pm);
}

static void expect_close(fx_t *f, uint16_t want) {
  kq_proto_msg_t pm;
  uint16_t code = 0;
  for (int i = 0; i < 4 && code == 0; i++) { /* skip error/bye frames before the close */
    next_out(f, &pm, &code);
    kq_proto_msg_clear(&pm);
  }
  assert_int_equal(code, want);
}

static kq_browser_event_kind_t expect_event(fx_t *f, kq_browser_info_t *keep) {
  kq_browser_event_msg_t *e = (kq_browser_event_msg_t *)kq_h_expect(f->h, f->sub, EV_ID);
  kq_browser_event_kind_t k = e->kind;
  if (keep) kq_browser_info_copy(keep, &e->info);
  kq_msg_free(&e->hdr);
  return k;
}

static void closed(fx_t *f, kq_aid_t b, uint64_t conn_id, uint16_t code, bool by_peer) {
  kq_conn_closed_msg_t *m = KQ_MSG_NEW(kq_conn_closed_msg_t, KQ_CONN_MSG_CLOSED);
  m->conn_id = conn_id;
  m->code = code;
  m->by_peer = by_peer;
  kq_send(f->sys, b, &m->hdr);
  kq_h_run(f->h);
}

static kq_aid_t connect_ok(fx_t *f, uint64_t conn_id, const char *agent, kq_proto_msg_t *welcome) {
  kq_aid_t b = kq_browser_spawn(&f->plane, f->sys, f->gw, conn_id);
  assert_true(b != KQ_AID_NONE);
  hello(f, b, conn_id, "s3cret", agent, NULL, NULL, 0);
  expect_frame(f, KQ_PROTO_WELCOME, welcome);
  kq_browser_info_t info;
  assert_int_equal(expect_event(f, &info), KQ_BROWSER_UP);
  assert_string_equal(info.agent_id, agent);
  assert_int_equal(info.cpu_millis, 8000);
  assert_true(info.aid == b);
  kq_browser_info_clear(&info);
  return b;
}

static void run_dtor(kq_msg_t *m) { kq_run_spec_clear(&((kq_browser_run_msg_t *)m)->spec); }

static void send_run(fx_t *f, kq_aid_t b, const char *run_id) {
  kq_browser_run_msg_t *r = KQ_MSG_NEW(kq_browser_run_msg_t, KQ_BROWSER_MSG_RUN);
  r->report_id = REPORT_ID;
  r->spec.run_id = kq_strdup(run_id);
  r->spec.pod_uid = kq_strdup("uid-1");
  r->spec.namespace_ = kq_strdup("default");
  r->spec.pod_name = kq_strdup("p");
  r->spec.container = kq_strdup("c");
  r->spec.kind = KQ_WORKLOAD_WASI;
  r->spec.module_url = kq_strdup("/artefacts/sha256:ab/m.wasm");
  r->hdr.from = f->pod;
  r->hdr.dtor = run_dtor; /* the spec is owned by the message */
  kq_send(f->sys, b, &r->hdr);
  kq_h_run(f->h);
}


static void status(fx_t *f, kq_aid_t b, uint64_t conn_id, const char *run_id, kq_proto_phase_t ph) {
  kq_proto_msg_t pm = {.type = KQ_PROTO_STATUS};
  pm.status.run_id = (char *)run_id;
  pm.status.phase = ph;
  pm.status.has_exit_code = ph == KQ_PROTO_PHASE_EXITED;
  pm.status.exit_code = 3;
  deliver(f, b, conn_id, &pm);
}

/* ---- tests ---- */

static void test_auth_ok_welcome_and_clamp(void **state) {
  fx_t *f = *state;
  kq_proto_msg_t w;
  connect_ok(f, 1, "agent-a", &w);
  assert_non_null(w.welcome.browser_id);
  assert_non_null(w.welcome.session);
  assert_int_equal(w.welcome.heartbeat_ms, 1000);
  assert_int_equal(w.welcome.heartbeat_deadline_ms, 3000);
  kq_proto_msg_clear(&w);
}

static void test_auth_fail_4003(void **state) {
  fx_t *f = *state;
  kq_aid_t b = kq_browser_spawn(&f->plane, f->sys, f->gw, 7);
  hello(f, b, 7, "wrong", "agent-x", NULL, NULL, 0);
  kq_proto_msg_t pm;
  expect_frame(f, KQ_PROTO_ERROR, &pm);
  assert_string_equal(pm.error.code, "unauthorized");
  kq_proto_msg_clear(&pm);
  expect_close(f, KQ_CLOSE_UNAUTHORIZED);
  kq_h_expect_none(f->h, f->sub); /* never announced */
  closed(f, b, 7, KQ_CLOSE_UNAUTHORIZED, false);
  assert_false(kq_actor_alive(f->sys, b));
}

static void test_bad_frames(void **state) {
  fx_t *f = *state;
  kq_aid_t b = kq_browser_spawn(&f->plane, f->sys, f->gw, 2);
  /* first frame not hello: 4000 */
  kq_proto_msg_t pm = {.type = KQ_PROTO_HEARTBEAT};
  deliver(f, b, 2, &pm);
  expect_close(f, KQ_CLOSE_PROTOCOL);
  closed(f, b, 2, KQ_CLOSE_PROTOCOL, false);
  /* garbage after welcome: fatal → 4000; unknown type → error, stays open */
  b = connect_ok(f, 3, "agent-g", NULL);
  static const uint8_t unknown[] = {0x81, 0xa1, 't', 0xa4, 'f', 'r', 'o', 'b'}; /* {t:"frob"} */
  deliver_raw(f, b, 3, true, unknown, sizeof(unknown));
  kq_proto_msg_t e;
  expect_frame(f, KQ_PROTO_ERROR, &e);
  assert_string_equal(e.error.code, "unknown_type");
  kq_proto_msg_clear(&e);
  deliver_raw(f, b, 3, true, "\xc1\xc1", 2);
  expect_close(f, KQ_CLOSE_PROTOCOL);
}

static void test_resources_nonsense(void **state) {
  fx_t *f = *state;
  kq_aid_t b = kq_browser_spawn(&f->plane, f->sys, f->gw, 4);
  kq_proto_msg_t pm = {.type = KQ_PROTO_HELLO};
  pm.hello.token = "s3cret";
  pm.hello.agent_id = "agent-r";
  pm.hello.cpu_millis = 0;
  pm.hello.memory_bytes = 1;
  deliver(f, b, 4, &pm);
  kq_proto_msg_t e;
  expect_frame(f, KQ_PROTO_ERROR, &e);
  assert_string_equal(e.error.code, "bad_resources");
  kq_proto_msg_clear(&e);
  expect_close(f, KQ_CLOSE_PROTOCOL);
}

static void test_supersede_4001(void **state) {
  fx_t *f = *state;
  kq_aid_t b1 = connect_ok(f, 10, "agent-s", NULL);
  send_run(f, b1, "r1");
  expect_frame(f, KQ_PROTO_RUN, NULL);
  kq_aid_t b2 = kq_browser_spawn(&f->plane, f->sys, f->gw, 11);
  hello(f, b2, 11, "s3cret", "agent-s", NULL, NULL, 0);
  /* the old one says bye and closes 4001; its run is lost; the new one is welcomed */
  int saw_close = 0, saw_welcome = 0;
  for (int i = 0; i < 3; i++) {
    kq_proto_msg_t pm;
    uint16_t code;
    kq_proto_type_t t = next_out(f, &pm, &code);
    if (code == KQ_CLOSE_SUPERSEDED) saw_close++;
    if (t == KQ_PROTO_WELCOME) saw_welcome++;
    kq_proto_msg_clear(&pm);
  }
  assert_int_equal(saw_close, 1);
  assert_int_equal(saw_welcome, 1);
  kq_run_report_msg_t *r = (kq_run_report_msg_t *)kq_h_expect(f->h, f->pod, REPORT_ID);
  assert_int_equal(r->event, KQ_RUN_LOST);
  kq_msg_free(&r->hdr);
  kq_browser_event_kind_t k1 = expect_event(f, NULL), k2 = expect_event(f, NULL);
  assert_true((k1 == KQ_BROWSER_DOWN && k2 == KQ_BROWSER_UP) || (k1 == KQ_BROWSER_UP && k2 == KQ_BROWSER_DOWN));
  assert_false(kq_actor_alive(f->sys, b1));
  assert_true(kq_actor_alive(f->sys, b2));
}

static void test_heartbeat_deadline_and_ping(void **state) {
  fx_t *f = *state;
  kq_aid_t b = connect_ok(f, 20, "agent-h", NULL);
  kq_h_advance(f->h, KQ_MS(2000));
  kq_proto_msg_t p;
  expect_frame(f, KQ_PROTO_PING, &p); /* ping_ms = 2000 */
  kq_clock_advance(kq_h_clock(f->h), KQ_MS(30));
  kq_proto_msg_t pong = {.type = KQ_PROTO_PONG};
  pong.pong = p.ping;
  deliver(f, b, 20, &pong);
  kq_browser_info_t info;
  assert_int_equal(expect_event(f, &info), KQ_BROWSER_CHANGED);
  assert_int_equal(info.rtt_us, 30000);
  kq_browser_info_clear(&info);
  heartbeat(f, b, 20, true);
  assert_int_equal(expect_event(f, &info), KQ_BROWSER_CHANGED);
  assert_true(info.throttled);
  kq_browser_info_clear(&info);
  kq_h_advance(f->h, KQ_MS(2900)); /* still inside 3 s of the heartbeat */
  expect_frame(f, KQ_PROTO_PING, NULL);
  kq_h_expect_none(f->h, f->gw);
  kq_h_advance(f->h, KQ_MS(600));
  expect_frame(f, KQ_PROTO_BYE, NULL);
  expect_close(f, KQ_CLOSE_CULLED);
  closed(f, b, 20, KQ_CLOSE_CULLED, false); /* no runs: gone for good */
  assert_int_equal(expect_event(f, NULL), KQ_BROWSER_DOWN);
  assert_false(kq_actor_alive(f->sys, b));
}

static void test_hello_timeout(void **state) {
  fx_t *f = *state;
  kq_aid_t b = kq_browser_spawn(&f->plane, f->sys, f->gw, 30);
  kq_h_advance(f->h, KQ_MS(2500));
  expect_close(f, KQ_CLOSE_PROTOCOL);
  closed(f, b, 30, KQ_CLOSE_PROTOCOL, false);
  assert_false(kq_actor_alive(f->sys, b));
}

static void test_resume_within_window(void **state) {
  fx_t *f = *state;
  kq_proto_msg_t w;
  kq_aid_t b = connect_ok(f, 40, "agent-r", &w);
  char *session = kq_strdup(w.welcome.session);
  kq_proto_msg_clear(&w);
  send_run(f, b, "r1");
  send_run(f, b, "r2");
  expect_frame(f, KQ_PROTO_RUN, NULL);
  expect_frame(f, KQ_PROTO_RUN, NULL);
  closed(f, b, 40, 1006, true);
  kq_browser_info_t info;
  assert_int_equal(expect_event(f, &info), KQ_BROWSER_CHANGED); /* detached: overloaded */
  assert_true(info.overloaded);
  kq_browser_info_clear(&info);
  kq_h_advance(f->h, KQ_MS(5000));
  assert_true(kq_actor_alive(f->sys, b));
  /* reconnect with the session, still running r1 only */
  kq_aid_t nb = kq_browser_spawn(&f->plane, f->sys, f->gw, 41);
  char *runs[] = {"r1"};
  hello(f, nb, 41, "s3cret", "agent-r", session, runs, 1);
  kq_proto_msg_t pm;
  uint16_t code;
  assert_int_equal(next_out(f, &pm, &code), KQ_PROTO_NONE); /* REBIND of conn 41 to the old actor */
  expect_frame(f, KQ_PROTO_WELCOME, &w);
  assert_int_equal(w.welcome.nresumed, 1);
  assert_string_equal(w.welcome.resumed[0], "r1");
  kq_proto_msg_clear(&w);
  kq_run_report_msg_t *r = (kq_run_report_msg_t *)kq_h_expect(f->h, f->pod, REPORT_ID);
  assert_int_equal(r->event, KQ_RUN_LOST);
  assert_string_equal(r->run_id, "r2");
  kq_msg_free(&r->hdr);
  assert_int_equal(expect_event(f, &info), KQ_BROWSER_CHANGED);
  assert_false(info.overloaded);
  assert_true(info.aid == b); /* same actor: pods and scheduler keep their address */
  kq_browser_info_clear(&info);
  assert_false(kq_actor_alive(f->sys, nb));
  /* r1 reports still reach the pod, through the old actor, on the new connection */
  status(f, b, 41, "r1", KQ_PROTO_PHASE_EXITED);
  r = (kq_run_report_msg_t *)kq_h_expect(f->h, f->pod, REPORT_ID);
  assert_int_equal(r->event, KQ_RUN_EXITED);
  assert_int_equal(r->exit_code, 3);
  kq_msg_free(&r->hdr);
  free(session);
}

/* Frames the agent sends right after a resuming hello (before its welcome) reach the actor that
 * resumes, in order, after the welcome: nothing is dropped while the directory decides. */
static void test_resume_keeps_frames_before_welcome(void **state) {
  fx_t *f = *state;
  kq_proto_msg_t w;
  kq_aid_t b = connect_ok(f, 90, "agent-q", &w);
  char *session = kq_strdup(w.welcome.session);
  kq_proto_msg_clear(&w);
  send_run(f, b, "r1");
  expect_frame(f, KQ_PROTO_RUN, NULL);
  closed(f, b, 90, 1006, true);
  assert_int_equal(expect_event(f, NULL), KQ_BROWSER_CHANGED); /* detached */

  kq_aid_t nb = kq_browser_spawn(&f->plane, f->sys, f->gw, 91);
  char *runs[] = {"r1"};
  kq_proto_msg_t pm = {.type = KQ_PROTO_HELLO};
  pm.hello.token = "s3cret";
  pm.hello.agent_id = "agent-q";
  pm.hello.session_id = session;
  pm.hello.runs = runs;
  pm.hello.nruns = 1;
  pm.hello.cpu_millis = 4000;
  pm.hello.memory_bytes = 1ll << 30;
  queue_frame(f, nb, 91, &pm);
  kq_proto_msg_t lg = {.type = KQ_PROTO_LOG};
  lg.log.run_id = "r1";
  lg.log.stream = 1;
  lg.log.seq = 7;
  lg.log.data = (uint8_t *)"early\n";
  lg.log.len = 6;
  queue_frame(f, nb, 91, &lg);
  kq_proto_msg_t st = {.type = KQ_PROTO_STATUS};
  st.status.run_id = "r1";
  st.status.phase = KQ_PROTO_PHASE_EXITED;
  st.status.has_exit_code = true;
  st.status.exit_code = 5;
  queue_frame(f, nb, 91, &st);
  kq_h_run(f->h);

  kq_proto_msg_t out;
  uint16_t code;
  assert_int_equal(next_out(f, &out, &code), KQ_PROTO_NONE); /* REBIND of conn 91 to the old actor */
  expect_frame(f, KQ_PROTO_WELCOME, &w);
  assert_int_equal(w.welcome.nresumed, 1);
  kq_proto_msg_clear(&w);
  kq_h_expect_none(f->h, f->gw); /* no error frame: both early frames were accepted */
  kq_run_report_msg_t *r = (kq_run_report_msg_t *)kq_h_expect(f->h, f->pod, REPORT_ID);
  assert_int_equal(r->event, KQ_RUN_LOG);
  assert_int_equal(r->seq, 7);
  assert_memory_equal(r->data, "early\n", 6);
  kq_msg_free(&r->hdr);
  r = (kq_run_report_msg_t *)kq_h_expect(f->h, f->pod, REPORT_ID);
  assert_int_equal(r->event, KQ_RUN_EXITED);
  assert_int_equal(r->exit_code, 5);
  kq_msg_free(&r->hdr);
  kq_h_expect_none(f->h, f->pod);
  assert_true(kq_actor_alive(f->sys, b));
  assert_false(kq_actor_alive(f->sys, nb));
  free(session);
}

/* A hello with a session the directory does not know registers anew; a heartbeat sent before
 * its welcome is handled after it (here: the throttled flag it carries is published). */
static void test_unknown_session_keeps_early_heartbeat(void **state) {
  fx_t *f = *state;
  kq_aid_t b = kq_browser_spawn(&f->plane, f->sys, f->gw, 95);
  kq_proto_msg_t pm = {.type = KQ_PROTO_HELLO};
  pm.hello.token = "s3cret";
  pm.hello.agent_id = "agent-u";
  pm.hello.session_id = "s-0000000000000000000000000000dead";
  pm.hello.cpu_millis = 4000;
  pm.hello.memory_bytes = 1ll << 30;
  queue_frame(f, b, 95, &pm);
  kq_proto_msg_t hb = {.type = KQ_PROTO_HEARTBEAT};
  hb.heartbeat.throttled = true;
  queue_frame(f, b, 95, &hb);
  kq_h_run(f->h);
  expect_frame(f, KQ_PROTO_WELCOME, NULL);
  kq_browser_info_t info;
  assert_int_equal(expect_event(f, &info), KQ_BROWSER_UP);
  assert_false(info.throttled);
  kq_browser_info_clear(&info);
  assert_int_equal(expect_event(f, &info), KQ_BROWSER_CHANGED);
  assert_true(info.throttled);
  kq_browser_info_clear(&info);
}

static void test_resume_window_expires(void **state) {
  fx_t *f = *state;
  kq_aid_t b = connect_ok(f, 50, "agent-e", NULL);
  send_run(f, b, "r1");
  expect_frame(f, KQ_PROTO_RUN, NULL);
  closed(f, b, 50, 1006, true);
  assert_int_equal(expect_event(f, NULL), KQ_BROWSER_CHANGED);
  /* a run request while detached fails at once */
  send_run(f, b, "r9");
  kq_run_report_msg_t *r = (kq_run_report_msg_t *)kq_h_expect(f->h, f->pod, REPORT_ID);
  assert_int_equal(r->event, KQ_RUN_FAILED);
  kq_msg_free(&r->hdr);
  kq_h_advance(f->h, KQ_MS(10500));
  r = (kq_run_report_msg_t *)kq_h_expect(f->h, f->pod, REPORT_ID);
  assert_int_equal(r->event, KQ_RUN_LOST);
  assert_string_equal(r->run_id, "r1");
  kq_msg_free(&r->hdr);
  assert_int_equal(expect_event(f, NULL), KQ_BROWSER_DOWN);
  assert_false(kq_actor_alive(f->sys, b));
}

static void test_ownership_check(void **state) {
  fx_t *f = *state;
  kq_aid_t a = connect_ok(f, 60, "agent-o1", NULL);
  kq_aid_t c = connect_ok(f, 61, "agent-o2", NULL);
  send_run(f, a, "mine");
  expect_frame(f, KQ_PROTO_RUN, NULL);
  /* browser c reports on a's run: refused with unknown_run, the pod hears nothing */
  status(f, c, 61, "mine", KQ_PROTO_PHASE_EXITED);
  kq_proto_msg_t e;
  expect_frame(f, KQ_PROTO_ERROR, &e);
  assert_string_equal(e.error.code, "unknown_run");
  kq_proto_msg_clear(&e);
  kq_h_expect_none(f->h, f->pod);
  /* a's own report goes through; a log chunk too */
  kq_proto_msg_t lg = {.type = KQ_PROTO_LOG};
  lg.log.run_id = "mine";
  lg.log.stream = 1;
  lg.log.data = (uint8_t *)"hi\n";
  lg.log.len = 3;
  deliver(f, a, 60, &lg);
  kq_run_report_msg_t *r = (kq_run_report_msg_t *)kq_h_expect(f->h, f->pod, REPORT_ID);
  assert_int_equal(r->event, KQ_RUN_LOG);
  assert_int_equal(r->len, 3);
  assert_memory_equal(r->data, "hi\n", 3);
  kq_msg_free(&r->hdr);
  status(f, a, 60, "mine", KQ_PROTO_PHASE_RUNNING);
  r = (kq_run_report_msg_t *)kq_h_expect(f->h, f->pod, REPORT_ID);
  assert_int_equal(r->event, KQ_RUN_RUNNING);
  kq_msg_free(&r->hdr);
}

static void test_overload_flag_and_text_frame(void **state) {
  fx_t *f = *state;
  kq_aid_t b = connect_ok(f, 70, "agent-p", NULL);
  kq_conn_pressure_msg_t *p = KQ_MSG_NEW(kq_conn_pressure_msg_t, KQ_CONN_MSG_PRESSURE);
  p->conn_id = 70;
  p->high = true;
  kq_send(f->sys, b, &p->hdr);
  kq_h_run(f->h);
  kq_browser_info_t info;
  assert_int_equal(expect_event(f, &info), KQ_BROWSER_CHANGED);
  assert_true(info.overloaded);
  kq_browser_info_clear(&info);
  /* a culled connection (gateway closed it 4008) with no runs is gone */
  deliver_raw(f, b, 70, false, "{}", 2);
  expect_close(f, KQ_CLOSE_PROTOCOL);
  closed(f, b, 70, KQ_CLOSE_PROTOCOL, false);
  assert_int_equal(expect_event(f, NULL), KQ_BROWSER_DOWN);
}

static void test_subscribe_late(void **state) {
  fx_t *f = *state;
  kq_aid_t b = connect_ok(f, 80, "agent-l", NULL);
  kq_aid_t late = kq_h_probe(f->h);
  kq_browser_subscribe_msg_t *s = KQ_MSG_NEW(kq_browser_subscribe_msg_t, KQ_BROWSER_MSG_SUBSCRIBE);
  s->event_id = EV_ID + 5;
  s->hdr.from = late;
  kq_send(f->sys, b, &s->hdr);
  kq_browser_event_msg_t *e = (kq_browser_event_msg_t *)kq_h_expect(f->h, late, EV_ID + 5);
  assert_int_equal(e->kind, KQ_BROWSER_UP);
  kq_msg_free(&e->hdr);
}

static void test_token_eq(void **state) {
  (void)state;
  assert_true(kq_browser_token_eq("abc", "abc"));
  assert_false(kq_browser_token_eq("abc", "abd"));
  assert_false(kq_browser_token_eq("abc", "ab"));
  assert_false(kq_browser_token_eq("abc", "abcd"));
  assert_false(kq_browser_token_eq("abc", NULL));
  assert_true(kq_browser_token_eq("", ""));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_token_eq),
      cmocka_unit_test_setup_teardown(test_auth_ok_welcome_and_clamp, setup, teardown),
      cmocka_unit_test_setup_teardown(test_auth_fail_4003, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_frames, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resources_nonsense, setup, teardown),
      cmocka_unit_test_setup_teardown(test_supersede_4001, setup, teardown),
      cmocka_unit_test_setup_teardown(test_heartbeat_deadline_and_ping, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hello_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resume_within_window, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resume_window_expires, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resume_keeps_frames_before_welcome, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_session_keeps_early_heartbeat, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ownership_check, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overload_flag_and_text_frame, setup, teardown),
      cmocka_unit_test_setup_teardown(test_subscribe_late, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
