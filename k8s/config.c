/* kubeconfig and in-cluster configuration → base URL + TLS material + bearer token. The YAML is
 * read with the same libyaml→cJSON conversion as manifests; inline *-data fields are base64. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_k8s_config.h"
#include "kq_k8s_internal.h"

static int cfail(char **err, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cfail(char **err, int rc, const char *fmt, ...) {
  if (err) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    *err = kq_strdup(buf);
  }
  return rc;
}

/* Reads a whole (small) file; returns owned NUL-terminated text or NULL with errno. */
static char *read_file(const char *path, size_t *len, size_t max) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = kq_malloc(cap);
  for (;;) {
    if (n + 1 >= cap) {
      if (cap >= max) {
        free(buf);
        fclose(f);
        errno = EFBIG;
        return NULL;
      }
      cap *= 2;
      buf = kq_realloc(buf, cap);
    }
    size_t got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
    if (got == 0) break;
  }
  bool bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    errno = EIO;
    return NULL;
  }
  buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

static char *trim_dup(const char *s) {
  while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t')) n--;
  return kq_strndup(s, n);
}

static char *b64_decode(const char *in) {
  size_t n = strlen(in);
  char *clean = kq_malloc(n + 1);
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (in[i] != '\n' && in[i] != '\r' && in[i] != ' ') clean[m++] = in[i];
  clean[m] = '\0';
  if (m % 4) {
    free(clean);
    return NULL;
  }
  unsigned char *out = kq_malloc(m / 4 * 3 + 1);
  int got = EVP_DecodeBlock(out, (unsigned char *)clean, (int)m);
  if (got < 0) {
    free(clean);
    free(out);
    return NULL;
  }
  if (m >= 1 && clean[m - 1] == '=') got--;
  if (m >= 2 && clean[m - 2] == '=') got--;
  out[got] = '\0';
  free(clean);
  return (char *)out;
}

static char *resolve_path(const char *base_dir, const char *p) {
  if (!p) return NULL;
  if (p[0] == '/' || !base_dir || !base_dir[0]) return kq_strdup(p);
  return kq_asprintf("%s/%s", base_dir, p);
}

static const cJSON *named(const cJSON *root, const char *list, const char *inner, const char *name) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, list);
  const cJSON *e;
  if (!cJSON_IsArray(a) || !name) return NULL;
  cJSON_ArrayForEach(e, a) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
    if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, inner);
      return cJSON_IsObject(v) ? v : NULL;
    }
  }
  return NULL;
}

