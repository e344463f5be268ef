/* Pod JSON decoding (every modelled field), the status merge patch, full-object rendering and
 * deep copy round trips, and hostile inputs (wrong types, negative resources, truncation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kq_error.h"
#include "kq_k8s_types.h"

static const char *POD =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"hello\",\"namespace\":\"ns1\","
    "\"uid\":\"u-1\",\"resourceVersion\":\"42\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\","
    "\"deletionTimestamp\":\"2026-01-01T00:01:00.5Z\",\"deletionGracePeriodSeconds\":30,"
    "\"labels\":{\"app\":\"h\"},\"annotations\":{\"kuack.io/allow-secrets\":\"true\"},"
    "\"ownerReferences\":[{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"name\":\"j\",\"uid\":\"u-j\","
    "\"controller\":true}]},"
    "\"spec\":{\"nodeName\":\"kuack-node\",\"restartPolicy\":\"OnFailure\",\"activeDeadlineSeconds\":60,"
    "\"terminationGracePeriodSeconds\":5,\"priority\":100,\"imagePullSecrets\":[{\"name\":\"regcred\"}],"
    "\"tolerations\":[{\"key\":\"kuack.io/provider\",\"operator\":\"Equal\",\"value\":\"kuack\","
    "\"effect\":\"NoSchedule\"}],"
    "\"volumes\":[{\"name\":\"kube-api-access\",\"projected\":{}},{\"name\":\"data\",\"nfs\":{\"server\":\"x\"}}],"
    "\"containers\":[{\"name\":\"main\",\"image\":\"reg/hello:v1\",\"imagePullPolicy\":\"IfNotPresent\","
    "\"command\":[\"/hello.wasm\"],\"args\":[\"a\",\"b c\"],"
    "\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"POD\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":"
    "\"metadata.name\"}}},{\"name\":\"CM\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"cfg\",\"key\":\"k\"}}},"
    "{\"name\":\"S\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"sec\",\"key\":\"pw\",\"optional\":true}}},"
    "{\"name\":\"EMPTY\"}],"
    "\"envFrom\":[{\"prefix\":\"P_\",\"configMapRef\":{\"name\":\"cfg2\"}}],"
    "\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":\"64Mi\"},"
    "\"limits\":{\"cpu\":1,\"memory\":\"128Mi\",\"kuack.io/gpu\":\"1\"}},"
    "\"volumeMounts\":[{\"name\":\"kube-api-access\",\"mountPath\":\"/var/run\"}]}]},"
    "\"status\":{\"phase\":\"Running\",\"startTime\":\"2026-01-01T00:00:05Z\",\"conditions\":["
    "{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"2026-01-01T00:00:06Z\"}],"
    "\"containerStatuses\":[{\"name\":\"main\",\"image\":\"reg/hello:v1\",\"imageID\":\"reg/hello@sha256:ab\","
    "\"ready\":true,\"started\":true,\"restartCount\":2,\"state\":{\"running\":{\"startedAt\":"
    "\"2026-01-01T00:00:06Z\"}},\"lastState\":{\"terminated\":{\"exitCode\":3,\"reason\":\"Error\"}}}]}}";

static void test_decode_full(void **state) {
  kq_pod_t p;
  char *err = NULL;
  int rc = kq_k8s_pod_from_json(POD, strlen(POD), &p, &err);
  if (rc) fail_msg("decode: %s", err);
  assert_string_equal(p.meta.name, "hello");
  assert_string_equal(kq_pod_namespace(&p), "ns1");
  assert_string_equal(p.meta.uid, "u-1");
  assert_string_equal(p.meta.resource_version, "42");
  assert_int_equal(p.meta.creation_ns, 1767225600ull * 1000000000ull);
  assert_int_equal(p.meta.deletion_ns, 1767225660ull * 1000000000ull + 500000000ull);
  assert_int_equal(p.meta.deletion_grace_s, 30);
  assert_string_equal(kq_k8s_meta_label(&p.meta, "app"), "h");
  assert_string_equal(kq_k8s_meta_annotation(&p.meta, "kuack.io/allow-secrets"), "true");
  assert_null(kq_k8s_meta_annotation(&p.meta, "nope"));
  assert_int_equal(p.meta.nowners, 1);
  assert_true(p.meta.owners[0].controller);
  assert_string_equal(p.spec.node_name, "kuack-node");
  assert_string_equal(p.spec.restart_policy, "OnFailure");
  assert_int_equal(p.spec.active_deadline_s, 60);
  assert_int_equal(p.spec.termination_grace_s, 5);
  assert_true(p.spec.has_priority);
  assert_int_equal(p.spec.priority, 100);
  assert_int_equal(p.spec.nimage_pull_secrets, 1);
  assert_string_equal(p.spec.image_pull_secrets[0], "regcred");
  assert_int_equal(p.spec.ntolerations, 1);
  assert_string_equal(p.spec.tolerations[0].effect, "NoSchedule");
  assert_int_equal(p.spec.nvolumes, 2);
  assert_int_equal(p.spec.volumes[0].type, KQ_VOL_PROJECTED);
  assert_int_equal(p.spec.volumes[1].type, KQ_VOL_OTHER);
  assert_string_equal(p.spec.volumes[1].type_name, "nfs");
  assert_int_equal(p.spec.ncontainers, 1);
  const kq_pod_container_t *c = &p.spec.containers[0];
  assert_string_equal(c->image, "reg/hello:v1");
  assert_int_equal(c->ncommand, 1);
  assert_int_equal(c->nargs, 2);
  assert_string_equal(c->args[1], "b c");
  assert_int_equal(c->nenv, 5);
  assert_int_equal(c->env[0].source, KQ_ENV_VALUE);
  assert_string_equal(c->env[0].value, "1");
  assert_int_equal(c->env[1].source, KQ_ENV_FIELD_REF);
  assert_string_equal(c->env[1].field_path, "metadata.name");
  assert_int_equal(c->env[2].source, KQ_ENV_CONFIGMAP_KEY);
  assert_string_equal(c->env[2].ref_name, "cfg");
  assert_int_equal(c->env[3].source, KQ_ENV_SECRET_KEY);
  assert_true(c->env[3].optional);
  assert_null(c->env[4].value);
  assert_int_equal(c->nenv_from, 1);
  assert_string_equal(c->env_from[0].prefix, "P_");
  assert_false(c->env_from[0].secret);
  assert_int_equal(c->resources.requests.cpu_millis, 250);
  assert_int_equal(c->resources.requests.memory_bytes, 64 << 20);
  assert_int_equal(c->resources.requests.gpu, -1);
  assert_int_equal(c->resources.limits.cpu_millis, 1000);
  assert_int_equal(c->resources.limits.gpu, 1);
  assert_int_equal(c->nvolume_mounts, 1);
  assert_int_equal(p.status.phase, KQ_PHASE_RUNNING);
  assert_non_null(kq_pod_status_condition(&p.status, "Ready"));
  assert_int_equal(kq_pod_status_condition(&p.status, "Ready")->status, KQ_COND_TRUE);
  assert_int_equal(p.status.ncontainer_statuses, 1);
  assert_int_equal(p.status.container_statuses[0].restart_count, 2);
  assert_int_equal(p.status.container_statuses[0].state.kind, KQ_CSTATE_RUNNING);
  assert_int_equal(p.status.container_statuses[0].last_state.kind, KQ_CSTATE_TERMINATED);
  assert_int_equal(p.status.container_statuses[0].last_state.exit_code, 3);

  char *why = NULL;
  assert_int_equal(kq_k8s_pod_check_supported(&p, &why), KQ_ENOTSUP);
  assert_non_null(strstr(why, "volume \"data\" of type nfs"));
  free(why);

  /* deep copy == original, via rendering both */
  kq_pod_t q;
  kq_pod_copy(&q, &p);
  size_t l1, l2;
  char *j1 = kq_k8s_pod_to_json(&p, &l1);
  char *j2 = kq_k8s_pod_to_json(&q, &l2);
  assert_string_equal(j1, j2);
  /* and the rendering decodes back to the same thing */
  kq_pod_t r;
  assert_int_equal(kq_k8s_pod_from_json(j1, l1, &r, NULL), KQ_OK);
  char *j3 = kq_k8s_pod_to_json(&r, NULL);
  assert_string_equal(j1, j3);
  assert_non_null(strstr(j1, "\"cpu\":\"250m\""));
  assert_non_null(strstr(j1, "\"memory\":\"64Mi\""));
  assert_non_null(strstr(j1, "\"deletionTimestamp\":\"2026-01-01T00:01:00.500000000Z\""));
  free(j1);
  free(j2);
  free(j3);
  kq_pod_clear(&r);
  kq_pod_clear(&q);
  kq_pod_clear(&p);
}

