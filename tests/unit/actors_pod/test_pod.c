/* Deterministic-harness tests for the pod actor (actors/pod.c): every transition of the state
 * machine driven by hand. The image service, the scheduler, the browser and the sink are probes
 * (or a recording function); the test answers for them and asserts on what the pod reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kq_alloc.h"
#include "kq_browser.h"
#include "kq_error.h"
#include "kq_harness.h"
#include "kq_image.h"
#include "kq_k8s_client.h"
#include "kq_k8s_types.h"
#include "kq_logstore.h"
#include "kq_oci_pull.h"
#include "kq_oci_store.h"
#include "kq_oci_digest.h"
#include "kq_pod.h"
#include "kq_scheduler.h"
#include "pod_internal.h"

#define DIGEST "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define IMAGE "localhost:5000/hello:v1"
#define IMAGE_ID "localhost:5000/hello@" DIGEST
#define MAX_SINK 256
#define MAX_OBJ 16

/* A Pod "demo/hello" (uid u-1) with one container "main". The three arguments are spliced into
 * metadata, spec and the container object; each starts with a comma when non-empty. */
#define POD_JSON(meta, spec, ctr)                                                                  \
  "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"hello\",\"namespace\":"     \
  "\"demo\",\"uid\":\"u-1\"" meta "},\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"" \
  IMAGE "\"" ctr "}]" spec "}}"

typedef struct fx {
  kq_harness_t *h;
  kq_system_t *sys;
  kq_aid_t sink, sched, browser, browser2, pod;
  kq_logstore_t *logs;
  /* image requests seen by the recording function */
  int nimg;
  kq_aid_t img_to;
  uint32_t img_id;
  char img_name[256];
  kq_pull_policy_t img_policy;
  char *img_secrets[4];      /* the last request's pull secret texts (owned) */
  size_t nimg_secrets;
  /* Secret/ConfigMap reads (with_api: the pod is spawned in Kubernetes mode) */
  bool with_api;
  struct {
    bool secret;
    char ns[64], name[64];
    kq_aid_t to;
    uint32_t id;
    uint64_t cookie;
  } obj[MAX_OBJ];
  int nobj;
  /* sink messages collected so far (owned) */
  kq_msg_t *sinkm[MAX_SINK];
  size_t nsink;
} fx_t;

/* What the fake image service answers with. */
typedef struct img {
  const char *ep[4], *cmd[4], *env[6];
  kq_oci_kind_t kind;
  const char *module, *glue;
} img_t;

static const img_t default_img = {.kind = KQ_OCI_KIND_WASI, .module = "hello.wasm"};

/* ---- fakes ---- */

static int image_request_fn(void *ud, const kq_image_request_t *rq) {
  fx_t *f = ud;
  f->nimg++;
  f->img_to = rq->reply_to;
  f->img_id = rq->reply_id;
  snprintf(f->img_name, sizeof f->img_name, "%s", rq->image ? rq->image : "");
  f->img_policy = rq->policy;
  for (size_t i = 0; i < f->nimg_secrets; i++) free(f->img_secrets[i]);
  f->nimg_secrets = 0;
  for (size_t i = 0; i < rq->nsecrets && i < 4; i++) f->img_secrets[f->nimg_secrets++] = kq_strdup(rq->secrets[i]);
  return KQ_OK;
}

static int object_request_fn(void *ud, bool secret, const char *ns, const char *name, kq_aid_t reply_to,
                             uint32_t reply_id, uint64_t cookie) {
  fx_t *f = ud;
  assert_true(f->nobj < MAX_OBJ);
  f->obj[f->nobj].secret = secret;
  snprintf(f->obj[f->nobj].ns, sizeof f->obj[f->nobj].ns, "%s", ns);
  snprintf(f->obj[f->nobj].name, sizeof f->obj[f->nobj].name, "%s", name);
  f->obj[f->nobj].to = reply_to;
  f->obj[f->nobj].id = reply_id;
  f->obj[f->nobj].cookie = cookie;
  f->nobj++;
  return KQ_OK;
}

static char *url_fn(void *ud, const char *run_id, const char *digest, const char *file) {
  (void)ud;
  return kq_asprintf("/artefacts/%s/%s?run=%s", digest, file, run_id);
}

static void img_reply_dtor(kq_msg_t *m) { kq_oci_artefact_free(&((kq_image_reply_t *)m)->art); }


/* ---- fixture ---- */

static fx_t *fx_new(void) {
  fx_t *f = kq_calloc(1, sizeof *f);
  f->h = kq_h_new();
  f->sys = kq_h_system(f->h);
  f->sink = kq_h_probe(f->h);
  f->sched = kq_h_probe(f->h);
  f->browser = kq_h_probe(f->h);
  f->browser2 = kq_h_probe(f->h);
  f->logs = kq_logstore_new(64 * 1024);
  return f;
}

static void sink_reset(fx_t *f) {
  for (size_t i = 0; i < f->nsink; i++) kq_msg_free(f->sinkm[i]);
  f->nsink = 0;
}

static void fx_free(fx_t *f) {
  sink_reset(f);
  for (size_t i = 0; i < f->nimg_secrets; i++) free(f->img_secrets[i]);
  kq_h_free(f->h);
  kq_logstore_free(f->logs);
  free(f);
}

static uint64_t now_wall(fx_t *f) { return kq_wall_ns(kq_h_clock(f->h)); }

static void fx_spawn(fx_t *f, const char *json) {
  kq_pod_t pod;
  char *err = NULL;
  int rc = kq_k8s_pod_from_json(json, strlen(json), &pod, &err);
  if (rc != KQ_OK) fail_msg("pod json: %s", err ? err : "?");
  kq_pod_config_t cfg = {
      .pod = &pod,
      .sink = f->sink,
      .scheduler = f->sched,
      .image_request = image_request_fn,
      .image_request_ud = f,
      .logs = f->logs,
      .artefact_url = url_fn,
      .node_name = "kuack-node",
      .cache_key = "pods/hello.yaml",
      .object_request = f->with_api ? object_request_fn : NULL,
      .object_request_ud = f,
  };
  f->pod = kq_pod_spawn(f->sys, &cfg);
  kq_pod_clear(&pod);
  assert_true(f->pod != KQ_AID_NONE);
  kq_h_run(f->h);
}

/* Moves everything the sink received into f->sinkm. */
static void drain(fx_t *f) {
  kq_msg_t *m;
  while ((m = kq_h_take(f->h, f->sink))) {
    assert_true(f->nsink < MAX_SINK);
    f->sinkm[f->nsink++] = m;
  }
}

static size_t count_id(fx_t *f, uint32_t id) {
  drain(f);
  size_t n = 0;
  for (size_t i = 0; i < f->nsink; i++) n += f->sinkm[i]->id == id;
  return n;
}

static const kq_sink_status_msg_t *last_status(fx_t *f) {
  drain(f);
  for (size_t i = f->nsink; i-- > 0;)
    if (f->sinkm[i]->id == KQ_SINK_MSG_POD_STATUS) return (const kq_sink_status_msg_t *)f->sinkm[i];
  fail_msg("no status reported");
  return NULL;
}

static const kq_sink_event_msg_t *find_event(fx_t *f, const char *reason) {
  drain(f);
  for (size_t i = 0; i < f->nsink; i++)
    if (f->sinkm[i]->id == KQ_SINK_MSG_POD_EVENT) {
      const kq_sink_event_msg_t *e = (const kq_sink_event_msg_t *)f->sinkm[i];
      if (e->reason && !strcmp(e->reason, reason)) return e;
    }
  return NULL;
}

static const kq_sink_event_msg_t *expect_event(fx_t *f, const char *reason, bool warning) {
  const kq_sink_event_msg_t *e = find_event(f, reason);
  if (!e) fail_msg("no %s event", reason);
  assert_string_equal(e->ns, "demo");
  assert_string_equal(e->name, "hello");
  assert_string_equal(e->uid, "u-1");
  assert_int_equal(e->warning, warning);
  return e;
}

/* Some status since the last reset had the container waiting with `reason`. */
static const kq_sink_status_msg_t *status_waiting(fx_t *f, const char *reason) {
  drain(f);
  for (size_t i = 0; i < f->nsink; i++)
    if (f->sinkm[i]->id == KQ_SINK_MSG_POD_STATUS) {
      const kq_sink_status_msg_t *s = (const kq_sink_status_msg_t *)f->sinkm[i];
      const kq_container_state_t *cs = &s->status.container_statuses[0].state;
      if (cs->kind == KQ_CSTATE_WAITING && cs->reason && !strcmp(cs->reason, reason)) return s;
    }
  fail_msg("no status with container waiting in %s", reason);
  return NULL;
}

static const kq_container_status_t *cstatus(const kq_sink_status_msg_t *s) {
  assert_int_equal(s->status.ncontainer_statuses, 1);
  return &s->status.container_statuses[0];
}

static const kq_pod_condition_t *cond(const kq_sink_status_msg_t *s, const char *type) {
  for (size_t i = 0; i < s->status.nconditions; i++)
    if (!strcmp(s->status.conditions[i].type, type)) return &s->status.conditions[i];
  fail_msg("no condition %s", type);
  return NULL;
}

static char **strv(const char *const *v, size_t *n) {
  size_t k = 0;
  while (k < 6 && v[k]) k++;
  *n = k;
  if (!k) return NULL;
  char **out = kq_calloc(k, sizeof(char *));
  for (size_t i = 0; i < k; i++) out[i] = kq_strdup(v[i]);
  return out;
}

/* The artefact root the image service would have extracted: the module file exists there so the
 * pod actor can hash it for the agent's integrity check. */
#define MODULE_BYTES "\0asm fake module bytes"
static char g_root[64];
static void rm_root(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
  if (g_root[0] && system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", g_root);
}
static const char *artefact_root(const char *module) {
  if (!g_root[0]) {
    snprintf(g_root, sizeof g_root, "/tmp/kq-podtest-XXXXXX");
    assert_non_null(mkdtemp(g_root));
    atexit(rm_root);
  }
  if (!strchr(module, '/')) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", g_root, module);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fwrite(MODULE_BYTES, 1, sizeof MODULE_BYTES - 1, fp);
    fclose(fp);
  }
  return g_root;
}

