/* The standalone manifest source on the deterministic harness: initial scan, added / edited /
 * removed files and documents, stable uids, bad documents reported without touching the rest,
 * duplicate names refused (and taking over when the owner goes), big files, missing dirs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kq_alloc.h"
#include "kq_clock.h"
#include "kq_error.h"
#include "kq_harness.h"
#include "kq_log.h"
#include "kq_manifests.h"

#define POLL KQ_SEC(1)

typedef struct fixture {
  char dir[64];
  kq_harness_t *h;
  kq_aid_t probe;
  kq_aid_t src;
  size_t nerr;
  char errs[32][512];
  char err_files[32][64];
  size_t nnode;          /* on_node calls */
  char node[8][256];     /* "policy k=v k=v" per call */
} fixture_t;

static void on_node(void *ud, const char *policy, const kq_k8s_param_t *kv, size_t n) {
  fixture_t *f = ud;
  if (f->nnode < 8) {
    char *out = f->node[f->nnode];
    size_t off = (size_t)snprintf(out, 256, "%s", policy);
    for (size_t i = 0; i < n && off < 256; i++)
      off += (size_t)snprintf(out + off, 256 - off, " %s=%g", kv[i].key, kv[i].value);
  }
  f->nnode++;
}

static void on_error(void *ud, const char *file, const char *message) {
  fixture_t *f = ud;
  if (f->nerr < 32) {
    snprintf(f->errs[f->nerr], sizeof(f->errs[0]), "%s", message);
    snprintf(f->err_files[f->nerr], sizeof(f->err_files[0]), "%s", file);
  }
  f->nerr++;
}

static void put(fixture_t *f, const char *name, const char *content) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", f->dir, name);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(content, fp);
  fclose(fp);
}

static void rm(fixture_t *f, const char *name) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", f->dir, name);
  assert_int_equal(unlink(path), 0);
}

/* Rewrites `name` and puts its old mtime back: an edit within one mtime tick. */
static void put_same_mtime(fixture_t *f, const char *name, const char *content) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", f->dir, name);
  struct stat before;
  assert_int_equal(stat(path, &before), 0);
  put(f, name, content);
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
  struct stat after;
  assert_int_equal(stat(path, &after), 0);
  assert_int_equal(after.st_size, before.st_size);
  assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
}

static fixture_t *fx_new(void) {
  fixture_t *f = KQ_NEW(fixture_t);
  snprintf(f->dir, sizeof(f->dir), "/tmp/kq-manifests-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  f->h = kq_h_new();
  f->probe = kq_h_probe(f->h);
  return f;
}

static void fx_start(fixture_t *f) {
  kq_manifests_opts_t o = {
      .dir = f->dir, .node_name = "kuack-node", .target = f->probe, .poll_ns = POLL,
      .on_error = on_error, .on_error_ud = f, .on_node = on_node, .on_node_ud = f};
  char *err = NULL;
  f->src = kq_manifests_spawn(kq_h_system(f->h), &o, &err);
  if (!f->src) fail_msg("spawn: %s", err);
  assert_null(err);
}

static void fx_free(fixture_t *f) {
  kq_h_free(f->h);
  DIR *d = opendir(f->dir);
  assert_non_null(d);
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    rm(f, de->d_name);
  }
  closedir(d);
  assert_int_equal(rmdir(f->dir), 0);
  free(f);
}

/* Expects an UPSERT for `key`; returns a copy of its uid (free()). */
static char *expect_upsert(fixture_t *f, const char *key) {
  kq_manifest_pod_msg_t *m =
      (kq_manifest_pod_msg_t *)kq_h_expect(f->h, f->probe, KQ_MANIFEST_MSG_UPSERT);
  assert_string_equal(m->key, key);
  assert_non_null(m->pod.meta.uid);
  assert_non_null(m->pod.meta.namespace_);
  char *uid = kq_strdup(m->pod.meta.uid);
  kq_msg_free(&m->hdr);
  return uid;
}

