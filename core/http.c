/* HTTP client: curl's multi-socket API driven by the system's event_base (the pattern of curl's
 * docs/examples/multi-event.c). curl callbacks only buffer bytes or queue messages with kq_send;
 * completions are read after each socket action, outside curl, and become one final message. */
#include <curl/curl.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_http.h"
#include "kq_log.h"

#define HTTP_DEFAULT_MAX_BODY (16u << 20)
#define HTTP_MAX_HEADER_BLOCK (256u << 10)  /* one response's header block; hostile servers stop here */
#define HTTP_STREAM_BUFFER (64L << 10)
#define HTTP_MAX_REDIRS 10L
#define HTTP_FLOW_CHECK_MS 5   /* how often an overload-paused stream looks at its owner again */

typedef struct http_sock {
  struct http_sock *prev, *next;
  kq_http_t *h;
  curl_socket_t fd;
  struct event *ev;
} http_sock_t;

typedef struct http_xfer {
  struct http_xfer *prev, *next;
  kq_http_t *h;
  CURL *easy;
  kq_http_req_id_t id;
  kq_aid_t owner;
  uint32_t done_id;
  uint32_t chunk_id;
  size_t max_body;
  struct curl_slist *hdrs;
  void *body_out;             /* request body copy (curl borrows it) */
  char *resp_hdr;
  size_t resp_hdr_len, resp_hdr_cap;
  char *resp_body;
  size_t resp_body_len, resp_body_cap;
  bool too_big;               /* our limit (body or header block) aborted the transfer */
  bool owner_gone;            /* stream mode: the owner died, transfer aborted */
  bool paused;               /* by the owner (kq_http_pause) */
  bool flow_paused;          /* by us: the owner's mailbox is overloaded */
  char errbuf[CURL_ERROR_SIZE];
} http_xfer_t;

struct kq_http {
  kq_system_t *sys;
  struct event_base *base;
  CURLM *multi;
  struct event *timer;
  struct event *flow_timer;   /* resumes overload-paused streams */
  http_xfer_t *xfers;         /* in flight, newest first */
  size_t inflight;
  http_sock_t *socks;
  kq_http_req_id_t next_id;
  kq_counter_t *m_ok, *m_error, *m_canceled, *m_flow_pauses;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_global_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ---- messages ---- */

static void resp_dtor(kq_msg_t *m) {
  kq_http_resp_t *r = (kq_http_resp_t *)m;
  free(r->headers);
  free(r->body);
  free(r->error);
}

static void chunk_dtor(kq_msg_t *m) { free(((kq_http_chunk_t *)m)->data); }

/* ---- buffers ---- */

static void buf_append(char **buf, size_t *len, size_t *cap, const char *p, size_t n) {
  if (*len + n + 1 > *cap) {
    size_t ncap = *cap ? *cap : 1024;
    while (ncap < *len + n + 1) ncap *= 2;
    *buf = kq_realloc(*buf, ncap);
    *cap = ncap;
  }
  memcpy(*buf + *len, p, n);
  *len += n;
  (*buf)[*len] = '\0';
}

/* ---- request lifetime ---- */

static void xfer_unlink_free(http_xfer_t *x) {
  kq_http_t *h = x->h;
  if (x->prev) x->prev->next = x->next; else h->xfers = x->next;
  if (x->next) x->next->prev = x->prev;
  curl_multi_remove_handle(h->multi, x->easy);
  curl_easy_cleanup(x->easy);
  curl_slist_free_all(x->hdrs);
  free(x->body_out);
  free(x->resp_hdr);
  free(x->resp_body);
  free(x);
  if (--h->inflight == 0) kq_system_handle_unref(h->sys);
}

static http_xfer_t *xfer_find(const kq_http_t *h, kq_http_req_id_t id) {
  for (http_xfer_t *x = h->xfers; x; x = x->next)
    if (x->id == id) return x;
  return NULL;
}

static int map_curl_error(const http_xfer_t *x, CURLcode c) {
  if (x->too_big) return KQ_ETOOBIG;
  switch (c) {
  case CURLE_OK: return KQ_OK;
  case CURLE_OPERATION_TIMEDOUT: return KQ_ETIMEDOUT;
  case CURLE_FILESIZE_EXCEEDED: return KQ_ETOOBIG;
  case CURLE_OUT_OF_MEMORY: return KQ_ENOMEM;
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL: return KQ_EINVAL;
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
    /* TLS 1.3 reports a refused client certificate as an alert on the first read */
    return strstr(x->errbuf, "SSL routines") ? KQ_ETLS : KQ_ENET;
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE: return KQ_ENET;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_USE_SSL_FAILED: return KQ_ETLS;
  case CURLE_TOO_MANY_REDIRECTS:
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_BAD_CONTENT_ENCODING: return KQ_EPROTO;
  default: return KQ_EIO;
  }
}

/* Turns one finished transfer into its final message; runs outside curl callbacks. */
static void xfer_finish(http_xfer_t *x, CURLcode code) {
  kq_http_t *h = x->h;
  kq_http_resp_t *r = KQ_MSG_NEW(kq_http_resp_t, x->done_id);
  r->hdr.dtor = resp_dtor;
  r->req = x->id;
  r->rc = map_curl_error(x, code);
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r->status);
  r->headers = x->resp_hdr;
  x->resp_hdr = NULL;
  if (r->rc == KQ_OK && !x->chunk_id) {
    r->body = x->resp_body ? x->resp_body : kq_strdup("");
    r->body_len = x->resp_body_len;
    x->resp_body = NULL;
  }
  if (r->rc != KQ_OK) {
    if (x->too_big)
      r->error = kq_asprintf("response exceeds the limit (max_body %zu bytes, header block %u bytes)",
                             x->max_body, HTTP_MAX_HEADER_BLOCK);
    else
      r->error = kq_strdup(x->errbuf[0] ? x->errbuf : curl_easy_strerror(code));
    KQ_DEBUG("http", "request failed", "req=%llu rc=%s error=\"%s\"", (unsigned long long)x->id,
             kq_errname(r->rc), r->error);
  }
  kq_counter_inc(r->rc == KQ_OK ? h->m_ok : h->m_error);
  kq_aid_t owner = x->owner;
  xfer_unlink_free(x);
  kq_send(h->sys, owner, &r->hdr);
}

