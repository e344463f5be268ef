/* Placement policies: a small versioned vtable registered by name; select() is pure and
 * allocation-free over the scheduler's structure-of-arrays view of the browsers. Parameters
 * arrive already decoded (k8s/ or the standalone flag turn JSON into kq_policy_params_t), and
 * label selectors are compiled once and matched without allocating. */
#ifndef KQ_POLICY_H
#define KQ_POLICY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KQ_POLICY_ABI_VERSION 1u

/* ---- the view: one entry per browser, owned by the scheduler ---- */

/* flags[] bits. Every policy skips OVERLOADED/DRAINING; all but kuack-compat skip THROTTLED
 * (kuack-compat keeps the original rule: throttled only for BestEffort Pods). */
enum {
  KQ_VIEW_THROTTLED = 1u << 0,  /* background tab / timer drift */
  KQ_VIEW_OVERLOADED = 1u << 1, /* browser actor mailbox or send queue past high water */
  KQ_VIEW_DRAINING = 1u << 2,   /* going away: take no new Pods */
};

/* GPU classes (same values as kq_gpu_class_t in actors/kq_browser.h). */
enum { KQ_VIEW_GPU_NONE = 0, KQ_VIEW_GPU_FALLBACK = 1, KQ_VIEW_GPU_REAL = 2 };

/* Structure of arrays, n entries each. Borrowed by select() for the duration of the call.
 * free_* may be negative when a browser shrank below what is reserved on it. */
typedef struct kq_view {
  uint32_t n;
  const int64_t *free_cpu_millis;
  const int64_t *free_mem_bytes;
  const int64_t *cap_cpu_millis;
  const int64_t *cap_mem_bytes;
  const uint8_t *gpu_class;   /* KQ_VIEW_GPU_* */
  const int64_t *rtt_us;      /* -1 = unknown */
  const uint32_t *pods;       /* Pods placed on the browser */
  const uint32_t *max_pods;   /* 0 = no limit */
  const uint8_t *flags;       /* KQ_VIEW_* */
  const uint32_t *labelset;   /* index of the browser's label set (selector pre-pass) */
  int64_t total_cap_cpu;      /* sums over the view, for the dominant resource */
  int64_t total_cap_mem;
  uint32_t pending_gpu;       /* kuack.io/gpu Pods waiting in the scheduler's queue */
  uint32_t running_gpu;       /* kuack.io/gpu Pods placed (GPU demand, for policy gpu) */
  /* NULL, or an index over the columns above kept current by the view's owner: the policies
   * that use it (binpack, gpu, latency, spread, kuack-compat) visit only browsers in the buckets
   * that can hold or win the request, and choose exactly what the full scan would. */
  const struct kq_view_index *index;
} kq_view_t;

/* One placement request. max_rtt_us is a hard limit for every policy but kuack-compat
 * (a browser with unknown RTT does not satisfy it). */
typedef struct kq_place_req {
  int64_t cpu_millis;
  int64_t mem_bytes;
  uint32_t gpu;         /* kuack.io/gpu count; > 0 needs a real WebGPU adapter */
  int64_t max_rtt_us;   /* 0 = no limit */
  int32_t priority;
} kq_place_req_t;

static inline bool kq_place_req_best_effort(const kq_place_req_t *r) {
  return r->cpu_millis <= 0 && r->mem_bytes <= 0;
}

/* Why a browser was chosen (or that none was). kq_policy_reason_text() gives the phrase used in
 * explanations ("best fit (dominant=cpu)"). */
typedef enum {
  KQ_PR_NO_FIT = 0,
  KQ_PR_BEST_FIT_CPU,
  KQ_PR_BEST_FIT_MEM,
  KQ_PR_GPU_REAL,
  KQ_PR_GPU_AVOIDED,
  KQ_PR_GPU_ONLY_LEFT,
  KQ_PR_LOWEST_RTT,
  KQ_PR_LEAST_LOADED,
  KQ_PR_FIRST_FIT,
  KQ_PR_MOST_FREE_CPU,
  KQ_PR_OPENED_LARGEST_CPU, /* binpack: no busy browser fits, the idle one with most CPU opened */
  KQ_PR_OPENED_LARGEST_MEM,
  KQ_PR_COUNT_
} kq_policy_reason_t;

