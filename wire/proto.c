/* kuack.v1 codec: names, directions, default limits and freeing decoded messages. */
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_proto.h"

static const char *const type_names[KQ_PROTO_TYPE_COUNT_] = {
    [KQ_PROTO_HELLO] = "hello",   [KQ_PROTO_WELCOME] = "welcome", [KQ_PROTO_HEARTBEAT] = "heartbeat",
    [KQ_PROTO_PING] = "ping",     [KQ_PROTO_PONG] = "pong",       [KQ_PROTO_RUN] = "run",
    [KQ_PROTO_STATUS] = "status", [KQ_PROTO_LOG] = "log",         [KQ_PROTO_CANCEL] = "cancel",
    [KQ_PROTO_ERROR] = "error",   [KQ_PROTO_BYE] = "bye",
};

static const int type_dirs[KQ_PROTO_TYPE_COUNT_] = {
    [KQ_PROTO_HELLO] = KQ_PROTO_DIR_A2N,  [KQ_PROTO_WELCOME] = KQ_PROTO_DIR_N2A,
    [KQ_PROTO_HEARTBEAT] = KQ_PROTO_DIR_A2N, [KQ_PROTO_PING] = KQ_PROTO_DIR_N2A,
    [KQ_PROTO_PONG] = KQ_PROTO_DIR_A2N,   [KQ_PROTO_RUN] = KQ_PROTO_DIR_N2A,
    [KQ_PROTO_STATUS] = KQ_PROTO_DIR_A2N, [KQ_PROTO_LOG] = KQ_PROTO_DIR_A2N,
    [KQ_PROTO_CANCEL] = KQ_PROTO_DIR_N2A, [KQ_PROTO_ERROR] = KQ_PROTO_DIR_BOTH,
    [KQ_PROTO_BYE] = KQ_PROTO_DIR_BOTH,
};

static const char *const phase_names[] = {
    [KQ_PROTO_PHASE_ACCEPTED] = "accepted", [KQ_PROTO_PHASE_FETCHING] = "fetching",
    [KQ_PROTO_PHASE_COMPILING] = "compiling", [KQ_PROTO_PHASE_RUNNING] = "running",
    [KQ_PROTO_PHASE_EXITED] = "exited",     [KQ_PROTO_PHASE_FAILED] = "failed",
    [KQ_PROTO_PHASE_CANCELLED] = "cancelled",
};

static const char *const kind_names[] = {[KQ_PROTO_KIND_WASI] = "wasi",
                                         [KQ_PROTO_KIND_BINDGEN] = "bindgen"};

void kq_proto_limits_default(kq_proto_limits_t *lim) {
  *lim = (kq_proto_limits_t){
      .max_frame = KQ_PROTO_DEFAULT_MAX_FRAME,
      .max_log_chunk = KQ_PROTO_DEFAULT_MAX_LOG_CHUNK,
      .max_str = KQ_PROTO_DEFAULT_MAX_STR,
      .max_args = KQ_PROTO_DEFAULT_MAX_ARGS,
      .max_env = KQ_PROTO_DEFAULT_MAX_ENV,
      .max_labels = KQ_PROTO_DEFAULT_MAX_LABELS,
      .max_runs = KQ_PROTO_DEFAULT_MAX_RUNS,
      .max_depth = KQ_PROTO_DEFAULT_MAX_DEPTH,
      .max_keys = KQ_PROTO_DEFAULT_MAX_KEYS,
  };
}

const char *kq_proto_type_name(kq_proto_type_t t) {
  return t > KQ_PROTO_NONE && t < KQ_PROTO_TYPE_COUNT_ ? type_names[t] : "?";
}

kq_proto_type_t kq_proto_type_from_name(const char *name, size_t len) {
  for (int t = KQ_PROTO_HELLO; t < KQ_PROTO_TYPE_COUNT_; t++) {
    if (strlen(type_names[t]) == len && memcmp(type_names[t], name, len) == 0)
      return (kq_proto_type_t)t;
  }
  return KQ_PROTO_NONE;
}

int kq_proto_type_dir(kq_proto_type_t t) {
  return t > KQ_PROTO_NONE && t < KQ_PROTO_TYPE_COUNT_ ? type_dirs[t] : 0;
}

const char *kq_proto_phase_name(kq_proto_phase_t p) {
  return p >= KQ_PROTO_PHASE_ACCEPTED && p <= KQ_PROTO_PHASE_CANCELLED ? phase_names[p] : "?";
}

const char *kq_proto_kind_name(kq_proto_kind_t k) {
  return k == KQ_PROTO_KIND_WASI || k == KQ_PROTO_KIND_BINDGEN ? kind_names[k] : "?";
}

static void free_strv(char **v, uint32_t n) {
  for (uint32_t i = 0; i < n && v; i++) free(v[i]);
  free(v);
}

static void free_gpu(kq_proto_gpu_t *g) {
  free(g->vendor);
  free(g->architecture);
}

void kq_proto_msg_clear(kq_proto_msg_t *m) {
  switch (m->type) {
  case KQ_PROTO_HELLO: {
    kq_proto_hello_t *h = &m->hello;
    free(h->token);
    free(h->agent_id);
    free(h->session_id);
    free_strv(h->runs, h->nruns);
    free_gpu(&h->gpu);
    for (uint32_t i = 0; i < h->nlabels && h->labels; i++) {
      free(h->labels[i].key);
      free(h->labels[i].value);
    }
    free(h->labels);
    free(h->user_agent);
    free(h->agent_version);
    break;
  }
  case KQ_PROTO_WELCOME:
    free(m->welcome.browser_id);
    free(m->welcome.session);
    free_strv(m->welcome.resumed, m->welcome.nresumed);
    break;
  case KQ_PROTO_HEARTBEAT:
    free_gpu(&m->heartbeat.gpu);
    break;
  case KQ_PROTO_RUN: {
    kq_proto_run_t *r = &m->run;
    free(r->run_id);
    free(r->pod_uid);
    free(r->namespace_);
    free(r->pod_name);
    free(r->container);
    free(r->module_url);
    free(r->glue_url);
    free(r->entry);
    free(r->digest);
    free_strv(r->args, r->nargs);
    for (uint32_t i = 0; i < r->nenv && r->env; i++) {
      free(r->env[i].name);
      free(r->env[i].value);
    }
    free(r->env);
    break;
  }
  case KQ_PROTO_STATUS:
    free(m->status.run_id);
    free(m->status.message);
    break;
  case KQ_PROTO_LOG:
    free(m->log.run_id);
    free(m->log.data);
    break;
  case KQ_PROTO_CANCEL:
    free(m->cancel.run_id);
    free(m->cancel.reason);
    break;
  case KQ_PROTO_ERROR:
    free(m->error.code);
    free(m->error.message);
    free(m->error.ref);
    break;
  case KQ_PROTO_BYE:
    free(m->bye.reason);
    break;
  default:
    break;
  }
  memset(m, 0, sizeof *m);
}
