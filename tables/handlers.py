"""The table requests (ADD, DEL, GET, LIST, FLUSH) bound to the registry.

The concept: ``Tables`` holds the five tables; ``register_tables`` registers,
for each module, one handler per request of wire-v1 §7 and one STATS figure
per table.  The handlers check what belongs to the payload as a whole and
leave the records to the tables:

1. minimum length: declared at registration, answered EMSGSIZE by the
   registry before a handler runs (``4 + R`` for ADD/DEL, ``list_min_size(R)``
   for LIST, 4 / 8 / 20 for the GETs, 4 for FLUSH);
2. any other invalid length (partial record, extra bytes): EINVAL;
3. unknown flag bits: EINVAL;
4. the records, in request order, all validated before anything is applied
   (the tables raise ``TableError``, turned into ``ApiError`` here, with the
   failing record's index and the reason naming it: the reply's payload of
   wire-v1 section 2).  Only these record errors of ADD and DEL carry a
   payload; every other error (lengths, flags, GET, LIST, FLUSH) is
   header-only.

A LIST's ``init`` validates and builds a ``KeyCursor`` and has no side effect
(the server may drop it and answer EBUSY); ``next_blob`` (what the server
uses: the records end to end) or ``next_batch`` (a list) steps it through the
table's key order (``table.order``) and ends the stream with EXFULL when
max_count records were sent and more exist.

This is the only module of ``tables`` that imports ``api.registry``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from api import wire
from api.batch import record_blobs
from api.registry import ApiError, Context, OneShotHandler, Registry, list_min_size
from tables.conntrack import ConntrackTable
from tables.errors import TableError
from tables.fdb import FdbTable
from tables.keyed import KeyCursor, KeyOrder
from tables.nexthop import NexthopTable
from tables.route import RouteTable
from tables.changelog import DEFAULT_MAX_EVENTS, Changelog
from tables.watch import Listable, Watches

_FLAGS = wire.BULK_FLAGS.size
_NH_ID_SIZE = 4


@dataclass(frozen=True, slots=True)
class Tables:
    """The daemon's five tables (route4 and route6 share the nexthop table)."""

    nexthops: NexthopTable
    routes4: RouteTable
    routes6: RouteTable
    fdb: FdbTable
    conntrack: ConntrackTable

    changelog: Changelog

    @classmethod
    def create(cls, clock_ns: Callable[[], int] = time.monotonic_ns,
               changelog_events: int = DEFAULT_MAX_EVENTS) -> Tables:
        """Empty tables; ``clock_ns`` stamps fdb last_seen_ns and conntrack
        last_update_ns; the changelog retains ``changelog_events`` changes."""
        log = Changelog(changelog_events)
        nexthops = NexthopTable(changelog=log)
        return cls(nexthops, RouteTable(nexthops, 32, changelog=log),
                   RouteTable(nexthops, 128, changelog=log), FdbTable(clock_ns, changelog=log),
                   ConntrackTable(clock_ns, changelog=log), log)

    def watchable(self) -> dict[int, Listable]:
        """The tables by WATCH table id."""
        return {wire.TABLE_NEXTHOP: self.nexthops, wire.TABLE_ROUTE4: self.routes4,
                wire.TABLE_ROUTE6: self.routes6, wire.TABLE_FDB: self.fdb,
                wire.TABLE_CONNTRACK: self.conntrack}


class ListedTable(Protocol):
    """What the generic handlers need of a table."""

    @property
    def record_size(self) -> int: ...
    @property
    def order(self) -> KeyOrder: ...
    def __len__(self) -> int: ...
    def add(self, records: bytes, replace: bool) -> None: ...
    def delete(self, records: bytes, missing_ok: bool) -> None: ...
    def cursor(self, scope: int, after: bytes | None, max_count: int) -> KeyCursor: ...


def register_tables(registry: Registry, tables: Tables) -> None:
    """Register every table request and the table sizes for STATS."""
    modules: list[tuple[int, str, ListedTable, int]] = [
        (wire.MODULE_NEXTHOP, "nexthops", tables.nexthops, _NH_ID_SIZE),
        (wire.MODULE_ROUTE4, "routes4", tables.routes4, tables.routes4.record_size),
        (wire.MODULE_ROUTE6, "routes6", tables.routes6, tables.routes6.record_size),
        (wire.MODULE_FDB, "fdb", tables.fdb, tables.fdb.record_size),
        (wire.MODULE_CONNTRACK, "conntrack", tables.conntrack, tables.conntrack.record_size),
    ]
    for module, stats_name, table, del_size in modules:
        _register_module(registry, module, table, del_size, tables.changelog)
        registry.add_stats(stats_name, table.__len__)
    registry.register(wire.NH_GET, _nexthop_get(tables.nexthops), min_size=wire.NH_GET_REQ.size)
    for route_get, routes in ((wire.ROUTE4_GET, tables.routes4),
                              (wire.ROUTE6_GET, tables.routes6)):
        registry.register(route_get, _route_get(routes), min_size=routes.get_request.size)
    log = tables.changelog
    registry.register(wire.FDB_FLUSH, _flush(tables.fdb.flush, log),
                      min_size=wire.FLUSH_REQ.size)
    registry.register(wire.CT_FLUSH, _flush(tables.conntrack.flush, log),
                      min_size=wire.FLUSH_REQ.size)
    Watches(log, tables.watchable()).register(registry)


