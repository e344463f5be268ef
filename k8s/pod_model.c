/* Lifetime and lookups for the Pod model: clear, deep copy (via the codec, so the copy is
 * exactly what the decoder would produce), name tables, the "can a browser run this" check,
 * and RFC 3339 parsing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_k8s_internal.h"

void kq_k8s_meta_clear(kq_k8s_meta_t *m) {
  free(m->name);
  free(m->namespace_);
  free(m->uid);
  free(m->resource_version);
  free(m->generate_name);
  kq_k8s_kv_free(m->labels, m->nlabels);
  kq_k8s_kv_free(m->annotations, m->nannotations);
  for (size_t i = 0; i < m->nowners; i++) {
    free(m->owners[i].api_version);
    free(m->owners[i].kind);
    free(m->owners[i].name);
    free(m->owners[i].uid);
  }
  free(m->owners);
  memset(m, 0, sizeof(*m));
  m->deletion_grace_s = -1;
}

static void container_clear(kq_pod_container_t *c) {
  free(c->name);
  free(c->image);
  free(c->image_pull_policy);
  free(c->working_dir);
  kq_k8s_strv_free(c->command, c->ncommand);
  kq_k8s_strv_free(c->args, c->nargs);
  for (size_t i = 0; i < c->nenv; i++) {
    kq_pod_env_t *e = &c->env[i];
    free(e->name);
    free(e->value);
    free(e->field_path);
    free(e->container);
    free(e->ref_name);
    free(e->ref_key);
  }
  free(c->env);
  for (size_t i = 0; i < c->nenv_from; i++) {
    free(c->env_from[i].ref_name);
    free(c->env_from[i].prefix);
  }
  free(c->env_from);
}

static void spec_clear(kq_pod_spec_t *s) {
  free(s->node_name);
  for (size_t i = 0; i < s->ncontainers; i++) container_clear(&s->containers[i]);
  free(s->containers);
  for (size_t i = 0; i < s->ninit_containers; i++) container_clear(&s->init_containers[i]);
  free(s->init_containers);
  for (size_t i = 0; i < s->nvolumes; i++) {
    free(s->volumes[i].name);
    free(s->volumes[i].type_name);
  }
  free(s->volumes);
  free(s->restart_policy);
  free(s->priority_class_name);
  free(s->service_account_name);
  free(s->scheduler_name);
  kq_k8s_strv_free(s->image_pull_secrets, s->nimage_pull_secrets);
  for (size_t i = 0; i < s->ntolerations; i++) {
    free(s->tolerations[i].key);
    free(s->tolerations[i].op);
    free(s->tolerations[i].value);
    free(s->tolerations[i].effect);
  }
  free(s->tolerations);
  kq_k8s_kv_free(s->node_selector, s->nnode_selector);
  memset(s, 0, sizeof(*s));
}

static void cstate_clear(kq_container_state_t *s) {
  free(s->reason);
  free(s->message);
  free(s->container_id);
}

static void cstatuses_clear(kq_container_status_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(v[i].name);
    free(v[i].image);
    free(v[i].image_id);
    free(v[i].container_id);
    cstate_clear(&v[i].state);
    cstate_clear(&v[i].last_state);
  }
  free(v);
}

void kq_pod_status_clear(kq_pod_status_t *s) {
  if (!s) return;
  for (size_t i = 0; i < s->nconditions; i++) {
    free(s->conditions[i].type);
    free(s->conditions[i].reason);
    free(s->conditions[i].message);
  }
  free(s->conditions);
  cstatuses_clear(s->container_statuses, s->ncontainer_statuses);
  cstatuses_clear(s->init_container_statuses, s->ninit_container_statuses);
  free(s->message);
  free(s->reason);
  free(s->host_ip);
  free(s->pod_ip);
  free(s->qos_class);
  memset(s, 0, sizeof(*s));
}

void kq_pod_clear(kq_pod_t *p) {
  if (!p) return;
  kq_k8s_meta_clear(&p->meta);
  spec_clear(&p->spec);
  kq_pod_status_clear(&p->status);
  p->spec.active_deadline_s = -1;
  p->spec.termination_grace_s = -1;
}

void kq_pod_free(kq_pod_t *p) {
  if (!p) return;
  kq_pod_clear(p);
  free(p);
}

void kq_pod_copy(kq_pod_t *dst, const kq_pod_t *src) {
  cJSON *j = kq_k8s_pod_encode(src);
  kq_jd_t d;
  kq_jd_init(&d);
  kq_k8s_pod_decode(&d, j, dst);
  cJSON_Delete(j);
  /* The encoder only writes what the decoder accepts; a failure here is a bug. */
  if (d.rc != KQ_OK) {
    fprintf(stderr, "kq_pod_copy: round trip failed: %s\n", d.err ? d.err : "?");
    abort();
  }
}

