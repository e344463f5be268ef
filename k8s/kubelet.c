/* The kubelet API server: evhttp on the system's event_base, optionally behind
 * bufferevent_openssl. Routes /healthz, /pods and /containerLogs; follow requests become chunked
 * streams fed by provider callbacks. Every callback that may end a stream (new data, run ended,
 * client gone) only sets flags and wakes the stream's event, so streams are freed outside
 * provider and libevent call stacks. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "kq_alloc.h"
#include "kq_clock.h"
#include "kq_error.h"
#include "kq_k8s_internal.h"
#include "kq_k8s_types.h"
#include "kq_log.h"
#include "kubelet_internal.h"

#define MAX_NAME 253

typedef struct follow follow_t;

/* A request waiting for its authorization decision. `req`/`conn` are NULL once the client went
 * away (evhttp frees the request with its connection). */
typedef struct pending {
  kq_kubelet_t *k;
  uint64_t ticket;
  struct evhttp_request *req;
  struct evhttp_connection *conn;
  char *user;
  struct pending *next;
} pending_t;

struct kq_kubelet {
  kq_system_t *sys;
  struct event_base *base;
  struct evhttp *http;
  SSL_CTX *ssl;
  bool need_client_cert;
  kq_kubelet_provider_t pv;
  uint16_t port;
  size_t max_follows;
  follow_t *follows;
  size_t nfollows;
  uint64_t requests;
  kq_kubelet_authz_t *az;  /* NULL = authentication only */
  pending_t *pending;
  uint64_t next_ticket;
};

struct follow {
  kq_kubelet_t *k;
  struct evhttp_request *req;
  struct evhttp_connection *conn;  /* NULL once the client went away */
  struct event *wake;
  char *ns, *pod, *container;
  kq_kubelet_log_query_t q;
  uint64_t next_seq;
  uint64_t sub;                    /* 0 = not subscribed (ended or cancelled) */
  int64_t sent;
  bool data, src_ended, failed;
  follow_t *prev, *next;
};

/* ---- replies ---- */

static void reply(kq_kubelet_t *k, struct evhttp_request *req, int code, const char *ctype, const char *body,
                  size_t len) {
  struct evbuffer *b = evbuffer_new();
  if (body) evbuffer_add(b, body, len);
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
  evhttp_send_reply(req, code, NULL, b);
  evbuffer_free(b);
  k->requests++;
}

static void reply_text(kq_kubelet_t *k, struct evhttp_request *req, int code, const char *text) {
  size_t n = strlen(text);
  if (n && text[n - 1] == '\n') {
    reply(k, req, code, "text/plain; charset=utf-8", text, n);
    return;
  }
  char *t = kq_asprintf("%s\n", text);
  reply(k, req, code, "text/plain; charset=utf-8", t, n + 1);
  free(t);
}

/* ---- follow streams ---- */

static void follow_free(follow_t *f) {
  kq_kubelet_t *k = f->k;
  if (f->sub) k->pv.logs_unfollow(k->pv.ud, f->sub);
  if (f->conn) evhttp_connection_set_closecb(f->conn, NULL, NULL);
  evhttp_send_reply_end(f->req);   /* writes the last chunk, or frees a detached request */
  if (f->prev) f->prev->next = f->next; else k->follows = f->next;
  if (f->next) f->next->prev = f->prev;
  k->nfollows--;
  event_free(f->wake);
  free(f->ns);
  free(f->pod);
  free(f->container);
  free(f);
}

static void send_chunk(follow_t *f, const char *text, size_t len) {
  if (!len || !f->conn) return;
  struct evbuffer *b = evbuffer_new();
  evbuffer_add(b, text, len);
  evhttp_send_reply_chunk(f->req, b);
  evbuffer_free(b);
  f->sent += (int64_t)len;
}

