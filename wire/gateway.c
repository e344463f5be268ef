/* Gateway lifecycle: the lws context on the system's event_base (foreign loop), the gateway
 * actor that turns session messages into queued frames, the connection table (ids with a
 * generation, so a stale id never reaches a reused slot) and the asynchronous close. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_internal.h"
#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_log.h"

/* ---- frames and message builders ---- */

kq_gw_frame_t *kq_gw_frame_new(size_t len) {
  kq_gw_frame_t *f = kq_malloc(sizeof(*f) + len);
  f->next = NULL;
  f->len = (uint32_t)len;
  f->reserved_ = 0;
  return f;
}

static void send_msg_dtor(kq_msg_t *m) {
  kq_gw_send_msg_t *s = (kq_gw_send_msg_t *)m;
  free(s->frame);
  s->frame = NULL;
}

kq_msg_t *kq_gw_send_new(uint64_t conn_id, kq_gw_frame_t *frame) {
  kq_gw_send_msg_t *m = KQ_MSG_NEW(kq_gw_send_msg_t, KQ_GW_MSG_SEND);
  m->conn_id = conn_id;
  m->frame = frame;
  m->hdr.dtor = send_msg_dtor;
  return &m->hdr;
}

kq_msg_t *kq_gw_close_new(uint64_t conn_id, uint16_t code, const char *reason) {
  kq_gw_close_msg_t *m = KQ_MSG_NEW(kq_gw_close_msg_t, KQ_GW_MSG_CLOSE);
  m->conn_id = conn_id;
  m->code = code;
  snprintf(m->reason, sizeof(m->reason), "%s", reason ? reason : "");
  return &m->hdr;
}

kq_msg_t *kq_gw_rebind_new(uint64_t conn_id, kq_aid_t owner) {
  kq_gw_rebind_msg_t *m = KQ_MSG_NEW(kq_gw_rebind_msg_t, KQ_GW_MSG_REBIND);
  m->conn_id = conn_id;
  m->owner = owner;
  return &m->hdr;
}

kq_conn_frame_msg_t *kq_conn_frame_new(uint64_t conn_id, bool binary, const void *data, size_t len) {
  kq_conn_frame_msg_t *m =
      (kq_conn_frame_msg_t *)kq_msg_new(KQ_CONN_MSG_FRAME, sizeof(kq_conn_frame_msg_t) + len);
  m->conn_id = conn_id;
  m->binary = binary;
  m->len = (uint32_t)len;
  if (len) memcpy(m->data, data, len);
  return m;
}

/* ---- connection table ---- */

gw_conn_t *gw_conn_lookup(kq_gateway_t *gw, uint64_t id) {
  uint32_t slot = (uint32_t)id, gen = (uint32_t)(id >> 32);
  if (slot >= gw->nslots || gw->gens[slot] != gen) return NULL;
  return gw->slots[slot];
}

int gw_conn_register(kq_gateway_t *gw, gw_conn_t *c) {
  uint32_t slot;
  if (gw->nfree) {
    slot = gw->freelist[--gw->nfree];
  } else {
    if (gw->nslots == gw->cap) {
      uint32_t ncap = gw->cap ? gw->cap * 2 : 64;
      gw->slots = kq_realloc(gw->slots, ncap * sizeof(*gw->slots));
      gw->gens = kq_realloc(gw->gens, ncap * sizeof(*gw->gens));
      gw->freelist = kq_realloc(gw->freelist, ncap * sizeof(*gw->freelist));
      gw->cap = ncap;
    }
    slot = gw->nslots++;
    gw->gens[slot] = 0;
  }
  gw->gens[slot]++;
  if (gw->gens[slot] == 0) gw->gens[slot] = 1;
  gw->slots[slot] = c;
  c->id = ((uint64_t)gw->gens[slot] << 32) | slot;
  gw->nconns++;
  kq_gauge_set(gw->m_conns, (double)gw->nconns);
  return KQ_OK;
}

void gw_conn_unregister(kq_gateway_t *gw, gw_conn_t *c) {
  if (!c->id) return;
  uint32_t slot = (uint32_t)c->id;
  if (slot < gw->nslots && gw->slots[slot] == c) {
    gw->slots[slot] = NULL;
    gw->gens[slot]++;
    gw->freelist[gw->nfree++] = slot;
    gw->nconns--;
    kq_gauge_set(gw->m_conns, (double)gw->nconns);
  }
  c->id = 0;
}

