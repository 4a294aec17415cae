"""The conntrack table: connection-tracking entries per interface.

The concept: a ``KeyedTable`` keyed by (iface_id, af, proto, src, dst, sport,
dport) packed big-endian in 40 bytes.  ADD injects entries as the datapath
would; the daemon sets ``id`` and ``last_update_ns``.

Ids: a new key gets the next value of a u32 counter (1, 2, ...; 0 is skipped
when it wraps).  REPLACE of an existing key KEEPS its id (it is the same
connection; only state and last_update_ns change).  Within one ADD, new keys
get ids in request order.  ``last_update_ns`` is one clock reading per request.

Invariants:
- every stored entry is valid: iface_id != 0xffff, af 4 or 6; stored records
  are re-encoded (padding zeroed);
- DEL and the AFTER record read only the key fields; DEL validates them as an
  ADD does, AFTER does not.

Complexity: O(1) lookups; bulk ADD/DEL of k entries O(k log n); FLUSH of one
interface O(log n + removed); LIST as ``KeyedTable``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from struct import Struct, iter_unpack

from api import wire
from tables import reasons
from tables.changelog import Changelog
from tables.errors import TableError
from tables.keyed import KeyCursor, KeyedTable
from tables.staging import stage_adds, stage_deletes

_SORT_KEY = Struct(">HBB16s16sHH")
"""iface_id, af, proto, src, dst, sport, dport: 40 bytes, memcmp order = key order."""
_ID_LIMIT = 1 << 32
Fields = tuple[int, int, int, bytes, bytes, int, int, int]
"""iface_id, af, proto, src, dst, sport, dport, state: a record without id and time."""


def conntrack_key(iface_id: int, af: int, proto: int, src: bytes, dst: bytes,
                  sport: int, dport: int) -> int:
    """The sort key of a conntrack entry."""
    return int.from_bytes(_SORT_KEY.pack(iface_id, af, proto, src, dst, sport, dport), "big")


class ConntrackTable:
    """Conntrack entries by (iface_id, af, proto, src, dst, sport, dport)."""

    record_size = wire.CONNTRACK.size

    def __init__(self, clock_ns: Callable[[], int] = time.monotonic_ns, *,
                 changelog: Changelog | None = None) -> None:
        self._log = changelog if changelog is not None else Changelog()
        """Where every change is recorded (``tables.changelog``)."""
        self.order = KeyedTable(_SORT_KEY.size, wire.CONNTRACK.size)
        self._clock_ns = clock_ns
        self._last_id = 0

    def __len__(self) -> int:
        return len(self.order)

    def get(self, iface_id: int, af: int, proto: int, src: bytes, dst: bytes,
            sport: int, dport: int) -> bytes | None:
        """The conntrack record of this key, or None."""
        return self.order.record(conntrack_key(iface_id, af, proto, src, dst, sport, dport))

    def add(self, records: bytes, replace: bool) -> None:
        """Bulk ADD of conntrack records (id, last_update_ns are ours): all or nothing."""
        sequence: list[int] = []
        staged = stage_adds(self._parse_adds(records), replace, self.order,
                            reasons.conntrack_key, sequence)
        now_ns = self._clock_ns()
        pack, stored = wire.CONNTRACK.pack, self.order.record
        encoded: dict[int, bytes] = {}
        for key, fields in staged.items():
            old = stored(key)
            entry_id = int.from_bytes(old[:4], "little") if old else self._next_id()
            encoded[key] = pack(entry_id, *fields, now_ns)
        self.order.put_many(encoded)
        self._log.record(wire.TABLE_CONNTRACK, wire.EV_PUT, self.record_size,
                         b"".join(map(encoded.__getitem__, sequence)))

    def _next_id(self) -> int:
        self._last_id = self._last_id % (_ID_LIMIT - 1) + 1
        return self._last_id

    @staticmethod
    def _parse_adds(records: bytes) -> Iterator[tuple[int, Fields]]:
        for (_id, iface_id, af, proto, src, dst, sport, dport, state,
             _time) in iter_unpack(wire.CONNTRACK.format, records):
            if _check_key(iface_id, af):
                raise TableError(wire.EINVAL, _invalid(iface_id, af, proto, src, dst, sport,
                                                       dport))
            key = conntrack_key(iface_id, af, proto, src, dst, sport, dport)
            yield key, (iface_id, af, proto, src, dst, sport, dport, state)

    def delete(self, records: bytes, missing_ok: bool) -> None:
        """Bulk DEL by the key fields of conntrack records: all or nothing (TableError)."""
        keys = stage_deletes(self._parse_keys(records), missing_ok, self.order,
                             name=reasons.conntrack_key)
        removed = self.order.delete_many(keys)
        self._log.record(wire.TABLE_CONNTRACK, wire.EV_DEL, self.record_size, b"".join(removed))

    @staticmethod
    def _parse_keys(records: bytes) -> Iterator[int]:
        for (_id, iface_id, af, proto, src, dst, sport, dport, _state,
             _time) in iter_unpack(wire.CONNTRACK.format, records):
            if _check_key(iface_id, af):
                raise TableError(wire.EINVAL, _invalid(iface_id, af, proto, src, dst, sport,
                                                       dport))
            yield conntrack_key(iface_id, af, proto, src, dst, sport, dport)

    def flush(self, scope: int) -> int:
        """Remove the entries of interface ``scope`` (0xffff: all); return how many."""
        removed = self.order.delete_range(scope)
        self._log.record(wire.TABLE_CONNTRACK, wire.EV_DEL, self.record_size, removed)
        return len(removed) // self.record_size

    def cursor(self, scope: int, after: bytes | None, max_count: int) -> KeyCursor:
        """LIST state; only the key fields of ``after`` are read, unvalidated."""
        after_key = None
        if after is not None:
            after_key = conntrack_key(*wire.CONNTRACK.unpack(after)[1:8])
        return self.order.cursor(scope, after_key, max_count)


def _check_key(iface_id: int, af: int) -> str:
    if iface_id == wire.SCOPE_ALL:
        return f"iface {reasons.MEANS_ALL} interfaces"
    return "" if af in (4, 6) else f"af {af} (expected 4 or 6)"


def _invalid(iface_id: int, af: int, proto: int, src: bytes, dst: bytes, sport: int,
             dport: int) -> str:
    """The EINVAL reason of a conntrack entry: its name, then what is wrong."""
    name = reasons.conntrack(iface_id, af, proto, src, dst, sport, dport)
    return f"{name}: {_check_key(iface_id, af)}"
