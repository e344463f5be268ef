/* The browser plane's shared parts: start/free (directory actor, metrics, resolved config), the
 * id generator and the deadline table that browser actors fill and the directory sweeps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "browser_internal.h"
#include "kq_alloc.h"
#include "kq_error.h"

static uint64_t next_rand(plane_priv_t *pp) {
  uint64_t x = pp->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  pp->rng = x;
  return x * 0x2545F4914F6CDD1Dull;
}

void bids_session(plane_priv_t *pp, char out[BID_SESSION_LEN + 1]) {
  uint64_t a = next_rand(pp), b = next_rand(pp);
  snprintf(out, BID_SESSION_LEN + 1, "s-%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

void bids_browser(plane_priv_t *pp, char out[BID_BROWSER_LEN + 1]) {
  uint64_t r = next_rand(pp) & 0xffff;
  snprintf(out, BID_BROWSER_LEN + 1, "b-%04llx%04llx", (unsigned long long)r, (unsigned long long)(++pp->seq & 0xffff));
}

/* ---- the deadline table ---- */

uint32_t bsweep_add(plane_priv_t *pp, kq_aid_t aid, uint64_t due_ns) {
  uint32_t i;
  if (pp->free_sweep) {
    i = pp->free_sweep - 1;
    pp->free_sweep = (uint32_t)pp->sweep[i].due_ns;
  } else {
    if (pp->nsweep == pp->capsweep) {
      pp->capsweep = pp->capsweep ? pp->capsweep * 2 : 256;
      pp->sweep = kq_realloc(pp->sweep, pp->capsweep * sizeof(*pp->sweep));
    }
    i = pp->nsweep++;
  }
  pp->sweep[i] = (sweep_entry_t){aid, due_ns};
  return i;
}

void bsweep_del(plane_priv_t *pp, uint32_t slot) {
  pp->sweep[slot] = (sweep_entry_t){KQ_AID_NONE, pp->free_sweep};
  pp->free_sweep = slot + 1;
}

/* ---- the plane ---- */

#define TYPE_LABELS(dir)                                                                              \
  {NULL,                       "dir=\"" dir "\",type=\"hello\"", "dir=\"" dir "\",type=\"welcome\"",  \
   "dir=\"" dir "\",type=\"heartbeat\"", "dir=\"" dir "\",type=\"ping\"", "dir=\"" dir "\",type=\"pong\"", \
   "dir=\"" dir "\",type=\"run\"", "dir=\"" dir "\",type=\"status\"", "dir=\"" dir "\",type=\"log\"",   \
   "dir=\"" dir "\",type=\"cancel\"", "dir=\"" dir "\",type=\"error\"", "dir=\"" dir "\",type=\"bye\""}
static const char *const in_labels[KQ_PROTO_TYPE_COUNT_] = TYPE_LABELS("in");
static const char *const out_labels[KQ_PROTO_TYPE_COUNT_] = TYPE_LABELS("out");

static void register_metrics(browser_metrics_t *m, kq_metrics_t *r) {
  static const double rtt_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  m->connected = kq_metrics_gauge(r, "kq_browsers_connected", "Browsers registered and connected", NULL);
  m->detached = kq_metrics_gauge(r, "kq_browsers_detached", "Browsers disconnected within their resume window",
                                 NULL);
  for (int t = 1; t < KQ_PROTO_TYPE_COUNT_; t++) {
    m->frames_in[t] = kq_metrics_counter(r, "kq_browser_frames_total", "kuack.v1 frames by type", in_labels[t]);
    m->frames_out[t] = kq_metrics_counter(r, "kq_browser_frames_total", "kuack.v1 frames by type", out_labels[t]);
  }
  m->auth_failures = kq_metrics_counter(r, "kq_browser_auth_failures_total", "hello with a bad token (4003)", NULL);
  m->protocol_errors =
      kq_metrics_counter(r, "kq_browser_protocol_errors_total", "Frames refused by the browser actor", NULL);
  m->heartbeat_timeouts =
      kq_metrics_counter(r, "kq_browser_heartbeat_timeouts_total", "Browsers closed for a missed heartbeat", NULL);
  m->superseded = kq_metrics_counter(r, "kq_browser_superseded_total", "Sessions replaced by a newer one (4001)", NULL);
  m->resumed = kq_metrics_counter(r, "kq_browser_resumed_total", "Sessions resumed within the window", NULL);
  m->lost_runs = kq_metrics_counter(r, "kq_browser_lost_runs_total", "Runs reported lost (NodeLost)", NULL);
  m->foreign_reports = kq_metrics_counter(r, "kq_browser_foreign_reports_total",
                                          "status/log frames for runs the browser does not own", NULL);
  m->rtt = kq_metrics_histogram(r, "kq_browser_rtt_seconds", "Ping round-trip time", NULL, rtt_bounds,
                                KQ_ARRAY_LEN(rtt_bounds));
}

int kq_browser_plane_start(kq_browser_plane_t *p, kq_system_t *sys, const kq_browser_config_t *cfg) {
  static const kq_browser_config_t none;
  if (!cfg) cfg = &none;
  memset(p, 0, sizeof(*p));
  plane_priv_t *pp = KQ_NEW(plane_priv_t);
  kq_browser_config_t *c = &pp->cfg;
  *c = *cfg;
  if (!c->max_cpu_millis) c->max_cpu_millis = 256000;
  if (!c->max_memory_bytes) c->max_memory_bytes = 256ll << 30;
  if (!c->max_pods) c->max_pods = 64;
  if (!c->hello_timeout_ms) c->hello_timeout_ms = 10000;
  if (!c->heartbeat_ms) c->heartbeat_ms = 5000;
  if (!c->heartbeat_deadline_ms) c->heartbeat_deadline_ms = 3 * c->heartbeat_ms;
  if (!c->ping_ms) c->ping_ms = 10000;
  if (!c->tick_ms) c->tick_ms = 2000;
  if (!c->resume_window_ms) c->resume_window_ms = 30000;
  if (!c->max_frame) c->max_frame = KQ_PROTO_DEFAULT_MAX_FRAME;
  if (!c->max_log_chunk) c->max_log_chunk = KQ_PROTO_DEFAULT_MAX_LOG_CHUNK;
  register_metrics(&pp->m, kq_system_metrics(sys));
  if (getrandom(&pp->rng, sizeof(pp->rng), 0) != sizeof(pp->rng) || pp->rng == 0)
    pp->rng = kq_wall_ns(kq_system_clock(sys)) | 1;
  int err = KQ_OK;
  p->directory = kq_spawn(sys, &kq_browser_dir_type, pp, &err);
  if (p->directory == KQ_AID_NONE) {
    free(pp->sweep);
    free(pp);
    return err ? err : KQ_ENOMEM;
  }
  pp->dir = p->directory;
  p->cfg = cfg;
  p->sys = sys;
  p->metrics_ = pp;
  return KQ_OK;
}

void kq_browser_plane_free(kq_browser_plane_t *p) {
  if (!p) return;
  plane_priv_t *pp = p->metrics_;
  if (pp) free(pp->sweep);
  free(pp);
  p->metrics_ = NULL;
}
