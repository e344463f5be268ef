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

#endif
