/* Shared pieces of the image-plane integration tests: a sink actor that keeps copies of image
 * replies, a loop stepper bounded by a deadline, and an `ask` helper (one request, one reply). */
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
#include "kq_error.h"
#include "kq_image.h"
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

#endif
