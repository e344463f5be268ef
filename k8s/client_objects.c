/* JSON bodies the client sends (Node, Lease, Event, DeleteOptions) and the responses it reads
 * (PodList, watch events, NodeList, Secret/ConfigMap data, Status, /version). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "kq_alloc.h"
#include "kq_clock.h"
#include "kq_error.h"
#include "kq_k8s_client_internal.h"
#include "kq_k8s_internal.h"

static char *print_free(cJSON *o) {
  char *s = kq_jb_print(o, NULL);
  cJSON_Delete(o);
  return s;
}

static cJSON *labels(const char *node) {
  cJSON *l = cJSON_CreateObject();
  cJSON_AddStringToObject(l, "kuack.io/node-type", "kuack-node");
  cJSON_AddStringToObject(l, "kubernetes.io/hostname", node);
  return l;
}

static cJSON *taints(bool no_browsers) {
  cJSON *a = cJSON_CreateArray();
  cJSON *t = cJSON_CreateObject();
  cJSON_AddStringToObject(t, "key", "kuack.io/provider");
  cJSON_AddStringToObject(t, "value", "kuack");
  cJSON_AddStringToObject(t, "effect", "NoSchedule");
  cJSON_AddItemToArray(a, t);
  if (no_browsers) {
    t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "key", "kuack.io/no-browsers");
    cJSON_AddStringToObject(t, "value", "true");
    cJSON_AddStringToObject(t, "effect", "NoSchedule");
    cJSON_AddItemToArray(a, t);
  }
  return a;
}

char *kq_k8s_node_body(const char *node, bool no_browsers_taint) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "apiVersion", "v1");
  cJSON_AddStringToObject(o, "kind", "Node");
  cJSON *m = cJSON_AddObjectToObject(o, "metadata");
  cJSON_AddStringToObject(m, "name", node);
  cJSON_AddItemToObject(m, "labels", labels(node));
  cJSON *spec = cJSON_AddObjectToObject(o, "spec");
  cJSON_AddItemToObject(spec, "taints", taints(no_browsers_taint));
  return print_free(o);
}

char *kq_k8s_node_spec_patch(const char *node, bool no_browsers_taint) {
  cJSON *o = cJSON_CreateObject();
  cJSON *m = cJSON_AddObjectToObject(o, "metadata");
  cJSON_AddItemToObject(m, "labels", labels(node));
  cJSON *spec = cJSON_AddObjectToObject(o, "spec");
  cJSON_AddItemToObject(spec, "taints", taints(no_browsers_taint));
  return print_free(o);
}

static void cond(cJSON *a, const char *type, bool status, const char *reason, const char *msg,
                 uint64_t since, uint64_t now) {
  cJSON *c = cJSON_CreateObject();
  cJSON_AddStringToObject(c, "type", type);
  cJSON_AddStringToObject(c, "status", status ? "True" : "False");
  cJSON_AddStringToObject(c, "reason", reason);
  cJSON_AddStringToObject(c, "message", msg);
  kq_jb_time(c, "lastHeartbeatTime", now / 1000000000u * 1000000000u);
  kq_jb_time(c, "lastTransitionTime", since / 1000000000u * 1000000000u);
  cJSON_AddItemToArray(a, c);
}

static cJSON *resources(const kq_k8s_node_state_t *st) {
  cJSON *r = cJSON_CreateObject();
  char b[32];
  cJSON_AddStringToObject(r, "cpu", kq_k8s_quantity_format_milli(st->cpu_millis > 0 ? st->cpu_millis : 0, b));
  cJSON_AddStringToObject(r, "memory", kq_k8s_quantity_format_bytes(st->memory_bytes > 0 ? st->memory_bytes : 0, b));
  snprintf(b, sizeof(b), "%lld", (long long)(st->pods > 0 ? st->pods : 110));
  cJSON_AddStringToObject(r, "pods", b);
  snprintf(b, sizeof(b), "%lld", (long long)(st->gpu > 0 ? st->gpu : 0));
  cJSON_AddStringToObject(r, "kuack.io/gpu", b);
  return r;
}

char *kq_k8s_node_status_patch(const char *node, const kq_k8s_node_state_t *st,
                               const char *kubelet_version, uint64_t start_wall_ns,
                               uint64_t ready_since_ns, uint64_t now) {
  cJSON *o = cJSON_CreateObject();
  cJSON *s = cJSON_AddObjectToObject(o, "status");
  cJSON_AddItemToObject(s, "capacity", resources(st));
  cJSON_AddItemToObject(s, "allocatable", resources(st));
  cJSON *c = cJSON_AddArrayToObject(s, "conditions");
  const char *msg = st->ready_message ? st->ready_message
                    : st->ready ? "kuack-node is ready" : "no browser connected";
  cond(c, "Ready", st->ready, st->ready ? "KubeletReady" : "KubeletNotReady", msg, ready_since_ns, now);
  cond(c, "MemoryPressure", false, "KubeletHasSufficientMemory", "kubelet has sufficient memory available", start_wall_ns, now);
  cond(c, "DiskPressure", false, "KubeletHasNoDiskPressure", "kubelet has no disk pressure", start_wall_ns, now);
  cond(c, "PIDPressure", false, "KubeletHasSufficientPID", "kubelet has sufficient PID available", start_wall_ns, now);
  cJSON *addr = cJSON_AddArrayToObject(s, "addresses");
  cJSON *a = cJSON_CreateObject();
  cJSON_AddStringToObject(a, "type", "InternalIP");
  cJSON_AddStringToObject(a, "address", st->internal_ip ? st->internal_ip : "127.0.0.1");
  cJSON_AddItemToArray(addr, a);
  a = cJSON_CreateObject();
  cJSON_AddStringToObject(a, "type", "Hostname");
  cJSON_AddStringToObject(a, "address", node);
  cJSON_AddItemToArray(addr, a);
  cJSON *de = cJSON_AddObjectToObject(s, "daemonEndpoints");
  cJSON *ke = cJSON_AddObjectToObject(de, "kubeletEndpoint");
  cJSON_AddNumberToObject(ke, "Port", st->kubelet_port > 0 ? st->kubelet_port : 10250);
  cJSON *ni = cJSON_AddObjectToObject(s, "nodeInfo");
  static const char *const blanks[] = {"machineID", "systemUUID", "bootID", "kernelVersion",
                                       "kubeProxyVersion"};
  for (size_t i = 0; i < KQ_ARRAY_LEN(blanks); i++) cJSON_AddStringToObject(ni, blanks[i], "");
  cJSON_AddStringToObject(ni, "osImage", "kuack browsers");
  cJSON_AddStringToObject(ni, "containerRuntimeVersion", "kuack://0.1.0");
  cJSON_AddStringToObject(ni, "kubeletVersion", kubelet_version ? kubelet_version : "v0.0.0-kuack-node");
  cJSON_AddStringToObject(ni, "operatingSystem", "wasm");
  cJSON_AddStringToObject(ni, "architecture", "wasm32");
  return print_free(o);
}

/* MicroTime wants exactly six fraction digits. */
static void micro_time(uint64_t ns, char buf[40]) {
  time_t t = (time_t)(ns / 1000000000u);
  struct tm tm;
  gmtime_r(&t, &tm);
  size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, 40 - n, ".%06uZ", (unsigned)(ns % 1000000000u / 1000u));
}

