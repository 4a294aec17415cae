"""Handler checks shared by all five modules: lengths, flags, unknown types, stats."""

from __future__ import annotations

import pytest

from api import wire
from api.registry import Stream
from tests.tables.support import (Daemon, bulk, conntrack, fdb, list_req, nexthop, nh_ids,
                                  route4, route6)

EMSGSIZE, EINVAL = wire.EMSGSIZE, wire.EINVAL
MODULES = {
    # module: (a valid record, DEL record size)
    wire.MODULE_NEXTHOP: (nexthop(1), 4),
    wire.MODULE_ROUTE4: (route4("10.0.0.0/8"), 12),
    wire.MODULE_ROUTE6: (route6("2001:db8::/32"), 24),
    wire.MODULE_FDB: (fdb(), 24),
    wire.MODULE_CONNTRACK: (conntrack(), 56),
}


@pytest.fixture
def daemon() -> Daemon:
    d = Daemon.create()
    d.ok(wire.NH_ADD, bulk(nexthop(1)))
    return d


def snapshot(d: Daemon) -> tuple[object, ...]:
    lists = tuple(tuple(d.listing(wire.msg_type(m, wire.OP_LIST))) for m in MODULES)
    return lists, dict(d.tables.nexthops.refs), d.registry.stats()


def status(d: Daemon, module: int, op: int, payload: bytes) -> int:
    return d.call(wire.msg_type(module, op), payload)[0]


@pytest.mark.parametrize("module", list(MODULES))
def test_add_lengths_and_flags(daemon: Daemon, module: int) -> None:
    record, _ = MODULES[module]
    size = len(record)
    before = snapshot(daemon)
    cases = [(b"", EMSGSIZE), (bulk(), EMSGSIZE), (bulk(record)[:-1], EMSGSIZE),
             (bulk(record) + b"\0", EINVAL), (bulk(record, record)[:-1], EINVAL),
             (bulk(record, flags=2), EINVAL), (bulk(record, flags=0x80000001), EINVAL)]
    for payload, expected in cases:
        assert status(daemon, module, wire.OP_ADD, payload) == expected, (len(payload), size)
    assert snapshot(daemon) == before


@pytest.mark.parametrize("module", list(MODULES))
def test_del_lengths_and_flags(daemon: Daemon, module: int) -> None:
    record, del_size = MODULES[module]
    key = wire.U32.pack(1) if module == wire.MODULE_NEXTHOP else record
    assert len(key) == del_size
    before = snapshot(daemon)
    cases = [(b"", EMSGSIZE), (bulk(), EMSGSIZE), (bulk(key)[:-1], EMSGSIZE),
             (bulk(key) + b"\0", EINVAL), (bulk(key, flags=2), EINVAL),
             (bulk(key, flags=wire.DEL_MISSING_OK | 4), EINVAL)]
    for payload, expected in cases:
        assert status(daemon, module, wire.OP_DEL, payload) == expected, len(payload)
    assert snapshot(daemon) == before


def test_flags_come_before_records(daemon: Daemon) -> None:
    daemon.ok(wire.ROUTE4_ADD, bulk(route4("10.0.0.0/8")))
    # the record would be EEXIST, the flags are checked first
    assert daemon.call(wire.ROUTE4_ADD, bulk(route4("10.0.0.0/8"), flags=4))[0] == EINVAL
    assert daemon.call(wire.ROUTE4_DEL, bulk(route4("11.0.0.0/8"), flags=4))[0] == EINVAL
    assert daemon.call(wire.NH_DEL, nh_ids(9, flags=2))[0] == EINVAL


@pytest.mark.parametrize("module", list(MODULES))
def test_list_lengths_and_flags(daemon: Daemon, module: int) -> None:
    record, _ = MODULES[module]
    size = len(record)
    cases = [(b"", EMSGSIZE), (list_req()[:7], EMSGSIZE), (list_req() + b"\0", EINVAL),
             (list_req(flags=wire.LIST_AFTER), EMSGSIZE),
             (list_req(after=record)[:-1], EMSGSIZE), (list_req(after=record) + b"\0", EINVAL),
             (list_req(flags=0) + record, EINVAL), (list_req(flags=2), EINVAL),
             (list_req(flags=2 | wire.LIST_AFTER), EMSGSIZE),      # minimum from AFTER only
             (list_req(flags=2) + b"\0", EINVAL),
             (list_req(after=record, flags=3), EINVAL)]
    for payload, expected in cases:
        got, records = daemon.stream(wire.msg_type(module, wire.OP_LIST), payload)
        assert (got, records) == (expected, []), (len(payload), size)


