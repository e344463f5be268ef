/* A plain-array browser view for policy tests: add browsers, then pass fx.v to select(). */
#ifndef KQ_TEST_VIEW_FIXTURE_H
#define KQ_TEST_VIEW_FIXTURE_H
#include <stdlib.h>
#include <string.h>

#include "kq_policy.h"

#define FX_MAX 4096
typedef struct fx {
  kq_view_t v;
  int64_t free_cpu[FX_MAX], free_mem[FX_MAX], cap_cpu[FX_MAX], cap_mem[FX_MAX], rtt[FX_MAX];
  uint8_t gpu[FX_MAX], flags[FX_MAX], excluded[FX_MAX];
  uint32_t pods[FX_MAX], max_pods[FX_MAX], labelset[FX_MAX];
} fx_t;

static inline fx_t *fx_new(void) {
  fx_t *f = calloc(1, sizeof *f);
  f->v = (kq_view_t){.free_cpu_millis = f->free_cpu, .free_mem_bytes = f->free_mem,
                     .cap_cpu_millis = f->cap_cpu, .cap_mem_bytes = f->cap_mem,
                     .gpu_class = f->gpu, .rtt_us = f->rtt, .pods = f->pods,
                     .max_pods = f->max_pods, .flags = f->flags, .labelset = f->labelset};
  return f;
}

/* Adds an empty browser with cpu millis / mem MiB capacity; returns its index. */
static inline uint32_t fx_add(fx_t *f, int64_t cpu, int64_t mem_mib) {
  uint32_t i = f->v.n++;
  f->cap_cpu[i] = f->free_cpu[i] = cpu;
  f->cap_mem[i] = f->free_mem[i] = mem_mib << 20;
  f->rtt[i] = -1;
  f->v.total_cap_cpu += cpu;
  f->v.total_cap_mem += mem_mib << 20;
  return i;
}

/* Takes cpu/mem from browser i as a placement would. */
static inline void fx_use(fx_t *f, uint32_t i, int64_t cpu, int64_t mem_bytes) {
  f->free_cpu[i] -= cpu;
  f->free_mem[i] -= mem_bytes;
  f->pods[i]++;
}

static inline kq_place_req_t req_of(int64_t cpu, int64_t mem_mib) {
  return (kq_place_req_t){.cpu_millis = cpu, .mem_bytes = mem_mib << 20};
}

static inline int32_t fx_pick(fx_t *f, const char *policy, const kq_place_req_t *r,
                              const uint8_t *ex, kq_policy_reason_t *why) {
  kq_policy_state_t st;
  char err[256];
  if (kq_policy_setup(policy, NULL, &st, err, sizeof err)) abort();
  kq_policy_reason_t w;
  return kq_policy_select(&st, r, &f->v, ex, 0, why ? why : &w);
}
#endif
