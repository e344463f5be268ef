/* Test registry: spawns `docker-registry serve` with a generated config on a free port. */
#include "kq_test_registry.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct kq_test_registry {
  char dir[256];
  char host[64];
  char log[300];
  char storage[300];
  char config[300];
  char push_config[300];      /* token mode: the anonymous twin used for pushes */
  char push_host[64];
  uint16_t port, push_port;
  pid_t pid, push_pid;
  bool auth;
  char cred[256];
};

static void die(const char *m) {
  fprintf(stderr, "kq_test_registry: %s\n", m);
  abort();
}

static uint16_t free_port(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) die("bind");
  socklen_t l = sizeof a;
  getsockname(s, (struct sockaddr *)&a, &l);
  close(s);
  return ntohs(a.sin_port);
}

static bool can_connect(uint16_t port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bool ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
  close(s);
  return ok;
}

static void spawn_one(kq_test_registry_t *r, char *config, uint16_t port, pid_t *pid) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, r->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  char *argv[] = {"docker-registry", "serve", config, NULL};
  if (posix_spawnp(pid, "docker-registry", &fa, NULL, argv, environ) != 0) die("spawn docker-registry");
  posix_spawn_file_actions_destroy(&fa);
  /* Bounded poll for an external process to listen: there is no event to step on. */
  struct timespec t0, now, nap = {0, 5 * 1000 * 1000};
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    if (can_connect(port)) return;
    int st;
    if (waitpid(*pid, &st, WNOHANG) == *pid) die("docker-registry exited at start (see its log)");
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - t0.tv_sec > 10) die("docker-registry did not listen within 10 s");
    nanosleep(&nap, NULL);
  }
}

static void spawn(kq_test_registry_t *r) {
  spawn_one(r, r->config, r->port, &r->pid);
  if (r->push_port) spawn_one(r, r->push_config, r->push_port, &r->push_pid);
}

static void write_config(const char *path, const char *storage, const char *host, const char *auth) {
  FILE *f = fopen(path, "w");
  if (!f) die("config");
  fprintf(f,
          "version: 0.1\n"
          "log:\n  level: warn\n  accesslog:\n    disabled: false\n"
          "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n"
          "  cache:\n    blobdescriptor: inmemory\n"
          "http:\n  addr: %s\n%s",
          storage, host, auth);
  fclose(f);
}

kq_test_registry_t *kq_test_registry_start(const kq_test_registry_opts_t *opts) {
  kq_test_registry_t *r = calloc(1, sizeof *r);
  snprintf(r->dir, sizeof r->dir, "/tmp/kq-registry.XXXXXX");
  if (!mkdtemp(r->dir)) die("mkdtemp");
  r->port = free_port();
  snprintf(r->host, sizeof r->host, "127.0.0.1:%u", r->port);
  snprintf(r->log, sizeof r->log, "%s/registry.log", r->dir);
  snprintf(r->storage, sizeof r->storage, "%s/data", r->dir);
  snprintf(r->config, sizeof r->config, "%s/config.yml", r->dir);
  char auth[1200] = "";
  if (opts && opts->token_realm) {
    if (!opts->token_service || !opts->token_issuer || !opts->token_certs) die("token options incomplete");
    snprintf(auth, sizeof auth,
             "auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
             opts->token_realm, opts->token_service, opts->token_issuer, opts->token_certs);
    r->push_port = free_port();
    snprintf(r->push_host, sizeof r->push_host, "127.0.0.1:%u", r->push_port);
    snprintf(r->push_config, sizeof r->push_config, "%s/push-config.yml", r->dir);
    write_config(r->push_config, r->storage, r->push_host, "");
  } else if (opts && opts->user) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "htpasswd -Bbn '%s' '%s' > '%s/htpasswd'", opts->user, opts->pass, r->dir);
    if (system(cmd) != 0) die("htpasswd");
    snprintf(auth, sizeof auth, "auth:\n  htpasswd:\n    realm: kuack-test\n    path: %s/htpasswd\n", r->dir);
    r->auth = true;
    snprintf(r->cred, sizeof r->cred, "%s:%s", opts->user, opts->pass);
  }
  write_config(r->config, r->storage, r->host, auth);
  spawn(r);
  return r;
}

static void stop_one(pid_t *pid) {
  if (*pid <= 0) return;
  kill(*pid, SIGTERM);
  int st;
  waitpid(*pid, &st, 0);
  *pid = 0;
}

void kq_test_registry_stop(kq_test_registry_t *r) {
  stop_one(&r->pid);
  stop_one(&r->push_pid);
}

void kq_test_registry_restart(kq_test_registry_t *r) {
  kq_test_registry_stop(r);
  spawn(r);
}

void kq_test_registry_free(kq_test_registry_t *r) {
  if (!r) return;
  kq_test_registry_stop(r);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
  if (system(cmd) != 0) fprintf(stderr, "kq_test_registry: cleanup failed\n");
  free(r);
}

uint16_t kq_test_registry_port(const kq_test_registry_t *r) { return r->port; }
const char *kq_test_registry_host(const kq_test_registry_t *r) { return r->host; }
const char *kq_test_registry_storage(const kq_test_registry_t *r) { return r->storage; }

static const char *src_dir(void) {
  const char *s = getenv("KQ_SOURCE_DIR");
  return s ? s : ".";
}

const char *kq_test_examples_dir(void) {
  static char dir[256];
  if (dir[0]) return dir;
  snprintf(dir, sizeof dir, "/tmp/kq-examples.XXXXXX");
  if (!mkdtemp(dir)) die("mkdtemp");
  char cmd[768];
  snprintf(cmd, sizeof cmd, "'%s/examples/build.sh' '%s' > /dev/null", src_dir(), dir);
  if (system(cmd) != 0) die("examples/build.sh failed");
  return dir;
}

int kq_test_registry_push(kq_test_registry_t *r, const char *form, const char *name_tag,
                          const char *input, char *digest) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "'%s/examples/push-image.sh' -f %s %s%s%s http://%s '%s' '%s'", src_dir(), form,
           r->auth ? "-u '" : "", r->auth ? r->cred : "", r->auth ? "'" : "",
           r->push_port ? r->push_host : r->host, name_tag, input);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  char line[256] = "";
  char *got = fgets(line, sizeof line, p);
  int st = pclose(p);
  if (!got || st != 0) return -1;
  line[strcspn(line, "\r\n")] = '\0';
  snprintf(digest, 80, "%s", line);
  return strncmp(digest, "sha256:", 7) == 0 ? 0 : -1;
}

int kq_test_registry_script(kq_test_registry_t *r, const char *sh_script, const char *args, char *out) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s/%s' http://%s %s", src_dir(), sh_script, r->push_port ? r->push_host : r->host,
           args ? args : "");
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  char line[256] = "";
  char *got = fgets(line, sizeof line, p);
  int st = pclose(p);
  if (st != 0) return -1;
  line[strcspn(line, "\r\n")] = '\0';
  if (out) snprintf(out, 256, "%s", got ? line : "");
  return 0;
}

const char *kq_test_registry_blob_file(const kq_test_registry_t *r, const char *digest) {
  static char p[512];
  const char *h = digest + 7;
  snprintf(p, sizeof p, "%s/docker/registry/v2/blobs/sha256/%.2s/%s/data", r->storage, h, h);
  return p;
}

size_t kq_test_registry_count(const kq_test_registry_t *r, const char *needle) {
  FILE *f = fopen(r->log, "r");
  if (!f) return 0;
  char line[8192];
  size_t n = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, needle)) n++;
  fclose(f);
  return n;
}
