/* Container logs, kept per (namespace, pod, container) in bounded rings of lines: stdout and
 * stderr interleaved in arrival order, each line with its wall time and sequence, plus the
 * previous run's ring for `kubectl logs --previous`. Pod actors append; the kubelet API reads
 * (tail, since, limitBytes, timestamps) and follows. The store lives on the loop thread and is
 * touched only from it; it is a passive structure shared by the pod actors and the HTTP side
 * so that a log read is a direct lookup instead of a message round trip. */
#ifndef KQ_LOGSTORE_H
#define KQ_LOGSTORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kq_logstore kq_logstore_t;
typedef struct kq_logstream kq_logstream_t;

/* Returns owned; `ring_bytes` bounds each container's current ring (oldest lines dropped). */
kq_logstore_t *kq_logstore_new(size_t ring_bytes);
/* Frees the store; follow subscriptions still open get their `ended` callback first. */
void kq_logstore_free(kq_logstore_t *s);

/* Returns the stream for a container, creating it. Borrowed, valid until kq_logstore_drop. */
kq_logstream_t *kq_logstore_open(kq_logstore_t *s, const char *ns, const char *pod, const char *container);
/* Finds a stream or returns NULL. */
kq_logstream_t *kq_logstore_find(kq_logstore_t *s, const char *ns, const char *pod, const char *container);
/* Forgets every container of a pod (pod deleted); followers are ended. */
void kq_logstore_drop(kq_logstore_t *s, const char *ns, const char *pod);

/* Appends raw bytes of `stream` (1 stdout, 2 stderr) received at `wall_ns`. Bytes are split into
 * lines; a partial last line waits for more bytes of the same stream (or kq_logstream_end). */
void kq_logstream_append(kq_logstream_t *ls, uint8_t stream, uint64_t wall_ns, const char *data, size_t len);
/* Starts a new run: the current ring becomes `previous` and a fresh ring begins. */
void kq_logstream_new_run(kq_logstream_t *ls);
/* Marks the current run finished: partial lines are flushed, followers ended. */
void kq_logstream_end(kq_logstream_t *ls, uint64_t wall_ns);
bool kq_logstream_ended(const kq_logstream_t *ls);
uint64_t kq_logstream_next_seq(const kq_logstream_t *ls);
size_t kq_logstream_lines(const kq_logstream_t *ls);

typedef struct kq_log_query {
  bool previous;          /* read the previous run */
  bool timestamps;        /* prefix each line with RFC 3339 nano time and a space */
  int64_t tail_lines;     /* < 0 = all */
  uint64_t since_wall_ns; /* 0 = all */
  int64_t limit_bytes;    /* < 0 = unlimited */
} kq_log_query_t;
#define KQ_LOG_QUERY_INIT {false, false, -1, 0, -1}

/* Renders the lines selected by `q` (from the start, or from sequence `from_seq` when non-zero,
 * for follow). Returns owned text (free()), its length in *len, and the next sequence to read
 * in *next_seq. Returns NULL when `previous` is asked and there was none. */
char *kq_logstream_read(const kq_logstream_t *ls, const kq_log_query_t *q, uint64_t from_seq,
                        size_t *len, uint64_t *next_seq);

/* Follow: `on_data` is called after each append that completes lines (the subscriber calls
 * kq_logstream_read with its next_seq), `on_end` once when the run ends or the stream goes.
 * Returns a subscription id. */
typedef struct kq_log_follower {
  void (*on_data)(void *ud);
  void (*on_end)(void *ud);
  void *ud;
} kq_log_follower_t;
uint64_t kq_logstream_follow(kq_logstream_t *ls, const kq_log_follower_t *f);
void kq_logstore_unfollow(kq_logstore_t *s, uint64_t sub);

#endif
