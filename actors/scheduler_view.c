/* The scheduler's browser view: growable columns, aid → index map, shared label sets,
 * reservation bookkeeping and the from-scratch accounting check. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "scheduler_internal.h"

/* Every column grows together; X(name, type). */
#define SV_COLUMNS(X)                                                                      \
  X(free_cpu, int64_t) X(free_mem, int64_t) X(cap_cpu, int64_t) X(cap_mem, int64_t)        \
  X(rtt, int64_t) X(gpu, uint8_t) X(flags, uint8_t) X(pods, uint32_t) X(max_pods, uint32_t) \
  X(labelset, uint32_t) X(res_cpu, int64_t) X(res_mem, int64_t) X(aid, kq_aid_t)           \
  X(browser_id, char *) X(podlist, sched_pod_t *) X(excluded, uint8_t)

void sv_init(sched_view_t *v) {
  memset(v, 0, sizeof *v);
  kq_view_index_init(&v->index);
}

void sv_free(sched_view_t *v) {
  for (uint32_t i = 0; i < v->n; i++) free(v->browser_id[i]);
  for (uint32_t s = 0; s < v->nsets; s++)
    for (uint32_t k = 0; k < v->sets[s].n; k++) {
      free(v->sets[s].keys[k]);
      free(v->sets[s].values[k]);
    }
#define SV_FREE_(name, type) free(v->name);
  SV_COLUMNS(SV_FREE_)
#undef SV_FREE_
  free(v->map_key);
  free(v->map_val);
  free(v->sets);
  free(v->set_match);
  kq_view_index_free(&v->index);
  memset(v, 0, sizeof *v);
}

kq_view_t sv_policy_view(const sched_view_t *v) {
  return (kq_view_t){.n = v->n, .free_cpu_millis = v->free_cpu, .free_mem_bytes = v->free_mem,
                     .cap_cpu_millis = v->cap_cpu, .cap_mem_bytes = v->cap_mem,
                     .gpu_class = v->gpu, .rtt_us = v->rtt, .pods = v->pods,
                     .max_pods = v->max_pods, .flags = v->flags, .labelset = v->labelset,
                     .total_cap_cpu = v->total_cap_cpu, .total_cap_mem = v->total_cap_mem,
                     .pending_gpu = v->pending_gpu, .running_gpu = v->running_gpu,
                     .index = &v->index};
}

void sv_index_needs(sched_view_t *v, uint32_t needs) {
  kq_view_t view = sv_policy_view(v);
  kq_view_index_set_heaps(&v->index, &view, (needs & KQ_POLICY_NEEDS_HEAPS) != 0);
}

/* Re-files browser i in the index after a change to its capacity, Pods or GPU class. */
static void sync_index(sched_view_t *v, uint32_t i) {
  kq_view_t view = sv_policy_view(v);
  kq_view_index_sync(&v->index, &view, i);
}

/* ---- aid map ---- */

static inline uint32_t map_slot(kq_aid_t aid, uint32_t cap) {
  uint64_t h = aid * 0x9e3779b97f4a7c15ull;
  return (uint32_t)(h >> 32) & (cap - 1);
}

static void map_put(sched_view_t *v, kq_aid_t aid, uint32_t idx);

static void map_grow(sched_view_t *v) {
  kq_aid_t *ok = v->map_key;
  uint32_t *ov = v->map_val, oc = v->map_cap;
  v->map_cap = oc ? oc * 2 : 64;
  v->map_key = kq_calloc(v->map_cap, sizeof *v->map_key);
  v->map_val = kq_calloc(v->map_cap, sizeof *v->map_val);
  for (uint32_t s = 0; s < oc; s++)
    if (ok[s]) map_put(v, ok[s], ov[s]);
  free(ok);
  free(ov);
}

static void map_put(sched_view_t *v, kq_aid_t aid, uint32_t idx) {
  if ((v->n + 1) * 2 > v->map_cap) map_grow(v);
  uint32_t s = map_slot(aid, v->map_cap);
  while (v->map_key[s] && v->map_key[s] != aid) s = (s + 1) & (v->map_cap - 1);
  v->map_key[s] = aid;
  v->map_val[s] = idx;
}

