/* Manifest, index and config documents (cJSON → structs) and wasm platform selection. Every field
 * from the network is type- and size-checked; anything odd is a KQ_EPARSE with a message. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_oci_manifest.h"

#define SETERR(...) \
  do { if (err && errlen) snprintf(err, errlen, __VA_ARGS__); } while (0)

/* Copies a string member into buf; absent is fine (empty), wrong type or too long is an error. */
static bool get_str(const cJSON *o, const char *key, char *buf, size_t len) {
  buf[0] = '\0';
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v || cJSON_IsNull(v)) return true;
  if (!cJSON_IsString(v) || !v->valuestring) return false;
  size_t n = strlen(v->valuestring);
  if (n >= len) return false;
  memcpy(buf, v->valuestring, n + 1);
  return true;
}

static int parse_desc(const cJSON *o, kq_oci_desc_t *d, bool need_digest, char *err, size_t errlen) {
  memset(d, 0, sizeof *d);
  if (!cJSON_IsObject(o)) { SETERR("descriptor is not an object"); return KQ_EPARSE; }
  if (!get_str(o, "mediaType", d->media_type, sizeof d->media_type) ||
      !get_str(o, "digest", d->digest, sizeof d->digest)) {
    SETERR("descriptor mediaType/digest malformed");
    return KQ_EPARSE;
  }
  if (need_digest && !kq_oci_digest_valid(d->digest)) {
    SETERR("descriptor digest \"%.80s\" is not sha256:<64 hex>", d->digest);
    return KQ_EPARSE;
  }
  const cJSON *sz = cJSON_GetObjectItemCaseSensitive(o, "size");
  if (sz) {
    if (!cJSON_IsNumber(sz) || sz->valuedouble < 0 || sz->valuedouble > 9.0e15) {
      SETERR("descriptor size malformed");
      return KQ_EPARSE;
    }
    d->size = (int64_t)sz->valuedouble;
  } else {
    d->size = -1;
  }
  const cJSON *pf = cJSON_GetObjectItemCaseSensitive(o, "platform");
  if (pf) {
    if (!cJSON_IsObject(pf) || !get_str(pf, "os", d->os, sizeof d->os) ||
        !get_str(pf, "architecture", d->arch, sizeof d->arch) ||
        !get_str(pf, "variant", d->variant, sizeof d->variant)) {
      SETERR("descriptor platform malformed");
      return KQ_EPARSE;
    }
  }
  const cJSON *an = cJSON_GetObjectItemCaseSensitive(o, "annotations");
  if (cJSON_IsObject(an) && !get_str(an, "org.opencontainers.image.title", d->title, sizeof d->title))
    d->title[0] = '\0';
  return KQ_OK;
}

static bool mt_is(const char *a, const char *b) { return a && strcasecmp(a, b) == 0; }

int kq_oci_manifest_parse(const char *body, size_t len, const char *content_type,
                          kq_oci_manifest_t *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!body || len == 0) { SETERR("empty manifest"); return KQ_EPARSE; }
  if (len > KQ_OCI_MAX_MANIFEST_BYTES) { SETERR("manifest larger than %u bytes", KQ_OCI_MAX_MANIFEST_BYTES); return KQ_ETOOBIG; }
  cJSON *root = cJSON_ParseWithLength(body, len);
  if (!root || !cJSON_IsObject(root)) {
    cJSON_Delete(root);
    SETERR("manifest is not a JSON object");
    return KQ_EPARSE;
  }
  int rc = KQ_EPARSE;
  const cJSON *sv = cJSON_GetObjectItemCaseSensitive(root, "schemaVersion");
  if (cJSON_IsNumber(sv) && sv->valueint == 1) {
    SETERR("Docker schema 1 manifests are not supported");
    rc = KQ_ENOTSUP;
    goto out;
  }
  if (!get_str(root, "mediaType", out->media_type, sizeof out->media_type) ||
      !get_str(root, "artifactType", out->artifact_type, sizeof out->artifact_type)) {
    SETERR("manifest mediaType/artifactType malformed");
    goto out;
  }
  if (!out->media_type[0] && content_type) {
    /* strip parameters ("; charset=utf-8") */
    size_t n = strcspn(content_type, "; \t\r\n");
    if (n < sizeof out->media_type) snprintf(out->media_type, sizeof out->media_type, "%.*s", (int)n, content_type);
  }
  const cJSON *manifests = cJSON_GetObjectItemCaseSensitive(root, "manifests");
  const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
  const char *mt = out->media_type;
  if (mt_is(mt, KQ_OCI_MT_OCI_INDEX) || mt_is(mt, KQ_OCI_MT_DOCKER_LIST)) {
    out->kind = KQ_OCI_DOC_INDEX;
  } else if (mt_is(mt, KQ_OCI_MT_OCI_MANIFEST) || mt_is(mt, KQ_OCI_MT_DOCKER_MANIFEST)) {
    out->kind = KQ_OCI_DOC_MANIFEST;
  } else if (manifests && !layers) {
    out->kind = KQ_OCI_DOC_INDEX;
  } else if (layers || cJSON_GetObjectItemCaseSensitive(root, "config")) {
    out->kind = KQ_OCI_DOC_MANIFEST;
  } else {
    SETERR("unsupported manifest media type \"%.100s\"", mt);
    rc = KQ_ENOTSUP;
    goto out;
  }
  const cJSON *arr = out->kind == KQ_OCI_DOC_INDEX ? manifests : layers;
  if (!cJSON_IsArray(arr)) {
    SETERR("%s has no \"%s\" array", out->kind == KQ_OCI_DOC_INDEX ? "index" : "manifest",
           out->kind == KQ_OCI_DOC_INDEX ? "manifests" : "layers");
    goto out;
  }
  int n = cJSON_GetArraySize(arr);
  if (n > KQ_OCI_MAX_ITEMS) { SETERR("too many entries (%d > %d)", n, KQ_OCI_MAX_ITEMS); rc = KQ_ETOOBIG; goto out; }
  if (out->kind == KQ_OCI_DOC_MANIFEST) {
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
    if (!cfg) { SETERR("manifest has no config"); goto out; }
    if ((rc = parse_desc(cfg, &out->config, true, err, errlen)) != KQ_OK) goto out;
    rc = KQ_EPARSE;
  }
  out->items = n ? kq_calloc((size_t)n, sizeof *out->items) : NULL;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    if ((rc = parse_desc(it, &out->items[out->nitems], true, err, errlen)) != KQ_OK) goto out;
    out->nitems++;
  }
  rc = KQ_OK;
