/* Conformance fixtures for kuack.v1: one fully specified message per case, shared by the C unit
 * test, the frame generator (C -> JS) and the checker (JS -> C). agent/test/protocol.test.js holds
 * the same cases by name; change both together. */
#ifndef KQ_PROTO_FIXTURES_H
#define KQ_PROTO_FIXTURES_H
#include <stdbool.h>
#include <stddef.h>

#include "kq_proto.h"

size_t kq_fx_count(void);
const char *kq_fx_name(size_t i);
/* Builds fixture i into *m (owned: kq_proto_msg_clear). */
void kq_fx_build(size_t i, kq_proto_msg_t *m);
/* Deep comparison; on a difference returns false and describes it in why. */
bool kq_fx_equal(const kq_proto_msg_t *a, const kq_proto_msg_t *b, char *why, size_t whylen);

#endif
