"""The typed client: the daemon's tables as objects taking and returning dataclasses.

The concept: ``TablesClient`` is one ``api.client.Client`` connection with one
``Table`` per daemon table (``nexthops``, ``routes4``, ``routes6``, ``fdb``,
``conntrack``).  A table's methods take and return the frozen dataclasses of
``api.records`` and turn them into requests through the byte-level client's
public ``call`` and ``stream``; nothing here reads the socket itself.

    with TablesClient.connect("/run/reactord.sock") as tc:
        tc.nexthops.add(Nexthop(1, gateway=IPv4Address("192.0.2.1")))
        tc.routes4.add(Route4(IPv4Network("10.0.0.0/8"), nh_id=1))
        for route in tc.routes4.list(vrf=0):
            print(route.prefix, route.nh_id)

Invariants:
- ``add`` and ``delete`` take one record (or key) or an iterable of them, and
  send as many requests as it takes, each as large as fits in MAX_PAYLOAD,
  one after the other.  Each request is all or nothing on the daemon; the
  whole call is not: an ``ApiCallError`` from request k says how many records
  the earlier requests ``applied``, its ``index`` counts in the records given
  (not in the request) and ``record`` is that record.  Nothing after the
  failing request is sent.  A record that does not fit the wire raises
  ``ValueError`` before its request is sent (as does an error raised by the
  iterable itself), with a note saying how many records were applied;
- ``flush`` is the daemon's FLUSH where the wire has one (fdb, conntrack:
  atomic); for nexthops and routes it is LIST and DEL requests in turns, with
  MISSING_OK, and not atomic: what other clients add meanwhile may stay;
- ``get`` and ``lookup`` answer None for ENOENT; every other error status is
  an ``ApiCallError`` (``NotFound``, ``AlreadyExists``, ``Busy``,
  ``InvalidArgument`` for ENOENT, EEXIST, EBUSY, EINVAL).
"""

from __future__ import annotations

import builtins
import struct
from ipaddress import IPv4Address, IPv6Address
from itertools import islice
from typing import Any, Callable, Generic, Iterable, TypeVar, Union, cast

from api import wire
from api.client import Client
from api.client_errors import ApiCallError, NotFound
from api.listing import Listing
from api.records import (
    ConntrackEntry, ConntrackKey, FdbEntry, FdbKey, Nexthop, Route4, Route4Key, Route6,
    Route6Key, TableRecord,
)

R = TypeVar("R", bound=TableRecord[Any])
K = TypeVar("K")
A = TypeVar("A", IPv4Address, IPv6Address)
Row = tuple[Any, ...]


_MODULES = {"nexthop": wire.MODULE_NEXTHOP, "route4": wire.MODULE_ROUTE4,
            "route6": wire.MODULE_ROUTE6, "fdb": wire.MODULE_FDB,
            "conntrack": wire.MODULE_CONNTRACK}


def _batch_size(record_size: int) -> int:
    return (wire.MAX_PAYLOAD - wire.BULK_FLAGS.size) // record_size


def _pack(layout: Callable[..., bytes], *fields: Any) -> bytes:
    try:
        return layout(*fields)
    except struct.error as exc:
        raise ValueError(f"request field out of range: {exc}") from None


def _scope(value: int | None, what: str) -> int:
    if value is None:
        return wire.SCOPE_ALL
    if not 0 <= value < wire.SCOPE_ALL:
        raise ValueError(f"{what} {value} not in 0..{wire.SCOPE_ALL - 1}")
    return value