int32_t sv_find(const sched_view_t *v, kq_aid_t aid) {
  if (!v->map_cap || !aid) return -1;
  for (uint32_t s = map_slot(aid, v->map_cap); v->map_key[s]; s = (s + 1) & (v->map_cap - 1))
    if (v->map_key[s] == aid) return (int32_t)v->map_val[s];
  return -1;
}

static void map_del(sched_view_t *v, kq_aid_t aid) {
  uint32_t m = v->map_cap - 1, s = map_slot(aid, v->map_cap);
  while (v->map_key[s] != aid) s = (s + 1) & m;
  /* backward-shift deletion keeps probe chains intact without tombstones */
  for (uint32_t j = (s + 1) & m; v->map_key[j]; j = (j + 1) & m) {
    uint32_t home = map_slot(v->map_key[j], v->map_cap);
    if (((j - home) & m) >= ((j - s) & m)) {
      v->map_key[s] = v->map_key[j];
      v->map_val[s] = v->map_val[j];
      s = j;
    }
  }
  v->map_key[s] = 0;
}

/* ---- label sets ---- */

static bool set_equal(const sched_labelset_t *s, const kq_browser_info_t *info) {
  uint32_t n = info->nlabels < KQ_LABELS_MAX ? info->nlabels : KQ_LABELS_MAX;
  if (s->n != n) return false;
  for (uint32_t k = 0; k < n; k++) {
    const char *a = info->labels[k].key ? info->labels[k].key : "";
    const char *b = info->labels[k].value ? info->labels[k].value : "";
    if (strcmp(s->keys[k], a) || strcmp(s->values[k], b)) return false;
  }
  return true;
}

static uint32_t set_acquire(sched_view_t *v, const kq_browser_info_t *info) {
  uint32_t free_slot = UINT32_MAX;
  for (uint32_t s = 0; s < v->nsets; s++) {
    if (!v->sets[s].refs) {
      if (free_slot == UINT32_MAX) free_slot = s;
      continue;
    }
    if (set_equal(&v->sets[s], info)) {
      v->sets[s].refs++;
      return s;
    }
  }
  if (free_slot == UINT32_MAX) {
    if (v->nsets == v->sets_cap) {
      v->sets_cap = v->sets_cap ? v->sets_cap * 2 : 8;
      v->sets = kq_realloc(v->sets, v->sets_cap * sizeof *v->sets);
      v->set_match = kq_realloc(v->set_match, v->sets_cap);
    }
    free_slot = v->nsets++;
  }
  sched_labelset_t *s = &v->sets[free_slot];
  memset(s, 0, sizeof *s);
  s->refs = 1;
  s->n = info->nlabels < KQ_LABELS_MAX ? info->nlabels : KQ_LABELS_MAX;
  for (uint32_t k = 0; k < s->n; k++) {
    s->keys[k] = kq_strdup(info->labels[k].key ? info->labels[k].key : "");
    s->values[k] = kq_strdup(info->labels[k].value ? info->labels[k].value : "");
  }
  return free_slot;
}

static void set_release(sched_view_t *v, uint32_t s) {
  if (--v->sets[s].refs) return;
  for (uint32_t k = 0; k < v->sets[s].n; k++) {
    free(v->sets[s].keys[k]);
    free(v->sets[s].values[k]);
  }
  v->sets[s].n = 0;
}

/* ---- browsers ---- */

static void grow(sched_view_t *v) {
  uint32_t nc = v->cap ? v->cap * 2 : 64;
#define SV_GROW_(name, type) v->name = kq_realloc(v->name, (size_t)nc * sizeof(type));
  SV_COLUMNS(SV_GROW_)
#undef SV_GROW_
  v->cap = nc;
}

