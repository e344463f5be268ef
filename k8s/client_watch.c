/* The API client's list+watch loops for the Pods bound to the node and for the Node itself:
 * resourceVersion tracking, bookmarks, newline-framed events with a size limit, 410 Gone →
 * relist (published as a SYNC), reconnect with backoff, re-registration if the Node vanishes. */
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_k8s_client_internal.h"
#include "kq_log.h"

#define MAX_LINE (16u << 20) /* one watch event */

void client_watch_start(client_t *c, watch_t *w, bool pods) {
  kq_http_header_t h[2];
  size_t nh = 0;
  const char *auth = kq_k8s_config_auth(c->cfg, kq_now_ns(clk(c)));
  if (auth) h[nh++] = (kq_http_header_t){"Authorization", auth};
  h[nh++] = (kq_http_header_t){"Accept", "application/json"};
  char *url = pods ? kq_asprintf("%s/api/v1/pods?watch=1&fieldSelector=spec.nodeName%%3D%s"
                                 "&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%u",
                                 c->cfg->server, c->node, w->rv, c->watch_timeout_s)
                   : kq_asprintf("%s/api/v1/nodes?watch=1&fieldSelector=metadata.name%%3D%s"
                                 "&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%u",
                                 c->cfg->server, c->node, w->rv, c->watch_timeout_s);
  kq_http_req_t hr = {
      .url = url, .headers = h, .nheaders = nh, .owner = kq_self(c->self),
      .done_id = pods ? K8S_WATCH_DONE : K8S_NWATCH_DONE,
      .chunk_id = pods ? K8S_WATCH_CHUNK : K8S_NWATCH_CHUNK, .tls = &c->cfg->tls,
      /* the server ends the watch after timeoutSeconds; a stream that outlives that by far is
       * dead (half-open connection) and is replaced */
      .timeout_ms = (c->watch_timeout_s + 60) * 1000u,
  };
  w->id = kq_http_start(c->http, &hr);
  w->len = 0;
  w->gone = false;
  c->stats->watches++;
  free(url);
}

static void watch_retry(client_t *c, watch_t *w, bool pods, bool relist, const char *headers) {
  w->id = 0;
  if (relist) w->need_list = true;
  uint64_t d = w->failures ? client_backoff_ns(w->failures - 1, headers) : 0;
  kq_timer_start(c->self, d, 0, pods ? T_WATCH : T_NWATCH);
}

void client_pod_list(client_t *c) {
  c->pw.listing = true;
  c->stats->lists++;
  req_t *r = client_req_new(P_POD_LIST, "GET",
                            kq_asprintf("/api/v1/pods?fieldSelector=spec.nodeName%%3D%s", c->node),
                            NULL, NULL);
  client_enqueue(c, r);
}

void client_node_list(client_t *c) {
  c->nw.listing = true;
  client_enqueue(
      c, client_req_new(P_NODE_LIST, "GET",
                        kq_asprintf("/api/v1/nodes?fieldSelector=metadata.name%%3D%s", c->node),
                        NULL, NULL));
}

static void pod_event_dtor(kq_msg_t *m) {
  kq_k8s_pod_event_msg_t *e = (kq_k8s_pod_event_msg_t *)m;
  kq_pod_clear(&e->pod);
  for (size_t i = 0; i < e->npods; i++) kq_pod_clear(&e->pods[i]);
  free(e->pods);
  free(e->rv);
}

static void node_event_dtor(kq_msg_t *m) { kq_k8s_meta_clear(&((kq_k8s_node_event_msg_t *)m)->meta); }

