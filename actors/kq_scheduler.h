/* The scheduler actor's contract: one per node. It keeps the browser view (structure of arrays,
 * policies/kq_policy.h) current from browser events, places Pods with the node's policy,
 * reserves their resources until release, queues what does not fit (priority, then age) and
 * places it as soon as capacity appears. Every placement is explained in words.
 *
 * Ownership: every message below is sent with kq_send/kq_tell, which take it; strings marked
 * "owned" belong to the message and are freed by its dtor (use the kq_sched_*_msg_new helpers,
 * which set the dtor). A receiver that wants to keep a string moves it out and NULLs the field. */
#ifndef KQ_SCHEDULER_H
#define KQ_SCHEDULER_H
#include <stdbool.h>
#include <stdint.h>

#include "kq_actor.h"
#include "kq_browser.h"
#include "kq_policy.h"

/* Message ids, fixed so senders need not include the actor's internals. */
enum {
  /* ---- to the scheduler ---- */
  KQ_SCHED_MSG_BROWSER_EVENT = KQ_MSG_USER + 200, /* kq_browser_event_msg_t (UP/CHANGED/DOWN).
                                                   * Use this id as the subscribe event_id, or
                                                   * configure browsers to publish it directly. */
  KQ_SCHED_MSG_WATCH,      /* kq_sched_watch_msg_t: subscribe to browser `browser` */
  KQ_SCHED_MSG_PLACE,      /* kq_sched_place_msg_t → PLACED, or WAITING (then PLACED later) */
  KQ_SCHED_MSG_RELEASE,    /* kq_sched_pod_msg_t: Pod done/lost; returns its reservation. No reply */
  KQ_SCHED_MSG_CANCEL,     /* kq_sched_pod_msg_t: Pod deleted; drops it from the queue (and
                            * releases it if placed). No reply */
  KQ_SCHED_MSG_SET_POLICY, /* kq_sched_set_policy_msg_t → POLICY_RESULT to hdr.from (if any) */
  KQ_SCHED_MSG_STATS,      /* header only → STATS_REPLY to hdr.from */
  /* ---- from the scheduler ---- */
  KQ_SCHED_MSG_PLACED,       /* kq_sched_placed_msg_t (default id) */
  KQ_SCHED_MSG_WAITING,      /* kq_sched_waiting_msg_t (default id) */
  KQ_SCHED_MSG_POLICY_RESULT, /* kq_sched_policy_msg_t */
  KQ_SCHED_MSG_STATS_REPLY,  /* kq_sched_stats_msg_t */
  KQ_SCHED_MSG_RETRY_,       /* internal: the scheduler's own "capacity changed" nudge */
};

/* Spawn argument (borrowed during kq_spawn). */
typedef struct kq_sched_config {
  const char *policy;                /* NULL = KQ_POLICY_DEFAULT */
  const kq_policy_params_t *params;  /* NULL = the policy's defaults */
} kq_sched_config_t;

extern const kq_actor_type_t kq_scheduler_type;

/* Spawns the scheduler. Unknown policy or bad params: KQ_AID_NONE with KQ_ENOENT/KQ_EINVAL in
 * *err (the message is logged). */
kq_aid_t kq_scheduler_spawn(kq_system_t *sys, const kq_sched_config_t *cfg, int *err);

typedef struct kq_sched_watch_msg {
  kq_msg_t hdr;
  kq_aid_t browser; /* the scheduler sends it KQ_BROWSER_MSG_SUBSCRIBE (event_id BROWSER_EVENT) */
} kq_sched_watch_msg_t;

/* A placement request from a pod actor. A second PLACE for a uid already known replaces the
 * earlier request (a placed Pod's reservation is released first: that is how re-runs ask for
 * a new browser, with `exclude` set to the browser that failed). */
typedef struct kq_sched_place_msg {
  kq_msg_t hdr;            /* from = pod actor */
  kq_aid_t reply_to;       /* NONE = hdr.from */
  uint32_t placed_id;      /* reply ids; 0 = KQ_SCHED_MSG_PLACED / KQ_SCHED_MSG_WAITING */
  uint32_t waiting_id;
  char *pod_uid;           /* owned, required */
  char *namespace_;        /* owned, may be NULL (for messages) */
  char *pod_name;          /* owned, may be NULL */
  int64_t cpu_millis;      /* resources.requests */
  int64_t memory_bytes;
  uint32_t gpu;            /* kuack.io/gpu */
  int32_t priority;        /* higher first */
  uint32_t max_rtt_ms;     /* kuack.io/max-rtt-ms, 0 = none */
  char *selector;          /* owned, may be NULL: kuack.io/browser-selector */
  kq_aid_t exclude;        /* browser to avoid, NONE = none */
} kq_sched_place_msg_t;

