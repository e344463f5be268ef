/* The browser actor's contract: one actor per WebSocket session (wire/ gateway spawns it). This
 * header is what other actors see of a browser: the capacity events it publishes to
 * subscribers (scheduler, node), the run requests it accepts from pod actors and the run
 * reports it sends back. Frame encoding stays inside wire/. */
#ifndef KQ_BROWSER_H
#define KQ_BROWSER_H
#include <stdbool.h>
#include <stdint.h>

#include "kq_actor.h"

/* GPU class reported by the agent (WebGPU adapter). */
typedef enum { KQ_GPU_NONE = 0, KQ_GPU_FALLBACK = 1, KQ_GPU_REAL = 2 } kq_gpu_class_t;

#define KQ_LABELS_MAX 16
typedef struct kq_label {
  char *key;
  char *value;
} kq_label_t;

/* A browser as the rest of the node sees it: a value snapshot, strings owned by whoever holds
 * the snapshot (copy with kq_browser_info_copy, free with kq_browser_info_clear). */
typedef struct kq_browser_info {
  kq_aid_t aid;              /* the browser actor */
  char *agent_id;            /* stable across reconnects (from hello) */
  char *browser_id;          /* node-assigned id shown to people ("b-3f2a...") */
  int64_t cpu_millis;        /* reported, clamped */
  int64_t memory_bytes;      /* reported, clamped */
  uint32_t max_pods;
  kq_gpu_class_t gpu;
  char *gpu_vendor;
  char *gpu_arch;
  int64_t rtt_us;            /* EWMA of node pings; -1 unknown */
  bool throttled;            /* background tab / timer drift */
  bool overloaded;           /* browser actor mailbox past high water or send queue choked */
  uint32_t nlabels;
  kq_label_t labels[KQ_LABELS_MAX];
} kq_browser_info_t;

void kq_browser_info_copy(kq_browser_info_t *dst, const kq_browser_info_t *src);
void kq_browser_info_clear(kq_browser_info_t *info);

/* ---- published by browser actors to every subscriber ---- */

typedef enum {
  KQ_BROWSER_UP = 1,      /* registered (hello accepted) or resumed */
  KQ_BROWSER_CHANGED = 2, /* resources, rtt, throttled or overloaded changed */
  KQ_BROWSER_DOWN = 3,    /* gone for good (resume window over, superseded, culled, closed) */
} kq_browser_event_kind_t;

typedef struct kq_browser_event_msg {
  kq_msg_t hdr;           /* id chosen by the subscriber at subscribe time */
  kq_browser_event_kind_t kind;
  kq_browser_info_t info; /* owned by the message (dtor clears it) */
  char *reason;           /* DOWN: why ("closed", "heartbeat timeout", "superseded", ...) */
} kq_browser_event_msg_t;

/* ---- run requests: pod actor -> browser actor ---- */

typedef enum { KQ_WORKLOAD_WASI = 1, KQ_WORKLOAD_BINDGEN = 2 } kq_workload_kind_t;

typedef struct kq_env_var {
  char *name;
  char *value;
} kq_env_var_t;

/* What a browser needs to run one container once. Owned strings; free with kq_run_spec_clear. */
typedef struct kq_run_spec {
  char *run_id;             /* unique per attempt: "<pod uid>-<restart count>" */
  char *pod_uid;
  char *namespace_;
  char *pod_name;
  char *container;
  kq_workload_kind_t kind;
  char *module_url;         /* registry-proxy URL of the .wasm (path + query, node-relative) */
  char *glue_url;           /* bindgen: URL of the JS glue; NULL for wasi */
  char *entry;              /* bindgen: exported function to call ("main"/"start"); may be NULL */
  char *digest;             /* artefact digest, for the agent's integrity check */
  uint32_t nargs;
  char **args;              /* argv[0] first */
  uint32_t nenv;
  kq_env_var_t *env;
  int64_t cpu_millis;       /* limits (or requests when no limit) */
  int64_t memory_bytes;
  uint32_t timeout_ms;      /* activeDeadline left, 0 = none */
} kq_run_spec_t;

void kq_run_spec_clear(kq_run_spec_t *s);
void kq_run_spec_copy(kq_run_spec_t *dst, const kq_run_spec_t *src);

/* Browser actor message ids (the X-macro list lives in the browser actor; these are the ones
 * other actors send). Numbers are fixed here so senders need not include the actor's internals. */
enum {
  KQ_BROWSER_MSG_SUBSCRIBE = KQ_MSG_USER + 100, /* kq_browser_subscribe_msg_t */
  KQ_BROWSER_MSG_UNSUBSCRIBE,                  /* header only; from = subscriber */
  KQ_BROWSER_MSG_RUN,                          /* kq_browser_run_msg_t */
  KQ_BROWSER_MSG_CANCEL,                       /* kq_browser_cancel_msg_t */
};

typedef struct kq_browser_subscribe_msg {
  kq_msg_t hdr;             /* from = subscriber */
  uint32_t event_id;        /* id to use for kq_browser_event_msg_t sent to the subscriber */
} kq_browser_subscribe_msg_t;

