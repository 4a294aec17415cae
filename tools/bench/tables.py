"""Table benchmarks: LIST walk, bulk ADD, memory and LPM of the route4 table.

The concept: the figures that decide whether the tables keep up with a BGP
full view, measured on the tables alone (no socket, no framing):

- LIST: cost per record of a route4 walk (cursor step + record bytes) with
  the server's batch size, at 100k, 1M and 4M routes, and its ratio to the
  100k figure (flat = within 20 %), for a table loaded in key order and for
  one loaded in random order (its items scattered in memory);
- ADD: cost per route of bulk ADD in max-size payloads (~10.9k routes each),
  in key order (a RIB dump) and shuffled;
- memory per route at 1M: RSS delta of a load in key order (as reactord's
  preload; Linux ``/proc``), with what each part of the table holds per
  route, and tracemalloc of a shuffled load (what the table allocates);
- LPM: cost of one ROUTE4_GET lookup on the 1M table;
- the alternative index the tables do not use (``tables``' docstring): a plain
  ``SortedDict`` of key -> record holding the same routes, its walk per
  record and its memory per route (tracemalloc).

``python -m tools.bench.tables [--sizes 100000,1000000,4000000] [--quick]``;
each figure is the best of ``--repeat`` runs.  A full run takes ~1-2 minutes.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import random
import sys
import time
import tracemalloc
from collections.abc import Callable

from sortedcontainers import SortedDict

from api import wire
from tables.keyed import KeyCursor
from tables.nexthop import NexthopTable
from tables.route import RouteTable
from tools.fullview import add_payloads, generate_nexthops, generate_routes4
from tools.harness import rss_bytes

NH_IDS = range(1, 33)
BATCH = wire.STREAM_OVERSHOOT // (wire.HEADER_SIZE + wire.ROUTE4.size)
"""Records per LIST step: what the server asks for with its default batch bytes."""


def new_table() -> RouteTable:
    nexthops = NexthopTable()
    nexthops.add(b"".join(generate_nexthops(NH_IDS)), False)
    return RouteTable(nexthops, 32)


def payloads(count: int, shuffle: bool) -> list[bytes]:
    """Route4 ADD payload bodies (flags stripped) of a synthetic full view."""
    records = generate_routes4(count, nh_ids=NH_IDS, shuffle=shuffle)
    return [payload[wire.BULK_FLAGS.size:] for payload in add_payloads(records, 12)]


def load(table: RouteTable, bodies: list[bytes]) -> float:
    """Seconds to ADD every payload."""
    start = time.perf_counter()
    for body in bodies:
        table.add(body, False)
    return time.perf_counter() - start


def walk(table: RouteTable, limit: int, blob: bool = True) -> float:
    """Seconds per record of one full LIST walk, ``limit`` records per step.

    ``blob``: the records end to end (``step_blob``, what the server frames);
    else a list of record objects (``step``).
    """
    cursor: KeyCursor = table.cursor(wire.SCOPE_ALL, None, 0)
    count, size, order = 0, table.record_size, table.order
    start = time.perf_counter()
    if blob:
        while batch := order.step_blob(cursor, limit):
            count += len(batch) // size
    else:
        while records := order.step(cursor, limit):
            count += len(records)
    return (time.perf_counter() - start) / max(count, 1)


def best(repeat: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeat))


def bench_list(sizes: list[int], repeat: int) -> None:
    print(f"LIST route4 walk (cursor step + record bytes), {BATCH} records per step, as one")
    print("  blob (what the server frames) / as a list of records; tables loaded in key order")
    print("  (items laid out in key order) and shuffled (item objects scattered)")
    base: dict[tuple[bool, bool], float] = {}
    for size in sizes:
        figures = []
        for shuffle in (False, True):
            table = new_table()
            load(table, payloads(size, shuffle))
            for blob in (True, False):
                per_record = best(repeat + 2, lambda: walk(table, BATCH, blob)) * 1e9
                first = base.setdefault((shuffle, blob), per_record)
                figures.append(f"{per_record:4.1f} ns (x{per_record / first:4.2f})")
            del table
            gc.collect()
        print(f"  {size:>9,} routes: key order {figures[0]} / {figures[1]};  "
              f"shuffled {figures[2]} / {figures[3]}")


def bench_add(size: int, repeat: int) -> None:
    print(f"bulk ADD, {size:,} routes in payloads of "
          f"{(wire.MAX_PAYLOAD - 4) // wire.ROUTE4.size:,} (table side)")
    for shuffle in (False, True):
        bodies = payloads(size, shuffle)
        seconds = best(repeat, lambda: load(new_table(), bodies))
        order = "shuffled order" if shuffle else "key order     "
        print(f"  {order}: {seconds / size * 1e9:6.0f} ns/route ({seconds:.2f} s)")
        gc.collect()


def bench_memory(size: int) -> RouteTable:
    bodies = payloads(size, shuffle=True)
    gc.collect()
    tracemalloc.start()
    table = new_table()
    load(table, bodies)
    gc.collect()
    used, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"memory at {size:,} routes (tracemalloc, shuffled load): "
          f"{used / size:.0f} bytes/route (peak during load {peak / size:.0f})")
    return table


def own_rss() -> int | None:
    """This process's resident set size, or None where there is no /proc."""
    try:
        return rss_bytes(os.getpid())
    except OSError:
        return None


