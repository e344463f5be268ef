/* Allocation in one place: these never return NULL. Out of memory is not recoverable for a
 * node process, so it is logged once and the process aborts (STYLE.md habit 6). */
#ifndef KQ_ALLOC_H
#define KQ_ALLOC_H
#include <stddef.h>

void *kq_malloc(size_t n);
void *kq_calloc(size_t count, size_t n);
void *kq_realloc(void *p, size_t n);
char *kq_strdup(const char *s);              /* NULL in → NULL out */
char *kq_strndup(const char *s, size_t n);
void *kq_memdup(const void *p, size_t n);
/* printf into a fresh string; returns owned (free with free()). */
char *kq_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define KQ_NEW(type) ((type *)kq_calloc(1, sizeof(type)))
#define KQ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
