#!/usr/bin/env bash
# One idempotent set-up for kuack: Debian packages, libwebsockets 4.1.6 built from Debian's own
# source package as a static library with libevent support (Debian's binary lacks it), and the
# agent's npm dependencies. A second run only checks and costs seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPS=${KQ_DEPS_DIR:-$ROOT/.deps}
LWS_PREFIX=$DEPS/lws
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

APT_PACKAGES=(
  build-essential cmake pkg-config clang lld jq curl ca-certificates dpkg-dev patch
  libevent-dev libmsgpack-dev libcjson-dev libcurl4-openssl-dev libssl-dev libcmocka-dev
  libarchive-dev zlib1g-dev libyaml-dev uuid-dev libcap-dev
  docker-registry skopeo etcd-server etcd-client apache2-utils
  wasi-libc libclang-rt-14-dev libclang-rt-14-dev-wasm32 wabt
  chromium gnuplot-nox valgrind
)

log() { printf 'setup: %s\n' "$*" >&2; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if dpkg-query -W -f='${Status}' libwebsockets-dev 2>/dev/null | grep -q 'install ok installed'; then
  log "note: Debian libwebsockets-dev is installed; kuack compiles against $LWS_PREFIX/include first"
fi

# libwebsockets 4.1.6 with LWS_WITH_LIBEVENT, from Debian's source package, cached in $DEPS, with
# our patches (scripts/lws/*.patch, patch -p1) applied; the stamp records which patches it was built
# with, so changing a patch rebuilds it.
shopt -s nullglob
LWS_PATCHES=("$ROOT"/scripts/lws/*.patch)
shopt -u nullglob
LWS_STAMP=$LWS_PREFIX/kq-patches.sha256
lws_patch_sums() { for f in "${LWS_PATCHES[@]}"; do printf '%s  %s\n' "$(sha256sum < "$f" | cut -d' ' -f1)" "$(basename "$f")"; done; }
if [ ! -f "$LWS_PREFIX/lib/libwebsockets.a" ] || ! grep -q '#define LWS_WITH_LIBEVENT' "$LWS_PREFIX/include/lws_config.h" 2>/dev/null \
   || [ "$(cat "$LWS_STAMP" 2>/dev/null)" != "$(lws_patch_sums)" ]; then
  W=$DEPS/lws-src
  rm -rf "$W"; mkdir -p "$W/lists/partial" "$W/cache/archives/partial" "$W/parts"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$W/parts/debian-src.sources"
  else
    grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | sed 's/^deb /deb-src /' > "$W/parts/src.list"
  fi
  O=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$W/parts" -o "Dir::State::Lists=$W/lists" -o "Dir::Cache=$W/cache")
  log "fetching libwebsockets source package"
  (cd "$W" && apt-get "${O[@]}" -q update >/dev/null 2>&1 && apt-get "${O[@]}" -q source --download-only libwebsockets >/dev/null 2>&1)
  tar -C "$W" -xzf "$W"/libwebsockets_4.1.6.orig.tar.gz
  for f in "${LWS_PATCHES[@]}"; do
    log "applying $(basename "$f")"
    patch -d "$W/libwebsockets-4.1.6" -p1 --forward --batch -s < "$f"
  done
  log "building libwebsockets 4.1.6 (static, libevent)"
  cmake -S "$W/libwebsockets-4.1.6" -B "$W/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_INSTALL_PREFIX="$LWS_PREFIX" -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DCMAKE_C_FLAGS="-Wno-error=deprecated-declarations -fno-strict-aliasing" \
    -DLWS_WITH_SHARED=OFF -DLWS_WITH_STATIC=ON -DLWS_WITH_LIBEVENT=ON -DLWS_WITH_EVLIB_PLUGINS=OFF \
    -DLWS_WITHOUT_TESTAPPS=ON -DLWS_WITH_MINIMAL_EXAMPLES=OFF -DLWS_WITH_ZLIB=OFF -DLWS_IPV6=ON >/dev/null
  cmake --build "$W/build" -j"$(nproc)" >/dev/null
  cmake --install "$W/build" >/dev/null
  lws_patch_sums > "$LWS_STAMP"
  rm -rf "$W"
fi

# Agent npm dependencies (locked).
if [ -f "$ROOT/agent/package-lock.json" ]; then
  if [ ! -d "$ROOT/agent/node_modules" ] || [ "$ROOT/agent/package-lock.json" -nt "$ROOT/agent/node_modules/.package-lock.json" ]; then
    log "npm ci (agent)"
    (cd "$ROOT/agent" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
log "ready (lws at $LWS_PREFIX)"
