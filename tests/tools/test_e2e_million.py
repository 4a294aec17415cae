"""A million routes through reactorctl: loads that fail near the end, save and restore.

Each test runs real reactord processes and reactorctl subprocesses on a full
view; the daemons' tables are checked with listings through ``api.client``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api import wire
from api.client import Client
from tests.tools.test_e2e_bulk import listed_routes4, records_of, route_file
from tests.tools.util import ctl, ok, start_daemon, stats
from tools.harness import start_reactord

MILLION = 1_000_000
NEAR_THE_END = 999_990       # a line number: line 1 is a comment
TIMEOUT = 300.0
TABLE_SIZES = ("nexthops", "routes4", "routes6", "fdb", "conntrack")


def sizes(sock: str) -> list[int]:
    figures = stats(sock)
    return [figures[name] for name in TABLE_SIZES]


@pytest.mark.slow
def test_a_bad_line_near_the_end_of_a_million_sends_nothing(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path)
    try:
        s = daemon.path
        ok(s, "nexthop", "add", "1", "blackhole")
        path = tmp_path / "routes.txt"
        route_file(path, MILLION, {NEAR_THE_END: "10.0.0.1/24 via 1\n",
                                   NEAR_THE_END + 5: "10.0.0.0/24 via one\n"})
        before = sizes(s)
        result = ctl(s, "route4", "load", str(path), timeout=TIMEOUT)
        assert (result.rc, result.out) == (2, "") and result.err.splitlines() == [
            f"reactorctl: {path}:{NEAR_THE_END}: bad IPv4 prefix '10.0.0.1/24': host bits set",
            f"reactorctl: {path}:{NEAR_THE_END + 5}: bad nexthop id 'one': not a number",
            f"reactorctl: {path}: 2 bad lines; nothing was sent"]
        assert sizes(s) == before
    finally:
        assert daemon.terminate() == 0, daemon.log()


@pytest.mark.slow
def test_a_missing_nexthop_near_the_end_of_a_million(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path)
    try:
        s = daemon.path
        ok(s, "nexthop", "add", "1", "blackhole")
        path = tmp_path / "routes.txt"
        lines = route_file(path, MILLION, {NEAR_THE_END: "99.0.0.0/8 via 99\n"})
        result = ctl(s, "route4", "load", str(path), timeout=TIMEOUT)
        assert (result.rc, result.out) == (1, "") and result.err.splitlines() == [
            f"reactorctl: {path}:{NEAR_THE_END}: route4 add 99.0.0.0/8 via 99: nexthop 99 does "
            f"not exist (ENOENT)",
            f"reactorctl: {path}: applied the {NEAR_THE_END - 2:,} routes of lines "
            f"2-{NEAR_THE_END - 1}; nothing from line {NEAR_THE_END} on"]
        assert listed_routes4(s) == records_of(lines[1:NEAR_THE_END - 1])
    finally:
        assert daemon.terminate() == 0, daemon.log()


def everything(sock: str) -> dict[int, bytes]:
    """Each table's records end to end, as listed (fdb and conntrack are empty here)."""
    with Client(sock, name="test") as client:
        return {module: b"".join(client.stream(wire.msg_type(module, wire.OP_LIST),
                                               wire.LIST_REQ.pack(0, wire.SCOPE_ALL, 0)))
                for module in (wire.MODULE_NEXTHOP, wire.MODULE_ROUTE4, wire.MODULE_ROUTE6)}


@pytest.mark.slow
def test_save_restart_restore_a_million_routes(tmp_path: Path) -> None:
    daemon = start_reactord("--preload-fullview", str(MILLION), directory=tmp_path)
    path = tmp_path / "full.save"
    try:
        s = daemon.path
        ok(s, "route6", "add", "2001:db8::/32", "via", "1", "vrf", "7", "origin", "3")
        before = everything(s)
        assert len(before[wire.MODULE_ROUTE4]) == MILLION * 12
        saved = ok(s, "save", str(path))
        assert saved.startswith("saved ") and "1,000,000 route4 routes" in saved
    finally:
        assert daemon.terminate() == 0, daemon.log()
    daemon = start_daemon(tmp_path)           # the same socket path, an empty daemon
    try:
        s = daemon.path
        result = ctl(s, "restore", str(path), timeout=TIMEOUT)
        assert result.rc == 0 and result.err == "", result
        assert re.fullmatch(rf"restored [0-9,]+ nexthops?, 1,000,000 route4 routes, 1 route6 "
                            rf"route from {re.escape(str(path))} in [0-9.]+ s \([0-9,]+ "
                            rf"entries/s\)\n", result.out), result.out
        assert everything(s) == before
        assert ctl(s, "restore", str(path)).rc == 1      # not empty now
    finally:
        assert daemon.terminate() == 0, daemon.log()
