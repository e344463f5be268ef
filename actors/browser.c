/* The browser actor: one per agent WebSocket. It decodes kuack.v1 frames, checks the token in
 * constant time, registers with the directory (supersede/resume), keeps heartbeat and hello
 * deadlines and an RTT EWMA from its own pings, turns pod run requests into run/cancel frames
 * and the agent's status/log frames into run reports (only for runs it owns), and publishes
 * capacity events. It reaches its connection only through messages (kq_gateway.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "browser_internal.h"
#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_gateway.h"
#include "kq_log.h"

typedef struct run_entry {
  char *run_id;
  kq_aid_t pod;
  uint32_t report_id;
} run_entry_t;

typedef struct sub_entry {
  kq_aid_t aid;
  uint32_t event_id;
} sub_entry_t;

typedef enum { B_HELLO = 0, B_CLAIMING, B_LIVE, B_DETACHED, B_DONE } bstate_t;

/* What kq_browser_info_t holds (the address is ours), with the labels out of line (most
 * browsers have none): an idle browser's state is a large part of the node's memory per
 * connection, so the fields are packed (RTT in int32 microseconds, clamped). */
typedef struct binfo {
  char *agent_id, *gpu_vendor, *gpu_arch;
  kq_label_t *labels;     /* nlabels entries, NULL when none */
  int64_t cpu_millis, memory_bytes;
  int32_t rtt_us;         /* -1 = not measured yet */
  uint32_t max_pods;
  char browser_id[BID_BROWSER_LEN + 1]; /* "" until registered */
  uint8_t nlabels;
  uint8_t gpu;            /* kq_gpu_class_t */
  bool throttled : 1, overloaded : 1;
} binfo_t;

/* Frames that arrive while a hello waits for the directory (at most this many are kept). */
#define EARLY_FRAMES_MAX 32

/* One per connected browser, so kept small (10,000 idle browsers: this is ~20 % of the node's
 * memory per connection). The session id is not kept: the directory holds it (a resume presents
 * it again); the time that matters depends on the state, so one field holds it. */
typedef struct browser {
  plane_priv_t *pp;
  kq_aid_t conn;          /* gateway actor; NONE while detached */
  uint64_t conn_id;
  union {
    uint64_t born_ns;     /* B_HELLO, B_CLAIMING: spawned (hello deadline) */
    uint64_t next_ping_ns; /* B_LIVE */
    uint64_t detached_ns; /* B_DETACHED: start of the resume window */
  } t;
  uint64_t last_hb_ns;
  kq_msg_t *early;        /* frames received while CLAIMING, in order (at most EARLY_FRAMES_MAX) */
  sub_entry_t *subs;      /* nsubs entries (grown one at a time: subscribers are few) */
  run_entry_t *runs;      /* nruns entries, same */
  uint32_t ping_nonce;
  uint32_t sweep_slot;    /* our entry in the plane's deadline table */
  binfo_t info;
  uint8_t state;          /* bstate_t */
  bool announced : 1;     /* UP was published */
  bool pressured : 1;
  uint16_t closing;       /* close code we asked for on the current connection */
  uint16_t nsubs, nruns;
} browser_t;

typedef struct spawn_arg {
  const kq_browser_plane_t *plane;
  kq_aid_t conn;
  uint64_t conn_id;
} spawn_arg_t;

#define CFG(b) (&(b)->pp->cfg)
#define MET(b) (&(b)->pp->m)

static uint64_t now_ns(kq_actor_t *self) { return kq_now_ns(kq_system_clock(kq_actor_system(self))); }

static void on_frame(kq_actor_t *self, browser_t *b, kq_conn_frame_msg_t *f);
static void go_live(kq_actor_t *self, browser_t *b, const char *session_id);

/* Stores our next deadline in the plane's sweep table (the directory ticks us once it passed). */
static void arm(browser_t *b) {
  const kq_browser_config_t *cfg = CFG(b);
  uint64_t due = UINT64_MAX;
  switch (b->state) {
  case B_HELLO: due = b->t.born_ns + KQ_MS(cfg->hello_timeout_ms); break;
  case B_LIVE: {
    uint64_t hb = b->last_hb_ns + KQ_MS(cfg->heartbeat_deadline_ms);
    uint64_t ping = b->t.next_ping_ns;
    due = b->closing ? UINT64_MAX : hb < ping ? hb : ping;
    break;
  }
  case B_DETACHED: due = b->t.detached_ns + KQ_MS(cfg->resume_window_ms); break;
  default: break;
  }
  b->pp->sweep[b->sweep_slot].due_ns = due;
}

/* Mailbox past its high-water mark or send queue backed up: tell subscribers not to place here. */
static void check_overload(kq_actor_t *self, browser_t *b);

/* ---- outbound ---- */

