#!/bin/bash
# Pushes a wasm workload to an OCI registry with plain curl + jq (no daemon needed).
#   push-image.sh [-f index|single|artifact] [-u user:pass] [-z gzip|zstd|none] REGISTRY NAME:TAG INPUT
# REGISTRY: http://127.0.0.1:5000 (https:// for TLS). INPUT: a .wasm file or a wasm-bindgen pkg/ dir.
# Forms:
#   index     (default) OCI image index with linux/amd64 (placeholder layer) + wasi/wasm variants
#   single    one image manifest whose config says os=wasi architecture=wasm
#   linux     single-platform linux/amd64 image (no wasm variant; for negative tests)
#   artifact  CNCF wasm artifact: config application/vnd.wasm.config.v0+json + raw application/wasm
# Layers are deterministic (sorted, mtime 0, uid/gid 0). Prints the top-level manifest digest.
set -euo pipefail
FORM=index; CRED=""; COMP=gzip
while getopts "f:u:z:" o; do case $o in f) FORM=$OPTARG;; u) CRED=$OPTARG;; z) COMP=$OPTARG;; *) exit 2;; esac; done
shift $((OPTIND-1))
[ $# -eq 3 ] || { sed -n 2,9p "$0"; exit 2; }
REG=${1%/}; REF=$2; INPUT=$3
NAME=${REF%:*}; TAG=${REF##*:}; [ "$TAG" != "$REF" ] || TAG=latest
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
CURL=(curl -sS -f); [ -n "$CRED" ] && CURL+=(-u "$CRED")
sha() { sha256sum "$1" | cut -d' ' -f1; }; size() { stat -c %s "$1"; }

push_blob() { local f=$1 d; d="sha256:$(sha "$f")"
  if "${CURL[@]}" -o /dev/null -I "$REG/v2/$NAME/blobs/$d" 2>/dev/null; then echo "$d"; return; fi
  local loc; loc=$("${CURL[@]}" -X POST -D - -o /dev/null "$REG/v2/$NAME/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
  case "$loc" in http*) ;; *) loc="$REG$loc";; esac
  local sep='?'; case "$loc" in *\?*) sep='&';; esac
  "${CURL[@]}" -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$f" "${loc}${sep}digest=$d" -o /dev/null
  echo "$d"; }
put_manifest() { # file mediatype reference
  "${CURL[@]}" -X PUT -H "Content-Type: $2" --data-binary @"$1" "$REG/v2/$NAME/manifests/$3" -o /dev/null; }

mklayer() { # srcdir out → compressed tar of srcdir's content; sets LKIND (media type suffix), DIFF
  local tarf="$W/layer.tar"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$1" -cf "$tarf" .
  case $COMP in
    gzip) gzip -n -c "$tarf" > "$2"; LKIND="tar+gzip";;
    zstd) zstd -q -c "$tarf" > "$2"; LKIND="tar+zstd";;
    none) cp "$tarf" "$2"; LKIND="tar";;
  esac
  DIFF="sha256:$(sha "$tarf")"; }

