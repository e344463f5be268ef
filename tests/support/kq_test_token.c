/* Test token server (see kq_test_token.h): an RSA key and a self-signed certificate made with
 * OpenSSL at start, JWTs assembled by hand (base64url JSON header and claims, RS256 signature
 * over "header.claims"), served from a /token route on the evhttp test server. */
#include "kq_test_token.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>  /* before keyvalq_struct.h, which uses TAILQ */
#include <event2/keyvalq_struct.h>
#include <time.h>
#include <unistd.h>

#include "kq_alloc.h"
#include "kq_test_http.h"

#define TT_SERVICE "kuack-test-registry"
#define TT_ISSUER "kuack-test-issuer"

struct kq_test_token {
  kq_test_http_t *http;
  EVP_PKEY *key;
  X509 *cert;
  char *cert_b64;          /* DER, standard base64 (x5c) */
  char dir[64];
  char cert_file[128];
  char realm[128];
  char *user, *pass;
  int64_t expires_in;
  size_t requests, granted, refused;
  uint64_t seq;
};

static void die(const char *what) {
  fprintf(stderr, "kq_test_token: %s failed\n", what);
  ERR_print_errors_fp(stderr);
  abort();
}

static char *b64(const unsigned char *data, size_t n, bool url) {
  char *out = kq_malloc(4 * ((n + 2) / 3) + 1);
  int len = EVP_EncodeBlock((unsigned char *)out, data, (int)n);
  if (url) {
    while (len > 0 && out[len - 1] == '=') len--;
    out[len] = '\0';
    for (char *c = out; *c; c++) *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
  }
  return out;
}

static X509 *self_signed(EVP_PKEY *key) {
  X509 *x = X509_new();
  if (!x) die("X509_new");
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 2L * 86400);
  X509_set_pubkey(x, key);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"kuack test token signer", -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
  if (!ext || !X509_add_ext(x, ext, -1)) die("X509_add_ext");
  X509_EXTENSION_free(ext);
  ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,digitalSignature,keyCertSign");
  if (!ext || !X509_add_ext(x, ext, -1)) die("X509_add_ext");
  X509_EXTENSION_free(ext);
  if (!X509_sign(x, key, EVP_sha256())) die("X509_sign");
  return x;
}

/* "Basic base64(user:pass)" → 1 match, 0 mismatch, -1 absent. */
static int check_basic(const kq_test_token_t *t, const char *authz, char *user, size_t ulen) {
  if (!authz) return -1;
  if (strncasecmp(authz, "Basic ", 6) != 0) return 0;
  const char *enc = authz + 6;
  size_t n = strlen(enc);
  if (n == 0 || n > 2048) return 0;
  unsigned char *dec = kq_malloc(n + 4);
  int dl = EVP_DecodeBlock(dec, (const unsigned char *)enc, (int)n);
  while (dl > 0 && n > 0 && enc[n - 1] == '=') { dl--; n--; }
  int ok = 0;
  if (dl > 0) {
    dec[dl] = '\0';
    char *colon = strchr((char *)dec, ':');
    if (colon) {
      *colon = '\0';
      snprintf(user, ulen, "%s", (char *)dec);
      ok = strcmp((char *)dec, t->user) == 0 && strcmp(colon + 1, t->pass) == 0;
    }
  }
  free(dec);
  return ok;
}

/* Growable string for the JSON we emit (no JSON library in the test support target). */
typedef struct sb {
  char *p;
  size_t len, cap;
} sb_t;

static void sb_add(sb_t *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->p = kq_realloc(b->p, b->cap);
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}
static void sb_str(sb_t *b, const char *s) { sb_add(b, s, strlen(s)); }
/* A JSON string literal, escaped. */
static void sb_json(sb_t *b, const char *s, size_t n) {
  sb_add(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      sb_add(b, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      sb_str(b, esc);
    } else {
      sb_add(b, (const char *)&c, 1);
    }
  }
  sb_add(b, "\"", 1);
}

