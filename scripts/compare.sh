#!/usr/bin/env bash
# Two weir binaries, same config, in front of nginx returning a fixed body (so the proxy is the
# bottleneck), interleaved rounds of wrk: req/s, p99, and weir's own CPU time per request (utime +
# stime from /proc, which a busy machine disturbs far less than req/s). Reports only.
# Usage: scripts/compare.sh OLD_BINARY NEW_BINARY   Env: ROUNDS (3), DURATION (6), CONNS ("64 512").
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
OLD=$1; NEW=$2
ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-6}; CONNS=${CONNS:-"64 512"}
WORK=$(mktemp -d /tmp/weir-compare.XXXXXX)
UP=$(free_port)
cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http { access_log off; server { listen 127.0.0.1:$UP; keepalive_requests 1000000; location / { return 200 "ok\n"; } } }
NGINX
nginx -c "$WORK/nginx.conf" -g 'daemon off;' & PIDS+=($!)
wait_port "$UP" || exit 0
declare -A PORT
for name in old new; do
  PORT[$name]=$(free_port)
  cat > "$WORK/$name.yaml" <<YAML
server: { listen: "127.0.0.1:${PORT[$name]}" }
admin: { listen: "127.0.0.1:$(free_port)" }
state: { sqlite: $WORK/$name.sqlite }
routes:
  - name: bench
    match: { path_prefix: / }
    versions:
      v1: { upstreams: ["http://127.0.0.1:$UP"] }
    stable: v1
YAML
done
declare -A PID
PID[old]=$(WEIR_LOG_LEVEL=warning "$OLD" serve -c "$WORK/old.yaml" >/dev/null 2>&1 & echo $!); PIDS+=(${PID[old]})
PID[new]=$(WEIR_LOG_LEVEL=warning "$NEW" serve -c "$WORK/new.yaml" >/dev/null 2>&1 & echo $!); PIDS+=(${PID[new]})
for name in old new; do wait_port "${PORT[$name]}" || exit 0; done
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
printf "%-5s %-6s %-5s %10s %9s %14s\n" conns binary round "req/s" "p99" "CPU µs/req"
for conns in $CONNS; do
  for round in $(seq 1 "$ROUNDS"); do
    for name in old new; do
      before=$(ticks "${PID[$name]}")
      out=$(wrk -t2 -c"$conns" -d"${DURATION}s" --latency "http://127.0.0.1:${PORT[$name]}/x")
      after=$(ticks "${PID[$name]}")
      requests=$(echo "$out" | awk '/requests in/ { print $1 }')
      rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
      p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
      cpu=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
      printf "%-5s %-6s %-5s %10s %9s %14s\n" "$conns" "$name" "$round" "$rps" "$p99" "$cpu"
    done
  done
done
