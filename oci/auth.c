/* WWW-Authenticate (RFC 7235 auth-params), token replies, config.json credentials. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_oci_auth.h"

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\t') p++;
  return p;
}

static bool is_token_char(char c) {
  return c && (isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int kq_oci_challenge_parse(const char *value, kq_oci_challenge_t *out) {
  memset(out, 0, sizeof *out);
  if (!value) return KQ_EPARSE;
  const char *p = skip_ws(value);
  const char *s = p;
  while (is_token_char(*p)) p++;
  size_t sl = (size_t)(p - s);
  if (sl == 5 && strncasecmp(s, "basic", 5) == 0) out->scheme = KQ_OCI_AUTH_BASIC;
  else if (sl == 6 && strncasecmp(s, "bearer", 6) == 0) out->scheme = KQ_OCI_AUTH_BEARER;
  else return sl ? KQ_ENOTSUP : KQ_EPARSE;
  if (*p && *p != ' ' && *p != '\t') return KQ_EPARSE;
  for (;;) {
    p = skip_ws(p);
    while (*p == ',') p = skip_ws(p + 1);
    if (!*p || *p == '\r' || *p == '\n') break;
    const char *k = p;
    while (is_token_char(*p)) p++;
    size_t kl = (size_t)(p - k);
    if (!kl) return KQ_EPARSE;
    p = skip_ws(p);
    if (*p != '=') return KQ_EPARSE;
    p = skip_ws(p + 1);
    char val[2048];
    size_t vl = 0;
    if (*p == '"') {
      p++;
      while (*p && *p != '"') {
        if (*p == '\\' && p[1]) p++;
        if (vl + 1 >= sizeof val) return KQ_EPARSE;
        val[vl++] = *p++;
      }
      if (*p != '"') return KQ_EPARSE;
      p++;
    } else {
      while (is_token_char(*p) || *p == '/' || *p == ':' || *p == '=') {
        if (vl + 1 >= sizeof val) return KQ_EPARSE;
        val[vl++] = *p++;
      }
    }
    val[vl] = '\0';
    char *dst = NULL;
    size_t dl = 0;
    if (kl == 5 && strncasecmp(k, "realm", 5) == 0) { dst = out->realm; dl = sizeof out->realm; }
    else if (kl == 7 && strncasecmp(k, "service", 7) == 0) { dst = out->service; dl = sizeof out->service; }
    else if (kl == 5 && strncasecmp(k, "scope", 5) == 0) { dst = out->scope; dl = sizeof out->scope; }
    else if (kl == 5 && strncasecmp(k, "error", 5) == 0) { dst = out->error; dl = sizeof out->error; }
    if (dst) {
      if (vl >= dl) return KQ_EPARSE;
      memcpy(dst, val, vl + 1);
    }
    p = skip_ws(p);
    if (*p && *p != ',' && *p != '\r' && *p != '\n') return KQ_EPARSE;
  }
  if (out->scheme == KQ_OCI_AUTH_BEARER) {
    if (!out->realm[0]) return KQ_EPARSE;
    if (strncasecmp(out->realm, "http://", 7) != 0 && strncasecmp(out->realm, "https://", 8) != 0)
      return KQ_EPARSE;
    for (const char *c = out->realm; *c; c++)
      if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f) return KQ_EPARSE;
  }
  return KQ_OK;
}

char *kq_oci_token_parse(const char *body, size_t len, int64_t *expires_in) {
  if (expires_in) *expires_in = 60;
  if (!body || !len || len > (1u << 20)) return NULL;
  cJSON *root = cJSON_ParseWithLength(body, len);
  char *tok = NULL;
  if (cJSON_IsObject(root)) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "token");
    if (!cJSON_IsString(t) || !t->valuestring[0]) t = cJSON_GetObjectItemCaseSensitive(root, "access_token");
    if (cJSON_IsString(t) && t->valuestring[0] && strlen(t->valuestring) < 65536) {
      bool clean = true;
      for (const char *c = t->valuestring; *c; c++)
        if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f) clean = false;
      if (clean) tok = kq_strdup(t->valuestring);
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
    if (expires_in && cJSON_IsNumber(e) && e->valuedouble >= 1 && e->valuedouble < 1e9)
      *expires_in = (int64_t)e->valuedouble;
  }
  cJSON_Delete(root);
  return tok;
}

typedef struct sbuf {
  char *p;
  size_t len, cap;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, bool escape) {
  for (; *s; s++) {
    if (b->len + 4 >= b->cap) {
      b->cap = b->cap * 2 + 64;
      b->p = kq_realloc(b->p, b->cap);
    }
    unsigned char c = (unsigned char)*s;
    if (!escape || isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':' || c == '/') {
      b->p[b->len++] = (char)c;
    } else {
      snprintf(b->p + b->len, 4, "%%%02X", c);
      b->len += 3;
    }
  }
  b->p[b->len] = '\0';
}

char *kq_oci_token_url(const kq_oci_challenge_t *c, const char *scope) {
  sbuf_t b = {0};
  sb_put(&b, c->realm, false);
  const char *sep = strchr(c->realm, '?') ? "&" : "?";
  if (c->service[0]) {
    sb_put(&b, sep, false);
    sb_put(&b, "service=", false);
    sb_put(&b, c->service, true);
    sep = "&";
  }
  const char *sc = (scope && *scope) ? scope : c->scope;
  if (sc && *sc) {
    sb_put(&b, sep, false);
    sb_put(&b, "scope=", false);
    sb_put(&b, sc, true);
  }
  return b.p;
}

void kq_oci_registry_key(const char *key, char *buf, size_t len) {
  const char *p = key;
  const char *sch = strstr(p, "://");
  if (sch) p = sch + 3;
  size_t n = strcspn(p, "/");
  snprintf(buf, len, "%.*s", (int)n, p);
  for (char *c = buf; *c; c++) *c = (char)tolower((unsigned char)*c);
  if (strcmp(buf, "index.docker.io") == 0 || strcmp(buf, "registry-1.docker.io") == 0 ||
      strcmp(buf, "registry.hub.docker.com") == 0)
    snprintf(buf, len, "docker.io");
}

static int creds_from_entry(const cJSON *e, kq_oci_creds_t *out) {
  if (!cJSON_IsObject(e)) return KQ_EPARSE;
  const cJSON *auth = cJSON_GetObjectItemCaseSensitive(e, "auth");
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(e, "username");
  const cJSON *pw = cJSON_GetObjectItemCaseSensitive(e, "password");
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(e, "identitytoken");
  if (cJSON_IsString(it) && strlen(it->valuestring) < sizeof out->identity_token)
    snprintf(out->identity_token, sizeof out->identity_token, "%s", it->valuestring);
  if (cJSON_IsString(auth) && auth->valuestring[0]) {
    size_t n = strlen(auth->valuestring);
    if (n > 4096) return KQ_EPARSE;
    unsigned char *dec = kq_malloc(n + 4);
    int dl = EVP_DecodeBlock(dec, (const unsigned char *)auth->valuestring, (int)n);
    if (dl < 0) { free(dec); return KQ_EPARSE; }
    /* EVP_DecodeBlock counts '=' padding as zero bytes; trim them. */
    while (dl > 0 && n > 0 && auth->valuestring[n - 1] == '=') { dl--; n--; }
    dec[dl] = '\0';
    char *colon = memchr(dec, ':', (size_t)dl);
    int rc = KQ_EPARSE;
    if (colon && (size_t)(colon - (char *)dec) < sizeof out->user &&
        strlen(colon + 1) < sizeof out->pass && memchr(dec, '\0', (size_t)dl) == NULL) {
      snprintf(out->user, sizeof out->user, "%.*s", (int)(colon - (char *)dec), (char *)dec);
      snprintf(out->pass, sizeof out->pass, "%s", colon + 1);
      rc = KQ_OK;
    }
    OPENSSL_cleanse(dec, n + 4);
    free(dec);
    return rc;
  }
  if (cJSON_IsString(u) && cJSON_IsString(pw) && strlen(u->valuestring) < sizeof out->user &&
      strlen(pw->valuestring) < sizeof out->pass) {
    snprintf(out->user, sizeof out->user, "%s", u->valuestring);
    snprintf(out->pass, sizeof out->pass, "%s", pw->valuestring);
    return KQ_OK;
  }
  return out->identity_token[0] ? KQ_OK : KQ_EPARSE;
}

