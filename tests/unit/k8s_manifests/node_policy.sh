#!/bin/sh
# kuack-node --standalone DIR: DIR/node.yaml's kuack.io/placement-policy annotation switches the
# scheduler's policy live; an unknown name or bad params keep the current one with a warning.
# Polls the log with a bounded deadline; never sleeps blindly.
set -u
bin=${1:?usage: node_policy.sh path/to/kuack-node}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/err" ] && sed 's/^/  log: /' "$tmp/err" >&2; exit 1; }
wait_for() { # <deadline-tenths> <command...>: polls every 50 ms
  n=$(( $1 * 2 )); shift
  while ! "$@"; do
    n=$((n - 1)); [ "$n" -le 0 ] && return 1
    sleep 0.05
  done
}
node() { # <annotation lines...>
  { printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: kuack-node\n  annotations:\n'
    for a in "$@"; do printf '    %s\n' "$a"; done; } >"$tmp/dir/node.yaml.new"
  mv "$tmp/dir/node.yaml.new" "$tmp/dir/node.yaml"
}
count() { grep -c "$1" "$tmp/err" || true; }

mkdir -p "$tmp/dir"
node 'kuack.io/placement-policy: latency' "kuack.io/placement-params: '{\"load_weight\": 2}'"
KUACK_LOG_LEVEL=info "$bin" --listen 127.0.0.1:0 --kubelet-listen 127.0.0.1:0 \
  --cache-dir "$tmp/cache" --placement-policy spread --standalone "$tmp/dir" 2>"$tmp/err" &
pid=$!
wait_for 100 grep -q 'msg="ready"' "$tmp/err" || fail "no ready line within 10 s"
# the flag starts the scheduler, the file switches it at once
grep -q 'msg="started".*policy=spread' "$tmp/err" || fail "scheduler did not start with the flag's policy"
wait_for 100 grep -q 'msg="placement policy changed" from=spread to=latency' "$tmp/err" ||
  fail "node.yaml did not switch spread -> latency"

# an unknown name: refused, latency stays
node 'kuack.io/placement-policy: best-fit'
wait_for 100 grep -q "placement policy change refused.*requested=best-fit keeping=latency" "$tmp/err" ||
  fail "unknown policy not refused with a warning"

# bad params for a known policy: refused by the scheduler, latency stays
node 'kuack.io/placement-policy: gpu' "kuack.io/placement-params: '{\"share_gpu_browsers\": 7}'"
wait_for 100 grep -q "placement policy change refused.*requested=gpu keeping=latency.*out of range" "$tmp/err" ||
  fail "out-of-range params not refused"

# params that are not a JSON object of numbers: reported by the manifest source
node 'kuack.io/placement-policy: gpu' "kuack.io/placement-params: 'nope'"
wait_for 100 grep -q 'node.yaml: Node manifest: kuack.io/placement-params' "$tmp/err" ||
  fail "bad params JSON not reported"

# a good change applies
node 'kuack.io/placement-policy: gpu' "kuack.io/placement-params: '{\"share_gpu_browsers\": 0}'"
wait_for 100 grep -q 'msg="placement policy changed" from=latency to=gpu' "$tmp/err" ||
  fail "node.yaml did not switch latency -> gpu"
[ "$(count 'msg="placement policy changed"')" -eq 2 ] || fail "unexpected policy changes"

kill -TERM "$pid"
wait_for 100 sh -c "! kill -0 $pid 2>/dev/null" || fail "still running 10 s after SIGTERM"
wait "$pid"; status=$?
pid=
[ "$status" -eq 0 ] || fail "exit status $status"
if grep -Eq 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$tmp/err"; then
  fail "sanitizer report"
fi
echo "ok: node.yaml switches the placement policy live; bad names/params keep it"
