/* Placeholder until the actors benchmark lands. */
#include <stdio.h>

#include "bench.h"

int kq_bench_actors(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "kuack-bench actors: not built yet\n");
  return 1;
}