static void watch_line(client_t *c, watch_t *w, bool pods, const char *line, size_t len) {
  kq_k8s_watch_event_t ev;
  char *err = NULL;
  if (kq_k8s_watch_event_decode(line, len, pods, &ev, &err) != KQ_OK) {
    c->stats->errors++;
    KQ_WARN(COMP, "bad watch event", "err=\"%s\"", err ? err : "?");
    free(err);
    return;
  }
  c->stats->watch_events++;
  if (ev.type == KQ_WE_ERROR) {
    KQ_INFO(COMP, "watch error", "code=%ld msg=\"%s\"", ev.code, ev.message ? ev.message : "");
    if (ev.code == 410) w->gone = true;
    kq_k8s_watch_event_clear(&ev);
    return;
  }
  if (ev.meta.resource_version) {
    free(w->rv);
    w->rv = kq_strdup(ev.meta.resource_version);
  }
  if (ev.type == KQ_WE_BOOKMARK) {
    c->stats->bookmarks++;
  } else if (pods && c->pod_sub) {
    kq_k8s_pod_event_msg_t *m = KQ_MSG_NEW(kq_k8s_pod_event_msg_t, c->pod_event_id);
    m->hdr.dtor = pod_event_dtor;
    m->kind = ev.type == KQ_WE_ADDED ? KQ_K8S_POD_ADDED
              : ev.type == KQ_WE_MODIFIED ? KQ_K8S_POD_MODIFIED : KQ_K8S_POD_DELETED;
    m->pod = ev.pod;
    memset(&ev.pod, 0, sizeof(ev.pod));
    m->rv = kq_strdup(w->rv);
    kq_tell(c->self, c->pod_sub, &m->hdr);
  } else if (!pods) {
    if (ev.type == KQ_WE_DELETED && c->register_node && c->have_state) {
      c->node_created = false; /* somebody deleted us: register again */
      c->status_dirty = true;
      client_node_kick(c);
    }
    if (c->node_sub) {
      kq_k8s_node_event_msg_t *m = KQ_MSG_NEW(kq_k8s_node_event_msg_t, c->node_event_id);
      m->hdr.dtor = node_event_dtor;
      m->meta = ev.meta;
      memset(&ev.meta, 0, sizeof(ev.meta));
      m->deleted = ev.type == KQ_WE_DELETED;
      kq_tell(c->self, c->node_sub, &m->hdr);
    }
  }
  kq_k8s_watch_event_clear(&ev);
}

void client_watch_chunk(client_t *c, watch_t *w, bool pods, kq_http_chunk_t *ch) {
  if (ch->req != w->id || ch->status != 200) return;
  w->failures = 0; /* the server answers: the next failure backs off from the start */
  if (w->len + ch->len + 1 > w->cap) {
    if (w->len + ch->len + 1 > MAX_LINE) {
      KQ_WARN(COMP, "watch event too large, restarting the watch", "bytes=%zu", w->len + ch->len);
      kq_http_cancel(c->http, w->id);
      w->len = 0;
      c->stats->errors++;
      watch_retry(c, w, pods, true, NULL);
      return;
    }
    w->cap = (w->len + ch->len + 1) * 2;
    w->buf = kq_realloc(w->buf, w->cap);
  }
  memcpy(w->buf + w->len, ch->data, ch->len);
  w->len += ch->len;
  size_t start = 0;
  for (size_t i = 0; i < w->len; i++) {
    if (w->buf[i] != '\n') continue;
    if (i > start) watch_line(c, w, pods, w->buf + start, i - start);
    start = i + 1;
  }
  memmove(w->buf, w->buf + start, w->len - start);
  w->len -= start;
}

