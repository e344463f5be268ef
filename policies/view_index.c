/* The free-capacity index over a browser view (kq_policy.h): per family (free CPU, free memory)
 * and group ({busy, empty} x {real GPU, other}) doubly linked lists per log-linear bucket, with a
 * bitmap of non-empty buckets. The owner of the view syncs a browser after every change to its
 * free capacity, Pod count or GPU class; policies only read it. */
#include <stdlib.h>
#include <string.h>

#include "kq_policy.h"
#include "policy_internal.h"

#define NONE UINT32_MAX
#define UNLINKED 0xffu

/* policies/ does not link core: a plain realloc that dies on exhaustion like xrealloc. */
static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) abort();
  return q;
}

uint32_t kq_view_index_bucket(int64_t x) {
  if (x <= 0) return 0;
  if (x < 16) return (uint32_t)x;
  uint32_t e = 63u - (uint32_t)__builtin_clzll((uint64_t)x);
  return 16u + (e - 4u) * 8u + (uint32_t)((x >> (e - 3u)) & 7);
}

/* RTT buckets: exact below 64, then 32 per power of two (3% wide), the last one open. */
#define RTT_SUB 5u
uint32_t kq_view_index_rtt_bucket(int64_t rtt_us) {
  if (rtt_us < 0) return 0;
  uint64_t x = (uint64_t)rtt_us + 1;
  if (x < (2u << RTT_SUB)) return (uint32_t)x;
  uint32_t e = 63u - (uint32_t)__builtin_clzll(x);
  uint64_t b = (2u << RTT_SUB) + (uint64_t)(e - RTT_SUB - 1) * (1u << RTT_SUB) +
               ((x >> (e - RTT_SUB)) & ((1u << RTT_SUB) - 1));
  return b < KQ_VIX_RTT_BUCKETS ? (uint32_t)b : KQ_VIX_RTT_BUCKETS - 1;
}

int64_t kq_view_index_rtt_bucket_lo(uint32_t b) {
  if (b < (2u << RTT_SUB)) return b;
  uint32_t e = RTT_SUB + 1 + (b - (2u << RTT_SUB)) / (1u << RTT_SUB);
  uint32_t sub = (b - (2u << RTT_SUB)) % (1u << RTT_SUB);
  return (int64_t)((1u << RTT_SUB) + sub) << (e - RTT_SUB);
}

/* The load bucket and level of a load (kq_policy_load's value): sync computes the load once. */
static inline uint32_t load_bucket_of(double load) {
  double permille = load * 1000.0;
  return kq_view_index_bucket(permille < 1e15 ? (int64_t)permille : (int64_t)1e15);
}

static inline uint32_t load_level_of(double load) {
  double l = load * KQ_VIX_LOAD_LEVELS; /* exact scaling: floor(l) / L <= load */
  return l >= KQ_VIX_LOAD_LEVELS - 1 ? KQ_VIX_LOAD_LEVELS - 1 : (uint32_t)l;
}

uint32_t kq_view_index_load_bucket(const kq_view_t *v, uint32_t i) {
  return load_bucket_of(kq_policy_load(v, i));
}

uint32_t kq_view_index_load_level(const kq_view_t *v, uint32_t i) {
  return load_level_of(kq_policy_load(v, i));
}

uint32_t kq_view_index_fit_class(int64_t cpu_millis, int64_t mem_bytes) {
  const int64_t mi = 1024 * 1024;
  uint32_t c = cpu_millis < 250 ? 0 : cpu_millis < 1000 ? 1 : cpu_millis < 4000 ? 2 : 3;
  uint32_t m = mem_bytes < 256 * mi ? 0 : mem_bytes < 1024 * mi ? 1 : mem_bytes < 4096 * mi ? 2 : 3;
  c = c < m ? c : m;
  return c < KQ_VIX_FIT_CLASSES ? c : KQ_VIX_FIT_CLASSES - 1;
}

uint32_t kq_view_index_rtt_cell(const kq_view_t *v, uint32_t i) {
  return kq_view_index_load_level(v, i) * KQ_VIX_FIT_CLASSES +
         kq_view_index_fit_class(v->free_cpu_millis[i], v->free_mem_bytes[i]);
}

