#!/usr/bin/env bash
# See CMakeLists.txt. usage: k8s_chaos.sh path/to/kuack-node
set -euo pipefail
NODE_BIN=${1:?usage: k8s_chaos.sh KUACK_NODE}
WORK=$(mktemp -d /tmp/kq-k8s-chaos.XXXXXX)
NODE_LOG=$WORK/node.log
# shellcheck source=../k8s_common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../k8s_common.sh"

cluster_up

# ---- identity: deploy/rbac.yaml + a service-account token, nothing else (RBAC is on) ----
k apply -f "$ROOT/deploy/rbac.yaml" >/dev/null || fail "cannot apply deploy/rbac.yaml"
out=$(kubectl --kubeconfig "$KUBECONFIG" apply --dry-run=server -f "$ROOT/deploy/node.yaml" 2>&1) ||
  fail "deploy/node.yaml is not accepted by the API server: $out"
TOKEN=$(k create token kuack-node -n kuack --duration=1h) || fail "kubectl create token"
cat > "$WORK/sa.kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "$APISERVER", certificate-authority: "$CLUSTER_CA"}
users:
- name: sa
  user: {token: "$TOKEN"}
contexts:
- name: sa
  context: {cluster: c, user: sa}
current-context: sa
YAML
# the token alone is not an admin: it cannot read Secrets lists or create Namespaces
! kubectl --kubeconfig "$WORK/sa.kubeconfig" get secrets -A >/dev/null 2>&1 || fail "the SA can list secrets"
! kubectl --kubeconfig "$WORK/sa.kubeconfig" create ns nope >/dev/null 2>&1 || fail "the SA can create namespaces"

# ---- registry with the cpu-job workload ----
registry_up open
REGPORT=${REG_open#127.0.0.1:}
mkdir -p "$WORK/ex"
wasm_build "$ROOT/examples/cpu-job/cpujob.c" "$WORK/ex/cpujob.wasm"
push_wasm "$REG_open" demo/cpujob:v1 "$WORK/ex/cpujob.wasm"

node_start --kubeconfig "$WORK/sa.kubeconfig"
until_ok 30 k get node kuack-node || fail "the Node was not registered under the SA token"

browser_open
until_ok 60 ready_with_cpu || { k get node kuack-node -o yaml >&2; cat "$WORK/browser.log" >&2; fail "Node not Ready with cpu > 0"; }
lease() { k get lease -n kube-node-lease kuack-node -o jsonpath='{.spec.renewTime}'; }
[ -n "$(lease)" ] || fail "no Lease under the SA token"
echo "ok: node Ready under the service-account token (cpu $(k get node kuack-node -o jsonpath='{.status.capacity.cpu}'))"

pod_yaml() { # name rounds
  cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: default}
spec:
  nodeName: kuack-node
  restartPolicy: Never
  tolerations:
    - {key: kuack.io/provider, operator: Exists, effect: NoSchedule}
  containers:
    - name: job
      image: 127.0.0.1:$REGPORT/demo/cpujob:v1
      args: ["sha256", "$2"]
      resources: {requests: {cpu: 250m, memory: 64Mi}}
YAML
}
phase() { k get pod "$1" -o jsonpath='{.status.phase}'; }
is_phase() { [ "$(phase "$1")" = "$2" ]; }

# ---- a Pod that runs for several seconds; the API server restarts while it runs ----
pod_yaml long "${KQ_CHAOS_ROUNDS:-8000000}" | k apply -f - >/dev/null || fail "cannot create Pod long"
until_ok 60 is_phase long Running || { k get pod long -o yaml >&2; fail "Pod long never Running"; }
echo "ok: Pod long Running"

is_phase long Running || fail "Pod long ended before the restart (raise KQ_CHAOS_ROUNDS)"
LINES_BEFORE=$(wc -l < "$WORK/node.log")
APID=$(cat "$WORK/cluster/pids/kube-apiserver.pid")
mapfile -d '' ARGS < "/proc/$APID/cmdline"
[ "$(basename "${ARGS[0]}")" = kube-apiserver ] || fail "pid $APID is not kube-apiserver"
kill -TERM "$APID"
# gone, or a zombie nobody reaps (it was started by a script that has exited)
gone_pid() { ! kill -0 "$APID" || [ "$(awk '{print $3}' "/proc/$APID/stat")" = Z ]; }
if ! until_ok 10 gone_pid; then
  echo "note: kube-apiserver still draining its watches after 10 s; SIGKILL" >&2
  kill -KILL "$APID" 2>/dev/null || true
  until_ok 10 gone_pid || fail "kube-apiserver did not stop"
