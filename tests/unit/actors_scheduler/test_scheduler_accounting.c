/* Reservation accounting never drifts: thousands of seeded random events (browsers joining,
 * changing, leaving; Pods placed, re-placed, released, cancelled) against a model that mirrors
 * the replies. The scheduler's incremental view must equal both its own from-scratch recount
 * and the model, every placement must fit when made, and nothing that fits may stay queued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sched_fixture.h"
#include "scheduler_internal.h"

#define NB 24
#define NP 400

typedef struct { bool alive; int64_t cpu, mem; } mbrowser_t;
typedef struct { int state; int b; int64_t cpu, mem; } mpod_t; /* 0 none, 1 pending, 2 placed */

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static mbrowser_t mb[NB];
static mpod_t mp[NP];

static kq_aid_t baid(int b) { return 0xB0000 + (kq_aid_t)b; }

static int64_t model_free_cpu(int b) {
  int64_t f = mb[b].cpu;
  for (int p = 0; p < NP; p++) if (mp[p].state == 2 && mp[p].b == b) f -= mp[p].cpu;
  return f;
}
static int64_t model_free_mem(int b) {
  int64_t f = mb[b].mem;
  for (int p = 0; p < NP; p++) if (mp[p].state == 2 && mp[p].b == b) f -= mp[p].mem;
  return f;
}

static void drain_replies(kq_harness_t *h, kq_aid_t probe) {
  kq_msg_t *m;
  while ((m = kq_h_take(h, probe))) {
    if (m->id == KQ_SCHED_MSG_PLACED) {
      kq_sched_placed_msg_t *pm = (kq_sched_placed_msg_t *)m;
      int p = atoi(pm->pod_uid + 1), b = (int)(pm->browser - 0xB0000);
      assert_true(b >= 0 && b < NB && mb[b].alive);
      assert_int_equal(mp[p].state, 1);
      /* it fitted when it was placed */
      assert_true(model_free_cpu(b) >= mp[p].cpu && model_free_mem(b) >= mp[p].mem);
      mp[p].state = 2;
      mp[p].b = b;
    } else {
      assert_int_equal(m->id, KQ_SCHED_MSG_WAITING);
      kq_sched_waiting_msg_t *w = (kq_sched_waiting_msg_t *)m;
      assert_int_equal(mp[atoi(w->pod_uid + 1)].state, 1);
    }
    kq_msg_free(m);
  }
}

static void check(kq_harness_t *h, kq_aid_t sched, kq_aid_t probe) {
  kq_sched_stats_msg_t *s = sf_stats(h, sched, probe);
  assert_true(s->accounting_ok);
  uint32_t nb = 0, placed = 0, pending = 0;
  int64_t cap = 0, res = 0, resm = 0;
  for (int b = 0; b < NB; b++) if (mb[b].alive) { nb++; cap += mb[b].cpu; }
  for (int p = 0; p < NP; p++) {
    placed += mp[p].state == 2;
    pending += mp[p].state == 1;
    if (mp[p].state == 2) { res += mp[p].cpu; resm += mp[p].mem; }
  }
  assert_int_equal(s->browsers, nb);
  assert_int_equal(s->placed, placed);
  assert_int_equal(s->pending, pending);
  assert_int_equal(s->cap_cpu_millis, cap);
  assert_int_equal(s->reserved_cpu_millis, res);
  assert_int_equal(s->reserved_memory_bytes, resm);
  assert_int_equal(s->free_cpu_millis, cap - res);
  kq_msg_free(&s->hdr);
  /* nothing that fits an alive browser stays pending (binpack skips nothing but flags) */
  for (int p = 0; p < NP; p++) {
    if (mp[p].state != 1) continue;
    for (int b = 0; b < NB; b++)
      if (mb[b].alive && model_free_cpu(b) >= mp[p].cpu && model_free_mem(b) >= mp[p].mem)
        fail_msg("pod %d pending though browser %d fits it", p, b);
  }
}

static void browser_event(kq_harness_t *h, kq_aid_t sched, kq_browser_event_kind_t kind, int b) {
  char id[16];
  snprintf(id, sizeof id, "b-%d", b);
  sf_browser(h, sched, kind, baid(b), id, mb[b].cpu, mb[b].mem);
}

