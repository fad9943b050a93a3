#!/usr/bin/env bash
# Benchmark: the CPU work of one proxied call, counted in instructions by Valgrind's callgrind.
# Unlike req/s on a shared machine, the count does not move with the neighbours' load, so two
# builds (or two commits) can be compared to a few percent.
#
# Starts nginx (Debian's) serving a small JSON file on 127.0.0.1, then, one after the other and
# each under callgrind: nginx as a reverse proxy of it (one process, no master), and
# `patchbay serve` with the stock manifests (one network thread, busy polling off: a poll that
# finds nothing is not work of the call). Each gets the same warm-up, then N keep-alive requests
# from one client (POST .../http/actions/request/invoke for Patchbay, GET for nginx), and only
# those are counted: for Patchbay the network thread, which runs the whole call (the plugin
# included, as a fiber), not the background threads (manifest watch, trigger poller).
# Prints instructions per call for both and Patchbay's ratio to nginx's proxy.
#
# Usage: bench/instructions.sh [REQUESTS [PATCHBAY_BINARY]]   (defaults 1500, build/runtime/patchbay)
# Takes a few minutes: callgrind runs code ~50 times slower. Everything binds 127.0.0.1 on free
# ports and is stopped by pid at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-1500}"
binary="${2:-build/runtime/patchbay}"
[[ $requests =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/instructions.sh [REQUESTS [PATCHBAY_BINARY]] (REQUESTS a whole number from 1)" >&2; exit 2; }
scripts/setup --no-test-tools >/dev/null
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
[[ $# -ge 2 ]] || scripts/build default >/dev/null
[[ -x $binary ]] || { echo "no Patchbay binary at $binary; build it (scripts/build default) or name one" >&2; exit 2; }

source bench/lib.sh
serve_data_json

# client URL METHOD BODY TOKEN COUNT: COUNT requests on one keep-alive connection; fails on any
# answer but 200.
client() {
  python3 - "$@" <<'PY'
import http.client, sys, urllib.parse
url, method, body, token, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
u = urllib.parse.urlsplit(url)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
headers = {"Content-Type": "application/json"}
if token: headers["Authorization"] = "Bearer " + token
for i in range(count):
    c.request(method, u.path, body=body.encode() if body else None, headers=headers)
    r = c.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit(f"request {i + 1} answered HTTP {r.status}: {data[:300]!r}")
PY
}

# count_calls PID URL METHOD BODY TOKEN: warm up, zero PID's counters, run the requests, dump.
count_calls() {
  local pid=$1; shift
  client "$@" 300
  callgrind_control -z "$pid" >/dev/null 2>&1
  client "$@" "$requests"
  callgrind_control -d "$pid" >/dev/null 2>&1
}

# under_callgrind NAME URL COMMAND...: COMMAND under callgrind (dumps in $work/NAME.cg.*, output in
# $work/NAME.log), its pid in $cg_pid and in the cleanup, once URL answers (60 s at most).
under_callgrind() {
  local name=$1 url=$2; shift 2
  valgrind -q --tool=callgrind --separate-threads=yes --callgrind-out-file="$work/$name.cg" "$@" >"$work/$name.log" 2>&1 &
  cg_pid=$!
  pids+=("$cg_pid")
  for _ in $(seq 300); do curl -sf "$url" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "$1 under callgrind did not answer $url within 60 s; see $work/$name.log" >&2
  return 1
}

# The instructions in a callgrind dump (its summary line).
instructions_in() { awk '/^summary:/ {print $2; exit}' "$1"; }

# --- nginx as a reverse proxy: one process under callgrind ------------------------------------
proxy_port=$(free_port)
mkdir -p "$work/proxy"
cat > "$work/proxy/nginx.conf" <<CONF
master_process off;
daemon off;
worker_processes 1;
pid $work/proxy/nginx.pid;
error_log $work/proxy/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path $work/proxy/body;
  proxy_temp_path $work/proxy/tmp;
  fastcgi_temp_path $work/proxy/fastcgi;
  uwsgi_temp_path $work/proxy/uwsgi;
  scgi_temp_path $work/proxy/scgi;
  upstream origin { server 127.0.0.1:$nginx_port; keepalive 16; }
  server {
    listen 127.0.0.1:$proxy_port;
    location = /data.json { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
under_callgrind proxy "http://127.0.0.1:$proxy_port/data.json" nginx -c "$work/proxy/nginx.conf" -e "$work/proxy/error.log"
proxy_pid=$cg_pid
count_calls "$proxy_pid" "http://127.0.0.1:$proxy_port/data.json" GET "" ""
proxy_ir=$(instructions_in "$(ls "$work"/proxy.cg.*-01 | sort -V | tail -1)")
kill "$proxy_pid"

# --- Patchbay: one network thread, no busy polling, under callgrind ---------------------------
data="$work/data-cg"
pb_port=$(free_port)
args=(serve --manifests build/manifests --data "$data" --listen "127.0.0.1:$pb_port" --threads 1 --busy-poll-us 0
      --egress-allow 127.0.0.1 --log-level warn)
# First without Valgrind, to make the data folder, its token and the installation.
"$binary" "${args[@]}" >"$work/pb-setup.log" 2>&1 &
setup_pid=$!
pids+=("$setup_pid")
wait_for "http://127.0.0.1:$pb_port/healthz"
token=$(cat "$data/bootstrap-token")
curl -sf -X POST -H "Authorization: Bearer $token" -d '{"integration": "http"}' "http://127.0.0.1:$pb_port/v1/installations" >/dev/null
kill "$setup_pid"; wait "$setup_pid" 2>/dev/null || true
under_callgrind pb "http://127.0.0.1:$pb_port/healthz" "$binary" "${args[@]}"
pb_pid=$cg_pid
count_calls "$pb_pid" "http://127.0.0.1:$pb_port$invoke_path" POST "{\"input\": {\"url\": \"http://127.0.0.1:$nginx_port/data.json\"}}" "$token"
# The network thread is the process's first (it runs serve's event loop); its dump ends in -01.
pb_ir=$(instructions_in "$(ls "$work"/pb.cg.*-01 | sort -V | tail -1)")
kill "$pb_pid"

awk -v n="$requests" -v p="$proxy_ir" -v b="$pb_ir" -v rev="$(git rev-parse --short HEAD 2>/dev/null || echo '?')" 'BEGIN {
  printf "instructions per proxied call, %d keep-alive calls after 300 to warm up (commit %s):\n", n, rev
  printf "  nginx as a reverse proxy (its one process)     %8.0f\n", p / n
  printf "  patchbay, the http action (its network thread)  %8.0f\n", b / n
  printf "  ratio patchbay / nginx proxy                    %8.2f\n", b / p
}'
