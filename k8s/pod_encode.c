/* kq_pod_t → JSON: the full object (kubelet `/pods`, standalone `/pods`, deep copies) and the
 * merge-patch body for the status subresource. Writes exactly the fields the decoder reads. */
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_k8s_internal.h"

cJSON *kq_k8s_meta_encode(const kq_k8s_meta_t *m) {
  cJSON *o = cJSON_CreateObject();
  kq_jb_str(o, "name", m->name);
  kq_jb_str(o, "generateName", m->generate_name);
  kq_jb_str(o, "namespace", m->namespace_);
  kq_jb_str(o, "uid", m->uid);
  kq_jb_str(o, "resourceVersion", m->resource_version);
  kq_jb_time(o, "creationTimestamp", m->creation_ns);
  kq_jb_time(o, "deletionTimestamp", m->deletion_ns);
  kq_jb_int(o, "deletionGracePeriodSeconds", m->deletion_grace_s);
  if (m->nlabels) cJSON_AddItemToObject(o, "labels", kq_jb_map(m->labels, m->nlabels));
  if (m->nannotations)
    cJSON_AddItemToObject(o, "annotations", kq_jb_map(m->annotations, m->nannotations));
  if (m->nowners) {
    cJSON *a = cJSON_AddArrayToObject(o, "ownerReferences");
    for (size_t i = 0; i < m->nowners; i++) {
      cJSON *r = cJSON_CreateObject();
      kq_jb_str(r, "apiVersion", m->owners[i].api_version);
      kq_jb_str(r, "kind", m->owners[i].kind);
      kq_jb_str(r, "name", m->owners[i].name);
      kq_jb_str(r, "uid", m->owners[i].uid);
      if (m->owners[i].controller) cJSON_AddTrueToObject(r, "controller");
      cJSON_AddItemToArray(a, r);
    }
  }
  return o;
}

static cJSON *resource_list(const kq_pod_resource_list_t *rl) {
  cJSON *o = cJSON_CreateObject();
  char buf[32];
  if (rl->cpu_millis >= 0)
    cJSON_AddStringToObject(o, "cpu", kq_k8s_quantity_format_milli(rl->cpu_millis, buf));
  if (rl->memory_bytes >= 0)
    cJSON_AddStringToObject(o, "memory", kq_k8s_quantity_format_bytes(rl->memory_bytes, buf));
  if (rl->gpu >= 0)
    cJSON_AddStringToObject(o, "kuack.io/gpu", kq_k8s_quantity_format_bytes(rl->gpu, buf));
  return o;
}

static cJSON *env_encode(const kq_pod_env_t *e) {
  cJSON *o = cJSON_CreateObject();
  kq_jb_str(o, "name", e->name);
  if (e->source == KQ_ENV_VALUE) {
    kq_jb_str(o, "value", e->value);
    return o;
  }
  cJSON *vf = cJSON_AddObjectToObject(o, "valueFrom");
  cJSON *r;
  switch (e->source) {
    case KQ_ENV_FIELD_REF:
      r = cJSON_AddObjectToObject(vf, "fieldRef");
      kq_jb_str(r, "fieldPath", e->field_path);
      break;
    case KQ_ENV_RESOURCE_REF:
      r = cJSON_AddObjectToObject(vf, "resourceFieldRef");
      kq_jb_str(r, "resource", e->field_path);
      kq_jb_str(r, "containerName", e->container);
      break;
    default:
      r = cJSON_AddObjectToObject(vf, e->source == KQ_ENV_SECRET_KEY ? "secretKeyRef"
                                                                      : "configMapKeyRef");
      kq_jb_str(r, "name", e->ref_name);
      kq_jb_str(r, "key", e->ref_key);
      if (e->optional) cJSON_AddTrueToObject(r, "optional");
      break;
  }
  return o;
}

static cJSON *container_encode(const kq_pod_container_t *c) {
  cJSON *o = cJSON_CreateObject();
  kq_jb_str(o, "name", c->name);
  kq_jb_str(o, "image", c->image);
  kq_jb_str(o, "imagePullPolicy", c->image_pull_policy);
  kq_jb_str(o, "workingDir", c->working_dir);
  if (c->ncommand) cJSON_AddItemToObject(o, "command", kq_jb_strv(c->command, c->ncommand));
  if (c->nargs) cJSON_AddItemToObject(o, "args", kq_jb_strv(c->args, c->nargs));
  if (c->nenv) {
    cJSON *a = cJSON_AddArrayToObject(o, "env");
    for (size_t i = 0; i < c->nenv; i++) cJSON_AddItemToArray(a, env_encode(&c->env[i]));
  }
  if (c->nenv_from) {
    cJSON *a = cJSON_AddArrayToObject(o, "envFrom");
    for (size_t i = 0; i < c->nenv_from; i++) {
      const kq_pod_env_from_t *f = &c->env_from[i];
      cJSON *e = cJSON_CreateObject();
      kq_jb_str(e, "prefix", f->prefix);
      cJSON *r = cJSON_AddObjectToObject(e, f->secret ? "secretRef" : "configMapRef");
      kq_jb_str(r, "name", f->ref_name);
      if (f->optional) cJSON_AddTrueToObject(r, "optional");
      cJSON_AddItemToArray(a, e);
    }
  }
  cJSON *res = cJSON_AddObjectToObject(o, "resources");
  cJSON *rq = resource_list(&c->resources.requests);
  cJSON *lm = resource_list(&c->resources.limits);
  if (cJSON_GetArraySize(rq)) cJSON_AddItemToObject(res, "requests", rq);
  else cJSON_Delete(rq);
  if (cJSON_GetArraySize(lm)) cJSON_AddItemToObject(res, "limits", lm);
  else cJSON_Delete(lm);
  if (c->tty) cJSON_AddTrueToObject(o, "tty");
  if (c->stdin_) cJSON_AddTrueToObject(o, "stdin");
  return o;
}

