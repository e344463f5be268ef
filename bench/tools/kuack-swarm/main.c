/* kuack-swarm: N simulated agents speaking kuack.v1 from one process (epoll, raw sockets, a
 * minimal WebSocket client). Each sends hello, heartbeats every --hb-ms (staggered), answers
 * pings, accepts run frames and reports accepted → running → exited 0. With --flood it also
 * sends heartbeats as fast as the sockets take them, to measure the node's frames/s.
 *   kuack-swarm --port 8080 [--host 127.0.0.1] [--n 1000] [--token T] [--hb-ms 1000]
 *               [--duration-s 10] [--flood] [--id PREFIX] [--inflight 512]
 * One process stays below the 20,000 fd limit up to ~9,000 agents: run several for 10k. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kq_proto.h"

typedef enum { A_CONNECTING, A_UPGRADING, A_HELLO, A_LIVE, A_DEAD } astate_t;

typedef struct agent {
  int fd;
  astate_t st;
  uint8_t *in, *out;
  size_t inlen, incap, outlen, outcap;
  uint64_t seq;
  bool want_out;
} agent_t;

static struct {
  const char *host, *token, *prefix;
  int port, n, hb_ms, duration_s, inflight;
  bool flood;
} opt = {"127.0.0.1", "", "swarm", 8080, 1000, 1000, 10, 512, false};

static struct {
  long pending, started;
  long registered, closed, frames_out, frames_in, runs, pings;
  uint64_t t_start, t_all_registered;
} st;

static int ep;
static agent_t *agents;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void want_out(agent_t *a, bool on) {
  if (a->want_out == on) return;
  a->want_out = on;
  struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = a};
  epoll_ctl(ep, EPOLL_CTL_MOD, a->fd, &ev);
}

static void kill_agent(agent_t *a) {
  if (a->st == A_DEAD) return;
  if (a->st == A_LIVE) st.registered--;
  else st.pending--;
  a->st = A_DEAD;
  st.closed++;
  close(a->fd);
  free(a->in);
  free(a->out);
  a->in = a->out = NULL;
}

static void flush(agent_t *a) {
  size_t off = 0;
  while (off < a->outlen) {
    ssize_t w = send(a->fd, a->out + off, a->outlen - off, MSG_NOSIGNAL);
    if (w > 0) {
      off += (size_t)w;
      continue;
    }
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    kill_agent(a);
    return;
  }
  memmove(a->out, a->out + off, a->outlen - off);
  a->outlen -= off;
  want_out(a, a->outlen > 0);
}

static void put(agent_t *a, const void *p, size_t n) {
  if (a->outlen + n > a->outcap) {
    a->outcap = (a->outlen + n) * 2;
    a->out = realloc(a->out, a->outcap);
  }
  memcpy(a->out + a->outlen, p, n);
  a->outlen += n;
}

static void send_ws(agent_t *a, const kq_proto_msg_t *pm) {
  static kq_proto_buf_t b;
  if (!b.mem && !b.cap) kq_proto_buf_init(&b, 0);
  if (kq_proto_encode(pm, &b) != 0) return;
  uint8_t h[14];
  size_t hl = 0, n = b.len;
  h[hl++] = 0x82;
  if (n < 126) {
    h[hl++] = (uint8_t)(0x80 | n);
  } else {
    h[hl++] = 0x80 | 126;
    h[hl++] = (uint8_t)(n >> 8);
    h[hl++] = (uint8_t)n;
  }
  memset(h + hl, 0, 4); /* zero mask: valid, and the payload stays as is */
  hl += 4;
  put(a, h, hl);
  put(a, kq_proto_buf_data(&b), n);
  st.frames_out++;
}

static void send_hello(agent_t *a, int i) {
  char id[96];
  snprintf(id, sizeof(id), "%s-%d", opt.prefix, i);
  kq_proto_msg_t pm = {.type = KQ_PROTO_HELLO};
  pm.hello.token = (char *)opt.token;
  pm.hello.agent_id = id;
  pm.hello.cpu_millis = 4000;
  pm.hello.memory_bytes = 2ll << 30;
  send_ws(a, &pm);
}

