# Shared by the bench and soak scripts: ports, waiting, cleanup.
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "${WORK:-/nonexistent}"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

# start_models V1_PORT V2_PORT [extra weir-demo-model flags…]: the two demo versions, in the background.
start_models() {
  local v1=$1 v2=$2; shift 2
  $BIN/weir-demo-model --port "$v1" --version v1 "$@" >/dev/null & PIDS+=($!)
  $BIN/weir-demo-model --port "$v2" --version v2 "$@" >/dev/null & PIDS+=($!)
}

# two_version_route NAME V1_PORT V2_PORT POLICY: a route splitting / between the two demo versions.
two_version_route() {
  cat <<YAML
routes:
  - name: $1
    match: { path_prefix: / }
    versions:
      v1: { upstreams: ["http://127.0.0.1:$2"] }
      v2: { upstreams: ["http://127.0.0.1:$3"] }
    stable: v1
    canary: v2
    policy: $4
YAML
}
