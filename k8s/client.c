/* The API client actor: a queue of requests behind a token bucket, retries with backoff and
 * Retry-After, the pod list+watch loop (resourceVersion, bookmarks, 410 → relist), the node
 * watch, Node registration/status and Lease renewal. curl callbacks only produce kq_http
 * messages; everything is decided here, in dispatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_k8s_client_internal.h"
#include "kq_k8s_internal.h"
#include "kq_log.h"

#define COMP "k8s"
#define MAX_LINE (16u << 20) /* one watch event */
#define MAX_ATTEMPTS 8

#define CLIENT_MSGS(X)                                                                        \
  X(K8S_REQ) X(K8S_NODE_STATE) X(K8S_HTTP_DONE) X(K8S_WATCH_CHUNK) X(K8S_WATCH_DONE)          \
  X(K8S_NWATCH_CHUNK) X(K8S_NWATCH_DONE)
KQ_MSG_IDS(client, CLIENT_MSGS)

enum { T_PUMP = 1, T_LEASE, T_STATUS, T_WATCH, T_NWATCH };

typedef enum {
  P_NONE = 0, P_VERSION, P_NODE_CREATE, P_NODE_SPEC, P_NODE_STATUS, P_LEASE_CREATE, P_LEASE_RENEW,
  P_POD_LIST, P_NODE_LIST, P_POD_STATUS, P_POD_DELETE, P_EVENT, P_GET_SECRET, P_GET_CM,
  P_NODE_DELETE, P_LEASE_DELETE,
} purpose_t;

/* A request, queued or in flight. Also the payload of K8S_REQ messages from helpers. */
typedef struct req {
  struct req *next;
  purpose_t purpose;
  char *method;
  char *path;
  char *body;
  const char *ctype;
  char *key;          /* supersede key for status patches ("ns/name") */
  kq_aid_t reply_to;
  uint32_t reply_id;
  uint64_t cookie;
  uint32_t attempts;
  uint64_t not_before_ns;
  kq_http_req_id_t http_id;
  char *ev[6];        /* P_EVENT before rendering: kind, ns, name, uid, reason, message */
  bool ev_warning;
  bool auth_retried;  /* a 401 already made us re-read the token file once */
} req_t;

typedef struct req_msg {
  kq_msg_t hdr;
  req_t *req;
} req_msg_t;

typedef struct node_state_msg {
  kq_msg_t hdr;
  kq_k8s_node_state_t st;
  char *ip;
  char *msg;
} node_state_msg_t;

typedef struct watch {
  kq_http_req_id_t id;
  char *rv;
  char *buf;
  size_t len, cap;
  uint32_t failures;
  bool need_list;
  bool listing;
  bool gone;          /* an ERROR 410 event arrived on this stream */
} watch_t;

typedef struct client {
  kq_actor_t *self;
  kq_system_t *sys;
  kq_k8s_config_t *cfg;
  kq_http_t *http;
  char *node;
  kq_aid_t pod_sub, node_sub;
  uint32_t pod_event_id, node_event_id;
  bool register_node;
  double qps, tokens;
  uint32_t burst;
  uint64_t tokens_ns;
  uint32_t lease_duration_s, lease_renew_s, status_period_s, watch_timeout_s;
  char *kubelet_version;
  kq_k8s_client_stats_t *stats;
  kq_k8s_client_stats_t own_stats;
  uint32_t event_seq;   /* makes Event names unique, so a retried POST cannot duplicate one */
  req_t *node_delete;   /* waits for the Lease delete, so its reply means both are gone */
  req_t *queue, *queue_tail;
  req_t *inflight;
  kq_timer_id_t pump_timer;
  uint64_t pump_at;
  /* node */
  bool have_state, node_created, version_known, spec_dirty, status_dirty, status_inflight, lease_created;
  kq_k8s_node_state_t state;
  char *state_ip, *state_msg;
  bool taint_now;
  uint64_t start_wall_ns, ready_since_ns;
  bool last_ready;
  /* watches */
  watch_t pw, nw;
} client_t;

static const kq_clock_t *clk(client_t *c) { return kq_system_clock(c->sys); }

static void req_free(req_t *r) {
  if (!r) return;
  free(r->method);
  free(r->path);
  free(r->body);
  free(r->key);
  for (size_t i = 0; i < KQ_ARRAY_LEN(r->ev); i++) free(r->ev[i]);
  free(r);
}

static void req_msg_dtor(kq_msg_t *m) { req_free(((req_msg_t *)m)->req); }

static req_t *req_new(purpose_t p, const char *method, char *path, char *body, const char *ctype) {
  req_t *r = KQ_NEW(req_t);
  r->purpose = p;
  r->method = kq_strdup(method);
  r->path = path;
  r->body = body;
  r->ctype = ctype;
  return r;
}

#define MERGE "application/merge-patch+json"
#define JSON "application/json"

/* ---- replies ---- */

static void result_dtor(kq_msg_t *m) { free(((kq_k8s_result_msg_t *)m)->error); }
static void data_dtor(kq_msg_t *m) {
  kq_k8s_data_msg_t *d = (kq_k8s_data_msg_t *)m;
  free(d->error);
  kq_k8s_kv_free(d->data, d->ndata);
}