static void answer_image_with(fx_t *f, const img_t *im) {
  assert_true(f->img_to != KQ_AID_NONE);
  kq_image_reply_t *r = (kq_image_reply_t *)kq_msg_new(f->img_id, sizeof *r);
  r->hdr.dtor = img_reply_dtor;
  r->rc = KQ_OK;
  snprintf(r->art.digest, sizeof r->art.digest, "%s", DIGEST);
  r->art.kind = im->kind;
  snprintf(r->art.module, sizeof r->art.module, "%s", im->module);
  snprintf(r->root, sizeof r->root, "%s", artefact_root(im->module));
  /* The image plane hashes the module file off the loop and says so in the reply. */
  kq_oci_sha256_hex(MODULE_BYTES, sizeof MODULE_BYTES - 1, r->art.module_digest);
  if (im->glue) snprintf(r->art.glue, sizeof r->art.glue, "%s", im->glue);
  r->art.entrypoint = strv(im->ep, &r->art.nentrypoint);
  r->art.cmd = strv(im->cmd, &r->art.ncmd);
  r->art.env = strv(im->env, &r->art.nenv);
  kq_send(f->sys, f->img_to, &r->hdr);
  kq_h_run(f->h);
}

static void answer_image(fx_t *f) { answer_image_with(f, &default_img); }

static void answer_image_fail(fx_t *f, kq_oci_reason_t reason, const char *message) {
  kq_image_reply_t *r = (kq_image_reply_t *)kq_msg_new(f->img_id, sizeof *r);
  r->hdr.dtor = img_reply_dtor;
  r->rc = reason == KQ_OCI_REASON_INVALID_NAME ? KQ_EINVAL : KQ_EIO;
  r->reason = reason;
  snprintf(r->message, sizeof r->message, "%s", message);
  kq_send(f->sys, f->img_to, &r->hdr);
  kq_h_run(f->h);
}

static kq_sched_place_msg_t *expect_place(fx_t *f) {
  return (kq_sched_place_msg_t *)kq_h_expect(f->h, f->sched, KQ_SCHED_MSG_PLACE);
}

/* Takes a RELEASE or CANCEL for u-1 from the scheduler probe. */
static void expect_sched_pod(fx_t *f, uint32_t id) {
  kq_sched_pod_msg_t *m = (kq_sched_pod_msg_t *)kq_h_expect(f->h, f->sched, id);
  assert_string_equal(m->pod_uid, "u-1");
  kq_msg_free(&m->hdr);
}

static void answer_placed(fx_t *f, const kq_sched_place_msg_t *pl, kq_aid_t browser, const char *bid) {
  kq_sched_placed_msg_t *m = kq_sched_placed_msg_new(pl->placed_id);
  m->pod_uid = kq_strdup(pl->pod_uid);
  m->browser = browser;
  m->browser_id = kq_strdup(bid);
  m->policy = "binpack";
  m->explanation = kq_asprintf("placed on %s by binpack", bid);
  kq_send(f->sys, pl->hdr.from, &m->hdr);
  kq_h_run(f->h);
}

static void answer_waiting(fx_t *f, const kq_sched_place_msg_t *pl, const char *reason, const char *message) {
  kq_sched_waiting_msg_t *m = kq_sched_waiting_msg_new(pl->waiting_id);
  m->pod_uid = kq_strdup(pl->pod_uid);
  m->reason = reason;
  m->message = kq_strdup(message);
  m->queued = 1;
  kq_send(f->sys, pl->hdr.from, &m->hdr);
  kq_h_run(f->h);
}

static kq_browser_run_msg_t *expect_run(fx_t *f, kq_aid_t browser) {
  return (kq_browser_run_msg_t *)kq_h_expect(f->h, browser, KQ_BROWSER_MSG_RUN);
}

static kq_run_report_msg_t *new_report(const kq_browser_run_msg_t *run, kq_run_event_t ev, const char *run_id) {
  kq_run_report_msg_t *r = KQ_MSG_NEW(kq_run_report_msg_t, run->report_id);
  r->hdr.dtor = kq_run_report_msg_dtor;
  r->event = ev;
  r->run_id = kq_strdup(run_id ? run_id : run->spec.run_id);
  return r;
}

static void send_report_msg(fx_t *f, const kq_browser_run_msg_t *run, kq_run_report_msg_t *r) {
  kq_send(f->sys, run->hdr.from, &r->hdr);
  kq_h_run(f->h);
}

static void report_ev(fx_t *f, const kq_browser_run_msg_t *run, kq_run_event_t ev) {
  send_report_msg(f, run, new_report(run, ev, NULL));
}

static void report_exit(fx_t *f, const kq_browser_run_msg_t *run, int code) {
  kq_run_report_msg_t *r = new_report(run, KQ_RUN_EXITED, NULL);
  r->exit_code = code;
  send_report_msg(f, run, r);
}

static void report_log(fx_t *f, const kq_browser_run_msg_t *run, uint8_t stream, const char *text) {
  kq_run_report_msg_t *r = new_report(run, KQ_RUN_LOG, NULL);
  r->stream = stream;
  r->data = kq_strdup(text);
  r->len = (uint32_t)strlen(text);
  send_report_msg(f, run, r);
}

/* Spawn → image → placed on f->browser ("b-1") → RUNNING. Returns the run request (owned). */
static kq_browser_run_msg_t *start_pod(fx_t *f, const char *json) {
  fx_spawn(f, json);
  assert_int_equal(f->nimg, 1);
  answer_image(f);
  kq_sched_place_msg_t *pl = expect_place(f);
  answer_placed(f, pl, f->browser, "b-1");
  kq_msg_free(&pl->hdr);
  kq_browser_run_msg_t *run = expect_run(f, f->browser);
  report_ev(f, run, KQ_RUN_RUNNING);
  assert_int_equal(last_status(f)->status.phase, KQ_PHASE_RUNNING);
  return run;
}

static char *read_logs(fx_t *f, bool previous) {
  kq_logstream_t *ls = kq_logstore_find(f->logs, "demo", "hello", "main");
  assert_non_null(ls);
  kq_log_query_t q = KQ_LOG_QUERY_INIT;
  q.previous = previous;
  size_t len = 0;
  uint64_t next = 0;
  return kq_logstream_read(ls, &q, 0, &len, &next);
}

/* ---- tests ---- */

static void test_happy_path_never_succeeds(void **state) {
  (void)state;
  fx_t *f = fx_new();
  fx_spawn(f, POD_JSON("", ",\"restartPolicy\":\"Never\"",
                       ",\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":\"64Mi\"}}"));
  /* Waiting for the image. */
  assert_int_equal(f->nimg, 1);
  assert_string_equal(f->img_name, IMAGE);
  assert_int_equal(f->img_policy, KQ_PULL_IF_NOT_PRESENT);
  const kq_sink_status_msg_t *s = last_status(f);
  assert_string_equal(s->ns, "demo");
  assert_string_equal(s->name, "hello");
  assert_string_equal(s->uid, "u-1");
  assert_string_equal(s->cache_key, "pods/hello.yaml");
  assert_null(s->browser_id);
  assert_int_equal(s->status.phase, KQ_PHASE_PENDING);
  assert_string_equal(cstatus(s)->state.reason, "ContainerCreating");
  assert_string_equal(s->status.qos_class, "Burstable");
  kq_h_expect_none(f->h, f->sched);

  /* Image ready → Pulled, then a placement request. */
  answer_image(f);
  const kq_sink_event_msg_t *e = expect_event(f, "Pulled", false);
  assert_non_null(strstr(e->message, DIGEST));
  kq_sched_place_msg_t *pl = expect_place(f);
  assert_string_equal(pl->pod_uid, "u-1");
  assert_string_equal(pl->namespace_, "demo");
  assert_string_equal(pl->pod_name, "hello");
  assert_int_equal(pl->cpu_millis, 250);
  assert_int_equal(pl->memory_bytes, 64 * 1024 * 1024);
  assert_int_equal(pl->exclude, KQ_AID_NONE);
  assert_null(pl->selector);
  sink_reset(f);

  /* Placed → Scheduled + run sent. */
  answer_placed(f, pl, f->browser, "b-1");
  kq_msg_free(&pl->hdr);
  e = expect_event(f, "Scheduled", false);
  assert_string_equal(e->message, "placed on b-1 by binpack");
  kq_browser_run_msg_t *run = expect_run(f, f->browser);
  const kq_run_spec_t *sp = &run->spec;
  assert_string_equal(sp->run_id, "u-1-1");
  assert_string_equal(sp->pod_uid, "u-1");
  assert_string_equal(sp->namespace_, "demo");
  assert_string_equal(sp->pod_name, "hello");
  assert_string_equal(sp->container, "main");
  assert_int_equal(sp->kind, KQ_WORKLOAD_WASI);
  char want[72];
  kq_oci_sha256_hex(MODULE_BYTES, sizeof MODULE_BYTES - 1, want);
  assert_string_equal(sp->digest, want); /* the module file's digest, not the image's */
  assert_string_equal(sp->module_url, "/artefacts/" DIGEST "/hello.wasm?run=u-1-1");
  assert_null(sp->glue_url);
  assert_int_equal(sp->nargs, 1);
  assert_string_equal(sp->args[0], "hello.wasm");
  assert_int_equal(sp->cpu_millis, 250);
  assert_int_equal(sp->timeout_ms, 0);
  s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_PENDING);
  assert_string_equal(s->browser_id, "b-1");
  assert_string_equal(cstatus(s)->state.reason, "ContainerCreating");
  sink_reset(f);

  /* Accepted/fetching/compiling change nothing visible. */
  report_ev(f, run, KQ_RUN_ACCEPTED);
  report_ev(f, run, KQ_RUN_FETCHING);
  report_ev(f, run, KQ_RUN_COMPILING);
  kq_h_expect_none(f->h, f->sink);

  /* RUNNING → Started, phase Running, Ready. */
  uint64_t t_start = now_wall(f);
  report_ev(f, run, KQ_RUN_RUNNING);
  e = expect_event(f, "Started", false);
  assert_non_null(strstr(e->message, "b-1"));
  s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_RUNNING);
  assert_true(s->status.start_ns > 0 && s->status.start_ns <= t_start); /* acknowledged, not started */
  const kq_container_status_t *cs = cstatus(s);
  assert_int_equal(cs->state.kind, KQ_CSTATE_RUNNING);
  assert_int_equal(cs->state.started_ns, t_start);
  assert_true(cs->ready);
  assert_int_equal(cs->restart_count, 0);
  assert_string_equal(cs->image, IMAGE);
  assert_string_equal(cs->image_id, IMAGE_ID);
  assert_string_equal(cs->container_id, "kuack://u-1-1");
  assert_int_equal(cond(s, "Ready")->status, KQ_COND_TRUE);
  assert_int_equal(cond(s, "ContainersReady")->status, KQ_COND_TRUE);
  assert_int_equal(cond(s, "PodScheduled")->status, KQ_COND_TRUE);
  assert_int_equal(cond(s, "Initialized")->status, KQ_COND_TRUE);
  sink_reset(f);

  /* Logs: a line split across chunks, stderr interleaved. No status for log chunks. */
  kq_h_advance(f->h, KQ_SEC(5));
  report_log(f, run, 1, "hello\nwor");
  report_log(f, run, 2, "oops\n");
  report_log(f, run, 1, "ld\n");
  kq_h_expect_none(f->h, f->sink);

  /* EXITED 0 → Succeeded; reservation released. */
  report_exit(f, run, 0);
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  kq_h_expect_none(f->h, f->sched);
  s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_SUCCEEDED);
  assert_null(s->browser_id);
  cs = cstatus(s);
  assert_int_equal(cs->state.kind, KQ_CSTATE_TERMINATED);
  assert_string_equal(cs->state.reason, "Completed");
  assert_int_equal(cs->state.exit_code, 0);
  assert_int_equal(cs->state.started_ns, t_start);
  assert_int_equal(cs->state.finished_ns, t_start + KQ_SEC(5));
  assert_string_equal(cs->state.container_id, "kuack://u-1-1");
  assert_false(cs->ready);
  assert_int_equal(cond(s, "Ready")->status, KQ_COND_FALSE);
  assert_string_equal(cond(s, "Ready")->reason, "PodCompleted");
  assert_int_equal(cond(s, "ContainersReady")->status, KQ_COND_FALSE);

  char *text = read_logs(f, false);
  assert_non_null(text);
  assert_string_equal(text, "hello\noops\nworld\n");
  free(text);
  assert_null(read_logs(f, true));
  assert_true(kq_logstream_ended(kq_logstore_find(f->logs, "demo", "hello", "main")));
  sink_reset(f);

  /* Terminal: nothing more happens, even much later; a late report is ignored. */
  kq_h_advance(f->h, KQ_SEC(3600));
  report_exit(f, run, 1);
  kq_h_expect_none(f->h, f->sink);
  kq_h_expect_none(f->h, f->sched);
  kq_h_expect_none(f->h, f->browser);
  assert_int_equal(f->nimg, 1);
  kq_msg_free(&run->hdr);
  fx_free(f);
}

