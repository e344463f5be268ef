/* kuack-bench entry point: `kuack-bench <actors|placement> [options]`. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *what;
} benches[] = {
    {"actors", kq_bench_actors, "actor runtime: message cost with 10k actors, idle actor memory, 100k timers"},
    {"placement", kq_bench_placement, "placement policies: throughput, latency, quality vs baselines"},
};

static void usage(FILE *out) {
  fprintf(out, "usage: kuack-bench <benchmark> [options]\n\nbenchmarks:\n");
  for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
    fprintf(out, "  %-10s %s\n", benches[i].name, benches[i].what);
  fprintf(out, "\n`kuack-bench <benchmark> --help` lists its options.\n");
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
    if (!strcmp(argv[1], benches[i].name)) return benches[i].run(argc - 1, argv + 1);
  fprintf(stderr, "kuack-bench: unknown benchmark '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