static cJSON *lease_spec(const char *node, uint32_t duration_s, uint64_t now) {
  cJSON *spec = cJSON_CreateObject();
  char b[40];
  micro_time(now, b);
  cJSON_AddStringToObject(spec, "holderIdentity", node);
  cJSON_AddNumberToObject(spec, "leaseDurationSeconds", duration_s);
  cJSON_AddStringToObject(spec, "renewTime", b);
  return spec;
}

char *kq_k8s_lease_body(const char *node, uint32_t duration_s, uint64_t now) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "apiVersion", "coordination.k8s.io/v1");
  cJSON_AddStringToObject(o, "kind", "Lease");
  cJSON *m = cJSON_AddObjectToObject(o, "metadata");
  cJSON_AddStringToObject(m, "name", node);
  cJSON_AddStringToObject(m, "namespace", "kube-node-lease");
  cJSON_AddItemToObject(o, "spec", lease_spec(node, duration_s, now));
  return print_free(o);
}

char *kq_k8s_lease_patch(const char *node, uint32_t duration_s, uint64_t now) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "spec", lease_spec(node, duration_s, now));
  return print_free(o);
}

char *kq_k8s_event_body(const kq_k8s_event_t *ev, const char *node, uint64_t now, uint32_t seq) {
  bool is_node = ev->kind && strcmp(ev->kind, "Node") == 0;
  const char *ns = ev->ns && !is_node ? ev->ns : "default";
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "apiVersion", "v1");
  cJSON_AddStringToObject(o, "kind", "Event");
  cJSON *m = cJSON_AddObjectToObject(o, "metadata");
  /* at most 253 characters: 200 of the object name, '.', 16 + 8 hex digits */
  char *name = kq_asprintf("%.200s.%016llx%08x", ev->name ? ev->name : "kuack",
                           (unsigned long long)now, (unsigned)seq);
  cJSON_AddStringToObject(m, "name", name);
  free(name);
  cJSON_AddStringToObject(m, "namespace", ns);
  cJSON *io = cJSON_AddObjectToObject(o, "involvedObject");
  cJSON_AddStringToObject(io, "apiVersion", "v1");
  cJSON_AddStringToObject(io, "kind", ev->kind ? ev->kind : "Pod");
  kq_jb_str(io, "name", ev->name);
  if (!is_node) kq_jb_str(io, "namespace", ns);
  kq_jb_str(io, "uid", is_node && !ev->uid ? ev->name : ev->uid);
  cJSON_AddStringToObject(o, "reason", ev->reason ? ev->reason : "");
  cJSON_AddStringToObject(o, "message", ev->message ? ev->message : "");
  cJSON_AddStringToObject(o, "type", ev->warning ? "Warning" : "Normal");
  cJSON *src = cJSON_AddObjectToObject(o, "source");
  cJSON_AddStringToObject(src, "component", "kuack-node");
  cJSON_AddStringToObject(src, "host", node);
  uint64_t s = now / 1000000000u * 1000000000u;
  kq_jb_time(o, "firstTimestamp", s);
  kq_jb_time(o, "lastTimestamp", s);
  cJSON_AddNumberToObject(o, "count", 1);
  cJSON_AddStringToObject(o, "reportingComponent", "kuack-node");
  cJSON_AddStringToObject(o, "reportingInstance", node);
  return print_free(o);
}