void gw_conn_drop_queue(gw_conn_t *c) {
  kq_gw_frame_t *f = c->qhead;
  while (f) {
    kq_gw_frame_t *n = f->next;
    free(f);
    f = n;
  }
  c->qhead = c->qtail = NULL;
  c->qframes = 0;
  c->qbytes = 0;
}

/* ---- the gateway actor ---- */

static void pressure(gw_conn_t *c, bool high) {
  if (c->pressured == high) return;
  c->pressured = high;
  kq_conn_pressure_msg_t *m = KQ_MSG_NEW(kq_conn_pressure_msg_t, KQ_CONN_MSG_PRESSURE);
  m->conn_id = c->id;
  m->high = high;
  kq_gateway_t *gw = gw_of(c->wsi);
  m->hdr.from = gw->aid;
  kq_send(gw->sys, c->owner, &m->hdr);
}

static void close_conn(gw_conn_t *c, uint16_t code, const char *reason) {
  if (c->close_code) return;
  c->close_code = code;
  free(c->close_reason);
  c->close_reason = kq_strdup(reason ? reason : "");
  gw_conn_answered(c); /* the close handshake needs the peer's close frame read */
  lws_callback_on_writable(c->wsi);
  /* A peer that does not read never makes the socket writable: bound the wait. */
  lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, 2);
}

static void on_send(kq_gateway_t *gw, kq_gw_send_msg_t *m) {
  gw_conn_t *c = gw_conn_lookup(gw, m->conn_id);
  if (!c || c->close_code || !m->frame) return; /* dtor frees the frame */
  kq_gw_frame_t *f = m->frame;
  if ((uint64_t)c->qbytes + f->len > gw->send_queue_bytes || c->qframes + 1 > gw->send_queue_frames) {
    kq_counter_inc(gw->m_culled);
    KQ_WARN("gateway", "culling slow reader", "conn=%llx queued_frames=%u queued_bytes=%u",
            (unsigned long long)c->id, c->qframes, c->qbytes);
    gw_conn_drop_queue(c);
    close_conn(c, KQ_CLOSE_CULLED, "send queue full");
    return;
  }
  m->frame = NULL;
  f->next = NULL;
  if (c->qtail)
    c->qtail->next = f;
  else
    c->qhead = f;
  c->qtail = f;
  c->qframes++;
  c->qbytes += f->len;
  if (c->qbytes > gw->send_queue_bytes / 2 || c->qframes > gw->send_queue_frames / 2) pressure(c, true);
  gw_conn_answered(c);
  lws_callback_on_writable(c->wsi);
}

typedef struct gw_actor_state {
  kq_gateway_t *gw;
} gw_actor_state_t;

static int gw_actor_init(kq_actor_t *self, void *state, void *arg) {
  gw_actor_state_t *s = state;
  s->gw = arg;
  s->gw->actor_slot = &s->gw;
  return KQ_OK;
}

static void gw_actor_dispatch(kq_actor_t *self, void *state, kq_msg_t *msg) {
  kq_gateway_t *gw = ((gw_actor_state_t *)state)->gw;
  if (!gw || gw->state >= GW_DESTROYING) return;
  switch (msg->id) {
  case KQ_GW_MSG_SEND:
    on_send(gw, (kq_gw_send_msg_t *)msg);
    break;
  case KQ_GW_MSG_CLOSE: {
    kq_gw_close_msg_t *m = (kq_gw_close_msg_t *)msg;
    gw_conn_t *c = gw_conn_lookup(gw, m->conn_id);
    if (c) close_conn(c, m->code, m->reason);
    break;
  }
  case KQ_GW_MSG_REBIND: {
    kq_gw_rebind_msg_t *m = (kq_gw_rebind_msg_t *)msg;
    gw_conn_t *c = gw_conn_lookup(gw, m->conn_id);
    if (c) c->owner = m->owner;
    break;
  }
  default:
    KQ_WARN("gateway", "unexpected message", "id=%u", msg->id);
  }
}

static void gw_actor_stop(kq_actor_t *self, void *state) {
  kq_gateway_t *gw = ((gw_actor_state_t *)state)->gw;
  if (!gw) return;
  gw->actor_slot = NULL;
  gw->aid = KQ_AID_NONE;
  kq_gateway_close(gw, gw->done, gw->done_ud);
}

static const kq_actor_type_t gw_actor_type = {
    .name = "gateway",
    .state_size = sizeof(gw_actor_state_t),
    .init = gw_actor_init,
    .dispatch = gw_actor_dispatch,
    .stop = gw_actor_stop,
};

/* ---- creation ---- */

