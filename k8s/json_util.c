/* The decode context and typed getters every k8s/ decoder uses: a field path for error
 * messages, a sticky first error, and type/size checks on every value from the network. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_clock.h"
#include "kq_error.h"
#include "kq_k8s_internal.h"

void kq_jd_init(kq_jd_t *d) { memset(d, 0, sizeof(*d)); }

bool kq_jd_ok(const kq_jd_t *d) { return d->rc == KQ_OK; }

void kq_jd_fail(kq_jd_t *d, int rc, const char *fmt, ...) {
  if (d->rc != KQ_OK) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  d->rc = rc;
  if (d->plen > 0)
    d->err = kq_asprintf("%s: %s", d->path[0] == '.' ? d->path + 1 : d->path, msg);
  else
    d->err = kq_strdup(msg);
}

size_t kq_jd_push(kq_jd_t *d, const char *key) {
  size_t old = d->plen;
  int n = snprintf(d->path + d->plen, sizeof(d->path) - d->plen, ".%s", key);
  if (n > 0) d->plen += (size_t)n;
  if (d->plen >= sizeof(d->path)) d->plen = sizeof(d->path) - 1;
  return old;
}

size_t kq_jd_push_index(kq_jd_t *d, size_t i) {
  size_t old = d->plen;
  int n = snprintf(d->path + d->plen, sizeof(d->path) - d->plen, "[%zu]", i);
  if (n > 0) d->plen += (size_t)n;
  if (d->plen >= sizeof(d->path)) d->plen = sizeof(d->path) - 1;
  return old;
}

void kq_jd_pop(kq_jd_t *d, size_t len) {
  d->plen = len;
  d->path[len] = '\0';
}

static const cJSON *member(const cJSON *obj, const char *key) {
  if (!obj || !cJSON_IsObject(obj)) return NULL;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v || cJSON_IsNull(v)) return NULL;
  return v;
}

static void fail_type(kq_jd_t *d, const char *key, const char *want) {
  size_t l = kq_jd_push(d, key);
  kq_jd_fail(d, KQ_EINVAL, "expected %s", want);
  kq_jd_pop(d, l);
}

char *kq_jd_str(kq_jd_t *d, const cJSON *obj, const char *key) {
  const cJSON *v = member(obj, key);
  if (!v) return NULL;
  if (!cJSON_IsString(v)) {
    fail_type(d, key, "a string");
    return NULL;
  }
  return kq_strdup(v->valuestring);
}

int64_t kq_jd_int(kq_jd_t *d, const cJSON *obj, const char *key, int64_t dflt, int64_t min,
                  int64_t max) {
  const cJSON *v = member(obj, key);
  if (!v) return dflt;
  if (!cJSON_IsNumber(v)) {
    fail_type(d, key, "a number");
    return dflt;
  }
  double x = v->valuedouble;
  if (!(x >= (double)min && x <= (double)max) || x != (double)(int64_t)x) {
    size_t l = kq_jd_push(d, key);
    kq_jd_fail(d, KQ_EINVAL, "%g is not an integer in [%lld, %lld]", x, (long long)min,
               (long long)max);
    kq_jd_pop(d, l);
    return dflt;
  }
  return (int64_t)x;
}

bool kq_jd_bool(kq_jd_t *d, const cJSON *obj, const char *key, bool dflt) {
  const cJSON *v = member(obj, key);
  if (!v) return dflt;
  if (!cJSON_IsBool(v)) {
    fail_type(d, key, "true or false");
    return dflt;
  }
  return cJSON_IsTrue(v);
}

uint64_t kq_jd_time(kq_jd_t *d, const cJSON *obj, const char *key) {
  const cJSON *v = member(obj, key);
  if (!v) return 0;
  uint64_t ns = 0;
  if (!cJSON_IsString(v) || kq_k8s_parse_time(v->valuestring, &ns) != KQ_OK) {
    fail_type(d, key, "an RFC 3339 time");
    return 0;
  }
  return ns;
}

const cJSON *kq_jd_obj(kq_jd_t *d, const cJSON *obj, const char *key) {
  const cJSON *v = member(obj, key);
  if (!v) return NULL;
  if (!cJSON_IsObject(v)) {
    fail_type(d, key, "an object");
    return NULL;
  }
  return v;
}

const cJSON *kq_jd_arr(kq_jd_t *d, const cJSON *obj, const char *key, size_t *n) {
  *n = 0;
  const cJSON *v = member(obj, key);
  if (!v) return NULL;
  if (!cJSON_IsArray(v)) {
    fail_type(d, key, "a list");
    return NULL;
  }
  int c = cJSON_GetArraySize(v);
  if (c > (int)KQ_K8S_MAX_ITEMS) {
    size_t l = kq_jd_push(d, key);
    kq_jd_fail(d, KQ_ETOOBIG, "%d items (at most %u)", c, (unsigned)KQ_K8S_MAX_ITEMS);
    kq_jd_pop(d, l);
    return NULL;
  }
  *n = (size_t)c;
  return v;
}

char **kq_jd_strv(kq_jd_t *d, const cJSON *obj, const char *key, size_t *n) {
  size_t c;
  const cJSON *a = kq_jd_arr(d, obj, key, &c);
  *n = 0;
  if (!a || c == 0) return NULL;
  char **v = kq_calloc(c, sizeof(char *));
  size_t i = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, a) {
    if (!cJSON_IsString(e)) {
      size_t l = kq_jd_push(d, key);
      size_t l2 = kq_jd_push_index(d, i);
      kq_jd_fail(d, KQ_EINVAL, "expected a string");
      kq_jd_pop(d, l2);
      kq_jd_pop(d, l);
      break;
    }
    v[i++] = kq_strdup(e->valuestring);
  }
  *n = i;
  return v;
}

kq_k8s_kv_t *kq_jd_map(kq_jd_t *d, const cJSON *obj, const char *key, size_t *n) {
  *n = 0;
  const cJSON *m = kq_jd_obj(d, obj, key);
  if (!m) return NULL;
  int c = cJSON_GetArraySize(m);
  if (c == 0) return NULL;
  if (c > (int)KQ_K8S_MAX_ITEMS) {
    size_t l = kq_jd_push(d, key);
    kq_jd_fail(d, KQ_ETOOBIG, "%d entries (at most %u)", c, (unsigned)KQ_K8S_MAX_ITEMS);
    kq_jd_pop(d, l);
    return NULL;
  }
  kq_k8s_kv_t *kv = kq_calloc((size_t)c, sizeof(*kv));
  size_t i = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, m) {
    if (!cJSON_IsString(e)) {
      size_t l = kq_jd_push(d, key);
      size_t l2 = kq_jd_push(d, e->string ? e->string : "?");
      kq_jd_fail(d, KQ_EINVAL, "expected a string value");
      kq_jd_pop(d, l2);
      kq_jd_pop(d, l);
      break;
    }
    kv[i].key = kq_strdup(e->string);
    kv[i].value = kq_strdup(e->valuestring);
    i++;
  }
  *n = i;
  return kv;
}

void kq_k8s_strv_free(char **v, size_t n) {
  if (!v) return;
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

void kq_k8s_kv_free(kq_k8s_kv_t *kv, size_t n) {
  if (!kv) return;
  for (size_t i = 0; i < n; i++) {
    free(kv[i].key);
    free(kv[i].value);
  }
  free(kv);
}

cJSON *kq_k8s_json_parse(kq_jd_t *d, const char *json, size_t len) {
  if (!json) {
    kq_jd_fail(d, KQ_EINVAL, "no input");
    return NULL;
  }
  if (len > KQ_K8S_MAX_OBJECT_BYTES) {
    kq_jd_fail(d, KQ_ETOOBIG, "object of %zu bytes (at most %u)", len,
               (unsigned)KQ_K8S_MAX_OBJECT_BYTES);
    return NULL;
  }
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
  if (!root) {
    size_t off = end && end >= json ? (size_t)(end - json) : 0;
    kq_jd_fail(d, KQ_EPARSE, "malformed JSON near byte %zu", off);
    return NULL;
  }
  return root;
}

/* ---- builders ---- */

