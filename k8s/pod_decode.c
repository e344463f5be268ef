/* Pod JSON → kq_pod_t. Every field is type-checked and sized; resources go through the quantity
 * parser, so "-1" or "lots" is a clear error naming the field, never a crash or a silent 0.
 * Unknown fields are ignored (the API server adds many we do not use). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_k8s_internal.h"

void kq_k8s_meta_decode(kq_jd_t *d, const cJSON *meta, kq_k8s_meta_t *m) {
  if (!meta) return;
  size_t l = kq_jd_push(d, "metadata");
  m->name = kq_jd_str(d, meta, "name");
  m->namespace_ = kq_jd_str(d, meta, "namespace");
  m->uid = kq_jd_str(d, meta, "uid");
  m->resource_version = kq_jd_str(d, meta, "resourceVersion");
  m->generate_name = kq_jd_str(d, meta, "generateName");
  m->creation_ns = kq_jd_time(d, meta, "creationTimestamp");
  m->deletion_ns = kq_jd_time(d, meta, "deletionTimestamp");
  m->deletion_grace_s = kq_jd_int(d, meta, "deletionGracePeriodSeconds", -1, 0, INT32_MAX);
  m->labels = kq_jd_map(d, meta, "labels", &m->nlabels);
  m->annotations = kq_jd_map(d, meta, "annotations", &m->nannotations);
  size_t n;
  const cJSON *owners = kq_jd_arr(d, meta, "ownerReferences", &n);
  if (owners && n) {
    m->owners = kq_calloc(n, sizeof(*m->owners));
    const cJSON *o;
    size_t i = 0;
    cJSON_ArrayForEach(o, owners) {
      size_t l2 = kq_jd_push(d, "ownerReferences");
      size_t l3 = kq_jd_push_index(d, i);
      kq_k8s_owner_ref_t *r = &m->owners[i++];
      r->api_version = kq_jd_str(d, o, "apiVersion");
      r->kind = kq_jd_str(d, o, "kind");
      r->name = kq_jd_str(d, o, "name");
      r->uid = kq_jd_str(d, o, "uid");
      r->controller = kq_jd_bool(d, o, "controller", false);
      kq_jd_pop(d, l3);
      kq_jd_pop(d, l2);
    }
    m->nowners = i;
  }
  kq_jd_pop(d, l);
}

static void decode_quantity(kq_jd_t *d, const cJSON *list, const char *key, bool milli,
                            int64_t *out) {
  *out = -1;
  const cJSON *v = list ? cJSON_GetObjectItemCaseSensitive(list, key) : NULL;
  if (!v || cJSON_IsNull(v)) return;
  size_t l = kq_jd_push(d, key);
  char num[64];
  const char *s = NULL;
  if (cJSON_IsString(v)) {
    s = v->valuestring;
  } else if (cJSON_IsNumber(v)) {
    /* YAML `cpu: 2` / JSON numbers: render back to text so one parser decides */
    double x = v->valuedouble;
    if (x > -9e18 && x < 9e18 && x == (double)(int64_t)x)
      snprintf(num, sizeof(num), "%lld", (long long)v->valuedouble);
    else
      snprintf(num, sizeof(num), "%.17g", v->valuedouble);
    s = num;
  } else {
    kq_jd_fail(d, KQ_EINVAL, "expected a quantity");
  }
  if (s) {
    char *qerr = NULL;
    int rc = milli ? kq_k8s_quantity_milli(s, out, &qerr) : kq_k8s_quantity_value(s, out, &qerr);
    if (rc != KQ_OK) {
      kq_jd_fail(d, KQ_EINVAL, "%s", qerr ? qerr : "invalid quantity");
      *out = -1;
    }
    free(qerr);
  }
  kq_jd_pop(d, l);
}

static void decode_resource_list(kq_jd_t *d, const cJSON *res, const char *key,
                                 kq_pod_resource_list_t *rl) {
  const cJSON *list = kq_jd_obj(d, res, key);
  size_t l = kq_jd_push(d, key);
  decode_quantity(d, list, "cpu", true, &rl->cpu_millis);
  decode_quantity(d, list, "memory", false, &rl->memory_bytes);
  decode_quantity(d, list, "kuack.io/gpu", false, &rl->gpu);
  kq_jd_pop(d, l);
}

