"""Sorted items: one table index in key order, keys in columns, records in blobs.

The concept: an *item* is a sort key (an int: wire-v1 §6 key order is int
order) and its wire record (``record_size`` bytes).  ``SortedItems`` keeps the
items of one index in a two-level sorted list: sublists of ~``LOAD`` items,
each a *key column* and a *blob* holding the sublist's records end to end in
the same order, plus the largest key of each sublist.  A key column is an
``array('Q')`` when keys fit in 64 bits (route4, nexthop): then an item is 8
bytes of key and R bytes of record, and no Python object at all; wider keys
(route6, fdb, conntrack) are kept in a list of ints.

A walk (``take``) is one bisect, then slices of the blobs: no lookup per
record, contiguous memory.  A record by key (``record``) is two bisects and
a slice.

Invariants: every sublist holds LOAD/4..2·LOAD items (unless it is the only
one), none is empty; keys ascend strictly within and across sublists;
``_maxes[i] == _keys[i][-1]``; ``len(_blobs[i]) == len(_keys[i]) * R``.

Complexity (n items, k per call, L = LOAD): ``record`` O(log n);
``update`` / ``remove_many`` O(k log n) compares plus O(k·L) moves of key
slots and record bytes (a batch past the last key: O(k) appends; a batch of
at least half a sublist is merged into it by one sort); ``take`` of k records
O(log n + k); ``remove_range`` O(n/L + removed).  Memory per item: R bytes of
blob plus 8 bytes of key (array) or a pointer and an int (list).
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, MutableSequence, Sequence
from functools import partial
from itertools import chain, pairwise
from operator import itemgetter

from tables import gather, split

LOAD = 1000
"""Target sublist length; a sublist is split above 2·LOAD, merged below LOAD/4."""

Column = MutableSequence[int]
"""The keys of one sublist: ``array('Q')`` or ``list[int]``."""
_first, _second = itemgetter(0), itemgetter(1)
_big_endian = partial(int.from_bytes, byteorder="big")


def _packed_column(keys: Iterable[int]) -> Column:
    return array("Q", keys)


def _list_column(keys: Iterable[int]) -> Column:
    return list(keys)


class SortedItems:
    """Items (int key, record) of one index in key order; see the module docstring."""

    __slots__ = ("_blobs", "_key_size", "_keys", "_len", "_maxes", "_size", "column")

    def __init__(self, key_bits: int, record_size: int) -> None:
        """Keys of at most ``key_bits`` bits, records of ``record_size`` bytes."""
        self._keys: list[Column] = []
        self._blobs: list[bytearray] = []
        self._len = 0
        self._size = record_size
        self._key_size = -(-key_bits // 8)
        self.column: Callable[[Iterable[int]], Column] = (
            _packed_column if key_bits <= 64 else _list_column)
        """Makes a key column of this index from ints (the input of ``update``)."""
        self._maxes: list[int] = []

    def __len__(self) -> int:
        return self._len

    def keys(self) -> Iterator[int]:
        return chain.from_iterable(self._keys)

    def items(self) -> Iterator[tuple[int, bytes]]:
        """(key, record) in key order (not safe across changes)."""
        size = self._size
        return chain.from_iterable(zip(col, split(bytes(blob), size))
                                   for col, blob in zip(self._keys, self._blobs))

    def clear(self) -> None:
        self._keys, self._blobs, self._maxes, self._len = [], [], [], 0

    def _set(self, cols: list[Column], blobs: list[bytearray]) -> None:
        self._keys, self._blobs, self._maxes = cols, blobs, [col[-1] for col in cols]

    def update(self, keys: Sequence[int], records: bytes) -> None:
        """Insert items: ``keys`` ascending and absent, ``records`` theirs end to end."""
        if not keys:
            return
        self._len += len(keys)
        if not self._keys:
            self._set(*self._chunks(self.column(keys), bytearray(records)))
        elif self._merge(keys, records):
            self._normalize()

    def update_rows(self, rows: list[bytes]) -> None:
        """Insert items given as rows: the key big-endian (key_bits / 8 bytes, rounded
        up), then the record; keys absent, rows in any order (sorted in place).  The
        keys and records are cut out of the sorted rows by C-level strided copies."""
        rows.sort()
        key_size, width = self._key_size, self._key_size + self._size
        joined = b"".join(rows)
        keys: Sequence[int]
        if self.column is _packed_column:  # the keys as big-endian u64s, then native
            packed = array("Q", gather(joined, width, [-1] * (8 - key_size) + [*range(key_size)]))
            if sys.byteorder == "little":
                packed.byteswap()
            keys = packed
        else:
            keys = list(map(_big_endian, split(gather(joined, width, range(key_size)), key_size)))
        self.update(keys, gather(joined, width, range(key_size, width)))

    def _merge(self, keys: Sequence[int], records: bytes) -> bool:
        """Insert sorted ``keys`` group by group (one group per sublist); True if a
        sublist grew past 2·LOAD."""
        cols, blobs, maxes, size = self._keys, self._blobs, self._maxes, self._size
        last, i, count, oversize = len(maxes) - 1, 0, len(keys), False
        while i < count:
            pos = bisect_left(maxes, keys[i])
            if pos > last:  # past every key: append to the last sublist
                cols[last].extend(keys[i:])
                blobs[last] += records[i * size:]
                maxes[last] = keys[-1]
                return oversize or len(cols[last]) > 2 * LOAD
            end = bisect_left(keys, maxes[pos], i + 1)
            col, blob = cols[pos], blobs[pos]
            if 2 * (end - i) >= len(col):
                cols[pos], blobs[pos] = self._merged(col, blob, keys[i:end],
                                                     records[i * size:end * size])
            else:
                lo = 0
                for j in range(i, end):
                    lo = bisect_left(col, keys[j], lo)
                    col.insert(lo, keys[j])
                    blob[lo * size:lo * size] = records[j * size:(j + 1) * size]
            oversize = oversize or len(cols[pos]) > 2 * LOAD
            i = end
        return oversize

    def _merged(self, col: Column, blob: bytearray, keys: Sequence[int],
                records: bytes) -> tuple[Column, bytearray]:
        """One sublist with ``keys`` merged in (keys are distinct: records never compare)."""
        size = self._size
        pairs = sorted(zip(chain(col, keys), chain(split(bytes(blob), size),
                                                   split(records, size))))
        return self.column(map(_first, pairs)), bytearray(b"".join(map(_second, pairs)))

    def _find(self, key: int) -> tuple[int, int]:
        """(sublist, index) of a present key; KeyError if absent."""
        pos = bisect_left(self._maxes, key)
        if pos < len(self._maxes):
            col = self._keys[pos]
            idx = bisect_left(col, key)
            if col[idx] == key:
                return pos, idx
        raise KeyError(key)

    def record(self, key: int) -> bytes | None:
        """The record of ``key``, or None."""
        pos = bisect_left(self._maxes, key)
        if pos == len(self._maxes):
            return None
        col = self._keys[pos]
        idx = bisect_left(col, key)
        if col[idx] != key:
            return None
        size = self._size
        return bytes(self._blobs[pos][idx * size:(idx + 1) * size])

    def replace(self, key: int, record: bytes) -> bytes:
        """Put ``record`` as the record of the present ``key``; return the old one."""
        pos, idx = self._find(key)
        span = slice(idx * self._size, (idx + 1) * self._size)
        old = bytes(self._blobs[pos][span])
        self._blobs[pos][span] = record
        return old

    def remove_many(self, keys: Sequence[int]) -> list[bytes]:
        """Remove the present ``keys`` (distinct, DESCENDING: a sublist's maximum goes
        last); return their records in that order."""
        short, size, removed = False, self._size, []
        for key in keys:
            pos, idx = self._find(key)
            col, blob = self._keys[pos], self._blobs[pos]
            removed.append(bytes(blob[idx * size:(idx + 1) * size]))
            del col[idx], blob[idx * size:(idx + 1) * size]
            if col:
                self._maxes[pos] = col[-1]
            short = short or len(col) < LOAD // 4
        self._len -= len(removed)
        if short:
            self._normalize()
        return removed

    def remove_range(self, start: int, stop: int | None) -> tuple[list[int], bytes]:
        """Remove the items ``start <= key < stop`` (no ``stop``: to the end); return
        their keys and records (end to end), in key order."""
        first, first_idx = self._locate(start)
        end, end_idx = self._locate(stop) if stop is not None else (len(self._keys), 0)
        if (first, first_idx) >= (end, end_idx):
            return [], b""
        cols, blobs, size = self._keys, self._blobs, self._size
        if first == end:
            keys = list(cols[first][first_idx:end_idx])
            records = bytes(blobs[first][first_idx * size:end_idx * size])
            del cols[first][first_idx:end_idx], blobs[first][first_idx * size:end_idx * size]
        else:
            tail, tail_blob = ((cols[end], blobs[end]) if end < len(cols)
                               else (self.column(()), bytearray()))
            keys = list(chain(cols[first][first_idx:], *cols[first + 1:end], tail[:end_idx]))
            records = b"".join([blobs[first][first_idx * size:], *blobs[first + 1:end],
                                tail_blob[:end_idx * size]])
            kept = cols[first][:first_idx]
            kept.extend(tail[end_idx:])
            cols[first:end + 1] = [kept]
            blobs[first:end + 1] = [blobs[first][:first_idx * size] + tail_blob[end_idx * size:]]
        self._len -= len(keys)
        self._normalize()
        return keys, records

    def _locate(self, bound: int) -> tuple[int, int]:
        """(sublist, index) of the first key >= ``bound``; (len(sublists), 0) if none."""
        pos = bisect_left(self._maxes, bound)
        if pos == len(self._maxes):
            return pos, 0
        return pos, bisect_left(self._keys[pos], bound)

    def take(self, start: int, stop: int | None, limit: int) -> tuple[bytes, int | None]:
        """The records of up to ``limit`` items ``start <= key < stop``, end to end, and
        the last of their keys (None if none): O(log n + limit), copied from the blobs.
        """
        cols, blobs, size = self._keys, self._blobs, self._size
        pos, idx = self._locate(start)
        chunks: list[bytearray] = []
        last_key, count = None, 0
        while count < limit and pos < len(cols):
            col = cols[pos]
            end = min(len(col), idx + limit - count)
            stopped = False
            if stop is not None and col[end - 1] >= stop:
                end, stopped = bisect_left(col, stop, idx, end), True
            if end > idx:
                chunks.append(blobs[pos][idx * size:end * size])
                count += end - idx
                last_key = col[end - 1]
            if stopped:
                break
            pos, idx = pos + 1, 0
        return b"".join(chunks), last_key

    def _normalize(self) -> None:
        """Merge short sublists into a neighbour, split long ones: O(n/L)."""
        cols: list[Column] = []
        blobs: list[bytearray] = []
        for col, blob in zip(self._keys, self._blobs):
            if cols and (len(col) < LOAD // 4 or len(cols[-1]) < LOAD // 4):
                cols[-1].extend(col)
                blobs[-1] += blob
            elif col:
                cols.append(col)
                blobs.append(blob)
        final: list[Column] = []
        final_blobs: list[bytearray] = []
        for col, blob in zip(cols, blobs):
            if len(col) <= 2 * LOAD:
                final.append(col)
                final_blobs.append(blob)
            else:
                pieces, piece_blobs = self._chunks(col, blob)
                final += pieces
                final_blobs += piece_blobs
        self._set(final, final_blobs)

    def _chunks(self, col: Column, blob: bytearray) -> tuple[list[Column], list[bytearray]]:
        """A sublist cut into ceil(len / LOAD) pieces whose lengths differ by at most
        one (so each holds more than LOAD/2 when there are several)."""
        parts = -(-len(col) // LOAD)
        bounds = list(pairwise([len(col) * i // parts for i in range(parts + 1)]))
        size = self._size
        return ([col[lo:hi] for lo, hi in bounds],
                [blob[lo * size:hi * size] for lo, hi in bounds])
