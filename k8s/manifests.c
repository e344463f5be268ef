/* The standalone manifest source (see kq_manifests.h). Every poll lists the directory, re-reads
 * files whose mtime/size changed (or whose mtime is too recent to trust), decodes them into
 * documents and diffs the documents by key and content hash against what was sent before. A
 * namespace/name belongs to the first file that claimed it; later claims wait, refused, and take
 * over when the owner lets go. */
#include "kq_manifests.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "kq_alloc.h"
#include "kq_clock.h"
#include "kq_error.h"
#include "kq_k8s_internal.h"
#include "kq_log.h"

#define COMP "manifests"
/* A file whose mtime is this close to the moment we read it may change again within the same
 * mtime tick without its mtime or size moving, so it is hashed again at the next poll. */
#define RACY_NS KQ_SEC(2)

typedef struct entry {
  char *key;          /* "<file>#<ns>/<name>" */
  char *nsname;       /* "<ns>/<name>" */
  uint8_t hash[32];   /* key + the decoded document */
  int doc;            /* 1-based document number, for messages */
  int line;
  bool active;        /* sent to the target; owns nsname */
  kq_pod_t pod;       /* refused entries keep their pod to take over later; zero otherwise */
} entry_t;

typedef struct file {
  char *name;
  bool seen;
  bool read;          /* content hash below is valid */
  struct timespec mtime;
  off_t size;
  uint64_t read_real_ns;
  uint8_t hash[32];
  size_t n;
  entry_t *v;
} file_t;

typedef struct manifests {
  kq_actor_t *self;
  char *dir;
  char *node_name;
  kq_aid_t target;
  uint64_t poll_ns;
  kq_manifests_error_fn on_error;
  void *on_error_ud;
  kq_manifests_node_fn on_node;
  void *on_node_ud;
  char *node_policy, *node_params; /* annotations last handed to on_node */
  bool dir_warned;
  size_t nfiles;
  file_t *files;      /* sorted by name */
} manifests_t;

/* ---- messages ---- */

static void pod_msg_dtor(kq_msg_t *m) {
  kq_manifest_pod_msg_t *p = (kq_manifest_pod_msg_t *)m;
  free(p->key);
  kq_pod_clear(&p->pod);
}

static void remove_msg_dtor(kq_msg_t *m) { free(((kq_manifest_remove_msg_t *)m)->key); }

/* Sends an UPSERT for `e`, moving its pod into the message. */
static void send_upsert(manifests_t *s, entry_t *e) {
  kq_manifest_pod_msg_t *m = KQ_MSG_NEW(kq_manifest_pod_msg_t, KQ_MANIFEST_MSG_UPSERT);
  m->hdr.dtor = pod_msg_dtor;
  m->key = kq_strdup(e->key);
  m->pod = e->pod;
  memset(&e->pod, 0, sizeof(e->pod));
  KQ_INFO(COMP, "pod added or changed", "key=%s uid=%s", e->key, m->pod.meta.uid);
  kq_tell(s->self, s->target, &m->hdr);
}

static void send_remove(manifests_t *s, const char *key) {
  kq_manifest_remove_msg_t *m = KQ_MSG_NEW(kq_manifest_remove_msg_t, KQ_MANIFEST_MSG_REMOVE);
  m->hdr.dtor = remove_msg_dtor;
  m->key = kq_strdup(key);
  m->grace_s = -1;
  KQ_INFO(COMP, "pod removed", "key=%s", key);
  kq_tell(s->self, s->target, &m->hdr);
}

static void report(manifests_t *s, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(manifests_t *s, const char *file, const char *fmt, ...) {
  char msg[1024];
  int off = snprintf(msg, sizeof(msg), "%s: ", file);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg + off, sizeof(msg) - (size_t)off, fmt, ap);
  va_end(ap);
  for (char *c = msg; *c; c++)
    if (*c == '\n' || *c == '\r') *c = ' ';
  KQ_WARN(COMP, "bad manifest", "dir=%s msg=\"%s\"", s->dir, msg);
  if (s->on_error) s->on_error(s->on_error_ud, file, msg);
}

