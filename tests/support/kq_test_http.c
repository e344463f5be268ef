/* Local evhttp test server (see kq_test_http.h). Every request goes through one dispatcher (to
 * count hits and route by exact path). Streaming replies keep a small state object; a client that
 * goes away leaves evhttp's request detached (evcon == NULL), which each pump step checks for and
 * then frees the request with evhttp_send_reply_end. */
#include "kq_test_http.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>  /* before keyvalq_struct.h, which uses TAILQ */
#include <event2/keyvalq_struct.h>
#include <sys/socket.h>

#include "kq_alloc.h"

#define TS_PIECE (64u << 10)
#define TS_MAX_ROUTES 64

typedef enum { TS_LARGE, TS_SLOW, TS_ENDLESS, TS_HANG } ts_kind_t;

typedef struct ts_stream {
  struct ts_stream *prev, *next;
  kq_test_http_t *s;
  struct evhttp_request *req;
  struct event *timer;
  ts_kind_t kind;
  size_t remaining;      /* large */
  size_t offset;         /* large: bytes sent so far */
  long chunks_left;      /* slow */
  long index;
  long delay_ms;
  size_t size;           /* endless */
} ts_stream_t;

typedef struct ts_route {
  char *path;
  kq_test_http_fn fn;
  void *ud;
} ts_route_t;

struct kq_test_http {
  struct event_base *base;
  struct evhttp *http;
  SSL_CTX *ssl_ctx;
  uint16_t port;
  size_t hits;
  ts_stream_t *streams;
  size_t nstreams;
  ts_route_t routes[TS_MAX_ROUTES];
  size_t nroutes;
};

/* ---- helpers ---- */

static long query_num(struct evhttp_request *req, const char *name, long dflt) {
  const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
  if (!q) return dflt;
  struct evkeyvalq kv;
  TAILQ_INIT(&kv);
  long v = dflt;
  if (evhttp_parse_query_str(q, &kv) == 0) {
    const char *s = evhttp_find_header(&kv, name);
    if (s) v = strtol(s, NULL, 10);
  }
  evhttp_clear_headers(&kv);
  return v;
}

static char *query_str(struct evhttp_request *req, const char *name, const char *dflt) {
  const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
  struct evkeyvalq kv;
  TAILQ_INIT(&kv);
  char *v = NULL;
  if (q && evhttp_parse_query_str(q, &kv) == 0) v = kq_strdup(evhttp_find_header(&kv, name));
  evhttp_clear_headers(&kv);
  return v ? v : kq_strdup(dflt);
}

static void reply_text(struct evhttp_request *req, int code, const char *text) {
  struct evbuffer *b = evbuffer_new();
  evbuffer_add(b, text, strlen(text));
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
  evhttp_send_reply(req, code, NULL, b);
  evbuffer_free(b);
}

/* ---- streams ---- */

static ts_stream_t *stream_new(kq_test_http_t *s, struct evhttp_request *req, ts_kind_t kind);
static void stream_pump(ts_stream_t *st);

static void stream_free(ts_stream_t *st) {
  kq_test_http_t *s = st->s;
  if (st->prev) st->prev->next = st->next; else s->streams = st->next;
  if (st->next) st->next->prev = st->prev;
  s->nstreams--;
  if (st->timer) event_free(st->timer);
  free(st);
}

static void on_stream_timer(evutil_socket_t fd, short what, void *arg) { stream_pump(arg); }
static void on_stream_flushed(struct evhttp_connection *evcon, void *arg) { stream_pump(arg); }

static ts_stream_t *stream_new(kq_test_http_t *s, struct evhttp_request *req, ts_kind_t kind) {
  ts_stream_t *st = KQ_NEW(ts_stream_t);
  st->s = s;
  st->req = req;
  st->kind = kind;
  st->timer = evtimer_new(s->base, on_stream_timer, st);
  st->next = s->streams;
  if (s->streams) s->streams->prev = st;
  s->streams = st;
  s->nstreams++;
  return st;
}

static void stream_end(ts_stream_t *st) {
  evhttp_send_reply_end(st->req);   /* also frees a detached request */
  stream_free(st);
}

