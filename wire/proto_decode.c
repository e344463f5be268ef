/* kq_proto_decode: frame bytes -> kq_proto_msg_t. Pass 1 walks the whole frame once (well-formed
 * msgpack, one map, nesting and map sizes within limits, no trailing bytes) and finds `t`/`v`;
 * pass 2 reads the known fields of that type. Everything a message owns is allocated with
 * sizes checked against the limits and the bytes left, so memory stays bounded by the frame. */
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "proto_internal.h"

#define REQ(...) (kq_req_mask_((const int[]){__VA_ARGS__, -1}))
static uint32_t kq_req_mask_(const int *bits) {
  uint32_t m = 0;
  for (; *bits >= 0; bits++) m |= 1u << *bits;
  return m;
}
#define NKEYS(k) ((int)KQ_ARRAY_LEN(k))

/* Reads an array of strings into an owned vector (count set first so a failure midway still
 * frees what was read). */
static void read_strv(kq_rd_t *r, uint32_t max, char ***v, uint32_t *n) {
  uint32_t cnt;
  if (!kq_rd_array(r, max, &cnt) || cnt == 0) return;
  *v = kq_calloc(cnt, sizeof(char *));
  *n = cnt;
  for (uint32_t i = 0; i < cnt && kq_rd_ok(r); i++) {
    const char *f = r->field;
    r->index = i;
    (*v)[i] = kq_rd_str(r);
    r->field = f;
  }
  r->index = -1;
}

static void read_gpu(kq_rd_t *r, kq_proto_gpu_t *g) {
  static const char *const keys[] = {"present", "fallback", "vendor", "architecture"};
  size_t saved = r->pathlen;
  uint32_t n, seen = 0, have = 0;
  kq_rd_push(r, "gpu");
  if (!kq_rd_map(r, UINT32_MAX, &n)) return;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    switch (kq_rd_key(r, keys, NKEYS(keys), &seen, &have)) {
    case 0: g->present = kq_rd_bool(r); break;
    case 1: g->fallback = kq_rd_bool(r); break;
    case 2: g->vendor = kq_rd_str(r); break;
    case 3: g->architecture = kq_rd_str(r); break;
    default: break;
    }
  }
  kq_rd_require(r, keys, NKEYS(keys), REQ(0), have);
  if (kq_rd_ok(r)) kq_rd_pop(r, saved);
}

static void read_session(kq_rd_t *r, kq_proto_hello_t *h) {
  static const char *const keys[] = {"id", "runs"};
  size_t saved = r->pathlen;
  uint32_t n, seen = 0, have = 0;
  kq_rd_push(r, "session");
  if (!kq_rd_map(r, UINT32_MAX, &n)) return;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    switch (kq_rd_key(r, keys, NKEYS(keys), &seen, &have)) {
    case 0: h->session_id = kq_rd_str(r); break;
    case 1: read_strv(r, r->lim.max_runs, &h->runs, &h->nruns); break;
    default: break;
    }
  }
  kq_rd_require(r, keys, NKEYS(keys), REQ(0, 1), have);
  if (kq_rd_ok(r)) kq_rd_pop(r, saved);
}

static void read_labels(kq_rd_t *r, kq_proto_hello_t *h) {
  uint32_t n;
  if (!kq_rd_map(r, r->lim.max_labels, &n) || n == 0) return;
  h->labels = kq_calloc(n, sizeof *h->labels);
  h->nlabels = n;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    r->index = i;
    h->labels[i].key = kq_rd_str(r);
    h->labels[i].value = kq_rd_str(r);
  }
  r->index = -1;
}

