/* The msgpack cursor behind kq_proto_decode: reads headers straight from the frame bytes (no
 * msgpack_zone, so a hostile count cannot make us allocate), with sticky errors and limits. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "proto_internal.h"

void kq_rd_init(kq_rd_t *r, const void *buf, size_t len, const kq_proto_limits_t *lim,
                kq_proto_error_t *err) {
  memset(r, 0, sizeof *r);
  r->p = buf;
  r->end = r->p + len;
  kq_proto_limits_default(&r->lim);
  if (lim) {
#define KQ_LIM_(f) if (lim->f) r->lim.f = lim->f;
    KQ_LIM_(max_frame) KQ_LIM_(max_log_chunk) KQ_LIM_(max_str) KQ_LIM_(max_args)
    KQ_LIM_(max_env) KQ_LIM_(max_labels) KQ_LIM_(max_runs) KQ_LIM_(max_depth) KQ_LIM_(max_keys)
#undef KQ_LIM_
  }
  r->err = err;
  r->index = -1;
}

void kq_rd_fail(kq_rd_t *r, int rc, bool fatal, const char *fmt, ...) {
  if (r->rc) return;
  r->rc = rc;
  kq_proto_error_t *e = r->err;
  e->rc = rc;
  e->fatal = fatal;
  const char *code = rc == KQ_ETOOBIG  ? KQ_PROTO_ERR_TOO_BIG
                     : rc == KQ_ENOTSUP ? KQ_PROTO_ERR_UNKNOWN_TYPE
                                        : KQ_PROTO_ERR_BAD_MESSAGE;
  snprintf(e->code, sizeof e->code, "%s", code);
  int off = 0;
  if (r->pathlen || r->field) {
    char idx[24] = "";
    if (r->index >= 0) snprintf(idx, sizeof idx, "[%lld]", (long long)r->index);
    off = snprintf(e->message, sizeof e->message, "%s%s%s%s: ", r->path,
                   r->pathlen && r->field ? "." : "", r->field ? r->field : "", idx);
    if (off < 0 || (size_t)off >= sizeof e->message) off = 0;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->message + off, sizeof e->message - (size_t)off, fmt, ap);
  va_end(ap);
}

void kq_rd_push(kq_rd_t *r, const char *seg) {
  size_t n = strlen(seg);
  if (r->pathlen + n + 2 >= sizeof r->path) return; /* our paths are short; never happens */
  if (r->pathlen) r->path[r->pathlen++] = '.';
  memcpy(r->path + r->pathlen, seg, n + 1);
  r->pathlen += n;
  r->field = NULL;
  r->index = -1;
}

void kq_rd_pop(kq_rd_t *r, size_t saved) {
  r->pathlen = saved;
  r->path[saved] = '\0';
  r->field = NULL;
  r->index = -1;
}

static bool need(kq_rd_t *r, size_t n) {
  if ((size_t)(r->end - r->p) >= n) return true;
  kq_rd_fail(r, KQ_EPROTO, true, "truncated frame");
  return false;
}

static uint64_t be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

/* Reads an n-byte big-endian length/value after the head byte. */
static bool take(kq_rd_t *r, int n, uint64_t *v) {
  if (!need(r, (size_t)n)) return false;
  *v = be(r->p, n);
  r->p += n;
  return true;
}

static bool payload(kq_rd_t *r, kq_rd_tok_t *t, uint64_t len) {
  if (!need(r, len)) return false;
  t->ptr = r->p;
  t->len = (uint32_t)len;
  r->p += len;
  return true;
}