static void on_wake(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  follow_t *f = arg;
  kq_kubelet_t *k = f->k;
  if (!f->conn || f->failed) {
    follow_free(f);
    return;
  }
  bool done = f->src_ended;
  if (f->data || f->src_ended) {
    f->data = false;
    kq_kubelet_log_query_t q = f->q;
    q.tail_lines = -1;
    q.since_wall_ns = 0;
    q.limit_bytes = f->q.limit_bytes >= 0 ? f->q.limit_bytes - f->sent : -1;
    kq_kubelet_log_ref_t ref = {f->ns, f->pod, f->container};
    char *text = NULL, *err = NULL;
    size_t len = 0;
    bool ended = false;
    int rc = k->pv.logs_read(k->pv.ud, &ref, &q, f->next_seq, &text, &len, &f->next_seq, &ended, &err);
    if (rc == KQ_OK) send_chunk(f, text, len);
    else done = true;   /* the stream went: end the response */
    if (ended) done = true;
    free(text);
    free(err);
  }
  if (f->q.limit_bytes >= 0 && f->sent >= f->q.limit_bytes) done = true;
  if (done) follow_free(f);
}

static void on_follow_data(void *ud) {
  follow_t *f = ud;
  f->data = true;
  event_active(f->wake, EV_TIMEOUT, 0);
}

static void on_follow_end(void *ud) {
  follow_t *f = ud;
  f->sub = 0;   /* the provider already forgot it */
  f->src_ended = true;
  event_active(f->wake, EV_TIMEOUT, 0);
}

static void on_conn_close(struct evhttp_connection *conn, void *ud) {
  (void)conn;
  follow_t *f = ud;
  f->conn = NULL;   /* the request is now detached from it; follow_free frees it */
  event_active(f->wake, EV_TIMEOUT, 0);
}

/* Starts a chunked response with `first` already read; returns false when it cannot follow. */
static bool follow_start(kq_kubelet_t *k, struct evhttp_request *req, const kq_kubelet_log_ref_t *ref,
                         const kq_kubelet_log_query_t *q, uint64_t next_seq, const char *first, size_t len) {
  struct evhttp_connection *conn = evhttp_request_get_connection(req);
  if (!conn) return false;
  follow_t *f = KQ_NEW(follow_t);
  f->k = k;
  f->req = req;
  f->conn = conn;
  f->ns = kq_strdup(ref->ns);
  f->pod = kq_strdup(ref->pod);
  f->container = kq_strdup(ref->container);
  f->q = *q;
  f->next_seq = next_seq;
  f->wake = event_new(k->base, -1, 0, on_wake, f);
  kq_kubelet_follow_cb_t cb = {on_follow_data, on_follow_end, f};
  char *err = NULL;
  if (k->pv.logs_follow(k->pv.ud, ref, &cb, &f->sub, &err) != KQ_OK) {
    free(err);
    event_free(f->wake);
    free(f->ns);
    free(f->pod);
    free(f->container);
    free(f);
    return false;
  }
  f->next = k->follows;
  if (k->follows) k->follows->prev = f;
  k->follows = f;
  k->nfollows++;
  k->requests++;
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain; charset=utf-8");
  evhttp_send_reply_start(req, 200, "OK");
  /* A follow may stay idle far longer than evhttp's connection timeout. */
  bufferevent_set_timeouts(evhttp_connection_get_bufferevent(conn), NULL, NULL);
  evhttp_connection_set_closecb(conn, on_conn_close, f);
  send_chunk(f, first, len);
  return true;
}

/* ---- request parsing ---- */

static bool parse_bool(const char *s, bool *out) {
  if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "")) *out = true;
  else if (!strcmp(s, "false") || !strcmp(s, "0")) *out = false;
  else return false;
  return true;
}

static bool parse_i64(const char *s, int64_t min, int64_t *out) {
  if (!*s || strlen(s) > 18) return false;
  int64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    v = v * 10 + (*p - '0');
  }
  if (v < min) return false;
  *out = v;
  return true;
}

typedef struct log_params {
  bool follow;
  kq_kubelet_log_query_t q;
} log_params_t;