typedef struct kq_browser_run_msg {
  kq_msg_t hdr;             /* from = pod actor; reports go back to it */
  uint32_t report_id;       /* id to use for kq_run_report_msg_t */
  kq_run_spec_t spec;       /* owned by the message */
} kq_browser_run_msg_t;

typedef struct kq_browser_cancel_msg {
  kq_msg_t hdr;
  char *run_id;             /* owned */
  char *reason;             /* owned, may be NULL */
} kq_browser_cancel_msg_t;

/* ---- run reports: browser actor -> pod actor ---- */

typedef enum {
  KQ_RUN_ACCEPTED = 1,  /* the agent took the run */
  KQ_RUN_FETCHING,
  KQ_RUN_COMPILING,
  KQ_RUN_RUNNING,
  KQ_RUN_EXITED,        /* terminal: exit_code valid */
  KQ_RUN_FAILED,        /* terminal: could not run (fetch/compile/trap); message says why */
  KQ_RUN_CANCELLED,     /* terminal: after cancel */
  KQ_RUN_LOST,          /* terminal: browser gone (NodeLost) — sent by the browser actor */
  KQ_RUN_LOG,           /* log chunk: stream + seq + data */
} kq_run_event_t;

typedef struct kq_run_report_msg {
  kq_msg_t hdr;             /* id = report_id from the run request; from = browser actor */
  kq_run_event_t event;
  char *run_id;             /* owned */
  int32_t exit_code;        /* EXITED */
  char *message;            /* owned, may be NULL: failure/lost reason */
  uint64_t fetch_ms, compile_ms, run_ms;  /* timings so far */
  uint8_t stream;           /* LOG: 1 stdout, 2 stderr */
  uint64_t seq;             /* LOG: per-run sequence */
  uint64_t wall_ns;         /* LOG: when the node received it */
  char *data;               /* LOG: owned bytes */
  uint32_t len;
  char *browser_id;         /* owned: which browser (for messages like NodeLost) */
} kq_run_report_msg_t;

const char *kq_run_event_name(kq_run_event_t e);

/* Message destructors (set as hdr.dtor by whoever builds these messages). */
void kq_browser_event_msg_dtor(kq_msg_t *m);
void kq_browser_run_msg_dtor(kq_msg_t *m);
void kq_browser_cancel_msg_dtor(kq_msg_t *m);
void kq_run_report_msg_dtor(kq_msg_t *m);

/* ---- the browser plane: a directory actor plus one browser actor per WebSocket ---- */

/* Configuration shared by every browser actor (borrowed: must outlive the plane). Zero fields
 * take the defaults noted. */
typedef struct kq_browser_config {
  const char *token;               /* agent token; NULL or "" = any token accepted */
  int64_t max_cpu_millis;          /* reported CPU is clamped to this; 0 = 256000 */
  int64_t max_memory_bytes;        /* 0 = 256 GiB */
  uint32_t max_pods;               /* clamp for hello.max_pods (0/absent → this); 0 = 64 */
  uint32_t hello_timeout_ms;       /* no hello by then → close 4000; 0 = 10000 */
  uint32_t heartbeat_ms;           /* told to the agent; 0 = 5000 */
  uint32_t heartbeat_deadline_ms;  /* no heartbeat for this long → close 4008; 0 = 3 × heartbeat */
  uint32_t ping_ms;                /* node ping period (RTT); 0 = 10000 */
  uint32_t tick_ms;                /* deadline check granularity; 0 = 2000 */
  uint32_t resume_window_ms;       /* keep runs this long after a disconnect; 0 = 30000 */
  uint32_t max_frame;              /* advertised + decode limit; 0 = 1 MiB */
  uint32_t max_log_chunk;          /* 0 = 64 KiB */
  uint32_t nsubscribers;           /* default subscribers (scheduler, node): get every event */
  kq_aid_t subscribers[4];
  uint32_t subscriber_event_ids[4];
} kq_browser_config_t;

/* Caller-owned handle of a running browser plane. */
typedef struct kq_browser_plane {
  const kq_browser_config_t *cfg;  /* borrowed */
  kq_system_t *sys;
  kq_aid_t directory;              /* agent_id → live session, browser ids, resume window */
  void *metrics_;                  /* internal: metric handles (freed by kq_browser_plane_free) */
} kq_browser_plane_t;

/* Spawns the directory actor and registers the browser metrics. Returns KQ_OK or an error. */
int kq_browser_plane_start(kq_browser_plane_t *p, kq_system_t *sys, const kq_browser_config_t *cfg);
/* Frees what kq_browser_plane_start allocated (after the system has shut down). */
void kq_browser_plane_free(kq_browser_plane_t *p);

/* Spawns a browser actor for one connection: it talks to its connection through messages to
 * `conn` (the gateway actor, kq_gateway.h KQ_GW_MSG_*) naming `conn_id`, and receives
 * KQ_CONN_MSG_*. `plane` is a kq_browser_plane_t* (the signature fits
 * kq_gateway_opts_t.spawn_session). Returns the actor, or KQ_AID_NONE. */
kq_aid_t kq_browser_spawn(void *plane, kq_system_t *sys, kq_aid_t conn, uint64_t conn_id);

#endif