const char *kq_policy_reason_text(kq_policy_reason_t r);

/* ---- parameters ---- */

#define KQ_POLICY_PARAMS_MAX 8
#define KQ_POLICY_KEY_MAX 32
typedef struct kq_policy_param {
  char key[KQ_POLICY_KEY_MAX];
  double value;
} kq_policy_param_t;

/* Decoded `kuack.io/placement-params`: a small value array, no ownership. */
typedef struct kq_policy_params {
  uint32_t n;
  kq_policy_param_t items[KQ_POLICY_PARAMS_MAX];
} kq_policy_params_t;

/* Appends key=value; KQ_ETOOBIG when full, KQ_EINVAL when the key is too long or empty. */
int kq_policy_params_add(kq_policy_params_t *p, const char *key, double value);

/* What a policy accepts: used by the generic configure and by the docs. */
typedef struct kq_policy_param_spec {
  const char *key;
  double def, min, max;
  const char *help;
} kq_policy_param_spec_t;

/* A configured policy: a value (no allocation), copied freely. p[] follows the vtable's spec. */
typedef struct kq_policy_state {
  const struct kq_policy_vtable *vt;
  double p[KQ_POLICY_PARAMS_MAX];
} kq_policy_state_t;

/* ---- the vtable ---- */

typedef struct kq_policy_vtable {
  uint32_t abi_version; /* KQ_POLICY_ABI_VERSION */
  const char *name;     /* annotation value: "binpack" */
  const char *summary;  /* one line for --help and docs */
  const kq_policy_param_spec_t *params;
  uint32_t nparams;
  /* Validates `params` (may be NULL = defaults) into *st. Unknown keys and out-of-range values
   * give KQ_EINVAL with a message in err (errlen bytes, may be 0). Never allocates. */
  int (*configure)(const struct kq_policy_vtable *vt, const kq_policy_params_t *params,
                   kq_policy_state_t *st, char *err, size_t errlen);
  /* Returns the index of the chosen browser, or -1 (reason KQ_PR_NO_FIT). `excluded` is NULL or
   * n bytes (non-zero = skip). Pure: no I/O, no allocation, no global state. */
  int32_t (*select)(const kq_policy_state_t *st, const kq_place_req_t *req, const kq_view_t *v,
                    const uint8_t *excluded, uint64_t now_ns, kq_policy_reason_t *why);
  /* KQ_POLICY_NEEDS_* bits: optional parts of the view's index this policy reads (0: none; the
   * owner of the view may then stop keeping them). */
  uint32_t index_needs;
} kq_policy_vtable_t;

#define KQ_POLICY_NEEDS_HEAPS 1u /* kq_view_index_t.heaps (kuack-compat) */

/* Generic configure: checks params against vt->params and fills st->p with values or defaults. */
int kq_policy_configure_spec(const kq_policy_vtable_t *vt, const kq_policy_params_t *params,
                             kq_policy_state_t *st, char *err, size_t errlen);

/* ---- registry ---- */

#define KQ_POLICY_DEFAULT "binpack"

/* Registers an extra policy (borrowed, must be static). KQ_EINVAL for a wrong abi_version or
 * missing fields, KQ_EEXIST for a taken name, KQ_ETOOBIG when the table is full. */
int kq_policy_register(const kq_policy_vtable_t *vt);
/* Returns the policy named `name` or NULL. Borrowed, static. */
const kq_policy_vtable_t *kq_policy_find(const char *name);
/* Number of registered policies and the i-th (built-ins first, in documentation order). */
uint32_t kq_policy_count(void);
const kq_policy_vtable_t *kq_policy_at(uint32_t i);
/* Writes "binpack, gpu, latency, ..." into buf. Returns buf. */
char *kq_policy_names(char *buf, size_t n);

/* Looks up `name` and configures it with `params` into *st. Unknown name: KQ_ENOENT with
 * "unknown placement policy 'x' (known: binpack, gpu, ...)"; bad params: KQ_EINVAL with the
 * policy's message. *st is untouched on failure, so a caller keeps its current policy. */