static void test_exit_3_fails_with_error(void **state) {
  (void)state;
  fx_t *f = fx_new();
  kq_browser_run_msg_t *run = start_pod(f, POD_JSON("", ",\"restartPolicy\":\"Never\"", ""));
  sink_reset(f);
  kq_run_report_msg_t *r = new_report(run, KQ_RUN_EXITED, NULL);
  r->exit_code = 3;
  r->fetch_ms = 12;
  r->compile_ms = 34;
  r->run_ms = 5600;
  send_report_msg(f, run, r);
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  const kq_sink_event_msg_t *e = expect_event(f, "Exited", true);
  assert_string_equal(e->message, "Container main exited with code 3 on browser b-1 (fetch 12ms, compile 34ms, run 5600ms)");
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_FAILED);
  const kq_container_status_t *cs = cstatus(s);
  assert_int_equal(cs->state.kind, KQ_CSTATE_TERMINATED);
  assert_string_equal(cs->state.reason, "Error");
  assert_int_equal(cs->state.exit_code, 3);
  assert_int_equal(cs->restart_count, 0);
  assert_string_equal(s->status.qos_class, "BestEffort");
  assert_null(find_event(f, "BackOff"));
  kq_h_advance(f->h, KQ_SEC(600));
  kq_h_expect_none(f->h, f->sched);
  kq_msg_free(&run->hdr);
  fx_free(f);
}

static void test_on_failure_crash_loop_backoff(void **state) {
  (void)state;
  fx_t *f = fx_new();
  kq_browser_run_msg_t *run = start_pod(f, POD_JSON("", ",\"restartPolicy\":\"OnFailure\"", ""));
  report_log(f, run, 1, "first run\n");
  sink_reset(f);

  /* exit 1 → CrashLoopBackOff, restartCount 1, lastState terminated, BackOff event. */
  report_exit(f, run, 1);
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  const kq_sink_status_msg_t *s = last_status(f);
  const kq_container_status_t *cs = cstatus(s);
  assert_int_equal(cs->state.kind, KQ_CSTATE_WAITING);
  assert_string_equal(cs->state.reason, "CrashLoopBackOff");
  assert_non_null(strstr(cs->state.message, "back-off 10s"));
  assert_int_equal(cs->restart_count, 1);
  assert_int_equal(cs->last_state.kind, KQ_CSTATE_TERMINATED);
  assert_string_equal(cs->last_state.reason, "Error");
  assert_int_equal(cs->last_state.exit_code, 1);
  assert_int_equal(s->status.phase, KQ_PHASE_RUNNING);
  assert_false(cs->ready);
  const kq_sink_event_msg_t *e = expect_event(f, "BackOff", true);
  assert_non_null(strstr(e->message, "10s"));
  sink_reset(f);

  /* Nothing before 10 s; then a new PLACE avoiding the failed browser. */
  kq_h_advance(f->h, KQ_SEC(10) - KQ_MS(1));
  kq_h_expect_none(f->h, f->sched);
  kq_h_advance(f->h, KQ_MS(1));
  kq_sched_place_msg_t *pl = expect_place(f);
  assert_int_equal(pl->exclude, f->browser);
  answer_placed(f, pl, f->browser2, "b-2");
  kq_msg_free(&pl->hdr);
  kq_browser_run_msg_t *run2 = expect_run(f, f->browser2);
  assert_string_equal(run2->spec.run_id, "u-1-2");
  report_ev(f, run2, KQ_RUN_RUNNING);
  s = last_status(f);
  assert_string_equal(s->browser_id, "b-2");
  assert_int_equal(cstatus(s)->state.kind, KQ_CSTATE_RUNNING);
  assert_int_equal(cstatus(s)->restart_count, 1);
  assert_string_equal(cstatus(s)->container_id, "kuack://u-1-2");
  report_log(f, run2, 1, "second run\n");

  /* The previous run's log is kept apart. */
  char *text = read_logs(f, true);
  assert_non_null(text);
  assert_string_equal(text, "first run\n");
  free(text);
  text = read_logs(f, false);
  assert_string_equal(text, "second run\n");
  free(text);
  sink_reset(f);

  /* A late report of the first run is ignored. */
  report_exit(f, run, 0);
  kq_h_expect_none(f->h, f->sink);
  kq_h_expect_none(f->h, f->sched);

  /* Second failure → back-off doubles to 20 s. */
  report_exit(f, run2, 1);
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  s = last_status(f);
  assert_non_null(strstr(cstatus(s)->state.message, "back-off 20s"));
  assert_int_equal(cstatus(s)->restart_count, 2);
  kq_h_advance(f->h, KQ_SEC(20) - KQ_MS(1));
  kq_h_expect_none(f->h, f->sched);
  kq_h_advance(f->h, KQ_MS(1));
  pl = expect_place(f);
  assert_int_equal(pl->exclude, f->browser2);
  answer_placed(f, pl, f->browser, "b-1");
  kq_msg_free(&pl->hdr);
  kq_browser_run_msg_t *run3 = expect_run(f, f->browser);
  assert_string_equal(run3->spec.run_id, "u-1-3");
  sink_reset(f);

  /* Success ends OnFailure: Succeeded, restartCount 2. */
  report_exit(f, run3, 0);
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_SUCCEEDED);
  assert_string_equal(cstatus(s)->state.reason, "Completed");
  assert_int_equal(cstatus(s)->restart_count, 2);
  kq_h_advance(f->h, KQ_SEC(600));
  kq_h_expect_none(f->h, f->sched);
  kq_msg_free(&run->hdr);
  kq_msg_free(&run2->hdr);
  kq_msg_free(&run3->hdr);
  fx_free(f);
}

static void test_always_restarts_after_success(void **state) {
  (void)state;
  fx_t *f = fx_new();
  kq_browser_run_msg_t *run = start_pod(f, POD_JSON("", "", "")); /* restartPolicy defaults to Always */
  sink_reset(f);
  report_exit(f, run, 0);
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  const kq_sink_status_msg_t *s = last_status(f);
  assert_string_equal(cstatus(s)->state.reason, "CrashLoopBackOff");
  assert_int_equal(cstatus(s)->restart_count, 1);
  assert_string_equal(cstatus(s)->last_state.reason, "Completed");
  assert_int_equal(s->status.phase, KQ_PHASE_RUNNING);
  expect_event(f, "BackOff", true);
  kq_h_advance(f->h, KQ_SEC(10));
  kq_sched_place_msg_t *pl = expect_place(f);
  assert_int_equal(pl->exclude, KQ_AID_NONE); /* a success does not blame the browser */
  answer_placed(f, pl, f->browser, "b-1");
  kq_msg_free(&pl->hdr);
  kq_browser_run_msg_t *run2 = expect_run(f, f->browser);
  assert_string_equal(run2->spec.run_id, "u-1-2");
  kq_msg_free(&run->hdr);
  kq_msg_free(&run2->hdr);
  fx_free(f);
}

static void test_image_pull_failure_backoff_then_success(void **state) {
  (void)state;
  fx_t *f = fx_new();
  fx_spawn(f, POD_JSON("", "", ""));
  assert_int_equal(f->nimg, 1);
  sink_reset(f);
  answer_image_fail(f, KQ_OCI_REASON_ERR_IMAGE_PULL, "manifest unknown");
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_PENDING);
  assert_string_equal(cstatus(s)->state.reason, "ErrImagePull");
  assert_string_equal(cstatus(s)->state.message, "manifest unknown");
  const kq_sink_event_msg_t *e = expect_event(f, "Failed", true);
  assert_non_null(strstr(e->message, "Failed to pull image \"" IMAGE "\": manifest unknown"));
  kq_h_expect_none(f->h, f->sched);
  sink_reset(f);

  kq_h_advance(f->h, KQ_SEC(10) - KQ_MS(1));
  assert_int_equal(f->nimg, 1);
  kq_h_advance(f->h, KQ_MS(1));
  assert_int_equal(f->nimg, 2);
  answer_image_fail(f, KQ_OCI_REASON_ERR_IMAGE_PULL, "registry unavailable");
  s = last_status(f);
  assert_string_equal(cstatus(s)->state.reason, "ImagePullBackOff");
  assert_string_equal(cstatus(s)->state.message, "registry unavailable");
  sink_reset(f);

  kq_h_advance(f->h, KQ_SEC(20) - KQ_MS(1));
  assert_int_equal(f->nimg, 2);
  kq_h_advance(f->h, KQ_MS(1));
  assert_int_equal(f->nimg, 3);
  answer_image(f);
  expect_event(f, "Pulled", false);
  kq_sched_place_msg_t *pl = expect_place(f);
  kq_msg_free(&pl->hdr);
  kq_h_advance(f->h, KQ_SEC(600));
  assert_int_equal(f->nimg, 3);
  fx_free(f);
}

