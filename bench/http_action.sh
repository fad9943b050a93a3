#!/usr/bin/env bash
# Benchmark: the stock `http` action through Patchbay versus the same upstream called directly.
#
# Starts nginx (Debian's) serving a small JSON file on 127.0.0.1, starts `patchbay serve` with the
# stock manifests (twice: with its defaults, and with --busy-poll-us 0), runs wrk directly
# against nginx and through POST .../http/actions/request/invoke in the same run, at 1 and 32
# connections, and prints req/s, p50, p99 and the ratio to direct.
# Also prints the resident memory of the idle server. Everything binds 127.0.0.1 on free ports and
# is stopped by pid at the end.
#
# Usage: bench/http_action.sh [DURATION_SECONDS [ROUNDS]]   (defaults 10 and 1)
# With ROUNDS > 1, the measurements of direct, nginx as a proxy and Patchbay (its defaults) are
# repeated, one after the other, at 32 connections and then at 1, and the medians of the ratio and
# of the added p50 are printed too: on a shared machine the direct baseline alone moves by a
# quarter from one minute to the next, and its p50 at 1 connection by a factor of four.
# Goals (2 cores): through/direct throughput >= 0.5 at 32 connections; added p50 <= 80 us at 1
# connection; idle RSS <= 30 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
rounds="${2:-1}"
[[ $duration =~ ^[1-9][0-9]*$ && $rounds =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/http_action.sh [DURATION_SECONDS [ROUNDS]] (whole numbers from 1)" >&2; exit 2; }
scripts/setup --no-test-tools >/dev/null
scripts/build default >/dev/null

source bench/lib.sh

# --- upstream: nginx serving a small JSON document -------------------------------------------
serve_data_json
# A reference for what the goal asks: nginx itself as a reverse proxy in front of the same
# upstream (two workers, as Patchbay has two network threads here, pooled keep-alive upstream
# connections). It is the same hop without auth, JSON, schemas or a plugin.
proxy_port=$(free_port)
start_nginx "$proxy_port" "location = /data.json { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection \"\"; }" \
  nginx-proxy 2 "upstream origin { server 127.0.0.1:$nginx_port; keepalive 64; }"
wait_for "http://127.0.0.1:$proxy_port/data.json"
curl -sf "http://127.0.0.1:$proxy_port/data.json" | grep -q '"name":"Acme Corp"' || { echo "the nginx proxy does not pass the upstream's JSON on" >&2; exit 1; }

# --- Patchbay: as it starts by default, and with busy polling off (see docs/user-guide.md) -----
declare -A PORT TOKEN PID
for name in default nopoll; do
  opts=(); [[ $name == nopoll ]] && opts=(--busy-poll-us 0)
  start_http_patchbay build/runtime/patchbay build/manifests "$name" "${opts[@]}"
  PORT[$name]=$pb_port TOKEN[$name]=$pb_token PID[$name]=$pb_pid
done
sleep 2
idle_rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/${PID[default]}/status")
for name in default nopoll; do
  write_invoke_script "$work/invoke-$name.lua" "${TOKEN[$name]}"
  check_http_action "${PORT[$name]}" "${TOKEN[$name]}"
done

to_us() {  # wrk prints 1.23ms / 456.00us / 1.02s
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "us") print n; else if (u == "ms") print n * 1000; else if (u == "s") print n * 1000000; else print n }'
}
# cpu_ticks: "total steal idle" jiffies of the whole machine, from /proc/stat. The host's share of our
# CPUs (steal) during a measurement says whether its figures measure the code or the neighbours.
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $9, $5 + $6 }' /proc/stat; }
# run_wrk CONNECTIONS URL [SCRIPT] -> "rps p50_us p99_us steal_percent idle_percent"
run_wrk() {
  local conns=$1 url=$2 script=${3:-}
  local threads=1
  ((conns > 1)) && threads=2
  local args=(-t"$threads" -c"$conns" -d"${duration}s" --latency)
  [[ -n "$script" ]] && args+=(-s "$script")
  local out t0 s0 i0 t1 s1 i1
  read -r t0 s0 i0 <<<"$(cpu_ticks)"
  out=$(wrk "${args[@]}" "$url")
  read -r t1 s1 i1 <<<"$(cpu_ticks)"
  if echo "$out" | grep -q "Non-2xx"; then echo "wrk saw non-2xx answers:" >&2; echo "$out" >&2; exit 1; fi
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(to_us "$(echo "$out" | awk '$1 == "50%" {print $2}')")
  p99=$(to_us "$(echo "$out" | awk '$1 == "99%" {print $2}')")
  awk -v r="$rps" -v a="$p50" -v b="$p99" -v t=$((t1 - t0)) -v s=$((s1 - s0)) -v i=$((i1 - i0)) \
    'BEGIN { if (t < 1) t = 1; printf "%s %s %s %.1f %.1f\n", r, a, b, 100 * s / t, 100 * i / t }'
}

