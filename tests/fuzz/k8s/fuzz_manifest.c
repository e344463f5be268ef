/* Manifest streams (multi-document YAML / JSON): never crash, never leak, bounded work. */
#include <stdint.h>
#include <stdlib.h>

#include "kq_k8s_types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kq_k8s_doc_t *docs;
  size_t n;
  char *err = NULL;
  kq_k8s_pod_from_yaml_docs((const char *)data, size, &docs, &n, &err);
  for (size_t i = 0; i < n; i++)
    if (docs[i].rc != 0 && !docs[i].error) abort();
  kq_k8s_docs_free(docs, n);
  free(err);
  return 0;
}