void kq_jb_str(cJSON *o, const char *key, const char *v) {
  if (v) cJSON_AddItemToObject(o, key, cJSON_CreateString(v));
}

void kq_jb_time(cJSON *o, const char *key, uint64_t ns) {
  if (!ns) return;
  char buf[40];
  /* whole seconds as the API server writes them; fractions kept when present (it accepts them) */
  cJSON_AddItemToObject(o, key, cJSON_CreateString(kq_rfc3339(ns, ns % 1000000000u != 0, buf)));
}

void kq_jb_int(cJSON *o, const char *key, int64_t v) {
  if (v >= 0) cJSON_AddItemToObject(o, key, cJSON_CreateNumber((double)v));
}

cJSON *kq_jb_map(const kq_k8s_kv_t *kv, size_t n) {
  cJSON *m = cJSON_CreateObject();
  for (size_t i = 0; i < n; i++)
    cJSON_AddItemToObject(m, kv[i].key, cJSON_CreateString(kv[i].value ? kv[i].value : ""));
  return m;
}

cJSON *kq_jb_strv(char *const *v, size_t n) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(v[i] ? v[i] : ""));
  return a;
}

char *kq_jb_print(const cJSON *o, size_t *len) {
  char *s = cJSON_PrintUnformatted(o);
  if (!s) abort(); /* cJSON only fails on allocation failure: same policy as kq_malloc */
  if (len) *len = strlen(s);
  return s;
}
