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

/* Directory <-> browser messages (ids after the public and gateway ranges). */
enum {
  BDIR_CLAIM = KQ_MSG_USER + 300, /* browser -> dir: hello accepted locally (token ok), who am I? */
  BDIR_ACCEPT,                    /* dir -> browser: register as browser_id/session_id */
  BDIR_HANDOVER,                  /* dir -> new browser: an older session adopts your connection */
  BDIR_ATTACH,                    /* dir -> old browser: adopt conn/conn_id (resume) */
  BDIR_SUPERSEDE,                 /* dir -> old browser: a newer session took over, close 4001 */
  BDIR_DETACHED,                  /* browser -> dir: connection lost, runs kept for the window */
  BDIR_GONE,                      /* browser -> dir: forget me */
};

typedef struct bdir_msg {
  kq_msg_t hdr;
  char *agent_id;      /* owned */
  char *session_id;    /* owned */
  char *browser_id;    /* owned */
  kq_aid_t conn;
  uint64_t conn_id;
  kq_proto_msg_t hello; /* owned (CLAIM, ATTACH) */
} bdir_msg_t;

bdir_msg_t *bdir_msg_new(uint32_t id);

extern const kq_actor_type_t kq_browser_dir_type;

/* Constant-time string equality (time depends only on strlen(want)). */
bool kq_browser_token_eq(const char *want, const char *got);

#endif