/* Appends {"type","name","actions"} for one "TYPE:NAME:a,b" scope; only pull/push granted. */
static void add_access(sb_t *b, bool *first_item, const char *scope) {
  const char *first = strchr(scope, ':');
  const char *last = strrchr(scope, ':');
  if (!first || last == first) return;
  sb_str(b, *first_item ? "{\"type\":" : ",{\"type\":");
  *first_item = false;
  sb_json(b, scope, (size_t)(first - scope));
  sb_str(b, ",\"name\":");
  sb_json(b, first + 1, (size_t)(last - first - 1));
  sb_str(b, ",\"actions\":[");
  char buf[128];
  snprintf(buf, sizeof buf, "%s", last + 1);
  bool first_act = true;
  for (char *save = NULL, *a = strtok_r(buf, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
    if (strcmp(a, "pull") != 0 && strcmp(a, "push") != 0) continue;
    sb_str(b, first_act ? "\"" : ",\"");
    sb_str(b, a);
    sb_str(b, "\"");
    first_act = false;
  }
  sb_str(b, "]}");
}

/* `access` is the JSON array text of the access claim. */
static char *sign_jwt(kq_test_token_t *t, const char *sub, const char *access) {
  char *hj = kq_asprintf("{\"typ\":\"JWT\",\"alg\":\"RS256\",\"x5c\":[\"%s\"]}", t->cert_b64);
  int64_t now = (int64_t)time(NULL);
  unsigned char rnd[4];
  RAND_bytes(rnd, sizeof rnd);
  sb_t c = {0};
  char num[200];
  sb_str(&c, "{\"iss\":\"" TT_ISSUER "\",\"sub\":");
  sb_json(&c, sub, strlen(sub));
  snprintf(num, sizeof num,
           ",\"aud\":\"" TT_SERVICE "\",\"exp\":%lld,\"nbf\":%lld,\"iat\":%lld,\"jti\":\"kq-%llu-%02x%02x%02x%02x\",\"access\":",
           (long long)(now + t->expires_in), (long long)(now - 10), (long long)now, (unsigned long long)++t->seq,
           rnd[0], rnd[1], rnd[2], rnd[3]);
  sb_str(&c, num);
  sb_str(&c, access);
  sb_str(&c, "}");
  char *he = b64((unsigned char *)hj, strlen(hj), true), *ce = b64((unsigned char *)c.p, c.len, true);
  free(hj);
  free(c.p);
  char *input = kq_asprintf("%s.%s", he, ce);
  free(he);
  free(ce);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  size_t slen = 0;
  if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, t->key) != 1 ||
      EVP_DigestSign(md, NULL, &slen, (unsigned char *)input, strlen(input)) != 1)
    die("EVP_DigestSign");
  unsigned char *sig = kq_malloc(slen);
  if (EVP_DigestSign(md, sig, &slen, (unsigned char *)input, strlen(input)) != 1) die("EVP_DigestSign");
  EVP_MD_CTX_free(md);
  char *se = b64(sig, slen, true);
  free(sig);
  char *jwt = kq_asprintf("%s.%s", input, se);
  free(input);
  free(se);
  return jwt;
}

static void reply_json(struct evhttp_request *req, int code, const char *json) {
  struct evbuffer *b = evbuffer_new();
  evbuffer_add(b, json, strlen(json));
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
  evhttp_send_reply(req, code, NULL, b);
  evbuffer_free(b);
}

