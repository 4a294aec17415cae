"""Baseline for ``tools.bench.fullview``: a raw sender of pre-encoded frames.

The concept: the limit for the client library.  A process that has every
frame of a route4 LIST encoded in advance (the same synthetic full view
reactord preloads) and answers a LIST with large ``sendall`` calls, so that a
dump against it measures the client alone.  Never imported by the product.

Protocol subset: HELLO is answered; a LIST (any type ending in op 4) is
answered with every frame and a status-0 terminator; anything else ENOTSUP.
Connections are served one at a time, in order.  The frames are encoded for
request id 2 (a fresh ``Client``'s first request after HELLO); another id is
patched into every header with four strided copies before sending.

``python -m tools.bench.baseline_preencoded --socket PATH --routes N``; SIGTERM ends it.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from typing import Sequence

from api import wire
from tools.fullview import generate_routes4

SEND_CHUNK = 1 << 20
ENCODED_ID = 2


def encode(routes: int) -> bytearray:
    """Every item frame of a LIST of ``routes`` routes, for request id 2."""
    header = wire.HEADER.pack(ENCODED_ID, 0, wire.ROUTE4.size)
    return bytearray(header + header.join(generate_routes4(routes, nh_ids=(1, 2, 3, 4))))


def patch_id(frames: bytearray, req_id: int) -> None:
    """Write ``req_id`` into the for_id field of every frame."""
    frame = wire.HEADER_SIZE + wire.ROUTE4.size
    count = len(frames) // frame
    for j, byte in enumerate(wire.U32.pack(req_id)):
        frames[j::frame] = bytes([byte]) * count


def recv_exact(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve_connection(conn: socket.socket, frames: bytearray, current: list[int]) -> None:
    while (header := recv_exact(conn, wire.HEADER_SIZE)) is not None:
        req_id, req_type, length = wire.HEADER.unpack(header)
        if length and recv_exact(conn, length) is None:
            return
        if req_type == wire.HELLO:
            conn.sendall(wire.HEADER.pack(req_id, 0, 4) + wire.HELLO_REQ.pack(1))
        elif req_type & 0xFFFF == wire.OP_LIST:
            if current[0] != req_id:
                patch_id(frames, req_id)
                current[0] = req_id
            with memoryview(frames) as view:
                for start in range(0, len(view), SEND_CHUNK):
                    conn.sendall(view[start:start + SEND_CHUNK])
            conn.sendall(wire.HEADER.pack(req_id, 0, 0))
        else:
            conn.sendall(wire.HEADER.pack(req_id, wire.ENOTSUP, 0))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", required=True)
    parser.add_argument("--routes", type=int, required=True)
    args = parser.parse_args(argv)
    frames = encode(args.routes)
    current = [ENCODED_ID]
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(args.socket)
        listener.listen(8)
        while True:
            conn, _ = listener.accept()
            with conn:
                try:
                    serve_connection(conn, frames, current)
                except OSError:
                    pass   # the client went away mid-answer
    finally:
        listener.close()
        os.unlink(args.socket)


if __name__ == "__main__":
    sys.exit(main())
