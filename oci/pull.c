/* Pull state machine (see kq_oci_pull.h). Runs on the owner actor's turn: HTTP replies, streamed
 * blob chunks, retry timers and the extraction job's reply all arrive as messages. Blob chunks are
 * hashed and appended to a staging file as they come; extraction runs on the worker pool. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_log.h"
#include "kq_oci_auth.h"
#include "kq_oci_digest.h"
#include "kq_oci_extract.h"
#include "kq_oci_manifest.h"
#include "kq_oci_pull.h"
#include "kq_proxy.h"

enum { R_MANIFEST = 1, R_CONFIG, R_BLOB };

struct kq_oci_pull {
  kq_oci_pull_env_t env;
  kq_oci_ref_t ref;
  char refname[600];
  const char *scheme;
  kq_oci_creds_t creds;
  bool have_creds;
  char *authz;                 /* Authorization for registry requests, owned */
  bool auth_tried;
  kq_oci_challenge_t chal;
  bool in_token;               /* the in-flight request is the token request */
  bool cached_token;           /* authz holds a token from the shared cache */
  char identity[72];           /* token cache key part for the credentials */
  char token_scope[400];       /* scope the current token was asked for */
  int kind;                    /* R_* of the registry request being made */
  char target[KQ_OCI_DIGEST_MAX + 130];
  int depth;
  kq_http_req_id_t req;
  uint32_t attempts;
  kq_timer_id_t timer;
  kq_oci_manifest_t man;
  bool have_man;
  char man_digest[KQ_OCI_DIGEST_MAX];
  bool from_index;
  kq_oci_config_t cfg;
  size_t layer;
  int fd;
  char tmp[PATH_MAX];
  kq_oci_hasher_t *hasher;
  bool blob_too_big;
  uint64_t job;
  kq_oci_pull_done_fn done;
  void *ud;
  bool finished;
  uint32_t fetched;
  uint32_t waited;
  char claimed[KQ_OCI_DIGEST_MAX];   /* blob this pull is downloading for everyone, or "" */
  bool waiting_blob;                 /* parked until another pull releases the current layer */
  uint64_t cookie;                   /* tells this pull's wake-ups from an older pull's */
};

static uint64_t next_cookie;

const char *kq_oci_reason_str(kq_oci_reason_t r) {
  switch (r) {
    case KQ_OCI_REASON_NONE: return "";
    case KQ_OCI_REASON_ERR_IMAGE_PULL: return "ErrImagePull";
    case KQ_OCI_REASON_BACKOFF: return "ImagePullBackOff";
    case KQ_OCI_REASON_INVALID_NAME: return "InvalidImageName";
    case KQ_OCI_REASON_NEVER_PULL: return "ErrImageNeverPull";
  }
  return "ErrImagePull";
}

static void send_req(kq_oci_pull_t *p, kq_actor_t *self);

static void release_claim(kq_oci_pull_t *p) {
  if (!p->claimed[0]) return;
  kq_oci_inflight_release(p->env.inflight, p->claimed);
  p->claimed[0] = '\0';
}

static uint64_t now_ns(kq_actor_t *self) { return kq_now_ns(kq_system_clock(kq_actor_system(self))); }

static void drop_blob(kq_oci_pull_t *p) {
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
  if (p->tmp[0]) unlink(p->tmp);
  p->tmp[0] = '\0';
  kq_oci_hasher_free(p->hasher);
  p->hasher = NULL;
}

static void finish(kq_oci_pull_t *p, kq_actor_t *self, int rc, kq_oci_artefact_t *art, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void finish(kq_oci_pull_t *p, kq_actor_t *self, int rc, kq_oci_artefact_t *art, const char *fmt, ...) {
  if (p->finished) return;
  p->finished = true;
  drop_blob(p);
  release_claim(p);
  kq_oci_pull_result_t res;
  memset(&res, 0, sizeof res);
  res.rc = rc;
  res.reason = rc == KQ_OK ? KQ_OCI_REASON_NONE : KQ_OCI_REASON_ERR_IMAGE_PULL;
  res.blobs_fetched = p->fetched;
  res.blobs_waited = p->waited;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res.message, sizeof res.message, fmt, ap);
    va_end(ap);
  }
  if (art) res.art = *art;
  if (rc != KQ_OK)
    KQ_WARN("oci.pull", "pull failed", "image=%s rc=%s msg=\"%s\"", p->refname, kq_errname(rc), res.message);
  else
    KQ_INFO("oci.pull", "pulled", "image=%s digest=%s kind=%s module=%s blobs=%u", p->refname, res.art.digest,
            kq_oci_kind_str(res.art.kind), res.art.module, p->fetched);
  p->done(self, p->ud, &res);
  kq_oci_artefact_free(&res.art);
}

