# Shell helpers shared by the Kubernetes script tests (source it; needs bash, set -euo pipefail).
# The caller sets WORK (a fresh temporary folder) and NODE_LOG (kuack-node's log file) first.
# Provides: fail, PIDS + an EXIT trap that stops them and the test cluster, freeport, until_ok,
# k (kubectl against the test cluster), cluster_up, registry_up, wasm_build, push_wasm.
ROOT=${KQ_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TC=$ROOT/../shared/k8s/testcluster
PIDS=()
fail() {
  echo "FAIL: $*" >&2
  echo "--- kuack-node log" >&2; tail -n 80 "$NODE_LOG" >&2 || true
  if [ -f "$WORK/cluster/logs/kube-apiserver.log" ]; then
    echo "--- kube-apiserver log" >&2; tail -n 20 "$WORK/cluster/logs/kube-apiserver.log" >&2 || true
  fi
  exit 1
}
k8s_cleanup() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
  # before `wait`: a kube-apiserver restarted by the test is the script's own child
  "$TC" down "$WORK/cluster" >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap k8s_cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# until_ok DEADLINE_S CMD...: re-runs CMD every 0.2 s until it succeeds or the deadline passes.
until_ok() {
  local end=$((SECONDS + $1)); shift
  while ! "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.2
  done
}
k() { kubectl --kubeconfig "$KUBECONFIG" "$@" 2>/dev/null; }
# Starts the test API server (+etcd) in $WORK/cluster and loads its env (KUBECONFIG, ...).
cluster_up() {
  "$TC" up "$WORK/cluster" >/dev/null || fail "the test cluster did not start"
  # shellcheck disable=SC1091
  . "$WORK/cluster/env"
  export KUBECONFIG
}
# registry_up NAME [USER PASS]: a docker-registry on a free port (htpasswd Basic auth when USER is
# given); sets REG_<NAME>=127.0.0.1:port.
registry_up() {
  local name=$1 user=${2:-} pass=${3:-} port auth=""
  port=$(freeport)
  mkdir -p "$WORK/reg-$name"
  if [ -n "$user" ]; then
    htpasswd -Bbn "$user" "$pass" > "$WORK/reg-$name/htpasswd" 2>/dev/null || fail "htpasswd"
    auth="auth: {htpasswd: {realm: kuack-test, path: $WORK/reg-$name/htpasswd}}"
  fi
  cat > "$WORK/reg-$name/config.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $WORK/reg-$name/data}}
http: {addr: 127.0.0.1:$port}
$auth
YAML
  docker-registry serve "$WORK/reg-$name/config.yml" >"$WORK/reg-$name.log" 2>&1 &
  PIDS+=($!)
  # /v2/ answers 401 behind auth: any HTTP answer means it is up.
  until_ok 20 curl -s -o /dev/null "http://127.0.0.1:$port/v2/" || fail "registry $name did not start"
  printf -v "REG_$name" '%s' "127.0.0.1:$port"
}
# wasm_build SRC OUT: a WASI module with the toolchain the examples use.
wasm_build() { clang --target=wasm32-wasi -O2 -Wl,--strip-all "$1" -o "$2" || fail "cannot build $1"; }
# push_wasm REGISTRY NAME:TAG FILE [USER:PASS]
push_wasm() {
  local cred=()
  [ -n "${4:-}" ] && cred=(-u "$4")
  bash "$ROOT/examples/push-image.sh" "${cred[@]}" "http://$1" "$2" "$3" >/dev/null || fail "cannot push $2"
}
# node_start IDENTITY_ARGS...: kuack-node in Kubernetes mode on free ports (sets PORT, KPORT,
# NODE_PID) with the flags every script test uses — registry $REG_open, cache in $WORK, the
# agent from the source tree — logging to $NODE_LOG; returns once /healthz answers.
node_start() {
  PORT=$(freeport); KPORT=$(freeport)
  "$NODE_BIN" "$@" --node-name kuack-node --node-ip 127.0.0.1 \
    --listen "127.0.0.1:$PORT" --kubelet-listen "127.0.0.1:$KPORT" --client-ca-file "$KUBELET_CLIENT_CA" \
    --insecure-registry "$REG_open" --cache-dir "$WORK/cache" --agent-root "$ROOT/agent" \
    >"$NODE_LOG" 2>&1 &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  until_ok 20 curl -sf "http://127.0.0.1:$PORT/healthz" || fail "kuack-node did not start"
}
# browser_open: the agent page in headless Chromium, joining the node on $PORT.
browser_open() {
  node "$ROOT/scripts/demo/open-page.mjs" "http://127.0.0.1:$PORT/" >>"$WORK/browser.log" 2>&1 &
  PIDS+=($!)
}
# ready_with_cpu: the Node is Ready and advertises cpu > 0 (a browser has joined).
ready_with_cpu() {
  local r cpu
  r=$(k get node kuack-node -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')
  cpu=$(k get node kuack-node -o jsonpath='{.status.capacity.cpu}')
  [ "$r" = True ] && [ -n "$cpu" ] && [ "$cpu" != 0 ]
}
