/* Per-run artefact URLs: HMAC-SHA256 tokens, request-target parsing, safe file lookup. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_oci_digest.h"
#include "kq_proxy.h"

static const char hx[] = "0123456789abcdef";

void kq_proxy_key_init(kq_proxy_key_t *k, const void *secret, size_t len) {
  memset(k, 0, sizeof *k);
  if (len > sizeof k->secret) {
    unsigned int n = 0;
    EVP_Digest(secret, len, k->secret, &n, EVP_sha512(), NULL);
    k->len = n;
  } else {
    memcpy(k->secret, secret, len);
    k->len = len;
  }
  char d[72];
  kq_oci_sha256_hex(k->secret, k->len, d);
  memcpy(k->kid, d + 7, 8);
  k->kid[8] = '\0';
}

int kq_proxy_key_random(kq_proxy_key_t *k) {
  unsigned char s[32];
  if (RAND_bytes(s, sizeof s) != 1) return KQ_EIO;
  kq_proxy_key_init(k, s, sizeof s);
  OPENSSL_cleanse(s, sizeof s);
  return KQ_OK;
}

static bool run_id_ok(const char *r) {
  size_t n = r ? strlen(r) : 0;
  if (n == 0 || n > KQ_PROXY_RUN_MAX) return false;
  for (size_t i = 0; i < n; i++)
    if (!(isalnum((unsigned char)r[i]) || r[i] == '.' || r[i] == '_' || r[i] == '-')) return false;
  return true;
}

bool kq_proxy_path_ok(const char *f) {
  if (!f || !*f || *f == '/') return false;
  size_t n = strlen(f);
  if (n >= KQ_PROXY_FILE_MAX) return false;
  const char *seg = f;
  for (size_t i = 0; i <= n; i++) {
    char c = f[i];
    if (c == '/' || c == '\0') {
      size_t sl = (size_t)(f + i - seg);
      if (sl == 0) return false;
      if (sl == 1 && seg[0] == '.') return false;
      if (sl == 2 && seg[0] == '.' && seg[1] == '.') return false;
      seg = f + i + 1;
    } else if ((unsigned char)c < 0x20 || c == 0x7f || c == '\\') {
      return false;
    }
  }
  return true;
}

static void mac_hex(const kq_proxy_key_t *k, const char *run, const char *digest, int64_t exp,
                    char out[65]) {
  char msg[512];
  int n = snprintf(msg, sizeof msg, "kuack-artefact-v1\n%s\n%s\n%lld", run, digest, (long long)exp);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int ml = 0;
  HMAC(EVP_sha256(), k->secret, (int)k->len, (const unsigned char *)msg, (size_t)n, md, &ml);
  for (unsigned i = 0; i < 32; i++) {
    out[2 * i] = hx[md[i] >> 4];
    out[2 * i + 1] = hx[md[i] & 15];
  }
  out[64] = '\0';
}

static void url_escape_path(char *dst, size_t dl, const char *s) {
  size_t o = 0;
  for (; *s && o + 4 < dl; s++) {
    unsigned char c = (unsigned char)*s;
    if (isalnum(c) || strchr("-._~/", c)) dst[o++] = (char)c;
    else o += (size_t)snprintf(dst + o, dl - o, "%%%02X", c);
  }
  dst[o] = '\0';
}

char *kq_proxy_sign(const kq_proxy_key_t *k, const char *run_id, const char *digest,
                    const char *file, int64_t exp) {
  if (!run_id_ok(run_id) || !kq_oci_digest_valid(digest) || !kq_proxy_path_ok(file)) return NULL;
  char sig[65];
  mac_hex(k, run_id, digest, exp, sig);
  char esc[3 * KQ_PROXY_FILE_MAX + 1];
  url_escape_path(esc, sizeof esc, file);
  return kq_asprintf(KQ_PROXY_PREFIX "%s/%s?run=%s&exp=%lld&kid=%s&sig=%s", digest, esc, run_id,
                     (long long)exp, k->kid, sig);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes [s, s+n) into dst; false on bad escapes, NUL bytes or overflow. */
static bool pct_decode(const char *s, size_t n, char *dst, size_t dl) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= n) return false;
      int a = hexval(s[i + 1]), b = hexval(s[i + 2]);
      if (a < 0 || b < 0) return false;
      c = (char)(a * 16 + b);
      if (c == '\0') return false;
      i += 2;
    }
    if (o + 1 >= dl) return false;
    dst[o++] = c;
  }
  dst[o] = '\0';
  return true;
}

