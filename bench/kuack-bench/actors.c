/* `kuack-bench actors`: the actor runtime's costs. Send+dispatch per message with many actors
 * (messages fanned out one per actor, then drained through the same run-queue code the loop
 * uses), memory per idle actor (allocator counters), and start/fire/cancel cost of many timers
 * on a fake clock. Prints a table and, with --json FILE, the same figures as JSON. */
#include <event2/event.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "kq_actor.h"
#include "kq_alloc.h"
#include "kq_clock.h"
#include "kq_error.h"

typedef struct {
  uint64_t received;
} sink_state_t;

static kq_actor_t **selves; /* actor pointers, for starting timers from outside dispatch */
static size_t nselves;

static int sink_init(kq_actor_t *self, void *state, void *arg) {
  (void)state;
  (void)arg;
  if (selves) selves[nselves++] = self;
  return KQ_OK;
}

static void sink_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  (void)self;
  (void)m;
  ((sink_state_t *)state)->received++;
}

static const kq_actor_type_t sink_type = {
    .name = "sink",
    .state_size = sizeof(sink_state_t),
    .init = sink_init,
    .dispatch = sink_dispatch,
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

typedef struct {
  size_t actors, messages, timers;
  double send_ns, dispatch_ns, send_dispatch_ns, msgs_per_sec;
  double best_round_ns; /* fastest fan-out round: least disturbed by other processes */
  double idle_actor_bytes;
  double timer_start_ns, timer_fire_ns, timer_cancel_ns;
  char cpu[128];
  long ncpu;
} results_t;

static void cpu_model(char *out, size_t cap) {
  snprintf(out, cap, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[256];
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "model name", 10)) {
      char *p = strchr(line, ':');
      if (p) {
        p += 2;
        p[strcspn(p, "\n")] = '\0';
        snprintf(out, cap, "%s", p);
      }
      break;
    }
  }
  fclose(f);
}

static void on_idle(kq_system_t *sys, void *ud) {
  (void)sys;
  *(bool *)ud = true;
}

static int close_system(kq_system_t *sys) {
  bool idle = false;
  kq_system_shutdown(sys, on_idle, &idle);
  while (kq_system_step(sys)) {
  }
  return idle ? kq_system_close(sys) : KQ_EBUSY;
}

static void bench_messages(results_t *r) {
  struct event_base *base = event_base_new();
  kq_clock_t clock;
  kq_clock_fake_init(&clock, 0);
  kq_system_opts_t o = {.clock = &clock};
  kq_system_t *sys = kq_system_new(base, &o);
  kq_aid_t *aids = kq_calloc(r->actors, sizeof *aids);
  for (size_t i = 0; i < r->actors; i++) aids[i] = kq_spawn(sys, &sink_type, NULL, NULL);
  /* Warm-up round: grows the allocator's caches. */
  for (size_t i = 0; i < r->actors; i++) kq_send(sys, aids[i], kq_msg_new(KQ_MSG_USER, 32));
  kq_system_drain(sys, SIZE_MAX);

  uint64_t send = 0, dispatch = 0, sent = 0;
  while (sent < r->messages) {
    size_t n = r->actors;
    if (n > r->messages - sent) n = r->messages - sent;
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < n; i++) kq_send(sys, aids[i], kq_msg_new(KQ_MSG_USER, 32));
    uint64_t t1 = now_ns();
    size_t ran = kq_system_drain(sys, SIZE_MAX);
    uint64_t t2 = now_ns();
    if (ran != n) {
      fprintf(stderr, "kuack-bench actors: dispatched %zu of %zu\n", ran, n);
      exit(1);
    }
    send += t1 - t0;
    dispatch += t2 - t1;
    double round = (double)(t2 - t0) / (double)n;
    if (n == r->actors && (r->best_round_ns == 0 || round < r->best_round_ns)) r->best_round_ns = round;
    sent += n;
  }
  r->send_ns = (double)send / (double)sent;
  r->dispatch_ns = (double)dispatch / (double)sent;
  r->send_dispatch_ns = (double)(send + dispatch) / (double)sent;
  r->msgs_per_sec = 1e9 / r->send_dispatch_ns;
  free(aids);
  if (close_system(sys) != KQ_OK) fprintf(stderr, "kuack-bench actors: system did not close\n");
  event_base_free(base);
}