char *kq_k8s_delete_body(const char *uid, int64_t grace_s) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "kind", "DeleteOptions");
  cJSON_AddStringToObject(o, "apiVersion", "v1");
  cJSON_AddNumberToObject(o, "gracePeriodSeconds", (double)(grace_s > 0 ? grace_s : 0));
  if (uid) {
    cJSON *p = cJSON_AddObjectToObject(o, "preconditions");
    cJSON_AddStringToObject(p, "uid", uid);
  }
  return print_free(o);
}

static char *list_rv(const cJSON *root) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "metadata");
  const cJSON *rv = m ? cJSON_GetObjectItemCaseSensitive(m, "resourceVersion") : NULL;
  return cJSON_IsString(rv) ? kq_strdup(rv->valuestring) : NULL;
}

int kq_k8s_pod_list_decode(const char *json, size_t len, kq_pod_t **pods, size_t *n, char **rv,
                           size_t *bad, char **err) {
  *pods = NULL;
  *n = 0;
  *rv = NULL;
  *bad = 0;
  if (err) *err = NULL;
  kq_jd_t d;
  kq_jd_init(&d);
  /* lists can be large: allow 16x an object */
  cJSON *root = len <= 16u * KQ_K8S_MAX_OBJECT_BYTES
                    ? cJSON_ParseWithLength(json, len) : NULL;
  if (!root) {
    if (err) *err = kq_strdup("malformed or oversized PodList");
    return KQ_EPARSE;
  }
  const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
  size_t cap = cJSON_IsArray(items) ? (size_t)cJSON_GetArraySize(items) : 0;
  *pods = cap ? kq_calloc(cap, sizeof(kq_pod_t)) : NULL;
  const cJSON *it;
  if (cap) {
    cJSON_ArrayForEach(it, items) {
      kq_jd_init(&d);
      kq_k8s_pod_decode(&d, it, &(*pods)[*n]);
      if (d.rc != KQ_OK) {
        kq_pod_clear(&(*pods)[*n]);
        (*bad)++;
        free(d.err);
        continue;
      }
      (*n)++;
    }
  }
  *rv = list_rv(root);
  cJSON_Delete(root);
  return KQ_OK;
}

