/* Pod JSON decoder: anything decodes or fails cleanly; what decodes re-renders, decodes again
 * to the same rendering, and copies/patches without leaks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kq_k8s_types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kq_pod_t p;
  char *err = NULL;
  if (kq_k8s_pod_from_json((const char *)data, size, &p, &err) != 0) {
    if (!err) abort(); /* every failure explains itself */
    free(err);
    return 0;
  }
  size_t l1;
  char *j1 = kq_k8s_pod_to_json(&p, &l1);
  kq_pod_t q;
  if (kq_k8s_pod_from_json(j1, l1, &q, NULL) != 0) abort();
  char *j2 = kq_k8s_pod_to_json(&q, NULL);
  if (strcmp(j1, j2) != 0) abort();
  kq_pod_t r;
  kq_pod_copy(&r, &q);
  free(kq_k8s_pod_status_patch(&r.status, NULL));
  char *why = NULL;
  if (kq_k8s_pod_check_supported(&r, &why) != 0) free(why);
  free(j1);
  free(j2);
  kq_pod_clear(&p);
  kq_pod_clear(&q);
  kq_pod_clear(&r);
  return 0;
}
