/* Content-addressed store: blobs and extracted artefacts on disk, an in-memory LRU index rebuilt
 * at open from what is on disk (mtime = last use), atomic landings by rename(2). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_log.h"
#include "kq_oci_digest.h"
#include "kq_oci_manifest.h"
#include "kq_oci_store.h"

enum { ENT_BLOB = 1, ENT_ARTEFACT = 2 };

typedef struct entry {
  int type;
  char digest[KQ_OCI_DIGEST_MAX];
  uint64_t bytes;
  uint64_t last_use;   /* ns since epoch */
  uint32_t pins;
} entry_t;

struct kq_oci_store {
  char *dir;
  uint64_t max_bytes;
  uint64_t total;
  entry_t *ents;
  size_t n, cap;
  uint64_t seq;
  pthread_mutex_t mu;
};

static uint64_t now_ns(kq_oci_store_t *s) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  /* strictly increasing, so touches in one tick still order */
  uint64_t t = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
  if (t <= s->seq) t = s->seq + 1;
  s->seq = t;
  return t;
}

const char *kq_oci_kind_str(kq_oci_kind_t k) {
  return k == KQ_OCI_KIND_WASI ? "wasi" : k == KQ_OCI_KIND_BINDGEN ? "bindgen" : "none";
}

void kq_oci_artefact_free(kq_oci_artefact_t *a) {
  if (!a) return;
  kq_oci_strv_free(a->entrypoint, a->nentrypoint);
  kq_oci_strv_free(a->cmd, a->ncmd);
  kq_oci_strv_free(a->env, a->nenv);
  a->entrypoint = a->cmd = a->env = NULL;
  a->nentrypoint = a->ncmd = a->nenv = 0;
}

void kq_oci_artefact_copy(kq_oci_artefact_t *dst, const kq_oci_artefact_t *src) {
  *dst = *src;
  dst->entrypoint = kq_oci_strv_dup(src->entrypoint, src->nentrypoint);
  dst->cmd = kq_oci_strv_dup(src->cmd, src->ncmd);
  dst->env = kq_oci_strv_dup(src->env, src->nenv);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)ftw;
  return (flag == FTW_DP ? rmdir(p) : unlink(p)) == 0 || errno == ENOENT ? 0 : -1;
}

int kq_oci_rmtree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return errno == ENOENT ? KQ_OK : KQ_EIO;
  if (!S_ISDIR(st.st_mode)) return unlink(path) == 0 ? KQ_OK : KQ_EIO;
  return nftw(path, rm_cb, 32, FTW_DEPTH | FTW_PHYS) == 0 ? KQ_OK : KQ_EIO;
}

static uint64_t tree_bytes_acc;
static pthread_mutex_t tree_mu = PTHREAD_MUTEX_INITIALIZER;
static int du_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)p; (void)ftw;
  if (flag == FTW_F || flag == FTW_SL) tree_bytes_acc += (uint64_t)sb->st_size;
  return 0;
}
static uint64_t tree_bytes(const char *path) {
  pthread_mutex_lock(&tree_mu);
  tree_bytes_acc = 0;
  nftw(path, du_cb, 32, FTW_PHYS);
  uint64_t r = tree_bytes_acc;
  pthread_mutex_unlock(&tree_mu);
  return r;
}

static entry_t *find(kq_oci_store_t *s, int type, const char *digest) {
  for (size_t i = 0; i < s->n; i++)
    if (s->ents[i].type == type && strcmp(s->ents[i].digest, digest) == 0) return &s->ents[i];
  return NULL;
}

static entry_t *add(kq_oci_store_t *s, int type, const char *digest, uint64_t bytes, uint64_t used) {
  entry_t *e = find(s, type, digest);
  if (e) return e;
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 32;
    s->ents = kq_realloc(s->ents, s->cap * sizeof *s->ents);
  }
  e = &s->ents[s->n++];
  memset(e, 0, sizeof *e);
  e->type = type;
  snprintf(e->digest, sizeof e->digest, "%s", digest);
  e->bytes = bytes;
  e->last_use = used;
  s->total += bytes;
  return e;
}

static void path_of(const kq_oci_store_t *s, int type, const char *digest, char *buf, size_t len) {
  if (type == ENT_BLOB) snprintf(buf, len, "%s/blobs/sha256/%s", s->dir, digest + 7);
  else snprintf(buf, len, "%s/artefacts/sha256-%s", s->dir, digest + 7);
}