static void bench_idle_memory(results_t *r) {
  struct event_base *base = event_base_new();
  kq_clock_t clock;
  kq_clock_fake_init(&clock, 0);
  kq_system_opts_t o = {.clock = &clock};
  kq_system_t *sys = kq_system_new(base, &o);
  struct mallinfo2 before = mallinfo2();
  for (size_t i = 0; i < r->actors; i++) kq_spawn(sys, &sink_type, NULL, NULL);
  struct mallinfo2 after = mallinfo2();
  r->idle_actor_bytes = (double)(after.uordblks - before.uordblks) / (double)r->actors;
  if (close_system(sys) != KQ_OK) fprintf(stderr, "kuack-bench actors: system did not close\n");
  event_base_free(base);
}

static void bench_timers_once(results_t *r) {
  struct event_base *base = event_base_new();
  kq_clock_t clock;
  kq_clock_fake_init(&clock, 0);
  kq_system_opts_t o = {.clock = &clock, .mailbox_high_water = UINT32_MAX};
  kq_system_t *sys = kq_system_new(base, &o);
  size_t owners = r->actors < 1000 ? r->actors : 1000;
  selves = kq_calloc(owners, sizeof *selves);
  nselves = 0;
  for (size_t i = 0; i < owners; i++) kq_spawn(sys, &sink_type, NULL, NULL);
  kq_timer_id_t *ids = kq_calloc(r->timers, sizeof *ids);
  uint32_t x = 2463534242u;
  uint64_t t0 = now_ns();
  for (size_t i = 0; i < r->timers; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    ids[i] = kq_timer_start(selves[i % owners], KQ_MS(1 + x % 1000), 0, i);
  }
  uint64_t t1 = now_ns();
  kq_clock_advance(&clock, KQ_SEC(2));
  size_t fired = kq_system_run_timers(sys);
  size_t ran = kq_system_drain(sys, SIZE_MAX);
  uint64_t t2 = now_ns();
  if (fired != r->timers || ran != r->timers)
    fprintf(stderr, "kuack-bench actors: fired %zu ran %zu of %zu timers\n", fired, ran, r->timers);
  for (size_t i = 0; i < r->timers; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    ids[i] = kq_timer_start(selves[i % owners], KQ_MS(1 + x % 1000), 0, i);
  }
  uint64_t t3 = now_ns();
  for (size_t i = 0; i < r->timers; i++) kq_timer_cancel(selves[i % owners], ids[i]);
  uint64_t t4 = now_ns();
  r->timer_start_ns = (double)(t1 - t0) / (double)r->timers;
  r->timer_fire_ns = (double)(t2 - t1) / (double)r->timers;
  r->timer_cancel_ns = (double)(t4 - t3) / (double)r->timers;
  free(ids);
  free(selves);
  selves = NULL;
  if (close_system(sys) != KQ_OK) fprintf(stderr, "kuack-bench actors: system did not close\n");
  event_base_free(base);
}

/* Timer figures are single passes over many timers, so a burst of load from other processes
 * skews one pass; the best of a few passes is reported. */
static void bench_timers(results_t *r) {
  results_t best = *r;
  for (int pass = 0; pass < 5; pass++) {
    bench_timers_once(r);
    if (pass == 0 || r->timer_start_ns < best.timer_start_ns) best.timer_start_ns = r->timer_start_ns;
    if (pass == 0 || r->timer_fire_ns < best.timer_fire_ns) best.timer_fire_ns = r->timer_fire_ns;
    if (pass == 0 || r->timer_cancel_ns < best.timer_cancel_ns) best.timer_cancel_ns = r->timer_cancel_ns;
  }
  r->timer_start_ns = best.timer_start_ns;
  r->timer_fire_ns = best.timer_fire_ns;
  r->timer_cancel_ns = best.timer_cancel_ns;
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: kuack-bench actors [--actors N] [--messages M] [--timers T] [--json FILE]\n"
          "  --actors N    actors receiving messages (default 10000)\n"
          "  --messages M  messages sent and dispatched (default 10000000)\n"
          "  --timers T    timers started, fired and cancelled (default 100000)\n"
          "  --json FILE   also write the figures as JSON\n");
}

