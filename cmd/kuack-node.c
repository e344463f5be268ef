/* kuack-node: the virtual-node process. Parses flags and environment, starts the node
 * application on one libevent loop and exits 0 after a clean drain on SIGINT/SIGTERM. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "kq_error.h"
#include "kq_log.h"
#include "node_app.h"

#ifndef KQ_VERSION
#define KQ_VERSION "0.1.0"
#endif

static void usage(FILE *out) {
  fprintf(out,
          "usage: kuack-node [options]\n"
          "\n"
          "A Kubernetes virtual node whose capacity comes from browsers.\n"
          "\n"
          "options:\n"
          "  --log-level LEVEL  debug|info|warn|error|off (env KUACK_LOG_LEVEL; default info)\n"
          "  --version          print the version and exit\n"
          "  --help             print this help and exit\n");
}

int main(int argc, char **argv) {
  node_config_t cfg = {.log_level = KQ_LOG_INFO};
  const char *env = getenv("KUACK_LOG_LEVEL");
  if (env && *env && kq_log_parse_level(env, &cfg.log_level) != KQ_OK) {
    fprintf(stderr, "kuack-node: invalid KUACK_LOG_LEVEL '%s'\n", env);
    return 2;
  }
  enum { OPT_LOG_LEVEL = 256, OPT_VERSION, OPT_HELP };
  static const struct option opts[] = {
      {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
      {"version", no_argument, NULL, OPT_VERSION},
      {"help", no_argument, NULL, OPT_HELP},
      {NULL, 0, NULL, 0},
  };
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
      case OPT_LOG_LEVEL:
        if (kq_log_parse_level(optarg, &cfg.log_level) != KQ_OK) {
          fprintf(stderr, "kuack-node: invalid --log-level '%s'\n", optarg);
          return 2;
        }
        break;
      case OPT_VERSION:
        printf("kuack-node %s\n", KQ_VERSION);
        return 0;
      case 'h':
      case OPT_HELP:
        usage(stdout);
        return 0;
      default:
        usage(stderr);
        return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "kuack-node: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 2;
  }

  node_app_t app;
  int rc = node_app_start(&app, &cfg);
  int code = rc == KQ_OK ? node_app_run(&app) : 1;
  if (rc == KQ_OK) node_app_stop(&app); /* no-op after a signal */
  node_app_free(&app);
  if (!code) code = app.exit_code;
  return code;
}
