/* The browser actor's runs and subscribers: run/cancel frames for the pods placed here, the
 * agent's status/log frames turned into run reports (only for runs it owns; lost runs are
 * reported too), and the capacity events (UP/CHANGED/DOWN) sent to subscribers. */
#include <stdlib.h>
#include <string.h>

#include "browser_internal.h"
#include "kq_alloc.h"

static void info_view(kq_actor_t *self, browser_t *b, kq_browser_info_t *v) {
  const binfo_t *i = &b->info;
  memset(v, 0, sizeof(*v));
  v->aid = kq_self(self);
  v->agent_id = i->agent_id;
  v->browser_id = i->browser_id[0] ? (char *)i->browser_id : NULL;
  v->cpu_millis = i->cpu_millis;
  v->memory_bytes = i->memory_bytes;
  v->max_pods = i->max_pods;
  v->gpu = (kq_gpu_class_t)i->gpu;
  v->gpu_vendor = i->gpu_vendor;
  v->gpu_arch = i->gpu_arch;
  v->rtt_us = i->rtt_us;
  v->throttled = i->throttled;
  v->overloaded = i->overloaded;
  v->nlabels = i->nlabels;
  for (uint32_t k = 0; k < i->nlabels; k++) v->labels[k] = i->labels[k];
}

void browser_info_clear(binfo_t *i) {
  free(i->agent_id);
  free(i->gpu_vendor);
  free(i->gpu_arch);
  for (uint32_t k = 0; k < i->nlabels; k++) {
    free(i->labels[k].key);
    free(i->labels[k].value);
  }
  free(i->labels);
  memset(i, 0, sizeof(*i));
}

static void publish_to(kq_actor_t *self, browser_t *b, kq_aid_t to, uint32_t id, kq_browser_event_kind_t kind,
                       const char *reason) {
  kq_browser_event_msg_t *e = KQ_MSG_NEW(kq_browser_event_msg_t, id);
  e->hdr.dtor = kq_browser_event_msg_dtor;
  e->kind = kind;
  kq_browser_info_t view;
  info_view(self, b, &view);
  kq_browser_info_copy(&e->info, &view);
  e->reason = kq_strdup(reason);
  kq_tell(self, to, &e->hdr);
}

void browser_publish(kq_actor_t *self, browser_t *b, kq_browser_event_kind_t kind, const char *reason) {
  const kq_browser_config_t *cfg = BCFG(b);
  for (uint32_t i = 0; i < cfg->nsubscribers && i < 4; i++)
    publish_to(self, b, cfg->subscribers[i], cfg->subscriber_event_ids[i], kind, reason);
  for (uint32_t i = 0; i < b->nsubs; i++) publish_to(self, b, b->subs[i].aid, b->subs[i].event_id, kind, reason);
}

static kq_run_report_msg_t *report_new(browser_t *b, const run_entry_t *run, kq_run_event_t ev) {
  kq_run_report_msg_t *r = KQ_MSG_NEW(kq_run_report_msg_t, run->report_id);
  r->hdr.dtor = kq_run_report_msg_dtor;
  r->event = ev;
  r->run_id = kq_strdup(run->run_id);
  r->browser_id = b->info.browser_id[0] ? kq_strdup(b->info.browser_id) : NULL;
  return r;
}

static int find_run(browser_t *b, const char *run_id) {
  if (!run_id) return -1;
  for (uint32_t i = 0; i < b->nruns; i++)
    if (strcmp(b->runs[i].run_id, run_id) == 0) return (int)i;
  return -1;
}

static void remove_run(browser_t *b, uint32_t i) {
  free(b->runs[i].run_id);
  b->runs[i] = b->runs[--b->nruns];
}

void browser_lose_run(kq_actor_t *self, browser_t *b, uint32_t i, const char *why) {
  kq_run_report_msg_t *r = report_new(b, &b->runs[i], KQ_RUN_LOST);
  r->message = kq_strdup(why);
  kq_counter_inc(BMET(b)->lost_runs);
  kq_tell(self, b->runs[i].pod, &r->hdr);
  remove_run(b, i);
}

void browser_on_status(kq_actor_t *self, browser_t *b, kq_proto_status_t *s) {
  int i = find_run(b, s->run_id);
  if (i < 0) {
    kq_counter_inc(BMET(b)->foreign_reports);
    browser_send_error(self, b, KQ_PROTO_ERR_UNKNOWN_RUN, s->run_id, "status");
    return;
  }
  kq_run_report_msg_t *r = report_new(b, &b->runs[i], (kq_run_event_t)s->phase);
  r->exit_code = s->exit_code;
  r->message = s->message;
  s->message = NULL;
  r->fetch_ms = s->fetch_ms;
  r->compile_ms = s->compile_ms;
  r->run_ms = s->run_ms;
  kq_aid_t pod = b->runs[i].pod;
  bool terminal = s->phase == KQ_PROTO_PHASE_EXITED || s->phase == KQ_PROTO_PHASE_FAILED ||
                  s->phase == KQ_PROTO_PHASE_CANCELLED;
  if (terminal) remove_run(b, (uint32_t)i);
  kq_tell(self, pod, &r->hdr);
}

