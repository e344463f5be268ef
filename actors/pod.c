/* The pod actor (see kq_pod.h): one Pod's life from spec to final status. States:
 *   IMAGE    waiting for the image service (ContainerCreating / ErrImagePull / ImagePullBackOff)
 *   PLACING  waiting for the scheduler (WaitingForBrowser)
 *   STARTING run sent to a browser, not yet running (ContainerCreating)
 *   RUNNING  the workload runs in a browser
 *   BACKOFF  between runs (CrashLoopBackOff) under restartPolicy OnFailure/Always
 *   DONE     terminal phase reported (Succeeded/Failed); the actor waits for deletion
 *   DELETING cancel sent, waiting for the browser or the grace period
 * Every change is reported to the sink as a status snapshot, every step as an Event. Before
 * IMAGE, in Kubernetes mode, CONFIG reads the Secrets and ConfigMaps the Pod references
 * (imagePullSecrets, env from ConfigMaps, opted-in env from Secrets); a missing one keeps the Pod
 * waiting (CreateContainerConfigError) and is read again with back-off. A deadline cancel the
 * browser never confirms ends the Pod after the grace period all the same. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_browser.h"
#include "kq_image.h"
#include "kq_k8s_client.h"
#include "kq_oci_store.h"
#include "kq_log.h"
#include "kq_scheduler.h"
#include "pod_internal.h"

#define POD_MSGS(X) X(POD_IMAGE_REPLY) X(POD_PLACED) X(POD_WAITING) X(POD_RUN_REPORT) X(POD_OBJECT_REPLY)
KQ_MSG_IDS(pod, POD_MSGS)

enum { T_BACKOFF = 1, T_DEADLINE, T_GRACE, T_IMAGE_RETRY, T_CONFIG_RETRY, T_DEADLINE_GRACE };

typedef enum {
  S_IMAGE, S_PLACING, S_STARTING, S_RUNNING, S_BACKOFF, S_DONE, S_DELETING, S_CONFIG
} pod_state_t;
static const char *const state_names[] = {"image", "placing", "starting", "running",
                                          "backoff", "done", "deleting", "config"};

typedef struct pod {
  kq_actor_t *self;
  kq_pod_t pod;
  kq_pod_config_t cfg;       /* pointers copied; strings below owned */
  char *node_name, *cache_key, *key;  /* key = "ns/name" for logs */
  pod_state_t state;
  kq_pod_runstate_t rs;
  kq_logstream_t *logs;
  /* artefact */
  bool have_artefact;
  kq_oci_artefact_t art;
  uint32_t image_failures;
  /* referenced Secrets / ConfigMaps (Kubernetes mode) */
  kq_pod_refs_t refs;
  uint32_t config_failures;
  char **pull_texts;         /* Docker config.json texts: configured + from imagePullSecrets */
  size_t npull_texts;
  /* run */
  kq_aid_t browser;
  kq_aid_t last_browser;     /* the browser of a failed run, avoided on the re-run */
  char *browser_id;
  uint32_t attempt;
  bool deleting;
  bool deadline_hit;
  uint64_t deadline_wall_ns; /* activeDeadlineSeconds expire here (wall), 0 = none */
  kq_timer_id_t t_backoff, t_deadline, t_grace, t_image, t_config, t_deadline_grace;
  char *last_reported;       /* de-dup identical snapshots */
} pod_t;

/* ---- reporting ---- */

