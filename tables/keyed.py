"""Keyed tables: records kept in key order, with one generic key cursor.

The concept: a table stores each record ONCE, as an *item*: the big-endian
sort key (``key_size`` bytes, so that ``memcmp`` order equals the wire-v1 §6
key order) followed by the wire record (``record_size`` bytes).  Items live in

- ``SortedItems``, a two-level sorted list (sublists of ~``LOAD`` items plus
  the maximum of each), walked by LIST: a batch is one bisect plus list
  slices, then one slice ``item[-R:]`` per record: no lookup per record;
- a dict ``key -> item`` for exact lookups; the key is the sort key read as a
  big-endian integer, passed through the table's bijective ``dict_key`` mix.

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
``delete_many`` O(k log n) compares plus O(k·L) pointer moves (sorted or
clustered batches approach O(k)); a cursor step of k records O(log n + k);
flush of a range O(n/L + removed).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import is_not, itemgetter
from struct import iter_unpack
from typing import Protocol, TypeVar

from api import wire

V = TypeVar("V")
_first = itemgetter(0)

LOAD = 1000
"""Target sublist length; a sublist is split above 2·LOAD, merged below LOAD/4."""


class TableError(Exception):
    """A request failed validation: ``status`` is the wire errno."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail


class SortedItems:
    """Sorted bytes items in sublists of LOAD..2·LOAD (``_maxes[i] == _lists[i][-1]``)."""

    __slots__ = ("_lists", "_maxes", "_len")

    def __init__(self) -> None:
        self._lists: list[list[bytes]] = []
        self._maxes: list[bytes] = []
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[bytes]:
        return chain.from_iterable(self._lists)

    def clear(self) -> None:
        self._lists, self._maxes, self._len = [], [], 0

    def update(self, items: list[bytes]) -> None:
        """Insert ``items`` (none present yet; the list is sorted in place)."""
        if not items:
            return
        items.sort()
        if len(items) * 2 >= self._len or not self._maxes:
            merged = list(chain.from_iterable(self._lists))
            merged += items
            merged.sort()  # two sorted runs: timsort merges them in O(n)
            self._len = len(merged)
            self._lists = _chunks(merged)
            self._maxes = [sub[-1] for sub in self._lists]
            return
        self._len += len(items)
        if self._merge(items):
            self._normalize()

    def _merge(self, items: list[bytes]) -> bool:
        """Insert sorted ``items`` group by group; True if a sublist grew too long."""
        lists, maxes, count = self._lists, self._maxes, len(items)
        last, i, oversize = len(maxes) - 1, 0, False
        while i < count:
            pos = bisect_left(maxes, items[i])
            if pos > last:  # the tail: past every item, append to the last sublist
                sub = lists[last]
                sub += items[i:]
                lists[last:] = tail = _chunks(sub) if len(sub) > 2 * LOAD else [sub]
                maxes[last:] = [piece[-1] for piece in tail]
                return oversize
            end = bisect_left(items, maxes[pos], i + 1)
            sub = lists[pos]
            if (end - i) * 16 > len(sub):  # a dense group: one C-level merge
                sub += items[i:end]
                sub.sort()
            else:
                lo = 0
                for item in items[i:end]:
                    lo = bisect_left(sub, item, lo)
                    sub.insert(lo, item)
            oversize = oversize or len(sub) > 2 * LOAD
            i = end
        return oversize

    def replace(self, old: bytes, new: bytes) -> None:
        """Put ``new`` where ``old`` is; both must sort to the same place (same key)."""
        pos = bisect_left(self._maxes, old)
        sub = self._lists[pos]
        idx = bisect_left(sub, old)
        if sub[idx] != old:
            raise KeyError(old)
        sub[idx] = new
        if idx == len(sub) - 1:
            self._maxes[pos] = new

    def remove_many(self, items: list[bytes]) -> None:
        """Remove ``items`` (all present; the list is sorted in place)."""
        items.sort()
        lists, maxes, count, i = self._lists, self._maxes, len(items), 0
        short = False
        while i < count:
            pos = bisect_left(maxes, items[i])
            end = bisect_right(items, maxes[pos], i)
            sub = lists[pos]
            if (end - i) * 16 > len(sub):
                gone = set(items[i:end])
                sub[:] = [item for item in sub if item not in gone]
            else:
                for item in items[i:end]:
                    del sub[bisect_left(sub, item)]
            if sub:
                maxes[pos] = sub[-1]
            short = short or len(sub) < LOAD // 4
            i = end
        self._len -= count
        if short:
            self._normalize()

    def remove_range(self, start: bytes, stop: bytes | None) -> list[bytes]:
        """Remove and return the items ``start <= item < stop`` (no ``stop``: to the end)."""
        removed = self.take(start, stop, self._len)
        if removed:
            self.remove_many(list(removed))
        return removed

    def take(self, start: bytes, stop: bytes | None, limit: int) -> list[bytes]:
        """Up to ``limit`` items ``start <= item < stop``, in order: O(log n + limit)."""
        lists, maxes = self._lists, self._maxes
        pos = bisect_left(maxes, start)
        if pos == len(maxes) or limit <= 0:
            return []
        sub = lists[pos]
        idx = bisect_left(sub, start)
        batch = sub[idx:idx + limit]
        last = len(lists) - 1
        while len(batch) < limit and pos < last:
            pos += 1
            batch += lists[pos][:limit - len(batch)]
        if stop is not None and batch and batch[-1] >= stop:
            del batch[bisect_left(batch, stop):]
        return batch

    def _normalize(self) -> None:
        """Merge short sublists into a neighbour, split long ones: O(n/L).

        Afterwards every sublist holds LOAD/4..2·LOAD items (unless only one).
        """
        joined: list[list[bytes]] = []
        for sub in self._lists:
            if joined and (len(sub) < LOAD // 4 or len(joined[-1]) < LOAD // 4):
                joined[-1] = joined[-1] + sub
            elif sub:
                joined.append(sub)
        lists: list[list[bytes]] = []
        for sub in joined:
            if len(sub) > 2 * LOAD:
                lists += _chunks(sub)
            else:
                lists.append(sub)
        self._lists = lists
        self._maxes = [sub[-1] for sub in lists]


def _chunks(items: list[bytes]) -> list[list[bytes]]:
    """``items`` cut into sublists of equal length, each at most LOAD."""
    parts = -(-len(items) // LOAD)
    size = -(-len(items) // parts) if parts else 1
    return [items[i:i + size] for i in range(0, len(items), size)]


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


def same_key(key: int) -> int:
    """The identity: the dict key of a table whose sort keys hash well as they are."""
    return key


class KeyedTable:
    """Items in key order (``SortedItems``) plus ``by_key``: dict key -> item.

    A *sort key* is the integer of an item's first ``key_size`` bytes; its
    *dict key* is ``dict_key(sort key)``, a bijection chosen by the table so
    that the low bits (the dict's hash slots) vary: route keys end with
    prefixlen and zero host bits, which as plain ints would crowd a few slots.
    """

    __slots__ = ("key_size", "record_size", "by_key", "dict_key", "_items", "_scope_of",
                 "_by_scope", "_after_pad")

    def __init__(self, key_size: int, record_size: int, *,
                 dict_key: Callable[[int], int] = same_key,
                 scope_of: Callable[[bytes], bytes] | None = None) -> None:
        """``scope_of(record)`` -> 2-byte big-endian scope, when it is not the key's lead."""
        self.key_size = key_size
        self.record_size = record_size
        self.by_key: dict[int, bytes] = {}
        """Read-only for callers: dict key -> item (``item[key_size:]`` is the record)."""
        self.dict_key = dict_key
        self._items = SortedItems()
        self._scope_of = scope_of
        self._by_scope = SortedItems() if scope_of else None
        self._after_pad = b"\xff" * (record_size + 1)

    def __len__(self) -> int:
        return len(self.by_key)

    def __contains__(self, key: int) -> bool:
        """Whether the sort key ``key`` is present."""
        return self.dict_key(key) in self.by_key

    def record(self, key: int) -> bytes | None:
        """The record of sort key ``key``, or None."""
        item = self.by_key.get(self.dict_key(key))
        return None if item is None else item[self.key_size:]

    def items(self) -> Iterator[bytes]:
        """All items in key order (not safe across changes; for tests and tools)."""
        return iter(self._items)

    def put_many(self, records: dict[int, bytes]) -> list[bytes]:
        """Insert or replace ``sort key -> record``; return the replaced items."""
        by_key, size, dict_key = self.by_key, self.key_size, self.dict_key
        new_items: list[bytes] = []
        replaced: list[tuple[bytes, bytes]] = []
        for key, record in records.items():
            item = key.to_bytes(size, "big") + record
            old = by_key.get(dict_key(key))
            by_key[dict_key(key)] = item
            if old is None:
                new_items.append(item)
            else:
                replaced.append((old, item))
        for old, item in replaced:
            self._items.replace(old, item)
        self._items.update(new_items)
        if self._by_scope is not None:
            self._by_scope.remove_many([self._scoped(old) for old, _ in replaced])
            self._by_scope.update([self._scoped(item) for item in new_items]
                                  + [self._scoped(item) for _, item in replaced])
        return [old for old, _ in replaced]

    def put_new(self, dict_keys: list[int], items: list[bytes]) -> bool:
        """Insert ``dict key -> item`` if every key is absent and distinct; else change nothing.

        The bulk fast path: one dict probe per key (``setdefault`` both tests
        and inserts); on a conflict the keys just inserted are taken out again.
        Returns whether the items were inserted.
        """
        by_key = self.by_key
        if any(map(is_not, map(by_key.setdefault, dict_keys, items), items)):
            for key, item in zip(dict_keys, items):
                if by_key.get(key) is item:
                    del by_key[key]
            return False
        if self._by_scope is not None:
            self._by_scope.update([self._scoped(item) for item in items])
        self._items.update(items)
        return True

    def delete_many(self, keys: Iterable[int]) -> list[bytes]:
        """Remove the (present, distinct) sort ``keys``; return their items."""
        pop, dict_key = self.by_key.pop, self.dict_key
        removed = [pop(dict_key(key)) for key in keys]
        self._items.remove_many(list(removed))
        if self._by_scope is not None:
            self._by_scope.remove_many([self._scoped(item) for item in removed])
        return removed

    def delete_range(self, scope: int) -> int:
        """Remove every item whose key starts with ``scope`` (all for 0xffff): the count."""
        start, stop = scope_range(scope)
        if stop is None:
            count = len(self.by_key)
            self._items.clear()
            self.by_key.clear()
            if self._by_scope is not None:
                self._by_scope.clear()
            return count
        removed = self._items.remove_range(start, stop)
        pop, size, dict_key = self.by_key.pop, self.key_size, self.dict_key
        for item in removed:
            pop(dict_key(int.from_bytes(item[:size], "big")))
        if self._by_scope is not None:
            self._by_scope.remove_many([self._scoped(item) for item in removed])
        return len(removed)

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
        if cursor.finished:
            return []
        index = self._by_scope if cursor.scoped_index else self._items
        assert index is not None
        start = cursor.start
        if cursor.last is not None:
            start = max(start, cursor.last + self._after_pad)
        remaining = cursor.remaining
        if remaining is not None:
            if remaining == 0:
                cursor.finished = True
                cursor.truncated = bool(index.take(start, cursor.stop, 1))
                return []
            limit = min(limit, remaining)
        items = index.take(start, cursor.stop, limit)
        if len(items) < limit:
            cursor.finished = True  # nothing more in range at this moment
        if items:
            size = -self.record_size
            cursor.last = items[-1][:size]
            if remaining is not None:
                cursor.remaining = remaining - len(items)
            return [item[size:] for item in items]
        return items


def gather(records: bytes, record_size: int, offsets: Sequence[int]) -> bytes:
    """Rows of ``len(offsets)`` bytes: byte j of row i is byte ``offsets[j]`` of record i.

    An offset of -1 gives a zero byte.  This builds big-endian keys and items
    for a whole payload with one C-level strided copy per output column.
    """
    count, width = len(records) // record_size, len(offsets)
    out = bytearray(count * width)
    for column, offset in enumerate(offsets):
        if offset >= 0:
            out[column::width] = records[offset::record_size]
    return bytes(out)


def split(blob: bytes, size: int) -> list[bytes]:
    """``blob`` cut into ``size``-byte pieces."""
    return list(map(_first, iter_unpack(f"{size}s", blob)))


class KeySet(Protocol):
    """Anything that answers ``key in keys`` for int keys (a table, a dict)."""

    def __contains__(self, key: int, /) -> bool: ...


def stage_adds(entries: Iterable[tuple[int, V]], replace: bool,
               existing: KeySet) -> dict[int, V]:
    """Validate a bulk ADD's keys in request order: ``key -> value``, last one wins.

    ``entries`` yields each record after its own field checks (EINVAL, ENOENT),
    so a record's EEXIST is decided before the next record is read.
    """
    staged: dict[int, V] = {}
    for key, value in entries:
        if not replace and (key in staged or key in existing):
            raise TableError(wire.EEXIST, f"key {key:#x} exists")
        staged[key] = value
    return staged


def stage_deletes(keys: Iterable[int], missing_ok: bool, existing: KeySet,
                  busy: Callable[[int], bool] | None = None) -> list[int]:
    """Validate a bulk DEL's keys in request order: the distinct present keys."""
    seen: set[int] = set()
    for key in keys:
        if key in seen:
            continue
        if key not in existing:
            if missing_ok:
                continue
            raise TableError(wire.ENOENT, f"key {key:#x} not found")
        if busy is not None and busy(key):
            raise TableError(wire.EBUSY, f"key {key:#x} in use")
        seen.add(key)
    return list(seen)