static void send_frame(kq_actor_t *self, browser_t *b, const kq_proto_msg_t *pm) {
  if (!b->conn) return;
  kq_proto_buf_t buf;
  kq_proto_buf_init(&buf, sizeof(kq_gw_frame_t));
  if (kq_proto_encode(pm, &buf) != KQ_OK) {
    KQ_ERROR("browser", "cannot encode frame", "type=%s", kq_proto_type_name(pm->type));
    kq_proto_buf_free(&buf);
    return;
  }
  size_t len = 0;
  /* The block is headroom (a kq_gw_frame_t header) + the frame: no copy. */
  kq_gw_frame_t *f = (kq_gw_frame_t *)kq_proto_buf_steal(&buf, &len);
  kq_proto_buf_free(&buf);
  f->next = NULL;
  f->len = (uint32_t)len;
  f->reserved_ = 0;
  if (pm->type < KQ_PROTO_TYPE_COUNT_) kq_counter_inc(MET(b)->frames_out[pm->type]);
  kq_tell(self, b->conn, kq_gw_send_new(b->conn_id, f));
}

static void send_error(kq_actor_t *self, browser_t *b, const char *code, const char *message, const char *ref) {
  kq_proto_msg_t pm = {.type = KQ_PROTO_ERROR};
  pm.error.code = (char *)code;
  pm.error.message = (char *)message;
  pm.error.ref = ref && *ref ? (char *)ref : NULL;
  send_frame(self, b, &pm);
}

static void close_conn(kq_actor_t *self, browser_t *b, uint16_t code, const char *reason, bool bye) {
  if (!b->conn || b->closing) return;
  b->closing = code;
  if (bye) {
    kq_proto_msg_t pm = {.type = KQ_PROTO_BYE};
    pm.bye.reason = (char *)reason;
    send_frame(self, b, &pm);
  }
  kq_tell(self, b->conn, kq_gw_close_new(b->conn_id, code, reason));
}

/* ---- events and reports ---- */

static void info_view(kq_actor_t *self, browser_t *b, kq_browser_info_t *v) {
  const binfo_t *i = &b->info;
  memset(v, 0, sizeof(*v));
  v->aid = kq_self(self);
  v->agent_id = i->agent_id;
  v->browser_id = i->browser_id[0] ? (char *)i->browser_id : NULL;
  v->cpu_millis = i->cpu_millis;
  v->memory_bytes = i->memory_bytes;
  v->max_pods = i->max_pods;
  v->gpu = (kq_gpu_class_t)i->gpu;
  v->gpu_vendor = i->gpu_vendor;
  v->gpu_arch = i->gpu_arch;
  v->rtt_us = i->rtt_us;
  v->throttled = i->throttled;
  v->overloaded = i->overloaded;
  v->nlabels = i->nlabels;
  for (uint32_t k = 0; k < i->nlabels; k++) v->labels[k] = i->labels[k];
}

static void info_clear(binfo_t *i) {
  free(i->agent_id);
  free(i->gpu_vendor);
  free(i->gpu_arch);
  for (uint32_t k = 0; k < i->nlabels; k++) {
    free(i->labels[k].key);
    free(i->labels[k].value);
  }
  free(i->labels);
  memset(i, 0, sizeof(*i));
}

static void publish_to(kq_actor_t *self, browser_t *b, kq_aid_t to, uint32_t id, kq_browser_event_kind_t kind,
                       const char *reason) {
  kq_browser_event_msg_t *e = KQ_MSG_NEW(kq_browser_event_msg_t, id);
  e->hdr.dtor = kq_browser_event_msg_dtor;
  e->kind = kind;
  kq_browser_info_t view;
  info_view(self, b, &view);
  kq_browser_info_copy(&e->info, &view);
  e->reason = kq_strdup(reason);
  kq_tell(self, to, &e->hdr);
}

static void publish(kq_actor_t *self, browser_t *b, kq_browser_event_kind_t kind, const char *reason) {
  const kq_browser_config_t *cfg = CFG(b);
  for (uint32_t i = 0; i < cfg->nsubscribers && i < 4; i++)
    publish_to(self, b, cfg->subscribers[i], cfg->subscriber_event_ids[i], kind, reason);
  for (uint32_t i = 0; i < b->nsubs; i++) publish_to(self, b, b->subs[i].aid, b->subs[i].event_id, kind, reason);
}

static kq_run_report_msg_t *report_new(browser_t *b, const run_entry_t *run, kq_run_event_t ev) {
  kq_run_report_msg_t *r = KQ_MSG_NEW(kq_run_report_msg_t, run->report_id);
  r->hdr.dtor = kq_run_report_msg_dtor;
  r->event = ev;
  r->run_id = kq_strdup(run->run_id);
  r->browser_id = b->info.browser_id[0] ? kq_strdup(b->info.browser_id) : NULL;
  return r;
}

static int find_run(browser_t *b, const char *run_id) {
  if (!run_id) return -1;
  for (uint32_t i = 0; i < b->nruns; i++)
    if (strcmp(b->runs[i].run_id, run_id) == 0) return (int)i;
  return -1;
}

static void remove_run(browser_t *b, uint32_t i) {
  free(b->runs[i].run_id);
  b->runs[i] = b->runs[--b->nruns];
}

