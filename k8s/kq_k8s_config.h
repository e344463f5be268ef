/* Where the API server is and who we are: kubeconfig (clusters/users/contexts, inline data or
 * files, bearer token or token file, insecure-skip-tls-verify, --context) or in-cluster (service
 * account token re-read on rotation, CA, KUBERNETES_SERVICE_HOST/PORT). The result plugs into
 * core/kq_http.h: a base URL, a kq_http_tls_t and an Authorization header value. */
#ifndef KQ_K8S_CONFIG_H
#define KQ_K8S_CONFIG_H
#include <stddef.h>
#include <stdint.h>

#include "kq_http.h"

#define KQ_K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

typedef struct kq_k8s_config {
  char *server;          /* base URL without trailing slash: "https://10.0.0.1:443" */
  kq_http_tls_t tls;     /* every string in it is owned by the config */
  char *token;           /* static bearer token, or the last one read from token_file */
  char *token_file;      /* re-read at most every KQ_K8S_TOKEN_REFRESH_NS (rotation) */
  uint64_t token_read_ns;
  char *auth_header;     /* "Bearer <token>" cache, owned */
  char *namespace_;      /* context namespace / in-cluster namespace file; NULL = unset */
  char *context;         /* context name used (kubeconfig) or "in-cluster" */
  char *user;            /* kubeconfig user name, for messages */
} kq_k8s_config_t;

#define KQ_K8S_TOKEN_REFRESH_NS (60ull * 1000000000ull)

/* Reads the kubeconfig at `path` and selects `context` (NULL = current-context). Relative file
 * paths inside are resolved against the kubeconfig's directory. `out` is overwritten (owned by
 * the caller, release with kq_k8s_config_clear). Fails with KQ_ENOENT (file, context, cluster or
 * user missing), KQ_EPARSE (YAML), KQ_EINVAL (bad base64, no server, unsupported auth such as
 * exec plugins), KQ_EIO; `*err` gets an owned message naming the problem. */
int kq_k8s_config_load_kubeconfig(const char *path, const char *context, kq_k8s_config_t *out,
                                  char **err);
/* Same from a string; `base_dir` resolves relative paths (NULL = cwd). */
int kq_k8s_config_parse_kubeconfig(const char *yaml, size_t len, const char *base_dir,
                                   const char *context, kq_k8s_config_t *out, char **err);

/* In-cluster: KUBERNETES_SERVICE_HOST/PORT (IPv6 hosts bracketed), `sa_dir`/token (re-read on
 * rotation), `sa_dir`/ca.crt, `sa_dir`/namespace. `sa_dir` NULL = KQ_K8S_SA_DIR. */
int kq_k8s_config_in_cluster(const char *sa_dir, kq_k8s_config_t *out, char **err);

/* The usual order: `kubeconfig` (flag) → $KUBECONFIG (first entry) → in-cluster when
 * KUBERNETES_SERVICE_HOST is set → ~/.kube/config. */
int kq_k8s_config_auto(const char *kubeconfig, const char *context, kq_k8s_config_t *out,
                       char **err);

/* The Authorization header value ("Bearer ..."), or NULL with client certificates only.
 * Re-reads token_file when the cached token is older than KQ_K8S_TOKEN_REFRESH_NS at monotonic
 * `now_ns` (a read failure keeps the previous token). Borrowed: valid until the next call. */
const char *kq_k8s_config_auth(kq_k8s_config_t *c, uint64_t now_ns);

void kq_k8s_config_clear(kq_k8s_config_t *c);

#endif
