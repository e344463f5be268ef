/* Image actor (one per canonical image reference) and the image service that finds or spawns
 * them. See kq_image.h for the contract. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_image.h"
#include "kq_log.h"
#include "kq_oci_digest.h"
#include "kq_oci_extract.h"
#include "kq_oci_ref.h"

#define IMAGE_MSGS(X) \
  X(IMAGE_REQUEST) X(IMAGE_HTTP_DONE) X(IMAGE_HTTP_CHUNK) X(IMAGE_POOL_DONE) X(IMAGE_BLOB_WAKE) X(IMAGE_PREP_DONE)
KQ_MSG_IDS(image, IMAGE_MSGS)

#define RETRY_TIMER_TAG 0x1a9eull

typedef struct slot {
  char ref[600];
  kq_aid_t aid;
} slot_t;

struct kq_image_service {
  kq_system_t *sys;
  kq_image_service_opts_t opts;
  char **insecure;
  slot_t *slots;
  size_t n, cap;
  uint64_t pulls;
  uint64_t preps;
  kq_oci_token_cache_t *tokens;    /* Bearer tokens shared by every pull */
  kq_oci_inflight_t *inflight;     /* blobs being downloaded, shared by every image actor */
};

/* Request as queued in the actor: an owned copy. */
typedef struct req_msg {
  kq_msg_t hdr;
  char *image;
  kq_pull_policy_t policy;
  char **secrets;
  size_t nsecrets;
  char *wasm_type, *wasm_path;
  kq_aid_t reply_to;
  uint32_t reply_id;
  uint64_t cookie;
  struct req_msg *next_waiter;
} req_msg_t;

typedef struct image_state {
  kq_image_service_t *svc;
  kq_oci_ref_t ref;
  char refname[600];
  kq_oci_pull_t *pull;
  req_msg_t *waiters;              /* owned copies waiting for the pull */
  uint64_t fail_until_ns;
  uint64_t fail_backoff_ns;
  int fail_rc;
  char fail_msg[768];
} image_state_t;

static void req_free_fields(req_msg_t *r) {
  free(r->image);
  for (size_t i = 0; i < r->nsecrets; i++) free(r->secrets[i]);
  free(r->secrets);
  free(r->wasm_type);
  free(r->wasm_path);
  r->image = r->wasm_type = r->wasm_path = NULL;
  r->secrets = NULL;
  r->nsecrets = 0;
}
static void req_dtor(kq_msg_t *m) { req_free_fields((req_msg_t *)m); }

static void reply_dtor(kq_msg_t *m) { kq_oci_artefact_free(&((kq_image_reply_t *)m)->art); }

int kq_pull_policy_parse(const char *s, const char *image, kq_pull_policy_t *out) {
  if (!s || !*s) {
    kq_oci_ref_t r;
    bool latest = kq_oci_ref_parse(image ? image : "", &r, NULL, 0) != KQ_OK ||
                  (!r.digest[0] && strcmp(r.tag, "latest") == 0);
    *out = latest ? KQ_PULL_ALWAYS : KQ_PULL_IF_NOT_PRESENT;
    return KQ_OK;
  }
  if (!strcmp(s, "Always")) *out = KQ_PULL_ALWAYS;
  else if (!strcmp(s, "IfNotPresent")) *out = KQ_PULL_IF_NOT_PRESENT;
  else if (!strcmp(s, "Never")) *out = KQ_PULL_NEVER;
  else return KQ_EINVAL;
  return KQ_OK;
}

static kq_image_reply_t *reply_new(kq_aid_t from, uint32_t id, uint64_t cookie, int rc, kq_oci_reason_t reason,
                                   const char *msg) {
  kq_image_reply_t *r = (kq_image_reply_t *)kq_msg_new(id, sizeof *r);
  r->hdr.dtor = reply_dtor;
  r->hdr.from = from;
  r->cookie = cookie;
  r->rc = rc;
  r->reason = rc == KQ_OK ? KQ_OCI_REASON_NONE : reason;
  snprintf(r->message, sizeof r->message, "%s", msg ? msg : "");
  return r;
}

