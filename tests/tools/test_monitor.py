"""reactorctl monitor end to end: a real reactord, changes made by other reactorctl runs.

Each test starts its own daemon (revisions count from 0) and a monitor whose
stdout is a pipe read line by line with a deadline: a line that arrives while
the monitor still runs proves it was flushed at once.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.tools.util import (
    children_get_default_sigint, fails, ok, popen_ctl, start_daemon, stats, wait_no_stream,
)
from tools.harness import ServerProcess, wait_until

DEADLINE = 30.0
SYNCED = "sync: the tables above are current"



class Monitor:
    """A running ``reactorctl monitor``: its stdout read in lines, each with a deadline."""

    def __init__(self, sock: str, *args: str) -> None:
        with children_get_default_sigint():     # as in an interactive shell
            self.proc = popen_ctl(sock, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._buffer = b""

    def lines(self, n: int, timeout: float = DEADLINE) -> list[str]:
        """The next ``n`` lines; fails if they do not all come within ``timeout``."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while self._buffer.count(b"\n") < n:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; got {self._buffer!r}"
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 65536)
                assert chunk, f"monitor ended: {self._buffer!r}, {self.finish()}"
                self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n", n)
        return [line.decode() for line in lines]

    def interrupt(self) -> tuple[int, bytes]:
        self.proc.send_signal(signal.SIGINT)
        return self.finish()

    def finish(self) -> tuple[int, bytes]:
        out, err = self.proc.communicate(timeout=DEADLINE)
        self._buffer += out
        return self.proc.returncode, err


def test_changes_of_other_clients_appear_at_once_and_ctrl_c_exits_130(
        daemon: ServerProcess) -> None:
    sock = daemon.path
    monitor = Monitor(sock, "monitor")
    assert monitor.lines(1) == [f"[0] {SYNCED}"]
    ok(sock, "nexthop", "add", "1", "gw", "192.0.2.1")
    assert monitor.lines(1) == ["[1] nexthop add 1 gw 192.0.2.1"]
    ok(sock, "route4", "add", "10.0.0.0/8", "via", "1")
    assert monitor.lines(1) == ["[2] route4 add 10.0.0.0/8 via 1"]
    ok(sock, "route4", "del", "10.0.0.0/8")
    assert monitor.lines(1) == ["[3] route4 del 10.0.0.0/8 via 1"]
    assert stats(sock)["watchers"] == 1
    assert monitor.interrupt() == (130, b"")
    assert stats(sock)["watchers"] == 0
    wait_no_stream(sock)


def test_only_the_named_tables(daemon: ServerProcess) -> None:
    sock = daemon.path
    monitor = Monitor(sock, "monitor", "route4", "fdb")
    assert monitor.lines(1) == [f"[0] {SYNCED}"]
    ok(sock, "nexthop", "add", "1", "gw", "192.0.2.1")
    ok(sock, "route4", "add", "10.0.0.0/8", "via", "1")
    assert monitor.lines(1) == ["[2] route4 add 10.0.0.0/8 via 1"]
    assert monitor.interrupt() == (130, b"")


def test_snapshot_lists_then_syncs_then_follows(daemon: ServerProcess) -> None:
    sock = daemon.path
    ok(sock, "nexthop", "add", "1", "gw", "192.0.2.1")
    ok(sock, "route4", "add", "10.0.0.0/8", "via", "1")
    monitor = Monitor(sock, "monitor", "--snapshot")
    assert monitor.lines(3) == ["[snap] nexthop 1 gw 192.0.2.1",
                                "[snap] route4 10.0.0.0/8 via 1", f"[2] {SYNCED}"]
    ok(sock, "route4", "flush")
    assert monitor.lines(1) == ["[3] route4 del 10.0.0.0/8 via 1"]
    assert monitor.interrupt() == (130, b"")


