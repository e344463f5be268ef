/* kuack.v1 codec: round trips of every message, every malformed case we can name (truncated,
 * wrong types, missing fields, limits, nesting, UTF-8, unknown types/fields), encoder checks. */
#include <math.h>
#include <msgpack.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_proto.h"
#include "proto_fixtures.h"

/* ---- frame builder (msgpack-c sbuffer) ---- */

typedef struct fb {
  msgpack_sbuffer sb;
  msgpack_packer pk;
} fb_t;

static void fb_init(fb_t *f) {
  msgpack_sbuffer_init(&f->sb);
  msgpack_packer_init(&f->pk, &f->sb, msgpack_sbuffer_write);
}
static void fb_free(fb_t *f) { msgpack_sbuffer_destroy(&f->sb); }
static void fb_map(fb_t *f, uint32_t n) { msgpack_pack_map(&f->pk, n); }
static void fb_arr(fb_t *f, uint32_t n) { msgpack_pack_array(&f->pk, n); }
static void fb_strn(fb_t *f, const char *s, size_t n) {
  msgpack_pack_str(&f->pk, n);
  msgpack_pack_str_body(&f->pk, s, n);
}
static void fb_str(fb_t *f, const char *s) { fb_strn(f, s, strlen(s)); }
static void fb_uint(fb_t *f, uint64_t v) { msgpack_pack_uint64(&f->pk, v); }
static void fb_int(fb_t *f, int64_t v) { msgpack_pack_int64(&f->pk, v); }
static void fb_nil(fb_t *f) { msgpack_pack_nil(&f->pk); }
static void fb_bool(fb_t *f, bool b) { b ? msgpack_pack_true(&f->pk) : msgpack_pack_false(&f->pk); }

/* Decodes and returns rc; fills err. The message is always cleared afterwards. */
static int dec(const void *p, size_t n, const kq_proto_limits_t *lim, kq_proto_error_t *err) {
  kq_proto_msg_t m;
  int rc = kq_proto_decode(p, n, lim, &m, err);
  if (rc != KQ_OK) assert_int_equal(m.type, KQ_PROTO_NONE); /* left cleared */
  kq_proto_msg_clear(&m);
  return rc;
}

static int dec_fb(fb_t *f, const kq_proto_limits_t *lim, kq_proto_error_t *err) {
  return dec(f->sb.data, f->sb.size, lim, err);
}

/* ---- round trips ---- */

static void test_round_trip_every_fixture(void **state) {
  kq_proto_buf_t b;
  kq_proto_buf_init(&b, 16);
  for (size_t i = 0; i < kq_fx_count(); i++) {
    kq_proto_msg_t want, got, again;
    kq_fx_build(i, &want);
    assert_int_equal(kq_proto_encode(&want, &b), KQ_OK);
    assert_true(b.len > 0);
    kq_proto_error_t err;
    int rc = kq_proto_decode(kq_proto_buf_data(&b), b.len, NULL, &got, &err);
    if (rc != KQ_OK) fail_msg("%s: %s %s", kq_fx_name(i), err.code, err.message);
    char why[128];
    if (!kq_fx_equal(&want, &got, why, sizeof why)) fail_msg("%s: %s", kq_fx_name(i), why);
    /* encode(decode(x)) is byte-identical to x: one canonical form */
    size_t len1 = b.len;
    uint8_t *copy = malloc(len1);
    memcpy(copy, kq_proto_buf_data(&b), len1);
    assert_int_equal(kq_proto_encode(&got, &b), KQ_OK);
    assert_int_equal(b.len, len1);
    assert_memory_equal(kq_proto_buf_data(&b), copy, len1);
    assert_int_equal(kq_proto_decode(copy, len1, NULL, &again, NULL), KQ_OK);
    assert_true(kq_fx_equal(&want, &again, why, sizeof why));
    free(copy);
    kq_proto_msg_clear(&again);
    kq_proto_msg_clear(&got);
    kq_proto_msg_clear(&want);
  }
  kq_proto_buf_free(&b);
}

static void test_minor_version_round_trips(void **state) {
  kq_proto_msg_t m = {.type = KQ_PROTO_BYE, .minor = 3}, got;
  kq_proto_buf_t b;
  kq_proto_buf_init(&b, 0);
  assert_int_equal(kq_proto_encode(&m, &b), KQ_OK);
  assert_int_equal(kq_proto_decode(kq_proto_buf_data(&b), b.len, NULL, &got, NULL), KQ_OK);
  assert_int_equal(got.type, KQ_PROTO_BYE);
  assert_int_equal(got.minor, 3);
  kq_proto_msg_clear(&got);
  kq_proto_buf_free(&b);
}