/* Returns NULL or an owned message for a 400. */
static char *parse_log_params(kq_kubelet_t *k, const char *query, log_params_t *p) {
  *p = (log_params_t){.q = {.tail_lines = -1, .limit_bytes = -1}};
  if (!query || !*query) return NULL;
  struct evkeyvalq kv;
  TAILQ_INIT(&kv);
  if (evhttp_parse_query_str(query, &kv) != 0) {
    evhttp_clear_headers(&kv);
    return kq_strdup("malformed query string");
  }
  char *err = NULL;
  bool have_since_s = false, have_since_t = false;
  struct evkeyval *e;
  TAILQ_FOREACH(e, &kv, next) {
    const char *n = e->key, *v = e->value;
    bool ok = true;
    if (!strcmp(n, "follow")) ok = parse_bool(v, &p->follow);
    else if (!strcmp(n, "previous")) ok = parse_bool(v, &p->q.previous);
    else if (!strcmp(n, "timestamps")) ok = parse_bool(v, &p->q.timestamps);
    else if (!strcmp(n, "tailLines")) ok = parse_i64(v, 0, &p->q.tail_lines);
    else if (!strcmp(n, "limitBytes")) ok = parse_i64(v, 1, &p->q.limit_bytes);
    else if (!strcmp(n, "sinceSeconds")) {
      int64_t s = 0;
      ok = parse_i64(v, 1, &s);
      if (ok) {
        uint64_t now = kq_wall_ns(kq_system_clock(k->sys));
        uint64_t back = (uint64_t)s * 1000000000ull;
        p->q.since_wall_ns = now > back ? now - back : 1;
        have_since_s = true;
      }
    } else if (!strcmp(n, "sinceTime")) {
      uint64_t t = 0;
      ok = kq_k8s_parse_time(v, &t) == KQ_OK;
      if (ok) {
        p->q.since_wall_ns = t ? t : 1;
        have_since_t = true;
      }
    } else continue;   /* unknown parameters are ignored, as the kubelet does */
    if (!ok) {
      const char *want = !strcmp(n, "sinceTime") ? "an RFC 3339 time"
                         : !strcmp(n, "tailLines") ? "an integer >= 0"
                         : (!strcmp(n, "limitBytes") || !strcmp(n, "sinceSeconds")) ? "an integer >= 1"
                                                                                     : "true or false";
      err = kq_asprintf("invalid %s=%.64s: must be %s", n, v, want);
      break;
    }
  }
  if (!err && have_since_s && have_since_t) err = kq_strdup("at most one of sinceTime or sinceSeconds may be given");
  evhttp_clear_headers(&kv);
  return err;
}

static bool valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > MAX_NAME) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] == '/' || (unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) return false;
  return true;
}

/* ---- routes ---- */

static void route_pods(kq_kubelet_t *k, struct evhttp_request *req) {
  size_t len = 0;
  char *json = k->pv.pods_json ? k->pv.pods_json(k->pv.ud, &len) : NULL;
  if (!json) {
    reply_text(k, req, 500, "cannot list pods");
    return;
  }
  reply(k, req, 200, "application/json", json, len);
  free(json);
}