static void check_done(kq_http_t *h) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
    if (msg->msg != CURLMSG_DONE) continue;
    http_xfer_t *x = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    CURLcode code = msg->data.result;   /* msg is invalid once the handle is removed */
    if (x) xfer_finish(x, code);
  }
}

/* ---- curl callbacks: buffering and queueing only ---- */

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  http_xfer_t *x = ud;
  size_t len = sz * n;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) x->resp_hdr_len = 0;  /* redirect, 100-continue */
  if (x->resp_hdr_len + len > HTTP_MAX_HEADER_BLOCK) {
    x->too_big = true;
    return 0;
  }
  buf_append(&x->resp_hdr, &x->resp_hdr_len, &x->resp_hdr_cap, p, len);
  return len;
}

static size_t on_write(char *p, size_t sz, size_t n, void *ud) {
  http_xfer_t *x = ud;
  size_t len = sz * n;
  if (x->chunk_id) {
    if (x->paused || x->flow_paused) return CURL_WRITEFUNC_PAUSE;
    if (kq_actor_overloaded(x->h->sys, x->owner)) {
      /* Back-pressure: curl keeps these bytes and stops reading until the owner catches up. */
      x->flow_paused = true;
      kq_counter_inc(x->h->m_flow_pauses);
      if (!evtimer_pending(x->h->flow_timer, NULL)) {
        struct timeval tv = {0, HTTP_FLOW_CHECK_MS * 1000};
        evtimer_add(x->h->flow_timer, &tv);
      }
      return CURL_WRITEFUNC_PAUSE;
    }
    kq_http_chunk_t *c = KQ_MSG_NEW(kq_http_chunk_t, x->chunk_id);
    c->hdr.dtor = chunk_dtor;
    c->req = x->id;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &c->status);
    c->len = len;
    c->data = kq_memdup(p, len ? len : 1);
    if (kq_send(x->h->sys, x->owner, &c->hdr) != KQ_OK) {
      x->owner_gone = true;   /* nobody listens: abort the transfer */
      return 0;
    }
    return len;
  }
  if (len > x->max_body - x->resp_body_len) {
    x->too_big = true;
    return 0;
  }
  buf_append(&x->resp_body, &x->resp_body_len, &x->resp_body_cap, p, len);
  return len;
}

static void on_sock_event(evutil_socket_t fd, short what, void *arg) {
  kq_http_t *h = arg;
  int flags = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
  int running = 0;
  curl_multi_socket_action(h->multi, fd, flags, &running);
  check_done(h);
  if (running <= 0 && evtimer_pending(h->timer, NULL)) evtimer_del(h->timer);
}

static void on_timer_event(evutil_socket_t fd, short what, void *arg) {
  kq_http_t *h = arg;
  int running = 0;
  curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(h);
}

/* Resumes streams paused for overload once their owner drained (or died: the next write then
 * fails and ends the transfer). Runs on the loop, outside curl. */
