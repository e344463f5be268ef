/* kq_strerror / kq_errname: the one error family's names, generated from the X-macro list in
 * kq_error.h so the enum and its texts cannot drift apart. */
#include "kq_error.h"

const char *kq_strerror(int err) {
  switch (err) {
#define KQ_ERR_TEXT_(name, value, text) \
  case value:                           \
    return text;
    KQ_ERRORS(KQ_ERR_TEXT_)
#undef KQ_ERR_TEXT_
    default:
      return "unknown error";
  }
}

const char *kq_errname(int err) {
  switch (err) {
#define KQ_ERR_NAME_(name, value, text) \
  case value:                           \
    return #name;
    KQ_ERRORS(KQ_ERR_NAME_)
#undef KQ_ERR_NAME_
    default:
      return "KQ_E?";
  }
}
