/* The Kubernetes object model kuack uses, as plain C structs: a Pod (metadata, the spec fields a
 * browser can honour, the status we write back) plus the codecs between these structs and the
 * API server's JSON / manifest YAML. cJSON never leaves k8s/: everything else sees only these
 * structs. Strings are owned NUL-terminated heap copies (NULL = absent); arrays are owned
 * (pointer + count). Times are wall nanoseconds since the Unix epoch (0 = unset). */
#ifndef KQ_K8S_TYPES_H
#define KQ_K8S_TYPES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decoder limits: larger inputs are refused with a clear error, never buffered. */
#define KQ_K8S_MAX_OBJECT_BYTES (4u << 20) /* one JSON object or manifest file */
#define KQ_K8S_MAX_ITEMS 1024              /* any array or map inside an object */
#define KQ_K8S_MAX_YAML_DOCS 256

typedef struct kq_k8s_kv {
  char *key;
  char *value;
} kq_k8s_kv_t;

typedef struct kq_k8s_owner_ref {
  char *api_version;
  char *kind;
  char *name;
  char *uid;
  bool controller;
} kq_k8s_owner_ref_t;

typedef struct kq_k8s_meta {
  char *name;
  char *namespace_;            /* NULL in a manifest = "default" is applied by the consumer */
  char *uid;
  char *resource_version;
  char *generate_name;
  uint64_t creation_ns;        /* creationTimestamp */
  uint64_t deletion_ns;        /* deletionTimestamp; non-zero = the object is being deleted */
  int64_t deletion_grace_s;    /* deletionGracePeriodSeconds; -1 = unset */
  size_t nlabels;
  kq_k8s_kv_t *labels;
  size_t nannotations;
  kq_k8s_kv_t *annotations;
  size_t nowners;
  kq_k8s_owner_ref_t *owners;
} kq_k8s_meta_t;

/* ---- spec ---- */

/* Resource amounts: -1 = not given. cpu in millicores, memory in bytes, gpu = `kuack.io/gpu`. */
typedef struct kq_pod_resource_list {
  int64_t cpu_millis;
  int64_t memory_bytes;
  int64_t gpu;
} kq_pod_resource_list_t;

typedef struct kq_pod_resources {
  kq_pod_resource_list_t requests;
  kq_pod_resource_list_t limits;
} kq_pod_resources_t;

typedef enum kq_pod_env_source {
  KQ_ENV_VALUE = 0,      /* literal `value` (may be NULL = empty) */
  KQ_ENV_FIELD_REF,      /* valueFrom.fieldRef.fieldPath (downward API) in `field_path` */
  KQ_ENV_RESOURCE_REF,   /* valueFrom.resourceFieldRef.resource in `field_path` (+ container) */
  KQ_ENV_CONFIGMAP_KEY,  /* valueFrom.configMapKeyRef: ref_name / ref_key / optional */
  KQ_ENV_SECRET_KEY,     /* valueFrom.secretKeyRef: ref_name / ref_key / optional */
} kq_pod_env_source_t;

typedef struct kq_pod_env {
  char *name;
  kq_pod_env_source_t source;
  char *value;           /* KQ_ENV_VALUE */
  char *field_path;      /* KQ_ENV_FIELD_REF ("metadata.name", "status.podIP", ...), RESOURCE_REF */
  char *container;       /* KQ_ENV_RESOURCE_REF: containerName (NULL = this container) */
  char *ref_name;        /* CONFIGMAP_KEY / SECRET_KEY: object name */
  char *ref_key;         /* CONFIGMAP_KEY / SECRET_KEY: key */
  bool optional;
} kq_pod_env_t;

/* envFrom: every key of a ConfigMap or Secret, optionally prefixed. */
typedef struct kq_pod_env_from {
  bool secret;           /* false = configMapRef, true = secretRef */
  char *ref_name;
  char *prefix;
  bool optional;
} kq_pod_env_from_t;

typedef struct kq_pod_container {
  char *name;
  char *image;
  char *image_pull_policy;  /* "Always" | "IfNotPresent" | "Never" | NULL */
  char *working_dir;
  size_t ncommand;
  char **command;
  size_t nargs;
  char **args;
  size_t nenv;
  kq_pod_env_t *env;
  size_t nenv_from;
  kq_pod_env_from_t *env_from;
  kq_pod_resources_t resources;
  size_t nvolume_mounts;    /* counted only; browsers have no volumes */
  bool tty;
  bool stdin_;
} kq_pod_container_t;

/* Volume types, so the pod actor can refuse what it cannot provide. */
typedef enum kq_pod_volume_type {
  KQ_VOL_OTHER = 0,
  KQ_VOL_EMPTY_DIR,
  KQ_VOL_CONFIG_MAP,
  KQ_VOL_SECRET,
  KQ_VOL_PROJECTED,        /* incl. the kube-api-access-* token volume admission adds */
  KQ_VOL_DOWNWARD_API,
  KQ_VOL_HOST_PATH,
  KQ_VOL_PVC,
} kq_pod_volume_type_t;

