/* Internals of the kuack.v1 codec: a sticky-error msgpack cursor over one frame's bytes. Every
 * getter checks type and limits; the first failure is recorded and every later call is a no-op
 * returning a zero value, so decoders read straight-line without checking after each field. */
#ifndef KQ_PROTO_INTERNAL_H
#define KQ_PROTO_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kq_proto.h"

typedef enum {
  KQ_RD_NIL = 1,
  KQ_RD_BOOL,
  KQ_RD_UINT, /* non-negative integer, any encoding */
  KQ_RD_NINT, /* negative integer */
  KQ_RD_FLOAT,
  KQ_RD_STR,
  KQ_RD_BIN,
  KQ_RD_ARRAY,
  KQ_RD_MAP,
  KQ_RD_EXT,
} kq_rd_kind_t;

typedef struct kq_rd_tok {
  kq_rd_kind_t kind;
  bool b;
  uint64_t u;         /* UINT */
  int64_t i;          /* NINT */
  double f;           /* FLOAT */
  const uint8_t *ptr; /* STR, BIN, EXT payload */
  uint32_t len;       /* STR/BIN/EXT bytes, ARRAY/MAP entries */
} kq_rd_tok_t;

typedef struct kq_rd {
  const uint8_t *p;
  const uint8_t *end;
  kq_proto_limits_t lim;
  kq_proto_error_t *err; /* never NULL inside the codec */
  int rc;                /* sticky: first failure */
  char path[96];         /* "run.pod" while decoding inside pod */
  size_t pathlen;
  const char *field;     /* current key (static string from a key table) */
  int64_t index;         /* current array index, -1 none */
} kq_rd_t;

void kq_rd_init(kq_rd_t *r, const void *buf, size_t len, const kq_proto_limits_t *lim,
                kq_proto_error_t *err);
/* Records the first failure: rc (KQ_EPROTO/KQ_ETOOBIG/KQ_ENOTSUP), whether it is fatal, and a
 * message prefixed with the current path/field. */
void kq_rd_fail(kq_rd_t *r, int rc, bool fatal, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline bool kq_rd_ok(const kq_rd_t *r) { return r->rc == 0; }

/* Reads one header (and the payload of str/bin/ext). Truncation is fatal. */
bool kq_rd_next(kq_rd_t *r, kq_rd_tok_t *t);
/* Skips one whole value, checking nesting depth and map sizes. */
void kq_rd_skip(kq_rd_t *r, uint32_t depth);
/* Consumes a nil if that is what comes next. */
bool kq_rd_nil(kq_rd_t *r);

void kq_rd_push(kq_rd_t *r, const char *seg); /* path += "." seg (or seg at the root) */
void kq_rd_pop(kq_rd_t *r, size_t saved);

/* Typed getters: on a wrong type or limit they fail and return 0/NULL. */
char *kq_rd_str(kq_rd_t *r);                /* owned, validated UTF-8 without NUL */
uint64_t kq_rd_uint(kq_rd_t *r, uint64_t max);
int64_t kq_rd_int(kq_rd_t *r, int64_t min, int64_t max);
double kq_rd_unit(kq_rd_t *r);              /* float or int within 0..1 */
bool kq_rd_bool(kq_rd_t *r);
uint8_t *kq_rd_bin(kq_rd_t *r, uint32_t max, uint32_t *len); /* owned copy */
/* Array/map headers: fail when another type or more than `max` entries (KQ_ETOOBIG). */
bool kq_rd_array(kq_rd_t *r, uint32_t max, uint32_t *n);
bool kq_rd_map(kq_rd_t *r, uint32_t max, uint32_t *n);
/* Reads a map key and looks it up in `keys`; returns its index, or -1 when the entry should be
 * ignored (unknown key: value skipped; nil value: consumed). Sets bit index in *have when the
 * value is present, fails on a duplicate known key or a non-str key. */
int kq_rd_key(kq_rd_t *r, const char *const *keys, int nkeys, uint32_t *seen, uint32_t *have);
/* Fails naming the first key of `keys` whose bit is in `required` but not in `have`. */
void kq_rd_require(kq_rd_t *r, const char *const *keys, int nkeys, uint32_t required,
                   uint32_t have);

bool kq_proto_utf8_valid(const uint8_t *s, size_t n); /* also rejects NUL */

#endif
