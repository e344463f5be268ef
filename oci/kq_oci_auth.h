/* Registry authentication pieces: WWW-Authenticate challenges (Basic, Bearer realm/service/scope),
 * the token endpoint's JSON answer, Docker config.json credentials (imagePullSecrets feed these)
 * and the Basic header. Pure functions; the pull state machine uses them. */
#ifndef KQ_OCI_AUTH_H
#define KQ_OCI_AUTH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { KQ_OCI_AUTH_NONE = 0, KQ_OCI_AUTH_BASIC, KQ_OCI_AUTH_BEARER } kq_oci_auth_scheme_t;

typedef struct kq_oci_challenge {
  kq_oci_auth_scheme_t scheme;
  char realm[1024];
  char service[256];
  char scope[1024];
  char error[64];     /* "insufficient_scope", "invalid_token", ... */
} kq_oci_challenge_t;

/* Parses one WWW-Authenticate value ("Bearer realm=\"...\",service=\"...\""). Unknown schemes →
 * KQ_ENOTSUP; malformed or oversized parameters → KQ_EPARSE. Bearer needs a realm. Pure. */
int kq_oci_challenge_parse(const char *value, kq_oci_challenge_t *out);

/* Token endpoint reply {"token": ..., "access_token": ..., "expires_in": n}. Returns the token
 * (owned, free()) and the lifetime in seconds (60 when absent, per the spec), or NULL. */
char *kq_oci_token_parse(const char *body, size_t len, int64_t *expires_in);

/* Token URL "<realm>?service=<svc>&scope=<scope>" with query escaping. Owned (free()). `scope`
 * NULL/"" falls back to the challenge scope. */
char *kq_oci_token_url(const kq_oci_challenge_t *c, const char *scope);

typedef struct kq_oci_creds {
  char user[256];
  char pass[1024];
  char identity_token[2048];  /* "identitytoken" (OAuth refresh token), if present */
} kq_oci_creds_t;

/* Finds credentials for `registry` ("docker.io", "127.0.0.1:5000") in a Docker config.json
 * ({"auths": {"<host>": {"auth": base64(user:pass)} | {"username","password"}}}) or the older
 * .dockercfg form (host keys at top level). Keys may carry a scheme and path
 * ("https://index.docker.io/v1/"). Returns KQ_OK, KQ_ENOENT (no entry) or KQ_EPARSE. */
int kq_oci_creds_lookup(const char *config_json, const char *registry, kq_oci_creds_t *out);

/* "Basic <base64(user:pass)>"; owned (free()). */
char *kq_oci_basic_header(const char *user, const char *pass);

/* Normalises a registry host as written in config.json keys. Writes into buf. */
void kq_oci_registry_key(const char *key, char *buf, size_t len);

/* Bearer token cache shared by pulls (one per node, loop thread only). A token obtained for
 * (registry, scope, identity) is reused until shortly before it expires: the reuse margin is
 * min(30 s, lifetime / 2), so a 60 s token is reused for 30 s and a 4 s token for 2 s. `identity`
 * names the credentials without holding them (kq_oci_creds_identity); "" = anonymous. Bounded
 * (oldest entries go first). Time is passed in (monotonic ns). */
typedef struct kq_oci_token_cache kq_oci_token_cache_t;
kq_oci_token_cache_t *kq_oci_token_cache_new(void);      /* returns owned */
void kq_oci_token_cache_free(kq_oci_token_cache_t *c);   /* NULL is a no-op */
/* Stores a copy of `token` valid for `expires_in` seconds from `now_ns`; replaces an older entry. */
void kq_oci_token_cache_put(kq_oci_token_cache_t *c, const char *registry, const char *scope,
                            const char *identity, const char *token, int64_t expires_in, uint64_t now_ns);
/* Returns the cached token (borrowed, valid until the next put/drop/free) or NULL when absent or
 * within the reuse margin of its expiry (the stale entry is dropped). */
const char *kq_oci_token_cache_get(kq_oci_token_cache_t *c, const char *registry, const char *scope,
                                   const char *identity, uint64_t now_ns);
/* Forgets an entry (the registry refused the token). */
void kq_oci_token_cache_drop(kq_oci_token_cache_t *c, const char *registry, const char *scope,
                             const char *identity);
size_t kq_oci_token_cache_size(const kq_oci_token_cache_t *c);
/* Reuse margin for a token lifetime (see above). Pure. */
uint64_t kq_oci_token_margin_ns(int64_t expires_in);
/* "sha256:<hex>" of user NUL pass (out: 72 bytes), "" for no credentials. Pure. */
void kq_oci_creds_identity(const kq_oci_creds_t *c, bool have, char out[72]);

#endif
