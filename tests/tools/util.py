"""Helpers for the reactorctl end-to-end tests: a real reactord, reactorctl subprocesses.

Every wait has a deadline (``wait_for``, subprocess timeouts); nothing sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from api.client import Client
from tools.harness import ROOT, ServerProcess, start_reactord, wait_for

CTL_TIMEOUT = 60.0


def env() -> dict[str, str]:
    full = dict(os.environ)
    full["PYTHONPATH"] = str(ROOT) + os.pathsep + full.get("PYTHONPATH", "")
    full.pop("REACTORD_SOCKET", None)
    full["PAGER"] = ""
    return full


def start_daemon(tmp: Path, *extra: str) -> ServerProcess:
    return start_reactord(*extra, directory=tmp)


def ctl_argv(sock: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "tools.reactorctl", "-s", sock, *args]


@dataclass
class Result:
    rc: int
    out: str
    err: str

    def lines(self) -> list[str]:
        return self.out.splitlines()

    def __repr__(self) -> str:
        out = self.out if len(self.out) < 2000 else self.out[:2000] + "..."
        return f"Result(rc={self.rc}, out={out!r}, err={self.err!r})"


def ctl(sock: str, *args: str, stdin: str | None = None,
        timeout: float = CTL_TIMEOUT) -> Result:
    """Run reactorctl to completion."""
    proc = subprocess.run(ctl_argv(sock, *args), input=stdin, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env())
    return Result(proc.returncode, proc.stdout, proc.stderr)


def ok(sock: str, *args: str, stdin: str | None = None) -> str:
    """Run reactorctl, expect exit 0 and a silent stderr; its stdout."""
    result = ctl(sock, *args, stdin=stdin)
    assert (result.rc, result.err) == (0, ""), result
    return result.out


def fails(sock: str, *args: str, rc: int = 1, stdin: str | None = None) -> str:
    """Run reactorctl, expect exit ``rc``, no stdout and one stderr line; that line."""
    result = ctl(sock, *args, stdin=stdin)
    assert result.rc == rc and result.out == "", result
    lines = result.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, result
    return lines[0]


def popen_ctl(sock: str, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    kwargs.setdefault("env", env())
    return subprocess.Popen(ctl_argv(sock, *args), cwd=ROOT, **kwargs)


def stats(sock: str) -> dict[str, Any]:
    with Client(sock, name="test", timeout=10) as client:
        return client.stats()


def wait_no_stream(sock: str, timeout: float = 10.0) -> None:
    """Wait until the daemon has no active stream (the CLI's was cancelled or ended)."""
    wait_for(lambda: stats(sock)["streams_active"] == 0, timeout=timeout,
             what="streams_active == 0")


def route_lines(out: str) -> list[Sequence[str]]:
    """Table rows of a listing, split into cells, header dropped."""
    lines = out.splitlines()
    return [line.split() for line in lines[1:]]


def json_lines(out: str) -> list[dict[str, Any]]:
    """reactorctl --json output: one object per line."""
    return [json.loads(line) for line in out.splitlines()]


@contextmanager
def children_get_default_sigint() -> Iterator[None]:
    """Processes started inside get SIGINT's default disposition, whatever ours is.

    A shell runs a background job with SIGINT ignored, and an ignored signal
    stays ignored across exec: a reactorctl started from such a suite would
    never see Ctrl-C.  A handled signal is reset to its default at exec, so
    this installs Python's handler here for the duration, then restores ours.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