static void stream_pump(ts_stream_t *st) {
  if (evhttp_request_get_connection(st->req) == NULL) {   /* the client went away */
    stream_end(st);
    return;
  }
  struct evbuffer *b = evbuffer_new();
  switch (st->kind) {
  case TS_LARGE: {
    if (st->remaining == 0) {
      evbuffer_free(b);
      stream_end(st);
      return;
    }
    size_t n = st->remaining < TS_PIECE ? st->remaining : TS_PIECE;
    char *piece = kq_malloc(n);
    for (size_t i = 0; i < n; i++) piece[i] = KQ_TEST_HTTP_LARGE_BYTE(st->offset + i);
    evbuffer_add(b, piece, n);
    free(piece);
    st->offset += n;
    st->remaining -= n;
    evhttp_send_reply_chunk_with_cb(st->req, b, on_stream_flushed, st);
    break;
  }
  case TS_SLOW: {
    if (st->chunks_left == 0) {
      evbuffer_free(b);
      stream_end(st);
      return;
    }
    evbuffer_add_printf(b, "chunk %ld\n", st->index++);
    st->chunks_left--;
    evhttp_send_reply_chunk(st->req, b);
    struct timeval tv = {st->delay_ms / 1000, (st->delay_ms % 1000) * 1000};
    evtimer_add(st->timer, &tv);
    break;
  }
  case TS_ENDLESS: {
    char *piece = kq_malloc(st->size);
    memset(piece, 'x', st->size);
    evbuffer_add(b, piece, st->size);
    free(piece);
    if (st->delay_ms > 0) {   /* paced by the timer, so a vanished client is noticed next tick */
      evhttp_send_reply_chunk(st->req, b);
      struct timeval tv = {st->delay_ms / 1000, (st->delay_ms % 1000) * 1000};
      evtimer_add(st->timer, &tv);
    } else {                  /* as fast as the client reads: next piece on write completion */
      evhttp_send_reply_chunk_with_cb(st->req, b, on_stream_flushed, st);
    }
    break;
  }
  case TS_HANG:
    break;
  }
  evbuffer_free(b);
}

/* ---- routes ---- */

static void route_fixed(struct evhttp_request *req, void *ud) {
  evhttp_add_header(evhttp_request_get_output_headers(req), "X-Test", "fixed");
  reply_text(req, 200, KQ_TEST_HTTP_FIXED_BODY);
}

static void route_status(struct evhttp_request *req, int code) {
  char body[64];
  snprintf(body, sizeof body, "status %d\n", code);
  if (code == 429 || code == 500 || code == 503)
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", KQ_TEST_HTTP_RETRY_AFTER);
  reply_text(req, code, body);
}

static const char *method_name(enum evhttp_cmd_type m) {
  switch (m) {
  case EVHTTP_REQ_GET: return "GET";
  case EVHTTP_REQ_POST: return "POST";
  case EVHTTP_REQ_HEAD: return "HEAD";
  case EVHTTP_REQ_PUT: return "PUT";
  case EVHTTP_REQ_DELETE: return "DELETE";
  case EVHTTP_REQ_OPTIONS: return "OPTIONS";
  case EVHTTP_REQ_TRACE: return "TRACE";
  case EVHTTP_REQ_CONNECT: return "CONNECT";
  case EVHTTP_REQ_PATCH: return "PATCH";
  }
  return "?";
}

static void route_echo(struct evhttp_request *req, void *ud) {
  struct evbuffer *b = evbuffer_new();
  const char *method = method_name(evhttp_request_get_command(req));
  evbuffer_add_printf(b, "%s %s\n", method, evhttp_request_get_uri(req));
  struct evkeyval *kv;
  TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
    evbuffer_add_printf(b, "%s: %s\n", kv->key, kv->value);
  evbuffer_add(b, "\n", 1);
  evbuffer_add_buffer(b, evhttp_request_get_input_buffer(req));
  evhttp_add_header(evhttp_request_get_output_headers(req), "X-Echo-Method", method);
  evhttp_send_reply(req, 200, "OK", b);
  evbuffer_free(b);
}

static void route_large(struct evhttp_request *req, void *ud) {
  kq_test_http_t *s = ud;
  long mib = query_num(req, "mib", 1), bytes = query_num(req, "bytes", 0);
  size_t total = (size_t)(mib > 0 ? mib : 0) * (1u << 20) + (size_t)(bytes > 0 ? bytes : 0);
  if (query_num(req, "cl", 0)) {
    char cl[32];
    snprintf(cl, sizeof cl, "%zu", total);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", cl);
  }
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/octet-stream");
  ts_stream_t *st = stream_new(s, req, TS_LARGE);
  st->remaining = total;
  evhttp_send_reply_start(req, 200, "OK");
  stream_pump(st);
}

static void route_slow(struct evhttp_request *req, void *ud) {
  ts_stream_t *st = stream_new(ud, req, TS_SLOW);
  st->chunks_left = query_num(req, "chunks", 3);
  st->delay_ms = query_num(req, "delay_ms", 20);
  evhttp_send_reply_start(req, 200, "OK");
  stream_pump(st);
}

static void route_endless(struct evhttp_request *req, void *ud) {
  ts_stream_t *st = stream_new(ud, req, TS_ENDLESS);
  st->delay_ms = query_num(req, "delay_ms", 0);
  long size = query_num(req, "size", 1024);
  st->size = size > 0 && size <= (1 << 20) ? (size_t)size : 1024;
  evhttp_send_reply_start(req, 200, "OK");
  stream_pump(st);
}