void client_watch_done(client_t *c, watch_t *w, bool pods, kq_http_resp_t *r) {
  if (r->req != w->id) return;
  w->id = 0;
  if (r->rc == KQ_OK && r->status == 200 && !w->gone) {
    w->failures = 0; /* server-side timeout: resume from the last resourceVersion */
    client_watch_start(c, w, pods);
    return;
  }
  if (r->rc == KQ_OK && r->status == 401) c->cfg->token_read_ns = 0; /* rotated token: re-read */
  bool gone = w->gone || r->status == 410;
  if (gone) {
    c->stats->relists++;
    KQ_INFO(COMP, "watch expired (410 Gone): relisting", "kind=%s", pods ? "pods" : "node");
  } else {
    w->failures++;
    c->stats->errors++;
    KQ_WARN(COMP, "watch failed, reconnecting", "kind=%s rc=%s status=%ld err=\"%s\"",
            pods ? "pods" : "node", kq_errname(r->rc), r->status, r->error ? r->error : "");
  }
  watch_retry(c, w, pods, gone || w->failures > 3, r->rc == KQ_OK ? r->headers : NULL);
}

/* ---- responses ---- */

static void on_pod_list(client_t *c, kq_http_resp_t *resp, bool relist) {
  kq_pod_t *pods;
  size_t n, bad;
  char *rv, *err = NULL;
  if (kq_k8s_pod_list_decode(resp->body, resp->body_len, &pods, &n, &rv, &bad, &err) != KQ_OK ||
      !rv) {
    KQ_WARN(COMP, "pod list unreadable", "err=\"%s\"", err ? err : "no resourceVersion");
    free(err);
    for (size_t i = 0; i < n; i++) kq_pod_clear(&pods[i]);
    free(pods);
    free(rv);
    c->pw.failures++;
    watch_retry(c, &c->pw, true, true, NULL);
    return;
  }
  if (bad) KQ_WARN(COMP, "pods skipped: undecodable", "count=%zu", bad);
  free(c->pw.rv);
  c->pw.rv = rv;
  c->pw.need_list = false;
  c->pw.failures = 0;
  if (c->pod_sub) {
    kq_k8s_pod_event_msg_t *m = KQ_MSG_NEW(kq_k8s_pod_event_msg_t, c->pod_event_id);
    m->hdr.dtor = pod_event_dtor;
    m->kind = KQ_K8S_POD_SYNC;
    m->pods = pods;
    m->npods = n;
    m->relist = relist;
    m->rv = kq_strdup(rv);
    kq_tell(c->self, c->pod_sub, &m->hdr);
  } else {
    for (size_t i = 0; i < n; i++) kq_pod_clear(&pods[i]);
    free(pods);
  }
  client_watch_start(c, &c->pw, true);
}

static void on_node_list(client_t *c, kq_http_resp_t *resp) {
  kq_k8s_meta_t meta;
  char *rv;
  int rc = kq_k8s_node_list_decode(resp->body, resp->body_len, &meta, &rv);
  if (!rv) {
    kq_k8s_meta_clear(&meta);
    c->nw.failures++;
    watch_retry(c, &c->nw, false, true, NULL);
    return;
  }
  free(c->nw.rv);
  c->nw.rv = rv;
  c->nw.need_list = false;
  c->nw.failures = 0;
  if (rc == KQ_OK && c->node_sub) {
    kq_k8s_node_event_msg_t *m = KQ_MSG_NEW(kq_k8s_node_event_msg_t, c->node_event_id);
    m->hdr.dtor = node_event_dtor;
    m->meta = meta;
    kq_tell(c->self, c->node_sub, &m->hdr);
  } else {
    kq_k8s_meta_clear(&meta);
  }
  client_watch_start(c, &c->nw, false);
}

void client_pod_list_done(client_t *c, kq_http_resp_t *resp, int rc) {
  if (rc == KQ_OK) {
    bool relist = c->pw.rv != NULL;
    c->pw.listing = false;
    on_pod_list(c, resp, relist);
  } else {
    c->pw.listing = false;
    c->pw.failures++;
    watch_retry(c, &c->pw, true, true, NULL);
  }
}

void client_node_list_done(client_t *c, kq_http_resp_t *resp, int rc) {
  c->nw.listing = false;
  if (rc == KQ_OK) on_node_list(c, resp);
  else {
    c->nw.failures++;
    watch_retry(c, &c->nw, false, true, NULL);
  }
}
