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
registry_up private kuack s3cret-pass
mkdir -p "$WORK/ex"
wasm_build "$ROOT/examples/hello-wasi/hello.c" "$WORK/ex/hello.wasm"
wasm_build "$ROOT/examples/cpu-job/cpujob.c" "$WORK/ex/cpujob.wasm"
push_wasm "$REG_open" demo/hello:v1 "$WORK/ex/hello.wasm"
push_wasm "$REG_open" demo/cpujob:v1 "$WORK/ex/cpujob.wasm"
push_wasm "$REG_private" demo/hello:v1 "$WORK/ex/hello.wasm" kuack:s3cret-pass

PORT=$(freeport); KPORT=$(freeport)
# The cluster admin by default. NODE_CONTEXT=node-kuack-node runs it as the kubelet identity:
# reading the Pods' Secrets/ConfigMaps works under the Node authorizer, but NodeRestriction
# refuses the Node spec patch that toggles the kuack.io/no-browsers taint (403), so step 1 fails.
NODE_CONTEXT=${NODE_CONTEXT:-admin}
NODE_PID=
start_node() {
  "$NODE_BIN" --kubeconfig "$KUBECONFIG" --context "$NODE_CONTEXT" --node-name kuack-node --node-ip 127.0.0.1 \
    --listen "127.0.0.1:$PORT" --kubelet-listen "127.0.0.1:$KPORT" --client-ca-file "$KUBELET_CLIENT_CA" \
    --insecure-registry "$REG_open" --insecure-registry "$REG_private" --cache-dir "$WORK/cache" --agent-root "$ROOT/agent" \
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
# pod NAME IMAGE ARGS_JSON [extra container YAML (6 spaces)] [extra metadata YAML (2 spaces)];
# $SPEC_EXTRA: extra spec YAML (2 spaces)
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
${SPEC_EXTRA:-}
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

# ---- 2. Secrets and ConfigMaps (read before any browser is needed) ----
waiting_reason() { k get pod "$1" -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}'; }
is_waiting() { [ "$(waiting_reason "$1")" = "$2" ]; }
# env from a Secret without the opt-in annotation: refused with a reason that says why.
pod secretenv "$REG_open/demo/hello:v1" '[]' \
  '      env: [{name: TOKEN, valueFrom: {secretKeyRef: {name: creds, key: token}}}]'
until_ok 30 is_phase secretenv Failed || { k get pod secretenv -o yaml >&2; fail "secretenv did not fail"; }
[ "$(reason secretenv)" = SecretsRefused ] || fail "secretenv reason '$(reason secretenv)', want SecretsRefused"
grep -q 'kuack.io/allow-secrets' <<<"$(k get pod secretenv -o jsonpath='{.status.message}')" ||
  fail "secretenv's message does not name the opt-in annotation"
echo "ok: env from a Secret refused: $(k get pod secretenv -o jsonpath='{.status.message}')"
# imagePullSecrets naming a Secret that does not exist yet: waiting, Warning Event, then retried.
SPEC_EXTRA='  imagePullSecrets: [{name: regcred}]' pod private "$REG_private/demo/hello:v1" '["--name", "private"]'
until_ok 30 is_waiting private CreateContainerConfigError || { k get pod private -o yaml >&2; fail "private is not waiting on its pull secret"; }
until_ok 10 pod_event private FailedToRetrieveImagePullSecret || fail "no FailedToRetrieveImagePullSecret Event (have: $(pod_reasons private))"
echo "ok: missing pull secret → $(k get pod private -o jsonpath='{.status.containerStatuses[0].state.waiting.message}')"
k create secret docker-registry regcred --docker-server="$REG_private" --docker-username=kuack \
  --docker-password=s3cret-pass >/dev/null || fail "cannot create the pull secret"
# env from a ConfigMap (valueFrom.configMapKeyRef + envFrom with a prefix).
k create configmap greet --from-literal=text="hello from a ConfigMap" --from-literal=other=x >/dev/null ||
  fail "cannot create the ConfigMap"
pod cmenv "$REG_open/demo/hello:v1" '["--name", "cm"]' \
  '      env: [{name: GREETING, valueFrom: {configMapKeyRef: {name: greet, key: text}}}]
      envFrom: [{prefix: CM_, configMapRef: {name: greet}}, {configMapRef: {name: nothing, optional: true}}]'

open_browser
until_ok 60 with_capacity || { k get node kuack-node -o yaml >&2; cat "$WORK/browser.log" >&2; fail "browser joined: want capacity and no taint"; }
echo "ok: browser joined → cpu $(nodejp '{.status.capacity.cpu}') memory $(nodejp '{.status.capacity.memory}') pods $(nodejp '{.status.capacity.pods}') gpu $(nodejp '{.status.capacity.kuack\.io/gpu}'), taint gone"

until_ok 90 is_phase cmenv Succeeded || { k get pod cmenv -o yaml >&2; fail "cmenv did not succeed"; }
logs=$(k logs cmenv) || fail "kubectl logs cmenv"
grep -q "GREETING=hello from a ConfigMap" <<<"$logs" || { echo "$logs" >&2; fail "cmenv's output lacks the ConfigMap value"; }
echo "ok: env from a ConfigMap: $(grep GREETING <<<"$logs")"
until_ok 60 is_phase private Succeeded || { k get pod private -o yaml >&2; fail "private did not succeed once the pull secret existed"; }
grep -q "argv\[2\]=private" <<<"$(k logs private)" || fail "private's output is missing"
echo "ok: image pulled with the imagePullSecret (Basic auth) → private Succeeded"

# ---- graceful deletion of a running Pod completes once the browser confirms the cancel ----
pod del "$REG_open/demo/cpujob:v1" '["primes", "1", "4000000000"]'
until_ok 60 is_phase del Running || { k get pod del -o yaml >&2; fail "Pod del did not run"; }
k delete pod del --grace-period=60 --wait=false >/dev/null || fail "kubectl delete pod del"
gone() { ! k get pod "$1"; }
# Well inside the 60 s grace period: only the browser's confirmation can have completed it.
until_ok 30 gone del || { k get pod del -o yaml >&2; fail "del was not deleted after the browser confirmed"; }
until_ok 10 pod_event del Killing || fail "no Killing Event on del (have: $(pod_reasons del))"
echo "ok: kubectl delete of a running Pod → Killing, cancel confirmed, object gone"

# ---- 3. closing the browser fails its Pod with NodeLost ----
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

# ---- 4. a node restart fails the Pod it was running, never runs it twice ----
open_browser
until_ok 60 with_capacity || fail "the browser did not come back"
pod long "$REG_open/demo/cpujob:v1" '["primes", "1", "4000000000"]'
until_ok 60 is_phase long Running || { k get pod long -o yaml >&2; fail "Pod long did not run"; }
kill -KILL "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true
echo "ok: long Running, kuack-node killed (-9)"
echo "--- restart" >>"$NODE_LOG"
start_node
until_ok 30 is_phase long Failed || { k get pod long -o yaml >&2; fail "Pod long did not fail after the node restart"; }
[ "$(reason long)" = NodeRestarted ] || fail "long reason '$(reason long)', want NodeRestarted"
until_ok 60 with_capacity || fail "the browser did not reconnect to the restarted node"
until_ok 10 pod_event long NodeRestarted || fail "no NodeRestarted Event on long (have: $(pod_reasons long))"
sed -n '1,/^--- restart/p' "$NODE_LOG" | grep -q 'pod default/long  added' || fail "no 'added' line for long in the first node's log"
# The restarted node decided before it patched the status: a Pod handed to a pod actor is logged
# as "added" at once; long never was.
! sed -n '/^--- restart/,$p' "$NODE_LOG" | grep -q 'pod default/long  added' ||
  fail "the restarted node started long again"
started=$(k get events -n default --field-selector involvedObject.name=long,reason=Started -o name | wc -l)
[ "$started" = 1 ] || fail "long has $started Started Events, want exactly 1"
echo "ok: restart → long Failed NodeRestarted ($(k get pod long -o jsonpath='{.status.message}')), Started once"

kill -TERM "$NODE_PID"
rc=0; wait "$NODE_PID" || rc=$?
[ "$rc" = 0 ] || fail "kuack-node exited $rc after SIGTERM"

echo "PASS"
