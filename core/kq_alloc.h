/* Allocation in one place: these never return NULL. Out of memory is not recoverable for a
 * node process, so it is logged once and the process aborts (STYLE.md habit 6). */
#ifndef KQ_ALLOC_H
#define KQ_ALLOC_H
#include <stdbool.h>
#include <stddef.h>

void *kq_malloc(size_t n);
void *kq_calloc(size_t count, size_t n);
void *kq_realloc(void *p, size_t n);
char *kq_strdup(const char *s);              /* NULL in → NULL out */
char *kq_strndup(const char *s, size_t n);
void *kq_memdup(const void *p, size_t n);
/* printf into a fresh string; returns owned (free with free()). */
char *kq_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Gives free heap pages back to the operating system when malloc holds more than `min_free` bytes
 * that no allocation uses — the holes a burst of short-lived allocations (10,000 WebSocket
 * upgrades at once, say) leaves between long-lived ones (glibc malloc_trim). Returns true if it
 * trimmed. It walks the heap, so call it rarely (the browser directory does, at most every 30 s).
 * Does nothing without glibc or when a sanitizer owns the allocator (mallinfo2 then reports 0). */
bool kq_heap_release(size_t min_free);

#define KQ_NEW(type) ((type *)kq_calloc(1, sizeof(type)))
#define KQ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
