"""A raw frame client for wire-level tests: exact bytes out, frames in.

Deliberately independent of ``api.client``, so that the server is tested
against the protocol text and not against our own client's reading of it.
Every read waits with a deadline (a socket timeout), never a sleep.
"""

from __future__ import annotations

import socket
import time
from typing import Callable, NamedTuple

from api import wire

DEFAULT_TIMEOUT = 10.0


class Frame(NamedTuple):
    for_id: int
    status: int
    payload: bytes


class RawClient:
    def __init__(self, path: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self._buf = bytearray()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, req_id: int, req_type: int, payload: bytes = b"") -> None:
        self.sock.sendall(request(req_id, req_type, payload))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, n: int) -> None:
        while len(self._buf) < n:
            chunk = self.sock.recv(1 << 18)
            if not chunk:
                raise EOFError("server closed the connection")
            self._buf += chunk

    def frame(self) -> Frame:
        self._fill(wire.HEADER_SIZE)
        for_id, status, size = wire.HEADER.unpack_from(self._buf)
        assert size <= wire.MAX_PAYLOAD, f"response payload_len {size} > MAX_PAYLOAD"
        self._fill(wire.HEADER_SIZE + size)
        payload = bytes(self._buf[wire.HEADER_SIZE:wire.HEADER_SIZE + size])
        del self._buf[:wire.HEADER_SIZE + size]
        return Frame(for_id, status, payload)

    def call(self, req_id: int, req_type: int, payload: bytes = b"") -> Frame:
        self.send(req_id, req_type, payload)
        reply = self.frame()
        assert reply.for_id == req_id, f"reply for {reply.for_id}, expected {req_id}"
        return reply

    def drain_stream(self, req_id: int) -> tuple[list[bytes], int, list[Frame]]:
        """Items and terminator status of stream ``req_id``; other frames aside."""
        items: list[bytes] = []
        others: list[Frame] = []
        while True:
            f = self.frame()
            if f.for_id != req_id:
                others.append(f)
            elif f.payload:
                assert f.status == 0
                items.append(f.payload)
            else:
                return items, f.status, others


def request(req_id: int, req_type: int, payload: bytes = b"") -> bytes:
    return wire.HEADER.pack(req_id, req_type, len(payload)) + payload


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0,
             what: str = "condition") -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)