kq_oci_pull_t *kq_oci_pull_start(kq_actor_t *self, const kq_oci_pull_env_t *env, const kq_oci_ref_t *ref,
                                 const char *const *secrets, size_t nsecrets, kq_oci_pull_done_fn done,
                                 void *ud) {
  kq_oci_pull_t *p = KQ_NEW(kq_oci_pull_t);
  p->env = *env;
  if (!p->env.max_retries) p->env.max_retries = 4;
  if (!p->env.backoff_ns) p->env.backoff_ns = KQ_MS(200);
  if (!p->env.timeout_ms) p->env.timeout_ms = 120000;
  if (!p->env.max_blob_bytes) p->env.max_blob_bytes = 2ull << 30;
  p->ref = *ref;
  kq_oci_ref_format(ref, p->refname, sizeof p->refname);
  p->done = done;
  p->ud = ud;
  p->fd = -1;
  p->scheme = "https";
  for (size_t i = 0; i < env->ninsecure; i++)
    if (strcmp(env->insecure[i], ref->registry) == 0) p->scheme = "http";
  for (size_t i = 0; i < nsecrets && !p->have_creds; i++)
    p->have_creds = kq_oci_creds_lookup(secrets[i], ref->registry, &p->creds) == KQ_OK;
  p->cookie = ++next_cookie;
  kq_oci_creds_identity(&p->creds, p->have_creds, p->identity);
  snprintf(p->token_scope, sizeof p->token_scope, "repository:%s:pull", ref->repo);
  const char *tok = kq_oci_token_cache_get(env->tokens, ref->registry, p->token_scope, p->identity, now_ns(self));
  if (tok) {
    p->authz = kq_asprintf("Bearer %s", tok);
    p->cached_token = true;
  }
  p->kind = R_MANIFEST;
  snprintf(p->target, sizeof p->target, "%s", kq_oci_ref_target(ref));
  send_req(p, self);
  return p;
}

void kq_oci_pull_free(kq_oci_pull_t *p) {
  if (!p) return;
  if (p->req) kq_http_cancel(p->env.http, p->req);
  drop_blob(p);
  release_claim(p);
  kq_oci_manifest_free(&p->man);
  kq_oci_config_free(&p->cfg);
  free(p->authz);
  free(p);
}

static const char *cur_blob_digest(const kq_oci_pull_t *p) {
  return p->kind == R_CONFIG ? p->man.config.digest : p->man.items[p->layer].digest;
}

static void send_req(kq_oci_pull_t *p, kq_actor_t *self) {
  char url[2400];
  kq_http_header_t hdr[4];
  size_t nh = 0;
  char *basic = NULL;
  hdr[nh++] = (kq_http_header_t){"User-Agent", "kuack-node/oci"};
  kq_http_req_t r = {.owner = kq_self(self), .done_id = p->env.http_done_id, .timeout_ms = p->env.timeout_ms,
                     .tls = p->env.tls};
  if (p->in_token) {
    char *u = kq_oci_token_url(&p->chal, p->token_scope);
    snprintf(url, sizeof url, "%s", u);
    free(u);
    if (p->have_creds) {
      basic = kq_oci_basic_header(p->creds.user, p->creds.pass);
      hdr[nh++] = (kq_http_header_t){"Authorization", basic};
    }
    r.max_body = 1 << 20;
  } else {
    const char *host = kq_oci_ref_api_host(&p->ref);
    if (p->kind == R_MANIFEST) {
      snprintf(url, sizeof url, "%s://%s/v2/%s/manifests/%s", p->scheme, host, p->ref.repo, p->target);
      hdr[nh++] = (kq_http_header_t){"Accept", KQ_OCI_ACCEPT};
      r.max_body = KQ_OCI_MAX_MANIFEST_BYTES;
    } else {
      snprintf(url, sizeof url, "%s://%s/v2/%s/blobs/%s", p->scheme, host, p->ref.repo, cur_blob_digest(p));
      if (p->kind == R_CONFIG) r.max_body = KQ_OCI_MAX_CONFIG_BYTES;
      else r.chunk_id = p->env.http_chunk_id;
    }
    if (p->authz) hdr[nh++] = (kq_http_header_t){"Authorization", p->authz};
  }
  r.url = url;
  r.headers = hdr;
  r.nheaders = nh;
  if (p->kind == R_BLOB && !p->in_token) {
    drop_blob(p);
    p->fd = kq_oci_store_tmp_file(p->env.store, p->tmp, sizeof p->tmp);
    p->hasher = kq_oci_hasher_new();
    p->blob_too_big = false;
    if (p->fd < 0) {
      free(basic);
      finish(p, self, KQ_EIO, NULL, "cannot create a staging file in the image cache");
      return;
    }
  }
  p->req = kq_http_start(p->env.http, &r);
  free(basic);
  if (!p->req) finish(p, self, KQ_EINVAL, NULL, "cannot start request to %s", url);
}

