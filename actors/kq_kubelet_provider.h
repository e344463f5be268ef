/* Glue between the kubelet API server (k8s/kq_kubelet.h) and the node's data: /pods renders the
 * node's pod table, /containerLogs reads and follows the log store. Loop thread only. */
#ifndef KQ_KUBELET_PROVIDER_H
#define KQ_KUBELET_PROVIDER_H
#include "kq_kubelet.h"
#include "kq_logstore.h"
#include "kq_node.h"

/* The glue's context, caller-owned (embed it next to the server; no allocation). */
typedef struct kq_kubelet_glue {
  kq_podtable_t *table;   /* borrowed; may be NULL */
  kq_logstore_t *logs;    /* borrowed */
} kq_kubelet_glue_t;

/* Fills *vt_out with functions over `table` and `logs`, keeping them in *glue (all borrowed; they
 * must outlive the server that uses the vtable). `table` may be NULL: /pods is then an empty
 * PodList and logs are looked up in the store only. With a table, a log request for a pod it does
 * not hold, or for a container the pod does not declare, is KQ_ENOENT (404); a declared container
 * with no log yet is KQ_EAGAIN (400, "waiting to start"); `previous` with no previous run is
 * KQ_ENOENT (404). Errors carry a kubelet-like message. */
void kq_kubelet_provider_init(kq_kubelet_provider_t *vt_out, kq_kubelet_glue_t *glue, kq_podtable_t *table,
                              kq_logstore_t *logs);

#endif
