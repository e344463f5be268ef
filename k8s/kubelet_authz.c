/* Kubelet API authorization by SubjectAccessReview (see kubelet_internal.h): a decision cache
 * shared with the kubelet server and a small actor that owns the review requests, because
 * kq_http answers to actors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_k8s_client_internal.h"
#include "kq_k8s_config.h"
#include "kq_k8s_internal.h"
#include "kq_log.h"
#include "kubelet_internal.h"

#define COMP "kubelet"
#define MAX_CACHE 512

#define AZ_MSGS(X) X(AZ_REVIEW) X(AZ_HTTP_DONE)
KQ_MSG_IDS(az, AZ_MSGS)

typedef struct entry {
  char *key;
  bool allowed;
  char *reason;
  uint64_t expires_ns;
} entry_t;

struct kq_kubelet_authz {
  kq_system_t *sys;
  kq_aid_t aid;
  int refs; /* kubelet + actor */
  bool kubelet_alive;
  kq_kubelet_authz_cb cb;
  void *ud;
  kq_k8s_config_t *cfg;
  kq_http_t *http;
  char *node;
  uint64_t allow_ttl_ns, deny_ttl_ns;
  entry_t cache[MAX_CACHE];
  size_t ncache;
  uint64_t reviews;
};

static void az_unref(kq_kubelet_authz_t *az) {
  if (--az->refs > 0) return;
  for (size_t i = 0; i < az->ncache; i++) {
    free(az->cache[i].key);
    free(az->cache[i].reason);
  }
  free(az->node);
  free(az);
}

static uint64_t now_ns(const kq_kubelet_authz_t *az) {
  return kq_now_ns(kq_system_clock(az->sys));
}

char *kq_kubelet_authz_key(const char *user, char *const *groups, size_t ngroups, const char *verb,
                           const char *subresource) {
  size_t n = strlen(user) + strlen(verb) + strlen(subresource) + 8;
  for (size_t i = 0; i < ngroups; i++) n += strlen(groups[i]) + 1;
  char *k = kq_malloc(n);
  /* '\n' cannot occur in a certificate name that reached us as one field */
  size_t o = (size_t)snprintf(k, n, "%s\n%s\n%s\n", verb, subresource, user);
  for (size_t i = 0; i < ngroups; i++) o += (size_t)snprintf(k + o, n - o, "%s,", groups[i]);
  return k;
}

int kq_kubelet_authz_cached(kq_kubelet_authz_t *az, const char *key, const char **reason) {
  uint64_t now = now_ns(az);
  for (size_t i = 0; i < az->ncache; i++) {
    entry_t *e = &az->cache[i];
    if (strcmp(e->key, key) != 0) continue;
    if (e->expires_ns <= now) return -1;
    if (reason) *reason = e->reason;
    return e->allowed ? 1 : 0;
  }
  return -1;
}

static void cache_put(kq_kubelet_authz_t *az, const char *key, bool allowed, const char *reason) {
  uint64_t now = now_ns(az);
  entry_t *slot = NULL;
  for (size_t i = 0; i < az->ncache && !slot; i++)
    if (strcmp(az->cache[i].key, key) == 0 || az->cache[i].expires_ns <= now) slot = &az->cache[i];
  if (!slot && az->ncache < MAX_CACHE) slot = &az->cache[az->ncache++];
  if (!slot) { /* full of live entries: replace the one that expires first */
    slot = &az->cache[0];
    for (size_t i = 1; i < az->ncache; i++)
      if (az->cache[i].expires_ns < slot->expires_ns) slot = &az->cache[i];
  }
  if (slot->key != key) {
    free(slot->key);
    slot->key = kq_strdup(key);
  }
  free(slot->reason);
  slot->reason = kq_strdup(reason ? reason : "");
  slot->allowed = allowed;
  slot->expires_ns = now + (allowed ? az->allow_ttl_ns : az->deny_ttl_ns);
}

uint64_t kq_kubelet_authz_count(const kq_kubelet_authz_t *az) {
  return az->reviews;
}

/* ---- the actor ---- */

typedef struct review_msg {
  kq_msg_t hdr;
  uint64_t ticket;
  char *key;
  char *body;
} review_msg_t;

static void review_dtor(kq_msg_t *m) {
  review_msg_t *r = (review_msg_t *)m;
  free(r->key);
  free(r->body);
}

