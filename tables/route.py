"""Route tables (IPv4 and IPv6): prefixes per VRF, longest-prefix match.

The concept: a ``KeyedTable`` whose key is (vrf_id, prefix, prefixlen) packed
big-endian (2 + 4|16 + 1 bytes), i.e. the integer
``vrf_id << (bits + 8) | prefix << 8 | prefixlen``.  That one dict serves both
exact lookups and longest-prefix match: LPM probes ``key(vrf, addr & mask(p), p)``
for the prefix lengths p in use in that VRF, longest first (at most 33 / 129
probes).  Route records are stored exactly as received (they have no padding
and no daemon-set field).

Invariants:
- every stored route is valid: vrf_id != 0xffff, prefixlen <= bits, no host
  bit set, nh_id != 0 and the nexthop exists when the route is added;
- each stored route holds one reference on its nexthop (``NexthopTable.refs``);
  REPLACE moves it, DEL drops it;
- ``_plens[vrf][p]`` counts the routes of length p in vrf; ``_probes[vrf]``
  lists the lengths with a non-zero count, longest first.

Within one ADD record: EINVAL (field checks), then ENOENT (missing nexthop),
then EEXIST.

Complexity: LPM O(lengths in use); bulk ADD/DEL of k routes O(k log n)
(O(k) for sorted batches); LIST as ``KeyedTable``.
"""

from __future__ import annotations

import sys
from array import array
from collections import Counter
from functools import partial
from collections.abc import Iterator
from itertools import repeat
from operator import and_, itemgetter, rshift, xor
from struct import Struct, iter_unpack

from api import wire
from tables.keyed import (KeyCursor, KeyedTable, TableError, gather, split, stage_adds,
                          stage_deletes)
from tables.nexthop import NexthopTable

_from_bytes = int.from_bytes
_first = itemgetter(0)
_big_endian = partial(int.from_bytes, byteorder="big")


def _mix4(key: int) -> int:
    """Route4 dict key: folds prefix bits onto the low (prefixlen, host) bits."""
    return key ^ (key >> 16)


def _mix6(key: int) -> int:
    """Route6 dict key: folds the top of the prefix onto the low bits."""
    return key ^ (key >> 64) ^ (key >> 96)

_KEY4_OFFSETS = (-1, 1, 0, 4, 5, 6, 7, 2)
"""Route4 key as a big-endian u64: 0, vrf_id (LE bytes 0..1 swapped), prefix, prefixlen."""


