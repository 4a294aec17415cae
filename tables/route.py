"""Route tables (IPv4 and IPv6): prefixes per VRF, longest-prefix match.

The concept: a route table validates and applies bulk requests over two
structures that hold each route once: a ``KeyOrder`` of the route records
keyed by (vrf_id, prefix, prefixlen) packed big-endian (2 + 4|16 + 1 bytes;
route4 keys fit in 64 bits, so the order holds no object per route) for
LIST, and a ``PrefixIndex`` (``tables.lpm``: per (vrf_id, prefixlen), network
number -> (origin, nh_id)) for GET, longest-prefix match and the key checks of
ADD and DEL.  Route records are stored exactly as received (no padding, no
daemon-set field), so the index rebuilds any of them from its key and tail.

Invariants:
- every stored route is valid: vrf_id != 0xffff, prefixlen <= bits, no host
  bit set, nh_id != 0 and the nexthop existed when the route was added;
- a route is in the order iff it is in the index, with the same origin and
  nh_id;
- each stored route holds one reference on its nexthop (``NexthopTable.refs``);
  REPLACE moves it, DEL drops it.

Within one ADD record: EINVAL (field checks), then ENOENT (missing nexthop),
then EEXIST.

Complexity: GET O(1), LPM O(prefix lengths in use); bulk ADD/DEL of k routes
O(k log n) (O(k) for payloads in key order); LIST as ``KeyOrder``.  Memory per
route4 at 1M: 8 B of key, 12 B of record, a dict entry and an int (~95 B RSS).
"""

from __future__ import annotations

import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from operator import and_, itemgetter, rshift
from struct import Struct, iter_unpack

from api import wire
from tables.blob import gather, split
from tables import reasons
from tables.changelog import Changelog
from tables.errors import TableError
from tables.keyed import KeyCursor, KeyOrder
from tables.lpm import FAMILY_BITS, HOST_MASKS, SHIFTS, PrefixIndex
from tables.nexthop import NexthopTable
from tables.staging import stage_adds, stage_deletes

_from_bytes = int.from_bytes
_first = itemgetter(0)
_big_endian = partial(int.from_bytes, byteorder="big")