static int rc_for_status(long status) {
  if (status >= 200 && status < 300) return KQ_OK;
  if (status == 404) return KQ_ENOENT;
  if (status == 401 || status == 403) return KQ_EAUTH;
  if (status == 409) return KQ_EEXIST;
  return KQ_EHTTP;
}

static void reply(client_t *c, req_t *r, int rc, long status, const char *error) {
  if (!r->reply_id || !r->reply_to) return;
  kq_k8s_result_msg_t *m = KQ_MSG_NEW(kq_k8s_result_msg_t, r->reply_id);
  m->hdr.dtor = result_dtor;
  m->cookie = r->cookie;
  m->rc = rc;
  m->status = status;
  m->error = kq_strdup(error);
  kq_tell(c->self, r->reply_to, &m->hdr);
}

/* ---- queue + token bucket ---- */

static void pump(client_t *c);

static void schedule_pump(client_t *c, uint64_t at) {
  uint64_t now = kq_now_ns(clk(c));
  if (c->pump_timer && c->pump_at <= at) return;
  if (c->pump_timer) kq_timer_cancel(c->self, c->pump_timer);
  c->pump_at = at;
  c->pump_timer = kq_timer_start(c->self, at > now ? at - now : 0, 0, T_PUMP);
}

static bool same_key(const req_t *a, const req_t *b) {
  return a->key && b->key && a->purpose == b->purpose && strcmp(a->key, b->key) == 0;
}

static void enqueue(client_t *c, req_t *r) {
  if (r->key) { /* a newer status for the same pod replaces a queued older one */
    for (req_t *q = c->queue; q; q = q->next) {
      if (!same_key(q, r)) continue;
      if (!r->attempts) { /* r is new (not a retry, which is older than what is queued) */
        free(q->body);
        q->body = r->body;
        r->body = NULL;
        q->reply_to = r->reply_to;
        q->reply_id = r->reply_id;
        q->cookie = r->cookie;
      }
      req_free(r);
      return;
    }
  }
  r->next = NULL;
  if (c->queue_tail) c->queue_tail->next = r;
  else c->queue = r;
  c->queue_tail = r;
  pump(c);
}

static void start_http(client_t *c, req_t *r) {
  kq_http_header_t h[4];
  size_t nh = 0;
  const char *auth = kq_k8s_config_auth(c->cfg, kq_now_ns(clk(c)));
  if (auth) h[nh++] = (kq_http_header_t){"Authorization", auth};
  h[nh++] = (kq_http_header_t){"Accept", "application/json"};
  if (r->body) h[nh++] = (kq_http_header_t){"Content-Type", r->ctype ? r->ctype : JSON};
  h[nh++] = (kq_http_header_t){"User-Agent", "kuack-node/0.1"};
  char *url = kq_asprintf("%s%s", c->cfg->server, r->path);
  kq_http_req_t hr = {
      .method = r->method, .url = url, .headers = h, .nheaders = nh, .body = r->body,
      .body_len = r->body ? strlen(r->body) : 0, .owner = kq_self(c->self),
      .done_id = K8S_HTTP_DONE, .timeout_ms = 30000, .tls = &c->cfg->tls,
  };
  r->http_id = kq_http_start(c->http, &hr);
  free(url);
  r->next = c->inflight;
  c->inflight = r;
}

static void pump(client_t *c) {
  uint64_t now = kq_now_ns(clk(c));
  double elapsed = (double)(now - c->tokens_ns) / 1e9;
  c->tokens_ns = now;
  c->tokens += elapsed * c->qps;
  if (c->tokens > c->burst) c->tokens = c->burst;
  uint64_t next = UINT64_MAX;
  req_t **pp = &c->queue, *prev = NULL;
  while (*pp) {
    req_t *r = *pp;
    if (r->not_before_ns > now) {
      if (r->not_before_ns < next) next = r->not_before_ns;
      prev = r;
      pp = &r->next;
      continue;
    }
    bool busy = false; /* one request per key on the wire, so patches land in order */
    for (req_t *f = r->key ? c->inflight : NULL; f && !busy; f = f->next) busy = same_key(f, r);
    if (busy) {
      prev = r;
      pp = &r->next;
      continue;
    }
    if (c->tokens < 1.0) {
      c->stats->throttled++;
      uint64_t wait = (uint64_t)((1.0 - c->tokens) / c->qps * 1e9) + 1;
      if (now + wait < next) next = now + wait;
      break;
    }
    c->tokens -= 1.0;
    *pp = r->next;
    if (c->queue_tail == r) c->queue_tail = prev;
    start_http(c, r);
  }
  if (next != UINT64_MAX) schedule_pump(c, next);
}

static req_t *take_inflight(client_t *c, kq_http_req_id_t id) {
  for (req_t **pp = &c->inflight; *pp; pp = &(*pp)->next) {
    if ((*pp)->http_id == id) {
      req_t *r = *pp;
      *pp = r->next;
      r->next = NULL;
      return r;
    }
  }
  return NULL;
}

/* Retry-After seconds, else exponential backoff 0.5 s .. 30 s. */
static uint64_t backoff_ns(uint32_t attempt, const char *headers) {
  char v[32];
  if (headers && kq_http_header_get(headers, "Retry-After", v, sizeof(v)) == KQ_OK) {
    long s = strtol(v, NULL, 10);
    if (s >= 0 && s <= 300) return (uint64_t)s * 1000000000ull;
  }
  uint64_t ms = 500ull << (attempt < 6 ? attempt : 6);
  return (ms > 30000 ? 30000 : ms) * 1000000ull;
}

