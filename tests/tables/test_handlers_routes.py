"""Nexthop and route handlers: fields, request order, references, LPM, listings."""

from __future__ import annotations

import pytest

from api import wire
from tests.tables.support import (Daemon, blackhole, bulk, list_req, nexthop, nh_ids, route4,
                                  route6)
from tests.tables.test_handlers_common import snapshot

EINVAL, ENOENT, EEXIST, EBUSY = wire.EINVAL, wire.ENOENT, wire.EEXIST, wire.EBUSY
REPLACE = wire.ADD_REPLACE
MISSING_OK = wire.DEL_MISSING_OK


@pytest.fixture
def daemon() -> Daemon:
    d = Daemon.create()
    d.ok(wire.NH_ADD, bulk(nexthop(1), nexthop(2, vrf_id=5), blackhole(3)))
    return d


def expect_refused(d: Daemon, req_type: int, payload: bytes, expected: int) -> None:
    before = snapshot(d)
    assert wire.status_name(d.call(req_type, payload)[0]) == wire.status_name(expected)
    assert snapshot(d) == before


@pytest.mark.parametrize("record", [
    nexthop(0), nexthop(9, vrf_id=0xFFFF), nexthop(9, nh_type=0), nexthop(9, nh_type=4),
    nexthop(9, family=0), nexthop(9, family=5), nexthop(9, addr=b"\x0a\0\0\1" + b"\0" * 11 + b"\1"),
    nexthop(9, nh_type=wire.NH_BLACKHOLE, family=4, addr=bytes(16)),
    nexthop(9, nh_type=wire.NH_REJECT, family=0, addr="0.0.0.1"),
    nexthop(9, nh_type=wire.NH_BLACKHOLE, family=6, addr="::")])
def test_nexthop_add_invalid_fields(daemon: Daemon, record: bytes) -> None:
    expect_refused(daemon, wire.NH_ADD, bulk(nexthop(10), record), EINVAL)


def test_nexthop_add_valid_kinds_and_replace(daemon: Daemon) -> None:
    v6 = nexthop(10, family=6, addr="2001:db8::1", vrf_id=5)
    reject = nexthop(11, nh_type=wire.NH_REJECT, family=0, addr=bytes(16), mac=bytes(6))
    daemon.ok(wire.NH_ADD, bulk(v6, reject))
    assert daemon.ok(wire.NH_GET, wire.U32.pack(10)) == v6
    expect_refused(daemon, wire.NH_ADD, bulk(nexthop(12), nexthop(10)), EEXIST)
    expect_refused(daemon, wire.NH_ADD, bulk(nexthop(12), nexthop(12)), EEXIST)
    daemon.ok(wire.NH_ADD, bulk(nexthop(10, iface_id=7), nexthop(10, iface_id=8), flags=REPLACE))
    assert daemon.ok(wire.NH_GET, wire.U32.pack(10)) == nexthop(10, iface_id=8)


def test_nexthop_padding_is_zeroed() -> None:
    d = Daemon.create()
    record = bytearray(nexthop(4))
    record[10:12] = b"\xaa\xbb"
    record[34:36] = b"\xcc\xdd"
    d.ok(wire.NH_ADD, bulk(bytes(record)))
    assert d.ok(wire.NH_GET, wire.U32.pack(4)) == nexthop(4)


def test_nexthop_get(daemon: Daemon) -> None:
    assert daemon.ok(wire.NH_GET, wire.U32.pack(2)) == nexthop(2, vrf_id=5)
    assert daemon.call(wire.NH_GET, wire.U32.pack(0))[0] == EINVAL
    assert daemon.call(wire.NH_GET, wire.U32.pack(99))[0] == ENOENT


def test_nexthop_del_order_and_references(daemon: Daemon) -> None:
    daemon.ok(wire.ROUTE4_ADD, bulk(route4("10.0.0.0/8", 1)))
    daemon.ok(wire.ROUTE6_ADD, bulk(route6("2001:db8::/32", 2)))
    expect_refused(daemon, wire.NH_DEL, nh_ids(3, 0), EINVAL)
    expect_refused(daemon, wire.NH_DEL, nh_ids(3, 99, 0), ENOENT)
    expect_refused(daemon, wire.NH_DEL, nh_ids(3, 1, 99), EBUSY)
    expect_refused(daemon, wire.NH_DEL, nh_ids(2, flags=MISSING_OK), EBUSY)
    daemon.ok(wire.NH_DEL, nh_ids(3, 3, 99, flags=MISSING_OK))
    assert daemon.call(wire.NH_GET, wire.U32.pack(3))[0] == ENOENT
    daemon.ok(wire.ROUTE6_DEL, bulk(route6("2001:db8::/32", 0)))
    daemon.ok(wire.NH_DEL, nh_ids(2))
    assert daemon.tables.nexthops.refs == {1: 1}


