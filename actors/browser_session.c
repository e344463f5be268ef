/* The browser actor's session: the hello (token in constant time, sane resources, labels, GPU),
 * registering directly or claiming a session id from the directory, the welcome, and resume
 * (handing the connection over to the older actor, which adopts it and keeps the runs the agent
 * still has). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "browser_internal.h"
#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_gateway.h"
#include "kq_log.h"

static void go_live(kq_actor_t *self, browser_t *b, const char *session_id);

bool browser_resources_ok(int64_t cpu, int64_t mem) {
  return cpu > 0 && mem > 0 && cpu <= 1000000000ll && mem <= (1ll << 60);
}

void browser_clamp_resources(browser_t *b, int64_t cpu, int64_t mem) {
  b->info.cpu_millis = cpu > BCFG(b)->max_cpu_millis ? BCFG(b)->max_cpu_millis : cpu;
  b->info.memory_bytes = mem > BCFG(b)->max_memory_bytes ? BCFG(b)->max_memory_bytes : mem;
}

static kq_gpu_class_t gpu_class(const kq_proto_gpu_t *g, bool has) {
  if (!has || !g->present) return KQ_GPU_NONE;
  return g->fallback ? KQ_GPU_FALLBACK : KQ_GPU_REAL;
}

void browser_take_gpu(browser_t *b, const kq_proto_gpu_t *g, bool has) {
  b->info.gpu = (uint8_t)gpu_class(g, has);
  free(b->info.gpu_vendor);
  free(b->info.gpu_arch);
  b->info.gpu_vendor = has ? kq_strdup(g->vendor) : NULL;
  b->info.gpu_arch = has ? kq_strdup(g->architecture) : NULL;
}

void browser_on_hello(kq_actor_t *self, browser_t *b, kq_proto_msg_t *pm) {
  kq_proto_hello_t *h = &pm->hello;
  const char *want = BCFG(b)->token;
  if (want && *want && !kq_browser_token_eq(want, h->token)) {
    kq_counter_inc(BMET(b)->auth_failures);
    KQ_WARN("browser", "bad agent token", "conn=%llx", (unsigned long long)b->conn_id);
    browser_send_error(self, b, KQ_PROTO_ERR_UNAUTHORIZED, "bad token", "hello");
    browser_close_conn(self, b, KQ_CLOSE_UNAUTHORIZED, "unauthorized", false);
    return;
  }
  if (!browser_resources_ok(h->cpu_millis, h->memory_bytes)) {
    kq_counter_inc(BMET(b)->protocol_errors);
    browser_send_error(self, b, KQ_PROTO_ERR_BAD_RESOURCES, "hello: cpu_millis and memory_bytes must be positive and sane",
               "hello");
    browser_close_conn(self, b, KQ_CLOSE_PROTOCOL, "bad resources", false);
    return;
  }
  b->info.agent_id = kq_strdup(h->agent_id);
  browser_clamp_resources(b, h->cpu_millis, h->memory_bytes);
  b->info.max_pods = h->max_pods == 0 || h->max_pods > BCFG(b)->max_pods ? BCFG(b)->max_pods : h->max_pods;
  browser_take_gpu(b, &h->gpu, h->has_gpu);
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
  browser_go(b, B_CLAIMING);
  kq_tell(self, b->pp->dir, &c->hdr);
}

static void send_welcome(kq_actor_t *self, browser_t *b, const char *session_id, char **resumed, uint32_t nresumed) {
  kq_proto_msg_t pm = {.type = KQ_PROTO_WELCOME};
  pm.welcome.browser_id = b->info.browser_id;
  pm.welcome.session = (char *)session_id;
  pm.welcome.heartbeat_ms = BCFG(b)->heartbeat_ms;
  pm.welcome.heartbeat_deadline_ms = BCFG(b)->heartbeat_deadline_ms;
  pm.welcome.max_frame = BCFG(b)->max_frame;
  pm.welcome.max_log_chunk = BCFG(b)->max_log_chunk;
  pm.welcome.resumed = resumed;
  pm.welcome.nresumed = nresumed;
  browser_send_frame(self, b, &pm);
}

static void go_live(kq_actor_t *self, browser_t *b, const char *session_id) {
  b->last_hb_ns = browser_now_ns(self);
  /* First ping within one period, spread by slot (Fibonacci hashing; slot 0 waits a full period):
   * browsers that connect together must not all be pinged in the same sweep. */
  uint64_t period = KQ_MS(BCFG(b)->ping_ms);
  b->t.next_ping_ns = b->last_hb_ns + period - ((uint64_t)b->sweep_slot * 0x9E3779B97F4A7C15ull) % period;
  browser_go(b, B_LIVE);
  browser_arm(b);
  send_welcome(self, b, session_id, NULL, 0);
  b->announced = true;
  KQ_INFO("browser", "registered", "browser=%s agent=%s cpu_millis=%lld memory_bytes=%lld", b->info.browser_id,
          b->info.agent_id, (long long)b->info.cpu_millis, (long long)b->info.memory_bytes);
  browser_publish(self, b, KQ_BROWSER_UP, NULL);
}

