/* The conformance cases (see proto_fixtures.h) and a deep equality over kq_proto_msg_t. */
#include "proto_fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"

static const char *const names[] = {
    "hello",          "hello_min",       "welcome",       "heartbeat",   "heartbeat_resources",
    "ping",           "pong",            "run_wasi",      "run_bindgen", "status_running",
    "status_exited",  "status_failed",   "log",           "log_empty",   "cancel",
    "error",          "bye",             "bye_empty",
};

size_t kq_fx_count(void) { return KQ_ARRAY_LEN(names); }
const char *kq_fx_name(size_t i) { return i < KQ_ARRAY_LEN(names) ? names[i] : NULL; }

static char *S(const char *s) { return kq_strdup(s); }

static char **strv(uint32_t n, const char *const *v) {
  char **out = kq_calloc(n, sizeof *out);
  for (uint32_t i = 0; i < n; i++) out[i] = S(v[i]);
  return out;
}

void kq_fx_build(size_t i, kq_proto_msg_t *m) {
  memset(m, 0, sizeof *m);
  const char *name = kq_fx_name(i);
  if (!strcmp(name, "hello")) {
    m->type = KQ_PROTO_HELLO;
    kq_proto_hello_t *h = &m->hello;
    h->token = S("s3cret-token");
    h->agent_id = S("a-6f1c2d");
    h->session_id = S("s-91d0");
    h->nruns = 2;
    h->runs = strv(2, (const char *const[]){"uid1-0", "uid2-3"});
    h->cpu_millis = 8000;
    h->memory_bytes = 8589934592LL; /* 8 GiB: needs uint64 on the wire */
    h->has_gpu = true;
    h->gpu = (kq_proto_gpu_t){.present = true, .fallback = false, .vendor = S("nvidia"),
                              .architecture = S("ampere")};
    h->nlabels = 2;
    h->labels = kq_calloc(2, sizeof *h->labels);
    h->labels[0] = (kq_proto_kv_t){S("browser"), S("chromium")};
    h->labels[1] = (kq_proto_kv_t){S("site"), S("\xc3\xbc" "n" "\xc3\xaf" "c" "\xc3\xb8" "d" "\xc3\xa9" " " "\xe2\x9c\x93")};
    h->max_pods = 4;
    h->user_agent = S("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome");
    h->agent_version = S("0.1.0");
  } else if (!strcmp(name, "hello_min")) {
    m->type = KQ_PROTO_HELLO;
    m->hello.token = S("");
    m->hello.agent_id = S("a-min");
    m->hello.cpu_millis = 1000;
    m->hello.memory_bytes = 1073741824;
  } else if (!strcmp(name, "welcome")) {
    m->type = KQ_PROTO_WELCOME;
    kq_proto_welcome_t *w = &m->welcome;
    w->browser_id = S("b-3f2a");
    w->session = S("s-a001");
    w->heartbeat_ms = 5000;
    w->heartbeat_deadline_ms = 15000;
    w->max_frame = 1048576;
    w->max_log_chunk = 65536;
    w->nresumed = 1;
    w->resumed = strv(1, (const char *const[]){"uid1-0"});
  } else if (!strcmp(name, "heartbeat")) {
    m->type = KQ_PROTO_HEARTBEAT;
    m->heartbeat = (kq_proto_heartbeat_t){.seq = 12, .load = 0.25, .throttled = false, .running = 1};
  } else if (!strcmp(name, "heartbeat_resources")) {
    m->type = KQ_PROTO_HEARTBEAT;
    m->heartbeat = (kq_proto_heartbeat_t){.seq = 4294967296ULL, .load = 0.75, .throttled = true,
                                          .running = 3, .has_resources = true, .cpu_millis = 2000,
                                          .memory_bytes = 536870912, .has_gpu = true};
    m->heartbeat.gpu = (kq_proto_gpu_t){.present = true, .fallback = true};
  } else if (!strcmp(name, "ping")) {
    m->type = KQ_PROTO_PING;
    m->ping = (kq_proto_ping_t){.nonce = 42, .t_ns = 4611686018427387909ULL}; /* 2^62 + 5 */
  } else if (!strcmp(name, "pong")) {
    m->type = KQ_PROTO_PONG;
    m->pong = (kq_proto_ping_t){.nonce = 7, .t_ns = 123456789};
  } else if (!strcmp(name, "run_wasi")) {
    m->type = KQ_PROTO_RUN;
    kq_proto_run_t *r = &m->run;
    r->run_id = S("7d2e-0");
    r->pod_uid = S("7d2e");
    r->namespace_ = S("default");
    r->pod_name = S("hello");
    r->container = S("main");
    r->kind = KQ_PROTO_KIND_WASI;
    r->module_url = S("/registry/blobs/sha256:ab12?rt=tok");
    r->digest = S("sha256:ab12");
    r->nargs = 3;
    r->args = strv(3, (const char *const[]){"hello", "--n", "3"});
    r->nenv = 2;
    r->env = kq_calloc(2, sizeof *r->env);
    r->env[0] = (kq_proto_env_t){S("GREETING"), S("hi there")};
    r->env[1] = (kq_proto_env_t){S("EMPTY"), S("")};
    r->cpu_millis = 500;
    r->memory_bytes = 67108864;
    r->timeout_ms = 60000;
  } else if (!strcmp(name, "run_bindgen")) {
    m->type = KQ_PROTO_RUN;
    kq_proto_run_t *r = &m->run;
    r->run_id = S("c0de-1");
    r->pod_uid = S("c0de");
    r->namespace_ = S("apps");
    r->pod_name = S("checker");
    r->container = S("checker");
    r->kind = KQ_PROTO_KIND_BINDGEN;
    r->module_url = S("/registry/f/pkg/checker_bg.wasm");
    r->glue_url = S("/registry/f/pkg/checker.js");
    r->entry = S("main");
  } else if (!strcmp(name, "status_running")) {
    m->type = KQ_PROTO_STATUS;
    m->status = (kq_proto_status_t){.run_id = S("7d2e-0"), .phase = KQ_PROTO_PHASE_RUNNING,
                                    .has_timings = true, .fetch_ms = 12, .compile_ms = 30};
  } else if (!strcmp(name, "status_exited")) {
    m->type = KQ_PROTO_STATUS;
    m->status = (kq_proto_status_t){.run_id = S("7d2e-0"), .phase = KQ_PROTO_PHASE_EXITED,
                                    .has_exit_code = true, .exit_code = -3, .has_timings = true,
                                    .fetch_ms = 12, .compile_ms = 30, .run_ms = 5000000000ULL};
  } else if (!strcmp(name, "status_failed")) {
    m->type = KQ_PROTO_STATUS;
    m->status = (kq_proto_status_t){.run_id = S("c0de-1"), .phase = KQ_PROTO_PHASE_FAILED,
                                    .message = S("fetch: HTTP 404")};
  } else if (!strcmp(name, "log")) {
    m->type = KQ_PROTO_LOG;
    m->log.run_id = S("7d2e-0");
    m->log.stream = KQ_PROTO_STREAM_STDOUT;
    m->log.seq = 300;
    m->log.len = 256;
    m->log.data = kq_malloc(256);
    for (int b = 0; b < 256; b++) m->log.data[b] = (uint8_t)b;
  } else if (!strcmp(name, "log_empty")) {
    m->type = KQ_PROTO_LOG;
    m->log.run_id = S("7d2e-0");
    m->log.stream = KQ_PROTO_STREAM_STDERR;
    m->log.seq = 0;
  } else if (!strcmp(name, "cancel")) {
    m->type = KQ_PROTO_CANCEL;
    m->cancel = (kq_proto_cancel_t){S("7d2e-0"), S("pod deleted")};
  } else if (!strcmp(name, "error")) {
    m->type = KQ_PROTO_ERROR;
    m->error = (kq_proto_errmsg_t){S("unknown_type"), S("no such type: frobnicate"), S("frobnicate")};
  } else if (!strcmp(name, "bye")) {
    m->type = KQ_PROTO_BYE;
    m->bye.reason = S("node shutting down");
  } else if (!strcmp(name, "bye_empty")) {
    m->type = KQ_PROTO_BYE;
  } else {
    abort();
  }
}