static void dec_hello(kq_rd_t *r, uint32_t n, kq_proto_hello_t *h) {
  static const char *const keys[] = {"t",        "v",          "token",        "agent_id",
                                     "session",  "cpu_millis", "memory_bytes", "gpu",
                                     "labels",   "max_pods",   "user_agent",   "agent_version"};
  uint32_t seen = 0, have = 0;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    switch (kq_rd_key(r, keys, NKEYS(keys), &seen, &have)) {
    case 0: case 1: kq_rd_skip(r, 1); break; /* read in pass 1 */
    case 2: h->token = kq_rd_str(r); break;
    case 3: h->agent_id = kq_rd_str(r); break;
    case 4: read_session(r, h); break;
    case 5: h->cpu_millis = kq_rd_int(r, 0, INT64_MAX); break;
    case 6: h->memory_bytes = kq_rd_int(r, 0, INT64_MAX); break;
    case 7: h->has_gpu = true, read_gpu(r, &h->gpu); break;
    case 8: read_labels(r, h); break;
    case 9: h->max_pods = (uint32_t)kq_rd_uint(r, UINT32_MAX); break;
    case 10: h->user_agent = kq_rd_str(r); break;
    case 11: h->agent_version = kq_rd_str(r); break;
    default: break;
    }
  }
  kq_rd_require(r, keys, NKEYS(keys), REQ(2, 3, 5, 6), have);
  if (kq_rd_ok(r) && h->agent_id[0] == '\0') {
    r->field = "agent_id";
    kq_rd_fail(r, KQ_EPROTO, false, "must not be empty");
  }
}

static void dec_welcome(kq_rd_t *r, uint32_t n, kq_proto_welcome_t *w) {
  static const char *const keys[] = {"t", "v", "browser_id", "session", "heartbeat_ms",
                                     "heartbeat_deadline_ms", "max_frame", "max_log_chunk",
                                     "resumed"};
  uint32_t seen = 0, have = 0;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    switch (kq_rd_key(r, keys, NKEYS(keys), &seen, &have)) {
    case 0: case 1: kq_rd_skip(r, 1); break;
    case 2: w->browser_id = kq_rd_str(r); break;
    case 3: w->session = kq_rd_str(r); break;
    case 4: w->heartbeat_ms = (uint32_t)kq_rd_uint(r, UINT32_MAX); break;
    case 5: w->heartbeat_deadline_ms = (uint32_t)kq_rd_uint(r, UINT32_MAX); break;
    case 6: w->max_frame = (uint32_t)kq_rd_uint(r, UINT32_MAX); break;
    case 7: w->max_log_chunk = (uint32_t)kq_rd_uint(r, UINT32_MAX); break;
    case 8: read_strv(r, r->lim.max_runs, &w->resumed, &w->nresumed); break;
    default: break;
    }
  }
  kq_rd_require(r, keys, NKEYS(keys), REQ(2, 3, 4, 5, 6, 7), have);
}

static void read_resources(kq_rd_t *r, kq_proto_heartbeat_t *hb) {
  static const char *const keys[] = {"cpu_millis", "memory_bytes", "gpu"};
  size_t saved = r->pathlen;
  uint32_t n, seen = 0, have = 0;
  kq_rd_push(r, "resources");
  if (!kq_rd_map(r, UINT32_MAX, &n)) return;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    switch (kq_rd_key(r, keys, NKEYS(keys), &seen, &have)) {
    case 0: hb->cpu_millis = kq_rd_int(r, 0, INT64_MAX); break;
    case 1: hb->memory_bytes = kq_rd_int(r, 0, INT64_MAX); break;
    case 2: hb->has_gpu = true, read_gpu(r, &hb->gpu); break;
    default: break;
    }
  }
  kq_rd_require(r, keys, NKEYS(keys), REQ(0, 1), have);
  if (kq_rd_ok(r)) kq_rd_pop(r, saved);
}

static void dec_heartbeat(kq_rd_t *r, uint32_t n, kq_proto_heartbeat_t *hb) {
  static const char *const keys[] = {"t", "v", "seq", "load", "throttled", "running",
                                     "resources"};
  uint32_t seen = 0, have = 0;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    switch (kq_rd_key(r, keys, NKEYS(keys), &seen, &have)) {
    case 0: case 1: kq_rd_skip(r, 1); break;
    case 2: hb->seq = kq_rd_uint(r, UINT64_MAX); break;
    case 3: hb->load = kq_rd_unit(r); break;
    case 4: hb->throttled = kq_rd_bool(r); break;
    case 5: hb->running = (uint32_t)kq_rd_uint(r, UINT32_MAX); break;
    case 6: hb->has_resources = true, read_resources(r, hb); break;
    default: break;
    }
  }
  kq_rd_require(r, keys, NKEYS(keys), REQ(2, 3, 4, 5), have);
}

