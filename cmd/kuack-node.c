/* kuack-node: the virtual-node process. Parses flags and KUACK_* environment variables, starts
 * the node application on one libevent loop and exits 0 after a clean drain on SIGINT/SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_error.h"
#include "kq_log.h"
#include "node_app.h"

#ifndef KQ_VERSION
#define KQ_VERSION "0.1.0"
#endif
#ifndef KQ_DEFAULT_AGENT_ROOT
#define KQ_DEFAULT_AGENT_ROOT "/usr/share/kuack/agent"
#endif

static void usage(FILE *out) {
  fprintf(out,
          "usage: kuack-node [options]\n"
          "\n"
          "A Kubernetes virtual node whose capacity comes from browsers.\n"
          "\n"
          "modes:\n"
          "  --standalone DIR          take Pods from the manifests in DIR (no API server)\n"
          "  (default) Kubernetes: register the Node and run the Pods bound to it, with\n"
          "  --kubeconfig FILE         kubeconfig to use [KUBECONFIG]\n"
          "  --context NAME            kubeconfig context (default: current-context)\n"
          "                            (in-cluster when neither is given and KUBERNETES_SERVICE_HOST\n"
          "                            is set)\n"
          "  --node-ip IP              the Node's InternalIP, where the API server reaches the\n"
          "                            kubelet API [KUACK_NODE_IP] (127.0.0.1)\n"
          "  --keep-node               do not delete the Node object on shutdown\n"
          "  --no-browsers-taint-off   do not taint the Node while no browser is connected\n"
          "\n"
          "options (environment variable in brackets):\n"
          "  --node-name NAME          virtual node name [KUACK_NODE_NAME] (kuack-node)\n"
          "  --listen ADDR:PORT        agent page, WebSocket /ws, /metrics, /healthz, artefacts\n"
          "                            [KUACK_LISTEN] (0.0.0.0:8080)\n"
          "  --kubelet-listen ADDR:PORT  status/log API: /pods, /containerLogs [KUACK_KUBELET_LISTEN]\n"
          "                            (0.0.0.0:10250; 'off' disables)\n"
          "  --agent-root DIR          the agent/ folder served to browsers [KUACK_AGENT_ROOT]\n"
          "  --agent-token TOKEN       token agents must present [KUACK_AGENT_TOKEN]\n"
          "  --agent-token-file FILE   read the token from FILE [KUACK_AGENT_TOKEN_FILE]\n"
          "  --allowed-origins LIST    comma-separated Origin allowlist for /ws (default: any)\n"
          "  --tls-cert FILE --tls-key FILE   serve wss:// and https:// on --listen\n"
          "  --kubelet-cert FILE --kubelet-key FILE  kubelet API serving certificate (default:\n"
          "                            self-signed at start; TLS is used unless --standalone)\n"
          "  --client-ca-file FILE     kubelet API clients (the API server) must present a\n"
          "                            certificate signed by this CA\n"
          "  --cache-dir DIR           content-addressed artefact store [KUACK_CACHE_DIR]\n"
          "                            (/tmp/kuack-cache)\n"
          "  --cache-max-bytes N       evict unused artefacts above N bytes (0 = unlimited)\n"
          "  --insecure-registry HOST  pull from HOST over plain HTTP (repeatable)\n"
          "  --placement-policy NAME   binpack|gpu|latency|spread|first-fit|kuack-compat\n"
          "                            [KUACK_PLACEMENT_POLICY] (binpack)\n"
          "  --placement-params K=V,.. policy parameters (see docs/policies.md)\n"
          "  --heartbeat-ms N          agent heartbeat interval (5000)\n"
          "  --resume-window-ms N      keep a disconnected browser's runs this long (30000)\n"
          "  --log-level LEVEL         debug|info|warn|error|off [KUACK_LOG_LEVEL] (info)\n"
          "  --version                 print the version and exit\n"
          "  --help                    print this help and exit\n");
}

static int parse_hostport(const char *s, const char **host, int *port, char *buf, size_t n) {
  if (!strcmp(s, "off")) {
    *port = -1;
    return KQ_OK;
  }
  const char *colon = strrchr(s, ':');
  if (!colon || (size_t)(colon - s) >= n) return KQ_EINVAL;
  char *end;
  errno = 0;
  long p = strtol(colon + 1, &end, 10);
  if (*end || errno || p < 0 || p > 65535) return KQ_EINVAL;
  memcpy(buf, s, (size_t)(colon - s));
  buf[colon - s] = 0;
  *host = buf[0] ? buf : NULL;
  *port = (int)p;
  return KQ_OK;
}

static int parse_params(char *s, kq_policy_params_t *out) {
  for (char *save = NULL, *kv = strtok_r(s, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(kv, '=');
    if (!eq) return KQ_EINVAL;
    *eq = 0;
    char *end;
    double v = strtod(eq + 1, &end);
    if (*end || end == eq + 1) return KQ_EINVAL;
    int rc = kq_policy_params_add(out, kv, v);
    if (rc != KQ_OK) return rc;
  }
  return KQ_OK;
}

static char *read_token_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char buf[1024];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = 0;
  return strdup(buf);
}

static const char *env_or(const char *name, const char *def) {
  const char *v = getenv(name);
  return v && *v ? v : def;
}

int main(int argc, char **argv) {
  node_config_t cfg = {
      .log_level = KQ_LOG_INFO,
      .node_name = env_or("KUACK_NODE_NAME", "kuack-node"),
      .listen_port = 8080,
      .kubelet_port = 10250,
      .agent_root = env_or("KUACK_AGENT_ROOT", KQ_DEFAULT_AGENT_ROOT),
      .token = env_or("KUACK_AGENT_TOKEN", NULL),
      .cache_dir = env_or("KUACK_CACHE_DIR", "/tmp/kuack-cache"),
      .policy = env_or("KUACK_PLACEMENT_POLICY", NULL),
      .node_ip = env_or("KUACK_NODE_IP", "127.0.0.1"),
  };
  char listen_buf[256], kubelet_buf[256], origins_buf[2048];
  char *token_owned = NULL;
  const char *env = getenv("KUACK_LOG_LEVEL");
  if (env && *env && kq_log_parse_level(env, &cfg.log_level) != KQ_OK) {
    fprintf(stderr, "kuack-node: invalid KUACK_LOG_LEVEL '%s'\n", env);
    return 2;
  }
  const char *listen = env_or("KUACK_LISTEN", NULL), *kubelet = env_or("KUACK_KUBELET_LISTEN", NULL);
  const char *token_file = env_or("KUACK_AGENT_TOKEN_FILE", NULL);
  size_t ninsecure = 0;
  enum {
    OPT_LOG_LEVEL = 256, OPT_VERSION, OPT_HELP, OPT_STANDALONE, OPT_NODE_NAME, OPT_LISTEN,
    OPT_KUBELET, OPT_AGENT_ROOT, OPT_TOKEN, OPT_TOKEN_FILE, OPT_ORIGINS, OPT_TLS_CERT, OPT_TLS_KEY,
    OPT_CACHE_DIR, OPT_CACHE_MAX, OPT_KCERT, OPT_KKEY, OPT_CLIENT_CA, OPT_INSECURE, OPT_POLICY, OPT_PARAMS, OPT_HEARTBEAT, OPT_RESUME,
    OPT_KUBECONFIG, OPT_CONTEXT, OPT_NODE_IP, OPT_NO_TAINT_OFF, OPT_KEEP_NODE,
  };
  static const struct option opts[] = {
      {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
      {"version", no_argument, NULL, OPT_VERSION},
      {"help", no_argument, NULL, OPT_HELP},
      {"standalone", required_argument, NULL, OPT_STANDALONE},
      {"node-name", required_argument, NULL, OPT_NODE_NAME},
      {"listen", required_argument, NULL, OPT_LISTEN},
      {"kubelet-listen", required_argument, NULL, OPT_KUBELET},
      {"agent-root", required_argument, NULL, OPT_AGENT_ROOT},
      {"agent-token", required_argument, NULL, OPT_TOKEN},
      {"agent-token-file", required_argument, NULL, OPT_TOKEN_FILE},
      {"allowed-origins", required_argument, NULL, OPT_ORIGINS},
      {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
      {"tls-key", required_argument, NULL, OPT_TLS_KEY},
      {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
      {"kubelet-cert", required_argument, NULL, OPT_KCERT},
      {"kubelet-key", required_argument, NULL, OPT_KKEY},
      {"client-ca-file", required_argument, NULL, OPT_CLIENT_CA},
      {"cache-max-bytes", required_argument, NULL, OPT_CACHE_MAX},
      {"insecure-registry", required_argument, NULL, OPT_INSECURE},
      {"placement-policy", required_argument, NULL, OPT_POLICY},
      {"placement-params", required_argument, NULL, OPT_PARAMS},
      {"heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT},
      {"resume-window-ms", required_argument, NULL, OPT_RESUME},
      {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
      {"context", required_argument, NULL, OPT_CONTEXT},
      {"node-ip", required_argument, NULL, OPT_NODE_IP},
      {"no-browsers-taint-off", no_argument, NULL, OPT_NO_TAINT_OFF},
      {"keep-node", no_argument, NULL, OPT_KEEP_NODE},
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
      case OPT_VERSION: printf("kuack-node %s\n", KQ_VERSION); return 0;
      case 'h':
      case OPT_HELP: usage(stdout); return 0;
      case OPT_STANDALONE: cfg.standalone_dir = optarg; break;
      case OPT_NODE_NAME: cfg.node_name = optarg; break;
      case OPT_LISTEN: listen = optarg; break;
      case OPT_KUBELET: kubelet = optarg; break;
      case OPT_AGENT_ROOT: cfg.agent_root = optarg; break;
      case OPT_TOKEN: cfg.token = optarg; break;
      case OPT_TOKEN_FILE: token_file = optarg; break;
      case OPT_ORIGINS: {
        snprintf(origins_buf, sizeof origins_buf, "%s", optarg);
        size_t n = 0;
        for (char *save = NULL, *o = strtok_r(origins_buf, ",", &save); o && n < NODE_MAX_ORIGINS;
             o = strtok_r(NULL, ",", &save))
          cfg.origins[n++] = o;
        break;
      }
      case OPT_TLS_CERT: cfg.tls_cert = optarg; break;
      case OPT_TLS_KEY: cfg.tls_key = optarg; break;
      case OPT_CACHE_DIR: cfg.cache_dir = optarg; break;
      case OPT_KCERT: cfg.kubelet_cert = optarg; break;
      case OPT_KKEY: cfg.kubelet_key = optarg; break;
      case OPT_CLIENT_CA: cfg.client_ca = optarg; break;
      case OPT_CACHE_MAX: cfg.cache_max_bytes = strtoull(optarg, NULL, 10); break;
      case OPT_INSECURE:
        if (ninsecure == NODE_MAX_INSECURE) {
          fprintf(stderr, "kuack-node: too many --insecure-registry\n");
          return 2;
        }
        cfg.insecure[ninsecure++] = optarg;
        break;
      case OPT_POLICY: cfg.policy = optarg; break;
      case OPT_PARAMS:
        if (parse_params(optarg, &cfg.params) != KQ_OK) {
          fprintf(stderr, "kuack-node: invalid --placement-params (want key=number,...)\n");
          return 2;
        }
        break;
      case OPT_HEARTBEAT: cfg.heartbeat_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
      case OPT_RESUME: cfg.resume_window_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
      case OPT_KUBECONFIG: cfg.kubeconfig = optarg; break;
      case OPT_CONTEXT: cfg.kube_context = optarg; break;
      case OPT_NODE_IP: cfg.node_ip = optarg; break;
      case OPT_NO_TAINT_OFF: cfg.no_browsers_taint_off = true; break;
      case OPT_KEEP_NODE: cfg.keep_node = true; break;
      default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "kuack-node: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 2;
  }
  if (listen && parse_hostport(listen, &cfg.listen_addr, &cfg.listen_port, listen_buf, sizeof listen_buf)) {
    fprintf(stderr, "kuack-node: invalid --listen '%s' (want ADDR:PORT)\n", listen);
    return 2;
  }
  if (kubelet && parse_hostport(kubelet, &cfg.kubelet_addr, &cfg.kubelet_port, kubelet_buf, sizeof kubelet_buf)) {
    fprintf(stderr, "kuack-node: invalid --kubelet-listen '%s' (want ADDR:PORT or off)\n", kubelet);
    return 2;
  }
  if (!!cfg.tls_cert != !!cfg.tls_key) {
    fprintf(stderr, "kuack-node: --tls-cert and --tls-key go together\n");
    return 2;
  }
  if (cfg.standalone_dir && (cfg.kubeconfig || cfg.kube_context)) {
    fprintf(stderr, "kuack-node: --standalone and --kubeconfig/--context exclude each other\n");
    return 2;
  }
  cfg.kubernetes = !cfg.standalone_dir &&
                   (cfg.kubeconfig || cfg.kube_context || env_or("KUBERNETES_SERVICE_HOST", NULL));
  if (token_file) {
    token_owned = read_token_file(token_file);
    if (!token_owned) {
      fprintf(stderr, "kuack-node: cannot read --agent-token-file '%s'\n", token_file);
      return 2;
    }
    cfg.token = token_owned;
  }

  node_app_t app;
  int rc = node_app_start(&app, &cfg);
  int code = rc == KQ_OK ? node_app_run(&app) : 1;
  node_app_free(&app);
  if (!code) code = app.exit_code;
  free(token_owned);
  return code;
}