static void expect_remove(fixture_t *f, const char *key) {
  kq_manifest_remove_msg_t *m =
      (kq_manifest_remove_msg_t *)kq_h_expect(f->h, f->probe, KQ_MANIFEST_MSG_REMOVE);
  assert_string_equal(m->key, key);
  assert_int_equal(m->grace_s, -1);
  kq_msg_free(&m->hdr);
}

static void poll_once(fixture_t *f) { kq_h_advance(f->h, POLL); }

static void expect_error(fixture_t *f, size_t i, const char *file, const char *needle) {
  if (f->nerr <= i) fail_msg("expected error %zu (%s), got %zu errors", i, needle, f->nerr);
  assert_string_equal(f->err_files[i], file);
  if (strncmp(f->errs[i], file, strlen(file)) != 0 || !strstr(f->errs[i], needle))
    fail_msg("error %zu: \"%s\" lacks \"%s\"", i, f->errs[i], needle);
  assert_null(strchr(f->errs[i], '\n'));
}

#define POD(name, image) \
  "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " name "\nspec:\n  containers:\n" \
  "  - name: main\n    image: " image "\n"

static const char *TWO = POD("one", "reg/a:v1") "---\n" POD("two", "reg/b:v1");

static bool is_uuid(const char *s) {
  if (strlen(s) != 36) return false;
  for (int i = 0; i < 36; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i])) return false;
  }
  return true;
}

static void test_initial_scan(void **st) {
  (void)st;
  fixture_t *f = fx_new();
  put(f, "a.yaml", TWO);
  put(f, "b.json",
      "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"j\",\"namespace\":\"team\"},"
      "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"reg/j:v1\"}]}}");
  put(f, "c.yml", POD("three", "reg/c:v1"));
  put(f, ".hidden.yaml", POD("hidden", "x"));
  put(f, "notes.txt", POD("txt", "x"));
  put(f, "d.yaml.bak", POD("bak", "x"));
  fx_start(f);

  kq_manifest_pod_msg_t *m =
      (kq_manifest_pod_msg_t *)kq_h_expect(f->h, f->probe, KQ_MANIFEST_MSG_UPSERT);
  assert_string_equal(m->key, "a.yaml#default/one");
  assert_int_equal(m->hdr.size, sizeof(kq_manifest_pod_msg_t));
  assert_string_equal(m->pod.meta.name, "one");
  assert_string_equal(m->pod.meta.namespace_, "default");
  assert_true(is_uuid(m->pod.meta.uid));
  assert_string_equal(m->pod.spec.node_name, "kuack-node");
  assert_int_equal(m->pod.meta.creation_ns, kq_wall_ns(kq_h_clock(f->h)));
  assert_string_equal(m->pod.spec.containers[0].image, "reg/a:v1");
  char *uid_one = kq_strdup(m->pod.meta.uid);
  kq_msg_free(&m->hdr);
  char *uid_two = expect_upsert(f, "a.yaml#default/two");
  assert_string_not_equal(uid_one, uid_two);
  m = (kq_manifest_pod_msg_t *)kq_h_expect(f->h, f->probe, KQ_MANIFEST_MSG_UPSERT);
  assert_string_equal(m->key, "b.json#team/j");
  assert_string_equal(m->pod.meta.namespace_, "team");
  kq_msg_free(&m->hdr);
  free(expect_upsert(f, "c.yml#default/three"));
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(f->nerr, 0);

  /* rescans (the files are "racy" right after writing, so they are hashed again) send nothing */
  for (int i = 0; i < 3; i++) poll_once(f);
  kq_h_expect_none(f->h, f->probe);

  /* the same content in a fresh harness gives the same uids: they derive from key + document */
  free(uid_two);
  kq_h_free(f->h);
  f->h = kq_h_new();
  f->probe = kq_h_probe(f->h);
  fx_start(f);
  char *again = expect_upsert(f, "a.yaml#default/one");
  assert_string_equal(again, uid_one);
  free(again);
  for (int i = 0; i < 3; i++) kq_msg_free(kq_h_expect(f->h, f->probe, KQ_MANIFEST_MSG_UPSERT));
  kq_h_expect_none(f->h, f->probe);
  free(uid_one);
  fx_free(f);
}

