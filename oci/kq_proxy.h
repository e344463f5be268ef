/* Registry proxy logic (the gateway serves the HTTP): browsers fetch artefacts only from the node,
 * by digest, with a per-run token so the node is not an open relay for private images.
 *
 *   /artefacts/<digest>/<file>?run=<id>&exp=<unix>&kid=<key id>&sig=<hex>
 *
 * sig = hex(HMAC-SHA256(node secret, "kuack-artefact-v1\n" run "\n" digest "\n" exp)); kid = the
 * first 8 hex of sha256(secret), so a URL minted by another node (or before a key rotation) is
 * told apart ("foreign") from a forged or damaged one ("bad signature"). One token covers every
 * file of the artefact for that run. */
#ifndef KQ_PROXY_H
#define KQ_PROXY_H
#include <stddef.h>
#include <stdint.h>

#include "kq_oci_ref.h"
#include "kq_oci_store.h"

#define KQ_PROXY_PREFIX "/artefacts/"
#define KQ_PROXY_RUN_MAX 128
#define KQ_PROXY_FILE_MAX 1024

typedef struct kq_proxy_key {
  unsigned char secret[64];
  size_t len;
  char kid[9];
} kq_proxy_key_t;

/* Initialises a key from `secret` (1..64 bytes; longer is hashed down). */
void kq_proxy_key_init(kq_proxy_key_t *k, const void *secret, size_t len);
/* Fresh random key (OpenSSL RAND_bytes); KQ_OK or KQ_EIO. */
int kq_proxy_key_random(kq_proxy_key_t *k);

/* Builds the URL path+query for `file` of artefact `digest` for run `run_id`, valid until `exp`
 * (Unix seconds). Returns owned (free()), or NULL if run id/digest/file are invalid (run ids are
 * [A-Za-z0-9._-]{1,128}; file is a relative path without "..", see kq_proxy_path_ok). */
char *kq_proxy_sign(const kq_proxy_key_t *k, const char *run_id, const char *digest,
                    const char *file, int64_t exp);

/* A parsed request target. */
typedef struct kq_proxy_req {
  char digest[KQ_OCI_DIGEST_MAX];
  char file[KQ_PROXY_FILE_MAX];   /* percent-decoded, relative */
  char run[KQ_PROXY_RUN_MAX + 1];
  char kid[9];
  char sig[65];
  int64_t exp;
} kq_proxy_req_t;

typedef enum {
  KQ_PROXY_OK = 0,
  KQ_PROXY_MALFORMED,   /* not an artefact URL, bad digest/path, missing parameters → 400 */
  KQ_PROXY_EXPIRED,     /* exp in the past → 403 */
  KQ_PROXY_FOREIGN,     /* kid is not this node's key → 403 */
  KQ_PROXY_BAD_SIG,     /* signature does not match → 403 */
} kq_proxy_verdict_t;

/* Parses "/artefacts/<digest>/<file>?..." (query order free, unknown parameters ignored) and
 * verifies it against `k` at Unix time `now` (constant-time compare). Fills `out` when parsing
 * succeeds, even if the verdict is not OK (for logging). Pure. */
kq_proxy_verdict_t kq_proxy_verify(const kq_proxy_key_t *k, const char *target, int64_t now,
                                   kq_proxy_req_t *out);
const char *kq_proxy_verdict_str(kq_proxy_verdict_t v);

/* True when `file` is a safe relative path: non-empty, no leading '/', no "." or ".." segment,
 * no empty segment, no backslash or control character, at most KQ_PROXY_FILE_MAX-1 bytes. */
bool kq_proxy_path_ok(const char *file);

/* Finds `file` of artefact `digest` in `store`: writes its absolute path (path_len >= PATH_MAX is
 * safe), size and MIME type (static). Refuses unsafe paths and anything that resolves outside the
 * artefact root (symlinks) or is not a regular file. Marks the artefact as recently used.
 * Returns KQ_OK, KQ_EINVAL (bad path/digest), KQ_ENOENT, KQ_ESECURITY. */
int kq_proxy_resolve(kq_oci_store_t *store, const char *digest, const char *file, char *path_out,
                     size_t path_len, uint64_t *size_out, const char **mime_out);

/* MIME type by extension: .wasm application/wasm, .js/.mjs text/javascript, .json
 * application/json, .d.ts/.ts text/plain, else application/octet-stream. Static. */
const char *kq_proxy_mime(const char *file);

#endif
