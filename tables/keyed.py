"""Keyed tables: records kept in key order, with one generic key cursor.

The concept: a table stores each record ONCE, with its sort key: an int whose
order is the wire-v1 §6 key order (the key fields packed big-endian in
``key_size`` bytes, read as one integer).  ``KeyOrder`` is that order:

- the records live in ``RecordPages`` (``tables.record_pages``): pages of a
  key column and a record blob, found through a ``SortedDict``;
- a table whose LIST scope is not the leading key field (nexthop: scope
  vrf_id, key nh_id) also keeps a scope index, a ``SortedList`` of
  ``scope << key_bits | key``, so that every scoped listing is a key range
  (``irange``), never a per-record filter; its records are read from the
  pages by key;
- exact membership is the owner's: ``KeyedTable`` keeps the set of its keys;
  the route tables keep one dict of network numbers per (vrf, prefixlen),
  which longest-prefix match probes anyway.

All changes go through ``insert`` / ``insert_rows`` / ``replace`` /
``remove`` / ``remove_scope``, and each hands back what it replaced or took
out, in the order it was given (``remove_scope``: key order).

``KeyCursor`` is the state of one LIST: its range (scope), the last key it
emitted (an int, never a record, a position or an iterator) and its budget.
Each step bisects strictly after that key, at the moment of the step (a
``SortedDict`` bisect for the pages, an ``irange`` for the scope index), so
the wire-v1 §6 guarantees hold under any change between steps: keys strictly
ascending, none twice, each record the one current at the step, deleted
keys not emitted, keys present throughout emitted.

Complexity (n records, k per call): a record by key O(log n); changes of k
records O(k log n) (see ``RecordPages``); a cursor step of k records
O(log n + k) (scope index: O(k log n), one page lookup per record); flush
of a range O(log n + removed).  Memory per record: R blob bytes plus 8 key
bytes (keys of up to 64 bits) or a pointer and an int; a ``KeyedTable`` adds
a set entry, a scope index a list slot and an int.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from operator import itemgetter

from sortedcontainers import SortedList

from api import wire
from tables.blob import split
from tables.record_pages import RecordPages

__all__ = ["KeyCursor", "KeyOrder", "KeyedTable", "scope_range"]

_first, _second = itemgetter(0), itemgetter(1)


@dataclass(slots=True)
class KeyCursor:
    """One LIST: its range, the last key emitted and the count still allowed."""

    scoped_index: bool
    """Walk the scope index (scope << key_bits | key) instead of the key order."""
    start: int
    """Inclusive lower bound of the range (the scope's first key; 0 for all)."""
    stop: int | None
    """Exclusive upper bound of the range (``None``: no bound)."""
    last: int | None
    """The last key emitted (or the AFTER key), as stored in the walked index."""
    remaining: int | None
    """Records still allowed (``None``: unlimited)."""
    finished: bool = False
    truncated: bool = False
    """Set when the budget ran out while more matching keys existed (EXFULL)."""


def scope_range(scope: int, key_bits: int) -> tuple[int, int | None]:
    """The key range of a scope value (the top 16 of ``key_bits``); all for 0xffff."""
    if scope == wire.SCOPE_ALL:
        return 0, None
    shift = key_bits - 16
    return scope << shift, (scope + 1) << shift


class KeyOrder:
    """Records in key order, an optional scope index, and cursors over them.

    The order alone: whoever owns membership (``KeyedTable``'s set, or the
    route tables' prefix index) tells it what is new, replaced or removed.
    """

    __slots__ = ("_key_mask", "_pages", "_scope_of", "_scoped", "key_bits", "key_size",
                 "record_size")

    def __init__(self, key_size: int, record_size: int,
                 scope_of: Callable[[bytes], bytes] | None = None) -> None:
        """``scope_of(record)`` -> 2-byte big-endian scope, when it is not the key's lead."""
        self.key_size = key_size
        self.key_bits = 8 * key_size
        self.record_size = record_size
        self._pages = RecordPages(self.key_bits, record_size)
        self._scope_of = scope_of
        self._scoped: SortedList[int] | None = SortedList() if scope_of else None
        self._key_mask = (1 << self.key_bits) - 1

    def __len__(self) -> int:
        return len(self._pages)

    def items(self) -> Iterator[tuple[int, bytes]]:
        """(key, record) in key order (not safe across changes; for tests and tools)."""
        return self._pages.items()

    def record(self, key: int) -> bytes | None:
        """The record of ``key``, or None: O(log n)."""
        return self._pages.get(key)

    def _scoped_key(self, key: int, record: bytes) -> int:
        assert self._scope_of is not None
        return int.from_bytes(self._scope_of(record), "big") << self.key_bits | key

    # -- changes -------------------------------------------------------------------

    def insert(self, pairs: Iterable[tuple[int, bytes]]) -> None:
        """Add (key, record) pairs whose keys are absent and distinct, in any order."""
        ordered = sorted(pairs, key=_first)
        pages = self._pages
        pages.insert(pages.column(map(_first, ordered)), b"".join(map(_second, ordered)))
        if self._scoped is not None:
            self._scoped.update(self._scoped_key(key, record) for key, record in ordered)

    def insert_rows(self, rows: list[bytes]) -> None:
        """``insert`` for rows (the key big-endian in ``key_size`` bytes, then the
        record), in any order (the list is sorted in place): no object per key."""
        if self._scoped is not None:
            size = self.key_size
            self._scoped.update(self._scoped_key(int.from_bytes(row[:size], "big"), row[size:])
                                for row in rows)
        self._pages.insert_rows(rows)

    def replace(self, pairs: list[tuple[int, bytes]]) -> list[bytes]:
        """Give present keys new records; return the old records, in ``pairs`` order."""
        old = [self._pages.replace(key, record) for key, record in pairs]
        if self._scoped is not None:
            for (key, record), before in zip(pairs, old):
                self._scoped.remove(self._scoped_key(key, before))
                self._scoped.add(self._scoped_key(key, record))
        return old

    def remove(self, keys: Iterable[int]) -> list[bytes]:
        """Take out present distinct keys; return their records, in ``keys`` order."""
        keys = list(keys)
        records = self._pages.remove(keys)
        if self._scoped is not None:
            for key, record in zip(keys, records):
                self._scoped.remove(self._scoped_key(key, record))
        return records

    def remove_scope(self, scope: int) -> tuple[list[int], bytes]:
        """Take out the keys whose top 16 bits are ``scope`` (0xffff: all); return
        them and their records (end to end), in key order."""
        start, stop = scope_range(scope, self.key_bits)
        if stop is None:
            keys, records = list(self._pages.keys()), self._pages.records()
            self._pages.clear()
            if self._scoped is not None:
                self._scoped.clear()
            return keys, records
        keys, records = self._pages.remove_range(start, stop)
        if self._scoped is not None:
            for key, record in zip(keys, split(records, self.record_size)):
                self._scoped.remove(self._scoped_key(key, record))
        return keys, records

    # -- cursors -------------------------------------------------------------------

    def cursor(self, scope: int, after_key: int | None, max_count: int) -> KeyCursor:
        """A cursor over ``scope`` (0xffff: all), strictly after ``after_key`` if given."""
        scoped = self._scoped is not None and scope != wire.SCOPE_ALL
        start, stop = scope_range(scope, self.key_bits + 16 if scoped else self.key_bits)
        last = after_key
        if scoped and last is not None:
            last |= start
        return KeyCursor(scoped, start, stop, last, max_count or None)

    def step(self, cursor: KeyCursor, limit: int) -> list[bytes]:
        """The next records (at most ``limit``) current now; [] when the walk ended."""
        return split(self.step_blob(cursor, limit), self.record_size)

    def step_blob(self, cursor: KeyCursor, limit: int) -> bytes:
        """``step`` as one blob of the records end to end (no object per record)."""
        if cursor.finished:
            return b""
        take = self._take_scoped if cursor.scoped_index else self._pages.take
        start = cursor.start
        if cursor.last is not None:
            start = max(start, cursor.last + 1)
        remaining = cursor.remaining
        if remaining is not None:
            if remaining == 0:
                cursor.finished = True
                cursor.truncated = take(start, cursor.stop, 1)[1] is not None
                return b""
            limit = min(limit, remaining)
        blob, last_key = take(start, cursor.stop, limit)
        count = len(blob) // self.record_size
        if count < limit:
            cursor.finished = True  # nothing more in range at this moment
        if last_key is not None:
            cursor.last = last_key
            if remaining is not None:
                cursor.remaining = remaining - count
        return blob

    def _take_scoped(self, start: int, stop: int | None, limit: int) -> tuple[bytes, int | None]:
        """``RecordPages.take`` over the scope index: its keys by ``irange``, the
        records from the pages."""
        assert self._scoped is not None
        keys = list(islice(self._scoped.irange(start, stop, (True, False)), limit))
        if not keys:
            return b"", None
        mask, page_record = self._key_mask, self._pages.__getitem__
        return b"".join([page_record(key & mask) for key in keys]), keys[-1]

    def _check(self) -> None:
        """Assert the invariants: the pages' own, and a scope index holding exactly
        the scoped key of every record: O(n log n)."""
        self._pages._check()
        if self._scoped is not None:
            # sortedcontainers' own invariant check, which its stubs leave out
            self._scoped._check()   # type: ignore[attr-defined]
            assert list(self._scoped) == sorted(self._scoped_key(key, record)
                                                for key, record in self.items())


class KeyedTable(KeyOrder):
    """A ``KeyOrder`` plus ``keys``, the set of its sort keys (exact membership)."""

    __slots__ = ("keys",)

    def __init__(self, key_size: int, record_size: int,
                 scope_of: Callable[[bytes], bytes] | None = None) -> None:
        super().__init__(key_size, record_size, scope_of)
        self.keys: set[int] = set()
        """Read-only for callers: the sort keys present."""

    def __contains__(self, key: int) -> bool:
        return key in self.keys

    def record(self, key: int) -> bytes | None:
        """The record of sort key ``key``, or None (absent keys cost no bisect)."""
        return super().record(key) if key in self.keys else None

    def put_many(self, records: dict[int, bytes]) -> list[bytes]:
        """Insert or replace ``sort key -> record``; return the replaced records
        (in ``records`` order)."""
        keys = self.keys
        new: list[tuple[int, bytes]] = []
        replaced: list[tuple[int, bytes]] = []
        for pair in records.items():
            (replaced if pair[0] in keys else new).append(pair)
        keys.update(records)
        self.insert(new)
        return self.replace(replaced)

    def delete_many(self, keys: Iterable[int]) -> list[bytes]:
        """Remove the (present, distinct) sort ``keys``; return their records, in order."""
        keys = list(keys)
        self.keys.difference_update(keys)
        return self.remove(keys)

    def delete_range(self, scope: int) -> bytes:
        """Remove every key whose top 16 bits are ``scope`` (all for 0xffff); return
        their records end to end, in key order."""
        removed, records = self.remove_scope(scope)
        if scope == wire.SCOPE_ALL:
            self.keys.clear()
        else:
            self.keys.difference_update(removed)
        return records

    def _check(self) -> None:
        super()._check()
        assert self.keys == set(self._pages.keys()), "key set and key order disagree"
