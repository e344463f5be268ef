/* Metrics registry: families (one name, help, type) holding series (one label set each),
 * rendered in Prometheus text format 0.0.4 in registration order. Registration is rare and
 * linear; updates are a field write. */
#include "kq_metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_log.h"
#include "metrics_internal.h"

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind_t;

struct kq_histogram {
  double *bounds;
  uint64_t *buckets; /* per bucket (not cumulative); last is +Inf */
  size_t nbounds;
  double sum;
  uint64_t count;
};

typedef struct series {
  struct series *next;
  char *labels; /* NULL or label body */
  union {
    struct kq_counter counter;
    struct kq_gauge gauge;
    struct kq_histogram hist;
  } u;
} series_t;

typedef struct family {
  struct family *next;
  char *name;
  const char *help;
  kind_t kind;
  series_t *series, **series_tail;
} family_t;

struct kq_metrics {
  family_t *families, **tail;
};

kq_metrics_t *kq_metrics_new(void) {
  kq_metrics_t *m = KQ_NEW(kq_metrics_t);
  m->tail = &m->families;
  return m;
}

void kq_metrics_free(kq_metrics_t *m) {
  if (!m) return;
  for (family_t *f = m->families, *fn; f; f = fn) {
    fn = f->next;
    for (series_t *s = f->series, *sn; s; s = sn) {
      sn = s->next;
      if (f->kind == KIND_HISTOGRAM) {
        free(s->u.hist.bounds);
        free(s->u.hist.buckets);
      }
      free(s->labels);
      free(s);
    }
    free(f->name);
    free(f);
  }
  free(m);
}

static bool same_labels(const char *a, const char *b) {
  if (!a || !*a) return !b || !*b;
  return b && !strcmp(a, b);
}

/* Finds or creates the series; *fresh tells whether it was created. */
static series_t *lookup(kq_metrics_t *m, const char *name, const char *help, const char *labels,
                        kind_t kind, bool *fresh) {
  family_t *f = m->families;
  for (; f; f = f->next)
    if (!strcmp(f->name, name)) break;
  if (f && f->kind != kind) {
    /* A programming error: one name must keep one type or the exposition is invalid. */
    KQ_ERROR("metrics", "metric registered with two types", "name=%s", name);
    abort();
  }
  if (!f) {
    f = KQ_NEW(family_t);
    f->name = kq_strdup(name);
    f->help = help;
    f->kind = kind;
    f->series_tail = &f->series;
    *m->tail = f;
    m->tail = &f->next;
  }
  for (series_t *s = f->series; s; s = s->next) {
    if (same_labels(s->labels, labels)) {
      *fresh = false;
      return s;
    }
  }
  series_t *s = KQ_NEW(series_t);
  s->labels = labels && *labels ? kq_strdup(labels) : NULL;
  *f->series_tail = s;
  f->series_tail = &s->next;
  *fresh = true;
  return s;
}

kq_counter_t *kq_metrics_counter(kq_metrics_t *m, const char *name, const char *help,
                                 const char *labels) {
  bool fresh;
  return &lookup(m, name, help, labels, KIND_COUNTER, &fresh)->u.counter;
}

kq_gauge_t *kq_metrics_gauge(kq_metrics_t *m, const char *name, const char *help,
                             const char *labels) {
  bool fresh;
  return &lookup(m, name, help, labels, KIND_GAUGE, &fresh)->u.gauge;
}

kq_histogram_t *kq_metrics_histogram(kq_metrics_t *m, const char *name, const char *help,
                                     const char *labels, const double *bounds, size_t nbounds) {
  bool fresh;
  series_t *s = lookup(m, name, help, labels, KIND_HISTOGRAM, &fresh);
  if (fresh) {
    s->u.hist.nbounds = nbounds;
    s->u.hist.bounds = kq_memdup(bounds, nbounds * sizeof *bounds);
    s->u.hist.buckets = kq_calloc(nbounds + 1, sizeof(uint64_t));
  }
  return &s->u.hist;
}

void kq_counter_add(kq_counter_t *c, uint64_t n) { c->value += n; }
uint64_t kq_counter_value(const kq_counter_t *c) { return c->value; }
void kq_gauge_set(kq_gauge_t *g, double v) { g->value = v; }
void kq_gauge_add(kq_gauge_t *g, double d) { g->value += d; }
double kq_gauge_value(const kq_gauge_t *g) { return g->value; }

