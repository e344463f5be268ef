/* The node actor (see kq_node.h). Pods are keyed by their source key; a changed manifest
 * replaces its pod (the old one is deleted first, the new one spawned when the old is gone),
 * a removed one is deleted gracefully. Browser events are summed into the node's capacity and
 * announced once per coalescing window. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_clock.h"
#include "kq_log.h"
#include "kq_node.h"

#define NODE_MSGS(X) X(NODE_UNUSED_)
KQ_MSG_IDS(node, NODE_MSGS)

enum { T_COALESCE = 1 };

/* ---- pod table ---- */

typedef struct entry {
  char *key;
  kq_aid_t aid;
  kq_pod_t pod;            /* spec + latest status */
  char *browser_id;
  char *last_line;         /* last printed transition, to print only changes */
  bool deleting;
  kq_pod_t *replacement;   /* a changed manifest waiting for the old pod to go */
} entry_t;

struct kq_podtable {
  entry_t *v;
  size_t n, cap;
};

kq_podtable_t *kq_podtable_new(void) { return KQ_NEW(kq_podtable_t); }

static void entry_clear(entry_t *e) {
  free(e->key);
  kq_pod_clear(&e->pod);
  free(e->browser_id);
  free(e->last_line);
  kq_pod_free(e->replacement);
  memset(e, 0, sizeof *e);
}

void kq_podtable_free(kq_podtable_t *t) {
  if (!t) return;
  for (size_t i = 0; i < t->n; i++) entry_clear(&t->v[i]);
  free(t->v);
  free(t);
}

size_t kq_podtable_count(const kq_podtable_t *t) { return t->n; }

size_t kq_podtable_list(const kq_podtable_t *t, const kq_pod_t **out, size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < t->n && n < max; i++) out[n++] = &t->v[i].pod;
  return n;
}

const kq_pod_t *kq_podtable_find(const kq_podtable_t *t, const char *ns, const char *name) {
  for (size_t i = 0; i < t->n; i++)
    if (!strcmp(kq_pod_namespace(&t->v[i].pod), ns) && t->v[i].pod.meta.name &&
        !strcmp(t->v[i].pod.meta.name, name))
      return &t->v[i].pod;
  return NULL;
}

static entry_t *by_key(kq_podtable_t *t, const char *key) {
  for (size_t i = 0; i < t->n; i++)
    if (!strcmp(t->v[i].key, key)) return &t->v[i];
  return NULL;
}

static entry_t *by_uid(kq_podtable_t *t, const char *uid) {
  for (size_t i = 0; i < t->n; i++)
    if (t->v[i].pod.meta.uid && uid && !strcmp(t->v[i].pod.meta.uid, uid)) return &t->v[i];
  return NULL;
}

static void table_remove(kq_podtable_t *t, entry_t *e) {
  entry_clear(e);
  size_t i = (size_t)(e - t->v);
  memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(entry_t));
  t->n--;
}

static entry_t *table_add(kq_podtable_t *t) {
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 16;
    t->v = kq_realloc(t->v, t->cap * sizeof(entry_t));
  }
  entry_t *e = &t->v[t->n++];
  memset(e, 0, sizeof *e);
  return e;
}

/* ---- actor ---- */

typedef struct browser_cap {
  kq_aid_t aid;
  int64_t cpu, mem;
  uint32_t max_pods;
  bool gpu;
} browser_cap_t;

typedef struct node {
  kq_actor_t *self;
  kq_node_config_t cfg;
  char *node_name;
  browser_cap_t *browsers;
  size_t nbrowsers, capb;
  kq_node_capacity_t announced;
  kq_timer_id_t t_coalesce;
} node_t;

