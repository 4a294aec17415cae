"""WATCH (watch-v1) through a real reactord on a UNIX socket: every rule of the spec.

Each test reads frames with deadlines (socket timeouts); nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api import wire
from api.events import Event, decode_event
from tests.tables.support import bulk, conntrack, fdb, list_req, nexthop, nh_ids, route4, route6
from tools.harness import Conn, Frame, ServerProcess, start_reactord

ALL = wire.ALL_TABLES_MASK
R4 = wire.table_bit(wire.TABLE_ROUTE4)
WID = 0x3A7C   # the WATCH's request id in these tests


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = start_reactord("--changelog-events", "50", directory=tmp_path)
    try:
        yield proc
    finally:
        proc.kill()


def watch_req(from_revision: int = 0, tables: int = ALL, flags: int = 0) -> bytes:
    return wire.WATCH_REQ.pack(from_revision, tables, flags)


def ok(conn: Conn, req_type: int, payload: bytes, req_id: int = 7) -> None:
    reply = conn.call(req_id, req_type, payload)
    assert reply.status == 0, wire.status_name(reply.status)


def events(conn: Conn, until_sync: bool = False, count: int = 0) -> list[Event]:
    """Events of the WATCH ``WID`` until a SYNC (included) or ``count`` of them."""
    out: list[Event] = []
    while True:
        frame = conn.frame()
        assert frame.for_id == WID and frame.status == 0 and frame.payload, frame
        out.append(decode_event(frame.payload))
        if (until_sync and out[-1].kind == wire.EV_SYNC) or (count and len(out) == count):
            return out


def setup(conn: Conn) -> None:
    ok(conn, wire.NH_ADD, bulk(nexthop(1), nexthop(2)))                        # revision 1
    ok(conn, wire.ROUTE4_ADD, bulk(route4("10.0.0.0/8"), route4("10.1.0.0/16")))  # 2


def test_lengths_and_field_checks_come_first_in_the_spec_order(daemon: ServerProcess) -> None:
    with Conn(daemon.path) as conn:
        setup(conn)
        cases: list[tuple[bytes, int]] = [
            (watch_req()[:15], wire.EMSGSIZE), (b"", wire.EMSGSIZE),
            (watch_req() + b"\0", wire.EINVAL),
            (watch_req(tables=0), wire.EINVAL), (watch_req(tables=0x20), wire.EINVAL),
            (watch_req(flags=4), wire.EINVAL),
            (watch_req(1, flags=wire.WATCH_SNAPSHOT), wire.EINVAL),
            (watch_req(3), wire.EINVAL),                     # the future
        ]
        for n, (payload, status) in enumerate(cases):
            assert conn.call(100 + n, wire.WATCH, payload) == Frame(100 + n, status, b"")
        assert conn.stats()["watchers"] == 0


def test_from_zero_starts_with_sync_then_live_changes_with_last(daemon: ServerProcess) -> None:
    with Conn(daemon.path) as watcher, Conn(daemon.path) as writer:
        setup(writer)
        watcher.send(WID, wire.WATCH, watch_req())
        assert events(watcher, count=1) == [Event(2, wire.EV_SYNC, 0, False, b"")]
        a, b = route4("10.2.0.0/16"), route4("10.3.0.0/16", 2)
        ok(writer, wire.ROUTE4_ADD, bulk(a, b))
        assert events(watcher, count=2) == [Event(3, wire.EV_PUT, wire.TABLE_ROUTE4, False, a),
                                            Event(3, wire.EV_PUT, wire.TABLE_ROUTE4, True, b)]
        stats = writer.stats()
        assert (stats["revision"], stats["watchers"], stats["streams_active"]) == (3, 1, 1)
        assert stats["items_streamed"] == 0 and stats["streams_paused"] == 0


def test_snapshot_lists_the_tables_in_order_then_syncs(daemon: ServerProcess) -> None:
    with Conn(daemon.path) as conn:
        setup(conn)
        ok(conn, wire.FDB_ADD, bulk(fdb()))                                    # 3
        conn.send(WID, wire.WATCH, watch_req(flags=wire.WATCH_SNAPSHOT))
        got = events(conn, until_sync=True)
        assert [(e.revision, e.kind, e.table, e.last) for e in got] == [
            (0, wire.EV_SNAP, wire.TABLE_NEXTHOP, False)] * 2 + [
            (0, wire.EV_SNAP, wire.TABLE_ROUTE4, False)] * 2 + [
            (0, wire.EV_SNAP, wire.TABLE_FDB, False), (3, wire.EV_SYNC, 0, False)]
        with Conn(daemon.path) as other:
            assert [e.record for e in got[2:4]] == other.listing(wire.ROUTE4_LIST)
            assert [e.record for e in got[:2]] == other.listing(wire.NH_LIST)


def test_from_a_revision_replays_what_followed_then_syncs(daemon: ServerProcess) -> None:
    with Conn(daemon.path) as conn:
        setup(conn)
        ok(conn, wire.ROUTE4_DEL, bulk(route4("10.0.0.0/8")))                 # 3
        conn.send(WID, wire.WATCH, watch_req(1, tables=R4))
        got = events(conn, until_sync=True)
        assert got == [
            Event(2, wire.EV_PUT, wire.TABLE_ROUTE4, False, route4("10.0.0.0/8")),
            Event(2, wire.EV_PUT, wire.TABLE_ROUTE4, True, route4("10.1.0.0/16")),
            Event(3, wire.EV_DEL, wire.TABLE_ROUTE4, True, route4("10.0.0.0/8")),
            Event(3, wire.EV_SYNC, 0, False, b"")]


def test_changes_carry_records_as_listed_in_application_order(daemon: ServerProcess) -> None:
    with Conn(daemon.path) as watcher, Conn(daemon.path) as writer:
        setup(writer)
        watcher.send(WID, wire.WATCH, watch_req())
        events(watcher, count=1)
        # a key repeated in one ADD: one PUT per request record, each the final record
        ok(writer, wire.ROUTE4_ADD, bulk(route4("10.0.0.0/8", 2), route4("10.0.0.0/8", 1,
                                                                          origin=7),
                                         flags=wire.ADD_REPLACE))
        final = route4("10.0.0.0/8", 1, origin=7)
        assert [e.record for e in events(watcher, count=2)] == [final, final]
        # a repeated key in one DEL: one DEL, at its first occurrence, with the whole record
        ok(writer, wire.ROUTE4_DEL, bulk(route4("10.1.0.0/16", 0), route4("10.0.0.0/8", 0),
                                         route4("10.1.0.0/16", 0), flags=wire.DEL_MISSING_OK))
        assert events(watcher, count=2) == [
            Event(4, wire.EV_DEL, wire.TABLE_ROUTE4, False, route4("10.1.0.0/16")),
            Event(4, wire.EV_DEL, wire.TABLE_ROUTE4, True, final)]
        # a nexthop DEL names only the nh_id; its event carries the whole record
        ok(writer, wire.NH_DEL, nh_ids(2))
        assert events(watcher, count=1) == [Event(5, wire.EV_DEL, wire.TABLE_NEXTHOP, True,
                                                  nexthop(2))]
        # FLUSH: key order, daemon-set fields as LIST shows them
        ok(writer, wire.CT_ADD, bulk(conntrack(3000), conntrack(1000), conntrack(2000)))
        put = events(watcher, count=3)
        assert [e.kind for e in put] == [wire.EV_PUT] * 3
        ok(writer, wire.CT_FLUSH, wire.FLUSH_REQ.pack(wire.SCOPE_ALL))
        flushed = events(watcher, count=3)
        by_sport = sorted(put, key=lambda e: wire.CONNTRACK.unpack(e.record)[6])  # key order
        assert [e.record for e in flushed] == [e.record for e in by_sport]
        assert [e.kind for e in flushed] == [wire.EV_DEL] * 3
        assert [e.last for e in flushed] == [False, False, True]


def test_requests_that_change_nothing_leave_the_revision(daemon: ServerProcess) -> None:
    with Conn(daemon.path) as conn:
        setup(conn)
        assert conn.call(8, wire.ROUTE4_ADD, bulk(route4("10.0.0.0/8"))).status == wire.EEXIST
        ok(conn, wire.ROUTE4_DEL, bulk(route4("10.9.0.0/16"), flags=wire.DEL_MISSING_OK))
        ok(conn, wire.FDB_FLUSH, wire.FLUSH_REQ.pack(wire.SCOPE_ALL))
        assert conn.stats()["revision"] == 2


def test_no_self_leaves_out_the_connections_own_changes(daemon: ServerProcess) -> None:
    with Conn(daemon.path) as watcher, Conn(daemon.path) as writer:
        setup(watcher)                                 # revisions 1 and 2 are its own
        ok(writer, wire.ROUTE6_ADD, bulk(route6("2001:db8::/32")))             # 3
        watcher.send(WID, wire.WATCH, watch_req(1, flags=wire.WATCH_NO_SELF))
        assert events(watcher, until_sync=True) == [
            Event(3, wire.EV_PUT, wire.TABLE_ROUTE6, True, route6("2001:db8::/32")),
            Event(3, wire.EV_SYNC, 0, False, b"")]
        watcher.send(8, wire.ROUTE4_DEL, bulk(route4("10.0.0.0/8")))           # 4, its own
        assert watcher.frame() == Frame(8, 0, b"")
        ok(writer, wire.ROUTE4_DEL, bulk(route4("10.1.0.0/16")))               # 5
        assert events(watcher, count=1) == [Event(5, wire.EV_DEL, wire.TABLE_ROUTE4, True,
                                                  route4("10.1.0.0/16"))]


def test_one_stream_per_connection_and_cancel(daemon: ServerProcess) -> None:
    with Conn(daemon.path) as conn:
        setup(conn)
        conn.send(WID, wire.WATCH, watch_req())
        events(conn, count=1)
        assert conn.call(9, wire.WATCH, watch_req()) == Frame(9, wire.EBUSY, b"")
        assert conn.call(10, wire.ROUTE4_LIST, list_req()) == Frame(10, wire.EBUSY, b"")
        conn.send(11, wire.STREAM_CANCEL, wire.CANCEL_REQ.pack(WID))
        assert conn.frame() == Frame(WID, wire.ECANCELED, b"")
        assert conn.frame() == Frame(11, 0, b"")
        assert conn.stats()["watchers"] == 0


def test_a_position_the_changelog_dropped_is_estale(daemon: ServerProcess) -> None:
    with Conn(daemon.path) as conn:
        setup(conn)
        for n in range(30):     # 60 changes in revisions of 2: the changelog keeps 50
            ok(conn, wire.ROUTE4_ADD, bulk(route4(f"11.{n}.0.0/16"), route4(f"12.{n}.0.0/16")))
        stats = conn.stats()
        assert (stats["revision"], stats["changelog_events"]) == (32, 50)
        oldest = stats["changelog_oldest"]
        assert oldest == 7
        assert conn.call(12, wire.WATCH, watch_req(oldest - 1)) == Frame(12, wire.ESTALE, b"")
        conn.send(WID, wire.WATCH, watch_req(oldest, tables=R4))
        got = events(conn, until_sync=True)
        assert [e.revision for e in got if e.last] == list(range(oldest + 1, 33))


def test_a_watcher_that_falls_out_of_the_changelog_ends_estale(tmp_path: Path) -> None:
    proc = start_reactord("--changelog-events", "2000", "--write-high", "4096",
                          "--write-low", "1024", directory=tmp_path)
    try:
        with Conn(proc.path) as watcher, Conn(proc.path) as writer:
            watcher.send(WID, wire.WATCH, watch_req())
            ok(writer, wire.NH_ADD, bulk(nexthop(1)))
            for n in range(100):        # 100,000 changes, the watcher reading none
                ok(writer, wire.ROUTE4_ADD,
                   bulk(*(route4(f"{10 + n // 50}.{n % 50}.{i >> 8}.{i & 255}/32")
                          for i in range(1000))))
            assert writer.stats()["watchers"] == 1   # paused, not yet told
            got: list[Event] = []
            while (frame := watcher.frame()).payload:
                got.append(decode_event(frame.payload))
            assert frame == Frame(WID, wire.ESTALE, b"")
            revisions = [e.revision for e in got if e.kind != wire.EV_SYNC]
            assert revisions == sorted(revisions) and len(got) < 100_000
            assert writer.stats()["watchers"] == 0
    finally:
        proc.kill()


def test_events_of_a_revision_come_before_later_replies_on_the_watching_connection(
        daemon: ServerProcess) -> None:
    """watch-v1 §6.4: a caught-up watcher's events are queued when the request is applied,
    so a reply to a request read afterwards on its connection comes after them."""
    with Conn(daemon.path) as watcher, Conn(daemon.path) as writer:
        setup(writer)
        watcher.send(WID, wire.WATCH, watch_req())
        events(watcher, count=1)                                    # SYNC 2
        ok(writer, wire.ROUTE4_ADD, bulk(route4("10.2.0.0/16")))    # revision 3, applied
        watcher.send(20, wire.STATS)
        first = watcher.frame()
        assert first.for_id == WID and decode_event(first.payload).revision == 3
        assert watcher.frame().for_id == 20
        # the watcher's own ADD and a STATS pipelined behind it: events, ADD reply, STATS reply
        watcher.send_raw(b"".join([
            wire.HEADER.pack(21, wire.ROUTE4_ADD, len(bulk(route4("10.3.0.0/16"))))
            + bulk(route4("10.3.0.0/16")),
            wire.HEADER.pack(22, wire.STATS, 0)]))
        order = [watcher.frame().for_id for _ in range(3)]
        assert order == [WID, 21, 22]
