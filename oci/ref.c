/* Image reference grammar (distribution/reference): [domain/]path[:tag][@digest], with Docker's
 * defaults. Pure code, no allocation. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "kq_error.h"
#include "kq_oci_ref.h"

#define FAIL(...)                                  \
  do {                                             \
    if (err && errlen) snprintf(err, errlen, __VA_ARGS__); \
    return KQ_EINVAL;                              \
  } while (0)

static bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static bool is_hex_lower(char c) { return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9'); }

bool kq_oci_digest_valid(const char *d) {
  if (!d || strncmp(d, "sha256:", 7) != 0) return false;
  const char *h = d + 7;
  for (int i = 0; i < 64; i++)
    if (!is_hex_lower(h[i])) return false;
  return h[64] == '\0';
}

/* One path component: [a-z0-9]+ ((. | _ | __ | -+) [a-z0-9]+)* */
static bool valid_component(const char *s, size_t n) {
  if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1])) return false;
  size_t i = 0;
  while (i < n) {
    if (is_lower_alnum(s[i])) { i++; continue; }
    size_t j = i;
    while (j < n && !is_lower_alnum(s[j])) j++;
    size_t sep = j - i;
    bool ok = (sep == 1 && (s[i] == '.' || s[i] == '_' || s[i] == '-')) ||
              (sep == 2 && s[i] == '_' && s[i + 1] == '_');
    if (!ok) {
      ok = true;
      for (size_t k = i; k < j; k++) ok = ok && s[k] == '-';
    }
    if (!ok) return false;
    i = j;
  }
  return true;
}

static bool valid_domain(const char *s, size_t n) {
  if (n == 0) return false;
  size_t host_end = n;
  const char *colon = memchr(s, ':', n);
  if (colon) {
    host_end = (size_t)(colon - s);
    size_t plen = n - host_end - 1;
    if (plen == 0 || plen > 5) return false;
    for (size_t i = host_end + 1; i < n; i++)
      if (!isdigit((unsigned char)s[i])) return false;
  }
  if (host_end == 0) return false;
  for (size_t i = 0; i < host_end; i++) {
    char c = s[i];
    if (!(isalnum((unsigned char)c) || c == '.' || c == '-')) return false;
  }
  return s[0] != '-' && s[0] != '.' && s[host_end - 1] != '-' && s[host_end - 1] != '.';
}

static bool valid_tag(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 128) return false;
  if (!(isalnum((unsigned char)s[0]) || s[0] == '_')) return false;
  for (size_t i = 1; i < n; i++)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-')) return false;
  return true;
}

int kq_oci_ref_parse(const char *s, kq_oci_ref_t *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!s || !*s) FAIL("empty image reference");
  size_t total = strlen(s);
  if (total > 511) FAIL("image reference longer than 511 characters");
  for (size_t i = 0; i < total; i++)
    if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
      FAIL("image reference contains whitespace or non-ASCII characters");

  char name[512];
  memcpy(name, s, total + 1);
  char *at = strchr(name, '@');
  if (at) {
    *at = '\0';
    if (!kq_oci_digest_valid(at + 1))
      FAIL("invalid digest \"%s\" (want sha256:<64 lowercase hex>)", at + 1);
    snprintf(out->digest, sizeof out->digest, "%s", at + 1);
  }
  char *slash = strrchr(name, '/');
  char *colon = strrchr(name, ':');
  if (colon && (!slash || colon > slash)) {
    *colon = '\0';
    if (!valid_tag(colon + 1)) FAIL("invalid tag \"%s\"", colon + 1);
    snprintf(out->tag, sizeof out->tag, "%s", colon + 1);
  }
  if (!*name) FAIL("image reference has no repository name");

  const char *path = name;
  char *first = strchr(name, '/');
  if (first) {
    size_t dl = (size_t)(first - name);
    bool is_domain = memchr(name, '.', dl) || memchr(name, ':', dl) ||
                     (dl == 9 && memcmp(name, "localhost", 9) == 0);
    for (size_t i = 0; i < dl && !is_domain; i++)
      if (isupper((unsigned char)name[i])) is_domain = true;
    if (is_domain) {
      if (!valid_domain(name, dl)) FAIL("invalid registry host \"%.*s\"", (int)dl, name);
      snprintf(out->registry, sizeof out->registry, "%.*s", (int)dl, name);
      path = first + 1;
    }
  }
  if (!out->registry[0] || strcmp(out->registry, "index.docker.io") == 0 ||
      strcmp(out->registry, "registry-1.docker.io") == 0)
    snprintf(out->registry, sizeof out->registry, "docker.io");

  /* Validate path components. */
  const char *p = path;
  for (;;) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (!valid_component(p, n))
      FAIL("invalid repository name component \"%.*s\" (lowercase letters, digits and . _ - only)",
           (int)n, p);
    if (!e) break;
    p = e + 1;
  }
  bool library = strcmp(out->registry, "docker.io") == 0 && !strchr(path, '/');
  int w = snprintf(out->repo, sizeof out->repo, "%s%s", library ? "library/" : "", path);
  if (w < 0 || (size_t)w >= sizeof out->repo || strlen(out->registry) + 1 + (size_t)w > 255)
    FAIL("repository name longer than 255 characters");
  if (!out->tag[0] && !out->digest[0]) snprintf(out->tag, sizeof out->tag, "latest");
  return KQ_OK;
}

const char *kq_oci_ref_api_host(const kq_oci_ref_t *r) {
  return strcmp(r->registry, "docker.io") == 0 ? "registry-1.docker.io" : r->registry;
}

const char *kq_oci_ref_target(const kq_oci_ref_t *r) { return r->digest[0] ? r->digest : r->tag; }

int kq_oci_ref_format(const kq_oci_ref_t *r, char *buf, size_t len) {
  int w = snprintf(buf, len, "%s/%s%s%s%s%s", r->registry, r->repo, r->tag[0] ? ":" : "", r->tag,
                   r->digest[0] ? "@" : "", r->digest);
  return (w < 0 || (size_t)w >= len) ? KQ_ETOOBIG : KQ_OK;
}

const char *kq_oci_ref_basename(const kq_oci_ref_t *r) {
  const char *s = strrchr(r->repo, '/');
  return s ? s + 1 : r->repo;
}