static void lose_run(kq_actor_t *self, browser_t *b, uint32_t i, const char *why) {
  kq_run_report_msg_t *r = report_new(b, &b->runs[i], KQ_RUN_LOST);
  r->message = kq_strdup(why);
  kq_counter_inc(MET(b)->lost_runs);
  kq_tell(self, b->runs[i].pod, &r->hdr);
  remove_run(b, i);
}

/* ---- state changes ---- */

static void set_gauges(browser_t *b, bstate_t from, bstate_t to) {
  if (from == to) return;
  if (from == B_LIVE) kq_gauge_add(MET(b)->connected, -1);
  if (from == B_DETACHED) kq_gauge_add(MET(b)->detached, -1);
  if (to == B_LIVE) kq_gauge_add(MET(b)->connected, 1);
  if (to == B_DETACHED) kq_gauge_add(MET(b)->detached, 1);
}

static void go(browser_t *b, bstate_t to) {
  set_gauges(b, b->state, to);
  b->state = to;
}

/* Gone for good: runs are lost, subscribers hear DOWN, the directory forgets us. */
static void finish(kq_actor_t *self, browser_t *b, const char *reason) {
  if (b->state == B_DONE) return;
  while (b->nruns) lose_run(self, b, b->nruns - 1, reason);
  if (b->announced) publish(self, b, KQ_BROWSER_DOWN, reason);
  if (b->info.agent_id && (b->state == B_LIVE || b->state == B_DETACHED || b->state == B_CLAIMING)) {
    bdir_msg_t *g = bdir_msg_new(BDIR_GONE);
    g->agent_id = kq_strdup(b->info.agent_id);
    kq_tell(self, b->pp->dir, &g->hdr);
  }
  KQ_INFO("browser", "down", "browser=%s agent=%s reason=\"%s\"", b->info.browser_id[0] ? b->info.browser_id : "-",
          b->info.agent_id ? b->info.agent_id : "-", reason);
  go(b, B_DONE);
  kq_actor_stop(kq_actor_system(self), kq_self(self));
}

/* ---- hello ---- */

static bool resources_ok(int64_t cpu, int64_t mem) {
  return cpu > 0 && mem > 0 && cpu <= 1000000000ll && mem <= (1ll << 60);
}

static void clamp_resources(browser_t *b, int64_t cpu, int64_t mem) {
  b->info.cpu_millis = cpu > CFG(b)->max_cpu_millis ? CFG(b)->max_cpu_millis : cpu;
  b->info.memory_bytes = mem > CFG(b)->max_memory_bytes ? CFG(b)->max_memory_bytes : mem;
}

static kq_gpu_class_t gpu_class(const kq_proto_gpu_t *g, bool has) {
  if (!has || !g->present) return KQ_GPU_NONE;
  return g->fallback ? KQ_GPU_FALLBACK : KQ_GPU_REAL;
}

static void take_gpu(browser_t *b, const kq_proto_gpu_t *g, bool has) {
  b->info.gpu = (uint8_t)gpu_class(g, has);
  free(b->info.gpu_vendor);
  free(b->info.gpu_arch);
  b->info.gpu_vendor = has ? kq_strdup(g->vendor) : NULL;
  b->info.gpu_arch = has ? kq_strdup(g->architecture) : NULL;
}

static void on_hello(kq_actor_t *self, browser_t *b, kq_proto_msg_t *pm) {
  kq_proto_hello_t *h = &pm->hello;
  const char *want = CFG(b)->token;
  if (want && *want && !kq_browser_token_eq(want, h->token)) {
    kq_counter_inc(MET(b)->auth_failures);
    KQ_WARN("browser", "bad agent token", "conn=%llx", (unsigned long long)b->conn_id);
    send_error(self, b, KQ_PROTO_ERR_UNAUTHORIZED, "bad token", "hello");
    close_conn(self, b, KQ_CLOSE_UNAUTHORIZED, "unauthorized", false);
    return;
  }
  if (!resources_ok(h->cpu_millis, h->memory_bytes)) {
    kq_counter_inc(MET(b)->protocol_errors);
    send_error(self, b, KQ_PROTO_ERR_BAD_RESOURCES, "hello: cpu_millis and memory_bytes must be positive and sane",
               "hello");
    close_conn(self, b, KQ_CLOSE_PROTOCOL, "bad resources", false);
    return;
  }
  b->info.agent_id = kq_strdup(h->agent_id);
  clamp_resources(b, h->cpu_millis, h->memory_bytes);
  b->info.max_pods = h->max_pods == 0 || h->max_pods > CFG(b)->max_pods ? CFG(b)->max_pods : h->max_pods;
  take_gpu(b, &h->gpu, h->has_gpu);
  b->info.rtt_us = -1;
  _Static_assert(KQ_LABELS_MAX <= UINT8_MAX, "nlabels is a uint8_t");
  uint32_t nl = h->nlabels < KQ_LABELS_MAX ? h->nlabels : KQ_LABELS_MAX;
  if (nl) b->info.labels = kq_calloc(nl, sizeof(kq_label_t));
  for (uint32_t i = 0; i < nl; i++) {
    b->info.labels[i].key = kq_strdup(h->labels[i].key);
    b->info.labels[i].value = kq_strdup(h->labels[i].value);
    b->info.nlabels++;
  }
  if (!h->session_id || !*h->session_id) { /* nothing to resume: register without asking */
    char sid[BID_SESSION_LEN + 1];
    bids_browser(b->pp, b->info.browser_id);
    bids_session(b->pp, sid);
    bdir_msg_t *r = bdir_msg_new(BDIR_REGISTER);
    r->agent_id = kq_strdup(h->agent_id);
    r->session_id = kq_strdup(sid);
    kq_tell(self, b->pp->dir, &r->hdr);
    go_live(self, b, sid);
    return;
  }
  bdir_msg_t *c = bdir_msg_new(BDIR_CLAIM);
  c->agent_id = kq_strdup(h->agent_id);
  c->conn = b->conn;
  c->conn_id = b->conn_id;
  c->hello = *pm; /* moved: the directory forwards it on resume */
  memset(pm, 0, sizeof(*pm));
  go(b, B_CLAIMING);
  kq_tell(self, b->pp->dir, &c->hdr);
}