bool kq_rd_next(kq_rd_t *r, kq_rd_tok_t *t) {
  memset(t, 0, sizeof *t);
  if (r->rc || !need(r, 1)) return false;
  uint8_t h = *r->p++;
  uint64_t v = 0;
  if (h <= 0x7f) {
    t->kind = KQ_RD_UINT, t->u = h;
  } else if (h >= 0xe0) {
    t->kind = KQ_RD_NINT, t->i = (int8_t)h;
  } else if (h >= 0x80 && h <= 0x8f) {
    t->kind = KQ_RD_MAP, t->len = h & 0x0f;
  } else if (h >= 0x90 && h <= 0x9f) {
    t->kind = KQ_RD_ARRAY, t->len = h & 0x0f;
  } else if (h >= 0xa0 && h <= 0xbf) {
    t->kind = KQ_RD_STR;
    return payload(r, t, h & 0x1f);
  } else {
    switch (h) {
    case 0xc0: t->kind = KQ_RD_NIL; break;
    case 0xc2: case 0xc3: t->kind = KQ_RD_BOOL, t->b = h == 0xc3; break;
    case 0xc4: case 0xc5: case 0xc6:
      t->kind = KQ_RD_BIN;
      return take(r, 1 << (h - 0xc4), &v) && payload(r, t, v);
    case 0xd9: case 0xda: case 0xdb:
      t->kind = KQ_RD_STR;
      return take(r, 1 << (h - 0xd9), &v) && payload(r, t, v);
    case 0xc7: case 0xc8: case 0xc9: /* ext 8/16/32: length, type byte, data */
      t->kind = KQ_RD_EXT;
      return take(r, 1 << (h - 0xc7), &v) && need(r, 1) && (r->p++, payload(r, t, v));
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: /* fixext 1..16 */
      t->kind = KQ_RD_EXT;
      return need(r, 1) && (r->p++, payload(r, t, 1u << (h - 0xd4)));
    case 0xca:
      if (!take(r, 4, &v)) return false;
      {
        uint32_t w = (uint32_t)v;
        float f;
        memcpy(&f, &w, 4);
        t->kind = KQ_RD_FLOAT, t->f = f;
      }
      break;
    case 0xcb:
      if (!take(r, 8, &v)) return false;
      memcpy(&t->f, &v, 8);
      t->kind = KQ_RD_FLOAT;
      break;
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
      if (!take(r, 1 << (h - 0xcc), &t->u)) return false;
      t->kind = KQ_RD_UINT;
      break;
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
      int n = 1 << (h - 0xd0);
      if (!take(r, n, &v)) return false;
      int64_t s = n == 8 ? (int64_t)v : (int64_t)(v << (64 - 8 * n)) >> (64 - 8 * n);
      if (s >= 0) t->kind = KQ_RD_UINT, t->u = (uint64_t)s;
      else t->kind = KQ_RD_NINT, t->i = s;
      break;
    }
    case 0xdc: case 0xdd:
      if (!take(r, h == 0xdc ? 2 : 4, &v)) return false;
      t->kind = KQ_RD_ARRAY, t->len = (uint32_t)v;
      break;
    case 0xde: case 0xdf:
      if (!take(r, h == 0xde ? 2 : 4, &v)) return false;
      t->kind = KQ_RD_MAP, t->len = (uint32_t)v;
      break;
    default: /* 0xc1 is never used */
      kq_rd_fail(r, KQ_EPROTO, true, "invalid msgpack byte 0x%02x", h);
      return false;
    }
  }
  /* Each entry takes at least one byte: a count beyond what is left is a truncated frame,
   * caught here before anyone sizes an allocation by it. */
  if (t->kind == KQ_RD_ARRAY || t->kind == KQ_RD_MAP) {
    uint64_t min = (uint64_t)t->len * (t->kind == KQ_RD_MAP ? 2 : 1);
    if (min > (uint64_t)(r->end - r->p)) {
      kq_rd_fail(r, KQ_EPROTO, true, "truncated frame (%u entries announced)", t->len);
      return false;
    }
  }
  return true;
}