static void test_add_edit_remove(void **st) {
  (void)st;
  fixture_t *f = fx_new();
  put(f, "a.yaml", TWO);
  fx_start(f);
  char *uid_one = expect_upsert(f, "a.yaml#default/one");
  char *uid_two = expect_upsert(f, "a.yaml#default/two");
  kq_h_expect_none(f->h, f->probe);

  /* a new file */
  put(f, "c.yaml", POD("three", "reg/c:v1"));
  kq_h_expect_none(f->h, f->probe); /* nothing before the poll timer fires */
  poll_once(f);
  free(expect_upsert(f, "c.yaml#default/three"));
  kq_h_expect_none(f->h, f->probe);

  /* comments and formatting only: no change */
  put(f, "a.yaml", "# a comment\n" POD("one", "reg/a:v1") "---\n# more\n" POD("two", "reg/b:v1"));
  poll_once(f);
  kq_h_expect_none(f->h, f->probe);

  /* edit document 2, same size (same mtime tick likely): UPSERT with a new uid for it only */
  put(f, "a.yaml", POD("one", "reg/a:v1") "---\n" POD("two", "reg/b:v2"));
  poll_once(f);
  char *uid_two2 = expect_upsert(f, "a.yaml#default/two");
  assert_string_not_equal(uid_two, uid_two2);
  kq_h_expect_none(f->h, f->probe);

  /* the same again with mtime and size unchanged: the content hash still sees it */
  put_same_mtime(f, "a.yaml", POD("one", "reg/a:v1") "---\n" POD("two", "reg/b:v3"));
  poll_once(f);
  free(expect_upsert(f, "a.yaml#default/two"));
  kq_h_expect_none(f->h, f->probe);

  /* rename the pod in document 2: the old key goes, the new one comes */
  put(f, "a.yaml", POD("one", "reg/a:v1") "---\n" POD("deux", "reg/b:v2"));
  poll_once(f);
  free(expect_upsert(f, "a.yaml#default/deux"));
  expect_remove(f, "a.yaml#default/two");
  kq_h_expect_none(f->h, f->probe);

  /* remove document 2 */
  put(f, "a.yaml", POD("one", "reg/a:v1"));
  poll_once(f);
  expect_remove(f, "a.yaml#default/deux");
  kq_h_expect_none(f->h, f->probe);

  /* remove a file */
  rm(f, "c.yaml");
  poll_once(f);
  expect_remove(f, "c.yaml#default/three");
  kq_h_expect_none(f->h, f->probe);

  /* document 1 never changed: a re-added document 2 with the first content gets the first uid */
  put(f, "a.yaml", TWO);
  poll_once(f);
  char *uid_two3 = expect_upsert(f, "a.yaml#default/two");
  assert_string_equal(uid_two3, uid_two);
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(f->nerr, 0);
  free(uid_one);
  free(uid_two);
  free(uid_two2);
  free(uid_two3);
  fx_free(f);
}

static int warn_lines;
static void count_warn(kq_log_level_t level, const char *line, void *ud) {
  (void)ud;
  if (level == KQ_LOG_WARN && strstr(line, "bad manifest") && strstr(line, "bad.yaml")) warn_lines++;
}

