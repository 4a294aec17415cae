"""The tables a WATCH stateful test writes, as a model kept per revision.

The concept: the writer's requests (ADD with or without REPLACE, DEL with
MISSING_OK, FLUSH) on nexthop, route4, fdb and conntrack, and what each one
must leave in the tables.  ``TableModel.apply`` predicts whether a request
succeeds, whether it makes a revision, and the tables' contents with the
daemon-set fields zeroed; the test checks the daemon's LIST against it and
records the daemon's records (daemon-set fields included) under that revision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from api import wire
from api.events import table_key
from tests.tables.support import bulk, conntrack, fdb, nexthop, nh_ids, route4

Tables = dict[int, dict[bytes, bytes]]
# route4 has no FLUSH on the wire (ENOTSUP): the writer FLUSHes fdb and conntrack
TABLES = (wire.TABLE_NEXTHOP, wire.TABLE_ROUTE4, wire.TABLE_FDB, wire.TABLE_CONNTRACK)
MASK = 0
for _table in TABLES:
    MASK |= wire.table_bit(_table)
ROUTE_NEXTHOPS = (1, 2, 3)
"""Added at start and never removed: every route's nexthop stays present."""
NH_FREE = range(10, 16)
"""The nexthop ids the writer adds and deletes (no route uses them)."""
ROUTES = range(6)
"""Route4 keys: 10.K.0.0/16."""
LIST_TYPE = {wire.TABLE_NEXTHOP: wire.NH_LIST, wire.TABLE_ROUTE4: wire.ROUTE4_LIST,
             wire.TABLE_FDB: wire.FDB_LIST, wire.TABLE_CONNTRACK: wire.CT_LIST}
ADD_TYPE = {wire.TABLE_NEXTHOP: wire.NH_ADD, wire.TABLE_ROUTE4: wire.ROUTE4_ADD,
            wire.TABLE_FDB: wire.FDB_ADD, wire.TABLE_CONNTRACK: wire.CT_ADD}
DEL_TYPE = {wire.TABLE_NEXTHOP: wire.NH_DEL, wire.TABLE_ROUTE4: wire.ROUTE4_DEL,
            wire.TABLE_FDB: wire.FDB_DEL, wire.TABLE_CONNTRACK: wire.CT_DEL}
FLUSH_TYPE = {wire.TABLE_FDB: wire.FDB_FLUSH,
              wire.TABLE_CONNTRACK: wire.CT_FLUSH}


def record(table: int, key: int, variant: int) -> bytes:
    """Record number ``key`` (its key) of ``table``, in one of a few variants."""
    if table == wire.TABLE_NEXTHOP:
        return nexthop(NH_FREE[key % len(NH_FREE)], iface_id=1 + variant)
    if table == wire.TABLE_ROUTE4:
        return route4(f"10.{key}.0.0/16", ROUTE_NEXTHOPS[variant % 3])
    if table == wire.TABLE_FDB:
        return fdb(bytes([2, 0, 0, 0, 0, key]), iface_id=3 + variant)
    return conntrack(1000 + key, state=1 + variant)


def normal(table: int, rec: bytes) -> bytes:
    """``rec`` with the fields the daemon sets zeroed (fdb last_seen; conntrack id, time)."""
    if table == wire.TABLE_FDB:
        return rec[:-8] + bytes(8)
    if table == wire.TABLE_CONNTRACK:
        return bytes(4) + rec[4:-8] + bytes(8)
    return rec


@dataclass
class Request:
    """One writer request: its type and payload, and what the model expects of it."""

    req_type: int
    payload: bytes
    succeeds: bool
    changes: bool


@dataclass
class TableModel:
    """The four tables, normalised (see ``normal``), and the revision counter."""

    revision: int = 0
    tables: Tables = field(default_factory=lambda: {t: {} for t in TABLES})

    def add(self, table: int, records: list[bytes], replace: bool) -> Request:
        rows = self.tables[table]
        keys = [table_key(table, r) for r in records]
        succeeds = replace or not any(k in rows for k in keys)
        if succeeds:
            for key, rec in zip(keys, records):
                rows[key] = normal(table, rec)
            self.revision += 1
        flags = wire.ADD_REPLACE if replace else 0
        return Request(ADD_TYPE[table], bulk(*records, flags=flags), succeeds, succeeds)

    def delete(self, table: int, records: list[bytes]) -> Request:
        rows = self.tables[table]
        changes = False
        for rec in records:
            changes |= rows.pop(table_key(table, rec), None) is not None
        self.revision += changes
        if table == wire.TABLE_NEXTHOP:
            ids = [wire.U32.unpack_from(r)[0] for r in records]
            payload = nh_ids(*ids, flags=wire.DEL_MISSING_OK)
        else:
            payload = bulk(*records, flags=wire.DEL_MISSING_OK)
        return Request(DEL_TYPE[table], payload, True, changes)

    def flush(self, table: int) -> Request:
        changes = bool(self.tables[table])
        self.tables[table].clear()
        self.revision += changes
        return Request(FLUSH_TYPE[table], wire.FLUSH_REQ.pack(wire.SCOPE_ALL), True, changes)

    def matches(self, listed: Tables) -> bool:
        """Whether the daemon's tables are the model's, daemon-set fields aside."""
        return all({k: normal(t, r) for k, r in listed[t].items()} == self.tables[t]
                   for t in TABLES)
