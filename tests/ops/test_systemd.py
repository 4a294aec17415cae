"""reactord under systemd, with systemd's own tools: unit verification, socket
activation by systemd-socket-activate, and the notify protocol on a real
datagram socket (READY, STATUS, WATCHDOG, STOPPING)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from api import wire
from api.client import Client
from tests.ops.util import NotifyReceiver, env, require, tool
from tools.harness import ROOT, wait_for

UNITS = ROOT / "tools" / "units"
SHIPPED_EXEC = "/opt/reactord/bin/reactord"


def verify(*units: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, units)],
                          capture_output=True, text=True, timeout=60)


def installed_units(tmp: Path) -> tuple[Path, Path]:
    """The shipped units, ExecStart pointing at this venv's reactord (verify wants
    the binary to exist; everything else is as shipped)."""
    service = (UNITS / "reactord.service").read_text()
    assert f"ExecStart={SHIPPED_EXEC} " in service
    (tmp / "reactord.service").write_text(service.replace(SHIPPED_EXEC, tool("reactord")))
    shutil.copy(UNITS / "reactord.socket", tmp / "reactord.socket")
    return tmp / "reactord.service", tmp / "reactord.socket"


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    require("systemd-analyze")
    service, sock = installed_units(tmp_path)
    result = verify(service, sock)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    text = service.read_text()
    for setting in ("Type=notify", "Nice=-10", "ProtectSystem=strict", "NoNewPrivileges=yes",
                    "RuntimeDirectory=reactord", "WatchdogSec=",
                    "--socket /run/reactord/reactord.sock"):
        assert setting in text
    assert "ListenStream=/run/reactord/reactord.sock" in sock.read_text()
    # The check can fail: a misspelt setting is reported.
    service.write_text(text.replace("NoNewPrivileges=", "NoNewPrivilege="))
    assert "Unknown key" in verify(service).stderr


def test_socket_activation_starts_reactord_on_the_first_connection(tmp_path: Path) -> None:
    require("systemd-socket-activate")
    path = tmp_path / "api.sock"
    log = tmp_path / "reactord.log"
    activator = subprocess.Popen(
        ["systemd-socket-activate", "-l", str(path), "-E", f"PYTHONPATH={ROOT}",
         sys.executable, "-m", "tools.reactord", "--socket", str(path),
         "--log-file", str(log)],
        cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(path.exists, what="systemd-socket-activate listening")
        assert not log.exists(), "reactord started before any connection"
        with Client(str(path), name="first", timeout=20) as client:
            figures = client.stats()    # this connection is the one that starts reactord
            assert figures["clients"] == 1 and figures["version"]
        text = log.read_text()
        assert f"listening on {path} (from systemd)" in text
        activator.send_signal(signal.SIGTERM)     # it exec'd reactord: same process
        assert activator.wait(20) == 0
    finally:
        if activator.poll() is None:
            activator.kill()
            activator.wait()
    assert "stopped" in log.read_text()
    assert path.exists(), "an inherited socket's path belongs to systemd: not removed"


def test_an_inherited_descriptor_that_is_not_a_listening_socket_is_refused(
        tmp_path: Path) -> None:
    (tmp_path / "x").write_text("a regular file, not a socket")
    script = 'exec 3<"$0"; export LISTEN_FDS=1 LISTEN_PID=$$; exec "$@"'
    result = subprocess.run(["sh", "-c", script, str(tmp_path / "x"), sys.executable, "-m",
                             "tools.reactord", "--socket", str(tmp_path / "s")],
                            cwd=ROOT, env=env(), capture_output=True, text=True, timeout=30,
                            input="")
    assert result.returncode == 1, result
    assert "cannot start: inherited descriptor 3 is not a socket" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "s").exists()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifyReceiver]:
    receiver = NotifyReceiver(tmp_path / "notify.sock")
    yield receiver
    receiver.close()


def test_notify_ready_status_watchdog_stopping(tmp_path: Path, notify: NotifyReceiver) -> None:
    path = tmp_path / "api.sock"
    proc = subprocess.Popen(
        [tool("reactord"), "--socket", str(path), "--preload-fullview", "1000"], cwd=ROOT,
        env=env(NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="200000"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ready = notify.wait("READY", "1", timeout=30)
        with Client(str(path), name="probe", timeout=10) as client:   # serving once READY
            assert client.stats()["routes4"] == 1000
            assert "routes4 1000" in ready["STATUS"] and ready["STATUS"].startswith("0 clients")
            watchdogs = sum("WATCHDOG" in m for m in notify.messages)
            notify.wait("STATUS", prefix="1 clients")
            client.call(wire.NH_ADD, wire.BULK_FLAGS.pack(0) + wire.NEXTHOP.pack(
                9, 0, 0, wire.NH_BLACKHOLE, 0, bytes(16), bytes(6)))
            assert "nexthops 5" in notify.wait("STATUS", prefix="1 clients, 0 streams "
                                               "(0 paused); nexthops 5")["STATUS"]
            for _ in range(3):          # WATCHDOG=1 every 0.1 s, whatever else happens
                notify.next()
            assert sum("WATCHDOG" in m for m in notify.messages) >= watchdogs + 3
        proc.send_signal(signal.SIGTERM)
        stopping = notify.wait("STOPPING", "1")
        assert stopping["STATUS"] == "stopping: SIGTERM received"
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    assert "Traceback" not in proc.stderr.read().decode()
    proc.stderr.close()


def test_a_failed_start_says_why_in_status(tmp_path: Path, notify: NotifyReceiver) -> None:
    result = subprocess.run([tool("reactord"), "--socket", str(tmp_path / "s"),
                             "--write-low", "999999"], env=env(NOTIFY_SOCKET=notify.path),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert notify.next()["STATUS"].startswith("cannot start: need 0 <= write_low")
