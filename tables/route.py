"""Route tables (IPv4 and IPv6): prefixes per VRF, longest-prefix match.

The concept: a ``KeyOrder`` of items keyed by (vrf_id, prefix, prefixlen)
packed big-endian (2 + 4|16 + 1 bytes) for LIST, and for lookups one dict per
(vrf_id, prefixlen) mapping the network number ``prefix >> (bits - prefixlen)``
to the item.  Longest-prefix match probes the dicts of the VRF's prefix
lengths in use, longest first (at most 33 / 129 probes); the short-prefix
dicts are small and stay in cache.  Route records are stored exactly as
received (no padding, no daemon-set field).

Invariants:
- every stored route is valid: vrf_id != 0xffff, prefixlen <= bits, no host
  bit set, nh_id != 0 and the nexthop existed when the route was added;
- each stored route holds one reference on its nexthop (``NexthopTable.refs``);
  REPLACE moves it, DEL drops it;
- ``_by_plen[vrf << 8 | plen]`` exists iff it is non-empty; ``_probes[vrf]``
  holds (shift, dict.get) of those dicts, longest prefix first.

Within one ADD record: EINVAL (field checks), then ENOENT (missing nexthop),
then EEXIST.

Complexity: LPM O(prefix lengths in use); bulk ADD/DEL of k routes
O(k log n) (O(k) for payloads in key order); LIST as ``KeyOrder``.
"""

from __future__ import annotations

import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from operator import and_, itemgetter, rshift
from struct import Struct, iter_unpack

from api import wire
from tables import TableError, gather, split, stage_adds, stage_deletes
from tables.keyed import KeyCursor, KeyOrder
from tables.nexthop import NexthopTable

_from_bytes = int.from_bytes
_first = itemgetter(0)
_big_endian = partial(int.from_bytes, byteorder="big")
Probe = tuple[int, Callable[[int], "bytes | None"]]
"""(shift of an address to its network number, the get of that prefix length's dict)."""


