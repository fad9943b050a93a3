#!/usr/bin/env bash
# Benchmark: durable webhook ingest. Starts `patchbay serve` (SQLite, the embedded default) with a
# webhook trigger signed GitHub-style (HMAC-SHA256 of the body, a delivery id per request), then
# runs wrk at 32 connections posting signed deliveries, each with its own delivery id, to the
# subscription's hook URL. Every 2xx means the event was verified, checked against the delivery ids
# of the last 72 hours and committed to disk. Prints events/s, p50, p99, and checks that the event
# log holds exactly as many events as wrk saw 2xx answers. The baseline, in the same run: nginx
# answering the same POSTs with 200 without checking or keeping anything (the ceiling of an HTTP
# server on this machine), and the ratio to it.
#
# Usage: bench/webhook_ingest.sh [DURATION_SECONDS]   (default 10)
# Goal (2 cores, SQLite): >= 5,000 events/s; p99 < 50 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
scripts/setup --no-test-tools >/dev/null
scripts/build default >/dev/null

source bench/lib.sh

# --- baseline: nginx answering every POST with 200, keeping nothing -----------------------------
nginx_port=$(free_port)
start_nginx "$nginx_port" "location = /hook { return 200 '{}'; }"

mkdir -p "$work/manifests"
cp -r build/manifests/. "$work/manifests/"
cat > "$work/manifests/hooks.yaml" <<'YAML'
apiVersion: patchbay/v1
name: hooks
version: 1.0.0
title: Webhook ingest benchmark
plugin: http
auth:
  - type: bearer
triggers:
  - name: pushed
    title: Something was pushed
    kind: webhook
    webhook:
      signature: {algorithm: hmac-sha256, header: X-Hub-Signature-256, format: "sha256={hex}"}
      deliveryId: X-Delivery
YAML

port=$(free_port)
build/runtime/patchbay serve --manifests "$work/manifests" --data "$work/data" --listen "127.0.0.1:$port" --log-level warn \
  >"$work/patchbay.out" 2>"$work/patchbay.err" &
pids+=($!)
wait_for "http://127.0.0.1:$port/healthz"
token=$(cat "$work/data/bootstrap-token")
api() { curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
api -X POST -d '{"integration": "hooks"}' "http://127.0.0.1:$port/v1/installations" >/dev/null
conn=$(api -X POST -d '{"integration": "hooks", "name": "bench", "auth_type": "bearer", "secrets": {"token": "t"}}' \
  "http://127.0.0.1:$port/v1/connections" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
secret="bench-signing-secret"
sub=$(api -X POST -d "{\"connection\": \"$conn\", \"trigger\": \"pushed\", \"signing_secret\": \"$secret\"}" \
  "http://127.0.0.1:$port/v1/subscriptions")
sub_id=$(echo "$sub" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
hook=$(echo "$sub" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hook_url"])')

body='{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","after":"59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5","repository":{"id":186853002,"full_name":"octo-org/octo-repo"},"pusher":{"name":"octocat"}}'
sig="sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" -hex | awk '{print $NF}')"
# Fail loudly if a delivery is not accepted.
check=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-Hub-Signature-256: $sig" -H "X-Delivery: check" -d "$body" "$hook")
[[ "$check" == 200 ]] || { echo "a signed delivery was not accepted (HTTP $check)" >&2; exit 1; }

cat > "$work/post.lua" <<LUA
local n = 0
local prefix = tostring(math.random(1, 1000000000))
wrk.method = "POST"
wrk.body = '$body'
function setup(thread) thread:set("id", tostring(thread)) end
request = function()
  n = n + 1
  -- (wrk.format's headers replace wrk.headers: give them all)
  return wrk.format(nil, nil, {["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = "$sig",
                               ["X-Delivery"] = prefix .. "-" .. id .. "-" .. n})
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %.0f %.0f\n", summary.requests, summary.errors.status, summary.duration,
    latency:percentile(50), latency:percentile(99)))
end
LUA
for _ in $(seq 50); do curl -sf -X POST "http://127.0.0.1:$nginx_port/hook" >/dev/null 2>&1 && break; sleep 0.1; done
base=$(wrk -t2 -c32 -d"${duration}s" -s "$work/post.lua" "http://127.0.0.1:$nginx_port/hook")
read -r _ base_requests base_bad base_micros base_p50 base_p99 <<<"$(echo "$base" | grep '^RESULT')"
if ((base_bad > 0)); then echo "the nginx baseline answered $base_bad non-2xx" >&2; exit 1; fi
out=$(wrk -t2 -c32 -d"${duration}s" -s "$work/post.lua" "$hook")
read -r _ requests bad micros p50 p99 <<<"$(echo "$out" | grep '^RESULT')"
if ((bad > 0)); then echo "wrk saw $bad non-2xx answers" >&2; echo "$out" >&2; exit 1; fi

stored=$(api "http://127.0.0.1:$port/v1/subscriptions/$sub_id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pending_events"])')
awk -v r="$requests" -v us="$micros" -v p50="$p50" -v p99="$p99" -v s="$stored" \
    -v br="$base_requests" -v bus="$base_micros" -v bp50="$base_p50" -v bp99="$base_p99" 'BEGIN {
  printf "deliveries answered 2xx: %d in %.1f s; events in the log: %d (1 from the check, up to 32 cut off in flight)\n", r, us / 1e6, s;
  printf "%-28s %10s %10s %10s\n", "", "events/s", "p50 (ms)", "p99 (ms)";
  printf "%-28s %10.0f %10.2f %10.2f\n", "nginx, keeping nothing", br / (bus / 1e6), bp50 / 1000, bp99 / 1000;
  printf "%-28s %10.0f %10.2f %10.2f\n", "patchbay, verified + stored", r / (us / 1e6), p50 / 1000, p99 / 1000;
  printf "ratio to the baseline: %.2f\n", (r / (us / 1e6)) / (br / (bus / 1e6));
  printf "goals: >= 5000 events/s; p99 < 50 ms\n" }'
# wrk stops with up to 32 deliveries in flight: stored, but their answers not counted.
if ((stored < requests + 1 || stored > requests + 1 + 32)); then
  echo "the log holds $stored events for $requests accepted deliveries (+1 check, +32 in flight at most)" >&2; exit 1
fi