static void test_invalid_image_name_is_permanent(void **state) {
  (void)state;
  fx_t *f = fx_new();
  fx_spawn(f, POD_JSON("", "", ""));
  sink_reset(f);
  answer_image_fail(f, KQ_OCI_REASON_INVALID_NAME, "invalid reference format");
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_PENDING);
  assert_string_equal(cstatus(s)->state.reason, "InvalidImageName");
  expect_event(f, "InvalidImageName", true);
  kq_h_advance(f->h, KQ_SEC(3600));
  assert_int_equal(f->nimg, 1);
  kq_h_expect_none(f->h, f->sched);
  fx_free(f);
}

static void test_waiting_for_browser_then_placed(void **state) {
  (void)state;
  fx_t *f = fx_new();
  fx_spawn(f, POD_JSON("", "", ""));
  answer_image(f);
  kq_sched_place_msg_t *pl = expect_place(f);
  sink_reset(f);
  answer_waiting(f, pl, KQ_SCHED_REASON_WAITING, "no browser has 250m CPU free");
  assert_non_null(status_waiting(f, "WaitingForBrowser"));
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_PENDING);
  assert_string_equal(cstatus(s)->state.reason, "WaitingForBrowser");
  assert_string_equal(cstatus(s)->state.message, "no browser has 250m CPU free");
  kq_h_advance(f->h, KQ_SEC(120));
  kq_h_expect_none(f->h, f->sched); /* the scheduler owns the queue: no re-asking */
  sink_reset(f);
  answer_placed(f, pl, f->browser, "b-1");
  kq_msg_free(&pl->hdr);
  expect_event(f, "Scheduled", false);
  kq_browser_run_msg_t *run = expect_run(f, f->browser);
  assert_string_equal(cstatus(last_status(f))->state.reason, "ContainerCreating");
  kq_msg_free(&run->hdr);
  fx_free(f);
}

static void test_invalid_selector_fails(void **state) {
  (void)state;
  fx_t *f = fx_new();
  fx_spawn(f, POD_JSON(",\"annotations\":{\"kuack.io/browser-selector\":\"gpu in (\"}", "", ""));
  answer_image(f);
  kq_sched_place_msg_t *pl = expect_place(f);
  assert_string_equal(pl->selector, "gpu in (");
  sink_reset(f);
  answer_waiting(f, pl, KQ_SCHED_REASON_BAD_SELECTOR, "selector: unbalanced parenthesis");
  kq_msg_free(&pl->hdr);
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_FAILED);
  assert_string_equal(s->status.reason, KQ_SCHED_REASON_BAD_SELECTOR);
  expect_event(f, "FailedScheduling", true);
  fx_free(f);
}

static void test_active_deadline_cancels_run(void **state) {
  (void)state;
  fx_t *f = fx_new();
  kq_browser_run_msg_t *run = start_pod(f, POD_JSON("", ",\"activeDeadlineSeconds\":30", ""));
  assert_int_equal(run->spec.timeout_ms, 30000); /* the browser is told the same deadline */
  sink_reset(f);
  kq_h_advance(f->h, KQ_SEC(30) - KQ_MS(1));
  kq_h_expect_none(f->h, f->browser);
  kq_h_advance(f->h, KQ_MS(1));
  kq_browser_cancel_msg_t *c = (kq_browser_cancel_msg_t *)kq_h_expect(f->h, f->browser, KQ_BROWSER_MSG_CANCEL);
  assert_string_equal(c->run_id, "u-1-1");
  assert_non_null(c->reason);
  kq_msg_free(&c->hdr);
  expect_event(f, "DeadlineExceeded", true);
  assert_int_equal(count_id(f, KQ_SINK_MSG_POD_STATUS), 0); /* still Running until the browser confirms */
  sink_reset(f);

  report_ev(f, run, KQ_RUN_CANCELLED);
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_FAILED);
  assert_string_equal(s->status.reason, "DeadlineExceeded");
  assert_int_equal(cstatus(s)->state.kind, KQ_CSTATE_TERMINATED);
  assert_string_equal(cstatus(s)->state.reason, "DeadlineExceeded");
  assert_int_equal(cstatus(s)->state.exit_code, 137);
  /* restartPolicy Always does not restart past the deadline. */
  assert_null(find_event(f, "BackOff"));
  kq_h_advance(f->h, KQ_SEC(600));
  kq_h_expect_none(f->h, f->sched);
  kq_msg_free(&run->hdr);
  fx_free(f);
}

static void test_active_deadline_while_waiting_for_browser(void **state) {
  (void)state;
  fx_t *f = fx_new();
  fx_spawn(f, POD_JSON("", ",\"activeDeadlineSeconds\":5", ""));
  answer_image(f);
  kq_sched_place_msg_t *pl = expect_place(f);
  answer_waiting(f, pl, KQ_SCHED_REASON_WAITING, "no browser");
  sink_reset(f);
  kq_h_advance(f->h, KQ_SEC(5));
  expect_sched_pod(f, KQ_SCHED_MSG_CANCEL);
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_FAILED);
  assert_string_equal(s->status.reason, "DeadlineExceeded");
  /* A placement arriving late is handed back at once. */
  answer_placed(f, pl, f->browser, "b-1");
  kq_msg_free(&pl->hdr);
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  kq_h_expect_none(f->h, f->browser);
  fx_free(f);
}

/* The deadline runs from the Pod's start on the node, not from its first container start: time
 * spent pulling the image counts, and every run is told what is left. */
static void test_active_deadline_counts_from_pod_start(void **state) {
  (void)state;
  fx_t *f = fx_new();
  fx_spawn(f, POD_JSON("", ",\"activeDeadlineSeconds\":60,\"restartPolicy\":\"OnFailure\"", ""));
  kq_h_advance(f->h, KQ_SEC(15)); /* slow pull */
  answer_image(f);
  kq_sched_place_msg_t *pl = expect_place(f);
  answer_placed(f, pl, f->browser, "b-1");
  kq_msg_free(&pl->hdr);
  kq_browser_run_msg_t *run = expect_run(f, f->browser);
  assert_int_equal(run->spec.timeout_ms, 45000);
  report_ev(f, run, KQ_RUN_RUNNING);
  kq_h_advance(f->h, KQ_SEC(5));
  report_exit(f, run, 1);
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  kq_h_advance(f->h, KQ_SEC(10)); /* back-off */
  pl = expect_place(f);
  answer_placed(f, pl, f->browser2, "b-2");
  kq_msg_free(&pl->hdr);
  kq_browser_run_msg_t *run2 = expect_run(f, f->browser2);
  assert_int_equal(run2->spec.timeout_ms, 30000);
  report_ev(f, run2, KQ_RUN_RUNNING);
  sink_reset(f);
  kq_h_advance(f->h, KQ_SEC(30));
  kq_browser_cancel_msg_t *c = (kq_browser_cancel_msg_t *)kq_h_expect(f->h, f->browser2, KQ_BROWSER_MSG_CANCEL);
  assert_string_equal(c->run_id, "u-1-2");
  kq_msg_free(&c->hdr);
  /* The browser's own timeout may win the race: an exit after the deadline is DeadlineExceeded. */
  report_exit(f, run2, 0);
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_FAILED);
  assert_string_equal(s->status.reason, "DeadlineExceeded");
  kq_msg_free(&run->hdr);
  kq_msg_free(&run2->hdr);
  fx_free(f);
}

/* Deadline while the image is still being pulled: Failed at once, the late image ignored. */
static void test_active_deadline_while_pulling(void **state) {
  (void)state;
  fx_t *f = fx_new();
  fx_spawn(f, POD_JSON("", ",\"activeDeadlineSeconds\":5", ""));
  answer_image_fail(f, KQ_OCI_REASON_ERR_IMAGE_PULL, "timeout");
  sink_reset(f);
  kq_h_advance(f->h, KQ_SEC(5));
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_FAILED);
  assert_string_equal(s->status.reason, "DeadlineExceeded");
  kq_h_advance(f->h, KQ_SEC(60)); /* the image retry timer does not ask again */
  assert_int_equal(f->nimg, 1);
  sink_reset(f);
  answer_image(f);
  kq_h_expect_none(f->h, f->sched);
  kq_h_expect_none(f->h, f->sink);
  fx_free(f);
}

static kq_msg_t *delete_msg(int64_t grace_s) {
  kq_pod_delete_msg_t *d = KQ_MSG_NEW(kq_pod_delete_msg_t, KQ_POD_MSG_DELETE);
  d->grace_s = grace_s;
  return &d->hdr;
}

static void expect_gone(fx_t *f) {
  drain(f);
  assert_int_equal(count_id(f, KQ_SINK_MSG_POD_GONE), 1);
  const kq_sink_gone_msg_t *g = NULL;
  for (size_t i = 0; i < f->nsink; i++)
    if (f->sinkm[i]->id == KQ_SINK_MSG_POD_GONE) g = (const kq_sink_gone_msg_t *)f->sinkm[i];
  assert_string_equal(g->ns, "demo");
  assert_string_equal(g->name, "hello");
  assert_string_equal(g->uid, "u-1");
  assert_string_equal(g->cache_key, "pods/hello.yaml");
  assert_false(kq_actor_alive(f->sys, f->pod));
}

