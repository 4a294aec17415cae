"""Error replies that name a record (wire-v1 section 2), through a real reactord.

An ADD or DEL refused because of one of its records carries ``<I`` the index
of that record, then a UTF-8 reason naming the object; every other error reply
is header-only.  Each check of every table is tried with the bad record at
several positions of a request of 10,000 records (or as many as fit), the
other records valid; and nothing is ever applied.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from api import wire
from tests.tables.support import blackhole, bulk, conntrack, fdb, nexthop, nh_ids, route4, \
    route6
from tools.harness import Conn, ServerProcess, start_reactord

Make = Callable[[int], bytes]
GOOD = 10_000


def mac(i: int) -> bytes:
    return (0x020000000000 + i).to_bytes(6, "big")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_reactord(directory=tmp_path_factory.mktemp("errors"))
    with Conn(proc.path) as conn:
        for req_type, record in ((wire.NH_ADD, nexthop(1, addr="192.0.2.1")),
                                 (wire.NH_ADD, blackhole(2)),
                                 (wire.ROUTE4_ADD, route4("10.0.0.0/8", 1)),
                                 (wire.ROUTE6_ADD, route6("2001:db8::/32", 1)),
                                 (wire.FDB_ADD, fdb(mac(1))),
                                 (wire.CT_ADD, conntrack(1000))):
            assert conn.call(1, req_type, bulk(record)).status == 0
    try:
        yield proc
    finally:
        assert proc.terminate() == 0, proc.log()


@pytest.fixture
def conn(daemon: ServerProcess) -> Iterator[Conn]:
    with Conn(daemon.path) as c:
        before = snapshot(c)
        yield c
        assert snapshot(c) == before, "an error reply applied something"


def snapshot(c: Conn) -> tuple[object, ...]:
    tables = tuple(tuple(c.listing(wire.msg_type(m, wire.OP_LIST)))
                   for m in (wire.MODULE_NEXTHOP, wire.MODULE_ROUTE4, wire.MODULE_ROUTE6,
                             wire.MODULE_FDB))
    figures = c.stats()
    return tables, tuple(figures[k] for k in ("nexthops", "routes4", "routes6", "fdb",
                                              "conntrack"))


# Valid records that change nothing if applied: new keys for ADD, or for DEL an
# existing key repeated (a key repeated within one DEL is deleted once).
FILLERS: dict[tuple[int, int], Make] = {
    (wire.MODULE_NEXTHOP, wire.OP_ADD): lambda i: blackhole(1000 + i),
    (wire.MODULE_NEXTHOP, wire.OP_DEL): lambda i: wire.U32.pack(2),
    (wire.MODULE_ROUTE4, wire.OP_ADD): lambda i: route4(f"11.{i >> 8}.{i & 255}.0/24", 1),
    (wire.MODULE_ROUTE4, wire.OP_DEL): lambda i: route4("10.0.0.0/8"),
    (wire.MODULE_ROUTE6, wire.OP_ADD): lambda i: route6(f"2001:db8:1:{i:x}::/64", 1),
    (wire.MODULE_ROUTE6, wire.OP_DEL): lambda i: route6("2001:db8::/32"),
    (wire.MODULE_FDB, wire.OP_ADD): lambda i: fdb(mac(0x1000 + i)),
    (wire.MODULE_FDB, wire.OP_DEL): lambda i: fdb(mac(1)),
    (wire.MODULE_CONNTRACK, wire.OP_ADD): lambda i: conntrack(2000 + i),
    (wire.MODULE_CONNTRACK, wire.OP_DEL): lambda i: conntrack(1000),
}

GW4 = ipaddress.ip_address("192.0.2.9").packed.ljust(16, b"\0")
NH, R4, R6 = wire.MODULE_NEXTHOP, wire.MODULE_ROUTE4, wire.MODULE_ROUTE6
FDB, CT, ADD, DEL = wire.MODULE_FDB, wire.MODULE_CONNTRACK, wire.OP_ADD, wire.OP_DEL
EINVAL, ENOENT, EEXIST, EBUSY = wire.EINVAL, wire.ENOENT, wire.EEXIST, wire.EBUSY
V6 = ipaddress.ip_address("2001:db8::1").packed
CHECKS: list[tuple[int, int, bytes, int, str]] = [
    (NH, ADD, blackhole(0), EINVAL, "nexthop id 0 is reserved"),
    (NH, ADD, blackhole(500, vrf_id=0xFFFF), EINVAL, "nexthop 500: vrf 65535 means all vrfs"),
    (NH, ADD, nexthop(500, nh_type=9), EINVAL,
     "nexthop 500: unknown type 9 (expected 1 gateway, 2 blackhole or 3 reject)"),
    (NH, ADD, nexthop(500, family=5), EINVAL, "nexthop 500: gateway family 5 (expected 4 or 6)"),
    (NH, ADD, nexthop(500, addr=GW4[:4] + b"\1" + GW4[5:]), EINVAL,
     "nexthop 500: IPv4 gateway with bytes 4..15 set"),
    (NH, ADD, nexthop(500, nh_type=wire.NH_REJECT, family=4), EINVAL,
     "nexthop 500: a blackhole or reject nexthop with a gateway family or address"),
    (NH, ADD, blackhole(1), EEXIST, "nexthop 1 already exists"),
    (NH, DEL, wire.U32.pack(0), EINVAL, "nexthop id 0 is reserved"),
    (NH, DEL, wire.U32.pack(99), ENOENT, "nexthop 99 does not exist"),
    (NH, DEL, wire.U32.pack(1), EBUSY, "nexthop 1 is used by 2 routes"),
    (R4, ADD, route4("12.0.0.0/8", 1, plen=33), EINVAL,
     "route 12.0.0.0/33 vrf 0: prefix length 33 > 32"),
    (R4, ADD, route4("12.0.0.1/8", 1), EINVAL, "route 12.0.0.1/8 vrf 0: host bits set"),
    (R4, ADD, route4("12.0.0.0/8", 1, vrf_id=0xFFFF), EINVAL,
     "route 12.0.0.0/8 vrf 65535: vrf 65535 means all vrfs"),
    (R4, ADD, route4("12.0.0.0/8", 0), EINVAL, "route 12.0.0.0/8 vrf 0: nexthop id 0 is reserved"),
    (R4, ADD, route4("12.0.0.1/8", 99), EINVAL, "route 12.0.0.1/8 vrf 0: host bits set"),
    (R4, ADD, route4("12.0.0.0/8", 99), ENOENT, "nexthop 99 does not exist"),
    (R4, ADD, route4("10.0.0.0/8", 2), EEXIST, "route 10.0.0.0/8 vrf 0 already exists"),
    (R4, DEL, route4("12.0.0.1/8"), EINVAL, "route 12.0.0.1/8 vrf 0: host bits set"),
    (R4, DEL, route4("12.0.0.0/8", vrf_id=3), ENOENT, "route 12.0.0.0/8 vrf 3 does not exist"),
    (R6, ADD, route6("2001:db8::1/32", 1), EINVAL, "route 2001:db8::1/32 vrf 0: host bits set"),
    (R6, ADD, route6("2001:db9::/32", 1, plen=129), EINVAL,
     "route 2001:db9::/129 vrf 0: prefix length 129 > 128"),
    (R6, ADD, route6("2001:db9::/32", 99), ENOENT, "nexthop 99 does not exist"),
    (R6, ADD, route6("2001:db8::/32", 1), EEXIST, "route 2001:db8::/32 vrf 0 already exists"),
    (R6, DEL, route6("2001:db9::/32"), ENOENT, "route 2001:db9::/32 vrf 0 does not exist"),
    (FDB, ADD, fdb(mac(9), bridge_id=0xFFFF), EINVAL,
     "fdb 02:00:00:00:00:09 bridge 65535 vlan 1: bridge 65535 means all bridges"),
    (FDB, ADD, fdb(mac(9), vlan_id=5000), EINVAL,
     "fdb 02:00:00:00:00:09 bridge 0 vlan 5000: vlan 5000 > 4095"),
    (FDB, ADD, fdb(mac(9), flags=3), EINVAL,
     "fdb 02:00:00:00:00:09 bridge 0 vlan 1: flags 3 (expected 1 static or 2 learned)"),
    (FDB, ADD, fdb(mac(1), iface_id=7), EEXIST,
     "fdb 02:00:00:00:00:01 bridge 0 vlan 1 already exists"),
    (FDB, DEL, fdb(mac(9), vlan_id=4096), EINVAL,
     "fdb 02:00:00:00:00:09 bridge 0 vlan 4096: vlan 4096 > 4095"),
    (FDB, DEL, fdb(mac(9)), ENOENT, "fdb 02:00:00:00:00:09 bridge 0 vlan 1 does not exist"),
    (CT, ADD, conntrack(9, iface_id=0xFFFF), EINVAL, "conntrack tcp 10.0.0.1:9 to 10.0.0.2:80 "
                                                     "iface 65535: iface 65535 means all "
                                                     "interfaces"),
    (CT, ADD, conntrack(9, af=5), EINVAL,
     "conntrack entry of af 5 iface 0: af 5 (expected 4 or 6)"),
    (CT, ADD, conntrack(1000, state=9), EEXIST,
     "conntrack tcp 10.0.0.1:1000 to 10.0.0.2:80 iface 0 already exists"),
    (CT, DEL, conntrack(9, af=6, src="2001:db8::1", dst="2001:db8::2", proto=17), ENOENT,
     "conntrack udp [2001:db8::1]:9 to [2001:db8::2]:80 iface 0 does not exist"),
]


def size_of(module: int, op: int) -> int:
    return len(FILLERS[(module, op)](0))


def request(module: int, op: int, bad: dict[int, bytes], count: int) -> bytes:
    fill = FILLERS[(module, op)]
    return bulk(*(bad.get(i) or fill(i) for i in range(count)))


def refused(conn: Conn, module: int, op: int, payload: bytes) -> tuple[int, int, str]:
    reply = conn.call(7, wire.msg_type(module, op), payload)
    assert reply.status and len(reply.payload) >= 4, reply
    reason = reply.payload[4:]
    assert len(reason) <= wire.ERROR_REASON_MAX
    return reply.status, wire.ERROR_INDEX.unpack_from(reply.payload)[0], reason.decode()


def positions(module: int, op: int) -> tuple[int, list[int]]:
    count = min(GOOD, (wire.MAX_PAYLOAD - 4) // size_of(module, op))
    return count, [0, 1, count // 2, count - 1]


@pytest.mark.parametrize(("module", "op", "bad", "status", "reason"), CHECKS,
                         ids=[f"{wire.type_name(wire.msg_type(m, o))}-{i}"
                              for i, (m, o, *_rest) in enumerate(CHECKS)])
def test_the_failing_record_is_named_wherever_it_is(conn: Conn, module: int, op: int,
                                                    bad: bytes, status: int,
                                                    reason: str) -> None:
    count, where = positions(module, op)
    assert count == GOOD or module != R4
    for at in where:
        assert refused(conn, module, op, request(module, op, {at: bad}, count)) == \
            (status, at, reason), at


@pytest.mark.parametrize("module", [NH, R4, R6, FDB, CT])
def test_the_first_failing_record_decides(conn: Conn, module: int) -> None:
    first = next(c for c in CHECKS if c[0] == module and c[1] == ADD and c[3] == EINVAL)
    last = next(c for c in CHECKS if c[0] == module and c[1] == ADD and c[3] == EEXIST)
    count, _ = positions(module, ADD)
    assert refused(conn, module, ADD, request(module, ADD, {3: first[2], 9: last[2]}, count)) \
        == (first[3], 3, first[4])
    assert refused(conn, module, ADD, request(module, ADD, {3: last[2], 9: first[2]}, count)) \
        == (last[3], 3, last[4])


@pytest.mark.parametrize("module", [NH, R4, R6, FDB, CT])
def test_a_key_repeated_in_one_add_fails_at_its_later_occurrence(conn: Conn,
                                                                  module: int) -> None:
    count, _ = positions(module, ADD)
    fill = FILLERS[(module, ADD)]
    status, index, reason = refused(conn, module, ADD,
                                    request(module, ADD, {count - 2: fill(5)}, count))
    assert (status, index) == (EEXIST, count - 2) and reason.endswith(" already exists")


def test_other_errors_are_header_only(conn: Conn) -> None:
    cases = [
        (wire.ROUTE4_ADD, bulk(route4("12.0.0.0/8"))[:-1], wire.EMSGSIZE),
        (wire.ROUTE4_ADD, bulk(route4("12.0.0.0/8"), route4("13.0.0.0/8"))[:-1], EINVAL),
        (wire.ROUTE4_ADD, bulk(route4("12.0.0.0/8", 99), flags=2), EINVAL),   # flags first
        (wire.NH_DEL, nh_ids(99, flags=4), EINVAL),
        (wire.NH_GET, wire.NH_GET_REQ.pack(99), ENOENT),
        (wire.NH_GET, wire.NH_GET_REQ.pack(0), EINVAL),
        (wire.ROUTE4_GET, wire.ROUTE4_GET_REQ.pack(3, bytes(4)), ENOENT),
        (wire.FDB_FLUSH, b"\0" * 5, EINVAL),
        (wire.ROUTE4_LIST, wire.LIST_REQ.pack(0, 0, 2), EINVAL),
        (wire.msg_type(R4, 5), b"\0" * 4, wire.ENOTSUP),
    ]
    for req_type, payload, status in cases:
        reply = conn.call(9, req_type, payload)
        assert (reply.status, reply.payload) == (status, b""), wire.type_name(req_type)
    assert conn.call(9, wire.ROUTE4_DEL, bulk(route4("12.0.0.0/8"),
                                              flags=wire.DEL_MISSING_OK)) == (9, 0, b"")


def test_a_reason_names_an_ipv6_flow_within_200_bytes(conn: Conn) -> None:
    long = conntrack(65535, af=6, src="2001:db8:1111:2222:3333:4444:5555:6666",
                     dst="2001:db8:7777:8888:9999:aaaa:bbbb:cccc", dport=65535, proto=132,
                     iface_id=65534)
    status, index, reason = refused(conn, CT, DEL, bulk(long))
    assert (status, index) == (ENOENT, 0)
    assert reason == ("conntrack sctp [2001:db8:1111:2222:3333:4444:5555:6666]:65535 to "
                      "[2001:db8:7777:8888:9999:aaaa:bbbb:cccc]:65535 iface 65534 does not "
                      "exist")


def test_a_route_payload_path_agrees(tmp_path: Path) -> None:
    """The routes' fast path (all new, valid) and exact path give the same index."""
    proc = start_reactord(directory=tmp_path)
    try:
        with Conn(proc.path) as c:
            assert c.call(1, wire.NH_ADD, bulk(blackhole(1))).status == 0
            good = [route4(f"11.{i >> 8}.{i & 255}.0/24", 1) for i in range(GOOD)]
            assert c.call(2, wire.ROUTE4_ADD, bulk(*good[:5000])).status == 0
            status, index, reason = refused(c, R4, ADD, bulk(*good[5000:], good[4999]))
            assert (status, index, reason) == (EEXIST, 5000,
                                               "route 11.19.135.0/24 vrf 0 already exists")
            assert c.stats()["routes4"] == 5000
    finally:
        assert proc.terminate() == 0
