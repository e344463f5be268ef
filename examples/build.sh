#!/bin/bash
# Builds every example module into OUT (default examples/out):
#   hello.wasm, cpujob.wasm (clang --target=wasm32-wasi -O2, Debian wasi-libc; no --sysroot),
#   bindgen-hello/pkg/ with hello_bg.wasm (wat2wasm).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/out}
mkdir -p "$OUT/bindgen-hello/pkg"
CC=${WASI_CC:-clang}
$CC --target=wasm32-wasi -O2 -Wl,--strip-all "$HERE/hello-wasi/hello.c" -o "$OUT/hello.wasm"
$CC --target=wasm32-wasi -O2 -Wl,--strip-all "$HERE/cpu-job/cpujob.c" -o "$OUT/cpujob.wasm"
wat2wasm "$HERE/bindgen-hello/src/hello.wat" -o "$OUT/bindgen-hello/pkg/hello_bg.wasm"
cp "$HERE/bindgen-hello/pkg/package.json" "$HERE/bindgen-hello/pkg/hello.js" "$HERE/bindgen-hello/pkg/hello.d.ts" "$OUT/bindgen-hello/pkg/"
echo "$OUT"
