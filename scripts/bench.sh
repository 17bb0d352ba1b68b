#!/usr/bin/env bash
# make bench: wrk against the same demo upstreams directly, through weir, nginx and haproxy
# (90/10 split everywhere), interleaved rounds, then a table of req/s, p50, p99 and ratios.
# Also: weir with measurement switched off (its cost), HTTP/2 with h2load (weir h2c vs haproxy
# h2c), and RSS at 1000 keep-alive connections (weir vs haproxy).
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
UNMEASURED=$(free_port); WEIR_H2=$(free_port); HAPROXY_H2=$(free_port)
start_models "$V1" "$V2"
# weir_config PORT SERVER_EXTRA ADMIN_PORT: the bench route behind a listener.
weir_config() {
  echo "server: { listen: \"127.0.0.1:$1\"$2 }"
  echo "admin: { listen: \"127.0.0.1:$3\" }"
  echo "state: { sqlite: $WORK/state-$1.sqlite }"
  two_version_route bench "$V1" "$V2" "{ steps: [10, 50], interval: 1h, warmup: 1s }"
}
weir_config "$WEIR" "" "$(free_port)" > "$WORK/weir.yaml"
weir_config "$UNMEASURED" "" "$(free_port)" > "$WORK/weir-unmeasured.yaml"
weir_config "$WEIR_H2" ", h2c: true" "$(free_port)" > "$WORK/weir-h2.yaml"
WEIR_LOG_LEVEL=warning $BIN/weir serve -c "$WORK/weir.yaml" & PIDS+=($!); WEIR_PID=$!
WEIR_LOG_LEVEL=warning WEIR_MEASUREMENT=off $BIN/weir serve -c "$WORK/weir-unmeasured.yaml" & PIDS+=($!)
WEIR_LOG_LEVEL=warning $BIN/weir serve -c "$WORK/weir-h2.yaml" & PIDS+=($!)

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
frontend fe_h2
  bind 127.0.0.1:$HAPROXY_H2 proto h2
  default_backend models
backend models
  balance random
  server v1 127.0.0.1:$V1 weight 90
  server v2 127.0.0.1:$V2 weight 10
HAPROXY
haproxy -f "$WORK/haproxy.cfg" -q & PIDS+=($!); HAPROXY_PID=$!

for p in $V1 $V2 $WEIR $UNMEASURED $WEIR_H2 $NGINX $HAPROXY $HAPROXY_H2; do wait_port "$p" || exit 0; done

declare -A PORT=([direct]=$V1 [weir]=$WEIR [weir-unmeasured]=$UNMEASURED [nginx]=$NGINX [haproxy]=$HAPROXY)
TARGETS="direct weir weir-unmeasured nginx haproxy"
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

# HTTP/2: h2load with prior knowledge (h2c) through weir and haproxy, interleaved.
H2_RESULTS="$WORK/h2.tsv"
for r in $(seq 1 "$ROUNDS"); do
  for t in weir-h2c haproxy-h2c; do
    port=$WEIR_H2; [ "$t" = haproxy-h2c ] && port=$HAPROXY_H2
    out=$(h2load -t"$THREADS" -c64 -m10 -D"$DURATION" --warm-up-time=1 "http://127.0.0.1:$port$PATH_UNDER_TEST" 2>&1)
    rps=$(echo "$out" | awk '/^finished in/ {print $4}')
    ok=$(echo "$out" | awk '/^requests:/ {print $8}')
    mean=$(echo "$out" | awk '/^time for request:/ {print $6}')
    printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "${rps:-0}" "${ok:-0}" "${mean:-?}" >> "$H2_RESULTS"
  done
done

# RSS with 1000 keep-alive connections busy at once.
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
RSS_RESULTS="$WORK/rss.tsv"
for t in weir haproxy; do
  pid=$WEIR_PID; [ "$t" = haproxy ] && pid=$HAPROXY_PID
  before=$(rss_kb "$pid")
  wrk -t"$THREADS" -c1000 -d"${DURATION}s" "http://127.0.0.1:${PORT[$t]}$PATH_UNDER_TEST" >/dev/null 2>&1 &
  load=$!
  peak=0
  for _ in $(seq 1 $((DURATION * 2))); do sleep 0.5; now=$(rss_kb "$pid"); [ "$now" -gt "$peak" ] && peak=$now; done
  wait $load
  printf '%s\t%s\t%s\n' "$t" "$before" "$peak" >> "$RSS_RESULTS"
done

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); wrk -t$THREADS -d${DURATION}s, $ROUNDS interleaved rounds, path $PATH_UNDER_TEST"
python3 - "$RESULTS" <<'PY'
import sys, statistics, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
by = collections.defaultdict(list)
for c, r, t, rps, p50, p99, errs in rows:
    by[(int(c), t)].append((float(rps), float(p50), float(p99), errs.strip()))
conns = sorted({k[0] for k in by})
print(f"{'conns':>5} {'target':<15} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}  notes")
for c in conns:
    med = {}
    for t in ["direct", "weir", "weir-unmeasured", "nginx", "haproxy"]:
        runs = by.get((c, t), [])
        if not runs: continue
        rps = statistics.median(x[0] for x in runs); p50 = statistics.median(x[1] for x in runs); p99 = statistics.median(x[2] for x in runs)
        med[t] = (rps, p50, p99)
        notes = "; ".join(sorted({x[3] for x in runs if x[3]}))
        print(f"{c:>5} {t:<15} {rps:>10.0f} {p50:>8.2f} {p99:>8.2f}  {notes}")
    if "weir" in med:
        for other in ["haproxy", "nginx"]:
            if other in med and med[other][0] > 0:
                print(f"{c:>5} weir/{other:<10} req/s x{med['weir'][0]/med[other][0]:.2f}   p99 x{med['weir'][2]/max(med[other][2],1e-9):.2f}")
        if "weir-unmeasured" in med and med["weir-unmeasured"][0] > 0:
            cost = 1 - med["weir"][0] / med["weir-unmeasured"][0]
            print(f"{c:>5} measurement cost: {cost*100:+.1f} % req/s (weir vs weir with WEIR_MEASUREMENT=off)")
PY
python3 - "$H2_RESULTS" "$RSS_RESULTS" "$ROUNDS" <<'PY'
import sys, statistics, collections
h2 = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r, t, rps, ok, mean = line.rstrip("\n").split("\t")
    h2[t].append((float(rps), int(ok or 0), mean))
print(f"\nHTTP/2 (h2load -c64 -m10, h2c prior knowledge, median of {sys.argv[3]} rounds)")
print(f"{'target':<12} {'req/s':>10} {'succeeded':>10} {'mean':>10}")
med = {}
for t in ["weir-h2c", "haproxy-h2c"]:
    runs = h2.get(t, [])
    if not runs: continue
    med[t] = statistics.median(x[0] for x in runs)
    print(f"{t:<12} {med[t]:>10.0f} {min(x[1] for x in runs):>10} {runs[-1][2]:>10}")
if med.get("haproxy-h2c"):
    print(f"weir/haproxy h2 req/s x{med.get('weir-h2c', 0) / med['haproxy-h2c']:.2f}")
print("\nRSS with 1000 busy keep-alive connections (wrk -c1000)")
for line in open(sys.argv[2]):
    t, before, peak = line.rstrip("\n").split("\t")
    print(f"{t:<8} before {int(before)/1024:6.1f} MB   peak {int(peak)/1024:6.1f} MB")
PY
exit 0
