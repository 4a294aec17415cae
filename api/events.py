"""Change events of a WATCH stream, and a local copy kept by applying them.

The concept (watch-v1 section 4): each item of a WATCH stream is an event:
a 12-byte header (revision, kind, table, flags) then a record of the table's
wire format (none for SYNC).  ``decode_event`` checks an item and gives an
``Event``; ``TableCopy`` applies events in order to a copy of the selected
tables (SNAP and PUT set the record by its key, DEL removes the key) and says
when the copy is exact: right after SYNC, and after each event flagged LAST
(watch-v1 section 6, guarantee 2).

A copy being rebuilt by a SNAPSHOT (the first one, or after ESTALE) is staged
apart from the exact one: the exact copy stays readable, unchanged, until the
SYNC, when the staged one replaces it and the difference between the two is
reported as changes.  A copy resumed from a revision is changed in place.

Invariants: keys are the table's key fields (wire-v1 section 6) as bytes, so
two records with one key never coexist; ``revision`` is the revision the exact
copy reflects (0 before the first SYNC); ``Synced`` is reported once per
revision (a resumed stream's SYNC that repeats the last LAST's revision says
nothing new), and always after a snapshot.  Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Callable, Union

from api import wire

RECORD_SIZES: dict[int, int] = {
    wire.TABLE_NEXTHOP: wire.NEXTHOP.size, wire.TABLE_ROUTE4: wire.ROUTE4.size,
    wire.TABLE_ROUTE6: wire.ROUTE6.size, wire.TABLE_FDB: wire.FDB.size,
    wire.TABLE_CONNTRACK: wire.CONNTRACK.size,
}
"""Record size of each table id."""
TABLE_NAMES: dict[int, str] = {
    wire.TABLE_NEXTHOP: "nexthop", wire.TABLE_ROUTE4: "route4", wire.TABLE_ROUTE6: "route6",
    wire.TABLE_FDB: "fdb", wire.TABLE_CONNTRACK: "conntrack",
}
KIND_NAMES: dict[int, str] = {wire.EV_PUT: "put", wire.EV_DEL: "del", wire.EV_SNAP: "snap",
                              wire.EV_SYNC: "sync"}

_KEY_OF: dict[int, Callable[[bytes], bytes]] = {
    wire.TABLE_NEXTHOP: lambda r: r[:4],                    # nh_id
    wire.TABLE_ROUTE4: lambda r: r[:3] + r[4:8],             # vrf_id, prefixlen, prefix
    wire.TABLE_ROUTE6: lambda r: r[:3] + r[4:20],
    wire.TABLE_FDB: lambda r: r[:10],                        # bridge_id, vlan_id, mac
    wire.TABLE_CONNTRACK: lambda r: r[4:44],                 # iface_id .. dport
}


class EventError(ValueError):
    """An item that is not a valid watch-v1 event."""


def table_key(table: int, record: bytes) -> bytes:
    """The key fields of a record of ``table``, as bytes (equal iff the keys are)."""
    return _KEY_OF[table](record)


@dataclass(frozen=True, slots=True)
class Event:
    """One item of a WATCH stream."""

    revision: int
    kind: int
    """``wire.EV_PUT``, ``EV_DEL``, ``EV_SNAP`` or ``EV_SYNC``."""
    table: int
    """``wire.TABLE_*`` (0 for SYNC)."""
    last: bool
    """The last event of its revision for this watcher."""
    record: bytes

    @property
    def key(self) -> bytes:
        return table_key(self.table, self.record)

    def __str__(self) -> str:
        kind = KIND_NAMES.get(self.kind, str(self.kind))
        table = TABLE_NAMES.get(self.table, "-")
        return f"{self.revision} {kind} {table}{' last' if self.last else ''}"


def decode_event(payload: bytes) -> Event:
    """The event of one WATCH item; ``EventError`` if it breaks watch-v1 section 4."""
    if len(payload) < wire.EVENT_SIZE:
        raise EventError(f"an event item of {len(payload)} bytes")
    revision, kind, table, flags = wire.EVENT.unpack_from(payload)
    record = payload[wire.EVENT_SIZE:]
    if flags & ~wire.EV_LAST:
        raise EventError(f"unknown event flags {flags:#x}")
    if kind == wire.EV_SYNC:
        if table or record or flags:
            raise EventError("a SYNC event with a table, a record or flags")
    elif kind not in (wire.EV_PUT, wire.EV_DEL, wire.EV_SNAP):
        raise EventError(f"unknown event kind {kind}")
    elif kind == wire.EV_SNAP and (revision or flags):
        raise EventError("a SNAP event with a revision or flags")
    elif len(record) != RECORD_SIZES.get(table, -1):
        raise EventError(f"a {KIND_NAMES[kind]} event of table {table} with a "
                         f"{len(record)}-byte record")
    return Event(revision, kind, table, bool(flags), record)


@dataclass(frozen=True, slots=True)
class Change:
    """A record of the copy that changed: ``old`` / ``new`` are None when absent."""

    table: int
    key: bytes
    old: bytes | None
    new: bytes | None


@dataclass(frozen=True, slots=True)
class Synced:
    """The copy is exact at ``revision`` (after a SYNC or a LAST event)."""

    revision: int


Update = Union[Change, Synced]
Tables = dict[int, dict[bytes, bytes]]


class TableCopy:
    """The selected tables as the events say they are; see the module docstring."""

    def __init__(self, mask: int) -> None:
        self.mask = mask
        self.tables: Tables = {t: {} for t in wire.TABLE_IDS if wire.table_bit(t) & mask}
        """table id -> key -> record: exact at ``revision`` between updates."""
        self.revision = 0
        self._staged: Tables | None = None
        self._announced: int | None = None      # the revision of the last Synced

    def begin_snapshot(self) -> None:
        """A SNAPSHOT starts: stage a new copy; keep the exact one until SYNC."""
        self._staged = {table: {} for table in self.tables}

    def apply(self, event: Event) -> Iterator[Update]:
        """Apply one event; yield the changes it made and ``Synced`` when exact."""
        if event.kind == wire.EV_SYNC:
            yield from self._sync(event.revision)
            return
        target = self._staged if self._staged is not None else self.tables
        table = target.get(event.table)
        if table is None:
            raise EventError(f"an event of table {event.table}, which is not watched")
        key = event.key
        old = table.get(key)
        if event.kind == wire.EV_DEL:
            table.pop(key, None)
            new = None
        else:
            table[key] = new = event.record
        if target is self.tables and old != new:
            yield Change(event.table, key, old, new)
        if event.last and self._staged is None:
            yield from self._exact(event.revision)

    def _sync(self, revision: int) -> Iterator[Update]:
        staged, self._staged = self._staged, None
        if staged is not None:
            old_tables, self.tables = self.tables, staged
            self._announced = None
            yield from _differences(old_tables, staged)
        yield from self._exact(revision)

    def _exact(self, revision: int) -> Iterator[Update]:
        self.revision = revision
        if revision != self._announced:
            self._announced = revision
            yield Synced(revision)


def _differences(old: Tables, new: Tables) -> Iterator[Change]:
    for table, after in new.items():
        before = old.get(table, {})
        for key, record in after.items():
            previous = before.get(key)
            if previous != record:
                yield Change(table, key, previous, record)
        for key, record in before.items():
            if key not in after:
                yield Change(table, key, record, None)
