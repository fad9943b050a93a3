#!/usr/bin/env bash
# Organization-matching benchmark: precision and recall of the top suggestion on organizations
# generated from 3,241 real company names (bench/data/company_names.txt) with realistic variants,
# against exact-name matching as the baseline; the indexed search against scoring every pair on
# the same 2,000 organizations; and the time to suggest for 10,000 x 10,000.
# Goals: precision >= 95 % at recall >= 90 %; 10,000 x 10,000 in under 2 s on 2 cores.
# Usage: bench/org_matching.sh [MIN_CONFIDENCE]   (default 0.75, the API's default)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build default >/dev/null
exec build/bench/patchbay-bench-org-matching bench/data/company_names.txt "${1:-0.75}"
