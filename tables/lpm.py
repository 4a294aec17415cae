"""Route lookups: exact GET and longest-prefix match, by prefix length.

The concept: ``PrefixIndex`` answers GET and LPM for one route table without
touching its key order.  For each (vrf_id, prefixlen) in use it keeps a dict
mapping the network number ``prefix >> (bits - prefixlen)`` to the route's
*tail*, the pair ``(origin, nh_id)``.  With its key, a route's tail is its whole
record (a route record has no other field and no padding), so a lookup
rebuilds the record with one ``pack``: no second structure is read.  Tails are
interned (routes share a few (origin, nexthop) pairs), so a route costs one
dict entry and the int of its network number.

LPM probes the dicts of the VRF's prefix lengths, longest first, and stops at
the first hit (at most 33 / 129 probes; the short-prefix dicts are small and
stay in cache).

The prefix masks of each family (``HOST_MASKS``, ``SHIFTS``) are built once,
at import, and shared with ``tables.route``'s checks.

Invariants:
- ``_by_plen[vrf << 8 | plen]`` exists iff it is non-empty; ``_probes[vrf]``
  holds (shift, dict ``get``) of those of ``vrf``, longest prefix first,
  and exists iff one does;
- ``_tails`` maps each interned tail to itself; an ADD holding more than
  ``TAILS_MAX`` of them clears it first (interning only saves memory, it
  decides nothing).

Complexity: GET O(1); LPM O(prefix lengths in use); adding or removing a
route O(1), plus O(dicts of its VRF) when a dict is created or emptied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice
from struct import Struct

FAMILY_BITS = (32, 128)
HOST_MASKS: dict[int, tuple[int, ...]] = {
    bits: tuple(((1 << bits) - 1) >> plen for plen in range(bits + 1)) for bits in FAMILY_BITS}
"""``HOST_MASKS[bits][plen]``: the host bits of a prefix of length plen (built once
per family, shared by the route tables' checks and the index)."""
SHIFTS: dict[int, tuple[int, ...]] = {bits: tuple(range(bits, -1, -1)) for bits in FAMILY_BITS}
"""``SHIFTS[bits][plen] == bits - plen``: the shift of an address to its network number."""

TAILS_MAX = 1 << 16
"""Interned tails kept at most (distinct (origin, nh_id) pairs seen)."""
Tail = tuple[int, int]
"""(origin, nh_id) of a route."""
Probe = tuple[int, Callable[[int], "Tail | None"]]
"""(``bits - prefixlen``: the shift of an address to its network number, the
``get`` of that prefix length's dict)."""


def tail_of(record: bytes) -> Tail:
    """(origin, nh_id) of a route record (origin byte 3, nh_id the last 4 bytes)."""
    return record[3], int.from_bytes(record[-4:], "little")


class PrefixIndex:
    """GET and LPM for routes of ``bits`` (32 or 128) with records ``record``."""

    def __init__(self, bits: int, record: Struct) -> None:
        self.bits = bits
        self._pack = record.pack
        self._addr_size = bits // 8
        self._vrf_shift = bits + 8
        self._host_masks = HOST_MASKS[bits]
        self._shifts = SHIFTS[bits]
        self._by_plen: dict[int, dict[int, Tail]] = {}
        self._probes: dict[int, tuple[Probe, ...]] = {}
        self._tails: dict[Tail, Tail] = {}

    def code(self, key: int) -> int:
        """``vrf_id << 8 | prefixlen`` of a sort key."""
        return ((key >> self._vrf_shift) << 8) | (key & 0xFF)

    def net(self, key: int) -> int:
        """The network number of a sort key."""
        return ((key >> 8) & self._host_masks[0]) >> self._shifts[key & 0xFF]

    def __len__(self) -> int:
        """Routes indexed: O(prefix lengths in use)."""
        return sum(map(len, self._by_plen.values()))

    def codes(self) -> list[int]:
        """The (vrf_id << 8 | prefixlen) in use, sorted (for tests)."""
        return sorted(self._by_plen)

    def __contains__(self, key: int) -> bool:
        """Whether the route of sort key ``key`` exists."""
        nets = self._by_plen.get(self.code(key))
        return nets is not None and self.net(key) in nets

    def prefix_lengths(self, vrf_id: int) -> list[int]:
        """The prefix lengths in use in ``vrf_id``, longest first."""
        return [self.bits - shift for shift, _get in self._probes.get(vrf_id, ())]

    def get(self, key: int) -> bytes | None:
        """The record of the route of sort key ``key`` (a valid key), or None."""
        vrf_id, plen, prefix = key >> self._vrf_shift, key & 0xFF, (key >> 8) & self._host_masks[0]
        nets = self._by_plen.get(vrf_id << 8 | plen)
        tail = None if nets is None else nets.get(prefix >> self._shifts[plen])
        if tail is None:
            return None
        return self._pack(vrf_id, plen, tail[0], prefix.to_bytes(self._addr_size), tail[1])

    def lookup(self, vrf_id: int, addr: bytes) -> bytes | None:
        """Longest-prefix match of ``addr`` in ``vrf_id``: the route record, or None."""
        value = int.from_bytes(addr, "big")
        for shift, get in self._probes.get(vrf_id, ()):
            tail = get(value >> shift)
            if tail is not None:
                return self._pack(vrf_id, self.bits - shift, tail[0],
                                  (value >> shift << shift).to_bytes(self._addr_size), tail[1])
        return None

    def insert_new(self, codes: Sequence[int], nets: Sequence[int], tails: Sequence[Tail]) -> bool:
        """Add every route (code, network number, tail) if none is present and none is
        repeated; else change nothing and return False."""
        if len(self._tails) > TAILS_MAX:
            self._tails.clear()
        by_plen, created, added = self._by_plen, [], 0
        interned = map(self._tails.setdefault, tails, tails)
        for code, net, tail in zip(codes, nets, interned):
            nets_of = by_plen.get(code)
            if nets_of is None:
                nets_of = by_plen[code] = {}
                created.append(code)
            if net in nets_of:
                break
            nets_of[net] = tail
            added += 1
        else:
            self._refresh(created)
            return True
        for code, net in islice(zip(codes, nets), added):   # roll back: all were new
            del by_plen[code][net]
        for code in created:
            if not by_plen[code]:
                del by_plen[code]
        return False

    def put_many(self, records: Mapping[int, bytes]) -> list[int]:
        """Add or replace ``sort key -> record``; return the keys that were present."""
        if len(self._tails) > TAILS_MAX:
            self._tails.clear()
        created: list[int] = []
        present: list[int] = []
        for key, record in records.items():
            code, net, tail = self.code(key), self.net(key), tail_of(record)
            nets = self._by_plen.get(code)
            if nets is None:
                nets = self._by_plen[code] = {}
                created.append(code)
            if net in nets:
                present.append(key)
            nets[net] = self._tails.setdefault(tail, tail)
        self._refresh(created)
        return present

    def remove_many(self, keys: Iterable[int]) -> None:
        """Remove the routes of these (present, distinct) sort keys."""
        emptied: list[int] = []
        for key in keys:
            code = self.code(key)
            nets = self._by_plen[code]
            del nets[self.net(key)]
            if not nets:
                del self._by_plen[code]
                emptied.append(code)
        self._refresh(emptied)

    def _refresh(self, codes: Iterable[int]) -> None:
        """Rebuild the probes of the VRFs of ``codes`` (dicts created or emptied)."""
        for vrf_id in {code >> 8 for code in codes}:
            plens = sorted((code & 0xFF for code in self._by_plen if code >> 8 == vrf_id),
                           reverse=True)
            if plens:
                self._probes[vrf_id] = tuple((self._shifts[plen],
                                              self._by_plen[vrf_id << 8 | plen].get)
                                             for plen in plens)
            else:
                self._probes.pop(vrf_id, None)
