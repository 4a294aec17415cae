"""api.watch.Mirror through a real reactord: exact after every Synced, resumes, re-snapshots.

Changes are made from inside the update loop, one request at a time, by
another client: while the loop runs the mirror reads nothing, so each test
knows exactly where the mirror stands.  After each ``Synced`` whose revision
is the daemon's current one, the copy must equal a LIST of every table.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Network, IPv6Network, ip_address
from pathlib import Path

import pytest

from api import wire
from api.client import Client
from api.events import Change, Synced
from api.mac import MacAddress
from api.records import ConntrackEntry, FdbEntry, Nexthop, Route4, Route4Key, Route6
from api.tables_client import TablesClient
from api.watch import Mirror
from tools.harness import ServerProcess, start_reactord

Step = Callable[[TablesClient], object]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = start_reactord(directory=tmp_path)
    try:
        yield proc
    finally:
        assert proc.terminate() == 0, proc.log()


def listed(tc: TablesClient) -> dict[int, set[bytes]]:
    """Every table as LIST shows it, as record bytes."""
    return {wire.TABLE_NEXTHOP: {r.to_wire() for r in tc.nexthops.list()},
            wire.TABLE_ROUTE4: {r.to_wire() for r in tc.routes4.list()},
            wire.TABLE_ROUTE6: {r.to_wire() for r in tc.routes6.list()},
            wire.TABLE_FDB: {r.to_wire() for r in tc.fdb.list()},
            wire.TABLE_CONNTRACK: {r.to_wire() for r in tc.conntrack.list()}}


def copied(mirror: Mirror) -> dict[int, set[bytes]]:
    return {table: set(records.values()) for table, records in mirror.tables.items()}


class Connections:
    """The ``connect`` of a Mirror that keeps the clients it hands out."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.made: list[Client] = []

    def __call__(self) -> Client:
        self.made.append(Client(self.path, name="mirror", timeout=30))
        return self.made[-1]

    def cut(self) -> None:
        """Shut the latest connection down under its reader."""
        self.made[-1]._conn.sock.shutdown(socket.SHUT_RDWR)


def route(i: int, nh: int = 1, origin: int = 0) -> Route4:
    return Route4(IPv4Network((0x0A000000 + (i << 8), 24)), nh, origin=origin)


STEPS: list[Step] = [
    lambda tc: tc.nexthops.add(Nexthop(1, gateway=IPv4Address("192.0.2.1"))),
    lambda tc: tc.nexthops.add(Nexthop(2, gateway=IPv4Address("192.0.2.2"))),
    lambda tc: tc.routes4.add(route(i) for i in range(50)),
    lambda tc: tc.routes4.add((route(i, 2, origin=9) for i in range(0, 50, 5)), replace=True),
    lambda tc: tc.routes4.delete(route(i).key for i in range(10, 30)),
    lambda tc: tc.routes6.add(Route6(IPv6Network(f"2001:db8:{i:x}::/48"), 2) for i in range(9)),
    lambda tc: tc.fdb.add(FdbEntry(MacAddress(f"02:00:00:00:00:{i:02x}"), iface_id=3,
                                   vlan_id=i) for i in range(12)),
    lambda tc: tc.conntrack.add(ConntrackEntry(6, ip_address("10.0.0.1"), 1000 + i,
                                               ip_address("10.0.0.2"), 80) for i in range(7)),
    lambda tc: tc.fdb.flush(),
    lambda tc: tc.routes4.add(route(i, 1) for i in range(10, 20)),
    lambda tc: tc.conntrack.flush(),
    lambda tc: tc.routes6.delete(Route6(IPv6Network("2001:db8:3::/48"), 2).key),
]


def test_the_copy_equals_a_listing_after_sync_and_after_each_revision(
        daemon: ServerProcess) -> None:
    connections = Connections(daemon.path)
    mirror = Mirror(connections)
    checked: list[int] = []
    with TablesClient.connect(daemon.path, name="writer") as tc:
        STEPS[0](tc)                                # a table that is not empty at SYNC
        for update in mirror.follow():
            if not isinstance(update, Synced):
                continue
            assert tc.stats()["revision"] == update.revision == mirror.revision
            assert copied(mirror) == listed(tc), f"at revision {update.revision}"
            checked.append(update.revision)
            if len(checked) == len(STEPS):
                mirror.stop()
            else:
                STEPS[len(checked)](tc)
    assert checked == list(range(1, len(STEPS) + 1))
    assert (mirror.snapshots, mirror.reconnects, len(connections.made)) == (1, 0, 1)