static void test_random_events_never_drift(void **st) {
  (void)st;
  kq_harness_t *h = kq_h_new();
  kq_aid_t sched = kq_scheduler_spawn(kq_h_system(h), NULL, NULL);
  kq_aid_t probe = kq_h_probe(h);
  memset(mb, 0, sizeof mb);
  memset(mp, 0, sizeof mp);
  uint32_t placed_total = 0;
  for (int ev = 0; ev < 6000; ev++) {
    /* the index keeps kuack-compat's heaps only while that policy runs: switch to it and away
     * (check() below verifies the index, heaps included, through accounting_ok) */
    if (ev == 2000 || ev == 4000) {
      kq_sched_set_policy_msg_t *m =
          kq_sched_set_policy_msg_new(ev == 2000 ? "kuack-compat" : "latency", NULL);
      kq_send(kq_h_system(h), sched, &m->hdr);
      kq_h_run(h);
      drain_replies(h, probe); /* a policy change re-explains the waiting Pods */
      check(h, sched, probe);
    }
    uint64_t r = rnd() % 100;
    int b = (int)(rnd() % NB), p = (int)(rnd() % NP);
    char uid[16];
    snprintf(uid, sizeof uid, "p%d", p);
    if (r < 10) { /* join or rejoin */
      if (mb[b].alive) continue;
      mb[b] = (mbrowser_t){true, (int64_t)(1 + rnd() % 8) * 500, (int64_t)(1 + rnd() % 8) * 256 * MI};
      browser_event(h, sched, KQ_BROWSER_UP, b);
    } else if (r < 18) { /* capacity change, possibly below what is reserved */
      if (!mb[b].alive) continue;
      mb[b].cpu = (int64_t)(rnd() % 9) * 500;
      mb[b].mem = (int64_t)(rnd() % 9) * 256 * MI;
      browser_event(h, sched, KQ_BROWSER_CHANGED, b);
    } else if (r < 23) { /* leave: its Pods' reservations go with it */
      if (!mb[b].alive) continue;
      mb[b].alive = false;
      for (int q = 0; q < NP; q++) if (mp[q].state == 2 && mp[q].b == b) mp[q].state = 0;
      browser_event(h, sched, KQ_BROWSER_DOWN, b);
    } else if (r < 65) { /* place (or re-place: the old reservation is released first) */
      mp[p] = (mpod_t){1, -1, (int64_t)(rnd() % 5) * 250, (int64_t)(rnd() % 5) * 128 * MI};
      sf_place(h, sched, probe, uid, mp[p].cpu, mp[p].mem, (int32_t)(rnd() % 3));
    } else if (r < 90) {
      if (mp[p].state == 0) continue;
      mp[p].state = 0;
      sf_pod(h, sched, KQ_SCHED_MSG_RELEASE, uid);
    } else {
      mp[p].state = 0;
      sf_pod(h, sched, KQ_SCHED_MSG_CANCEL, uid);
    }
    kq_h_run(h);
    uint32_t before = 0;
    for (int q = 0; q < NP; q++) before += mp[q].state == 2;
    drain_replies(h, probe);
    for (int q = 0; q < NP; q++) placed_total += mp[q].state == 2;
    placed_total -= before;
    if (ev % 50 == 0) check(h, sched, probe);
  }
  check(h, sched, probe);
  assert_true(placed_total > 1000); /* the run exercised placement for real */
  kq_h_free(h);
}

/* The explanation's quantities are formatted without printf; they must read exactly as
 * printf's "%.1f" would (rounding half to even on the exact binary value), ties included. */
static void test_fmt_mem_matches_printf(void **st) {
  (void)st;
  static const char *const units[] = {"Gi", "Mi", "Ki"};
  char got[32], want[32];
  for (int k = 0; k < 200000; k++) {
    int shift = 10 * (1 + (int)(rnd() % 3));
    int64_t b;
    switch (k % 4) {
      case 0: b = (int64_t)(rnd() % (1ull << 45)); break;                /* anything */
      case 1: b = ((int64_t)(rnd() % 4096) << shift) + (1ll << shift) / 20 * (int64_t)(rnd() % 20); break;
      case 2: b = ((int64_t)(rnd() % 4096) << (shift - 2)) | ((int64_t)1 << shift); break; /* .25 .5 .75: ties */
      default: b = ((int64_t)(rnd() % 4096) << shift) + (int64_t)(rnd() % 8) - 4; break;
    }
    if (rnd() % 5 == 0) b = -b;
    sched_fmt_mem(b, got);
    int64_t a = b < 0 ? -b : b;
    int u = a >= 1ll << 30 ? 0 : a >= 1ll << 20 ? 1 : a >= 1ll << 10 ? 2 : 3;
    if (u == 3) snprintf(want, sizeof want, "%lld", (long long)b);
    else if (a % (1ll << (30 - 10 * u)) == 0)
      snprintf(want, sizeof want, "%lld%s", (long long)(b / (1ll << (30 - 10 * u))), units[u]);
    else snprintf(want, sizeof want, "%.1f%s", (double)b / (double)(1ll << (30 - 10 * u)), units[u]);
    if (strcmp(got, want)) fail_msg("sched_fmt_mem(%lld) = %s, printf gives %s", (long long)b, got, want);
  }
  assert_string_equal(sched_fmt_mem(5ll << 29, got), "2.5Gi");
  assert_string_equal(sched_fmt_mem(3ll << 29, got), "1.5Gi");
  assert_string_equal(sched_fmt_mem(-(5ll << 28), got), "-1.2Gi"); /* -1.25: tie to even */
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_random_events_never_drift),
                                     cmocka_unit_test(test_fmt_mem_matches_printf)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
