"""The table classes through their Python API (what the daemon and tools may call)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api import wire
from tables import lpm
from tables.errors import TableError
from tables.conntrack import ConntrackTable
from tables.fdb import FdbTable
from tables.handlers import Tables
from tables.nexthop import NexthopTable
from tables.route import RouteTable
from tests.tables.support import MAC1, MAC2, conntrack, fdb, nexthop, route4, route6


def ip(addr: str) -> bytes:
    return ipaddress.ip_address(addr).packed


@pytest.fixture
def nexthops() -> NexthopTable:
    table = NexthopTable()
    table.add(nexthop(1) + nexthop(2), False)
    return table


def test_route_get_is_exact(nexthops: NexthopTable) -> None:
    routes = RouteTable(nexthops, 32)
    routes.add(route4("10.0.0.0/8") + route4("10.1.0.0/16", 2), False)
    assert routes.get(0, ip("10.0.0.0"), 8) == route4("10.0.0.0/8")
    assert routes.get(0, ip("10.1.0.0"), 8) is None           # host bits: no such route
    assert routes.get(0, ip("10.0.0.0"), 9) is None
    assert routes.get(0, ip("10.0.0.0"), 40) is None
    assert routes.get(1, ip("10.0.0.0"), 8) is None
    assert routes.prefix_lengths(0) == [16, 8] and routes.prefix_lengths(1) == []
    assert routes.lookup(3, ip("10.1.1.1")) is None
    assert nexthops.refcount(1) == 1 and nexthops.refcount(2) == 1 and nexthops.refcount(9) == 0


def test_route_table_rejects_other_families(nexthops: NexthopTable) -> None:
    with pytest.raises(ValueError):
        RouteTable(nexthops, 64)


def outcome(routes: RouteTable, payload: bytes, replace: bool, exact: bool) -> int:
    try:
        if exact:
            routes._add_exact(payload, replace)
        else:
            routes.add(payload, replace)
    except TableError as error:
        return error.status
    return 0


def index_agrees(routes: RouteTable) -> bool:
    """The prefix index holds exactly the routes of the order, with their records."""
    items = list(routes.order.items())
    return len(routes.index) == len(items) and all(routes.index.get(k) == r for k, r in items)


def state(routes: RouteTable, nexthops: NexthopTable) -> tuple[object, ...]:
    assert index_agrees(routes)
    lengths = [routes.prefix_lengths(vrf) for vrf in range(3)]
    return list(routes.order.items()), dict(nexthops.refs), lengths, routes.index.codes()


V4_RECORDS = st.builds(
    wire.ROUTE4.pack, st.sampled_from([0, 1] * 6 + [0xFFFF]),
    st.sampled_from([0, 8, 24, 32] * 4 + [33]), st.integers(0, 255),
    st.sampled_from([ip("10.0.0.0"), ip("0.0.0.0")] * 6 + [ip("10.1.2.3")]),
    st.sampled_from([1, 2] * 6 + [0, 7]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.lists(V4_RECORDS, min_size=1, max_size=8), st.booleans()),
                min_size=1, max_size=6))
def test_fast_path_agrees_with_exact_path(requests: list[tuple[list[bytes], bool]]) -> None:
    fast_nh, exact_nh = NexthopTable(), NexthopTable()
    for table in (fast_nh, exact_nh):
        table.add(nexthop(1) + nexthop(2), False)
    fast, exact = RouteTable(fast_nh, 32), RouteTable(exact_nh, 32)
    for records, replace in requests:
        payload = b"".join(records)
        assert outcome(fast, payload, replace, False) == outcome(exact, payload, replace, True)
        assert state(fast, fast_nh) == state(exact, exact_nh)


def test_interned_tails_are_bounded(nexthops: NexthopTable,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Past TAILS_MAX interned (origin, nh_id) pairs the interning table is cleared:
    records stay exact, memory stays bounded."""
    monkeypatch.setattr(lpm, "TAILS_MAX", 2)
    routes = RouteTable(nexthops, 32)
    expected = {}
    for third in range(8):
        for origin in range(3):
            record = wire.ROUTE4.pack(0, 24, origin, bytes([10, origin, third, 0]),
                                      1 + (third + origin) % 2)
            expected[record] = ip(f"10.{origin}.{third}.7")
        routes.add(b"".join(list(expected)[-3:]), False)             # the fast path
        routes._add_exact(b"".join(list(expected)[-3:]), True)      # and REPLACE
        assert len(routes.index._tails) <= lpm.TAILS_MAX + 3     # + one request's tails
    assert all(routes.lookup(0, addr) == record for record, addr in expected.items())
    assert index_agrees(routes)


def test_route6_table(nexthops: NexthopTable) -> None:
    routes = RouteTable(nexthops, 128)
    routes.add(route6("2001:db8::/32") + route6("2001:db8:1::/48", 2), False)
    assert routes.lookup(0, ip("2001:db8:1::9")) == route6("2001:db8:1::/48", 2)
    assert routes.get(0, ip("2001:db8::"), 32) == route6("2001:db8::/32")
    routes.delete(route6("2001:db8:1::/48"), False)
    assert routes.lookup(0, ip("2001:db8:1::9")) == route6("2001:db8::/32")
    assert routes.prefix_lengths(0) == [32] and len(routes) == 1


def test_nexthop_references(nexthops: NexthopTable) -> None:
    nexthops.retain({1: 3, 2: 1})
    nexthops.release({1: 2, 2: 1})
    assert nexthops.refs == {1: 1} and 1 in nexthops and 5 not in nexthops
    with pytest.raises(TableError) as error:
        nexthops.delete(wire.U32.pack(1), False)
    assert error.value.status == wire.EBUSY
    nexthops.delete(wire.U32.pack(2), False)
    assert nexthops.get(2) is None and len(nexthops) == 1


def test_fdb_get_flush_and_clock() -> None:
    table = FdbTable(clock_ns=lambda: 42)
    table.add(fdb(MAC1) + fdb(MAC2, bridge_id=3), False)
    assert table.get(0, 1, MAC1) == fdb(MAC1, seen=42)
    assert table.get(0, 2, MAC1) is None
    assert table.flush(3) == 1 and table.flush(3) == 0 and table.flush(wire.SCOPE_ALL) == 1
    assert len(table) == 0


def test_conntrack_ids_wrap_past_zero() -> None:
    table = ConntrackTable(clock_ns=lambda: 7)
    table._last_id = 2**32 - 2
    table.add(conntrack(1) + conntrack(2) + conntrack(3), False)
    ids = [wire.CONNTRACK.unpack(table.get(0, 4, 6, ip("10.0.0.1").ljust(16, b"\0"),
                                           ip("10.0.0.2").ljust(16, b"\0"), sport, 80)
                                 or b"")[0] for sport in (1, 2, 3)]
    assert ids == [2**32 - 1, 1, 2]
    assert table.flush(0) == 3


def test_tables_create() -> None:
    tables = Tables.create()
    tables.nexthops.add(nexthop(1), False)
    tables.routes4.add(route4("10.0.0.0/8"), False)
    tables.routes6.add(route6("::/0"), False)
    tables.fdb.add(fdb(), False)
    seen = wire.FDB.unpack(tables.fdb.get(0, 1, MAC1) or b"")[-1]
    assert seen > 0 and tables.nexthops.refs == {1: 2}
    assert tables.routes4._nexthops is tables.routes6._nexthops is tables.nexthops