static void route_token(struct evhttp_request *req, void *ud) {
  kq_test_token_t *t = ud;
  t->requests++;
  const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
  struct evkeyvalq kv;
  TAILQ_INIT(&kv);
  if (q) evhttp_parse_query_str(q, &kv);
  const char *svc = evhttp_find_header(&kv, "service");
  char user[256] = "";
  int cred = check_basic(t, evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization"), user,
                         sizeof user);
  if (cred == 0 || (svc && strcmp(svc, TT_SERVICE) != 0)) {
    t->refused++;
    evhttp_clear_headers(&kv);
    evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Basic realm=\"kuack-test-token\"");
    reply_json(req, 401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}");
    return;
  }
  sb_t access = {0};
  sb_str(&access, "[");
  bool first = true;
  if (cred == 1) {
    struct evkeyval *e;
    TAILQ_FOREACH(e, &kv, next)
      if (strcmp(e->key, "scope") == 0) add_access(&access, &first, e->value);
    if (!first) t->granted++;
  }
  sb_str(&access, "]");
  evhttp_clear_headers(&kv);
  char *jwt = sign_jwt(t, cred == 1 ? user : "", access.p);
  free(access.p);
  char issued[40];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(issued, sizeof issued, "%Y-%m-%dT%H:%M:%SZ", &tm);
  char *body = kq_asprintf("{\"token\":\"%s\",\"access_token\":\"%s\",\"expires_in\":%lld,\"issued_at\":\"%s\"}",
                           jwt, jwt, (long long)t->expires_in, issued);
  reply_json(req, 200, body);
  free(body);
  free(jwt);
}

kq_test_token_t *kq_test_token_new(struct event_base *base, const kq_test_token_opts_t *opts) {
  if (!opts || !opts->user || !opts->pass) die("options (user/pass)");
  kq_test_token_t *t = KQ_NEW(kq_test_token_t);
  t->user = kq_strdup(opts->user);
  t->pass = kq_strdup(opts->pass);
  t->expires_in = opts->expires_in > 0 ? opts->expires_in : 300;
  t->key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  if (!t->key) die("RSA keygen");
  t->cert = self_signed(t->key);
  unsigned char *der = NULL;
  int dl = i2d_X509(t->cert, &der);
  if (dl <= 0) die("i2d_X509");
  t->cert_b64 = b64(der, (size_t)dl, false);
  OPENSSL_free(der);
  snprintf(t->dir, sizeof t->dir, "/tmp/kq-token.XXXXXX");
  if (!mkdtemp(t->dir)) die("mkdtemp");
  snprintf(t->cert_file, sizeof t->cert_file, "%s/signer.pem", t->dir);
  FILE *f = fopen(t->cert_file, "w");
  if (!f || !PEM_write_X509(f, t->cert)) die("write cert");
  fclose(f);
  t->http = kq_test_http_new(base, NULL, false);
  kq_test_http_route(t->http, "/token", route_token, t);
  snprintf(t->realm, sizeof t->realm, "http://127.0.0.1:%u/token", (unsigned)kq_test_http_port(t->http));
  return t;
}

void kq_test_token_free(kq_test_token_t *t) {
  if (!t) return;
  kq_test_http_free(t->http);
  unlink(t->cert_file);
  rmdir(t->dir);
  X509_free(t->cert);
  EVP_PKEY_free(t->key);
  free(t->cert_b64);
  free(t->user);
  free(t->pass);
  free(t);
}

const char *kq_test_token_realm(const kq_test_token_t *t) { return t->realm; }
const char *kq_test_token_service(const kq_test_token_t *t) { (void)t; return TT_SERVICE; }
const char *kq_test_token_issuer(const kq_test_token_t *t) { (void)t; return TT_ISSUER; }
const char *kq_test_token_cert_file(const kq_test_token_t *t) { return t->cert_file; }
size_t kq_test_token_requests(const kq_test_token_t *t) { return t->requests; }
size_t kq_test_token_granted(const kq_test_token_t *t) { return t->granted; }
size_t kq_test_token_refused(const kq_test_token_t *t) { return t->refused; }
void kq_test_token_set_expires_in(kq_test_token_t *t, int64_t s) { t->expires_in = s > 0 ? s : 300; }