static void send_hb(agent_t *a) {
  kq_proto_msg_t pm = {.type = KQ_PROTO_HEARTBEAT};
  pm.heartbeat.seq = a->seq++;
  pm.heartbeat.load = 0.1;
  send_ws(a, &pm);
}

static void send_status(agent_t *a, char *run_id, kq_proto_phase_t ph) {
  kq_proto_msg_t pm = {.type = KQ_PROTO_STATUS};
  pm.status.run_id = run_id;
  pm.status.phase = ph;
  pm.status.has_exit_code = ph == KQ_PROTO_PHASE_EXITED;
  send_ws(a, &pm);
}

static void on_frame(agent_t *a, const uint8_t *p, size_t n) {
  kq_proto_msg_t pm;
  kq_proto_error_t err;
  st.frames_in++;
  if (kq_proto_decode(p, n, NULL, &pm, &err) != 0) return;
  switch (pm.type) {
  case KQ_PROTO_WELCOME:
    if (a->st == A_HELLO) {
      a->st = A_LIVE;
      st.pending--;
      if (++st.registered == opt.n && !st.t_all_registered) st.t_all_registered = now_ms();
    }
    break;
  case KQ_PROTO_PING: {
    kq_proto_msg_t pong = {.type = KQ_PROTO_PONG};
    pong.pong = pm.ping;
    send_ws(a, &pong);
    st.pings++;
    break;
  }
  case KQ_PROTO_RUN:
    st.runs++;
    send_status(a, pm.run.run_id, KQ_PROTO_PHASE_ACCEPTED);
    send_status(a, pm.run.run_id, KQ_PROTO_PHASE_RUNNING);
    send_status(a, pm.run.run_id, KQ_PROTO_PHASE_EXITED);
    break;
  default:
    break;
  }
  kq_proto_msg_clear(&pm);
}

static void on_readable(agent_t *a) {
  for (;;) {
    if (a->incap - a->inlen < 4096) {
      a->incap = a->incap ? a->incap * 2 : 8192;
      a->in = realloc(a->in, a->incap);
    }
    ssize_t r = recv(a->fd, a->in + a->inlen, a->incap - a->inlen, 0);
    if (r > 0) {
      a->inlen += (size_t)r;
      continue;
    }
    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      kill_agent(a);
      return;
    }
    break;
  }
  size_t off = 0;
  if (a->st == A_UPGRADING) {
    uint8_t *e = memmem(a->in, a->inlen, "\r\n\r\n", 4);
    if (!e) return;
    if (a->inlen < 12 || memcmp(a->in + 9, "101", 3) != 0) {
      kill_agent(a);
      return;
    }
    off = (size_t)(e - a->in) + 4;
    a->st = A_HELLO;
    send_hello(a, (int)(a - agents));
  }
  while (a->inlen - off >= 2) {
    uint8_t *b = a->in + off;
    int op = b[0] & 0x0f;
    uint64_t len = b[1] & 0x7f;
    size_t h = 2;
    if (len == 126) {
      if (a->inlen - off < 4) break;
      len = (uint64_t)b[2] << 8 | b[3];
      h = 4;
    } else if (len == 127) {
      if (a->inlen - off < 10) break;
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | b[2 + i];
      h = 10;
    }
    if (a->inlen - off < h + len) break;
    if (op == 2) on_frame(a, b + h, (size_t)len);
    if (op == 8) {
      kill_agent(a);
      return;
    }
    off += h + (size_t)len;
  }
  memmove(a->in, a->in + off, a->inlen - off);
  a->inlen -= off;
  if (a->inlen == 0 && a->incap > 65536) { /* keep idle agents small */
    free(a->in);
    a->in = NULL;
    a->incap = 0;
  }
  if (a->outlen) flush(a);
}

