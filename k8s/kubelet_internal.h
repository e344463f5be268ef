/* Internals of the kubelet API server shared by its files: TLS context set-up (serving cert from
 * files or self-signed, client CA) and the per-request client-certificate check. */
#ifndef KQ_KUBELET_INTERNAL_H
#define KQ_KUBELET_INTERNAL_H
#include <stdbool.h>

#include "kq_kubelet.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

/* A server context per `o` (tls mode). Returns owned (SSL_CTX_free), or NULL with *err = KQ_ETLS
 * (or KQ_EINVAL) and an owned *errmsg saying what failed. */
SSL_CTX *kq_kubelet_ssl_ctx(const kq_kubelet_opts_t *o, int *err, char **errmsg);

/* Whether the connection's peer presented a certificate that verified against the client CA.
 * On false, *why is a static reason. */
bool kq_kubelet_peer_verified(SSL *ssl, const char **why);

/* The user a verified client certificate names, as the API server reads it: CN = user name,
 * every O = a group. Owned strings; *groups is an owned array (kq_k8s_strv_free). False when
 * there is no certificate or no CN. */
bool kq_kubelet_peer_identity(SSL *ssl, char **user, char ***groups, size_t *ngroups);

/* ---- authorization of authenticated callers (kubelet_authz.c) ----
 * Each (user, groups, verb, subresource) gets a SubjectAccessReview with the API server
 * (authorization.k8s.io/v1; resource nodes, name = the node) asked by a small actor that owns
 * the HTTP requests; decisions are cached (allowed and denied with their own TTLs). The kubelet
 * and the actor share this object; whichever lets go last frees it, so neither order of
 * kq_kubelet_free and system shutdown leaves a dangling pointer. */
typedef struct kq_kubelet_authz kq_kubelet_authz_t;
/* Called on the loop thread (from the actor) with the outcome of review `ticket`: allowed, or
 * not with a reason; `error` true when no decision could be had (API unreachable, bad answer). */
typedef void (*kq_kubelet_authz_cb)(void *ud, uint64_t ticket, bool allowed, bool error,
                                    const char *reason);

kq_kubelet_authz_t *kq_kubelet_authz_new(kq_system_t *sys, const kq_kubelet_authz_opts_t *o,
                                         kq_kubelet_authz_cb cb, void *ud, int *err);
/* The cache key of a request; owned. */
char *kq_kubelet_authz_key(const char *user, char *const *groups, size_t ngroups, const char *verb,
                           const char *subresource);
/* A cached decision: 1 allowed, 0 denied (*reason borrowed), -1 none (ask). */
int kq_kubelet_authz_cached(kq_kubelet_authz_t *az, const char *key, const char **reason);
/* Starts a review; the callback gets `ticket`. KQ_ENOENT when the actor is gone. */
int kq_kubelet_authz_review(kq_kubelet_authz_t *az, uint64_t ticket, const char *key, const char *user,
                            char *const *groups, size_t ngroups, const char *verb, const char *subresource);
uint64_t kq_kubelet_authz_count(const kq_kubelet_authz_t *az);
/* Decodes a SubjectAccessReview answer (the API server's JSON). KQ_OK: *allowed = allowed and not
 * denied, *reason = the server's reason or evaluationError (owned, may be NULL). KQ_EPROTO: the
 * answer is unreadable, *reason says why (owned). Never crashes on hostile input. */
int kq_kubelet_sar_decode(const char *body, size_t len, bool *allowed, char **reason);
/* The kubelet lets go: no more callbacks; the actor is stopped. */
void kq_kubelet_authz_release(kq_kubelet_authz_t *az);

#endif