/* Decodes the array `key` of `obj` into a new array of `size`-byte elements (owned; NULL when
 * absent or empty), each by `one` with its path ("key[i]") pushed, so errors name the element;
 * *count is the number of elements decoded. */
static void *decode_items(kq_jd_t *d, const cJSON *obj, const char *key, size_t size,
                          void (*one)(kq_jd_t *d, const cJSON *item, void *out), size_t *count) {
  size_t n;
  const cJSON *a = kq_jd_arr(d, obj, key, &n);
  *count = 0;
  if (!a || !n) return NULL;
  char *v = kq_calloc(n, size);
  size_t l = kq_jd_push(d, key);
  const cJSON *c;
  cJSON_ArrayForEach(c, a) {
    size_t l2 = kq_jd_push_index(d, *count);
    one(d, c, v + size * (*count)++);
    kq_jd_pop(d, l2);
  }
  kq_jd_pop(d, l);
  return v;
}

static void decode_env(kq_jd_t *d, const cJSON *e, void *out) {
  kq_pod_env_t *env = out;
  env->name = kq_jd_str(d, e, "name");
  if (kq_jd_ok(d) && (!env->name || !env->name[0])) kq_jd_fail(d, KQ_EINVAL, "env var without a name");
  env->source = KQ_ENV_VALUE;
  env->value = kq_jd_str(d, e, "value");
  const cJSON *vf = kq_jd_obj(d, e, "valueFrom");
  if (!vf) return;
  size_t l = kq_jd_push(d, "valueFrom");
  const cJSON *r;
  if ((r = kq_jd_obj(d, vf, "fieldRef"))) {
    env->source = KQ_ENV_FIELD_REF;
    env->field_path = kq_jd_str(d, r, "fieldPath");
  } else if ((r = kq_jd_obj(d, vf, "resourceFieldRef"))) {
    env->source = KQ_ENV_RESOURCE_REF;
    env->field_path = kq_jd_str(d, r, "resource");
    env->container = kq_jd_str(d, r, "containerName");
  } else if ((r = kq_jd_obj(d, vf, "configMapKeyRef"))) {
    env->source = KQ_ENV_CONFIGMAP_KEY;
  } else if ((r = kq_jd_obj(d, vf, "secretKeyRef"))) {
    env->source = KQ_ENV_SECRET_KEY;
  } else {
    kq_jd_fail(d, KQ_EINVAL, "unsupported source (want fieldRef, resourceFieldRef, "
                             "configMapKeyRef or secretKeyRef)");
  }
  if (r && (env->source == KQ_ENV_CONFIGMAP_KEY || env->source == KQ_ENV_SECRET_KEY)) {
    env->ref_name = kq_jd_str(d, r, "name");
    env->ref_key = kq_jd_str(d, r, "key");
    env->optional = kq_jd_bool(d, r, "optional", false);
  }
  if (kq_jd_ok(d) && env->source != KQ_ENV_VALUE && !env->field_path && !env->ref_key)
    kq_jd_fail(d, KQ_EINVAL, "reference without a field path or key");
  kq_jd_pop(d, l);
}

static void decode_env_from(kq_jd_t *d, const cJSON *e, void *out) {
  kq_pod_env_from_t *f = out;
  f->prefix = kq_jd_str(d, e, "prefix");
  const cJSON *r = kq_jd_obj(d, e, "configMapRef");
  if (!r) {
    r = kq_jd_obj(d, e, "secretRef");
    f->secret = r != NULL;
  }
  if (r) {
    f->ref_name = kq_jd_str(d, r, "name");
    f->optional = kq_jd_bool(d, r, "optional", false);
  } else {
    kq_jd_fail(d, KQ_EINVAL, "needs configMapRef or secretRef");
  }
}