def _register_module(registry: Registry, module: int, table: ListedTable,
                     del_size: int, log: Changelog) -> None:
    size = table.record_size
    registry.register(wire.msg_type(module, wire.OP_ADD),
                      _bulk(table.add, size, wire.ADD_REPLACE, log), min_size=_FLAGS + size)
    registry.register(wire.msg_type(module, wire.OP_DEL),
                      _bulk(table.delete, del_size, wire.DEL_MISSING_OK, log),
                      min_size=_FLAGS + del_size)
    init, next_blob = _list(table)
    registry.register_stream(wire.msg_type(module, wire.OP_LIST), init,
                             record_blobs(next_blob, size), min_size=list_min_size(size),
                             record_size=size)


@contextmanager
def _as_api_errors() -> Iterator[None]:
    try:
        yield
    except TableError as error:
        raise ApiError(error.status, error.reason, index=error.index,
                       reason=error.reason) from None


def _bulk(apply: Callable[[bytes, bool], None], record_size: int,
          flag: int, log: Changelog) -> OneShotHandler:
    """ADD or DEL: ``<I`` flags (only ``flag`` known) then k >= 1 records; what it
    changes is one revision of ``log``, made by the asking connection."""
    def handle(payload: bytes, ctx: Context) -> bytes:
        if (len(payload) - _FLAGS) % record_size:
            raise ApiError(wire.EINVAL, f"not a whole number of {record_size}-byte records")
        (flags,) = wire.BULK_FLAGS.unpack_from(payload)
        if flags & ~flag:
            raise ApiError(wire.EINVAL, f"unknown flag bits {flags & ~flag:#x}")
        with _as_api_errors(), log.request(ctx.client_id):
            apply(payload[_FLAGS:], bool(flags & flag))
        return b""

    return handle


def _list(table: ListedTable) -> tuple[Callable[[bytes, Context], KeyCursor],
                                       Callable[[KeyCursor, Context, int], bytes]]:
    """LIST: ``<IHH`` max_count, scope, flags (AFTER), then the AFTER record if flagged.

    ``init`` builds the cursor; ``next_blob`` steps it in the table's key order:
    the records end to end, framed by the server without an object per record.
    """
    size, order = table.record_size, table.order

    def init(payload: bytes, ctx: Context) -> KeyCursor:
        max_count, scope, flags = wire.LIST_REQ.unpack_from(payload)
        after = flags & wire.LIST_AFTER
        if len(payload) != wire.LIST_REQ.size + (size if after else 0):
            raise ApiError(wire.EINVAL, "payload length")
        if flags & ~wire.LIST_AFTER:
            raise ApiError(wire.EINVAL, f"unknown flag bits {flags & ~wire.LIST_AFTER:#x}")
        return table.cursor(scope, payload[wire.LIST_REQ.size:] if after else None, max_count)

    def next_blob(cursor: KeyCursor, ctx: Context, limit: int) -> bytes:
        blob = order.step_blob(cursor, limit)
        if not blob and cursor.truncated:
            raise ApiError(wire.EXFULL)
        return blob

    return init, next_blob


def _exact_length(payload: bytes, size: int) -> None:
    if len(payload) != size:
        raise ApiError(wire.EINVAL, f"payload of {len(payload)} bytes, not {size}")


def _nexthop_get(nexthops: NexthopTable) -> OneShotHandler:
    def handle(payload: bytes, ctx: Context) -> bytes:
        _exact_length(payload, wire.NH_GET_REQ.size)
        (nh_id,) = wire.NH_GET_REQ.unpack(payload)
        if nh_id == 0:
            raise ApiError(wire.EINVAL, "nh_id 0")
        record = nexthops.get(nh_id)
        if record is None:
            raise ApiError(wire.ENOENT, f"nexthop {nh_id} not found")
        return record

    return handle


def _route_get(routes: RouteTable) -> OneShotHandler:
    def handle(payload: bytes, ctx: Context) -> bytes:
        _exact_length(payload, routes.get_request.size)
        vrf_id, addr = routes.get_request.unpack(payload)
        record = routes.lookup(vrf_id, addr)
        if record is None:
            raise ApiError(wire.ENOENT, "no matching route")
        return record

    return handle


def _flush(flush: Callable[[int], int], log: Changelog) -> OneShotHandler:
    def handle(payload: bytes, ctx: Context) -> bytes:
        _exact_length(payload, wire.FLUSH_REQ.size)
        (scope,) = wire.FLUSH_REQ.unpack(payload)
        with log.request(ctx.client_id):
            flush(scope)
        return b""

    return handle