/* `at_least_ns`: what the server's Retry-After asked for (0 = nothing). */
static void retry_or_fail(kq_oci_pull_t *p, kq_actor_t *self, int rc, const char *what, uint64_t at_least_ns) {
  p->req = 0;
  if (p->attempts >= p->env.max_retries) {
    finish(p, self, rc, NULL, "%s (after %u attempts)", what, p->attempts + 1);
    return;
  }
  uint64_t cap = p->env.max_retry_after_ns ? p->env.max_retry_after_ns : KQ_SEC(60);
  if (at_least_ns > cap) {
    finish(p, self, rc, NULL, "%s and asked to retry after %llu s (more than the %llu s this node waits)", what,
           (unsigned long long)(at_least_ns / 1000000000ull), (unsigned long long)(cap / 1000000000ull));
    return;
  }
  uint64_t delay = p->env.backoff_ns << (p->attempts < 16 ? p->attempts : 16);
  if (delay < at_least_ns) delay = at_least_ns;
  p->attempts++;
  KQ_INFO("oci.pull", "retrying", "image=%s attempt=%u delay_ms=%llu why=\"%s\"", p->refname, p->attempts,
          (unsigned long long)(delay / 1000000), what);
  p->timer = kq_timer_start(self, delay, 0, p->env.timer_tag);
}

static void start_layer_or_extract(kq_oci_pull_t *p, kq_actor_t *self);

typedef struct job {
  char root[PATH_MAX + 8];
  char dir[PATH_MAX];
  size_t n;
  char (*blobs)[PATH_MAX];
  kq_oci_layer_kind_t *kinds;
  char (*names)[256];
  kq_oci_extract_limits_t limits;
  kq_oci_config_t cfg;     /* entrypoint/cmd only (borrowed copies, freed with the job) */
  char basename[256];
  char err[600];
  kq_oci_artefact_t art;
} job_t;

static void job_free(void *a) {
  job_t *j = a;
  free(j->blobs);
  free(j->kinds);
  free(j->names);
  kq_oci_config_free(&j->cfg);
  free(j);
}

static int job_run(void *arg, void **result) {
  job_t *j = arg;
  (void)result;
  if (mkdir(j->root, 0755) != 0) {
    snprintf(j->err, sizeof j->err, "cannot create staging root");
    return KQ_EIO;
  }
  uint64_t written = 0;
  for (size_t i = 0; i < j->n; i++) {
    int rc = kq_oci_extract_layer(j->blobs[i], j->kinds[i], j->root, j->names[i], &j->limits, &written,
                                  j->err, sizeof j->err);
    if (rc != KQ_OK) return rc;
  }
  int rc = kq_oci_detect_entry(j->root, &j->cfg, NULL, NULL, j->basename, &j->art, j->err, sizeof j->err);
  if (rc != KQ_OK) return rc;
  /* The module's own digest (the agent's integrity check) and the size, here on the worker pool,
   * so nothing on the loop ever hashes a whole (possibly 300 MB) module. */
  char mod[PATH_MAX + 1100];
  snprintf(mod, sizeof mod, "%s/%s", j->root, j->art.module);
  if (kq_oci_sha256_file(mod, j->art.module_digest, &j->art.module_size) != KQ_OK) {
    snprintf(j->err, sizeof j->err, "cannot read the module %s", j->art.module);
    return KQ_EIO;
  }
  j->art.bytes = written;
  return KQ_OK;
}