/* ---- node ---- */

static void node_send_status(client_t *c);

static void node_kick(client_t *c) {
  if (!c->register_node || !c->have_state) return;
  if (!c->version_known) return; /* the /version reply continues */
  if (!c->node_created) {
    req_t *r = req_new(P_NODE_CREATE, "POST", kq_strdup("/api/v1/nodes"),
                       kq_k8s_node_body(c->node, c->state.no_browsers_taint), JSON);
    c->node_created = true; /* in progress; reset on failure */
    enqueue(c, r);
    return;
  }
  if (c->spec_dirty) {
    c->spec_dirty = false;
    enqueue(c, req_new(P_NODE_SPEC, "PATCH", kq_asprintf("/api/v1/nodes/%s", c->node),
                       kq_k8s_node_spec_patch(c->node, c->state.no_browsers_taint), MERGE));
  }
  if (c->status_dirty) node_send_status(c);
}

static void node_send_status(client_t *c) {
  if (c->status_inflight) return;
  c->status_dirty = false;
  c->status_inflight = true;
  kq_k8s_node_state_t st = c->state;
  st.internal_ip = c->state_ip;
  st.ready_message = c->state_msg;
  char *body = kq_k8s_node_status_patch(c->node, &st, c->kubelet_version, c->start_wall_ns,
                                        c->ready_since_ns, kq_wall_ns(clk(c)));
  enqueue(c, req_new(P_NODE_STATUS, "PATCH", kq_asprintf("/api/v1/nodes/%s/status", c->node), body,
                     MERGE));
}

static void lease_renew(client_t *c) {
  uint64_t now = kq_wall_ns(clk(c));
  if (!c->lease_created)
    enqueue(c, req_new(P_LEASE_CREATE, "POST",
                       kq_strdup("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"),
                       kq_k8s_lease_body(c->node, c->lease_duration_s, now), JSON));
  else
    enqueue(c, req_new(P_LEASE_RENEW, "PATCH",
                       kq_asprintf("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s",
                                   c->node),
                       kq_k8s_lease_patch(c->node, c->lease_duration_s, now), MERGE));
}

/* ---- watches ---- */

static void pod_list(client_t *c);
static void node_list(client_t *c);

static void watch_start(client_t *c, watch_t *w, bool pods) {
  kq_http_header_t h[2];
  size_t nh = 0;
  const char *auth = kq_k8s_config_auth(c->cfg, kq_now_ns(clk(c)));
  if (auth) h[nh++] = (kq_http_header_t){"Authorization", auth};
  h[nh++] = (kq_http_header_t){"Accept", "application/json"};
  char *url = pods ? kq_asprintf("%s/api/v1/pods?watch=1&fieldSelector=spec.nodeName%%3D%s"
                                 "&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%u",
                                 c->cfg->server, c->node, w->rv, c->watch_timeout_s)
                   : kq_asprintf("%s/api/v1/nodes?watch=1&fieldSelector=metadata.name%%3D%s"
                                 "&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%u",
                                 c->cfg->server, c->node, w->rv, c->watch_timeout_s);
  kq_http_req_t hr = {
      .url = url, .headers = h, .nheaders = nh, .owner = kq_self(c->self),
      .done_id = pods ? K8S_WATCH_DONE : K8S_NWATCH_DONE,
      .chunk_id = pods ? K8S_WATCH_CHUNK : K8S_NWATCH_CHUNK, .tls = &c->cfg->tls,
      /* the server ends the watch after timeoutSeconds; a stream that outlives that by far is
       * dead (half-open connection) and is replaced */
      .timeout_ms = (c->watch_timeout_s + 60) * 1000u,
  };
  w->id = kq_http_start(c->http, &hr);
  w->len = 0;
  w->gone = false;
  c->stats->watches++;
  free(url);
}

static void watch_retry(client_t *c, watch_t *w, bool pods, bool relist, const char *headers) {
  w->id = 0;
  if (relist) w->need_list = true;
  uint64_t d = w->failures ? backoff_ns(w->failures - 1, headers) : 0;
  kq_timer_start(c->self, d, 0, pods ? T_WATCH : T_NWATCH);
}

static void pod_list(client_t *c) {
  c->pw.listing = true;
  c->stats->lists++;
  req_t *r = req_new(P_POD_LIST, "GET",
                     kq_asprintf("/api/v1/pods?fieldSelector=spec.nodeName%%3D%s", c->node), NULL, NULL);
  enqueue(c, r);
}

static void node_list(client_t *c) {
  c->nw.listing = true;
  enqueue(c, req_new(P_NODE_LIST, "GET",
                     kq_asprintf("/api/v1/nodes?fieldSelector=metadata.name%%3D%s", c->node), NULL, NULL));
}

static void pod_event_dtor(kq_msg_t *m) {
  kq_k8s_pod_event_msg_t *e = (kq_k8s_pod_event_msg_t *)m;
  kq_pod_clear(&e->pod);
  for (size_t i = 0; i < e->npods; i++) kq_pod_clear(&e->pods[i]);
  free(e->pods);
  free(e->rv);
}