static void on_flow_timer(evutil_socket_t fd, short what, void *arg) {
  kq_http_t *h = arg;
  bool again = false;
  for (http_xfer_t *x = h->xfers; x; x = x->next) {
    if (!x->flow_paused) continue;
    if (kq_actor_overloaded(h->sys, x->owner)) {
      again = true;
      continue;
    }
    x->flow_paused = false;
    if (!x->paused) curl_easy_pause(x->easy, CURLPAUSE_CONT);   /* may run on_write at once */
    again = again || x->flow_paused;
  }
  if (again) {
    struct timeval tv = {0, HTTP_FLOW_CHECK_MS * 1000};
    evtimer_add(h->flow_timer, &tv);
  }
}

static void sock_free(kq_http_t *h, http_sock_t *s) {
  if (s->prev) s->prev->next = s->next; else h->socks = s->next;
  if (s->next) s->next->prev = s->prev;
  event_free(s->ev);
  free(s);
}

static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp) {
  kq_http_t *h = userp;
  http_sock_t *s = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (s) sock_free(h, s);
    return 0;
  }
  short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
  if (!s) {
    s = KQ_NEW(http_sock_t);
    s->h = h;
    s->fd = fd;
    s->next = h->socks;
    if (h->socks) h->socks->prev = s;
    h->socks = s;
    curl_multi_assign(h->multi, fd, s);
  } else {
    event_free(s->ev);
  }
  s->ev = event_new(h->base, fd, kind, on_sock_event, h);
  event_add(s->ev, NULL);
  return 0;
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *userp) {
  kq_http_t *h = userp;
  if (timeout_ms < 0) {
    evtimer_del(h->timer);
  } else {
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    evtimer_add(h->timer, &tv);
  }
  return 0;
}

/* ---- public API ---- */

kq_http_t *kq_http_new(kq_system_t *sys) {
  pthread_once(&curl_once, curl_global_once);
  kq_http_t *h = KQ_NEW(kq_http_t);
  h->sys = sys;
  h->base = kq_system_base(sys);
  h->multi = curl_multi_init();
  if (!h->multi) {
    free(h);
    return NULL;
  }
  h->timer = evtimer_new(h->base, on_timer_event, h);
  h->flow_timer = evtimer_new(h->base, on_flow_timer, h);
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
  h->next_id = 1;
  kq_metrics_t *m = kq_system_metrics(sys);
  static const char help[] = "HTTP client requests by outcome";
  h->m_ok = kq_metrics_counter(m, "kuack_http_requests_total", help, "result=\"ok\"");
  h->m_error = kq_metrics_counter(m, "kuack_http_requests_total", help, "result=\"error\"");
  h->m_canceled = kq_metrics_counter(m, "kuack_http_requests_total", help, "result=\"canceled\"");
  h->m_flow_pauses = kq_metrics_counter(m, "kuack_http_flow_pauses_total",
                                        "Streams paused because the receiving actor was overloaded", NULL);
  return h;
}

void kq_http_free(kq_http_t *h) {
  if (!h) return;
  while (h->xfers) {
    kq_counter_inc(h->m_canceled);
    xfer_unlink_free(h->xfers);
  }
  curl_multi_cleanup(h->multi);
  while (h->socks) sock_free(h, h->socks);
  event_free(h->timer);
  event_free(h->flow_timer);
  free(h);
}

static bool header_ok(const char *s) { return s && !strpbrk(s, "\r\n"); }

