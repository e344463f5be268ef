/* Requests of the API client actor: the queue (a newer status patch for a pod replaces a queued
 * older one; one request per pod on the wire, so patches land in order), the client-side token
 * bucket (QPS/burst), starting them on kq_http, and retries with backoff and Retry-After. */
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_log.h"

#define MAX_ATTEMPTS 8

void client_req_free(req_t *r) {
  if (!r) return;
  free(r->method);
  free(r->path);
  free(r->body);
  free(r->key);
  for (size_t i = 0; i < KQ_ARRAY_LEN(r->ev); i++) free(r->ev[i]);
  free(r);
}

req_t *client_req_new(purpose_t p, const char *method, char *path, char *body, const char *ctype) {
  req_t *r = KQ_NEW(req_t);
  r->purpose = p;
  r->method = kq_strdup(method);
  r->path = path;
  r->body = body;
  r->ctype = ctype;
  return r;
}

static void result_dtor(kq_msg_t *m) { free(((kq_k8s_result_msg_t *)m)->error); }

int client_rc_for_status(long status) {
  if (status >= 200 && status < 300) return KQ_OK;
  if (status == 404) return KQ_ENOENT;
  if (status == 401 || status == 403) return KQ_EAUTH;
  if (status == 409) return KQ_EEXIST;
  return KQ_EHTTP;
}

void client_reply(client_t *c, req_t *r, int rc, long status, const char *error) {
  if (!r->reply_id || !r->reply_to) return;
  kq_k8s_result_msg_t *m = KQ_MSG_NEW(kq_k8s_result_msg_t, r->reply_id);
  m->hdr.dtor = result_dtor;
  m->cookie = r->cookie;
  m->rc = rc;
  m->status = status;
  m->error = kq_strdup(error);
  kq_tell(c->self, r->reply_to, &m->hdr);
}

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

void client_enqueue(client_t *c, req_t *r) {
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
      client_req_free(r);
      return;
    }
  }
  r->next = NULL;
  if (c->queue_tail) c->queue_tail->next = r;
  else c->queue = r;
  c->queue_tail = r;
  client_pump(c);
}

static void start_http(client_t *c, req_t *r) {
  kq_http_header_t h[4];
  size_t nh = 0;
  const char *auth = kq_k8s_config_auth(c->cfg, kq_now_ns(clk(c)));
  if (auth) h[nh++] = (kq_http_header_t){"Authorization", auth};
  h[nh++] = (kq_http_header_t){"Accept", "application/json"};
  if (r->body) h[nh++] = (kq_http_header_t){"Content-Type", r->ctype ? r->ctype : CT_JSON};
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

void client_pump(client_t *c) {
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

req_t *client_take_inflight(client_t *c, kq_http_req_id_t id) {
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
uint64_t client_backoff_ns(uint32_t attempt, const char *headers) {
  char v[32];
  if (headers && kq_http_header_get(headers, "Retry-After", v, sizeof(v)) == KQ_OK) {
    long s = strtol(v, NULL, 10);
    if (s >= 0 && s <= 300) return (uint64_t)s * 1000000000ull;
  }
  uint64_t ms = 500ull << (attempt < 6 ? attempt : 6);
  return (ms > 30000 ? 30000 : ms) * 1000000ull;
}

bool client_retry(client_t *c, req_t *r, const kq_http_resp_t *resp) {
  long st = resp->rc == KQ_OK ? resp->status : 0;
  if (st == 401 && c->cfg->token_file && !r->auth_retried) {
    /* the token may have rotated under us: re-read the file now and try once more */
    r->auth_retried = true;
    r->attempts++;
    c->cfg->token_read_ns = 0;
    c->stats->retries++;
    KQ_INFO(COMP, "401 Unauthorized: re-reading the token file", "path=%s", r->path);
    client_enqueue(c, r);
    return true;
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
    r->not_before_ns = kq_now_ns(clk(c)) + client_backoff_ns(r->attempts, resp->headers);
    r->attempts++;
    if (st == 403) /* visible: it is either a restart's blip or missing RBAC rights */
      KQ_WARN(COMP, "forbidden, retrying", "method=%s path=%s status=%ld attempt=%u", r->method, r->path, st,
              r->attempts);
    else
      KQ_DEBUG(COMP, "retrying", "path=%s status=%ld rc=%s", r->path, st, kq_errname(resp->rc));
    client_enqueue(c, r);
    return true;
  }
  return false;
}