class Table(Generic[R, K]):
    """One table of the daemon: ``add``, ``delete``, and what every table has."""

    def __init__(self, client: Client, kind: type[R], key_type: type[K],
                 key_of: Callable[[R], K], del_record: Callable[[K], bytes],
                 del_size: int) -> None:
        self.client = client
        self.kind = kind
        self._key_type = key_type
        self._key_of = key_of
        self._del_record = del_record
        self._del_size = del_size
        self._module = _MODULES[kind.TABLE]

    def req(self, op: int) -> int:
        """The request type of ``op`` (``wire.OP_ADD`` ...) for this table."""
        return wire.msg_type(self._module, op)

    def add(self, records: R | Iterable[R], *, replace: bool = False) -> int:
        """Add records (REPLACE existing keys if ``replace``); how many were added."""
        items = (records,) if isinstance(records, self.kind) else cast(Iterable[R], records)
        flags = wire.ADD_REPLACE if replace else 0
        return self._bulk(wire.OP_ADD, flags, items, self.kind.WIRE.size, self._add_record)

    def delete(self, keys: K | R | Iterable[K | R], *, missing_ok: bool = False) -> int:
        """Delete by key (or by record); how many keys were sent. ENOENT unless ``missing_ok``."""
        single = isinstance(keys, (self._key_type, self.kind))
        items = (cast(K | R, keys),) if single else cast(Iterable[K | R], keys)
        flags = wire.DEL_MISSING_OK if missing_ok else 0
        return self._bulk(wire.OP_DEL, flags, items, self._del_size, self._del_item)

    def key(self, item: K | R) -> K:
        """The key of a record; a key as it is."""
        return self._key_of(item) if isinstance(item, self.kind) else cast(K, item)

    @staticmethod
    def _add_record(record: R) -> bytes:
        return record.to_wire()

    def _del_item(self, item: K | R) -> bytes:
        return self._del_record(self.key(item))

    def _bulk(self, op: int, flags: int, items: Iterable[Any], size: int,
              encode: Callable[[Any], bytes]) -> int:
        req_type, head, per = self.req(op), wire.BULK_FLAGS.pack(flags), _batch_size(size)
        done = 0
        it = iter(items)
        while True:
            try:      # the caller's iterable or a record's encoding may raise
                batch = builtins.list(islice(it, per))
                payload = head + b"".join(map(encode, batch))
            except Exception as exc:
                exc.add_note(f"{done} records of earlier requests were applied")
                raise
            if not batch:
                return done
            try:
                self.client.call(req_type, payload)
            except ApiCallError as exc:
                raise _located(exc, batch, done) from None
            done += len(batch)

    def _list(self, scope: int, after: K | R | None, limit: int) -> Listing[R]:
        if not 0 <= limit <= 0xFFFFFFFF:
            raise ValueError(f"limit {limit} not in 0..{0xFFFFFFFF}")
        flags = 0 if after is None else wire.LIST_AFTER
        payload = wire.LIST_REQ.pack(limit, scope, flags)
        if after is not None:
            payload += self._after_record(self.key(after))
        stream = self.client.stream(self.req(wire.OP_LIST), payload, record=self.kind.WIRE)
        return Listing(stream, self.kind.from_tuple, self.kind.WIRE.unpack)

    def _after_record(self, key: K) -> bytes:
        return self._del_record(key)

    def _flush_by_listing(self, scope: int) -> None:
        """LIST a page of raw records, DEL them (MISSING_OK), until a page is complete."""
        per = _batch_size(self._del_size)
        page = wire.LIST_REQ.pack(per, scope, 0)
        head = wire.BULK_FLAGS.pack(wire.DEL_MISSING_OK)
        while True:
            with self.client.stream(self.req(wire.OP_LIST), page) as stream:
                records = builtins.list(stream)
            if records:
                self.client.call(self.req(wire.OP_DEL),
                                 head + b"".join(r[:self._del_size] for r in records))
            if not stream.incomplete:
                return


def _located(exc: ApiCallError, batch: builtins.list[Any], done: int) -> ApiCallError:
    """``exc`` with its index counted in the caller's records, and what was applied."""
    exc.applied = done
    if exc.index is not None:
        if exc.index < len(batch):
            exc.record = batch[exc.index]
        exc.index += done
    return exc


class NexthopTable(Table[Nexthop, int]):
    """Nexthops, keyed by ``nh_id``."""

    def __init__(self, client: Client) -> None:
        super().__init__(client, Nexthop, int, lambda r: r.nh_id, wire.U32.pack, wire.U32.size)

    def _after_record(self, key: int) -> bytes:
        return Nexthop(key).to_wire()

    def get(self, nh_id: int) -> Nexthop | None:
        """The nexthop ``nh_id``, or None."""
        try:
            return Nexthop.from_wire(self.client.call(wire.NH_GET, _pack(wire.NH_GET_REQ.pack, nh_id)))
        except NotFound:
            return None

    def list(self, vrf: int | None = None, *, after: int | Nexthop | None = None,
             limit: int = 0) -> Listing[Nexthop]:
        """Nexthops in ``nh_id`` order (of one VRF, or all); ``limit`` 0: no limit."""
        return self._list(_scope(vrf, "vrf"), after, limit)

    def flush(self, vrf: int | None = None) -> None:
        """Delete every nexthop (of one VRF); not atomic; Busy while routes use one."""
        self._flush_by_listing(_scope(vrf, "vrf"))


