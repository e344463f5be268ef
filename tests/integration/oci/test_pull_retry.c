/* Retries against a scripted registry (tests/support/kq_test_http.h) on a fake clock: Retry-After
 * in seconds (503) and as an HTTP-date (429) sets the delay when it is longer than the backoff;
 * plain 5xx backs off exponentially; a Retry-After beyond the cap fails the pull at once. The
 * delays are read off the system's next timer deadline, so nothing waits in real time. */
#include "image_fixture.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <time.h>

#include "kq_test_http.h"

typedef struct step {
  int status;
  const char *retry_after;   /* NULL: no header; "DATE+N": an HTTP-date N s after the fake wall time */
} step_t;

static if_env_t E;
static kq_test_http_t *srv;
static char host[64];
static const step_t *script;
static size_t nscript, served;

static void route_manifest(struct evhttp_request *req, void *ud) {
  (void)ud;
  struct evbuffer *b = evbuffer_new();
  int status = 404;
  if (served < nscript) {
    const step_t *s = &script[served];
    status = s->status;
    if (s->retry_after && strncmp(s->retry_after, "DATE+", 5) == 0) {
      time_t at = (time_t)(kq_wall_ns(&E.clock) / 1000000000ull) + atoi(s->retry_after + 5);
      struct tm tm;
      gmtime_r(&at, &tm);
      char date[64];
      strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
      evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", date);
    } else if (s->retry_after) {
      evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", s->retry_after);
    }
  }
  served++;
  evbuffer_add_printf(b, "{\"errors\":[{\"code\":\"%s\"}]}", status == 404 ? "MANIFEST_UNKNOWN" : "BUSY");
  evhttp_send_reply(req, status, NULL, b);
  evbuffer_free(b);
}

static int setup(void **state) {
  (void)state;
  if_env_open(&E, 1700000000ull * 1000000000ull, 1); /* whole seconds: dates are exact */
  srv = kq_test_http_new(E.base, NULL, false);
  kq_test_http_route(srv, "/v2/t/ra/manifests/v1", route_manifest, NULL);
  kq_test_http_route(srv, "/v2/t/cap/manifests/v1", route_manifest, NULL);
  snprintf(host, sizeof host, "127.0.0.1:%u", (unsigned)kq_test_http_port(srv));
  const char *insecure[] = {host};
  if_env_start(&E, (kq_image_service_opts_t){.insecure = insecure, .ninsecure = 1, .max_retries = 4,
                                             .retry_backoff_ns = KQ_MS(100),
                                             .max_retry_after_ns = KQ_SEC(60)});
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if_env_stop(&E);
  kq_test_http_free(srv);
  if_env_close(&E);
  return 0;
}

static size_t want_served;
static bool retry_armed(const void *ud) {
  (void)ud;
  return served >= want_served && kq_system_next_deadline(E.sys) != UINT64_MAX;
}

/* Waits for request n to be answered and the retry timer to be armed; returns its delay. */
static uint64_t delay_after(size_t n) {
  want_served = n;
  assert_true(if_run_until(E.base, retry_armed, NULL, 10000));
  return kq_system_next_deadline(E.sys) - kq_now_ns(&E.clock);
}

/* Moves the fake clock to just before the deadline (nothing fires), then onto it (one fires). */
static void cross(uint64_t delay) {
  kq_clock_advance(&E.clock, delay - 1);
  assert_int_equal(kq_system_run_timers(E.sys), 0);
  kq_clock_advance(&E.clock, 1);
  assert_int_equal(kq_system_run_timers(E.sys), 1);
}

static void test_retry_after_and_backoff(void **st) {
  (void)st;
  static const step_t s[] = {{503, "7"}, {429, "DATE+3"}, {500, NULL}, {503, "0"}};
  script = s;
  nscript = 4;
  served = 0;
  if_clear(&E.sink);
  char image[128];
  snprintf(image, sizeof image, "%s/t/ra:v1", host);
  kq_image_request_t rq = {.image = image, .policy = KQ_PULL_ALWAYS, .reply_to = E.aid, .reply_id = GOT_IMAGE};
  kq_image_service_request(E.svc, &rq);

  assert_int_equal(delay_after(1), KQ_SEC(7));       /* 503 Retry-After: 7 beats the 100 ms backoff */
  cross(KQ_SEC(7));
  assert_int_equal(delay_after(2), KQ_SEC(3));       /* 429 with an HTTP-date 3 s ahead */
  cross(KQ_SEC(3));
  assert_int_equal(delay_after(3), KQ_MS(400));      /* 500, no header: 100 ms << 2 */
  cross(KQ_MS(400));
  assert_int_equal(delay_after(4), KQ_MS(800));      /* Retry-After: 0 never shortens the backoff */
  cross(KQ_MS(800));
  if_wait_t w = {&E.sink, 1};
  assert_true(if_run_until(E.base, if_replies, &w, 10000));
  assert_int_equal(served, 5);
  assert_int_equal(E.sink.r[0]->reason, KQ_OCI_REASON_ERR_IMAGE_PULL);
  assert_non_null(strstr(E.sink.r[0]->message, "not found"));
}

static void test_retry_after_over_cap_fails(void **st) {
  (void)st;
  static const step_t s[] = {{503, "3600"}};
  script = s;
  nscript = 1;
  served = 0;
  char image[128];
  snprintf(image, sizeof image, "%s/t/cap:v1", host);
  kq_image_reply_t *r = if_ask(E.base, E.svc, &E.sink, E.aid, image, KQ_PULL_ALWAYS, NULL);
  assert_int_equal(served, 1);
  assert_int_equal(r->reason, KQ_OCI_REASON_ERR_IMAGE_PULL);
  assert_int_equal(r->rc, KQ_EHTTP);
  assert_non_null(strstr(r->message, "503"));
  assert_non_null(strstr(r->message, "retry after 3600 s"));
  assert_int_equal(kq_system_next_deadline(E.sys), UINT64_MAX);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_retry_after_and_backoff),
                                     cmocka_unit_test(test_retry_after_over_cap_fails)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
