"""The client side of ``tools.bench.fullview``: one function per workload.

The concept: each workload talks to a daemon that is already running (its
socket path, and its pid for ``/proc`` readings) through the client library
``api.client`` exactly as a user's script would, and returns plain figures.
Nothing here starts or stops daemons or prints.

- ``dump_rate``: one LIST of the whole route4 table, records decoded into
  tuples (``record=wire.ROUTE4``) or kept raw, read with ``Stream.batches()``;
- ``concurrent_dumps``: N dumping client processes at once plus one process
  sending ROUTE4_GETs (one outstanding at a time, 0.5 ms apart) until the
  dumps end; aggregate items/s and GET latencies;
- ``stall``: a client reads one batch of a LIST, then stops reading: the
  daemon's RSS growth and CPU share over the stall;
- ``cancel_latency``: STREAM_CANCEL on a paused stream until its ECANCELED
  terminator (and the cancel's reply) are read;
- ``ctl_head``: wall time of ``reactorctl route4 list | head``;
- ``bulk_load``: max-size ROUTE4_ADD payloads, 4 in flight: seconds, RSS delta;
- ``ctl_fullview_load``: wall time of ``reactorctl fullview load --batch B``;
- ``gets_during``: any of these with the GET process beside it.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from typing import Any, TypeVar

from api import wire
from api.client import ApiCallError, Client
from tools.harness import ROOT, cpu_seconds, rss_bytes

LIST_ALL = wire.LIST_REQ.pack(0, wire.SCOPE_ALL, 0)
GET_GAP_S = 0.0005
WINDOW = 4
T = TypeVar("T")


def dump(path: str, decoded: bool) -> tuple[int, float]:
    """(records, seconds) of one full route4 LIST on a fresh connection."""
    with Client(path, name="bench-dump") as client:
        count = 0
        started = time.perf_counter()
        stream = client.stream(wire.ROUTE4_LIST, LIST_ALL,
                               record=wire.ROUTE4 if decoded else None)
        with stream:
            for batch in stream.batches():
                count += len(batch)
        elapsed = time.perf_counter() - started
    if stream.status != wire.OK:
        raise RuntimeError(f"LIST ended with status {stream.status}")
    return count, elapsed


def dump_rate(path: str, expected: int, decoded: bool) -> float:
    """Items per second of one full dump (checks the count)."""
    count, elapsed = dump(path, decoded)
    if count != expected:
        raise RuntimeError(f"LIST gave {count} records, expected {expected}")
    return count / elapsed


@dataclass
class Concurrent:
    items_per_s: float
    get_stamps: list[tuple[float, float]]
    """(sent, answered) of each GET, ``time.monotonic()`` (CLOCK_MONOTONIC,
    comparable with a daemon's stamps on the same machine)."""

    @property
    def get_latencies(self) -> list[float]:
        return [answered - sent for sent, answered in self.get_stamps]

    def percentile(self, q: float) -> float:
        return percentile(self.get_latencies, q)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _dumper(path: str, nice: int, ready: Any, start: Event, results: Any) -> None:
    if nice:
        os.nice(nice)
    with Client(path, name="bench-dump") as client:
        ready.put(1)
        start.wait()
        started = time.perf_counter()
        count = 0
        for batch in client.stream(wire.ROUTE4_LIST, LIST_ALL, record=wire.ROUTE4).batches():
            count += len(batch)
        results.put((count, started, time.perf_counter()))


def _getter(path: str, ready: Any, start: Event, stop: Event, results: Any) -> None:
    rng = random.Random(7)
    addrs = [wire.ROUTE4_GET_REQ.pack(0, rng.randrange(1 << 24, 224 << 24).to_bytes(4, "big"))
             for _ in range(20_000)]
    stamps: list[tuple[float, float]] = []
    with Client(path, name="bench-get") as client:
        ready.put(1)
        start.wait()
        for payload in addrs:
            if stop.is_set() and stamps:   # at least one GET, however short the dumps
                break
            sent = time.monotonic()
            try:
                client.call(wire.ROUTE4_GET, payload)
            except ApiCallError as exc:
                if exc.status != wire.ENOENT:
                    raise
            stamps.append((sent, time.monotonic()))
            time.sleep(GET_GAP_S)
    results.put(stamps)


def concurrent_dumps(path: str, expected: int, clients: int = 4,
                     dump_nice: int = 0) -> Concurrent:
    """``clients`` dump processes at once (at ``dump_nice``), and a GET
    process meanwhile."""
    ctx = multiprocessing.get_context("fork")
    ready, results, gets = ctx.Queue(), ctx.Queue(), ctx.Queue()
    start, stop = ctx.Event(), ctx.Event()
    procs = [ctx.Process(target=_dumper, args=(path, dump_nice, ready, start, results))
             for _ in range(clients)]
    procs.append(ctx.Process(target=_getter, args=(path, ready, start, stop, gets)))
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=60)
    start.set()
    done = [results.get(timeout=300) for _ in range(clients)]
    stop.set()
    stamps: list[tuple[float, float]] = gets.get(timeout=60)
    for proc in procs:
        proc.join(30)
    if any(count != expected for count, _, _ in done):
        raise RuntimeError(f"concurrent dumps gave {[c for c, _, _ in done]}")
    wall = max(end for _, _, end in done) - min(begin for _, begin, _ in done)
    return Concurrent(clients * expected / wall, stamps)