static void test_delete_running_cancel_then_gone(void **state) {
  (void)state;
  fx_t *f = fx_new();
  kq_browser_run_msg_t *run = start_pod(f, POD_JSON("", ",\"terminationGracePeriodSeconds\":20", ""));
  sink_reset(f);
  kq_send(f->sys, f->pod, delete_msg(-1));
  kq_h_run(f->h);
  const kq_sink_event_msg_t *e = expect_event(f, "Killing", false);
  assert_non_null(strstr(e->message, "b-1"));
  kq_browser_cancel_msg_t *c = (kq_browser_cancel_msg_t *)kq_h_expect(f->h, f->browser, KQ_BROWSER_MSG_CANCEL);
  assert_string_equal(c->run_id, "u-1-1");
  assert_string_equal(c->reason, "pod deleted");
  kq_msg_free(&c->hdr);
  assert_int_equal(count_id(f, KQ_SINK_MSG_POD_GONE), 0);
  kq_h_advance(f->h, KQ_SEC(19));
  assert_int_equal(count_id(f, KQ_SINK_MSG_POD_GONE), 0);
  assert_true(kq_actor_alive(f->sys, f->pod));
  /* A second delete is a no-op. */
  kq_send(f->sys, f->pod, delete_msg(0));
  kq_h_run(f->h);
  assert_int_equal(count_id(f, KQ_SINK_MSG_POD_GONE), 0);

  report_ev(f, run, KQ_RUN_CANCELLED);
  expect_gone(f);
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  kq_h_expect_none(f->h, f->sched);
  kq_h_expect_none(f->h, f->browser);
  kq_msg_free(&run->hdr);
  fx_free(f);
}

static void test_delete_running_no_answer_gone_after_grace(void **state) {
  (void)state;
  fx_t *f = fx_new();
  kq_browser_run_msg_t *run = start_pod(f, POD_JSON("", "", ""));
  sink_reset(f);
  kq_send(f->sys, f->pod, delete_msg(5));
  kq_h_run(f->h);
  kq_msg_free(kq_h_expect(f->h, f->browser, KQ_BROWSER_MSG_CANCEL));
  kq_h_advance(f->h, KQ_SEC(5) - KQ_MS(1));
  assert_int_equal(count_id(f, KQ_SINK_MSG_POD_GONE), 0);
  kq_h_advance(f->h, KQ_MS(1));
  expect_gone(f);
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  /* The browser's late answer goes nowhere. */
  report_ev(f, run, KQ_RUN_CANCELLED);
  kq_h_expect_none(f->h, f->sink);
  kq_msg_free(&run->hdr);
  fx_free(f);
}

static void test_delete_while_waiting_for_browser(void **state) {
  (void)state;
  fx_t *f = fx_new();
  fx_spawn(f, POD_JSON("", "", ""));
  answer_image(f);
  kq_sched_place_msg_t *pl = expect_place(f);
  answer_waiting(f, pl, KQ_SCHED_REASON_WAITING, "no browser");
  sink_reset(f);
  kq_send(f->sys, f->pod, delete_msg(-1));
  kq_h_run(f->h);
  expect_sched_pod(f, KQ_SCHED_MSG_CANCEL);
  expect_gone(f);
  assert_null(find_event(f, "Killing"));
  /* A placement racing the cancel is dropped with the dead actor (no leak). */
  answer_placed(f, pl, f->browser, "b-1");
  kq_msg_free(&pl->hdr);
  kq_h_expect_none(f->h, f->browser);
  fx_free(f);
}

static void test_delete_in_backoff_and_done(void **state) {
  (void)state;
  /* In back-off: the timer is cancelled, no placement follows. */
  fx_t *f = fx_new();
  kq_browser_run_msg_t *run = start_pod(f, POD_JSON("", "", ""));
  report_exit(f, run, 1);
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  sink_reset(f);
  kq_send(f->sys, f->pod, delete_msg(-1));
  kq_h_run(f->h);
  expect_gone(f);
  kq_h_advance(f->h, KQ_SEC(60));
  kq_h_expect_none(f->h, f->sched);
  kq_msg_free(&run->hdr);
  fx_free(f);

  /* Finished: gone at once. */
  f = fx_new();
  run = start_pod(f, POD_JSON("", ",\"restartPolicy\":\"Never\"", ""));
  report_exit(f, run, 0);
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  sink_reset(f);
  kq_send(f->sys, f->pod, delete_msg(-1));
  kq_h_run(f->h);
  expect_gone(f);
  kq_h_expect_none(f->h, f->browser);
  kq_msg_free(&run->hdr);
  fx_free(f);
}

static void test_node_lost(void **state) {
  (void)state;
  fx_t *f = fx_new();
  kq_browser_run_msg_t *run = start_pod(f, POD_JSON("", "", "")); /* Always: still no restart */
  sink_reset(f);
  kq_run_report_msg_t *r = new_report(run, KQ_RUN_LOST, NULL);
  r->browser_id = kq_strdup("b-1");
  r->message = kq_strdup("heartbeat timeout");
  send_report_msg(f, run, r);
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_FAILED);
  assert_string_equal(s->status.reason, "NodeLost");
  assert_non_null(strstr(s->status.message, "b-1"));
  assert_non_null(strstr(s->status.message, "heartbeat timeout"));
  assert_string_equal(cstatus(s)->state.reason, "NodeLost");
  const kq_sink_event_msg_t *e = expect_event(f, "NodeLost", true);
  assert_non_null(strstr(e->message, "b-1"));
  assert_null(find_event(f, "BackOff"));
  kq_h_advance(f->h, KQ_SEC(600));
  kq_h_expect_none(f->h, f->sched);
  kq_msg_free(&run->hdr);
  fx_free(f);
}

static void test_stale_run_id_ignored(void **state) {
  (void)state;
  fx_t *f = fx_new();
  kq_browser_run_msg_t *run = start_pod(f, POD_JSON("", ",\"restartPolicy\":\"Never\"", ""));
  sink_reset(f);
  kq_run_report_msg_t *r = new_report(run, KQ_RUN_EXITED, "u-1-7");
  r->exit_code = 1;
  send_report_msg(f, run, r);
  send_report_msg(f, run, new_report(run, KQ_RUN_LOST, "other"));
  r = new_report(run, KQ_RUN_LOG, "u-1-0");
  r->stream = 1;
  r->data = kq_strdup("stale\n");
  r->len = 6;
  send_report_msg(f, run, r);
  kq_h_expect_none(f->h, f->sink);
  kq_h_expect_none(f->h, f->sched);
  /* The real run still finishes normally. */
  report_exit(f, run, 0);
  assert_int_equal(last_status(f)->status.phase, KQ_PHASE_SUCCEEDED);
  char *text = read_logs(f, false);
  assert_true(text == NULL || strstr(text, "stale") == NULL);
  free(text);
  kq_msg_free(&run->hdr);
  fx_free(f);
}

/* A run so short that EXITED arrives without RUNNING: still a proper terminated state. */
static void test_exit_without_running_report(void **state) {
  (void)state;
  fx_t *f = fx_new();
  uint64_t t0 = now_wall(f);
  fx_spawn(f, POD_JSON("", ",\"restartPolicy\":\"Never\"", ""));
  kq_h_advance(f->h, KQ_SEC(3)); /* pulling */
  answer_image(f);
  kq_sched_place_msg_t *pl = expect_place(f);
  answer_placed(f, pl, f->browser, "b-1");
  kq_msg_free(&pl->hdr);
  kq_browser_run_msg_t *run = expect_run(f, f->browser);
  report_log(f, run, 1, "quick");
  sink_reset(f);
  uint64_t t = now_wall(f);
  report_exit(f, run, 0);
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_SUCCEEDED);
  assert_int_equal(s->status.start_ns, t0); /* startTime: acknowledged by the node, before the pull */
  assert_int_equal(cstatus(s)->state.kind, KQ_CSTATE_TERMINATED);
  assert_int_equal(cstatus(s)->state.started_ns, t);
  assert_int_equal(cstatus(s)->state.finished_ns, t);
  assert_null(find_event(f, "Started"));
  char *text = read_logs(f, false); /* the partial last line is flushed at the end */
  assert_string_equal(text, "quick\n");
  free(text);
  kq_msg_free(&run->hdr);
  fx_free(f);
}

static void test_run_failed_report(void **state) {
  (void)state;
  fx_t *f = fx_new();
  kq_browser_run_msg_t *run = start_pod(f, POD_JSON("", ",\"restartPolicy\":\"Never\"", ""));
  sink_reset(f);
  kq_run_report_msg_t *r = new_report(run, KQ_RUN_FAILED, NULL);
  r->message = kq_strdup("compile error: bad magic");
  send_report_msg(f, run, r);
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_FAILED);
  assert_string_equal(cstatus(s)->state.reason, "StartError");
  assert_string_equal(cstatus(s)->state.message, "compile error: bad magic");
  assert_int_equal(cstatus(s)->state.exit_code, 128);
  const kq_sink_event_msg_t *e = expect_event(f, "Failed", true);
  assert_non_null(strstr(e->message, "bad magic"));
  kq_msg_free(&run->hdr);
  fx_free(f);
}

static void test_unsupported_two_containers(void **state) {
  (void)state;
  fx_t *f = fx_new();
  fx_spawn(f, "{\"metadata\":{\"name\":\"hello\",\"namespace\":\"demo\",\"uid\":\"u-1\"},"
              "\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"" IMAGE "\"},"
              "{\"name\":\"side\",\"image\":\"" IMAGE "\"}]}}");
  assert_int_equal(f->nimg, 0);
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_FAILED);
  assert_string_equal(s->status.reason, "Unsupported");
  assert_non_null(strstr(s->status.message, "2 containers"));
  assert_string_equal(cstatus(s)->state.reason, "CreateContainerConfigError");
  const kq_sink_event_msg_t *e = expect_event(f, "FailedCreate", true);
  assert_non_null(strstr(e->message, "2 containers"));
  kq_h_advance(f->h, KQ_SEC(600));
  kq_h_expect_none(f->h, f->sched);
  assert_int_equal(f->nimg, 0);
  fx_free(f);
}

#define SECRET_ENV                                                                                 \
  ",\"env\":[{\"name\":\"TOKEN\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"creds\",\"key\":\"t\"}}}]"

static void test_secret_env_refused_without_annotation(void **state) {
  (void)state;
  fx_t *f = fx_new();
  fx_spawn(f, POD_JSON("", "", SECRET_ENV));
  assert_int_equal(f->nimg, 0);
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_FAILED);
  assert_string_equal(s->status.reason, "SecretsRefused");
  assert_non_null(strstr(s->status.message, "TOKEN"));
  assert_non_null(strstr(s->status.message, "creds"));
  assert_non_null(strstr(s->status.message, "kuack.io/allow-secrets"));
  assert_string_equal(cstatus(s)->state.reason, "CreateContainerConfigError");
  expect_event(f, "Failed", true);
  fx_free(f);

  /* envFrom a Secret is refused the same way. */
  f = fx_new();
  fx_spawn(f, POD_JSON("", "", ",\"envFrom\":[{\"secretRef\":{\"name\":\"bulk\"}}]"));
  assert_int_equal(f->nimg, 0);
  s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_FAILED);
  assert_string_equal(s->status.reason, "SecretsRefused");
  assert_non_null(strstr(s->status.message, "bulk"));
  expect_event(f, "Failed", true);
  fx_free(f);
}