static void start_agent(agent_t *a, const struct sockaddr_in *addr) {
  a->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (a->fd < 0) {
    perror("socket");
    a->st = A_DEAD;
    return;
  }
  int one = 1;
  setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  connect(a->fd, (const struct sockaddr *)addr, sizeof(*addr));
  a->st = A_CONNECTING;
  st.pending++;
  st.started++;
  a->want_out = true;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = a};
  epoll_ctl(ep, EPOLL_CTL_ADD, a->fd, &ev);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(k, "--flood")) { opt.flood = true; continue; }
    if (!strcmp(k, "--host")) opt.host = v;
    else if (!strcmp(k, "--port")) opt.port = atoi(v);
    else if (!strcmp(k, "--n")) opt.n = atoi(v);
    else if (!strcmp(k, "--token")) opt.token = v;
    else if (!strcmp(k, "--hb-ms")) opt.hb_ms = atoi(v);
    else if (!strcmp(k, "--duration-s")) opt.duration_s = atoi(v);
    else if (!strcmp(k, "--id")) opt.prefix = v;
    else if (!strcmp(k, "--inflight")) opt.inflight = atoi(v);
    else { fprintf(stderr, "unknown option %s\n", k); return 2; }
    i++;
  }
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
  inet_pton(AF_INET, opt.host, &addr.sin_addr);
  ep = epoll_create1(EPOLL_CLOEXEC);
  agents = calloc((size_t)opt.n, sizeof(agent_t));
  st.t_start = now_ms();
  char req[256];
  int reqlen = snprintf(req, sizeof(req),
                        "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Protocol: kuack.v1\r\n\r\n", opt.host);
  const int tick_ms = 10;
  int slots = opt.hb_ms / tick_ms > 0 ? opt.hb_ms / tick_ms : 1;
  uint64_t next_tick = now_ms() + tick_ms, end = st.t_start + (uint64_t)opt.duration_s * 1000, next_print = st.t_start + 1000;
  long tickno = 0;
  struct epoll_event evs[512];
  while (now_ms() < end) {
    /* At most --inflight handshakes at once: a burst of 10k SYNs only overflows the listen queue. */
    while (st.started < opt.n && st.pending < opt.inflight) start_agent(&agents[st.started], &addr);
    int n = epoll_wait(ep, evs, 512, opt.flood ? 0 : tick_ms);
    for (int i = 0; i < n; i++) {
      agent_t *a = evs[i].data.ptr;
      if (a->st == A_DEAD) continue;
      if (evs[i].events & (EPOLLERR | EPOLLHUP) && a->st == A_CONNECTING) { kill_agent(a); continue; }
      if (a->st == A_CONNECTING && (evs[i].events & EPOLLOUT)) {
        a->st = A_UPGRADING;
        put(a, req, (size_t)reqlen);
        flush(a);
        continue;
      }
      if (evs[i].events & EPOLLIN) on_readable(a);
      if (a->st != A_DEAD && (evs[i].events & EPOLLOUT) && a->outlen) flush(a);
    }
    uint64_t now = now_ms();
    if (opt.flood) {
      for (int i = 0; i < opt.n; i++) {
        agent_t *a = &agents[i];
        if (a->st != A_LIVE || a->outlen > 4096) continue;
        for (int k = 0; k < 16; k++) send_hb(a);
        flush(a);
      }
    }
    if (now >= next_tick) {
      next_tick += tick_ms;
      long slot = tickno++ % slots;
      for (long i = slot; i < opt.n; i += slots) {
        agent_t *a = &agents[i];
        if (a->st != A_LIVE) continue;
        send_hb(a);
        flush(a);
      }
    }
    if (now >= next_print) {
      next_print += 1000;
      printf("t=%.1fs registered=%ld closed=%ld frames_out=%ld frames_in=%ld pings=%ld runs=%ld\n",
             (double)(now - st.t_start) / 1000, st.registered, st.closed, st.frames_out, st.frames_in, st.pings,
             st.runs);
      fflush(stdout);
    }
  }
  if (st.t_all_registered)
    printf("all %d registered in %llu ms\n", opt.n, (unsigned long long)(st.t_all_registered - st.t_start));
  else
    printf("only %ld of %d registered\n", st.registered, opt.n);
  printf("summary registered=%ld closed=%ld frames_out=%ld frames_in=%ld pings=%ld runs=%ld\n", st.registered,
         st.closed, st.frames_out, st.frames_in, st.pings, st.runs);
  for (int i = 0; i < opt.n; i++)
    if (agents[i].st != A_DEAD) kill_agent(&agents[i]);
  free(agents);
  close(ep);
  return st.t_all_registered ? 0 : 1;
}