uint32_t sv_upsert(sched_view_t *v, const kq_browser_info_t *info) {
  int32_t f = sv_find(v, info->aid);
  uint32_t i;
  if (f < 0) {
    if (v->n == v->cap) grow(v);
    i = v->n;
    map_put(v, info->aid, i);
    v->n++;
    v->aid[i] = info->aid;
    v->browser_id[i] = NULL;
    v->res_cpu[i] = v->res_mem[i] = 0;
    v->pods[i] = 0;
    v->podlist[i] = NULL;
    v->excluded[i] = 0;
    v->cap_cpu[i] = v->cap_mem[i] = 0;
    v->labelset[i] = set_acquire(v, info);
  } else {
    i = (uint32_t)f;
    if (!set_equal(&v->sets[v->labelset[i]], info)) {
      uint32_t old = v->labelset[i];
      v->labelset[i] = set_acquire(v, info);
      set_release(v, old);
    }
  }
  if (!v->browser_id[i] || strcmp(v->browser_id[i], info->browser_id ? info->browser_id : "")) {
    free(v->browser_id[i]);
    v->browser_id[i] = kq_strdup(info->browser_id ? info->browser_id : "");
  }
  int64_t cpu = info->cpu_millis > 0 ? info->cpu_millis : 0;
  int64_t mem = info->memory_bytes > 0 ? info->memory_bytes : 0;
  v->total_cap_cpu += cpu - v->cap_cpu[i];
  v->total_cap_mem += mem - v->cap_mem[i];
  v->cap_cpu[i] = cpu;
  v->cap_mem[i] = mem;
  v->free_cpu[i] = cpu - v->res_cpu[i];
  v->free_mem[i] = mem - v->res_mem[i];
  v->rtt[i] = info->rtt_us;
  v->gpu[i] = (uint8_t)info->gpu;
  v->max_pods[i] = info->max_pods;
  v->flags[i] = (uint8_t)((info->throttled ? KQ_VIEW_THROTTLED : 0) |
                          (info->overloaded ? KQ_VIEW_OVERLOADED : 0));
  sync_index(v, i);
  return i;
}

void sv_remove(sched_view_t *v, uint32_t i, void (*gone)(sched_pod_t *p, void *ud), void *ud) {
  for (sched_pod_t *p = v->podlist[i], *next; p; p = next) {
    next = p->bnext;
    p->bprev = p->bnext = NULL;
    v->running_gpu -= p->req.gpu > 0;
    gone(p, ud);
  }
  v->total_cap_cpu -= v->cap_cpu[i];
  v->total_cap_mem -= v->cap_mem[i];
  map_del(v, v->aid[i]);
  set_release(v, v->labelset[i]);
  free(v->browser_id[i]);
  kq_view_index_remove(&v->index, i); /* moves the last entry to i, as below */
  uint32_t last = --v->n;
  if (i != last) {
#define SV_MOVE_(name, type) v->name[i] = v->name[last];
    SV_COLUMNS(SV_MOVE_)
#undef SV_MOVE_
    map_put(v, v->aid[i], i);
  }
}

void sv_reserve(sched_view_t *v, uint32_t i, sched_pod_t *p) {
  v->res_cpu[i] += p->req.cpu_millis;
  v->res_mem[i] += p->req.mem_bytes;
  v->free_cpu[i] -= p->req.cpu_millis;
  v->free_mem[i] -= p->req.mem_bytes;
  v->pods[i]++;
  v->running_gpu += p->req.gpu > 0;
  sync_index(v, i);
  p->browser = v->aid[i];
  p->bprev = NULL;
  p->bnext = v->podlist[i];
  if (p->bnext) p->bnext->bprev = p;
  v->podlist[i] = p;
}

void sv_unreserve(sched_view_t *v, uint32_t i, sched_pod_t *p) {
  v->res_cpu[i] -= p->req.cpu_millis;
  v->res_mem[i] -= p->req.mem_bytes;
  v->free_cpu[i] += p->req.cpu_millis;
  v->free_mem[i] += p->req.mem_bytes;
  v->pods[i]--;
  v->running_gpu -= p->req.gpu > 0;
  sync_index(v, i);
  if (p->bprev) p->bprev->bnext = p->bnext;
  else v->podlist[i] = p->bnext;
  if (p->bnext) p->bnext->bprev = p->bprev;
  p->bprev = p->bnext = NULL;
  p->browser = KQ_AID_NONE;
}