int kq_policy_setup(const char *name, const kq_policy_params_t *params, kq_policy_state_t *st,
                    char *err, size_t errlen);

static inline int32_t kq_policy_select(const kq_policy_state_t *st, const kq_place_req_t *req,
                                       const kq_view_t *v, const uint8_t *excluded,
                                       uint64_t now_ns, kq_policy_reason_t *why) {
  return st->vt->select(st, req, v, excluded, now_ns, why);
}

/* ---- shared hard constraints ---- */

/* True when browser i can take req: not excluded, none of `skip_flags` set, enough free cpu and
 * memory, below max_pods, a real GPU when asked, and within max_rtt_us when set and `rtt`. */
static inline bool kq_policy_fits(const kq_view_t *v, uint32_t i, const kq_place_req_t *req,
                                  const uint8_t *excluded, uint8_t skip_flags, bool rtt) {
  if (v->flags[i] & skip_flags) return false;
  if (v->free_cpu_millis[i] < req->cpu_millis || v->free_mem_bytes[i] < req->mem_bytes) return false;
  if (v->max_pods[i] && v->pods[i] >= v->max_pods[i]) return false;
  if (req->gpu && v->gpu_class[i] != KQ_VIEW_GPU_REAL) return false;
  if (rtt && req->max_rtt_us > 0 && (v->rtt_us[i] < 0 || v->rtt_us[i] > req->max_rtt_us))
    return false;
  if (excluded && excluded[i]) return false;
  return true;
}

#define KQ_POLICY_SKIP (KQ_VIEW_THROTTLED | KQ_VIEW_OVERLOADED | KQ_VIEW_DRAINING)

/* Why nothing fits, for the WaitingForBrowser message: counts per blocking constraint and the
 * largest free cpu/memory among eligible browsers (index -1 when none). Not on the hot path. */
typedef struct kq_policy_diag {
  uint32_t total, excluded, unavailable; /* unavailable: throttled/overloaded/draining */
  uint32_t pods_full, no_gpu, rtt_too_high, no_cpu, no_mem;
  int32_t max_cpu_index, max_mem_index;
  int64_t max_free_cpu, max_free_mem;
} kq_policy_diag_t;

void kq_policy_diagnose(const kq_place_req_t *req, const kq_view_t *v, const uint8_t *excluded,
                        kq_policy_diag_t *out);

/* ---- the free-capacity index ----
 *
 * Browsers are kept in doubly linked lists per (group, bucket) for four families: free CPU,
 * free memory, RTT and load. Groups split available browsers by {running Pods, empty} x {real GPU, other},
 * plus one group for unavailable ones; buckets are
 * log-linear ranges of the free amount (exact below 16, then 8 per power of two), disjoint and
 * increasing, so the best fit on a resource is in the lowest non-empty bucket at or above the
 * request's bucket that holds a browser which fits. A bitmap per group and family finds the
 * next non-empty bucket with ctz. Updating one browser is O(1). */
#define KQ_VIEW_INDEX_BUCKETS 512
enum { KQ_VIX_CPU = 0, KQ_VIX_MEM = 1, KQ_VIX_RTT = 2, KQ_VIX_LOAD = 3, KQ_VIX_NFAMILIES = 4 };
/* The RTT family files browsers by round-trip time: bucket 0 = not measured, else the bucket of
 * rtt_us + 1 on a finer scale (kq_view_index_rtt_bucket_lo; so policy latency walks up from
 * the fastest), capped at KQ_VIX_RTT_BUCKETS - 1. It has its own, coarser groups
 * (kq_view_index_rtt_group: available without a real GPU, available with one, unavailable;
 * policy latency has no use for busy/empty) and its lists are split further into cells
 * (rtt_head/rtt_nonempty, not head/nonempty):
 * cell = load level * KQ_VIX_FIT_CLASSES + fit class, where the load level is
 * floor(load * KQ_VIX_LOAD_LEVELS) capped at the last level, and the fit class is the smaller of
 * the free CPU's and free memory's size class (kq_view_index_fit_class). A browser in cell
 * (level k, bucket b) scores at least bucket_lo(b) * (1 + w * k / KQ_VIX_LOAD_LEVELS) for
 * latency, and fits a request only if its fit class is at least the request's. */
