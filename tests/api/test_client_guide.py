"""The examples of docs/client.md, type-checked and run against a real reactord.

Each region between ``# client-example: begin NAME`` and ``# client-example: end``
is shown verbatim in the guide after ``<!-- client-example: NAME -->``;
``test_guide_shows_these_examples`` fails when the two drift apart, or when the
guide has a Python block that is not one of them.  Each region imports what it
uses, so that it reads (and type-checks: tests/api/test_installed_typing.py)
on its own.
"""

from __future__ import annotations

# client-example: begin quickstart
from ipaddress import IPv4Address, IPv4Network

from api.records import Nexthop, Route4
from api.tables_client import TablesClient


def quickstart(socket_path: str) -> Route4 | None:
    with TablesClient.connect(socket_path, name="quickstart") as tc:
        tc.nexthops.add(Nexthop(1, gateway=IPv4Address("192.0.2.1"), iface_id=2))
        tc.routes4.add(Route4(IPv4Network("10.0.0.0/8"), nh_id=1))
        tc.routes4.add(Route4(IPv4Network(f"10.{i}.0.0/16"), nh_id=1, vrf_id=1)
                       for i in range(4))          # any iterable: one request here
        for route in tc.routes4.list(vrf=1):
            print(route.prefix, "via", route.nh_id)
        return tc.routes4.lookup(IPv4Address("10.1.2.3"), vrf=1)
# client-example: end


# client-example: begin errors
from typing import Iterable

from api.client_errors import ApiCallError, NotFound
from api.records import Route4
from api.tables_client import TablesClient


def add_routes(tc: TablesClient, routes: Iterable[Route4]) -> str:
    try:
        tc.routes4.add(routes)
    except NotFound as exc:              # ENOENT: a route names a missing nexthop
        which = "a route" if exc.index is None else f"route {exc.index} ({exc.record})"
        return f"{which}: {exc.reason or exc.errno_name}; {exc.applied} added before it"
    except ApiCallError as exc:          # any other errno
        return str(exc)                  # "ROUTE4_ADD: EINVAL (invalid argument): record 0:
                                         #  route 13.0.0.0/8 vrf 0: nexthop id 0 is reserved"
    return "all added"
# client-example: end


# client-example: begin listing
from itertools import islice
from typing import Iterator

from api.records import Route4
from api.tables_client import TablesClient


def first_routes(tc: TablesClient, count: int) -> list[Route4]:
    with tc.routes4.list() as listing:   # leaving the block cancels the stream
        return list(islice(listing, count))


def pages(tc: TablesClient, size: int) -> Iterator[list[Route4]]:
    after: Route4 | None = None
    while True:
        with tc.routes4.list(after=after, limit=size) as page:
            routes = list(page)
        if routes:
            yield routes
        if not page.incomplete:          # the listing ended before the limit
            return
        after = page.last
# client-example: end


# client-example: begin text
from typing import Iterable

from api import text
from api.records import Route4
from api.tables_client import TablesClient


def load(tc: TablesClient, lines: Iterable[str]) -> int:
    """Add routes from lines in the format of ``reactorctl route4 load``."""
    return tc.routes4.add(text.parse_lines(Route4, lines), replace=True)


def dump(tc: TablesClient) -> Iterable[str]:
    """The routes as lines that ``load`` (and ``reactorctl route4 load``) read back."""
    return (text.line(route) + "\n" for route in tc.routes4.list())
# client-example: end


# client-example: begin mirror
from typing import Callable

from api import text, wire
from api.client import Client
from api.events import Change
from api.records import Route4
from api.watch import Mirror


def follow_routes(socket_path: str, report: Callable[[str], None],
                  enough: Callable[[int], bool]) -> dict[bytes, bytes]:
    """Keep a copy of the route4 table, report each change, until ``enough(revision)``."""
    mirror = Mirror(lambda: Client(socket_path, name="follower"),
                    tables=wire.table_bit(wire.TABLE_ROUTE4))
    for update in mirror.follow():
        if isinstance(update, Change):
            record = update.new if update.new is not None else update.old
            assert record is not None
            sign = "-" if update.new is None else "+" if update.old is None else "~"
            report(f"{sign} {text.line(Route4.from_wire(record))}")
        elif enough(update.revision):    # a Synced: the copy is exact at this revision
            mirror.stop()
    return mirror.tables[wire.TABLE_ROUTE4]