int64_t kq_view_index_bucket_lo(uint32_t b) {
  if (b == 0) return INT64_MIN;
  if (b < 16) return b;
  uint32_t e = 4 + (b - 16) / 8, sub = (b - 16) % 8;
  return (int64_t)(8 + sub) << (e - 3);
}

int64_t kq_view_index_bucket_hi(uint32_t b) {
  if (b < 16) return b;
  uint32_t e = 4 + (b - 16) / 8;
  if (b + 1 >= KQ_VIEW_INDEX_BUCKETS || e >= 62) return INT64_MAX;
  return kq_view_index_bucket_lo(b + 1) - 1;
}

void kq_view_index_init(kq_view_index_t *ix) {
  memset(ix, 0, sizeof *ix);
  ix->heaps = true;
  memset(ix->head, 0xff, sizeof ix->head);
  memset(ix->rtt_head, 0xff, sizeof ix->rtt_head);
}

void kq_view_index_free(kq_view_index_t *ix) {
  for (int f = 0; f < KQ_VIX_NFAMILIES; f++) {
    free(ix->next[f]);
    free(ix->prev[f]);
    free(ix->bucket[f]);
  }
  free(ix->group);
  free(ix->cell);
  free(ix->rnode);
  for (int h = 0; h < 2; h++) {
    free(ix->heap[h].at);
    free(ix->heap[h].pos);
    free(ix->heap[h].key);
  }
  free(ix->idle);
  kq_view_index_init(ix);
}

static void grow(kq_view_index_t *ix, uint32_t need) {
  if (need <= ix->cap) return;
  uint32_t nc = ix->cap ? ix->cap : 64;
  while (nc < need) nc *= 2;
  for (int f = 0; f < KQ_VIX_NFAMILIES; f++) {
    ix->next[f] = xrealloc(ix->next[f], (size_t)nc * sizeof *ix->next[f]);
    ix->prev[f] = xrealloc(ix->prev[f], (size_t)nc * sizeof *ix->prev[f]);
    ix->bucket[f] = xrealloc(ix->bucket[f], (size_t)nc * sizeof *ix->bucket[f]);
  }
  ix->group = xrealloc(ix->group, nc);
  ix->cell = xrealloc(ix->cell, nc);
  ix->rnode = xrealloc(ix->rnode, (size_t)nc * sizeof *ix->rnode);
  for (int h = 0; h < 2; h++) {
    ix->heap[h].at = xrealloc(ix->heap[h].at, (size_t)nc * sizeof *ix->heap[h].at);
    ix->heap[h].pos = xrealloc(ix->heap[h].pos, (size_t)nc * sizeof *ix->heap[h].pos);
    ix->heap[h].key = xrealloc(ix->heap[h].key, (size_t)nc * sizeof *ix->heap[h].key);
  }
  ix->idle = xrealloc(ix->idle, (size_t)(nc / 64) * sizeof *ix->idle);
  memset(ix->idle + ix->cap / 64, 0, (size_t)((nc - ix->cap) / 64) * sizeof *ix->idle);
  ix->cap = nc;
}

/* The list head of (family f, group g, bucket b), in cell lvl for the RTT family (whose group
 * is kq_view_index_rtt_group(g)). */
static inline uint32_t *head_of(kq_view_index_t *ix, int f, uint32_t g, uint32_t b, uint32_t lvl) {
  return f == KQ_VIX_RTT ? &ix->rtt_head[kq_view_index_rtt_group(g)][lvl][b] : &ix->head[f][g][b];
}

static inline uint64_t *nonempty_of(kq_view_index_t *ix, int f, uint32_t g, uint32_t b,
                                    uint32_t lvl) {
  return f == KQ_VIX_RTT ? &ix->rtt_nonempty[kq_view_index_rtt_group(g)][lvl][b / 64]
                         : &ix->nonempty[f][g][b / 64];
}

