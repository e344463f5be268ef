/* Value helpers for the browser contract types (kq_browser.h): deep copies and clears. */
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_browser.h"

void kq_browser_info_copy(kq_browser_info_t *dst, const kq_browser_info_t *src) {
  *dst = *src;
  dst->agent_id = kq_strdup(src->agent_id);
  dst->browser_id = kq_strdup(src->browser_id);
  dst->gpu_vendor = kq_strdup(src->gpu_vendor);
  dst->gpu_arch = kq_strdup(src->gpu_arch);
  for (uint32_t i = 0; i < src->nlabels && i < KQ_LABELS_MAX; i++) {
    dst->labels[i].key = kq_strdup(src->labels[i].key);
    dst->labels[i].value = kq_strdup(src->labels[i].value);
  }
}

void kq_browser_info_clear(kq_browser_info_t *info) {
  free(info->agent_id);
  free(info->browser_id);
  free(info->gpu_vendor);
  free(info->gpu_arch);
  for (uint32_t i = 0; i < info->nlabels && i < KQ_LABELS_MAX; i++) {
    free(info->labels[i].key);
    free(info->labels[i].value);
  }
  memset(info, 0, sizeof *info);
}

void kq_run_spec_clear(kq_run_spec_t *s) {
  free(s->run_id);
  free(s->pod_uid);
  free(s->namespace_);
  free(s->pod_name);
  free(s->container);
  free(s->module_url);
  free(s->glue_url);
  free(s->entry);
  free(s->digest);
  for (uint32_t i = 0; i < s->nargs; i++) free(s->args[i]);
  free(s->args);
  for (uint32_t i = 0; i < s->nenv; i++) {
    free(s->env[i].name);
    free(s->env[i].value);
  }
  free(s->env);
  memset(s, 0, sizeof *s);
}

void kq_run_spec_copy(kq_run_spec_t *dst, const kq_run_spec_t *src) {
  *dst = *src;
  dst->run_id = kq_strdup(src->run_id);
  dst->pod_uid = kq_strdup(src->pod_uid);
  dst->namespace_ = kq_strdup(src->namespace_);
  dst->pod_name = kq_strdup(src->pod_name);
  dst->container = kq_strdup(src->container);
  dst->module_url = kq_strdup(src->module_url);
  dst->glue_url = kq_strdup(src->glue_url);
  dst->entry = kq_strdup(src->entry);
  dst->digest = kq_strdup(src->digest);
  dst->args = src->nargs ? kq_calloc(src->nargs, sizeof(char *)) : NULL;
  for (uint32_t i = 0; i < src->nargs; i++) dst->args[i] = kq_strdup(src->args[i]);
  dst->env = src->nenv ? kq_calloc(src->nenv, sizeof(kq_env_var_t)) : NULL;
  for (uint32_t i = 0; i < src->nenv; i++) {
    dst->env[i].name = kq_strdup(src->env[i].name);
    dst->env[i].value = kq_strdup(src->env[i].value);
  }
}

const char *kq_run_event_name(kq_run_event_t e) {
  switch (e) {
    case KQ_RUN_ACCEPTED: return "accepted";
    case KQ_RUN_FETCHING: return "fetching";
    case KQ_RUN_COMPILING: return "compiling";
    case KQ_RUN_RUNNING: return "running";
    case KQ_RUN_EXITED: return "exited";
    case KQ_RUN_FAILED: return "failed";
    case KQ_RUN_CANCELLED: return "cancelled";
    case KQ_RUN_LOST: return "lost";
    case KQ_RUN_LOG: return "log";
  }
  return "unknown";
}

void kq_browser_event_msg_dtor(kq_msg_t *m) {
  kq_browser_event_msg_t *e = (kq_browser_event_msg_t *)m;
  kq_browser_info_clear(&e->info);
  free(e->reason);
}

void kq_browser_run_msg_dtor(kq_msg_t *m) { kq_run_spec_clear(&((kq_browser_run_msg_t *)m)->spec); }

void kq_browser_cancel_msg_dtor(kq_msg_t *m) {
  kq_browser_cancel_msg_t *c = (kq_browser_cancel_msg_t *)m;
  free(c->run_id);
  free(c->reason);
}

void kq_run_report_msg_dtor(kq_msg_t *m) {
  kq_run_report_msg_t *r = (kq_run_report_msg_t *)m;
  free(r->run_id);
  free(r->message);
  free(r->data);
  free(r->browser_id);
}
