/* kq_proto_encode: kq_proto_msg_t -> one msgpack map, packed by msgpack-c straight into a
 * growable buffer that keeps `headroom` free bytes in front (LWS_PRE) so the gateway can
 * lws_write() it without a copy. `t` goes first; absent optional fields are omitted. */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_proto.h"

void kq_proto_buf_init(kq_proto_buf_t *b, size_t headroom) {
  memset(b, 0, sizeof *b);
  b->headroom = headroom;
}

void kq_proto_buf_free(kq_proto_buf_t *b) {
  free(b->mem);
  size_t headroom = b->headroom;
  kq_proto_buf_init(b, headroom);
}

uint8_t *kq_proto_buf_steal(kq_proto_buf_t *b, size_t *len) {
  uint8_t *mem = b->len ? b->mem : NULL;
  *len = b->len;
  if (!mem) return NULL;
  size_t headroom = b->headroom;
  kq_proto_buf_init(b, headroom);
  return mem;
}

static int buf_write(void *data, const char *src, size_t n) {
  kq_proto_buf_t *b = data;
  if (b->cap - b->len < n) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) cap *= 2;
    b->mem = kq_realloc(b->mem, b->headroom + cap);
    b->cap = cap;
  }
  memcpy(b->mem + b->headroom + b->len, src, n);
  b->len += n;
  return 0;
}

typedef struct enc {
  msgpack_packer pk;
} enc_t;

static void put_str(enc_t *e, const char *s) {
  size_t n = strlen(s);
  msgpack_pack_str(&e->pk, n);
  msgpack_pack_str_body(&e->pk, s, n);
}

static void kv_str(enc_t *e, const char *k, const char *v) {
  if (!v) return;
  put_str(e, k);
  put_str(e, v);
}

static void kv_uint(enc_t *e, const char *k, uint64_t v) {
  put_str(e, k);
  msgpack_pack_uint64(&e->pk, v);
}

static void kv_bool(enc_t *e, const char *k, bool v) {
  put_str(e, k);
  if (v) msgpack_pack_true(&e->pk);
  else msgpack_pack_false(&e->pk);
}

static void kv_strv(enc_t *e, const char *k, char *const *v, uint32_t n) {
  put_str(e, k);
  msgpack_pack_array(&e->pk, n);
  for (uint32_t i = 0; i < n; i++) put_str(e, v[i]);
}

static bool strv_ok(char *const *v, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (!v || !v[i]) return false;
  return true;
}

/* Map header + `t` (+ `v`). `n` counts the message's own fields. */
static void open_frame(enc_t *e, const kq_proto_msg_t *m, uint32_t n) {
  msgpack_pack_map(&e->pk, n + 1 + (m->minor ? 1 : 0));
  kv_str(e, "t", kq_proto_type_name(m->type));
  if (m->minor) kv_uint(e, "v", m->minor);
}

static void put_gpu(enc_t *e, const kq_proto_gpu_t *g) {
  put_str(e, "gpu");
  msgpack_pack_map(&e->pk, 2 + (g->vendor != NULL) + (g->architecture != NULL));
  kv_bool(e, "present", g->present);
  kv_bool(e, "fallback", g->fallback);
  kv_str(e, "vendor", g->vendor);
  kv_str(e, "architecture", g->architecture);
}

static int enc_hello(enc_t *e, const kq_proto_msg_t *m) {
  const kq_proto_hello_t *h = &m->hello;
  if (!h->token || !h->agent_id || !h->agent_id[0] || h->cpu_millis < 0 || h->memory_bytes < 0 ||
      !strv_ok(h->runs, h->nruns))
    return KQ_EINVAL;
  for (uint32_t i = 0; i < h->nlabels; i++)
    if (!h->labels || !h->labels[i].key || !h->labels[i].value) return KQ_EINVAL;
  open_frame(e, m, 4 + (h->session_id != NULL) + h->has_gpu + (h->nlabels > 0) + (h->max_pods > 0) +
                       (h->user_agent != NULL) + (h->agent_version != NULL));
  kv_str(e, "token", h->token);
  kv_str(e, "agent_id", h->agent_id);
  if (h->session_id) {
    put_str(e, "session");
    msgpack_pack_map(&e->pk, 2);
    kv_str(e, "id", h->session_id);
    kv_strv(e, "runs", h->runs, h->nruns);
  }
  kv_uint(e, "cpu_millis", (uint64_t)h->cpu_millis);
  kv_uint(e, "memory_bytes", (uint64_t)h->memory_bytes);
  if (h->has_gpu) put_gpu(e, &h->gpu);
  if (h->nlabels) {
    put_str(e, "labels");
    msgpack_pack_map(&e->pk, h->nlabels);
    for (uint32_t i = 0; i < h->nlabels; i++) {
      put_str(e, h->labels[i].key);
      put_str(e, h->labels[i].value);
    }
  }
  if (h->max_pods) kv_uint(e, "max_pods", h->max_pods);
  kv_str(e, "user_agent", h->user_agent);
  kv_str(e, "agent_version", h->agent_version);
  return KQ_OK;
}