static const char *sget(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* `<field>-data` (base64) wins over `<field>` (a path). */
static int pem_field(const cJSON *o, const char *field, const char *base_dir, const char **pem_out_c,
                     const char **file_out_c, char **err) {
  char key[64];
  snprintf(key, sizeof(key), "%s-data", field);
  const char *data = sget(o, key);
  if (data) {
    char *pem = b64_decode(data);
    if (!pem) return cfail(err, KQ_EINVAL, "kubeconfig: %s is not valid base64", key);
    *pem_out_c = pem;
    return KQ_OK;
  }
  const char *file = sget(o, field);
  if (file) *file_out_c = resolve_path(base_dir, file);
  return KQ_OK;
}

void kq_k8s_config_clear(kq_k8s_config_t *c) {
  if (!c) return;
  free(c->server);
  free((char *)c->tls.ca_file);
  free((char *)c->tls.ca_pem);
  free((char *)c->tls.cert_file);
  free((char *)c->tls.key_file);
  free((char *)c->tls.cert_pem);
  free((char *)c->tls.key_pem);
  free(c->token);
  free(c->token_file);
  free(c->auth_header);
  free(c->namespace_);
  free(c->context);
  free(c->user);
  memset(c, 0, sizeof(*c));
}

static char *strip_slash(const char *s) {
  size_t n = strlen(s);
  while (n && s[n - 1] == '/') n--;
  return kq_strndup(s, n);
}

int kq_k8s_config_parse_kubeconfig(const char *yaml, size_t len, const char *base_dir,
                                   const char *context, kq_k8s_config_t *out, char **err) {
  memset(out, 0, sizeof(*out));
  if (err) *err = NULL;
  char *yerr = NULL;
  cJSON *root = kq_k8s_yaml_to_json(yaml, len, &yerr);
  if (!root) {
    int rc = cfail(err, KQ_EPARSE, "kubeconfig: %s", yerr ? yerr : "empty");
    free(yerr);
    return rc;
  }
  int rc = KQ_OK;
  const char *ctx_name = context && context[0] ? context : sget(root, "current-context");
  const cJSON *ctx = named(root, "contexts", "context", ctx_name);
  const cJSON *cluster, *user;
  const char *s;
  if (!ctx_name) {
    rc = cfail(err, KQ_ENOENT, "kubeconfig: no current-context and no --context given");
    goto done;
  }
  if (!ctx) {
    rc = cfail(err, KQ_ENOENT, "kubeconfig: context \"%s\" not found", ctx_name);
    goto done;
  }
  cluster = named(root, "clusters", "cluster", sget(ctx, "cluster"));
  if (!cluster) {
    rc = cfail(err, KQ_ENOENT, "kubeconfig: cluster \"%s\" of context \"%s\" not found",
               sget(ctx, "cluster") ? sget(ctx, "cluster") : "", ctx_name);
    goto done;
  }
  out->context = kq_strdup(ctx_name);
  out->namespace_ = kq_strdup(sget(ctx, "namespace"));
  if (!(s = sget(cluster, "server"))) {
    rc = cfail(err, KQ_EINVAL, "kubeconfig: cluster of context \"%s\" has no server", ctx_name);
    goto done;
  }
  if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0) {
    rc = cfail(err, KQ_EINVAL, "kubeconfig: server \"%s\" is not an http(s) URL", s);
    goto done;
  }
  out->server = strip_slash(s);
  const cJSON *skip = cJSON_GetObjectItemCaseSensitive(cluster, "insecure-skip-tls-verify");
  out->tls.insecure = cJSON_IsTrue(skip);
  if ((rc = pem_field(cluster, "certificate-authority", base_dir, &out->tls.ca_pem,
                      &out->tls.ca_file, err)))
    goto done;
  if (sget(ctx, "user")) {
    user = named(root, "users", "user", sget(ctx, "user"));
    if (!user) {
      rc = cfail(err, KQ_ENOENT, "kubeconfig: user \"%s\" of context \"%s\" not found",
                 sget(ctx, "user"), ctx_name);
      goto done;
    }
    out->user = kq_strdup(sget(ctx, "user"));
    if (cJSON_GetObjectItemCaseSensitive(user, "exec") ||
        cJSON_GetObjectItemCaseSensitive(user, "auth-provider")) {
      rc = cfail(err, KQ_ENOTSUP,
                 "kubeconfig: user \"%s\" uses an exec/auth-provider plugin, which kuack does not "
                 "run; use a token, token file or client certificate",
                 out->user);
      goto done;
    }
    if ((rc = pem_field(user, "client-certificate", base_dir, &out->tls.cert_pem,
                        &out->tls.cert_file, err)) ||
        (rc = pem_field(user, "client-key", base_dir, &out->tls.key_pem, &out->tls.key_file, err)))
      goto done;
    if (!!(out->tls.cert_pem || out->tls.cert_file) != !!(out->tls.key_pem || out->tls.key_file)) {
      rc = cfail(err, KQ_EINVAL, "kubeconfig: user \"%s\" has a client certificate without a key "
                                 "(or a key without a certificate)", out->user);
      goto done;
    }
    out->token = kq_strdup(sget(user, "token"));
    if (!out->token && sget(user, "tokenFile"))
      out->token_file = resolve_path(base_dir, sget(user, "tokenFile"));
    if (sget(user, "username") && !out->token && !out->tls.cert_pem && !out->tls.cert_file) {
      rc = cfail(err, KQ_ENOTSUP, "kubeconfig: basic auth (username/password) is not supported");
      goto done;
    }
  }
done:
  cJSON_Delete(root);
  if (rc) kq_k8s_config_clear(out);
  return rc;
}

