/* Metrics registry: exact Prometheus text rendering, grouping by name, dedup on re-register. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kq_metrics.h"

static void test_render_exact(void **st) {
  (void)st;
  kq_metrics_t *m = kq_metrics_new();
  kq_counter_t *in = kq_metrics_counter(m, "kuack_frames_total", "Frames.", "dir=\"in\"");
  kq_gauge_t *g = kq_metrics_gauge(m, "kuack_browsers", "Connected browsers.", NULL);
  kq_counter_t *out = kq_metrics_counter(m, "kuack_frames_total", "Frames.", "dir=\"out\"");
  const double bounds[] = {0.005, 0.1, 1};
  kq_histogram_t *h = kq_metrics_histogram(m, "kuack_latency_seconds", "Latency.\nSecond line \\",
                                           "op=\"x\"", bounds, 3);
  kq_counter_add(in, 3);
  kq_counter_inc(out);
  kq_gauge_set(g, 2.5);
  kq_gauge_add(g, -1);
  kq_histogram_observe(h, 0.001);
  kq_histogram_observe(h, 0.1); /* le is inclusive */
  kq_histogram_observe(h, 7);
  assert_int_equal(kq_counter_value(in), 3);
  assert_true(kq_gauge_value(g) == 1.5);
  assert_int_equal(kq_histogram_count(h), 3);
  size_t len = 0;
  char *text = kq_metrics_render(m, &len);
  const char *want =
      "# HELP kuack_frames_total Frames.\n"
      "# TYPE kuack_frames_total counter\n"
      "kuack_frames_total{dir=\"in\"} 3\n"
      "kuack_frames_total{dir=\"out\"} 1\n"
      "# HELP kuack_browsers Connected browsers.\n"
      "# TYPE kuack_browsers gauge\n"
      "kuack_browsers 1.5\n"
      "# HELP kuack_latency_seconds Latency.\\nSecond line \\\\\n"
      "# TYPE kuack_latency_seconds histogram\n"
      "kuack_latency_seconds_bucket{op=\"x\",le=\"0.005\"} 1\n"
      "kuack_latency_seconds_bucket{op=\"x\",le=\"0.1\"} 2\n"
      "kuack_latency_seconds_bucket{op=\"x\",le=\"1\"} 2\n"
      "kuack_latency_seconds_bucket{op=\"x\",le=\"+Inf\"} 3\n"
      "kuack_latency_seconds_sum{op=\"x\"} 7.101\n"
      "kuack_latency_seconds_count{op=\"x\"} 3\n";
  assert_string_equal(text, want);
  assert_int_equal(len, strlen(want));
  free(text);
  kq_metrics_free(m);
}

static void test_dedup_and_unlabelled_histogram(void **st) {
  (void)st;
  kq_metrics_t *m = kq_metrics_new();
  kq_counter_t *a = kq_metrics_counter(m, "c_total", "C.", NULL);
  assert_ptr_equal(kq_metrics_counter(m, "c_total", "C.", NULL), a);
  assert_ptr_equal(kq_metrics_counter(m, "c_total", "C.", ""), a);
  assert_ptr_not_equal(kq_metrics_counter(m, "c_total", "C.", "x=\"1\""), a);
  const double b[] = {1};
  kq_histogram_t *h = kq_metrics_histogram(m, "h", "H.", NULL, b, 1);
  assert_ptr_equal(kq_metrics_histogram(m, "h", "H.", NULL, b, 1), h);
  kq_histogram_observe(h, 0.5);
  kq_gauge_t *g = kq_metrics_gauge(m, "g", "G.", NULL);
  kq_gauge_set(g, 1e300 * 1e300);
  char *text = kq_metrics_render(m, NULL);
  assert_string_equal(text,
                      "# HELP c_total C.\n# TYPE c_total counter\nc_total 0\nc_total{x=\"1\"} 0\n"
                      "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n"
                      "h_sum 0.5\nh_count 1\n"
                      "# HELP g G.\n# TYPE g gauge\ng +Inf\n");
  free(text);
  kq_metrics_free(m);
}

static void test_empty(void **st) {
  (void)st;
  kq_metrics_t *m = kq_metrics_new();
  size_t len = 99;
  char *text = kq_metrics_render(m, &len);
  assert_string_equal(text, "");
  assert_int_equal(len, 0);
  free(text);
  kq_metrics_free(m);
  kq_metrics_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render_exact),
      cmocka_unit_test(test_dedup_and_unlabelled_histogram),
      cmocka_unit_test(test_empty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