static int enc_welcome(enc_t *e, const kq_proto_msg_t *m) {
  const kq_proto_welcome_t *w = &m->welcome;
  if (!w->browser_id || !w->session || !strv_ok(w->resumed, w->nresumed)) return KQ_EINVAL;
  open_frame(e, m, 6 + (w->nresumed > 0));
  kv_str(e, "browser_id", w->browser_id);
  kv_str(e, "session", w->session);
  kv_uint(e, "heartbeat_ms", w->heartbeat_ms);
  kv_uint(e, "heartbeat_deadline_ms", w->heartbeat_deadline_ms);
  kv_uint(e, "max_frame", w->max_frame);
  kv_uint(e, "max_log_chunk", w->max_log_chunk);
  if (w->nresumed) kv_strv(e, "resumed", w->resumed, w->nresumed);
  return KQ_OK;
}

static int enc_heartbeat(enc_t *e, const kq_proto_msg_t *m) {
  const kq_proto_heartbeat_t *hb = &m->heartbeat;
  if (!(hb->load >= 0.0 && hb->load <= 1.0) || hb->cpu_millis < 0 || hb->memory_bytes < 0)
    return KQ_EINVAL;
  open_frame(e, m, 4 + hb->has_resources);
  kv_uint(e, "seq", hb->seq);
  put_str(e, "load");
  msgpack_pack_double(&e->pk, hb->load);
  kv_bool(e, "throttled", hb->throttled);
  kv_uint(e, "running", hb->running);
  if (hb->has_resources) {
    put_str(e, "resources");
    msgpack_pack_map(&e->pk, 2 + hb->has_gpu);
    kv_uint(e, "cpu_millis", (uint64_t)hb->cpu_millis);
    kv_uint(e, "memory_bytes", (uint64_t)hb->memory_bytes);
    if (hb->has_gpu) put_gpu(e, &hb->gpu);
  }
  return KQ_OK;
}

static int enc_ping(enc_t *e, const kq_proto_msg_t *m, const kq_proto_ping_t *p) {
  open_frame(e, m, 2);
  kv_uint(e, "nonce", p->nonce);
  kv_uint(e, "t_ns", p->t_ns);
  return KQ_OK;
}

static int enc_run(enc_t *e, const kq_proto_msg_t *m) {
  const kq_proto_run_t *r = &m->run;
  if (!r->run_id || !r->pod_uid || !r->namespace_ || !r->pod_name || !r->container ||
      !r->module_url || (r->kind != KQ_PROTO_KIND_WASI && r->kind != KQ_PROTO_KIND_BINDGEN) ||
      (r->kind == KQ_PROTO_KIND_BINDGEN && !r->glue_url) || !strv_ok(r->args, r->nargs) ||
      r->cpu_millis < 0 || r->memory_bytes < 0)
    return KQ_EINVAL;
  for (uint32_t i = 0; i < r->nenv; i++)
    if (!r->env || !r->env[i].name || !r->env[i].value) return KQ_EINVAL;
  bool limits = r->cpu_millis > 0 || r->memory_bytes > 0;
  open_frame(e, m, 4 + (r->glue_url != NULL) + (r->entry != NULL) + (r->digest != NULL) +
                       (r->nargs > 0) + (r->nenv > 0) + limits + (r->timeout_ms > 0));
  kv_str(e, "run_id", r->run_id);
  put_str(e, "pod");
  msgpack_pack_map(&e->pk, 4);
  kv_str(e, "namespace", r->namespace_);
  kv_str(e, "name", r->pod_name);
  kv_str(e, "uid", r->pod_uid);
  kv_str(e, "container", r->container);
  kv_str(e, "kind", kq_proto_kind_name(r->kind));
  kv_str(e, "module_url", r->module_url);
  kv_str(e, "glue_url", r->glue_url);
  kv_str(e, "entry", r->entry);
  kv_str(e, "digest", r->digest);
  if (r->nargs) kv_strv(e, "args", r->args, r->nargs);
  if (r->nenv) {
    put_str(e, "env");
    msgpack_pack_array(&e->pk, r->nenv);
    for (uint32_t i = 0; i < r->nenv; i++) {
      msgpack_pack_array(&e->pk, 2);
      put_str(e, r->env[i].name);
      put_str(e, r->env[i].value);
    }
  }
  if (limits) {
    put_str(e, "limits");
    msgpack_pack_map(&e->pk, (r->cpu_millis > 0) + (r->memory_bytes > 0));
    if (r->cpu_millis > 0) kv_uint(e, "cpu_millis", (uint64_t)r->cpu_millis);
    if (r->memory_bytes > 0) kv_uint(e, "memory_bytes", (uint64_t)r->memory_bytes);
  }
  if (r->timeout_ms) kv_uint(e, "timeout_ms", r->timeout_ms);
  return KQ_OK;
}

