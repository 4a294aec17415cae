"""Keyed tables: records kept in key order, with one generic key cursor.

The concept: a table stores each record ONCE, as an *item*: the big-endian
sort key (``key_size`` bytes, so that ``memcmp`` order equals the wire-v1 §6
key order) followed by the wire record (``record_size`` bytes).  Items live in

- ``SortedItems`` (module ``tables.sorted_items``, re-exported here with
  ``LOAD``), a two-level sorted list (sublists of ~``LOAD`` items, the
  maximum of each, and a blob per sublist holding its records end to end),
  walked by LIST: a batch is one bisect, then slices of the blobs cut into
  records: no lookup per record, and contiguous memory however scattered
  the item objects are;
- exact lookups by the sort key read as a big-endian integer: ``KeyedTable``
  keeps one dict ``key -> item``; the route tables keep one dict per
  (vrf, prefixlen), which longest-prefix match probes anyway.

A table whose LIST scope is not the leading key field (nexthop: scope vrf_id,
key nh_id) keeps a second ``SortedItems`` of ``scope + key + record`` items, so
that every scoped listing is a key range, never a per-record filter.

``KeyCursor`` is the state of one LIST: its range (scope), the last key it
emitted (bytes, never an item, a position or an iterator) and its budget.
Each step bisects strictly after that key, at the moment of the step, so the
wire-v1 §6 guarantees hold under any change between steps: keys strictly
ascending, none twice, each record the one current at the step, deleted keys
not emitted, keys present throughout emitted.

Complexity (n items, k per call, L = LOAD): lookup O(1); ``put_many`` and
``delete_many`` O(k log n) compares plus O(k·L) pointer and byte moves (a
batch past the last key, as in a load in key order: O(k) appends); a cursor
step of k records O(log n + k), touching no item object but the last; flush
of a range O(n/L + removed).  Memory: the item, one pointer and R blob bytes
per record (~144 B per route4 at 1M with the route dicts, tracemalloc).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from api import wire
from tables import split
from tables.sorted_items import LOAD, SortedItems

__all__ = ["LOAD", "KeyCursor", "KeyOrder", "KeyedTable", "SortedItems", "scope_range"]

@dataclass(slots=True)
class KeyCursor:
    """One LIST: its range, the last key emitted and the count still allowed."""

    scoped_index: bool
    """Walk the scope index (scope + key) instead of the key index."""
    start: bytes
    """Inclusive lower bound of the range (the scope prefix; empty for all)."""
    stop: bytes | None
    """Exclusive upper bound of the range (``None``: no bound)."""
    last: bytes | None
    """The last key emitted (or the AFTER key), as stored in the walked index."""
    remaining: int | None
    """Records still allowed (``None``: unlimited)."""
    finished: bool = False
    truncated: bool = False
    """Set when the budget ran out while more matching keys existed (EXFULL)."""


def scope_range(scope: int) -> tuple[bytes, bytes | None]:
    """The item range of a scope value (a big-endian u16 prefix); all for 0xffff."""
    if scope == wire.SCOPE_ALL:
        return b"", None
    return scope.to_bytes(2, "big"), (scope + 1).to_bytes(2, "big")


class KeyOrder:
    """Items in key order (``SortedItems``), an optional scope index, and cursors.

    The order alone: whoever owns the exact lookups (``KeyedTable``'s dict, or
    the route tables' per-prefix-length dicts) tells it what is new, replaced
    or removed.
    """

    __slots__ = ("key_size", "record_size", "_items", "_scope_of", "_by_scope", "_after_pad")

    def __init__(self, key_size: int, record_size: int,
                 scope_of: Callable[[bytes], bytes] | None = None) -> None:
        """``scope_of(record)`` -> 2-byte big-endian scope, when it is not the key's lead."""
        self.key_size = key_size
        self.record_size = record_size
        self._items = SortedItems(record_size)
        self._scope_of = scope_of
        self._by_scope = SortedItems(record_size) if scope_of else None
        self._after_pad = b"\xff" * (record_size + 1)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> Iterator[bytes]:
        """All items in key order (not safe across changes; for tests and tools)."""
        return iter(self._items)

    def insert(self, items: list[bytes]) -> None:
        """Add items whose keys are absent (the list is sorted in place)."""
        if self._by_scope is not None:
            self._by_scope.update([self._scoped(item) for item in items])
        self._items.update(items)

    def replace(self, pairs: list[tuple[bytes, bytes]]) -> None:
        """Swap each (old, new) item pair; both items of a pair have the same key."""
        for old, new in pairs:
            self._items.replace(old, new)
        if self._by_scope is not None and pairs:
            self._by_scope.remove_many([self._scoped(old) for old, _ in pairs])
            self._by_scope.update([self._scoped(new) for _, new in pairs])

    def remove(self, items: list[bytes]) -> None:
        """Take out present items."""
        self._items.remove_many(list(items))
        if self._by_scope is not None:
            self._by_scope.remove_many([self._scoped(item) for item in items])

    def remove_scope(self, scope: int) -> list[bytes]:
        """Take out and return the items whose key starts with ``scope`` (0xffff: all)."""
        start, stop = scope_range(scope)
        if stop is None:
            removed = list(self._items)
            self._items.clear()
            if self._by_scope is not None:
                self._by_scope.clear()
            return removed
        removed = self._items.remove_range(start, stop)
        if self._by_scope is not None:
            self._by_scope.remove_many([self._scoped(item) for item in removed])
        return removed

    def _scoped(self, item: bytes) -> bytes:
        assert self._scope_of is not None
        return self._scope_of(item[self.key_size:]) + item

    def cursor(self, scope: int, after_key: int | None, max_count: int) -> KeyCursor:
        """A cursor over ``scope`` (0xffff: all), strictly after ``after_key`` if given."""
        start, stop = scope_range(scope)
        scoped = self._by_scope is not None and stop is not None
        last = None if after_key is None else after_key.to_bytes(self.key_size, "big")
        if scoped and last is not None:
            last = start + last
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
            start = max(start, cursor.last + self._after_pad)
        remaining = cursor.remaining
        if remaining is not None:
            if remaining == 0:
                cursor.finished = True
                cursor.truncated = bool(index.take(start, cursor.stop, 1)[0])
                return b""
            limit = min(limit, remaining)
        blob, last_item = index.take(start, cursor.stop, limit)
        count = len(blob) // self.record_size
        if count < limit:
            cursor.finished = True  # nothing more in range at this moment
        if count:
            cursor.last = last_item[:-self.record_size]
            if remaining is not None:
                cursor.remaining = remaining - count
        return blob


class KeyedTable(KeyOrder):
    """A ``KeyOrder`` plus ``by_key``: sort key (an int) -> item, for exact lookups."""

    __slots__ = ("by_key",)

    def __init__(self, key_size: int, record_size: int,
                 scope_of: Callable[[bytes], bytes] | None = None) -> None:
        super().__init__(key_size, record_size, scope_of)
        self.by_key: dict[int, bytes] = {}
        """Read-only for callers: sort key -> item (``item[key_size:]`` is the record)."""

    def __contains__(self, key: int) -> bool:
        return key in self.by_key

    def record(self, key: int) -> bytes | None:
        """The record of sort key ``key``, or None."""
        item = self.by_key.get(key)
        return None if item is None else item[self.key_size:]

    def put_many(self, records: dict[int, bytes]) -> list[bytes]:
        """Insert or replace ``sort key -> record``; return the replaced items."""
        by_key, size = self.by_key, self.key_size
        new_items: list[bytes] = []
        replaced: list[tuple[bytes, bytes]] = []
        for key, record in records.items():
            item = key.to_bytes(size, "big") + record
            old = by_key.get(key)
            by_key[key] = item
            if old is None:
                new_items.append(item)
            else:
                replaced.append((old, item))
        self.replace(replaced)
        self.insert(new_items)
        return [old for old, _ in replaced]

    def delete_many(self, keys: Iterable[int]) -> list[bytes]:
        """Remove the (present, distinct) sort ``keys``; return their items."""
        pop = self.by_key.pop
        removed = [pop(key) for key in keys]
        self.remove(removed)
        return removed

    def delete_range(self, scope: int) -> int:
        """Remove every item whose key starts with ``scope`` (all for 0xffff): the count."""
        removed = self.remove_scope(scope)
        if scope == wire.SCOPE_ALL:
            self.by_key.clear()
        else:
            pop, size = self.by_key.pop, self.key_size
            for item in removed:
                pop(int.from_bytes(item[:size], "big"))
        return len(removed)
