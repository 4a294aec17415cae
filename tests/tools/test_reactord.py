"""The reactord process: socket start-up rules, signals, logs."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

from api import wire
from tools.harness import Conn, ServerProcess, start_reactord, wait_for


def reactord(tmp: Path, *extra: str, name: str = "reactord") -> ServerProcess:
    return start_reactord(*extra, directory=tmp, name=name)


def run_reactord(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.reactord", *args], capture_output=True,
                          text=True, timeout=30)


def test_second_daemon_is_refused_on_a_live_socket(tmp_path: Path) -> None:
    first = reactord(tmp_path)
    try:
        second = run_reactord("--socket", first.path)
        assert second.returncode == 1
        assert "cannot start" in second.stderr and "Traceback" not in second.stderr
        with Conn(first.path) as conn:   # the first one still serves
            assert conn.call(1, wire.STATS).status == 0
    finally:
        assert first.terminate() == 0


def test_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "reactord.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()   # the file stays, nobody listens: what a SIGKILLed daemon leaves
    assert path.exists()
    daemon = reactord(tmp_path)
    try:
        with Conn(daemon.path) as conn:
            assert conn.call(1, wire.STATS).status == 0
    finally:
        assert daemon.terminate() == 0
    assert not path.exists(), "socket file removed at exit"


def test_symlink_at_socket_path_is_never_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("precious")
    link = tmp_path / "reactord.sock"
    link.symlink_to(target)
    result = run_reactord("--socket", str(link))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert link.is_symlink() and target.read_text() == "precious"


def test_socket_file_mode(tmp_path: Path) -> None:
    daemon = reactord(tmp_path, "--socket-mode", "0600")
    try:
        assert stat.S_IMODE(os.stat(daemon.path).st_mode) == 0o600
    finally:
        daemon.terminate()
    default = reactord(tmp_path, name="default")
    try:
        assert stat.S_IMODE(os.stat(default.path).st_mode) == 0o660
    finally:
        default.terminate()


def test_bad_limits_are_one_line_errors(tmp_path: Path) -> None:
    result = run_reactord("--socket", str(tmp_path / "s"), "--write-low", "999999")
    assert result.returncode == 1
    assert "write_low" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "s").exists()


def test_sigterm_during_paused_stream(tmp_path: Path) -> None:
    daemon = reactord(tmp_path, "--preload-fullview", "300000", "--log-level", "debug")
    with Conn(daemon.path) as conn, Conn(daemon.path) as observer:
        conn.send(1, wire.ROUTE4_LIST, wire.LIST_REQ.pack(0, wire.SCOPE_ALL, 0))

        def paused() -> bool:
            return int(json.loads(observer.call(2, wire.STATS).payload)["streams_paused"]) == 1

        wait_for(paused, what="stream paused")
        daemon.proc.send_signal(signal.SIGTERM)
        items, status, _ = conn.drain_stream(1)
    assert status == wire.ESHUTDOWN
    assert 0 < len(items) < 300_000
    assert daemon.proc.wait(10) == 0
    assert not Path(daemon.path).exists()
    log = daemon.log()
    assert "SIGTERM received" in log and "ended ESHUTDOWN" in log
    assert "connected (pid" in log and "disconnected (pid" in log


def test_sigint_stops_an_idle_daemon(tmp_path: Path) -> None:
    daemon = reactord(tmp_path)
    daemon.proc.send_signal(signal.SIGINT)
    assert daemon.proc.wait(10) == 0
    assert not Path(daemon.path).exists()
    assert "listening on" in daemon.log() and "stopped" in daemon.log()