/* next[f][i] = n, mirrored in rnode for the RTT family. */
static inline void set_next(kq_view_index_t *ix, int f, uint32_t i, uint32_t n) {
  ix->next[f][i] = n;
  if (f == KQ_VIX_RTT) ix->rnode[i].next = n;
}

static void link_(kq_view_index_t *ix, int f, uint32_t g, uint32_t b, uint32_t i) {
  uint32_t *hp = head_of(ix, f, g, b, ix->cell[i]), h = *hp;
  set_next(ix, f, i, h);
  ix->prev[f][i] = NONE;
  if (h != NONE) ix->prev[f][h] = i;
  *hp = i;
  ix->bucket[f][i] = (uint16_t)b;
  *nonempty_of(ix, f, g, b, ix->cell[i]) |= 1ull << (b % 64);
  if (f == KQ_VIX_RTT) ix->rtt_words[kq_view_index_rtt_group(g)][ix->cell[i]] |= 1ull << (b / 64);
}

static void unlink_(kq_view_index_t *ix, int f, uint32_t g, uint32_t i) {
  uint32_t b = ix->bucket[f][i], n = ix->next[f][i], p = ix->prev[f][i];
  uint32_t *hp = head_of(ix, f, g, b, ix->cell[i]);
  if (p != NONE) set_next(ix, f, p, n);
  else *hp = n;
  if (n != NONE) ix->prev[f][n] = p;
  if (*hp != NONE) return;
  uint64_t *ne = nonempty_of(ix, f, g, b, ix->cell[i]);
  *ne &= ~(1ull << (b % 64));
  if (f == KQ_VIX_RTT && !*ne)
    ix->rtt_words[kq_view_index_rtt_group(g)][ix->cell[i]] &= ~(1ull << (b / 64));
}

/* ---- the (free CPU, index) max-heaps ---- */

typedef struct kq_vix_heap heap_t;

static inline bool heap_above(const heap_t *h, uint32_t p, uint32_t q) {
  return h->key[p] > h->key[q] || (h->key[p] == h->key[q] && h->at[p] > h->at[q]);
}

static void heap_swap(heap_t *h, uint32_t p, uint32_t q) {
  uint32_t t = h->at[p];
  int64_t k = h->key[p];
  h->at[p] = h->at[q];
  h->key[p] = h->key[q];
  h->at[q] = t;
  h->key[q] = k;
  h->pos[h->at[p]] = p;
  h->pos[h->at[q]] = q;
}

/* Restores the heap order around position p (its key or browser changed). */
static void heap_fix(heap_t *h, uint32_t p) {
  while (p && heap_above(h, p, (p - 1) / 2)) {
    heap_swap(h, p, (p - 1) / 2);
    p = (p - 1) / 2;
  }
  for (;;) {
    uint32_t l = 2 * p + 1, r = l + 1, m = p;
    if (l < h->n && heap_above(h, l, m)) m = l;
    if (r < h->n && heap_above(h, r, m)) m = r;
    if (m == p) return;
    heap_swap(h, p, m);
    p = m;
  }
}

static void heap_set(heap_t *h, uint32_t i, int64_t key) {
  uint32_t p = h->pos[i];
  if (p == NONE) {
    p = h->n++;
    h->at[p] = i;
    h->pos[i] = p;
  } else if (h->key[p] == key) {
    return;
  }
  h->key[p] = key;
  heap_fix(h, p);
}

static void heap_erase(heap_t *h, uint32_t i) {
  uint32_t p = h->pos[i], last = --h->n;
  h->pos[i] = NONE;
  if (p == last) return;
  h->at[p] = h->at[last];
  h->key[p] = h->key[last];
  h->pos[h->at[p]] = p;
  heap_fix(h, p);
}

/* Browser i belongs to heap[k] for group g. */
static inline bool heap_member(uint32_t g, int k) {
  return g != KQ_VIX_GROUP_UNAVAILABLE && (k == 0 || (g & KQ_VIX_GROUP_GPU));
}