fi
T_DOWN=$SECONDS
setsid "${ARGS[@]}" >>"$WORK/cluster/logs/kube-apiserver.log" 2>&1 </dev/null &
echo $! > "$WORK/cluster/pids/kube-apiserver.pid"
until_ok 90 "$TC" status "$WORK/cluster" || fail "kube-apiserver did not come back"
echo "ok: kube-apiserver restarted (down for $((SECONDS - T_DOWN)) s)"
LEASE_AFTER=$(lease)
[ "$(phase long)" != Failed ] || fail "Pod long Failed across the restart"

until_ok 120 is_phase long Succeeded || { k get pod long -o yaml >&2; fail "Pod long did not end Succeeded after the restart"; }
code=$(k get pod long -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode}')
[ "$code" = 0 ] || fail "Pod long exitCode '$code'"
echo "ok: Pod long Succeeded exitCode=$code across the restart"

renewed() { [ "$(lease)" != "$LEASE_AFTER" ]; }
until_ok 40 renewed || fail "the Lease was not renewed after the restart (still $LEASE_AFTER)"
until_ok 30 ready_with_cpu || fail "Node not Ready after the restart"
echo "ok: Lease renewed after the restart ($(lease)); node Ready"
# right after a restart the API server may answer 403 until its RBAC caches sync (the client
# just retries); from here on every request must pass with the deploy/ ClusterRole
LINES_SETTLED=$(wc -l < "$WORK/node.log")

# nothing ran twice: one Started Event (count 1) and one result line in the log
started=$(k get events -n default --field-selector involvedObject.name=long,reason=Started -o jsonpath='{range .items[*]}{.count}{"\n"}{end}')
[ "$(grep -c . <<<"$started")" = 1 ] && [ "$(echo "$started" | head -1)" = 1 ] ||
  fail "expected exactly one Started Event (count 1) on Pod long, got: '$started'"
logs=$(k logs long) || fail "kubectl logs long"
[ "$(grep -c '^sha256' <<<"$logs")" = 1 ] || { echo "$logs" >&2; fail "Pod long's output is not there exactly once"; }
echo "ok: exactly one Started Event; output once ($(grep elapsed_ms <<<"$logs"))"

# ---- a Pod created after the restart runs too (the watch came back) ----
pod_yaml after 1000 | k apply -f - >/dev/null || fail "cannot create Pod after"
until_ok 60 is_phase after Succeeded || { k get pod after -o yaml >&2; fail "Pod after did not succeed"; }
for r in Scheduled Pulled Started; do
  ev() { k get events -n default --field-selector "involvedObject.name=after,reason=$r" -o name | grep -q .; }
  until_ok 20 ev || fail "no $r Event on Pod after (Events under the SA token)"
done
echo "ok: Pod after Succeeded, Events posted"

# the ClusterRole was enough: no 401/403 before the restart nor once the API server had settled
refused() { { head -n "$LINES_BEFORE" "$WORK/node.log"; tail -n +"$((LINES_SETTLED + 1))" "$WORK/node.log"; } | grep -E 'status=40[13]|forbidden'; }
! refused >/dev/null || { refused >&2; fail "API requests were refused under the deploy/ ClusterRole"; }
grep -Eq 'watch failed, reconnecting|relisting' "$WORK/node.log" || fail "the node log shows no watch reconnect"
# status patches for a pod land in order (a Running patch after Succeeded is refused with 422)
! grep -q 'status=422' "$WORK/node.log" || { grep 'status=422' "$WORK/node.log" >&2; fail "a status patch was refused (out of order?)"; }

kill -TERM "$NODE_PID"
rc=0; wait "$NODE_PID" || rc=$?
[ "$rc" = 0 ] || fail "kuack-node exited $rc after SIGTERM"
! k get node kuack-node >/dev/null || fail "the Node object survived SIGTERM"
! k get lease -n kube-node-lease kuack-node >/dev/null || fail "the node Lease survived SIGTERM"
echo "ok: SIGTERM deleted the Node and its Lease (allowed by the ClusterRole)"
echo "PASS"