mkdir -p "$W/wasmroot"
if [ -d "$INPUT" ]; then
  cp -r "$INPUT" "$W/wasmroot/pkg"; ENTRY=""
  WASMFILE=$(ls "$INPUT"/*_bg.wasm | head -1)
else
  cp "$INPUT" "$W/wasmroot/$(basename "$INPUT")"; ENTRY="/$(basename "$INPUT")"; WASMFILE=$INPUT
fi
ep_json() { if [ -n "$ENTRY" ]; then jq -cn --arg e "$ENTRY" '[$e]'; else echo null; fi; }

mkcfg() { # os arch diff → config json on stdout
  jq -cn --arg os "$1" --arg arch "$2" --arg d "$3" --argjson ep "$(ep_json)" \
    '{architecture:$arch, os:$os, created:"1970-01-01T00:00:00Z",
      config:{Entrypoint:$ep, Env:["GREETING=from-image"]}, rootfs:{type:"layers", diff_ids:[$d]}}'; }
mkman() { # config layer layer-mediatype config-mediatype [artifactType]
  jq -cn --arg cd "sha256:$(sha "$1")" --argjson cs "$(size "$1")" --arg ld "sha256:$(sha "$2")" \
    --argjson ls "$(size "$2")" --arg lmt "$3" --arg cmt "$4" --arg at "${5:-}" --arg title "$(basename "$WASMFILE")" \
    '{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json",
      config:{mediaType:$cmt, digest:$cd, size:$cs},
      layers:[{mediaType:$lmt, digest:$ld, size:$ls, annotations:{"org.opencontainers.image.title":$title}}]}
     + (if $at != "" then {artifactType:$at} else {} end)'; }

wasm_image() { # [os arch] → $W/wasm-manifest.json
  mklayer "$W/wasmroot" "$W/wasm-layer"
  mkcfg "${1:-wasi}" "${2:-wasm}" "$DIFF" > "$W/wasm-config.json"
  push_blob "$W/wasm-layer" >/dev/null; push_blob "$W/wasm-config.json" >/dev/null
  mkman "$W/wasm-config.json" "$W/wasm-layer" "application/vnd.oci.image.layer.v1.$LKIND" \
    application/vnd.oci.image.config.v1+json > "$W/wasm-manifest.json"; }

case $FORM in
  single|linux)
    if [ "$FORM" = linux ]; then wasm_image linux amd64; else wasm_image; fi
    put_manifest "$W/wasm-manifest.json" application/vnd.oci.image.manifest.v1+json "$TAG"
    echo "sha256:$(sha "$W/wasm-manifest.json")";;
  artifact)
    [ -f "$INPUT" ] || { echo "artifact form needs a .wasm file" >&2; exit 2; }
    cp "$INPUT" "$W/module.wasm"
    jq -cn '{created:"1970-01-01T00:00:00Z", architecture:"wasm", os:"wasip1", layerDigests:[]}' > "$W/wcfg.json"
    push_blob "$W/module.wasm" >/dev/null; push_blob "$W/wcfg.json" >/dev/null
    mkman "$W/wcfg.json" "$W/module.wasm" application/wasm application/vnd.wasm.config.v0+json \
      application/vnd.wasm.config.v0+json > "$W/art.json"
    put_manifest "$W/art.json" application/vnd.oci.image.manifest.v1+json "$TAG"
    echo "sha256:$(sha "$W/art.json")";;
  index)
    wasm_image
    put_manifest "$W/wasm-manifest.json" application/vnd.oci.image.manifest.v1+json "sha256:$(sha "$W/wasm-manifest.json")"
    mkdir -p "$W/linuxroot"; echo "placeholder linux/amd64 content" > "$W/linuxroot/hello.txt"
    mklayer "$W/linuxroot" "$W/linux-layer"
    ENTRY=/hello.txt mkcfg linux amd64 "$DIFF" > "$W/linux-config.json"
    push_blob "$W/linux-layer" >/dev/null; push_blob "$W/linux-config.json" >/dev/null
    mkman "$W/linux-config.json" "$W/linux-layer" "application/vnd.oci.image.layer.v1.$LKIND" \
      application/vnd.oci.image.config.v1+json > "$W/linux-manifest.json"
    put_manifest "$W/linux-manifest.json" application/vnd.oci.image.manifest.v1+json "sha256:$(sha "$W/linux-manifest.json")"
    jq -cn --arg ld "sha256:$(sha "$W/linux-manifest.json")" --argjson ls "$(size "$W/linux-manifest.json")" \
           --arg wd "sha256:$(sha "$W/wasm-manifest.json")" --argjson ws "$(size "$W/wasm-manifest.json")" \
      '{schemaVersion:2, mediaType:"application/vnd.oci.image.index.v1+json", manifests:[
        {mediaType:"application/vnd.oci.image.manifest.v1+json", digest:$ld, size:$ls, platform:{architecture:"amd64", os:"linux"}},
        {mediaType:"application/vnd.oci.image.manifest.v1+json", digest:$wd, size:$ws, platform:{architecture:"wasm", os:"wasi"}}]}' > "$W/index.json"
    put_manifest "$W/index.json" application/vnd.oci.image.index.v1+json "$TAG"
    echo "sha256:$(sha "$W/index.json")";;
  *) echo "unknown form $FORM" >&2; exit 2;;
esac
