/* The browser directory actor: the one place that knows which browser actor holds each agent
 * id. A hello with a live agent id supersedes the old session (4001) unless it presents that
 * session's id, in which case the old actor adopts the new connection (resume: runs and actor
 * address survive, so pods and the scheduler see nothing change). Also hands out browser and
 * session ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "browser_internal.h"
#include "kq_alloc.h"
#include "kq_log.h"

typedef struct dir_entry {
  struct dir_entry *next;
  char *agent_id;
  char *session_id;
  kq_aid_t aid;
  bool detached;
} dir_entry_t;

typedef struct dir_state {
  dir_entry_t **buckets;
  size_t nbuckets, count;
  uint64_t seq;     /* browser id counter */
  uint64_t rng;     /* xorshift state for session ids */
} dir_state_t;

static void bdir_dtor(kq_msg_t *m) {
  bdir_msg_t *b = (bdir_msg_t *)m;
  free(b->agent_id);
  free(b->session_id);
  free(b->browser_id);
  kq_proto_msg_clear(&b->hello);
}

bdir_msg_t *bdir_msg_new(uint32_t id) {
  bdir_msg_t *m = KQ_MSG_NEW(bdir_msg_t, id);
  m->hdr.dtor = bdir_dtor;
  return m;
}

bool kq_browser_token_eq(const char *want, const char *got) {
  size_t a = strlen(want), b = got ? strlen(got) : 0;
  volatile unsigned char d = (unsigned char)(a != b);
  for (size_t i = 0; i < a; i++) d |= (unsigned char)(want[i] ^ (i < b ? got[i] : 0));
  return d == 0;
}

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static uint64_t next_rand(dir_state_t *d) {
  uint64_t x = d->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  d->rng = x;
  return x * 0x2545F4914F6CDD1Dull;
}

static dir_entry_t **find(dir_state_t *d, const char *agent_id) {
  dir_entry_t **pp = &d->buckets[hash_str(agent_id) & (d->nbuckets - 1)];
  while (*pp && strcmp((*pp)->agent_id, agent_id) != 0) pp = &(*pp)->next;
  return pp;
}

static void grow(dir_state_t *d) {
  size_t n = d->nbuckets * 2;
  dir_entry_t **b = kq_calloc(n, sizeof(*b));
  for (size_t i = 0; i < d->nbuckets; i++) {
    dir_entry_t *e = d->buckets[i];
    while (e) {
      dir_entry_t *next = e->next;
      size_t k = hash_str(e->agent_id) & (n - 1);
      e->next = b[k];
      b[k] = e;
      e = next;
    }
  }
  free(d->buckets);
  d->buckets = b;
  d->nbuckets = n;
}

static void free_entry(dir_entry_t *e) {
  free(e->agent_id);
  free(e->session_id);
  free(e);
}

static int dir_init(kq_actor_t *self, void *state, void *arg) {
  dir_state_t *d = state;
  d->nbuckets = 256;
  d->buckets = kq_calloc(d->nbuckets, sizeof(*d->buckets));
  if (getrandom(&d->rng, sizeof(d->rng), 0) != sizeof(d->rng) || d->rng == 0)
    d->rng = kq_wall_ns(kq_system_clock(kq_actor_system(self))) | 1;
  return 0;
}

static void dir_stop(kq_actor_t *self, void *state) {
  dir_state_t *d = state;
  for (size_t i = 0; i < d->nbuckets; i++) {
    dir_entry_t *e = d->buckets[i];
    while (e) {
      dir_entry_t *n = e->next;
      free_entry(e);
      e = n;
    }
  }
  free(d->buckets);
}

static void on_claim(kq_actor_t *self, dir_state_t *d, bdir_msg_t *m) {
  dir_entry_t **pp = find(d, m->agent_id);
  dir_entry_t *e = *pp;
  const char *presented = m->hello.hello.session_id;
  if (e && kq_actor_alive(kq_actor_system(self), e->aid) && presented && e->session_id &&
      kq_browser_token_eq(e->session_id, presented)) {
    /* Resume: the old actor adopts the connection; the new one steps aside. */
    bdir_msg_t *a = bdir_msg_new(BDIR_ATTACH);
    a->conn = m->conn;
    a->conn_id = m->conn_id;
    a->hello = m->hello;
    memset(&m->hello, 0, sizeof(m->hello));
    kq_tell(self, e->aid, &a->hdr);
    kq_tell(self, m->hdr.from, &bdir_msg_new(BDIR_HANDOVER)->hdr);
    e->detached = false;
    return;
  }
  if (e) {
    if (e->aid != m->hdr.from) kq_tell(self, e->aid, &bdir_msg_new(BDIR_SUPERSEDE)->hdr);
  } else {
    e = KQ_NEW(dir_entry_t);
    e->agent_id = kq_strdup(m->agent_id);
    e->next = *pp;
    *pp = e;
    if (++d->count > d->nbuckets) grow(d);
  }
  free(e->session_id);
  e->session_id = kq_asprintf("s-%016llx%016llx", (unsigned long long)next_rand(d),
                              (unsigned long long)next_rand(d));
  e->aid = m->hdr.from;
  e->detached = false;
  bdir_msg_t *r = bdir_msg_new(BDIR_ACCEPT);
  r->session_id = kq_strdup(e->session_id);
  r->browser_id = kq_asprintf("b-%04llx%04llx", (unsigned long long)(next_rand(d) & 0xffff),
                              (unsigned long long)(++d->seq & 0xffff));
  kq_tell(self, m->hdr.from, &r->hdr);
}

static void dir_dispatch(kq_actor_t *self, void *state, kq_msg_t *msg) {
  dir_state_t *d = state;
  bdir_msg_t *m = (bdir_msg_t *)msg;
  switch (msg->id) {
  case BDIR_CLAIM:
    if (m->agent_id) on_claim(self, d, m);
    break;
  case BDIR_DETACHED: {
    dir_entry_t *e = m->agent_id ? *find(d, m->agent_id) : NULL;
    if (e && e->aid == msg->from) e->detached = true;
    break;
  }
  case BDIR_GONE: {
    if (!m->agent_id) break;
    dir_entry_t **pp = find(d, m->agent_id);
    if (*pp && (*pp)->aid == msg->from) {
      dir_entry_t *e = *pp;
      *pp = e->next;
      free_entry(e);
      d->count--;
    }
    break;
  }
  default:
    KQ_WARN("browsers", "unexpected message", "id=%u", msg->id);
  }
}

const kq_actor_type_t kq_browser_dir_type = {
    .name = "browser_dir",
    .state_size = sizeof(dir_state_t),
    .init = dir_init,
    .dispatch = dir_dispatch,
    .stop = dir_stop,
};
