/* Conformance between the C and JS codecs: `gen_fixtures gen DIR` writes every fixture as
 * DIR/<name>.msgpack (encoded by C, decoded by agent/test/protocol.test.js); `gen_fixtures check
 * DIR` decodes DIR/<name>.msgpack (encoded by JS) and compares each with the fixture. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_error.h"
#include "kq_proto.h"
#include "proto_fixtures.h"

static int gen(const char *dir) {
  kq_proto_buf_t b;
  kq_proto_buf_init(&b, 0);
  for (size_t i = 0; i < kq_fx_count(); i++) {
    kq_proto_msg_t m;
    kq_fx_build(i, &m);
    int rc = kq_proto_encode(&m, &b);
    kq_proto_msg_clear(&m);
    if (rc != KQ_OK) {
      fprintf(stderr, "gen: encode %s: %s\n", kq_fx_name(i), kq_strerror(rc));
      kq_proto_buf_free(&b);
      return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.msgpack", dir, kq_fx_name(i));
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(kq_proto_buf_data(&b), 1, b.len, f) != b.len) {
      fprintf(stderr, "gen: cannot write %s\n", path);
      if (f) fclose(f);
      kq_proto_buf_free(&b);
      return 1;
    }
    fclose(f);
  }
  kq_proto_buf_free(&b);
  printf("gen: %zu frames written to %s\n", kq_fx_count(), dir);
  return 0;
}

static int check(const char *dir) {
  int failures = 0;
  for (size_t i = 0; i < kq_fx_count(); i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.msgpack", dir, kq_fx_name(i));
    FILE *f = fopen(path, "rb");
    if (!f) {
      fprintf(stderr, "check: missing %s\n", path);
      failures++;
      continue;
    }
    static unsigned char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    kq_proto_msg_t got, want;
    kq_proto_error_t err;
    int rc = kq_proto_decode(buf, n, NULL, &got, &err);
    if (rc != KQ_OK) {
      fprintf(stderr, "check: %s: decode failed: %s %s\n", kq_fx_name(i), err.code, err.message);
      failures++;
      continue;
    }
    kq_fx_build(i, &want);
    char why[128];
    if (!kq_fx_equal(&want, &got, why, sizeof why)) {
      fprintf(stderr, "check: %s: %s\n", kq_fx_name(i), why);
      failures++;
    }
    kq_proto_msg_clear(&got);
    kq_proto_msg_clear(&want);
  }
  printf("check: %zu frames from %s, %d failures\n", kq_fx_count(), dir, failures);
  return failures ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "gen")) return gen(argv[2]);
  if (argc == 3 && !strcmp(argv[1], "check")) return check(argv[2]);
  fprintf(stderr, "usage: gen_fixtures gen|check DIR\n");
  return 2;
}
