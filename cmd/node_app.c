/* kuack-node's life cycle: start the services and actors on one event_base, stop them on
 * SIGINT/SIGTERM, let the actor system drain asynchronously, then free everything so ASan sees
 * no leak. Components start in dependency order and are freed in reverse. */
#include "node_app.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_gateway.h"
#include "kq_http.h"
#include "kq_image.h"
#include "kq_k8s_bridge.h"
#include "kq_k8s_config.h"
#include "kq_kubelet.h"
#include "kq_kubelet_provider.h"
#include "kq_manifests.h"
#include "kq_oci_store.h"
#include "kq_pool.h"
#include "kq_scheduler.h"

static void on_idle(kq_system_t *sys, void *ud) {
  node_app_t *app = ud;
  (void)sys;
  KQ_INFO("node", "drained", NULL);
  event_base_loopexit(app->base, NULL);
}

void node_app_stop(node_app_t *app) {
  if (app->stopping) return;
  app->stopping = true;
  /* The kubelet API closes synchronously (follow streams end); the actors then drain. */
  kq_kubelet_free(app->kubelet);
  app->kubelet = NULL;
  kq_system_shutdown(app->sys, on_idle, app);
}

static void on_signal(evutil_socket_t sig, short what, void *ud) {
  node_app_t *app = ud;
  (void)what;
  if (app->stopping) {
    KQ_WARN("node", "second signal, exiting without drain", "signal=%d", (int)sig);
    app->exit_code = 1;
    event_base_loopexit(app->base, NULL);
    return;
  }
  KQ_INFO("node", "shutting down", "signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
  node_app_stop(app);
}

/* Registry-proxy URLs for a run: valid for a day (runs are re-signed on every attempt). */
static char *artefact_url(void *ud, const char *run_id, const char *digest, const char *file) {
  node_app_t *app = ud;
  return kq_proxy_sign(&app->proxy_key, run_id, digest, file, (int64_t)time(NULL) + 86400);
}

static int resolve_artefact(void *ud, const char *digest, const char *file, const char *query,
                            char *path, size_t cap) {
  node_app_t *app = ud;
  char *target = kq_asprintf("%s%s/%s?%s", KQ_PROXY_PREFIX, digest, file, query ? query : "");
  kq_proxy_req_t req;
  kq_proxy_verdict_t v = kq_proxy_verify(&app->proxy_key, target, (int64_t)time(NULL), &req);
  free(target);
  if (v != KQ_PROXY_OK) {
    KQ_WARN("proxy", "refused", "digest=%s file=%s verdict=%s", digest, file, kq_proxy_verdict_str(v));
    return v == KQ_PROXY_MALFORMED ? KQ_EINVAL : KQ_EAUTH;
  }
  uint64_t size;
  const char *mime;
  return kq_proxy_resolve(app->store, req.digest, req.file, path, cap, &size, &mime);
}

static int start_services(node_app_t *app) {
  const node_config_t *c = &app->cfg;
  app->logs = kq_logstore_new(1 << 20);
  app->table = kq_podtable_new();
  if (kq_proxy_key_random(&app->proxy_key) != KQ_OK) return KQ_EIO;
  app->http = kq_http_new(app->sys);
  app->pool = kq_pool_new(app->sys, 2);
  int err = KQ_OK;
  app->store = kq_oci_store_open(c->cache_dir, c->cache_max_bytes, &err);
  if (!app->store) {
    KQ_ERROR("node", "cannot open the cache", "dir=%s err=%s", c->cache_dir, kq_strerror(err));
    return err ? err : KQ_EIO;
  }
  size_t ninsecure = 0;
  while (c->insecure[ninsecure]) ninsecure++;
  kq_image_service_opts_t io = {.http = app->http, .pool = app->pool, .store = app->store,
                                .insecure = c->insecure, .ninsecure = ninsecure};
  app->images = kq_image_service_new(app->sys, &io);
  return app->images ? KQ_OK : KQ_ENOMEM;
}

static int start_actors(node_app_t *app) {
  const node_config_t *c = &app->cfg;
  int err = KQ_OK;
  kq_sched_config_t sc = {.policy = c->policy, .params = c->params.n ? &c->params : NULL};
  app->scheduler = kq_scheduler_spawn(app->sys, &sc, &err);
  if (app->scheduler == KQ_AID_NONE) {
    char names[256];
    KQ_ERROR("node", "cannot start the scheduler", "policy=%s err=%s known=\"%s\"",
             c->policy ? c->policy : KQ_POLICY_DEFAULT, kq_strerror(err), kq_policy_names(names, sizeof names));
    return err ? err : KQ_EINVAL;
  }
  kq_node_config_t nc = {
      .node_name = c->node_name,
      .scheduler = app->scheduler,
      .images = app->images,
      .logs = app->logs,
      .table = app->table,
      .artefact_url = artefact_url,
      .artefact_url_ud = app,
      .out = stdout,
  };
  app->node = kq_node_spawn(app->sys, &nc, &err);
  if (app->node == KQ_AID_NONE) return err ? err : KQ_EINVAL;
  app->bcfg = (kq_browser_config_t){
      .token = c->token,
      .heartbeat_ms = c->heartbeat_ms,
      .resume_window_ms = c->resume_window_ms,
      .nsubscribers = 2,
      .subscribers = {app->scheduler, app->node},
      .subscriber_event_ids = {KQ_SCHED_MSG_BROWSER_EVENT, KQ_NODE_MSG_BROWSER_EVENT},
  };
  int rc = kq_browser_plane_start(&app->plane, app->sys, &app->bcfg);
  if (rc != KQ_OK) return rc;
  app->plane_started = true;
  return KQ_OK;
}

static int start_gateway(node_app_t *app) {
  const node_config_t *c = &app->cfg;
  char page[4096], src[4096], vendor[4096];
  snprintf(page, sizeof page, "%s/page", c->agent_root);
  snprintf(src, sizeof src, "%s/src", c->agent_root);
  snprintf(vendor, sizeof vendor, "%s/node_modules", c->agent_root);
  kq_gateway_opts_t o = {
      .listen_addr = c->listen_addr,
      .port = c->listen_port,
      .page_dir = page,
      .agent_dir = src,
      .vendor_dir = vendor,
      .allowed_origins = c->origins[0] ? c->origins : NULL,
      .tls_cert = c->tls_cert,
      .tls_key = c->tls_key,
      .spawn_session = kq_browser_spawn,
      .session_ud = &app->plane,
      .resolve = resolve_artefact,
      .resolve_ud = app,
  };
  int err = KQ_OK;
  app->gateway = kq_gateway_new(app->sys, &o, &err);
  if (!app->gateway) {
    KQ_ERROR("node", "cannot start the agent gateway", "listen=%s:%d err=%s",
             c->listen_addr ? c->listen_addr : "0.0.0.0", c->listen_port, kq_strerror(err));
    return err ? err : KQ_EIO;
  }
  KQ_INFO("node", "agent gateway listening", "url=http%s://%s:%d/", c->tls_cert ? "s" : "",
          c->listen_addr ? c->listen_addr : "0.0.0.0", kq_gateway_port(app->gateway));
  return KQ_OK;
}

/* Pod sources and the kubelet API (standalone directory, Kubernetes watch). */
static void on_manifest_error(void *ud, const char *file, const char *message) {
  (void)ud;
  (void)file;
  fprintf(stdout, "manifest error: %s\n", message);
  fflush(stdout);
}

/* node.yaml's placement annotations (standalone): the scheduler applies or refuses (WARN log). */
static void on_manifest_node(void *ud, const char *policy, const kq_k8s_param_t *kv, size_t n) {
  node_app_t *app = ud;
  kq_policy_params_t pp = {0};
  for (size_t i = 0; i < n; i++)
    if (kq_policy_params_add(&pp, kv[i].key, kv[i].value) != KQ_OK) {
      KQ_WARN("node", "placement policy change refused", "requested=%s error=\"invalid placement "
              "param %s\"", policy, kv[i].key);
      return;
    }
  kq_send(app->sys, app->scheduler, &kq_sched_set_policy_msg_new(policy, &pp)->hdr);
}

static int start_sources(node_app_t *app) {
  const node_config_t *c = &app->cfg;
  if (c->standalone_dir) {
    kq_manifests_opts_t mo = {.dir = c->standalone_dir, .node_name = c->node_name, .target = app->node,
                              .on_error = on_manifest_error, .on_error_ud = app,
                              .on_node = on_manifest_node, .on_node_ud = app};
    char *why = NULL;
    app->manifests = kq_manifests_spawn(app->sys, &mo, &why);
    if (app->manifests == KQ_AID_NONE) {
      KQ_ERROR("node", "cannot watch the manifest directory", "reason=\"%s\"", why ? why : "?");
      free(why);
      return KQ_EINVAL;
    }
    KQ_INFO("node", "standalone", "dir=%s", c->standalone_dir);
  } else if (c->kubernetes) {
    char *why = NULL;
    app->cfg.k8s = KQ_NEW(kq_k8s_config_t);
    int rc = kq_k8s_config_auto(c->kubeconfig, c->kube_context, app->cfg.k8s, &why);
    if (rc != KQ_OK) {
      KQ_ERROR("node", "no Kubernetes configuration", "err=%s reason=\"%s\"", kq_strerror(rc), why ? why : "?");
      free(why);
      return rc;
    }
    kq_k8s_bridge_opts_t bo = {
        .config = app->cfg.k8s,
        .http = app->http,
        .node_name = c->node_name,
        .node = app->node,
        .scheduler = app->scheduler,
        .internal_ip = c->node_ip,
        .kubelet_port = app->kubelet ? (int32_t)kq_kubelet_port(app->kubelet) : 0,
        .no_browsers_taint = !c->no_browsers_taint_off,
    };
    int err = KQ_OK;
    if (kq_k8s_bridge_spawn(app->sys, &bo, &err) == KQ_AID_NONE) {
      KQ_ERROR("node", "cannot start the Kubernetes client", "err=%s", kq_strerror(err));
      return err ? err : KQ_EINVAL;
    }
    if (app->kubelet) { /* kubelet API callers are authorized by SubjectAccessReview (k8s/kubelet_authz.c) */
      kq_kubelet_authz_opts_t ao = {.config = app->cfg.k8s, .http = app->http, .node_name = c->node_name};
      if ((err = kq_kubelet_set_authz(app->kubelet, &ao)) != KQ_OK) {
        KQ_ERROR("node", "cannot start kubelet API authorization", "err=%s", kq_strerror(err));
        return err;
      }
    }
    KQ_INFO("node", "kubernetes", "server=%s context=%s node=%s", app->cfg.k8s->server,
            app->cfg.k8s->context ? app->cfg.k8s->context : "-", c->node_name);
  } else {
    KQ_WARN("node", "no Pod source", "hint=\"use --standalone DIR\"");
  }
  return KQ_OK;
}

static void free_sources(node_app_t *app) {
  kq_kubelet_free(app->kubelet);
  app->kubelet = NULL;
  if (app->cfg.k8s) {
    /* The system has drained; unless told to keep it, the Node goes with us (after a clean run). */
    if (app->stopping && !app->cfg.keep_node && app->cfg.k8s->server && !app->exit_code)
      kq_k8s_bridge_delete_node(app->base, app->cfg.k8s, app->cfg.node_name, KQ_SEC(10));
    kq_k8s_config_clear(app->cfg.k8s);
    free(app->cfg.k8s);
    app->cfg.k8s = NULL;
  }
}

/* The status/log API: plain HTTP in standalone mode, TLS with client certificates otherwise. */
static int start_kubelet(node_app_t *app) {
  const node_config_t *c = &app->cfg;
  if (c->kubelet_port < 0) return KQ_OK;
  if (!c->standalone_dir && !c->client_ca) {
    /* Outside standalone mode the API serves only authenticated callers (the API server). */
    KQ_WARN("node", "kubelet API off", "reason=\"needs --client-ca-file outside --standalone mode\"");
    return KQ_OK;
  }
  kq_kubelet_provider_init(&app->kubelet_vt, &app->kubelet_glue, app->table, app->logs);
  kq_kubelet_opts_t ko = {
      .address = c->kubelet_addr,
      .port = (uint16_t)c->kubelet_port,
      .tls = !c->standalone_dir,
      .cert_file = c->kubelet_cert,
      .key_file = c->kubelet_key,
      .client_ca_file = c->client_ca,
      .hostname = c->node_name,
  };
  int err = KQ_OK;
  char *why = NULL;
  app->kubelet = kq_kubelet_new(app->sys, &ko, &app->kubelet_vt, &err, &why);
  if (!app->kubelet) {
    KQ_ERROR("node", "cannot start the kubelet API", "listen=%s:%d err=%s reason=\"%s\"",
             c->kubelet_addr ? c->kubelet_addr : "0.0.0.0", c->kubelet_port, kq_strerror(err), why ? why : "");
    free(why);
    return err ? err : KQ_EIO;
  }
  KQ_INFO("node", "kubelet API listening", "url=http%s://%s:%u/", ko.tls ? "s" : "",
          c->kubelet_addr ? c->kubelet_addr : "0.0.0.0", (unsigned)kq_kubelet_port(app->kubelet));
  return KQ_OK;
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
  int rc;
  if ((rc = start_services(app)) != KQ_OK) return rc;
  if ((rc = start_actors(app)) != KQ_OK) return rc;
  if ((rc = start_gateway(app)) != KQ_OK) return rc;
  if ((rc = start_kubelet(app)) != KQ_OK) return rc;
  if ((rc = start_sources(app)) != KQ_OK) return rc;
  return KQ_OK;
}

int node_app_run(node_app_t *app) {
  KQ_INFO("node", "ready", "node=%s", app->cfg.node_name);
  if (event_base_dispatch(app->base) < 0) {
    KQ_ERROR("node", "event loop failed", NULL);
    return 1;
  }
  return app->exit_code;
}

/* After a failed start the system still holds actors: shut it down and run the loop until it
 * drains so everything is released. */
static void drain(node_app_t *app) {
  if (!app->sys || kq_system_idle(app->sys)) return;
  node_app_stop(app);
  event_base_dispatch(app->base);
}

void node_app_free(node_app_t *app) {
  drain(app);
  free_sources(app);
  if (app->gateway) kq_gateway_free(app->gateway);
  if (app->plane_started) kq_browser_plane_free(&app->plane);
  if (app->images) kq_image_service_free(app->images);
  if (app->pool) kq_pool_free(app->pool);
  if (app->http) kq_http_free(app->http);
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
  if (app->store) kq_oci_store_close(app->store);
  kq_logstore_free(app->logs);
  kq_podtable_free(app->table);
  if (app->base) event_base_free(app->base);
  int code = app->exit_code;
  memset(app, 0, sizeof *app);
  app->exit_code = code;
}
