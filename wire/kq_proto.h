/* kuack.v1 agent protocol codec (spec: wire/PROTOCOL.md). One WebSocket binary frame = one
 * msgpack map; this header turns frames into tagged C structs and back. Decoding validates
 * everything against limits with a sticky-error cursor over the frame bytes (no allocation
 * except the strings the decoded message owns, bounded by the frame size); encoding uses
 * msgpack-c into a growable buffer with caller-chosen headroom (LWS_PRE) in front. Pure code:
 * no I/O, no lws, no actors. The actors/ side converts kq_proto_run_t <-> kq_run_spec_t
 * (same field names and enum values, see KQ_PROTO_KIND_* and KQ_PROTO_PHASE_*). */
#ifndef KQ_PROTO_H
#define KQ_PROTO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KQ_PROTO_SUBPROTOCOL "kuack.v1"
#define KQ_PROTO_MINOR 0 /* the `v` this codec writes (omitted on the wire when 0) */

/* WebSocket close codes (PROTOCOL.md §6). */
enum {
  KQ_PROTO_CLOSE_PROTOCOL = 4000,     /* malformed msgpack, oversized frame, hello not first */
  KQ_PROTO_CLOSE_SUPERSEDED = 4001,   /* a newer session with the same agent_id; do not reconnect */
  KQ_PROTO_CLOSE_UNAUTHORIZED = 4003, /* bad token */
  KQ_PROTO_CLOSE_CULLED = 4008,       /* overloaded / too slow a reader / heartbeat missed */
  KQ_PROTO_CLOSE_SHUTDOWN = 4009,     /* node shutting down; reconnect elsewhere/later */
};

/* Error codes carried in `error` frames and in kq_proto_error_t.code (PROTOCOL.md §7). */
#define KQ_PROTO_ERR_BAD_MESSAGE "bad_message"   /* malformed frame or field */
#define KQ_PROTO_ERR_TOO_BIG "too_big"           /* a limit was exceeded */
#define KQ_PROTO_ERR_UNKNOWN_TYPE "unknown_type" /* `t` not known to this peer */
#define KQ_PROTO_ERR_UNEXPECTED "unexpected"     /* known type, wrong direction or state */
#define KQ_PROTO_ERR_UNAUTHORIZED "unauthorized" /* sent just before close 4003 */
#define KQ_PROTO_ERR_BAD_RESOURCES "bad_resources" /* nonsense cpu/memory in hello/heartbeat */
#define KQ_PROTO_ERR_UNKNOWN_RUN "unknown_run"   /* status/log/cancel for a run_id not known */
#define KQ_PROTO_ERR_INTERNAL "internal"

typedef enum kq_proto_type {
  KQ_PROTO_NONE = 0,
  KQ_PROTO_HELLO,     /* A->N */
  KQ_PROTO_WELCOME,   /* N->A */
  KQ_PROTO_HEARTBEAT, /* A->N */
  KQ_PROTO_PING,      /* N->A */
  KQ_PROTO_PONG,      /* A->N */
  KQ_PROTO_RUN,       /* N->A */
  KQ_PROTO_STATUS,    /* A->N */
  KQ_PROTO_LOG,       /* A->N */
  KQ_PROTO_CANCEL,    /* N->A */
  KQ_PROTO_ERROR,     /* both */
  KQ_PROTO_BYE,       /* both */
  KQ_PROTO_TYPE_COUNT_
} kq_proto_type_t;

enum { KQ_PROTO_DIR_A2N = 1, KQ_PROTO_DIR_N2A = 2, KQ_PROTO_DIR_BOTH = 3 };

/* Same values as kq_workload_kind_t. */
typedef enum { KQ_PROTO_KIND_WASI = 1, KQ_PROTO_KIND_BINDGEN = 2 } kq_proto_kind_t;

/* Same values as the first seven kq_run_event_t. */
typedef enum {
  KQ_PROTO_PHASE_ACCEPTED = 1,
  KQ_PROTO_PHASE_FETCHING,
  KQ_PROTO_PHASE_COMPILING,
  KQ_PROTO_PHASE_RUNNING,
  KQ_PROTO_PHASE_EXITED,    /* terminal; exit_code required */
  KQ_PROTO_PHASE_FAILED,    /* terminal */
  KQ_PROTO_PHASE_CANCELLED, /* terminal */
} kq_proto_phase_t;

enum { KQ_PROTO_STREAM_STDOUT = 1, KQ_PROTO_STREAM_STDERR = 2 };

/* Decoder limits. Any field may be 0 to mean "the default" (kq_proto_limits_default). */
typedef struct kq_proto_limits {
  uint32_t max_frame;     /* whole frame, bytes (1 MiB) */
  uint32_t max_log_chunk; /* log `data`, bytes (64 KiB) */
  uint32_t max_str;       /* any string, bytes (16 KiB) */
  uint32_t max_args;      /* run.args entries (256) */
  uint32_t max_env;       /* run.env entries (256) */
  uint32_t max_labels;    /* hello.labels entries (16 = KQ_LABELS_MAX) */
  uint32_t max_runs;      /* session.runs / welcome.resumed entries (256) */
  uint32_t max_depth;     /* nesting of any value, unknown fields included (16) */
  uint32_t max_keys;      /* entries in any map, unknown fields included (64) */
} kq_proto_limits_t;

