"""reactorctl end to end: a real reactord process and reactorctl subprocesses.

Each test starts its own daemon on a socket in its tmp dir.  Outputs are
checked as an operator sees them (tables, JSON lines, exit codes, one-line
errors); the daemon's state is checked through STATS with ``api.client``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from api import wire
from api.client import Client
from tests.tools.util import (
    ctl, fails, json_lines, ok, route_lines, stats,
)
from tools.ctl import load
from tools.ctl.fullview_load import load_fullview
from tools.ctl.syntax import ROUTE4
from tools.harness import ServerProcess



# -- every verb ----------------------------------------------------------------------------


def test_nexthop_add_get_list_del(daemon: ServerProcess) -> None:
    s = daemon.path
    ok(s, "nexthop", "add", "1", "gw", "192.0.2.1", "iface", "2", "mac", "02:00:00:00:00:01")
    ok(s, "nexthop", "add", "2", "blackhole")
    ok(s, "nh", "add", "3", "reject", "vrf", "1")
    ok(s, "nexthop", "add", "4", "gw", "2001:db8::1")
    assert route_lines(ok(s, "nexthop", "get", "1")) == [
        ["1", "0", "gw", "192.0.2.1", "2", "02:00:00:00:00:01"]]
    listing = ok(s, "nexthop", "list")
    assert listing.splitlines()[0].split() == ["ID", "VRF", "TYPE", "GATEWAY", "IFACE", "MAC"]
    assert [r[:4] for r in route_lines(listing)] == [
        ["1", "0", "gw", "192.0.2.1"], ["2", "0", "blackhole", "-"], ["3", "1", "reject", "-"],
        ["4", "0", "gw", "2001:db8::1"]]
    assert [r[0] for r in route_lines(ok(s, "nexthop", "list", "vrf", "1"))] == ["3"]
    assert json_lines(ok(s, "--json", "nexthop", "get", "4")) == [
        {"id": 4, "vrf": 0, "type": "gw", "gateway": "2001:db8::1", "iface": 0,
         "mac": "00:00:00:00:00:00"}]
    ok(s, "nexthop", "del", "2", "3")
    assert [r[0] for r in route_lines(ok(s, "nexthop", "list"))] == ["1", "4"]


def test_route4_add_get_list_del_with_vrfs(daemon: ServerProcess) -> None:
    s = daemon.path
    ok(s, "nexthop", "add", "1", "gw", "192.0.2.1")
    ok(s, "route4", "add", "10.0.0.0/8", "via", "1")
    ok(s, "route4", "add", "10.1.0.0/16", "via", "1", "origin", "186")
    ok(s, "route4", "add", "10.0.0.0/8", "via", "1", "vrf", "2")
    assert route_lines(ok(s, "route4", "get", "10.1.2.3")) == [
        ["0", "10.1.0.0/16", "1", "186", "gw", "192.0.2.1", "0", "0"]]
    assert route_lines(ok(s, "route4", "get", "10.2.0.1"))[0][:4] == ["0", "10.0.0.0/8", "1",
                                                                      "0"]
    assert ok(s, "route4", "get", "10.1.2.3").splitlines()[0].split() == [
        "VRF", "DESTINATION", "NEXTHOP", "ORIGIN", "TYPE", "GATEWAY", "IFACE", "NH_VRF"]
    assert json_lines(ok(s, "--json", "route4", "get", "10.1.2.3")) == [
        {"vrf": 0, "prefix": "10.1.0.0/16", "nh_id": 1, "origin": 186,
         "nexthop": {"id": 1, "vrf": 0, "type": "gw", "gateway": "192.0.2.1", "iface": 0,
                     "mac": "00:00:00:00:00:00"}}]
    assert route_lines(ok(s, "route4", "get", "10.1.2.3", "vrf", "2"))[0][:2] == ["2",
                                                                               "10.0.0.0/8"]
    assert [r[:2] for r in route_lines(ok(s, "route4", "list"))] == [
        ["0", "10.0.0.0/8"], ["0", "10.1.0.0/16"], ["2", "10.0.0.0/8"]]
    assert len(route_lines(ok(s, "route4", "list", "vrf", "2"))) == 1
    assert json_lines(ok(s, "route4", "list", "--json", "vrf", "0")) == [
        {"vrf": 0, "prefix": "10.0.0.0/8", "nh_id": 1, "origin": 0},
        {"vrf": 0, "prefix": "10.1.0.0/16", "nh_id": 1, "origin": 186}]
    ok(s, "route4", "del", "10.0.0.0/8", "10.1.0.0/16")
    assert route_lines(ok(s, "route4", "list")) == [["2", "10.0.0.0/8", "1", "0"]]


def test_route6_add_get_list_del(daemon: ServerProcess) -> None:
    s = daemon.path
    ok(s, "nexthop", "add", "6", "gw", "2001:db8::1")
    ok(s, "route6", "add", "2001:db8::/32", "via", "6")
    ok(s, "route6", "add", "2001:db8:1::/48", "via", "6", "vrf", "1")
    assert route_lines(ok(s, "route6", "get", "2001:db8::5")) == [
        ["0", "2001:db8::/32", "6", "0", "gw", "2001:db8::1", "0", "0"]]
    assert [r[1] for r in route_lines(ok(s, "route6", "list"))] == ["2001:db8::/32",
                                                                    "2001:db8:1::/48"]
    assert json_lines(ok(s, "-j", "route6", "list", "vrf", "1"))[0]["prefix"] == \
        "2001:db8:1::/48"
    ok(s, "route6", "del", "2001:db8:1::/48", "vrf", "1")
    assert len(route_lines(ok(s, "route6", "list"))) == 1


def test_fdb_add_list_del_flush(daemon: ServerProcess) -> None:
    s = daemon.path
    ok(s, "fdb", "add", "02:00:00:00:00:01", "bridge", "1", "vlan", "10", "iface", "3")
    ok(s, "fdb", "add", "02:00:00:00:00:02", "bridge", "1", "vlan", "10", "iface", "4",
       "learned")
    ok(s, "fdb", "add", "02:00:00:00:00:03", "bridge", "2", "iface", "5")
    rows = route_lines(ok(s, "fdb", "list"))
    assert [r[:5] for r in rows] == [["1", "10", "02:00:00:00:00:01", "3", "static"],
                                     ["1", "10", "02:00:00:00:00:02", "4", "learned"],
                                     ["2", "0", "02:00:00:00:00:03", "5", "static"]]
    assert all(r[5].endswith("s") for r in rows)        # an age from last_seen_ns
    entry = json_lines(ok(s, "--json", "fdb", "list", "bridge", "2"))[0]
    assert entry["mac"] == "02:00:00:00:00:03" and isinstance(entry["last_seen_ns"], int)
    ok(s, "fdb", "del", "02:00:00:00:00:01", "bridge", "1", "vlan", "10")
    ok(s, "fdb", "flush", "bridge", "1")
    assert [r[2] for r in route_lines(ok(s, "fdb", "list"))] == ["02:00:00:00:00:03"]
    ok(s, "fdb", "flush")
    assert route_lines(ok(s, "fdb", "list")) == []


def test_conntrack_add_list_del_flush(daemon: ServerProcess) -> None:
    s = daemon.path
    ok(s, "conntrack", "add", "tcp", "192.0.2.1:1234", "->", "198.51.100.2:80", "iface", "1",
       "state", "3")
    ok(s, "ct", "add", "udp", "[2001:db8::1]:53", "to", "[2001:db8::2]:5353", "iface", "2")
    rows = route_lines(ok(s, "conntrack", "list"))
    assert [r[1:6] for r in rows] == [["1", "tcp", "192.0.2.1:1234", "198.51.100.2:80", "3"],
                                      ["2", "udp", "[2001:db8::1]:53", "[2001:db8::2]:5353",
                                       "0"]]
    flows = json_lines(ok(s, "--json", "conntrack", "list", "iface", "1"))
    assert [(f["src"], f["dport"], f["state"]) for f in flows] == [("192.0.2.1", 80, 3)]
    ok(s, "conntrack", "del", "tcp", "192.0.2.1:1234", "->", "198.51.100.2:80", "iface", "1")
    assert len(route_lines(ok(s, "conntrack", "list"))) == 1
    ok(s, "conntrack", "flush", "iface", "2")
    assert route_lines(ok(s, "conntrack", "list")) == []


def test_replace_and_missing_ok(daemon: ServerProcess) -> None:
    s = daemon.path
    ok(s, "nexthop", "add", "1", "gw", "192.0.2.1")
    ok(s, "nexthop", "add", "2", "gw", "192.0.2.2")
    ok(s, "route4", "add", "10.0.0.0/8", "via", "1")
    assert fails(s, "route4", "add", "10.0.0.0/8", "via", "2") == \
        "reactorctl: route4 add 10.0.0.0/8 via 2: route 10.0.0.0/8 vrf 0 already exists (EEXIST)"
    ok(s, "route4", "add", "--replace", "10.0.0.0/8", "via", "2")
    assert route_lines(ok(s, "route4", "get", "10.0.0.1"))[0][2] == "2"
    ok(s, "route4", "del", "10.0.0.0/8")
    assert fails(s, "route4", "del", "10.0.0.0/8") == \
        "reactorctl: route4 del 10.0.0.0/8: route 10.0.0.0/8 vrf 0 does not exist (ENOENT)"
    ok(s, "route4", "del", "10.0.0.0/8", "--missing-ok")


def test_stats_and_clients(daemon: ServerProcess) -> None:
    s = daemon.path
    ok(s, "nexthop", "add", "1", "blackhole")
    text = dict(line.split() for line in ok(s, "stats").splitlines())
    assert text["nexthops"] == "1" and text["clients"] == "1"
    figures = json.loads(ok(s, "--json", "stats"))
    assert figures["nexthops"] == 1 and figures["streams_active"] == 0
    table = ok(s, "clients").splitlines()
    assert table[0].split() == ["CLIENT", "PID", "UID", "FLAGS", "OUTPUT"]
    assert len(table) == 2 and table[1].split()[3] == "-"
    (me,) = json_lines(ok(s, "clients", "--json"))
    assert me["uid"] == os.getuid() and me["flags"] == []


# -- errors ----------------------------------------------------------------------------------


def test_bad_text_is_rejected_before_connecting(tmp_path: Path) -> None:
    nowhere = str(tmp_path / "no.sock")      # no daemon: the check needs none
    assert fails(nowhere, "route4", "add", "10.0.0.1/8", "via", "1", rc=2) == \
        "reactorctl: route4 add: bad IPv4 prefix '10.0.0.1/8': host bits set"
    assert fails(nowhere, "fdb", "add", "02:00:00:00:00:01", "vlan", "5000", "iface", "1",
                 rc=2) == "reactorctl: fdb add: bad vlan '5000': not in 0..4095"
    assert fails(nowhere, "route6", "list", "--after", "2001:db8::/32@vrfx", rc=2) == \
        "reactorctl: route6 list: bad vrf 'x': not a number"


def test_usage_errors_exit_2_with_usage(tmp_path: Path) -> None:
    for args in ([], ["route4"], ["route4", "frob"], ["fdb", "get", "x"],
                 ["route4", "list", "--max", "-1"]):
        result = ctl(str(tmp_path / "no.sock"), *args)
        assert result.rc == 2 and result.err.startswith("usage: reactorctl"), result
        assert "Traceback" not in result.err


def test_unreachable_socket(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.sock")
    assert fails(missing, "stats") == \
        f"reactorctl: cannot connect to {missing}: No such file or directory"
    stale = tmp_path / "stale.sock"
    import socket
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(stale))           # bound, never listening: refused
    assert fails(str(stale), "stats") == \
        f"reactorctl: cannot connect to {stale}: Connection refused"


def test_api_errors_are_one_line(daemon: ServerProcess) -> None:
    s = daemon.path
    assert fails(s, "nexthop", "get", "99") == \
        "reactorctl: nexthop get 99: nexthop 99 does not exist (ENOENT)"
    assert fails(s, "route4", "get", "10.0.0.1", "vrf", "3") == \
        "reactorctl: route4 get 10.0.0.1 vrf 3: no route to 10.0.0.1 in vrf 3 (ENOENT)"
    assert fails(s, "route4", "add", "10.0.0.0/8", "via", "7") == \
        "reactorctl: route4 add 10.0.0.0/8 via 7: nexthop 7 does not exist (ENOENT)"
    ok(s, "nexthop", "add", "7", "gw", "192.0.2.7")
    assert fails(s, "nexthop", "add", "7", "reject") == \
        "reactorctl: nexthop add 7 reject: nexthop 7 already exists (EEXIST)"
    ok(s, "route4", "add", "10.0.0.0/8", "via", "7")
    ok(s, "route6", "add", "2001:db8::/32", "via", "7")
    assert fails(s, "nexthop", "del", "7") == \
        "reactorctl: nexthop del 7: nexthop 7 is used by 2 routes (EBUSY)"
    assert fails(s, "fdb", "del", "02:00:00:00:00:09", "vlan", "4") == \
        "reactorctl: fdb del 02:00:00:00:00:09 vlan 4: fdb 02:00:00:00:00:09 bridge 0 vlan 4 " \
        "does not exist (ENOENT)"
    # the record the daemon names, among several
    assert fails(s, "route4", "del", "10.0.0.0/8", "10.9.0.0/16", "10.0.0.0/8") == \
        "reactorctl: route4 del 10.9.0.0/16: route 10.9.0.0/16 vrf 0 does not exist (ENOENT)"
    assert fails(s, "ct", "del", "tcp", "192.0.2.1:1", "to", "192.0.2.2:2", "iface", "3") == \
        "reactorctl: conntrack del tcp 192.0.2.1:1 to 192.0.2.2:2 iface 3: conntrack tcp " \
        "192.0.2.1:1 to 192.0.2.2:2 iface 3 does not exist (ENOENT)"


# -- loads ----------------------------------------------------------------------------------------


ROUTES = "\n".join(["# a comment", "", "10.0.0.0/8 via 1", "10.1.0.0/16 via 1 vrf 1  # note",
                    "2001:db8::/32 via 1"]) + "\n"


def test_load_from_file_and_stdin(daemon: ServerProcess, tmp_path: Path) -> None:
    s = daemon.path
    ok(s, "nexthop", "add", "1", "gw", "192.0.2.1")
    path = tmp_path / "routes.txt"
    path.write_text("".join(f"10.{i >> 8}.{i & 255}.0/24 via 1\n" for i in range(30_000)))
    out = ok(s, "route4", "load", str(path))
    assert re.fullmatch(rf"loaded 30,000 routes from {re.escape(str(path))} in [0-9.]+ s "
                        r"\([0-9,]+ routes/s\)\n", out), out
    assert stats(s)["routes4"] == 30_000
    ok(s, "route6", "load", "-", stdin="2001:db8::/32 via 1\n# x\n2001:db8:1::/48 via 1 vrf 2\n")
    assert stats(s)["routes6"] == 2
    ok(s, "route4", "load", "--replace", str(path))
    result = ctl(s, "route4", "load", "-", stdin="# head\n10.0.0.0/24 via 1\n")
    assert (result.rc, result.out) == (1, "") and result.err.splitlines() == [
        "reactorctl: <stdin>:2: route4 add 10.0.0.0/24 via 1: route 10.0.0.0/24 vrf 0 already "
        "exists (EEXIST)",
        "reactorctl: <stdin>: nothing applied; nothing from line 2 on"]


def test_load_with_a_bad_line_sends_nothing(daemon: ServerProcess, tmp_path: Path) -> None:
    s = daemon.path
    ok(s, "nexthop", "add", "1", "gw", "192.0.2.1")
    path = tmp_path / "bad.txt"
    path.write_text("10.0.0.0/8 via 1\n\n11.0.0.0/8 via 1\n12.0.0.1/8 via 1\n13.0.0.0/8 via\n"
                    "14.0.0.0/8 via 1\n")
    result = ctl(s, "route4", "load", str(path))
    assert (result.rc, result.out) == (2, "") and result.err.splitlines() == [
        f"reactorctl: {path}:4: bad IPv4 prefix '12.0.0.1/8': host bits set",
        f"reactorctl: {path}:5: missing nexthop id after 'via'",
        f"reactorctl: {path}: 2 bad lines; nothing was sent"]
    assert stats(s)["routes4"] == 0
    assert fails(s, "route4", "load", str(tmp_path / "none.txt")) == \
        f"reactorctl: cannot open {tmp_path / 'none.txt'}: No such file or directory"


class CountingClient(Client):
    """A real client that remembers the payload size of each request it sends."""

    def __init__(self, path: str) -> None:
        self.sent: list[tuple[int, int]] = []   # before connecting: HELLO is sent then
        super().__init__(path, name="test-load", timeout=10)

    def send(self, req_type: int, payload: bytes = b"") -> int:
        self.sent.append((req_type, len(payload)))
        return super().send(req_type, payload)


def test_load_batches_are_maximal_or_bounded(daemon: ServerProcess, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    s = daemon.path
    ok(s, "nexthop", "add", "1", "gw", "192.0.2.1")
    per_request = (131072 - 4) // 12
    path = tmp_path / "many.txt"
    path.write_text("".join(f"{10 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}.0/24 via 1\n"
                            for i in range(2 * per_request + 1)))
    for batch, sizes in ((0, [per_request, per_request, 1]), (1000, [1000] * 21 + [845])):
        client = CountingClient(s)
        with client:
            bulk = load.read_bulk(ROUTE4, str(path), "add", wire.ADD_REPLACE)
            assert load.send_bulk(client, bulk, batch, as_json=False) == 0
        adds = [size for req_type, size in client.sent if req_type == wire.ROUTE4_ADD]
        assert adds == [4 + n * 12 for n in sizes]
    assert "loaded 21,845 routes from" in capsys.readouterr().out
    assert stats(s)["routes4"] == 2 * per_request + 1
    client = CountingClient(s)
    with client:
        load_fullview(client, 3000, 0, 1, batch_size=10**9)   # capped at what fits
    adds = [size for req_type, size in client.sent if req_type == wire.ROUTE4_ADD]
    assert adds == [4 + 3000 * 12]
    out = ok(s, "fullview", "load", "--routes4", "3000", "--routes6", "0", "--batch", "700")
    assert out.startswith("loaded 3000 IPv4")
    assert "not a non-negative integer" in ctl(s, "route4", "load", "--batch", "-1", "-").err


def test_fullview_load(daemon: ServerProcess) -> None:
    s = daemon.path
    out = ok(s, "fullview", "load", "--routes4", "20000", "--routes6", "5000")
    assert out.startswith("loaded 20000 IPv4 + 5000 IPv6 routes via nexthop 1 (added) in ")
    assert "routes/s" in out
    figures = stats(s)
    assert (figures["routes4"], figures["routes6"], figures["nexthops"]) == (20000, 5000, 1)
    again = json.loads(ok(s, "--json", "fullview", "load", "--routes4", "20000",
                          "--routes6", "0"))
    assert again["routes4"] == 20000 and again["nexthop_added"] is False
    assert route_lines(ok(s, "nexthop", "get", "1"))[0][2:4] == ["gw", "192.0.2.1"]
