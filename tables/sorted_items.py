"""Sorted items: the key order of one table index, with its records in blobs.

The concept: ``SortedItems`` keeps byte-string items (a big-endian sort key
followed by the wire record, so that ``memcmp`` order is key order) in a
two-level sorted list: sublists of ~``LOAD`` items, the maximum of each, and a
blob per sublist holding the records (the items' tails) end to end.  A walk
(``take``) is one bisect, then slices of the blobs: no lookup per record, and
contiguous memory however scattered the item objects are.

Invariants: every sublist holds LOAD/4..2·LOAD items (unless it is the only
one); ``_maxes[i] == _lists[i][-1]``; ``_blobs[i]`` is the concatenation of the
last ``record_size`` bytes of each item of ``_lists[i]``.

Complexity (n items, k per call, L = LOAD): ``update`` / ``remove_many``
O(k log n) compares plus O(k·L) pointer and byte moves (a batch past the last
item: O(k) appends); ``take`` of k records O(log n + k); ``remove_range``
O(n/L + removed).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from itertools import chain
from operator import itemgetter

LOAD = 1000
"""Target sublist length; a sublist is split above 2·LOAD, merged below LOAD/4."""


class SortedItems:
    """Sorted items in sublists, each with a blob of its records (the items' tails).

    Sublist i holds LOAD/4..2·LOAD items (unless it is the only one);
    ``_maxes[i] == _lists[i][-1]``; ``_blobs[i]`` is the concatenation of the
    last ``record_size`` bytes of each item of ``_lists[i]``.  Bisecting reads
    items; a walk (``take``) copies records from the blobs: contiguous memory,
    however scattered the item objects are.
    """

    __slots__ = ("_lists", "_blobs", "_maxes", "_len", "_size", "_tail")

    def __init__(self, record_size: int) -> None:
        self._lists: list[list[bytes]] = []
        self._blobs: list[bytearray] = []
        self._maxes: list[bytes] = []
        self._len = 0
        self._size = record_size
        self._tail = itemgetter(slice(-record_size, None))

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[bytes]:
        return chain.from_iterable(self._lists)

    def clear(self) -> None:
        self._lists, self._blobs, self._maxes, self._len = [], [], [], 0

    def _blob(self, items: list[bytes]) -> bytearray:
        return bytearray(b"".join(map(self._tail, items)))

    def _set(self, lists: list[list[bytes]], blobs: list[bytearray] | None = None) -> None:
        self._lists = lists
        self._blobs = blobs if blobs is not None else [self._blob(sub) for sub in lists]
        self._maxes = [sub[-1] for sub in lists]

    def update(self, items: list[bytes]) -> None:
        """Insert ``items`` (none present yet; the list is sorted in place)."""
        if not items:
            return
        items.sort()
        self._len += len(items)
        if len(items) * 2 >= self._len:
            merged = list(chain.from_iterable(self._lists))
            merged += items
            merged.sort()  # two sorted runs: timsort merges them in O(n)
            self._set(_chunks(merged))
        elif self._merge(items):
            self._normalize()

    def _merge(self, items: list[bytes]) -> bool:
        """Insert sorted ``items`` group by group; True if a sublist grew too long."""
        lists, blobs, maxes, size = self._lists, self._blobs, self._maxes, self._size
        last, i, count, oversize = len(maxes) - 1, 0, len(items), False
        while i < count:
            pos = bisect_left(maxes, items[i])
            if pos > last:  # the tail: past every item, append to the last sublist
                lists[last] += items[i:]
                blobs[last] += b"".join(map(self._tail, items[i:]))
                maxes[last] = items[-1]
                return oversize or len(lists[last]) > 2 * LOAD
            end = bisect_left(items, maxes[pos], i + 1)
            sub, blob, lo = lists[pos], blobs[pos], 0
            for item in items[i:end]:
                lo = bisect_left(sub, item, lo)
                sub.insert(lo, item)
                blob[lo * size:lo * size] = item[-size:]
            oversize = oversize or len(sub) > 2 * LOAD
            i = end
        return oversize

    def _find(self, item: bytes) -> tuple[int, int]:
        """(sublist, index) of a present item."""
        pos = bisect_left(self._maxes, item)
        sub = self._lists[pos] if pos < len(self._lists) else []
        idx = bisect_left(sub, item)
        if idx == len(sub) or sub[idx] != item:
            raise KeyError(item)
        return pos, idx

    def replace(self, old: bytes, new: bytes) -> None:
        """Put ``new`` where ``old`` is; both must sort to the same place (same key)."""
        pos, idx = self._find(old)
        self._lists[pos][idx] = new
        self._blobs[pos][idx * self._size:(idx + 1) * self._size] = new[-self._size:]
        if idx == len(self._lists[pos]) - 1:
            self._maxes[pos] = new

    def remove_many(self, items: list[bytes]) -> None:
        """Remove ``items`` (all present)."""
        short, size = False, self._size
        for item in sorted(items, reverse=True):   # a sublist's maximum goes last
            pos, idx = self._find(item)
            sub = self._lists[pos]
            del sub[idx], self._blobs[pos][idx * size:(idx + 1) * size]
            if sub:
                self._maxes[pos] = sub[-1]
            short = short or len(sub) < LOAD // 4
        self._len -= len(items)
        if short:
            self._normalize()

    def remove_range(self, start: bytes, stop: bytes | None) -> list[bytes]:
        """Remove and return the items ``start <= item < stop`` (no ``stop``: to the end)."""
        first, first_idx = self._locate(start)
        end, end_idx = self._locate(stop) if stop is not None else (len(self._lists), 0)
        if (first, first_idx) >= (end, end_idx):
            return []
        lists, blobs, size = self._lists, self._blobs, self._size
        if first == end:
            removed = lists[first][first_idx:end_idx]
            del lists[first][first_idx:end_idx], blobs[first][first_idx * size:end_idx * size]
        else:
            tail, tail_blob = (lists[end], blobs[end]) if end < len(lists) else ([], bytearray())
            removed = list(chain(lists[first][first_idx:], *lists[first + 1:end], tail[:end_idx]))
            lists[first:end + 1] = [lists[first][:first_idx] + tail[end_idx:]]
            blobs[first:end + 1] = [blobs[first][:first_idx * size] + tail_blob[end_idx * size:]]
        self._len -= len(removed)
        self._normalize()
        return removed

    def _locate(self, bound: bytes) -> tuple[int, int]:
        """(sublist, index) of the first item >= ``bound``; (len(lists), 0) if none."""
        pos = bisect_left(self._maxes, bound)
        if pos == len(self._maxes):
            return pos, 0
        return pos, bisect_left(self._lists[pos], bound)

    def take(self, start: bytes, stop: bytes | None, limit: int) -> tuple[bytes, bytes]:
        """The records of up to ``limit`` items ``start <= item < stop``, end to end, and
        the last of those items (``b""`` if none): O(log n + limit), copied from the blobs.
        """
        lists, blobs, size = self._lists, self._blobs, self._size
        pos, idx = self._locate(start)
        chunks: list[bytearray] = []
        last_item, count = b"", 0
        while count < limit and pos < len(lists):
            sub = lists[pos]
            end = min(len(sub), idx + limit - count)
            stopped = False
            if stop is not None and sub[end - 1] >= stop:
                end, stopped = bisect_left(sub, stop, idx, end), True
            if end > idx:
                chunks.append(blobs[pos][idx * size:end * size])
                count += end - idx
                last_item = sub[end - 1]
            if stopped:
                break
            pos, idx = pos + 1, 0
        return b"".join(chunks), last_item

    def _normalize(self) -> None:
        """Merge short sublists into a neighbour, split long ones: O(n/L)."""
        lists: list[list[bytes]] = []
        blobs: list[bytearray] = []
        for sub, blob in zip(self._lists, self._blobs):
            if lists and (len(sub) < LOAD // 4 or len(lists[-1]) < LOAD // 4):
                lists[-1], blobs[-1] = lists[-1] + sub, blobs[-1] + blob
            elif sub:
                lists.append(sub)
                blobs.append(blob)
        final: list[list[bytes]] = []
        final_blobs: list[bytearray] = []
        for sub, blob in zip(lists, blobs):
            if len(sub) <= 2 * LOAD:
                final.append(sub)
                final_blobs.append(blob)
                continue
            offset = 0
            for piece in _chunks(sub):
                final.append(piece)
                final_blobs.append(blob[offset:offset + len(piece) * self._size])
                offset += len(piece) * self._size
        self._set(final, final_blobs)


def _chunks(items: list[bytes]) -> list[list[bytes]]:
    """``items`` cut into sublists of equal length, each at most LOAD."""
    parts = -(-len(items) // LOAD)
    size = -(-len(items) // parts) if parts else 1
    return [items[i:i + size] for i in range(0, len(items), size)]
