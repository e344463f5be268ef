/* Bearer token cache: a small array scanned linearly (a node talks to a handful of registries and
 * repositories), each entry keyed by registry + scope + credential identity. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_clock.h"
#include "kq_oci_auth.h"
#include "kq_oci_digest.h"

#define TC_MAX 256

typedef struct tc_entry {
  char *registry, *scope, *identity, *token;
  uint64_t stale_at_ns;   /* expiry minus the reuse margin */
  uint64_t added;         /* insertion order, for eviction */
} tc_entry_t;

struct kq_oci_token_cache {
  tc_entry_t e[TC_MAX];
  size_t n;
  uint64_t seq;
};

uint64_t kq_oci_token_margin_ns(int64_t expires_in) {
  if (expires_in <= 0) return 0;
  uint64_t life = KQ_SEC((uint64_t)expires_in);
  uint64_t half = life / 2;
  return half < KQ_SEC(30) ? half : KQ_SEC(30);
}

void kq_oci_creds_identity(const kq_oci_creds_t *c, bool have, char out[72]) {
  if (!have || !c) {
    out[0] = '\0';
    return;
  }
  size_t ul = strlen(c->user), pl = strlen(c->pass), il = strlen(c->identity_token);
  size_t n = ul + 1 + pl + 1 + il;
  char *buf = kq_malloc(n);
  memcpy(buf, c->user, ul + 1);
  memcpy(buf + ul + 1, c->pass, pl + 1);
  memcpy(buf + ul + pl + 2, c->identity_token, il);
  kq_oci_sha256_hex(buf, n, out);
  OPENSSL_cleanse(buf, n);
  free(buf);
}

kq_oci_token_cache_t *kq_oci_token_cache_new(void) { return KQ_NEW(kq_oci_token_cache_t); }

static void entry_clear(tc_entry_t *e) {
  free(e->registry);
  free(e->scope);
  free(e->identity);
  if (e->token) OPENSSL_cleanse(e->token, strlen(e->token));
  free(e->token);
  memset(e, 0, sizeof *e);
}

void kq_oci_token_cache_free(kq_oci_token_cache_t *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) entry_clear(&c->e[i]);
  free(c);
}

static tc_entry_t *find(kq_oci_token_cache_t *c, const char *registry, const char *scope, const char *identity) {
  for (size_t i = 0; i < c->n; i++) {
    tc_entry_t *e = &c->e[i];
    if (!strcmp(e->registry, registry) && !strcmp(e->scope, scope) && !strcmp(e->identity, identity)) return e;
  }
  return NULL;
}

static void remove_entry(kq_oci_token_cache_t *c, tc_entry_t *e) {
  entry_clear(e);
  *e = c->e[--c->n];
  memset(&c->e[c->n], 0, sizeof c->e[c->n]);
}

void kq_oci_token_cache_put(kq_oci_token_cache_t *c, const char *registry, const char *scope,
                            const char *identity, const char *token, int64_t expires_in, uint64_t now_ns) {
  if (!c || !registry || !scope || !token || expires_in <= 0) return;
  if (!identity) identity = "";
  tc_entry_t *e = find(c, registry, scope, identity);
  if (e) remove_entry(c, e);
  if (c->n == TC_MAX) {
    tc_entry_t *old = &c->e[0];
    for (size_t i = 1; i < c->n; i++)
      if (c->e[i].added < old->added) old = &c->e[i];
    remove_entry(c, old);
  }
  e = &c->e[c->n++];
  e->registry = kq_strdup(registry);
  e->scope = kq_strdup(scope);
  e->identity = kq_strdup(identity);
  e->token = kq_strdup(token);
  e->stale_at_ns = now_ns + KQ_SEC((uint64_t)expires_in) - kq_oci_token_margin_ns(expires_in);
  e->added = ++c->seq;
}

const char *kq_oci_token_cache_get(kq_oci_token_cache_t *c, const char *registry, const char *scope,
                                   const char *identity, uint64_t now_ns) {
  if (!c || !registry || !scope) return NULL;
  tc_entry_t *e = find(c, registry, scope, identity ? identity : "");
  if (!e) return NULL;
  if (now_ns >= e->stale_at_ns) {
    remove_entry(c, e);
    return NULL;
  }
  return e->token;
}

void kq_oci_token_cache_drop(kq_oci_token_cache_t *c, const char *registry, const char *scope,
                             const char *identity) {
  if (!c || !registry || !scope) return;
  tc_entry_t *e = find(c, registry, scope, identity ? identity : "");
  if (e) remove_entry(c, e);
}

size_t kq_oci_token_cache_size(const kq_oci_token_cache_t *c) { return c ? c->n : 0; }