static const char *const vol_keys[] = {"", "emptyDir", "configMap", "secret", "projected",
                                       "downwardAPI", "hostPath", "persistentVolumeClaim"};

static cJSON *spec_encode(const kq_pod_spec_t *s) {
  cJSON *o = cJSON_CreateObject();
  kq_jb_str(o, "nodeName", s->node_name);
  cJSON *a = cJSON_AddArrayToObject(o, "containers");
  for (size_t i = 0; i < s->ncontainers; i++)
    cJSON_AddItemToArray(a, container_encode(&s->containers[i]));
  if (s->ninit_containers) {
    a = cJSON_AddArrayToObject(o, "initContainers");
    for (size_t i = 0; i < s->ninit_containers; i++)
      cJSON_AddItemToArray(a, container_encode(&s->init_containers[i]));
  }
  if (s->nvolumes) {
    a = cJSON_AddArrayToObject(o, "volumes");
    for (size_t i = 0; i < s->nvolumes; i++) {
      const kq_pod_volume_t *v = &s->volumes[i];
      cJSON *e = cJSON_CreateObject();
      kq_jb_str(e, "name", v->name);
      const char *k = v->type != KQ_VOL_OTHER && (unsigned)v->type < KQ_ARRAY_LEN(vol_keys)
                          ? vol_keys[v->type] : v->type_name;
      if (k) cJSON_AddObjectToObject(e, k);
      cJSON_AddItemToArray(a, e);
    }
  }
  kq_jb_str(o, "restartPolicy", s->restart_policy);
  kq_jb_int(o, "activeDeadlineSeconds", s->active_deadline_s);
  kq_jb_int(o, "terminationGracePeriodSeconds", s->termination_grace_s);
  if (s->has_priority) cJSON_AddNumberToObject(o, "priority", s->priority);
  kq_jb_str(o, "priorityClassName", s->priority_class_name);
  kq_jb_str(o, "serviceAccountName", s->service_account_name);
  kq_jb_str(o, "schedulerName", s->scheduler_name);
  if (s->host_network) cJSON_AddTrueToObject(o, "hostNetwork");
  if (s->nnode_selector)
    cJSON_AddItemToObject(o, "nodeSelector", kq_jb_map(s->node_selector, s->nnode_selector));
  if (s->nimage_pull_secrets) {
    a = cJSON_AddArrayToObject(o, "imagePullSecrets");
    for (size_t i = 0; i < s->nimage_pull_secrets; i++) {
      cJSON *e = cJSON_CreateObject();
      kq_jb_str(e, "name", s->image_pull_secrets[i]);
      cJSON_AddItemToArray(a, e);
    }
  }
  if (s->ntolerations) {
    a = cJSON_AddArrayToObject(o, "tolerations");
    for (size_t i = 0; i < s->ntolerations; i++) {
      const kq_pod_toleration_t *t = &s->tolerations[i];
      cJSON *e = cJSON_CreateObject();
      kq_jb_str(e, "key", t->key);
      kq_jb_str(e, "operator", t->op);
      kq_jb_str(e, "value", t->value);
      kq_jb_str(e, "effect", t->effect);
      if (t->toleration_s != -1) cJSON_AddNumberToObject(e, "tolerationSeconds", (double)t->toleration_s);
      cJSON_AddItemToArray(a, e);
    }
  }
  return o;
}

static cJSON *cstate_encode(const kq_container_state_t *s) {
  cJSON *o = cJSON_CreateObject();
  cJSON *x;
  switch (s->kind) {
    case KQ_CSTATE_WAITING:
      x = cJSON_AddObjectToObject(o, "waiting");
      kq_jb_str(x, "reason", s->reason);
      kq_jb_str(x, "message", s->message);
      break;
    case KQ_CSTATE_RUNNING:
      x = cJSON_AddObjectToObject(o, "running");
      kq_jb_time(x, "startedAt", s->started_ns);
      break;
    case KQ_CSTATE_TERMINATED:
      x = cJSON_AddObjectToObject(o, "terminated");
      cJSON_AddNumberToObject(x, "exitCode", s->exit_code);
      if (s->signal) cJSON_AddNumberToObject(x, "signal", s->signal);
      kq_jb_str(x, "reason", s->reason);
      kq_jb_str(x, "message", s->message);
      kq_jb_time(x, "startedAt", s->started_ns);
      kq_jb_time(x, "finishedAt", s->finished_ns);
      kq_jb_str(x, "containerID", s->container_id);
      break;
    default:
      break;
  }
  return o;
}