def test_from_replays_the_later_revisions(daemon: ServerProcess) -> None:
    sock = daemon.path
    ok(sock, "nexthop", "add", "1", "gw", "192.0.2.1")
    ok(sock, "route4", "add", "10.0.0.0/8", "via", "1")
    ok(sock, "route4", "add", "10.1.0.0/16", "via", "1")
    monitor = Monitor(sock, "monitor", "--from", "1", "--no-self")
    assert monitor.lines(3) == ["[2] route4 add 10.0.0.0/8 via 1",
                                "[3] route4 add 10.1.0.0/16 via 1", f"[3] {SYNCED}"]
    assert fails(sock, "nexthop", "del", "1").endswith("(EBUSY)")    # no revision
    ok(sock, "route4", "del", "10.1.0.0/16")
    assert monitor.lines(1) == ["[4] route4 del 10.1.0.0/16 via 1"]
    assert monitor.interrupt() == (130, b"")


def test_json_lines(daemon: ServerProcess) -> None:
    sock = daemon.path
    ok(sock, "nexthop", "add", "1", "gw", "192.0.2.1")
    monitor = Monitor(sock, "--json", "monitor", "--snapshot")
    snap, sync = map(json.loads, monitor.lines(2))
    listed = json.loads(ok(sock, "--json", "nexthop", "list"))
    assert snap == {"revision": 0, "event": "snap", "table": "nexthop", "last": False,
                    "record": listed}
    assert sync == {"revision": 1, "event": "sync", "table": None, "last": False,
                    "record": None}
    ok(sock, "route4", "add", "10.0.0.0/8", "via", "1", "origin", "3")
    put = json.loads(monitor.lines(1)[0])
    assert put == {"revision": 2, "event": "put", "table": "route4", "last": True,
                   "record": json.loads(ok(sock, "--json", "route4", "list"))}
    assert put["record"]["origin"] == 3
    assert monitor.interrupt() == (130, b"")


def test_into_head_exits_0_quietly_and_cancels(daemon: ServerProcess) -> None:
    sock = daemon.path
    monitor = popen_ctl(sock, "monitor", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.Popen(["head", "-n", "2"], stdin=monitor.stdout, stdout=subprocess.PIPE)
    assert monitor.stdout is not None and monitor.stderr is not None
    monitor.stdout.close()
    # the watch must be in place first (regression: the ADD could come before it under load)
    assert wait_until(lambda: stats(sock)["watchers"] == 1, DEADLINE)
    ok(sock, "nexthop", "add", "1", "gw", "192.0.2.1")     # head's second line, then it exits
    out, _ = head.communicate(timeout=DEADLINE)
    assert out.decode().splitlines() == [f"[0] {SYNCED}", "[1] nexthop add 1 gw 192.0.2.1"]
    ok(sock, "nexthop", "add", "2", "gw", "192.0.2.2")     # its line meets the closed pipe
    assert monitor.wait(timeout=DEADLINE) == 0
    assert monitor.stderr.read() == b""
    monitor.stderr.close()
    wait_no_stream(sock)
    assert stats(sock)["watchers"] == 0


def test_stale_says_how_to_resume(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path, "--changelog-events", "5")
    try:
        sock = daemon.path
        ok(sock, "nexthop", "add", "1", "gw", "192.0.2.1")
        for i in range(9):
            ok(sock, "route4", "add", f"10.{i}.0.0/16", "via", "1")
        assert stats(sock)["revision"] == 10
        line = fails(sock, "monitor", "--from", "1")
        assert line == ("reactorctl: monitor: the changes after revision 1 are no longer "
                        "retained by the daemon; start again with 'reactorctl monitor "
                        "--snapshot'")
        assert fails(sock, "monitor", "--from", "11", rc=1).endswith("(EINVAL)")
    finally:
        assert daemon.terminate() == 0, daemon.log()


def test_bad_arguments_are_refused_before_connecting(tmp_path: Path) -> None:
    sock = str(tmp_path / "none.sock")
    assert fails(sock, "monitor", "route5", rc=2) == (
        "reactorctl: monitor: unknown table 'route5' (one of nexthop, route4, route6, fdb, "
        "conntrack)")
    assert "exclude each other" in fails(sock, "monitor", "--snapshot", "--from", "3", rc=2)