int kq_k8s_config_load_kubeconfig(const char *path, const char *context, kq_k8s_config_t *out,
                                  char **err) {
  memset(out, 0, sizeof(*out));
  size_t len;
  char *text = read_file(path, &len, KQ_K8S_MAX_OBJECT_BYTES);
  if (!text)
    return cfail(err, errno == ENOENT ? KQ_ENOENT : KQ_EIO, "kubeconfig %s: %s", path,
                 strerror(errno));
  char *dir = kq_strdup(path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  else strcpy(dir, ".");
  int rc = kq_k8s_config_parse_kubeconfig(text, len, dir, context, out, err);
  free(dir);
  free(text);
  return rc;
}

static int read_token(kq_k8s_config_t *c) {
  char *t = read_file(c->token_file, NULL, 64 * 1024);
  if (!t) return KQ_EIO;
  char *tok = trim_dup(t);
  free(t);
  if (!tok[0]) {
    free(tok);
    return KQ_EINVAL;
  }
  free(c->token);
  c->token = tok;
  free(c->auth_header);
  c->auth_header = NULL;
  return KQ_OK;
}

int kq_k8s_config_in_cluster(const char *sa_dir, kq_k8s_config_t *out, char **err) {
  memset(out, 0, sizeof(*out));
  if (err) *err = NULL;
  if (!sa_dir) sa_dir = KQ_K8S_SA_DIR;
  const char *host = getenv("KUBERNETES_SERVICE_HOST");
  const char *port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !host[0] || !port || !port[0])
    return cfail(err, KQ_ENOENT, "in-cluster: KUBERNETES_SERVICE_HOST/PORT are not set");
  bool v6 = strchr(host, ':') != NULL;
  out->server = kq_asprintf("https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
  out->context = kq_strdup("in-cluster");
  out->token_file = kq_asprintf("%s/token", sa_dir);
  if (read_token(out) != KQ_OK) {
    int rc = cfail(err, KQ_ENOENT, "in-cluster: cannot read a token from %s", out->token_file);
    kq_k8s_config_clear(out);
    return rc;
  }
  char *ca = kq_asprintf("%s/ca.crt", sa_dir);
  FILE *f = fopen(ca, "r");
  if (!f) {
    int rc = cfail(err, KQ_ENOENT, "in-cluster: cannot read %s: %s", ca, strerror(errno));
    free(ca);
    kq_k8s_config_clear(out);
    return rc;
  }
  fclose(f);
  out->tls.ca_file = ca;
  char *nsf = kq_asprintf("%s/namespace", sa_dir);
  char *ns = read_file(nsf, NULL, 4096);
  free(nsf);
  if (ns) {
    out->namespace_ = trim_dup(ns);
    free(ns);
  }
  return KQ_OK;
}

int kq_k8s_config_auto(const char *kubeconfig, const char *context, kq_k8s_config_t *out,
                       char **err) {
  if (kubeconfig && kubeconfig[0]) return kq_k8s_config_load_kubeconfig(kubeconfig, context, out, err);
  const char *env = getenv("KUBECONFIG");
  if (env && env[0]) {
    char *first = kq_strdup(env);
    char *colon = strchr(first, ':');
    if (colon) *colon = '\0';
    int rc = kq_k8s_config_load_kubeconfig(first, context, out, err);
    free(first);
    return rc;
  }
  if (getenv("KUBERNETES_SERVICE_HOST")) return kq_k8s_config_in_cluster(NULL, out, err);
  const char *home = getenv("HOME");
  if (!home) return cfail(err, KQ_ENOENT, "no kubeconfig, not in a cluster and no $HOME");
  char *p = kq_asprintf("%s/.kube/config", home);
  int rc = kq_k8s_config_load_kubeconfig(p, context, out, err);
  free(p);
  return rc;
}

const char *kq_k8s_config_auth(kq_k8s_config_t *c, uint64_t now_ns) {
  if (c->token_file && (c->token_read_ns == 0 || now_ns - c->token_read_ns >= KQ_K8S_TOKEN_REFRESH_NS)) {
    (void)read_token(c); /* rotation: a failed read keeps the previous token */
    c->token_read_ns = now_ns ? now_ns : 1;
  }
  if (!c->token) return NULL;
  if (!c->auth_header) c->auth_header = kq_asprintf("Bearer %s", c->token);
  return c->auth_header;
}