#define KQ_VIX_LOAD_LEVELS 16u
#define KQ_VIX_FIT_CLASSES 1u /* 1 = split off: 4 classes measured no gain on the bench */
#define KQ_VIX_RTT_CELLS (KQ_VIX_LOAD_LEVELS * KQ_VIX_FIT_CLASSES)
#define KQ_VIX_RTT_BUCKETS 768u /* finer than the others: exact below 64, then 32 per power of two */
/* Lowest rtt_us + 1 in RTT bucket b (b >= 1). */
int64_t kq_view_index_rtt_bucket_lo(uint32_t b);
uint32_t kq_view_index_load_level(const kq_view_t *v, uint32_t i);
/* Size class (clamped to KQ_VIX_FIT_CLASSES - 1) of an amount: CPU (millicores) 0: < 250m, 1: < 1000m, 2: < 4000m, 3: more; memory
 * the same at 256Mi, 1Gi and 4Gi; the class of a (cpu, memory) pair is the smaller. Monotone, so
 * free >= request implies class(free) >= class(request). */
uint32_t kq_view_index_fit_class(int64_t cpu_millis, int64_t mem_bytes);
/* The cell the RTT family files browser i under. */
uint32_t kq_view_index_rtt_cell(const kq_view_t *v, uint32_t i);
uint32_t kq_view_index_rtt_bucket(int64_t rtt_us);
/* The load family files browsers by load (the larger of used CPU and memory fractions) in
 * permille: the bucket of floor(load * 1000) (policy spread walks up from the least loaded). */
uint32_t kq_view_index_load_bucket(const kq_view_t *v, uint32_t i);
enum { KQ_VIX_GROUP_BUSY = 0, KQ_VIX_GROUP_EMPTY = 1 }; /* bit 0 of the group number */
#define KQ_VIX_GROUP_GPU 2u                              /* bit 1: real WebGPU adapter */
/* Browsers with a KQ_POLICY_SKIP flag (throttled, overloaded, draining) are filed apart, so the
 * policies that skip them never visit them; kuack-compat reads this group too (throttled
 * browsers take its BestEffort Pods). */
#define KQ_VIX_GROUP_UNAVAILABLE 4u
#define KQ_VIX_NGROUPS 5u
/* RTT groups: 0 available without a real GPU, 1 available with one, 2 unavailable. */
#define KQ_VIX_RTT_GROUPS 3u
static inline uint32_t kq_view_index_rtt_group(uint32_t group) {
  return group == KQ_VIX_GROUP_UNAVAILABLE ? 2u : group >> 1;
}

