#!/usr/bin/env bash
# See CMakeLists.txt. usage: k8s_node.sh path/to/kuack-node
set -euo pipefail
NODE_BIN=${1:?usage: k8s_node.sh KUACK_NODE}
WORK=$(mktemp -d /tmp/kq-k8s-node.XXXXXX)
NODE_LOG=$WORK/node.log
# shellcheck source=../k8s_common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../k8s_common.sh"

cluster_up

registry_up open
REGPORT=${REG_open#127.0.0.1:}
mkdir -p "$WORK/ex"
wasm_build "$ROOT/examples/hello-wasi/hello.c" "$WORK/ex/hello.wasm"
push_wasm "$REG_open" demo/hello:v1 "$WORK/ex/hello.wasm"

node_start --kubeconfig "$KUBECONFIG" --context admin
until_ok 30 k get node kuack-node || fail "the Node was not registered"
[ "$(k get node kuack-node -o jsonpath='{.status.daemonEndpoints.kubeletEndpoint.Port}')" = "$KPORT" ] ||
  fail "daemonEndpoints port is not the kubelet API port $KPORT"

browser_open
until_ok 60 ready_with_cpu || { k get node kuack-node -o yaml >&2; cat "$WORK/browser.log" >&2; fail "Node not Ready with cpu > 0"; }
echo "ok: node Ready, cpu $(k get node kuack-node -o jsonpath='{.status.capacity.cpu}')"

cat > "$WORK/pod.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: hello, namespace: default}
spec:
  nodeName: kuack-node
  restartPolicy: Never
  tolerations:
    - {key: kuack.io/provider, operator: Exists, effect: NoSchedule}
  containers:
    - name: hello
      image: 127.0.0.1:$REGPORT/demo/hello:v1
      args: ["--name", "kuack"]
      env: [{name: GREETING, value: "hello from a browser"}]
      resources: {requests: {cpu: 250m, memory: 64Mi}}
YAML
k apply -f "$WORK/pod.yaml" >/dev/null || fail "cannot create the Pod"
succeeded() { [ "$(k get pod hello -o jsonpath='{.status.phase}')" = Succeeded ]; }
until_ok 90 succeeded || { k get pod hello -o yaml >&2; fail "the Pod did not succeed"; }
code=$(k get pod hello -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode}')
iid=$(k get pod hello -o jsonpath='{.status.containerStatuses[0].imageID}')
[ "$code" = 0 ] || fail "exitCode '$code'"
[ -n "$iid" ] || fail "no imageID"
echo "ok: pod Succeeded exitCode=$code imageID=$iid"
logs=$(k logs hello) || fail "kubectl logs failed"
grep -q "hello from a browser" <<<"$logs" || { echo "$logs" >&2; fail "kubectl logs lacks the output"; }
echo "ok: kubectl logs"
pod_reasons() { k get events -n default --field-selector involvedObject.kind=Pod,involvedObject.name=hello -o jsonpath='{.items[*].reason}'; }
pod_event() { grep -qw "$1" <<<"$(pod_reasons)"; }
for r in Scheduled Pulled Started; do
  until_ok 10 pod_event "$r" || fail "no $r Event on the Pod (have: $(pod_reasons))"
done
pod_reasons=$(pod_reasons)
echo "ok: pod Events: $pod_reasons"

node_event() { # reason: a Warning/Normal Event with that reason on the Node
  k get events -n default --field-selector "involvedObject.kind=Node,reason=$1" -o name | grep -q .
}
k annotate node kuack-node kuack.io/placement-policy=spread --overwrite >/dev/null || fail "annotate spread"
until_ok 20 node_event PlacementPolicy || fail "no PlacementPolicy Event after switching to spread"
grep -q "spread" <<<"$(k get events -n default --field-selector involvedObject.kind=Node,reason=PlacementPolicy -o jsonpath='{.items[*].message}')" ||
  fail "the PlacementPolicy Event does not name spread"
echo "ok: policy spread accepted"
k annotate node kuack-node kuack.io/placement-policy=nonsense --overwrite >/dev/null || fail "annotate nonsense"
until_ok 20 node_event InvalidPlacementPolicy || fail "no Warning Event for a bad policy"
[ "$(k get events -n default --field-selector involvedObject.kind=Node,reason=InvalidPlacementPolicy -o jsonpath='{.items[0].type}')" = Warning ] ||
  fail "the InvalidPlacementPolicy Event is not a Warning"
echo "ok: bad policy → Warning Event"

k delete pod hello --wait=false >/dev/null || fail "kubectl delete pod"
gone() { ! k get pod hello; }
until_ok 30 gone || fail "the Pod was not deleted"
echo "ok: pod deleted"

kill -TERM "$NODE_PID"
rc=0; wait "$NODE_PID" || rc=$?
[ "$rc" = 0 ] || fail "kuack-node exited $rc after SIGTERM"
! k get node kuack-node >/dev/null || fail "the Node object survived SIGTERM (no --keep-node)"
! k get lease -n kube-node-lease kuack-node >/dev/null || fail "the node Lease survived SIGTERM"
echo "ok: SIGTERM deleted the Node and its Lease"
echo "PASS"