static char *dup_or_null(const char *s) { return s ? kq_strdup(s) : NULL; }

static void add_mount(kq_gateway_t *gw, int *n, const char *point, const char *origin, const char *def,
                      unsigned char proto) {
  struct lws_http_mount *m = &gw->mounts[*n];
  memset(m, 0, sizeof(*m));
  m->mountpoint = point;
  m->mountpoint_len = (unsigned char)strlen(point);
  m->origin = origin;
  m->def = def;
  m->origin_protocol = proto;
  if (proto == LWSMPRO_FILE) {
    m->extra_mimetypes = &gw->mimes[0];
    m->cache_max_age = 0;
    m->cache_revalidate = 1;
  }
  if (*n > 0) gw->mounts[*n - 1].mount_next = m;
  (*n)++;
}

static void setup_tables(kq_gateway_t *gw) {
  gw->mimes[2] = (struct lws_protocol_vhost_options){NULL, NULL, ".map", "application/json"};
  gw->mimes[1] = (struct lws_protocol_vhost_options){&gw->mimes[2], NULL, ".mjs", "text/javascript"};
  gw->mimes[0] = (struct lws_protocol_vhost_options){&gw->mimes[1], NULL, ".wasm", "application/wasm"};
  /* COOP + COEP make SharedArrayBuffer available to the agent; CORP lets the page load assets. */
  gw->headers[2] = (struct lws_protocol_vhost_options){NULL, NULL, "Cross-Origin-Resource-Policy:",
                                                       "same-origin"};
  gw->headers[1] = (struct lws_protocol_vhost_options){&gw->headers[2], NULL,
                                                       "Cross-Origin-Embedder-Policy:", "require-corp"};
  gw->headers[0] = (struct lws_protocol_vhost_options){&gw->headers[1], NULL,
                                                       "Cross-Origin-Opener-Policy:", "same-origin"};

  int n = 0;
  add_mount(gw, &n, "/healthz", "http", NULL, LWSMPRO_CALLBACK);
  add_mount(gw, &n, "/readyz", "http", NULL, LWSMPRO_CALLBACK);
  add_mount(gw, &n, "/metrics", "http", NULL, LWSMPRO_CALLBACK);
  add_mount(gw, &n, "/artefacts", "http", NULL, LWSMPRO_CALLBACK);
  if (gw->vendor_dir) add_mount(gw, &n, "/agent/vendor", gw->vendor_dir, NULL, LWSMPRO_FILE);
  if (gw->agent_dir) add_mount(gw, &n, "/agent", gw->agent_dir, NULL, LWSMPRO_FILE);
  if (gw->page_dir) {
    add_mount(gw, &n, "/page", gw->page_dir, "index.html", LWSMPRO_FILE);
    add_mount(gw, &n, "/", gw->page_dir, "index.html", LWSMPRO_FILE);
  }

  gw->protocols[0] = (struct lws_protocols){"http", gw_http_callback, sizeof(gw_http_t), 0, 0, NULL, 0};
  /* rx_chunk is lws's per-connection receive buffer (most of an idle connection's memory when
   * large); longer messages arrive in pieces and are reassembled in gw_conn. tx_packet_size
   * lifts lws's default cap of one send() to the receive buffer size. */
  gw->protocols[1] = (struct lws_protocols){GW_SUBPROTOCOL, gw_ws_callback, sizeof(gw_conn_t),
                                            gw->rx_chunk, 0, NULL, 64 * 1024};
  memset(&gw->protocols[2], 0, sizeof(gw->protocols[2]));
}

static void register_metrics(kq_gateway_t *gw) {
  kq_metrics_t *m = kq_system_metrics(gw->sys);
  gw->m_conns = kq_metrics_gauge(m, "kq_gateway_connections", "Open agent WebSocket connections", NULL);
  gw->m_accepted = kq_metrics_counter(m, "kq_gateway_accepted_total", "Agent WebSockets accepted", NULL);
  gw->m_refused = kq_metrics_counter(m, "kq_gateway_refused_total",
                                     "Agent WebSockets refused (path, origin, closing)", NULL);
  gw->m_culled = kq_metrics_counter(m, "kq_gateway_culled_total",
                                    "Connections closed 4008 because their send queue passed its bound", NULL);
  gw->m_oversize = kq_metrics_counter(m, "kq_gateway_oversize_total",
                                      "Inbound messages refused with 4000 for exceeding max frame", NULL);
  gw->m_frames_in = kq_metrics_counter(m, "kq_gateway_frames_total", "WebSocket messages", "dir=\"in\"");
  gw->m_frames_out = kq_metrics_counter(m, "kq_gateway_frames_total", "WebSocket messages", "dir=\"out\"");
  gw->m_bytes_in = kq_metrics_counter(m, "kq_gateway_bytes_total", "WebSocket payload bytes", "dir=\"in\"");
  gw->m_bytes_out = kq_metrics_counter(m, "kq_gateway_bytes_total", "WebSocket payload bytes", "dir=\"out\"");
  gw->m_http = kq_metrics_counter(m, "kq_gateway_http_requests_total", "HTTP requests answered by the gateway",
                                  NULL);
}