static void test_secret_env_accepted_with_annotation(void **state) {
  (void)state;
  fx_t *f = fx_new();
  fx_spawn(f, POD_JSON(",\"annotations\":{\"kuack.io/allow-secrets\":\"true\"}", "", SECRET_ENV));
  assert_int_equal(f->nimg, 1);
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_PENDING);
  assert_null(find_event(f, "Failed"));
  answer_image(f);
  kq_msg_free(kq_h_expect(f->h, f->sched, KQ_SCHED_MSG_PLACE));
  fx_free(f);

  /* "false" is not an opt-in. */
  f = fx_new();
  fx_spawn(f, POD_JSON(",\"annotations\":{\"kuack.io/allow-secrets\":\"false\"}", "", SECRET_ENV));
  assert_int_equal(f->nimg, 0);
  assert_string_equal(last_status(f)->status.reason, "SecretsRefused");
  fx_free(f);
}

/* Spawns a pod with container fields `ctr`, answers the image with `im`, places it, and returns
 * the run request (owned). */
static kq_browser_run_msg_t *run_for(fx_t *f, const char *json, const img_t *im) {
  fx_spawn(f, json);
  answer_image_with(f, im);
  kq_sched_place_msg_t *pl = expect_place(f);
  answer_placed(f, pl, f->browser, "b-1");
  kq_msg_free(&pl->hdr);
  return expect_run(f, f->browser);
}

static void assert_args(const kq_run_spec_t *s, const char *const *want) {
  uint32_t n = 0;
  while (want[n]) n++;
  if (s->nargs != n) {
    for (uint32_t i = 0; i < s->nargs; i++) print_error("  got args[%u] = %s\n", i, s->args[i]);
    fail_msg("nargs %u, want %u", s->nargs, n);
  }
  for (uint32_t i = 0; i < n; i++) assert_string_equal(s->args[i], want[i]);
}

static const char *env_get(const kq_run_spec_t *s, const char *name) {
  for (uint32_t i = 0; i < s->nenv; i++)
    if (!strcmp(s->env[i].name, name)) return s->env[i].value;
  return NULL;
}

static void check_argv(const char *json, const img_t *im, const char *const *want) {
  fx_t *f = fx_new();
  kq_browser_run_msg_t *run = run_for(f, json, im);
  assert_args(&run->spec, want);
  kq_msg_free(&run->hdr);
  fx_free(f);
}

static void test_argv_precedence(void **state) {
  (void)state;
  img_t im = {.kind = KQ_OCI_KIND_WASI, .module = "hello.wasm",
              .ep = {"hello.wasm"}, .cmd = {"--greet", "world"}};
  /* Image entrypoint + cmd. */
  check_argv(POD_JSON("", "", ""), &im, (const char *[]){"hello.wasm", "--greet", "world", NULL});
  /* Pod args replace the image cmd, keep the entrypoint. */
  check_argv(POD_JSON("", "", ",\"args\":[\"--x\",\"1\"]"), &im,
             (const char *[]){"hello.wasm", "--x", "1", NULL});
  /* Pod command replaces the entrypoint and drops the image cmd. */
  check_argv(POD_JSON("", "", ",\"command\":[\"other.wasm\",\"-v\"]"), &im,
             (const char *[]){"other.wasm", "-v", NULL});
  /* Pod command + args. */
  check_argv(POD_JSON("", "", ",\"command\":[\"other.wasm\"],\"args\":[\"a\",\"b\"]"), &im,
             (const char *[]){"other.wasm", "a", "b", NULL});
  /* A non-.wasm command: argv[0] is the module, the command follows. */
  check_argv(POD_JSON("", "", ",\"command\":[\"serve\"],\"args\":[\"-p\",\"1\"]"), &im,
             (const char *[]){"hello.wasm", "serve", "-p", "1", NULL});
  /* Nothing anywhere: the module alone. */
  check_argv(POD_JSON("", "", ""), &default_img, (const char *[]){"hello.wasm", NULL});
  /* Image cmd only, naming the module. */
  img_t cmd_only = {.kind = KQ_OCI_KIND_WASI, .module = "hello.wasm", .cmd = {"app.wasm", "run"}};
  check_argv(POD_JSON("", "", ""), &cmd_only, (const char *[]){"app.wasm", "run", NULL});
  /* Image cmd only, not naming a module. */
  img_t cmd_plain = {.kind = KQ_OCI_KIND_WASI, .module = "hello.wasm", .cmd = {"run", "fast"}};
  check_argv(POD_JSON("", "", ""), &cmd_plain, (const char *[]){"hello.wasm", "run", "fast", NULL});
}

static void test_env_and_resources(void **state) {
  (void)state;
  fx_t *f = fx_new();
  img_t im = {.kind = KQ_OCI_KIND_BINDGEN, .module = "pkg/app_bg.wasm", .glue = "pkg/app.js",
              .env = {"PATH=/bin", "MODE=image", "KEEP=1", "BROKEN"}};
  kq_browser_run_msg_t *run = run_for(
      f,
      POD_JSON("", ",\"activeDeadlineSeconds\":100",
               ",\"env\":[{\"name\":\"MODE\",\"value\":\"pod\"},"
               "{\"name\":\"POD_NAME\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}},"
               "{\"name\":\"POD_NS\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.namespace\"}}},"
               "{\"name\":\"POD_UID\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.uid\"}}},"
               "{\"name\":\"NODE\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"spec.nodeName\"}}},"
               "{\"name\":\"EMPTY\"}],"
               "\"resources\":{\"requests\":{\"cpu\":\"500m\",\"memory\":\"32Mi\"},"
               "\"limits\":{\"cpu\":\"2\",\"memory\":\"128Mi\"}}"),
      &im);
  const kq_run_spec_t *s = &run->spec;
  assert_int_equal(s->kind, KQ_WORKLOAD_BINDGEN);
  assert_string_equal(s->module_url, "/artefacts/" DIGEST "/pkg/app_bg.wasm?run=u-1-1");
  assert_string_equal(s->glue_url, "/artefacts/" DIGEST "/pkg/app.js?run=u-1-1");
  /* Image env first, pod env overrides in place, downward API resolved. */
  assert_int_equal(s->nenv, 8);
  assert_string_equal(s->env[0].name, "PATH");
  assert_string_equal(s->env[1].name, "MODE");
  assert_string_equal(s->env[1].value, "pod");
  assert_string_equal(env_get(s, "PATH"), "/bin");
  assert_string_equal(env_get(s, "KEEP"), "1");
  assert_null(env_get(s, "BROKEN"));
  assert_string_equal(env_get(s, "POD_NAME"), "hello");
  assert_string_equal(env_get(s, "POD_NS"), "demo");
  assert_string_equal(env_get(s, "POD_UID"), "u-1");
  assert_string_equal(env_get(s, "NODE"), "kuack-node");
  assert_string_equal(env_get(s, "EMPTY"), "");
  /* Limits win over requests. */
  assert_int_equal(s->cpu_millis, 2000);
  assert_int_equal(s->memory_bytes, 128 * 1024 * 1024);
  kq_msg_free(&run->hdr);
  const kq_sink_status_msg_t *st = last_status(f);
  assert_string_equal(st->status.qos_class, "Guaranteed");
  fx_free(f);
}

/* ---- Kubernetes mode: Secrets and ConfigMaps read before the image ---- */

static void data_msg_dtor(kq_msg_t *m) {
  kq_k8s_data_msg_t *d = (kq_k8s_data_msg_t *)m;
  for (size_t i = 0; i < d->ndata; i++) {
    free(d->data[i].key);
    free(d->data[i].value);
  }
  free(d->data);
  free(d->error);
}

/* Answers read `i` with rc and key/value pairs (NULL-terminated list: k1, v1, k2, v2, ..., NULL). */
static void answer_object(fx_t *f, int i, int rc, ...) {
  assert_true(i < f->nobj);
  kq_k8s_data_msg_t *d = KQ_MSG_NEW(kq_k8s_data_msg_t, f->obj[i].id);
  d->hdr.dtor = data_msg_dtor;
  d->cookie = f->obj[i].cookie;
  d->rc = rc;
  if (rc == KQ_ENOENT) d->error = kq_asprintf("%s \"%s\" not found", f->obj[i].secret ? "secrets" : "configmaps", f->obj[i].name);
  va_list ap;
  va_start(ap, rc);
  const char *k;
  while ((k = va_arg(ap, const char *))) {
    const char *v = va_arg(ap, const char *);
    d->data = kq_realloc(d->data, (d->ndata + 1) * sizeof *d->data);
    d->data[d->ndata].key = kq_strdup(k);
    d->data[d->ndata].value = kq_strdup(v);
    d->ndata++;
  }
  va_end(ap);
  kq_send(f->sys, f->obj[i].to, &d->hdr);
  kq_h_run(f->h);
}

static int obj_index(fx_t *f, bool secret, const char *name, int from) {
  for (int i = from; i < f->nobj; i++)
    if (f->obj[i].secret == secret && !strcmp(f->obj[i].name, name)) {
      assert_string_equal(f->obj[i].ns, "demo");
      return i;
    }
  fail_msg("no read of %s %s", secret ? "secret" : "configmap", name);
  return -1;
}

static kq_browser_run_msg_t *place_and_run(fx_t *f) {
  answer_image(f);
  kq_sched_place_msg_t *pl = expect_place(f);
  answer_placed(f, pl, f->browser, "b-1");
  kq_msg_free(&pl->hdr);
  return expect_run(f, f->browser);
}

#define CM_ENV                                                                                     \
  ",\"env\":[{\"name\":\"GREETING\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"greet\",\"key\":\"text\"}}}," \
  "{\"name\":\"OPT\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"absent\",\"key\":\"x\",\"optional\":true}}}," \
  "{\"name\":\"B_A\",\"value\":\"literal wins\"}],"                                                 \
  "\"envFrom\":[{\"prefix\":\"B_\",\"configMapRef\":{\"name\":\"bulk\"}},"                             \
  "{\"configMapRef\":{\"name\":\"absent2\",\"optional\":true}}]"

