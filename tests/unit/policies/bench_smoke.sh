#!/bin/sh
# Smoke run of `kuack-bench placement --quick`: the JSON must be well-formed and name every
# policy (plus the literal original), each with latency, actor and quality figures, and the
# quality figures must respect their bounds: no policy uses fewer browsers than the lower bound,
# and acceptance is a share of the Pods that arrived. Not timed.
set -eu
bench="$1"
out="${TMPDIR:-/tmp}/kq-bench-placement-$$.json"
trap 'rm -f "$out"' EXIT
"$bench" placement --quick --pods 1000 --json "$out" >/dev/null 2>&1 || { echo "kuack-bench failed"; exit 1; }
jq -e . "$out" >/dev/null || { echo "malformed JSON"; exit 1; }
for p in binpack gpu latency spread first-fit kuack-compat original; do
  jq -e --arg p "$p" '.policies[$p].sizes[0].alone.latency.p50_ns >= 0' "$out" >/dev/null \
    || { echo "policy $p missing"; exit 1; }
done
for p in binpack gpu latency spread first-fit kuack-compat; do
  jq -e --arg p "$p" '(.policies[$p].sizes[0].actor.placements > 0) and
                      (.policies[$p].quality.accept_pct_overload > 0)' "$out" >/dev/null \
    || { echo "policy $p has no actor/quality results"; exit 1; }
  jq -e --arg p "$p" '.policies[$p].quality | (.pack_ratio >= 1) and (.fill_pack_ratio >= 1) and
                      (.accept_saturated_pct_overload > 0) and (.accept_saturated_pct_overload <= 100) and
                      (.accept_saturated_pct_overload_jobs > 0) and
                      (.accept_saturated_pct_overload_jobs <= 100)' \
    "$out" >/dev/null || { echo "policy $p: quality figures outside their bounds"; exit 1; }
done
echo "ok: $(jq -r '.policies | keys | join(",")' "$out")"
