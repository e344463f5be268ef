/* Gateway internals shared by gateway.c (lifecycle, actor, connection table), gateway_ws.c
 * (the kuack.v1 protocol callback) and gateway_http.c (page, health, metrics, artefacts). */
#ifndef KQ_GATEWAY_INTERNAL_H
#define KQ_GATEWAY_INTERNAL_H
#include <libwebsockets.h>
#if !defined(LWS_WITH_LIBEVENT)
#error "kuack needs libwebsockets built with LWS_WITH_LIBEVENT (.deps/lws; see scripts/setup.sh)"
#endif
#include <stdio.h>
#include <sys/types.h>

#include "kq_gateway.h"
#include "kq_metrics.h"

_Static_assert(LWS_PRE <= KQ_GW_PRE, "KQ_GW_PRE must cover LWS_PRE");

#define GW_SUBPROTOCOL "kuack.v1"

/* A partial inbound message (only while one arrives in pieces). */
typedef struct gw_rx {
  uint32_t len, cap;        /* bytes in data, bytes allocated for data */
  bool binary;
  uint8_t data[];
} gw_rx_t;

/* Per-WebSocket state: lws's per-session data of the kuack.v1 protocol (lws allocates and frees
 * it with the wsi). One per connection, so kept within 72 bytes (the gateway is the context's
 * user data: gw_of(wsi)). */
typedef struct gw_conn {
  struct lws *wsi;
  uint64_t id;              /* generation << 32 | slot; 0 = not registered */
  kq_aid_t owner;           /* session actor */
  kq_gw_frame_t *qhead, *qtail;
  gw_rx_t *rx;              /* partial inbound message, NULL when none */
  char *close_reason;       /* owned, set with close_code */
  uint32_t qframes, qbytes;
  uint16_t close_code;      /* set: close once the queue is written (culls drop the queue) */
  uint16_t peer_code;
  bool pressured : 1;       /* PRESSURE high was sent */
  bool held : 1;            /* rx paused after the first message until the session answers */
  bool answered : 1;        /* the session has sent a frame: no more holding */
} gw_conn_t;
_Static_assert(sizeof(gw_conn_t) <= 72, "gw_conn_t is per connection: keep it small");

static inline kq_gateway_t *gw_of(struct lws *wsi) { return lws_context_user(lws_get_context(wsi)); }

/* Per-request state of the http protocol. */
typedef struct gw_http {
  char *body;               /* dynamic answer (owned) */
  size_t len, off;
  int fd;                   /* artefact file being streamed, -1 none (fd+1 stored as 0 = none) */
  bool has_fd;
  uint64_t remaining;
} gw_http_t;

typedef enum { GW_OPEN = 0, GW_CLOSING, GW_DESTROYING, GW_CLOSED } gw_state_t;

struct kq_gateway {
  kq_system_t *sys;
  struct lws_context *ctx;
  struct lws_vhost *vh;
  kq_aid_t aid;
  kq_gateway_t **actor_slot; /* the actor's state word pointing at us (cleared on detach) */
  gw_state_t state;
  int port;
  struct event *ev_close;    /* grace deadline and deferred destroy */
  void (*done)(kq_gateway_t *gw, void *ud);
  void *done_ud;

  /* options (strings owned) */
  char *listen_addr, *page_dir, *agent_dir, *vendor_dir, *tls_cert, *tls_key;
  char **origins;            /* NULL-terminated or NULL */
  uint32_t max_frame, rx_chunk, send_queue_bytes, send_queue_frames, close_grace_ms;
  kq_gateway_session_fn spawn_session;
  void *session_ud;
  kq_gateway_resolve_fn resolve;
  void *resolve_ud;
  bool (*ready)(void *ud);
  void *ready_ud;

  /* connection table */
  gw_conn_t **slots;
  uint32_t *gens;
  uint32_t nslots, cap;
  uint32_t *freelist;
  uint32_t nfree;
  size_t nconns;

  /* lws tables (must outlive the context) */
  struct lws_protocols protocols[3];
  struct lws_http_mount mounts[8];
  struct lws_protocol_vhost_options mimes[3];
  struct lws_protocol_vhost_options headers[3];

  /* metrics (borrowed from the system registry) */
  kq_gauge_t *m_conns;
  kq_counter_t *m_accepted, *m_refused, *m_culled, *m_oversize, *m_frames_in, *m_frames_out;
  kq_counter_t *m_bytes_in, *m_bytes_out, *m_http;
};

/* gateway.c */
gw_conn_t *gw_conn_lookup(kq_gateway_t *gw, uint64_t id);
int gw_conn_register(kq_gateway_t *gw, gw_conn_t *c);
void gw_conn_unregister(kq_gateway_t *gw, gw_conn_t *c);
void gw_conn_drop_queue(gw_conn_t *c);
void gw_maybe_finish_close(kq_gateway_t *gw);
/* The session sent something on `c`: lift the hold on inbound messages (see gateway_ws.c). */
void gw_conn_answered(gw_conn_t *c);

/* gateway_ws.c / gateway_http.c: lws protocol callbacks */
int gw_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
int gw_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

#endif
