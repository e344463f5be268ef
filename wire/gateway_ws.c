/* The kuack.v1 WebSocket protocol callback. It only moves bytes: a whole inbound message becomes
 * one KQ_CONN_MSG_FRAME for the session actor (refused with 4000 before buffering when it would
 * pass max_frame), queued outbound frames are written several per writable callback while the
 * socket is not choked, and a close becomes KQ_CONN_MSG_CLOSED. */
#include <stdlib.h>
#include <string.h>

#include "gateway_internal.h"
#include "kq_alloc.h"
#include "kq_log.h"


static bool origin_allowed(kq_gateway_t *gw, struct lws *wsi) {
  if (!gw->origins) return true;
  char origin[256];
  int n = lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN);
  if (n <= 0) return true; /* non-browser agents send no Origin; the token still applies */
  for (char **o = gw->origins; *o; o++)
    if (strcmp(*o, origin) == 0) return true;
  return false;
}

static bool path_ok(struct lws *wsi) {
  char uri[64];
  int n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
  return n > 0 && strcmp(uri, "/ws") == 0;
}

static int refuse_proto(struct lws *wsi, gw_conn_t *c, const char *why) {
  kq_gateway_t *gw = gw_of(wsi);
  kq_counter_inc(gw->m_oversize);
  KQ_WARN("gateway", "refusing inbound message", "conn=%llx why=\"%s\"", (unsigned long long)c->id, why);
  free(c->rx);
  c->rx = NULL;
  gw_conn_drop_queue(c);
  c->close_code = KQ_CLOSE_PROTOCOL;
  free(c->close_reason);
  c->close_reason = kq_strdup(why);
  lws_close_reason(wsi, (enum lws_close_status)KQ_CLOSE_PROTOCOL, (unsigned char *)c->close_reason, strlen(c->close_reason));
  return -1;
}

/* The first message (hello) is followed by a hold: lws reads nothing more from the socket until
 * the session has sent something (welcome, or an error before closing). A resumed session
 * moves the connection to another actor in between; holding keeps later frames from reaching
 * the actor that is stepping aside. */
void gw_conn_answered(gw_conn_t *c) {
  c->answered = true;
  if (c->held) {
    c->held = false;
    lws_rx_flow_control(c->wsi, 1);
  }
}

static void deliver(kq_gateway_t *gw, gw_conn_t *c, const void *data, size_t len, bool binary) {
  kq_conn_frame_msg_t *m = kq_conn_frame_new(c->id, binary, data, len);
  m->hdr.from = gw->aid;
  kq_counter_inc(gw->m_frames_in);
  kq_counter_add(gw->m_bytes_in, len);
  kq_send(gw->sys, c->owner, &m->hdr);
  if (!c->answered && !c->held) {
    c->held = true;
    lws_rx_flow_control(c->wsi, 0);
  }
}

static int on_receive(struct lws *wsi, gw_conn_t *c, const uint8_t *in, size_t len) {
  kq_gateway_t *gw = gw_of(wsi);
  if (c->close_code) return 0; /* closing: drop */
  size_t remaining = lws_remaining_packet_payload(wsi);
  bool final = lws_is_final_fragment(wsi);
  size_t have = c->rx ? c->rx->len : 0;
  /* Size of this message so far plus what the current frame still announces. */
  if (have + len + remaining > gw->max_frame) return refuse_proto(wsi, c, "frame too large");
  if (have == 0 && final) {
    deliver(gw, c, in, len, lws_frame_is_binary(wsi));
    return 0;
  }
  size_t need = have + len + remaining;
  if (!c->rx || need > c->rx->cap) {
    size_t ncap = c->rx ? c->rx->cap : 1024;
    while (ncap < need) ncap *= 2;
    if (ncap > gw->max_frame) ncap = gw->max_frame;
    gw_rx_t *rx = kq_realloc(c->rx, sizeof(gw_rx_t) + ncap);
    if (!c->rx) {
      rx->len = 0;
      rx->binary = lws_frame_is_binary(wsi);
    }
    rx->cap = (uint32_t)ncap;
    c->rx = rx;
  }
  memcpy(c->rx->data + c->rx->len, in, len);
  c->rx->len += (uint32_t)len;
  if (final) {
    deliver(gw, c, c->rx->data, c->rx->len, c->rx->binary);
    free(c->rx);
    c->rx = NULL;
  }
  return 0;
}

