/* The http protocol callback: /healthz, /readyz, /metrics and the registry proxy
 * /artefacts/<digest>/<file>?<query> (a resolver callback maps it to a local file; served with
 * Range, ETag and immutable caching, streamed while the socket is not choked). Static agent files
 * are served by lws file mounts (gateway.c); WebSocket upgrades without our subprotocol land here
 * and are refused. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway_internal.h"
#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_log.h"

#define GW_HTTP_CHUNK 16384


static void http_reset(gw_http_t *h) {
  free(h->body);
  h->body = NULL;
  h->len = h->off = 0;
  if (h->has_fd) close(h->fd);
  h->has_fd = false;
  h->remaining = 0;
}

typedef struct hdr_kv {
  const char *name; /* with trailing ':' */
  const char *value;
} hdr_kv_t;

/* Writes status + headers; the body follows from the writable callback. */
static int send_headers(struct lws *wsi, int status, const char *ctype, uint64_t len, const hdr_kv_t *extra,
                        size_t nextra) {
  uint8_t buf[LWS_PRE + 2048], *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof(buf) - 1];
  if (lws_add_http_common_headers(wsi, (unsigned int)status, ctype, (lws_filepos_t)len, &p, end)) return -1;
  for (size_t i = 0; i < nextra; i++)
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)extra[i].name,
                                    (const unsigned char *)extra[i].value, (int)strlen(extra[i].value), &p, end))
      return -1;
  if (lws_finalize_write_http_header(wsi, start, &p, end)) return -1;
  return 0;
}

/* Answers with an owned body (taken). */
static int respond(struct lws *wsi, gw_http_t *h, int status, const char *ctype, char *body, size_t len) {
  http_reset(h);
  if (send_headers(wsi, status, ctype, len, NULL, 0)) {
    free(body);
    return -1;
  }
  if (len == 0) {
    free(body);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
  }
  h->body = body;
  h->len = len;
  h->off = 0;
  lws_callback_on_writable(wsi);
  return 0;
}

static int respond_text(struct lws *wsi, gw_http_t *h, int status, const char *text) {
  return respond(wsi, h, status, "text/plain; charset=utf-8", kq_strdup(text), strlen(text));
}

static const char *mime_of(const char *file) {
  const char *dot = strrchr(file, '.');
  if (!dot) return "application/octet-stream";
  if (!strcmp(dot, ".wasm")) return "application/wasm";
  if (!strcmp(dot, ".js") || !strcmp(dot, ".mjs")) return "text/javascript";
  if (!strcmp(dot, ".json")) return "application/json";
  return "application/octet-stream";
}

/* Parses a single "bytes=a-b" range against `size`. Returns 1 with [*from, *to] inclusive, 0 when
 * there is no usable Range (serve all), -1 when unsatisfiable (416). */
static int parse_range(const char *r, uint64_t size, uint64_t *from, uint64_t *to) {
  if (strncmp(r, "bytes=", 6) != 0 || strchr(r, ',')) return 0;
  r += 6;
  char *e;
  if (*r == '-') {
    unsigned long long n = strtoull(r + 1, &e, 10);
    if (*e || e == r + 1) return 0;
    if (n == 0 || size == 0) return -1;
    *from = n >= size ? 0 : size - n;
    *to = size - 1;
    return 1;
  }
  unsigned long long a = strtoull(r, &e, 10);
  if (e == r || *e != '-') return 0;
  const char *b = e + 1;
  unsigned long long z = size ? size - 1 : 0;
  if (*b) {
    z = strtoull(b, &e, 10);
    if (*e || e == b) return 0;
  }
  if (a >= size || z < a) return -1;
  if (z >= size) z = size - 1;
  *from = a;
  *to = z;
  return 1;
}