typedef struct inflight {
  struct inflight *next;
  kq_http_req_id_t id;
  uint64_t ticket;
  char *key;
} inflight_t;

typedef struct actor {
  kq_actor_t *self;
  kq_kubelet_authz_t *az;
  inflight_t *inflight;
} actor_t;

static int az_init(kq_actor_t *self, void *state, void *arg) {
  actor_t *a = state;
  a->self = self;
  a->az = arg;
  return KQ_OK;
}

static void start_review(actor_t *a, review_msg_t *m) {
  kq_kubelet_authz_t *az = a->az;
  kq_http_header_t h[3];
  size_t nh = 0;
  const char *auth = kq_k8s_config_auth(az->cfg, now_ns(az));
  if (auth) h[nh++] = (kq_http_header_t){"Authorization", auth};
  h[nh++] = (kq_http_header_t){"Accept", "application/json"};
  h[nh++] = (kq_http_header_t){"Content-Type", "application/json"};
  char *url = kq_asprintf("%s/apis/authorization.k8s.io/v1/subjectaccessreviews", az->cfg->server);
  kq_http_req_t hr = {.method = "POST",
                      .url = url,
                      .headers = h,
                      .nheaders = nh,
                      .body = m->body,
                      .body_len = strlen(m->body),
                      .owner = kq_self(a->self),
                      .done_id = AZ_HTTP_DONE,
                      .timeout_ms = 10000,
                      .max_body = 1 << 20,
                      .tls = &az->cfg->tls};
  inflight_t *f = KQ_NEW(inflight_t);
  f->id = kq_http_start(az->http, &hr);
  f->ticket = m->ticket;
  f->key = m->key;
  m->key = NULL;
  f->next = a->inflight;
  a->inflight = f;
  az->reviews++;
  free(url);
}

int kq_kubelet_sar_decode(const char *body, size_t len, bool *allowed, char **reason) {
  kq_jd_t d;
  kq_jd_init(&d);
  *allowed = false;
  *reason = NULL;
  int rc = KQ_EPROTO;
  cJSON *root = kq_k8s_json_parse(&d, body, len);
  const cJSON *st = root ? kq_jd_obj(&d, root, "status") : NULL;
  if (st && kq_jd_ok(&d)) {
    bool allow = kq_jd_bool(&d, st, "allowed", false);
    bool denied = kq_jd_bool(&d, st, "denied", false);
    char *why = kq_jd_str(&d, st, "reason");
    char *eval = kq_jd_str(&d, st, "evaluationError");
    if (kq_jd_ok(&d)) {
      rc = KQ_OK;
      *allowed = allow && !denied;
      *reason = kq_strdup(why && *why ? why : eval);
    }
    free(why);
    free(eval);
  }
  if (rc != KQ_OK)
    *reason = kq_asprintf("SubjectAccessReview answer unreadable: %s", d.err ? d.err : "no status");
  cJSON_Delete(root);
  free(d.err);
  return rc;
}

static void on_done(actor_t *a, kq_http_resp_t *r) {
  inflight_t **pp = &a->inflight, *f = NULL;
  for (; *pp; pp = &(*pp)->next)
    if ((*pp)->id == r->req) {
      f = *pp;
      *pp = f->next;
      break;
    }
  if (!f) return;
  kq_kubelet_authz_t *az = a->az;
  bool allowed = false, error = true;
  char *reason = NULL;
  if (r->rc != KQ_OK) {
    reason =
        kq_asprintf("SubjectAccessReview failed: %s", r->error ? r->error : kq_strerror(r->rc));
  } else if (r->status != 201 && r->status != 200) {
    char *m = kq_k8s_status_message(r->body, r->body_len);
    reason = kq_asprintf("SubjectAccessReview refused (HTTP %ld): %s", r->status, m ? m : "");
    free(m);
  } else {
    error = kq_kubelet_sar_decode(r->body, r->body_len, &allowed, &reason) != KQ_OK;
  }
  if (!error)
    cache_put(az, f->key, allowed, reason);
  else
    KQ_WARN(COMP, "authorization check failed", "reason=\"%s\"", reason ? reason : "");
  if (az->kubelet_alive) az->cb(az->ud, f->ticket, allowed, error, reason);
  free(reason);
  free(f->key);
  free(f);
}

