/* libFuzzer target for the kuack.v1 decoder: any bytes must decode or fail cleanly (no crash,
 * leak or over-read; a consistent error). Whatever decodes must re-encode, decode again to the
 * same message, and re-encode to the same bytes (decode -> encode -> decode is stable). The
 * first byte picks tight or default limits so limit paths are reached with small inputs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kq_error.h"
#include "kq_proto.h"
#include "proto_fixtures.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kq_proto_limits_t tight = {.max_frame = 4096, .max_log_chunk = 16, .max_str = 24, .max_args = 3,
                             .max_env = 3, .max_labels = 2, .max_runs = 2, .max_depth = 4,
                             .max_keys = 14};
  const kq_proto_limits_t *lim = size > 0 && (data[0] & 1) ? &tight : NULL;
  kq_proto_msg_t m;
  kq_proto_error_t err;
  int rc = kq_proto_decode(data, size, lim, &m, &err);
  if (rc != KQ_OK) {
    if (rc != KQ_EPROTO && rc != KQ_ETOOBIG && rc != KQ_ENOTSUP) abort();
    if (err.rc != rc || m.type != KQ_PROTO_NONE) abort();
    if (strnlen(err.code, sizeof err.code) == sizeof err.code || !err.code[0]) abort();
    if (strnlen(err.message, sizeof err.message) == sizeof err.message || !err.message[0]) abort();
    if (strnlen(err.type, sizeof err.type) == sizeof err.type) abort();
    if (rc == KQ_ENOTSUP && (err.fatal || strcmp(err.code, "unknown_type") != 0)) abort();
    return 0;
  }
  kq_proto_buf_t b1, b2;
  kq_proto_buf_init(&b1, 16);
  kq_proto_buf_init(&b2, 0);
  if (kq_proto_encode(&m, &b1) != KQ_OK) abort();
  kq_proto_limits_t roomy = {.max_frame = UINT32_MAX};
  kq_proto_msg_t again;
  if (kq_proto_decode(kq_proto_buf_data(&b1), b1.len, lim ? &tight : &roomy, &again, &err) != KQ_OK)
    abort();
  char why[128];
  if (!kq_fx_equal(&m, &again, why, sizeof why)) abort();
  if (kq_proto_encode(&again, &b2) != KQ_OK) abort();
  if (b1.len != b2.len || memcmp(kq_proto_buf_data(&b1), kq_proto_buf_data(&b2), b1.len) != 0) abort();
  kq_proto_msg_clear(&again);
  kq_proto_msg_clear(&m);
  kq_proto_buf_free(&b1);
  kq_proto_buf_free(&b2);
  return 0;
}