bool sv_prepare_excluded(sched_view_t *v, const kq_selector_t *sel, kq_aid_t exclude) {
  int32_t ex = sv_find(v, exclude);
  if (!sel && ex < 0) return false;
  if (!sel) {
    memset(v->excluded, 0, v->n);
  } else {
    for (uint32_t s = 0; s < v->nsets; s++)
      v->set_match[s] = v->sets[s].refs &&
                        kq_selector_match(sel, (const char *const *)v->sets[s].keys,
                                          (const char *const *)v->sets[s].values, v->sets[s].n);
    for (uint32_t i = 0; i < v->n; i++) v->excluded[i] = !v->set_match[v->labelset[i]];
  }
  if (ex >= 0) v->excluded[ex] = 1;
  return true;
}

bool sv_check(const sched_view_t *v) {
  int64_t tc = 0, tm = 0;
  uint32_t gpu = 0;
  kq_view_t view = sv_policy_view(v);
  if (!kq_view_index_check(&v->index, &view)) return false;
  for (uint32_t i = 0; i < v->n; i++) {
    int64_t c = 0, m = 0;
    uint32_t n = 0;
    for (const sched_pod_t *p = v->podlist[i]; p; p = p->bnext) {
      if (p->state != SP_PLACED || p->browser != v->aid[i]) return false;
      c += p->req.cpu_millis;
      m += p->req.mem_bytes;
      gpu += p->req.gpu > 0;
      n++;
    }
    if (c != v->res_cpu[i] || m != v->res_mem[i] || n != v->pods[i]) return false;
    if (v->free_cpu[i] != v->cap_cpu[i] - c || v->free_mem[i] != v->cap_mem[i] - m) return false;
    if (sv_find(v, v->aid[i]) != (int32_t)i) return false;
    tc += v->cap_cpu[i];
    tm += v->cap_mem[i];
  }
  return tc == v->total_cap_cpu && tm == v->total_cap_mem && gpu == v->running_gpu;
}

/* Decimal digits of v into buf (NUL-terminated); returns the length. No printf: this runs for
 * every placement's explanation. */
static size_t fmt_i64(int64_t v, char *buf) {
  char tmp[24];
  size_t n = 0, len = 0;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) buf[len++] = '-';
  while (n) buf[len++] = tmp[--n];
  buf[len] = 0;
  return len;
}

const char *sched_fmt_cpu(int64_t millis, char *buf) {
  size_t n = fmt_i64(millis, buf);
  buf[n] = 'm';
  buf[n + 1] = 0;
  return buf;
}

/* printf("%.1f", b / 2^shift) for |b| < 2^53 (so the double quotient is exact) without printf:
 * tenths rounded to nearest, ties to even, as glibc rounds the exact binary value. */
static size_t fmt_tenths(int64_t b, int shift, char *buf) {
  uint64_t a = b < 0 ? (uint64_t)0 - (uint64_t)b : (uint64_t)b, t = a * 10;
  uint64_t q = t >> shift, r = t & ((1ull << shift) - 1), half = 1ull << (shift - 1);
  if (r > half || (r == half && (q & 1))) q++;
  size_t n = 0;
  if (b < 0) buf[n++] = '-';
  n += fmt_i64((int64_t)(q / 10), buf + n);
  buf[n++] = '.';
  buf[n++] = (char)('0' + q % 10);
  buf[n] = 0;
  return n;
}

const char *sched_fmt_mem(int64_t b, char *buf) {
  static const char *const units[] = {"Gi", "Mi", "Ki"};
  static const int shifts[] = {30, 20, 10};
  int64_t a = b < 0 ? -b : b;
  for (int u = 0; u < 3; u++) {
    int64_t unit = (int64_t)1 << shifts[u];
    if (a >= unit) {
      if (a % unit == 0) strcpy(buf + fmt_i64(b / unit, buf), units[u]);
      else if (a < (int64_t)1 << 53) strcpy(buf + fmt_tenths(b, shifts[u], buf), units[u]);
      else snprintf(buf, 32, "%.1f%s", (double)b / (double)unit, units[u]);
      return buf;
    }
  }
  fmt_i64(b, buf);
  return buf;
}
