/* The browser actor: one per agent WebSocket. It decodes kuack.v1 frames, checks the token in
 * constant time, registers with the directory (supersede/resume), keeps heartbeat and hello
 * deadlines and an RTT EWMA from its own pings, turns pod run requests into run/cancel frames
 * and the agent's status/log frames into run reports (only for runs it owns), and publishes
 * capacity events. It reaches its connection only through messages (kq_gateway.h).
 * This file holds its life: states and their deadlines, losing the connection, the dispatch;
 * frames are in browser_frames.c, hello and resume in browser_session.c, runs and subscribers
 * in browser_runs.c. */
#include <stdlib.h>

#include "browser_internal.h"
#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_gateway.h"
#include "kq_log.h"


typedef struct spawn_arg {
  const kq_browser_plane_t *plane;
  kq_aid_t conn;
  uint64_t conn_id;
} spawn_arg_t;


/* Stores our next deadline in the plane's sweep table (the directory ticks us once it passed). */
void browser_arm(browser_t *b) {
  const kq_browser_config_t *cfg = BCFG(b);
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

static void set_gauges(browser_t *b, bstate_t from, bstate_t to) {
  if (from == to) return;
  if (from == B_LIVE) kq_gauge_add(BMET(b)->connected, -1);
  if (from == B_DETACHED) kq_gauge_add(BMET(b)->detached, -1);
  if (to == B_LIVE) kq_gauge_add(BMET(b)->connected, 1);
  if (to == B_DETACHED) kq_gauge_add(BMET(b)->detached, 1);
}

void browser_go(browser_t *b, bstate_t to) {
  set_gauges(b, b->state, to);
  b->state = to;
}

/* Gone for good: runs are lost, subscribers hear DOWN, the directory forgets us. */
void browser_finish(kq_actor_t *self, browser_t *b, const char *reason) {
  if (b->state == B_DONE) return;
  while (b->nruns) browser_lose_run(self, b, b->nruns - 1, reason);
  if (b->announced) browser_publish(self, b, KQ_BROWSER_DOWN, reason);
  if (b->info.agent_id && (b->state == B_LIVE || b->state == B_DETACHED || b->state == B_CLAIMING)) {
    bdir_msg_t *g = bdir_msg_new(BDIR_GONE);
    g->agent_id = kq_strdup(b->info.agent_id);
    kq_tell(self, b->pp->dir, &g->hdr);
  }
  KQ_INFO("browser", "down", "browser=%s agent=%s reason=\"%s\"", b->info.browser_id[0] ? b->info.browser_id : "-",
          b->info.agent_id ? b->info.agent_id : "-", reason);
  browser_go(b, B_DONE);
  kq_actor_stop(kq_actor_system(self), kq_self(self));
}

static void on_closed(kq_actor_t *self, browser_t *b, kq_conn_closed_msg_t *c) {
  if (c->conn_id != b->conn_id || !b->conn) return;
  uint16_t ours = b->closing;
  b->conn = KQ_AID_NONE;
  b->closing = 0;
  if (b->state == B_CLAIMING) return; /* on_accept finishes */
  if (b->state != B_LIVE) {
    browser_finish(self, b, "closed");
    return;
  }
  bool resumable = ours != KQ_CLOSE_PROTOCOL && ours != KQ_CLOSE_SUPERSEDED && ours != KQ_CLOSE_UNAUTHORIZED &&
                   ours != KQ_CLOSE_SHUTDOWN;
  if (!resumable || b->nruns == 0 || BCFG(b)->resume_window_ms == 0) {
    browser_finish(self, b, ours == KQ_CLOSE_CULLED ? "culled" : "closed");
    return;
  }
  b->t.detached_ns = browser_now_ns(self);
  b->info.overloaded = true; /* do not place here while detached */
  browser_go(b, B_DETACHED);
  browser_arm(b);
  bdir_msg_t *d = bdir_msg_new(BDIR_DETACHED);
  d->agent_id = kq_strdup(b->info.agent_id);
  kq_tell(self, b->pp->dir, &d->hdr);
  KQ_INFO("browser", "detached", "browser=%s runs=%u window_ms=%u", b->info.browser_id, b->nruns,
          BCFG(b)->resume_window_ms);
  browser_publish(self, b, KQ_BROWSER_CHANGED, "detached");
}

/* ---- deadlines ---- */

void browser_check_overload(kq_actor_t *self, browser_t *b) {
  bool over = b->pressured || kq_actor_overloaded(kq_actor_system(self), kq_self(self));
  if (over != b->info.overloaded) {
    b->info.overloaded = over;
    browser_publish(self, b, KQ_BROWSER_CHANGED, over ? "overloaded" : NULL);
  }
}

static void on_tick(kq_actor_t *self, browser_t *b) {
  uint64_t now = browser_now_ns(self);
  const kq_browser_config_t *cfg = BCFG(b);
  switch (b->state) {
  case B_HELLO:
    if (now - b->t.born_ns >= KQ_MS(cfg->hello_timeout_ms)) browser_close_conn(self, b, KQ_CLOSE_PROTOCOL, "no hello", false);
    break;
  case B_LIVE: {
    if (b->closing) break;
    if (now - b->last_hb_ns >= KQ_MS(cfg->heartbeat_deadline_ms)) {
      kq_counter_inc(BMET(b)->heartbeat_timeouts);
      KQ_WARN("browser", "heartbeat deadline missed", "browser=%s", b->info.browser_id);
      browser_close_conn(self, b, KQ_CLOSE_CULLED, "heartbeat timeout", true);
      break;
    }
    if (now >= b->t.next_ping_ns) {
      b->t.next_ping_ns = now + KQ_MS(cfg->ping_ms);
      kq_proto_msg_t pm = {.type = KQ_PROTO_PING};
      pm.ping.nonce = ++b->ping_nonce;
      pm.ping.t_ns = now;
      browser_send_frame(self, b, &pm);
    }
    browser_check_overload(self, b);
    break;
  }
  case B_DETACHED:
    if (now - b->t.detached_ns >= KQ_MS(cfg->resume_window_ms)) browser_finish(self, b, "resume window expired");
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
  b->t.born_ns = browser_now_ns(self);
  b->sweep_slot = bsweep_add(b->pp, kq_self(self), b->t.born_ns + KQ_MS(BCFG(b)->hello_timeout_ms));
  return KQ_OK;
}

static void browser_dispatch(kq_actor_t *self, void *state, kq_msg_t *msg) {
  browser_t *b = state;
  if (b->state == B_DONE) return;
  switch (msg->id) {
  case BDIR_TICK:
    on_tick(self, b);
    if (b->state != B_DONE) browser_arm(b);
    break;
  case KQ_CONN_MSG_FRAME: browser_on_frame(self, b, (kq_conn_frame_msg_t *)msg); break;
  case KQ_CONN_MSG_CLOSED: on_closed(self, b, (kq_conn_closed_msg_t *)msg); break;
  case KQ_CONN_MSG_PRESSURE: {
    kq_conn_pressure_msg_t *p = (kq_conn_pressure_msg_t *)msg;
    if (p->conn_id == b->conn_id) b->pressured = p->high;
    if (b->state == B_LIVE && b->pressured != b->info.overloaded && b->pressured) {
      b->info.overloaded = true;
      browser_publish(self, b, KQ_BROWSER_CHANGED, "send queue backed up");
    }
    break;
  }
  case BDIR_ACCEPT: browser_on_accept(self, b, (bdir_msg_t *)msg); break;
  case BDIR_HANDOVER: browser_on_handover(self, b, (bdir_msg_t *)msg); break;
  case BDIR_ATTACH: browser_on_attach(self, b, (bdir_msg_t *)msg); break;
  case BDIR_SUPERSEDE:
    kq_counter_inc(BMET(b)->superseded);
    browser_close_conn(self, b, KQ_CLOSE_SUPERSEDED, "superseded by a newer session", true);
    browser_finish(self, b, "superseded");
    break;
  case KQ_BROWSER_MSG_SUBSCRIBE: browser_on_subscribe(self, b, (kq_browser_subscribe_msg_t *)msg); break;
  case KQ_BROWSER_MSG_UNSUBSCRIBE: browser_on_unsubscribe(b, msg->from); break;
  case KQ_BROWSER_MSG_RUN: browser_on_run(self, b, (kq_browser_run_msg_t *)msg); break;
  case KQ_BROWSER_MSG_CANCEL: browser_on_cancel(self, b, (kq_browser_cancel_msg_t *)msg); break;
  default: KQ_WARN("browser", "unexpected message", "id=%u", msg->id);
  }
}

static void browser_stop(kq_actor_t *self, void *state) {
  browser_t *b = state;
  if (b->state != B_DONE) { /* stopped from outside (shutdown) */
    if (b->conn) kq_tell(self, b->conn, kq_gw_close_new(b->conn_id, KQ_CLOSE_SHUTDOWN, "node shutting down"));
    browser_go(b, B_DONE);
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
  browser_info_clear(&b->info);
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
