"""WATCH under faults, through a real reactord: SIGTERM, the client limit, slow
watchers (ESTALE and bounded memory), and clients gone mid-snapshot.

Every wait has a deadline (socket timeouts, ``wait_for``); nothing sleeps.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from api import wire
from api.events import Event, decode_event
from tests.tables.support import bulk, nexthop, route4

from .util import Conn, ServerProcess, start, wait_stats

WID = 0x3A7C
ROUTES_PER_REQUEST = 1000
CHANGE_COST = 24
"""Bytes a retained route4 change may cost: its 12-byte record + a fixed overhead."""


@pytest.fixture
def closing() -> Iterator[list[ServerProcess]]:
    daemons: list[ServerProcess] = []
    yield daemons
    for daemon in daemons:
        daemon.kill()


def watch_req(from_revision: int = 0, flags: int = 0) -> bytes:
    return wire.WATCH_REQ.pack(from_revision, wire.ALL_TABLES_MASK, flags)


def ok(conn: Conn, req_type: int, payload: bytes) -> None:
    reply = conn.call(7, req_type, payload)
    assert reply.status == 0, wire.status_name(reply.status)


def routes(batch: int, nh_id: int = 1) -> bytes:
    """``ROUTES_PER_REQUEST`` route4 records of batch ``batch`` (distinct /32s)."""
    return bulk(*(route4(f"10.{batch % 250}.{i >> 8}.{i & 255}/32", nh_id)
                  for i in range(ROUTES_PER_REQUEST)), flags=wire.ADD_REPLACE)


def until_end(conn: Conn) -> tuple[list[Event], int]:
    """Every event of the WATCH ``WID`` up to its terminator, and the terminator's status."""
    items, status = conn.drain(WID)
    return [decode_event(item) for item in items], status


def assert_a_complete_prefix(got: list[Event], first_revision: int) -> None:
    """Events in revision order from ``first_revision``, each revision whole
    (``ROUTES_PER_REQUEST`` changes ending with LAST) but perhaps the final one."""
    changes = [e for e in got if e.kind != wire.EV_SYNC]
    revisions = [e.revision for e in changes]
    assert revisions == sorted(revisions)
    for n, event in enumerate(changes):
        assert event.revision == first_revision + n // ROUTES_PER_REQUEST
        assert event.last == (n % ROUTES_PER_REQUEST == ROUTES_PER_REQUEST - 1)


def test_sigterm_ends_caught_up_and_paused_watchers_with_eshutdown(
        tmp_path: Path, closing: list[ServerProcess]) -> None:
    daemon = start(tmp_path, "--write-high", "4096", "--write-low", "1024")
    closing.append(daemon)
    with Conn(daemon.path) as writer, Conn(daemon.path) as live, Conn(daemon.path) as paused:
        ok(writer, wire.NH_ADD, bulk(nexthop(1)))                          # revision 1
        live.send(WID, wire.WATCH, watch_req(1))
        paused.send(WID, wire.WATCH, watch_req(1))
        assert decode_event(live.frame().payload).kind == wire.EV_SYNC
        wait_stats(writer, "two watchers", watchers=2)
        for batch in range(20):      # 20,000 changes of 36 bytes each: beyond any buffer
            ok(writer, wire.ROUTE4_ADD, routes(batch))                     # 2 .. 21
            items = [decode_event(live.frame().payload) for _ in range(ROUTES_PER_REQUEST)]
            assert_a_complete_prefix(items, batch + 2)
        wait_stats(writer, "the never-reading watcher paused", streams_paused=1)
        daemon.proc.send_signal(signal.SIGTERM)
        assert until_end(live) == ([], wire.ESHUTDOWN)
        got, status = until_end(paused)
        assert status == wire.ESHUTDOWN
        assert got[0] == Event(1, wire.EV_SYNC, 0, False, b"")
        assert 0 < len(got) - 1 < 20 * ROUTES_PER_REQUEST
        assert_a_complete_prefix(got[1:], 2)
        assert daemon.proc.wait(20) == 0
    assert not os.path.exists(daemon.path)


