#!/bin/sh
# Agent-plane load measurement: kq-gateway-host plus two kuack-swarm processes of N/2 agents each
# (one process stays below the 20,000 fd limit). Prints the registration time of each swarm, the
# node's CPU share over the steady-state window and its RSS per connected browser.
#   bench/tools/kuack-swarm/measure.sh BUILD_DIR [N=10000] [DURATION_S=40] [PORT=18080]
set -eu
B=${1:?build dir}; N=${2:-10000}; D=${3:-40}; PORT=${4:-18080}
T=$(mktemp -d)
ulimit -n 20000
"$B/tests/integration/wire/kq-gateway-host" --port "$PORT" --token T --heartbeat-ms 1000 >"$T/host" 2>&1 &
HP=$!
while ! grep -q '^ready' "$T/host" 2>/dev/null; do sleep 0.1; done
sleep 1.2
base=$(grep '^status' "$T/host" | tail -1)
H=$((N / 2))
"$B/kuack-swarm" --port "$PORT" --n "$H" --token T --hb-ms 1000 --duration-s "$D" --id e >"$T/s1" 2>&1 &
S1=$!
"$B/kuack-swarm" --port "$PORT" --n $((N - H)) --token T --hb-ms 1000 --duration-s "$D" --id f >"$T/s2" 2>&1 &
S2=$!
wait $S1 $S2 || true
kill -TERM $HP; wait $HP || true
grep -h 'registered in\|only' "$T/s1" "$T/s2"
# steady state: status lines 15 s after the swarms started up to 3 s before they stop
awk -v base="$base" -v d="$D" '
  BEGIN { split(base, a, /[ =]/); for (i = 1; i in a; i++) { if (a[i] == "rss_kb") brss = a[i+1]; if (a[i] == "heap_used_kb") bheap = a[i+1] } }
  /^status/ { n++; for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
              cpu[n] = v["cpu_s"]; rss[n] = v["rss_kb"]; conns[n] = v["connections"]; up[n] = v["up"]
              heap[n] = v["heap_used_kb"]; hfree[n] = v["heap_free_kb"] }
  END { # find the first line after base
        for (i = 1; i <= n; i++) if (cpu[i] != "" && i > 1) {}
        s = 0; for (i = 1; i <= n; i++) if (up[i] > 0) { s = i; break }
        a0 = s + 12; a1 = s + d - 6
        printf "steady window lines %d..%d: cpu %.3f s over %d s = %.1f%% of a core\n", a0, a1, cpu[a1]-cpu[a0], a1-a0, 100*(cpu[a1]-cpu[a0])/(a1-a0)
        printf "connections=%d up=%d rss %d KB (base %d KB): %.2f KB per browser\n", conns[a1], up[a1], rss[a1], brss, (rss[a1]-brss)/conns[a1]
        printf "malloc: in use %d KB (base %d KB): %.2f KB per browser; %d KB free inside the heap\n", heap[a1], bheap, (heap[a1]-bheap)/conns[a1], hfree[a1]
      }' "$T/host"
echo "logs in $T; load: $(cat /proc/loadavg)"