static void route_logs(kq_kubelet_t *k, struct evhttp_request *req, const char *rest) {
  /* rest = "{ns}/{pod}/{container}" */
  char *parts[3] = {NULL, NULL, NULL};
  size_t np = 0;
  const char *p = rest;
  bool ok = true;
  while (ok) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (np == 3) {
      ok = false;
      break;
    }
    char *raw = kq_strndup(p, n);
    parts[np] = evhttp_uridecode(raw, 0, NULL);
    free(raw);
    if (!parts[np] || !valid_name(parts[np])) ok = false;
    np++;
    if (!slash) break;
    p = slash + 1;
  }
  if (!ok || np != 3) {
    for (size_t i = 0; i < 3; i++) free(parts[i]);
    reply_text(k, req, 404, "expected /containerLogs/{namespace}/{pod}/{container}");
    return;
  }
  log_params_t lp;
  const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
  char *perr = parse_log_params(k, query, &lp);
  if (perr) {
    reply_text(k, req, 400, perr);
    free(perr);
    goto out;
  }
  kq_kubelet_log_ref_t ref = {parts[0], parts[1], parts[2]};
  char *text = NULL, *err = NULL;
  size_t len = 0;
  uint64_t next = 0;
  bool ended = false;
  int rc = k->pv.logs_read(k->pv.ud, &ref, &lp.q, 0, &text, &len, &next, &ended, &err);
  if (rc != KQ_OK) {
    char *msg = err ? NULL : kq_asprintf("%s/%s/%s: %s", ref.ns, ref.pod, ref.container, kq_strerror(rc));
    reply_text(k, req, rc == KQ_ENOENT ? 404 : 400, err ? err : msg);
    free(msg);
    free(err);
    free(text);
    goto out;
  }
  free(err);
  bool limit_hit = lp.q.limit_bytes >= 0 && (int64_t)len >= lp.q.limit_bytes;
  bool can_follow = lp.follow && !lp.q.previous && !ended && !limit_hit;
  if (can_follow && k->nfollows >= k->max_follows) {
    reply_text(k, req, 503, "too many log follow streams; try again later");
  } else if (!can_follow || !follow_start(k, req, &ref, &lp.q, next, text, len)) {
    reply(k, req, 200, "text/plain; charset=utf-8", text, len);
  }
  free(text);
out:
  for (size_t i = 0; i < 3; i++) free(parts[i]);
}

static follow_t *follow_by_req(kq_kubelet_t *k, struct evhttp_request *req) {
  for (follow_t *f = k->follows; f; f = f->next)
    if (f->req == req) return f;
  return NULL;
}

/* ---- routing and authorization ---- */

static void serve(kq_kubelet_t *k, struct evhttp_request *req) {
  const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
  if (!path) path = "/";
  if (!strcmp(path, "/healthz")) reply_text(k, req, 200, "ok");
  else if (!strcmp(path, "/pods") || !strcmp(path, "/pods/")) route_pods(k, req);
  else if (!strncmp(path, "/containerLogs/", 15)) route_logs(k, req, path + 15);
  else reply_text(k, req, 404, "404 page not found");
}

#define AUTHZ_VERB "get"
#define AUTHZ_SUB "proxy" /* the kubelet's subresource for /pods, /containerLogs and the rest */

static void forbid(kq_kubelet_t *k, struct evhttp_request *req, const char *user, const char *reason) {
  char *msg = kq_asprintf("Forbidden (user=%s, verb=" AUTHZ_VERB ", resource=nodes, subresource=" AUTHZ_SUB ")%s%s",
                          user, reason && *reason ? ": " : "", reason && *reason ? reason : "");
  reply_text(k, req, 403, msg);
  free(msg);
}