/* Work that must not run on the loop before a success reply: entry detection with the Pod's
 * annotation overrides (a tree walk) and hashing the module they select, or the module of an
 * artefact stored before its digest was recorded. */
typedef struct prep_job {
  kq_aid_t reply_to;
  uint32_t reply_id;
  uint64_t cookie;
  char *wasm_type, *wasm_path;
  kq_oci_artefact_t art;           /* owned */
  char root[PATH_MAX];
  char err[600];
} prep_job_t;

static void prep_free(void *a) {
  prep_job_t *j = a;
  free(j->wasm_type);
  free(j->wasm_path);
  kq_oci_artefact_free(&j->art);
  free(j);
}

static int prep_run(void *arg, void **result) {
  (void)result;
  prep_job_t *j = arg;
  if ((j->wasm_type && *j->wasm_type) || (j->wasm_path && *j->wasm_path)) {
    kq_oci_config_t cfg = {.entrypoint = j->art.entrypoint, .nentrypoint = j->art.nentrypoint,
                           .cmd = j->art.cmd, .ncmd = j->art.ncmd};
    char before[sizeof j->art.module];
    snprintf(before, sizeof before, "%s", j->art.module);
    int rc = kq_oci_detect_entry(j->root, &cfg, j->wasm_type, j->wasm_path, NULL, &j->art, j->err, sizeof j->err);
    if (rc != KQ_OK) return rc;
    if (strcmp(before, j->art.module) != 0) j->art.module_digest[0] = '\0';
  }
  if (!j->art.module_digest[0] && j->art.module[0]) {
    char mod[PATH_MAX + 1100];
    snprintf(mod, sizeof mod, "%s/%s", j->root, j->art.module);
    if (kq_oci_sha256_file(mod, j->art.module_digest, &j->art.module_size) != KQ_OK) {
      snprintf(j->err, sizeof j->err, "cannot read the module of image %s", j->art.digest);
      j->art.module_digest[0] = '\0';
      return KQ_EIO;
    }
  }
  return KQ_OK;
}

static void on_prep_done(kq_actor_t *self, kq_pool_msg_t *m) {
  prep_job_t *j = m->arg;
  kq_system_t *sys = kq_actor_system(self);
  kq_image_reply_t *r = reply_new(kq_self(self), j->reply_id, j->cookie, m->rc, KQ_OCI_REASON_ERR_IMAGE_PULL,
                                  m->rc == KQ_OK ? NULL : j->err);
  if (m->rc == KQ_OK) {
    r->art = j->art;                  /* move */
    memset(&j->art, 0, sizeof j->art);
    snprintf(r->root, sizeof r->root, "%s", j->root);
  }
  kq_send(sys, j->reply_to, &r->hdr);
}

static void send_reply(kq_system_t *sys, kq_aid_t from, const req_msg_t *rq, int rc, kq_oci_reason_t reason,
                       const char *msg, const kq_oci_artefact_t *art, kq_image_service_t *svc) {
  bool overrides = (rq->wasm_type && *rq->wasm_type) || (rq->wasm_path && *rq->wasm_path);
  if (rc == KQ_OK && art && from != KQ_AID_NONE && svc->opts.pool && (overrides || !art->module_digest[0])) {
    prep_job_t *j = KQ_NEW(prep_job_t);
    j->reply_to = rq->reply_to;
    j->reply_id = rq->reply_id;
    j->cookie = rq->cookie;
    j->wasm_type = kq_strdup(rq->wasm_type);
    j->wasm_path = kq_strdup(rq->wasm_path);
    kq_oci_artefact_copy(&j->art, art);
    kq_oci_store_artefact_root(svc->opts.store, art->digest, j->root, sizeof j->root);
    svc->preps++;
    kq_pool_submit(svc->opts.pool, from, IMAGE_PREP_DONE, prep_run, j, prep_free, NULL);
    return;
  }
  kq_image_reply_t *r = reply_new(from, rq->reply_id, rq->cookie, rc, reason, msg);
  if (rc == KQ_OK && art) {
    kq_oci_artefact_copy(&r->art, art);
    kq_oci_store_artefact_root(svc->opts.store, art->digest, r->root, sizeof r->root);
  }
  kq_send(sys, rq->reply_to, &r->hdr);
}