/* ---- hashing and identity ---- */

static void sha256(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32]) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) abort();
  unsigned int n = 0;
  if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) || !EVP_DigestUpdate(ctx, a, alen) ||
      (blen && !EVP_DigestUpdate(ctx, b, blen)) || !EVP_DigestFinal_ex(ctx, out, &n))
    abort();
  EVP_MD_CTX_free(ctx);
}

/* A UUID (version 5 layout) from the first 16 bytes of `h`. */
static char *uuid_from_hash(const uint8_t h[32]) {
  uint8_t b[16];
  memcpy(b, h, 16);
  b[6] = (uint8_t)((b[6] & 0x0f) | 0x50);
  b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
  return kq_asprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                     b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                     b[13], b[14], b[15]);
}

/* The document's hash covers its key and its decoded form, so comments and formatting do not
 * count but any field the pod model carries does. */
static void doc_hash(const char *key, const kq_pod_t *pod, uint8_t out[32]) {
  size_t len = 0;
  char *json = kq_k8s_pod_to_json(pod, &len);
  sha256(key, strlen(key) + 1, json, len, out);
  free(json);
}

static void apply_defaults(manifests_t *s, kq_pod_t *p, const uint8_t hash[32]) {
  if (!p->meta.namespace_ || !p->meta.namespace_[0]) {
    free(p->meta.namespace_);
    p->meta.namespace_ = kq_strdup("default");
  }
  if (!p->meta.uid || !p->meta.uid[0]) {
    free(p->meta.uid);
    p->meta.uid = uuid_from_hash(hash);
  }
  if (!p->meta.creation_ns) p->meta.creation_ns = kq_wall_ns(kq_system_clock(kq_actor_system(s->self)));
  if (s->node_name && (!p->spec.node_name || !p->spec.node_name[0])) {
    free(p->spec.node_name);
    p->spec.node_name = kq_strdup(s->node_name);
  }
}

/* ---- state ---- */

static void entry_clear(entry_t *e) {
  free(e->key);
  free(e->nsname);
  kq_pod_clear(&e->pod);
}

static void entries_free(entry_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) entry_clear(&v[i]);
  free(v);
}

static void file_free(file_t *f) {
  free(f->name);
  entries_free(f->v, f->n);
}

/* The active entry that owns `nsname` in a file other than `skip`, or NULL. */
static const entry_t *owner_of(const manifests_t *s, const file_t *skip, const char *nsname,
                               const char **owner_file) {
  for (size_t i = 0; i < s->nfiles; i++) {
    const file_t *f = &s->files[i];
    if (f == skip) continue;
    for (size_t j = 0; j < f->n; j++)
      if (f->v[j].active && !strcmp(f->v[j].nsname, nsname)) {
        if (owner_file) *owner_file = f->name;
        return &f->v[j];
      }
  }
  return NULL;
}

static entry_t *find_key(entry_t *v, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (v[i].key && !strcmp(v[i].key, key)) return &v[i];
  return NULL;
}

/* Replaces `f`'s documents with `docs`: unchanged ones keep their state and send nothing, new or
 * changed ones are sent (or refused when another file owns their name), and the old ones left
 * over are removed. */