static void pending_free(kq_kubelet_t *k, pending_t *p) {
  for (pending_t **pp = &k->pending; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  if (p->conn) evhttp_connection_set_closecb(p->conn, NULL, NULL);
  free(p->user);
  free(p);
}

static void on_pending_close(struct evhttp_connection *conn, void *ud) {
  pending_t *p = ud;
  p->req = NULL;
  p->conn = NULL;
}

static void on_authz(void *ud, uint64_t ticket, bool allowed, bool error, const char *reason) {
  kq_kubelet_t *k = ud;
  pending_t *p = k->pending;
  while (p && p->ticket != ticket) p = p->next;
  if (!p) return;
  struct evhttp_request *req = p->req;
  char *user = p->user;
  p->user = NULL;
  pending_free(k, p);
  if (req) {
    if (error) {
      char *msg = kq_asprintf("authorization check failed: %s", reason ? reason : "?");
      reply_text(k, req, 503, msg);
      free(msg);
    } else if (allowed) {
      serve(k, req);
    } else {
      KQ_INFO("kubelet", "request forbidden", "user=%s reason=\"%s\"", user, reason ? reason : "");
      forbid(k, req, user, reason);
    }
  }
  free(user);
}

/* Decides now (cached) or parks the request until the review answers. */
static void authorize(kq_kubelet_t *k, struct evhttp_request *req, SSL *ssl) {
  char *user = NULL, **groups = NULL;
  size_t ngroups = 0;
  if (!kq_kubelet_peer_identity(ssl, &user, &groups, &ngroups)) {
    reply_text(k, req, 403, "Forbidden: the client certificate names no user (CN)");
    free(user);
    kq_k8s_strv_free(groups, ngroups);
    return;
  }
  bool authd = false;
  for (size_t i = 0; i < ngroups; i++) authd |= !strcmp(groups[i], "system:authenticated");
  if (!authd) { /* as the API server's authenticator adds it */
    groups = kq_realloc(groups, (ngroups + 1) * sizeof(char *));
    groups[ngroups++] = kq_strdup("system:authenticated");
  }
  char *key = kq_kubelet_authz_key(user, groups, ngroups, AUTHZ_VERB, AUTHZ_SUB);
  const char *why = NULL;
  int d = kq_kubelet_authz_cached(k->az, key, &why);
  if (d == 1) {
    serve(k, req);
  } else if (d == 0) {
    forbid(k, req, user, why);
  } else {
    pending_t *p = KQ_NEW(pending_t);
    p->k = k;
    p->ticket = ++k->next_ticket;
    p->req = req;
    p->conn = evhttp_request_get_connection(req);
    p->user = kq_strdup(user);
    p->next = k->pending;
    k->pending = p;
    if (p->conn) evhttp_connection_set_closecb(p->conn, on_pending_close, p);
    if (kq_kubelet_authz_review(k->az, p->ticket, key, user, groups, ngroups, AUTHZ_VERB, AUTHZ_SUB) != KQ_OK) {
      pending_free(k, p);
      reply_text(k, req, 503, "authorization check failed: the authorizer is not running");
    }
  }
  free(key);
  free(user);
  kq_k8s_strv_free(groups, ngroups);
}

static void dispatch(struct evhttp_request *req, void *arg) {
  kq_kubelet_t *k = arg;
  const char *uri = evhttp_request_get_uri(req);
  if (!uri) {
    /* evhttp hands back a failed request; if it is one of our streams, end it. */
    follow_t *f = follow_by_req(k, req);
    if (f) {
      f->failed = true;
      event_active(f->wake, EV_TIMEOUT, 0);
      return;
    }
    reply_text(k, req, 400, "bad request");
    return;
  }
  SSL *ssl = NULL;
  if (k->need_client_cert) {
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    const char *why = NULL;
    ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    if (!bev || !kq_kubelet_peer_verified(ssl, &why)) {
      char *msg = kq_asprintf("Unauthorized: %s", why ? why : "no TLS session");
      evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "x509");
      reply_text(k, req, 401, msg);
      free(msg);
      return;
    }
  }
  enum evhttp_cmd_type m = evhttp_request_get_command(req);
  if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
    reply_text(k, req, 405, "method not allowed: the kubelet API is read-only (GET)");
    return;
  }
  const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
  if (k->az && ssl && !(path && !strcmp(path, "/healthz"))) authorize(k, req, ssl);
  else serve(k, req);
}

/* ---- server ---- */

static struct bufferevent *make_tls_bev(struct event_base *base, void *arg) {
  kq_kubelet_t *k = arg;
  SSL *ssl = SSL_new(k->ssl);
  if (!ssl) return NULL;
  struct bufferevent *bev =
      bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
  if (bev) bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  return bev;
}

static kq_kubelet_t *fail(kq_kubelet_t *k, int rc, char *msg, int *err, char **errmsg) {
  if (err) *err = rc;
  if (errmsg) *errmsg = msg;
  else free(msg);
  if (k) {
    if (k->http) evhttp_free(k->http);
    if (k->ssl) SSL_CTX_free(k->ssl);
    free(k);
  }
  return NULL;
}

