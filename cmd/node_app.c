/* kuack-node's life cycle: start components on one event_base, stop them on SIGINT/SIGTERM,
 * let the actor system drain asynchronously, then free everything so ASan sees no leak. */
#include "node_app.h"

#include <event2/event.h>
#include <signal.h>
#include <string.h>

#include "kq_error.h"

/* Components, started in order and stopped in reverse. Later issues add rows here
 * (gateway, k8s client, node actor, ...). */
static const node_component_t components[] = {
    {"actors", NULL, NULL},
};

static void on_idle(kq_system_t *sys, void *ud) {
  node_app_t *app = ud;
  (void)sys;
  KQ_INFO("node", "drained", NULL);
  event_base_loopexit(app->base, NULL);
}

static void stop_components(node_app_t *app) {
  while (app->started > 0) {
    const node_component_t *c = &components[--app->started];
    if (c->stop) c->stop(app);
  }
}

void node_app_stop(node_app_t *app) {
  if (app->stopping) return;
  app->stopping = true;
  stop_components(app);
  kq_system_shutdown(app->sys, on_idle, app);
}

static void on_signal(evutil_socket_t sig, short what, void *ud) {
  node_app_t *app = ud;
  (void)what;
  if (app->stopping) {
    /* A second signal: stop waiting for the drain. */
    KQ_WARN("node", "second signal, exiting without drain", "signal=%d", (int)sig);
    app->exit_code = 1;
    event_base_loopexit(app->base, NULL);
    return;
  }
  KQ_INFO("node", "shutting down", "signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
  node_app_stop(app);
}

int node_app_start(node_app_t *app, const node_config_t *cfg) {
  memset(app, 0, sizeof *app);
  app->cfg = *cfg;
  kq_log_set_level(cfg->log_level);
  app->base = event_base_new();
  if (!app->base) {
    KQ_ERROR("node", "event_base_new failed", NULL);
    return KQ_EIO;
  }
  app->sys = kq_system_new(app->base, NULL);
  signal(SIGPIPE, SIG_IGN);
  app->sig_int = evsignal_new(app->base, SIGINT, on_signal, app);
  app->sig_term = evsignal_new(app->base, SIGTERM, on_signal, app);
  if (!app->sig_int || !app->sig_term || evsignal_add(app->sig_int, NULL) ||
      evsignal_add(app->sig_term, NULL)) {
    KQ_ERROR("node", "cannot install signal handlers", NULL);
    return KQ_EIO;
  }
  for (size_t i = 0; i < sizeof components / sizeof components[0]; i++) {
    const node_component_t *c = &components[i];
    int rc = c->start ? c->start(app) : KQ_OK;
    if (rc != KQ_OK) {
      KQ_ERROR("node", "component failed to start", "component=%s err=%s", c->name,
               kq_strerror(rc));
      stop_components(app);
      return rc;
    }
    app->started++;
  }
  return KQ_OK;
}

int node_app_run(node_app_t *app) {
  KQ_INFO("node", "ready", "components=%u", app->started);
  if (event_base_dispatch(app->base) < 0) {
    KQ_ERROR("node", "event loop failed", NULL);
    return 1;
  }
  return app->exit_code;
}

void node_app_free(node_app_t *app) {
  if (app->sig_int) event_free(app->sig_int);
  if (app->sig_term) event_free(app->sig_term);
  if (app->sys) {
    int rc = kq_system_close(app->sys);
    if (rc != KQ_OK) {
      /* Only after a forced exit: report what is still alive and leave it to the OS. */
      KQ_ERROR("node", "system not drained", "actors=%zu timers=%zu handles=%zu",
               kq_system_actor_count(app->sys), kq_system_timer_count(app->sys),
               kq_system_handle_count(app->sys));
      if (!app->exit_code) app->exit_code = 1;
      return;
    }
  }
  if (app->base) event_base_free(app->base);
  memset(app, 0, sizeof *app);
}
