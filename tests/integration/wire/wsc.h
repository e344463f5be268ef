/* A minimal WebSocket/HTTP test client on plain sockets, pumped together with the server's
 * event loop (same thread): every wait steps the loop and polls the socket until a deadline. */
#ifndef KQ_TEST_WSC_H
#define KQ_TEST_WSC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

typedef struct wsc {
  int fd;
  void *ssl;           /* SSL* after wsc_start_tls (all I/O goes through it) */
  void *ssl_ctx;
  struct event_base *base;
  uint8_t *in;
  size_t inlen, incap;
  bool eof;
  uint16_t close_code; /* from a received close frame */
  bool got_close;
} wsc_t;

/* Connects to 127.0.0.1:port (nonblocking). Returns 0 or -1. */
int wsc_open(wsc_t *c, struct event_base *base, int port);
void wsc_free(wsc_t *c);
/* TLS over the connected socket, verifying the server against `ca_file` and the name
 * "localhost" (pumping the loop during the handshake). Returns 0, or -1 if it failed. */
int wsc_start_tls(wsc_t *c, const char *ca_file, int ms);
/* Steps the loop and reads what the socket has, for at most `ms` or until `done(c, ud)`. */
bool wsc_pump_until(wsc_t *c, int ms, bool (*done)(wsc_t *c, void *ud), void *ud);
/* Sends raw bytes (pumping the loop while the socket is full). */
void wsc_write(wsc_t *c, const void *p, size_t n);
/* WebSocket upgrade on /ws; returns the HTTP status (101 on success) or -1. */
int wsc_upgrade(wsc_t *c, const char *path, const char *subprotocol, int ms);
/* The same with extra request header lines ("Origin: https://x\r\n"; NULL = none). */
int wsc_upgrade_hdrs(wsc_t *c, const char *path, const char *subprotocol, const char *extra_headers, int ms);
/* Sends one masked frame (opcode 1 text, 2 binary, 8 close). */
void wsc_send(wsc_t *c, int opcode, const void *p, size_t n);
/* Waits for the next data frame (answers pings). Returns opcode (1/2), 8 for close (close_code
 * set), or -1 on timeout/EOF. *payload is owned by the caller (free()). */
int wsc_next(wsc_t *c, int ms, uint8_t **payload, size_t *len);
/* One HTTP/1.1 GET with Connection: close; returns status, owned headers and body. */
int wsc_http_get(struct event_base *base, int port, const char *path, const char *extra_headers, char **headers,
                 char **body, size_t *body_len, int ms);

#endif
