/* In-flight blob table: digest → waiters, so two images sharing a layer download it once even
 * when their pulls run at the same time in different image actors. Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_alloc.h"
#include "kq_oci_pull.h"

typedef struct waiter {
  struct waiter *next;
  kq_aid_t aid;
  uint32_t wake_id;
  uint64_t cookie;
} waiter_t;

typedef struct flight {
  struct flight *next;
  char digest[KQ_OCI_DIGEST_MAX];
  waiter_t *waiters;
} flight_t;

struct kq_oci_inflight {
  kq_system_t *sys;
  flight_t *flights;
  size_t n;
};

kq_oci_inflight_t *kq_oci_inflight_new(kq_system_t *sys) {
  kq_oci_inflight_t *t = KQ_NEW(kq_oci_inflight_t);
  t->sys = sys;
  return t;
}

static void flight_free(flight_t *f) {
  while (f->waiters) {
    waiter_t *w = f->waiters;
    f->waiters = w->next;
    free(w);
  }
  free(f);
}

void kq_oci_inflight_free(kq_oci_inflight_t *t) {
  if (!t) return;
  while (t->flights) {
    flight_t *f = t->flights;
    t->flights = f->next;
    flight_free(f);
  }
  free(t);
}

static flight_t **find(kq_oci_inflight_t *t, const char *digest) {
  for (flight_t **pp = &t->flights; *pp; pp = &(*pp)->next)
    if (strcmp((*pp)->digest, digest) == 0) return pp;
  return NULL;
}

bool kq_oci_inflight_claim(kq_oci_inflight_t *t, const char *digest, kq_aid_t waiter, uint32_t wake_id,
                           uint64_t cookie) {
  if (!t || !digest) return true;
  flight_t **pp = find(t, digest);
  if (!pp) {
    flight_t *f = KQ_NEW(flight_t);
    snprintf(f->digest, sizeof f->digest, "%s", digest);
    f->next = t->flights;
    t->flights = f;
    t->n++;
    return true;
  }
  waiter_t *w = KQ_NEW(waiter_t);
  w->aid = waiter;
  w->wake_id = wake_id;
  w->cookie = cookie;
  w->next = (*pp)->waiters;
  (*pp)->waiters = w;
  return false;
}

void kq_oci_inflight_release(kq_oci_inflight_t *t, const char *digest) {
  if (!t || !digest) return;
  flight_t **pp = find(t, digest);
  if (!pp) return;
  flight_t *f = *pp;
  *pp = f->next;
  t->n--;
  for (waiter_t *w = f->waiters; w; w = w->next) {
    kq_oci_blob_wake_t *m = KQ_MSG_NEW(kq_oci_blob_wake_t, w->wake_id);
    m->cookie = w->cookie;
    snprintf(m->digest, sizeof m->digest, "%s", f->digest);
    kq_send(t->sys, w->aid, &m->hdr);   /* a dead waiter just drops it */
  }
  flight_free(f);
}

size_t kq_oci_inflight_count(const kq_oci_inflight_t *t) { return t ? t->n : 0; }