static void test_headroom_and_steal(void **state) {
  kq_proto_msg_t m = {.type = KQ_PROTO_PING, .ping = {.nonce = 1, .t_ns = 2}};
  kq_proto_buf_t b;
  kq_proto_buf_init(&b, 16);
  assert_null(kq_proto_buf_data(&b));
  assert_int_equal(kq_proto_encode(&m, &b), KQ_OK);
  assert_ptr_equal(kq_proto_buf_data(&b), b.mem + 16);
  memset(b.mem, 0xaa, 16); /* headroom is ours to write (lws_write does) */
  size_t len;
  uint8_t *block = kq_proto_buf_steal(&b, &len);
  assert_non_null(block);
  assert_int_equal(len, 1 + 2 + 5 + 6 + 1 + 5 + 1); /* {t:"ping", nonce:1, t_ns:2} */
  assert_int_equal(block[16], 0x83);
  kq_proto_msg_t got;
  assert_int_equal(kq_proto_decode(block + 16, len, NULL, &got, NULL), KQ_OK);
  assert_int_equal(got.ping.t_ns, 2);
  free(block);
  assert_null(b.mem);
  assert_int_equal(b.len, 0);
  assert_null(kq_proto_buf_steal(&b, &len));
  /* large frames grow the buffer */
  kq_proto_msg_t lg = {.type = KQ_PROTO_LOG, .log = {.run_id = "r", .stream = 1, .len = 100000}};
  lg.log.data = calloc(1, 100000);
  assert_int_equal(kq_proto_encode(&lg, &b), KQ_OK);
  assert_true(b.len > 100000 && b.cap >= b.len);
  kq_proto_limits_t lim = {.max_log_chunk = 200000};
  assert_int_equal(kq_proto_decode(kq_proto_buf_data(&b), b.len, &lim, &got, NULL), KQ_OK);
  assert_int_equal(got.log.len, 100000);
  kq_proto_msg_clear(&got);
  free(lg.log.data);
  kq_proto_buf_free(&b);
}

static void test_encode_rejects_incomplete(void **state) {
  kq_proto_buf_t b;
  kq_proto_buf_init(&b, 0);
  kq_proto_msg_t m = {.type = KQ_PROTO_HELLO, .hello = {.token = "x"}};
  assert_int_equal(kq_proto_encode(&m, &b), KQ_EINVAL);
  assert_int_equal(b.len, 0);
  m = (kq_proto_msg_t){.type = KQ_PROTO_STATUS, .status = {.run_id = "r", .phase = KQ_PROTO_PHASE_EXITED}};
  assert_int_equal(kq_proto_encode(&m, &b), KQ_EINVAL);
  m = (kq_proto_msg_t){.type = KQ_PROTO_STATUS, .status = {.run_id = "r", .phase = 99}};
  assert_int_equal(kq_proto_encode(&m, &b), KQ_EINVAL);
  m = (kq_proto_msg_t){.type = KQ_PROTO_LOG, .log = {.run_id = "r", .stream = 3}};
  assert_int_equal(kq_proto_encode(&m, &b), KQ_EINVAL);
  m = (kq_proto_msg_t){.type = KQ_PROTO_RUN};
  assert_int_equal(kq_proto_encode(&m, &b), KQ_EINVAL);
  m = (kq_proto_msg_t){.type = KQ_PROTO_HEARTBEAT, .heartbeat = {.load = 1.5}};
  assert_int_equal(kq_proto_encode(&m, &b), KQ_EINVAL);
  m = (kq_proto_msg_t){.type = KQ_PROTO_NONE};
  assert_int_equal(kq_proto_encode(&m, &b), KQ_EINVAL);
  m = (kq_proto_msg_t){.type = KQ_PROTO_ERROR};
  assert_int_equal(kq_proto_encode(&m, &b), KQ_EINVAL);
  kq_proto_buf_free(&b);
}

static void test_names(void **state) {
  for (int t = KQ_PROTO_HELLO; t < KQ_PROTO_TYPE_COUNT_; t++) {
    const char *n = kq_proto_type_name((kq_proto_type_t)t);
    assert_int_equal(kq_proto_type_from_name(n, strlen(n)), t);
    assert_true(kq_proto_type_dir((kq_proto_type_t)t) != 0);
  }
  assert_int_equal(kq_proto_type_from_name("hell", 4), KQ_PROTO_NONE);
  assert_int_equal(kq_proto_type_from_name("hello!", 5), KQ_PROTO_HELLO);
  assert_string_equal(kq_proto_type_name(0), "?");
  assert_int_equal(kq_proto_type_dir(KQ_PROTO_RUN), KQ_PROTO_DIR_N2A);
  assert_int_equal(kq_proto_type_dir(KQ_PROTO_LOG), KQ_PROTO_DIR_A2N);
  assert_int_equal(kq_proto_type_dir(KQ_PROTO_BYE), KQ_PROTO_DIR_BOTH);
  assert_string_equal(kq_proto_phase_name(KQ_PROTO_PHASE_CANCELLED), "cancelled");
  assert_string_equal(kq_proto_kind_name(KQ_PROTO_KIND_BINDGEN), "bindgen");
}

/* ---- malformed frames ---- */

static void expect_fail(int rc, const kq_proto_error_t *e, int want_rc, bool fatal, const char *code,
                        const char *msg_part) {
  if (rc != want_rc || e->fatal != fatal || strcmp(e->code, code) != 0 ||
      (msg_part && !strstr(e->message, msg_part)))
    fail_msg("got rc=%d fatal=%d code=%s msg='%s'; want rc=%d fatal=%d code=%s msg~'%s'", rc,
             e->fatal, e->code, e->message, want_rc, fatal, code, msg_part ? msg_part : "");
}