class RouteTable:
    """Routes of one family (``bits`` 32 or 128) referring to ``nexthops``."""

    def __init__(self, nexthops: NexthopTable, bits: int) -> None:
        if bits not in (32, 128):
            raise ValueError(f"address bits {bits}: not 32 or 128")
        self.bits = bits
        self.record = wire.ROUTE4 if bits == 32 else wire.ROUTE6
        self.record_size = self.record.size
        self.get_request: Struct = wire.ROUTE4_GET_REQ if bits == 32 else wire.ROUTE6_GET_REQ
        self.order = KeyOrder(2 + bits // 8 + 1, self.record_size)
        self._nexthops = nexthops
        self._vrf_shift = bits + 8
        self._item_offsets = (1, 0, *range(4, 4 + bits // 8), 2, *range(self.record_size))
        """An item: vrf_id big-endian, prefix, prefixlen, then the record."""
        self._host_masks = [((1 << bits) - 1) >> plen for plen in range(bits + 1)]
        self._shifts = [bits - plen for plen in range(bits + 1)]
        self._by_plen: dict[int, dict[int, bytes]] = {}
        self._probes: dict[int, tuple[Probe, ...]] = {}

    def __len__(self) -> int:
        return len(self.order)

    def __contains__(self, key: int) -> bool:
        """Whether the route of sort key ``key`` exists."""
        plens = self._by_plen.get(self._code(key))
        return plens is not None and self._net(key) in plens

    def key(self, vrf_id: int, prefix: bytes, prefixlen: int) -> int:
        """The sort key ``vrf_id << (bits + 8) | prefix << 8 | prefixlen``."""
        return (vrf_id << self._vrf_shift) | (_from_bytes(prefix, "big") << 8) | prefixlen

    def _code(self, key: int) -> int:
        return ((key >> self._vrf_shift) << 8) | (key & 0xFF)

    def _net(self, key: int) -> int:
        return ((key >> 8) & self._host_masks[0]) >> self._shifts[key & 0xFF]

    def prefix_lengths(self, vrf_id: int) -> list[int]:
        """The prefix lengths in use in ``vrf_id``, longest first."""
        return [self.bits - shift for shift, _get in self._probes.get(vrf_id, ())]

    def get(self, vrf_id: int, prefix: bytes, prefixlen: int) -> bytes | None:
        """The route record of exactly this prefix, or None."""
        key = self.key(vrf_id, prefix, prefixlen)
        if prefixlen > self.bits or (key >> 8) & self._host_masks[prefixlen]:
            return None
        item = self._by_plen.get(self._code(key), {}).get(self._net(key))
        return None if item is None else item[self.order.key_size:]

    def lookup(self, vrf_id: int, addr: bytes) -> bytes | None:
        """Longest-prefix match of ``addr`` in ``vrf_id``: the route record, or None."""
        value = _from_bytes(addr, "big")
        for shift, get in self._probes.get(vrf_id, ()):
            item = get(value >> shift)
            if item is not None:
                return item[self.order.key_size:]
        return None

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
        nh_counts = _nh_counts(records, size)
        if 0 in nh_counts or not all(nh_id in self._nexthops for nh_id in nh_counts):
            return False
        items = split(gather(records, size, self._item_offsets), self.order.key_size + size)
        nets = list(map(rshift, prefixes, map(self._shifts.__getitem__, plens)))
        if not self._insert_new(codes, nets, items):
            return False
        self.order.insert(items)
        self._nexthops.retain(nh_counts)
        return True

    def _prefixes(self, records: bytes) -> list[int]:
        if self.bits == 32:
            return list(map(_first, iter_unpack(">4xI4x", records)))
        return list(map(_big_endian, map(_first, iter_unpack("4x16s4x", records))))

    def _insert_new(self, codes: Iterable[int], nets: list[int], items: list[bytes]) -> bool:
        """Put every item in its dict if no key is taken (nor repeated); else change nothing."""
        by_plen, created = self._by_plen, []
        for code, net, item in zip(codes, nets, items):
            plen_dict = by_plen.get(code)
            if plen_dict is None:
                plen_dict = by_plen[code] = {}
                created.append(code)
            if plen_dict.setdefault(net, item) is not item:
                break
        else:
            self._refresh_probes(created)
            return True
        for code, net, item in zip(codes, nets, items):   # roll back what was put
            plen_dict = by_plen.get(code)
            if plen_dict is not None and plen_dict.get(net) is item:
                del plen_dict[net]
        for code in created:
            if not by_plen[code]:
                del by_plen[code]
        return False

    def _add_exact(self, records: bytes, replace: bool) -> None:
        staged = stage_adds(self._parse_adds(records), replace, self)
        new_items: list[bytes] = []
        replaced: list[tuple[bytes, bytes]] = []
        created: list[int] = []
        size = self.order.key_size
        for key, record in staged.items():
            code, item = self._code(key), key.to_bytes(size, "big") + record
            plen_dict = self._by_plen.get(code)
            if plen_dict is None:
                plen_dict = self._by_plen[code] = {}
                created.append(code)
            old = plen_dict.get(self._net(key))
            plen_dict[self._net(key)] = item
            if old is None:
                new_items.append(item)
            else:
                replaced.append((old, item))
        self.order.replace(replaced)
        self.order.insert(new_items)
        self._refresh_probes(created)
        self._nexthops.retain(_nh_counts(b"".join(staged.values()), self.record_size))
        if replaced:
            old_items = b"".join(old for old, _ in replaced)
            self._nexthops.release(_nh_counts(old_items, size + self.record_size))

    def _parse_adds(self, records: bytes) -> Iterator[tuple[int, bytes]]:
        bits, host, shift = self.bits, self._host_masks, self._vrf_shift
        nexthops = self._nexthops
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
        keys = stage_deletes(self._parse_keys(records), missing_ok, self)
        removed: list[bytes] = []
        emptied: list[int] = []
        for key in keys:
            code = self._code(key)
            plen_dict = self._by_plen[code]
            removed.append(plen_dict.pop(self._net(key)))
            if not plen_dict:
                del self._by_plen[code]
                emptied.append(code)
        self.order.remove(removed)
        self._refresh_probes(emptied)
        self._nexthops.release(_nh_counts(b"".join(removed),
                                          self.order.key_size + self.record_size))

    def _parse_keys(self, records: bytes) -> Iterator[int]:
        bits, host, shift = self.bits, self._host_masks, self._vrf_shift
        for vrf_id, plen, _origin, prefix, _nh_id in iter_unpack(self.record.format, records):
            value = _from_bytes(prefix, "big")
            if plen > bits or vrf_id == wire.SCOPE_ALL or value & host[plen]:
                raise TableError(wire.EINVAL, self._why_invalid(vrf_id, plen, value, None))
            yield (vrf_id << shift) | (value << 8) | plen

    def _refresh_probes(self, codes: Iterable[int]) -> None:
        """Rebuild the probes of the VRFs of ``codes`` (dicts created or emptied)."""
        for vrf_id in {code >> 8 for code in codes}:
            plens = sorted((code & 0xFF for code in self._by_plen if code >> 8 == vrf_id),
                           reverse=True)
            probes = tuple((self._shifts[plen], self._by_plen[vrf_id << 8 | plen].get)
                           for plen in plens)
            if probes:
                self._probes[vrf_id] = probes
            else:
                self._probes.pop(vrf_id, None)

    def cursor(self, scope: int, after: bytes | None, max_count: int) -> KeyCursor:
        """LIST state; only the key fields of ``after`` are read, unvalidated."""
        after_key = None
        if after is not None:
            vrf_id, plen, _origin, prefix, _nh_id = self.record.unpack(after)
            after_key = self.key(vrf_id, prefix, plen)
        return self.order.cursor(scope, after_key, max_count)

    def step(self, cursor: KeyCursor, limit: int) -> list[bytes]:
        return self.order.step(cursor, limit)

    def step_blob(self, cursor: KeyCursor, limit: int) -> bytes:
        return self.order.step_blob(cursor, limit)


def _nh_counts(blob: bytes, size: int) -> Counter[int]:
    """nh_id -> count over the rows of ``blob`` (route records or items: nh_id last)."""
    return Counter(_u32s(gather(blob, size, range(size - 4, size))))


def _u32s(blob: bytes) -> array[int]:
    """``blob`` read as little-endian u32s."""
    values = array("I", blob)
    if sys.byteorder == "big":
        values.byteswap()
    return values
