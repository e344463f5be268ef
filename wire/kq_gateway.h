/* The WebSocket/HTTP gateway: libwebsockets on the system's libevent loop, one listener serving
 * the agent page and module, /healthz, /readyz, /metrics, /artefacts/... (through a resolver
 * callback) and the agent endpoint /ws (subprotocol kuack.v1). Each WebSocket gets a session
 * actor (spawned through a callback, normally the browser actor); lws callbacks only turn
 * events into messages. Sessions talk to their connection through messages to the gateway's
 * actor (KQ_GW_MSG_*), so a test can put a probe where the gateway would be. */
#ifndef KQ_GATEWAY_H
#define KQ_GATEWAY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kq_actor.h"

typedef struct kq_gateway kq_gateway_t;

/* WebSocket close codes (DESIGN.md §4, PROTOCOL.md). */
enum {
  KQ_CLOSE_NORMAL = 1000,
  KQ_CLOSE_PROTOCOL = 4000,   /* malformed or oversized frame, protocol violation */
  KQ_CLOSE_SUPERSEDED = 4001, /* a newer session with the same agent id took over */
  KQ_CLOSE_UNAUTHORIZED = 4003,
  KQ_CLOSE_CULLED = 4008,     /* overloaded / too slow (send queue past its bound, heartbeat) */
  KQ_CLOSE_SHUTDOWN = 4009,   /* node shutting down */
};

/* ---- outbound frames ---- */

/* Headroom the gateway needs before each frame's bytes (libwebsockets' LWS_PRE). */
#define KQ_GW_PRE 16
typedef struct kq_gw_frame {
  struct kq_gw_frame *next; /* owned by whoever holds the frame (send queue link) */
  uint32_t len;
  uint32_t reserved_;
  uint8_t pre[KQ_GW_PRE];   /* room for the WebSocket header */
  uint8_t data[];
} kq_gw_frame_t;

/* Returns an owned frame with room for `len` bytes in ->data (free with free()). */
kq_gw_frame_t *kq_gw_frame_new(size_t len);

/* ---- messages: session actor -> gateway actor (kq_gateway_aid) ---- */
enum {
  KQ_GW_MSG_SEND = KQ_MSG_USER + 200, /* kq_gw_send_msg_t: queue one binary frame */
  KQ_GW_MSG_CLOSE,                    /* kq_gw_close_msg_t: close with code + reason */
  KQ_GW_MSG_REBIND,                   /* kq_gw_rebind_msg_t: route the connection to another actor */
};

typedef struct kq_gw_send_msg {
  kq_msg_t hdr;
  uint64_t conn_id;
  kq_gw_frame_t *frame; /* owned by the message (dtor frees it) */
} kq_gw_send_msg_t;

typedef struct kq_gw_close_msg {
  kq_msg_t hdr;
  uint64_t conn_id;
  uint16_t code;
  char reason[64];      /* NUL-terminated, sent in the close frame */
} kq_gw_close_msg_t;

typedef struct kq_gw_rebind_msg {
  kq_msg_t hdr;
  uint64_t conn_id;
  kq_aid_t owner;       /* frames and CLOSED go to this actor from now on */
} kq_gw_rebind_msg_t;

/* Builders (return owned messages for kq_tell/kq_send). `frame` is taken. */
kq_msg_t *kq_gw_send_new(uint64_t conn_id, kq_gw_frame_t *frame);
kq_msg_t *kq_gw_close_new(uint64_t conn_id, uint16_t code, const char *reason);
kq_msg_t *kq_gw_rebind_new(uint64_t conn_id, kq_aid_t owner);

/* ---- messages: gateway -> session actor ---- */
enum {
  KQ_CONN_MSG_FRAME = KQ_MSG_USER + 210, /* kq_conn_frame_msg_t: one whole WebSocket message */
  KQ_CONN_MSG_CLOSED,                    /* kq_conn_closed_msg_t: the connection is gone */
  KQ_CONN_MSG_PRESSURE,                  /* kq_conn_pressure_msg_t: send queue high/low */
};

typedef struct kq_conn_frame_msg {
  kq_msg_t hdr;
  uint64_t conn_id;
  bool binary;
  uint32_t len;
  uint8_t data[];       /* `len` bytes, part of the message allocation */
} kq_conn_frame_msg_t;

