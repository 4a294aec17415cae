"""Throughput of reactor.BufferEvent beside a plain asyncio Protocol.

Both sides of a socketpair live in one process and one loop.  The producer
writes fixed-size messages while the output is at or below the write high
watermark (BufferEvent ``write_full`` / asyncio ``pause_writing``) and starts
again when it drains to the low watermark (``on_write`` / ``resume_writing``);
the consumer reads everything it is given and counts bytes.  Both runs use
the same watermarks, messages and totals.

Workloads: A, many 48-byte messages; B, 64 KiB writes.  Each implementation
runs each workload ``--repeat`` times, alternating; the best time counts.
Allocator state: asyncio reads with 256 KiB recv buffers, which glibc serves
with mmap/munmap (and heap trimming) until its dynamic thresholds happen to be
raised by some earlier large free; its workload-B speed then varies up to 3x
with the history of the process.  So the bench pins the thresholds first
(``mallopt``, glibc only; ``--no-pin-malloc`` to skip): the steady state of a
long-running process, and asyncio's best case.  A short untimed warm-up of
both implementations follows.

Usage: python -m tools.bench.bufferevent [--repeat N] [--a-messages N] [--b-mib N]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reactor import EV_READ, EV_WRITE, BufferEvent, Reactor

WRITE_HIGH = 256 * 1024
WRITE_LOW = 64 * 1024


@dataclass(frozen=True)
class Workload:
    name: str
    message_size: int
    messages: int

    @property
    def total_bytes(self) -> int:
        return self.message_size * self.messages


def run_reactor(work: Workload) -> float:
    """Seconds to move the workload through two BufferEvents."""
    base = Reactor()
    a, b = socket.socketpair()
    producer, consumer = BufferEvent(base, a), BufferEvent(base, b)
    message = b"m" * work.message_size
    remaining = work.messages
    received = 0
    total = work.total_bytes

    def pump(bev: BufferEvent) -> None:
        nonlocal remaining
        write = bev.write
        left = remaining
        while left and not bev.write_full:
            write(message)
            left -= 1
        remaining = left

    def on_read(bev: BufferEvent) -> None:
        nonlocal received
        received += len(bev.read())
        if received >= total:
            producer.close()
            consumer.close()

    producer.set_watermark(EV_WRITE, WRITE_LOW, WRITE_HIGH)
    producer.set_callbacks(None, pump, None)
    producer.enable(EV_WRITE)
    consumer.set_callbacks(on_read, None, None)
    consumer.enable(EV_READ)
    base.call_soon(pump, producer)
    started = time.perf_counter()
    base.run()
    elapsed = time.perf_counter() - started
    base.close()
    assert received == total, (received, total)
    return elapsed


class _Producer(asyncio.Protocol):
    def __init__(self, message: bytes, messages: int) -> None:
        self.message = message
        self.remaining = messages
        self.paused = False
        self.transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH, low=WRITE_LOW)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.pump()

    def pump(self) -> None:
        assert self.transport is not None
        write = self.transport.write
        message = self.message
        left = self.remaining
        while left and not self.paused:
            write(message)
            left -= 1
        self.remaining = left


class _Consumer(asyncio.Protocol):
    def __init__(self, total: int, done: asyncio.Future[None]) -> None:
        self.total = total
        self.received = 0
        self.done = done

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        if self.received >= self.total and not self.done.done():
            self.done.set_result(None)


def run_asyncio(work: Workload) -> float:
    """Seconds to move the workload through two asyncio transports."""
    async def main() -> float:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        done: asyncio.Future[None] = loop.create_future()
        ptransport, producer = await loop.create_connection(
            lambda: _Producer(b"m" * work.message_size, work.messages), sock=a)
        ctransport, consumer = await loop.create_connection(
            lambda: _Consumer(work.total_bytes, done), sock=b)
        started = time.perf_counter()
        loop.call_soon(producer.pump)
        await done
        elapsed = time.perf_counter() - started
        ptransport.close()
        ctransport.close()
        assert consumer.received == work.total_bytes
        return elapsed

    return asyncio.run(main())


def pin_malloc_thresholds() -> bool:
    """Fix glibc's mmap and trim thresholds (M_MMAP_THRESHOLD -3, M_TRIM_THRESHOLD -1)."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(-3, 4 << 20)) and bool(mallopt(-1, 64 << 20))


def _timed(fn: Callable[[Workload], float], work: Workload) -> float:
    gc.collect()
    return fn(work)


def format_table(rows: list[tuple[Workload, float, float]]) -> str:
    header = (f"{'workload':<26} {'impl':<8} {'seconds':>8} {'MB/s':>9} {'msgs/s':>11} "
              f"{'reactor/asyncio':>15}")
    lines = [header, "-" * len(header)]
    for work, t_reactor, t_asyncio in rows:
        mb = work.total_bytes / 1e6
        for impl, seconds in (("reactor", t_reactor), ("asyncio", t_asyncio)):
            ratio = f"{t_asyncio / t_reactor:15.2f}" if impl == "reactor" else ""
            lines.append(f"{work.name:<26} {impl:<8} {seconds:8.3f} {mb / seconds:9.1f} "
                         f"{work.messages / seconds:11.0f} {ratio}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_bufferevent",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--a-messages", type=int, default=1_000_000)
    parser.add_argument("--b-mib", type=int, default=1024)
    parser.add_argument("--no-pin-malloc", action="store_true",
                        help="leave glibc's dynamic malloc thresholds alone")
    args = parser.parse_args(argv)
    pinned = not args.no_pin_malloc and pin_malloc_thresholds()
    workloads = [
        Workload(f"A: {args.a_messages} x 48 B", 48, args.a_messages),
        Workload(f"B: {args.b_mib} MiB in 64 KiB", 65536, args.b_mib * 16),
    ]
    for work in workloads:
        small = Workload(work.name, work.message_size, max(1, work.messages // 16))
        run_reactor(small)
        run_asyncio(small)
    rows = []
    for work in workloads:
        t_reactor = t_asyncio = float("inf")
        for _ in range(args.repeat):  # alternate, so drift hits both alike
            t_reactor = min(t_reactor, _timed(run_reactor, work))
            t_asyncio = min(t_asyncio, _timed(run_asyncio, work))
        rows.append((work, t_reactor, t_asyncio))
    print(format_table(rows))
    print(f"\nwrite watermarks: high {WRITE_HIGH}, low {WRITE_LOW}; best of {args.repeat}; "
          f"malloc thresholds {'pinned' if pinned else 'dynamic'}; "
          "ratio > 1 means the reactor is faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
