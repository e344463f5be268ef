/* Internals shared by k8s/ files: the cJSON decode context (field path for messages, sticky
 * first error) and small JSON builders. Never included outside k8s/ (cJSON stays here). */
#ifndef KQ_K8S_INTERNAL_H
#define KQ_K8S_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "kq_k8s_types.h"

/* Decode context: `path` is the dotted field path of the value being decoded; the first error
 * sticks (later ones are ignored) so the message names the first bad field. */
typedef struct kq_jd {
  char path[512];
  size_t plen;
  int rc;
  char *err;  /* owned */
} kq_jd_t;

void kq_jd_init(kq_jd_t *d);
void kq_jd_fail(kq_jd_t *d, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Push ".key" or "[i]" onto the path; returns the previous length for kq_jd_pop. */
size_t kq_jd_push(kq_jd_t *d, const char *key);
size_t kq_jd_push_index(kq_jd_t *d, size_t i);
void kq_jd_pop(kq_jd_t *d, size_t len);
bool kq_jd_ok(const kq_jd_t *d);

/* Typed getters: absent or null → default and no error; a present value of the wrong type is
 * an error naming the field. Strings are returned owned. */
char *kq_jd_str(kq_jd_t *d, const cJSON *obj, const char *key);
int64_t kq_jd_int(kq_jd_t *d, const cJSON *obj, const char *key, int64_t dflt, int64_t min, int64_t max);
bool kq_jd_bool(kq_jd_t *d, const cJSON *obj, const char *key, bool dflt);
uint64_t kq_jd_time(kq_jd_t *d, const cJSON *obj, const char *key);
/* Object/array member or NULL (absent/null); wrong type → error + NULL. Arrays longer than
 * KQ_K8S_MAX_ITEMS are an error. */
const cJSON *kq_jd_obj(kq_jd_t *d, const cJSON *obj, const char *key);
const cJSON *kq_jd_arr(kq_jd_t *d, const cJSON *obj, const char *key, size_t *n);
/* String array / string map. */
char **kq_jd_strv(kq_jd_t *d, const cJSON *obj, const char *key, size_t *n);
kq_k8s_kv_t *kq_jd_map(kq_jd_t *d, const cJSON *obj, const char *key, size_t *n);

void kq_k8s_strv_free(char **v, size_t n);
void kq_k8s_kv_free(kq_k8s_kv_t *kv, size_t n);

/* Decodes metadata / a Pod from a parsed tree (used by JSON and YAML paths). */
void kq_k8s_meta_decode(kq_jd_t *d, const cJSON *meta, kq_k8s_meta_t *m);
void kq_k8s_pod_decode(kq_jd_t *d, const cJSON *root, kq_pod_t *p);
void kq_k8s_pod_status_decode(kq_jd_t *d, const cJSON *st, kq_pod_status_t *s);

/* Builders: add only when the value is set (NULL string, 0 time, -1 int skip). */
void kq_jb_str(cJSON *o, const char *key, const char *v);
void kq_jb_time(cJSON *o, const char *key, uint64_t ns);
void kq_jb_int(cJSON *o, const char *key, int64_t v);
cJSON *kq_jb_map(const kq_k8s_kv_t *kv, size_t n);
cJSON *kq_jb_strv(char *const *v, size_t n);
cJSON *kq_k8s_meta_encode(const kq_k8s_meta_t *m);
cJSON *kq_k8s_pod_encode(const kq_pod_t *p);
cJSON *kq_k8s_pod_status_encode(const kq_pod_status_t *s, bool nulls);
/* Prints compactly; returns owned (free()), length in *len. Frees nothing. */
char *kq_jb_print(const cJSON *o, size_t *len);

/* Parses JSON text into a tree with the size limit; errors into `d`. Returns owned or NULL. */
cJSON *kq_k8s_json_parse(kq_jd_t *d, const char *json, size_t len);

/* Single-document YAML (or JSON) → tree, with the manifest limits. Returns owned or NULL with
 * an owned `*err`. */
cJSON *kq_k8s_yaml_to_json(const char *yaml, size_t len, char **err);

#endif