static void node_event_dtor(kq_msg_t *m) { kq_k8s_meta_clear(&((kq_k8s_node_event_msg_t *)m)->meta); }

static void watch_line(client_t *c, watch_t *w, bool pods, const char *line, size_t len) {
  kq_k8s_watch_event_t ev;
  char *err = NULL;
  if (kq_k8s_watch_event_decode(line, len, pods, &ev, &err) != KQ_OK) {
    c->stats->errors++;
    KQ_WARN(COMP, "bad watch event", "err=\"%s\"", err ? err : "?");
    free(err);
    return;
  }
  c->stats->watch_events++;
  if (ev.type == KQ_WE_ERROR) {
    KQ_INFO(COMP, "watch error", "code=%ld msg=\"%s\"", ev.code, ev.message ? ev.message : "");
    if (ev.code == 410) w->gone = true;
    kq_k8s_watch_event_clear(&ev);
    return;
  }
  if (ev.meta.resource_version) {
    free(w->rv);
    w->rv = kq_strdup(ev.meta.resource_version);
  }
  if (ev.type == KQ_WE_BOOKMARK) {
    c->stats->bookmarks++;
  } else if (pods && c->pod_sub) {
    kq_k8s_pod_event_msg_t *m = KQ_MSG_NEW(kq_k8s_pod_event_msg_t, c->pod_event_id);
    m->hdr.dtor = pod_event_dtor;
    m->kind = ev.type == KQ_WE_ADDED ? KQ_K8S_POD_ADDED
              : ev.type == KQ_WE_MODIFIED ? KQ_K8S_POD_MODIFIED : KQ_K8S_POD_DELETED;
    m->pod = ev.pod;
    memset(&ev.pod, 0, sizeof(ev.pod));
    m->rv = kq_strdup(w->rv);
    kq_tell(c->self, c->pod_sub, &m->hdr);
  } else if (!pods) {
    if (ev.type == KQ_WE_DELETED && c->register_node && c->have_state) {
      c->node_created = false; /* somebody deleted us: register again */
      c->status_dirty = true;
      node_kick(c);
    }
    if (c->node_sub) {
      kq_k8s_node_event_msg_t *m = KQ_MSG_NEW(kq_k8s_node_event_msg_t, c->node_event_id);
      m->hdr.dtor = node_event_dtor;
      m->meta = ev.meta;
      memset(&ev.meta, 0, sizeof(ev.meta));
      m->deleted = ev.type == KQ_WE_DELETED;
      kq_tell(c->self, c->node_sub, &m->hdr);
    }
  }
  kq_k8s_watch_event_clear(&ev);
}

static void watch_chunk(client_t *c, watch_t *w, bool pods, kq_http_chunk_t *ch) {
  if (ch->req != w->id || ch->status != 200) return;
  w->failures = 0; /* the server answers: the next failure backs off from the start */
  if (w->len + ch->len + 1 > w->cap) {
    if (w->len + ch->len + 1 > MAX_LINE) {
      KQ_WARN(COMP, "watch event too large, restarting the watch", "bytes=%zu", w->len + ch->len);
      kq_http_cancel(c->http, w->id);
      w->len = 0;
      c->stats->errors++;
      watch_retry(c, w, pods, true, NULL);
      return;
    }
    w->cap = (w->len + ch->len + 1) * 2;
    w->buf = kq_realloc(w->buf, w->cap);
  }
  memcpy(w->buf + w->len, ch->data, ch->len);
  w->len += ch->len;
  size_t start = 0;
  for (size_t i = 0; i < w->len; i++) {
    if (w->buf[i] != '\n') continue;
    if (i > start) watch_line(c, w, pods, w->buf + start, i - start);
    start = i + 1;
  }
  memmove(w->buf, w->buf + start, w->len - start);
  w->len -= start;
}

static void watch_done(client_t *c, watch_t *w, bool pods, kq_http_resp_t *r) {
  if (r->req != w->id) return;
  w->id = 0;
  if (r->rc == KQ_OK && r->status == 200 && !w->gone) {
    w->failures = 0; /* server-side timeout: resume from the last resourceVersion */
    watch_start(c, w, pods);
    return;
  }
  if (r->rc == KQ_OK && r->status == 401) c->cfg->token_read_ns = 0; /* rotated token: re-read */
  bool gone = w->gone || r->status == 410;
  if (gone) {
    c->stats->relists++;
    KQ_INFO(COMP, "watch expired (410 Gone): relisting", "kind=%s", pods ? "pods" : "node");
  } else {
    w->failures++;
    c->stats->errors++;
    KQ_WARN(COMP, "watch failed, reconnecting", "kind=%s rc=%s status=%ld err=\"%s\"",
            pods ? "pods" : "node", kq_errname(r->rc), r->status, r->error ? r->error : "");
  }
  watch_retry(c, w, pods, gone || w->failures > 3, r->rc == KQ_OK ? r->headers : NULL);
}

/* ---- responses ---- */

