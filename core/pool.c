/* Worker pool: pthreads take jobs from a FIFO; finished jobs go on a done queue and wake the loop
 * through an eventfd watched by an ordinary event on the system's event_base. No libevent locking
 * is involved (workers never touch the base), so evthread_use_pthreads() is not required. The
 * loop thread turns each finished job into a kq_pool_msg_t sent to its submitter. */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_log.h"
#include "kq_pool.h"

#define POOL_MAX_THREADS 8u

typedef struct pool_job {
  struct pool_job *next;
  uint64_t id;
  kq_aid_t owner;
  uint32_t reply_id;
  kq_pool_fn fn;
  void *arg;
  void *result;
  int rc;
  void (*free_arg)(void *);
  void (*free_result)(void *);
} pool_job_t;

typedef struct job_fifo {
  pool_job_t *head, *tail;
} job_fifo_t;

struct kq_pool {
  kq_system_t *sys;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  job_fifo_t queued;      /* not started (mu) */
  job_fifo_t done;        /* finished, not yet delivered (mu) */
  bool stopping;          /* (mu) */
  pthread_t *threads;
  unsigned nthreads;
  int efd;
  struct event *ev;
  uint64_t next_job;      /* loop thread only */
  size_t pending;         /* submitted, not yet delivered; loop thread only */
};

static void fifo_push(job_fifo_t *f, pool_job_t *j) {
  j->next = NULL;
  if (f->tail) f->tail->next = j; else f->head = j;
  f->tail = j;
}

static pool_job_t *fifo_take_all(job_fifo_t *f) {
  pool_job_t *j = f->head;
  f->head = f->tail = NULL;
  return j;
}

static void *worker_main(void *arg) {
  kq_pool_t *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->stopping && !p->queued.head) pthread_cond_wait(&p->cv, &p->mu);
    if (p->stopping) break;
    pool_job_t *j = p->queued.head;
    p->queued.head = j->next;
    if (!p->queued.head) p->queued.tail = NULL;
    pthread_mutex_unlock(&p->mu);

    j->result = NULL;
    j->rc = j->fn(j->arg, &j->result);

    pthread_mutex_lock(&p->mu);
    bool wake = p->done.head == NULL;
    fifo_push(&p->done, j);
    if (wake) {
      uint64_t one = 1;
      /* a full counter (EAGAIN) already means "wake up" */
      while (write(p->efd, &one, sizeof one) < 0 && errno == EINTR) {}
    }
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static void pool_msg_dtor(kq_msg_t *m) {
  kq_pool_msg_t *pm = (kq_pool_msg_t *)m;
  if (pm->free_arg && pm->arg) pm->free_arg(pm->arg);
  if (pm->free_result && pm->result) pm->free_result(pm->result);
}

/* Loop thread: sends each finished job to its submitter (freed by kq_send if it is gone). */
static void deliver(kq_pool_t *p, pool_job_t *j) {
  while (j) {
    pool_job_t *next = j->next;
    kq_pool_msg_t *m = KQ_MSG_NEW(kq_pool_msg_t, j->reply_id);
    m->hdr.dtor = pool_msg_dtor;
    m->job = j->id;
    m->rc = j->rc;
    m->arg = j->arg;
    m->result = j->result;
    m->free_arg = j->free_arg;
    m->free_result = j->free_result;
    kq_send(p->sys, j->owner, &m->hdr);
    free(j);
    p->pending--;
    kq_system_handle_unref(p->sys);
    j = next;
  }
}

static void on_wake(evutil_socket_t fd, short what, void *arg) {
  kq_pool_t *p = arg;
  uint64_t n;
  while (read(p->efd, &n, sizeof n) < 0 && errno == EINTR) {}
  pthread_mutex_lock(&p->mu);
  pool_job_t *j = fifo_take_all(&p->done);
  pthread_mutex_unlock(&p->mu);
  deliver(p, j);
}

kq_pool_t *kq_pool_new(kq_system_t *sys, unsigned nthreads) {
  if (nthreads == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    nthreads = cpus > 0 ? (unsigned)cpus : 1;
  }
  if (nthreads > POOL_MAX_THREADS) nthreads = POOL_MAX_THREADS;
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) {
    KQ_ERROR("pool", "eventfd failed", "errno=%d", errno);
    return NULL;
  }
  kq_pool_t *p = KQ_NEW(kq_pool_t);
  p->sys = sys;
  p->efd = efd;
  p->next_job = 1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->ev = event_new(kq_system_base(sys), efd, EV_READ | EV_PERSIST, on_wake, p);
  event_add(p->ev, NULL);
  p->threads = kq_calloc(nthreads, sizeof(pthread_t));
  for (unsigned i = 0; i < nthreads; i++) {
    if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
      KQ_ERROR("pool", "pthread_create failed", "started=%u wanted=%u", i, nthreads);
      break;
    }
    p->nthreads++;
  }
  if (p->nthreads == 0) {
    kq_pool_free(p);
    return NULL;
  }
  return p;
}

void kq_pool_free(kq_pool_t *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stopping = true;
  pool_job_t *dropped = fifo_take_all(&p->queued);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  /* Dropped args are freed before the join: a running job may be waiting on one of them. */
  while (dropped) {
    pool_job_t *next = dropped->next;
    if (dropped->free_arg && dropped->arg) dropped->free_arg(dropped->arg);
    free(dropped);
    p->pending--;
    kq_system_handle_unref(p->sys);
    dropped = next;
  }
  for (unsigned i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
  /* Jobs that finished still reach live submitters; replies to dead ones are freed by kq_send. */
  deliver(p, fifo_take_all(&p->done));
  event_free(p->ev);
  close(p->efd);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p->threads);
  free(p);
}

uint64_t kq_pool_submit(kq_pool_t *p, kq_aid_t owner, uint32_t reply_id, kq_pool_fn fn, void *arg,
                        void (*free_arg)(void *), void (*free_result)(void *)) {
  if (!p || !fn) {
    if (free_arg && arg) free_arg(arg);
    return 0;
  }
  pool_job_t *j = KQ_NEW(pool_job_t);
  j->id = p->next_job++;
  j->owner = owner;
  j->reply_id = reply_id;
  j->fn = fn;
  j->arg = arg;
  j->free_arg = free_arg;
  j->free_result = free_result;
  p->pending++;
  kq_system_handle_ref(p->sys);
  pthread_mutex_lock(&p->mu);
  fifo_push(&p->queued, j);
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  return j->id;
}

size_t kq_pool_pending(const kq_pool_t *p) { return p ? p->pending : 0; }
