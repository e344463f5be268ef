/* Deterministic actor harness for tests: a system on a fake clock whose messages are stepped one
 * at a time, probe actors that record what they receive so a test can expect the next message,
 * and time advanced by hand to fire timers. The event_base exists but is never dispatched. */
#ifndef KQ_HARNESS_H
#define KQ_HARNESS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kq_actor.h"
#include "kq_clock.h"

typedef struct kq_harness kq_harness_t;

/* Creates a harness (fake clock at wall time 2026-01-01T00:00:00Z). Returns owned. */
kq_harness_t *kq_h_new(void);
/* Like kq_h_new with system options (the clock field is ignored: the harness's fake clock is
 * always used). */
kq_harness_t *kq_h_new_opts(const kq_system_opts_t *opts);
/* Shuts the system down, drains, asserts it closed cleanly (no actor, timer or handle left) and
 * frees everything. Fails the test (cmocka) if the system refuses to close. */
void kq_h_free(kq_harness_t *h);

kq_system_t *kq_h_system(kq_harness_t *h);
kq_clock_t *kq_h_clock(kq_harness_t *h);

/* Dispatches one message; returns false when nothing was queued. */
bool kq_h_step(kq_harness_t *h);
/* Dispatches until nothing is queued (bounded by 1e6 messages; fails the test beyond). Returns
 * the number dispatched. */
size_t kq_h_run(kq_harness_t *h);
/* Advances the fake clock by `ns`, firing due timers in deadline order and running the
 * messages they cause after each firing. */
void kq_h_advance(kq_harness_t *h, uint64_t ns);

/* A probe: an actor that keeps every message it receives (in order) until the test takes it. */
kq_aid_t kq_h_probe(kq_harness_t *h);
/* Runs the system, then takes the oldest message the probe got. Fails the test if none arrived
 * or its id differs from `id`. Returns owned (free with kq_msg_free). */
kq_msg_t *kq_h_expect(kq_harness_t *h, kq_aid_t probe, uint32_t id);
/* Like kq_h_expect but returns NULL instead of failing when the probe got nothing. */
kq_msg_t *kq_h_take(kq_harness_t *h, kq_aid_t probe);
/* Runs the system and asserts the probe has nothing queued. */
void kq_h_expect_none(kq_harness_t *h, kq_aid_t probe);
size_t kq_h_probe_depth(kq_harness_t *h, kq_aid_t probe);

#endif
