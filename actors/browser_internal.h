/* Browser plane internals: the messages between browser actors and the directory actor, and the
 * metric handles they share (registered once by kq_browser_plane_start). */
#ifndef KQ_BROWSER_INTERNAL_H
#define KQ_BROWSER_INTERNAL_H
#include "kq_browser.h"
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

#endif