typedef struct kq_pod_volume {
  char *name;
  kq_pod_volume_type_t type;
  char *type_name;         /* the JSON key ("emptyDir", "nfs", ...) for messages */
} kq_pod_volume_t;

typedef struct kq_pod_toleration {
  char *key;
  char *op;                /* "Equal" | "Exists" | NULL */
  char *value;
  char *effect;            /* "NoSchedule" | "PreferNoSchedule" | "NoExecute" | NULL (all) */
  int64_t toleration_s;    /* tolerationSeconds; -1 = unset */
} kq_pod_toleration_t;

typedef struct kq_pod_spec {
  char *node_name;
  size_t ncontainers;
  kq_pod_container_t *containers;
  size_t ninit_containers;
  kq_pod_container_t *init_containers;  /* decoded, so messages can name them */
  size_t nephemeral_containers;         /* counted only */
  size_t nvolumes;
  kq_pod_volume_t *volumes;
  char *restart_policy;                 /* "Always" (default when NULL) | "OnFailure" | "Never" */
  int64_t active_deadline_s;            /* -1 = unset */
  int64_t termination_grace_s;          /* -1 = unset (Kubernetes default 30) */
  int32_t priority;
  bool has_priority;
  char *priority_class_name;
  char *service_account_name;
  char *scheduler_name;
  size_t nimage_pull_secrets;
  char **image_pull_secrets;            /* names of Secrets in the pod's namespace */
  size_t ntolerations;
  kq_pod_toleration_t *tolerations;
  size_t nnode_selector;
  kq_k8s_kv_t *node_selector;
  bool host_network;
} kq_pod_spec_t;

/* ---- status ---- */

typedef enum kq_pod_phase {
  KQ_PHASE_UNSET = 0,
  KQ_PHASE_PENDING,
  KQ_PHASE_RUNNING,
  KQ_PHASE_SUCCEEDED,
  KQ_PHASE_FAILED,
  KQ_PHASE_UNKNOWN,
} kq_pod_phase_t;

typedef enum kq_cond_status { KQ_COND_UNSET = 0, KQ_COND_TRUE, KQ_COND_FALSE, KQ_COND_UNKNOWN } kq_cond_status_t;

typedef struct kq_pod_condition {
  char *type;              /* "PodScheduled", "Initialized", "ContainersReady", "Ready", ... */
  kq_cond_status_t status;
  char *reason;
  char *message;
  uint64_t last_transition_ns;
  uint64_t last_probe_ns;
} kq_pod_condition_t;

typedef enum kq_container_state_kind {
  KQ_CSTATE_NONE = 0,
  KQ_CSTATE_WAITING,
  KQ_CSTATE_RUNNING,
  KQ_CSTATE_TERMINATED,
} kq_container_state_kind_t;

typedef struct kq_container_state {
  kq_container_state_kind_t kind;
  char *reason;            /* waiting, terminated */
  char *message;           /* waiting, terminated */
  int32_t exit_code;       /* terminated */
  int32_t signal;          /* terminated; 0 = none */
  uint64_t started_ns;     /* running, terminated */
  uint64_t finished_ns;    /* terminated */
  char *container_id;      /* terminated */
} kq_container_state_t;

typedef struct kq_container_status {
  char *name;
  char *image;
  char *image_id;          /* "<repo>@sha256:..." */
  char *container_id;      /* "kuack://<run id>" */
  kq_container_state_t state;
  kq_container_state_t last_state;
  bool ready;
  bool started;
  bool has_started;        /* `started` is present (omitted otherwise) */
  int32_t restart_count;
} kq_container_status_t;

typedef struct kq_pod_status {
  kq_pod_phase_t phase;
  size_t nconditions;
  kq_pod_condition_t *conditions;
  size_t ncontainer_statuses;
  kq_container_status_t *container_statuses;
  size_t ninit_container_statuses;
  kq_container_status_t *init_container_statuses;
  uint64_t start_ns;       /* startTime */
  char *message;
  char *reason;
  char *host_ip;
  char *pod_ip;
  char *qos_class;
} kq_pod_status_t;

typedef struct kq_pod {
  kq_k8s_meta_t meta;
  kq_pod_spec_t spec;
  kq_pod_status_t status;
} kq_pod_t;

/* ---- object lifetime ---- */

/* Releases everything `p` owns and zeroes it (the struct itself is the caller's). NULL is ok. */
void kq_pod_clear(kq_pod_t *p);
/* kq_pod_clear + free(p), for heap pods. NULL is ok. */
void kq_pod_free(kq_pod_t *p);
/* Deep copy: `dst` (uninitialised) receives owned copies of everything in `src`. */
void kq_pod_copy(kq_pod_t *dst, const kq_pod_t *src);
void kq_pod_status_clear(kq_pod_status_t *s);
void kq_pod_status_copy(kq_pod_status_t *dst, const kq_pod_status_t *src);
void kq_k8s_meta_clear(kq_k8s_meta_t *m);

/* Lookups (borrowed results, valid while the object lives; NULL when absent). */
const char *kq_k8s_meta_label(const kq_k8s_meta_t *m, const char *key);
const char *kq_k8s_meta_annotation(const kq_k8s_meta_t *m, const char *key);
kq_pod_condition_t *kq_pod_status_condition(kq_pod_status_t *s, const char *type);
/* "default" when the namespace is unset. */
const char *kq_pod_namespace(const kq_pod_t *p);