# client-example: end


# client-example: begin program
"""whereto: the route and the gateway an IPv4 address takes."""

import sys
from ipaddress import IPv4Address

from api.tables_client import TablesClient


def main(argv: list[str]) -> int:
    socket_path, address = argv[1], IPv4Address(argv[2])
    with TablesClient.connect(socket_path, name="whereto") as tc:
        route = tc.routes4.lookup(address)
        if route is None:
            print(f"{address}: no route")
            return 1
        nexthop = tc.nexthops.get(route.nh_id)
        gateway = nexthop.gateway if nexthop is not None else None
        print(f"{address}: {route.prefix} via nexthop {route.nh_id} ({gateway})")
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
# client-example: end


# Test-only imports, kept below the examples so that they read on their own.
import re
import subprocess
from pathlib import Path

import pytest

from api.records import Route4Key
from tools.harness import ROOT, ServerProcess
from tests.tools.util import ctl, start_daemon

GUIDE = ROOT / "docs" / "client.md"
REGION = re.compile(r"^# client-example: begin (\w+)\n(.*?)^# client-example: end$", re.S | re.M)
SHOWN = re.compile(r"<!-- client-example: (\w+) -->\s*```python\n(.*?)^```$", re.S | re.M)


def examples() -> dict[str, str]:
    """The example regions of this file, by name."""
    return dict(REGION.findall(Path(__file__).read_text()))


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = start_daemon(tmp_path)
    yield proc
    assert proc.terminate() == 0