static void send_welcome(kq_actor_t *self, browser_t *b, const char *session_id, char **resumed, uint32_t nresumed) {
  kq_proto_msg_t pm = {.type = KQ_PROTO_WELCOME};
  pm.welcome.browser_id = b->info.browser_id;
  pm.welcome.session = (char *)session_id;
  pm.welcome.heartbeat_ms = CFG(b)->heartbeat_ms;
  pm.welcome.heartbeat_deadline_ms = CFG(b)->heartbeat_deadline_ms;
  pm.welcome.max_frame = CFG(b)->max_frame;
  pm.welcome.max_log_chunk = CFG(b)->max_log_chunk;
  pm.welcome.resumed = resumed;
  pm.welcome.nresumed = nresumed;
  send_frame(self, b, &pm);
}

static void go_live(kq_actor_t *self, browser_t *b, const char *session_id) {
  b->last_hb_ns = now_ns(self);
  /* First ping within one period, spread by slot (Fibonacci hashing; slot 0 waits a full period):
   * browsers that connect together must not all be pinged in the same sweep. */
  uint64_t period = KQ_MS(CFG(b)->ping_ms);
  b->t.next_ping_ns = b->last_hb_ns + period - ((uint64_t)b->sweep_slot * 0x9E3779B97F4A7C15ull) % period;
  go(b, B_LIVE);
  arm(b);
  send_welcome(self, b, session_id, NULL, 0);
  b->announced = true;
  KQ_INFO("browser", "registered", "browser=%s agent=%s cpu_millis=%lld memory_bytes=%lld", b->info.browser_id,
          b->info.agent_id, (long long)b->info.cpu_millis, (long long)b->info.memory_bytes);
  publish(self, b, KQ_BROWSER_UP, NULL);
}

static void on_accept(kq_actor_t *self, browser_t *b, bdir_msg_t *m) {
  if (b->state != B_CLAIMING) return;
  snprintf(b->info.browser_id, sizeof(b->info.browser_id), "%s", m->browser_id ? m->browser_id : "");
  if (!b->conn) { /* the connection died while we were claiming */
    finish(self, b, "closed");
    return;
  }
  go_live(self, b, m->session_id ? m->session_id : "");
  /* frames the agent sent before the welcome, in order */
  while (b->early && b->state == B_LIVE) {
    kq_msg_t *f = b->early;
    b->early = f->next;
    on_frame(self, b, (kq_conn_frame_msg_t *)f);
    kq_msg_free(f);
  }
}

/* Resume: an older actor of this agent adopts the connection. It gets the hello and then the
 * frames that reached us meanwhile, all from us and in order, before the gateway (held until it
 * answers, see gateway_ws.c) delivers anything newer to it. */
static void on_handover(kq_actor_t *self, browser_t *b, bdir_msg_t *m) {
  if (b->state != B_CLAIMING) return;
  kq_aid_t to = m->conn;
  bdir_msg_t *a = bdir_msg_new(BDIR_ATTACH);
  a->conn = b->conn;
  a->conn_id = b->conn_id;
  a->hello = m->hello;
  memset(&m->hello, 0, sizeof(m->hello));
  if (!b->conn) { /* the connection died while we were claiming */
    kq_msg_free(&a->hdr);
    finish(self, b, "closed");
    return;
  }
  if (kq_tell(self, to, &a->hdr) != KQ_OK) { /* the adopter is gone: the agent reconnects */
    close_conn(self, b, KQ_CLOSE_PROTOCOL, "resume failed, reconnect", false);
    finish(self, b, "resume failed");
    return;
  }
  while (b->early) {
    kq_msg_t *f = b->early;
    b->early = f->next;
    kq_tell(self, to, f);
  }
  b->conn = KQ_AID_NONE; /* the connection is the adopter's now */
  go(b, B_DONE);
  kq_actor_stop(kq_actor_system(self), kq_self(self));
}

