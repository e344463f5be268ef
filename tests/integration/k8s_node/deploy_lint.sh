#!/usr/bin/env bash
# Lints deploy/ against the kuack-node that is really built (no docker here, so the image is not
# built): every KUACK_* variable and --flag in node.yaml is one `kuack-node --help` lists; the
# Deployment's ServiceAccount/Namespace are the ones rbac.yaml creates; every path the Dockerfile
# copies or runs exists; every CMake option it passes exists; every shared library kuack-node
# links is provided by a package the runtime stage installs. usage: deploy_lint.sh KUACK_NODE
set -euo pipefail
NODE_BIN=${1:?usage: deploy_lint.sh KUACK_NODE}
ROOT=${KQ_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
D=$ROOT/deploy
errors=0
bad() { echo "FAIL: $*" >&2; errors=$((errors + 1)); }

HELP=$("$NODE_BIN" --help)

# ---- node.yaml ↔ kuack-node --help ----
vars=$(grep -oE 'name: KUACK_[A-Z_]+' "$D/node.yaml" | sed 's/name: //' | sort -u || true)
[ -n "$vars" ] || bad "node.yaml sets no KUACK_* variable"
for v in $vars; do grep -qF "[$v]" <<<"$HELP" || bad "node.yaml sets $v, which kuack-node --help does not list"; done
flags=$(sed -n 's/^ *args: *\[\(.*\)\]/\1/p' "$D/node.yaml" | grep -oE -- '--[a-z0-9-]+' | sort -u || true)
for f in $flags; do grep -qE -- "(^| )$f( |$)" <<<"$HELP" || bad "node.yaml passes $f, which kuack-node --help does not list"; done
# outside --standalone the kubelet API is off without a client CA
grep -q -- '--client-ca-file' <<<"$flags" || bad "node.yaml gives no --client-ca-file: the kubelet API (kubectl logs) would be off"
grep -q 'KUACK_NODE_IP' <<<"$vars" || bad "node.yaml does not set KUACK_NODE_IP: the API server could not reach the kubelet API"
# probes must not hit the kubelet port (it demands a client certificate)
if grep -A1 -E 'readinessProbe|livenessProbe' "$D/node.yaml" | grep -q 'port: kubelet'; then bad "a probe targets the kubelet port"; fi
for port in 8080 10250; do
  grep -q "containerPort: $port" "$D/node.yaml" || bad "node.yaml does not expose container port $port"
  grep -q "port: $port" "$D/node.yaml" || bad "the Service lacks port $port"
done
grep -q '0.0.0.0:8080' <<<"$HELP" || bad "--listen default is no longer :8080 (update node.yaml)"
grep -q '0.0.0.0:10250' <<<"$HELP" || bad "--kubelet-listen default is no longer :10250 (update node.yaml)"

# ---- node.yaml ↔ rbac.yaml ----
sa=$(sed -n 's/^ *serviceAccountName: *//p' "$D/node.yaml")
ns=$(awk '/^kind: Deployment/{d=1} d && /namespace:/{print $2; exit}' "$D/node.yaml")
grep -A3 '^kind: ServiceAccount' "$D/rbac.yaml" | grep -q "name: $sa" || bad "rbac.yaml has no ServiceAccount $sa"
grep -A3 '^kind: Namespace' "$D/rbac.yaml" | grep -q "name: $ns" || bad "rbac.yaml does not create Namespace $ns"
grep -A4 '^subjects:' "$D/rbac.yaml" | grep -q "namespace: $ns" || bad "the ClusterRoleBinding does not bind $ns/$sa"
for r in nodes nodes/status pods pods/status events leases secrets configmaps subjectaccessreviews; do
  grep -qE "resources: \[.*\b${r//\//\\/}\b" "$D/rbac.yaml" || bad "the ClusterRole lacks $r"
done

# ---- Dockerfile ----
DF=$D/Dockerfile
grep -E '^FROM ' "$DF" | grep -vqE '^FROM debian:bookworm(-slim)?( AS [a-z]+)?$' && bad "a stage is not FROM debian:bookworm"
for src in $(awk '/^COPY/ && !/--from/ {for (i = 2; i < NF; i++) print $i}' "$DF"); do
  [ -e "$ROOT/$src" ] || bad "Dockerfile COPY $src: no such path"
done
[ -x "$ROOT/scripts/setup.sh" ] || bad "Dockerfile runs ./scripts/setup.sh, which is missing or not executable"
for p in $(grep -oE 'agent/[a-z_]+' "$DF" | sort -u); do
  case $p in
    agent/node_modules) [ -f "$ROOT/agent/package-lock.json" ] || bad "agent/node_modules comes from npm ci, but agent/package-lock.json is missing" ;;
    *) [ -e "$ROOT/$p" ] || bad "Dockerfile copies $p: no such path" ;;
  esac
done
for opt in $(grep -oE -- '-D[A-Z_]+' "$DF" | sed 's/^-D//' | sort -u); do
  case $opt in CMAKE_*) continue ;; esac
  grep -rqE "(option|set)\($opt\b" "$ROOT/CMakeLists.txt" "$ROOT/cmd/CMakeLists.txt" "$ROOT/cmake" || bad "Dockerfile passes -D$opt, which no CMake file defines"
done
grep -q -- '--target kuack-node' "$DF" || bad "Dockerfile does not build the kuack-node target"
grep -q 'KQ_AGENT_ROOT=/usr/share/kuack/agent' "$DF" && grep -q '/out/usr/share/kuack/agent' "$DF" ||
  bad "the agent files are not installed where KQ_AGENT_ROOT points"
# runtime stage: every library kuack-node needs comes from a listed package (or libc/libgcc)
runtime=$(awk '/^FROM debian:bookworm-slim/{r=1} r' "$DF")
for lib in $(readelf -d "$NODE_BIN" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p'); do
  case $lib in libasan* | libubsan* | libc.so* | libm.so* | libgcc_s* | libpthread* | libdl*) continue ;; esac
  # awk reads to the end: an early exit would SIGPIPE ldconfig and, with pipefail, end the script
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l && !found {print $NF; found = 1}')
  [ -n "$path" ] || { bad "cannot resolve $lib on this machine"; continue; }
  real=$(readlink -f "$path")
  # merged /usr: dpkg may know the file under /lib or /usr/lib
  pkg=$( { dpkg -S "$real" || dpkg -S "${real#/usr}" || dpkg -S "$path"; } 2>/dev/null | head -1 | cut -d: -f1 || true)
  [ -n "$pkg" ] || { bad "no Debian package owns $lib"; continue; }
  grep -qw -- "$pkg" <<<"$runtime" || bad "the runtime stage does not install $pkg (for $lib)"
done

[ "$errors" = 0 ] || { echo "deploy/ lint: $errors problem(s)" >&2; exit 1; }
echo "PASS: deploy/ matches kuack-node --help, rbac.yaml and the build ($(wc -w <<<"$vars") variables, $(wc -w <<<"$flags") flags checked)"
