/* The browser actor's wire side: frames to the agent (encoded into the gateway's headroom, no
 * copy), the close handshake, decoding and routing the agent's frames by state (frames that
 * arrive while a hello waits for the directory are kept in order), and liveness: heartbeats
 * (load, throttling, resource changes) and pongs (RTT EWMA). */
#include <stdlib.h>
#include <string.h>

#include "browser_internal.h"
#include "kq_error.h"
#include "kq_gateway.h"
#include "kq_log.h"

void browser_send_frame(kq_actor_t *self, browser_t *b, const kq_proto_msg_t *pm) {
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
  if (pm->type < KQ_PROTO_TYPE_COUNT_) kq_counter_inc(BMET(b)->frames_out[pm->type]);
  kq_tell(self, b->conn, kq_gw_send_new(b->conn_id, f));
}

void browser_send_error(kq_actor_t *self, browser_t *b, const char *code, const char *message, const char *ref) {
  kq_proto_msg_t pm = {.type = KQ_PROTO_ERROR};
  pm.error.code = (char *)code;
  pm.error.message = (char *)message;
  pm.error.ref = ref && *ref ? (char *)ref : NULL;
  browser_send_frame(self, b, &pm);
}

void browser_close_conn(kq_actor_t *self, browser_t *b, uint16_t code, const char *reason, bool bye) {
  if (!b->conn || b->closing) return;
  b->closing = code;
  if (bye) {
    kq_proto_msg_t pm = {.type = KQ_PROTO_BYE};
    pm.bye.reason = (char *)reason;
    browser_send_frame(self, b, &pm);
  }
  kq_tell(self, b->conn, kq_gw_close_new(b->conn_id, code, reason));
}

static void on_heartbeat(kq_actor_t *self, browser_t *b, kq_proto_heartbeat_t *hb) {
  b->last_hb_ns = browser_now_ns(self);
  browser_arm(b);
  browser_check_overload(self, b);
  bool changed = false;
  if (hb->throttled != b->info.throttled) {
    b->info.throttled = hb->throttled;
    changed = true;
  }
  if (hb->has_resources) {
    if (!browser_resources_ok(hb->cpu_millis, hb->memory_bytes)) {
      browser_send_error(self, b, KQ_PROTO_ERR_BAD_RESOURCES, "heartbeat.resources ignored", "heartbeat");
    } else {
      int64_t cpu = b->info.cpu_millis, mem = b->info.memory_bytes;
      uint8_t gpu = b->info.gpu;
      browser_clamp_resources(b, hb->cpu_millis, hb->memory_bytes);
      if (hb->has_gpu) browser_take_gpu(b, &hb->gpu, true);
      changed |= cpu != b->info.cpu_millis || mem != b->info.memory_bytes || gpu != b->info.gpu;
    }
  }
  if (changed) browser_publish(self, b, KQ_BROWSER_CHANGED, NULL);
}

static void on_pong(kq_actor_t *self, browser_t *b, kq_proto_ping_t *p) {
  uint64_t now = browser_now_ns(self);
  if (p->t_ns > now || p->nonce > b->ping_nonce) return; /* not one of ours */
  int64_t rtt = (int64_t)((now - p->t_ns) / 1000);
  if (rtt > INT32_MAX) rtt = INT32_MAX;
  int64_t old = b->info.rtt_us;
  b->info.rtt_us = (int32_t)(old < 0 ? rtt : (old * 4 + rtt) / 5); /* EWMA, alpha 0.2 */
  kq_histogram_observe(BMET(b)->rtt, (double)rtt / 1e6);
  /* Publish the first measurement and moves of more than 25% that also exceed 1 ms (below that,
   * loopback and LAN jitter would make every pong an event). */
  int64_t diff = b->info.rtt_us - old, mag = diff < 0 ? -diff : diff;
  if (old < 0 || (mag * 4 > old && mag > 1000)) browser_publish(self, b, KQ_BROWSER_CHANGED, NULL);
}

void browser_on_frame(kq_actor_t *self, browser_t *b, kq_conn_frame_msg_t *f) {
  if (f->conn_id != b->conn_id || b->closing) return;
  if (b->state == B_CLAIMING) { /* the directory decides who handles these: keep them in order */
    kq_msg_t **tail = &b->early;
    uint32_t n = 0;
    for (; *tail; tail = &(*tail)->next) n++;
    if (n == EARLY_FRAMES_MAX) {
      kq_counter_inc(BMET(b)->protocol_errors);
      browser_close_conn(self, b, KQ_CLOSE_PROTOCOL, "too many frames before welcome", false);
      return;
    }
    kq_msg_t *m = kq_msg_take(self, &f->hdr);
    m->next = NULL;
    *tail = m;
    return;
  }
  if (!f->binary) {
    kq_counter_inc(BMET(b)->protocol_errors);
    browser_close_conn(self, b, KQ_CLOSE_PROTOCOL, "text frames are not kuack.v1", false);
    return;
  }
  kq_proto_limits_t lim = {.max_frame = BCFG(b)->max_frame, .max_log_chunk = BCFG(b)->max_log_chunk};
  kq_proto_msg_t pm;
  kq_proto_error_t err;
  memset(&pm, 0, sizeof(pm));
  if (kq_proto_decode(f->data, f->len, &lim, &pm, &err) != KQ_OK) {
    kq_counter_inc(BMET(b)->protocol_errors);
    browser_send_error(self, b, err.code, err.message, err.type);
    if (err.fatal || b->state == B_HELLO) browser_close_conn(self, b, KQ_CLOSE_PROTOCOL, err.message, false);
    return;
  }
  if (pm.type < KQ_PROTO_TYPE_COUNT_) kq_counter_inc(BMET(b)->frames_in[pm.type]);
  if (b->state == B_HELLO) {
    if (pm.type == KQ_PROTO_HELLO)
      browser_on_hello(self, b, &pm);
    else
      browser_close_conn(self, b, KQ_CLOSE_PROTOCOL, "first frame must be hello", false);
  } else if (b->state == B_LIVE) {
    switch (pm.type) {
    case KQ_PROTO_HEARTBEAT: on_heartbeat(self, b, &pm.heartbeat); break;
    case KQ_PROTO_PONG: on_pong(self, b, &pm.pong); break;
    case KQ_PROTO_STATUS: browser_on_status(self, b, &pm.status); break;
    case KQ_PROTO_LOG: browser_on_log(self, b, &pm.log); break;
    case KQ_PROTO_ERROR:
      KQ_WARN("browser", "agent reported an error", "browser=%s code=%s message=\"%s\"", b->info.browser_id,
              pm.error.code, pm.error.message ? pm.error.message : "");
      break;
    case KQ_PROTO_BYE: break; /* the close follows */
    case KQ_PROTO_HELLO:
      kq_counter_inc(BMET(b)->protocol_errors);
      browser_close_conn(self, b, KQ_CLOSE_PROTOCOL, "second hello", false);
      break;
    default:
      browser_send_error(self, b, KQ_PROTO_ERR_UNEXPECTED, "wrong direction", kq_proto_type_name(pm.type));
    }
  }
  kq_proto_msg_clear(&pm);
}
