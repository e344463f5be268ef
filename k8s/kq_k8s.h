/* Kubernetes API client, object codecs (cJSON stays inside k8s/), kubelet API, manifest source.
 * The object model and codecs are in kq_k8s_types.h. */
#ifndef KQ_K8S_H
#define KQ_K8S_H
#include "kq_k8s_types.h"
#endif