static void sink_event(pod_t *p, bool warning, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void sink_event(pod_t *p, bool warning, const char *reason, const char *fmt, ...) {
  kq_sink_event_msg_t *m = KQ_MSG_NEW(kq_sink_event_msg_t, KQ_SINK_MSG_POD_EVENT);
  m->hdr.dtor = kq_sink_event_msg_dtor;
  m->ns = kq_strdup(kq_pod_namespace(&p->pod));
  m->name = kq_strdup(p->pod.meta.name);
  m->uid = kq_strdup(p->pod.meta.uid);
  m->warning = warning;
  m->reason = kq_strdup(reason);
  va_list ap;
  va_start(ap, fmt);
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  m->message = kq_strdup(buf);
  kq_tell(p->self, p->cfg.sink, &m->hdr);
}

static void report(pod_t *p) {
  kq_pod_status_t st;
  kq_pod_build_status(&p->rs, &st);
  /* Skip snapshots identical to the last one (timers and log chunks cause none). */
  size_t len = 0;
  char *json = kq_k8s_pod_status_patch(&st, &len);
  if (p->last_reported && json && strcmp(p->last_reported, json) == 0) {
    free(json);
    kq_pod_status_clear(&st);
    return;
  }
  free(p->last_reported);
  p->last_reported = json;
  kq_sink_status_msg_t *m = KQ_MSG_NEW(kq_sink_status_msg_t, KQ_SINK_MSG_POD_STATUS);
  m->hdr.dtor = kq_sink_status_msg_dtor;
  m->ns = kq_strdup(kq_pod_namespace(&p->pod));
  m->name = kq_strdup(p->pod.meta.name);
  m->uid = kq_strdup(p->pod.meta.uid);
  m->cache_key = kq_strdup(p->cache_key);
  m->browser_id = kq_strdup(p->browser_id);
  m->status = st;
  kq_tell(p->self, p->cfg.sink, &m->hdr);
}

static void set_waiting(pod_t *p, const char *reason, const char *message) {
  kq_pod_cstate_set(&p->rs.cur, KQ_CSTATE_WAITING, reason, message);
}

static void set_phase(pod_t *p, kq_pod_phase_t ph, const char *reason, const char *message) {
  p->rs.phase = ph;
  free(p->rs.pod_reason);
  free(p->rs.pod_message);
  p->rs.pod_reason = kq_strdup(reason);
  p->rs.pod_message = kq_strdup(message);
}

static uint64_t wall(pod_t *p) { return kq_wall_ns(kq_system_clock(kq_actor_system(p->self))); }

static void goto_state(pod_t *p, pod_state_t s) {
  if (p->state != s)
    KQ_DEBUG("pod", "state", "pod=%s from=%s to=%s", p->key, state_names[p->state], state_names[s]);
  p->state = s;
}

/* ---- steps ---- */

static void request_image(pod_t *p);
static void request_placement(pod_t *p);

static bool restart_wanted(const pod_t *p, int exit_code) {
  const char *rp = p->pod.spec.restart_policy;
  if (!rp || !strcmp(rp, "Always")) return true;
  if (!strcmp(rp, "OnFailure")) return exit_code != 0;
  return false;
}

static void sched_tell(pod_t *p, uint32_t id) {
  kq_sched_pod_msg_t *m = kq_sched_pod_msg_new(id, p->pod.meta.uid);
  kq_tell(p->self, p->cfg.scheduler, &m->hdr);
}

static void release_browser(pod_t *p) {
  if (p->browser == KQ_AID_NONE) return;
  sched_tell(p, KQ_SCHED_MSG_RELEASE);
  p->browser = KQ_AID_NONE;
}

static void finish(pod_t *p, kq_pod_phase_t ph, const char *reason, const char *message) {
  release_browser(p);
  if (p->t_deadline) kq_timer_cancel(p->self, p->t_deadline), p->t_deadline = 0;
  if (p->t_deadline_grace) kq_timer_cancel(p->self, p->t_deadline_grace), p->t_deadline_grace = 0;
  if (p->t_config) kq_timer_cancel(p->self, p->t_config), p->t_config = 0;
  set_phase(p, ph, reason, message);
  if (p->logs) kq_logstream_end(p->logs, wall(p));
  goto_state(p, S_DONE);
  report(p);
}

/* The container stopped (exit, failure, cancel or loss): record it, then restart or finish. */
static void container_stopped(pod_t *p, int exit_code, const char *reason, const char *message) {
  kq_container_state_t term = {0};
  term.kind = KQ_CSTATE_TERMINATED;
  term.exit_code = exit_code;
  term.reason = kq_strdup(reason);
  term.message = kq_strdup(message);
  term.started_ns = p->rs.cur.kind == KQ_CSTATE_RUNNING ? p->rs.cur.started_ns : 0;
  term.finished_ns = wall(p);
  term.container_id = p->rs.run_id ? kq_asprintf("kuack://%s", p->rs.run_id) : NULL;
  kq_pod_cstate_clear(&p->rs.cur);
  p->rs.cur = term;
  p->rs.ready_since_ns = wall(p);
  if (p->logs) kq_logstream_end(p->logs, wall(p));
  if (exit_code != 0) p->last_browser = p->browser;
  release_browser(p);
  free(p->browser_id);
  p->browser_id = NULL;
}

static void start_backoff(pod_t *p) {
  uint64_t d = kq_pod_backoff_ns(p->rs.restarts, p->cfg.backoff_base_ns, p->cfg.backoff_max_ns);
  /* The terminated state moves to lastState; current is waiting in CrashLoopBackOff. */
  kq_pod_cstate_clear(&p->rs.last);
  p->rs.last = p->rs.cur;
  memset(&p->rs.cur, 0, sizeof p->rs.cur);
  char msg[256];
  snprintf(msg, sizeof msg, "back-off %llus restarting failed container=%s pod=%s",
           (unsigned long long)(d / KQ_SEC(1)), p->rs.container, p->pod.meta.name);
  set_waiting(p, "CrashLoopBackOff", msg);
  p->rs.restarts++;
  goto_state(p, S_BACKOFF);
  p->t_backoff = kq_timer_start(p->self, d, 0, T_BACKOFF);
  sink_event(p, true, "BackOff", "Back-off restarting container %s (%llus)", p->rs.container,
             (unsigned long long)(d / KQ_SEC(1)));
  report(p);
}

static void after_exit(pod_t *p, int exit_code) {
  if (!p->deleting && !p->deadline_hit && restart_wanted(p, exit_code)) {
    start_backoff(p);
    return;
  }
  if (exit_code == 0)
    finish(p, KQ_PHASE_SUCCEEDED, NULL, NULL);
  else
    finish(p, KQ_PHASE_FAILED, NULL, NULL);
}

/* ---- referenced Secrets and ConfigMaps (pod_refs.c) ---- */

static void read_refs(pod_t *p) {
  goto_state(p, S_CONFIG);
  kq_pod_refs_begin(&p->refs);
  const char *ns = kq_pod_namespace(&p->pod);
  for (size_t i = 0; i < p->refs.n; i++) {
    const kq_pod_ref_t *r = &p->refs.v[i];
    uint64_t cookie = kq_pod_refs_cookie(&p->refs, i);
    kq_aid_t me = kq_self(p->self);
    int rc = p->cfg.object_request
                 ? p->cfg.object_request(p->cfg.object_request_ud, r->secret, ns, r->name, me,
                                         POD_OBJECT_REPLY, cookie)
             : r->secret
                 ? kq_k8s_get_secret(p->self, p->cfg.api, ns, r->name, POD_OBJECT_REPLY, cookie)
                 : kq_k8s_get_configmap(p->self, p->cfg.api, ns, r->name, POD_OBJECT_REPLY, cookie);
    if (rc != KQ_OK) kq_pod_refs_fail(&p->refs, i, rc);
  }
}

static void pull_texts_reset(pod_t *p) {
  for (size_t i = 0; i < p->npull_texts; i++) free(p->pull_texts[i]);
  free(p->pull_texts);
  p->pull_texts = NULL;
  p->npull_texts = 0;
  for (size_t i = 0; i < p->cfg.npull_secrets; i++) {
    p->pull_texts = kq_realloc(p->pull_texts, (p->npull_texts + 1) * sizeof(char *));
    p->pull_texts[p->npull_texts++] = kq_strdup(p->cfg.pull_secrets[i]);
  }
}

static void refs_done(pod_t *p) {
  pull_texts_reset(p);
  bool pull = false;
  char *why = kq_pod_refs_problem(&p->refs, &p->pod, &pull, &p->pull_texts, &p->npull_texts);
  if (!why) {
    p->config_failures = 0;
    request_image(p);
    return;
  }
  p->config_failures++;
  set_waiting(p, "CreateContainerConfigError", why);
  if (pull)
    sink_event(p, true, "FailedToRetrieveImagePullSecret", "%s", why);
  else
    sink_event(p, true, "Failed", "Error: %s", why);
  uint64_t d = kq_pod_backoff_ns(p->config_failures - 1, p->cfg.backoff_base_ns, p->cfg.backoff_max_ns);
  p->t_config = kq_timer_start(p->self, d, 0, T_CONFIG_RETRY);
  free(why);
  report(p);
}

static void on_object_reply(pod_t *p, kq_k8s_data_msg_t *d) {
  if (p->state != S_CONFIG || p->deleting) return;
  if (kq_pod_refs_answer(&p->refs, d) && p->refs.pending == 0) refs_done(p);
}

/* Start of the Pod's work: read what it references (Kubernetes mode), then the image. */
static void configure(pod_t *p) {
  pull_texts_reset(p);
  if (p->refs.n && (p->cfg.api != KQ_AID_NONE || p->cfg.object_request)) {
    set_waiting(p, "ContainerCreating", NULL);
    report(p);
    read_refs(p);
    if (p->refs.pending == 0) refs_done(p);
    return;
  }
  request_image(p);
}

/* ---- run spec ---- */

static const char *env_field(const pod_t *p, const char *path) {
  if (!path) return NULL;
  if (!strcmp(path, "metadata.name")) return p->pod.meta.name;
  if (!strcmp(path, "metadata.namespace")) return kq_pod_namespace(&p->pod);
  if (!strcmp(path, "metadata.uid")) return p->pod.meta.uid;
  if (!strcmp(path, "spec.nodeName")) return p->node_name;
  if (!strcmp(path, "spec.serviceAccountName")) return p->pod.spec.service_account_name;
  if (!strcmp(path, "status.hostIP") || !strcmp(path, "status.podIP")) return p->rs.host_ip;
  if (!strncmp(path, "metadata.labels['", 17) || !strncmp(path, "metadata.annotations['", 22)) {
    bool labels = path[9] == 'l';
    const char *k = path + (labels ? 17 : 22);
    size_t n = strcspn(k, "'");
    char key[256];
    if (n >= sizeof key) return NULL;
    memcpy(key, k, n);
    key[n] = 0;
    return labels ? kq_k8s_meta_label(&p->pod.meta, key) : kq_k8s_meta_annotation(&p->pod.meta, key);
  }
  return NULL;
}

static void push_env(kq_run_spec_t *s, const char *name, const char *value) {
  for (uint32_t i = 0; i < s->nenv; i++)
    if (!strcmp(s->env[i].name, name)) {
      free(s->env[i].value);
      s->env[i].value = kq_strdup(value ? value : "");
      return;
    }
  s->env = kq_realloc(s->env, (s->nenv + 1) * sizeof(kq_env_var_t));
  s->env[s->nenv].name = kq_strdup(name);
  s->env[s->nenv].value = kq_strdup(value ? value : "");
  s->nenv++;
}

static void push_arg(kq_run_spec_t *s, const char *a) {
  s->args = kq_realloc(s->args, (s->nargs + 1) * sizeof(char *));
  s->args[s->nargs++] = kq_strdup(a);
}

/* Kubernetes precedence: Pod command replaces Entrypoint (and then image Cmd is ignored), Pod
 * args replace Cmd. $(VAR) expansion is not done. argv[0] is the module name. */
static void build_argv(const pod_t *p, kq_run_spec_t *s) {
  const kq_pod_container_t *c = &p->pod.spec.containers[0];
  const kq_oci_artefact_t *a = &p->art;
  char **ep = c->ncommand ? c->command : a->entrypoint;
  size_t nep = c->ncommand ? c->ncommand : a->nentrypoint;
  char **cmd = c->nargs ? c->args : (c->ncommand ? NULL : a->cmd);
  size_t ncmd = c->nargs ? c->nargs : (c->ncommand ? 0 : a->ncmd);
  if (nep == 0 && ncmd == 0) {
    push_arg(s, a->module[0] ? a->module : "main.wasm");
    return;
  }
  /* A .wasm entrypoint names the module itself: it becomes argv[0]. Otherwise argv[0] is the
   * module file and the rest follows. */
  size_t i = 0;
  if (nep && strstr(ep[0], ".wasm")) {
    push_arg(s, ep[0]);
    i = 1;
  } else if (!nep && ncmd && strstr(cmd[0], ".wasm")) {
    push_arg(s, cmd[0]);
    for (size_t j = 1; j < ncmd; j++) push_arg(s, cmd[j]);
    return;
  } else {
    push_arg(s, a->module[0] ? a->module : "main.wasm");
  }
  for (; i < nep; i++) push_arg(s, ep[i]);
  for (size_t j = 0; j < ncmd; j++) push_arg(s, cmd[j]);
}

static void build_run(pod_t *p, kq_run_spec_t *s) {
  const kq_pod_container_t *c = &p->pod.spec.containers[0];
  memset(s, 0, sizeof *s);
  s->run_id = kq_strdup(p->rs.run_id);
  s->pod_uid = kq_strdup(p->pod.meta.uid);
  s->namespace_ = kq_strdup(kq_pod_namespace(&p->pod));
  s->pod_name = kq_strdup(p->pod.meta.name);
  s->container = kq_strdup(c->name);
  s->kind = p->art.kind == KQ_OCI_KIND_BINDGEN ? KQ_WORKLOAD_BINDGEN : KQ_WORKLOAD_WASI;
  s->entry = kq_strdup(kq_k8s_meta_annotation(&p->pod.meta, "kuack.io/wasm-entry"));
  s->digest = kq_strdup(p->art.module_digest[0] ? p->art.module_digest : NULL);
  if (p->cfg.artefact_url) {
    s->module_url = p->cfg.artefact_url(p->cfg.artefact_url_ud, p->rs.run_id, p->art.digest, p->art.module);
    if (p->art.glue[0])
      s->glue_url = p->cfg.artefact_url(p->cfg.artefact_url_ud, p->rs.run_id, p->art.digest, p->art.glue);
  }
  build_argv(p, s);
  for (size_t i = 0; i < p->art.nenv; i++) {
    const char *kv = p->art.env[i];
    const char *eq = strchr(kv, '=');
    if (!eq) continue;
    char *name = kq_strndup(kv, (size_t)(eq - kv));
    push_env(s, name, eq + 1);
    free(name);
  }
  /* envFrom before env (env wins), like the kubelet; keys that are no env name are skipped. */
  for (size_t i = 0; i < c->nenv_from; i++) {
    const kq_pod_env_from_t *ef = &c->env_from[i];
    const kq_pod_ref_t *r = kq_pod_refs_find(&p->refs, ef->secret, ef->ref_name);
    if (!r || r->rc != KQ_OK) continue;
    for (size_t j = 0; j < r->ndata; j++) {
      if (!r->data[j].key || !r->data[j].key[0] || strchr(r->data[j].key, '=')) continue;
      char *name = kq_asprintf("%s%s", ef->prefix ? ef->prefix : "", r->data[j].key);
      push_env(s, name, r->data[j].value);
      free(name);
    }
  }
  for (size_t i = 0; i < c->nenv; i++) {
    const kq_pod_env_t *e = &c->env[i];
    bool keyref = e->source == KQ_ENV_CONFIGMAP_KEY || e->source == KQ_ENV_SECRET_KEY;
    bool secret = e->source == KQ_ENV_SECRET_KEY;
    const kq_pod_ref_t *ref = keyref ? kq_pod_refs_find(&p->refs, secret, e->ref_name) : NULL;
    if (ref) {
      const char *v = kq_pod_ref_value(ref, e->ref_key);
      if (v) push_env(s, e->name, v); /* missing + optional: left out */
    } else if (e->source == KQ_ENV_VALUE) push_env(s, e->name, e->value);
    else if (e->source == KQ_ENV_FIELD_REF) push_env(s, e->name, env_field(p, e->field_path));
    else if (e->source == KQ_ENV_RESOURCE_REF) {
      char v[32] = "0";
      const kq_pod_resources_t *r = &c->resources;
      if (e->field_path && strstr(e->field_path, "cpu"))
        snprintf(v, sizeof v, "%lld", (long long)((r->limits.cpu_millis > 0 ? r->limits.cpu_millis : r->requests.cpu_millis) + 999) / 1000);
      else if (e->field_path && strstr(e->field_path, "memory"))
        snprintf(v, sizeof v, "%lld", (long long)(r->limits.memory_bytes > 0 ? r->limits.memory_bytes : r->requests.memory_bytes));
      push_env(s, e->name, v);
    } else if (e->value) {
      push_env(s, e->name, e->value); /* configMap/secret refs resolved by the source */
    }
  }
  const kq_pod_resources_t *r = &c->resources;
  s->cpu_millis = r->limits.cpu_millis > 0 ? r->limits.cpu_millis : r->requests.cpu_millis;
  s->memory_bytes = r->limits.memory_bytes > 0 ? r->limits.memory_bytes : r->requests.memory_bytes;
  if (p->deadline_wall_ns) {
    /* The browser gets what is left of the deadline counted from the Pod's start on the node
     * (when the deadline timer was armed), so every run, the first included, is bounded. */
    uint64_t deadline = p->deadline_wall_ns;
    uint64_t now = wall(p);
    s->timeout_ms = deadline > now ? (uint32_t)((deadline - now) / KQ_MS(1)) : 1;
  }
}

static void send_run(pod_t *p) {
  p->attempt++;
  free(p->rs.run_id);
  p->rs.run_id = kq_asprintf("%s-%u", p->pod.meta.uid, p->attempt);
  if (p->logs && p->attempt > 1) kq_logstream_new_run(p->logs);
  kq_browser_run_msg_t *m = KQ_MSG_NEW(kq_browser_run_msg_t, KQ_BROWSER_MSG_RUN);
  m->hdr.dtor = kq_browser_run_msg_dtor;
  m->report_id = POD_RUN_REPORT;
  build_run(p, &m->spec);
  goto_state(p, S_STARTING);
  set_waiting(p, "ContainerCreating", NULL);
  kq_tell(p->self, p->browser, &m->hdr);
  report(p);
}

static void send_cancel(pod_t *p, const char *reason) {
  if (p->browser == KQ_AID_NONE || !p->rs.run_id) return;
  kq_browser_cancel_msg_t *m = KQ_MSG_NEW(kq_browser_cancel_msg_t, KQ_BROWSER_MSG_CANCEL);
  m->hdr.dtor = kq_browser_cancel_msg_dtor;
  m->run_id = kq_strdup(p->rs.run_id);
  m->reason = kq_strdup(reason);
  kq_tell(p->self, p->browser, &m->hdr);
}

/* ---- image ---- */

/* imageID as Kubernetes shows it: "<repository>@<digest>" (tag dropped). */
static char *image_id(const char *image, const char *digest) {
  if (!image || !digest || !digest[0]) return NULL;
  const char *at = strchr(image, '@');
  size_t n = at ? (size_t)(at - image) : strlen(image);
  const char *slash = strrchr(image, '/');
  const char *colon = strrchr(image, ':');
  if (!at && colon && (!slash || colon > slash)) n = (size_t)(colon - image);
  return kq_asprintf("%.*s@%s", (int)n, image, digest);
}

static void request_image(pod_t *p) {
  goto_state(p, S_IMAGE);
  if (p->image_failures == 0) set_waiting(p, "ContainerCreating", NULL);
  const kq_pod_container_t *c = &p->pod.spec.containers[0];
  kq_image_request_t rq = {
      .image = c->image,
      .wasm_type = kq_k8s_meta_annotation(&p->pod.meta, "kuack.io/wasm-type"),
      .wasm_path = kq_k8s_meta_annotation(&p->pod.meta, "kuack.io/wasm-path"),
      .secrets = (const char *const *)p->pull_texts,
      .nsecrets = p->npull_texts,
      .reply_to = kq_self(p->self),
      .reply_id = POD_IMAGE_REPLY,
  };
  if (kq_pull_policy_parse(c->image_pull_policy ? c->image_pull_policy : "", c->image, &rq.policy) != KQ_OK)
    rq.policy = KQ_PULL_IF_NOT_PRESENT;
  report(p);
  if (p->cfg.image_request)
    p->cfg.image_request(p->cfg.image_request_ud, &rq);
  else
    kq_image_service_request(p->cfg.images, &rq);
}

static void on_image_reply(pod_t *p, kq_image_reply_t *r) {
  if (p->state != S_IMAGE || p->deleting) return;
  const kq_pod_container_t *c = &p->pod.spec.containers[0];
  if (r->rc != KQ_OK) {
    p->image_failures++;
    const char *rname = kq_oci_reason_str(r->reason);
    bool permanent = r->reason == KQ_OCI_REASON_INVALID_NAME || r->reason == KQ_OCI_REASON_NEVER_PULL;
    const char *reason = permanent ? rname : (p->image_failures > 1 ? "ImagePullBackOff" : "ErrImagePull");
    set_waiting(p, reason, r->message);
    sink_event(p, true, permanent ? rname : "Failed", "Failed to pull image \"%s\": %s", c->image,
               r->message[0] ? r->message : "unknown error");
    if (!permanent) {
      uint64_t d = kq_pod_backoff_ns(p->image_failures - 1, p->cfg.backoff_base_ns, p->cfg.backoff_max_ns);
      p->t_image = kq_timer_start(p->self, d, 0, T_IMAGE_RETRY);
    }
    report(p);
    return;
  }
  kq_oci_artefact_free(&p->art);
  /* art.module_digest (the module file's sha256, computed off the loop by the image plane) is
   * what the agent checks the module it fetched against; the manifest digest names the image. */
  kq_oci_artefact_copy(&p->art, &r->art);
  if (p->cfg.images) kq_image_service_pin(p->cfg.images, p->art.digest);
  p->have_artefact = true;
  p->image_failures = 0;
  free(p->rs.image_id);
  p->rs.image_id = image_id(c->image, p->art.digest);
  sink_event(p, false, "Pulled", "Container image \"%s\" ready: %s %s (%s)", c->image,
             p->art.kind == KQ_OCI_KIND_BINDGEN ? "wasm-bindgen pkg" : "WASI module",
             p->art.module, p->art.digest);
  request_placement(p);
}

/* ---- placement ---- */

static void request_placement(pod_t *p) {
  goto_state(p, S_PLACING);
  const kq_pod_container_t *c = &p->pod.spec.containers[0];
  const kq_pod_resources_t *r = &c->resources;
  kq_sched_place_msg_t *m = kq_sched_place_msg_new();
  m->placed_id = POD_PLACED;
  m->waiting_id = POD_WAITING;
  m->pod_uid = kq_strdup(p->pod.meta.uid);
  m->namespace_ = kq_strdup(kq_pod_namespace(&p->pod));
  m->pod_name = kq_strdup(p->pod.meta.name);
  m->cpu_millis = r->requests.cpu_millis > 0 ? r->requests.cpu_millis : 0;
  m->memory_bytes = r->requests.memory_bytes > 0 ? r->requests.memory_bytes : 0;
  int64_t gpu = r->requests.gpu > 0 ? r->requests.gpu : (r->limits.gpu > 0 ? r->limits.gpu : 0);
  m->gpu = (uint32_t)gpu;
  m->priority = p->pod.spec.has_priority ? p->pod.spec.priority : 0;
  const char *rtt = kq_k8s_meta_annotation(&p->pod.meta, "kuack.io/max-rtt-ms");
  m->max_rtt_ms = rtt ? (uint32_t)strtoul(rtt, NULL, 10) : 0;
  m->selector = kq_strdup(kq_k8s_meta_annotation(&p->pod.meta, "kuack.io/browser-selector"));
  m->exclude = p->last_browser;
  kq_tell(p->self, p->cfg.scheduler, &m->hdr);
}

static void on_waiting(pod_t *p, const kq_sched_waiting_msg_t *w) {
  if (p->state != S_PLACING || p->deleting) return;
  set_waiting(p, w->reason ? w->reason : KQ_SCHED_REASON_WAITING, w->message);
  if (w->reason && !strcmp(w->reason, KQ_SCHED_REASON_BAD_SELECTOR)) {
    sink_event(p, true, "FailedScheduling", "%s", w->message ? w->message : "invalid browser selector");
    finish(p, KQ_PHASE_FAILED, KQ_SCHED_REASON_BAD_SELECTOR, w->message);
    return;
  }
  report(p);
}

static void on_placed(pod_t *p, const kq_sched_placed_msg_t *r) {
  if (p->state != S_PLACING || p->deleting) {
    /* A late placement for a pod that moved on: give the reservation back. */
    sched_tell(p, KQ_SCHED_MSG_RELEASE);
    return;
  }
  p->browser = r->browser;
  p->last_browser = KQ_AID_NONE;
  free(p->browser_id);
  p->browser_id = kq_strdup(r->browser_id);
  sink_event(p, false, "Scheduled", "%s", r->explanation ? r->explanation : "placed");
  send_run(p);
}

/* ---- run reports ---- */

static void on_run_report(pod_t *p, kq_run_report_msg_t *r) {
  if (!p->rs.run_id || !r->run_id || strcmp(r->run_id, p->rs.run_id) != 0) return; /* stale run */
  if (p->state != S_STARTING && p->state != S_RUNNING && p->state != S_DELETING) return;
  switch (r->event) {
    case KQ_RUN_LOG:
      if (p->logs) kq_logstream_append(p->logs, r->stream, r->wall_ns ? r->wall_ns : wall(p), r->data, r->len);
      return;
    case KQ_RUN_ACCEPTED:
    case KQ_RUN_FETCHING:
    case KQ_RUN_COMPILING:
      return;
    case KQ_RUN_RUNNING:
      if (p->state != S_STARTING) return;
      kq_pod_cstate_set(&p->rs.cur, KQ_CSTATE_RUNNING, NULL, NULL);
      p->rs.cur.started_ns = wall(p);
      p->rs.ready_since_ns = p->rs.cur.started_ns;
      set_phase(p, KQ_PHASE_RUNNING, NULL, NULL);
      goto_state(p, S_RUNNING);
      sink_event(p, false, "Started", "Started container %s on browser %s (fetch %llums, compile %llums)",
                 p->rs.container, p->browser_id ? p->browser_id : "?", (unsigned long long)r->fetch_ms,
                 (unsigned long long)r->compile_ms);
      report(p);
      return;
    case KQ_RUN_EXITED: {
      int code = r->exit_code;
      if (p->state == S_STARTING) { /* ran too fast for a RUNNING report */
        p->rs.cur.started_ns = wall(p);
        p->rs.cur.kind = KQ_CSTATE_RUNNING;
      }
      /* The agent's timings, for `kubectl describe pod` (the Started Event has fetch/compile). */
      sink_event(p, code != 0, "Exited",
                 "Container %s exited with code %d on browser %s (fetch %llums, compile %llums, run %llums)",
                 p->rs.container, code, p->browser_id ? p->browser_id : "?",
                 (unsigned long long)r->fetch_ms, (unsigned long long)r->compile_ms,
                 (unsigned long long)r->run_ms);
      container_stopped(p, code, code == 0 ? "Completed" : "Error", NULL);
      if (p->state == S_DELETING) return;
      if (p->deadline_hit) {
        finish(p, KQ_PHASE_FAILED, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline");
        return;
      }
      after_exit(p, code);
      return;
    }
    case KQ_RUN_FAILED:
      container_stopped(p, 128, "StartError", r->message ? r->message : "the browser could not run the workload");
      sink_event(p, true, "Failed", "Error: %s", r->message ? r->message : "run failed");
      if (p->state == S_DELETING) return;
      after_exit(p, 128);
      return;
    case KQ_RUN_CANCELLED:
      container_stopped(p, 137, p->deadline_hit ? "DeadlineExceeded" : "Cancelled", r->message);
      if (p->state == S_DELETING) return;
      if (p->deadline_hit)
        finish(p, KQ_PHASE_FAILED, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline");
      else
        after_exit(p, 137);
      return;
    case KQ_RUN_LOST: {
      char msg[256];
      snprintf(msg, sizeof msg, "browser %s disconnected: %s", r->browser_id ? r->browser_id : (p->browser_id ? p->browser_id : "?"),
               r->message ? r->message : "connection lost");
      container_stopped(p, 137, "NodeLost", msg);
      if (p->state == S_DELETING) return;
      sink_event(p, true, "NodeLost", "%s", msg);
      finish(p, KQ_PHASE_FAILED, "NodeLost", msg);
      return;
    }
  }
}

/* ---- deletion ---- */

/* The grace period: `asked` when given (>= 0), else the Pod's terminationGracePeriodSeconds
 * (Kubernetes default 30). */
static int64_t grace_s(const pod_t *p, int64_t asked) {
  if (asked >= 0) return asked;
  return p->pod.spec.termination_grace_s >= 0 ? p->pod.spec.termination_grace_s : 30;
}

static void gone(pod_t *p) {
  kq_sink_gone_msg_t *m = KQ_MSG_NEW(kq_sink_gone_msg_t, KQ_SINK_MSG_POD_GONE);
  m->hdr.dtor = kq_sink_gone_msg_dtor;
  m->ns = kq_strdup(kq_pod_namespace(&p->pod));
  m->name = kq_strdup(p->pod.meta.name);
  m->uid = kq_strdup(p->pod.meta.uid);
  m->cache_key = kq_strdup(p->cache_key);
  kq_tell(p->self, p->cfg.sink, &m->hdr);
  kq_actor_stop(kq_actor_system(p->self), kq_self(p->self));
}

static void on_delete(pod_t *p, const kq_pod_delete_msg_t *d) {
  if (p->deleting) return;
  p->deleting = true;
  if (p->t_backoff) kq_timer_cancel(p->self, p->t_backoff), p->t_backoff = 0;
  if (p->t_image) kq_timer_cancel(p->self, p->t_image), p->t_image = 0;
  if (p->t_config) kq_timer_cancel(p->self, p->t_config), p->t_config = 0;
  if (p->t_deadline) kq_timer_cancel(p->self, p->t_deadline), p->t_deadline = 0;
  if (p->t_deadline_grace) kq_timer_cancel(p->self, p->t_deadline_grace), p->t_deadline_grace = 0;
  if (p->state == S_PLACING) sched_tell(p, KQ_SCHED_MSG_CANCEL);
  if (p->state == S_STARTING || p->state == S_RUNNING) {
    int64_t grace = grace_s(p, d->grace_s);
    sink_event(p, false, "Killing", "Stopping container %s on browser %s", p->rs.container,
               p->browser_id ? p->browser_id : "?");
    send_cancel(p, "pod deleted");
    goto_state(p, S_DELETING);
    if (grace > 0) {
      p->t_grace = kq_timer_start(p->self, KQ_SEC(grace), 0, T_GRACE);
      return;
    }
  }
  gone(p);
}

/* ---- updates ---- */

static void on_update(pod_t *p, kq_pod_update_msg_t *u) {
  if (!u->pod.meta.uid || !p->pod.meta.uid || strcmp(u->pod.meta.uid, p->pod.meta.uid) != 0) return;
  uint64_t deletion = p->pod.meta.deletion_ns;
  kq_k8s_meta_clear(&p->pod.meta);
  p->pod.meta = u->pod.meta; /* taken */
  memset(&u->pod.meta, 0, sizeof u->pod.meta);
  if (!p->pod.meta.deletion_ns) p->pod.meta.deletion_ns = deletion;
  int64_t ads = u->pod.spec.active_deadline_s;
  if (ads <= 0 || ads == p->pod.spec.active_deadline_s) return;
  p->pod.spec.active_deadline_s = ads;
  if (p->deadline_hit || p->deleting || p->state == S_DONE || p->state == S_DELETING) return;
  if (p->t_deadline) kq_timer_cancel(p->self, p->t_deadline), p->t_deadline = 0;
  p->deadline_wall_ns = p->rs.start_ns + KQ_SEC(ads);
  uint64_t now = wall(p);
  uint64_t left = p->deadline_wall_ns > now ? p->deadline_wall_ns - now : 0;
  p->t_deadline = kq_timer_start(p->self, left ? left : 1, 0, T_DEADLINE);
  KQ_INFO("pod", "activeDeadlineSeconds changed", "pod=%s seconds=%lld left_ms=%llu", p->key, (long long)ads,
          (unsigned long long)(left / KQ_MS(1)));
}

/* ---- actor ---- */

static int pod_init(kq_actor_t *self, void *state, void *arg) {
  pod_t *p = state;
  const kq_pod_config_t *cfg = arg;
  p->self = self;
  p->cfg = *cfg;
  kq_pod_copy(&p->pod, cfg->pod);
  p->cfg.pod = NULL;
  p->cfg.pull_secrets = NULL;
  if (cfg->npull_secrets) {
    p->cfg.pull_secrets = kq_calloc(cfg->npull_secrets, sizeof(char *));
    for (size_t i = 0; i < cfg->npull_secrets; i++) p->cfg.pull_secrets[i] = kq_strdup(cfg->pull_secrets[i]);
  }
  p->node_name = kq_strdup(cfg->node_name);
  p->cache_key = kq_strdup(cfg->cache_key);
  p->key = kq_asprintf("%s/%s", kq_pod_namespace(&p->pod), p->pod.meta.name ? p->pod.meta.name : "?");
  p->rs.created_ns = p->pod.meta.creation_ns ? p->pod.meta.creation_ns : wall(p);
  p->rs.phase = KQ_PHASE_PENDING;
  if (p->pod.spec.ncontainers > 0) {
    p->rs.container = kq_strdup(p->pod.spec.containers[0].name);
    p->rs.image = kq_strdup(p->pod.spec.containers[0].image);
  }
  const kq_pod_container_t *c0 = p->pod.spec.ncontainers ? &p->pod.spec.containers[0] : NULL;
  bool guaranteed = c0 && c0->resources.limits.cpu_millis > 0 && c0->resources.limits.memory_bytes > 0;
  bool burstable = c0 && (c0->resources.requests.cpu_millis > 0 || c0->resources.requests.memory_bytes > 0 ||
                          c0->resources.limits.cpu_millis > 0 || c0->resources.limits.memory_bytes > 0);
  p->rs.qos_class = kq_strdup(guaranteed ? "Guaranteed" : burstable ? "Burstable" : "BestEffort");
  return KQ_OK;
}

/* Validation happens on the first message so that refusals are reported like any status. */
static bool validate(pod_t *p) {
  char *why = NULL;
  if (kq_k8s_pod_check_supported(&p->pod, &why) != KQ_OK) {
    set_waiting(p, "CreateContainerConfigError", why);
    sink_event(p, true, "FailedCreate", "%s", why ? why : "unsupported pod");
    finish(p, KQ_PHASE_FAILED, "Unsupported", why);
    free(why);
    return false;
  }
  const kq_pod_container_t *c = &p->pod.spec.containers[0];
  const char *opt = kq_k8s_meta_annotation(&p->pod.meta, "kuack.io/allow-secrets");
  bool allow = p->cfg.allow_secrets_default || (opt && !strcmp(opt, "true"));
  for (size_t i = 0; i < c->nenv && !allow; i++)
    if (c->env[i].source == KQ_ENV_SECRET_KEY) {
      char msg[512];
      snprintf(msg, sizeof msg,
               "env %s comes from Secret %s: a browser is an untrusted machine; set annotation "
               "kuack.io/allow-secrets: \"true\" to send it anyway",
               c->env[i].name, c->env[i].ref_name ? c->env[i].ref_name : "?");
      set_waiting(p, "CreateContainerConfigError", msg);
      sink_event(p, true, "Failed", "%s", msg);
      finish(p, KQ_PHASE_FAILED, "SecretsRefused", msg);
      return false;
    }
  for (size_t i = 0; i < c->nenv_from && !allow; i++)
    if (c->env_from[i].secret) {
      char msg[512];
      snprintf(msg, sizeof msg,
               "envFrom Secret %s: a browser is an untrusted machine; set annotation "
               "kuack.io/allow-secrets: \"true\" to send it anyway",
               c->env_from[i].ref_name ? c->env_from[i].ref_name : "?");
      set_waiting(p, "CreateContainerConfigError", msg);
      sink_event(p, true, "Failed", "%s", msg);
      finish(p, KQ_PHASE_FAILED, "SecretsRefused", msg);
      return false;
    }
  return true;
}

static void on_timer(pod_t *p, const kq_timer_msg_t *t) {
  switch (t->tag) {
    case T_BACKOFF:
      p->t_backoff = 0;
      if (p->state == S_BACKOFF) request_placement(p);
      break;
    case T_IMAGE_RETRY:
      p->t_image = 0;
      if (p->state == S_IMAGE) request_image(p);
      break;
    case T_DEADLINE:
      p->t_deadline = 0;
      p->deadline_hit = true;
      sink_event(p, true, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline");
      if (p->state == S_STARTING || p->state == S_RUNNING) {
        send_cancel(p, "activeDeadlineSeconds exceeded");
        /* The browser confirms with CANCELLED; if it never does, the Pod ends all the same. */
        p->t_deadline_grace = kq_timer_start(p->self, KQ_SEC(grace_s(p, -1)), 0, T_DEADLINE_GRACE);
      } else if (p->state != S_DONE && p->state != S_DELETING) {
        if (p->state == S_PLACING) sched_tell(p, KQ_SCHED_MSG_CANCEL);
        if (p->t_backoff) kq_timer_cancel(p->self, p->t_backoff), p->t_backoff = 0;
        finish(p, KQ_PHASE_FAILED, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline");
      }
      break;
    case T_GRACE:
      p->t_grace = 0;
      if (p->state == S_DELETING) gone(p);
      break;
    case T_CONFIG_RETRY:
      p->t_config = 0;
      if (p->state == S_CONFIG && !p->deleting) read_refs(p);
      if (p->state == S_CONFIG && p->refs.pending == 0) refs_done(p);
      break;
    case T_DEADLINE_GRACE: {
      p->t_deadline_grace = 0;
      if (p->state != S_STARTING && p->state != S_RUNNING) break;
      char msg[256];
      snprintf(msg, sizeof msg, "browser %s did not confirm the cancel within %llds",
               p->browser_id ? p->browser_id : "?", (long long)grace_s(p, -1));
      container_stopped(p, 137, "DeadlineExceeded", msg);
      finish(p, KQ_PHASE_FAILED, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline");
      break;
    }
  }
}

static void pod_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  pod_t *p = state;
  (void)self;
  if (!p->logs && p->cfg.logs && p->rs.container) {
    /* First message: open the log stream and validate. */
    p->logs = kq_logstore_open(p->cfg.logs, kq_pod_namespace(&p->pod), p->pod.meta.name, p->rs.container);
  }
  switch (m->id) {
    case KQ_MSG_TIMER:
      on_timer(p, (const kq_timer_msg_t *)m);
      return;
    case POD_IMAGE_REPLY:
      on_image_reply(p, (kq_image_reply_t *)m);
      return;
    case POD_PLACED:
      on_placed(p, (const kq_sched_placed_msg_t *)m);
      return;
    case POD_WAITING:
      on_waiting(p, (const kq_sched_waiting_msg_t *)m);
      return;
    case POD_OBJECT_REPLY:
      on_object_reply(p, (kq_k8s_data_msg_t *)m);
      return;
    case POD_RUN_REPORT:
      on_run_report(p, (kq_run_report_msg_t *)m);
      if (p->state == S_DELETING && p->rs.cur.kind == KQ_CSTATE_TERMINATED) {
        if (p->t_grace) kq_timer_cancel(p->self, p->t_grace), p->t_grace = 0;
        gone(p);
      }
      return;
    case KQ_POD_MSG_DELETE:
      on_delete(p, (const kq_pod_delete_msg_t *)m);
      return;
    case KQ_POD_MSG_UPDATE:
      on_update(p, (kq_pod_update_msg_t *)m);
      return;
    case KQ_POD_MSG_START:
      if (p->state != S_IMAGE || p->have_artefact) return;
      /* status.startTime: when the node acknowledged the Pod, before any image pull (kubelet). */
      p->rs.start_ns = wall(p);
      if (!validate(p)) return;
      if (p->pod.spec.active_deadline_s > 0) {
        p->t_deadline = kq_timer_start(p->self, KQ_SEC(p->pod.spec.active_deadline_s), 0, T_DEADLINE);
        p->deadline_wall_ns = wall(p) + KQ_SEC(p->pod.spec.active_deadline_s);
      }
      kq_pod_refs_collect(&p->refs, &p->pod);
      configure(p);
      return;
    default:
      KQ_DEBUG("pod", "unexpected message", "pod=%s id=%u", p->key, m->id);
  }
}

static void pod_stop(kq_actor_t *self, void *state) {
  pod_t *p = state;
  (void)self;
  if (p->state != S_DONE && p->state != S_DELETING) {
    send_cancel(p, "node shutting down");
  }
  release_browser(p);
  if (p->have_artefact && p->cfg.images) kq_image_service_unpin(p->cfg.images, p->art.digest);
  kq_oci_artefact_free(&p->art);
  kq_pod_clear(&p->pod);
  free(p->rs.pod_reason);
  free(p->rs.pod_message);
  free(p->rs.container);
  free(p->rs.image);
  free(p->rs.image_id);
  free(p->rs.run_id);
  free(p->rs.host_ip);
  free(p->rs.qos_class);
  kq_pod_cstate_clear(&p->rs.cur);
  kq_pod_cstate_clear(&p->rs.last);
  free(p->browser_id);
  free(p->node_name);
  free(p->cache_key);
  free(p->key);
  free(p->last_reported);
  for (size_t i = 0; i < p->cfg.npull_secrets; i++) free(p->cfg.pull_secrets[i]);
  free(p->cfg.pull_secrets);
  for (size_t i = 0; i < p->npull_texts; i++) free(p->pull_texts[i]);
  free(p->pull_texts);
  kq_pod_refs_clear(&p->refs);
}

const kq_actor_type_t kq_pod_actor_type = {
    .name = "pod",
    .state_size = sizeof(pod_t),
    .init = pod_init,
    .dispatch = pod_dispatch,
    .stop = pod_stop,
    .msg_names = pod_msg_names,
    .msg_count = pod_msg_count,
};

kq_aid_t kq_pod_spawn(kq_system_t *sys, const kq_pod_config_t *cfg) {
  kq_aid_t aid = kq_spawn(sys, &kq_pod_actor_type, (void *)cfg, NULL);
  if (aid != KQ_AID_NONE) kq_send_signal(sys, KQ_AID_NONE, aid, KQ_POD_MSG_START);
  return aid;
}

static void update_msg_dtor(kq_msg_t *m) { kq_pod_clear(&((kq_pod_update_msg_t *)m)->pod); }

kq_pod_update_msg_t *kq_pod_update_msg_new(kq_pod_t *pod_taken) {
  kq_pod_update_msg_t *m = KQ_MSG_NEW(kq_pod_update_msg_t, KQ_POD_MSG_UPDATE);
  m->hdr.dtor = update_msg_dtor;
  m->pod = *pod_taken;
  memset(pod_taken, 0, sizeof *pod_taken);
  return m;
}

void kq_sink_status_msg_dtor(kq_msg_t *m) {
  kq_sink_status_msg_t *s = (kq_sink_status_msg_t *)m;
  free(s->ns);
  free(s->name);
  free(s->uid);
  free(s->cache_key);
  free(s->browser_id);
  kq_pod_status_clear(&s->status);
}

void kq_sink_event_msg_dtor(kq_msg_t *m) {
  kq_sink_event_msg_t *e = (kq_sink_event_msg_t *)m;
  free(e->ns);
  free(e->name);
  free(e->uid);
  free(e->reason);
  free(e->message);
}

void kq_sink_gone_msg_dtor(kq_msg_t *m) {
  kq_sink_gone_msg_t *g = (kq_sink_gone_msg_t *)m;
  free(g->ns);
  free(g->name);
  free(g->uid);
  free(g->cache_key);
}