static void on_pod_list(client_t *c, kq_http_resp_t *resp, bool relist) {
  kq_pod_t *pods;
  size_t n, bad;
  char *rv, *err = NULL;
  if (kq_k8s_pod_list_decode(resp->body, resp->body_len, &pods, &n, &rv, &bad, &err) != KQ_OK ||
      !rv) {
    KQ_WARN(COMP, "pod list unreadable", "err=\"%s\"", err ? err : "no resourceVersion");
    free(err);
    for (size_t i = 0; i < n; i++) kq_pod_clear(&pods[i]);
    free(pods);
    free(rv);
    c->pw.failures++;
    watch_retry(c, &c->pw, true, true, NULL);
    return;
  }
  if (bad) KQ_WARN(COMP, "pods skipped: undecodable", "count=%zu", bad);
  free(c->pw.rv);
  c->pw.rv = rv;
  c->pw.need_list = false;
  c->pw.failures = 0;
  if (c->pod_sub) {
    kq_k8s_pod_event_msg_t *m = KQ_MSG_NEW(kq_k8s_pod_event_msg_t, c->pod_event_id);
    m->hdr.dtor = pod_event_dtor;
    m->kind = KQ_K8S_POD_SYNC;
    m->pods = pods;
    m->npods = n;
    m->relist = relist;
    m->rv = kq_strdup(rv);
    kq_tell(c->self, c->pod_sub, &m->hdr);
  } else {
    for (size_t i = 0; i < n; i++) kq_pod_clear(&pods[i]);
    free(pods);
  }
  watch_start(c, &c->pw, true);
}

static void on_node_list(client_t *c, kq_http_resp_t *resp) {
  kq_k8s_meta_t meta;
  char *rv;
  int rc = kq_k8s_node_list_decode(resp->body, resp->body_len, &meta, &rv);
  if (!rv) {
    kq_k8s_meta_clear(&meta);
    c->nw.failures++;
    watch_retry(c, &c->nw, false, true, NULL);
    return;
  }
  free(c->nw.rv);
  c->nw.rv = rv;
  c->nw.need_list = false;
  c->nw.failures = 0;
  if (rc == KQ_OK && c->node_sub) {
    kq_k8s_node_event_msg_t *m = KQ_MSG_NEW(kq_k8s_node_event_msg_t, c->node_event_id);
    m->hdr.dtor = node_event_dtor;
    m->meta = meta;
    kq_tell(c->self, c->node_sub, &m->hdr);
  } else {
    kq_k8s_meta_clear(&meta);
  }
  watch_start(c, &c->nw, false);
}

