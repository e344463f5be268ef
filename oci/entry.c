/* Entry detection: which file of an extracted image is the module (and its JS glue). Candidate
 * paths are checked to be regular files inside the root (no symlink tricks). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_oci_extract.h"
#include "kq_proxy.h"

#define SETERR(...) \
  do { if (err && errlen) snprintf(err, errlen, __VA_ARGS__); } while (0)

static bool ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcasecmp(s + a - b, suf) == 0;
}

/* Strips leading "/" and "./" so config paths ("/hello.wasm") become root-relative. */
static const char *rel(const char *p) {
  while (*p == '/' || (p[0] == '.' && p[1] == '/')) p += (*p == '/') ? 1 : 2;
  return p;
}

/* Regular file inside root, reached without symlinks in its parents. */
static bool is_file(const char *root, const char *relpath) {
  if (!kq_proxy_path_ok(relpath)) return false;
  char p[PATH_MAX], real[PATH_MAX], rroot[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", root, relpath);
  if (!realpath(root, rroot) || !realpath(p, real)) return false;
  size_t n = strlen(rroot);
  if (strncmp(real, rroot, n) != 0 || real[n] != '/') return false;
  struct stat st;
  return stat(real, &st) == 0 && S_ISREG(st.st_mode);
}

typedef struct list {
  char items[64][1024];
  size_t n, total;
} list_t;

static void walk(const char *root, const char *sub, int depth, list_t *out) {
  if (depth > 32 || out->total > 100000) return;
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s%s%s", root, *sub ? "/" : "", sub);
  DIR *d = opendir(p);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    out->total++;
    char r[1024], full[PATH_MAX];
    int w = snprintf(r, sizeof r, "%s%s%s", sub, *sub ? "/" : "", de->d_name);
    if (w < 0 || (size_t)w >= sizeof r) continue;
    snprintf(full, sizeof full, "%s/%s", root, r);
    struct stat st;
    if (lstat(full, &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) walk(root, r, depth + 1, out);
    else if (S_ISREG(st.st_mode) && ends_with(r, ".wasm") && out->n < KQ_ARRAY_LEN(out->items))
      snprintf(out->items[out->n++], sizeof out->items[0], "%s", r);
  }
  closedir(d);
}

static void list_str(const list_t *l, char *buf, size_t len) {
  size_t off = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < l->n && off < len; i++) {
    int w = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", l->items[i]);
    if (w < 0) break;
    off += (size_t)w;
  }
}

/* glue "pkg/hello.js" → "pkg/hello_bg.wasm"; else the single *_bg.wasm next to it. */
static bool bindgen_module_for(const char *root, const char *glue, char *mod, size_t len) {
  char base[1024];
  snprintf(base, sizeof base, "%s", glue);
  char *dot = strrchr(base, '.');
  char *slash = strrchr(base, '/');
  if (dot && (!slash || dot > slash)) *dot = '\0';
  snprintf(mod, len, "%s_bg.wasm", base);
  if (is_file(root, mod)) return true;
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", glue);
  slash = strrchr(dir, '/');
  if (slash) *slash = '\0'; else dir[0] = '\0';
  list_t l = {0};
  walk(root, dir, 31, &l);   /* depth 31: this folder only, no recursion beyond one level */
  const char *found = NULL;
  for (size_t i = 0; i < l.n; i++) {
    if (!ends_with(l.items[i], "_bg.wasm") || strchr(l.items[i] + strlen(dir) + (*dir ? 1 : 0), '/')) continue;
    if (found) return false;
    found = l.items[i];
  }
  if (!found) return false;
  snprintf(mod, len, "%s", found);
  return true;
}

/* pkg/package.json (or ./package.json): "module" then "main". */
static int try_package_json(const char *root, const char *dir, kq_oci_artefact_t *out) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s%s%s/package.json", root, *dir ? "/" : "", dir);
  char relp[1024];
  snprintf(relp, sizeof relp, "%s%spackage.json", dir, *dir ? "/" : "");
  if (!is_file(root, relp)) return KQ_ENOENT;
  FILE *f = fopen(p, "rb");
  if (!f) return KQ_ENOENT;
  char buf[65536];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  cJSON *o = cJSON_ParseWithLength(buf, n);
  int rc = KQ_ENOENT;
  const char *keys[] = {"module", "main", "browser"};
  for (size_t i = 0; i < KQ_ARRAY_LEN(keys) && rc != KQ_OK; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
    if (!cJSON_IsString(v) || !v->valuestring[0]) continue;
    char glue[1024];
    snprintf(glue, sizeof glue, "%s%s%s", dir, *dir ? "/" : "", rel(v->valuestring));
    char mod[1024];
    if (is_file(root, glue) && bindgen_module_for(root, glue, mod, sizeof mod)) {
      out->kind = KQ_OCI_KIND_BINDGEN;
      snprintf(out->glue, sizeof out->glue, "%s", glue);
      snprintf(out->module, sizeof out->module, "%s", mod);
      rc = KQ_OK;
    }
  }
  cJSON_Delete(o);
  return rc;
}

