"""A listing read in a pager is never cut off by the daemon's stall timeout, and
quitting the pager still ends it at once (real reactord, reactorctl, a pty and a
pager that waits until the test lets it read)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api import wire
from tests.tools.util import env, popen_ctl, start_daemon, wait_no_stream
from tools.harness import Conn, ServerProcess, wait_for

ROUTES = 300_000
PAGER = '''
import sys
gate, out, mode = sys.argv[1:]
with open(gate) as fifo:                 # blocks until the test opens the gate
    fifo.read(1)
if mode == "read":
    with open(out, "w") as copy:
        for line in sys.stdin:
            copy.write(line)
'''


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_daemon(tmp_path_factory.mktemp("pager"), "--preload-fullview", str(ROUTES),
                        "--stall-timeout", "1", "--log-level", "debug")
    try:
        yield proc
    finally:
        assert proc.terminate() == 0, proc.log()


def pager_env(tmp: Path, mode: str) -> tuple[dict[str, str], Path, Path]:
    script, gate, out = tmp / "pager.py", tmp / "gate", tmp / "paged.txt"
    script.write_text(PAGER)
    os.mkfifo(gate)
    return {**env(), "PAGER": f"{sys.executable} {script} {gate} {out} {mode}"}, gate, out


def open_gate(gate: Path) -> None:
    with open(gate, "w") as fifo:
        fifo.write("g")


def stalled_control(daemon: ServerProcess) -> None:
    """A raw client that never reads its listing: the daemon closes it as stalled
    after one to two --stall-timeout periods.  Once it has, the pager has waited
    at least as long."""
    before = daemon.log().count("stalled: output made no progress")
    with Conn(daemon.path) as idle:
        idle.send(1, wire.ROUTE4_LIST, wire.LIST_REQ.pack(0, wire.SCOPE_ALL, 0))
        wait_for(lambda: daemon.log().count("stalled: output made no progress") > before,
                 timeout=20, what="the control client closed as stalled")


@pytest.fixture
def terminal() -> Iterator[int]:
    """The slave side of a pty (reactorctl's stdout: a terminal, so it pages)."""
    master, slave = pty.openpty()
    yield slave
    os.close(slave)
    os.close(master)


def start_listing(daemon: ServerProcess, page_env: dict[str, str],
                  terminal: int) -> subprocess.Popen[bytes]:
    return popen_ctl(daemon.path, "route4", "list", stdout=terminal, stderr=subprocess.PIPE,
                     env=page_env)


def test_a_waiting_pager_is_not_cut_off_by_the_stall_timeout(daemon: ServerProcess,
                                                             tmp_path: Path,
                                                             terminal: int) -> None:
    page_env, gate, out = pager_env(tmp_path, "read")
    lister = start_listing(daemon, page_env, terminal)
    try:
        stalled_control(daemon)
        assert lister.poll() is None, "reactorctl gave up while the pager waited"
        open_gate(gate)                           # the operator starts scrolling
        _, err = lister.communicate(timeout=120)
    finally:
        if lister.poll() is None:
            lister.kill()
            lister.wait()
    assert (lister.returncode, err) == (0, b"")
    rows = out.read_text().splitlines()
    assert rows[0].split()[:2] == ["VRF", "DESTINATION"] and len(rows) == ROUTES + 1
    assert len(set(rows)) == len(rows), "a route listed twice across the pieces"
    pieces = daemon.log().count("ROUTE4_LIST id")
    assert pieces >= 3, "the listing should have paused (cancelled) and resumed"
    assert "ended ECANCELED" in daemon.log()
    wait_no_stream(daemon.path)


def test_quitting_a_waiting_pager_ends_the_listing_at_once(daemon: ServerProcess,
                                                           tmp_path: Path,
                                                           terminal: int) -> None:
    page_env, gate, _ = pager_env(tmp_path, "quit")
    lister = start_listing(daemon, page_env, terminal)
    try:
        stalled_control(daemon)
        assert lister.poll() is None
        open_gate(gate)                           # q at the first screen
        quit_at = time.monotonic()
        _, err = lister.communicate(timeout=30)
        elapsed = time.monotonic() - quit_at
    finally:
        if lister.poll() is None:
            lister.kill()
            lister.wait()
    assert (lister.returncode, err) == (0, b"")
    assert elapsed < 2.0, f"reactorctl took {elapsed:.2f} s to notice the pager quit"
    wait_no_stream(daemon.path)
