/* Policy registry by name, parameter validation against each policy's spec, reason phrases and
 * the "why nothing fits" diagnosis used for WaitingForBrowser messages. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kq_error.h"
#include "kq_policy.h"
#include "policy_internal.h"

#define KQ_POLICY_TABLE_MAX 32

static const kq_policy_vtable_t *const builtins[] = {
    &kq_policy_binpack,   &kq_policy_gpu,       &kq_policy_latency,
    &kq_policy_spread,    &kq_policy_first_fit, &kq_policy_kuack_compat,
};
#define NBUILTINS (sizeof builtins / sizeof builtins[0])

static const kq_policy_vtable_t *extras[KQ_POLICY_TABLE_MAX];
static uint32_t nextras;

static const char *const reason_text[KQ_PR_COUNT_] = {
    [KQ_PR_NO_FIT] = "no browser fits",
    [KQ_PR_BEST_FIT_CPU] = "best fit (dominant=cpu)",
    [KQ_PR_BEST_FIT_MEM] = "best fit (dominant=memory)",
    [KQ_PR_GPU_REAL] = "real WebGPU adapter, best fit",
    [KQ_PR_GPU_AVOIDED] = "best fit on a browser without GPU (GPU browsers kept free)",
    [KQ_PR_GPU_ONLY_LEFT] = "only GPU browsers fit, best fit",
    [KQ_PR_LOWEST_RTT] = "lowest load-weighted RTT",
    [KQ_PR_LEAST_LOADED] = "least loaded",
    [KQ_PR_FIRST_FIT] = "first browser that fits",
    [KQ_PR_MOST_FREE_CPU] = "most free CPU (original Kuack rule)",
    [KQ_PR_OPENED_LARGEST_CPU] = "no busy browser fits: opened the idle one with the most CPU",
    [KQ_PR_OPENED_LARGEST_MEM] = "no busy browser fits: opened the idle one with the most memory",
};

const char *kq_policy_reason_text(kq_policy_reason_t r) {
  return (unsigned)r < KQ_PR_COUNT_ ? reason_text[r] : "unknown reason";
}

void kq_policy_errf(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

int kq_policy_params_add(kq_policy_params_t *p, const char *key, double value) {
  size_t len = key ? strlen(key) : 0;
  if (!len || len >= KQ_POLICY_KEY_MAX) return KQ_EINVAL;
  if (p->n >= KQ_POLICY_PARAMS_MAX) return KQ_ETOOBIG;
  memcpy(p->items[p->n].key, key, len + 1);
  p->items[p->n].value = value;
  p->n++;
  return KQ_OK;
}

int kq_policy_configure_spec(const kq_policy_vtable_t *vt, const kq_policy_params_t *params,
                             kq_policy_state_t *st, char *err, size_t errlen) {
  kq_policy_state_t out = {.vt = vt};
  for (uint32_t j = 0; j < vt->nparams && j < KQ_POLICY_PARAMS_MAX; j++) out.p[j] = vt->params[j].def;
  for (uint32_t i = 0; params && i < params->n; i++) {
    const kq_policy_param_t *it = &params->items[i];
    uint32_t j = 0;
    while (j < vt->nparams && strcmp(vt->params[j].key, it->key)) j++;
    if (j == vt->nparams) {
      char known[160] = "";
      size_t off = 0;
      for (uint32_t k = 0; k < vt->nparams && off < sizeof known; k++)
        off += (size_t)snprintf(known + off, sizeof known - off, "%s%s", k ? ", " : "",
                                vt->params[k].key);
      kq_policy_errf(err, errlen, "policy %s: unknown parameter '%s' (accepted: %s)", vt->name,
                     it->key, vt->nparams ? known : "none");
      return KQ_EINVAL;
    }
    const kq_policy_param_spec_t *sp = &vt->params[j];
    if (!(it->value >= sp->min && it->value <= sp->max)) { /* also refuses NaN */
      kq_policy_errf(err, errlen, "policy %s: parameter %s=%g out of range [%g, %g]", vt->name,
                     it->key, it->value, sp->min, sp->max);
      return KQ_EINVAL;
    }
    out.p[j] = it->value;
  }
  *st = out;
  return KQ_OK;
}