static void test_status_patch(void **state) {
  kq_pod_status_t st = {0};
  st.phase = KQ_PHASE_FAILED;
  st.reason = strdup("NodeLost");
  st.nconditions = 1;
  st.conditions = calloc(1, sizeof(*st.conditions));
  st.conditions[0].type = strdup("Ready");
  st.conditions[0].status = KQ_COND_FALSE;
  st.conditions[0].last_transition_ns = 1767225600ull * 1000000000ull;
  st.ncontainer_statuses = 1;
  st.container_statuses = calloc(1, sizeof(*st.container_statuses));
  st.container_statuses[0].name = strdup("main");
  st.container_statuses[0].state.kind = KQ_CSTATE_TERMINATED;
  st.container_statuses[0].state.exit_code = 3;
  st.container_statuses[0].state.reason = strdup("Error");
  size_t len;
  char *j = kq_k8s_pod_status_patch(&st, &len);
  assert_int_equal(strlen(j), len);
  assert_non_null(strstr(j, "{\"status\":{\"phase\":\"Failed\""));
  assert_non_null(strstr(j, "\"message\":null"));
  assert_non_null(strstr(j, "\"reason\":\"NodeLost\""));
  assert_non_null(strstr(j, "\"lastTransitionTime\":\"2026-01-01T00:00:00Z\""));
  assert_non_null(strstr(j, "\"terminated\":{\"exitCode\":3,\"reason\":\"Error\"}"));
  assert_non_null(strstr(j, "\"imageID\":\"\""));
  kq_pod_status_t c;
  kq_pod_status_copy(&c, &st);
  assert_int_equal(c.phase, KQ_PHASE_FAILED);
  assert_string_equal(c.container_statuses[0].state.reason, "Error");
  kq_pod_status_clear(&c);
  free(j);
  kq_pod_status_clear(&st);
}

