#!/bin/sh
# kuack-node: flags behave, and SIGTERM after "ready" drains and exits 0 within a deadline with
# no sanitizer report on stderr. Polls with a bounded deadline; never sleeps blindly.
set -u
bin=${1:?usage: sigterm.sh path/to/kuack-node}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err" >&2; exit 1; }

# Flags.
"$bin" --help >"$tmp/help" || fail "--help exited non-zero"
grep -q -- '--log-level' "$tmp/help" || fail "--help does not list --log-level"
grep -q -- '--version' "$tmp/help" || fail "--help does not list --version"
"$bin" --version | grep -q '^kuack-node [0-9]' || fail "--version output"
"$bin" --bogus 2>/dev/null && fail "unknown flag accepted"
"$bin" --log-level loud 2>/dev/null && fail "bad --log-level accepted"
KUACK_LOG_LEVEL=loud "$bin" --version >/dev/null 2>&1 && fail "bad KUACK_LOG_LEVEL accepted"

# wait_for <deadline-tenths> <command...>: polls the command every 50 ms until it succeeds.
wait_for() {
  n=$(( $1 * 2 )); shift
  while ! "$@"; do
    n=$((n - 1)); [ "$n" -le 0 ] && return 1
    sleep 0.05
  done
}

for sig in TERM INT; do
  : >"$tmp/err"
  KUACK_LOG_LEVEL=debug "$bin" --listen 127.0.0.1:0 --kubelet-listen 127.0.0.1:0 \
    --cache-dir "$tmp/cache" --standalone "$tmp" 2>"$tmp/err" &
  pid=$!
  wait_for 100 grep -q 'msg="ready"' "$tmp/err" || fail "no ready line within 10 s"
  kill -"$sig" "$pid"
  wait_for 100 sh -c "! kill -0 $pid 2>/dev/null" || fail "still running 10 s after SIG$sig"
  wait "$pid"; status=$?
  pid=
  [ "$status" -eq 0 ] || fail "exit status $status after SIG$sig"
  grep -q 'msg="shutting down"' "$tmp/err" || fail "no 'shutting down' line after SIG$sig"
  grep -q 'msg="drained"' "$tmp/err" || fail "no 'drained' line after SIG$sig"
  if grep -Eq 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$tmp/err"; then
    fail "sanitizer report after SIG$sig"
  fi
done
echo "ok: kuack-node flags, SIGTERM and SIGINT drain with exit 0"
