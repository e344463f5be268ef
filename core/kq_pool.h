/* A small pool of threads for blocking or CPU-heavy work (decompression, hashing, tar extraction).
 * Jobs never touch actors; their results come back to the loop as messages to the submitter.
 * Workers wake the loop through an eventfd watched by an ordinary event, so libevent's thread
 * support (evthread_use_pthreads) is NOT required and the event_base may be created any time.
 * All kq_pool_* calls are loop-thread only. */
#ifndef KQ_POOL_H
#define KQ_POOL_H
#include "kq_actor.h"

typedef struct kq_pool kq_pool_t;

/* Job function: runs on a worker thread with `arg`; returns KQ_OK or an error; may set *result
 * (owned by the job until delivered). Must not call any kq_* function except alloc/log. */
typedef int (*kq_pool_fn)(void *arg, void **result);

/* Reply message delivered to the submitter with the id it chose. `arg` and `result` are handed
 * back; `free_arg`/`free_result` passed at submit are run by the message dtor if still set. */
typedef struct kq_pool_msg {
  kq_msg_t hdr;
  uint64_t job;
  int rc;
  void *arg;
  void *result;
  void (*free_arg)(void *);
  void (*free_result)(void *);
} kq_pool_msg_t;

/* Creates `nthreads` workers (0 = number of CPUs, at most 8) on the system's loop. Returns owned. */
kq_pool_t *kq_pool_new(kq_system_t *sys, unsigned nthreads);
/* Stops the workers after finishing queued jobs' current run; jobs not started are dropped and
 * their args freed (before the running jobs are joined). Replies of finished jobs are sent (to
 * live actors) or freed (dead ones). Call before kq_system_close: pending jobs are handles. */
void kq_pool_free(kq_pool_t *p);

/* Queues `fn(arg)`; the reply (id `reply_id`) goes to `owner`. Takes ownership of `arg`
 * (freed with free_arg, may be NULL). Returns the job id (never 0 for a valid call; 0 when p or
 * fn is NULL, arg then freed). Counts as a system handle until its reply is delivered. */
uint64_t kq_pool_submit(kq_pool_t *p, kq_aid_t owner, uint32_t reply_id, kq_pool_fn fn, void *arg,
                        void (*free_arg)(void *), void (*free_result)(void *));
size_t kq_pool_pending(const kq_pool_t *p);

#endif
