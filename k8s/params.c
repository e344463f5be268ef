/* kuack.io/placement-params decoding (see kq_k8s_params.h). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_k8s_params.h"

static int fail(char **err, int rc, const char *msg, const char *key) {
  if (err) *err = key ? kq_asprintf("%s: \"%s\"", msg, key) : kq_strdup(msg);
  return rc;
}

int kq_k8s_parse_params(const char *json, size_t max, kq_k8s_param_t **out, size_t *n, char **err) {
  *out = NULL;
  *n = 0;
  if (err) *err = NULL;
  if (!json || !json[strspn(json, " \t\r\n")]) return KQ_OK;
  cJSON *root = cJSON_Parse(json);
  if (!root) return fail(err, KQ_EPARSE, "placement params are not valid JSON", NULL);
  int rc = KQ_OK;
  if (!cJSON_IsObject(root)) {
    rc = fail(err, KQ_EINVAL, "placement params must be a JSON object of numbers", NULL);
    goto done;
  }
  size_t count = (size_t)cJSON_GetArraySize(root);
  if (count > max) {
    rc = fail(err, KQ_EINVAL, "too many placement params", NULL);
    goto done;
  }
  kq_k8s_param_t *v = count ? kq_calloc(count, sizeof *v) : NULL;
  size_t i = 0;
  for (cJSON *it = root->child; it; it = it->next) {
    if (!cJSON_IsNumber(it) || !it->string) {
      kq_k8s_params_free(v, i);
      rc = fail(err, KQ_EINVAL, "placement param is not a number", it->string ? it->string : "?");
      goto done;
    }
    v[i].key = kq_strdup(it->string);
    v[i].value = it->valuedouble;
    i++;
  }
  *out = v;
  *n = i;
done:
  cJSON_Delete(root);
  return rc;
}

void kq_k8s_params_free(kq_k8s_param_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) free(p[i].key);
  free(p);
}
