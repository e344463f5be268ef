/* A real Kubernetes API server for integration tests: wraps `../shared/k8s/testcluster up/down`
 * (Debian etcd + kube-apiserver v1.26 on free 127.0.0.1 ports) and runs the real kubectl
 * against it. Failing to start fails the test loudly; it is never skipped. */
#ifndef KQ_TEST_CLUSTER_H
#define KQ_TEST_CLUSTER_H
#include <stdbool.h>

typedef struct kq_test_cluster {
  char dir[256];
  char kubeconfig[300];
  char apiserver[128];
  char cluster_ca[300];
  char kubelet_client_ca[300];
  char admin_token[128];
  char etcd_endpoint[128];
} kq_test_cluster_t;

/* Starts a cluster in a fresh temporary directory. `env` (may be NULL) is prepended to the
 * command line ("AUTHZ=Node,RBAC NODE_NAMES='a b'"). Returns owned; aborts (fails the test)
 * when the cluster does not come up. */
kq_test_cluster_t *kq_test_cluster_up(const char *env);
/* Stops etcd and the API server and removes the directory; frees `c`. */
void kq_test_cluster_down(kq_test_cluster_t *c);

/* Runs `kubectl --kubeconfig <kc> <args>` (args printf-formatted, shell syntax) and returns its
 * stdout (owned, free()); *status gets the exit status. stderr goes to the test's stderr. */
char *kq_test_kubectl(const kq_test_cluster_t *c, int *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Runs a shell command and returns its stdout (owned); *status the exit status. */
char *kq_test_sh(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
