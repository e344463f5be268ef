/* Bounded per-container log rings (see kq_logstore.h). Lines are kept in a growable circular
 * array; the byte budget drops the oldest lines first. Follow subscribers are notified after
 * appends and ended when a run ends or the pod is dropped. */
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_clock.h"
#include "kq_logstore.h"

typedef struct line {
  uint64_t seq;
  uint64_t wall_ns;
  uint8_t stream;
  uint32_t len;
  char *text;     /* without the newline */
} line_t;

typedef struct ring {
  line_t *v;
  size_t cap, head, n;
  size_t bytes;
} ring_t;

typedef struct follower {
  struct follower *next;
  uint64_t id;
  kq_log_follower_t cb;
} follower_t;

struct kq_logstream {
  struct kq_logstream *next;  /* hash chain */
  kq_logstore_t *store;
  char *ns, *pod, *container;
  ring_t cur, prev;
  bool has_prev;
  bool ended;
  uint64_t next_seq;
  char *partial[3];           /* per stream: bytes after the last newline */
  size_t partial_len[3];
  uint64_t partial_wall[3];
  follower_t *followers;
};

#define BUCKETS 1024
#define PARTIAL_MAX (64 * 1024) /* a "line" longer than this is cut into pieces */

struct kq_logstore {
  size_t ring_bytes;
  uint64_t next_sub;
  kq_logstream_t *b[BUCKETS];
};

static uint32_t hash3(const char *a, const char *b, const char *c) {
  uint32_t h = 2166136261u;
  const char *parts[3] = {a, b, c};
  for (int i = 0; i < 3; i++) {
    for (const char *p = parts[i] ? parts[i] : ""; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ 0xff) * 16777619u;
  }
  return h;
}

static void ring_clear(ring_t *r) {
  for (size_t i = 0; i < r->n; i++) free(r->v[(r->head + i) % r->cap].text);
  free(r->v);
  memset(r, 0, sizeof *r);
}

static line_t *ring_at(const ring_t *r, size_t i) { return &r->v[(r->head + i) % r->cap]; }

static void ring_pop(ring_t *r) {
  line_t *l = ring_at(r, 0);
  r->bytes -= l->len + sizeof(line_t);
  free(l->text);
  r->head = (r->head + 1) % r->cap;
  r->n--;
}

static void ring_push(ring_t *r, size_t budget, line_t l) {
  if (r->n == r->cap) {
    size_t ncap = r->cap ? r->cap * 2 : 64;
    line_t *nv = kq_calloc(ncap, sizeof(line_t));
    for (size_t i = 0; i < r->n; i++) nv[i] = *ring_at(r, i);
    free(r->v);
    r->v = nv;
    r->cap = ncap;
    r->head = 0;
  }
  r->v[(r->head + r->n) % r->cap] = l;
  r->n++;
  r->bytes += l.len + sizeof(line_t);
  while (r->n > 1 && r->bytes > budget) ring_pop(r);
}

kq_logstore_t *kq_logstore_new(size_t ring_bytes) {
  kq_logstore_t *s = KQ_NEW(kq_logstore_t);
  s->ring_bytes = ring_bytes ? ring_bytes : 1024 * 1024;
  return s;
}

static void end_followers(kq_logstream_t *ls) {
  follower_t *f = ls->followers;
  ls->followers = NULL;
  while (f) {
    follower_t *next = f->next;
    if (f->cb.on_end) f->cb.on_end(f->cb.ud);
    free(f);
    f = next;
  }
}

static void stream_free(kq_logstream_t *ls) {
  end_followers(ls);
  ring_clear(&ls->cur);
  ring_clear(&ls->prev);
  for (int i = 0; i < 3; i++) free(ls->partial[i]);
  free(ls->ns);
  free(ls->pod);
  free(ls->container);
  free(ls);
}

void kq_logstore_free(kq_logstore_t *s) {
  if (!s) return;
  for (size_t i = 0; i < BUCKETS; i++) {
    kq_logstream_t *ls = s->b[i];
    while (ls) {
      kq_logstream_t *next = ls->next;
      stream_free(ls);
      ls = next;
    }
  }
  free(s);
}

