"""reactord's log and signals as an operator meets them: timestamps or journald
priorities, one audit line per change, DEBUG traces, SIGHUP surviving and
reopening --log-file, --version."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.ops.util import TIMESTAMP, env, tool
from tests.tools.util import fails, ok, start_daemon
from tools.harness import ROOT, start_reactord, wait_for


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def test_every_line_is_timestamped_and_changes_are_audited(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path)
    try:
        ok(daemon.path, "nexthop", "add", "1", "gw", "192.0.2.1")
        ok(daemon.path, "route4", "add", "10.0.0.0/8", "via", "1")
        ok(daemon.path, "route4", "add", "--replace", "10.0.0.0/8", "via", "1")
        fails(daemon.path, "route4", "add", "10.0.0.0/8", "via", "1")         # EEXIST
        ok(daemon.path, "route4", "get", "10.1.2.3")                          # not a change
        ok(daemon.path, "route4", "list")                                     # nor this
        ok(daemon.path, "route4", "del", "10.0.0.0/8", "--missing-ok")
        ok(daemon.path, "fdb", "flush")
        wait_for(lambda: "FDB_FLUSH" in daemon.log(), what="the last audit line")
    finally:
        assert daemon.terminate() == 0
    log = lines(daemon.log())
    assert all(TIMESTAMP.match(line) for line in log), log
    audit = [line.split(": ", 2)[2] for line in log if "change by" in line]
    client = r"change by client \d+ \(pid \d+, uid \d+, reactorctl\): "
    expected = [r"NH_ADD 1 record: OK, revision 1", r"ROUTE4_ADD 1 record: OK, revision 2",
                r"ROUTE4_ADD 1 record, replace: OK, revision 3",
                r"ROUTE4_ADD 1 record: EEXIST, revision 3",          # a failure changes nothing
                r"ROUTE4_DEL 1 record, missing-ok: OK, revision 4",
                r"FDB_FLUSH scope all: OK, revision 4"]              # an empty table
    assert len(audit) == len(expected), audit
    for line, pattern in zip(audit, expected):
        assert re.fullmatch(client + pattern, line), line
    assert not [line for line in log if "connected (pid" in line or "ROUTE4_GET" in line]


def test_debug_traces_connections_and_every_request(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path, "--log-level", "debug")
    try:
        fails(daemon.path, "route4", "get", "10.1.2.3")
        ok(daemon.path, "route4", "list")
        wait_for(lambda: "disconnected" in daemon.log().split("ROUTE4_LIST")[-1],
                 what="the listing client's disconnect")
    finally:
        assert daemon.terminate() == 0
    log = daemon.log()
    assert re.search(r"DEBUG: client \d+ connected \(pid \d+, uid \d+\)", log)
    assert re.search(r"DEBUG: client \d+: ROUTE4_GET id \d+ \(8 bytes\): ENOENT in [\d.]+ ms",
                     log)
    assert re.search(r"DEBUG: client \d+: ROUTE4_LIST id \d+ \(8 bytes\): stream began", log)
    assert re.search(r"DEBUG: client \d+: ROUTE4_LIST stream \(id \d+\) ended OK: 0 records",
                     log)
    assert re.search(r"DEBUG: client \d+ disconnected \(pid \d+, uid \d+\): client closed", log)


def test_journald_gets_priorities_instead_of_timestamps(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """stderr is the file $JOURNAL_STREAM names (device:inode), as under systemd."""
    path, out = tmp_path / "api.sock", tmp_path / "journal"
    with open(out, "wb") as stream:
        st = os.fstat(stream.fileno())
        proc = subprocess.Popen([tool("reactord"), "--socket", str(path), "--metrics-listen",
                                 "nonsense"], stderr=stream,
                                env=env(JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}"))
        assert proc.wait(30) == 1
    assert lines(out.read_text()) == [
        "<3>ERROR: cannot start: --metrics-listen 'nonsense': expected HOST:PORT "
        "or a socket path"]
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")     # names some other file
    daemon = start_reactord(directory=tmp_path)
    assert daemon.terminate() == 0
    assert all(TIMESTAMP.match(line) for line in lines(daemon.log()))   # not the journal


def test_sighup_never_kills_and_reopens_the_log_file(tmp_path: Path) -> None:
    log_file, rotated = tmp_path / "daemon.log", tmp_path / "daemon.log.1"
    daemon = start_reactord("--log-file", str(log_file), directory=tmp_path)
    path = daemon.path
    try:
        wait_for(lambda: "listening on" in log_file.read_text(), what="the start line")
        log_file.rename(rotated)                      # what logrotate does, then SIGHUP
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(log_file.exists, what="the log file reopened")
        assert f"SIGHUP received: reopened {log_file}" in rotated.read_text() + \
            log_file.read_text()
        ok(path, "nexthop", "add", "3", "blackhole")
        wait_for(lambda: "NH_ADD" in log_file.read_text(), what="audit in the new file")
        assert "NH_ADD" not in rotated.read_text()
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.proc.send_signal(signal.SIGHUP)
        ok(path, "stats")
        assert daemon.proc.poll() is None
    finally:
        assert daemon.terminate() == 0
    assert daemon.log() == "", "with --log-file nothing goes to stderr"
    assert "stopped" in log_file.read_text()


def test_sighup_without_a_log_file_is_one_line(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path)
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "SIGHUP received: no --log-file to reopen" in daemon.log(),
             what="the SIGHUP line")
    assert daemon.proc.poll() is None and daemon.terminate() == 0


def test_an_unwritable_log_file_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run([tool("reactord"), "--socket", str(tmp_path / "s"), "--log-file",
                             str(tmp_path / "missing" / "r.log")], capture_output=True,
                            text=True, timeout=30, env=env())
    assert result.returncode == 1
    assert result.stderr.startswith("reactord: cannot start: cannot open --log-file")
    assert len(lines(result.stderr)) == 1


def test_version_on_both_tools_matches_the_package() -> None:
    from importlib.metadata import version
    for name in ("reactord", "reactorctl"):
        result = subprocess.run([tool(name), "--version"], capture_output=True, text=True,
                                timeout=30, cwd=ROOT)
        assert (result.returncode, result.stdout) == (0, f"{name} {version('reactord')}\n")