static void start_extract(kq_oci_pull_t *p, kq_actor_t *self) {
  job_t *j = KQ_NEW(job_t);
  if (kq_oci_store_tmp_dir(p->env.store, j->dir, sizeof j->dir) != KQ_OK) {
    job_free(j);
    finish(p, self, KQ_EIO, NULL, "cannot create a staging folder in the image cache");
    return;
  }
  snprintf(j->root, sizeof j->root, "%s/root", j->dir);
  j->n = p->man.nitems;
  j->blobs = kq_calloc(j->n ? j->n : 1, sizeof *j->blobs);
  j->kinds = kq_calloc(j->n ? j->n : 1, sizeof *j->kinds);
  j->names = kq_calloc(j->n ? j->n : 1, sizeof *j->names);
  for (size_t i = 0; i < j->n; i++) {
    const kq_oci_desc_t *d = &p->man.items[i];
    kq_oci_store_blob_path(p->env.store, d->digest, j->blobs[i], sizeof j->blobs[i]);
    j->kinds[i] = kq_oci_layer_kind(d->media_type);
    if (d->title[0] && kq_proxy_path_ok(d->title) && !strchr(d->title, '/')) snprintf(j->names[i], sizeof j->names[i], "%s", d->title);
    else snprintf(j->names[i], sizeof j->names[i], "%s.wasm", kq_oci_ref_basename(&p->ref));
  }
  j->limits = p->env.limits;
  j->cfg.entrypoint = kq_oci_strv_dup(p->cfg.entrypoint, p->cfg.nentrypoint);
  j->cfg.nentrypoint = p->cfg.nentrypoint;
  j->cfg.cmd = kq_oci_strv_dup(p->cfg.cmd, p->cfg.ncmd);
  j->cfg.ncmd = p->cfg.ncmd;
  snprintf(j->basename, sizeof j->basename, "%s", kq_oci_ref_basename(&p->ref));
  p->job = kq_pool_submit(p->env.pool, kq_self(self), p->env.pool_done_id, job_run, j, job_free, NULL);
}

static void on_extracted(kq_oci_pull_t *p, kq_actor_t *self, kq_pool_msg_t *m) {
  job_t *j = m->arg;
  p->job = 0;
  if (m->rc != KQ_OK) {
    kq_oci_rmtree(j->dir);
    finish(p, self, m->rc, NULL, "image %s: %s", p->refname, j->err);
    return;
  }
  kq_oci_artefact_t art = j->art;
  snprintf(art.digest, sizeof art.digest, "%s", p->man_digest);
  art.entrypoint = p->cfg.entrypoint;
  art.nentrypoint = p->cfg.nentrypoint;
  art.cmd = p->cfg.cmd;
  art.ncmd = p->cfg.ncmd;
  art.env = p->cfg.env;
  art.nenv = p->cfg.nenv;
  int rc = kq_oci_store_commit_artefact(p->env.store, j->dir, &art);
  if (rc != KQ_OK) {
    kq_oci_rmtree(j->dir);
    finish(p, self, rc, NULL, "cannot store image %s", p->refname);
    return;
  }
  kq_oci_store_ref_set(p->env.store, p->refname, p->man_digest);
  kq_oci_artefact_t out;
  rc = kq_oci_store_artefact_get(p->env.store, p->man_digest, &out);
  if (rc != KQ_OK) {
    finish(p, self, rc, NULL, "image %s vanished from the cache", p->refname);
    return;
  }
  finish(p, self, KQ_OK, &out, NULL);
}

