"""An executable model of reactord's tables: the reply wire-v1 prescribes for any request.

The concept: ``Model`` holds what the daemon's five tables must contain (key ->
record in key order, plus the routes' references to nexthops), written from
the spec's text (sections 4, 6 and 7) and not from the tables' code.
``Model.expect(type, payload)`` returns the one reply the spec allows on that
state (status, and the payload of a GET or HELLO; for a LIST the items and
the terminator) and applies the request when it succeeds, so that a fuzzer
can compare every reply of a live daemon with it and compare whole tables
after a batch.

The model counts revisions (watch-v1 section 1: every successful request that
changes at least one record is one) to judge WATCH's checks; a valid WATCH
(``Expect.watch``) starts a change stream, which its caller cancels.  ESTALE
is unreachable with the default changelog (a million changes retained).

What the model cannot decide alone is left to its caller: STREAM_CANCEL (it
depends on whether the connection's stream is still active), EBUSY for a
second LIST or WATCH, the events of a WATCH, and the contents of STATS and
CLIENTS.

Records are compared in a canonical form: padding zeroed and the fields the
daemon sets (fdb last_seen_ns, conntrack id and last_update_ns) zeroed.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from sortedcontainers import SortedDict

from api import wire

Key = tuple[int, ...]
ALL = wire.SCOPE_ALL
_ZERO16 = bytes(16)
ONE_SHOT_MAIN = {wire.HELLO, wire.STREAM_CANCEL, wire.STATS, wire.CLIENTS}


def _int(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


@dataclass
class Table:
    """One table of the model: canonical records by key, in key order."""

    name: str
    module: int
    record: struct.Struct
    ops: tuple[int, ...]
    rows: SortedDict[Key, bytes] = field(default_factory=SortedDict)

    @property
    def size(self) -> int:
        return self.record.size

    @property
    def del_size(self) -> int:
        return 4 if self.module == wire.MODULE_NEXTHOP else self.record.size

    def type(self, op: int) -> int:
        return wire.msg_type(self.module, op)

    # Overridden per table --------------------------------------------------------
    def key(self, rec: bytes) -> Key:
        raise NotImplementedError

    def scope(self, rec: bytes) -> int:
        raise NotImplementedError

    def canonical(self, rec: bytes) -> bytes:
        return rec

    def add_problem(self, rec: bytes, model: Model) -> int:
        """EINVAL or ENOENT for an ADD record on its own, else 0."""
        raise NotImplementedError

    def del_problem(self, rec: bytes) -> int:
        raise NotImplementedError

    def del_key(self, rec: bytes) -> Key:
        return self.key(rec)


class Nexthops(Table):
    def key(self, rec: bytes) -> Key:
        return (int.from_bytes(rec[:4], "little"),)

    def scope(self, rec: bytes) -> int:
        return int(self.record.unpack(rec)[1])

    def canonical(self, rec: bytes) -> bytes:
        return self.record.pack(*self.record.unpack(rec))

    def add_problem(self, rec: bytes, model: Model) -> int:
        nh_id, vrf, _iface, nh_type, family, addr, _mac = self.record.unpack(rec)
        if nh_id == 0 or vrf == ALL:
            return wire.EINVAL
        if nh_type == wire.NH_GATEWAY:
            ok = (family == 4 and addr[4:] == _ZERO16[4:]) or family == 6
        else:
            ok = nh_type in (wire.NH_BLACKHOLE, wire.NH_REJECT) and family == 0 \
                and addr == _ZERO16
        return 0 if ok else wire.EINVAL

    def del_problem(self, rec: bytes) -> int:
        return wire.EINVAL if self.key(rec) == (0,) else 0


class Routes(Table):
    @property
    def bits(self) -> int:
        return 32 if self.module == wire.MODULE_ROUTE4 else 128

    def key(self, rec: bytes) -> Key:
        vrf, plen, _origin, prefix, _nh = self.record.unpack(rec)
        return vrf, _int(prefix), plen

    def scope(self, rec: bytes) -> int:
        return int(self.record.unpack(rec)[0])

    def del_problem(self, rec: bytes) -> int:
        vrf, prefix, plen = self.key(rec)
        if vrf == ALL or plen > self.bits or prefix & (((1 << self.bits) - 1) >> plen):
            return wire.EINVAL
        return 0

    def add_problem(self, rec: bytes, model: Model) -> int:
        nh_id = self.nh_of(rec)
        if self.del_problem(rec) or nh_id == 0:
            return wire.EINVAL
        return 0 if (nh_id,) in model.nexthops.rows else wire.ENOENT

    def nh_of(self, rec: bytes) -> int:
        return int(self.record.unpack(rec)[4])

    def lookup(self, vrf: int, addr: bytes) -> bytes | None:
        value, bits = _int(addr), self.bits
        for plen in range(bits, -1, -1):
            shift = bits - plen
            found = self.rows.get((vrf, value >> shift << shift, plen))
            if found is not None:
                return bytes(found)
        return None


class Fdb(Table):
    def key(self, rec: bytes) -> Key:
        bridge, vlan, mac = self.record.unpack(rec)[:3]
        return bridge, vlan, _int(mac)

    def scope(self, rec: bytes) -> int:
        return int(self.record.unpack(rec)[0])

    def canonical(self, rec: bytes) -> bytes:
        return self.record.pack(*self.record.unpack(rec)[:5], 0)

    def del_problem(self, rec: bytes) -> int:
        bridge, vlan = self.record.unpack(rec)[:2]
        return wire.EINVAL if bridge == ALL or vlan > 4095 else 0

    def add_problem(self, rec: bytes, model: Model) -> int:
        flags = self.record.unpack(rec)[4]
        return self.del_problem(rec) or (0 if flags in (1, 2) else wire.EINVAL)


class Conntrack(Table):
    def key(self, rec: bytes) -> Key:
        iface, af, proto, src, dst, sport, dport = self.record.unpack(rec)[1:8]
        return iface, af, proto, _int(src), _int(dst), sport, dport

    def scope(self, rec: bytes) -> int:
        return int(self.record.unpack(rec)[1])

    def canonical(self, rec: bytes) -> bytes:
        return self.record.pack(0, *self.record.unpack(rec)[1:9], 0)

    def del_problem(self, rec: bytes) -> int:
        iface, af = self.record.unpack(rec)[1:3]
        return wire.EINVAL if iface == ALL or af not in (4, 6) else 0

    def add_problem(self, rec: bytes, model: Model) -> int:
        return self.del_problem(rec)


Refusal = tuple[int, "int | None"]
"""A bulk request's status and, for an error one of its records caused, that record's
index (wire-v1 section 2: the reply then carries it)."""
_Apply = Callable[[Table, list[bytes], bool], Refusal]
"""``Model._add`` / ``Model._delete``: apply a validated bulk request, or return its errno
and the index of the record at fault."""


@dataclass
class Expect:
    """What the spec allows as the reply: a status, and for some requests more."""

    status: int
    reply: bytes | None = None
    """The exact reply payload (GETs), or its required prefix (HELLO)."""
    items: list[bytes] | None = None
    """A LIST that starts: its records (canonical form) and its terminator."""
    final: int = 0
    cancel: bool = False
    """A well-formed STREAM_CANCEL: the caller decides 0 or ESRCH."""
    index: int | None = None
    """An ADD or DEL error caused by a record: its index, which the reply carries."""
    watch: bool = False
    """A valid WATCH: a change stream starts (only a cancel or ESTALE ends it)."""


class Model:
    """The five tables as the daemon must hold them."""

    def __init__(self) -> None:
        self.nexthops = Nexthops("nexthops", wire.MODULE_NEXTHOP, wire.NEXTHOP, (1, 2, 3, 4))
        self.routes4 = Routes("routes4", wire.MODULE_ROUTE4, wire.ROUTE4, (1, 2, 3, 4))
        self.routes6 = Routes("routes6", wire.MODULE_ROUTE6, wire.ROUTE6, (1, 2, 3, 4))
        self.fdb = Fdb("fdb", wire.MODULE_FDB, wire.FDB, (1, 2, 4, 5))
        self.conntrack = Conntrack("conntrack", wire.MODULE_CONNTRACK, wire.CONNTRACK,
                                   (1, 2, 4, 5))
        self.tables: list[Table] = [self.nexthops, self.routes4, self.routes6, self.fdb,
                                    self.conntrack]
        self.by_module = {t.module: t for t in self.tables}
        self.refs: dict[int, int] = {}
        self.revision = 0
        """The daemon's revision: successful requests that changed a record."""

    def sizes(self) -> dict[str, int]:
        return {t.name: len(t.rows) for t in self.tables}

    def load(self, table: Table, records: list[bytes]) -> None:
        """Replace a table's contents with a daemon listing (re-synchronisation)."""
        table.rows.clear()
        for rec in records:
            table.rows[table.key(rec)] = table.canonical(rec)
        self.refs = {}
        for routes in (self.routes4, self.routes6):
            for rec in routes.rows.values():
                self._ref(routes.nh_of(rec), 1)

    def _ref(self, nh_id: int, delta: int) -> None:
        count = self.refs.get(nh_id, 0) + delta
        if count:
            self.refs[nh_id] = count
        else:
            self.refs.pop(nh_id, None)

    # -- the reply to one request ---------------------------------------------------

    def expect(self, req_type: int, payload: bytes) -> Expect:
        if len(payload) > wire.MAX_PAYLOAD:
            return Expect(wire.EMSGSIZE)
        if req_type == wire.WATCH:
            return self._watch(payload)
        if req_type in ONE_SHOT_MAIN:
            return self._main(req_type, payload)
        table = self.by_module.get(req_type >> 16)
        op = req_type & 0xFFFF
        if table is None or op not in table.ops:
            return Expect(wire.ENOTSUP)
        if op in (wire.OP_ADD, wire.OP_DEL):
            size, apply = (table.size, self._add) if op == wire.OP_ADD else \
                (table.del_size, self._delete)
            status, index = self._bulk(table, payload, size, apply)
            return Expect(status, index=index)
        if op == wire.OP_GET:
            return self._get(table, payload)
        if op == wire.OP_LIST:
            return self._list(table, payload)
        return self._flush(table, payload)

    def _main(self, req_type: int, payload: bytes) -> Expect:
        size = len(payload)
        if req_type in (wire.STATS, wire.CLIENTS):
            return Expect(wire.EINVAL if size else 0)
        if size < 4:
            return Expect(wire.EMSGSIZE)
        if req_type == wire.STREAM_CANCEL:
            return Expect(wire.EINVAL) if size != 4 else Expect(0, cancel=True)
        if size > 4 + wire.HELLO_NAME_MAX:
            return Expect(wire.EINVAL)
        if wire.U32.unpack_from(payload)[0] != wire.API_VERSION:
            return Expect(wire.EBADMSG)
        return Expect(0, reply=wire.U32.pack(wire.API_VERSION))

    def _watch(self, payload: bytes) -> Expect:
        """watch-v1 section 3, in its order: length, fields, the future revision."""
        if len(payload) != wire.WATCH_REQ.size:
            return Expect(wire.EMSGSIZE if len(payload) < wire.WATCH_REQ.size else wire.EINVAL)
        from_revision, mask, flags = wire.WATCH_REQ.unpack(payload)
        snapshot = flags & wire.WATCH_SNAPSHOT
        if not mask or mask & ~wire.ALL_TABLES_MASK or flags & ~3 \
                or (snapshot and from_revision) or from_revision > self.revision:
            return Expect(wire.EINVAL)
        return Expect(0, watch=True)

    def _bulk(self, table: Table, payload: bytes, size: int, apply: _Apply) -> Refusal:
        if len(payload) < 4 + size:
            return wire.EMSGSIZE, None
        if (len(payload) - 4) % size:
            return wire.EINVAL, None
        flags = wire.U32.unpack_from(payload)[0]
        if flags & ~1:
            return wire.EINVAL, None
        body = payload[4:]
        return apply(table, [body[i:i + size] for i in range(0, len(body), size)], bool(flags))

    def _add(self, table: Table, records: list[bytes], replace: bool) -> Refusal:
        staged: dict[Key, bytes] = {}
        for index, rec in enumerate(records):
            status = table.add_problem(rec, self)
            key = table.key(rec)
            if not status and not replace and (key in staged or key in table.rows):
                status = wire.EEXIST
            if status:
                return status, index
            staged[key] = table.canonical(rec)
        for key, rec in staged.items():
            old = table.rows.get(key)
            if isinstance(table, Routes):
                if old is not None:
                    self._ref(table.nh_of(old), -1)
                self._ref(table.nh_of(rec), 1)
            table.rows[key] = rec
        self.revision += 1          # a successful ADD holds at least one record
        return 0, None

    def _delete(self, table: Table, records: list[bytes], missing_ok: bool) -> Refusal:
        doomed: set[Key] = set()
        for index, rec in enumerate(records):
            status = table.del_problem(rec)
            key = table.del_key(rec)
            if status:
                return status, index
            if key in doomed or (key not in table.rows and missing_ok):
                continue
            if key not in table.rows:
                return wire.ENOENT, index
            if table is self.nexthops and self.refs.get(key[0]):
                return wire.EBUSY, index
            doomed.add(key)
        for key in doomed:
            rec = table.rows.pop(key)
            if isinstance(table, Routes):
                self._ref(table.nh_of(rec), -1)
        self.revision += bool(doomed)
        return 0, None

    def _get(self, table: Table, payload: bytes) -> Expect:
        size = {wire.MODULE_NEXTHOP: 4, wire.MODULE_ROUTE4: 8}.get(table.module, 20)
        if len(payload) != size:
            return Expect(wire.EMSGSIZE if len(payload) < size else wire.EINVAL)
        if isinstance(table, Routes):
            found = table.lookup(int.from_bytes(payload[:2], "little"), payload[4:])
        else:
            nh_id = int.from_bytes(payload, "little")
            if nh_id == 0:
                return Expect(wire.EINVAL)
            found = table.rows.get((nh_id,))
        return Expect(0, reply=found) if found is not None else Expect(wire.ENOENT)

    def _flush(self, table: Table, payload: bytes) -> Expect:
        if len(payload) != 4:
            return Expect(wire.EMSGSIZE if len(payload) < 4 else wire.EINVAL)
        scope = int.from_bytes(payload[:2], "little")
        doomed = [k for k in table.rows if scope == ALL or k[0] == scope]
        for key in doomed:
            del table.rows[key]
        self.revision += bool(doomed)
        return Expect(0)

    def _list(self, table: Table, payload: bytes) -> Expect:
        if len(payload) < 8:
            return Expect(wire.EMSGSIZE)
        max_count, scope, flags = wire.LIST_REQ.unpack_from(payload)
        want = 8 + (table.size if flags & wire.LIST_AFTER else 0)
        if len(payload) != want:
            return Expect(wire.EMSGSIZE if len(payload) < want else wire.EINVAL)
        if flags & ~wire.LIST_AFTER:
            return Expect(wire.EINVAL)
        rows = table.rows
        keys = rows.irange(minimum=table.key(payload[8:]), inclusive=(False, True)) \
            if flags & wire.LIST_AFTER else rows.keys()
        items: list[bytes] = []
        for key in keys:
            rec = rows[key]
            if scope != ALL and table.scope(rec) != scope:
                continue
            if max_count and len(items) == max_count:
                return Expect(0, items=items, final=wire.EXFULL)
            items.append(rec)
        return Expect(0, items=items)