void kq_histogram_observe(kq_histogram_t *h, double v) {
  size_t i = 0;
  while (i < h->nbounds && v > h->bounds[i]) i++;
  h->buckets[i]++;
  h->sum += v;
  h->count++;
}

uint64_t kq_histogram_count(const kq_histogram_t *h) { return h->count; }

/* ---- rendering ---- */

typedef struct {
  char *p;
  size_t len, cap;
} buf_t;

static void put(buf_t *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    while (b->len + n + 1 > b->cap) b->cap = b->cap ? b->cap * 2 : 1024;
    b->p = kq_realloc(b->p, b->cap);
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void puts_(buf_t *b, const char *s) { put(b, s, strlen(s)); }

/* Prometheus float: shortest of %.15g/%.17g that round-trips; +Inf, -Inf, NaN spelled out. */
static void fmt_double(char out[40], double v) {
  if (isnan(v)) {
    strcpy(out, "NaN");
  } else if (isinf(v)) {
    strcpy(out, v > 0 ? "+Inf" : "-Inf");
  } else {
    snprintf(out, 40, "%.15g", v);
    if (strtod(out, NULL) != v) snprintf(out, 40, "%.17g", v);
  }
}

/* `name{labels[,extra]} value` */
static void sample(buf_t *b, const char *name, const char *suffix, const char *labels,
                   const char *extra, const char *value) {
  puts_(b, name);
  puts_(b, suffix);
  bool has = labels && *labels;
  if (has || extra) {
    puts_(b, "{");
    if (has) puts_(b, labels);
    if (has && extra) puts_(b, ",");
    if (extra) puts_(b, extra);
    puts_(b, "}");
  }
  puts_(b, " ");
  puts_(b, value);
  puts_(b, "\n");
}

static void put_help(buf_t *b, const char *help) {
  for (const char *c = help; *c; c++) {
    if (*c == '\\') puts_(b, "\\\\");
    else if (*c == '\n') puts_(b, "\\n");
    else put(b, c, 1);
  }
}

char *kq_metrics_render(const kq_metrics_t *m, size_t *len) {
  static const char *const kinds[] = {"counter", "gauge", "histogram"};
  buf_t b = {0};
  put(&b, "", 0);
  char v[64], le[64];
  for (const family_t *f = m->families; f; f = f->next) {
    if (f->help) {
      puts_(&b, "# HELP ");
      puts_(&b, f->name);
      puts_(&b, " ");
      put_help(&b, f->help);
      puts_(&b, "\n");
    }
    puts_(&b, "# TYPE ");
    puts_(&b, f->name);
    puts_(&b, " ");
    puts_(&b, kinds[f->kind]);
    puts_(&b, "\n");
    for (const series_t *s = f->series; s; s = s->next) {
      switch (f->kind) {
        case KIND_COUNTER:
          snprintf(v, sizeof v, "%llu", (unsigned long long)s->u.counter.value);
          sample(&b, f->name, "", s->labels, NULL, v);
          break;
        case KIND_GAUGE:
          fmt_double(v, s->u.gauge.value);
          sample(&b, f->name, "", s->labels, NULL, v);
          break;
        case KIND_HISTOGRAM: {
          const struct kq_histogram *h = &s->u.hist;
          uint64_t cum = 0;
          for (size_t i = 0; i <= h->nbounds; i++) {
            cum += h->buckets[i];
            char bound[40];
            if (i < h->nbounds) fmt_double(bound, h->bounds[i]);
            else strcpy(bound, "+Inf");
            snprintf(le, sizeof le, "le=\"%s\"", bound);
            snprintf(v, sizeof v, "%llu", (unsigned long long)cum);
            sample(&b, f->name, "_bucket", s->labels, le, v);
          }
          fmt_double(v, h->sum);
          sample(&b, f->name, "_sum", s->labels, NULL, v);
          snprintf(v, sizeof v, "%llu", (unsigned long long)h->count);
          sample(&b, f->name, "_count", s->labels, NULL, v);
          break;
        }
      }
    }
  }
  if (len) *len = b.len;
  return b.p;
}
