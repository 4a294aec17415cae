"""Where a ROUTE4_GET waits while four clients dump the full view.

Run: ``python -m tools.bench.latency [--routes N] [--runs R]`` (about a minute);
``--load-batches 0,2000,700``: instead, GET latency during ``reactorctl fullview
load`` of N routes into an empty reactord, for each ``--batch`` value.

The concept: the "4 concurrent dumps" workload of ``tools.bench.fullview``
against a *traced* reactord, so that each GET round trip splits into the part
before the daemon serves it and the part after, and the daemon's own work per
loop pass is measured beside it.  The daemon is the real server (same tables,
registry, preload and config as ``tools.reactord``, assembled by
``tools.daemon.build_daemon``) with two probes injected through its seams,
nothing patched:

- a selector subclass stamps when each ``select()`` is entered and returns:
  the daemon's *passes* (work between two selects) and its idle waits;
- a registry subclass stamps each ROUTE4_GET in ``check()``, which the session
  calls right before the handler.

All stamps are CLOCK_MONOTONIC (``time.monotonic``), comparable across
processes.  The GET client stamps before sending and after the reply.  For
each GET:

- *wake*: when the daemon was asleep in ``select()`` at the send, the time
  until that ``select()`` returned: the daemon waiting for a CPU (the socket
  was readable from the send on);
- *in*: send -> handler (wake, or the rest of a running pass, plus the work
  before this request in its pass);
- *out*: handler -> reply read by the client: the client waiting for a CPU.

Scenarios, each ``--runs`` times (figures pooled over the runs):
- equal priority: everything at nice 0, as in ``tools.bench.fullview``;
- daemon at nice -10 (skipped when not permitted);
- dump clients at nice 19: they yield the CPUs to the daemon and to the GET
  client; what is left is the daemon's own latency.
"""

from __future__ import annotations

import argparse
import bisect
import os
import selectors
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass
from pathlib import Path

from api import wire
from api.registry import Entry, Registry
from tables.handlers import Tables
from tools.bench import fullview_work as work
from tools.daemon import build_daemon, preload_fullview, serve
from tools.harness import start_reactord, start_server


class StampingSelector(selectors.DefaultSelector):
    """The default selector, stamping the entry and return of each select()."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = array("d")
        self.returned = array("d")

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self.entered.append(time.monotonic())
        try:
            return super().select(timeout)
        finally:
            self.returned.append(time.monotonic())


class StampingRegistry(Registry):
    """A registry stamping each ROUTE4_GET as it is checked (just before its handler)."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = array("d")

    def check(self, req_type: int, payload: bytes) -> Entry:
        if req_type == wire.ROUTE4_GET:
            self.gets.append(time.monotonic())
        return super().check(req_type, payload)


def serve_traced(path: str, routes: int, stamps_file: str) -> None:
    """The traced daemon: serve until SIGTERM, then write the stamps."""
    selector, registry, tables = StampingSelector(), StampingRegistry(), Tables.create()
    daemon = build_daemon(tables=tables, selector=selector, registry=registry)
    preload_fullview(tables, routes)
    try:
        serve(daemon, path)
    finally:
        with open(stamps_file, "wb") as out:
            for stamps in (selector.entered, selector.returned, registry.gets):
                out.write(len(stamps).to_bytes(8, "little"))
                stamps.tofile(out)


def read_stamps(stamps_file: str) -> tuple[array[float], array[float], array[float]]:
    with open(stamps_file, "rb") as source:
        arrays = []
        for _ in range(3):
            stamps = array("d")
            stamps.fromfile(source, int.from_bytes(source.read(8), "little"))
            arrays.append(stamps)
    return arrays[0], arrays[1], arrays[2]


@dataclass
class Split:
    """One scenario's stamps, pooled over its runs."""
    items_per_s: list[float]
    total: list[float]
    wake: list[float]
    inbound: list[float]
    outbound: list[float]
    passes: list[float]
    busy_share: float


def split(runs: list[work.Concurrent], entered: array[float], returned: array[float],
          gets: array[float]) -> Split:
    """Match each GET's client stamps with the daemon's, in order (one GET client)."""
    stamps = [pair for run in runs for pair in run.get_stamps]
    if len(stamps) != len(gets):
        raise RuntimeError(f"{len(stamps)} GETs sent, daemon saw {len(gets)}")
    wake = []
    for sent, _ in stamps:
        i = bisect.bisect_right(entered, sent) - 1   # the last select entered before the send
        if i >= 0 and returned[i] > sent:             # ... still asleep in it at the send
            wake.append(returned[i] - sent)
    passes: list[float] = []
    for run in runs:   # the daemon's passes while this run's GETs went on
        if not run.get_stamps:
            continue
        first, last = run.get_stamps[0][0], run.get_stamps[-1][1]
        begin, end = bisect.bisect_left(returned, first), bisect.bisect_left(returned, last)
        passes += (entered[i + 1] - returned[i] for i in range(begin, min(end, len(entered) - 1)))
    span = sum(run.get_stamps[-1][1] - run.get_stamps[0][0] for run in runs if run.get_stamps)
    return Split([run.items_per_s for run in runs],
                 [answered - sent for sent, answered in stamps], wake,
                 [handled - sent for (sent, _), handled in zip(stamps, gets)],
                 [answered - handled for (_, answered), handled in zip(stamps, gets)],
                 passes, sum(passes) / span if span else 0.0)