static void test_bad_manifests(void **st) {
  (void)st;
  fixture_t *f = fx_new();
  put(f, "bad.yaml", "kind: Pod\nmetadata: [unclosed\n");
  put(f, "good.yaml", POD("good", "reg/g:v1"));
  put(f, "neg.yaml",
      "kind: Pod\nmetadata: {name: neg}\nspec:\n  containers:\n  - name: main\n    image: x\n"
      "    resources: {requests: {cpu: \"-1\"}}\n"
      "---\n" POD("fine", "reg/f:v1"));
  put(f, "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\n");
  put(f, "noname.json", "{\"kind\":\"Pod\",\"spec\":{}}");
  put(f, "two.yaml",
      "kind: Pod\nmetadata: {name: two}\nspec:\n  containers:\n  - {name: a, image: x}\n"
      "  - {name: b, image: y}\n");
  warn_lines = 0;
  kq_log_set_level(KQ_LOG_WARN);
  kq_log_set_sink(count_warn, NULL);
  fx_start(f);
  kq_log_set_sink(NULL, NULL);
  kq_log_set_level(KQ_LOG_ERROR);
  assert_int_equal(warn_lines, 1);

  free(expect_upsert(f, "good.yaml#default/good"));
  free(expect_upsert(f, "neg.yaml#default/fine"));
  free(expect_upsert(f, "two.yaml#default/two")); /* decodes; the pod actor refuses it */
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(f->nerr, 4);
  expect_error(f, 0, "bad.yaml", "invalid YAML at line");
  expect_error(f, 1, "neg.yaml", "document 1 (line 1)");
  expect_error(f, 1, "neg.yaml", "spec.containers[0].resources.requests.cpu");
  expect_error(f, 1, "neg.yaml", "negative");
  expect_error(f, 2, "noname.json", "metadata.name is required");
  expect_error(f, 3, "svc.yaml", "kind \"Service\" is not supported");

  /* reported once per change, not per poll */
  poll_once(f);
  poll_once(f);
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(f->nerr, 4);

  /* a good document going bad is removed; the others stay */
  put(f, "good.yaml",
      "kind: Pod\nmetadata: {name: good}\nspec:\n  containers:\n  - name: main\n    image: x\n"
      "    resources: {limits: {memory: -5Mi}}\n");
  poll_once(f);
  expect_remove(f, "good.yaml#default/good");
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(f->nerr, 5);
  expect_error(f, 4, "good.yaml", "negative");

  /* a syntax error later in a file keeps the documents before it */
  put(f, "bad.yaml", POD("early", "reg/e:v1") "---\nkind: Pod\nmetadata: [unclosed\n");
  poll_once(f);
  free(expect_upsert(f, "bad.yaml#default/early"));
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(f->nerr, 6);
  expect_error(f, 5, "bad.yaml", "invalid YAML at line 12");

  /* fixing a file brings its pod */
  put(f, "good.yaml", POD("good", "reg/g:v2"));
  poll_once(f);
  free(expect_upsert(f, "good.yaml#default/good"));
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(f->nerr, 6);
  fx_free(f);
}

static void test_duplicates(void **st) {
  (void)st;
  fixture_t *f = fx_new();
  put(f, "a.yaml", POD("web", "reg/a:v1"));
  put(f, "b.yaml", POD("web", "reg/b:v1") "---\n" POD("solo", "reg/s:v1"));
  put(f, "c.yaml",
      "kind: Pod\nmetadata: {name: web, namespace: other}\nspec: {containers: [{name: c, image: i}]}\n"
      "---\nkind: Pod\nmetadata: {name: web, namespace: other}\n"
      "spec: {containers: [{name: c, image: j}]}\n");
  fx_start(f);
  free(expect_upsert(f, "a.yaml#default/web"));
  free(expect_upsert(f, "b.yaml#default/solo"));
  free(expect_upsert(f, "c.yaml#other/web"));
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(f->nerr, 2);
  expect_error(f, 0, "b.yaml", "document 1 (line 1): pod default/web is already defined in a.yaml");
  expect_error(f, 1, "c.yaml", "document 2 (line 4): pod other/web is already defined by document 1");

  poll_once(f);
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(f->nerr, 2);

  /* a later file with the same name is refused too, and does not disturb the owner */
  put(f, "0.yaml", POD("web", "reg/z:v1"));
  poll_once(f);
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(f->nerr, 3);
  expect_error(f, 2, "0.yaml", "already defined in a.yaml");

  /* the owner goes: the first waiting claim (file order) takes over */
  rm(f, "a.yaml");
  poll_once(f);
  expect_remove(f, "a.yaml#default/web");
  kq_manifest_pod_msg_t *m =
      (kq_manifest_pod_msg_t *)kq_h_expect(f->h, f->probe, KQ_MANIFEST_MSG_UPSERT);
  assert_string_equal(m->key, "0.yaml#default/web");
  assert_string_equal(m->pod.meta.namespace_, "default");
  assert_string_equal(m->pod.spec.containers[0].image, "reg/z:v1");
  kq_msg_free(&m->hdr);
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(f->nerr, 3);
  fx_free(f); /* b.yaml still holds a refused pod: released on stop */
}