static void decode_container(kq_jd_t *d, const cJSON *c, void *out) {
  kq_pod_container_t *k = out;
  k->resources.requests.cpu_millis = k->resources.limits.cpu_millis = -1;
  k->resources.requests.memory_bytes = k->resources.limits.memory_bytes = -1;
  k->resources.requests.gpu = k->resources.limits.gpu = -1;
  if (!cJSON_IsObject(c)) {
    kq_jd_fail(d, KQ_EINVAL, "expected an object");
    return;
  }
  k->name = kq_jd_str(d, c, "name");
  k->image = kq_jd_str(d, c, "image");
  k->image_pull_policy = kq_jd_str(d, c, "imagePullPolicy");
  k->working_dir = kq_jd_str(d, c, "workingDir");
  k->command = kq_jd_strv(d, c, "command", &k->ncommand);
  k->args = kq_jd_strv(d, c, "args", &k->nargs);
  k->tty = kq_jd_bool(d, c, "tty", false);
  k->stdin_ = kq_jd_bool(d, c, "stdin", false);
  k->env = decode_items(d, c, "env", sizeof(*k->env), decode_env, &k->nenv);
  k->env_from = decode_items(d, c, "envFrom", sizeof(*k->env_from), decode_env_from, &k->nenv_from);
  kq_jd_arr(d, c, "volumeMounts", &k->nvolume_mounts);
  const cJSON *res = kq_jd_obj(d, c, "resources");
  size_t l = kq_jd_push(d, "resources");
  decode_resource_list(d, res, "requests", &k->resources.requests);
  decode_resource_list(d, res, "limits", &k->resources.limits);
  kq_jd_pop(d, l);
}

static const struct {
  const char *key;
  kq_pod_volume_type_t type;
} vol_types[] = {
    {"emptyDir", KQ_VOL_EMPTY_DIR},   {"configMap", KQ_VOL_CONFIG_MAP},
    {"secret", KQ_VOL_SECRET},        {"projected", KQ_VOL_PROJECTED},
    {"downwardAPI", KQ_VOL_DOWNWARD_API}, {"hostPath", KQ_VOL_HOST_PATH},
    {"persistentVolumeClaim", KQ_VOL_PVC},
};

static void decode_volume(kq_jd_t *d, const cJSON *v, kq_pod_volume_t *vol) {
  vol->name = kq_jd_str(d, v, "name");
  vol->type = KQ_VOL_OTHER;
  const cJSON *e;
  cJSON_ArrayForEach(e, v) {
    if (!e->string || strcmp(e->string, "name") == 0) continue;
    for (size_t i = 0; i < KQ_ARRAY_LEN(vol_types); i++) {
      if (strcmp(e->string, vol_types[i].key) == 0) {
        vol->type = vol_types[i].type;
        break;
      }
    }
    if (!vol->type_name) vol->type_name = kq_strdup(e->string);
    if (vol->type != KQ_VOL_OTHER) {
      free(vol->type_name);
      vol->type_name = kq_strdup(e->string);
      break;
    }
  }
}

static void decode_toleration(kq_jd_t *d, const cJSON *v, void *out) {
  kq_pod_toleration_t *t = out;
  t->key = kq_jd_str(d, v, "key");
  t->op = kq_jd_str(d, v, "operator");
  t->value = kq_jd_str(d, v, "value");
  t->effect = kq_jd_str(d, v, "effect");
  t->toleration_s = kq_jd_int(d, v, "tolerationSeconds", -1, INT64_MIN / 2, INT64_MAX / 2);
}