static void on_http_done(client_t *c, kq_http_resp_t *resp) {
  req_t *r = take_inflight(c, resp->req);
  if (!r) return;
  long st = resp->rc == KQ_OK ? resp->status : 0;
  if (st == 401 && c->cfg->token_file && !r->auth_retried) {
    /* the token may have rotated under us: re-read the file now and try once more */
    r->auth_retried = true;
    r->attempts++;
    c->cfg->token_read_ns = 0;
    c->stats->retries++;
    KQ_INFO(COMP, "401 Unauthorized: re-reading the token file", "path=%s", r->path);
    enqueue(c, r);
    return;
  }
  /* 403 too: an API server that has just restarted refuses everything until its RBAC caches
   * have synced; a real lack of rights costs a few retries and a warning */
  bool retryable = resp->rc != KQ_OK || st == 429 || st >= 500 || st == 403;
  /* state the API must end up with is retried until it lands (backoff capped at 30 s): a Pod's
   * last status or its final delete must survive an API outage of any length */
  bool background = r->purpose == P_POD_LIST || r->purpose == P_NODE_LIST ||
                    r->purpose == P_VERSION || r->purpose == P_NODE_CREATE ||
                    r->purpose == P_NODE_SPEC || r->purpose == P_NODE_STATUS ||
                    r->purpose == P_POD_STATUS || r->purpose == P_POD_DELETE;
  if (retryable && (background || r->attempts + 1 < MAX_ATTEMPTS) && r->purpose != P_LEASE_RENEW &&
      r->purpose != P_LEASE_CREATE) {
    c->stats->retries++;
    r->not_before_ns = kq_now_ns(clk(c)) + backoff_ns(r->attempts, resp->headers);
    r->attempts++;
    if (st == 403) /* visible: it is either a restart's blip or missing RBAC rights */
      KQ_WARN(COMP, "forbidden, retrying", "method=%s path=%s status=%ld attempt=%u", r->method, r->path, st,
              r->attempts);
    else
      KQ_DEBUG(COMP, "retrying", "path=%s status=%ld rc=%s", r->path, st, kq_errname(resp->rc));
    enqueue(c, r);
    return;
  }
  int rc = resp->rc != KQ_OK ? resp->rc : rc_for_status(st);
  char *msg = rc != KQ_OK ? (resp->rc != KQ_OK ? kq_strdup(resp->error)
                                               : kq_k8s_status_message(resp->body, resp->body_len))
                          : NULL;
  if (rc != KQ_OK && r->purpose != P_LEASE_CREATE && r->purpose != P_NODE_CREATE &&
      !(r->purpose == P_EVENT && rc == KQ_EEXIST) && !(r->purpose == P_LEASE_DELETE && rc == KQ_ENOENT)) {
    c->stats->errors++;
    KQ_WARN(COMP, "request failed", "method=%s path=%s status=%ld err=\"%s\"", r->method, r->path,
            st, msg ? msg : kq_strerror(rc));
  }
  switch (r->purpose) {
    case P_VERSION: {
      char *v = rc == KQ_OK ? kq_k8s_version_decode(resp->body, resp->body_len) : NULL;
      c->kubelet_version = v ? kq_asprintf("%s-kuack-node", v) : kq_strdup("v0.0.0-kuack-node");
      free(v);
      c->version_known = true;
      node_kick(c);
      break;
    }
    case P_NODE_CREATE:
      if (rc == KQ_OK || rc == KQ_EEXIST) {
        c->stats->node_registrations++;
        if (rc == KQ_EEXIST) c->spec_dirty = true; /* make labels/taints ours */
        c->status_dirty = true;
        KQ_INFO(COMP, rc == KQ_OK ? "node registered" : "node exists, taking it over", "node=%s", c->node);
        node_kick(c);
      } else {
        c->node_created = false;
        KQ_WARN(COMP, "node registration failed", "node=%s status=%ld err=\"%s\"", c->node, st, msg ? msg : "");
        r->not_before_ns = kq_now_ns(clk(c)) + backoff_ns(r->attempts++, NULL);
        c->node_created = true;
        enqueue(c, r);
        r = NULL;
      }
      break;
    case P_NODE_STATUS:
      c->status_inflight = false;
      if (rc == KQ_OK) {
        c->stats->node_status_patches++;
        c->stats->node_registered = true;
      } else if (rc == KQ_ENOENT) {
        c->node_created = false;
        c->status_dirty = true;
      }
      node_kick(c);
      break;
    case P_NODE_SPEC:
      if (rc == KQ_ENOENT) {
        c->node_created = false;
        node_kick(c);
      }
      break;
    case P_LEASE_CREATE:
      if (rc == KQ_OK || rc == KQ_EEXIST) c->lease_created = true;
      if (rc == KQ_OK) c->stats->lease_renewals++;
      if (rc == KQ_EEXIST) lease_renew(c);
      break;
    case P_LEASE_RENEW:
      if (rc == KQ_OK) c->stats->lease_renewals++;
      if (rc == KQ_ENOENT) c->lease_created = false;
      break;
    case P_POD_LIST:
      if (rc == KQ_OK) {
        bool relist = c->pw.rv != NULL;
        c->pw.listing = false;
        on_pod_list(c, resp, relist);
      } else {
        c->pw.listing = false;
        c->pw.failures++;
        watch_retry(c, &c->pw, true, true, NULL);
      }
      break;
    case P_NODE_LIST:
      c->nw.listing = false;
      if (rc == KQ_OK) on_node_list(c, resp);
      else {
        c->nw.failures++;
        watch_retry(c, &c->nw, false, true, NULL);
      }
      break;
    case P_POD_STATUS:
      if (rc == KQ_OK) c->stats->status_patches++;
      reply(c, r, rc, st, msg);
      break;
    case P_EVENT:
      /* 409: an earlier attempt was created but its answer was lost (same generated name) */
      if (rc == KQ_OK || rc == KQ_EEXIST) c->stats->events++;
      break;
    case P_GET_SECRET:
    case P_GET_CM:
      if (r->reply_id && r->reply_to) {
        kq_k8s_data_msg_t *m = KQ_MSG_NEW(kq_k8s_data_msg_t, r->reply_id);
        m->hdr.dtor = data_dtor;
        m->cookie = r->cookie;
        m->rc = rc;
        if (rc == KQ_OK)
          m->rc = kq_k8s_data_decode(resp->body, resp->body_len, r->purpose == P_GET_SECRET,
                                     &m->data, &m->ndata, &m->error);
        else
          m->error = kq_strdup(msg);
        kq_tell(c->self, r->reply_to, &m->hdr);
      }
      break;
    case P_LEASE_DELETE:
      if (c->node_delete) {
        enqueue(c, c->node_delete);
        c->node_delete = NULL;
      }
      break;
    case P_NODE_DELETE:
      if (rc == KQ_OK || rc == KQ_ENOENT) c->register_node = false; /* stop re-registering */
      reply(c, r, rc == KQ_ENOENT ? KQ_OK : rc, st, msg);
      break;
    default:
      reply(c, r, rc, st, msg);
      break;
  }
  free(msg);
  req_free(r);
  pump(c); /* a request waiting for this one's key may go now */
}

/* ---- actor ---- */

