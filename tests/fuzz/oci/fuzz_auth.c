/* Fuzz target: WWW-Authenticate parsing, token replies, config.json credentials and Retry-After. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kq_oci_auth.h"
#include "kq_oci_pull.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  memcpy(s, data, size);
  s[size] = '\0';
  kq_oci_challenge_t c;
  if (kq_oci_challenge_parse(s, &c) == 0 && c.scheme == KQ_OCI_AUTH_BEARER) free(kq_oci_token_url(&c, NULL));
  int64_t exp;
  free(kq_oci_token_parse(s, size, &exp));
  kq_oci_creds_t cr;
  kq_oci_creds_lookup(s, "docker.io", &cr);
  uint64_t delay;
  kq_oci_retry_after_parse(s, 784111777ull * 1000000000ull, &delay);
  free(s);
  return 0;
}
