"""WATCH events (api.events): decoding and the local copy they keep."""

from __future__ import annotations

import pytest

from api import wire
from api.events import Change, Event, EventError, Synced, TableCopy, decode_event, table_key

R4 = wire.TABLE_ROUTE4
NH = wire.TABLE_NEXTHOP


def route(vrf: int, prefix: bytes, plen: int, nh_id: int, origin: int = 0) -> bytes:
    return wire.ROUTE4.pack(vrf, plen, origin, prefix, nh_id)


def item(revision: int, kind: int, table: int, flags: int, record: bytes = b"") -> bytes:
    return wire.EVENT.pack(revision, kind, table, flags) + record


def event(revision: int, kind: int, table: int, record: bytes = b"", last: bool = False) -> Event:
    return decode_event(item(revision, kind, table, int(last), record))


A = route(0, bytes([10, 0, 0, 0]), 8, 1)
A2 = route(0, bytes([10, 0, 0, 0]), 8, 2, origin=9)   # same key as A
B = route(0, bytes([10, 1, 0, 0]), 16, 1)


def test_decode_reads_every_field() -> None:
    ev = decode_event(item(7, wire.EV_PUT, R4, wire.EV_LAST, A))
    assert (ev.revision, ev.kind, ev.table, ev.last, ev.record) == (7, wire.EV_PUT, R4, True, A)
    assert ev.key == table_key(R4, A2) != table_key(R4, B)
    assert str(ev) == "7 put route4 last"
    sync = decode_event(item(9, wire.EV_SYNC, 0, 0))
    assert (sync.kind, sync.record, sync.last) == (wire.EV_SYNC, b"", False)


@pytest.mark.parametrize("payload", [
    b"\x00" * 11,                                   # shorter than the header
    item(1, wire.EV_PUT, R4, 0, A[:-1]),            # record of the wrong size
    item(1, wire.EV_PUT, 9, 0, A),                  # unknown table
    item(1, 7, R4, 0, A),                           # unknown kind
    item(1, wire.EV_PUT, R4, 2, A),                 # unknown flag
    item(1, wire.EV_SYNC, R4, 0),                   # SYNC with a table
    item(1, wire.EV_SYNC, 0, 0, A),                 # SYNC with a record
    item(0, wire.EV_SNAP, R4, wire.EV_LAST, A),     # SNAP flagged LAST (regression)
    item(5, wire.EV_SNAP, R4, 0, A),                # SNAP with a revision (regression)
])
def test_decode_refuses_what_watch_v1_does_not_allow(payload: bytes) -> None:
    with pytest.raises(EventError):
        decode_event(payload)


def test_a_snapshot_is_staged_and_replaces_the_copy_at_sync_as_differences() -> None:
    copy = TableCopy(wire.table_bit(R4))
    copy.begin_snapshot()
    assert list(copy.apply(event(0, wire.EV_SNAP, R4, A))) == []
    assert list(copy.apply(event(0, wire.EV_SNAP, R4, B))) == []
    assert list(copy.apply(event(3, wire.EV_DEL, R4, B, last=True))) == []  # replay
    assert copy.tables[R4] == {}                     # not exact yet: unchanged
    updates = list(copy.apply(event(3, wire.EV_SYNC, 0)))
    assert updates == [Change(R4, table_key(R4, A), None, A), Synced(3)]
    assert copy.tables[R4] == {table_key(R4, A): A} and copy.revision == 3
    # live changes apply in place; LAST says the copy is exact
    assert list(copy.apply(event(4, wire.EV_PUT, R4, A2))) == [
        Change(R4, table_key(R4, A), A, A2)]
    assert list(copy.apply(event(4, wire.EV_PUT, R4, B, last=True))) == [
        Change(R4, table_key(R4, B), None, B), Synced(4)]
    # a second snapshot (after ESTALE) reports only what differs
    copy.begin_snapshot()
    for ev in (event(0, wire.EV_SNAP, R4, A2),):
        assert list(copy.apply(ev)) == []
    assert list(copy.apply(event(6, wire.EV_SYNC, 0))) == [
        Change(R4, table_key(R4, B), B, None), Synced(6)]


def test_an_event_of_an_unwatched_table_is_an_error() -> None:
    copy = TableCopy(wire.table_bit(NH))
    with pytest.raises(EventError):
        list(copy.apply(event(1, wire.EV_PUT, R4, A)))


def test_a_resumed_sync_at_the_last_revision_is_not_reported_again() -> None:
    """Regression: a resumed stream ends its replay with LAST of revision R and
    then SYNC R; the copy was exact once, at R: one Synced, not two."""
    copy = TableCopy(wire.table_bit(R4))
    assert list(copy.apply(event(2, wire.EV_SYNC, 0))) == [Synced(2)]
    assert list(copy.apply(event(3, wire.EV_PUT, R4, A, last=True))) == [
        Change(R4, table_key(R4, A), None, A), Synced(3)]
    assert list(copy.apply(event(3, wire.EV_SYNC, 0))) == []
    assert list(copy.apply(event(4, wire.EV_DEL, R4, A, last=True))) == [
        Change(R4, table_key(R4, A), A, None), Synced(4)]
    assert copy.revision == 4
