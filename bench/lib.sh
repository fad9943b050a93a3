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
