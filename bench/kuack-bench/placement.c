/* Placeholder until the placement benchmark lands. */
#include <stdio.h>

#include "bench.h"

int kq_bench_placement(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "kuack-bench placement: not built yet\n");
  return 1;
}