/* Cache lookup for IfNotPresent/Never: digest refs directly, tags via the ref cache. */
static int cached(image_state_t *st, kq_oci_artefact_t *art) {
  kq_oci_store_t *store = st->svc->opts.store;
  char dg[KQ_OCI_DIGEST_MAX];
  if (st->ref.digest[0]) {
    /* the digest may name an index; the ref cache maps it to the wasm manifest */
    if (kq_oci_store_artefact_get(store, st->ref.digest, art) == KQ_OK) return KQ_OK;
  }
  if (kq_oci_store_ref_get(store, st->refname, dg) != KQ_OK) return KQ_ENOENT;
  return kq_oci_store_artefact_get(store, dg, art);
}

static void on_pull_done(kq_actor_t *self, void *ud, kq_oci_pull_result_t *res) {
  image_state_t *st = ud;
  kq_system_t *sys = kq_actor_system(self);
  uint64_t now = kq_now_ns(kq_system_clock(sys));
  if (res->rc == KQ_OK) {
    st->fail_backoff_ns = 0;
    st->fail_until_ns = 0;
  } else {
    uint64_t base = st->svc->opts.fail_backoff_ns ? st->svc->opts.fail_backoff_ns : KQ_SEC(10);
    st->fail_backoff_ns = st->fail_backoff_ns ? st->fail_backoff_ns * 2 : base;
    if (st->fail_backoff_ns > KQ_SEC(300)) st->fail_backoff_ns = KQ_SEC(300);
    st->fail_until_ns = now + st->fail_backoff_ns;
    st->fail_rc = res->rc;
    snprintf(st->fail_msg, sizeof st->fail_msg, "%s", res->message);
  }
  req_msg_t *w = st->waiters;
  st->waiters = NULL;
  while (w) {
    req_msg_t *next = w->next_waiter;
    send_reply(sys, kq_self(self), w, res->rc, res->reason, res->message, &res->art, st->svc);
    req_free_fields(w);
    free(w);
    w = next;
  }
  /* the pull object is freed on the next turn of dispatch (we are inside its callback) */
}

static void start_pull(kq_actor_t *self, image_state_t *st, const req_msg_t *rq) {
  kq_image_service_t *svc = st->svc;
  kq_oci_pull_env_t env = {
    .http = svc->opts.http, .pool = svc->opts.pool, .store = svc->opts.store,
    .insecure = (const char *const *)svc->insecure, .ninsecure = svc->opts.ninsecure,
    .http_done_id = IMAGE_HTTP_DONE, .http_chunk_id = IMAGE_HTTP_CHUNK, .pool_done_id = IMAGE_POOL_DONE,
    .timer_tag = RETRY_TIMER_TAG, .max_retries = svc->opts.max_retries, .backoff_ns = svc->opts.retry_backoff_ns,
    .limits = svc->opts.limits, .tls = svc->opts.tls,
    .tokens = svc->tokens, .max_retry_after_ns = svc->opts.max_retry_after_ns,
    .inflight = svc->inflight, .blob_wake_id = IMAGE_BLOB_WAKE,
  };
  svc->pulls++;
  st->pull = kq_oci_pull_start(self, &env, &st->ref, (const char *const *)rq->secrets, rq->nsecrets, on_pull_done, st);
}