kq_proxy_verdict_t kq_proxy_verify(const kq_proxy_key_t *k, const char *target, int64_t now,
                                   kq_proxy_req_t *out) {
  memset(out, 0, sizeof *out);
  size_t pl = strlen(KQ_PROXY_PREFIX);
  if (!target || strncmp(target, KQ_PROXY_PREFIX, pl) != 0) return KQ_PROXY_MALFORMED;
  const char *p = target + pl;
  const char *q = strchr(p, '?');
  const char *path_end = q ? q : p + strlen(p);
  const char *slash = memchr(p, '/', (size_t)(path_end - p));
  if (!slash || (size_t)(slash - p) >= sizeof out->digest) return KQ_PROXY_MALFORMED;
  memcpy(out->digest, p, (size_t)(slash - p));
  out->digest[slash - p] = '\0';
  if (!kq_oci_digest_valid(out->digest)) return KQ_PROXY_MALFORMED;
  if (!pct_decode(slash + 1, (size_t)(path_end - slash - 1), out->file, sizeof out->file) ||
      !kq_proxy_path_ok(out->file))
    return KQ_PROXY_MALFORMED;
  bool have_exp = false;
  if (q) {
    const char *a = q + 1;
    while (*a) {
      const char *amp = strchr(a, '&');
      size_t len = amp ? (size_t)(amp - a) : strlen(a);
      const char *eq = memchr(a, '=', len);
      if (eq) {
        size_t kl = (size_t)(eq - a), vl = len - kl - 1;
        const char *v = eq + 1;
        char tmp[KQ_PROXY_RUN_MAX + 2];
        if (kl == 3 && strncmp(a, "run", 3) == 0) {
          if (!pct_decode(v, vl, out->run, sizeof out->run) || !run_id_ok(out->run)) return KQ_PROXY_MALFORMED;
        } else if (kl == 3 && strncmp(a, "exp", 3) == 0) {
          if (vl == 0 || vl > 18) return KQ_PROXY_MALFORMED;
          memcpy(tmp, v, vl);
          tmp[vl] = '\0';
          char *end;
          errno = 0;
          long long e = strtoll(tmp, &end, 10);
          if (*end || errno || e < 0) return KQ_PROXY_MALFORMED;
          out->exp = e;
          have_exp = true;
        } else if (kl == 3 && strncmp(a, "kid", 3) == 0) {
          if (vl != 8) return KQ_PROXY_MALFORMED;
          memcpy(out->kid, v, 8);
        } else if (kl == 3 && strncmp(a, "sig", 3) == 0) {
          if (vl != 64) return KQ_PROXY_MALFORMED;
          memcpy(out->sig, v, 64);
        }
      }
      if (!amp) break;
      a = amp + 1;
    }
  }
  if (!out->run[0] || !have_exp || !out->sig[0] || !out->kid[0]) return KQ_PROXY_MALFORMED;
  for (int i = 0; i < 64; i++)
    if (hexval(out->sig[i]) < 0) return KQ_PROXY_MALFORMED;
  if (CRYPTO_memcmp(out->kid, k->kid, 8) != 0) return KQ_PROXY_FOREIGN;
  if (out->exp < now) return KQ_PROXY_EXPIRED;
  char want[65], got[65];
  mac_hex(k, out->run, out->digest, out->exp, want);
  for (int i = 0; i < 64; i++) got[i] = (char)tolower((unsigned char)out->sig[i]);
  got[64] = '\0';
  return CRYPTO_memcmp(want, got, 64) == 0 ? KQ_PROXY_OK : KQ_PROXY_BAD_SIG;
}

const char *kq_proxy_verdict_str(kq_proxy_verdict_t v) {
  switch (v) {
    case KQ_PROXY_OK: return "ok";
    case KQ_PROXY_MALFORMED: return "malformed artefact URL";
    case KQ_PROXY_EXPIRED: return "token expired";
    case KQ_PROXY_FOREIGN: return "token from another node key";
    case KQ_PROXY_BAD_SIG: return "bad token signature";
  }
  return "?";
}

static bool ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcasecmp(s + a - b, suf) == 0;
}

const char *kq_proxy_mime(const char *f) {
  if (ends_with(f, ".wasm")) return "application/wasm";
  if (ends_with(f, ".js") || ends_with(f, ".mjs")) return "text/javascript";
  if (ends_with(f, ".json") || ends_with(f, ".map")) return "application/json";
  if (ends_with(f, ".ts")) return "text/plain";
  if (ends_with(f, ".html")) return "text/html";
  if (ends_with(f, ".txt")) return "text/plain";
  return "application/octet-stream";
}

int kq_proxy_resolve(kq_oci_store_t *store, const char *digest, const char *file, char *path_out,
                     size_t path_len, uint64_t *size_out, const char **mime_out) {
  if (!kq_oci_digest_valid(digest) || !kq_proxy_path_ok(file)) return KQ_EINVAL;
  char root[PATH_MAX];
  if (kq_oci_store_artefact_root(store, digest, root, sizeof root) != KQ_OK) return KQ_EINVAL;
  char real_root[PATH_MAX], joined[PATH_MAX], real[PATH_MAX];
  if (!realpath(root, real_root)) return KQ_ENOENT;
  int w = snprintf(joined, sizeof joined, "%s/%s", real_root, file);
  if (w < 0 || (size_t)w >= sizeof joined) return KQ_EINVAL;
  if (!realpath(joined, real)) return KQ_ENOENT;
  size_t rl = strlen(real_root);
  if (strncmp(real, real_root, rl) != 0 || real[rl] != '/') return KQ_ESECURITY;
  struct stat st;
  if (stat(real, &st) != 0) return KQ_ENOENT;
  if (!S_ISREG(st.st_mode)) return KQ_ESECURITY;
  if (strlen(real) >= path_len) return KQ_ETOOBIG;
  snprintf(path_out, path_len, "%s", real);
  if (size_out) *size_out = (uint64_t)st.st_size;
  if (mime_out) *mime_out = kq_proxy_mime(file);
  kq_oci_store_touch(store, digest);
  return KQ_OK;
}
