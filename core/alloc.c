/* Allocation in one place: out of memory is fatal for a node process, so every wrapper aborts
 * with one log line instead of making each caller handle NULL. */
#include "kq_alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

static void oom(size_t n) {
  /* Not kq_log: it may allocate, and we are out of memory. */
  fprintf(stderr, "kuack: out of memory allocating %zu bytes, aborting\n", n);
  abort();
}

void *kq_malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) oom(n);
  return p;
}

void *kq_calloc(size_t count, size_t n) {
  void *p = calloc(count ? count : 1, n ? n : 1);
  if (!p) oom(count * n);
  return p;
}

void *kq_realloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) oom(n);
  return q;
}

char *kq_strdup(const char *s) {
  if (!s) return NULL;
  return kq_memdup(s, strlen(s) + 1);
}

char *kq_strndup(const char *s, size_t n) {
  if (!s) return NULL;
  size_t len = strnlen(s, n);
  char *d = kq_malloc(len + 1);
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

void *kq_memdup(const void *p, size_t n) {
  void *d = kq_malloc(n);
  if (n) memcpy(d, p, n);
  return d;
}

char *kq_asprintf(const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  char *s = kq_malloc((size_t)n + 1);
  vsnprintf(s, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return s;
}

bool kq_heap_release(size_t min_free) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 mi = mallinfo2();
  if (mi.fordblks < min_free) return false;
  return malloc_trim(0) == 1;
#else
  (void)min_free;
  return false;
#endif
}