static void az_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  actor_t *a = state;
  if (m->id == AZ_REVIEW)
    start_review(a, (review_msg_t *)m);
  else if (m->id == AZ_HTTP_DONE)
    on_done(a, (kq_http_resp_t *)m);
}

static void az_stop(kq_actor_t *self, void *state) {
  actor_t *a = state;
  /* after kq_kubelet_authz_release the requests are cancelled already and `http` may be gone */
  if (a->az->kubelet_alive) kq_http_cancel_owner(a->az->http, kq_self(self));
  while (a->inflight) {
    inflight_t *f = a->inflight;
    a->inflight = f->next;
    /* the kubelet, if still there, must not wait forever */
    if (a->az->kubelet_alive)
      a->az->cb(a->az->ud, f->ticket, false, true, "kubelet authorization stopped");
    free(f->key);
    free(f);
  }
  a->az->aid = KQ_AID_NONE;
  az_unref(a->az);
}

static const kq_actor_type_t az_type = {
    .name = "kubelet_authz",
    .state_size = sizeof(actor_t),
    .init = az_init,
    .dispatch = az_dispatch,
    .stop = az_stop,
    .msg_names = az_msg_names,
    .msg_count = az_msg_count,
};

/* ---- kubelet side ---- */

kq_kubelet_authz_t *kq_kubelet_authz_new(kq_system_t *sys, const kq_kubelet_authz_opts_t *o,
                                         kq_kubelet_authz_cb cb, void *ud, int *err) {
  if (!sys || !o || !o->config || !o->config->server || !o->http || !o->node_name || !cb) {
    if (err) *err = KQ_EINVAL;
    return NULL;
  }
  kq_kubelet_authz_t *az = KQ_NEW(kq_kubelet_authz_t);
  az->sys = sys;
  az->cb = cb;
  az->ud = ud;
  az->cfg = o->config;
  az->http = o->http;
  az->node = kq_strdup(o->node_name);
  az->allow_ttl_ns = KQ_SEC(o->allow_ttl_s ? o->allow_ttl_s : 300);
  az->deny_ttl_ns = KQ_SEC(o->deny_ttl_s ? o->deny_ttl_s : 30);
  az->kubelet_alive = true;
  az->refs = 2;
  int rc = KQ_OK;
  az->aid = kq_spawn(sys, &az_type, az, &rc);
  if (az->aid == KQ_AID_NONE) {
    az->refs = 1;
    az_unref(az);
    if (err) *err = rc ? rc : KQ_EIO;
    return NULL;
  }
  if (err) *err = KQ_OK;
  return az;
}

int kq_kubelet_authz_review(kq_kubelet_authz_t *az, uint64_t ticket, const char *key,
                            const char *user, char *const *groups, size_t ngroups, const char *verb,
                            const char *subresource) {
  if (az->aid == KQ_AID_NONE) return KQ_ENOENT;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "apiVersion", "authorization.k8s.io/v1");
  cJSON_AddStringToObject(o, "kind", "SubjectAccessReview");
  cJSON *spec = cJSON_AddObjectToObject(o, "spec");
  cJSON_AddStringToObject(spec, "user", user);
  cJSON_AddItemToObject(spec, "groups", kq_jb_strv(groups, ngroups));
  cJSON *ra = cJSON_AddObjectToObject(spec, "resourceAttributes");
  cJSON_AddStringToObject(ra, "verb", verb);
  cJSON_AddStringToObject(ra, "resource", "nodes");
  cJSON_AddStringToObject(ra, "subresource", subresource);
  cJSON_AddStringToObject(ra, "name", az->node);
  review_msg_t *m = KQ_MSG_NEW(review_msg_t, AZ_REVIEW);
  m->hdr.dtor = review_dtor;
  m->ticket = ticket;
  m->key = kq_strdup(key);
  m->body = kq_jb_print(o, NULL);
  cJSON_Delete(o);
  return kq_send(az->sys, az->aid, &m->hdr);
}

void kq_kubelet_authz_release(kq_kubelet_authz_t *az) {
  if (!az) return;
  az->kubelet_alive = false;
  if (az->aid != KQ_AID_NONE) {
    kq_http_cancel_owner(az->http, az->aid); /* now, while `http` is surely valid */
    kq_actor_stop(az->sys, az->aid);
  }
  az_unref(az);
}
