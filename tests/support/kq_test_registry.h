/* A real Debian docker-registry (distribution 2.8) for tests, on 127.0.0.1 with a free port and a
 * temporary storage folder, optionally behind htpasswd Basic auth or the Bearer token flow (with a
 * token server such as kq_test_token.h). Its access log is kept so tests can count the requests a
 * pull made. Images are pushed with examples/push-image.sh. In token mode a second, anonymous
 * registry process serves the same storage on another port, for pushing only (curl in the push
 * script does not speak the token flow, and the token server runs on the test's own loop). */
#ifndef KQ_TEST_REGISTRY_H
#define KQ_TEST_REGISTRY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kq_test_registry kq_test_registry_t;

typedef struct kq_test_registry_opts {
  const char *user;   /* with pass: htpasswd (bcrypt) Basic auth; NULL = anonymous */
  const char *pass;
  /* Token auth (auth.token in the registry config) when `token_realm` is set; all four needed. */
  const char *token_realm;    /* "http://127.0.0.1:<port>/token" */
  const char *token_service;  /* the token's "aud" */
  const char *token_issuer;   /* the token's "iss" */
  const char *token_certs;    /* PEM bundle trusted for the tokens' x5c chain */
} kq_test_registry_opts_t;

/* Starts the registry and waits (bounded, 10 s) until it accepts connections. Aborts the test
 * process on failure. Returns owned. */
kq_test_registry_t *kq_test_registry_start(const kq_test_registry_opts_t *opts);
/* Stops the process (SIGTERM, reaped), removes the temporary folder and frees. */
void kq_test_registry_free(kq_test_registry_t *r);
/* Stops / starts again on the same port and storage ("registry down, then up"). */
void kq_test_registry_stop(kq_test_registry_t *r);
void kq_test_registry_restart(kq_test_registry_t *r);

uint16_t kq_test_registry_port(const kq_test_registry_t *r);
/* "127.0.0.1:<port>" (static per registry, borrowed). */
const char *kq_test_registry_host(const kq_test_registry_t *r);
/* Storage root (the folder holding docker/registry/v2). Borrowed. */
const char *kq_test_registry_storage(const kq_test_registry_t *r);

/* Runs `sh_script` (a path under the source tree, e.g. "tests/support/registry/share-layer.sh")
 * with the push endpoint "http://host:port" as first argument followed by `args` (already
 * shell-quoted by the caller). Returns the script's first output line in `out` (256 bytes), 0 or -1. */
int kq_test_registry_script(kq_test_registry_t *r, const char *sh_script, const char *args, char *out);

/* Runs examples/push-image.sh (form "index", "single" or "artifact") for INPUT (a .wasm or a pkg
 * dir) as <name:tag>; writes the pushed top-level digest into `digest` (80 bytes). Returns 0 or -1. */
int kq_test_registry_push(kq_test_registry_t *r, const char *form, const char *name_tag,
                          const char *input, char *digest);
/* Path of blob `digest` ("sha256:...") in the registry's storage (static buffer per call). */
const char *kq_test_registry_blob_file(const kq_test_registry_t *r, const char *digest);
/* Number of access-log lines containing `needle` (e.g. "GET /v2/test/hello/blobs/"). */
size_t kq_test_registry_count(const kq_test_registry_t *r, const char *needle);
/* Builds the example .wasm files once per process into a temp dir (examples/build.sh); returns
 * that folder (static). Aborts on failure. */
const char *kq_test_examples_dir(void);

#endif