static void touch_disk(const char *path) {
  utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW);
}

static int mkdirs(const char *dir) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s", dir);
  for (char *c = p + 1; *c; c++) {
    if (*c != '/') continue;
    *c = '\0';
    if (mkdir(p, 0755) != 0 && errno != EEXIST) return KQ_EIO;
    *c = '/';
  }
  return mkdir(p, 0755) == 0 || errno == EEXIST ? KQ_OK : KQ_EIO;
}

static void reindex(kq_oci_store_t *s) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/blobs/sha256", s->dir);
  DIR *d = opendir(p);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    char dg[KQ_OCI_DIGEST_MAX], fp[PATH_MAX];
    snprintf(dg, sizeof dg, "sha256:%.64s", de->d_name);
    if (!kq_oci_digest_valid(dg) || strlen(de->d_name) != 64) continue;
    snprintf(fp, sizeof fp, "%s/%s", p, de->d_name);
    struct stat st;
    if (lstat(fp, &st) == 0 && S_ISREG(st.st_mode))
      add(s, ENT_BLOB, dg, (uint64_t)st.st_size,
          (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec);
  }
  if (d) closedir(d);
  snprintf(p, sizeof p, "%s/artefacts", s->dir);
  d = opendir(p);
  while (d && (de = readdir(d))) {
    if (strncmp(de->d_name, "sha256-", 7) != 0) continue;
    char dg[KQ_OCI_DIGEST_MAX], fp[PATH_MAX], meta[PATH_MAX];
    snprintf(dg, sizeof dg, "sha256:%.64s", de->d_name + 7);
    snprintf(fp, sizeof fp, "%s/%s", p, de->d_name);
    snprintf(meta, sizeof meta, "%s/meta.json", fp);
    struct stat st;
    if (!kq_oci_digest_valid(dg) || strlen(de->d_name) != 71 || stat(meta, &st) != 0) {
      kq_oci_rmtree(fp);   /* incomplete or foreign: not ours to keep */
      continue;
    }
    struct stat dst;
    lstat(fp, &dst);
    add(s, ENT_ARTEFACT, dg, tree_bytes(fp),
        (uint64_t)dst.st_mtim.tv_sec * 1000000000ull + (uint64_t)dst.st_mtim.tv_nsec);
  }
  if (d) closedir(d);
}

kq_oci_store_t *kq_oci_store_open(const char *dir, uint64_t max_bytes, int *err) {
  static const char *subs[] = {"blobs/sha256", "artefacts", "refs", "tmp"};
  char p[PATH_MAX];
  for (size_t i = 0; i < KQ_ARRAY_LEN(subs); i++) {
    snprintf(p, sizeof p, "%s/%s", dir, subs[i]);
    if (mkdirs(p) != KQ_OK) {
      if (err) *err = KQ_EIO;
      return NULL;
    }
  }
  snprintf(p, sizeof p, "%s/tmp", dir);
  kq_oci_rmtree(p);
  mkdir(p, 0755);
  kq_oci_store_t *s = KQ_NEW(kq_oci_store_t);
  s->dir = kq_strdup(dir);
  s->max_bytes = max_bytes;
  pthread_mutex_init(&s->mu, NULL);
  reindex(s);
  if (err) *err = KQ_OK;
  return s;
}

void kq_oci_store_close(kq_oci_store_t *s) {
  if (!s) return;
  pthread_mutex_destroy(&s->mu);
  free(s->ents);
  free(s->dir);
  free(s);
}

const char *kq_oci_store_dir(const kq_oci_store_t *s) { return s->dir; }

uint64_t kq_oci_store_bytes(kq_oci_store_t *s) {
  pthread_mutex_lock(&s->mu);
  uint64_t t = s->total;
  pthread_mutex_unlock(&s->mu);
  return t;
}

size_t kq_oci_store_count(kq_oci_store_t *s) {
  pthread_mutex_lock(&s->mu);
  size_t n = s->n;
  pthread_mutex_unlock(&s->mu);
  return n;
}

int kq_oci_store_blob_path(const kq_oci_store_t *s, const char *digest, char *buf, size_t len) {
  if (!kq_oci_digest_valid(digest)) return KQ_EINVAL;
  path_of(s, ENT_BLOB, digest, buf, len);
  return KQ_OK;
}

