"""FDB and conntrack handlers: fields, daemon-set fields, flush, listings."""

from __future__ import annotations

import pytest

from api import wire
from tests.tables.support import MAC1, MAC2, Daemon, bulk, conntrack, fdb, list_req
from tests.tables.test_handlers_common import snapshot

EINVAL, ENOENT, EEXIST = wire.EINVAL, wire.ENOENT, wire.EEXIST
REPLACE, MISSING_OK = wire.ADD_REPLACE, wire.DEL_MISSING_OK


@pytest.fixture
def daemon() -> Daemon:
    return Daemon.create()


def refused(d: Daemon, req_type: int, payload: bytes, expected: int) -> None:
    before = snapshot(d)
    assert wire.status_name(d.call(req_type, payload)[0]) == wire.status_name(expected)
    assert snapshot(d) == before


def stamp(record: bytes, ns: int) -> bytes:
    return record[:-8] + ns.to_bytes(8, "little")


@pytest.mark.parametrize("bad", [fdb(bridge_id=0xFFFF), fdb(vlan_id=4096), fdb(vlan_id=0xFFFF),
                                 fdb(flags=0), fdb(flags=3), fdb(flags=255)])
def test_fdb_add_invalid_fields(daemon: Daemon, bad: bytes) -> None:
    refused(daemon, wire.FDB_ADD, bulk(fdb(MAC2), bad), EINVAL)


def test_fdb_del_checks_key_fields_only(daemon: Daemon) -> None:
    refused(daemon, wire.FDB_DEL, bulk(fdb(bridge_id=0xFFFF), flags=MISSING_OK), EINVAL)
    refused(daemon, wire.FDB_DEL, bulk(fdb(vlan_id=4096), flags=MISSING_OK), EINVAL)
    daemon.ok(wire.FDB_ADD, bulk(fdb()))
    refused(daemon, wire.FDB_DEL, bulk(fdb(flags=0), fdb(MAC2, flags=0)), ENOENT)
    daemon.ok(wire.FDB_DEL, bulk(fdb(flags=0, iface_id=99), fdb(flags=7)))
    assert len(daemon.tables.fdb) == 0


def test_fdb_last_seen_is_set_by_the_daemon(daemon: Daemon) -> None:
    daemon.ok(wire.FDB_ADD, bulk(fdb(seen=123), fdb(MAC2, flags=wire.FDB_STATIC, seen=5)))
    first = daemon.listing(wire.FDB_LIST)
    seen = wire.FDB.unpack(first[0])[-1]
    assert seen not in (0, 5, 123)
    assert first == [stamp(fdb(), seen), stamp(fdb(MAC2, flags=wire.FDB_STATIC), seen)]
    refused(daemon, wire.FDB_ADD, bulk(fdb(iface_id=9)), EEXIST)
    daemon.ok(wire.FDB_ADD, bulk(fdb(iface_id=9), flags=REPLACE))
    (now,) = [r for r in daemon.listing(wire.FDB_LIST) if r[:10] == fdb()[:10]]
    assert wire.FDB.unpack(now)[3] == 9 and wire.FDB.unpack(now)[-1] > seen


def test_fdb_padding_zeroed_and_order(daemon: Daemon) -> None:
    raw = bytearray(fdb(MAC2, bridge_id=1))
    raw[13:16] = b"\xff\xff\xff"
    daemon.ok(wire.FDB_ADD, bulk(bytes(raw), fdb(MAC1, bridge_id=1, vlan_id=5), fdb(MAC2, vlan_id=0),
                                 fdb(MAC1, bridge_id=0, vlan_id=4095)))
    keys = [wire.FDB.unpack(r)[:3] for r in daemon.listing(wire.FDB_LIST)]
    assert keys == [(0, 0, MAC2), (0, 4095, MAC1), (1, 1, MAC2), (1, 5, MAC1)]
    assert all(r[13:16] == bytes(3) for r in daemon.listing(wire.FDB_LIST))
    assert len(daemon.listing(wire.FDB_LIST, list_req(scope=1))) == 2
    after = fdb(MAC1, bridge_id=1, vlan_id=1, flags=0)            # not validated
    assert [wire.FDB.unpack(r)[:3] for r in daemon.listing(wire.FDB_LIST, list_req(
        after=after))] == [(1, 1, MAC2), (1, 5, MAC1)]
    assert daemon.stream(wire.FDB_LIST, list_req(max_count=1, scope=1))[0] == wire.EXFULL


