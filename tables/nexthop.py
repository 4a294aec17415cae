"""The nexthop table: nexthop records by nh_id, with route reference counts.

The concept: a ``KeyedTable`` keyed by nh_id (4-byte sort key), with a scope
index on vrf_id (LIST scope is vrf_id, which is not the key: the scope index
keeps a scoped listing a key range), and ``refs``: how many routes (IPv4 and
IPv6 together) use each nexthop.

Invariants:
- every stored record is re-encoded (padding zeroed) and valid: nh_id != 0,
  vrf_id != 0xffff, type 1 (gateway, family 4 with bytes 4..15 of addr zero,
  or family 6), 2 or 3 (blackhole/reject: family 0 and addr all zero);
- ``refs[nh_id]`` > 0 only for a stored nexthop; a nexthop with references
  cannot be deleted (EBUSY); REPLACE keeps its references.

DEL order within one record: EINVAL (nh_id 0), then ENOENT (missing, unless
MISSING_OK), then EBUSY (routes still use it).

Complexity: O(1) lookups and reference updates; bulk ADD/DEL of k records
O(k log n); LIST as ``KeyedTable``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from struct import iter_unpack

from api import wire
from tables import reasons
from tables.changelog import Changelog
from tables.errors import TableError
from tables.keyed import KeyCursor, KeyedTable
from tables.staging import stage_adds, stage_deletes

_ZERO_TAIL = bytes(12)
_ZERO_ADDR = bytes(16)
_KEY_SIZE = 4
_ID_ZERO = "nexthop id 0 is reserved"


def _scope_of(record: bytes) -> bytes:
    """vrf_id (bytes 4..5, little-endian) as 2 big-endian bytes."""
    return record[5:3:-1]


def check_nexthop(vrf_id: int, nh_type: int, family: int, addr: bytes) -> str:
    """Why these nexthop fields are invalid (EINVAL), or ``""``."""
    if vrf_id == wire.SCOPE_ALL:
        return f"vrf {reasons.MEANS_ALL} vrfs"
    if nh_type == wire.NH_GATEWAY:
        if family == 4:
            return "" if addr[4:] == _ZERO_TAIL else "IPv4 gateway with bytes 4..15 set"
        return "" if family == 6 else f"gateway family {family} (expected 4 or 6)"
    if nh_type in (wire.NH_BLACKHOLE, wire.NH_REJECT):
        if family != 0 or addr != _ZERO_ADDR:
            return "a blackhole or reject nexthop with a gateway family or address"
        return ""
    return f"unknown type {nh_type} (expected 1 gateway, 2 blackhole or 3 reject)"


class NexthopTable:
    """Nexthops by nh_id; ``refs`` counts the routes using each one."""

    record_size = wire.NEXTHOP.size

    def __init__(self, *, changelog: Changelog | None = None) -> None:
        self._log = changelog if changelog is not None else Changelog()
        """Where every change is recorded (``tables.changelog``)."""
        self.order = KeyedTable(_KEY_SIZE, wire.NEXTHOP.size, scope_of=_scope_of)
        """Keyed by nh_id as is: ``nh_id in order`` is exact.  Never rebound (the
        LIST handler holds it)."""
        self.refs: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.order)

    def __contains__(self, nh_id: int) -> bool:
        return nh_id in self.order.keys

    def get(self, nh_id: int) -> bytes | None:
        """The nexthop record of ``nh_id``, or None."""
        return self.order.record(nh_id)

    def refcount(self, nh_id: int) -> int:
        return self.refs.get(nh_id, 0)

    def add(self, records: bytes, replace: bool) -> None:
        """Bulk ADD of whole nexthop records: all or nothing (TableError)."""
        sequence: list[int] = []
        staged = stage_adds(self._parse(records), replace, self.order, reasons.nexthop,
                            sequence)
        self.order.put_many(staged)
        self._log.record(wire.TABLE_NEXTHOP, wire.EV_PUT, self.record_size,
                         b"".join(map(staged.__getitem__, sequence)))

    def _parse(self, records: bytes) -> Iterator[tuple[int, bytes]]:
        pack = wire.NEXTHOP.pack
        for nh_id, vrf_id, iface_id, nh_type, family, addr, mac in iter_unpack(
                wire.NEXTHOP.format, records):
            if nh_id == 0:
                raise TableError(wire.EINVAL, _ID_ZERO)
            problem = check_nexthop(vrf_id, nh_type, family, addr)
            if problem:
                raise TableError(wire.EINVAL, f"{reasons.nexthop(nh_id)}: {problem}")
            yield nh_id, pack(nh_id, vrf_id, iface_id, nh_type, family, addr, mac)

    def delete(self, ids: bytes, missing_ok: bool) -> None:
        """Bulk DEL of ``<I`` nh_ids: all or nothing (EINVAL, ENOENT, EBUSY)."""
        keys = stage_deletes(self._ids(ids), missing_ok, self.order, busy=self._busy,
                             name=reasons.nexthop)
        removed = self.order.delete_many(keys)
        self._log.record(wire.TABLE_NEXTHOP, wire.EV_DEL, self.record_size, b"".join(removed))

    def _busy(self, nh_id: int) -> str:
        """Why ``nh_id`` cannot be deleted (routes use it), or ``""``."""
        count = self.refs.get(nh_id)
        return f"{reasons.nexthop(nh_id)} is used by {reasons.routes(count)}" if count else ""

    @staticmethod
    def _ids(ids: bytes) -> Iterator[int]:
        for (nh_id,) in iter_unpack("<I", ids):
            if nh_id == 0:
                raise TableError(wire.EINVAL, _ID_ZERO)
            yield nh_id

    def retain(self, counts: Mapping[int, int]) -> None:
        """Add route references (``nh_id -> count``); the nexthops must exist."""
        refs = self.refs
        for nh_id, count in counts.items():
            refs[nh_id] = refs.get(nh_id, 0) + count

    def release(self, counts: Mapping[int, int]) -> None:
        """Drop route references taken with ``retain``."""
        refs = self.refs
        for nh_id, count in counts.items():
            left = refs[nh_id] - count
            if left:
                refs[nh_id] = left
            else:
                del refs[nh_id]

    def cursor(self, scope: int, after: bytes | None, max_count: int) -> KeyCursor:
        """LIST state; ``after`` is a whole record, only its nh_id is read."""
        after_key = None if after is None else int.from_bytes(after[:4], "little")
        return self.order.cursor(scope, after_key, max_count)