void browser_on_accept(kq_actor_t *self, browser_t *b, bdir_msg_t *m) {
  if (b->state != B_CLAIMING) return;
  snprintf(b->info.browser_id, sizeof(b->info.browser_id), "%s", m->browser_id ? m->browser_id : "");
  if (!b->conn) { /* the connection died while we were claiming */
    browser_finish(self, b, "closed");
    return;
  }
  go_live(self, b, m->session_id ? m->session_id : "");
  /* frames the agent sent before the welcome, in order */
  while (b->early && b->state == B_LIVE) {
    kq_msg_t *f = b->early;
    b->early = f->next;
    browser_on_frame(self, b, (kq_conn_frame_msg_t *)f);
    kq_msg_free(f);
  }
}

/* Resume: an older actor of this agent adopts the connection. It gets the hello and then the
 * frames that reached us meanwhile, all from us and in order, before the gateway (held until it
 * answers, see gateway_ws.c) delivers anything newer to it. */
void browser_on_handover(kq_actor_t *self, browser_t *b, bdir_msg_t *m) {
  if (b->state != B_CLAIMING) return;
  kq_aid_t to = m->conn;
  bdir_msg_t *a = bdir_msg_new(BDIR_ATTACH);
  a->conn = b->conn;
  a->conn_id = b->conn_id;
  a->hello = m->hello;
  memset(&m->hello, 0, sizeof(m->hello));
  if (!b->conn) { /* the connection died while we were claiming */
    kq_msg_free(&a->hdr);
    browser_finish(self, b, "closed");
    return;
  }
  if (kq_tell(self, to, &a->hdr) != KQ_OK) { /* the adopter is gone: the agent reconnects */
    browser_close_conn(self, b, KQ_CLOSE_PROTOCOL, "resume failed, reconnect", false);
    browser_finish(self, b, "resume failed");
    return;
  }
  while (b->early) {
    kq_msg_t *f = b->early;
    b->early = f->next;
    kq_tell(self, to, f);
  }
  b->conn = KQ_AID_NONE; /* the connection is the adopter's now */
  browser_go(b, B_DONE);
  kq_actor_stop(kq_actor_system(self), kq_self(self));
}

/* Resume: adopt the new connection, keep the runs the agent still has, lose the others. */
void browser_on_attach(kq_actor_t *self, browser_t *b, bdir_msg_t *m) {
  if (b->state != B_LIVE && b->state != B_DETACHED) return;
  if (b->conn) browser_close_conn(self, b, KQ_CLOSE_SUPERSEDED, "resumed on a new connection", true);
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
      browser_lose_run(self, b, i, "not running in the browser after reconnect");
  }
  if (browser_resources_ok(h->cpu_millis, h->memory_bytes)) browser_clamp_resources(b, h->cpu_millis, h->memory_bytes);
  b->last_hb_ns = browser_now_ns(self);
  b->t.next_ping_ns = b->last_hb_ns + KQ_MS(BCFG(b)->ping_ms);
  b->info.overloaded = false;
  browser_go(b, B_LIVE);
  browser_arm(b);
  /* the directory handed the connection over because this hello presented our session id */
  send_welcome(self, b, h->session_id ? h->session_id : "", resumed, nres);
  free(resumed);
  kq_counter_inc(BMET(b)->resumed);
  KQ_INFO("browser", "resumed", "browser=%s agent=%s runs=%u", b->info.browser_id, b->info.agent_id, nres);
  browser_publish(self, b, KQ_BROWSER_CHANGED, "resumed");
}
