"""Keyed tables: records kept in key order, with one generic key cursor.

The concept: a table stores each record ONCE, with its sort key: an int whose
order is the wire-v1 §6 key order (the key fields packed big-endian in
``key_size`` bytes, read as one integer).  The records live in

- ``SortedItems`` (module ``tables.sorted_items``, re-exported here with
  ``LOAD``): sublists of ~``LOAD`` keys, each with a blob holding their
  records end to end, walked by LIST: a batch is one bisect, then slices of
  the blobs: no lookup per record, and no Python object per record when keys
  fit in 64 bits;
- exact membership: ``KeyedTable`` keeps the set of its keys; the route
  tables keep one set of network numbers per (vrf, prefixlen), which
  longest-prefix match probes anyway.  A record by key is read from the
  blobs (two bisects).

A table whose LIST scope is not the leading key field (nexthop: scope vrf_id,
key nh_id) keeps a second ``SortedItems`` keyed by ``scope << key_bits | key``,
so that every scoped listing is a key range, never a per-record filter.

``KeyCursor`` is the state of one LIST: its range (scope), the last key it
emitted (an int, never a record, a position or an iterator) and its budget.
Each step bisects strictly after that key, at the moment of the step, so the
wire-v1 §6 guarantees hold under any change between steps: keys strictly
ascending, none twice, each record the one current at the step, deleted keys
not emitted, keys present throughout emitted.

Complexity (n items, k per call, L = LOAD): membership O(1), a record by key
O(log n); ``put_many`` and ``delete_many`` O(k log n) compares plus O(k·L)
moves (a batch past the last key, as in a load in key order: O(k) appends);
a cursor step of k records O(log n + k); flush of a range O(n/L + removed).
Memory per record: R blob bytes plus 8 key bytes (keys of up to 64 bits) or
a pointer and an int; a ``KeyedTable`` adds a set entry.  A route4 at 1M:
20 B here, ~95 B in all with its prefix index (RSS, ``tools.bench.tables``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter

from api import wire
from tables import split
from tables.sorted_items import LOAD, SortedItems

__all__ = ["LOAD", "KeyCursor", "KeyOrder", "KeyedTable", "SortedItems", "scope_range"]

_first, _second = itemgetter(0), itemgetter(1)


@dataclass(slots=True)
class KeyCursor:
    """One LIST: its range, the last key emitted and the count still allowed."""

    scoped_index: bool
    """Walk the scope index (scope << key_bits | key) instead of the key index."""
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
    """Records in key order (``SortedItems``), an optional scope index, and cursors.

    The order alone: whoever owns membership (``KeyedTable``'s set, or the
    route tables' per-prefix-length sets) tells it what is new, replaced or
    removed.
    """

    __slots__ = ("_by_scope", "_items", "_scope_of", "key_bits", "key_size", "record_size")

    def __init__(self, key_size: int, record_size: int,
                 scope_of: Callable[[bytes], bytes] | None = None) -> None:
        """``scope_of(record)`` -> 2-byte big-endian scope, when it is not the key's lead."""
        self.key_size = key_size
        self.key_bits = 8 * key_size
        self.record_size = record_size
        self._items = SortedItems(self.key_bits, record_size)
        self._scope_of = scope_of
        self._by_scope = SortedItems(self.key_bits + 16, record_size) if scope_of else None

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> Iterator[tuple[int, bytes]]:
        """(key, record) in key order (not safe across changes; for tests and tools)."""
        return self._items.items()

    def record(self, key: int) -> bytes | None:
        """The record of ``key``, or None: O(log n)."""
        return self._items.record(key)

    def insert(self, pairs: Iterable[tuple[int, bytes]]) -> None:
        """Add (key, record) pairs whose keys are absent and distinct, in any order."""
        ordered = sorted(pairs, key=_first)
        if self._by_scope is not None:
            self._insert_scoped(ordered)
        self._items.update(list(map(_first, ordered)), b"".join(map(_second, ordered)))

    def insert_rows(self, rows: list[bytes]) -> None:
        """``insert`` for rows (the key big-endian in ``key_size`` bytes, then the
        record), in any order (the list is sorted in place): no object per key."""
        if self._by_scope is not None:
            size = self.key_size
            self._insert_scoped([(int.from_bytes(row[:size], "big"), row[size:])
                                 for row in rows])
        self._items.update_rows(rows)

    def _insert_scoped(self, pairs: list[tuple[int, bytes]]) -> None:
        assert self._by_scope is not None
        scoped = sorted((self._scoped(key, record), record) for key, record in pairs)
        self._by_scope.update(list(map(_first, scoped)), b"".join(map(_second, scoped)))

    def replace(self, pairs: list[tuple[int, bytes]]) -> list[bytes]:
        """Give present keys new records; return the old records, in ``pairs`` order."""
        old = [self._items.replace(key, record) for key, record in pairs]
        if self._by_scope is not None and pairs:
            self._by_scope.remove_many(sorted(
                (self._scoped(key, record) for (key, _new), record in zip(pairs, old)),
                reverse=True))
            self._insert_scoped(pairs)
        return old

    def remove(self, keys: Iterable[int]) -> list[bytes]:
        """Take out present distinct keys; return their records (in no particular order)."""
        ordered = sorted(keys, reverse=True)
        records = self._items.remove_many(ordered)
        if self._by_scope is not None:
            self._by_scope.remove_many(sorted(map(self._scoped, ordered, records),
                                              reverse=True))
        return records

    def remove_scope(self, scope: int) -> list[int]:
        """Take out the keys whose top 16 bits are ``scope`` (0xffff: all); return them."""
        start, stop = scope_range(scope, self.key_bits)
        if stop is None:
            keys = list(self._items.keys())
            self._items.clear()
            if self._by_scope is not None:
                self._by_scope.clear()
            return keys
        keys, records = self._items.remove_range(start, stop)
        if self._by_scope is not None:
            scoped = map(self._scoped, keys, split(records, self.record_size))
            self._by_scope.remove_many(sorted(scoped, reverse=True))
        return keys

    def _scoped(self, key: int, record: bytes) -> int:
        assert self._scope_of is not None
        return int.from_bytes(self._scope_of(record), "big") << self.key_bits | key

    def cursor(self, scope: int, after_key: int | None, max_count: int) -> KeyCursor:
        """A cursor over ``scope`` (0xffff: all), strictly after ``after_key`` if given."""
        scoped = self._by_scope is not None and scope != wire.SCOPE_ALL
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
        index = self._by_scope if cursor.scoped_index else self._items
        assert index is not None
        start = cursor.start
        if cursor.last is not None:
            start = max(start, cursor.last + 1)
        remaining = cursor.remaining
        if remaining is not None:
            if remaining == 0:
                cursor.finished = True
                cursor.truncated = bool(index.take(start, cursor.stop, 1)[0])
                return b""
            limit = min(limit, remaining)
        blob, last_key = index.take(start, cursor.stop, limit)
        count = len(blob) // self.record_size
        if count < limit:
            cursor.finished = True  # nothing more in range at this moment
        if last_key is not None:
            cursor.last = last_key
            if remaining is not None:
                cursor.remaining = remaining - count
        return blob


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
        """Insert or replace ``sort key -> record``; return the replaced records."""
        keys = self.keys
        new: list[tuple[int, bytes]] = []
        replaced: list[tuple[int, bytes]] = []
        for pair in records.items():
            (replaced if pair[0] in keys else new).append(pair)
        keys.update(records)
        self.insert(new)
        return self.replace(replaced)

    def delete_many(self, keys: Iterable[int]) -> list[bytes]:
        """Remove the (present, distinct) sort ``keys``; return their records."""
        keys = list(keys)
        self.keys.difference_update(keys)
        return self.remove(keys)

    def delete_range(self, scope: int) -> int:
        """Remove every key whose top 16 bits are ``scope`` (all for 0xffff): the count."""
        removed = self.remove_scope(scope)
        if scope == wire.SCOPE_ALL:
            self.keys.clear()
        else:
            self.keys.difference_update(removed)
        return len(removed)
