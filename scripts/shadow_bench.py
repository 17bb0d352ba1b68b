#!/usr/bin/env python3
"""make bench, shadow part: the clients' latency with a shadow on (every request copied to a
candidate and to the stable again, answers compared) against the same route without one,
interleaved rounds: at a fixed 500 requests/s (open loop, 8 keep-alive connections — the load a
shadow is meant for, where the proxy is not saturated; the p50/p99 must not move), and at
saturation (wrk -c64: each request then costs three upstream exchanges on the same cores).
Reports only. Usage: shadow_bench.py BIN_DIR [ROUNDS] [SECONDS]
"""
import os, re, socket, statistics, subprocess, sys, tempfile, threading, time

BIN = sys.argv[1]
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
SECONDS = int(sys.argv[3]) if len(sys.argv) > 3 else 6

from benchlib import free_port, wait_port

procs = []
try:
    work = tempfile.mkdtemp(prefix="weir-shadow-bench.")
    stable_a, stable_b, candidate = free_port(), free_port(), free_port()
    for port, version in [(stable_a, "v1"), (stable_b, "v1"), (candidate, "v2")]:
        procs.append(subprocess.Popen([f"{BIN}/weir-demo-model", "--port", str(port), "--version", version,
                                       "--seeded-outputs", "--label-noise", "0.01"], stdout=subprocess.DEVNULL))
    ports = {}
    for name, shadow in [("shadow-off", ""), ("shadow-on", """
    shadow: { version: v2, noise: 2, compare: { kind: label, path: "outputs[0].data" } }""")]:
        port = free_port()
        ports[name] = port
        config = os.path.join(work, f"{name}.yaml")
        with open(config, "w") as f:
            f.write(f"""server: {{ listen: "127.0.0.1:{port}" }}
admin: {{ listen: "127.0.0.1:{free_port()}" }}
state: {{ sqlite: {work}/{name}.sqlite }}
routes:
  - name: fraud
    match: {{ path_prefix: /v2/models/fraud }}
    versions:
      v1: {{ upstreams: ["http://127.0.0.1:{stable_a}", "http://127.0.0.1:{stable_b}"] }}
      v2: {{ upstreams: ["http://127.0.0.1:{candidate}"] }}
    stable: v1{shadow}
""")
        procs.append(subprocess.Popen([f"{BIN}/weir", "serve", "-c", config], env=dict(os.environ, WEIR_LOG_LEVEL="warning"),
                                      stdout=subprocess.DEVNULL))
    for port in [stable_a, stable_b, candidate] + list(ports.values()):
        wait_port(port)
    script = os.path.join(work, "post.lua")
    with open(script, "w") as f:
        f.write('counter = 0\nrequest = function()\n  counter = counter + 1\n'
                '  return wrk.format("POST", "/v2/models/fraud/infer", {["content-type"]="application/json"}, '
                '"{\\"inputs\\":[{\\"data\\":[" .. counter .. "]}]}")\nend\n')
    def to_ms(text):
        value = float(re.match(r"[\d.]+", text).group())
        return value / 1000 if text.endswith("us") else value * 1000 if text.endswith("s") and not text.endswith("ms") else value
    def paced(port, rps=500, threads=8, seconds=SECONDS):
        """Latencies (ms) of POSTs sent at a fixed rate over keep-alive connections."""
        latencies, lock = [], threading.Lock()
        def worker(offset):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            interval = threads / rps
            next_at = time.perf_counter() + offset * interval / threads
            end = time.perf_counter() + seconds
            index = offset
            mine = []
            while next_at < end:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                body = b'{"inputs":[{"data":[%d]}]}' % index
                index += threads
                started = time.perf_counter()
                sock.sendall(b"POST /v2/models/fraud/infer HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                data = b""
                while True:
                    data += sock.recv(65536)
                    head, sep, rest = data.partition(b"\r\n\r\n")
                    if sep:
                        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
                        if len(rest) >= length:
                            break
                mine.append((time.perf_counter() - started) * 1000)
                next_at += interval
            sock.close()
            with lock:
                latencies.extend(mine)
        workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for w in workers: w.start()
        for w in workers: w.join()
        latencies.sort()
        return latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]

    fixed = {name: [] for name in ports}
    for _ in range(ROUNDS):
        for name, port in ports.items():
            fixed[name].append(paced(port))
    results = {name: [] for name in ports}
    for _ in range(ROUNDS):
        for name, port in ports.items():
            out = subprocess.run(["wrk", "-t2", "-c64", f"-d{SECONDS}s", "--latency", "-s", script,
                                  f"http://127.0.0.1:{port}/v2/models/fraud/infer"], capture_output=True, text=True).stdout
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
            p50 = to_ms(re.search(r"\n\s+50%\s+(\S+)", out).group(1))
            p99 = to_ms(re.search(r"\n\s+99%\s+(\S+)", out).group(1))
            results[name].append((rps, p50, p99))
    print(f"\nShadow traffic (POST infer, 2 copies per request compared; {ROUNDS} interleaved rounds of {SECONDS} s)")
    print("at 500 requests/s, 8 connections (client-side latency, Python):")
    print(f"{'route':<11} {'p50 ms':>8} {'p99 ms':>8}")
    for name, runs in fixed.items():
        print(f"{name:<11} {statistics.median(r[0] for r in runs):>8.2f} {statistics.median(r[1] for r in runs):>8.2f}")
    print("at saturation (wrk -t2 -c64):")
    print(f"{'route':<11} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, runs in results.items():
        print(f"{name:<11} {statistics.median(r[0] for r in runs):>8.0f} {statistics.median(r[1] for r in runs):>8.2f} "
              f"{statistics.median(r[2] for r in runs):>8.2f}")
    print("(the same two cores also serve the copies: req/s drops because each request costs three upstream "
          "exchanges; the latency columns say whether a client waits for them)")
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()