static void route_redirect(struct evhttp_request *req, void *ud) {
  char *to = query_str(req, "to", "/fixed");
  evhttp_add_header(evhttp_request_get_output_headers(req), "Location", to);
  free(to);
  reply_text(req, 302, "moved\n");
}

static void route_hang(struct evhttp_request *req, void *ud) { stream_new(ud, req, TS_HANG); }

static void route_bigheader(struct evhttp_request *req, void *ud) {
  long kib = query_num(req, "kib", 64);
  char value[1024];
  memset(value, 'h', sizeof value - 1);
  value[sizeof value - 1] = '\0';
  struct evkeyvalq *out = evhttp_request_get_output_headers(req);
  for (long i = 0; i < kib; i++) {
    char name[32];
    snprintf(name, sizeof name, "X-Big-%ld", i);
    evhttp_add_header(out, name, value);
  }
  reply_text(req, 200, "big headers\n");
}

static void dispatch(struct evhttp_request *req, void *arg) {
  kq_test_http_t *s = arg;
  s->hits++;
  const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
  if (!path) path = "/";
  for (size_t i = 0; i < s->nroutes; i++) {
    if (strcmp(s->routes[i].path, path) == 0) {
      s->routes[i].fn(req, s->routes[i].ud);
      return;
    }
  }
  if (strncmp(path, "/status/", 8) == 0) {
    int code = atoi(path + 8);
    if (code >= 100 && code <= 599) {
      route_status(req, code);
      return;
    }
  }
  reply_text(req, 404, "no such route\n");
}

/* ---- server ---- */

static struct bufferevent *make_tls_bev(struct event_base *base, void *arg) {
  kq_test_http_t *s = arg;
  struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, SSL_new(s->ssl_ctx),
                                                           BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
  if (bev) bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  return bev;
}

kq_test_http_t *kq_test_http_new(struct event_base *base, const kq_test_tls_t *tls, bool require_client_cert) {
  kq_test_http_t *s = KQ_NEW(kq_test_http_t);
  s->base = base;
  s->http = evhttp_new(base);
  if (!s->http) abort();
  evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                          EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
  evhttp_set_max_body_size(s->http, 64 << 20);
  if (tls) {
    s->ssl_ctx = kq_test_tls_server_ctx(tls, require_client_cert);
    evhttp_set_bevcb(s->http, make_tls_bev, s);
  }
  struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
  if (!bs) {
    fprintf(stderr, "kq_test_http: cannot listen on 127.0.0.1\n");
    abort();
  }
  struct sockaddr_in sin;
  socklen_t len = sizeof sin;
  if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &len) != 0) abort();
  s->port = ntohs(sin.sin_port);
  evhttp_set_gencb(s->http, dispatch, s);
  kq_test_http_route(s, "/fixed", route_fixed, s);
  kq_test_http_route(s, "/echo", route_echo, s);
  kq_test_http_route(s, "/large", route_large, s);
  kq_test_http_route(s, "/slow", route_slow, s);
  kq_test_http_route(s, "/endless", route_endless, s);
  kq_test_http_route(s, "/redirect", route_redirect, s);
  kq_test_http_route(s, "/hang", route_hang, s);
  kq_test_http_route(s, "/bigheader", route_bigheader, s);
  return s;
}

void kq_test_http_free(kq_test_http_t *s) {
  if (!s) return;
  /* Attached requests are freed by evhttp_free with their connection; detached ones are ours. */
  while (s->streams) {
    ts_stream_t *st = s->streams;
    if (evhttp_request_get_connection(st->req) == NULL) evhttp_request_free(st->req);
    stream_free(st);
  }
  evhttp_free(s->http);
  if (s->ssl_ctx) SSL_CTX_free(s->ssl_ctx);
  for (size_t i = 0; i < s->nroutes; i++) free(s->routes[i].path);
  free(s);
}

uint16_t kq_test_http_port(const kq_test_http_t *s) { return s->port; }

char *kq_test_http_url(const kq_test_http_t *s, const char *path) {
  return kq_asprintf("%s://127.0.0.1:%u%s", s->ssl_ctx ? "https" : "http", (unsigned)s->port, path);
}

int kq_test_http_route(kq_test_http_t *s, const char *path, kq_test_http_fn fn, void *ud) {
  for (size_t i = 0; i < s->nroutes; i++)
    if (strcmp(s->routes[i].path, path) == 0) return -1;
  if (s->nroutes == TS_MAX_ROUTES) return -1;
  s->routes[s->nroutes++] = (ts_route_t){kq_strdup(path), fn, ud};
  return 0;
}

size_t kq_test_http_hits(const kq_test_http_t *s) { return s->hits; }
size_t kq_test_http_streams(const kq_test_http_t *s) { return s->nstreams; }