static size_t parse_count(const char *s) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  return *end || v == 0 ? 0 : (size_t)v;
}

int kq_bench_actors(int argc, char **argv) {
  results_t r = {.actors = 10000, .messages = 10000000, .timers = 100000};
  const char *json = NULL;
  static const struct option opts[] = {
      {"actors", required_argument, NULL, 'a'}, {"messages", required_argument, NULL, 'm'},
      {"timers", required_argument, NULL, 't'}, {"json", required_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
  };
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
      case 'a': r.actors = parse_count(optarg); break;
      case 'm': r.messages = parse_count(optarg); break;
      case 't': r.timers = parse_count(optarg); break;
      case 'j': json = optarg; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (!r.actors || !r.messages || !r.timers) {
    usage(stderr);
    return 2;
  }
  cpu_model(r.cpu, sizeof r.cpu);
  r.ncpu = sysconf(_SC_NPROCESSORS_ONLN);

  bench_messages(&r);
  bench_idle_memory(&r);
  bench_timers(&r);

  double load[1] = {0};
  getloadavg(load, 1);
  printf("actor runtime  (%s, %ld CPUs, load average %.2f)\n", r.cpu, r.ncpu, load[0]);
  printf("  %-34s %12s\n", "figure", "value");
  printf("  %-34s %12.1f\n", "send+dispatch ns/message", r.send_dispatch_ns);
  printf("  %-34s %12.1f\n", "  of which send ns/message", r.send_ns);
  printf("  %-34s %12.1f\n", "  of which dispatch ns/message", r.dispatch_ns);
  printf("  %-34s %12.1f\n", "  best round ns/message", r.best_round_ns);
  printf("  %-34s %12.0f\n", "messages/s (one core)", r.msgs_per_sec);
  printf("  %-34s %12.0f\n", "bytes per idle actor", r.idle_actor_bytes);
  printf("  %-34s %12.1f\n", "timer start ns", r.timer_start_ns);
  printf("  %-34s %12.1f\n", "timer fire+deliver ns", r.timer_fire_ns);
  printf("  %-34s %12.1f\n", "timer cancel ns", r.timer_cancel_ns);
  printf("  (%zu actors, %zu messages, %zu timers; timers: best of 5 passes)\n", r.actors, r.messages,
         r.timers);
  printf("  target send+dispatch <= 50 ns: mean %s, best round %s\n",
         r.send_dispatch_ns <= 50.0 ? "met" : "NOT met", r.best_round_ns <= 50.0 ? "met" : "NOT met");

  if (json) {
    FILE *f = fopen(json, "w");
    if (!f) {
      perror(json);
      return 1;
    }
    fprintf(f,
            "{\"bench\":\"actors\",\"cpu\":\"%s\",\"ncpu\":%ld,\"loadavg\":%.2f,\"actors\":%zu,\"messages\":%zu,"
            "\"timers\":%zu,\"send_dispatch_ns\":%.2f,\"send_ns\":%.2f,\"dispatch_ns\":%.2f,"
            "\"best_round_ns\":%.2f,\"messages_per_sec\":%.0f,\"idle_actor_bytes\":%.1f,\"timer_start_ns\":%.2f,"
            "\"timer_fire_ns\":%.2f,\"timer_cancel_ns\":%.2f}\n",
            r.cpu, r.ncpu, load[0], r.actors, r.messages, r.timers, r.send_dispatch_ns, r.send_ns,
            r.dispatch_ns, r.best_round_ns, r.msgs_per_sec, r.idle_actor_bytes, r.timer_start_ns, r.timer_fire_ns,
            r.timer_cancel_ns);
    fclose(f);
  }
  return 0;
}
