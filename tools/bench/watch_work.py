"""The client side of ``tools.bench.watch``: one function per WATCH workload.

The concept: each workload talks to a reactord that is already running (its
socket path, and its pid for ``/proc`` readings) through ``api.client`` as a
user's script would, and returns plain figures.  Watchers and churners are
separate processes (fork), so their Python work is not the measuring process's.
Nothing here starts or stops daemons or prints.

- ``fan_out``: K watcher processes, caught up (SYNC read), count every route4
  event while the parent bulk-loads: load seconds, and seconds until every
  watcher has counted every route;
- ``latency``: single-route ADDs at a paced rate with K watchers stamping each
  event (``time.monotonic_ns``: CLOCK_MONOTONIC is system-wide on Linux); the
  (watcher stamp - ADD reply stamp) of every event;
- ``stall``: a WATCH that is never read while churn runs: daemon RSS growth
  over the churn, CPU share afterwards, and how the stream ended;
- ``snapshot_sync``: a SNAPSHOT of route4 to its SYNC while a churner process
  applies changes at a paced rate, the copy (``api.events.TableCopy``) then
  checked against a final LIST.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event as MpEvent
from typing import Any

from api import wire
from api.client import Client
from api.events import Synced, TableCopy, decode_event, table_key
from tools.bench.fullview_work import LIST_ALL
from tools.harness import Conn, cpu_seconds, rss_bytes, wait_for

ROUTE4_MASK = wire.table_bit(wire.TABLE_ROUTE4)
WATCH_LIVE = wire.WATCH_REQ.pack(0, ROUTE4_MASK, 0)
BASE = 100 << 24
"""Latency and churn routes are /32s from 100.0.0.0 on: the index is the address offset."""
DEADLINE_S = 300.0
CTX = multiprocessing.get_context("fork")


def route(index: int, nh_id: int = 1, vrf_id: int = 0) -> bytes:
    """A /32 route record whose prefix encodes ``index``."""
    return wire.ROUTE4.pack(vrf_id, 32, 186, (BASE + index).to_bytes(4, "big"), nh_id)


def index_of(record: bytes) -> int:
    return int.from_bytes(record[4:8], "big") - BASE


def bulk(records: list[bytes], flags: int = 0) -> bytes:
    return wire.BULK_FLAGS.pack(flags) + b"".join(records)


def add_nexthops(client: Client, nh_ids: tuple[int, ...] = (1, 2)) -> None:
    from tools.fullview import generate_nexthops
    client.call(wire.NH_ADD, bulk(list(generate_nexthops(nh_ids))))


# -- fan-out ----------------------------------------------------------------------


def _counter(path: str, expected: int, ready: Any, results: Any) -> None:
    """A caught-up watcher: WATCH route4 live, count every item until ``expected``
    events (after the SYNC), then report the monotonic time."""
    with Client(path, name="bench-watch") as client:
        stream = client.stream(wire.WATCH, WATCH_LIVE)
        batches = stream.batches()
        count = len(next(batches)) - 1          # the SYNC
        ready.put(1)
        while count < expected:
            count += len(next(batches))
        results.put((count, time.monotonic()))
        stream.close()


def start_watchers(target: Any, args: tuple[Any, ...], watchers: int) -> tuple[list[Any], Any]:
    """``watchers`` processes running ``target(*args, ready, results)``, each caught
    up (it put on ``ready``); the processes and the results queue."""
    ready, results = CTX.Queue(), CTX.Queue()
    procs = [CTX.Process(target=target, args=(*args, ready, results)) for _ in range(watchers)]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=60)
    return procs, results


def fan_out(path: str, nexthops: bytes, payloads: list[bytes], routes: int,
            watchers: int) -> tuple[float, float]:
    """(load seconds, seconds from the load's start until every watcher counted
    every route) of ``payloads`` as ROUTE4_ADDs, 4 in flight."""
    procs, results = start_watchers(_counter, (path, routes), watchers)
    try:
        with Client(path, name="bench-load") as client:
            client.call(wire.NH_ADD, wire.BULK_FLAGS.pack(0) + nexthops)
            started = time.monotonic()
            inflight: list[int] = []
            for payload in payloads:
                if len(inflight) == 4:
                    client.reply(inflight.pop(0))
                inflight.append(client.send(wire.ROUTE4_ADD, payload))
            for req_id in inflight:
                client.reply(req_id)
            loaded = time.monotonic() - started
        done = [results.get(timeout=DEADLINE_S) for _ in procs]
    finally:
        for proc in procs:
            proc.join(30)
    if any(count != routes for count, _ in done):
        raise RuntimeError(f"watchers counted {[count for count, _ in done]}, expected {routes}")
    caught_up = max((end for _, end in done), default=started + loaded) - started
    return loaded, caught_up


# -- latency ------------------------------------------------------------------------


def _stamper(path: str, expected: int, ready: Any, results: Any) -> None:
    """A watcher stamping each route4 event on receipt: [(index, ns)]."""
    stamps: list[tuple[int, int]] = []
    with Client(path, name="bench-stamp") as client, client.watch(tables=ROUTE4_MASK) as events:
        it = iter(events)
        next(it)                                 # the SYNC: caught up
        ready.put(1)
        for event in it:
            stamps.append((index_of(event.record), time.monotonic_ns()))
            if len(stamps) == expected:
                break
    results.put(stamps)


def latency(path: str, adds: int, rate: float,
            watchers: int) -> tuple[list[float], list[float]]:
    """Milliseconds from each ADD's reply, and from its sending, to each
    watcher's receipt of its event."""
    with Client(path, name="bench-paced") as client:
        add_nexthops(client)
        procs, results = start_watchers(_stamper, (path, adds), watchers)
        sent, replied = [0] * adds, [0] * adds
        interval_ns = int(1e9 / rate)
        start = time.monotonic_ns()
        for index in range(adds):
            gap = start + index * interval_ns - time.monotonic_ns()
            if gap > 0:
                time.sleep(gap / 1e9)            # the sender's pacing interval
            sent[index] = time.monotonic_ns()
            client.call(wire.ROUTE4_ADD, bulk([route(index)]))
            replied[index] = time.monotonic_ns()
    stamps = [results.get(timeout=DEADLINE_S) for _ in procs]
    for proc in procs:
        proc.join(30)
    pairs = [(index, ns) for one in stamps for index, ns in one]
    return ([(ns - replied[index]) / 1e6 for index, ns in pairs],
            [(ns - sent[index]) / 1e6 for index, ns in pairs])