def test_a_lost_connection_resumes_from_its_revision(daemon: ServerProcess) -> None:
    connections = Connections(daemon.path)
    mirror = Mirror(connections, retry_delay=0.05, max_retries=100)
    changes: list[Change] = []
    synced: list[int] = []
    with TablesClient.connect(daemon.path, name="writer") as tc:
        tc.nexthops.add(Nexthop(1, gateway=IPv4Address("192.0.2.1")))
        tc.routes4.add(route(i) for i in range(3))                        # revision 2
        for update in mirror.follow():
            if isinstance(update, Change):
                changes.append(update)
                continue
            synced.append(update.revision)
            if update.revision == 2 and mirror.reconnects == 0 and len(changes) == 4:
                changes.clear()
                tc.routes4.add(route(7))                                  # 3: then cut
                connections.cut()
                tc.routes4.delete(route(0).key)                            # 4: while cut
            elif update.revision == 4 and tc.stats()["revision"] == 4:
                tc.routes4.add(route(8))                                  # 5: live again
            elif update.revision == 5:
                mirror.stop()
        final = listed(tc)
    assert [(c.old is None, c.new is None, c.new or c.old) for c in changes] == [
        (True, False, route(7).to_wire()), (False, True, route(0).to_wire()),
        (True, False, route(8).to_wire())]
    assert (mirror.snapshots, mirror.reconnects, len(connections.made)) == (1, 1, 2)
    assert copied(mirror) == final
    assert synced in ([2, 3, 4, 5], [2, 4, 5])       # once each (3: if read before the cut)


def test_a_mirror_that_fell_behind_the_changelog_takes_a_new_snapshot(tmp_path: Path) -> None:
    """ESTALE: the mirror reads nothing while 200 revisions of 10 changes each happen
    (the daemon retains 20 changes and pauses the watcher at 4 KiB of output)."""
    daemon = start_reactord("--changelog-events", "20", "--write-high", "4096",
                            "--write-low", "1024", directory=tmp_path)
    try:
        connections = Connections(daemon.path)
        mirror = Mirror(connections, tables=wire.ALL_TABLES_MASK)
        removed: list[Change] = []
        with TablesClient.connect(daemon.path, name="writer") as tc:
            tc.nexthops.add(Nexthop(1, gateway=IPv4Address("192.0.2.1")))
            tc.routes4.add(route(i) for i in range(10))                        # revision 2
            for update in mirror.follow():
                if isinstance(update, Change):
                    if update.new is None:
                        removed.append(update)
                elif update.revision == 2:
                    assert tc.stats()["watchers"] == 1
                    tc.routes4.delete(route(i).key for i in range(10))          # 3
                    for n in range(1, 200):                                   # 4..202
                        tc.routes4.add(route(n * 10 + i) for i in range(10))
                    assert tc.stats()["changelog_oldest"] > 100
                elif update.revision == 202:
                    mirror.stop()
            final = listed(tc)
        assert (mirror.snapshots, mirror.reconnects, len(connections.made)) == (2, 1, 2)
        assert copied(mirror) == final and len(final[wire.TABLE_ROUTE4]) == 1990
        assert {c.old for c in removed} == {route(i).to_wire() for i in range(10)}
    finally:
        assert daemon.terminate() == 0, daemon.log()


def test_a_copy_synced_at_revision_0_is_not_resumed_as_live_only(daemon: ServerProcess) -> None:
    """Regression: WATCH from_revision 0 means "from now on", not "after revision 0": a
    mirror cut off at revision 0 that resumed so missed the changes made meanwhile."""
    connections = Connections(daemon.path)
    mirror = Mirror(connections, retry_delay=0.05, max_retries=100)
    with TablesClient.connect(daemon.path, name="writer") as tc:
        for update in mirror.follow():
            if update == Synced(0):
                connections.cut()
                tc.nexthops.add(Nexthop(1, gateway=IPv4Address("192.0.2.1")))    # 1
            elif isinstance(update, Synced):
                assert update.revision == 1
                mirror.stop()
        final = listed(tc)
    assert copied(mirror) == final and len(final[wire.TABLE_NEXTHOP]) == 1
    assert (mirror.snapshots, mirror.reconnects) == (2, 1)


def test_a_restarted_daemon_is_followed_with_a_new_snapshot(tmp_path: Path) -> None:
    """Regression: the old daemon's ESHUTDOWN and the new one's EINVAL (a revision it
    never had) ended follow() with an error instead of reconnecting."""
    first = start_reactord(directory=tmp_path)
    connections = Connections(first.path)
    mirror = Mirror(connections, retry_delay=0.05, max_retries=600)
    second: ServerProcess | None = None
    try:
        with TablesClient.connect(first.path, name="writer") as tc:
            tc.nexthops.add(Nexthop(1, gateway=IPv4Address("192.0.2.1")))
            tc.routes4.add(route(i) for i in range(3))                        # revision 2
        for update in mirror.follow():
            if update == Synced(2) and second is None:
                assert first.terminate() == 0, first.log()
                second = start_reactord(directory=tmp_path)
                with TablesClient.connect(second.path, name="writer") as tc:
                    tc.nexthops.add(Nexthop(5, gateway=IPv4Address("192.0.2.5")))   # 1
            elif isinstance(update, Synced) and second is not None:
                mirror.stop()
        assert second is not None
        with TablesClient.connect(second.path, name="reader") as tc:
            assert copied(mirror) == listed(tc)
        assert mirror.snapshots == 2 and mirror.revision == 1
    finally:
        first.kill()
        if second is not None:
            assert second.terminate() == 0, second.log()