static void test_every_truncation_is_fatal(void **state) {
  kq_proto_buf_t b;
  kq_proto_buf_init(&b, 0);
  for (size_t i = 0; i < kq_fx_count(); i++) {
    kq_proto_msg_t m;
    kq_fx_build(i, &m);
    assert_int_equal(kq_proto_encode(&m, &b), KQ_OK);
    kq_proto_msg_clear(&m);
    for (size_t cut = 0; cut < b.len; cut++) {
      kq_proto_error_t e;
      uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan catches any over-read */
      memcpy(copy, kq_proto_buf_data(&b), cut);
      int rc = dec(copy, cut, NULL, &e);
      free(copy);
      assert_int_equal(rc, KQ_EPROTO);
      assert_true(e.fatal);
      assert_string_equal(e.code, "bad_message");
    }
  }
  kq_proto_buf_free(&b);
}

static void test_frame_shape(void **state) {
  kq_proto_error_t e;
  static const uint8_t arr[] = {0x91, 0x01}, num[] = {0x05}, str[] = {0xa1, 't'};
  static const uint8_t c1[] = {0x81, 0xa1, 't', 0xc1};
  static const uint8_t trailing[] = {0x81, 0xa1, 't', 0xa3, 'b', 'y', 'e', 0x00};
  static const uint8_t huge_count[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x00};
  static const uint8_t huge_str[] = {0x81, 0xa1, 't', 0xdb, 0x7f, 0xff, 0xff, 0xff, 'x'};
  expect_fail(dec(arr, sizeof arr, NULL, &e), &e, KQ_EPROTO, true, "bad_message", "not a msgpack map");
  expect_fail(dec(num, sizeof num, NULL, &e), &e, KQ_EPROTO, true, "bad_message", "not a msgpack map");
  expect_fail(dec(str, sizeof str, NULL, &e), &e, KQ_EPROTO, true, "bad_message", "not a msgpack map");
  expect_fail(dec(c1, sizeof c1, NULL, &e), &e, KQ_EPROTO, true, "bad_message", "0xc1");
  expect_fail(dec(trailing, sizeof trailing, NULL, &e), &e, KQ_EPROTO, true, "bad_message", "trailing");
  expect_fail(dec(huge_count, sizeof huge_count, NULL, &e), &e, KQ_EPROTO, true, "bad_message", "truncated");
  expect_fail(dec(huge_str, sizeof huge_str, NULL, &e), &e, KQ_EPROTO, true, "bad_message", "truncated");
  expect_fail(dec("", 0, NULL, &e), &e, KQ_EPROTO, true, "bad_message", "truncated");
  assert_int_equal(dec(trailing, sizeof trailing - 1, NULL, &e), KQ_OK);
  /* err may be NULL */
  kq_proto_msg_t m;
  assert_int_equal(kq_proto_decode(arr, sizeof arr, NULL, &m, NULL), KQ_EPROTO);
}

static void test_type_and_version(void **state) {
  kq_proto_error_t e;
  fb_t f;
  fb_init(&f); /* no t */
  fb_map(&f, 1), fb_str(&f, "reason"), fb_str(&f, "x");
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "t: required");
  fb_free(&f);
  fb_init(&f); /* t not a str */
  fb_map(&f, 1), fb_str(&f, "t"), fb_uint(&f, 3);
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "t: required");
  fb_free(&f);
  fb_init(&f); /* t is a map: still walked, still rejected */
  fb_map(&f, 1), fb_str(&f, "t"), fb_map(&f, 1), fb_str(&f, "a"), fb_arr(&f, 1), fb_nil(&f);
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "t: required");
  fb_free(&f);
  fb_init(&f); /* unknown type: ENOTSUP, type string reported, not fatal */
  fb_map(&f, 2), fb_str(&f, "x"), fb_uint(&f, 1), fb_str(&f, "t"), fb_str(&f, "frobnicate");
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_ENOTSUP, false, "unknown_type", NULL);
  assert_string_equal(e.type, "frobnicate");
  fb_free(&f);
  fb_init(&f); /* v wrong type */
  fb_map(&f, 2), fb_str(&f, "t"), fb_str(&f, "bye"), fb_str(&f, "v"), fb_str(&f, "1");
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "v: expected uint");
  fb_free(&f);
  fb_init(&f); /* t twice */
  fb_map(&f, 2), fb_str(&f, "t"), fb_str(&f, "bye"), fb_str(&f, "t"), fb_str(&f, "bye");
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "duplicate");
  fb_free(&f);
  fb_init(&f); /* t last, newer minor, non-str key, unknown fields of every kind: accepted */
  fb_map(&f, 6);
  fb_uint(&f, 7), fb_str(&f, "int key");
  fb_str(&f, "future"), fb_map(&f, 2), fb_str(&f, "a"), fb_arr(&f, 2), fb_nil(&f), fb_bool(&f, true),
      fb_str(&f, "b"), msgpack_pack_double(&f.pk, 1.5);
  fb_str(&f, "ext"), msgpack_pack_ext(&f.pk, 2, 5), msgpack_pack_ext_body(&f.pk, "ab", 2);
  fb_str(&f, "reason"), fb_str(&f, "bye now");
  fb_str(&f, "v"), fb_uint(&f, 9);
  fb_str(&f, "t"), fb_str(&f, "bye");
  kq_proto_msg_t m;
  int rc = kq_proto_decode(f.sb.data, f.sb.size, NULL, &m, &e);
  /* a non-str key among the frame's entries is a bad message */
  expect_fail(rc, &e, KQ_EPROTO, false, "bad_message", "map key");
  fb_free(&f);
  fb_init(&f);
  fb_map(&f, 5);
  fb_str(&f, "future"), fb_map(&f, 2), fb_str(&f, "a"), fb_arr(&f, 2), fb_nil(&f), fb_bool(&f, true),
      fb_str(&f, "b"), msgpack_pack_double(&f.pk, 1.5);
  fb_str(&f, "ext"), msgpack_pack_ext(&f.pk, 2, 5), msgpack_pack_ext_body(&f.pk, "ab", 2);
  fb_str(&f, "reason"), fb_str(&f, "bye now");
  fb_str(&f, "v"), fb_uint(&f, 9);
  fb_str(&f, "t"), fb_str(&f, "bye");
  assert_int_equal(kq_proto_decode(f.sb.data, f.sb.size, NULL, &m, &e), KQ_OK);
  assert_int_equal(m.type, KQ_PROTO_BYE);
  assert_int_equal(m.minor, 9);
  assert_string_equal(m.bye.reason, "bye now");
  kq_proto_msg_clear(&m);
  fb_free(&f);
}

