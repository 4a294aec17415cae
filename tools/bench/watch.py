"""WATCH benchmark: what change streams cost the daemon, against a baseline in the same run.

Run: ``python -m tools.bench.watch [--quick]`` (a few minutes on 2 CPUs;
``--quick``: tiny sizes, a smoke test).

The concept: real reactord processes on UNIX sockets, clients and watchers
as separate processes (``tools.bench.watch_work``), every figure a ratio
against a baseline measured in this run; the command and ``/proc/loadavg``
are printed before and after.  Rows:

- fan-out: bulk load of N routes through the socket (max-size ADDs, 4 in
  flight) with 0, 1 and 10 caught-up watchers of route4, each counting every
  event: load time with 10 ÷ with 0, and until every watcher has them all;
- latency: single-route ADDs at 1,000/s with 10 watchers: ADD reply -> each
  watcher's receipt of the event, p50 / p99;
- stalled watcher: a WATCH never read while churn runs (``--changelog-events
  N``): daemon RSS growth against the same churn without a watcher and
  against the changelog's bound + 1 MiB; daemon CPU once the churn stopped;
- SNAPSHOT of a preloaded full view to SYNC while another process applies
  ~10,000 changes/s; the copy checked equal to a final LIST;
- memory per retained change at N retained: RSS delta of the same bulk load
  into a daemon with the default changelog and one with ``--changelog-events 1``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from api import wire
from tools.bench import fullview_work
from tools.bench import watch_work as work
from tools.bench.fullview import Row, print_table, revision
from tools.fullview import add_payloads, generate_nexthops, generate_routes4
from tools.harness import ServerProcess, start_reactord

MIB = 1 << 20
KIB = 1 << 10
READY_S = 300.0
PER_REVISION_B = 170 + 120
"""Changelog overhead of a one-segment revision (``tables.changelog`` docstring)."""
MEMORY_RUNS = 3
"""Loads per daemon configuration for the memory row (the median is kept: RSS is noisy)."""
ROW_NAMES = ("fan-out", "latency", "stalled watcher", "SNAPSHOT", "memory per retained change")
"""The first word(s) of every row group (the smoke test checks each ran)."""


@dataclass
class Sizes:
    routes: int           # fan-out and memory: routes bulk-loaded
    adds: int             # latency: single-route ADDs
    changelog: int        # stalled watcher: --changelog-events
    churn_batch: int      # stalled watcher: routes per ADD / DEL
    churn_s: float
    idle_s: float
    fullview: int         # SNAPSHOT: --preload-fullview


FULL = Sizes(1_000_000, 5_000, 200_000, 1_000, 3.0, 3.0, 1_000_000)
QUICK = Sizes(20_000, 200, 2_000, 100, 0.5, 0.5, 20_000)


def daemon(tmp: Path, name: str, *args: str) -> ServerProcess:
    return start_reactord("--log-level", "warning", *args, directory=tmp, name=name,
                          ready_timeout=READY_S)


def load_input(routes: int) -> tuple[bytes, list[bytes]]:
    """Nexthops 1-4 and the ADD payloads of ``routes`` synthetic routes."""
    nexthops = b"".join(generate_nexthops((1, 2, 3, 4)))
    return nexthops, list(add_payloads(generate_routes4(routes, nh_ids=(1, 2, 3, 4)), 12))


def fan_out_rows(tmp: Path, sizes: Sizes) -> list[Row]:
    nexthops, payloads = load_input(sizes.routes)
    figures: dict[int, tuple[float, float]] = {}
    for watchers in (0, 1, 10):
        server = daemon(tmp, f"fanout-{watchers}")
        try:
            figures[watchers] = work.fan_out(server.path, nexthops, payloads, sizes.routes,
                                             watchers)
        finally:
            server.stop()
    base = figures[0][0]
    rows = []
    for watchers in (1, 10):
        loaded, caught_up = figures[watchers]
        rows.append(Row(f"fan-out: bulk load {sizes.routes:,} routes, {watchers} watcher(s)",
                        f"{loaded:.2f} s ({loaded / base:.2f}×)",
                        f"0 watchers {base:.2f} s; all events counted after {caught_up:.2f} s "
                        f"({caught_up / base:.2f}×)",
                        "≤2× (10 watchers)" if watchers == 10 else "(info)",
                        loaded <= 2 * base if watchers == 10 else None))
    return rows


def latency_rows(tmp: Path, sizes: Sizes) -> list[Row]:
    server = daemon(tmp, "latency")
    try:
        delays, from_sent = work.latency(server.path, sizes.adds, 1_000.0, 10)
    finally:
        server.stop()
    p50, p99 = (fullview_work.percentile(delays, q) for q in (0.5, 0.99))
    s50, s99 = (fullview_work.percentile(from_sent, q) for q in (0.5, 0.99))
    return [Row("latency: ADD reply -> watcher event, p50", f"{p50:.2f} ms",
                f"{len(delays):,} events ({sizes.adds:,} ADDs at 1,000/s, 10 watchers)",
                "(info)", None),
            Row("latency: ADD reply -> watcher event, p99", f"{p99:.2f} ms",
                f"max {max(delays):.2f} ms; min {min(delays):.2f} ms (< 0: the sender read "
                f"its reply after a watcher its event)", "≤2 ms", p99 <= 2.0),
            Row("latency: ADD sent -> watcher event, p50 / p99", f"{s50:.2f} / {s99:.2f} ms",
                "the ADD's round trip included", "(info)", None)]


def stall_rows(tmp: Path, sizes: Sizes) -> list[Row]:
    results = {}
    for stalled in (False, True):
        server = daemon(tmp, f"stall-{stalled}", "--changelog-events", str(sizes.changelog))
        try:
            results[stalled] = work.stall(server.path, server.pid, sizes.churn_s, sizes.idle_s,
                                          sizes.churn_batch, stalled)
        finally:
            server.stop()
    base, ours = results[False], results[True]
    bound = sizes.changelog * (12 + PER_REVISION_B / sizes.churn_batch) + MIB
    return [Row(f"stalled watcher: daemon RSS growth, {sizes.churn_s:g} s churn",
                f"{ours.rss_growth / KIB:,.0f} KiB",
                f"no watcher {base.rss_growth / KIB:,.0f} KiB "
                f"(Δ {(ours.rss_growth - base.rss_growth) / KIB:,.0f} KiB); "
                f"{ours.changes:,} changes, --changelog-events {sizes.changelog:,}; "
                f"stream ended {ours.ended}",
                f"≤ bound {bound / KIB:,.0f} KiB", ours.rss_growth <= bound),
            Row("stalled watcher: daemon CPU after the churn", f"{ours.cpu_share:.1%}",
                f"no watcher {base.cpu_share:.1%}", "≤1%", ours.cpu_share <= 0.01)]


def snapshot_rows(tmp: Path, sizes: Sizes) -> list[Row]:
    server = daemon(tmp, "snapshot", "--preload-fullview", str(sizes.fullview))
    try:
        listed, listing = fullview_work.dump(server.path, True)   # baseline: a LIST
        if listed != sizes.fullview:
            raise RuntimeError(f"LIST gave {listed} routes, expected {sizes.fullview}")
        raw_s, raw_items = work.raw_snapshot(server.path, 10_000.0)
        snap = work.snapshot_sync(server.path, 10_000.0)
    finally:
        server.stop()
    return [Row(f"SNAPSHOT {sizes.fullview:,} routes to SYNC under churn, TableCopy",
                f"{snap.seconds:.2f} s ({snap.seconds / listing:.1f}× a LIST)",
                f"LIST {listing:.2f} s; churn {snap.churn_rate:,.0f} changes/s; "
                f"{snap.events:,} events decoded and applied", "(info)", None),
            Row("SNAPSHOT to SYNC under churn, items counted (not decoded)",
                f"{raw_s:.2f} s ({raw_s / listing:.1f}× a LIST)", f"{raw_items:,} items",
                "(info)", None),
            Row("SNAPSHOT: TableCopy == final LIST of route4",
                "equal" if snap.equal else "DIFFERENT", f"{snap.records:,} records",
                "equal", snap.equal)]


def memory_pair(tmp: Path, nexthops: bytes,
                payloads: list[bytes]) -> dict[str, tuple[float, int]]:
    """The median (load seconds, RSS delta) of the same load into daemons with the
    default changelog ("default") and with ``--changelog-events 1`` ("one")."""
    figures: dict[str, list[tuple[float, int]]] = {"default": [], "one": []}
    for _ in range(MEMORY_RUNS):
        for name, args in (("default", ()), ("one", ("--changelog-events", "1"))):
            server = daemon(tmp, f"memory-{name}", *args)
            try:
                figures[name].append(
                    fullview_work.bulk_load(server.path, server.pid, nexthops, payloads))
            finally:
                server.stop()
    return {name: median(runs) for name, runs in figures.items()}


def memory_rows(tmp: Path, sizes: Sizes) -> list[Row]:
    """Max-size ADDs (one revision per ~5,000 routes), then 100-route ADDs
    (the per-revision overhead shows)."""
    nexthops, payloads = load_input(sizes.routes)
    small = list(add_payloads(generate_routes4(sizes.routes, nh_ids=(1, 2, 3, 4)), 12,
                              max_payload=wire.BULK_FLAGS.size + 100 * 12))
    rows = []
    for what, loads in ((f"max-size ADDs ({len(payloads)} revisions)", payloads),
                        ("100-route ADDs", small)):
        pair = memory_pair(tmp, nexthops, loads)
        (secs, grown), (secs1, grown1) = pair["default"], pair["one"]
        rows.append(Row(f"memory per retained change at {sizes.routes:,} retained, {what}",
                        f"{(grown - grown1) / sizes.routes:.1f} B",
                        f"median of {MEMORY_RUNS}: RSS delta {grown / MIB:.1f} MiB vs "
                        f"{grown1 / MIB:.1f} MiB with --changelog-events 1; "
                        f"load {secs:.2f} s vs {secs1:.2f} s ({secs / secs1:.2f}×)",
                        "(info; record 12 B)", None))
    return rows


def median(runs: list[tuple[float, int]]) -> tuple[float, int]:
    """The median seconds and the median RSS delta of some runs (each on its own)."""
    middle = len(runs) // 2
    return sorted(s for s, _ in runs)[middle], sorted(g for _, g in runs)[middle]


def run_rows(tmp: Path, sizes: Sizes, only: str = "") -> tuple[list[Row], bool]:
    """Every row group (those whose name starts with ``only``); one that fails
    prints as a row saying so (and fails the run)."""
    groups: list[Callable[[Path, Sizes], list[Row]]] = [
        fan_out_rows, latency_rows, stall_rows, snapshot_rows, memory_rows]
    rows: list[Row] = []
    ok = True
    for name, group in zip(ROW_NAMES, groups):
        if not name.startswith(only):
            continue
        try:
            rows += group(tmp, sizes)
        except Exception as exc:   # report it as a row; the run still fails
            ok = False
            rows.append(Row(f"{name}: DID NOT RUN", type(exc).__name__, str(exc)[:100], "", False))
    return rows, ok


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--only", default="", metavar="ROW",
                        help=f"only the rows starting with ROW (of: {', '.join(ROW_NAMES)})")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    command = [os.path.basename(sys.executable), "-m", "tools.bench.watch", *sys.argv[1:]]
    print(f"command: {' '.join(command)}")
    print(f"cat /proc/loadavg (before): {loadavg()}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        rows, ok = run_rows(Path(tmp), sizes, args.only)
    print_table(rows, f"reactord WATCH benchmark ({revision()}): {os.cpu_count()} CPUs, "
                      f"{time.monotonic() - started:.0f} s")
    print(f"cat /proc/loadavg (after): {loadavg()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
