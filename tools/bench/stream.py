"""Stream engine throughput: 1M synthetic 12-byte records, server -> client library.

Run: ``python -m tools.bench.stream [--records N] [--rounds R]``.

Two workloads in the same run, each read by the same client library code:
- engine: a real server process (the daemon's assembly, ``tools.daemon``:
  reactor + session pump + registry) whose stream producer returns slices of a
  blob of pre-built records, so the figure is the engine's (pump, framing,
  socket, client decode), not a table's walk;
- pre-encoded: a process that writes the same frames, encoded once in
  advance, with large ``sendall`` calls: the limit for this client.

Prints items/s for each and the ratio engine / pre-encoded.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

from api import wire
from api.batch import Batch
from api.client import Client
from api.registry import Context
from tools.daemon import build_daemon, serve
from tools.harness import start_server

BENCH_LIST = wire.msg_type(0x7E57, 4)
RECORD = struct.Struct("<QI")


def make_records(count: int) -> list[bytes]:
    pack = RECORD.pack
    return [pack(i, i & 0xFFFFFFFF) for i in range(count)]


def serve_engine(path: str, count: int) -> None:
    blob = b"".join(make_records(count))
    size = RECORD.size

    def init(payload: bytes, ctx: Context) -> list[int]:
        return [0]

    def next_records(state: list[int], ctx: Context, limit: int) -> Batch:
        start = state[0]
        state[0] = start + limit
        return Batch(blob[start * size:(start + limit) * size], size)

    daemon = build_daemon()
    daemon.registry.register_stream(BENCH_LIST, init, next_records, record_size=size)
    serve(daemon, path)


def serve_preencoded(path: str, count: int) -> None:
    """Accept one connection per round; answer any request with all frames."""
    records = make_records(count)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(8)
        while True:
            conn, _ = listener.accept()
            with conn:
                header = conn.recv(12)
                if len(header) < 12:
                    continue   # the harness's readiness probe
                req_id = wire.HEADER.unpack(header)[0]
                # answer HELLO (the client's connect), then the stream request
                length = wire.HEADER.unpack(header)[2]
                conn.recv(length)
                conn.sendall(wire.HEADER.pack(req_id, 0, 4) + wire.U32.pack(1))
                header = conn.recv(12)
                req_id, _type, length = wire.HEADER.unpack(header)
                if length:
                    conn.recv(length)
                frame = wire.HEADER.pack(req_id, 0, RECORD.size)
                chunk = 8192
                for start in range(0, count, chunk):
                    batch = records[start:start + chunk]
                    conn.sendall(frame + frame.join(batch))
                conn.sendall(wire.HEADER.pack(req_id, 0, 0))


def measure(path: str, count: int) -> float:
    with Client(path, name="bench") as client:
        started = time.perf_counter()
        received = 0
        with client.stream(BENCH_LIST, b"") as stream:
            for batch in stream.batches():
                received += len(batch)
        elapsed = time.perf_counter() - started
    if received != count:
        raise SystemExit(f"received {received} records, expected {count}")
    return count / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", choices=["engine", "preencoded"], help=argparse.SUPPRESS)
    parser.add_argument("--socket", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve == "engine":
        serve_engine(args.socket, args.records)
        return 0
    if args.serve == "preencoded":
        serve_preencoded(args.socket, args.records)
        return 0
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        for mode in ("engine", "preencoded"):
            server = start_server("tools.bench.stream", "--serve", mode, "--records",
                                  str(args.records), directory=Path(tmp), name=mode)
            try:
                results[mode] = max(measure(server.path, args.records)
                                    for _ in range(args.rounds))
            finally:
                server.stop(10)
    print(f"stream of {args.records:,} x {RECORD.size}-byte records, best of {args.rounds}")
    print(f"{'workload':<34}{'items/s':>14}")
    print(f"{'engine (reactor server -> client)':<34}{results['engine']:>14,.0f}")
    print(f"{'pre-encoded sender -> client':<34}{results['preencoded']:>14,.0f}")
    print(f"{'ratio engine / pre-encoded':<34}{results['engine'] / results['preencoded']:>14.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