static void test_env_from_configmaps(void **state) {
  (void)state;
  fx_t *f = fx_new();
  f->with_api = true;
  fx_spawn(f, POD_JSON("", "", CM_ENV));
  assert_int_equal(f->nimg, 0); /* nothing pulled before the config is read */
  assert_int_equal(f->nobj, 4);
  assert_string_equal(cstatus(last_status(f))->state.reason, "ContainerCreating");
  answer_object(f, obj_index(f, false, "greet", 0), KQ_OK, "text", "hi from a ConfigMap", NULL);
  answer_object(f, obj_index(f, false, "absent", 0), KQ_ENOENT, NULL);
  answer_object(f, obj_index(f, false, "bulk", 0), KQ_OK, "A", "1", "B", "2", "bad=key", "x", NULL);
  assert_int_equal(f->nimg, 0);
  answer_object(f, obj_index(f, false, "absent2", 0), KQ_ENOENT, NULL);
  assert_int_equal(f->nimg, 1);
  assert_int_equal(f->nimg_secrets, 0);
  kq_browser_run_msg_t *run = place_and_run(f);
  const kq_run_spec_t *s = &run->spec;
  assert_string_equal(env_get(s, "GREETING"), "hi from a ConfigMap");
  assert_string_equal(env_get(s, "B_A"), "literal wins"); /* env overrides envFrom */
  assert_string_equal(env_get(s, "B_B"), "2");
  assert_null(env_get(s, "OPT"));                         /* optional and missing: left out */
  assert_null(env_get(s, "B_bad=key"));
  assert_int_equal(s->nenv, 3);
  assert_null(find_event(f, "Failed"));
  kq_msg_free(&run->hdr);
  fx_free(f);

  /* Standalone (no API): nothing is read, the references are left out. */
  f = fx_new();
  fx_spawn(f, POD_JSON("", "", CM_ENV));
  assert_int_equal(f->nobj, 0);
  assert_int_equal(f->nimg, 1);
  run = place_and_run(f);
  assert_null(env_get(&run->spec, "GREETING"));
  assert_string_equal(env_get(&run->spec, "B_A"), "literal wins");
  assert_int_equal(run->spec.nenv, 1);
  kq_msg_free(&run->hdr);
  fx_free(f);
}

static void test_missing_configmap_waits_and_retries(void **state) {
  (void)state;
  fx_t *f = fx_new();
  f->with_api = true;
  fx_spawn(f, POD_JSON("", "", ",\"env\":[{\"name\":\"G\",\"valueFrom\":{\"configMapKeyRef\":"
                                "{\"name\":\"greet\",\"key\":\"text\"}}}]"));
  assert_int_equal(f->nobj, 1);
  sink_reset(f);
  answer_object(f, 0, KQ_ENOENT, NULL);
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_PENDING);
  assert_string_equal(cstatus(s)->state.reason, "CreateContainerConfigError");
  assert_string_equal(cstatus(s)->state.message, "configmap \"greet\" not found");
  const kq_sink_event_msg_t *e = expect_event(f, "Failed", true);
  assert_string_equal(e->message, "Error: configmap \"greet\" not found");
  assert_int_equal(f->nimg, 0);
  /* Read again after the back-off (10 s, then 20 s). */
  kq_h_advance(f->h, KQ_SEC(10) - KQ_MS(1));
  assert_int_equal(f->nobj, 1);
  kq_h_advance(f->h, KQ_MS(1));
  assert_int_equal(f->nobj, 2);
  /* The key is missing this time: a different clear message. */
  answer_object(f, 1, KQ_OK, "other", "v", NULL);
  assert_string_equal(cstatus(last_status(f))->state.message, "couldn't find key text in ConfigMap demo/greet");
  kq_h_advance(f->h, KQ_SEC(20));
  assert_int_equal(f->nobj, 3);
  answer_object(f, 0, KQ_OK, "text", "stale answer", NULL); /* an older round: ignored */
  assert_int_equal(f->nimg, 0);
  answer_object(f, 2, KQ_OK, "text", "now here", NULL);
  assert_int_equal(f->nimg, 1);
  kq_browser_run_msg_t *run = place_and_run(f);
  assert_string_equal(env_get(&run->spec, "G"), "now here");
  kq_msg_free(&run->hdr);
  fx_free(f);
}

static void test_image_pull_secrets(void **state) {
  (void)state;
  fx_t *f = fx_new();
  f->with_api = true;
  fx_spawn(f, POD_JSON("", ",\"imagePullSecrets\":[{\"name\":\"regcred\"},{\"name\":\"old\"}]", ""));
  assert_int_equal(f->nobj, 2);
  sink_reset(f);
  answer_object(f, obj_index(f, true, "old", 0), KQ_OK, ".dockercfg", "{\"r.example\":{\"auth\":\"dTpw\"}}", NULL);
  answer_object(f, obj_index(f, true, "regcred", 0), KQ_ENOENT, NULL);
  assert_int_equal(f->nimg, 0);
  const kq_sink_status_msg_t *s = last_status(f);
  assert_string_equal(cstatus(s)->state.reason, "CreateContainerConfigError");
  assert_string_equal(cstatus(s)->state.message, "couldn't get image pull secret \"regcred\": secret \"regcred\" not found");
  expect_event(f, "FailedToRetrieveImagePullSecret", true);
  kq_h_advance(f->h, KQ_SEC(10));
  assert_int_equal(f->nobj, 4);
  answer_object(f, obj_index(f, true, "regcred", 2), KQ_OK, ".dockerconfigjson", "{\"auths\":{\"reg\":{}}}", NULL);
  answer_object(f, obj_index(f, true, "old", 2), KQ_OK, ".dockercfg", "{\"r.example\":{\"auth\":\"dTpw\"}}", NULL);
  assert_int_equal(f->nimg, 1);
  assert_int_equal(f->nimg_secrets, 2);
  assert_string_equal(f->img_secrets[0], "{\"auths\":{\"reg\":{}}}");
  assert_string_equal(f->img_secrets[1], "{\"auths\":{\"r.example\":{\"auth\":\"dTpw\"}}}"); /* legacy wrapped */
  /* An image retry sends the same texts. */
  answer_image_fail(f, KQ_OCI_REASON_ERR_IMAGE_PULL, "unauthorized");
  kq_h_advance(f->h, KQ_SEC(10));
  assert_int_equal(f->nimg, 2);
  assert_int_equal(f->nimg_secrets, 2);
  fx_free(f);

  /* A Secret of the wrong type is named in the message. */
  f = fx_new();
  f->with_api = true;
  fx_spawn(f, POD_JSON("", ",\"imagePullSecrets\":[{\"name\":\"opaque\"}]", ""));
  answer_object(f, 0, KQ_OK, "password", "x", NULL);
  assert_int_equal(f->nimg, 0);
  assert_non_null(strstr(cstatus(last_status(f))->state.message, ".dockerconfigjson"));
  fx_free(f);
}

static void test_secret_env_read_with_annotation(void **state) {
  (void)state;
  fx_t *f = fx_new();
  f->with_api = true;
  fx_spawn(f, POD_JSON(",\"annotations\":{\"kuack.io/allow-secrets\":\"true\"}", "",
                       ",\"env\":[{\"name\":\"TOKEN\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"creds\",\"key\":\"t\"}}}],"
                       "\"envFrom\":[{\"secretRef\":{\"name\":\"more\"}}]"));
  assert_int_equal(f->nobj, 2);
  answer_object(f, obj_index(f, true, "creds", 0), KQ_OK, "t", "s3cret", NULL);
  answer_object(f, obj_index(f, true, "more", 0), KQ_OK, "EXTRA", "e", NULL);
  kq_browser_run_msg_t *run = place_and_run(f);
  assert_string_equal(env_get(&run->spec, "TOKEN"), "s3cret");
  assert_string_equal(env_get(&run->spec, "EXTRA"), "e");
  kq_msg_free(&run->hdr);
  fx_free(f);
}

static void test_delete_while_reading_config(void **state) {
  (void)state;
  fx_t *f = fx_new();
  f->with_api = true;
  fx_spawn(f, POD_JSON("", ",\"imagePullSecrets\":[{\"name\":\"regcred\"}]", ""));
  sink_reset(f);
  kq_send(f->sys, f->pod, delete_msg(-1));
  kq_h_run(f->h);
  expect_gone(f);
  answer_object(f, 0, KQ_OK, ".dockerconfigjson", "{}", NULL); /* to a dead actor: dropped */
  assert_int_equal(f->nimg, 0);
  fx_free(f);
}

/* A deadline cancel the browser never confirms does not leave the Pod Running. */
static void test_active_deadline_cancel_unanswered(void **state) {
  (void)state;
  fx_t *f = fx_new();
  kq_browser_run_msg_t *run =
      start_pod(f, POD_JSON("", ",\"activeDeadlineSeconds\":30,\"terminationGracePeriodSeconds\":5", ""));
  sink_reset(f);
  kq_h_advance(f->h, KQ_SEC(30));
  kq_msg_free(kq_h_expect(f->h, f->browser, KQ_BROWSER_MSG_CANCEL));
  assert_int_equal(count_id(f, KQ_SINK_MSG_POD_STATUS), 0);
  kq_h_advance(f->h, KQ_SEC(5) - KQ_MS(1));
  assert_int_equal(count_id(f, KQ_SINK_MSG_POD_STATUS), 0);
  kq_h_advance(f->h, KQ_MS(1));
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  const kq_sink_status_msg_t *s = last_status(f);
  assert_int_equal(s->status.phase, KQ_PHASE_FAILED);
  assert_string_equal(s->status.reason, "DeadlineExceeded");
  assert_int_equal(cstatus(s)->state.kind, KQ_CSTATE_TERMINATED);
  assert_int_equal(cstatus(s)->state.exit_code, 137);
  assert_non_null(strstr(cstatus(s)->state.message, "did not confirm"));
  /* The late answer changes nothing. */
  sink_reset(f);
  report_ev(f, run, KQ_RUN_CANCELLED);
  kq_h_expect_none(f->h, f->sink);
  kq_h_advance(f->h, KQ_SEC(600));
  kq_h_expect_none(f->h, f->sched);
  kq_msg_free(&run->hdr);
  fx_free(f);
}

/* ---- start-up reconcile (pod_status.c, used by the Kubernetes bridge) ---- */

