"""reactorctl's bulk commands end to end: load, del --from, flush, save and restore,
through real reactord processes, checked against the daemons' listings.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from api import wire
from api.client import Client
from tests.tools.util import ctl, fails, ok, popen_ctl, route_lines, start_daemon, stats
from tools.ctl.saving import ORDER
from tools.ctl.syntax import TABLES, add_payload
from tools.harness import ServerProcess

ENTRIES = [
    ("nexthop", "1 gw 192.0.2.1 iface 2 mac 02:00:00:00:00:0a"), ("nexthop", "2 blackhole vrf 3"),
    ("nexthop", "3 gw 2001:db8::1"), ("nexthop", "4 reject iface 9"),
    ("route4", "10.0.0.0/8 via 1"), ("route4", "10.1.0.0/16 via 1 vrf 2 origin 7"),
    ("route4", "0.0.0.0/0 via 2"),
    ("route6", "2001:db8::/32 via 3"), ("route6", "::/0 via 2 vrf 5 origin 1"),
    ("fdb", "02:00:00:00:00:01 bridge 1 vlan 10 iface 3"),
    ("fdb", "02:00:00:00:00:02 iface 4 learned"),
    ("conntrack", "tcp 192.0.2.1:1234 to 198.51.100.2:80 iface 1 state 3"),
    ("conntrack", "udp [2001:db8::1]:53 to [2001:db8::2]:5353"),
]


def populate(sock: str, entries: list[tuple[str, str]] = ENTRIES) -> None:
    with Client(sock, name="test") as client:
        for name, text in entries:
            table = TABLES[name]
            client.call(table.req(wire.OP_ADD), add_payload(table, text.split()))


def contents(sock: str) -> dict[str, list[bytes]]:
    """Every table's records, the fields the daemon sets zeroed (fdb time, conntrack id
    and time), in key order."""
    out: dict[str, list[bytes]] = {}
    with Client(sock, name="test") as client:
        for name in ORDER:
            table = TABLES[name]
            rows = list(client.stream(table.req(wire.OP_LIST), wire.LIST_REQ.pack(
                0, wire.SCOPE_ALL, 0), record=table.record))
            if name == "fdb":
                rows = [(*r[:5], 0) for r in rows]
            if name == "conntrack":
                rows = [(0, *r[1:9], 0) for r in rows]
            out[name] = [table.record.pack(*r) for r in rows]
    return out


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ServerProcess]:
    (tmp_path / "a").mkdir()
    proc = start_daemon(tmp_path / "a")
    try:
        yield proc
    finally:
        assert proc.terminate() == 0, proc.log()


@pytest.fixture
def other(tmp_path: Path) -> Iterator[ServerProcess]:
    (tmp_path / "b").mkdir()
    proc = start_daemon(tmp_path / "b")
    try:
        yield proc
    finally:
        assert proc.terminate() == 0, proc.log()


def route_file(path: Path, count: int, bad: dict[int, str] | None = None,
               head: str = "# routes\n") -> list[str]:
    """``count`` route4 lines in key order after a ``head`` line; line N (1-based,
    ``head`` included) replaced by ``bad[N]``; the lines written."""
    lines = [head] + [f"{10 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}.0/24 via 1\n"
                      for i in range(count)]
    for lineno, text in (bad or {}).items():
        lines[lineno - 1] = text
    path.write_text("".join(lines))
    return lines


def listed_routes4(sock: str) -> bytes:
    with Client(sock, name="test") as client:
        return b"".join(client.stream(wire.ROUTE4_LIST, wire.LIST_REQ.pack(0, wire.SCOPE_ALL,
                                                                           0)))


def records_of(lines: list[str]) -> bytes:
    return b"".join(TABLES["route4"].add(line.split()) for line in lines)


# -- load: a refused line, what was applied --------------------------------------------------


@pytest.mark.parametrize("batch", ["0", "1000"])
def test_a_refused_line_stops_the_load_after_exactly_the_lines_before_it(
        daemon: ServerProcess, tmp_path: Path, batch: str) -> None:
    s = daemon.path
    ok(s, "nexthop", "add", "1", "blackhole")
    path = tmp_path / "routes.txt"
    lines = route_file(path, 30_000, {25_001: "99.0.0.0/8 via 99\n"})
    result = ctl(s, "route4", "load", "--batch", batch, str(path))
    assert (result.rc, result.out) == (1, ""), result
    assert result.err.splitlines() == [
        f"reactorctl: {path}:25001: route4 add 99.0.0.0/8 via 99: nexthop 99 does not exist "
        f"(ENOENT)",
        f"reactorctl: {path}: applied the 24,999 routes of lines 2-25000; nothing from line "
        f"25001 on"]
    assert listed_routes4(s) == records_of(lines[1:25_000])


def test_a_key_repeated_in_the_file_is_refused_at_its_second_line(daemon: ServerProcess,
                                                                  tmp_path: Path) -> None:
    s = daemon.path
    ok(s, "nexthop", "add", "1", "blackhole")
    path = tmp_path / "dup.txt"
    lines = route_file(path, 20_000, {15_000: "10.0.5.0/24 via 1 origin 3\n"})
    result = ctl(s, "route4", "load", str(path))
    assert result.rc == 1 and result.err.splitlines()[0] == (
        f"reactorctl: {path}:15000: route4 add 10.0.5.0/24 via 1 origin 3: route 10.0.5.0/24 "
        f"vrf 0 already exists (EEXIST)")
    assert listed_routes4(s) == records_of(lines[1:14_999])
    ok(s, "route4", "load", "--replace", str(path))          # replace: the last one wins
    assert stats(s)["routes4"] == 19_999
    assert route_lines(ok(s, "route4", "get", "10.0.5.1"))[0][3] == "3"


def test_check_reads_everything_and_sends_nothing(daemon: ServerProcess,
                                                  tmp_path: Path) -> None:
    s = daemon.path
    path = tmp_path / "r.txt"
    route_file(path, 1000)
    nowhere = str(tmp_path / "none.sock")      # --check needs no daemon
    assert ok(nowhere, "route4", "load", "--check", str(path)) == \
        f"{path}: 1,000 routes to add, no errors (checked only: nothing was sent)\n"
    route_file(path, 1000, {7: "10.0.0.1/24 via 1\n", 9: "x\n"})
    result = ctl(nowhere, "route4", "load", "--check", str(path))
    assert result.rc == 2 and len(result.err.splitlines()) == 3
    assert stats(s)["routes4"] == 0


# -- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("form", [[], ["--json"], ["--format", "load"], ["--format", "json"]])
def test_every_listing_loads_back(daemon: ServerProcess, other: ServerProcess,
                                  form: list[str]) -> None:
    populate(daemon.path)
    for name in ORDER:
        listing = ok(daemon.path, name, "list", *form)
        assert ok(other.path, name, "load", "-", stdin=listing).startswith("loaded ")
    assert contents(other.path) == contents(daemon.path)
    assert all(contents(other.path).values())


def test_save_and_restore_every_table(daemon: ServerProcess, other: ServerProcess,
                                      tmp_path: Path) -> None:
    populate(daemon.path)
    path = tmp_path / "state.save"
    assert ok(daemon.path, "save", str(path)) == \
        f"saved 4 nexthops, 3 route4 routes, 2 route6 routes, 2 fdb entries, 2 conntrack " \
        f"entries to {path}\n"
    text = path.read_text().splitlines()
    assert text[0].startswith("# reactorctl save of reactord ") and text[1:5] == [
        "nexthop 1 gw 192.0.2.1 iface 2 mac 02:00:00:00:00:0a", "nexthop 2 blackhole vrf 3",
        "nexthop 3 gw 2001:db8::1", "nexthop 4 reject iface 9"]
    assert text[-1] == "# end: 4 nexthop, 3 route4, 2 route6, 2 fdb, 2 conntrack"
    assert ok(daemon.path, "save", "-") .splitlines()[1:] == text[1:]
    assert not list(tmp_path.glob("*.tmp"))
    out = ok(other.path, "restore", str(path))
    assert out.startswith("restored 4 nexthops, 3 route4 routes, 2 route6 routes, 2 fdb "
                          f"entries, 2 conntrack entries from {path} in ")
    assert contents(other.path) == contents(daemon.path)
    assert fails(other.path, "restore", str(path)) == (
        "reactorctl: restore: the daemon is not empty (4 nexthops, 3 routes, 2 routes, 2 fdb "
        "entries, 2 conntrack entries); --replace restores over it (keys in the file replaced, "
        "the others kept)")
    ok(other.path, "route4", "add", "--replace", "10.0.0.0/8", "via", "2")
    ok(other.path, "route4", "add", "192.0.2.0/24", "via", "2")
    ok(other.path, "restore", "--replace", str(path))
    assert route_lines(ok(other.path, "route4", "get", "10.0.0.1"))[0][2] == "1"
    assert stats(other.path)["routes4"] == 4


def test_restore_refuses_a_truncated_or_bad_file(daemon: ServerProcess,
                                                 tmp_path: Path) -> None:
    populate(daemon.path)
    path = tmp_path / "state.save"
    ok(daemon.path, "save", str(path))
    text = path.read_text().splitlines(keepends=True)
    path.write_text("".join(text[:-1]))
    result = ctl(daemon.path, "restore", "--replace", str(path))
    assert (result.rc, result.out) == (2, "") and result.err.splitlines() == [
        f"reactorctl: {path}: no '# end:' line: not a save file, or a truncated one",
        f"reactorctl: {path}: 1 bad line; nothing was sent"]
    path.write_text("".join(text[:3] + text[4:]))
    result = ctl(daemon.path, "restore", "--replace", str(path))
    assert result.rc == 2 and result.err.splitlines()[0] == (
        f"reactorctl: {path}: the file holds 3 nexthop, 3 route4, 2 route6, 2 fdb, 2 conntrack, "
        f"its end line says 4 nexthop, 3 route4, 2 route6, 2 fdb, 2 conntrack")
    path.write_text("".join(text[:2] + ["routes 10.0.0.0/8 via 1\n"] + text[2:]))
    result = ctl(daemon.path, "restore", "--replace", str(path))
    assert result.rc == 2 and result.err.splitlines()[0] == (
        f"reactorctl: {path}:3: unknown table 'routes' (expected nexthop, route4, route6, fdb, "
        f"conntrack)")


def test_restore_stops_at_a_refused_line(daemon: ServerProcess, other: ServerProcess,
                                         tmp_path: Path) -> None:
    populate(daemon.path)
    path = tmp_path / "state.save"
    ok(daemon.path, "save", str(path))
    text = path.read_text().replace("route4 10.1.0.0/16 via 1", "route4 10.1.0.0/16 via 8")
    path.write_text(text)
    result = ctl(other.path, "restore", str(path))
    assert (result.rc, result.out) == (1, "") and result.err.splitlines() == [
        f"reactorctl: {path}:8: route4 add 10.1.0.0/16 via 8 vrf 2 origin 7: nexthop 8 does "
        f"not exist (ENOENT)",
        f"reactorctl: {path}: restored 4 nexthops, 2 route4 routes; not the route4 lines from "
        f"line 8 on; nor the 2 route6 routes and 2 fdb entries and 2 conntrack entries after "
        f"them"]
    assert stats(other.path)["routes4"] == 2 and stats(other.path)["routes6"] == 0


# -- bulk removal ---------------------------------------------------------------------------------


def test_flush_every_table(daemon: ServerProcess) -> None:
    s = daemon.path
    populate(s)
    assert ok(s, "route4", "flush", "vrf", "2") == "deleted 1 route (vrf 2)\n"
    assert [r[1] for r in route_lines(ok(s, "route4", "list"))] == ["0.0.0.0/0", "10.0.0.0/8"]
    result = ctl(s, "nexthop", "flush")
    assert (result.rc, result.out) == (1, "deleted 1 nexthop (all vrfs); kept 3 nexthops "
                                          "still in use\n"), result
    assert result.err.splitlines() == [
        "reactorctl: nexthop flush: kept nexthop 1: nexthop 1 is used by 1 route (EBUSY)",
        "reactorctl: nexthop flush: kept nexthop 2: nexthop 2 is used by 2 routes (EBUSY)",
        "reactorctl: nexthop flush: kept nexthop 3: nexthop 3 is used by 1 route (EBUSY)"]
    assert ok(s, "route6", "flush") == "deleted 2 routes (all vrfs)\n"
    assert ok(s, "route4", "flush") == "deleted 2 routes (all vrfs)\n"
    assert ok(s, "nh", "flush", "vrf", "3") == "deleted 1 nexthop (vrf 3)\n"
    assert ok(s, "nh", "flush") == "deleted 2 nexthops (all vrfs)\n"
    assert ok(s, "fdb", "flush", "bridge", "1") == \
        "flushed fdb (bridge 1): 2 fdb entries before, 1 after\n"
    assert ok(s, "ct", "flush") == \
        "flushed conntrack (all ifaces): 2 conntrack entries before, 0 after\n"
    figures = stats(s)
    assert [figures[k] for k in ("nexthops", "routes4", "routes6", "fdb", "conntrack")] == \
        [0, 0, 0, 1, 0]


def test_del_from_a_file(daemon: ServerProcess, tmp_path: Path) -> None:
    s = daemon.path
    ok(s, "nexthop", "add", "1", "blackhole")
    path = tmp_path / "routes.txt"
    lines = route_file(path, 3000)
    ok(s, "route4", "load", str(path))
    doomed = tmp_path / "doomed.txt"
    two = [line.split()[0] for line in lines[2001:2003]]
    doomed.write_text("".join(lines[1:1001]) + f"{two[0]} {two[1]}\n")
    assert ok(s, "route4", "del", "--from", str(doomed)).startswith(
        f"deleted 1,002 routes from {doomed} in ")
    assert listed_routes4(s) == records_of(lines[1001:2001] + lines[2003:])
    present, gone = lines[2500].split()[0], lines[5].split()[0]
    result = ctl(s, "route4", "del", "--from", "-", stdin=f"{present}\n{gone} vrf 0\n")
    assert result.rc == 1 and result.err.splitlines() == [
        f"reactorctl: <stdin>:2: route4 del {gone}: route {gone} vrf 0 does not exist (ENOENT)",
        "reactorctl: <stdin>: deleted the 1 route of line 1; nothing from line 2 on"]
    ok(s, "route4", "del", "--missing-ok", "--from", "-", stdin=f"{gone}\n")
    assert stats(s)["routes4"] == 3000 - 1003
    assert fails(s, "route4", "del", "10.0.0.0/8", "--from", "-", rc=2) == \
        "reactorctl: route4 del: unexpected '10.0.0.0/8' (keys come from --from)"


# -- options and messages ---------------------------------------------------------------------------


def is_stats(out: str) -> bool:
    """``reactorctl stats`` output of the daemon (STATS names sorted: ``changelog_*``
    come before ``clients`` since the changelog)."""
    return re.search(r"^clients +1$", out, re.MULTILINE) is not None


def test_global_options_anywhere(daemon: ServerProcess, tmp_path: Path) -> None:
    s = daemon.path
    populate(s)
    result = ctl(str(tmp_path / "nowhere.sock"), "route4", "list", "-s", s, "--json",
                 "-t", "5", "--no-pager")
    assert result.rc == 0 and result.out.splitlines()[0].startswith('{"vrf": 0')
    assert is_stats(ok(str(tmp_path / "nowhere.sock"), "stats", "--socket", s))
    for bad in ("-1", "nan", "inf", "x"):
        result = ctl(s, "-t", bad, "stats")
        assert result.rc == 2 and "Traceback" not in result.err
        assert f"not a number of seconds >= 0: '{bad}'" in result.err
    assert "0: wait forever" in ctl(s, "--help").out
    assert is_stats(ok(s, "-t", "0", "stats"))


def test_max_hint_counts_entries(daemon: ServerProcess) -> None:
    s = daemon.path
    populate(s)
    result = ctl(s, "route4", "list", "--max", "1")
    assert result.err == "reactorctl: route4 list: stopped after 1 entry (--max); continue " \
                         "with --after 0.0.0.0/0\n"
    result = ctl(s, "route4", "list", "--max", "2")
    assert "stopped after 2 entries (--max)" in result.err


def test_load_shows_progress_on_a_terminal_then_clears_it(daemon: ServerProcess,
                                                          tmp_path: Path) -> None:
    s = daemon.path
    ok(s, "nexthop", "add", "1", "blackhole")
    path = tmp_path / "routes.txt"
    route_file(path, 70_000)
    master, slave = pty.openpty()
    try:
        proc = popen_ctl(s, "route4", "load", str(path), stdout=subprocess.PIPE,
                         stderr=slave)
        os.close(slave)
        slave = -1
        shown = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:           # EIO: the terminal's last writer is gone
                break
            if not chunk:
                break
            shown += chunk
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert proc.returncode == 0 and out.startswith(b"loaded 70,000 routes from ")
    text = shown.decode()
    assert f"{path}: read 65,536 lines" in text
    screen = ""                      # what the terminal shows at the end: a blank line
    for part in text.split("\r"):
        screen = part + screen[len(part):]
    assert screen.strip() == "", repr(text)


def test_save_to_a_path_that_cannot_be_written(daemon: ServerProcess, tmp_path: Path) -> None:
    path = tmp_path / "no" / "state.save"
    assert fails(daemon.path, "save", str(path)) == \
        f"reactorctl: save: cannot write {path}: No such file or directory; nothing saved"