/* Resume: adopt the new connection, keep the runs the agent still has, lose the others. */
static void on_attach(kq_actor_t *self, browser_t *b, bdir_msg_t *m) {
  if (b->state != B_LIVE && b->state != B_DETACHED) return;
  if (b->conn) close_conn(self, b, KQ_CLOSE_SUPERSEDED, "resumed on a new connection", true);
  b->conn = m->conn;
  b->conn_id = m->conn_id;
  b->closing = 0;
  kq_tell(self, b->conn, kq_gw_rebind_new(b->conn_id, kq_self(self)));
  kq_proto_hello_t *h = &m->hello.hello;
  char **resumed = b->nruns ? kq_calloc(b->nruns, sizeof(char *)) : NULL;
  uint32_t nres = 0;
  for (uint32_t i = b->nruns; i-- > 0;) {
    bool kept = false;
    for (uint32_t j = 0; j < h->nruns && !kept; j++) kept = strcmp(h->runs[j], b->runs[i].run_id) == 0;
    if (kept)
      resumed[nres++] = b->runs[i].run_id;
    else
      lose_run(self, b, i, "not running in the browser after reconnect");
  }
  if (resources_ok(h->cpu_millis, h->memory_bytes)) clamp_resources(b, h->cpu_millis, h->memory_bytes);
  b->last_hb_ns = now_ns(self);
  b->t.next_ping_ns = b->last_hb_ns + KQ_MS(CFG(b)->ping_ms);
  b->info.overloaded = false;
  go(b, B_LIVE);
  arm(b);
  /* the directory handed the connection over because this hello presented our session id */
  send_welcome(self, b, h->session_id ? h->session_id : "", resumed, nres);
  free(resumed);
  kq_counter_inc(MET(b)->resumed);
  KQ_INFO("browser", "resumed", "browser=%s agent=%s runs=%u", b->info.browser_id, b->info.agent_id, nres);
  publish(self, b, KQ_BROWSER_CHANGED, "resumed");
}

/* ---- frames from the agent ---- */

static void on_status(kq_actor_t *self, browser_t *b, kq_proto_status_t *s) {
  int i = find_run(b, s->run_id);
  if (i < 0) {
    kq_counter_inc(MET(b)->foreign_reports);
    send_error(self, b, KQ_PROTO_ERR_UNKNOWN_RUN, s->run_id, "status");
    return;
  }
  kq_run_report_msg_t *r = report_new(b, &b->runs[i], (kq_run_event_t)s->phase);
  r->exit_code = s->exit_code;
  r->message = s->message;
  s->message = NULL;
  r->fetch_ms = s->fetch_ms;
  r->compile_ms = s->compile_ms;
  r->run_ms = s->run_ms;
  kq_aid_t pod = b->runs[i].pod;
  bool terminal = s->phase == KQ_PROTO_PHASE_EXITED || s->phase == KQ_PROTO_PHASE_FAILED ||
                  s->phase == KQ_PROTO_PHASE_CANCELLED;
  if (terminal) remove_run(b, (uint32_t)i);
  kq_tell(self, pod, &r->hdr);
}

static void on_log(kq_actor_t *self, browser_t *b, kq_proto_log_t *l) {
  int i = find_run(b, l->run_id);
  if (i < 0) {
    kq_counter_inc(MET(b)->foreign_reports);
    send_error(self, b, KQ_PROTO_ERR_UNKNOWN_RUN, l->run_id, "log");
    return;
  }
  kq_run_report_msg_t *r = report_new(b, &b->runs[i], KQ_RUN_LOG);
  r->stream = l->stream;
  r->seq = l->seq;
  r->wall_ns = kq_wall_ns(kq_system_clock(kq_actor_system(self)));
  r->data = (char *)l->data;
  r->len = l->len;
  l->data = NULL;
  kq_tell(self, b->runs[i].pod, &r->hdr);
}

static void on_heartbeat(kq_actor_t *self, browser_t *b, kq_proto_heartbeat_t *hb) {
  b->last_hb_ns = now_ns(self);
  arm(b);
  check_overload(self, b);
  bool changed = false;
  if (hb->throttled != b->info.throttled) {
    b->info.throttled = hb->throttled;
    changed = true;
  }
  if (hb->has_resources) {
    if (!resources_ok(hb->cpu_millis, hb->memory_bytes)) {
      send_error(self, b, KQ_PROTO_ERR_BAD_RESOURCES, "heartbeat.resources ignored", "heartbeat");
    } else {
      int64_t cpu = b->info.cpu_millis, mem = b->info.memory_bytes;
      uint8_t gpu = b->info.gpu;
      clamp_resources(b, hb->cpu_millis, hb->memory_bytes);
      if (hb->has_gpu) take_gpu(b, &hb->gpu, true);
      changed |= cpu != b->info.cpu_millis || mem != b->info.memory_bytes || gpu != b->info.gpu;
    }
  }
  if (changed) publish(self, b, KQ_BROWSER_CHANGED, NULL);
}

