"""Soak a live reactord: streamers, mutators, a canceller and a hostile client at once.

The concept: for ``--duration`` seconds (default 60), ten worker processes
(``tools.hardening.soak_workers``; processes, not threads: the load must not share one
GIL) hammer one daemon: 4 streamers list route4 and fdb in full (some slowly,
so their streams pause while the tables change) and check wire-v1 section 6
on every completed stream; 4 mutators ADD / DEL / REPLACE routes and fdb
entries, FLUSH a bridge, replace nexthops; 1 canceller cancels streams at
random points; 1 hostile client sends bad input and vanishes mid-stream.
Meanwhile the daemon's RSS is sampled.  At the end the daemon must be idle
(no client but ours, no stream) and every stable key still in place.

Usage: ``python -m tools.hardening.soak [--duration S] [--preload N] [--seed N] [--socket PATH]``;
without ``--socket`` it starts its own daemon.  Prints requests/s held,
faults injected, bad inputs tried, guarantee violations and peak daemon RSS;
exits 1 if any guarantee was violated.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
from multiprocessing.pool import AsyncResult

from api import wire
from tools.harness import Conn, peak_rss_bytes, rss_bytes, target, wait_until
from tools.hardening.soak_workers import Plan, Tally, check_fdb, check_routes, fdb_key, route_key, run

ROLES = ["streamer"] * 4 + ["mutator"] * 4 + ["canceller", "hostile"]
STABLE_FDB = 2000


def prepare(path: str, seed: int) -> Plan:
    """Split the key space: every 10th preloaded route is volatile; fdb bridge 1 is stable."""
    conn = Conn(path)
    try:
        routes = conn.listing(wire.ROUTE4_LIST)
        assert conn.call(1, wire.FDB_FLUSH, wire.FLUSH_REQ.pack(wire.SCOPE_ALL)).status == 0
        fdb = [wire.FDB.pack(1, i % 4, bytes((2, 1, 0, 0)) + i.to_bytes(2, "big"), 1, 1, 0)
               for i in range(STABLE_FDB)]
        reply = conn.call(2, wire.FDB_ADD, wire.BULK_FLAGS.pack(0) + b"".join(fdb))
        assert reply.status == 0, f"fdb preload answered {wire.status_name(reply.status)}"
        stable_fdb = conn.listing(wire.FDB_LIST)   # with the daemon's last_seen_ns
    finally:
        conn.close()
    return Plan(path, 0.0, [r for i, r in enumerate(routes) if i % 10],
                routes[::10], stable_fdb, seed)


def final_check(plan: Plan, total: Tally) -> None:
    """The daemon idle, every stable key intact."""
    conn = Conn(plan.path)
    try:
        last: dict[str, int] = {}

        def idle() -> bool:
            last.update(conn.stats())
            return (last["clients"], last["streams_active"]) == (1, 0)

        if not wait_until(idle, 15):
            total.violation(f"not idle after the soak: {last}")
        stable = {route_key(r): r for r in plan.stable_routes}
        volatile = {route_key(r) for r in plan.volatile_routes}
        check_routes(conn.listing(wire.ROUTE4_LIST), stable, volatile, total)
        check_fdb(conn.listing(wire.FDB_LIST), {fdb_key(r): r for r in plan.stable_fdb}, total)
        hello = conn.call(3, wire.HELLO, wire.U32.pack(1))
        if hello.status:
            total.violation(f"HELLO answered {wire.status_name(hello.status)}")
    finally:
        conn.close()


def soak(path: str, pid: int, duration: float, seed: int) -> tuple[list[Tally], Tally, int]:
    """Run the workers; their tallies, the coordinator's, and the peak RSS sampled."""
    plan = prepare(path, seed)
    plan.deadline = time.monotonic() + duration
    total = Tally("soak")
    peak = 0
    context = multiprocessing.get_context("fork")
    with context.Pool(len(ROLES)) as pool:
        pending: list[AsyncResult[Tally]] = [
            pool.apply_async(run, (role, index, plan)) for index, role in enumerate(ROLES)]
        while not all(p.ready() for p in pending) and \
                time.monotonic() < plan.deadline + duration + 60:
            peak = max(peak, rss_bytes(pid))
            time.sleep(0.1)   # the RSS sampling period
        tallies = []
        for index, p in enumerate(pending):
            try:
                tallies.append(p.get(timeout=1))
            except multiprocessing.TimeoutError:
                total.violation(f"{ROLES[index]} {index} did not finish")
    final_check(plan, total)
    return tallies, total, peak


def summary(tallies: list[Tally], total: Tally, duration: float, peak: int, hwm: int) -> str:
    requests = sum(t.requests for t in tallies)
    violations = [v for t in [*tallies, total] for v in t.violations]
    by_role: dict[str, list[Tally]] = {}
    for t in tallies:
        by_role.setdefault(t.role.split()[0], []).append(t)
    lines = [f"duration:            {duration:.1f} s",
             f"requests:            {requests} ({requests / duration:.0f} requests/s held)"]
    for role, group in by_role.items():
        lines.append(f"  {role + 's:':19} {sum(t.requests for t in group)} requests, "
                     f"{sum(t.streams for t in group)} streams, "
                     f"{sum(t.records for t in group)} records")
    statuses = sum((t.statuses for t in tallies), start=type(total.statuses)())
    lines += [f"mutation statuses:   {dict(statuses.most_common())}",
              f"cancels:             {sum(t.cancels for t in tallies)}",
              f"faults injected:     {sum(t.faults for t in tallies)}",
              f"bad inputs tried:    {sum(t.bad_inputs for t in tallies)}",
              f"guarantee violations: {len(violations)}"]
    lines += [f"  {v}" for v in violations[:20] if v]
    lines.append(f"daemon RSS:          peak {hwm / 2**20:.1f} MiB (VmHWM), "
                 f"{peak / 2**20:.1f} MiB sampled during the soak")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--preload", type=int, default=100_000,
                        help="routes preloaded into the daemon it starts (default %(default)s)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--socket", default=None, help="soak this running daemon instead")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    daemon, path, pid = target(args.socket, args.preload)
    print(f"soaking reactord pid {pid} on {path} for {args.duration:g} s, seed {seed}",
          flush=True)
    try:
        started = time.monotonic()
        tallies, total, peak = soak(path, pid, args.duration, seed)
        elapsed = time.monotonic() - started
        hwm = peak_rss_bytes(pid)
    finally:
        code = daemon.terminate() if daemon else 0
    if code:
        total.violation(f"daemon exited {code} after SIGTERM")
    print(summary(tallies, total, min(elapsed, args.duration), peak, hwm))
    return 1 if any(t.violations for t in [*tallies, total]) else 0


if __name__ == "__main__":
    sys.exit(main())