static void start_layer_or_extract(kq_oci_pull_t *p, kq_actor_t *self) {
  while (p->layer < p->man.nitems) {
    const kq_oci_desc_t *d = &p->man.items[p->layer];
    if (kq_oci_layer_kind(d->media_type) == KQ_OCI_LAYER_UNKNOWN) {
      finish(p, self, KQ_ENOTSUP, NULL, "image %s: unsupported layer media type \"%s\"", p->refname, d->media_type);
      return;
    }
    if ((uint64_t)d->size > p->env.max_blob_bytes && d->size > 0) {
      finish(p, self, KQ_ETOOBIG, NULL, "image %s: layer of %lld bytes exceeds the limit", p->refname, (long long)d->size);
      return;
    }
    if (!kq_oci_store_has_blob(p->env.store, d->digest)) break;
    p->layer++;
  }
  if (p->layer == p->man.nitems) {
    start_extract(p, self);
    return;
  }
  const char *dg = p->man.items[p->layer].digest;
  if (!kq_oci_inflight_claim(p->env.inflight, dg, kq_self(self), p->env.blob_wake_id, p->cookie)) {
    p->waiting_blob = true;   /* another pull is fetching it; its release wakes us */
    p->waited++;
    return;
  }
  if (p->env.inflight) snprintf(p->claimed, sizeof p->claimed, "%s", dg);
  p->kind = R_BLOB;
  p->attempts = 0;
  send_req(p, self);
}

static void on_manifest(kq_oci_pull_t *p, kq_actor_t *self, kq_http_resp_t *r) {
  char ct[256] = "", got[72];
  kq_http_header_get(r->headers, "Content-Type", ct, sizeof ct);
  kq_oci_sha256_hex(r->body, r->body_len, got);
  if (kq_oci_digest_valid(p->target) && strcmp(got, p->target) != 0) {
    finish(p, self, KQ_EDIGEST, NULL, "manifest %s of %s has digest %s", p->target, p->refname, got);
    return;
  }
  kq_oci_manifest_free(&p->man);
  char err[512] = "";
  int rc = kq_oci_manifest_parse(r->body, r->body_len, ct, &p->man, err, sizeof err);
  if (rc != KQ_OK) {
    finish(p, self, rc, NULL, "image %s: %s", p->refname, err);
    return;
  }
  if (p->man.kind == KQ_OCI_DOC_INDEX) {
    int i = kq_oci_index_select_wasm(&p->man, err, sizeof err);
    if (i < 0 || ++p->depth > 2) {
      finish(p, self, KQ_ENOENT, NULL, "image %s: %s", p->refname, i < 0 ? err : "nested indexes");
      return;
    }
    snprintf(p->target, sizeof p->target, "%s", p->man.items[i].digest);
    p->from_index = true;
    p->attempts = 0;
    send_req(p, self);
    return;
  }
  snprintf(p->man_digest, sizeof p->man_digest, "%s", got);
  kq_oci_artefact_t cached;
  if (kq_oci_store_artefact_get(p->env.store, p->man_digest, &cached) == KQ_OK) {
    kq_oci_store_ref_set(p->env.store, p->refname, p->man_digest);
    finish(p, self, KQ_OK, &cached, NULL);
    return;
  }
  p->kind = R_CONFIG;
  p->attempts = 0;
  send_req(p, self);
}

static void on_config(kq_oci_pull_t *p, kq_actor_t *self, kq_http_resp_t *r) {
  char got[72];
  kq_oci_sha256_hex(r->body, r->body_len, got);
  if (strcmp(got, p->man.config.digest) != 0) {
    finish(p, self, KQ_EDIGEST, NULL, "image %s: config blob digest mismatch (want %s, got %s)", p->refname,
           p->man.config.digest, got);
    return;
  }
  char err[256] = "";
  kq_oci_config_free(&p->cfg);
  bool artifact = kq_oci_manifest_is_wasm_artifact(&p->man);
  int rc = kq_oci_config_parse(r->body, r->body_len, &p->cfg, err, sizeof err);
  if (rc != KQ_OK && !artifact) {
    finish(p, self, rc, NULL, "image %s: %s", p->refname, err);
    return;
  }
  if (!artifact && !p->from_index && !kq_oci_platform_is_wasm(p->cfg.os, p->cfg.arch, p->cfg.variant)) {
    finish(p, self, KQ_ENOENT, NULL, "image %s is a single-platform %s/%s image; no wasi/wasm variant", p->refname,
           p->cfg.os[0] ? p->cfg.os : "?", p->cfg.arch[0] ? p->cfg.arch : "?");
    return;
  }
  p->layer = 0;
  start_layer_or_extract(p, self);
}

