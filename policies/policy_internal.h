/* Internals shared by the built-in policies: their vtables and the error formatter. */
#ifndef KQ_POLICY_INTERNAL_H
#define KQ_POLICY_INTERNAL_H
#include <stddef.h>

#include "kq_policy.h"

extern const kq_policy_vtable_t kq_policy_binpack;
extern const kq_policy_vtable_t kq_policy_gpu;
extern const kq_policy_vtable_t kq_policy_latency;
extern const kq_policy_vtable_t kq_policy_spread;
extern const kq_policy_vtable_t kq_policy_first_fit;
extern const kq_policy_vtable_t kq_policy_kuack_compat;

void kq_policy_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Load of browser i: the larger of its used cpu and memory fractions (0 when capacity is 0),
 * never below 0 (a view reporting more free than capacity counts as idle). */
static inline double kq_policy_load(const kq_view_t *v, uint32_t i) {
  double c = v->cap_cpu_millis[i] > 0
                 ? 1.0 - (double)v->free_cpu_millis[i] / (double)v->cap_cpu_millis[i] : 0;
  double m = v->cap_mem_bytes[i] > 0
                 ? 1.0 - (double)v->free_mem_bytes[i] / (double)v->cap_mem_bytes[i] : 0;
  double l = c > m ? c : m;
  return l > 0 ? l : 0;
}

/* The request's dominant resource: the larger share of the view's total capacity. */
static inline bool kq_policy_dominant_cpu(const kq_place_req_t *r, const kq_view_t *v) {
  double c = v->total_cap_cpu > 0 ? (double)r->cpu_millis / (double)v->total_cap_cpu : 0;
  double m = v->total_cap_mem > 0 ? (double)r->mem_bytes / (double)v->total_cap_mem : 0;
  return c >= m;
}

#endif
