#!/usr/bin/env python3
"""HTTP/2 requests whose bodies have no content-length, against an h2c listener: one connection,
for each METHOD given, a HEADERS frame (no END_STREAM, no content-length) and two DATA frames
`part1-` and `part2`. Prints one line per stream: `METHOD STATUS`. Used by weir's smuggling
tests (a body must reach the upstream framed, whatever the method); bounded in time."""
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events


def main() -> None:
    port, methods = int(sys.argv[1]), sys.argv[2:]
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, validate_outbound_headers=False))
    conn.initiate_connection()
    streams = {}
    for method in methods:
        stream = conn.get_next_available_stream_id()
        streams[stream] = method
        conn.send_headers(
            stream,
            [(":method", method), (":scheme", "http"), (":authority", "localhost"), (":path", "/h2-body"),
             ("x-test-id", method)])
        conn.send_data(stream, b"part1-")
        conn.send_data(stream, b"part2", end_stream=True)
    sock.sendall(conn.data_to_send())
    statuses = {}
    deadline = time.time() + 5
    sock.settimeout(0.5)
    while time.time() < deadline and len(statuses) < len(streams):
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                statuses[event.stream_id] = dict(event.headers).get(b":status", b"?").decode()
        sock.sendall(conn.data_to_send())
    for stream, method in streams.items():
        print(f"{method} {statuses.get(stream, 'none')}")


if __name__ == "__main__":
    main()