static void on_blob_done(kq_oci_pull_t *p, kq_actor_t *self) {
  const kq_oci_desc_t *d = &p->man.items[p->layer];
  if (p->blob_too_big) {
    finish(p, self, KQ_ETOOBIG, NULL, "image %s: blob %s larger than allowed", p->refname, d->digest);
    return;
  }
  uint64_t n = kq_oci_hasher_bytes(p->hasher);
  char got[72];
  kq_oci_hasher_final(p->hasher, got);
  close(p->fd);
  p->fd = -1;
  if (strcmp(got, d->digest) != 0 || (d->size >= 0 && (uint64_t)d->size != n)) {
    finish(p, self, KQ_EDIGEST, NULL, "image %s: layer %s failed verification (got %s, %llu bytes)", p->refname,
           d->digest, got, (unsigned long long)n);
    return;
  }
  int rc = kq_oci_store_commit_blob(p->env.store, p->tmp, d->digest);
  p->tmp[0] = '\0';
  kq_oci_hasher_free(p->hasher);
  p->hasher = NULL;
  release_claim(p);
  if (rc != KQ_OK) {
    finish(p, self, rc, NULL, "image %s: cannot store layer %s", p->refname, d->digest);
    return;
  }
  p->fetched++;
  p->layer++;
  start_layer_or_extract(p, self);
}

static void on_401(kq_oci_pull_t *p, kq_actor_t *self, kq_http_resp_t *r) {
  char wa[2048] = "";
  kq_http_header_get(r->headers, "WWW-Authenticate", wa, sizeof wa);
  if (p->cached_token) {   /* revoked or expired early: forget it and go through the flow once */
    kq_oci_token_cache_drop(p->env.tokens, p->ref.registry, p->token_scope, p->identity);
    p->cached_token = false;
    free(p->authz);
    p->authz = NULL;
  }
  if (p->auth_tried) {
    /* the token we just got does not open the repository: do not hand it to the next pull */
    kq_oci_token_cache_drop(p->env.tokens, p->ref.registry, p->token_scope, p->identity);
    if (p->have_creds)
      finish(p, self, KQ_EAUTH, NULL, "registry %s refused the credentials for %s (401 unauthorized)",
             p->ref.registry, p->refname);
    else
      finish(p, self, KQ_EAUTH, NULL,
             "registry %s requires credentials for %s (401 unauthorized); no imagePullSecret matches this registry",
             p->ref.registry, p->refname);
    return;
  }
  p->auth_tried = true;
  kq_oci_challenge_t c;
  if (kq_oci_challenge_parse(wa, &c) != KQ_OK) {
    finish(p, self, KQ_EAUTH, NULL, "registry %s answered 401 with an unusable WWW-Authenticate", p->ref.registry);
    return;
  }
  if (c.scheme == KQ_OCI_AUTH_BASIC) {
    if (!p->have_creds) {
      finish(p, self, KQ_EAUTH, NULL, "registry %s requires credentials for %s; no imagePullSecret matches it",
             p->ref.registry, p->refname);
      return;
    }
    free(p->authz);
    p->authz = kq_oci_basic_header(p->creds.user, p->creds.pass);
  } else {
    p->chal = c;
    p->in_token = true;
    if (c.scope[0] && strlen(c.scope) < sizeof p->token_scope)
      snprintf(p->token_scope, sizeof p->token_scope, "%s", c.scope);
  }
  send_req(p, self);
}