#define KQ_PROTO_DEFAULT_MAX_FRAME (1u << 20)
#define KQ_PROTO_DEFAULT_MAX_LOG_CHUNK (64u << 10)
#define KQ_PROTO_DEFAULT_MAX_STR (16u << 10)
#define KQ_PROTO_DEFAULT_MAX_ARGS 256u
#define KQ_PROTO_DEFAULT_MAX_ENV 256u
#define KQ_PROTO_DEFAULT_MAX_LABELS 16u
#define KQ_PROTO_DEFAULT_MAX_RUNS 256u
#define KQ_PROTO_DEFAULT_MAX_DEPTH 16u
#define KQ_PROTO_DEFAULT_MAX_KEYS 64u

/* Fills *lim with the defaults above. */
void kq_proto_limits_default(kq_proto_limits_t *lim);

/* Why a decode failed. Fixed-size, no allocation. */
typedef struct kq_proto_error {
  int rc;            /* KQ_EPROTO, KQ_ETOOBIG or KQ_ENOTSUP; KQ_OK when none */
  bool fatal;        /* the bytes are not one well-formed msgpack map within max_frame:
                        the gateway closes with 4000. Otherwise answer `error` and go on. */
  char code[16];     /* KQ_PROTO_ERR_*: "bad_message", "too_big", "unknown_type" */
  char type[40];     /* the frame's `t` as received (truncated, "" if none): the error's `ref` */
  char message[160]; /* human text naming the field, e.g. "run.args[3]: expected str" */
} kq_proto_error_t;

/* ---- message payloads. Every char* is an owned NUL-terminated UTF-8 string or NULL
 *      (optional and absent). kq_proto_msg_clear frees them. ---- */

typedef struct kq_proto_kv {
  char *key;
  char *value;
} kq_proto_kv_t;

/* Same layout as kq_env_var_t. */
typedef struct kq_proto_env {
  char *name;
  char *value;
} kq_proto_env_t;

typedef struct kq_proto_gpu {
  bool present;       /* a WebGPU adapter was obtained */
  bool fallback;      /* adapter.isFallbackAdapter (software) */
  char *vendor;       /* optional */
  char *architecture; /* optional */
} kq_proto_gpu_t;

typedef struct kq_proto_hello {
  char *token;          /* required (may be "") */
  char *agent_id;       /* required, non-empty */
  char *session_id;     /* resume: previous session id, or NULL */
  uint32_t nruns;       /* resume: run_ids still running in this browser */
  char **runs;
  int64_t cpu_millis;   /* required, >= 0 */
  int64_t memory_bytes; /* required, >= 0 */
  bool has_gpu;
  kq_proto_gpu_t gpu;
  uint32_t nlabels;
  kq_proto_kv_t *labels;
  uint32_t max_pods;    /* 0 = not stated */
  char *user_agent;     /* optional */
  char *agent_version;  /* optional */
} kq_proto_hello_t;

typedef struct kq_proto_welcome {
  char *browser_id;               /* required */
  char *session;                  /* required: the id to present in hello.session on resume */
  uint32_t heartbeat_ms;          /* required */
  uint32_t heartbeat_deadline_ms; /* required */
  uint32_t max_frame;             /* required */
  uint32_t max_log_chunk;         /* required */
  uint32_t nresumed;              /* run_ids the node kept (subset of hello.session.runs) */
  char **resumed;
} kq_proto_welcome_t;

typedef struct kq_proto_heartbeat {
  uint64_t seq;      /* required */
  double load;       /* required, 0..1 */
  bool throttled;    /* required */
  uint32_t running;  /* required */
  bool has_resources; /* `resources` present: cpu_millis + memory_bytes (+ gpu) updated */
  int64_t cpu_millis;
  int64_t memory_bytes;
  bool has_gpu;
  kq_proto_gpu_t gpu;
} kq_proto_heartbeat_t;

typedef struct kq_proto_ping {
  uint64_t nonce; /* required */
  uint64_t t_ns;  /* required: node clock when sent; pong echoes both */
} kq_proto_ping_t;

/* Field names match kq_run_spec_t. */
typedef struct kq_proto_run {
  char *run_id;       /* required */
  char *pod_uid;      /* pod.uid, required */
  char *namespace_;   /* pod.namespace, required */
  char *pod_name;     /* pod.name, required */
  char *container;    /* pod.container, required */
  kq_proto_kind_t kind; /* required */
  char *module_url;   /* required */
  char *glue_url;     /* required when kind == bindgen, else optional */
  char *entry;        /* optional */
  char *digest;       /* optional */
  uint32_t nargs;
  char **args;
  uint32_t nenv;
  kq_proto_env_t *env;
  int64_t cpu_millis;   /* limits.cpu_millis, 0 = none */
  int64_t memory_bytes; /* limits.memory_bytes, 0 = none */
  uint32_t timeout_ms;  /* 0 = none */
} kq_proto_run_t;

