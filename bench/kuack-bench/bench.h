/* kuack-bench: benchmark programs selected by a subcommand. Each prints a table and, with
 * --json FILE, machine-readable results. */
#ifndef KQ_BENCH_H
#define KQ_BENCH_H
int kq_bench_actors(int argc, char **argv);     /* actor runtime: send+dispatch, idle memory, timers */
int kq_bench_placement(int argc, char **argv);  /* placement policies on a seeded scenario */
#endif
