"""RecordPages, KeyedTable and KeyCursor on their own (small LOAD to cut and join pages)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api import wire
from tables import record_pages
from tables.blob import gather, split
from tables.errors import TableError
from tables.keyed import KeyedTable, KeyOrder, scope_range
from tables.record_pages import RecordPages
from tables.staging import stage_adds, stage_deletes


@pytest.fixture(autouse=True)
def small_load(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(record_pages, "LOAD", 8)
    yield


def check_shape(items: RecordPages, expected: list[tuple[int, bytes]]) -> None:
    items._check()
    assert list(items.items()) == expected
    assert list(items.keys()) == [key for key, _ in expected]
    assert items.records() == b"".join(record for _, record in expected)
    assert len(items) == len(expected)


def rec(key: int) -> bytes:
    """A 2-byte record told apart by key."""
    return (key * 7919 % 65521).to_bytes(2, "little")


def row(key: int, key_bits: int) -> bytes:
    return key.to_bytes(-(-key_bits // 8), "big") + rec(key)


KEY = st.integers(0, 600)
WIDTHS = st.sampled_from([16, 72])
"""Key columns packed in array('Q') (16 bits) and lists of ints (72 bits)."""


@settings(max_examples=150, deadline=None)
@given(WIDTHS, st.lists(st.tuples(st.sampled_from(["add", "rows", "del", "flush"]),
                                  st.lists(KEY, max_size=40)), max_size=25), st.randoms())
def test_record_pages_match_a_sorted_dict(key_bits: int, ops: list[tuple[str, list[int]]],
                                          rng: random.Random) -> None:
    items, model = RecordPages(key_bits, 2), set[int]()
    for op, batch in ops:
        if op == "del":
            gone = list({k for k in batch if k in model} | set(sorted(model)[::3]))
            rng.shuffle(gone)
            assert items.remove(gone) == [rec(k) for k in gone]   # in the order asked
            model.difference_update(gone)
        elif op == "flush":
            start, stop = sorted(batch[:2]) if len(batch) > 1 else (0, None)
            in_range = [k for k in sorted(model) if k >= start and (stop is None or k < stop)]
            assert items.remove_range(start, stop) == (in_range, b"".join(map(rec, in_range)))
            model.difference_update(in_range)
        else:
            new = sorted({k for k in batch if k not in model})
            if op == "add":
                items.insert(items.column(new), b"".join(map(rec, new)))
            else:
                items.insert_rows([row(k, key_bits) for k in reversed(new)])
            model.update(new)
        check_shape(items, [(k, rec(k)) for k in sorted(model)])
    for key in range(-1, 602, 7):
        assert items.get(key) == (rec(key) if key in model else None)


@settings(max_examples=100, deadline=None)
@given(WIDTHS, st.sets(KEY, max_size=60), KEY, st.one_of(st.none(), KEY), st.integers(0, 70))
def test_take_and_remove_range(key_bits: int, values: set[int], start: int, stop: int | None,
                               limit: int) -> None:
    items = RecordPages(key_bits, 2)
    items.insert_rows([row(k, key_bits) for k in values])
    in_range = [v for v in sorted(values) if v >= start and (stop is None or v < stop)]
    records, last = items.take(start, stop, limit)
    assert records == b"".join(map(rec, in_range[:limit]))
    assert last == (in_range[:limit][-1] if records else None)
    assert items.remove_range(start, stop) == (in_range, b"".join(map(rec, in_range)))
    check_shape(items, [(k, rec(k)) for k in sorted(values - set(in_range))])


def test_replace_keeps_position_and_returns_the_old_record() -> None:
    items = RecordPages(16, 2)
    items.insert(items.column(range(20)), b"".join(map(rec, range(20))))
    assert items.replace(7, b"xx") == rec(7)
    assert items.replace(19, b"yy") == rec(19)
    expected = [(k, rec(k)) for k in range(20)]
    expected[7], expected[19] = (7, b"xx"), (19, b"yy")
    check_shape(items, expected)
    with pytest.raises(KeyError):
        items.replace(20, b"zz")
    assert items.get(20) is None and items.get(-1) is None


def test_sorted_tail_appends_stay_balanced() -> None:
    items = RecordPages(16, 2)
    for start in range(0, 200, 10):
        items.insert_rows([row(k, 16) for k in range(start + 9, start - 1, -1)])
    check_shape(items, [(k, rec(k)) for k in range(200)])


def test_a_large_batch_into_one_page_is_merged_then_cut() -> None:
    """Regression: a cut into pieces of ceil(n / parts) left a last piece under
    LOAD/4 (1001 items at LOAD 8: 125 pieces of 8 and one of 1)."""
    items = RecordPages(72, 2)
    items.insert([0, 1000], rec(0) + rec(1000))
    middle = list(range(1, 1000))
    items.insert(middle, b"".join(map(rec, middle)))
    check_shape(items, [(k, rec(k)) for k in range(1001)])
    fresh = RecordPages(16, 2)
    fresh.insert_rows([row(k, 16) for k in range(1001)])
    check_shape(fresh, [(k, rec(k)) for k in range(1001)])


def pages_of(items: RecordPages) -> list[list[int]]:
    """The keys of each page, in order (private: the page shapes under test)."""
    return [list(page.keys) for page in items._pages.values()]


def test_pages_are_keyed_by_their_first_key_through_every_change() -> None:
    items = RecordPages(16, 2)
    items.insert_rows([row(k, 16) for k in range(10, 50)])      # 40 keys: 5 pages of 8
    assert pages_of(items) == [list(range(lo, lo + 8)) for lo in range(10, 50, 8)]
    items.insert([3], rec(3))                                   # below every page
    assert list(items._pages)[:2] == [3, 18]
    assert items.remove([18, 19]) == [rec(18), rec(19)]         # a page's first keys
    assert list(items._pages)[:2] == [3, 20]
    assert items.take(18, None, 2) == (rec(20) + rec(21), 21)   # resumes inside a page
    check_shape(items, [(k, rec(k)) for k in [3, *range(10, 18), *range(20, 50)]])


def test_short_pages_are_joined_and_emptied_ones_dropped() -> None:
    items = RecordPages(16, 2)
    items.insert_rows([row(k, 16) for k in range(32)])          # 4 pages of 8
    items.remove(list(range(9, 16)))                            # page 2 keeps 1 key (< 2)
    assert pages_of(items) == [[0, 1, 2, 3, 4, 5, 6, 7, 8], list(range(16, 24)),
                               list(range(24, 32))]
    items.remove(list(range(0, 8)))                             # the first page: joins the next
    assert pages_of(items) == [[8, *range(16, 24)], list(range(24, 32))]
    assert items.remove_range(16, 31) == (list(range(16, 31)),
                                          b"".join(map(rec, range(16, 31))))
    assert pages_of(items) == [[8, 31]]
    check_shape(items, [(8, rec(8)), (31, rec(31))])
    assert items.remove([31, 8]) == [rec(31), rec(8)]
    check_shape(items, [])
    assert items.take(0, None, 5) == (b"", None)


def test_remove_of_an_absent_key_is_a_key_error() -> None:
    items = RecordPages(16, 2)
    with pytest.raises(KeyError):
        items.remove([1])
    items.insert([5], rec(5))
    for absent in (1, 6):
        with pytest.raises(KeyError):
            items.remove([absent])


@pytest.mark.parametrize("corrupt", ["order", "blob", "mis-keyed", "length", "long", "short"])
def test_check_finds_each_broken_invariant(corrupt: str) -> None:
    """``_check`` must fail on a broken structure, or the stateful machines prove nothing."""
    items = RecordPages(16, 2)
    items.insert_rows([row(k, 16) for k in range(0, 64, 2)])    # 4 pages of 8
    items._check()
    page = items._pages.peekitem(1)[1]
    if corrupt == "order":
        page.keys[2], page.keys[3] = page.keys[3], page.keys[2]
    elif corrupt == "blob":
        del page.blob[:2]
    elif corrupt == "mis-keyed":
        page.keys[0] -= 1
    elif corrupt == "length":
        items._len += 1
    elif corrupt == "long":   # the last page, so that only its length is wrong
        page = items._pages.peekitem(-1)[1]
        page.keys.extend(range(100, 110))
        page.blob += bytes(20)
    else:
        del page.keys[1:], page.blob[2:]
    with pytest.raises(AssertionError):
        items._check()


def test_packed_keys_use_the_whole_64_bits() -> None:
    items = RecordPages(64, 2)
    keys = [0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1]
    items.insert_rows([k.to_bytes(8, "big") + rec(k) for k in reversed(keys)])
    check_shape(items, [(k, rec(k)) for k in keys])
    assert items.take((1 << 63), None, 9) == (rec(1 << 63) + rec((1 << 64) - 1), (1 << 64) - 1)


def test_gather_and_split() -> None:
    records = b"ABCDabcd"
    assert gather(records, 4, (3, -1, 0)) == b"D\0Ad\0a"
    assert split(b"abcdef", 2) == [b"ab", b"cd", b"ef"]
    assert split(b"", 3) == []


def test_scope_range() -> None:
    assert scope_range(wire.SCOPE_ALL, 24) == (0, None)
    assert scope_range(0x01FF, 24) == (0x01FF00, 0x020000)


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


def test_changes_hand_back_records_in_the_order_asked() -> None:
    table = make_table([1, 2, 3, 4])
    assert table.put_many({4: b"x\x04", 9: b"r\x09", 1: b"y\x01"}) == [b"r\x04", b"r\x01"]
    assert table.delete_many([9, 1, 3]) == [b"r\x09", b"y\x01", b"r\x03"]
    table._check()
    order = KeyOrder(3, 2)
    order.insert([(0x000102, b"b2"), (0x000001, b"a1"), (0x000101, b"b1")])
    assert order.remove_scope(1) == ([0x000101, 0x000102], b"b1b2")          # key order
    assert order.remove_scope(wire.SCOPE_ALL) == ([0x000001], b"a1")
    order._check()


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
    assert len(table.delete_range(wire.SCOPE_ALL)) == 3 * table.record_size
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
    assert stage_deletes(iter([9, 3, 9, 7, 3]), False, {3, 7, 9}) == [9, 3, 7]  # request order
    with pytest.raises(TableError) as error:
        stage_deletes(iter([1, 5]), False, present)
    assert error.value.status == wire.ENOENT
    with pytest.raises(TableError) as error:
        stage_deletes(iter([1]), False, present, busy=lambda key: "in use")
    assert error.value.status == wire.EBUSY