static cJSON *cstatuses_encode(const kq_container_status_t *v, size_t n) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; i < n; i++) {
    const kq_container_status_t *c = &v[i];
    cJSON *o = cJSON_CreateObject();
    kq_jb_str(o, "name", c->name);
    cJSON_AddItemToObject(o, "state", cstate_encode(&c->state));
    cJSON_AddItemToObject(o, "lastState", cstate_encode(&c->last_state));
    cJSON_AddBoolToObject(o, "ready", c->ready);
    cJSON_AddNumberToObject(o, "restartCount", c->restart_count);
    /* image and imageID are required by API validation of container statuses */
    cJSON_AddStringToObject(o, "image", c->image ? c->image : "");
    cJSON_AddStringToObject(o, "imageID", c->image_id ? c->image_id : "");
    kq_jb_str(o, "containerID", c->container_id);
    if (c->has_started) cJSON_AddBoolToObject(o, "started", c->started);
    cJSON_AddItemToArray(a, o);
  }
  return a;
}

static void str_or_null(cJSON *o, const char *key, const char *v, bool nulls) {
  if (v) cJSON_AddStringToObject(o, key, v);
  else if (nulls) cJSON_AddNullToObject(o, key);
}

cJSON *kq_k8s_pod_status_encode(const kq_pod_status_t *s, bool nulls) {
  cJSON *o = cJSON_CreateObject();
  if (s->phase != KQ_PHASE_UNSET) cJSON_AddStringToObject(o, "phase", kq_pod_phase_name(s->phase));
  if (s->nconditions || nulls) {
    cJSON *a = cJSON_AddArrayToObject(o, "conditions");
    for (size_t i = 0; i < s->nconditions; i++) {
      const kq_pod_condition_t *c = &s->conditions[i];
      cJSON *e = cJSON_CreateObject();
      kq_jb_str(e, "type", c->type);
      cJSON_AddStringToObject(e, "status", c->status == KQ_COND_UNSET
                                               ? "Unknown" : kq_cond_status_name(c->status));
      kq_jb_str(e, "reason", c->reason);
      kq_jb_str(e, "message", c->message);
      kq_jb_time(e, "lastTransitionTime", c->last_transition_ns);
      kq_jb_time(e, "lastProbeTime", c->last_probe_ns);
      cJSON_AddItemToArray(a, e);
    }
  }
  if (s->ncontainer_statuses || nulls)
    cJSON_AddItemToObject(o, "containerStatuses",
                          cstatuses_encode(s->container_statuses, s->ncontainer_statuses));
  if (s->ninit_container_statuses)
    cJSON_AddItemToObject(o, "initContainerStatuses",
                          cstatuses_encode(s->init_container_statuses, s->ninit_container_statuses));
  kq_jb_time(o, "startTime", s->start_ns);
  str_or_null(o, "message", s->message, nulls);
  str_or_null(o, "reason", s->reason, nulls);
  kq_jb_str(o, "hostIP", s->host_ip);
  kq_jb_str(o, "podIP", s->pod_ip);
  kq_jb_str(o, "qosClass", s->qos_class);
  return o;
}

cJSON *kq_k8s_pod_encode(const kq_pod_t *p) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "apiVersion", "v1");
  cJSON_AddStringToObject(o, "kind", "Pod");
  cJSON_AddItemToObject(o, "metadata", kq_k8s_meta_encode(&p->meta));
  cJSON_AddItemToObject(o, "spec", spec_encode(&p->spec));
  cJSON_AddItemToObject(o, "status", kq_k8s_pod_status_encode(&p->status, false));
  return o;
}

char *kq_k8s_pod_status_patch(const kq_pod_status_t *st, size_t *len) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "status", kq_k8s_pod_status_encode(st, true));
  char *s = kq_jb_print(o, len);
  cJSON_Delete(o);
  return s;
}

char *kq_k8s_pod_to_json(const kq_pod_t *p, size_t *len) {
  cJSON *o = kq_k8s_pod_encode(p);
  char *s = kq_jb_print(o, len);
  cJSON_Delete(o);
  return s;
}

char *kq_k8s_podlist_to_json(const kq_pod_t *const *pods, size_t n, size_t *len) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "kind", "PodList");
  cJSON_AddStringToObject(o, "apiVersion", "v1");
  cJSON_AddObjectToObject(o, "metadata");
  cJSON *items = cJSON_AddArrayToObject(o, "items");
  for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(items, kq_k8s_pod_encode(pods[i]));
  char *s = kq_jb_print(o, len);
  cJSON_Delete(o);
  return s;
}
