/* Metrics registry: counters, gauges and histograms registered by name (plus an optional fixed
 * label set), rendered in Prometheus text exposition format 0.0.4. Single-threaded: only the
 * loop thread touches metrics. */
#ifndef KQ_METRICS_H
#define KQ_METRICS_H
#include <stddef.h>
#include <stdint.h>

typedef struct kq_metrics kq_metrics_t;
typedef struct kq_counter kq_counter_t;
typedef struct kq_gauge kq_gauge_t;
typedef struct kq_histogram kq_histogram_t;

/* Returns owned (free with kq_metrics_free, which frees every metric it holds). */
kq_metrics_t *kq_metrics_new(void);
void kq_metrics_free(kq_metrics_t *m);

/* Registration returns a handle borrowed from the registry (valid until kq_metrics_free).
 * Registering the same name+labels twice returns the existing handle. `labels` is NULL or a
 * Prometheus label body such as `dir="in",type="run"`. `help` is borrowed and must be static.
 * Histogram `bounds` (ascending, upper bounds, +Inf implied) are copied. */
kq_counter_t *kq_metrics_counter(kq_metrics_t *m, const char *name, const char *help, const char *labels);
kq_gauge_t *kq_metrics_gauge(kq_metrics_t *m, const char *name, const char *help, const char *labels);
kq_histogram_t *kq_metrics_histogram(kq_metrics_t *m, const char *name, const char *help,
                                     const char *labels, const double *bounds, size_t nbounds);

void kq_counter_add(kq_counter_t *c, uint64_t n);
static inline void kq_counter_inc(kq_counter_t *c) { kq_counter_add(c, 1); }
uint64_t kq_counter_value(const kq_counter_t *c);
void kq_gauge_set(kq_gauge_t *g, double v);
void kq_gauge_add(kq_gauge_t *g, double d);
double kq_gauge_value(const kq_gauge_t *g);
void kq_histogram_observe(kq_histogram_t *h, double v);
uint64_t kq_histogram_count(const kq_histogram_t *h);

/* Renders every metric (grouped by name, one HELP/TYPE per name). Returns owned text (free()),
 * length in *len when len != NULL. */
char *kq_metrics_render(const kq_metrics_t *m, size_t *len);

#endif
