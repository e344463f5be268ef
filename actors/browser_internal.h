/* Browser plane internals: the messages between browser actors and the directory actor, the
 * metric handles they share (registered once by kq_browser_plane_start), and the browser actor's
 * state and the functions its files share. */
#ifndef KQ_BROWSER_INTERNAL_H
#define KQ_BROWSER_INTERNAL_H
#include "kq_browser.h"
#include "kq_clock.h"
#include "kq_gateway.h"
#include "kq_metrics.h"
#include "kq_proto.h"

typedef struct browser_metrics {
  kq_gauge_t *connected;      /* sessions registered and attached */
  kq_gauge_t *detached;       /* sessions in their resume window */
  kq_counter_t *frames_in[KQ_PROTO_TYPE_COUNT_];
  kq_counter_t *frames_out[KQ_PROTO_TYPE_COUNT_];
  kq_counter_t *auth_failures;
  kq_counter_t *protocol_errors;
  kq_counter_t *heartbeat_timeouts;
  kq_counter_t *superseded;
  kq_counter_t *resumed;
  kq_counter_t *lost_runs;
  kq_counter_t *foreign_reports; /* status/log for runs the browser does not own */
  kq_histogram_t *rtt;        /* seconds */
} browser_metrics_t;

/* Directory <-> browser messages (ids after the public and gateway ranges). A hello without a
 * session id registers at once (the browser names itself and tells the directory: REGISTER);
 * one that presents a session id asks first (CLAIM), since it may resume an older actor. */
enum {
  BDIR_CLAIM = KQ_MSG_USER + 300, /* browser -> dir: hello with a session id, resume or register? */
  BDIR_ACCEPT,                    /* dir -> browser: register as browser_id/session_id */
  BDIR_HANDOVER,                  /* dir -> new browser: actor `conn` resumes; send it ATTACH + frames */
  BDIR_ATTACH,                    /* new browser -> old browser: adopt conn/conn_id (resume) */
  BDIR_SUPERSEDE,                 /* dir -> old browser: a newer session took over, close 4001 */
  BDIR_DETACHED,                  /* browser -> dir: connection lost, runs kept for the window */
  BDIR_GONE,                      /* browser -> dir: forget me */
  BDIR_REGISTER,                  /* browser -> dir: registered as agent_id/session_id (no reply) */
  BDIR_TICK,                      /* dir -> browser: a deadline in the sweep table is due */
};

typedef struct bdir_msg {
  kq_msg_t hdr;
  char *agent_id;      /* owned */
  char *session_id;    /* owned */
  char *browser_id;    /* owned */
  kq_aid_t conn;
  uint64_t conn_id;
  kq_proto_msg_t hello; /* owned (CLAIM, HANDOVER, ATTACH) */
} bdir_msg_t;

bdir_msg_t *bdir_msg_new(uint32_t id);

/* Deadlines of every browser in one table, swept by the directory's single periodic timer
 * (instead of a timer per browser): a browser stores when it next needs a turn (hello timeout,
 * heartbeat deadline, next ping, end of its resume window) and gets BDIR_TICK once that passed.
 * All on the loop thread; each entry is written only by its browser. */
typedef struct sweep_entry {
  kq_aid_t aid;        /* NONE = free (next free slot in `due_ns`) */
  uint64_t due_ns;     /* UINT64_MAX = nothing due (a tick is on its way) */
} sweep_entry_t;

typedef struct plane_priv {
  browser_metrics_t m;
  kq_browser_config_t cfg;   /* resolved defaults */
  kq_aid_t dir;              /* the directory actor */
  sweep_entry_t *sweep;
  uint32_t nsweep, capsweep, free_sweep; /* free_sweep: index+1 of a free entry, 0 = none */
  uint64_t rng;              /* xorshift state for session and browser ids */
  uint64_t seq;              /* browser id counter */
} plane_priv_t;