static void lws_log_bridge(int level, const char *line) {
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
  kq_log(level == LLL_ERR ? KQ_LOG_ERROR : KQ_LOG_WARN, "lws", "lws", "line=\"%.*s\"", (int)n, line);
}

static void gw_free_fields(kq_gateway_t *gw) {
  free(gw->listen_addr);
  free(gw->page_dir);
  free(gw->agent_dir);
  free(gw->vendor_dir);
  free(gw->tls_cert);
  free(gw->tls_key);
  if (gw->origins) {
    for (char **o = gw->origins; *o; o++) free(*o);
    free(gw->origins);
  }
  free(gw->slots);
  free(gw->gens);
  free(gw->freelist);
  free(gw);
}

kq_gateway_t *kq_gateway_new(kq_system_t *sys, const kq_gateway_opts_t *opts, int *err) {
  int dummy;
  if (!err) err = &dummy;
  *err = KQ_OK;
  if (!sys || !opts || !opts->spawn_session || (!!opts->tls_cert != !!opts->tls_key)) {
    *err = KQ_EINVAL;
    return NULL;
  }
  kq_gateway_t *gw = KQ_NEW(kq_gateway_t);
  gw->sys = sys;
  gw->listen_addr = kq_strdup(opts->listen_addr ? opts->listen_addr : "0.0.0.0");
  gw->page_dir = dup_or_null(opts->page_dir);
  gw->agent_dir = dup_or_null(opts->agent_dir);
  gw->vendor_dir = dup_or_null(opts->vendor_dir);
  gw->tls_cert = dup_or_null(opts->tls_cert);
  gw->tls_key = dup_or_null(opts->tls_key);
  if (opts->allowed_origins) {
    size_t n = 0;
    while (opts->allowed_origins[n]) n++;
    gw->origins = kq_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) gw->origins[i] = kq_strdup(opts->allowed_origins[i]);
  }
  gw->max_frame = opts->max_frame ? opts->max_frame : 1u << 20;
  gw->rx_chunk = opts->rx_chunk ? opts->rx_chunk : 64;
  gw->send_queue_bytes = opts->send_queue_bytes ? opts->send_queue_bytes : 4u << 20;
  gw->send_queue_frames = opts->send_queue_frames ? opts->send_queue_frames : 4096;
  gw->close_grace_ms = opts->close_grace_ms ? opts->close_grace_ms : 2000;
  gw->spawn_session = opts->spawn_session;
  gw->session_ud = opts->session_ud;
  gw->resolve = opts->resolve;
  gw->resolve_ud = opts->resolve_ud;
  gw->ready = opts->ready;
  gw->ready_ud = opts->ready_ud;
  register_metrics(gw);
  setup_tables(gw);

  lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_bridge);

  void *foreign[1] = {kq_system_base(sys)};
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof(info));
  info.port = opts->port < 0 ? 8080 : opts->port;
  info.iface = gw->listen_addr;
  info.protocols = gw->protocols;
  info.mounts = &gw->mounts[0];
  info.headers = &gw->headers[0];
  info.options = LWS_SERVER_OPTION_LIBEVENT | LWS_SERVER_OPTION_DISABLE_IPV6;
  info.foreign_loops = foreign;
  info.user = gw;
  /* Header buffers for connections still in their HTTP upgrade: with fewer than the handshakes
   * in flight during a connection burst, lws walks its waiting list on every detach (11% of the
   * node CPU while 10k agents register with 64). */
  info.max_http_header_pool = 256;
  info.max_http_header_data = 2048; /* upgrade requests are well below; the default 4 KiB per pool entry fragments the heap under a connection burst */
  info.timeout_secs = 30;
  info.ka_time = 0;
  /* No lws validity (idle ping/hangup) timer: the browser actor owns liveness (heartbeat
   * deadline). lws keeps those timers on one sorted list per thread, so each new WebSocket
   * cost a walk over every other one (O(n) per accept, ~35% of the node CPU at 10k). */
  static const lws_retry_bo_t no_validity = {.secs_since_valid_ping = 0, .secs_since_valid_hangup = 0};
  info.retry_and_idle_policy = &no_validity;
  if (gw->tls_cert) {
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.ssl_cert_filepath = gw->tls_cert;
    info.ssl_private_key_filepath = gw->tls_key;
  }
  gw->ctx = lws_create_context(&info);
  if (!gw->ctx) {
    *err = gw->tls_cert ? KQ_ETLS : KQ_EIO;
    KQ_ERROR("gateway", "cannot create listener", "addr=%s port=%d err=%s", gw->listen_addr, info.port,
             kq_errname(*err));
    gw_free_fields(gw);
    return NULL;
  }
  gw->vh = lws_get_vhost_by_name(gw->ctx, "default");
  gw->port = gw->vh ? lws_get_vhost_listen_port(gw->vh) : info.port;
  kq_system_handle_ref(sys);

  int serr = KQ_OK;
  gw->aid = kq_spawn(sys, &gw_actor_type, gw, &serr);
  if (gw->aid == KQ_AID_NONE) {
    lws_context_destroy(gw->ctx);
    kq_system_handle_unref(sys);
    gw_free_fields(gw);
    *err = serr ? serr : KQ_ENOMEM;
    return NULL;
  }
  KQ_INFO("gateway", "listening", "addr=%s port=%d tls=%s", gw->listen_addr, gw->port,
          gw->tls_cert ? "on" : "off");
  return gw;
}