static void test_big_file(void **st) {
  (void)st;
  fixture_t *f = fx_new();
  put(f, "ok.yaml", POD("ok", "reg/o:v1"));
  size_t big = KQ_K8S_MAX_OBJECT_BYTES + 100;
  char *content = kq_malloc(big + 1);
  const char *pod = POD("big", "reg/b:v1");
  for (size_t i = 0; i < big; i++) content[i] = i % 80 == 0 ? '#' : i % 80 == 79 ? '\n' : 'x';
  memcpy(content + big - strlen(pod), pod, strlen(pod));
  content[big] = '\0';
  put(f, "big.yaml", content);
  fx_start(f);
  free(expect_upsert(f, "ok.yaml#default/ok"));
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(f->nerr, 1);
  expect_error(f, 0, "big.yaml", "too large (at most 4194304)");
  poll_once(f);
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(f->nerr, 1);

  put(f, "big.yaml", pod);
  poll_once(f);
  free(expect_upsert(f, "big.yaml#default/big"));
  put(f, "big.yaml", content);
  poll_once(f);
  expect_remove(f, "big.yaml#default/big");
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(f->nerr, 2);
  free(content);
  fx_free(f);
}

static void test_given_identity_kept(void **st) {
  (void)st;
  fixture_t *f = fx_new();
  put(f, "p.yaml",
      "kind: Pod\nmetadata:\n  name: p\n  namespace: ns1\n  uid: 11111111-2222-3333-4444-555555555555\n"
      "  creationTimestamp: \"2025-06-01T00:00:00Z\"\n"
      "spec:\n  nodeName: elsewhere\n  containers: [{name: c, image: i}]\n");
  fx_start(f);
  kq_manifest_pod_msg_t *m =
      (kq_manifest_pod_msg_t *)kq_h_expect(f->h, f->probe, KQ_MANIFEST_MSG_UPSERT);
  assert_string_equal(m->key, "p.yaml#ns1/p");
  assert_string_equal(m->pod.meta.uid, "11111111-2222-3333-4444-555555555555");
  uint64_t t;
  assert_int_equal(kq_k8s_parse_time("2025-06-01T00:00:00Z", &t), KQ_OK);
  assert_int_equal(m->pod.meta.creation_ns, t);
  assert_string_equal(m->pod.spec.node_name, "elsewhere");
  kq_msg_free(&m->hdr);
  kq_h_expect_none(f->h, f->probe);
  fx_free(f);
}

#define NODE(ann)                                                                        \
  "apiVersion: v1\nkind: Node\nmetadata:\n  name: kuack-node\n  annotations:\n" ann

/* node.yaml carries the placement annotations: applied at start and on every change of them,
 * never sent as a Pod; bad files are reported and change nothing. */