void kq_rd_skip(kq_rd_t *r, uint32_t depth) {
  kq_rd_tok_t t;
  if (depth > r->lim.max_depth) {
    kq_rd_fail(r, KQ_ETOOBIG, true, "nesting deeper than %u", r->lim.max_depth);
    return;
  }
  if (!kq_rd_next(r, &t)) return;
  if (t.kind == KQ_RD_MAP && t.len > r->lim.max_keys) {
    kq_rd_fail(r, KQ_ETOOBIG, false, "map with %u entries (max %u)", t.len, r->lim.max_keys);
    return;
  }
  uint64_t n = t.kind == KQ_RD_ARRAY ? t.len : t.kind == KQ_RD_MAP ? 2ull * t.len : 0;
  for (uint64_t i = 0; i < n && !r->rc; i++) kq_rd_skip(r, depth + 1);
}

bool kq_rd_nil(kq_rd_t *r) {
  if (r->rc || r->p >= r->end || *r->p != 0xc0) return false;
  r->p++;
  return true;
}

static const char *kind_name(kq_rd_kind_t k) {
  static const char *const names[] = {"?", "nil", "bool", "uint", "negative int", "float",
                                      "str", "bin", "array", "map", "ext"};
  return (unsigned)k < KQ_ARRAY_LEN(names) ? names[k] : "?";
}

/* Reads a token of the wanted kind. On a mismatch the cursor is left wherever it is: the error
 * is sticky, so nothing reads further. */
static bool expect(kq_rd_t *r, kq_rd_kind_t want, const char *what, kq_rd_tok_t *t) {
  if (!kq_rd_next(r, t)) return false;
  if (t->kind == want) return true;
  kq_rd_fail(r, KQ_EPROTO, false, "expected %s, got %s", what, kind_name(t->kind));
  return false;
}

bool kq_proto_utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c == 0) return false;
    if (c < 0x80) {
      i++;
      continue;
    }
    int len;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) len = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0) len = 3, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0) len = 4, cp = c & 0x07, min = 0x10000;
    else return false;
    if (n - i < (size_t)len) return false;
    for (int k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += (size_t)len;
  }
  return true;
}

char *kq_rd_str(kq_rd_t *r) {
  kq_rd_tok_t t;
  if (!expect(r, KQ_RD_STR, "str", &t)) return NULL;
  if (t.len > r->lim.max_str) {
    kq_rd_fail(r, KQ_ETOOBIG, false, "string of %u bytes (max %u)", t.len, r->lim.max_str);
    return NULL;
  }
  if (!kq_proto_utf8_valid(t.ptr, t.len)) {
    kq_rd_fail(r, KQ_EPROTO, false, "string is not valid UTF-8 or contains NUL");
    return NULL;
  }
  return kq_strndup((const char *)t.ptr, t.len);
}

uint64_t kq_rd_uint(kq_rd_t *r, uint64_t max) {
  kq_rd_tok_t t;
  if (!kq_rd_next(r, &t)) return 0;
  if (t.kind != KQ_RD_UINT) {
    kq_rd_fail(r, KQ_EPROTO, false, "expected non-negative integer, got %s", kind_name(t.kind));
    return 0;
  }
  if (t.u > max) {
    kq_rd_fail(r, KQ_EPROTO, false, "%llu out of range (max %llu)", (unsigned long long)t.u,
               (unsigned long long)max);
    return 0;
  }
  return t.u;
}

int64_t kq_rd_int(kq_rd_t *r, int64_t min, int64_t max) {
  kq_rd_tok_t t;
  if (!kq_rd_next(r, &t)) return 0;
  int64_t v;
  if (t.kind == KQ_RD_NINT) {
    v = t.i;
  } else if (t.kind == KQ_RD_UINT && t.u <= (uint64_t)INT64_MAX) {
    v = (int64_t)t.u;
  } else if (t.kind == KQ_RD_UINT) {
    v = INT64_MAX, min = max = 0; /* forces the range error below */
  } else {
    kq_rd_fail(r, KQ_EPROTO, false, "expected integer, got %s", kind_name(t.kind));
    return 0;
  }
  if (v < min || v > max) {
    kq_rd_fail(r, KQ_EPROTO, false, "integer out of range");
    return 0;
  }
  return v;
}

