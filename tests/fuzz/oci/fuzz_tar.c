/* Fuzz target: layer extraction (gzip/zstd auto-detected by trying each encoding) into a fresh
 * temporary root; asserts nothing is ever written outside the root. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kq_oci_extract.h"
#include "kq_oci_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char dir[] = "/tmp/kq-fuzz-tar.XXXXXX";
  if (!mkdtemp(dir)) abort();
  char blob[64], root[64], canary[64];
  snprintf(blob, sizeof blob, "%s/blob", dir);
  snprintf(root, sizeof root, "%s/root", dir);
  snprintf(canary, sizeof canary, "%s/evil", dir);
  FILE *f = fopen(blob, "wb");
  if (!f) abort();
  fwrite(data, 1, size, f);
  fclose(f);
  kq_oci_layer_kind_t kinds[] = {KQ_OCI_LAYER_TAR, KQ_OCI_LAYER_TAR_GZIP, KQ_OCI_LAYER_TAR_ZSTD};
  kq_oci_extract_limits_t lim = {.max_bytes = 1 << 20, .max_entries = 256, .max_ratio = 1000};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    kq_oci_rmtree(root);
    mkdirat(AT_FDCWD, root, 0755);
    char err[256];
    kq_oci_extract_layer(blob, kinds[i], root, NULL, &lim, NULL, err, sizeof err);
    if (access(canary, F_OK) == 0) abort();   /* escaped the root */
  }
  kq_oci_rmtree(dir);
  return 0;
}