uint32_t bsweep_add(plane_priv_t *pp, kq_aid_t aid, uint64_t due_ns);
void bsweep_del(plane_priv_t *pp, uint32_t slot);
/* New ids, NUL-terminated into the caller's buffer: "s-" + 32 hex digits, "b-" + 8 hex digits. */
#define BID_SESSION_LEN 34
#define BID_BROWSER_LEN 10
void bids_session(plane_priv_t *pp, char out[BID_SESSION_LEN + 1]);
void bids_browser(plane_priv_t *pp, char out[BID_BROWSER_LEN + 1]);

extern const kq_actor_type_t kq_browser_dir_type; /* init arg: plane_priv_t* */

/* Constant-time string equality (time depends only on strlen(want)). */
bool kq_browser_token_eq(const char *want, const char *got);

/* ---- the browser actor (browser.c, browser_frames.c, browser_session.c, browser_runs.c) ---- */

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

#define BCFG(b) (&(b)->pp->cfg)
#define BMET(b) (&(b)->pp->m)

static inline uint64_t browser_now_ns(kq_actor_t *self) {
  return kq_now_ns(kq_system_clock(kq_actor_system(self)));
}

/* browser.c: state changes and deadlines */
void browser_arm(browser_t *b);
void browser_go(browser_t *b, bstate_t to);
/* Gone for good: runs are lost, subscribers hear DOWN, the directory forgets us; stops the actor. */
void browser_finish(kq_actor_t *self, browser_t *b, const char *reason);
/* Mailbox past its high-water mark or send queue backed up: tell subscribers not to place here. */
void browser_check_overload(kq_actor_t *self, browser_t *b);

/* browser_frames.c: the wire (frames are borrowed; nothing is sent without a connection) */
void browser_send_frame(kq_actor_t *self, browser_t *b, const kq_proto_msg_t *pm);
void browser_send_error(kq_actor_t *self, browser_t *b, const char *code, const char *message,
                        const char *ref);
/* Asks the gateway to close with `code` (once per connection), after a bye frame if `bye`. */
void browser_close_conn(kq_actor_t *self, browser_t *b, uint16_t code, const char *reason, bool bye);
void browser_on_frame(kq_actor_t *self, browser_t *b, kq_conn_frame_msg_t *f);

/* browser_session.c: hello, registration, resume */
bool browser_resources_ok(int64_t cpu, int64_t mem);
void browser_clamp_resources(browser_t *b, int64_t cpu, int64_t mem);
void browser_take_gpu(browser_t *b, const kq_proto_gpu_t *g, bool has);
/* May move the hello out of `pm` (a claim hands it to the directory). */
void browser_on_hello(kq_actor_t *self, browser_t *b, kq_proto_msg_t *pm);
void browser_on_accept(kq_actor_t *self, browser_t *b, bdir_msg_t *m);
void browser_on_handover(kq_actor_t *self, browser_t *b, bdir_msg_t *m);
void browser_on_attach(kq_actor_t *self, browser_t *b, bdir_msg_t *m);

/* browser_runs.c: runs, reports, subscribers and capacity events */
void browser_publish(kq_actor_t *self, browser_t *b, kq_browser_event_kind_t kind, const char *reason);
/* Reports run `i` LOST with `why` to its pod and forgets it. */
void browser_lose_run(kq_actor_t *self, browser_t *b, uint32_t i, const char *why);
void browser_info_clear(binfo_t *i);
void browser_on_status(kq_actor_t *self, browser_t *b, kq_proto_status_t *s);
void browser_on_log(kq_actor_t *self, browser_t *b, kq_proto_log_t *l);
void browser_on_run(kq_actor_t *self, browser_t *b, kq_browser_run_msg_t *m);
void browser_on_cancel(kq_actor_t *self, browser_t *b, kq_browser_cancel_msg_t *m);
void browser_on_subscribe(kq_actor_t *self, browser_t *b, kq_browser_subscribe_msg_t *m);
void browser_on_unsubscribe(browser_t *b, kq_aid_t who);

#endif
