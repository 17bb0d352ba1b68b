#!/usr/bin/env python3
"""A gentle load generator for the quickstart: POSTs at a steady rate over keep-alive connections
and prints, once a second, how many responses each version served and how many failed.
--chat sends streamed OpenAI chat completions instead (and reads each stream to its end)."""
import argparse, collections, http.client, itertools, threading, time, urllib.parse

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--rps", type=float, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--chat", action="store_true", help="streamed OpenAI chat completions")
    parser.add_argument("--distinct", action="store_true", help="a different input in every request")
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    counts = collections.Counter()
    lock = threading.Lock()
    inputs = itertools.count()

    def worker():
        conn = None
        interval = args.workers / args.rps
        next_at = time.monotonic()
        while True:
            next_at += interval
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
                body = (b'{"model":"demo","stream":true,"stream_options":{"include_usage":true},'
                        b'"messages":[{"role":"user","content":"hello"}]}' if args.chat else b'{"inputs":[]}')
                if args.distinct:
                    body = b'{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[%d]}]}' % next(inputs)
                conn.request("POST", url.path, body=body, headers={"content-type": "application/json"})
                response = conn.getresponse()
                response.read()
                version = response.getheader("x-weir-version", "?")
                key = (version, response.status >= 500)
            except Exception:
                conn, key = None, ("unreachable", True)
            with lock:
                counts[key] += 1
            time.sleep(max(0, next_at - time.monotonic()))

    for _ in range(args.workers):
        threading.Thread(target=worker, daemon=True).start()
    start = time.monotonic()
    while True:
        time.sleep(1)
        with lock:
            snapshot = dict(counts)
            counts.clear()
        total = sum(snapshot.values()) or 1
        by_version = collections.Counter()
        errors = collections.Counter()
        for (version, failed), n in snapshot.items():
            by_version[version] += n
            if failed:
                errors[version] += n
        parts = [f"{v}: {n:4d} ({100*n/total:5.1f}%, {errors[v]} errors)" for v, n in sorted(by_version.items())]
        print(f"t={time.monotonic()-start:6.0f}s  " + "   ".join(parts), flush=True)

if __name__ == "__main__":
    main()
