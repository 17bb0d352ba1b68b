#!/usr/bin/env python3
"""make bench, fleet row: three weir instances on one throw-away PostgreSQL (initdb as the
postgres user, a free port, removed at the end). Prints
  - commit -> applied on every instance: p50/p99 over 100 weight changes (set-weight sent to the
    instances in turn; the time from the commit's answer until each instance routes by it), and
  - database statements per second per instance at steady load (pg_stat_statements), with wrk
    on all three data planes.
Reports only. Env: BIN (default .build/release), CHANGES (100), LOAD_SECONDS (10)."""
import json, os, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.request

BIN = os.environ.get("BIN", ".build/release")
CHANGES = int(os.environ.get("CHANGES", "100"))
LOAD_SECONDS = int(os.environ.get("LOAD_SECONDS", "10"))
PG = next((f"/usr/lib/postgresql/{v}/bin" for v in sorted(os.listdir("/usr/lib/postgresql"), reverse=True)), None) \
    if os.path.isdir("/usr/lib/postgresql") else None


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port


def wait_port(port, limit=20):
    end = time.time() + limit
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close(); return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def as_postgres(*command, work):
    subprocess.run(["runuser", "-u", "postgres", "--", "env", "-C", work, *command], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def sql(port, statement):
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "weir", "-At", "-c",
                          statement], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def call(port, method, path, body=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"content-type": "application/json"} if body is not None else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    if PG is None or shutil.which("runuser") is None:
        print("\nfleet: PostgreSQL is not installed (make deps installs it); skipped"); return
    work = tempfile.mkdtemp(prefix="weir-fleet-bench-")
    os.chmod(work, 0o777)
    processes = []
    pg_port = free_port()
    data = os.path.join(work, "data")
    try:
        as_postgres(f"{PG}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", work=work)
        as_postgres(f"{PG}/pg_ctl", "-D", data, "-l", os.path.join(work, "log"), "-w", "-o",
                    f"-p {pg_port} -h 127.0.0.1 -k {work} -c shared_preload_libraries=pg_stat_statements -c fsync=off",
                    "start", work=work)
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres", "-qc", "CREATE ROLE weir LOGIN",
                        "-c", "CREATE DATABASE weir OWNER weir"], check=True, capture_output=True)
        sql(pg_port, "CREATE EXTENSION pg_stat_statements")
        models = [free_port(), free_port()]
        for port, version in zip(models, ["v1", "v2"]):
            processes.append(subprocess.Popen([f"{BIN}/weir-demo-model", "--port", str(port), "--version", version],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        members = []
        for name in "abc":
            port, admin = free_port(), free_port()
            config = os.path.join(work, f"{name}.yaml")
            with open(config, "w") as f:
                f.write(f"""server: {{ listen: "127.0.0.1:{port}" }}
admin: {{ listen: "127.0.0.1:{admin}" }}
state: {{ postgres: "postgres://weir@127.0.0.1:{pg_port}/weir?sslmode=disable", instance: {name} }}
routes:
  - name: bench
    match: {{ path_prefix: / }}
    versions:
      v1: {{ upstreams: ["http://127.0.0.1:{models[0]}"] }}
      v2: {{ upstreams: ["http://127.0.0.1:{models[1]}"] }}
    stable: v1
    canary: v2
    policy: {{ steps: [10, 50], interval: 1h, warmup: 1s }}
""")
            processes.append(subprocess.Popen([f"{BIN}/weir", "serve", "-c", config], env={**os.environ, "WEIR_LOG_LEVEL": "warning"},
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            members.append((name, port, admin))
        for _, port, admin in members:
            wait_port(port); wait_port(admin)
        time.sleep(3)  # every instance has beaten and seen the others

        # Statements per second per instance at steady load.
        sql(pg_port, "SELECT pg_stat_statements_reset()")
        wrks = [subprocess.Popen(["wrk", "-t1", "-c8", f"-d{LOAD_SECONDS}s", f"http://127.0.0.1:{port}/v2/health/ready"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _, port, _ in members]
        outputs = [w.communicate()[0] for w in wrks]
        statements = int(sql(pg_port, "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = "
                                      "(SELECT oid FROM pg_database WHERE datname = 'weir')"))
        rps = sum(float(line.split()[1]) for out in outputs for line in out.splitlines() if line.startswith("Requests/sec"))

        # Commit -> applied on every instance.
        slowest, each = [], []
        for change in range(CHANGES):
            weight = 11 + change % 30
            _, _, sender = members[change % 3]
            call(sender, "POST", "/v1/routes/bench/weight", {"canary": weight})
            committed = time.perf_counter()
            pending = {admin for _, _, admin in members}
            delays = {}
            while pending and time.perf_counter() - committed < 5:
                for admin in list(pending):
                    if call(admin, "GET", "/v1/routes/bench")["weights"].get("v2") == weight:
                        delays[admin] = time.perf_counter() - committed
                        pending.discard(admin)
            if pending:
                print(f"fleet: change {change} not applied everywhere within 5 s"); continue
            each.extend(d for admin, d in delays.items() if admin != sender)
            slowest.append(max(delays.values()))
        print(f"\nFleet mode (3 instances on one PostgreSQL {os.path.basename(os.path.dirname(PG))})")
        if slowest:
            print(f"commit -> applied on every instance, {len(slowest)} weight changes: "
                  f"p50 {statistics.median(slowest) * 1000:.1f} ms, p99 {percentile(slowest, 99) * 1000:.1f} ms "
                  f"(each other instance: p50 {statistics.median(each) * 1000:.1f} ms, p99 {percentile(each, 99) * 1000:.1f} ms)")
        print(f"database statements at steady load ({rps:.0f} req/s over the three, {LOAD_SECONDS} s): "
              f"{statements / LOAD_SECONDS / 3:.1f} per second per instance")
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            try: p.wait(timeout=10)
            except subprocess.TimeoutExpired: p.kill()
        try:
            as_postgres(f"{PG}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", work=work)
        except Exception:
            pass
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