static int enc_status(enc_t *e, const kq_proto_msg_t *m) {
  const kq_proto_status_t *s = &m->status;
  if (!s->run_id || s->phase < KQ_PROTO_PHASE_ACCEPTED || s->phase > KQ_PROTO_PHASE_CANCELLED ||
      (s->phase == KQ_PROTO_PHASE_EXITED && !s->has_exit_code))
    return KQ_EINVAL;
  open_frame(e, m, 2 + s->has_exit_code + (s->message != NULL) + s->has_timings);
  kv_str(e, "run_id", s->run_id);
  kv_str(e, "phase", kq_proto_phase_name(s->phase));
  if (s->has_exit_code) {
    put_str(e, "exit_code");
    msgpack_pack_int32(&e->pk, s->exit_code);
  }
  kv_str(e, "message", s->message);
  if (s->has_timings) {
    put_str(e, "timings");
    msgpack_pack_map(&e->pk, 3);
    kv_uint(e, "fetch_ms", s->fetch_ms);
    kv_uint(e, "compile_ms", s->compile_ms);
    kv_uint(e, "run_ms", s->run_ms);
  }
  return KQ_OK;
}

static int enc_log(enc_t *e, const kq_proto_msg_t *m) {
  const kq_proto_log_t *l = &m->log;
  if (!l->run_id || (l->stream != KQ_PROTO_STREAM_STDOUT && l->stream != KQ_PROTO_STREAM_STDERR) ||
      (l->len && !l->data))
    return KQ_EINVAL;
  open_frame(e, m, 4);
  kv_str(e, "run_id", l->run_id);
  kv_uint(e, "stream", l->stream);
  kv_uint(e, "seq", l->seq);
  put_str(e, "data");
  msgpack_pack_bin(&e->pk, l->len);
  if (l->len) msgpack_pack_bin_body(&e->pk, l->data, l->len);
  return KQ_OK;
}

static int enc_cancel(enc_t *e, const kq_proto_msg_t *m) {
  const kq_proto_cancel_t *c = &m->cancel;
  if (!c->run_id) return KQ_EINVAL;
  open_frame(e, m, 1 + (c->reason != NULL));
  kv_str(e, "run_id", c->run_id);
  kv_str(e, "reason", c->reason);
  return KQ_OK;
}

static int enc_error(enc_t *e, const kq_proto_msg_t *m) {
  const kq_proto_errmsg_t *er = &m->error;
  if (!er->code) return KQ_EINVAL;
  open_frame(e, m, 1 + (er->message != NULL) + (er->ref != NULL));
  kv_str(e, "code", er->code);
  kv_str(e, "message", er->message);
  kv_str(e, "ref", er->ref);
  return KQ_OK;
}

static int enc_bye(enc_t *e, const kq_proto_msg_t *m) {
  open_frame(e, m, m->bye.reason != NULL);
  kv_str(e, "reason", m->bye.reason);
  return KQ_OK;
}

int kq_proto_encode(const kq_proto_msg_t *m, kq_proto_buf_t *out) {
  enc_t e;
  out->len = 0;
  msgpack_packer_init(&e.pk, out, buf_write);
  int rc;
  switch (m->type) {
  case KQ_PROTO_HELLO: rc = enc_hello(&e, m); break;
  case KQ_PROTO_WELCOME: rc = enc_welcome(&e, m); break;
  case KQ_PROTO_HEARTBEAT: rc = enc_heartbeat(&e, m); break;
  case KQ_PROTO_PING: rc = enc_ping(&e, m, &m->ping); break;
  case KQ_PROTO_PONG: rc = enc_ping(&e, m, &m->pong); break;
  case KQ_PROTO_RUN: rc = enc_run(&e, m); break;
  case KQ_PROTO_STATUS: rc = enc_status(&e, m); break;
  case KQ_PROTO_LOG: rc = enc_log(&e, m); break;
  case KQ_PROTO_CANCEL: rc = enc_cancel(&e, m); break;
  case KQ_PROTO_ERROR: rc = enc_error(&e, m); break;
  case KQ_PROTO_BYE: rc = enc_bye(&e, m); break;
  default: rc = KQ_EINVAL; break;
  }
  if (rc != KQ_OK) out->len = 0;
  return rc;
}
