"""SortedItems, KeyedTable and KeyCursor on their own (small LOAD to split and merge)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api import wire
from tables import TableError, gather, sorted_items, split, stage_adds, stage_deletes
from tables.keyed import KeyedTable, SortedItems, scope_range


@pytest.fixture(autouse=True)
def small_load(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(sorted_items, "LOAD", 8)
    yield


def check_shape(items: SortedItems, expected: list[bytes]) -> None:
    assert list(items) == expected
    assert len(items) == len(expected)
    lists = items._lists
    assert items._maxes == [sub[-1] for sub in lists]
    assert items._blobs == [bytearray(b"".join(i[-2:] for i in sub)) for sub in lists]
    assert all(sub for sub in lists)
    if len(lists) > 1:
        assert all(sorted_items.LOAD // 4 <= len(sub) <= 2 * sorted_items.LOAD for sub in lists)


ITEM = st.binary(min_size=3, max_size=3)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.lists(ITEM, max_size=30)), max_size=25))
def test_sorted_items_matches_a_sorted_set(ops: list[tuple[bool, list[bytes]]]) -> None:
    items, model = SortedItems(2), set()
    for adding, batch in ops:
        if adding:
            new = list({b for b in batch if b not in model})
            items.update(list(new))
            model.update(new)
        else:
            gone = list({b for b in batch if b in model} | set(sorted(model)[::3]))
            items.remove_many(list(gone))
            model.difference_update(gone)
        check_shape(items, sorted(model))


@settings(max_examples=100, deadline=None)
@given(st.sets(ITEM, max_size=60), ITEM, st.one_of(st.none(), ITEM), st.integers(0, 70))
def test_take_and_remove_range(values: set[bytes], start: bytes, stop: bytes | None,
                               limit: int) -> None:
    items = SortedItems(2)
    items.update(list(values))
    in_range = [v for v in sorted(values) if v >= start and (stop is None or v < stop)]
    records, last = items.take(start, stop, limit)
    assert records == b"".join(v[-2:] for v in in_range[:limit])
    assert last == (in_range[:limit][-1] if records else b"")
    assert items.remove_range(start, stop) == in_range
    check_shape(items, sorted(values - set(in_range)))


def test_replace_keeps_position_and_maxes() -> None:
    items = SortedItems(2)
    items.update([bytes([i, 0]) for i in range(20)])
    items.replace(bytes([7, 0]), bytes([7, 9]))
    items.replace(bytes([19, 0]), bytes([19, 1]))
    expected = [bytes([i, 0]) for i in range(20)]
    expected[7], expected[19] = bytes([7, 9]), bytes([19, 1])
    check_shape(items, expected)
    with pytest.raises(KeyError):
        items.replace(bytes([8, 5]), bytes([8, 6]))


def test_sorted_tail_appends_stay_balanced() -> None:
    items = SortedItems(2)
    for start in range(0, 200, 10):
        items.update([i.to_bytes(2, "big") for i in range(start, start + 10)])
    check_shape(items, [i.to_bytes(2, "big") for i in range(200)])


def test_gather_and_split() -> None:
    records = b"ABCDabcd"
    assert gather(records, 4, (3, -1, 0)) == b"D\0Ad\0a"
    assert split(b"abcdef", 2) == [b"ab", b"cd", b"ef"]
    assert split(b"", 3) == []


def test_scope_range() -> None:
    assert scope_range(wire.SCOPE_ALL) == (b"", None)
    assert scope_range(0x01FF) == (b"\x01\xff", b"\x02\x00")


def make_table(keys: list[int]) -> KeyedTable:
    """Keys of 3 bytes (scope = first 2); record = b'r' + key byte 2."""
    table = KeyedTable(3, 2)
    table.put_many({key: b"r" + bytes([key & 0xFF]) for key in keys})
    return table


def walk(table: KeyedTable, scope: int, after: int | None, max_count: int,
         limit: int) -> tuple[list[bytes], bool]:
    cursor = table.cursor(scope, after, max_count)
    records: list[bytes] = []
    while batch := table.step(cursor, limit):
        assert len(batch) <= limit
        records += batch
    return records, cursor.truncated


def test_cursor_scope_after_and_max_count() -> None:
    keys = [0x000001, 0x000005, 0x000102, 0x000103, 0x000200, 0x010001]
    table = make_table(keys)
    assert walk(table, wire.SCOPE_ALL, None, 0, 2)[0] == [b"r\x01", b"r\x05", b"r\x02", b"r\x03",
                                                          b"r\x00", b"r\x01"]
    assert walk(table, 1, None, 0, 1) == ([b"r\x02", b"r\x03"], False)
    assert walk(table, 1, 0x000102, 0, 5) == ([b"r\x03"], False)
    assert walk(table, 1, 0x000000, 0, 5) == ([b"r\x02", b"r\x03"], False)   # after < scope
    assert walk(table, 1, 0x000300, 0, 5) == ([], False)                     # after > scope
    assert walk(table, wire.SCOPE_ALL, None, 2, 5) == ([b"r\x01", b"r\x05"], True)
    assert walk(table, 1, None, 2, 1) == ([b"r\x02", b"r\x03"], False)       # exactly all
    assert walk(table, wire.SCOPE_ALL, 0xFFFFFF, 0, 5) == ([], False)
    assert walk(table, 7, None, 0, 5) == ([], False)


def test_cursor_sees_changes_between_steps() -> None:
    table = make_table([1, 2, 3, 4])
    cursor = table.cursor(wire.SCOPE_ALL, None, 0)
    assert table.step(cursor, 2) == [b"r\x01", b"r\x02"]
    table.delete_many([3])
    table.put_many({2: b"x\x02", 4: b"y\x04", 9: b"r\x09"})
    assert table.step(cursor, 5) == [b"y\x04", b"r\x09"]
    assert table.step(cursor, 5) == []


def test_cursor_budget_exfull_decided_at_the_end() -> None:
    table = make_table([1, 2, 3])
    cursor = table.cursor(wire.SCOPE_ALL, None, 2)
    assert table.step(cursor, 5) == [b"r\x01", b"r\x02"]
    table.delete_many([3])
    assert table.step(cursor, 5) == [] and not cursor.truncated


def test_scope_index_for_a_non_leading_scope() -> None:
    table = KeyedTable(1, 2, lambda record: bytes([0, record[0]]))
    table.put_many({1: b"\x05a", 2: b"\x06b", 3: b"\x05c"})
    assert walk(table, 5, None, 0, 1) == ([b"\x05a", b"\x05c"], False)
    assert walk(table, 5, 1, 0, 1) == ([b"\x05c"], False)
    table.put_many({1: b"\x06A"})                    # moves key 1 to scope 6
    assert walk(table, 6, None, 0, 9) == ([b"\x06A", b"\x06b"], False)
    assert walk(table, wire.SCOPE_ALL, None, 0, 9) == ([b"\x06A", b"\x06b", b"\x05c"], False)
    assert table.delete_range(wire.SCOPE_ALL) == 3
    assert walk(table, 6, None, 0, 9) == ([], False)


def test_stage_adds_and_deletes() -> None:
    present = {1}
    assert stage_adds(iter([(2, "a"), (2, "b")]), True, present) == {2: "b"}
    with pytest.raises(TableError) as error:
        stage_adds(iter([(2, "a"), (2, "b")]), False, present)
    assert error.value.status == wire.EEXIST
    with pytest.raises(TableError) as error:
        stage_adds(iter([(1, "a")]), False, present)
    assert error.value.status == wire.EEXIST
    assert stage_deletes(iter([1, 1, 5]), True, present) == [1]
    with pytest.raises(TableError) as error:
        stage_deletes(iter([1, 5]), False, present)
    assert error.value.status == wire.ENOENT
    with pytest.raises(TableError) as error:
        stage_deletes(iter([1]), False, present, busy=lambda key: True)
    assert error.value.status == wire.EBUSY