static void on_pong(kq_actor_t *self, browser_t *b, kq_proto_ping_t *p) {
  uint64_t now = now_ns(self);
  if (p->t_ns > now || p->nonce > b->ping_nonce) return; /* not one of ours */
  int64_t rtt = (int64_t)((now - p->t_ns) / 1000);
  if (rtt > INT32_MAX) rtt = INT32_MAX;
  int64_t old = b->info.rtt_us;
  b->info.rtt_us = (int32_t)(old < 0 ? rtt : (old * 4 + rtt) / 5); /* EWMA, alpha 0.2 */
  kq_histogram_observe(MET(b)->rtt, (double)rtt / 1e6);
  /* Publish the first measurement and moves of more than 25% that also exceed 1 ms (below that,
   * loopback and LAN jitter would make every pong an event). */
  int64_t diff = b->info.rtt_us - old, mag = diff < 0 ? -diff : diff;
  if (old < 0 || (mag * 4 > old && mag > 1000)) publish(self, b, KQ_BROWSER_CHANGED, NULL);
}

static void on_frame(kq_actor_t *self, browser_t *b, kq_conn_frame_msg_t *f) {
  if (f->conn_id != b->conn_id || b->closing) return;
  if (b->state == B_CLAIMING) { /* the directory decides who handles these: keep them in order */
    kq_msg_t **tail = &b->early;
    uint32_t n = 0;
    for (; *tail; tail = &(*tail)->next) n++;
    if (n == EARLY_FRAMES_MAX) {
      kq_counter_inc(MET(b)->protocol_errors);
      close_conn(self, b, KQ_CLOSE_PROTOCOL, "too many frames before welcome", false);
      return;
    }
    kq_msg_t *m = kq_msg_take(self, &f->hdr);
    m->next = NULL;
    *tail = m;
    return;
  }
  if (!f->binary) {
    kq_counter_inc(MET(b)->protocol_errors);
    close_conn(self, b, KQ_CLOSE_PROTOCOL, "text frames are not kuack.v1", false);
    return;
  }
  kq_proto_limits_t lim = {.max_frame = CFG(b)->max_frame, .max_log_chunk = CFG(b)->max_log_chunk};
  kq_proto_msg_t pm;
  kq_proto_error_t err;
  memset(&pm, 0, sizeof(pm));
  if (kq_proto_decode(f->data, f->len, &lim, &pm, &err) != KQ_OK) {
    kq_counter_inc(MET(b)->protocol_errors);
    send_error(self, b, err.code, err.message, err.type);
    if (err.fatal || b->state == B_HELLO) close_conn(self, b, KQ_CLOSE_PROTOCOL, err.message, false);
    return;
  }
  if (pm.type < KQ_PROTO_TYPE_COUNT_) kq_counter_inc(MET(b)->frames_in[pm.type]);
  if (b->state == B_HELLO) {
    if (pm.type == KQ_PROTO_HELLO)
      on_hello(self, b, &pm);
    else
      close_conn(self, b, KQ_CLOSE_PROTOCOL, "first frame must be hello", false);
  } else if (b->state == B_LIVE) {
    switch (pm.type) {
    case KQ_PROTO_HEARTBEAT: on_heartbeat(self, b, &pm.heartbeat); break;
    case KQ_PROTO_PONG: on_pong(self, b, &pm.pong); break;
    case KQ_PROTO_STATUS: on_status(self, b, &pm.status); break;
    case KQ_PROTO_LOG: on_log(self, b, &pm.log); break;
    case KQ_PROTO_ERROR:
      KQ_WARN("browser", "agent reported an error", "browser=%s code=%s message=\"%s\"", b->info.browser_id,
              pm.error.code, pm.error.message ? pm.error.message : "");
      break;
    case KQ_PROTO_BYE: break; /* the close follows */
    case KQ_PROTO_HELLO:
      kq_counter_inc(MET(b)->protocol_errors);
      close_conn(self, b, KQ_CLOSE_PROTOCOL, "second hello", false);
      break;
    default:
      send_error(self, b, KQ_PROTO_ERR_UNEXPECTED, "wrong direction", kq_proto_type_name(pm.type));
    }
  }
  kq_proto_msg_clear(&pm);
}

static void on_closed(kq_actor_t *self, browser_t *b, kq_conn_closed_msg_t *c) {
  if (c->conn_id != b->conn_id || !b->conn) return;
  uint16_t ours = b->closing;
  b->conn = KQ_AID_NONE;
  b->closing = 0;
  if (b->state == B_CLAIMING) return; /* on_accept finishes */
  if (b->state != B_LIVE) {
    finish(self, b, "closed");
    return;
  }
  bool resumable = ours != KQ_CLOSE_PROTOCOL && ours != KQ_CLOSE_SUPERSEDED && ours != KQ_CLOSE_UNAUTHORIZED &&
                   ours != KQ_CLOSE_SHUTDOWN;
  if (!resumable || b->nruns == 0 || CFG(b)->resume_window_ms == 0) {
    finish(self, b, ours == KQ_CLOSE_CULLED ? "culled" : "closed");
    return;
  }
  b->t.detached_ns = now_ns(self);
  b->info.overloaded = true; /* do not place here while detached */
  go(b, B_DETACHED);
  arm(b);
  bdir_msg_t *d = bdir_msg_new(BDIR_DETACHED);
  d->agent_id = kq_strdup(b->info.agent_id);
  kq_tell(self, b->pp->dir, &d->hdr);
  KQ_INFO("browser", "detached", "browser=%s runs=%u window_ms=%u", b->info.browser_id, b->nruns,
          CFG(b)->resume_window_ms);
  publish(self, b, KQ_BROWSER_CHANGED, "detached");
}