static void dec_ping(kq_rd_t *r, uint32_t n, kq_proto_ping_t *p) {
  static const char *const keys[] = {"t", "v", "nonce", "t_ns"};
  uint32_t seen = 0, have = 0;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    switch (kq_rd_key(r, keys, NKEYS(keys), &seen, &have)) {
    case 0: case 1: kq_rd_skip(r, 1); break;
    case 2: p->nonce = kq_rd_uint(r, UINT64_MAX); break;
    case 3: p->t_ns = kq_rd_uint(r, UINT64_MAX); break;
    default: break;
    }
  }
  kq_rd_require(r, keys, NKEYS(keys), REQ(2, 3), have);
}

static void read_pod(kq_rd_t *r, kq_proto_run_t *run) {
  static const char *const keys[] = {"namespace", "name", "uid", "container"};
  size_t saved = r->pathlen;
  uint32_t n, seen = 0, have = 0;
  kq_rd_push(r, "pod");
  if (!kq_rd_map(r, UINT32_MAX, &n)) return;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    switch (kq_rd_key(r, keys, NKEYS(keys), &seen, &have)) {
    case 0: run->namespace_ = kq_rd_str(r); break;
    case 1: run->pod_name = kq_rd_str(r); break;
    case 2: run->pod_uid = kq_rd_str(r); break;
    case 3: run->container = kq_rd_str(r); break;
    default: break;
    }
  }
  kq_rd_require(r, keys, NKEYS(keys), REQ(0, 1, 2, 3), have);
  if (kq_rd_ok(r)) kq_rd_pop(r, saved);
}

static void read_limits(kq_rd_t *r, kq_proto_run_t *run) {
  static const char *const keys[] = {"cpu_millis", "memory_bytes"};
  size_t saved = r->pathlen;
  uint32_t n, seen = 0, have = 0;
  kq_rd_push(r, "limits");
  if (!kq_rd_map(r, UINT32_MAX, &n)) return;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    switch (kq_rd_key(r, keys, NKEYS(keys), &seen, &have)) {
    case 0: run->cpu_millis = kq_rd_int(r, 0, INT64_MAX); break;
    case 1: run->memory_bytes = kq_rd_int(r, 0, INT64_MAX); break;
    default: break;
    }
  }
  if (kq_rd_ok(r)) kq_rd_pop(r, saved);
}

/* env: [[name, value], ...] (what encoders write) or {name: value, ...}. */
static void read_env(kq_rd_t *r, kq_proto_run_t *run) {
  kq_rd_tok_t peek;
  kq_rd_t probe = *r;
  if (!kq_rd_next(&probe, &peek)) {
    r->rc = probe.rc;
    return;
  }
  uint32_t n;
  bool is_map = peek.kind == KQ_RD_MAP;
  if (is_map ? !kq_rd_map(r, r->lim.max_env, &n) : !kq_rd_array(r, r->lim.max_env, &n)) return;
  if (n == 0) return;
  run->env = kq_calloc(n, sizeof *run->env);
  run->nenv = n;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    r->index = i;
    uint32_t pair = 2;
    if (!is_map && kq_rd_array(r, UINT32_MAX, &pair) && pair != 2) {
      kq_rd_fail(r, KQ_EPROTO, false, "expected [name, value]");
      break;
    }
    run->env[i].name = kq_rd_str(r);
    run->env[i].value = kq_rd_str(r);
  }
  r->index = -1;
}

static kq_proto_kind_t read_kind(kq_rd_t *r) {
  char *s = kq_rd_str(r);
  kq_proto_kind_t k = 0;
  if (s && strcmp(s, "wasi") == 0) k = KQ_PROTO_KIND_WASI;
  else if (s && strcmp(s, "bindgen") == 0) k = KQ_PROTO_KIND_BINDGEN;
  else if (s) kq_rd_fail(r, KQ_EPROTO, false, "unknown kind (wasi|bindgen)");
  free(s);
  return k;
}

