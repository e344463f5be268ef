/* Scheduler internals: the browser view (structure of arrays handed to policies plus the
 * scheduler's own columns), pod records with their reservations, and the pending queue. */
#ifndef KQ_SCHEDULER_INTERNAL_H
#define KQ_SCHEDULER_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>

#include "kq_browser.h"
#include "kq_policy.h"
#include "kq_scheduler.h"

typedef enum { SP_PENDING = 1, SP_PLACED = 2 } sched_pod_state_t;

typedef struct sched_pod {
  char *uid, *ns, *name;
  uint64_t hash;
  struct sched_pod *hnext;               /* uid hash chain */
  struct sched_pod *bprev, *bnext;       /* pods placed on the same browser */
  sched_pod_state_t state;
  kq_place_req_t req;
  kq_selector_t *selector;               /* NULL = none */
  char *selector_text;
  kq_aid_t exclude, reply_to, browser;   /* browser: where it is placed */
  uint32_t placed_id, waiting_id;
  uint64_t seq;                          /* arrival order, for the queue */
  char *last_wait;                       /* last WaitingForBrowser message sent */
} sched_pod_t;

/* A distinct set of agent labels, shared by browsers with equal labels (selectors are matched
 * once per set, not once per browser). */
typedef struct sched_labelset {
  uint32_t refs, n;
  char *keys[KQ_LABELS_MAX], *values[KQ_LABELS_MAX];
} sched_labelset_t;

typedef struct sched_view {
  uint32_t n, cap;
  /* columns handed to policies (kq_view_t points at them) */
  int64_t *free_cpu, *free_mem, *cap_cpu, *cap_mem, *rtt;
  uint8_t *gpu, *flags;
  uint32_t *pods, *max_pods, *labelset;
  /* scheduler-only columns */
  int64_t *res_cpu, *res_mem;
  kq_aid_t *aid;
  char **browser_id;
  sched_pod_t **podlist;
  uint8_t *excluded;                     /* scratch for the selector/exclude pre-pass */
  int64_t total_cap_cpu, total_cap_mem;
  uint32_t pending_gpu;                  /* kuack.io/gpu Pods in the queue (for policy gpu) */
  uint32_t running_gpu;                  /* kuack.io/gpu Pods placed */
  kq_view_index_t index;                 /* free-capacity buckets, synced on every change */
  /* aid → index (open addressing, linear probing; 0 key = empty) */
  kq_aid_t *map_key;
  uint32_t *map_val;
  uint32_t map_cap;
  /* label sets */
  sched_labelset_t *sets;
  uint8_t *set_match;                    /* scratch: selector result per set */
  uint32_t nsets, sets_cap;
} sched_view_t;

void sv_init(sched_view_t *v);
void sv_free(sched_view_t *v);
/* Keeps the optional parts of the index the policy reads (KQ_POLICY_NEEDS_*), drops the rest. */
void sv_index_needs(sched_view_t *v, uint32_t needs);
/* The policy's view of the columns (valid until the next add/remove). */
kq_view_t sv_policy_view(const sched_view_t *v);
int32_t sv_find(const sched_view_t *v, kq_aid_t aid);
/* Adds or updates browser `info->aid` (capacity, flags, rtt, labels). Returns its index. */
uint32_t sv_upsert(sched_view_t *v, const kq_browser_info_t *info);
/* Removes browser i (swap with the last). Its pods' reservations are dropped and their records
 * are handed to `gone` (which must unlink them from the uid table). */
void sv_remove(sched_view_t *v, uint32_t i, void (*gone)(sched_pod_t *p, void *ud), void *ud);
void sv_reserve(sched_view_t *v, uint32_t i, sched_pod_t *p);
void sv_unreserve(sched_view_t *v, uint32_t i, sched_pod_t *p);
/* Fills v->excluded for selector `sel` and browser `exclude`. Returns false when nothing needs
 * excluding (pass NULL to the policy then). */
bool sv_prepare_excluded(sched_view_t *v, const kq_selector_t *sel, kq_aid_t exclude);
/* Recomputes reservations from the pod lists and compares them with the incremental columns. */
bool sv_check(const sched_view_t *v);

/* "1500m", "2Gi", "512Mi", "1.5Gi": quantities for messages. buf needs 32 bytes. */
const char *sched_fmt_cpu(int64_t millis, char *buf);
const char *sched_fmt_mem(int64_t bytes, char *buf);

#endif
