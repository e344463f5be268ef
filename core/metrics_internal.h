/* Metric structs shared with the actor runtime, which bumps its hot counters inline. */
#ifndef KQ_METRICS_INTERNAL_H
#define KQ_METRICS_INTERNAL_H
#include <stdint.h>

#include "kq_metrics.h"

struct kq_counter {
  uint64_t value;
};

struct kq_gauge {
  double value;
};

#endif