static void dec_run(kq_rd_t *r, uint32_t n, kq_proto_run_t *run) {
  static const char *const keys[] = {"t",      "v",      "run_id", "pod",  "kind",
                                     "module_url", "glue_url", "entry", "digest", "args",
                                     "env",    "limits", "timeout_ms"};
  uint32_t seen = 0, have = 0;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    switch (kq_rd_key(r, keys, NKEYS(keys), &seen, &have)) {
    case 0: case 1: kq_rd_skip(r, 1); break;
    case 2: run->run_id = kq_rd_str(r); break;
    case 3: read_pod(r, run); break;
    case 4: run->kind = read_kind(r); break;
    case 5: run->module_url = kq_rd_str(r); break;
    case 6: run->glue_url = kq_rd_str(r); break;
    case 7: run->entry = kq_rd_str(r); break;
    case 8: run->digest = kq_rd_str(r); break;
    case 9: read_strv(r, r->lim.max_args, &run->args, &run->nargs); break;
    case 10: read_env(r, run); break;
    case 11: read_limits(r, run); break;
    case 12: run->timeout_ms = (uint32_t)kq_rd_uint(r, UINT32_MAX); break;
    default: break;
    }
  }
  kq_rd_require(r, keys, NKEYS(keys), REQ(2, 3, 4, 5), have);
  if (kq_rd_ok(r) && run->kind == KQ_PROTO_KIND_BINDGEN && !run->glue_url) {
    r->field = "glue_url";
    kq_rd_fail(r, KQ_EPROTO, false, "required for kind bindgen");
  }
}

static void read_timings(kq_rd_t *r, kq_proto_status_t *st) {
  static const char *const keys[] = {"fetch_ms", "compile_ms", "run_ms"};
  size_t saved = r->pathlen;
  uint32_t n, seen = 0, have = 0;
  kq_rd_push(r, "timings");
  if (!kq_rd_map(r, UINT32_MAX, &n)) return;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    switch (kq_rd_key(r, keys, NKEYS(keys), &seen, &have)) {
    case 0: st->fetch_ms = kq_rd_uint(r, UINT64_MAX); break;
    case 1: st->compile_ms = kq_rd_uint(r, UINT64_MAX); break;
    case 2: st->run_ms = kq_rd_uint(r, UINT64_MAX); break;
    default: break;
    }
  }
  if (kq_rd_ok(r)) kq_rd_pop(r, saved);
}

static kq_proto_phase_t read_phase(kq_rd_t *r) {
  char *s = kq_rd_str(r);
  kq_proto_phase_t found = 0;
  for (int p = KQ_PROTO_PHASE_ACCEPTED; s && p <= KQ_PROTO_PHASE_CANCELLED; p++) {
    if (strcmp(s, kq_proto_phase_name((kq_proto_phase_t)p)) == 0) found = (kq_proto_phase_t)p;
  }
  if (s && !found) kq_rd_fail(r, KQ_EPROTO, false, "unknown phase");
  free(s);
  return found;
}

static void dec_status(kq_rd_t *r, uint32_t n, kq_proto_status_t *st) {
  static const char *const keys[] = {"t", "v", "run_id", "phase", "exit_code", "message",
                                     "timings"};
  uint32_t seen = 0, have = 0;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    switch (kq_rd_key(r, keys, NKEYS(keys), &seen, &have)) {
    case 0: case 1: kq_rd_skip(r, 1); break;
    case 2: st->run_id = kq_rd_str(r); break;
    case 3: st->phase = read_phase(r); break;
    case 4: st->has_exit_code = true, st->exit_code = (int32_t)kq_rd_int(r, INT32_MIN, INT32_MAX); break;
    case 5: st->message = kq_rd_str(r); break;
    case 6: st->has_timings = true, read_timings(r, st); break;
    default: break;
    }
  }
  kq_rd_require(r, keys, NKEYS(keys), REQ(2, 3), have);
  if (kq_rd_ok(r) && st->phase == KQ_PROTO_PHASE_EXITED && !st->has_exit_code) {
    r->field = "exit_code";
    kq_rd_fail(r, KQ_EPROTO, false, "required when phase is exited");
  }
}

