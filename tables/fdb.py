"""The FDB (bridge forwarding database): MAC entries per bridge and VLAN.

The concept: a ``KeyedTable`` keyed by (bridge_id, vlan_id, mac) packed
big-endian in 10 bytes, i.e. the integer ``bridge_id << 64 | vlan_id << 48 | mac``.
The daemon stamps ``last_seen_ns`` on every ADD (REPLACE included) from an
injectable monotonic clock, one reading per request; FLUSH removes a bridge's
entries (or all) as one key range.

Invariants:
- every stored entry is valid: bridge_id != 0xffff, vlan_id <= 4095, flags 1
  (static) or 2 (learned); stored records are re-encoded (padding zeroed);
- DEL and the AFTER record read only the key fields; DEL validates them as an
  ADD does, AFTER does not.

Complexity: O(1) lookups; bulk ADD/DEL of k entries O(k log n); FLUSH of one
bridge O(log n + removed); LIST as ``KeyedTable``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from struct import iter_unpack

from api import wire
from tables import reasons
from tables.changelog import Changelog
from tables.errors import TableError
from tables.keyed import KeyCursor, KeyedTable
from tables.staging import stage_adds, stage_deletes

_KEY_SIZE = 10
_VLAN_MAX = 4095


def fdb_key(bridge_id: int, vlan_id: int, mac: bytes) -> int:
    """The sort key of an FDB entry."""
    return (bridge_id << 64) | (vlan_id << 48) | int.from_bytes(mac, "big")


class FdbTable:
    """FDB entries by (bridge_id, vlan_id, mac)."""

    record_size = wire.FDB.size

    def __init__(self, clock_ns: Callable[[], int] = time.monotonic_ns, *,
                 changelog: Changelog | None = None) -> None:
        self._log = changelog if changelog is not None else Changelog()
        """Where every change is recorded (``tables.changelog``)."""
        self.order = KeyedTable(_KEY_SIZE, wire.FDB.size)
        self._clock_ns = clock_ns

    def __len__(self) -> int:
        return len(self.order)

    def get(self, bridge_id: int, vlan_id: int, mac: bytes) -> bytes | None:
        """The FDB record of this key, or None."""
        return self.order.record(fdb_key(bridge_id, vlan_id, mac))

    def add(self, records: bytes, replace: bool) -> None:
        """Bulk ADD of FDB records (last_seen_ns is ours): all or nothing (TableError)."""
        sequence: list[int] = []
        staged = stage_adds(self._parse_adds(records, self._clock_ns()), replace, self.order,
                            reasons.fdb_key, sequence)
        self.order.put_many(staged)
        self._log.record(wire.TABLE_FDB, wire.EV_PUT, self.record_size,
                         b"".join(map(staged.__getitem__, sequence)))

    @staticmethod
    def _parse_adds(records: bytes, now_ns: int) -> Iterator[tuple[int, bytes]]:
        pack = wire.FDB.pack
        for bridge_id, vlan_id, mac, iface_id, flags, _seen in iter_unpack(
                wire.FDB.format, records):
            problem = _check_key(bridge_id, vlan_id)
            if not problem and flags not in (wire.FDB_STATIC, wire.FDB_LEARNED):
                problem = f"flags {flags} (expected 1 static or 2 learned)"
            if problem:
                raise TableError(wire.EINVAL, f"{reasons.fdb(bridge_id, vlan_id, mac)}: {problem}")
            yield (fdb_key(bridge_id, vlan_id, mac),
                   pack(bridge_id, vlan_id, mac, iface_id, flags, now_ns))

    def delete(self, records: bytes, missing_ok: bool) -> None:
        """Bulk DEL by the key fields of FDB records: all or nothing (TableError)."""
        keys = stage_deletes(self._parse_keys(records), missing_ok, self.order,
                             name=reasons.fdb_key)
        removed = self.order.delete_many(keys)
        self._log.record(wire.TABLE_FDB, wire.EV_DEL, self.record_size, b"".join(removed))

    @staticmethod
    def _parse_keys(records: bytes) -> Iterator[int]:
        for bridge_id, vlan_id, mac, _iface, _flags, _seen in iter_unpack(
                wire.FDB.format, records):
            problem = _check_key(bridge_id, vlan_id)
            if problem:
                raise TableError(wire.EINVAL, f"{reasons.fdb(bridge_id, vlan_id, mac)}: {problem}")
            yield fdb_key(bridge_id, vlan_id, mac)

    def flush(self, scope: int) -> int:
        """Remove the entries of bridge ``scope`` (0xffff: all); return how many."""
        removed = self.order.delete_range(scope)
        self._log.record(wire.TABLE_FDB, wire.EV_DEL, self.record_size, removed)
        return len(removed) // self.record_size

    def cursor(self, scope: int, after: bytes | None, max_count: int) -> KeyCursor:
        """LIST state; only the key fields of ``after`` are read, unvalidated."""
        after_key = None
        if after is not None:
            bridge_id, vlan_id, mac = wire.FDB.unpack(after)[:3]
            after_key = fdb_key(bridge_id, vlan_id, mac)
        return self.order.cursor(scope, after_key, max_count)


def _check_key(bridge_id: int, vlan_id: int) -> str:
    if bridge_id == wire.SCOPE_ALL:
        return f"bridge {reasons.MEANS_ALL} bridges"
    return f"vlan {vlan_id} > {_VLAN_MAX}" if vlan_id > _VLAN_MAX else ""
