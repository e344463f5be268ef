#!/bin/sh
# C <-> JS conformance for kuack.v1: C encodes every fixture, the JS codec decodes and checks
# them (and encodes its own), C decodes and checks the JS frames. Also fails when the committed
# frames in agent/test/fixtures/c no longer match what the C encoder writes.
# usage: conformance.sh <gen_fixtures binary> <node>
set -eu
GEN=$1
NODE=$2
SRC=${KQ_SOURCE_DIR:?KQ_SOURCE_DIR not set}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
mkdir "$OUT/c" "$OUT/js"

"$GEN" gen "$OUT/c"
for f in "$OUT"/c/*.msgpack; do
  committed="$SRC/agent/test/fixtures/c/$(basename "$f")"
  if ! cmp -s "$f" "$committed"; then
    echo "conformance: $committed differs from what the C encoder writes now;" >&2
    echo "  regenerate: gen_fixtures gen agent/test/fixtures/c (and review the JS expectations)" >&2
    exit 1
  fi
done

KQ_PROTO_FIXTURES_C="$OUT/c" KQ_PROTO_FIXTURES_OUT="$OUT/js" \
  "$NODE" --test "$SRC/agent/test/protocol.test.js" "$SRC/agent/test/protocol_codec.test.js"

"$GEN" check "$OUT/js"
