/* Fuzz target: manifest/index/config parsing and wasm platform selection. */
#include <stddef.h>
#include <stdint.h>

#include "kq_oci_manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kq_oci_manifest_t m;
  char err[256];
  if (kq_oci_manifest_parse((const char *)data, size, "application/vnd.oci.image.manifest.v1+json", &m, err,
                            sizeof err) == 0) {
    if (m.kind == KQ_OCI_DOC_INDEX) kq_oci_index_select_wasm(&m, err, sizeof err);
    kq_oci_manifest_is_wasm_artifact(&m);
    for (size_t i = 0; i < m.nitems; i++) kq_oci_layer_kind(m.items[i].media_type);
    kq_oci_manifest_free(&m);
  }
  kq_oci_config_t c;
  if (kq_oci_config_parse((const char *)data, size, &c, err, sizeof err) == 0) kq_oci_config_free(&c);
  return 0;
}