static void touch_locked(kq_oci_store_t *s, entry_t *e) {
  char p[PATH_MAX];
  e->last_use = now_ns(s);
  path_of(s, e->type, e->digest, p, sizeof p);
  touch_disk(p);
}

bool kq_oci_store_has_blob(kq_oci_store_t *s, const char *digest) {
  if (!kq_oci_digest_valid(digest)) return false;
  pthread_mutex_lock(&s->mu);
  entry_t *e = find(s, ENT_BLOB, digest);
  if (e) {
    char p[PATH_MAX];
    path_of(s, ENT_BLOB, digest, p, sizeof p);
    struct stat st;
    if (stat(p, &st) != 0) {   /* removed behind our back */
      s->total -= e->bytes;
      *e = s->ents[--s->n];
      e = NULL;
    } else {
      touch_locked(s, e);
    }
  }
  pthread_mutex_unlock(&s->mu);
  return e != NULL;
}

int kq_oci_store_tmp_file(kq_oci_store_t *s, char *path, size_t len) {
  int w = snprintf(path, len, "%s/tmp/blob.XXXXXX", s->dir);
  if (w < 0 || (size_t)w >= len) return -1;
  return mkstemp(path);
}

int kq_oci_store_tmp_dir(kq_oci_store_t *s, char *path, size_t len) {
  int w = snprintf(path, len, "%s/tmp/art.XXXXXX", s->dir);
  if (w < 0 || (size_t)w >= len) return KQ_EIO;
  return mkdtemp(path) ? KQ_OK : KQ_EIO;
}

static uint64_t gc_locked(kq_oci_store_t *s) {
  uint64_t freed = 0;
  while (s->max_bytes && s->total > s->max_bytes) {
    entry_t *victim = NULL;
    for (size_t i = 0; i < s->n; i++) {
      entry_t *e = &s->ents[i];
      if (e->pins) continue;
      if (!victim || e->last_use < victim->last_use) victim = e;
    }
    if (!victim) break;
    char p[PATH_MAX];
    path_of(s, victim->type, victim->digest, p, sizeof p);
    if (victim->type == ENT_ARTEFACT) {
      /* rename first so a reader never sees a half-deleted artefact */
      char dead[PATH_MAX];
      snprintf(dead, sizeof dead, "%s/tmp/dead.%llu", s->dir, (unsigned long long)now_ns(s));
      if (rename(p, dead) == 0) kq_oci_rmtree(dead);
    } else {
      unlink(p);
    }
    KQ_INFO("oci.store", "evicted", "digest=%s bytes=%llu kind=%s", victim->digest,
            (unsigned long long)victim->bytes, victim->type == ENT_BLOB ? "blob" : "artefact");
    freed += victim->bytes;
    s->total -= victim->bytes;
    *victim = s->ents[--s->n];
  }
  return freed;
}

uint64_t kq_oci_store_gc(kq_oci_store_t *s) {
  pthread_mutex_lock(&s->mu);
  uint64_t f = gc_locked(s);
  pthread_mutex_unlock(&s->mu);
  return f;
}

int kq_oci_store_commit_blob(kq_oci_store_t *s, const char *tmp_path, const char *digest) {
  if (!kq_oci_digest_valid(digest)) return KQ_EINVAL;
  char p[PATH_MAX];
  path_of(s, ENT_BLOB, digest, p, sizeof p);
  struct stat st;
  if (stat(tmp_path, &st) != 0) return KQ_EIO;
  if (rename(tmp_path, p) != 0) {
    unlink(tmp_path);
    return KQ_EIO;
  }
  pthread_mutex_lock(&s->mu);
  entry_t *e = add(s, ENT_BLOB, digest, (uint64_t)st.st_size, 0);
  touch_locked(s, e);
  gc_locked(s);
  pthread_mutex_unlock(&s->mu);
  return KQ_OK;
}

static cJSON *strv_json(char **v, size_t n) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
  return a;
}