int kq_oci_detect_entry(const char *root, const kq_oci_config_t *cfg, const char *type_override,
                        const char *path_override, const char *ref_basename, kq_oci_artefact_t *out,
                        char *err, size_t errlen) {
  out->kind = KQ_OCI_KIND_NONE;
  out->module[0] = out->glue[0] = '\0';
  kq_oci_kind_t want = KQ_OCI_KIND_NONE;
  if (type_override && *type_override) {
    if (!strcasecmp(type_override, "wasi")) want = KQ_OCI_KIND_WASI;
    else if (!strcasecmp(type_override, "bindgen") || !strcasecmp(type_override, "wasm-bindgen")) want = KQ_OCI_KIND_BINDGEN;
    else { SETERR("annotation kuack.io/wasm-type=\"%.64s\" is not wasi or bindgen", type_override); return KQ_EINVAL; }
  }
  if (path_override && *path_override) {
    const char *pth = rel(path_override);
    if (!is_file(root, pth)) {
      SETERR("annotation kuack.io/wasm-path=\"%.200s\" is not a file in the image", path_override);
      return KQ_EINVAL;
    }
    bool js = ends_with(pth, ".js") || ends_with(pth, ".mjs");
    if (want == KQ_OCI_KIND_BINDGEN || (want == KQ_OCI_KIND_NONE && js)) {
      if (js) {
        char mod[1024];
        if (!bindgen_module_for(root, pth, mod, sizeof mod)) {
          SETERR("no *_bg.wasm next to glue \"%.200s\"", pth);
          return KQ_EINVAL;
        }
        snprintf(out->glue, sizeof out->glue, "%s", pth);
        snprintf(out->module, sizeof out->module, "%s", mod);
      } else {
        /* the module was named: glue is <x>.js for <x>_bg.wasm */
        char g[1024];
        snprintf(g, sizeof g, "%s", pth);
        size_t gl = strlen(g);
        if (gl > 8 && ends_with(g, "_bg.wasm")) snprintf(g + gl - 8, sizeof g - (gl - 8), ".js");
        if (!is_file(root, g)) {
          SETERR("no JS glue for bindgen module \"%.200s\"", pth);
          return KQ_EINVAL;
        }
        snprintf(out->glue, sizeof out->glue, "%s", g);
        snprintf(out->module, sizeof out->module, "%s", pth);
      }
      out->kind = KQ_OCI_KIND_BINDGEN;
    } else {
      out->kind = KQ_OCI_KIND_WASI;
      snprintf(out->module, sizeof out->module, "%s", pth);
    }
    return KQ_OK;
  }
  if (want != KQ_OCI_KIND_WASI) {
    if (try_package_json(root, "pkg", out) == KQ_OK || try_package_json(root, "", out) == KQ_OK) return KQ_OK;
    if (want == KQ_OCI_KIND_BINDGEN) {
      SETERR("kuack.io/wasm-type=bindgen but no package.json with main/module and its *_bg.wasm");
      return KQ_ENOENT;
    }
  }
  if (cfg) {
    const char *cand = cfg->nentrypoint ? cfg->entrypoint[0] : cfg->ncmd ? cfg->cmd[0] : NULL;
    if (cand && ends_with(cand, ".wasm") && is_file(root, rel(cand))) {
      out->kind = KQ_OCI_KIND_WASI;
      snprintf(out->module, sizeof out->module, "%s", rel(cand));
      return KQ_OK;
    }
  }
  list_t l = {0};
  walk(root, "", 0, &l);
  if (l.n == 1) {
    out->kind = KQ_OCI_KIND_WASI;
    snprintf(out->module, sizeof out->module, "%s", l.items[0]);
    return KQ_OK;
  }
  if (l.n == 0) {
    SETERR("no .wasm module in the image (and no pkg/package.json)");
    return KQ_ENOENT;
  }
  char named[300] = "";
  if (ref_basename && *ref_basename) snprintf(named, sizeof named, "%s.wasm", ref_basename);
  const char *names[] = {"output.wasm", "out.wasm", "main.wasm", named};
  for (size_t i = 0; i < KQ_ARRAY_LEN(names); i++) {
    if (names[i][0] && is_file(root, names[i])) {
      out->kind = KQ_OCI_KIND_WASI;
      snprintf(out->module, sizeof out->module, "%s", names[i]);
      return KQ_OK;
    }
  }
  char lst[600];
  list_str(&l, lst, sizeof lst);
  SETERR("ambiguous: %zu .wasm modules (%s); set the Pod annotation kuack.io/wasm-path", l.n, lst);
  return KQ_EBUSY;
}
