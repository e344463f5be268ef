/* kq-gateway-host: the gateway + browser plane alone on one loop, with a counting subscriber, for
 * kuack-swarm measurements until kuack-node embeds the gateway. Prints a status line every
 * --report-ms: registered browsers, process RSS, user+sys CPU seconds.
 *   kq-gateway-host [--port 8080] [--listen 127.0.0.1] [--token T] [--heartbeat-ms 1000]
 *                   [--report-ms 1000] [--agent-root DIR] */
#include <event2/event.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kq_actor.h"
#include "kq_browser.h"
#include "kq_error.h"
#include "kq_gateway.h"
#include "kq_log.h"
#include "kq_metrics.h"

#define EV_ID (KQ_MSG_USER + 1)

static long g_up, g_down;
static int rec_init(kq_actor_t *self, void *st, void *arg) { return 0; }
static void rec_dispatch(kq_actor_t *self, void *st, kq_msg_t *m) {
  if (m->id != EV_ID) return;
  kq_browser_event_msg_t *e = (kq_browser_event_msg_t *)m;
  if (e->kind == KQ_BROWSER_UP) g_up++;
  if (e->kind == KQ_BROWSER_DOWN) g_down++;
}
static const kq_actor_type_t rec_type = {.name = "subscriber", .state_size = 8, .init = rec_init,
                                         .dispatch = rec_dispatch};

typedef struct host {
  struct event_base *base;
  kq_system_t *sys;
  kq_gateway_t *gw;
  bool stopping;
} host_t;

static double rss_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, rss = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
  }
  return (double)rss * (double)sysconf(_SC_PAGESIZE) / 1024.0;
}

static void report_cb(evutil_socket_t fd, short w, void *arg) {
  host_t *h = arg;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6;
  /* kuack.v1 frames the browser actors decoded (get-or-create returns the plane's counters) */
  kq_metrics_t *m = kq_system_metrics(h->sys);
  uint64_t hb = kq_counter_value(kq_metrics_counter(m, "kq_browser_frames_total", "kuack.v1 frames by type",
                                                     "dir=\"in\",type=\"heartbeat\""));
  uint64_t in = kq_counter_value(kq_metrics_counter(m, "kq_gateway_frames_total", "WebSocket messages", "dir=\"in\""));
  /* malloc's view: bytes in use and free bytes it holds (holes the RSS still counts) */
  struct mallinfo2 mi = mallinfo2();
  printf("status connections=%zu up=%ld down=%ld rss_kb=%.0f cpu_s=%.3f frames_in=%llu heartbeats=%llu "
         "heap_used_kb=%zu heap_free_kb=%zu\n",
         h->gw ? kq_gateway_connections(h->gw) : 0, g_up, g_down, rss_kb(), cpu, (unsigned long long)in,
         (unsigned long long)hb, (mi.uordblks + mi.hblkhd) / 1024, mi.fordblks / 1024);
  fflush(stdout);
}

static void idle_cb(kq_system_t *sys, void *ud) { event_base_loopexit(((host_t *)ud)->base, NULL); }
static void closed_cb(kq_gateway_t *gw, void *ud) {
  host_t *h = ud;
  kq_system_shutdown(h->sys, idle_cb, h);
}

static void signal_cb(evutil_socket_t fd, short w, void *arg) {
  host_t *h = arg;
  if (h->stopping) return;
  h->stopping = true;
  kq_gateway_close(h->gw, closed_cb, h);
}

int main(int argc, char **argv) {
  int port = 8080, hb = 1000, report_ms = 1000;
  const char *listen = "127.0.0.1", *token = NULL, *root = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--listen")) listen = argv[i + 1];
    else if (!strcmp(argv[i], "--token")) token = argv[i + 1];
    else if (!strcmp(argv[i], "--heartbeat-ms")) hb = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--report-ms")) report_ms = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--agent-root")) root = argv[i + 1];
    else {
      fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  kq_log_set_level(KQ_LOG_WARN);
  host_t h = {0};
  h.base = event_base_new();
  h.sys = kq_system_new(h.base, NULL);
  kq_browser_config_t cfg = {.token = token, .heartbeat_ms = (uint32_t)hb, .nsubscribers = 1};
  cfg.subscribers[0] = kq_spawn(h.sys, &rec_type, NULL, NULL);
  cfg.subscriber_event_ids[0] = EV_ID;
  kq_browser_plane_t plane;
  if (kq_browser_plane_start(&plane, h.sys, &cfg) != KQ_OK) return 1;
  char page[512], src[512], vendor[512];
  if (root) {
    snprintf(page, sizeof(page), "%s/page", root);
    snprintf(src, sizeof(src), "%s/src", root);
    snprintf(vendor, sizeof(vendor), "%s/node_modules", root);
  }
  kq_gateway_opts_t o = {.listen_addr = listen, .port = port, .page_dir = root ? page : NULL,
                         .agent_dir = root ? src : NULL, .vendor_dir = root ? vendor : NULL,
                         .spawn_session = kq_browser_spawn, .session_ud = &plane};
  int err = 0;
  h.gw = kq_gateway_new(h.sys, &o, &err);
  if (!h.gw) {
    fprintf(stderr, "gateway: %s\n", kq_strerror(err));
    return 1;
  }
  printf("ready port=%d\n", kq_gateway_port(h.gw));
  fflush(stdout);
  struct event *sig1 = evsignal_new(h.base, SIGINT, signal_cb, &h);
  struct event *sig2 = evsignal_new(h.base, SIGTERM, signal_cb, &h);
  struct event *rep = event_new(h.base, -1, EV_PERSIST, report_cb, &h);
  struct timeval tv = {report_ms / 1000, (report_ms % 1000) * 1000};
  event_add(sig1, NULL);
  event_add(sig2, NULL);
  event_add(rep, &tv);
  event_base_dispatch(h.base);
  event_free(sig1);
  event_free(sig2);
  event_free(rep);
  int rc = kq_system_close(h.sys);
  kq_gateway_free(h.gw);
  kq_browser_plane_free(&plane);
  event_base_free(h.base);
  fprintf(stderr, "kq-gateway-host: closed (%s)\n", kq_strerror(rc));
  return rc == KQ_OK ? 0 : 1;
}
