"""Micro-benchmark: how fast the client decodes a stream, without a socket.

The concept: 1M pre-encoded ROUTE4 frames (12-byte records, then a terminator)
sit in memory; each contender turns them into records, fed 256 KiB at a time
as the client's ``recv_into`` would be.  Contenders: a naive per-frame loop
(``next_event``, plus ``unpack`` for tuples), the codec's bulk lists, and the
real ``Client``/``Stream`` over an in-memory stand-in for the socket.  Every
contender must return the same count; the table gives items per second.

Run: ``python -m tools.bench.client_decode [--count N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import socket
import time
from typing import Callable, cast

from api import wire
from api.client import RECV_SIZE, Client
from api.codec import ResponseDecoder, encode_items, encode_response

STREAM_ID = 2   # id 1 is the client's HELLO


class MemorySocket:
    """Just enough of a socket for ``Client``: recv_into walks over a buffer."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def recv_into(self, buf: memoryview) -> int:
        n = min(len(buf), len(self._data) - self._pos)
        buf[:n] = self._data[self._pos:self._pos + n]
        self._pos += n
        return n

    def sendall(self, data: bytes) -> None:
        pass

    def settimeout(self, timeout: float | None) -> None:
        pass

    def fileno(self) -> int:
        return 1 << 30   # never used as a descriptor: "open"

    def close(self) -> None:
        pass


def make_frames(count: int) -> bytes:
    records = [wire.ROUTE4.pack(i & 0xFFFF, 24, 0, (i << 8 & 0xFFFFFFFF).to_bytes(4, "big"), 7)
               for i in range(count)]
    hello = encode_response(1, 0, wire.HELLO_REQ.pack(1) + b"bench")
    return hello + encode_items(STREAM_ID, b"".join(records), 12) + encode_response(STREAM_ID, 0)


def chunks(data: bytes) -> list[memoryview]:
    view = memoryview(data)
    return [view[i:i + RECV_SIZE] for i in range(0, len(data), RECV_SIZE)]


def naive(data: bytes, tuples: bool) -> int:
    decoder, n = ResponseDecoder(), 0
    unpack = wire.ROUTE4.unpack
    for piece in chunks(data):
        decoder.feed(piece)
        while (frame := decoder.next_event()) is not None:
            if frame.for_id == STREAM_ID and frame.status == 0 and frame.payload:
                record = unpack(frame.payload) if tuples else frame.payload
                n += record is not None
    return n


def codec_bulk(data: bytes, tuples: bool) -> int:
    decoder, n = ResponseDecoder(), 0
    for piece in chunks(data):
        decoder.feed(piece)
        while True:
            batch = (decoder.take_tuples(STREAM_ID, wire.ROUTE4) if tuples
                     else decoder.take_records(STREAM_ID, 12))
            if not batch and decoder.next_event() is None:
                break
            n += len(batch)
    return n


def client_stream(data: bytes, tuples: bool, batches: bool = False) -> int:
    client = Client.from_socket(cast(socket.socket, MemorySocket(data)))
    stream = (client.stream(wire.ROUTE4_LIST, b"", record=wire.ROUTE4) if tuples
              else client.stream(wire.ROUTE4_LIST, b""))
    n = 0
    if batches:
        for batch in stream.batches():
            n += len(batch)
    else:
        for _ in stream:    # a consumer's loop: the per-item cost a user sees
            n += 1
    assert stream.status == 0
    return n


CONTENDERS: list[tuple[str, Callable[[bytes, bool], int]]] = [
    ("naive per-frame loop", naive),
    ("codec bulk, lists", codec_bulk),
    ("Client stream, for loop", client_stream),
    ("Client stream, batches()", lambda d, t: client_stream(d, t, batches=True)),
]


def measure(fn: Callable[[bytes, bool], int], data: bytes, tuples: bool, count: int,
            repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        got = fn(data, tuples)
        best = min(best, time.perf_counter() - start)
        if got != count:
            raise AssertionError(f"{fn.__name__} decoded {got} records, expected {count}")
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = make_frames(args.count)
    print(f"{args.count} frames of 12-byte records, {len(data) / 1e6:.1f} MB, "
          f"best of {args.repeat}, M items/s")
    print(f"{'path':28s} {'raw bytes':>10s} {'tuples':>10s}")
    for name, fn in CONTENDERS:
        raw = measure(fn, data, False, args.count, args.repeat)
        tup = measure(fn, data, True, args.count, args.repeat)
        print(f"{name:28s} {raw / 1e6:10.2f} {tup / 1e6:10.2f}")


if __name__ == "__main__":
    main()