/* Re-packs a msgpack object, dropping top-level key `drop` and replacing the value of key
 * `swap` with `with` (a packing function). Keys are matched by name. */
typedef void (*packfn_t)(fb_t *f, const msgpack_object *orig);

static bool key_is(const msgpack_object *k, const char *name) {
  return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(name) &&
         memcmp(k->via.str.ptr, name, k->via.str.size) == 0;
}

static void repack(fb_t *f, const msgpack_object *map, const char *drop, const char *swap, packfn_t with) {
  uint32_t n = map->via.map.size;
  uint32_t keep = 0;
  for (uint32_t i = 0; i < n; i++) keep += !(drop && key_is(&map->via.map.ptr[i].key, drop));
  fb_map(f, keep);
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object_kv *kv = &map->via.map.ptr[i];
    if (drop && key_is(&kv->key, drop)) continue;
    msgpack_pack_object(&f->pk, kv->key);
    if (swap && key_is(&kv->key, swap)) with(f, &kv->val);
    else msgpack_pack_object(&f->pk, kv->val);
  }
}

static void wrong_type(fb_t *f, const msgpack_object *orig) {
  if (orig->type == MSGPACK_OBJECT_STR) fb_uint(f, 5);
  else fb_str(f, "not-the-right-type");
}
static void nil_value(fb_t *f, const msgpack_object *orig) { fb_nil(f); }

/* Required fields per message (by fixture), as the spec says. */
static bool required(kq_proto_type_t t, const char *k, const kq_proto_msg_t *m) {
  static const char *const req[KQ_PROTO_TYPE_COUNT_][8] = {
      [KQ_PROTO_HELLO] = {"t", "token", "agent_id", "cpu_millis", "memory_bytes"},
      [KQ_PROTO_WELCOME] = {"t", "browser_id", "session", "heartbeat_ms", "heartbeat_deadline_ms",
                            "max_frame", "max_log_chunk"},
      [KQ_PROTO_HEARTBEAT] = {"t", "seq", "load", "throttled", "running"},
      [KQ_PROTO_PING] = {"t", "nonce", "t_ns"},
      [KQ_PROTO_PONG] = {"t", "nonce", "t_ns"},
      [KQ_PROTO_RUN] = {"t", "run_id", "pod", "kind", "module_url"},
      [KQ_PROTO_STATUS] = {"t", "run_id", "phase"},
      [KQ_PROTO_LOG] = {"t", "run_id", "stream", "seq", "data"},
      [KQ_PROTO_CANCEL] = {"t", "run_id"},
      [KQ_PROTO_ERROR] = {"t", "code"},
      [KQ_PROTO_BYE] = {"t"},
  };
  for (int i = 0; i < 8 && req[t][i]; i++)
    if (!strcmp(req[t][i], k)) return true;
  if (t == KQ_PROTO_RUN && m->run.kind == KQ_PROTO_KIND_BINDGEN && !strcmp(k, "glue_url")) return true;
  if (t == KQ_PROTO_STATUS && m->status.phase == KQ_PROTO_PHASE_EXITED && !strcmp(k, "exit_code"))
    return true;
  return false;
}

/* For every fixture and every top-level field: dropping it fails iff it is required (naming
 * it); a value of the wrong type always fails naming it; nil fails iff required. */
