#!/usr/bin/env python3
"""make bench, LLM part: server-sent event streams through weir (an `llm: openai` route, every chunk
measured) against the same demo model directly, interleaved rounds.

- per-chunk overhead, two ways: weir's own CPU time per chunk forwarded and measured (all its
  threads' run time from /proc/PID/task/*/schedstat, over streams of 2000 tokens sent as fast as the
  demo can), and the latency weir adds to each chunk: a small upstream of this script stamps every
  chunk with the monotonic clock as it sends it (200 chunks, 2 ms apart); the client subtracts the
  stamp from the arrival time; the median through weir minus the median direct.
- tokens/s: 32 concurrent streams of 100 tokens at 10 ms per token; tokens received per second of
  wall time, through weir divided by direct.
Reports only. Usage: llm_bench.py BIN_DIR [ROUNDS]
"""
import os, socket, statistics, subprocess, sys, tempfile, threading, time

BIN = sys.argv[1]
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5

from benchlib import free_port, wait_port

def stream(port, body=b'{"model":"m","stream":true,"messages":[]}'):
    """One streamed answer over a raw socket: (time of each content chunk's arrival, tokens)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    times, buffer = [], b""
    while True:
        data = sock.recv(65536)
        if not data:
            break
        now = time.perf_counter()
        times.extend([now] * data.count(b'"content":"tok'))
        buffer = data[-64:]
    sock.close()
    return times

def stamping_upstream(port):
    """An SSE upstream that stamps each chunk with time.monotonic_ns() as it writes it."""
    listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port)); listener.listen(64)
    def serve(conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = b""
        while b"\r\n\r\n" not in data:
            part = conn.recv(65536)
            if not part:
                return conn.close()
            data += part
        head, _, body = data.partition(b"\r\n\r\n")
        length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
        while len(body) < length:
            body += conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
                     b"connection: close\r\n\r\n")
        for _ in range(200):
            time.sleep(0.002)
            event = b'data: {"choices":[{"delta":{"content":"tok"}}],"t":%d}\n\n' % time.monotonic_ns()
            conn.sendall(b"%x\r\n%s\r\n" % (len(event), event))
        event = b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
        conn.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(event), event))
        conn.close()
    def accept():
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()

def delays(port):
    """Each chunk's arrival minus its stamp, µs."""
    body = b'{"model":"m","stream":true,"messages":[]}'
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: b\r\nContent-Length: " + str(len(body)).encode()
                 + b"\r\nConnection: close\r\n\r\n" + body)
    out, pending = [], b""
    while True:
        data = sock.recv(65536)
        if not data:
            break
        now = time.monotonic_ns()
        pending += data
        while b'"t":' in pending:
            start = pending.index(b'"t":') + 4
            end = pending.find(b"}", start)
            if end < 0:
                break
            out.append((now - int(pending[start:end])) / 1000)
            pending = pending[end:]
    sock.close()
    return out

procs = []
def start(args):
    procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)); return procs[-1]

try:
    work = tempfile.mkdtemp(prefix="weir-llm-bench.")
    fast, paced, weir_fast, weir_paced = free_port(), free_port(), free_port(), free_port()
    metered, weir_metered = free_port(), free_port()
    stamping_upstream(metered)
    start([f"{BIN}/weir-demo-model", "--port", str(fast), "--ttft-ms", "0", "--tpot-ms", "0", "--output-tokens", "2000"])
    start([f"{BIN}/weir-demo-model", "--port", str(paced), "--ttft-ms", "50", "--tpot-ms", "10", "--output-tokens", "100"])
    weirs = {}
    for port, upstream in [(weir_fast, fast), (weir_paced, paced), (weir_metered, metered)]:
        config = os.path.join(work, f"weir-{port}.yaml")
        with open(config, "w") as f:
            f.write(f"""server: {{ listen: "127.0.0.1:{port}" }}
admin: {{ listen: "127.0.0.1:{free_port()}" }}
state: {{ sqlite: {work}/state-{port}.sqlite }}
routes:
  - name: chat
    match: {{ path_prefix: /v1/ }}
    llm: openai
    timeout: 120s
    versions:
      v1: {{ upstreams: ["http://127.0.0.1:{upstream}"] }}
    stable: v1
""")
        env = dict(os.environ, WEIR_LOG_LEVEL="warning")
        procs.append(subprocess.Popen([f"{BIN}/weir", "serve", "-c", config], env=env, stdout=subprocess.DEVNULL))
        weirs[port] = procs[-1].pid
    haproxy = free_port()
    with open(os.path.join(work, "haproxy.cfg"), "w") as f:
        f.write(f"""global
  nbthread 2
defaults
  mode http
  option http-no-delay
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:{haproxy}
  default_backend models
backend models
  server v1 127.0.0.1:{metered}
""")
    start(["haproxy", "-f", os.path.join(work, "haproxy.cfg"), "-q"])
    for port in (fast, paced, metered, weir_fast, weir_paced, weir_metered, haproxy):
        wait_port(port)
    for port in (fast, weir_fast):
        stream(port)  # warm up

    def cpu_ns(pid):
        total = 0
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        return total

    cpu_per_chunk = []
    for _ in range(ROUNDS):
        before = cpu_ns(weirs[weir_fast])
        chunks = len(stream(weir_fast))
        cpu_per_chunk.append((cpu_ns(weirs[weir_fast]) - before) / chunks / 1000)

    direct_delays, weir_delays, haproxy_delays = [], [], []
    for _ in range(ROUNDS):
        direct_delays += delays(metered)
        weir_delays += delays(weir_metered)
        haproxy_delays += delays(haproxy)

    def concurrent(port, streams=32):
        counts = [0] * streams
        def run(i):
            counts[i] = len(stream(port))
        threads = [threading.Thread(target=run, args=(i,)) for i in range(streams)]
        started = time.perf_counter()
        for t in threads: t.start()
        for t in threads: t.join()
        return sum(counts) / (time.perf_counter() - started), sum(counts)

    rates = {"direct": [], "weir": []}
    for _ in range(max(3, ROUNDS // 2)):
        for name, port in (("direct", paced), ("weir", weir_paced)):
            rate, tokens = concurrent(port)
            rates[name].append(rate)

    print(f"\nLLM streams (SSE, llm: openai route, every chunk measured; {ROUNDS} interleaved rounds)")
    print(f"weir CPU per chunk forwarded and measured (2000-token streams at full speed): "
          f"{statistics.median(cpu_per_chunk):.1f} µs (target <= 20)")
    if direct_delays and weir_delays:
        d, w = statistics.median(direct_delays), statistics.median(weir_delays)
        print(f"chunk delay, sent -> received (200 chunks 2 ms apart, median): direct {d:.0f} µs, through weir {w:.0f} µs"
              f"  -> weir adds {w - d:.0f} µs per chunk")
        if haproxy_delays:
            h = statistics.median(haproxy_delays)
            print(f"  the same through haproxy (nbthread 2, option http-no-delay): {h:.0f} µs -> haproxy adds {h - d:.0f} µs per chunk")
    rd, rw = statistics.median(rates["direct"]), statistics.median(rates["weir"])
    print(f"tokens/s, 32 streams x 100 tokens at 10 ms/token: direct {rd:.0f}, weir {rw:.0f}  -> x{rw / rd:.3f} (target >= 0.95)")
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()