typedef struct kq_conn_closed_msg {
  kq_msg_t hdr;
  uint64_t conn_id;
  uint16_t code;        /* close code we sent, or the peer's, 1006 when the socket just died */
  bool by_peer;         /* the browser went away (not closed by us) */
} kq_conn_closed_msg_t;

typedef struct kq_conn_pressure_msg {
  kq_msg_t hdr;
  uint64_t conn_id;
  bool high;            /* send queue past half its bound (true) or drained again (false) */
} kq_conn_pressure_msg_t;

kq_conn_frame_msg_t *kq_conn_frame_new(uint64_t conn_id, bool binary, const void *data, size_t len);

/* ---- the gateway ---- */

/* Spawns the session actor for a new WebSocket. `gw` is the actor to send KQ_GW_MSG_* to, with
 * `conn_id`. Returns the session's aid, or KQ_AID_NONE to refuse the connection. */
typedef kq_aid_t (*kq_gateway_session_fn)(void *ud, kq_system_t *sys, kq_aid_t gw, uint64_t conn_id);

/* Registry proxy: maps GET /artefacts/<digest>/<file>?<query> to a local file. Writes the path
 * into `path` (cap bytes) and returns KQ_OK, or KQ_EAUTH (403), KQ_ENOENT (404), KQ_EINVAL (400). */
typedef int (*kq_gateway_resolve_fn)(void *ud, const char *digest, const char *file,
                                     const char *query, char *path, size_t cap);

typedef struct kq_gateway_opts {
  const char *listen_addr;     /* NULL = "0.0.0.0" */
  int port;                    /* 0 = ephemeral (tests; see kq_gateway_port), -1 = 8080 default */
  const char *page_dir;        /* agent/page: "/" and "/page/..."; NULL = not served */
  const char *agent_dir;       /* agent/src: "/agent/..." */
  const char *vendor_dir;      /* agent/node_modules: "/agent/vendor/..." */
  const char *const *allowed_origins; /* NULL-terminated; NULL = any Origin */
  const char *tls_cert;        /* both set = wss:// and https:// */
  const char *tls_key;
  uint32_t max_frame;          /* bytes per inbound message; 0 = 1 MiB */
  uint32_t rx_chunk;           /* lws receive buffer per connection; 0 = 64 */
  uint32_t send_queue_bytes;   /* outbound bound per connection; 0 = 4 MiB */
  uint32_t send_queue_frames;  /* outbound bound in frames; 0 = 4096 */
  uint32_t close_grace_ms;     /* shutdown: wait this long for close handshakes; 0 = 2000 */
  kq_gateway_session_fn spawn_session;
  void *session_ud;
  kq_gateway_resolve_fn resolve;  /* NULL = /artefacts answers 404 */
  void *resolve_ud;
  bool (*ready)(void *ud);     /* /readyz: NULL = ready once listening */
  void *ready_ud;
} kq_gateway_opts_t;

/* Creates the gateway on `sys`'s loop and starts listening. `opts` strings are copied. Counts
 * as a system handle until closed. Returns owned (kq_gateway_free after it has closed), or NULL
 * with *err (KQ_EIO: cannot listen, KQ_ETLS: bad cert/key, KQ_EINVAL). */
kq_gateway_t *kq_gateway_new(kq_system_t *sys, const kq_gateway_opts_t *opts, int *err);

/* The bound port (useful with port 0). */
int kq_gateway_port(const kq_gateway_t *gw);
/* The gateway's actor (target of KQ_GW_MSG_*). */
kq_aid_t kq_gateway_aid(const kq_gateway_t *gw);
/* Live WebSocket connections. */
size_t kq_gateway_connections(const kq_gateway_t *gw);

/* Starts closing: refuses new connections, closes every WebSocket with 4009, waits for the close
 * handshakes (at most close_grace_ms), destroys the lws context off-callback and releases the
 * system handle; then calls `done` (may be NULL). Idempotent. kq_system_shutdown also triggers
 * it (the gateway actor's stop). */
void kq_gateway_close(kq_gateway_t *gw, void (*done)(kq_gateway_t *gw, void *ud), void *ud);
bool kq_gateway_closed(const kq_gateway_t *gw);

/* Frees a closed gateway (NULL ok). Calling it before closing has finished is a bug (aborts). */
void kq_gateway_free(kq_gateway_t *gw);

#endif