uint32_t kq_policy_count(void) { return (uint32_t)NBUILTINS + nextras; }

const kq_policy_vtable_t *kq_policy_at(uint32_t i) {
  if (i < NBUILTINS) return builtins[i];
  i -= (uint32_t)NBUILTINS;
  return i < nextras ? extras[i] : NULL;
}

const kq_policy_vtable_t *kq_policy_find(const char *name) {
  if (!name) return NULL;
  for (uint32_t i = 0; i < kq_policy_count(); i++)
    if (!strcmp(kq_policy_at(i)->name, name)) return kq_policy_at(i);
  return NULL;
}

int kq_policy_register(const kq_policy_vtable_t *vt) {
  if (!vt || vt->abi_version != KQ_POLICY_ABI_VERSION || !vt->name || !*vt->name || !vt->select ||
      !vt->configure || vt->nparams > KQ_POLICY_PARAMS_MAX)
    return KQ_EINVAL;
  if (kq_policy_find(vt->name)) return KQ_EEXIST;
  if (nextras >= KQ_POLICY_TABLE_MAX) return KQ_ETOOBIG;
  extras[nextras++] = vt;
  return KQ_OK;
}

char *kq_policy_names(char *buf, size_t n) {
  size_t off = 0;
  if (n) buf[0] = 0;
  for (uint32_t i = 0; i < kq_policy_count() && off < n; i++)
    off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? ", " : "", kq_policy_at(i)->name);
  return buf;
}

int kq_policy_setup(const char *name, const kq_policy_params_t *params, kq_policy_state_t *st,
                    char *err, size_t errlen) {
  const kq_policy_vtable_t *vt = kq_policy_find(name);
  if (!vt) {
    char known[256];
    kq_policy_errf(err, errlen, "unknown placement policy '%s' (known: %s)", name ? name : "",
                   kq_policy_names(known, sizeof known));
    return KQ_ENOENT;
  }
  return vt->configure(vt, params, st, err, errlen);
}

void kq_policy_diagnose(const kq_place_req_t *req, const kq_view_t *v, const uint8_t *excluded,
                        kq_policy_diag_t *d) {
  memset(d, 0, sizeof *d);
  d->total = v->n;
  d->max_cpu_index = d->max_mem_index = -1;
  for (uint32_t i = 0; i < v->n; i++) {
    if (excluded && excluded[i]) { d->excluded++; continue; }
    if (v->flags[i] & KQ_POLICY_SKIP) { d->unavailable++; continue; }
    if (req->gpu && v->gpu_class[i] != KQ_VIEW_GPU_REAL) { d->no_gpu++; continue; }
    if (req->max_rtt_us > 0 && (v->rtt_us[i] < 0 || v->rtt_us[i] > req->max_rtt_us)) {
      d->rtt_too_high++;
      continue;
    }
    if (v->max_pods[i] && v->pods[i] >= v->max_pods[i]) { d->pods_full++; continue; }
    if (d->max_cpu_index < 0 || v->free_cpu_millis[i] > d->max_free_cpu) {
      d->max_free_cpu = v->free_cpu_millis[i];
      d->max_cpu_index = (int32_t)i;
    }
    if (d->max_mem_index < 0 || v->free_mem_bytes[i] > d->max_free_mem) {
      d->max_free_mem = v->free_mem_bytes[i];
      d->max_mem_index = (int32_t)i;
    }
    if (v->free_cpu_millis[i] < req->cpu_millis) d->no_cpu++;
    else if (v->free_mem_bytes[i] < req->mem_bytes) d->no_mem++;
  }
}
