/* cpu-job: a CPU-heavy WASI workload for benchmarks and e2e tests.
 *   cpujob primes <from> <to>     count primes in [from, to)
 *   cpujob sha256 <rounds>        iterate SHA-256 over a 32-byte state `rounds` times
 * Prints the result and the elapsed time (clock_gettime, which WASI provides). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int is_prime(uint64_t n) {
  if (n < 2) return 0;
  if (n % 2 == 0) return n == 2;
  for (uint64_t d = 3; d * d <= n; d += 2)
    if (n % d == 0) return 0;
  return 1;
}

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
static const uint32_t K[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

/* SHA-256 of a 32-byte message (one padded block). */
static void sha256_32(const uint8_t in[32], uint8_t out[32]) {
  uint32_t w[64], h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                          0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  uint8_t blk[64] = {0};
  memcpy(blk, in, 32);
  blk[32] = 0x80;
  blk[62] = 0x01;   /* length 256 bits */
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 | (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  for (int i = 0; i < 8; i++) {
    out[4 * i] = (uint8_t)(h[i] >> 24); out[4 * i + 1] = (uint8_t)(h[i] >> 16);
    out[4 * i + 2] = (uint8_t)(h[i] >> 8); out[4 * i + 3] = (uint8_t)h[i];
  }
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "primes") == 0) {
    uint64_t from = strtoull(argv[2], NULL, 10), to = strtoull(argv[3], NULL, 10), n = 0;
    uint64_t t0 = now_us();
    for (uint64_t i = from; i < to; i++) n += (uint64_t)is_prime(i);
    printf("primes in [%llu, %llu): %llu\n", (unsigned long long)from, (unsigned long long)to, (unsigned long long)n);
    printf("elapsed_ms=%llu\n", (unsigned long long)((now_us() - t0) / 1000));
    return 0;
  }
  if (argc >= 3 && strcmp(argv[1], "sha256") == 0) {
    uint64_t rounds = strtoull(argv[2], NULL, 10);
    uint8_t st[32] = {0};
    uint64_t t0 = now_us();
    for (uint64_t i = 0; i < rounds; i++) sha256_32(st, st);
    printf("sha256^%llu(0^32) = ", (unsigned long long)rounds);
    for (int i = 0; i < 32; i++) printf("%02x", st[i]);
    printf("\nelapsed_ms=%llu\n", (unsigned long long)((now_us() - t0) / 1000));
    return 0;
  }
  fprintf(stderr, "usage: cpujob primes <from> <to> | cpujob sha256 <rounds>\n");
  return 2;
}