void kq_pod_status_copy(kq_pod_status_t *dst, const kq_pod_status_t *src) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddItemToObject(j, "status", kq_k8s_pod_status_encode(src, false));
  kq_jd_t d;
  kq_jd_init(&d);
  memset(dst, 0, sizeof(*dst));
  kq_k8s_pod_status_decode(&d, cJSON_GetObjectItemCaseSensitive(j, "status"), dst);
  cJSON_Delete(j);
  if (d.rc != KQ_OK) {
    fprintf(stderr, "kq_pod_status_copy: round trip failed: %s\n", d.err ? d.err : "?");
    abort();
  }
}

static const char *kv_find(const kq_k8s_kv_t *kv, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (kv[i].key && strcmp(kv[i].key, key) == 0) return kv[i].value;
  return NULL;
}

const char *kq_k8s_meta_label(const kq_k8s_meta_t *m, const char *key) {
  return kv_find(m->labels, m->nlabels, key);
}

const char *kq_k8s_meta_annotation(const kq_k8s_meta_t *m, const char *key) {
  return kv_find(m->annotations, m->nannotations, key);
}

kq_pod_condition_t *kq_pod_status_condition(kq_pod_status_t *s, const char *type) {
  for (size_t i = 0; i < s->nconditions; i++)
    if (s->conditions[i].type && strcmp(s->conditions[i].type, type) == 0)
      return &s->conditions[i];
  return NULL;
}

const char *kq_pod_namespace(const kq_pod_t *p) {
  return p->meta.namespace_ && p->meta.namespace_[0] ? p->meta.namespace_ : "default";
}

static const char *const phase_names[] = {"", "Pending", "Running", "Succeeded", "Failed",
                                          "Unknown"};

const char *kq_pod_phase_name(kq_pod_phase_t ph) {
  return (unsigned)ph < KQ_ARRAY_LEN(phase_names) ? phase_names[ph] : "";
}

kq_pod_phase_t kq_pod_phase_parse(const char *s) {
  if (!s) return KQ_PHASE_UNSET;
  for (size_t i = 1; i < KQ_ARRAY_LEN(phase_names); i++)
    if (strcmp(s, phase_names[i]) == 0) return (kq_pod_phase_t)i;
  return KQ_PHASE_UNSET;
}

const char *kq_cond_status_name(kq_cond_status_t s) {
  switch (s) {
    case KQ_COND_TRUE: return "True";
    case KQ_COND_FALSE: return "False";
    case KQ_COND_UNKNOWN: return "Unknown";
    default: return "";
  }
}

int kq_k8s_pod_check_supported(const kq_pod_t *p, char **reason) {
  char *why = NULL;
  const kq_pod_spec_t *s = &p->spec;
  if (s->ncontainers != 1) {
    why = kq_asprintf("pod has %zu containers; kuack runs exactly one per pod", s->ncontainers);
  } else if (s->ninit_containers) {
    why = kq_asprintf("init containers are not supported (pod has %zu)", s->ninit_containers);
  } else if (s->nephemeral_containers) {
    why = kq_strdup("ephemeral containers are not supported");
  } else if (!s->containers[0].image || !s->containers[0].image[0]) {
    why = kq_asprintf("container \"%s\" has no image",
                      s->containers[0].name ? s->containers[0].name : "");
  } else {
    for (size_t i = 0; i < s->nvolumes; i++) {
      kq_pod_volume_type_t t = s->volumes[i].type;
      if (t == KQ_VOL_OTHER || t == KQ_VOL_HOST_PATH || t == KQ_VOL_PVC) {
        why = kq_asprintf("volume \"%s\" of type %s is not supported in a browser",
                          s->volumes[i].name ? s->volumes[i].name : "",
                          s->volumes[i].type_name ? s->volumes[i].type_name : "(none)");
        break;
      }
    }
  }
  if (!why) return KQ_OK;
  if (reason) *reason = why;
  else free(why);
  return KQ_ENOTSUP;
}

/* RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM). */
int kq_k8s_parse_time(const char *s, uint64_t *out_ns) {
  if (!s) return KQ_EINVAL;
  int Y, M, D, h, m, sec, n = 0;
  if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6 || n != 19)
    return KQ_EINVAL;
  if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
    return KQ_EINVAL;
  const char *p = s + n;
  uint64_t frac = 0;
  if (*p == '.') {
    p++;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
      if (digits < 9) {
        frac = frac * 10 + (uint64_t)(*p - '0');
        digits++;
      }
      p++;
    }
    if (!digits) return KQ_EINVAL;
    while (digits++ < 9) frac *= 10;
  }
  long off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om, k = 0;
    if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5) return KQ_EINVAL;
    off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    return KQ_EINVAL;
  }
  if (*p) return KQ_EINVAL;
  struct tm tm = {0};
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec;
  time_t t = timegm(&tm);
  if (t == (time_t)-1) return KQ_EINVAL;
  int64_t secs = (int64_t)t - off;
  if (secs < 0) return KQ_EINVAL;
  *out_ns = (uint64_t)secs * 1000000000ull + frac;
  return KQ_OK;
}
