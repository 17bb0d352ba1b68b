#!/usr/bin/env bash
# make soak: weir (release) in front of two demo model servers under steady wrk load for SOAK_SECONDS
# (default 600), sampling weir's resident memory and open file descriptors every 10 s.
# Reports only. Not part of `make test`.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
BIN=.build/release
SOAK_SECONDS=${SOAK_SECONDS:-600}
CONNS=${CONNS:-64}
WORK=$(mktemp -d /tmp/weir-soak.XXXXXX)
V1=$(free_port); V2=$(free_port); WEIR=$(free_port); ADMIN=$(free_port)
start_models "$V1" "$V2" --error-rate 0.001
{
  echo "server: { listen: \"127.0.0.1:$WEIR\" }"
  echo "admin: { listen: \"127.0.0.1:$ADMIN\" }"
  echo "state: { sqlite: $WORK/state.sqlite }"
  two_version_route soak "$V1" "$V2" "{ steps: [10, 20, 30, 40, 50], interval: 1m, warmup: 5s, promote: manual }"
} > "$WORK/weir.yaml"
WEIR_LOG_LEVEL=warning $BIN/weir serve -c "$WORK/weir.yaml" & WEIR_PID=$!; PIDS+=($WEIR_PID)
sleep 1
wrk -t1 -c"$CONNS" -d"${SOAK_SECONDS}s" "http://127.0.0.1:$WEIR/v2/health/ready" > "$WORK/wrk.txt" 2>&1 & PIDS+=($!)
echo "soak: ${SOAK_SECONDS}s, wrk -c$CONNS, weir pid $WEIR_PID"
printf '%6s %10s %6s\n' "t(s)" "RSS(MB)" "fds"
for ((t = 0; t <= SOAK_SECONDS; t += 10)); do
  rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$WEIR_PID/status 2>/dev/null)
  fds=$(ls /proc/$WEIR_PID/fd 2>/dev/null | wc -l)
  printf '%6d %10s %6s\n' "$t" "${rss:-gone}" "$fds"
  sleep 10
done
sleep 2
grep -E "Requests/sec|requests in|Socket errors|Non-2xx" "$WORK/wrk.txt"
exit 0
