/* The browser directory actor: the one place that knows which browser actor holds each agent
 * id. A hello with a live agent id supersedes the old session (4001) unless it presents that
 * session's id, in which case the old actor adopts the new connection (resume: runs and actor
 * address survive, so pods and the scheduler see nothing change). It also owns the plane's one
 * deadline timer: every tick_ms it sweeps the deadline table and ticks the browsers that are
 * due. Browser and session ids come from the plane's generator (bids_*). Every 30 s of sweeps it
 * also hands the heap holes a burst of connections left behind back to the OS (kq_heap_release):
 * idle browsers are the node's memory, and a registration burst should not cost it for good. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "browser_internal.h"
#include "kq_alloc.h"
#include "kq_log.h"

/* One per agent; the session id is kept as its two numbers (one entry per browser: 10,000 idle
 * browsers make this part of the node's memory per connection). */
typedef struct dir_entry {
  struct dir_entry *next;
  kq_aid_t aid;
  uint64_t sid[2]; /* session id "s-" + 32 hex digits (bids_session), when has_sid */
  bool has_sid;
  bool detached;
  char agent_id[]; /* part of the allocation */
} dir_entry_t;

/* Parses a session id as bids_session writes it (lowercase hex only); false for anything else. */
static bool sid_parse(const char *s, uint64_t out[2]) {
  if (!s || s[0] != 's' || s[1] != '-' || strlen(s) != BID_SESSION_LEN) return false;
  out[0] = out[1] = 0;
  for (int i = 0; i < 32; i++) {
    char c = s[2 + i];
    unsigned v;
    if (c >= '0' && c <= '9')
      v = (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v = (unsigned)(c - 'a' + 10);
    else
      return false;
    out[i / 16] = out[i / 16] << 4 | v;
  }
  return true;
}

/* Constant-time comparison of a presented session id with the entry's. */
static bool sid_matches(const dir_entry_t *e, const char *presented) {
  uint64_t p[2];
  if (!e->has_sid || !sid_parse(presented, p)) return false;
  volatile uint64_t d = (p[0] ^ e->sid[0]) | (p[1] ^ e->sid[1]);
  return d == 0;
}

typedef struct dir_state {
  plane_priv_t *pp;
  dir_entry_t **buckets;
  size_t nbuckets, count;
  uint32_t sweeps; /* since the last heap release check */
} dir_state_t;

enum { HEAP_RELEASE_EVERY_MS = 30000, HEAP_RELEASE_MIN_FREE = 1 << 20 };

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

static void sweep(kq_actor_t *self, plane_priv_t *pp) {
  uint64_t now = kq_now_ns(kq_system_clock(kq_actor_system(self)));
  for (uint32_t i = 0; i < pp->nsweep; i++) {
    sweep_entry_t *e = &pp->sweep[i];
    if (e->aid == KQ_AID_NONE || e->due_ns > now) continue;
    e->due_ns = UINT64_MAX; /* the browser sets its next deadline when it takes the tick */
    kq_send_signal(kq_actor_system(self), kq_self(self), e->aid, BDIR_TICK);
  }
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
  free(e);
}

static int dir_init(kq_actor_t *self, void *state, void *arg) {
  dir_state_t *d = state;
  d->pp = arg;
  d->nbuckets = 256;
  d->buckets = kq_calloc(d->nbuckets, sizeof(*d->buckets));
  uint64_t tick = KQ_MS(d->pp->cfg.tick_ms);
  kq_timer_start(self, tick, tick, 0);
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

/* Records `from` as the live session of agent_id (superseding another live one). */
static dir_entry_t *take_over(kq_actor_t *self, dir_state_t *d, const char *agent_id,
                              kq_aid_t from) {
  dir_entry_t **pp = find(d, agent_id);
  dir_entry_t *e = *pp;
  if (e) {
    if (e->aid != from) kq_tell(self, e->aid, &bdir_msg_new(BDIR_SUPERSEDE)->hdr);
  } else {
    size_t n = strlen(agent_id);
    e = kq_calloc(1, offsetof(dir_entry_t, agent_id) + n + 1);
    memcpy(e->agent_id, agent_id, n + 1);
    e->next = *pp;
    *pp = e;
    if (++d->count > d->nbuckets) grow(d);
  }
  e->aid = from;
  e->detached = false;
  return e;
}

static void on_claim(kq_actor_t *self, dir_state_t *d, bdir_msg_t *m) {
  dir_entry_t *e = *find(d, m->agent_id);
  const char *presented = m->hello.hello.session_id;
  if (e && e->aid != m->hdr.from && kq_actor_alive(kq_actor_system(self), e->aid) && presented &&
      sid_matches(e, presented)) {
    /* Resume: the new actor hands the connection (and frames it got meanwhile) to the old one. */
    bdir_msg_t *h = bdir_msg_new(BDIR_HANDOVER);
    h->conn = e->aid;
    h->hello = m->hello;
    memset(&m->hello, 0, sizeof(m->hello));
    kq_tell(self, m->hdr.from, &h->hdr);
    e->detached = false;
    return;
  }
  e = take_over(self, d, m->agent_id, m->hdr.from);
  char sid[BID_SESSION_LEN + 1];
  bids_session(d->pp, sid);
  e->has_sid = sid_parse(sid, e->sid);
  char bid[BID_BROWSER_LEN + 1];
  bids_browser(d->pp, bid);
  bdir_msg_t *r = bdir_msg_new(BDIR_ACCEPT);
  r->session_id = kq_strdup(sid);
  r->browser_id = kq_strdup(bid);
  kq_tell(self, m->hdr.from, &r->hdr);
}

static void on_register(kq_actor_t *self, dir_state_t *d, bdir_msg_t *m) {
  dir_entry_t *e = take_over(self, d, m->agent_id, m->hdr.from);
  e->has_sid = sid_parse(m->session_id, e->sid);
}

static void dir_dispatch(kq_actor_t *self, void *state, kq_msg_t *msg) {
  dir_state_t *d = state;
  bdir_msg_t *m = (bdir_msg_t *)msg;
  switch (msg->id) {
    case KQ_MSG_TIMER:
      sweep(self, d->pp);
      if (++d->sweeps * (uint64_t)d->pp->cfg.tick_ms >= HEAP_RELEASE_EVERY_MS) {
        d->sweeps = 0;
        kq_heap_release(HEAP_RELEASE_MIN_FREE);
      }
      break;
    case BDIR_CLAIM:
      if (m->agent_id) on_claim(self, d, m);
      break;
    case BDIR_REGISTER:
      if (m->agent_id) on_register(self, d, m);
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