/* Puts browser i in or out of each heap for its group g, keyed by free CPU. */
static void heap_sync(kq_view_index_t *ix, uint32_t i, uint32_t g, int64_t key) {
  for (int k = 0; k < 2; k++) {
    if (heap_member(g, k)) heap_set(&ix->heap[k], i, key);
    else if (ix->heap[k].pos[i] != NONE) heap_erase(&ix->heap[k], i);
  }
}

static inline void set_idle(kq_view_index_t *ix, uint32_t i, bool on) {
  if (on) ix->idle[i / 64] |= 1ull << (i % 64);
  else ix->idle[i / 64] &= ~(1ull << (i % 64));
}

static inline bool idle_of(double load, uint32_t g) {
  return (g & ~KQ_VIX_GROUP_GPU) == KQ_VIX_GROUP_EMPTY && load == 0;
}

static inline uint32_t group_of(const kq_view_t *v, uint32_t i) {
  if (v->flags[i] & KQ_POLICY_SKIP) return KQ_VIX_GROUP_UNAVAILABLE;
  return (v->pods[i] == 0 ? (uint32_t)KQ_VIX_GROUP_EMPTY : (uint32_t)KQ_VIX_GROUP_BUSY) |
         (v->gpu_class[i] == KQ_VIEW_GPU_REAL ? KQ_VIX_GROUP_GPU : 0u);
}

void kq_view_index_sync(kq_view_index_t *ix, const kq_view_t *v, uint32_t i) {
  if (i >= ix->n) { /* append (i == n) */
    grow(ix, i + 1);
    for (uint32_t j = ix->n; j <= i; j++) {
      ix->group[j] = UNLINKED;
      ix->heap[0].pos[j] = ix->heap[1].pos[j] = NONE;
    }
    ix->n = i + 1;
  }
  uint32_t g = group_of(v, i);
  double load = kq_policy_load(v, i);
  uint32_t bc = kq_view_index_bucket(v->free_cpu_millis[i]);
  uint32_t bm = kq_view_index_bucket(v->free_mem_bytes[i]);
  uint32_t br = kq_view_index_rtt_bucket(v->rtt_us[i]);
  uint32_t bl = load_bucket_of(load);
  uint32_t lv = load_level_of(load) * KQ_VIX_FIT_CLASSES +
                kq_view_index_fit_class(v->free_cpu_millis[i], v->free_mem_bytes[i]);
  ix->rnode[i].load = load;
  ix->rnode[i].rtt1 = v->rtt_us[i] < 0 ? -1.0 : (double)v->rtt_us[i] + 1.0;
  set_idle(ix, i, idle_of(load, g));
  if (ix->heaps) heap_sync(ix, i, g, v->free_cpu_millis[i]);
  uint32_t og = ix->group[i];
  if (og == g) { /* same group: move only the lists whose bucket (or RTT cell) changed */
    if (ix->bucket[KQ_VIX_CPU][i] != bc) {
      unlink_(ix, KQ_VIX_CPU, g, i);
      link_(ix, KQ_VIX_CPU, g, bc, i);
    }
    if (ix->bucket[KQ_VIX_MEM][i] != bm) {
      unlink_(ix, KQ_VIX_MEM, g, i);
      link_(ix, KQ_VIX_MEM, g, bm, i);
    }
    if (ix->bucket[KQ_VIX_LOAD][i] != bl) {
      unlink_(ix, KQ_VIX_LOAD, g, i);
      link_(ix, KQ_VIX_LOAD, g, bl, i);
    }
    if (ix->bucket[KQ_VIX_RTT][i] != br || ix->cell[i] != lv) {
      unlink_(ix, KQ_VIX_RTT, g, i); /* from the old cell */
      ix->cell[i] = (uint8_t)lv;
      link_(ix, KQ_VIX_RTT, g, br, i);
    }
    return;
  }
  if (og != UNLINKED)
    for (int f = 0; f < KQ_VIX_NFAMILIES; f++) unlink_(ix, f, og, i);
  ix->cell[i] = (uint8_t)lv;
  link_(ix, KQ_VIX_CPU, g, bc, i);
  link_(ix, KQ_VIX_MEM, g, bm, i);
  link_(ix, KQ_VIX_RTT, g, br, i);
  link_(ix, KQ_VIX_LOAD, g, bl, i);
  ix->group[i] = (uint8_t)g;
}

