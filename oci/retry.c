/* Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Pure; wall time passed in. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kq_clock.h"
#include "kq_error.h"
#include "kq_oci_pull.h"

int kq_oci_retry_after_parse(const char *value, uint64_t now_wall_ns, uint64_t *delay_ns) {
  *delay_ns = 0;
  if (!value) return KQ_EPARSE;
  while (*value == ' ' || *value == '\t') value++;
  if (!*value || strlen(value) > 64) return KQ_EPARSE;
  if (isdigit((unsigned char)*value)) {
    uint64_t s = 0;
    const char *p = value;
    for (; isdigit((unsigned char)*p); p++) {
      if (s > 1000000000ull) return KQ_EPARSE;   /* absurd; refuse rather than overflow */
      s = s * 10 + (uint64_t)(*p - '0');
    }
    while (*p == ' ' || *p == '\t') p++;
    if (*p) return KQ_EPARSE;
    *delay_ns = KQ_SEC(s);
    return KQ_OK;
  }
  /* IMF-fixdate, the only form senders may generate: "Sun, 06 Nov 1994 08:49:37 GMT" */
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end) return KQ_EPARSE;
  while (*end == ' ' || *end == '\t') end++;
  if (*end) return KQ_EPARSE;
  time_t at = timegm(&tm);
  if (at == (time_t)-1) return KQ_EPARSE;
  uint64_t at_ns = (uint64_t)at * 1000000000ull;
  *delay_ns = at_ns > now_wall_ns ? at_ns - now_wall_ns : 0;
  return KQ_OK;
}
