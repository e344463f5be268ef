/* One line per event: `2026-11-23T10:00:00.123Z info  comp=browser msg="connected" k=v...`.
 * The line is built in one buffer and written with one call so lines from the worker pool and
 * the loop thread never interleave. */
#include "kq_log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_clock.h"
#include "kq_error.h"

static _Atomic int log_level = KQ_LOG_INFO;
static kq_log_sink_fn log_sink;
static void *log_sink_ud;
static const kq_clock_t *log_clock;

static const char *const level_names[] = {"debug", "info ", "warn ", "error"};

void kq_log_set_level(kq_log_level_t level) { atomic_store(&log_level, (int)level); }
kq_log_level_t kq_log_get_level(void) { return (kq_log_level_t)atomic_load(&log_level); }

int kq_log_parse_level(const char *s, kq_log_level_t *out) {
  static const struct {
    const char *name;
    kq_log_level_t level;
  } names[] = {{"debug", KQ_LOG_DEBUG}, {"info", KQ_LOG_INFO}, {"warn", KQ_LOG_WARN},
               {"error", KQ_LOG_ERROR}, {"off", KQ_LOG_OFF}};
  if (!s) return KQ_EINVAL;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (!strcmp(s, names[i].name)) {
      *out = names[i].level;
      return KQ_OK;
    }
  }
  return KQ_EINVAL;
}

void kq_log_set_sink(kq_log_sink_fn sink, void *ud) {
  log_sink = sink;
  log_sink_ud = ud;
}

void kq_log_set_clock(const kq_clock_t *clock) { log_clock = clock; }

/* Appends `s` quoted, escaping `"`, `\` and control characters so one event stays one line. */
static size_t put_quoted(char *buf, size_t cap, size_t n, const char *s) {
  if (n < cap) buf[n] = '"';
  n++;
  for (; s && *s; s++) {
    char c = *s;
    const char *esc = NULL;
    if (c == '"') esc = "\\\"";
    else if (c == '\\') esc = "\\\\";
    else if (c == '\n') esc = "\\n";
    else if ((unsigned char)c < 0x20) esc = " ";
    if (esc) {
      for (; *esc; esc++, n++)
        if (n < cap) buf[n] = *esc;
    } else {
      if (n < cap) buf[n] = c;
      n++;
    }
  }
  if (n < cap) buf[n] = '"';
  return n + 1;
}

void kq_vlog(kq_log_level_t level, const char *comp, const char *msg, const char *fields,
             va_list ap) {
  if (level < kq_log_get_level() || level >= KQ_LOG_OFF) return;
  char buf[2048];
  const size_t cap = sizeof buf - 2; /* room for '\n' and NUL */
  const kq_clock_t *clock = log_clock ? log_clock : kq_clock_real();
  uint64_t wall = kq_wall_ns(clock);
  char ts[40];
  kq_rfc3339(wall, true, ts);
  /* Keep milliseconds: "....SS.123Z". */
  size_t tl = strlen(ts);
  if (tl >= 11) memmove(ts + tl - 7, "Z", 2);
  size_t n = (size_t)snprintf(buf, cap, "%s %s comp=%s msg=", ts, level_names[level],
                              comp ? comp : "-");
  if (n > cap) n = cap;
  n = put_quoted(buf, cap, n, msg ? msg : "");
  if (n > cap) n = cap;
  if (fields && *fields && n < cap) {
    buf[n++] = ' ';
    int k = vsnprintf(buf + n, cap - n, fields, ap);
    if (k > 0) n += (size_t)k;
    if (n > cap) n = cap;
  }
  buf[n] = '\0';
  if (log_sink) {
    log_sink(level, buf, log_sink_ud);
    return;
  }
  buf[n] = '\n';
  fwrite(buf, 1, n + 1, stderr);
}

void kq_log(kq_log_level_t level, const char *comp, const char *msg, const char *fields, ...) {
  va_list ap;
  va_start(ap, fields);
  kq_vlog(level, comp, msg, fields, ap);
  va_end(ap);
}