/* Relabels entry `from` as `to` (to is unlinked), keeping its place in every list. */
static void relabel(kq_view_index_t *ix, uint32_t from, uint32_t to) {
  uint32_t g = ix->group[from];
  ix->cell[to] = ix->cell[from];
  ix->rnode[to] = ix->rnode[from];
  for (int f = 0; f < KQ_VIX_NFAMILIES; f++) {
    uint32_t n = ix->next[f][from], p = ix->prev[f][from];
    set_next(ix, f, to, n);
    ix->prev[f][to] = p;
    ix->bucket[f][to] = ix->bucket[f][from];
    if (p != NONE) set_next(ix, f, p, to);
    else *head_of(ix, f, g, ix->bucket[f][from], ix->cell[from]) = to;
    if (n != NONE) ix->prev[f][n] = to;
  }
  ix->group[to] = (uint8_t)g;
  ix->group[from] = UNLINKED;
  for (int k = 0; k < 2; k++) { /* same key, lower index: may sink */
    heap_t *h = &ix->heap[k];
    uint32_t hp = h->pos[from];
    h->pos[from] = NONE;
    h->pos[to] = hp;
    if (hp != NONE) {
      h->at[hp] = to;
      heap_fix(h, hp);
    }
  }
  set_idle(ix, to, ix->idle[from / 64] >> (from % 64) & 1);
  set_idle(ix, from, false);
}

void kq_view_index_remove(kq_view_index_t *ix, uint32_t i) {
  if (i >= ix->n) return;
  uint32_t g = ix->group[i];
  if (g != UNLINKED) {
    for (int f = 0; f < KQ_VIX_NFAMILIES; f++) unlink_(ix, f, g, i);
    ix->group[i] = UNLINKED;
    set_idle(ix, i, false);
  }
  for (int k = 0; k < 2; k++)
    if (ix->heap[k].pos[i] != NONE) heap_erase(&ix->heap[k], i);
  uint32_t last = ix->n - 1;
  if (i != last && ix->group[last] != UNLINKED) relabel(ix, last, i);
  ix->n--;
}

void kq_view_index_build(kq_view_index_t *ix, const kq_view_t *v) {
  bool heaps = ix->heaps;
  kq_view_index_free(ix);
  ix->heaps = heaps;
  grow(ix, v->n ? v->n : 1);
  for (uint32_t i = 0; i < v->n; i++) kq_view_index_sync(ix, v, i);
}

void kq_view_index_set_heaps(kq_view_index_t *ix, const kq_view_t *v, bool on) {
  if (on == ix->heaps) return;
  ix->heaps = on;
  for (int k = 0; k < 2; k++) {
    ix->heap[k].n = 0;
    for (uint32_t i = 0; i < ix->n; i++) ix->heap[k].pos[i] = NONE;
  }
  if (on)
    for (uint32_t i = 0; i < ix->n; i++)
      if (ix->group[i] != UNLINKED) heap_sync(ix, i, ix->group[i], v->free_cpu_millis[i]);
}

