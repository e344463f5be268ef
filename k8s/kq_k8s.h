/* Kubernetes API client, object codecs (cJSON stays inside k8s/), kubelet API, manifest source. */
#ifndef KQ_K8S_H
#define KQ_K8S_H
#endif