static bool same(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

kq_logstream_t *kq_logstore_find(kq_logstore_t *s, const char *ns, const char *pod, const char *container) {
  for (kq_logstream_t *ls = s->b[hash3(ns, pod, container) % BUCKETS]; ls; ls = ls->next)
    if (same(ls->ns, ns) && same(ls->pod, pod) && same(ls->container, container)) return ls;
  return NULL;
}

kq_logstream_t *kq_logstore_open(kq_logstore_t *s, const char *ns, const char *pod, const char *container) {
  kq_logstream_t *ls = kq_logstore_find(s, ns, pod, container);
  if (ls) return ls;
  ls = KQ_NEW(kq_logstream_t);
  ls->store = s;
  ls->ns = kq_strdup(ns ? ns : "");
  ls->pod = kq_strdup(pod ? pod : "");
  ls->container = kq_strdup(container ? container : "");
  ls->next_seq = 1;
  uint32_t h = hash3(ns, pod, container) % BUCKETS;
  ls->next = s->b[h];
  s->b[h] = ls;
  return ls;
}

void kq_logstore_drop(kq_logstore_t *s, const char *ns, const char *pod) {
  for (size_t i = 0; i < BUCKETS; i++) {
    kq_logstream_t **pp = &s->b[i];
    while (*pp) {
      kq_logstream_t *ls = *pp;
      if (same(ls->ns, ns) && same(ls->pod, pod)) {
        *pp = ls->next;
        stream_free(ls);
      } else {
        pp = &ls->next;
      }
    }
  }
}

static void emit_line(kq_logstream_t *ls, uint8_t stream, uint64_t wall_ns, const char *p, size_t n) {
  line_t l = {.seq = ls->next_seq++, .wall_ns = wall_ns, .stream = stream, .len = (uint32_t)n};
  l.text = kq_memdup(p, n ? n : 1);
  ring_push(&ls->cur, ls->store->ring_bytes, l);
}

static void notify(kq_logstream_t *ls) {
  for (follower_t *f = ls->followers; f; f = f->next)
    if (f->cb.on_data) f->cb.on_data(f->cb.ud);
}

void kq_logstream_append(kq_logstream_t *ls, uint8_t stream, uint64_t wall_ns, const char *data, size_t len) {
  if (stream < 1 || stream > 2 || len == 0 || ls->ended) return;
  uint64_t before = ls->next_seq;
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (data[i] != '\n') continue;
    if (ls->partial_len[stream]) {
      size_t n = ls->partial_len[stream] + (i - start);
      char *joined = kq_malloc(n + 1);
      memcpy(joined, ls->partial[stream], ls->partial_len[stream]);
      memcpy(joined + ls->partial_len[stream], data + start, i - start);
      emit_line(ls, stream, ls->partial_wall[stream], joined, n);
      free(joined);
      free(ls->partial[stream]);
      ls->partial[stream] = NULL;
      ls->partial_len[stream] = 0;
    } else {
      emit_line(ls, stream, wall_ns, data + start, i - start);
    }
    start = i + 1;
  }
  if (start < len) {
    size_t n = len - start;
    if (!ls->partial_len[stream]) ls->partial_wall[stream] = wall_ns;
    ls->partial[stream] = kq_realloc(ls->partial[stream], ls->partial_len[stream] + n);
    memcpy(ls->partial[stream] + ls->partial_len[stream], data + start, n);
    ls->partial_len[stream] += n;
    if (ls->partial_len[stream] >= PARTIAL_MAX) {
      emit_line(ls, stream, ls->partial_wall[stream], ls->partial[stream], ls->partial_len[stream]);
      free(ls->partial[stream]);
      ls->partial[stream] = NULL;
      ls->partial_len[stream] = 0;
    }
  }
  if (ls->next_seq != before) notify(ls);
}

static void flush_partials(kq_logstream_t *ls) {
  for (int s = 1; s <= 2; s++) {
    if (!ls->partial_len[s]) continue;
    emit_line(ls, (uint8_t)s, ls->partial_wall[s], ls->partial[s], ls->partial_len[s]);
    free(ls->partial[s]);
    ls->partial[s] = NULL;
    ls->partial_len[s] = 0;
  }
}

