#!/usr/bin/env python3
"""The official `openai` Python client as a test peer for weir's LLM measurements.

  measure BASE_URL N [--stream] [--max-tokens K] [--die-after K]
      N chat completions one after another; prints one JSON object: the client's own time to first
      token and time per output token (median), tokens, finish reasons, errors.
  load BASE_URL SECONDS RPS [--stream] [--concurrency C]
      chat completions at RPS for SECONDS (threads); prints counts.
  raw HOST PORT PATH BODY
      one request over a raw socket; prints the response's status line, and the body's chunks
      exactly as framed on the wire (hex), so two answers can be compared byte for byte.
"""
import json
import socket
import statistics
import sys
import threading
import time

def client(base):
    import openai
    return openai.OpenAI(base_url=base, api_key="unused", max_retries=0, timeout=60)

def one(api, stream, max_tokens=None, die_after=None):
    started = time.monotonic()
    extra = {"extra_query": {"die_after": die_after}} if die_after is not None else {}
    kwargs = {"model": "demo", "messages": [{"role": "user", "content": "hello there"}]}
    if max_tokens:
        kwargs["max_tokens"] = max_tokens
    if not stream:
        answer = api.chat.completions.create(**kwargs, **extra)
        return {"tokens": answer.usage.completion_tokens, "finish": answer.choices[0].finish_reason,
                "total": time.monotonic() - started}
    first, last, chunks, finish, tokens = None, None, 0, None, None
    for chunk in api.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs, **extra):
        now = time.monotonic()
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
        for choice in chunk.choices:
            if choice.delta.content:
                chunks += 1
                first = first or now
                last = now
            if choice.finish_reason:
                finish = choice.finish_reason
    tokens = tokens or chunks
    return {"ttft": first - started if first else None,
            "tpot": (last - first) / (tokens - 1) if first and tokens > 1 else None,
            "tokens": tokens, "finish": finish, "total": time.monotonic() - started}

def measure(args):
    base, count = args[0], int(args[1])
    stream = "--stream" in args
    max_tokens = int(args[args.index("--max-tokens") + 1]) if "--max-tokens" in args else None
    die_after = int(args[args.index("--die-after") + 1]) if "--die-after" in args else None
    api = client(base)
    results, errors = [], []
    for _ in range(count):
        try:
            results.append(one(api, stream, max_tokens, die_after))
        except Exception as error:  # a cut stream surfaces as the client's own exception
            errors.append(type(error).__name__)
    def median(key):
        values = [r[key] for r in results if r.get(key) is not None]
        return statistics.median(values) if values else None
    finishes = {}
    for r in results:
        finishes[str(r["finish"])] = finishes.get(str(r["finish"]), 0) + 1
    print(json.dumps({"ok": len(results), "errors": errors, "ttft": median("ttft"), "tpot": median("tpot"),
                      "tokens": median("tokens"), "finishes": finishes}))

def load(args):
    base, seconds, rps = args[0], float(args[1]), float(args[2])
    stream = "--stream" in args
    concurrency = int(args[args.index("--concurrency") + 1]) if "--concurrency" in args else 16
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    counts = {"ok": 0, "errors": 0}
    next_at = [time.monotonic()]

    def worker():
        api = client(base)
        while True:
            with lock:
                at = next_at[0]
                next_at[0] += 1 / rps
            if at >= deadline:
                return
            delay = at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                one(api, stream)
                key = "ok"
            except Exception:
                key = "errors"
            with lock:
                counts[key] += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(counts))

def raw(args):
    host, port, path, body = args[0], int(args[1]), args[2], args[3].encode()
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode() +
                 b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
                 b"\r\nConnection: close\r\n\r\n" + body)
    data = b""
    while True:
        part = sock.recv(65536)
        if not part:
            break
        data += part
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {line.split(b":", 1)[0].strip().lower().decode(): line.split(b":", 1)[1].strip().decode()
               for line in lines[1:]}
    chunks = []
    if headers.get("transfer-encoding") == "chunked":
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            chunks.append(rest[:size].hex())
            rest = rest[size + 2:]
    else:
        chunks.append(rest.hex())
    print(json.dumps({"status": lines[0].decode(), "content_type": headers.get("content-type"),
                      "framing": "chunked" if headers.get("transfer-encoding") == "chunked" else "length",
                      "chunks": chunks}))

if __name__ == "__main__":
    {"measure": measure, "load": load, "raw": raw}[sys.argv[1]](sys.argv[2:])
