#!/usr/bin/env bash
# See CMakeLists.txt. usage: k8s_pods.sh path/to/kuack-node
set -euo pipefail
NODE_BIN=${1:?usage: k8s_pods.sh KUACK_NODE}
WORK=$(mktemp -d /tmp/kq-k8s-pods.XXXXXX)
NODE_LOG=$WORK/node.log
# shellcheck source=../k8s_common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../k8s_common.sh"

cluster_up
registry_up open
mkdir -p "$WORK/ex"
wasm_build "$ROOT/examples/hello-wasi/hello.c" "$WORK/ex/hello.wasm"
wasm_build "$ROOT/examples/cpu-job/cpujob.c" "$WORK/ex/cpujob.wasm"
push_wasm "$REG_open" demo/hello:v1 "$WORK/ex/hello.wasm"
push_wasm "$REG_open" demo/cpujob:v1 "$WORK/ex/cpujob.wasm"

PORT=$(freeport); KPORT=$(freeport)
NODE_PID=
start_node() {
  "$NODE_BIN" --kubeconfig "$KUBECONFIG" --context admin --node-name kuack-node --node-ip 127.0.0.1 \
    --listen "127.0.0.1:$PORT" --kubelet-listen "127.0.0.1:$KPORT" --client-ca-file "$KUBELET_CLIENT_CA" \
    --insecure-registry "$REG_open" --cache-dir "$WORK/cache" --agent-root "$ROOT/agent" \
    --heartbeat-ms 1000 --resume-window-ms 1500 "$@" >>"$NODE_LOG" 2>&1 &
  NODE_PID=$!
  PIDS+=($NODE_PID)
  until_ok 20 curl -sf "http://127.0.0.1:$PORT/healthz" || fail "kuack-node did not start"
}
BROWSER_PID=
open_browser() {
  node "$ROOT/scripts/demo/open-page.mjs" "http://127.0.0.1:$PORT/" >>"$WORK/browser.log" 2>&1 &
  BROWSER_PID=$!
  PIDS+=($BROWSER_PID)
}
close_browser() { kill -TERM "$BROWSER_PID"; wait "$BROWSER_PID" 2>/dev/null || true; }

nodejp() { k get node kuack-node -o jsonpath="$1"; }
has_nb_taint() { grep -q 'kuack.io/no-browsers' <<<"$(nodejp '{.spec.taints[*].key}')"; }
no_capacity() { [ "$(nodejp '{.status.capacity.cpu}')" = 0 ] && has_nb_taint; }
with_capacity() {
  local cpu mem pods gpu acpu
  cpu=$(nodejp '{.status.capacity.cpu}'); mem=$(nodejp '{.status.capacity.memory}')
  pods=$(nodejp '{.status.capacity.pods}'); gpu=$(nodejp '{.status.capacity.kuack\.io/gpu}')
  acpu=$(nodejp '{.status.allocatable.cpu}')
  [ -n "$cpu" ] && [ "$cpu" != 0 ] && [ -n "$mem" ] && [ "$mem" != 0 ] && [ -n "$pods" ] && [ "$pods" != 0 ] &&
    [ -n "$gpu" ] && [ "$acpu" = "$cpu" ] && ! has_nb_taint
}
phase() { k get pod "$1" -o jsonpath='{.status.phase}'; }
is_phase() { [ "$(phase "$1")" = "$2" ]; }
reason() { k get pod "$1" -o jsonpath='{.status.reason}'; }
pod_reasons() { k get events -n default --field-selector "involvedObject.kind=Pod,involvedObject.name=$1" -o jsonpath='{.items[*].reason}'; }
pod_event() { grep -qw "$2" <<<"$(pod_reasons "$1")"; }
# pod NAME IMAGE ARGS_JSON [extra container YAML lines (8 spaces)] [extra metadata YAML (2 spaces)]
pod() {
  cat > "$WORK/$1.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $1
  namespace: default
${5:-}
spec:
  nodeName: kuack-node
  restartPolicy: Never
  terminationGracePeriodSeconds: 5
  tolerations:
    - {key: kuack.io/provider, operator: Exists, effect: NoSchedule}
  containers:
    - name: main
      image: $2
      args: $3
      resources: {requests: {cpu: 250m, memory: 32Mi}}
${4:-}
YAML
  k apply -f "$WORK/$1.yaml" >/dev/null || fail "cannot create Pod $1"
}

# ---- 1. capacity follows browsers; the no-browsers taint ----
start_node
until_ok 30 k get node kuack-node || fail "the Node was not registered"
until_ok 20 no_capacity || { k get node kuack-node -o yaml >&2; fail "no browser: want cpu 0 and the kuack.io/no-browsers taint"; }
echo "ok: no browser → cpu 0, kuack.io/no-browsers taint"
open_browser
until_ok 60 with_capacity || { k get node kuack-node -o yaml >&2; cat "$WORK/browser.log" >&2; fail "browser joined: want capacity and no taint"; }
echo "ok: browser joined → cpu $(nodejp '{.status.capacity.cpu}') memory $(nodejp '{.status.capacity.memory}') pods $(nodejp '{.status.capacity.pods}') gpu $(nodejp '{.status.capacity.kuack\.io/gpu}'), taint gone"

# ---- 2. closing the browser fails its Pod with NodeLost ----
pod lost "$REG_open/demo/cpujob:v1" '["primes", "1", "4000000000"]'
until_ok 90 is_phase lost Running || { k get pod lost -o yaml >&2; fail "Pod lost did not run"; }
echo "ok: pod lost Running"
close_browser
until_ok 30 is_phase lost Failed || { k get pod lost -o yaml >&2; fail "Pod lost did not fail after the browser closed"; }
[ "$(reason lost)" = NodeLost ] || fail "Pod lost failed with reason '$(reason lost)', want NodeLost"
[ "$(k get pod lost -o jsonpath='{.status.containerStatuses[0].state.terminated.reason}')" = NodeLost ] ||
  fail "container of lost not terminated with NodeLost"
until_ok 10 pod_event lost NodeLost || fail "no NodeLost Event on lost (have: $(pod_reasons lost))"
echo "ok: browser closed → lost Failed NodeLost: $(k get pod lost -o jsonpath='{.status.message}')"
until_ok 20 no_capacity || { k get node kuack-node -o yaml >&2; fail "browser left: want cpu 0 and the taint back"; }
echo "ok: browser left → cpu 0, taint back"

echo "PASS"