double kq_rd_unit(kq_rd_t *r) {
  kq_rd_tok_t t;
  if (!kq_rd_next(r, &t)) return 0;
  double v;
  if (t.kind == KQ_RD_FLOAT) v = t.f;
  else if (t.kind == KQ_RD_UINT) v = t.u > 1 ? 2.0 : (double)t.u;
  else if (t.kind == KQ_RD_NINT) v = -1.0;
  else {
    kq_rd_fail(r, KQ_EPROTO, false, "expected float, got %s", kind_name(t.kind));
    return 0;
  }
  if (!(v >= 0.0 && v <= 1.0)) { /* also catches NaN */
    kq_rd_fail(r, KQ_EPROTO, false, "expected a number within 0..1");
    return 0;
  }
  return v;
}

bool kq_rd_bool(kq_rd_t *r) {
  kq_rd_tok_t t;
  return expect(r, KQ_RD_BOOL, "bool", &t) && t.b;
}

uint8_t *kq_rd_bin(kq_rd_t *r, uint32_t max, uint32_t *len) {
  kq_rd_tok_t t;
  *len = 0;
  if (!expect(r, KQ_RD_BIN, "bin", &t)) return NULL;
  if (t.len > max) {
    kq_rd_fail(r, KQ_ETOOBIG, false, "%u bytes (max %u)", t.len, max);
    return NULL;
  }
  *len = t.len;
  return t.len ? kq_memdup(t.ptr, t.len) : NULL;
}

static bool container(kq_rd_t *r, kq_rd_kind_t kind, uint32_t max, uint32_t *n) {
  kq_rd_tok_t t;
  *n = 0;
  if (!expect(r, kind, kind_name(kind), &t)) return false;
  if (t.len > max) {
    kq_rd_fail(r, KQ_ETOOBIG, false, "%u entries (max %u)", t.len, max);
    return false;
  }
  *n = t.len;
  return true;
}

bool kq_rd_array(kq_rd_t *r, uint32_t max, uint32_t *n) {
  return container(r, KQ_RD_ARRAY, max, n);
}

bool kq_rd_map(kq_rd_t *r, uint32_t max, uint32_t *n) {
  return container(r, KQ_RD_MAP, max < r->lim.max_keys ? max : r->lim.max_keys, n);
}

int kq_rd_key(kq_rd_t *r, const char *const *keys, int nkeys, uint32_t *seen, uint32_t *have) {
  kq_rd_tok_t t;
  r->field = NULL;
  r->index = -1;
  if (!kq_rd_next(r, &t)) return -1;
  if (t.kind != KQ_RD_STR) {
    kq_rd_fail(r, KQ_EPROTO, false, "map key is %s, expected str", kind_name(t.kind));
    return -1;
  }
  for (int i = 0; i < nkeys; i++) {
    if (strlen(keys[i]) != t.len || memcmp(keys[i], t.ptr, t.len) != 0) continue;
    r->field = keys[i];
    if (*seen & (1u << i)) {
      kq_rd_fail(r, KQ_EPROTO, false, "duplicate key");
      return -1;
    }
    *seen |= 1u << i;
    if (kq_rd_nil(r)) return -1;
    *have |= 1u << i;
    return i;
  }
  kq_rd_skip(r, 1); /* unknown key: ignored, whatever its value */
  return -1;
}

void kq_rd_require(kq_rd_t *r, const char *const *keys, int nkeys, uint32_t required,
                   uint32_t have) {
  for (int i = 0; i < nkeys && !r->rc; i++) {
    if ((required & (1u << i)) && !(have & (1u << i))) {
      r->field = keys[i];
      r->index = -1;
      kq_rd_fail(r, KQ_EPROTO, false, "required field missing");
    }
  }
}
