/* Log rings: line splitting across chunks and streams, tail/since/limitBytes/timestamps,
 * previous run, byte budget, follow notifications and ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kq_clock.h"
#include "kq_logstore.h"

static char *read_all(kq_logstream_t *ls, kq_log_query_t q) {
  size_t n;
  uint64_t next;
  return kq_logstream_read(ls, &q, 0, &n, &next);
}

static void test_lines_across_chunks(void **st) {
  (void)st;
  kq_logstore_t *s = kq_logstore_new(0);
  kq_logstream_t *ls = kq_logstore_open(s, "default", "p", "c");
  kq_logstream_append(ls, 1, KQ_SEC(1), "hel", 3);
  kq_logstream_append(ls, 2, KQ_SEC(1), "err line\n", 9);
  kq_logstream_append(ls, 1, KQ_SEC(2), "lo\nworld\npart", 13);
  assert_int_equal(kq_logstream_lines(ls), 3);
  char *all = read_all(ls, (kq_log_query_t)KQ_LOG_QUERY_INIT);
  assert_string_equal(all, "err line\nhello\nworld\n");
  free(all);
  kq_logstream_end(ls, KQ_SEC(3));
  all = read_all(ls, (kq_log_query_t)KQ_LOG_QUERY_INIT);
  assert_string_equal(all, "err line\nhello\nworld\npart\n");
  free(all);
  assert_true(kq_logstream_ended(ls));
  assert_ptr_equal(kq_logstore_find(s, "default", "p", "c"), ls);
  assert_null(kq_logstore_find(s, "default", "p", "other"));
  kq_logstore_free(s);
}

static void test_query_options(void **st) {
  (void)st;
  kq_logstore_t *s = kq_logstore_new(0);
  kq_logstream_t *ls = kq_logstore_open(s, "ns", "p", "c");
  for (int i = 0; i < 10; i++) {
    char line[16];
    int n = snprintf(line, sizeof line, "l%d\n", i);
    kq_logstream_append(ls, 1, KQ_SEC(100 + i), line, (size_t)n);
  }
  kq_log_query_t q = KQ_LOG_QUERY_INIT;
  q.tail_lines = 2;
  char *t = read_all(ls, q);
  assert_string_equal(t, "l8\nl9\n");
  free(t);
  q = (kq_log_query_t)KQ_LOG_QUERY_INIT;
  q.tail_lines = 0;
  t = read_all(ls, q);
  assert_string_equal(t, "");
  free(t);
  q = (kq_log_query_t)KQ_LOG_QUERY_INIT;
  q.since_wall_ns = KQ_SEC(107);
  t = read_all(ls, q);
  assert_string_equal(t, "l7\nl8\nl9\n");
  free(t);
  q = (kq_log_query_t)KQ_LOG_QUERY_INIT;
  q.limit_bytes = 7;
  t = read_all(ls, q);
  assert_string_equal(t, "l0\nl1\nl");
  free(t);
  q = (kq_log_query_t)KQ_LOG_QUERY_INIT;
  q.tail_lines = 1;
  q.timestamps = true;
  t = read_all(ls, q);
  assert_string_equal(t, "1970-01-01T00:01:49.000000000Z l9\n");
  free(t);
  kq_logstore_free(s);
}

static void test_previous_run_and_budget(void **st) {
  (void)st;
  kq_logstore_t *s = kq_logstore_new(4096);
  kq_logstream_t *ls = kq_logstore_open(s, "ns", "p", "c");
  kq_log_query_t prev = KQ_LOG_QUERY_INIT;
  prev.previous = true;
  size_t n;
  uint64_t next;
  assert_null(kq_logstream_read(ls, &prev, 0, &n, &next));
  kq_logstream_append(ls, 1, 1, "first run\n", 10);
  kq_logstream_end(ls, 2);
  kq_logstream_new_run(ls);
  assert_false(kq_logstream_ended(ls));
  kq_logstream_append(ls, 1, 3, "second run\n", 11);
  char *t = kq_logstream_read(ls, &prev, 0, &n, &next);
  assert_string_equal(t, "first run\n");
  free(t);
  t = read_all(ls, (kq_log_query_t)KQ_LOG_QUERY_INIT);
  assert_string_equal(t, "second run\n");
  free(t);
  /* The byte budget keeps memory bounded: 10k lines of 100 bytes into a 4 KiB ring. */
  char big[101];
  memset(big, 'x', 100);
  big[100] = '\n';
  for (int i = 0; i < 10000; i++) kq_logstream_append(ls, 1, 4, big, sizeof big);
  assert_true(kq_logstream_lines(ls) < 64);
  assert_true(kq_logstream_lines(ls) > 0);
  kq_logstore_free(s);
}

typedef struct {
  int data, ended;
} counts_t;
static void on_data(void *ud) { ((counts_t *)ud)->data++; }
static void on_end(void *ud) { ((counts_t *)ud)->ended++; }

static void test_follow(void **st) {
  (void)st;
  kq_logstore_t *s = kq_logstore_new(0);
  kq_logstream_t *ls = kq_logstore_open(s, "ns", "p", "c");
  kq_logstream_append(ls, 1, 1, "old\n", 4);
  counts_t c = {0, 0};
  kq_log_follower_t f = {on_data, on_end, &c};
  kq_log_query_t q = KQ_LOG_QUERY_INIT;
  size_t n;
  uint64_t next;
  char *t = kq_logstream_read(ls, &q, 0, &n, &next);
  assert_string_equal(t, "old\n");
  free(t);
  kq_logstream_follow(ls, &f);
  kq_logstream_append(ls, 1, 2, "no newline yet", 14);
  assert_int_equal(c.data, 0);
  kq_logstream_append(ls, 1, 2, "\nnew\n", 5);
  assert_int_equal(c.data, 1);
  t = kq_logstream_read(ls, &q, next, &n, &next);
  assert_string_equal(t, "no newline yet\nnew\n");
  free(t);
  t = kq_logstream_read(ls, &q, next, &n, &next);
  assert_string_equal(t, "");
  free(t);
  kq_logstream_end(ls, 3);
  assert_int_equal(c.ended, 1);
  /* A second follower on a dropped pod is ended by the drop, and unfollow is harmless after. */
  kq_logstream_t *ls2 = kq_logstore_open(s, "ns", "q", "c");
  counts_t c2 = {0, 0};
  kq_log_follower_t f2 = {on_data, on_end, &c2};
  uint64_t sub = kq_logstream_follow(ls2, &f2);
  kq_logstore_drop(s, "ns", "q");
  assert_int_equal(c2.ended, 1);
  kq_logstore_unfollow(s, sub);
  assert_null(kq_logstore_find(s, "ns", "q", "c"));
  kq_logstore_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lines_across_chunks),
      cmocka_unit_test(test_query_options),
      cmocka_unit_test(test_previous_run_and_budget),
      cmocka_unit_test(test_follow),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