static void on_request(kq_actor_t *self, image_state_t *st, req_msg_t *rq) {
  kq_system_t *sys = kq_actor_system(self);
  if (rq->policy != KQ_PULL_ALWAYS) {
    kq_oci_artefact_t art;
    if (cached(st, &art) == KQ_OK) {
      send_reply(sys, kq_self(self), rq, KQ_OK, KQ_OCI_REASON_NONE, NULL, &art, st->svc);
      kq_oci_artefact_free(&art);
      return;
    }
    if (rq->policy == KQ_PULL_NEVER) {
      char msg[700];
      snprintf(msg, sizeof msg, "Container image \"%s\" is not present with pull policy of Never", rq->image);
      send_reply(sys, kq_self(self), rq, KQ_ENOENT, KQ_OCI_REASON_NEVER_PULL, msg, NULL, st->svc);
      return;
    }
  }
  if (!st->pull && st->fail_until_ns && kq_now_ns(kq_system_clock(sys)) < st->fail_until_ns) {
    char msg[900];
    snprintf(msg, sizeof msg, "Back-off pulling image \"%s\": %s", rq->image, st->fail_msg);
    send_reply(sys, kq_self(self), rq, st->fail_rc, KQ_OCI_REASON_BACKOFF, msg, NULL, st->svc);
    return;
  }
  req_msg_t *w = KQ_NEW(req_msg_t);
  *w = *rq;              /* move the owned fields */
  rq->image = rq->wasm_type = rq->wasm_path = NULL;
  rq->secrets = NULL;
  rq->nsecrets = 0;
  w->next_waiter = st->waiters;
  st->waiters = w;
  if (!st->pull) start_pull(self, st, w);
}

typedef struct spawn_arg {
  kq_image_service_t *svc;
  const char *canon;
} spawn_arg_t;

static int image_init(kq_actor_t *self, void *state, void *arg) {
  (void)self;
  image_state_t *st = state;
  const spawn_arg_t *a = arg;
  st->svc = a->svc;
  if (kq_oci_ref_parse(a->canon, &st->ref, NULL, 0) != KQ_OK) return KQ_EINVAL;
  kq_oci_ref_format(&st->ref, st->refname, sizeof st->refname);
  return KQ_OK;
}

static void image_dispatch(kq_actor_t *self, void *state, kq_msg_t *m) {
  image_state_t *st = state;
  if (m->id == IMAGE_REQUEST) {
    on_request(self, st, (req_msg_t *)m);
  } else if (m->id == IMAGE_PREP_DONE) {
    on_prep_done(self, (kq_pool_msg_t *)m);
  } else if (st->pull) {
    kq_oci_pull_handle(st->pull, self, m);
  }
  if (st->pull && !st->waiters) {   /* finished (done callback drained the waiters) */
    kq_oci_pull_free(st->pull);
    st->pull = NULL;
  }
}

static void image_stop(kq_actor_t *self, void *state) {
  image_state_t *st = state;
  kq_oci_pull_free(st->pull);
  st->pull = NULL;
  if (st->svc->opts.http) kq_http_cancel_owner(st->svc->opts.http, kq_self(self));
  req_msg_t *w = st->waiters;
  while (w) {
    req_msg_t *next = w->next_waiter;
    req_free_fields(w);
    free(w);
    w = next;
  }
  st->waiters = NULL;
  for (size_t i = 0; i < st->svc->n; i++)
    if (st->svc->slots[i].aid == kq_self(self)) st->svc->slots[i].aid = KQ_AID_NONE;
}

static const kq_actor_type_t image_type = {
  .name = "image",
  .state_size = sizeof(image_state_t),
  .init = image_init,
  .dispatch = image_dispatch,
  .stop = image_stop,
  .msg_names = image_msg_names,
  .msg_count = image_msg_count,
};

kq_image_service_t *kq_image_service_new(kq_system_t *sys, const kq_image_service_opts_t *opts) {
  kq_image_service_t *svc = KQ_NEW(kq_image_service_t);
  svc->sys = sys;
  svc->opts = *opts;
  svc->insecure = kq_oci_strv_dup((char *const *)opts->insecure, opts->ninsecure);
  svc->opts.insecure = NULL;
  svc->tokens = kq_oci_token_cache_new();
  svc->inflight = kq_oci_inflight_new(sys);
  return svc;
}

void kq_image_service_free(kq_image_service_t *svc) {
  if (!svc) return;
  kq_oci_strv_free(svc->insecure, svc->opts.ninsecure);
  kq_oci_token_cache_free(svc->tokens);
  kq_oci_inflight_free(svc->inflight);
  free(svc->slots);
  free(svc);
}