def bench_rss(size: int) -> None:
    """RSS delta per route, measured in a fresh interpreter: in this one, memory
    freed by the other figures would be reused and hide the table's growth."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        grown, parts = pool.apply(_rss_child, (size,))
    if grown is None:
        print("memory, RSS delta: no /proc/self/status here")
        return
    print(f"memory at {size:,} routes (RSS delta, key-order load, fresh process): "
          f"{grown / size:.0f} bytes/route")
    print("  of which " + ", ".join(f"{name} {used / size:.1f}" for name, used in parts.items()))


def _rss_child(size: int) -> tuple[int | None, dict[str, int]]:
    bodies = payloads(size, shuffle=False)
    gc.collect()
    before = own_rss()
    table = new_table()
    load(table, bodies)
    gc.collect()
    after = own_rss()
    grown = None if before is None or after is None else after - before
    return grown, footprint(table)


def footprint(table: RouteTable) -> dict[str, int]:
    """Bytes held by each part of a route table (pymalloc size classes of 16 B)."""
    def held(obj: object) -> int:
        size = sys.getsizeof(obj)
        return size if size > 512 else -(-size // 16) * 16

    pages, index = table.order._pages._pages, table.index   # private: a measurement
    nets = [net for nets in index._by_plen.values() for net in nets]
    return {"key columns": sum(held(page.keys) for page in pages.values()),
            "record blobs": sum(held(page.blob) for page in pages.values()),
            "pages and their SortedDict": sum(held(page) + held(first) + 100
                                              for first, page in pages.items()),
            "prefix dicts": sum(map(held, index._by_plen.values())),
            "network ints": sum(held(net) for net in nets if not -5 <= net <= 256),
            "tails": sum(map(held, index._tails)) + held(index._tails)}


_PAGE_PARTS = ("key columns", "record blobs", "pages and their SortedDict")


def bench_lpm(table: RouteTable, lookups: int) -> None:
    rng = random.Random(1)
    addrs = [rng.getrandbits(32).to_bytes(4, "big") for _ in range(lookups)]
    lookup = table.lookup
    start = time.perf_counter()
    found = sum(lookup(0, addr) is not None for addr in addrs)
    seconds = time.perf_counter() - start
    print(f"LPM ROUTE4_GET on {len(table):,} routes: {seconds / lookups * 1e9:.0f} ns/lookup "
          f"({len(table.prefix_lengths(0))} prefix lengths in use; "
          f"{found / lookups:.0%} of random addresses matched)")


def bench_alternative(table: RouteTable, repeat: int) -> None:
    """The same routes in a plain ``SortedDict`` of key -> record: its walk per
    record (a cursor step: a bisect, then the records of the next keys) and its
    memory per route (the SortedDict, its int keys and bytes records)."""
    gc.collect()
    tracemalloc.start()
    plain = SortedDict(table.order.items())   # its own int keys and bytes records
    gc.collect()
    used = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()

    def walk_plain() -> float:
        values, count, after = plain.values(), 0, -1
        start = time.perf_counter()
        while True:
            first = plain.bisect_right(after)
            batch = values[first:first + BATCH]   # the fastest step found: a positional slice
            if not batch:
                break
            blob = b"".join(batch)
            count += len(blob) // wire.ROUTE4.size
            after = plain.peekitem(first + len(batch) - 1)[0]
        return (time.perf_counter() - start) / max(count, 1)

    per_record = best(repeat, walk_plain) * 1e9
    pages = best(repeat, lambda: walk(table, BATCH)) * 1e9
    print(f"alternative index, a plain SortedDict key -> record ({len(plain):,} routes): walk "
          f"{per_record:.1f} ns/record (pages {pages:.1f}, x{per_record / pages:.0f}); "
          f"{used / len(plain):.0f} B/route for the index alone (tracemalloc; pages: "
          f"{sum(footprint(table)[part] for part in _PAGE_PARTS) / len(plain):.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000,4000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="sizes 10k,100k; 100k elsewhere")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    main_size = 1_000_000
    if args.quick:
        sizes, main_size = [10_000, 100_000], 100_000
    bench_list(sizes, args.repeat)
    bench_add(main_size, args.repeat)
    bench_rss(main_size)
    table = bench_memory(main_size)
    bench_lpm(table, 200_000)
    bench_alternative(table, args.repeat)


if __name__ == "__main__":
    main()