static void test_missing_wrong_and_nil_fields(void **state) {
  kq_proto_buf_t b;
  kq_proto_buf_init(&b, 0);
  int cases = 0;
  for (size_t i = 0; i < kq_fx_count(); i++) {
    kq_proto_msg_t m;
    kq_fx_build(i, &m);
    assert_int_equal(kq_proto_encode(&m, &b), KQ_OK);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    assert_int_equal(msgpack_unpack_next(&up, (const char *)kq_proto_buf_data(&b), b.len, NULL),
                     MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *map = &up.data;
    for (uint32_t k = 0; k < map->via.map.size; k++) {
      const msgpack_object *key = &map->via.map.ptr[k].key;
      char name[32];
      snprintf(name, sizeof name, "%.*s", (int)key->via.str.size, key->via.str.ptr);
      bool req = required(m.type, name, &m);
      kq_proto_error_t e;
      fb_t f;
      fb_init(&f);
      repack(&f, map, name, NULL, NULL);
      int rc = dec_fb(&f, NULL, &e);
      if (req) {
        expect_fail(rc, &e, KQ_EPROTO, false, "bad_message", name);
        if (strcmp(name, "t") != 0) assert_non_null(strstr(e.message, "missing") ? e.message : strstr(e.message, "required"));
      } else if (rc != KQ_OK) {
        fail_msg("%s without %s: %s", kq_fx_name(i), name, e.message);
      }
      fb_free(&f);
      fb_init(&f);
      repack(&f, map, NULL, name, wrong_type);
      rc = dec_fb(&f, NULL, &e);
      if (!strcmp(name, "t")) assert_int_equal(rc, KQ_EPROTO);
      else expect_fail(rc, &e, KQ_EPROTO, false, "bad_message", name);
      fb_free(&f);
      fb_init(&f);
      repack(&f, map, NULL, name, nil_value);
      rc = dec_fb(&f, NULL, &e);
      if (req) expect_fail(rc, &e, KQ_EPROTO, false, "bad_message", name);
      else if (rc != KQ_OK) fail_msg("%s with %s nil: %s", kq_fx_name(i), name, e.message);
      fb_free(&f);
      cases += 3;
    }
    msgpack_unpacked_destroy(&up);
    kq_proto_msg_clear(&m);
  }
  assert_true(cases > 200);
  kq_proto_buf_free(&b);
}

/* A minimal valid run frame with one extra field written by `extra` (n_extra entries). */
static void run_frame(fb_t *f, uint32_t n_extra) {
  fb_init(f);
  fb_map(f, 5 + n_extra);
  fb_str(f, "t"), fb_str(f, "run");
  fb_str(f, "run_id"), fb_str(f, "r1");
  fb_str(f, "pod"), fb_map(f, 4), fb_str(f, "namespace"), fb_str(f, "ns"), fb_str(f, "name"),
      fb_str(f, "p"), fb_str(f, "uid"), fb_str(f, "u"), fb_str(f, "container"), fb_str(f, "c");
  fb_str(f, "kind"), fb_str(f, "wasi");
  fb_str(f, "module_url"), fb_str(f, "/m.wasm");
}

static void test_nested_fields(void **state) {
  kq_proto_error_t e;
  kq_proto_msg_t m;
  fb_t f;
  /* pod with an unknown field and a missing uid */
  fb_init(&f);
  fb_map(&f, 5), fb_str(&f, "t"), fb_str(&f, "run"), fb_str(&f, "run_id"), fb_str(&f, "r1");
  fb_str(&f, "pod"), fb_map(&f, 4), fb_str(&f, "namespace"), fb_str(&f, "ns"), fb_str(&f, "name"),
      fb_str(&f, "p"), fb_str(&f, "zone"), fb_str(&f, "eu"), fb_str(&f, "container"), fb_str(&f, "c");
  fb_str(&f, "kind"), fb_str(&f, "wasi"), fb_str(&f, "module_url"), fb_str(&f, "/m");
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "run.pod.uid: required");
  fb_free(&f);
  /* env as a map is accepted; args element of the wrong type is named with its index */
  run_frame(&f, 2);
  fb_str(&f, "env"), fb_map(&f, 2), fb_str(&f, "A"), fb_str(&f, "1"), fb_str(&f, "B"), fb_str(&f, "2");
  fb_str(&f, "limits"), fb_map(&f, 2), fb_str(&f, "cpu_millis"), fb_uint(&f, 250), fb_str(&f, "gpu"),
      fb_bool(&f, true);
  assert_int_equal(kq_proto_decode(f.sb.data, f.sb.size, NULL, &m, &e), KQ_OK);
  assert_int_equal(m.run.nenv, 2);
  assert_string_equal(m.run.env[1].name, "B");
  assert_string_equal(m.run.env[1].value, "2");
  assert_int_equal(m.run.cpu_millis, 250);
  assert_string_equal(m.run.namespace_, "ns");
  kq_proto_msg_clear(&m);
  fb_free(&f);
  run_frame(&f, 1);
  fb_str(&f, "args"), fb_arr(&f, 3), fb_str(&f, "a"), fb_str(&f, "b"), fb_uint(&f, 3);
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "run.args[2]: expected str");
  fb_free(&f);
  run_frame(&f, 1);
  fb_str(&f, "env"), fb_arr(&f, 1), fb_arr(&f, 3), fb_str(&f, "A"), fb_str(&f, "1"), fb_str(&f, "x");
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "run.env[0]");
  fb_free(&f);
  run_frame(&f, 1);
  fb_str(&f, "limits"), fb_map(&f, 1), fb_str(&f, "memory_bytes"), fb_int(&f, -1);
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "run.limits.memory_bytes");
  fb_free(&f);
  run_frame(&f, 1); /* duplicate key */
  fb_str(&f, "run_id"), fb_str(&f, "r2");
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "run.run_id: duplicate");
  fb_free(&f);
  /* enums */
  fb_init(&f);
  fb_map(&f, 5), fb_str(&f, "t"), fb_str(&f, "run"), fb_str(&f, "run_id"), fb_str(&f, "r1");
  fb_str(&f, "pod"), fb_map(&f, 0), fb_str(&f, "kind"), fb_str(&f, "native"), fb_str(&f, "module_url"), fb_str(&f, "/m");
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "run.pod.namespace");
  fb_free(&f);
  fb_init(&f);
  fb_map(&f, 4), fb_str(&f, "t"), fb_str(&f, "run"), fb_str(&f, "run_id"), fb_str(&f, "r1");
  fb_str(&f, "kind"), fb_str(&f, "native"), fb_str(&f, "module_url"), fb_str(&f, "/m");
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "run.kind: unknown kind");
  fb_free(&f);
  fb_init(&f);
  fb_map(&f, 3), fb_str(&f, "t"), fb_str(&f, "status"), fb_str(&f, "run_id"), fb_str(&f, "r");
  fb_str(&f, "phase"), fb_str(&f, "Succeeded");
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "status.phase: unknown phase");
  fb_free(&f);
  fb_init(&f);
  fb_map(&f, 4), fb_str(&f, "t"), fb_str(&f, "status"), fb_str(&f, "run_id"), fb_str(&f, "r");
  fb_str(&f, "phase"), fb_str(&f, "exited"), fb_str(&f, "exit_code"), fb_int(&f, 1LL << 40);
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "status.exit_code");
  fb_free(&f);
  fb_init(&f);
  fb_map(&f, 5), fb_str(&f, "t"), fb_str(&f, "log"), fb_str(&f, "run_id"), fb_str(&f, "r");
  fb_str(&f, "stream"), fb_uint(&f, 3), fb_str(&f, "seq"), fb_uint(&f, 0), fb_str(&f, "data");
  msgpack_pack_bin(&f.pk, 0);
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "log.stream");
  fb_free(&f);
  fb_init(&f); /* log data as str is not bin */
  fb_map(&f, 5), fb_str(&f, "t"), fb_str(&f, "log"), fb_str(&f, "run_id"), fb_str(&f, "r");
  fb_str(&f, "stream"), fb_uint(&f, 1), fb_str(&f, "seq"), fb_uint(&f, 0), fb_str(&f, "data"), fb_str(&f, "hi");
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "log.data: expected bin");
  fb_free(&f);
  /* hello: empty agent_id, gpu without present, session without runs */
  fb_init(&f);
  fb_map(&f, 5), fb_str(&f, "t"), fb_str(&f, "hello"), fb_str(&f, "token"), fb_str(&f, "");
  fb_str(&f, "agent_id"), fb_str(&f, ""), fb_str(&f, "cpu_millis"), fb_uint(&f, 1), fb_str(&f, "memory_bytes"), fb_uint(&f, 1);
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "hello.agent_id: must not be empty");
  fb_free(&f);
  fb_init(&f);
  fb_map(&f, 6), fb_str(&f, "t"), fb_str(&f, "hello"), fb_str(&f, "token"), fb_str(&f, "");
  fb_str(&f, "agent_id"), fb_str(&f, "a"), fb_str(&f, "cpu_millis"), fb_uint(&f, 1), fb_str(&f, "memory_bytes"), fb_uint(&f, 1);
  fb_str(&f, "gpu"), fb_map(&f, 1), fb_str(&f, "vendor"), fb_str(&f, "x");
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "hello.gpu.present: required");
  fb_free(&f);
  fb_init(&f);
  fb_map(&f, 6), fb_str(&f, "t"), fb_str(&f, "hello"), fb_str(&f, "token"), fb_str(&f, "");
  fb_str(&f, "agent_id"), fb_str(&f, "a"), fb_str(&f, "cpu_millis"), fb_uint(&f, 1), fb_str(&f, "memory_bytes"), fb_uint(&f, 1);
  fb_str(&f, "session"), fb_map(&f, 1), fb_str(&f, "id"), fb_str(&f, "s");
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "hello.session.runs: required");
  fb_free(&f);
  fb_init(&f);
  fb_map(&f, 6), fb_str(&f, "t"), fb_str(&f, "hello"), fb_str(&f, "token"), fb_str(&f, "");
  fb_str(&f, "agent_id"), fb_str(&f, "a"), fb_str(&f, "cpu_millis"), fb_uint(&f, 1), fb_str(&f, "memory_bytes"), fb_uint(&f, 1);
  fb_str(&f, "labels"), fb_map(&f, 1), fb_str(&f, "k"), fb_uint(&f, 1);
  expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "hello.labels[0]: expected str");
  fb_free(&f);
}