kq_oci_store_t *kq_image_service_store(kq_image_service_t *svc) { return svc->opts.store; }
int kq_image_service_pin(kq_image_service_t *svc, const char *d) { return kq_oci_store_pin(svc->opts.store, d); }
int kq_image_service_unpin(kq_image_service_t *svc, const char *d) { return kq_oci_store_unpin(svc->opts.store, d); }
uint64_t kq_image_service_pulls(const kq_image_service_t *svc) { return svc->pulls; }
uint64_t kq_image_service_preps(const kq_image_service_t *svc) { return svc->preps; }
kq_oci_token_cache_t *kq_image_service_token_cache(kq_image_service_t *svc) { return svc->tokens; }
size_t kq_image_service_tokens_cached(const kq_image_service_t *svc) { return kq_oci_token_cache_size(svc->tokens); }

static slot_t *find_slot(kq_image_service_t *svc, const char *canon) {
  for (size_t i = 0; i < svc->n; i++)
    if (strcmp(svc->slots[i].ref, canon) == 0) return &svc->slots[i];
  return NULL;
}

kq_aid_t kq_image_service_lookup(kq_image_service_t *svc, const char *image) {
  kq_oci_ref_t r;
  char canon[600];
  if (kq_oci_ref_parse(image, &r, NULL, 0) != KQ_OK || kq_oci_ref_format(&r, canon, sizeof canon) != KQ_OK)
    return KQ_AID_NONE;
  slot_t *s = find_slot(svc, canon);
  return s && kq_actor_alive(svc->sys, s->aid) ? s->aid : KQ_AID_NONE;
}

int kq_image_service_request(kq_image_service_t *svc, const kq_image_request_t *req) {
  req_msg_t *m = (req_msg_t *)kq_msg_new(IMAGE_REQUEST, sizeof(req_msg_t));
  m->hdr.dtor = req_dtor;
  m->image = kq_strdup(req->image ? req->image : "");
  m->policy = req->policy;
  m->nsecrets = req->nsecrets;
  m->secrets = kq_oci_strv_dup((char *const *)req->secrets, req->nsecrets);
  m->wasm_type = kq_strdup(req->wasm_type);
  m->wasm_path = kq_strdup(req->wasm_path);
  m->reply_to = req->reply_to;
  m->reply_id = req->reply_id;
  m->cookie = req->cookie;
  kq_oci_ref_t r;
  char err[300] = "", canon[600];
  if (kq_oci_ref_parse(m->image, &r, err, sizeof err) != KQ_OK ||
      kq_oci_ref_format(&r, canon, sizeof canon) != KQ_OK) {
    char msg[700];
    snprintf(msg, sizeof msg, "Failed to apply default image tag \"%s\": couldn't parse image reference \"%s\": %s",
             m->image, m->image, err[0] ? err : "too long");
    send_reply(svc->sys, KQ_AID_NONE, m, KQ_EINVAL, KQ_OCI_REASON_INVALID_NAME, msg, NULL, svc);
    kq_msg_free(&m->hdr);
    return KQ_EINVAL;
  }
  slot_t *s = find_slot(svc, canon);
  if (!s) {
    if (svc->n == svc->cap) {
      svc->cap = svc->cap ? svc->cap * 2 : 16;
      svc->slots = kq_realloc(svc->slots, svc->cap * sizeof *svc->slots);
    }
    s = &svc->slots[svc->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->ref, sizeof s->ref, "%s", canon);
  }
  if (!s->aid || !kq_actor_alive(svc->sys, s->aid)) {
    spawn_arg_t arg = {svc, canon};
    int err2 = KQ_OK;
    kq_aid_t aid = kq_spawn(svc->sys, &image_type, &arg, &err2);
    if (!aid) {
      kq_msg_free(&m->hdr);
      return err2;
    }
    s = find_slot(svc, canon);
    s->aid = aid;
  }
  return kq_send(svc->sys, s->aid, &m->hdr);
}
