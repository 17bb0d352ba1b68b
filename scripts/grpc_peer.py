#!/usr/bin/env python3
"""A real gRPC peer (grpcio) for weir's tests and benchmarks, with no generated code.

  grpc_peer.py server --name v1 [--fail-every N] [--fail-status CODE] [--delay-ms MS]
                      [--max-age-ms MS] [--tls-cert F --tls-key F]
      Serves weir.test.Echo on 127.0.0.1 (a free port, printed as "port N" on stdout):
        Echo    (unary)  returns the request bytes; initial metadata x-served-by=NAME,
                         trailing metadata x-trailer-check=NAME-trailer.
        Stream  (bidi)   echoes every message back.
      Every Nth unary call fails with CODE (default UNAVAILABLE).

  grpc_peer.py calls --target HOST:PORT [--calls N] [--size BYTES] [--ca F] [--method NAME|/svc/method]
      N unary calls; prints one JSON object: {"codes": {...}, "versions": {...},
      "trailers_ok": n, "echo_ok": n, "details": [...first few error details]}.

  grpc_peer.py stream --target HOST:PORT --messages N --size BYTES [--ca F]
      One bidi call sending N messages of BYTES; prints {"code":..., "sent":..., "received":..., "bytes_ok": bool}.
"""
import argparse
import hashlib
import json
import sys
import threading
import time
from concurrent import futures

import grpc

SERVICE = "weir.test.Echo"


def identity(b):
    return b


def serve(args):
    counter = {"n": 0}
    lock = threading.Lock()

    def echo(request, context):
        with lock:
            counter["n"] += 1
            n = counter["n"]
        context.send_initial_metadata((("x-served-by", args.name),))
        if args.delay_ms:
            time.sleep(args.delay_ms / 1000.0)
        context.set_trailing_metadata((("x-trailer-check", args.name + "-trailer"),))
        if args.fail_every and n % args.fail_every == 0:
            context.abort(getattr(grpc.StatusCode, args.fail_status), "injected failure from " + args.name)
        return request

    def stream(request_iterator, context):
        context.send_initial_metadata((("x-served-by", args.name),))
        for message in request_iterator:
            yield message

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Echo": grpc.unary_unary_rpc_method_handler(echo, identity, identity),
            "Stream": grpc.stream_stream_rpc_method_handler(stream, identity, identity),
        },
    )
    options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
    if args.max_age_ms:
        # The server sends GOAWAY once a connection is this old (and closes it after the grace).
        options += [("grpc.max_connection_age_ms", args.max_age_ms), ("grpc.max_connection_age_grace_ms", 5000)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=options)
    server.add_generic_rpc_handlers((handler,))
    if args.tls_cert:
        with open(args.tls_key, "rb") as k, open(args.tls_cert, "rb") as c:
            credentials = grpc.ssl_server_credentials(((k.read(), c.read()),))
        port = server.add_secure_port("127.0.0.1:0", credentials)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("port %d" % port, flush=True)
    # Stop by ourselves if the test that started us is gone (stdin closes).
    sys.stdin.read()
    server.stop(0)


def channel(args):
    options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
    if args.authority:
        options.append(("grpc.ssl_target_name_override", args.authority))
    if args.ca:
        with open(args.ca, "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        return grpc.secure_channel(args.target, credentials, options=options)
    return grpc.insecure_channel(args.target, options=options)


def calls(args):
    ch = channel(args)
    path = args.method if args.method.startswith("/") else "/%s/%s" % (SERVICE, args.method)
    echo = ch.unary_unary(path, request_serializer=identity, response_deserializer=identity)
    codes, versions, details = {}, {}, []
    trailers_ok = echo_ok = 0
    payload = bytes(range(256)) * (args.size // 256 + 1)
    payload = payload[: args.size]
    for i in range(args.calls):
        try:
            response, call = echo.with_call(payload, timeout=args.timeout)
            code = call.code()
            if response == payload:
                echo_ok += 1
        except grpc.RpcError as error:
            call = error
            code = error.code()
            if len(details) < 5:
                details.append(error.details())
        codes[code.name] = codes.get(code.name, 0) + 1
        initial = dict(call.initial_metadata() or ())
        version = initial.get("x-weir-version", "-")
        versions[version] = versions.get(version, 0) + 1
        trailing = dict(call.trailing_metadata() or ())
        served = initial.get("x-served-by")
        if served and trailing.get("x-trailer-check") == served + "-trailer":
            trailers_ok += 1
    print(json.dumps({"codes": codes, "versions": versions, "trailers_ok": trailers_ok, "echo_ok": echo_ok,
                      "details": details}))


def stream(args):
    ch = channel(args)
    call = ch.stream_stream("/%s/Stream" % SERVICE, request_serializer=identity, response_deserializer=identity)
    sent = hashlib.sha256()
    messages = []
    for i in range(args.messages):
        message = bytes([(i * 7 + j) % 251 for j in range(256)]) * (args.size // 256)
        sent.update(message)
        messages.append(message)
    received = hashlib.sha256()
    count = 0
    total = 0
    def paced():
        # With --pause-ms the call stays open that long per message (a long stream in flight).
        for message in messages:
            if args.pause_ms:
                time.sleep(args.pause_ms / 1000.0)
            yield message

    try:
        for reply in call(paced(), timeout=args.timeout):
            received.update(reply)
            count += 1
            total += len(reply)
        code = "OK"
    except grpc.RpcError as error:
        code = error.code().name
    print(json.dumps({"code": code, "sent": len(messages), "received": count, "bytes": total,
                      "bytes_ok": sent.hexdigest() == received.hexdigest()}))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("server")
    s.add_argument("--name", required=True)
    s.add_argument("--fail-every", type=int, default=0)
    s.add_argument("--fail-status", default="UNAVAILABLE")
    s.add_argument("--delay-ms", type=int, default=0)
    s.add_argument("--max-age-ms", type=int, default=0)
    s.add_argument("--tls-cert")
    s.add_argument("--tls-key")
    for name in ("calls", "stream"):
        c = sub.add_parser(name)
        c.add_argument("--target", required=True)
        c.add_argument("--ca")
        c.add_argument("--authority")
        c.add_argument("--timeout", type=float, default=10)
        c.add_argument("--size", type=int, default=64)
        if name == "calls":
            c.add_argument("--calls", type=int, default=10)
            c.add_argument("--method", default="Echo")
        else:
            c.add_argument("--messages", type=int, default=10)
            c.add_argument("--pause-ms", type=int, default=0)
    args = parser.parse_args()
    {"server": serve, "calls": calls, "stream": stream}[args.command](args)


if __name__ == "__main__":
    main()