static void heartbeat_with_load(fb_t *f, void (*load)(fb_t *)) {
  fb_init(f);
  fb_map(f, 5), fb_str(f, "t"), fb_str(f, "heartbeat"), fb_str(f, "seq"), fb_uint(f, 1);
  fb_str(f, "load"), load(f);
  fb_str(f, "throttled"), fb_bool(f, false), fb_str(f, "running"), fb_uint(f, 0);
}
static void load_nan(fb_t *f) { msgpack_pack_double(&f->pk, NAN); }
static void load_big(fb_t *f) { msgpack_pack_float(&f->pk, 1.01f); }
static void load_neg(fb_t *f) { fb_int(f, -1); }
static void load_one(fb_t *f) { fb_uint(f, 1); }
static void load_f32(fb_t *f) { msgpack_pack_float(&f->pk, 0.5f); }
static void load_two(fb_t *f) { fb_uint(f, 2); }

static void test_load_values(void **state) {
  kq_proto_error_t e;
  kq_proto_msg_t m;
  fb_t f;
  void (*bad[])(fb_t *) = {load_nan, load_big, load_neg, load_two};
  for (size_t i = 0; i < KQ_ARRAY_LEN(bad); i++) {
    heartbeat_with_load(&f, bad[i]);
    expect_fail(dec_fb(&f, NULL, &e), &e, KQ_EPROTO, false, "bad_message", "heartbeat.load");
    fb_free(&f);
  }
  heartbeat_with_load(&f, load_one);
  assert_int_equal(kq_proto_decode(f.sb.data, f.sb.size, NULL, &m, &e), KQ_OK);
  assert_true(m.heartbeat.load == 1.0);
  kq_proto_msg_clear(&m);
  fb_free(&f);
  heartbeat_with_load(&f, load_f32);
  assert_int_equal(kq_proto_decode(f.sb.data, f.sb.size, NULL, &m, &e), KQ_OK);
  assert_true(m.heartbeat.load == 0.5);
  kq_proto_msg_clear(&m);
  fb_free(&f);
}

