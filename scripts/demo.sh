#!/usr/bin/env bash
# The main job: a standalone kuack node, a real headless browser and example workloads.
#   1. set-up (scripts/setup.sh) and a Release build of kuack-node
#   2. a local OCI registry (Debian docker-registry on 127.0.0.1) and the example workloads built
#      with clang --target=wasm32-wasi and pushed as multi-arch images (linux/amd64 + wasi/wasm)
#   3. kuack-node --standalone on the example Pod manifests (scripts/demo/pods)
#   4. the instrumented agent page opened in headless Chromium: the browser joins the node
#   5. every Pod placed, run and finished; their status and logs printed; exit 0
# Options: --keep (leave everything running and print the page URL for your own browser),
#          --no-browser (do not start Chromium; open the printed URL yourself),
#          --check (used by the e2e test: assert the expected outcome of every Pod, then delete a
#          manifest and assert its Pod goes away; KQ_BUILD_DIR selects an existing build).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEEP=0; BROWSER=1; CHECK=0
for a in "$@"; do
  case $a in
    --keep) KEEP=1 ;;
    --no-browser) BROWSER=0; KEEP=1 ;;
    --check) CHECK=1 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) echo "demo: unknown option $a" >&2; exit 2 ;;
  esac
done
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "set-up"
bash "$ROOT/scripts/setup.sh"
if [ -n "${KQ_BUILD_DIR:-}" ]; then
  BUILD=$KQ_BUILD_DIR
else
  BUILD=$ROOT/build-demo
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DKQ_BUILD_TESTS=OFF -DKQ_BUILD_BENCH=OFF >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target kuack-node >/dev/null
fi
echo "kuack-node: $BUILD/kuack-node"

WORK=$(mktemp -d /tmp/kuack-demo.XXXXXX)
PIDS=()
cleanup() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "$KEEP" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

say "local OCI registry"
REGPORT=$(freeport)
mkdir -p "$WORK/registry"
cat > "$WORK/registry/config.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $WORK/registry/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$REGPORT}
YAML
docker-registry serve "$WORK/registry/config.yml" >"$WORK/registry.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$REGPORT/v2/" >/dev/null && break; sleep 0.1; done
echo "registry on 127.0.0.1:$REGPORT"

say "example workloads → multi-arch images"
OUT=$(bash "$ROOT/examples/build.sh" "$WORK/examples")
REG=http://127.0.0.1:$REGPORT
bash "$ROOT/examples/push-image.sh" "$REG" demo/hello:v1 "$OUT/hello.wasm" >/dev/null
bash "$ROOT/examples/push-image.sh" "$REG" demo/cpujob:v1 "$OUT/cpujob.wasm" >/dev/null
bash "$ROOT/examples/push-image.sh" "$REG" demo/bindgen-hello:v1 "$OUT/bindgen-hello/pkg" >/dev/null
curl -s "$REG/v2/_catalog"; echo