def test_get_and_flush_lengths(daemon: Daemon) -> None:
    for req_type, size in ((wire.NH_GET, 4), (wire.ROUTE4_GET, 8), (wire.ROUTE6_GET, 20),
                           (wire.FDB_FLUSH, 4), (wire.CT_FLUSH, 4)):
        assert daemon.call(req_type, b"")[0] == EMSGSIZE
        assert daemon.call(req_type, bytes(size - 1))[0] == EMSGSIZE
        assert daemon.call(req_type, bytes([1] * (size + 1)))[0] == EINVAL


@pytest.mark.parametrize("req_type", [
    wire.msg_type(wire.MODULE_ROUTE4, wire.OP_FLUSH), wire.msg_type(wire.MODULE_ROUTE6, 5),
    wire.msg_type(wire.MODULE_NEXTHOP, wire.OP_FLUSH), wire.msg_type(wire.MODULE_FDB, 3),
    wire.msg_type(wire.MODULE_CONNTRACK, wire.OP_GET), wire.msg_type(wire.MODULE_FDB, 6),
    wire.msg_type(0x1234, 1)])
def test_unlisted_pairs_are_not_supported(daemon: Daemon, req_type: int) -> None:
    assert daemon.call(req_type, bytes(64))[0] == wire.ENOTSUP


def test_stats_report_table_sizes(daemon: Daemon) -> None:
    daemon.ok(wire.ROUTE4_ADD, bulk(route4("10.0.0.0/8"), route4("10.1.0.0/16")))
    daemon.ok(wire.ROUTE6_ADD, bulk(route6("2001:db8::/32")))
    daemon.ok(wire.FDB_ADD, bulk(fdb()))
    daemon.ok(wire.CT_ADD, bulk(conntrack(1), conntrack(2), conntrack(3)))
    assert daemon.registry.stats() == {"nexthops": 1, "routes4": 2, "routes6": 1, "fdb": 1,
                                       "conntrack": 3, "revision": 5, "changelog_events": 8,
                                       "changelog_oldest": 0}


@pytest.mark.parametrize("module", list(MODULES))
def test_list_max_count_scope_and_after(daemon: Daemon, module: int) -> None:
    record, _ = MODULES[module]
    list_type = wire.msg_type(module, wire.OP_LIST)
    everything = daemon.listing(list_type)
    assert daemon.stream(list_type, list_req(max_count=len(everything) + 1)) == (0, everything)
    if everything:
        assert daemon.stream(list_type, list_req(max_count=len(everything))) == (0, everything)
    assert daemon.stream(list_type, list_req(scope=77)) == (0, [])
    assert daemon.stream(list_type, list_req(after=b"\xff" * len(record))) == (0, [])


SEVERAL = {
    wire.MODULE_NEXTHOP: [nexthop(i) for i in range(2, 9)],
    wire.MODULE_ROUTE4: [route4(f"10.{i}.0.0/16") for i in range(7)],
    wire.MODULE_ROUTE6: [route6(f"2001:db8:{i}::/48") for i in range(7)],
    wire.MODULE_FDB: [fdb(bytes([2, 0, 0, 0, 0, i])) for i in range(7)],
    wire.MODULE_CONNTRACK: [conntrack(1000 + i) for i in range(7)],
}


@pytest.mark.parametrize("module", list(MODULES))
def test_batch_boundaries_do_not_change_a_listing(daemon: Daemon, module: int) -> None:
    record, _ = MODULES[module]
    daemon.ok(wire.msg_type(module, wire.OP_ADD), bulk(*SEVERAL[module]))
    list_type = wire.msg_type(module, wire.OP_LIST)
    entry = daemon.registry.check(list_type, list_req())
    assert isinstance(entry, Stream) and entry.record_size == len(record)
    for payload in (list_req(), list_req(max_count=3), list_req(scope=0, after=bytes(len(record)))):
        listings = {limit: daemon.stream(list_type, payload, limit) for limit in (1, 2, 5, 1000)}
        assert len(set(map(repr, listings.values()))) == 1, listings
        assert len(listings[1][1]) >= 3, "several batches at limit 1"