typedef struct kq_proto_status {
  char *run_id;            /* required */
  kq_proto_phase_t phase;  /* required */
  bool has_exit_code;      /* required (true) when phase == EXITED */
  int32_t exit_code;
  char *message;           /* optional */
  bool has_timings;
  uint64_t fetch_ms, compile_ms, run_ms; /* each optional inside timings; 0 if absent */
} kq_proto_status_t;

typedef struct kq_proto_log {
  char *run_id;   /* required */
  uint8_t stream; /* required: 1 stdout, 2 stderr */
  uint64_t seq;   /* required: per run (both streams), 0, 1, 2, ... */
  uint8_t *data;  /* required msgpack bin, owned copy (NULL when len == 0) */
  uint32_t len;
} kq_proto_log_t;

typedef struct kq_proto_cancel {
  char *run_id; /* required */
  char *reason; /* optional */
} kq_proto_cancel_t;

typedef struct kq_proto_errmsg {
  char *code;    /* required: KQ_PROTO_ERR_* */
  char *message; /* optional */
  char *ref;     /* optional: the `t` of the frame that caused it */
} kq_proto_errmsg_t;

typedef struct kq_proto_bye {
  char *reason; /* optional */
} kq_proto_bye_t;

typedef struct kq_proto_msg {
  kq_proto_type_t type;
  uint32_t minor; /* `v` as received (0 when absent); encode writes it when non-zero */
  union {
    kq_proto_hello_t hello;
    kq_proto_welcome_t welcome;
    kq_proto_heartbeat_t heartbeat;
    kq_proto_ping_t ping;
    kq_proto_ping_t pong;
    kq_proto_run_t run;
    kq_proto_status_t status;
    kq_proto_log_t log;
    kq_proto_cancel_t cancel;
    kq_proto_errmsg_t error;
    kq_proto_bye_t bye;
  };
} kq_proto_msg_t;

/* Decodes one frame. `lim` may be NULL (defaults). On KQ_OK *out owns its strings (free with
 * kq_proto_msg_clear). On failure *out is left cleared (nothing to free) and *err (may be NULL)
 * says why: KQ_EPROTO "bad_message" (bad msgpack, not a map, trailing bytes, wrong type, missing
 * required field, invalid UTF-8 or NUL in a string, bad enum value), KQ_ETOOBIG "too_big"
 * (frame, string, array, map, log chunk or nesting over a limit), KQ_ENOTSUP "unknown_type"
 * (err->type holds the type string; the frame was otherwise a well-formed map). */
int kq_proto_decode(const void *buf, size_t len, const kq_proto_limits_t *lim,
                    kq_proto_msg_t *out, kq_proto_error_t *err);

/* Frees every string/array *m owns and zeroes it (type becomes KQ_PROTO_NONE). Safe on a
 * zeroed or already-cleared message. */
void kq_proto_msg_clear(kq_proto_msg_t *m);

/* Growable output buffer: `headroom` bytes are kept free before the frame (LWS_PRE for
 * lws_write). Memory is reused across encodes. */
typedef struct kq_proto_buf {
  uint8_t *mem;    /* headroom + cap bytes, owned */
  size_t headroom;
  size_t cap;      /* capacity after the headroom */
  size_t len;      /* frame length */
} kq_proto_buf_t;

void kq_proto_buf_init(kq_proto_buf_t *b, size_t headroom);
void kq_proto_buf_free(kq_proto_buf_t *b);
/* Borrowed pointer to the frame (valid until the next encode/free); headroom bytes before it
 * are writable. */
static inline uint8_t *kq_proto_buf_data(kq_proto_buf_t *b) { return b->mem ? b->mem + b->headroom : NULL; }
/* Gives the whole block away (headroom + frame; free() it); *len = frame length. The buffer is
 * left empty and reusable. Returns NULL if nothing was encoded. */
uint8_t *kq_proto_buf_steal(kq_proto_buf_t *b, size_t *len);

/* Encodes *m (borrowed) as one frame, replacing the buffer's previous content. Returns KQ_OK,
 * or KQ_EINVAL when a required field is NULL or an enum is out of range (nothing useful in
 * *out then). Does not apply decode limits: the sender keeps its frames within the peer's. */
int kq_proto_encode(const kq_proto_msg_t *m, kq_proto_buf_t *out);

/* "hello", "welcome", ... (static); "?" for out-of-range values. */
const char *kq_proto_type_name(kq_proto_type_t t);
/* KQ_PROTO_NONE when unknown. `name` need not be NUL-terminated. */
kq_proto_type_t kq_proto_type_from_name(const char *name, size_t len);
/* KQ_PROTO_DIR_A2N / N2A / BOTH; 0 for out-of-range. */
int kq_proto_type_dir(kq_proto_type_t t);
const char *kq_proto_phase_name(kq_proto_phase_t p);
const char *kq_proto_kind_name(kq_proto_kind_t k);

#endif
