/* Safe layer extraction (libarchive) into a staging root, and entry detection (what to run).
 * Extraction refuses absolute paths, "..", writing through symlinks, links escaping the root,
 * devices, fifos and sockets; it caps total bytes, entry count and the compression ratio.
 * Blocking: run it on the worker pool. */
#ifndef KQ_OCI_EXTRACT_H
#define KQ_OCI_EXTRACT_H
#include <stddef.h>
#include <stdint.h>

#include "kq_oci_manifest.h"
#include "kq_oci_store.h"

typedef struct kq_oci_extract_limits {
  uint64_t max_bytes;     /* total extracted bytes over all layers; 0 = 2 GiB */
  uint32_t max_entries;   /* 0 = 200000 */
  uint32_t max_ratio;     /* extracted / compressed, checked past 4 MiB; 0 = 200 */
} kq_oci_extract_limits_t;

/* Extracts one layer blob at `blob_path` of encoding `kind` into `root` (an existing directory).
 * Layers applied in order honour whiteouts (".wh.<name>", ".wh..wh..opq"). A raw wasm layer is
 * written as `raw_name` (default "module.wasm"). `*written` accumulates across layers.
 * Returns KQ_OK, KQ_ESECURITY (hostile entry), KQ_ETOOBIG (a cap), KQ_EPARSE (corrupt archive),
 * KQ_ENOTSUP (unknown encoding) or KQ_EIO, with a message in `err`. */
int kq_oci_extract_layer(const char *blob_path, kq_oci_layer_kind_t kind, const char *root,
                         const char *raw_name, const kq_oci_extract_limits_t *lim, uint64_t *written,
                         char *err, size_t errlen);

/* Decides what to run from an extracted `root`:
 *   1. overrides (Pod annotations kuack.io/wasm-type "wasi"|"bindgen", kuack.io/wasm-path);
 *   2. pkg/package.json (or ./package.json) "module"/"main" → JS glue + its *_bg.wasm;
 *   3. config Entrypoint[0] (else Cmd[0]) naming a .wasm present in root;
 *   4. a single .wasm in the tree;
 *   5. output.wasm, out.wasm (container2wasm), main.wasm, <ref basename>.wasm at the root.
 * Fills out->kind/module/glue. KQ_OK, or KQ_ENOENT (nothing found) / KQ_EBUSY (ambiguous) /
 * KQ_EINVAL (bad override) with a message naming the candidates. `cfg` and strings may be NULL. */
int kq_oci_detect_entry(const char *root, const kq_oci_config_t *cfg, const char *type_override,
                        const char *path_override, const char *ref_basename, kq_oci_artefact_t *out,
                        char *err, size_t errlen);

#endif