typedef struct kq_sched_pod_msg {
  kq_msg_t hdr;
  char *pod_uid; /* owned */
} kq_sched_pod_msg_t;

typedef struct kq_sched_placed_msg {
  kq_msg_t hdr;
  char *pod_uid;         /* owned */
  kq_aid_t browser;      /* the browser actor: send it KQ_BROWSER_MSG_RUN */
  char *browser_id;      /* owned: "b-12" */
  const char *policy;    /* static: policy name */
  char *explanation;     /* owned: "placed on b-12 by binpack: free cpu 1500m→500m, mem
                          * 2Gi→1Gi, best fit (dominant=cpu)" (for the Scheduled Event) */
  int64_t cpu_millis;    /* reserved until RELEASE/CANCEL or the browser goes DOWN */
  int64_t memory_bytes;
  uint32_t gpu;
  uint64_t decision_ns;  /* CPU-clock time the decision took (for benchmarks) */
} kq_sched_placed_msg_t;

#define KQ_SCHED_REASON_WAITING "WaitingForBrowser"
#define KQ_SCHED_REASON_BAD_SELECTOR "InvalidBrowserSelector"

/* The Pod is queued (reason WaitingForBrowser; re-sent when the message changes), or was
 * refused for good (InvalidBrowserSelector: it is not queued). */
typedef struct kq_sched_waiting_msg {
  kq_msg_t hdr;
  char *pod_uid;        /* owned */
  const char *reason;   /* static: KQ_SCHED_REASON_* */
  char *message;        /* owned: "no browser has 4000m CPU free (largest free: 2000m on b-3)" */
  uint32_t queued;      /* Pods waiting, this one included (0 when not queued) */
} kq_sched_waiting_msg_t;

/* Switch policy. Unknown name or bad params keep the current one; the reply says why and is
 * logged at WARN (the node turns it into a Warning Event). Applies to the next decision, and
 * the queue is retried under the new policy. */
typedef struct kq_sched_set_policy_msg {
  kq_msg_t hdr;            /* from = who gets POLICY_RESULT (NONE = nobody) */
  char *name;              /* owned */
  kq_policy_params_t params;
} kq_sched_set_policy_msg_t;

typedef struct kq_sched_policy_msg {
  kq_msg_t hdr;
  int err;               /* KQ_OK, KQ_ENOENT (unknown name) or KQ_EINVAL (bad params) */
  char *message;         /* owned: error text, or "placement policy is now latency" */
  const char *active;    /* static: the policy in force after the request */
} kq_sched_policy_msg_t;

typedef struct kq_sched_stats_msg {
  kq_msg_t hdr;
  const char *policy;    /* static */
  uint32_t browsers, pending, placed;
  int64_t cap_cpu_millis, cap_memory_bytes;      /* sums over browsers */
  int64_t free_cpu_millis, free_memory_bytes;    /* sums of cap - reserved */
  int64_t reserved_cpu_millis, reserved_memory_bytes;
  uint64_t placements, decisions;
  bool accounting_ok;    /* reservations recomputed from scratch match the incremental view */
} kq_sched_stats_msg_t;

/* Allocation helpers: zeroed messages with id and dtor set (strings start NULL). Owned until
 * sent. */
kq_sched_place_msg_t *kq_sched_place_msg_new(void);
kq_sched_pod_msg_t *kq_sched_pod_msg_new(uint32_t id, const char *pod_uid);
/* Replies (the scheduler sends these; tests that stand in for it build them the same way). */
kq_sched_placed_msg_t *kq_sched_placed_msg_new(uint32_t id);
kq_sched_waiting_msg_t *kq_sched_waiting_msg_new(uint32_t id);
kq_sched_set_policy_msg_t *kq_sched_set_policy_msg_new(const char *name,
                                                       const kq_policy_params_t *params);
/* A browser event addressed to the scheduler (info deep-copied; reason may be NULL). */
kq_browser_event_msg_t *kq_sched_browser_event_new(kq_browser_event_kind_t kind,
                                                   const kq_browser_info_t *info,
                                                   const char *reason);

#endif
