#!/usr/bin/env bash
# make run: two demo model servers (v1 stable, v2 canary) and weir in front of them, plus a gentle
# load generator that prints which version served each second's requests, so the split is visible.
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-examples/quickstart.yaml}
BIN=.build/release
V2_ERROR_RATE=${V2_ERROR_RATE:-0}
V2_TTFT_MS=${V2_TTFT_MS:-200}
# An LLM config (a route with `llm:`) gets OpenAI-compatible demo models and a streaming load; a
# shadow config (`shadow:`) seeded answers, a second stable on 9011, and V2_FLIP_RATE of flips.
LLM=$(grep -qE '^\s+llm:' "$CONFIG" && echo 1 || echo "")
SHADOW=$(grep -qE '^\s+shadow:' "$CONFIG" && echo 1 || echo "")
V2_FLIP_RATE=${V2_FLIP_RATE:-0}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# The demo starts every time from a clean slate; a real deployment keeps its state file.
rm -f weir-quickstart.sqlite* weir-shadow.sqlite*
if [ -n "$SHADOW" ]; then
  SEEDED="--seeded-outputs --label-noise 0.02 --latency-ms 5 --jitter-ms 5"
  $BIN/weir-demo-model --port 9001 --version v1 $SEEDED & PIDS+=($!)
  $BIN/weir-demo-model --port 9002 --version v2 $SEEDED --flip-rate "$V2_FLIP_RATE" & PIDS+=($!)
  $BIN/weir-demo-model --port 9011 --version v1 $SEEDED & PIDS+=($!)
elif [ -n "$LLM" ]; then
  $BIN/weir-demo-model --port 9001 --version v1 --ttft-ms 200 --tpot-ms 20 --output-tokens 40 --length-rate 0.02 & PIDS+=($!)
  $BIN/weir-demo-model --port 9002 --version v2 --ttft-ms "$V2_TTFT_MS" --tpot-ms 20 --output-tokens 40 \
    --length-rate 0.02 --error-rate "$V2_ERROR_RATE" & PIDS+=($!)
else
  $BIN/weir-demo-model --port 9001 --version v1 --latency-ms 5 --jitter-ms 5 & PIDS+=($!)
  $BIN/weir-demo-model --port 9002 --version v2 --latency-ms 5 --jitter-ms 5 --error-rate "$V2_ERROR_RATE" & PIDS+=($!)
fi
$BIN/weir check -c "$CONFIG"
$BIN/weir serve -c "$CONFIG" & PIDS+=($!)
sleep 1
ADMIN_LISTEN=$(awk '/^admin:/ {a=1; next} a && /listen:/ {gsub(/[" ]/, "", $2); print $2; exit}' "$CONFIG")

if [ -n "$SHADOW" ]; then
cat <<MSG

Dashboard:    http://${ADMIN_LISTEN:-127.0.0.1:9901}/

weir is routing http://127.0.0.1:8080/v2/models/fraud to v1; v2 answers nobody yet: it gets a copy
of every request (and v1 a second one, the noise floor), and walks on to 5 % once shown to agree.
Watch it:     .build/release/weirctl status --watch        (the shadow line: agreement, floor, κ, tests)
The pairs that disagreed:  .build/release/weirctl diff fraud
To see a candidate that flips 5 % of classes rolled back before it answers anyone:
  V2_FLIP_RATE=0.05 make run CONFIG=$CONFIG
Load: ~100 requests/s with distinct inputs; each line shows who served the last second.

MSG
python3 scripts/load.py --distinct --url http://127.0.0.1:8080/v2/models/fraud/infer --rps 100 &
PIDS+=($!)
wait "${PIDS[3]}"
exit 0
fi

if [ -n "$LLM" ]; then
cat <<MSG

Dashboard:    http://${ADMIN_LISTEN:-127.0.0.1:9901}/

weir is routing http://127.0.0.1:8080/v1/ (OpenAI-compatible) to two demo models, measuring every
streamed answer: time to first token, time per token, tokens, finish reasons.
Try, in another terminal:
  curl -N http://127.0.0.1:8080/v1/chat/completions -d '{"model":"m","stream":true,"messages":[]}'
Watch it:     .build/release/weirctl status --watch      (the LLM table: TTFT, TPOT, tok/s, finishes)
To see the judge roll back a canary whose first token comes twice as late:
  V2_TTFT_MS=400 make run CONFIG=$CONFIG
Load: ~20 streamed answers/s; each line shows who served the last second.

MSG
python3 scripts/load.py --chat --url http://127.0.0.1:8080/v1/chat/completions --rps 20 --workers 16 &
PIDS+=($!)
wait "${PIDS[2]}"
exit 0
fi

cat <<MSG

Dashboard:    http://${ADMIN_LISTEN:-127.0.0.1:9901}/   (open it in a browser: the live charts and the audit log)

weir is routing http://127.0.0.1:8080/v2/models/fraud to v1 (stable) and v2 (canary).
Try, in another terminal:
  curl -i -X POST http://127.0.0.1:8080/v2/models/fraud/infer -d '{"inputs":[]}'
  curl -i -H 'x-weir-version: v2' -X POST http://127.0.0.1:8080/v2/models/fraud/infer -d '{}'
  curl -N -X POST http://127.0.0.1:8080/v2/models/fraud/generate_stream -d '{}'
Watch it:     .build/release/weirctl status --watch
Roll back:    .build/release/weirctl rollback fraud --reason "looks wrong"
To see a rollback instead of a promotion:  V2_ERROR_RATE=0.3 make run
Load: ~100 requests/s; each line shows who served the last second.

MSG
python3 scripts/load.py --url http://127.0.0.1:8080/v2/models/fraud/infer --rps 100 &
PIDS+=($!)
wait "${PIDS[2]}"