int kq_k8s_watch_event_decode(const char *line, size_t len, bool is_pod, kq_k8s_watch_event_t *ev,
                              char **err) {
  memset(ev, 0, sizeof(*ev));
  if (err) *err = NULL;
  kq_jd_t d;
  kq_jd_init(&d);
  cJSON *root = kq_k8s_json_parse(&d, line, len);
  if (!root) {
    if (err) *err = d.err;
    else free(d.err);
    return d.rc;
  }
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
  const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, "object");
  static const char *const names[] = {"", "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
  if (cJSON_IsString(type))
    for (size_t i = 1; i < KQ_ARRAY_LEN(names); i++)
      if (strcmp(type->valuestring, names[i]) == 0) ev->type = (kq_k8s_we_type_t)i;
  if (!ev->type || !cJSON_IsObject(obj)) {
    cJSON_Delete(root);
    if (err) *err = kq_strdup("watch event without a known type or an object");
    return KQ_EPROTO;
  }
  if (ev->type == KQ_WE_ERROR) {
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(obj, "message");
    ev->code = cJSON_IsNumber(code) ? (long)code->valuedouble : 0;
    ev->message = cJSON_IsString(msg) ? kq_strdup(msg->valuestring) : NULL;
  } else {
    kq_k8s_meta_decode(&d, cJSON_GetObjectItemCaseSensitive(obj, "metadata"), &ev->meta);
    if (is_pod && ev->type != KQ_WE_BOOKMARK) kq_k8s_pod_decode(&d, obj, &ev->pod);
  }
  cJSON_Delete(root);
  if (d.rc != KQ_OK) {
    kq_k8s_watch_event_clear(ev);
    if (err) *err = d.err;
    else free(d.err);
    return d.rc;
  }
  return KQ_OK;
}

void kq_k8s_watch_event_clear(kq_k8s_watch_event_t *ev) {
  kq_pod_clear(&ev->pod);
  kq_k8s_meta_clear(&ev->meta);
  free(ev->message);
  memset(ev, 0, sizeof(*ev));
}

int kq_k8s_node_list_decode(const char *json, size_t len, kq_k8s_meta_t *meta, char **rv) {
  memset(meta, 0, sizeof(*meta));
  *rv = NULL;
  cJSON *root = cJSON_ParseWithLength(json, len);
  if (!root) return KQ_EPARSE;
  *rv = list_rv(root);
  const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
  const cJSON *first = cJSON_IsArray(items) ? cJSON_GetArrayItem(items, 0) : NULL;
  int rc = KQ_ENOENT;
  if (first) {
    kq_jd_t d;
    kq_jd_init(&d);
    kq_k8s_meta_decode(&d, cJSON_GetObjectItemCaseSensitive(first, "metadata"), meta);
    free(d.err);
    rc = d.rc;
  }
  cJSON_Delete(root);
  return rc;
}

static char *b64(const char *in) {
  size_t m = strlen(in);
  if (m % 4) return NULL;
  unsigned char *out = kq_malloc(m / 4 * 3 + 1);
  int got = EVP_DecodeBlock(out, (const unsigned char *)in, (int)m);
  if (got < 0) {
    free(out);
    return NULL;
  }
  if (m && in[m - 1] == '=') got--;
  if (m > 1 && in[m - 2] == '=') got--;
  out[got] = '\0';
  return (char *)out;
}

int kq_k8s_data_decode(const char *json, size_t len, bool secret, kq_k8s_kv_t **kv, size_t *n,
                       char **err) {
  *kv = NULL;
  *n = 0;
  if (err) *err = NULL;
  kq_jd_t d;
  kq_jd_init(&d);
  cJSON *root = kq_k8s_json_parse(&d, json, len);
  if (root) *kv = kq_jd_map(&d, root, "data", n);
  cJSON_Delete(root);
  if (d.rc == KQ_OK && secret) {
    for (size_t i = 0; i < *n; i++) {
      char *v = b64((*kv)[i].value);
      if (!v) {
        kq_jd_fail(&d, KQ_EINVAL, "secret key \"%s\" is not valid base64", (*kv)[i].key);
        break;
      }
      free((*kv)[i].value);
      (*kv)[i].value = v;
    }
  }
  if (d.rc != KQ_OK) {
    kq_k8s_kv_free(*kv, *n);
    *kv = NULL;
    *n = 0;
    if (err) *err = d.err;
    else free(d.err);
    return d.rc;
  }
  return KQ_OK;
}

char *kq_k8s_status_message(const char *json, size_t len) {
  if (!json || !len) return NULL;
  cJSON *root = cJSON_ParseWithLength(json, len);
  const cJSON *m = root ? cJSON_GetObjectItemCaseSensitive(root, "message") : NULL;
  char *s = cJSON_IsString(m) ? kq_strdup(m->valuestring) : NULL;
  cJSON_Delete(root);
  return s;
}

char *kq_k8s_version_decode(const char *json, size_t len) {
  cJSON *root = cJSON_ParseWithLength(json, len);
  const cJSON *m = root ? cJSON_GetObjectItemCaseSensitive(root, "gitVersion") : NULL;
  char *s = cJSON_IsString(m) ? kq_strdup(m->valuestring) : NULL;
  cJSON_Delete(root);
  return s;
}
