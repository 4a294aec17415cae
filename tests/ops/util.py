"""Helpers for the operations tests: the venv's tools, a notify socket, log lines."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest

from tools.harness import ROOT

BIN = Path(sys.executable).parent
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4} reactord: ")


def tool(name: str) -> str:
    """The venv's console script ``name`` (reactord, reactorctl)."""
    path = BIN / name
    assert path.exists(), f"{path} missing: run ./tools/test (pip install -e .)"
    return str(path)


def env(**extra: str) -> dict[str, str]:
    full = dict(os.environ)
    full["PYTHONPATH"] = str(ROOT) + os.pathsep + full.get("PYTHONPATH", "")
    for name in ("REACTORD_SOCKET", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID",
                 "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
        full.pop(name, None)
    full.update(extra)
    return full


class NotifyReceiver:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages: list[dict[str, str]] = []

    def next(self, timeout: float = 10.0) -> dict[str, str]:
        """The next notification as {KEY: value}; fail after ``timeout`` seconds."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            raise AssertionError(f"no notification within {timeout} s") from None
        message = dict(line.split("=", 1) for line in data.decode().split("\n"))
        self.messages.append(message)
        return message

    def wait(self, key: str, value: str | None = None, timeout: float = 10.0,
             prefix: str = "") -> dict[str, str]:
        """The first notification, among those read so far and those to come, that
        has ``key`` (with ``value``, or a value starting with ``prefix``)."""
        def fits(message: dict[str, str]) -> bool:
            got = message.get(key)
            return got is not None and (got == value if value is not None
                                        else got.startswith(prefix))
        for message in self.messages:
            if fits(message):
                return message
        deadline = time.monotonic() + timeout
        while True:
            message = self.next(max(0.01, deadline - time.monotonic()))
            if fits(message):
                return message

    def close(self) -> None:
        self.sock.close()


def log_port(text: str) -> int:
    """The port of the 'metrics on http://HOST:PORT/metrics' log line."""
    found = re.search(r"metrics on http://[^ ]*:(\d+)/metrics", text)
    assert found, text
    return int(found.group(1))


def require(*tools: str) -> None:
    """Skip the test where a system tool it drives is missing, with the reason;
    under CI ($CI set, as .ci/run runs, after installing them) fail instead."""
    missing = [name for name in tools if shutil.which(name) is None]
    if not missing:
        return
    why = f"{', '.join(missing)} not installed (.ci/run installs it with apt-get)"
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)
