/* The standalone manifest source: an actor that polls a directory of Pod manifests (*.yaml,
 * *.yml, *.json; dotfiles and other names ignored) and tells a consumer actor which Pods were
 * added, changed and removed. Each Pod is keyed "<file>#<namespace>/<name>"; a bad document is
 * reported (WARN log + on_error) and never affects the other documents or files. */
#ifndef KQ_MANIFESTS_H
#define KQ_MANIFESTS_H
#include <stdint.h>

#include "kq_actor.h"
#include "kq_k8s_params.h"
#include "kq_k8s_types.h"

/* The ids and layouts equal actors/kq_node.h's KQ_NODE_MSG_POD_UPSERT/REMOVE and
 * kq_node_pod_msg_t/kq_node_remove_msg_t on purpose: the node actor consumes them directly. */
enum { KQ_MANIFEST_MSG_UPSERT = KQ_MSG_USER + 400, KQ_MANIFEST_MSG_REMOVE = KQ_MSG_USER + 401 };

/* A Pod was added or changed. `key` and `pod` are owned by the message (its dtor frees them;
 * a receiver may move them out and NULL/zero the fields). The pod has metadata.namespace set
 * ("default" when absent), metadata.uid (from the manifest, or a stable UUID derived from the
 * key and the document's content, so an edited document gets a new uid and an unchanged one keeps
 * it), creation_ns (wall clock when absent) and spec.nodeName (the configured node when empty). */
typedef struct kq_manifest_pod_msg {
  kq_msg_t hdr;
  char *key;
  kq_pod_t pod;
} kq_manifest_pod_msg_t;

/* A Pod is gone: its file or document was removed, or the document no longer decodes.
 * `key` is owned (dtor); grace_s is always -1 (the pod's own grace period). */
typedef struct kq_manifest_remove_msg {
  kq_msg_t hdr;
  char *key;
  int64_t grace_s;
} kq_manifest_remove_msg_t;

/* Called for each problem found, once per change of the file concerned: a document that does
 * not decode, a YAML syntax error, a file too large or unreadable, a duplicate namespace/name.
 * `file` is the file name inside the directory; `message` is the complete one-line message
 * naming file and document ("a.yaml: document 2 (line 9): ..."). Both borrowed for the call. */
typedef void (*kq_manifests_error_fn)(void *ud, const char *file, const char *message);

/* The Node manifest: KQ_MANIFESTS_NODE_FILE ("node.yaml"; node.yml and node.json work too) in the
 * directory is not a Pod file. It holds one `kind: Node` document whose metadata.annotations
 * `kuack.io/placement-policy` and `kuack.io/placement-params` (a JSON object of numbers, as a
 * string; a YAML mapping is accepted too) choose the placement policy, exactly as the Node's
 * annotations do in Kubernetes mode. on_node gets the policy name and the decoded parameters
 * (both borrowed for the call) at the first scan and whenever either value changes; an absent or
 * empty policy annotation, or the file going away, calls nothing (the policy in force stays).
 * A file that does not parse, is not `kind: Node`, or carries invalid params is reported
 * (on_error + WARN) and on_node is not called. Unknown policy names are the consumer's to refuse. */
#define KQ_MANIFESTS_NODE_FILE "node.yaml"
#define KQ_MANIFESTS_ANN_POLICY "kuack.io/placement-policy"
#define KQ_MANIFESTS_ANN_PARAMS "kuack.io/placement-params"
typedef void (*kq_manifests_node_fn)(void *ud, const char *policy, const kq_k8s_param_t *params,
                                     size_t nparams);

typedef struct kq_manifests_opts {
  const char *dir;               /* the manifest directory (copied) */
  const char *node_name;         /* put into spec.nodeName when empty (copied); NULL = leave */
  kq_aid_t target;               /* gets KQ_MANIFEST_MSG_* */
  uint64_t poll_ns;              /* poll period; 0 = 1 s */
  kq_manifests_error_fn on_error; /* optional */
  void *on_error_ud;
  kq_manifests_node_fn on_node;   /* optional: the Node manifest's placement annotations */
  void *on_node_ud;
} kq_manifests_opts_t;

extern const kq_actor_type_t kq_manifests_actor_type;

/* Spawns the manifest source. The first scan runs at once (its UPSERTs are queued before this
 * returns), then the directory is polled every poll_ns: files are compared by mtime and size
 * (and by content hash while their mtime is too recent to trust). Returns the actor address, or
 * KQ_AID_NONE when the directory is missing or unreadable (or dir is NULL), with an owned
 * one-line message in *err (free(); err may be NULL). Stop it with kq_actor_stop: everything it
 * owns is released; no REMOVE messages are sent on stop. */
kq_aid_t kq_manifests_spawn(kq_system_t *sys, const kq_manifests_opts_t *opts, char **err);

#endif