def ctl_fullview_load(path: str, routes: int, batch: int) -> float:
    """Wall seconds of ``reactorctl fullview load --routes4 N --batch B``."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tools.reactorctl", "-s", path, "fullview", "load",
                    "--routes4", str(routes), "--batch", str(batch)],
                   cwd=ROOT, capture_output=True, check=True)
    return time.perf_counter() - started


def gets_during(path: str, run: Callable[[], T]) -> tuple[T, list[tuple[float, float]]]:
    """``run()``'s result, and the (sent, answered) stamps of the ROUTE4_GETs a
    separate process sent meanwhile (as in ``concurrent_dumps``)."""
    ctx = multiprocessing.get_context("fork")
    ready, gets = ctx.Queue(), ctx.Queue()
    start, stop = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_getter, args=(path, ready, start, stop, gets))
    proc.start()
    ready.get(timeout=60)
    start.set()
    try:
        result = run()
    finally:
        stop.set()
    stamps: list[tuple[float, float]] = gets.get(timeout=60)
    proc.join(30)
    return result, stamps


def stall(path: str, pid: int, seconds: float) -> tuple[int, float]:
    """(RSS growth in bytes, CPU share) of the daemon while a reader stalls."""
    with Client(path, name="bench-stall") as client:
        stream = client.stream(wire.ROUTE4_LIST, LIST_ALL, record=wire.ROUTE4)
        next(stream.batches())
        rss0, cpu0, started = rss_bytes(pid), cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        rss1, cpu1, ended = rss_bytes(pid), cpu_seconds(pid), time.monotonic()
        stream.close()
    return rss1 - rss0, (cpu1 - cpu0) / (ended - started)


def cancel_latency(path: str, settle_s: float = 0.3) -> float:
    """Seconds from STREAM_CANCEL on a paused stream to its terminator and reply."""
    with Client(path, name="bench-cancel") as client:
        stream = client.stream(wire.ROUTE4_LIST, LIST_ALL, record=wire.ROUTE4)
        next(stream.batches())
        time.sleep(settle_s)    # the daemon fills the socket and pauses
        started = time.perf_counter()
        stream.close()
        elapsed = time.perf_counter() - started
    if stream.status != wire.ECANCELED:
        raise RuntimeError(f"cancelled stream ended with status {stream.status}")
    return elapsed


def ctl_head(path: str) -> float:
    """Wall seconds of ``reactorctl route4 list | head`` (10 lines checked)."""
    command = f"'{sys.executable}' -m tools.reactorctl -s '{path}' route4 list | head"
    started = time.perf_counter()
    done = subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, check=True)
    elapsed = time.perf_counter() - started
    if len(done.stdout.splitlines()) != 10:
        raise RuntimeError(f"reactorctl | head printed {done.stdout!r}")
    return elapsed


def bulk_load(path: str, pid: int, nexthops: bytes,
              payloads: list[bytes]) -> tuple[float, int]:
    """(seconds, RSS delta) of loading ``payloads`` as ROUTE4_ADDs, 4 in flight."""
    with Client(path, name="bench-load") as client:
        client.call(wire.NH_ADD, wire.BULK_FLAGS.pack(0) + nexthops)
        rss0 = rss_bytes(pid)
        started = time.perf_counter()
        inflight: list[int] = []
        for payload in payloads:
            if len(inflight) == WINDOW:
                client.reply(inflight.pop(0))
            inflight.append(client.send(wire.ROUTE4_ADD, payload))
        for req_id in inflight:
            client.reply(req_id)
        elapsed = time.perf_counter() - started
        return elapsed, rss_bytes(pid) - rss0
