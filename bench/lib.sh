# Sourced by the benchmark scripts: a work folder that is removed at exit together with the
# servers started from it (stopped by pid), free ports on 127.0.0.1, and Debian's nginx.

work=$(mktemp -d)
pids=()
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap bench_cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start_nginx PORT SERVER_DIRECTIVES [NAME [WORKERS [HTTP_DIRECTIVES]]]: nginx on 127.0.0.1:PORT
# (WORKERS worker processes, default 1; long keep-alive, no access log), its server block holding
# SERVER_DIRECTIVES and its http block HTTP_DIRECTIVES; its files under $work/NAME (default nginx);
# its pid joins the cleanup.
start_nginx() {
  local port=$1 directives=$2 name=${3:-nginx} workers=${4:-1} http_directives=${5:-}
  local dir="$work/$name"
  mkdir -p "$dir"
  cat > "$dir/nginx.conf" <<CONF
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  default_type application/json;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  $http_directives
  server {
    listen 127.0.0.1:$port;
    $directives
  }
}
CONF
  chmod -R a+rX "$work"  # nginx workers run as an unprivileged user
  nginx -c "$dir/nginx.conf" -e "$dir/error.log" &
  pids+=($!)
}

# --- The stock http action's workload, shared by bench/http_action.sh and scripts/pgo-train -------
invoke_path=/v1/integrations/http/actions/request/invoke

# wait_for URL: until URL answers 2xx (10 s at most, then fails saying so).
wait_for() {
  for _ in $(seq 100); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "$1 did not answer within 10 s" >&2
  return 1
}

# serve_data_json: nginx on a free port (nginx_port) serving /data.json, a 66-byte JSON document.
serve_data_json() {
  nginx_port=$(free_port)
  mkdir -p "$work/www"
  printf '{"id":42,"name":"Acme Corp","active":true,"tags":["msp","psa"]}\n' > "$work/www/data.json"
  start_nginx "$nginx_port" "root $work/www; location = /data.json { }"
  wait_for "http://127.0.0.1:$nginx_port/data.json"
}

# start_http_patchbay BIN MANIFESTS NAME [SERVE OPTIONS...]: `patchbay serve` on a free port, its
# data in $work/data-NAME, loopback upstreams allowed (the egress guard refuses them otherwise), and
# the http integration installed. Sets pb_port, pb_token and pb_pid; the pid joins the cleanup.
start_http_patchbay() {
  local bin=$1 manifests=$2 name=$3; shift 3
  pb_port=$(free_port)
  "$bin" serve --manifests "$manifests" --data "$work/data-$name" --listen "127.0.0.1:$pb_port" \
    --egress-allow 127.0.0.1 --log-level warn "$@" >"$work/patchbay-$name.out" 2>"$work/patchbay-$name.err" &
  pb_pid=$!
  pids+=("$pb_pid")
  wait_for "http://127.0.0.1:$pb_port/healthz"
  pb_token=$(cat "$work/data-$name/bootstrap-token")
  curl -sf -X POST -H "Authorization: Bearer $pb_token" -d '{"integration": "http"}' "http://127.0.0.1:$pb_port/v1/installations" >/dev/null
}

# write_invoke_script FILE TOKEN: the wrk script that invokes the http action on nginx's /data.json.
write_invoke_script() {
  cat > "$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $2"
wrk.body = '{"input": {"url": "http://127.0.0.1:$nginx_port/data.json"}}'
LUA
}

# check_http_action PORT TOKEN: fails loudly unless the action really returns the upstream's JSON.
check_http_action() {
  local got
  got=$(curl -sf -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $2" \
    -d "{\"input\": {\"url\": \"http://127.0.0.1:$nginx_port/data.json\"}}" "http://127.0.0.1:$1$invoke_path")
  echo "$got" | grep -q '"name":"Acme Corp"' || { echo "the http action did not return the upstream's JSON: $got" >&2; return 1; }
}
