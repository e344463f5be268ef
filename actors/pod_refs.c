/* The Secrets and ConfigMaps one Pod references (imagePullSecrets, env valueFrom, envFrom), read
 * in rounds through the API client: which ones to read, which answer belongs to which round, what
 * keeps the container from being configured (with kubelet-like messages), and the Docker
 * config.json texts the image plane needs. No actor state: pod.c sends and receives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "pod_internal.h"

const kq_pod_ref_t *kq_pod_refs_find(const kq_pod_refs_t *t, bool secret, const char *name) {
  if (!name || !t->read) return NULL;
  for (size_t i = 0; i < t->n; i++)
    if (t->v[i].secret == secret && !strcmp(t->v[i].name, name)) return &t->v[i];
  return NULL;
}

const char *kq_pod_ref_value(const kq_pod_ref_t *r, const char *key) {
  if (!r || r->rc != KQ_OK || !key) return NULL;
  for (size_t i = 0; i < r->ndata; i++)
    if (r->data[i].key && !strcmp(r->data[i].key, key)) return r->data[i].value ? r->data[i].value : "";
  return NULL;
}

static void ref_data_free(kq_pod_ref_t *r) {
  for (size_t i = 0; i < r->ndata; i++) {
    free(r->data[i].key);
    free(r->data[i].value);
  }
  free(r->data);
  free(r->error);
  r->data = NULL;
  r->ndata = 0;
  r->error = NULL;
  r->answered = false;
  r->rc = KQ_OK;
}

static void add(kq_pod_refs_t *t, bool secret, const char *name, bool pull, bool required) {
  if (!name || !name[0]) return;
  kq_pod_ref_t *r = NULL;
  for (size_t i = 0; i < t->n && !r; i++)
    if (t->v[i].secret == secret && !strcmp(t->v[i].name, name)) r = &t->v[i];
  if (!r) {
    t->v = kq_realloc(t->v, (t->n + 1) * sizeof *t->v);
    r = &t->v[t->n++];
    memset(r, 0, sizeof *r);
    r->secret = secret;
    r->name = kq_strdup(name);
  }
  r->pull |= pull;
  r->required |= required;
}

void kq_pod_refs_collect(kq_pod_refs_t *t, const kq_pod_t *p) {
  if (!p->spec.ncontainers) return;
  const kq_pod_container_t *c = &p->spec.containers[0];
  for (size_t i = 0; i < p->spec.nimage_pull_secrets; i++)
    add(t, true, p->spec.image_pull_secrets[i], true, true);
  for (size_t i = 0; i < c->nenv_from; i++)
    add(t, c->env_from[i].secret, c->env_from[i].ref_name, false, !c->env_from[i].optional);
  for (size_t i = 0; i < c->nenv; i++)
    if (c->env[i].source == KQ_ENV_CONFIGMAP_KEY || c->env[i].source == KQ_ENV_SECRET_KEY)
      add(t, c->env[i].source == KQ_ENV_SECRET_KEY, c->env[i].ref_name, false, !c->env[i].optional);
}

void kq_pod_refs_begin(kq_pod_refs_t *t) {
  t->read = true;
  t->gen++;
  t->pending = t->n;
  for (size_t i = 0; i < t->n; i++) ref_data_free(&t->v[i]);
}

uint64_t kq_pod_refs_cookie(const kq_pod_refs_t *t, size_t i) { return ((uint64_t)t->gen << 32) | i; }

void kq_pod_refs_fail(kq_pod_refs_t *t, size_t i, int rc) {
  kq_pod_ref_t *r = &t->v[i];
  if (r->answered) return;
  r->answered = true;
  r->rc = rc;
  r->error = kq_strdup(kq_strerror(rc));
  t->pending--;
}

bool kq_pod_refs_answer(kq_pod_refs_t *t, kq_k8s_data_msg_t *d) {
  uint32_t gen = (uint32_t)(d->cookie >> 32);
  size_t i = (size_t)(d->cookie & 0xffffffffu);
  if (gen != t->gen || i >= t->n || t->v[i].answered) return false;
  kq_pod_ref_t *r = &t->v[i];
  r->answered = true;
  r->rc = d->rc;
  r->error = d->error ? kq_strdup(d->error) : NULL;
  r->data = d->data; /* taken: the message's destructor frees what is left */
  r->ndata = d->ndata;
  d->data = NULL;
  d->ndata = 0;
  t->pending--;
  return true;
}

static void push_text(char ***texts, size_t *n, char *owned) {
  *texts = kq_realloc(*texts, (*n + 1) * sizeof(char *));
  (*texts)[(*n)++] = owned;
}

char *kq_pod_refs_problem(const kq_pod_refs_t *t, const kq_pod_t *p, bool *pull, char ***texts,
                          size_t *ntexts) {
  const char *ns = kq_pod_namespace(p);
  *pull = false;
  for (size_t i = 0; i < t->n; i++) {
    const kq_pod_ref_t *r = &t->v[i];
    const char *kind = r->secret ? "secret" : "configmap";
    if (r->rc == KQ_OK || !r->required) continue;
    *pull = r->pull;
    char *why = r->rc == KQ_ENOENT ? kq_asprintf("%s \"%s\" not found", kind, r->name)
                                   : kq_asprintf("cannot read %s %s/%s: %s", kind, ns, r->name,
                                                 r->error ? r->error : kq_strerror(r->rc));
    if (!r->pull) return why;
    char *msg = kq_asprintf("couldn't get image pull secret \"%s\": %s", r->name, why);
    free(why);
    return msg;
  }
  for (size_t i = 0; i < t->n; i++) {
    const kq_pod_ref_t *r = &t->v[i];
    if (!r->pull || r->rc != KQ_OK) continue;
    const char *json = kq_pod_ref_value(r, ".dockerconfigjson");
    const char *legacy = json ? NULL : kq_pod_ref_value(r, ".dockercfg");
    if (!json && !legacy) {
      *pull = true;
      return kq_asprintf("image pull secret \"%s\" has neither .dockerconfigjson nor .dockercfg "
                         "(type kubernetes.io/dockerconfigjson expected)",
                         r->name);
    }
    /* .dockercfg is the bare "auths" map of the old format. */
    push_text(texts, ntexts, json ? kq_strdup(json) : kq_asprintf("{\"auths\":%s}", legacy));
  }
  const kq_pod_container_t *c = p->spec.ncontainers ? &p->spec.containers[0] : NULL;
  for (size_t i = 0; c && i < c->nenv; i++) {
    const kq_pod_env_t *e = &c->env[i];
    if ((e->source != KQ_ENV_CONFIGMAP_KEY && e->source != KQ_ENV_SECRET_KEY) || e->optional) continue;
    const kq_pod_ref_t *r = kq_pod_refs_find(t, e->source == KQ_ENV_SECRET_KEY, e->ref_name);
    if (r && r->rc == KQ_OK && !kq_pod_ref_value(r, e->ref_key))
      return kq_asprintf("couldn't find key %s in %s %s/%s", e->ref_key ? e->ref_key : "?",
                         r->secret ? "Secret" : "ConfigMap", ns, r->name);
  }
  return NULL;
}

void kq_pod_refs_clear(kq_pod_refs_t *t) {
  for (size_t i = 0; i < t->n; i++) {
    ref_data_free(&t->v[i]);
    free(t->v[i].name);
  }
  free(t->v);
  memset(t, 0, sizeof *t);
}