static void dec_log(kq_rd_t *r, uint32_t n, kq_proto_log_t *lg) {
  static const char *const keys[] = {"t", "v", "run_id", "stream", "seq", "data"};
  uint32_t seen = 0, have = 0;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    switch (kq_rd_key(r, keys, NKEYS(keys), &seen, &have)) {
    case 0: case 1: kq_rd_skip(r, 1); break;
    case 2: lg->run_id = kq_rd_str(r); break;
    case 3:
      lg->stream = (uint8_t)kq_rd_uint(r, 255);
      if (kq_rd_ok(r) && lg->stream != KQ_PROTO_STREAM_STDOUT && lg->stream != KQ_PROTO_STREAM_STDERR)
        kq_rd_fail(r, KQ_EPROTO, false, "must be 1 (stdout) or 2 (stderr)");
      break;
    case 4: lg->seq = kq_rd_uint(r, UINT64_MAX); break;
    case 5: lg->data = kq_rd_bin(r, r->lim.max_log_chunk, &lg->len); break;
    default: break;
    }
  }
  kq_rd_require(r, keys, NKEYS(keys), REQ(2, 3, 4, 5), have);
}

static void dec_cancel(kq_rd_t *r, uint32_t n, kq_proto_cancel_t *c) {
  static const char *const keys[] = {"t", "v", "run_id", "reason"};
  uint32_t seen = 0, have = 0;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    switch (kq_rd_key(r, keys, NKEYS(keys), &seen, &have)) {
    case 0: case 1: kq_rd_skip(r, 1); break;
    case 2: c->run_id = kq_rd_str(r); break;
    case 3: c->reason = kq_rd_str(r); break;
    default: break;
    }
  }
  kq_rd_require(r, keys, NKEYS(keys), REQ(2), have);
}

static void dec_error(kq_rd_t *r, uint32_t n, kq_proto_errmsg_t *e) {
  static const char *const keys[] = {"t", "v", "code", "message", "ref"};
  uint32_t seen = 0, have = 0;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    switch (kq_rd_key(r, keys, NKEYS(keys), &seen, &have)) {
    case 0: case 1: kq_rd_skip(r, 1); break;
    case 2: e->code = kq_rd_str(r); break;
    case 3: e->message = kq_rd_str(r); break;
    case 4: e->ref = kq_rd_str(r); break;
    default: break;
    }
  }
  kq_rd_require(r, keys, NKEYS(keys), REQ(2), have);
}

static void dec_bye(kq_rd_t *r, uint32_t n, kq_proto_bye_t *b) {
  static const char *const keys[] = {"t", "v", "reason"};
  uint32_t seen = 0, have = 0;
  for (uint32_t i = 0; i < n && kq_rd_ok(r); i++) {
    switch (kq_rd_key(r, keys, NKEYS(keys), &seen, &have)) {
    case 0: case 1: kq_rd_skip(r, 1); break;
    case 2: b->reason = kq_rd_str(r); break;
    default: break;
    }
  }
}

/* Pass 1: validates the frame's shape and finds `t` and `v`. */
static void scan_header(kq_rd_t *r, kq_proto_msg_t *out, const uint8_t **tname, uint32_t *tlen,
                        bool *bad_v) {
  kq_rd_tok_t t;
  if (!kq_rd_next(r, &t)) return;
  if (t.kind != KQ_RD_MAP) {
    kq_rd_fail(r, KQ_EPROTO, true, "frame is not a msgpack map");
    return;
  }
  if (t.len > r->lim.max_keys) {
    kq_rd_fail(r, KQ_ETOOBIG, false, "frame map with %u entries (max %u)", t.len, r->lim.max_keys);
    return;
  }
  bool have_t = false, have_v = false;
  for (uint32_t i = 0; i < t.len && kq_rd_ok(r); i++) {
    kq_rd_tok_t k, v;
    const uint8_t *at = r->p;
    if (!kq_rd_next(r, &k)) return;
    if (k.kind == KQ_RD_ARRAY || k.kind == KQ_RD_MAP) { /* odd key: walk it whole (pass 2 rejects it) */
      r->p = at;
      kq_rd_skip(r, 1);
    }
    bool is_t = k.kind == KQ_RD_STR && k.len == 1 && k.ptr[0] == 't';
    bool is_v = k.kind == KQ_RD_STR && k.len == 1 && k.ptr[0] == 'v';
    if (!(is_t && !have_t) && !(is_v && !have_v)) {
      kq_rd_skip(r, 1);
      continue;
    }
    at = r->p;
    if (!kq_rd_next(r, &v)) return;
    if (v.kind == KQ_RD_ARRAY || v.kind == KQ_RD_MAP) { /* wrong type: walk it whole */
      r->p = at;
      kq_rd_skip(r, 1);
    }
    if (is_t) {
      have_t = true;
      if (v.kind == KQ_RD_STR) *tname = v.ptr, *tlen = v.len;
    } else {
      have_v = true;
      if (v.kind == KQ_RD_UINT && v.u <= UINT32_MAX) out->minor = (uint32_t)v.u;
      else if (v.kind != KQ_RD_NIL) *bad_v = true;
    }
  }
  if (kq_rd_ok(r) && r->p != r->end)
    kq_rd_fail(r, KQ_EPROTO, true, "%zu trailing bytes after the map", (size_t)(r->end - r->p));
}