static int serve_artefact(struct lws *wsi, gw_http_t *h, kq_gateway_t *gw, const char *rest) {
  /* rest = "<digest>/<file...>" */
  const char *slash = strchr(rest, '/');
  if (!gw->resolve) return respond_text(wsi, h, 404, "no registry proxy\n");
  if (!slash || slash == rest || !slash[1] || strstr(rest, "..") || strchr(rest, '"'))
    return respond_text(wsi, h, 400, "bad artefact path\n");
  char digest[160];
  size_t dl = (size_t)(slash - rest);
  if (dl >= sizeof(digest)) return respond_text(wsi, h, 400, "bad digest\n");
  memcpy(digest, rest, dl);
  digest[dl] = 0;
  const char *file = slash + 1;

  char query[1024] = "";
  size_t qo = 0;
  for (int i = 0; qo < sizeof(query) - 1; i++) {
    char frag[512];
    int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n <= 0) break;
    int w = snprintf(query + qo, sizeof(query) - qo, "%s%s", qo ? "&" : "", frag);
    if (w < 0 || (size_t)w >= sizeof(query) - qo) return respond_text(wsi, h, 400, "query too long\n");
    qo += (size_t)w;
  }

  char path[4096];
  int rc = gw->resolve(gw->resolve_ud, digest, file, query, path, sizeof(path));
  if (rc == KQ_EAUTH) return respond_text(wsi, h, 403, "forbidden\n");
  if (rc == KQ_EINVAL) return respond_text(wsi, h, 400, "bad request\n");
  if (rc != KQ_OK) return respond_text(wsi, h, 404, "not found\n");

  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (fd >= 0) close(fd);
    return respond_text(wsi, h, 404, "not found\n");
  }
  uint64_t size = (uint64_t)st.st_size;
  char etag[256];
  snprintf(etag, sizeof(etag), "\"%s/%s\"", digest, file);

  char inm[256];
  if (lws_hdr_copy(wsi, inm, sizeof(inm), WSI_TOKEN_HTTP_IF_NONE_MATCH) > 0 && strcmp(inm, etag) == 0) {
    close(fd);
    http_reset(h);
    hdr_kv_t x[] = {{"etag:", etag}, {"cache-control:", "public, max-age=31536000, immutable"}};
    if (send_headers(wsi, 304, NULL, 0, x, 2)) return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
  }

  uint64_t from = 0, to = size ? size - 1 : 0;
  int status = 200;
  char range[128], crange[96];
  if (lws_hdr_copy(wsi, range, sizeof(range), WSI_TOKEN_HTTP_RANGE) > 0) {
    int r = parse_range(range, size, &from, &to);
    if (r < 0) {
      close(fd);
      http_reset(h);
      snprintf(crange, sizeof(crange), "bytes */%" PRIu64, size);
      hdr_kv_t x[] = {{"content-range:", crange}};
      if (send_headers(wsi, 416, "text/plain", 0, x, 1)) return -1;
      return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    if (r > 0) status = 206;
  }
  uint64_t len = size ? to - from + 1 : 0;
  snprintf(crange, sizeof(crange), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, from, to, size);
  hdr_kv_t x[] = {{"etag:", etag},
                  {"cache-control:", "public, max-age=31536000, immutable"},
                  {"accept-ranges:", "bytes"},
                  {"content-range:", crange}};
  http_reset(h);
  if (send_headers(wsi, status, mime_of(file), len, x, status == 206 ? 4 : 3)) {
    close(fd);
    return -1;
  }
  if (len == 0) {
    close(fd);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
  }
  if (lseek(fd, (off_t)from, SEEK_SET) < 0) {
    close(fd);
    return -1;
  }
  h->fd = fd;
  h->has_fd = true;
  h->remaining = len;
  lws_callback_on_writable(wsi);
  return 0;
}

static int on_http(struct lws *wsi, gw_http_t *h, kq_gateway_t *gw) {
  char uri[1024];
  int n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
#if defined(LWS_ROLE_H2)
  if (n <= 0) n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_HTTP_COLON_PATH);
#endif
  if (n <= 0) return respond_text(wsi, h, 400, "bad request\n");
  char *q = strchr(uri, '?');
  if (q) *q = 0;
  kq_counter_inc(gw->m_http);
  if (!strcmp(uri, "/healthz")) return respond_text(wsi, h, 200, "ok\n");
  if (!strcmp(uri, "/readyz")) {
    bool ready = gw->state == GW_OPEN && (!gw->ready || gw->ready(gw->ready_ud));
    return respond_text(wsi, h, ready ? 200 : 503, ready ? "ready\n" : "not ready\n");
  }
  if (!strcmp(uri, "/metrics")) {
    size_t len = 0;
    char *text = kq_metrics_render(kq_system_metrics(gw->sys), &len);
    return respond(wsi, h, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
  }
  if (!strncmp(uri, "/artefacts/", 11)) return serve_artefact(wsi, h, gw, uri + 11);
  return respond_text(wsi, h, 404, "not found\n");
}

static int on_writeable(struct lws *wsi, gw_http_t *h) {
  uint8_t buf[LWS_PRE + GW_HTTP_CHUNK];
  if (h->body) {
    while (h->off < h->len && !lws_send_pipe_choked(wsi)) {
      size_t n = h->len - h->off;
      if (n > GW_HTTP_CHUNK) n = GW_HTTP_CHUNK;
      memcpy(buf + LWS_PRE, h->body + h->off, n);
      h->off += n;
      bool last = h->off == h->len;
      if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n) return -1;
    }
    if (h->off < h->len) {
      lws_callback_on_writable(wsi);
      return 0;
    }
    http_reset(h);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
  }
  if (h->has_fd) {
    while (h->remaining && !lws_send_pipe_choked(wsi)) {
      size_t want = h->remaining > GW_HTTP_CHUNK ? GW_HTTP_CHUNK : (size_t)h->remaining;
      ssize_t r = read(h->fd, buf + LWS_PRE, want);
      if (r <= 0) return -1; /* file shrank under us: drop the connection, the length is wrong */
      h->remaining -= (uint64_t)r;
      bool last = h->remaining == 0;
      if (lws_write(wsi, buf + LWS_PRE, (size_t)r, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)r)
        return -1;
    }
    if (h->remaining) {
      lws_callback_on_writable(wsi);
      return 0;
    }
    http_reset(h);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
  }
  return 0;
}

int gw_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  gw_http_t *h = user;
  kq_gateway_t *gw = gw_of(wsi);
  switch (reason) {
  case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    /* An upgrade that did not ask for kuack.v1 lands on protocol 0: refuse it. */
    kq_counter_inc(gw->m_refused);
    return 1;
  case LWS_CALLBACK_HTTP:
    return on_http(wsi, h, gw);
  case LWS_CALLBACK_HTTP_WRITEABLE:
    return h ? on_writeable(wsi, h) : 0;
  case LWS_CALLBACK_CLOSED_HTTP:
  case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    if (h) http_reset(h);
    break;
  default:
    break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}
