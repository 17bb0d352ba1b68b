#!/usr/bin/env python3
"""HTTP/2 rapid reset (CVE-2023-44487) against an h2c listener: one connection, N pairs of
HEADERS + RST_STREAM(CANCEL), sent as fast as the socket takes them. Prints one line:
`sent=N goaway=CODE|none closed=yes|no`. Used by weir's tests; bounded in count and time."""
import select
import socket
import sys
import time

import h2.config
import h2.connection
import h2.exceptions


def main() -> None:
    port, pairs = int(sys.argv[1]), int(sys.argv[2])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    sent, closed = 0, False
    headers = [(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", "/reset")]
    received = bytearray()

    def goaway_code() -> str:
        """The error code of the first GOAWAY among the frames the server sent, read from the raw
        bytes: h2's stream bookkeeping may refuse a frame for a stream this client reset (and drop
        the rest of that read with it), so it is not the judge of what arrived."""
        at = 0
        while at + 9 <= len(received):
            length = int.from_bytes(received[at:at + 3], "big")
            if received[at + 3] == 0x7 and at + 9 + 8 <= len(received):
                return str(int.from_bytes(received[at + 13:at + 17], "big"))
            at += 9 + length
        return "none"

    def read_ready() -> None:
        """Reads what the server sent so far: a GOAWAY must be read before the connection is
        reset, or the kernel drops it with the unread data."""
        while select.select([sock], [], [], 0)[0]:
            data = sock.recv(65536)
            if not data:
                return
            received.extend(data)

    try:
        for _ in range(pairs):
            stream = conn.get_next_available_stream_id()
            conn.send_headers(stream, headers, end_stream=True)
            conn.reset_stream(stream)
            sock.sendall(conn.data_to_send())
            sent += 1
            read_ready()
    except (BrokenPipeError, ConnectionResetError, h2.exceptions.ProtocolError):
        pass
    except OSError:
        closed = True
    deadline = time.time() + 3
    sock.settimeout(0.5)
    while not closed and time.time() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, OSError):
            closed = True
            break
        if not data:
            closed = True
            break
        received.extend(data)
    goaway = goaway_code()
    print(f"sent={sent} goaway={goaway} closed={'yes' if closed else 'no'}")


if __name__ == "__main__":
    main()