void kq_logstream_new_run(kq_logstream_t *ls) {
  flush_partials(ls);
  end_followers(ls);
  ring_clear(&ls->prev);
  ls->prev = ls->cur;
  memset(&ls->cur, 0, sizeof ls->cur);
  ls->has_prev = true;
  ls->ended = false;
}

void kq_logstream_end(kq_logstream_t *ls, uint64_t wall_ns) {
  (void)wall_ns;
  if (ls->ended) return;
  uint64_t before = ls->next_seq;
  flush_partials(ls);
  if (ls->next_seq != before) notify(ls);
  ls->ended = true;
  end_followers(ls);
}

bool kq_logstream_ended(const kq_logstream_t *ls) { return ls->ended; }
uint64_t kq_logstream_next_seq(const kq_logstream_t *ls) { return ls->next_seq; }
size_t kq_logstream_lines(const kq_logstream_t *ls) { return ls->cur.n; }

char *kq_logstream_read(const kq_logstream_t *ls, const kq_log_query_t *q, uint64_t from_seq,
                        size_t *len, uint64_t *next_seq) {
  const ring_t *r = q->previous ? &ls->prev : &ls->cur;
  if (q->previous && !ls->has_prev) return NULL;
  /* Select: lines with seq >= from_seq and wall >= since; then the last tail_lines of those. */
  size_t first = 0;
  while (first < r->n && (ring_at(r, first)->seq < from_seq ||
                          ring_at(r, first)->wall_ns < q->since_wall_ns))
    first++;
  if (q->tail_lines >= 0 && from_seq == 0 && r->n - first > (size_t)q->tail_lines)
    first = r->n - (size_t)q->tail_lines;
  size_t cap = 256, n = 0;
  char *out = kq_malloc(cap);
  /* Nothing selected: a follower continues from where it asked, a fresh reader from now. */
  uint64_t next = from_seq ? from_seq : ls->next_seq;
  for (size_t i = first; i < r->n; i++) {
    const line_t *l = ring_at(r, i);
    char ts[40] = "";
    size_t tslen = 0;
    if (q->timestamps) {
      kq_rfc3339(l->wall_ns, true, ts);
      tslen = strlen(ts) + 1;
    }
    size_t need = tslen + l->len + 1;
    if (q->limit_bytes >= 0 && (int64_t)(n + need) > q->limit_bytes) {
      /* Kubernetes cuts at limitBytes even mid-line. */
      size_t room = (size_t)q->limit_bytes > n ? (size_t)q->limit_bytes - n : 0;
      if (room) {
        char *tmp = kq_malloc(need);
        if (tslen) memcpy(tmp, ts, tslen - 1), tmp[tslen - 1] = ' ';
        memcpy(tmp + tslen, l->text, l->len);
        tmp[need - 1] = '\n';
        if (n + room + 1 > cap) out = kq_realloc(out, cap = n + room + 1);
        memcpy(out + n, tmp, room);
        n += room;
        free(tmp);
      }
      next = l->seq + 1;
      break;
    }
    if (n + need + 1 > cap) {
      while (n + need + 1 > cap) cap *= 2;
      out = kq_realloc(out, cap);
    }
    if (tslen) {
      memcpy(out + n, ts, tslen - 1);
      out[n + tslen - 1] = ' ';
      n += tslen;
    }
    memcpy(out + n, l->text, l->len);
    n += l->len;
    out[n++] = '\n';
    next = l->seq + 1;
  }
  out[n] = '\0';
  if (len) *len = n;
  if (next_seq) *next_seq = next;
  return out;
}

uint64_t kq_logstream_follow(kq_logstream_t *ls, const kq_log_follower_t *f) {
  follower_t *n = KQ_NEW(follower_t);
  n->id = ++ls->store->next_sub;
  n->cb = *f;
  n->next = ls->followers;
  ls->followers = n;
  return n->id;
}

void kq_logstore_unfollow(kq_logstore_t *s, uint64_t sub) {
  for (size_t i = 0; i < BUCKETS; i++)
    for (kq_logstream_t *ls = s->b[i]; ls; ls = ls->next)
      for (follower_t **pp = &ls->followers; *pp; pp = &(*pp)->next)
        if ((*pp)->id == sub) {
          follower_t *f = *pp;
          *pp = f->next;
          free(f);
          return;
        }
}