direct_url="http://127.0.0.1:$nginx_port/data.json"

printf '%-8s %-20s %12s %10s %10s %8s %8s\n' "conns" "path" "req/s" "p50 (us)" "p99 (us)" "steal %" "idle %"
declare -A R
for c in 1 32; do
  read -r rps p50 p99 steal idle <<<"$(run_wrk "$c" "$direct_url")"
  R[direct_$c]="$rps $p50 $p99 $steal"
  printf '%-8s %-20s %12.0f %10.0f %10.0f %8.1f %8.1f\n' "$c" "direct" "$rps" "$p50" "$p99" "$steal" "$idle"
  read -r rps p50 p99 steal idle <<<"$(run_wrk "$c" "http://127.0.0.1:$proxy_port/data.json")"
  R[proxy_$c]="$rps $p50 $p99 $steal"
  printf '%-8s %-20s %12.0f %10.0f %10.0f %8.1f %8.1f\n' "$c" "nginx as a proxy" "$rps" "$p50" "$p99" "$steal" "$idle"
  for name in default nopoll; do
    read -r rps p50 p99 steal idle <<<"$(run_wrk "$c" "http://127.0.0.1:${PORT[$name]}$invoke_path" "$work/invoke-$name.lua")"
    R[${name}_$c]="$rps $p50 $p99 $steal"
    label="patchbay"; [[ $name == nopoll ]] && label="patchbay, no polling"
    printf '%-8s %-20s %12.0f %10.0f %10.0f %8.1f %8.1f\n' "$c" "$label" "$rps" "$p50" "$p99" "$steal" "$idle"
  done
done

busy_rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/${PID[default]}/status")
read -r d1 dp50 _ <<<"${R[direct_1]}"
read -r d32 _ _ <<<"${R[direct_32]}"
for name in default nopoll; do
  read -r t1 tp50 _ <<<"${R[${name}_1]}"
  read -r t32 _ _ <<<"${R[${name}_32]}"
  echo
  if [[ $name == default ]]; then echo "patchbay serve (defaults):"; else echo "patchbay serve --busy-poll-us 0:"; fi
  awk -v d="$d32" -v t="$t32" 'BEGIN { printf "  throughput ratio at 32 connections (patchbay/direct): %.2f   (goal >= 0.50)\n", t / d }'
  awk -v d="$dp50" -v t="$tp50" 'BEGIN { printf "  added p50 at 1 connection: %.0f us   (goal <= 80 us)\n", t - d }'
  awk -v d="$d1" -v t="$t1" 'BEGIN { printf "  throughput ratio at 1 connection: %.2f\n", t / d }'
done
read -r t1 tp50 _ <<<"${R[proxy_1]}"
read -r t32 _ _ <<<"${R[proxy_32]}"
echo
echo "reference, nginx as a reverse proxy:"
awk -v d="$d32" -v t="$t32" 'BEGIN { printf "  throughput ratio at 32 connections (proxy/direct): %.2f\n", t / d }'
awk -v d="$dp50" -v t="$tp50" 'BEGIN { printf "  added p50 at 1 connection: %.0f us\n", t - d }'
echo
awk -v k="$idle_rss_kb" 'BEGIN { printf "idle RSS of patchbay serve with the stock manifests: %.1f MB   (goal <= 30 MB)\n", k / 1024 }'
awk -v k="$busy_rss_kb" 'BEGIN { printf "RSS after the load: %.1f MB\n", k / 1024 }'