bool kq_view_index_check(const kq_view_index_t *ix, const kq_view_t *v) {
  if (ix->n != v->n) return false;
  uint32_t seen[KQ_VIX_NFAMILIES] = {0};
  kq_view_index_t *mix = (kq_view_index_t *)ix; /* head_of/nonempty_of only read here */
  /* the RTT family lives in rtt_head/rtt_nonempty only */
  for (uint32_t g = 0; g < KQ_VIX_NGROUPS; g++)
    for (uint32_t b = 0; b < KQ_VIEW_INDEX_BUCKETS; b++)
      if (ix->head[KQ_VIX_RTT][g][b] != NONE || ix->nonempty[KQ_VIX_RTT][g][b / 64]) return false;
  for (int f = 0; f < KQ_VIX_NFAMILIES; f++) {
    bool rtt = f == KQ_VIX_RTT;
    /* for RTT, g below is the RTT group and head_of/nonempty_of want a group mapping to it */
    static const uint32_t rtt_rep[KQ_VIX_RTT_GROUPS] = {0, KQ_VIX_GROUP_GPU,
                                                         KQ_VIX_GROUP_UNAVAILABLE};
    for (uint32_t g = 0; g < (rtt ? KQ_VIX_RTT_GROUPS : KQ_VIX_NGROUPS); g++)
      for (uint32_t lv = 0; lv < (rtt ? KQ_VIX_RTT_CELLS : 1u); lv++)
        for (uint32_t b = 0; b < (rtt ? KQ_VIX_RTT_BUCKETS : KQ_VIEW_INDEX_BUCKETS); b++) {
          uint32_t hg = rtt ? rtt_rep[g] : g;
          bool bit = *nonempty_of(mix, f, hg, b, lv) >> (b % 64) & 1;
          uint32_t h = *head_of(mix, f, hg, b, lv);
          if (bit != (h != NONE)) return false;
          if (rtt && ((ix->rtt_words[g][lv] >> (b / 64) & 1) != (ix->rtt_nonempty[g][lv][b / 64] != 0)))
            return false;
          uint32_t prev = NONE;
          for (uint32_t i = h; i != NONE; i = ix->next[f][i]) {
            uint32_t ig = rtt ? kq_view_index_rtt_group(ix->group[i]) : ix->group[i];
            if (i >= v->n || ix->prev[f][i] != prev || ix->group[i] == UNLINKED || ig != g ||
                ix->bucket[f][i] != b || seen[f] > v->n ||
                (rtt && (ix->cell[i] != lv || kq_view_index_rtt_cell(v, i) != lv)))
              return false;
            uint32_t want = f == KQ_VIX_CPU   ? kq_view_index_bucket(v->free_cpu_millis[i])
                            : f == KQ_VIX_MEM ? kq_view_index_bucket(v->free_mem_bytes[i])
                            : rtt             ? kq_view_index_rtt_bucket(v->rtt_us[i])
                                              : kq_view_index_load_bucket(v, i);
            if (want != b || group_of(v, i) != ix->group[i]) return false;
            /* bit-identical to what policy latency would compute from the columns */
            if (rtt && (ix->rnode[i].next != ix->next[f][i] ||
                        ix->rnode[i].load != kq_policy_load(v, i) ||
                        ix->rnode[i].rtt1 != (v->rtt_us[i] < 0 ? -1.0 : (double)v->rtt_us[i] + 1.0)))
              return false;
            seen[f]++;
            prev = i;
          }
        }
  }
  for (int f = 0; f < KQ_VIX_NFAMILIES; f++)
    if (seen[f] != v->n) return false;
  for (int k = 0; k < 2; k++) {
    const heap_t *h = &ix->heap[k];
    uint32_t members = 0;
    for (uint32_t i = 0; i < v->n; i++) {
      bool in = ix->heaps && heap_member(group_of(v, i), k);
      members += in;
      if (in != (h->pos[i] != NONE)) return false;
    }
    if (h->n != members) return false;
    for (uint32_t p = 0; p < h->n; p++) {
      uint32_t i = h->at[p];
      if (i >= v->n || h->pos[i] != p || h->key[p] != v->free_cpu_millis[i]) return false;
      if (p && heap_above(h, p, (p - 1) / 2)) return false;
    }
  }
  for (uint32_t i = 0; i < ix->cap; i++) {
    bool bit = ix->idle[i / 64] >> (i % 64) & 1;
    if (bit != (i < v->n && idle_of(kq_policy_load(v, i), group_of(v, i)))) return false;
  }
  return true;
}

int64_t kq_view_index_max_free(const kq_view_index_t *ix, int family) {
  for (int w = KQ_VIEW_INDEX_BUCKETS / 64 - 1; w >= 0; w--) {
    uint64_t m = 0;
    for (uint32_t g = 0; g < KQ_VIX_NGROUPS; g++) m |= ix->nonempty[family][g][w];
    if (m) return kq_view_index_bucket_hi((uint32_t)w * 64 + 63 - (uint32_t)__builtin_clzll(m));
  }
  return INT64_MIN;
}