static void decode(const char *json, kq_pod_t *p) {
  char *err = NULL;
  if (kq_k8s_pod_from_json(json, strlen(json), p, &err) != KQ_OK) fail_msg("pod json: %s", err ? err : "?");
}

#define STATUS_POD(status) \
  "{\"metadata\":{\"name\":\"hello\",\"namespace\":\"demo\",\"uid\":\"u-1\"},\"spec\":{\"containers\":" \
  "[{\"name\":\"main\",\"image\":\"" IMAGE "\"}]},\"status\":" status "}"

static void test_restart_reconcile(void **state) {
  (void)state;
  static const struct { const char *status; bool ran; } t[] = {
      {"{}", false},
      {"{\"phase\":\"Pending\",\"containerStatuses\":[{\"name\":\"main\",\"image\":\"x\",\"imageID\":\"\","
       "\"ready\":false,\"restartCount\":0,\"state\":{\"waiting\":{\"reason\":\"ContainerCreating\"}}}]}", false},
      /* a run was sent (container id) but never reported running: it may have run */
      {"{\"phase\":\"Pending\",\"containerStatuses\":[{\"name\":\"main\",\"image\":\"x\",\"imageID\":\"\","
       "\"containerID\":\"kuack://u-1-1\",\"ready\":false,\"restartCount\":0,"
       "\"state\":{\"waiting\":{\"reason\":\"ContainerCreating\"}}}]}", true},
      {"{\"phase\":\"Running\"}", true},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    char json[1024];
    snprintf(json, sizeof json, STATUS_POD("%s"), t[i].status);
    kq_pod_t p;
    decode(json, &p);
    if (kq_pod_ran_before(&p) != t[i].ran) fail_msg("case %zu: ran_before %d", i, !t[i].ran);
    kq_pod_clear(&p);
  }

  kq_pod_t p;
  decode(STATUS_POD("{\"phase\":\"Running\",\"startTime\":\"2026-01-01T00:00:00Z\",\"hostIP\":\"127.0.0.1\","
                    "\"containerStatuses\":[{\"name\":\"main\",\"image\":\"" IMAGE "\",\"imageID\":\"" IMAGE_ID "\","
                    "\"containerID\":\"kuack://u-1-1\",\"ready\":true,\"started\":true,\"restartCount\":2,"
                    "\"state\":{\"running\":{\"startedAt\":\"2026-01-01T00:00:05Z\"}}}]}"),
         &p);
  uint64_t start = 0, started = 0, now = 0;
  assert_int_equal(kq_k8s_parse_time("2026-01-01T00:00:00Z", &start), KQ_OK);
  assert_int_equal(kq_k8s_parse_time("2026-01-01T00:00:05Z", &started), KQ_OK);
  assert_int_equal(kq_k8s_parse_time("2026-01-01T00:10:00Z", &now), KQ_OK);
  kq_pod_status_t st;
  kq_pod_restarted_status(&p, now, &st);
  assert_int_equal(st.phase, KQ_PHASE_FAILED);
  assert_string_equal(st.reason, "NodeRestarted");
  assert_non_null(strstr(st.message, "run u-1-1"));
  assert_non_null(strstr(st.message, "not started again"));
  assert_int_equal(st.start_ns, start);
  assert_string_equal(st.host_ip, "127.0.0.1");
  assert_int_equal(st.ncontainer_statuses, 1);
  const kq_container_status_t *cs = &st.container_statuses[0];
  assert_string_equal(cs->name, "main");
  assert_string_equal(cs->image_id, IMAGE_ID);
  assert_string_equal(cs->container_id, "kuack://u-1-1");
  assert_int_equal(cs->restart_count, 2);
  assert_false(cs->ready);
  assert_int_equal(cs->state.kind, KQ_CSTATE_TERMINATED);
  assert_int_equal(cs->state.exit_code, 137);
  assert_string_equal(cs->state.reason, "NodeRestarted");
  assert_int_equal(cs->state.started_ns, started);
  assert_int_equal(cs->state.finished_ns, now);
  kq_pod_condition_t *ready = kq_pod_status_condition(&st, "Ready");
  assert_non_null(ready);
  assert_int_equal(ready->status, KQ_COND_FALSE);
  /* It renders as a status patch. */
  size_t len = 0;
  char *patch = kq_k8s_pod_status_patch(&st, &len);
  assert_non_null(strstr(patch, "\"NodeRestarted\""));
  assert_non_null(strstr(patch, "\"Failed\""));
  free(patch);
  kq_pod_status_clear(&st);
  kq_pod_clear(&p);
}

static void send_update(fx_t *f, const char *json) {
  kq_pod_t pod;
  char *err = NULL;
  if (kq_k8s_pod_from_json(json, strlen(json), &pod, &err) != KQ_OK) fail_msg("pod json: %s", err ? err : "?");
  kq_send(f->sys, f->pod, &kq_pod_update_msg_new(&pod)->hdr);
  kq_h_run(f->h);
}

/* A newer version of the Pod: labels reach the next run's downward API, a new
 * activeDeadlineSeconds is armed from the Pod's start. */
static void test_update_labels_and_deadline(void **state) {
  (void)state;
  fx_t *f = fx_new();
  kq_browser_run_msg_t *run = start_pod(
      f, POD_JSON(",\"labels\":{\"tier\":\"a\"}", "",
                  ",\"env\":[{\"name\":\"TIER\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.labels['tier']\"}}}]"));
  assert_string_equal(env_get(&run->spec, "TIER"), "a");
  kq_h_advance(f->h, KQ_SEC(5));
  send_update(f, POD_JSON(",\"labels\":{\"tier\":\"b\"}", "", ""));
  report_exit(f, run, 1); /* Always: restarted after the back-off */
  expect_sched_pod(f, KQ_SCHED_MSG_RELEASE);
  kq_h_advance(f->h, KQ_SEC(10));
  kq_sched_place_msg_t *pl = expect_place(f);
  answer_placed(f, pl, f->browser, "b-1");
  kq_msg_free(&pl->hdr);
  kq_browser_run_msg_t *run2 = expect_run(f, f->browser);
  /* The spec's env is unchanged (immutable); the label it points at is the new one. */
  assert_string_equal(env_get(&run2->spec, "TIER"), "b");
  report_ev(f, run2, KQ_RUN_RUNNING);
  /* 15 s since the start: a 20 s deadline leaves 5 s. */
  send_update(f, POD_JSON(",\"labels\":{\"tier\":\"b\"}", ",\"activeDeadlineSeconds\":20", ""));
  kq_h_advance(f->h, KQ_SEC(5) - KQ_MS(1));
  kq_h_expect_none(f->h, f->browser);
  kq_h_advance(f->h, KQ_MS(1));
  kq_browser_cancel_msg_t *c = (kq_browser_cancel_msg_t *)kq_h_expect(f->h, f->browser, KQ_BROWSER_MSG_CANCEL);
  assert_string_equal(c->run_id, "u-1-2");
  kq_msg_free(&c->hdr);
  report_ev(f, run2, KQ_RUN_CANCELLED);
  assert_string_equal(last_status(f)->status.reason, "DeadlineExceeded");
  /* An update for another uid is ignored. */
  send_update(f, "{\"metadata\":{\"name\":\"hello\",\"namespace\":\"demo\",\"uid\":\"u-2\"},"
                 "\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"x\"}]}}");
  kq_msg_free(&run->hdr);
  kq_msg_free(&run2->hdr);
  fx_free(f);
}

static void test_backoff_formula(void **state) {
  (void)state;
  assert_int_equal(kq_pod_backoff_ns(0, 0, 0), KQ_SEC(10));
  assert_int_equal(kq_pod_backoff_ns(1, 0, 0), KQ_SEC(20));
  assert_int_equal(kq_pod_backoff_ns(2, 0, 0), KQ_SEC(40));
  assert_int_equal(kq_pod_backoff_ns(4, 0, 0), KQ_SEC(160));
  assert_int_equal(kq_pod_backoff_ns(5, 0, 0), KQ_SEC(300));
  assert_int_equal(kq_pod_backoff_ns(1000, 0, 0), KQ_SEC(300));
  assert_int_equal(kq_pod_backoff_ns(3, KQ_MS(100), KQ_SEC(1)), KQ_MS(800));
  assert_int_equal(kq_pod_backoff_ns(4, KQ_MS(100), KQ_SEC(1)), KQ_SEC(1));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_happy_path_never_succeeds),
      cmocka_unit_test(test_exit_3_fails_with_error),
      cmocka_unit_test(test_on_failure_crash_loop_backoff),
      cmocka_unit_test(test_always_restarts_after_success),
      cmocka_unit_test(test_image_pull_failure_backoff_then_success),
      cmocka_unit_test(test_invalid_image_name_is_permanent),
      cmocka_unit_test(test_waiting_for_browser_then_placed),
      cmocka_unit_test(test_invalid_selector_fails),
      cmocka_unit_test(test_active_deadline_cancels_run),
      cmocka_unit_test(test_active_deadline_while_waiting_for_browser),
      cmocka_unit_test(test_active_deadline_counts_from_pod_start),
      cmocka_unit_test(test_active_deadline_while_pulling),
      cmocka_unit_test(test_delete_running_cancel_then_gone),
      cmocka_unit_test(test_delete_running_no_answer_gone_after_grace),
      cmocka_unit_test(test_delete_while_waiting_for_browser),
      cmocka_unit_test(test_delete_in_backoff_and_done),
      cmocka_unit_test(test_node_lost),
      cmocka_unit_test(test_stale_run_id_ignored),
      cmocka_unit_test(test_exit_without_running_report),
      cmocka_unit_test(test_run_failed_report),
      cmocka_unit_test(test_unsupported_two_containers),
      cmocka_unit_test(test_secret_env_refused_without_annotation),
      cmocka_unit_test(test_secret_env_accepted_with_annotation),
      cmocka_unit_test(test_argv_precedence),
      cmocka_unit_test(test_env_and_resources),
      cmocka_unit_test(test_backoff_formula),
      cmocka_unit_test(test_env_from_configmaps),
      cmocka_unit_test(test_missing_configmap_waits_and_retries),
      cmocka_unit_test(test_image_pull_secrets),
      cmocka_unit_test(test_secret_env_read_with_annotation),
      cmocka_unit_test(test_delete_while_reading_config),
      cmocka_unit_test(test_active_deadline_cancel_unanswered),
      cmocka_unit_test(test_restart_reconcile),
      cmocka_unit_test(test_update_labels_and_deadline),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