out:
  cJSON_Delete(root);
  if (rc != KQ_OK) kq_oci_manifest_free(out);
  return rc;
}

void kq_oci_manifest_free(kq_oci_manifest_t *m) {
  if (!m) return;
  free(m->items);
  m->items = NULL;
  m->nitems = 0;
}

char **kq_oci_strv_dup(char *const *v, size_t n) {
  if (!n) return NULL;
  char **r = kq_calloc(n, sizeof *r);
  for (size_t i = 0; i < n; i++) r[i] = kq_strdup(v[i]);
  return r;
}

void kq_oci_strv_free(char **v, size_t n) {
  if (!v) return;
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

#define MAX_STRV 4096
static bool get_strv(const cJSON *o, const char *key, char ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!a || cJSON_IsNull(a)) return true;
  if (!cJSON_IsArray(a)) return false;
  int cnt = cJSON_GetArraySize(a);
  if (cnt > MAX_STRV) return false;
  if (cnt == 0) return true;
  *out = kq_calloc((size_t)cnt, sizeof **out);
  const cJSON *it;
  cJSON_ArrayForEach(it, a) {
    if (!cJSON_IsString(it) || !it->valuestring) return false;
    (*out)[(*n)++] = kq_strdup(it->valuestring);
  }
  return true;
}

int kq_oci_config_parse(const char *body, size_t len, kq_oci_config_t *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!body || len == 0) { SETERR("empty image config"); return KQ_EPARSE; }
  if (len > KQ_OCI_MAX_CONFIG_BYTES) { SETERR("image config too large"); return KQ_ETOOBIG; }
  cJSON *root = cJSON_ParseWithLength(body, len);
  int rc = KQ_EPARSE;
  if (!cJSON_IsObject(root)) { SETERR("image config is not a JSON object"); goto out; }
  if (!get_str(root, "os", out->os, sizeof out->os) ||
      !get_str(root, "architecture", out->arch, sizeof out->arch) ||
      !get_str(root, "variant", out->variant, sizeof out->variant)) {
    SETERR("image config os/architecture malformed");
    goto out;
  }
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "config");
  if (c && !cJSON_IsNull(c)) {
    if (!cJSON_IsObject(c)) { SETERR("image config \"config\" is not an object"); goto out; }
    char wd[4096];
    if (!get_strv(c, "Entrypoint", &out->entrypoint, &out->nentrypoint) ||
        !get_strv(c, "Cmd", &out->cmd, &out->ncmd) || !get_strv(c, "Env", &out->env, &out->nenv) ||
        !get_str(c, "WorkingDir", wd, sizeof wd)) {
      SETERR("image config Entrypoint/Cmd/Env/WorkingDir malformed");
      goto out;
    }
    if (wd[0]) out->working_dir = kq_strdup(wd);
  }
  rc = KQ_OK;
out:
  cJSON_Delete(root);
  if (rc != KQ_OK) kq_oci_config_free(out);
  return rc;
}