int kq_gateway_port(const kq_gateway_t *gw) { return gw->port; }
kq_aid_t kq_gateway_aid(const kq_gateway_t *gw) { return gw->aid; }
size_t kq_gateway_connections(const kq_gateway_t *gw) { return gw->nconns; }
bool kq_gateway_closed(const kq_gateway_t *gw) { return gw->state == GW_CLOSED; }

/* ---- closing ---- */

/* Runs from a libevent timer, never inside an lws callback: lws_context_destroy on a foreign
 * loop frees lws's own events synchronously (libevent backend), after which the loop is ours. */
static void destroy_cb(evutil_socket_t fd, short what, void *arg) {
  kq_gateway_t *gw = arg;
  if (gw->state != GW_CLOSING) return;
  gw->state = GW_DESTROYING;
  event_free(gw->ev_close);
  gw->ev_close = NULL;
  lws_context_destroy(gw->ctx);
  gw->ctx = NULL;
  gw->nconns = 0;
  kq_gauge_set(gw->m_conns, 0);
  if (gw->actor_slot) {
    *gw->actor_slot = NULL;
    gw->actor_slot = NULL;
    kq_actor_stop(gw->sys, gw->aid);
  }
  gw->aid = KQ_AID_NONE;
  gw->state = GW_CLOSED;
  KQ_INFO("gateway", "closed", NULL);
  kq_system_handle_unref(gw->sys);
  if (gw->done) gw->done(gw, gw->done_ud);
}

void gw_maybe_finish_close(kq_gateway_t *gw) {
  if (gw->state == GW_CLOSING && gw->nconns == 0 && gw->ev_close) event_active(gw->ev_close, EV_TIMEOUT, 0);
}

void kq_gateway_close(kq_gateway_t *gw, void (*done)(kq_gateway_t *gw, void *ud), void *ud) {
  if (!gw) return;
  if (done) {
    gw->done = done;
    gw->done_ud = ud;
  }
  if (gw->state != GW_OPEN) return;
  gw->state = GW_CLOSING;
  KQ_INFO("gateway", "closing", "connections=%zu", gw->nconns);
  gw->ev_close = evtimer_new(kq_system_base(gw->sys), destroy_cb, gw);
  for (uint32_t i = 0; i < gw->nslots; i++) {
    gw_conn_t *c = gw->slots[i];
    if (c) close_conn(c, KQ_CLOSE_SHUTDOWN, "node shutting down");
  }
  struct timeval tv = {gw->close_grace_ms / 1000, (gw->close_grace_ms % 1000) * 1000};
  evtimer_add(gw->ev_close, &tv);
  gw_maybe_finish_close(gw);
}

void kq_gateway_free(kq_gateway_t *gw) {
  if (!gw) return;
  if (gw->state != GW_CLOSED) {
    KQ_ERROR("gateway", "kq_gateway_free before close finished", NULL);
    abort();
  }
  gw_free_fields(gw);
}
