/* Minimal WebSocket client for the gateway integration tests (see wsc.h). */
#include "wsc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int wsc_open(wsc_t *c, struct event_base *base, int port) {
  memset(c, 0, sizeof(*c));
  c->base = base;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) return -1;
  return 0;
}

void wsc_free(wsc_t *c) {
  if (c->ssl) SSL_free(c->ssl);
  if (c->ssl_ctx) SSL_CTX_free(c->ssl_ctx);
  c->ssl = c->ssl_ctx = NULL;
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  free(c->in);
  c->in = NULL;
}

/* recv/send, or their TLS counterparts: >0 bytes, 0 EOF, -1 with errno EAGAIN or another error. */
static ssize_t io_recv(wsc_t *c, void *p, size_t n) {
  if (!c->ssl) return recv(c->fd, p, n, MSG_DONTWAIT);
  int r = SSL_read(c->ssl, p, (int)(n > 1 << 30 ? 1 << 30 : n));
  if (r > 0) return r;
  int e = SSL_get_error(c->ssl, r);
  if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return 0; /* closed or broken: the end */
  errno = EAGAIN;
  return -1;
}

static ssize_t io_send(wsc_t *c, const void *p, size_t n) {
  if (!c->ssl) return send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  int r = SSL_write(c->ssl, p, (int)n);
  if (r > 0) return r;
  int e = SSL_get_error(c->ssl, r);
  errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : EIO;
  return -1;
}