/* ---- equality ---- */

typedef struct cmp {
  char *why;
  size_t len;
  bool ok;
} cmp_t;

static void diff(cmp_t *c, const char *field) {
  if (c->ok) snprintf(c->why, c->len, "%s differs", field);
  c->ok = false;
}

static void cs(cmp_t *c, const char *f, const char *a, const char *b) {
  if ((a == NULL) != (b == NULL) || (a && strcmp(a, b))) diff(c, f);
}

#define CV(f, a, b) \
  do { if ((a) != (b)) diff(c, f); } while (0)

static void cstrv(cmp_t *c, const char *f, char *const *a, uint32_t na, char *const *b, uint32_t nb) {
  if (na != nb) {
    diff(c, f);
    return;
  }
  for (uint32_t i = 0; i < na; i++) cs(c, f, a[i], b[i]);
}

static void cgpu(cmp_t *c, const kq_proto_gpu_t *a, const kq_proto_gpu_t *b) {
  CV("gpu.present", a->present, b->present);
  CV("gpu.fallback", a->fallback, b->fallback);
  cs(c, "gpu.vendor", a->vendor, b->vendor);
  cs(c, "gpu.architecture", a->architecture, b->architecture);
}

bool kq_fx_equal(const kq_proto_msg_t *a, const kq_proto_msg_t *b, char *why, size_t whylen) {
  cmp_t cc = {why, whylen, true}, *c = &cc;
  CV("type", a->type, b->type);
  CV("minor", a->minor, b->minor);
  if (!c->ok) return false;
  switch (a->type) {
  case KQ_PROTO_HELLO: {
    const kq_proto_hello_t *x = &a->hello, *y = &b->hello;
    cs(c, "token", x->token, y->token);
    cs(c, "agent_id", x->agent_id, y->agent_id);
    cs(c, "session_id", x->session_id, y->session_id);
    cstrv(c, "runs", x->runs, x->nruns, y->runs, y->nruns);
    CV("cpu_millis", x->cpu_millis, y->cpu_millis);
    CV("memory_bytes", x->memory_bytes, y->memory_bytes);
    CV("has_gpu", x->has_gpu, y->has_gpu);
    cgpu(c, &x->gpu, &y->gpu);
    CV("nlabels", x->nlabels, y->nlabels);
    for (uint32_t i = 0; c->ok && i < x->nlabels; i++) {
      cs(c, "label.key", x->labels[i].key, y->labels[i].key);
      cs(c, "label.value", x->labels[i].value, y->labels[i].value);
    }
    CV("max_pods", x->max_pods, y->max_pods);
    cs(c, "user_agent", x->user_agent, y->user_agent);
    cs(c, "agent_version", x->agent_version, y->agent_version);
    break;
  }
  case KQ_PROTO_WELCOME: {
    const kq_proto_welcome_t *x = &a->welcome, *y = &b->welcome;
    cs(c, "browser_id", x->browser_id, y->browser_id);
    cs(c, "session", x->session, y->session);
    CV("heartbeat_ms", x->heartbeat_ms, y->heartbeat_ms);
    CV("heartbeat_deadline_ms", x->heartbeat_deadline_ms, y->heartbeat_deadline_ms);
    CV("max_frame", x->max_frame, y->max_frame);
    CV("max_log_chunk", x->max_log_chunk, y->max_log_chunk);
    cstrv(c, "resumed", x->resumed, x->nresumed, y->resumed, y->nresumed);
    break;
  }
  case KQ_PROTO_HEARTBEAT: {
    const kq_proto_heartbeat_t *x = &a->heartbeat, *y = &b->heartbeat;
    CV("seq", x->seq, y->seq);
    CV("load", x->load, y->load);
    CV("throttled", x->throttled, y->throttled);
    CV("running", x->running, y->running);
    CV("has_resources", x->has_resources, y->has_resources);
    CV("cpu_millis", x->cpu_millis, y->cpu_millis);
    CV("memory_bytes", x->memory_bytes, y->memory_bytes);
    CV("has_gpu", x->has_gpu, y->has_gpu);
    cgpu(c, &x->gpu, &y->gpu);
    break;
  }
  case KQ_PROTO_PING:
  case KQ_PROTO_PONG:
    CV("nonce", a->ping.nonce, b->ping.nonce);
    CV("t_ns", a->ping.t_ns, b->ping.t_ns);
    break;
  case KQ_PROTO_RUN: {
    const kq_proto_run_t *x = &a->run, *y = &b->run;
    cs(c, "run_id", x->run_id, y->run_id);
    cs(c, "pod_uid", x->pod_uid, y->pod_uid);
    cs(c, "namespace", x->namespace_, y->namespace_);
    cs(c, "pod_name", x->pod_name, y->pod_name);
    cs(c, "container", x->container, y->container);
    CV("kind", x->kind, y->kind);
    cs(c, "module_url", x->module_url, y->module_url);
    cs(c, "glue_url", x->glue_url, y->glue_url);
    cs(c, "entry", x->entry, y->entry);
    cs(c, "digest", x->digest, y->digest);
    cstrv(c, "args", x->args, x->nargs, y->args, y->nargs);
    CV("nenv", x->nenv, y->nenv);
    for (uint32_t i = 0; c->ok && i < x->nenv; i++) {
      cs(c, "env.name", x->env[i].name, y->env[i].name);
      cs(c, "env.value", x->env[i].value, y->env[i].value);
    }
    CV("cpu_millis", x->cpu_millis, y->cpu_millis);
    CV("memory_bytes", x->memory_bytes, y->memory_bytes);
    CV("timeout_ms", x->timeout_ms, y->timeout_ms);
    break;
  }
  case KQ_PROTO_STATUS: {
    const kq_proto_status_t *x = &a->status, *y = &b->status;
    cs(c, "run_id", x->run_id, y->run_id);
    CV("phase", x->phase, y->phase);
    CV("has_exit_code", x->has_exit_code, y->has_exit_code);
    CV("exit_code", x->exit_code, y->exit_code);
    cs(c, "message", x->message, y->message);
    CV("has_timings", x->has_timings, y->has_timings);
    CV("fetch_ms", x->fetch_ms, y->fetch_ms);
    CV("compile_ms", x->compile_ms, y->compile_ms);
    CV("run_ms", x->run_ms, y->run_ms);
    break;
  }
  case KQ_PROTO_LOG:
    cs(c, "run_id", a->log.run_id, b->log.run_id);
    CV("stream", a->log.stream, b->log.stream);
    CV("seq", a->log.seq, b->log.seq);
    CV("len", a->log.len, b->log.len);
    if (c->ok && a->log.len && memcmp(a->log.data, b->log.data, a->log.len)) diff(c, "data");
    break;
  case KQ_PROTO_CANCEL:
    cs(c, "run_id", a->cancel.run_id, b->cancel.run_id);
    cs(c, "reason", a->cancel.reason, b->cancel.reason);
    break;
  case KQ_PROTO_ERROR:
    cs(c, "code", a->error.code, b->error.code);
    cs(c, "message", a->error.message, b->error.message);
    cs(c, "ref", a->error.ref, b->error.ref);
    break;
  case KQ_PROTO_BYE:
    cs(c, "reason", a->bye.reason, b->bye.reason);
    break;
  default:
    break;
  }
  return c->ok;
}
