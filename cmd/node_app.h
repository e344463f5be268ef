/* kuack-node's application: the loop, the actor system and the components started on it, in
 * order. Later modules add a row to the component table in node_app.c. */
#ifndef KQ_NODE_APP_H
#define KQ_NODE_APP_H
#include <stdbool.h>

#include "kq_actor.h"
#include "kq_log.h"

struct event_base;
struct event;

typedef struct node_config {
  kq_log_level_t log_level;
} node_config_t;

typedef struct node_app {
  node_config_t cfg;
  struct event_base *base;
  kq_system_t *sys;
  struct event *sig_int, *sig_term;
  unsigned started;  /* components started, in table order */
  bool stopping;
  int exit_code;
} node_app_t;

/* One component: start returns KQ_OK or an error that aborts start-up; stop releases what start
 * made (it may be asynchronous: the actor system's shutdown waits for everything to drain). */
typedef struct node_component {
  const char *name;
  int (*start)(node_app_t *app);
  void (*stop)(node_app_t *app);
} node_component_t;

/* Creates the loop, the system and the signal handlers, then starts every component. Returns
 * KQ_OK or the first error (everything already started is stopped again). */
int node_app_start(node_app_t *app, const node_config_t *cfg);
/* Runs the loop until a shutdown drains; returns the process exit code. */
int node_app_run(node_app_t *app);
/* Begins an orderly shutdown (components newest first, then the actor system). Idempotent. */
void node_app_stop(node_app_t *app);
/* Frees what start created; the system must have drained. */
void node_app_free(node_app_t *app);

#endif
