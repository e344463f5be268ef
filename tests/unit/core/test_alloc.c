/* Allocation wrappers and the heap release used after connection bursts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kq_alloc.h"

static void test_wrappers(void **st) {
  (void)st;
  char *s = kq_asprintf("%s-%d", "kuack", 7);
  assert_string_equal(s, "kuack-7");
  char *d = kq_strndup(s, 5);
  assert_string_equal(d, "kuack");
  assert_null(kq_strdup(NULL));
  unsigned char *z = kq_calloc(4, 8);
  for (int i = 0; i < 32; i++) assert_int_equal(z[i], 0);
  free(z);
  free(d);
  free(s);
}

/* A threshold no heap reaches never trims; after a burst of freed blocks between live ones the
 * call is safe and leaves the live blocks intact (whether pages go back depends on the allocator:
 * none under a sanitizer). */
static void test_heap_release(void **st) {
  (void)st;
  assert_false(kq_heap_release(SIZE_MAX));
  enum { N = 4096 };
  char **blocks = kq_calloc(N, sizeof(char *));
  for (int i = 0; i < N; i++) {
    blocks[i] = kq_malloc(1024);
    memset(blocks[i], i & 0xff, 1024);
  }
  for (int i = 0; i < N; i += 2) {
    free(blocks[i]);
    blocks[i] = NULL;
  }
  (void)kq_heap_release(0);
  for (int i = 1; i < N; i += 2) {
    assert_int_equal((unsigned char)blocks[i][0], i & 0xff);
    assert_int_equal((unsigned char)blocks[i][1023], i & 0xff);
    free(blocks[i]);
  }
  free(blocks);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wrappers),
      cmocka_unit_test(test_heap_release),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