def test_watchers_count_against_max_clients(tmp_path: Path,
                                            closing: list[ServerProcess]) -> None:
    daemon = start(tmp_path, "--max-clients", "2")
    closing.append(daemon)
    with Conn(daemon.path) as observer:
        wait_stats(observer, "start-up probe gone", clients=1)
        watcher = Conn(daemon.path)
        watcher.send(WID, wire.WATCH, watch_req())
        assert decode_event(watcher.frame().payload).kind == wire.EV_SYNC
        wait_stats(observer, "a watcher among 2 clients", clients=2, watchers=1)
        extra = Conn(daemon.path, timeout=5)
        with pytest.raises((EOFError, ConnectionResetError)):
            extra.frame()            # accepted, then closed: the watcher holds a slot
        extra.close()
        watcher.close()
        wait_stats(observer, "the watcher's slot freed", clients=1, watchers=0)
        with Conn(daemon.path) as newcomer:
            assert newcomer.stats()["clients"] == 2
    assert daemon.terminate() == 0


def test_a_never_reading_watcher_ends_estale_and_memory_stays_bounded(
        tmp_path: Path, closing: list[ServerProcess]) -> None:
    """2 x ``--changelog-events`` changes (the same 1000 routes replaced over and
    over, so the tables do not grow) while a watcher reads nothing: it ends
    ESTALE after what was queued, and the daemon grows by at most the
    changelog's bound + 1 MiB -- far less than the 7.2 MB of events it missed."""
    capacity = 100_000
    daemon = start(tmp_path, "--changelog-events", str(capacity),
                   "--write-high", "4096", "--write-low", "1024")
    closing.append(daemon)
    with Conn(daemon.path) as writer, Conn(daemon.path) as watcher:
        ok(writer, wire.NH_ADD, bulk(nexthop(1), nexthop(2)))             # revision 1
        ok(writer, wire.ROUTE4_ADD, routes(0))                             # 2
        watcher.send(WID, wire.WATCH, watch_req(2))
        wait_stats(writer, "the watcher", watchers=1)
        before = daemon.rss()
        for n in range(2 * capacity // ROUTES_PER_REQUEST):               # 3 .. 202
            ok(writer, wire.ROUTE4_ADD, routes(0, nh_id=1 + n % 2))
        grown = daemon.rss() - before
        figures = writer.stats()
        assert figures["revision"] == 202 and figures["changelog_events"] == capacity
        assert grown <= capacity * CHANGE_COST + (1 << 20), grown
        got, status = until_end(watcher)
        assert status == wire.ESTALE
        assert got[0] == Event(2, wire.EV_SYNC, 0, False, b"")
        assert_a_complete_prefix(got[1:], 3)
        assert len(got) - 1 < capacity
        assert writer.stats()["watchers"] == 0


def test_a_client_gone_mid_snapshot_frees_its_stream(tmp_path: Path,
                                                     closing: list[ServerProcess]) -> None:
    daemon = start(tmp_path, "--preload-fullview", "100000", "--write-high", "4096",
                   "--write-low", "1024")
    closing.append(daemon)
    with Conn(daemon.path) as observer:
        for _ in range(3):
            watcher = Conn(daemon.path)
            watcher.send(WID, wire.WATCH, watch_req(flags=wire.WATCH_SNAPSHOT))
            first = decode_event(watcher.frame().payload)
            assert (first.kind, first.table) == (wire.EV_SNAP, wire.TABLE_NEXTHOP)
            wait_stats(observer, "the snapshot paused", watchers=1, streams_paused=1)
            watcher.close()
            wait_stats(observer, "the stream freed", watchers=0, streams_active=0,
                       streams_paused=0, clients=1)
    assert daemon.terminate() == 0


def test_a_snapshot_whose_replay_start_is_dropped_ends_estale(
        tmp_path: Path, closing: list[ServerProcess]) -> None:
    """watch-v1 section 5: SNAP events, then ESTALE -- never a SYNC over a gap."""
    daemon = start(tmp_path, "--preload-fullview", "100000", "--changelog-events", "10",
                   "--write-high", "4096", "--write-low", "1024")
    closing.append(daemon)
    with Conn(daemon.path) as writer, Conn(daemon.path) as watcher:
        watcher.send(WID, wire.WATCH, watch_req(flags=wire.WATCH_SNAPSHOT))   # R0 = 1
        assert decode_event(watcher.frame().payload).kind == wire.EV_SNAP
        wait_stats(writer, "the snapshot paused", streams_paused=1)
        for n in range(11):          # revisions 2 .. 12 of one change: 2 is dropped
            ok(writer, wire.ROUTE4_ADD, bulk(route4(f"240.0.{n}.0/24")))
        assert writer.stats()["changelog_oldest"] == 2
        got, status = until_end(watcher)
        assert status == wire.ESTALE
        assert {e.kind for e in got} == {wire.EV_SNAP}
        assert writer.stats()["watchers"] == 0