class RouteTable:
    """Routes of one family (``bits`` 32 or 128) referring to ``nexthops``."""

    def __init__(self, nexthops: NexthopTable, bits: int) -> None:
        if bits not in (32, 128):
            raise ValueError(f"address bits {bits}: not 32 or 128")
        self.bits = bits
        self.record = wire.ROUTE4 if bits == 32 else wire.ROUTE6
        self.record_size = self.record.size
        self.get_request: Struct = wire.ROUTE4_GET_REQ if bits == 32 else wire.ROUTE6_GET_REQ
        self._mix = _mix4 if bits == 32 else _mix6
        self.table = KeyedTable(2 + bits // 8 + 1, self.record_size, dict_key=self._mix)
        addr_end = 4 + bits // 8
        self._item_offsets = (1, 0, *range(4, addr_end), 2, *range(self.record_size))
        """An item: vrf_id big-endian, prefix, prefixlen, then the record."""
        self._nexthops = nexthops
        self._vrf_shift = bits + 8
        all_ones = (1 << bits) - 1
        self._host_masks = [all_ones >> plen for plen in range(bits + 1)]
        self._net_masks = [all_ones ^ host for host in self._host_masks]
        self._plens: dict[int, list[int]] = {}
        self._probes: dict[int, tuple[int, ...]] = {}

    def __len__(self) -> int:
        return len(self.table)

    def key(self, vrf_id: int, prefix: bytes, prefixlen: int) -> int:
        return (vrf_id << self._vrf_shift) | (_from_bytes(prefix, "big") << 8) | prefixlen

    def get(self, vrf_id: int, prefix: bytes, prefixlen: int) -> bytes | None:
        """The route record of exactly this prefix, or None."""
        return self.table.record(self.key(vrf_id, prefix, prefixlen))

    def lookup(self, vrf_id: int, addr: bytes) -> bytes | None:
        """Longest-prefix match of ``addr`` in ``vrf_id``: the route record, or None."""
        plens = self._probes.get(vrf_id)
        if not plens:
            return None
        base, value = vrf_id << self._vrf_shift, _from_bytes(addr, "big")
        masks, get, mix = self._net_masks, self.table.by_key.get, self._mix
        for plen in plens:
            item = get(mix(base | ((value & masks[plen]) << 8) | plen))
            if item is not None:
                return item[self.table.key_size:]
        return None

    def add(self, records: bytes, replace: bool) -> None:
        """Bulk ADD of route records: all or nothing (TableError).

        A payload of new, distinct, valid routes takes the fast path (whole-
        payload C-level checks and one dict update); any other payload, and
        every error, goes through the exact per-record path in request order.
        """
        if not self._add_fast(records):
            self._add_exact(records, replace)

    def _add_fast(self, records: bytes) -> bool:
        """Apply ``records`` if they are all valid new distinct routes; else False."""
        size = self.record_size
        plens = records[2::size]
        if max(plens) > self.bits:
            return False
        items = split(gather(records, size, self._item_offsets), self.table.key_size + size)
        keys = self._sort_keys(records, items)
        if (max(keys) >> self._vrf_shift == wire.SCOPE_ALL or any(map(
                and_, map(rshift, keys, repeat(8)), map(self._host_masks.__getitem__, plens)))):
            return False
        nh_counts = _nh_counts(records, size)
        nexthops = self._nexthops
        if 0 in nh_counts or not all(nh_id in nexthops for nh_id in nh_counts):
            return False
        if not self.table.put_new(self._dict_keys(keys), items):
            return False
        nexthops.retain(nh_counts)
        self._count_plens(_plen_counts(records, size, 0), 1)
        return True

    def _sort_keys(self, records: bytes, items: list[bytes]) -> list[int]:
        """The sort keys of a payload's routes (``items``: the payload's items)."""
        if self.bits == 32:
            return list(map(_first, iter_unpack(">Q", gather(records, 12, _KEY4_OFFSETS))))
        size = self.table.key_size
        return list(map(_big_endian, map(itemgetter(slice(0, size)), items)))

    def _dict_keys(self, keys: list[int]) -> list[int]:
        """``_mix4`` / ``_mix6`` over a list, with C-level maps."""
        if self.bits == 32:
            return list(map(xor, keys, map(rshift, keys, repeat(16))))
        return list(map(xor, keys, map(xor, map(rshift, keys, repeat(64)),
                                        map(rshift, keys, repeat(96)))))

    def _add_exact(self, records: bytes, replace: bool) -> None:
        staged = stage_adds(self._parse_adds(records), replace, self.table)
        replaced = self.table.put_many(staged)
        new_records = b"".join(staged.values())
        self._nexthops.retain(_nh_counts(new_records, self.record_size))
        plens = _plen_counts(new_records, self.record_size, 0)
        if replaced:
            old_items = b"".join(replaced)
            item_size = self.table.key_size + self.record_size
            self._nexthops.release(_nh_counts(old_items, item_size))
            plens.subtract(_plen_counts(old_items, item_size, self.table.key_size))
        self._count_plens(plens, 1)

    def _parse_adds(self, records: bytes) -> Iterator[tuple[int, bytes]]:
        bits, host, shift = self.bits, self._host_masks, self._vrf_shift
        nexthops = self._nexthops.table.by_key
        fields = iter_unpack(self.record.format, records)
        whole = iter_unpack(f"{self.record_size}s", records)
        for (vrf_id, plen, _origin, prefix, nh_id), (record,) in zip(fields, whole):
            value = _from_bytes(prefix, "big")
            if plen > bits or vrf_id == wire.SCOPE_ALL or nh_id == 0 or value & host[plen]:
                raise TableError(wire.EINVAL, self._why_invalid(vrf_id, plen, value, nh_id))
            if nh_id not in nexthops:
                raise TableError(wire.ENOENT, f"nexthop {nh_id} not found")
            yield (vrf_id << shift) | (value << 8) | plen, record

    def _why_invalid(self, vrf_id: int, plen: int, value: int, nh_id: int | None) -> str:
        if vrf_id == wire.SCOPE_ALL:
            return "vrf_id 0xffff"
        if plen > self.bits:
            return f"prefixlen {plen} > {self.bits}"
        if value & self._host_masks[plen]:
            return "host bits set"
        return "nh_id 0" if nh_id == 0 else ""

    def delete(self, records: bytes, missing_ok: bool) -> None:
        """Bulk DEL by the key fields of route records: all or nothing (TableError)."""
        keys = stage_deletes(self._parse_keys(records), missing_ok, self.table)
        removed = b"".join(self.table.delete_many(keys))
        item_size = self.table.key_size + self.record_size
        self._nexthops.release(_nh_counts(removed, item_size))
        self._count_plens(_plen_counts(removed, item_size, self.table.key_size), -1)

    def _parse_keys(self, records: bytes) -> Iterator[int]:
        bits, host, shift = self.bits, self._host_masks, self._vrf_shift
        for vrf_id, plen, _origin, prefix, _nh_id in iter_unpack(self.record.format, records):
            value = _from_bytes(prefix, "big")
            if plen > bits or vrf_id == wire.SCOPE_ALL or value & host[plen]:
                raise TableError(wire.EINVAL, self._why_invalid(vrf_id, plen, value, None))
            yield (vrf_id << shift) | (value << 8) | plen

    def _count_plens(self, counts: Counter[tuple[int, int]], sign: int) -> None:
        """Apply ``sign * count`` per (vrf, prefixlen); refresh those VRFs' probes."""
        touched: set[int] = set()
        for (vrf_id, plen), count in counts.items():
            if count:
                per_plen = self._plens.setdefault(vrf_id, [0] * (self.bits + 1))
                per_plen[plen] += sign * count
                touched.add(vrf_id)
        for vrf_id in touched:
            per_plen = self._plens[vrf_id]
            probes = tuple(p for p in range(self.bits, -1, -1) if per_plen[p])
            if probes:
                self._probes[vrf_id] = probes
            else:
                del self._probes[vrf_id], self._plens[vrf_id]

    def cursor(self, scope: int, after: bytes | None, max_count: int) -> KeyCursor:
        """LIST state; only the key fields of ``after`` are read, unvalidated."""
        after_key = None
        if after is not None:
            vrf_id, plen, _origin, prefix, _nh_id = self.record.unpack(after)
            after_key = self.key(vrf_id, prefix, plen)
        return self.table.cursor(scope, after_key, max_count)

    def step(self, cursor: KeyCursor, limit: int) -> list[bytes]:
        return self.table.step(cursor, limit)


def _nh_counts(blob: bytes, size: int) -> Counter[int]:
    """nh_id -> count over the rows of ``blob`` (route records or items: nh_id last)."""
    return Counter(_u32s(gather(blob, size, range(size - 4, size))))


def _plen_counts(blob: bytes, size: int, offset: int) -> Counter[tuple[int, int]]:
    """(vrf_id, prefixlen) -> count over the rows of ``blob``; the record starts at ``offset``."""
    codes = Counter(_u32s(gather(blob, size, (offset + 2, offset, offset + 1, -1))))
    return Counter({(code >> 8, code & 0xFF): count for code, count in codes.items()})


def _u32s(blob: bytes) -> array[int]:
    """``blob`` read as little-endian u32s."""
    values = array("I", blob)
    if sys.byteorder == "big":
        values.byteswap()
    return values
