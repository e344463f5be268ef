#!/bin/bash
# Makes DST an image that shares SRC's layers but has its own config (an extra Env entry), so the
# two images have different manifests and one common layer blob. Blobs are cross-mounted, not
# re-uploaded. Prints the shared layer digests, one per line.
#   share-layer.sh REGISTRY SRC_NAME:TAG DST_NAME:TAG
set -euo pipefail
[ $# -eq 3 ] || { sed -n 2,5p "$0"; exit 2; }
REG=${1%/}; SRC=$2; DST=$3
SN=${SRC%:*}; ST=${SRC##*:}; DN=${DST%:*}; DT=${DST##*:}
MT=application/vnd.oci.image.manifest.v1+json
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
curl -sSf -H "Accept: $MT" "$REG/v2/$SN/manifests/$ST" -o "$W/src.json"
CFG=$(jq -r .config.digest "$W/src.json")
curl -sSf "$REG/v2/$SN/blobs/$CFG" | jq -c '.config.Env += ["SHARED_BY='"$DN"'"]' > "$W/cfg.json"
NCFG="sha256:$(sha256sum "$W/cfg.json" | cut -d' ' -f1)"
loc=$(curl -sSf -X POST -D - -o /dev/null "$REG/v2/$DN/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
case "$loc" in http*) ;; *) loc="$REG$loc";; esac
sep='?'; case "$loc" in *\?*) sep='&';; esac
curl -sSf -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$W/cfg.json" "${loc}${sep}digest=$NCFG" -o /dev/null
for L in $(jq -r '.layers[].digest' "$W/src.json"); do
  code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$REG/v2/$DN/blobs/uploads/?mount=$L&from=$SN")
  [ "$code" = 201 ] || { echo "mount of $L answered $code" >&2; exit 1; }
done
jq -c --arg d "$NCFG" --argjson s "$(stat -c %s "$W/cfg.json")" '.config.digest=$d | .config.size=$s' "$W/src.json" > "$W/dst.json"
curl -sSf -X PUT -H "Content-Type: $MT" --data-binary @"$W/dst.json" "$REG/v2/$DN/manifests/$DT" -o /dev/null
jq -r '.layers[].digest' "$W/src.json"