static void bye_with_reason(fb_t *f, const char *s, size_t n) {
  fb_init(f);
  fb_map(f, 2), fb_str(f, "t"), fb_str(f, "bye"), fb_str(f, "reason"), fb_strn(f, s, n);
}

static void test_utf8(void **state) {
  static const struct {
    const char *s;
    size_t n;
    bool ok;
  } cases[] = {
      {"plain", 5, true},
      {"\xc3\xa9t\xc3\xa9", 5, true},
      {"\xf0\x9f\x98\x80", 4, true},           /* U+1F600 */
      {"a\0b", 3, false},                       /* NUL */
      {"\xc3", 1, false},                       /* truncated sequence */
      {"\xc0\xaf", 2, false},                   /* overlong '/' */
      {"\xe0\x80\xaf", 3, false},               /* overlong 3-byte */
      {"\xed\xa0\x80", 3, false},               /* surrogate U+D800 */
      {"\xf4\x90\x80\x80", 4, false},           /* > U+10FFFF */
      {"\xff", 1, false},
      {"\x80", 1, false},                       /* lone continuation */
  };
  for (size_t i = 0; i < KQ_ARRAY_LEN(cases); i++) {
    fb_t f;
    kq_proto_error_t e;
    bye_with_reason(&f, cases[i].s, cases[i].n);
    int rc = dec_fb(&f, NULL, &e);
    if (cases[i].ok) assert_int_equal(rc, KQ_OK);
    else expect_fail(rc, &e, KQ_EPROTO, false, "bad_message", "bye.reason: string is not valid UTF-8");
    fb_free(&f);
  }
}

