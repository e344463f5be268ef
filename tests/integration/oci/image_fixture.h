/* Shared pieces of the image-plane integration tests: the image plane itself (loop, system, HTTP
 * client, pool, store in a fresh cache dir, image service, sink) set up and torn down the same way
 * in every test, a sink actor that keeps copies of image replies, a loop stepper bounded by a
 * deadline, and an `ask` helper (one request, one reply). */
#ifndef IMAGE_FIXTURE_H
#define IMAGE_FIXTURE_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kq_alloc.h"
#include "kq_clock.h"
#include "kq_error.h"
#include "kq_http.h"
#include "kq_image.h"
#include "kq_pool.h"
#include "kq_test_loop.h"

enum { GOT_IMAGE = KQ_MSG_USER + 100 };

#define IF_MAX_REPLIES 64
typedef struct if_sink {
  kq_image_reply_t *r[IF_MAX_REPLIES];
  size_t n;
} if_sink_t;

static int if_sink_init(kq_actor_t *self, void *state, void *arg) {
  (void)self;
  *(if_sink_t **)state = arg;
  return KQ_OK;
}
static void if_sink_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  (void)self;
  if_sink_t *s = *(if_sink_t **)state;
  if (m->id != GOT_IMAGE || s->n == IF_MAX_REPLIES) return;
  /* a private copy: the runtime frees the message after dispatch */
  kq_image_reply_t *c = kq_memdup(m, sizeof *c);
  kq_oci_artefact_copy(&c->art, &((kq_image_reply_t *)m)->art);
  s->r[s->n++] = c;
}
static void if_sink_stop(kq_actor_t *self, void *state) { (void)self; (void)state; }
static const kq_actor_type_t if_sink_type = {.name = "sink", .state_size = sizeof(if_sink_t *),
                                             .init = if_sink_init, .dispatch = if_sink_dispatch,
                                             .stop = if_sink_stop};

static inline void if_clear(if_sink_t *s) {
  for (size_t i = 0; i < s->n; i++) {
    kq_oci_artefact_free(&s->r[i]->art);
    free(s->r[i]);
  }
  s->n = 0;
}

/* Steps `base` until cond(ud) or `ms` pass. */
static inline bool if_run_until(struct event_base *base, bool (*cond)(const void *), const void *ud, unsigned ms) {
  kq_test_deadline_t d;
  kq_test_deadline_start(&d, base, ms);
  bool ok;
  while (!(ok = cond(ud)) && kq_test_deadline_step(&d)) {}
  kq_test_deadline_end(&d);
  return ok;
}

typedef struct if_wait {
  const if_sink_t *sink;
  size_t n;
} if_wait_t;
static bool if_replies(const void *ud) {
  const if_wait_t *w = ud;
  return w->sink->n >= w->n;
}

/* Sends one request (with optional kuack.io/wasm-type and wasm-path overrides) and waits (60 s at
 * most) for its reply; returns it (owned by the sink). */
static inline kq_image_reply_t *if_ask_ex(struct event_base *base, kq_image_service_t *svc, if_sink_t *sink,
                                          kq_aid_t to, const char *image, kq_pull_policy_t pol, const char *secret,
                                          const char *type, const char *path) {
  if_clear(sink);
  const char *secrets[1] = {secret};
  kq_image_request_t rq = {.image = image, .policy = pol, .secrets = secret ? secrets : NULL,
                           .nsecrets = secret ? 1 : 0, .wasm_type = type, .wasm_path = path,
                           .reply_to = to, .reply_id = GOT_IMAGE, .cookie = 42};
  kq_image_service_request(svc, &rq);
  if_wait_t w = {sink, 1};
  assert_true(if_run_until(base, if_replies, &w, 60000));
  assert_int_equal(sink->r[0]->cookie, 42);
  return sink->r[0];
}

static inline kq_image_reply_t *if_ask(struct event_base *base, kq_image_service_t *svc, if_sink_t *sink,
                                       kq_aid_t to, const char *image, kq_pull_policy_t pol, const char *secret) {
  return if_ask_ex(base, svc, sink, to, image, pol, secret, NULL, NULL);
}

/* The image plane under test. */
typedef struct if_env {
  struct event_base *base;
  kq_clock_t clock; /* the fake clock, when if_env_open was given a start time */
  kq_system_t *sys;
  kq_http_t *http;
  kq_pool_t *pool;
  kq_oci_store_t *store;
  kq_image_service_t *svc;
  char cache[64];
  if_sink_t sink;
  kq_aid_t aid;
} if_env_t;

/* Opens the loop, the system (on a fake clock starting at `fake_wall_ns`; 0 = the real clock),
 * the HTTP client, a pool of `threads` and a store in a fresh cache dir. Test servers that live
 * on e->base start after this; the image service, which must know their hosts, in if_env_start. */
static inline void if_env_open(if_env_t *e, uint64_t fake_wall_ns, unsigned threads) {
  memset(e, 0, sizeof *e);
  e->base = event_base_new();
  if (fake_wall_ns) kq_clock_fake_init(&e->clock, fake_wall_ns);
  kq_system_opts_t so = {.clock = &e->clock};
  e->sys = kq_system_new(e->base, fake_wall_ns ? &so : NULL);
  e->http = kq_http_new(e->sys);
  e->pool = kq_pool_new(e->sys, threads);
  snprintf(e->cache, sizeof e->cache, "/tmp/kq-oci-cache.XXXXXX");
  assert_non_null(mkdtemp(e->cache));
  int err;
  e->store = kq_oci_store_open(e->cache, 0, &err);
}

/* Starts the image service with `o` (its http, pool and store are filled in here) and the sink. */
static inline void if_env_start(if_env_t *e, kq_image_service_opts_t o) {
  o.http = e->http;
  o.pool = e->pool;
  o.store = e->store;
  e->svc = kq_image_service_new(e->sys, &o);
  e->aid = kq_spawn(e->sys, &if_sink_type, &e->sink, NULL);
}

static inline bool if_idle(const void *ud) { return kq_system_idle(((const if_env_t *)ud)->sys); }

/* Shuts the system down until every actor has stopped, then closes it (fails the test if anything
 * is still alive). Test servers on e->base are freed after this and before if_env_close. */
static inline void if_env_stop(if_env_t *e) {
  if_clear(&e->sink);
  kq_system_shutdown(e->sys, NULL, NULL);
  assert_true(if_run_until(e->base, if_idle, e, 10000));
  kq_http_free(e->http);
  kq_pool_free(e->pool);
  assert_int_equal(kq_system_close(e->sys), KQ_OK);
}

/* Frees the loop, the image service and the store, and removes the cache dir. */
static inline void if_env_close(if_env_t *e) {
  event_base_free(e->base);
  kq_image_service_free(e->svc);
  kq_oci_store_close(e->store);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->cache);
  assert_int_equal(system(cmd), 0);
}

#endif
