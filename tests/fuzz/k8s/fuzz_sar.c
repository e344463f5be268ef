/* SubjectAccessReview answer decoder (kubelet API authorization): never crashes, never leaks;
 * an unreadable answer always says why and is never an allow. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "kq_error.h"
#include "kubelet_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 64 * 1024) return 0;
  bool allowed = true;
  char *reason = NULL;
  int rc = kq_kubelet_sar_decode((const char *)data, size, &allowed, &reason);
  if (rc != KQ_OK && (allowed || !reason)) abort();
  free(reason);
  return 0;
}