static void out_line(node_t *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_line(node_t *n, const char *fmt, ...) {
  if (!n->cfg.out) return;
  char ts[40];
  kq_rfc3339(kq_wall_ns(kq_system_clock(kq_actor_system(n->self))), false, ts);
  fprintf(n->cfg.out, "%s  ", ts + 11); /* time of day only */
  va_list ap;
  va_start(ap, fmt);
  vfprintf(n->cfg.out, fmt, ap);
  va_end(ap);
  fputc('\n', n->cfg.out);
  fflush(n->cfg.out);
}

static void spawn_pod(node_t *n, entry_t *e) {
  kq_pod_config_t pc = {
      .pod = &e->pod,
      .sink = kq_self(n->self),
      .scheduler = n->cfg.scheduler,
      .images = n->cfg.images,
      .logs = n->cfg.logs,
      .artefact_url = n->cfg.artefact_url,
      .artefact_url_ud = n->cfg.artefact_url_ud,
      .node_name = n->node_name,
      .cache_key = e->key,
      .backoff_base_ns = n->cfg.backoff_base_ns,
      .backoff_max_ns = n->cfg.backoff_max_ns,
      .api = n->cfg.api,
  };
  e->aid = kq_pod_spawn(kq_actor_system(n->self), &pc);
  out_line(n, "pod %s/%s  added (image %s)", kq_pod_namespace(&e->pod), e->pod.meta.name,
           e->pod.spec.ncontainers ? e->pod.spec.containers[0].image : "?");
}

static void delete_pod(node_t *n, entry_t *e, int64_t grace_s) {
  if (e->deleting) return;
  e->deleting = true;
  kq_pod_delete_msg_t *d = KQ_MSG_NEW(kq_pod_delete_msg_t, KQ_POD_MSG_DELETE);
  d->grace_s = grace_s;
  kq_tell(n->self, e->aid, &d->hdr);
  out_line(n, "pod %s/%s  deleting", kq_pod_namespace(&e->pod), e->pod.meta.name);
}

static bool kv_same(const kq_k8s_kv_t *a, size_t na, const kq_k8s_kv_t *b, size_t nb) {
  if (na != nb) return false;
  for (size_t i = 0; i < na; i++)
    if (strcmp(a[i].key ? a[i].key : "", b[i].key ? b[i].key : "") ||
        strcmp(a[i].value ? a[i].value : "", b[i].value ? b[i].value : ""))
      return false;
  return true;
}

/* What a pod actor takes from a newer version (kq_pod_update_msg_t); status changes (our own
 * patches coming back through the watch) are not worth a message. */
static bool changed(const kq_pod_t *cur, const kq_pod_t *newer) {
  return cur->spec.active_deadline_s != newer->spec.active_deadline_s ||
         !kv_same(cur->meta.labels, cur->meta.nlabels, newer->meta.labels, newer->meta.nlabels) ||
         !kv_same(cur->meta.annotations, cur->meta.nannotations, newer->meta.annotations,
                  newer->meta.nannotations);
}

/* A newer version of a live pod: the table keeps its status, the pod actor gets a copy. */
static void update_pod(node_t *n, entry_t *e, kq_pod_t *newer) {
  kq_pod_status_t st = e->pod.status;
  memset(&e->pod.status, 0, sizeof st);
  kq_pod_clear(&e->pod);
  e->pod = *newer; /* taken */
  memset(newer, 0, sizeof *newer);
  kq_pod_status_clear(&e->pod.status);
  e->pod.status = st;
  kq_pod_t copy;
  kq_pod_copy(&copy, &e->pod);
  kq_tell(n->self, e->aid, &kq_pod_update_msg_new(&copy)->hdr);
}

static void on_upsert(node_t *n, kq_node_pod_msg_t *m) {
  entry_t *e = by_key(n->cfg.table, m->key);
  if (e) {
    /* Same uid and only metadata/deletion changes: forward deletion; else replace. */
    bool same_uid = e->pod.meta.uid && m->pod.meta.uid && !strcmp(e->pod.meta.uid, m->pod.meta.uid);
    if (same_uid) {
      if (m->pod.meta.deletion_ns && !e->deleting) delete_pod(n, e, m->pod.meta.deletion_grace_s);
      else if (!e->deleting && changed(&e->pod, &m->pod))
        update_pod(n, e, &m->pod);
      return;
    }
    kq_pod_free(e->replacement);
    e->replacement = kq_malloc(sizeof(kq_pod_t));
    *e->replacement = m->pod;
    memset(&m->pod, 0, sizeof m->pod);
    delete_pod(n, e, 0);
    return;
  }
  e = table_add(n->cfg.table);
  e->key = kq_strdup(m->key);
  e->pod = m->pod;
  memset(&m->pod, 0, sizeof m->pod);
  if (e->pod.meta.deletion_ns) {
    /* Already being deleted when we first saw it: nothing to run. */
    table_remove(n->cfg.table, e);
    return;
  }
  e->pod.status.phase = KQ_PHASE_PENDING;
  spawn_pod(n, e);
}

static void on_remove(node_t *n, const kq_node_remove_msg_t *m) {
  entry_t *e = by_key(n->cfg.table, m->key);
  if (e) delete_pod(n, e, m->grace_s);
}

static void on_status(node_t *n, kq_sink_status_msg_t *s) {
  entry_t *e = by_uid(n->cfg.table, s->uid);
  if (!e) return;
  kq_pod_status_clear(&e->pod.status);
  kq_pod_status_copy(&e->pod.status, &s->status);
  free(e->browser_id);
  e->browser_id = kq_strdup(s->browser_id);
  /* One readable line per transition: phase + container state + reason. */
  const kq_container_status_t *cs = s->status.ncontainer_statuses ? &s->status.container_statuses[0] : NULL;
  char line[1024];
  const char *state = "-";
  const char *reason = NULL;
  char extra[512] = "";
  if (cs) {
    switch (cs->state.kind) {
      case KQ_CSTATE_WAITING: state = "waiting"; reason = cs->state.reason; break;
      case KQ_CSTATE_RUNNING: state = "running"; break;
      case KQ_CSTATE_TERMINATED:
        state = "terminated";
        reason = cs->state.reason;
        snprintf(extra, sizeof extra, " exitCode=%d", cs->state.exit_code);
        break;
      default: break;
    }
    if (cs->restart_count) {
      size_t l = strlen(extra);
      snprintf(extra + l, sizeof extra - l, " restarts=%d", cs->restart_count);
    }
  }
  const char *msg = s->status.message ? s->status.message
                    : (cs && cs->state.message ? cs->state.message : NULL);
  snprintf(line, sizeof line, "%-9s %s%s%s%s%s%s%s", kq_pod_phase_name(s->status.phase), state,
           reason ? " (" : "", reason ? reason : "", reason ? ")" : "", extra,
           s->browser_id ? " on " : "", s->browser_id ? s->browser_id : "");
  if (!e->last_line || strcmp(e->last_line, line)) {
    out_line(n, "pod %s/%s  %s%s%s", s->ns, s->name, line, msg ? "  — " : "", msg ? msg : "");
    free(e->last_line);
    e->last_line = kq_strdup(line);
  }
}

/* Copies of the pod actors' reports for the Kubernetes plane. */
static void up_status(node_t *n, const kq_sink_status_msg_t *s) {
  if (n->cfg.upstream == KQ_AID_NONE) return;
  kq_sink_status_msg_t *c = KQ_MSG_NEW(kq_sink_status_msg_t, KQ_NODE_UP_POD_STATUS);
  c->hdr.dtor = kq_sink_status_msg_dtor;
  c->ns = s->ns ? kq_strdup(s->ns) : NULL;
  c->name = s->name ? kq_strdup(s->name) : NULL;
  c->uid = s->uid ? kq_strdup(s->uid) : NULL;
  c->cache_key = s->cache_key ? kq_strdup(s->cache_key) : NULL;
  kq_pod_status_copy(&c->status, &s->status);
  c->browser_id = s->browser_id ? kq_strdup(s->browser_id) : NULL;
  kq_tell(n->self, n->cfg.upstream, &c->hdr);
}

static void up_event(node_t *n, const kq_sink_event_msg_t *ev) {
  if (n->cfg.upstream == KQ_AID_NONE) return;
  kq_sink_event_msg_t *c = KQ_MSG_NEW(kq_sink_event_msg_t, KQ_NODE_UP_POD_EVENT);
  c->hdr.dtor = kq_sink_event_msg_dtor;
  c->ns = ev->ns ? kq_strdup(ev->ns) : NULL;
  c->name = ev->name ? kq_strdup(ev->name) : NULL;
  c->uid = ev->uid ? kq_strdup(ev->uid) : NULL;
  c->warning = ev->warning;
  c->reason = ev->reason ? kq_strdup(ev->reason) : NULL;
  c->message = ev->message ? kq_strdup(ev->message) : NULL;
  kq_tell(n->self, n->cfg.upstream, &c->hdr);
}

static void up_gone(node_t *n, const kq_sink_gone_msg_t *g) {
  if (n->cfg.upstream == KQ_AID_NONE) return;
  kq_sink_gone_msg_t *c = KQ_MSG_NEW(kq_sink_gone_msg_t, KQ_NODE_UP_POD_GONE);
  c->hdr.dtor = kq_sink_gone_msg_dtor;
  c->ns = g->ns ? kq_strdup(g->ns) : NULL;
  c->name = g->name ? kq_strdup(g->name) : NULL;
  c->uid = g->uid ? kq_strdup(g->uid) : NULL;
  c->cache_key = g->cache_key ? kq_strdup(g->cache_key) : NULL;
  kq_tell(n->self, n->cfg.upstream, &c->hdr);
}

static void on_event(node_t *n, const kq_sink_event_msg_t *ev) {
  if (!strcmp(ev->reason, "Scheduled") || ev->warning)
    out_line(n, "pod %s/%s  %s%s: %s", ev->ns, ev->name, ev->warning ? "Warning " : "", ev->reason, ev->message);
  KQ_INFO("node", "event", "pod=%s/%s type=%s reason=%s message=\"%s\"", ev->ns, ev->name,
          ev->warning ? "Warning" : "Normal", ev->reason, ev->message);
}

static void on_gone(node_t *n, const kq_sink_gone_msg_t *g) {
  entry_t *e = by_uid(n->cfg.table, g->uid);
  if (!e) return;
  out_line(n, "pod %s/%s  deleted", g->ns, g->name);
  if (n->cfg.logs) kq_logstore_drop(n->cfg.logs, g->ns, g->name);
  kq_pod_t *repl = e->replacement;
  e->replacement = NULL;
  char *key = kq_strdup(e->key);
  table_remove(n->cfg.table, e);
  if (repl) {
    entry_t *ne = table_add(n->cfg.table);
    ne->key = key;
    ne->pod = *repl;
    free(repl);
    ne->pod.status.phase = KQ_PHASE_PENDING;
    spawn_pod(n, ne);
  } else {
    free(key);
  }
}

static kq_node_capacity_t sum_capacity(const node_t *n) {
  kq_node_capacity_t c = {0};
  c.browsers = (uint32_t)n->nbrowsers;
  for (size_t i = 0; i < n->nbrowsers; i++) {
    c.cpu_millis += n->browsers[i].cpu;
    c.memory_bytes += n->browsers[i].mem;
    c.pods += n->browsers[i].max_pods ? n->browsers[i].max_pods : 110;
    c.gpus += n->browsers[i].gpu ? 1 : 0;
  }
  return c;
}

/* Field by field: the struct has padding, which memcmp would read uninitialised. */
static bool capacity_equal(const kq_node_capacity_t *a, const kq_node_capacity_t *b) {
  return a->browsers == b->browsers && a->cpu_millis == b->cpu_millis &&
         a->memory_bytes == b->memory_bytes && a->pods == b->pods && a->gpus == b->gpus;
}

static void announce(node_t *n) {
  kq_node_capacity_t c = sum_capacity(n);
  if (capacity_equal(&c, &n->announced)) return;
  n->announced = c;
  out_line(n, "node %s  capacity: %u browser%s, cpu %lldm, memory %lld MiB, pods %u, gpus %u", n->node_name,
           c.browsers, c.browsers == 1 ? "" : "s", (long long)c.cpu_millis,
           (long long)(c.memory_bytes >> 20), c.pods, c.gpus);
  if (n->cfg.upstream != KQ_AID_NONE) {
    kq_node_capacity_msg_t *m = KQ_MSG_NEW(kq_node_capacity_msg_t, KQ_NODE_UP_CAPACITY);
    m->cap = c;
    kq_tell(n->self, n->cfg.upstream, &m->hdr);
  }
}

static void on_browser(node_t *n, const kq_browser_event_msg_t *ev) {
  size_t i = 0;
  while (i < n->nbrowsers && n->browsers[i].aid != ev->info.aid) i++;
  if (ev->kind == KQ_BROWSER_DOWN) {
    if (i < n->nbrowsers) n->browsers[i] = n->browsers[--n->nbrowsers];
  } else {
    if (i == n->nbrowsers) {
      if (n->nbrowsers == n->capb) {
        n->capb = n->capb ? n->capb * 2 : 16;
        n->browsers = kq_realloc(n->browsers, n->capb * sizeof(browser_cap_t));
      }
      n->nbrowsers++;
    }
    n->browsers[i] = (browser_cap_t){ev->info.aid, ev->info.cpu_millis, ev->info.memory_bytes,
                                     ev->info.max_pods, ev->info.gpu == KQ_GPU_REAL};
  }
  if (ev->kind != KQ_BROWSER_CHANGED)
    out_line(n, "browser %s  %s%s%s", ev->info.browser_id ? ev->info.browser_id : "?",
             ev->kind == KQ_BROWSER_UP ? "connected" : "gone", ev->reason ? ": " : "", ev->reason ? ev->reason : "");
  /* Coalesce bursts (10k browsers connecting) into one announcement per window. */
  if (!n->t_coalesce) n->t_coalesce = kq_timer_start(n->self, n->cfg.coalesce_ns, 0, T_COALESCE);
}

static int node_init(kq_actor_t *self, void *state, void *arg) {
  node_t *n = state;
  const kq_node_config_t *cfg = arg;
  if (!cfg->table) return KQ_EINVAL;
  n->self = self;
  n->cfg = *cfg;
  n->node_name = kq_strdup(cfg->node_name ? cfg->node_name : "kuack-node");
  n->cfg.node_name = n->node_name;
  if (!n->cfg.coalesce_ns) n->cfg.coalesce_ns = KQ_SEC(1);
  return KQ_OK;
}

static void node_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  node_t *n = state;
  (void)self;
  switch (m->id) {
    case KQ_MSG_TIMER:
      n->t_coalesce = 0;
      announce(n);
      return;
    case KQ_NODE_MSG_POD_UPSERT: on_upsert(n, (kq_node_pod_msg_t *)m); return;
    case KQ_NODE_MSG_POD_REMOVE: on_remove(n, (const kq_node_remove_msg_t *)m); return;
    case KQ_NODE_MSG_BROWSER_EVENT: on_browser(n, (const kq_browser_event_msg_t *)m); return;
    case KQ_SINK_MSG_POD_STATUS:
      up_status(n, (const kq_sink_status_msg_t *)m);
      on_status(n, (kq_sink_status_msg_t *)m);
      return;
    case KQ_SINK_MSG_POD_EVENT:
      up_event(n, (const kq_sink_event_msg_t *)m);
      on_event(n, (const kq_sink_event_msg_t *)m);
      return;
    case KQ_SINK_MSG_POD_GONE:
      up_gone(n, (const kq_sink_gone_msg_t *)m);
      on_gone(n, (const kq_sink_gone_msg_t *)m);
      return;
    case KQ_NODE_MSG_SET_UPSTREAM: {
      n->cfg.upstream = m->from;
      kq_node_capacity_msg_t *r = KQ_MSG_NEW(kq_node_capacity_msg_t, KQ_NODE_UP_CAPACITY);
      r->cap = n->announced = sum_capacity(n);
      kq_tell(n->self, m->from, &r->hdr);
      return;
    }
    case KQ_NODE_MSG_SET_API:
      n->cfg.api = ((const kq_node_api_msg_t *)m)->api;
      return;
    case KQ_NODE_MSG_CAPACITY_GET: {
      kq_node_capacity_msg_t *r = KQ_MSG_NEW(kq_node_capacity_msg_t, KQ_NODE_UP_CAPACITY);
      r->cap = sum_capacity(n);
      kq_tell(n->self, m->from, &r->hdr);
      return;
    }
    default: return;
  }
}