def scenario(tmp: Path, routes: int, runs: int, daemon_nice: int, dump_nice: int) -> Split | None:
    name = f"traced{daemon_nice}{dump_nice}"
    stamps_file = str(tmp / f"{name}.stamps")
    daemon = start_server("tools.bench.latency", "--serve", "--routes", str(routes),
                          "--stamps", stamps_file, directory=tmp, name=name, ready_timeout=300)
    try:
        if daemon_nice:
            try:
                os.setpriority(os.PRIO_PROCESS, daemon.pid, daemon_nice)
            except OSError:
                return None
        results = [work.concurrent_dumps(daemon.path, routes, dump_nice=dump_nice)
                   for _ in range(runs)]
    finally:
        daemon.terminate(60)
    return split(results, *read_stamps(stamps_file))


def ms(values: list[float], q: float) -> str:
    return f"{work.percentile(values, q) * 1e3:.2f}" if values else "-"


def report(name: str, s: Split | None) -> None:
    if s is None:
        print(f"{name:<26} (not permitted)")
        return
    print(f"{name:<26} {min(s.items_per_s) / 1e6:4.1f}-{max(s.items_per_s) / 1e6:3.1f} M/s "
          f"{len(s.total):5d}  {ms(s.total, .5):>5} {ms(s.total, .99):>5} | "
          f"{len(s.wake):4d} {ms(s.wake, .5):>5} {ms(s.wake, .99):>5} | "
          f"{ms(s.inbound, .99):>5} | {ms(s.outbound, .5):>5} {ms(s.outbound, .99):>5} | "
          f"{ms(s.passes, .99):>5} {ms(s.passes, 1.0):>5} {s.busy_share:4.0%}")


def during_loads(routes: int, batches: list[int]) -> int:
    """GET p50/p99 while reactorctl loads ``routes`` routes, per ``--batch`` value."""
    print(f"# GETs during reactorctl fullview load --routes4 {routes:,} (times in ms)")
    print(f"{'--batch':>8} {'load s':>7} {'GETs':>5} {'p50':>6} {'p99':>6}")
    for batch in batches:
        daemon = start_reactord("--log-level", "warning", name="load")
        try:
            seconds, stamps = work.gets_during(
                daemon.path, lambda: work.ctl_fullview_load(daemon.path, routes, batch))
        finally:
            daemon.terminate(60)
        gets = [answered - sent for sent, answered in stamps]
        print(f"{batch:>8} {seconds:7.2f} {len(gets):5d} {ms(gets, .5):>6} {ms(gets, .99):>6}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routes", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--socket", help=argparse.SUPPRESS)
    parser.add_argument("--stamps", help=argparse.SUPPRESS)
    parser.add_argument("--load-batches", metavar="B,B,...",
                        help="measure GETs during reactorctl fullview load with these --batch")
    args = parser.parse_args(argv)
    if args.serve:
        serve_traced(args.socket, args.routes, args.stamps)
        return 0
    if args.load_batches:
        return during_loads(args.routes, [int(b) for b in args.load_batches.split(",")])
    print(f"# tools.bench.latency: {args.routes:,} routes, 4 dump clients + 1 GET client, "
          f"{args.runs} runs per scenario, {os.cpu_count()} CPUs; times in ms")
    print(f"{'scenario':<26} {'aggregate':<12} {'GETs':>5} {'p50':>5} {'p99':>5} | "
          f"{'woke':>4} {'p50':>5} {'p99':>5} | {'in99':>5} | {'out50':>5} {'out99':>5} | "
          f"{'pass99':>5} {'max':>5} {'busy':>4}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, daemon_nice, dump_nice in (("equal priority", 0, 0),
                                             ("daemon at nice -10", -10, 0),
                                             ("dump clients at nice 19", 0, 19)):
            report(name, scenario(Path(tmp), args.routes, args.runs, daemon_nice, dump_nice))
    print("woke: GETs sent while the daemon slept in select(), and how long it took to "
          "return;\nin/out: send -> handler, handler -> reply read; pass: daemon work "
          "between two selects; busy: share of the time in passes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
