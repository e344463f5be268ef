/* kuack's one error family. Every fallible function returns KQ_OK (0) or a negative KQ_E* code;
 * kq_strerror() names it for logs, HTTP bodies and Pod messages. */
#ifndef KQ_ERROR_H
#define KQ_ERROR_H

#define KQ_ERRORS(X)                                                    \
  X(KQ_OK, 0, "ok")                                                     \
  X(KQ_ENOMEM, -1, "out of memory")                                     \
  X(KQ_EINVAL, -2, "invalid argument")                                  \
  X(KQ_ENOENT, -3, "not found")                                         \
  X(KQ_EEXIST, -4, "already exists")                                    \
  X(KQ_EBUSY, -5, "busy")                                               \
  X(KQ_EAGAIN, -6, "try again")                                         \
  X(KQ_ETOOBIG, -7, "too big")                                          \
  X(KQ_EPROTO, -8, "protocol error")                                    \
  X(KQ_EIO, -9, "i/o error")                                            \
  X(KQ_ETIMEDOUT, -10, "timed out")                                     \
  X(KQ_ECANCELED, -11, "canceled")                                      \
  X(KQ_EAUTH, -12, "unauthorized")                                      \
  X(KQ_EDIGEST, -13, "digest mismatch")                                 \
  X(KQ_ENOTSUP, -14, "not supported")                                   \
  X(KQ_ESTOPPED, -15, "actor stopped")                                  \
  X(KQ_EHTTP, -16, "http error status")                                 \
  X(KQ_ENET, -17, "network error")                                      \
  X(KQ_ETLS, -18, "tls error")                                          \
  X(KQ_EOVERLOAD, -19, "overloaded")                                    \
  X(KQ_EPARSE, -20, "parse error")                                      \
  X(KQ_ESECURITY, -21, "refused for safety")

typedef enum kq_err {
#define KQ_ERR_ENUM_(name, value, text) name = value,
  KQ_ERRORS(KQ_ERR_ENUM_)
#undef KQ_ERR_ENUM_
} kq_err_t;

/* Returns a static string for `err` ("unknown error" for codes outside the list). */
const char *kq_strerror(int err);

/* Returns the symbolic name of `err` ("KQ_EINVAL"), static. */
const char *kq_errname(int err);

#endif