static void node_stop(kq_actor_t *self, void *state) {
  node_t *n = state;
  (void)self;
  free(n->browsers);
  free(n->node_name);
}

const kq_actor_type_t kq_node_actor_type = {
    .name = "node",
    .state_size = sizeof(node_t),
    .init = node_init,
    .dispatch = node_dispatch,
    .stop = node_stop,
    .msg_names = node_msg_names,
    .msg_count = node_msg_count,
};

kq_aid_t kq_node_spawn(kq_system_t *sys, const kq_node_config_t *cfg, int *err) {
  return kq_spawn(sys, &kq_node_actor_type, (void *)cfg, err);
}

static void pod_msg_dtor(kq_msg_t *m) {
  kq_node_pod_msg_t *p = (kq_node_pod_msg_t *)m;
  free(p->key);
  kq_pod_clear(&p->pod);
}

kq_node_pod_msg_t *kq_node_pod_msg_new(const char *key, kq_pod_t *pod_taken) {
  kq_node_pod_msg_t *m = KQ_MSG_NEW(kq_node_pod_msg_t, KQ_NODE_MSG_POD_UPSERT);
  m->hdr.dtor = pod_msg_dtor;
  m->key = kq_strdup(key);
  m->pod = *pod_taken;
  memset(pod_taken, 0, sizeof *pod_taken);
  return m;
}

static void remove_msg_dtor(kq_msg_t *m) { free(((kq_node_remove_msg_t *)m)->key); }

kq_node_remove_msg_t *kq_node_remove_msg_new(const char *key, int64_t grace_s) {
  kq_node_remove_msg_t *m = KQ_MSG_NEW(kq_node_remove_msg_t, KQ_NODE_MSG_POD_REMOVE);
  m->hdr.dtor = remove_msg_dtor;
  m->key = kq_strdup(key);
  m->grace_s = grace_s;
  return m;
}