say "kuack-node --standalone"
mkdir -p "$WORK/pods"
for f in "$ROOT"/scripts/demo/pods/*.yaml; do
  sed "s#__REGISTRY__#127.0.0.1:$REGPORT#g" "$f" > "$WORK/pods/$(basename "$f")"
done
PORT=$(freeport); KPORT=$(freeport)
"$BUILD/kuack-node" --standalone "$WORK/pods" --listen "127.0.0.1:$PORT" \
  --kubelet-listen "127.0.0.1:$KPORT" --insecure-registry "127.0.0.1:$REGPORT" \
  --cache-dir "$WORK/cache" --agent-root "$ROOT/agent" --log-level warn &
NODE_PID=$!
PIDS+=($NODE_PID)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
URL="http://127.0.0.1:$PORT/"
echo "agent page: $URL   pods: http://127.0.0.1:$KPORT/pods"

if [ "$BROWSER" = 1 ]; then
  say "headless Chromium opens the agent page"
  node "$ROOT/scripts/demo/open-page.mjs" "$URL" "$WORK/agent-page.png" &
  BROWSER_PID=$!
  PIDS+=($BROWSER_PID)
fi

if [ "$KEEP" = 1 ] && [ "$BROWSER" = 0 ]; then
  echo "open $URL in your browser; Ctrl-C stops everything"
  wait "$NODE_PID"
  exit 0
fi

say "waiting for every Pod to finish"
deadline=$((SECONDS + 120))
while :; do
  pods=$(curl -sf "http://127.0.0.1:$KPORT/pods" || echo '{"items":[]}')
  total=$(jq '.items | length' <<<"$pods")
  done_n=$(jq '[.items[] | select(.status.phase=="Succeeded" or .status.phase=="Failed")] | length' <<<"$pods")
  [ "$total" -gt 0 ] && [ "$total" = "$done_n" ] && break
  if [ "$BROWSER" = 1 ] && ! kill -0 "$BROWSER_PID" 2>/dev/null; then echo "demo: the browser exited" >&2; exit 1; fi
  if [ $SECONDS -ge $deadline ]; then echo "demo: Pods did not finish in time" >&2; jq . <<<"$pods" >&2; exit 1; fi
  sleep 0.5
done

say "Pods"
jq -r '["NAME","PHASE","REASON","EXIT","RESTARTS","IMAGE ID"], (.items[] | [.metadata.name, .status.phase,
  (.status.containerStatuses[0].state.terminated.reason // "-"),
  ((.status.containerStatuses[0].state.terminated.exitCode // "-") | tostring),
  (.status.containerStatuses[0].restartCount | tostring),
  ((.status.containerStatuses[0].imageID // "-") | .[0:60])]) | @tsv' <<<"$pods" | column -t -s $'\t'

for name in $(jq -r '.items[].metadata.name' <<<"$pods"); do
  c=$(jq -r --arg n "$name" '.items[] | select(.metadata.name==$n) | .spec.containers[0].name' <<<"$pods")
  say "logs default/$name/$c"
  curl -sf "http://127.0.0.1:$KPORT/containerLogs/default/$name/$c" || echo "(no logs)"
done

if [ "$CHECK" = 1 ]; then
  say "checking the outcome"
  fail() { echo "CHECK FAILED: $*" >&2; jq . <<<"$pods" >&2; exit 1; }
  field() { jq -r --arg n "$1" ".items[] | select(.metadata.name==\$n) | $2" <<<"$pods"; }
  [ "$(field hello .status.phase)" = Succeeded ] || fail "hello is not Succeeded"
  [ "$(field hello '.status.containerStatuses[0].state.terminated.exitCode')" = 0 ] || fail "hello exit code"
  case "$(field hello '.status.containerStatuses[0].imageID')" in *@sha256:*) ;; *) fail "hello imageID";; esac
  logs=$(curl -sf "http://127.0.0.1:$KPORT/containerLogs/default/hello/hello")
  grep -q "GREETING=hello from a browser" <<<"$logs" || fail "hello logs lack the env var: $logs"
  grep -q -- "--name" <<<"$logs" || fail "hello logs lack its args"
  grep -q "this line goes to stderr" <<<"$logs" || fail "hello logs lack stderr"
  [ "$(field exit-three .status.phase)" = Failed ] || fail "exit-three is not Failed"
  [ "$(field exit-three '.status.containerStatuses[0].state.terminated.reason')" = Error ] || fail "exit-three reason"
  [ "$(field exit-three '.status.containerStatuses[0].state.terminated.exitCode')" = 3 ] || fail "exit-three exit code"
  [ "$(field bindgen-hello .status.phase)" = Succeeded ] || fail "bindgen-hello is not Succeeded"
  curl -sf "http://127.0.0.1:$KPORT/containerLogs/default/bindgen-hello/pkg" | grep -q "hello from a wasm-bindgen style module" \
    || fail "bindgen-hello logs lack the module's console output"
  [ "$(field primes .status.phase)" = Succeeded ] || fail "primes is not Succeeded"
  curl -sf "http://127.0.0.1:$KPORT/containerLogs/default/primes/primes" | grep -q "primes" || fail "primes logs"
  # A manifest removed from the directory deletes its Pod.
  rm "$WORK/pods/hello.yaml"
  for _ in $(seq 100); do
    pods=$(curl -sf "http://127.0.0.1:$KPORT/pods")
    [ -z "$(field hello .metadata.name)" ] && break
    sleep 0.2
  done
  [ -z "$(field hello .metadata.name)" ] || fail "hello still listed after its manifest was removed"
  echo "all checks passed"
fi

if [ "$KEEP" = 1 ]; then
  echo; echo "still running: agent page $URL (Ctrl-C stops everything)"
  wait "$NODE_PID"
fi
if [ "$BROWSER" = 1 ]; then
  kill -TERM "$BROWSER_PID"; wait "$BROWSER_PID" || true   # takes a last screenshot of the page
  if [ -f "$WORK/agent-page.png" ]; then
    cp "$WORK/agent-page.png" "$BUILD/agent-page.png" && echo "screenshot of the agent page: $BUILD/agent-page.png"
  fi
fi
rc=0
kill -TERM "$NODE_PID"; wait "$NODE_PID" || rc=$?
echo "kuack-node exited with $rc"
exit "$rc"