typedef struct kq_view_index {
  uint32_t n, cap;             /* browsers indexed: 0..n-1, the view's indices */
  uint32_t *next[KQ_VIX_NFAMILIES], *prev[KQ_VIX_NFAMILIES]; /* UINT32_MAX = none */
  uint16_t *bucket[KQ_VIX_NFAMILIES];                          /* current bucket per family */
  uint8_t *group;              /* current group; 0xff = not linked */
  uint64_t *idle;              /* bit i: browser i is available, runs no Pod and has load 0 (the
                                * least possible spread key; found in index order with ctz) */
  uint8_t *cell;               /* cell the RTT family files the browser under */
  /* per browser, what policy latency reads while walking an RTT list, in one place (one cache
   * line per browser instead of four columns): next = next[KQ_VIX_RTT][i]; load =
   * kq_policy_load(v, i) and rtt1 = rtt_us + 1.0 (-1 when unmeasured) at the last sync,
   * bit-identical to what the scan computes (kq_view_index_check verifies all three) */
  struct kq_vix_rtt_node {
    double load, rtt1;
    uint32_t next;
  } *rnode;
  /* binary max-heaps by (free CPU, index), for kuack-compat's rule (most free CPU, ties to the
   * highest index): heap[0] of the available browsers (not in KQ_VIX_GROUP_UNAVAILABLE),
   * heap[1] of the available ones with a real GPU. For a Pod that is not BestEffort, the top of
   * the heap it may use is the scan's answer when it fits. Kept only while `heaps` is set (the
   * default; kq_view_index_set_heaps): O(log n) per free-CPU change that only kuack-compat
   * reads, so an owner whose policy does not want them (kq_policy_vtable_t.index_needs) turns
   * them off, and kuack-compat then walks the free-CPU buckets. */
  bool heaps;
  struct kq_vix_heap {
    uint32_t *at, *pos, n; /* pos[i]: position of browser i, UINT32_MAX = not in it */
    int64_t *key;          /* free CPU at each position */
  } heap[2];
  uint32_t head[KQ_VIX_NFAMILIES][KQ_VIX_NGROUPS][KQ_VIEW_INDEX_BUCKETS]; /* RTT: unused */
  uint64_t nonempty[KQ_VIX_NFAMILIES][KQ_VIX_NGROUPS][KQ_VIEW_INDEX_BUCKETS / 64];
  uint32_t rtt_head[KQ_VIX_RTT_GROUPS][KQ_VIX_RTT_CELLS][KQ_VIX_RTT_BUCKETS];
  uint64_t rtt_nonempty[KQ_VIX_RTT_GROUPS][KQ_VIX_RTT_CELLS][KQ_VIX_RTT_BUCKETS / 64];
  uint64_t rtt_words[KQ_VIX_RTT_GROUPS][KQ_VIX_RTT_CELLS]; /* bit w: rtt_nonempty[..][w] != 0 */
} kq_view_index_t;

/* Bucket of a free amount (<= 0 → 0). Monotone non-decreasing. */
uint32_t kq_view_index_bucket(int64_t free_amount);
/* Lowest amount in bucket b (inclusive) and the highest (inclusive). */
int64_t kq_view_index_bucket_lo(uint32_t b);
int64_t kq_view_index_bucket_hi(uint32_t b);

void kq_view_index_init(kq_view_index_t *ix);
void kq_view_index_free(kq_view_index_t *ix);
/* Puts browser i (i <= ix->n; i == n appends) in the lists its columns in v call for, moving it
 * when its free capacity, Pod count or GPU class changed. */
void kq_view_index_sync(kq_view_index_t *ix, const kq_view_t *v, uint32_t i);
/* Removes browser i as the view does (swap with the last): call before the columns move;
 * afterwards, call kq_view_index_sync(ix, v, i) when i is still < the new n. */
void kq_view_index_remove(kq_view_index_t *ix, uint32_t i);
/* Builds from scratch (re-initialises ix; keeps whether the heaps are kept). */
void kq_view_index_build(kq_view_index_t *ix, const kq_view_t *v);
/* Starts (building them over the current browsers, O(n log n)) or stops keeping the free-CPU
 * heaps. Choices do not depend on it, only their cost. */
void kq_view_index_set_heaps(kq_view_index_t *ix, const kq_view_t *v, bool on);
/* True when every browser is linked exactly where its columns say (tests, STATS). */
bool kq_view_index_check(const kq_view_index_t *ix, const kq_view_t *v);
/* An upper bound of the largest free amount of `family` over all browsers (INT64_MIN when
 * none): the top of the highest non-empty bucket. */
int64_t kq_view_index_max_free(const kq_view_index_t *ix, int family);

/* ---- label selectors (`kuack.io/browser-selector`) ---- */

/* Compiled `k=v,k==v,k!=v,k in (a,b),k notin (a,b),k,!k` (comma = AND). */
typedef struct kq_selector kq_selector_t;

/* Parses `text` into *out (owned, free with kq_selector_free). An empty string matches
 * everything. KQ_EINVAL with a message naming the position on bad syntax. */
int kq_selector_parse(const char *text, kq_selector_t **out, char *err, size_t errlen);
void kq_selector_free(kq_selector_t *s);
/* True when the labels (n keys/values, borrowed) satisfy every term. Allocation-free. */
bool kq_selector_match(const kq_selector_t *s, const char *const *keys,
                       const char *const *values, uint32_t n);

#endif
