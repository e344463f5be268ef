/* The kubelet API's provider over the node's pod table and log store: a PodList for /pods, reads
 * and follow subscriptions for /containerLogs, with kubelet-like messages for missing pods,
 * containers and previous runs. */
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_kubelet_provider.h"

static char *pods_json(void *ud, size_t *len) {
  kq_kubelet_glue_t *g = ud;
  size_t n = g->table ? kq_podtable_count(g->table) : 0;
  const kq_pod_t **pods = kq_calloc(n ? n : 1, sizeof *pods);
  if (n) n = kq_podtable_list(g->table, pods, n);
  char *json = kq_k8s_podlist_to_json(pods, n, len);
  free(pods);
  return json;
}

/* Finds the stream, checking the pod and container against the table first. */
static int lookup(kq_kubelet_glue_t *g, const kq_kubelet_log_ref_t *ref, kq_logstream_t **out, char **err) {
  *out = NULL;
  if (g->table) {
    const kq_pod_t *p = kq_podtable_find(g->table, ref->ns, ref->pod);
    if (!p) {
      *err = kq_asprintf("pod \"%s\" not found in namespace \"%s\"", ref->pod, ref->ns);
      return KQ_ENOENT;
    }
    bool declared = false;
    for (size_t i = 0; i < p->spec.ncontainers && !declared; i++)
      declared = p->spec.containers[i].name && !strcmp(p->spec.containers[i].name, ref->container);
    if (!declared) {
      *err = kq_asprintf("container \"%s\" is not valid for pod \"%s\"", ref->container, ref->pod);
      return KQ_ENOENT;
    }
  }
  *out = kq_logstore_find(g->logs, ref->ns, ref->pod, ref->container);
  if (!*out) {
    if (!g->table) {
      *err = kq_asprintf("no logs for container \"%s\" in pod \"%s\" (namespace \"%s\")", ref->container,
                         ref->pod, ref->ns);
      return KQ_ENOENT;
    }
    *err = kq_asprintf("container \"%s\" in pod \"%s\" is waiting to start", ref->container, ref->pod);
    return KQ_EAGAIN;
  }
  return KQ_OK;
}

static int logs_read(void *ud, const kq_kubelet_log_ref_t *ref, const kq_kubelet_log_query_t *q, uint64_t from_seq,
                     char **text, size_t *len, uint64_t *next_seq, bool *ended, char **err) {
  kq_kubelet_glue_t *g = ud;
  kq_logstream_t *ls;
  *text = NULL;
  *len = 0;
  *ended = true;
  int rc = lookup(g, ref, &ls, err);
  if (rc != KQ_OK) return rc;
  kq_log_query_t lq = {.previous = q->previous, .timestamps = q->timestamps, .tail_lines = q->tail_lines,
                       .since_wall_ns = q->since_wall_ns, .limit_bytes = q->limit_bytes};
  *text = kq_logstream_read(ls, &lq, from_seq, len, next_seq);
  if (!*text) {
    *err = kq_asprintf("previous terminated container \"%s\" in pod \"%s\" not found", ref->container, ref->pod);
    return KQ_ENOENT;
  }
  *ended = q->previous || kq_logstream_ended(ls);
  return KQ_OK;
}

static int logs_follow(void *ud, const kq_kubelet_log_ref_t *ref, const kq_kubelet_follow_cb_t *cb, uint64_t *sub,
                       char **err) {
  kq_kubelet_glue_t *g = ud;
  kq_logstream_t *ls;
  int rc = lookup(g, ref, &ls, err);
  if (rc != KQ_OK) return rc;
  kq_log_follower_t f = {cb->on_data, cb->on_end, cb->ud};
  *sub = kq_logstream_follow(ls, &f);
  return KQ_OK;
}

static void logs_unfollow(void *ud, uint64_t sub) {
  kq_kubelet_glue_t *g = ud;
  kq_logstore_unfollow(g->logs, sub);
}

void kq_kubelet_provider_init(kq_kubelet_provider_t *vt_out, kq_kubelet_glue_t *glue, kq_podtable_t *table,
                              kq_logstore_t *logs) {
  glue->table = table;
  glue->logs = logs;
  *vt_out = (kq_kubelet_provider_t){.ud = glue, .pods_json = pods_json, .logs_read = logs_read,
                                    .logs_follow = logs_follow, .logs_unfollow = logs_unfollow};
}
