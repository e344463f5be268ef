/* A local HTTP(S) test server on 127.0.0.1 (ephemeral port), built on libevent's evhttp. It runs
 * on the event_base it is given, normally the one the system under test uses, so a test that
 * steps that base with event_base_loop(EVLOOP_ONCE) drives client and server alike, on one
 * thread, with no sleeps. Slow and endless bodies are paced by evtimers and by write completion
 * (a paused client pushes back on the server).
 *
 * Built-in routes (numbers are query parameters):
 *   /fixed                      200, body KQ_TEST_HTTP_FIXED_BODY, header "X-Test: fixed"
 *   /status/<code>              that status, body "status <code>\n"; 429, 500 and 503 carry
 *                               "Retry-After: " KQ_TEST_HTTP_RETRY_AFTER
 *   /echo                       200, body "<METHOD> <uri>\n" + "<name>: <value>\n" per request
 *                               header + "\n" + the request body; header X-Echo-Method
 *   /large?mib=N&bytes=B&cl=1   N MiB + B bytes of KQ_TEST_HTTP_LARGE_BYTE(i), sent in 64 KiB
 *                               pieces on write completion; chunked unless cl=1 (Content-Length)
 *   /slow?chunks=K&delay_ms=D   K chunks "chunk <i>\n" (i from 0), one every D ms (default 3, 20)
 *   /endless?delay_ms=D&size=S  S-byte chunks ('x', default 1024) every D ms (default 0 = as fast
 *                               as the client reads), never ending
 *   /redirect?to=PATH           302 to PATH (default /fixed)
 *   /hang                       never answers
 *   /bigheader?kib=N            200 with N KiB of response headers (X-Big-<i>: 1 KiB each)
 */
#ifndef KQ_TEST_HTTP_H
#define KQ_TEST_HTTP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kq_test_tls.h"

struct event_base;
struct evhttp_request;

#define KQ_TEST_HTTP_FIXED_BODY "hello from the kuack test server\n"
#define KQ_TEST_HTTP_RETRY_AFTER "7"
#define KQ_TEST_HTTP_LARGE_BYTE(i) ((char)('a' + (int)((i) % 26)))

typedef struct kq_test_http kq_test_http_t;
typedef void (*kq_test_http_fn)(struct evhttp_request *req, void *ud);

/* Starts a server on `base` (borrowed; must outlive the server). `tls` NULL = plain HTTP; else
 * HTTPS with tls's server certificate (borrowed, must outlive the server), and with
 * `require_client_cert` the handshake demands a client certificate signed by tls's CA.
 * Returns owned; aborts the test process if it cannot listen. */
kq_test_http_t *kq_test_http_new(struct event_base *base, const kq_test_tls_t *tls, bool require_client_cert);
/* Closes every connection (in-flight streams are dropped) and frees the server. */
void kq_test_http_free(kq_test_http_t *s);

uint16_t kq_test_http_port(const kq_test_http_t *s);
/* "http[s]://127.0.0.1:<port><path>"; `path` starts with '/' and may carry a query. Owned (free()). */
char *kq_test_http_url(const kq_test_http_t *s, const char *path);
/* Adds an exact-path route (no query) for other modules' tests; the handler must answer with
 * evhttp_send_reply* (or keep the request to answer later). Returns 0, -1 if the path is taken. */
int kq_test_http_route(kq_test_http_t *s, const char *path, kq_test_http_fn fn, void *ud);

/* Requests the server has received so far. */
size_t kq_test_http_hits(const kq_test_http_t *s);
/* Streaming responses (large/slow/endless/hang) still open on the server side. */
size_t kq_test_http_streams(const kq_test_http_t *s);

#endif
