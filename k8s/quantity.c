/* resource.Quantity parsing: "<sign><digits>[.<digits>]<suffix>" where the suffix is a binary SI
 * (Ki..Ei), decimal SI (m, "", k, M..E) or a decimal exponent (e3, E-2). Values are rounded up
 * like Quantity.Value()/MilliValue(); negatives and anything beyond int64 are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_k8s_types.h"

#define SIG_DIGITS 19 /* mantissa digits kept (fits uint64; x 2^60 still fits u128) */

typedef unsigned __int128 u128;

static int qfail(char **err, const char *s, const char *why) {
  if (err) {
    char shown[48];
    size_t n = strlen(s);
    snprintf(shown, sizeof(shown), "%.*s%s", (int)(n > 40 ? 40 : n), s, n > 40 ? "..." : "");
    *err = kq_asprintf("invalid quantity \"%s\": %s", shown, why);
  }
  return KQ_EINVAL;
}

static int parse(const char *s, int extra_exp10, int64_t *out, char **err) {
  if (err) *err = NULL;
  if (!s || !*s) return qfail(err, s ? s : "", "empty");
  const char *p = s;
  if (*p == '-') return qfail(err, s, "negative values are not allowed");
  if (*p == '+') p++;
  uint64_t m = 0;
  int ndig = 0, exp10 = 0, seen = 0;
  bool inexact = false;
  for (; *p >= '0' && *p <= '9'; p++, seen++) {
    if (m == 0 && *p == '0') continue;
    if (ndig < SIG_DIGITS) {
      m = m * 10 + (uint64_t)(*p - '0');
      ndig++;
    } else {
      exp10++; /* integer digit dropped: magnitude only (will overflow anyway) */
      if (*p != '0') inexact = true;
    }
  }
  if (*p == '.') {
    p++;
    for (; *p >= '0' && *p <= '9'; p++, seen++) {
      if (m == 0 && *p == '0') {
        exp10--; /* leading fraction zero: scale only */
      } else if (ndig < SIG_DIGITS) {
        m = m * 10 + (uint64_t)(*p - '0');
        ndig++;
        exp10--;
      } else if (*p != '0') {
        inexact = true;
      }
    }
  }
  if (!seen) return qfail(err, s, "no digits");
  if (exp10 < -10000) exp10 = -10000;
  int bin = 0;
  const char *suf = p;
  if ((*p == 'e' || *p == 'E') && p[1] != 'i') {
    /* decimal exponent, unless it is the SI suffix "E" (exa) standing alone */
    if (p[1] == '\0' && *p == 'E') {
      exp10 += 18;
      p++;
    } else {
      p++;
      int sign = 1;
      if (*p == '+' || *p == '-') sign = (*p++ == '-') ? -1 : 1;
      if (!(*p >= '0' && *p <= '9')) return qfail(err, s, "bad exponent");
      long e = 0;
      for (; *p >= '0' && *p <= '9'; p++)
        if (e < 100000) e = e * 10 + (*p - '0');
      exp10 += (int)(sign * e);
    }
  } else if (*p) {
    static const struct { const char *suf; int e10, e2; } tab[] = {
        {"m", -3, 0}, {"k", 3, 0},   {"M", 6, 0},   {"G", 9, 0},   {"T", 12, 0},
        {"P", 15, 0}, {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40},
        {"Pi", 0, 50}, {"Ei", 0, 60},
    };
    size_t i;
    for (i = 0; i < KQ_ARRAY_LEN(tab); i++)
      if (strcmp(p, tab[i].suf) == 0) break;
    if (i == KQ_ARRAY_LEN(tab)) {
      if (err) {
        char buf[24];
        snprintf(buf, sizeof(buf), "%.16s", suf);
        char why[64];
        snprintf(why, sizeof(why), "unknown suffix \"%s\"", buf);
        return qfail(err, s, why);
      }
      return KQ_EINVAL;
    }
    exp10 += tab[i].e10;
    bin = tab[i].e2;
    p += strlen(tab[i].suf);
  }
  if (*p) return qfail(err, s, "trailing characters");
  exp10 += extra_exp10;
  if (m == 0) {
    *out = 0;
    return KQ_OK;
  }
  u128 v = (u128)m << bin;
  const u128 lim = (u128)INT64_MAX;
  if (exp10 >= 0) {
    for (int i = 0; i < exp10; i++) {
      v *= 10;
      if (v > lim) return qfail(err, s, "too large");
    }
    if (inexact) v += 1;
  } else {
    int k = -exp10;
    if (k > 38) {
      v = 1; /* a positive amount smaller than one unit rounds up to one */
    } else {
      u128 div = 1;
      for (int i = 0; i < k; i++) div *= 10;
      u128 q = v / div;
      if (v % div || inexact) q++;
      v = q;
    }
  }
  if (v > lim) return qfail(err, s, "too large");
  *out = (int64_t)v;
  return KQ_OK;
}

int kq_k8s_quantity_milli(const char *s, int64_t *out, char **err) { return parse(s, 3, out, err); }

int kq_k8s_quantity_value(const char *s, int64_t *out, char **err) { return parse(s, 0, out, err); }

char *kq_k8s_quantity_format_milli(int64_t millis, char buf[32]) {
  if (millis % 1000 == 0)
    snprintf(buf, 32, "%lld", (long long)(millis / 1000));
  else
    snprintf(buf, 32, "%lldm", (long long)millis);
  return buf;
}

char *kq_k8s_quantity_format_bytes(int64_t bytes, char buf[32]) {
  static const struct { const char *suf; int shift; } tab[] = {{"Gi", 30}, {"Mi", 20}, {"Ki", 10}};
  if (bytes > 0) {
    for (size_t i = 0; i < KQ_ARRAY_LEN(tab); i++) {
      int64_t unit = (int64_t)1 << tab[i].shift;
      if (bytes % unit == 0) {
        snprintf(buf, 32, "%lld%s", (long long)(bytes / unit), tab[i].suf);
        return buf;
      }
    }
  }
  snprintf(buf, 32, "%lld", (long long)bytes);
  return buf;
}
