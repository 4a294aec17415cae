"""api.tables_client through a real reactord on a UNIX socket (one daemon per module).

Each test starts from empty tables (the fixture flushes them after each test,
which also exercises every ``flush``).  Error replies that name a record are
crafted on a socketpair, since the daemon does not send that payload yet.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path
from typing import Iterator

import pytest

from api import text, wire
from api.client import Client
from api.client_errors import AlreadyExists, ApiCallError, Busy, InvalidArgument, NotFound
from api.codec import Request, RequestDecoder, encode_response
from api.records import (
    ConntrackEntry, FdbEntry, FdbFlags, FdbKey, MacAddress, Nexthop, NexthopType, Route4,
    Route4Key, Route6,
)
from api.tables_client import TablesClient
from api.text_words import TextError
from tools.harness import ServerProcess
from tests.tools.util import start_daemon

PER_ROUTE4_ADD = (wire.MAX_PAYLOAD - 4) // wire.ROUTE4.size      # 10922
GW = Nexthop(1, gateway=IPv4Address("192.0.2.1"), iface_id=2, mac=MacAddress(1))


def net4(i: int, plen: int = 24) -> IPv4Network:
    return IPv4Network((i << (32 - plen), plen))


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_daemon(tmp_path_factory.mktemp("tables-client"))
    yield proc
    assert proc.terminate() == 0


@pytest.fixture
def tc(daemon: ServerProcess) -> Iterator[TablesClient]:
    with TablesClient.connect(daemon.path, name="test", timeout=30) as client:
        yield client
        client.routes4.flush()
        client.routes6.flush()
        client.nexthops.flush()
        client.fdb.flush()
        client.conntrack.flush()
        sizes = client.stats()
        assert [sizes[t] for t in ("routes4", "routes6", "nexthops", "fdb", "conntrack")] == \
            [0] * 5, "flush left records"


def test_every_table_round_trips_its_records(tc: TablesClient) -> None:
    hops = [GW, Nexthop(2, gateway=IPv6Address("2001:db8::1"), vrf_id=3),
            Nexthop(3, NexthopType.BLACKHOLE), Nexthop(4, NexthopType.REJECT, iface_id=7)]
    assert tc.nexthops.add(hops) == 4
    r4 = [Route4(IPv4Network("10.0.0.0/8"), 1, vrf_id=0, origin=186),
          Route4(IPv4Network("10.1.0.0/16"), 2, vrf_id=5)]
    r6 = [Route6(IPv6Network("2001:db8::/32"), 2), Route6(IPv6Network("::/0"), 3, vrf_id=1)]
    fdb = [FdbEntry(MacAddress("02:00:00:00:00:01"), 3, bridge_id=1, vlan_id=10,
                    flags=FdbFlags.LEARNED), FdbEntry(MacAddress(2), 4)]
    ct = [ConntrackEntry(6, IPv4Address("192.0.2.1"), 1234, IPv4Address("198.51.100.2"), 80,
                         iface_id=1, state=4),
          ConntrackEntry(17, IPv6Address("2001:db8::1"), 53, IPv6Address("2001:db8::2"), 53)]
    assert (tc.routes4.add(r4), tc.routes6.add(r6), tc.fdb.add(fdb), tc.conntrack.add(ct)) == \
        (2, 2, 2, 2)
    assert list(tc.nexthops.list()) == hops
    assert list(tc.routes4.list()) == r4 and list(tc.routes6.list()) == r6
    listed_fdb = list(tc.fdb.list())      # key order: bridge 0 first
    assert [replace(e, last_seen_ns=0) for e in listed_fdb] == [fdb[1], fdb[0]]
    assert all(e.last_seen_ns > 0 for e in listed_fdb), "set by the daemon"
    listed_ct = list(tc.conntrack.list())
    assert [replace(e, ct_id=0, last_update_ns=0) for e in listed_ct] == [ct[1], ct[0]]
    assert len({e.ct_id for e in listed_ct}) == 2


def test_get_and_lookup(tc: TablesClient) -> None:
    tc.nexthops.add(GW)
    assert tc.nexthops.get(1) == GW and tc.nexthops.get(2) is None
    tc.routes4.add([Route4(IPv4Network("10.0.0.0/8"), 1), Route4(IPv4Network("10.1.0.0/16"), 1),
                    Route4(IPv4Network("0.0.0.0/0"), 1, vrf_id=4)])
    assert tc.routes4.lookup(IPv4Address("10.1.2.3")) == Route4(IPv4Network("10.1.0.0/16"), 1)
    assert tc.routes4.lookup(IPv4Address("10.2.0.1")) == Route4(IPv4Network("10.0.0.0/8"), 1)
    assert tc.routes4.lookup(IPv4Address("11.0.0.1")) is None
    assert tc.routes4.lookup(IPv4Address("11.0.0.1"), vrf=4) == \
        Route4(IPv4Network("0.0.0.0/0"), 1, vrf_id=4)
    tc.routes6.add(Route6(IPv6Network("2001:db8::/32"), 1))
    assert tc.routes6.lookup(IPv6Address("2001:db8::5")) is not None
    assert tc.routes6.lookup(IPv6Address("2001:db9::5")) is None
    with pytest.raises(ValueError):
        tc.routes4.lookup(IPv4Address("10.0.0.1"), vrf=1 << 16)
    with pytest.raises(ValueError):
        tc.nexthops.get(-1)


def test_errors_carry_the_errno(tc: TablesClient) -> None:
    tc.nexthops.add(GW)
    with pytest.raises(AlreadyExists) as exists:
        tc.nexthops.add(replace(GW, iface_id=9))
    assert exists.value.errno_name == "EEXIST" and exists.value.applied == 0
    tc.nexthops.add(replace(GW, iface_id=9), replace=True)
    assert tc.nexthops.get(1) == replace(GW, iface_id=9)
    routes = [Route4(net4(1), 1), Route4(net4(2), 1), Route4(net4(3), 99)]
    with pytest.raises(NotFound) as missing:
        tc.routes4.add(routes)
    exc = missing.value
    assert (exc.status, exc.request, exc.applied) == (wire.ENOENT, "ROUTE4_ADD", 0)
    if exc.index is not None:          # once the daemon names the record (wire-v1 section 2)
        assert (exc.index, exc.record) == (2, routes[2])
    assert list(tc.routes4.list()) == [], "a request is all or nothing"
    tc.routes4.add(routes[0])
    with pytest.raises(Busy):
        tc.nexthops.delete(1)
    with pytest.raises(NotFound):
        tc.routes4.delete(Route4Key(net4(2)))
    with pytest.raises(InvalidArgument):
        tc.nexthops.add(Nexthop(0, NexthopType.BLACKHOLE))
    assert tc.routes4.delete([Route4Key(net4(2)), routes[0]], missing_ok=True) == 2
    assert list(tc.routes4.list()) == []


def test_a_record_that_does_not_fit_is_refused_before_its_request(tc: TablesClient) -> None:
    tc.nexthops.add(GW)
    records = [Route4(net4(i), 1) for i in range(PER_ROUTE4_ADD)]
    records.append(Route4(net4(0, 8), 1, vrf_id=70000))
    with pytest.raises(ValueError, match="Route4") as info:
        tc.routes4.add(records)
    assert f"{PER_ROUTE4_ADD} records of earlier requests were applied" in \
        (info.value.__notes__ or [])
    assert tc.stats()["routes4"] == PER_ROUTE4_ADD
    with pytest.raises(ValueError):
        tc.routes4.list(vrf=0xFFFF)


def test_an_error_of_the_iterable_says_what_was_applied(tc: TablesClient) -> None:
    tc.nexthops.add(GW)
    lines = [f"{net4(i)} via 1" for i in range(PER_ROUTE4_ADD + 3)] + ["10.0.0.1/8 via 1"]
    with pytest.raises(TextError, match="host bits set") as info:
        tc.routes4.add(text.parse_lines(Route4, lines))
    assert info.value.__notes__ == [f"{PER_ROUTE4_ADD} records of earlier requests were applied"]
    assert tc.stats()["routes4"] == PER_ROUTE4_ADD


def test_bulk_add_and_delete_span_several_requests(tc: TablesClient) -> None:
    tc.nexthops.add(GW)
    count = 2 * PER_ROUTE4_ADD + 5
    assert tc.routes4.add(Route4(net4(i), 1) for i in range(count)) == count
    listed = list(tc.routes4.list())
    assert [r.prefix for r in listed] == [net4(i) for i in range(count)]
    assert tc.routes4.delete(r.key for r in listed[::2]) == (count + 1) // 2
    assert [r.prefix for r in tc.routes4.list()] == [net4(i) for i in range(1, count, 2)]


def test_list_by_scope_with_limit_and_resume(tc: TablesClient) -> None:
    tc.nexthops.add(GW)
    tc.routes4.add(Route4(net4(i), 1, vrf_id=i % 3) for i in range(30))
    assert [r.prefix for r in tc.routes4.list(vrf=1)] == [net4(i) for i in range(1, 30, 3)]
    seen: list[Route4] = []
    after: Route4 | None = None
    while True:
        with tc.routes4.list(vrf=2, after=after, limit=4) as page:
            seen += page
        after = page.last
        if not page.incomplete:
            break
    assert [r.prefix for r in seen] == [net4(i) for i in range(2, 30, 3)]


MANY = 100_000     # 2.4 MB of frames: more than the daemon's output and the socket hold


def test_leaving_a_listing_early_cancels_it(tc: TablesClient) -> None:
    tc.nexthops.add(GW)
    tc.routes4.add(Route4(net4(i), 1) for i in range(MANY))
    with tc.routes4.list() as listing:
        first = next(listing)
        assert tc.stats()["streams_active"] == 1
    assert first.prefix == net4(0) and listing.done
    assert tc.stats()["streams_active"] == 0, "cancelled and drained by with"
    for _ in tc.routes4.list():
        break                      # the loop's iterator is dropped: STREAM_CANCEL is sent
    assert tc.stats()["streams_active"] == 0
    assert sum(1 for _ in tc.routes4.list()) == MANY, "no EBUSY: the connection is free"


def test_one_listing_at_a_time_per_connection(tc: TablesClient) -> None:
    tc.nexthops.add(GW)
    tc.routes4.add(Route4(net4(i), 1) for i in range(MANY))
    with tc.routes4.list() as first:
        assert next(first).prefix == net4(0)
        assert tc.stats()["streams_active"] == 1
        with pytest.raises(Busy) as busy:
            next(tc.nexthops.list())
        assert busy.value.request == "NH_LIST"
        tc.routes4.add(Route4(net4(MANY + 5), 1))   # a one-shot in the middle is fine
        assert sum(1 for _ in first) == MANY - 1 + 1, "the new route is ahead of the cursor"


def test_flush(tc: TablesClient) -> None:
    tc.nexthops.add([GW, Nexthop(2, NexthopType.BLACKHOLE, vrf_id=1)])
    tc.routes4.add(Route4(net4(i), 1, vrf_id=i % 2) for i in range(2 * PER_ROUTE4_ADD))
    with pytest.raises(Busy):
        tc.nexthops.flush()
    tc.routes4.flush(vrf=1)
    assert {r.vrf_id for r in tc.routes4.list()} == {0}
    tc.routes4.flush()
    tc.nexthops.flush(vrf=1)
    assert [nh.nh_id for nh in tc.nexthops.list()] == [1]
    tc.fdb.add(FdbEntry(MacAddress(i), 1, bridge_id=i % 2) for i in range(1, 11))
    tc.fdb.flush(bridge=0)
    assert [e.key for e in tc.fdb.list()] == [FdbKey(MacAddress(i), 1) for i in range(1, 11, 2)]


# -- error replies that name a record: crafted, on a socketpair -----------------------------


class Peer:
    """The daemon's end of a socketpair: replies queued up front, requests collected by a
    thread (a request of 128 KiB does not fit in the socket's buffer)."""

    def __init__(self, sock: socket.socket, replies: tuple[tuple[int, bytes], ...]) -> None:
        frames = [encode_response(1, 0, wire.HELLO_REQ.pack(1))]
        frames += [encode_response(i, s, p) for i, (s, p) in enumerate(replies, 2)]
        sock.sendall(b"".join(frames))
        self._sock = sock
        self._data = bytearray()
        self._thread = threading.Thread(target=self._collect, name="crafted-peer")
        self._thread.start()

    def _collect(self) -> None:
        while data := self._sock.recv(1 << 20):
            self._data += data

    def requests(self) -> list[Request]:
        """Every request the client sent; call after the client has closed."""
        self._thread.join(timeout=30)
        assert not self._thread.is_alive()
        self._sock.close()
        decoder, out = RequestDecoder(), []
        decoder.feed(self._data)
        while (event := decoder.next_event()) is not None:
            assert isinstance(event, Request)
            out.append(event)
        return out


def crafted(*replies: tuple[int, bytes]) -> tuple[TablesClient, Peer]:
    """A TablesClient whose requests 2, 3, ... get these (status, payload) replies."""
    mine, theirs = socket.socketpair()
    peer = Peer(theirs, replies)
    return TablesClient(Client.from_socket(mine)), peer


def test_index_counts_in_the_records_given_across_requests() -> None:
    reason = b"nexthop 99 does not exist"
    tc, peer = crafted((0, b""), (wire.ENOENT, struct.pack("<I", 5) + reason))
    records = [Route4(net4(i), 1 if i != PER_ROUTE4_ADD + 5 else 99)
               for i in range(3 * PER_ROUTE4_ADD)]
    with tc:
        with pytest.raises(NotFound) as info:
            tc.routes4.add(records)
    exc = info.value
    assert (exc.index, exc.applied, exc.reason) == (PER_ROUTE4_ADD + 5, PER_ROUTE4_ADD,
                                                     reason.decode())
    assert exc.record == records[PER_ROUTE4_ADD + 5]
    assert str(exc).endswith(f"record {PER_ROUTE4_ADD + 5}: nexthop 99 does not exist")
    sent = peer.requests()
    assert [r.req_type for r in sent] == [wire.HELLO, wire.ROUTE4_ADD, wire.ROUTE4_ADD], \
        "nothing is sent after the failing request"
    assert len(sent[2].payload) == 4 + PER_ROUTE4_ADD * wire.ROUTE4.size


@pytest.mark.parametrize("payload", [b"", b"\x07", struct.pack("<I", 1 << 31) + b"\xff"])
def test_missing_or_odd_index_payload(payload: bytes) -> None:
    tc, peer = crafted((wire.EEXIST, payload))
    with tc:
        with pytest.raises(ApiCallError) as info:
            tc.nexthops.add([GW])
    assert [r.req_type for r in peer.requests()] == [wire.HELLO, wire.NH_ADD]
    exc = info.value
    assert exc.status == wire.EEXIST and exc.record is None
    assert exc.index == (None if len(payload) < 4 else 1 << 31)
