/* Numeric parameters from an annotation such as `kuack.io/placement-params`: a JSON object of
 * numbers ({"weight": 2, "max": 0.5}) decoded here so nothing outside k8s/ sees JSON. */
#ifndef KQ_K8S_PARAMS_H
#define KQ_K8S_PARAMS_H
#include <stddef.h>

typedef struct kq_k8s_param {
  char *key;      /* owned */
  double value;
} kq_k8s_param_t;

/* Parses `json` (a JSON object whose values are all numbers; "" or NULL = no parameters).
 * *out gets an owned array (free with kq_k8s_params_free), *n its length. Fails with
 * KQ_EPARSE (not JSON) or KQ_EINVAL (not an object, a non-number value, more than `max`
 * entries); *err (may be NULL) then gets an owned message. */
int kq_k8s_parse_params(const char *json, size_t max, kq_k8s_param_t **out, size_t *n, char **err);
void kq_k8s_params_free(kq_k8s_param_t *p, size_t n);

#endif