if ((rounds > 1)); then
  echo
  echo "$rounds rounds, each measuring direct, nginx as a proxy and patchbay (defaults) in turn, at 32"
  echo "connections (req/s) and then at 1 (the p50 each adds to direct's p50 of the same round):"
  echo "(steal: the share of the machine's CPU time the host took from us during each of the three at 32)"
  printf '%-6s %12s %12s %12s %10s %10s %16s %12s %12s\n' "round" "direct" "nginx proxy" "patchbay" "ratio" "proxy ratio" "steal %" "added p50" "proxy added"
  read -r _ _ _ ds <<<"${R[direct_32]}"
  read -r p32 _ _ ps <<<"${R[proxy_32]}"
  read -r t32 _ _ ts <<<"${R[default_32]}"
  # difference_us A B: A - B, whole microseconds (a p50 added to direct's)
  difference_us() { awk -v t="$1" -v d="$2" 'BEGIN { printf "%.0f", t - d }'; }
  ratios=("$(awk -v d="$d32" -v t="$t32" 'BEGIN { printf "%.3f", t / d }')")
  proxy_ratios=("$(awk -v d="$d32" -v t="$p32" 'BEGIN { printf "%.3f", t / d }')")
  read -r _ pp50 _ <<<"${R[proxy_1]}"
  read -r _ tp50 _ <<<"${R[default_1]}"
  added=("$(difference_us "$tp50" "$dp50")")
  proxy_added=("$(difference_us "$pp50" "$dp50")")
  printf '%-6s %12.0f %12.0f %12.0f %10.2f %10.2f %16s %9s us %9s us\n' 1 "$d32" "$p32" "$t32" "${ratios[0]}" "${proxy_ratios[0]}" "$ds/$ps/$ts" "${added[0]}" "${proxy_added[0]}"
  for ((r = 2; r <= rounds; r++)); do
    read -r d _ _ ds _ <<<"$(run_wrk 32 "$direct_url")"
    read -r p _ _ ps _ <<<"$(run_wrk 32 "http://127.0.0.1:$proxy_port/data.json")"
    read -r t _ _ ts _ <<<"$(run_wrk 32 "http://127.0.0.1:${PORT[default]}$invoke_path" "$work/invoke-default.lua")"
    ratios+=("$(awk -v d="$d" -v t="$t" 'BEGIN { printf "%.3f", t / d }')")
    proxy_ratios+=("$(awk -v d="$d" -v t="$p" 'BEGIN { printf "%.3f", t / d }')")
    read -r _ d50 _ <<<"$(run_wrk 1 "$direct_url")"
    read -r _ p50 _ <<<"$(run_wrk 1 "http://127.0.0.1:$proxy_port/data.json")"
    read -r _ t50 _ <<<"$(run_wrk 1 "http://127.0.0.1:${PORT[default]}$invoke_path" "$work/invoke-default.lua")"
    added+=("$(difference_us "$t50" "$d50")")
    proxy_added+=("$(difference_us "$p50" "$d50")")
    printf '%-6s %12.0f %12.0f %12.0f %10.2f %10.2f %16s %9s us %9s us\n' "$r" "$d" "$p" "$t" "${ratios[-1]}" "${proxy_ratios[-1]}" "$ds/$ps/$ts" "${added[-1]}" "${proxy_added[-1]}"
  done
  median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
  awk -v m="$(median "${ratios[@]}")" -v p="$(median "${proxy_ratios[@]}")" 'BEGIN {
    printf "  median throughput ratio at 32 connections (patchbay/direct): %.2f   (goal >= 0.50)\n", m
    printf "  median for nginx as a proxy: %.2f\n", p }'
  awk -v m="$(median "${added[@]}")" -v p="$(median "${proxy_added[@]}")" 'BEGIN {
    printf "  median added p50 at 1 connection: %.0f us   (goal <= 80 us)\n", m
    printf "  median for nginx as a proxy: %.0f us\n", p }'
fi