int wsc_start_tls(wsc_t *c, const char *ca_file, int ms) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return -1;
  c->ssl_ctx = ctx;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) return -1;
  SSL *ssl = SSL_new(ctx);
  if (!ssl) return -1;
  c->ssl = ssl;
  SSL_set_fd(ssl, c->fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  if (SSL_set1_host(ssl, "localhost") != 1) return -1;
  uint64_t end = mono_ms() + (uint64_t)ms;
  for (;;) {
    int r = SSL_connect(ssl);
    if (r == 1) return 0;
    int e = SSL_get_error(ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      unsigned long le = ERR_peek_last_error();
      char buf[256];
      ERR_error_string_n(le, buf, sizeof(buf));
      fprintf(stderr, "wsc: TLS handshake failed: %s\n", buf);
      return -1;
    }
    if (mono_ms() >= end) return -1;
    event_base_loop(c->base, EVLOOP_NONBLOCK);
    struct pollfd p = {.fd = c->fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
    poll(&p, 1, 1);
  }
}

static void read_some(wsc_t *c) {
  for (;;) {
    if (c->incap - c->inlen < 65536) {
      c->incap = c->incap ? c->incap * 2 : 131072;
      c->in = realloc(c->in, c->incap);
    }
    ssize_t n = io_recv(c, c->in + c->inlen, c->incap - c->inlen);
    if (n > 0) {
      c->inlen += (size_t)n;
      continue;
    }
    if (n == 0) c->eof = true;
    return;
  }
}

bool wsc_pump_until(wsc_t *c, int ms, bool (*done)(wsc_t *c, void *ud), void *ud) {
  uint64_t end = mono_ms() + (uint64_t)ms;
  for (;;) {
    event_base_loop(c->base, EVLOOP_NONBLOCK);
    if (c && c->fd >= 0) read_some(c);
    if (done && done(c, ud)) return true;
    if (mono_ms() >= end) return false;
    struct pollfd p = {.fd = c ? c->fd : -1, .events = POLLIN};
    poll(&p, 1, 1);
  }
}

void wsc_write(wsc_t *c, const void *p, size_t n) {
  const uint8_t *b = p;
  uint64_t end = mono_ms() + 5000;
  while (n) {
    ssize_t w = io_send(c, b, n);
    if (w > 0) {
      b += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN) return;
    if (mono_ms() > end) return;
    event_base_loop(c->base, EVLOOP_NONBLOCK);
    struct pollfd pf = {.fd = c->fd, .events = POLLOUT};
    poll(&pf, 1, 1);
  }
}

static bool have_headers(wsc_t *c, void *ud) {
  return c->eof || (c->inlen >= 4 && memmem(c->in, c->inlen, "\r\n\r\n", 4) != NULL);
}

int wsc_upgrade(wsc_t *c, const char *path, const char *subprotocol, int ms) {
  return wsc_upgrade_hdrs(c, path, subprotocol, NULL, ms);
}

int wsc_upgrade_hdrs(wsc_t *c, const char *path, const char *subprotocol, const char *extra_headers, int ms) {
  char req[1024];
  int n = snprintf(req, sizeof(req),
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s%s%s%s\r\n",
                   path, subprotocol ? "Sec-WebSocket-Protocol: " : "", subprotocol ? subprotocol : "",
                   subprotocol ? "\r\n" : "", extra_headers ? extra_headers : "");
  wsc_write(c, req, (size_t)n);
  if (!wsc_pump_until(c, ms, have_headers, NULL) || c->inlen < 12) return -1;
  int status = atoi((char *)c->in + 9);
  uint8_t *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
  if (!end) return status;
  size_t hl = (size_t)(end - c->in) + 4;
  memmove(c->in, c->in + hl, c->inlen - hl);
  c->inlen -= hl;
  return status;
}

void wsc_send(wsc_t *c, int opcode, const void *p, size_t n) {
  uint8_t *f = malloc(n + 14);
  size_t h = 0;
  f[h++] = (uint8_t)(0x80 | opcode);
  if (n < 126) {
    f[h++] = (uint8_t)(0x80 | n);
  } else if (n < 65536) {
    f[h++] = 0x80 | 126;
    f[h++] = (uint8_t)(n >> 8);
    f[h++] = (uint8_t)n;
  } else {
    f[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) f[h++] = (uint8_t)((uint64_t)n >> (8 * i));
  }
  static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
  memcpy(f + h, mask, 4);
  h += 4;
  for (size_t i = 0; i < n; i++) f[h + i] = ((const uint8_t *)p)[i] ^ mask[i & 3];
  wsc_write(c, f, h + n);
  free(f);
}

/* Parses one frame at the head of the buffer; returns its total size or 0 if incomplete. */
static size_t parse(wsc_t *c, int *op, size_t *plen, size_t *poff) {
  if (c->inlen < 2) return 0;
  uint8_t *b = c->in;
  *op = b[0] & 0x0f;
  uint64_t len = b[1] & 0x7f;
  size_t h = 2;
  if (len == 126) {
    if (c->inlen < 4) return 0;
    len = (uint64_t)b[2] << 8 | b[3];
    h = 4;
  } else if (len == 127) {
    if (c->inlen < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; i++) len = len << 8 | b[2 + i];
    h = 10;
  }
  if (c->inlen < h + len) return 0;
  *plen = (size_t)len;
  *poff = h;
  return h + (size_t)len;
}

static bool have_frame(wsc_t *c, void *ud) {
  int op;
  size_t l, o;
  return c->eof || parse(c, &op, &l, &o) > 0;
}

int wsc_next(wsc_t *c, int ms, uint8_t **payload, size_t *len) {
  uint64_t end = mono_ms() + (uint64_t)ms;
  for (;;) {
    uint64_t now = mono_ms();
    if (now >= end) return -1;
    if (!wsc_pump_until(c, (int)(end - now), have_frame, NULL)) return -1;
    int op;
    size_t l, o, total = parse(c, &op, &l, &o);
    if (!total) return -1; /* eof */
    uint8_t *p = malloc(l + 1);
    memcpy(p, c->in + o, l);
    p[l] = 0;
    memmove(c->in, c->in + total, c->inlen - total);
    c->inlen -= total;
    if (op == 9) { /* ping: pong */
      wsc_send(c, 10, p, l);
      free(p);
      continue;
    }
    if (op == 8) {
      c->got_close = true;
      c->close_code = l >= 2 ? (uint16_t)(p[0] << 8 | p[1]) : 1005;
      free(p);
      return 8;
    }
    if (payload)
      *payload = p;
    else
      free(p);
    if (len) *len = l;
    return op;
  }
}

static bool is_eof(wsc_t *c, void *ud) { return c->eof; }

int wsc_http_get(struct event_base *base, int port, const char *path, const char *extra_headers, char **headers,
                 char **body, size_t *body_len, int ms) {
  wsc_t c;
  if (wsc_open(&c, base, port) < 0) return -1;
  char req[1024];
  int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n", path,
                   extra_headers ? extra_headers : "");
  wsc_write(&c, req, (size_t)n);
  wsc_pump_until(&c, ms, is_eof, NULL);
  int status = -1;
  uint8_t *end = c.inlen ? memmem(c.in, c.inlen, "\r\n\r\n", 4) : NULL;
  if (c.inlen >= 12 && end) {
    status = atoi((char *)c.in + 9);
    size_t hl = (size_t)(end - c.in) + 4;
    if (headers) {
      *headers = strndup((char *)c.in, hl);
      for (char *q = *headers; *q; q++) *q = (char)((*q >= 'A' && *q <= 'Z') ? *q + 32 : *q);
    }
    if (body) {
      *body = malloc(c.inlen - hl + 1);
      memcpy(*body, c.in + hl, c.inlen - hl);
      (*body)[c.inlen - hl] = 0;
    }
    if (body_len) *body_len = c.inlen - hl;
  }
  wsc_free(&c);
  return status;
}
