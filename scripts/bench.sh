#!/usr/bin/env bash
# make bench: wrk against the same demo upstreams directly, through weir, nginx and haproxy
# (90/10 split everywhere), interleaved rounds, then a table of req/s, p50, p99 and ratios.
# Reports only; never fails the build. Env: DURATION (s), CONNS (list), ROUNDS, THREADS.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
BIN=.build/release
DURATION=${DURATION:-8}
CONNS=${CONNS:-"64 512"}
ROUNDS=${ROUNDS:-2}
THREADS=${THREADS:-2}
PATH_UNDER_TEST=${PATH_UNDER_TEST:-/v2/health/ready}
WORK=$(mktemp -d /tmp/weir-bench.XXXXXX)


V1=$(free_port); V2=$(free_port); WEIR=$(free_port); NGINX=$(free_port); HAPROXY=$(free_port)
start_models "$V1" "$V2"
{ echo "server: { listen: \"127.0.0.1:$WEIR\" }"; two_version_route bench "$V1" "$V2" "{ steps: [10, 50], interval: 1h, warmup: 1s }"; } > "$WORK/weir.yaml"
WEIR_LOG_LEVEL=warning $BIN/weir serve -c "$WORK/weir.yaml" & PIDS+=($!)

cat > "$WORK/nginx.conf" <<NGINX
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream v1 { server 127.0.0.1:$V1; keepalive 256; }
  upstream v2 { server 127.0.0.1:$V2; keepalive 256; }
  split_clients "\${remote_port}\${request_id}" \$version { 10% v2; * v1; }
  server {
    listen 127.0.0.1:$NGINX;
    location / { proxy_pass http://\$version; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
nginx -c "$WORK/nginx.conf" -g 'daemon off;' & PIDS+=($!)

cat > "$WORK/haproxy.cfg" <<HAPROXY
global
  nbthread 2
  maxconn 8192
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend fe
  bind 127.0.0.1:$HAPROXY
  default_backend models
backend models
  balance random
  server v1 127.0.0.1:$V1 weight 90
  server v2 127.0.0.1:$V2 weight 10
HAPROXY
haproxy -f "$WORK/haproxy.cfg" -q & PIDS+=($!)

for p in $V1 $V2 $WEIR $NGINX $HAPROXY; do wait_port "$p" || exit 0; done

declare -A PORT=([direct]=$V1 [weir]=$WEIR [nginx]=$NGINX [haproxy]=$HAPROXY)
TARGETS="direct weir nginx haproxy"
RESULTS="$WORK/results.tsv"
# Warm every path (connection pools, page cache).
for t in $TARGETS; do wrk -t1 -c16 -d1s "http://127.0.0.1:${PORT[$t]}$PATH_UNDER_TEST" >/dev/null 2>&1; done

to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/,"",v); print v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v); print v+0 } else if (v ~ /s$/) { sub(/s$/,"",v); print v*1000 } else print v }'; }

for c in $CONNS; do
  for r in $(seq 1 "$ROUNDS"); do
    for t in $TARGETS; do
      out=$(wrk -t"$THREADS" -c"$c" -d"${DURATION}s" --latency "http://127.0.0.1:${PORT[$t]}$PATH_UNDER_TEST" 2>&1)
      rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
      p50=$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
      p99=$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")
      errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$r" "$t" "${rps:-0}" "${p50:-0}" "${p99:-0}" "$errs" >> "$RESULTS"
    done
  done
done

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); wrk -t$THREADS -d${DURATION}s, $ROUNDS interleaved rounds, path $PATH_UNDER_TEST"
python3 - "$RESULTS" <<'PY'
import sys, statistics, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
by = collections.defaultdict(list)
for c, r, t, rps, p50, p99, errs in rows:
    by[(int(c), t)].append((float(rps), float(p50), float(p99), errs.strip()))
conns = sorted({k[0] for k in by})
print(f"{'conns':>5} {'target':<8} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}  notes")
for c in conns:
    med = {}
    for t in ["direct", "weir", "nginx", "haproxy"]:
        runs = by.get((c, t), [])
        if not runs: continue
        rps = statistics.median(x[0] for x in runs); p50 = statistics.median(x[1] for x in runs); p99 = statistics.median(x[2] for x in runs)
        med[t] = (rps, p50, p99)
        notes = "; ".join(sorted({x[3] for x in runs if x[3]}))
        print(f"{c:>5} {t:<8} {rps:>10.0f} {p50:>8.2f} {p99:>8.2f}  {notes}")
    if "weir" in med:
        for other in ["haproxy", "nginx"]:
            if other in med and med[other][0] > 0:
                print(f"{c:>5} weir/{other:<7} req/s x{med['weir'][0]/med[other][0]:.2f}   p99 x{med['weir'][2]/max(med[other][2],1e-9):.2f}")
PY
exit 0