static void test_limits(void **state) {
  kq_proto_error_t e;
  fb_t f;
  char big[100];
  memset(big, 'x', sizeof big);
  kq_proto_limits_t lim = {.max_str = 99, .max_args = 2, .max_env = 1, .max_labels = 1,
                           .max_runs = 1, .max_log_chunk = 8, .max_keys = 12};
  bye_with_reason(&f, big, 99);
  assert_int_equal(dec_fb(&f, &lim, &e), KQ_OK);
  fb_free(&f);
  bye_with_reason(&f, big, 100);
  expect_fail(dec_fb(&f, &lim, &e), &e, KQ_ETOOBIG, false, "too_big", "bye.reason: string of 100");
  fb_free(&f);
  /* whole frame over max_frame: fatal, checked before parsing anything */
  kq_proto_limits_t small = {.max_frame = 50};
  bye_with_reason(&f, big, 60);
  expect_fail(dec_fb(&f, &small, &e), &e, KQ_ETOOBIG, true, "too_big", "frame of");
  fb_free(&f);
  run_frame(&f, 1);
  fb_str(&f, "args"), fb_arr(&f, 3), fb_str(&f, "a"), fb_str(&f, "b"), fb_str(&f, "c");
  expect_fail(dec_fb(&f, &lim, &e), &e, KQ_ETOOBIG, false, "too_big", "run.args: 3 entries");
  fb_free(&f);
  run_frame(&f, 1);
  fb_str(&f, "env"), fb_arr(&f, 2), fb_arr(&f, 2), fb_str(&f, "A"), fb_str(&f, "1"), fb_arr(&f, 2),
      fb_str(&f, "B"), fb_str(&f, "2");
  expect_fail(dec_fb(&f, &lim, &e), &e, KQ_ETOOBIG, false, "too_big", "run.env");
  fb_free(&f);
  fb_init(&f);
  fb_map(&f, 6), fb_str(&f, "t"), fb_str(&f, "hello"), fb_str(&f, "token"), fb_str(&f, "");
  fb_str(&f, "agent_id"), fb_str(&f, "a"), fb_str(&f, "cpu_millis"), fb_uint(&f, 1), fb_str(&f, "memory_bytes"), fb_uint(&f, 1);
  fb_str(&f, "labels"), fb_map(&f, 2), fb_str(&f, "a"), fb_str(&f, "1"), fb_str(&f, "b"), fb_str(&f, "2");
  expect_fail(dec_fb(&f, &lim, &e), &e, KQ_ETOOBIG, false, "too_big", "hello.labels");
  fb_free(&f);
  fb_init(&f);
  fb_map(&f, 6), fb_str(&f, "t"), fb_str(&f, "hello"), fb_str(&f, "token"), fb_str(&f, "");
  fb_str(&f, "agent_id"), fb_str(&f, "a"), fb_str(&f, "cpu_millis"), fb_uint(&f, 1), fb_str(&f, "memory_bytes"), fb_uint(&f, 1);
  fb_str(&f, "session"), fb_map(&f, 2), fb_str(&f, "id"), fb_str(&f, "s"), fb_str(&f, "runs"), fb_arr(&f, 2),
      fb_str(&f, "r1"), fb_str(&f, "r2");
  expect_fail(dec_fb(&f, &lim, &e), &e, KQ_ETOOBIG, false, "too_big", "hello.session.runs");
  fb_free(&f);
  fb_init(&f);
  fb_map(&f, 5), fb_str(&f, "t"), fb_str(&f, "log"), fb_str(&f, "run_id"), fb_str(&f, "r");
  fb_str(&f, "stream"), fb_uint(&f, 1), fb_str(&f, "seq"), fb_uint(&f, 0), fb_str(&f, "data");
  msgpack_pack_bin(&f.pk, 9), msgpack_pack_bin_body(&f.pk, big, 9);
  expect_fail(dec_fb(&f, &lim, &e), &e, KQ_ETOOBIG, false, "too_big", "log.data: 9 bytes");
  fb_free(&f);
  /* too many keys in a map, unknown keys included */
  fb_init(&f);
  fb_map(&f, 13), fb_str(&f, "t"), fb_str(&f, "bye");
  for (int i = 0; i < 12; i++) fb_uint(&f, (uint64_t)i), fb_nil(&f);
  expect_fail(dec_fb(&f, &lim, &e), &e, KQ_ETOOBIG, false, "too_big", "13 entries");
  fb_free(&f);
  fb_init(&f);
  fb_map(&f, 2), fb_str(&f, "t"), fb_str(&f, "bye"), fb_str(&f, "x"), fb_map(&f, 13);
  for (int i = 0; i < 13; i++) fb_uint(&f, (uint64_t)i), fb_nil(&f);
  expect_fail(dec_fb(&f, &lim, &e), &e, KQ_ETOOBIG, false, "too_big", "13 entries");
  fb_free(&f);
}

static void test_nesting(void **state) {
  kq_proto_error_t e;
  fb_t f;
  /* 15 levels in an unknown field: fine; 17: too deep, fatal */
  for (int depth = 14; depth <= 17; depth += 3) {
    fb_init(&f);
    fb_map(&f, 2), fb_str(&f, "t"), fb_str(&f, "bye"), fb_str(&f, "deep");
    for (int i = 0; i < depth; i++) fb_arr(&f, 1);
    fb_nil(&f);
    int rc = dec_fb(&f, NULL, &e);
    if (depth == 14) assert_int_equal(rc, KQ_OK);
    else expect_fail(rc, &e, KQ_ETOOBIG, true, "too_big", "nesting");
    fb_free(&f);
  }
  /* a megabyte of array headers: bounded work, no stack overflow */
  size_t n = 1 << 20;
  uint8_t *p = malloc(n);
  p[0] = 0x81, p[1] = 0xa1, p[2] = 'x';
  memset(p + 3, 0x91, n - 3);
  expect_fail(dec(p, n, NULL, &e), &e, KQ_ETOOBIG, true, "too_big", "nesting");
  free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_every_fixture),
      cmocka_unit_test(test_minor_version_round_trips),
      cmocka_unit_test(test_headroom_and_steal),
      cmocka_unit_test(test_encode_rejects_incomplete),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_every_truncation_is_fatal),
      cmocka_unit_test(test_frame_shape),
      cmocka_unit_test(test_type_and_version),
      cmocka_unit_test(test_missing_wrong_and_nil_fields),
      cmocka_unit_test(test_nested_fields),
      cmocka_unit_test(test_load_values),
      cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_nesting),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