static void on_resp(kq_oci_pull_t *p, kq_actor_t *self, kq_http_resp_t *r) {
  p->req = 0;
  if (r->rc != KQ_OK) {
    char what[600];
    snprintf(what, sizeof what, "registry %s unreachable: %s", p->ref.registry, r->error ? r->error : kq_strerror(r->rc));
    if (r->rc == KQ_ETOOBIG) { finish(p, self, r->rc, NULL, "%s", what); return; }
    retry_or_fail(p, self, r->rc == KQ_ETIMEDOUT ? KQ_ETIMEDOUT : KQ_ENET, what, 0);
    return;
  }
  long st = r->status;
  if (st == 429 || st >= 500) {
    char what[300], ra[80] = "";
    uint64_t wait = 0;
    if (kq_http_header_get(r->headers, "Retry-After", ra, sizeof ra) == KQ_OK &&
        kq_oci_retry_after_parse(ra, kq_wall_ns(kq_system_clock(kq_actor_system(self))), &wait) != KQ_OK)
      wait = 0;
    snprintf(what, sizeof what, "%s %s answered %ld", p->in_token ? "token service" : "registry",
             p->in_token ? p->chal.realm : p->ref.registry, st);
    retry_or_fail(p, self, KQ_EHTTP, what, wait);
    return;
  }
  if (p->in_token) {
    p->in_token = false;
    if (st == 401 || st == 403) {
      finish(p, self, KQ_EAUTH, NULL, "token service %s refused the credentials for %s (%ld %s)%s", p->chal.realm,
             p->refname, st, st == 401 ? "unauthorized" : "forbidden",
             p->have_creds ? "" : "; no imagePullSecret matches this registry");
      return;
    }
    if (st != 200) {
      finish(p, self, KQ_EAUTH, NULL, "token service %s answered %ld for %s", p->chal.realm, st, p->refname);
      return;
    }
    int64_t exp;
    char *tok = kq_oci_token_parse(r->body, r->body_len, &exp);
    if (!tok) {
      finish(p, self, KQ_EAUTH, NULL, "token service %s sent no usable token", p->chal.realm);
      return;
    }
    kq_oci_token_cache_put(p->env.tokens, p->ref.registry, p->token_scope, p->identity, tok, exp, now_ns(self));
    free(p->authz);
    p->authz = kq_asprintf("Bearer %s", tok);
    free(tok);
    send_req(p, self);
    return;
  }
  if (st == 401) { on_401(p, self, r); return; }
  if (st == 403) {
    finish(p, self, KQ_EAUTH, NULL, "registry %s denied access to %s (403)", p->ref.registry, p->refname);
    return;
  }
  if (st == 404) {
    if (p->kind == R_MANIFEST)
      finish(p, self, KQ_ENOENT, NULL, "manifest for %s not found: %s does not exist in %s/%s", p->refname,
             p->target, p->ref.registry, p->ref.repo);
    else
      finish(p, self, KQ_ENOENT, NULL, "image %s: blob %s not found", p->refname, cur_blob_digest(p));
    return;
  }
  if (st != 200) {
    finish(p, self, KQ_EHTTP, NULL, "registry %s answered %ld for %s", p->ref.registry, st, p->refname);
    return;
  }
  if (p->kind == R_MANIFEST) on_manifest(p, self, r);
  else if (p->kind == R_CONFIG) on_config(p, self, r);
  else on_blob_done(p, self);
}

bool kq_oci_pull_handle(kq_oci_pull_t *p, kq_actor_t *self, kq_msg_t *m) {
  if (p->finished) return false;
  if (m->id == p->env.http_chunk_id) {
    kq_http_chunk_t *c = (kq_http_chunk_t *)m;
    if (c->req != p->req) return false;
    if (c->status == 200 && p->fd >= 0 && !p->blob_too_big) {
      kq_oci_hasher_update(p->hasher, c->data, c->len);
      if (kq_oci_hasher_bytes(p->hasher) > p->env.max_blob_bytes) {
        p->blob_too_big = true;
      } else if (write(p->fd, c->data, c->len) != (ssize_t)c->len) {
        kq_http_cancel(p->env.http, p->req);
        p->req = 0;
        finish(p, self, KQ_EIO, NULL, "image %s: writing the image cache failed: %s", p->refname, strerror(errno));
      }
    }
    return true;
  }
  if (m->id == p->env.http_done_id) {
    kq_http_resp_t *r = (kq_http_resp_t *)m;
    if (r->req != p->req) return false;
    on_resp(p, self, r);
    return true;
  }
  if (m->id == KQ_MSG_TIMER) {
    kq_timer_msg_t *t = (kq_timer_msg_t *)m;
    if (t->tag != p->env.timer_tag || t->timer != p->timer) return false;
    p->timer = 0;
    send_req(p, self);
    return true;
  }
  if (p->env.inflight && m->id == p->env.blob_wake_id) {
    kq_oci_blob_wake_t *w = (kq_oci_blob_wake_t *)m;
    if (w->cookie != p->cookie || !p->waiting_blob) return false;
    p->waiting_blob = false;
    start_layer_or_extract(p, self);   /* stored by the other pull → skipped; failed → we fetch */
    return true;
  }
  if (m->id == p->env.pool_done_id) {
    kq_pool_msg_t *pm = (kq_pool_msg_t *)m;
    if (pm->job != p->job) return false;
    on_extracted(p, self, pm);
    return true;
  }
  return false;
}