void browser_on_log(kq_actor_t *self, browser_t *b, kq_proto_log_t *l) {
  int i = find_run(b, l->run_id);
  if (i < 0) {
    kq_counter_inc(BMET(b)->foreign_reports);
    browser_send_error(self, b, KQ_PROTO_ERR_UNKNOWN_RUN, l->run_id, "log");
    return;
  }
  kq_run_report_msg_t *r = report_new(b, &b->runs[i], KQ_RUN_LOG);
  r->stream = l->stream;
  r->seq = l->seq;
  r->wall_ns = kq_wall_ns(kq_system_clock(kq_actor_system(self)));
  r->data = (char *)l->data;
  r->len = l->len;
  l->data = NULL;
  kq_tell(self, b->runs[i].pod, &r->hdr);
}

void browser_on_run(kq_actor_t *self, browser_t *b, kq_browser_run_msg_t *m) {
  run_entry_t tmp = {.run_id = m->spec.run_id, .pod = m->hdr.from, .report_id = m->report_id};
  if (b->state != B_LIVE || !m->spec.run_id) {
    kq_run_report_msg_t *r = report_new(b, &tmp, KQ_RUN_FAILED);
    r->message = kq_strdup(b->state == B_DETACHED ? "browser disconnected" : "browser not available");
    kq_tell(self, m->hdr.from, &r->hdr);
    return;
  }
  kq_proto_msg_t pm = {.type = KQ_PROTO_RUN};
  kq_proto_run_t *r = &pm.run;
  const kq_run_spec_t *s = &m->spec;
  r->run_id = s->run_id;
  r->pod_uid = s->pod_uid;
  r->namespace_ = s->namespace_;
  r->pod_name = s->pod_name;
  r->container = s->container;
  r->kind = (kq_proto_kind_t)s->kind;
  r->module_url = s->module_url;
  r->glue_url = s->glue_url;
  r->entry = s->entry;
  r->digest = s->digest;
  r->nargs = s->nargs;
  r->args = s->args;
  r->nenv = s->nenv;
  r->env = (kq_proto_env_t *)s->env;
  r->cpu_millis = s->cpu_millis;
  r->memory_bytes = s->memory_bytes;
  r->timeout_ms = s->timeout_ms;
  int i = find_run(b, s->run_id);
  if (i >= 0) remove_run(b, (uint32_t)i);
  if (b->nruns == UINT16_MAX) {
    kq_run_report_msg_t *rep = report_new(b, &tmp, KQ_RUN_FAILED);
    rep->message = kq_strdup("browser has too many runs");
    kq_tell(self, m->hdr.from, &rep->hdr);
    return;
  }
  b->runs = kq_realloc(b->runs, (b->nruns + 1u) * sizeof(*b->runs));
  b->runs[b->nruns++] = (run_entry_t){kq_strdup(s->run_id), m->hdr.from, m->report_id};
  browser_send_frame(self, b, &pm);
}

void browser_on_cancel(kq_actor_t *self, browser_t *b, kq_browser_cancel_msg_t *m) {
  int i = find_run(b, m->run_id);
  if (i < 0) return;
  if (b->state != B_LIVE) { /* nobody to tell: the agent cancels unknown runs on resume */
    kq_run_report_msg_t *r = report_new(b, &b->runs[i], KQ_RUN_CANCELLED);
    r->message = kq_strdup("cancelled while the browser was disconnected");
    kq_tell(self, b->runs[i].pod, &r->hdr);
    remove_run(b, (uint32_t)i);
    return;
  }
  kq_proto_msg_t pm = {.type = KQ_PROTO_CANCEL};
  pm.cancel.run_id = m->run_id;
  pm.cancel.reason = m->reason;
  browser_send_frame(self, b, &pm);
}

void browser_on_subscribe(kq_actor_t *self, browser_t *b, kq_browser_subscribe_msg_t *m) {
  for (uint32_t i = 0; i < b->nsubs; i++)
    if (b->subs[i].aid == m->hdr.from) {
      b->subs[i].event_id = m->event_id;
      return;
    }
  if (b->nsubs == UINT16_MAX) return;
  b->subs = kq_realloc(b->subs, (b->nsubs + 1u) * sizeof(*b->subs));
  b->subs[b->nsubs++] = (sub_entry_t){m->hdr.from, m->event_id};
  if (b->announced) publish_to(self, b, m->hdr.from, m->event_id, KQ_BROWSER_UP, NULL);
}

void browser_on_unsubscribe(browser_t *b, kq_aid_t who) {
  for (uint32_t i = 0; i < b->nsubs; i++)
    if (b->subs[i].aid == who) {
      b->subs[i] = b->subs[--b->nsubs];
      return;
    }
}
