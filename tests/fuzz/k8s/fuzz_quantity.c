/* Quantity parser: never crashes; results are non-negative; failures carry a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kq_k8s_types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 256) return 0;
  char s[257];
  memcpy(s, data, size);
  s[size] = '\0';
  int64_t v;
  char *err = NULL;
  if (kq_k8s_quantity_milli(s, &v, &err) == 0) {
    if (v < 0 || err) abort();
  } else {
    if (!err) abort();
    free(err);
  }
  err = NULL;
  if (kq_k8s_quantity_value(s, &v, &err) == 0) {
    if (v < 0) abort();
    char buf[32];
    int64_t w;
    if (kq_k8s_quantity_value(kq_k8s_quantity_format_bytes(v, buf), &w, NULL) != 0 || w != v) abort();
  } else {
    free(err);
  }
  return 0;
}