int kq_proto_decode(const void *buf, size_t len, const kq_proto_limits_t *lim,
                    kq_proto_msg_t *out, kq_proto_error_t *err) {
  kq_proto_error_t scratch;
  if (!err) err = &scratch;
  memset(err, 0, sizeof *err);
  memset(out, 0, sizeof *out);
  kq_rd_t r;
  kq_rd_init(&r, buf, len, lim, err);
  if (len > r.lim.max_frame) {
    kq_rd_fail(&r, KQ_ETOOBIG, true, "frame of %zu bytes (max %u)", len, r.lim.max_frame);
    return r.rc;
  }
  const uint8_t *tname = NULL;
  uint32_t tlen = 0;
  bool bad_v = false;
  scan_header(&r, out, &tname, &tlen, &bad_v);
  if (!kq_rd_ok(&r)) {
    out->minor = 0;
    return r.rc;
  }
  if (bad_v) {
    r.field = "v";
    kq_rd_fail(&r, KQ_EPROTO, false, "expected uint");
    out->minor = 0;
    return r.rc;
  }
  if (tname) {
    size_t n = tlen < sizeof err->type - 1 ? tlen : sizeof err->type - 1;
    memcpy(err->type, tname, n);
    err->type[n] = '\0';
    if (!kq_proto_utf8_valid((const uint8_t *)err->type, n)) err->type[0] = '\0';
  } else {
    r.field = "t";
    kq_rd_fail(&r, KQ_EPROTO, false, "required str field missing");
    out->minor = 0;
    return r.rc;
  }
  kq_proto_type_t type = kq_proto_type_from_name((const char *)tname, tlen);
  if (type == KQ_PROTO_NONE) {
    kq_rd_fail(&r, KQ_ENOTSUP, false, "unknown message type");
    out->minor = 0;
    return r.rc;
  }

  /* Pass 2 over the same bytes; shape, depth and truncation are known good now. */
  uint32_t minor = out->minor;
  kq_rd_init(&r, buf, len, lim, err);
  kq_rd_push(&r, kq_proto_type_name(type));
  kq_rd_tok_t m;
  kq_rd_next(&r, &m);
  out->type = type;
  out->minor = minor;
  switch (type) {
  case KQ_PROTO_HELLO: dec_hello(&r, m.len, &out->hello); break;
  case KQ_PROTO_WELCOME: dec_welcome(&r, m.len, &out->welcome); break;
  case KQ_PROTO_HEARTBEAT: dec_heartbeat(&r, m.len, &out->heartbeat); break;
  case KQ_PROTO_PING: dec_ping(&r, m.len, &out->ping); break;
  case KQ_PROTO_PONG: dec_ping(&r, m.len, &out->pong); break;
  case KQ_PROTO_RUN: dec_run(&r, m.len, &out->run); break;
  case KQ_PROTO_STATUS: dec_status(&r, m.len, &out->status); break;
  case KQ_PROTO_LOG: dec_log(&r, m.len, &out->log); break;
  case KQ_PROTO_CANCEL: dec_cancel(&r, m.len, &out->cancel); break;
  case KQ_PROTO_ERROR: dec_error(&r, m.len, &out->error); break;
  case KQ_PROTO_BYE: dec_bye(&r, m.len, &out->bye); break;
  default: break;
  }
  if (!kq_rd_ok(&r)) {
    kq_proto_msg_clear(out);
    return r.rc;
  }
  return KQ_OK;
}