static void decode_spec(kq_jd_t *d, const cJSON *spec, kq_pod_spec_t *s) {
  s->active_deadline_s = -1;
  s->termination_grace_s = -1;
  if (!spec) return;
  size_t l = kq_jd_push(d, "spec");
  s->node_name = kq_jd_str(d, spec, "nodeName");
  s->containers = decode_items(d, spec, "containers", sizeof(*s->containers), decode_container,
                               &s->ncontainers);
  s->init_containers = decode_items(d, spec, "initContainers", sizeof(*s->init_containers),
                                    decode_container, &s->ninit_containers);
  kq_jd_arr(d, spec, "ephemeralContainers", &s->nephemeral_containers);
  s->restart_policy = kq_jd_str(d, spec, "restartPolicy");
  s->active_deadline_s = kq_jd_int(d, spec, "activeDeadlineSeconds", -1, 1, INT64_MAX / 2);
  s->termination_grace_s = kq_jd_int(d, spec, "terminationGracePeriodSeconds", -1, 0, INT64_MAX / 2);
  const cJSON *pv = cJSON_GetObjectItemCaseSensitive(spec, "priority");
  s->has_priority = pv && !cJSON_IsNull(pv);
  s->priority = (int32_t)kq_jd_int(d, spec, "priority", 0, INT32_MIN, INT32_MAX);
  s->priority_class_name = kq_jd_str(d, spec, "priorityClassName");
  s->service_account_name = kq_jd_str(d, spec, "serviceAccountName");
  s->scheduler_name = kq_jd_str(d, spec, "schedulerName");
  s->host_network = kq_jd_bool(d, spec, "hostNetwork", false);
  s->node_selector = kq_jd_map(d, spec, "nodeSelector", &s->nnode_selector);
  if (s->restart_policy && strcmp(s->restart_policy, "Always") != 0 &&
      strcmp(s->restart_policy, "OnFailure") != 0 && strcmp(s->restart_policy, "Never") != 0) {
    size_t l2 = kq_jd_push(d, "restartPolicy");
    kq_jd_fail(d, KQ_EINVAL, "\"%s\" is not Always, OnFailure or Never", s->restart_policy);
    kq_jd_pop(d, l2);
  }
  size_t n;
  const cJSON *a = kq_jd_arr(d, spec, "volumes", &n);
  if (a && n) {
    s->volumes = kq_calloc(n, sizeof(*s->volumes));
    const cJSON *v;
    cJSON_ArrayForEach(v, a) decode_volume(d, v, &s->volumes[s->nvolumes++]);
  }
  a = kq_jd_arr(d, spec, "imagePullSecrets", &n);
  if (a && n) {
    s->image_pull_secrets = kq_calloc(n, sizeof(char *));
    const cJSON *v;
    cJSON_ArrayForEach(v, a) {
      char *name = kq_jd_str(d, v, "name");
      if (name) s->image_pull_secrets[s->nimage_pull_secrets++] = name;
    }
  }
  s->tolerations = decode_items(d, spec, "tolerations", sizeof(*s->tolerations), decode_toleration,
                                &s->ntolerations);
  kq_jd_pop(d, l);
}

static void decode_cstate(kq_jd_t *d, const cJSON *st, kq_container_state_t *cs) {
  const cJSON *x;
  if (!st) return;
  if ((x = kq_jd_obj(d, st, "terminated"))) {
    cs->kind = KQ_CSTATE_TERMINATED;
    cs->exit_code = (int32_t)kq_jd_int(d, x, "exitCode", 0, INT32_MIN, INT32_MAX);
    cs->signal = (int32_t)kq_jd_int(d, x, "signal", 0, INT32_MIN, INT32_MAX);
    cs->started_ns = kq_jd_time(d, x, "startedAt");
    cs->finished_ns = kq_jd_time(d, x, "finishedAt");
    cs->container_id = kq_jd_str(d, x, "containerID");
  } else if ((x = kq_jd_obj(d, st, "running"))) {
    cs->kind = KQ_CSTATE_RUNNING;
    cs->started_ns = kq_jd_time(d, x, "startedAt");
  } else if ((x = kq_jd_obj(d, st, "waiting"))) {
    cs->kind = KQ_CSTATE_WAITING;
  }
  if (x && cs->kind != KQ_CSTATE_RUNNING) {
    cs->reason = kq_jd_str(d, x, "reason");
    cs->message = kq_jd_str(d, x, "message");
  }
}

static void decode_cstatus(kq_jd_t *d, const cJSON *c, void *out) {
  kq_container_status_t *k = out;
  k->name = kq_jd_str(d, c, "name");
  k->image = kq_jd_str(d, c, "image");
  k->image_id = kq_jd_str(d, c, "imageID");
  k->container_id = kq_jd_str(d, c, "containerID");
  k->ready = kq_jd_bool(d, c, "ready", false);
  const cJSON *sv = cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, "started") : NULL;
  k->has_started = sv && cJSON_IsBool(sv);
  k->started = kq_jd_bool(d, c, "started", false);
  k->restart_count = (int32_t)kq_jd_int(d, c, "restartCount", 0, 0, INT32_MAX);
  decode_cstate(d, kq_jd_obj(d, c, "state"), &k->state);
  decode_cstate(d, kq_jd_obj(d, c, "lastState"), &k->last_state);
}

