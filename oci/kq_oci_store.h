/* Content-addressed store on disk (--cache-dir, --cache-max-bytes):
 *   <dir>/blobs/sha256/<hex>          raw blobs (layers, configs) — layers shared by images once
 *   <dir>/artefacts/sha256-<hex>/     one extracted image per manifest digest: root/ + meta.json
 *   <dir>/refs/<sha256 of ref text>   "<manifest digest>\n" for IfNotPresent on tags
 *   <dir>/tmp/                        staging; everything lands by rename(2), so a crash leaves
 *                                     no half-written blob or artefact (tmp/ is wiped at open)
 * Least-recently-used blobs and artefacts are evicted past max_bytes, except pinned artefacts
 * (in use by a running Pod). Open re-indexes what is on disk. Safe to call from several threads,
 * but meant for the loop thread; pool jobs only write into tmp/. */
#ifndef KQ_OCI_STORE_H
#define KQ_OCI_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kq_oci_ref.h"

typedef struct kq_oci_store kq_oci_store_t;

typedef enum { KQ_OCI_KIND_NONE = 0, KQ_OCI_KIND_WASI = 1, KQ_OCI_KIND_BINDGEN = 2 } kq_oci_kind_t;

/* What an image resolved to. Paths are relative to the artefact root. */
typedef struct kq_oci_artefact {
  char digest[KQ_OCI_DIGEST_MAX];   /* manifest digest (Pod imageID) */
  kq_oci_kind_t kind;
  char module[1024];                /* the .wasm */
  char glue[1024];                  /* bindgen JS glue, "" for wasi */
  char **entrypoint; size_t nentrypoint;   /* image config, owned */
  char **cmd; size_t ncmd;
  char **env; size_t nenv;
  uint64_t bytes;                   /* extracted size */
  char module_digest[KQ_OCI_DIGEST_MAX];  /* "sha256:<hex>" of the module file ("" if unknown:
                                     * artefacts stored before this field existed) */
  uint64_t module_size;             /* bytes of the module file */
} kq_oci_artefact_t;

void kq_oci_artefact_free(kq_oci_artefact_t *a);          /* frees the vectors, keeps the struct */
void kq_oci_artefact_copy(kq_oci_artefact_t *dst, const kq_oci_artefact_t *src);  /* deep */
const char *kq_oci_kind_str(kq_oci_kind_t k);             /* "wasi" | "bindgen" | "none" */

/* Opens (creating folders) and re-indexes the store; max_bytes 0 = unlimited. Returns owned, or
 * NULL with *err set (KQ_EIO). */
kq_oci_store_t *kq_oci_store_open(const char *dir, uint64_t max_bytes, int *err);
void kq_oci_store_close(kq_oci_store_t *s);
const char *kq_oci_store_dir(const kq_oci_store_t *s);
uint64_t kq_oci_store_bytes(kq_oci_store_t *s);
size_t kq_oci_store_count(kq_oci_store_t *s);   /* blobs + artefacts indexed */

/* Blobs. */
bool kq_oci_store_has_blob(kq_oci_store_t *s, const char *digest);   /* touches on hit */
int kq_oci_store_blob_path(const kq_oci_store_t *s, const char *digest, char *buf, size_t len);
/* Creates a fresh staging file in tmp/; returns an fd (O_WRONLY) and its path, or -1. */
int kq_oci_store_tmp_file(kq_oci_store_t *s, char *path, size_t len);
/* Creates a fresh staging directory in tmp/. KQ_OK or KQ_EIO. */
int kq_oci_store_tmp_dir(kq_oci_store_t *s, char *path, size_t len);
/* Moves a verified staging file to blobs/ (a racing duplicate is dropped). Runs eviction. */
int kq_oci_store_commit_blob(kq_oci_store_t *s, const char *tmp_path, const char *digest);

/* Artefacts. `tmp_dir` holds root/ ; meta.json is written from `a`, then the folder is renamed
 * into place. KQ_OK (also when an identical artefact already existed; tmp_dir is removed). */
int kq_oci_store_commit_artefact(kq_oci_store_t *s, const char *tmp_dir, const kq_oci_artefact_t *a);
/* Loads meta.json of artefact `digest` into `a` (free with kq_oci_artefact_free); touches it.
 * KQ_OK, KQ_ENOENT or KQ_EPARSE. */
int kq_oci_store_artefact_get(kq_oci_store_t *s, const char *digest, kq_oci_artefact_t *a);
/* "<dir>/artefacts/sha256-<hex>/root". KQ_OK or KQ_EINVAL. */
int kq_oci_store_artefact_root(const kq_oci_store_t *s, const char *digest, char *buf, size_t len);
/* Pins protect from eviction (counted). Unpin of an unpinned artefact is KQ_ENOENT. */
int kq_oci_store_pin(kq_oci_store_t *s, const char *digest);
int kq_oci_store_unpin(kq_oci_store_t *s, const char *digest);
void kq_oci_store_touch(kq_oci_store_t *s, const char *digest);

/* Tag cache: remembers which manifest digest a reference resolved to. */
int kq_oci_store_ref_set(kq_oci_store_t *s, const char *ref, const char *digest);
int kq_oci_store_ref_get(kq_oci_store_t *s, const char *ref, char digest[KQ_OCI_DIGEST_MAX]);

/* Evicts LRU unpinned entries until the total is within max_bytes. Returns bytes freed. */
uint64_t kq_oci_store_gc(kq_oci_store_t *s);

/* Removes a directory tree (no symlink following). KQ_OK or KQ_EIO. */
int kq_oci_rmtree(const char *path);

#endif