def test_fdb_flush(daemon: Daemon) -> None:
    daemon.ok(wire.FDB_ADD, bulk(*(fdb(MAC1, bridge_id=b, vlan_id=v) for b in range(3)
                                   for v in range(3))))
    daemon.ok(wire.FDB_FLUSH, wire.FLUSH_REQ.pack(1))
    assert {wire.FDB.unpack(r)[0] for r in daemon.listing(wire.FDB_LIST)} == {0, 2}
    daemon.ok(wire.FDB_FLUSH, wire.FLUSH_REQ.pack(9))
    assert len(daemon.tables.fdb) == 6
    daemon.ok(wire.FDB_FLUSH, wire.FLUSH_REQ.pack(wire.SCOPE_ALL))
    assert daemon.listing(wire.FDB_LIST) == [] and daemon.registry.stats()["fdb"] == 0


@pytest.mark.parametrize("bad", [conntrack(iface_id=0xFFFF), conntrack(af=0), conntrack(af=5),
                                 conntrack(af=255)])
def test_conntrack_add_invalid_fields(daemon: Daemon, bad: bytes) -> None:
    refused(daemon, wire.CT_ADD, bulk(conntrack(9), bad), EINVAL)
    refused(daemon, wire.CT_DEL, bulk(bad, flags=MISSING_OK), EINVAL)


def test_conntrack_ids_and_time(daemon: Daemon) -> None:
    daemon.ok(wire.CT_ADD, bulk(conntrack(2, entry_id=77, updated=5), conntrack(1, state=3)))
    listed = [wire.CONNTRACK.unpack(r) for r in daemon.listing(wire.CT_LIST)]
    assert [(c[0], c[6], c[8]) for c in listed] == [(2, 1, 3), (1, 2, 1)]   # id, sport, state
    stamp1 = listed[0][-1]
    assert stamp1 == listed[1][-1] and stamp1 not in (0, 5)
    refused(daemon, wire.CT_ADD, bulk(conntrack(3), conntrack(2)), EEXIST)
    daemon.ok(wire.CT_ADD, bulk(conntrack(3), conntrack(2, state=9), conntrack(3, state=4),
                                flags=REPLACE))
    listed = [wire.CONNTRACK.unpack(r) for r in daemon.listing(wire.CT_LIST)]
    assert [(c[0], c[6], c[8]) for c in listed] == [(2, 1, 3), (1, 2, 9), (3, 3, 4)]
    assert listed[1][-1] > stamp1 and listed[0][-1] == stamp1


def test_conntrack_key_order_flush_and_after(daemon: Daemon) -> None:
    entries = [conntrack(5, iface_id=1), conntrack(5, af=6, src="::1", dst="::2"),
               conntrack(5, proto=17), conntrack(5, src="10.0.0.0"), conntrack(5, dport=1),
               conntrack(4)]
    daemon.ok(wire.CT_ADD, bulk(*entries))
    order = [wire.CONNTRACK.unpack(r)[1:8] for r in daemon.listing(wire.CT_LIST)]
    assert order == sorted(order)
    assert len(daemon.listing(wire.CT_LIST, list_req(scope=0))) == 5
    after = conntrack(5, af=99, entry_id=3)                       # af not validated
    assert [wire.CONNTRACK.unpack(r)[1] for r in daemon.listing(
        wire.CT_LIST, list_req(after=after))] == [1]
    refused(daemon, wire.CT_DEL, bulk(conntrack(5, iface_id=2)), ENOENT)
    daemon.ok(wire.CT_DEL, bulk(conntrack(4, state=8, entry_id=1), conntrack(4)))
    daemon.ok(wire.CT_FLUSH, wire.FLUSH_REQ.pack(0))
    assert [wire.CONNTRACK.unpack(r)[1] for r in daemon.listing(wire.CT_LIST)] == [1]
