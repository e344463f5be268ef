/* Logging: one line per event, `ts level comp msg key=value...`, on stderr (or a sink set by
 * tests). Fields are printf-formatted by the caller as `key=value` pairs separated by spaces. */
#ifndef KQ_LOG_H
#define KQ_LOG_H
#include <stdarg.h>

typedef enum { KQ_LOG_DEBUG = 0, KQ_LOG_INFO, KQ_LOG_WARN, KQ_LOG_ERROR, KQ_LOG_OFF } kq_log_level_t;

void kq_log_set_level(kq_log_level_t level);
kq_log_level_t kq_log_get_level(void);
/* Parses "debug|info|warn|error|off"; returns KQ_EINVAL for anything else. */
int kq_log_parse_level(const char *s, kq_log_level_t *out);

/* Replaces the output (default: stderr). `sink` borrows `line` (no trailing newline) for the
 * duration of the call. NULL restores stderr. */
typedef void (*kq_log_sink_fn)(kq_log_level_t level, const char *line, void *ud);
void kq_log_set_sink(kq_log_sink_fn sink, void *ud);

/* Stamps lines with `clock`'s wall time (borrowed; NULL = real clock). Lets tests pin the
 * timestamp with a fake clock. Lines longer than 2 KiB are truncated. */
struct kq_clock;
void kq_log_set_clock(const struct kq_clock *clock);

/* Emits `comp` + `msg` + the formatted `fields` ("pod=%s phase=%s"). `fields` may be NULL.
 * Values containing spaces should be quoted by the caller ("msg=\"%s\""). */
void kq_log(kq_log_level_t level, const char *comp, const char *msg, const char *fields, ...)
    __attribute__((format(printf, 4, 5)));
void kq_vlog(kq_log_level_t level, const char *comp, const char *msg, const char *fields, va_list ap);

#define KQ_DEBUG(comp, msg, ...) \
  do { if (kq_log_get_level() <= KQ_LOG_DEBUG) kq_log(KQ_LOG_DEBUG, comp, msg, __VA_ARGS__); } while (0)
#define KQ_INFO(comp, msg, ...) kq_log(KQ_LOG_INFO, comp, msg, __VA_ARGS__)
#define KQ_WARN(comp, msg, ...) kq_log(KQ_LOG_WARN, comp, msg, __VA_ARGS__)
#define KQ_ERROR(comp, msg, ...) kq_log(KQ_LOG_ERROR, comp, msg, __VA_ARGS__)

#endif