static void test_podlist(void **state) {
  kq_pod_t p;
  assert_int_equal(kq_k8s_pod_from_json(POD, strlen(POD), &p, NULL), KQ_OK);
  const kq_pod_t *v[2] = {&p, &p};
  char *j = kq_k8s_podlist_to_json(v, 2, NULL);
  assert_non_null(strstr(j, "\"kind\":\"PodList\""));
  assert_non_null(strstr(j, "\"items\":[{\"apiVersion\":\"v1\",\"kind\":\"Pod\""));
  free(j);
  j = kq_k8s_podlist_to_json(NULL, 0, NULL);
  assert_non_null(strstr(j, "\"items\":[]"));
  free(j);
  kq_pod_clear(&p);
}

static void expect_error(const char *json, int want_rc, const char *want) {
  kq_pod_t p;
  memset(&p, 0x5a, sizeof(p));
  char *err = NULL;
  int rc = kq_k8s_pod_from_json(json, strlen(json), &p, &err);
  if (rc != want_rc || !err || !strstr(err, want))
    fail_msg("%s: rc %d err \"%s\", want %d \"%s\"", json, rc, err ? err : "(null)", want_rc, want);
  assert_null(p.meta.name); /* left cleared */
  free(err);
}

static void test_invalid(void **state) {
  expect_error("", KQ_EPARSE, "malformed JSON");
  expect_error("{\"metadata\":", KQ_EPARSE, "malformed JSON");
  expect_error("[]", KQ_EINVAL, "must be an object");
  expect_error("{\"kind\":\"Service\"}", KQ_EINVAL, "kind \"Service\" is not Pod");
  expect_error("{\"metadata\":{\"name\":5}}", KQ_EINVAL, "metadata.name: expected a string");
  expect_error("{\"metadata\":{\"labels\":{\"a\":1}}}", KQ_EINVAL, "metadata.labels.a: expected a string");
  expect_error("{\"spec\":{\"containers\":{}}}", KQ_EINVAL, "spec.containers: expected a list");
  expect_error("{\"spec\":{\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"-1\"}}}]}}",
               KQ_EINVAL, "spec.containers[0].resources.requests.cpu: invalid quantity \"-1\": negative");
  expect_error("{\"spec\":{\"containers\":[{},{\"resources\":{\"limits\":{\"memory\":\"lots\"}}}]}}",
               KQ_EINVAL, "spec.containers[1].resources.limits.memory: invalid quantity \"lots\"");
  expect_error("{\"spec\":{\"containers\":[{\"resources\":{\"requests\":{\"cpu\":true}}}]}}",
               KQ_EINVAL, "expected a quantity");
  expect_error("{\"spec\":{\"containers\":[{\"args\":[1]}]}}", KQ_EINVAL, "spec.containers[0].args[0]");
  expect_error("{\"spec\":{\"containers\":[{\"env\":[{\"name\":\"X\",\"valueFrom\":{}}]}]}}",
               KQ_EINVAL, "spec.containers[0].env[0].valueFrom: unsupported source");
  expect_error("{\"spec\":{\"restartPolicy\":\"Sometimes\"}}", KQ_EINVAL, "spec.restartPolicy");
  expect_error("{\"spec\":{\"activeDeadlineSeconds\":1.5}}", KQ_EINVAL, "not an integer");
  expect_error("{\"spec\":{\"terminationGracePeriodSeconds\":-3}}", KQ_EINVAL, "not an integer");
  expect_error("{\"metadata\":{\"deletionTimestamp\":\"yesterday\"}}", KQ_EINVAL, "RFC 3339");
  expect_error("{\"status\":{\"containerStatuses\":[{\"restartCount\":-1}]}}", KQ_EINVAL, "restartCount");
  /* too many items */
  size_t n = 1100 * 4 + 64;
  char *big = malloc(n);
  strcpy(big, "{\"spec\":{\"containers\":[{\"args\":[");
  for (int i = 0; i < 1100; i++) strcat(big, i ? ",\"a\"" : "\"a\"");
  strcat(big, "]}]}}");
  expect_error(big, KQ_ETOOBIG, "1100 items");
  free(big);
  /* truncations of a valid pod never crash or leak */
  for (size_t cut = 0; cut < strlen(POD); cut += 7) {
    kq_pod_t p;
    char *err = NULL;
    if (kq_k8s_pod_from_json(POD, cut, &p, &err) == KQ_OK) kq_pod_clear(&p);
    free(err);
  }
}

static void test_time(void **state) {
  uint64_t ns;
  assert_int_equal(kq_k8s_parse_time("2026-01-01T01:00:00+01:00", &ns), KQ_OK);
  assert_int_equal(ns, 1767225600ull * 1000000000ull);
  assert_int_equal(kq_k8s_parse_time("2026-01-01T00:00:00.123456789123Z", &ns), KQ_OK);
  assert_int_equal(ns % 1000000000ull, 123456789);
  assert_int_equal(kq_k8s_parse_time("2026-01-01T00:00:00", &ns), KQ_EINVAL);
  assert_int_equal(kq_k8s_parse_time("2026-13-01T00:00:00Z", &ns), KQ_EINVAL);
  assert_int_equal(kq_k8s_parse_time("2026-01-01T00:00:00.Z", &ns), KQ_EINVAL);
  assert_int_equal(kq_k8s_parse_time("2026-01-01T00:00:00Zjunk", &ns), KQ_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_full), cmocka_unit_test(test_status_patch),
      cmocka_unit_test(test_podlist),     cmocka_unit_test(test_invalid),
      cmocka_unit_test(test_time),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