class RouteTable(Table[R, K], Generic[R, K, A]):
    """IPv4 or IPv6 routes, keyed by (VRF, prefix); longest prefix match lookups."""

    def __init__(self, client: Client, kind: type[R], key_type: type[K],
                 del_record: Callable[[K], bytes], get_req: int,
                 get_layout: Callable[[int, bytes], bytes]) -> None:
        super().__init__(client, kind, key_type, lambda r: r.key, del_record, kind.WIRE.size)
        self._get_req = get_req
        self._get_layout = get_layout

    def lookup(self, address: A, vrf: int = 0) -> R | None:
        """The route of the longest prefix that matches ``address`` in ``vrf``, or None."""
        payload = _pack(self._get_layout, vrf, address.packed)
        try:
            return self.kind.from_wire(self.client.call(self._get_req, payload))
        except NotFound:
            return None

    def list(self, vrf: int | None = None, *, after: K | R | None = None,
             limit: int = 0) -> Listing[R]:
        """Routes in (vrf, prefix, length) order (of one VRF, or all)."""
        return self._list(_scope(vrf, "vrf"), after, limit)

    def flush(self, vrf: int | None = None) -> None:
        """Delete every route (of one VRF); not atomic."""
        self._flush_by_listing(_scope(vrf, "vrf"))


class FdbTable(Table[FdbEntry, FdbKey]):
    """Fdb entries, keyed by (bridge, VLAN, MAC)."""

    def __init__(self, client: Client) -> None:
        super().__init__(client, FdbEntry, FdbKey, lambda r: r.key, FdbKey.to_wire,
                         wire.FDB.size)

    def list(self, bridge: int | None = None, *, after: FdbKey | FdbEntry | None = None,
             limit: int = 0) -> Listing[FdbEntry]:
        """Entries in (bridge, vlan, mac) order (of one bridge, or all)."""
        return self._list(_scope(bridge, "bridge"), after, limit)

    def flush(self, bridge: int | None = None) -> None:
        """FLUSH every entry (of one bridge), atomically."""
        self.client.call(wire.FDB_FLUSH, wire.FLUSH_REQ.pack(_scope(bridge, "bridge")))


class ConntrackTable(Table[ConntrackEntry, ConntrackKey]):
    """Tracked connections, keyed by (iface, af, proto, src, dst, sport, dport)."""

    def __init__(self, client: Client) -> None:
        super().__init__(client, ConntrackEntry, ConntrackKey, lambda r: r.key,
                         ConntrackKey.to_wire, wire.CONNTRACK.size)

    def list(self, iface: int | None = None, *,
             after: ConntrackKey | ConntrackEntry | None = None,
             limit: int = 0) -> Listing[ConntrackEntry]:
        """Connections in key order (of one interface, or all)."""
        return self._list(_scope(iface, "iface"), after, limit)

    def flush(self, iface: int | None = None) -> None:
        """FLUSH every connection (of one interface), atomically."""
        self.client.call(wire.CT_FLUSH, wire.FLUSH_REQ.pack(_scope(iface, "iface")))


Routes4 = RouteTable[Route4, Route4Key, IPv4Address]
Routes6 = RouteTable[Route6, Route6Key, IPv6Address]
AnyTable = Union[NexthopTable, Routes4, Routes6, FdbTable, ConntrackTable]


class TablesClient:
    """A connection to the daemon with its tables; a context manager."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.nexthops = NexthopTable(client)
        self.routes4: Routes4 = RouteTable(client, Route4, Route4Key, Route4Key.to_wire,
                                           wire.ROUTE4_GET, wire.ROUTE4_GET_REQ.pack)
        self.routes6: Routes6 = RouteTable(client, Route6, Route6Key, Route6Key.to_wire,
                                           wire.ROUTE6_GET, wire.ROUTE6_GET_REQ.pack)
        self.fdb = FdbTable(client)
        self.conntrack = ConntrackTable(client)

    @classmethod
    def connect(cls, path: str, *, name: str = "", timeout: float | None = None
                ) -> TablesClient:
        """Connect to the daemon's socket ``path`` (HELLO with ``name``)."""
        return cls(Client(path, name=name, timeout=timeout))

    def stats(self) -> dict[str, Any]:
        """The daemon's STATS figures (table sizes, clients, streams...)."""
        return self.client.stats()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> TablesClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