static void set_tls(CURL *e, const kq_http_tls_t *t) {
  if (t->ca_pem) {
    struct curl_blob b = {.data = (void *)t->ca_pem, .len = strlen(t->ca_pem), .flags = CURL_BLOB_COPY};
    curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
  } else if (t->ca_file) {
    curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
  }
  if (t->cert_pem) {
    struct curl_blob b = {.data = (void *)t->cert_pem, .len = strlen(t->cert_pem), .flags = CURL_BLOB_COPY};
    curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
    curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
  } else if (t->cert_file) {
    curl_easy_setopt(e, CURLOPT_SSLCERT, t->cert_file);
  }
  if (t->key_pem) {
    struct curl_blob b = {.data = (void *)t->key_pem, .len = strlen(t->key_pem), .flags = CURL_BLOB_COPY};
    curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
    curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
  } else if (t->key_file) {
    curl_easy_setopt(e, CURLOPT_SSLKEY, t->key_file);
  }
  if (t->insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
}

kq_http_req_id_t kq_http_start(kq_http_t *h, const kq_http_req_t *req) {
  if (!h || !req || !req->url || req->owner == KQ_AID_NONE || req->done_id == KQ_MSG_NONE) return 0;
  if (req->nheaders && !req->headers) return 0;
  if (req->body_len && !req->body) return 0;
  const char *method = req->method ? req->method : "GET";
  if (!*method || strpbrk(method, " \r\n\t")) return 0;
  bool has_expect = false;
  for (size_t i = 0; i < req->nheaders; i++) {
    const kq_http_header_t *hd = &req->headers[i];
    if (!header_ok(hd->name) || !*hd->name || strchr(hd->name, ':') || !header_ok(hd->value)) return 0;
    if (strcasecmp(hd->name, "Expect") == 0) has_expect = true;
  }

  CURL *e = curl_easy_init();
  if (!e) return 0;
  http_xfer_t *x = KQ_NEW(http_xfer_t);
  x->h = h;
  x->easy = e;
  x->id = h->next_id++;
  x->owner = req->owner;
  x->done_id = req->done_id;
  x->chunk_id = req->chunk_id;
  x->max_body = req->max_body ? req->max_body : HTTP_DEFAULT_MAX_BODY;

  for (size_t i = 0; i < req->nheaders; i++) {
    const kq_http_header_t *hd = &req->headers[i];
    /* curl sends "Name;" as an empty header; "Name:" would remove it */
    char *line = *hd->value ? kq_asprintf("%s: %s", hd->name, hd->value) : kq_asprintf("%s;", hd->name);
    x->hdrs = curl_slist_append(x->hdrs, line);
    free(line);
  }
  if (!has_expect) x->hdrs = curl_slist_append(x->hdrs, "Expect:");  /* no 100-continue stall */

  curl_easy_setopt(e, CURLOPT_URL, req->url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, x);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, req->no_follow ? 0L : 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, HTTP_MAX_REDIRS);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms ? (long)req->connect_timeout_ms : 10000L);
  if (x->chunk_id) {
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, HTTP_STREAM_BUFFER);
  } else {
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max_body);  /* early Content-Length reject */
  }

  if (strcmp(method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (strcmp(method, "GET") != 0 || req->body_len) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  }
  if (req->body_len || (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                        strcmp(method, "PATCH") == 0)) {
    x->body_out = kq_memdup(req->body_len ? req->body : "", req->body_len ? req->body_len : 1);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body_out);
  }
  if (req->tls) set_tls(e, req->tls);

  x->next = h->xfers;
  if (h->xfers) h->xfers->prev = x;
  h->xfers = x;
  if (h->inflight++ == 0) kq_system_handle_ref(h->sys);
  if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
    xfer_unlink_free(x);
    return 0;
  }
  return x->id;
}

int kq_http_cancel(kq_http_t *h, kq_http_req_id_t id) {
  http_xfer_t *x = h ? xfer_find(h, id) : NULL;
  if (!x) return KQ_ENOENT;
  kq_counter_inc(h->m_canceled);
  xfer_unlink_free(x);
  return KQ_OK;
}

size_t kq_http_cancel_owner(kq_http_t *h, kq_aid_t owner) {
  size_t n = 0;
  if (!h) return 0;
  for (http_xfer_t *x = h->xfers, *next; x; x = next) {
    next = x->next;
    if (x->owner != owner) continue;
    kq_counter_inc(h->m_canceled);
    xfer_unlink_free(x);
    n++;
  }
  return n;
}

int kq_http_pause(kq_http_t *h, kq_http_req_id_t id, bool paused) {
  http_xfer_t *x = h ? xfer_find(h, id) : NULL;
  if (!x) return KQ_ENOENT;
  if (!x->chunk_id) return KQ_EINVAL;
  if (x->paused == paused) return KQ_OK;
  x->paused = paused;
  if (!paused && x->flow_paused) return KQ_OK;   /* the flow timer resumes it */
  /* Resuming may run on_write at once with data curl held back; that only queues messages. */
  CURLcode c = curl_easy_pause(x->easy, paused ? CURLPAUSE_RECV : CURLPAUSE_CONT);
  return c == CURLE_OK ? KQ_OK : KQ_EIO;
}

size_t kq_http_inflight(const kq_http_t *h) { return h ? h->inflight : 0; }

int kq_http_header_get(const char *headers, const char *name, char *out, size_t outlen) {
  if (!headers || !name || !*name) return KQ_ENOENT;
  size_t nlen = strlen(name);
  const char *line = strchr(headers, '\n');   /* skip the status line */
  while (line) {
    line++;
    const char *eol = strchr(line, '\n');
    size_t llen = eol ? (size_t)(eol - line) : strlen(line);
    if (llen > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
      const char *v = line + nlen + 1, *end = line + llen;
      while (v < end && (*v == ' ' || *v == '\t')) v++;
      while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) end--;
      size_t vlen = (size_t)(end - v);
      if (!out || outlen == 0) return KQ_ETOOBIG;
      if (vlen >= outlen) {
        memcpy(out, v, outlen - 1);
        out[outlen - 1] = '\0';
        return KQ_ETOOBIG;
      }
      memcpy(out, v, vlen);
      out[vlen] = '\0';
      return KQ_OK;
    }
    line = eol;
  }
  return KQ_ENOENT;
}
