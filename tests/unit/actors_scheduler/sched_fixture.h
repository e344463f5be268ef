/* Helpers for scheduler tests on the deterministic harness: browsers as events, Pods as place
 * requests, and replies taken from a probe. */
#ifndef KQ_TEST_SCHED_FIXTURE_H
#define KQ_TEST_SCHED_FIXTURE_H
#include <stdio.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_harness.h"
#include "kq_scheduler.h"

static inline void sf_browser(kq_harness_t *h, kq_aid_t sched, kq_browser_event_kind_t kind,
                              kq_aid_t aid, const char *id, int64_t cpu, int64_t mem) {
  kq_browser_info_t info = {.aid = aid, .browser_id = (char *)id, .agent_id = (char *)id,
                            .cpu_millis = cpu, .memory_bytes = mem, .rtt_us = -1};
  kq_send(kq_h_system(h), sched, &kq_sched_browser_event_new(kind, &info, NULL)->hdr);
}

static inline void sf_place(kq_harness_t *h, kq_aid_t sched, kq_aid_t reply, const char *uid,
                            int64_t cpu, int64_t mem, int32_t prio) {
  kq_sched_place_msg_t *m = kq_sched_place_msg_new();
  m->reply_to = reply;
  m->pod_uid = kq_strdup(uid);
  m->cpu_millis = cpu;
  m->memory_bytes = mem;
  m->priority = prio;
  kq_send(kq_h_system(h), sched, &m->hdr);
}

static inline void sf_pod(kq_harness_t *h, kq_aid_t sched, uint32_t id, const char *uid) {
  kq_send(kq_h_system(h), sched, &kq_sched_pod_msg_new(id, uid)->hdr);
}

static inline kq_sched_stats_msg_t *sf_stats(kq_harness_t *h, kq_aid_t sched, kq_aid_t probe) {
  kq_send_signal(kq_h_system(h), probe, sched, KQ_SCHED_MSG_STATS);
  return (kq_sched_stats_msg_t *)kq_h_expect(h, probe, KQ_SCHED_MSG_STATS_REPLY);
}

#define GI ((int64_t)1 << 30)
#define MI ((int64_t)1 << 20)
#endif