# -- stalled watcher ------------------------------------------------------------------


@dataclass
class Stall:
    changes: int          # changes the churn made
    rss_growth: int       # daemon RSS after the churn - before it
    cpu_share: float      # daemon CPU share while idle afterwards
    ended: str            # how the stalled WATCH ended ("" without a watcher)


def churn_for(client: Client, seconds: float, batch: int) -> int:
    """ADD then DEL ``batch`` routes, over and over, for ``seconds`` (at least
    once); changes made."""
    records = [route(i, nh_id=2) for i in range(batch)]
    add, delete = bulk(records), bulk(records)
    changes, deadline = 0, time.monotonic() + seconds
    while not changes or time.monotonic() < deadline:
        client.call(wire.ROUTE4_ADD, add)
        client.call(wire.ROUTE4_DEL, delete)
        changes += 2 * batch
    return changes


def stall(path: str, pid: int, churn_s: float, idle_s: float, batch: int,
          stalled: bool) -> Stall:
    """Churn with (or, for the baseline, without) a WATCH that is never read."""
    with Conn(path) as watcher, Client(path, name="bench-churn") as client:
        add_nexthops(client)
        if stalled:
            watcher.send(7, wire.WATCH, WATCH_LIVE)
            wait_for(lambda: client.stats()["watchers"] == 1, 10, "the watcher")
        churn_for(client, 0.0, batch)            # warm-up: one ADD and DEL (code paths)
        rss0 = rss_bytes(pid)
        changes = churn_for(client, churn_s, batch)
        rss1, cpu0, idle0 = rss_bytes(pid), cpu_seconds(pid), time.monotonic()
        time.sleep(idle_s)                       # the interval measured, not a wait
        cpu_share = (cpu_seconds(pid) - cpu0) / (time.monotonic() - idle0)
        ended = ""
        if stalled:
            watcher.sock.settimeout(5.0)
            try:
                ended = wire.status_name(watcher.drain_stream(7)[1])
            except TimeoutError:
                ended = "still open"
    return Stall(changes, rss1 - rss0, cpu_share, ended)