class RouteTable:
    """Routes of one family (``bits`` 32 or 128) referring to ``nexthops``."""

    def __init__(self, nexthops: NexthopTable, bits: int, *,
                 changelog: Changelog | None = None) -> None:
        if bits not in FAMILY_BITS:
            raise ValueError(f"address bits {bits}: not 32 or 128")
        self._log = changelog if changelog is not None else Changelog()
        """Where every change is recorded (``tables.changelog``)."""
        self.table_id = wire.TABLE_ROUTE4 if bits == 32 else wire.TABLE_ROUTE6
        self.bits = bits
        self.record = wire.ROUTE4 if bits == 32 else wire.ROUTE6
        self.record_size = self.record.size
        self.get_request: Struct = wire.ROUTE4_GET_REQ if bits == 32 else wire.ROUTE6_GET_REQ
        self.order = KeyOrder(2 + bits // 8 + 1, self.record_size)
        self.index = PrefixIndex(bits, self.record)
        self.lookup: Callable[[int, bytes], bytes | None] = self.index.lookup
        """``lookup(vrf_id, addr)``: longest-prefix match, the route record or None
        (``PrefixIndex.lookup`` itself: ROUTE*_GET pays no extra call)."""
        self._nexthops = nexthops
        self._vrf_shift = bits + 8
        self._row_offsets = (1, 0, *range(4, 4 + bits // 8), 2, *range(self.record_size))
        """A row for ``KeyOrder.insert_rows``: vrf_id big-endian, prefix, prefixlen, then
        the record."""
        self._host_masks = HOST_MASKS[bits]
        self._shifts = SHIFTS[bits]

    def __len__(self) -> int:
        return len(self.order)

    def __contains__(self, key: int) -> bool:
        """Whether the route of sort key ``key`` exists."""
        return key in self.index

    def key(self, vrf_id: int, prefix: bytes, prefixlen: int) -> int:
        """The sort key ``vrf_id << (bits + 8) | prefix << 8 | prefixlen``."""
        return (vrf_id << self._vrf_shift) | (_from_bytes(prefix, "big") << 8) | prefixlen

    def prefix_lengths(self, vrf_id: int) -> list[int]:
        """The prefix lengths in use in ``vrf_id``, longest first."""
        return self.index.prefix_lengths(vrf_id)

    def get(self, vrf_id: int, prefix: bytes, prefixlen: int) -> bytes | None:
        """The route record of exactly this prefix, or None."""
        key = self.key(vrf_id, prefix, prefixlen)
        if prefixlen > self.bits or (key >> 8) & self._host_masks[prefixlen]:
            return None
        return self.index.get(key)

    def add(self, records: bytes, replace: bool) -> None:
        """Bulk ADD of route records: all or nothing (TableError).

        A payload of new, distinct, valid routes takes the fast path (whole-
        payload C-level checks, one dict probe per route); any other payload,
        and every error, goes through the exact per-record path in request order.
        """
        if not self._add_fast(records):
            self._add_exact(records, replace)

    def _add_fast(self, records: bytes) -> bool:
        """Apply ``records`` if they are all valid new distinct routes; else False."""
        size = self.record_size
        plens = records[2::size]
        codes = _u32s(gather(records, size, (2, 0, 1, -1)))   # vrf_id << 8 | prefixlen
        if max(plens) > self.bits or max(codes) >> 8 == wire.SCOPE_ALL:
            return False
        prefixes = self._prefixes(records)
        if any(map(and_, prefixes, map(self._host_masks.__getitem__, plens))):
            return False
        nh_ids = _u32s(gather(records, size, range(size - 4, size)))
        nh_counts = Counter(nh_ids)
        if 0 in nh_counts or not all(nh_id in self._nexthops for nh_id in nh_counts):
            return False
        nets = list(map(rshift, prefixes, map(self._shifts.__getitem__, plens)))
        tails = list(zip(records[3::size], nh_ids))    # (origin, nh_id): lpm.tail_of
        if not self.index.insert_new(codes, nets, tails):
            return False
        self.order.insert_rows(split(gather(records, size, self._row_offsets),
                                     self.order.key_size + size))
        self._nexthops.retain(nh_counts)
        self._log.record(self.table_id, wire.EV_PUT, size, records)   # stored as received
        return True

    def _prefixes(self, records: bytes) -> list[int]:
        if self.bits == 32:
            return list(map(_first, iter_unpack(">4xI4x", records)))
        return list(map(_big_endian, map(_first, iter_unpack("4x16s4x", records))))

    def _add_exact(self, records: bytes, replace: bool) -> None:
        sequence: list[int] = []
        staged = stage_adds(self._parse_adds(records), replace, self, self._name, sequence)
        puts = b"".join(map(staged.__getitem__, sequence))
        present = self.index.put_many(staged)
        replaced = [(key, staged.pop(key)) for key in present]
        old = self.order.replace(replaced)
        self.order.insert(staged.items())
        new_records = b"".join([*staged.values(), *map(itemgetter(1), replaced)])
        self._nexthops.retain(_nh_counts(new_records, self.record_size))
        if old:
            self._nexthops.release(_nh_counts(b"".join(old), self.record_size))
        self._log.record(self.table_id, wire.EV_PUT, self.record_size, puts)

    def _parse_adds(self, records: bytes) -> Iterator[tuple[int, bytes]]:
        bits, host, shift = self.bits, self._host_masks, self._vrf_shift
        nexthops = self._nexthops
        fields = iter_unpack(self.record.format, records)
        whole = iter_unpack(f"{self.record_size}s", records)
        for (vrf_id, plen, _origin, prefix, nh_id), (record,) in zip(fields, whole):
            value = _from_bytes(prefix, "big")
            if plen > bits or vrf_id == wire.SCOPE_ALL or nh_id == 0 or value & host[plen]:
                raise TableError(wire.EINVAL, self._why_invalid(vrf_id, plen, prefix, nh_id))
            if nh_id not in nexthops:
                raise TableError(wire.ENOENT, f"{reasons.nexthop(nh_id)} does not exist")
            yield (vrf_id << shift) | (value << 8) | plen, record

    def _why_invalid(self, vrf_id: int, plen: int, prefix: bytes, nh_id: int | None) -> str:
        """The EINVAL reason of a route record: its name, then what is wrong."""
        if vrf_id == wire.SCOPE_ALL:
            problem = f"vrf {reasons.MEANS_ALL} vrfs"
        elif plen > self.bits:
            problem = f"prefix length {plen} > {self.bits}"
        elif _from_bytes(prefix, "big") & self._host_masks[plen]:
            problem = "host bits set"
        else:
            problem = "nexthop id 0 is reserved"
        return f"{reasons.route(vrf_id, prefix, plen)}: {problem}"

    def _name(self, key: int) -> str:
        return reasons.route_key(key, self.bits)

    def delete(self, records: bytes, missing_ok: bool) -> None:
        """Bulk DEL by the key fields of route records: all or nothing (TableError)."""
        keys = stage_deletes(self._parse_keys(records), missing_ok, self, name=self._name)
        self.index.remove_many(keys)
        removed = b"".join(self.order.remove(keys))
        self._nexthops.release(_nh_counts(removed, self.record_size))
        self._log.record(self.table_id, wire.EV_DEL, self.record_size, removed)

    def _parse_keys(self, records: bytes) -> Iterator[int]:
        bits, host, shift = self.bits, self._host_masks, self._vrf_shift
        for vrf_id, plen, _origin, prefix, _nh_id in iter_unpack(self.record.format, records):
            value = _from_bytes(prefix, "big")
            if plen > bits or vrf_id == wire.SCOPE_ALL or value & host[plen]:
                raise TableError(wire.EINVAL, self._why_invalid(vrf_id, plen, prefix, None))
            yield (vrf_id << shift) | (value << 8) | plen

    def cursor(self, scope: int, after: bytes | None, max_count: int) -> KeyCursor:
        """LIST state; only the key fields of ``after`` are read, unvalidated."""
        after_key = None
        if after is not None:
            vrf_id, plen, _origin, prefix, _nh_id = self.record.unpack(after)
            after_key = self.key(vrf_id, prefix, plen)
        return self.order.cursor(scope, after_key, max_count)


def _nh_counts(blob: bytes, size: int) -> Counter[int]:
    """nh_id -> count over the route records of ``blob`` (nh_id last)."""
    return Counter(_u32s(gather(blob, size, range(size - 4, size))))


def _u32s(blob: bytes) -> array[int]:
    """``blob`` read as little-endian u32s."""
    values = array("I", blob)
    if sys.byteorder == "big":
        values.byteswap()
    return values

