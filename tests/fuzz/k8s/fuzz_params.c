/* Placement parameters (the kuack.io/placement-params annotation, read from the Node object the
 * API server sends, or from node.yaml) and the YAML → JSON reader behind node.yaml: never crash,
 * never leak; a failure always says why; a success never exceeds the entry bound. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kq_error.h"
#include "kq_k8s_internal.h"
#include "kq_k8s_params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 64 * 1024) return 0;
  char *s = malloc(size + 1);
  memcpy(s, data, size);
  s[size] = '\0';
  kq_k8s_param_t *kv = NULL;
  size_t n = 0;
  char *err = NULL;
  int rc = kq_k8s_parse_params(s, 8, &kv, &n, &err);
  if (rc == KQ_OK) {
    if (n > 8 || err) abort();
    for (size_t i = 0; i < n; i++)
      if (!kv[i].key) abort();
    kq_k8s_params_free(kv, n);
  } else {
    if (!err) abort();
    free(err);
  }
  err = NULL;
  cJSON *root = kq_k8s_yaml_to_json(s, size, &err);
  if (!root && !err) abort();
  cJSON_Delete(root);
  free(err);
  free(s);
  return 0;
}