static int on_writeable(struct lws *wsi, gw_conn_t *c) {
  kq_gateway_t *gw = gw_of(wsi);
  /* The socket just became writable: the first frame goes without asking (lws_send_pipe_choked
   * costs a poll() system call), later ones only while the socket still takes them. */
  for (bool first = true; c->qhead && (first || !lws_send_pipe_choked(wsi)); first = false) {
    kq_gw_frame_t *f = c->qhead;
    c->qhead = f->next;
    if (!c->qhead) c->qtail = NULL;
    c->qframes--;
    c->qbytes -= f->len;
    int n = lws_write(wsi, f->data, f->len, LWS_WRITE_BINARY);
    kq_counter_inc(gw->m_frames_out);
    kq_counter_add(gw->m_bytes_out, f->len);
    free(f);
    if (n < 0) return -1;
  }
  if (c->pressured && c->qbytes <= gw->send_queue_bytes / 4 && c->qframes <= gw->send_queue_frames / 4) {
    c->pressured = false;
    kq_conn_pressure_msg_t *m = KQ_MSG_NEW(kq_conn_pressure_msg_t, KQ_CONN_MSG_PRESSURE);
    m->conn_id = c->id;
    m->high = false;
    m->hdr.from = gw->aid;
    kq_send(gw->sys, c->owner, &m->hdr);
  }
  if (c->qhead) {
    lws_callback_on_writable(wsi);
    return 0;
  }
  if (c->close_code) {
    const char *why = c->close_reason ? c->close_reason : "";
    lws_close_reason(wsi, (enum lws_close_status)c->close_code, (unsigned char *)why, strlen(why));
    return -1;
  }
  return 0;
}

static void on_closed(kq_gateway_t *gw, gw_conn_t *c) {
  free(c->close_reason);
  c->close_reason = NULL;
  if (!c->id) return;
  kq_conn_closed_msg_t *m = KQ_MSG_NEW(kq_conn_closed_msg_t, KQ_CONN_MSG_CLOSED);
  m->conn_id = c->id;
  m->by_peer = c->close_code == 0;
  m->code = c->close_code ? c->close_code : c->peer_code ? c->peer_code : 1006;
  m->hdr.from = gw->aid;
  kq_send(gw->sys, c->owner, &m->hdr);
  gw_conn_unregister(gw, c);
  gw_conn_drop_queue(c);
  free(c->rx);
  c->rx = NULL;
  gw_maybe_finish_close(gw);
}

int gw_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  gw_conn_t *c = user;
  kq_gateway_t *gw = gw_of(wsi);
  switch (reason) {
  case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    if (gw->state != GW_OPEN || !path_ok(wsi) || !origin_allowed(gw, wsi)) {
      kq_counter_inc(gw->m_refused);
      return 1;
    }
    return 0;
  case LWS_CALLBACK_ESTABLISHED:
    memset(c, 0, sizeof(*c));
    c->wsi = wsi;
    gw_conn_register(gw, c);
    c->owner = gw->spawn_session(gw->session_ud, gw->sys, gw->aid, c->id);
    if (c->owner == KQ_AID_NONE) {
      gw_conn_unregister(gw, c);
      kq_counter_inc(gw->m_refused);
      return -1;
    }
    kq_counter_inc(gw->m_accepted);
    return 0;
  case LWS_CALLBACK_RECEIVE:
    if (!c || !c->id) return -1;
    return on_receive(wsi, c, in, len);
  case LWS_CALLBACK_SERVER_WRITEABLE:
    if (!c || !c->id) return -1;
    return on_writeable(wsi, c);
  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    if (c && len >= 2) c->peer_code = (uint16_t)(((const uint8_t *)in)[0] << 8 | ((const uint8_t *)in)[1]);
    return 0;
  case LWS_CALLBACK_CLOSED:
    if (c) on_closed(gw, c);
    return 0;
  default:
    return 0;
  }
}
