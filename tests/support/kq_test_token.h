/* A Docker-distribution token server for tests (the Bearer flow's "realm"), on the evhttp test
 * server (kq_test_http.h), so it runs on the event_base the test steps. It answers
 * GET /token?service=S&scope=repository:NAME:ACTIONS (scope may repeat) with
 * {"token": <JWT>, "access_token": <same>, "expires_in": N, "issued_at": ...}:
 *   - correct Basic credentials: the requested pull/push actions are granted;
 *   - no Authorization: a token with empty access (what Docker Hub does for anonymous users;
 *     the registry then answers 401 insufficient_scope);
 *   - wrong credentials or a foreign service: 401 with {"errors":[...]}.
 * Tokens are RS256 JWTs whose header carries the signing certificate in "x5c" (a self-signed
 * RSA certificate generated at start); a registry trusts them when that certificate is its
 * auth.token.rootcertbundle (distribution verifies the x5c chain against the bundle). */
#ifndef KQ_TEST_TOKEN_H
#define KQ_TEST_TOKEN_H
#include <stddef.h>
#include <stdint.h>

struct event_base;

typedef struct kq_test_token kq_test_token_t;

typedef struct kq_test_token_opts {
  const char *user;       /* accepted Basic credentials (required) */
  const char *pass;
  int64_t expires_in;     /* token lifetime in seconds; 0 = 300 */
} kq_test_token_opts_t;

/* Starts the server on `base` (borrowed, must outlive it) and writes the certificate to a
 * private temp dir. Returns owned; aborts the test process on failure. */
kq_test_token_t *kq_test_token_new(struct event_base *base, const kq_test_token_opts_t *opts);
/* Closes the server, removes the temp dir, frees. NULL is a no-op. */
void kq_test_token_free(kq_test_token_t *t);

/* Registry config values (borrowed, valid until free): realm "http://127.0.0.1:<port>/token",
 * service "kuack-test-registry", issuer "kuack-test-issuer", PEM file of the signing cert. */
const char *kq_test_token_realm(const kq_test_token_t *t);
const char *kq_test_token_service(const kq_test_token_t *t);
const char *kq_test_token_issuer(const kq_test_token_t *t);
const char *kq_test_token_cert_file(const kq_test_token_t *t);

/* Counters: every /token request, tokens granted with some access, requests refused (401). */
size_t kq_test_token_requests(const kq_test_token_t *t);
size_t kq_test_token_granted(const kq_test_token_t *t);
size_t kq_test_token_refused(const kq_test_token_t *t);
/* Changes the lifetime of tokens issued from now on. */
void kq_test_token_set_expires_in(kq_test_token_t *t, int64_t seconds);

#endif