static void apply_docs(manifests_t *s, file_t *f, kq_k8s_doc_t *docs, size_t ndocs) {
  entry_t *nv = ndocs ? kq_calloc(ndocs, sizeof(*nv)) : NULL;
  size_t nn = 0;
  for (size_t i = 0; i < ndocs; i++) {
    kq_k8s_doc_t *d = &docs[i];
    if (d->rc != KQ_OK) {
      report(s, f->name, "%s", d->error ? d->error : kq_strerror(d->rc));
      continue;
    }
    kq_pod_t *p = &d->pod;
    char *nsname = kq_asprintf("%s/%s", kq_pod_namespace(p), p->meta.name);
    char *key = kq_asprintf("%s#%s", f->name, nsname);
    entry_t *dup = find_key(nv, nn, key);
    if (dup) {
      report(s, f->name, "document %d (line %d): pod %s is already defined by document %d; refused",
             d->index + 1, d->line, nsname, dup->doc);
      free(nsname);
      free(key);
      continue;
    }
    entry_t *e = &nv[nn++];
    e->key = key;
    e->nsname = nsname;
    e->doc = d->index + 1;
    e->line = d->line;
    doc_hash(key, p, e->hash);
    entry_t *old = find_key(f->v, f->n, key);
    if (old && !memcmp(old->hash, e->hash, sizeof(e->hash))) {
      /* unchanged: keep what was decided and sent before */
      e->active = old->active;
      e->pod = old->pod;
      memset(&old->pod, 0, sizeof(old->pod));
      free(old->key);
      old->key = NULL;  /* consumed: not removed below */
      continue;
    }
    apply_defaults(s, p, e->hash);
    e->pod = *p;
    memset(p, 0, sizeof(*p));
    const char *ofile = NULL;
    if (owner_of(s, f, nsname, &ofile)) {
      report(s, f->name, "document %d (line %d): pod %s is already defined in %s; refused", e->doc,
             e->line, nsname, ofile);
    } else {
      e->active = true;
      send_upsert(s, e);
    }
    if (old) {
      /* changed in place: the UPSERT replaces it (an old refused one simply goes) */
      if (old->active && !e->active) send_remove(s, old->key);
      free(old->key);
      old->key = NULL;
    }
  }
  for (size_t i = 0; i < f->n; i++)
    if (f->v[i].key && f->v[i].active) send_remove(s, f->v[i].key);
  entries_free(f->v, f->n);
  f->v = nv;
  f->n = nn;
}

/* Refused entries whose name became free take over, in file order. */
static void activate_waiting(manifests_t *s) {
  for (size_t i = 0; i < s->nfiles; i++) {
    file_t *f = &s->files[i];
    for (size_t j = 0; j < f->n; j++) {
      entry_t *e = &f->v[j];
      if (e->active || owner_of(s, f, e->nsname, NULL)) continue;
      e->active = true;
      send_upsert(s, e);
    }
  }
}

/* ---- scanning ---- */

static bool wanted_name(const char *n) {
  if (n[0] == '.') return false;
  size_t len = strlen(n);
  static const char *const exts[] = {".yaml", ".yml", ".json"};
  for (size_t i = 0; i < KQ_ARRAY_LEN(exts); i++) {
    size_t el = strlen(exts[i]);
    if (len > el && !strcmp(n + len - el, exts[i])) return true;
  }
  return false;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted wanted names in the directory. KQ_OK or KQ_EIO with errno kept. */
static int list_dir(const char *dir, char ***names, size_t *n) {
  *names = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return KQ_EIO;
  size_t cap = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!wanted_name(de->d_name)) continue;
    if (*n == cap) {
      cap = cap ? cap * 2 : 16;
      *names = kq_realloc(*names, cap * sizeof(**names));
    }
    (*names)[(*n)++] = kq_strdup(de->d_name);
  }
  closedir(d);
  if (*n) qsort(*names, *n, sizeof(**names), cmp_str);
  return KQ_OK;
}