/* ---- pod requests ---- */

static void on_run(kq_actor_t *self, browser_t *b, kq_browser_run_msg_t *m) {
  run_entry_t tmp = {.run_id = m->spec.run_id, .pod = m->hdr.from, .report_id = m->report_id};
  if (b->state != B_LIVE || !m->spec.run_id) {
    kq_run_report_msg_t *r = report_new(b, &tmp, KQ_RUN_FAILED);
    r->message = kq_strdup(b->state == B_DETACHED ? "browser disconnected" : "browser not available");
    kq_tell(self, m->hdr.from, &r->hdr);
    return;
  }
  kq_proto_msg_t pm = {.type = KQ_PROTO_RUN};
  kq_proto_run_t *r = &pm.run;
  const kq_run_spec_t *s = &m->spec;
  r->run_id = s->run_id;
  r->pod_uid = s->pod_uid;
  r->namespace_ = s->namespace_;
  r->pod_name = s->pod_name;
  r->container = s->container;
  r->kind = (kq_proto_kind_t)s->kind;
  r->module_url = s->module_url;
  r->glue_url = s->glue_url;
  r->entry = s->entry;
  r->digest = s->digest;
  r->nargs = s->nargs;
  r->args = s->args;
  r->nenv = s->nenv;
  r->env = (kq_proto_env_t *)s->env;
  r->cpu_millis = s->cpu_millis;
  r->memory_bytes = s->memory_bytes;
  r->timeout_ms = s->timeout_ms;
  int i = find_run(b, s->run_id);
  if (i >= 0) remove_run(b, (uint32_t)i);
  if (b->nruns == UINT16_MAX) {
    kq_run_report_msg_t *rep = report_new(b, &tmp, KQ_RUN_FAILED);
    rep->message = kq_strdup("browser has too many runs");
    kq_tell(self, m->hdr.from, &rep->hdr);
    return;
  }
  b->runs = kq_realloc(b->runs, (b->nruns + 1u) * sizeof(*b->runs));
  b->runs[b->nruns++] = (run_entry_t){kq_strdup(s->run_id), m->hdr.from, m->report_id};
  send_frame(self, b, &pm);
}

static void on_cancel(kq_actor_t *self, browser_t *b, kq_browser_cancel_msg_t *m) {
  int i = find_run(b, m->run_id);
  if (i < 0) return;
  if (b->state != B_LIVE) { /* nobody to tell: the agent cancels unknown runs on resume */
    kq_run_report_msg_t *r = report_new(b, &b->runs[i], KQ_RUN_CANCELLED);
    r->message = kq_strdup("cancelled while the browser was disconnected");
    kq_tell(self, b->runs[i].pod, &r->hdr);
    remove_run(b, (uint32_t)i);
    return;
  }
  kq_proto_msg_t pm = {.type = KQ_PROTO_CANCEL};
  pm.cancel.run_id = m->run_id;
  pm.cancel.reason = m->reason;
  send_frame(self, b, &pm);
}

static void on_subscribe(kq_actor_t *self, browser_t *b, kq_browser_subscribe_msg_t *m) {
  for (uint32_t i = 0; i < b->nsubs; i++)
    if (b->subs[i].aid == m->hdr.from) {
      b->subs[i].event_id = m->event_id;
      return;
    }
  if (b->nsubs == UINT16_MAX) return;
  b->subs = kq_realloc(b->subs, (b->nsubs + 1u) * sizeof(*b->subs));
  b->subs[b->nsubs++] = (sub_entry_t){m->hdr.from, m->event_id};
  if (b->announced) publish_to(self, b, m->hdr.from, m->event_id, KQ_BROWSER_UP, NULL);
}

static void on_unsubscribe(browser_t *b, kq_aid_t who) {
  for (uint32_t i = 0; i < b->nsubs; i++)
    if (b->subs[i].aid == who) {
      b->subs[i] = b->subs[--b->nsubs];
      return;
    }
}

/* ---- deadlines ---- */

static void check_overload(kq_actor_t *self, browser_t *b) {
  bool over = b->pressured || kq_actor_overloaded(kq_actor_system(self), kq_self(self));
  if (over != b->info.overloaded) {
    b->info.overloaded = over;
    publish(self, b, KQ_BROWSER_CHANGED, over ? "overloaded" : NULL);
  }
}

