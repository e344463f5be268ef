/* Deterministic actor harness: a system on a fake clock whose event_base is never dispatched;
 * the test steps messages, advances time and inspects what probe actors received. */
#include "kq_harness.h"

#include <event2/event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kq_alloc.h"
#include "kq_error.h"

#define HARNESS_RUN_LIMIT 1000000u
#define HARNESS_WALL_START (1767225600ull * 1000000000ull) /* 2026-01-01T00:00:00Z */

typedef struct probe {
  struct probe *next;
  kq_aid_t aid;
  kq_msg_t *head, *tail; /* messages received, oldest first, linked through next */
  size_t depth;
  bool dead;
} probe_t;

struct kq_harness {
  struct event_base *base;
  kq_clock_t clock;
  kq_system_t *sys;
  probe_t *probes;
};

/* ---- probe actor ---- */

typedef struct {
  probe_t *p;
} probe_state_t;

static int probe_init(kq_actor_t *self, void *state, void *arg) {
  probe_state_t *st = state;
  st->p = arg;
  st->p->aid = kq_self(self);
  return KQ_OK;
}

static void probe_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  probe_t *p = ((probe_state_t *)state)->p;
  kq_msg_take(self, m);
  if (p->tail) p->tail->next = m;
  else p->head = m;
  p->tail = m;
  p->depth++;
}

static void probe_stop(kq_actor_t *self, void *state) {
  (void)self;
  probe_t *p = ((probe_state_t *)state)->p;
  while (p->head) {
    kq_msg_t *n = p->head->next;
    kq_msg_free(p->head);
    p->head = n;
  }
  p->tail = NULL;
  p->depth = 0;
  p->dead = true;
}

static const kq_actor_type_t probe_type = {
    .name = "probe",
    .state_size = sizeof(probe_state_t),
    .init = probe_init,
    .dispatch = probe_dispatch,
    .stop = probe_stop,
};

static probe_t *find_probe(kq_harness_t *h, kq_aid_t aid) {
  for (probe_t *p = h->probes; p; p = p->next)
    if (p->aid == aid) return p;
  fail_msg("kq_harness: %llx is not a probe", (unsigned long long)aid);
  return NULL;
}

/* ---- harness ---- */

kq_harness_t *kq_h_new_opts(const kq_system_opts_t *opts) {
  kq_harness_t *h = KQ_NEW(kq_harness_t);
  h->base = event_base_new();
  assert_non_null(h->base);
  kq_clock_fake_init(&h->clock, HARNESS_WALL_START);
  kq_system_opts_t o = {0};
  if (opts) o = *opts;
  o.clock = &h->clock;
  h->sys = kq_system_new(h->base, &o);
  return h;
}

kq_harness_t *kq_h_new(void) { return kq_h_new_opts(NULL); }

static void on_idle(kq_system_t *sys, void *ud) {
  (void)sys;
  *(bool *)ud = true;
}

void kq_h_free(kq_harness_t *h) {
  bool idle = false;
  kq_system_shutdown(h->sys, on_idle, &idle);
  kq_h_run(h);
  if (!idle)
    fail_msg("kq_harness: system not idle after shutdown (actors=%zu timers=%zu handles=%zu)",
             kq_system_actor_count(h->sys), kq_system_timer_count(h->sys),
             kq_system_handle_count(h->sys));
  assert_int_equal(kq_system_close(h->sys), KQ_OK);
  while (h->probes) {
    probe_t *n = h->probes->next;
    free(h->probes);
    h->probes = n;
  }
  event_base_free(h->base);
  free(h);
}

kq_system_t *kq_h_system(kq_harness_t *h) { return h->sys; }
kq_clock_t *kq_h_clock(kq_harness_t *h) { return &h->clock; }

bool kq_h_step(kq_harness_t *h) { return kq_system_step(h->sys); }

size_t kq_h_run(kq_harness_t *h) {
  size_t n = 0;
  while (kq_system_step(h->sys))
    if (++n > HARNESS_RUN_LIMIT) fail_msg("kq_harness: more than %u messages; livelock?", HARNESS_RUN_LIMIT);
  return n;
}

void kq_h_advance(kq_harness_t *h, uint64_t ns) {
  uint64_t target = h->clock.fake_mono_ns + ns;
  for (;;) {
    kq_h_run(h);
    uint64_t d = kq_system_next_deadline(h->sys);
    if (d > target) break;
    if (d > h->clock.fake_mono_ns) h->clock.fake_mono_ns = d;
    kq_system_run_timers(h->sys);
  }
  h->clock.fake_mono_ns = target;
  kq_h_run(h);
}

kq_aid_t kq_h_probe(kq_harness_t *h) {
  probe_t *p = KQ_NEW(probe_t);
  p->next = h->probes;
  h->probes = p;
  int err = KQ_OK;
  kq_aid_t aid = kq_spawn(h->sys, &probe_type, p, &err);
  if (!aid) fail_msg("kq_harness: probe spawn failed: %s", kq_strerror(err));
  return aid;
}

kq_msg_t *kq_h_take(kq_harness_t *h, kq_aid_t probe) {
  kq_h_run(h);
  probe_t *p = find_probe(h, probe);
  kq_msg_t *m = p->head;
  if (!m) return NULL;
  p->head = m->next;
  if (!p->head) p->tail = NULL;
  p->depth--;
  m->next = NULL;
  return m;
}

kq_msg_t *kq_h_expect(kq_harness_t *h, kq_aid_t probe, uint32_t id) {
  kq_msg_t *m = kq_h_take(h, probe);
  if (!m) fail_msg("kq_harness: expected message %u, probe got nothing", id);
  if (m->id != id) {
    uint32_t got = m->id;
    kq_msg_free(m);
    fail_msg("kq_harness: expected message %u, probe got %u", id, got);
  }
  return m;
}

void kq_h_expect_none(kq_harness_t *h, kq_aid_t probe) {
  kq_h_run(h);
  probe_t *p = find_probe(h, probe);
  if (p->head) fail_msg("kq_harness: probe expected nothing, got message %u", p->head->id);
}

size_t kq_h_probe_depth(kq_harness_t *h, kq_aid_t probe) {
  return find_probe(h, probe)->depth;
}