static uint64_t real_wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t ts_ns(struct timespec t) {
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Reads at most KQ_K8S_MAX_OBJECT_BYTES + 1 bytes. Returns owned data (NUL-terminated) or NULL
 * with errno set. */
static char *read_capped(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = kq_malloc(cap + 1);
  for (;;) {
    if (n == cap) {
      if (cap > KQ_K8S_MAX_OBJECT_BYTES) break;
      cap *= 2;
      if (cap > (size_t)KQ_K8S_MAX_OBJECT_BYTES + 1) cap = (size_t)KQ_K8S_MAX_OBJECT_BYTES + 1;
      buf = kq_realloc(buf, cap + 1);
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      free(buf);
      errno = e;
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* ---- the Node manifest ---- */

static bool is_node_file(const char *n) {
  return !strcmp(n, "node.yaml") || !strcmp(n, "node.yml") || !strcmp(n, "node.json");
}

static bool same_str(const char *a, const char *b) {
  return a == b || (a && b && !strcmp(a, b));
}

/* Applies the placement annotations of the Node manifest `f` (content in data/len). */
static void scan_node_file(manifests_t *s, file_t *f, const char *data, size_t len) {
  char *err = NULL;
  cJSON *root = kq_k8s_yaml_to_json(data, len, &err);
  if (!root) {
    report(s, f->name, "Node manifest: %s; placement policy unchanged", err ? err : "invalid");
    free(err);
    return;
  }
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
  if (!cJSON_IsObject(root) || !cJSON_IsString(kind) || strcmp(kind->valuestring, "Node")) {
    report(s, f->name, "expected one document of kind: Node (placement annotations); "
                       "placement policy unchanged");
    cJSON_Delete(root);
    return;
  }
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
  const cJSON *ann = cJSON_GetObjectItemCaseSensitive(meta, "annotations");
  const cJSON *pol = cJSON_GetObjectItemCaseSensitive(ann, KQ_MANIFESTS_ANN_POLICY);
  const cJSON *prm = cJSON_GetObjectItemCaseSensitive(ann, KQ_MANIFESTS_ANN_PARAMS);
  if ((pol && !cJSON_IsString(pol)) || (prm && !cJSON_IsString(prm) && !cJSON_IsObject(prm))) {
    report(s, f->name, "Node manifest: %s must be a string and %s a JSON object (as a string); "
                       "placement policy unchanged", KQ_MANIFESTS_ANN_POLICY, KQ_MANIFESTS_ANN_PARAMS);
    cJSON_Delete(root);
    return;
  }
  const char *policy = pol ? pol->valuestring : NULL;
  char *params = !prm ? NULL : cJSON_IsString(prm) ? kq_strdup(prm->valuestring)
                                                   : cJSON_PrintUnformatted(prm);
  if (policy && !*policy) policy = NULL;
  if (same_str(policy, s->node_policy) && same_str(params, s->node_params)) {
    free(params);
    cJSON_Delete(root);
    return;
  }
  kq_k8s_param_t *kv = NULL;
  size_t n = 0;
  int rc = policy ? kq_k8s_parse_params(params, 8 /* KQ_POLICY_PARAMS_MAX */, &kv, &n, &err) : KQ_OK;
  if (rc != KQ_OK) {
    report(s, f->name, "Node manifest: %s: %s; placement policy unchanged",
           KQ_MANIFESTS_ANN_PARAMS, err ? err : kq_strerror(rc));
    free(err);
    free(params);
    cJSON_Delete(root);
    return; /* not remembered: the same text is reported again only when the file changes */
  }
  free(s->node_policy);
  free(s->node_params);
  s->node_policy = policy ? kq_strdup(policy) : NULL;
  s->node_params = params;
  if (policy) {
    KQ_INFO(COMP, "node manifest: placement policy", "file=%s policy=%s params=%s", f->name,
            policy, params ? params : "{}");
    if (s->on_node) s->on_node(s->on_node_ud, policy, kv, n);
  }
  kq_k8s_params_free(kv, n);
  cJSON_Delete(root);
}

/* Drops everything `f` sent (its file is gone or refused as a whole). */
static void file_drop_pods(manifests_t *s, file_t *f) { apply_docs(s, f, NULL, 0); }

/* Looks at one present file: re-reads it when its stat changed or is too recent to trust, and
 * applies its documents when the content changed. */
static void scan_file(manifests_t *s, file_t *f, const struct stat *st, char *path) {
  bool same_stat = f->read && f->size == st->st_size && f->mtime.tv_sec == st->st_mtim.tv_sec &&
                   f->mtime.tv_nsec == st->st_mtim.tv_nsec;
  bool racy = f->read_real_ns < ts_ns(st->st_mtim) + RACY_NS;
  if (same_stat && !racy) return;
  f->mtime = st->st_mtim;
  f->size = st->st_size;
  f->read_real_ns = real_wall_ns();
  if ((uint64_t)st->st_size > KQ_K8S_MAX_OBJECT_BYTES) {
    uint8_t h[32] = {0};
    h[0] = 1; /* a marker no real content hash collides with in practice */
    if (!f->read || memcmp(f->hash, h, 32)) {
      report(s, f->name, "file of %lld bytes is too large (at most %u); ignored",
             (long long)st->st_size, (unsigned)KQ_K8S_MAX_OBJECT_BYTES);
      memcpy(f->hash, h, 32);
    }
    f->read = true;
    file_drop_pods(s, f);
    return;
  }
  size_t len = 0;
  char *data = read_capped(path, &len);
  uint8_t h[32];
  if (!data) {
    int e = errno;
    if (e == ENOENT) { /* gone between the listing and the read: the next poll drops it */
      f->read = false;
      return;
    }
    sha256("unreadable", 10, NULL, 0, h);
    if (!f->read || memcmp(f->hash, h, 32))
      report(s, f->name, "cannot read: %s; ignored", strerror(e));
    memcpy(f->hash, h, 32);
    f->read = true;
    file_drop_pods(s, f);
    return;
  }
  sha256(data, len, NULL, 0, h);
  if (f->read && !memcmp(f->hash, h, 32)) {
    free(data);
    return;
  }
  memcpy(f->hash, h, 32);
  f->read = true;
  if (is_node_file(f->name)) {
    scan_node_file(s, f, data, len);
    free(data);
    return;
  }
  kq_k8s_doc_t *docs = NULL;
  size_t ndocs = 0;
  char *err = NULL;
  int rc = kq_k8s_pod_from_yaml_docs(data, len, &docs, &ndocs, &err);
  free(data);
  apply_docs(s, f, docs, ndocs);
  if (rc != KQ_OK) {
    if (rc == KQ_EPARSE && ndocs)
      report(s, f->name, "%s (the documents after it are ignored)", err ? err : "invalid YAML");
    else
      report(s, f->name, "%s", err ? err : kq_strerror(rc));
  }
  free(err);
  kq_k8s_docs_free(docs, ndocs);
}

static file_t *find_file(manifests_t *s, const char *name) {
  for (size_t i = 0; i < s->nfiles; i++)
    if (!strcmp(s->files[i].name, name)) return &s->files[i];
  return NULL;
}

static int scan(manifests_t *s) {
  char **names;
  size_t n;
  if (list_dir(s->dir, &names, &n) != KQ_OK) {
    int e = errno;
    if (!s->dir_warned)
      KQ_WARN(COMP, "cannot list the manifest directory; keeping its pods", "dir=%s err=\"%s\"",
              s->dir, strerror(e));
    s->dir_warned = true;
    return KQ_EIO;
  }
  s->dir_warned = false;
  for (size_t i = 0; i < s->nfiles; i++) s->files[i].seen = false;
  /* the stat of every listed regular file first, so files gone are dropped before others claim */
  struct stat *sts = n ? kq_calloc(n, sizeof(*sts)) : NULL;
  bool *present = n ? kq_calloc(n, sizeof(*present)) : NULL;
  for (size_t i = 0; i < n; i++) {
    char *path = kq_asprintf("%s/%s", s->dir, names[i]);
    present[i] = stat(path, &sts[i]) == 0 && S_ISREG(sts[i].st_mode);
    free(path);
    file_t *f = present[i] ? find_file(s, names[i]) : NULL;
    if (f) f->seen = true;
  }
  size_t keep = 0;
  for (size_t i = 0; i < s->nfiles; i++) {
    file_t *f = &s->files[i];
    if (!f->seen) {
      file_drop_pods(s, f);
      file_free(f);
      continue;
    }
    s->files[keep++] = *f;
  }
  s->nfiles = keep;
  /* new files join in name order; `names` is sorted, and so stays `files` */
  for (size_t i = 0; i < n; i++) {
    if (!present[i] || find_file(s, names[i])) continue;
    s->files = kq_realloc(s->files, (s->nfiles + 1) * sizeof(*s->files));
    size_t at = s->nfiles;
    while (at > 0 && strcmp(s->files[at - 1].name, names[i]) > 0) at--;
    memmove(&s->files[at + 1], &s->files[at], (s->nfiles - at) * sizeof(*s->files));
    memset(&s->files[at], 0, sizeof(*s->files));
    s->files[at].name = kq_strdup(names[i]);
    s->nfiles++;
  }
  for (size_t i = 0; i < n; i++) {
    if (present[i]) {
      char *path = kq_asprintf("%s/%s", s->dir, names[i]);
      scan_file(s, find_file(s, names[i]), &sts[i], path);
      free(path);
    }
    free(names[i]);
  }
  free(names);
  free(sts);
  free(present);
  activate_waiting(s);
  return KQ_OK;
}

/* ---- actor ---- */

static int m_init(kq_actor_t *self, void *state, void *arg) {
  manifests_t *s = state;
  const kq_manifests_opts_t *o = arg;
  s->self = self;
  s->dir = kq_strdup(o->dir);
  s->node_name = kq_strdup(o->node_name);
  s->target = o->target;
  s->poll_ns = o->poll_ns ? o->poll_ns : KQ_SEC(1);
  s->on_error = o->on_error;
  s->on_error_ud = o->on_error_ud;
  s->on_node = o->on_node;
  s->on_node_ud = o->on_node_ud;
  if (scan(s) != KQ_OK) {
    for (size_t i = 0; i < s->nfiles; i++) file_free(&s->files[i]);
    free(s->files);
    free(s->dir);
    free(s->node_name);
    free(s->node_policy);
    free(s->node_params);
    return KQ_EIO;
  }
  kq_timer_start(self, s->poll_ns, s->poll_ns, 0);
  KQ_INFO(COMP, "watching manifests", "dir=%s files=%zu", s->dir, s->nfiles);
  return KQ_OK;
}

static void m_dispatch(kq_actor_t *self, void *state, kq_msg_t *msg) {
  (void)self;
  if (msg->id == KQ_MSG_TIMER) scan(state);
}

static void m_stop(kq_actor_t *self, void *state) {
  (void)self;
  manifests_t *s = state;
  for (size_t i = 0; i < s->nfiles; i++) file_free(&s->files[i]);
  free(s->files);
  free(s->dir);
  free(s->node_name);
  free(s->node_policy);
  free(s->node_params);
}

const kq_actor_type_t kq_manifests_actor_type = {
    .name = "manifests",
    .state_size = sizeof(manifests_t),
    .init = m_init,
    .dispatch = m_dispatch,
    .stop = m_stop,
};

kq_aid_t kq_manifests_spawn(kq_system_t *sys, const kq_manifests_opts_t *opts, char **err) {
  if (err) *err = NULL;
  if (!opts || !opts->dir || !opts->dir[0]) {
    if (err) *err = kq_strdup("no manifest directory given");
    return KQ_AID_NONE;
  }
  struct stat st;
  if (stat(opts->dir, &st) != 0) {
    if (err) *err = kq_asprintf("manifest directory %s: %s", opts->dir, strerror(errno));
    return KQ_AID_NONE;
  }
  if (!S_ISDIR(st.st_mode)) {
    if (err) *err = kq_asprintf("manifest directory %s: not a directory", opts->dir);
    return KQ_AID_NONE;
  }
  DIR *d = opendir(opts->dir);
  if (!d) {
    if (err) *err = kq_asprintf("manifest directory %s: %s", opts->dir, strerror(errno));
    return KQ_AID_NONE;
  }
  closedir(d);
  int rc = KQ_OK;
  kq_aid_t aid = kq_spawn(sys, &kq_manifests_actor_type, (void *)opts, &rc);
  if (!aid && err)
    *err = kq_asprintf("manifest directory %s: cannot start the watcher: %s", opts->dir,
                       kq_strerror(rc));
  return aid;
}