static kq_cond_status_t cond_status_parse(const char *s) {
  if (!s) return KQ_COND_UNSET;
  if (strcmp(s, "True") == 0) return KQ_COND_TRUE;
  if (strcmp(s, "False") == 0) return KQ_COND_FALSE;
  return KQ_COND_UNKNOWN;
}

void kq_k8s_pod_status_decode(kq_jd_t *d, const cJSON *st, kq_pod_status_t *s) {
  if (!st) return;
  size_t l = kq_jd_push(d, "status");
  char *phase = kq_jd_str(d, st, "phase");
  s->phase = kq_pod_phase_parse(phase);
  free(phase);
  s->start_ns = kq_jd_time(d, st, "startTime");
  s->message = kq_jd_str(d, st, "message");
  s->reason = kq_jd_str(d, st, "reason");
  s->host_ip = kq_jd_str(d, st, "hostIP");
  s->pod_ip = kq_jd_str(d, st, "podIP");
  s->qos_class = kq_jd_str(d, st, "qosClass");
  size_t n;
  const cJSON *a = kq_jd_arr(d, st, "conditions", &n);
  if (a && n) {
    s->conditions = kq_calloc(n, sizeof(*s->conditions));
    const cJSON *c;
    cJSON_ArrayForEach(c, a) {
      kq_pod_condition_t *k = &s->conditions[s->nconditions++];
      k->type = kq_jd_str(d, c, "type");
      char *cs = kq_jd_str(d, c, "status");
      k->status = cond_status_parse(cs);
      free(cs);
      k->reason = kq_jd_str(d, c, "reason");
      k->message = kq_jd_str(d, c, "message");
      k->last_transition_ns = kq_jd_time(d, c, "lastTransitionTime");
      k->last_probe_ns = kq_jd_time(d, c, "lastProbeTime");
    }
  }
  s->container_statuses = decode_items(d, st, "containerStatuses", sizeof(*s->container_statuses),
                                       decode_cstatus, &s->ncontainer_statuses);
  s->init_container_statuses =
      decode_items(d, st, "initContainerStatuses", sizeof(*s->init_container_statuses),
                   decode_cstatus, &s->ninit_container_statuses);
  kq_jd_pop(d, l);
}

void kq_k8s_pod_decode(kq_jd_t *d, const cJSON *root, kq_pod_t *p) {
  memset(p, 0, sizeof(*p));
  p->meta.deletion_grace_s = -1;
  p->spec.active_deadline_s = -1;
  p->spec.termination_grace_s = -1;
  if (!cJSON_IsObject(root)) {
    kq_jd_fail(d, KQ_EINVAL, "a Pod must be an object");
    return;
  }
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
  if (kind && !cJSON_IsNull(kind) &&
      (!cJSON_IsString(kind) || strcmp(kind->valuestring, "Pod") != 0)) {
    kq_jd_fail(d, KQ_EINVAL, "kind \"%s\" is not Pod",
               cJSON_IsString(kind) ? kind->valuestring : "?");
    return;
  }
  kq_k8s_meta_decode(d, kq_jd_obj(d, root, "metadata"), &p->meta);
  decode_spec(d, kq_jd_obj(d, root, "spec"), &p->spec);
  kq_k8s_pod_status_decode(d, kq_jd_obj(d, root, "status"), &p->status);
}

int kq_k8s_pod_from_json(const char *json, size_t len, kq_pod_t *out, char **err) {
  kq_jd_t d;
  kq_jd_init(&d);
  if (err) *err = NULL;
  memset(out, 0, sizeof(*out));
  cJSON *root = kq_k8s_json_parse(&d, json, len);
  if (root) kq_k8s_pod_decode(&d, root, out);
  cJSON_Delete(root);
  if (d.rc != KQ_OK) {
    kq_pod_clear(out);
    if (err) *err = d.err;
    else free(d.err);
    return d.rc;
  }
  return KQ_OK;
}