/* Name tables: "Pending", "Running", ... ("" for UNSET); "True"/"False"/"Unknown". */
const char *kq_pod_phase_name(kq_pod_phase_t ph);
kq_pod_phase_t kq_pod_phase_parse(const char *s);  /* KQ_PHASE_UNSET for unknown/NULL */
const char *kq_cond_status_name(kq_cond_status_t s);

/* ---- codecs ---- */

/* Decodes one Pod from API-server JSON (a Pod object; `kind` may be absent but, when present,
 * must be "Pod"). `out` is overwritten (need not be initialised) and owned by the caller
 * (kq_pod_clear). On failure returns KQ_EPARSE (malformed JSON), KQ_EINVAL (wrong types,
 * invalid quantities, negative resources: the message names the field path, e.g.
 * `spec.containers[0].resources.requests.cpu: "-1" is negative`) or KQ_ETOOBIG; `*err`
 * (when err != NULL) gets an owned message (free()), and `out` is left cleared. */
int kq_k8s_pod_from_json(const char *json, size_t len, kq_pod_t *out, char **err);

/* One YAML document of a manifest stream, as decoded by kq_k8s_pod_from_yaml_docs. */
typedef struct kq_k8s_doc {
  int index;               /* 0-based document number in the stream */
  int line;                /* 1-based line where the document starts */
  char *kind;              /* the document's `kind` (NULL when missing) */
  int rc;                  /* KQ_OK: `pod` is valid; else `error` says why */
  char *error;             /* owned; "document 2 (line 14): kind \"Service\" is not supported" */
  kq_pod_t pod;
} kq_k8s_doc_t;

/* Decodes a multi-document YAML (or JSON) manifest stream: every document must be a Pod (a
 * `kind: List` / `PodList` contributes its items). Empty documents are skipped. Documents are
 * decoded independently: a bad document gets rc/error and the others still decode. A YAML
 * syntax error ends the stream: documents before it are returned, and the function returns
 * KQ_EPARSE with `*err` naming the line and column. Returns owned `*docs` (free with
 * kq_k8s_docs_free) and their count, also on KQ_EPARSE. */
int kq_k8s_pod_from_yaml_docs(const char *yaml, size_t len, kq_k8s_doc_t **docs, size_t *ndocs,
                              char **err);
void kq_k8s_docs_free(kq_k8s_doc_t *docs, size_t ndocs);

/* The merge-patch body for the `status` subresource: {"status":{...}} with phase, conditions,
 * containerStatuses (whole arrays: a merge patch replaces them), startTime, and reason/message
 * (null when unset, so stale values are cleared). Returns owned JSON (free()), length in *len. */
char *kq_k8s_pod_status_patch(const kq_pod_status_t *st, size_t *len);

/* Full Pod as API JSON (apiVersion/kind/metadata/spec/status): for `/pods` and for copies. */
char *kq_k8s_pod_to_json(const kq_pod_t *p, size_t *len);
/* A PodList {"kind":"PodList","apiVersion":"v1","metadata":{},"items":[...]} of `n` pods. */
char *kq_k8s_podlist_to_json(const kq_pod_t *const *pods, size_t n, size_t *len);

/* What a browser cannot run, as one clear reason: more than one container, init or ephemeral
 * containers, volume types other than emptyDir / configMap / secret / projected /
 * downwardAPI, missing image. Returns KQ_OK, or KQ_ENOTSUP with an owned `*reason`
 * ("pod has 2 containers; kuack runs exactly one"). */
int kq_k8s_pod_check_supported(const kq_pod_t *p, char **reason);

/* ---- quantities (resource.Quantity) ---- */

/* Parses a Kubernetes quantity ("250m", "1.5", "2Gi", "128M", "1e3", "0.1Ki") and returns it
 * scaled by 1000 (cpu millicores: "250m" → 250, "2" → 2000) or as an integer value (bytes,
 * counts: "1Ki" → 1024), rounding up like resource.Quantity's MilliValue()/Value(). Refuses
 * negatives, garbage, unknown suffixes and values beyond int64 with KQ_EINVAL and an owned
 * `*err` ("\"-1\" is negative", "\"12x\": unknown suffix \"x\""). */
int kq_k8s_quantity_milli(const char *s, int64_t *out, char **err);
int kq_k8s_quantity_value(const char *s, int64_t *out, char **err);
/* Formats for Node capacity: millis → "1500m" or "2"; bytes → "1024Ki"/"2Gi" when exact, else
 * the decimal integer. `buf` needs 32 bytes; returns buf. */
char *kq_k8s_quantity_format_milli(int64_t millis, char buf[32]);
char *kq_k8s_quantity_format_bytes(int64_t bytes, char buf[32]);

/* RFC 3339 ("2026-01-01T00:00:00Z", fractions and offsets accepted) → wall ns. KQ_EINVAL if bad. */
int kq_k8s_parse_time(const char *s, uint64_t *out_ns);

#endif