kq_kubelet_t *kq_kubelet_new(kq_system_t *sys, const kq_kubelet_opts_t *opts, const kq_kubelet_provider_t *provider,
                             int *err, char **errmsg) {
  if (errmsg) *errmsg = NULL;
  if (!sys || !opts || !provider || !provider->pods_json || !provider->logs_read || !provider->logs_follow ||
      !provider->logs_unfollow)
    return fail(NULL, KQ_EINVAL, kq_strdup("kubelet: missing system, options or provider functions"), err, errmsg);
  if (opts->tls && !opts->client_ca_file && !opts->allow_anonymous)
    return fail(NULL, KQ_EINVAL, kq_strdup("kubelet: TLS needs a client CA file (or allow_anonymous)"), err, errmsg);
  kq_kubelet_t *k = KQ_NEW(kq_kubelet_t);
  k->sys = sys;
  k->base = kq_system_base(sys);
  k->pv = *provider;
  k->max_follows = opts->max_follows ? opts->max_follows : 1024;
  if (opts->tls) {
    int rc = KQ_OK;
    char *m = NULL;
    k->ssl = kq_kubelet_ssl_ctx(opts, &rc, &m);
    if (!k->ssl) return fail(k, rc, m, err, errmsg);
    k->need_client_cert = !opts->allow_anonymous;
  }
  k->http = evhttp_new(k->base);
  if (!k->http) return fail(k, KQ_ENOMEM, kq_strdup("kubelet: evhttp_new failed"), err, errmsg);
  /* everything reaches dispatch so that other methods get a clear 405 */
  evhttp_set_allowed_methods(k->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                          EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
  evhttp_set_max_body_size(k->http, 4096);
  evhttp_set_max_headers_size(k->http, 64 * 1024);
  evhttp_set_timeout(k->http, opts->timeout_s > 0 ? opts->timeout_s : 60);
  if (k->ssl) evhttp_set_bevcb(k->http, make_tls_bev, k);
  const char *addr = opts->address ? opts->address : "0.0.0.0";
  struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(k->http, addr, opts->port);
  if (!bs)
    return fail(k, KQ_ENET, kq_asprintf("kubelet: cannot listen on %s:%u", addr, (unsigned)opts->port), err,
                errmsg);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0)
    k->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
  evhttp_set_gencb(k->http, dispatch, k);
  kq_system_handle_ref(sys);
  if (err) *err = KQ_OK;
  return k;
}

int kq_kubelet_set_authz(kq_kubelet_t *k, const kq_kubelet_authz_opts_t *o) {
  if (!k || !o) return KQ_EINVAL;
  if (k->az) return KQ_EEXIST;
  if (!k->need_client_cert) return KQ_EINVAL; /* nobody to authorize without client certificates */
  int err = KQ_OK;
  k->az = kq_kubelet_authz_new(k->sys, o, on_authz, k, &err);
  return k->az ? KQ_OK : err;
}

uint64_t kq_kubelet_authz_reviews(const kq_kubelet_t *k) { return k && k->az ? kq_kubelet_authz_count(k->az) : 0; }

void kq_kubelet_free(kq_kubelet_t *k) {
  if (!k) return;
  kq_kubelet_authz_release(k->az);
  while (k->pending) pending_free(k, k->pending);
  while (k->follows) follow_free(k->follows);
  evhttp_free(k->http);
  if (k->ssl) SSL_CTX_free(k->ssl);
  kq_system_handle_unref(k->sys);
  free(k);
}

uint16_t kq_kubelet_port(const kq_kubelet_t *k) { return k->port; }
size_t kq_kubelet_follows(const kq_kubelet_t *k) { return k->nfollows; }
uint64_t kq_kubelet_requests(const kq_kubelet_t *k) { return k->requests; }