static void test_node_manifest_policy(void **st) {
  (void)st;
  fixture_t *f = fx_new();
  put(f, "node.yaml", NODE("    kuack.io/placement-policy: latency\n"
                           "    kuack.io/placement-params: '{\"load_weight\": 2}'\n"));
  put(f, "a.yaml", POD("one", "reg/a:v1"));
  fx_start(f);
  free(expect_upsert(f, "a.yaml#default/one"));
  kq_h_expect_none(f->h, f->probe); /* the Node is not a Pod */
  assert_int_equal(f->nerr, 0);
  assert_int_equal(f->nnode, 1);
  assert_string_equal(f->node[0], "latency load_weight=2");

  /* other edits that keep both annotations: nothing to apply */
  put(f, "node.yaml", "# the node\n" NODE("    kuack.io/placement-params: '{\"load_weight\": 2}'\n"
                                          "    kuack.io/placement-policy: latency\n"));
  poll_once(f);
  assert_int_equal(f->nnode, 1);

  /* a new policy, params as a YAML mapping */
  put(f, "node.yaml", NODE("    kuack.io/placement-policy: gpu\n"
                           "    kuack.io/placement-params:\n      share_gpu_browsers: 0\n"));
  poll_once(f);
  assert_int_equal(f->nnode, 2);
  assert_string_equal(f->node[1], "gpu share_gpu_browsers=0");

  /* an unknown name is passed on: the scheduler refuses it and keeps its policy */
  put(f, "node.yaml", NODE("    kuack.io/placement-policy: best-fit\n"));
  poll_once(f);
  assert_int_equal(f->nnode, 3);
  assert_string_equal(f->node[2], "best-fit");
  assert_int_equal(f->nerr, 0);

  /* bad params: reported, not applied */
  put(f, "node.yaml", NODE("    kuack.io/placement-policy: binpack\n"
                           "    kuack.io/placement-params: '{\"x\": \"y\"}'\n"));
  poll_once(f);
  assert_int_equal(f->nnode, 3);
  expect_error(f, 0, "node.yaml", "kuack.io/placement-params");
  expect_error(f, 0, "node.yaml", "placement policy unchanged");

  /* not a Node, not YAML: reported, not applied, and never a Pod */
  put(f, "node.yaml", POD("sneaky", "reg/x:v1"));
  poll_once(f);
  expect_error(f, 1, "node.yaml", "kind: Node");
  put(f, "node.yaml", "kind: [unclosed\n");
  poll_once(f);
  expect_error(f, 2, "node.yaml", "Node manifest");
  assert_int_equal(f->nnode, 3);

  /* fixed: applied */
  put(f, "node.yaml", NODE("    kuack.io/placement-policy: binpack\n"));
  poll_once(f);
  assert_int_equal(f->nnode, 4);
  assert_string_equal(f->node[3], "binpack");

  /* no policy annotation, or the file removed: the policy in force stays */
  put(f, "node.yaml", NODE("    other: x\n"));
  poll_once(f);
  rm(f, "node.yaml");
  poll_once(f);
  assert_int_equal(f->nnode, 4);
  assert_int_equal(f->nerr, 3);
  kq_h_expect_none(f->h, f->probe);
  fx_free(f);
}

static void test_spawn_errors(void **st) {
  (void)st;
  fixture_t *f = fx_new();
  char *err = NULL;
  char missing[128];
  snprintf(missing, sizeof(missing), "%s/nope", f->dir);
  kq_manifests_opts_t o = {.dir = missing, .target = f->probe};
  assert_int_equal(kq_manifests_spawn(kq_h_system(f->h), &o, &err), KQ_AID_NONE);
  assert_non_null(err);
  assert_non_null(strstr(err, missing));
  assert_non_null(strstr(err, "No such file or directory"));
  free(err);

  put(f, "file.yaml", "x: 1\n");
  snprintf(missing, sizeof(missing), "%s/file.yaml", f->dir);
  o.dir = missing;
  assert_int_equal(kq_manifests_spawn(kq_h_system(f->h), &o, &err), KQ_AID_NONE);
  assert_non_null(strstr(err, "not a directory"));
  free(err);

  o.dir = NULL;
  assert_int_equal(kq_manifests_spawn(kq_h_system(f->h), &o, &err), KQ_AID_NONE);
  assert_non_null(err);
  free(err);

  /* an empty directory is fine: nothing is sent, the poll timer runs */
  o.dir = f->dir;
  rm(f, "file.yaml");
  assert_int_not_equal(kq_manifests_spawn(kq_h_system(f->h), &o, NULL), KQ_AID_NONE);
  poll_once(f);
  kq_h_expect_none(f->h, f->probe);
  assert_int_equal(kq_system_timer_count(kq_h_system(f->h)), 1);
  fx_free(f);
}

int main(void) {
  kq_log_set_level(KQ_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_initial_scan),
      cmocka_unit_test(test_add_edit_remove),
      cmocka_unit_test(test_bad_manifests),
      cmocka_unit_test(test_duplicates),
      cmocka_unit_test(test_big_file),
      cmocka_unit_test(test_given_identity_kept),
      cmocka_unit_test(test_spawn_errors),
      cmocka_unit_test(test_node_manifest_policy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
