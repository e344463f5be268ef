#!/usr/bin/env bash
# The README's test command: installs what is missing (scripts/setup.sh), builds kuack with
# -Werror under ASan+UBSan (leak detection on) and runs every CTest entry: unit, integration,
# e2e (real headless Chromium, docker-registry, kube-apiserver) and fuzz-corpus replays.
# Fails on any failed, skipped or not-run test. Options: KQ_TEST_LABEL=unit (only that label),
# KQ_BUILD_DIR (default build-test), KQ_SANITIZE (default address,undefined; "" disables).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh

BUILD=${KQ_BUILD_DIR:-build-test}
SAN=${KQ_SANITIZE-address,undefined}
CC=${CC:-gcc} cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKQ_WERROR=ON \
  -DKQ_SANITIZE="$SAN" -DKQ_BUILD_TESTS=ON -DKQ_BUILD_BENCH=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp}

args=(--test-dir "$BUILD" --output-on-failure --no-tests=error -j"$(nproc)")
[ -n "${KQ_TEST_LABEL:-}" ] && args+=(-L "$KQ_TEST_LABEL")
log=$(mktemp)
set +e
ctest "${args[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
if grep -Eq '\*\*\*Skipped|Not Run|Disabled' "$log"; then
  echo "test.sh: some tests were skipped or not run; that counts as a failure" >&2
  rc=1
fi
rm -f "$log"
exit "$rc"
