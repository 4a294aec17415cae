"""Record pages: one ordered index of fixed-size records, its pages in a SortedDict.

The concept: an *item* is a sort key (an int: wire-v1 §6 key order is int
order) and its wire record (``record_size`` bytes).  ``RecordPages`` keeps
the items of one index in *pages*: a page is a key column (ascending) and a
blob holding the page's records end to end in the same order.  The pages are
the values of a ``sortedcontainers.SortedDict`` keyed by each page's first
key: sortedcontainers finds the page of a key (``bisect_right``) and the
pages after it (``islice``), the page holds the records.  So a walk is one
bisect, then slices of blobs, with no lookup and no Python object per record.

A key column is an ``array('Q')`` when keys fit in 64 bits (route4, nexthop):
an item is then 8 bytes of key and R bytes of record, and no object; wider
keys (route6, fdb, conntrack) are kept in a list of ints.

Why pages and not a ``SortedDict`` of key -> record: see ``tables``' docstring
(measured at 1M routes: its walk ~85x slower per record, 6x the bytes per route).

Invariants (``_check``):
- every page is non-empty, its keys ascend strictly, its blob holds
  ``len(keys) * R`` bytes, its column is of the index's kind;
- a page's SortedDict key is its first key, and its last key is below the
  next page's first key (the pages partition the key order);
- a page holds at most ``2 * LOAD`` items, and at least ``LOAD // 4`` when
  there are several pages (``_settle`` restores both after every change);
- ``len(self)`` is the number of items.

Complexity (n items, k per call, L = LOAD): ``get`` O(log n);
``insert`` / ``remove`` of k items O(k log n) compares plus O(k·L) moves
within pages (a batch past the last key, a load in key order: O(k)
appends); ``take`` of k records O(log n + k); ``remove_range`` O(log n +
removed).  Memory per item: R bytes of blob plus 8 bytes of key (array) or a
pointer and an int (list); a page and its SortedDict entry cost a few hundred
bytes, under 1 B per item at L = 1000.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, MutableSequence, Sequence
from functools import partial
from itertools import chain, pairwise

from sortedcontainers import SortedDict

from tables.blob import gather, split

LOAD = 1000
"""Target page length; a page is cut above 2·LOAD, joined to a neighbour below LOAD/4.
Read at each use, so that tests can make pages small."""

Column = MutableSequence[int]
"""The keys of one page: ``array('Q')`` or ``list[int]``."""
_big_endian = partial(int.from_bytes, byteorder="big")


class Page:
    """Items of one page: ``keys`` ascending, ``blob`` their records end to end."""

    __slots__ = ("blob", "keys")

    def __init__(self, keys: Column, blob: bytearray) -> None:
        self.keys = keys
        self.blob = blob


class RecordPages:
    """Items (int key, record) of one index in key order; see the module docstring."""

    __slots__ = ("_key_size", "_len", "_packed", "_pages", "_size")

    def __init__(self, key_bits: int, record_size: int) -> None:
        """Keys of at most ``key_bits`` bits, records of ``record_size`` bytes."""
        self._pages: SortedDict[int, Page] = SortedDict()
        self._len = 0
        self._size = record_size
        self._key_size = -(-key_bits // 8)
        self._packed = key_bits <= 64

    def column(self, keys: Iterable[int]) -> Column:
        """A key column of this index holding ``keys``."""
        return array("Q", keys) if self._packed else list(keys)

    def __len__(self) -> int:
        return self._len

    def keys(self) -> Iterator[int]:
        """The keys in order (not safe across changes)."""
        return chain.from_iterable(page.keys for page in self._pages.values())

    def items(self) -> Iterator[tuple[int, bytes]]:
        """(key, record) in key order (not safe across changes)."""
        size = self._size
        return chain.from_iterable(zip(page.keys, split(bytes(page.blob), size))
                                   for page in self._pages.values())

    def records(self) -> bytes:
        """Every record, end to end, in key order."""
        return b"".join(page.blob for page in self._pages.values())

    def clear(self) -> None:
        self._pages.clear()
        self._len = 0

    # -- reads -------------------------------------------------------------------

    def _page_of(self, key: int) -> tuple[int, Page] | None:
        """(first key, page) of the page whose range holds ``key``; None below them all."""
        pos = self._pages.bisect_right(key) - 1
        return None if pos < 0 else self._pages.peekitem(pos)

    def get(self, key: int) -> bytes | None:
        """The record of ``key``, or None."""
        found = self._page_of(key)
        if found is None:
            return None
        page, size = found[1], self._size
        idx = bisect_left(page.keys, key)
        if idx == len(page.keys) or page.keys[idx] != key:
            return None
        return bytes(page.blob[idx * size:(idx + 1) * size])

    def __getitem__(self, key: int) -> bytes:
        """The record of ``key``; KeyError if absent."""
        record = self.get(key)
        if record is None:
            raise KeyError(key)
        return record

    def take(self, start: int, stop: int | None, limit: int) -> tuple[bytes, int | None]:
        """The records of up to ``limit`` items ``start <= key < stop`` (no ``stop``: to
        the end), end to end, and the last of their keys (None if none).

        One bisect in the SortedDict, then slices of the pages' blobs.
        """
        pages, size = self._pages, self._size
        chunks: list[bytearray] = []
        last_key, count = None, 0
        for first in pages.islice(max(pages.bisect_right(start) - 1, 0)):
            if count >= limit or (stop is not None and first >= stop):
                break
            page = pages[first]
            col = page.keys
            idx = bisect_left(col, start) if first < start else 0
            end = min(len(col), idx + limit - count)
            if stop is not None and end > idx and col[end - 1] >= stop:
                end = bisect_left(col, stop, idx, end)
            if end > idx:
                chunks.append(page.blob[idx * size:end * size])
                count += end - idx
                last_key = col[end - 1]
        return b"".join(chunks), last_key

    # -- changes -----------------------------------------------------------------

    def insert(self, keys: Sequence[int], records: bytes) -> None:
        """Add items: ``keys`` ascending and absent, ``records`` theirs end to end.

        The keys are cut into one group per page they fall in (the next page's
        first key bounds a group), each merged into its page.
        """
        count, pages, size = len(keys), self._pages, self._size
        if not count:
            return
        self._len += count
        if not pages:
            self._add_pages(self.column(keys), bytearray(records))
            return
        i = 0
        while i < count:
            pos = max(pages.bisect_right(keys[i]) - 1, 0)
            first, page = pages.peekitem(pos)
            end = (count if pos + 1 == len(pages)
                   else bisect_left(keys, pages.peekitem(pos + 1)[0], i + 1))
            self._merge(page, keys[i:end], records[i * size:end * size])
            self._settle(first)
            i = end

    def insert_rows(self, rows: list[bytes]) -> None:
        """``insert`` for rows: the key big-endian (key_bits / 8 bytes, rounded up),
        then the record; keys absent, rows in any order (sorted in place).  The
        keys and records are cut out of the sorted rows by C-level strided copies."""
        rows.sort()
        key_size, width = self._key_size, self._key_size + self._size
        joined = b"".join(rows)
        keys: Sequence[int]
        if self._packed:  # the keys as big-endian u64s, then native
            packed = array("Q", gather(joined, width, [-1] * (8 - key_size) + [*range(key_size)]))
            if sys.byteorder == "little":
                packed.byteswap()
            keys = packed
        else:
            keys = list(map(_big_endian, split(gather(joined, width, range(key_size)), key_size)))
        self.insert(keys, gather(joined, width, range(key_size, width)))

    def _merge(self, page: Page, keys: Sequence[int], records: bytes) -> None:
        """Put sorted absent ``keys`` (and ``records``) into ``page``, in order."""
        col, blob, size = page.keys, page.blob, self._size
        if keys[0] > col[-1]:   # past the page's end: the common case of a load in order
            col.extend(keys)
            blob += records
        elif 2 * len(keys) >= len(col):   # many: one sort (keys are distinct, so
            pairs = sorted(zip(chain(col, keys),   # records never compare)
                               chain(split(bytes(blob), size), split(records, size))))
            page.keys = self.column(key for key, _record in pairs)
            page.blob = bytearray(b"".join(record for _key, record in pairs))
        else:
            lo = 0
            for j, key in enumerate(keys):
                lo = bisect_left(col, key, lo)
                col.insert(lo, key)
                blob[lo * size:lo * size] = records[j * size:(j + 1) * size]

    def replace(self, key: int, record: bytes) -> bytes:
        """Put ``record`` as the record of the present ``key``; return the old one."""
        found = self._page_of(key)
        if found is not None:
            col, blob = found[1].keys, found[1].blob
            idx = bisect_left(col, key)
            if idx < len(col) and col[idx] == key:
                span = slice(idx * self._size, (idx + 1) * self._size)
                old = bytes(blob[span])
                blob[span] = record
                return old
        raise KeyError(key)

    def remove(self, keys: Sequence[int]) -> list[bytes]:
        """Take out the present distinct ``keys``; return their records in ``keys``' order.

        Page by page from the last key down (each page's keys from its end, so
        that positions ahead stay valid).
        """
        ordered = sorted(keys)
        size = self._size
        removed: dict[int, bytes] = {}
        end = len(ordered)
        while end:
            found = self._page_of(ordered[end - 1])
            if found is None:
                raise KeyError(ordered[end - 1])
            first, page = found
            start = bisect_left(ordered, first, 0, end)
            col, blob = page.keys, page.blob
            for key in reversed(ordered[start:end]):
                idx = bisect_left(col, key)
                if idx == len(col) or col[idx] != key:
                    raise KeyError(key)
                removed[key] = bytes(blob[idx * size:(idx + 1) * size])
                del col[idx], blob[idx * size:(idx + 1) * size]
            self._settle(first)
            end = start
        self._len -= len(ordered)
        return [removed[key] for key in keys]

    def remove_range(self, start: int, stop: int | None) -> tuple[list[int], bytes]:
        """Remove the items ``start <= key < stop`` (no ``stop``: to the end); return
        their keys and records (end to end), in key order."""
        pages, size = self._pages, self._size
        touched = list(pages.islice(max(pages.bisect_right(start) - 1, 0),
                                    None if stop is None else pages.bisect_left(stop)))
        keys: list[int] = []
        blobs: list[bytes] = []
        for first in touched:
            page = pages[first]
            col = page.keys
            lo = bisect_left(col, start) if first < start else 0
            hi = len(col) if stop is None or col[-1] < stop else bisect_left(col, stop, lo)
            keys.extend(col[lo:hi])
            blobs.append(bytes(page.blob[lo * size:hi * size]))
            del col[lo:hi], page.blob[lo * size:hi * size]
        # Emptied pages go first, so that a short page left at either end of the
        # range joins a real neighbour; those ends are then settled from the last.
        for first in touched:
            if not pages[first].keys:
                del pages[first]
        for first in reversed(touched):
            self._settle(first)
        self._len -= len(keys)
        return keys, b"".join(blobs)

    # -- page shapes ---------------------------------------------------------------

    def _settle(self, first: int) -> None:
        """Restore the page invariants at the page keyed ``first`` after a change to
        it: drop it if empty, re-key it if its first key changed, join it to a
        neighbour if short, cut it if long.  Nothing to do if no such page is left."""
        pages = self._pages
        page = pages.get(first)
        if page is None:
            return
        if not page.keys or page.keys[0] != first:
            del pages[first]
            if not page.keys:
                return
            first = page.keys[0]
            pages[first] = page
        if len(page.keys) < LOAD // 4 and len(pages) > 1:
            pos = pages.index(first)
            if pos:   # join the previous page (its keys are all smaller)
                first, before = pages.peekitem(pos - 1)
                del pages[page.keys[0]]
                before.keys.extend(page.keys)
                before.blob += page.blob
                page = before
            else:     # the first page takes in the next one
                after_first, after = pages.peekitem(1)
                del pages[after_first]
                page.keys.extend(after.keys)
                page.blob += after.blob
        if len(page.keys) > 2 * LOAD:
            del pages[first]
            self._add_pages(page.keys, page.blob)

    def _add_pages(self, col: Column, blob: bytearray) -> None:
        """Store a run of items as ceil(len / LOAD) pages whose lengths differ by at
        most one (so each holds more than LOAD/2 when there are several)."""
        parts, size = -(-len(col) // LOAD), self._size
        for lo, hi in pairwise([len(col) * i // parts for i in range(parts + 1)]):
            self._pages[col[lo]] = Page(col[lo:hi], blob[lo * size:hi * size])

    def _check(self) -> None:
        """Assert every invariant of the module docstring: O(n)."""
        pages, size, count, last = self._pages, self._size, 0, -1
        # sortedcontainers' own invariant check, which its stubs leave out
        pages._check()   # type: ignore[attr-defined]
        for first, page in pages.items():
            col = page.keys
            assert col and col[0] == first > last, "page empty, mis-keyed or out of order"
            assert isinstance(col, array) == self._packed
            assert all(a < b for a, b in pairwise(col)), "keys not ascending in a page"
            assert len(page.blob) == len(col) * size, "blob and keys disagree"
            assert len(col) <= 2 * LOAD and (len(pages) == 1 or len(col) >= LOAD // 4)
            count, last = count + len(col), col[-1]
        assert count == self._len, "length"
