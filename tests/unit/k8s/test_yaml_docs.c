/* Manifest streams: multi-document YAML and JSON into Pods, each bad document reported with its
 * number and line while the others decode; syntax errors, unknown kinds, alias bombs. */
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

static const char *STREAM =
    "# example\n"
    "apiVersion: v1\n"
    "kind: Pod\n"
    "metadata:\n"
    "  name: one\n"
    "spec:\n"
    "  containers:\n"
    "  - name: main\n"
    "    image: reg/hello:v1\n"
    "    args: [x, 'y', \"3\"]\n"
    "    env:\n"
    "    - {name: N, value: \"5\"}\n"
    "    resources:\n"
    "      requests: {cpu: 0.5, memory: 64Mi}\n"
    "---\n"
    "kind: Service\n"
    "metadata: {name: svc}\n"
    "---\n"
    "# only a comment\n"
    "---\n"
    "kind: Pod\n"
    "metadata: {name: two}\n"
    "spec:\n"
    "  containers:\n"
    "  - {name: a, image: x}\n"
    "  - {name: b, image: y}\n"
    "---\n"
    "kind: Pod\n"
    "metadata: {name: neg}\n"
    "spec:\n"
    "  containers:\n"
    "  - name: main\n"
    "    image: x\n"
    "    resources: {limits: {memory: -5Mi}}\n"
    "---\n"
    "kind: List\n"
    "items:\n"
    "- {kind: Pod, metadata: {name: l1}, spec: {containers: [{name: c, image: i}]}}\n";

static void test_stream(void **state) {
  kq_k8s_doc_t *docs;
  size_t n;
  char *err = NULL;
  int rc = kq_k8s_pod_from_yaml_docs(STREAM, strlen(STREAM), &docs, &n, &err);
  if (rc) fail_msg("rc %d: %s", rc, err);
  assert_int_equal(n, 5);
  assert_int_equal(docs[0].rc, KQ_OK);
  assert_string_equal(docs[0].pod.meta.name, "one");
  const kq_pod_container_t *c = &docs[0].pod.spec.containers[0];
  assert_int_equal(c->nargs, 3);
  assert_string_equal(c->args[1], "y");
  assert_int_equal(c->resources.requests.cpu_millis, 500);
  assert_int_equal(c->resources.requests.memory_bytes, 64 << 20);
  assert_string_equal(c->env[0].value, "5");
  assert_int_equal(kq_k8s_pod_check_supported(&docs[0].pod, NULL), KQ_OK);

  assert_int_equal(docs[1].rc, KQ_ENOTSUP);
  assert_int_equal(docs[1].index, 1);
  assert_int_equal(docs[1].line, 15);
  assert_string_equal(docs[1].kind, "Service");
  assert_non_null(strstr(docs[1].error, "document 2 (line 15): kind \"Service\" is not supported"));

  assert_int_equal(docs[2].rc, KQ_OK); /* two containers decode; the support check refuses */
  char *why = NULL;
  assert_int_equal(kq_k8s_pod_check_supported(&docs[2].pod, &why), KQ_ENOTSUP);
  assert_string_equal(why, "pod has 2 containers; kuack runs exactly one per pod");
  free(why);

  assert_int_equal(docs[3].rc, KQ_EINVAL);
  assert_non_null(strstr(docs[3].error, "document 5"));
  assert_non_null(strstr(docs[3].error, "spec.containers[0].resources.limits.memory"));
  assert_non_null(strstr(docs[3].error, "negative"));

  assert_int_equal(docs[4].rc, KQ_OK);
  assert_string_equal(docs[4].pod.meta.name, "l1");
  kq_k8s_docs_free(docs, n);
}

static void test_syntax_error_keeps_earlier(void **state) {
  const char *y = "kind: Pod\nmetadata: {name: ok}\n---\nkind: Pod\nmetadata: [unclosed\n";
  kq_k8s_doc_t *docs;
  size_t n;
  char *err = NULL;
  assert_int_equal(kq_k8s_pod_from_yaml_docs(y, strlen(y), &docs, &n, &err), KQ_EPARSE);
  assert_int_equal(n, 1);
  assert_string_equal(docs[0].pod.meta.name, "ok");
  assert_non_null(err);
  assert_non_null(strstr(err, "invalid YAML at line"));
  free(err);
  kq_k8s_docs_free(docs, n);
}

static void test_json_and_errors(void **state) {
  const char *j = "  {\"kind\":\"Pod\",\"metadata\":{\"name\":\"j\"}}";
  kq_k8s_doc_t *docs;
  size_t n;
  assert_int_equal(kq_k8s_pod_from_yaml_docs(j, strlen(j), &docs, &n, NULL), KQ_OK);
  assert_int_equal(n, 1);
  assert_string_equal(docs[0].pod.meta.name, "j");
  kq_k8s_docs_free(docs, n);

  char *err = NULL;
  assert_int_equal(kq_k8s_pod_from_yaml_docs("{\"kind\":", 8, &docs, &n, &err), KQ_EPARSE);
  assert_int_equal(n, 0);
  free(err);

  const char *cases[][2] = {
      {"metadata: {name: x}\n", "no `kind`"},
      {"- a\n- b\n", "not an object"},
      {"kind: Pod\nspec: {}\n", "metadata.name is required"},
      {"kind: Pod\nmetadata: {name: x}\n? [a]\n: b\n", "mapping keys must be plain strings"},
      {"kind: List\nitems: 3\n", "needs an `items` list"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    assert_int_equal(kq_k8s_pod_from_yaml_docs(cases[i][0], strlen(cases[i][0]), &docs, &n, NULL),
                     KQ_OK);
    assert_int_equal(n, 1);
    if (docs[0].rc == KQ_OK || !strstr(docs[0].error, cases[i][1]))
      fail_msg("case %zu: %s", i, docs[0].error ? docs[0].error : "(ok)");
    kq_k8s_docs_free(docs, n);
  }
  assert_int_equal(kq_k8s_pod_from_yaml_docs("", 0, &docs, &n, NULL), KQ_OK);
  assert_int_equal(n, 0);
  kq_k8s_docs_free(docs, n);
}

static void test_alias_bomb(void **state) {
  const char *y =
      "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
      "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
      "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
      "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
      "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
      "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
      "kind: Pod\n";
  kq_k8s_doc_t *docs;
  size_t n;
  assert_int_equal(kq_k8s_pod_from_yaml_docs(y, strlen(y), &docs, &n, NULL), KQ_OK);
  assert_int_equal(n, 1);
  assert_non_null(strstr(docs[0].error, "too large after alias expansion"));
  kq_k8s_docs_free(docs, n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stream),
      cmocka_unit_test(test_syntax_error_keeps_earlier),
      cmocka_unit_test(test_json_and_errors),
      cmocka_unit_test(test_alias_bomb),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
