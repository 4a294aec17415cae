"""Helpers for the table tests: record builders, a fake Context, handler calls."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from api import wire
from api.batch import Batch, Then
from api.registry import ApiError, OneShot, Registry, Stream
from tables.handlers import Tables, register_tables

MAC1 = bytes.fromhex("020000000001")
MAC2 = bytes.fromhex("020000000002")


def nexthop(nh_id: int, *, vrf_id: int = 0, iface_id: int = 1, nh_type: int = wire.NH_GATEWAY,
            family: int = 4, addr: str | bytes = "10.0.0.1", mac: bytes = MAC1) -> bytes:
    if isinstance(addr, str):
        addr = ipaddress.ip_address(addr).packed.ljust(16, b"\0")
    return wire.NEXTHOP.pack(nh_id, vrf_id, iface_id, nh_type, family, addr, mac)


def blackhole(nh_id: int, *, vrf_id: int = 0) -> bytes:
    return nexthop(nh_id, vrf_id=vrf_id, nh_type=wire.NH_BLACKHOLE, family=0, addr=bytes(16))


def route4(prefix: str, nh_id: int = 1, *, vrf_id: int = 0, origin: int = 0,
           plen: int | None = None) -> bytes:
    """A route4 record; ``plen`` overrides the prefix length (for invalid records)."""
    net = ipaddress.ip_network(prefix, strict=False)
    addr = ipaddress.ip_address(prefix.split("/")[0]).packed
    return wire.ROUTE4.pack(vrf_id, net.prefixlen if plen is None else plen, origin, addr, nh_id)


def route6(prefix: str, nh_id: int = 1, *, vrf_id: int = 0, origin: int = 0,
           plen: int | None = None) -> bytes:
    net = ipaddress.ip_network(prefix, strict=False)
    addr = ipaddress.ip_address(prefix.split("/")[0]).packed
    return wire.ROUTE6.pack(vrf_id, net.prefixlen if plen is None else plen, origin, addr, nh_id)


def fdb(mac: bytes = MAC1, *, bridge_id: int = 0, vlan_id: int = 1, iface_id: int = 3,
        flags: int = wire.FDB_LEARNED, seen: int = 0) -> bytes:
    return wire.FDB.pack(bridge_id, vlan_id, mac, iface_id, flags, seen)


def conntrack(sport: int = 1000, *, iface_id: int = 0, af: int = 4, proto: int = 6,
              src: str = "10.0.0.1", dst: str = "10.0.0.2", dport: int = 80, state: int = 1,
              entry_id: int = 0, updated: int = 0) -> bytes:
    src_b = ipaddress.ip_address(src).packed.ljust(16, b"\0")
    dst_b = ipaddress.ip_address(dst).packed.ljust(16, b"\0")
    return wire.CONNTRACK.pack(entry_id, iface_id, af, proto, src_b, dst_b, sport, dport, state,
                               updated)


def bulk(*records: bytes, flags: int = 0) -> bytes:
    return wire.BULK_FLAGS.pack(flags) + b"".join(records)


def nh_ids(*ids: int, flags: int = 0) -> bytes:
    return wire.BULK_FLAGS.pack(flags) + b"".join(wire.U32.pack(i) for i in ids)


def list_req(max_count: int = 0, scope: int = wire.SCOPE_ALL, after: bytes | None = None,
             flags: int | None = None) -> bytes:
    if flags is None:
        flags = wire.LIST_AFTER if after is not None else 0
    return wire.LIST_REQ.pack(max_count, scope, flags) + (after or b"")


def as_records(batch: Batch, size: int) -> list[bytes]:
    """A LIST batch's records, checked: all ``size`` bytes; a table stream never waits."""
    assert batch.then is not Then.WAIT
    records = batch.items()
    assert all(len(record) == size for record in records)
    return records


def ends(batch: Batch) -> bool:
    """Whether the server ends the stream after this batch (END, or no items)."""
    return batch.then is Then.END or not batch.count


@dataclass
class FakeContext:
    client_id: int = 1
    pid: int = 100
    uid: int = 0
    request_id: int = 7
    extra: list[bytes] = field(default_factory=list)

    def respond(self, payload: bytes) -> None:
        self.extra.append(payload)


class Clock:
    """A manual ns clock: each reading is the previous one plus ``step``."""

    def __init__(self, start: int = 1000, step: int = 1) -> None:
        self.now, self.step = start, step

    def __call__(self) -> int:
        self.now += self.step
        return self.now


@dataclass
class Daemon:
    """The tables registered into a registry, called without sockets."""

    tables: Tables
    registry: Registry
    clock: Clock

    @classmethod
    def create(cls) -> Daemon:
        clock, registry = Clock(), Registry()
        tables = Tables.create(clock_ns=clock)
        register_tables(registry, tables)
        return cls(tables, registry, clock)

    def call(self, req_type: int, payload: bytes) -> tuple[int, bytes]:
        """(status, reply payload) of a one-shot request."""
        try:
            entry = self.registry.check(req_type, payload)
            assert isinstance(entry, OneShot)
            return wire.OK, entry.handler(payload, FakeContext())
        except ApiError as error:
            return error.status, b""

    def stream(self, req_type: int, payload: bytes,
               limit: int = 3) -> tuple[int, list[bytes]]:
        """(terminator status, records) of a LIST, drained ``limit`` records at a
        time, as the server does: until a batch ends it or the producer raises."""
        ctx, records = FakeContext(), list[bytes]()
        try:
            entry = self.registry.check(req_type, payload)
            assert isinstance(entry, Stream)
            state = entry.init(payload, ctx)
            while True:
                batch = entry.produce(state, ctx, limit)
                assert batch.count <= limit
                records += as_records(batch, entry.record_size or 0)
                if ends(batch):
                    break
        except ApiError as error:
            return error.status, records
        return wire.OK, records

    def ok(self, req_type: int, payload: bytes) -> bytes:
        status, reply = self.call(req_type, payload)
        assert status == wire.OK, wire.status_name(status)
        return reply

    def listing(self, req_type: int, payload: bytes | None = None) -> list[bytes]:
        status, records = self.stream(req_type, payload or list_req())
        assert status == wire.OK, wire.status_name(status)
        return records
