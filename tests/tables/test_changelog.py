"""The changelog (tables.changelog): revisions, retention, and reading by position."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api import wire
from tables.changelog import Changelog, Chunk, Position

SIZES = {wire.TABLE_NEXTHOP: 36, wire.TABLE_ROUTE4: 12, wire.TABLE_ROUTE6: 24,
         wire.TABLE_FDB: 24, wire.TABLE_CONNTRACK: 56}

Change = tuple[int, int, bytes]            # table, kind, record
Event = tuple[int, int, int, int, bytes]   # revision, kind, table, flags, record


def record(table: int, n: int) -> bytes:
    return n.to_bytes(4, "little") * (SIZES[table] // 4)


changes_st = st.lists(
    st.tuples(st.sampled_from(list(SIZES)), st.sampled_from([wire.EV_PUT, wire.EV_DEL]),
              st.integers(0, 1000)).map(lambda t: (t[0], t[1], record(t[0], t[2]))),
    min_size=1, max_size=8)
requests_st = st.lists(st.tuples(st.integers(1, 3), changes_st), max_size=12)


def apply(log: Changelog, origin: int, changes: list[Change]) -> None:
    with log.request(origin):
        for table, kind, rec in changes:
            log.record(table, kind, SIZES[table], rec)


def events_of(chunks: list[Chunk]) -> list[Event]:
    out: list[Event] = []
    for chunk in chunks:
        revision, kind, table, flags = wire.EVENT.unpack(chunk.header)
        assert flags == 0
        recs = [chunk.records[i:i + chunk.record_size]
                for i in range(0, len(chunk.records), chunk.record_size)]
        for i, rec in enumerate(recs):
            last = chunk.last and i == len(recs) - 1
            out.append((revision, kind, table, wire.EV_LAST if last else 0, rec))
    return out


def expected(history: list[tuple[int, list[Change]]], after: int, mask: int,
             skip: int) -> list[Event]:
    out: list[Event] = []
    for number, (origin, changes) in enumerate(history, start=1):
        if number <= after or (skip and origin == skip):
            continue
        chosen = [c for c in changes if wire.table_bit(c[0]) & mask]
        for i, (table, kind, rec) in enumerate(chosen):
            out.append((number, kind, table, wire.EV_LAST if i == len(chosen) - 1 else 0, rec))
    return out


def drain(log: Changelog, position: Position, mask: int, skip: int,
          budget: int) -> tuple[list[Event], Position]:
    events: list[Event] = []
    for _ in range(10_000):
        chunks, position = log.read(position, mask, skip, budget)
        if not chunks:
            break
        got = events_of(chunks)
        assert len(got) <= budget
        assert b"".join(c.items() for c in chunks) == b"".join(
            wire.EVENT.pack(*e[:4]) + e[4] for e in got)
        events += got
    return events, position


@settings(max_examples=200, deadline=None)
@given(requests_st, st.integers(0, 0x1F), st.integers(0, 3), st.integers(1, 30))
def test_a_reader_gets_every_selected_change_once_in_order(
        requests: list[tuple[int, list[Change]]], mask: int, skip: int, budget: int) -> None:
    log = Changelog(max_events=10_000)
    for origin, changes in requests:
        apply(log, origin, changes)
    assert log.revision == len(requests) and log.oldest == 0
    events, position = drain(log, Position(1, 0), mask, skip, budget)
    assert events == expected(requests, 0, mask, skip)
    assert position == Position(log.revision + 1, 0)


@settings(max_examples=100, deadline=None)
@given(requests_st, st.integers(1, 0x1F), st.integers(1, 20), st.data())
def test_reading_in_steps_between_commits_equals_reading_at_the_end(
        requests: list[tuple[int, list[Change]]], mask: int, budget: int,
        data: st.DataObject) -> None:
    log = Changelog(max_events=10_000)
    position, events = Position(1, 0), []
    for origin, changes in requests:
        apply(log, origin, changes)
        if data.draw(st.booleans()):
            chunks, position = log.read(position, mask, 0, budget)
            events += events_of(chunks)
    rest, position = drain(log, position, mask, 0, budget)
    assert events + rest == expected(requests, 0, mask, 0)


@settings(max_examples=200, deadline=None)
@given(requests_st, st.integers(1, 20))
def test_retention_drops_whole_revisions_oldest_first(
        requests: list[tuple[int, list[Change]]], bound: int) -> None:
    log = Changelog(max_events=bound)
    for origin, changes in requests:
        apply(log, origin, changes)
        assert log.events <= bound
    counts = [len(changes) for _origin, changes in requests]
    # the retained revisions: the longest suffix whose total fits the bound
    oldest, total = len(counts), 0
    while oldest > 0 and total + counts[oldest - 1] <= bound:
        total += counts[oldest - 1]
        oldest -= 1
    assert (log.oldest, log.events) == (oldest, total)
    for start in range(len(requests) + 2):
        assert log.stale(Position(start, 0)) == (start <= oldest)
    if not log.stale(Position(oldest + 1, 0)):
        events, _ = drain(log, Position(oldest + 1, 0), 0x1F, 0, 1000)
        assert events == expected(requests, oldest, 0x1F, 0)


def test_a_revision_larger_than_the_bound_is_not_retained_nor_anything_older() -> None:
    log = Changelog(max_events=3)
    apply(log, 1, [(wire.TABLE_ROUTE4, wire.EV_PUT, record(wire.TABLE_ROUTE4, 1))])
    apply(log, 1, [(wire.TABLE_ROUTE4, wire.EV_PUT, record(wire.TABLE_ROUTE4, n))
                   for n in range(4)])
    assert (log.revision, log.oldest, log.events) == (2, 2, 0)
    assert log.stale(Position(2, 0)) and not log.stale(Position(3, 0))
    assert log.read(Position(3, 0), 0x1F, 0, 1000) == ([], Position(3, 0))


def test_nothing_recorded_is_no_revision_and_a_change_outside_a_request_is_one() -> None:
    log = Changelog()
    with log.request(7):
        pass
    assert log.revision == 0
    log.record(wire.TABLE_ROUTE4, wire.EV_PUT, 12, record(wire.TABLE_ROUTE4, 1) * 2)
    assert (log.revision, log.events, log.origin_of(1)) == (1, 2, 0)


def test_a_request_that_raises_still_commits_what_it_recorded() -> None:
    log = Changelog()
    with pytest.raises(RuntimeError), log.request(5):
        log.record(wire.TABLE_FDB, wire.EV_DEL, 24, record(wire.TABLE_FDB, 1))
        raise RuntimeError("after the apply step")
    assert (log.revision, log.origin_of(1)) == (1, 5)


def test_consecutive_changes_of_one_table_and_kind_share_a_segment() -> None:
    log = Changelog()
    apply(log, 1, [(wire.TABLE_ROUTE4, wire.EV_PUT, record(wire.TABLE_ROUTE4, n))
                   for n in range(3)])
    chunks, _ = log.read(Position(1, 0), 0x1F, 0, 10_000)
    assert len(chunks) == 1 and chunks[0].last and len(chunks[0].records) == 36


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Changelog(max_events=0)
    with pytest.raises(ValueError):
        Changelog().record(wire.TABLE_ROUTE4, wire.EV_PUT, 12, bytes(13))