static void on_tick(kq_actor_t *self, browser_t *b) {
  uint64_t now = now_ns(self);
  const kq_browser_config_t *cfg = CFG(b);
  switch (b->state) {
  case B_HELLO:
    if (now - b->t.born_ns >= KQ_MS(cfg->hello_timeout_ms)) close_conn(self, b, KQ_CLOSE_PROTOCOL, "no hello", false);
    break;
  case B_LIVE: {
    if (b->closing) break;
    if (now - b->last_hb_ns >= KQ_MS(cfg->heartbeat_deadline_ms)) {
      kq_counter_inc(MET(b)->heartbeat_timeouts);
      KQ_WARN("browser", "heartbeat deadline missed", "browser=%s", b->info.browser_id);
      close_conn(self, b, KQ_CLOSE_CULLED, "heartbeat timeout", true);
      break;
    }
    if (now >= b->t.next_ping_ns) {
      b->t.next_ping_ns = now + KQ_MS(cfg->ping_ms);
      kq_proto_msg_t pm = {.type = KQ_PROTO_PING};
      pm.ping.nonce = ++b->ping_nonce;
      pm.ping.t_ns = now;
      send_frame(self, b, &pm);
    }
    check_overload(self, b);
    break;
  }
  case B_DETACHED:
    if (now - b->t.detached_ns >= KQ_MS(cfg->resume_window_ms)) finish(self, b, "resume window expired");
    break;
  default:
    break;
  }
}

/* ---- actor plumbing ---- */

static int browser_init(kq_actor_t *self, void *state, void *arg) {
  browser_t *b = state;
  const spawn_arg_t *a = arg;
  b->pp = a->plane->metrics_;
  b->pp->dir = a->plane->directory;
  b->conn = a->conn;
  b->conn_id = a->conn_id;
  b->info.rtt_us = -1;
  b->t.born_ns = now_ns(self);
  b->sweep_slot = bsweep_add(b->pp, kq_self(self), b->t.born_ns + KQ_MS(CFG(b)->hello_timeout_ms));
  return KQ_OK;
}

static void browser_dispatch(kq_actor_t *self, void *state, kq_msg_t *msg) {
  browser_t *b = state;
  if (b->state == B_DONE) return;
  switch (msg->id) {
  case BDIR_TICK:
    on_tick(self, b);
    if (b->state != B_DONE) arm(b);
    break;
  case KQ_CONN_MSG_FRAME: on_frame(self, b, (kq_conn_frame_msg_t *)msg); break;
  case KQ_CONN_MSG_CLOSED: on_closed(self, b, (kq_conn_closed_msg_t *)msg); break;
  case KQ_CONN_MSG_PRESSURE: {
    kq_conn_pressure_msg_t *p = (kq_conn_pressure_msg_t *)msg;
    if (p->conn_id == b->conn_id) b->pressured = p->high;
    if (b->state == B_LIVE && b->pressured != b->info.overloaded && b->pressured) {
      b->info.overloaded = true;
      publish(self, b, KQ_BROWSER_CHANGED, "send queue backed up");
    }
    break;
  }
  case BDIR_ACCEPT: on_accept(self, b, (bdir_msg_t *)msg); break;
  case BDIR_HANDOVER: on_handover(self, b, (bdir_msg_t *)msg); break;
  case BDIR_ATTACH: on_attach(self, b, (bdir_msg_t *)msg); break;
  case BDIR_SUPERSEDE:
    kq_counter_inc(MET(b)->superseded);
    close_conn(self, b, KQ_CLOSE_SUPERSEDED, "superseded by a newer session", true);
    finish(self, b, "superseded");
    break;
  case KQ_BROWSER_MSG_SUBSCRIBE: on_subscribe(self, b, (kq_browser_subscribe_msg_t *)msg); break;
  case KQ_BROWSER_MSG_UNSUBSCRIBE: on_unsubscribe(b, msg->from); break;
  case KQ_BROWSER_MSG_RUN: on_run(self, b, (kq_browser_run_msg_t *)msg); break;
  case KQ_BROWSER_MSG_CANCEL: on_cancel(self, b, (kq_browser_cancel_msg_t *)msg); break;
  default: KQ_WARN("browser", "unexpected message", "id=%u", msg->id);
  }
}

static void browser_stop(kq_actor_t *self, void *state) {
  browser_t *b = state;
  if (b->state != B_DONE) { /* stopped from outside (shutdown) */
    if (b->conn) kq_tell(self, b->conn, kq_gw_close_new(b->conn_id, KQ_CLOSE_SHUTDOWN, "node shutting down"));
    go(b, B_DONE);
  }
  bsweep_del(b->pp, b->sweep_slot);
  while (b->early) {
    kq_msg_t *f = b->early;
    b->early = f->next;
    kq_msg_free(f);
  }
  for (uint32_t i = 0; i < b->nruns; i++) free(b->runs[i].run_id);
  free(b->runs);
  free(b->subs);
  info_clear(&b->info);
}

static const kq_actor_type_t browser_type = {
    .name = "browser",
    .state_size = sizeof(browser_t),
    .init = browser_init,
    .dispatch = browser_dispatch,
    .stop = browser_stop,
};

kq_aid_t kq_browser_spawn(void *plane, kq_system_t *sys, kq_aid_t conn, uint64_t conn_id) {
  spawn_arg_t a = {plane, conn, conn_id};
  return kq_spawn(sys, &browser_type, &a, NULL);
}