def test_quickstart(daemon: ServerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    assert quickstart(daemon.path) == Route4(IPv4Network("10.1.0.0/16"), 1, vrf_id=1)
    assert capsys.readouterr().out.splitlines() == [f"10.{i}.0.0/16 via 1" for i in range(4)]


def test_errors(daemon: ServerProcess) -> None:
    with TablesClient.connect(daemon.path) as tc:
        tc.nexthops.add(Nexthop(1, gateway=IPv4Address("192.0.2.1")))
        good = [Route4(IPv4Network(f"10.{i}.0.0/16"), 1) for i in range(3)]
        assert add_routes(tc, good) == "all added"
        told = add_routes(tc, [Route4(IPv4Network("11.0.0.0/8"), 1),
                               Route4(IPv4Network("12.0.0.0/8"), 7)])
        assert told == f"route 1 ({Route4(IPv4Network('12.0.0.0/8'), 7)}): nexthop 7 does " \
                       f"not exist; 0 added before it"
        assert add_routes(tc, [Route4(IPv4Network("13.0.0.0/8"), 0)]) == \
            "ROUTE4_ADD: EINVAL (invalid argument): record 0: route 13.0.0.0/8 vrf 0: " \
            "nexthop id 0 is reserved"
        assert [r.prefix for r in tc.routes4.list()] == [r.prefix for r in good]


def test_listing(daemon: ServerProcess) -> None:
    with TablesClient.connect(daemon.path) as tc:
        tc.nexthops.add(Nexthop(1, gateway=IPv4Address("192.0.2.1")))
        routes = [Route4(IPv4Network((i << 8, 24)), 1) for i in range(5000)]
        tc.routes4.add(routes)
        assert first_routes(tc, 3) == routes[:3]
        assert tc.stats()["streams_active"] == 0
        assert [len(p) for p in pages(tc, 2000)] == [2000, 2000, 1000]
        assert [r for p in pages(tc, 2500) for r in p] == routes
        assert list(pages(tc, 5000)) == [routes]


def test_text_loads_and_dumps_what_reactorctl_does(daemon: ServerProcess,
                                                   tmp_path: Path) -> None:
    lines = ["# a load file\n", "10.0.0.0/8 via 1\n", "10.1.0.0/16 via 1 vrf 2 origin 9\n"]
    with TablesClient.connect(daemon.path) as tc:
        tc.nexthops.add(Nexthop(1, gateway=IPv4Address("192.0.2.1")))
        assert load(tc, lines) == 2
        dumped = list(dump(tc))
        assert dumped == ["10.0.0.0/8 via 1\n", "10.1.0.0/16 via 1 vrf 2 origin 9\n"]
        tc.routes4.delete(Route4Key(IPv4Network("10.0.0.0/8")))
        tc.routes4.delete(Route4Key(IPv4Network("10.1.0.0/16"), vrf_id=2))
    ctl(daemon.path, "route4", "load", "-", stdin="".join(dumped))   # reactorctl reads it
    listed = ctl(daemon.path, "route4", "list").lines()[1:]
    assert [line.split() for line in listed] == [["0", "10.0.0.0/8", "1", "0"],
                                                 ["2", "10.1.0.0/16", "1", "9"]]


def test_mirror_follows_the_routes(daemon: ServerProcess) -> None:
    reported: list[str] = []
    with TablesClient.connect(daemon.path) as tc:
        tc.nexthops.add(Nexthop(1, gateway=IPv4Address("192.0.2.1")))
        tc.routes4.add(Route4(IPv4Network(f"10.{i}.0.0/16"), 1) for i in range(2))   # rev 2

        def enough(revision: int) -> bool:
            if revision == 2:            # the snapshot is in: change the table under it
                tc.routes4.delete(Route4Key(IPv4Network("10.0.0.0/16")))         # rev 3
                tc.routes4.add(Route4(IPv4Network("10.1.0.0/16"), 1, origin=7),
                               replace=True)                                       # rev 4
            return revision == 4

        copy = follow_routes(daemon.path, reported.append, enough)
        listed = [route.to_wire() for route in tc.routes4.list()]
    assert reported == ["+ 10.0.0.0/16 via 1", "+ 10.1.0.0/16 via 1",
                        "- 10.0.0.0/16 via 1", "~ 10.1.0.0/16 via 1 origin 7"]
    assert sorted(copy.values()) == sorted(listed) and len(listed) == 1


def test_program(daemon: ServerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    with TablesClient.connect(daemon.path) as tc:
        tc.nexthops.add(Nexthop(3, gateway=IPv4Address("192.0.2.3")))
        tc.routes4.add(Route4(IPv4Network("10.0.0.0/8"), 3))
    assert main(["whereto", daemon.path, "10.9.9.9"]) == 0
    assert main(["whereto", daemon.path, "11.0.0.1"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "10.9.9.9: 10.0.0.0/8 via nexthop 3 (192.0.2.3)", "11.0.0.1: no route"]


def test_guide_shows_these_examples() -> None:
    shown = SHOWN.findall(GUIDE.read_text())
    assert [name for name, _ in shown] == list(examples()), "every example, in this order"
    for name, code in shown:
        assert code == examples()[name], f"docs/client.md and example {name!r} have drifted"
    blocks = re.findall(r"^```python$", GUIDE.read_text(), re.M)
    assert len(blocks) == len(shown), "a Python block of the guide is not a tested example"


def test_program_example_runs_as_a_script(daemon: ServerProcess, tmp_path: Path) -> None:
    script = tmp_path / "whereto.py"
    script.write_text(examples()["program"])
    with TablesClient.connect(daemon.path) as tc:
        tc.nexthops.add(Nexthop(1, gateway=IPv4Address("192.0.2.1")))
        tc.routes4.add(Route4(IPv4Network("10.0.0.0/8"), 1))
    proc = subprocess.run([sys.executable, str(script), daemon.path, "10.0.0.1"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert (proc.returncode, proc.stdout) == (0, "10.0.0.1: 10.0.0.0/8 via nexthop 1 "
                                                 "(192.0.2.1)\n"), proc.stderr