static int client_init(kq_actor_t *self, void *state, void *arg) {
  client_t *c = state;
  const kq_k8s_client_opts_t *o = arg;
  if (!o || !o->config || !o->http || !o->config->server) return KQ_EINVAL;
  c->self = self;
  c->sys = kq_actor_system(self);
  c->cfg = o->config;
  c->http = o->http;
  c->node = kq_strdup(o->node_name && o->node_name[0] ? o->node_name : "kuack-node");
  c->pod_sub = o->pod_subscriber;
  c->pod_event_id = o->pod_event_id;
  c->node_sub = o->node_subscriber;
  c->node_event_id = o->node_event_id;
  c->register_node = o->register_node;
  c->qps = o->qps > 0 ? o->qps : 20;
  c->burst = o->burst ? o->burst : 40;
  c->tokens = c->burst;
  c->tokens_ns = kq_now_ns(clk(c));
  c->lease_duration_s = o->lease_duration_s ? o->lease_duration_s : 40;
  c->lease_renew_s = o->lease_renew_s ? o->lease_renew_s : 10;
  c->status_period_s = o->status_period_s ? o->status_period_s : 60;
  c->watch_timeout_s = o->watch_timeout_s ? o->watch_timeout_s : 300;
  c->stats = o->stats ? o->stats : &c->own_stats;
  c->start_wall_ns = c->ready_since_ns = kq_wall_ns(clk(c));
  if (o->kubelet_version) {
    c->kubelet_version = kq_strdup(o->kubelet_version);
    c->version_known = true;
  } else {
    enqueue(c, req_new(P_VERSION, "GET", kq_strdup("/version"), NULL, NULL));
  }
  if (c->pod_sub && o->resume_rv) {
    c->pw.rv = kq_strdup(o->resume_rv);
    watch_start(c, &c->pw, true);
  } else if (c->pod_sub) {
    pod_list(c);
  }
  if (c->node_sub || c->register_node) node_list(c);
  if (c->register_node) {
    kq_timer_start(self, KQ_SEC(c->lease_renew_s), KQ_SEC(c->lease_renew_s), T_LEASE);
    kq_timer_start(self, KQ_SEC(c->status_period_s), KQ_SEC(c->status_period_s), T_STATUS);
  }
  return KQ_OK;
}

static void set_node_state(client_t *c, node_state_msg_t *m) {
  bool first = !c->have_state;
  if (first || m->st.no_browsers_taint != c->state.no_browsers_taint) c->spec_dirty = !first;
  if (first || m->st.ready != c->last_ready) {
    c->ready_since_ns = kq_wall_ns(clk(c));
    c->last_ready = m->st.ready;
  }
  c->state = m->st;
  free(c->state_ip);
  free(c->state_msg);
  c->state_ip = m->ip;
  c->state_msg = m->msg;
  m->ip = m->msg = NULL;
  c->have_state = true;
  c->status_dirty = true;
  if (first && c->register_node) lease_renew(c);
  node_kick(c);
}

static void client_dispatch(kq_actor_t *self, void *state, kq_msg_t *msg) {
  client_t *c = state;
  switch (msg->id) {
    case KQ_MSG_TIMER: {
      kq_timer_msg_t *t = (kq_timer_msg_t *)msg;
      if (t->tag == T_PUMP) {
        c->pump_timer = 0;
        pump(c);
      } else if (t->tag == T_LEASE) {
        if (c->register_node && c->have_state) lease_renew(c);
      } else if (t->tag == T_STATUS) {
        c->status_dirty = true;
        node_kick(c);
      } else if (t->tag == T_WATCH || t->tag == T_NWATCH) {
        bool pods = t->tag == T_WATCH;
        watch_t *w = pods ? &c->pw : &c->nw;
        if (w->id || w->listing) break;
        if (w->need_list || !w->rv) pods ? pod_list(c) : node_list(c);
        else watch_start(c, w, pods);
      }
      break;
    }
    case K8S_REQ: {
      req_msg_t *m = (req_msg_t *)msg;
      req_t *r = m->req;
      m->req = NULL;
      if (r->purpose == P_NODE_DELETE) {
        /* the Lease goes first, then the Node; the reply comes after both */
        free(r->path);
        r->path = kq_asprintf("/api/v1/nodes/%s", c->node);
        c->register_node = false;
        if (!c->node_delete) {
          c->node_delete = r;
          enqueue(c, req_new(P_LEASE_DELETE, "DELETE",
                             kq_asprintf("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s",
                                         c->node), NULL, NULL));
          break;
        }
      } else if (r->purpose == P_EVENT) {
        kq_k8s_event_t ev = {r->ev[0], r->ev[1], r->ev[2], r->ev[3], r->ev[4], r->ev[5], r->ev_warning};
        r->body = kq_k8s_event_body(&ev, c->node, kq_wall_ns(clk(c)), ++c->event_seq);
      }
      enqueue(c, r);
      break;
    }
    case K8S_NODE_STATE:
      set_node_state(c, (node_state_msg_t *)msg);
      break;
    case K8S_HTTP_DONE:
      on_http_done(c, (kq_http_resp_t *)msg);
      break;
    case K8S_WATCH_CHUNK:
      watch_chunk(c, &c->pw, true, (kq_http_chunk_t *)msg);
      break;
    case K8S_WATCH_DONE:
      watch_done(c, &c->pw, true, (kq_http_resp_t *)msg);
      break;
    case K8S_NWATCH_CHUNK:
      watch_chunk(c, &c->nw, false, (kq_http_chunk_t *)msg);
      break;
    case K8S_NWATCH_DONE:
      watch_done(c, &c->nw, false, (kq_http_resp_t *)msg);
      break;
    default:
      break;
  }
}

static void client_stop(kq_actor_t *self, void *state) {
  client_t *c = state;
  kq_http_cancel_owner(c->http, kq_self(self));
  while (c->queue) {
    req_t *r = c->queue;
    c->queue = r->next;
    req_free(r);
  }
  while (c->inflight) {
    req_t *r = c->inflight;
    c->inflight = r->next;
    req_free(r);
  }
  req_free(c->node_delete);
  free(c->pw.rv);
  free(c->pw.buf);
  free(c->nw.rv);
  free(c->nw.buf);
  free(c->node);
  free(c->kubelet_version);
  free(c->state_ip);
  free(c->state_msg);
}