int kq_oci_creds_lookup(const char *config_json, const char *registry, kq_oci_creds_t *out) {
  memset(out, 0, sizeof *out);
  if (!config_json || !registry) return KQ_ENOENT;
  cJSON *root = cJSON_Parse(config_json);
  if (!cJSON_IsObject(root)) { cJSON_Delete(root); return KQ_EPARSE; }
  const cJSON *auths = cJSON_GetObjectItemCaseSensitive(root, "auths");
  if (!cJSON_IsObject(auths)) auths = root;   /* legacy .dockercfg */
  char want[256];
  kq_oci_registry_key(registry, want, sizeof want);
  int rc = KQ_ENOENT;
  const cJSON *e;
  cJSON_ArrayForEach(e, auths) {
    if (!e->string) continue;
    char key[256];
    kq_oci_registry_key(e->string, key, sizeof key);
    if (strcmp(key, want) == 0) {
      rc = creds_from_entry(e, out);
      if (rc == KQ_OK) break;
    }
  }
  cJSON_Delete(root);
  return rc;
}

char *kq_oci_basic_header(const char *user, const char *pass) {
  char *plain = kq_asprintf("%s:%s", user ? user : "", pass ? pass : "");
  size_t n = strlen(plain);
  char *out = kq_malloc(6 + 4 * ((n + 2) / 3) + 1);
  memcpy(out, "Basic ", 6);
  EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)plain, (int)n);
  OPENSSL_cleanse(plain, n);
  free(plain);
  return out;
}
