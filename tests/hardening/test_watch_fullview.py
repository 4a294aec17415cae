"""WATCH at full-view scale: a SNAPSHOT of a million routes while another client churns.

A watcher mirrors route4 with a ``TableCopy``, reading the snapshot in chunks;
between chunks a writer ADDs (REPLACE) and DELs (MISSING_OK) routes of its own
range.  Once the watcher has applied the SYNC and the churn's last revision,
its copy must equal a LIST of route4.  Every wait is a socket timeout.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from api import wire
from api.events import Synced, TableCopy, decode_event, table_key
from tests.tables.support import bulk, route4
from tools.harness import Conn, start_reactord

WID = 0x4D31
ROUTES = 1_000_000
CHUNK = 50_000
"""Frames the watcher reads between two churn rounds."""
CHURN_KEYS = 4000
R4 = wire.table_bit(wire.TABLE_ROUTE4)


def churn_route(key: int, nh_id: int = 1) -> bytes:
    return route4(f"240.{key >> 8}.{key & 255}.0/24", nh_id)


def churn(writer: Conn, rng: random.Random) -> None:
    """One round: 200 routes added or replaced, 100 deleted (if present)."""
    keys = rng.sample(range(CHURN_KEYS), 300)
    added = bulk(*(churn_route(k, rng.randint(1, 4)) for k in keys[:200]),
                 flags=wire.ADD_REPLACE)
    assert writer.call(1, wire.ROUTE4_ADD, added).status == 0
    gone = bulk(*(churn_route(k) for k in keys[200:]), flags=wire.DEL_MISSING_OK)
    assert writer.call(2, wire.ROUTE4_DEL, gone).status == 0


def apply(watcher: Conn, copy: TableCopy, frames: int) -> bool:
    """Apply up to ``frames`` events; whether a SYNC was among them."""
    synced = False
    for _ in range(frames):
        frame = watcher.frame()
        assert frame.for_id == WID and frame.status == 0 and frame.payload, frame
        event = decode_event(frame.payload)
        synced |= event.kind == wire.EV_SYNC
        for update in copy.apply(event):
            assert not isinstance(update, Synced) or update.revision == copy.revision
        if synced:
            return True
    return False


@pytest.mark.slow
def test_a_snapshot_of_a_million_routes_under_churn_mirrors_the_table(tmp_path: Path) -> None:
    daemon = start_reactord("--preload-fullview", str(ROUTES), directory=tmp_path,
                            ready_timeout=300)
    rng = random.Random(7)
    try:
        with Conn(daemon.path, timeout=60) as watcher, Conn(daemon.path, timeout=60) as writer:
            copy = TableCopy(R4)
            copy.begin_snapshot()
            watcher.send(WID, wire.WATCH, wire.WATCH_REQ.pack(0, R4, wire.WATCH_SNAPSHOT))
            rounds = 0
            while not apply(watcher, copy, CHUNK):
                churn(writer, rng)
                rounds += 1
            assert rounds >= 10, "the churn did not overlap the snapshot"
            for _ in range(5):
                churn(writer, rng)
            final = writer.stats()["revision"]
            while copy.revision < final:
                apply(watcher, copy, 1)
            listed = writer.listing(wire.ROUTE4_LIST)
            assert len(listed) > ROUTES
            assert copy.tables[wire.TABLE_ROUTE4] == {
                table_key(wire.TABLE_ROUTE4, r): r for r in listed}
    finally:
        daemon.kill()