# -- SNAPSHOT to SYNC under churn -------------------------------------------------------


def _paced_churner(path: str, rate: float, start: MpEvent, stop: MpEvent,
                   results: Any) -> None:
    """ADD (replace) 100 routes, then DEL them, every 100/``rate`` seconds, until
    ``stop``: adding, replacing and removing routes across the whole key range."""
    from tools.fullview import generate_routes4
    pool = list(generate_routes4(10_000, seed=11, nh_ids=(2,)))
    batches = [pool[i:i + 100] for i in range(0, len(pool), 100)]
    with Client(path, name="bench-churn") as client:    # nexthops 1-4: the preload's
        results.put(0)
        start.wait()
        begin, ticks = time.monotonic(), 0
        while not stop.is_set():
            records = batches[(ticks // 2) % len(batches)]
            kind = wire.ROUTE4_ADD if ticks % 2 == 0 else wire.ROUTE4_DEL
            client.call(kind, bulk(records, wire.DEL_MISSING_OK if ticks % 2 else wire.ADD_REPLACE))
            ticks += 1
            gap = begin + ticks * 100 / rate - time.monotonic()
            if gap > 0:
                time.sleep(gap)                  # the churner's pacing interval
        results.put((ticks * 100, time.monotonic() - begin))


@dataclass
class Snapshot:
    seconds: float        # WATCH sent -> SYNC applied
    events: int           # events applied until then
    churn_rate: float     # changes/s the churner made
    equal: bool           # the copy == a final LIST
    records: int


class Churner:
    """A ``_paced_churner`` process: ``start()`` it, ``stop()`` it for its rate."""

    def __init__(self, path: str, rate: float) -> None:
        self._start, self._stop, self._results = CTX.Event(), CTX.Event(), CTX.Queue()
        self._proc = CTX.Process(target=_paced_churner,
                                 args=(path, rate, self._start, self._stop, self._results))
        self._proc.start()
        self._results.get(timeout=60)             # connected

    def start(self) -> None:
        self._start.set()

    def stop(self) -> float:
        """Changes per second it made."""
        self._stop.set()
        changes, seconds = self._results.get(timeout=60)
        self._proc.join(30)
        return float(changes / seconds)


def snapshot_sync(path: str, rate: float) -> Snapshot:
    """SNAPSHOT of route4, each event decoded and applied to a ``TableCopy``."""
    churner = Churner(path, rate)
    copy = TableCopy(ROUTE4_MASK)
    copy.begin_snapshot()
    with Client(path, name="bench-mirror") as client:
        churner.start()
        begun = time.monotonic()
        seconds, events, churn_rate = 0.0, 0, 0.0
        final: int | None = None
        with client.watch(tables=ROUTE4_MASK, snapshot=True) as stream:
            for event in stream:
                events += 1
                for update in copy.apply(event):
                    if isinstance(update, Synced) and not seconds:
                        seconds = time.monotonic() - begun
                        churn_rate = churner.stop()
                        final = client.stats()["revision"]
                if final is not None and copy.revision >= final:
                    break
        listed = {table_key(wire.TABLE_ROUTE4, record): record
                  for record in client.stream(wire.ROUTE4_LIST, LIST_ALL)}
    mirror = copy.tables[wire.TABLE_ROUTE4]
    return Snapshot(seconds, events, churn_rate, mirror == listed, len(listed))


def raw_snapshot(path: str, rate: float) -> tuple[float, int]:
    """(seconds, items) of a SNAPSHOT of route4 to its SYNC under the same churn,
    items counted, not decoded: the daemon's and the socket's share."""
    churner = Churner(path, rate)
    with Client(path, name="bench-raw") as client:
        churner.start()
        begun = time.monotonic()
        items = 0
        stream = client.stream(wire.WATCH, wire.WATCH_REQ.pack(0, ROUTE4_MASK,
                                                               wire.WATCH_SNAPSHOT))
        for batch in stream.batches():
            items += len(batch)
            if len(batch[-1]) == wire.EVENT_SIZE:    # the SYNC (a run of its own)
                break
        seconds = time.monotonic() - begun
        churner.stop()
        stream.close()
    return seconds, items