void kq_oci_config_free(kq_oci_config_t *c) {
  if (!c) return;
  kq_oci_strv_free(c->entrypoint, c->nentrypoint);
  kq_oci_strv_free(c->cmd, c->ncmd);
  kq_oci_strv_free(c->env, c->nenv);
  free(c->working_dir);
  memset(c, 0, sizeof *c);
}

static bool is_wasi_os(const char *s) {
  return strcasecmp(s, "wasi") == 0 || strcasecmp(s, "wasip1") == 0 || strcasecmp(s, "wasip2") == 0 ||
         strcasecmp(s, "wasi_snapshot_preview1") == 0;
}
static bool is_wasm_arch(const char *s) {
  return strcasecmp(s, "wasm") == 0 || strcasecmp(s, "wasm32") == 0;
}

bool kq_oci_platform_is_wasm(const char *os, const char *arch, const char *variant) {
  os = os ? os : "";
  arch = arch ? arch : "";
  variant = variant ? variant : "";
  if (is_wasi_os(os)) return true;
  if (is_wasm_arch(arch))
    return !*os || strcasecmp(os, "wasm") == 0 || strcasecmp(os, "unknown") == 0 ||
           strcasecmp(os, "browser") == 0 || is_wasi_os(os);
  if (is_wasm_arch(os) && (is_wasi_os(arch) || !*arch)) return true;   /* swapped spelling */
  if (strcasecmp(os, "wasm32-wasi") == 0 || strcasecmp(arch, "wasm32-wasi") == 0) return true;
  return false;
}

/* Preference: exact wasi/wasm, then any other wasm spelling. */
static int wasm_score(const kq_oci_desc_t *d) {
  if (!kq_oci_platform_is_wasm(d->os, d->arch, d->variant)) return 0;
  if (strcmp(d->os, "wasi") == 0 && strcmp(d->arch, "wasm") == 0) return 3;
  if (is_wasi_os(d->os)) return 2;
  return 1;
}

int kq_oci_index_select_wasm(const kq_oci_manifest_t *m, char *err, size_t errlen) {
  int best = -1, best_score = 0;
  for (size_t i = 0; i < m->nitems; i++) {
    int s = wasm_score(&m->items[i]);
    if (s > best_score) { best = (int)i; best_score = s; }
  }
  if (best >= 0) return best;
  if (err && errlen) {
    size_t off = (size_t)snprintf(err, errlen, "no wasi/wasm variant in the image index; platforms present:");
    if (m->nitems == 0 && off < errlen) snprintf(err + off, errlen - off, " none");
    for (size_t i = 0; i < m->nitems && off < errlen; i++) {
      const kq_oci_desc_t *d = &m->items[i];
      int w = snprintf(err + off, errlen - off, "%s %s/%s%s%s", i ? "," : "", d->os[0] ? d->os : "?",
                       d->arch[0] ? d->arch : "?", d->variant[0] ? "/" : "", d->variant);
      if (w < 0) break;
      off += (size_t)w;
    }
  }
  return KQ_ENOENT;
}

bool kq_oci_manifest_is_wasm_artifact(const kq_oci_manifest_t *m) {
  if (m->kind != KQ_OCI_DOC_MANIFEST) return false;
  if (mt_is(m->config.media_type, KQ_OCI_MT_WASM_CONFIG) || mt_is(m->artifact_type, KQ_OCI_MT_WASM_CONFIG))
    return true;
  if (m->nitems == 0) return false;
  for (size_t i = 0; i < m->nitems; i++)
    if (kq_oci_layer_kind(m->items[i].media_type) != KQ_OCI_LAYER_WASM) return false;
  return true;
}

kq_oci_layer_kind_t kq_oci_layer_kind(const char *mt) {
  if (!mt) return KQ_OCI_LAYER_UNKNOWN;
  if (mt_is(mt, "application/wasm") || mt_is(mt, "application/vnd.wasm.content.layer.v1+wasm") ||
      mt_is(mt, "application/vnd.module.wasm.content.layer.v1+wasm") ||
      mt_is(mt, "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm"))
    return KQ_OCI_LAYER_WASM;
  if (mt_is(mt, "application/vnd.oci.image.layer.v1.tar") ||
      mt_is(mt, "application/vnd.oci.image.layer.nondistributable.v1.tar"))
    return KQ_OCI_LAYER_TAR;
  if (mt_is(mt, "application/vnd.oci.image.layer.v1.tar+gzip") ||
      mt_is(mt, "application/vnd.docker.image.rootfs.diff.tar.gzip") ||
      mt_is(mt, "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip") ||
      mt_is(mt, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"))
    return KQ_OCI_LAYER_TAR_GZIP;
  if (mt_is(mt, "application/vnd.oci.image.layer.v1.tar+zstd") ||
      mt_is(mt, "application/vnd.docker.image.rootfs.diff.tar.zstd"))
    return KQ_OCI_LAYER_TAR_ZSTD;
  return KQ_OCI_LAYER_UNKNOWN;
}