static int write_meta(const char *dir, const kq_oci_artefact_t *a) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "digest", a->digest);
  cJSON_AddStringToObject(o, "kind", kq_oci_kind_str(a->kind));
  cJSON_AddStringToObject(o, "module", a->module);
  cJSON_AddStringToObject(o, "glue", a->glue);
  if (kq_oci_digest_valid(a->module_digest)) {
    cJSON_AddStringToObject(o, "module_digest", a->module_digest);
    cJSON_AddNumberToObject(o, "module_size", (double)a->module_size);
  }
  cJSON_AddItemToObject(o, "entrypoint", strv_json(a->entrypoint, a->nentrypoint));
  cJSON_AddItemToObject(o, "cmd", strv_json(a->cmd, a->ncmd));
  cJSON_AddItemToObject(o, "env", strv_json(a->env, a->nenv));
  char *txt = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/meta.json", dir);
  int rc = KQ_EIO;
  FILE *f = fopen(p, "wb");
  if (f) {
    size_t n = strlen(txt);
    if (fwrite(txt, 1, n, f) == n && fflush(f) == 0 && fsync(fileno(f)) == 0) rc = KQ_OK;
    fclose(f);
  }
  free(txt);
  return rc;
}

int kq_oci_store_commit_artefact(kq_oci_store_t *s, const char *tmp_dir, const kq_oci_artefact_t *a) {
  if (!kq_oci_digest_valid(a->digest)) return KQ_EINVAL;
  int rc = write_meta(tmp_dir, a);
  if (rc != KQ_OK) return rc;
  /* a->bytes counted by the extraction job (off the loop) spares a tree walk here */
  uint64_t bytes = a->bytes ? a->bytes : tree_bytes(tmp_dir);
  char p[PATH_MAX];
  path_of(s, ENT_ARTEFACT, a->digest, p, sizeof p);
  pthread_mutex_lock(&s->mu);
  if (rename(tmp_dir, p) != 0) {
    bool exists = errno == EEXIST || errno == ENOTEMPTY;
    kq_oci_rmtree(tmp_dir);
    if (!exists) {
      pthread_mutex_unlock(&s->mu);
      return KQ_EIO;
    }
  }
  entry_t *e = add(s, ENT_ARTEFACT, a->digest, bytes, 0);
  touch_locked(s, e);
  e->pins++;          /* keep it while gc runs for the newcomer */
  gc_locked(s);
  e = find(s, ENT_ARTEFACT, a->digest);
  if (e) e->pins--;
  pthread_mutex_unlock(&s->mu);
  return KQ_OK;
}

static bool load_strv(const cJSON *o, const char *k, char ***v, size_t *n) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, k);
  *v = NULL;
  *n = 0;
  if (!cJSON_IsArray(a)) return false;
  int cnt = cJSON_GetArraySize(a);
  if (!cnt) return true;
  *v = kq_calloc((size_t)cnt, sizeof **v);
  const cJSON *it;
  cJSON_ArrayForEach(it, a) {
    if (!cJSON_IsString(it)) return false;
    (*v)[(*n)++] = kq_strdup(it->valuestring);
  }
  return true;
}

int kq_oci_store_artefact_get(kq_oci_store_t *s, const char *digest, kq_oci_artefact_t *a) {
  memset(a, 0, sizeof *a);
  if (!kq_oci_digest_valid(digest)) return KQ_EINVAL;
  char p[PATH_MAX], m[PATH_MAX];
  path_of(s, ENT_ARTEFACT, digest, p, sizeof p);
  snprintf(m, sizeof m, "%s/meta.json", p);
  FILE *f = fopen(m, "rb");
  if (!f) return KQ_ENOENT;
  char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  cJSON *o = cJSON_ParseWithLength(buf, n);
  int rc = KQ_EPARSE;
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
  const cJSON *mod = cJSON_GetObjectItemCaseSensitive(o, "module");
  const cJSON *glue = cJSON_GetObjectItemCaseSensitive(o, "glue");
  if (cJSON_IsString(kind) && cJSON_IsString(mod) && cJSON_IsString(glue) &&
      strlen(mod->valuestring) < sizeof a->module && strlen(glue->valuestring) < sizeof a->glue) {
    snprintf(a->digest, sizeof a->digest, "%s", digest);
    a->kind = strcmp(kind->valuestring, "bindgen") == 0 ? KQ_OCI_KIND_BINDGEN
              : strcmp(kind->valuestring, "wasi") == 0  ? KQ_OCI_KIND_WASI
                                                        : KQ_OCI_KIND_NONE;
    snprintf(a->module, sizeof a->module, "%s", mod->valuestring);
    snprintf(a->glue, sizeof a->glue, "%s", glue->valuestring);
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "module_digest");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(o, "module_size");
    if (cJSON_IsString(md) && kq_oci_digest_valid(md->valuestring) && cJSON_IsNumber(ms) && ms->valuedouble >= 0) {
      snprintf(a->module_digest, sizeof a->module_digest, "%s", md->valuestring);
      a->module_size = (uint64_t)ms->valuedouble;
    }
    if (load_strv(o, "entrypoint", &a->entrypoint, &a->nentrypoint) &&
        load_strv(o, "cmd", &a->cmd, &a->ncmd) && load_strv(o, "env", &a->env, &a->nenv))
      rc = KQ_OK;
  }
  cJSON_Delete(o);
  if (rc != KQ_OK) {
    kq_oci_artefact_free(a);
    return rc;
  }
  pthread_mutex_lock(&s->mu);
  entry_t *e = find(s, ENT_ARTEFACT, digest);
  if (!e) e = add(s, ENT_ARTEFACT, digest, tree_bytes(p), 0);
  touch_locked(s, e);
  a->bytes = e->bytes;
  pthread_mutex_unlock(&s->mu);
  return KQ_OK;
}