def test_nexthop_list_scope_is_vrf_in_nh_id_order(daemon: Daemon) -> None:
    daemon.ok(wire.NH_ADD, bulk(nexthop(20, vrf_id=5), nexthop(15, vrf_id=6), nexthop(7, vrf_id=5)))
    ids = [wire.NEXTHOP.unpack(r)[0] for r in daemon.listing(wire.NH_LIST)]
    assert ids == [1, 2, 3, 7, 15, 20]
    scoped = daemon.listing(wire.NH_LIST, list_req(scope=5))
    assert [wire.NEXTHOP.unpack(r)[0] for r in scoped] == [2, 7, 20]
    after = daemon.listing(wire.NH_LIST, list_req(scope=5, after=nexthop(2, vrf_id=9)))
    assert [wire.NEXTHOP.unpack(r)[0] for r in after] == [7, 20]
    assert daemon.stream(wire.NH_LIST, list_req(max_count=2, scope=5))[0] == wire.EXFULL


ROUTE_CASES = [
    (route4, wire.ROUTE4_ADD, wire.ROUTE4_DEL, "10.1.0.0/16", "10.1.0.1/16", 33),
    (route6, wire.ROUTE6_ADD, wire.ROUTE6_DEL, "2001:db8::/32", "2001:db8::1/32", 129),
]


@pytest.mark.parametrize("make, add, delete, good, host_bits, bad_plen", ROUTE_CASES)
def test_route_add_field_checks(daemon: Daemon, make: type, add: int, delete: int, good: str,
                                host_bits: str, bad_plen: int) -> None:
    for bad in (make(host_bits), make(good, plen=bad_plen), make(good, vrf_id=0xFFFF),
                make(good, 0)):
        expect_refused(daemon, add, bulk(make(good), bad), EINVAL)
        if bad[-4:] != bytes(4):            # DEL ignores nh_id: only key fields are checked
            expect_refused(daemon, delete, bulk(bad, flags=MISSING_OK), EINVAL)
    expect_refused(daemon, add, bulk(make(good), make(good, 99)), ENOENT)
    # within one record EINVAL first; across records the first failing one decides
    expect_refused(daemon, add, bulk(make(host_bits, 99)), EINVAL)
    expect_refused(daemon, add, bulk(make(good, 99), make(host_bits)), ENOENT)
    daemon.ok(add, bulk(make(good)))
    expect_refused(daemon, add, bulk(make(good, 99)), ENOENT)     # ENOENT before EEXIST
    expect_refused(daemon, add, bulk(make(good)), EEXIST)


@pytest.mark.parametrize("make, add, delete, good, host_bits, bad_plen", ROUTE_CASES)
def test_route_replace_moves_references(daemon: Daemon, make: type, add: int, delete: int,
                                        good: str, host_bits: str, bad_plen: int) -> None:
    refs = daemon.tables.nexthops.refs
    daemon.ok(add, bulk(make(good, 1)))
    assert refs == {1: 1}
    expect_refused(daemon, add, bulk(make(good, 2), make(good, 3)), EEXIST)
    daemon.ok(add, bulk(make(good, 2), make(good, 3), flags=REPLACE))
    assert refs == {3: 1}
    daemon.ok(delete, bulk(make(good, 0), make(good, 7)))      # repeated key: deleted once
    assert refs == {} and len(daemon.tables.routes4) + len(daemon.tables.routes6) == 0
    expect_refused(daemon, delete, bulk(make(good)), ENOENT)
    daemon.ok(delete, bulk(make(good), flags=MISSING_OK))