const kq_actor_type_t kq_k8s_client_type = {
    .name = "k8s_client",
    .state_size = sizeof(client_t),
    .init = client_init,
    .dispatch = client_dispatch,
    .stop = client_stop,
    .msg_names = client_msg_names,
    .msg_count = client_msg_count,
};

kq_aid_t kq_k8s_client_spawn(kq_system_t *sys, const kq_k8s_client_opts_t *opts, int *err) {
  return kq_spawn(sys, &kq_k8s_client_type, (void *)opts, err);
}

/* ---- request helpers (run in the caller's actor) ---- */

static int send_req(kq_actor_t *self, kq_aid_t client, req_t *r) {
  req_msg_t *m = KQ_MSG_NEW(req_msg_t, K8S_REQ);
  m->hdr.dtor = req_msg_dtor;
  m->req = r;
  return kq_tell(self, client, &m->hdr);
}

int kq_k8s_patch_pod_status(kq_actor_t *self, kq_aid_t client, const char *ns, const char *name,
                            const kq_pod_status_t *st, uint32_t reply_id, uint64_t cookie) {
  if (!ns || !name || !st) return KQ_EINVAL;
  req_t *r = req_new(P_POD_STATUS, "PATCH",
                     kq_asprintf("/api/v1/namespaces/%s/pods/%s/status", ns, name),
                     kq_k8s_pod_status_patch(st, NULL), MERGE);
  r->key = kq_asprintf("%s/%s", ns, name);
  r->reply_to = kq_self(self);
  r->reply_id = reply_id;
  r->cookie = cookie;
  return send_req(self, client, r);
}

int kq_k8s_delete_pod(kq_actor_t *self, kq_aid_t client, const char *ns, const char *name,
                      const char *uid, int64_t grace_s, uint32_t reply_id, uint64_t cookie) {
  if (!ns || !name) return KQ_EINVAL;
  req_t *r = req_new(P_POD_DELETE, "DELETE", kq_asprintf("/api/v1/namespaces/%s/pods/%s", ns, name),
                     kq_k8s_delete_body(uid, grace_s), JSON);
  r->reply_to = kq_self(self);
  r->reply_id = reply_id;
  r->cookie = cookie;
  return send_req(self, client, r);
}

int kq_k8s_emit_event(kq_actor_t *self, kq_aid_t client, const kq_k8s_event_t *ev) {
  if (!ev || !ev->name) return KQ_EINVAL;
  bool is_node = ev->kind && strcmp(ev->kind, "Node") == 0;
  const char *ns = ev->ns && !is_node ? ev->ns : "default";
  /* rendered by the client, which knows the node name for `source.host` */
  req_t *r = req_new(P_EVENT, "POST", kq_asprintf("/api/v1/namespaces/%s/events", ns), NULL, JSON);
  const char *f[6] = {ev->kind, ev->ns, ev->name, ev->uid, ev->reason, ev->message};
  for (size_t i = 0; i < 6; i++) r->ev[i] = kq_strdup(f[i]);
  r->ev_warning = ev->warning;
  return send_req(self, client, r);
}

static int get_data(kq_actor_t *self, kq_aid_t client, bool secret, const char *ns,
                    const char *name, uint32_t reply_id, uint64_t cookie) {
  if (!ns || !name) return KQ_EINVAL;
  req_t *r = req_new(secret ? P_GET_SECRET : P_GET_CM, "GET",
                     kq_asprintf("/api/v1/namespaces/%s/%s/%s", ns, secret ? "secrets" : "configmaps", name),
                     NULL, NULL);
  r->reply_to = kq_self(self);
  r->reply_id = reply_id;
  r->cookie = cookie;
  return send_req(self, client, r);
}

int kq_k8s_get_secret(kq_actor_t *self, kq_aid_t client, const char *ns, const char *name,
                      uint32_t reply_id, uint64_t cookie) {
  return get_data(self, client, true, ns, name, reply_id, cookie);
}

int kq_k8s_get_configmap(kq_actor_t *self, kq_aid_t client, const char *ns, const char *name,
                         uint32_t reply_id, uint64_t cookie) {
  return get_data(self, client, false, ns, name, reply_id, cookie);
}

static void node_state_dtor(kq_msg_t *m) {
  node_state_msg_t *n = (node_state_msg_t *)m;
  free(n->ip);
  free(n->msg);
}

int kq_k8s_set_node_state(kq_actor_t *self, kq_aid_t client, const kq_k8s_node_state_t *st) {
  if (!st) return KQ_EINVAL;
  node_state_msg_t *m = KQ_MSG_NEW(node_state_msg_t, K8S_NODE_STATE);
  m->hdr.dtor = node_state_dtor;
  m->st = *st;
  m->ip = kq_strdup(st->internal_ip);
  m->msg = kq_strdup(st->ready_message);
  m->st.internal_ip = m->st.ready_message = NULL;
  return kq_tell(self, client, &m->hdr);
}

int kq_k8s_delete_node(kq_actor_t *self, kq_aid_t client, uint32_t reply_id, uint64_t cookie) {
  req_t *r = req_new(P_NODE_DELETE, "DELETE", kq_strdup("/api/v1/nodes/-"), NULL, NULL);
  r->reply_to = kq_self(self);
  r->reply_id = reply_id;
  r->cookie = cookie;
  return send_req(self, client, r);
}