int kq_oci_store_artefact_root(const kq_oci_store_t *s, const char *digest, char *buf, size_t len) {
  if (!kq_oci_digest_valid(digest)) return KQ_EINVAL;
  int w = snprintf(buf, len, "%s/artefacts/sha256-%s/root", s->dir, digest + 7);
  return w < 0 || (size_t)w >= len ? KQ_EINVAL : KQ_OK;
}

int kq_oci_store_pin(kq_oci_store_t *s, const char *digest) {
  pthread_mutex_lock(&s->mu);
  entry_t *e = find(s, ENT_ARTEFACT, digest);
  if (e) e->pins++;
  pthread_mutex_unlock(&s->mu);
  return e ? KQ_OK : KQ_ENOENT;
}

int kq_oci_store_unpin(kq_oci_store_t *s, const char *digest) {
  pthread_mutex_lock(&s->mu);
  entry_t *e = find(s, ENT_ARTEFACT, digest);
  int rc = e && e->pins ? KQ_OK : KQ_ENOENT;
  if (rc == KQ_OK && --e->pins == 0) gc_locked(s);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

void kq_oci_store_touch(kq_oci_store_t *s, const char *digest) {
  pthread_mutex_lock(&s->mu);
  entry_t *e = find(s, ENT_ARTEFACT, digest);
  if (!e) e = find(s, ENT_BLOB, digest);
  if (e) touch_locked(s, e);
  pthread_mutex_unlock(&s->mu);
}

static void ref_path(const kq_oci_store_t *s, const char *ref, char *buf, size_t len) {
  char h[72];
  kq_oci_sha256_hex(ref, strlen(ref), h);
  snprintf(buf, len, "%s/refs/%s", s->dir, h + 7);
}

int kq_oci_store_ref_set(kq_oci_store_t *s, const char *ref, const char *digest) {
  if (!kq_oci_digest_valid(digest)) return KQ_EINVAL;
  char p[PATH_MAX], tmp[PATH_MAX];
  ref_path(s, ref, p, sizeof p);
  int fd = kq_oci_store_tmp_file(s, tmp, sizeof tmp);
  if (fd < 0) return KQ_EIO;
  char line[KQ_OCI_DIGEST_MAX + 2];
  int n = snprintf(line, sizeof line, "%s\n", digest);
  bool ok = write(fd, line, (size_t)n) == n;
  close(fd);
  if (!ok || rename(tmp, p) != 0) {
    unlink(tmp);
    return KQ_EIO;
  }
  return KQ_OK;
}

int kq_oci_store_ref_get(kq_oci_store_t *s, const char *ref, char digest[KQ_OCI_DIGEST_MAX]) {
  char p[PATH_MAX];
  ref_path(s, ref, p, sizeof p);
  FILE *f = fopen(p, "rb");
  if (!f) return KQ_ENOENT;
  char line[128] = {0};
  bool got = fgets(line, sizeof line, f) != NULL;
  fclose(f);
  line[strcspn(line, "\r\n")] = '\0';
  if (!got || !kq_oci_digest_valid(line)) return KQ_EPARSE;
  snprintf(digest, KQ_OCI_DIGEST_MAX, "%s", line);
  return KQ_OK;
}