def test_route4_lpm_per_vrf(daemon: Daemon) -> None:
    daemon.ok(wire.ROUTE4_ADD, bulk(route4("0.0.0.0/0", 3), route4("10.0.0.0/8", 1, origin=4),
                                    route4("10.1.2.0/24", 2), route4("10.1.2.3/32", 1, vrf_id=5)))
    get = wire.ROUTE4_GET_REQ.pack

    def lookup(vrf: int, addr: str) -> tuple[int, bytes]:
        return daemon.call(wire.ROUTE4_GET, get(vrf, bytes(map(int, addr.split(".")))))

    assert lookup(0, "10.1.2.3") == (0, route4("10.1.2.0/24", 2))
    assert lookup(0, "10.9.9.9") == (0, route4("10.0.0.0/8", 1, origin=4))
    assert lookup(0, "192.0.2.1") == (0, route4("0.0.0.0/0", 3))
    assert lookup(5, "10.1.2.3") == (0, route4("10.1.2.3/32", 1, vrf_id=5))
    assert lookup(5, "10.1.2.4")[0] == ENOENT
    assert lookup(6, "10.1.2.4")[0] == ENOENT
    daemon.ok(wire.ROUTE4_DEL, bulk(route4("0.0.0.0/0"), route4("10.1.2.0/24")))
    assert lookup(0, "10.1.2.3") == (0, route4("10.0.0.0/8", 1, origin=4))
    assert lookup(0, "192.0.2.1")[0] == ENOENT


def test_route6_lpm(daemon: Daemon) -> None:
    import ipaddress
    daemon.ok(wire.ROUTE6_ADD, bulk(route6("2001:db8::/32", 1), route6("2001:db8:1::/48", 2),
                                    route6("::/0", 3)))

    def lookup(addr: str) -> tuple[int, bytes]:
        packed = ipaddress.ip_address(addr).packed
        return daemon.call(wire.ROUTE6_GET, wire.ROUTE6_GET_REQ.pack(0, packed))

    assert lookup("2001:db8:1::5") == (0, route6("2001:db8:1::/48", 2))
    assert lookup("2001:db8:2::5") == (0, route6("2001:db8::/32", 1))
    assert lookup("fe80::1") == (0, route6("::/0", 3))


def test_route_list_order_scope_after_exfull(daemon: Daemon) -> None:
    routes = [route4("10.0.0.0/8"), route4("10.0.0.0/16"), route4("9.0.0.0/8"),
              route4("1.0.0.0/8", vrf_id=2), route4("0.0.0.0/0", vrf_id=1)]
    daemon.ok(wire.ROUTE4_ADD, bulk(*routes))
    ordered = [routes[2], routes[0], routes[1], routes[4], routes[3]]
    assert daemon.listing(wire.ROUTE4_LIST) == ordered
    assert daemon.listing(wire.ROUTE4_LIST, list_req(scope=0)) == ordered[:3]
    # AFTER key fields are not validated: plen 99, vrf 0xffff, host bits, nh 0
    after = wire.ROUTE4.pack(0, 12, 0, bytes([10, 0, 0, 0]), 0)
    assert daemon.listing(wire.ROUTE4_LIST, list_req(after=after)) == ordered[2:]
    assert daemon.listing(wire.ROUTE4_LIST, list_req(scope=0, after=after)) == ordered[2:3]
    after = wire.ROUTE4.pack(0, 99, 0, bytes([10, 0, 0, 1]), 0)
    assert daemon.listing(wire.ROUTE4_LIST, list_req(after=after)) == ordered[3:]
    assert daemon.listing(wire.ROUTE4_LIST, list_req(scope=0, after=after)) == []
    huge = wire.ROUTE4.pack(0xFFFF, 255, 0, b"\xff" * 4, 0)
    assert daemon.listing(wire.ROUTE4_LIST, list_req(after=huge)) == []
    assert daemon.stream(wire.ROUTE4_LIST, list_req(max_count=3)) == (wire.EXFULL, ordered[:3])
    assert daemon.stream(wire.ROUTE4_LIST, list_req(max_count=3, scope=0)) == (0, ordered[:3])


def test_route_fast_and_exact_paths_agree_on_a_large_payload(daemon: Daemon) -> None:
    from tools.fullview import generate_routes4
    records = list(generate_routes4(5000, nh_ids=(1, 2, 3), shuffle=True))
    daemon.ok(wire.ROUTE4_ADD, bulk(*records[:2500]))
    exact = Daemon.create()
    exact.ok(wire.NH_ADD, bulk(nexthop(1), nexthop(2, vrf_id=5), blackhole(3)))
    exact.tables.routes4._add_exact(b"".join(records[:2500]), False)
    assert snapshot(daemon) == snapshot(exact)
    expect_refused(daemon, wire.ROUTE4_ADD, bulk(*records[2500:], records[0]), EEXIST)
    daemon.ok(wire.ROUTE4_ADD, bulk(*records[2500:], records[0], flags=REPLACE))
    assert len(daemon.tables.routes4) == 5000
